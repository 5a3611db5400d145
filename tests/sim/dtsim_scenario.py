"""Loading and validating a simulator scenario file (format: tests/sim/README.md).
Every problem is reported as "<file>: <JSON pointer>: <what is wrong>" before the
server starts. The result is a Scenario object that is never mutated afterwards."""

import itertools
import json
import re
import time

from dtsim_common import ALL_SCOPES, ScenarioError, entity_type_of
from dtsim_events import from_scenario
from dtsim_faults import validate_rule
from dtsim_series import SPEC_KINDS

TOP_LEVEL = {"about", "now", "tokens", "options", "pageSizes", "entities", "metrics", "events",
             "problems", "slos", "faults"}
OPTIONS = {
    "v1ResultShape": ("dataResult", "result"),
    "v1InvertedWindow": ("error", "swap", "empty"),
    "v1EmptyEntityParameter": ("error", "ignore"),
    "eventsOrder": ("newest", "oldest"),
    "v2Timestamps": ("end", "start"),
}
DEFAULT_OPTIONS = {"v1ResultShape": "dataResult", "v1InvertedWindow": "error",
                   "v1EmptyEntityParameter": "error", "eventsOrder": "newest", "v2Timestamps": "end",
                   "rateLimit": 50, "rateLimitEnforced": False, "v2MaxPoints": 120, "v1MaxPoints": 121}
DEFAULT_PAGE_SIZES = {"metrics": 100, "entities": 50, "eventsV1": 150, "eventsV2": 100,
                      "problems": 50, "comments": 10, "slos": 10}
METRIC_FIELDS = {"api", "displayName", "unit", "detailedSource", "dimensions", "aggregationTypes",
                 "defaultAggregation", "entityType", "dimensionKey", "resultShape", "descriptor", "data"}
V2_PREFIXES = ("builtin:", "ext:", "calc:", "func:", "dsfm:", "log.", "cloud.")


class Scenario:
    """The validated content of one scenario file."""

    def __init__(self, path):
        self.path = path
        self.about = ""
        self.now = None
        self.tokens = {}
        self.options = dict(DEFAULT_OPTIONS)
        self.page_sizes = dict(DEFAULT_PAGE_SIZES)
        self.entities = {}
        self.metrics = {}
        self.events = []
        self.problems = []
        self.slos = []
        self.faults = []


def check(cond, pointer, message):
    if not cond:
        raise ScenarioError(pointer, message)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_time(value):
    """ms epoch or a 'now' / 'now-30m' string."""
    return is_int(value) or (isinstance(value, str) and re.match(r"^now(-\d+[smhdw])?$", value) is not None)


def ptr(base, key):
    return "%s/%s" % (base, str(key).replace("~", "~0").replace("/", "~1"))


def normalize_aggregation(name):
    """'p90' / 'PERCENTILE(90)' -> 'percentile(90)'; 'AVG' -> 'avg'; '*' stays."""
    text = name.strip()
    match = re.match(r"^[pP](\d+(?:\.\d+)?)$", text) or re.match(r"^(?i:percentile)\((\d+(?:\.\d+)?)\)$", text)
    if match:
        value = float(match.group(1))
        return "percentile(%s)" % (int(value) if value == int(value) else value)
    return text.lower()


# ---- sections ------------------------------------------------------------------

def load_tokens(doc, scenario):
    tokens = doc.get("tokens", {})
    check(isinstance(tokens, dict), "/tokens", "must be an object {token: [scopes] or \"*\"}")
    for token, scopes in tokens.items():
        where = ptr("/tokens", "<token #%d>" % len(scenario.tokens))
        check(len(token) >= 8 and " " not in token, where,
              "a token must have at least 8 characters and no spaces (the request log redacts it by value)")
        if scopes == "*":
            scenario.tokens[token] = set(ALL_SCOPES)
            continue
        check(isinstance(scopes, list), where, "scopes must be a list or \"*\"")
        for scope in scopes:
            check(scope in ALL_SCOPES, where, "unknown scope '%s' (known: %s)" % (scope, ", ".join(ALL_SCOPES)))
        scenario.tokens[token] = set(scopes)


def load_options(doc, scenario):
    options = doc.get("options", {})
    check(isinstance(options, dict), "/options", "must be an object")
    for key, value in options.items():
        where = ptr("/options", key)
        if key.startswith("_"):
            continue
        if key in OPTIONS:
            check(value in OPTIONS[key], where, "must be one of %s" % ", ".join(OPTIONS[key]))
        elif key == "rateLimitEnforced":
            check(isinstance(value, bool), where, "must be true or false")
        elif key in ("rateLimit", "v2MaxPoints", "v1MaxPoints"):
            check(is_int(value) and value >= 1, where, "must be a positive integer")
        else:
            raise ScenarioError(where, "unknown option (known: %s)" % ", ".join(sorted(DEFAULT_OPTIONS)))
        scenario.options[key] = value
    sizes = doc.get("pageSizes", {})
    check(isinstance(sizes, dict), "/pageSizes", "must be an object")
    for key, value in sizes.items():
        where = ptr("/pageSizes", key)
        check(key in DEFAULT_PAGE_SIZES, where, "unknown page size (known: %s)" % ", ".join(DEFAULT_PAGE_SIZES))
        check(is_int(value) and value >= 1, where, "must be a positive integer")
        scenario.page_sizes[key] = value


def load_tags(tags, where):
    check(isinstance(tags, list), where, "must be a list of {context, key, value}")
    for i, tag in enumerate(tags):
        here = ptr(where, i)
        check(isinstance(tag, dict) and isinstance(tag.get("key"), str) and tag["key"], here,
              "a tag needs a non-empty string 'key'")
        check(tag.get("context") is None or isinstance(tag["context"], str), ptr(here, "context"), "must be a string")
        check(tag.get("value") is None or isinstance(tag["value"], str), ptr(here, "value"), "must be a string")


def load_relationships(value, where):
    check(isinstance(value, dict), where, "must be an object {relation: [entity ids]}")
    for rel, ids in value.items():
        check(isinstance(ids, list) and all(isinstance(x, str) for x in ids), ptr(where, rel),
              "must be a list of entity id strings")


def load_entities(doc, scenario):
    entities = doc.get("entities", [])
    check(isinstance(entities, list), "/entities", "must be a list of entity objects")
    for i, entity in enumerate(entities):
        where = ptr("/entities", i)
        check(isinstance(entity, dict), where, "must be an object")
        eid = entity.get("entityId")
        check(isinstance(eid, str) and re.match(r"^[A-Z_]+-\S+$", eid or "") is not None, ptr(where, "entityId"),
              "must be an id like SERVICE-8AC3A0761537D748")
        check(eid not in scenario.entities, ptr(where, "entityId"), "duplicate entity id %s" % eid)
        check("displayName" in entity and (entity["displayName"] is None or isinstance(entity["displayName"], str)),
              ptr(where, "displayName"), "required: a string (or null, which the original CLI skips)")
        load_tags(entity.get("tags", []), ptr(where, "tags"))
        for rel in ("fromRelationships", "toRelationships"):
            load_relationships(entity.get(rel, {}), ptr(where, rel))
        etype = entity.get("type", entity_type_of(eid))
        check(isinstance(etype, str) and etype.isupper(), ptr(where, "type"), "must be an upper-case entity type")
        stored = {k: v for k, v in entity.items() if k != "type"}
        stored.setdefault("tags", [])
        stored.setdefault("fromRelationships", {})
        stored.setdefault("toRelationships", {})
        stored["_type"] = etype
        scenario.entities[eid] = stored


def load_series_spec(spec, where):
    check(isinstance(spec, dict), where, "a series must be an object with one of: %s" % ", ".join(SPEC_KINDS))
    kinds = [k for k in SPEC_KINDS if k in spec]
    check(len(kinds) == 1, where, "needs exactly one of: %s" % ", ".join(SPEC_KINDS))
    for key in spec:
        check(key in SPEC_KINDS or key in ("repeat", "anchor", "from", "until") or key.startswith("_"),
              ptr(where, key), "unknown series field (known: %s, repeat, anchor, from, until)" % ", ".join(SPEC_KINDS))
    check(spec.get("anchor", "now") in ("now", "windowEnd"), ptr(where, "anchor"), "must be now or windowEnd")
    for key in ("from", "until"):
        check(key not in spec or is_time(spec[key]), ptr(where, key), "must be ms or 'now-<n><s|m|h|d|w>'")
    kind = kinds[0]
    if kind == "points":
        points = spec["points"]
        check(isinstance(points, list), ptr(where, "points"), "must be a list of [timestamp, value|null]")
        for i, point in enumerate(points):
            here = ptr(ptr(where, "points"), i)
            check(isinstance(point, list) and len(point) == 2 and is_time(point[0])
                  and (point[1] is None or is_number(point[1])), here,
                  "must be [ms or 'now-5m', number or null]")
    elif kind == "constant":
        check(is_number(spec["constant"]), ptr(where, "constant"), "must be a number")
    elif kind == "linear":
        lin = spec["linear"]
        check(isinstance(lin, dict) and all(k in ("atNow", "perMinute") and is_number(v) for k, v in lin.items()),
              ptr(where, "linear"), "must be {\"atNow\": number, \"perMinute\": number}")
    else:
        values = spec["values"]
        check(isinstance(values, list) and values and all(v is None or is_number(v) for v in values),
              ptr(where, "values"), "must be a non-empty list of numbers or null")
        check(isinstance(spec.get("repeat", True), bool), ptr(where, "repeat"), "must be true or false")


def metric_api(key, metric):
    if "api" in metric:
        return metric["api"]
    return "v2" if key.startswith(V2_PREFIXES) else "v1"


def load_metric(key, metric, scenario):
    where = ptr("/metrics", key)
    check(isinstance(metric, dict), where, "must be an object")
    for field in metric:
        check(field in METRIC_FIELDS or field.startswith("_"), ptr(where, field),
              "unknown metric field (known: %s)" % ", ".join(sorted(METRIC_FIELDS)))
    check(metric.get("api", "v1") in ("v1", "v2", "both"), ptr(where, "api"), "must be v1, v2 or both")
    check(metric.get("resultShape", "dataResult") in ("dataResult", "result"), ptr(where, "resultShape"),
          "must be dataResult or result")
    check(isinstance(metric.get("descriptor", {}), dict), ptr(where, "descriptor"), "must be an object")
    data = metric.get("data", {})
    check(isinstance(data, dict), ptr(where, "data"), "must be {aggregation: {entityId: series}}")
    normalized = {}
    for agg, per_entity in data.items():
        here = ptr(ptr(where, "data"), agg)
        check(isinstance(per_entity, dict), here, "must be {entityId: series}")
        for eid, spec in per_entity.items():
            check(eid in scenario.entities, ptr(here, eid), "unknown entity %s (declare it under /entities)" % eid)
            load_series_spec(spec, ptr(here, eid))
        normalized[normalize_aggregation(agg)] = per_entity
    entity_type = metric.get("entityType")
    if entity_type is None:
        types = {scenario.entities[e]["_type"] for per in normalized.values() for e in per}
        entity_type = types.pop() if len(types) == 1 else "SERVICE"
    stored = dict(metric)
    stored["data"] = normalized
    stored["entityType"] = entity_type
    stored["dimensionKey"] = metric.get("dimensionKey", "dt.entity." + entity_type.lower())
    stored["defaultAggregation"] = normalize_aggregation(metric.get("defaultAggregation", "avg"))
    stored["api"] = metric_api(key, metric)
    scenario.metrics[key] = stored


def load_metrics(doc, scenario):
    metrics = doc.get("metrics", {})
    check(isinstance(metrics, dict), "/metrics", "must be an object {metric id or key: metric}")
    for key, metric in metrics.items():
        load_metric(key, metric, scenario)


def load_list(doc, name, scenario_list, required_fields):
    items = doc.get(name, [])
    check(isinstance(items, list), "/" + name, "must be a list")
    for i, item in enumerate(items):
        where = ptr("/" + name, i)
        check(isinstance(item, dict), where, "must be an object")
        for field, test, message in required_fields:
            check(test(item.get(field)), ptr(where, field), message)
        scenario_list.append(item)


def load_problems_and_slos(doc, scenario):
    load_list(doc, "problems", scenario.problems, [
        ("problemId", lambda v: isinstance(v, str) and v != "", "required: the problem id string"),
        ("status", lambda v: v in ("OPEN", "CLOSED"), "must be OPEN or CLOSED"),
        ("startTime", is_time, "must be ms or 'now-<n><unit>'"),
        ("endTime", lambda v: v is None or v == -1 or is_time(v), "must be ms, -1 or 'now-<n><unit>'"),
    ])
    load_list(doc, "slos", scenario.slos, [
        ("id", lambda v: isinstance(v, str) and v != "", "required: the SLO id string"),
    ])


def load_events(doc, scenario):
    load_list(doc, "events", scenario.events, [
        ("eventType", lambda v: isinstance(v, str) and v != "", "required: a string"),
        ("entityId", lambda v: isinstance(v, str) or (isinstance(v, dict) and isinstance(v.get("entityId"), dict)),
         "must be an entity id string (v1 shape) or {entityId: {id, type}, name} (v2 shape)"),
        ("startTime", is_time, "must be ms or 'now-<n><unit>'"),
        ("endTime", lambda v: v is None or v == -1 or is_time(v), "must be ms, -1 or 'now-<n><unit>'"),
    ])
    counter = itertools.count(1)
    now = scenario.now if scenario.now is not None else int(time.time() * 1000)
    for i, event in enumerate(scenario.events):
        for j, prop in enumerate(event.get("properties", [])):
            check(isinstance(prop, dict) and isinstance(prop.get("key"), str) and "value" in prop,
                  "/events/%d/properties/%d" % (i, j), "must be {\"key\": string, \"value\": ...}")
        check(isinstance(event.get("customProperties", {}), dict), "/events/%d/customProperties" % i,
              "must be an object")
        from_scenario(event, now, scenario.entities, lambda: next(counter), i)


def load_faults(doc, scenario):
    faults = doc.get("faults", [])
    check(isinstance(faults, list), "/faults", "must be a list of fault rules")
    for i, rule in enumerate(faults):
        scenario.faults.append(validate_rule(rule, ptr("/faults", i)))


def build(doc, path):
    scenario = Scenario(path)
    check(isinstance(doc, dict), "/", "the scenario must be a JSON object")
    for key in doc:
        check(key in TOP_LEVEL or key.startswith("_"), ptr("", key),
              "unknown top-level key (known: %s)" % ", ".join(sorted(TOP_LEVEL)))
    check(doc.get("now") is None or is_int(doc["now"]), "/now", "must be ms since the epoch (or absent)")
    scenario.now = doc.get("now")
    scenario.about = doc.get("about", "")
    load_tokens(doc, scenario)
    load_options(doc, scenario)
    load_entities(doc, scenario)
    load_metrics(doc, scenario)
    load_events(doc, scenario)
    load_problems_and_slos(doc, scenario)
    load_faults(doc, scenario)
    return scenario


class ScenarioFileError(Exception):
    """Raised with a message naming the file, the JSON pointer and the problem."""


def load(path):
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise ScenarioFileError("%s: cannot read scenario: %s" % (path, err.strerror))
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ScenarioFileError("%s: not UTF-8: %s" % (path, err))
    except json.JSONDecodeError as err:
        raise ScenarioFileError("%s: invalid JSON at line %d column %d: %s" % (path, err.lineno, err.colno, err.msg))
    return from_document(doc, path)


def from_document(doc, path="<scenario>"):
    try:
        return build(doc, path)
    except ScenarioError as err:
        raise ScenarioFileError("%s: %s: %s" % (path, err.pointer, err.message))
