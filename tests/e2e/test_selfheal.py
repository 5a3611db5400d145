"""End-to-end tests of self-healing (docs/selfheal.md): the real binary
(`serve` with POST /v1/problems and its healing worker, `selfheal`,
`deploy-event`, `history`) against the Dynatrace and Azure DevOps
simulators. deploy-event records release 41 then 42 to Production; a problem
on that service must end in exactly one redeploy PATCH of 41 to Production
and one problem comment, whatever happens in between: duplicates, a storm of
20 copies, a kill -9 of serve between the call and its confirmation, Azure
DevOps answering 500 and 429. Waits are on conditions, never sleeps alone."""
import concurrent.futures
import copy
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

SRC = os.environ.get("UB_SOURCE", ".")
BIN = os.environ.get("UB_BIN", os.path.join(SRC, "build", "unbreakable"))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
import azure_devops_sim  # noqa: E402
import dynatrace_sim  # noqa: E402
import launch  # noqa: E402

FIX = os.path.join(SRC, "tests", "fixtures")
DEMO = os.path.join(SRC, "tests", "sim", "scenarios", "demo.json")
DT_TOKEN = "dt0c01.DEMO.ALLSCOPES"
TOKEN = "serve-token-0123456789abcdef"
PAT = "ado-pat-0123456789abcdefghij"
SLOW = max(1, round(float(os.environ.get("UB_TIME_SCALE", "1"))))  # 4 under ASan (tests/CMakeLists.txt)
WAIT = 60 * SLOW

SERVICE = "SERVICE-C4EC4A0E5A3B1001"        # checkout, tagged Production
QUIET = "SERVICE-C4EC4A0E5A3B1002"          # checkout in Staging: never deployed here
PID = "-5823370287731021622_1641224100000V2"
PID_QUIET = "-1111111111111111111_1641224100000V2"
PROJECT = "SampleProject"
PROJECT_ID = "79f5c12e-3337-4151-be41-a268d2c73344"


def wait_for(cond, what, seconds=60):
    return launch.wait_for(cond, seconds, what, interval=0.05)


def load_fixture(*parts):
    with open(os.path.join(FIX, *parts)) as f:
        return json.load(f)


def dt_scenario():
    with open(DEMO) as f:
        doc = json.load(f)
    template = doc["problems"][0]
    doc["problems"] = []
    for pid, display, entity in ((PID, "P-22013995", SERVICE), (PID_QUIET, "P-22013996", QUIET)):
        p = copy.deepcopy(template)
        p.update({"problemId": pid, "displayId": display, "startTime": "now-5m"})
        ref = [{"entityId": {"id": entity, "type": "SERVICE"}, "name": "checkout"}]
        p["affectedEntities"] = p["impactedEntities"] = ref
        p["rootCauseEntity"] = ref[0]
        doc["problems"].append(p)
    return doc


def ado_scenario():
    """Releases 41 and 42 of definition 7, both deployed successfully to Production (42 last)."""
    r42 = load_fixture("azure-devops", "release_GET_200_trimmed_constructed.json")
    r41 = json.loads(json.dumps(r42).replace("Release-42", "Release-41").replace("releases/42", "releases/41"))
    r41["id"] = 41
    for env, env_id in zip(r41["environments"], (97, 98)):
        env["id"], env["releaseId"], env["release"]["id"] = env_id, 41, 41
    deployments = load_fixture("azure-devops", "deployments_list_200_succeeded_descending_constructed.json")["value"]
    builds = [{"id": run, "buildNumber": "2026120%d.1" % (run - 99), "status": "completed", "result": "succeeded",
               "definition": {"id": 12, "name": "checkout-yaml"}, "stages": ["Build", "Production"]}
              for run in (100, 101)]
    records = [environment_record(i, run) for i, run in ((1, 100), (2, 101))]
    environments = [{"id": 5, "name": "production", "description": "", "project": {"id": PROJECT_ID, "name": PROJECT},
                     "createdOn": "2026-11-01T09:00:00Z", "lastModifiedOn": "2026-12-01T10:00:00Z",
                     "records": records}]
    return {"pats": [PAT], "releases": {PROJECT: [r41, r42]}, "deployments": {PROJECT: deployments},
            "builds": {PROJECT: builds}, "environments": {PROJECT: environments}}


def environment_record(record_id, run, definition=(12, "checkout-yaml"), result="succeeded"):
    """A deployment record of environment 5 (Environmentdeployment Records - List): stage Production
    of run `run` of the pipeline `definition`; result None: still running (no result, no finishTime)."""
    r = {"id": record_id, "requestIdentifier": "req-%d" % record_id, "environmentId": 5,
         "serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7", "planId": "plan-%d" % run, "planType": "Build",
         "scopeId": PROJECT_ID, "stageName": "Production", "jobName": "Deploy", "stageAttempt": 1, "jobAttempt": 1,
         "definition": {"id": definition[0], "name": definition[1]},
         "owner": {"id": run, "name": "2026120%d.1" % (run - 99) if run < 110 else str(run)},
         "queueTime": "2026-12-01T10:0%d:00Z" % record_id, "startTime": "2026-12-01T10:0%d:05Z" % record_id}
    if result:
        r.update({"result": result, "finishTime": "2026-12-01T10:0%d:50Z" % record_id})
    return r


def payload(state="OPEN", pid=PID, display="P-22013995", entity=SERVICE, start=None):
    details = {"id": pid, "displayName": display, "status": "OPEN" if state == "OPEN" else "CLOSED",
               "startTime": start or int(time.time() * 1000), "endTime": -1}
    return {"State": state, "ProblemID": display, "PID": pid, "ProblemTitle": "Response time degradation",
            "ProblemImpact": "SERVICE", "ImpactedEntity": "checkout", "Tags": "app:checkout",
            "ImpactedEntities": [{"entity": entity, "name": "checkout", "type": "SERVICE"}],
            "ProblemDetails": details}


class Harness:
    """Both simulators, a ledger, and serve started on demand."""

    def __init__(self):
        self.dt = dynatrace_sim.start(dt_scenario(), tokens=[DT_TOKEN])
        self.ado = azure_devops_sim.start(ado_scenario())
        self.dir = launch.temp_dir("ub-heal-")
        self.ledger = os.path.join(self.dir, "ledger.db")
        self.specs = os.path.join(self.dir, "specs")
        os.mkdir(self.specs)
        self.ado_url = "http://127.0.0.1:%d" % self.ado.port
        self.env = dict(os.environ, DT_TENANT_URL="http://127.0.0.1:%d" % self.dt.port, DT_API_TOKEN=DT_TOKEN,
                        AZURE_DEVOPS_ORG_URL=self.ado_url, AZURE_DEVOPS_RELEASE_URL=self.ado_url,
                        AZURE_DEVOPS_TOKEN=PAT, UB_SERVE_TOKEN=TOKEN, UB_LEDGER=self.ledger)
        for k in ("DT_API_TOKEN_FILE", "AZURE_DEVOPS_TOKEN_FILE", "UB_SERVE_TOKEN_FILE", "UB_PUBLIC_URL"):
            self.env.pop(k, None)
        self.serve = None

    def close(self):
        self.stop()
        self.dt.stop()
        self.ado.stop()

    # ---- the pipeline's side ----
    def deploy(self, release, collection=None):
        env = dict(self.env, RELEASE_RELEASEID=str(release), RELEASE_RELEASENAME="Release-%d" % release,
                   RELEASE_DEFINITIONNAME="SampleDevOpsPipeline", RELEASE_DEFINITIONID="7",
                   RELEASE_ENVIRONMENTNAME="Production", RELEASE_DEFINITIONENVIRONMENTID="2",
                   RELEASE_ENVIRONMENTID=str(102 if release == 42 else 98), SYSTEM_TEAMPROJECT=PROJECT,
                   SYSTEM_TEAMFOUNDATIONCOLLECTIONURI=collection or self.ado_url + "/",
                   SYSTEM_TEAMFOUNDATIONSERVERURI=self.ado_url + "/")
        p = subprocess.run([BIN, "deploy-event", "--entity-selector", 'entityId("%s")' % SERVICE, "--no-ledger"],
                           capture_output=True, text=True, env=env, timeout=WAIT)
        assert p.returncode == 0, p.stderr

    def deploy_yaml(self, run):
        """deploy-event from a YAML pipeline's deployment job (TF_BUILD, BUILD_BUILDID, SYSTEM_STAGENAME)."""
        env = dict(self.env, TF_BUILD="True", BUILD_BUILDID=str(run), BUILD_BUILDNUMBER="2026120%d.1" % (run - 99),
                   BUILD_DEFINITIONNAME="checkout-yaml", SYSTEM_DEFINITIONID="12", SYSTEM_STAGENAME="Production",
                   ENVIRONMENT_NAME="production", SYSTEM_TEAMPROJECT=PROJECT,
                   SYSTEM_TEAMFOUNDATIONCOLLECTIONURI=self.ado_url + "/")
        for k in [k for k in env if k.startswith("RELEASE_")]:
            env.pop(k)
        p = subprocess.run([BIN, "deploy-event", "--entity-selector", 'entityId("%s")' % SERVICE, "--no-ledger"],
                           capture_output=True, text=True, env=env, timeout=WAIT)
        assert p.returncode == 0, p.stderr

    # ---- serve (tests/sim/launch.py) ----
    def start(self, *args):
        self.serve = launch.ServeProcess(BIN, self.specs, self.ledger, args, env=self.env, token=TOKEN)
        self.port = self.serve.port

    def text(self):
        return self.serve.text()

    def stop(self, sig=signal.SIGTERM):
        if self.serve:
            self.serve.stop(sig)
        self.serve = None

    def request(self, method, path, body=None, token=TOKEN):
        status, _, data = self.serve.request(method, path, body, token=token)
        return status, (json.loads(data) if data else None)

    def rewind(self, notification, healing_state, *args):
        """Stops serve, sets the ledger back to what a kill after the healing's decision leaves
        (the notification pending, its healing in healing_state) and starts serve again."""
        self.stop()
        db = sqlite3.connect(self.ledger)
        db.execute("UPDATE actions SET state = 'pending' WHERE id = ?", (notification,))
        db.execute("UPDATE actions SET state = ? WHERE idempotency_key = ?",
                   (healing_state, "selfheal:%d" % notification))
        db.commit()
        db.close()
        self.start(*args)

    def notify(self, body):
        status, doc = self.request("POST", "/v1/problems", body)
        if status == 503:
            sys.stderr.write(self.text())
        return status, doc

    def healing(self, notification):
        status, doc = self.request("GET", "/v1/selfheal/%d" % notification)
        return doc if status == 200 and doc["state"] not in ("running", "executing") else None

    def wait_healed(self, notification):
        return wait_for(lambda: self.healing(notification), "notification %d to be handled" % notification)

    # ---- what the simulators saw ----
    def patches(self, answered_only=True):
        return [r for r in list(self.ado.state.requests)
                if r["method"] == "PATCH" and (not answered_only or r.get("status") == 200)]

    def redeploys(self, release=41, env_id=98):
        rel = self.ado.state.release(PROJECT, release)
        env = next(e for e in rel["environments"] if e["id"] == env_id)
        return env.get("_redeploys", [])

    def comments(self, pid=PID):
        with self.dt.state.lock:
            return [c["content"] for c in self.dt.state.comments.get(pid, [])]

    def selfheal(self, path, *args):
        return subprocess.run([BIN, "selfheal", "--payload", path, "--specs", self.specs] + list(args),
                              capture_output=True, text=True, env=self.env, timeout=WAIT)


class SelfHealTest(unittest.TestCase):
    def setUp(self):
        self.h = Harness()

    def tearDown(self):
        self.h.close()

    def deployed(self):
        self.h.deploy(41)
        self.h.deploy(42)

    def test_open_rolls_back_once_then_resolved_comments(self):
        self.deployed()
        self.h.start()
        status, doc = self.h.notify(payload())
        self.assertEqual(status, 202)
        self.assertEqual(doc["problem"], PID)
        self.assertFalse(doc["duplicate"])
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual(healed["state"], "done", healed)
        kinds = [i["kind"] for i in healed["decision"]["intents"]]
        self.assertEqual(kinds, ["rollback", "comment"])
        patches = self.h.patches()
        self.assertEqual(len(patches), 1)
        self.assertEqual(patches[0]["path"], "/%s/_apis/Release/releases/41/environments/98" % PROJECT)
        self.assertEqual(json.loads(patches[0]["body"])["status"], "inProgress")
        self.assertEqual(len(self.h.redeploys()), 1)
        comments = self.h.comments()
        self.assertEqual(len(comments), 1)
        self.assertIn("Release-41", comments[0])
        self.assertIn("Release-42", comments[0])
        self.assertIn("/v1/selfheal/%d" % doc["notification"], comments[0])
        # the same notification again: a duplicate, nothing new
        status, again = self.h.notify(payload())
        self.assertEqual((status, again["duplicate"]), (202, True))
        # RESOLVED: one closing comment, no second rollback
        status, res = self.h.notify(payload("RESOLVED"))
        self.assertEqual((status, res["state"], res["duplicate"]), (202, "RESOLVED", False))
        closed = self.h.wait_healed(res["notification"])
        self.assertEqual(closed["state"], "done", closed)
        self.assertEqual(len(self.h.patches()), 1)
        self.assertEqual(len(self.h.comments()), 2)
        self.assertIn("closed", self.h.comments()[1])
        # history and the CLI show the healings
        p = subprocess.run([BIN, "history", "--kind", "selfheal", "--ledger", self.h.ledger, "--format", "json"],
                           capture_output=True, text=True, env=self.h.env, timeout=WAIT)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(json.loads(p.stdout)["healings"]), 2)
        self.assertNotIn(PAT, p.stdout)
        self.assertNotIn(DT_TOKEN, p.stdout)
        # the HTML page of the healing, from serve and from the CLI
        status, headers, page = self.h.serve.request("GET", "/v1/selfheal/%d/report" % doc["notification"])
        page = page.decode()
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers["content-type"])
        for text in ("rollback", "Release-41", "Release-42", "Production", SERVICE, "done"):
            self.assertIn(text, page)
        html = os.path.join(self.h.dir, "heal.html")
        p = subprocess.run([BIN, "selfheal", "--report", str(doc["notification"]), "--html", html, "--ledger",
                            self.h.ledger], capture_output=True, text=True, env=self.h.env, timeout=WAIT)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(html) as f:
            self.assertEqual(f.read(), page)
        self.assertNotIn(PAT, page)
        self.assertNotIn("<script", page)

    def test_test_notification_is_recorded_never_acted_on(self):
        self.deployed()
        self.h.start()
        with open(os.path.join(FIX, "webhook", "unbreakable_test-notification_constructed.json")) as f:
            test_body = f.read()
        status, doc = self.h.notify(test_body)
        self.assertEqual(status, 202)
        self.assertTrue(doc["test"])
        # a real notification after it is handled; the test one never is
        status, quiet = self.h.notify(payload(pid=PID_QUIET, display="P-22013996", entity=QUIET))
        self.h.wait_healed(quiet["notification"])
        status, _ = self.h.request("GET", "/v1/selfheal/%d" % doc["notification"])
        self.assertEqual(status, 404)
        self.assertEqual(self.h.patches(answered_only=False), [])
        self.assertEqual(self.h.comments("99999"), [])

    def test_no_deployment_comments_and_does_not_roll_back(self):
        self.deployed()
        self.h.start()
        status, doc = self.h.notify(payload(pid=PID_QUIET, display="P-22013996", entity=QUIET))
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual([i["kind"] for i in healed["decision"]["intents"]], ["comment"])
        self.assertEqual(self.h.patches(answered_only=False), [])
        comments = self.h.comments(PID_QUIET)
        self.assertEqual(len(comments), 1)
        self.assertIn("no deployment", comments[0])

    def test_storm_of_twenty_and_kill_between_call_and_confirmation(self):
        self.deployed()
        # the PATCH takes its effect, then answers slowly: serve dies before it can confirm
        self.h.ado.state.add_faults([{"method": "PATCH", "path": "/%s/_apis/Release/releases/41" % PROJECT,
                                      "latencyMs": 3000 * SLOW, "times": 1}])
        self.h.start()
        body = json.dumps(payload())
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: self.h.notify(body), range(20)))
        self.assertTrue(all(s == 202 for s, _ in answers), answers)
        self.assertEqual(sum(1 for _, d in answers if not d["duplicate"]), 1)
        wait_for(lambda: self.h.patches(answered_only=False), "the PATCH to reach Azure DevOps")
        self.h.stop(signal.SIGKILL)
        # the simulator applies the PATCH after its latency; then serve comes back
        wait_for(lambda: self.h.patches(), "the PATCH to be answered")
        self.h.start()
        notification = answers[0][1]["notification"]
        healed = self.h.wait_healed(notification)
        self.assertEqual(healed["state"], "done", healed)
        self.assertEqual(len(self.h.patches(answered_only=False)), 1)
        self.assertEqual(len(self.h.redeploys()), 1)
        self.assertEqual(len(self.h.comments()), 1)
        outcome = healed["decision"]["outcomes"][0]
        self.assertIn("already", outcome.get("detail", ""))

    def kill_after_the_comment_reached_dynatrace(self):
        """serve posts the comment (held 3 s by Dynatrace) and is killed before it can confirm it;
        returns the notification's answer once the comment is stored."""
        self.deployed()
        self.h.dt.state.add_faults([{"method": "POST", "path": "/api/v2/problems/", "latencyMs": 3000 * SLOW,
                                     "times": 1}])
        self.h.start()
        status, doc = self.h.notify(payload())
        wait_for(lambda: any(r["method"] == "POST" and "/comments" in r["path"] for r in self.dt_requests()),
                 "the comment to reach Dynatrace")
        self.h.stop(signal.SIGKILL)
        wait_for(lambda: self.h.comments(), "the delayed comment to be stored")
        return doc

    def test_kill_between_comment_and_confirmation(self):
        doc = self.kill_after_the_comment_reached_dynatrace()
        self.h.start()
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual(healed["state"], "done", healed)
        self.assertEqual(len(self.h.comments()), 1)
        self.assertEqual(len(self.h.patches(answered_only=False)), 1)
        self.assertIn("already on the problem", healed["decision"]["outcomes"][1].get("detail", ""))

    def test_after_a_crash_an_unreadable_check_posts_nothing(self):
        """The comment reached Dynatrace, serve died before confirming it, and on restart the
        comments answer lists nothing (no "comments" key): unknown is not "absent", so the
        comment is not posted again and the healing says it failed."""
        doc = self.kill_after_the_comment_reached_dynatrace()
        self.h.dt.state.add_faults([{"method": "GET", "path": "/api/v2/problems/", "queryContains": "pageSize",
                                     "json": {"totalCount": 1}}])
        self.h.start()
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual(healed["state"], "failed", healed)
        self.assertEqual(len(self.h.comments()), 1)
        posts = [r for r in self.dt_requests() if r["method"] == "POST" and r["path"].endswith("/comments")]
        self.assertEqual(len(posts), 1)
        self.assertIn("the answer has no comments", healed["decision"]["outcomes"][1].get("detail", ""))

    def dt_requests(self):
        with self.h.dt.state.lock:
            return list(self.h.dt.state.requests)

    def test_a_settled_healing_whose_notification_was_not_marked_is_not_decided_again(self):
        """serve died between recording the healing's outcome and marking its notification
        handled: on restart the notification is marked, the recorded decision stays as it was,
        and nothing is read or decided again."""
        self.deployed()
        self.h.start()
        status, doc = self.h.notify(payload())
        n = doc["notification"]
        before = self.h.wait_healed(n)
        self.assertEqual(before["state"], "done", before)
        self.h.stop()
        db = sqlite3.connect(self.h.ledger)
        db.execute("UPDATE actions SET state = 'pending' WHERE id = ?", (n,))
        db.commit()
        reads = len(self.dt_requests())

        def notification_state():
            return db.execute("SELECT state FROM actions WHERE id = ?", (n,)).fetchone()[0]
        try:
            self.h.start()
            wait_for(lambda: notification_state() == "handled", "the notification to be marked handled")
        finally:
            db.close()
        self.assertEqual(self.h.healing(n), before)
        self.assertEqual(len(self.dt_requests()), reads)
        self.assertEqual(len(self.h.patches()), 1)

    def test_an_intent_that_failed_stays_failed_when_the_healing_resumes(self):
        """The rollback failed (Azure DevOps answered 400) and the healing was interrupted before
        its end was recorded: resumed, it reports the rollback failed, not already done."""
        self.deployed()
        self.h.ado.state.add_faults([{"method": "PATCH", "path": "/%s/_apis/Release/releases/41" % PROJECT,
                                      "status": 400}])
        self.h.start()
        status, doc = self.h.notify(payload())
        n = doc["notification"]
        self.assertEqual(self.h.wait_healed(n)["state"], "failed")
        self.h.rewind(n, "executing")
        healed = self.h.wait_healed(n)
        self.assertEqual(healed["state"], "failed", healed)
        self.assertEqual(healed["decision"]["outcomes"][0]["status"], "failed", healed["decision"]["outcomes"])
        self.assertEqual(len(self.h.patches(answered_only=False)), 1)

    def test_a_dry_run_decision_resumed_without_dry_run_still_executes_nothing(self):
        """serve --dry-run decided and was interrupted before its end was recorded; restarted
        without --dry-run, the resumed decision is still a dry run: no rollback, no comment."""
        self.deployed()
        self.h.start("--dry-run")
        status, doc = self.h.notify(payload())
        n = doc["notification"]
        self.assertEqual(self.h.wait_healed(n)["state"], "dry-run")
        self.h.rewind(n, "executing")
        healed = self.h.wait_healed(n)
        self.assertEqual(healed["state"], "dry-run", healed)
        self.assertTrue(healed["decision"]["dry_run"])
        self.assertEqual(self.h.patches(answered_only=False), [])
        self.assertEqual(self.h.comments(), [])

    def test_dry_run_executes_nothing_and_records_intents(self):
        self.deployed()
        self.h.start("--dry-run")
        status, doc = self.h.notify(payload())
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual(healed["state"], "dry-run")
        self.assertEqual([i["kind"] for i in healed["decision"]["intents"]], ["rollback", "comment"])
        self.assertEqual([o["status"] for o in healed["decision"]["outcomes"]], ["dry-run", "dry-run"])
        self.assertEqual(self.h.patches(answered_only=False), [])
        self.assertEqual(self.h.comments(), [])
        self.h.stop()
        # the CLI: the same path, --dry-run, json
        path = os.path.join(self.h.dir, "open.json")
        with open(path, "w") as f:
            json.dump(payload(), f)
        p = self.h.selfheal(path, "--dry-run", "--format", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        decision = json.loads(p.stdout)
        self.assertEqual([i["kind"] for i in decision["intents"]], ["rollback", "comment"])
        self.assertEqual(self.h.patches(answered_only=False), [])

    def test_cli_selfheal_executes_once(self):
        self.deployed()
        path = os.path.join(self.h.dir, "open.json")
        with open(path, "w") as f:
            json.dump(payload(), f)
        p = self.h.selfheal(path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("rollback", p.stdout)
        p = self.h.selfheal(path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("duplicate", p.stdout)
        self.assertEqual(len(self.h.patches()), 1)
        self.assertEqual(len(self.h.comments()), 1)

    def test_history_and_report_read_an_interrupted_healing_with_odd_answers(self):
        """A decision recorded but interrupted before its outcomes (state executing), whose context
        holds Azure DevOps deployments that are not objects: history and the HTML page show it."""
        self.deployed()
        path = os.path.join(self.h.dir, "open.json")
        with open(path, "w") as f:
            json.dump(payload(), f)
        p = self.h.selfheal(path, "--dry-run")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        db = sqlite3.connect(self.h.ledger)
        row_id, text = db.execute("SELECT id, payload FROM actions WHERE kind = 'selfheal'").fetchone()
        decision = json.loads(text)
        del decision["outcomes"]
        ent = decision["context"]["entities"][0]
        ent["deployments"][-1]["ado"]["deployments"] = [1, "x", None]
        db.execute("UPDATE actions SET state = 'executing', payload = ? WHERE id = ?", (json.dumps(decision), row_id))
        db.commit()
        db.close()
        p = subprocess.run([BIN, "history", "--kind", "selfheal", "--ledger", self.h.ledger],
                           capture_output=True, text=True, env=self.h.env, timeout=WAIT)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("rollback", p.stdout)
        p = subprocess.run([BIN, "selfheal", "--report", str(decision["notification"]), "--html", "-", "--ledger",
                            self.h.ledger], capture_output=True, text=True, env=self.h.env, timeout=WAIT)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("executing", p.stdout)

    def test_azure_devops_500_and_429_are_retried_still_once(self):
        self.deployed()
        rel = "/%s/_apis/release/releases/42" % PROJECT
        self.h.ado.state.add_faults([
            {"method": "GET", "path": rel, "status": 500, "times": 1},
            {"method": "PATCH", "path": "/%s/_apis/Release/releases/41" % PROJECT, "status": 429,
             "retryAfter": 1, "times": 1},
            {"method": "PATCH", "path": "/%s/_apis/Release/releases/41" % PROJECT, "status": 500, "times": 1},
        ])
        # and Dynatrace losing the first comment with a 500
        self.h.dt.state.add_faults([{"method": "POST", "path": "/api/v2/problems/", "status": 500, "times": 1}])
        self.h.start()
        status, doc = self.h.notify(payload())
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual(healed["state"], "done", healed)
        self.assertEqual(len(self.h.patches(answered_only=False)), 3)
        self.assertEqual(len(self.h.patches()), 1)
        self.assertEqual(len(self.h.redeploys()), 1)
        self.assertEqual(len(self.h.comments()), 1)
        posts = [r for r in self.dt_requests() if r["method"] == "POST" and r["path"].endswith("/comments")]
        self.assertEqual(len(posts), 2)  # the one answered 500, then the one that took

    def test_freeze_and_event_intents_from_a_specs_policy(self):
        os.mkdir(os.path.join(self.h.specs, "policies"))
        with open(os.path.join(self.h.specs, "policies", "freeze.lua"), "w") as f:
            f.write('return function(ctx) return { summary = "freeze", intents = {\n'
                    '  { kind = "freeze", stage = "Production", reason = "problem " .. ctx.problem.problem_id },\n'
                    '  { kind = "event", type = "CUSTOM_ANNOTATION", title = "unbreakable froze Production",\n'
                    '    entity_selector = \'entityId("%s")\', properties = { problem = ctx.problem.pid },\n'
                    '    reason = "say so on the entity" } } } end\n' % SERVICE)
        with open(os.path.join(self.h.specs, "selfheal.json"), "w") as f:
            json.dump({"selfheal_policy": "policies/freeze.lua"}, f)
        shutil.copy(os.path.join(SRC, "examples", "monspec", "demo.monspec.json"), self.h.specs)
        self.h.start()
        status, doc = self.h.notify(payload())
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual(healed["state"], "done", healed)
        gate = {"monspec": "demo.monspec.json", "compare": "CheckoutService/Production"}
        status, answer = self.h.request("POST", "/v1/gate", gate)
        self.assertEqual((status, answer["status"], answer.get("frozen")), (200, "failure", True), answer)
        self.assertIn("problem P-22013995", answer["summary"])
        with self.h.dt.state.lock:
            notes = [e for e in self.h.dt.state.events if e["eventType"] == "CUSTOM_ANNOTATION"]
        self.assertEqual(len(notes), 1)
        p = subprocess.run([BIN, "selfheal", "--lift-freeze", "Production", "--ledger", self.h.ledger],
                           capture_output=True, text=True, env=self.h.env, timeout=WAIT)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("1 freeze", p.stdout)
        status, answer = self.h.request("POST", "/v1/gate", gate)
        self.assertFalse(answer.get("frozen"), answer)

    def test_cli_takes_the_specs_policy_from_a_relative_specs_folder(self):
        """selfheal --specs specs (relative, as typed in a pipeline) finds selfheal_policy inside it."""
        os.mkdir(os.path.join(self.h.specs, "policies"))
        with open(os.path.join(self.h.specs, "policies", "quiet.lua"), "w") as f:
            f.write('return function(ctx) return { summary = "from the specs policy", intents = {} } end\n')
        with open(os.path.join(self.h.specs, "selfheal.json"), "w") as f:
            json.dump({"selfheal_policy": "policies/quiet.lua"}, f)
        path = os.path.join(self.h.dir, "open.json")
        with open(path, "w") as f:
            json.dump(payload(), f)
        p = subprocess.run([BIN, "selfheal", "--payload", path, "--specs", "specs"], capture_output=True, text=True,
                           env=self.h.env, timeout=WAIT, cwd=self.h.dir)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("from the specs policy", p.stdout)

    def test_events_v1_when_v2_does_not_answer(self):
        self.deployed()
        self.h.dt.state.add_faults([{"method": "GET", "path": "/api/v2/events", "status": 404}])
        self.h.start()
        status, doc = self.h.notify(payload())
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual(healed["state"], "done", healed)
        entity = healed["decision"]["context"]["entities"][0]
        self.assertEqual(entity["events_api"], "v1")
        self.assertEqual([i["kind"] for i in healed["decision"]["intents"]], ["rollback", "comment"])
        self.assertEqual(len(self.h.patches()), 1)

    def test_answers_that_are_not_objects_fail_the_read_not_the_process(self):
        """Dynatrace answering a JSON number for the events (v2 and v1) is a failed read: the
        process does not abort, nothing is rolled back, and the healing says it failed (exit 3)."""
        self.deployed()
        self.h.dt.state.add_faults([{"method": "GET", "path": "/api/v2/events", "json": 7},
                                    {"method": "GET", "path": "/api/v1/events", "json": 7}])
        path = os.path.join(self.h.dir, "open.json")
        with open(path, "w") as f:
            json.dump(payload(), f)
        p = self.h.selfheal(path, "--format", "json")
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        decision = json.loads(p.stdout)
        entity = decision["context"]["entities"][0]
        self.assertIn("not a JSON object", entity["events_error"])
        self.assertEqual([i["kind"] for i in decision["intents"]], ["comment"])
        self.assertIn("could not be read", decision["intents"][0]["text"])
        self.assertEqual(self.h.patches(answered_only=False), [])

    def test_an_entity_id_that_could_add_selector_terms_is_refused(self):
        """An impacted entity's id goes into entityId("..."): one that is not a Dynatrace entity
        id (here a quote that would close the value and add terms) is refused with the field
        named, and no events are read for it. (The quoting itself, '"' and '~' escaped by '~',
        is tested in tests/c/test_dynatrace.c.)"""
        odd = 'SERVICE-1"),type("HOST'
        path = os.path.join(self.h.dir, "odd.json")
        with open(path, "w") as f:
            json.dump(payload(entity=odd), f)
        p = self.h.selfheal(path, "--dry-run")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("ImpactedEntities[0]", p.stderr)
        self.assertIn("entity id", p.stderr)
        self.assertEqual([r for r in self.dt_requests() if r["path"] == "/api/v2/events"], [])

    def test_an_event_naming_another_organisation_is_not_followed(self):
        self.h.deploy(41, collection="https://dev.azure.com/someone-else/")
        self.h.deploy(42, collection="https://dev.azure.com/someone-else/")
        self.h.start()
        status, doc = self.h.notify(payload())
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual([i["kind"] for i in healed["decision"]["intents"]], ["comment"])
        self.assertIn("another Azure DevOps organisation", healed["decision"]["intents"][0]["text"])
        self.assertEqual([r for r in self.h.ado.state.requests if "/_apis/release/" in r["path"].lower()], [])

    def test_yaml_run_rolls_back_by_re_running_the_stage_of_the_last_good_run(self):
        self.h.deploy_yaml(100)
        self.h.deploy_yaml(101)
        self.h.start()
        status, doc = self.h.notify(payload())
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual(healed["state"], "done", healed)
        retries = [r for r in self.h.ado.state.requests if r["method"] == "PATCH"]
        self.assertEqual([r["path"] for r in retries], ["/%s/_apis/build/builds/100/stages/Production" % PROJECT])
        self.assertEqual(json.loads(retries[0]["body"]), {"state": "retry", "forceRetryAllJobs": True})
        reads = [r["path"] for r in self.h.ado.state.requests if "/distributedtask/environments" in r["path"]]
        self.assertEqual(reads, ["/%s/_apis/distributedtask/environments" % PROJECT,
                                 "/%s/_apis/distributedtask/environments/5/environmentdeploymentrecords" % PROJECT])
        self.assertEqual(len(self.yaml_records()), 3)  # the re-run deploys again: a record, not finished
        comments = self.h.comments()
        self.assertEqual(len(comments), 1)
        self.assertIn("20261201.1", comments[0])
        # RESOLVED, then OPEN again: no second re-run
        self.h.notify(payload("RESOLVED"))
        self.h.notify(payload())
        wait_for(lambda: len(self.h.comments()) == 2, "the closing comment")
        self.assertEqual(len([r for r in self.h.ado.state.requests if r["method"] == "PATCH"]), 1)

    def yaml_records(self):
        return self.h.ado.state.environment_records_of(PROJECT, 5)

    def add_yaml_record(self, record):
        with self.h.ado.state.lock:
            self.h.ado.state.environments[PROJECT][0]["records"].append(record)

    def yaml_outcome(self, state="done"):
        """Runs 100 then 101 deployed, a problem: the healing's comment, and the PATCH calls."""
        self.h.deploy_yaml(100)
        self.h.deploy_yaml(101)
        self.h.start()
        status, doc = self.h.notify(payload())
        healed = self.h.wait_healed(doc["notification"])
        self.assertEqual(healed["state"], state, healed)
        comments = self.h.comments()
        self.assertEqual(len(comments), 1, comments)
        return comments[0], [r for r in self.h.ado.state.requests if r["method"] == "PATCH"]

    def test_yaml_rollback_waits_while_the_environment_has_a_deployment_in_progress(self):
        # another pipeline is deploying to the same environment: its run is not among this pipeline's
        self.add_yaml_record(environment_record(3, 500, definition=(31, "checkout-hotfix"), result=None))
        comment, patches = self.yaml_outcome()
        self.assertEqual(patches, [])
        self.assertIn("a deployment to environment production (run 500 of checkout-hotfix) is in progress", comment)

    def test_yaml_rollback_is_stale_when_another_pipeline_deployed_to_the_environment_since(self):
        self.add_yaml_record(environment_record(3, 500, definition=(31, "checkout-hotfix")))
        comment, patches = self.yaml_outcome()
        self.assertEqual(patches, [])
        self.assertIn("run 500 of checkout-hotfix deployed to environment production after run 101", comment)

    def test_yaml_rollback_needs_a_run_that_deployed_to_the_environment(self):
        with self.h.ado.state.lock:  # run 100 succeeded, but its deployment to the environment failed
            self.h.ado.state.environments[PROJECT][0]["records"][0]["result"] = "failed"
        comment, patches = self.yaml_outcome()
        self.assertEqual(patches, [])
        self.assertIn("no earlier run of the pipeline deployed successfully to the environment", comment)

    def test_yaml_rollback_refuses_an_environment_that_does_not_exist_or_cannot_be_read(self):
        with self.h.ado.state.lock:
            self.h.ado.state.environments[PROJECT][0]["name"] = "prod-renamed"
        comment, patches = self.yaml_outcome()
        self.assertEqual(patches, [])
        self.assertIn("not among the project's environments", comment)

    def test_yaml_rollback_when_the_records_answer_an_error(self):
        self.h.ado.state.add_faults([{"path": "/%s/_apis/distributedtask/environments/5/" % PROJECT, "status": 404}])
        comment, patches = self.yaml_outcome("failed")  # a read that failed: the healing says so
        self.assertEqual(patches, [])
        self.assertIn("environmentdeploymentrecords?top=25&api-version=7.1: HTTP 404", comment)

    def test_invalid_payloads_are_refused_with_the_field(self):
        self.h.start()
        for body, field in (({"State": "OPEN"}, "PID"), (dict(payload(), ImpactedEntities="x"), "ImpactedEntities"),
                            (dict(payload(), State="open"), "State"), ("{not json", "not JSON")):
            status, doc = self.h.notify(body)
            self.assertEqual(status, 400, body)
            self.assertIn(field, doc["error"])
        status, _ = self.h.request("POST", "/v1/problems", payload(), token="wrong")
        self.assertEqual(status, 401)


if __name__ == "__main__":
    unittest.main()
