"""Small helpers shared by the fake API server modules: time formats, Status bodies, errors."""
import datetime
import json
import time
import uuid


def now_ts(t=None):
    """RFC3339 timestamp with second precision, like metav1.Time."""
    if t is None:
        t = time.time()
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def shortened_deletion(md, grace, scale=1.0):
    """A pod already being deleted gets a shorter grace period (the kubelet's final DELETE with
    grace 0, or a user's): like the API server's BeforeDelete, the new deletionTimestamp is the
    old one minus the old grace plus the new, so deletionTimestamp - deletionGracePeriodSeconds
    stays the time of the original request (../shared/k8s-wire/38: 03:40:00 with 30 s becomes
    03:39:30 with 0), not the time of the final DELETE."""
    old = parse_ts(md.get("deletionTimestamp"))
    if old is None:
        old = time.time()
    md["deletionTimestamp"] = now_ts(old - (md.get("deletionGracePeriodSeconds", 0) - grace) * scale)
    md["deletionGracePeriodSeconds"] = grace


def micro_ts(t=None):
    if t is None:
        t = time.time()
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(s):
    """Parse an RFC3339 timestamp (with or without fraction) to epoch seconds."""
    if not s:
        return None
    s = s.replace("Z", "+00:00")
    try:
        return datetime.datetime.fromisoformat(s).timestamp()
    except ValueError:
        return None


def new_uid():
    return str(uuid.uuid4())


def dumps(obj, sort_keys=False, pretty=False):
    if pretty:
        return json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False)
    return json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys, ensure_ascii=False)


def status_body(code, reason, message, details=None, status="Failure"):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": status}
    if message is not None:
        body["message"] = message
    if reason is not None:
        body["reason"] = reason
    if details is not None:
        body["details"] = details
    if code is not None:
        body["code"] = code
    return body


class ApiError(Exception):
    """An error answered to the client as a Status body with HTTP code == status.code."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self):
        return status_body(self.code, self.reason, self.message, self.details)


def qualified(rdef):
    """'pods' or 'widgets.wire.example.com' as used in messages."""
    return rdef.plural if not rdef.group else "%s.%s" % (rdef.plural, rdef.group)


def _details(rdef, name, kind=None):
    d = {}
    if name is not None:
        d["name"] = name
    if rdef.group:
        d["group"] = rdef.group
    d["kind"] = kind or rdef.plural
    return d


def not_found(rdef, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified(rdef), name), _details(rdef, name))


def already_exists(rdef, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(rdef), name), _details(rdef, name))


def conflict(rdef, name):
    return ApiError(409, "Conflict",
                    'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                    "please apply your changes to the latest version and try again" % (qualified(rdef), name),
                    _details(rdef, name))


def invalid(rdef, name, causes, kind_in_details=None, qualify_kind=False):
    """causes: list of (reason, field, message-without-field). Message like 'Pod "x" is invalid: ...'."""
    kind = kind_in_details or rdef.kind
    label = kind
    if qualify_kind and rdef.group:
        label = "%s.%s" % (rdef.kind, rdef.group)
    parts = []
    for (_, f, m) in causes:
        if "%s: %s" % (f, m) not in parts:
            parts.append("%s: %s" % (f, m))
    if len(parts) == 1:
        msg = '%s "%s" is invalid: %s' % (label, name, parts[0])
    else:
        msg = '%s "%s" is invalid: [%s]' % (label, name, ", ".join(parts))
    det = _details(rdef, name, kind)
    det["causes"] = [{"reason": r, "message": m, "field": f} for (r, f, m) in causes]
    return ApiError(422, "Invalid", msg, det)


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def deep_copy(o):
    # JSON-shaped data only; faster than copy.deepcopy
    if isinstance(o, dict):
        return {k: deep_copy(v) for k, v in o.items()}
    if isinstance(o, list):
        return [deep_copy(v) for v in o]
    return o
