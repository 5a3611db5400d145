"""docs/getting-started.md, run as written: every block marked
<!-- getting-started-run --> in order, in one shell, from the top of a
scratch copy of what the commands read (tests/sim/, a build/ with the
binary): `unbreakable init` against the bundled simulator, `check`, `test`,
the CLI gate step, `serve --config` of the project and a gate through it.
Only the ports are replaced by free ones."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ubtest import BIN, SRC, scaled  # noqa: E402


def doc_blocks():
    with open(os.path.join(SRC, "docs", "getting-started.md")) as f:
        text = f.read()
    return re.findall(r"<!-- getting-started-run -->\n```\n(.*?)\n```", text, re.S)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GettingStarted(unittest.TestCase):
    def test_the_blocks_run(self):
        if not shutil.which("curl"):
            print("curl missing (apt-get install curl)")
            sys.exit(77)
        blocks = doc_blocks()
        self.assertEqual(len(blocks), 3, "docs/getting-started.md lost a getting-started-run block")
        script = "set -e\n" + "\n".join(blocks)
        script = script.replace("9480", str(free_port())).replace("8080", str(free_port()))
        top = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, top, True)
        os.makedirs(os.path.join(top, "tests"))
        os.symlink(os.path.join(SRC, "tests", "sim"), os.path.join(top, "tests", "sim"))
        os.makedirs(os.path.join(top, "build"))
        os.symlink(BIN, os.path.join(top, "build", "unbreakable"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DT_", "UB_SERVE", "UB_LEDGER"))}
        p = subprocess.Popen(["bash", "-c", script + "\nrc=$?; kill %1 %2; wait; exit $rc"], cwd=top, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = p.communicate(timeout=scaled(180))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            self.fail("the blocks did not finish: " + out + err)
        self.assertEqual(p.returncode, 0, out + err)
        self.assertIn("unbreakable init: wrote", out)
        self.assertIn("5 passed, 0 failed, 0 errors", out)
        self.assertIn("gate: evaluation 1, exit status 0; report: gate-results/gate-report.html", out)
        self.assertRegex(out, r"checkout\s+StagingToProduction\s+monspec\s+pass")
        answer = json.loads(out[out.rindex('{"status"'):])
        self.assertEqual((answer["status"], answer["verdict"]), ("success", "pass"), out)
        project = os.path.join(top, "build", "checkout")
        for rel in ("gate-results/gate.xml", "gate-results/gate-report.html", "azure-pipelines.yml"):
            self.assertTrue(os.path.isfile(os.path.join(project, rel)), rel)
        with open(os.path.join(top, "build", "serve-token")) as f:
            self.assertNotIn(f.read().strip(), out + err)


if __name__ == "__main__":
    unittest.main()
