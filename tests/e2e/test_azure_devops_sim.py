"""Tests of the Azure DevOps simulator itself (tests/sim/azure_devops_sim.py):
the plan API's checks (api-version, token, the hub rules of TaskCompleted),
its error envelope, faults, the request log's redaction, and the Release API
served from the fixtures."""
import base64
import copy
import json
import os
import sys
import unittest
import urllib.error
import urllib.request

SRC = os.environ.get("UB_SOURCE", ".")
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
import azure_devops_sim  # noqa: E402

FIX = os.path.join(SRC, "tests", "fixtures", "azure-devops")
PROJECT = "79f5c12e-3337-4151-be41-a268d2c73344"
JOB_TOKEN = "job-token-for-the-plan"
PAT = "personal-access-token-1"


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)


def scenario():
    release42 = fixture("release_GET_200_trimmed_constructed.json")
    release41 = copy.deepcopy(release42)
    release41.update(id=41, name="Release-41")
    for env in release41["environments"]:
        env["id"] -= 4
        env["releaseId"] = 41
    return {"pats": [PAT],
            "plans": [{"planId": "p-old", "projectId": PROJECT, "hubName": "Gates", "version": 12,
                       "timelineId": "tl", "jobId": "job", "taskInstanceId": "task", "token": JOB_TOKEN}],
            "releases": {PROJECT: [release42, release41]},
            "deployments": {PROJECT: fixture("deployments_list_200_succeeded_descending_constructed.json")["value"]},
            "builds": {PROJECT: [{"id": 100, "buildNumber": "1", "status": "completed", "result": "succeeded",
                                  "definition": {"id": 12}, "stages": ["Production"]}]},
            "environments": {PROJECT: [
                {"id": 5, "name": "production", "records": [
                    {"id": 1, "environmentId": 5, "stageName": "Production", "owner": {"id": 100, "name": "1"},
                     "definition": {"id": 12, "name": "app"}, "planType": "Build", "result": "succeeded",
                     "startTime": "2026-12-01T10:00:00Z", "finishTime": "2026-12-01T10:01:00Z"}]},
                {"id": 6, "name": "staging", "records": []}]}}


class Sim(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = azure_devops_sim.start(scenario())

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def call(self, method, path, body=None, token=JOB_TOKEN, basic=False):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = ("Basic " + base64.b64encode((":" + token).encode()).decode()) if basic \
                else "Bearer " + token
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.sim.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None, dict(r.headers)
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read()), dict(err.headers)

    def plan_path(self, plan="p-old", hub="Gates"):
        return "/%s/_apis/distributedtask/hubs/%s/plans/%s" % (PROJECT, hub, plan)

    def test_plan_and_the_gates_rule(self):
        status, plan, _ = self.call("GET", self.plan_path() + "?api-version=4.1")
        self.assertEqual((status, plan["version"], plan["timeline"]["id"]), (200, 12, "tl"))
        wrong = {"name": "TaskCompleted", "taskId": "task", "jobId": "job", "result": "succeeded"}
        status, err, _ = self.call("POST", self.plan_path() + "/events?api-version=2.0-preview.1", wrong)
        self.assertEqual((status, err["typeKey"]), (404, "TaskNotFoundException"))
        for key in ("$id", "innerException", "message", "typeName", "typeKey", "errorCode", "eventId"):
            self.assertIn(key, err)
        right = fixture("callback_POST-events_TaskCompleted_request_gates-plan-v12-or-older.json")
        right = dict(right, jobId="task")
        status, _, _ = self.call("POST", self.plan_path() + "/events?api-version=2.0-preview.1", right, basic=True)
        self.assertEqual(status, 204)
        views = self.sim.state.plan_views()["p-old"]
        self.assertEqual((views["completions"], views["result"]), (1, "failed"))
        self.assertNotIn("token", views)

    def test_api_version_token_and_unknown_plan(self):
        status, err, _ = self.call("GET", self.plan_path())
        self.assertEqual((status, err["typeKey"]), (400, "VssVersionNotSpecifiedException"))
        status, err, _ = self.call("GET", self.plan_path() + "?api-version=99.0")
        self.assertEqual((status, err["typeKey"]), (400, "VssVersionOutOfRangeException"))
        status, err, _ = self.call("GET", self.plan_path() + "?api-version=4.1", token="not-the-job-token")
        self.assertEqual(status, 401)
        self.assertIn("TF400813", err["message"])
        status, _, _ = self.call("GET", self.plan_path("nope") + "?api-version=4.1")
        self.assertEqual(status, 404)

    def test_feed_and_redaction(self):
        feed = fixture("callback_POST-feed_request.json")
        feed["value"].append("the token " + JOB_TOKEN + " must not be kept")
        status, _, _ = self.call("POST", self.plan_path() + "/timelines/tl/records/job/feed?api-version=4.1", feed)
        self.assertEqual(status, 204)
        lines = [x["line"] for x in self.sim.state.plan_views()["p-old"]["feed"]]
        self.assertEqual(len(lines), 3)
        self.assertNotIn(JOB_TOKEN, json.dumps(self.sim.state.requests))
        self.assertNotIn(JOB_TOKEN, json.dumps(lines))

    def test_faults(self):
        self.sim.state.add_faults([{"pathRegex": "/plans/p-old$", "status": 429, "retryAfter": 2, "times": 1}])
        status, err, headers = self.call("GET", self.plan_path() + "?api-version=4.1")
        self.assertEqual((status, headers.get("Retry-After")), (429, "2"))
        status, _, _ = self.call("GET", self.plan_path() + "?api-version=4.1")
        self.assertEqual(status, 200)

    def test_environments_api(self):
        base = "/%s/_apis/distributedtask/environments" % PROJECT
        status, doc, _ = self.call("GET", base + "?name=PRODUCTION&api-version=7.1", token=PAT)
        self.assertEqual((status, doc["count"], doc["value"][0]["id"]), (200, 1, 5))
        self.assertNotIn("records", doc["value"][0])
        status, doc, _ = self.call("GET", base + "?api-version=7.1-preview.1", token=PAT)
        self.assertEqual([e["name"] for e in doc["value"]], ["production", "staging"])
        status, doc, _ = self.call("GET", base + "/5/environmentdeploymentrecords?top=10&api-version=7.1", token=PAT)
        self.assertEqual((status, [r["owner"]["id"] for r in doc["value"]]), (200, [100]))
        status, err, _ = self.call("GET", base + "/9/environmentdeploymentrecords?api-version=7.1", token=PAT)
        self.assertEqual((status, err["typeKey"]), (404, "EnvironmentNotFoundException"))
        status, err, _ = self.call("GET", base + "/5", token=PAT)
        self.assertEqual((status, err["typeKey"]), (400, "VssVersionNotSpecifiedException"))
        status, _, _ = self.call("GET", base + "/5?api-version=7.1", token="wrong")
        self.assertEqual(status, 401)
        # re-running the stage of a run that deployed there starts a new, unfinished record
        status, _, _ = self.call("PATCH", "/%s/_apis/build/builds/100/stages/Production?api-version=7.1" % PROJECT,
                                 {"state": "retry", "forceRetryAllJobs": True}, token=PAT)
        self.assertEqual(status, 204)
        status, doc, _ = self.call("GET", base + "/5/environmentdeploymentrecords?api-version=7.1", token=PAT)
        self.assertEqual([r["id"] for r in doc["value"]], [2, 1])
        self.assertNotIn("result", doc["value"][0])
        self.assertNotIn("finishTime", doc["value"][0])

    def test_release_api(self):
        status, release, _ = self.call("GET", "/%s/_apis/release/releases/42?api-version=7.1" % PROJECT, token=PAT)
        self.assertEqual((status, release["name"], len(release["environments"])), (200, "Release-42", 2))
        status, listed, _ = self.call("GET", "/%s/_apis/release/releases?definitionId=7&api-version=7.1" % PROJECT,
                                      token=PAT)
        self.assertEqual([r["id"] for r in listed["value"]], [42, 41])
        self.assertNotIn("environments", listed["value"][0])
        status, deps, _ = self.call("GET", "/%s/_apis/release/deployments?definitionId=7&definitionEnvironmentId=2"
                                    "&deploymentStatus=succeeded&queryOrder=descending&$top=10&api-version=7.1"
                                    % PROJECT, token=PAT)
        self.assertEqual([d["release"]["id"] for d in deps["value"]], [42, 41])
        body = fixture("release-environment_PATCH_request_original-selfhealing.json")
        status, env, _ = self.call("PATCH", "/%s/_apis/Release/releases/41/environments/98?api-version=7.1" % PROJECT,
                                   body, token=PAT)
        self.assertEqual((status, env["status"]), (200, "queued"))
        status, _, _ = self.call("PATCH", "/%s/_apis/Release/releases/41/environments/101?api-version=7.1" % PROJECT,
                                 fixture("release-environment_PATCH_request.json"), token=PAT)
        self.assertEqual(status, 404)
        status, err, _ = self.call("GET", "/%s/_apis/release/releases/7?api-version=7.1" % PROJECT, token=PAT)
        self.assertEqual(status, 404)
        self.assertIn("VS402880", err["message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
