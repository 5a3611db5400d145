"""Events for the simulator: one internal record per (event, entity), created from
the scenario (v1 or v2 shape) or by POST /api/v1/events and /api/v2/events/ingest,
and rendered in the v1 or v2 shape (docs/reference/dynatrace-api.md sections 7 and 8).

v1 deployment fields map to v2 properties as below; other v1 customProperties
become plain v2 properties and vice versa (an assumption, [I])."""

from dtsim_common import ScenarioError, entity_type_of
from dtsim_selectors import tag_string
from dtsim_time import resolve_scenario_time

V1_TO_V2 = {
    "deploymentName": "dt.event.deployment.name",
    "deploymentVersion": "dt.event.deployment.version",
    "deploymentProject": "dt.event.deployment.project",
    "ciBackLink": "dt.event.deployment.ci_back_link",
    "remediationAction": "dt.event.deployment.remediation_action_link",
}
V2_TO_V1 = {v: k for k, v in V1_TO_V2.items()}
V1_TYPES = ("CUSTOM_DEPLOYMENT", "CUSTOM_INFO", "CUSTOM_ANNOTATION", "CUSTOM_CONFIGURATION",
            "AVAILABILITY_EVENT", "ERROR_EVENT", "PERFORMANCE_EVENT", "RESOURCE_CONTENTION")
V2_TYPES = ("AVAILABILITY_EVENT", "CUSTOM_ALERT", "CUSTOM_ANNOTATION", "CUSTOM_CONFIGURATION",
            "CUSTOM_DEPLOYMENT", "CUSTOM_INFO", "ERROR_EVENT", "MARKED_FOR_TERMINATION",
            "PERFORMANCE_EVENT", "RESOURCE_CONTENTION_EVENT")
PROBLEM_OPENING = ("AVAILABILITY_EVENT", "ERROR_EVENT", "PERFORMANCE_EVENT", "RESOURCE_CONTENTION",
                   "RESOURCE_CONTENTION_EVENT", "CUSTOM_ALERT")


def impact_level(entity_type):
    if entity_type in ("SERVICE", "APPLICATION"):
        return entity_type
    if entity_type in ("HOST", "PROCESS_GROUP", "PROCESS_GROUP_INSTANCE"):
        return "INFRASTRUCTURE"
    return "ENVIRONMENT"


def property_text(value):
    """v2 property values are rendered as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def new_record(event_id, start, end, event_type, entity, entity_id):
    """An internal event attached to one entity (entity may be None for unknown ids)."""
    etype = entity["_type"] if entity else entity_type_of(entity_id)
    return {
        "id": event_id, "startTime": start, "endTime": end, "eventType": event_type,
        "entityId": entity_id, "entityType": etype,
        "entityName": (entity or {}).get("displayName"),
        "tags": list((entity or {}).get("tags") or []),
        "managementZones": list((entity or {}).get("managementZones") or []),
        "status": "OPEN" if event_type in PROBLEM_OPENING and end == -1 else "CLOSED",
        "v1": {}, "properties": {}, "correlationId": "%016x" % ((event_id * 0x2545F4914F6CDD1D) % (1 << 64)),
    }


def _v2_event_id(text, pointer):
    head = str(text).split("_", 1)[0]
    try:
        return int(head)
    except ValueError:
        raise ScenarioError(pointer, "v2 eventId must look like '<int64>_<ms>'")


def from_scenario(raw, now, entities, next_id, index):
    """Normalizes a scenario event (v1 or v2 shape) into an internal record."""
    start = resolve_scenario_time(raw["startTime"], now)
    end_raw = raw.get("endTime", raw["startTime"])
    end = -1 if end_raw in (None, -1) else resolve_scenario_time(end_raw, now)
    if isinstance(raw["entityId"], str):
        return _from_v1_shape(raw, start, end, entities, next_id)
    return _from_v2_shape(raw, start, end, entities, next_id, "/events/%d" % index)


V1_RECORD_KEYS = ("eventId", "id", "startTime", "endTime", "entityId", "eventType", "eventStatus", "impactLevel",
                  "severityLevel", "tags", "entityName")


def _from_v1_shape(raw, start, end, entities, next_id):
    entity_id = raw["entityId"]
    event_id = raw["eventId"] if isinstance(raw.get("eventId"), int) else next_id()
    record = new_record(event_id, start, end, raw["eventType"], entities.get(entity_id), entity_id)
    record["v1"] = {k: v for k, v in raw.items() if k not in V1_RECORD_KEYS}
    record["status"] = raw.get("eventStatus", record["status"])
    record["entityName"] = raw.get("entityName", record["entityName"])
    record["tags"] = raw.get("tags", record["tags"])
    fill_properties_from_v1(record)
    return record


def _from_v2_shape(raw, start, end, entities, next_id, pointer):
    ref = raw["entityId"]["entityId"]
    entity_id = ref.get("id", "")
    event_id = _v2_event_id(raw["eventId"], pointer + "/eventId") if "eventId" in raw else next_id()
    record = new_record(event_id, start, end, raw["eventType"], entities.get(entity_id), entity_id)
    record["entityType"] = ref.get("type", record["entityType"])
    record["entityName"] = raw["entityId"].get("name", record["entityName"])
    record["status"] = raw.get("status", record["status"])
    record["correlationId"] = raw.get("correlationId", record["correlationId"])
    record["tags"] = raw.get("entityTags", record["tags"])
    record["managementZones"] = raw.get("managementZones", record["managementZones"])
    if "title" in raw:
        record["v1"]["title"] = raw["title"]
    for prop in raw.get("properties", []):
        record["properties"][prop["key"]] = property_text(prop["value"])
    fill_v1_from_properties(record)
    return record


def fill_properties_from_v1(record):
    v1 = record["v1"]
    for key, prop in V1_TO_V2.items():
        if key in v1:
            record["properties"][prop] = property_text(v1[key])
    for key, value in (v1.get("customProperties") or {}).items():
        record["properties"][key] = property_text(value)


def fill_v1_from_properties(record):
    custom = {}
    for key, value in record["properties"].items():
        if key in V2_TO_V1:
            record["v1"][V2_TO_V1[key]] = value
        elif not key.startswith("dt."):
            custom[key] = value
    if custom:
        record["v1"]["customProperties"] = custom


def render_v1(record):
    out = {
        "eventId": record["id"], "startTime": record["startTime"], "endTime": record["endTime"],
        "entityId": record["entityId"], "entityName": record["entityName"], "severityLevel": None,
        "impactLevel": impact_level(record["entityType"]), "eventType": record["eventType"],
        "eventStatus": record["status"],
        "tags": [{k: t[k] for k in ("context", "key", "value") if k in t} for t in record["tags"]],
        "id": "%d_%d" % (record["id"], record["startTime"]),
    }
    out.update(record["v1"])
    return out


def render_v2(record):
    tags = []
    for tag in record["tags"]:
        shown = {k: tag[k] for k in ("context", "key", "value") if k in tag}
        shown.setdefault("context", "CONTEXTLESS")
        shown["stringRepresentation"] = tag_string(tag)
        tags.append(shown)
    return {
        "eventId": "%d_%d" % (record["id"], record["startTime"]), "startTime": record["startTime"],
        "endTime": record["endTime"], "eventType": record["eventType"],
        "title": record["v1"].get("title", record["v1"].get("deploymentName", record["eventType"])),
        "entityId": {"entityId": {"id": record["entityId"], "type": record["entityType"]},
                     "name": record["entityName"]},
        "properties": [{"key": k, "value": v} for k, v in record["properties"].items()],
        "status": record["status"], "correlationId": record["correlationId"], "entityTags": tags,
        "managementZones": record["managementZones"], "underMaintenance": False, "suppressAlert": False,
        "suppressProblem": False, "frequentEvent": False,
    }
