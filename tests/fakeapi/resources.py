"""Resource definitions (built-in kinds and CRDs), discovery documents, CRD schema defaulting and pruning."""
import threading

VERBS_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class ResourceDef:
    def __init__(self, group, versions, plural, singular, kind, namespaced=True, status=False,
                 short_names=None, crd=False, schemas=None, list_kind=None, categories=None, extra_sub=None):
        self.group = group
        self.versions = list(versions)          # served versions
        self.storage_version = self.versions[0]
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.list_kind = list_kind or kind + "List"
        self.namespaced = namespaced
        self.status = status                    # has a /status subresource
        self.short_names = short_names or []
        self.crd = crd
        self.schemas = schemas or {}            # version -> openAPIV3Schema (CRDs)
        self.categories = categories or []
        self.extra_sub = extra_sub or []        # e.g. ["log"] for pods
        self.printer_columns = {}               # version -> additionalPrinterColumns (CRDs)
        self.store_key = None                   # another resource whose objects this one serves (converted)
        self.conv_in = None                     # this API's JSON -> stored form
        self.conv_out = None                    # stored form -> this API's JSON

    @property
    def key(self):
        return "%s/%s" % (self.group, self.plural)

    def api_version(self, version=None):
        v = version or self.storage_version
        return v if not self.group else "%s/%s" % (self.group, v)

    def base_path(self, version=None):
        v = version or self.storage_version
        return "/api/" + v if not self.group else "/apis/%s/%s" % (self.group, v)

    def self_link(self, ns, name, version=None):
        p = self.base_path(version)
        if self.namespaced and ns:
            p += "/namespaces/" + ns
        p += "/" + self.plural
        if name:
            p += "/" + name
        return p


BUILTINS = [
    ResourceDef("", ["v1"], "namespaces", "namespace", "Namespace", namespaced=False, status=True, short_names=["ns"]),
    ResourceDef("", ["v1"], "pods", "pod", "Pod", status=True, short_names=["po"], categories=["all"], extra_sub=["log", "eviction"]),
    ResourceDef("", ["v1"], "configmaps", "configmap", "ConfigMap", short_names=["cm"]),
    ResourceDef("", ["v1"], "secrets", "secret", "Secret"),
    ResourceDef("", ["v1"], "events", "event", "Event", short_names=["ev"]),
    ResourceDef("", ["v1"], "serviceaccounts", "serviceaccount", "ServiceAccount", short_names=["sa"]),
    ResourceDef("", ["v1"], "nodes", "node", "Node", namespaced=False, status=True, short_names=["no"]),
    ResourceDef("batch", ["v1"], "jobs", "job", "Job", status=True, categories=["all"]),
    ResourceDef("batch", ["v1", "v1beta1"], "cronjobs", "cronjob", "CronJob", status=True, short_names=["cj"], categories=["all"]),
    ResourceDef("coordination.k8s.io", ["v1"], "leases", "lease", "Lease"),
    ResourceDef("apiextensions.k8s.io", ["v1"], "customresourcedefinitions", "customresourcedefinition",
                "CustomResourceDefinition", namespaced=False, status=True, short_names=["crd", "crds"]),
]

def _event_v1_to_core(o):
    c = {"apiVersion": "v1", "kind": "Event", "metadata": o.get("metadata") or {}}
    m = [("regarding", "involvedObject"), ("reason", "reason"), ("note", "message"), ("deprecatedSource", "source"),
         ("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp"),
         ("deprecatedCount", "count"), ("type", "type"), ("eventTime", "eventTime"), ("series", "series"),
         ("related", "related"), ("action", "action"), ("reportingController", "reportingComponent"),
         ("reportingInstance", "reportingInstance")]
    for a, b in m:
        if a in o and o[a] is not None:
            c[b] = o[a]
    c.setdefault("source", {})
    c.setdefault("firstTimestamp", None)
    c.setdefault("lastTimestamp", None)
    return c


def _event_core_to_v1(c):
    o = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": c.get("metadata") or {}}
    o["eventTime"] = c.get("eventTime")
    for a, b in [("series", "series"), ("reportingComponent", "reportingController"), ("reportingInstance", "reportingInstance"),
                 ("action", "action"), ("reason", "reason"), ("involvedObject", "regarding"), ("related", "related"),
                 ("message", "note"), ("type", "type")]:
        if c.get(a) not in (None, ""):
            o[b] = c[a]
    o["deprecatedSource"] = c.get("source") or {}
    o["deprecatedFirstTimestamp"] = c.get("firstTimestamp")
    o["deprecatedLastTimestamp"] = c.get("lastTimestamp")
    if c.get("count"):
        o["deprecatedCount"] = c["count"]
    return o


_ev = ResourceDef("events.k8s.io", ["v1"], "events", "event", "Event", short_names=["ev"])
_ev.store_key = "/events"
_ev.conv_in = _event_v1_to_core
_ev.conv_out = _event_core_to_v1
BUILTINS.append(_ev)

GROUP_PREFERRED = {"": "v1", "batch": "v1", "coordination.k8s.io": "v1", "apiextensions.k8s.io": "v1"}


class Registry:
    """Thread-safe map of served resources."""

    def __init__(self):
        self.lock = threading.RLock()
        self.by_key = {}
        for r in BUILTINS:
            self.by_key[r.key] = r

    def get(self, group, version, plural):
        with self.lock:
            r = self.by_key.get("%s/%s" % (group, plural))
            if r and version in r.versions:
                return r
            return None

    def by_resource_key(self, key):
        with self.lock:
            return self.by_key.get(key)

    def all(self):
        with self.lock:
            return list(self.by_key.values())

    def groups(self):
        """group -> list of versions (preferred first)."""
        with self.lock:
            out = {}
            for r in self.by_key.values():
                vs = out.setdefault(r.group, [])
                for v in r.versions:
                    if v not in vs:
                        vs.append(v)
            return out

    def for_kind(self, api_version, kind):
        with self.lock:
            for r in self.by_key.values():
                if r.kind == kind and any(r.api_version(v) == api_version for v in r.versions):
                    return r
            return None

    # --- CRDs ---------------------------------------------------------------------------------
    def add_crd(self, crd):
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        versions = [v for v in spec.get("versions", []) if v.get("served", True)]
        if not versions:
            return None
        storage = [v["name"] for v in versions if v.get("storage")]
        order = storage + [v["name"] for v in versions if v["name"] not in storage]
        status = any("status" in (v.get("subresources") or {}) for v in versions)
        schemas = {v["name"]: (v.get("schema") or {}).get("openAPIV3Schema") for v in versions}
        r = ResourceDef(spec.get("group", ""), order, names.get("plural"), names.get("singular") or names.get("kind", "").lower(),
                        names.get("kind"), namespaced=spec.get("scope", "Namespaced") == "Namespaced", status=status,
                        short_names=names.get("shortNames") or [], crd=True, schemas=schemas,
                        list_kind=names.get("listKind"), categories=names.get("categories") or [])
        r.printer_columns = {v["name"]: v.get("additionalPrinterColumns") or [] for v in versions}
        with self.lock:
            self.by_key[r.key] = r
        return r

    def remove_crd(self, crd):
        spec = crd.get("spec", {})
        key = "%s/%s" % (spec.get("group", ""), spec.get("names", {}).get("plural"))
        with self.lock:
            r = self.by_key.get(key)
            if r and r.crd:
                del self.by_key[key]
            return r


# --- discovery documents ---------------------------------------------------------------------------
def api_versions_doc(port):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % port}]}


def _group_entry(group, versions):
    gv = [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions]
    return {"name": group, "versions": gv, "preferredVersion": gv[0]}


def api_group_list_doc(registry):
    groups = registry.groups()
    order = ["apiextensions.k8s.io", "batch", "coordination.k8s.io", "events.k8s.io"]
    names = [g for g in order if g in groups] + sorted(g for g in groups if g and g not in order)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_entry(g, groups[g]) for g in names]}


def api_group_doc(registry, group):
    groups = registry.groups()
    if group not in groups or not group:
        return None
    e = _group_entry(group, groups[group])
    e.update({"kind": "APIGroup", "apiVersion": "v1"})
    return e


def resource_list_doc(registry, group, version):
    res = []
    found = False
    for r in sorted(registry.all(), key=lambda r: r.plural):
        if r.group != group or version not in r.versions:
            continue
        found = True
        verbs = list(VERBS_ALL)
        if r.plural == "events" or r.plural == "leases" or r.plural == "configmaps" or r.plural == "secrets":
            pass
        ent = {"name": r.plural, "singularName": r.singular if r.crd else "", "namespaced": r.namespaced,
               "kind": r.kind, "verbs": verbs}
        if r.short_names:
            ent["shortNames"] = r.short_names
        if r.categories:
            ent["categories"] = r.categories
        if not r.crd:
            ent["storageVersionHash"] = "fake" + r.plural[:8]
        res.append(ent)
        if r.status:
            res.append({"name": r.plural + "/status", "singularName": "", "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": ["get", "patch", "update"]})
        if "log" in r.extra_sub:
            res.append({"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]})
        if "eviction" in r.extra_sub:
            res.append({"name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy",
                        "version": "v1beta1", "kind": "Eviction", "verbs": ["create"]})
    if not found:
        return None
    if not group:
        return {"kind": "APIResourceList", "groupVersion": version, "resources": res}
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "%s/%s" % (group, version), "resources": res}


# --- structural schema: defaults and pruning ---------------------------------------------------------
def apply_schema(obj, schema, top=True):
    """Apply `default`s and prune unknown fields in place (like the real server for structural schemas).
    Returns the (possibly replaced) value."""
    if schema is None:
        return obj
    if isinstance(obj, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("x-kubernetes-int-or-string") \
            or schema.get("x-kubernetes-embedded-resource")
        if props is not None or (addl is None and not preserve and schema.get("type") == "object"):
            props = props or {}
            for k in list(obj.keys()):
                if top and k in ("apiVersion", "kind", "metadata"):
                    continue
                if k in props:
                    obj[k] = apply_schema(obj[k], props[k], False)
                elif isinstance(addl, dict):
                    obj[k] = apply_schema(obj[k], addl, False)
                elif addl is True or preserve:
                    pass
                else:
                    del obj[k]
            for k, sub in props.items():
                if k not in obj and isinstance(sub, dict) and "default" in sub:
                    obj[k] = apply_schema(_copy(sub["default"]), sub, False)
        elif isinstance(addl, dict):
            for k in list(obj.keys()):
                obj[k] = apply_schema(obj[k], addl, False)
        return obj
    if isinstance(obj, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return [apply_schema(x, items, False) for x in obj]
        return obj
    return obj


def _copy(v):
    import json
    return json.loads(json.dumps(v))


# --- OpenAPI v3 (just enough for kubectl: field-validation support and patch types) ------------------------
def openapi_v3_root(registry, ver=(1, 19)):
    import hashlib
    out = {}
    for g, vs in registry.groups().items():
        for v in vs:
            path = "api/" + v if not g else "apis/%s/%s" % (g, v)
            doc = openapi_v3_gv(registry, g, v, ver)
            h = hashlib.sha256(json_dumps(doc).encode()).hexdigest()[:32].upper()
            out[path] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (path, h)}
    return {"paths": out}


def json_dumps(o):
    import json
    return json.dumps(o, sort_keys=True)


def openapi_v3_gv(registry, group, version, ver=(1, 19)):
    paths = {}
    found = False
    for r in registry.all():
        if r.group != group or version not in r.versions:
            continue
        found = True
        gvk = {"group": group, "version": version, "kind": r.kind}
        p = r.base_path(version) + ("/namespaces/{namespace}" if r.namespaced else "") + "/" + r.plural + "/{name}"
        content = {"application/json-patch+json": {"schema": {"type": "object"}},
                   "application/merge-patch+json": {"schema": {"type": "object"}},
                   "application/apply-patch+yaml": {"schema": {"type": "object"}}}
        params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        paths[p] = {"patch": {"operationId": "patch" + r.kind, "x-kubernetes-group-version-kind": gvk,
                              "x-kubernetes-action": "patch", "parameters": params,
                              "requestBody": {"content": content, "required": True},
                              "responses": {"200": {"description": "OK"}}}}
    if not found:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v%d.%d.0-fakeapi" % ver}, "paths": paths,
            "components": {"schemas": {}}}
