#!/usr/bin/python3
"""A test OTLP/HTTP receiver for traces, JSON encoding (opentelemetry-proto's OTLP/HTTP spec).

POST /v1/traces with Content-Type application/json (gzip Content-Encoding accepted) takes an
ExportTraceServiceRequest; the spans are validated (hex ids of the right length, 64-bit nanosecond
times as decimal strings, enum numbers) and stored. Answers as the spec says: 200 with an
ExportTraceServiceResponse (`{}` or `partialSuccess`); 400 with a google.rpc.Status body for a
malformed request (permanent: the client must not retry); 415 for another content type; and
whatever the test scripts: `script([...])` queues answers for the next requests, each an int
status (e.g. 503, 429 with Retry-After: 1) or ("partial", n) to reject n spans of the next one.

Usage in tests:  r = Receiver().start(); r.url; r.spans(); r.requests; r.script([503]); r.stop()
Standalone:      tests/otlp/receiver.py [--port N]   (prints spans as they arrive)
"""
import gzip
import http.server
import json
import re
import sys
import threading

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def validate_span(s):
    """Raises ValueError unless s is an OTLP JSON Span as the spec's JSON mapping has it."""
    if not HEX32.match(s.get("traceId", "")) or s["traceId"] == "0" * 32:
        raise ValueError("traceId must be 32 lower-case hex digits, not all zero: %r" % s.get("traceId"))
    if not HEX16.match(s.get("spanId", "")) or s["spanId"] == "0" * 16:
        raise ValueError("spanId must be 16 hex digits: %r" % s.get("spanId"))
    if "parentSpanId" in s and s["parentSpanId"] and not HEX16.match(s["parentSpanId"]):
        raise ValueError("parentSpanId must be 16 hex digits")
    for k in ("startTimeUnixNano", "endTimeUnixNano"):
        v = s.get(k)
        if not isinstance(v, (str, int)) or not str(v).isdigit():
            raise ValueError("%s must be a uint64 (decimal string)" % k)
    if int(s["endTimeUnixNano"]) < int(s["startTimeUnixNano"]):
        raise ValueError("span ends before it starts")
    if not isinstance(s.get("name"), str) or not s["name"]:
        raise ValueError("span name required")
    if not isinstance(s.get("kind", 0), int):
        raise ValueError("kind is an enum number in OTLP JSON")
    for a in s.get("attributes", []):
        if set(a) != {"key", "value"} or len(a["value"]) != 1:
            raise ValueError("attribute must be {key, value:{oneof}}: %r" % a)
        (t, v), = a["value"].items()
        if t == "intValue" and not re.match(r"^-?\d+$", str(v)):
            raise ValueError("intValue must be an int64 (decimal string)")
    st = s.get("status", {})
    if not isinstance(st.get("code", 0), int):
        raise ValueError("status.code is an enum number")


def attrs(obj):
    """{key: python value} of an OTLP attributes list."""
    out = {}
    for a in obj.get("attributes", []):
        (t, v), = a["value"].items()
        out[a["key"]] = int(v) if t == "intValue" else v
    return out


class Receiver:
    def __init__(self, port=0):
        self.lock = threading.Lock()
        self._spans = []       # (resource attrs, scope, span)
        self.requests = []     # dicts: status answered, headers, nspans
        self._script = []
        rx = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                status, body, extra = rx._handle(self.path, self.headers, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def script(self, answers):
        with self.lock:
            self._script.extend(answers)

    def spans(self):
        with self.lock:
            return [s for _, _, s in self._spans]

    def resources(self):
        with self.lock:
            return [r for r, _, _ in self._spans]

    def _record(self, status, headers, nspans):
        self.requests.append({"status": status, "headers": dict(headers.items()), "spans": nspans})

    def _handle(self, path, headers, raw):
        with self.lock:
            if path != "/v1/traces":
                self._record(404, headers, 0)
                return 404, {"code": 5, "message": "only /v1/traces here"}, {}
            if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                self._record(415, headers, 0)
                return 415, {"code": 3, "message": "this receiver takes application/json"}, {}
            try:
                if (headers.get("Content-Encoding") or "").lower() == "gzip":
                    raw = gzip.decompress(raw)
                req = json.loads(raw)
                batch = []
                for rs in req["resourceSpans"]:
                    res = attrs(rs.get("resource", {}))
                    for ss in rs["scopeSpans"]:
                        for s in ss["spans"]:
                            validate_span(s)
                            batch.append((res, ss.get("scope", {}), s))
            except (ValueError, KeyError, TypeError, OSError) as e:
                self._record(400, headers, 0)
                return 400, {"code": 3, "message": "bad request: %s" % e}, {}
            answer = self._script.pop(0) if self._script else 200
            if isinstance(answer, int) and answer != 200:
                self._record(answer, headers, len(batch))
                extra = {"Retry-After": "1"} if answer in (429, 503) else {}
                return answer, {"code": 14, "message": "scripted %d" % answer}, extra
            rejected = answer[1] if isinstance(answer, tuple) else 0
            self._spans.extend(batch[rejected:])
            self._record(200, headers, len(batch))
            if rejected:
                return 200, {"partialSuccess": {"rejectedSpans": str(rejected),
                                                "errorMessage": "%d spans rejected by the test" % rejected}}, {}
            return 200, {}, {}


if __name__ == "__main__":
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 4318
    r = Receiver(port).start()
    print("OTLP/HTTP JSON receiver on", r.url, flush=True)
    seen = 0
    try:
        while True:
            threading.Event().wait(1)
            s = r.spans()
            for sp in s[seen:]:
                print(json.dumps(sp), flush=True)
            seen = len(s)
    except KeyboardInterrupt:
        r.stop()
