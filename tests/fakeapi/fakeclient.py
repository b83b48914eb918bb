"""Tiny HTTPS client + server launcher used by wirecheck.py and the unit tests (standard library only)."""
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"


class Resp:
    def __init__(self, status, headers, raw, body):
        self.status = status
        self.headers = headers      # list of (name, value)
        self.raw = raw              # body bytes as sent (chunk framing kept when raw=True)
        self.body = body            # de-chunked body bytes

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def lines(self):
        return [json.loads(l) for l in self.body.decode().splitlines() if l.strip()]


class FakeServer:
    """Starts tests/fakeapi/fakeapi.py in a temporary state dir and waits for DIR/port."""

    def __init__(self, *args, state_dir=None, keep=False):
        self.dir = state_dir or tempfile.mkdtemp(prefix="fakeapi-")
        self.args = list(args)
        self.proc = None
        self.keep = keep

    def start(self, timeout=10):
        try:
            os.unlink(os.path.join(self.dir, "port"))
        except OSError:
            pass
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen([PY, os.path.join(HERE, "fakeapi.py"), "--state-dir", self.dir] + self.args,
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            p = os.path.join(self.dir, "port")
            if os.path.exists(p):
                with open(p) as fh:
                    self.port = int(fh.read())
                break
            if self.proc.poll() is not None:
                raise RuntimeError("fakeapi exited: %s" % open(os.path.join(self.dir, "server.log")).read())
            time.sleep(0.02)
        else:
            raise RuntimeError("fakeapi did not start")
        with open(os.path.join(self.dir, "tokens")) as fh:
            self.token = fh.read().split()[0]
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def cleanup(self):
        self.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, auth="cert", **kw):
        return Client(self, auth, **kw)

    @property
    def kubeconfig(self):
        return os.path.join(self.dir, "kubeconfig")

    @property
    def kubeconfig_cert(self):
        return os.path.join(self.dir, "kubeconfig-cert")


class Client:
    """auth: "cert" (admin client certificate), "token" (admin token), "none", or ("bearer", TOKEN)."""

    def __init__(self, server, auth="cert", user_agent="omjob-wire/1.0", host="127.0.0.1"):
        self.server = server
        self.auth = auth
        self.ua = user_agent
        self.host = host
        ctx = ssl.create_default_context(cafile=os.path.join(server.dir, "ca.crt"))
        if auth == "cert":
            ctx.load_cert_chain(os.path.join(server.dir, "client.crt"), os.path.join(server.dir, "client.key"))
        self.ctx = ctx
        self.conn = None

    def _conn(self, fresh=False, timeout=60):
        if fresh or self.conn is None:
            c = http.client.HTTPSConnection(self.host, self.server.port, context=self.ctx, timeout=timeout)
            if not fresh:
                self.conn = c
            return c
        return self.conn

    def request(self, method, path, body=None, headers=None, raw=False, timeout=60, stream=False):
        h = {"Accept": "application/json", "User-Agent": self.ua}
        if self.auth == "token":
            h["Authorization"] = "Bearer " + self.server.token
        elif isinstance(self.auth, tuple):
            h["Authorization"] = "Bearer " + self.auth[1]
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        if body is not None and "Content-Type" not in (headers or {}):
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        fresh = raw or stream or timeout != 60
        for attempt in range(2):
            c = self._conn(fresh=fresh, timeout=timeout)
            try:
                c.request(method, path, body=body, headers=h)
                r = c.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ssl.SSLError):
                self.conn = None
                if attempt:
                    raise
        if stream:
            r.fake_conn = c
            return r
        if raw and r.getheader("Transfer-Encoding") == "chunked":
            data = _read_raw_chunked(r)   # keep the framing
            body_ = _dechunk(data)
        else:
            data = r.read()
            body_ = data
        if fresh:
            c.close()
        return Resp(r.status, r.getheaders(), data, body_)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body, ctype="application/merge-patch+json", **kw):
        return self.request("PATCH", path, body, headers={"Content-Type": ctype}, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, **kw)

    def control(self, path, body=None, method="POST"):
        r = self.request(method, "/fake/" + path.lstrip("/"), body if body is not None else ({} if method == "POST" else None))
        return r

    def wait_for(self, path, pred, timeout=15, interval=0.05):
        """Poll GET path until pred(json) is true (or the object is gone when pred is None)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            r = self.get(path)
            last = r
            if pred is None:
                if r.status == 404:
                    return r
            elif r.status == 200 and pred(r.json()):
                return r.json()
            time.sleep(interval)
        raise AssertionError("timeout waiting on %s (last: %s %s)" % (path, last.status, last.body[:300]))


def _read_raw_chunked(r):
    out = b""
    while True:
        line = r.fp.readline(1000)
        if not line:
            break
        out += line
        n = int(line.strip().split(b";")[0] or b"0", 16)
        if n == 0:
            out += r.fp.readline(1000)
            break
        out += r.fp.read(n + 2)
    r.chunked = False
    r.length = 0
    r.close()
    return out


def _dechunk(data):
    out = b""
    i = 0
    while i < len(data):
        j = data.index(b"\r\n", i)
        n = int(data[i:j].split(b";")[0], 16)
        if n == 0:
            break
        out += data[j + 2:j + 2 + n]
        i = j + 2 + n + 2
    return out


def pod(name, script=None, command=None, labels=None, annotations=None, image="docker.io/library/busybox:1.36", **spec):
    p = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
         "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never",
                                                             "command": command or ["sh", "-c", script or "true"]}]}}
    if labels:
        p["metadata"]["labels"] = labels
    if annotations:
        p["metadata"]["annotations"] = annotations
    p["spec"].update(spec)
    return p
