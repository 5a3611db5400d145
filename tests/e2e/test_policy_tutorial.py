"""The tutorial of docs/policies.md, run as a test: from an empty folder,
every command of the blocks marked tutorial-run exactly as the doc writes
it (in a shell, `unbreakable` on the PATH, against the Dynatrace simulator
the setup block names): record two evaluations with --dump-ctx, write the
policy and its specs as the doc shows them, `unbreakable test --coverage
--coverage-min 90` and `check` pass, and the bundle is built, signed,
verified and gated from, with the keys outside the bundled folder. Between
the doc's steps it checks what the doc says they print, replay --export,
and that a broken policy fails with the spec's file and line."""
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


def doc_text():
    with open(os.path.join(SRC, "docs", "policies.md")) as f:
        return f.read()


def tutorial_files():
    """Every fenced block preceded by <!-- tutorial-file: NAME -->."""
    pattern = re.compile(r"<!-- tutorial-file: (\S+) -->\n```\w*\n(.*?)```", re.S)
    return dict(pattern.findall(doc_text()))


def tutorial_blocks(marker):
    """The commands of every fenced block preceded by <!-- MARKER -->, one
    list per block; indentation removed, backslash continuations joined."""
    pattern = re.compile(r"^ *<!-- %s -->\n *```\n(.*?)\n *```" % marker, re.S | re.M)
    blocks = []
    for body in pattern.findall(doc_text()):
        text = re.sub(r"\\\n\s*", " ", "\n".join(line.strip() for line in body.splitlines()))
        blocks.append([line for line in text.splitlines() if line])
    return blocks


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
        bindir = os.path.join(cls.tmp, "bin")  # `unbreakable` on the PATH, as the doc has it
        os.mkdir(bindir)
        os.symlink(BIN, os.path.join(bindir, "unbreakable"))
        cls.env = dict(os.environ, DT_TENANT_URL="http://127.0.0.1:%s" % open(port_file).read().strip(),
                       DT_API_TOKEN="dt0c01.DEMO.READONLY", NO_COLOR="1",
                       PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                       UB_LEDGER=os.path.join(cls.tmp, "ledger.db"))
        cls.env.pop("DT_API_TOKEN_FILE", None)
        # the top of a clone, as the doc starts from: only what the commands read
        cls.top = os.path.join(cls.tmp, "clone")
        os.makedirs(cls.top)
        os.symlink(os.path.join(SRC, "examples"), os.path.join(cls.top, "examples"))
        cls.cwd = cls.top
        cls.dir = os.path.join(cls.top, "checkout-policy")

    @classmethod
    def tearDownClass(cls):
        cls.sim.terminate()
        cls.sim.wait(timeout=10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ub(self, *args):
        return subprocess.run([BIN] + list(args), cwd=self.dir, env=self.env, capture_output=True,
                              text=True, timeout=600)

    def shell(self, command):
        """One command of the doc, in a shell, in the folder the previous
        ones left (a `cd` carries over)."""
        where = os.path.join(self.tmp, "cwd")
        p = subprocess.run(["bash", "-c", command + '\nrc=$?; pwd > "$UB_TUTORIAL_CWD"; exit $rc'],
                           cwd=self.cwd, env=dict(self.env, UB_TUTORIAL_CWD=where),
                           capture_output=True, text=True, timeout=600)
        with open(where) as f:
            type(self).cwd = f.read().strip()
        return p

    def run_block(self, commands, expect=None):
        """Runs a tutorial-run block; each command exits 0 unless expect
        (a substring -> status) says otherwise. Returns their results."""
        results = []
        for command in commands:
            p = self.shell(command)
            want = next((rc for text, rc in (expect or {}).items() if text in command), 0)
            self.assertEqual(p.returncode, want, command + ": " + p.stdout + p.stderr)
            results.append(p)
        return results

    def test_setup_block_names_what_the_test_uses(self):
        setup = " ".join(sum(tutorial_blocks("tutorial-setup"), []))
        self.assertIn("tests/sim/dynatrace_sim.py --scenario tests/sim/scenarios/demo.json", setup)
        for var in ("DT_TENANT_URL", "DT_API_TOKEN=dt0c01.DEMO.READONLY", 'PATH="$PWD/build:$PATH"'):
            self.assertIn(var, setup)

    def test_tutorial(self):
        blocks = tutorial_blocks("tutorial-run")
        self.assertEqual(len(blocks), 4, blocks)
        folder, record, run_specs, sign = blocks
        # step 1: the empty folder, from the top of the clone
        self.run_block(folder)
        self.assertEqual(os.path.realpath(self.cwd), os.path.realpath(self.dir))
        self.assertEqual(os.listdir(self.dir), ["demo.monspec.json"])
        # step 2: record the fixtures; the canary release fails
        self.run_block(record, expect={"CanaryToProduction": 1})
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

        # step 5: the specs pass, with the coverage they report, and check finds nothing
        t, check = self.run_block(run_specs)
        self.assertIn("3 files, 0 errors, 0 warnings", check.stderr)
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

        # step 7: sign it, the keys and the bundle outside the folder; the gate from the
        # bundle fails the bad release with the bundle's policy
        results = self.run_block(sign, expect={"CanaryToProduction": 1})
        self.assertIn("from bundle", results[-1].stderr)
        self.assertIn("3 passed", results[-2].stdout)
        bundle = os.path.join(self.top, "checkout.tar.gz")
        listing = subprocess.run(["tar", "tzf", bundle], capture_output=True, text=True).stdout.split()
        self.assertIn("checkout_gate.lua", listing)
        self.assertFalse([n for n in listing if "reviewer" in n or n.endswith(".tar.gz")], listing)

if __name__ == "__main__":
    unittest.main()
