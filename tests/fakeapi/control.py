"""Fault injection settings and the request/watch-event journal (both thread-safe, both bounded)."""
import collections
import threading
import time


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.drop_after_events = None
            self.drop_after_seconds = None
            self.fail_rules = []          # dicts: remaining, status, retry_after, match, method, delay_ms, agent
            self.latency_ms = 0
            self.expire_next_watch = 0
            self.expire_rules = []        # [remaining, match]

    def configure(self, d):
        with self.lock:
            if d.get("clear") or d.get("reset"):
                self.drop_after_events = None
                self.drop_after_seconds = None
                self.fail_rules = []
                self.latency_ms = 0
                self.expire_next_watch = 0
                self.expire_rules = []
            if "drop_watches_after_events" in d:
                self.drop_after_events = d["drop_watches_after_events"] or None
            if "drop_watches_after_seconds" in d:
                self.drop_after_seconds = d["drop_watches_after_seconds"] or None
            if "latency_ms" in d:
                self.latency_ms = int(d["latency_ms"] or 0)
            if d.get("expire_next_watch"):
                n = 1 if d["expire_next_watch"] is True else int(d["expire_next_watch"])
                if d.get("match") and not d.get("fail_next"):
                    self.expire_rules.append([n, d["match"]])
                else:
                    self.expire_next_watch += n
            if d.get("fail_next"):
                self.fail_rules.append({"remaining": int(d["fail_next"]), "status": int(d.get("status", 500)),
                                        "retry_after": d.get("retry_after"), "match": d.get("match"),
                                        "method": (d.get("method") or "").upper() or None,
                                        "delay_ms": int(d.get("delay_ms") or 0),
                                        "agent": d.get("agent") or None})
            return self.snapshot_locked()

    def snapshot_locked(self):
        return {"drop_watches_after_events": self.drop_after_events,
                "drop_watches_after_seconds": self.drop_after_seconds,
                "latency_ms": self.latency_ms, "expire_next_watch": self.expire_next_watch,
                "expire_rules": [list(r) for r in self.expire_rules],
                "fail_rules": [dict(r) for r in self.fail_rules]}

    def snapshot(self):
        with self.lock:
            return self.snapshot_locked()

    def take_failure(self, method, path_qs, agent=""):
        """Returns (status, retry_after, delay_ms) if this request must fail, else None."""
        with self.lock:
            for r in self.fail_rules:
                if r["remaining"] <= 0:
                    continue
                if r["match"] and r["match"] not in path_qs:
                    continue
                if r["method"] and r["method"] != method:
                    continue
                if r.get("agent") and r["agent"] not in (agent or ""):
                    continue
                r["remaining"] -= 1
                res = (r["status"], r["retry_after"], r.get("delay_ms", 0))
                self.fail_rules = [x for x in self.fail_rules if x["remaining"] > 0]
                return res
            return None

    def take_expire(self, path_qs=""):
        with self.lock:
            for r in self.expire_rules:
                if r[0] > 0 and r[1] in path_qs:
                    r[0] -= 1
                    self.expire_rules = [x for x in self.expire_rules if x[0] > 0]
                    return True
            if self.expire_next_watch > 0:
                self.expire_next_watch -= 1
                return True
            return False

    def watch_limits(self):
        with self.lock:
            return self.drop_after_events, self.drop_after_seconds


class Journal:
    def __init__(self, maxlen=500000):
        self.lock = threading.Lock()
        self.entries = collections.deque(maxlen=maxlen)
        self.seq = 0

    def add(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            entry["ts"] = time.time()
            self.entries.append(entry)

    def since(self, seq):
        with self.lock:
            return [e for e in self.entries if e["seq"] > seq]

    def clear(self):
        with self.lock:
            self.entries.clear()
