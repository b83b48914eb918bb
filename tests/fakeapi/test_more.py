"""More controller and API behaviour: namespace and CRD deletion, history overflow, restarts, eviction API,
scheduling spread, protobuf bodies (kubectl create), events.k8s.io, MicroTime validation."""
import shutil
import time
import unittest

from util import ServerTest, WatchReader, kubectl, phase, pod, ready


class MoreTest(ServerTest):
    server_args = ("--time-scale", "0.02", "--nodes", "2", "--history", "50")

    def test_namespace_deletion(self):
        base = self.ns("gone")
        self.mkpod(base, pod("p", "sleep 1000"), wait=ready)
        self.c.post(base + "/configmaps", {"metadata": {"name": "cm"}})
        r = self.c.delete("/api/v1/namespaces/gone")
        self.assertEqual((r.status, r.json()["status"]["phase"]), (200, "Terminating"))
        r = self.c.post(base + "/configmaps", {"metadata": {"name": "late"}})
        self.assertEqual(r.status, 403)
        self.c.wait_for("/api/v1/namespaces/gone", None)
        self.assertEqual(self.c.get(base + "/pods").json()["items"], [])

    def test_crd_deletion_removes_crs(self):
        self.ns("crdns")
        self.crd()
        W = "/apis/wire.example.com/v1/namespaces/crdns/widgets"
        self.assertEqual(self.c.post(W, {"apiVersion": "wire.example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}).status, 201)
        self.c.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.wire.example.com")
        deadline = time.time() + 5
        while self.c.get("/apis/wire.example.com/v1").status != 404 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.c.get(W + "/w").status, 404)
        self.crd()     # re-created: served again, empty
        self.assertEqual(self.c.get(W).json()["items"], [])

    def test_slow_watcher_falls_out_of_history(self):
        base = self.ns("hist")
        rv = self.c.get(base + "/configmaps").json()["metadata"]["resourceVersion"]
        for i in range(60):     # more than --history 50
            self.c.post(base + "/configmaps", {"metadata": {"name": "c%02d" % i}})
        w = WatchReader(self.c, base + "/configmaps?watch=1&resourceVersion=%s" % rv)
        self.assertTrue(w.wait_done(5))
        self.assertEqual([(e["type"], e["object"]["code"]) for e in w.events], [("ERROR", 410)])
        self.assertIn("too old resource version: %s" % rv, w.events[0]["object"]["message"])
        r = self.c.get(base + "/configmaps?resourceVersion=%s&limit=5" % rv)
        self.assertEqual(r.status, 410)

    def test_churn_of_one_resource_does_not_expire_a_watch_on_another(self):
        # a real watch cache keeps a window per resource: 60 ConfigMaps (more than --history 50)
        # leave a Secrets watch resumed from before them valid
        base = self.ns("churn")
        rv = self.c.get(base + "/secrets").json()["metadata"]["resourceVersion"]
        for i in range(60):
            self.c.post(base + "/configmaps", {"metadata": {"name": "c%02d" % i}})
        self.c.post(base + "/secrets", {"metadata": {"name": "after"}})
        w = WatchReader(self.c, base + "/secrets?watch=1&timeoutSeconds=1&resourceVersion=%s" % rv)
        self.assertTrue(w.wait_done(5))
        self.assertEqual([(e["type"], e["object"]["metadata"].get("name")) for e in w.events if e["type"] != "BOOKMARK"],
                         [("ADDED", "after")])
        self.assertEqual(self.c.get(base + "/secrets?resourceVersion=%s&limit=5" % rv).status, 200)

    def test_eviction_api_and_spread(self):
        base = self.ns("spread")
        nodes = set()
        for i in range(4):
            nodes.add(self.mkpod(base, pod("s%d" % i, "sleep 1000"), wait=ready)["spec"]["nodeName"])
        self.assertEqual(nodes, {"fake-node-1", "fake-node-2"})
        r = self.c.post(base + "/pods/s0/eviction", {"apiVersion": "policy/v1beta1", "kind": "Eviction",
                                                      "metadata": {"name": "s0", "namespace": "spread"}})
        self.assertEqual((r.status, r.json()["status"]), (201, "Success"))
        self.c.wait_for(base + "/pods/s0", None)

    def test_restart_policy_onfailure(self):
        base = self.ns("rp")
        p = pod("crash", "exit 1", restartPolicy="OnFailure")
        o = self.mkpod(base, p, wait=lambda o: (o["status"].get("containerStatuses") or [{}])[0].get("restartCount", 0) >= 1)
        cs = o["status"]["containerStatuses"][0]
        self.assertEqual(cs["lastState"]["terminated"]["exitCode"], 1)
        self.assertEqual(o["status"]["phase"], "Running")

    def test_service_account_admission(self):
        base = self.ns("sa")
        sa = self.c.get(base + "/serviceaccounts/default").json()
        secret = sa["secrets"][0]["name"]
        self.assertEqual(self.c.get(base + "/secrets/" + secret).json()["type"], "kubernetes.io/service-account-token")
        p = self.mkpod(base, pod("with-default", "true"))
        self.assertIn(secret, [v["name"] for v in p["spec"]["volumes"]])
        r = self.c.post(base + "/pods", pod("no-sa", "true", serviceAccountName="ingestion"))
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json()["message"], 'pods "no-sa" is forbidden: service account sa/ingestion was not found, '
                                              'retry after the service account is created')
        self.assertEqual(self.c.post(base + "/serviceaccounts", {"metadata": {"name": "ingestion"}}).status, 201)
        p = self.mkpod(base, pod("no-sa", "true", serviceAccountName="ingestion"))
        self.assertTrue(any(v["name"].startswith("ingestion-token-") for v in p["spec"]["volumes"]))

    def test_events_v1_and_microtime(self):
        base = self.ns("ev1")
        E = "/apis/events.k8s.io/v1/namespaces/ev1/events"
        ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
              "regarding": {"kind": "Pod", "namespace": "ev1", "name": "x"}, "reportingController": "omjob.dev/operator",
              "reportingInstance": "op-0", "action": "Run", "reason": "Started", "note": "hello", "type": "Normal",
              "eventTime": "2026-11-22T03:00:00.000000Z"}
        r = self.c.post(E, ev)
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["deprecatedSource"], {})
        core = self.c.get(base + "/events/e1").json()
        self.assertEqual((core["message"], core["reportingComponent"], core["involvedObject"]["name"]), ("hello", "omjob.dev/operator", "x"))
        bad = dict(ev, metadata={"name": "e2"}, eventTime="2026-11-22T03:00:00Z")
        self.assertEqual(self.c.post(E, bad).status, 400)
        bad = dict(ev, metadata={"name": "e3"})
        del bad["reportingController"]
        r = self.c.post(E, bad)
        self.assertEqual((r.status, len(r.json()["details"]["causes"])), (422, 3))


@unittest.skipUnless(shutil.which("kubectl"), "kubectl not installed")
class KubectlCreateTest(ServerTest):
    def test_protobuf_bodies(self):
        import tempfile
        cache = tempfile.mkdtemp()
        try:
            k = lambda *a: kubectl(self.srv.kubeconfig, *a, cache=cache)
            k("create", "namespace", "pb")
            k("create", "configmap", "cm", "--from-literal=a=b", "-n", "pb")
            k("create", "secret", "generic", "s", "--from-literal=p=q", "-n", "pb")
            k("create", "serviceaccount", "sa", "-n", "pb")
            self.assertEqual(self.c.get("/api/v1/namespaces/pb/configmaps/cm").json()["data"], {"a": "b"})
            self.assertEqual(self.c.get("/api/v1/namespaces/pb/secrets/s").json()["data"], {"p": "cQ=="})
            self.assertEqual(self.c.get("/api/v1/namespaces/pb/serviceaccounts/sa").status, 200)
            k("run", "r1", "--image=busybox", "--restart=Never", "-n", "pb", "--", "sh", "-c", "echo hi")
            self.c.wait_for("/api/v1/namespaces/pb/pods/r1", phase("Succeeded"))
            self.assertEqual(k("logs", "r1", "-n", "pb").stdout, "hi\n")
            out = k("describe", "pod", "r1", "-n", "pb").stdout
            self.assertIn("Started container r1", out)
        finally:
            shutil.rmtree(cache, ignore_errors=True)

class WatchCacheFreshnessTest(ServerTest):
    """A window keeps its last 100 events and whatever is younger than --watch-cache-seconds."""
    server_args = ("--time-scale", "0.02", "--history", "1000", "--watch-cache-seconds", "0.3")

    def test_events_older_than_the_window_beyond_its_last_100_expire(self):
        base = self.ns("fresh")
        rv0 = self.c.get(base + "/configmaps").json()["metadata"]["resourceVersion"]
        rvs = [self.c.post(base + "/configmaps", {"metadata": {"name": "c%03d" % i}}).json()["metadata"]["resourceVersion"]
               for i in range(150)]
        time.sleep(0.4)   # the subject: the first 150 events are now older than the window
        self.c.post(base + "/configmaps", {"metadata": {"name": "late"}})
        w = WatchReader(self.c, base + "/configmaps?watch=1&resourceVersion=%s" % rv0)
        self.assertTrue(w.wait_done(5))
        self.assertEqual([(e["type"], e["object"]["code"]) for e in w.events], [("ERROR", 410)])
        # the last 100 stay: a resume from the 60th of the 150 sees the 90 after it and "late"
        w = WatchReader(self.c, base + "/configmaps?watch=1&timeoutSeconds=1&resourceVersion=%s" % rvs[59])
        self.assertTrue(w.wait_done(5))
        names = [e["object"]["metadata"]["name"] for e in w.events if e["type"] == "ADDED"]
        self.assertEqual(names, ["c%03d" % i for i in range(60, 150)] + ["late"])


if __name__ == "__main__":
    unittest.main()
