"""End-to-end: several `serve` replicas on one PostgreSQL ledger (issue 15,
docs/operations.md). A real PostgreSQL server started by the test
(tests/sim/pg_server.py), both simulators, two and three replicas:

- a callback-mode gate whose replica is killed before Azure DevOps took its
  TaskCompleted is completed, once, by another replica that was already
  running (it looks for expired leases);
- the self-healing storm: 20 identical notifications spread over the
  replicas, the replica handling it killed with SIGKILL while its rollback
  PATCH is on the wire; another replica takes the notification over when
  the lease expires, and the end is exactly one rollback PATCH and one
  comment;
- what one replica records (an SLO evaluation) is the baseline another
  replica's gate compares with;
- the database stopped and restarted under notifications: they get 503
  (Dynatrace retries) while it is down, nothing accepted is lost, and no
  intent runs twice.

Skipped (exit 77) when the PostgreSQL server binaries are missing."""
import concurrent.futures
import json
import os
import signal
import sys

SRC = os.environ.get("UB_SOURCE", ".")
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
import launch  # noqa: E402
import pg_server  # noqa: E402
import test_selfheal as single  # noqa: E402  (the single-replica harness and payloads)
import test_gate_slo as slo  # noqa: E402  (the SLO files and the simulator scenario)
import test_serve as serve_e2e  # noqa: E402  (plans, callback headers, gate bodies, specs)

SLOW = single.SLOW
LEASE = 10 * SLOW   # longer than the PATCH is held (3 s × SLOW) plus the reads before it


def wait_for(cond, what, seconds=90):
    return launch.wait_for(cond, seconds, what, interval=0.05)


class Replicas(single.Harness):
    """The single-replica harness, its ledger a PostgreSQL database, and N serves."""

    def __init__(self, pg):
        super().__init__()
        self.pg = pg
        self.ledger = pg.url
        self.env["UB_DATABASE_URL"] = pg.url
        self.env.pop("UB_LEDGER", None)
        self.serves = []

    def start_replicas(self, n, *args):
        for _ in range(n):
            self.serves.append(launch.ServeProcess(single.BIN, self.specs, self.ledger,
                                                   ("--lease-seconds", str(LEASE)) + args,
                                                   env=self.env, token=single.TOKEN))
        self.serve = self.serves[0]

    def stop(self, sig=signal.SIGTERM):
        for s in self.serves:
            s.stop(sig)
        self.serves = []
        self.serve = None

    def live(self):
        return [s for s in self.serves if s.proc.poll() is None]

    def request_on(self, serve, method, path, body=None):
        status, _, data = serve.request(method, path, body, token=single.TOKEN)
        return status, (json.loads(data) if data else None)

    def healing(self, notification):
        status, doc = self.request_on(self.live()[0], "GET", "/v1/selfheal/%d" % notification)
        return doc if status == 200 and doc["state"] not in ("running", "executing") else None

    def sql(self, query):
        return self.pg.psql(query)


class ReplicasTest(pg_server.ServerTestCase):
    """On one PostgreSQL server, started once for the class (pg_server.ServerTestCase)."""

    def setUp(self):
        self.pg.psql("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public AUTHORIZATION ub")
        self.h = Replicas(self.pg)

    def tearDown(self):
        self.h.close()

    def storm(self, replicas):
        h = self.h
        h.deploy(41)
        h.deploy(42)
        # the PATCH takes its effect, then answers slowly: its replica dies before confirming it
        h.ado.state.add_faults([{"method": "PATCH", "path": "/%s/_apis/Release/releases/41" % single.PROJECT,
                                 "latencyMs": 3000 * SLOW, "times": 1}])
        h.start_replicas(replicas)
        body = json.dumps(single.payload())
        serves = list(h.serves)
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda i: h.request_on(serves[i % len(serves)], "POST", "/v1/problems", body),
                                    range(20)))
        self.assertTrue(all(s == 202 for s, _ in answers), answers)
        self.assertEqual(sum(1 for _, d in answers if not d["duplicate"]), 1, answers)
        notification = answers[0][1]["notification"]
        self.assertTrue(all(d["notification"] == notification for _, d in answers))
        wait_for(lambda: h.patches(answered_only=False), "the PATCH to reach Azure DevOps")
        owner = h.sql("SELECT lease_owner FROM actions WHERE id = %d" % notification)
        pid = int(owner.rsplit(" pid ", 1)[1])
        victim = next(s for s in h.serves if s.proc.pid == pid)
        victim.stop(signal.SIGKILL)
        healed = wait_for(lambda: h.healing(notification), "another replica to finish the healing",
                          seconds=LEASE + 90)
        self.assertEqual(healed["state"], "done", healed)
        self.assertEqual(len(h.patches(answered_only=False)), 1)
        self.assertEqual(len(h.redeploys()), 1)
        self.assertEqual(len(h.comments()), 1)
        self.assertIn("already", healed["decision"]["outcomes"][0].get("detail", ""))
        taker = h.sql("SELECT lease_owner FROM actions WHERE id = %d" % notification)
        self.assertNotEqual(taker, owner)
        self.assertEqual(h.sql("SELECT count(*) FROM actions WHERE kind = 'problem'"), "1")
        self.assertEqual(h.sql("SELECT count(*) FROM actions WHERE kind = 'selfheal.intent'"), "2")
        for s in h.serves:
            self.assertNotIn(self.pg.password, s.text())

    def test_storm_on_two_replicas_one_killed(self):
        self.storm(2)

    def test_storm_on_three_replicas_one_killed(self):
        self.storm(3)

    def test_a_replica_that_lost_its_lease_calls_and_records_nothing(self):
        """Fencing: the replica that took the notification is paused (SIGSTOP) while its look at
        the stage, just before the rollback, is on the wire, for longer than its lease; the other
        replica takes the notification over and heals it. When the first one resumes it must
        find its lease gone: no second PATCH, and nothing it records over the healing."""
        h = self.h
        h.deploy(41)
        h.deploy(42)
        h.ado.state.add_faults([{"method": "GET", "pathRegex": "/_apis/release/deployments$",
                                 "queryContains": "$top=5", "latencyMs": 2000 * SLOW, "times": 1}])
        h.start_replicas(2)
        status, doc = h.request_on(h.serves[0], "POST", "/v1/problems", json.dumps(single.payload()))
        self.assertEqual(status, 202, doc)
        notification = doc["notification"]
        wait_for(lambda: any("$top=5" in r["query"] for r in list(h.ado.state.requests)),
                 "the look before the rollback")
        owner = h.sql("SELECT lease_owner FROM actions WHERE id = %d" % notification)
        held = next(s for s in h.serves if s.proc.pid == int(owner.rsplit(" pid ", 1)[1]))
        other = next(s for s in h.serves if s is not held)
        os.kill(held.proc.pid, signal.SIGSTOP)
        try:
            def healed():
                status, doc = h.request_on(other, "GET", "/v1/selfheal/%d" % notification)
                return doc if status == 200 and doc["state"] not in ("running", "executing") else None
            done = wait_for(healed, "the other replica to take over and heal", seconds=LEASE + 90)
            self.assertEqual(done["state"], "done", done)
        finally:
            os.kill(held.proc.pid, signal.SIGCONT)
        wait_for(lambda: "selfheal: notification %d " % notification in held.text(),
                 "the paused replica to end its handling")
        self.assertIn("lost its lease", held.text())
        self.assertEqual(len(h.patches(answered_only=False)), 1)
        self.assertEqual(len(h.comments()), 1)
        status, after = h.request_on(other, "GET", "/v1/selfheal/%d" % notification)
        self.assertEqual((status, after["state"]), (200, "done"), after)
        self.assertEqual(h.sql("SELECT state FROM actions WHERE id = %d" % notification), "handled")

    def test_database_down_notifications_get_503_and_nothing_is_lost(self):
        h = self.h
        h.deploy(41)
        h.deploy(42)
        h.specs = serve_e2e.make_specs()   # a gate too: the pass.lua policy
        h.start_replicas(2)
        status, _, ok = h.serves[1].request("POST", "/v1/gate", serve_e2e.gate_body("pass.lua"), token=single.TOKEN)
        self.assertEqual((status, json.loads(ok)["verdict"]), (200, "pass"), ok)
        quiet = json.dumps(single.payload(pid=single.PID_QUIET, display="P-22013996", entity=single.QUIET))
        status, first = h.request_on(h.serves[0], "POST", "/v1/problems", quiet)
        self.assertEqual(status, 202)
        wait_for(lambda: h.healing(first["notification"]), "the first notification to be handled")
        self.assertTrue(self.pg.stop("fast"))
        body = json.dumps(single.payload())
        answers = [h.request_on(h.serves[i % 2], "POST", "/v1/problems", body)[0] for i in range(4)]
        self.assertEqual(set(answers), {503}, answers)
        # a gate fails closed at once: it answers failure (the freeze check cannot read the
        # ledger), never a pass
        status, _, down = h.serves[1].request("POST", "/v1/gate", serve_e2e.gate_body("pass.lua"), token=single.TOKEN)
        self.assertEqual(status, 200, down)
        self.assertEqual(json.loads(down)["status"], "failure", down)
        self.assertNotEqual(json.loads(down).get("verdict"), "pass", down)
        self.assertNotIn(self.pg.password, down.decode())
        self.pg.restart_same_port()
        # Dynatrace retries: once the database is back the notification is accepted, once
        accepted = wait_for(lambda: [d for s, d in [h.request_on(h.serves[i % 2], "POST", "/v1/problems", body)
                                                    for i in range(2)] if s == 202] or None,
                            "a notification to be accepted after the restart")
        n = accepted[0]["notification"]
        healed = wait_for(lambda: h.healing(n), "the notification to be handled after the restart")
        self.assertEqual(healed["state"], "done", healed)
        self.assertEqual(len(h.patches(answered_only=False)), 1)
        self.assertEqual(h.sql("SELECT count(*) FROM actions WHERE kind = 'problem'"), "2")
        self.assertEqual(h.sql("SELECT count(*) FROM actions WHERE kind = 'selfheal.intent' "
                               "AND key = '%s'" % single.PID), "2")


    def test_slo_baseline_recorded_by_one_replica_is_used_by_another(self):
        """Replica A (its Dynatrace answering run 1's values) records a passing SLO evaluation;
        replica B (run 2's values) compares with it: the worked example of test_gate_slo.py."""
        h = self.h
        for name, text in (("slo.yaml", slo.SLO), ("sli.yaml", slo.SLI)):
            with open(os.path.join(h.specs, name), "w") as f:
                f.write(text)
        body = {"slo": "slo.yaml", "sli": "sli.yaml", "service": "carts", "stage": "staging",
                "project": "sockshop", "window": 5, "shift": 10}
        sims, serves = [], []
        try:
            for values in ((480, 1.0, 1500, 40), (560, 1.0, 1400, 40)):
                path = os.path.join(h.dir, "slo-%d.json" % len(sims))
                with open(path, "w") as f:
                    json.dump(slo.scenario(*values), f)
                sims.append(launch.SimProcess(path))
                env = dict(h.env, DT_TENANT_URL=sims[-1].url, DT_API_TOKEN=slo.TOKEN)
                serves.append(launch.ServeProcess(single.BIN, h.specs, h.ledger, (), env=env,
                                                  token=single.TOKEN))
            status, first = h.request_on(serves[0], "POST", "/v1/gate", body)
            self.assertEqual(status, 200, first)
            self.assertEqual(first["verdict"], "pass", first)
            status, second = h.request_on(serves[1], "POST", "/v1/gate", body)
            self.assertEqual(status, 200, second)
            rt = second["objectives"][0]
            # baseline 480 (recorded through replica A) -> target 528: 560 violates it
            self.assertEqual((rt["name"], rt["baseline"], rt["threshold"]), ("Response time P95", 480, 528), rt)
            self.assertEqual(second["verdict"], "warning", second)
        finally:
            for serve in serves:
                serve.stop()
            for sim in sims:
                sim.stop()


    def test_callback_of_a_killed_replica_is_completed_by_another(self):
        h = self.h
        ado = serve_e2e.azure_devops_sim.start({})
        specs = serve_e2e.make_specs()
        lease = 3 * SLOW
        args = ("--workers", "1", "--gate-timeout", "5", "--allow-callback", ado.url + "/",
                "--lease-seconds", str(lease))
        p = serve_e2e.plan("33333333-0000-0000-0000-000000000001", "release", 14)
        ado.state.add_plan(p)
        ado.state.add_faults([{"pathRegex": p["planId"] + "/events$", "status": 503}])
        serves = []
        try:
            for _ in range(2):
                serves.append(serve_e2e.Server(specs, h.ledger, self.dt_url(), *args))
            status, _, v = serves[0].gate(serve_e2e.gate_body("pass.lua"),
                                          headers=serve_e2e.callback_headers(ado.url, p))
            self.assertEqual((status, v["status"]), (200, "accepted"))
            wait_for(lambda: any(r["path"].endswith("/events") and r.get("status") == 503
                                 for r in list(ado.state.requests)), "a refused TaskCompleted")
            self.assertEqual(h.sql("SELECT count(*) FROM pending_callbacks WHERE state = 'pending'"
                                   " AND lease_owner LIKE '%% pid %d'" % serves[0].proc.pid), "1")
            # the stored request names no database: its URL holds the password
            self.assertEqual(h.sql("SELECT count(*) FROM pending_callbacks WHERE request_json LIKE '%%%s%%'"
                                   % self.pg.password), "0")
            serves[0].stop(signal.SIGKILL)
            with ado.state.lock:
                ado.state.faults = []
            wait_for(lambda: h.sql("SELECT state FROM pending_callbacks") != "pending",
                     "another replica to complete the callback", seconds=lease + 90)
            view = ado.state.plan_views()[p["planId"]]
            self.assertEqual((view["result"], view["completions"]), ("succeeded", 1))
            self.assertIn("resuming callback", serves[1].text())
            self.assertEqual(h.sql("SELECT state FROM pending_callbacks"), "completed")
        finally:
            for s in serves:
                s.stop()
            ado.stop()

    def dt_url(self):
        return self.h.env["DT_TENANT_URL"]


if __name__ == "__main__":
    launch.run_unless(pg_server.missing())
