#!/usr/bin/env python3
"""pg_server.py: a real PostgreSQL server for the tests, started by them.

initdb and pg_ctl from Debian's postgresql package (/usr/lib/postgresql/<v>/bin)
create a cluster in a temporary directory, listening on a free port of
127.0.0.1 with its unix socket inside that directory, and stop it at the end.
initdb refuses root: as root the server runs as the `postgres` user the
Debian package creates (the directory is handed to it). The tests connect as
role `ub` with a password (scram-sha-256 over TCP), to database `ub`.

    pg_server.py run -- CMD ARGS...   start, run CMD with UB_TEST_DATABASE_URL
                                      (and UB_TEST_PG_ADMIN_URL, UB_TEST_PG_DIR)
                                      set, stop; CMD's exit status is returned
    from pg_server import PgServer    with PgServer() as pg: pg.url, pg.stop(),
                                      pg.start() (same data, same port)

Missing server binaries: exit 77 (ctest SKIP_RETURN_CODE), never a pass.
"""
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

SKIP = 77


class Unavailable(Exception):
    """The PostgreSQL server binaries (or a user to run them) are missing."""


def server_bin():
    """The newest /usr/lib/postgresql/<v>/bin holding initdb and pg_ctl."""
    def version(d):
        try:
            return int(os.path.basename(os.path.dirname(d)))
        except ValueError:
            return -1
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for d in dirs:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return d
    raise Unavailable("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin "
                      "(apt-get install postgresql, or ./setup.sh --test)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, scale=None):
        self.bin = server_bin()
        self.run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and no `postgres` user to run the server as")
            self.run_as = "postgres"
        self.dir = tempfile.mkdtemp(prefix="ub-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        os.mkdir(self.sock)
        if self.run_as:
            pw = pwd.getpwnam(self.run_as)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            os.chown(self.sock, pw.pw_uid, pw.pw_gid)
        self.password = secrets.token_hex(12)
        self.port = None
        self.scale = scale or float(os.environ.get("UB_TIME_SCALE", "1") or 1)

    def _cmd(self, args, **kw):
        if self.run_as:
            args = ["runuser", "-u", self.run_as, "--"] + args
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              cwd=self.dir, **kw)

    def _check(self, res, what):
        if res.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (what, res.returncode, res.stdout[-2000:]))

    @property
    def url(self):
        return "postgres://ub:%s@127.0.0.1:%d/ub" % (self.password, self.port)

    @property
    def admin_url(self):
        """The superuser over the unix socket (no password: local trust)."""
        return "host=%s port=%d dbname=ub user=postgres" % (self.sock, self.port)

    def init(self):
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self.run_as:
            pw = pwd.getpwnam(self.run_as)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        res = self._cmd([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                         "-E", "UTF8", "--locale=C", "--auth-local=trust",
                         "--auth-host=scram-sha-256", "--no-sync"])
        self._check(res, "initdb")
        os.unlink(pwfile)

    def start(self):
        for attempt in range(5):
            if self.port is None or attempt > 0:
                self.port = free_port()
            opts = "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200" % (
                self.port, self.sock)
            res = self._cmd([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-o", opts,
                             "-l", os.path.join(self.dir, "log"), "-w",
                             "-t", str(int(60 * self.scale)), "start"])
            if res.returncode == 0:
                return
            if attempt == 4 or self.port is None:
                self._check(res, "pg_ctl start")
        return

    def restart_same_port(self):
        res = self._cmd([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-o",
                         "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=200"
                         % (self.port, self.sock), "-l", os.path.join(self.dir, "log"), "-w",
                         "-t", str(int(60 * self.scale)), "start"])
        self._check(res, "pg_ctl start")

    def psql(self, sql, db="ub"):
        res = self._cmd([os.path.join(self.bin, "psql") if os.path.exists(os.path.join(self.bin, "psql"))
                         else "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.sock,
                         "-p", str(self.port), "-U", "postgres", "-d", db, "-At", "-c", sql])
        self._check(res, "psql " + sql[:60])
        return res.stdout.strip()

    def setup_roles(self):
        self.psql("CREATE ROLE ub LOGIN PASSWORD '%s'" % self.password, db="postgres")
        self.psql("CREATE DATABASE ub OWNER ub", db="postgres")

    def stop(self, mode="fast"):
        res = self._cmd([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"])
        return res.returncode == 0

    def __enter__(self):
        try:
            self.init()
            self.start()
            self.setup_roles()
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self.close()


def missing():
    """Why no test server can start here (the server binaries are not installed), or None."""
    try:
        server_bin()
    except Unavailable as e:
        return str(e)
    return None


class ServerTestCase(unittest.TestCase):
    """A test case class whose tests share one server (self.pg), started once for the class."""

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()


def main(argv):
    if len(argv) < 3 or argv[1] != "run" or argv[2] != "--" or len(argv) < 4:
        print("usage: pg_server.py run -- CMD ARGS...", file=sys.stderr)
        return 2
    try:
        server = PgServer()
    except Unavailable as e:
        print("SKIPPED: %s" % e, file=sys.stderr)
        return SKIP
    with server as pg:
        env = dict(os.environ, UB_TEST_DATABASE_URL=pg.url, UB_TEST_PG_ADMIN_URL=pg.admin_url,
                   UB_TEST_PG_DIR=pg.dir)
        return subprocess.call(argv[3:], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
