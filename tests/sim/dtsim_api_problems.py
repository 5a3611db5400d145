"""Problems, problem comments (v1 and v2) and SLO endpoints
(docs/reference/dynatrace-api.md sections 9 and 10; SLO shape from the fixture)."""

import copy
import re

from dtsim_common import (ApiError, Response, body_violation, constraints, decode_page_key, first, page, parse_int,
                          violation)
from dtsim_selectors import EntitySelector, simple_selector
from dtsim_time import HOUR, parse_timestamp

OPTIONAL_FIELDS = ("evidenceDetails", "impactAnalysis", "recentComments")
SELECTOR_CONDITIONS = {"status": True, "severityLevel": True, "impactLevel": True, "problemId": False,
                       "displayId": False}
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
COMMENT_AUTHOR = "Simulated API token"


def _find(ctx, problem_id):
    for problem in ctx.state.problems:
        if problem["problemId"] == problem_id:
            return problem
    raise ApiError(404, "Problem %s not found" % problem_id)


def _fields(params):
    names = [f.strip().lstrip("+") for f in (first(params, "fields", "") or "").split(",") if f.strip()]
    for name in names:
        if name not in OPTIONAL_FIELDS:
            raise constraints("fields", "Unknown field '%s' (known: %s)" % (name, ", ".join(OPTIONAL_FIELDS)))
    return names


def _render(ctx, problem, fields):
    out = {k: copy.deepcopy(v) for k, v in problem.items() if k not in OPTIONAL_FIELDS}
    for name in fields:
        if name == "recentComments":
            comments = list(reversed(ctx.state.comments.get(problem["problemId"], [])))
            out[name] = {"totalCount": len(comments), "comments": copy.deepcopy(comments)}
        elif name in problem:
            out[name] = copy.deepcopy(problem[name])
    return out


def get_problem(ctx):
    fields = _fields(ctx.params)
    with ctx.state.lock:
        return Response(200, _render(ctx, _find(ctx, ctx.groups[0]), fields))


def _entity_refs(problem):
    refs = problem.get("affectedEntities", []) + problem.get("impactedEntities", [])
    return [r["entityId"] for r in refs if isinstance(r, dict) and isinstance(r.get("entityId"), dict)]


def _problem_matches(ctx, problem, wanted, selector, frm, to):
    if problem["startTime"] > to or (problem["endTime"] != -1 and problem["endTime"] < frm):
        return False
    for name, values in wanted.items():
        if str(problem.get(name, "")).upper() not in [v.upper() for v in values]:
            return False
    if selector is None:
        return True
    for ref in _entity_refs(problem):
        entity = ctx.scenario.entities.get(ref.get("id")) or {"entityId": ref.get("id", ""),
                                                              "_type": ref.get("type", ""), "tags": []}
        if selector.matches(entity):
            return True
    return False


def list_problems(ctx):
    params = ctx.params
    offset = 0
    if first(params, "nextPageKey"):
        ctx.only_page_key()
        params, offset = decode_page_key("problems", first(params, "nextPageKey"))
    now = ctx.state.now()
    to = parse_timestamp(first(params, "to"), now) if first(params, "to") else now
    frm = parse_timestamp(first(params, "from"), now) if first(params, "from") else (to or now) - 2 * HOUR
    if to is None or frm is None:
        raise constraints("from" if frm is None else "to", "must be a timestamp")
    size = parse_int(params, "pageSize", ctx.scenario.page_sizes["problems"], 1, 500)
    fields = _fields(params)
    wanted = {}
    if first(params, "problemSelector"):
        wanted = simple_selector(first(params, "problemSelector"), "problemSelector", SELECTOR_CONDITIONS)
    selector = None
    if first(params, "entitySelector"):
        selector = EntitySelector(first(params, "entitySelector"), ctx.scenario.entities)
    with ctx.state.lock:
        chosen = [p for p in ctx.state.problems if _problem_matches(ctx, p, wanted, selector, frm, to)]
        chosen.sort(key=lambda p: p["startTime"], reverse=True)
        chunk, next_key = page(chosen, "problems", params, offset, size)
        body = {"totalCount": len(chosen), "pageSize": size, "problems": [_render(ctx, p, fields) for p in chunk]}
    if next_key:
        body["nextPageKey"] = next_key
    return Response(200, body)


def _add_comment(ctx, problem_id, content, author, context):
    comment = {"id": str(ctx.state.next_event_id()), "createdAtTimestamp": ctx.state.now(),
               "authorName": author, "content": content, "context": context}
    ctx.state.comments.setdefault(problem_id, []).append(comment)
    return comment


def _text_field(body, name, required=True):
    value = body.get(name) if isinstance(body, dict) else None
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise body_violation(name, "must not be empty")
    return value


def close_problem(ctx):
    body = ctx.json_body()
    message = _text_field(body, "message")
    with ctx.state.lock:
        problem = _find(ctx, ctx.groups[0])
        if problem["status"] == "CLOSED":
            raise ApiError(400, "Problem %s is already closed" % problem["problemId"])
        problem["status"] = "CLOSED"
        problem["endTime"] = ctx.state.now()
        comment = _add_comment(ctx, problem["problemId"], message, COMMENT_AUTHOR, None)
    return Response(200, {"problemId": problem["problemId"], "closing": True, "comment": comment})


def post_comment_v1(ctx):
    body = ctx.json_body()
    text = _text_field(body, "comment")
    user = _text_field(body, "user", required=False)
    context = _text_field(body, "context", required=False)
    with ctx.state.lock:
        _find(ctx, ctx.groups[0])
        comment = _add_comment(ctx, ctx.groups[0], text, user or COMMENT_AUTHOR, context)
    return Response(200, {"id": comment["id"], "createdAtTimestamp": comment["createdAtTimestamp"],
                          "content": text, "userName": comment["authorName"], "context": context})


def post_comment_v2(ctx):
    body = ctx.json_body()
    text = _text_field(body, "message")
    context = _text_field(body, "context", required=False)
    with ctx.state.lock:
        _find(ctx, ctx.groups[0])
        comment = _add_comment(ctx, ctx.groups[0], text, COMMENT_AUTHOR, context)
    return Response(201, comment)


def list_comments(ctx):
    params = ctx.params
    offset = 0
    if first(params, "nextPageKey"):
        ctx.only_page_key()
        params, offset = decode_page_key("comments", first(params, "nextPageKey"))
    size = parse_int(params, "pageSize", ctx.scenario.page_sizes["comments"], 1, 500)
    with ctx.state.lock:
        _find(ctx, ctx.groups[0])
        comments = list(reversed(ctx.state.comments.get(ctx.groups[0], [])))
    chunk, next_key = page(comments, "comments", params, offset, size)
    return Response(200, {"totalCount": len(comments), "pageSize": size, "nextPageKey": next_key,
                          "comments": chunk})


def get_slo(ctx):
    slo_id = ctx.groups[0]
    if not UUID.match(slo_id):
        raise ApiError(400, "Constraints violated.", [violation("id", "Not a valid UUID.", "PATH")])
    for slo in ctx.scenario.slos:
        if slo["id"] == slo_id:
            return Response(200, slo)
    raise ApiError(404, "SLO %s not found" % slo_id)


def list_slos(ctx):
    params = ctx.params
    offset = 0
    if first(params, "nextPageKey"):
        ctx.only_page_key()
        params, offset = decode_page_key("slos", first(params, "nextPageKey"))
    size = parse_int(params, "pageSize", ctx.scenario.page_sizes["slos"], 1, 10000)
    chunk, next_key = page(ctx.scenario.slos, "slos", params, offset, size)
    return Response(200, {"totalCount": len(ctx.scenario.slos), "pageSize": size, "nextPageKey": next_key,
                          "slo": chunk})


ROUTES = [
    ("GET", r"^/api/v2/problems$", "problems.read", list_problems),
    ("GET", r"^/api/v2/problems/([^/]+)$", "problems.read", get_problem),
    ("POST", r"^/api/v2/problems/([^/]+)/close$", "problems.write", close_problem),
    ("GET", r"^/api/v2/problems/([^/]+)/comments$", "problems.read", list_comments),
    ("POST", r"^/api/v2/problems/([^/]+)/comments$", "problems.write", post_comment_v2),
    ("POST", r"^/api/v1/problem/details/([^/]+)/comments$", "DataExport", post_comment_v1),
    ("GET", r"^/api/v2/slo$", "slo.read", list_slos),
    ("GET", r"^/api/v2/slo/([^/]+)$", "slo.read", get_slo),
]
