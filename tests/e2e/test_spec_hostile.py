"""The hostile corpus (tests/hostile/*.lua) run as specs by `unbreakable
test`: each hostile policy sits in its own folder with a spec that requires
it, calls it and encodes what it returns, as a gate would. Every case must
be contained like a policy (the limit or error its header expects, reported
for that spec file, never a signal or the process backstop, no secret in
the output), and many specs run in one process: the cases sharing the same
limits run in one `unbreakable test`, followed by a sane spec that must
still pass, and spec files that each use most of the instruction budget
all pass (each file gets a fresh evaluation and budget)."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_corpus import EXPECT_TEXT, SECRET, header  # noqa: E402  (one reader of the -- expect: headers)

BIN = os.path.abspath(os.environ.get("UB_BIN", "build/unbreakable"))
SRC = os.path.abspath(os.environ.get("UB_SOURCE", "."))
HOSTILE = os.path.join(SRC, "tests", "hostile")

WRAPPER = """describe("hostile %(name)s", function()
  it("is contained", function()
    local policy = require("%(module)s")
    local result = policy
    if type(policy) == "function" then result = policy({}) end
    local text = require("unbreakable.json").encode(result)
    assert.is_string(text)
  end)
end)
"""

SANE = """describe("sane", function()
  it("still runs after the hostile specs", function()
    local t = {}
    for i = 1, 20000 do t[i] = tostring(i) end
    assert.equals("20000", t[#t])
    local s = table.concat(t, ",")
    assert.equals(20000, select(2, s:gsub(",", ",")) + 1)
  end)
end)
"""


class HostileSpecs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_test(self, args, cwd, timeout="0.5"):
        env = dict(os.environ, DT_API_TOKEN=SECRET, UB_PROBE=SECRET, NO_COLOR="1")
        return subprocess.run([BIN, "test", "--timeout", timeout] + args, cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=900)

    def test_corpus_contained(self):
        groups = {}
        for name in sorted(os.listdir(HOSTILE)):
            if name.endswith(".lua"):
                expect, args, _ = header(os.path.join(HOSTILE, name))
                # a short deadline only where the deadline is the point, so
                # that a loaded machine cannot turn another limit into it
                key = (tuple(args), "0.5" if expect == "timeout" else "60")
                groups.setdefault(key, []).append((name, expect))
        self.assertGreater(sum(len(g) for g in groups.values()), 20)
        for (args, deadline), cases in groups.items():
            root = os.path.join(self.tmp, "g%d" % len(os.listdir(self.tmp)))
            for name, _ in cases:
                module = name[:-4]
                folder = os.path.join(root, module)
                os.makedirs(folder)
                shutil.copy(os.path.join(HOSTILE, name), folder)
                with open(os.path.join(folder, "hostile_spec.lua"), "w") as f:
                    f.write(WRAPPER % {"name": module, "module": module})
            os.makedirs(os.path.join(root, "zz_sane"))
            with open(os.path.join(root, "zz_sane", "sane_spec.lua"), "w") as f:
                f.write(SANE)
            p = self.run_test(list(args), root, deadline)
            out = p.stdout
            self.assertNotIn("backstop", p.stderr)
            self.assertNotIn("signal", p.stderr)
            self.assertNotIn(SECRET, out + p.stderr)
            self.assertIn(p.returncode, (0, 1), p.stderr)
            blocks = {}
            current = None
            for line in out.splitlines():
                if line.endswith("_spec.lua") and not line.startswith(" "):
                    current = line.split("/")[0]
                    blocks[current] = ""
                elif current:
                    blocks[current] += line + "\n"
            self.assertIn("ok      sane still runs after the hostile specs", blocks.get("zz_sane", ""), out)
            for name, expect in cases:
                block = blocks.get(name[:-4], "")
                with self.subTest(case=name, args=args):
                    if expect == "ok-without-secret":
                        self.assertIn("ok      hostile", block)
                        continue
                    want = EXPECT_TEXT.get(expect) or expect.split(":", 1)[1].strip()
                    self.assertRegex(block, r"(FAIL|ERROR) ", block)
                    # a message of several lines is printed one line each
                    self.assertIn(want, block.replace("\n          ", "?"))
                    if expect in EXPECT_TEXT:  # the limit stops the whole spec file
                        self.assertIn("(spec file)", block)

    def test_fresh_budget_per_spec_file(self):
        # each file uses most of the budget: together they would exceed it
        for i in range(6):
            folder = os.path.join(self.tmp, "s%d" % i)
            os.makedirs(folder)
            with open(os.path.join(folder, "busy_spec.lua"), "w") as f:
                f.write("it('uses most of the budget', function()\n"
                        "  local x = 0\n  for i = 1, 300000 do x = x + i end\n"
                        "  assert.equals(45000150000, x)\nend)\n")
        p = self.run_test(["--instructions", "2000000"], self.tmp)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("6 passed, 0 failed", p.stdout)
        # and the budget does hold within one file
        p = self.run_test(["--instructions", "200000"], os.path.join(self.tmp, "s0"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("instruction budget of 200000", p.stdout)
        self.assertIn("busy_spec.lua:3", p.stdout)


if __name__ == "__main__":
    unittest.main()
