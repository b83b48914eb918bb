"""Fault injection, restart with state kept, journal, startup time."""
import os
import time
import unittest

from fakeclient import FakeServer
from util import ServerTest, WatchReader, phase, pod


class FaultTest(ServerTest):
    def tearDown(self):
        self.c.control("faults", {"clear": True})

    def test_fail_next_and_retry_after(self):
        self.c.control("faults", {"fail_next": 2, "status": 503, "match": "/configmaps"})
        self.assertEqual(self.c.get("/api/v1/namespaces/default/configmaps").status, 503)
        self.assertEqual(self.c.get("/api/v1/namespaces/default/pods").status, 200)    # not matched
        self.assertEqual(self.c.get("/api/v1/namespaces/default/configmaps").status, 503)
        self.assertEqual(self.c.get("/api/v1/namespaces/default/configmaps").status, 200)
        self.c.control("faults", {"fail_next": 1, "status": 429, "retry_after": 2, "method": "POST"})
        self.assertEqual(self.c.get("/api/v1/namespaces/default/configmaps").status, 200)
        r = self.c.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "x"}})
        self.assertEqual((r.status, r.header("Retry-After"), r.json()["reason"]), (429, "2", "TooManyRequests"))
        self.assertEqual(r.json()["details"]["retryAfterSeconds"], 2)
        self.c.control("faults", {"fail_next": 1, "status": 500})
        r = self.c.get("/api/v1/namespaces/default/configmaps")
        self.assertEqual((r.status, r.json()["reason"]), (500, "InternalError"))

    def test_failure_after_a_delay(self):
        self.c.control("faults", {"fail_next": 1, "status": 503, "match": "/leases", "delay_ms": 300})
        t0 = time.time()
        self.assertEqual(self.c.get("/api/v1/namespaces/default/configmaps").status, 200)
        self.assertLess(time.time() - t0, 0.3)  # not matched: not delayed
        r = self.c.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/x")
        self.assertEqual(r.status, 503)
        self.assertGreaterEqual(time.time() - t0, 0.3)

    def test_failure_for_one_user_agent(self):
        self.c.control("faults", {"fail_next": 5, "status": 503, "agent": "replica-a"})
        self.assertEqual(self.c.get("/api/v1/namespaces/default/configmaps").status, 200)
        ua, self.c.ua = self.c.ua, "omjob-operator/1 (replica-a_1)"
        try:
            self.assertEqual(self.c.get("/api/v1/namespaces/default/configmaps").status, 503)
        finally:
            self.c.ua = ua

    def test_latency(self):
        self.c.control("faults", {"latency_ms": 200})
        t0 = time.time()
        self.c.get("/api/v1/namespaces/default/configmaps")
        self.assertGreaterEqual(time.time() - t0, 0.2)

    def test_drop_watches(self):
        base = self.ns("drop")
        self.c.control("faults", {"drop_watches_after_events": 2})
        w = WatchReader(self.c, base + "/configmaps?watch=1&timeoutSeconds=30")
        for i in range(3):
            self.c.post(base + "/configmaps", {"metadata": {"name": "c%d" % i}})
        self.assertTrue(w.wait_done(5))
        self.assertEqual(len(w.events), 2)
        self.c.control("faults", {"drop_watches_after_events": None, "drop_watches_after_seconds": 0.3})
        t0 = time.time()
        w = WatchReader(self.c, base + "/configmaps?watch=1&resourceVersion=0&timeoutSeconds=30")
        self.assertTrue(w.wait_done(5))
        self.assertLess(time.time() - t0, 3)
        self.c.control("faults", {"drop_watches_after_seconds": None, "expire_next_watch": True})
        w = WatchReader(self.c, base + "/configmaps?watch=1&timeoutSeconds=30")
        self.assertTrue(w.wait_done(5))
        self.assertEqual([(e["type"], e["object"]["code"]) for e in w.events], [("ERROR", 410)])
        self.c.control("faults", {"expire_next_watch": True, "match": "/secrets"})
        w = WatchReader(self.c, base + "/configmaps?watch=1&timeoutSeconds=1")
        self.assertTrue(w.wait_done(5))
        self.assertNotIn("ERROR", [e["type"] for e in w.events])
        w = WatchReader(self.c, base + "/secrets?watch=1&timeoutSeconds=30")
        self.assertTrue(w.wait_done(5))
        self.assertEqual([e["type"] for e in w.events][-1:], ["ERROR"])

    def test_journal(self):
        self.c.control("journal/clear")
        base = self.ns("jr")
        w = WatchReader(self.c, base + "/pods?watch=1&timeoutSeconds=5")
        self.mkpod(base, pod("jp", "true"), wait=phase("Succeeded"))
        w.wait_for(lambda e: e["object"]["status"].get("phase") == "Succeeded")
        j = self.c.get("/fake/journal?since=0").json()
        posts = [e for e in j if e.get("method") == "POST" and e.get("kind") == "Pod"]
        self.assertEqual(len(posts), 1)
        self.assertEqual((posts[0]["status"], posts[0]["name"], posts[0]["namespace"], posts[0]["user"]), (201, "jp", "jr", "admin"))
        for k in ("seq", "ts", "path", "query"):
            self.assertIn(k, posts[0])
        wev = [e for e in j if e.get("watch_event") and e.get("name") == "jp"]
        self.assertEqual(wev[-1]["phase"], "Succeeded")
        self.assertTrue(all("rv" in e for e in wev))
        seqs = [e["seq"] for e in j]
        self.assertEqual(seqs, sorted(seqs))
        later = self.c.get("/fake/journal?since=%d" % seqs[-1]).json()
        self.assertTrue(all(e["seq"] > seqs[-1] for e in later))
        w.close()


class RestartTest(unittest.TestCase):
    def test_restart_keeps_state_and_port(self):
        srv = FakeServer("--time-scale", "0.02").start()
        try:
            c = srv.client("cert")
            c.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "keep"}, "data": {"a": "1"}})
            rv = c.get("/api/v1/namespaces/default/configmaps/keep").json()["metadata"]["resourceVersion"]
            w = WatchReader(c, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=%s&timeoutSeconds=30" % rv)
            port = srv.port
            self.assertEqual(c.control("restart").status, 200)
            self.assertTrue(w.wait_done(5))          # the watch is cut
            deadline = time.time() + 5
            while True:
                try:
                    c2 = srv.client("cert")
                    r = c2.get("/api/v1/namespaces/default/configmaps/keep")
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["metadata"]["resourceVersion"], rv)
            self.assertEqual(srv.port, port)
            # a watch can resume from the old RV after an in-process restart
            w2 = WatchReader(c2, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=%s&timeoutSeconds=1" % rv)
            self.assertTrue(w2.wait_done(5))
            self.assertEqual(w2.events, [])
            # process restart: SIGTERM then start again on the same dir: same CA, same objects, RV continues
            ca = open(os.path.join(srv.dir, "ca.crt")).read()
            c2.post("/api/v1/namespaces/default/pods", pod("survivor", "echo a; sleep 50; echo b"))
            c2.wait_for("/api/v1/namespaces/default/pods/survivor", lambda o: o["status"].get("phase") == "Running")
            srv.stop()
            t0 = time.time()
            srv.start()
            self.assertLess(time.time() - t0, 2.0)
            self.assertEqual(open(os.path.join(srv.dir, "ca.crt")).read(), ca)
            c3 = srv.client("cert")
            o = c3.get("/api/v1/namespaces/default/configmaps/keep").json()
            self.assertEqual(o["data"], {"a": "1"})
            r = c3.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "after"}})
            self.assertGreater(int(r.json()["metadata"]["resourceVersion"]), int(rv))
            # the running pod continues where it was (no repeated output)
            c3.wait_for("/api/v1/namespaces/default/pods/survivor", phase("Succeeded"), timeout=10)
            self.assertEqual(c3.get("/api/v1/namespaces/default/pods/survivor/log").body, b"a\nb\n")
            # history did not survive the process: the old RV is too old now
            w3 = WatchReader(c3, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=%d" % (int(rv) - 1))
            self.assertTrue(w3.wait_done(5))
            self.assertEqual(w3.events[0]["object"]["code"], 410)
        finally:
            srv.cleanup()

    def test_startup_files(self):
        t0 = time.time()
        srv = FakeServer().start()
        try:
            self.assertLess(time.time() - t0, 2.0)
            for f in ("ca.crt", "client.crt", "client.key", "tokens", "kubeconfig", "kubeconfig-cert", "port"):
                self.assertTrue(os.path.exists(os.path.join(srv.dir, f)), f)
            kc = open(os.path.join(srv.dir, "kubeconfig")).read()
            self.assertIn("https://127.0.0.1:%d" % srv.port, kc)
            self.assertIn("token: " + srv.token, kc)
            self.assertIn("https://localhost:%d" % srv.port, open(os.path.join(srv.dir, "kubeconfig-cert")).read())
        finally:
            srv.cleanup()


if __name__ == "__main__":
    unittest.main()
