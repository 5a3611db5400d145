#!/usr/bin/env python3
"""Dynatrace API simulator: a real HTTP server on 127.0.0.1 that answers the
Dynatrace endpoints the product uses (docs/reference/dynatrace-api.md) from a scenario file,
with token scopes, rate-limit headers, fault injection, a request log and an
injectable clock. Standard library only. Usage and formats: tests/sim/README.md.

    python3 tests/sim/dynatrace_sim.py --scenario FILE [--port 0] [--port-file PATH]
                                       [--token TOKEN[=scope,...] ...] [--record PATH]

or from Python: server = start("scenario.json", tokens=["t"]); ...; server.stop()"""

import argparse
import json
import os
import re
import sys
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dtsim_api_entities  # noqa: E402
import dtsim_api_events  # noqa: E402
import dtsim_api_metrics  # noqa: E402
import dtsim_api_problems  # noqa: E402
from dtsim_common import ALL_SCOPES, ApiError, Context, Response, ScenarioError, missing_scope  # noqa: E402
from dtsim_events import render_v1, render_v2  # noqa: E402
from dtsim_scenario import ScenarioFileError, from_document, load  # noqa: E402
from dtsim_state import AUTH_MARKER, State  # noqa: E402
from sim_http import SimHandler, SimServer, run_until_signalled  # noqa: E402

ROUTES = [(method, re.compile(pattern), scope, handler)
          for module in (dtsim_api_metrics, dtsim_api_entities, dtsim_api_events, dtsim_api_problems)
          for method, pattern, scope, handler in module.ROUTES]
MAX_BODY = 1024 * 1024
READ_LIMIT = 64 * 1024 * 1024
STATUS_MESSAGES = {429: "Too many requests.", 500: "Internal Server Error", 502: "Bad Gateway",
                   503: "Service Unavailable", 504: "Gateway Timeout"}
HTML_BODY = (b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
             b"<body><form action=\"/login\">Please sign in</form></body></html>")
MALFORMED_BODY = b'{"totalCount": 1, "nextPageKey": null, "result": [{"metricId": "x", "data": [{"values": [1.0,, }'


def route_for(method, path):
    """(handler, scope, groups) or an ApiError for unknown paths/methods."""
    path_matched = False
    for route_method, pattern, scope, handler in ROUTES:
        match = pattern.match(path)
        if not match:
            continue
        path_matched = True
        if route_method == method:
            return handler, scope, match.groups()
    if path_matched:
        return ApiError(405, "Method %s not allowed on %s" % (method, path))
    return ApiError(404, "No API at %s" % path)


class Handler(SimHandler):
    server_version = "DynatraceSim/1.0"
    sim_name = "dynatrace_sim"

    # ---- dispatch ----------------------------------------------------------------
    def dispatch(self):
        split = urlsplit(self.path)
        path = unquote(split.path)
        body = self.read_body(READ_LIMIT)
        if body is None:   # over the limit: answered 413 like any body over MAX_BODY
            body = b"x" * (MAX_BODY + 1)
        if path.startswith("/_sim/") or path == "/_sim":
            self.send(self.control(path, split.query, body))
            return
        state = self.server.state
        entry = state.record(self.log_entry(path, split, body))
        fault = state.take_fault(self.command, path, split.query)
        fault_name = fault.get("name", fault.get("path", fault.get("pathRegex"))) if fault else None
        if fault_name is not None:
            state.note_fault(entry, fault_name)   # in the log while the answer is pending (a hang)
        status = self.answer(path, split.query, body, fault)
        state.finish(entry, status, fault_name)

    def log_entry(self, path, split, body):
        headers = {}
        for name, value in self.headers.items():
            headers[name] = AUTH_MARKER if name.lower() == "authorization" else value
        auth = self.headers.get("Authorization") or ""
        scheme = auth.split(" ", 1)[0] if " " in auth else ("<none>" if auth else None)
        return {"time": self.server.state.now(), "method": self.command, "path": path, "rawPath": split.path,
                "query": split.query, "params": parse_qs(split.query, keep_blank_values=True),
                "headers": headers, "authScheme": scheme,
                "body": body.decode("utf-8", errors="replace")}

    def answer(self, path, query, body, fault):
        """Sends the answer; returns its status (None when the connection hangs)."""
        state = self.server.state
        rate, exhausted = state.rate_headers()
        if fault:
            if fault.get("latencyMs"):
                state.stop.wait(fault["latencyMs"] / 1000.0)
            if fault.get("hang"):
                self.hang()
                return None
            direct = self.fault_response(fault)
            if direct is not None:
                self.send(direct, rate)
                return direct.status
        if exhausted:
            self.send(Response(429, {"error": {"code": 429, "message": STATUS_MESSAGES[429],
                                               "constraintViolations": None}}), rate)
            return 429
        response = self.api_response(path, query, body, fault)
        if fault and "contentType" in fault:
            response.content_type = fault["contentType"]
        if fault:
            response.headers.update(fault.get("headers", {}))
        self.send(response, rate, cut=bool(fault and fault.get("cut")),
                  truncate=bool(fault and fault.get("truncate")))
        return response.status

    def fault_response(self, fault):
        """The answer a fault replaces the API's with, or None to call the API."""
        status = fault.get("status", 200)
        headers = dict(fault.get("headers", {}))
        if "retryAfter" in fault:
            headers["Retry-After"] = str(fault["retryAfter"])
        if status == 429:
            headers.setdefault("X-RateLimit-Remaining", "0")
        if "rateLimitResetMs" in fault:
            headers["X-RateLimit-Reset"] = str((self.server.state.now() + fault["rateLimitResetMs"]) * 1000)
        if fault.get("html"):
            return Response(status, raw=HTML_BODY, content_type="text/html; charset=utf-8", headers=headers)
        if fault.get("malformed"):
            return Response(status, raw=MALFORMED_BODY, headers=headers)
        if "body" in fault:
            return Response(status, raw=fault["body"].encode("utf-8"),
                            content_type=fault.get("contentType", "application/json; charset=utf-8"),
                            headers=headers)
        if "json" in fault:
            return Response(status, fault["json"], headers=headers)
        if "status" in fault:
            message = fault.get("message", STATUS_MESSAGES.get(status, "Simulated error"))
            error = {"code": status, "message": message}
            if status == 429:
                error["constraintViolations"] = None
            return Response(status, {"error": error}, headers=headers)
        return None

    def authorize(self, scope):
        auth = self.headers.get("Authorization")
        if not auth:
            raise ApiError(401, "Missing authorization parameter.")
        scheme, _, token = auth.partition(" ")
        scopes = self.server.state.tokens.get(token.strip()) if scheme == "Api-Token" else None
        if scopes is None:
            raise ApiError(401, "Token Authentication failed")
        if scope is not None and scope not in scopes:
            raise missing_scope(scope)

    def api_response(self, path, query, body, fault):
        state = self.server.state
        try:
            found = route_for(self.command, path)
            if isinstance(found, ApiError):
                self.authorize(None)
                raise found
            handler, scope, groups = found
            self.authorize(scope)
            if len(body) > MAX_BODY:
                raise ApiError(413, "Request payload too large (limit 1 MB)")
            params = parse_qs(query, keep_blank_values=True)
            ctx = Context(self.command, path, query, params, self.headers, body, state, groups, fault)
            return handler(ctx)
        except ApiError as err:
            return Response(err.status, err.body(), headers=err.headers)
        except Exception as err:  # a simulator bug: answer 500 and say so on stderr
            sys.stderr.write("dynatrace_sim: internal error on %s %s: %r\n" % (self.command, path, err))
            return Response(500, {"error": {"code": 500, "message": "Simulator internal error: %s" % err}})

    # ---- control API ---------------------------------------------------------------
    def control(self, path, query, body):
        try:
            doc = json.loads(body.decode("utf-8")) if body else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return Response(400, {"error": {"code": 400, "message": "control body is not JSON: %s" % err}})
        try:
            return control_response(self.server.state, self.command, path, parse_qs(query), doc)
        except (ScenarioError, ValueError, TypeError, KeyError) as err:
            return Response(400, {"error": {"code": 400, "message": str(err)}})


def _control_faults(state, method, doc):
    if method == "GET":
        return Response(200, state.fault_views())
    if method == "DELETE":
        state.clear_faults()
        return Response(200, {"ok": True})
    rules = doc.get("rules") if isinstance(doc, dict) and "rules" in doc else [doc]
    if not isinstance(rules, list):
        raise ValueError("'rules' must be a list of fault rules")
    return Response(200, {"added": state.add_faults(rules)})


def _control_clock(state, method, doc):
    if method == "POST":
        if doc.get("unpin"):
            state.set_clock(unpin=True)
        elif "now" in doc:
            if not isinstance(doc["now"], int) or isinstance(doc["now"], bool):
                raise ValueError("'now' must be ms since the epoch")
            state.set_clock(now=doc["now"])
        elif "advanceMs" in doc:
            if not isinstance(doc["advanceMs"], int) or isinstance(doc["advanceMs"], bool):
                raise ValueError("'advanceMs' must be an integer")
            state.set_clock(advance=doc["advanceMs"])
        else:
            raise ValueError("POST /_sim/clock needs {\"now\": ms}, {\"advanceMs\": n} or {\"unpin\": true}")
    return Response(200, {"now": state.now(), "pinned": state.pinned_now is not None})


def control_response(state, method, path, params, doc):
    """GET/DELETE /_sim/requests, POST /_sim/reset, /_sim/faults, /_sim/clock, GET /_sim/events|health."""
    if path == "/_sim/health":
        return Response(200, {"ok": True, "now": state.now()})
    if path == "/_sim/requests":
        if method == "DELETE":
            state.clear_requests()
            return Response(200, {"ok": True})
        since = int((params.get("since") or ["0"])[0])
        return Response(200, {"requests": state.requests_since(since)})
    if path == "/_sim/reset" and method == "POST":
        state.reset()
        return Response(200, {"ok": True})
    if path == "/_sim/faults":
        return _control_faults(state, method, doc)
    if path == "/_sim/clock":
        return _control_clock(state, method, doc)
    if path == "/_sim/events":
        with state.lock:
            events = [{"v1": render_v1(r), "v2": render_v2(r)} for r in state.events]
        return Response(200, {"events": events})
    return Response(404, {"error": {"code": 404, "message": "unknown control path %s %s" % (method, path)}})


# ---- server ------------------------------------------------------------------------

def parse_token_args(values):
    """['tok', 'tok2=metrics.read,DataExport'] -> {token: set(scopes)}."""
    tokens = {}
    for value in values or []:
        token, _, scopes = value.partition("=")
        if len(token) < 8 or " " in token:
            raise ValueError("--token needs a value of at least 8 characters without spaces: TOKEN or "
                             "TOKEN=scope,scope (the request log redacts tokens by value)")
        names = [s for s in scopes.split(",") if s] if scopes else list(ALL_SCOPES)
        unknown = [s for s in names if s not in ALL_SCOPES]
        if unknown:
            raise ValueError("--token %s...: unknown scope(s) %s (known: %s)"
                             % (token[:4], ", ".join(unknown), ", ".join(ALL_SCOPES)))
        tokens[token] = set(names)
    return tokens


def start(scenario, port=0, tokens=None, record=None, verbose=False):
    """Starts a simulator in a background thread. `scenario` is a path or a dict;
    `tokens` a list like the --token values. Returns the server (.port, .url,
    .state, .stop())."""
    loaded = load(scenario) if isinstance(scenario, str) else from_document(scenario)
    state = State(loaded, parse_token_args(tokens), record)
    return SimServer(state, port, Handler, verbose).start_background()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Dynatrace API simulator (tests/sim/README.md)")
    parser.add_argument("--scenario", required=True, help="scenario JSON file")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = ephemeral)")
    parser.add_argument("--port-file", help="write the port number to this file once listening")
    parser.add_argument("--token", action="append", default=[],
                        help="accepted API token, TOKEN (all scopes) or TOKEN=scope,scope (repeatable)")
    parser.add_argument("--record", help="append every API request as a JSON line to this file")
    parser.add_argument("--verbose", action="store_true", help="log requests on stderr")
    args = parser.parse_args(argv)
    return run_until_signalled("dynatrace_sim",
                               lambda: start(args.scenario, args.port, args.token, args.record, args.verbose),
                               args.port_file, (ScenarioFileError, ValueError, OSError))

if __name__ == "__main__":
    sys.exit(main())
