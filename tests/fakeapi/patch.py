"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a small strategic merge patch."""
from kutil import deep_copy


class PatchTestFailed(Exception):
    pass


class PatchError(Exception):
    pass


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return deep_copy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _unescape(tok):
    return tok.replace("~1", "/").replace("~0", "~")


def _split(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % path)
    return [_unescape(t) for t in path[1:].split("/")]


def _walk(doc, toks):
    cur = doc
    for t in toks:
        if isinstance(cur, dict):
            if t not in cur:
                raise PatchError("missing path")
            cur = cur[t]
        elif isinstance(cur, list):
            try:
                cur = cur[int(t)]
            except (ValueError, IndexError):
                raise PatchError("bad index")
        else:
            raise PatchError("bad path")
    return cur


def _add(doc, toks, value, replace=False):
    if not toks:
        return value
    parent = _walk(doc, toks[:-1])
    last = toks[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError("replace of missing key")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            if replace:
                raise PatchError("bad index")
            parent.append(value)
        else:
            try:
                i = int(last)
            except ValueError:
                raise PatchError("bad index")
            if replace:
                if i < 0 or i >= len(parent):
                    raise PatchError("bad index")
                parent[i] = value
            else:
                if i < 0 or i > len(parent):
                    raise PatchError("bad index")
                parent.insert(i, value)
    else:
        raise PatchError("bad parent")
    return doc


def _remove(doc, toks):
    parent = _walk(doc, toks[:-1])
    last = toks[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError("remove of missing key")
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError):
            raise PatchError("bad index")
    raise PatchError("bad parent")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list")
    doc = deep_copy(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError("bad op")
        kind = op.get("op")
        toks = _split(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, toks, deep_copy(op.get("value")))
        elif kind == "remove":
            _remove(doc, toks)
        elif kind == "replace":
            doc = _add(doc, toks, deep_copy(op.get("value")), replace=True)
        elif kind == "move":
            v = _remove(doc, _split(op.get("from", "")))
            doc = _add(doc, toks, v)
        elif kind == "copy":
            v = deep_copy(_walk(doc, _split(op.get("from", ""))))
            doc = _add(doc, toks, v)
        elif kind == "test":
            try:
                cur = _walk(doc, toks)
            except PatchError:
                raise PatchTestFailed()
            if cur != op.get("value"):
                raise PatchTestFailed()
        else:
            raise PatchError("unknown op %r" % kind)
    return doc


# Lists merged by key in strategic merge patch (path suffix -> merge key).
SMP_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "volumes": "name",
    "env": "name", "ports": "containerPort", "volumeMounts": "mountPath", "imagePullSecrets": "name",
    "tolerations": "key", "conditions": "type", "ownerReferences": "uid", "taints": "key",
    "containerStatuses": "name", "initContainerStatuses": "name", "hostAliases": "ip",
}
SMP_SETS = {"finalizers"}


def strategic_merge(target, patch, field=None):
    if not isinstance(patch, dict):
        return deep_copy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    directive = patch.get("$patch")
    if directive == "replace":
        p = {k: v for k, v in patch.items() if k != "$patch"}
        return deep_copy(p)
    if directive == "delete":
        return None
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if k.startswith("$setElementOrder/") or k.startswith("$deleteFromPrimitiveList/"):
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in SMP_KEYS and isinstance(out.get(k), list):
            out[k] = _merge_list(out[k], v, SMP_KEYS[k])
        elif isinstance(v, list) and k in SMP_SETS and isinstance(out.get(k), list):
            merged = list(out[k])
            for x in v:
                if x not in merged:
                    merged.append(x)
            out[k] = merged
        elif isinstance(v, dict):
            out[k] = strategic_merge(out.get(k), v, k)
        else:
            out[k] = deep_copy(v)
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            if isinstance(out.get(name), list):
                out[name] = [x for x in out[name] if x not in v]
    return out


def _merge_list(cur, patch, key):
    out = [deep_copy(x) for x in cur]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            out.append(deep_copy(item))
            continue
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append({k: deep_copy(v) for k, v in item.items() if k != "$patch"})
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out
