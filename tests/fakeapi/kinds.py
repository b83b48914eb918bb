"""Per-kind defaulting, validation and table printing for built-in kinds."""
import random
import re

from kutil import now_ts, new_uid

DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUB_MSG = ("a DNS-1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
           "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
           "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a DNS-1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
             "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")

DEFAULT_TOLERATION_SECONDS = 300


def rand_suffix(n=5):
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


def name_causes(name, label=False):
    causes = []
    if len(name) > (63 if label else 253):
        causes.append(("FieldValueInvalid", "metadata.name",
                       'Invalid value: "%s": must be no more than %d characters' % (name, 63 if label else 253)))
    rx, msg = (DNS1123_LABEL, LABEL_MSG) if label else (DNS1123_SUB, SUB_MSG)
    if not rx.match(name):
        causes.append(("FieldValueInvalid", "metadata.name", 'Invalid value: "%s": %s' % (name, msg)))
    return causes


# --- pods ---------------------------------------------------------------------------------------------
def default_pod(pod, token_volume):
    spec = pod.setdefault("spec", {})
    vols = spec.get("volumes") or []
    if token_volume and not spec.get("automountServiceAccountToken") is False:
        vols = vols + [{"name": token_volume, "secret": {"secretName": token_volume, "defaultMode": 420}}]
    if vols:
        spec["volumes"] = vols
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if not isinstance(c, dict):
            continue
        c.setdefault("resources", {})
        if token_volume and spec.get("automountServiceAccountToken") is not False:
            vm = c.get("volumeMounts") or []
            c["volumeMounts"] = vm + [{"name": token_volume, "readOnly": True,
                                       "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        img = c.get("image", "")
        if "imagePullPolicy" not in c:
            tag = img.rsplit("/", 1)[-1]
            c["imagePullPolicy"] = "Always" if (":" not in tag or tag.endswith(":latest")) and "@" not in img else "IfNotPresent"
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount", "default"))
    spec["serviceAccount"] = spec["serviceAccountName"]
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    tols = spec.get("tolerations") or []
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key and t.get("effect") in ("NoExecute", None, "") for t in tols):
            tols = tols + [{"key": key, "operator": "Exists", "effect": "NoExecute",
                            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS}]
    spec["tolerations"] = tols
    spec.setdefault("priority", 0)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
    return pod


def qos_class(spec):
    any_res = False
    for c in spec.get("containers") or []:
        r = c.get("resources") or {}
        if r.get("limits") or r.get("requests"):
            any_res = True
    return "Burstable" if any_res else "BestEffort"


def validate_pod(pod):
    spec = pod.get("spec") or {}
    causes = []
    cs = spec.get("containers")
    if not cs:
        causes.append(("FieldValueRequired", "spec.containers", "Required value"))
    else:
        names = set()
        for i, c in enumerate(cs):
            n = c.get("name", "")
            if not n:
                causes.append(("FieldValueRequired", "spec.containers[%d].name" % i, "Required value"))
            elif not DNS1123_LABEL.match(n):
                causes.append(("FieldValueInvalid", "spec.containers[%d].name" % i, 'Invalid value: "%s": %s' % (n, LABEL_MSG)))
            elif n in names:
                causes.append(("FieldValueDuplicate", "spec.containers[%d].name" % i, 'Duplicate value: "%s"' % n))
            names.add(n)
            if not c.get("image"):
                causes.append(("FieldValueRequired", "spec.containers[%d].image" % i, "Required value"))
            pp = c.get("imagePullPolicy")
            if pp is not None and pp not in ("Always", "IfNotPresent", "Never"):
                causes.append(("FieldValueNotSupported", "spec.containers[%d].imagePullPolicy" % i,
                               'Unsupported value: "%s": supported values: "Always", "IfNotPresent", "Never"' % pp))
    rp = spec.get("restartPolicy")
    if rp is not None and rp not in ("Always", "OnFailure", "Never"):
        causes.append(("FieldValueNotSupported", "spec.restartPolicy",
                       'Unsupported value: "%s": supported values: "Always", "OnFailure", "Never"' % rp))
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not isinstance(ads, int) or ads <= 0):
        causes.append(("FieldValueInvalid", "spec.activeDeadlineSeconds",
                       "Invalid value: %s: must be between 1 and 2147483647, inclusive" % ads))
    return causes


POD_MUTABLE_MSG = ("Forbidden: pod updates may not change fields other than `spec.containers[*].image`, "
                   "`spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` "
                   "(only additions to existing tolerations)")


def pod_spec_update_ok(old, new):
    def strip(spec):
        s = dict(spec or {})
        s.pop("activeDeadlineSeconds", None)
        s.pop("tolerations", None)
        for k in ("containers", "initContainers"):
            if k in s:
                s[k] = [{kk: vv for kk, vv in c.items() if kk != "image"} for c in s[k]]
        return s
    return strip(old) == strip(new)


# --- other kinds ---------------------------------------------------------------------------------------
def default_namespace(ns):
    ns.setdefault("spec", {})
    ns["spec"]["finalizers"] = ["kubernetes"]
    ns["status"] = {"phase": "Active"}


def default_event(ev):
    ev.setdefault("involvedObject", {})
    ev.setdefault("reason", ev.get("reason", ""))
    ev.setdefault("source", {})
    for k in ("firstTimestamp", "lastTimestamp"):
        ev.setdefault(k, None)
    ev.setdefault("count", ev.get("count"))
    if ev.get("count") is None:
        ev.pop("count")
    ev.setdefault("type", "Normal")
    ev.setdefault("eventTime", None)
    ev.setdefault("reportingComponent", "")
    ev.setdefault("reportingInstance", "")


def default_crd(crd):
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    names.setdefault("singular", names.get("kind", "").lower())
    names.setdefault("listKind", names.get("kind", "") + "List")
    spec.setdefault("scope", "Namespaced")
    spec.setdefault("conversion", {"strategy": "None"})
    stored = [v["name"] for v in spec.get("versions", []) if v.get("storage")]
    crd["status"] = {"conditions": None, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": stored}


def crd_established(crd):
    t = now_ts()
    names = dict(crd["spec"]["names"])
    crd["status"] = {
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": t, "reason": "NoConflicts",
             "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": t, "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted"}],
        "acceptedNames": names,
        "storedVersions": crd["status"].get("storedVersions") or [],
    }
    return crd


def validate_crd(crd):
    causes = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    for k in ("plural", "kind"):
        if not names.get(k):
            causes.append(("FieldValueRequired", "spec.names." + k, "Required value"))
    if not spec.get("group"):
        causes.append(("FieldValueRequired", "spec.group", "Required value"))
    if names.get("plural") and spec.get("group"):
        want = "%s.%s" % (names["plural"], spec["group"])
        if crd["metadata"].get("name") != want:
            causes.append(("FieldValueInvalid", "metadata.name",
                           'Invalid value: "%s": must be spec.names.plural+"."+spec.group' % crd["metadata"].get("name")))
    vs = spec.get("versions") or []
    if not vs:
        causes.append(("FieldValueRequired", "spec.versions", "Required value"))
    elif sum(1 for v in vs if v.get("storage")) != 1:
        causes.append(("FieldValueInvalid", "spec.versions", "Invalid value: %s: must have exactly one version marked as storage version" % "[]"))
    return causes


def default_job(job):
    spec = job.setdefault("spec", {})
    uid = job["metadata"]["uid"]
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    manual = spec.get("manualSelector")
    if not manual:
        spec["selector"] = {"matchLabels": {"controller-uid": uid}}
    tmpl = spec.setdefault("template", {})
    md = tmpl.setdefault("metadata", {})
    labels = md.setdefault("labels", {})
    if not manual:
        labels["controller-uid"] = uid
        labels["job-name"] = job["metadata"]["name"]
    md.setdefault("creationTimestamp", None)
    pspec = tmpl.setdefault("spec", {})
    for c in pspec.get("containers") or []:
        c.setdefault("resources", {})
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("imagePullPolicy", "IfNotPresent")
    pspec.setdefault("restartPolicy", "Never")
    pspec.setdefault("terminationGracePeriodSeconds", 30)
    pspec.setdefault("dnsPolicy", "ClusterFirst")
    pspec.setdefault("securityContext", {})
    pspec.setdefault("schedulerName", "default-scheduler")
    job["status"] = {}


def validate_job(job):
    causes = []
    pspec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    if not pspec.get("containers"):
        causes.append(("FieldValueRequired", "spec.template.spec.containers", "Required value"))
    rp = pspec.get("restartPolicy", "Never")
    if rp not in ("Never", "OnFailure"):
        causes.append(("FieldValueNotSupported", "spec.template.spec.restartPolicy",
                       'Unsupported value: "%s": supported values: "OnFailure", "Never"' % rp))
    return causes


def default_cronjob(cj):
    spec = cj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    cj["status"] = {}


def default_serviceaccount(sa):
    pass


def default_secret(s):
    s.setdefault("type", "Opaque")


def make_node(name, index):
    t = now_ts()
    conds = []
    for typ, reason, msg in (("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                             ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                             ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                             ("Ready", "KubeletReady", "kubelet is posting ready status")):
        conds.append({"type": typ, "status": "True" if typ == "Ready" else "False", "lastHeartbeatTime": t,
                      "lastTransitionTime": t, "reason": reason, "message": msg})
    return {
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "managedFields": [
            {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": t, "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:labels": {}}, "f:status": {"f:conditions": {}, "f:nodeInfo": {}}}}],
            "labels": {
            "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {},
        "status": {
            "capacity": {"cpu": "8", "ephemeral-storage": "264212084Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                         "memory": "32000000Ki", "pods": "110000"},
            "allocatable": {"cpu": "8", "ephemeral-storage": "264212084Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                            "memory": "32000000Ki", "pods": "110000"},
            "conditions": conds,
            "addresses": [{"type": "InternalIP", "address": "192.0.2.%d" % (index + 1)}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": new_uid().replace("-", ""), "systemUUID": new_uid(), "bootID": new_uid(),
                         "kernelVersion": "6.1.0-fake", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "containerRuntimeVersion": "containerd://1.6.20", "kubeletVersion": "v1.19.0-fake",
                         "kubeProxyVersion": "v1.19.0-fake", "operatingSystem": "linux", "architecture": "amd64"},
            "images": [{"names": ["docker.io/library/busybox:1.36"], "sizeBytes": 1992523}],
        },
    }


# --- table printing (kubectl get) ----------------------------------------------------------------------
def _age(ts, now):
    from kutil import parse_ts
    t = parse_ts(ts)
    if t is None:
        return "<unknown>"
    d = max(0, int(now - t))
    if d < 120:
        return "%ds" % d
    if d < 7200:
        return "%dm" % (d // 60)
    if d < 172800:
        return "%dh" % (d // 3600)
    return "%dd" % (d // 86400)


def _jsonpath(obj, path):
    cur = obj
    for part in [p for p in (path or "").strip().lstrip("{").rstrip("}").lstrip(".").split(".") if p]:
        if isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def table_columns(rdef, version=None):
    if rdef.crd and rdef.printer_columns.get(version or rdef.storage_version):
        cols = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
        for c in rdef.printer_columns[version or rdef.storage_version]:
            cols.append({"name": c.get("name", ""), "type": c.get("type", "string"), "format": c.get("format", ""),
                         "description": c.get("description", ""), "priority": c.get("priority", 0)})
        return cols
    cols = [("Name", "string", "name")]
    if rdef.plural == "pods":
        cols += [("Ready", "string", ""), ("Status", "string", ""), ("Restarts", "integer", ""), ("Age", "string", "")]
    elif rdef.plural == "nodes":
        cols += [("Status", "string", ""), ("Age", "string", "")]
    elif rdef.plural == "namespaces":
        cols += [("Status", "string", ""), ("Age", "string", "")]
    elif rdef.plural == "jobs":
        cols += [("Completions", "string", ""), ("Age", "string", "")]
    elif rdef.plural == "events" and not rdef.group:
        cols = [("Last Seen", "string", ""), ("Type", "string", ""), ("Reason", "string", ""), ("Object", "string", ""),
                ("Message", "string", ""), ("Name", "string", "name")]
    else:
        cols += [("Age", "string", "")]
    return [{"name": n, "type": t, "format": f, "description": n, "priority": 0} for n, t, f in cols]


def pod_display_status(pod):
    st = pod.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for cs in st.get("containerStatuses") or []:
        s = cs.get("state") or {}
        if "waiting" in s and s["waiting"].get("reason"):
            reason = s["waiting"]["reason"]
        elif "terminated" in s and s["terminated"].get("reason"):
            reason = s["terminated"]["reason"]
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def table_row(rdef, obj, now, version=None):
    md = obj["metadata"]
    age = _age(md.get("creationTimestamp"), now)
    if rdef.crd and rdef.printer_columns.get(version or rdef.storage_version):
        row = [md["name"]]
        for c in rdef.printer_columns[version or rdef.storage_version]:
            v = _jsonpath(obj, c.get("jsonPath"))
            if c.get("type") == "date" and isinstance(v, str):
                v = _age(v, now)
            row.append(v)
        return row
    if rdef.plural == "pods":
        st = obj.get("status") or {}
        css = st.get("containerStatuses") or []
        n = len((obj.get("spec") or {}).get("containers") or [])
        ready = sum(1 for c in css if c.get("ready"))
        restarts = sum(c.get("restartCount", 0) for c in css)
        return [md["name"], "%d/%d" % (ready, n), pod_display_status(obj), restarts, age]
    if rdef.plural == "events" and not rdef.group:
        io = obj.get("involvedObject") or {}
        last = obj.get("lastTimestamp") or obj.get("eventTime") or md.get("creationTimestamp")
        return [_age(last, now), obj.get("type", ""), obj.get("reason", ""),
                "%s/%s" % ((io.get("kind") or "").lower(), io.get("name", "")), obj.get("message", ""), md["name"]]
    if rdef.plural == "nodes":
        ready = next((c["status"] for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), "Unknown")
        return [md["name"], "Ready" if ready == "True" else "NotReady", age]
    if rdef.plural == "namespaces":
        return [md["name"], (obj.get("status") or {}).get("phase", ""), age]
    if rdef.plural == "jobs":
        return [md["name"], "%d/%d" % ((obj.get("status") or {}).get("succeeded", 0),
                                       (obj.get("spec") or {}).get("completions", 1)), age]
    return [md["name"], age]
