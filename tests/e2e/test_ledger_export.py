"""End-to-end: `unbreakable ledger export` moves an SQLite ledger's history
into PostgreSQL and back (issue 15), verified by counts and digests: every
table identical, `history` and `replay` answer the same on all three copies,
new records continue after the copied ids, a non-empty target is refused and
the password never shows. Every command that takes --ledger takes
--database too (and refuses both at once, or a file given as a database). A
real PostgreSQL server started by the test
(tests/sim/pg_server.py); skipped (exit 77) without its binaries."""
import json
import os
import subprocess
import sys
import tempfile

SRC = os.environ.get("UB_SOURCE", ".")
BIN = os.environ.get("UB_BIN", os.path.join(SRC, "build", "unbreakable"))
BUILD = os.environ.get("UB_BUILD", os.path.join(SRC, "build"))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
import launch  # noqa: E402
import pg_server  # noqa: E402

WRITER = os.path.join(BUILD, "tests", "test_ledger")
TABLES = ("blobs", "evaluations", "evaluation_inputs", "binding_requests", "deployment_events", "actions",
          "pending_callbacks")


def run(*args, ok=(0,)):
    env = dict(os.environ)
    for k in ("UB_DATABASE_URL", "UB_LEDGER"):
        env.pop(k, None)
    p = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=launch.scaled(120))
    assert p.returncode in ok, "%s: exit %d\n%s\n%s" % (args, p.returncode, p.stdout, p.stderr)
    return p


class Export(pg_server.ServerTestCase):
    """On one PostgreSQL server, started once for the class (pg_server.ServerTestCase)."""

    def test_sqlite_to_postgres_and_back(self):
        work = tempfile.mkdtemp(prefix="ub-export-")
        db = os.path.join(work, "ledger.db")
        run(WRITER, "--write-fixture", db)          # a monspec gate with requests, an SLO gate
        run(WRITER, "--write-many", db, "5", "w")   # evaluations, events, actions
        run(BIN, "invalidate", "1", "--reason", "exported with its invalidation", "--ledger", db)
        url = self.pg.url
        p = run(BIN, "ledger", "export", "--ledger", db, "--to", url)
        for table in TABLES:
            self.assertRegex(p.stdout, r"%s\s+\d+ rows\s+sha256 \w+\s+identical" % table)
        self.assertIn("every table identical", p.stdout)
        self.assertNotIn(self.pg.password, p.stdout + p.stderr)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM evaluations"), "7")
        back = os.path.join(work, "back.db")
        p = run(BIN, "ledger", "export", "--database", url, "--to", back)
        self.assertIn("every table identical", p.stdout)
        # the three copies answer the same
        views = []
        for flag, where in (("--ledger", db), ("--database", url), ("--ledger", back)):
            history = run(BIN, "history", flag, where, "--format", "json", "--limit", "100").stdout
            replay = run(BIN, "replay", "1", flag, where, "--format", "json", ok=(0, 1, 3, 4)).stdout
            views.append((json.loads(history), replay))
        self.assertEqual(views[0], views[1])
        self.assertEqual(views[0], views[2])
        self.assertEqual(len(views[0][0]), 7)
        self.assertTrue(views[0][0][-1]["invalidated"])
        # new records continue after the copied ids
        run(WRITER, "--write-many", url, "1", "after")
        self.assertEqual(self.pg.psql("SELECT max(id) FROM evaluations"), "8")
        # a target that holds records is refused, and left as it was
        p = run(BIN, "ledger", "export", "--ledger", db, "--to", url, ok=(2,))
        self.assertIn("already holds", p.stderr)
        self.assertNotIn(self.pg.password, p.stdout + p.stderr)
        self.assertEqual(self.pg.psql("SELECT count(*) FROM evaluations"), "8")
        p = run(BIN, "ledger", "export", "--ledger", db, "--to", back, ok=(2,))
        self.assertIn("exists", p.stderr)


    def test_every_ledger_command_takes_database(self):
        commands = (["gate", "--monspec", "m.json", "--compare", "E/C"], ["history"], ["replay", "1"],
                    ["invalidate", "1", "--reason", "r"], ["report", "1", "--html", "/dev/null"],
                    ["deploy-event", "--entity-selector", 'type("SERVICE")', "--dry-run"],
                    ["selfheal", "--lift-freeze", "Production"], ["serve"], ["ledger", "export", "--to", "x.db"])
        for cmd in commands:
            both = run(BIN, *cmd, "--ledger", "/tmp/x.db", "--database", self.pg.url, ok=(2,))
            self.assertIn("--ledger and --database exclude each other", both.stderr, cmd)
            self.assertNotIn(self.pg.password, both.stdout + both.stderr, cmd)
            file_as_db = run(BIN, *cmd, "--database", "/tmp/x.db", ok=(2,))
            self.assertIn("--database wants a PostgreSQL URL", file_as_db.stderr, cmd)
        # and they work on it: a freeze lifted, the healing history read
        url = self.pg.url
        p = run(BIN, "selfheal", "--lift-freeze", "Production", "--database", url, ok=(0, 2))
        self.assertNotIn(self.pg.password, p.stdout + p.stderr)
        p = run(BIN, "history", "--kind", "selfheal", "--database", url)
        self.assertNotIn(self.pg.password, p.stdout + p.stderr)
        self.assertIn("PostgreSQL database ub on 127.0.0.1", p.stdout)
        # unreachable: a clear error naming host and port, fast, no password
        dead = "postgres://ub:Secr3tPassw0rd@127.0.0.1:1/ub"
        p = run(BIN, "history", "--database", dead, ok=(2,))
        self.assertIn("unreachable", p.stderr)
        self.assertIn("127.0.0.1:1", p.stderr)
        self.assertNotIn("Secr3tPassw0rd", p.stdout + p.stderr)


if __name__ == "__main__":
    launch.run_unless(pg_server.missing())
