"""End-to-end tests of deploy-event when it cannot know, or cannot record,
what happened (review 3): an answer that may hide a recorded event (a 201
whose body is cut short, a gateway timeout, no answer) prints the "may have
been recorded, do not re-run" warning; a ledger damaged while the event is
being sent (its -shm file truncated, which made SQLite's next write die of
SIGBUS; the file replaced) ends in the same clean warning, exit 3, never a
signal. The simulator runs in this process; the answer to the POST is held
until the test has damaged the ledger (an event, not a sleep)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.request

ROOT = os.environ.get("UB_SOURCE", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.environ.get("UB_BIN", os.path.join(ROOT, "build", "unbreakable"))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
import dynatrace_sim  # noqa: E402

TOKEN = "dt0c01.AMBIGUOUS.TOKEN0123456789"
INGEST = "/api/v2/events/ingest"
SCENARIO = {"about": "deploy-event ambiguity tests", "tokens": {TOKEN: "*"},
            "entities": [{"entityId": "SERVICE-1", "displayName": "checkout", "tags": [{"key": "app"}]}]}
MAY = "may have been recorded all the same"
DUPLICATE = "do not re-run"


class Held:
    """Holds the answer to the ingest POST until release() (one at a time)."""

    def __init__(self):
        self.arrived, self.released, self.active = threading.Event(), threading.Event(), False
        original = dynatrace_sim.Handler.answer
        held = self

        def answer(handler, path, query, body, fault):
            if held.active and path == INGEST:
                held.arrived.set()
                held.released.wait(120)
            return original(handler, path, query, body, fault)
        dynatrace_sim.Handler.answer = answer

    def arm(self):
        self.arrived.clear()
        self.released.clear()
        self.active = True

    def release(self):
        self.active = False
        self.released.set()


class Ambiguous(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.held = Held()
        cls.sim = dynatrace_sim.start(SCENARIO)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ub-deploy-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.ledger = os.path.join(self.dir, "ledger.db")
        self.sim.state.reset()        # requests and faults of earlier tests
        self.fault(None)

    def fault(self, rule):
        if rule is None:
            req = urllib.request.Request(self.sim.url + "/_sim/faults", method="DELETE")
        else:
            req = urllib.request.Request(self.sim.url + "/_sim/faults", data=json.dumps(rule).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    def args(self):
        return [BIN, "deploy-event", "--tag", "app", "--name", "checkout", "--version", "1.2.3", "--timeout", "30"]

    def env(self):
        return dict(os.environ, DT_TENANT_URL=self.sim.url, DT_API_TOKEN=TOKEN, UB_LEDGER=self.ledger)

    def run_cmd(self):
        return subprocess.run(self.args(), capture_output=True, text=True, env=self.env(), timeout=120)

    # ---- answers that may hide a recorded event ------------------------------------

    def test_truncated_201_warns(self):
        # the simulator's "truncate": the real 201 answer cut in half (invalid JSON)
        self.fault({"path": INGEST, "truncate": True, "times": 1})
        p = self.run_cmd()
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(MAY, p.stderr)

    def test_201_that_is_not_json_warns(self):
        self.fault({"path": INGEST, "status": 201, "body": '{"reportCount":1,', "times": 1})
        p = self.run_cmd()
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(MAY, p.stderr)

    def test_gateway_timeout_warns_and_is_not_resent(self):
        self.fault({"path": INGEST, "status": 504, "body": "gateway timeout", "contentType": "text/plain"})
        p = self.run_cmd()
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(MAY, p.stderr)
        posts = [r for r in self.requests() if r["path"] == INGEST]
        self.assertEqual(len(posts), 1, "a POST that may have been received was sent again")

    def requests(self):
        with urllib.request.urlopen(self.sim.url + "/_sim/requests", timeout=10) as r:
            return json.load(r)["requests"]

    # ---- a ledger damaged during the send ---------------------------------------------

    def damaged_during_send(self, damage):
        self.held.arm()
        proc = subprocess.Popen(self.args(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env())
        try:
            self.assertTrue(self.held.arrived.wait(120), "the event never reached the simulator")
            damage()
        finally:
            self.held.release()
        out, err = proc.communicate(timeout=120)
        self.assertGreaterEqual(proc.returncode, 0, "killed by signal %d; stderr %r" % (-proc.returncode, err))
        return proc.returncode, out, err

    def test_shm_truncated_during_send(self):
        def truncate_shm():
            if os.path.exists(self.ledger + "-shm"):
                os.truncate(self.ledger + "-shm", 0)
        rc, out, err = self.damaged_during_send(truncate_shm)
        # SQLite rebuilds its index on a fresh open: the event is recorded
        self.assertEqual(rc, 0, err)
        self.assertIn("deployment event recorded", out)

    def test_ledger_replaced_during_send(self):
        def replace():
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.ledger + suffix):
                    os.rename(self.ledger + suffix, self.ledger + suffix + ".moved")
            os.mkdir(self.ledger)
        rc, out, err = self.damaged_during_send(replace)
        self.assertEqual(rc, 3, err)
        self.assertIn("could not record the event in the ledger", err)
        self.assertIn(DUPLICATE, err)
        shutil.rmtree(self.ledger)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed else 0)
