"""`unbreakable test` itself: the busted subset (assertions, negations,
hooks, nesting, pending), each failure reported with the spec's file and
line, the helpers' refusals (a fixture outside the spec's folder, a verdict
the host would reject) at the spec's line, a spec that does not compile,
and the JSON report."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

BIN = os.path.abspath(os.environ.get("UB_BIN", "build/unbreakable"))

POLICY = """return function(ctx)
  if ctx.nan then return {verdict = "pass", score = 0/0} end
  if ctx.bad then return {verdict = "great"} end
  return {verdict = ctx.rate > 0.05 and "fail" or "pass", summary = "rate " .. ctx.rate}
end
"""

PASSING = """local log = {}
describe("outer", function()
  before_each(function() log[#log + 1] = "before" end)
  after_each(function() log[#log + 1] = "after" end)
  describe("inner", function()
    it("assertions that hold", function()
      assert.equals(1, 1)
      assert.are.equal("a", "a")
      assert.same({a = {1, 2}}, {a = {1, 2}})
      assert.are.same({}, {})
      assert.is_true(true)
      assert.is_false(false)
      assert.is_nil(nil)
      assert.is_not_nil(0)
      assert.truthy(0)
      assert.falsy(nil)
      assert.near(1.0, 1.05, 0.1)
      assert.matches("^ab", "abc")
      assert.has_error(function() error("boom") end, "boom")
      assert.has_no.errors(function() end)
      assert.error_matches(function() error("bad value 42") end, "value %d+")
      assert.is_string("s")
      assert.is_table({})
      assert.are_not.equals(1, 2)
      assert.is_not.same({1}, {2})
      assert(true)
    end)
    it("sees the hooks", function()
      assert.same({"before", "after", "before"}, log)
    end)
  end)
  it("runs a policy the way the host does", function()
    local v = gate({rate = 0.5}, "policy.lua")
    assert.equals("fail", v.verdict)
    assert.equals("rate 0.5", v.summary)
  end)
  pending("something for later")
  it("is pending without a function")
end
)
"""

FAILING = """describe("failures", function()
  it("equals", function()
    assert.equals(1, 2)
  end)
  it("same", function()
    assert.same({a = 1}, {a = 2})
  end)
  it("negated", function()
    assert.is_not_nil(nil)
  end)
  it("message", function()
    assert.is_true(false, "custom message")
  end)
  it("fixture outside the folder", function()
    fixture.json("../secret.json")
  end)
  it("verdict the host rejects", function()
    gate({bad = true}, "policy.lua")
  end)
  it("NaN in a verdict", function()
    gate({nan = true}, "policy.lua")
  end)
  it("io is not there", function()
    io.open("/etc/passwd")
  end)
  it("plain assert", function()
    assert(nil, "plain assert failed")
  end)
end)
"""


class SpecRunner(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        for name, text in (("policy.lua", POLICY), ("passing_spec.lua", PASSING), ("failing_spec.lua", FAILING),
                           ("broken_spec.lua", "describe('x', function()\n  it('y', function(\nend)\n")):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def ub(self, *args):
        return subprocess.run([BIN, "test"] + list(args), cwd=self.dir, capture_output=True, text=True, timeout=300)

    def test_passing(self):
        p = self.ub("passing_spec.lua")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("ok      outer inner assertions that hold", p.stdout)
        self.assertIn("3 passed, 0 failed, 0 errors, 2 pending", p.stdout)

    def test_failures_name_the_spec_line(self):
        p = self.ub("failing_spec.lua", "--format", "json")
        self.assertEqual(p.returncode, 1, p.stderr)
        tests = {t["name"]: t for t in json.loads(p.stdout)["files"][0]["tests"]}
        want = {
            "failures equals": ("failing_spec.lua:3", "expected objects to be equal"),
            "failures same": ("failing_spec.lua:6", "expected objects to be the same"),
            "failures negated": ("failing_spec.lua:9", "expected the opposite"),
            "failures message": ("failing_spec.lua:12", "custom message"),
            "failures fixture outside the folder": ("failing_spec.lua:15", "relative to the spec's folder"),
            "failures verdict the host rejects": ("failing_spec.lua:18", "verdict great"),
            "failures NaN in a verdict": ("failing_spec.lua:21", "NaN"),
            "failures io is not there": ("failing_spec.lua:24", "global 'io'"),
            "failures plain assert": ("failing_spec.lua:27", "plain assert failed"),
        }
        for name, (where, text) in want.items():
            with self.subTest(test=name):
                self.assertEqual(tests[name]["status"], "fail")
                self.assertEqual(tests[name]["where"], where)
                self.assertIn(text, tests[name]["message"])

    def test_a_spec_that_does_not_compile(self):
        p = self.ub("broken_spec.lua")
        self.assertEqual(p.returncode, 1)
        self.assertIn("ERROR   (load)", p.stdout)
        self.assertIn("broken_spec.lua:3: ", p.stdout)

    def test_a_teardown_that_raises_is_an_error(self):
        with open(os.path.join(self.dir, "teardown_spec.lua"), "w") as f:
            f.write('describe("block", function()\n'
                    '  teardown(function() error("cleanup broke") end)\n'
                    '  it("passes", function() end)\n'
                    'end)\n')
        p = self.ub("teardown_spec.lua")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("ERROR   block teardown", p.stdout)
        self.assertIn("teardown_spec.lua:2: cleanup broke", p.stdout)
        self.assertIn("1 passed, 0 failed, 1 errors", p.stdout)

    def test_junit(self):
        p = self.ub("--format", "junit", "--output", "r.xml")
        self.assertEqual(p.returncode, 1)
        with open(os.path.join(self.dir, "r.xml")) as f:
            xml = f.read()
        self.assertIn('tests="15" failures="9" errors="1" skipped="2"', xml)
        self.assertIn("failing_spec.lua:3: expected objects to be equal", xml)
        # a report that cannot be written says which file and why
        p = self.ub("--output", os.path.join(self.dir, "absent", "r.xml"))
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("absent/r.xml: No such file or directory", p.stderr)


if __name__ == "__main__":
    unittest.main()
