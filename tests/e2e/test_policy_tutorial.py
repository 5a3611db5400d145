"""The tutorial of docs/policies.md, run as a test: from an empty folder,
record two evaluations from the Dynatrace simulator with --dump-ctx (and one
with replay --export), write the policy and its specs exactly as the doc
shows them, `unbreakable test --coverage --coverage-min 90` passes with the
coverage it reports, and a broken policy fails with the spec's file and
line."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.path.abspath(os.environ.get("UB_BIN", "build/unbreakable"))
SRC = os.path.abspath(os.environ.get("UB_SOURCE", "."))
SIM = os.path.join(SRC, "tests", "sim", "dynatrace_sim.py")


def tutorial_files():
    """Every fenced block preceded by <!-- tutorial-file: NAME -->."""
    with open(os.path.join(SRC, "docs", "policies.md")) as f:
        text = f.read()
    pattern = re.compile(r"<!-- tutorial-file: (\S+) -->\n```\w*\n(.*?)```", re.S)
    return dict(pattern.findall(text))


class Tutorial(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        port_file = os.path.join(cls.tmp, "port")
        cls.sim = subprocess.Popen([sys.executable, SIM, "--scenario",
                                    os.path.join(SRC, "tests", "sim", "scenarios", "demo.json"),
                                    "--port", "0", "--port-file", port_file],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        cls.env = dict(os.environ, DT_TENANT_URL="http://127.0.0.1:%s" % open(port_file).read().strip(),
                       DT_API_TOKEN="dt0c01.DEMO.READONLY", NO_COLOR="1",
                       UB_LEDGER=os.path.join(cls.tmp, "ledger.db"))
        cls.env.pop("DT_API_TOKEN_FILE", None)
        cls.dir = os.path.join(cls.tmp, "checkout-policy")
        os.mkdir(cls.dir)
        shutil.copy(os.path.join(SRC, "examples", "monspec", "demo.monspec.json"), cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls.sim.terminate()
        cls.sim.wait(timeout=10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ub(self, *args):
        return subprocess.run([BIN] + list(args), cwd=self.dir, env=self.env, capture_output=True,
                              text=True, timeout=600)

    def test_tutorial(self):
        # step 2: record the fixtures
        good = self.ub("gate", "--monspec", "demo.monspec.json", "--compare",
                       "CheckoutService/StagingToProduction", "--dump-ctx", "good.json")
        self.assertEqual(good.returncode, 0, good.stderr)
        bad = self.ub("gate", "--monspec", "demo.monspec.json", "--compare",
                      "CheckoutService/CanaryToProduction", "--dump-ctx", "bad.json")
        self.assertEqual(bad.returncode, 1, bad.stderr)
        with open(os.path.join(self.dir, "bad.json")) as f:
            dumped = json.load(f)
        self.assertEqual(dumped["verdict"]["verdict"], "fail")
        self.assertTrue(dumped["recording"]["exchanges"])
        self.assertNotIn("DEMO.READONLY", json.dumps(dumped))
        # replay --export writes the same context and responses from the ledger
        exp = self.ub("replay", "2", "--export", "exported.json")
        self.assertEqual(exp.returncode, 0, exp.stderr)
        with open(os.path.join(self.dir, "exported.json")) as f:
            exported = json.load(f)
        self.assertEqual(exported["context"], dumped["context"])
        self.assertEqual(exported["verdict"], dumped["verdict"])
        self.assertEqual(len(exported["recording"]["exchanges"]), len(dumped["recording"]["exchanges"]))
        os.remove(os.path.join(self.dir, "exported.json"))

        # steps 3 and 4: the policy and its specs, as the doc shows them
        files = tutorial_files()
        self.assertEqual(sorted(files), ["checkout_gate.lua", "checkout_gate_spec.lua"])
        for name, text in files.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

        # step 5: the specs pass, with the coverage they report
        t = self.ub("test", "--coverage", "--coverage-min", "90")
        self.assertEqual(t.returncode, 0, t.stdout + t.stderr)
        self.assertIn("3 passed, 0 failed, 0 errors, 0 pending (1 spec file)", t.stdout)
        self.assertRegex(t.stderr, r"checkout_gate\.lua\s+(\d+)\s+\1\s+100\.0%")
        with open(os.path.join(self.dir, "coverage.json")) as f:
            cov = json.load(f)
        self.assertEqual([f["path"] for f in cov["files"]], ["checkout_gate.lua"])
        self.assertEqual(cov["percent"], 100)
        self.assertGreater(cov["lines"], 5)
        with open(os.path.join(self.dir, "lcov.info")) as f:
            lcov = f.read()
        self.assertIn("SF:checkout_gate.lua", lcov)
        self.assertIn("LH:%d" % cov["hit"], lcov)

        # --run selects tests by name; nothing selected fails; no spec file is a usage error
        r = self.ub("test", "--run", "fails the bad")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("1 passed, 0 failed", r.stdout)
        self.assertEqual(self.ub("test", "--run", "no such test").returncode, 1)
        empty = os.path.join(self.tmp, "empty")
        os.mkdir(empty)
        self.assertEqual(self.ub("test", empty).returncode, 2)

        # --coverage-stdlib adds the standard library's modules the policy ran
        std = self.ub("test", "--coverage-stdlib", "--coverage-out", self.tmp)
        self.assertEqual(std.returncode, 0, std.stderr)
        with open(os.path.join(self.tmp, "coverage.json")) as f:
            paths = [f["path"] for f in json.load(f)["files"]]
        self.assertIn("checkout_gate.lua", paths)
        self.assertTrue(any(p.endswith("stdlib/unbreakable/monspec.lua") for p in paths), paths)
        self.assertFalse(any(p.endswith("testing.lua") or p.endswith("_spec.lua") for p in paths), paths)

        # JSON and JUnit reports of the same run
        j = self.ub("test", "--format", "json")
        self.assertEqual(json.loads(j.stdout)["passed"], 3)
        ju = self.ub("test", "--format", "junit")
        self.assertIn('tests="3" failures="0" errors="0"', ju.stdout)

        # step 6: a broken policy fails with the spec's file and line
        path = os.path.join(self.dir, "checkout_gate.lua")
        with open(path) as f:
            policy = f.read()
        with open(path, "w") as f:
            f.write(policy.replace("return is_failure_rate(obj)", "return false"))
        b = self.ub("test")
        self.assertEqual(b.returncode, 1, b.stdout + b.stderr)
        self.assertIn("FAIL    checkout gate fails the bad canary release", b.stdout)
        self.assertIn("checkout_gate_spec.lua:11: expected objects to be equal", b.stdout)
        self.assertIn("2 passed, 1 failed", b.stdout)
        # coverage below the minimum fails even when the tests pass
        with open(path, "w") as f:
            f.write(policy + "\nlocal function unused()\n  return 1\nend\n")
        low = self.ub("test", "--coverage", "--coverage-min", "99.9")
        self.assertEqual(low.returncode, 1, low.stderr)
        self.assertIn("below --coverage-min", low.stderr)
        with open(path, "w") as f:
            f.write(policy)

        # step 7: sign it; the keys live outside the bundled folder
        key = os.path.join(self.tmp, "reviewer")
        bundle = os.path.join(self.tmp, "checkout.tar.gz")
        for args in (("bundle", "keygen", "--out", key), ("bundle", "build", ".", "-o", bundle),
                     ("bundle", "sign", bundle, "--key", key),
                     ("bundle", "verify", bundle, "--pubkey", key + ".pub"),
                     ("test", "--bundle", bundle, "--pubkey", key + ".pub")):
            p = self.ub(*args)
            self.assertEqual(p.returncode, 0, " ".join(args) + ": " + p.stdout + p.stderr)
        g = self.ub("gate", "--monspec", "demo.monspec.json", "--compare", "CheckoutService/CanaryToProduction",
                    "--bundle", bundle, "--pubkey", key + ".pub", "--policy", "checkout_gate.lua")
        self.assertEqual(g.returncode, 1, g.stderr)
        self.assertIn("from bundle", g.stderr)


if __name__ == "__main__":
    unittest.main()
