"""The object store: every object of every resource, a global resourceVersion and a watch history per resource.

The history is a real API server's watch cache (apiserver/pkg/storage/cacher, 1.19 and later): one
window of events per resource, so churn of one kind never expires a watch on another; each window
keeps at least the last 100 events and everything younger than `fresh_s` (75 s, a bookmark period
plus 15 s), up to `history` events. A watch or a limited LIST from a resourceVersion older than its
resource's window gets 410 Expired.

All shared state is guarded by one lock (`Store.lock`); `Store.cond` is notified on every change so watchers
can wait for new events. Stored objects are never mutated in place: a change stores a new dict, so the
history and open watches can keep references to old versions safely.
"""
import collections
import json
import os
import threading
import time

from kutil import deep_copy


class Store:
    LOWER_BOUND = 100     # a real watch cache's defaultLowerBoundCapacity

    def __init__(self, history=100 * 1024, first_rv=100, fresh_s=75.0):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = first_rv
        self.objs = {}                       # rkey -> {(ns, name): obj}
        self.history = {}                    # rkey -> deque of (rv, type, obj, prev, time)
        self.history_max = max(10, int(history))
        self.fresh_s = float(fresh_s)
        self.floor_rv = first_rv             # compaction: no history at or before this RV, any resource
        self.evicted_rv = {}                 # rkey -> RV of its newest event dropped from its window
        self.owner_index = {}                # owner uid -> set((rkey, ns, name))
        self.by_uid = {}                     # uid -> (rkey, ns, name)
        self.hooks = []                      # fn(rkey, type, obj, prev) called under the lock; must not block
        self.logs = {}                       # (ns, pod, container) -> list of str (container stdout)

    # --- helpers -----------------------------------------------------------------------------
    def _bucket(self, rkey):
        b = self.objs.get(rkey)
        if b is None:
            b = self.objs[rkey] = {}
        return b

    def _index(self, rkey, obj, add):
        ns = obj["metadata"].get("namespace", "")
        name = obj["metadata"]["name"]
        uid = obj["metadata"].get("uid")
        if uid:
            if add:
                self.by_uid[uid] = (rkey, ns, name)
            elif self.by_uid.get(uid) == (rkey, ns, name):
                del self.by_uid[uid]
        for ref in obj["metadata"].get("ownerReferences") or []:
            uid = ref.get("uid")
            if not uid:
                continue
            s = self.owner_index.get(uid)
            if add:
                if s is None:
                    s = self.owner_index[uid] = set()
                s.add((rkey, ns, name))
            elif s is not None:
                s.discard((rkey, ns, name))
                if not s:
                    del self.owner_index[uid]

    def min_rv(self, rkey):
        """Events of rkey with rv > min_rv(rkey) are all in its window (caller holds the lock)."""
        return max(self.floor_rv, self.evicted_rv.get(rkey, 0))

    def _emit(self, rkey, etype, obj, prev):
        now = time.monotonic()
        win = self.history.get(rkey)
        if win is None:
            win = self.history[rkey] = collections.deque()
        win.append((self.rv, etype, obj, prev, now))
        keep = min(self.LOWER_BOUND, self.history_max)
        while len(win) > self.history_max or (len(win) > keep and now - win[0][4] > self.fresh_s):
            self.evicted_rv[rkey] = win.popleft()[0]
        for h in self.hooks:
            try:
                h(rkey, etype, obj, prev)
            except Exception:  # a hook must never break the store
                import traceback
                traceback.print_exc()
        self.cond.notify_all()

    def next_rv(self):
        with self.lock:
            self.rv += 1
            return self.rv

    # --- reads ---------------------------------------------------------------------------------
    def get(self, rkey, ns, name):
        with self.lock:
            return self.objs.get(rkey, {}).get((ns or "", name))

    def list(self, rkey, ns=None):
        with self.lock:
            b = self.objs.get(rkey, {})
            if ns:
                items = [(k, o) for k, o in b.items() if k[0] == ns]
            else:
                items = list(b.items())
        items.sort(key=lambda kv: kv[0])
        return [o for _, o in items]

    def count(self, rkey):
        with self.lock:
            return len(self.objs.get(rkey, {}))

    def find_uid(self, uid):
        with self.lock:
            return self.by_uid.get(uid)

    def dependents(self, uid):
        with self.lock:
            return sorted(self.owner_index.get(uid, ()))

    # --- writes (callers hold no other locks) -----------------------------------------------------
    def create(self, rkey, obj):
        """Store a new object; sets metadata.resourceVersion. Returns the stored object."""
        with self.lock:
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            self._bucket(rkey)[key] = obj
            self._index(rkey, obj, True)
            self._emit(rkey, "ADDED", obj, None)
            return obj

    def replace(self, rkey, obj):
        """Store a new version of an existing object (MODIFIED)."""
        with self.lock:
            key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            b = self._bucket(rkey)
            prev = b.get(key)
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            if prev is not None:
                self._index(rkey, prev, False)
            b[key] = obj
            self._index(rkey, obj, True)
            self._emit(rkey, "MODIFIED", obj, prev)
            return obj

    def remove(self, rkey, ns, name):
        """Remove an object; the DELETED event carries the last stored state with a new RV."""
        with self.lock:
            b = self._bucket(rkey)
            prev = b.pop((ns or "", name), None)
            if prev is None:
                return None
            self._index(rkey, prev, False)
            self.rv += 1
            gone = dict(prev)
            gone["metadata"] = dict(prev["metadata"])
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self._emit(rkey, "DELETED", gone, prev)
            return gone

    def update(self, rkey, ns, name, fn, uid=None):
        """Atomic read-modify-write for controllers: fn(copy) returns the new object, or None for no change.
        Returns the stored object or None."""
        with self.lock:
            cur = self.objs.get(rkey, {}).get((ns or "", name))
            if cur is None or (uid and cur["metadata"].get("uid") != uid):
                return None
            new = fn(deep_copy(cur))
            if new is None:
                return None
            return self.replace(rkey, new)

    def compact(self):
        with self.lock:
            self.history.clear()
            self.evicted_rv.clear()
            self.floor_rv = self.rv
            self.cond.notify_all()

    def newest_rv(self, rkey):
        """RV of rkey's newest event in its window, 0 if none (caller holds the lock)."""
        h = self.history.get(rkey)
        return h[-1][0] if h else 0

    def events_since(self, rkey, since_rv):
        """rkey's events with rv > since_rv (caller holds the lock). None if since_rv is too old."""
        if since_rv < self.min_rv(rkey):
            return None
        out = []
        for ent in reversed(self.history.get(rkey, ())):
            if ent[0] <= since_rv:
                break
            out.append(ent)
        out.reverse()
        return out

    # --- persistence ---------------------------------------------------------------------------
    def save(self, path, extra=None):
        with self.lock:
            data = {"rv": self.rv, "objs": {rk: list(b.values()) for rk, b in self.objs.items()},
                    "logs": [[list(k), v] for k, v in self.logs.items()], "extra": extra or {}}
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f, separators=(",", ":"))
            os.replace(tmp, path)

    def load(self, path):
        with open(path) as f:
            data = json.load(f)
        with self.lock:
            self.rv = int(data["rv"])
            self.floor_rv = self.rv
            self.objs = {}
            self.owner_index = {}
            self.by_uid = {}
            for rk, items in data["objs"].items():
                b = self._bucket(rk)
                for o in items:
                    b[(o["metadata"].get("namespace", ""), o["metadata"]["name"])] = o
                    self._index(rk, o, True)
            self.logs = {tuple(k): v for k, v in data.get("logs", [])}
            return data.get("extra", {})
