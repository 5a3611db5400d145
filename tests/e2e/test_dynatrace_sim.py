#!/usr/bin/env python3
"""End-to-end tests of the Dynatrace simulator (tests/sim/dynatrace_sim.py).

Starts the simulator as real processes on 127.0.0.1 (ephemeral ports) and talks
to it over HTTP with urllib: every endpoint against the payloads in
tests/fixtures, every fault, the request log (never containing a token),
the clock, bad scenario files and clean shutdown. Standard library only; exits
non-zero when a test fails and ends with "N passed, M failed"."""

import copy
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict

SOURCE = os.environ.get("UB_SOURCE") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIM_DIR = os.path.join(SOURCE, "tests", "sim")
sys.path.insert(0, SIM_DIR)
import dtsim_dtcli_reference as dtcli  # noqa: E402
from launch import FIXTURES, PYTHON, SCENARIOS, SIM, SimProcess, scaled  # noqa: E402

FIX = os.path.join(FIXTURES, "dynatrace")
MONSPEC = os.path.join(FIXTURES, "monspec")

FIX_TOKEN = "dt0c01.SIM.FIXTURES.ALL"
FIX_NOPROBLEMS = "dt0c01.SIM.FIXTURES.NOPROBLEMS"
DEMO_TOKEN = "dt0c01.DEMO.ALLSCOPES"
DEMO_READONLY = "dt0c01.DEMO.READONLY"
CLI_TOKEN = "dt0c01.CLI.METRICSONLY.SECRETVALUE"
DTCLI_TOKEN = "dt0c01.SIMTOKEN.DTCLI"
PROD, STG, CANARY = "SERVICE-C4EC4A0E5A3B1001", "SERVICE-C4EC4A0E5A3B1002", "SERVICE-C4EC4A0E5A3B1003"
OPEN_PROBLEM = "-2387593847561234567_1700000000000V2"
TMP = tempfile.mkdtemp(prefix="dtsim-e2e-")


def fixture(name, folder=FIX):
    with open(os.path.join(folder, name), encoding="utf-8") as handle:
        return json.load(handle)


class Reply:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw

    def json(self):
        return json.loads(self.raw.decode("utf-8"))


class Sim(SimProcess):
    """A simulator process started from the command line (tests/sim/launch.py),
    with the API calls of these tests."""

    def request(self, method, path, token=None, body=None, headers=None, timeout=15):
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = "Api-Token " + token
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            all_headers.setdefault("Content-Type", "application/json; charset=utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=scaled(timeout)) as answer:
                return Reply(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, err.headers, err.read())

    def get(self, path, token=DEMO_TOKEN, **kw):
        reply = self.request("GET", path, token, **kw)
        return reply.status, reply.json()

    def post(self, path, body, token=DEMO_TOKEN):
        reply = self.request("POST", path, token, body)
        return reply.status, reply.json()


def derived_scenario(base, name, change):
    """Writes a copy of a scenario with `change(doc)` applied; returns its path."""
    with open(os.path.join(SCENARIOS, base), encoding="utf-8") as handle:
        doc = json.load(handle, object_pairs_hook=OrderedDict)
    change(doc)
    path = os.path.join(TMP, name)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(doc, handle)
    return path


def q(**params):
    return urllib.parse.urlencode(params)


def strip_ratios(body):
    for result in body.get("result", []):
        result.pop("dataPointCountRatio", None)
        result.pop("dimensionCountRatio", None)
    return body


def eq(actual, expected, what=""):
    assert actual == expected, "%s: expected %r, got %r" % (what, expected, actual)


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ---- metrics v2 against the real payloads --------------------------------------------------

MERGED_P95 = 'builtin:service.response.time:merge("dt.entity.service"):percentile(95)'
FIX_TO = 1664409600000


def fixture_query(selector, tag, resolution, frm=1664323800000):
    return "/api/v2/metrics/query?" + q(metricSelector=selector, resolution=resolution, to=FIX_TO, **{
        "from": frm, "entitySelector": "type(SERVICE),tag(keptn_project:%s)" % tag})


@test
def metrics_v2_three_series_equal_fixture(env):
    status, body = env.fix.get(fixture_query("builtin:service.response.time:percentile(95)", "sockshop", "10m"),
                               FIX_TOKEN)
    eq(status, 200)
    eq(strip_ratios(body), strip_ratios(fixture("metrics-v2-query_200_three-series_splitby-service_resolution-10m.json")))


@test
def metrics_v2_single_series_fixtures(env):
    cases = [("hourly", "1h", 1664323800000, "metrics-v2-query_200_single-series_resolution-1h_24values.json"),
             ("single", "Inf", 1664323800000, "metrics-v2-query_200_single-series_resolution-Inf_single-value.json"),
             ("nodata", "10m", 1664409000001, "metrics-v2-query_200_single-series_null-value.json")]
    for tag, resolution, frm, name in cases:
        status, body = env.fix.get(fixture_query(MERGED_P95, tag, resolution, frm), FIX_TOKEN)
        eq(status, 200, name)
        eq(strip_ratios(body), strip_ratios(fixture(name)), name)


@test
def metrics_v2_zero_series_fixtures(env):
    status, body = env.fix.get(fixture_query(MERGED_P95, "wrong", "10m"), FIX_TOKEN)
    eq((status, body), (200, fixture("metrics-v2-query_200_zero-series_wrong-tag.json")))
    wrong_key = MERGED_P95.replace('entity.service"', 'entity.services"')
    status, body = env.fix.get(fixture_query(wrong_key, "sockshop", "10m"), FIX_TOKEN)
    eq((status, body), (200, fixture("metrics-v2-query_200_zero-series_with-warnings.json")))


@test
def metrics_v2_errors_equal_fixtures(env):
    status, body = env.fix.get("/api/v2/metrics/query?" + q(metricSelector="builtin:service.response.time:merge("),
                               FIX_TOKEN)
    eq((status, body), (400, fixture("api-error_400_metric-selector-parse-error.json")))
    status, body = env.fix.get("/api/v2/metrics/query?" + q(metricSelector="builtin:service.response.time:bogus"),
                               FIX_TOKEN)
    eq((status, body["error"]["message"]), (400, "Metric selector parse error"))
    status, body = env.fix.get("/api/v2/metrics/query?from=now-2h", FIX_TOKEN)
    eq((status, body), (400, fixture("api-error_400_constraints-violated_metrics-query.json")))
    status, body = env.fix.get("/api/v2/metrics/query?" + q(nextPageKey="abc", metricSelector="x"), FIX_TOKEN)
    eq((status, body["error"]["message"], body["error"]["constraintViolations"][0]["path"]),
       (400, "Constraints violated.", "nextPageKey"))
    status, body = env.fix.get("/api/v2/metrics/query?" + q(metricSelector="builtin:nope.metric"), FIX_TOKEN)
    eq(status, 404)


@test
def metrics_v2_descriptor(env):
    status, body = env.fix.get("/api/v2/metrics/" + urllib.parse.quote(MERGED_P95, safe=""), FIX_TOKEN)
    eq(status, 200)
    expected = fixture("metrics-v2-descriptor_builtin-service-response-time.json")
    for key in ("metricId", "displayName", "unit", "entityType", "resolutionInfSupported", "transformations"):
        eq(body[key], expected[key], key)
    eq(body["defaultAggregation"], {"type": "avg"})


# ---- other fixture endpoints ----------------------------------------------------------------

@test
def entities_v2_equal_fixtures(env):
    status, body = env.fix.get("/api/v2/entities?" + q(entitySelector='type("process_group_instance")'), FIX_TOKEN)
    eq((status, body), (200, fixture("entities-v2-list_200_multiple-pgis.json")))
    status, body = env.fix.get("/api/v2/entities?" + q(
        entitySelector='entityId("PROCESS_GROUP_INSTANCE-D23E64F62FDC200A")'), FIX_TOKEN)
    eq((status, body), (200, fixture("entities-v2-list_200_single-pgi.json")))


@test
def timeseries_v1_equal_fixture_in_both_shapes(env):
    query = q(includeData="true", startTimestamp=1501771380000, endTimestamp=1501771620000, aggregationType="avg")
    expected = fixture("timeseries-v1_GET-by-id_200_dataResult_service-responsetime_constructed.json")
    status, body = env.fix.get("/api/v1/timeseries/com.dynatrace.builtin:service.responsetime?" + query, FIX_TOKEN)
    eq((status, body), (200, expected))
    status, body = env.fix.get("/api/v1/timeseries?timeseriesId=com.dynatrace.builtin:service.responsetime&" + query,
                               FIX_TOKEN)
    eq((status, body), (200, {"result": expected["dataResult"]}))


@test
def events_v1_get_equals_fixture(env):
    path = "/api/v1/events?from=1546290000000&to=1546300800000&eventType=CUSTOM_DEPLOYMENT&entityId=" \
           "SERVICE-8AC3A0761537D748"
    status, body = env.fix.get(path, FIX_TOKEN)
    eq((status, body), (200, fixture("events-v1-GET_200_custom-deployment_vsts_constructed.json")))


@test
def problems_and_slo_equal_fixtures(env):
    pid = "-6004362228644432354_1638271020000V2"
    status, body = env.fix.get("/api/v2/problems/%s?fields=evidenceDetails,impactAnalysis,recentComments" % pid,
                               FIX_TOKEN)
    eq((status, body), (200, fixture("problems-v2-get-by-id_200_open-problem_with-evidence.json")))
    status, body = env.fix.get("/api/v2/problems/" + pid, FIX_TOKEN)
    assert "evidenceDetails" not in body and body["status"] == "OPEN", body.keys()
    status, body = env.fix.get('/api/v2/problems?problemSelector=status("closed")&from=1600000000000', FIX_TOKEN)
    eq((status, body), (200, fixture("problems-v2-list_200_one-closed-problem.json")))
    status, body = env.fix.get("/api/v2/slo/7d07efde-b714-3e6e-ad95-08490e2540c4", FIX_TOKEN)
    eq((status, body), (200, fixture("slo-v2-get-by-id_200.json")))
    status, body = env.fix.get("/api/v2/slo/e03f4be0-nope", FIX_TOKEN)
    eq(status, 400)
    eq(body["error"]["constraintViolations"][0]["parameterLocation"], "PATH")
    status, body = env.fix.get("/api/v2/problems/-1_1V2", FIX_TOKEN)
    eq(status, 404)


@test
def auth_errors(env):
    status, body = env.fix.get("/api/v2/problems/x", FIX_NOPROBLEMS)
    eq((status, body), (403, fixture("api-error_403_missing-token-scope.json")))
    eq(env.fix.get("/api/v2/metrics/query?metricSelector=x", None), (401, {"error": {
        "code": 401, "message": "Missing authorization parameter."}}))
    status, body = env.fix.get("/api/v2/metrics/query?metricSelector=x", "dt0c01.WRONG")
    eq((status, body["error"]["code"]), (401, 401))
    reply = env.fix.request("GET", "/api/v1/timeseries", None, headers={"Authorization": FIX_TOKEN})
    eq(reply.status, 401, "bare token without Api-Token scheme")
    status, body = env.fix.get("/api/v9/unknown", FIX_TOKEN)
    eq(status, 404)


@test
def rate_limit_headers(env):
    env.fix.control("POST", "/_sim/reset")
    first = env.fix.request("GET", "/api/v1/timeseries", FIX_TOKEN)
    second = env.fix.request("GET", "/api/v1/timeseries", FIX_TOKEN)
    eq(first.headers["X-RateLimit-Limit"], "50")
    eq((first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]), ("49", "48"))
    eq(first.headers["X-RateLimit-Reset"], str((FIX_TO // 60000 + 1) * 60000 * 1000), "reset in µs")


# ---- dtcli compatibility --------------------------------------------------------------------

DTCLI_CASES = [
    ("unbreakable-pipeline_monspec.json", "pullcompare", "SampleJSonService/StagingToProduction", 0,
     "dtcli-output_pullcompare_sample_StagingToProduction_5.json"),
    ("unbreakable-pipeline_monspec.json", "pull", "SampleJSonService/Staging", 0, "dtcli-output_pull_sample_Staging_5_0.json"),
    ("edge-cases_monspec.json", "pullcompare", "EdgeService/StagingToProduction", 0,
     "dtcli-output_pullcompare_edge_StagingToProduction_5.json"),
    ("edge-cases_monspec.json", "pullcompare", "EdgeService/StagingToMissing", 0,
     "dtcli-output_pullcompare_edge_StagingToMissing_5.json"),
    ("edge-cases_monspec.json", "pull", "EdgeService/Staging", 0, "dtcli-output_pull_edge_Staging_5_0.json"),
    ("unbreakable-pipeline_monspec.json", "pullcompare", "SampleJSonService/Nope", 0,
     "dtcli-output_error_unknown-comparison.txt"),
]


def load_monspec(name):
    with open(os.path.join(MONSPEC, name), encoding="utf-8") as handle:
        return json.load(handle, object_pairs_hook=OrderedDict)


@test
def dtcli_outputs_reproduced_byte_for_byte(env):
    for monspec, command, target, shift, expected_file in DTCLI_CASES:
        out, status = dtcli.run(dtcli.Client(env.dtcli.url, DTCLI_TOKEN), load_monspec(monspec), command, target, 5,
                                shift)
        with open(os.path.join(MONSPEC, expected_file), encoding="utf-8") as handle:
            expected = handle.read().rstrip("\n")
        eq((status, out), (0, expected), expected_file)


def recorded_sections():
    sections, current = {}, None
    with open(os.path.join(MONSPEC, "dtcli-requests_recorded.txt"), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("## "):
                current = line[3:].split("(")[0].strip()
                sections[current] = []
            elif current and line.strip()[:1].isdigit():
                sections[current].append(line.strip().split(". ", 1)[1])
    return sections


def relative(query, now_ms):
    parts = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name in ("startTimestamp", "endTimestamp"):
            minutes = (now_ms - int(value)) // 60000
            value = "NOW" if minutes == 0 else "NOW-%dmin" % minutes
        parts.append(name + "=" + value)
    return "&".join(parts)


@test
def dtcli_request_sequences_match_recording(env):
    sections = recorded_sections()
    runs = [("unbreakable-pipeline_monspec.json", "pullcompare", "SampleJSonService/StagingToProduction", 0),
            ("unbreakable-pipeline_monspec.json", "pullcompare", "SampleJSonService/StagingToProductionYesterday", 0),
            ("unbreakable-pipeline_monspec.json", "pull", "SampleJSonService/Staging", 0),
            ("edge-cases_monspec.json", "pullcompare", "EdgeService/StagingToMissing", 0)]
    for monspec_name, command, target, shift in runs:
        monspec = load_monspec(monspec_name)
        comparisons = monspec["SampleJSonService"]["comparisons"] if "SampleJSonService" in monspec else []
        if target.endswith("Yesterday"):
            extra = copy.deepcopy(comparisons[0])
            extra.update(name="StagingToProductionYesterday", shiftsourcetimeframe=60, shiftcomparetimeframe=86400)
            comparisons.append(extra)
        env.dtcli.control("DELETE", "/_sim/requests")
        client = dtcli.Client(env.dtcli.url, DTCLI_TOKEN)
        dtcli.run(client, monspec, command, target, 5, shift)
        seen = ["GET " + r["rawPath"] + ("?" + relative(r["query"], client.now_s * 1000) if r["query"] else "")
                for r in env.dtcli.control("GET", "/_sim/requests")["requests"]]
        key = "%s %s %s 5%s" % (command, monspec_name, target, " 0" if command == "pull" else "")
        eq(seen, sections[key], key)


# ---- demo: entities ---------------------------------------------------------------------------

def ids(entities):
    return [e["entityId"] for e in entities]


@test
def entities_v1_tags_and_ids(env):
    demo = env.demo
    status, body = demo.get("/api/v1/entity/services?tag=[Environment]DEPLOYMENT_GROUP_NAME:Staging&tag=release:2.4.0")
    eq((status, ids(body)), (200, [STG]))
    eq(ids(demo.get("/api/v1/entity/services?tag=[Environment]DEPLOYMENT_GROUP_NAME:Staging&tag=release:2.5.0")[1]),
       [], "tags are ANDed")
    encoded = demo.get("/api/v1/entity/services?tag=%5BENVIRONMENT%5DDEPLOYMENT_GROUP_NAME%3AStaging")[1]
    eq(ids(encoded), [STG], "percent-encoded, context upper case")
    eq(ids(demo.get("/api/v1/entity/services?tag=[environment]DEPLOYMENT_GROUP_NAME")[1]),
       [PROD, STG, CANARY, "SERVICE-9A7E3D2C1B0F4001"], "key-only tag, lower-case context")
    eq(ids(demo.get("/api/v1/entity/services?tag=DEPLOYMENT_GROUP_NAME:Staging")[1]), [],
       "no context means CONTEXTLESS")
    eq(ids(demo.get("/api/v1/entity/services?entity=%s&entity=%s" % (CANARY, PROD))[1]), [PROD, CANARY])
    body = demo.get("/api/v1/entity/services?entity=" + STG)[1][0]
    eq(body["toRelationships"], {"calls": ["APPLICATION-5E1D0C0A0B0C0D01"]})
    eq(body["serviceTechnologyTypes"], ["Java", "Spring Boot"], "extra fields echoed")
    assert "_type" not in body and "type" not in body, body
    for kind, count in (("applications", 1), ("infrastructure/hosts", 1), ("infrastructure/process-groups", 3),
                        ("infrastructure/processes", 3)):
        eq(len(demo.get("/api/v1/entity/" + kind)[1]), count, kind)
    eq(demo.get("/api/v1/entity/services/" + PROD)[1]["entityId"], PROD)
    eq(demo.get("/api/v1/entity/applications/" + PROD)[0], 404)


@test
def entities_v2_selectors_and_paging(env):
    demo = env.demo
    def select(selector, extra=""):
        status, body = demo.get("/api/v2/entities?" + q(entitySelector=selector) + extra)
        assert status == 200, body
        return ids(body["entities"])
    eq(select('type(SERVICE),tag("[Environment]DEPLOYMENT_GROUP_NAME:Canary")'), [CANARY])
    eq(select('type(SERVICE),entityName("check"),tag(release:2.3.0)'), [PROD])
    eq(select("type(SERVICE),mzId(4211717765151950451)"), [PROD, STG, CANARY])
    eq(select('type("PROCESS_GROUP_INSTANCE"),releasesVersion("2.5.0")'), ["PROCESS_GROUP_INSTANCE-1F2E3D4C5B6A7003"])
    eq(select('type(SERVICE),toRelationship.calls(type(APPLICATION))'), [PROD, STG])
    status, body = demo.get("/api/v2/entities?" + q(entitySelector="type(HOST)", fields="+tags,+fromRelationships"))
    eq(body["entities"][0]["tags"][0]["stringRepresentation"], "cluster:shop")
    status, body = demo.get("/api/v2/entities?" + q(entitySelector="tag(app:checkout)"))
    eq(status, 400, "type or entityId is required")
    status, page1 = demo.get("/api/v2/entities?" + q(entitySelector="type(SERVICE)", pageSize=3))
    eq((page1["totalCount"], len(page1["entities"])), (4, 3))
    status, page2 = demo.get("/api/v2/entities?" + q(nextPageKey=page1["nextPageKey"]))
    eq((status, ids(page2["entities"]), "nextPageKey" in page2), (200, ["SERVICE-9A7E3D2C1B0F4001"], False))
    status, body = demo.get("/api/v2/entities?" + q(nextPageKey=page1["nextPageKey"], pageSize=3))
    eq((status, body["error"]["message"]), (400, "Constraints violated."))


# ---- demo: metrics ----------------------------------------------------------------------------

T0 = 1700000000000 - 1700000000000 % 3600000   # an hour boundary


def demo_query(env, **params):
    status, body = env.demo.get("/api/v2/metrics/query?" + q(**params))
    assert status == 200, body
    return body


@test
def metrics_v2_transformations(env):
    window = {"from": T0 - 600000, "to": T0}
    body = demo_query(env, metricSelector="builtin:service.response.time:avg", resolution="5m", **window)
    series = body["result"][0]["data"]
    eq([s["dimensionMap"]["dt.entity.service"] for s in series], [PROD, STG, CANARY])
    eq(series[0]["timestamps"], [T0 - 600000, T0 - 300000, T0], "v2 slots reported by their end")
    eq(series[2]["values"], [310000.0] * 3)
    eq(body["resolution"], "5m")
    body = demo_query(env, metricSelector="builtin:service.response.time:splitBy():avg", resolution="Inf", **window)
    eq(body["result"][0]["data"][0]["values"], [(120000.0 + 126000.0 + 310000.0) / 3])
    eq(body["result"][0]["data"][0]["timestamps"], [T0])
    body = demo_query(env, metricSelector="builtin:service.requestCount.total:count:splitBy()", resolution="5m",
                      **window)
    eq(body["result"][0]["data"][0]["values"], [238] * 3, "count merges by sum")
    body = demo_query(env, metricSelector='builtin:service.response.time:splitBy("dt.entity.service"):percentile(90)'
                      ':fold:toUnit(MicroSecond,MilliSecond)', entitySelector="type(SERVICE),tag(release:2.5.0)",
                      **window)
    eq(body["result"][0]["data"][0]["values"], [720.0])
    body = demo_query(env, metricSelector="builtin:service.response.time:filter(eq(a,b)):avg",
                      entitySelector="entityId(%s)" % STG, **window)
    eq(len(body["result"][0]["data"]), 1)
    assert "ignored" in body["warnings"][0], body
    body = demo_query(env, metricSelector="builtin:service.response.time,builtin:service.errors.total.rate",
                      resolution="Inf", mzSelector="mzId(4211717765151950451)", **window)
    eq([r["data"][2]["values"] for r in body["result"]], [[310000.0], [7.5]])
    status, body = env.demo.get("/api/v2/metrics/query?" + q(metricSelector="builtin:service.response.time:max"))
    eq(status, 400, "aggregation without data in the scenario")


@test
def metrics_v2_relative_times_use_the_clock(env):
    env.demo.control("POST", "/_sim/clock", {"now": T0 + 30000})
    try:
        body = demo_query(env, metricSelector="builtin:service.response.time:splitBy()", **{"from": "now-2h"})
        stamps = body["result"][0]["data"][0]["timestamps"]
        eq((body["resolution"], stamps[0], stamps[-1], len(stamps)),
           ("1m", T0 - 7200000 + 60000, T0 + 60000, 121))
        status, body = env.demo.get("/api/v2/metrics/query?" + q(metricSelector="builtin:service.response.time",
                                                                 resolution="7x"))
        eq(status, 400)
    finally:
        env.demo.control("POST", "/_sim/clock", {"unpin": True})


@test
def metrics_v2_paging(env):
    status, page1 = env.paged.get("/api/v2/metrics/query?" + q(metricSelector="builtin:service.response.time",
                                                               resolution="Inf"))
    eq((status, page1["totalCount"], len(page1["result"][0]["data"])), (200, 3, 2))
    assert page1["nextPageKey"], page1
    status, page2 = env.paged.get("/api/v2/metrics/query?" + q(nextPageKey=page1["nextPageKey"]))
    eq((status, [s["dimensions"] for s in page2["result"][0]["data"]], page2["nextPageKey"]), (200, [[CANARY]], None))
    status, body = env.paged.get("/api/v2/metrics/query?" + q(nextPageKey=page1["nextPageKey"], resolution="Inf"))
    eq((status, body["error"]["constraintViolations"][0]["path"]), (400, "nextPageKey"))


@test
def timeseries_v1_queries(env):
    demo = env.demo
    base = "/api/v1/timeseries/com.dynatrace.builtin:service.responsetime?includeData=true&"
    window = "startTimestamp=%d&endTimestamp=%d" % (T0 - 300000, T0)
    status, body = demo.get(base + window + "&aggregationType=percentile&percentile=90&tag=release:2.5.0")
    eq((status, list(body["dataResult"]["dataPoints"])), (200, [CANARY]))
    eq(body["dataResult"]["dataPoints"][CANARY], [[T0 - 300000 + i * 60000, 720000.0] for i in range(5)])
    eq((body["dataResult"]["aggregationType"], body["dataResult"]["entities"]), ("PERCENTILE", {CANARY: "checkout"}))
    status, body = demo.get(base + window + "&aggregationType=avg&queryMode=TOTAL&entity=%s&entity=%s" % (PROD, STG))
    eq(body["dataResult"]["dataPoints"], {PROD: [[T0, 120000.0]], STG: [[T0, 126000.0]]}, "TOTAL: one point at the end")
    demo.control("POST", "/_sim/clock", {"now": T0 + 30000})
    try:
        status, body = demo.get(base + "relativeTime=hour&aggregationType=avg&entity=" + PROD)
        eq(len(body["dataResult"]["dataPoints"][PROD]), 61, "relativeTime=hour at 1 min")
    finally:
        demo.control("POST", "/_sim/clock", {"unpin": True})
    eq(demo.get(base + window + "&aggregationType=percentile")[0], 400, "percentile missing")
    eq(demo.get(base + "startTimestamp=%d&endTimestamp=%d" % (T0, T0 - 60000))[0], 400, "inverted window")
    eq(demo.get(base + window + "&aggregationType=avg&entity=")[0], 400, "empty entity")
    status, body = demo.get("/api/v1/timeseries/com.dynatrace.builtin:service.responsetime")
    assert "dataResult" not in body and body["unit"] == "MicroSecond (µs)", body
    status, body = demo.get("/api/v1/timeseries")
    eq([d["timeseriesId"] for d in body], ["com.dynatrace.builtin:service.responsetime",
                                           "com.dynatrace.builtin:service.failurerate",
                                           "com.dynatrace.builtin:service.requestspermin"])
    status, body = env.paged.get(base + window + "&aggregationType=avg&entity=" + PROD)
    eq(list(body), ["result"], "older shape when the scenario asks")


# ---- demo: events -----------------------------------------------------------------------------

def is_int64_beyond_2_53(value):
    return isinstance(value, int) and (1 << 53) <= abs(value) < (1 << 63)


@test
def events_v1_post_and_get(env):
    demo = env.demo
    demo.control("POST", "/_sim/reset")
    body = fixture("events-v1-POST-request_CUSTOM_DEPLOYMENT_tagRule_unbreakable-push-task_constructed.json")
    reply = demo.request("POST", "/api/v1/events", DEMO_TOKEN, body)
    answer = reply.json()
    eq((reply.status, len(answer["storedEventIds"]), answer["storedCorrelationIds"]), (200, 2, []))
    assert all(is_int64_beyond_2_53(x) for x in answer["storedEventIds"]), answer
    assert str(answer["storedEventIds"][0]).encode() in reply.raw, "ids are JSON integers, not strings"
    assert answer["storedIds"][0].startswith("%d_" % answer["storedEventIds"][0]), answer
    status, listed = demo.get("/api/v1/events?eventType=CUSTOM_DEPLOYMENT&entityId=" + PROD)
    eq([e["deploymentVersion"] for e in listed["events"]], ["42"], "within the default 2 h window")
    status, listed = demo.get("/api/v1/events?from=%d&eventType=CUSTOM_DEPLOYMENT&entityId=%s"
                              % (int(time.time() * 1000) - 30 * 3600000, PROD))
    eq([e["deploymentVersion"] for e in listed["events"]], ["42", "2.3.0"], "newest first")
    eq(listed["events"][0]["tags"][0]["value"], "Production")
    eq(listed["events"][0]["customProperties"]["BuildUrl"], "vstfs:///ReleaseManagement/Release/42")
    bad = copy.deepcopy(body)
    bad["attachRules"]["tagRule"][0]["meTypes"] = "SERVICE"
    status, err = demo.post("/api/v1/events", bad)
    eq((status, err["error"]["constraintViolations"][0]["path"]), (400, "attachRules.tagRule[0].meTypes"))
    del bad["attachRules"]
    eq(demo.post("/api/v1/events", bad)[0], 400)
    nothing = fixture("events-v1-POST-request_CUSTOM_DEPLOYMENT_entityIds_dtcli-pushdeploy_constructed.json")
    eq(demo.post("/api/v1/events", nothing), (200, {"storedEventIds": [], "storedIds": [],
                                                    "storedCorrelationIds": []}))


@test
def events_v1_cursor_paging(env):
    frm = "from=%d" % (int(time.time() * 1000) - 30 * 3600000)
    status, page1 = env.paged.get("/api/v1/events?" + frm)
    eq((status, page1["totalEventCount"], len(page1["events"])), (200, 3, 1))
    versions = [page1["events"][0]["deploymentVersion"]]
    cursor = page1["nextCursor"]
    while cursor:
        status, more = env.paged.get("/api/v1/events?cursor=" + urllib.parse.quote(cursor))
        versions += [e["deploymentVersion"] for e in more["events"]]
        cursor = more["nextCursor"]
    eq(versions, ["2.5.0", "2.4.0", "2.3.0"])


@test
def events_v2_ingest_and_get(env):
    demo = env.demo
    demo.control("POST", "/_sim/reset")
    body = fixture("events-v2-ingest-request_CUSTOM_DEPLOYMENT_docs-example.json")
    body["entitySelector"] = "type(PROCESS_GROUP_INSTANCE),tag(app:checkout)"
    status, answer = demo.post("/api/v2/events/ingest", body)
    eq((status, answer["reportCount"], [r["status"] for r in answer["eventIngestResults"]]), (201, 3, ["OK"] * 3))
    body["entitySelector"] = "type(PROCESS_GROUP_INSTANCE),tag(easytravel)"
    eq(demo.post("/api/v2/events/ingest", body), (201, fixture("events-v2-ingest_201_response_no-entity-matched.json")))
    for field, value in (("title", ""), ("eventType", "CUSTOM_THING")):
        broken = dict(body, **{field: value})
        status, err = demo.post("/api/v2/events/ingest", broken)
        eq((status, err["error"]["constraintViolations"][0]["path"]), (400, field))
    status, listed = demo.get("/api/v2/events?" + q(eventSelector="eventType(CUSTOM_DEPLOYMENT)",
                                                    entitySelector="entityId(%s)" % CANARY))
    eq((status, listed["totalCount"]), (200, 1))
    event = listed["events"][0]
    eq(event["entityId"], {"entityId": {"id": CANARY, "type": "SERVICE"}, "name": "checkout"})
    assert {"key": "dt.event.deployment.version", "value": "2.5.0"} in event["properties"], event
    status, listed = demo.get("/api/v2/events?" + q(eventSelector="eventType(CUSTOM_DEPLOYMENT)",
                                                    entitySelector="type(PROCESS_GROUP_INSTANCE)", pageSize=2))
    eq((listed["totalCount"], len(listed["events"])), (3, 2))
    status, rest = demo.get("/api/v2/events?" + q(nextPageKey=listed["nextPageKey"]))
    eq((len(rest["events"]), rest["nextPageKey"]), (1, None))
    version = [p["value"] for p in rest["events"][0]["properties"] if p["key"] == "dt.event.deployment.version"]
    eq(version, ["1.1"])
    status, v1 = demo.get("/api/v1/events?entityId=PROCESS_GROUP_INSTANCE-1F2E3D4C5B6A7003")
    eq(v1["events"][0]["deploymentVersion"], "1.1", "v2 properties readable through v1")


# ---- demo: problems and comments -----------------------------------------------------------------

@test
def problems_comments_and_close(env):
    demo = env.demo
    demo.control("POST", "/_sim/reset")
    status, listed = demo.get("/api/v2/problems?problemSelector=status(open)")
    eq((status, [p["problemId"] for p in listed["problems"]]), (200, [OPEN_PROBLEM]))
    status, listed = demo.get("/api/v2/problems?" + q(entitySelector="type(SERVICE),tag(release:2.5.0)"))
    eq(listed["totalCount"], 1)
    v1_body = fixture("problem-comment-v1-POST-request_unbreakable-selfhealing-G1_constructed.json")
    status, comment = demo.post("/api/v1/problem/details/%s/comments" % OPEN_PROBLEM, v1_body)
    eq((status, comment["content"], comment["userName"], comment["context"]),
       (200, v1_body["comment"], v1_body["user"], "Azure Function"))
    status, comment = demo.post("/api/v2/problems/%s/comments" % OPEN_PROBLEM,
                                fixture("problem-comment-v2-POST-request.json"))
    eq(status, 201)
    status, comments = demo.get("/api/v2/problems/%s/comments" % OPEN_PROBLEM)
    eq((comments["totalCount"], comments["comments"][0]["context"]), (2, "keptn-remediation"), "newest first")
    status, problem = demo.get("/api/v2/problems/%s?fields=recentComments" % OPEN_PROBLEM)
    eq(problem["recentComments"]["totalCount"], 2)
    eq(demo.post("/api/v2/problems/%s/comments" % OPEN_PROBLEM, {"message": "x"}, DEMO_READONLY)[1],
       {"error": {"code": 403, "message": "Token is missing required scope. Use one of: problems.write (Write problems)"}})
    eq(demo.post("/api/v2/problems/%s/comments" % OPEN_PROBLEM, {"context": "x"})[0], 400, "message required")
    status, closed = demo.post("/api/v2/problems/%s/close" % OPEN_PROBLEM, {"message": "rolled back"})
    eq((status, closed["closing"], closed["comment"]["content"]), (200, True, "rolled back"))
    eq(demo.get("/api/v2/problems/" + OPEN_PROBLEM)[1]["status"], "CLOSED")
    eq(demo.post("/api/v2/problems/%s/close" % OPEN_PROBLEM, {"message": "again"})[0], 400)
    eq(demo.get("/api/v2/problems?problemSelector=status(open)")[1]["totalCount"], 0)
    demo.control("POST", "/_sim/reset")
    eq(demo.get("/api/v2/problems/" + OPEN_PROBLEM)[1]["status"], "OPEN", "reset restores the scenario")
    status, slo = demo.get("/api/v2/slo/2c6f1a54-8d7e-3b9a-a1c2-0d4e5f6a7b8c")
    eq((status, slo["name"]), (200, "checkout availability"))


@test
def cli_token_scopes(env):
    status, _ = env.demo.get("/api/v2/metrics/query?" + q(metricSelector="builtin:service.response.time"), CLI_TOKEN)
    eq(status, 200)
    status, body = env.demo.get("/api/v1/entity/services", CLI_TOKEN)
    eq((status, body["error"]["message"]), (403, "Token is missing required scope. Use one of: DataExport "
                                                 "(Access problem and event feed, metrics, and topology)"))


# ---- recording and clock ------------------------------------------------------------------------

@test
def requests_are_recorded_without_tokens(env):
    demo = env.demo
    demo.control("DELETE", "/_sim/requests")
    demo.request("GET", "/api/v1/entity/services?tag=[Environment]DEPLOYMENT_GROUP_NAME:Staging&tag=app:checkout",
                 CLI_TOKEN)
    demo.request("POST", "/api/v2/events/ingest", DEMO_TOKEN, {"eventType": "CUSTOM_INFO", "title": DEMO_TOKEN})
    demo.request("GET", "/api/v1/timeseries", None, headers={"Authorization": "dt0c01.BARE.UNKNOWN.SECRET"})
    log = demo.control("GET", "/_sim/requests")["requests"]
    eq([(r["method"], r["path"], r["status"]) for r in log],
       [("GET", "/api/v1/entity/services", 403), ("POST", "/api/v2/events/ingest", 201),
        ("GET", "/api/v1/timeseries", 401)])
    eq((log[2]["headers"]["Authorization"], log[2]["authScheme"]), ("<redacted>", "<none>"))
    eq(log[0]["query"], "tag=[Environment]DEPLOYMENT_GROUP_NAME:Staging&tag=app:checkout", "raw query kept")
    eq(log[0]["params"]["tag"], ["[Environment]DEPLOYMENT_GROUP_NAME:Staging", "app:checkout"])
    eq((log[0]["headers"]["Authorization"], log[0]["authScheme"]), ("<redacted>", "Api-Token"))
    assert json.loads(log[1]["body"])["eventType"] == "CUSTOM_INFO", log[1]
    since = demo.control("GET", "/_sim/requests?since=%d" % log[1]["seq"])["requests"]
    eq([r["seq"] for r in since], [log[2]["seq"]])
    everything = json.dumps(demo.control("GET", "/_sim/requests"))
    with open(env.record_path, encoding="utf-8") as handle:
        recorded = handle.read()
    for token in (CLI_TOKEN, DEMO_TOKEN, DEMO_READONLY, "dt0c01.BARE.UNKNOWN.SECRET"):
        assert token not in everything and token not in recorded, "token leaked into the request log"
    lines = [json.loads(line) for line in recorded.splitlines()]
    assert lines and all("method" in line and "status" in line for line in lines), lines[:1]


@test
def clock_control(env):
    demo = env.demo
    eq(demo.control("POST", "/_sim/clock", {"now": 1700000000000}), {"now": 1700000000000, "pinned": True})
    eq(demo.control("POST", "/_sim/clock", {"advanceMs": 60000})["now"], 1700000060000)
    eq(demo.control("GET", "/_sim/clock")["now"], 1700000060000)
    unpinned = demo.control("POST", "/_sim/clock", {"unpin": True})
    assert not unpinned["pinned"] and abs(unpinned["now"] - time.time() * 1000) < 60000, unpinned
    eq(demo.request("POST", "/_sim/clock", None, {"now": "soon"}).status, 400)


# ---- faults ---------------------------------------------------------------------------------------

METRICS_PATH = "/api/v2/metrics/query?" + q(metricSelector="builtin:service.response.time", resolution="Inf")


def add_fault(env, **rule):
    env.demo.control("DELETE", "/_sim/faults")
    env.demo.control("POST", "/_sim/faults", rule)


@test
def fault_429_with_retry_headers(env):
    env.demo.control("POST", "/_sim/clock", {"now": 1700000000000})
    try:
        add_fault(env, path="/api/v2/metrics", status=429, retryAfter=3, rateLimitResetMs=2000, times=1)
        reply = env.demo.request("GET", METRICS_PATH, DEMO_TOKEN)
        eq((reply.status, reply.json()), (429, fixture("api-error_429_too-many-requests.json")))
        eq((reply.headers["Retry-After"], reply.headers["X-RateLimit-Reset"], reply.headers["X-RateLimit-Remaining"]),
           ("3", str(1700000002000 * 1000), "0"))
        eq(env.demo.request("GET", METRICS_PATH, DEMO_TOKEN).status, 200, "only the first request")
    finally:
        env.demo.control("POST", "/_sim/clock", {"unpin": True})


@test
def fault_fail_twice_then_succeed_and_5xx(env):
    add_fault(env, path="/api/v2/metrics/query", status=503, times=2, name="flaky")
    eq([env.demo.request("GET", METRICS_PATH, DEMO_TOKEN).status for _ in range(3)], [503, 503, 200])
    log = env.demo.control("GET", "/_sim/requests")["requests"][-3:]
    eq([r.get("fault") for r in log], ["flaky", "flaky", None])
    for status in (500, 502, 504):
        add_fault(env, path="/api/", status=status)
        reply = env.demo.request("GET", "/api/v1/timeseries", DEMO_TOKEN)
        eq((reply.status, reply.json()["error"]["code"]), (status, status))
    add_fault(env, path="/api/v1/timeseries", status=500, skip=1, times=1)
    eq([env.demo.request("GET", "/api/v1/timeseries", DEMO_TOKEN).status for _ in range(3)], [200, 500, 200])
    add_fault(env, method="POST", pathRegex=r"^/api/v2/events", status=500)
    eq(env.demo.request("GET", "/api/v2/events", DEMO_TOKEN).status, 200, "GET does not match a POST rule")
    eq(env.demo.request("POST", "/api/v2/events/ingest", DEMO_TOKEN, {}).status, 500)
    views = env.demo.control("GET", "/_sim/faults")
    eq((views["runtime"][0]["seen"], views["runtime"][0]["applied"]), (1, 1))
    env.demo.control("DELETE", "/_sim/faults")


@test
def fault_latency_and_hang(env):
    add_fault(env, path="/api/v1/timeseries", latencyMs=200, name="slow")
    eq(env.demo.request("GET", "/api/v1/timeseries", DEMO_TOKEN).status, 200)
    add_fault(env, path="/api/v2/problems", hang=True, name="hang")
    try:
        env.demo.request("GET", "/api/v2/problems", DEMO_TOKEN, timeout=1)
        raise AssertionError("a hanging request answered")
    except (socket.timeout, TimeoutError, urllib.error.URLError) as err:
        assert "timed out" in str(err), err
    env.demo.control("DELETE", "/_sim/faults")
    eq(env.demo.request("GET", "/api/v2/problems", DEMO_TOKEN).status, 200, "server still serves")
    log = env.demo.control("GET", "/_sim/requests")["requests"]
    hung = [r for r in log if r.get("fault") == "hang"]
    eq((len(hung), hung[0]["status"]), (1, None))
    eq([r["status"] for r in log if r.get("fault") == "slow"], [200])


@test
def fault_bodies(env):
    demo = env.demo
    add_fault(env, path="/api/v2/metrics", truncate=True)
    reply = demo.request("GET", METRICS_PATH, DEMO_TOKEN)
    eq((reply.status, int(reply.headers["Content-Length"])), (200, len(reply.raw)))
    assert_not_json(reply.raw)
    add_fault(env, path="/api/v2/metrics", cut=True)
    try:
        demo.request("GET", METRICS_PATH, DEMO_TOKEN)
        raise AssertionError("a cut body was read completely")
    except http.client.IncompleteRead:
        pass
    add_fault(env, path="/api/v2/metrics", malformed=True)
    reply = demo.request("GET", METRICS_PATH, DEMO_TOKEN)
    eq(reply.status, 200)
    assert_not_json(reply.raw)
    add_fault(env, path="/api/v2/metrics", html=True)
    reply = demo.request("GET", METRICS_PATH, DEMO_TOKEN)
    eq((reply.status, reply.headers["Content-Type"].split(";")[0]), (200, "text/html"))
    assert reply.raw.startswith(b"<!DOCTYPE html>"), reply.raw[:40]
    add_fault(env, path="/api/v2/metrics", contentType="text/plain")
    reply = demo.request("GET", METRICS_PATH, DEMO_TOKEN)
    eq((reply.headers["Content-Type"], len(reply.json()["result"][0]["data"])), ("text/plain", 3))
    add_fault(env, path="/api/v2/metrics", json={"unexpected": True}, status=200)
    eq(demo.get(METRICS_PATH), (200, {"unexpected": True}))
    add_fault(env, path="/api/v2/metrics/query", largeMB=2)
    reply = demo.request("GET", METRICS_PATH, DEMO_TOKEN)
    assert len(reply.raw) >= 2 * 1024 * 1024, len(reply.raw)
    body = reply.json()
    eq(body["totalCount"], len(body["result"][0]["data"]), "all series in one answer")
    demo.control("DELETE", "/_sim/faults")


def assert_not_json(raw):
    try:
        json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return
    raise AssertionError("body unexpectedly parses as JSON: %r" % raw[:80])


@test
def scenario_faults_and_reset(env):
    path = "/api/v1/timeseries"
    eq([env.paged.request("GET", path, DEMO_TOKEN).status for _ in range(2)], [500, 200])
    env.paged.control("POST", "/_sim/reset")
    eq(env.paged.request("GET", path, DEMO_TOKEN).status, 500, "reset re-arms scenario faults")
    reply = env.paged.request("POST", "/_sim/faults", None, {"path": "/x", "status": 42})
    eq((reply.status, "/rules/0/status" in reply.json()["error"]["message"]), (400, True))


# ---- generators and options ------------------------------------------------------------------------

GEN_NOW = 1700000010000          # 30 s into a minute
GEN_ENTITY = "SERVICE-AAAA000000000001"


def generator_scenario():
    spec = {
        "avg": {"values": [1, 2, 3], "repeat": True},
        "max": {"values": [10, 20], "repeat": False},
        "min": {"linear": {"atNow": 100, "perMinute": 2}},
        "sum": {"constant": 5, "from": "now-3m", "until": "now-1m"},
        "count": {"points": [["now-90s", 4], ["now-85s", 1], ["now-80s", 6]]},
    }
    doc = {"now": GEN_NOW, "tokens": {DEMO_TOKEN: "*"},
           "entities": [{"entityId": GEN_ENTITY, "displayName": "gen"}],
           "metrics": {"builtin:gen.metric": {"data": {agg: {GEN_ENTITY: s} for agg, s in spec.items()}}}}
    path = os.path.join(TMP, "generators.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(doc, handle)
    return path


@test
def generators_per_slot(env):
    sim = Sim(generator_scenario())
    try:
        def values(transform):
            status, body = sim.get("/api/v2/metrics/query?" + q(metricSelector="builtin:gen.metric" + transform,
                                                                resolution="1m", **{"from": "now-5m"}))
            assert status == 200, body
            return body["result"][0]["data"][0]
        first = values(":avg")
        # slots (s, s+1m] from the one holding now-5m to the one holding now: 6 slots
        eq(first["timestamps"], [1699999740000 + i * 60000 for i in range(6)])
        eq(first["values"], [1, 2, 3, 1, 2, 3], "values repeat, the last one in the slot holding now")
        eq(values(":max")["values"], [None, None, None, None, 10, 20], "values without repeat")
        eq(values(":min")["values"], [89.0, 91.0, 93.0, 95.0, 97.0, 99.0], "linear at slot starts")
        eq(values(":sum")["values"], [None, None, None, 5, 5, None], "from/until")
        eq(values(":count")["values"], [None, None, None, 4, 7, None], "points summed for count")
        eq(values(":max:default(0)")["values"], [0, 0, 0, 0, 10, 20])
        eq(values(":avg:fold")["values"], [2.0])
        eq(values(":sum:fold")["values"], [10])
    finally:
        eq(sim.stop(), 0)


@test
def scenario_options(env):
    def change(doc):
        doc["now"] = T0
        doc["options"] = {"v2Timestamps": "start", "v1InvertedWindow": "empty", "v1EmptyEntityParameter": "ignore",
                          "eventsOrder": "oldest", "rateLimit": 3, "rateLimitEnforced": True}
    sim = Sim(derived_scenario("demo.json", "options.json", change))
    try:
        status, body = sim.get("/api/v2/metrics/query?" + q(metricSelector="builtin:service.response.time",
                                                            resolution="5m", to=T0, **{"from": T0 - 600000}))
        eq(body["result"][0]["data"][0]["timestamps"], [T0 - 600000, T0 - 300000], "slots reported by start")
        base = "/api/v1/timeseries/com.dynatrace.builtin:service.responsetime?includeData=true&aggregationType=avg&"
        status, body = sim.get(base + "startTimestamp=%d&endTimestamp=%d&entity=%s" % (T0, T0 - 60000, PROD))
        eq(body["dataResult"]["dataPoints"], {PROD: []}, "inverted window answers empty")
        sim.control("POST", "/_sim/reset")
        status, body = sim.get(base + "startTimestamp=%d&endTimestamp=%d&entity=" % (T0 - 60000, T0))
        eq(sorted(body["dataResult"]["dataPoints"]), [PROD, STG, CANARY], "empty entity= ignored")
        status, body = sim.get("/api/v1/events?from=%d" % (T0 - 30 * 3600000))
        eq([e["deploymentVersion"] for e in body["events"]], ["2.3.0", "2.4.0", "2.5.0"], "oldest first")
        sim.control("POST", "/_sim/reset")
        statuses = [sim.request("GET", "/api/v1/timeseries", DEMO_TOKEN) for _ in range(4)]
        eq([r.status for r in statuses], [200, 200, 200, 429])
        eq(statuses[3].json(), fixture("api-error_429_too-many-requests.json"))
        eq([r.headers["X-RateLimit-Remaining"] for r in statuses], ["2", "1", "0", "0"])
        sim.control("POST", "/_sim/clock", {"advanceMs": 60000})
        eq(sim.request("GET", "/api/v1/timeseries", DEMO_TOKEN).status, 200, "next minute")
    finally:
        eq(sim.stop(), 0)


# ---- process lifecycle ------------------------------------------------------------------------------

def bad_scenario(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def start_failure(path, extra=()):
    proc = subprocess.run([PYTHON, SIM, "--scenario", path, "--port", "0"] + list(extra),
                          capture_output=True, timeout=20)
    return proc.returncode, proc.stderr.decode("utf-8")


@test
def bad_scenarios_fail_at_start_naming_file_and_pointer(env):
    entity = '{"entityId": "SERVICE-1", "displayName": "a"}'
    cases = [
        ("broken.json", '{"entities": [', "invalid JSON at line 1"),
        ("topkey.json", '{"bogus": 1}', "/bogus: unknown top-level key"),
        ("series.json", '{"entities": [%s], "metrics": {"m": {"data": {"avg": {"SERVICE-1": {"constant": "x"}}}}}}'
         % entity, "/metrics/m/data/avg/SERVICE-1/constant: must be a number"),
        ("unknown-entity.json", '{"metrics": {"m": {"data": {"avg": {"SERVICE-NOPE": {"constant": 1}}}}}}',
         "/metrics/m/data/avg/SERVICE-NOPE: unknown entity"),
        ("fault.json", '{"faults": [{"path": "/api", "status": 1000}]}', "/faults/0/status"),
        ("scope.json", '{"tokens": {"t0123456789": ["metrics.reed"]}}', "unknown scope 'metrics.reed'"),
        ("event.json", '{"events": [{"eventType": "X", "entityId": "SERVICE-1", "startTime": "yesterday"}]}',
         "/events/0/startTime"),
    ]
    for name, text, message in cases:
        path = bad_scenario(name, text)
        status, stderr = start_failure(path)
        eq(status, 2, name)
        assert path in stderr and message in stderr, "%s: %r" % (name, stderr)
    status, stderr = start_failure(os.path.join(TMP, "missing.json"))
    assert status == 2 and "missing.json: cannot read scenario" in stderr, stderr
    status, stderr = start_failure(os.path.join(SCENARIOS, "demo.json"), ["--token", "abcdefghij=nope.scope"])
    assert status == 2 and "nope.scope" in stderr, stderr
    status, stderr = start_failure(os.path.join(SCENARIOS, "demo.json"), ["--token", "short"])
    assert status == 2 and "at least 8 characters" in stderr, stderr


@test
def shutdown_on_signals_and_port_file(env):
    for sig in (signal.SIGTERM, signal.SIGINT):
        sim = Sim(os.path.join(SCENARIOS, "demo.json"))
        with open(sim.port_file, encoding="ascii") as handle:
            eq(int(handle.read()), sim.port)
        eq(sim.stop(sig), 0, "exit status after %s" % sig.name)
    sim = Sim(os.path.join(SCENARIOS, "demo.json"))
    sim.control("POST", "/_sim/faults", {"path": "/api", "hang": True})
    conn = socket.create_connection(("127.0.0.1", sim.port))
    conn.sendall(b"GET /api/v1/timeseries HTTP/1.1\r\nHost: x\r\n\r\n")
    sim.control("GET", "/_sim/health")
    eq(sim.stop(), 0, "exit status with a hanging request open")
    conn.close()


@test
def importable_start(env):
    import dynatrace_sim
    server = dynatrace_sim.start({"tokens": {}, "entities": [{"entityId": "HOST-1", "displayName": "h"}]},
                                 tokens=["dt0c01.INPROCESS=entities.read"])
    try:
        reply = urllib.request.urlopen(urllib.request.Request(
            server.url + "/api/v2/entities?entitySelector=type(HOST)",
            headers={"Authorization": "Api-Token dt0c01.INPROCESS"}), timeout=10)
        eq(json.loads(reply.read())["totalCount"], 1)
    finally:
        server.stop()


# ---- runner ---------------------------------------------------------------------------------------

class Env:
    def __init__(self):
        self.record_path = os.path.join(TMP, "record.jsonl")
        self.fix = Sim(os.path.join(SCENARIOS, "fixtures.json"))
        self.dtcli = Sim(os.path.join(SCENARIOS, "dtcli-synthetic.json"))
        self.demo = Sim(os.path.join(SCENARIOS, "demo.json"), [CLI_TOKEN + "=metrics.read"], self.record_path)

        def paged_change(doc):
            doc["pageSizes"] = {"metrics": 2, "eventsV1": 1}
            doc["options"] = {"v1ResultShape": "result"}
            doc["faults"] = [{"pathRegex": "^/api/v1/timeseries$", "method": "GET", "status": 500, "times": 1}]
            doc["metrics"]["com.dynatrace.builtin:service.responsetime"]["resultShape"] = "result"
        self.paged = Sim(derived_scenario("demo.json", "paged.json", paged_change))

    def close(self):
        for sim in (self.fix, self.dtcli, self.demo, self.paged):
            sim.stop()


def main():
    env = Env()
    passed, failed = 0, 0
    try:
        for fn in TESTS:
            try:
                fn(env)
                passed += 1
                print("ok   %s" % fn.__name__)
            except Exception:  # report every failure, keep going
                failed += 1
                print("FAIL %s\n%s" % (fn.__name__, traceback.format_exc()))
    finally:
        env.close()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
