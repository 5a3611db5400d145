"""`unbreakable serve` as process 1 of its PID namespace, as it runs in a
container without an init (the image's entry point, docker or podman run
without --init, Kubernetes): its gate workers must work. They used to take
a parent whose id is 1 for a dead server (reparented to init) and exit at
once, so every gate answered "the evaluation process ended without an
answer".

The namespace comes from `unshare --pid --fork` (util-linux), which needs
root or CAP_SYS_ADMIN: skipped (exit 77) without them, saying so."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request

SRC = os.environ.get("UB_SOURCE", ".")
BIN = os.environ.get("UB_BIN", os.path.join(SRC, "build", "unbreakable"))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
import dynatrace_sim  # noqa: E402
from launch import run_unless, scaled, wait_for  # noqa: E402

DEMO = os.path.join(SRC, "tests", "sim", "scenarios", "demo.json")
DT_TOKEN = "dt0c01.DEMO.READONLY"
TOKEN = "pid1-serve-token-0123456789abcdef"


def unshare_works():
    if not shutil.which("unshare"):
        return "unshare (util-linux) is missing"
    p = subprocess.run(["unshare", "--pid", "--fork", "--kill-child", "sh", "-c", "echo $$"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0 or p.stdout.strip() != "1":
        return "unshare --pid cannot make a PID namespace here: %s" % p.stderr.strip()
    return None


class ServeAsPid1(unittest.TestCase):
    def test_gates_work_when_serve_is_process_1(self):
        dt = dynatrace_sim.start(DEMO, tokens=[DT_TOKEN])
        tmp = tempfile.mkdtemp(prefix="ub-pid1-")
        specs = os.path.join(tmp, "specs")
        os.mkdir(specs)
        shutil.copy(os.path.join(SRC, "examples", "monspec", "demo.monspec.json"), specs)
        log_path = os.path.join(tmp, "serve.log")
        env = dict(os.environ, DT_TENANT_URL=dt.url, DT_API_TOKEN=DT_TOKEN, UB_SERVE_TOKEN=TOKEN)
        env.pop("DT_API_TOKEN_FILE", None)
        env.pop("UB_SERVE_TOKEN_FILE", None)
        with open(log_path, "w") as log:
            proc = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", BIN, "serve", "--listen",
                                     "127.0.0.1:0", "--specs", specs, "--ledger", os.path.join(tmp, "l.db"),
                                     "--workers", "1"], stdout=subprocess.DEVNULL, stderr=log,
                                    stdin=subprocess.DEVNULL, env=env)
        try:
            def port():
                with open(log_path) as f:
                    text = f.read()
                if proc.poll() is not None:
                    raise AssertionError("serve exited with %s: %s" % (proc.returncode, text))
                m = re.search(r"\(port (\d+)\)", text)
                return m and m.group(1)
            url = "http://127.0.0.1:%s/v1/gate" % wait_for(port, 60, "serve to listen")
            body = json.dumps({"monspec": "demo.monspec.json", "compare": "CheckoutService/StagingToProduction"})
            for _ in range(2):    # the first worker, then its replacement if it had died
                req = urllib.request.Request(url, data=body.encode(), method="POST",
                                             headers={"Authorization": "Bearer " + TOKEN})
                with urllib.request.urlopen(req, timeout=scaled(60)) as r:
                    v = json.loads(r.read())
                self.assertEqual((v["status"], v["verdict"]), ("success", "pass"), v)
        finally:
            proc.kill()    # unshare --kill-child takes serve (and its workers) with it
            proc.wait(timeout=scaled(60))
            dt.stop()


if __name__ == "__main__":
    run_unless(unshare_works())
