"""End-to-end: the Dynatrace client (`unbreakable dt ...`) against the Dynatrace
simulator (tests/sim/dynatrace_sim.py) on 127.0.0.1: every read endpoint, paging,
every fault the simulator injects, retries measured with the simulator's own
request times, the overall deadline, record/replay, and that the API token never
appears in any output or recording.

Runs `$UB_BIN dt` (runtime/commands/cmd_dt.c): a broken `dt` command fails this
test, there is no fallback. Standard library only; timing is never asserted
except as "at least" relations between the simulator's timestamps, which a
correct client cannot violate, and deadlines scale with the build
(UB_TIME_SCALE, tests/sim/launch.py)."""

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

SOURCE = os.environ.get("UB_SOURCE", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(SOURCE, "tests", "sim"))
from launch import SCENARIOS, SimProcess, scaled, wait_for  # noqa: E402

BIN = os.environ.get("UB_BIN", os.path.join(SOURCE, "build", "unbreakable"))
SCENARIO = os.path.join(SCENARIOS, "demo.json")
TOKEN = "dt0c01.E2E%s.%s" % (secrets.token_hex(8).upper(), secrets.token_hex(16).upper())
SCOPED = "dt0c01.SCOPED%s" % secrets.token_hex(8).upper()
SERVICE = "SERVICE-C4EC4A0E5A3B1001"
PROBLEM = "-2387593847561234567_1700000000000V2"
SLO = "2c6f1a54-8d7e-3b9a-a1c2-0d4e5f6a7b8c"
P90 = "builtin:service.response.time:percentile(90)"

OUTPUTS = []          # every stdout/stderr we saw, for the token check
FAILURES = []


def command():
    return [BIN, "dt"]


class Sim(SimProcess):
    """The simulator of these tests: the demo scenario, our two tokens."""

    def __init__(self, workdir):
        super().__init__(SCENARIO, tokens=[TOKEN, SCOPED + "=metrics.read"],
                         log_path=os.path.join(workdir, "sim.log"))

    def reset(self):
        self.control("POST", "/_sim/reset", {})
        self.control("DELETE", "/_sim/faults")
        self.control("DELETE", "/_sim/requests")

    def fault(self, **rule):
        self.control("POST", "/_sim/faults", rule)

    def requests(self, path_prefix="/api/"):
        """The request log once every request in it was answered: the simulator records an
        answer's status just after sending it, so a client that already exited can be ahead."""
        def answered():
            reqs = SimProcess.requests(self, path_prefix)
            return (reqs,) if all("status" in r for r in reqs) else None
        return wait_for(answered, 30, "the simulator to record its answers")[0]


def run(cmd, sim, args, token=TOKEN, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DT_") and "proxy" not in k.lower()}
    env["DT_TENANT_URL"] = sim.url + "/"
    if token is not None:
        env["DT_API_TOKEN"] = token
    env.update(env_extra or {})
    proc = subprocess.run(cmd + args, capture_output=True, text=True, env=env, timeout=scaled(120))
    OUTPUTS.append(proc.stdout)
    OUTPUTS.append(proc.stderr)
    check("Sanitizer" not in proc.stderr and "runtime error:" not in proc.stderr,
          "no sanitizer report for %s: %s" % (args[:2], proc.stderr[-2000:]))
    doc = None
    if proc.stdout.strip()[:1] in ("{", "["):
        doc = json.loads(proc.stdout)
    return proc.returncode, doc, proc.stderr


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL: %s" % what)


def now_ms():
    return int(time.time()) * 1000


# ---- endpoints -------------------------------------------------------------------

def test_every_endpoint(cmd, sim):
    sim.reset()
    to = now_ms()
    rc, doc, err = run(cmd, sim, ["metrics", P90, "--entity-selector", "type(SERVICE),tag(app:checkout)",
                                  "--from", str(to - 3600000), "--to", str(to), "--resolution", "Inf"])
    check(rc == 0 and doc["ok"], "metrics ok (%s)" % err)
    values = {d["dimensions"][0]: d["series"]["values"] for d in doc["result"][0]["data"]}
    check(values.get(SERVICE) == [250000], "metrics p90 of %s is 250000: %r" % (SERVICE, values.get(SERVICE)))
    rc, doc, err = run(cmd, sim, ["timeseries", "com.dynatrace.builtin:service.responsetime", "--from",
                                  str(to - 600000), "--to", str(to), "--aggregation", "avg", "--entity", SERVICE])
    check(rc == 0 and doc["ok"] and doc["order"] == [SERVICE], "timeseries ok (%s)" % err)
    pts = [v for v in doc["series"][SERVICE]["values"] if v is not None]
    check(pts and all(v == 120000 for v in pts), "timeseries avg is 120000: %r" % pts)
    expectations = [
        (["metric_descriptor", "builtin:service.response.time"], "descriptor"),
        (["entities_v1", "services", "--tag", "app:checkout"], "entities"),
        (["entities", "type(SERVICE)"], "entities"),
        (["events_v1", "--event-type", "CUSTOM_DEPLOYMENT"], "events"),
        (["events", "--event-selector", "eventType(CUSTOM_DEPLOYMENT)"], "events"),
        (["problem", PROBLEM], "problem"),
        (["problems"], "problems"),
        (["slo", SLO], "slo"),
    ]
    for args, field in expectations:
        rc, doc, err = run(cmd, sim, args)
        check(rc == 0 and doc and doc["ok"] and doc.get(field), "%s answers %s (%s)" % (args[0], field, err))
    check(run(cmd, sim, ["problem", PROBLEM])[1]["problem"]["status"] == "OPEN", "problem status OPEN")
    auth = {r["authScheme"] for r in sim.requests()}
    check(auth == {"Api-Token"}, "every request carries Authorization: Api-Token (%r)" % auth)


def test_paging(cmd, sim):
    sim.reset()
    rc, doc, err = run(cmd, sim, ["entities", "type(SERVICE)", "--page-size", "1"])
    check(rc == 0 and len(doc["entities"]) == doc["total_count"] == 4, "entities merged over pages (%s)" % err)
    reqs = sim.requests("/api/v2/entities")
    check(len(reqs) == 4 and all("nextPageKey" in r["params"] for r in reqs[1:]),
          "pages 2..4 asked with nextPageKey alone: %d requests" % len(reqs))


def test_batch(cmd, sim):
    sim.reset()
    to = now_ms()
    calls = [["metrics", P90, {"entity_selector": "type(SERVICE)", "resolution": "Inf", "from": to - 3600000 - i,
                               "to": to - i}] for i in range(12)]
    calls += [["timeseries", "com.dynatrace.builtin:service.failurerate", {"from": to - 600000, "to": to,
                                                                           "aggregation": "avg"}],
              ["events", {"event_selector": "eventType(CUSTOM_DEPLOYMENT)"}],
              ["nonsense"]]
    rc, doc, err = run(cmd, sim, ["--concurrency", "5", "batch", json.dumps(calls)])
    check(rc == 3 and isinstance(doc, list) and len(doc) == 15, "batch answers every call in order (%s)" % err)
    check(all(r["ok"] for r in doc[:14]) and not doc[14]["ok"], "batch: 14 ok, the unknown call is an error")
    check(all(r["request"].endswith("&to=%d&resolution=Inf" % (to - i)) for i, r in enumerate(doc[:12])),
          "batch responses stay in call order")
    check(doc[12]["series"][SERVICE]["values"][0] == 0.5, "batch timeseries value")
    check(len(sim.requests()) == 14, "one request per valid call: %d" % len(sim.requests()))


# ---- retries -----------------------------------------------------------------------

def metric_args():
    return ["metrics", P90, "--entity-selector", "entityId(%s)" % SERVICE, "--resolution", "Inf"]


def test_retry_on_5xx(cmd, sim):
    for status in (502, 503, 504):
        sim.reset()
        sim.fault(path="/api/v2/metrics/query", status=status, times=2)
        rc, doc, err = run(cmd, sim, metric_args())
        reqs = sim.requests("/api/v2/metrics/query")
        check(rc == 0 and doc["ok"], "%d twice then success (%s)" % (status, err))
        check([r["status"] for r in reqs] == [status, status, 200], "%d retried: %r" % (status, [r["status"] for r in reqs]))


def test_retry_after_is_honoured(cmd, sim):
    sim.reset()
    sim.fault(path="/api/v2/metrics/query", status=429, retryAfter=1, times=1)
    rc, doc, err = run(cmd, sim, metric_args())
    reqs = sim.requests("/api/v2/metrics/query")
    check(rc == 0 and len(reqs) == 2, "429 Retry-After then success (%s)" % err)
    check(reqs[1]["time"] - reqs[0]["time"] >= 1000, "waited Retry-After 1 s: %d ms" % (reqs[1]["time"] - reqs[0]["time"]))


def test_ratelimit_reset_is_honoured(cmd, sim):
    sim.reset()
    sim.fault(path="/api/v2/metrics/query", status=429, rateLimitResetMs=700, times=1)
    rc, doc, err = run(cmd, sim, metric_args())
    reqs = sim.requests("/api/v2/metrics/query")
    check(rc == 0 and len(reqs) == 2, "429 X-RateLimit-Reset then success (%s)" % err)
    check(reqs[1]["time"] - reqs[0]["time"] >= 700, "waited until X-RateLimit-Reset: %d ms" % (reqs[1]["time"] - reqs[0]["time"]))


def test_no_retry_on_4xx_and_500(cmd, sim):
    for status, message in ((400, "Constraints violated."), (404, "Simulated error"), (500, "Internal Server Error")):
        sim.reset()
        sim.fault(path="/api/v2/metrics/query", status=status, message=message)
        rc, doc, err = run(cmd, sim, metric_args())
        reqs = sim.requests("/api/v2/metrics/query")
        check(rc == 3 and not doc["ok"] and doc["status"] == status, "%d is an error" % status)
        check(len(reqs) == 1, "%d not retried: %d requests" % (status, len(reqs)))
        check(doc["error"].startswith("Dynatrace API error (%d): %s - URL: /api/v2/metrics/query?" % (status, message)),
              "%d message: %s" % (status, doc["error"]))


def test_auth_errors(cmd, sim):
    sim.reset()
    rc, doc, err = run(cmd, sim, metric_args(), token="dt0c01.WRONG")
    check(rc == 3 and doc["status"] == 401 and "Dynatrace API error (401)" in doc["error"], "401 reported: %s" % err)
    rc, doc, err = run(cmd, sim, ["problems"], token=SCOPED)
    check(rc == 3 and doc["status"] == 403 and "missing required scope" in doc["error"], "403 reported: %s" % err)
    check(len(sim.requests()) == 2, "auth errors not retried")


# ---- deadline and hanging servers -------------------------------------------------

def test_overall_deadline_holds(cmd, sim):
    sim.reset()
    sim.fault(path="/api/v2/metrics/query", status=503, retryAfter=1)
    deadline_ms = int(scaled(2500))
    rc, doc, err = run(cmd, sim, ["--timeout-ms", str(deadline_ms), "--attempts", "100"] + metric_args())
    reqs = sim.requests("/api/v2/metrics/query")
    check(rc == 3 and not doc["ok"] and doc["status"] == 503, "retries stop at the deadline (%s)" % err)
    most = deadline_ms // 1000 + 1     # one attempt at 0 s, then one per 1 s wait
    check(2 <= len(reqs) <= most, "at most %d attempts fit in %d ms with 1 s waits: %d"
          % (most, deadline_ms, len(reqs)))
    check("deadline" in doc["error"], "error names the deadline: %s" % doc["error"])


def test_hang_and_latency_hit_the_deadline(cmd, sim):
    deadline_ms = int(scaled(1000))
    for rule in ({"hang": True}, {"latencyMs": 5 * deadline_ms}):
        sim.reset()
        sim.fault(path="/api/v2/metrics/query", **rule)
        rc, doc, err = run(cmd, sim, ["--timeout-ms", str(deadline_ms)] + metric_args())
        check(rc == 3 and not doc["ok"] and doc["status"] == 0 and "deadline" in doc["error"],
              "%r ends at the deadline: %s" % (rule, err))
        check("result" not in doc, "%r gives no result" % rule)


# ---- bodies --------------------------------------------------------------------------

def test_bad_bodies_are_errors(cmd, sim):
    cases = [({"malformed": True}, "received invalid response"),
             ({"truncate": True}, "received invalid response"),
             ({"html": True}, "received invalid response (Content-Type text/html"),
             ({"contentType": "text/plain"}, "received invalid response (Content-Type text/plain"),
             ({"body": "", "status": 200}, "received invalid response"),
             ({"json": {"totalCount": 0}}, "received invalid response"),
             ({"cut": True}, "Dynatrace request failed")]
    for rule, expect in cases:
        sim.reset()
        sim.fault(path="/api/v2/metrics/query", **rule)
        rc, doc, err = run(cmd, sim, ["--attempts", "2"] + metric_args())
        check(rc == 3 and doc and not doc["ok"], "%r is an error (%s)" % (rule, err))
        check(doc and "result" not in doc and expect in doc.get("error", ""), "%r: %s" % (rule, doc and doc.get("error")))


def test_response_size_cap(cmd, sim):
    sim.reset()
    sim.fault(path="/api/v2/metrics/query", largeMB=3)
    rc, doc, err = run(cmd, sim, ["--max-response-mb", "1"] + metric_args())
    check(rc == 3 and "larger than the limit" in doc["error"], "size cap: %s" % err)
    sim.reset()
    sim.fault(path="/api/v2/metrics/query", largeMB=3, times=1)
    rc, doc, err = run(cmd, sim, ["--max-response-mb", "16"] + metric_args())
    check(rc == 0 and doc["ok"] and len(doc["result"][0]["data"]) > 1, "3 MB answer decoded under a 16 MB cap (%s)" % err)


def test_echoed_token_is_redacted(cmd, sim, workdir):
    """A proxy or server that echoes the token must not make it visible."""
    record = os.path.join(workdir, "echo.json")
    for rule in ({"status": 400, "message": "bad header Api-Token %s" % TOKEN},
                 {"json": {"totalCount": 1, "resolution": "Inf", "echo": TOKEN, "result": []}}):
        sim.reset()
        sim.fault(path="/api/v2/metrics/query", **rule)
        rc, doc, err = run(cmd, sim, ["--record", record] + metric_args())
        with open(record) as handle:
            text = handle.read()
        OUTPUTS.append(text)
        check("[REDACTED]" in text and TOKEN not in text, "echoed token redacted in the record")
        check(TOKEN not in err and (doc is None or TOKEN not in json.dumps(doc)), "echoed token not printed")
    check(rc == 0 and doc["ok"], "redacted body still decodes (%s)" % err)


# ---- record / replay, token --------------------------------------------------------

def test_record_and_replay(cmd, sim, workdir):
    sim.reset()
    record = os.path.join(workdir, "record.json")
    to = now_ms()
    args = ["metrics", P90, "--entity-selector", "type(SERVICE)", "--from", str(to - 3600000), "--to", str(to)]
    rc, live, err = run(cmd, sim, ["--record", record] + args)
    check(rc == 0 and os.path.exists(record), "recorded (%s)" % err)
    sim.stop()
    rc, replayed, err = run(cmd, sim, ["--replay", record] + args, token=None)
    check(rc == 0 and replayed == live, "replay without network gives the same answer (%s)" % err)
    rc, doc, err = run(cmd, sim, ["--replay", record, "metrics", "other"], token=None)
    check(rc == 3 and "not in the recorded evaluation" in doc["error"], "unrecorded request is an error")
    with open(record) as handle:
        OUTPUTS.append(handle.read())


def test_token_never_printed(workdir):
    leaked = [i for i, text in enumerate(OUTPUTS) if TOKEN in text or SCOPED in text]
    check(not leaked, "token absent from %d outputs (leaks in %r)" % (len(OUTPUTS), leaked))
    with open(os.path.join(workdir, "sim.log")) as handle:
        check(TOKEN not in handle.read(), "token absent from the simulator log")


def main():
    cmd = command()
    with tempfile.TemporaryDirectory(prefix="ub_e2e_dt_") as workdir:
        sim = Sim(workdir)
        try:
            for test in (test_every_endpoint, test_paging, test_batch, test_retry_on_5xx, test_retry_after_is_honoured,
                         test_ratelimit_reset_is_honoured, test_no_retry_on_4xx_and_500, test_auth_errors,
                         test_overall_deadline_holds, test_hang_and_latency_hit_the_deadline,
                         test_bad_bodies_are_errors, test_response_size_cap):
                print("-- %s" % test.__name__)
                test(cmd, sim)
            print("-- test_echoed_token_is_redacted")
            test_echoed_token_is_redacted(cmd, sim, workdir)
            print("-- test_record_and_replay")
            test_record_and_replay(cmd, sim, workdir)
        finally:
            if sim.running():
                sim.stop()
        test_token_never_printed(workdir)
    print("%d failure(s)" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
