"""Issue 13 items 4-6, against the fake API server: two operator processes on one Lease.

Times are the operator's own (real seconds; the fake's --time-scale only scales the pods'
scripts): lease duration 3 s, renew deadline 2 s, retry period 1 s. The fake's journal tells
the replicas apart by their User-Agent, which carries each one's Lease identity.

What leader election can promise, and what is asserted:
  - a standby takes over at most lease duration + retry period after the leader's last
    renewal (so after a SIGKILL, within that much of the kill);
  - the leader writes nothing later than its last successful renewal + renew deadline (by its
    own clock, answered or not), and a standby writes nothing earlier than lease duration after
    it saw that renewal: so the two replicas' writes never interleave, and between the last
    write of one and the first of the next there are at least lease duration - renew deadline;
  - Lease renewals are never queued behind controller writes."""
import os
import re
import signal
import time
import unittest

from harness import FakeCluster, Operator, wait_until
from test_omjob import omjob

NS = "pipelines"
OMJOBS = "/apis/pipelines.openmetadata.org/v1/namespaces/%s/omjobs"
API = OMJOBS % NS
LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/omjob-operator-leader"
DURATION, DEADLINE, RETRY = 3.0, 2.0, 1.0
ELECTION = ("--leader-elect=true", "--operator-namespace", "default",
            "--lease-duration-seconds", "3", "--renew-deadline-seconds", "2",
            "--retry-period-seconds", "1")
# what a request may take on this (shared, sanitizer-built) machine between the moment the
# operator decides and the moment the fake journals it: the latency the bounds above omit
LATENCY = 0.5
WRITE = ("POST", "PUT", "PATCH", "DELETE")


def identity(op):
    """The replica's User-Agent, which the fake journals: 'omjob-operator/<v> (<identity>)'."""
    return op.wait_log(msg="API server")["user_agent"]


def leader_gauge(op):
    st, text = op.get("/metrics")
    m = re.search(r"^omjob_leader (\S+)$", text, re.M)
    return float(m.group(1)) if st == 200 and m else None


def by(journal, ua):
    return [j for j in journal if j.get("userAgent") == ua]


def is_lease(j):
    return j.get("path") == LEASE or j.get("kind") == "Lease"


def writes(journal, ua):
    """Everything but the Lease that the replica wrote (Events included)."""
    return [j for j in by(journal, ua) if j.get("method") in WRITE and not is_lease(j)]


def renewals(journal, ua):
    """Times of the replica's successful Lease writes."""
    return [j["ts"] for j in by(journal, ua)
            if j.get("method") in ("PUT", "POST") and is_lease(j) and j.get("status") in (200, 201)]


class HABase(unittest.TestCase):
    def setUp(self):
        self.fake = FakeCluster(time_scale="0.05").start()
        self.fake.ensure_namespace(NS)
        self.ops = []

    def tearDown(self):
        for op in self.ops:
            if op.proc.poll() is None:
                op.stop()
        self.fake.stop()

    def operator(self, *flags):
        op = Operator(self.fake.kubeconfig, *ELECTION, *flags)
        self.ops.append(op)
        return op

    def create(self, body):
        st, obj = self.fake.request("POST", API, body)
        self.assertEqual(st, 201, obj)

    def phase(self, name):
        st, o = self.fake.request("GET", "%s/%s" % (API, name))
        return (o.get("status") or {}).get("phase") if st == 200 else None

    def created(self, journal, pod):
        return sum(1 for j in journal if j.get("method") == "POST" and j.get("status") == 201
                   and j.get("kind") == "Pod" and j.get("name") == pod)

    def dump(self):
        return "\n---\n".join(op.dump() for op in self.ops)


class FailoverTest(HABase):
    def test_sigkilled_leader_is_replaced_and_every_omjob_runs_its_pods_exactly_once(self):
        a = self.operator()
        a.wait_log(msg="became leader")
        b = self.operator()
        b.wait_ready(30)
        ua_a, ua_b = identity(a), identity(b)
        self.assertNotEqual(ua_a, ua_b)
        self.assertEqual((leader_gauge(a), leader_gauge(b)), (1, 0))
        # mains from 1 to 6 s (scripts run at time scale 0.05): some end before the kill, some
        # while nobody leads, some after the takeover
        names = ["ha-%d" % i for i in range(12)]
        for i, n in enumerate(names):
            self.create(omjob(n, "sleep %d" % (20 + 10 * i), "sleep 2"))

        def mains_created():
            j = self.fake.journal()
            return all(self.created(j, n + "-main") for n in names[:6])
        wait_until(mains_created, 30, "the first main pods")
        killed = time.time()
        a.stop(signal.SIGKILL)
        b.wait_log(msg="became leader", timeout=DURATION + RETRY + 10)
        self.assertEqual(leader_gauge(b), 1)
        j = self.fake.journal()
        taken = min(t for t in renewals(j, ua_b))
        last_a = max(renewals(j, ua_a))
        self.assertLessEqual(taken - last_a, DURATION + RETRY + LATENCY,
                             "takeover %.2f s after the last renewal" % (taken - last_a))
        self.assertLessEqual(taken - killed, DURATION + RETRY + LATENCY,
                             "takeover %.2f s after the kill" % (taken - killed))
        self.assertGreaterEqual(taken - last_a, DURATION - LATENCY, "took a live lease")

        for n in names:
            wait_until(lambda: self.phase(n) in ("Succeeded", "Failed"), 60,
                       "OMJob %s to finish\n%s" % (n, self.dump()))
        j = self.fake.journal()
        for n in names:
            self.assertEqual(self.phase(n), "Succeeded", n)
            self.assertEqual(self.created(j, n + "-main"), 1, n + " main pod creations")
            self.assertEqual(self.created(j, n + "-exit"), 1, n + " exit handler creations")
        wa, wb = writes(j, ua_a), writes(j, ua_b)
        self.assertTrue(wa and wb, "both replicas wrote: %d, %d" % (len(wa), len(wb)))
        gap = min(e["ts"] for e in wb) - max(e["ts"] for e in wa)
        self.assertGreaterEqual(gap, DURATION - DEADLINE - LATENCY,
                                "writes of both replicas %.2f s apart" % gap)
        self.assertLessEqual(max(e["ts"] for e in wa), killed + LATENCY)
        print("\nHA: takeover %.2f s after the kill, %.2f s after the last renewal; "
              "writes of the two replicas %.2f s apart" % (taken - killed, taken - last_a, gap))


class PartitionTest(HABase):
    def test_leader_cut_off_from_the_lease_only_stops_before_the_standby_starts(self):
        """The issue's split brain: the leader's Lease requests hang, everything else it sends
        succeeds; the standby takes the Lease after a lease duration."""
        a = self.operator()
        a.wait_log(msg="became leader")
        b = self.operator()
        b.wait_ready(30)
        ua_a, ua_b = identity(a), identity(b)
        self.fake.control("faults", {"fail_next": 100000, "status": 503, "match": LEASE,
                                     "delay_ms": 2500, "agent": ua_a[ua_a.index("("):]})
        cut = time.time()
        names = []
        while time.time() < cut + DURATION + RETRY + 2:
            names.append("p-%d" % len(names))
            self.create(omjob(names[-1], "sleep 1", "sleep 1"))
            time.sleep(0.1)  # the pace of the arrivals, not a synchronisation
        b.wait_log(msg="became leader", timeout=10)
        for n in names:
            wait_until(lambda: self.phase(n) == "Succeeded", 60, "OMJob %s\n%s" % (n, self.dump()))
        j = self.fake.journal()
        last_ok = max(renewals(j, ua_a))
        taken = min(renewals(j, ua_b))
        wa, wb = writes(j, ua_a), writes(j, ua_b)
        self.assertTrue([e for e in wa if e["ts"] > cut], "the leader wrote after the cut")
        self.assertLessEqual(max(e["ts"] for e in wa), last_ok + DEADLINE + LATENCY)
        self.assertGreaterEqual(taken - last_ok, DURATION - LATENCY)
        self.assertLessEqual(taken - last_ok, DURATION + RETRY + LATENCY)
        gap = min(e["ts"] for e in wb) - max(e["ts"] for e in wa)
        self.assertGreaterEqual(gap, DURATION - DEADLINE - LATENCY,
                                "writes of both replicas %.2f s apart" % gap)
        for n in names:
            self.assertEqual(self.created(j, n + "-main"), 1, n)
            self.assertEqual(self.created(j, n + "-exit"), 1, n)
        self.assertEqual(a.count_log(msg="became leader"), 1)
        self.assertIsNone(a.proc.poll())
        print("\nPartition: the leader's last write %.2f s after its last renewal, the standby's "
              "first %.2f s after it" % (max(e["ts"] for e in wa) - last_ok,
                                         min(e["ts"] for e in wb) - last_ok))


class LocalClockTest(HABase):
    def test_leader_that_cannot_renew_stops_writing_at_its_deadline_and_leads_again_later(self):
        a = self.operator()
        a.wait_log(msg="became leader")
        ua = identity(a)
        self.create(omjob("before", "sleep 1", "sleep 1"))
        wait_until(lambda: self.phase("before") == "Succeeded", 30, "the first OMJob")
        # from now on every Lease request hangs (longer than the renew deadline) and is then
        # refused; nothing else is
        self.fake.control("faults", {"fail_next": 100000, "status": 503, "match": LEASE,
                                     "delay_ms": 2500})
        cut = time.time()
        # new work keeps arriving: each one is a pod create the leader would like to send
        names = []
        while time.time() < cut + DEADLINE + 1.5:
            names.append("w-%d" % len(names))
            self.create(omjob(names[-1], "sleep 1", "sleep 1"))
            time.sleep(0.1)  # the pace of the arrivals, not a synchronisation
        rec = a.wait_log(msg="leader lease lost: writes stopped, campaigning again as a standby",
                         timeout=5)
        self.assertEqual(rec["why"], "not renewed within the renew deadline")
        failed = a.wait_log(msg="lease request failed (said once until the outcome changes)")
        # answered 503 ServiceUnavailable, or given up on first (status 0, curl's message)
        self.assertIn(failed["status"], ("0", "503"), failed)
        self.assertTrue(failed["error"], failed)
        j = self.fake.journal()
        last_ok = max(renewals(j, ua))
        self.assertLess(last_ok, cut + LATENCY)
        late = [e for e in writes(j, ua) if e["ts"] > last_ok + DEADLINE + LATENCY]
        self.assertEqual(late, [], "writes after the renew deadline")
        self.assertTrue([e for e in writes(j, ua) if e["ts"] > cut], "it wrote until then")
        waiting = [n for n in names if not self.created(j, n + "-main")]
        self.assertTrue(waiting, "some OMJobs arrived after the deadline")
        # the failure was logged once for the writes and once for the reads after them, not
        # once per retry (about one a second)
        for op in ("write", "read"):
            self.assertLessEqual(a.count_log(msg="lease request failed (said once until the "
                                                 "outcome changes)", op=op), 1, op)
        self.assertEqual(a.proc.poll(), None, "a lost Lease does not end the process")
        self.fake.control("faults", {"clear": True})
        a.wait_log(msg="lease requests succeed again", timeout=10)
        wait_until(lambda: a.count_log(msg="became leader") == 2, 10, "leading again")
        for n in names:
            wait_until(lambda: self.phase(n) == "Succeeded", 60, "OMJob %s\n%s" % (n, a.dump()))
        j = self.fake.journal()
        for n in names:
            self.assertEqual(self.created(j, n + "-main"), 1, n)
            self.assertEqual(self.created(j, n + "-exit"), 1, n)


class LeaseForbiddenTest(HABase):
    def test_a_lease_the_rbac_does_not_allow_is_reported_once_with_the_api_servers_words(self):
        # issue 14: the Role does not allow what the operator does with its Lease. Reads are
        # allowed (404: not there yet), the create is refused: the two alternate on every
        # retry, and the refusal is still said once
        with open(os.path.join(self.fake.dir, "tokens"), "a") as f:
            f.write("limited-token system:serviceaccount:ops:omjob "
                    "*:pods,*:omjobs,*:events,get:leases\n")
        with open(self.fake.kubeconfig) as f:
            kc = f.read().replace(self.fake.token, "limited-token")
        path = os.path.join(self.fake.dir, "kubeconfig-limited")
        with open(path, "w") as f:
            f.write(kc)
        op = Operator(path, *ELECTION, "--controllers", "omjob", "--watch-nodes=false")
        self.ops.append(op)
        ua = identity(op)
        rec = op.wait_log(msg="lease request failed (said once until the outcome changes)")
        self.assertEqual((rec["status"], rec["reason"], rec["op"]), ("403", "Forbidden", "write"))
        self.assertIn('cannot create resource "leases"', rec["error"])
        self.assertIn("system:serviceaccount:ops:omjob", rec["error"])
        # it keeps trying on the retry period, and says nothing more
        wait_until(lambda: len([j for j in by(self.fake.journal(), ua) if is_lease(j)]) >= 4,
                   10, "four Lease attempts")
        self.assertEqual(op.count_log(msg="lease request failed (said once until the outcome "
                                          "changes)"), 1)
        self.assertEqual(op.count_log(msg="became leader"), 0)
        self.assertEqual(op.get("/readyz")[0], 503)


class RenewalUnderStormTest(HABase):
    def test_lease_is_renewed_on_schedule_behind_a_large_write_backlog(self):
        # 2 writes/s and a burst of 1; 80 OMJobs in 40 namespaces need a minute of writes,
        # and the write queue serves the namespaces in turn: a Lease write queued as one more
        # key would wait a whole round (about 20 s)
        a = self.operator("--qps", "2", "--burst", "1")
        a.wait_log(msg="became leader")
        b = self.operator("--qps", "2", "--burst", "1")
        b.wait_ready(30)
        ua = identity(a)
        spaces = ["storm-%d" % i for i in range(40)]
        for ns in spaces:
            self.fake.ensure_namespace(ns)
        start = time.time()
        for i in range(80):
            body = omjob("s-%d" % i, "sleep 1", "sleep 1")
            body["metadata"]["namespace"] = ns = spaces[i % len(spaces)]
            st, obj = self.fake.request("POST", OMJOBS % ns, body)
            self.assertEqual(st, 201, obj)
        time.sleep(4 * DURATION)  # the observation window, not a synchronisation
        j = [e for e in self.fake.journal() if e["ts"] >= start]
        # the backlog was real: the controller writes went at the limiter's pace
        w = writes(j, ua)
        self.assertLessEqual(len(w), 2 * (4 * DURATION + 1) + 1, len(w))
        self.assertGreater(len(w), 2 * DURATION, len(w))
        pending = [i for i in range(80) if not self.created(j, "s-%d-main" % i)]
        self.assertGreater(len(pending), 20, "the queue still held writes at the end")
        times = [start] + renewals(j, ua)
        gaps = [b_ - a_ for a_, b_ in zip(times, times[1:])]
        self.assertLess(max(gaps), DEADLINE, "Lease renewal gaps %s" % gaps)
        self.assertEqual(a.count_log(msg="leader lease lost: writes stopped, campaigning "
                                         "again as a standby"), 0)
        self.assertEqual(b.count_log(msg="became leader"), 0)
        print("\nLease renewals behind a backlog of %d OMJobs in %d namespaces: max gap %.2f s "
              "(retry period %.0f s)" % (len(pending), len(spaces), max(gaps), RETRY))


if __name__ == "__main__":
    unittest.main()
