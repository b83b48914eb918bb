"""Issue 3, CronOMJob, against the fake API server. The operator's clock is moved with
--clock-offset-seconds so that a slot is a few seconds away; schedules name that slot
(daily, at the shifted clock's minute), so no earlier slot can be a "missed" one. To reach a
second slot the operator is restarted with a new offset (which also exercises restarts).
CronOMJobs are created before the operator starts: a slow start then only makes the slot a
little late (still run, the deadline being unset), never lost. Every wait is a condition with
a deadline."""
import calendar
import itertools
import time
import unittest

from harness import FakeCluster, Operator, wait_until

GROUP = "/apis/pipelines.openmetadata.org/v1/namespaces/%s/"
LEAD_S = 3  # seconds between the operator's start and the slot
_ns_ids = itertools.count(1)


def rfc3339(epoch_s):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def parse_time(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def daily(*slots):
    """A cron schedule with the given instants' minutes, in one hour of every day (UTC)."""
    hours = {time.gmtime(s).tm_hour for s in slots}
    assert len(hours) == 1, "slots must share an hour"
    minutes = ",".join(str(time.gmtime(s).tm_min) for s in slots)
    return "%s %d * * *" % (minutes, hours.pop())


class CronBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeCluster().start()

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.ns = "cron-%d" % next(_ns_ids)
        self.fake.ensure_namespace(self.ns)
        self.op = None
        self.journal_start = max([e["seq"] for e in self.fake.journal()] or [0])

    def tearDown(self):
        if self.op:
            rc = self.op.stop()
            self.assertEqual(rc, 0, "operator exit code %s\n%s" % (rc, self.op.dump()))

    # --- the clock ------------------------------------------------------------------------
    def next_slot(self, after=0):
        """A minute boundary at least LEAD_S + after seconds of operator time from now."""
        t = time.time() + LEAD_S + after + 0.5
        slot = (int(t) // 60 + 1) * 60
        if time.gmtime(slot).tm_min == 59:
            slot += 60  # keep two consecutive slots in one hour
        return slot

    def start_at(self, op_now):
        """(Re)starts the operator with its clock reading op_now now."""
        if self.op:
            rc = self.op.stop()
            self.assertEqual(rc, 0, self.op.dump())
        offset = int(round(op_now - time.time()))
        self.op = Operator(self.fake.kubeconfig, "--watch-namespaces", self.ns,
                           "--clock-offset-seconds=%d" % offset)
        self.op.wait_ready(30)
        self.offset = offset

    def op_time(self):
        return time.time() + self.offset

    # --- objects ------------------------------------------------------------------------------
    def cron(self, name, schedule, main="exit 0", **spec):
        body = {"apiVersion": "pipelines.openmetadata.org/v1", "kind": "CronOMJob",
                "metadata": {"name": name, "namespace": self.ns,
                             "labels": {"app.kubernetes.io/pipeline": "pipe-" + name,
                                        "app.kubernetes.io/run-id": "not-copied"},
                             "annotations": {"example.com/owner-team": "data"}},
                "spec": {"schedule": schedule,
                         "omJobSpec": {"mainPodSpec": {
                             "image": "busybox:1.36", "command": ["sh", "-c", main],
                             "env": [{"name": "RUN", "value": "{{ omjob.name }}/{{omjob.uid}}"},
                                     {"name": "PLAIN", "value": "x"}]},
                             "exitHandlerSpec": {"image": "busybox:1.36",
                                                 "command": ["sh", "-c", "exit 0"]}}}}
        body["spec"].update(spec)
        st, obj = self.fake.request("POST", GROUP % self.ns + "cronomjobs", body)
        self.assertEqual(st, 201, obj)
        return obj

    def get_cron(self, name):
        st, obj = self.fake.request("GET", GROUP % self.ns + "cronomjobs/" + name)
        return obj if st == 200 else None

    def patch_cron(self, name, patch, sub=""):
        st, obj = self.fake.request("PATCH", GROUP % self.ns + "cronomjobs/" + name + sub, patch,
                                    "application/merge-patch+json")
        self.assertEqual(st, 200, obj)
        return obj

    def omjobs(self):
        st, obj = self.fake.request("GET", GROUP % self.ns + "omjobs")
        return {o["metadata"]["name"]: o for o in obj["items"]}

    def run_name(self, cron, slot):
        return "%s-%d" % (cron, slot // 60)

    def wait_omjob(self, name, timeout=20, pred=lambda o: True):
        def found():
            o = self.omjobs().get(name)
            return o if o and pred(o) else None
        try:
            return wait_until(found, timeout, "OMJob " + name)
        except AssertionError:
            raise AssertionError("no OMJob %s; have %s\n%s" % (
                name, sorted(self.omjobs()), self.op.dump()))

    def wait_status(self, name, pred, what, timeout=20):
        def ok():
            o = self.get_cron(name)
            return o if o and pred(o.get("status") or {}) else None
        try:
            return wait_until(ok, timeout, what)
        except AssertionError:
            raise AssertionError("%s: status %s\n%s" % (what, (self.get_cron(name) or {}).get(
                "status"), self.op.dump()))

    def events(self, reason):
        st, obj = self.fake.request("GET", "/api/v1/namespaces/%s/events" % self.ns)
        return [e for e in obj["items"] if e.get("reason") == reason]

    def wait_event(self, reason, timeout=20):
        return wait_until(lambda: self.events(reason), timeout, "event " + reason)

    def creations(self, name):
        """Successful creates of OMJob `name` in the journal (since the test began)."""
        return sum(1 for e in self.fake.journal(self.journal_start)
                   if e.get("method") == "POST" and e.get("status") == 201
                   and e.get("kind") == "OMJob" and e.get("name") == name)

    def create_owned(self, cron_obj, name, scheduled, phase):
        """An OMJob as the controller would have created it, finished with `phase`."""
        meta = cron_obj["metadata"]
        body = {"apiVersion": "pipelines.openmetadata.org/v1", "kind": "OMJob",
                "metadata": {"name": name, "namespace": self.ns,
                             "labels": {"pipelines.openmetadata.org/cronomjob": meta["name"]},
                             "annotations": {"pipelines.openmetadata.org/scheduled-at":
                                             rfc3339(scheduled)},
                             "ownerReferences": [{"apiVersion": "pipelines.openmetadata.org/v1",
                                                  "kind": "CronOMJob", "name": meta["name"],
                                                  "uid": meta["uid"], "controller": True}]},
                "spec": {"mainPodSpec": {"image": "busybox:1.36"}}}
        st, obj = self.fake.request("POST", GROUP % self.ns + "omjobs", body)
        self.assertEqual(st, 201, obj)
        st, obj = self.fake.request("PATCH", GROUP % self.ns + "omjobs/%s/status" % name,
                                    {"status": {"phase": phase,
                                                "completionTime": rfc3339(scheduled + 30)}},
                                    "application/merge-patch+json")
        self.assertEqual(st, 200, obj)


class CronOMJobTest(CronBase):
    def test_slot_fires_once_with_labels_owner_and_substitution(self):
        slot = self.next_slot()
        c = self.cron("nightly", daily(slot))
        self.start_at(slot - LEAD_S)
        name = self.run_name("nightly", slot)
        if self.op_time() < slot - 0.5:
            self.assertEqual(self.omjobs(), {}, "nothing before the slot")
        o = self.wait_omjob(name)
        self.assertGreaterEqual(self.op_time(), slot - 0.6, "created at the slot, not before")
        meta = o["metadata"]
        self.assertEqual(meta["labels"]["app.kubernetes.io/pipeline"], "pipe-nightly")
        self.assertEqual(meta["labels"]["pipelines.openmetadata.org/cronomjob"], "nightly")
        run_id = meta["labels"]["app.kubernetes.io/run-id"]
        self.assertRegex(run_id, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                 r"[0-9a-f]{12}$")
        self.assertEqual(meta["annotations"], {
            "pipelines.openmetadata.org/scheduled-at": rfc3339(slot),
            "example.com/owner-team": "data"})
        ref = meta["ownerReferences"][0]
        self.assertEqual((ref["kind"], ref["name"], ref["uid"], ref["controller"]),
                         ("CronOMJob", "nightly", c["metadata"]["uid"], True))
        env = {e["name"]: e["value"] for e in o["spec"]["mainPodSpec"]["env"]}
        self.assertEqual(env, {"RUN": "%s/%s" % (name, run_id), "PLAIN": "x"})
        # The OMJob controller runs it; the CronOMJob records the run and its success.
        st = self.wait_status("nightly", lambda s: s.get("lastSuccessfulTime"), "success")
        self.assertEqual(st["status"]["lastScheduleTime"], rfc3339(slot))
        self.assertEqual(st["status"]["lastOMJobName"], name)
        self.assertEqual(st["status"]["active"], [])
        self.assertEqual(st["status"]["observedGeneration"], c["metadata"]["generation"])
        ready = st["status"]["conditions"][0]
        self.assertEqual((ready["type"], ready["status"], ready["reason"]),
                         ("Ready", "True", "Scheduled"))
        self.assertEqual(self.creations(name), 1)
        patches = [e for e in self.fake.journal(self.journal_start) if e.get("method") == "PATCH"
                   and e.get("path", "").endswith("/cronomjobs/nightly/status")]
        self.assertLessEqual(len(patches), 6, "status writes only when something changed")

    def test_restart_across_the_slot_does_not_double_fire(self):
        slot = self.next_slot()
        self.cron("restart", daily(slot), main="hang")
        self.start_at(slot - LEAD_S)
        name = self.run_name("restart", slot)
        self.wait_omjob(name)
        self.op.stop(sig=9)  # possibly before the status write
        self.op = None
        self.start_at(slot + 2)  # the same slot, still the latest and in its window
        self.wait_status("restart", lambda s: s.get("lastScheduleTime") == rfc3339(slot),
                         "lastScheduleTime recorded")
        self.wait_status("restart", lambda s: [a["name"] for a in s.get("active", [])] == [name],
                         "active run listed")
        self.assertEqual(self.creations(name), 1)
        self.assertEqual(sorted(self.omjobs()), [name])

    def test_already_exists_is_adopted(self):
        """The name is the lock: an OMJob already holding the slot's name (another replica,
        a lost response) is adopted, never created again, and the slot is on record."""
        slot = self.next_slot()
        name = self.run_name("locked", slot)
        st, obj = self.fake.request("POST", GROUP % self.ns + "omjobs", {
            "apiVersion": "pipelines.openmetadata.org/v1", "kind": "OMJob",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": {"mainPodSpec": {"image": "busybox:1.36", "command": ["sh", "-c", "hang"]}}})
        self.assertEqual(st, 201, obj)
        self.cron("locked", daily(slot))
        self.start_at(slot - LEAD_S)
        self.wait_status("locked", lambda s: s.get("lastScheduleTime") == rfc3339(slot),
                         "adopted slot recorded")
        self.op.wait_log(msg="OMJob already exists: slot adopted", omjob=name)
        posts = [e for e in self.fake.journal(self.journal_start) if e.get("method") == "POST"
                 and e.get("path") == GROUP % self.ns + "omjobs"]
        self.assertEqual([e["status"] for e in posts], [201, 409], posts)  # ours, then the lock
        self.assertEqual(sorted(self.omjobs()), [name])
        self.assertTrue(self.wait_event("SlotNameTaken"))

    def test_forbid_skips_while_active(self):
        s1 = self.next_slot()
        s2 = s1 + 60
        self.cron("forbid", daily(s1, s2), main="hang")  # concurrencyPolicy defaults to Forbid
        self.start_at(s1 - LEAD_S)
        first = self.run_name("forbid", s1)
        self.wait_omjob(first)
        self.start_at(s2 - LEAD_S)
        ev = self.wait_event("SlotSkipped", timeout=LEAD_S + 15)
        self.assertIn("Forbid", ev[0]["message"])
        self.assertEqual(sorted(self.omjobs()), [first])
        st = self.wait_status("forbid", lambda s: "skipped" in s.get("message", ""),
                              "skip in the status message")["status"]
        self.assertEqual([a["name"] for a in st["active"]], [first])
        self.assertEqual(st["lastScheduleTime"], rfc3339(s1))
        self.assertEqual(self.events("MissedSchedule"), [])

    def test_replace_deletes_the_active_one_and_its_exit_handler_runs(self):
        s1 = self.next_slot()
        s2 = s1 + 60
        self.cron("repl", daily(s1, s2), main="hang", concurrencyPolicy="Replace")
        self.start_at(s1 - LEAD_S)
        first, second = self.run_name("repl", s1), self.run_name("repl", s2)
        self.wait_omjob(first, pred=lambda o: (o.get("status") or {}).get("phase") == "Running")
        self.start_at(s2 - LEAD_S)
        self.wait_omjob(second, timeout=LEAD_S + 15)
        wait_until(lambda: first not in self.omjobs(), 20, "the replaced OMJob to go")
        exits = [e for e in self.fake.journal(self.journal_start)
                 if e.get("method") == "POST" and e.get("kind") == "Pod"
                 and e.get("status") == 201 and e.get("name") == first + "-exit"]
        self.assertEqual(len(exits), 1, "the replaced OMJob's exit handler ran once")
        self.assertEqual(self.creations(second), 1)
        self.assertTrue(self.events("ReplacingOMJob"))

    def test_allow_overlaps(self):
        s1 = self.next_slot()
        s2 = s1 + 60
        self.cron("allow", daily(s1, s2), main="hang", concurrencyPolicy="Allow")
        self.start_at(s1 - LEAD_S)
        first, second = self.run_name("allow", s1), self.run_name("allow", s2)
        self.wait_omjob(first)
        self.start_at(s2 - LEAD_S)
        self.wait_omjob(second, timeout=LEAD_S + 15)
        st = self.wait_status("allow", lambda s: len(s.get("active", [])) == 2, "two active")
        self.assertEqual(sorted(a["name"] for a in st["status"]["active"]), [first, second])

    def test_history_limits_prune_oldest_finished(self):
        slot = self.next_slot(after=3600)  # far away: only pruning happens
        # deadline 0: the runs below put yesterday's slot after the last run; it is not caught up
        c = self.cron("hist", daily(slot), successfulJobsHistoryLimit=2,  # failed: default 1
                      startingDeadlineSeconds=0)
        base = int(time.time()) // 60 * 60 - 86400
        for i in range(4):
            self.create_owned(c, "hist-ok-%d" % i, base + 60 * i, "Succeeded")
        for i in range(3):
            self.create_owned(c, "hist-bad-%d" % i, base + 600 + 60 * i, "Failed")
        self.start_at(time.time())  # after the runs are final: the OMJob controller leaves them
        want = ["hist-bad-2", "hist-ok-2", "hist-ok-3"]
        wait_until(lambda: sorted(self.omjobs()) == want, 20,
                   "pruned to %s (have %s)" % (want, sorted(self.omjobs())))
        self.assertEqual(len(self.events("OMJobDeleted")), 4)
        st = self.wait_status("hist", lambda s: s.get("lastSuccessfulTime"), "lastSuccessfulTime")
        self.assertEqual(st["status"]["lastSuccessfulTime"], rfc3339(base + 60 * 3 + 30))

    def test_suspend_and_spec_change(self):
        slot = self.next_slot()
        self.cron("susp", daily(slot), suspend=True)
        self.cron("moved", daily(slot + 3600))
        self.start_at(slot - LEAD_S)
        self.wait_status("moved", lambda s: rfc3339(slot + 3600) in s.get("message", ""),
                         "next slot an hour away")
        self.patch_cron("moved", {"spec": {"schedule": daily(slot)}})  # recomputed at once
        self.wait_status("moved", lambda s: rfc3339(slot) in s.get("message", ""),
                         "next slot recomputed")
        self.wait_omjob(self.run_name("moved", slot), timeout=LEAD_S + 10)
        # Both were due at the same instant; the suspended one recorded nothing.
        st = self.wait_status("susp", lambda s: s.get("conditions"), "status")["status"]
        self.assertEqual(st["conditions"][0]["reason"], "Suspended")
        self.assertNotIn(self.run_name("susp", slot), self.omjobs())
        self.assertNotIn("lastScheduleTime", st)

    def test_invalid_schedule_and_unknown_zone(self):
        self.start_at(time.time())
        self.cron("badcron", "61 * * * *")
        self.cron("badzone", "0 3 * * *", timeZone="Mars/Olympus_Mons")
        st = self.wait_status("badcron", lambda s: s.get("conditions"), "condition")["status"]
        self.assertEqual(st["conditions"][0]["reason"], "InvalidSchedule")
        self.assertIn('minute field "61"', st["message"])
        st = self.wait_status("badzone", lambda s: s.get("conditions"), "condition")["status"]
        self.assertEqual(st["conditions"][0]["reason"], "UnknownTimeZone")
        self.assertIn("Mars/Olympus_Mons", st["message"])
        self.wait_event("UnknownTimeZone")
        self.wait_event("InvalidSchedule")
        self.assertEqual(self.omjobs(), {})
        self.assertEqual(self.op.proc.poll(), None)


class MissedSlotTest(CronBase):
    def test_missed_slots(self):
        """Operator down for 10 minutes (lastScheduleTime 10 slots back); now is 52 s past
        the latest slot and 8 s before the next one."""
        slot = self.next_slot(after=60)
        latest, nxt = slot - 60, slot
        now = slot - 8
        specs = {"zero": {"startingDeadlineSeconds": 0},  # on time only, but not "never"
                 "unset": {},                              # the latest missed slot runs
                 "short": {"startingDeadlineSeconds": 30},  # 52 s late: missed
                 "long": {"startingDeadlineSeconds": 120},  # inside: runs
                 "many": {}}                                # > 100 missed: one warning
        for name, extra in specs.items():
            self.cron(name, "* * * * *", main="exit 0", concurrencyPolicy="Allow", **extra)
            back = 200 * 60 if name == "many" else 600
            self.patch_cron(name, {"status": {"lastScheduleTime": rfc3339(latest - back)}},
                            "/status")
        self.start_at(now)
        for name in ("unset", "long", "many"):
            self.wait_omjob(self.run_name(name, latest))
        ev = self.wait_event("TooManyMissedSlots")
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0]["involvedObject"]["name"], "many")
        self.assertEqual(ev[0].get("count", 1), 1)
        missed = wait_until(lambda: {e["involvedObject"]["name"] for e in
                                     self.events("MissedSchedule")} >= {"zero", "short"} or None,
                            10, "MissedSchedule for zero and short")
        self.assertTrue(missed)
        have = self.omjobs()
        for name in ("zero", "short"):
            self.assertNotIn(self.run_name(name, latest), have)
        # deadline 0 still runs the next slot, observed on time
        self.wait_omjob(self.run_name("zero", nxt), timeout=20)
        for name in specs:
            runs = [n for n in self.omjobs() if n.startswith(name + "-")]
            self.assertLessEqual(len(runs), 2, runs)
            self.assertNotIn(self.run_name(name, latest - 60), runs, "only the latest catches up")


if __name__ == "__main__":
    unittest.main()
