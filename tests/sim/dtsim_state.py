"""The one place where the simulator keeps mutable state: the clock, the request
log, fault counters, stored events, problem status and comments, rate-limit
counters. Every access goes through State's lock."""

import copy
import json
import threading
import time

import dtsim_events
from dtsim_faults import public_view, take, validate_rule
from dtsim_time import resolve_scenario_time

AUTH_MARKER = "<redacted>"


def wall_ms():
    return int(time.time() * 1000)


class State:
    def __init__(self, scenario, extra_tokens=None, record_path=None):
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.scenario = scenario
        self.tokens = dict(scenario.tokens)
        self.tokens.update(extra_tokens or {})
        self.record_handle = open(record_path, "a", encoding="utf-8") if record_path else None
        self.reset()

    # ---- lifecycle -------------------------------------------------------------
    def reset(self):
        """Back to the scenario as loaded: clock, log, faults, events, problems."""
        with self.lock:
            self.pinned_now = self.scenario.now
            self.requests = []
            self.seq_counter = 0
            self.runtime_faults = []
            self.scenario_faults = [self._fresh_rule(r) for r in self.scenario.faults]
            self.id_counter = 0
            now = self.now()
            self.events = [dtsim_events.from_scenario(e, now, self.scenario.entities, self.next_event_id, i)
                           for i, e in enumerate(self.scenario.events)]
            self.problems = [self._problem_copy(p, now) for p in self.scenario.problems]
            self.comments = {p["problemId"]: list(((p.get("recentComments") or {}).get("comments") or []))
                             for p in self.problems}
            self.rate_window = None
            self.rate_used = 0

    @staticmethod
    def _fresh_rule(rule):
        fresh = dict(rule)
        fresh["_seen"] = 0
        fresh["_applied"] = 0
        return fresh

    @staticmethod
    def _problem_copy(problem, now):
        copied = copy.deepcopy(problem)
        copied["startTime"] = resolve_scenario_time(copied["startTime"], now)
        end = copied.get("endTime", -1)
        copied["endTime"] = -1 if end in (None, -1) else resolve_scenario_time(end, now)
        return copied

    def close(self):
        self.stop.set()
        with self.lock:
            if self.record_handle:
                self.record_handle.close()
                self.record_handle = None

    # ---- clock -----------------------------------------------------------------
    def now(self):
        with self.lock:
            return self.pinned_now if self.pinned_now is not None else wall_ms()

    def set_clock(self, now=None, advance=None, unpin=False):
        with self.lock:
            if unpin:
                self.pinned_now = None
            elif now is not None:
                self.pinned_now = now
            elif advance is not None:
                self.pinned_now = self.now() + advance
            return self.now()

    # ---- ids -------------------------------------------------------------------
    def next_event_id(self):
        """Deterministic signed 64-bit ids whose magnitude is beyond 2^53."""
        with self.lock:
            self.id_counter += 1
            value = (0x6A09E667F3BCC909 + self.id_counter * 0x9E3779B97F4A7C15) % (1 << 64)
            if value >= 1 << 63:
                value -= 1 << 64
            if abs(value) < 1 << 53:
                value += (1 << 60) if value >= 0 else -(1 << 60)
            return value

    # ---- request log -----------------------------------------------------------
    def redact(self, text):
        for token in self.tokens:
            text = text.replace(token, AUTH_MARKER)
        return text

    def record(self, entry):
        """Stores a request with every token value replaced by the marker."""
        with self.lock:
            self.seq_counter += 1
            entry["seq"] = self.seq_counter
            entry = json.loads(self.redact(json.dumps(entry, ensure_ascii=False)))
            entry["status"] = None
            self.requests.append(entry)
            return entry

    def note_fault(self, entry, fault_name):
        """Names the fault applied to a request as soon as it is taken, so the
        log shows it while the answer is still pending (a hang answers never)."""
        with self.lock:
            entry["fault"] = fault_name

    def finish(self, entry, status, fault_name):
        """Adds the answer's status (None for a hang) and writes the --record line."""
        with self.lock:
            entry["status"] = status
            if fault_name is not None:
                entry["fault"] = fault_name
            if self.record_handle:
                self.record_handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self.record_handle.flush()

    def requests_since(self, seq):
        with self.lock:
            return [dict(r) for r in self.requests if r["seq"] > seq]

    def clear_requests(self):
        with self.lock:
            self.requests = []

    # ---- faults ----------------------------------------------------------------
    def add_faults(self, rules):
        validated = [validate_rule(rule, "/rules/%d" % i) for i, rule in enumerate(rules)]
        with self.lock:
            self.runtime_faults.extend(validated)
        return len(validated)

    def clear_faults(self):
        with self.lock:
            self.runtime_faults = []

    def take_fault(self, method, path, query):
        with self.lock:
            return take(self.runtime_faults + self.scenario_faults, method, path, query)

    def fault_views(self):
        with self.lock:
            return {"runtime": [public_view(r) for r in self.runtime_faults],
                    "scenario": [public_view(r) for r in self.scenario_faults]}

    # ---- rate limit ------------------------------------------------------------
    def rate_headers(self):
        """X-RateLimit-* for this request; returns (headers, exhausted)."""
        with self.lock:
            now = self.now()
            window = now // 60000
            if window != self.rate_window:
                self.rate_window = window
                self.rate_used = 0
            self.rate_used += 1
            limit = self.scenario.options["rateLimit"]
            remaining = max(limit - self.rate_used, 0)
            reset_us = (window + 1) * 60000 * 1000
            headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                       "X-RateLimit-Reset": str(reset_us)}
            exhausted = self.scenario.options["rateLimitEnforced"] and self.rate_used > limit
            return headers, exhausted
