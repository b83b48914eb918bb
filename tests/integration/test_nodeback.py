"""Issue 18: a lost node comes back, and its pods' real outcomes win.

The fake's kubelet is stopped as in a partition (`kubelet-stop {"partition": true}`): the container
goes on and finishes while nothing reaches the API server, the node turns Unknown, and after
NODE_LOST_GRACE_SECONDS the operator records the pod as NodeLost. When the kubelet comes back it
reports the true terminal state; the operator re-classifies the pod by it (README "What final
means"). An exit handler lost with its node is not retried while it may still run."""
import unittest
import urllib.request

from harness import FakeCluster, Operator, wait_until
from test_omjob import NS, Base, omjob
import test_observatory as obs


class NodeBackBase(Base):
    fake_args = ("--nodes", "2")

    def running_on(self, pod):
        wait_until(lambda: (self.pod(pod) or {}).get("status", {}).get("phase") == "Running", 30,
                   pod + " running")
        return self.pod(pod)["spec"]["nodeName"]

    def partition(self, node):
        self.fake.control("nodes/%s/kubelet-stop" % node, {"partition": True})

    def heal(self, node):
        self.fake.control("nodes/%s/kubelet-start" % node, {})

    def metrics(self):
        port = int(self.op.wait_log(msg="metrics endpoint listening")["port"])
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            return r.read().decode()

    def exit_pods(self, name):
        return sorted({j["name"] for j in self.fake.journal()
                       if j.get("method") == "POST" and j.get("status") == 201 and j.get("kind") == "Pod"
                       and (j.get("name") or "").startswith(name + "-exit")})


class NodeBackTest(NodeBackBase):
    def test_exit_handler_success_reported_late_wins(self):
        # the case: the handler exits 0 during the partition, the OMJob is first Failed (NodeLost)
        self.create(omjob("late-exit", "exit 0", exit_script="sleep 60; exit 0"))   # 3 s scaled
        node = self.running_on("late-exit-exit")
        self.partition(node)
        o = self.wait_phase("late-exit", "Succeeded", "Failed", timeout=60)
        self.assertEqual(o["status"]["phase"], "Failed", o["status"])
        self.assertEqual(o["status"]["message"], "main pod succeeded, exit handler failed (NodeLost)")
        self.heal(node)
        o = self.wait_phase("late-exit", "Succeeded", timeout=30)
        st = o["status"]
        self.assertEqual(st["exitHandlerExitCode"], 0)
        self.assertEqual(st["exitHandlerReason"], "Completed")
        self.assertIn("reported late by node %s" % node, st["message"])
        self.assertIn("reported late by node %s" % node, st["exitHandlerMessage"])
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conds["Ready"]["status"], "True")
        self.assertEqual(conds["ExitHandlerCompleted"]["reason"], "Succeeded")
        self.assertEqual(self.exit_pods("late-exit"), ["late-exit-exit"])
        self.assert_once("late-exit")
        wait_until(lambda: "OMJobCompleted" in self.event_reasons("late-exit"), 10, "OMJobCompleted event")
        self.assertIn("OMJobFailed", self.event_reasons("late-exit"))   # the first verdict stays in history
        metrics = self.metrics()
        self.assertIn('omjob_late_reports_total{stage="exit_handler"} 1', metrics)
        self.assertIn('omjob_status_transitions_total{from_phase="Failed",to_phase="Succeeded"} 1', metrics)
        self.assertIn('omjob_active{phase="Succeeded"} 1', metrics)

    def test_main_success_reported_late_after_the_operator_deleted_the_lost_pod(self):
        self.create(omjob("late-main", "sleep 60; exit 0"))
        node = self.running_on("late-main-main")
        self.partition(node)
        o = self.wait_phase("late-main", "Succeeded", "Failed", timeout=60)
        self.assertEqual(o["status"]["phase"], "Failed", o["status"])
        self.assertEqual(o["status"]["mainPodReason"], "NodeLost")
        self.assertEqual(self.exit_env("late-main")["pipelineStatus"], "failed")
        # the operator stops the lost main pod: it stays Terminating while the node is away
        wait_until(lambda: (self.pod("late-main-main") or {}).get("metadata", {}).get("deletionTimestamp"),
                   20, "lost main pod deleted")
        self.heal(node)
        # the kubelet reports the exit (0, before the deletion), then the pod goes away
        o = self.wait_phase("late-main", "Succeeded", timeout=30)
        st = o["status"]
        self.assertEqual((st["mainPodReason"], st["mainPodExitCode"]), ("Completed", 0))
        self.assertIn("reported late by node %s" % node, st["mainPodMessage"])
        self.assertIn("reported late by node %s" % node, st["message"])
        self.assertIn("told pipelineStatus=failed", st["message"])
        wait_until(lambda: self.pod("late-main-main") is None, 20, "main pod gone")
        self.assertEqual(self.exit_pods("late-main"), ["late-main-exit"])   # the handler is not run again
        self.assert_once("late-main")

    def test_main_killed_by_our_deletion_when_the_node_returns_stays_node_lost(self):
        # still running when the node comes back: our deletion stops it - that is no late outcome
        self.create(omjob("still", "hang"))
        node = self.running_on("still-main")
        self.partition(node)
        o = self.wait_phase("still", "Succeeded", "Failed", timeout=60)
        self.assertEqual(o["status"]["mainPodReason"], "NodeLost")
        wait_until(lambda: (self.pod("still-main") or {}).get("metadata", {}).get("deletionTimestamp"),
                   20, "lost main pod deleted")
        self.heal(node)
        wait_until(lambda: self.pod("still-main") is None, 20, "main pod gone")
        self.op.wait_log(msg="cache change", key="%s/still-main" % NS, event="delete")
        o = self.get("still")
        self.assertEqual(o["status"]["phase"], "Failed")
        self.assertEqual(o["status"]["mainPodReason"], "NodeLost")
        self.assert_once("still")


class NodeBackRetriesTest(NodeBackBase):
    def test_lost_exit_handler_is_not_retried_and_its_late_success_wins(self):
        self.create(omjob("held", "exit 0", exit_script="sleep 60; exit 0", exitHandlerRetries=2))
        node = self.running_on("held-exit")
        self.partition(node)
        o = wait_until(lambda: (self.get("held").get("status") or {}).get("exitHandlerReason") == "NodeLost"
                       and self.get("held"), 60, "exit handler recorded lost")
        st = o["status"]
        self.assertEqual(st["phase"], "ExitHandlerRunning")
        self.assertIn("not retried until", st["message"])
        self.heal(node)
        o = self.wait_phase("held", "Succeeded", "Failed", timeout=30)
        self.assertEqual(o["status"]["phase"], "Succeeded", o["status"])
        self.assertIn("reported late by node %s" % node, o["status"]["message"])
        self.assertEqual(o["status"]["exitHandlerAttempts"], 1)
        self.assertEqual(self.exit_pods("held"), ["held-exit"])
        self.assert_once("held")

    def test_held_exit_handler_evicted_while_away_still_reports_late(self):
        # the taint manager deletes the lost pod (300 s toleration, scaled); it stays Terminating,
        # and the returning kubelet's report arrives just before the pod goes away
        self.create(omjob("evicted", "exit 0", exit_script="sleep 60; exit 0", exitHandlerRetries=1))
        node = self.running_on("evicted-exit")
        self.partition(node)
        wait_until(lambda: (self.pod("evicted-exit") or {}).get("metadata", {}).get("deletionTimestamp"),
                   60, "taint eviction of the lost exit handler")
        self.assertEqual(self.get("evicted")["status"].get("exitHandlerReason"), "NodeLost")
        self.heal(node)
        o = self.wait_phase("evicted", "Succeeded", "Failed", timeout=30)
        self.assertEqual(o["status"]["phase"], "Succeeded", o["status"])
        self.assertIn("reported late by node %s" % node, o["status"]["message"])
        wait_until(lambda: self.pod("evicted-exit") is None, 20, "exit pod gone")
        self.assertEqual(self.exit_pods("evicted"), ["evicted-exit"])
        self.assert_once("evicted")

    def test_lost_exit_handler_is_retried_once_its_pod_is_force_deleted(self):
        self.create(omjob("forced", "exit 0", exit_script="hang", exitHandlerRetries=1))
        node = self.running_on("forced-exit")
        self.partition(node)
        wait_until(lambda: (self.get("forced").get("status") or {}).get("exitHandlerReason") == "NodeLost",
                   60, "exit handler recorded lost")
        self.assertEqual(self.exit_pods("forced"), ["forced-exit"])
        st, _ = self.fake.request("DELETE", "/api/v1/namespaces/%s/pods/forced-exit" % NS,
                                  {"gracePeriodSeconds": 0})
        self.assertEqual(st, 200)
        # now it is certain: the retry runs (on the other node) exactly once
        wait_until(lambda: self.pod("forced-exit-1") is not None, 20, "retry created")
        self.assertEqual(self.exit_pods("forced"), ["forced-exit", "forced-exit-1"])
        self.heal(node)
        self.assert_once("forced")
        self.assertEqual(self.created("forced-exit-1"), 1)

    def test_lost_exit_handler_is_retried_once_its_node_is_deleted(self):
        self.create(omjob("nodedel", "exit 0", exit_script="hang", exitHandlerRetries=1))
        node = self.running_on("nodedel-exit")
        self.partition(node)
        wait_until(lambda: (self.get("nodedel").get("status") or {}).get("exitHandlerReason") == "NodeLost",
                   60, "exit handler recorded lost")
        self.assertEqual(self.exit_pods("nodedel"), ["nodedel-exit"])
        st, _ = self.fake.request("DELETE", "/api/v1/nodes/%s" % node)
        self.assertEqual(st, 200)
        wait_until(lambda: self.created("nodedel-exit-1") == 1, 20, "retry created")
        self.assertEqual(self.exit_pods("nodedel"), ["nodedel-exit", "nodedel-exit-1"])
        self.assertEqual(self.created("nodedel-exit"), 1)


class ObservatoryNodeBackTest(obs.Base):
    """The same rules for Observatory tasks (one implementation in src/ctl/pods.c)."""

    def setUp(self):
        self.fake = FakeCluster("--nodes", "2").start()
        self.fake.ensure_namespace(obs.NS)
        self.op = Operator(self.fake.kubeconfig, "--node-lost-grace-seconds", "2")
        self.op.wait_ready(30)

    def pod(self, name):
        st, o = self.fake.request("GET", "/api/v1/namespaces/%s/pods/%s" % (obs.NS, name))
        return o if st == 200 else None

    def test_task_success_reported_late_wins_and_a_lost_task_is_not_retried(self):
        self.fake.request("POST", obs.PATH, obs.observatory("wf", [
            obs.task("lone", "sleep 60; exit 0", retries=1)]))   # 3 s scaled
        wait_until(lambda: self.pod("wf-lone"), 20, "task pod")
        wait_until(lambda: (self.pod("wf-lone") or {}).get("status", {}).get("phase") == "Running", 30,
                   "task running")
        node = self.pod("wf-lone")["spec"]["nodeName"]
        self.fake.control("nodes/%s/kubelet-stop" % node, {"partition": True})
        o = wait_until(lambda: (lambda o: o if any(t.get("reason") == "NodeLost"
                                                   for t in (o.get("status") or {}).get("tasks", []))
                                else None)(self.get("wf")), 60, "task recorded lost")
        t = o["status"]["tasks"][0]
        self.assertEqual(t["phase"], "Running")          # held: it may still run
        self.assertIn("partitioned", t["message"])
        self.assertIsNone(self.pod("wf-lone-1"))
        self.fake.control("nodes/%s/kubelet-start" % node, {})
        o = self.wait_phase("wf", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Succeeded", o["status"])
        t = o["status"]["tasks"][0]
        self.assertEqual((t["phase"], t["reason"], t["exitCode"]), ("Succeeded", "Completed", 0))
        self.assertIn("reported late by node %s" % node, o["status"]["message"])
        self.assertEqual([n for _, n in self.creations()], ["wf-lone"])


if __name__ == "__main__":
    unittest.main()
