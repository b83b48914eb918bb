"""Issue 4, Observatory: the published example applies unchanged and runs in order; a failing
middle task fails the run and skips the rest while onExit still runs; maxConcurrent holds (from
the journal); an operator restart mid-graph resumes without duplicates; bad graphs are
rejected with a message; a scheduled Observatory starts a fresh run per slot, which reports
its own start and completion times (issue 14)."""
import os
import signal
import subprocess
import time
import unittest

from harness import TOP, FakeCluster, Operator, wait_until

NS = "flows"
PATH = "/apis/workflow.seventh-horizon.io/v1alpha1/namespaces/%s/observatories" % NS


def task(name, script, deps=(), **extra):
    t = {"name": name, "image": "busybox:1.36", "command": ["sh", "-c"], "args": [script]}
    if deps:
        t["dependencies"] = list(deps)
    t.update(extra)
    return t


def observatory(name, tasks, **spec):
    body = {"apiVersion": "workflow.seventh-horizon.io/v1alpha1", "kind": "Observatory",
            "metadata": {"name": name, "namespace": NS}, "spec": {"tasks": tasks}}
    body["spec"].update(spec)
    return body


class Base(unittest.TestCase):
    flags = ()

    def setUp(self):
        self.fake = FakeCluster().start()
        self.fake.ensure_namespace(NS)
        self.op = Operator(self.fake.kubeconfig, *self.flags)
        self.op.wait_ready(30)

    def tearDown(self):
        if self.op:
            self.assertEqual(self.op.stop(), 0, self.op.dump())
        self.fake.stop()

    def get(self, name):
        st, obj = self.fake.request("GET", "%s/%s" % (PATH, name))
        return obj if st == 200 else None

    def wait_phase(self, name, *phases, timeout=40):
        try:
            return wait_until(lambda: (lambda o: o if o and (o.get("status") or {}).get("phase")
                                       in phases else None)(self.get(name)), timeout, "phase")
        except AssertionError:
            raise AssertionError("last: %s\n%s" % (self.get(name), self.op.dump()))

    def creations(self):
        """Pod creations (201) in journal order: [(ts, name)]."""
        return [(j["ts"], j["name"]) for j in self.fake.journal()
                if j.get("method") == "POST" and j.get("status") == 201
                and j.get("path") == "/api/v1/namespaces/%s/pods" % NS]

    def tasks(self, o):
        return {t["name"]: t for t in o["status"]["tasks"]}


class ObservatoryTest(Base):
    def test_published_example_applies_unchanged_and_runs_in_order(self):
        example = os.path.join(TOP, "tests", "examples", "observatory.yaml")
        r = subprocess.run(["kubectl", "--kubeconfig", self.fake.kubeconfig, "apply", "-n", NS,
                            "-f", example], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        o = self.wait_phase("observatory-sample", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Succeeded", o["status"])
        names = [n for _, n in self.creations()]
        self.assertEqual(names, ["observatory-sample-setup", "observatory-sample-process",
                                 "observatory-sample-finalize"])
        t = self.tasks(o)
        self.assertEqual({k: v["phase"] for k, v in t.items()},
                         {"setup": "Succeeded", "process": "Succeeded", "finalize": "Succeeded"})
        self.assertEqual(t["process"]["exitCode"], 0)

    def test_failing_middle_task_fails_the_run_skips_the_rest_and_on_exit_runs(self):
        body = observatory("fails", [task("a", "exit 0"), task("b", "sleep 0.2; exit 4", ["a"]),
                                     task("c", "exit 0", ["b"]), task("d", "sleep 2; exit 0")],
                           onExit={"image": "busybox:1.36", "command": ["sh", "-c", "exit 0"]})
        st, obj = self.fake.request("POST", PATH, body)
        self.assertEqual(st, 201, obj)
        o = self.wait_phase("fails", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Failed")
        t = self.tasks(o)
        self.assertEqual(t["b"]["phase"], "Failed")
        self.assertEqual(t["b"]["exitCode"], 4)
        self.assertEqual(t["c"]["phase"], "Skipped")
        self.assertEqual(t["d"]["phase"], "Succeeded")  # running tasks finish
        self.assertEqual(t["on-exit"]["phase"], "Succeeded")
        self.assertIn("task b failed", o["status"]["message"])
        names = [n for _, n in self.creations()]
        self.assertNotIn("fails-c", names)
        self.assertEqual(names[-1], "fails-on-exit")  # after every task was final
        st, pod = self.fake.request("GET", "/api/v1/namespaces/%s/pods/fails-on-exit" % NS)
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        self.assertEqual(env["WORKFLOW_STATUS"], "failed")

    def test_max_concurrent_is_respected(self):
        # long enough (10 s x time scale 0.05) that two tasks certainly overlap
        tasks = [task("t%d" % i, "sleep 10; exit 0") for i in range(5)]
        st, _ = self.fake.request("POST", PATH, observatory("capped", tasks, maxConcurrent=2))
        self.assertEqual(st, 201)
        self.wait_phase("capped", "Succeeded", "Failed")
        # From the journal: a pod is "running" from its creation to its first terminal watch event.
        start = {n: ts for ts, n in self.creations()}
        end = {}
        for j in self.fake.journal():
            if j.get("watch_event") and j.get("name") in start and j.get("phase") in (
                    "Succeeded", "Failed") and j["name"] not in end:
                end[j["name"]] = j["ts"]
        self.assertEqual(len(start), 5)
        points = sorted([(ts, 1) for ts in start.values()] + [(ts, -1) for ts in end.values()],
                        key=lambda p: (p[0], p[1]))
        running = peak = 0
        for _, d in points:
            running += d
            peak = max(peak, running)
        self.assertLessEqual(peak, 2)
        self.assertEqual(peak, 2)

    def test_restart_mid_graph_resumes_without_duplicates(self):
        tasks = [task("one", "sleep 1; exit 0"), task("two", "sleep 1; exit 0", ["one"]),
                 task("three", "exit 0", ["two"])]
        st, _ = self.fake.request("POST", PATH, observatory("resume", tasks))
        self.assertEqual(st, 201)
        wait_until(lambda: any(n == "resume-one" for _, n in self.creations()), 20, "first task")
        self.op.stop(signal.SIGKILL)
        self.op = Operator(self.fake.kubeconfig, *self.flags)
        self.op.wait_ready(30)
        o = self.wait_phase("resume", "Succeeded", "Failed")
        self.assertEqual(o["status"]["phase"], "Succeeded")
        names = [n for _, n in self.creations()]
        self.assertEqual(sorted(names), ["resume-one", "resume-three", "resume-two"])

    def test_cycles_and_missing_dependencies_are_rejected_with_a_message(self):
        st, _ = self.fake.request("POST", PATH, observatory(
            "cycle", [task("a", "exit 0", ["c"]), task("b", "exit 0", ["a"]),
                      task("c", "exit 0", ["b"])]))
        self.assertEqual(st, 201)
        o = self.wait_phase("cycle", "Failed")
        self.assertIn("dependency cycle", o["status"]["message"])
        st, _ = self.fake.request("POST", PATH, observatory(
            "missing", [task("a", "exit 0", ["nope"])]))
        o = self.wait_phase("missing", "Failed")
        self.assertIn('"nope" is not a task', o["status"]["message"])
        self.assertEqual(self.creations(), [])

    def test_retries_run_the_task_again(self):
        st, _ = self.fake.request("POST", PATH, observatory(
            "again", [task("flaky", "exit 1", retries=1)]))
        self.assertEqual(st, 201)
        o = self.wait_phase("again", "Succeeded", "Failed", timeout=60)
        self.assertEqual(o["status"]["phase"], "Failed")
        self.assertEqual(self.tasks(o)["flaky"]["attempts"], 2)
        self.assertEqual([n for _, n in self.creations()], ["again-flaky", "again-flaky-1"])


class ScheduledObservatoryTest(Base):
    # The operator's clock is put 10 s before the next minute, so "* * * * *" fires at once.
    now = time.time()
    flags = ("--clock-offset-seconds", str(int(60 - (now % 60) - 10 + 60)))

    def test_a_fresh_run_per_slot(self):
        st, _ = self.fake.request("POST", PATH, observatory(
            "cron", [task("tick", "exit 0")], schedule="* * * * *"))
        self.assertEqual(st, 201)
        o = wait_until(lambda: (lambda x: x if x and (x.get("status") or {}).get("run", 0) >= 1
                                and x["status"].get("phase") == "Succeeded" else None)(self.get("cron")),
                       40, "first scheduled run")
        self.assertEqual([n for _, n in self.creations()], ["cron-r1-tick"])
        self.assertIn("lastScheduleTime", o["status"])
        # The next minute's slot is a fresh run of the graph with its own pods.
        o2 = wait_until(lambda: (lambda x: x if x and (x.get("status") or {}).get("run", 0) >= 2
                                 and x["status"].get("phase") == "Succeeded" else None)(
                                     self.get("cron")), 75, "the second scheduled run")
        self.assertGreater(o2["status"]["lastScheduleTime"], o["status"]["lastScheduleTime"])
        self.assertEqual([n for _, n in self.creations()], ["cron-r1-tick", "cron-r2-tick"])
        # Issue 14 item 4: the fresh run's merge patch deletes the first run's times, so the
        # second run reports its own (RFC 3339 UTC strings compare as times).
        first, second = o["status"], o2["status"]
        self.assertGreater(second["startTime"], first["completionTime"], second)
        self.assertGreater(second["completionTime"], first["completionTime"], second)
