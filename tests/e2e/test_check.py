"""`unbreakable check`: monspec, slo.yaml, sli.yaml and policies validated
without a gate, each problem at file:line:col; Lua syntax; luacheck with the
sandbox's globals (Debian's lua-check, installed by setup.sh --test), and
the syntax check alone when luacheck is not on the PATH."""
import os
import shutil
import subprocess
import tempfile
import unittest

BIN = os.path.abspath(os.environ.get("UB_BIN", "build/unbreakable"))
SRC = os.path.abspath(os.environ.get("UB_SOURCE", "."))

FILES = {
    "bad.monspec.json": '{"svc": {"etype": "SERVICE",\n "name": "x",\n "environmentz": {}}}\n',
    "typos.monspec.json": '{"svc": {"etype": "SERVICE", "name": "x", "environments": {"S": {"tags": ["a"]}},\n'
                          ' "perfsignature": [\n'
                          '  {"timeseries": "a:b", "aggregate": "avg",\n'
                          '   "_note": {"timeseriers": "a nested value, not a key of the element"}},\n'
                          '  {"timeseriers": "a:b", "aggregate": "avg"},\n'
                          '  {"timeseries": "a:b", "aggregate": "avg"},\n'
                          '  {"timeseries": "a:b", "aggregate": "avg"}, {"timeseriers": "a:b", "aggregate": "avg"}]},\n'
                          ' "other": {"etype": "SERVICE", "name": "y", "environments": {"S": {"tags": ["a"]}},\n'
                          ' "perfsignature": [\n'
                          '  {"timeseries": "a:b", "aggregat": "avg"}]}}\n',
    "broken.json": '{"svc": \n {"etype": 1,,}}',
    "slo.yaml": 'objectives:\n  - sli: rt\n    pass: [{criteria: ["<x"]}]\n    bogus: 1\n'
                'total_score: {pass: 90%}\n',
    "sli.yaml": 'spec_version: "1.0"\nindicators:\n  rt: "metricSelector=builtin:x"\n',
    "policy.lua": 'local x = io.open("f")\nreturn function(ctx)\n  return {verdict = "pass", x = x}\nend\n',
    "syntax.lua": "return function(\n",
    "clean_spec.lua": 'describe("x", function()\n  it("y", function()\n    assert.equals(1, gate({}, '
                      '"policy.lua").n)\n  end)\nend)\n',
}


class Check(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        for name, text in FILES.items():
            with open(os.path.join(cls.dir, name), "w") as f:
                f.write(text)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def check(self, *files, env=None):
        return subprocess.run([BIN, "check"] + list(files), cwd=self.dir, capture_output=True, text=True,
                              env=env or os.environ, timeout=120)

    def test_monspec(self):
        p = self.check("bad.monspec.json")
        self.assertEqual(p.returncode, 1)
        self.assertIn('bad.monspec.json:3:2: error: $.svc.environmentz: unknown key "environmentz"; '
                      'did you mean "environments"?', p.stdout)
        # each problem at its own key: array positions count, a key of the same name
        # earlier in the file (in another element, or as a value) does not
        p = self.check("typos.monspec.json")
        self.assertEqual(p.returncode, 1)
        for line, col, path in ((5, 4, "$.svc.perfsignature[1].timeseriers"),
                                (7, 47, "$.svc.perfsignature[4].timeseriers"),
                                (10, 25, "$.other.perfsignature[0].aggregat")):
            self.assertIn("typos.monspec.json:%d:%d: error: %s: unknown key" % (line, col, path), p.stdout)
        p = self.check("broken.json")
        self.assertEqual(p.returncode, 1)
        self.assertIn("broken.json:2:14: error: invalid JSON", p.stdout)

    def test_shipped_examples_are_clean(self):
        files = [os.path.join(SRC, "examples", "monspec", "checkout.monspec.json"),
                 os.path.join(SRC, "policies", "monspec.lua"), os.path.join(SRC, "policies", "slo.lua")]
        p = self.check(*files)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_slo_and_sli(self):
        p = self.check("slo.yaml", "sli.yaml")
        self.assertEqual(p.returncode, 1)
        self.assertIn("slo.yaml:3:24: error: objectives[1].pass[1].criteria[1]", p.stdout)
        self.assertIn("slo.yaml:2:5: warning: objectives[1]: unknown key 'bogus'", p.stdout)
        self.assertNotIn("sli.yaml:", p.stdout)

    def test_lua_syntax(self):
        p = self.check("syntax.lua")
        self.assertEqual(p.returncode, 1)
        self.assertIn("syntax.lua:2:1: error: <name> or '...' expected near <eof>", p.stdout)

    def test_luacheck_with_the_sandbox_globals(self):
        self.assertTrue(shutil.which("luacheck"), "luacheck is missing: apt-get install lua-check (./setup.sh --test)")
        p = self.check("policy.lua", "clean_spec.lua")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)  # warnings only
        self.assertIn("policy.lua:1:11: warning: (W113) accessing undefined variable 'io'", p.stdout)
        self.assertIn("(W212) unused argument 'ctx'", p.stdout)
        self.assertNotIn("clean_spec.lua", p.stdout)  # describe, it, assert, gate are known

    def test_luacheck_that_cannot_check_is_an_error(self):
        # luacheck exits 4 without its configuration: the lint did not run, so no clean bill
        self.assertTrue(shutil.which("luacheck"), "luacheck is missing: apt-get install lua-check (./setup.sh --test)")
        stdlib = os.path.join(self.dir, "stdlib-without-luacheckrc")
        shutil.copytree(os.path.join(SRC, "stdlib"), stdlib, ignore=shutil.ignore_patterns("luacheckrc"))
        p = self.check("policy.lua", env=dict(os.environ, UB_STDLIB=stdlib))
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("policy.lua:1:1: error: luacheck could not check this file (exit status 4", p.stdout)

    def test_without_luacheck(self):
        env = dict(os.environ, PATH="/nonexistent")
        p = self.check("policy.lua", env=env)
        self.assertEqual(p.returncode, 0)
        self.assertIn("luacheck is not installed", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_usage(self):
        self.assertEqual(self.check().returncode, 2)
        self.assertEqual(self.check("notes.txt").returncode, 2)
        self.assertEqual(self.check("missing.lua").returncode, 2)


if __name__ == "__main__":
    unittest.main()
