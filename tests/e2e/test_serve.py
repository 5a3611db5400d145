"""End-to-end tests of `unbreakable serve`: the real binary listening on
loopback, the Dynatrace simulator behind it, the Azure DevOps simulator for
callbacks, a real ledger file. Waits are on conditions (a log line, a request
in a simulator's log, a completed plan), never on sleeps alone."""
import functools
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import unittest
import urllib.parse

SRC = os.environ.get("UB_SOURCE", ".")
BIN = os.environ.get("UB_BIN", os.path.join(SRC, "build", "unbreakable"))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
import azure_devops_sim  # noqa: E402
import dynatrace_sim  # noqa: E402
from launch import ServeProcess, children, scaled, temp_dir, wait_for  # noqa: E402

FIX = os.path.join(SRC, "tests", "fixtures", "azure-devops")
DEMO = os.path.join(SRC, "tests", "sim", "scenarios", "demo.json")
DT_TOKEN = "dt0c01.DEMO.READONLY"
TOKEN = "serve-token-0123456789abcdef"
JOB_TOKEN = "eyJ0eXAiOiJKV1QiEXAMPLE.job-token-secret"
WAIT_S = 60                # the deadline of every wait, scaled for the build (launch.scaled)
WAIT = scaled(WAIT_S)

POLICIES = {
    "pass.lua": 'return { verdict = "pass", summary = "constant pass", '
                'objectives = { { name = "constant", status = "pass" } } }',
    "warning.lua": 'return { verdict = "warning", summary = "constant warning", '
                   'objectives = { { name = "constant", status = "warning" } } }',
    "inconclusive.lua": 'return { verdict = "inconclusive", summary = "no data yet", objectives = {} }',
    "error.lua": 'error("policy failed on purpose")',
    "hang.lua": "while true do end",
    "bomb.lua": 'local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 4096) .. i end',
    # a worker keeps its sandbox across gates: what one policy changes must not reach the next
    "tamper.lua": """
string.upper = function() return "pwned" end
table.insert = nil
leaked = "yes"
math.pi = 3
local report = require("unbreakable.report")
for k in pairs(report) do report[k] = function() error("tampered report") end end
require("unbreakable.json").encode = function() return "{}" end
setmetatable(_G, {__index = function() return "ghost" end})
return { verdict = "pass", summary = "tampered", objectives = { { name = "tamper", status = "pass" } } }""",
    # prints, reads Dynatrace (held by the simulator in LiveLog), prints again
    "live.lua": """
return function(ctx)
  print("checking the release: step 1")
  print("a token-looking value: dt0c01.ABCDEFGHIJKLMNOPQRSTUVWX.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGHIJKLMNOPQRST")
  local v = require("unbreakable.monspec").evaluate(ctx)
  print("after Dynatrace: " .. tostring(v.verdict))
  return v
end""",
    "check.lua": """
local problems = {}
local function check(ok, what) if not ok then problems[#problems + 1] = what end end
check(("a"):upper() == "A", "string.upper")
check(type(table.insert) == "function", "table.insert")
check(rawget(_G, "leaked") == nil, "a global")
check(math.pi ~= 3, "math.pi")
check(getmetatable(_G) == nil, "the metatable of _G")
check(require("unbreakable.json").encode({1}) == "[1]", "unbreakable.json")
for _, f in pairs(require("unbreakable.report")) do
  local ok, err = pcall(f, { verdict = "pass", summary = "", objectives = {} }, {})
  check(ok or not tostring(err):find("tampered"), "unbreakable.report")
end
local clean = #problems == 0
return { verdict = clean and "pass" or "fail", summary = clean and "clean" or ("leaked: " .. table.concat(problems, ", ")),
         objectives = { { name = "isolation", status = clean and "pass" or "fail" } } }""",
}


def make_specs():
    specs = temp_dir("ub-specs-")
    shutil.copy(os.path.join(SRC, "examples", "monspec", "demo.monspec.json"), specs)
    with open(os.path.join(specs, "demo.monspec.json")) as f:
        v1 = json.load(f)
    v1["CheckoutService"]["perfsignature"] = [e for e in v1["CheckoutService"]["perfsignature"] if "metric" not in e]
    with open(os.path.join(specs, "demo-v1.monspec.json"), "w") as f:
        json.dump(v1, f)  # the original tool knew Timeseries v1 only
    os.mkdir(os.path.join(specs, "policies"))
    for name, text in POLICIES.items():
        with open(os.path.join(specs, "policies", name), "w") as f:
            f.write(text + "\n")
    outside = temp_dir("ub-outside-")
    with open(os.path.join(outside, "evil.lua"), "w") as f:
        f.write(POLICIES["pass.lua"])
    os.symlink(os.path.join(outside, "evil.lua"), os.path.join(specs, "policies", "link.lua"))
    with open(os.path.join(specs, "escape.monspec.json"), "w") as f:
        json.dump({"policy": "../../etc/passwd", "CheckoutService": {}}, f)
    # The same escape in texts the gate's decoder (pyjson) reads but a
    # stricter reader might not: nested deeper than 64, and after a UTF-8
    # byte order mark. serve must find the policy key in both.
    evil = os.path.join(outside, "evil.lua")
    deep = {"policy": evil, "CheckoutService": {}, "x": functools.reduce(lambda v, _: [v], range(100), 0)}
    with open(os.path.join(specs, "deep.monspec.json"), "w") as f:
        json.dump(deep, f)
    with open(os.path.join(specs, "bom.monspec.json"), "wb") as f:
        f.write(b"\xef\xbb\xbf" + json.dumps({"policy": evil, "CheckoutService": {}}).encode())
    # and one that only pyjson reads (an unpaired surrogate): the gate must
    # not follow a key serve could not check
    with open(os.path.join(specs, "surrogate.monspec.json"), "w") as f:
        f.write('{"policy": %s, "CheckoutService": {}, "x": "\\ud800"}' % json.dumps(evil))
    return specs


class Server(ServeProcess):
    """`unbreakable serve` on an ephemeral port (tests/sim/launch.py) against dt_url."""

    def __init__(self, specs, ledger, dt_url, *args, token=TOKEN, env_extra=None):
        env = dict(os.environ, DT_TENANT_URL=dt_url, DT_API_TOKEN=DT_TOKEN)
        env.pop("DT_API_TOKEN_FILE", None)
        env.pop("UB_SERVE_TOKEN_FILE", None)
        if token:
            env["UB_SERVE_TOKEN"] = token
        else:
            env.pop("UB_SERVE_TOKEN", None)
        env.update(env_extra or {})
        super().__init__(BIN, specs, ledger, args, env=env, token=token)

    def gate(self, body, **kw):
        status, headers, data = self.request("POST", "/v1/gate", body, **kw)
        return status, headers, json.loads(data) if data else None

    def metrics(self):
        return self.request("GET", "/metrics", token=None)[2].decode()

    def dtcli(self, body, **kw):
        status, _, data = self.request("POST", "/v1/gate/dtcli-compat", body, **kw)
        return status, json.loads(data)

    def workers(self):
        return children(self.proc.pid)


def dtcli_body(service):
    """The second generation's body of the original gate, on the v1 monspec."""
    with open(os.path.join(FIX, "gate-request_g2_body_as-sent_constructed.json")) as f:
        b = json.load(f)
    b["monspecUrl"] = "https://acct.blob.core.windows.net/monspec/demo-v1.monspec.json?sv=2019"
    b["serviceToCompare"] = service
    return b


def gate_body(policy=None, target="CheckoutService/StagingToProduction", **extra):
    body = {"monspec": "demo.monspec.json", "compare": target}
    if policy:
        body["policy"] = "policies/" + policy
    body.update(extra)
    return body


class Env:
    """The simulators, a specs folder and a ledger shared by a test class,
    and its server when the class gives server_args (else each test starts
    its own)."""

    @classmethod
    def server_args(cls):
        return None

    @classmethod
    def setUpClass(cls):
        cls.dt = dynatrace_sim.start(DEMO, tokens=[DT_TOKEN])
        cls.ado = azure_devops_sim.start({})
        cls.specs = make_specs()
        cls.tmp = temp_dir("ub-e2e-")
        cls.ledger = os.path.join(cls.tmp, "ledger.db")
        cls.srv = None
        args = cls.server_args()
        try:
            if args is not None:
                cls.srv = Server(cls.specs, cls.ledger, cls.dt.url, *args)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.srv:
            cls.srv.stop()
        cls.dt.stop()
        cls.ado.stop()


class Sync(Env, unittest.TestCase):
    @classmethod
    def server_args(cls):
        return ("--workers", "3", "--gate-timeout", "3")

    def test_pass_and_fail_with_the_shipped_policy(self):
        status, _, v = self.srv.gate(gate_body())
        self.assertEqual(status, 200, v)
        self.assertEqual((v["status"], v["verdict"]), ("success", "pass"), v)
        self.assertIsInstance(v["evaluation"], int)
        self.assertEqual(v["report"], "/v1/evaluations/%d/report" % v["evaluation"])
        self.assertEqual(len(v["objectives"]), 5)
        status, _, v = self.srv.gate(gate_body(target="CheckoutService/CanaryToProduction"))
        self.assertEqual((status, v["status"], v["verdict"]), (200, "failure", "fail"), v)

    def test_inconclusive_and_error(self):
        _, _, v = self.srv.gate(gate_body("inconclusive.lua"))
        self.assertEqual((v["status"], v["verdict"]), ("inconclusive", "inconclusive"), v)
        _, _, v = self.srv.gate(gate_body("error.lua"))
        self.assertEqual((v["status"], v["verdict"]), ("error", "error"), v)
        self.assertIn("policy failed on purpose", v["error"])

    def test_warning_is_success_unless_fail_on_warning(self):
        _, _, v = self.srv.gate(gate_body("warning.lua"))
        self.assertEqual(v["status"], "success", v)
        _, _, v = self.srv.gate(gate_body("warning.lua", fail_on_warning=True))
        self.assertEqual(v["status"], "failure", v)

    def test_evaluation_report_and_history(self):
        _, _, v = self.srv.gate(gate_body(labels={"release": "Release-42", "run": 7}))
        status, _, data = self.srv.request("GET", "/v1/evaluations/%d" % v["evaluation"])
        e = json.loads(data)
        self.assertEqual((status, e["verdict"], e["service"], e["stage"]), (200, "pass", "CheckoutService", "StagingToProduction"))
        self.assertEqual(e["request"]["labels"], {"release": "Release-42", "run": 7})
        status, headers, page = self.srv.request("GET", v["report"])
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertIn(b"<html", page.lower())
        status, _, data = self.srv.request("GET", "/v1/evaluations?service=CheckoutService&stage=StagingToProduction")
        ids = [row["id"] for row in json.loads(data)["evaluations"]]
        self.assertIn(v["evaluation"], ids)
        status, _, _ = self.srv.request("GET", "/v1/evaluations/999999")
        self.assertEqual(status, 404)

    def test_auth(self):
        for token in (None, "wrong-token-0123456789"):
            status, _, data = self.srv.request("POST", "/v1/gate", gate_body("pass.lua"), token=token)
            self.assertEqual(status, 401)
            self.assertEqual(json.loads(data), {"status": "error", "error": "unauthorized"})
        status, _, _ = self.srv.request("GET", "/v1/evaluations/1", token=None)
        self.assertEqual(status, 401)
        path = "/v1/gate?code=" + urllib.parse.quote(TOKEN)
        status, _, data = self.srv.request("POST", path, gate_body("pass.lua"), token=None)
        self.assertEqual((status, json.loads(data)["status"]), (200, "success"))
        import base64
        basic = "Basic " + base64.b64encode(b"any-user:" + TOKEN.encode()).decode()
        status, _, data = self.srv.request("POST", "/v1/gate", gate_body("pass.lua"), token=None,
                                           headers={"Authorization": basic})
        self.assertEqual((status, json.loads(data)["status"]), (200, "success"))
        wrong = "Basic " + base64.b64encode(b"any-user:" + TOKEN.encode() + b"x").decode()
        status, _, _ = self.srv.request("POST", "/v1/gate", gate_body("pass.lua"), token=None,
                                        headers={"Authorization": wrong})
        self.assertEqual(status, 401)
        self.assertEqual(self.srv.request("GET", "/healthz", token=None)[0], 200)

    def test_workers_never_see_the_serve_token(self):
        workers = self.srv.workers()
        self.assertEqual(len(workers), 3)
        for pid in workers:
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
            self.assertIn(b"DT_API_TOKEN=" + DT_TOKEN.encode(), env)   # the worker reads Dynatrace
            self.assertFalse([v for v in env if v.startswith(b"UB_SERVE_TOKEN")])
            self.assertNotIn(TOKEN.encode(), b"\0".join(env))

    def test_body_over_one_mib_is_413(self):
        body = json.dumps(gate_body("pass.lua", labels={"x": "y"})) + " " * (1 << 20)
        status, _, _ = self.srv.request("POST", "/v1/gate", body)
        self.assertEqual(status, 413)

    def test_a_huge_declared_body_is_refused_at_once(self):
        import socket
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=WAIT) as sock:
            sock.sendall(b"POST /v1/gate HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
            answer = sock.recv(4096)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer)

    def test_bad_requests_name_the_field(self):
        cases = [
            ("{not json", "not valid JSON"),
            (gate_body("pass.lua", colour="red"), "unknown field 'colour'"),
            (gate_body("pass.lua", window="5"), "field 'window' must be a number"),
            (gate_body("pass.lua", fail_on_warning="yes"), "field 'fail_on_warning'"),
            (gate_body("pass.lua", window=0.5), "field 'window' must be minutes, at least 1"),
            ({"monspec": "demo.monspec.json"}, "exactly one of 'compare'"),
            (gate_body("../../../etc/passwd"), "field 'policy'"),
            (dict(gate_body(), monspec="/etc/passwd"), "relative name"),
            (gate_body("link.lua"), "outside the specs folder"),
            (gate_body("missing.lua"), "does not exist"),
            (dict(gate_body(), monspec="policies"), "not a regular file"),
            ({"monspec": "escape.monspec.json", "compare": "A/B"}, "names policy '../../etc/passwd'"),
            ({"monspec": "deep.monspec.json", "compare": "A/B"}, "names policy '/"),
            ({"monspec": "bom.monspec.json", "compare": "A/B"}, "names policy '/"),
            ({"slo": "x.yaml"}, "'sli'"),
        ]
        for body, want in cases:
            status, _, v = self.srv.gate(body)
            self.assertEqual(status, 400, (body, v))
            self.assertIn(want, v["error"], body)
        status, _, v = self.srv.gate({"monspec": "surrogate.monspec.json", "compare": "A/B"})
        self.assertEqual((status, v["status"]), (200, "error"), v)
        self.assertIn("which the server did not check", v["error"])

    def test_hostile_policies_answer_error_and_the_server_lives(self):
        for policy in ("hang.lua", "bomb.lua"):
            status, _, v = self.srv.gate(gate_body(policy))
            self.assertEqual((status, v["status"]), (200, "error"), v)
            status, _, v = self.srv.gate(gate_body())
            self.assertEqual((status, v["status"]), (200, "success"), v)
        text = self.srv.metrics()
        kills = int(re.search(r"unbreakable_sandbox_kills_total (\d+)", text).group(1))
        self.assertGreaterEqual(kills, 2)

    def test_metrics_readyz_and_logs(self):
        self.srv.gate(gate_body())
        status, headers, data = self.srv.request("GET", "/metrics", token=None)
        text = data.decode()
        self.assertEqual(status, 200)
        self.assertIn('unbreakable_http_requests_total{route="/v1/gate",status="200"}', text)
        self.assertIn('unbreakable_gate_verdicts_total{verdict="pass"}', text)
        self.assertIn("unbreakable_gate_duration_seconds_bucket", text)
        self.assertRegex(text, r"unbreakable_dynatrace_requests_total [1-9]")
        self.assertIn("unbreakable_callbacks_pending", text)
        self.assertIn("unbreakable_sandbox_kills_total", text)
        status, _, data = self.srv.request("GET", "/readyz", token=None)
        self.assertEqual(status, 200, data)
        for line in self.srv.text().splitlines():
            entry = json.loads(line)          # one JSON object per line
            self.assertIn("time", entry)
        self.assertNotIn(TOKEN, self.srv.text())
        self.assertNotIn(DT_TOKEN, self.srv.text())


class Isolation(Env, unittest.TestCase):
    """One worker: a hanging gate holds it (503 for the next), a crash of the
    worker costs that request only."""

    @classmethod
    def server_args(cls):
        return ("--workers", "1", "--gate-timeout", "30")

    def test_a_gate_cannot_reach_the_next_gate_in_its_worker(self):
        pids = self.srv.workers()
        for policy in ("tamper.lua", "check.lua"):
            status, _, v = self.srv.gate(gate_body(policy))
            self.assertEqual((status, v["status"]), (200, "success"), v)
        self.assertEqual(v["summary"], "clean", v)
        self.assertEqual(self.srv.workers(), pids)   # the same worker ran both

    def test_a_slow_client_holds_no_worker(self):
        import socket
        slow = socket.create_connection(("127.0.0.1", self.srv.port))
        try:
            slow.sendall(b"POST /v1/gate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
                         b"\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"monspec\":")
            status, _, v = self.srv.gate(gate_body("pass.lua"))   # the only worker is free
            self.assertEqual((status, v["status"]), (200, "success"), v)
        finally:
            slow.close()

    def test_busy_is_503_and_a_crash_costs_one_request(self):
        import threading
        result = {}
        t = threading.Thread(target=lambda: result.update(v=self.srv.gate(gate_body("hang.lua"))))
        t.start()
        wait_for(lambda: "unbreakable_gate_workers_busy 1" in self.srv.metrics(), WAIT_S,
                 "the hanging gate to hold the only worker")
        status, headers, v = self.srv.gate(gate_body("pass.lua"))
        self.assertEqual(status, 503)
        self.assertIn("retry-after", headers)
        for pid in self.srv.workers():
            os.kill(pid, signal.SIGSEGV)
        t.join(WAIT)
        status, _, v = result["v"]
        self.assertEqual((status, v["status"]), (200, "error"), v)
        self.assertIn("the evaluation process died from signal", v["error"])  # SEGV, or ASan's abort
        status, _, v = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(self.srv.gate(gate_body())),
                                WAIT_S,
                                "the replaced worker")
        self.assertEqual(v["status"], "success", v)
        self.assertEqual(self.srv.proc.poll(), None)
        idle = self.srv.workers()
        for pid in idle:   # a worker that died while idle costs nothing
            os.kill(pid, signal.SIGKILL)

        def dead(pid):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().rsplit(")", 1)[1].split()[0] == "Z"
            except OSError:
                return True
        wait_for(lambda: all(dead(pid) for pid in idle), WAIT_S, "the idle worker to die")
        status, _, v = self.srv.gate(gate_body())
        self.assertEqual((status, v["status"]), (200, "success"), v)


def plan(plan_id, hub, version, **kw):
    p = {"planId": plan_id, "projectId": "79f5c12e-3337-4151-be41-a268d2c73344", "hubName": hub,
         "version": version, "timelineId": "885d77a9-1452-4e4c-8666-df15cd011b6e",
         "jobId": "09ebba6f-89ed-4f55-bad9-db561b40ec8c", "taskInstanceId": "3b9c4dc6-1e5d-4379-b16c-6231d7620059",
         "token": JOB_TOKEN}
    p.update(kw)
    return p


def completed(ado, ledger, p):
    """The simulator's view of plan p once the server closed its callback in
    the ledger: the callback's thread has sent its last event, so the
    simulator's count of TaskCompleted is final."""
    wait_for(lambda: (lambda row: row and row["state"] != "pending")(callback_row(ledger, p)), WAIT_S,
             "the callback of plan %s to be closed in the ledger" % p["planId"])
    return ado.state.plan_views()[p["planId"]]


def callback_row(ledger, p):
    """The ledger's pending_callbacks row of plan p (a dict), or None."""
    db = sqlite3.connect("file:%s?mode=ro" % ledger, uri=True, timeout=WAIT)
    try:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT state, result, attempts, last_error FROM pending_callbacks WHERE plan_id = ?",
                         (p["planId"],)).fetchone()
        return dict(row) if row else None
    finally:
        db.close()


def ledger_bytes(ledger):
    """Every byte the ledger holds on disk: the file and its WAL, where the
    latest writes (and the earlier versions of the pages they changed) are
    until a checkpoint."""
    data = b""
    for path in (ledger, ledger + "-wal"):
        if os.path.exists(path):
            with open(path, "rb") as f:
                data += f.read()
    return data


def callback_headers(ado_url, p):
    with open(os.path.join(FIX, "invoke-rest-api_default-headers_as-sent_constructed.json")) as f:
        h = json.load(f)
    h.update({"PlanUrl": ado_url + "/", "ProjectId": p["projectId"], "HubName": p["hubName"], "PlanId": p["planId"],
              "JobId": p["jobId"], "TimelineId": p["timelineId"], "TaskInstanceId": p["taskInstanceId"],
              "AuthToken": p["token"]})
    return h


class Callback(Env, unittest.TestCase):
    @classmethod
    def server_args(cls):
        # two --allow-callback prefixes, both naming the simulator: each one must be kept
        return ("--workers", "2", "--gate-timeout", "5", "--allow-callback", cls.ado.url + "/",
                "--allow-callback", cls.ado.url.replace("127.0.0.1", "localhost") + "/")

    def plans(self):
        return self.ado.state.plan_views()

    def completed(self, p):
        return completed(self.ado, self.ledger, p)

    def events(self, plan_id):
        """The event requests of a plan, once their answers are logged."""
        def logged():
            with self.ado.state.lock:
                mine = [r for r in self.ado.state.requests if r["path"].endswith(plan_id + "/events")]
                if not mine or any("status" not in r for r in mine):
                    return None  # an answer is still being sent
                return mine
        return wait_for(logged, WAIT_S, "the events of " + plan_id)

    def events_sent(self, plan_id):
        """The accepted events of a plan."""
        return [json.loads(r["body"]) for r in self.events(plan_id) if r["status"] in (200, 204)]

    def event_answers(self, plan_id):
        """The statuses the simulator answered to a plan's events, in order."""
        return [r["status"] for r in self.events(plan_id)]

    def run_callback(self, p, body, ado_url=None):
        self.ado.state.add_plan(p)
        status, _, v = self.srv.gate(body, headers=callback_headers(ado_url or self.ado.url, p))
        self.assertEqual(status, 200, v)
        self.assertEqual(v["status"], "accepted", v)
        return v, self.completed(p)

    def test_release_hub_uses_job_and_task_ids(self):
        p = plan("11111111-0000-0000-0000-000000000001", "release", 14)
        v, done = self.run_callback(p, gate_body())
        self.assertIsInstance(v["evaluation"], int)
        self.assertEqual((done["result"], done["completions"]), ("succeeded", 1))
        with open(os.path.join(FIX, "callback_POST-events_TaskCompleted_request.json")) as f:
            want = json.load(f)
        self.assertEqual(self.events_sent(p["planId"]), [want])
        self.assertTrue(any("verdict pass" in x["line"] for x in done["feed"]), done["feed"])
        self.assertTrue(any("recorded as evaluation %d" % v["evaluation"] in x["line"] for x in done["feed"]),
                        done["feed"])

    def test_gates_hub_with_an_old_plan_uses_the_gates_ids(self):
        p = plan("11111111-0000-0000-0000-000000000002", "Gates", 12)
        v, done = self.run_callback(p, gate_body(target="CheckoutService/CanaryToProduction"))
        self.assertEqual((done["result"], done["completions"]), ("failed", 1))
        with open(os.path.join(FIX, "callback_POST-events_TaskCompleted_request_gates-plan-v12-or-older.json")) as f:
            want = json.load(f)
        self.assertEqual(self.events_sent(p["planId"]), [want])

    def test_gates_hub_with_a_new_plan_uses_the_normal_ids(self):
        p = plan("11111111-0000-0000-0000-000000000003", "gates", 13)
        _, done = self.run_callback(p, gate_body("pass.lua"))
        self.assertEqual(self.events_sent(p["planId"])[0]["jobId"], p["jobId"])
        self.assertEqual(done["completions"], 1)

    def test_retries_5xx_and_429_then_completes_once(self):
        p = plan("11111111-0000-0000-0000-000000000004", "checks", 14)
        self.ado.state.add_faults([{"path": "/", "pathRegex": p["planId"] + "/events$", "status": 503, "times": 2},
                                   {"pathRegex": p["planId"] + "/events$", "status": 429, "retryAfter": 1, "times": 1}])
        _, done = self.run_callback(p, gate_body("pass.lua"))
        self.assertEqual((done["result"], done["completions"]), ("succeeded", 1))
        row = callback_row(self.ledger, p)
        self.assertEqual((row["state"], row["result"]), ("completed", "succeeded"), row)
        self.assertEqual(self.event_answers(p["planId"]), [503, 503, 429, 204])
        self.assertEqual(self.plans()[p["planId"]]["completions"], 1)

    def test_the_second_allow_callback_prefix_is_kept_too(self):
        p = plan("11111111-0000-0000-0000-000000000010", "checks", 14)
        _, done = self.run_callback(p, gate_body("pass.lua"), ado_url=self.ado.url.replace("127.0.0.1", "localhost"))
        self.assertEqual((done["result"], done["completions"]), ("succeeded", 1))

    def test_refused_plan_url_calls_nothing(self):
        p = plan("11111111-0000-0000-0000-000000000005", "release", 14)
        self.ado.state.add_plan(p)
        h = callback_headers("https://evil.example", p)
        before = len(self.ado.state.requests)
        status, _, v = self.srv.gate(gate_body("pass.lua"), headers=h)
        self.assertEqual(status, 400)
        self.assertIn("PlanUrl 'https://evil.example/' is not allowed", v["error"])
        self.assertEqual(len(self.ado.state.requests), before)

    def test_a_gate_error_completes_failed(self):
        p = plan("11111111-0000-0000-0000-000000000007", "checks", 14)
        v, done = self.run_callback(p, gate_body("error.lua"))
        self.assertEqual((done["result"], done["completions"]), ("failed", 1))
        self.assertTrue(any("policy failed on purpose" in x["line"] for x in done["feed"]), done["feed"])

    def test_incomplete_headers_are_refused(self):
        p = plan("11111111-0000-0000-0000-000000000008", "release", 14)
        h = callback_headers(self.ado.url, p)
        del h["AuthToken"]
        status, _, v = self.srv.gate(gate_body("pass.lua"), headers=h)
        self.assertEqual(status, 400)
        self.assertIn("'AuthToken' is missing", v["error"])
        h = callback_headers(self.ado.url, p)
        h["PlanId"] = "../../other"
        status, _, v = self.srv.gate(gate_body("pass.lua"), headers=h)
        self.assertEqual(status, 400)
        self.assertIn("'PlanId' must be an id", v["error"])

    def test_first_generation_body_carries_the_callback(self):
        with open(os.path.join(FIX, "gate-request_g1_body_as-sent_constructed.json")) as f:
            body = json.load(f)
        p = plan("11111111-0000-0000-0000-000000000009", "gates", 12, projectId=body["ProjectId"],
                 jobId=body["JobId"], timelineId=body["TimelineId"], taskInstanceId=body["TaskInstanceId"],
                 token=body["AuthToken"] + ".x")
        self.ado.state.add_plan(p)
        body.update(PlanUrl=self.ado.url + "/", PlanId=p["planId"], AuthToken=p["token"],
                    monspecUrl="https://acct.blob.core.windows.net/monspec/demo-v1.monspec.json",
                    serviceToCompare="CheckoutService/StagingToProduction")
        status, _, data = self.srv.request("POST", "/v1/gate/dtcli-compat", body)
        self.assertEqual((status, json.loads(data)["status"]), (200, "accepted"), data)
        done = self.completed(p)
        self.assertEqual((done["result"], done["completions"]), ("succeeded", 1))
        self.assertEqual(self.events_sent(p["planId"])[0]["taskId"], "00000000-0000-0000-0000-000000000000")
        body["PlanUrl"] = "https://myaccount.visualstudio.com.evil.example/"
        status, _, data = self.srv.request("POST", "/v1/gate/dtcli-compat", body)
        answer = json.loads(data)
        self.assertEqual((status, answer["status"]), (400, "exception"))
        self.assertIn("is not allowed", answer["comment"])
        self.assertNotIn(p["token"], self.srv.text())

    def test_token_never_logged_nor_stored_in_clear(self):
        p = plan("11111111-0000-0000-0000-000000000006", "release", 14)
        self.run_callback(p, gate_body("pass.lua"))
        self.assertNotIn(JOB_TOKEN, self.srv.text())
        stored = ledger_bytes(self.ledger)
        self.assertIn(b"CREATE TABLE pending_callbacks", stored)   # the bytes read are the ledger's
        self.assertNotIn(JOB_TOKEN.encode(), stored)


class Freeze(Env, unittest.TestCase):
    """A self-healing freeze of a stage (docs/selfheal.md) fails every gate on it, on every path:
    serve's sync gates, serve's callback gates (TaskCompleted failed, the reason in the log lines)
    and the `gate` command on the same ledger; `selfheal --lift-freeze` lifts it for all three."""
    STAGE = "StagingToProduction"  # passes when not frozen
    REASON = "problem P-7 is open on CheckoutService"

    @classmethod
    def server_args(cls):
        return ("--workers", "2", "--gate-timeout", "5", "--allow-callback", cls.ado.url + "/")

    def setUp(self):
        db = sqlite3.connect(self.ledger, timeout=WAIT)
        db.execute("INSERT INTO actions (created_ms, updated_ms, kind, key, idempotency_key, state, payload) "
                   "VALUES (0, 0, 'freeze', ?, ?, 'active', ?)",
                   (self.STAGE, "freeze-" + self.id(), json.dumps({"stage": self.STAGE, "reason": self.REASON})))
        db.commit()
        db.close()

    def tearDown(self):
        self.lift()

    def lift(self):
        p = subprocess.run([BIN, "selfheal", "--lift-freeze", self.STAGE, "--ledger", self.ledger],
                           capture_output=True, text=True, timeout=WAIT)
        self.assertEqual(p.returncode, 0, p.stderr)

    def evaluation(self, eid):
        status, _, data = self.srv.request("GET", "/v1/evaluations/%d" % eid)
        self.assertEqual(status, 200, data)
        return json.loads(data)

    def test_callback_gate_fails_with_the_reason_until_lifted(self):
        p = plan("11111111-0000-0000-0000-0000000000f1", "release", 14)
        self.ado.state.add_plan(p)
        status, _, v = self.srv.gate(gate_body(), headers=callback_headers(self.ado.url, p))
        self.assertEqual((status, v["status"]), (200, "accepted"), v)
        done = completed(self.ado, self.ledger, p)
        self.assertEqual((done["result"], done["completions"]), ("failed", 1), done)
        lines = [x["line"] for x in done["feed"]]
        self.assertTrue(any(self.REASON in line and "frozen" in line for line in lines), lines)
        self.assertNotIn(JOB_TOKEN, json.dumps(done["feed"]))
        verdict = self.evaluation(v["evaluation"])
        self.assertIn(self.REASON, json.dumps(verdict))
        self.lift()
        p2 = plan("11111111-0000-0000-0000-0000000000f2", "release", 14)
        self.ado.state.add_plan(p2)
        status, _, v = self.srv.gate(gate_body(), headers=callback_headers(self.ado.url, p2))
        self.assertEqual((status, v["status"]), (200, "accepted"), v)
        self.assertEqual(completed(self.ado, self.ledger, p2)["result"], "succeeded")

    def test_sync_gate_fails_with_the_reason_until_lifted(self):
        status, _, v = self.srv.gate(gate_body())
        self.assertEqual((status, v["status"], v.get("frozen")), (200, "failure", True), v)
        self.assertIn(self.REASON, v["summary"])
        self.lift()
        status, _, v = self.srv.gate(gate_body())
        self.assertEqual((status, v["status"]), (200, "success"), v)

    def test_gate_command_on_the_same_ledger_fails_with_the_reason_until_lifted(self):
        env = dict(os.environ, DT_TENANT_URL=self.dt.url, DT_API_TOKEN=DT_TOKEN, NO_COLOR="1")
        env.pop("DT_API_TOKEN_FILE", None)
        args = [BIN, "gate", "--monspec", os.path.join(self.specs, "demo.monspec.json"), "--compare",
                "CheckoutService/" + self.STAGE, "--ledger", self.ledger, "--format", "json"]
        p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=WAIT)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        v = json.loads(p.stdout)
        self.assertEqual((v["verdict"], v.get("frozen")), ("fail", True), v)
        self.assertIn(self.REASON, v["summary"])
        self.assertIn(self.REASON, p.stderr)
        eid = int(re.search(r"recorded as evaluation (\d+)", p.stderr).group(1))
        self.assertIn(self.REASON, json.dumps(self.evaluation(eid)))
        self.lift()
        p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=WAIT)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(json.loads(p.stdout)["verdict"], "pass")


class LiveLog(Env, unittest.TestCase):
    """Callback mode streams the gate's lines to the task's log on the timeline record while the
    gate runs (issue 13): the log is created and attached to the record before the gate starts,
    the evaluation id and each line the policy prints arrive while the gate still waits on
    Dynatrace (held by the simulator) and before TaskCompleted; the outcome follows; no secret is
    in any line."""

    @classmethod
    def server_args(cls):
        return ("--workers", "1", "--gate-timeout", str(int(scaled(30))), "--allow-callback", cls.ado.url + "/")

    def log_text(self, plan_id):
        logs = self.ado.state.plan_views()[plan_id]["logs"]
        return "".join(log["text"] for log in logs)

    def test_lines_reach_the_task_log_while_the_gate_runs(self):
        p = plan("11111111-0000-0000-0000-0000000000a1", "release", 14)
        self.ado.state.add_plan(p)
        self.dt.state.clear_requests()
        self.dt.state.add_faults([{"path": "/api/", "latencyMs": int(scaled(4) * 1000), "times": 1}])
        status, _, v = self.srv.gate(gate_body("live.lua"), headers=callback_headers(self.ado.url, p))
        self.assertEqual((status, v["status"]), (200, "accepted"), v)
        def held():
            return [r for r in self.dt.state.requests_since(0) if r["path"].startswith("/api/")]
        wait_for(lambda: "[policy] checking the release: step 1" in self.log_text(p["planId"]) and held(), WAIT_S,
                 "the policy's first line in the task log, and the gate's Dynatrace read")
        # the gate is still running: its Dynatrace read has no answer yet, nothing is completed
        self.assertIsNone(held()[0]["status"], held())
        view = self.ado.state.plan_views()[p["planId"]]
        self.assertEqual((view["completions"], view["completed"]), (0, False), view)
        text = self.log_text(p["planId"])
        self.assertIn("evaluation %d started" % v["evaluation"], text)
        self.assertNotIn("after Dynatrace", text)
        # the log is attached to the task's timeline record
        record = view["records"][p["taskInstanceId"]]
        self.assertEqual(record["log"]["id"], view["logs"][0]["id"], view)
        self.assertEqual(view["logs"][0]["path"], "logs\\" + p["taskInstanceId"])
        done = completed(self.ado, self.ledger, p)
        self.assertEqual((done["result"], done["completions"]), ("succeeded", 1), done)
        text = self.log_text(p["planId"])
        self.assertIn("[policy] after Dynatrace: pass", text)
        self.assertIn("verdict pass, gate success", text)
        self.assertEqual(text.count("[policy] checking the release: step 1"), 1, text)  # not again at the end
        # no secret in any line: the job token (the simulator would show it as <redacted>), tokens
        feed = json.dumps(done["feed"])
        for shown in (text, feed):
            self.assertNotIn("<redacted>", shown)
            self.assertNotIn("dt0c01.ABCDEFGHIJ", shown)
            self.assertNotIn(DT_TOKEN, shown)
        self.assertNotIn(JOB_TOKEN, json.dumps(done))
        lines = [r for r in self.ado.state.requests if "/logs" in r["path"] and p["planId"] in r["path"]]
        self.assertTrue(all(r.get("status") == 200 for r in lines), lines)

    def test_a_failing_log_never_holds_the_gate_up(self):
        p = plan("11111111-0000-0000-0000-0000000000a2", "release", 14)
        self.ado.state.add_plan(p)
        self.ado.state.add_faults([{"path": "/%s/_apis/distributedtask/hubs/release/plans/%s/logs" % (p["projectId"], p["planId"]),
                                    "status": 500, "times": 1}])
        status, _, v = self.srv.gate(gate_body("pass.lua"), headers=callback_headers(self.ado.url, p))
        self.assertEqual((status, v["status"]), (200, "accepted"), v)
        done = completed(self.ado, self.ledger, p)
        self.assertEqual((done["result"], done["completions"]), ("succeeded", 1), done)
        self.assertTrue(any("verdict pass" in x["line"] for x in done["feed"]), done["feed"])
        self.assertIn("no live task log", self.srv.text())


class Resume(Env, unittest.TestCase):
    def test_callback_resumed_after_kill_9(self):
        args = ("--workers", "1", "--gate-timeout", "5", "--allow-callback", self.ado.url + "/")
        p = plan("22222222-0000-0000-0000-000000000001", "release", 14)
        self.ado.state.add_plan(p)
        self.ado.state.add_faults([{"pathRegex": p["planId"] + "/events$", "status": 503}])
        first = Server(self.specs, self.ledger, self.dt.url, *args)
        status, _, v = first.gate(gate_body("pass.lua"), headers=callback_headers(self.ado.url, p))
        self.assertEqual((status, v["status"]), (200, "accepted"))
        wait_for(lambda: any(r["path"].endswith("/events") and r.get("status") == 503
                             for r in list(self.ado.state.requests)), WAIT_S, "a refused TaskCompleted")
        first.stop(signal.SIGKILL)
        self.assertEqual(self.ado.state.plan_views()[p["planId"]]["completions"], 0)
        with self.ado.state.lock:
            self.ado.state.faults = []
        second = Server(self.specs, self.ledger, self.dt.url, *args)
        try:
            done = completed(self.ado, self.ledger, p)
            self.assertEqual((done["result"], done["completions"]), ("succeeded", 1))
            self.assertIn("resuming callback", second.text())
        finally:
            second.stop()


    def test_gate_run_again_when_killed_mid_gate(self):
        args = ("--workers", "1", "--gate-timeout", "20", "--allow-callback", self.ado.url + "/")
        p = plan("22222222-0000-0000-0000-000000000002", "gates", 14)
        self.ado.state.add_plan(p)
        self.dt.state.add_faults([{"path": "/api/", "latencyMs": 3000, "times": 2}])
        first = Server(self.specs, self.ledger, self.dt.url, *args)
        before = len(self.dt.state.requests_since(0))
        status, _, v = first.gate(gate_body(), headers=callback_headers(self.ado.url, p))
        self.assertEqual((status, v["status"]), (200, "accepted"))
        wait_for(lambda: len(self.dt.state.requests_since(0)) > before, WAIT_S, "the gate to reach Dynatrace")
        first.stop(signal.SIGKILL)
        second = Server(self.specs, self.ledger, self.dt.url, *args)
        try:
            done = completed(self.ado, self.ledger, p)
            self.assertEqual((done["result"], done["completions"]), ("succeeded", 1))
            self.assertIn("running the gate again", second.text())
            first_id = v["evaluation"]
            status, _, data = second.request("GET", "/v1/evaluations/%d" % first_id)
            e = json.loads(data)   # closed: abandoned by the ledger (its worker died) or by the resume
            self.assertIn(e["status"], ("abandoned", "error"), e)
            self.assertNotEqual(e["verdict"], "pass", e)
        finally:
            second.stop()
            self.dt.state.clear_faults()


class DtcliCompat(Env, unittest.TestCase):
    @classmethod
    def server_args(cls):
        return ("--workers", "2")

    def body(self, service):
        return dtcli_body(service)

    def post(self, body):
        return self.srv.dtcli(body)

    def test_original_body_success_and_failure(self):
        status, v = self.post(self.body("CheckoutService/StagingToProduction"))
        with open(os.path.join(FIX, "gate-response_g2_200_success.json")) as f:
            want = json.load(f)
        self.assertEqual(status, 200)
        self.assertEqual((v["status"], v["comment"]), (want["status"], want["comment"]))
        status, v = self.post(self.body("CheckoutService/CanaryToProduction"))
        self.assertEqual((status, v["status"]), (200, "failure"), v)
        self.assertIn("sending fail to gate", v["comment"])

    def test_an_evaluation_error_is_an_exception(self):
        b = self.body("CheckoutService/StagingToProduction")
        b["monspecUrl"] = "https://acct.blob.core.windows.net/monspec/demo.monspec.json"  # has Metrics v2 entries
        status, v = self.post(b)
        self.assertEqual((status, v["status"]), (200, "exception"), v)
        self.assertIn("Metrics v2 entries did not exist in the original tool", v["comment"])

    def test_missing_monspec_is_an_exception_and_the_body_token_is_ignored(self):
        b = self.body("CheckoutService/StagingToProduction")
        del b["monspecUrl"]
        status, v = self.post(b)
        self.assertEqual((status, v["status"]), (400, "exception"))
        self.assertIn("monspecUrl", v["comment"])
        self.assertNotIn("dt0c01.EXAMPLETOKEN", self.srv.text())

    def test_a_frozen_stage_fails_without_running(self):
        db = sqlite3.connect(self.ledger, timeout=WAIT)
        db.execute("INSERT INTO actions (created_ms, updated_ms, kind, key, idempotency_key, state, payload) "
                   "VALUES (0, 0, 'freeze', 'StagingToProduction', 'test-freeze', 'active', "
                   "'{\"reason\": \"problem P-1 is open\"}')")
        db.commit()
        try:
            status, v = self.post(self.body("CheckoutService/StagingToProduction"))   # passes when not frozen
            self.assertEqual((status, v["status"], v.get("frozen")), (200, "failure", True), v)
            self.assertIn("problem P-1 is open", v["comment"])
        finally:
            db.execute("UPDATE actions SET state = 'lifted' WHERE idempotency_key = 'test-freeze'")
            db.commit()
            db.close()
        status, v = self.post(self.body("CheckoutService/StagingToProduction"))
        self.assertEqual((status, v["status"]), (200, "success"), v)

    def test_a_window_under_a_minute_is_an_exception(self):
        b = self.body("CheckoutService/StagingToProduction")
        b["compareWindow"] = "0.5"
        status, v = self.post(b)
        self.assertEqual((status, v["status"]), (400, "exception"), v)
        self.assertIn("'compareWindow' must be at least 1 minute", v["comment"])

    def test_unsubstituted_variables_count_as_absent(self):
        b = self.body("CheckoutService/StagingToProduction")
        b["compareShift"] = "$(compareShift)"
        b["compareType"] = "$(compareType)"
        status, v = self.post(b)
        self.assertEqual((status, v["status"]), (200, "success"), v)


class LedgerCannotRecord(Env, unittest.TestCase):
    """The policy passes but the ledger refuses to record the decision (a
    trigger stands in for a full disk): no route may answer success."""

    @classmethod
    def server_args(cls):
        return ("--workers", "1", "--gate-timeout", "5", "--allow-callback", cls.ado.url + "/")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        db = sqlite3.connect(cls.ledger, timeout=WAIT)
        db.execute("CREATE TRIGGER refuse_decisions BEFORE UPDATE OF status ON evaluations "
                   "WHEN NEW.status <> 'running' BEGIN SELECT RAISE(ABORT, 'the disk is full'); END")
        db.commit()
        db.close()

    def test_sync_gate_is_an_error(self):
        status, _, v = self.srv.gate(gate_body("pass.lua"))
        self.assertEqual((status, v["status"]), (200, "error"), v)
        self.assertIn("could not be recorded", v["error"])
        counted = dict(re.findall(r'unbreakable_gate_verdicts_total\{verdict="(\w+)"\} (\d+)', self.srv.metrics()))
        self.assertEqual(counted["pass"], "0", counted)   # every gate of this class failed to record
        self.assertNotEqual(counted["error"], "0", counted)

    def test_dtcli_gate_is_an_exception(self):
        status, v = self.srv.dtcli(dtcli_body("CheckoutService/StagingToProduction"))
        self.assertEqual((status, v["status"]), (200, "exception"), v)
        self.assertIn("could not be recorded", v["comment"])

    def test_callback_completes_failed(self):
        p = plan("33333333-0000-0000-0000-000000000001", "checks", 14)
        self.ado.state.add_plan(p)
        status, _, v = self.srv.gate(gate_body("pass.lua"), headers=callback_headers(self.ado.url, p))
        self.assertEqual((status, v["status"]), (200, "accepted"), v)
        done = completed(self.ado, self.ledger, p)
        self.assertEqual(done["result"], "failed", done)


class Drain(Env, unittest.TestCase):
    def test_sigterm_finishes_the_gate_in_flight(self):
        import threading
        srv = Server(self.specs, self.ledger, self.dt.url, "--workers", "1", "--gate-timeout", "30")
        self.dt.state.add_faults([{"path": "/api/", "latencyMs": 1500}])
        result = {}

        def ask():
            try:
                result["v"] = srv.gate(gate_body())
            except Exception as err:  # shown by the assertion below
                result["error"] = repr(err)
        t = threading.Thread(target=ask)
        t.start()
        wait_for(lambda: len(self.dt.state.requests_since(0)) > 0, WAIT_S, "the gate to reach Dynatrace")
        srv.proc.send_signal(signal.SIGTERM)
        t.join(WAIT)
        self.dt.state.clear_faults()
        self.assertIn("v", result, "%s; server log: %s" % (result.get("error"), srv.text()))
        status, _, v = result["v"]
        self.assertEqual((status, v["status"]), (200, "success"), v)
        self.assertEqual(srv.proc.wait(timeout=WAIT), 0)
        self.assertIn("drained", srv.text())
        srv.log.close()


class Startup(unittest.TestCase):
    def test_insecure_no_auth_on_loopback(self):
        tmp = temp_dir("ub-e2e-")
        srv = Server(make_specs(), os.path.join(tmp, "l.db"), "http://127.0.0.1:1", "--insecure-no-auth", token=None)
        try:
            self.assertIn("NO AUTHENTICATION", srv.text())
            status, _, v = srv.gate(gate_body("pass.lua"), token=None)
            self.assertEqual((status, v["status"]), (200, "success"), v)
        finally:
            srv.stop()

    def test_config_file(self):
        tmp = temp_dir("ub-e2e-")
        cfg = os.path.join(tmp, "serve.json")
        with open(cfg, "w") as f:
            json.dump({"workers": 1, "allow_callback": ["https://dev.azure.com/myorg/"], "drain_seconds": 3}, f)
        srv = Server(make_specs(), os.path.join(tmp, "l.db"), "http://127.0.0.1:1", "--config", cfg)
        try:
            self.assertIn(", 1 workers,", srv.text())
        finally:
            srv.stop()
        srv = Server(make_specs(), os.path.join(tmp, "l.db"), "http://127.0.0.1:1", "--workers", "2", "--config=" + cfg)
        try:
            self.assertIn(", 2 workers,", srv.text())   # the flag wins over the file, wherever it stands
        finally:
            srv.stop()
        env = dict(os.environ, UB_SERVE_TOKEN=TOKEN)
        for doc, want in (({"wokers": 2}, 'unknown setting "wokers"'),
                          ({"workers": 1.5}, '"workers" must be a whole number from 1 to 256')):
            with open(cfg, "w") as f:
                json.dump(doc, f)
            p = subprocess.run([BIN, "serve", "--config", cfg], capture_output=True, text=True, env=env, timeout=WAIT)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(want, p.stderr)

    def refused(self, *args):
        env = dict(os.environ, UB_SERVE_TOKEN=TOKEN)
        p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--specs", SRC] + list(args),
                           capture_output=True, text=True, env=env, timeout=WAIT)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("unbreakable serve: ", p.stderr)
        return p.stderr

    def test_bad_numbers_are_usage_errors(self):
        self.assertIn("--workers: '0' is below the minimum of 1", self.refused("--workers", "0"))
        self.assertIn("--workers: 'nan' is not a number", self.refused("--workers", "nan"))
        self.assertIn("--workers: '1.5' is not a whole number", self.refused("--workers", "1.5"))
        self.assertIn("--gate-timeout: 'inf' is not a number", self.refused("--gate-timeout", "inf"))
        self.assertIn("--callback-deadline: '5' is below the minimum of 10", self.refused("--callback-deadline=5"))

    def test_empty_paths_are_refused(self):
        # an empty --ledger used to fall back to the default ledger silently
        for opt in ("--ledger", "--specs", "--config"):
            self.assertIn(opt + ": the path is empty", self.refused(opt, ""))

    def test_each_allow_callback_is_checked(self):
        self.assertIn("--allow-callback 'ftp://x/' must be an http(s) URL prefix",
                      self.refused("--allow-callback", "https://dev.azure.com/myorg/", "--allow-callback", "ftp://x/"))

    def test_not_ready_when_dynatrace_is_unreachable(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d" % s.getsockname()[1]
        s.close()
        tmp = temp_dir("ub-e2e-")
        srv = Server(make_specs(), os.path.join(tmp, "l.db"), dead, "--workers", "1")
        try:
            status, _, data = srv.request("GET", "/readyz", token=None)
            self.assertEqual(status, 503)
            self.assertIn("Dynatrace", json.loads(data)["error"])
            self.assertEqual(srv.request("GET", "/healthz", token=None)[0], 200)
        finally:
            srv.stop()

    def test_refuses_to_start_without_a_token(self):
        env = dict(os.environ)
        env.pop("UB_SERVE_TOKEN", None)
        env.pop("UB_SERVE_TOKEN_FILE", None)
        p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--specs", SRC], capture_output=True, text=True,
                           env=env, timeout=WAIT)
        self.assertEqual(p.returncode, 2)
        self.assertIn("UB_SERVE_TOKEN", p.stderr)
        p = subprocess.run([BIN, "serve", "--insecure-no-auth", "--listen", "0.0.0.0:0", "--specs", SRC],
                           capture_output=True, text=True, env=env, timeout=WAIT)
        self.assertEqual(p.returncode, 2)
        self.assertIn("loopback only", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
