"""End-to-end (review 11, 2.4): a key given twice in any input document is an
input error, exit 2, naming the file, the key, the line and the column; never
"the last one wins". A monspec whose failing limit was repeated with a
passing one ("upperlimit": 2.5, "upperlimit": 100) must not pass."""
import os
import sys
import shutil
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ubtest import Sim, env_for, run_ub  # noqa: E402

MONSPEC = """{
  "CheckoutService": {
    "etype": "SERVICE",
    "environments": {
      "Production": { "tags": [ { "context": "Environment", "key": "DEPLOYMENT_GROUP_NAME", "value": "Production" } ] },
      "Canary": { "tags": [ { "context": "Environment", "key": "DEPLOYMENT_GROUP_NAME", "value": "Canary" } ] }
    },
    "comparisons": [ { "name": "CanaryToProduction", "source": "Canary", "compare": "Production",
                       "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0 } ],
    "perfsignature": [
      { "timeseries": "com.dynatrace.builtin:service.failurerate", "aggregate": "avg",
        "upperlimit": 2.5, "upperlimit": 100 }
    ]
  }
}
"""

SLO = """spec_version: "1.0"
objectives:
  - sli: error_rate
    pass:
      - criteria: ["<=2"]
    weight: 1
    weight: 0
total_score:
  pass: "90%"
"""
SLO_OK = SLO.replace("    weight: 0\n", "")
SLI = """spec_version: "1.0"
indicators:
  error_rate: "metricSelector=builtin:service.errors.total.rate:splitBy():avg&entitySelector=type(SERVICE)"
  error_rate: "metricSelector=builtin:service.errors.total.rate:splitBy():max&entitySelector=type(SERVICE)"
"""
SLI_OK = "\n".join(SLI.splitlines()[:3]) + "\n"


class DuplicateKeys(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ub_dupkeys_")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.sim = Sim(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_ub(self, *args):
        return run_ub(args, env_for(self.sim))

    def test_monspec_duplicate_limit_is_input_error(self):
        path = self.write("dup.monspec.json", MONSPEC)
        for extra in ([], ["--compat", "dtcli"]):
            with self.subTest(extra=extra):
                p = self.run_ub("gate", "--monspec", path, "--compare", "CheckoutService/CanaryToProduction",
                                "--no-ledger", "--format", "json", *extra)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn('%s: invalid JSON: line ' % path, p.stderr)
                self.assertIn('line 12, column 28 (offset ', p.stderr)
                self.assertIn('duplicate key "upperlimit"', p.stderr)
        # with one limit the Canary's 7.5 % fails, as it must
        p = self.run_ub("gate", "--monspec", self.write("one.monspec.json", MONSPEC.replace(', "upperlimit": 100', "")),
                        "--compare", "CheckoutService/CanaryToProduction", "--no-ledger")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)

    def test_monspec_is_read_whole_whatever_the_policy(self):
        # a custom policy that never reads the monspec must not run on an invalid one,
        # and a repeated "policy" key must not choose between two policies
        self.write("blind.lua", "return function(ctx) return { verdict = \"pass\", objectives = "
                            "{ { name = \"x\", status = \"pass\" } } } end\n")
        for name, text in (("policy-twice.json", '{"policy": "blind.lua", "policy": "other.lua", "S": {}}'),
                           ("limit-twice.json", MONSPEC.replace('"etype": "SERVICE",',
                                                                '"policy": "blind.lua", "etype": "SERVICE",'))):
            with self.subTest(name=name):
                p = self.run_ub("gate", "--monspec", self.write(name, text), "--compare",
                                "CheckoutService/CanaryToProduction", "--no-ledger")
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn("duplicate key", p.stderr)
                self.assertEqual(p.stdout, "")

    def test_deploy_event_monspec_duplicate_is_input_error(self):
        path = self.write("env-twice.json", '{"S": {"etype": "SERVICE", "environments": {\n'
                          '  "P": {"entities": ["SERVICE-C4EC4A0E5A3B1001"]},\n  "P": {"tags": [{"key": "app"}]}}}}')
        p = self.run_ub("deploy-event", "--monspec", path, "--environment", "S/P", "--name", "n",
                        "--version", "1", "--no-ledger", "--dry-run")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('line 3, column 3 (offset ', p.stderr)
        self.assertIn('duplicate key "P"', p.stderr)

    def slo_gate(self, slo, sli):
        return self.run_ub("gate", "--slo", self.write("slo.yaml", slo), "--sli", self.write("sli.yaml", sli),
                           "--service", "checkout", "--stage", "staging", "--from", "1699990000000",
                           "--to", "1699999000000", "--no-ledger", "--format", "json")

    def test_slo_and_sli_duplicates_are_input_errors(self):
        for slo, sli, where in ((SLO, SLI_OK, "slo.yaml:7:5: duplicate key 'weight'"),
                                (SLO_OK, SLI, "sli.yaml:4:3: duplicate key 'error_rate'")):
            with self.subTest(where=where):
                p = self.slo_gate(slo, sli)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn(where, p.stdout)

    def test_eval_input_duplicate_is_input_error(self):
        policy = self.write("id.lua", "return function(input) return input end\n")
        data = self.write("input.json", '{\n  "threshold": 2,\n  "threshold": 200\n}\n')
        p = self.run_ub("eval", policy, "--input", data)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('%s: invalid JSON: line 3, column 3 (offset 22): duplicate key "threshold"' % data, p.stderr)
        self.assertEqual(p.stdout, "")

    def test_policy_json_decode_duplicate_is_an_error(self):
        policy = self.write("decode.lua", 'return require("unbreakable.json").decode(\'{"a": 1, "a": 2}\')\n')
        p = self.run_ub("eval", policy)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn('line 1, column 10 (offset ', p.stderr)
        self.assertIn('duplicate key "a"', p.stderr)

    def test_dt_batch_file_duplicate_is_input_error(self):
        batch = self.write("batch.json", '[["entities", "type(SERVICE)", {"page_size": 1, "page_size": 500}]]')
        p = self.run_ub("dt", "batch", "@" + batch)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('%s: line 1, column 49 (offset 48): duplicate key "page_size"' % batch, p.stderr)

    def test_recording_duplicate_is_refused(self):
        rec = self.write("rec.json", '{"version": 1, "exchanges": [], "exchanges": []}')
        p = self.run_ub("dt", "--replay", rec, "entities", "type(SERVICE)")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn('line 1, column 33 (offset ', p.stderr)
        self.assertIn('duplicate key "exchanges"', p.stderr)


if __name__ == "__main__":
    unittest.main()
