"""HTTP/1.1 over TLS front end: routing, authentication/authorization, responses, watch streams, pod logs,
and the /fake/ control API."""
import gzip
import http.server
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse

import kinds
import resources
from kutil import ApiError, bad_request, dumps, status_body, qualified, micro_ts
from kselectors import field_match, label_match, parse_field_selector, parse_label_selector

MAX_BODY = 3 * 1024 * 1024
PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz"}


def version_doc(ver):
    """GET /version for the --server-version (major, minor)."""
    return {"major": str(ver[0]), "minor": str(ver[1]), "gitVersion": "v%d.%d.0-fakeapi" % ver,
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z", "goVersion": "go1.19.8", "compiler": "gc", "platform": "linux/amd64"}


class Tokens:
    """DIR/tokens: `TOKEN USER RIGHTS` per line; re-read whenever the file's mtime changes."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.mtime = None
        self.map = {}

    def lookup(self, token):
        with self.lock:
            try:
                st = os.stat(self.path)
                key = (st.st_mtime_ns, st.st_size)
            except OSError:
                key = None
            if key != self.mtime:
                self.mtime = key
                self.map = {}
                try:
                    with open(self.path) as f:
                        for line in f:
                            parts = line.split()
                            if len(parts) >= 2 and not parts[0].startswith("#"):
                                rights = parts[2] if len(parts) > 2 else ""
                                self.map[parts[0]] = (parts[1], rights)
                except OSError:
                    pass
            return self.map.get(token)


def allowed(rights, verb, resource):
    if rights == "*":
        return True
    items = set(x.strip() for x in rights.split(",") if x.strip())
    for cand in ("%s:%s" % (verb, resource), "*:%s" % resource, "%s:*" % verb, "*:*"):
        if cand in items:
            return True
    return False


class ConnTrackingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, app):
        self.app = app
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def track(self, sock, add):
        with self.conns_lock:
            (self.conns.add if add else self.conns.discard)(sock)

    def close_all(self):
        with self.conns_lock:
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass  # client went away, TLS errors, ...


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi"
    sys_version = ""

    def setup(self):
        app = self.server.app
        raw = self.request
        raw.settimeout(30)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            self.request = app.ssl_ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            self.server.track(raw, False)
            raise
        self.request.settimeout(600)
        self.server.track(self.request, True)
        self.connection = self.request
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.request, False)

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # --- low level writers ---------------------------------------------------------------------
    def _start(self, code, ctype="application/json", headers=None, length=None, chunked=False):
        self.send_response_only(code)
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Date", self.date_time_string())
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.status_sent = code
        self._journal()

    def _journal(self):
        """One journal entry per API request, written when its status line goes out (or when it dies without one)."""
        if self.journaled or self.rawpath.startswith("/fake/"):
            return
        self.journaled = True
        self.server.app.journal.add({"method": self.command, "path": self.rawpath, "query": self.rawquery,
                                     "status": self.status_sent, "user": self.user,
                                     "userAgent": self.headers.get("User-Agent"), **self.jinfo})

    def write_chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        if not data:
            return
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def send_json(self, code, obj, sort_keys=False, headers=None, force_pretty=False):
        pretty = force_pretty or self.headers.get("User-Agent", "").startswith("curl") or self.query.get("pretty") == "true"
        body = (dumps(obj, sort_keys=sort_keys, pretty=pretty) + "\n").encode()
        headers = dict(headers or {})
        if self.command == "HEAD":
            self._start(code, headers=headers, length=len(body))
            return
        if len(body) > 131072 and "gzip" in self.headers.get("Accept-Encoding", ""):
            gz = gzip.compress(body, 6)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
            self._start(code, headers=headers, chunked=True)
            for i in range(0, len(gz), 2048):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(gz[i:i + 2048]), gz[i:i + 2048]))
            self.end_chunks()
            return
        if len(body) < 2048:
            self._start(code, headers=headers, length=len(body))
            self.wfile.write(body)
        else:
            self._start(code, headers=headers, chunked=True)
            for i in range(0, len(body), 65536):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536]))
            self.end_chunks()
        self.wfile.flush()

    def send_error_status(self, err):
        self.send_json(err.code, err.body(), headers=err.headers)

    # --- request entry -------------------------------------------------------------------------
    def dispatch(self):
        app = self.server.app
        self.status_sent = None
        self.journaled = False
        # t_in: the request line has been read; ts (added by the journal): the answer goes out
        self.jinfo = {"kind": None, "name": None, "namespace": None, "t_in": time.time()}
        self.user = None
        url = urllib.parse.urlsplit(self.path)
        self.rawpath = url.path
        self.rawquery = url.query
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        try:
            self.body = self._read_body()
        except ApiError as e:
            self.close_connection = True
            self.send_error_status(e)
            return
        try:
            if self.rawpath.startswith("/fake/"):
                self.user = "fake-control"
                app.control(self)
                return
            lat = app.faults.snapshot()["latency_ms"]
            if lat:
                time.sleep(lat / 1000.0)
            fail = app.faults.take_failure(self.command, self.path, self.headers.get("User-Agent", ""))
            if fail:
                code, ra, delay = fail
                if delay:  # a server that is slow to refuse: the client may give up first
                    time.sleep(delay / 1000.0)
                self._fault_response(code, ra)
                return
            self.user, groups, rights = self._authenticate()
            self.route(rights)
        except ApiError as e:
            if self.status_sent is None:
                self.send_error_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout, OSError):
            self.close_connection = True
        except Exception as e:  # a bug in the fake: answer 500 like the real server's panic handler
            import traceback
            traceback.print_exc()
            if self.status_sent is None:
                try:
                    self.send_json(500, status_body(500, "InternalError", "Internal error occurred: %s" % e,
                                                    {"causes": [{"message": str(e)}]}))
                except OSError:
                    pass
            self.close_connection = True
        finally:
            self._journal()

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            out = b""
            while True:
                line = self.rfile.readline(100)
                n = int(line.strip().split(b";")[0] or b"0", 16)
                if n == 0:
                    self.rfile.readline(100)
                    break
                out += self.rfile.read(n)
                self.rfile.readline(100)
                if len(out) > MAX_BODY:
                    raise ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
            return out
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
        return self.rfile.read(n) if n else b""

    def _fault_response(self, code, retry_after):
        headers = {}
        if code == 429:
            body = status_body(429, "TooManyRequests", "Too many requests, please try again later.",
                               {"retryAfterSeconds": int(retry_after or 1)})
        elif code == 503:
            body = status_body(503, "ServiceUnavailable", "the server is currently unable to handle the request")
        elif code == 422:  # a permanent refusal, shaped like a CR schema violation
            msg = ('OMJob.pipelines.openmetadata.org "injected" is invalid: status.message: Invalid value: "": '
                   'status.message in body should be at least 1 chars long')
            body = status_body(422, "Invalid", msg, {"causes": [{"reason": "FieldValueInvalid", "field": "status.message",
                                                                "message": 'Invalid value: "": status.message in body should be at least 1 chars long'}]})
        elif code == 504:
            body = status_body(504, "Timeout", "the server was unable to return a response in the time allotted, but may still be processing the request")
        else:
            body = status_body(code, "InternalError", "Internal error occurred: injected fault", {"causes": [{"message": "injected fault"}]})
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        self.send_json(code, body, headers=headers)

    def _authenticate(self):
        app = self.server.app
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            tok = auth[7:].strip()
            ent = app.tokens.lookup(tok)
            if ent is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            return ent[0], ["system:authenticated"], ent[1]
        if auth:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        try:
            cert = self.request.getpeercert()
        except (ValueError, AttributeError):
            cert = None
        if cert:
            cn, orgs = None, []
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
                    elif k == "organizationName":
                        orgs.append(v)
            rights = "*" if (cn == "admin" or "system:masters" in orgs) else app.cert_rights.get(cn, "")
            return cn, orgs, rights
        return "system:anonymous", ["system:unauthenticated"], None

    def _forbid_path(self):
        raise ApiError(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"' % (
            self.user, self.command.lower(), self.rawpath), {}, headers={"X-Content-Type-Options": "nosniff"})

    # --- routing -------------------------------------------------------------------------------
    def route(self, rights):
        app = self.server.app
        p = self.rawpath.rstrip("/") or "/"
        if p in PUBLIC_PATHS:
            if p == "/version":
                self.send_json(200, version_doc(app.opts.server_version), force_pretty=True)
            else:
                body = b"ok"
                self._start(200, "text/plain; charset=utf-8", {"X-Content-Type-Options": "nosniff"}, length=len(body))
                self.wfile.write(body)
            return
        parts = [urllib.parse.unquote(x) for x in p.split("/")[1:]]
        if parts[0] == "openapi" and len(parts) >= 2 and parts[1] == "v3":
            if rights is None:
                self._forbid_path()
            if len(parts) == 2:
                doc = resources.openapi_v3_root(app.registry, app.opts.server_version)
            else:
                rest = parts[2:]
                g, v = ("", rest[1]) if rest[0] == "api" and len(rest) == 2 else (
                    (rest[1], rest[2]) if rest[0] == "apis" and len(rest) == 3 else (None, None))
                doc = resources.openapi_v3_gv(app.registry, g, v, app.opts.server_version) if v else None
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
            self.send_json(200, doc)
            return
        if parts[0] not in ("api", "apis"):
            if rights is None:
                self._forbid_path()
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        # discovery
        disc = None
        if parts == ["api"]:
            disc = resources.api_versions_doc(app.port)
        elif parts == ["apis"]:
            disc = resources.api_group_list_doc(app.registry)
        elif len(parts) == 2 and parts[0] == "api":
            disc = resources.resource_list_doc(app.registry, "", parts[1]) or "404"
        elif len(parts) == 2 and parts[0] == "apis":
            disc = resources.api_group_doc(app.registry, parts[1]) or "404"
        elif len(parts) == 3 and parts[0] == "apis":
            disc = resources.resource_list_doc(app.registry, parts[1], parts[2]) or "404"
        if disc is not None:
            if rights is None:
                self._forbid_path()
            if disc == "404":
                raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
            self.send_json(200, disc)
            return
        self.resource_request(parts, rights)

    def _parse_resource_path(self, parts):
        app = self.server.app
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) < 4:
                return None
            group, version, rest = parts[1], parts[2], parts[3:]
        ns = None
        if rest and rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            ns = rest[1]
            rest = rest[2:]
        if not rest:
            return None
        rdef = app.registry.get(group, version, rest[0])
        if rdef is None:
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            return None
        if ns is not None and not rdef.namespaced:
            return None
        return rdef, version, ns, name, sub

    def resource_request(self, parts, rights):
        app = self.server.app
        parsed = self._parse_resource_path(parts)
        if parsed is None:
            if rights is None:
                self._forbid_path()
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        rdef, version, ns, name, sub = parsed
        self.version = version
        self.jinfo.update(kind=rdef.kind, name=name, namespace=ns)
        watch = self.query.get("watch") in ("1", "true", "True")
        m = self.command
        if m in ("GET", "HEAD"):
            verb = "get" if name else ("watch" if watch else "list")
        elif m == "POST":
            verb = "create"
        elif m == "PUT":
            verb = "update"
        elif m == "PATCH":
            verb = "patch"
        elif m == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        res_name = rdef.plural + ("/" + sub if sub else "")
        if rights is None or not allowed(rights, verb, res_name):
            msg = "%s%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" %s" % (
                qualified(rdef), (' "%s"' % name) if name else "", self.user, verb, res_name, rdef.group,
                ('in the namespace "%s"' % ns) if ns else "at the cluster scope")
            det = {}
            if name:
                det["name"] = name
            if rdef.group:
                det["group"] = rdef.group
            det["kind"] = rdef.plural
            raise ApiError(403, "Forbidden", msg, det, headers={"X-Content-Type-Options": "nosniff"})
        if sub and not ((sub == "status" and rdef.status) or (sub == "log" and rdef.plural == "pods" and not rdef.group)
                        or (sub == "eviction" and rdef.key == "/pods")):
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if rdef.namespaced and name is None and ns is None and m not in ("GET", "HEAD"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if rdef.namespaced and name is not None and ns is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        api = app.api
        if "protobuf" in self.headers.get("Content-Type", "") and self.body:
            import proto
            try:
                self.body = json.dumps(proto.decode(self.body)).encode()
            except proto.ProtoError as e:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: application/json, application/yaml (fake: %s)" % e)
        mgr = self.query.get("fieldManager") or (self.headers.get("User-Agent", "unknown").split("/")[0] or "unknown")
        sk = rdef.crd
        dry = self.query.get("dryRun") == "All"
        if verb == "watch":
            self.do_watch(rdef, version, ns)
            return
        if verb == "list":
            lst = api.list(rdef, ns, self.query, version)
            if self._wants_table():
                self.send_json(200, self._table(rdef, lst["items"], lst["metadata"]))
            else:
                self.send_json(200, lst, sort_keys=sk)
            return
        if verb == "get":
            if sub == "log":
                self.do_log(ns, name)
                return
            obj = api.get(rdef, ns, name)
            if self._wants_table():
                self.send_json(200, self._table(rdef, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}))
                return
            self.send_json(200, api.output(rdef, obj, version, sub), sort_keys=sk)
            return
        if verb == "create":
            if sub == "eviction":
                code, body = app.sim.evict_via_api(ns, name)
                self.send_json(code, body)
                return
            if name:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            obj = api.create(rdef, ns, self.body, version, mgr, dry_run=dry)
            self.jinfo["name"] = obj["metadata"]["name"]
            self.send_json(201, api.output(rdef, obj, version), sort_keys=sk)
            return
        if verb == "update":
            obj = api.update(rdef, ns, name, self.body, version, mgr, sub)
            self.send_json(200, api.output(rdef, obj, version, sub), sort_keys=sk)
            return
        if verb == "patch":
            res = api.patch(rdef, ns, name, self.body, self.headers.get("Content-Type"), version, mgr, sub, self.query)
            code = 200
            if isinstance(res, tuple):
                res, code = res
            self.send_json(code, api.output(rdef, res, version, sub), sort_keys=sk)
            return
        if verb == "delete":
            with app.store.lock:
                code, body = api.delete(rdef, ns, name, self.body, self.query)
            if body.get("kind") != "Status":
                body = api.output(rdef, body, version)
            self.send_json(code, body, sort_keys=sk and body.get("kind") != "Status")
            return
        if verb == "deletecollection":
            lst = api.list(rdef, ns, {k: v for k, v in self.query.items() if k in ("labelSelector", "fieldSelector")}, version)
            with app.store.lock:
                for o in lst["items"]:
                    cur = app.store.get(api._core(rdef).key, o["metadata"].get("namespace", ""), o["metadata"]["name"])
                    if cur is not None:
                        api.delete_object(api._core(rdef), cur, self.query.get("propagationPolicy"))
            self.send_json(200, lst, sort_keys=sk)
            return

    # --- tables (kubectl get) --------------------------------------------------------------------
    def _wants_table(self):
        return "as=Table" in self.headers.get("Accept", "")

    def _table(self, rdef, items, meta):
        now = time.time()
        inc = self.query.get("includeObject", "Metadata")
        rows = []
        for o in items:
            if inc == "Object":
                ro = dict(o)
                ro.setdefault("kind", rdef.kind)
                ro.setdefault("apiVersion", rdef.api_version())
            elif inc == "None":
                ro = None
            else:
                ro = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}
            row = {"cells": kinds.table_row(rdef, o, now, self.version), "object": ro}
            rows.append(row)
        m = {"resourceVersion": meta.get("resourceVersion", "")}
        if meta.get("continue"):
            m["continue"] = meta["continue"]
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": m,
                "columnDefinitions": kinds.table_columns(rdef, self.version), "rows": rows}

    # --- watch ---------------------------------------------------------------------------------
    def do_watch(self, rdef, version, ns):
        app = self.server.app
        store = app.store
        lsel = parse_label_selector(self.query.get("labelSelector"))
        skey = app.api._core(rdef).key
        fsel = parse_field_selector(self.query.get("fieldSelector"), skey)
        rv_q = self.query.get("resourceVersion", "")
        try:
            timeout = float(self.query.get("timeoutSeconds") or 1800)
        except ValueError:
            raise bad_request("invalid timeoutSeconds")
        bookmarks = self.query.get("allowWatchBookmarks") in ("true", "1")
        table = self._wants_table()
        epoch = app.epoch
        start = time.time()
        deadline = start + timeout
        drop_events, drop_secs = app.faults.watch_limits()
        if drop_secs:
            deadline_drop = start + float(drop_secs)
        else:
            deadline_drop = None
        bm_interval = app.opts.bookmark_interval
        next_bm = start + min(bm_interval, max(0.2, timeout - 1.5 if timeout >= 3 else timeout * 0.6))
        want_ns = ns if rdef.namespaced else None
        sk = rdef.crd

        def matches(o):
            if o is None:
                return False
            if want_ns and o["metadata"].get("namespace") != want_ns:
                return False
            return label_match(lsel, o["metadata"].get("labels")) and field_match(fsel, o)

        self._start(200, chunked=True)
        sent = [0]

        def send(etype, obj):
            if etype == "ERROR" or etype == "BOOKMARK":
                o = obj
            elif table:
                o = self._table(rdef, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})
            else:
                o = app.api.output(rdef, obj, version)
            self.write_chunk(dumps({"type": etype, "object": o}, sort_keys=sk and etype not in ("ERROR",)) + "\n")
            md = obj.get("metadata", {})
            ent = {"watch_event": etype, "kind": rdef.kind, "name": md.get("name"), "namespace": md.get("namespace"),
                   "rv": md.get("resourceVersion")}
            if rdef.key == "/pods" and etype not in ("ERROR", "BOOKMARK"):
                ent["phase"] = (obj.get("status") or {}).get("phase")
            app.journal.add(ent)
            sent[0] += 1

        def expired(rv_req):
            send("ERROR", status_body(410, "Expired", "too old resource version: %s (%d)" % (rv_req, store.min_rv(skey) + 1)))
            self.end_chunks()

        if app.faults.take_expire(self.path):
            expired(rv_q or "0")
            return
        initial = []
        with store.lock:
            if rv_q in ("", "0"):
                initial = [o for o in store.list(skey, want_ns) if matches(o)]
                last = store.rv
            else:
                try:
                    last = int(rv_q)
                except ValueError:
                    last = -1
                if last < store.min_rv(skey):
                    expired(rv_q)
                    return
        for o in initial:
            send("ADDED", o)
        if drop_events and sent[0] >= drop_events:
            self._drop()
            return
        while True:
            with store.lock:
                while True:
                    if app.epoch != epoch or app.closing:
                        self._drop()
                        return
                    now = time.time()
                    if store.newest_rv(skey) > last:
                        break
                    wake = min(deadline, next_bm if bookmarks else deadline, deadline_drop or deadline)
                    if now >= wake:
                        break
                    store.cond.wait(min(1.0, wake - now))
                evs = store.events_since(skey, last)
                if evs is None:
                    expired(str(last))
                    return
                # every event up to the store's RV is in its window: this watch has seen them all
                last = max(last, store.rv)
            for (erv, etype, obj, prev, _t) in evs:
                if etype == "ADDED":
                    if matches(obj):
                        send("ADDED", obj)
                elif etype == "MODIFIED":
                    m_new, m_old = matches(obj), matches(prev)
                    if m_new and m_old:
                        send("MODIFIED", obj)
                    elif m_new:
                        send("ADDED", obj)
                    elif m_old:
                        send("DELETED", obj)
                elif etype == "DELETED":
                    if matches(prev):
                        send("DELETED", obj)
                if drop_events and sent[0] >= drop_events:
                    self._drop()
                    return
            now = time.time()
            if deadline_drop and now >= deadline_drop:
                self._drop()
                return
            if bookmarks and now >= next_bm:
                send("BOOKMARK", self._bookmark_obj(rdef, version, max(last, 0)))
                next_bm = now + bm_interval
                if deadline - now < bm_interval and deadline - now > 0.5:
                    next_bm = min(next_bm, deadline - 0.5)
            if now >= deadline:
                self.end_chunks()
                return

    def _drop(self):
        """Fault / restart: cut the watch connection without the final chunk."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _bookmark_obj(self, rdef, version, rv):
        if rdef.crd:
            return {"apiVersion": rdef.api_version(version), "kind": rdef.kind, "metadata": {"resourceVersion": str(rv)}}
        o = {"kind": rdef.kind, "apiVersion": rdef.api_version(version),
             "metadata": {"resourceVersion": str(rv), "creationTimestamp": None}}
        if rdef.key == "/pods":
            o["spec"] = {"containers": None}
            o["status"] = {}
        elif rdef.status or rdef.key in ("batch/jobs",):
            o["spec"] = {}
            o["status"] = {}
        return o

    # --- pod logs ------------------------------------------------------------------------------
    def do_log(self, ns, name):
        app = self.server.app
        store = app.store
        pod = app.api.get(app.registry.by_resource_key("/pods"), ns, name)
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        inits = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
        cname = self.query.get("container")
        if not cname:
            if len(containers) != 1:
                raise bad_request("a container name must be specified for pod %s, choose one of: [%s]" % (name, " ".join(containers)))
            cname = containers[0]
        if cname not in containers and cname not in inits:
            raise bad_request("container %s is not valid for pod %s" % (cname, name))

        def cstate(p):
            for cs in ((p.get("status") or {}).get("containerStatuses") or []) + ((p.get("status") or {}).get("initContainerStatuses") or []):
                if cs.get("name") == cname:
                    return cs.get("state") or {}
            return None
        st = cstate(pod)
        if st is None or "waiting" in st:
            reason = (st or {}).get("waiting", {}).get("reason", "ContainerCreating") if st else "ContainerCreating"
            raise bad_request('container "%s" in pod "%s" is waiting to start: %s' % (cname, name, reason))
        follow = self.query.get("follow") in ("true", "1")
        tail = self.query.get("tailLines")
        limit = self.query.get("limitBytes")
        stamps = self.query.get("timestamps") in ("true", "1")
        limit = int(limit) if limit else None
        key = (ns, name, cname)
        uid = pod["metadata"]["uid"]
        with store.lock:
            lines = list(store.logs.get(key, []))
        if tail is not None:
            t = int(tail)
            lines = lines[-t:] if t > 0 else []
        self._start(200, "text/plain", chunked=True)
        budget = [limit]

        def emit(ln):
            text = ("%s %s" % (micro_ts(ln[0]).replace(".", ".", 1), ln[1])) if stamps else ln[1]
            data = text.encode()
            if budget[0] is not None:
                data = data[:budget[0]]
                budget[0] -= len(data)
            self.write_chunk(data)
            return budget[0] is None or budget[0] > 0

        ok = True
        for ln in lines:
            if not emit(ln):
                ok = False
                break
        if follow and ok:
            idx = len(store.logs.get(key, [])) if tail is None else None
            with store.lock:
                allv = store.logs.get(key, [])
                idx = len(allv)
            epoch = app.epoch
            while ok:
                with store.lock:
                    while True:
                        allv = store.logs.get(key, [])
                        p = store.get("/pods", ns, name)
                        done = p is None or p["metadata"]["uid"] != uid or "running" not in (cstate(p) or {})
                        if len(allv) > idx or done or app.epoch != epoch or app.closing:
                            break
                        store.cond.wait(1.0)
                    new = allv[idx:]
                    idx = len(allv)
                for ln in new:
                    if not emit(ln):
                        ok = False
                        break
                if app.epoch != epoch or app.closing:
                    self._drop()
                    return
                if done:
                    break
        self.end_chunks()
