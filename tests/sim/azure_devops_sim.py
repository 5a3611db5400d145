#!/usr/bin/env python3
"""Azure DevOps simulator: a real HTTP server on 127.0.0.1 answering the
distributed-task plan API that a gate in callback mode calls back into
(plan, events, timeline record feed, logs, timeline records) and the Release
API of a rollback (releases, deployments, redeploy PATCH), with the
documented paths, api-versions, payloads and error envelope. It records what
it receives (tokens redacted), injects faults (5xx, 429 with Retry-After,
latency, hanging or cut connections; the rule format of the Dynatrace
simulator) and is controlled over /_sim/. Standard library only.
Usage: tests/sim/README.md.

    python3 tests/sim/azure_devops_sim.py [--scenario FILE] [--port 0] [--port-file PATH] [--record PATH]

or from Python: server = start({"plans": [...]}); ...; server.stop()"""

import argparse
import base64
import copy
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import adosim_api  # noqa: E402
from adosim_api import AdoError  # noqa: E402
from dtsim_common import Response, ScenarioError  # noqa: E402
from dtsim_faults import public_view, take, validate_rule  # noqa: E402
from sim_http import SimHandler, SimServer, run_until_signalled  # noqa: E402

MAX_BODY = 4 * 1024 * 1024
REDACTED = "<redacted>"
PLAN_FIELDS = {"planId", "projectId", "hubName", "version", "planType", "timelineId", "jobId",
               "taskInstanceId", "token"}


class Context:
    def __init__(self, method, path, params, headers, body):
        self.method, self.path, self.params, self.headers, self.body = method, path, params, headers, body


def check_plan(raw, pointer):
    if not isinstance(raw, dict):
        raise ScenarioError(pointer, "a plan must be an object")
    for key in raw:
        if key not in PLAN_FIELDS:
            raise ScenarioError("%s/%s" % (pointer, key), "unknown plan field (known: %s)" % ", ".join(sorted(PLAN_FIELDS)))
    for key in PLAN_FIELDS - {"version", "planType"}:
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ScenarioError("%s/%s" % (pointer, key), "must be a non-empty string")
    if len(raw["token"]) < 8:
        raise ScenarioError(pointer + "/token", "must be at least 8 characters (the log redacts it by value)")
    plan = dict(raw)
    plan.setdefault("version", 14)
    plan.setdefault("planType", "Release" if plan["hubName"].lower() != "gates" else "Gates")
    plan.update({"completed": False, "result": None, "completions": 0, "feed": [], "logs": [], "records": {},
                 "events": []})
    return plan


class State:
    """All mutable state; every method takes the lock."""

    def __init__(self, scenario, record=None):
        self.scenario = scenario
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.record_file = open(record, "a", encoding="utf-8") if record else None
        self.seq = 0
        self.reset()

    def reset(self):
        with self.lock:
            self.plans = {}
            for i, raw in enumerate(self.scenario.get("plans", [])):
                plan = check_plan(raw, "/plans/%d" % i)
                self.plans[plan["planId"]] = plan
            self.pats = set(self.scenario.get("pats", []))
            self.releases = copy.deepcopy(self.scenario.get("releases", {}))
            self.deployments = copy.deepcopy(self.scenario.get("deployments", {}))
            self.builds = copy.deepcopy(self.scenario.get("builds", {}))
            self.environments = copy.deepcopy(self.scenario.get("environments", {}))
            self.requests = []
            self.faults = [validate_rule(r, "/faults/%d" % i) for i, r in enumerate(self.scenario.get("faults", []))]
            self.next_log = 1

    def secrets(self):
        return [p["token"] for p in self.plans.values()] + list(self.pats)

    def redact(self, text):
        for secret in self.secrets():
            text = text.replace(secret, REDACTED)
        return text

    # ---- request log ----
    def record(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            entry["body"] = self.redact(entry["body"])
            self.requests.append(entry)
            return entry

    def finish(self, entry, status, fault):
        with self.lock:
            entry["status"] = status
            if fault:
                entry["fault"] = fault
            if self.record_file:
                self.record_file.write(json.dumps(entry) + "\n")
                self.record_file.flush()

    # ---- faults ----
    def add_faults(self, rules):
        validated = [validate_rule(rule, "/rules/%d" % i) for i, rule in enumerate(rules)]
        with self.lock:
            self.faults = validated + self.faults
        return len(validated)

    def take_fault(self, method, path, query):
        with self.lock:
            return take(self.faults, method, path, query)

    # ---- auth ----
    @staticmethod
    def presented_token(ctx):
        auth = ctx.headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(value.strip()).decode("utf-8").partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                return None
        return None

    def check_job_token(self, ctx, plan):
        if self.presented_token(ctx) != plan["token"]:
            raise AdoError(401, "TF400813: The user '' is not authorized to access this resource.",
                           "UnauthorizedRequestException")

    def check_pat(self, ctx):
        token = self.presented_token(ctx)
        if token not in self.pats and token not in [p["token"] for p in self.plans.values()]:
            raise AdoError(401, "TF400813: The user '' is not authorized to access this resource.",
                           "UnauthorizedRequestException")

    # ---- plans ----
    def add_plan(self, raw):
        plan = check_plan(raw, "/plan")
        with self.lock:
            self.plans[plan["planId"]] = plan
        return plan

    def complete(self, plan, result):
        with self.lock:
            plan["completions"] += 1
            plan["events"].append({"name": "TaskCompleted", "result": result, "time": time.time()})
            if not plan["completed"]:
                plan["completed"], plan["result"] = True, result

    def add_feed(self, plan, record_id, lines):
        with self.lock:
            plan["feed"].extend({"record": record_id, "line": self.redact(str(line))} for line in lines)

    def new_log(self, plan, path):
        with self.lock:
            log = {"id": self.next_log, "path": path, "text": "", "createdOn": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            self.next_log += 1
            plan["logs"].append(log)
            return log

    def append_log(self, plan, log_id, text):
        with self.lock:
            for log in plan["logs"]:
                if log["id"] == log_id:
                    log["text"] += self.redact(text)
                    return log
        return None

    @staticmethod
    def log_view(ctx, project, hub, plan, log):
        host = ctx.headers.get("Host") or "127.0.0.1"
        return {"path": log["path"], "createdOn": log["createdOn"], "lastChangedOn": log["createdOn"], "id": log["id"],
                "location": "http://%s/%s/_apis/distributedtask/hubs/%s/plans/%s/logs/%d"
                            % (host, project, hub, plan["planId"], log["id"])}

    def records_of(self, plan):
        with self.lock:
            base = {"id": plan["taskInstanceId"], "parentId": plan["jobId"], "type": "Task", "name": "gate",
                    "state": "completed" if plan["completed"] else "inProgress", "result": plan["result"]}
            base.update(plan["records"].get(plan["taskInstanceId"], {}))
            return [base]

    def update_records(self, plan, records):
        with self.lock:
            out = []
            for r in records:
                if isinstance(r, dict) and isinstance(r.get("id"), str):
                    plan["records"].setdefault(r["id"], {}).update({k: v for k, v in r.items() if k != "id"})
                    out.append(dict(plan["records"][r["id"]], id=r["id"]))
            return out

    def plan_views(self):
        with self.lock:
            return {pid: {k: v for k, v in p.items() if k != "token"} for pid, p in self.plans.items()}

    # ---- releases ----
    def releases_of(self, project):
        with self.lock:
            return copy.deepcopy(self.releases.get(project, []))

    def release(self, project, release_id):
        return next((r for r in self.releases_of(project) if r["id"] == release_id), None)

    def deployments_of(self, project):
        with self.lock:
            return copy.deepcopy(self.deployments.get(project, []))

    def redeploy(self, project, release_id, env_id, status, comment):
        with self.lock:
            for release in self.releases.get(project, []):
                if release["id"] != release_id:
                    continue
                for env in release.get("environments", []):
                    if env["id"] == env_id:
                        env["status"] = "queued" if status.lower() == "inprogress" else status
                        env.setdefault("_redeploys", []).append({"status": status, "comment": comment})
                        if status.lower() == "inprogress":
                            self._add_redeployment(project, release, env)
                        return copy.deepcopy(env)
        return None

    def builds_of(self, project):
        with self.lock:
            return copy.deepcopy(self.builds.get(project, []))

    def retry_stage(self, project, build_id, stage, force):
        """Re-runs a stage of a run: the run is in progress again (YAML rollback), and so is a
        deployment to each environment an earlier record shows that stage of that run deployed to."""
        with self.lock:
            for build in self.builds.get(project, []):
                if build["id"] == build_id and stage in build.get("stages", []):
                    build["status"], build["result"] = "inProgress", None
                    build.setdefault("_stageRetries", []).append({"stage": stage, "forceRetryAllJobs": force})
                    self._add_environment_redeployment(project, build, stage)
                    return copy.deepcopy(build)
        return None

    def environments_of(self, project):
        """The project's environments, without their records."""
        with self.lock:
            return [{k: v for k, v in e.items() if k != "records"} for e in self.environments.get(project, [])]

    def environment_records_of(self, project, environment_id):
        with self.lock:
            for e in self.environments.get(project, []):
                if e["id"] == environment_id:
                    return copy.deepcopy(e.get("records", []))
        return []

    def _add_environment_redeployment(self, project, build, stage):
        """A re-run stage deploys again: a new record, not finished (lock held)."""
        for env in self.environments.get(project, []):
            records = env.setdefault("records", [])
            old = next((r for r in records if r.get("owner", {}).get("id") == build["id"]
                        and r.get("stageName") == stage), None)
            if old:
                new = copy.deepcopy(old)
                new.update({"id": max(r["id"] for r in records) + 1, "stageAttempt": old.get("stageAttempt", 1) + 1,
                            "queueTime": "2026-12-03T12:00:00Z", "startTime": "2026-12-03T12:00:01Z"})
                new.pop("result", None)
                new.pop("finishTime", None)
                records.append(new)

    def _add_redeployment(self, project, release, env):
        """A redeploy starts a deployment, listed newest first like the service does (lock held)."""
        rows = self.deployments.setdefault(project, [])
        rows.append({"id": max([d["id"] for d in rows] + [0]) + 1,
                     "release": {"id": release["id"], "name": release.get("name")},
                     "releaseDefinition": release.get("releaseDefinition"),
                     "releaseEnvironment": {"id": env["id"], "name": env["name"]},
                     "definitionEnvironmentId": env.get("definitionEnvironmentId"),
                     "attempt": len(env["_redeploys"]) + 1, "reason": "redeployTrigger",
                     "deploymentStatus": "inProgress", "operationStatus": "Queued",
                     "queuedOn": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def close(self):
        self.stop.set()
        with self.lock:
            if self.record_file:
                self.record_file.close()
                self.record_file = None


def route_for(method, path):
    known = False
    for route_method, pattern, handler in adosim_api.ROUTES:
        match = pattern.match(path)
        if match:
            known = True
            if route_method == method:
                return handler, match.groups()
    if known:
        raise AdoError(405, "The requested resource does not support http method '%s'." % method,
                       "HttpMethodNotAllowedException")
    raise AdoError(404, "The controller for path '%s' was not found or does not implement IController." % path,
                   "ControllerNotFoundException")


class Handler(SimHandler):
    server_version = "AzureDevOpsSim/1.0"
    sim_name = "azure_devops_sim"

    def dispatch(self):
        split = urlsplit(self.path)
        path = unquote(split.path)
        body = self.read_body(MAX_BODY)
        if body is None:
            self.send(AdoError(413, "The request body is too large.", "RequestTooLargeException").response())
            return
        if path.startswith("/_sim/"):
            self.send(self.control(path, split.query, body))
            return
        state = self.server.state
        headers = {k: (REDACTED if k.lower() == "authorization" else state.redact(v)) for k, v in self.headers.items()}
        auth = self.headers.get("Authorization") or ""
        entry = state.record({"time": time.time(), "method": self.command, "path": path, "query": split.query,
                              "params": parse_qs(split.query, keep_blank_values=True), "headers": headers,
                              "authScheme": auth.split(" ", 1)[0] if auth else None,
                              "body": body.decode("utf-8", errors="replace")})
        fault = state.take_fault(self.command, path, split.query)
        status = self.answer(path, split.query, body, fault)
        state.finish(entry, status, fault and fault.get("name", fault.get("path", fault.get("pathRegex"))))

    def answer(self, path, query, body, fault):
        state = self.server.state
        extra = {}
        if fault:
            if fault.get("latencyMs"):
                state.stop.wait(fault["latencyMs"] / 1000.0)
            if fault.get("hang"):
                self.hang()
                return None
            if "retryAfter" in fault:
                extra["Retry-After"] = str(fault["retryAfter"])
            extra.update(fault.get("headers", {}))
            if "status" in fault and not fault.get("cut"):
                message = fault.get("message", {429: "TF400733: The request has been throttled.",
                                                500: "Internal Server Error",
                                                503: "TF400898: An Internal Error Occurred."}.get(fault["status"],
                                                                                                 "Simulated error"))
                response = AdoError(fault["status"], message, "SimulatedFaultException").response()
                self.send(response, extra=extra)
                return response.status
        try:
            handler, groups = route_for(self.command, path)
            ctx = Context(self.command, path, parse_qs(query, keep_blank_values=True), self.headers, body)
            response = handler(state, ctx, *groups)
        except AdoError as err:
            response = err.response()
        except Exception as err:  # a simulator bug: 500 and say so
            sys.stderr.write("azure_devops_sim: internal error on %s %s: %r\n" % (self.command, path, err))
            response = AdoError(500, "Simulator internal error: %s" % err).response()
        self.send(response, cut=bool(fault and fault.get("cut")), extra=extra)
        return response.status

    def control(self, path, query, body):
        state = self.server.state
        try:
            doc = json.loads(body.decode("utf-8")) if body else {}
            if path == "/_sim/health":
                return Response(200, {"ok": True})
            if path == "/_sim/requests":
                if self.command == "DELETE":
                    with state.lock:
                        state.requests = []
                    return Response(200, {"ok": True})
                since = int((parse_qs(query).get("since") or ["0"])[0])
                with state.lock:
                    return Response(200, {"requests": [r for r in state.requests if r["seq"] > since]})
            if path == "/_sim/faults":
                if self.command == "DELETE":
                    with state.lock:
                        state.faults = []
                    return Response(200, {"ok": True})
                if self.command == "GET":
                    with state.lock:
                        return Response(200, {"rules": [public_view(r) for r in state.faults]})
                rules = doc.get("rules") if isinstance(doc, dict) and "rules" in doc else [doc]
                return Response(200, {"added": state.add_faults(rules)})
            if path == "/_sim/plans":
                if self.command == "POST":
                    plan = state.add_plan(doc)
                    return Response(200, {"planId": plan["planId"]})
                return Response(200, {"plans": state.plan_views()})
            if path == "/_sim/releases":
                with state.lock:
                    return Response(200, {"releases": state.releases, "deployments": state.deployments})
            if path == "/_sim/reset" and self.command == "POST":
                state.reset()
                return Response(200, {"ok": True})
        except (ScenarioError, ValueError, TypeError, KeyError) as err:
            return Response(400, {"error": str(err)})
        return Response(404, {"error": "unknown control path %s %s" % (self.command, path)})


def load(scenario):
    if scenario is None:
        return {}
    if isinstance(scenario, dict):
        return scenario
    with open(scenario, encoding="utf-8") as handle:
        doc = json.load(handle)
    if not isinstance(doc, dict):
        raise ScenarioError("", "a scenario must be a JSON object")
    return doc


def start(scenario=None, port=0, record=None, verbose=False):
    """Starts a simulator in a background thread; returns the server (.port, .url, .state, .stop())."""
    return SimServer(State(load(scenario), record), port, Handler, verbose).start_background()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Azure DevOps simulator (tests/sim/README.md)")
    parser.add_argument("--scenario", help="scenario JSON file (plans, pats, releases, deployments, faults)")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = ephemeral)")
    parser.add_argument("--port-file", help="write the port number to this file once listening")
    parser.add_argument("--record", help="append every API request as a JSON line to this file")
    parser.add_argument("--verbose", action="store_true", help="log requests on stderr")
    args = parser.parse_args(argv)
    return run_until_signalled("azure_devops_sim", lambda: start(args.scenario, args.port, args.record, args.verbose),
                               args.port_file, (ScenarioError, ValueError, OSError))

if __name__ == "__main__":
    sys.exit(main())
