"""Entities endpoints: the v1 Topology & Smartscape lists (applications, services,
hosts, process groups, processes) with repeated `tag` (AND) and `entity`
parameters, and v2 GET /api/v2/entities with an entitySelector
(docs/reference/dynatrace-api.md sections 5 and 6)."""

from dtsim_common import ApiError, Response, constraints, decode_page_key, first, page, parse_int
from dtsim_selectors import EntitySelector, parse_tag, tag_matches, tag_string

V1_KINDS = {
    "applications": "APPLICATION",
    "services": "SERVICE",
    "infrastructure/hosts": "HOST",
    "infrastructure/process-groups": "PROCESS_GROUP",
    "infrastructure/processes": "PROCESS_GROUP_INSTANCE",
}
V2_FIELDS = ("tags", "properties", "fromRelationships", "toRelationships", "managementZones",
             "firstSeenTms", "lastSeenTms")


def render_v1(entity, details=True):
    out = {k: v for k, v in entity.items() if not k.startswith("_")}
    if not details:
        out.pop("fromRelationships", None)
        out.pop("toRelationships", None)
    return out


def _v1_filters(params):
    try:
        tags = [parse_tag(t) for t in params.get("tag", [])]
    except ValueError as err:
        raise constraints("tag", str(err))
    ids = params.get("entity")
    return tags, ids


def list_v1(ctx):
    etype = V1_KINDS[ctx.groups[0]]
    tags, ids = _v1_filters(ctx.params)
    details = (first(ctx.params, "includeDetails", "true") or "true").lower() != "false"
    out = []
    for eid, entity in ctx.scenario.entities.items():
        if entity["_type"] != etype:
            continue
        if ids is not None and eid not in ids:
            continue
        if not all(tag_matches(entity.get("tags"), t) for t in tags):
            continue
        out.append(render_v1(entity, details))
    return Response(200, out)


def get_v1(ctx):
    etype = V1_KINDS[ctx.groups[0]]
    entity = ctx.scenario.entities.get(ctx.groups[1])
    if entity is None or entity["_type"] != etype:
        raise ApiError(404, "Entity %s not found" % ctx.groups[1])
    return Response(200, render_v1(entity))


def _relationships_v2(rels, entities):
    out = {}
    for rel, ids in (rels or {}).items():
        out[rel] = [{"id": x, "type": entities[x]["_type"] if x in entities else x.split("-", 1)[0]} for x in ids]
    return out


def render_v2(entity, fields, entities):
    out = {"entityId": entity["entityId"], "type": entity["_type"], "displayName": entity.get("displayName")}
    if "tags" in fields:
        out["tags"] = []
        for tag in entity.get("tags") or []:
            shown = dict(tag)
            shown.setdefault("context", "CONTEXTLESS")
            shown["stringRepresentation"] = tag_string(tag)
            out["tags"].append(shown)
    if "properties" in fields:
        out["properties"] = entity.get("properties", {})
    for rel in ("fromRelationships", "toRelationships"):
        if rel in fields:
            out[rel] = _relationships_v2(entity.get(rel), entities)
    for name in ("managementZones", "firstSeenTms", "lastSeenTms"):
        if name in fields and name in entity:
            out[name] = entity[name]
    return out


def _fields(params):
    text = first(params, "fields", "") or ""
    names = [f.strip().lstrip("+") for f in text.split(",") if f.strip()]
    for name in names:
        if name not in V2_FIELDS:
            raise constraints("fields", "Unknown field '%s' (known: %s)" % (name, ", ".join(V2_FIELDS)))
    return names


def list_v2(ctx):
    params = ctx.params
    offset = 0
    if first(params, "nextPageKey"):
        ctx.only_page_key()
        params, offset = decode_page_key("entities", first(params, "nextPageKey"))
    elif not first(params, "entitySelector"):
        raise constraints("entitySelector", "must not be null")
    size = parse_int(params, "pageSize", ctx.scenario.page_sizes["entities"], 1, 500)
    fields = _fields(params)
    selected = EntitySelector(first(params, "entitySelector"), ctx.scenario.entities).select()
    chunk, next_key = page(selected, "entities", params, offset, size)
    body = {"totalCount": len(selected), "pageSize": size,
            "entities": [render_v2(e, fields, ctx.scenario.entities) for e in chunk]}
    if next_key:
        body["nextPageKey"] = next_key
    return Response(200, body)


def get_v2(ctx):
    entity = ctx.scenario.entities.get(ctx.groups[0])
    if entity is None:
        raise ApiError(404, "Entity %s not found" % ctx.groups[0])
    return Response(200, render_v2(entity, V2_FIELDS, ctx.scenario.entities))


_KINDS = "(applications|services|infrastructure/hosts|infrastructure/process-groups|infrastructure/processes)"
ROUTES = [
    ("GET", r"^/api/v1/entity/%s$" % _KINDS, "DataExport", list_v1),
    ("GET", r"^/api/v1/entity/%s/([^/]+)$" % _KINDS, "DataExport", get_v1),
    ("GET", r"^/api/v2/entities$", "entities.read", list_v2),
    ("GET", r"^/api/v2/entities/([^/]+)$", "entities.read", get_v2),
]
