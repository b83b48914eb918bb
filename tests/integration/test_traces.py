"""Issue 15, traces: one OTLP trace per OMJob run, against tests/otlp/receiver.py (an OTLP/HTTP
JSON receiver implementing the spec's request/response formats and retry rules).

Asserted: the trace's structure (root + main + each exit-handler attempt), parentage, span
times equal to the pods' own timestamps, attributes, ERROR status on failure; the W3C
TRACEPARENT of each stage's span in its pod; the exported-once annotation; exactly-once export
across an operator SIGKILL; 503/429 retried, 400 dropped, partial success accepted; a dead
collector changes nothing but a counter and a rate-limited log line; header secrets never
logged."""
import calendar
import json
import os
import signal
import sys
import time
import unittest
import urllib.request

from harness import TOP, FakeCluster, Operator, wait_until

sys.path.insert(0, os.path.join(TOP, "tests", "otlp"))
from receiver import Receiver, attrs  # noqa: E402

NS = "traced"
API = "/apis/pipelines.openmetadata.org/v1/namespaces/%s/omjobs" % NS
ANN = "otel.pipelines.openmetadata.org/trace-exported"
SECRET = "Bearer s3cr3t-token-do-not-log"


def omjob(name, main="exit 0", exit_script="exit 0", **spec):
    body = {"apiVersion": "pipelines.openmetadata.org/v1", "kind": "OMJob",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"mainPodSpec": {"image": "busybox:1.36", "command": ["sh", "-c", main]},
                     "exitHandlerSpec": {"image": "busybox:1.36", "command": ["sh", "-c", exit_script]}}}
    body["spec"].update(spec)
    return body


def ms(rfc3339):
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ")) * 1000


class ReceiverTest(unittest.TestCase):
    """The receiver itself answers as the spec says (else the tests below prove nothing)."""

    def setUp(self):
        self.rx = Receiver().start()

    def tearDown(self):
        self.rx.stop()

    def post(self, body, ctype="application/json"):
        req = urllib.request.Request(self.rx.url + "/v1/traces", data=json.dumps(body).encode(),
                                     headers={"Content-Type": ctype}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_formats_and_answers(self):
        span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "x", "kind": 1,
                "startTimeUnixNano": "1", "endTimeUnixNano": "2"}
        req = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [span]}]}]}
        self.assertEqual(self.post(req), (200, {}))
        bad = dict(span, traceId="AB" * 8)
        self.assertEqual(self.post({"resourceSpans": [{"scopeSpans": [{"spans": [bad]}]}]})[0], 400)
        self.assertEqual(self.post(req, "application/x-protobuf")[0], 415)
        self.rx.script([503, ("partial", 1)])
        self.assertEqual(self.post(req)[0], 503)
        st, body = self.post(req)
        self.assertEqual((st, body["partialSuccess"]["rejectedSpans"]), (200, "1"))
        self.assertEqual(len(self.rx.spans()), 1)


class TraceBase(unittest.TestCase):
    def setUp(self):
        self.fake = FakeCluster().start()
        self.fake.ensure_namespace(NS)
        self.rx = Receiver().start()
        self.op = None

    def tearDown(self):
        if self.op:
            rc = self.op.stop()
            self.assertEqual(rc, 0, self.op.dump())
        self.rx.stop()
        self.fake.stop()

    def start(self, endpoint=None, **env):
        e = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint or self.rx.url,
             "OTEL_EXPORTER_OTLP_HEADERS": "authorization=" + SECRET.replace(" ", "%20"),
             "OTEL_SERVICE_NAME": "omjob-operator-test",
             "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci",
             "OTEL_BSP_SCHEDULE_DELAY": "50"}
        e.update(env)
        self.op = Operator(self.fake.kubeconfig, env=e)
        self.op.wait_ready(30)
        return self.op

    def create(self, body):
        st, obj = self.fake.request("POST", API, body)
        self.assertEqual(st, 201, obj)
        return obj

    def get(self, name):
        st, obj = self.fake.request("GET", "%s/%s" % (API, name))
        return obj if st == 200 else None

    def pod(self, name):
        st, obj = self.fake.request("GET", "/api/v1/namespaces/%s/pods/%s" % (NS, name))
        return obj if st == 200 else None

    def annotated(self, name):
        o = self.get(name) or {}
        return (o.get("metadata", {}).get("annotations") or {}).get(ANN)

    def trace_of(self, uid_trace, n):
        def got():
            s = [x for x in self.rx.spans() if x["traceId"] == uid_trace]
            return s if len(s) >= n else None
        return wait_until(got, 30, "%d spans of trace %s" % (n, uid_trace))

    def env_of(self, pod):
        return {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env", [])}



class TraceTest(TraceBase):
    def test_the_annotation_rides_on_the_finalizer_release(self):
        """Issue 15's cost: no write of its own. The OMJob's main resource is PATCHed twice (the
        finalizer on; the finalizer off with the annotation), with and without other annotations."""
        self.start()
        plain = omjob("carry-plain")
        other = omjob("carry-other")
        other["metadata"]["annotations"] = {"example.com/keep": "yes"}
        for body in (plain, other):
            self.create(body)
        for name in ("carry-plain", "carry-other"):
            wait_until(lambda: self.annotated(name), 40, "the exported annotation of " + name)
            o = wait_until(lambda: (lambda x: x if x and not x["metadata"].get("finalizers") else None)(
                self.get(name)), 20, "the finalizer released")
            patches = [j for j in self.fake.journal() if j.get("method") == "PATCH"
                       and j.get("path") == "%s/%s" % (API, name)]
            self.assertEqual([j["status"] for j in patches], [200, 200], patches)
        self.assertEqual(self.get("carry-other")["metadata"]["annotations"]["example.com/keep"], "yes")

    def test_failed_run_with_exit_retries_is_one_trace_from_the_pods_times(self):
        self.start()
        uid = self.create(omjob("t1", "sleep 1; exit 3", "exit 1", exitHandlerRetries=1))["metadata"]["uid"]
        trace = wait_until(lambda: self.annotated("t1"), 40, "the exported annotation")
        spans = self.trace_of(trace, 4)
        self.assertEqual(len(spans), 4, json.dumps(spans, indent=1))
        by = {}
        for s in spans:
            a = attrs(s)
            by[(s["name"], a.get("omjob.retries", 0))] = (s, a)
        root, ra = by[("omjob.run", 0)]
        main, ma = by[("omjob.main", 0)]
        ex0, ea0 = by[("omjob.exit_handler", 0)]
        ex1, ea1 = by[("omjob.exit_handler", 1)]
        self.assertNotIn("parentSpanId", root)
        for s in (main, ex0, ex1):
            self.assertEqual(s["parentSpanId"], root["spanId"])
        self.assertEqual(len({s["spanId"] for s in spans}), 4)
        # attributes and status
        self.assertEqual((ra["omjob.name"], ra["omjob.uid"], ra["k8s.namespace.name"]), ("t1", uid, NS))
        self.assertEqual(root["status"]["code"], 2)
        self.assertEqual((ma["k8s.pod.name"], ma["omjob.exit_code"], ma["omjob.reason"]), ("t1-main", 3, "Error"))
        self.assertEqual(ma["k8s.node.name"], self.pod("t1-main")["spec"]["nodeName"])
        self.assertEqual(main["status"]["code"], 2)
        self.assertEqual((ea0["k8s.pod.name"], ea1["k8s.pod.name"]), ("t1-exit", "t1-exit-1"))
        self.assertEqual((ea0["omjob.exit_code"], ea1["omjob.exit_code"]), (1, 1))
        self.assertEqual((ex0["status"]["code"], ex1["status"]["code"]), (2, 2))
        # times are the pods' own
        for s, pod in ((main, "t1-main"), (ex0, "t1-exit"), (ex1, "t1-exit-1")):
            p = self.pod(pod)
            term = p["status"]["containerStatuses"][0]["state"]["terminated"]
            self.assertEqual(int(s["startTimeUnixNano"]) // 10**6, ms(p["status"]["startTime"]), pod)
            self.assertEqual(int(s["endTimeUnixNano"]) // 10**6, ms(term["finishedAt"]), pod)
            self.assertLessEqual(int(root["startTimeUnixNano"]), int(s["startTimeUnixNano"]))
            self.assertGreaterEqual(int(root["endTimeUnixNano"]), int(s["endTimeUnixNano"]))
            # the pod carries its span's traceparent and names its workflow and task
            env = self.env_of(p)
            self.assertEqual(env["TRACEPARENT"], "00-%s-%s-01" % (trace, s["spanId"]), pod)
            self.assertIn("omjob.name=t1", env["OTEL_RESOURCE_ATTRIBUTES"])
        self.assertIn("omjob.task=main", self.env_of(self.pod("t1-main"))["OTEL_RESOURCE_ATTRIBUTES"])
        # resource, headers, and the secret stays out of the log
        res = self.rx.resources()[0]
        self.assertEqual((res["service.name"], res["deployment.environment"]), ("omjob-operator-test", "ci"))
        self.assertEqual(self.rx.requests[0]["headers"].get("authorization"), SECRET)
        logs = json.dumps(self.op.logs())
        self.assertNotIn("s3cr3t", logs)
        # log lines of the run carry its trace id
        self.assertTrue(any(r.get("trace_id") == trace and r.get("omjob.name") == "t1"
                            for r in self.op.logs()), "no log line with the trace id")

    def test_exported_exactly_once_across_sigkill(self):
        self.start()
        self.create(omjob("k1", "sleep 2; exit 0", "sleep 1; exit 0"))
        wait_until(lambda: self.pod("k1-main"), 20, "main pod")
        self.op.stop(signal.SIGKILL)
        self.op = None
        wait_until(lambda: (self.pod("k1-main") or {}).get("status", {}).get("phase") == "Succeeded",
                   30, "main done while the operator is down")
        self.start()
        trace = wait_until(lambda: self.annotated("k1"), 40, "k1 exported")
        spans = self.trace_of(trace, 3)
        main = [s for s in spans if s["name"] == "omjob.main"][0]
        p = self.pod("k1-main")
        self.assertEqual(int(main["startTimeUnixNano"]) // 10**6, ms(p["status"]["startTime"]))
        self.assertEqual(self.env_of(p)["TRACEPARENT"], "00-%s-%s-01" % (trace, main["spanId"]))
        # killed and restarted once more: the annotated run is not exported again. A second
        # OMJob exported after the restart shows the operator has looked at everything.
        self.op.stop(signal.SIGKILL)
        self.op = None
        self.start()
        self.create(omjob("k2"))
        wait_until(lambda: self.annotated("k2"), 40, "k2 exported")
        ids = [s["spanId"] for s in self.rx.spans() if s["traceId"] == trace]
        self.assertEqual(sorted(ids), sorted(set(ids)), "a span of k1 was exported twice")
        self.assertEqual(len(ids), 3)

    def test_retry_rules_5xx_429_retried_400_dropped_partial_accepted(self):
        self.rx.script([503, 429, ("partial", 1)])
        self.start()
        self.create(omjob("r1"))
        trace = wait_until(lambda: self.annotated("r1"), 40, "r1 exported after two retries")
        self.assertEqual([r["status"] for r in self.rx.requests[:3]], [503, 429, 200])
        self.assertEqual(len([s for s in self.rx.spans() if s["traceId"] == trace]), 2)  # 3 sent, 1 rejected
        self.op.wait_log(msg="OTLP collector rejected some spans (partial success)")
        # a permanent refusal: dropped, not retried, not annotated
        self.rx.script([400])
        n = len(self.rx.requests)
        self.create(omjob("r2"))
        wait_until(lambda: len(self.rx.requests) > n, 30, "r2's export")
        self.op.wait_log(msg="OTLP export refused: batch dropped")
        self.create(omjob("r3"))  # the next one goes through: r2 was not sent again
        wait_until(lambda: self.annotated("r3"), 40, "r3 exported")
        self.assertEqual([r["status"] for r in self.rx.requests[n:]], [400, 200])
        self.assertIsNone(self.annotated("r2"))
        _, text = self.op.get("/metrics")
        self.assertIn('omjob_otel_export_requests_total{result="retry"} 2', text)
        self.assertIn('omjob_otel_spans_total{result="rejected"} 1', text)

    def test_dead_collector_changes_nothing_else(self):
        self.rx.stop()
        dead = self.rx.url
        self.rx = Receiver().start()  # for tearDown; never used
        self.start(endpoint=dead)
        for i in range(3):
            self.create(omjob("d%d" % i, "exit %d" % (i % 2)))
        for i in range(3):
            o = wait_until(lambda: (lambda x: x if x and x.get("status", {}).get("phase") in
                                    ("Succeeded", "Failed") else None)(self.get("d%d" % i)), 40, "d%d final" % i)
            self.assertEqual(o["status"]["phase"], "Succeeded" if i % 2 == 0 else "Failed")
            self.assertIsNone(self.annotated("d%d" % i))
            self.assertIn("TRACEPARENT", self.env_of(self.pod("d%d-main" % i)))
        def retried():
            _, t = self.op.get("/metrics")
            return 'omjob_otel_export_requests_total{result="retry"}' in t
        wait_until(retried, 20, "a failed export counted")
        self.assertLessEqual(self.op.count_log(msg="OTLP export failed: will retry"), 1)
        _, ready = self.op.get("/readyz")
        self.assertIn("ok", ready)
        self.assertEqual(self.rx.requests, [])

    def test_off_by_default_no_env_no_annotation(self):
        self.op = Operator(self.fake.kubeconfig)
        self.op.wait_ready(30)
        self.create(omjob("off"))
        wait_until(lambda: (self.get("off") or {}).get("status", {}).get("phase") == "Succeeded", 40, "off done")
        self.assertNotIn("TRACEPARENT", self.env_of(self.pod("off-main")))
        self.assertIsNone(self.annotated("off"))
        self.assertFalse(any("trace_id" in r for r in self.op.logs()))


OBS_NS = "traced"
OBS_API = "/apis/workflow.seventh-horizon.io/v1alpha1/namespaces/%s/observatories" % OBS_NS


class ObservatoryTraceTest(TraceBase):
    def obs_get(self, name):
        st, obj = self.fake.request("GET", "%s/%s" % (OBS_API, name))
        return obj if st == 200 else None

    def test_observatory_run_is_one_trace_with_a_span_per_task(self):
        self.start()
        def task(name, script, deps=(), **extra):
            t = {"name": name, "image": "busybox:1.36", "command": ["sh", "-c"], "args": [script]}
            if deps:
                t["dependencies"] = list(deps)
            t.update(extra)
            return t
        body = {"apiVersion": "workflow.seventh-horizon.io/v1alpha1", "kind": "Observatory",
                "metadata": {"name": "flow", "namespace": OBS_NS},
                "spec": {"tasks": [task("extract", "exit 0"), task("load", "exit 4", ["extract"]),
                                   task("report", "exit 0", ["load"])]}}
        st, obj = self.fake.request("POST", OBS_API, body)
        self.assertEqual(st, 201, obj)
        uid = obj["metadata"]["uid"]

        def marked():
            o = self.obs_get("flow") or {}
            return (o.get("metadata", {}).get("annotations") or {}).get(ANN)
        mark = wait_until(marked, 40, "the Observatory's exported annotation")
        run, trace = mark.split("/")
        self.assertEqual(run, "0")
        spans = self.trace_of(trace, 3)
        self.assertEqual(len(spans), 3, json.dumps(spans, indent=1))  # root + extract + load; report skipped
        root = [s for s in spans if s["name"] == "observatory.run"][0]
        tasks = {attrs(s)["observatory.task"]: s for s in spans if s["name"] == "observatory.task"}
        self.assertEqual(set(tasks), {"extract", "load"})
        self.assertEqual(attrs(root)["observatory.uid"], uid)
        self.assertEqual(root["status"]["code"], 2)
        self.assertEqual((tasks["extract"]["status"]["code"], tasks["load"]["status"]["code"]), (1, 2))
        self.assertEqual(attrs(tasks["load"])["observatory.exit_code"], 4)
        for name, s in tasks.items():
            self.assertEqual(s["parentSpanId"], root["spanId"])
            pod = self.pod(attrs(s)["k8s.pod.name"])
            self.assertEqual(self.env_of(pod)["TRACEPARENT"], "00-%s-%s-01" % (trace, s["spanId"]))
            self.assertIn("observatory.task=" + name, self.env_of(pod)["OTEL_RESOURCE_ATTRIBUTES"])
            # the task's start as its status records it (its first attempt's container start,
            # which may be a second after the pod's status.startTime)
            rec = [t for t in (self.obs_get("flow") or {}).get("status", {}).get("tasks", [])
                   if t.get("name") == name][0]
            self.assertEqual(int(s["startTimeUnixNano"]) // 10**6, ms(rec["startTime"]), rec)
            self.assertLessEqual(ms(pod["status"]["startTime"]), ms(rec["startTime"]))


SEQ_API = "/apis/batch.example.com/v1alpha1/namespaces/%s/sequentialjobs" % NS


class SequentialJobTraceTest(TraceBase):
    def test_sequence_is_one_trace_with_a_span_per_step_job(self):
        self.start(CONTROLLERS="seqjob")
        body = {"apiVersion": "batch.example.com/v1alpha1", "kind": "SequentialJob",
                "metadata": {"name": "seq", "namespace": NS},
                "spec": {"containers": [{"name": "s%d" % i, "image": "busybox:1.36",
                                         "command": ["sh", "-c", s]}
                                        for i, s in enumerate(["exit 0", "exit 2", "exit 0"])]}}
        st, obj = self.fake.request("POST", SEQ_API, body)
        self.assertEqual(st, 201, obj)

        def marked():
            st, o = self.fake.request("GET", SEQ_API + "/seq")
            return ((o or {}).get("metadata", {}).get("annotations") or {}).get(ANN) if st == 200 else None
        run, trace = wait_until(marked, 40, "the SequentialJob's exported annotation").split("/")
        self.assertEqual(run, "0")
        spans = self.trace_of(trace, 3)
        self.assertEqual(len(spans), 3, json.dumps(spans, indent=1))  # root + s0 + s1; s2 never ran
        root = [s for s in spans if s["name"] == "sequentialjob.run"][0]
        steps = {attrs(s)["sequentialjob.task"]: s for s in spans if s["name"] == "sequentialjob.task"}
        self.assertEqual(set(steps), {"s0", "s1"})
        self.assertEqual((root["status"]["code"], steps["s0"]["status"]["code"], steps["s1"]["status"]["code"]),
                         (2, 1, 2))
        for name, s in steps.items():
            self.assertEqual(s["parentSpanId"], root["spanId"])
            st, job = self.fake.request("GET", "/apis/batch/v1/namespaces/%s/jobs/%s" % (NS, attrs(s)["k8s.job.name"]))
            self.assertEqual(st, 200)
            env = {e["name"]: e.get("value")
                   for e in job["spec"]["template"]["spec"]["containers"][0].get("env", [])}
            self.assertEqual(env["TRACEPARENT"], "00-%s-%s-01" % (trace, s["spanId"]))
            self.assertEqual(int(s["startTimeUnixNano"]) // 10**6, ms(job["status"]["startTime"]))
