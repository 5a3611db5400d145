"""Fault rules of the simulator: validation of a rule (from the scenario or from
POST /_sim/faults) and request matching. Applying a fault is done by the HTTP
handler (dynatrace_sim.py); the fields are documented in tests/sim/README.md."""

import re

from dtsim_common import ScenarioError

EFFECTS = ("latencyMs", "status", "hang", "truncate", "cut", "malformed", "html", "contentType",
           "largeMB", "body", "json")
FIELDS = set(EFFECTS) | {"name", "method", "path", "pathRegex", "queryContains", "times", "skip",
                         "retryAfter", "rateLimitResetMs", "headers", "message"}


def _check(cond, pointer, message):
    if not cond:
        raise ScenarioError(pointer, message)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_types(raw, pointer):
    for key in ("name", "method", "path", "pathRegex", "queryContains", "contentType", "body", "message"):
        _check(key not in raw or isinstance(raw[key], str), "%s/%s" % (pointer, key), "must be a string")
    for key in ("times", "skip", "latencyMs", "status", "rateLimitResetMs"):
        _check(key not in raw or _is_int(raw[key]), "%s/%s" % (pointer, key), "must be an integer")
    for key in ("hang", "truncate", "cut", "malformed", "html"):
        _check(key not in raw or isinstance(raw[key], bool), "%s/%s" % (pointer, key), "must be true or false")
    if "largeMB" in raw:
        _check(isinstance(raw["largeMB"], (int, float)) and not isinstance(raw["largeMB"], bool)
               and 0 < raw["largeMB"] <= 512, pointer + "/largeMB", "must be a number of megabytes in (0, 512]")
    if "retryAfter" in raw:
        _check(isinstance(raw["retryAfter"], (int, float, str)) and not isinstance(raw["retryAfter"], bool),
               pointer + "/retryAfter", "must be seconds (a number) or a raw header text")
    if "headers" in raw:
        _check(isinstance(raw["headers"], dict) and all(isinstance(v, str) for v in raw["headers"].values()),
               pointer + "/headers", "must be an object of strings")


def validate_rule(raw, pointer):
    """Returns a normalized copy of a fault rule or raises ScenarioError."""
    _check(isinstance(raw, dict), pointer, "a fault rule must be an object")
    for key in raw:
        _check(key in FIELDS or key.startswith("_"), "%s/%s" % (pointer, key),
               "unknown fault field (known: %s)" % ", ".join(sorted(FIELDS)))
    _check_types(raw, pointer)
    _check(any(key in raw for key in EFFECTS), pointer,
           "a fault rule needs at least one effect: %s" % ", ".join(EFFECTS))
    _check("path" in raw or "pathRegex" in raw, pointer, "a fault rule needs 'path' (prefix) or 'pathRegex'")
    if "status" in raw:
        _check(100 <= raw["status"] <= 599, pointer + "/status", "must be an HTTP status 100..599")
    for key in ("skip", "latencyMs"):
        _check(raw.get(key, 0) >= 0, "%s/%s" % (pointer, key), "must not be negative")
    _check(raw.get("times", 1) >= 1, pointer + "/times", "must be at least 1 (omit it for 'always')")
    rule = {k: v for k, v in raw.items() if not k.startswith("_")}
    rule["method"] = rule.get("method", "*").upper()
    if "pathRegex" in rule:
        try:
            rule["_regex"] = re.compile(rule["pathRegex"])
        except re.error as err:
            raise ScenarioError(pointer + "/pathRegex", "invalid regular expression: %s" % err)
    rule["_seen"] = 0
    rule["_applied"] = 0
    return rule


def matches(rule, method, path, query):
    if rule["method"] not in ("*", method):
        return False
    if "path" in rule and not path.startswith(rule["path"]):
        return False
    if "_regex" in rule and not rule["_regex"].search(path):
        return False
    if "queryContains" in rule and rule["queryContains"] not in query:
        return False
    return True


def take(rules, method, path, query):
    """First rule that applies to this request, counting skip/times; caller holds the lock."""
    for rule in rules:
        if not matches(rule, method, path, query):
            continue
        rule["_seen"] += 1
        if rule["_seen"] <= rule.get("skip", 0):
            continue
        if "times" in rule and rule["_applied"] >= rule["times"]:
            continue
        rule["_applied"] += 1
        return rule
    return None


def public_view(rule):
    """The rule as GET /_sim/faults shows it (counters included)."""
    view = {k: v for k, v in rule.items() if not k.startswith("_")}
    view["seen"] = rule["_seen"]
    view["applied"] = rule["_applied"]
    return view
