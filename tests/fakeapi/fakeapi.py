#!/usr/bin/python3
"""Fake Kubernetes API server for the omjob-operator tests (see tests/README.md, "## Fake API server").

Usage: /usr/bin/python3 tests/fakeapi/fakeapi.py --state-dir DIR [--port 0] [--crds PATH ...] [--nodes N]
       [--time-scale F] [--history N] [--node-grace-seconds S] [--seed-pods N] [--server-version 1.19]
       [--reject-empty-strings]
"""
import argparse
import glob
import json
import os
import signal
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import certs  # noqa: E402
import kinds  # noqa: E402
from api import Api  # noqa: E402
from control import Faults, Journal  # noqa: E402
from kutil import ApiError, now_ts, new_uid  # noqa: E402
from resources import Registry  # noqa: E402
from server import ConnTrackingServer, Handler, Tokens  # noqa: E402
from sim import Sim  # noqa: E402
from store import Store  # noqa: E402

ADMIN_TOKEN_FILE = "admin-token"


def server_version(text):
    """'1.19', 'v1.21' or '1.29.3' -> (1, 19); the fake's behaviour switches on this pair."""
    import re
    m = re.match(r"^v?(\d+)\.(\d+)(\.\d+)?$", text.strip())
    if not m or int(m.group(1)) != 1 or not 16 <= int(m.group(2)) <= 40:
        raise argparse.ArgumentTypeError("expected a Kubernetes version like 1.19 or 1.29, got %r" % text)
    return (int(m.group(1)), int(m.group(2)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="fake Kubernetes API server")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--crds", nargs="*", default=[], help="CRD YAML/JSON files or directories")
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--history", type=int, default=100 * 1024,
                   help="watch cache window per resource: at most N events (a real server's upper bound, 102400)")
    p.add_argument("--watch-cache-seconds", type=float, default=75.0,
                   help="a window drops events older than S seconds (not scaled) beyond its last 100, as a real "
                        "server's watch cache does (eventFreshDuration, 75 s)")
    p.add_argument("--node-grace-seconds", type=float, default=40.0)
    p.add_argument("--bookmark-interval", type=float, default=10.0, help="seconds between BOOKMARKs (not scaled)")
    p.add_argument("--seed-pods", type=int, default=0, help="pre-create N Succeeded pods in namespace 'seed'")
    p.add_argument("--no-kubelet-events", dest="kubelet_events", action="store_false",
                   help="do not write the scheduler's and kubelet's Events (Scheduled, Pulled, Created, Started, Killing, ...)")
    p.add_argument("--max-events", type=int, default=10000,
                   help="keep at most N Events; the oldest are deleted (like the events TTL)")
    p.add_argument("--key-type", choices=("ec", "rsa"), default="ec",
                   help="key type of the generated CA, server and client keys (default ec = P-256)")
    p.add_argument("--no-sa-admission", dest="sa_admission", action="store_false",
                   help="accept pods whose service account does not exist (a real server answers 403)")
    p.add_argument("--no-token-volume", dest="token_volume", action="store_false",
                   help="do not inject the service-account token volume into pods")
    p.add_argument("--strict-continue", action="store_true",
                   help="410 for a continue token older than the compacted history")
    p.add_argument("--server-version", type=server_version, default=(1, 19),
                   help="Kubernetes version to behave as (default 1.19): /version, CR null handling, validation messages")
    p.add_argument("--reject-empty-strings", action="store_true",
                   help="reproduce kubernetes#99804 (1.16-1.20 built with Go >= 1.16): a \"\" in a typed CR field is a 422; "
                        "no effect with --server-version 1.21 or later")
    return p.parse_args(argv)


def load_crd_files(paths):
    import yaml
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(glob.glob(os.path.join(p, "*.yaml")) + glob.glob(os.path.join(p, "*.yml")) + glob.glob(os.path.join(p, "*.json")))
        else:
            files.append(p)
    docs = []
    for f in files:
        with open(f) as fh:
            for d in yaml.safe_load_all(fh):
                if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition":
                    docs.append(d)
    return docs


class App:
    def __init__(self, opts):
        self.opts = opts
        self.dir = os.path.abspath(opts.state_dir)
        os.makedirs(self.dir, exist_ok=True)
        self.store = Store(history=opts.history, fresh_s=opts.watch_cache_seconds)
        self.registry = Registry()
        self.api = Api(self.store, self.registry, opts)
        self.sim = Sim(self.store, self.registry, self.api, opts)
        self.faults = Faults()
        self.journal = Journal()
        self.tokens = Tokens(os.path.join(self.dir, "tokens"))
        self.cert_rights = {}
        self.epoch = 0
        self.closing = False
        self.httpd = None
        self.port = opts.port
        self.serve_thread = None
        self.lock = threading.Lock()

    # --- setup -----------------------------------------------------------------------------------
    def setup_tls(self):
        paths = certs.ensure_pki(self.dir, self.opts.key_type)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(paths["server.crt"], paths["server.key"])
        ctx.load_verify_locations(paths["ca.crt"])
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        self.ssl_ctx = ctx
        tok_path = os.path.join(self.dir, "tokens")
        if not os.path.exists(tok_path):
            admin = new_uid().replace("-", "") + new_uid().replace("-", "")
            tmp = tok_path + ".tmp"
            with open(tmp, "w") as f:
                f.write("%s admin *\n" % admin)
            os.replace(tmp, tok_path)
        self.admin_token = self._first_admin_token(tok_path)
        self.opts.ca_path = paths["ca.crt"]

    def _first_admin_token(self, path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "*":
                    return parts[0]
        return ""

    def write_client_files(self):
        d = self.dir
        ca = os.path.join(d, "ca.crt")

        def kc(server, user):
            return ("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: %s\n"
                    "    certificate-authority: %s\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n"
                    "    user: fake-user\n    namespace: default\ncurrent-context: fake\nusers:\n- name: fake-user\n  user:\n%s"
                    % (server, ca, user))
        self._atomic(os.path.join(d, "kubeconfig"), kc("https://127.0.0.1:%d" % self.port, "    token: %s\n" % self.admin_token))
        self._atomic(os.path.join(d, "kubeconfig-cert"), kc("https://localhost:%d" % self.port,
                                                             "    client-certificate: %s\n    client-key: %s\n" % (
                                                                 os.path.join(d, "client.crt"), os.path.join(d, "client.key"))))

    @staticmethod
    def _atomic(path, text):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)

    def bootstrap(self):
        state = os.path.join(self.dir, "state.json")
        if os.path.exists(state):
            extra = self.store.load(state)
            for crd in self.store.list("apiextensions.k8s.io/customresourcedefinitions"):
                self.registry.add_crd(crd)
            self.sim.after(0, self.sim.restore, extra, always=True)
            return True
        with self.store.lock:
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
                self.api.create(self.registry.by_resource_key("/namespaces"), None,
                                {"metadata": {"name": ns}}, "v1", None)
            for i in range(self.opts.nodes):
                name = "fake-node-%d" % (i + 1)
                n = kinds.make_node(name, i)
                n["metadata"].update({"uid": new_uid(), "creationTimestamp": now_ts()})
                self.store.create("/nodes", n)
            for crd in load_crd_files(self.opts.crds):
                self.api.create(self.registry.by_resource_key("apiextensions.k8s.io/customresourcedefinitions"), None,
                                crd, "v1", "kubectl")
            if self.opts.seed_pods:
                self.seed_pods(self.opts.seed_pods)
            self.store.compact()   # history starts here: older RVs (e.g. 1) are "too old"
        return False

    def seed_pods(self, n):
        self.api.create(self.registry.by_resource_key("/namespaces"), None, {"metadata": {"name": "seed"}}, "v1", None)
        t = now_ts()
        node = "fake-node-1"
        for i in range(n):
            name = "seed-%05d" % i
            pod = {"kind": "Pod", "apiVersion": "v1",
                   "metadata": {"name": name, "namespace": "seed", "uid": new_uid(), "creationTimestamp": t,
                                "labels": {"app": "seed"}},
                   "spec": {"containers": [{"name": "main", "image": "busybox", "resources": {},
                                            "terminationMessagePath": "/dev/termination-log",
                                            "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}],
                            "restartPolicy": "Never", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                            "serviceAccountName": "default", "serviceAccount": "default", "nodeName": node,
                            "securityContext": {}, "schedulerName": "default-scheduler", "priority": 0},
                   "status": {"phase": "Succeeded", "startTime": t, "qosClass": "BestEffort",
                              "containerStatuses": [{"name": "main", "state": {"terminated": {
                                  "exitCode": 0, "reason": "Completed", "startedAt": t, "finishedAt": t,
                                  "containerID": "containerd://%064x" % i}}, "lastState": {}, "ready": False,
                                  "restartCount": 0, "image": "busybox", "imageID": "", "started": False}]}}
            self.store.create("/pods", pod)

    # --- serving -----------------------------------------------------------------------------------
    def listen(self):
        self.httpd = ConnTrackingServer(("127.0.0.1", self.port), Handler, self)
        self.port = self.httpd.server_address[1]
        self.serve_thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                             name="http", daemon=True)
        self.serve_thread.start()

    def write_port(self):
        self._atomic(os.path.join(self.dir, "port"), "%d\n" % self.port)

    def save(self):
        self.store.save(os.path.join(self.dir, "state.json"), {"kubelet_down": sorted(self.sim.kubelet_down)})

    def restart(self):
        """Close every connection and the listener, keep state, listen again on the same port."""
        with self.lock:
            with self.store.lock:
                self.epoch += 1
                self.store.cond.notify_all()
            old = self.httpd
            old.shutdown()
            old.server_close()
            old.close_all()
            try:
                self.save()
            except Exception:
                pass
            for _ in range(50):
                try:
                    self.listen()
                    break
                except OSError:
                    time.sleep(0.05)
            old.close_all()

    def shutdown(self):
        self.closing = True
        with self.store.lock:
            self.store.cond.notify_all()
        self.sim.stop()
        try:
            self.save()
        except Exception:
            import traceback
            traceback.print_exc()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd.close_all()

    # --- control API -------------------------------------------------------------------------------
    def control(self, h):
        path = h.rawpath
        parts = path.strip("/").split("/")[1:]
        m = h.command

        def ok(obj=None, code=200):
            h.send_json(code, obj if obj is not None else {"ok": True})
        try:
            body = json.loads(h.body) if h.body else {}
        except ValueError:
            raise ApiError(400, "BadRequest", "control body must be JSON")
        if parts == ["faults"]:
            if m == "POST":
                return ok(self.faults.configure(body))
            if m == "DELETE":
                return ok(self.faults.configure({"clear": True}))
            return ok(self.faults.snapshot())
        if parts == ["compact"] and m == "POST":
            self.store.compact()
            return ok({"ok": True, "rv": self.store.rv})
        if parts == ["restart"] and m == "POST":
            ok({"ok": True, "port": self.port})
            h.close_connection = True
            threading.Thread(target=lambda: (time.sleep(0.05), self.restart()), daemon=True).start()
            return
        if parts == ["save"] and m == "POST":
            self.save()
            return ok()
        if parts == ["sim", "pause"] and m == "POST":
            self.sim.pause(True)
            return ok()
        if parts == ["sim", "resume"] and m == "POST":
            self.sim.pause(False)
            return ok()
        if len(parts) == 3 and parts[0] == "nodes" and m == "POST" and parts[2] in ("kubelet-stop", "kubelet-start"):
            res = {"done": None}
            ev = threading.Event()

            def do():
                res["done"] = (self.sim.kubelet_stop(parts[1], partition=bool(body.get("partition")))
                               if parts[2] == "kubelet-stop" else self.sim.kubelet_start(parts[1]))
                ev.set()
            self.sim.after(0, do, always=True)
            ev.wait(10)
            if not res["done"]:
                raise ApiError(404, "NotFound", 'nodes "%s" not found' % parts[1], {"name": parts[1], "kind": "nodes"})
            return ok()
        if len(parts) == 4 and parts[0] == "pods" and parts[3] == "evict" and m == "POST":
            res = {"done": None}
            ev = threading.Event()

            def do():
                res["done"] = self.sim.evict(parts[1], parts[2])
                ev.set()
            self.sim.after(0, do, always=True)
            ev.wait(10)
            if not res["done"]:
                raise ApiError(404, "NotFound", 'pods "%s" not found' % parts[2], {"name": parts[2], "kind": "pods"})
            return ok()
        if parts == ["journal"] and m == "GET":
            since = int(h.query.get("since") or 0)
            return ok(self.journal.since(since))
        if parts == ["journal", "clear"] and m == "POST":
            self.journal.clear()
            return ok()
        if parts == ["info"]:
            return ok({"port": self.port, "rv": self.store.rv,
                       "server_version": "%d.%d" % self.opts.server_version,
                       "reject_empty_strings": self.opts.reject_empty_strings and self.opts.server_version < (1, 21), "min_rv": self.store.floor_rv, "epoch": self.epoch,
                       "paused": self.sim.paused, "kubelet_down": sorted(self.sim.kubelet_down)})
        if parts == ["cert-rights"] and m == "POST":
            self.cert_rights[body["cn"]] = body.get("rights", "")
            return ok()
        raise ApiError(404, "NotFound", "unknown control endpoint %s %s" % (m, path), {})


def main(argv=None):
    opts = parse_args(argv)
    app = App(opts)
    app.setup_tls()
    app.bootstrap()
    app.listen()
    app.write_client_files()
    app.sim.start()
    app.write_port()
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(1.0):
        pass
    app.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
