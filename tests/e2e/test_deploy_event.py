"""End-to-end tests of `unbreakable deploy-event` against the Dynatrace
simulator (tests/sim) over real HTTP on 127.0.0.1: the v1 and v2 request bodies
field by field as the simulator received them, the Azure Pipelines release
context taken from the agent-environment fixture used as the process
environment, monspec targets, and the failure cases (no entity matched, 400,
401, 429 retried then accepted, 429 until the attempts run out, a hanging
connection with a short --timeout), each with a clear message and exit 3.
Every output and the ledger file are searched for the token at the end.
Elapsed times are printed, never asserted."""
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.environ.get("UB_SOURCE", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.environ.get("UB_BIN", "build/unbreakable")
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
import dynatrace_sim  # noqa: E402
from launch import FIXTURES, scaled  # noqa: E402

TOKEN = "dt0c01.DEPLOYEVENTE2E.TOKENSECRET7f3a9cTOKENSECRET"
WRONG_TOKEN = "dt0c01.WRONGWRONGWRONG.NOTACCEPTEDNOTACCEPTED1234"
INGEST = "/api/v2/events/ingest"
EVENTS_V1 = "/api/v1/events"

SCENARIO = {
    "about": "deploy-event e2e: two services per stage tag, one PGI",
    "tokens": {TOKEN: ["events.ingest", "DataExport"]},
    "entities": [
        {"entityId": "SERVICE-PRD1", "displayName": "checkout",
         "tags": [{"context": "ENVIRONMENT", "key": "DEPLOYMENT_GROUP_NAME", "value": "Production"}]},
        {"entityId": "SERVICE-PRD2", "displayName": "payment",
         "tags": [{"context": "ENVIRONMENT", "key": "DEPLOYMENT_GROUP_NAME", "value": "Production"},
                  {"key": "team:a", "value": "x:y"}]},
        {"entityId": "SERVICE-STG1", "displayName": "checkout",
         "tags": [{"context": "ENVIRONMENT", "key": "DEPLOYMENT_GROUP_NAME", "value": "Staging"}]},
    ],
}

MONSPEC = {
    "CheckoutService": {
        "etype": "SERVICE",
        "environments": {
            "Production": {"tags": [{"context": "Environment", "key": "DEPLOYMENT_GROUP_NAME",
                                     "value": "Production"}]},
            "Canary": {"entities": ["SERVICE-STG1"]},
            "Nowhere": {"tags": [{"key": "no-such-tag"}]},
        },
    }
}

RELEASE_PROPS = {
    "ado.collectionUri": "https://dev.azure.com/myorg/",
    "ado.releaseApiUri": "https://vsrm.dev.azure.com/myorg/",
    "ado.project": "SampleProject",
    "ado.projectId": "79f5c12e-3337-4151-be41-a268d2c73344",
    "ado.releaseDefinitionId": "7",
    "ado.releaseDefinitionName": "SampleDevOpsPipeline",
    "ado.releaseId": "42",
    "ado.releaseName": "Release-42",
    "ado.releaseUri": "vstfs:///ReleaseManagement/Release/42",
    "ado.releaseWebUrl": "https://dev.azure.com/myorg/79f5c12e-3337-4151-be41-a268d2c73344/_release?releaseId=42&_a=release-summary",
    "ado.environmentName": "Production",
    "ado.environmentId": "102",
    "ado.definitionEnvironmentId": "2",
    "ado.deploymentId": "230",
    "ado.attemptNumber": "1",
    "vcs.commit": "bc0044458ba1d9298cdc649cb5dcf013180706f7",
    "ci.system": "azure-pipelines-release",
}
WEB_URL = RELEASE_PROPS["ado.releaseWebUrl"]


class Harness:
    def __init__(self, tmp):
        self.tmp = tmp
        self.sim = dynatrace_sim.start(SCENARIO)
        self.ledger = os.path.join(tmp, "ledger.db")
        self.outputs = []
        self.failures = []
        self.token_file = os.path.join(tmp, "token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")
        self.monspec = os.path.join(tmp, "monspec.json")
        with open(self.monspec, "w") as f:
            json.dump(MONSPEC, f)

    def control(self, method, path, doc=None):
        data = json.dumps(doc).encode() if doc is not None else None
        req = urllib.request.Request(self.sim.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=scaled(10)) as resp:
            return json.loads(resp.read().decode())

    def reset(self, faults=None):
        self.control("POST", "/_sim/reset", {})
        if faults:
            self.control("POST", "/_sim/faults", {"rules": faults})

    def requests(self):
        return [r for r in self.control("GET", "/_sim/requests")["requests"] if r["path"].startswith("/api/")]

    def env(self, azure=False, token_env=True):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp, "DT_TENANT_URL": self.sim.url,
               "UB_LEDGER": self.ledger}
        if token_env:
            env["DT_API_TOKEN"] = TOKEN
        if azure:
            with open(os.path.join(FIXTURES, "azure-devops",
                                   "agent-environment_release-job_constructed.json")) as f:
                env.update({k: v for k, v in json.load(f).items() if not k.startswith("_")})
        return env

    def run(self, args, env):
        start = time.monotonic()
        p = subprocess.run([BIN, "deploy-event"] + args, capture_output=True, text=True, env=env, timeout=scaled(60))
        self.outputs.append(p.stdout + p.stderr)
        print("  %-60s exit %d in %.2f s" % (" ".join(args)[:60], p.returncode, time.monotonic() - start))
        return p

    def check(self, cond, what):
        if not cond:
            self.failures.append(what)
            print("FAIL: " + what)

    def equal(self, got, want, what):
        self.check(got == want, "%s: got %r, want %r" % (what, got, want))


def only_post(h, path):
    reqs = h.requests()
    h.equal([(r["method"], r["path"]) for r in reqs], [("POST", path)], "exactly one POST to " + path)
    return json.loads(reqs[0]["body"]) if reqs else {}


def check_common_headers(h, req):
    h.equal(req["authScheme"], "Api-Token", "Authorization scheme")
    h.check(req["headers"].get("Content-Type", "").startswith("application/json"), "Content-Type is JSON")


# ---- cases -----------------------------------------------------------------------

def case_v2_azure_release(h):
    """Tags from flags, every field from the Azure release environment."""
    h.reset()
    p = h.run(["--tag", "[Environment]DEPLOYMENT_GROUP_NAME:Production", "--property", "owner=team-a"],
              h.env(azure=True))
    h.equal(p.returncode, 0, "v2 azure: exit status (stderr %r)" % p.stderr)
    h.check("recorded on 2 entities" in p.stdout, "v2 azure: stdout says 2 entities: %r" % p.stdout)
    body = only_post(h, INGEST)
    check_common_headers(h, h.requests()[0])
    h.equal(sorted(body), ["entitySelector", "eventType", "properties", "title"], "v2 members")
    h.equal(body.get("eventType"), "CUSTOM_DEPLOYMENT", "v2 eventType")
    h.equal(body.get("title"), "SampleDevOpsPipeline Release-42", "v2 title")
    h.equal(body.get("entitySelector"), 'type(SERVICE),tag("[ENVIRONMENT]DEPLOYMENT_GROUP_NAME:Production")',
            "v2 entitySelector")
    want = {"dt.event.deployment.name": "SampleDevOpsPipeline", "dt.event.deployment.version": "Release-42",
            "dt.event.deployment.project": "SampleProject", "dt.event.deployment.release_stage": "Production",
            "dt.event.deployment.ci_back_link": WEB_URL, "owner": "team-a"}
    want.update(RELEASE_PROPS)
    props = body.get("properties", {})
    for key in sorted(set(want) | set(props)):
        h.equal(props.get(key), want.get(key), "v2 property " + key)
    stored = h.control("GET", "/_sim/events")["events"]
    h.equal(sorted(e["v1"]["entityId"] for e in stored), ["SERVICE-PRD1", "SERVICE-PRD2"], "v2 attached entities")


def case_v1_monspec_flags_win(h):
    """v1 from a monspec environment; explicit flags beat the pipeline's values."""
    h.reset()
    p = h.run(["--api", "v1", "--monspec", h.monspec, "--environment", "CheckoutService/Production",
               "--name", "checkout", "--version", "2.0.1", "--ci-link", "https://ci.example/run/9",
               "--stage", "prod-eu", "--product", "shop", "--build-version", "b77",
               "--remediation-link", "https://heal.example/x", "--property", "ado.releaseId=43",
               "--format", "json"], h.env(azure=True))
    h.equal(p.returncode, 0, "v1 monspec: exit status (stderr %r)" % p.stderr)
    body = only_post(h, EVENTS_V1)
    h.equal(body.get("eventType"), "CUSTOM_DEPLOYMENT", "v1 eventType")
    h.equal(body.get("attachRules"), {"tagRule": [{"meTypes": ["SERVICE"], "tags": [
        {"context": "ENVIRONMENT", "key": "DEPLOYMENT_GROUP_NAME", "value": "Production"}]}]}, "v1 attachRules")
    h.equal(body.get("deploymentName"), "checkout", "v1 deploymentName (flag wins)")
    h.equal(body.get("deploymentVersion"), "2.0.1", "v1 deploymentVersion (flag wins)")
    h.equal(body.get("deploymentProject"), "SampleProject", "v1 deploymentProject (from the pipeline)")
    h.equal(body.get("ciBackLink"), "https://ci.example/run/9", "v1 ciBackLink (flag wins)")
    h.equal(body.get("remediationAction"), "https://heal.example/x", "v1 remediationAction")
    h.equal(body.get("source"), "unbreakable", "v1 source")
    want = dict(RELEASE_PROPS)
    want["ado.releaseId"] = "43"
    want.update({"dt.event.deployment.release_stage": "prod-eu", "dt.event.deployment.release_product": "shop",
                 "dt.event.deployment.release_build_version": "b77"})
    custom = body.get("customProperties", {})
    for key in sorted(set(want) | set(custom)):
        h.equal(custom.get(key), want.get(key), "v1 customProperty " + key)
    h.equal(sorted(body), ["attachRules", "ciBackLink", "customProperties", "deploymentName", "deploymentProject",
                           "deploymentVersion", "eventType", "remediationAction", "source"], "v1 members")
    out = json.loads(p.stdout) if p.stdout.startswith("{") else {}
    h.equal(out.get("outcome"), "recorded", "v1 json outcome")
    h.equal(out.get("matched"), 2, "v1 json matched")
    h.equal(len(out.get("ids", [])), 2, "v1 json stored ids")


def case_v1_entity_ids(h):
    h.reset()
    p = h.run(["--api", "v1", "--monspec", h.monspec, "--environment", "CheckoutService/Canary",
               "--name", "n", "--version", "v"], h.env())
    h.equal(p.returncode, 0, "v1 ids: exit status (stderr %r)" % p.stderr)
    body = only_post(h, EVENTS_V1)
    h.equal(body.get("attachRules"), {"entityIds": ["SERVICE-STG1"]}, "v1 entityIds")
    h.equal(body.get("customProperties"), {"dt.event.deployment.release_stage": "Canary"},
            "v1 stage from the monspec environment, nothing else outside a pipeline")


def case_v2_escaped_tag_and_ids(h):
    h.reset()
    p = h.run(["--tag", "team\\:a:x\\:y", "--name", "n", "--version", "v"], h.env())
    h.equal(p.returncode, 0, "escaped tag: exit status (stderr %r)" % p.stderr)
    h.equal(only_post(h, INGEST).get("entitySelector"), 'type(SERVICE),tag("team\\:a:x\\:y")', "escaped selector")
    h.equal([e["v1"]["entityId"] for e in h.control("GET", "/_sim/events")["events"]], ["SERVICE-PRD2"],
            "escaped tag matched the entity with key 'team:a' and value 'x:y'")
    h.reset()
    p = h.run(["--monspec", h.monspec, "--environment", "CheckoutService/Canary", "--name", "n", "--version", "v"],
              h.env())
    h.equal(only_post(h, INGEST).get("entitySelector"), 'entityId("SERVICE-STG1")', "v2 entityId selector")


def case_no_match(h):
    for api, path in (("v2", INGEST), ("v1", EVENTS_V1)):
        h.reset()
        p = h.run(["--api", api, "--monspec", h.monspec, "--environment", "CheckoutService/Nowhere",
                   "--name", "n", "--version", "v"], h.env())
        h.equal(p.returncode, 3, "no match %s: exit status" % api)
        h.check("not recorded on any entity" in p.stderr and "no-such-tag" in p.stderr,
                "no match %s: message names the problem and the target: %r" % (api, p.stderr))
        h.equal(len(h.requests()), 1, "no match %s: sent once" % api)
    h.reset()
    p = h.run(["--tag", "no-such-tag", "--name", "n", "--version", "v", "--allow-no-match"], h.env())
    h.equal(p.returncode, 0, "--allow-no-match: exit status")
    h.check(p.stderr.startswith("unbreakable deploy-event: warning: the deployment was not recorded"),
            "--allow-no-match warns: %r" % p.stderr)


def case_400(h):
    h.reset()
    p = h.run(["--entity-selector", 'tag("x")', "--name", "n", "--version", "v"], h.env())
    h.equal(p.returncode, 3, "400: exit status")
    h.check("Dynatrace API error (400): Constraints violated." in p.stderr and "entitySelector" in p.stderr,
            "400: Dynatrace's message and the path: %r" % p.stderr)
    h.equal(len(h.requests()), 1, "400: not retried")


def case_401(h):
    h.reset()
    env = h.env(token_env=False)
    env["DT_API_TOKEN"] = WRONG_TOKEN
    p = h.run(["--tag", "a", "--name", "n", "--version", "v"], env)
    h.equal(p.returncode, 3, "401: exit status")
    h.check("Dynatrace API error (401): Token Authentication failed" in p.stderr, "401: message %r" % p.stderr)
    h.check(WRONG_TOKEN not in p.stdout + p.stderr, "401: the rejected token is not printed")
    h.equal(len(h.requests()), 1, "401: not retried")


def case_token_echoed(h):
    """A server that echoes the token in its error: the output shows [REDACTED]."""
    h.reset([{"path": INGEST, "status": 403, "json": {"error": {"code": 403, "message": "token %s lacks a scope"
                                                                 % TOKEN}}}])
    p = h.run(["--tag", "a", "--name", "n", "--version", "v", "--format", "json"], h.env())
    h.equal(p.returncode, 3, "echoed token: exit status")
    h.check("Dynatrace API error (403): token [REDACTED] lacks a scope" in p.stderr,
            "echoed token: redacted message %r" % p.stderr)
    out = json.loads(p.stdout) if p.stdout.startswith("{") else {}
    h.equal((out.get("outcome"), out.get("status"), out.get("matched")), ("error", 403, 0), "echoed token: json")


def case_answers_that_record_nothing(h):
    """2xx answers that do not say the event was stored, and a redirect: exit 3, never 0."""
    cases = [
        ("v2 302", "v2", {"path": INGEST, "status": 302, "headers": {"Location": "https://elsewhere/"},
                          "body": ""}),
        ("v2 204 empty", "v2", {"path": INGEST, "status": 204, "body": ""}),
        ("v2 201 empty", "v2", {"path": INGEST, "status": 201, "body": ""}),
        ("v2 201 {}", "v2", {"path": INGEST, "status": 201, "json": {}}),
        ("v2 201 truncated", "v2", {"path": INGEST, "status": 201, "body": '{"reportCount":1,'}),
        ("v2 201 count as string", "v2", {"path": INGEST, "status": 201, "json": {"reportCount": "1"}}),
        ("v1 200 no storedEventIds", "v1", {"path": EVENTS_V1, "status": 200, "json": {"storedIds": ["1_2"]}}),
        ("v1 200 storedEventIds null", "v1", {"path": EVENTS_V1, "status": 200, "json": {"storedEventIds": None}}),
        ("v1 200 storedEventIds empty", "v1", {"path": EVENTS_V1, "status": 200,
                                               "json": {"storedEventIds": [], "storedIds": []}}),
    ]
    for what, api, fault in cases:
        h.reset([fault])
        p = h.run(["--api", api, "--tag", "a", "--name", "n", "--version", "v", "--format", "json"], h.env())
        h.equal(p.returncode, 3, "%s: exit status (stderr %r)" % (what, p.stderr))
        out = json.loads(p.stdout) if p.stdout.startswith("{") else {}
        h.check(out.get("outcome") in ("error", "no-match"), "%s: outcome %r" % (what, out.get("outcome")))


def case_control_characters_in_ids(h):
    """Ids Dynatrace sends back are printed without terminal control characters."""
    h.reset([{"path": INGEST, "status": 201, "json": {"reportCount": 1, "eventIngestResults": [
        {"correlationId": "ab\u001b]0;pwned\u0007\ncd", "status": "OK"}]}}])
    p = h.run(["--tag", "a", "--name", "n", "--version", "v"], h.env())
    h.equal(p.returncode, 0, "control ids: exit status (stderr %r)" % p.stderr)
    h.check("\x1b" not in p.stdout and "\x07" not in p.stdout, "control ids: raw escapes in %r" % p.stdout)
    h.check("  id: ab?]0;pwned??cd\n" in p.stdout, "control ids: id shown as %r" % p.stdout)


def case_rejected_result(h):
    """201 with reportCount 1 but its only ingest result not OK: nothing was recorded, exit 3."""
    h.reset([{"path": INGEST, "status": 201, "json": {"reportCount": 1, "eventIngestResults": [
        {"correlationId": "c0ffee", "status": "INVALID_ENTITY_TYPE"}]}}])
    p = h.run(["--tag", "a", "--name", "n", "--version", "v", "--format", "json"], h.env())
    h.equal(p.returncode, 3, "rejected result: exit status (stdout %r)" % p.stdout)
    out = json.loads(p.stdout) if p.stdout.startswith("{") else {}
    h.equal((out.get("outcome"), out.get("matched")), ("no-match", 0), "rejected result: json")
    h.check("1 ingest result not OK" in p.stderr, "rejected result: message says why: %r" % p.stderr)


def case_429_then_ok(h):
    h.reset([{"path": INGEST, "status": 429, "retryAfter": 0, "times": 1}])
    p = h.run(["--tag", "[ENVIRONMENT]DEPLOYMENT_GROUP_NAME:Staging", "--name", "n", "--version", "v",
               "--dt-token-file", h.token_file], h.env(token_env=False))
    h.equal(p.returncode, 0, "429 then 201: exit status (stderr %r)" % p.stderr)
    h.check("2 attempts" in p.stdout, "429 then 201: stdout reports 2 attempts: %r" % p.stdout)
    h.equal([r["status"] for r in h.requests()], [429, 201], "429 then 201: statuses seen by the simulator")


def case_429_exhausted(h):
    h.reset([{"path": INGEST, "status": 429, "retryAfter": 0}])
    p = h.run(["--tag", "a", "--name", "n", "--version", "v"], h.env())
    h.equal(p.returncode, 3, "429 exhausted: exit status")
    h.check("Dynatrace API error (429): Too many requests." in p.stderr and "after 4 attempts" in p.stderr,
            "429 exhausted: message %r" % p.stderr)
    h.equal(len(h.requests()), 4, "429 exhausted: attempts")


def case_timeout(h):
    h.reset([{"path": INGEST, "hang": True}])
    p = h.run(["--tag", "a", "--name", "n", "--version", "v", "--timeout", "1"], h.env())
    h.equal(p.returncode, 3, "hang: exit status")
    h.check("Dynatrace request failed" in p.stderr and "deadline" in p.stderr, "hang: message %r" % p.stderr)
    h.control("DELETE", "/_sim/faults")


def case_dry_run(h):
    h.reset()
    p = h.run(["--tag", "[ENVIRONMENT]DEPLOYMENT_GROUP_NAME:Production", "--dry-run"], h.env(azure=True))
    h.equal(p.returncode, 0, "dry run: exit status (stderr %r)" % p.stderr)
    lines = p.stdout.split("\n")
    h.equal(lines[0], "POST %s%s" % (h.sim.url, INGEST), "dry run: request line")
    h.equal(lines[1], "Authorization: Api-Token [REDACTED]", "dry run: redacted header")
    body = json.loads(lines[5]) if len(lines) > 5 else {}
    h.equal(body.get("properties", {}).get("ado.releaseId"), "42", "dry run: body printed")
    h.equal(h.requests(), [], "dry run: nothing sent")


def case_usage(h):
    cases = [([], "no target"), (["--tag", "a", "--entity-selector", "type(HOST)"], "only one target"),
             (["--api", "v1", "--entity-selector", "type(HOST)"], "v1 has no entity selector"),
             (["--tag", "[x"], "missing ']'"), (["--tag", "a"], "no deployment name"),
             (["--tag", "a", "--name", "n", "--version", "v", "--property", "dt.event.deployment.project=p"],
              "use --project"),
             (["--monspec", "/nonexistent/m.json", "--environment", "A/B"], "cannot open")]
    h.reset()
    for args, text in cases:
        p = h.run(args, h.env())
        h.equal(p.returncode, 2, "usage %r: exit status" % args)
        h.check(text in p.stderr, "usage %r: message %r lacks %r" % (args, p.stderr, text))
    h.equal(h.requests(), [], "usage errors send nothing")


def case_broken_ledger(h):
    """A ledger that cannot be opened stops the command before anything is sent."""
    h.reset()
    bad = os.path.join(h.tmp, "not-a-ledger.db")
    with open(bad, "w") as f:
        f.write("this is not an SQLite file\n" * 10)
    p = h.run(["--tag", "[ENVIRONMENT]DEPLOYMENT_GROUP_NAME:Production", "--name", "n", "--version", "v",
               "--ledger", bad], h.env())
    h.equal(p.returncode, 3, "broken ledger: exit status")
    h.check("not-a-ledger.db" in p.stderr and "nothing was sent" in p.stderr, "broken ledger: message %r" % p.stderr)
    h.equal(h.requests(), [], "broken ledger: nothing sent")


def check_ledger(h):
    db = sqlite3.connect(h.ledger)
    rows = db.execute("SELECT api, status, outcome, message, target FROM deployment_events ORDER BY id").fetchall()
    first = rows[0] if rows else None
    h.equal(first[:3] if first else None, ("v2", 201, "ok"), "ledger: first event")
    outcomes = [r[2] for r in rows]
    h.check("dry-run" in outcomes and "error" in outcomes, "ledger: dry-run and error outcomes: %r" % outcomes)
    h.check(any(r[3] and "not recorded on any entity" in r[3] for r in rows), "ledger: no-match message kept")
    body = db.execute("SELECT b.content FROM deployment_events e JOIN blobs b ON b.digest = e.request_digest "
                      "ORDER BY e.id LIMIT 1").fetchone()
    h.check(body is not None and b'"ado.releaseId":"42"' in bytes(body[0]), "ledger: request body stored")
    db.close()


def check_token_nowhere(h):
    for i, text in enumerate(h.outputs):
        h.check(TOKEN not in text and WRONG_TOKEN not in text, "token in output #%d" % i)
    for name in os.listdir(h.tmp):
        if name.startswith("ledger.db"):
            with open(os.path.join(h.tmp, name), "rb") as f:
                data = f.read()
            h.check(TOKEN.encode() not in data and WRONG_TOKEN.encode() not in data, "token in " + name)


def main():
    if not os.path.exists(BIN):
        print("missing binary %s (set UB_BIN)" % BIN)
        return 1
    probe = subprocess.run([BIN, "deploy-event", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        print("%s has no deploy-event command yet (runtime/main.c must dispatch ub_cmd_deploy_event)" % BIN)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(tmp)
        try:
            for case in (case_v2_azure_release, case_v1_monspec_flags_win, case_v1_entity_ids,
                         case_v2_escaped_tag_and_ids, case_no_match, case_400, case_401, case_token_echoed,
                         case_rejected_result, case_answers_that_record_nothing,
                         case_control_characters_in_ids, case_429_then_ok,
                         case_429_exhausted, case_timeout, case_dry_run, case_usage, case_broken_ledger):
                print(case.__name__)
                case(h)
            check_ledger(h)
            check_token_nowhere(h)
        finally:
            h.sim.stop()
        print("%d failure(s)" % len(h.failures))
        return 1 if h.failures else 0


if __name__ == "__main__":
    sys.exit(main())
