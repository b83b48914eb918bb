"""Issue 14 items 2 and 3, against the fake API server:

- with --reject-empty-strings (kubernetes#99804: servers built from 1.16-1.20 sources with
  Go >= 1.16 refuse "" in a typed custom-resource field), every controller's status is
  recorded, and an OMJob whose main pod is deleted by hand does not get a second main pod
  (status.startTime is how the controller knows it started one);
- at 1.19 (the fake's default) a null is refused where the schema does not say nullable: an
  OMJob made from a CronOMJob omJobSpec with nulls, or by `pipeline run` from a client
  config with nulls, is still created;
- a CronOMJob whose omJobSpec the OMJob schema refuses is Ready=False naming the field, with
  one Warning event and no create attempt, until it is fixed."""
import json
import os
import subprocess
import time
import unittest

from harness import TOP, FakeCluster, Operator, wait_until

NS = "crw"
OMJ = "/apis/pipelines.openmetadata.org/v1/namespaces/%s/" % NS
OBS = "/apis/workflow.seventh-horizon.io/v1alpha1/namespaces/%s/observatories" % NS
SEQ = "/apis/batch.example.com/v1alpha1/namespaces/%s/sequentialjobs" % NS
PODS = "/api/v1/namespaces/%s/pods" % NS
CLI = os.environ.get("OMJ_OPERATOR", os.path.join(TOP, "build", "asan", "omjob-operator"))


def pod_spec(script):
    return {"image": "busybox:1.36", "command": ["sh", "-c", script]}


def omjob_spec(main="exit 0"):
    return {"mainPodSpec": pod_spec(main), "exitHandlerSpec": pod_spec("exit 0")}


class Base(unittest.TestCase):
    fake_args = ()
    operator_flags = ()

    def setUp(self):
        self.fake = FakeCluster(*self.fake_args).start()
        self.fake.ensure_namespace(NS)
        self.op = Operator(self.fake.kubeconfig, *self.operator_flags)
        self.op.wait_ready(30)

    def tearDown(self):
        rc = self.op.stop()
        self.fake.stop()
        self.assertEqual(rc, 0, "operator exit code %s\n%s" % (rc, self.op.dump()))

    def post(self, path, body):
        st, obj = self.fake.request("POST", path, body)
        self.assertEqual(st, 201, obj)
        return obj

    def get(self, path):
        st, obj = self.fake.request("GET", path)
        return obj if st == 200 else None

    def wait_status(self, path, pred, what, timeout=40):
        def ok():
            o = self.get(path)
            return o if o and pred(o.get("status") or {}) else None
        try:
            return wait_until(ok, timeout, what)
        except AssertionError:
            raise AssertionError("%s: last %s\n%s" % (what, json.dumps(self.get(path)), self.op.dump()))

    def journal(self, **match):
        return [e for e in self.fake.journal() if all(e.get(k) == v for k, v in match.items())]

    def refused_writes(self):
        """Creates and status writes answered 422 (a finalizer's JSON patch whose
        resourceVersion test failed is a 422 too, and expected: not counted)."""
        return [e for e in self.fake.journal() if e.get("status") == 422 and (
            e.get("method") == "POST" or e.get("path", "").endswith("/status"))]

    def assert_no_empty_error_logs(self):
        """A non-2xx answer is always logged with the server's message (item 1)."""
        for line in self.op.logs():
            if line.get("status") and not str(line["status"]).startswith("2"):
                self.assertTrue(line.get("error"), line)


class EmptyStringsRefusedTest(Base):
    fake_args = ("--reject-empty-strings",)

    def test_every_controller_records_its_status(self):
        self.post(OMJ + "omjobs", {"apiVersion": "pipelines.openmetadata.org/v1", "kind": "OMJob",
                                   "metadata": {"name": "ok", "namespace": NS}, "spec": omjob_spec()})
        self.post(SEQ, {"apiVersion": "batch.example.com/v1alpha1", "kind": "SequentialJob",
                        "metadata": {"name": "seq", "namespace": NS},
                        "spec": {"containers": [dict(pod_spec("exit 0"), name="one"),
                                                dict(pod_spec("exit 0"), name="two")]}})
        self.post(OBS, {"apiVersion": "workflow.seventh-horizon.io/v1alpha1", "kind": "Observatory",
                        "metadata": {"name": "obs", "namespace": NS},
                        "spec": {"tasks": [dict(pod_spec("exit 0"), name="a"),
                                           dict(pod_spec("exit 1"), name="b", dependencies=["a"])],
                                 "onExit": pod_spec("exit 0")}})
        o = self.wait_status(OMJ + "omjobs/ok", lambda s: s.get("phase") == "Succeeded", "OMJob done")
        self.assertIn("startTime", o["status"])
        self.assertEqual({c["type"] for c in o["status"]["conditions"]},
                         {"MainCompleted", "ExitHandlerCompleted", "Ready"})
        self.wait_status(SEQ + "/seq", lambda s: s.get("phase") == "Succeeded", "SequentialJob done")
        o = self.wait_status(OBS + "/obs", lambda s: s.get("phase") == "Failed", "Observatory done")
        self.assertEqual(o["status"]["message"], "task b failed")
        self.assertEqual(self.refused_writes(), [])
        self.assert_no_empty_error_logs()

    def test_a_deleted_main_pod_is_not_created_again(self):
        self.post(OMJ + "omjobs", {"apiVersion": "pipelines.openmetadata.org/v1", "kind": "OMJob",
                                   "metadata": {"name": "del", "namespace": NS},
                                   "spec": omjob_spec("hang")})
        self.wait_status(OMJ + "omjobs/del", lambda s: s.get("phase") == "Running" and "startTime" in s,
                         "main pod running, on record")
        st, _ = self.fake.request("DELETE", PODS + "/del-main")
        self.assertEqual(st, 200)
        o = self.wait_status(OMJ + "omjobs/del", lambda s: s.get("phase") in ("Succeeded", "Failed"),
                             "OMJob done")
        self.assertEqual((o["status"]["phase"], o["status"]["mainPodReason"]), ("Failed", "Deleted"))
        creations = self.journal(method="POST", status=201, path=PODS, name="del-main")
        self.assertEqual(len(creations), 1, "main pod creations")
        self.assertEqual(self.refused_writes(), [])


class NullsAt119Test(Base):
    # The operator's clock is put 10 s before the next minute, so "* * * * *" fires at once.
    now = time.time()
    operator_flags = ("--clock-offset-seconds", str(int(60 - (now % 60) - 10 + 60)))

    def cron(self, name, spec):
        return self.post(OMJ + "cronomjobs", {
            "apiVersion": "pipelines.openmetadata.org/v1", "kind": "CronOMJob",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"schedule": "* * * * *", "omJobSpec": spec}})

    def omjob_posts(self, prefix):
        return [e for e in self.journal(method="POST", path=OMJ + "omjobs")
                if (e.get("name") or "").startswith(prefix)]

    def test_a_template_with_nulls_creates_its_omjob(self):
        spec = omjob_spec()
        spec["mainPodSpec"]["nodeSelector"] = None
        spec["mainPodSpec"]["env"] = [{"name": "A", "value": None}]
        spec["ttlSecondsAfterFinished"] = None
        self.cron("nulls", spec)
        c = self.wait_status(OMJ + "cronomjobs/nulls", lambda s: s.get("lastOMJobName"), "a run")
        run = c["status"]["lastOMJobName"]
        self.wait_status(OMJ + "omjobs/" + run, lambda s: s.get("phase") == "Succeeded", "the run done")
        self.assertEqual([e["status"] for e in self.omjob_posts("nulls-")], [201])
        self.assertEqual(self.refused_writes(), [])

    def test_an_invalid_template_is_reported_once_and_never_posted(self):
        spec = omjob_spec()
        spec["exitHandlerRetries"] = 11
        self.cron("bad", spec)
        c = self.wait_status(OMJ + "cronomjobs/bad", lambda s: any(
            x["type"] == "Ready" and x["status"] == "False" for x in s.get("conditions") or []),
            "Ready=False")
        ready = [x for x in c["status"]["conditions"] if x["type"] == "Ready"][0]
        self.assertEqual(ready["reason"], "InvalidOMJobSpec")
        self.assertIn("spec.omJobSpec.exitHandlerRetries", ready["message"])
        self.assertIn("less than or equal to 10", ready["message"])
        # the slot was due at once (the clock offset): nothing was posted for it, one Warning
        self.assertEqual(self.omjob_posts("bad-"), [])
        warnings = wait_until(lambda: [e for e in self.fake.request(
            "GET", "/api/v1/namespaces/%s/events" % NS)[1]["items"] if e["reason"] == "InvalidOMJobSpec"],
            20, "the Warning event")
        self.assertEqual(len(warnings), 1, warnings)
        self.assertEqual((warnings[0]["type"], warnings[0].get("count", 1)), ("Warning", 1))
        # fixed: the next look creates the run
        st, _ = self.fake.request("PATCH", OMJ + "cronomjobs/bad",
                                  {"spec": {"omJobSpec": {"exitHandlerRetries": 1}}},
                                  "application/merge-patch+json")
        self.assertEqual(st, 200)
        self.wait_status(OMJ + "cronomjobs/bad", lambda s: any(
            x["type"] == "Ready" and x["status"] == "True" for x in s.get("conditions") or [])
            and s.get("lastOMJobName"), "Ready=True and a run once fixed")
        self.assertEqual([e["status"] for e in self.omjob_posts("bad-")], [201])
        self.assertEqual(self.refused_writes(), [])


class CliNullsTest(unittest.TestCase):
    """`pipeline run` copies client-config YAML into the OMJob: its nulls are stripped."""

    def test_pipeline_run_with_nulls_in_the_client_config(self):
        fake = FakeCluster().start()
        try:
            ns = "openmetadata-pipelines"
            fake.ensure_namespace(ns)
            cfg = os.path.join(fake.dir, "client.yaml")
            with open(cfg, "w") as f:
                f.write("ingestionImage: busybox:1.36\nserviceAccountName: ''\n"
                        "nodeSelector:\n  disktype: null\n  zone: a\n"
                        "resources:\n  limits:\n    cpu: ~\n    memory: 1Gi\n"
                        "extraEnvVars: ['EMPTY=']\n")
            wf = os.path.join(fake.dir, "wf.yaml")
            with open(wf, "w") as f:
                f.write("source:\n  type: mysql\n  sourceConfig:\n    config:\n      type: Profiler\n")
            env = {"ASAN_OPTIONS": "detect_leaks=1:exitcode=99", "PATH": "/usr/bin:/bin"}
            for args in (["deploy", "nul", "--config", wf], ["run", "nul", "--run-id", "0a0b0c0d"]):
                r = subprocess.run([CLI, "pipeline", *args, "--kubeconfig", fake.kubeconfig,
                                    "--mode", "operator", "--client-config", cfg],
                                   capture_output=True, text=True, timeout=60, env=env)
                self.assertEqual(r.returncode, 0, "%s: %s %s" % (args, r.stdout, r.stderr))
            st, lst = fake.request("GET", "/apis/pipelines.openmetadata.org/v1/namespaces/%s/omjobs" % ns)
            self.assertEqual(len(lst["items"]), 1)
            main = lst["items"][0]["spec"]["mainPodSpec"]
            self.assertEqual(main["nodeSelector"], {"zone": "a"})
            self.assertEqual(main["resources"]["limits"], {"memory": "1Gi"})
            self.assertEqual([e for e in main["env"] if e["name"] == "EMPTY"], [{"name": "EMPTY"}])
        finally:
            fake.stop()


if __name__ == "__main__":
    unittest.main()
