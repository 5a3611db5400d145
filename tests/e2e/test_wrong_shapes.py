"""End-to-end (review 11, 2.1): a 200 answer that is valid JSON but not the
documented answer of its call (an error object, {}, a list where an object
belongs, items without their id, wrong types) is an error, exit 3, never
"no data". One set of wrong bodies per decoder, through `unbreakable dt`
against the simulator's `json` fault, and the gate case of the review: an
entity look-up answered `{"error": "x"}` with allow_missing_baseline must
not let a 310 ms release pass against 120 ms."""
import json
import os
import sys
import shutil
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ubtest import MONSPEC, Sim, env_for, run_ub  # noqa: E402

SERVICE = "SERVICE-C4EC4A0E5A3B1001"
PROBLEM = "-2387593847561234567_1700000000000V2"
SLO = "2c6f1a54-8d7e-3b9a-a1c2-0d4e5f6a7b8c"
ERROR_ENVELOPE = {"error": {"code": 500, "message": "boom"}}


def dt(sim, *args):
    return run_ub(["dt"] + list(args), env_for(sim))


# call -> (its arguments, path prefix of its request, wrong bodies)
CALLS = {
    "entities_v1": (["services", "--tag", "app:checkout"], "/api/v1/entity/services",
                    [{}, {"error": "x"}, ERROR_ENVELOPE, [{"displayName": "checkout"}], ["SERVICE-1"],
                     [{"entityId": 7}], "services", [{"entityId": "SERVICE-1", "displayName": 5}],
                     [{"entityId": "SERVICE-1", "tags": {"key": "app"}}],
                     [{"entityId": "SERVICE-1", "fromRelationships": {"calls": "SERVICE-2"}}],
                     [{"entityId": "SERVICE-1", "fromRelationships": {"calls": [1]}}],
                     [{"entityId": "SERVICE-1", "toRelationships": ["SERVICE-2"]}]]),
    "entities": (["type(SERVICE)"], "/api/v2/entities",
                 [{}, {"error": "x"}, ERROR_ENVELOPE, [], {"entities": {}}, {"entities": [{"displayName": "x"}]},
                  {"entities": [], "totalCount": "1"}, {"entities": ["SERVICE-1"]},
                  {"entities": [{"entityId": "SERVICE-1", "type": 3}]}]),
    "timeseries": (["com.dynatrace.builtin:service.responsetime", "--aggregation", "avg", "--entity", SERVICE,
                    "--relative", "hour"],
                   "/api/v1/timeseries/",
                   [{}, {"error": "x"}, dict(ERROR_ENVELOPE, dataResult={"dataPoints": {}}), [],
                    {"dataResult": {}}, {"result": {"dataPoints": []}}, {"dataResult": {"dataPoints": {"S": [[1]]}}},
                    {"dataResult": {"dataPoints": {}, "unit": 3}}]),
    "metrics": (["builtin:service.response.time"], "/api/v2/metrics/query",
                [{}, {"error": "x"}, dict(ERROR_ENVELOPE, result=[]), [], {"result": {}},
                 {"result": [{"data": []}]}, {"result": [{"metricId": "m"}]},
                 {"result": [{"metricId": "m", "data": [{"values": [1]}]}]},
                 {"result": [], "totalCount": "1"}]),
    "metric_descriptor": (["builtin:service.response.time"], "/api/v2/metrics/",
                          [{}, {"error": "x"}, ERROR_ENVELOPE, [], {"metricId": 5}, {"metricId": "m", "unit": 1}]),
    "events_v1": (["--event-type", "CUSTOM_DEPLOYMENT"], "/api/v1/events",
                  [{}, {"error": "x"}, ERROR_ENVELOPE, [], {"events": {}}, {"events": [1]},
                   {"events": [], "totalEventCount": "2"}]),
    "events": (["--event-selector", "eventType(CUSTOM_DEPLOYMENT)"], "/api/v2/events",
               [{}, {"error": "x"}, ERROR_ENVELOPE, [], {"events": {"a": 1}}, {"events": ["e"]},
                {"events": [], "nextPageKey": 5}]),
    "problem": ([PROBLEM], "/api/v2/problems/",
                [{}, {"error": "x"}, dict(ERROR_ENVELOPE, problemId="P"), [], {"problemId": 1}]),
    "problems": ([], "/api/v2/problems",
                 [{}, {"error": "x"}, ERROR_ENVELOPE, [], {"problems": {}}, {"problems": [{"title": "t"}]}]),
    "slo": ([SLO], "/api/v2/slo/", [{}, {"error": {"code": 1}}, [], {"id": 4}]),
}


class WrongShapes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ub_shapes_")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.sim = Sim(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def test_every_call_rejects_wrong_shapes(self):
        for call, (args, path, bodies) in sorted(CALLS.items()):
            self.sim.only_fault()
            good = dt(self.sim, call, *args)
            self.assertEqual(good.returncode, 0, "%s answers without a fault: %s" % (call, good.stderr))
            for body in bodies:
                with self.subTest(call=call, body=body):
                    self.sim.only_fault(path=path, json=body)
                    p = dt(self.sim, call, *args)
                    self.assertEqual(p.returncode, 3, "%s with %s: rc %d, %s" % (call, json.dumps(body),
                                                                                  p.returncode, p.stdout))
                    self.assertIn("received invalid response", p.stderr)
                    doc = json.loads(p.stdout)
                    self.assertFalse(doc["ok"])

    def test_duplicate_keys_in_an_answer_are_errors(self):
        # a duplicate key in a Dynatrace answer is not an answer either (2.4)
        cases = {"metrics": '{"totalCount": 0, "result": [], "result": []}',
                 "entities": '{"entities": [], "totalCount": 0, "totalCount": 1}',
                 "timeseries": '{"dataResult": {"dataPoints": {"%s": [], "%s": []}}}' % (SERVICE, SERVICE),
                 "slo": '{"id": "a", "id": "b"}'}
        for call, body in sorted(cases.items()):
            with self.subTest(call=call):
                args, path, _ = CALLS[call]
                self.sim.only_fault(path=path, body=body)
                p = dt(self.sim, call, *args)
                self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
                self.assertIn("duplicate key", p.stderr)

    def test_deploy_event_answers_of_the_wrong_shape_are_errors(self):
        cases = [("v2", "/api/v2/events/ingest", 201, {"reportCount": 1}),
                 ("v2", "/api/v2/events/ingest", 201, {"reportCount": 1, "eventIngestResults": "x"}),
                 ("v2", "/api/v2/events/ingest", 201, {"reportCount": 1, "eventIngestResults": ["ok"]}),
                 ("v2", "/api/v2/events/ingest", 201, {"reportCount": 1, "eventIngestResults": [], "error": "x"}),
                 ("v1", "/api/v1/events", 200, {"storedEventIds": [1], "storedIds": 5}),
                 ("v1", "/api/v1/events", 200, {"storedEventIds": ["1"]}),
                 ("v1", "/api/v1/events", 200, {"error": {"code": 500, "message": "boom"}, "storedEventIds": [1]})]
        for api, path, status, body in cases:
            with self.subTest(api=api, body=body):
                self.sim.only_fault(path=path, method="POST", status=status, json=body)
                args = ["--tag", "app:checkout"] if api == "v1" else ["--entity-selector", "type(SERVICE)"]
                p = run_ub(["deploy-event"] + args + ["--api", api, "--name", "n", "--version", "1", "--no-ledger"],
                           env_for(self.sim))
                self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
                self.assertNotIn("recorded on", p.stdout)
        self.sim.only_fault()

    def test_error_answer_to_a_look_up_never_passes_the_gate(self):
        with open(MONSPEC) as f:
            spec = json.load(f)
        for cmp in spec["CheckoutService"]["comparisons"]:
            cmp["allow_missing_baseline"] = True
        path = os.path.join(self.dir, "amb.monspec.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        for body in ({"error": "x"}, {}):
            with self.subTest(body=body):
                # the Production (baseline) look-up answers a wrong shape
                self.sim.only_fault(path="/api/v1/entity/services", queryContains="Production", json=body)
                p = run_ub(["gate", "--monspec", path, "--compare", "CheckoutService/CanaryToProduction",
                            "--format", "json", "--no-ledger"], env_for(self.sim))
                verdict = json.loads(p.stdout)
                self.assertEqual(verdict["verdict"], "error", p.stdout)
                self.assertEqual(p.returncode, 3, p.stderr)
                avg = [o for o in verdict["objectives"] if o["name"].endswith("responsetime avg")][0]
                self.assertNotEqual(avg["status"], "pass")
                self.assertIn("received invalid response", json.dumps(avg))
        self.sim.only_fault()


if __name__ == "__main__":
    unittest.main()
