"""The Azure DevOps extension (extension/): its manifest builds into a .vsix
with the pinned tfx-cli (extension/build.sh), every task the manifest names is
in it; the two gate tasks' request templates (URL, body, headers, completion
mode, success criterion), rendered with sample pipeline variables the way
Azure DevOps does it (textual $(name) substitution, names case-insensitive,
an undefined variable left as written), are accepted by a running `serve`
(launch.ServeProcess against the Dynatrace and Azure DevOps simulators) in
sync and callback mode; the deployment-event task (Node) runs
`unbreakable deploy-event` with the original task's inputs.

Skipped (exit 77) when node or npm is missing or tfx-cli is not installed
in extension/node_modules: `./setup.sh --test` installs all three."""
import base64
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest
import urllib.request
import zipfile

SRC = os.environ.get("UB_SOURCE", ".")
BIN = os.environ.get("UB_BIN", os.path.join(SRC, "build", "unbreakable"))
EXT = os.path.join(SRC, "extension")
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
import azure_devops_sim  # noqa: E402
import dynatrace_sim  # noqa: E402
from launch import ServeProcess, run_unless, scaled, wait_for  # noqa: E402

DEMO = os.path.join(SRC, "tests", "sim", "scenarios", "demo.json")
DT_TOKEN = "dt0c01.DEMO.READONLY"
SERVE_TOKEN = "extension-serve-token-0123456789"
JOB_TOKEN = "eyJ0eXAiOiJKV1QiEXAMPLE.extension-job-token"
WAIT_S = 60

MACRO = re.compile(r"\$\(([^()]+)\)")
CRITERION = re.compile(r"^eq\(root\['(\w+)'\], '(\w+)'\)$")


def missing_tools():
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            return "%s is missing (./setup.sh --test installs it)" % tool
    if not os.path.isfile(os.path.join(EXT, "node_modules", "tfx-cli", "package.json")):
        return "tfx-cli is not installed in extension/node_modules (./setup.sh --test runs npm ci there)"
    return None


def task(folder):
    with open(os.path.join(EXT, "tasks", folder, "task.json"), encoding="utf-8") as f:
        return json.load(f)


def expand(text, variables):
    """Azure DevOps's macro substitution: textual, names case-insensitive,
    an undefined $(name) stays as written."""
    lower = {k.lower(): v for k, v in variables.items()}
    return MACRO.sub(lambda m: lower.get(m.group(1).lower(), m.group(0)), text)


def render(task_doc, given, variables, endpoint_url):
    """The HTTP request Azure DevOps makes for a server task: every input is
    its given value or its default, both expanded with the pipeline's
    variables; then the Execute section is expanded with the inputs, the
    variables and the connection's endpoint.url."""
    inputs = {}
    for i in task_doc["inputs"]:
        raw = given.get(i["name"], i.get("defaultValue", ""))
        inputs[i["name"]] = expand(raw, variables)
    names = dict(variables)
    names.update(inputs)
    names["endpoint.url"] = endpoint_url
    execute = task_doc["execution"]["HttpRequest"]["Execute"]
    return {key: expand(value, names) if isinstance(value, str) else value for key, value in execute.items()}


def criterion_holds(expression, body):
    """eq(root['status'], 'success') as Azure DevOps evaluates it: a JSON
    body whose field equals the literal, ignoring case. Any other body fails."""
    m = CRITERION.match(expression)
    if not m:
        raise AssertionError("not the criterion this test knows: %r" % expression)
    try:
        root = json.loads(body)
    except ValueError:
        return False
    value = root.get(m.group(1)) if isinstance(root, dict) else None
    return isinstance(value, str) and value.lower() == m.group(2).lower()


def pipeline_variables(ado_url, plan):
    """A classic release's gate: the variables its template names."""
    return {"System.CollectionUri": ado_url + "/", "System.TeamProjectId": plan["projectId"],
            "System.HostType": plan["hubName"], "System.PlanId": plan["planId"], "System.JobId": plan["jobId"],
            "System.TimelineId": plan["timelineId"], "System.TaskInstanceId": plan["taskInstanceId"],
            "System.AccessToken": JOB_TOKEN, "Release.ReleaseName": "Release-42",
            "Release.EnvironmentName": "Production"}


def plan(plan_id):
    return {"planId": plan_id, "projectId": "79f5c12e-3337-4151-be41-a268d2c73344", "hubName": "gates",
            "version": 14, "timelineId": "885d77a9-1452-4e4c-8666-df15cd011b6e",
            "jobId": "09ebba6f-89ed-4f55-bad9-db561b40ec8c", "taskInstanceId": "3b9c4dc6-1e5d-4379-b16c-6231d7620059",
            "token": JOB_TOKEN}


class Manifest(unittest.TestCase):
    def test_the_manifest_builds_into_a_vsix_holding_every_task(self):
        out = tempfile.mkdtemp(prefix="ub-vsix-")
        run = subprocess.run([os.path.join(EXT, "build.sh"), "--output", out], capture_output=True, text=True,
                             timeout=scaled(300))
        self.assertEqual(run.returncode, 0, run.stderr)
        vsix = run.stdout.strip().splitlines()[-1]
        self.assertTrue(vsix.endswith(".vsix") and os.path.isfile(vsix), run.stdout)
        with open(os.path.join(EXT, "vss-extension.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        with zipfile.ZipFile(vsix) as z:
            names = set(z.namelist())
            self.assertIn("extension.vsixmanifest", names)
            ids = set()
            for c in manifest["contributions"]:
                folder = c["properties"]["name"]
                doc = json.loads(z.read(folder + "/task.json"))
                self.assertRegex(doc["id"], r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
                ids.add(doc["id"])
                for handler, spec in doc["execution"].items():
                    if handler.startswith("Node"):
                        self.assertIn(folder + "/" + spec["target"], names, "%s: %s target" % (folder, handler))
            self.assertEqual(len(ids), len(manifest["contributions"]), "task ids must differ")

    def test_the_gate_tasks_differ_only_in_their_completion_mode(self):
        sync, callback = task("gate"), task("gate-callback")
        self.assertEqual(sync["inputs"], callback["inputs"])
        for doc in (sync, callback):
            self.assertEqual(doc["runsOn"], ["Server", "ServerGate"])
            execute = doc["execution"]["HttpRequest"]["Execute"]
            self.assertEqual((execute["Method"], execute["EndpointUrl"], execute["EndpointId"]),
                             ("POST", "$(endpoint.url)v1/gate", "$(connectedServiceName)"))
        s, c = sync["execution"]["HttpRequest"]["Execute"], callback["execution"]["HttpRequest"]["Execute"]
        self.assertEqual(s["Body"], c["Body"])
        self.assertEqual((s["WaitForCompletion"], s["Expression"]), ("false", "eq(root['status'], 'success')"))
        self.assertEqual((c["WaitForCompletion"], c["Expression"]), ("true", ""))
        # serve switches to callback mode on any of Azure DevOps's headers:
        # the sync template must carry none of them, the callback one all
        plan_headers = {"planurl", "projectid", "hubname", "planid", "jobid", "timelineid", "taskinstanceid",
                        "authtoken"}
        self.assertEqual({k.lower() for k in json.loads(s["Headers"])} & plan_headers, set())
        self.assertEqual({k.lower() for k in json.loads(c["Headers"])} & plan_headers, plan_headers)


class Gate(unittest.TestCase):
    """The rendered gate requests against serve, the simulators behind it."""

    @classmethod
    def setUpClass(cls):
        cls.dt = dynatrace_sim.start(DEMO, tokens=[DT_TOKEN])
        cls.ado = azure_devops_sim.start({})
        cls.specs = tempfile.mkdtemp(prefix="ub-ext-specs-")
        shutil.copy(os.path.join(SRC, "examples", "monspec", "demo.monspec.json"), cls.specs)
        cls.ledger = os.path.join(tempfile.mkdtemp(prefix="ub-ext-"), "ledger.db")
        env = dict(os.environ, DT_TENANT_URL=cls.dt.url, DT_API_TOKEN=DT_TOKEN, UB_SERVE_TOKEN=SERVE_TOKEN)
        env.pop("DT_API_TOKEN_FILE", None)
        env.pop("UB_SERVE_TOKEN_FILE", None)
        try:
            cls.srv = ServeProcess(BIN, cls.specs, cls.ledger, ("--workers", "2", "--allow-callback",
                                                                cls.ado.url + "/"), env=env, token=None)
        except BaseException:
            cls.dt.stop()
            cls.ado.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.dt.stop()
        cls.ado.stop()

    def send(self, folder, given, variables):
        """Renders the task and sends its request as Azure DevOps would, with
        the generic connection's Basic authentication (password = token)."""
        endpoint = "http://127.0.0.1:%d/" % self.srv.port
        req = render(task(folder), dict({"monspec": "demo.monspec.json", "serviceToCompare": "CheckoutService/StagingToProduction"},
                                       **given), variables, endpoint)
        self.assertTrue(req["EndpointUrl"].startswith(endpoint), req["EndpointUrl"])
        headers = json.loads(req["Headers"])
        headers["Authorization"] = "Basic " + base64.b64encode(b"azure-devops:" + SERVE_TOKEN.encode()).decode()
        status, _, body = self.srv.request(req["Method"], req["EndpointUrl"][len(endpoint) - 1:], req["Body"],
                                           headers=headers, token=None)
        return req, status, body

    def sync(self, given, variables=None):
        req, status, body = self.send("gate", given, variables or pipeline_variables(self.ado.url, plan("x")))
        return status, json.loads(body) if body else None, criterion_holds(req["Expression"], body)

    def test_sync_a_good_release_passes_with_its_labels_recorded(self):
        status, v, passed = self.sync({})
        self.assertEqual((status, v["status"], v["verdict"], passed), (200, "success", "pass", True), v)
        status, _, data = self.srv.request("GET", "/v1/evaluations/%d" % v["evaluation"], token=SERVE_TOKEN)
        self.assertEqual(status, 200)
        self.assertIn("Release-42", json.dumps(json.loads(data)["request"]))

    def test_sync_a_bad_release_fails_the_criterion(self):
        status, v, passed = self.sync({"serviceToCompare": "CheckoutService/CanaryToProduction"})
        self.assertEqual((status, v["status"], v["verdict"], passed), (200, "failure", "fail", False), v)

    def test_sync_pull_and_fail_on_warning_reach_the_gate(self):
        status, v, _ = self.sync({"compareType": "pull", "serviceToCompare": "CheckoutService/Staging",
                                  "compareShift": "0", "failOnWarning": "true"})
        self.assertEqual(status, 200, v)
        self.assertIn(v["status"], ("success", "failure"), v)     # decided: the request was understood

    def test_sync_an_undefined_variable_fails_closed(self):
        # "$(gateWindow)" left as written is not a number: the body is not JSON
        status, v, passed = self.sync({"compareWindow": "$(gateWindow)"})
        self.assertEqual((status, passed), (400, False), v)

    def test_callback_is_accepted_then_completed_once(self):
        p = plan("22222222-0000-0000-0000-000000000001")
        self.ado.state.add_plan(p)
        req, status, body = self.send("gate-callback", {}, pipeline_variables(self.ado.url, p))
        self.assertEqual(req["WaitForCompletion"], "true")
        v = json.loads(body)
        self.assertEqual((status, v["status"]), (200, "accepted"), v)
        self.assertIsInstance(v["evaluation"], int)

        def closed():
            db = sqlite3.connect("file:%s?mode=ro" % self.ledger, uri=True, timeout=scaled(WAIT_S))
            try:
                row = db.execute("SELECT state FROM pending_callbacks WHERE plan_id = ?", (p["planId"],)).fetchone()
                return row and row[0] != "pending"
            finally:
                db.close()
        wait_for(closed, WAIT_S, "the callback of the rendered request to be closed")
        done = self.ado.state.plan_views()[p["planId"]]
        self.assertEqual((done["result"], done["completions"]), ("succeeded", 1), done)
        self.assertNotIn(JOB_TOKEN, self.srv.text())


class DeploymentEvent(unittest.TestCase):
    """The Node task with the original's inputs, as INPUT_* variables."""

    SCENARIO = {
        "about": "deployment-event task: one service tagged for production",
        "tokens": {"dt0c01.EXTENSION.TASKTOKEN.SECRET": ["events.ingest", "DataExport"]},
        "entities": [{"entityId": "SERVICE-PRD1", "displayName": "checkout",
                      "tags": [{"context": "ENVIRONMENT", "key": "DEPLOYMENT_GROUP_NAME", "value": "Production"}]}],
    }
    TOKEN = "dt0c01.EXTENSION.TASKTOKEN.SECRET"

    @classmethod
    def setUpClass(cls):
        cls.dt = dynatrace_sim.start(cls.SCENARIO)
        cls.tmp = tempfile.mkdtemp(prefix="ub-ext-task-")

    @classmethod
    def tearDownClass(cls):
        cls.dt.stop()

    def run_task(self, **inputs):
        doc = task("deployment-event")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp,
               "UB_LEDGER": os.path.join(self.tmp, "ledger.db"), "RELEASE_RELEASEID": "42",
               "RELEASE_ENVIRONMENTNAME": "Production", "SYSTEM_TEAMPROJECT": "SampleProject"}
        values = {i["name"]: i.get("defaultValue", "") for i in doc["inputs"]}
        values.update({"dtToken": self.TOKEN, "dtTenantUrl": self.dt.url, "tagValue": "Production",
                       "deploymentName": "SampleDevOpsPipeline", "deploymentVersion": "Release-42",
                       "unbreakablePath": BIN})
        values.update(inputs)
        for name, value in values.items():
            if value is not None:
                env["INPUT_" + name.upper()] = value
        run = subprocess.run(["node", os.path.join(EXT, "tasks", "deployment-event", doc["execution"]["Node20_1"]
                                                   ["target"])], capture_output=True, text=True, env=env,
                             timeout=scaled(120))
        out = run.stdout + run.stderr
        self.assertNotIn(self.TOKEN, out.replace("##vso[task.setsecret]" + self.TOKEN, ""))
        return run.returncode, out

    def posted(self, path):
        with urllib.request.urlopen(self.dt.url + "/_sim/requests", timeout=scaled(10)) as r:
            reqs = [x for x in json.loads(r.read())["requests"] if x["path"] == path]
        return [json.loads(x["body"]) for x in reqs]

    def test_v2_event_carries_the_original_inputs_and_the_release_context(self):
        before = len(self.posted("/api/v2/events/ingest"))
        code, out = self.run_task()
        self.assertEqual(code, 0, out)
        self.assertIn("##vso[task.complete result=Succeeded;]", out)
        bodies = self.posted("/api/v2/events/ingest")[before:]
        self.assertEqual(len(bodies), 1, out)
        b = bodies[0]
        self.assertEqual(b["entitySelector"], 'type(SERVICE),tag("[ENVIRONMENT]DEPLOYMENT_GROUP_NAME:Production")')
        props = b["properties"]
        self.assertEqual((props["dt.event.deployment.name"], props["dt.event.deployment.version"],
                          props["dt.event.deployment.project"], props["ado.releaseId"]),
                         ("SampleDevOpsPipeline", "Release-42", "SampleProject", "42"))
        # defaults naming variables this "pipeline" does not define are left out
        self.assertNotIn("GitCommit", props)
        self.assertNotIn("$(", json.dumps(b))

    def test_v1_event_is_the_original_body(self):
        before = len(self.posted("/api/v1/events"))
        code, out = self.run_task(eventApi="v1", jenkinsUrl="https://dev.azure.com/myorg/",
                                  buildUrl="vstfs:///ReleaseManagement/Release/42", gitCommit="2f435d07")
        self.assertEqual(code, 0, out)
        b = self.posted("/api/v1/events")[before:][0]
        self.assertEqual(b["source"], "VSTS")
        self.assertEqual(b["attachRules"]["tagRule"][0]["tags"],
                         [{"context": "ENVIRONMENT", "key": "DEPLOYMENT_GROUP_NAME", "value": "Production"}])
        for key, value in (("JenkinsUrl", "https://dev.azure.com/myorg/"),
                           ("BuildUrl", "vstfs:///ReleaseManagement/Release/42"), ("GitCommit", "2f435d07")):
            self.assertEqual(b["customProperties"][key], value)

    def test_no_entity_matched_fails_the_task(self):
        code, out = self.run_task(tagValue="Nowhere")
        self.assertNotEqual(code, 0, out)
        self.assertIn("##vso[task.complete result=Failed;]", out)

    def test_a_missing_input_or_program_fails_the_task_saying_why(self):
        code, out = self.run_task(dtTenantUrl="$(dynatraceTenantUrl)")
        self.assertNotEqual(code, 0, out)
        self.assertIn("missing input dtTenantUrl", out)
        code, out = self.run_task(unbreakablePath=os.path.join(self.tmp, "no-such-unbreakable"))
        self.assertNotEqual(code, 0, out)
        self.assertIn("install unbreakable on the agent", out)


if __name__ == "__main__":
    run_unless(missing_tools())
