"""The "Try it" block of docs/serve.md, run as written: the Dynatrace
simulator, `serve` with a token, a gate and a problem notification sent
with curl. Only the ports are replaced by free ones and the clone's paths
by a scratch copy of what the commands read (examples/, tests/sim/, a
build/ with the binary); the block runs in one shell whose processes are
stopped afterwards."""
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


def doc_block(marker):
    with open(os.path.join(SRC, "docs", "serve.md")) as f:
        text = f.read()
    found = re.search(r"<!-- %s -->\n```\n(.*?)\n```" % marker, text, re.S)
    return found.group(1) if found else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeTryIt(unittest.TestCase):
    def test_try_it_block(self):
        if not shutil.which("curl") or not shutil.which("openssl"):
            print("curl or openssl missing (apt-get install curl openssl)")
            sys.exit(77)
        block = doc_block("serve-try")
        self.assertIsNotNone(block, "docs/serve.md has no <!-- serve-try --> block")
        sim_port, serve_port = free_port(), free_port()
        block = block.replace("9480", str(sim_port)).replace("8080", str(serve_port))
        top = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, top, True)
        os.symlink(os.path.join(SRC, "examples"), os.path.join(top, "examples"))
        os.makedirs(os.path.join(top, "tests"))
        os.symlink(os.path.join(SRC, "tests", "sim"), os.path.join(top, "tests", "sim"))
        os.makedirs(os.path.join(top, "build"))
        os.symlink(BIN, os.path.join(top, "build", "unbreakable"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DT_", "UB_SERVE"))}
        # the readiness loop is the doc's own; the shell's time is bounded here
        p = subprocess.Popen(["bash", "-c", block + "\nwait_rc=$?; kill %1 %2; wait; exit $wait_rc"],
                             cwd=top, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=scaled(120))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            self.fail("the block did not finish: " + out + err)
        answers, decoder, at = [], json.JSONDecoder(), out.find("{")
        while at >= 0:  # curl ends no answer with a newline: they follow each other
            doc, end = decoder.raw_decode(out, at)
            answers.append(doc)
            at = out.find("{", end)
        self.assertEqual(len(answers), 2, out + err)
        gate, problem = answers
        self.assertEqual((gate["status"], gate["verdict"], gate["evaluation"]), ("success", "pass", 1), out)
        self.assertEqual(problem["state"], "OPEN", out)
        self.assertFalse(problem["duplicate"])
        with open(os.path.join(top, "build", "serve-token")) as f:
            self.assertNotIn(f.read().strip(), out + err)  # the token is never printed


if __name__ == "__main__":
    unittest.main()
