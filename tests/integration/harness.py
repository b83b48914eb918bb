"""Test harness: a fake API server (tests/fakeapi) and the operator as real processes.

Every wait is on a condition (a log line, a journal entry, an HTTP answer) with a deadline;
nothing sleeps in place of synchronisation."""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY = "/usr/bin/python3"
# The integration tests run the sanitizer build: a memory error fails the scenario.
OPERATOR = os.environ.get("OMJ_OPERATOR", os.path.join(TOP, "build", "asan", "omjob-operator"))


def wait_until(pred, timeout=20.0, what="condition", interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


def fake_env_args():
    """OMJ_FAKE_ARGS: extra fake API server flags for the whole suite, space-separated
    (e.g. OMJ_FAKE_ARGS=--reject-empty-strings, or "--server-version 1.20"); appended last."""
    return os.environ.get("OMJ_FAKE_ARGS", "").split()


class FakeCluster:
    def __init__(self, *args, time_scale="0.05", crds=None):
        """crds: CRD file names under crds/ to install (default: all of them)."""
        self.dir = tempfile.mkdtemp(prefix="omj-fake-")
        self.args = list(args)
        self.time_scale = time_scale
        self.crd_names = crds
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "fake.log"), "w")
        crds = [os.path.join(TOP, "crds", f) for f in sorted(os.listdir(os.path.join(TOP, "crds")))
                if f.endswith(".yaml") and (self.crd_names is None or f in self.crd_names)]
        self.proc = subprocess.Popen(
            [PY, os.environ.get("OMJ_FAKEAPI") or os.path.join(TOP, "tests", "fakeapi", "fakeapi.py"),
             "--state-dir", self.dir,
             "--port", "0", "--time-scale", self.time_scale,
             *(["--crds", *crds] if crds else []), *self.args, *fake_env_args()],
            stdout=self.log, stderr=subprocess.STDOUT)
        port_file = os.path.join(self.dir, "port")
        wait_until(lambda: os.path.exists(port_file) or self.proc.poll() is not None, 10,
                   "the fake API server to start")
        if self.proc.poll() is not None:
            raise RuntimeError("fake API server died: " + open(self.log.name).read()[-2000:])
        with open(port_file) as f:
            self.port = int(f.read().strip())
        self.base = "https://127.0.0.1:%d" % self.port
        self.ssl = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.kubeconfig_cert = os.path.join(self.dir, "kubeconfig-cert")
        with open(os.path.join(self.dir, "tokens")) as f:
            self.token = f.read().split()[0]
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- the API, as an admin -------------------------------------------------------------
    def request(self, method, path, body=None, content_type="application/json"):
        """One API call as the admin; retried briefly while the server restarts."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return self._request(method, path, body, content_type)
            except urllib.error.HTTPError:
                raise
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                if time.monotonic() > deadline:
                    raise AssertionError("fake API server unreachable: %s" % e)
                time.sleep(0.05)

    def _request(self, method, path, body, content_type):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def control(self, path, body=None):
        req = urllib.request.Request(self.base + "/fake/" + path, method="POST" if body is not None or path != "journal" else "GET",
                                     data=json.dumps(body if body is not None else {}).encode())
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self.ssl, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def info(self):
        try:
            req = urllib.request.Request(self.base + "/fake/info")
            with urllib.request.urlopen(req, context=self.ssl, timeout=5) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, http.client.HTTPException, OSError):
            return None

    def restart(self):
        """Restarts the API server (connections dropped, state kept) and waits until the new
        listener answers (its restart epoch has moved on)."""
        before = self.info()["epoch"]
        try:
            self.control("restart", {})
        except (urllib.error.URLError, http.client.HTTPException, OSError):
            pass
        wait_until(lambda: (self.info() or {}).get("epoch", before) > before, 15,
                   "the fake API server to restart")
        wait_until(lambda: self._answers(), 15, "the fake API server to come back")

    def _answers(self):
        try:
            return self.request("GET", "/version")[0] == 200
        except (ConnectionError, OSError):
            return False

    def journal(self, since=0):
        def get():
            req = urllib.request.Request("%s/fake/journal?since=%d" % (self.base, since))
            try:
                with urllib.request.urlopen(req, context=self.ssl, timeout=10) as r:
                    return json.loads(r.read())
            except (urllib.error.URLError, http.client.HTTPException, OSError):
                return None
        return wait_until(get, 10, "the fake's journal")

    def create_pod(self, ns, name, labels=None, script="hang"):
        labels = dict(labels or {})
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": labels,
                             "annotations": {"fake.omjob.dev/script": script}},
                "spec": {"restartPolicy": "Never",
                         "containers": [{"name": "main", "image": "busybox:1.36"}]}}
        return self.request("POST", "/api/v1/namespaces/%s/pods" % ns, body)

    def ensure_namespace(self, ns):
        return self.request("POST", "/api/v1/namespaces",
                            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def blank_error(rec):
    """A log line about a request that did not succeed, whose "error" is empty or null."""
    st = rec.get("status")
    if st is None or "error" not in rec or rec["error"] not in ("", None):
        return False
    return not (isinstance(st, str) and st.startswith("2"))


class Operator:
    """The operator process; its JSON log lines are collected for assertions."""

    def __init__(self, kubeconfig, *flags, env=None):
        self.lines = []
        self.lock = threading.Lock()
        e = {"PATH": "/usr/bin:/bin", "LOG_LEVEL": "DEBUG",
             "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
             "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
        e.update(env or {})
        self.proc = subprocess.Popen(
            [OPERATOR, "--kubeconfig", kubeconfig, "--bind-address", "127.0.0.1",
             "--health-port", str(free_port()), "--metrics-port", str(free_port()),
             "--leader-elect=false", *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=e)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {"msg": "(raw)", "raw": line}
            with self.lock:
                self.lines.append(rec)

    def logs(self):
        with self.lock:
            return list(self.lines)

    def wait_log(self, timeout=20, **fields):
        def match():
            for rec in self.logs():
                if all(rec.get(k) == v for k, v in fields.items()):
                    return rec
            if self.proc.poll() is not None:
                raise AssertionError("operator exited (%s) while waiting for %r:\n%s" % (
                    self.proc.returncode, fields, self.dump()))
            return None
        return wait_until(match, timeout, "log line %r" % (fields,))

    def count_log(self, **fields):
        return sum(1 for r in self.logs() if all(r.get(k) == v for k, v in fields.items()))

    def health_port(self):
        return int(self.wait_log(msg="health endpoints listening")["port"])

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.health_port(), path),
                                        timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=20):
        wait_until(lambda: self.get("/readyz")[0] == 200, timeout, "operator /readyz")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        blank = [r for r in self.logs() if blank_error(r)]
        if blank:  # issue 14: a failed request's log line always says what the server said
            raise AssertionError("log lines of a non-2xx answer without the error text:\n" +
                                 "\n".join(json.dumps(r) for r in blank[:5]))
        return self.proc.returncode

    def dump(self):
        return "\n".join(json.dumps(r) for r in self.logs()[-60:])
