"""./demo.sh, the main job (issue 17): the whole loop against the bundled
simulators must exit 0 and show every step a user reads: init, the
deployment events of releases 41 and 42, a passing gate through serve, a
failing one for the bad build, the Dynatrace problem, the rollback to 41
with the problem comment, and the HTML report of each step, which exist.
The binary under test is passed as UB_BIN, so demo.sh does not build."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ubtest import BIN, SRC, scaled  # noqa: E402

STEPS = [
    r"unbreakable init: wrote \d+ files .* for checkout",
    r"5 passed, 0 failed, 0 errors",
    r"== Release-41 is deployed to Production: the pipeline pushes a deployment event\n"
    r"   deployment event recorded on 1 entity",
    r"== Release-42 is deployed to Staging .*\n   deployment event recorded on 1 entity",
    r"POST /v1/gate \(Staging against Production\)\n   status success, verdict pass",
    r"== Release-42 passed its gate and is deployed to Production: deployment event\n"
    r"   deployment event recorded on 1 entity",
    r"A bad build .*\n   deployment event recorded on 1 entity.*\n   status failure, verdict fail",
    r"   \| FAIL  CheckoutService/CanaryToProduction",
    r"Dynatrace opens a problem on checkout in Production and notifies serve: POST /v1/problems\n"
    r"   recorded as notification \d+",
    r"decision: roll Production back from Release-42 to Release-41",
    r"rollback done  PATCH release 41 environment 98: HTTP 200",
    r"Azure DevOps received PATCH /SampleProject/_apis/Release/releases/41/environments/98",
    r"Dynatrace problem comment: unbreakable selfheal: rolled Production back from Release-42 to Release-41",
    r"replay of evaluation \d+: identical verdict \(fail\)",
    r"== Done",
]
REPORTS = ["1-gate-release-42-pass.html", "2-gate-bad-build-fail.html", "3-selfheal-rollback.html"]


class DemoTest(unittest.TestCase):
    def test_the_whole_loop(self):
        with tempfile.TemporaryDirectory() as out:
            env = dict(os.environ, UB_BIN=BIN, UB_DEMO_OUT=out)
            for k in [k for k in env if k.startswith(("DT_", "AZURE_DEVOPS_", "UB_SERVE_", "RELEASE_"))]:
                env.pop(k)
            p = subprocess.run(["bash", os.path.join(SRC, "demo.sh")], capture_output=True, text=True, env=env,
                               timeout=scaled(300))
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            for step in STEPS:
                self.assertRegex(p.stdout, step)
            for name in REPORTS:
                path = os.path.join(out, name)
                self.assertIn("report: " + path, p.stdout)
                with open(path, encoding="utf-8") as f:
                    page = f.read()
                self.assertTrue(page.lstrip().lower().startswith("<!doctype html"), name)
            self.assertNotRegex(p.stdout, re.compile(r"dt0c01\.DEMO\.ALLSCOPES|ado-pat-DEMO"))


if __name__ == "__main__":
    unittest.main()
