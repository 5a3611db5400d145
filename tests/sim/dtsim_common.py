"""Shared pieces of the Dynatrace simulator: the error envelope, the response
object handlers return, opaque page keys and the scope table (docs/reference/dynatrace-api.md
sections 2.1 and 13)."""

import base64
import json


class ApiError(Exception):
    """An answer in Dynatrace's error envelope: {"error": {code, message, ...}}."""

    def __init__(self, status, message, violations=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.violations = violations
        self.headers = headers or {}

    def body(self):
        err = {"code": self.status, "message": self.message}
        if self.violations is not None:
            err["constraintViolations"] = self.violations
        return {"error": err}


def violation(path, message, location="QUERY"):
    """One entry of constraintViolations, as in the 400 fixtures."""
    return {"path": path, "message": message, "parameterLocation": location, "location": None}


def constraints(path, message, location="QUERY"):
    """The 400 "Constraints violated." error for one parameter."""
    return ApiError(400, "Constraints violated.", [violation(path, message, location)])


class Response:
    """What a handler returns: a status, a JSON-able body (or raw bytes) and headers."""

    def __init__(self, status=200, body=None, raw=None, content_type="application/json; charset=utf-8",
                 headers=None):
        self.status = status
        self.body = body
        self.raw = raw
        self.content_type = content_type
        self.headers = dict(headers or {})

    def payload(self):
        if self.raw is not None:
            return self.raw
        if self.status == 204:
            return b""
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


# Token scopes (docs/reference/dynatrace-api.md section 13) and the labels the 403 message uses.
SCOPE_LABELS = {
    "metrics.read": "Read metrics",
    "entities.read": "Read entities",
    "events.ingest": "Ingest events",
    "events.read": "Read events",
    "problems.read": "Read problems",
    "problems.write": "Write problems",
    "slo.read": "Read SLO",
    "DataExport": "Access problem and event feed, metrics, and topology",
}
ALL_SCOPES = sorted(SCOPE_LABELS)


def missing_scope(scope):
    return ApiError(403, "Token is missing required scope. Use one of: %s (%s)" % (scope, SCOPE_LABELS[scope]))


def encode_page_key(kind, query, offset):
    """An opaque cursor that carries the original query and the next offset."""
    raw = json.dumps({"k": kind, "q": query, "o": offset}, sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_key(kind, key, param="nextPageKey"):
    """Returns (query, offset) or raises the 400 envelope for a foreign/garbled key."""
    try:
        padded = key + "=" * (-len(key) % 4)
        doc = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if doc.get("k") != kind or not isinstance(doc.get("o"), int) or not isinstance(doc.get("q"), dict):
            raise ValueError("wrong kind")
        return doc["q"], doc["o"]
    except (ValueError, UnicodeError, TypeError, AttributeError):
        raise constraints(param, "The %s is invalid" % param)


def first(params, name, default=None):
    """First value of a query parameter (params map names to lists)."""
    values = params.get(name)
    if not values:
        return default
    return values[0]


def parse_int(params, name, default, minimum=None, maximum=None):
    text = first(params, name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise constraints(name, "must be an integer, got '%s'" % text)
    if minimum is not None and value < minimum:
        raise constraints(name, "must be greater than or equal to %d" % minimum)
    if maximum is not None and value > maximum:
        raise constraints(name, "must be less than or equal to %d" % maximum)
    return value


def page(items, kind, query, offset, size):
    """Slices items and returns (slice, nextPageKey or None)."""
    chunk = items[offset:offset + size]
    next_key = None
    if offset + size < len(items):
        next_key = encode_page_key(kind, query, offset + size)
    return chunk, next_key


def entity_type_of(entity_id):
    """SERVICE-8AC3A0761537D748 -> SERVICE (types never contain '-')."""
    return entity_id.split("-", 1)[0] if "-" in entity_id else entity_id


class ScenarioError(Exception):
    """A scenario problem at a JSON pointer inside the file (e.g. /metrics/x/data)."""

    def __init__(self, pointer, message):
        super().__init__("%s: %s" % (pointer or "/", message))
        self.pointer = pointer or "/"
        self.message = message


def body_violation(path, message):
    """400 for a field of a JSON request body."""
    return ApiError(400, "Constraints violated.", [violation(path, message, "PAYLOAD_BODY")])


class Context:
    """One API request as the handlers see it."""

    def __init__(self, method, path, query, params, headers, body, state, groups, fault):
        self.method = method
        self.path = path
        self.query = query
        self.params = params
        self.headers = headers
        self.body = body
        self.state = state
        self.scenario = state.scenario
        self.groups = groups
        self.fault = fault

    def json_body(self):
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ApiError(400, "Could not map JSON at '' near line 1: %s" % err)

    def only_page_key(self, allowed=()):
        """400 when nextPageKey is combined with other parameters."""
        others = [name for name in self.params if name != "nextPageKey" and name not in allowed]
        if others:
            raise constraints("nextPageKey", "must not be combined with other parameters (got %s)"
                              % ", ".join(sorted(others)))
