"""Issue 15, alerts: every metric the shipped Prometheus rules name is one a running operator
exports (its /metrics scraped after an OMJob failed, so the event and queue series exist),
the alerts for what happened would see their series, and `promtool check rules` accepts
the file when Debian's prometheus package is installed."""
import os
import re
import shutil
import subprocess
import unittest

import yaml

from harness import TOP, FakeCluster, Operator, wait_until

RULES = os.path.join(TOP, "deploy", "prometheus", "omjob-operator.rules.yaml")
NS = "alerts"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr):
    """The metric names in a PromQL expression (not functions, label names or keywords)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                  # strings
    e = re.sub(r"\{[^}]*\}", "", e)                                # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                               # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word, rest = m.group(0), e[m.end():].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("("):
            continue                                                 # keyword or function
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue                                                 # 5m, 1e3
        names.add(word)
    return names


def exported(text):
    """Families (# TYPE) and their sample names (histograms: _bucket, _sum, _count)."""
    names = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names |= {m.group(1) + s for s in ("_bucket", "_sum", "_count")}
    return names


class MetricNamesParserTest(unittest.TestCase):
    def test_the_parser_finds_names_and_skips_functions_labels_and_keywords(self):
        self.assertEqual(metric_names(
            'histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{x="y(z)"}[5m]))) > 0.5 '
            'or absent(b) unless on(instance) c == 0 and bool d offset 5m'),
            {"a_bucket", "b", "c", "d"})


class AlertRulesTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeCluster().start()
        self.fake.ensure_namespace(NS)
        self.op = Operator(self.fake.kubeconfig)
        self.op.wait_ready(30)

    def tearDown(self):
        rc = self.op.stop()
        self.fake.stop()
        self.assertEqual(rc, 0, self.op.dump())

    def scrape(self):
        st, text = self.op.get("/metrics")
        self.assertEqual(st, 200)
        return text

    def test_every_metric_in_the_rules_is_exported(self):
        body = {"apiVersion": "pipelines.openmetadata.org/v1", "kind": "OMJob",
                "metadata": {"name": "boom", "namespace": NS},
                "spec": {"mainPodSpec": {"image": "busybox:1.36", "command": ["sh", "-c", "exit 3"]},
                         "exitHandlerSpec": {"image": "busybox:1.36", "command": ["sh", "-c", "exit 0"]}}}
        st, obj = self.fake.request("POST", "/apis/pipelines.openmetadata.org/v1/namespaces/%s/omjobs" % NS, body)
        self.assertEqual(st, 201, obj)
        failed = 'omjob_events_total{kind="OMJob",type="Warning",reason="OMJobFailed"} 1'
        text = wait_until(lambda: (lambda t: t if failed in t else None)(self.scrape()), 40,
                          "the OMJobFailed event counted")
        have = exported(text)
        with open(RULES) as f:
            rules = yaml.safe_load(f)
        seen = set()
        for g in rules["groups"]:
            for r in g["rules"]:
                names = metric_names(r["expr"])
                self.assertTrue(names, r["alert"])
                missing = names - have
                self.assertFalse(missing, "%s names metrics the operator does not export: %s"
                                 % (r["alert"], sorted(missing)))
                seen |= names
        self.assertIn("omjob_events_total", seen)
        # the series the workload alerts read are there, with the values they expect
        self.assertIn("omjob_ready 1", text)
        self.assertIn("omjob_leader 1", text)
        self.assertRegex(text, r'omjob_reconcile_duration_seconds_count\{controller="omjob"\} [1-9]')
        self.assertRegex(text, r'omjob_workqueue_depth\{controller="omjob"\} 0')



class PromtoolTest(unittest.TestCase):
    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian package prometheus) not installed")
    def test_promtool_accepts_the_rules(self):
        r = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: 14 rules found", r.stdout)

    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian package prometheus) not installed")
    def test_promtool_unit_tests_of_the_alerts(self):
        """tests/prometheus/rules_test.yaml: the alerts fire (and stay quiet) on synthetic series."""
        r = subprocess.run(["promtool", "test", "rules", os.path.join(TOP, "tests", "prometheus", "rules_test.yaml")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
