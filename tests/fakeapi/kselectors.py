"""Label and field selectors (the subset of the real grammar that clients use)."""
import re

from kutil import bad_request

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VAL = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


class _Lexer:
    def __init__(self, s):
        self.toks = re.findall(r"!=|==|=|!|\(|\)|,|[^\s!=(),]+|\s+", s)
        self.toks = [t for t in self.toks if not t.isspace()]
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else ""

    def next(self):
        t = self.peek()
        self.i += 1
        return t


def parse_label_selector(s):
    """Returns a list of requirements (key, op, values). Raises ApiError 400 on a bad selector."""
    reqs = []
    if s is None or s.strip() == "":
        return reqs
    lx = _Lexer(s)
    while True:
        t = lx.next()
        if t == "":
            raise bad_request("unable to parse requirement: found '', expected: identifier")
        if t == "!":
            key = lx.next()
            if not key or not re.fullmatch(_KEY, key):
                raise bad_request("unable to parse requirement: found '%s', expected: identifier" % key)
            reqs.append((key, "!", []))
        else:
            key = t
            if not re.fullmatch(_KEY, key):
                raise bad_request("unable to parse requirement: found '%s', expected: identifier" % key)
            op = lx.peek()
            if op in ("=", "==", "!="):
                lx.next()
                v = lx.peek()
                if v in ("", ",") :
                    v = ""
                else:
                    lx.next()
                if v and not re.fullmatch(_VAL, v):
                    raise bad_request("unable to parse requirement: values[0]: Invalid value: %r" % v)
                reqs.append((key, "!=" if op == "!=" else "=", [v]))
            elif op in ("in", "notin"):
                lx.next()
                if lx.next() != "(":
                    raise bad_request("unable to parse requirement: found '%s', expected: '('" % lx.toks[lx.i - 1])
                vals = []
                while True:
                    v = lx.next()
                    if v == "":
                        raise bad_request("unable to parse requirement: found '', expected: ',', ')' or identifier")
                    if v == ")":
                        break
                    if v == ",":
                        continue
                    vals.append(v)
                reqs.append((key, op, vals))
            elif op in ("", ","):
                reqs.append((key, "exists", []))
            else:
                raise bad_request("unable to parse requirement: found '%s', expected: '=', '!=', '==', 'in', notin'" % op)
        t = lx.next()
        if t == "":
            break
        if t != ",":
            raise bad_request("found '%s', expected: ',' or 'end of string'" % t)
    return reqs


def label_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=":
            if not has or v != vals[0]:
                return False
        elif op == "!=":
            if has and v == vals[0]:
                return False
        elif op == "in":
            if not has or v not in vals:
                return False
        elif op == "notin":
            if has and v in vals:
                return False
        elif op == "exists":
            if not has:
                return False
        elif op == "!":
            if has:
                return False
    return True


POD_FIELDS = {
    "metadata.name": lambda o: o["metadata"].get("name", ""),
    "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
    "spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
    "spec.restartPolicy": lambda o: o.get("spec", {}).get("restartPolicy", ""),
    "spec.schedulerName": lambda o: o.get("spec", {}).get("schedulerName", ""),
    "spec.serviceAccountName": lambda o: o.get("spec", {}).get("serviceAccountName", ""),
    "status.phase": lambda o: o.get("status", {}).get("phase", ""),
    "status.podIP": lambda o: o.get("status", {}).get("podIP", ""),
    "status.nominatedNodeName": lambda o: o.get("status", {}).get("nominatedNodeName", ""),
}
BASE_FIELDS = {
    "metadata.name": POD_FIELDS["metadata.name"],
    "metadata.namespace": POD_FIELDS["metadata.namespace"],
}


def _dig(path):
    def f(o):
        cur = o
        for p in path.split("."):
            if not isinstance(cur, dict):
                return ""
            cur = cur.get(p)
        if cur is None:
            return ""
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return str(cur)
    return f


EVENT_FIELDS = dict(BASE_FIELDS)
for _p in ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
           "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
           "reason", "reportingComponent", "source", "type"]:
    EVENT_FIELDS[_p] = _dig(_p)
EVENT_FIELDS["source"] = _dig("source.component")

FIELDS_BY_RESOURCE = {
    "/pods": POD_FIELDS,
    "/events": EVENT_FIELDS,
    "/secrets": dict(BASE_FIELDS, type=_dig("type")),
    "/nodes": dict(BASE_FIELDS, **{"spec.unschedulable": _dig("spec.unschedulable")}),
    "/namespaces": dict(BASE_FIELDS, **{"status.phase": _dig("status.phase")}),
    "batch/jobs": dict(BASE_FIELDS, **{"status.successful": _dig("status.succeeded")}),
}


def parse_field_selector(s, rkey):
    reqs = []
    if s is None or s.strip() == "":
        return reqs
    fields = FIELDS_BY_RESOURCE.get(rkey, BASE_FIELDS)
    for part in s.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", part)
        if not m:
            raise bad_request("invalid selector: '%s'; can't understand '%s'" % (s, part))
        key, op, val = m.group(1).strip(), m.group(2), m.group(3).strip()
        if key not in fields:
            raise bad_request("field label not supported: %s" % key)
        reqs.append((fields[key], op != "!=", val))
    return reqs


def field_match(reqs, obj):
    for getter, eq, val in reqs:
        if (getter(obj) == val) != eq:
            return False
    return True
