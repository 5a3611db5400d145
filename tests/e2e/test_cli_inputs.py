"""End-to-end tests of how every command takes its inputs (review 3): files
that are not regular files (FIFO, device, directory) are refused at once with
exit 2, never waited on; text documents that are not UTF-8 are refused naming
the file and the line; JSON errors give line and column; every number an
option takes is checked (NaN, inf, garbage, out of range) and a window under a
minute refused; an empty path is a usage error. Each case runs the real binary
with a hang guard (a timeout far above what a refusal takes)."""
import os
import subprocess
import sys
import shutil
import tempfile
import unittest

ROOT = os.environ.get("UB_SOURCE", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.environ.get("UB_BIN", os.path.join(ROOT, "build", "unbreakable"))
DEMO_MONSPEC = os.path.join(ROOT, "examples", "monspec", "demo.monspec.json")
HANG_GUARD = 60      # seconds; a refusal is immediate, the old behaviour waited 125 s

SLO = """spec_version: "1.0"
objectives:
  - sli: rt
    pass:
      - criteria: ["<600"]
total_score:
  pass: "90%"
  warning: "75%"
"""
SLI = """spec_version: "1.0"
indicators:
  rt: "metricSelector=builtin:service.response.time:avg&entitySelector=type(SERVICE)"
"""


def run(args, env_extra=None, stdin=None):
    env = dict(os.environ, DT_TENANT_URL="http://127.0.0.1:9", DT_API_TOKEN="dt0c01.INPUTS.TEST", NO_COLOR="1")
    env.pop("DT_API_TOKEN_FILE", None)
    env.pop("UB_LEDGER", None)
    env["HOME"] = env.get("UB_TEST_HOME", tempfile.gettempdir())
    if env_extra:
        env.update(env_extra)
    try:
        return subprocess.run([BIN] + args, capture_output=True, text=True, env=env, timeout=HANG_GUARD,
                              input=stdin, errors="replace")
    except subprocess.TimeoutExpired:
        raise AssertionError("%s blocked for %d s" % (" ".join(args), HANG_GUARD))


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ub-inputs-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(self.fifo)
        self.ledger = os.path.join(self.dir, "ledger.db")

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    def usage_error(self, args, *texts, env_extra=None):
        p = run(args, env_extra)
        self.assertEqual(p.returncode, 2, "%s: exit %d, stderr %r" % (args, p.returncode, p.stderr))
        for text in texts:
            self.assertIn(text, p.stderr, args)
        return p


class NotRegularFiles(Base):
    """A FIFO, device or directory as an input is refused at once (exit 2)."""

    def gate_monspec(self, monspec, *extra):
        return ["gate", "--monspec", monspec, "--compare", "CheckoutService/StagingToProduction",
                "--no-ledger"] + list(extra)

    def gate_slo(self, slo, sli, *extra):
        return ["gate", "--slo", slo, "--sli", sli, "--service", "s", "--stage", "t", "--no-wait",
                "--from", "1700000000000", "--to", "1700000600000", "--no-ledger"] + list(extra)

    def test_monspec(self):
        for bad, kind in ((self.fifo, "a FIFO"), (self.dir, "a directory"), ("/dev/zero", "a device")):
            self.usage_error(self.gate_monspec(bad), bad, kind)

    def test_slo_and_sli(self):
        slo, sli = self.write("slo.yaml", SLO), self.write("sli.yaml", SLI)
        self.usage_error(self.gate_slo(self.fifo, sli), self.fifo, "a FIFO")
        self.usage_error(self.gate_slo(slo, self.fifo), self.fifo, "a FIFO")
        self.usage_error(self.gate_slo(slo, self.dir), "a directory")

    def test_policy(self):
        self.usage_error(self.gate_monspec(DEMO_MONSPEC, "--policy", self.fifo), "a FIFO")
        self.usage_error(["eval", self.fifo], "a FIFO")
        self.usage_error(["eval", self.dir], "a directory")

    def test_eval_input(self):
        policy = self.write("p.lua", "return function(x) return x end\n")
        self.usage_error(["eval", policy, "--input", self.fifo], "a FIFO")
        self.usage_error(["eval", policy, "--input", "/dev/zero"], "a device")

    def test_token_file(self):
        p = run(self.gate_monspec(DEMO_MONSPEC, "--dt-token-file", self.fifo), {"DT_API_TOKEN": ""})
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("a FIFO", p.stderr)
        p = run(["dt", "--dt-token-file", self.fifo, "get", "/api/v2/metrics"], {"DT_API_TOKEN": ""})
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("a FIFO", p.stderr)

    def test_ca_bundle(self):
        self.usage_error(self.gate_monspec(DEMO_MONSPEC, "--dt-ca-bundle", self.fifo), "--dt-ca-bundle", "a FIFO")
        self.usage_error(["dt", "--dt-ca-bundle", self.fifo, "get", "/api/v2/metrics"], "a FIFO")
        self.usage_error(["dt", "--record", self.dir, "get", "/api/v2/metrics"], "--record", "a directory")

    def test_dt_inputs(self):
        self.usage_error(["dt", "--replay", self.fifo, "get", "/api/v2/metrics"], "a FIFO")
        self.usage_error(["dt", "batch", "@" + self.fifo], "a FIFO")

    def test_deploy_event_monspec(self):
        self.usage_error(["deploy-event", "--monspec", self.fifo, "--environment", "A/B", "--name", "n",
                          "--version", "v", "--no-ledger"], "a FIFO")

    def test_ledger(self):
        p = run(["history", "--ledger", self.fifo])
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("a FIFO", p.stderr)
        p = run(self.gate_monspec(DEMO_MONSPEC)[:-1] + ["--ledger", self.dir])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("a directory", p.stderr)

    def test_output_directory(self):
        self.usage_error(self.gate_monspec(DEMO_MONSPEC, "--output", self.dir), "--output", "a directory")
        self.usage_error(["report", "1", "--html", self.dir], "--html", "a directory")
        self.usage_error(["replay", "1", "--output", self.dir], "--output", "a directory")


class Encoding(Base):
    """A monspec, slo.yaml, sli.yaml or JSON input that is not UTF-8: exit 2
    naming the file and the line, not exit 3 with a context offset."""

    def test_monspec_latin1(self):
        with open(DEMO_MONSPEC, "rb") as f:
            lines = f.read().split(b"\n")
        lines[4] = lines[4].replace(b'"checkout"', b'"caf\xe9"')   # Latin-1 e-acute on line 5
        monspec = self.write("latin1.monspec.json", b"\n".join(lines))
        p = self.usage_error(["gate", "--monspec", monspec, "--compare", "CheckoutService/StagingToProduction",
                              "--no-ledger"], monspec, "line 5", "UTF-8")
        self.assertNotIn("gate context", p.stderr)

    def test_slo_and_sli_invalid_utf8(self):
        slo_bad = self.write("slo.yaml", SLO.replace("rt\n", "rt # \xff\n", 1).encode("latin-1"))
        sli = self.write("sli.yaml", SLI)
        args = ["gate", "--slo", slo_bad, "--sli", sli, "--service", "s", "--stage", "t", "--no-wait",
                "--from", "1700000000000", "--to", "1700000600000", "--no-ledger"]
        self.usage_error(args, slo_bad, "line 3", "UTF-8")
        slo = self.write("slo-ok.yaml", SLO)
        sli_bad = self.write("sli-bad.yaml", SLI.encode() + b"# \xc3\x28 broken\n")
        args[2], args[4] = slo, sli_bad
        self.usage_error(args, sli_bad, "line 4", "UTF-8")

    def test_eval_input_not_utf8(self):
        policy = self.write("p.lua", "return function(x) return x end\n")
        data = self.write("in.json", b'{\n "a": "\xe9"\n}\n')
        self.usage_error(["eval", policy, "--input", data], data, "line 2", "UTF-8")


class JsonPositions(Base):
    """JSON errors say line and column, not only a byte offset."""

    def test_eval_input(self):
        policy = self.write("p.lua", "return function(x) return x end\n")
        data = self.write("in.json", '{\n  "a": 1,\n  "b": tru\n}\n')
        p = run(["eval", policy, "--input", data])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("line 3, column", p.stderr)

    def test_monspec(self):
        monspec = self.write("m.json", '{\n  "S": {\n    "etype": "SERVICE",\n  }\n}\n')
        p = run(["gate", "--monspec", monspec, "--pull", "S/E", "--no-ledger"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("line 4, column 3", p.stdout + p.stderr)

    def test_dt_batch(self):
        p = run(["dt", "batch", '[["metrics",\n "x" "y"]]'])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("line 2, column", p.stderr)


class Numbers(Base):
    """Every option that takes a number refuses NaN, inf, garbage and values
    out of range, naming the option (exit 2); windows under a minute too."""

    def gate(self, *extra):
        return ["gate", "--monspec", DEMO_MONSPEC, "--compare", "CheckoutService/StagingToProduction",
                "--no-ledger"] + list(extra)

    def test_window_under_a_minute(self):
        for value in ("1e-300", "0.5", "0", "-1"):
            self.usage_error(self.gate("--window", value), "unbreakable gate: --window: '%s'" % value)

    def test_gate_numbers(self):
        for opt in ("--window", "--shift", "--shift-source", "--shift-compare", "--timeout", "--memory",
                    "--concurrency", "--now"):
            for value in ("nan", "inf", "-inf", "1e999", "5x", "0x10", " 5", ""):
                self.usage_error(self.gate(opt, value), "unbreakable gate: %s: '%s'" % (opt, value))

    def test_eval_numbers(self):
        policy = self.write("p.lua", "return 1\n")
        for opt in ("--timeout", "--memory", "--instructions"):
            for value in ("nan", "inf", "abc", "-1", "0"):
                self.usage_error(["eval", policy, opt, value], "unbreakable eval: %s: '%s'" % (opt, value))
        self.usage_error(["eval", policy, "--instructions", "0.5"], "whole number")

    def test_dt_numbers(self):
        # atoi took "abc" as 0 and "10abc" as 10 without a word
        for opt in ("--concurrency", "--timeout-ms", "--attempts", "--max-response-mb"):
            for value in ("abc", "10abc", "nan", "-3", "1e999"):
                self.usage_error(["dt", opt, value, "get", "/api/v2/metrics"], "unbreakable dt: %s: '%s'" % (opt, value))
        self.usage_error(["dt", "get", "/api/v2/metrics", "--from", "99999999999999999999"], "out of range")

    def test_deploy_event_and_history(self):
        for value in ("nan", "inf", "0", "abc"):
            self.usage_error(["deploy-event", "--tag", "a", "--name", "n", "--version", "v", "--timeout", value,
                              "--no-ledger"], "--timeout: '%s'" % value)
        for value in ("-1", "1.5", "x"):
            self.usage_error(["history", "--limit", value, "--ledger", self.ledger], "--limit: '%s'" % value)

    def test_ids(self):
        for value in ("0", "-1", "1.5", "1e3x", "nan"):
            self.usage_error(["replay", value, "--ledger", self.ledger], "is not an evaluation ID")
            self.usage_error(["invalidate", value, "--reason", "r", "--ledger", self.ledger], "is not an evaluation ID")


class EmptyPaths(Base):
    """An empty path is a usage error, never a silent fallback."""

    def test_ledger_empty(self):
        self.usage_error(["gate", "--monspec", DEMO_MONSPEC, "--compare", "CheckoutService/StagingToProduction",
                          "--ledger", ""], "--ledger")
        for cmd in (["history"], ["replay", "1"], ["invalidate", "1", "--reason", "r"],
                    ["report", "1", "--html", "x.html"],
                    ["deploy-event", "--tag", "a", "--name", "n", "--version", "v"]):
            self.usage_error(cmd + ["--ledger", ""], "--ledger")

    def test_other_paths(self):
        base = ["gate", "--monspec", DEMO_MONSPEC, "--compare", "CheckoutService/StagingToProduction", "--no-ledger"]
        for opt in ("--policy", "--output", "--dt-token-file", "--dt-ca-bundle"):
            self.usage_error(base + [opt, ""], opt)
        self.usage_error(["gate", "--monspec", "", "--compare", "A/B"], "--monspec")
        self.usage_error(["eval", self.write("p.lua", "return 1"), "--input", ""], "--input")
        self.usage_error(["dt", "--record", "", "get", "/api/v2/metrics"], "--record")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed else 0)
