#!/usr/bin/python3
"""Side-by-side check of the fake API server against the real kube-apiserver transcripts.

For each transcript in ../shared/k8s-wire (or --dir), replays the request against a freshly started fake
(setting up prerequisites first) and compares status code, key headers and the response *shape*: JSON field
names and value types recursively, plus the values that identify behaviour (kind, apiVersion, reason, code,
status, type, phase, exitCode, normalised Status messages). uids, timestamps, resourceVersions and
managedFields content are ignored. Prints one line per transcript: MATCH / DIFF / SKIPPED, and writes them to
tests/fakeapi/WIRECHECK.md (or --out).

    /usr/bin/python3 tests/fakeapi/wirecheck.py [--dir /work/shared/k8s-wire] [--out FILE] [--only 25,28]
"""
import argparse
import json
import os
import re
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakeclient import FakeServer, pod  # noqa: E402

DEFAULT_DIR = os.environ.get("K8S_WIRE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "k8s-wire"))
if not os.path.isdir(DEFAULT_DIR):
    DEFAULT_DIR = "/work/shared/k8s-wire"
HERE = os.path.dirname(os.path.abspath(__file__))
NS = "/api/v1/namespaces/wire"
WNS = "/apis/wire.example.com/v1/namespaces/wire/widgets"
CRD_BODY = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.wire.example.com"},
            "spec": {"group": "wire.example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                       "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                                       "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}}

SKIP = {
    27: "timing summary of 25 (not an HTTP exchange)",
    39: "timing summary of 38 (not an HTTP exchange)",
    47: "HTTP/2 (the fake speaks HTTP/1.1 only; ALPN offers http/1.1)",
    102: "preStop hooks / shared volumes between containers are not simulated",
    103: "kubectl output, not HTTP",
    105: "the 'rpc error: NotFound' trailer of a follow on a removed container is not simulated",
}

EQUAL_KEYS = {"kind", "apiVersion", "reason", "code", "status", "type", "phase", "exitCode", "continue_present"}
COUNTED_LISTS = {"items", "causes", "containerStatuses"}


def parse_transcript(path):
    text = open(path, "rb").read()
    lines = text.split(b"\n")
    head = []
    i = 0
    while i < len(lines) and lines[i].startswith(b"#"):
        head.append(lines[i].decode().rstrip("\r"))
        i += 1
    t = {"head": head, "method": None, "path": None, "headers": {}, "body": None}
    for h in head:
        m = re.match(r"# Request: (GET|POST|PUT|PATCH|DELETE) (\S+)", h)
        if m and t["method"] is None:
            t["method"], t["path"] = m.group(1), m.group(2)
        if h.startswith("# Request headers:"):
            hv = h[len("# Request headers:"):]
            hv = hv.split("   Request body:")[0]
            for part in hv.split(";"):
                if ":" in part:
                    k, v = part.split(":", 1)
                    t["headers"][k.strip()] = v.strip()
        if "Request body:" in h:
            b = h.split("Request body:", 1)[1].strip()
            if b != "(none)":
                if b.startswith('"'):
                    b = json.loads(b)
                t["body"] = b
    rest = b"\n".join(lines[i:]).lstrip(b"\r\n")
    if rest.startswith(b"HTTP/"):
        hdr, _, body = rest.partition(b"\r\n\r\n")
        hl = hdr.split(b"\r\n")
        t["status"] = int(hl[0].split()[1])
        t["resp_headers"] = {}
        for ln in hl[1:]:
            k, _, v = ln.decode().partition(":")
            t["resp_headers"][k.strip().lower()] = v.strip()
        t["resp_body"] = body
    else:
        t["status"] = None
        t["resp_body"] = rest
        t["resp_headers"] = {}
    return t


def norm_msg(s):
    s = s.split(", error found in #")[0]
    s = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "U", s)
    s = re.sub(r"\d+", "N", s)
    return s


def tname(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "object"


def shape_diff(real, fake, path="$", out=None, first_only=False, in_status=False):
    if out is None:
        out = []
    if tname(real) != tname(fake):
        out.append("%s: type %s != %s" % (path, tname(real), tname(fake)))
        return out
    if isinstance(real, dict):
        is_status = real.get("kind") == "Status"
        for k in real:
            if k not in fake:
                out.append("%s.%s missing" % (path, k))
        for k in fake:
            if k not in real and not (k == "annotations" and path.endswith(".metadata")):
                out.append("%s.%s extra" % (path, k))
        for k in real:
            if k not in fake:
                continue
            p = "%s.%s" % (path, k)
            if k == "managedFields":
                continue
            rv, fv = real[k], fake[k]
            if k in EQUAL_KEYS and not isinstance(rv, (dict, list)) and rv != fv:
                if not (k == "status" and path.endswith("conditions[0]") is False and False):
                    out.append("%s: %r != %r" % (p, rv, fv))
                continue
            if k == "message" and (is_status or in_status) and isinstance(rv, str) and isinstance(fv, str):
                if norm_msg(rv) != norm_msg(fv):
                    out.append("%s: message %r != %r" % (p, rv[:160], fv[:160]))
                continue
            shape_diff(rv, fv, p, out, first_only, in_status=is_status or (in_status and k in ("details", "causes")))
    elif isinstance(real, list):
        key = path.rsplit(".", 1)[-1]
        if key in COUNTED_LISTS and len(real) != len(fake):
            out.append("%s: %d items != %d" % (path, len(real), len(fake)))
        n = 1 if first_only else min(len(real), len(fake))
        for i in range(min(n, len(real), len(fake))):
            shape_diff(real[i], fake[i], "%s[%d]" % (path, i), out, first_only, in_status)
    return out


class Runner:
    def __init__(self, tdir, only=None):
        self.tdir = tdir
        self.only = only
        self.results = {}
        self.ctx = {}

    def start(self):
        self.srv = FakeServer("--time-scale", "0.05", "--bookmark-interval", "1", "--node-grace-seconds", "40")
        self.srv.start()
        with open(os.path.join(self.srv.dir, "tokens"), "a") as f:
            f.write("limited-token system:serviceaccount:wire:limited -\n")
        self.c = self.srv.client("cert", user_agent="omjob-wire-recorder/1.0")

    def stop(self):
        self.srv.cleanup()

    # --- helpers ---------------------------------------------------------------------------------
    def mkpod(self, body, wait=None):
        r = self.c.post(NS + "/pods", body)
        assert r.status == 201, (r.status, r.body)
        if wait:
            self.c.wait_for(NS + "/pods/" + body["metadata"]["name"], wait)
        return r.json()

    def phase(self, *phases):
        return lambda o: o.get("status", {}).get("phase") in phases

    def running_ready(self, o):
        return any(c["type"] == "Ready" and c["status"] == "True" for c in o.get("status", {}).get("conditions") or [])

    def compare(self, t, r, mode="json"):
        diffs = []
        if r.status != t["status"]:
            diffs.append("status %s != %s" % (t["status"], r.status))
        rh = t["resp_headers"]
        for h in ("content-type", "x-content-type-options", "retry-after", "content-encoding", "vary"):
            if (rh.get(h) is None) != (r.header(h) is None) or (h == "content-type" and rh.get(h) != r.header(h)):
                diffs.append("header %s: %r != %r" % (h, rh.get(h), r.header(h)))
        if mode == "headers":
            return diffs
        if mode in ("text", "raw"):
            real = t["resp_body"]
            fake = r.raw if mode == "raw" else r.body
            if mode == "raw":
                real = real.replace(b"\r\n", b"\n")
                fake = fake.replace(b"\r\n", b"\n")
            if real.strip() != fake.strip():
                diffs.append("body %r != %r" % (real[:120], fake[:120]))
            return diffs
        if mode in ("watch", "watchraw"):
            real = [json.loads(l) for l in t["resp_body"].decode().splitlines() if l.strip().startswith("{")]
            fake = [json.loads(l) for l in r.body.decode().splitlines() if l.strip()]
            rt = [e["type"] for e in real if e["type"] != "BOOKMARK"]
            ft = [e["type"] for e in fake if e["type"] != "BOOKMARK"]
            if rt != ft:
                diffs.append("event types %s != %s" % (rt, ft))
            if any(e["type"] == "BOOKMARK" for e in real) and not any(e["type"] == "BOOKMARK" for e in fake):
                diffs.append("no BOOKMARK")
            rb = [e for e in real if e["type"] == "BOOKMARK"][:1]
            fb = [e for e in fake if e["type"] == "BOOKMARK"][:1]
            pairs = list(zip([e for e in real if e["type"] != "BOOKMARK"], [e for e in fake if e["type"] != "BOOKMARK"])) + list(zip(rb, fb))
            for i, (a, b) in enumerate(pairs):
                diffs += shape_diff(a, b, "$ev%d" % i)
            if mode == "watchraw":
                if not r.raw.endswith(b"0\r\n\r\n"):
                    diffs.append("stream not ended by the zero chunk")
            return diffs
        try:
            real = json.loads(t["resp_body"])
        except ValueError:
            return diffs + ["real body is not JSON"]
        try:
            fake = json.loads(r.body)
        except ValueError:
            return diffs + ["fake body is not JSON: %r" % r.body[:100]]
        diffs += shape_diff(real, fake, first_only=(mode == "discovery"))
        return diffs

    def replay(self, t, path=None, body=None, headers=None, client=None, raw=False, timeout=60):
        c = client or self.c
        h = {k: v for k, v in t["headers"].items() if k.lower() not in ("authorization",)}
        h.update(headers or {})
        b = body if body is not None else t["body"]
        return c.request(t["method"], path or t["path"], b, headers=h, raw=raw, timeout=timeout)

    def watch_during(self, t, path, actions, stop_when=None, timeout=8):
        """Open the watch (path), run actions() in parallel, return the response once the stream ends."""
        res = {}

        def run():
            res["r"] = self.replay(t, path=path, raw=True, timeout=timeout + 5)
        th = threading.Thread(target=run)
        th.start()
        time.sleep(0.3)
        try:
            actions()
        finally:
            th.join(timeout + 10)
        return res.get("r")

    # --- main loop -----------------------------------------------------------------------------------
    def run(self):
        files = sorted((int(f.split("-")[0]), f) for f in os.listdir(self.tdir) if re.match(r"^\d+-.*\.txt$", f))
        for num, f in files:
            if self.only and num not in self.only:
                # still run prerequisites of earlier files so state builds up
                pass
            t = parse_transcript(os.path.join(self.tdir, f))
            if num in SKIP:
                self.results[num] = (f, "SKIPPED", SKIP[num])
                continue
            fn = getattr(self, "t%d" % num, None)
            t1 = time.time()
            try:
                if fn is not None:
                    out = fn(t)
                else:
                    r = self.replay(t)
                    out = self.compare(t, r)
                if isinstance(out, tuple):
                    verdict, detail = out
                else:
                    verdict, detail = ("MATCH", "") if not out else ("DIFF", "; ".join(out[:6]))
            except Exception as e:
                import traceback
                traceback.print_exc()
                verdict, detail = "DIFF", "error: %s" % e
            self.results[num] = (f, verdict, detail)
            print("%-60s %s %s (%.1fs)" % (f, verdict, detail, time.time() - t1), flush=True)

    # --- per-transcript scenarios (prerequisites and substitutions) -------------------------------------
    def t3(self, t):
        return self.compare(t, self.replay(t), mode="discovery")

    def t4(self, t):
        r = self.replay(t)
        real, fake = json.loads(t["resp_body"]), r.json()
        d = self.compare(t, r, mode="headers")
        d += shape_diff({k: v for k, v in real.items() if k != "resources"}, {k: v for k, v in fake.items() if k != "resources"})
        fres = {x["name"]: x for x in fake["resources"]}
        for x in real["resources"]:
            if x["name"] in fres:
                d += shape_diff(x, fres[x["name"]], "$.resources[%s]" % x["name"])
        return d

    def t5(self, t):
        r = self.replay(t, headers={"User-Agent": "curl/7.88.1"})
        d = self.compare(t, r)
        if not r.body.startswith(b"{\n"):
            d.append("not pretty-printed for a curl User-Agent")
        return d

    def t16(self, t):
        self.mkpod(pod("p-list-b", command=["sleep", "300"], labels={"app": "wire", "tier": "b"},
                       annotations={"fake.omjob.dev/script": "hang"}), wait=self.running_ready)
        self.mkpod(pod("p-list-c", "echo done", labels={"app": "wire", "tier": "c"}), wait=self.phase("Succeeded"))
        self.c.wait_for(NS + "/pods/p-create", self.running_ready)
        r = self.replay(t)
        self.ctx["cont1"] = r.json()["metadata"].get("continue")
        return self.compare(t, r)

    def t17(self, t):
        r = self.replay(t, path=NS + "/pods?limit=1&continue=" + urllib.parse.quote(self.ctx.get("cont1") or ""))
        self.ctx["cont2"] = r.json()["metadata"].get("continue")
        return self.compare(t, r)

    def t18(self, t):
        r = self.replay(t, path=NS + "/pods?limit=1&continue=" + urllib.parse.quote(self.ctx.get("cont2") or ""))
        return self.compare(t, r)

    def _cur_rv(self, path):
        return self.c.get(path).json()["metadata"]["resourceVersion"]

    def t25(self, t):
        rv = self._cur_rv(NS + "/pods")
        path = NS + "/pods?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=4" % rv
        r = self.watch_during(t, path, lambda: self.mkpod(pod("p-exit3", "echo hi; exit 3", labels={"app": "wire", "case": "exit3"})))
        self.ctx["exit3_watch"] = (t, r)
        return self.compare(t, r, mode="watch")

    def t26(self, t):
        # the same watch as 25, raw framing: one chunk per event, final zero chunk
        t25, r = self.ctx["exit3_watch"]
        return self.compare(t25, r, mode="watchraw")

    def t28(self, t):
        return self.compare(t, self.replay(t), mode="watch")

    def t29(self, t):
        return self.compare(t, self.replay(t, path=t["path"].replace("timeoutSeconds=20", "timeoutSeconds=1")), mode="watch")

    def t32(self, t):
        r = self.replay(t, path=t["path"].replace("timeoutSeconds=2", "timeoutSeconds=1"))
        fake = r.lines()
        real = [json.loads(l) for l in t["resp_body"].decode().splitlines() if l.strip().startswith("{")]
        d = []
        if not fake or any(e["type"] != "ADDED" for e in fake):
            d.append("expected only synthetic ADDED events, got %s" % [e["type"] for e in fake])
        d += shape_diff(real[0]["object"]["metadata"], fake[0]["object"]["metadata"], "$ev0.metadata") if fake else []
        return d

    def t33(self, t):
        self.mkpod(pod("p-exit0", "echo ok", labels={"app": "wire"}), wait=self.phase("Succeeded"))
        return self.compare(t, self.replay(t))

    def t34(self, t):
        self.c.wait_for(NS + "/pods/p-exit3", self.phase("Failed"))
        return self.compare(t, self.replay(t))

    def t35(self, t):
        p = pod("p-oom", "a=x; while true; do a=$a$a; done", labels={"app": "wire"}, annotations={"fake.omjob.dev/script": "oom"})
        p["spec"]["containers"][0]["resources"] = {"limits": {"memory": "20Mi"}, "requests": {"memory": "20Mi"}}
        self.mkpod(p, wait=self.phase("Failed"))
        return self.compare(t, self.replay(t))

    def t36(self, t):
        self.mkpod(pod("p-deadline", command=["sleep", "60"], labels={"app": "wire"}, activeDeadlineSeconds=3),
                   wait=lambda o: o.get("status", {}).get("reason") == "DeadlineExceeded")
        return self.compare(t, self.replay(t))

    def t37(self, t):
        self.mkpod(pod("p-noimage", command=["true"], labels={"app": "wire"}, image="absent/does-not-exist:0.1"),
                   wait=lambda o: any((cs.get("state", {}).get("waiting") or {}).get("reason") == "ErrImageNeverPull"
                                      for cs in o.get("status", {}).get("containerStatuses") or []))
        return self.compare(t, self.replay(t))

    def t38(self, t):
        rv = self._cur_rv(NS + "/pods")
        path = NS + "/pods?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dp-deleted&timeoutSeconds=5" % rv

        def act():
            self.mkpod(pod("p-deleted", command=["sleep", "300"], labels={"app": "wire"},
                           annotations={"fake.omjob.dev/script": "sleep 300; ignore-term"}), wait=self.running_ready)
            self.c.delete(NS + "/pods/p-deleted", {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 20})
        r = self.watch_during(t, path, act, timeout=5)
        return self.compare(t, r, mode="watch")

    def t40(self, t):
        return self.compare(t, self.replay(t))

    def t41(self, t):
        return self.compare(t, self.replay(t))

    def t42(self, t):
        uid = self.c.get(NS + "/pods/p-list-c").json()["metadata"]["uid"]
        b = json.loads(t["body"])
        b["preconditions"]["uid"] = uid
        return self.compare(t, self.replay(t, body=json.dumps(b)))

    def t45(self, t):
        self.c.wait_for(t["path"], lambda o: o["status"].get("conditions"))
        return self.compare(t, self.replay(t))

    def _subst_rv(self, t, path):
        cur = self.c.get(path).json()["metadata"]["resourceVersion"]
        b = json.loads(t["body"])
        b["metadata"]["resourceVersion"] = cur
        return json.dumps(b)

    def t56(self, t):
        return self.compare(t, self.replay(t, body=self._subst_rv(t, WNS + "/w-status")))

    def t58(self, t):
        self.c.post(WNS, {"apiVersion": "wire.example.com/v1", "kind": "Widget", "metadata": {"name": "w-fin"}, "spec": {"size": 1}})
        return self.compare(t, self.replay(t))

    def t65(self, t):
        rv = self._cur_rv(WNS)
        path = WNS + "?watch=1&resourceVersion=%s&timeoutSeconds=2" % rv
        u = WNS + "/w-fin"

        def act():
            self.c.post(WNS, {"apiVersion": "wire.example.com/v1", "kind": "Widget", "metadata": {"name": "w-fin"}, "spec": {"size": 1}})
            self.c.patch(u, {"metadata": {"finalizers": ["wire.example.com/cleanup"]}})
            self.c.delete(u)
            self.c.patch(u, {"metadata": {"finalizers": ["wire.example.com/cleanup", "wire.example.com/second"]}})
            self.c.delete(u)
            self.c.patch(u, {"metadata": {"finalizers": None}})
        r = self.watch_during(t, path, act, timeout=2)
        d = self.compare(t, r, mode="watch")
        ev = r.lines()
        if ev and ev[-1]["type"] == "DELETED" and not ev[-1]["object"]["metadata"].get("finalizers"):
            d.append("DELETED object lost the finalizer")
        return d

    def t67(self, t):
        uid = self.c.get(WNS + "/w-owner-bg").json()["metadata"]["uid"]
        b = json.loads(t["body"])
        b["metadata"]["ownerReferences"][0]["uid"] = uid
        b["metadata"]["annotations"] = {"fake.omjob.dev/script": "sleep 300; ignore-term"}
        b["spec"]["terminationGracePeriodSeconds"] = 20
        r = self.replay(t, body=json.dumps(b))
        self.c.wait_for(NS + "/pods/p-owned-bg", self.running_ready)
        self.ctx["rv69"] = self._cur_rv(NS + "/pods")
        return self.compare(t, r)

    def t69(self, t):
        path = NS + "/pods?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dp-owned-bg&timeoutSeconds=4" % self.ctx["rv69"]
        r = self.replay(t, path=path, raw=True, timeout=10)
        return self.compare(t, r, mode="watch")

    def t70(self, t):
        # 74 first: foreground delete of an owner without dependents
        self.c.post(WNS, {"apiVersion": "wire.example.com/v1", "kind": "Widget", "metadata": {"name": "w-owner-fg"}, "spec": {"size": 1}})
        self.ctx["rv74"] = self._cur_rv(WNS)
        self.c.delete(WNS + "/w-owner-fg", {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"})
        o = self.c.post(WNS, {"apiVersion": "wire.example.com/v1", "kind": "Widget", "metadata": {"name": "w-owner-fg2"}, "spec": {"size": 1}}).json()
        p = pod("p-owned-fg", command=["sleep", "300"], annotations={"fake.omjob.dev/script": "sleep 300; ignore-term"},
                terminationGracePeriodSeconds=20)
        p["metadata"]["ownerReferences"] = [{"apiVersion": "wire.example.com/v1", "kind": "Widget", "name": "w-owner-fg2",
                                             "uid": o["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
        self.mkpod(p, wait=self.running_ready)
        self.ctx["rv72"] = self._cur_rv(WNS)
        self.ctx["rv73"] = self._cur_rv(NS + "/pods")
        return self.compare(t, self.replay(t))

    def t71(self, t):
        self.c.wait_for(NS + "/pods/p-owned-fg", lambda o: o["metadata"].get("deletionTimestamp"))
        return self.compare(t, self.replay(t))

    def t72(self, t):
        path = WNS + "?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dw-owner-fg2&timeoutSeconds=4" % self.ctx["rv72"]
        return self.compare(t, self.replay(t, path=path, raw=True, timeout=10), mode="watch")

    def t73(self, t):
        path = NS + "/pods?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dp-owned-fg&timeoutSeconds=1" % self.ctx["rv73"]
        return self.compare(t, self.replay(t, path=path, raw=True, timeout=10), mode="watch")

    def t74(self, t):
        path = WNS + "?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dw-owner-fg&timeoutSeconds=1" % self.ctx["rv74"]
        return self.compare(t, self.replay(t, path=path, raw=True, timeout=10), mode="watch")

    def t82(self, t):
        return self.compare(t, self.replay(t, body=self._subst_rv(t, "/apis/coordination.k8s.io/v1/namespaces/wire/leases/omjob-leader")))

    def t84(self, t):
        self.mkpod(pod("p-log-done", "echo one; echo two; echo three"), wait=self.phase("Succeeded"))
        return self.compare(t, self.replay(t), mode="text")

    def t85(self, t):
        return self.compare(t, self.replay(t), mode="text")

    def t86(self, t):
        return self.compare(t, self.replay(t), mode="text")

    def t88(self, t):
        self.mkpod(pod("p-log-noimage", command=["true"], image="absent/busybox:does-not-exist"),
                   wait=lambda o: any((cs.get("state", {}).get("waiting") or {}).get("reason") == "ErrImageNeverPull"
                                      for cs in o.get("status", {}).get("containerStatuses") or []))
        return self.compare(t, self.replay(t))

    def t89(self, t):
        self.mkpod(pod("p-log-follow", "for i in 1 2 3; do echo line $i; sleep 1; done",
                       annotations={"fake.omjob.dev/script": "echo line 1; sleep 2; echo line 2; sleep 2; echo line 3; sleep 4"}),
                   wait=self.running_ready)
        return self.compare(t, self.replay(t, raw=True, timeout=20), mode="raw")

    def t90(self, t):
        return self.compare(t, self.replay(t, client=self.srv.client(("bearer", "limited-token"))))

    def t91(self, t):
        return self.compare(t, self.replay(t, client=self.srv.client(("bearer", "not-a-real-token"))))

    def t92(self, t):
        return self.compare(t, self.replay(t, client=self.srv.client("none")))

    def t93(self, t):
        return self.compare(t, self.replay(t, client=self.srv.client(("bearer", "limited-token"))))

    def t94(self, t):
        big = "x" * 4000
        for i in range(45):
            self.c.post(NS + "/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big-%02d" % i}, "data": {"k": big}})
        r = self.replay(t, raw=True)
        d = self.compare(t, r, mode="headers")
        if r.header("transfer-encoding") != "chunked":
            d.append("gzip body not chunked")
        return d

    def t95(self, t):
        r = self.replay(t)
        d = self.compare(t, r, mode="headers")
        return d

    def _prestop_pod(self, name, main_script):
        p = pod(name, main_script)
        p["spec"]["volumes"] = [{"name": "shared", "emptyDir": {}}]
        p["spec"]["containers"][0]["volumeMounts"] = [{"name": "shared", "mountPath": "/shared"}]
        p["spec"]["containers"][0]["lifecycle"] = {"preStop": {"exec": {"command": ["sh", "-c", "echo PRESTOP-RAN >> /shared/mark"]}}}
        p["spec"]["containers"].append({"name": "watcher", "image": "docker.io/library/busybox:1.36", "imagePullPolicy": "Never",
                                        "command": ["sh", "-c", "while true; do cat /shared/mark 2>/dev/null; sleep 1; done"],
                                        "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]})
        p["metadata"]["annotations"] = {"fake.omjob.dev/script.watcher": "hang"}
        return p

    def _events_compare(self, t):
        """The real list has an environment-specific MissingClusterDNS event (no cluster DNS on the rig): drop it."""
        real = json.loads(t["resp_body"])
        real["items"] = [i for i in real["items"] if i.get("reason") != "MissingClusterDNS"]
        r = self.replay(t)
        d = self.compare(t, r, mode="headers")
        fake = r.json()
        d += shape_diff(real, fake)
        rr = [(i["reason"], i["message"]) for i in real["items"]]
        fr = [(i["reason"], i["message"]) for i in fake["items"]]
        if [x[0] for x in rr] != [x[0] for x in fr]:
            d.append("reasons %s != %s" % ([x[0] for x in rr], [x[0] for x in fr]))
        return d

    def t96(self, t):
        self.mkpod(self._prestop_pod("p-prestop-exit0", "sleep 2; exit 0"),
                   wait=lambda o: any("terminated" in cs["state"] for cs in o.get("status", {}).get("containerStatuses") or []))
        return self.compare(t, self.replay(t), mode="text")

    def t97(self, t):
        return self._events_compare(t)

    def t98(self, t):
        self.mkpod(self._prestop_pod("p-prestop-exit1", "sleep 2; exit 1"),
                   wait=lambda o: any("terminated" in cs["state"] for cs in o.get("status", {}).get("containerStatuses") or []))
        return self.compare(t, self.replay(t), mode="text")

    def t99(self, t):
        return self._events_compare(t)

    def t101(self, t):
        deadline = time.time() + 5
        while time.time() < deadline:
            evs = self.c.get(NS + "/events?fieldSelector=involvedObject.name%3Dp-prestop-delete").json()["items"]
            if sum(1 for e in evs if e["reason"] == "Killing") >= 2:
                break
            time.sleep(0.05)
        return self._events_compare(t)

    def t100(self, t):
        p = pod("p-prestop-delete", "sleep 300", annotations={"fake.omjob.dev/script": "sleep 300; ignore-term",
                                                              "fake.omjob.dev/script.watcher": "hang"})
        p["spec"]["volumes"] = [{"name": "shared", "emptyDir": {}}]
        p["spec"]["containers"][0]["volumeMounts"] = [{"name": "shared", "mountPath": "/shared"}]
        p["spec"]["containers"][0]["lifecycle"] = {"preStop": {"exec": {"command": ["sh", "-c", "echo PRESTOP-RAN >> /shared/mark"]}}}
        p["spec"]["containers"].append({"name": "watcher", "image": "docker.io/library/busybox:1.36", "imagePullPolicy": "Never",
                                        "command": ["sh", "-c", "while true; do cat /shared/mark 2>/dev/null; sleep 1; done"],
                                        "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]})
        self.mkpod(p, wait=self.running_ready)
        return self.compare(t, self.replay(t))

    def t104(self, t):
        return self.compare(t, self.replay(t))

    def t111(self, t):
        """The real message ends with a Go diff of the pod spec; compare the text before it."""
        r = self.replay(t)
        real = json.loads(t["resp_body"])
        fake = r.json()
        real["message"] = real["message"].split("\n")[0]
        fake["message"] = fake.get("message", "").split("\n")[0]
        for c in real.get("details", {}).get("causes", []) + fake.get("details", {}).get("causes", []):
            c["message"] = c["message"].split("\n")[0]
        return self.compare(t, r, mode="headers") + shape_diff(real, fake)

    def t112(self, t):
        self.c.wait_for(NS + "/pods/p-ssa", self.running_ready)
        return self.compare(t, self.replay(t))

    def t113(self, t):
        """Node loss on the only node: two watches (pods, node) across kubelet-stop; 40 s grace scaled to 2 s."""
        real = [json.loads(l) for l in t["resp_body"].decode().splitlines() if l.strip().startswith("{")]
        p = pod("p-nodeloss", command=["sleep", "600"], annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}"})
        self.mkpod(p, wait=self.running_ready)
        prv = self._cur_rv(NS + "/pods")
        nrv = self._cur_rv("/api/v1/nodes")
        res = {}

        def w(key, path):
            res[key] = self.c.request("GET", path, raw=True, timeout=15)
        ths = [threading.Thread(target=w, args=("pods", NS + "/pods?watch=1&resourceVersion=%s&timeoutSeconds=4" % prv)),
               threading.Thread(target=w, args=("nodes", "/api/v1/nodes?watch=1&resourceVersion=%s&fieldSelector=metadata.name%%3Dfake-node-1&timeoutSeconds=4" % nrv))]
        for th in ths:
            th.start()
        time.sleep(0.2)
        self.c.control("nodes/fake-node-1/kubelet-stop")
        for th in ths:
            th.join(20)
        self.c.control("nodes/fake-node-1/kubelet-start")
        d = []
        for kind, key in (("Node", "nodes"), ("Pod", "pods")):
            rk = [e for e in real if e["object"]["kind"] == kind]
            fk = [e for e in res[key].lines() if e["object"]["metadata"]["name"] in ("p-nodeloss", "fake-node-1")]  # other pods of the rig
            if [e["type"] for e in rk] != [e["type"] for e in fk]:
                d.append("%s events %s != %s" % (kind, [e["type"] for e in rk], [e["type"] for e in fk]))
            for i, (a, b) in enumerate(zip(rk, fk)):
                d += shape_diff(a, b, "$%s%d" % (key, i))
        if not d:
            node = res["nodes"].lines()[-1]["object"]
            ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
            if (ready["status"], ready["reason"]) != ("Unknown", "NodeStatusUnknown"):
                d.append("node Ready condition %s" % ready)
            if not any(t["key"] == "node.kubernetes.io/unreachable" and t["effect"] == "NoSchedule" for t in node["spec"].get("taints", [])):
                d.append("no unreachable:NoSchedule taint")
            p = [e for e in res["pods"].lines() if e["object"]["metadata"]["name"] == "p-nodeloss"][-1]["object"]
            if p["status"]["phase"] != "Running" or [c for c in p["status"]["conditions"] if c["type"] == "Ready"][0]["status"] != "False":
                d.append("pod not Running/unready")
        return d

    def t106(self, t):
        return self.compare(t, self.replay(t))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=DEFAULT_DIR)
    ap.add_argument("--out", default=os.path.join(HERE, "WIRECHECK.md"))
    ap.add_argument("--only", default="")
    a = ap.parse_args(argv)
    only = set(int(x) for x in a.only.split(",") if x) or None
    r = Runner(a.dir, only)
    r.start()
    t0 = time.time()
    try:
        r.run()
    finally:
        r.stop()
    res = [r.results[k] for k in sorted(r.results)]
    counts = {}
    for _, v, _ in res:
        counts[v] = counts.get(v, 0) + 1
    lines = ["# Wire check: fake API server vs. real kube-apiserver v1.19 transcripts", "",
             "Generated by `/usr/bin/python3 tests/fakeapi/wirecheck.py` (%.0f s). Each transcript in `%s` is replayed "
             "against a fresh fake (prerequisites created first) and compared on status code, key headers and response "
             "shape (field names and value types, plus kind/apiVersion/reason/code/status/type/phase/exitCode and "
             "normalised Status messages). uids, timestamps, resourceVersions and managedFields content are ignored." % (
                 time.time() - t0, "../shared/k8s-wire"), "",
             "Totals: " + ", ".join("%s %d" % (k, v) for k, v in sorted(counts.items())), "", "```"]
    for f, v, d in res:
        lines.append("%-62s %s%s" % (f, v, (" " + d) if d else ""))
    lines.append("```")
    with open(a.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("Totals: " + ", ".join("%s %d" % (k, v) for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
