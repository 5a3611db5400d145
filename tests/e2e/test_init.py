"""`unbreakable init` (issue 17), run as a new team would: into an empty
folder for each CI, after which `check` and `test` pass on what it wrote,
the pipeline parses as YAML with the steps a release needs, the CLI gate
step (ci/gate.sh) gates a release against the Dynatrace simulator and
writes its JUnit and HTML report, and `serve --config unbreakable.json`
gates through the scaffold's monspec and policy. Also: existing files are
never overwritten without --force (and then nothing is written), the
interactive questions through a pseudo-terminal, and values that would
break a JSON, YAML or shell file refused."""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ubtest import BIN, SRC, Sim, env_for, scaled  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
import launch  # noqa: E402

try:
    import yaml
except ImportError:  # python3-yaml: ./setup.sh --test installs it
    print("python3-yaml missing (apt-get install python3-yaml)")
    sys.exit(77)

TENANT = "https://abc12345.live.dynatrace.com"
PIPELINES = {"azure": "azure-pipelines.yml", "github": ".github/workflows/release.yml", "gitlab": ".gitlab-ci.yml"}
COMMON = ["README.md", "monspec.json", "slo.yaml", "sli.yaml", "policies/gate.lua", "policies/selfheal.lua",
          "policies/gate_spec.lua", "policies/selfheal_spec.lua", "policies/default_selfheal.lua",
          "policies/recordings/gate-good.json", "policies/recordings/gate-bad.json", "unbreakable.json",
          "selfheal.json", "deploy/unbreakable.service", "ci/unbreakable", "ci/gate.sh"]
SERVE_TOKEN = "init-serve-token-0123456789"


def run(args, cwd=None, env=None):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, timeout=scaled(120))


def steps_text(node):
    """Every string in a parsed YAML document, for "this step is there" checks."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in steps_text(k) + steps_text(v)]
    if isinstance(node, list):
        return [s for v in node for s in steps_text(v)]
    return [node] if isinstance(node, str) else []


def has(texts, fragment):
    return any(fragment in t for t in texts)


class InitTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ub-init-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def init(self, name, *args, service="checkout"):
        target = os.path.join(self.tmp, name)
        p = run(["init", target, "--service", service, "--tenant", TENANT, "--non-interactive"] + list(args))
        return target, p

    def assert_checks_and_tests(self, target):
        p = run(["check", "monspec.json", "slo.yaml", "sli.yaml", "unbreakable.json", "selfheal.json",
                 "policies/gate.lua", "policies/selfheal.lua", "policies/gate_spec.lua",
                 "policies/selfheal_spec.lua"], cwd=target)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("9 files, 0 errors, 0 warnings", p.stderr)
        p = run(["test"], cwd=target)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"5 passed, 0 failed, 0 errors")

    def assert_substituted(self, target):
        for top, _, files in os.walk(target):
            for f in files:
                with open(os.path.join(top, f), encoding="utf-8") as handle:
                    text = handle.read()
                self.assertNotRegex(text, r"\{\{(service|tenant|ci)\}\}", f)
                self.assertNotIn("dt0c01.", text, "no token in %s" % f)

    # ---- each CI ----
    def check_ci(self, ci):
        target, p = self.init(ci, "--ci", ci)
        self.assertEqual(p.returncode, 0, p.stderr)
        for rel in COMMON + [PIPELINES[ci]]:
            self.assertTrue(os.path.isfile(os.path.join(target, rel)), rel)
        for other in set(PIPELINES.values()) - {PIPELINES[ci]}:
            self.assertFalse(os.path.exists(os.path.join(target, other)), other)
        self.assertTrue(os.access(os.path.join(target, "ci", "gate.sh"), os.X_OK))
        self.assert_substituted(target)
        self.assert_checks_and_tests(target)
        with open(os.path.join(target, PIPELINES[ci])) as f:
            doc = yaml.safe_load(f)
        with open(os.path.join(target, "monspec.json")) as f:
            self.assertIn("checkout", json.load(f))
        return target, doc

    def test_azure(self):
        target, doc = self.check_ci("azure")
        self.assertEqual(doc["variables"]["DT_TENANT_URL"], TENANT)
        self.assertIn("UB_LEDGER", doc["variables"])
        stages = {s["stage"]: s for s in doc["stages"]}
        self.assertEqual(list(stages), ["Build", "Staging", "Production"])
        staging, production = steps_text(stages["Staging"]), steps_text(stages["Production"])
        for fragment in ("Deploy to staging", 'deploy-event --monspec monspec.json --environment "checkout/Staging"',
                         "Load test", "ci/gate.sh Staging", "PublishTestResults@2", "gate-results/gate.xml",
                         "PublishPipelineArtifact@1", "Cache@2", "InvokeRESTAPI@1", "v1/gate",
                         "checkout/StagingToProduction", "$(dynatraceApiToken)"):
            self.assertTrue(has(staging, fragment), fragment)
        jobs = {j.get("job") or j.get("deployment"): j for j in stages["Staging"]["jobs"]}
        self.assertEqual(jobs["AskServe"]["pool"], "server")
        ask = jobs["AskServe"]["steps"][0]["inputs"]
        headers = ask["headers"]
        for name in ("PlanUrl", "ProjectId", "HubName", "PlanId", "JobId", "TimelineId", "TaskInstanceId",
                     "AuthToken"):  # callback mode needs every one (docs/serve.md)
            self.assertIn('"%s"' % name, headers)
        self.assertEqual(json.loads(ask["body"])["compare"], "checkout/StagingToProduction")
        for fragment in ("Deploy to production", 'deploy-event --monspec monspec.json --environment '
                         '"checkout/Production"'):
            self.assertTrue(has(production, fragment), fragment)
        self.assertEqual(stages["Production"]["jobs"][0]["environment"], "production")
        self.assertEqual(stages["Production"]["dependsOn"], "Staging")

    def test_github(self):
        _, doc = self.check_ci("github")
        self.assertEqual(doc["env"]["DT_TENANT_URL"], TENANT)
        self.assertEqual(list(doc["jobs"]), ["build", "staging", "production"])
        staging, production = steps_text(doc["jobs"]["staging"]), steps_text(doc["jobs"]["production"])
        for fragment in ("deploy-event", "Load test", "ci/gate.sh Staging", "actions/cache@v4",
                         "actions/upload-artifact@v4", "gate-results/", "${{ secrets.DT_API_TOKEN }}"):
            self.assertTrue(has(staging, fragment), fragment)
        self.assertTrue(has(production, '--environment "checkout/Production"'))
        self.assertEqual(doc["jobs"]["production"]["needs"], "staging")

    def test_gitlab(self):
        _, doc = self.check_ci("gitlab")
        self.assertEqual(doc["variables"]["DT_TENANT_URL"], TENANT)
        self.assertEqual(doc["stages"], ["build", "staging", "gate", "production"])
        self.assertTrue(has(doc["deploy-staging"]["script"], "deploy-event"))
        self.assertEqual(doc["release-gate"]["script"], ["ci/gate.sh Staging"])
        self.assertEqual(doc["release-gate"]["artifacts"]["reports"]["junit"], "gate-results/gate.xml")
        self.assertEqual(doc[".unbreakable"]["cache"]["paths"], [".unbreakable/"])
        self.assertTrue(has(doc["deploy-production"]["script"], '--environment "checkout/Production"'))

    # ---- what it wrote works ----
    def test_the_cli_gate_step_and_serve_config_gate_a_release(self):
        target, p = self.init("svc", "--ci", "azure")
        self.assertEqual(p.returncode, 0, p.stderr)
        with Sim(self.tmp) as sim:
            env = env_for(sim, ledger=os.path.join(self.tmp, "ci-ledger", "ledger.db"))
            env["PATH"] = os.path.dirname(BIN) + os.pathsep + env.get("PATH", "")
            step = subprocess.run(["ci/gate.sh", "Staging"], cwd=target, env=env, capture_output=True, text=True,
                                  timeout=scaled(120))
            self.assertEqual(step.returncode, 0, step.stdout + step.stderr)
            with open(os.path.join(target, "gate-results", "gate.xml")) as f:
                self.assertIn("<testsuite", f.read())
            with open(os.path.join(target, "gate-results", "gate-report.html")) as f:
                self.assertIn("checkout/StagingToProduction", f.read())
            self.assertIn("gate-results/gate-report.html", step.stdout)
            # serve reads the generated config (the flags the launcher adds win over it)
            serve_env = dict(env, UB_SERVE_TOKEN=SERVE_TOKEN)
            serve = launch.ServeProcess(BIN, target, os.path.join(self.tmp, "serve.db"),
                                        ["--config", os.path.join(target, "unbreakable.json")], env=serve_env,
                                        token=SERVE_TOKEN)
            try:
                status, _, body = serve.request("POST", "/v1/gate", {"monspec": "monspec.json",
                                                                     "compare": "checkout/StagingToProduction"})
                answer = json.loads(body)
                self.assertEqual((status, answer["status"]), (200, "success"), answer)
            finally:
                serve.stop()

    def test_check_reads_the_serve_config_as_serve_does(self):
        target, p = self.init("configs")
        self.assertEqual(p.returncode, 0, p.stderr)
        cases = [('{"listen": "0.0.0.0:8080", "workers": 1.5}', '"workers" must be a whole number from 1 to 256'),
                 ('{"listen": "everywhere"}', "must be ADDR:PORT"),
                 ('{"listen": "0.0.0.0:8080", "listne": "x"}', 'unknown setting "listne"'),
                 ('{"allow_callback": ["ftp://x/"]}', "must be an http(s) URL prefix"),
                 ('{"specs": ".", "specs": "/"}', 'duplicate key "specs"'),
                 ('[1]', "not a JSON object"),
                 ('{"bundle": "specs.tar.gz"}', "--bundle needs --pubkey"),
                 ('{"pubkey": "policy.pub"}', "--pubkey goes with --bundle")]
        config = os.path.join(target, "unbreakable.json")
        for text, message in cases:
            with open(config, "w") as f:
                f.write(text)
            p = run(["check", "unbreakable.json"], cwd=target)
            self.assertEqual(p.returncode, 1, text)
            self.assertIn("unbreakable.json:1:1: error: ", p.stdout, text)
            self.assertIn(message, p.stdout, text)
            serve = run(["serve", "--config", config, "--insecure-no-auth", "--listen", "127.0.0.1:0",
                         "--specs", "/nonexistent-specs-folder"])
            self.assertEqual(serve.returncode, 2, text)  # serve refuses the same file
        settings = os.path.join(target, "selfheal.json")
        for text, severity, message in (('{"dry-run": true}', "warning", '$.dry-run: unknown setting'),
                                        ('{"window_minutes": 0}', "error", "from 1 to 10080"),
                                        ('{"dry_run": "yes"}', "error", "true or false"),
                                        ('{"selfheal_policy": "../x.lua"}', "error", "inside the specs folder"),
                                        ('{"a": 1, "a": 2}', "error", 'duplicate key "a"')):
            with open(settings, "w") as f:
                f.write(text)
            p = run(["check", "selfheal.json"], cwd=target)
            self.assertEqual(p.returncode, 1 if severity == "error" else 0, text)
            self.assertIn(": %s: " % severity, p.stdout, text)
            self.assertIn(message, p.stdout, text)

    def test_the_installed_binary_finds_its_templates(self):
        """cmake --install puts the templates beside the stdlib (share/unbreakable/templates/init),
        with ci/*.sh executable; init run from there writes the same project."""
        build = os.environ.get("UB_BUILD")
        if not build or not shutil.which("cmake"):
            print("no build folder or cmake: skipped")
            sys.exit(77)
        root = os.path.join(self.tmp, "root")
        p = subprocess.run(["cmake", "--install", build], env=dict(os.environ, DESTDIR=root), capture_output=True,
                           text=True, timeout=scaled(120))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        share = [os.path.join(top, "unbreakable") for top, dirs, _ in os.walk(root) if "unbreakable" in dirs
                 and os.path.isdir(os.path.join(top, "unbreakable", "templates"))]
        self.assertEqual(len(share), 1, share)
        env = dict(os.environ, UB_TEMPLATES=os.path.join(share[0], "templates", "init"),
                   UB_POLICIES=os.path.join(share[0], "policies"), UB_STDLIB=os.path.join(share[0], "stdlib"))
        target = os.path.join(self.tmp, "installed")
        p = run(["init", target, "--service", "checkout", "--non-interactive", "--ci", "github"], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.access(os.path.join(target, "ci", "gate.sh"), os.X_OK))
        self.assertTrue(os.path.isfile(os.path.join(target, ".github", "workflows", "release.yml")))
        self.assertFalse(os.path.exists(os.path.join(target, "make-recordings.py")))
        p = run(["test"], cwd=target, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # without templates, init says where it looked
        p = run(["init", os.path.join(self.tmp, "none"), "--non-interactive"],
                env=dict(env, UB_TEMPLATES=os.path.join(self.tmp, "missing")))
        self.assertEqual(p.returncode, 3)
        self.assertIn("templates folder", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "none")))

    # ---- never overwrite ----
    def test_refuses_to_overwrite_and_writes_nothing(self):
        target, p = self.init("twice")
        self.assertEqual(p.returncode, 0, p.stderr)
        monspec = os.path.join(target, "monspec.json")
        with open(monspec, "w") as f:
            f.write("{}")
        os.remove(os.path.join(target, "README.md"))
        _, p = self.init("twice")
        self.assertEqual(p.returncode, 2)
        self.assertIn("monspec.json", p.stderr)
        self.assertIn("nothing was written", p.stderr)
        self.assertNotIn("README.md", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(target, "README.md")), "nothing at all is written")
        with open(monspec) as f:
            self.assertEqual(f.read(), "{}")
        # a link in the way counts too, and is never followed
        outside = os.path.join(self.tmp, "outside.txt")
        with open(outside, "w") as f:
            f.write("keep")
        linked = os.path.join(self.tmp, "linked")
        os.makedirs(linked)
        os.symlink(outside, os.path.join(linked, "slo.yaml"))
        _, p = self.init("linked")
        self.assertEqual(p.returncode, 2)
        self.assertIn("slo.yaml", p.stderr)
        self.assertEqual(os.listdir(linked), ["slo.yaml"])

    def test_a_file_where_a_folder_goes(self):
        afile = os.path.join(self.tmp, "afile")
        with open(afile, "w") as f:
            f.write("x")
        p = run(["init", afile, "--non-interactive", "--force"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("afile is not a folder", p.stderr)
        target = os.path.join(self.tmp, "partly")
        os.makedirs(target)
        with open(os.path.join(target, "policies"), "w") as f:
            f.write("x")
        for force in ([], ["--force"]):
            p = run(["init", target, "--non-interactive"] + force)
            self.assertEqual(p.returncode, 2)
            self.assertIn("policies is not a folder", p.stderr)
            self.assertEqual(os.listdir(target), ["policies"], "nothing was written")

    def test_force_overwrites(self):
        target, p = self.init("forced")
        self.assertEqual(p.returncode, 0, p.stderr)
        monspec = os.path.join(target, "monspec.json")
        with open(monspec, "w") as f:
            f.write("{}")
        link_target = os.path.join(self.tmp, "outside.txt")
        with open(link_target, "w") as f:
            f.write("keep")
        os.remove(os.path.join(target, "slo.yaml"))
        os.symlink(link_target, os.path.join(target, "slo.yaml"))
        _, p = self.init("forced", "--force")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(monspec) as f:
            self.assertIn("checkout", json.load(f))
        self.assertFalse(os.path.islink(os.path.join(target, "slo.yaml")), "the link is replaced, not followed")
        with open(link_target) as f:
            self.assertEqual(f.read(), "keep")
        self.assert_checks_and_tests(target)

    def test_into_a_folder_with_other_files(self):
        target = os.path.join(self.tmp, "existing")
        os.makedirs(os.path.join(target, "src"))
        with open(os.path.join(target, "src", "main.c"), "w") as f:
            f.write("int main(void) { return 0; }\n")
        p = run(["init", "--non-interactive", "--ci", "gitlab"], cwd=target)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(target, "monspec.json")) as f:
            self.assertIn("existing", json.load(f), "the folder's name is the default service")
        with open(os.path.join(target, ".gitlab-ci.yml")) as f:
            self.assertIn(TENANT.replace("abc12345", "YOUR-ENVIRONMENT-ID"), f.read())

    # ---- on a terminal ----
    def test_interactive_through_a_pty(self):
        target = os.path.join(self.tmp, "asked")
        master, slave = os.openpty()
        proc = subprocess.Popen([BIN, "init", target], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        seen = b""

        def expect(text):
            nonlocal seen
            deadline = time.monotonic() + scaled(30)
            while text.encode() not in seen:
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, "waiting for %r, got %r" % (text, seen))
                ready, _, _ = select.select([master], [], [], left)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        chunk = b""
                    self.assertTrue(chunk, "init ended before %r: %r" % (text, seen))
                    seen += chunk
            seen = seen[seen.index(text.encode()) + len(text):]

        try:
            expect("service name (asked): ")
            os.write(master, b"bad name\n")            # refused, asked again
            expect("may hold only letters")
            expect("service name (asked): ")
            os.write(master, b"orders\n")              # one answer typed
            expect("Dynatrace environment URL (https://YOUR-ENVIRONMENT-ID.live.dynatrace.com): ")
            os.write(master, b"\n")                    # the default
            expect("CI system (azure, github, gitlab) (azure): ")
            os.write(master, b"\n")
            expect("wrote")
            self.assertEqual(proc.wait(timeout=scaled(30)), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        with open(os.path.join(target, "monspec.json")) as f:
            self.assertIn("orders", json.load(f))
        with open(os.path.join(target, "azure-pipelines.yml")) as f:
            self.assertIn("https://YOUR-ENVIRONMENT-ID.live.dynatrace.com", f.read())

    def test_not_a_terminal_never_asks(self):
        target = os.path.join(self.tmp, "piped")
        p = subprocess.run([BIN, "init", target], input="orders\n", capture_output=True, text=True,
                           timeout=scaled(60))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("service name (", p.stdout)
        with open(os.path.join(target, "monspec.json")) as f:
            self.assertIn("piped", json.load(f))

    # ---- hostile values ----
    def test_hostile_values_are_refused_before_anything_is_written(self):
        services = ['a"b', "a b", "a\nb", "../x", "x/y", "x}", "${x}", "$(id)", "-x", ".x", "a" * 64, "caf\u00e9",
                    "a'b", "a#b", "a:b", "{{service}}", "a\\b", ""]
        for service in services:
            target = os.path.join(self.tmp, "hostile")
            p = run(["init", target, "--service", service, "--tenant", TENANT, "--non-interactive"])
            self.assertEqual(p.returncode, 2, service)
            self.assertIn("--service", p.stderr, service)
            self.assertFalse(os.path.exists(target), service)
        tenants = ['https://x.com/"', "https://x .com", "ftp://x.com", "http://example.com", "https://x.com/#a",
                   "https://x.com/$(id)", "https://x.com/{{tenant}}", "https://x.com/?a=b", "https://", "abc",
                   "https://x.com:80a", "https://-x.com", "https://x.com/\u202e", "https://x.com/\x1b[2J",
                   "https://x.com/'", "https://x.com/a\nb"]
        for tenant in tenants:
            target = os.path.join(self.tmp, "hostile")
            p = run(["init", target, "--service", "ok", "--tenant", tenant, "--non-interactive"])
            self.assertEqual(p.returncode, 2, tenant)
            self.assertIn("--tenant", p.stderr, tenant)
            self.assertNotIn("\x1b", p.stderr)
            self.assertFalse(os.path.exists(target), tenant)
        p = run(["init", os.path.join(self.tmp, "h"), "--ci", "jenkins", "--non-interactive"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("azure, github or gitlab", p.stderr)

    def test_a_folder_name_reaches_the_terminal_safely(self):
        target = os.path.join(self.tmp, "x\x1b[2Jy\u202e")
        for expected in (0, 2):  # written, then refused as existing: both print DIR
            p = run(["init", target, "--non-interactive"])
            self.assertEqual(p.returncode, expected, p.stderr)
            self.assertNotIn("\x1b", p.stdout + p.stderr)
            self.assertNotIn("\u202e", p.stdout + p.stderr)
        with open(os.path.join(target, "monspec.json")) as f:
            self.assertIn("my-service", json.load(f), "a folder name that is no service name is not used")

    def test_loopback_http_and_a_trailing_slash(self):
        target, p = self.init("loop", "--ci", "github")
        self.assertEqual(p.returncode, 0)
        p = run(["init", os.path.join(self.tmp, "sim"), "--tenant", "http://127.0.0.1:9480/", "--non-interactive"])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.tmp, "sim", "azure-pipelines.yml")) as f:
            self.assertEqual(yaml.safe_load(f)["variables"]["DT_TENANT_URL"], "http://127.0.0.1:9480")


if __name__ == "__main__":
    unittest.main()
