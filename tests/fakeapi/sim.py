"""Controllers that a real cluster runs next to the API server, simulated:

* scheduler + kubelet (pod lifecycle driven by the pod script, see script.py),
* node lifecycle controller (kubelet stop/start, NodeStatusUnknown, unreachable taints, taint eviction),
* garbage collector (background / foreground / orphan),
* namespace controller, CRD establishment, a minimal batch/v1 Job controller.

One thread runs everything from a timer heap. Store hooks only enqueue work (they run under the store lock).
Every simulated duration is multiplied by --time-scale.
"""
import heapq
import itertools
import random
import threading
import time
import traceback

import script as pscript
from kutil import deep_copy, micro_ts, now_ts, parse_ts, shortened_deletion

PODS = "/pods"
NODES = "/nodes"
NS = "/namespaces"
CRDS = "apiextensions.k8s.io/customresourcedefinitions"
JOBS = "batch/jobs"


def _cid():
    return "containerd://" + "".join(random.choice("0123456789abcdef") for _ in range(64))


class Container:
    def __init__(self, name, image, ops, ignore_term):
        self.name = name
        self.image = image
        self.ops = ops
        self.pc = 0
        self.ignore_term = ignore_term
        self.state = {"waiting": {"reason": "ContainerCreating"}}
        self.started = False
        self.cid = None
        self.gen = 0                      # bumps cancel pending continuations
        self.restart_count = 0
        self.last_state = {}
        self.started_at = None

    @property
    def running(self):
        return "running" in self.state

    @property
    def terminated(self):
        return "terminated" in self.state


class PodSim:
    def __init__(self, key, uid):
        self.key = key
        self.uid = uid
        self.containers = []
        self.started = False
        self.killing = False
        self.frozen = False               # deadline exceeded / evicted: no more kubelet updates
        self.dirty = False                # a status change waits for the node's kubelet to come back
        self.pod_ip = "10.88.%d.%d" % (random.randint(0, 255), random.randint(2, 254))
        self.start_time = None
        self.node = None


class Sim:
    def __init__(self, store, registry, api, opts):
        self.store = store
        self.registry = registry
        self.api = api
        self.opts = opts
        self.scale = opts.time_scale
        self.cv = threading.Condition()
        self.heap = []
        self.seq = itertools.count()
        self.queue = []
        self.paused = False
        self.stopped = False
        self.pods = {}                     # (ns, name) -> PodSim
        self.kubelet_down = {}             # node -> time stopped
        self.partitioned = set()           # stopped nodes whose containers keep running (see kubelet_stop)
        self.node_gen = {}                 # node -> generation (cancels node timers on restart)
        self.pending_jobs = set()
        self.node_load = {}                # node -> pods bound and not deleted (scheduler spreading)
        self.thread = threading.Thread(target=self._run, name="sim", daemon=True)
        store.hooks.append(self._hook)

    # --- plumbing ------------------------------------------------------------------------------
    def start(self):
        self.thread.start()

    def stop(self):
        with self.cv:
            self.stopped = True
            self.cv.notify_all()

    def after(self, seconds, fn, *args, always=False):
        """Run fn(*args) on the sim thread after `seconds` of simulated time (scaled)."""
        when = time.time() + max(0.0, seconds) * self.scale
        with self.cv:
            heapq.heappush(self.heap, (when, next(self.seq), always, fn, args))
            self.cv.notify_all()

    def pause(self, flag):
        with self.cv:
            self.paused = flag
            self.cv.notify_all()

    def _hook(self, rkey, etype, obj, prev):
        # runs under the store lock: only record
        if rkey == CRDS:
            if etype == "DELETED":
                self.registry.remove_crd(obj)
            else:
                self.registry.add_crd(obj)
        with self.cv:
            self.queue.append((rkey, etype, obj, prev))
            self.cv.notify_all()

    def _run(self):
        while True:
            with self.cv:
                while True:
                    if self.stopped:
                        return
                    if self.queue:
                        break
                    now = time.time()
                    due = self._due(now)
                    if due is not None:
                        break
                    timeout = None
                    if self.heap:
                        timeout = max(0.0, self.heap[0][0] - now)
                        if self.paused:
                            timeout = min(timeout, 0.2) if timeout else 0.2
                    self.cv.wait(timeout if timeout is not None else 1.0)
                evs, self.queue = self.queue, []
                due = self._pop_due(time.time())
            for ev in evs:
                try:
                    self._on_event(*ev)
                except Exception:
                    traceback.print_exc()
            for fn, args in due:
                try:
                    fn(*args)
                except Exception:
                    traceback.print_exc()

    def _due(self, now):
        for ent in self.heap:
            if ent[0] <= now and (ent[2] or not self.paused):
                return ent
        return None

    def _pop_due(self, now):
        out, keep = [], []
        while self.heap and self.heap[0][0] <= now:
            ent = heapq.heappop(self.heap)
            if self.paused and not ent[2]:
                keep.append(ent)
            else:
                out.append((ent[3], ent[4]))
        for ent in keep:
            heapq.heappush(self.heap, ent)
        return out

    # --- event dispatch ----------------------------------------------------------------------------
    def _on_event(self, rkey, etype, obj, prev):
        md = obj["metadata"]
        if rkey == PODS:
            self._pod_event(etype, obj, prev)
        elif rkey == CRDS and etype == "ADDED":
            self.after(0.05, self._establish_crd, md["name"], md["uid"], always=True)
        elif rkey == CRDS and etype == "DELETED":
            self._purge_crs(obj)
        elif rkey == NS and etype != "DELETED" and md.get("deletionTimestamp"):
            self.after(0.1, self._ns_cleanup, md["name"], md["uid"], always=True)
        elif rkey == JOBS and etype != "DELETED":
            self._queue_job(md.get("namespace", ""), md["name"])
        # garbage collector
        if etype == "DELETED":
            if self.store.dependents(md["uid"]):
                self.after(0.6, self._gc_orphans_of, md["uid"], always=True)
            for ref in md.get("ownerReferences") or []:
                self.after(0.4, self._gc_foreground_check, ref.get("uid"), always=True)
        elif md.get("deletionTimestamp") and not (prev or {}).get("metadata", {}).get("deletionTimestamp"):
            fins = md.get("finalizers") or []
            if "foregroundDeletion" in fins or "orphan" in fins:
                self.after(0.6, self._gc_owner_deleting, rkey, md.get("namespace", ""), md["name"], md["uid"], always=True)

    # --- CRDs / namespaces ----------------------------------------------------------------------------
    def _establish_crd(self, name, uid):
        import kinds
        self.store.update(CRDS, "", name, lambda o: kinds.crd_established(o) if not o["status"].get("conditions") else None, uid=uid)

    def _purge_crs(self, crd):
        spec = crd.get("spec", {})
        rkey = "%s/%s" % (spec.get("group", ""), spec.get("names", {}).get("plural"))
        for o in self.store.list(rkey):
            self.store.remove(rkey, o["metadata"].get("namespace", ""), o["metadata"]["name"])

    def _ns_cleanup(self, name, uid):
        remaining = 0
        with self.store.lock:
            for rdef in self.registry.all():
                if not rdef.namespaced:
                    continue
                for o in self.store.list(rdef.key, name):
                    remaining += 1
                    if not o["metadata"].get("deletionTimestamp"):
                        self.api.delete_object(rdef, o, "Background")
            if remaining == 0:
                cur = self.store.get(NS, "", name)
                if cur and cur["metadata"]["uid"] == uid:
                    self.store.remove(NS, "", name)
                return
        self.after(0.5, self._ns_cleanup, name, uid, always=True)

    # --- garbage collector ----------------------------------------------------------------------------
    def _owner_alive(self, dep, ref):
        rdef = self.registry.for_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rdef is None:
            return False
        ns = dep["metadata"].get("namespace", "") if rdef.namespaced else ""
        o = self.store.get(rdef.key, ns, ref.get("name", ""))
        return o is not None and o["metadata"]["uid"] == ref.get("uid")

    def _gc_orphans_of(self, uid):
        with self.store.lock:
            for rkey, ns, name in self.store.dependents(uid):
                dep = self.store.get(rkey, ns, name)
                rdef = self.registry.by_resource_key(rkey)
                if dep is None or rdef is None:
                    continue
                refs = dep["metadata"].get("ownerReferences") or []
                alive = [r for r in refs if self._owner_alive(dep, r)]
                if not alive:
                    if not dep["metadata"].get("deletionTimestamp"):
                        self.api.delete_object(rdef, dep, "Background")
                elif len(alive) != len(refs):
                    def fn(o, keep=[r.get("uid") for r in alive]):
                        o["metadata"]["ownerReferences"] = [r for r in o["metadata"]["ownerReferences"] if r.get("uid") in keep]
                        return o
                    self.store.update(rkey, ns, name, fn)

    def _gc_owner_deleting(self, rkey, ns, name, uid):
        rdef = self.registry.by_resource_key(rkey)
        with self.store.lock:
            owner = self.store.get(rkey, ns, name)
            if owner is None or owner["metadata"]["uid"] != uid or rdef is None:
                return
            fins = owner["metadata"].get("finalizers") or []
            deps = self.store.dependents(uid)
            if "orphan" in fins:
                for dk, dns, dname in deps:
                    def fn(o):
                        o["metadata"]["ownerReferences"] = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                        if not o["metadata"]["ownerReferences"]:
                            del o["metadata"]["ownerReferences"]
                        return o
                    self.store.update(dk, dns, dname, fn)
                self.api.remove_finalizer(rdef, ns, name, "orphan")
                return
            if "foregroundDeletion" in fins:
                for dk, dns, dname in deps:
                    dep = self.store.get(dk, dns, dname)
                    ddef = self.registry.by_resource_key(dk)
                    if dep is not None and ddef is not None and not dep["metadata"].get("deletionTimestamp"):
                        self.api.delete_object(ddef, dep, "Background")
                if not self.store.dependents(uid):
                    self.after(0.4, self._gc_foreground_check, uid, always=True)

    def _gc_foreground_check(self, uid):
        if not uid:
            return
        with self.store.lock:
            if self.store.dependents(uid):
                return
            # the owner with this uid, if it waits in foreground deletion
            loc = self.store.find_uid(uid)
            if loc is None:
                return
            rdef = self.registry.by_resource_key(loc[0])
            o = self.store.get(*loc)
            if rdef is not None and o is not None and "foregroundDeletion" in (o["metadata"].get("finalizers") or []) \
                    and o["metadata"].get("deletionTimestamp"):
                self.api.remove_finalizer(rdef, loc[1], loc[2], "foregroundDeletion")

    # --- job controller ----------------------------------------------------------------------------
    def _queue_job(self, ns, name):
        if (ns, name) in self.pending_jobs:
            return
        self.pending_jobs.add((ns, name))
        self.after(0.01, self._job_sync, ns, name)

    def _job_sync(self, ns, name):
        self.pending_jobs.discard((ns, name))
        pdef = self.registry.by_resource_key(PODS)
        with self.store.lock:
            job = self.store.get(JOBS, ns, name)
            if job is None or job["metadata"].get("deletionTimestamp"):
                return
            st = job.get("status") or {}
            if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in st.get("conditions") or []):
                return
            uid = job["metadata"]["uid"]
            spec = job.get("spec") or {}
            pods = []
            for rk, pns, pname in self.store.dependents(uid):
                if rk == PODS:
                    p = self.store.get(PODS, pns, pname)
                    if p and any(r.get("uid") == uid and r.get("controller") for r in p["metadata"].get("ownerReferences") or []):
                        pods.append(p)
            active = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                      and not p["metadata"].get("deletionTimestamp")]
            succ = max(st.get("succeeded", 0), sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"))
            fail = max(st.get("failed", 0), sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed"))
            completions = spec.get("completions", 1) or 1
            parallelism = spec.get("parallelism", 1)
            backoff = spec.get("backoffLimit", 6)
            now = now_ts()
            new = deep_copy(job)
            ns_st = new.setdefault("status", {})
            if not ns_st.get("startTime"):
                ns_st["startTime"] = now
                if spec.get("activeDeadlineSeconds"):
                    self.after(spec["activeDeadlineSeconds"], self._queue_job, ns, name)
            cond = None
            if fail > backoff:
                cond = {"type": "Failed", "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                        "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
            elif spec.get("activeDeadlineSeconds") and time.time() - parse_ts(ns_st["startTime"]) >= spec["activeDeadlineSeconds"] * self.scale:
                cond = {"type": "Failed", "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
                        "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}
            elif succ >= completions:
                cond = {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now}
                ns_st["completionTime"] = now
            if cond:
                ns_st["conditions"] = (ns_st.get("conditions") or []) + [cond]
                if cond["type"] == "Failed":
                    for p in active:
                        self.api.delete_object(pdef, p, "Background")
                    active = []
            else:
                want = min(parallelism, completions - succ) - len(active)
                for _ in range(max(0, want)):
                    self._job_create_pod(job)
                    active.append(None)
            if active:
                ns_st["active"] = len(active)
            else:
                ns_st.pop("active", None)
            if succ:
                ns_st["succeeded"] = succ
            if fail:
                ns_st["failed"] = fail
            if new != job:
                self.store.replace(JOBS, new)

    def _job_create_pod(self, job):
        tmpl = deep_copy((job.get("spec") or {}).get("template") or {})
        md = tmpl.get("metadata") or {}
        name = job["metadata"]["name"]
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "%s-%s" % (name, "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))),
                             "labels": dict(md.get("labels") or {}),
                             "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                                  "uid": job["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]},
                "spec": tmpl.get("spec") or {}}
        if md.get("annotations"):
            body["metadata"]["annotations"] = dict(md["annotations"])
        try:
            self.api.create(self.registry.by_resource_key(PODS), job["metadata"]["namespace"], body, "v1", "kube-controller-manager")
        except Exception:
            traceback.print_exc()

    # --- Events like the scheduler and kubelet write them ------------------------------------------------
    def _event(self, key, uid, reason, message, etype="Normal", container=None, scheduler=False):
        if not self.opts.kubelet_events:
            return
        pod = self.store.get(PODS, *key)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        node = (pod.get("spec") or {}).get("nodeName", "")
        inv = {"kind": "Pod", "namespace": key[0], "name": key[1], "uid": uid, "apiVersion": "v1",
               "resourceVersion": pod["metadata"]["resourceVersion"]}
        if container:
            inv["fieldPath"] = "spec.containers{%s}" % container
        now = now_ts()
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": "%s.%x" % (key[1], time.time_ns() + random.randint(0, 999)), "namespace": key[0]},
              "involvedObject": inv, "reason": reason, "message": message}
        if scheduler:
            ev.update({"source": {}, "firstTimestamp": None, "lastTimestamp": None, "type": etype,
                       "eventTime": micro_ts(), "action": "Binding" if reason == "Scheduled" else "Scheduling",
                       "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-fakeapi"})
        else:
            ev.update({"source": {"component": "kubelet", "host": node}, "firstTimestamp": now, "lastTimestamp": now,
                       "count": 1, "type": etype, "eventTime": None, "reportingComponent": "", "reportingInstance": ""})
        try:
            self.api.create(self.registry.by_resource_key("/events"), key[0], ev, "v1",
                            "kube-scheduler" if scheduler else "kubelet")
        except Exception:
            pass   # e.g. the namespace is being deleted
        self._trim_events()

    def _trim_events(self):
        """Like the events TTL of a real cluster: keep at most --max-events Events (oldest go first, with DELETED)."""
        limit = self.opts.max_events
        with self.store.lock:
            n = self.store.count("/events")
            if n <= limit:
                return
            b = self.store.objs.get("/events", {})
            oldest = sorted(b.items(), key=lambda kv: int(kv[1]["metadata"]["resourceVersion"]))[:n - limit + limit // 10]
            for (ns, name), _ in oldest:
                self.store.remove("/events", ns, name)

    # --- pods: scheduler + kubelet ---------------------------------------------------------------------
    def _pod_event(self, etype, obj, prev):
        md = obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        for ref in md.get("ownerReferences") or []:
            if ref.get("kind") == "Job" and ref.get("controller"):
                self._queue_job(key[0], ref.get("name"))
        if etype == "DELETED":
            with self.store.lock:
                cur = self.store.get(PODS, *key)
                if cur is None:     # not re-created meanwhile: its container logs go with it
                    for c in ((obj.get("spec") or {}).get("containers") or []) + ((obj.get("spec") or {}).get("initContainers") or []):
                        self.store.logs.pop((key[0], key[1], c.get("name")), None)
            n = (obj.get("spec") or {}).get("nodeName")
            if n and self.node_load.get(n):
                self.node_load[n] -= 1
            ps = self.pods.get(key)
            if ps and ps.uid == md["uid"]:
                for c in ps.containers:
                    c.gen += 1
                del self.pods[key]
            return
        phase = (obj.get("status") or {}).get("phase")
        if etype == "ADDED":
            if phase in ("Succeeded", "Failed"):
                return
            if (obj.get("spec") or {}).get("nodeName"):
                self.after(0.1, self._kubelet_admit, key, md["uid"])
            else:
                self.after(0.1, self._schedule, key, md["uid"])
            return
        if md.get("deletionTimestamp") and not (prev or {}).get("metadata", {}).get("deletionTimestamp"):
            self.after(0.02, self._kubelet_kill, key, md["uid"])

    def _nodes_ready(self):
        out = []
        for n in self.store.list(NODES):
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {}).get("conditions") or [])
            if ready:
                out.append(n)
        return out

    def _tolerates(self, pod, taint):
        for t in (pod.get("spec") or {}).get("tolerations") or []:
            if t.get("effect") and t["effect"] != taint.get("effect"):
                continue
            if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint.get("key")):
                return True
            if t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
                return True
        return False

    def _schedule(self, key, uid):
        with self.store.lock:
            pod = self.store.get(PODS, *key)
            if pod is None or pod["metadata"]["uid"] != uid or pod["metadata"].get("deletionTimestamp"):
                return
            if (pod.get("spec") or {}).get("nodeName"):
                return
            sel = (pod.get("spec") or {}).get("nodeSelector") or {}
            nodes = self.store.list(NODES)
            cands, n_sel, n_taint, n_notready = [], 0, 0, 0
            for n in nodes:
                labels = n["metadata"].get("labels") or {}
                if any(labels.get(k) != v for k, v in sel.items()):
                    n_sel += 1
                    continue
                ready = any(c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {}).get("conditions") or [])
                taints = [t for t in (n.get("spec") or {}).get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
                if any(not self._tolerates(pod, t) for t in taints):
                    n_taint += 1
                    continue
                if not ready:
                    n_notready += 1
                    continue
                cands.append(n)
            now = now_ts()
            if not cands:
                reasons = []
                if n_sel:
                    reasons.append("%d node(s) didn't match node selector" % n_sel)
                if n_taint:
                    reasons.append("%d node(s) had taint that the pod didn't tolerate" % n_taint)
                if n_notready:
                    reasons.append("%d node(s) were not ready" % n_notready)
                msg = "0/%d nodes are available: %s." % (len(nodes), ", ".join(reasons) if reasons else "no nodes available")

                def unsched(o):
                    st = o.setdefault("status", {})
                    cur = [c for c in st.get("conditions") or [] if c["type"] == "PodScheduled"]
                    if cur and cur[0].get("reason") == "Unschedulable" and cur[0].get("message") == msg:
                        return None
                    st["conditions"] = [{"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                                         "lastTransitionTime": now, "reason": "Unschedulable", "message": msg}]
                    return o
                if self.store.update(PODS, key[0], key[1], unsched, uid=uid) is not None:
                    self._event(key, uid, "FailedScheduling", msg, "Warning", scheduler=True)
                self.after(1.0, self._schedule, key, uid)
                return
            # spread: least loaded node (pods bound by this scheduler and not yet deleted)
            node = min(cands, key=lambda n: (self.node_load.get(n["metadata"]["name"], 0), n["metadata"]["name"]))["metadata"]["name"]

            def bind(o):
                o["spec"]["nodeName"] = node
                st = o.setdefault("status", {})
                st["conditions"] = [{"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}]
                return o
            if self.store.update(PODS, key[0], key[1], bind, uid=uid) is not None:
                self.node_load[node] = self.node_load.get(node, 0) + 1
                self._event(key, uid, "Scheduled", "Successfully assigned %s/%s to %s" % (key[0], key[1], node), scheduler=True)
                self.after(0.2, self._kubelet_admit, key, uid)

    def _podsim(self, key, uid, pod):
        ps = self.pods.get(key)
        if ps is None or ps.uid != uid:
            ps = PodSim(key, uid)
            ps.node = pod["spec"].get("nodeName")
            for i, c in enumerate(pod["spec"].get("containers") or []):
                ops, ign = pscript.parse(pscript.container_script(pod, i))
                ps.containers.append(Container(c["name"], c.get("image", ""), ops, ign))
            self.pods[key] = ps
        return ps

    def _kubelet_admit(self, key, uid):
        pod = self.store.get(PODS, *key)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        ps = self._podsim(key, uid, pod)
        if ps.node in self.kubelet_down:
            ps.dirty = True
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._kubelet_kill(key, uid)
            return
        if ps.start_time is None:
            ps.start_time = time.time()
            ads = (pod.get("spec") or {}).get("activeDeadlineSeconds")
            if ads:
                self.after(ads, self._deadline, key, uid)
        self._publish(ps)
        self.after(0.5, self._start_containers, key, uid)

    def _log(self, key, cname, text):
        with self.store.lock:
            lines = self.store.logs.setdefault((key[0], key[1], cname), [])
            lines.append([time.time(), text + "\n"])
            if len(lines) > 10000:          # bounded, like log rotation
                del lines[:1000]
            self.store.cond.notify_all()

    def _start_containers(self, key, uid):
        ps = self.pods.get(key)
        if ps is None or ps.uid != uid or ps.killing or ps.frozen:
            return
        if ps.node in self.kubelet_down:
            ps.dirty = True
            return
        pod = self.store.get(PODS, *key)
        if pod is None:
            return
        specs = {c["name"]: c for c in pod["spec"].get("containers") or []}
        ps.started = True
        for c in ps.containers:
            img = c.image
            pol = specs.get(c.name, {}).get("imagePullPolicy")
            if img.startswith("fake.invalid/"):
                c.state = {"waiting": {"reason": "ErrImagePull", "message":
                                       'rpc error: code = NotFound desc = failed to pull and unpack image "%s": failed to resolve '
                                       'reference "%s": %s: not found' % (img, img, img)}}
                self._event(key, uid, "Pulling", 'Pulling image "%s"' % img, container=c.name)
                self._event(key, uid, "Failed", 'Failed to pull image "%s": %s' % (img, c.state["waiting"]["message"]),
                            "Warning", container=c.name)
                self._event(key, uid, "Failed", "Error: ErrImagePull", "Warning", container=c.name)
                self.after(1.0, self._image_backoff, key, uid, c.name)
                continue
            if img.startswith("absent/") and pol == "Never":
                c.state = {"waiting": {"reason": "ErrImageNeverPull", "message":
                                       'Container image "%s" is not present with pull policy of Never' % img}}
                self._event(key, uid, "ErrImageNeverPull", c.state["waiting"]["message"], "Warning", container=c.name)
                continue
            self._event(key, uid, "Pulled", 'Container image "%s" already present on machine' % img, container=c.name)
            self._event(key, uid, "Created", "Created container %s" % c.name, container=c.name)
            self._event(key, uid, "Started", "Started container %s" % c.name, container=c.name)
            self._launch(ps, c)
        self._publish(ps)

    def _image_backoff(self, key, uid, cname):
        ps = self.pods.get(key)
        if ps is None or ps.uid != uid or ps.killing or ps.frozen:
            return
        for c in ps.containers:
            if c.name == cname and (c.state.get("waiting") or {}).get("reason") == "ErrImagePull":
                c.state = {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "%s"' % c.image}}
                self._event(key, uid, "BackOff", 'Back-off pulling image "%s"' % c.image, container=c.name)
                self._event(key, uid, "Failed", "Error: ImagePullBackOff", "Warning", container=c.name)
                self._publish(ps)

    def _launch(self, ps, c):
        c.cid = _cid()
        c.started_at = time.time()
        c.state = {"running": {"startedAt": now_ts(c.started_at)}}
        c.pc = 0
        c.gen += 1
        self._step(ps, c, c.gen, publish=False)

    def _step(self, ps, c, gen, publish=True):
        """Run the container's script until it blocks or ends."""
        if c.gen != gen or not c.running or ps.frozen:
            return
        key = ps.key
        while c.pc < len(c.ops):
            op, arg = c.ops[c.pc]
            c.pc += 1
            if op == "echo":
                self._log(key, c.name, arg)
            elif op == "sleep":
                self.after(arg, self._resume, ps.key, ps.uid, c.name, gen)
                if publish:
                    self._publish(ps)
                return
            elif op == "hang":
                if publish:
                    self._publish(ps)
                return
            elif op == "exit":
                self._terminate(ps, c, arg, "Completed" if arg == 0 else "Error")
                if publish:
                    self._publish(ps)
                return
            elif op == "oom":
                self._terminate(ps, c, 137, "OOMKilled")
                if publish:
                    self._publish(ps)
                return
        self._terminate(ps, c, 0, "Completed")
        if publish:
            self._publish(ps)

    def _resume(self, key, uid, cname, gen):
        ps = self.pods.get(key)
        if ps is None or ps.uid != uid:
            return
        for c in ps.containers:
            if c.name == cname:
                if ps.node in self.kubelet_down and ps.node not in self.partitioned:
                    # the container keeps running while the kubelet is away; continue when it is back
                    ps.dirty = True
                    ps.resume_later = getattr(ps, "resume_later", []) + [(c, gen)]
                    return
                self._step(ps, c, gen)

    def _terminate(self, ps, c, code, reason):
        c.gen += 1
        c.state = {"terminated": {"exitCode": code, "reason": reason, "startedAt": now_ts(c.started_at or time.time()),
                                  "finishedAt": now_ts(), "containerID": c.cid or _cid()}}
        pod = self.store.get(PODS, *ps.key)
        rp = ((pod or {}).get("spec") or {}).get("restartPolicy", "Always")
        if not ps.killing and pod is not None and (rp == "Always" or (rp == "OnFailure" and code != 0)):
            c.last_state = c.state
            c.restart_count += 1
            c.state = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off %ds restarting failed container=%s pod=%s_%s(%s)" % (
                min(300, 10 * 2 ** (c.restart_count - 1)), c.name, ps.key[1], ps.key[0], ps.uid)}}
            self.after(min(300, 10 * 2 ** (c.restart_count - 1)), self._restart_container, ps.key, ps.uid, c.name, c.gen)

    def _restart_container(self, key, uid, cname, gen):
        ps = self.pods.get(key)
        if ps is None or ps.uid != uid or ps.killing or ps.frozen:
            return
        for c in ps.containers:
            if c.name == cname and c.gen == gen:
                self._launch(ps, c)
                self._publish(ps)

    def _status(self, ps, pod):
        """Pod status computed from the simulated containers."""
        st = deep_copy(pod.get("status") or {})
        now = now_ts()
        spec = pod.get("spec") or {}
        node = self.store.get(NODES, "", spec.get("nodeName", ""))
        host_ip = None
        if node:
            for a in (node.get("status") or {}).get("addresses") or []:
                if a.get("type") == "InternalIP":
                    host_ip = a["address"]
        cs_list = []
        for c in ps.containers:
            cs = {"name": c.name, "state": deep_copy(c.state), "lastState": deep_copy(c.last_state), "ready": c.running and not ps.killing,
                  "restartCount": c.restart_count, "image": c.image,
                  "imageID": "sha256:" + "2954f0b80e3e59c6219bc91feb0f1d2ca73434ecfb3a829863c4bc91017bd658" if c.cid else ""}
            if c.cid:
                cs["containerID"] = c.cid
            cs["started"] = c.running
            cs_list.append(cs)
        all_term = all(c.terminated for c in ps.containers)
        any_run = any(c.running for c in ps.containers)
        rp = spec.get("restartPolicy", "Always")
        if all_term and ps.containers:
            phase = "Succeeded" if all(c.state["terminated"]["exitCode"] == 0 for c in ps.containers) else "Failed"
            if rp == "Always" and not ps.killing:
                phase = "Running"
        elif any_run or any(c.restart_count for c in ps.containers):
            phase = "Running"
        elif any(c.terminated for c in ps.containers):
            phase = "Running" if ps.started else "Pending"
        else:
            phase = "Pending"
        if ps.killing and all_term:
            phase = "Failed" if any(c.state["terminated"]["exitCode"] != 0 for c in ps.containers) else "Succeeded"
        ready = all(c.running for c in ps.containers) and not ps.killing
        old = {c["type"]: c for c in st.get("conditions") or []}

        def cond(typ, status, reason=None, message=None):
            o = old.get(typ)
            ltt = o["lastTransitionTime"] if o and o.get("status") == status else now
            c = {"type": typ, "status": status, "lastProbeTime": None, "lastTransitionTime": ltt}
            if reason:
                c["reason"] = reason
            if message:
                c["message"] = message
            return c
        unready = [c.name for c in ps.containers if not c.running]
        if phase == "Succeeded":
            conds = [cond("Initialized", "True", "PodCompleted"), cond("Ready", "False", "PodCompleted"),
                     cond("ContainersReady", "False", "PodCompleted")]
        elif ready:
            conds = [cond("Initialized", "True"), cond("Ready", "True"), cond("ContainersReady", "True")]
        else:
            msg = "containers with unready status: [%s]" % " ".join(unready)
            conds = [cond("Initialized", "True"), cond("Ready", "False", "ContainersNotReady", msg),
                     cond("ContainersReady", "False", "ContainersNotReady", msg)]
        conds.append(old.get("PodScheduled") or cond("PodScheduled", "True"))
        new = {"phase": phase, "conditions": conds}
        if host_ip:
            new["hostIP"] = host_ip
        if ps.started:
            new["podIP"] = ps.pod_ip
            new["podIPs"] = [{"ip": ps.pod_ip}]
        new["startTime"] = now_ts(ps.start_time or time.time())
        new["containerStatuses"] = cs_list
        new["qosClass"] = st.get("qosClass", "BestEffort")
        return new

    def _publish(self, ps):
        if ps.frozen:
            return
        if ps.node in self.kubelet_down:
            ps.dirty = True
            return
        ps.dirty = False

        def fn(o):
            new = self._status(ps, o)
            if new == o.get("status"):
                return None
            o["status"] = new
            return o
        self.store.update(PODS, ps.key[0], ps.key[1], fn, uid=ps.uid)
        if ps.killing and all(c.terminated or "waiting" in c.state for c in ps.containers):
            self._finish_delete(ps)

    def _deadline(self, key, uid):
        ps = self.pods.get(key)
        if ps is None or ps.uid != uid or ps.frozen or ps.killing:
            return
        pod = self.store.get(PODS, *key)
        if pod is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        if ps.node in self.kubelet_down:
            self.after(1.0, self._deadline, key, uid)
            return
        ps.frozen = True
        for c in ps.containers:
            c.gen += 1
        self._event(key, uid, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")

        def fn(o):
            st = o.get("status") or {}
            new = {"phase": "Failed", "message": "Pod was active on the node longer than the specified deadline",
                   "reason": "DeadlineExceeded"}
            for k in ("podIP", "podIPs", "startTime", "containerStatuses", "qosClass"):
                if k in st:
                    new[k] = st[k]
            for cs in new.get("containerStatuses") or []:
                cs["ready"] = False
                cs.pop("started", None)
            o["status"] = new
            return o
        self.store.update(PODS, key[0], key[1], fn, uid=uid)

    def evict(self, ns, name):
        """Kubelet eviction (node pressure): phase Failed, reason Evicted."""
        key = (ns, name)
        pod = self.store.get(PODS, ns, name)
        if pod is None:
            return False
        uid = pod["metadata"]["uid"]
        ps = self.pods.get(key)
        if ps is not None and ps.uid == uid:
            ps.frozen = True
            for c in ps.containers:
                c.gen += 1
        cname = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", "main")

        def fn(o):
            st = o.get("status") or {}
            new = {"phase": "Failed",
                   "message": "The node was low on resource: memory. Container %s was using 1024Mi, which exceeds its request of 0. " % cname,
                   "reason": "Evicted"}
            for k in ("startTime", "qosClass"):
                if k in st:
                    new[k] = st[k]
            css = []
            for cs in st.get("containerStatuses") or []:
                cs = deep_copy(cs)
                if "running" in cs.get("state", {}):
                    cs["state"] = {"terminated": {"exitCode": 137, "reason": "Error",
                                                  "startedAt": cs["state"]["running"]["startedAt"], "finishedAt": now_ts(),
                                                  "containerID": cs.get("containerID", _cid())}}
                cs["ready"] = False
                cs["started"] = False
                css.append(cs)
            if css:
                new["containerStatuses"] = css
            o["status"] = new
            return o
        self.store.update(PODS, ns, name, fn, uid=uid)
        self._event(key, uid, "Evicted", "The node was low on resource: memory. ", "Warning")
        return True

    def evict_via_api(self, ns, name):
        """POST pods/eviction: a graceful delete (no PodDisruptionBudgets in the fake)."""
        pdef = self.registry.by_resource_key(PODS)
        with self.store.lock:
            pod = self.api.get(pdef, ns, name)
            self.api.delete_object(pdef, pod)
        return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def _kubelet_kill(self, key, uid):
        pod = self.store.get(PODS, *key)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        ps = self.pods.get(key)
        if ps is None or ps.uid != uid:
            if (pod.get("spec") or {}).get("nodeName"):
                ps = self._podsim(key, uid, pod)
            else:
                self._final_delete(key, uid)
                return
        if ps.node in self.kubelet_down:
            ps.dirty = True
            return
        if ps.killing:
            return
        ps.killing = True
        md = pod["metadata"]
        grace_end = parse_ts(md.get("deletionTimestamp")) or time.time()
        remaining = max(0.0, grace_end - time.time()) / (self.scale or 1)
        any_running = False
        for c in ps.containers:
            c.gen += 1
            if c.running:
                any_running = True
                self._event(key, uid, "Killing", "Stopping container %s" % c.name, container=c.name)
                if c.ignore_term:
                    self.after(remaining, self._sigkill, key, uid, c.name)
                else:
                    self.after(0.05, self._sigterm_exit, key, uid, c.name)
        if not any_running:
            if ps.frozen:
                self._final_delete(key, uid)
            else:
                self._publish(ps)
                if not any(c.running for c in ps.containers):
                    self._finish_delete(ps)

    def _sigterm_exit(self, key, uid, cname):
        self._kill_container(key, uid, cname, 143)

    def _sigkill(self, key, uid, cname):
        self._kill_container(key, uid, cname, 137)

    def _kill_container(self, key, uid, cname, code):
        ps = self.pods.get(key)
        if ps is None or ps.uid != uid:
            return
        if ps.node in self.kubelet_down:
            ps.dirty = True
            return
        for c in ps.containers:
            if c.name == cname and c.running:
                self._terminate(ps, c, code, "Error")
        if ps.frozen:
            if not any(c.running for c in ps.containers):
                self._final_delete(key, uid)
            return
        self._publish(ps)

    def _finish_delete(self, ps):
        if getattr(ps, "finishing", False):
            return
        ps.finishing = True
        self.after(0.05, self._final_delete, ps.key, ps.uid)

    def _final_delete(self, key, uid):
        """The kubelet's final DELETE with grace 0: MODIFIED (grace 0, deletionTimestamp moved back), then DELETED."""
        with self.store.lock:
            pod = self.store.get(PODS, *key)
            if pod is None or pod["metadata"]["uid"] != uid:
                return

            def fn(o):
                md = o["metadata"]
                if md.get("deletionGracePeriodSeconds", 0) == 0:
                    return None
                shortened_deletion(md, 0, self.scale)
                return o
            self.store.update(PODS, key[0], key[1], fn, uid=uid)
            pod = self.store.get(PODS, *key)
            if pod is not None and not pod["metadata"].get("finalizers"):
                self.store.remove(PODS, key[0], key[1])

    # --- node lifecycle ----------------------------------------------------------------------------
    def kubelet_stop(self, node, partition=False):
        """The node's kubelet stops reaching the API server. Default: its containers' scripts pause
        until kubelet_start. partition=True: a network partition (or a kubelet that dies between a
        container's exit and its status update) - the containers go on running and may finish, and
        nothing of it reaches the server (pods keep their last reported phase) until kubelet_start
        reports the true, possibly terminal, states, as a returning kubelet does."""
        if self.store.get(NODES, "", node) is None:
            return False
        if node in self.kubelet_down:
            return True
        if partition:
            self.partitioned.add(node)
        self.kubelet_down[node] = time.time()
        self.node_gen[node] = self.node_gen.get(node, 0) + 1
        self.after(self.opts.node_grace_seconds, self._node_unreachable, node, self.node_gen[node], always=True)
        return True

    def _node_unreachable(self, node, gen):
        if self.node_gen.get(node) != gen or node not in self.kubelet_down:
            return
        now = now_ts()
        with self.store.lock:
            def fn(o):
                for c in o["status"]["conditions"]:
                    c["status"] = "Unknown"
                    c["lastTransitionTime"] = now
                    c["reason"] = "NodeStatusUnknown"
                    c["message"] = "Kubelet stopped posting node status."
                return o

            def taint(o):
                taints = [t for t in o["spec"].get("taints") or [] if t.get("key") != "node.kubernetes.io/unreachable"]
                taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": now})
                o["spec"]["taints"] = taints
                return o
            # two writes, like the node lifecycle controller (status first, then the taint)
            self.store.update(NODES, "", node, fn)
            self.store.update(NODES, "", node, taint)
            for p in self.store.list(PODS):
                if (p.get("spec") or {}).get("nodeName") != node or (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    continue

                def pf(o):
                    for c in (o.get("status") or {}).get("conditions") or []:
                        if c["type"] == "Ready" and c["status"] != "False":
                            c["status"] = "False"
                            c["lastTransitionTime"] = now
                            c.pop("reason", None)
                            c.pop("message", None)
                            return o
                    return None
                self.store.update(PODS, p["metadata"]["namespace"], p["metadata"]["name"], pf)
            others = [n for n in self._nodes_ready() if n["metadata"]["name"] != node]
        if others:
            self.after(5.0, self._node_noexecute, node, gen, always=True)

    def _node_noexecute(self, node, gen):
        if self.node_gen.get(node) != gen or node not in self.kubelet_down:
            return
        if not [n for n in self._nodes_ready() if n["metadata"]["name"] != node]:
            return  # every node down: disruption mode, evict nothing
        now = now_ts()

        def fn(o):
            taints = o["spec"].get("taints") or []
            if any(t.get("key") == "node.kubernetes.io/unreachable" and t.get("effect") == "NoExecute" for t in taints):
                return None
            taints.append({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": now})
            o["spec"]["taints"] = taints
            return o
        self.store.update(NODES, "", node, fn)
        taint = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}
        for p in self.store.list(PODS):
            if (p.get("spec") or {}).get("nodeName") != node or p["metadata"].get("deletionTimestamp"):
                continue
            secs = 0
            tolerated = False
            for t in (p.get("spec") or {}).get("tolerations") or []:
                if self._tolerates({"spec": {"tolerations": [t]}}, taint):
                    tolerated = True
                    if t.get("tolerationSeconds") is None:
                        secs = None
                        break
                    secs = max(0, t["tolerationSeconds"])
            if tolerated and secs is None:
                continue
            self.after(secs if tolerated else 0, self._taint_evict, p["metadata"]["namespace"], p["metadata"]["name"],
                       p["metadata"]["uid"], node, gen, always=True)

    def _taint_evict(self, ns, name, uid, node, gen):
        if self.node_gen.get(node) != gen or node not in self.kubelet_down:
            return
        pdef = self.registry.by_resource_key(PODS)
        with self.store.lock:
            p = self.store.get(PODS, ns, name)
            if p is None or p["metadata"]["uid"] != uid or p["metadata"].get("deletionTimestamp"):
                return
            self.api.delete_object(pdef, p, "Background")

    def kubelet_start(self, node):
        if node not in self.kubelet_down:
            return self.store.get(NODES, "", node) is not None
        del self.kubelet_down[node]
        self.partitioned.discard(node)
        self.node_gen[node] = self.node_gen.get(node, 0) + 1
        now = now_ts()

        def fn(o):
            for c in o["status"]["conditions"]:
                want = "True" if c["type"] == "Ready" else "False"
                if c["status"] != want:
                    c["status"] = want
                    c["lastTransitionTime"] = now
                    c["reason"] = {"Ready": "KubeletReady", "MemoryPressure": "KubeletHasSufficientMemory",
                                   "DiskPressure": "KubeletHasNoDiskPressure", "PIDPressure": "KubeletHasSufficientPID"}[c["type"]]
                    c["message"] = "kubelet is posting ready status" if c["type"] == "Ready" else "kubelet is healthy"
                c["lastHeartbeatTime"] = now
            taints = [t for t in o["spec"].get("taints") or [] if t.get("key") != "node.kubernetes.io/unreachable"]
            if taints:
                o["spec"]["taints"] = taints
            else:
                o["spec"].pop("taints", None)
            return o
        self.store.update(NODES, "", node, fn)
        # the kubelet catches up on its pods
        for key, ps in list(self.pods.items()):
            if ps.node != node:
                continue
            pending = getattr(ps, "resume_later", [])
            ps.resume_later = []
            pod = self.store.get(PODS, *key)
            if pod is None:
                continue
            if pod["metadata"].get("deletionTimestamp") and not ps.killing:
                self._kubelet_kill(key, ps.uid)
                continue
            if not ps.started and not ps.killing:
                self.after(0.1, self._kubelet_admit, key, ps.uid)
                continue
            for c, gen in pending:
                self._step(ps, c, gen, publish=False)
            if ps.killing:
                for c in ps.containers:
                    if c.running:
                        self._terminate(ps, c, 137, "Error")
            ps.dirty = True
            self._publish(ps)   # Ready is recomputed from the containers
        # pods bound to the node that never reached the kubelet
        for p in self.store.list(PODS):
            if (p.get("spec") or {}).get("nodeName") == node:
                k = (p["metadata"]["namespace"], p["metadata"]["name"])
                if k not in self.pods and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    self.after(0.1, self._kubelet_admit, k, p["metadata"]["uid"])
        return True



def _restore(self, extra):
    """After loading state.json: pick up every unfinished piece of work again (on the sim thread)."""
    for node in (extra or {}).get("kubelet_down", []):
        self.kubelet_down[node] = time.time()
        self.node_gen[node] = self.node_gen.get(node, 0) + 1
    now = time.time()
    for p in self.store.list(PODS):
        md, spec, st = p["metadata"], p.get("spec") or {}, p.get("status") or {}
        key, uid = (md.get("namespace", ""), md["name"]), md["uid"]
        if st.get("phase") in ("Succeeded", "Failed") and not md.get("deletionTimestamp"):
            continue
        if not spec.get("nodeName"):
            self.after(0.1, self._schedule, key, uid)
            continue
        ps = self._podsim(key, uid, p)
        ps.start_time = parse_ts(st.get("startTime")) or now
        if st.get("reason") in ("DeadlineExceeded", "Evicted"):
            ps.frozen = True
        by_name = {cs["name"]: cs for cs in st.get("containerStatuses") or []}
        need_start = False
        for c in ps.containers:
            cs = by_name.get(c.name)
            if cs is None or (cs.get("state", {}).get("waiting") or {}).get("reason") == "ContainerCreating":
                need_start = True
                continue
            ps.started = True
            c.state = deep_copy(cs.get("state") or {})
            c.last_state = deep_copy(cs.get("lastState") or {})
            c.restart_count = cs.get("restartCount", 0)
            c.cid = cs.get("containerID")
            if "running" in c.state:
                c.started_at = parse_ts(c.state["running"].get("startedAt")) or now
                self._fast_forward(ps, c, now - c.started_at)
        ads = spec.get("activeDeadlineSeconds")
        if ads and not ps.frozen:
            self.after(max(0.0, ads - (now - ps.start_time) / (self.scale or 1)), self._deadline, key, uid)
        if md.get("deletionTimestamp"):
            self.after(0.05, self._kubelet_kill, key, uid)
        elif need_start:
            self.after(0.5, self._start_containers, key, uid)
    for j in self.store.list(JOBS):
        self._queue_job(j["metadata"].get("namespace", ""), j["metadata"]["name"])
    for n in self.store.list(NS):
        if n["metadata"].get("deletionTimestamp"):
            self.after(0.1, self._ns_cleanup, n["metadata"]["name"], n["metadata"]["uid"], always=True)
    for rdef in self.registry.all():
        for o in self.store.list(rdef.key):
            md = o["metadata"]
            if md.get("deletionTimestamp") and set(md.get("finalizers") or []) & {"foregroundDeletion", "orphan"}:
                self.after(0.6, self._gc_owner_deleting, rdef.key, md.get("namespace", ""), md["name"], md["uid"], always=True)
            for ref in md.get("ownerReferences") or []:
                if not self._owner_alive(o, ref):
                    self.after(0.6, self._gc_orphans_of, ref.get("uid"), always=True)
    for crd in self.store.list(CRDS):
        if not crd["status"].get("conditions"):
            self.after(0.05, self._establish_crd, crd["metadata"]["name"], crd["metadata"]["uid"], always=True)


def _fast_forward(self, ps, c, elapsed):
    """Skip the part of a running container's script that already happened before the restart."""
    c.gen += 1
    scale = self.scale or 1
    with self.store.lock:
        logged = len(self.store.logs.get((ps.key[0], ps.key[1], c.name), []))
    while c.pc < len(c.ops):
        op, arg = c.ops[c.pc]
        if op == "echo":
            c.pc += 1
            if logged > 0:
                logged -= 1          # already in the log before the restart
            else:
                self._log(ps.key, c.name, arg)   # written while the server was down
        elif op == "sleep":
            c.pc += 1
            if elapsed >= arg * scale:
                elapsed -= arg * scale
                continue
            self.after((arg * scale - elapsed) / scale, self._resume, ps.key, ps.uid, c.name, c.gen)
            return
        else:
            break
    self.after(0, self._step, ps, c, c.gen)


Sim.restore = _restore
Sim._fast_forward = _fast_forward
