"""Shared helpers for the fake API server's unit tests."""
import json
import os
import subprocess
import threading
import time
import unittest

from fakeclient import FakeServer, pod  # noqa: F401  (re-exported for the tests)

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "testdata")


class WatchReader:
    """Reads a watch stream in a thread; events are collected in .events; wait_for(pred) blocks on them."""

    def __init__(self, client, path, timeout=30):
        self.events = []
        self.cv = threading.Condition()
        self.done = False
        self.error = None
        self.resp = client.request("GET", path, stream=True, timeout=timeout)
        self.status = self.resp.status
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                if line.strip():
                    ev = json.loads(line)
                    with self.cv:
                        self.events.append(ev)
                        self.cv.notify_all()
        except Exception as e:   # connection dropped
            self.error = e
        finally:
            with self.cv:
                self.done = True
                self.cv.notify_all()

    def wait_for(self, pred, timeout=15):
        deadline = time.time() + timeout
        with self.cv:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                if self.done or time.time() >= deadline:
                    raise AssertionError("watch condition not met; events: %s" % [
                        (e["type"], e["object"].get("metadata", {}).get("name")) for e in self.events])
                self.cv.wait(min(0.5, max(0.01, deadline - time.time())))

    def wait_done(self, timeout=15):
        deadline = time.time() + timeout
        with self.cv:
            while not self.done and time.time() < deadline:
                self.cv.wait(0.2)
        return self.done

    def close(self):
        import socket
        try:
            self.resp.fake_conn.sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        try:
            self.resp.fake_conn.close()
        except Exception:
            pass


def phase(*ph):
    return lambda o: o.get("status", {}).get("phase") in ph


def ready(o):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in o.get("status", {}).get("conditions") or [])


def cstate(o, i=0):
    cs = o.get("status", {}).get("containerStatuses") or []
    return cs[i]["state"] if len(cs) > i else {}


class ServerTest(unittest.TestCase):
    """One fake server per test class."""
    server_args = ("--time-scale", "0.02")

    @classmethod
    def setUpClass(cls):
        import warnings
        warnings.simplefilter("ignore", ResourceWarning)
        cls.srv = FakeServer(*cls.server_args).start()
        cls.c = cls.srv.client("cert")

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def ns(self, name):
        r = self.c.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        self.assertIn(r.status, (201, 409))
        return "/api/v1/namespaces/" + name

    def crd(self):
        import yaml
        body = yaml.safe_load(open(os.path.join(TESTDATA, "widgets-crd.yaml")))
        r = self.c.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body)
        self.assertIn(r.status, (201, 409))
        self.c.wait_for("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.wire.example.com",
                        lambda o: o["status"].get("conditions"))

    def mkpod(self, base, body, wait=None, timeout=15):
        r = self.c.post(base + "/pods", body)
        self.assertEqual(r.status, 201, r.body)
        if wait:
            return self.c.wait_for(base + "/pods/" + body["metadata"]["name"], wait, timeout=timeout)
        return r.json()


def kubectl(kubeconfig, *args, cache=None, timeout=30, check=True, input=None):
    cmd = ["kubectl", "--kubeconfig", kubeconfig] + (["--cache-dir", cache] if cache else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError("kubectl %s failed (%d): %s %s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p
