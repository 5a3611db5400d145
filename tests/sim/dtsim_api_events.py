"""Events endpoints: POST/GET /api/v1/events, POST /api/v2/events/ingest and
GET /api/v2/events (docs/reference/dynatrace-api.md sections 7 and 8)."""

from dtsim_common import (ApiError, Response, body_violation, constraints, decode_page_key, first, page,
                          parse_int)
from dtsim_events import (PROBLEM_OPENING, V1_TYPES, V2_TYPES, fill_properties_from_v1, fill_v1_from_properties,
                          new_record, property_text, render_v1, render_v2)
from dtsim_selectors import EntitySelector, simple_selector, tag_matches
from dtsim_time import HOUR, RELATIVE_TIME_MS, parse_timestamp

V1_EVENT_FIELDS = ("source", "title", "description", "deploymentName", "deploymentVersion", "deploymentProject",
                   "ciBackLink", "remediationAction", "customProperties", "annotationType",
                   "annotationDescription", "configuration", "original")


# ---- v1 POST ---------------------------------------------------------------------

def _check_tag_rule(rule, where):
    if not isinstance(rule, dict):
        raise body_violation(where, "must be an object {meTypes, tags}")
    if not isinstance(rule.get("meTypes"), list) or not all(isinstance(t, str) for t in rule["meTypes"]):
        raise body_violation(where + ".meTypes", "must be an array of entity types")
    tags = rule.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, dict) and isinstance(t.get("key"), str) for t in tags):
        raise body_violation(where + ".tags", "must be an array of {context, key, value}")


def _check_attach_rules(rules):
    if not isinstance(rules, dict):
        raise body_violation("attachRules", "may not be null")
    if rules.get("entityIds") is None and rules.get("tagRule") is None:
        raise body_violation("attachRules", "entityIds or tagRule must be given")
    ids = rules.get("entityIds")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(x, str) for x in ids)):
        raise body_violation("attachRules.entityIds", "must be an array of entity ids")
    tag_rules = rules.get("tagRule")
    if tag_rules is not None:
        if not isinstance(tag_rules, list):
            raise body_violation("attachRules.tagRule", "must be an array")
        for i, rule in enumerate(tag_rules):
            _check_tag_rule(rule, "attachRules.tagRule[%d]" % i)


def _v1_time(body, name, default):
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise body_violation(name, "must be a timestamp in ms")


def _check_v1_body(body):
    if not isinstance(body, dict):
        raise body_violation("", "The request body must be a JSON object")
    if body.get("eventType") not in V1_TYPES:
        raise body_violation("eventType", "must be one of %s" % ", ".join(V1_TYPES))
    _check_attach_rules(body.get("attachRules"))
    if not isinstance(body.get("source"), str) or not body["source"]:
        raise body_violation("source", "may not be null")
    if body["eventType"] == "CUSTOM_DEPLOYMENT":
        for field in ("deploymentName", "deploymentVersion"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise body_violation(field, "may not be null")
    custom = body.get("customProperties")
    if custom is not None and not isinstance(custom, dict):
        raise body_violation("customProperties", "must be an object")


def _v1_targets(rules, entities):
    """Entity ids matched by attachRules, in scenario order, without duplicates."""
    wanted = set(x for x in rules.get("entityIds") or [] if x in entities)
    for rule in rules.get("tagRule") or []:
        types = {t.upper() for t in rule["meTypes"]}
        tags = [((t.get("context") or "CONTEXTLESS"), t["key"], t.get("value")) for t in rule["tags"]]
        for eid, entity in entities.items():
            if entity["_type"] in types and all(tag_matches(entity.get("tags"), t) for t in tags):
                wanted.add(eid)
    return [eid for eid in entities if eid in wanted]


def post_v1(ctx):
    body = ctx.json_body()
    _check_v1_body(body)
    now = ctx.state.now()
    start = _v1_time(body, "start", now)
    end = _v1_time(body, "end", start)
    stored = []
    for eid in _v1_targets(body["attachRules"], ctx.scenario.entities):
        record = new_record(ctx.state.next_event_id(), start, end, body["eventType"],
                            ctx.scenario.entities[eid], eid)
        record["v1"] = {k: body[k] for k in V1_EVENT_FIELDS if k in body}
        fill_properties_from_v1(record)
        stored.append(record)
    with ctx.state.lock:
        ctx.state.events.extend(stored)
    return Response(200, {"storedEventIds": [r["id"] for r in stored],
                          "storedIds": ["%d_%d" % (r["id"], r["startTime"]) for r in stored],
                          "storedCorrelationIds": []})


# ---- v1 GET ----------------------------------------------------------------------

def _window(params, now, default_span):
    to = parse_timestamp(first(params, "to"), now) if first(params, "to") else now
    if to is None:
        raise constraints("to", "must be a timestamp")
    relative = first(params, "relativeTime")
    if relative is not None:
        if relative not in RELATIVE_TIME_MS:
            raise constraints("relativeTime", "must be one of %s" % ", ".join(RELATIVE_TIME_MS))
        return to - RELATIVE_TIME_MS[relative], to
    frm = parse_timestamp(first(params, "from"), now) if first(params, "from") else to - default_span
    if frm is None:
        raise constraints("from", "must be a timestamp")
    return frm, to


def _ordered(records, order):
    return sorted(records, key=lambda r: r["startTime"], reverse=(order == "newest"))


def get_v1(ctx):
    params = ctx.params
    offset = 0
    if first(params, "cursor"):
        params, offset = decode_page_key("eventsV1", first(params, "cursor"), "cursor")
    frm, to = _window(params, ctx.state.now(), 2 * HOUR)
    event_type = first(params, "eventType")
    entity_id = first(params, "entityId")
    with ctx.state.lock:
        records = [r for r in ctx.state.events if frm <= r["startTime"] <= to
                   and (event_type is None or r["eventType"] == event_type)
                   and (entity_id is None or r["entityId"] == entity_id)]
    records = _ordered(records, ctx.scenario.options["eventsOrder"])
    size = ctx.scenario.page_sizes["eventsV1"]
    chunk, cursor = page(records, "eventsV1", params, offset, size)
    following = records[offset + size] if cursor else None
    return Response(200, {
        "nextEventStartTms": following["startTime"] if following else None,
        "nextEventId": following["id"] if following else None,
        "nextCursor": cursor, "from": frm, "to": to, "totalEventCount": len(records),
        "events": [render_v1(r) for r in chunk]})


# ---- v2 ingest -------------------------------------------------------------------

def _check_v2_body(body):
    if not isinstance(body, dict):
        raise body_violation("", "The request body must be a JSON object")
    if body.get("eventType") not in V2_TYPES:
        raise body_violation("eventType", "must be one of %s" % ", ".join(V2_TYPES))
    if not isinstance(body.get("title"), str) or not body["title"].strip():
        raise body_violation("title", "must not be empty")
    for name in ("startTime", "endTime", "timeout"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise body_violation(name, "must be an integer")
    if body.get("timeout") is not None and not 1 <= body["timeout"] <= 360:
        raise body_violation("timeout", "must be between 1 and 360 minutes")
    props = body.get("properties", {})
    if not isinstance(props, dict) or not all(isinstance(v, (str, int, float, bool)) for v in props.values()):
        raise body_violation("properties", "must be an object of strings, numbers or booleans")
    selector = body.get("entitySelector")
    if selector is not None and not isinstance(selector, str):
        raise body_violation("entitySelector", "must be a string")


ENVIRONMENT = {"entityId": "environment", "_type": "ENVIRONMENT", "displayName": "environment", "tags": []}


def ingest_v2(ctx):
    body = ctx.json_body()
    _check_v2_body(body)
    entities = ctx.scenario.entities
    if body.get("entitySelector"):
        try:
            targets = EntitySelector(body["entitySelector"], entities).select()
        except ApiError as err:
            raise body_violation("entitySelector", err.violations[0]["message"] if err.violations else err.message)
    else:
        targets = [ENVIRONMENT]
    start = body.get("startTime", ctx.state.now())
    opening = body["eventType"] in PROBLEM_OPENING
    end = body.get("endTime", -1 if opening else start)
    results = []
    for entity in targets:
        record = new_record(ctx.state.next_event_id(), start, end, body["eventType"], entity, entity["entityId"])
        record["v1"]["title"] = body["title"]
        record["properties"] = {k: property_text(v) for k, v in body.get("properties", {}).items()}
        fill_v1_from_properties(record)
        with ctx.state.lock:
            ctx.state.events.append(record)
        results.append({"correlationId": record["correlationId"], "status": "OK"})
    return Response(201, {"reportCount": len(results), "eventIngestResults": results})


# ---- v2 GET ----------------------------------------------------------------------

def _record_entity(record, entities):
    return entities.get(record["entityId"]) or {"entityId": record["entityId"], "_type": record["entityType"],
                                                "displayName": record["entityName"], "tags": record["tags"]}


def get_v2(ctx):
    params = ctx.params
    offset = 0
    if first(params, "nextPageKey"):
        ctx.only_page_key()
        params, offset = decode_page_key("eventsV2", first(params, "nextPageKey"))
    frm, to = _window(params, ctx.state.now(), 2 * HOUR)
    size = parse_int(params, "pageSize", ctx.scenario.page_sizes["eventsV2"], 1, 1000)
    wanted = {}
    if first(params, "eventSelector"):
        wanted = simple_selector(first(params, "eventSelector"), "eventSelector",
                                 {"eventType": True, "eventId": False, "correlationId": False})
    selector = None
    if first(params, "entitySelector"):
        selector = EntitySelector(first(params, "entitySelector"), ctx.scenario.entities)
    with ctx.state.lock:
        records = list(ctx.state.events)
    chosen = []
    for record in records:
        if record["startTime"] > to or (record["endTime"] != -1 and record["endTime"] < frm):
            continue
        if "eventType" in wanted and record["eventType"] not in wanted["eventType"]:
            continue
        if "eventId" in wanted and "%d_%d" % (record["id"], record["startTime"]) not in wanted["eventId"]:
            continue
        if "correlationId" in wanted and record["correlationId"] not in wanted["correlationId"]:
            continue
        if selector and not selector.matches(_record_entity(record, ctx.scenario.entities)):
            continue
        chosen.append(record)
    chosen = _ordered(chosen, ctx.scenario.options["eventsOrder"])
    chunk, next_key = page(chosen, "eventsV2", params, offset, size)
    return Response(200, {"totalCount": len(chosen), "pageSize": size, "nextPageKey": next_key,
                          "events": [render_v2(r) for r in chunk]})


ROUTES = [
    ("POST", r"^/api/v1/events$", "DataExport", post_v1),
    ("GET", r"^/api/v1/events$", "DataExport", get_v1),
    ("POST", r"^/api/v2/events/ingest$", "events.ingest", ingest_v2),
    ("GET", r"^/api/v2/events$", "events.read", get_v2),
]
