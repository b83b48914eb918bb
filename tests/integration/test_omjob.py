"""Issue 9, the guarantee matrix, against the fake API server: for every way the main pod
can end, the exit handler pod is created exactly once (the journal proves it), after the main
pod, with the right environment, and the OMJob ends in the right phase."""
import json
import os
import signal
import subprocess
import unittest

from harness import TOP, FakeCluster, Operator, wait_until

NS = "pipelines"
GROUP_PATH = "/apis/pipelines.openmetadata.org/v1/namespaces/%s/omjobs" % NS


def omjob(name, main_script, exit_script="exit 0", **spec):
    body = {"apiVersion": "pipelines.openmetadata.org/v1", "kind": "OMJob",
            "metadata": {"name": name, "namespace": NS,
                         "labels": {"app.kubernetes.io/pipeline": "p-" + name,
                                    "app.kubernetes.io/run-id": "run-" + name}},
            "spec": {"mainPodSpec": {"image": spec.pop("image", "busybox:1.36"),
                                     "command": ["sh", "-c", main_script],
                                     "env": [{"name": "config", "value": "a: 1\nb: 2\n"}]},
                     "exitHandlerSpec": {"image": "busybox:1.36",
                                         "command": ["sh", "-c", exit_script]}}}
    main_extra = spec.pop("main", {})
    body["spec"]["mainPodSpec"].update(main_extra)
    body["spec"].update(spec)
    return body


class Base(unittest.TestCase):
    fake_args = ()
    operator_flags = ("--node-lost-grace-seconds", "2")

    def setUp(self):
        self.fake = FakeCluster(*self.fake_args).start()
        self.fake.ensure_namespace(NS)
        self.op = None
        self.start_operator()

    def tearDown(self):
        if self.op:
            rc = self.op.stop()
            self.assertEqual(rc, 0, "operator exit code %s\n%s" % (rc, self.op.dump()))
        self.fake.stop()

    def start_operator(self):
        self.op = Operator(self.fake.kubeconfig, *self.operator_flags)
        self.op.wait_ready(30)
        return self.op

    # --- helpers ------------------------------------------------------------------------
    def create(self, body):
        st, obj = self.fake.request("POST", GROUP_PATH, body)
        self.assertEqual(st, 201, obj)
        return obj

    def get(self, name):
        st, obj = self.fake.request("GET", "%s/%s" % (GROUP_PATH, name))
        return obj if st == 200 else None

    def wait_phase(self, name, *phases, timeout=40):
        def done():
            o = self.get(name)
            return o if o and (o.get("status") or {}).get("phase") in phases else None
        try:
            return wait_until(done, timeout, "OMJob %s phase in %s" % (name, phases))
        except AssertionError:
            raise AssertionError("%s\nlast: %s\noperator:\n%s" % (
                "timeout", json.dumps(self.get(name)), self.op.dump()))

    def pod(self, name):
        st, obj = self.fake.request("GET", "/api/v1/namespaces/%s/pods/%s" % (NS, name))
        return obj if st == 200 else None

    def created(self, pod):
        """How many times the pod was created (201) according to the journal."""
        return sum(1 for j in self.fake.journal()
                   if j.get("method") == "POST" and j.get("status") == 201
                   and j.get("path") == "/api/v1/namespaces/%s/pods" % NS and j.get("name") == pod)

    def assert_once(self, name, exits=1):
        self.assertEqual(self.created(name + "-main"), 1, "main pod creations")
        self.assertEqual(self.created(name + "-exit"), 1, "exit handler creations")
        for i in range(1, exits):
            self.assertEqual(self.created("%s-exit-%d" % (name, i)), 1)

    def event_reasons(self, name):
        st, lst = self.fake.request("GET", "/api/v1/namespaces/%s/events" % NS)
        return {e["reason"] for e in lst.get("items", [])
                if e.get("involvedObject", {}).get("name") == name}

    def assert_main_deleted(self, name):
        """The OMJob ended Failed with its main pod Deleted, the exit handler told so, each pod once."""
        o = self.wait_phase(name, "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Failed")
        self.assertEqual(o["status"]["mainPodReason"], "Deleted")
        self.assertEqual(self.exit_env(name)["pipelineStatus"], "failed")
        self.assert_once(name)

    def exit_env(self, name):
        p = self.pod(name + "-exit")
        self.assertIsNotNone(p, "exit handler pod")
        return {e["name"]: e.get("value") for e in p["spec"]["containers"][0].get("env", [])}


class OMJobTest(Base):
    def test_main_succeeds(self):
        self.create(omjob("ok", "echo working; sleep 1; exit 0"))
        o = self.wait_phase("ok", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Succeeded", o["status"])
        self.assertEqual(o["status"]["mainPodExitCode"], 0)
        self.assertEqual(o["status"]["mainPodReason"], "Completed")
        env = self.exit_env("ok")
        self.assertEqual(env["pipelineStatus"], "success")
        self.assertEqual(env["OMJOB_MAIN_EXIT_CODE"], "0")
        self.assertEqual(env["OMJOB_MAIN_REASON"], "Completed")
        self.assertEqual(env["OMJOB_NAME"], "ok")
        self.assertEqual(env["OMJOB_NAMESPACE"], NS)
        self.assertEqual(env["OMJOB_MAIN_POD"], "ok-main")
        self.assert_once("ok")
        main = self.pod("ok-main")
        labels = main["metadata"]["labels"]
        self.assertEqual(labels["app.kubernetes.io/managed-by"], "omjob-operator")
        self.assertEqual(labels["omjob.pipelines.openmetadata.org/pod-type"], "main")
        self.assertEqual(labels["app.kubernetes.io/pipeline"], "p-ok")
        self.assertEqual(main["spec"]["restartPolicy"], "Never")
        ref = main["metadata"]["ownerReferences"][0]
        self.assertTrue(ref["controller"] and ref["blockOwnerDeletion"])
        self.assertEqual(ref["kind"], "OMJob")
        sc = main["spec"]["containers"][0]["securityContext"]
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        conds = {c["type"]: c["status"] for c in o["status"]["conditions"]}
        self.assertEqual(conds, {"MainCompleted": "True", "ExitHandlerCompleted": "True",
                                 "Ready": "True"})
        # a success is told by one Event (README "Events and metrics": only news a user acts on)
        wait_until(lambda: "OMJobCompleted" in self.event_reasons("ok"), 10, "the OMJob's events")
        self.assertEqual(self.event_reasons("ok"), {"OMJobCompleted"})
        # correlated logs (issue 15): the lines about this OMJob carry its stable keys
        self.op.wait_log(msg="main pod created", **{"omjob.name": "ok", "omjob.namespace": NS})
        about = [r for r in self.op.logs() if r.get("omjob") == NS + "/ok"]
        self.assertTrue(about)
        for r in about:
            self.assertEqual((r.get("omjob.name"), r.get("omjob.namespace")), ("ok", NS), r)

    def test_main_exits_non_zero(self):
        self.create(omjob("three", "sleep 0.5; exit 3"))
        o = self.wait_phase("three", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Failed")
        self.assertEqual(o["status"]["mainPodExitCode"], 3)
        self.assertEqual(o["status"]["mainPodReason"], "Error")
        self.assertIn("main pod failed", o["status"]["message"])
        env = self.exit_env("three")
        self.assertEqual(env["pipelineStatus"], "failed")
        wait_until(lambda: {"MainPodCompleted", "OMJobFailed"} <= self.event_reasons("three"), 10,
                   "MainPodCompleted and OMJobFailed events")
        self.assertEqual(env["OMJOB_MAIN_EXIT_CODE"], "3")
        self.assert_once("three")

    def test_main_oomkilled(self):
        self.create(omjob("oom", "sleep 0.5; oom"))
        o = self.wait_phase("oom", "Succeeded", "Failed")
        self.assertEqual(o["status"]["mainPodExitCode"], 137)
        self.assertEqual(o["status"]["mainPodReason"], "OOMKilled")
        self.assertEqual(self.exit_env("oom")["OMJOB_MAIN_REASON"], "OOMKilled")
        self.assert_once("oom")

    def test_main_pod_deleted_by_hand(self):
        self.create(omjob("del", "hang"))
        wait_until(lambda: (self.pod("del-main") or {}).get("status", {}).get("phase") == "Running",
                   20, "main running")
        st, _ = self.fake.request("DELETE", "/api/v1/namespaces/%s/pods/del-main" % NS)
        self.assertEqual(st, 200)
        self.assert_main_deleted("del")

    def test_main_pod_evicted(self):
        self.create(omjob("ev", "hang"))
        wait_until(lambda: (self.pod("ev-main") or {}).get("status", {}).get("phase") == "Running",
                   20, "main running")
        self.fake.control("pods/%s/ev-main/evict" % NS, {})
        o = self.wait_phase("ev", "Succeeded", "Failed")
        self.assertEqual(o["status"]["mainPodReason"], "Evicted")
        self.assert_once("ev")

    def test_image_pull_failure_ends_at_the_deadline(self):
        # The kubelet enforces activeDeadlineSeconds on a pod it accepted, pulling or not.
        self.create(omjob("pull", "exit 0", image="fake.invalid/nope:1", activeDeadlineSeconds=2))
        o = self.wait_phase("pull", "Succeeded", "Failed")
        self.assertIn(o["status"]["mainPodReason"], ("DeadlineExceeded", "StartFailed"))
        self.assertEqual(self.exit_env("pull")["pipelineStatus"], "failed")
        self.assert_once("pull")

    def test_unschedulable_main_ends_at_the_operators_deadline(self):
        # No kubelet ever sees an unschedulable pod: the operator enforces the deadline.
        self.create(omjob("nosched", "exit 0", activeDeadlineSeconds=2,
                          main={"nodeSelector": {"no-such": "node"}}))
        o = self.wait_phase("nosched", "Succeeded", "Failed")
        self.assertEqual(o["status"]["mainPodReason"], "StartFailed")
        self.assertIn("Unschedulable", o["status"]["message"])
        self.assertIsNone(self.pod("nosched-main"), "the stuck main pod is deleted")
        self.assert_once("nosched")

    def test_omjob_deleted_while_main_runs_still_runs_exit_handler(self):
        self.create(omjob("kill", "hang", exit_script="echo reporting; sleep 0.5; exit 0"))
        wait_until(lambda: (self.pod("kill-main") or {}).get("status", {}).get("phase") == "Running",
                   20, "main running")
        o = self.get("kill")
        self.assertIn("pipelines.openmetadata.org/exit-handler", o["metadata"]["finalizers"])
        st, _ = self.fake.request("DELETE", "%s/kill" % GROUP_PATH)
        self.assertEqual(st, 200)
        # the finalizer holds the OMJob until the exit handler has run
        wait_until(lambda: self.created("kill-exit") == 1, 30, "exit handler created")
        env = self.exit_env("kill")
        self.assertEqual(env["pipelineStatus"], "failed")
        self.assertEqual(env["OMJOB_MAIN_REASON"], "Deleted")
        wait_until(lambda: self.get("kill") is None, 30, "OMJob gone after the exit handler")
        self.assert_once("kill")

    def test_exit_handler_retries_only_when_it_fails(self):
        self.create(omjob("retry", "exit 0", exit_script="exit 1", exitHandlerRetries=2))
        o = self.wait_phase("retry", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Failed")
        self.assertEqual(o["status"]["exitHandlerAttempts"], 3)
        self.assert_once("retry", exits=3)

    def test_invalid_spec_fails_with_a_message_and_no_pods(self):
        body = omjob("bad", "exit 0")
        del body["spec"]["mainPodSpec"]["image"]
        body["spec"]["mainPodSpec"]["env"] = [{"value": "no name"}]
        st, obj = self.fake.request("POST", GROUP_PATH, body)
        if st == 422:  # the CRD schema caught it: also a correct outcome
            return
        self.assertEqual(st, 201, obj)
        o = self.wait_phase("bad", "Failed")
        self.assertIn("spec.mainPodSpec", o["status"]["message"])
        self.assertEqual(self.created("bad-main"), 0)
        self.op.wait_log(msg="invalid OMJob", **{"omjob.name": "bad"})

    def test_missing_exit_handler_is_rejected_before_the_main_pod_runs(self):
        body = omjob("noexit", "exit 0")
        del body["spec"]["exitHandlerSpec"]
        self.create(body)
        o = self.wait_phase("noexit", "Failed")
        self.assertIn("exitHandlerSpec", o["status"]["message"])
        self.assertEqual(self.created("noexit-main"), 0)

    def test_a_refused_pod_is_reported_once_and_tried_again_when_the_omjob_changes(self):
        # The real API server refuses pods whose ServiceAccount does not exist (403): a
        # permanent answer (issue 13), so the same create is not repeated in a loop.
        self.create(omjob("nosa", "exit 0", main={"serviceAccountName": "later-sa"}))
        path = "/api/v1/namespaces/%s/pods" % NS

        def attempts():
            return [j for j in self.fake.journal() if j.get("method") == "POST"
                    and j.get("path") == path and j.get("status") == 403]
        rec = self.op.wait_log(msg="API refused a write: not retried until the object changes",
                               op="create_main", status="403")
        self.assertIn('service account %s/later-sa was not found' % NS, rec["error"])
        ev = wait_until(lambda: [e for e in self.fake.request(
            "GET", "/api/v1/namespaces/%s/events" % NS)[1]["items"]
            if e["reason"] == "ApiError" and e["involvedObject"]["name"] == "nosa"], 20, "ApiError event")
        self.assertIn('service account %s/later-sa was not found' % NS, ev[0]["message"])
        st, _ = self.fake.request("POST", "/api/v1/namespaces/%s/serviceaccounts" % NS,
                                  {"apiVersion": "v1", "kind": "ServiceAccount",
                                   "metadata": {"name": "later-sa"}})
        self.assertEqual(st, 201)
        # nothing changed the OMJob: no second attempt (the pod's watch, status writes and
        # resyncs all recompute the same refused create)
        self.assertEqual(len(attempts()), 1)
        # touching the OMJob is a change: the create is tried again at once and now succeeds
        st, _ = self.fake.request("PATCH", "%s/nosa" % GROUP_PATH,
                                  {"metadata": {"annotations": {"retry": "1"}}},
                                  content_type="application/merge-patch+json")
        self.assertEqual(st, 200)
        o = self.wait_phase("nosa", "Succeeded", "Failed", timeout=60)
        self.assertEqual(o["status"]["phase"], "Succeeded")
        self.assertEqual(len(attempts()), 1)
        self.assert_once("nosa")

    def test_ttl_deletes_the_finished_omjob(self):
        self.create(omjob("ttl", "exit 0", ttlSecondsAfterFinished=2))
        wait_until(lambda: self.get("ttl") is None, 30, "OMJob deleted by TTL")
        # From the journal (polling could miss the short Succeeded window on a busy machine):
        # the exit handler succeeded, then the OMJob was deleted no sooner than the TTL later
        # (completionTime is written after the exit handler's end, in whole seconds).
        j = self.fake.journal()
        exit_done = [e["ts"] for e in j if e.get("watch_event") and e.get("name") == "ttl-exit"
                     and e.get("phase") == "Succeeded"]
        deleted = [e["ts"] for e in j if e.get("method") == "DELETE" and e.get("status") == 200
                   and e.get("path") == "%s/ttl" % GROUP_PATH]
        self.assertTrue(exit_done and deleted, "exit handler done, then the OMJob deleted")
        self.assertGreaterEqual(deleted[0] - exit_done[0], 0.9)  # 2 s, less the truncation
        self.assert_once("ttl")


class OMJobFaultsTest(Base):
    """The same guarantee while the API server misbehaves, and across operator restarts."""

    def test_5xx_and_429_on_pod_creation_still_create_exactly_once(self):
        self.fake.control("faults", {"fail_next": 3, "status": 503,
                                     "match": "/api/v1/namespaces/%s/pods" % NS, "method": "POST"})
        self.fake.control("faults", {"fail_next": 1, "status": 429, "retry_after": 1,
                                     "match": "/omjobs/", "method": "PATCH"})
        self.create(omjob("flaky", "exit 0"))
        o = self.wait_phase("flaky", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Succeeded")
        self.assert_once("flaky")

    def test_main_pod_deleted_before_its_creation_is_on_record_is_not_created_again(self):
        # the soak's finding: the status naming the main pod comes late (there: writes backed
        # up; here: the first ones refused), and the pod is deleted before it lands; the
        # operator must not create it again
        self.fake.control("faults", {"fail_next": 2, "status": 422,
                                     "match": "/omjobs/early/status", "method": "PATCH"})
        self.create(omjob("early", "hang"))
        wait_until(lambda: self.pod("early-main") is not None, 20, "main pod created")
        st, _ = self.fake.request("DELETE", "/api/v1/namespaces/%s/pods/early-main?gracePeriodSeconds=0" % NS)
        self.assertEqual(st, 200)
        self.assert_main_deleted("early")

    def test_operator_sigkilled_at_each_stage_resumes_without_duplicates(self):
        # while the main pod runs
        self.create(omjob("crash", "sleep 3; exit 0", exit_script="sleep 2; exit 0"))
        wait_until(lambda: self.created("crash-main") == 1, 20, "main created")
        self.op.stop(signal.SIGKILL)
        self.op = None
        # main completes while the operator is down: nobody creates the exit handler yet
        wait_until(lambda: (self.pod("crash-main") or {}).get("status", {}).get("phase")
                   == "Succeeded", 30, "main finished while the operator was down")
        self.assertEqual(self.created("crash-exit"), 0)
        self.start_operator()
        wait_until(lambda: self.created("crash-exit") == 1, 20, "exit handler after restart")
        # killed again while the exit handler runs
        self.op.stop(signal.SIGKILL)
        self.op = None
        self.start_operator()
        o = self.wait_phase("crash", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Succeeded")
        self.assert_once("crash")

    def test_operator_down_before_the_main_pod_exists(self):
        self.op.stop(signal.SIGKILL)
        self.op = None
        self.create(omjob("early", "exit 0"))
        self.start_operator()
        o = self.wait_phase("early", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Succeeded")
        self.assert_once("early")

    def test_api_server_restart_mid_run(self):
        self.create(omjob("apirestart", "sleep 2; exit 0"))
        wait_until(lambda: self.created("apirestart-main") == 1, 20, "main created")
        self.fake.restart()
        o = self.wait_phase("apirestart", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Succeeded")
        self.assert_once("apirestart")


class NodeLossTest(Base):
    fake_args = ("--nodes", "2")

    def test_node_lost_runs_the_exit_handler_while_the_pod_still_reads_running(self):
        self.create(omjob("lost", "hang"))
        wait_until(lambda: (self.pod("lost-main") or {}).get("spec", {}).get("nodeName"),
                   20, "main scheduled")
        node = self.pod("lost-main")["spec"]["nodeName"]
        wait_until(lambda: self.pod("lost-main")["status"].get("phase") == "Running", 20, "running")
        self.fake.control("nodes/%s/kubelet-stop" % node, {})
        o = self.wait_phase("lost", "Succeeded", "Failed", "ExitHandlerRunning", timeout=60)
        o = self.wait_phase("lost", "Succeeded", "Failed", timeout=60)
        self.assertEqual(o["status"]["mainPodReason"], "NodeLost")
        self.assertEqual(self.exit_env("lost")["OMJOB_MAIN_REASON"], "NodeLost")
        self.assert_once("lost")


class ExampleTest(unittest.TestCase):
    """The OpenMetadata documentation's example applies unchanged with kubectl and runs."""

    def test_example_applies_with_kubectl_and_completes(self):
        fake = FakeCluster().start()
        op = None
        try:
            fake.ensure_namespace("default")
            fake.ensure_namespace("openmetadata-pipelines")
            st, _ = fake.request("POST", "/api/v1/namespaces/openmetadata-pipelines/serviceaccounts",
                                 {"apiVersion": "v1", "kind": "ServiceAccount",
                                  "metadata": {"name": "openmetadata-ingestion"}})
            self.assertEqual(st, 201)
            op = Operator(fake.kubeconfig)
            op.wait_ready(30)
            example = os.path.join(TOP, "tests", "examples", "omjob-openmetadata.yaml")
            r = subprocess.run(["kubectl", "--kubeconfig", fake.kubeconfig, "apply", "-f", example],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run(["kubectl", "--kubeconfig", fake.kubeconfig, "wait", "omjob", "--all",
                                "--for=jsonpath={.status.phase}=Succeeded", "--timeout=60s",
                                "-A"], capture_output=True, text=True, timeout=90)
            self.assertEqual(r.returncode, 0, r.stderr + r.stdout + op.dump())
        finally:
            if op:
                self.assertEqual(op.stop(), 0, op.dump())
            fake.stop()
