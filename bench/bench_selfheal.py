#!/usr/bin/env python3
"""Webhook intake of self-healing: `wrk` with 64 connections posting Dynatrace
problem notifications (each a new PID, so each is a new ledger row) to
`unbreakable serve` on loopback. Every 202 is answered only after the
notification was committed to the ledger (SQLite WAL, synchronous=NORMAL:
see bench/README.md). The healing worker does not run during the measure
(no Dynatrace configured: serve records notifications and acts on none), so
what is measured is intake alone. Target (issue 14): >= 5,000
notifications/s with p99 <= 20 ms. Afterwards the ledger must hold exactly
as many notifications as wrk saw 202s.

    python3 bench/bench_selfheal.py [--bin build/unbreakable] [--seconds 10] [--connections 64]"""
import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

TOKEN = "bench-token-0123456789abcdef"

SCRIPT = r'''
local counter, thread_id = 0, 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  threads[#threads + 1] = thread
end
function init(args) thread_id = tid or 0 end
request = function()
  counter = counter + 1
  local body = string.format('{"State":"OPEN","ProblemID":"P-%d","PID":"%d_%d_bench","ProblemTitle":"bench",' ..
    '"ImpactedEntities":[{"entity":"SERVICE-8AC3A0761537D748","name":"svc","type":"SERVICE"}],' ..
    '"ProblemDetails":{"id":"x","startTime":1700000000000}}', counter, thread_id, counter)
  return wrk.format("POST", "/v1/problems", {["Content-Type"] = "application/json",
                                            ["Authorization"] = "Bearer TOKEN"}, body)
end
'''


def wait_port(log_path, proc):
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit("serve exited: " + open(log_path).read())
        m = re.search(r"\(port (\d+)\)", open(log_path).read())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    raise SystemExit("serve did not start")


def ms(text):
    """wrk's latency figure ("812.00us", "2.01ms", "1.20s", "1.00m") in ms."""
    found = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not found:
        raise SystemExit("bench_selfheal: cannot read wrk's latency figure %r" % text)
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join("build", "unbreakable"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--quick", action="store_true",
                        help="a one-second run at 8 connections (what ctest runs, so the benchmark cannot rot)")
    args = parser.parse_args()
    if args.quick or os.environ.get("UB_BENCH_QUICK") == "1":
        args.seconds, args.connections = 1, 8
    wrk = shutil.which("wrk")
    if not wrk:
        print("skipped: wrk is not installed (apt-get install wrk, or ./setup.sh --test)")
        return 0
    tmp = tempfile.mkdtemp(prefix="ub-bench-heal-")
    ledger = os.path.join(tmp, "ledger.db")
    script = os.path.join(tmp, "notify.lua")
    with open(script, "w") as f:
        f.write(SCRIPT.replace("TOKEN", TOKEN))
    env = dict(os.environ, UB_SERVE_TOKEN=TOKEN)
    for k in ("DT_TENANT_URL", "DT_API_TOKEN", "DT_API_TOKEN_FILE", "UB_SERVE_TOKEN_FILE"):
        env.pop(k, None)
    log_path = os.path.join(tmp, "serve.log")
    with open(log_path, "w") as log:
        serve = subprocess.Popen([args.bin, "serve", "--listen", "127.0.0.1:0", "--specs", tmp, "--ledger", ledger],
                                 stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        port = wait_port(log_path, serve)
        # The baseline, on the same server in the same run: GET /healthz.
        base = subprocess.run([wrk, "-t2", "-c%d" % args.connections, "-d%ds" % args.seconds,
                               "http://127.0.0.1:%d/healthz" % port],
                              capture_output=True, text=True, timeout=args.seconds + 60).stdout
        base_rate = float(re.search(r"Requests/sec:\s+([\d.]+)", base).group(1))
        out = subprocess.run([wrk, "-t2", "-c%d" % args.connections, "-d%ds" % args.seconds, "--latency",
                              "-s", script, "http://127.0.0.1:%d/v1/problems" % port],
                             capture_output=True, text=True, timeout=args.seconds + 60).stdout
        with open("/proc/%d/stat" % serve.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
    finally:
        serve.terminate()
        serve.wait(timeout=60)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    db = sqlite3.connect(ledger)
    rows = db.execute("SELECT count(*) FROM actions WHERE kind = 'problem'").fetchone()[0]
    sync = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    print(out)
    print("POST /v1/problems, wrk -t2 -c%d -d%ds, ledger journal %s, synchronous=NORMAL"
          % (args.connections, args.seconds, sync))
    print("  %.0f notifications/s, p50 %.2f ms, p99 %.2f ms, %d requests, %s non-2xx, socket errors: %s"
          % (rate, p50, p99, total, bad.group(1) if bad else "0", errors.group(1) if errors else "none"))
    print("  serve used %.2f s of CPU: %.0f us per notification (load average %s during the run: %s)"
          % (cpu_s, cpu_s / max(rows, 1) * 1e6, load,
             "the machine is shared, compare with the CPU cost" if float(load) > 2.5 else "quiet"))
    print("  ledger rows: %d (wrk counts completed requests only; a request cut at the end may be recorded)"
          % rows)
    print("  ratio to GET /healthz on the same server (%.0f/s): %.2fx of its throughput"
          % (base_rate, rate / base_rate if base_rate else 0.0))
    target = rate >= 5000 and p99 <= 20
    print("  target >= 5000/s and p99 <= 20 ms: %s" % ("met" if target else "NOT met"))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
