#!/usr/bin/env python3
"""Notification intake on PostgreSQL next to SQLite, in one run: `wrk`
posting Dynatrace problem notifications (each a new PID, so each a new
ledger row committed before its 202) to `unbreakable serve` with

  - one replica on an SQLite file (the baseline),
  - one replica on PostgreSQL,
  - two replicas on one PostgreSQL (one wrk per replica, the rates summed),

rounds interleaved, medians compared: the ratios against the SQLite
baseline of the same run are the result. The PostgreSQL server is a
temporary one started here (tests/sim/pg_server.py: fsync off, loopback),
so the figures compare the ledgers' own costs, not a network or a disk.
Afterwards each ledger must hold as many notifications as wrk saw 202s
(at least: a request cut at the end may be recorded).

    python3 bench/bench_intake_pg.py [--bin build/unbreakable] [--seconds 5] [--rounds 3]"""
import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "sim"))
sys.path.insert(0, HERE)
import bench_selfheal  # noqa: E402  (the wrk script and the serve start-up)
import pg_server  # noqa: E402

TOKEN = bench_selfheal.TOKEN


def start_serve(binary, ledger, tmp, tag):
    env = dict(os.environ, UB_SERVE_TOKEN=TOKEN)
    for k in ("DT_TENANT_URL", "DT_API_TOKEN", "DT_API_TOKEN_FILE", "UB_SERVE_TOKEN_FILE", "UB_DATABASE_URL"):
        env.pop(k, None)
    log_path = os.path.join(tmp, "serve-%s.log" % tag)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--specs", tmp, "--ledger", ledger],
                                stdout=subprocess.DEVNULL, stderr=log, env=env)
    return proc, bench_selfheal.wait_port(log_path, proc)


def run_wrk(wrk, ports, seconds, connections, tmp, tag):
    """One wrk per port at once; returns (summed rate, summed 2xx count)."""
    procs = []
    for i, port in enumerate(ports):
        script = os.path.join(tmp, "notify-%s-%d.lua" % (tag, i))
        with open(script, "w") as f:
            f.write(bench_selfheal.SCRIPT.replace("TOKEN", TOKEN).replace("_bench", "_bench%s%d" % (tag, i)))
        procs.append(subprocess.Popen([wrk, "-t1", "-c%d" % max(1, connections // len(ports)), "-d%ds" % seconds,
                                       "-s", script, "http://127.0.0.1:%d/v1/problems" % port],
                                      stdout=subprocess.PIPE, text=True))
    rate = ok = 0
    for p in procs:
        out = p.communicate(timeout=seconds + 60)[0]
        rate += float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        total = int(re.search(r"(\d+) requests in", out).group(1))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        ok += total - (int(bad.group(1)) if bad else 0)
    return rate, ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.environ.get("UB_BIN") or os.path.join("build", "unbreakable"))
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="one round of one second (what ctest runs)")
    args = parser.parse_args()
    if args.quick or os.environ.get("UB_BENCH_QUICK") == "1":
        args.seconds, args.rounds, args.connections = 1, 1, 8
    wrk = shutil.which("wrk")
    if not wrk:
        print("skipped: wrk is not installed (apt-get install wrk, or ./setup.sh --test)")
        return 0
    tmp = tempfile.mkdtemp(prefix="ub-bench-pg-")
    sqlite_ledger = os.path.join(tmp, "ledger.db")
    rates = {"sqlite": [], "pg1": [], "pg2": []}
    served = {"sqlite": 0, "pg": 0}
    with pg_server.PgServer() as pg:
        serves = []
        try:
            serves.append(start_serve(args.bin, sqlite_ledger, tmp, "sqlite"))
            serves.append(start_serve(args.bin, pg.url, tmp, "pg-a"))
            serves.append(start_serve(args.bin, pg.url, tmp, "pg-b"))
            sqlite_port, pg_a, pg_b = (port for _, port in serves)
            for r in range(args.rounds):
                for name, ports in (("sqlite", [sqlite_port]), ("pg1", [pg_a]), ("pg2", [pg_a, pg_b])):
                    rate, ok = run_wrk(wrk, ports, args.seconds, args.connections, tmp, "%s%d" % (name, r))
                    rates[name].append(rate)
                    served["sqlite" if name == "sqlite" else "pg"] += ok
        finally:
            for proc, _ in serves:
                proc.terminate()
                proc.wait(timeout=60)
        pg_rows = int(pg.psql("SELECT count(*) FROM actions WHERE kind = 'problem'"))
    db = sqlite3.connect(sqlite_ledger)
    sqlite_rows = db.execute("SELECT count(*) FROM actions WHERE kind = 'problem'").fetchone()[0]
    db.close()
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    base = statistics.median(rates["sqlite"])
    print("POST /v1/problems, %d connections, %d s per run, %d rounds interleaved, medians (load %s)"
          % (args.connections, args.seconds, args.rounds, load))
    for name, label in (("sqlite", "1 replica, SQLite (baseline)"), ("pg1", "1 replica, PostgreSQL"),
                        ("pg2", "2 replicas, one PostgreSQL")):
        med = statistics.median(rates[name])
        print("  %-30s %8.0f notifications/s  ratio %.2fx" % (label, med, med / base if base else 0.0))
    print("  ledger rows: SQLite %d (wrk saw %d 2xx), PostgreSQL %d (wrk saw %d 2xx)%s"
          % (sqlite_rows, served["sqlite"], pg_rows, served["pg"],
             "" if sqlite_rows >= served["sqlite"] and pg_rows >= served["pg"] else "  LOST NOTIFICATIONS"))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if sqlite_rows >= served["sqlite"] and pg_rows >= served["pg"] else 1


if __name__ == "__main__":
    sys.exit(main())
