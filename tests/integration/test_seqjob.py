"""SequentialJob (issue 4) against the fake API server: the published example applies unchanged
and succeeds; steps run one at a time, in order, each as one Job created exactly once (the
journal proves it); a failing middle step fails the sequence and skips the rest; a spec the
schema lets through but the controller rejects ends Failed with a Warning event; a SIGKILLed
operator resumes without duplicate Jobs; deleting the SequentialJob deletes its Jobs."""
import json
import os
import signal
import subprocess
import unittest

from harness import TOP, FakeCluster, Operator, wait_until

NS = "seq"
API = "/apis/batch.example.com/v1alpha1/namespaces/%s/sequentialjobs"
JOBS = "/apis/batch/v1/namespaces/%s/jobs"


def seqjob(name, *scripts, ns=NS):
    return {"apiVersion": "batch.example.com/v1alpha1", "kind": "SequentialJob",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "s%d" % i, "image": "busybox:1.36",
                                     "command": ["sh", "-c", s]} for i, s in enumerate(scripts)]}}


def cond(obj, type_):
    for c in (obj or {}).get("status", {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return {}


class Base(unittest.TestCase):
    ns = NS

    def setUp(self):
        self.fake = FakeCluster().start()
        self.fake.ensure_namespace(self.ns)
        self.op = None
        self.start_operator()

    def tearDown(self):
        if self.op:
            rc = self.op.stop()
            self.assertEqual(rc, 0, "operator exit code %s\n%s" % (rc, self.op.dump()))
        self.fake.stop()

    def start_operator(self):
        self.op = Operator(self.fake.kubeconfig, env={"CONTROLLERS": "seqjob"})
        self.op.wait_ready(30)
        return self.op

    def create(self, body):
        st, obj = self.fake.request("POST", API % self.ns, body)
        self.assertEqual(st, 201, obj)
        return obj

    def get(self, name):
        st, obj = self.fake.request("GET", "%s/%s" % (API % self.ns, name))
        return obj if st == 200 else None

    def job(self, name):
        st, obj = self.fake.request("GET", "%s/%s" % (JOBS % self.ns, name))
        return obj if st == 200 else None

    def wait_final(self, name, timeout=40):
        def done():
            o = self.get(name)
            return o if (o or {}).get("status", {}).get("phase") in ("Succeeded", "Failed") else None
        try:
            return wait_until(done, timeout, "SequentialJob %s to finish" % name)
        except AssertionError:
            raise AssertionError("timeout\nlast: %s\noperator:\n%s" % (
                json.dumps(self.get(name)), self.op.dump() if self.op else ""))

    def job_creations(self):
        """Job name -> number of successful creations, from the journal."""
        out = {}
        for j in self.fake.journal():
            if j.get("method") == "POST" and j.get("status") == 201 and j.get("kind") == "Job":
                out[j["name"]] = out.get(j["name"], 0) + 1
        return out

    def events(self, name):
        st, lst = self.fake.request("GET", "/api/v1/namespaces/%s/events" % self.ns)
        return [e for e in lst["items"] if e["involvedObject"].get("name") == name]


class SequentialJobTest(Base):
    def test_steps_run_in_order_each_as_one_job(self):
        self.create(seqjob("abc", "echo a; sleep 2; exit 0", "echo b; sleep 1; exit 0", "exit 0"))
        o = self.wait_final("abc")
        st = o["status"]
        self.assertEqual(st["phase"], "Succeeded", st)
        self.assertEqual(st["state"], {"active": 0, "succeeded": 3, "failed": 0})
        self.assertEqual(st["progress"]["completedIndices"], [0, 1, 2])
        self.assertEqual(st["progress"]["currentIndex"], 2)
        self.assertEqual(cond(o, "Available")["status"], "True")
        self.assertEqual(cond(o, "Progressing")["status"], "False")
        self.assertEqual(cond(o, "Failed")["status"], "False")
        self.assertTrue(st["startTime"] and st["completionTime"])
        self.assertEqual(st["observedGeneration"], o["metadata"]["generation"])
        names = ["abc-0-s0", "abc-1-s1", "abc-2-s2"]
        self.assertEqual([s["jobName"] for s in st["steps"]], names)
        self.assertEqual(self.job_creations(), {n: 1 for n in names})
        jobs = [self.job(n) for n in names]
        for i, j in enumerate(jobs):
            ref = j["metadata"]["ownerReferences"][0]
            self.assertEqual((ref["kind"], ref["name"], ref["uid"]),
                             ("SequentialJob", "abc", o["metadata"]["uid"]))
            self.assertTrue(ref["controller"] and ref["blockOwnerDeletion"])
            self.assertEqual(j["spec"]["backoffLimit"], 0)
            labels = j["metadata"]["labels"]
            self.assertEqual(labels["app.kubernetes.io/managed-by"], "omjob-operator")
            self.assertEqual(labels["batch.example.com/sequentialjob"], "abc")
            self.assertEqual(labels["batch.example.com/step-index"], str(i))
            ps = j["spec"]["template"]["spec"]
            self.assertEqual([c["name"] for c in ps["containers"]], ["s%d" % i])
            self.assertEqual(ps["restartPolicy"], "Never")
        # one at a time: a step's Job is created only after the previous one completed
        created = {}
        for e in self.fake.journal():
            if e.get("method") == "POST" and e.get("kind") == "Job" and e.get("status") == 201:
                created[e["name"]] = e["ts"]
        for prev, nxt in zip(jobs, names[1:]):
            done = next(c for c in prev["status"]["conditions"] if c["type"] == "Complete")
            self.assertEqual(done["status"], "True")
            self.assertGreater(created[nxt], created[prev["metadata"]["name"]])
        self.assertLessEqual(jobs[0]["status"]["completionTime"], jobs[1]["status"]["startTime"])
        self.assertLessEqual(jobs[1]["status"]["completionTime"], jobs[2]["status"]["startTime"])
        patches = [e for e in self.fake.journal() if e.get("method") == "PATCH"
                   and e.get("path", "").endswith("/sequentialjobs/abc/status")]
        self.assertLessEqual(len(patches), 2 * 3 + 2, "status writes are bounded")
        reasons = [e["reason"] for e in self.events("abc")]
        self.assertEqual(reasons.count("JobStarted"), 3, reasons)
        wait_until(lambda: [e["reason"] for e in self.events("abc")].count("JobCompleted") == 3,
                   10, "three JobCompleted events")

    def test_failing_middle_step_fails_the_sequence_and_skips_the_rest(self):
        self.create(seqjob("mid", "exit 0", "echo boom; exit 3", "exit 0"))
        o = self.wait_final("mid")
        st = o["status"]
        self.assertEqual(st["phase"], "Failed", st)
        self.assertEqual(st["state"], {"active": 0, "succeeded": 1, "failed": 1})
        self.assertEqual(st["progress"]["completedIndices"], [0])
        self.assertEqual(st["progress"]["failedIndex"], 1)
        self.assertEqual([s["phase"] for s in st["steps"]], ["Succeeded", "Failed", "Skipped"])
        f = cond(o, "Failed")
        self.assertEqual((f["status"], f["reason"]), ("True", "StepFailed"))
        self.assertIn("step 1 (s1)", f["message"])
        self.assertEqual(cond(o, "Available")["status"], "False")
        self.assertEqual(cond(o, "Progressing")["status"], "False")
        self.assertEqual(self.job_creations(), {"mid-0-s0": 1, "mid-1-s1": 1})
        self.assertIsNone(self.job("mid-2-s2"))
        wait_until(lambda: any(e["reason"] == "JobFailed" and e["type"] == "Warning"
                               for e in self.events("mid")), 10, "a JobFailed Warning event")

    def test_duplicate_container_names_are_rejected(self):
        body = seqjob("dup", "exit 0", "exit 0")
        body["spec"]["containers"][1]["name"] = "s0"
        st, obj = self.fake.request("POST", API % self.ns, body)
        if st == 422:  # a real API server enforces x-kubernetes-list-type: map at admission
            return
        self.assertEqual(st, 201, obj)
        o = self.wait_final("dup")
        f = cond(o, "Failed")
        self.assertEqual((o["status"]["phase"], f["status"], f["reason"]),
                         ("Failed", "True", "InvalidSpec"))
        self.assertIn('duplicate step name "s0"', f["message"])
        self.assertEqual(self.job_creations(), {})
        wait_until(lambda: any(e["reason"] == "InvalidSpec" and e["type"] == "Warning"
                               for e in self.events("dup")), 10, "an InvalidSpec Warning event")

    def test_fixing_an_invalid_spec_runs_the_sequence(self):
        body = seqjob("fix", "exit 0", "exit 0")
        body["spec"]["containers"][1]["name"] = "s0"
        st, obj = self.fake.request("POST", API % self.ns, body)
        if st == 422:
            return
        self.wait_final("fix")
        st, obj = self.fake.request("PATCH", "%s/fix" % (API % self.ns), [
            {"op": "replace", "path": "/spec/containers/1/name", "value": "s1"}],
            content_type="application/json-patch+json")
        self.assertEqual(st, 200, obj)
        def succeeded():
            o = self.get("fix")
            return o if o["status"].get("phase") == "Succeeded" else None
        o = wait_until(succeeded, 30, "the fixed SequentialJob to succeed")
        self.assertEqual(cond(o, "Failed")["status"], "False")
        self.assertEqual(o["status"]["observedGeneration"], o["metadata"]["generation"])
        self.assertEqual(self.job_creations(), {"fix-0-s0": 1, "fix-1-s1": 1})

    def test_a_foreign_job_holding_a_step_name_fails_that_step(self):
        st, obj = self.fake.request("POST", JOBS % self.ns, {
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "clash-1-s1"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "x", "image": "busybox:1.36", "command": ["sh", "-c", "hang"]}]}}}})
        self.assertEqual(st, 201, obj)
        self.create(seqjob("clash", "exit 0", "exit 0", "exit 0"))
        o = self.wait_final("clash")
        self.assertEqual(o["status"]["phase"], "Failed", o["status"])
        self.assertEqual(o["status"]["progress"]["failedIndex"], 1)
        self.assertIn("JobNameConflict", cond(o, "Failed")["message"])
        self.assertEqual([s["phase"] for s in o["status"]["steps"]],
                         ["Succeeded", "Failed", "Skipped"])
        # the foreign Job was left alone
        self.assertEqual(self.job("clash-1-s1")["spec"]["template"]["spec"]["containers"][0]["name"], "x")

    def test_schema_requires_containers_with_name_and_image(self):
        body = seqjob("noimage", "exit 0")
        del body["spec"]["containers"][0]["image"]
        st, _ = self.fake.request("POST", API % self.ns, body)
        self.assertEqual(st, 422)

    def test_empty_container_list_fails_with_a_message(self):
        body = seqjob("empty")
        st, obj = self.fake.request("POST", API % self.ns, body)
        if st == 422:  # minItems enforced at admission
            return
        o = self.wait_final("empty")
        self.assertEqual(cond(o, "Failed")["reason"], "InvalidSpec")
        self.assertIn("at least one container", cond(o, "Failed")["message"])

    def test_operator_sigkilled_mid_sequence_resumes_without_duplicates(self):
        self.create(seqjob("crash", "sleep 20; exit 0", "sleep 20; exit 0", "exit 0"))
        wait_until(lambda: self.job_creations().get("crash-0-s0") == 1, 20, "first Job")
        self.op.stop(signal.SIGKILL)
        self.op = None
        # step 0 finishes while the operator is down: nobody starts step 1
        wait_until(lambda: any(c.get("type") == "Complete" for c in
                               (self.job("crash-0-s0") or {}).get("status", {}).get("conditions") or []),
                   30, "step 0 finished while the operator was down")
        self.assertNotIn("crash-1-s1", self.job_creations())
        self.start_operator()
        wait_until(lambda: self.job_creations().get("crash-1-s1") == 1, 20, "step 1 after restart")
        self.op.stop(signal.SIGKILL)  # killed again while step 1 runs
        self.op = None
        self.start_operator()
        o = self.wait_final("crash")
        self.assertEqual(o["status"]["phase"], "Succeeded", o["status"])
        self.assertEqual(self.job_creations(), {"crash-0-s0": 1, "crash-1-s1": 1, "crash-2-s2": 1})
        started = [e for e in self.events("crash") if e["reason"] == "JobStarted"]
        self.assertEqual(sum(e.get("count", 1) for e in started), 3)

    def test_deleting_the_sequentialjob_deletes_its_jobs(self):
        self.create(seqjob("gc", "hang"))
        wait_until(lambda: self.job("gc-0-s0"), 20, "the step's Job")
        def running():
            o = self.get("gc")
            st = (o or {}).get("status") or {}
            return o if (st.get("progress") or {}).get("currentIndex") == 0 else None
        o = wait_until(running, 20, "status showing step 0 running")
        self.assertEqual(o["status"]["phase"], "Running")
        self.assertEqual(o["status"]["state"], {"active": 1, "succeeded": 0, "failed": 0})
        p = cond(o, "Progressing")
        self.assertEqual((p["status"], p["reason"]), ("True", "StepRunning"))
        self.assertIn("gc-0-s0", p["message"])
        self.assertEqual(cond(o, "Available")["status"], "False")
        st, _ = self.fake.request("DELETE", "%s/gc" % (API % self.ns))
        self.assertEqual(st, 200)
        wait_until(lambda: self.job("gc-0-s0") is None, 20, "the Job collected")


class ExampleTest(Base):
    """The published example applies unchanged with kubectl and succeeds."""
    ns = "default"

    def test_example_applies_with_kubectl_and_succeeds(self):
        self.fake.request("POST", "/api/v1/namespaces/default/secrets", {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "etl-credentials", "namespace": "default"},
            "stringData": {"password": "s3cret"}})
        # the PVC the example mounts (the fake API server does not serve PVCs: 404 is fine)
        self.fake.request("POST", "/api/v1/namespaces/default/persistentvolumeclaims", {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "etl-data", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
        example = os.path.join(TOP, "tests", "examples", "sequentialjob.yaml")
        kc = ["kubectl", "--kubeconfig", self.fake.kubeconfig]
        r = subprocess.run(kc + ["apply", "-f", example], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(kc + ["wait", "sequentialjob/etl-pipeline", "-n", "default",
                                 "--for=condition=Available", "--timeout=60s"],
                           capture_output=True, text=True, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout + self.op.dump())
        o = self.get("etl-pipeline")
        self.assertEqual(o["status"]["progress"]["completedIndices"], [0, 1, 2])
        names = ["etl-pipeline-0-extract", "etl-pipeline-1-transform", "etl-pipeline-2-load"]
        self.assertEqual(self.job_creations(), {n: 1 for n in names})
        ps = self.job(names[0])["spec"]["template"]["spec"]
        self.assertEqual(ps["volumes"][0]["persistentVolumeClaim"]["claimName"], "etl-data")
        c = ps["containers"][0]
        self.assertEqual(c["env"][0]["valueFrom"]["secretKeyRef"],
                         {"name": "etl-credentials", "key": "password"})
        self.assertEqual(c["resources"]["limits"]["memory"], "128Mi")
        self.assertEqual(c["volumeMounts"][0]["mountPath"], "/data")
        tmpl_labels = self.job(names[1])["spec"]["template"]["metadata"]["labels"]
        self.assertEqual(tmpl_labels["app"], "etl-pipeline")
        r = subprocess.run(kc + ["get", "sequentialjobs", "-n", "default"], capture_output=True,
                           text=True, timeout=30)
        self.assertIn("Succeeded", r.stdout, r.stderr)


if __name__ == "__main__":
    unittest.main()
