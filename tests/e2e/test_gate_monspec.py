"""End-to-end tests of `unbreakable gate --monspec` against the Dynatrace
simulator: the real binary, real HTTP on loopback, a real ledger file.
Expected numbers are worked out by hand from the scenarios (see each test).
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

BIN = os.environ.get("UB_BIN", "build/unbreakable")
SRC = os.environ.get("UB_SOURCE", ".")
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
from launch import FIXTURES, SimProcess as Sim, scaled, temp_dir  # noqa: E402

FIX = os.path.join(FIXTURES, "monspec")
DTCLI_TOKEN = "dt0c01.SIMTOKEN.DTCLI"
DEMO_TOKEN = "dt0c01.DEMO.READONLY"
SCRATCH = temp_dir("ub-e2e-")   # every temporary folder of this script, removed at exit


def gate(sim, token, *args, ledger=None, env_extra=None):
    env = dict(os.environ, DT_TENANT_URL=sim.url, DT_API_TOKEN=token, NO_COLOR="1")
    env.pop("DT_API_TOKEN_FILE", None)
    env["UB_LEDGER"] = ledger or os.path.join(tempfile.mkdtemp(dir=SCRATCH), "ledger.db")
    if env_extra:
        env.update(env_extra)
    p = subprocess.run([BIN, "gate"] + list(args), capture_output=True, text=True, env=env, timeout=scaled(120))
    return p


def objectives(verdict):
    return {o["name"]: o for o in verdict["objectives"]}


class DtcliCompat(unittest.TestCase):
    """compat dtcli reproduces the original tool's documents byte for byte."""

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim(os.path.join(SRC, "tests", "sim", "scenarios", "dtcli-synthetic.json"))

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def check(self, monspec, mode, target, fixture, want_rc, *extra):
        p = gate(self.sim, DTCLI_TOKEN, "--monspec", os.path.join(FIX, monspec), "--" + mode, target,
                 "--compat", "dtcli", "--format", "dtcli", *extra)
        with open(os.path.join(FIX, fixture)) as f:
            want = f.read().strip()
        self.assertEqual(p.stdout.strip(), want, p.stderr)
        self.assertEqual(p.returncode, want_rc, p.stderr)

    def test_pullcompare_sample(self):
        # two violations (response time avg 160000 > 143000, smartscape 3 > "2") -> fail
        self.check("unbreakable-pipeline_monspec.json", "compare", "SampleJSonService/StagingToProduction",
                   "dtcli-output_pullcompare_sample_StagingToProduction_5.json", 1)

    def test_pull_sample(self):
        self.check("unbreakable-pipeline_monspec.json", "pull", "SampleJSonService/Staging",
                   "dtcli-output_pull_sample_Staging_5_0.json", 1, "--window", "5", "--shift", "0")

    def test_pullcompare_edge(self):
        self.check("edge-cases_monspec.json", "compare", "EdgeService/StagingToProduction",
                   "dtcli-output_pullcompare_edge_StagingToProduction_5.json", 1)

    def test_pullcompare_edge_missing_baseline(self):
        # the original's document shows result_compare null; the verdict is still fail (violations)
        self.check("edge-cases_monspec.json", "compare", "EdgeService/StagingToMissing",
                   "dtcli-output_pullcompare_edge_StagingToMissing_5.json", 1)

    def test_pull_edge(self):
        self.check("edge-cases_monspec.json", "pull", "EdgeService/Staging",
                   "dtcli-output_pull_edge_Staging_5_0.json", 1, "--window", "5", "--shift", "0")


class DefaultMode(unittest.TestCase):
    """Default semantics: hand-worked numbers from the synthetic scenario
    (docs/reference/monspec.md 4.11): response time avg source 150000,170000,null -> 160000,
    compare 100000,120000 -> 110000; p90 300000 vs 250000; failure rate has
    no source data; requests/min 10,12 -> 11 vs 100,110 -> 105."""

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim(os.path.join(SRC, "tests", "sim", "scenarios", "dtcli-synthetic.json"))

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def run_json(self, monspec, *args, want_rc):
        p = gate(self.sim, DTCLI_TOKEN, "--monspec", monspec, "--format", "json", *args)
        self.assertEqual(p.returncode, want_rc, p.stderr + p.stdout[:2000])
        return json.loads(p.stdout)

    def test_pullcompare_numbers(self):
        v = self.run_json(os.path.join(FIX, "unbreakable-pipeline_monspec.json"),
                          "--compare", "SampleJSonService/StagingToProduction", want_rc=1)
        self.assertEqual(v["verdict"], "fail")
        o = objectives(v)
        rt = o["com.dynatrace.builtin:service.responsetime avg"]
        # threshold 110000 + 110000 * 30 / 100 = 143000; 160000 > 143000
        self.assertEqual((rt["value"], rt["baseline"], rt["threshold"], rt["status"]),
                         (160000, 110000, 143000, "fail"))
        p90 = o["com.dynatrace.builtin:service.responsetime p90"]
        self.assertEqual((p90["value"], p90["threshold"], p90["status"]), (300000, 325000, "pass"))
        # per-metric scale factor 90 for requestspermin, validate lower: 105 - 94.5 = 10.5; 11 >= 10.5
        rpm = o["com.dynatrace.builtin:service.requestspermin count"]
        self.assertEqual((rpm["value"], rpm["baseline"], rpm["status"]), (11, 105, "pass"))
        self.assertAlmostEqual(rpm["threshold"], 10.5)
        # no data on the source side: no_data, never 0 (defect M4)
        fr = o["com.dynatrace.builtin:service.failurerate avg"]
        self.assertEqual(fr["status"], "no_data")
        self.assertIsNone(fr["value"])
        # smartscape count: 3 ids in toRelationships.calls; static upperlimit "2"
        calls = o["toRelationships:calls"]
        self.assertEqual((calls["value"], calls["status"]), (3, "fail"))
        self.assertEqual(v["totalViolations"], 2)

    def edge_monspec(self, band):
        """The edge-case file with its inverted band (lower 1000000 > upper 150000, which the
        default mode rejects) replaced by band = (lower, upper)."""
        with open(os.path.join(FIX, "edge-cases_monspec.json")) as f:
            doc = json.load(f)
        entry = doc["EdgeService"]["perfsignature"][4]
        entry["lowerlimit"], entry["upperlimit"] = band
        path = os.path.join(tempfile.mkdtemp(dir=SCRATCH), "edge.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def test_inverted_band_is_rejected(self):
        p = gate(self.sim, DTCLI_TOKEN, "--monspec", os.path.join(FIX, "edge-cases_monspec.json"),
                 "--pull", "EdgeService/Staging")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("perfsignature[4]", p.stdout)

    def test_pull_static_limits(self):
        # band 100000 <= x <= "150000": 160000 is above the upper limit (both limits apply, M10)
        v = self.run_json(self.edge_monspec((100000, "150000")), "--pull", "EdgeService/Staging",
                          want_rc=1)
        by_name = [(o["name"], o["status"], o["value"]) for o in v["objectives"]]
        # lowerlimit 5 on 3 calls fails
        self.assertIn(("toRelationships:calls", "fail", 3), by_name)
        band = v["objectives"][4]
        self.assertEqual((band["value"], band["status"]), (160000, "fail"), band)
        self.assertEqual((band["lower_threshold"], band["upper_threshold"]), (100000, 150000))
        # failure rate: upperlimit 1 but no data points -> no_data, never a pass on 0 (M4)
        self.assertEqual(v["objectives"][3]["status"], "no_data")

    def test_band_inside_passes(self):
        v = self.run_json(self.edge_monspec((150000, 170000)), "--pull", "EdgeService/Staging", want_rc=1)
        self.assertEqual(v["objectives"][4]["status"], "pass")

    def test_missing_baseline_is_inconclusive_or_fail(self):
        v = self.run_json(self.edge_monspec((100000, 170000)),
                          "--compare", "EdgeService/StagingToMissing", want_rc=1)
        # comparison objectives without baseline are inconclusive, never passed (M5)
        rt = v["objectives"][0]
        self.assertEqual((rt["status"], rt["baseline"]), ("inconclusive", None))
        self.assertIn("baseline missing", rt["message"])

    def test_invalid_monspec_is_exit_2_with_hint(self):
        p = gate(self.sim, DTCLI_TOKEN, "--monspec", os.path.join(FIX, "dtcli_monspec_multi-entity.json"),
                 "--pull", "SampleJSonService/Staging")
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("timeseriers", p.stdout + p.stderr)
        self.assertIn("did you mean", p.stdout + p.stderr)

    def test_api_error_fails_closed(self):
        self.sim.control("POST", "/_sim/faults", {"path": "/api/v1/timeseries/", "status": 503})
        try:
            p = gate(self.sim, DTCLI_TOKEN, "--monspec", os.path.join(FIX, "unbreakable-pipeline_monspec.json"),
                     "--compare", "SampleJSonService/StagingToProduction", "--format", "json")
        finally:
            self.sim.control("DELETE", "/_sim/faults")
        self.assertEqual(p.returncode, 3, p.stderr)
        v = json.loads(p.stdout)
        self.assertEqual(v["verdict"], "error")
        self.assertIn("503", json.dumps(v))

    def test_forbidden_token_fails_closed(self):
        p = gate(self.sim, "dt0c01.WRONG", "--monspec", os.path.join(FIX, "unbreakable-pipeline_monspec.json"),
                 "--compare", "SampleJSonService/StagingToProduction", "--format", "json")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("401", p.stdout)
        self.assertNotIn("dt0c01.WRONG", p.stdout + p.stderr)

    def test_policy_error_names_file_and_line(self):
        d = tempfile.mkdtemp(dir=SCRATCH)
        policy = os.path.join(d, "broken.lua")
        with open(policy, "w") as f:
            f.write("return function(ctx)\n  local x = nil\n  return x.verdict\nend\n")
        p = gate(self.sim, DTCLI_TOKEN, "--monspec", os.path.join(FIX, "unbreakable-pipeline_monspec.json"),
                 "--compare", "SampleJSonService/StagingToProduction", "--policy", policy)
        self.assertEqual(p.returncode, 3)
        self.assertIn("broken.lua:3:", p.stderr)

    def test_policy_without_verdict_is_an_error(self):
        d = tempfile.mkdtemp(dir=SCRATCH)
        policy = os.path.join(d, "sloppy.lua")
        with open(policy, "w") as f:
            f.write("return function(ctx) return { verdict = 'PASS!' } end\n")
        p = gate(self.sim, DTCLI_TOKEN, "--monspec", os.path.join(FIX, "unbreakable-pipeline_monspec.json"),
                 "--compare", "SampleJSonService/StagingToProduction", "--policy", policy)
        self.assertEqual(p.returncode, 3)
        self.assertIn("expected pass, warning, fail", p.stderr)

    def test_missing_tenant_is_usage_error(self):
        env = {"DT_TENANT_URL": ""}
        p = gate(self.sim, DTCLI_TOKEN, "--monspec", os.path.join(FIX, "unbreakable-pipeline_monspec.json"),
                 "--compare", "SampleJSonService/StagingToProduction", env_extra=env)
        self.assertEqual(p.returncode, 2)

    def test_out_of_range_options_are_usage_errors(self):
        # a --timeout of 1e7 s overflowed the backstop's wait (it never fired)
        for opt, value in (("--timeout", "1e7"), ("--memory", "1e9"), ("--concurrency", "5000"),
                           ("--window", "nan"), ("--window", "-5")):
            p = gate(self.sim, DTCLI_TOKEN, "--monspec", os.path.join(FIX, "unbreakable-pipeline_monspec.json"),
                     "--compare", "SampleJSonService/StagingToProduction", opt, value)
            self.assertEqual(p.returncode, 2, (opt, value, p.stderr))
            self.assertIn("unbreakable gate: %s: '%s'" % (opt, value), p.stderr)

    def test_junit_has_one_case_per_objective(self):
        p = gate(self.sim, DTCLI_TOKEN, "--monspec", os.path.join(FIX, "unbreakable-pipeline_monspec.json"),
                 "--compare", "SampleJSonService/StagingToProduction", "--format", "junit")
        self.assertEqual(p.returncode, 1)
        root = ET.fromstring(p.stdout)
        cases = root.findall(".//testcase")
        names = [c.get("name") for c in cases]
        self.assertIn("com.dynatrace.builtin:service.responsetime avg", names)
        self.assertEqual(names[-1], "verdict")
        self.assertGreaterEqual(int(root.get("failures")), 3)  # two objectives + the verdict


class DemoScenario(unittest.TestCase):
    """The demo scenario: constant values per entity (tests/sim/scenarios/demo.json)."""

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim(os.path.join(SRC, "tests", "sim", "scenarios", "demo.json"))
        cls.dir = tempfile.mkdtemp(dir=SCRATCH)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def test_good_and_bad_release(self):
        monspec = os.path.join(SRC, "examples", "monspec", "demo.monspec.json")
        good = gate(self.sim, DEMO_TOKEN, "--monspec", monspec, "--compare", "CheckoutService/StagingToProduction")
        self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
        self.assertTrue(good.stdout.startswith("PASS"))
        # response time shown in ms: 126000 us -> 126 ms; threshold 120000 * 1.2 = 144000 us
        self.assertIn("126 ms", good.stdout)
        self.assertIn("<= 144 ms", good.stdout)
        bad = gate(self.sim, DEMO_TOKEN, "--monspec", monspec, "--compare", "CheckoutService/CanaryToProduction")
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertIn("310 ms", bad.stdout)

    def test_pooled_entities_flat_mean(self):
        # Staging (126000) and Canary (310000) pooled: every slot of both entities counts once,
        # so the flat mean is (126000 + 310000) / 2 = 218000 us.
        monspec = os.path.join(self.dir, "pooled.json")
        with open(monspec, "w") as f:
            json.dump({"Checkout": {
                "etype": "SERVICE",
                "environments": {
                    "Pooled": {"entities": ["SERVICE-C4EC4A0E5A3B1002", "SERVICE-C4EC4A0E5A3B1003"]}},
                "perfsignature": [{"timeseries": "com.dynatrace.builtin:service.responsetime",
                                   "aggregate": "avg", "upperlimit": 200000}]}}, f)
        p = gate(self.sim, DEMO_TOKEN, "--monspec", monspec, "--pull", "Checkout/Pooled", "--format", "json")
        self.assertEqual(p.returncode, 1, p.stderr)
        o = json.loads(p.stdout)["objectives"][0]
        self.assertEqual((o["value"], o["threshold"], o["status"]), (218000, 200000, "fail"))

    def test_token_never_recorded_and_replay_identical(self):
        ledger = os.path.join(self.dir, "ledger.db")
        monspec = os.path.join(SRC, "examples", "monspec", "demo.monspec.json")
        p = gate(self.sim, DEMO_TOKEN, "--monspec", monspec, "--compare", "CheckoutService/CanaryToProduction",
                 ledger=ledger)
        self.assertEqual(p.returncode, 1)
        with open(ledger, "rb") as f:
            self.assertNotIn(DEMO_TOKEN.encode(), f.read())
        for suffix in ("-wal", "-shm"):
            if os.path.exists(ledger + suffix):
                with open(ledger + suffix, "rb") as f:
                    self.assertNotIn(DEMO_TOKEN.encode(), f.read())
        # replay offline: stop answering (any request now would fail) and compare
        self.sim.control("POST", "/_sim/faults", {"path": "/api", "status": 500})
        try:
            env = dict(os.environ, UB_LEDGER=ledger)
            r = subprocess.run([BIN, "replay", "1"], capture_output=True, text=True, env=env, timeout=scaled(60))
        finally:
            self.sim.control("DELETE", "/_sim/faults")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("identical verdict (fail), byte for byte", r.stdout)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed else 0)
