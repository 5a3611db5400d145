"""ubtest: what several end-to-end scripts share, so that each says only
what it tests. Not a test itself (tests/CMakeLists.txt leaves it out of the
e2e tests): the paths of the binary and the sources, the demo tenant of the
Dynatrace simulator as a process, the environment that points the binary at
it, and running the binary."""
import os
import subprocess
import sys
import tempfile

BIN = os.path.abspath(os.environ.get("UB_BIN", "build/unbreakable"))
SRC = os.path.abspath(os.environ.get("UB_SOURCE", "."))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
from launch import SimProcess, scaled, temp_dir  # noqa: E402

DEMO = os.path.join(SRC, "tests", "sim", "scenarios", "demo.json")
MONSPEC = os.path.join(SRC, "examples", "monspec", "demo.monspec.json")
TOKEN = "dt0c01.DEMO.ALLSCOPES"
SCRATCH = temp_dir("ub-e2e-")   # the ledgers env_for() makes, removed at exit


class Sim(SimProcess):
    """The simulator serving the demo tenant on an ephemeral port (tests/sim/launch.py)."""

    def __init__(self, workdir):
        super().__init__(DEMO, log_path=os.path.join(workdir, "sim.log"))

    def only_fault(self, **rule):
        """Clears every fault, then injects rule when given."""
        self.control("DELETE", "/_sim/faults")
        if rule:
            self.control("POST", "/_sim/faults", rule)


def env_for(sim=None, ledger=None, token=TOKEN):
    """The environment of a run against sim (any object with .url): no DT_
    variable or proxy of the caller's, no colour, a ledger of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DT_") and "proxy" not in k.lower()}
    env.update(DT_API_TOKEN=token, NO_COLOR="1")
    if sim is not None:
        env["DT_TENANT_URL"] = sim.url
    env["UB_LEDGER"] = ledger or os.path.join(tempfile.mkdtemp(dir=SCRATCH), "ledger.db")
    return env


def run_ub(args, env, stdout=subprocess.PIPE, timeout=120, **kw):
    """Runs the binary; stdout and stderr as text (stdout may be any file)."""
    return subprocess.run([BIN] + list(args), stdout=stdout, stderr=subprocess.PIPE, text=True,
                          env=env, timeout=scaled(timeout), **kw)
