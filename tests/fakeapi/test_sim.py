"""Pod lifecycle simulator: every outcome of the script vocabulary, deletion, eviction, logs, node loss, jobs."""
import calendar
import time
import unittest

from util import ServerTest, WatchReader, cstate, phase, pod, ready


class PodOutcomeTest(ServerTest):
    server_args = ("--time-scale", "0.02", "--nodes", "1")

    def setUp(self):
        self.base = self.ns("sim")

    def test_exit0_sequence(self):
        rv = self.c.get(self.base + "/pods").json()["metadata"]["resourceVersion"]
        w = WatchReader(self.c, self.base + "/pods?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dp-ok&timeoutSeconds=5" % rv)
        self.mkpod(self.base, pod("p-ok", "echo ok"))
        ev = w.wait_for(lambda e: e["object"]["status"].get("phase") == "Succeeded")
        seq = [(e["type"], e["object"]["status"].get("phase"), bool(e["object"]["spec"].get("nodeName"))) for e in w.events]
        self.assertEqual(seq[0], ("ADDED", "Pending", False))
        self.assertEqual(seq[1], ("MODIFIED", "Pending", True))
        self.assertEqual(cstate(w.events[2]["object"]), {"waiting": {"reason": "ContainerCreating"}})
        # a fast exit is never seen Running
        self.assertNotIn("Running", [s[1] for s in seq])
        term = cstate(ev["object"])["terminated"]
        self.assertEqual((term["exitCode"], term["reason"]), (0, "Completed"))
        for k in ("startedAt", "finishedAt", "containerID"):
            self.assertIn(k, term)
        conds = {c["type"]: c for c in ev["object"]["status"]["conditions"]}
        self.assertEqual(conds["Ready"]["reason"], "PodCompleted")
        w.close()

    def test_exit_n_oom_hang(self):
        self.mkpod(self.base, pod("p-exit3", "echo hi; sleep 1; exit 3"))
        self.mkpod(self.base, pod("p-oom", "x", annotations={"fake.omjob.dev/script": "oom"}))
        self.mkpod(self.base, pod("p-hang", command=["/bin/server", "--forever"], annotations={"fake.omjob.dev/script": "echo up; hang"}))
        o = self.c.wait_for(self.base + "/pods/p-exit3", phase("Failed"))
        self.assertEqual((cstate(o)["terminated"]["exitCode"], cstate(o)["terminated"]["reason"]), (3, "Error"))
        o = self.c.wait_for(self.base + "/pods/p-oom", phase("Failed"))
        self.assertEqual((cstate(o)["terminated"]["exitCode"], cstate(o)["terminated"]["reason"]), (137, "OOMKilled"))
        o = self.c.wait_for(self.base + "/pods/p-hang", ready)
        self.assertEqual(o["status"]["phase"], "Running")
        self.assertIn("running", cstate(o))
        self.assertTrue(o["status"]["containerStatuses"][0]["started"])

    def test_image_failures_and_unschedulable(self):
        self.mkpod(self.base, pod("p-pull", "true", image="fake.invalid/nope:1"))
        self.mkpod(self.base, pod("p-never", "true", image="absent/nope:1"))
        self.mkpod(self.base, pod("p-unsched", "true", nodeSelector={"disk": "ssd"}))
        o = self.c.wait_for(self.base + "/pods/p-pull", lambda o: (cstate(o).get("waiting") or {}).get("reason") == "ImagePullBackOff")
        self.assertEqual(o["status"]["phase"], "Pending")
        o = self.c.wait_for(self.base + "/pods/p-never", lambda o: (cstate(o).get("waiting") or {}).get("reason") == "ErrImageNeverPull")
        self.assertIn("is not present with pull policy of Never", cstate(o)["waiting"]["message"])
        o = self.c.wait_for(self.base + "/pods/p-unsched", lambda o: o["status"].get("conditions"))
        c = o["status"]["conditions"][0]
        self.assertEqual((c["type"], c["status"], c["reason"]), ("PodScheduled", "False", "Unschedulable"))
        self.assertNotIn("nodeName", o["spec"])
        r = self.c.get(self.base + "/pods/p-never/log")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["message"], 'container "main" in pod "p-never" is waiting to start: ErrImageNeverPull')

    def test_active_deadline(self):
        o = self.mkpod(self.base, pod("p-dl", "sleep 600", activeDeadlineSeconds=3),
                       wait=lambda o: o["status"].get("reason") == "DeadlineExceeded")
        self.assertEqual(o["status"]["phase"], "Failed")
        self.assertIn("running", cstate(o))
        self.assertNotIn("conditions", o["status"])

    def test_delete_while_running(self):
        self.mkpod(self.base, pod("p-term", "sleep 600"), wait=ready)
        self.mkpod(self.base, pod("p-kill", "sleep 600; ignore-term"), wait=ready)
        rv = self.c.get(self.base + "/pods").json()["metadata"]["resourceVersion"]
        w = WatchReader(self.c, self.base + "/pods?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dp-kill&timeoutSeconds=10" % rv)
        r = self.c.delete(self.base + "/pods/p-kill")
        o = r.json()
        self.assertEqual((r.status, o["metadata"]["deletionGracePeriodSeconds"]), (200, 30))
        self.assertEqual(self.c.delete(self.base + "/pods/p-term").status, 200)
        w.wait_for(lambda e: e["type"] == "DELETED")
        types = [e["type"] for e in w.events]
        self.assertEqual(types[-1], "DELETED")
        term = [e for e in w.events if "terminated" in cstate(e["object"])][0]
        self.assertEqual(cstate(term["object"])["terminated"]["exitCode"], 137)
        self.assertEqual(term["object"]["status"]["phase"], "Failed")
        self.assertEqual(w.events[-2]["object"]["metadata"]["deletionGracePeriodSeconds"], 0)
        self.c.wait_for(self.base + "/pods/p-term", None)
        w.close()
        # a terminated pod is deleted at once
        self.mkpod(self.base, pod("p-done", "true"), wait=phase("Succeeded"))
        r = self.c.delete(self.base + "/pods/p-done")
        self.assertEqual((r.status, r.json()["metadata"]["deletionGracePeriodSeconds"]), (200, 0))
        self.assertEqual(self.c.get(self.base + "/pods/p-done").status, 404)

    def test_sigterm_exit_143(self):
        self.mkpod(self.base, pod("p-143", "sleep 600", terminationGracePeriodSeconds=600), wait=ready)
        rv = self.c.get(self.base + "/pods").json()["metadata"]["resourceVersion"]
        w = WatchReader(self.c, self.base + "/pods?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dp-143&timeoutSeconds=10" % rv)
        self.c.delete(self.base + "/pods/p-143")
        w.wait_for(lambda e: e["type"] == "DELETED", timeout=5)
        term = [e for e in w.events if "terminated" in cstate(e["object"])][0]
        self.assertEqual(cstate(term["object"])["terminated"]["exitCode"], 143)
        w.close()

    def test_final_delete_keeps_the_request_time(self):
        """The kubelet's final grace-0 DELETE moves deletionTimestamp back to the original request
        (old timestamp - old grace), as a real server does (../shared/k8s-wire/38), not to the time
        of the final DELETE: a container killed at the end of its grace period (100 s scaled to 2 s)."""
        self.mkpod(self.base, pod("p-late", "sleep 600; ignore-term", terminationGracePeriodSeconds=100), wait=ready)
        rv = self.c.get(self.base + "/pods").json()["metadata"]["resourceVersion"]
        w = WatchReader(self.c, self.base + "/pods?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dp-late&timeoutSeconds=10" % rv)
        first = self.c.delete(self.base + "/pods/p-late").json()["metadata"]
        w.wait_for(lambda e: e["type"] == "DELETED", timeout=8)
        final = w.events[-2]["object"]["metadata"]
        self.assertEqual((first["deletionGracePeriodSeconds"], final["deletionGracePeriodSeconds"]), (100, 0))
        self.assertEqual(calendar.timegm(time.strptime(final["deletionTimestamp"], "%Y-%m-%dT%H:%M:%SZ")),
                         calendar.timegm(time.strptime(first["deletionTimestamp"], "%Y-%m-%dT%H:%M:%SZ")) - 2)
        term = cstate(w.events[-2]["object"])["terminated"]
        self.assertEqual(term["exitCode"], 137)
        self.assertGreaterEqual(term["finishedAt"], final["deletionTimestamp"])
        w.close()

    def test_eviction(self):
        self.mkpod(self.base, pod("p-ev", "hang"), wait=ready)
        self.assertEqual(self.c.control("pods/sim/p-ev/evict").status, 200)
        o = self.c.wait_for(self.base + "/pods/p-ev", phase("Failed"))
        self.assertEqual(o["status"]["reason"], "Evicted")
        self.assertIn("low on resource", o["status"]["message"])

    def test_logs(self):
        self.mkpod(self.base, pod("p-log", "echo one; echo 'two words'; echo \"three\""), wait=phase("Succeeded"))
        r = self.c.get(self.base + "/pods/p-log/log")
        self.assertEqual((r.status, r.header("Content-Type"), r.header("Transfer-Encoding")), (200, "text/plain", "chunked"))
        self.assertEqual(r.body, b"one\ntwo words\nthree\n")
        self.assertEqual(self.c.get(self.base + "/pods/p-log/log?limitBytes=5").body, b"one\nt")
        self.assertEqual(self.c.get(self.base + "/pods/p-log/log?tailLines=1").body, b"three\n")
        r = self.c.get(self.base + "/pods/p-log/log?container=wrong")
        self.assertEqual((r.status, r.json()["message"]), (400, "container wrong is not valid for pod p-log"))
        # follow streams until the container exits (sleep 50 * 0.02 = 1 s)
        self.mkpod(self.base, pod("p-follow", "echo line 1; sleep 50; echo line 2; sleep 50"), wait=ready)
        t0 = time.time()
        r = self.c.get(self.base + "/pods/p-follow/log?follow=true", raw=True, timeout=10)
        self.assertEqual(r.body, b"line 1\nline 2\n")
        self.assertIn(b"7\r\nline 2\n\r\n", r.raw)
        self.assertGreater(time.time() - t0, 0.5)


class NodeLossTest(ServerTest):
    server_args = ("--time-scale", "0.005", "--nodes", "2")

    def test_node_loss_with_healthy_node(self):
        base = self.ns("nl")
        self.c.patch("/api/v1/nodes/fake-node-2", {"spec": {"unschedulable": True, "taints": [{"key": "x", "effect": "NoSchedule"}]}})
        p = self.mkpod(base, pod("p-nl", "sleep 100000"), wait=ready)
        self.assertEqual(p["spec"]["nodeName"], "fake-node-1")
        self.c.patch("/api/v1/nodes/fake-node-2", {"spec": {"unschedulable": None, "taints": None}})
        self.assertEqual(self.c.control("nodes/fake-node-1/kubelet-stop").status, 200)
        n = self.c.wait_for("/api/v1/nodes/fake-node-1", lambda n: any(
            c["type"] == "Ready" and c["status"] == "Unknown" for c in n["status"]["conditions"]))
        ready_c = [c for c in n["status"]["conditions"] if c["type"] == "Ready"][0]
        self.assertEqual(ready_c["reason"], "NodeStatusUnknown")
        self.assertIn({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
                      [{k: t[k] for k in ("key", "effect")} for t in n["spec"]["taints"]])
        o = self.c.wait_for(base + "/pods/p-nl", lambda o: not ready(o))
        self.assertEqual(o["status"]["phase"], "Running")
        # NoExecute follows; after the toleration (300 s scaled) the pod is deleted but stays Terminating
        self.c.wait_for("/api/v1/nodes/fake-node-1", lambda n: any(t["effect"] == "NoExecute" for t in n["spec"].get("taints", [])))
        o = self.c.wait_for(base + "/pods/p-nl", lambda o: o["metadata"].get("deletionTimestamp"), timeout=20)
        time.sleep(0.3)
        self.assertEqual(self.c.get(base + "/pods/p-nl").status, 200)   # still Terminating: the kubelet is away
        self.assertEqual(self.c.control("nodes/fake-node-1/kubelet-start").status, 200)
        self.c.wait_for(base + "/pods/p-nl", None)
        n = self.c.get("/api/v1/nodes/fake-node-1").json()
        self.assertNotIn("taints", n["spec"])

    def test_partition_reports_the_true_terminal_state_late(self):
        """kubelet-stop {"partition": true}: the container goes on and exits 0 while nothing reaches the
        server (the pod reads Running, Ready False); taint eviction deletes it (Terminating); kubelet-start
        delivers the real outcome (MODIFIED Succeeded, exit 0, finished before the deletion), then DELETED."""
        base = self.ns("part")
        self.c.patch("/api/v1/nodes/fake-node-2", {"spec": {"unschedulable": True}})
        p = self.mkpod(base, pod("p-part", "sleep 200; exit 0"), wait=ready)   # 1 s scaled
        self.assertEqual(p["spec"]["nodeName"], "fake-node-1")
        self.c.patch("/api/v1/nodes/fake-node-2", {"spec": {"unschedulable": None}})
        rv = self.c.get(base + "/pods").json()["metadata"]["resourceVersion"]
        w = WatchReader(self.c, base + "/pods?watch=1&resourceVersion=%s&timeoutSeconds=20" % rv)
        t_stop = time.time()
        self.assertEqual(self.c.control("nodes/fake-node-1/kubelet-stop", {"partition": True}).status, 200)
        self.c.wait_for("/api/v1/nodes/fake-node-1", lambda n: any(
            c["type"] == "Ready" and c["status"] == "Unknown" for c in n["status"]["conditions"]))
        o = self.c.wait_for(base + "/pods/p-part", lambda o: o["metadata"].get("deletionTimestamp"), timeout=20)
        # the script ended long ago (1 s after Running), but the server still has the last report
        self.assertGreater(time.time() - t_stop, 1.2)
        self.assertEqual(o["status"]["phase"], "Running")
        self.assertIn("running", cstate(o))
        t_start = time.time()
        self.assertEqual(self.c.control("nodes/fake-node-1/kubelet-start").status, 200)
        ev = w.wait_for(lambda e: e["type"] == "MODIFIED" and e["object"]["status"].get("phase") == "Succeeded")
        term = cstate(ev["object"])["terminated"]
        self.assertEqual((term["exitCode"], term["reason"]), (0, "Completed"))
        finished = calendar.timegm(time.strptime(term["finishedAt"], "%Y-%m-%dT%H:%M:%SZ"))
        self.assertLess(finished, t_start)       # it ended during the partition, reported only now
        w.wait_for(lambda e: e["type"] == "DELETED")
        w.close()

    def test_partition_without_eviction_keeps_the_pod_with_its_late_outcome(self):
        base = self.ns("part2")
        p = self.mkpod(base, pod("p-p2", "sleep 100; exit 3"), wait=ready)
        node = p["spec"]["nodeName"]
        other = "fake-node-2" if node == "fake-node-1" else "fake-node-1"
        for n in (node, other):   # every node away: disruption mode, nothing is evicted
            self.c.control("nodes/%s/kubelet-stop" % n, {"partition": n == node})
        self.c.wait_for(base + "/pods/p-p2", lambda o: not ready(o))
        time.sleep(100 * 0.005 + 0.3)            # the script's exit falls inside the partition
        o = self.c.get(base + "/pods/p-p2").json()
        self.assertEqual(o["status"]["phase"], "Running")
        w = WatchReader(self.c, base + "/pods?watch=1&resourceVersion=%s&timeoutSeconds=20"
                        % o["metadata"]["resourceVersion"])
        for n in (node, other):
            self.c.control("nodes/%s/kubelet-start" % n)
        # the returning kubelet's first report is already the exit (not Running, then the exit)
        ev = w.wait_for(lambda e: e["type"] == "MODIFIED")
        w.close()
        self.assertEqual(ev["object"]["status"]["phase"], "Failed")
        self.assertEqual(cstate(ev["object"])["terminated"]["exitCode"], 3)
        self.assertIsNone(ev["object"]["metadata"].get("deletionTimestamp"))

    def test_all_nodes_down_evicts_nothing(self):
        base = self.ns("nl2")
        self.mkpod(base, pod("p-a", "sleep 100000"), wait=ready)
        for n in ("fake-node-1", "fake-node-2"):
            self.c.control("nodes/%s/kubelet-stop" % n)
        for n in ("fake-node-1", "fake-node-2"):
            self.c.wait_for("/api/v1/nodes/" + n, lambda o: any(t["key"] == "node.kubernetes.io/unreachable" for t in o["spec"].get("taints", [])))
        time.sleep(300 * 0.005 + 0.5)
        o = self.c.get(base + "/pods/p-a").json()
        self.assertIsNone(o["metadata"].get("deletionTimestamp"))
        self.assertEqual(o["status"]["phase"], "Running")
        for n in ("fake-node-1", "fake-node-2"):
            self.assertFalse(any(t["effect"] == "NoExecute" for t in self.c.get("/api/v1/nodes/" + n).json()["spec"]["taints"]))
            self.c.control("nodes/%s/kubelet-start" % n)
        self.c.wait_for(base + "/pods/p-a", ready)


class JobTest(ServerTest):
    def test_job_success_failure_gc(self):
        base = self.ns("jobs")
        J = "/apis/batch/v1/namespaces/jobs/jobs"
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "ok"},
               "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                   {"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hi"]}]}}}}
        self.assertEqual(self.c.post(J, job).status, 201)
        j = self.c.wait_for(J + "/ok", lambda j: j["status"].get("conditions"))
        self.assertEqual((j["status"]["conditions"][0]["type"], j["status"]["succeeded"]), ("Complete", 1))
        self.assertIn("completionTime", j["status"])
        self.assertIn("startTime", j["status"])
        pods = self.c.get(base + "/pods?labelSelector=job-name%3Dok").json()["items"]
        self.assertEqual(len(pods), 1)
        p = pods[0]
        self.assertRegex(p["metadata"]["name"], r"^ok-[a-z0-9]{5}$")
        self.assertEqual(p["metadata"]["labels"]["controller-uid"], j["metadata"]["uid"])
        self.assertTrue(p["metadata"]["ownerReferences"][0]["controller"])
        bad = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bad"},
               "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never", "containers": [
                   {"name": "main", "image": "busybox", "command": ["sh", "-c", "exit 1"]}]}}}}
        self.c.post(J, bad)
        j = self.c.wait_for(J + "/bad", lambda j: j["status"].get("conditions"))
        self.assertEqual((j["status"]["conditions"][0]["type"], j["status"]["conditions"][0]["reason"]), ("Failed", "BackoffLimitExceeded"))
        self.assertEqual(j["status"]["failed"], 3)
        # background deletion removes the job's pods through the garbage collector
        self.c.delete(J + "/ok", {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
        self.c.wait_for(base + "/pods/" + p["metadata"]["name"], None)


class PauseTest(ServerTest):
    def test_pause_resume(self):
        base = self.ns("pause")
        self.c.control("sim/pause")
        self.mkpod(base, pod("p-paused", "true"))
        time.sleep(0.3)
        self.assertEqual(self.c.get(base + "/pods/p-paused").json()["status"]["phase"], "Pending")
        self.assertNotIn("nodeName", self.c.get(base + "/pods/p-paused").json()["spec"])
        self.c.control("sim/resume")
        self.c.wait_for(base + "/pods/p-paused", phase("Succeeded"))


if __name__ == "__main__":
    unittest.main()
