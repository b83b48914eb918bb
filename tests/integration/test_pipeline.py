"""Issue 7, `omjob-operator pipeline …`, against the fake API server: deploy → run → status
(QUEUED/RUNNING/SUCCESS, FAILED) → logs (multi-chunk, multi-byte characters on chunk
boundaries) → kill (exit handler) → toggle → delete (nothing left with the pipeline's
label), in operator mode (OMJob/CronOMJob, with the operator running) and job mode
(Job/CronJob, the fake's job controller)."""
import base64
import json
import os
import subprocess
import unittest

from harness import TOP, FakeCluster, Operator, wait_until

NS = "openmetadata-pipelines"
CLI = os.environ.get("OMJ_OPERATOR", os.path.join(TOP, "build", "asan", "omjob-operator"))
SECRET = "SECRETTOKEN-5f2b"
WORKFLOW = ("source:\n  type: mysql\n  serviceName: local_mysql\n  sourceConfig:\n"
            "    config:\n      type: Profiler\n"
            "workflowConfig:\n  openMetadataServerConfig:\n    hostPort: http://om:8585/api\n")
# Multi-byte characters (2, 3 and 4 bytes) so that small chunks must back off mid-character.
TEXT = "aé€😀bç✓𝄞"
GROUP = "/apis/pipelines.openmetadata.org/v1/namespaces/%s/" % NS
SELECTOR = "?labelSelector=app.kubernetes.io%2Fpipeline%3D"


def sh(script):
    return ["sh", "-c", script]


class PipelineBase(unittest.TestCase):
    mode = "operator"
    with_operator = True

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeCluster().start()
        cls.fake.ensure_namespace(NS)
        # the client config's default serviceAccountName, as an OpenMetadata install creates it
        cls.fake.request("POST", "/api/v1/namespaces/%s/serviceaccounts" % NS,
                         {"apiVersion": "v1", "kind": "ServiceAccount",
                          "metadata": {"name": "openmetadata-ingestion", "namespace": NS}})
        cls.op = None
        if cls.with_operator:
            cls.op = Operator(cls.fake.kubeconfig)
            cls.op.wait_ready(30)
        cls.outputs = []

    @classmethod
    def tearDownClass(cls):
        rc = cls.op.stop() if cls.op else 0
        cls.fake.stop()
        assert rc == 0, "operator exit code %s" % rc

    def tearDown(self):
        for out in self.outputs:
            self.assertNotIn(SECRET, out, "a secret was printed")

    # --- helpers ------------------------------------------------------------------------
    def file(self, name, text):
        path = os.path.join(self.fake.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def client_config(self, main, exit_script="echo reporting; exit 0", **extra):
        cfg = {"command": sh(main), "exitHandlerCommand": sh(exit_script),
               "ingestionImage": "busybox:1.36"}
        cfg.update(extra)
        return self.file("client-%d.json" % len(self.outputs), json.dumps(cfg))

    def cli(self, *args, cfg=None, expect=0):
        cmd = [CLI, "pipeline", *args, "--kubeconfig", self.fake.kubeconfig, "--mode", self.mode]
        if cfg:
            cmd += ["--client-config", cfg]
        env = {"ASAN_OPTIONS": "detect_leaks=1:exitcode=99", "PATH": "/usr/bin:/bin"}
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        self.outputs.append(r.stdout + r.stderr)
        self.assertEqual(r.returncode, expect, "%s\nstdout: %s\nstderr: %s" % (args, r.stdout, r.stderr))
        return r

    def cli_json(self, *args, **kw):
        return json.loads(self.cli(*args, "-o", "json", **kw).stdout)

    def get(self, path):
        st, obj = self.fake.request("GET", path)
        return obj if st == 200 else None

    def deploy(self, name, cfg, *extra):
        wf = self.file("wf.yaml", WORKFLOW)
        return self.cli_json("deploy", name, "--config", wf, *extra, cfg=cfg)

    def status(self, name, cfg, *extra):
        return self.cli_json("status", name, *extra, cfg=cfg)

    def wait_state(self, name, cfg, state, timeout=30, *extra):
        return wait_until(lambda: (lambda s: s if s["state"] == state else None)(
            self.status(name, cfg, *extra)), timeout, "%s state %s" % (name, state), interval=0.2)

    def labelled(self, label):
        """Every object left with the pipeline's label, as kind/name strings."""
        left = []
        for path in ("/api/v1/namespaces/%s/configmaps" % NS, "/api/v1/namespaces/%s/secrets" % NS,
                     "/api/v1/namespaces/%s/pods" % NS, "/apis/batch/v1/namespaces/%s/jobs" % NS,
                     "/apis/batch/v1/namespaces/%s/cronjobs" % NS, GROUP + "omjobs",
                     GROUP + "cronomjobs"):
            lst = self.get(path + SELECTOR + label) or {"items": []}
            left += ["%s/%s" % (path.rsplit("/", 1)[1], i["metadata"]["name"]) for i in lst["items"]]
        return left

    def check_logs(self, name, cfg):
        """The log in 5-byte chunks: every chunk whole UTF-8, the pieces add up, `after`
        pages, and the task key comes from the pipeline type (Profiler → profiler_task)."""
        full = self.cli("logs", name, cfg=cfg).stdout
        self.assertIn(TEXT, full)
        lines = self.cli("logs", name, "-o", "json", "--chunk-bytes", "5", cfg=cfg).stdout.splitlines()
        chunks = [json.loads(l) for l in lines]
        self.assertGreater(len(chunks), 3)
        total = str(len(chunks))
        short = 0
        for i, c in enumerate(chunks):
            self.assertEqual(c["total"], total)
            self.assertEqual(set(c), {"profiler_task", "total"} | ({"after"} if i + 1 < len(chunks) else set()))
            data = c["profiler_task"].encode()
            self.assertLessEqual(len(data), 5)
            short += len(data) < 5 and i + 1 < len(chunks)
            if i + 1 < len(chunks):
                self.assertEqual(c["after"], str(i + 1))
        self.assertGreater(short, 0, "no chunk backed off a character boundary")
        self.assertEqual("".join(c["profiler_task"] for c in chunks), full)
        page = self.cli_json("logs", name, "--after", "2", "--chunk-bytes", "5", cfg=cfg)
        self.assertEqual(page, chunks[2])
        self.cli("logs", name, "--after", "999", "-o", "json", cfg=cfg, expect=1)

    def check_common_objects(self, name, label):
        cm = self.get("/api/v1/namespaces/%s/configmaps/%s" % (NS, "om-config-" + label))
        self.assertEqual(cm["data"]["config"], WORKFLOW)
        for k, v in {"app.kubernetes.io/name": "openmetadata", "app.kubernetes.io/component": "ingestion",
                     "app.kubernetes.io/pipeline": label}.items():
            self.assertEqual(cm["metadata"]["labels"][k], v)
        sec = self.get("/api/v1/namespaces/%s/secrets/%s" % (NS, "om-secret-" + label))
        self.assertEqual(base64.b64decode(sec["data"]["config"]).decode(), "token: " + SECRET + "\n")
        return cm

    def check_env(self, env, job_name):
        by = {e["name"]: e for e in env}
        self.assertEqual(by["config"]["valueFrom"]["configMapKeyRef"]["key"], "config")
        self.assertNotIn("value", by["config"])
        self.assertEqual(by["pipelineType"]["value"], "profiler")
        self.assertEqual(by["jobName"]["value"], job_name)
        self.assertEqual(by["namespace"]["value"], NS)
        self.assertEqual(by["ingestionPipelineFQN"]["value"], "svc.pipe")
        self.assertIn("pipelineRunId", by)
        self.assertNotIn("hostPort", json.dumps(env), "the workflow config was inlined")


class OperatorModeTest(PipelineBase):
    mode = "operator"

    def test_lifecycle(self):
        name, label = "daily-profiler", "daily-profiler"
        ok = self.client_config("echo start; echo %s; sleep 40; exit 0" % TEXT)
        secret = self.file("secret", "token: " + SECRET + "\n")
        out = self.deploy(name, ok, "--schedule", "30 2 * * *", "--time-zone", "Europe/Paris",
                          "--secret-file", secret, "--fqn", "svc.pipe")
        self.assertEqual([o["action"] for o in out["objects"]], ["created"] * 3)
        self.check_common_objects(name, label)
        cron = self.get(GROUP + "cronomjobs/om-cronomjob-" + label)
        spec = cron["spec"]
        self.assertEqual((spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]),
                         ("30 2 * * *", "Europe/Paris", "Forbid"))
        self.assertEqual(spec["startingDeadlineSeconds"], 0)
        self.assertEqual((spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]), (3, 3))
        self.assertFalse(spec["suspend"])
        self.assertEqual(spec["omJobSpec"]["mainPodSpec"]["securityContext"],
                         {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True, "fsGroup": 1000})
        self.assertEqual(spec["omJobSpec"]["ttlSecondsAfterFinished"], 604800)
        self.assertEqual(spec["omJobSpec"]["activeDeadlineSeconds"], 7200)
        self.check_env(spec["omJobSpec"]["mainPodSpec"]["env"], "{{ omjob.name }}")

        # re-deploy: in place, resourceVersion-checked, suspend kept
        rv = cron["metadata"]["resourceVersion"]
        self.cli("toggle", name, "--suspend", cfg=ok)
        self.assertTrue(self.get(GROUP + "cronomjobs/om-cronomjob-" + label)["spec"]["suspend"])
        out = self.deploy(name, ok, "--schedule", "0 3 * * *", "--secret-file", secret, "--fqn", "svc.pipe")
        self.assertEqual([o["action"] for o in out["objects"]], ["updated"] * 3)
        cron = self.get(GROUP + "cronomjobs/om-cronomjob-" + label)
        self.assertEqual(cron["spec"]["schedule"], "0 3 * * *")
        self.assertTrue(cron["spec"]["suspend"])
        self.assertNotEqual(cron["metadata"]["resourceVersion"], rv)
        self.cli("toggle", name, "--resume", cfg=ok)
        self.assertFalse(self.get(GROUP + "cronomjobs/om-cronomjob-" + label)["spec"]["suspend"])
        lst = self.cli_json("list", cfg=ok)
        self.assertEqual([(p["name"], p["schedule"]) for p in lst], [(name, "0 3 * * *")])

        # run → QUEUED/RUNNING → SUCCESS
        run = self.cli_json("run", name, "--run-id", "0f0e0d0c-1111-2222-3333-444455556666", cfg=ok)
        self.assertEqual(run["name"], "om-job-%s-0f0e0d0c" % label)
        first = self.status(name, ok)
        self.assertIn(first["state"], ("QUEUED", "RUNNING"))
        omj = self.get(GROUP + "omjobs/" + run["name"])
        self.assertEqual(omj["metadata"]["labels"]["app.kubernetes.io/run-id"],
                         "0f0e0d0c-1111-2222-3333-444455556666")
        self.check_env(omj["spec"]["mainPodSpec"]["env"], run["name"])
        self.check_env(omj["spec"]["exitHandlerSpec"]["env"], run["name"])
        self.wait_state(name, ok, "RUNNING")
        done = self.wait_state(name, ok, "SUCCESS")
        self.assertEqual((done["exitCode"], done["reason"]), (0, "Completed"))
        self.assertIn("endTime", done)
        self.check_logs(name, ok)

        # FAILED, asked for by run id
        bad = self.client_config("echo failing; exit 3")
        run2 = self.cli_json("run", name, "--run-id", "abcdef01-9", cfg=bad)
        st = self.wait_state(name, bad, "FAILED", 30, "--run-id", "abcdef01-9")
        self.assertEqual((st["exitCode"], st["name"]), (3, run2["name"]))
        self.assertEqual(self.status(name, ok, "--run-id", "0f0e0d0c-1111-2222-3333-444455556666")["state"],
                         "SUCCESS")

        # kill: the OMJob is deleted and its finalizer still runs the exit handler
        hang = self.client_config("echo start; hang")
        run3 = self.cli_json("run", name, "--run-id", "feedbeef", cfg=hang)
        self.wait_state(name, hang, "RUNNING")
        killed = self.cli_json("kill", name, cfg=hang)
        self.assertEqual(killed["killed"], [run3["name"]])
        wait_until(lambda: [j for j in self.fake.journal() if j.get("method") == "POST"
                            and j.get("status") == 201 and j.get("name") == run3["name"] + "-exit"],
                   30, "the exit handler of the killed run")
        wait_until(lambda: self.get(GROUP + "omjobs/" + run3["name"]) is None, 30, "the killed OMJob to go")
        self.assertIn("no active run", self.cli("kill", name, cfg=hang).stdout)

        # delete: every object with the pipeline's label
        out = self.cli_json("delete", name, cfg=ok)
        kinds = {d["kind"] for d in out["deleted"]}
        self.assertEqual(kinds, {"CronOMJob", "OMJob", "Secret", "ConfigMap"})
        wait_until(lambda: not self.labelled(label), 30, "nothing left with the pipeline's label")
        self.cli("status", name, cfg=ok, expect=1)

    def test_hashed_names_rollback_and_errors(self):
        ok = self.client_config("exit 0")
        long_name = "Sales.Warehouse_" + "x" * 70
        wf = self.file("wf.yaml", WORKFLOW)
        self.fake.control("faults", {"fail_next": 1, "status": 500, "match": "cronomjobs", "method": "POST"})
        r = self.cli("deploy", long_name, "--config", wf, "--schedule", "@daily",
                     "--secret-file", self.file("s", SECRET), cfg=ok, expect=1)
        self.assertIn("rolled back", r.stderr)
        label_cms = self.get("/api/v1/namespaces/%s/configmaps" % NS)["items"]
        self.assertEqual([c for c in label_cms if c["metadata"]["name"].startswith("om-config-sales")], [])
        self.assertEqual([s for s in self.get("/api/v1/namespaces/%s/secrets" % NS)["items"]
                          if s["metadata"]["name"].startswith("om-secret-sales")], [])
        out = self.cli_json("deploy", long_name, "--config", wf, cfg=ok)
        cm_name = out["objects"][0]["name"]
        self.assertLessEqual(len(cm_name), 63)
        self.assertRegex(cm_name, r"^om-config-sales-warehouse-x+-[0-9a-f]{8}$")
        other = self.cli_json("deploy", long_name + "y", "--config", wf, cfg=ok)["objects"][0]["name"]
        self.assertNotEqual(other, cm_name)
        run = self.cli_json("run", long_name, cfg=ok)
        self.assertLessEqual(len(run["name"]), 63)
        self.assertRegex(run["runId"], r"^[0-9a-f-]{36}$")
        self.assertTrue(run["name"].endswith("-" + run["runId"][:8]))
        # usage errors exit 2, failures exit 1
        self.cli("frobnicate", "x", expect=2)
        self.cli("deploy", "x", expect=2)
        self.cli("toggle", "x", expect=2)
        self.cli("run", "never-deployed", cfg=ok, expect=1)
        self.cli("list", "--client-config", self.file("bad.yaml", "nosuchParameter: 1\n"), expect=1)
        self.cli("toggle", long_name, "--suspend", cfg=ok, expect=1)  # no schedule
        for n in (long_name, long_name + "y"):
            self.cli("delete", n, cfg=ok)


class JobModeTest(PipelineBase):
    mode = "job"
    with_operator = False

    def test_lifecycle(self):
        name, label = "nightly-profiler", "nightly-profiler"
        ok = self.client_config("echo start; echo %s; sleep 40; exit 0" % TEXT, backoffLimit=0)
        secret = self.file("secret", "token: " + SECRET + "\n")
        out = self.deploy(name, ok, "--schedule", "0 4 * * *", "--secret-file", secret, "--fqn", "svc.pipe")
        self.assertEqual([o["kind"] for o in out["objects"]], ["ConfigMap", "Secret", "CronJob"])
        self.check_common_objects(name, label)
        cj = self.get("/apis/batch/v1/namespaces/%s/cronjobs/om-cronjob-%s" % (NS, label))
        self.assertEqual(cj["spec"]["concurrencyPolicy"], "Forbid")
        pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        self.assertEqual(pod["restartPolicy"], "Never")
        self.assertEqual(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"],
                         sh("echo reporting; exit 0"))
        self.cli("toggle", name, "--suspend", cfg=ok)
        self.assertTrue(self.get("/apis/batch/v1/namespaces/%s/cronjobs/om-cronjob-%s" % (NS, label))["spec"]["suspend"])

        run = self.cli_json("run", name, "--run-id", "11112222-aaaa", cfg=ok)
        self.assertEqual(run["kind"], "Job")
        job = self.get("/apis/batch/v1/namespaces/%s/jobs/%s" % (NS, run["name"]))
        spec = job["spec"]
        self.assertEqual((spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]),
                         (0, 7200, 604800))
        tpl = spec["template"]["spec"]
        self.assertEqual(tpl["securityContext"],
                         {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True, "fsGroup": 1000})
        self.check_env(tpl["containers"][0]["env"], run["name"])
        self.assertIn(self.status(name, ok)["state"], ("QUEUED", "RUNNING"))
        self.wait_state(name, ok, "RUNNING")
        self.wait_state(name, ok, "SUCCESS")
        self.check_logs(name, ok)

        bad = self.client_config("echo failing; exit 2", backoffLimit=0)
        self.cli_json("run", name, "--run-id", "33334444", cfg=bad)
        st = self.wait_state(name, bad, "FAILED")
        self.assertEqual(st["exitCode"], 2)

        # kill: the Job makes no new pod and its running pod is deleted (what runs preStop)
        hang = self.client_config("echo start; hang", backoffLimit=3)
        run3 = self.cli_json("run", name, "--run-id", "55556666", cfg=hang)
        running = self.wait_state(name, hang, "RUNNING")
        killed = self.cli_json("kill", name, cfg=hang)
        self.assertEqual(killed["killed"], [run3["name"]])
        wait_until(lambda: self.get("/api/v1/namespaces/%s/pods/%s" % (NS, running["pod"])) is None, 30,
                   "the killed pod to go")
        deleted = [j for j in self.fake.journal() if j.get("method") == "DELETE" and j.get("name") == running["pod"]]
        self.assertTrue(deleted, "the pod was not deleted (its preStop hook would not run)")
        st = self.status(name, hang)
        self.assertEqual((st["state"], st["reason"]), ("FAILED", "Killed"))

        out = self.cli_json("delete", name, cfg=ok)
        self.assertEqual({d["kind"] for d in out["deleted"]}, {"CronJob", "Job", "Secret", "ConfigMap"})
        wait_until(lambda: not self.labelled(label), 30, "nothing left with the pipeline's label")

    def test_history_limits_and_orphaned_pods(self):
        """Issue 14 item 5: a Job's ttlSecondsAfterFinished is alpha and off on 1.19/1.20, so
        `run` keeps the history limits itself, and `delete` removes the pods a Job deleted
        with batch/v1's default (Orphan) propagation left behind."""
        name = label = "hist"
        cfg = self.client_config("exit 0", backoffLimit=0, successfulJobsHistoryLimit=1,
                                 failedJobsHistoryLimit=1)
        self.deploy(name, cfg)  # before the next config: the file name counts the outputs
        bad = self.client_config("exit 3", backoffLimit=0, successfulJobsHistoryLimit=1,
                                 failedJobsHistoryLimit=1)
        jobs = "/apis/batch/v1/namespaces/%s/jobs/" % NS
        runs = []
        for i, c in enumerate((cfg, cfg, bad, bad, cfg)):
            out = self.cli_json("run", name, "--run-id", "%08d" % i, cfg=c)
            runs.append(out)
            self.wait_state(name, c, "SUCCESS" if c is cfg else "FAILED", 30, "--run-id", "%08d" % i)
        # each run deletes the finished ones beyond 1 succeeded + 1 failed, oldest first (the
        # run just created is not finished yet)
        self.assertEqual([r.get("pruned") for r in runs],
                         [None, None, [runs[0]["name"]], None, [runs[2]["name"]]])
        left = sorted(i["metadata"]["name"] for i in self.get(jobs[:-1] + SELECTOR + label)["items"])
        self.assertEqual(left, sorted([runs[1]["name"], runs[3]["name"], runs[4]["name"]]))
        # a Job deleted with the default propagation leaves its pod; delete takes it
        pods = self.get("/api/v1/namespaces/%s/pods?labelSelector=job-name%%3D%s" % (NS, runs[4]["name"]))
        self.assertEqual(len(pods["items"]), 1)
        st, _ = self.fake.request("DELETE", jobs + runs[4]["name"])
        self.assertEqual(st, 200)
        pod = pods["items"][0]["metadata"]["name"]
        wait_until(lambda: not (self.get("/api/v1/namespaces/%s/pods/%s" % (NS, pod)) or {})
                   .get("metadata", {"ownerReferences": 1}).get("ownerReferences"), 20, "the pod orphaned")
        out = self.cli_json("delete", name, cfg=cfg)
        self.assertIn({"kind": "Pod", "name": pod}, out["deleted"])
        wait_until(lambda: not self.labelled(label), 30, "nothing left with the pipeline's label")


if __name__ == "__main__":
    unittest.main()
