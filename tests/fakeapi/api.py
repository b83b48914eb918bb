"""REST semantics of the fake API server: create/get/list/update/patch/delete with the real server's rules.

The HTTP layer (server.py) parses requests and calls into `Api`; controllers (sim.py) use the same store.
"""
import base64
import json
import re
import time

import kinds
from kutil import (ApiError, already_exists, bad_request, conflict, deep_copy, invalid, not_found, now_ts,
                   new_uid, shortened_deletion, status_body, qualified)
from patch import PatchError, PatchTestFailed, json_patch, merge_patch, strategic_merge
import crvalidate
from resources import apply_schema
from kselectors import field_match, label_match, parse_field_selector, parse_label_selector

# Resources whose DELETE returns the object rather than a Status (registry ReturnDeletedObject).
RETURNS_DELETED_OBJECT = {"/pods", "/namespaces"}
# Resources carrying metadata.generation.
HAS_GENERATION = {"batch/jobs", "batch/cronjobs", "apiextensions.k8s.io/customresourcedefinitions"}
# Resources whose default propagation policy is orphan (batch/v1 compatibility behaviour).
DEFAULT_ORPHAN = {"batch/jobs", "batch/cronjobs"}
NS_RKEY = "/namespaces"


def fields_v1(obj, depth=0):
    out = {}
    if not isinstance(obj, dict) or depth > 6:
        return out
    for k, v in obj.items():
        if depth == 0 and k in ("apiVersion", "kind", "status"):
            continue
        if depth == 0 and k == "metadata":
            md = {kk: vv for kk, vv in v.items() if kk in ("labels", "annotations", "finalizers", "ownerReferences")}
            if md:
                out["f:metadata"] = fields_v1(md, depth + 1)
            continue
        out["f:" + k] = fields_v1(v, depth + 1) if isinstance(v, dict) else {}
    return out


def _leaf_paths(obj, prefix=()):
    """Leaf paths of an applied config, in the granularity of fields_v1 (lists are leaves)."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not prefix and k in ("apiVersion", "kind"):
                continue
            if not prefix and k == "metadata":
                for mk in ("labels", "annotations"):
                    for lk in (v or {}).get(mk) or {}:
                        out.append(("metadata", mk, lk))
                continue
            if isinstance(v, dict) and v:
                out += _leaf_paths(v, prefix + (k,))
            else:
                out.append(prefix + (k,))
    return out


def _fields_paths(fv1, prefix=()):
    out = []
    for k, v in fv1.items():
        if not k.startswith("f:"):
            continue
        if isinstance(v, dict) and any(kk.startswith("f:") for kk in v):
            out += _fields_paths(v, prefix + (k[2:],))
        else:
            out.append(prefix + (k[2:],))
    return out


def _paths_to_fields(paths):
    out = {}
    for p in paths:
        cur = out
        for k in p:
            cur = cur.setdefault("f:" + k, {})
    return out


def _get_path(obj, path):
    cur = obj
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur


def _del_path(obj, path):
    cur = obj
    for k in path[:-1]:
        if not isinstance(cur, dict) or k not in cur:
            return
        cur = cur[k]
    if isinstance(cur, dict):
        cur.pop(path[-1], None)


class Api:
    def __init__(self, store, registry, opts):
        self.store = store
        self.registry = registry
        self.opts = opts
        self.time_scale = opts.time_scale

    # --- helpers -----------------------------------------------------------------------------
    def has_generation(self, rdef):
        return rdef.crd or rdef.key in HAS_GENERATION

    def _core(self, rdef):
        return self.registry.by_resource_key(rdef.store_key) if rdef.store_key else rdef

    def output(self, rdef, obj, version=None, subresource=None):
        """The object as sent to a client (apiVersion of the requested version, selfLink)."""
        o = dict(obj)
        if rdef.conv_out and o.get("kind") != "Status":
            o = rdef.conv_out(o)
        md = dict(o["metadata"])
        md["selfLink"] = rdef.self_link(md.get("namespace"), md.get("name"), version) + (
            "/" + subresource if subresource else "")
        o["metadata"] = md
        if version and rdef.crd:
            o["apiVersion"] = rdef.api_version(version)
        return o

    def _managed(self, obj, manager, api_version, op="Update"):
        if not manager:
            return
        ent = {"manager": manager, "operation": op, "apiVersion": api_version, "time": now_ts(),
               "fieldsType": "FieldsV1", "fieldsV1": fields_v1(obj)}
        mf = [m for m in obj["metadata"].get("managedFields") or [] if not (m.get("manager") == manager and m.get("operation") == op)]
        mf.append(ent)
        obj["metadata"]["managedFields"] = mf

    def _check_namespace(self, rdef, ns, creating=False, name=None):
        if rdef.namespaced:
            if not ns:
                raise bad_request("the server could not find the requested resource")
            nso = self.store.get(NS_RKEY, "", ns)
            if nso is None:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % ns, {"name": ns, "kind": "namespaces"})
            if creating and nso["metadata"].get("deletionTimestamp"):
                raise ApiError(403, "Forbidden", "%s \"%s\" is forbidden: unable to create new content in namespace %s because "
                               "it is being terminated" % (qualified(rdef), name, ns),
                               dict(self._details(rdef, name), causes=[{"reason": "NamespaceTerminating", "message":
                                    "namespace %s is being terminated" % ns, "field": "metadata.namespace"}]))
            return nso
        return None

    def _decode(self, rdef, body):
        if isinstance(body, (bytes, bytearray)):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise bad_request("the object provided is unrecognized (must be of type %s): invalid utf-8" % rdef.kind)
        else:
            text = body
        try:
            obj = json.loads(text)
        except ValueError:
            snippet = text[:40].replace('"', '"')
            raise bad_request("the object provided is unrecognized (must be of type %s): couldn't get version/kind; "
                              "json parse error: unexpected end of JSON input (%s ...)" % (rdef.kind, snippet[:30]))
        if not isinstance(obj, dict):
            raise bad_request("the object provided is unrecognized (must be of type %s): couldn't get version/kind; "
                              "json parse error: cannot unmarshal into Go value of type struct" % rdef.kind)
        return obj

    def _typecheck(self, rdef, obj):
        md = obj.get("metadata")
        if md is not None and not isinstance(md, dict):
            raise bad_request('%s in version "v1" cannot be handled as a %s: metadata must be an object' % (rdef.kind, rdef.kind))
        md = md or {}
        for k in ("name", "namespace", "generateName", "resourceVersion", "uid"):
            if k in md and md[k] is not None and not isinstance(md[k], str):
                raise bad_request('%s in version "%s" cannot be handled as a %s: v1.%s.Spec: v1.%sSpec.ObjectMeta: v1.ObjectMeta.%s: '
                                  'ReadString: expects " or n, but found %s, error found in #10 byte of ...|%s|...' % (
                                      rdef.kind, rdef.storage_version, rdef.kind, rdef.kind, rdef.kind, k[0].upper() + k[1:],
                                      json.dumps(md[k])[:1], json.dumps({"metadata": {k: md[k]}})[12:40]))
        for k in ("labels", "annotations"):
            if k in md and md[k] is not None:
                if not isinstance(md[k], dict) or not all(isinstance(v, str) for v in md[k].values()):
                    raise bad_request('%s in version "%s" cannot be handled as a %s: v1.ObjectMeta.%s: ReadString: expects " or n'
                                      % (rdef.kind, rdef.storage_version, rdef.kind, k[0].upper() + k[1:]))
        self._check_microtimes(rdef, obj)
        if "finalizers" in md and md["finalizers"] is not None and not isinstance(md["finalizers"], list):
            raise bad_request('%s in version "%s" cannot be handled as a %s: v1.ObjectMeta.Finalizers: decode slice: expect [ or n'
                              % (rdef.kind, rdef.storage_version, rdef.kind))

    MICRO_RX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")
    MICRO_FIELDS = {"coordination.k8s.io/leases": [("spec", "acquireTime", "v1.Lease.Spec: v1.LeaseSpec.AcquireTime"),
                                                   ("spec", "renewTime", "v1.Lease.Spec: v1.LeaseSpec.RenewTime")],
                    "/events": [(None, "eventTime", "v1.Event.EventTime")],
                    "events.k8s.io/events": [(None, "eventTime", "v1.Event.EventTime")]}

    def _check_microtimes(self, rdef, obj):
        """MicroTime fields need exactly 6 fractional digits, else the real decoder fails with 400."""
        for parent, field, gopath in self.MICRO_FIELDS.get(rdef.key, []):
            holder = obj.get(parent) if parent else obj
            v = holder.get(field) if isinstance(holder, dict) else None
            if not isinstance(v, str) or self.MICRO_RX.match(v):
                continue
            m = re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(.*)$", v)
            rest = m.group(1) if m else v
            raise bad_request('%s in version "%s" cannot be handled as a %s: %s: unmarshalerDecoder: parsing time "%s" as '
                              '"2006-01-02T15:04:05.000000Z07:00": cannot parse "%s" as ".000000", error found in #10 byte of ...|%s"}|...'
                              % (rdef.kind, rdef.storage_version, rdef.kind, gopath, v, rest, v[-10:]))

    # --- create ---------------------------------------------------------------------------------
    def create(self, rdef, ns, body, version, manager, dry_run=False):
        obj = self._decode(rdef, body) if not isinstance(body, dict) else body
        self._typecheck(rdef, obj)
        if rdef.store_key:
            self._validate_alias(rdef, obj)
            core = self._core(rdef)
            return self.create(core, ns, rdef.conv_in(obj), core.storage_version, manager, dry_run)
        md = obj.get("metadata") or {}
        name = md.get("name") or ""
        if not name and md.get("generateName"):
            name = md["generateName"] + kinds.rand_suffix()
        if not name:
            raise invalid(rdef, "", [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")])
        if rdef.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        causes = kinds.name_causes(name, label=rdef.plural == "namespaces")
        if rdef.plural == "pods" and not rdef.group:
            causes += kinds.validate_pod(obj)
        elif rdef.key == "batch/jobs":
            causes += kinds.validate_job(obj)
        elif rdef.key == "apiextensions.k8s.io/customresourcedefinitions":
            obj.setdefault("metadata", {})["name"] = name
            causes += kinds.validate_crd(obj)
        if causes:
            raise invalid(rdef, name, causes, qualify_kind=rdef.crd)
        with self.store.lock:
            self._check_namespace(rdef, ns, creating=True, name=name)
            if self.store.get(rdef.key, ns if rdef.namespaced else "", name) is not None:
                raise already_exists(rdef, name)
            new = self._build_new(rdef, ns, name, obj, version, manager)
            if dry_run:
                return new
            stored = self.store.create(rdef.key, new)
            if rdef.key == NS_RKEY:
                self._service_account(name, "default")
            elif rdef.key == "/serviceaccounts" and not new.get("secrets"):
                stored = self._token_secret(stored)
            return stored

    def _service_account(self, ns, name):
        """What the service-account and token controllers do for a new namespace (synchronously here)."""
        sa = {"kind": "ServiceAccount", "apiVersion": "v1",
              "metadata": {"name": name, "namespace": ns, "uid": new_uid(), "creationTimestamp": now_ts()}}
        self._token_secret(self.store.create("/serviceaccounts", sa))

    def _token_secret(self, sa):
        import kinds as _k
        ns, name = sa["metadata"]["namespace"], sa["metadata"]["name"]
        sname = "%s-token-%s" % (name, _k.rand_suffix())
        ca = b""
        try:
            with open(self.opts.ca_path, "rb") as f:
                ca = f.read()
        except (OSError, AttributeError, TypeError):
            pass
        sec = {"kind": "Secret", "apiVersion": "v1",
               "metadata": {"name": sname, "namespace": ns, "uid": new_uid(), "creationTimestamp": now_ts(),
                            "annotations": {"kubernetes.io/service-account.name": name,
                                            "kubernetes.io/service-account.uid": sa["metadata"]["uid"]}},
               "data": {"ca.crt": base64.b64encode(ca).decode(), "namespace": base64.b64encode(ns.encode()).decode(),
                        "token": base64.b64encode(("fake-sa-token-" + new_uid()).encode()).decode()},
               "type": "kubernetes.io/service-account-token"}
        self.store.create("/secrets", sec)
        new = deep_copy(sa)
        new["secrets"] = [{"name": sname}]
        return self.store.replace("/serviceaccounts", new)

    def _build_new(self, rdef, ns, name, obj, version, manager):
        md_in = obj.get("metadata") or {}
        md = {"name": name}
        if rdef.namespaced:
            md["namespace"] = ns
        if md_in.get("generateName"):
            md["generateName"] = md_in["generateName"]
        md["uid"] = new_uid()
        md["resourceVersion"] = ""
        if self.has_generation(rdef):
            md["generation"] = 1
        md["creationTimestamp"] = now_ts()
        for k in ("labels", "annotations", "ownerReferences", "finalizers"):
            if md_in.get(k):
                md[k] = md_in[k]
        new = {"kind": rdef.kind, "apiVersion": rdef.api_version(version if rdef.crd else None), "metadata": md}
        for k, v in obj.items():
            if k not in ("kind", "apiVersion", "metadata"):
                new[k] = v
        if rdef.crd:
            if rdef.status:
                new.pop("status", None)
            new = self._cr_schema(rdef, new, version, name)
        elif rdef.key == "/pods":
            tv = None
            sa_name = (new.get("spec") or {}).get("serviceAccountName") or (new.get("spec") or {}).get("serviceAccount") or "default"
            sa = self.store.get("/serviceaccounts", ns, sa_name)
            if sa is None and self.opts.sa_admission:
                raise ApiError(403, "Forbidden", 'pods "%s" is forbidden: service account %s/%s was not found, retry after the '
                               "service account is created" % (name, ns, sa_name), {"name": name, "kind": "pods"})
            if self.opts.token_volume and sa is not None and sa.get("automountServiceAccountToken") is not False:
                secrets = [s.get("name") for s in sa.get("secrets") or [] if s.get("name")]
                tv = secrets[0] if secrets else None
            kinds.default_pod(new, tv)
        elif rdef.key == NS_RKEY:
            kinds.default_namespace(new)
        elif rdef.key == "/events":
            kinds.default_event(new)
        elif rdef.key == "/secrets":
            kinds.default_secret(new)
        elif rdef.key == "batch/jobs":
            kinds.default_job(new)
        elif rdef.key == "batch/cronjobs":
            kinds.default_cronjob(new)
        elif rdef.key == "apiextensions.k8s.io/customresourcedefinitions":
            kinds.default_crd(new)
        elif rdef.status:
            new.pop("status", None) if rdef.key != "/nodes" else None
        self._managed(new, manager, new["apiVersion"])
        return new

    def _cr_schema(self, rdef, obj, version, name):
        """A custom resource as the real server stores it: nulls pruned (from 1.20 on), unknown fields pruned,
        defaults applied, then the OpenAPI v3 validation of the whole object (crvalidate) -> 422 Invalid."""
        schema = rdef.schemas.get(version)
        if not schema:
            return obj
        ver = getattr(self.opts, "server_version", (1, 19))
        if ver >= crvalidate.PRUNES_NULLS:
            crvalidate.prune_nulls(obj, schema)
        obj = apply_schema(obj, schema)
        causes = crvalidate.validate(obj, schema, ver, getattr(self.opts, "reject_empty_strings", False))
        if causes:
            raise invalid(rdef, name, causes, qualify_kind=True)
        return obj

    def _validate_alias(self, rdef, obj):
        if rdef.key != "events.k8s.io/events":
            return
        name = (obj.get("metadata") or {}).get("name", "")
        causes = []
        rc = obj.get("reportingController") or ""
        rx = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
        if not rc:
            causes.append(("FieldValueRequired", "reportingController", "Required value"))
        part = rc.split("/")[-1]
        if not part:
            causes.append(("FieldValueInvalid", "reportingController", 'Invalid value: "%s": name part must be non-empty' % part))
        if not re.match(rx, part):
            causes.append(("FieldValueInvalid", "reportingController",
                           'Invalid value: "%s": name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must '
                           "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
                           "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')" % part))
        if not obj.get("reportingInstance"):
            causes.append(("FieldValueRequired", "reportingInstance", "Required value"))
        if not obj.get("eventTime"):
            causes.append(("FieldValueRequired", "eventTime", "Required value"))
        if not obj.get("action"):
            causes.append(("FieldValueRequired", "action", "Required value"))
        if obj.get("type") not in ("Normal", "Warning"):
            causes.append(("FieldValueInvalid", "type", 'Invalid value: "%s": has invalid value: %s' % (obj.get("type", ""), obj.get("type", ""))))
        if causes:
            det_rdef = self._core(rdef)
            raise invalid(det_rdef, name, causes)

    # --- read -----------------------------------------------------------------------------------
    def get(self, rdef, ns, name):
        obj = self.store.get(self._core(rdef).key, ns if rdef.namespaced else "", name)
        if obj is None:
            raise not_found(rdef, name)
        return obj

    def list(self, rdef, ns, query, version):
        """Returns the List object. Handles selectors, limit/continue, resourceVersion semantics."""
        lsel = parse_label_selector(query.get("labelSelector"))
        fsel = parse_field_selector(query.get("fieldSelector"), self._core(rdef).key)
        limit = int(query.get("limit") or 0)
        cont = query.get("continue")
        rv_q = query.get("resourceVersion")
        start = None
        list_rv = None
        if cont:
            try:
                pad = "=" * (-len(cont) % 4)
                tok = json.loads(base64.urlsafe_b64decode(cont + pad))
                list_rv = int(tok["rv"])
                start = tok["start"]
            except Exception:
                raise bad_request("continue key is not valid: illegal base64 data at input byte 0")
            if list_rv < self.store.min_rv(self._core(rdef).key) and self.opts.strict_continue:
                raise ApiError(410, "Expired", "The provided continue parameter is too old to display a consistent list "
                               "result. You can start a new list without the continue parameter, or use the continue token "
                               "in this response to retrieve the remainder of the results. Continuing with the provided token "
                               "results in an inconsistent list - objects that were created, modified, or deleted between the "
                               "time the first chunk was returned and now may show up in the list.")
        elif rv_q and rv_q != "0":
            try:
                want = int(rv_q)
            except ValueError:
                raise bad_request('invalid resource version: strconv.ParseUint: parsing "%s": invalid syntax' % rv_q)
            if want > self.store.rv:
                deadline = time.time() + 3.0
                with self.store.lock:
                    while self.store.rv < want and time.time() < deadline:
                        self.store.cond.wait(deadline - time.time())
                    if self.store.rv < want:
                        raise ApiError(504, "Timeout", "Timeout: Too large resource version: %d, current: %d" % (want, self.store.rv),
                                       {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                                        "retryAfterSeconds": 1}, headers={"Retry-After": "1"})
            if limit and query.get("resourceVersionMatch", "") != "NotOlderThan" and want < self.store.min_rv(self._core(rdef).key):
                raise ApiError(410, "Expired", "The resourceVersion for the provided list is too old.")
        with self.store.lock:
            items = self.store.list(self._core(rdef).key, ns if rdef.namespaced else None)
            cur_rv = self.store.rv
        if list_rv is None:
            list_rv = cur_rv
        if lsel or fsel:
            items = [o for o in items if label_match(lsel, o["metadata"].get("labels")) and field_match(fsel, o)]
        if start is not None:
            def k(o):
                md = o["metadata"]
                return (md.get("namespace", "") + "/" + md["name"]) if not (rdef.namespaced and ns) else md["name"]
            items = [o for o in items if k(o) >= start]
        meta = {"selfLink": rdef.self_link(ns if rdef.namespaced else None, None, version), "resourceVersion": str(list_rv)}
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            nxt = (last.get("namespace", "") + "/" + last["name"]) if not (rdef.namespaced and ns) else last["name"]
            tok = {"v": "meta.k8s.io/v1", "rv": list_rv, "start": nxt + "\u0000"}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(tok, separators=(",", ":")).encode()).decode().rstrip("=")
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        out_items = []
        for o in items:
            oo = self.output(rdef, o, version)
            if not rdef.crd:
                oo = {k: v for k, v in oo.items() if k not in ("kind", "apiVersion")}
            out_items.append(oo)
        if rdef.crd:
            meta.setdefault("continue", "")     # unstructured lists always carry it
        return {"kind": rdef.list_kind, "apiVersion": rdef.api_version(version), "metadata": meta, "items": out_items}

    # --- update / patch ----------------------------------------------------------------------------
    def update(self, rdef, ns, name, body, version, manager, subresource=None):
        obj = self._decode(rdef, body)
        self._typecheck(rdef, obj)
        if rdef.store_key:
            core = self._core(rdef)
            return self.update(core, ns, name, json.dumps(rdef.conv_in(obj)), core.storage_version, manager, subresource)
        md = obj.get("metadata") or {}
        if md.get("name") and md["name"] != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (md["name"], name))
        if rdef.namespaced and md.get("namespace") and md["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        with self.store.lock:
            cur = self.store.get(rdef.key, ns if rdef.namespaced else "", name)
            if cur is None:
                raise not_found(rdef, name)
            rv = md.get("resourceVersion")
            if not rv:
                if rdef.crd or rdef.key in ("apiextensions.k8s.io/customresourcedefinitions",):
                    raise ApiError(422, "Invalid",
                                   '%s "%s" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update'
                                   % (qualified(rdef), name),
                                   dict(self._details(rdef, name), causes=[{"reason": "FieldValueInvalid",
                                        "message": "Invalid value: 0x0: must be specified for an update",
                                        "field": "metadata.resourceVersion"}]))
            elif rv != cur["metadata"]["resourceVersion"]:
                raise conflict(rdef, name)
            return self._apply_update(rdef, cur, obj, version, manager, subresource)

    def _details(self, rdef, name):
        d = {"name": name}
        if rdef.group:
            d["group"] = rdef.group
        d["kind"] = rdef.plural
        return d

    def patch(self, rdef, ns, name, body, ctype, version, manager, subresource=None, query=None):
        ctype = (ctype or "").split(";")[0].strip()
        if ctype == "application/apply-patch+yaml":
            return self.apply_patch(rdef, ns, name, body, version, subresource, query or {})
        if ctype == "application/strategic-merge-patch+json" and rdef.crd:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        if ctype not in ("application/merge-patch+json", "application/json-patch+json",
                         "application/strategic-merge-patch+json"):
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml" if rdef.crd else
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, "
                           "application/strategic-merge-patch+json")
        try:
            p = json.loads(body or b"null")
        except ValueError:
            raise bad_request("error decoding patch: invalid character")
        core = self._core(rdef)
        with self.store.lock:
            cur = self.store.get(core.key, ns if rdef.namespaced else "", name)
            if cur is None:
                raise not_found(rdef, name)
            base = self.output(rdef, cur, version)
            try:
                if ctype == "application/json-patch+json":
                    new = json_patch(base, p)
                elif ctype == "application/merge-patch+json":
                    if not isinstance(p, dict):
                        raise bad_request("error decoding patch: json: cannot unmarshal into Go value of type map[string]interface {}")
                    new = merge_patch(base, p)
                else:
                    if not isinstance(p, dict):
                        raise bad_request("error decoding patch")
                    new = strategic_merge(base, p)
            except PatchTestFailed:
                raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {})
            except PatchError:
                raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {})
            if not isinstance(new, dict):
                raise bad_request("patched object is not an object")
            self._typecheck(rdef, new)
            nmd = new.get("metadata") or {}
            prv = nmd.get("resourceVersion")
            if prv and prv != cur["metadata"]["resourceVersion"]:
                raise conflict(rdef, name)
            if nmd.get("name") != name:
                raise bad_request("the name of the object (%s) does not match the name on the URL (%s)" % (nmd.get("name"), name))
            if rdef.store_key:
                return self._apply_update(core, cur, rdef.conv_in(new), core.storage_version, manager, subresource)
            return self._apply_update(rdef, cur, new, version, manager, subresource)

    def apply_patch(self, rdef, ns, name, body, version, subresource, query):
        """Server-side apply, approximated: the applied config is merged into the object (no field ownership)."""
        if not query.get("fieldManager"):
            raise ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
                           {"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                               {"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]})
        import yaml
        try:
            cfg = yaml.safe_load(body.decode() if isinstance(body, bytes) else body)
        except Exception as e:
            raise bad_request("error decoding YAML: %s" % e)
        if not isinstance(cfg, dict):
            raise bad_request("error decoding YAML: not an object")
        mgr = query["fieldManager"]
        with self.store.lock:
            cur = self.store.get(rdef.key, ns if rdef.namespaced else "", name)
            if cur is None:
                cfg.setdefault("metadata", {})["name"] = name
                obj = self.create(rdef, ns, deep_copy(cfg), version, None)
                return self._set_apply_manager(rdef, obj, mgr, cfg), 201
            base = deep_copy(self.output(rdef, cur, version))   # edited below: never touch the stored object
            mine = set(_leaf_paths(cfg))
            force = query.get("force") in ("true", "1")
            # conflicts with the fields other *appliers* own (Update managers are not tracked)
            conflicts = []
            others = [m for m in cur["metadata"].get("managedFields") or [] if m.get("operation") == "Apply" and m.get("manager") != mgr]
            for m in others:
                for path in sorted(mine & set(_fields_paths(m.get("fieldsV1") or {}))):
                    if _get_path(base, path) != _get_path(cfg, path):
                        conflicts.append((m["manager"], path))
            if conflicts and not force:
                msgs = ['conflict with "%s": %s' % (m, "." + ".".join(p)) for m, p in conflicts]
                text = ("Apply failed with 1 conflict: %s" % msgs[0]) if len(msgs) == 1 else \
                    "Apply failed with %d conflicts: %s" % (len(msgs), "\n".join(msgs))
                raise ApiError(409, "Conflict", text,
                               {"causes": [{"reason": "FieldManagerConflict", "message": 'conflict with "%s"' % m,
                                            "field": "." + ".".join(p)} for m, p in conflicts]})
            # fields this manager applied before and leaves out now are removed (unless someone else applies them)
            prev = next((m for m in cur["metadata"].get("managedFields") or [] if m.get("operation") == "Apply" and m.get("manager") == mgr), None)
            owned_by_others = set()
            for m in others:
                owned_by_others |= set(_fields_paths(m.get("fieldsV1") or {}))
            if prev:
                for path in set(_fields_paths(prev.get("fieldsV1") or {})) - mine - owned_by_others:
                    if path[0] not in ("metadata", "apiVersion", "kind") or path[:2] in (("metadata", "labels"), ("metadata", "annotations")):
                        _del_path(base, path)
            new = strategic_merge(base, cfg) if not rdef.crd else merge_patch(base, cfg)
            res = self._apply_update(rdef, cur, new, version, mgr, subresource, op="Apply", applied=cfg)
            # record what each manager applies; force moves ownership of conflicting fields
            with self.store.lock:
                stored = self.store.get(rdef.key, ns if rdef.namespaced else "", name)
                if stored is not None and stored is res:
                    o2 = deep_copy(stored)
                    mf = []
                    for m in o2["metadata"].get("managedFields") or []:
                        if m.get("operation") == "Apply" and m.get("manager") == mgr:
                            continue
                        if m.get("operation") == "Apply" and force:
                            lost = [p for (who, p) in conflicts if who == m.get("manager")]
                            if lost:
                                m["fieldsV1"] = _paths_to_fields(set(_fields_paths(m.get("fieldsV1") or {})) - set(lost))
                        mf.append(m)
                    mf.append({"manager": mgr, "operation": "Apply", "apiVersion": o2["apiVersion"], "time": now_ts(),
                               "fieldsType": "FieldsV1", "fieldsV1": fields_v1(cfg)})
                    o2["metadata"]["managedFields"] = mf
                    self.store.objs[rdef.key][(o2["metadata"].get("namespace", ""), name)] = o2  # bookkeeping, same RV
                    res = o2
            return res, 200

    def _set_apply_manager(self, rdef, obj, mgr, cfg):
        def fn(o):
            o["metadata"]["managedFields"] = [{"manager": mgr, "operation": "Apply", "apiVersion": o["apiVersion"],
                                              "time": now_ts(), "fieldsType": "FieldsV1", "fieldsV1": fields_v1(cfg)}]
            return o
        with self.store.lock:
            o2 = deep_copy(obj)
            fn(o2)
            key = (o2["metadata"].get("namespace", ""), o2["metadata"]["name"])
            self.store.objs[rdef.key][key] = o2   # same RV, metadata bookkeeping only
            return o2

    def _apply_update(self, rdef, cur, obj, version, manager, subresource, op="Update", applied=None):
        """Common path of PUT and PATCH. Caller holds the store lock."""
        new = deep_copy(obj)
        new["kind"] = rdef.kind
        new["apiVersion"] = rdef.api_version(version if rdef.crd else None)
        cmd = cur["metadata"]
        nmd = new.setdefault("metadata", {})
        if not isinstance(nmd, dict):
            raise bad_request("metadata must be an object")
        name = cmd["name"]
        # immutable / system metadata
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                  "namespace", "name", "selfLink", "generateName"):
            if k in cmd:
                nmd[k] = cmd[k]
            else:
                nmd.pop(k, None)
        nmd["selfLink"] = cmd.get("selfLink")
        nmd.pop("selfLink", None)
        for k in ("labels", "annotations", "finalizers", "ownerReferences"):
            if k in nmd and not nmd[k]:
                del nmd[k]
        if subresource == "status":
            # only status is taken
            keep = deep_copy(cur)
            if "status" in new:
                keep["status"] = new["status"]
            else:
                keep.pop("status", None)
            new = keep
            nmd = new["metadata"]
        elif rdef.status:
            if "status" in cur:
                new["status"] = deep_copy(cur["status"])
            else:
                new.pop("status", None)
        if rdef.crd:
            new = self._cr_schema(rdef, new, version, name)
        # finalizers may not be added once deletion started
        if cmd.get("deletionTimestamp"):
            added = [f for f in nmd.get("finalizers") or [] if f not in (cmd.get("finalizers") or [])]
            if added:
                msg = "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{%s}" % (
                    ", ".join('"%s"' % f for f in added))
                causes = [("FieldValueForbidden", "metadata.finalizers", msg)] * 2
                raise invalid(rdef, name, causes, kind_in_details=rdef.kind, qualify_kind=True)
        if rdef.key == "/pods" and subresource != "status":
            if not kinds.pod_spec_update_ok(cur.get("spec"), new.get("spec")):
                raise invalid(rdef, name, [("FieldValueForbidden", "spec", kinds.POD_MUTABLE_MSG)])
        if rdef.key == "/namespaces" and subresource != "status":
            new["spec"] = deep_copy(cur.get("spec", {}))
        if rdef.key == "apiextensions.k8s.io/customresourcedefinitions":
            causes = kinds.validate_crd(new)
            if causes:
                raise invalid(rdef, name, causes)
        # generation bumps only on spec (non-metadata, non-status) changes
        if self.has_generation(rdef):
            def body_of(o):
                return {k: v for k, v in o.items() if k not in ("metadata", "status", "kind", "apiVersion")}
            if body_of(new) != body_of(cur):
                nmd["generation"] = cmd.get("generation", 1) + 1
        # no-op update: nothing stored, RV unchanged
        def comparable(o):
            m = {k: v for k, v in o["metadata"].items() if k not in ("managedFields", "resourceVersion", "selfLink")}
            return dict({k: v for k, v in o.items() if k != "metadata"}, metadata=m)
        nmd["resourceVersion"] = cmd["resourceVersion"]
        nmd["managedFields"] = deep_copy(cmd.get("managedFields") or [])
        if not nmd["managedFields"]:
            del nmd["managedFields"]
        if comparable(new) == comparable(cur):
            return cur
        self._managed(new, manager, new["apiVersion"], op)
        # reorder metadata keys like the real server (cosmetic)
        if cmd.get("deletionTimestamp") and not new["metadata"].get("finalizers") and self._deletion_complete(rdef, new):
            # last finalizer removed: the response is the patched object with the previous RV; object goes away
            self.store.remove(rdef.key, cmd.get("namespace", ""), name)
            return new
        return self.store.replace(rdef.key, new)

    def _deletion_complete(self, rdef, obj):
        if rdef.key == "/pods":
            return obj["metadata"].get("deletionGracePeriodSeconds", 0) == 0
        return True

    # --- delete -------------------------------------------------------------------------------------
    def delete(self, rdef, ns, name, opts_body, query):
        rdef = self._core(rdef)
        opts = {}
        if opts_body:
            try:
                opts = json.loads(opts_body)
            except ValueError:
                raise bad_request("couldn't get version/kind; json parse error")
            if not isinstance(opts, dict):
                raise bad_request("invalid DeleteOptions")
        policy = opts.get("propagationPolicy") or query.get("propagationPolicy")
        if opts.get("orphanDependents") is True or query.get("orphanDependents") == "true":
            policy = policy or "Orphan"
        grace = opts.get("gracePeriodSeconds")
        if grace is None and query.get("gracePeriodSeconds") is not None:
            grace = int(query["gracePeriodSeconds"])
        pre = opts.get("preconditions") or {}
        with self.store.lock:
            cur = self.store.get(rdef.key, ns if rdef.namespaced else "", name)
            if cur is None:
                raise not_found(rdef, name)
            cmd = cur["metadata"]
            if pre.get("uid") and pre["uid"] != cmd["uid"]:
                raise ApiError(409, "Conflict",
                               'Operation cannot be fulfilled on %s "%s": the UID in the precondition (%s) does not match the UID '
                               "in record (%s). The object might have been deleted and then recreated" % (rdef.kind, name, pre["uid"], cmd["uid"]),
                               {"name": name, "kind": rdef.kind} if not rdef.group else {"name": name, "group": rdef.group, "kind": rdef.kind})
            if pre.get("resourceVersion") and pre["resourceVersion"] != cmd["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               'Operation cannot be fulfilled on %s "%s": the ResourceVersion in the precondition (%s) does not '
                               "match the ResourceVersion in record (%s). The object might have been modified" % (
                                   rdef.kind, name, pre["resourceVersion"], cmd["resourceVersion"]),
                               {"name": name, "kind": rdef.kind})
            if policy is None and rdef.key in DEFAULT_ORPHAN:
                policy = "Orphan"
            return self.delete_object(rdef, cur, policy, grace)

    def delete_object(self, rdef, cur, policy=None, grace=None, by_controller=False):
        """Deletion logic shared by the API and the controllers (GC, taint manager, job controller).
        Returns (code, body). Caller holds the store lock."""
        cmd = cur["metadata"]
        name = cmd["name"]
        ns = cmd.get("namespace", "")
        if cmd.get("deletionTimestamp"):
            # already terminating: a shorter grace may speed a pod up; otherwise unchanged, no event
            if rdef.key == "/pods" and grace is not None and grace < cmd.get("deletionGracePeriodSeconds", 0):
                new = deep_copy(cur)
                shortened_deletion(new["metadata"], grace, self.time_scale)
                if grace == 0 and not new["metadata"].get("finalizers"):
                    gone = self.store.remove(rdef.key, ns, name)
                    return 200, gone
                return 200, self.store.replace(rdef.key, new)
            return 200, cur
        finalizers = list(cmd.get("finalizers") or [])
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if rdef.key == NS_RKEY:
            new = deep_copy(cur)
            new["metadata"]["deletionTimestamp"] = now_ts()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["status"] = {"phase": "Terminating"}
            if finalizers:
                new["metadata"]["finalizers"] = finalizers
            return 200, self.store.replace(rdef.key, new)
        if rdef.key == "/pods":
            g = grace if grace is not None else (cur.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            phase = (cur.get("status") or {}).get("phase")
            if not (cur.get("spec") or {}).get("nodeName") or phase in ("Succeeded", "Failed"):
                g = 0
            if g > 0 or finalizers:
                new = deep_copy(cur)
                new["metadata"]["deletionTimestamp"] = now_ts(time.time() + g * self.time_scale)
                new["metadata"]["deletionGracePeriodSeconds"] = g
                if finalizers:
                    new["metadata"]["finalizers"] = finalizers
                stored = self.store.replace(rdef.key, new)
                if g == 0 and not finalizers:
                    return 200, self.store.remove(rdef.key, ns, name)
                return 200, stored
            out = deep_copy(cur)
            out["metadata"]["deletionTimestamp"] = now_ts()
            out["metadata"]["deletionGracePeriodSeconds"] = 0
            self.store.objs[rdef.key][(ns, name)] = out
            gone = self.store.remove(rdef.key, ns, name)
            return 200, gone
        if finalizers:
            new = deep_copy(cur)
            new["metadata"]["deletionTimestamp"] = now_ts()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"]["finalizers"] = finalizers
            if self.has_generation(rdef):
                new["metadata"]["generation"] = cmd.get("generation", 1) + 1
            return 200, self.store.replace(rdef.key, new)
        gone = self.store.remove(rdef.key, ns, name)
        if rdef.key in RETURNS_DELETED_OBJECT:
            return 200, gone
        det = {"name": name}
        if rdef.group:
            det["group"] = rdef.group
        det["kind"] = rdef.plural
        det["uid"] = cmd["uid"]
        return 200, status_body(None, None, None, det, status="Success")

    def remove_finalizer(self, rdef, ns, name, finalizer):
        """Controllers: drop one finalizer; removes the object if it was the last one of a deleting object."""
        with self.store.lock:
            cur = self.store.get(rdef.key, ns, name)
            if cur is None or finalizer not in (cur["metadata"].get("finalizers") or []):
                return
            new = deep_copy(cur)
            fins = [f for f in new["metadata"]["finalizers"] if f != finalizer]
            if fins:
                new["metadata"]["finalizers"] = fins
            else:
                del new["metadata"]["finalizers"]
            if new["metadata"].get("deletionTimestamp") and not fins and self._deletion_complete(rdef, new):
                self.store.remove(rdef.key, ns, name)
            else:
                self.store.replace(rdef.key, new)
