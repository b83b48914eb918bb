"""Minimal decoder of Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf).

kubectl sends protobuf for `kubectl create namespace|configmap|secret|serviceaccount`. Only those kinds (and the
ObjectMeta fields a client sets on create) are understood; other protobuf bodies get 415.
"""
import base64

MAGIC = b"k8s\x00"


class ProtoError(Exception):
    pass


def _varint(b, i):
    shift = 0
    out = 0
    while True:
        if i >= len(b):
            raise ProtoError("truncated varint")
        c = b[i]
        i += 1
        out |= (c & 0x7F) << shift
        if not c & 0x80:
            return out, i
        shift += 7


def fields(b):
    """Yields (field_number, wire_type, value) with value bytes for wire type 2, int otherwise."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v = b[i:i + n]
            i += n
        elif wt == 1:
            v = int.from_bytes(b[i:i + 8], "little")
            i += 8
        elif wt == 5:
            v = int.from_bytes(b[i:i + 4], "little")
            i += 4
        else:
            raise ProtoError("wire type %d" % wt)
        yield num, wt, v


def _str(v):
    return v.decode("utf-8")


def _map(entries, value=_str):
    out = {}
    for e in entries:
        k = val = None
        for n, _, v in fields(e):
            if n == 1:
                k = _str(v)
            elif n == 2:
                val = value(v)
        out[k] = val if val is not None else value(b"")
    return out


def _owner_ref(b):
    o = {}
    for n, _, v in fields(b):
        if n == 1:
            o["kind"] = _str(v)
        elif n == 3:
            o["name"] = _str(v)
        elif n == 4:
            o["uid"] = _str(v)
        elif n == 5:
            o["apiVersion"] = _str(v)
        elif n == 6:
            o["controller"] = bool(v)
        elif n == 7:
            o["blockOwnerDeletion"] = bool(v)
    return o


def object_meta(b):
    md = {}
    labels, ann, fins, owners = [], [], [], []
    for n, _, v in fields(b):
        if n == 1:
            md["name"] = _str(v)
        elif n == 2:
            md["generateName"] = _str(v)
        elif n == 3:
            md["namespace"] = _str(v)
        elif n == 6:
            md["resourceVersion"] = _str(v)
        elif n == 11:
            labels.append(v)
        elif n == 12:
            ann.append(v)
        elif n == 13:
            owners.append(_owner_ref(v))
        elif n == 14:
            fins.append(_str(v))
    if labels:
        md["labels"] = _map(labels)
    if ann:
        md["annotations"] = _map(ann)
    if owners:
        md["ownerReferences"] = owners
    if fins:
        md["finalizers"] = fins
    return {k: v for k, v in md.items() if v != ""}


def _b64(v):
    return base64.b64encode(v).decode()


def decode(body):
    """Returns a JSON-shaped dict for a protobuf-encoded object, or raises ProtoError."""
    if not body.startswith(MAGIC):
        raise ProtoError("missing k8s protobuf magic")
    api_version = kind = None
    raw = b""
    for n, _, v in fields(body[len(MAGIC):]):
        if n == 1:
            for m, _, w in fields(v):
                if m == 1:
                    api_version = _str(w)
                elif m == 2:
                    kind = _str(w)
        elif n == 2:
            raw = v
    obj = {"apiVersion": api_version, "kind": kind}
    groups = {}
    for n, wt, v in fields(raw):
        groups.setdefault(n, []).append(v)
    md = groups.get(1)
    obj["metadata"] = object_meta(md[0]) if md else {}
    if kind == "Namespace":
        pass
    elif kind == "ConfigMap":
        if 2 in groups:
            obj["data"] = _map(groups[2])
        if 3 in groups:
            obj["binaryData"] = _map(groups[3], _b64)
        if 4 in groups:
            obj["immutable"] = bool(groups[4][0])
    elif kind == "Secret":
        if 2 in groups:
            obj["data"] = _map(groups[2], _b64)
        if 3 in groups:
            obj["type"] = _str(groups[3][0])
        if 4 in groups:
            obj["stringData"] = _map(groups[4])
        if 5 in groups:
            obj["immutable"] = bool(groups[5][0])
    elif kind == "ServiceAccount":
        if 4 in groups:
            obj["automountServiceAccountToken"] = bool(groups[4][0])
    else:
        raise ProtoError("protobuf bodies of kind %s are not supported by the fake" % kind)
    return obj
