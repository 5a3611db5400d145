"""End-to-end tests of what the commands write (review 3): replay's stdout
holds only the chosen format, --output writes the report whole, a replayed
policy's print output reaches stderr, replay --policy answers the exit status
of the new verdict; the ledger records the measured duration of every
Dynatrace exchange and the HTML report shows it. The demo tenant of
tests/sim/scenarios/demo.json is served by the simulator in this process."""
import json
import os
import re
import sqlite3
import sys
import shutil
import tempfile
import unittest
import urllib.request
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ubtest import SRC as ROOT, env_for, run_ub  # noqa: E402
import dynatrace_sim  # noqa: E402  (on the path through ubtest)

TOKEN = "dt0c01.DEMO.READONLY"
MONSPEC = os.path.join(ROOT, "examples", "monspec", "demo.monspec.json")
LATENCY_MS = 40


def ub(args, sim=None, ledger=None):
    return run_ub(args, env_for(sim, ledger, token=TOKEN))


def control(sim, path, doc=None, method="POST"):
    req = urllib.request.Request(sim.url + path, data=json.dumps(doc).encode() if doc is not None else None,
                                 method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


class Recorded(unittest.TestCase):
    """Two recorded gates (a pass and a fail) on one ledger; every Dynatrace
    answer is delayed LATENCY_MS, so each exchange takes at least that long."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ub-outputs-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.ledger = os.path.join(cls.dir, "ledger.db")
        cls.sim = dynatrace_sim.start(os.path.join(ROOT, "tests", "sim", "scenarios", "demo.json"))
        control(cls.sim, "/_sim/faults", {"path": "/api", "latencyMs": LATENCY_MS})
        good = ub(["gate", "--monspec", MONSPEC, "--compare", "CheckoutService/StagingToProduction"],
                  cls.sim, cls.ledger)
        bad = ub(["gate", "--monspec", MONSPEC, "--compare", "CheckoutService/CanaryToProduction"],
                 cls.sim, cls.ledger)
        cls.sim.stop()     # replays must not need the network
        assert good.returncode == 0, good.stderr
        assert bad.returncode == 1, bad.stderr
        cls.good, cls.bad = 1, 2
        cls.printing = cls.policy("printing.lua", '''
local monspec = require("unbreakable.monspec")
print("replayed policy says hello")
return function(ctx) return monspec.evaluate(ctx) end
''')
        cls.erroring = cls.policy("erroring.lua", '''
return function(ctx)
  return {verdict = "error", summary = "the data were not usable", objectives = {}, errors = {"unusable"}}
end
''')
        cls.inconclusive = cls.policy("inconclusive.lua", '''
local monspec = require("unbreakable.monspec")
return function(ctx)
  local v = monspec.evaluate(ctx)
  v.verdict = "inconclusive"
  return v
end
''')

    @classmethod
    def policy(cls, name, text):
        path = os.path.join(cls.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def replay(self, *args):
        return ub(["replay"] + list(args) + ["--ledger", self.ledger])

    # ---- replay -----------------------------------------------------------------

    def test_json_stdout_is_only_json(self):
        for ident in (self.good, self.bad):
            r = self.replay(str(ident), "--format", "json")
            self.assertEqual(r.returncode, 0, r.stderr)
            doc = json.loads(r.stdout)          # the whole of stdout is one JSON document
            self.assertEqual(doc["replay"]["identical"], True)
            self.assertEqual(doc["replay"]["evaluation"], ident)
            self.assertIn(doc["verdict"], ("pass", "fail"))

    def test_json_with_new_policy_carries_the_changes(self):
        policy = os.path.join(ROOT, "examples", "monspec", "critical-only.lua")
        r = self.replay(str(self.bad), "--format", "json", "--policy", policy)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["replay"]["policy"], "new")
        self.assertEqual(doc["replay"]["identical"], False)
        self.assertTrue(any("critical true -> false" in c for c in doc["replay"]["changes"]), doc["replay"])

    def test_junit_stdout_is_only_xml(self):
        r = self.replay(str(self.bad), "--format", "junit")
        self.assertEqual(r.returncode, 0, r.stderr)
        ET.fromstring(r.stdout)                 # parses: nothing after the document
        self.assertIn("identical verdict", r.stderr)

    def test_output_file(self):
        out = os.path.join(self.dir, "replay.json")
        r = self.replay(str(self.good), "--format", "json", "--output", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        with open(out) as f:
            self.assertEqual(json.load(f)["replay"]["identical"], True)
        self.assertEqual([n for n in os.listdir(self.dir) if n.startswith("replay.json.")], [])

    def test_policy_print_reaches_stderr(self):
        r = self.replay(str(self.good), "--policy", self.printing)
        self.assertIn("[policy] replayed policy says hello", r.stderr)
        self.assertNotIn("replayed policy says hello", r.stdout)

    def test_exit_status_follows_the_new_verdict(self):
        r = self.replay(str(self.good), "--policy", self.erroring)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        r = self.replay(str(self.good), "--policy", self.inconclusive)
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        r = self.replay(str(self.bad), "--policy", self.printing)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        r = self.replay(str(self.good), "--policy", self.printing)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    # ---- durations --------------------------------------------------------------

    def test_ledger_records_measured_durations(self):
        db = sqlite3.connect(self.ledger)
        rows = db.execute("SELECT evaluation_id, duration_ms FROM binding_requests").fetchall()
        db.close()
        self.assertTrue(rows)
        for ident, ms in rows:
            # the simulator delayed every answer by LATENCY_MS: a lower bound, never a race
            self.assertGreaterEqual(ms, LATENCY_MS, (ident, ms))

    def test_html_report_shows_durations(self):
        r = ub(["report", str(self.bad), "--html", "-", "--ledger", self.ledger])
        self.assertEqual(r.returncode, 0, r.stderr)
        table = r.stdout[r.stdout.index("Recorded binding requests"):]
        table = table[:table.index("</table>")]
        shown = [float(v) for v in re.findall(r'</td><td class="num">([0-9.]+) ms</td></tr>', table)]
        self.assertTrue(shown, "no request durations in the report")
        self.assertTrue(all(v >= LATENCY_MS for v in shown), shown)


class MonspecDecodedOnce(unittest.TestCase):
    """The gate decodes the monspec once, with the stdlib's decoder: it reads
    the "policy" key from that document and hands the document to the policy
    as ctx.monspec (key order kept), instead of the C side scanning the text
    for the key and the policy decoding the text again."""

    def test_policy_key_and_decoded_document(self):
        work = tempfile.mkdtemp(prefix="ub-monspec-once-")
        with open(MONSPEC) as f:
            doc = json.load(f)
        text = json.dumps(doc, indent=2)
        text = text.replace('{\n  "_comment"', '{\n  "policy": "check-ctx.lua",\n  "_comment"', 1)
        monspec = os.path.join(work, "named.monspec.json")
        with open(monspec, "w") as f:
            f.write(text)
        with open(os.path.join(work, "check-ctx.lua"), "w") as f:
            f.write('''
local monspec = require "unbreakable.monspec"
return function(ctx)
  assert(type(ctx.monspec) == "table", "ctx.monspec was not given")
  assert(ctx.monspec.policy == "check-ctx.lua", "not the decoded monspec")
  local order = getmetatable(ctx.monspec).__jsonorder
  assert(order and order[1] == "policy" and order[2] == "_comment", "key order lost")
  print("decoded monspec received")
  return monspec.evaluate(ctx)
end
''')
        sim = dynatrace_sim.start(os.path.join(ROOT, "tests", "sim", "scenarios", "demo.json"))
        try:
            p = ub(["gate", "--monspec", monspec, "--compare", "CheckoutService/StagingToProduction", "--no-ledger"],
                   sim)
        finally:
            sim.stop()
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("[policy] decoded monspec received", p.stderr)


SLO = """\
spec_version: "1.0"
comparison:
  compare_with: "single_result"
  include_result_with_score: "pass"
objectives:
  - sli: response_time_p95
    displayName: "Response time P95"
    pass:
      - criteria: ["<=+10%", "<600"]
    warning:
      - criteria: ["<=800"]
  - sli: error_rate
    key_sli: true
    pass:
      - criteria: ["<=2"]
  - sli: cpu
total_score:
  pass: "90%"
  warning: "60%"
"""
SLI = """\
spec_version: "1.0"
indicators:
  response_time_p95: "MV2;MicroSecond;metricSelector=builtin:service.response.time:splitBy():percentile(95)&entitySelector=type(SERVICE)"
  error_rate: "metricSelector=builtin:service.errors.total.rate:splitBy():avg&entitySelector=type(SERVICE)"
  cpu: "metricSelector=builtin:service.cpu.time:splitBy():avg&entitySelector=type(SERVICE)"
"""
SLO_TOKEN = "dt0c01.SLO.TEXT"


class SloText(unittest.TestCase):
    """The SLO text report: total score and targets, units, the criteria as
    thresholds, no internal codes."""

    def test_text_report(self):
        def metric(unit, agg, value):
            return {"unit": unit, "displayName": unit, "data": {agg: {"SERVICE-1": {"constant": value}}}}
        sim = dynatrace_sim.start({
            "tokens": {SLO_TOKEN: "*"},
            "entities": [{"entityId": "SERVICE-1", "displayName": "carts", "tags": []}],
            "metrics": {"builtin:service.response.time": metric("MicroSecond", "percentile(95)", 500000.0),
                        "builtin:service.errors.total.rate": metric("Percent", "avg", 1.5),
                        "builtin:service.cpu.time": metric("MicroSecond", "avg", 20000.0)}})
        work = tempfile.mkdtemp(prefix="ub-slo-text-")
        slo, sli = os.path.join(work, "slo.yaml"), os.path.join(work, "sli.yaml")
        with open(slo, "w") as f:
            f.write(SLO)
        with open(sli, "w") as f:
            f.write(SLI)
        env = env_for(sim, os.path.join(work, "ledger.db"), token=SLO_TOKEN)
        args = ["gate", "--slo", slo, "--sli", sli, "--service", "carts", "--stage", "staging",
                "--no-wait", "--from", "1700000000000", "--to", "1700000600000"]
        try:
            runs = [run_ub(args, env) for _ in range(2)]
        finally:
            sim.stop()
        text = runs[1].stdout
        self.assertEqual(runs[1].returncode, 0, runs[1].stderr)
        self.assertIn("score 100 of 100: pass needs 90, warning needs 60", text)
        self.assertIn("500 ms", text)                      # MV2;MicroSecond, shown in ms
        self.assertIn("1.5%", text)                        # an error rate is a percentage
        self.assertIn("20 ms", text)                       # the built-in cpu time is in microseconds
        self.assertIn("<=+10% AND <600 (<= 550 ms)", text)  # the criteria, the relative one resolved
        self.assertIn("<=800", text)                       # the warning criteria
        self.assertIn("error_rate (key)", text)
        self.assertIsNone(re.search(r"\b[QM]\d+\b", text + runs[1].stderr), text)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed else 0)
