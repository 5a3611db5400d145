"""End-to-end (review 11, 2.2, 2.3, 2.5): decisions are never lost and never
made of nothing.

- A closed or full stdout is one clear line on stderr and exit 3, never a
  silent 0 or a signal; the gate records its decision before it writes any
  report; --output replaces a file only with a complete report.
- Rows left `running` by a killed gate are marked `abandoned` the next time
  the ledger is opened; a gate running in another process keeps its row.
- A policy that answers pass without judging any objective is inconclusive
  (exit 4), in the gate and in replay.
Real binary, real simulator, real ledger file."""
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import shutil
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ubtest import BIN, MONSPEC, Sim, env_for, run_ub as run  # noqa: E402

TARGET = "CheckoutService/StagingToProduction"
NOTHING_JUDGED = "return function(ctx) return { verdict = \"pass\", summary = \"all good\" } end\n"
HOLLOW_OBJECTIVES = ("return function(ctx) return { verdict = \"pass\", objectives = {\n"
                     "  { name = \"a\", status = \"pass\", judged = false },\n"
                     "  { name = \"b\", status = \"no_data\" } } } end\n")


def closed_pipe():
    """A pipe whose reader is already gone: every write to it is EPIPE."""
    r, w = os.pipe()
    os.close(r)
    return w


def rows(ledger):
    db = sqlite3.connect(ledger)
    try:
        return {r[0]: r[1:] for r in db.execute("SELECT id, status, verdict, error FROM evaluations")}
    except sqlite3.OperationalError:      # the gate is still creating the file
        return {}
    finally:
        db.close()


def owner_pid(ledger, eval_id):
    db = sqlite3.connect(ledger)
    try:
        return db.execute("SELECT owner_pid FROM evaluations WHERE id = ?", (eval_id,)).fetchone()[0]
    finally:
        db.close()


def alive(pid):
    """True while pid runs (a zombie has ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class Decisions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ub_decisions_")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.sim = Sim(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.sim.only_fault()

    def ledger(self, name):
        return os.path.join(self.dir, name + ".db")

    def gate_args(self, *extra):
        return ["gate", "--monspec", MONSPEC, "--compare", TARGET] + list(extra)

    def assert_one_line_error(self, p, *fragments):
        lines = [l for l in p.stderr.splitlines() if "cannot write" in l]
        self.assertEqual(len(lines), 1, p.stderr)
        for f in fragments:
            self.assertIn(f, lines[0])
        self.assertNotIn("defect", p.stderr)
        self.assertNotIn("signal", p.stderr)

    # ---- 2.2 closed or full stdout ---------------------------------------------

    def test_closed_stdout_records_the_decision_first(self):
        ledger = self.ledger("closed")
        w = closed_pipe()
        try:
            p = run(self.gate_args(), env_for(self.sim, ledger), stdout=w)
        finally:
            os.close(w)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assert_one_line_error(p, "standard output", "Broken pipe", "recorded as evaluation 1")
        self.assertEqual(rows(ledger)[1][:2], ("finished", "pass"))

    def test_full_stdout_is_an_error_for_every_command(self):
        ledger = self.ledger("full")
        env = env_for(self.sim, ledger)
        self.assertEqual(run(self.gate_args(), env).returncode, 0)
        policy = os.path.join(self.dir, "ok.lua")
        with open(policy, "w") as f:
            f.write("return { ok = true }\n")
        commands = {
            "gate": self.gate_args(),
            "gate --format json": self.gate_args("--format", "json"),
            "replay": ["replay", "1"],
            "history": ["history"],
            "history json": ["history", "--format", "json"],
            "report": ["report", "1", "--html", "-"],
            "eval": ["eval", policy],
            "dt": ["dt", "entities", "type(SERVICE)"],
        }
        for name, args in commands.items():
            with self.subTest(command=name):
                with open("/dev/full", "w") as full:
                    p = run(args, env, stdout=full)
                self.assertEqual(p.returncode, 3, "%s: %s" % (name, p.stderr))
                self.assert_one_line_error(p, "No space left on device")
        # the gates above were recorded although their reports were lost
        self.assertEqual([r[:2] for r in rows(ledger).values()], [("finished", "pass")] * 3)

    def test_output_file_is_replaced_only_by_a_whole_report(self):
        out = os.path.join(self.dir, "report.json")
        with open(out, "w") as f:
            f.write("previous report\n")

        def small_files():
            # a file size limit makes the write fail part way (EFBIG, the
            # signal ignored): the same as a disk that fills up
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

        p = run(self.gate_args("--format", "json", "--output", out, "--no-ledger"), env_for(self.sim),
                preexec_fn=small_files)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assert_one_line_error(p, out)
        with open(out) as f:
            self.assertEqual(f.read(), "previous report\n")
        self.assertEqual(sorted(os.listdir(self.dir)).count("report.json"), 1)
        self.assertFalse([n for n in os.listdir(self.dir) if n.startswith("report.json.")])
        # without the limit the report replaces the file whole
        p = run(self.gate_args("--format", "json", "--output", out, "--no-ledger"), env_for(self.sim))
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            self.assertEqual(json.load(f)["verdict"], "pass")

    # ---- 2.3 abandoned rows ------------------------------------------------------

    def test_killed_gate_row_is_abandoned_but_a_live_one_is_not(self):
        ledger = self.ledger("abandon")
        env = env_for(self.sim, ledger)
        self.sim.only_fault(path="/api/v1/entity", hang=True)
        gate = subprocess.Popen([BIN] + self.gate_args("--timeout", "600"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            for _ in range(1200):                     # until the gate has begun its row
                if os.path.exists(ledger) and rows(ledger).get(1, (None,))[0] == "running":
                    break
                self.assertIsNone(gate.poll(), "the gate ended early")
                time.sleep(0.05)
            # another process opens the ledger while the gate runs: its row stays running
            p = run(["history", "--format", "json"], env)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout)[0]["status"], "running")
            self.assertEqual(rows(ledger)[1][0], "running")
            owner = owner_pid(ledger, 1)
        finally:
            os.killpg(gate.pid, signal.SIGKILL)
            gate.wait(timeout=30)
        for _ in range(1200):                         # until the evaluating process is gone
            if not alive(owner):
                break
            time.sleep(0.05)
        self.sim.only_fault()
        p = run(["history", "--format", "json"], env)
        self.assertEqual(p.returncode, 0, p.stderr)
        row = json.loads(p.stdout)[0]
        self.assertEqual(row["status"], "abandoned", row)
        self.assertIsNone(row["verdict"])
        status, verdict, error = rows(ledger)[1]
        self.assertEqual(status, "abandoned")
        self.assertIn("ended without recording a verdict", error)
        text = run(["history"], env).stdout
        self.assertIn("abandoned", text)

    # ---- 2.5 a verdict that judged nothing ----------------------------------------

    def test_pass_without_judged_objectives_is_inconclusive(self):
        ledger = self.ledger("nothing")
        env = env_for(self.sim, ledger)
        for name, source in (("nothing.lua", NOTHING_JUDGED), ("hollow.lua", HOLLOW_OBJECTIVES)):
            with self.subTest(policy=name):
                policy = os.path.join(self.dir, name)
                with open(policy, "w") as f:
                    f.write(source)
                p = run(self.gate_args("--policy", policy, "--format", "json"), env)
                self.assertEqual(p.returncode, 4, p.stderr)
                v = json.loads(p.stdout)
                self.assertEqual(v["verdict"], "inconclusive")
                self.assertIn("judged no objective", v["summary"])
                p = run(self.gate_args("--policy", policy), env)
                self.assertEqual(p.returncode, 4, p.stderr)
                self.assertTrue(p.stdout.startswith("INCONCLUSIVE"), p.stdout)
        # replay of a recorded gate with such a policy
        self.assertEqual(run(self.gate_args(), env).returncode, 0)
        last = max(rows(ledger))
        p = run(["replay", str(last), "--policy", os.path.join(self.dir, "nothing.lua"), "--format", "json"], env)
        v = json.loads(p.stdout)    # stdout holds only the JSON, the outcome is its "replay" field
        self.assertEqual(v["verdict"], "inconclusive", p.stdout)
        self.assertEqual(v["replay"]["verdict"], "inconclusive", p.stdout)
        self.assertEqual(p.returncode, 4, p.stderr)   # the new verdict's exit status, as gate's


if __name__ == "__main__":
    unittest.main()
