"""Issue 17, soak: many OMJobs with random outcomes through the fake API server while the
operator is SIGKILLed at random moments and the fake drops watches (and, in the long run,
restarts). Afterwards every OMJob has exactly one main and one exit-handler pod (the journal
proves it), the right phase and the right pipelineStatus, and a graceful stop of the ASan
build is clean (LeakSanitizer on).

Short version (make test / make integration): OMJ_SOAK_JOBS unset -> 24 OMJobs, 3 kills.
Long version (make soak): OMJ_SOAK_JOBS=2000 (and OMJ_SOAK_KILLS, OMJ_SOAK_SEED); the
operator's RSS is printed at the start, middle and end.

Steady churn (make soak, OMJ_SOAK_SECONDS set): one operator, no kills, OMJobs created at
OMJ_SOAK_RATE per second for OMJ_SOAK_SECONDS, each deleted by its TTL once finished, so the
cache holds a steady few dozen; the operator's RSS is sampled ten times. Run it with the
release build (OMJ_OPERATOR=build/omjob-operator): ASan's quarantine and shadow memory would
hide the allocator's own growth."""
import json
import os
import random
import signal
import subprocess
import sys
import time
import unittest

from harness import OPERATOR, FakeCluster, Operator, wait_until

NS = "soak"
OMJOBS = "/apis/pipelines.openmetadata.org/v1/namespaces/%s/omjobs" % NS
JOBS = int(os.environ.get("OMJ_SOAK_JOBS", "24"))
CHURN_SECONDS = int(os.environ.get("OMJ_SOAK_SECONDS", "0"))
CHURN_RATE = float(os.environ.get("OMJ_SOAK_RATE", "2"))
LONG = JOBS > 100
KILLS = int(os.environ.get("OMJ_SOAK_KILLS", str(max(3, JOBS // 50))))
SEED = int(os.environ.get("OMJ_SOAK_SEED", str(int(time.time()))))

# (main script, spec extras, expected phase, pipelineStatus, main reason(s))
OUTCOMES = {
    "ok": ("sleep 0.5; exit 0", {}, "Succeeded", "success", ("Completed",)),
    "exit3": ("sleep 0.5; exit 3", {}, "Failed", "failed", ("Error",)),
    "oom": ("sleep 0.3; oom", {}, "Failed", "failed", ("OOMKilled",)),
    # the kubelet's deadline, or the operator's when the pod had not started yet
    "deadline": ("hang", {"activeDeadlineSeconds": 1}, "Failed", "failed",
                 ("DeadlineExceeded", "StartFailed")),
    "deleted": ("hang", {}, "Failed", "failed", ("Deleted",)),
}


def omjob(name, kind):
    script, extra, _, _, _ = OUTCOMES[kind]
    body = {"apiVersion": "pipelines.openmetadata.org/v1", "kind": "OMJob",
            "metadata": {"name": name, "namespace": NS, "labels": {"soak": kind}},
            "spec": {"mainPodSpec": {"image": "busybox:1.36", "command": ["sh", "-c", script]},
                     "exitHandlerSpec": {"image": "busybox:1.36",
                                         "command": ["sh", "-c", "sleep 0.2; exit 0"]}}}
    body["spec"].update(extra)
    return body


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class SoakTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeCluster("--no-kubelet-events", time_scale="0.02").start()
        self.fake.ensure_namespace(NS)
        self.op = None
        self.old_logs = []  # log lines of the operators already stopped

    def tearDown(self):
        if self.op:
            self.stop_operator(signal.SIGKILL)
        self.fake.stop()

    def stop_operator(self, sig):
        rc = self.op.stop(sig)
        self.old_logs.extend(self.op.logs())
        self.old_logs.append({"msg": "(operator stopped with signal %d)" % sig})
        self.op.proc.stderr.close()  # dozens of operators: do not leave their pipes to the GC
        self.op = None
        return rc

    def start_operator(self):
        self.op = Operator(self.fake.kubeconfig, "--qps", "200", "--burst", "400")
        self.op.wait_ready(60)

    def phases(self):
        st, lst = self.fake.request("GET", OMJOBS)
        self.assertEqual(st, 200, lst)
        return {o["metadata"]["name"]: o for o in lst["items"]}

    def creations(self):
        """How many times each pod was created (201), from the fake's journal."""
        counts = {}
        for j in self.fake.journal():
            if (j.get("method") == "POST" and j.get("status") == 201
                    and j.get("path") == "/api/v1/namespaces/%s/pods" % NS):
                counts[j.get("name")] = counts.get(j.get("name"), 0) + 1
        return counts

    def delete_running_mains(self, kinds, deleted):
        """Deletes the running main pods of the OMJobs of kind "deleted" (once each)."""
        st, pods = self.fake.request("GET", "/api/v1/namespaces/%s/pods" % NS)
        for p in pods.get("items", []):
            n = p["metadata"]["name"]
            owner = n[:-len("-main")] if n.endswith("-main") else None
            if (owner and kinds.get(owner) == "deleted" and owner not in deleted
                    and p.get("status", {}).get("phase") == "Running"):
                self.fake.request("DELETE", "/api/v1/namespaces/%s/pods/%s" % (NS, n))
                deleted.add(owner)

    def test_soak(self):
        if CHURN_SECONDS:
            self.skipTest("OMJ_SOAK_SECONDS: the steady churn runs instead")
        rng = random.Random(SEED)
        sys.stderr.write("\nsoak: %d OMJobs, %d kills, seed %d\n" % (JOBS, KILLS, SEED))
        kinds = {"s%05d" % i: rng.choice(sorted(OUTCOMES)) for i in range(JOBS)}
        names = sorted(kinds)
        self.fake.control("faults", {"drop_watches_after_events": rng.randint(20, 60)})
        self.start_operator()
        rss = [("start", rss_kib(self.op.proc.pid))]
        created, deleted, kills, restarts = 0, set(), 0, 0
        # the kills happen while OMJobs are being created and run: spread over the creation
        kill_at = sorted(rng.sample(range(1, JOBS + 1), min(KILLS, JOBS)))
        deadline = time.monotonic() + (60 + JOBS * 1.5)
        done = {}
        while True:
            # create the next few
            for _ in range(rng.randint(1, 8)):
                if created < JOBS:
                    st, obj = self.fake.request("POST", OMJOBS, omjob(names[created], kinds[names[created]]))
                    self.assertEqual(st, 201, obj)
                    created += 1
            # a SIGKILL at a random moment, then a fresh operator
            if kill_at and created >= kill_at[0]:
                kill_at.pop(0)
                time.sleep(rng.random() * 0.5)  # a random moment, not a synchronisation
                self.stop_operator(signal.SIGKILL)
                kills += 1
                if LONG and rng.random() < 0.2:
                    self.fake.restart()
                    restarts += 1
                self.start_operator()
            if LONG and created >= JOBS // 2 and rss[-1][0] == "start":
                rss.append(("middle", rss_kib(self.op.proc.pid)))
            self.delete_running_mains(kinds, deleted)
            done = {n: o for n, o in self.phases().items()
                    if (o.get("status") or {}).get("phase") in ("Succeeded", "Failed")
                    and {c["type"]: c["status"] for c in o["status"].get("conditions", [])}
                    .get("ExitHandlerCompleted") == "True"}
            if created == JOBS and len(done) == JOBS:
                break
            if time.monotonic() > deadline:
                missing = [n for n in names if n not in done][:10]
                twice = sorted(p for p, k in self.creations().items() if k > 1)
                self.fail("soak (seed %d): %d of %d OMJobs finished; e.g. %s: %s\n"
                          "pods created more than once (%d): %s\n%s" % (
                              SEED, len(done), JOBS, missing,
                              json.dumps((self.phases().get(missing[0]) or {}).get("status")),
                              len(twice), twice[:20], self.op.dump()))
            time.sleep(0.2)
        rss.append(("end", rss_kib(self.op.proc.pid)))

        creations = self.creations()
        st, pods = self.fake.request("GET", "/api/v1/namespaces/%s/pods" % NS)
        env_of = {p["metadata"]["name"]: {e["name"]: e.get("value")
                                          for e in p["spec"]["containers"][0].get("env", [])}
                  for p in pods["items"]}
        bad = []
        for n in names:
            _, _, phase, status, reasons = OUTCOMES[kinds[n]]
            o = done[n]["status"]
            env = env_of.get(n + "-exit", {})
            if creations.get(n + "-main") != 1 or creations.get(n + "-exit") != 1:
                bad.append("%s: main created %s, exit created %s" % (
                    n, creations.get(n + "-main"), creations.get(n + "-exit")))
            elif o["phase"] != phase or env.get("pipelineStatus") != status:
                bad.append("%s (%s): phase %s, pipelineStatus %s" % (
                    n, kinds[n], o["phase"], env.get("pipelineStatus")))
            elif o.get("mainPodReason") not in reasons:
                bad.append("%s (%s): mainPodReason %s" % (n, kinds[n], o.get("mainPodReason")))
        asked = {n + "-main" for n in names} | {n + "-exit" for n in names}
        extra = sorted(p for p in creations if p not in asked)
        if bad:
            first = bad[0].split(" ")[0].rstrip(":")
            lines = [json.dumps(r) for r in self.old_logs + self.op.logs()
                     if first in json.dumps(r) or r.get("msg", "").startswith("(operator")]
            self.fail("seed %d: %d wrong:\n%s\nstatus of %s: %s\nits log lines:\n%s" % (
                SEED, len(bad), "\n".join(bad[:20]), first, json.dumps(done[first]["status"]),
                "\n".join(lines[-80:])))
        self.assertEqual(extra, [], "pods the soak did not ask for (seed %d)" % SEED)
        self.assertEqual(kills, min(KILLS, JOBS))
        rc = self.stop_operator(signal.SIGTERM)
        self.assertEqual(rc, 0, "graceful stop of the ASan build (leaks fail it)")
        sys.stderr.write("soak: %d OMJobs ok, %d kills, %d API restarts, %d pods deleted, "
                         "RSS %s\n" % (JOBS, kills, restarts, len(deleted),
                                       ", ".join("%s %s KiB" % r for r in rss)))


    def test_steady_churn(self):
        if not CHURN_SECONDS:
            self.skipTest("OMJ_SOAK_SECONDS unset")
        rng = random.Random(SEED)
        sys.stderr.write("\nchurn: %d s at %.1f OMJobs/s, seed %d, %s\n" % (
            CHURN_SECONDS, CHURN_RATE, SEED, os.path.basename(os.environ.get("OMJ_OPERATOR", "asan"))))
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        version = subprocess.run([OPERATOR, "--version"], capture_output=True,
                                 text=True).stdout.partition("\n")[0]  # it names its commit
        self.start_operator()
        pid = self.op.proc.pid
        counts, seq = {}, 0  # pod creations, read from the journal as it goes (it is bounded)

        def read_journal():
            nonlocal seq
            for j in self.fake.journal(seq):
                seq = max(seq, j["seq"])
                if (j.get("method") == "POST" and j.get("status") == 201
                        and j.get("path") == "/api/v1/namespaces/%s/pods" % NS):
                    counts[j.get("name")] = counts.get(j.get("name"), 0) + 1

        kinds, deleted, samples = {}, set(), []
        t0 = time.monotonic()
        next_sample, next_journal = t0, t0
        while True:
            now = time.monotonic()
            elapsed = now - t0
            if elapsed < CHURN_SECONDS:
                while len(kinds) < elapsed * CHURN_RATE:
                    n = "c%06d" % len(kinds)
                    kinds[n] = rng.choice(sorted(OUTCOMES))
                    body = omjob(n, kinds[n])
                    body["spec"]["ttlSecondsAfterFinished"] = 1
                    st, obj = self.fake.request("POST", OMJOBS, body)
                    self.assertEqual(st, 201, obj)
            if now >= next_sample:
                st, lst = self.fake.request("GET", OMJOBS)
                samples.append((int(elapsed), rss_kib(pid), len(kinds), len(lst.get("items", []))))
                next_sample += CHURN_SECONDS / 10
            if now >= next_journal:
                read_journal()
                next_journal = now + 10
            self.delete_running_mains(kinds, deleted)
            if elapsed >= CHURN_SECONDS:
                st, lst = self.fake.request("GET", OMJOBS)
                if not lst.get("items"):
                    break
                if elapsed > CHURN_SECONDS + 120:
                    first = lst["items"][0]["metadata"]["name"]
                    self.fail("OMJobs left after the churn: %s\nthe first: %s\nits log lines:\n%s" % (
                        [(o["metadata"]["name"], (o.get("status") or {}).get("phase")) for o in lst["items"][:10]],
                        json.dumps(lst["items"][0]), "\n".join(
                            json.dumps(r) for r in self.op.logs() if first in json.dumps(r))[-6000:]))
            time.sleep(0.2)
        samples.append((int(time.monotonic() - t0), rss_kib(pid), len(kinds), 0))
        read_journal()
        bad = ["%s (%s): main created %s, exit created %s" % (n, k, counts.get(n + "-main"), counts.get(n + "-exit"))
               for n, k in sorted(kinds.items())
               if counts.get(n + "-main") != 1 or counts.get(n + "-exit") != 1]
        self.assertEqual(bad[:20], [], "seed %d" % SEED)
        self.assertEqual(self.op.proc.poll(), None, "the operator is still running")
        rc = self.stop_operator(signal.SIGTERM)
        self.assertEqual(rc, 0)
        out = os.environ.get("OMJ_SOAK_RSS_OUT")
        if out:  # bench/soak-rss.json, shown in bench/RESULTS.md
            with open(out, "w") as f:
                json.dump({"date": started, "version": version,
                           "binary": os.path.basename(os.environ.get("OMJ_OPERATOR", "asan")),
                           "seconds": CHURN_SECONDS, "rate": CHURN_RATE, "omjobs": len(kinds), "seed": SEED,
                           "samples": samples}, f, indent=1)
        sys.stderr.write("churn: %d OMJobs, each main and exit pod created once; RSS over time "
                         "(s, KiB, OMJobs created, OMJobs present):\n%s\n" % (
                             len(kinds), "\n".join("  %6d s %7s KiB %7d %5d" % x for x in samples)))


if __name__ == "__main__":
    unittest.main()
