#!/usr/bin/python3
"""Builds the seed corpora of the fuzz targets: build/fuzz/seeds/<target>/.

Sources: the real API server transcripts (../shared/k8s-wire/, when present: bodies of
watches, lists and Status errors), the unit-test inputs (tests/unit/data/, quoted strings
of tests/unit/test_cron.c), the repository's YAML (crds/, tests/examples/), the pinned
zoneinfo (build/vendor/zoneinfo) and a few hand-written inputs below. Nothing here is
committed: the corpora are rebuilt from their sources (make build/fuzz/seeds/.ok).

Usage: tests/fuzz/seeds.py OUTDIR
"""
import base64
import glob
import hashlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WIRE = next((d for d in (os.path.join(ROOT, "..", "shared", "k8s-wire"),
                         os.path.join(ROOT, "..", "..", "shared", "k8s-wire"))
             if os.path.isdir(d)), None)


def transcripts():
    """(name, status, body bytes) of every HTTP answer in the transcripts."""
    if not WIRE:
        return
    for path in sorted(glob.glob(os.path.join(WIRE, "*.txt"))):
        raw = open(path, "rb").read()
        for m in re.finditer(rb"^HTTP/1\.1 (\d{3})[^\n]*\n(.*?)\r?\n\r?\n", raw, re.S | re.M):
            rest = raw[m.end():]
            nxt = re.search(rb"^(# |HTTP/1\.1 \d{3})", rest, re.M)
            body = rest[:nxt.start()] if nxt else rest
            yield os.path.basename(path), int(m.group(1)), m.group(2), body


def unchunk(body):
    out, i = b"", 0
    while True:
        nl = body.find(b"\r\n", i)
        if nl < 0:
            return None
        try:
            n = int(body[i:nl].split(b";")[0], 16)
        except ValueError:
            return None
        if n == 0:
            return out
        out += body[nl + 2:nl + 2 + n]
        i = nl + 2 + n + 2


class Out:
    def __init__(self, top):
        self.top = top
        self.count = {}

    def add(self, target, data):
        if isinstance(data, str):
            data = data.encode()
        d = os.path.join(self.top, target)
        os.makedirs(d, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        self.count[target] = self.count.get(target, 0) + 1


def main():
    out = Out(sys.argv[1])
    code_byte = {0: 0, 200: 1, 201: 2, 400: 3, 401: 4, 403: 5, 404: 6, 409: 7, 410: 8, 415: 9,
                 422: 10, 429: 11, 500: 12, 503: 13, 504: 14}
    for name, status, headers, body in transcripts() or []:
        if b"Transfer-Encoding: chunked" in headers and body[:1] != b"{":
            body = unchunk(body) or body
        if len(body) > 256 * 1024:
            continue
        if b'"kind":"Status"' in body or status >= 400:
            out.add("status", bytes([code_byte.get(status, 3), 0]) + body)
        if b"watch" in name.encode() or b'{"type":' in body[:10]:
            if body.startswith(b'{"type":'):
                for split in (0, 7, 200):
                    out.add("watch", bytes([split]) + body)
        elif body.startswith(b"{") and b'"items":' in body:
            out.add("list", body)
            out.add("watch", bytes([1]) + b'{"type":"ADDED","object":' + body.strip() + b"}\n")
        if b"log" in name.encode() and status == 200:
            out.add("chunker", bytes([16, 0]) + body)
    # Status bodies of our own (unit tests' shapes)
    out.add("status", bytes([10, 0]) + b'{"kind":"Status","message":"OMJob.pipelines \\"x\\" is invalid",'
            b'"reason":"Invalid","details":{"causes":[{"reason":"FieldValueInvalid","field":"spec.x",'
            b'"message":"Invalid value: \\u00e9\\u2603"}]},"code":422}')
    out.add("status", bytes([13, 0]) + b"<html>upstream connect error \xe2\x98\x83 \xff</html>")

    # kubeconfigs and PEM
    kdir = os.path.join(ROOT, "tests", "unit", "data", "kubeconfig")
    for p in sorted(glob.glob(os.path.join(kdir, "*.yaml")) + glob.glob(os.path.join(kdir, "other", "*.yaml"))):
        out.add("kubeconfig", open(p, "rb").read())
    pems = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(kdir, "certs", "*")))]
    ca = next((p for p in pems if b"CERTIFICATE" in p), b"")
    key = next((p for p in pems if b"PRIVATE KEY" in p), b"")
    for p in pems:
        out.add("tls", b"\x00" + p)
        out.add("base64", base64.b64encode(p))
        out.add("base64", base64.encodebytes(p))
    out.add("tls", b"\x01" + ca + b"\x00" + ca + b"\x00" + key)
    for s in (b"", b"Zg==", b"Zm8=", b"Zm9v", b" Zm9v\r\nYmFy\t", b"Zm9=", b"====", b"Zh==", b"a"):
        out.add("base64", s)

    # cron
    crons = ["* * * * *", "*/15 * * * *", "0 0 29 2 *", "0 0 30 2 *", "5/15 1-5 * JAN-DEC MON-FRI",
             "30 2 * * 0", "0 0 1,15 * 7", "@hourly", "@yearly", "0 3 ? * ?", "0 0 */2 * 1",
             "59 23 31 12 6", "10-40/10 */3 1-7 * SUN", "TZ=UTC * * * * *"]
    test_cron = os.path.join(ROOT, "tests", "unit", "test_cron.c")
    if os.path.exists(test_cron):
        for s in re.findall(r'"([^"\\]{3,80})"', open(test_cron).read()):
            if re.fullmatch(r"[-0-9A-Za-z*/?,@ \t]+", s):
                crons.append(s)
    for i, c in enumerate(sorted(set(crons))):
        out.add("cron", c.encode() + b"\n" + (1767225600 + i * 7919).to_bytes(8, "big"))

    # TZif
    zdir = os.path.join(ROOT, "build", "vendor", "zoneinfo")
    for z in ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
              "Pacific/Apia", "America/Sao_Paulo", "Etc/GMT+3", "UTC", "Africa/Casablanca"):
        p = os.path.join(zdir, z)
        if os.path.isfile(p):
            out.add("tz", open(p, "rb").read())

    # responder
    for req in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /readyz?verbose HTTP/1.0\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
                b"POST /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
                b"GET /info HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"GET /nope HTTP/1.1\r\nX: " + b"a" * 100 + b"\r\n\r\n"):
        out.add("responder", bytes([1]) + req)

    # YAML: workflow configs, CRDs, examples; client configs
    for p in sorted(glob.glob(os.path.join(ROOT, "crds", "*.yaml")) +
                    glob.glob(os.path.join(ROOT, "tests", "examples", "*.yaml"))):
        out.add("cli_yaml", open(p, "rb").read())
    out.add("cli_yaml", b"source:\n  type: mysql\n  sourceConfig:\n    config:\n      type: DatabaseMetadata\n"
            b"workflowConfig:\n  openMetadataServerConfig:\n    hostPort: 'http://x:8585/api'\n"
            b"    securityConfig: {jwtToken: \"a.b.c\"}\nn: [1, -2.5e3, 0x1f, .inf, ~, yes, !!str 3]\n")
    out.add("cli_yaml", b'{"a": [1, 2, {"b": null}], "c": "\\u00e9"}')
    out.add("cli_config", b"namespace: pipelines\ningestionImage: openmetadata/ingestion:1.5\n"
            b"useOMJobOperator: true\nttlSecondsAfterFinished: 3600\n")
    out.add("cli_config", b"{}")
    out.add("cli_config", b"namespace: 3\n")

    # OMJobs for the pod builder (YAML examples as JSON)
    try:
        import json
        import yaml
        for p in sorted(glob.glob(os.path.join(ROOT, "tests", "examples", "*.yaml"))):
            for doc in yaml.safe_load_all(open(p)):
                if isinstance(doc, dict) and doc.get("kind") == "OMJob":
                    doc.setdefault("metadata", {}).setdefault("uid", "u-1")
                    out.add("podenv", json.dumps(doc))
    except ImportError:
        pass
    out.add("podenv", '{"metadata":{"name":"x","namespace":"n","uid":"u"},"spec":{"mainPodSpec":'
            '{"image":"i","env":[{"name":"OMJOB_NAME","value":"mine"},{"name":"A","valueFrom":'
            '{"secretKeyRef":{"name":"s","key":"k"}}}]},"exitHandlerSpec":{"env":[{"name":'
            '"pipelineStatus","value":"x"}]}}}')

    # placeholders and log chunks
    for s in (b"{{ omjob.name }}", b"run-{{omjob.uid}}-{{ omjob.name}}", b"{{ omjob.nam }}",
              b"{{\tomjob.uid\t}}{{", b"plain"):
        out.add("placeholder", b"\x05" + s)
    out.add("chunker", bytes([4, 1]) + "héllo wörld ☃ 😀\n".encode() * 20)
    out.add("chunker", bytes([5, 0]) + b"\xf0\x9f\x98\x80\xff\xc3(\xe2\x82" * 9)

    for t in sorted(out.count):
        print(f"seeds: {t}: {out.count[t]}")


if __name__ == "__main__":
    main()
