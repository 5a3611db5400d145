"""The JSON Schemas of docs/schemas/ against real data: contexts, verdicts
and fixtures written by the real binary (monspec gates against the demo
simulator, SLO gates against a generated tenant, a failing policy, a
replay export), examples of the service's bodies and of healing contexts
and intents (the issue texts), documents that must be refused, and every
field of every schema documented in docs/policies.md."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_gate_monspec import BIN, SRC, Sim  # noqa: E402
from test_gate_slo import SLI, SLO, TOKEN, scenario  # noqa: E402

SCHEMAS = os.path.join(os.path.abspath(SRC), "docs", "schemas")


def load_schemas():
    return {os.path.basename(p): json.load(open(p)) for p in glob.glob(os.path.join(SCHEMAS, "*.schema.json"))}


class Schemas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.schemas = load_schemas()
        cls.tmp = tempfile.mkdtemp()
        cls.store = {s["$id"]: s for s in cls.schemas.values()}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def validator(self, name):
        schema = self.schemas[name + ".schema.json"]
        resolver = jsonschema.RefResolver(base_uri=schema["$id"], referrer=schema, store=self.store)
        return jsonschema.Draft202012Validator(schema, resolver=resolver)

    def valid(self, name, doc):
        errors = sorted(self.validator(name).iter_errors(doc), key=lambda e: list(e.path))
        self.assertEqual([], ["%s: %s" % ("/".join(map(str, e.path)), e.message) for e in errors], name)

    def invalid(self, name, doc):
        self.assertFalse(self.validator(name).is_valid(doc), "%s accepted %r" % (name, doc))

    def test_schemas_are_valid(self):
        self.assertGreaterEqual(len(self.schemas), 12)
        for name, s in self.schemas.items():
            jsonschema.Draft202012Validator.check_schema(s)
            self.assertTrue(s["$id"].endswith(name), name)

    def run_ub(self, env, *args):
        return subprocess.run([BIN] + list(args), capture_output=True, text=True, env=env, timeout=300)

    def test_monspec_contexts_and_verdicts(self):
        sim = Sim(os.path.join(SRC, "tests", "sim", "scenarios", "demo.json"))
        try:
            env = dict(os.environ, DT_TENANT_URL=sim.url, DT_API_TOKEN="dt0c01.DEMO.READONLY",
                       UB_LEDGER=os.path.join(self.tmp, "m.db"), NO_COLOR="1")
            env.pop("DT_API_TOKEN_FILE", None)
            monspec = os.path.join(SRC, "examples", "monspec", "demo.monspec.json")
            bad_policy = os.path.join(self.tmp, "crash.lua")
            with open(bad_policy, "w") as f:
                f.write("return function(ctx) error('boom') end\n")
            runs = [("StagingToProduction", [], 0), ("CanaryToProduction", ["--window", "7", "--shift", "1"], 1),
                    ("StagingToProduction", ["--policy", bad_policy], 3),
                    ("StagingToProduction", ["--compat", "dtcli", "--shift-source", "60"], None)]
            for i, (comparison, extra, rc) in enumerate(runs):
                dump = os.path.join(self.tmp, "m%d.json" % i)
                p = self.run_ub(env, "gate", "--monspec", monspec, "--compare", "CheckoutService/" + comparison,
                                "--format", "json", "--dump-ctx", dump, *extra)
                if rc is not None:
                    self.assertEqual(p.returncode, rc, p.stderr)
                fixture = json.load(open(dump))
                self.valid("fixture", fixture)
                self.valid("gate-context-monspec", fixture["context"])
                self.valid("verdict", fixture["verdict"])
                self.valid("verdict", json.loads(p.stdout))
            exported = os.path.join(self.tmp, "export.json")
            p = self.run_ub(env, "replay", "2", "--export", exported)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.valid("fixture", json.load(open(exported)))
        finally:
            sim.stop()

    def test_slo_contexts_and_verdicts(self):
        for name, text in (("slo.yaml", SLO), ("sli.yaml", SLI)):
            with open(os.path.join(self.tmp, name), "w") as f:
                f.write(text)
        path = os.path.join(self.tmp, "scenario.json")
        with open(path, "w") as f:
            json.dump(scenario(480, 1.0, 1500, 40), f)
        sim = Sim(path)
        now = int(time.time() * 1000)
        try:
            env = dict(os.environ, DT_TENANT_URL=sim.url, DT_API_TOKEN=TOKEN, UB_LEDGER=os.path.join(self.tmp, "s.db"))
            for i in range(2):  # the second run has a baseline: previous is not empty
                dump = os.path.join(self.tmp, "s%d.json" % i)
                p = self.run_ub(env, "gate", "--slo", os.path.join(self.tmp, "slo.yaml"), "--sli",
                                os.path.join(self.tmp, "sli.yaml"), "--project", "sockshop", "--service", "carts",
                                "--stage", "staging", "--from", str(now - 1200000), "--to", str(now - 600000),
                                "--format", "json", "--dump-ctx", dump)
                self.assertEqual(p.returncode, 0, p.stderr)
                fixture = json.load(open(dump))
                self.valid("fixture", fixture)
                self.valid("gate-context-slo", fixture["context"])
                self.valid("verdict", fixture["verdict"])
            self.assertEqual(len(fixture["context"]["previous"]), 1)
        finally:
            sim.stop()

    def test_refused_documents(self):
        self.invalid("verdict", {"verdict": "passed"})
        self.invalid("verdict", {"summary": "no verdict"})
        self.invalid("verdict", {"verdict": "pass", "objectives": [{"name": "x", "status": "great"}]})
        self.invalid("gate-context-monspec", {"monspec_text": "{}", "target": "x"})
        self.invalid("fixture", {"unbreakable_fixture": 2, "context": {}, "recording": {}, "verdict": None})

    def test_healing_context_and_intents(self):
        ctx = {"problem": {"pid": "-123456789_1700000000000V2", "problem_id": "P-42", "state": "OPEN",
                           "title": "Failure rate increase", "impact": "SERVICE", "started": 1700000000000,
                           "tags": "app:checkout", "details": {"id": "-123456789_1700000000000V2"}},
               "entities": [{"entity": "SERVICE-C4EC4A0E5A3B1001", "name": "checkout",
                             "deployments": [{"time": 1699999000000, "source": "events_v2",
                                              "collection": "https://dev.azure.com/contoso", "project": "shop",
                                              "release_definition": 7, "release_id": 42, "release_name": "Release-42",
                                              "stage": "Production", "properties": {"dt.event.deployment.version": "42"}}],
                             "releases": [{"id": 42, "name": "Release-42", "status": "succeeded", "time": 1699999000000},
                                          {"id": 41, "name": "Release-41", "status": "succeeded", "time": 1699990000000}]}],
               "now": 1700000060000, "window_minutes": 60, "dry_run": False, "evaluation_url": None}
        self.valid("healing-context", ctx)
        self.invalid("healing-context", {"problem": {"pid": "1", "state": "CLOSED"}, "entities": [], "now": 1})
        intents = {"summary": "roll Production back to Release-41", "intents": [
            {"intent": "rollback", "project": "shop", "release": 41, "stage": "Production",
             "reason": "Release-42 was deployed 16 minutes before the problem"},
            {"intent": "comment", "text": "Rolled back from Release-42 to Release-41", "reason": "say so"},
            {"intent": "event", "type": "CUSTOM_ANNOTATION", "title": "rollback", "properties": {"release": "41"},
             "entities": ["SERVICE-C4EC4A0E5A3B1001"], "reason": "annotate"},
            {"intent": "freeze", "stage": "Production", "reason": "until the problem is understood"}]}
        self.valid("intents", intents)
        self.valid("intents", {"intents": []})
        self.invalid("intents", {"intents": [{"intent": "rollback", "project": "shop", "stage": "Production", "reason": "x"}]})
        self.invalid("intents", {"intents": [{"intent": "comment", "text": "no reason"}]})
        self.invalid("intents", {"intents": [{"intent": "delete", "reason": "x"}]})

    def test_service_bodies(self):
        self.valid("serve-gate-request", {"monspec": "checkout.monspec.json", "compare": "CheckoutService/StagingToProduction",
                                          "window": 5, "shift": 0, "policy": "gates/critical-only.lua"})
        self.valid("serve-gate-request", {"pull": "CheckoutService/Staging", "monspec": "checkout.monspec.json"})
        self.valid("serve-gate-request", {"slo": "slo.yaml", "sli": "sli.yaml", "service": "carts", "stage": "staging",
                                          "project": "sockshop", "window": 5, "labels": {"release": "42"}})
        self.invalid("serve-gate-request", {"monspec": "x.json"})
        self.invalid("serve-gate-request", {"monspec": "x.json", "compare": "a/b", "shell": "rm -rf /"})
        self.valid("serve-gate-response", {"status": "success", "verdict": "pass", "evaluation": 12, "summary": "pass: 1 objective",
                                           "objectives": [{"name": "rt", "status": "pass"}],
                                           "report": "/v1/evaluations/12/report"})
        self.valid("serve-gate-response", {"status": "accepted", "evaluation": 13})
        self.invalid("serve-gate-response", {"status": "succeeded", "evaluation": 13})
        self.valid("serve-dtcli-compat-request", {"serviceToCompare": "SampleJSonService/StagingToProduction",
                                                  "compareWindow": 5, "compareType": "pullcompare",
                                                  "monspecUrl": "https://example/monspec.json"})
        self.valid("serve-dtcli-compat-response", {"status": "success", "comment": "no violations"})
        self.valid("serve-problem-request", {"State": "OPEN", "ProblemID": "P-42", "PID": "-1_2V2", "ProblemTitle": "x",
                                             "ImpactedEntities": [{"type": "SERVICE", "name": "checkout", "entity": "SERVICE-1"}],
                                             "ProblemDetailsJSON": {"id": "x"}, "Tags": "app:checkout"})
        self.valid("serve-problem-response", {"problem": "-1_2V2", "state": "OPEN", "duplicate": False})

    def test_every_field_is_documented(self):
        with open(os.path.join(SRC, "docs", "policies.md")) as f:
            docs = f.read()

        def fields(props, prefix, defs):
            for k, d in props.items():
                yield prefix + k
                if d.get("properties"):
                    yield from fields(d["properties"], prefix + k + ".", defs)
                items = d.get("items", {})
                ref = items.get("$ref", "")
                if ref.startswith("#/$defs/"):
                    yield from fields(defs[ref.split("/")[-1]]["properties"], prefix + k + "[].", defs)
                elif items.get("properties"):
                    yield from fields(items["properties"], prefix + k + "[].", defs)

        missing = []
        for name, s in self.schemas.items():
            if "schemas/%s" % name not in docs:
                missing.append(name)
            for f in fields(s["properties"], "", s.get("$defs", {})):
                if "`%s`" % f not in docs:
                    missing.append("%s: %s" % (name, f))
        self.assertEqual(missing, [])


if __name__ == "__main__":
    unittest.main()
