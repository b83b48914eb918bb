"""Issue 2 against the fake API server: list+watch, resume, relist after 410 delivering a
missed delete, 429 + Retry-After, dropped connections, token rotation, client-certificate and
token auth over verified HTTPS (IP and DNS names), a CA that does not match."""
import json
import os
import signal
import unittest

from harness import FakeCluster, Operator, wait_until

MANAGED = {"app.kubernetes.io/managed-by": "omjob-operator"}


def cache_events(op, event, key):
    return op.count_log(msg="cache change", resource="pods", event=event, key=key)


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeCluster().start()
        self.ops = []
        self.fake.ensure_namespace("work")

    def tearDown(self):
        for op in self.ops:
            rc = op.stop()
            self.assertEqual(rc, 0, "operator exit code %s\n%s" % (rc, op.dump()))
        self.fake.stop()

    def operator(self, kubeconfig=None, *flags, env=None):
        op = Operator(kubeconfig or self.fake.kubeconfig, *flags, env=env)
        self.ops.append(op)
        return op

    def watch_requests(self, since=0):
        return [j for j in self.fake.journal(since)
                if j.get("method") == "GET" and "watch=1" in (j.get("query") or "")
                and j.get("path") == "/api/v1/pods"]

    def test_list_then_watch_and_resume_from_resource_version(self):
        self.fake.create_pod("work", "before", MANAGED)
        self.fake.create_pod("work", "unmanaged")  # filtered out by the label selector
        op = self.operator()
        op.wait_ready()
        op.wait_log(msg="cache change", event="add", key="work/before")
        self.assertEqual(cache_events(op, "add", "work/unmanaged"), 0)
        self.fake.create_pod("work", "after", MANAGED)
        op.wait_log(msg="cache change", event="add", key="work/after")
        lists = [j for j in self.fake.journal() if j.get("path") == "/api/v1/pods"
                 and "watch" not in (j.get("query") or "")]
        self.assertEqual(len(lists), 1, lists)
        # Restart the API server (every connection dropped, state kept): the operator must
        # watch again from the last resourceVersion, without a new LIST, and see what
        # happened meanwhile.
        mark = self.fake.journal()[-1]["seq"]
        self.fake.restart()
        self.fake.create_pod("work", "later", MANAGED)
        op.wait_log(msg="cache change", event="add", key="work/later")
        # Every watch started since the restart resumed from a resourceVersion.
        rewatch = wait_until(lambda: self.watch_requests(mark), 10, "a new watch in the journal")
        self.assertTrue(all("resourceVersion=" in j["query"] for j in rewatch), rewatch)
        relists = [j for j in self.fake.journal(mark) if j.get("path") == "/api/v1/pods"
                   and "watch" not in (j.get("query") or "")]
        self.assertEqual(relists, [])

    def test_watch_namespaces_covers_every_listed_namespace_and_only_those(self):
        for ns in ("team-a", "team-b", "team-c"):
            self.fake.ensure_namespace(ns)
            self.fake.create_pod(ns, "p", MANAGED)
        op = self.operator(None, "--watch-namespaces", "team-a, team-b")
        op.wait_ready()
        op.wait_log(msg="cache change", event="add", key="team-a/p")
        op.wait_log(msg="cache change", event="add", key="team-b/p")
        self.assertEqual(cache_events(op, "add", "team-c/p"), 0)
        paths = {j["path"] for j in self.fake.journal() if j.get("method") == "GET"
                 and "pods" in (j.get("path") or "")}
        self.assertIn("/api/v1/namespaces/team-a/pods", paths)
        self.assertIn("/api/v1/namespaces/team-b/pods", paths)
        self.assertNotIn("/api/v1/pods", paths)

    def test_relist_after_410_delivers_the_missed_delete(self):
        self.fake.create_pod("work", "doomed", MANAGED)
        self.fake.create_pod("work", "keeper", MANAGED)
        op = self.operator()
        op.wait_ready()
        op.wait_log(msg="cache change", event="add", key="work/doomed")
        # Keep the operator's watches failing while the pod is deleted and history compacted.
        self.fake.control("faults", {"fail_next": 1000, "status": 500, "match": "watch="})
        self.fake.restart()
        st, _ = self.fake.request("DELETE", "/api/v1/namespaces/work/pods/doomed?gracePeriodSeconds=0")
        self.assertEqual(st, 200)
        wait_until(lambda: self.fake.request("GET", "/api/v1/namespaces/work/pods/doomed")[0] == 404,
                   10, "the pod to be gone")
        self.fake.control("compact", {})
        self.fake.control("faults", {"clear": True})
        op.wait_log(msg="cache change", event="delete", key="work/doomed", timeout=40)
        op.wait_log(msg="watch expired (410), relisting")
        self.assertEqual(cache_events(op, "delete", "work/keeper"), 0)

    def test_429_retry_after_is_respected(self):
        self.fake.control("faults", {"fail_next": 1, "status": 429, "retry_after": 2,
                                     "match": "/api/v1/pods"})
        op = self.operator()
        op.wait_ready(30)
        pods = [j for j in self.fake.journal() if j.get("path") == "/api/v1/pods"
                and "watch" not in (j.get("query") or "")]
        self.assertEqual(pods[0]["status"], 429)
        self.assertEqual(pods[1]["status"], 200)
        self.assertGreaterEqual(pods[1]["ts"] - pods[0]["ts"], 1.9)

    def test_token_file_rotation_is_picked_up_after_401(self):
        token_file = os.path.join(self.fake.dir, "op-token")
        with open(token_file, "w") as f:
            f.write(self.fake.token + "\n")
        kc = os.path.join(self.fake.dir, "kubeconfig-tokenfile")
        with open(kc, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                       "clusters": [{"name": "c", "cluster": {
                           "server": self.fake.base,
                           "certificate-authority": os.path.join(self.fake.dir, "ca.crt")}}],
                       "users": [{"name": "u", "user": {"tokenFile": token_file}}],
                       "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}, f)
        op = self.operator(kc)
        op.wait_ready()
        # Rotate: the server stops accepting the old token, the file gets the new one.
        tokens = os.path.join(self.fake.dir, "tokens")
        with open(tokens) as f:
            lines = f.read().splitlines()
        new = "rotated-token-0123456789"
        with open(token_file, "w") as f:
            f.write(new + "\n")
        with open(tokens, "w") as f:
            f.write("\n".join([l.replace(self.fake.token, new, 1) for l in lines]) + "\n")
        self.fake.token = new
        self.fake.restart()
        self.fake.create_pod("work", "after-rotation", MANAGED)
        op.wait_log(msg="cache change", event="add", key="work/after-rotation", timeout=30)
        wait_until(lambda: 401 in [j.get("status") for j in self.fake.journal()], 10,
                   "the old token refused")

    def test_client_certificate_auth_with_a_dns_name(self):
        op = self.operator(self.fake.kubeconfig_cert)
        op.wait_ready()
        users = {j.get("user") for j in self.fake.journal() if j.get("path") == "/api/v1/pods"}
        self.assertIn("admin", users)

    def test_a_wrong_ca_or_wrong_ip_fails_verification(self):
        for name, mutate in (("wrong-ca", "ca"), ("wrong-ip", "ip")):
            with open(self.fake.kubeconfig) as f:
                text = f.read()
            kc = os.path.join(self.fake.dir, "kubeconfig-" + name)
            if mutate == "ca":
                other = FakeCluster().start()  # a different CA
                text = text.replace(os.path.join(self.fake.dir, "ca.crt"),
                                    os.path.join(other.dir, "ca.crt"))
                import shutil
                shutil.copy(os.path.join(other.dir, "ca.crt"), os.path.join(self.fake.dir, "other-ca.crt"))
                text = text.replace(os.path.join(other.dir, "ca.crt"),
                                    os.path.join(self.fake.dir, "other-ca.crt"))
                other.stop()
            else:
                # verify the server as 10.1.2.3: not in its certificate's IP SANs
                text = text.replace("certificate-authority:", "tls-server-name: 10.1.2.3\n    certificate-authority:", 1)
            with open(kc, "w") as f:
                f.write(text)
            op = Operator(kc)
            op.wait_log(msg="watch interrupted, retrying", timeout=20)
            self.assertNotEqual(op.get("/readyz")[0], 200)
            self.assertEqual(op.stop(), 0, op.dump())


class MissingCRDTest(unittest.TestCase):
    def test_a_cluster_without_some_crds_still_gets_a_ready_operator(self):
        fake = FakeCluster(crds=["omjob.yaml"]).start()
        try:
            op = Operator(fake.kubeconfig)
            op.wait_ready(30)
            op.wait_log(msg="resource not found on the API server: is its CRD installed?")
            self.assertEqual(op.stop(), 0, op.dump())
        finally:
            fake.stop()


class ControllerListTest(unittest.TestCase):
    def test_an_unknown_controller_name_stops_the_start(self):
        fake = FakeCluster().start()
        try:
            op = Operator(fake.kubeconfig, "--controllers", "omjob,observatroy")
            rec = op.wait_log(msg="unknown controller in CONTROLLERS/--controllers (known: "
                                  "omjob, cronomjob, observatory, seqjob)")
            self.assertEqual(rec["controller"], "observatroy")
            op.proc.wait(20)
            self.assertEqual(op.proc.returncode, 1)
        finally:
            fake.stop()


class LeaderElectionTest(unittest.TestCase):
    def test_hand_over_between_two_operator_processes(self):
        fake = FakeCluster().start()
        ops = []
        try:
            flags = ("--leader-elect=true", "--operator-namespace", "default",
                     "--lease-duration-seconds", "3", "--renew-deadline-seconds", "2",
                     "--retry-period-seconds", "1")
            a = Operator(fake.kubeconfig, *flags)
            ops.append(a)
            a.wait_log(msg="became leader")
            b = Operator(fake.kubeconfig, *flags)
            ops.append(b)
            b.wait_ready()  # a healthy standby is ready
            self.assertEqual(b.count_log(msg="became leader"), 0)
            # A graceful stop releases the lease: the standby takes over at once.
            self.assertEqual(a.stop(), 0, a.dump())
            a.wait_log(msg="leader lease released")
            b.wait_log(msg="became leader", timeout=10)
            # A killed leader is replaced once its lease expires.
            c = Operator(fake.kubeconfig, *flags)
            ops.append(c)
            c.wait_ready()
            b.stop(signal.SIGKILL)
            c.wait_log(msg="became leader", timeout=15)
            st, lease = fake.request("GET", "/apis/coordination.k8s.io/v1/namespaces/default/"
                                     "leases/omjob-operator-leader")
            self.assertEqual(st, 200)
            self.assertEqual(lease["spec"]["holderIdentity"],
                             c.wait_log(msg="became leader")["identity"])
            self.assertGreaterEqual(lease["spec"]["leaseTransitions"], 1)
        finally:
            for op in ops:
                if op.proc.poll() is None:
                    op.stop()
            fake.stop()
