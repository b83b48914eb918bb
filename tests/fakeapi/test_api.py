"""CRUD semantics, status codes, selectors, pagination, watch, finalizers, GC, events, leases, auth."""
import os
import time
import unittest

from util import ServerTest, WatchReader, pod, phase, ready

W = "/apis/wire.example.com/v1/namespaces/%s/widgets"


def widget(name, size=1, **md):
    o = {"apiVersion": "wire.example.com/v1", "kind": "Widget", "metadata": dict(name=name, **md), "spec": {"size": size}}
    return o


class CrudTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.base = None

    def setUp(self):
        self.base = self.ns("crud")
        self.crd()
        self.w = W % "crud"

    def test_create_get_conflict_notfound(self):
        r = self.c.post(self.base + "/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1"}, "data": {"a": "1"}})
        self.assertEqual(r.status, 201)
        o = r.json()
        self.assertTrue(o["metadata"]["uid"])
        self.assertTrue(o["metadata"]["resourceVersion"].isdigit())
        self.assertTrue(o["metadata"]["creationTimestamp"].endswith("Z"))
        r = self.c.post(self.base + "/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1"}})
        self.assertEqual(r.status, 409)
        self.assertEqual(r.json()["reason"], "AlreadyExists")
        self.assertEqual(r.json()["details"], {"name": "cm1", "kind": "configmaps"})
        r = self.c.get(self.base + "/configmaps/nope")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["message"], 'configmaps "nope" not found')
        r = self.c.post("/api/v1/namespaces/none-such/configmaps", {"metadata": {"name": "x"}})
        self.assertEqual((r.status, r.json()["details"]["kind"]), (404, "namespaces"))
        # update with stale RV -> 409, with current -> 200 and a higher RV
        cur = self.c.get(self.base + "/configmaps/cm1").json()
        upd = dict(cur, data={"a": "2"})
        r = self.c.put(self.base + "/configmaps/cm1", upd)
        self.assertEqual(r.status, 200)
        self.assertGreater(int(r.json()["metadata"]["resourceVersion"]), int(cur["metadata"]["resourceVersion"]))
        r = self.c.put(self.base + "/configmaps/cm1", upd)
        self.assertEqual((r.status, r.json()["reason"]), (409, "Conflict"))
        # delete of a configmap returns a Status Success
        r = self.c.delete(self.base + "/configmaps/cm1")
        self.assertEqual((r.status, r.json()["status"]), (200, "Success"))
        self.assertEqual(self.c.delete(self.base + "/configmaps/cm1").status, 404)

    def test_bad_requests(self):
        r = self.c.post(self.base + "/pods", b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"')
        self.assertEqual((r.status, r.json()["reason"]), (400, "BadRequest"))
        r = self.c.post(self.base + "/pods", pod("Bad_Name", "true"))
        self.assertEqual((r.status, r.json()["details"]["kind"]), (422, "Pod"))
        r = self.c.get(self.base + "/pods?fieldSelector=spec.foo%3Dbar")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["message"], "field label not supported: spec.foo")
        r = self.c.get(self.base + "/pods?labelSelector=app%20in%20(")
        self.assertEqual(r.status, 400)

    def test_cr_semantics(self):
        r = self.c.post(self.w, dict(widget("w1", 1), junk=1, spec={"size": 1, "unknown": "x"}))
        self.assertEqual(r.status, 201)
        o = r.json()
        self.assertEqual(list(o.keys()), sorted(o.keys()))
        self.assertEqual(list(o["metadata"].keys()), sorted(o["metadata"].keys()))
        self.assertNotIn("junk", o)                        # pruned
        self.assertNotIn("unknown", o["spec"])
        self.assertEqual(o["spec"]["color"], "blue")       # schema default
        self.assertEqual(o["metadata"]["generation"], 1)
        self.assertNotIn("status", o)
        u = self.w + "/w1"
        # status subresource
        r = self.c.patch(u + "/status", {"status": {"phase": "Ready"}, "spec": {"size": 5}})
        self.assertEqual(r.status, 200)
        self.assertEqual((r.json()["status"]["phase"], r.json()["spec"]["size"], r.json()["metadata"]["generation"]), ("Ready", 1, 1))
        self.assertTrue(r.json()["metadata"]["selfLink"].endswith("/status"))
        # main resource ignores status
        r = self.c.patch(u, {"status": {"phase": "Hacked"}, "metadata": {"labels": {"a": "b"}}})
        self.assertEqual((r.json()["status"]["phase"], r.json()["metadata"]["labels"], r.json()["metadata"]["generation"]), ("Ready", {"a": "b"}, 1))
        # spec change bumps generation
        r = self.c.patch(u, {"spec": {"size": 2}})
        self.assertEqual(r.json()["metadata"]["generation"], 2)
        # json patch with a failing test -> 422
        r = self.c.patch(u, [{"op": "test", "path": "/spec/size", "value": 99}], "application/json-patch+json")
        self.assertEqual((r.status, r.json()["details"]), (422, {}))
        r = self.c.patch(u, [{"op": "test", "path": "/spec/size", "value": 2}, {"op": "replace", "path": "/spec/size", "value": 3}],
                         "application/json-patch+json")
        self.assertEqual((r.status, r.json()["spec"]["size"]), (200, 3))
        # SMP on a CR -> 415
        r = self.c.patch(u, {"spec": {"size": 7}}, "application/strategic-merge-patch+json")
        self.assertEqual((r.status, r.json()["reason"]), (415, "UnsupportedMediaType"))
        # PUT without RV -> 422, stale RV -> 409
        r = self.c.put(u, widget("w1", 9))
        self.assertEqual(r.status, 422)
        r = self.c.put(u, widget("w1", 9, resourceVersion="1"))
        self.assertEqual((r.status, r.json()["details"]["group"]), (409, "wire.example.com"))
        # no-op patch keeps the RV
        cur = self.c.get(u).json()
        r = self.c.patch(u, {"spec": {"size": 3}})
        self.assertEqual(r.json()["metadata"]["resourceVersion"], cur["metadata"]["resourceVersion"])
        # delete without finalizers -> Status
        r = self.c.delete(u)
        self.assertEqual((r.status, r.json()["kind"], r.json()["details"]["kind"]), (200, "Status", "widgets"))

    def test_smp_on_pod_merges_containers(self):
        self.mkpod(self.base, pod("smp", "hang", labels={"a": "1"}))
        r = self.c.patch(self.base + "/pods/smp", {"metadata": {"labels": {"b": "2"}}, "spec": {"containers": [{"name": "main", "image": "busybox:2"}]}},
                         "application/strategic-merge-patch+json")
        self.assertEqual(r.status, 200, r.body)
        o = r.json()
        self.assertEqual(o["metadata"]["labels"], {"a": "1", "b": "2"})
        self.assertEqual(len(o["spec"]["containers"]), 1)
        self.assertEqual(o["spec"]["containers"][0]["image"], "busybox:2")
        self.assertEqual(o["spec"]["containers"][0]["command"], ["sh", "-c", "hang"])
        # other pod spec changes are forbidden
        r = self.c.patch(self.base + "/pods/smp", {"spec": {"restartPolicy": "Always"}})
        self.assertEqual(r.status, 422)

    def test_selectors_and_pagination(self):
        base = self.ns("sel")
        for i, (tier, script) in enumerate([("a", "hang"), ("b", "hang"), ("c", "true")]):
            self.mkpod(base, pod("p-%d" % i, script, labels={"app": "wire", "tier": tier}))
        self.c.wait_for(base + "/pods/p-2", phase("Succeeded"))
        self.c.wait_for(base + "/pods/p-1", ready)
        names = lambda r: [i["metadata"]["name"] for i in r.json()["items"]]
        self.assertEqual(names(self.c.get(base + "/pods?labelSelector=app%3Dwire%2Ctier%20in%20(a%2Cc)")), ["p-0", "p-2"])
        self.assertEqual(names(self.c.get(base + "/pods?labelSelector=tier%20notin%20(a)")), ["p-1", "p-2"])
        self.assertEqual(names(self.c.get(base + "/pods?labelSelector=tier!%3Da")), ["p-1", "p-2"])
        self.assertEqual(names(self.c.get(base + "/pods?labelSelector=!nothere")), ["p-0", "p-1", "p-2"])
        self.assertEqual(names(self.c.get(base + "/pods?labelSelector=tier")), ["p-0", "p-1", "p-2"])
        self.assertEqual(names(self.c.get(base + "/pods?labelSelector=tier%3D%3Db")), ["p-1"])
        self.assertEqual(names(self.c.get(base + "/pods?fieldSelector=status.phase!%3DRunning")), ["p-2"])
        self.assertEqual(names(self.c.get(base + "/pods?fieldSelector=metadata.name%3Dp-1,spec.restartPolicy%3DNever")), ["p-1"])
        self.assertEqual(names(self.c.get(base + "/pods?fieldSelector=spec.nodeName%3Dfake-node-1")), ["p-0", "p-1", "p-2"])
        r = self.c.get(base + "/pods?labelSelector=app%3Dnothing")
        self.assertEqual(r.json()["items"], [])
        # pagination
        r1 = self.c.get(base + "/pods?limit=1").json()
        self.assertEqual(r1["metadata"]["remainingItemCount"], 2)
        r2 = self.c.get(base + "/pods?limit=1&continue=" + r1["metadata"]["continue"]).json()
        self.assertEqual(r2["metadata"]["resourceVersion"], r1["metadata"]["resourceVersion"])
        r3 = self.c.get(base + "/pods?limit=1&continue=" + r2["metadata"]["continue"]).json()
        self.assertNotIn("continue", r3["metadata"])
        self.assertNotIn("remainingItemCount", r3["metadata"])
        self.assertEqual([names_(r) for r in (r1, r2, r3)], [["p-0"], ["p-1"], ["p-2"]])
        # all-namespaces list
        allp = self.c.get("/api/v1/pods").json()
        self.assertIn(("sel", "p-0"), [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in allp["items"]])
        # too-old RV + limit -> 410
        r = self.c.get(base + "/pods?resourceVersion=1&limit=1")
        self.assertEqual((r.status, r.json()["reason"]), (410, "Expired"))


def names_(lst):
    return [i["metadata"]["name"] for i in lst["items"]]


class WatchTest(ServerTest):
    def test_watch_resume_bookmark_410_selectors(self):
        base = self.ns("watch")
        rv = self.c.get(base + "/configmaps").json()["metadata"]["resourceVersion"]
        w = WatchReader(self.c, base + "/configmaps?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=2&labelSelector=keep%%3Dyes" % rv)
        self.assertEqual(w.status, 200)
        self.c.post(base + "/configmaps", {"metadata": {"name": "a", "labels": {"keep": "yes"}}})
        self.c.post(base + "/configmaps", {"metadata": {"name": "b", "labels": {"keep": "no"}}})
        self.c.patch(base + "/configmaps/a", {"data": {"x": "1"}})
        self.c.patch(base + "/configmaps/a", {"metadata": {"labels": {"keep": "no"}}})   # leaves the selector -> DELETED
        w.wait_for(lambda e: e["type"] == "DELETED")
        self.assertTrue(w.wait_done(6))
        types = [e["type"] for e in w.events]
        self.assertEqual([t for t in types if t != "BOOKMARK"], ["ADDED", "MODIFIED", "DELETED"])
        self.assertIn("BOOKMARK", types)
        bm = [e for e in w.events if e["type"] == "BOOKMARK"][0]
        self.assertEqual(set(bm["object"]["metadata"].keys()), {"resourceVersion", "creationTimestamp"})
        # resume from the RV of the first event: the rest is replayed
        first_rv = w.events[0]["object"]["metadata"]["resourceVersion"]
        w2 = WatchReader(self.c, base + "/configmaps?watch=true&resourceVersion=%s&timeoutSeconds=1" % first_rv)
        self.assertTrue(w2.wait_done(5))
        self.assertEqual([e["object"]["metadata"]["name"] for e in w2.events], ["b", "a", "a"])
        # no RV: synthetic ADDED for existing objects
        w3 = WatchReader(self.c, base + "/configmaps?watch=1&timeoutSeconds=1")
        self.assertTrue(w3.wait_done(5))
        self.assertEqual(sorted((e["type"], e["object"]["metadata"]["name"]) for e in w3.events), [("ADDED", "a"), ("ADDED", "b")])
        # too old: 200 + ERROR 410, then EOF
        w4 = WatchReader(self.c, base + "/configmaps?watch=1&resourceVersion=1")
        self.assertTrue(w4.wait_done(5))
        self.assertEqual(len(w4.events), 1)
        self.assertEqual((w4.events[0]["type"], w4.events[0]["object"]["code"], w4.events[0]["object"]["reason"]), ("ERROR", 410, "Expired"))
        # compaction makes the old RV expire
        self.c.control("compact")
        w5 = WatchReader(self.c, base + "/configmaps?watch=1&resourceVersion=%s" % first_rv)
        self.assertTrue(w5.wait_done(5))
        self.assertEqual(w5.events[0]["object"]["code"], 410)


class FinalizerGCTest(ServerTest):
    def setUp(self):
        self.base = self.ns("fin")
        self.crd()
        self.w = W % "fin"

    def test_finalizer_sequence(self):
        rv = self.c.get(self.w).json()["metadata"]["resourceVersion"]
        wr = WatchReader(self.c, self.w + "?watch=1&resourceVersion=%s&timeoutSeconds=2" % rv)
        u = self.w + "/w-fin"
        self.assertEqual(self.c.post(self.w, widget("w-fin")).status, 201)
        self.assertEqual(self.c.patch(u, {"metadata": {"finalizers": ["wire.example.com/cleanup"]}}).status, 200)
        r = self.c.delete(u)
        o = r.json()
        self.assertEqual(r.status, 200)
        self.assertEqual((o["metadata"]["deletionGracePeriodSeconds"], o["metadata"]["generation"]), (0, 2))
        self.assertEqual(self.c.get(u).status, 200)
        r = self.c.patch(u, {"metadata": {"finalizers": ["wire.example.com/cleanup", "wire.example.com/second"]}})
        self.assertEqual((r.status, r.json()["details"]["kind"]), (422, "Widget"))
        r2 = self.c.delete(u)
        self.assertEqual(r2.json()["metadata"]["resourceVersion"], o["metadata"]["resourceVersion"])
        r = self.c.patch(u, {"metadata": {"finalizers": None}})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["metadata"]["resourceVersion"], o["metadata"]["resourceVersion"])
        self.assertEqual(self.c.get(u).status, 404)
        ev = wr.wait_for(lambda e: e["type"] == "DELETED")
        self.assertEqual(ev["object"]["metadata"]["finalizers"], ["wire.example.com/cleanup"])
        self.assertEqual([e["type"] for e in wr.events], ["ADDED", "MODIFIED", "MODIFIED", "DELETED"])
        self.assertTrue(wr.wait_done(5))

    def _owned_pod(self, name, owner, script="hang", grace=None):
        p = pod(name, script)
        p["metadata"]["ownerReferences"] = [{"apiVersion": "wire.example.com/v1", "kind": "Widget", "name": owner["metadata"]["name"],
                                             "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
        if grace is not None:
            p["spec"]["terminationGracePeriodSeconds"] = grace
        return self.mkpod(self.base, p, wait=ready)

    def test_gc_background(self):
        o = self.c.post(self.w, widget("bg")).json()
        self._owned_pod("bg-pod", o)
        t0 = time.time()
        r = self.c.delete(self.w + "/bg", {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        self.assertEqual((r.status, r.json()["status"]), (200, "Success"))
        self.c.wait_for(self.base + "/pods/bg-pod", None)
        self.assertGreater(time.time() - t0, 0.6 * 0.02)

    def test_gc_foreground(self):
        o = self.c.post(self.w, widget("fg")).json()
        self._owned_pod("fg-pod", o, script="sleep 300; ignore-term")
        r = self.c.delete(self.w + "/fg", {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"})
        self.assertEqual(r.json()["metadata"]["finalizers"], ["foregroundDeletion"])
        self.assertEqual(self.c.get(self.w + "/fg").status, 200)
        self.c.wait_for(self.base + "/pods/fg-pod", None)
        self.c.wait_for(self.w + "/fg", None)

    def test_gc_orphan(self):
        o = self.c.post(self.w, widget("or")).json()
        self._owned_pod("or-pod", o)
        r = self.c.delete(self.w + "/or", {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"})
        self.assertIn("orphan", r.json()["metadata"]["finalizers"])
        self.c.wait_for(self.w + "/or", None)
        p = self.c.wait_for(self.base + "/pods/or-pod", lambda p: not p["metadata"].get("ownerReferences"))
        self.assertIsNone(p["metadata"].get("deletionTimestamp"))


class EventsLeasesTest(ServerTest):
    def test_event_and_lease(self):
        base = self.ns("ev")
        ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "x.1", "namespace": "ev"},
              "involvedObject": {"kind": "Pod", "namespace": "ev", "name": "x"}, "reason": "R", "message": "m",
              "type": "Normal", "source": {"component": "omjob"}, "count": 1}
        r = self.c.post(base + "/events", ev)
        self.assertEqual(r.status, 201)
        self.assertEqual((r.json()["eventTime"], r.json()["reportingComponent"]), (None, ""))
        r = self.c.patch(base + "/events/x.1", {"count": 2})
        self.assertEqual(r.json()["count"], 2)
        r = self.c.get(base + "/events?fieldSelector=involvedObject.name%3Dx,reason%3DR")
        self.assertEqual(len(r.json()["items"]), 1)
        L = "/apis/coordination.k8s.io/v1/namespaces/ev/leases"
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"},
                 "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": "2026-11-22T03:53:00.123456Z"}}
        r = self.c.post(L, lease)
        self.assertEqual(r.status, 201)
        rv = r.json()["metadata"]["resourceVersion"]
        lease["metadata"]["resourceVersion"] = rv
        lease["spec"]["renewTime"] = "2026-11-22T03:53:10.000001Z"
        r = self.c.put(L + "/leader", lease)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["spec"]["renewTime"], "2026-11-22T03:53:10.000001Z")
        r = self.c.put(L + "/leader", lease)
        self.assertEqual((r.status, r.json()["details"]), (409, {"name": "leader", "group": "coordination.k8s.io", "kind": "leases"}))


class AuthTest(ServerTest):
    def test_tokens_and_rotation(self):
        tok = os.path.join(self.srv.dir, "tokens")
        orig = open(tok).read()
        try:
            with open(tok, "a") as f:
                f.write("reader-token system:serviceaccount:x:reader get:pods,list:pods\n")
            admin = self.srv.client("token")
            self.assertEqual(admin.get("/api/v1/namespaces/default/pods").status, 200)
            rd = self.srv.client(("bearer", "reader-token"))
            self.assertEqual(rd.get("/api/v1/namespaces/default/pods").status, 200)
            r = rd.get("/api/v1/namespaces/default/configmaps")
            self.assertEqual(r.status, 403)
            self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
            self.assertEqual(r.json()["message"], 'configmaps is forbidden: User "system:serviceaccount:x:reader" cannot list '
                                                  'resource "configmaps" in API group "" in the namespace "default"')
            r = self.srv.client(("bearer", "garbage")).get("/api/v1/namespaces/default/pods")
            self.assertEqual(r.status, 401)
            self.assertEqual(r.json(), {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
            r = self.srv.client("none").get("/api/v1/namespaces/default/pods")
            self.assertEqual(r.status, 403)
            self.assertIn("system:anonymous", r.json()["message"])
            # rotate: rewrite the file, the old token stops working
            time.sleep(0.01)
            with open(tok + ".new", "w") as f:
                f.write("new-admin-token admin *\n")
            os.replace(tok + ".new", tok)
            self.assertEqual(self.srv.client(("bearer", self.srv.token)).get("/api/v1/namespaces/default/pods").status, 401)
            self.assertEqual(self.srv.client(("bearer", "new-admin-token")).get("/api/v1/namespaces/default/pods").status, 200)
            # client certificates still work
            self.assertEqual(self.c.get("/api/v1/namespaces/default/pods").status, 200)
        finally:
            with open(tok + ".new", "w") as f:
                f.write(orig)
            os.replace(tok + ".new", tok)

    def test_tls_sans(self):
        # both TLS paths: IP 127.0.0.1 and DNS localhost verify against the CA
        self.assertEqual(self.srv.client("cert", host="localhost").get("/version").status, 200)
        self.assertEqual(self.srv.client("cert", host="127.0.0.1").get("/version").status, 200)


if __name__ == "__main__":
    unittest.main()
