"""The Azure DevOps endpoints the simulator answers (azure-devops notes in
docs/serve.md): the distributed-task plan API a gate in callback mode calls
(plan, events, timeline record feed, logs, timeline records), the Release
API a rollback calls (releases, deployments, redeploy PATCH), and for YAML
pipelines the builds and stages API and the environments API (environments,
their deployment records). Each handler
takes (state, ctx) and returns a Response; errors use Azure DevOps's
envelope {"$id", "innerException", "message", "typeName", "typeKey",
"errorCode", "eventId"}."""

import json
import re

from dtsim_common import Response

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
TASK_API_VERSIONS = ("2.0-preview.1", "4.1", "5.0", "5.1", "6.0", "7.0", "7.1", "7.1-preview.1")
RELEASE_API_VERSIONS = ("4.1-preview.6", "5.0-preview.6", "7.1", "7.1-preview.8", "7.1-preview.7",
                        "7.1-preview.2")


class AdoError(Exception):
    def __init__(self, status, message, type_key="VssServiceException"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type_key = type_key

    def response(self):
        return Response(self.status, {
            "$id": "1", "innerException": None, "message": self.message,
            "typeName": "Microsoft.VisualStudio.Services.Common.%s, Microsoft.VisualStudio.Services.Common"
                        % self.type_key,
            "typeKey": self.type_key, "errorCode": 0, "eventId": 3000})


def api_version(ctx, allowed):
    """The api-version of the query or Accept header; 400 like the service when missing."""
    version = (ctx.params.get("api-version") or [None])[0]
    if version is None:
        match = re.search(r"api-version=([\w.-]+)", ctx.headers.get("Accept") or "")
        version = match.group(1) if match else None
    if version is None:
        raise AdoError(400, 'No api-version was supplied for the "%s" request. The version must be supplied '
                       'either as part of the Accept header (e.g. "application/json; api-version=1.0") or as '
                       'a query parameter (e.g. "?api-version=1.0").' % ctx.method,
                       "VssVersionNotSpecifiedException")
    if version not in allowed:
        raise AdoError(400, "The requested REST API version of %s is out of range for this server." % version,
                       "VssVersionOutOfRangeException")
    return version


def json_body(ctx):
    try:
        return json.loads(ctx.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AdoError(400, "Value cannot be null.\r\nParameter name: the request body is not JSON",
                       "ArgumentNullException")


def find_plan(state, ctx, project, hub, plan_id):
    plan = state.plans.get(plan_id)
    if plan is None or plan["projectId"] != project or plan["hubName"].lower() != hub.lower():
        raise AdoError(404, "Plan %s not found in hub %s." % (plan_id, hub), "TaskOrchestrationPlanNotFoundException")
    state.check_job_token(ctx, plan)
    return plan


# ---- distributed task --------------------------------------------------------------

def get_plan(state, ctx, project, hub, plan_id):
    api_version(ctx, TASK_API_VERSIONS)
    plan = find_plan(state, ctx, project, hub, plan_id)
    return Response(200, {"planId": plan["planId"], "planType": plan["planType"], "scopeIdentifier": project,
                          "version": plan["version"], "timeline": {"id": plan["timelineId"]},
                          "state": "completed" if plan["completed"] else "inProgress"})


def expected_ids(plan):
    """(jobId, taskId) a TaskCompleted must carry (the two hub rules)."""
    if plan["hubName"].lower() == "gates" and plan["version"] <= 12:
        return plan["taskInstanceId"], EMPTY_GUID
    return plan["jobId"], plan["taskInstanceId"]


def post_event(state, ctx, project, hub, plan_id):
    api_version(ctx, TASK_API_VERSIONS)
    plan = find_plan(state, ctx, project, hub, plan_id)
    body = json_body(ctx)
    name = body.get("name") if isinstance(body, dict) else None
    if name not in ("TaskCompleted", "TaskStarted", "TaskAssigned"):
        raise AdoError(400, "Unknown job event '%s'." % name, "ArgumentException")
    job_id, task_id = expected_ids(plan)
    if body.get("jobId") != job_id or body.get("taskId") != task_id:
        raise AdoError(404, "Job %s / task %s was not found in plan %s." % (body.get("jobId"), body.get("taskId"),
                                                                          plan_id), "TaskNotFoundException")
    if name == "TaskCompleted":
        if body.get("result") not in ("succeeded", "succeededWithIssues", "failed", "canceled", "skipped",
                                      "abandoned"):
            raise AdoError(400, "Invalid task result '%s'." % body.get("result"), "ArgumentException")
        state.complete(plan, body["result"])
    return Response(204)


def post_feed(state, ctx, project, hub, plan_id, timeline_id, record_id):
    api_version(ctx, TASK_API_VERSIONS)
    plan = find_plan(state, ctx, project, hub, plan_id)
    body = json_body(ctx)
    if timeline_id != plan["timelineId"]:
        raise AdoError(404, "Timeline %s not found." % timeline_id, "TimelineNotFoundException")
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise AdoError(400, "Value cannot be null.\r\nParameter name: lines", "ArgumentNullException")
    state.add_feed(plan, record_id, body["value"])
    return Response(204)


def create_log(state, ctx, project, hub, plan_id):
    api_version(ctx, TASK_API_VERSIONS)
    plan = find_plan(state, ctx, project, hub, plan_id)
    body = json_body(ctx)
    path = body.get("path") if isinstance(body, dict) else None
    if not isinstance(path, str):
        raise AdoError(400, "Value cannot be null.\r\nParameter name: log.Path", "ArgumentNullException")
    log = state.new_log(plan, path)
    return Response(200, state.log_view(ctx, project, hub, plan, log))


def append_log(state, ctx, project, hub, plan_id, log_id):
    api_version(ctx, TASK_API_VERSIONS)
    plan = find_plan(state, ctx, project, hub, plan_id)
    log = state.append_log(plan, int(log_id), ctx.body.decode("utf-8", errors="replace"))
    if log is None:
        raise AdoError(404, "Log %s not found." % log_id, "TaskLogNotFoundException")
    return Response(200, state.log_view(ctx, project, hub, plan, log))


def get_records(state, ctx, project, hub, plan_id, timeline_id):
    plan = find_plan(state, ctx, project, hub, plan_id)
    records = state.records_of(plan)
    return Response(200, {"count": len(records), "value": records})


def patch_records(state, ctx, project, hub, plan_id, timeline_id):
    api_version(ctx, TASK_API_VERSIONS)
    plan = find_plan(state, ctx, project, hub, plan_id)
    body = json_body(ctx)
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise AdoError(400, "Value cannot be null.\r\nParameter name: records", "ArgumentNullException")
    updated = state.update_records(plan, body["value"])
    return Response(200, {"count": len(updated), "value": updated})


# ---- releases ------------------------------------------------------------------

def get_release(state, ctx, project, release_id):
    api_version(ctx, RELEASE_API_VERSIONS)
    state.check_pat(ctx)
    release = state.release(project, int(release_id))
    if release is None:
        raise AdoError(404, "VS402880: Release with id %s does not exist." % release_id, "ReleaseNotFoundException")
    return Response(200, release)


def list_releases(state, ctx, project):
    api_version(ctx, RELEASE_API_VERSIONS)
    state.check_pat(ctx)
    definition = (ctx.params.get("definitionId") or [None])[0]
    expand = "environments" in ((ctx.params.get("$expand") or [""])[0])
    rows = [r for r in state.releases_of(project)
            if definition is None or str(r["releaseDefinition"]["id"]) == definition]
    rows.sort(key=lambda r: r["id"], reverse=True)
    top = int((ctx.params.get("$top") or ["50"])[0])
    out = []
    for r in rows[:top]:
        r = dict(r)
        if not expand:
            r.pop("environments", None)
        out.append(r)
    return Response(200, {"count": len(out), "value": out})


def list_deployments(state, ctx, project):
    api_version(ctx, RELEASE_API_VERSIONS)
    state.check_pat(ctx)
    p = {k: v[0] for k, v in ctx.params.items()}
    rows = [d for d in state.deployments_of(project)
            if ("definitionId" not in p or str(d["releaseDefinition"]["id"]) == p["definitionId"])
            and ("definitionEnvironmentId" not in p or str(d["definitionEnvironmentId"]) == p["definitionEnvironmentId"])
            and (p.get("deploymentStatus", "all") == "all" or d["deploymentStatus"].lower() == p["deploymentStatus"].lower())]
    rows.sort(key=lambda d: d["id"], reverse=p.get("queryOrder", "descending") != "ascending")
    rows = rows[:int(p.get("$top", "50"))]
    return Response(200, {"count": len(rows), "value": rows})


STATUS_NUMBERS = {0: "undefined", 1: "notStarted", 2: "inProgress", 4: "succeeded", 8: "canceled",
                  16: "rejected", 32: "queued", 64: "scheduled", 128: "partiallySucceeded"}


def patch_environment(state, ctx, project, release_id, environment_id):
    api_version(ctx, RELEASE_API_VERSIONS)
    state.check_pat(ctx)
    body = json_body(ctx)
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, int) and not isinstance(status, bool):
        status = STATUS_NUMBERS.get(status)
    if not isinstance(status, str) or status.lower() not in [s.lower() for s in STATUS_NUMBERS.values()]:
        raise AdoError(400, "VS402882: The status value is invalid.", "InvalidRequestException")
    env = state.redeploy(project, int(release_id), int(environment_id), status, body.get("comment"))
    if env is None:
        raise AdoError(404, "VS402880: Release environment %s of release %s does not exist."
                       % (environment_id, release_id), "ReleaseNotFoundException")
    return Response(200, env)


# ---- YAML runs: builds and the stages API (re-run a stage: the YAML rollback) ----

BUILD_API_VERSIONS = ("7.1", "7.1-preview.1", "7.1-preview.7", "7.0", "6.0")


def list_builds(state, ctx, project):
    api_version(ctx, BUILD_API_VERSIONS)
    state.check_pat(ctx)
    p = {k: v[0] for k, v in ctx.params.items()}
    wanted = set((p.get("definitions") or "").split(",")) - {""}
    rows = [b for b in state.builds_of(project) if not wanted or str(b["definition"]["id"]) in wanted]
    rows.sort(key=lambda b: b["id"], reverse=True)
    rows = rows[:int(p.get("$top", "50"))]
    return Response(200, {"count": len(rows), "value": rows})


def get_build(state, ctx, project, build_id):
    api_version(ctx, BUILD_API_VERSIONS)
    state.check_pat(ctx)
    build = next((b for b in state.builds_of(project) if b["id"] == int(build_id)), None)
    if build is None:
        raise AdoError(404, "The requested build %s could not be found." % build_id, "BuildNotFoundException")
    return Response(200, build)


def retry_stage(state, ctx, project, build_id, stage):
    api_version(ctx, BUILD_API_VERSIONS)
    state.check_pat(ctx)
    body = json_body(ctx)
    if not isinstance(body, dict) or body.get("state") != "retry":
        raise AdoError(400, "The stage update must set state to retry.", "InvalidRequestException")
    build = state.retry_stage(project, int(build_id), stage, bool(body.get("forceRetryAllJobs")))
    if build is None:
        raise AdoError(404, "Stage %s of build %s was not found." % (stage, build_id), "StageNotFoundException")
    return Response(204)


# ---- YAML environments: the environments and their deployment records ----

ENVIRONMENT_API_VERSIONS = ("7.1", "7.1-preview.1", "7.0", "6.0-preview.1")


def _top(ctx, name, default):
    raw = (ctx.params.get(name) or [str(default)])[0]
    if not raw.isdigit():
        raise AdoError(400, "The value '%s' is not valid for %s." % (raw, name), "InvalidRequestException")
    return int(raw)


def list_environments(state, ctx, project):
    """GET .../distributedtask/environments?name=&$top=: by name (case-insensitive; `*` at the
    end matches a prefix, as the service's filter does), ordered by id."""
    api_version(ctx, ENVIRONMENT_API_VERSIONS)
    state.check_pat(ctx)
    name = (ctx.params.get("name") or [""])[0].lower()
    rows = state.environments_of(project)
    if name.endswith("*"):
        rows = [e for e in rows if e["name"].lower().startswith(name[:-1])]
    elif name:
        rows = [e for e in rows if e["name"].lower() == name]
    rows = sorted(rows, key=lambda e: e["id"])[:_top(ctx, "$top", 50)]
    return Response(200, {"count": len(rows), "value": rows})


def _environment(state, project, environment_id):
    env = next((e for e in state.environments_of(project) if e["id"] == int(environment_id)), None)
    if env is None:
        raise AdoError(404, "Environment with id %s does not exist or you do not have access." % environment_id,
                       "EnvironmentNotFoundException")
    return env


def get_environment(state, ctx, project, environment_id):
    api_version(ctx, ENVIRONMENT_API_VERSIONS)
    state.check_pat(ctx)
    return Response(200, _environment(state, project, environment_id))


def list_environment_records(state, ctx, project, environment_id):
    """GET .../environments/{id}/environmentdeploymentrecords?top=: newest first; a
    deployment still running has no result and no finishTime."""
    api_version(ctx, ENVIRONMENT_API_VERSIONS)
    state.check_pat(ctx)
    _environment(state, project, environment_id)
    rows = sorted(state.environment_records_of(project, int(environment_id)), key=lambda r: r["id"], reverse=True)
    rows = rows[:_top(ctx, "top", 50)]
    return Response(200, {"count": len(rows), "value": rows})


PLAN = r"/([^/]+)/_apis/distributedtask/hubs/([^/]+)/plans/([^/]+)"
ROUTES = [
    ("GET", re.compile("^" + PLAN + "$"), get_plan),
    ("POST", re.compile("^" + PLAN + "/events$"), post_event),
    ("POST", re.compile("^" + PLAN + "/timelines/([^/]+)/records/([^/]+)/feed$"), post_feed),
    ("POST", re.compile("^" + PLAN + "/logs$"), create_log),
    ("POST", re.compile("^" + PLAN + r"/logs/(\d+)$"), append_log),
    ("GET", re.compile("^" + PLAN + "/timelines/([^/]+)/records$"), get_records),
    ("PATCH", re.compile("^" + PLAN + "/timelines/([^/]+)/records$"), patch_records),
    ("GET", re.compile(r"^/([^/]+)/_apis/release/releases/(\d+)$", re.I), get_release),
    ("GET", re.compile(r"^/([^/]+)/_apis/release/releases$", re.I), list_releases),
    ("GET", re.compile(r"^/([^/]+)/_apis/release/deployments$", re.I), list_deployments),
    ("PATCH", re.compile(r"^/([^/]+)/_apis/release/releases/(\d+)/environments/(\d+)$", re.I), patch_environment),
    ("GET", re.compile(r"^/([^/]+)/_apis/build/builds$", re.I), list_builds),
    ("GET", re.compile(r"^/([^/]+)/_apis/build/builds/(\d+)$", re.I), get_build),
    ("PATCH", re.compile(r"^/([^/]+)/_apis/build/builds/(\d+)/stages/([^/]+)$", re.I), retry_stage),
    ("GET", re.compile(r"^/([^/]+)/_apis/distributedtask/environments$", re.I), list_environments),
    ("GET", re.compile(r"^/([^/]+)/_apis/distributedtask/environments/(\d+)$", re.I), get_environment),
    ("GET", re.compile(r"^/([^/]+)/_apis/distributedtask/environments/(\d+)/environmentdeploymentrecords$", re.I),
     list_environment_records),
]
