#!/usr/bin/env python3
"""bench_serve.py: gate latency through `unbreakable serve` against the
Dynatrace simulator with a fixed latency per request, next to the network
floor and the CLI gate, all measured in the same run (issue 13); then `wrk`
on POST /v1/gate with a trivial policy and no latency.

Part 1. The simulator (tests/sim, scenario demo.json) answers every /api/
request after --latency ms (a fault rule). The demo monspec gate
(CheckoutService/StagingToProduction, the shipped policy, verdict pass) makes
two rounds of parallel requests: the entity look-ups and Metrics v2 queries,
then the Timeseries v1 queries (12 requests, fewer than the concurrency of
10 per round... the counts are read from the simulator's log). So the floor is
two round trips: measured here as two sequential GETs from this process to
the simulator on one kept-alive connection. Each run measures, interleaved:
  floor   two sequential round trips to the simulator
  serve   POST /v1/gate on a kept-alive connection, request to answer
  cli     `unbreakable gate` as a process (start, gate, ledger, exit)
  replay  the gate's own two rounds of requests (read from the simulator's
          log) replayed from this process, each round in parallel: the floor
          plus the simulator's time to answer a whole round
and the medians, their ratios to the floor (target: serve within 1.1x).

Part 2. `wrk -c 64` on POST /v1/gate with policies/pass.lua (no Dynatrace
reads) and no latency: requests/s, latency percentiles, non-2xx answers,
and the resident memory of the server and of its workers afterwards.

Timings are printed, never asserted; it exits 1 only when the setup is
wrong (a gate that does not pass, wrk missing is reported and skipped).

usage: python3 bench/bench_serve.py [--bin build/unbreakable] [--runs 15]
          [--latency 50] [--workers 4] [--wrk-workers 16] [--wrk-seconds 10]
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM = os.path.join(SOURCE, "tests", "sim", "dynatrace_sim.py")
sys.path.insert(0, os.path.join(SOURCE, "tests", "sim"))
from launch import children  # noqa: E402
DT_TOKEN = "dt0c01.DEMO.READONLY"
TOKEN = "bench-serve-token-0123456789"
GATE = {"monspec": "demo.monspec.json", "compare": "CheckoutService/StagingToProduction"}
TRIVIAL = dict(GATE, policy="pass.lua")
ENTITY_PATH = ("/api/v1/entity/services?tag=%5BEnvironment%5DDEPLOYMENT_GROUP_NAME%3AStaging"
               "&tag=app%3Acheckout")


def start_sim(tmp):
    port_file = os.path.join(tmp, "sim.port")
    proc = subprocess.Popen([sys.executable, SIM, "--scenario", os.path.join(SOURCE, "tests", "sim", "scenarios",
                                                                          "demo.json"),
                             "--port", "0", "--port-file", port_file], stdout=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(port_file):
            break
        time.sleep(0.05)
    return proc, int(open(port_file).read())


def control(port, path, doc=None, method=None):
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method or ("POST" if data else "GET"))
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def start_serve(binary, tmp, specs, dt_port, workers):
    log = open(os.path.join(tmp, "serve-%d.log" % workers), "w")
    env = dict(os.environ, UB_SERVE_TOKEN=TOKEN, DT_TENANT_URL="http://127.0.0.1:%d" % dt_port,
               DT_API_TOKEN=DT_TOKEN)
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--specs", specs, "--ledger",
                             os.path.join(tmp, "serve.db"), "--workers", str(workers)],
                            stderr=log, stdout=subprocess.DEVNULL, env=env)
    for _ in range(400):
        m = re.search(r"\(port (\d+)\)", open(log.name).read())
        if m:
            return proc, int(m.group(1))
        time.sleep(0.05)
    raise SystemExit("bench_serve: the server did not start: " + open(log.name).read())


def post_gate(conn, body):
    t0 = time.perf_counter()
    conn.request("POST", "/v1/gate", body=json.dumps(body),
                 headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    r = conn.getresponse()
    answer = json.loads(r.read())
    return time.perf_counter() - t0, answer


def floor(conn):
    t0 = time.perf_counter()
    for _ in range(2):
        conn.request("GET", ENTITY_PATH, headers={"Authorization": "Api-Token " + DT_TOKEN})
        conn.getresponse().read()
    return time.perf_counter() - t0


def gate_rounds(dt_port, before):
    """The gate's requests (path and query) in its two rounds, split at the
    largest gap between arrivals in the simulator's log."""
    reqs = control(dt_port, "/_sim/requests?since=%d" % before)["requests"]
    reqs.sort(key=lambda r: r["seq"])
    gaps = [(reqs[i + 1]["time"] - reqs[i]["time"], i + 1) for i in range(len(reqs) - 1)]
    cut = max(gaps)[1]
    target = lambda r: r["rawPath"] + ("?" + r["query"] if r["query"] else "")
    return [[target(r) for r in reqs[:cut]], [target(r) for r in reqs[cut:]]]


class Replayer:
    """Replays the gate's two rounds from this process, each round's
    requests in parallel on kept-alive connections: the floor including the
    simulator's own time to answer a round (it answers under one GIL)."""

    def __init__(self, dt_port, rounds):
        import concurrent.futures
        self.rounds = rounds
        width = max(len(r) for r in rounds)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=width)
        self.conns = [http.client.HTTPConnection("127.0.0.1", dt_port, timeout=60) for _ in range(width)]

    def one(self, i, target):
        self.conns[i].request("GET", target, headers={"Authorization": "Api-Token " + DT_TOKEN})
        self.conns[i].getresponse().read()

    def run(self):
        t0 = time.perf_counter()
        for targets in self.rounds:
            list(self.pool.map(self.one, range(len(targets)), targets))
        return time.perf_counter() - t0


def cli_gate(binary, specs, dt_port, tmp):
    env = dict(os.environ, DT_TENANT_URL="http://127.0.0.1:%d" % dt_port, DT_API_TOKEN=DT_TOKEN,
               UB_LEDGER=os.path.join(tmp, "cli.db"))
    t0 = time.perf_counter()
    p = subprocess.run([binary, "gate", "--monspec", os.path.join(specs, "demo.monspec.json"), "--compare",
                        GATE["compare"], "--format", "json"], capture_output=True, env=env)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit("bench_serve: the CLI gate did not pass: " + p.stderr.decode()[-500:])
    return elapsed


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    except (OSError, AttributeError):
        return 0


def latency_part(args, tmp, specs, dt_port):
    control(dt_port, "/_sim/faults", {"path": "/api/", "latencyMs": args.latency})
    serve, port = start_serve(args.bin, tmp, specs, dt_port, args.workers)
    try:
        sconn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        fconn = http.client.HTTPConnection("127.0.0.1", dt_port, timeout=60)
        for _ in range(2):  # warm up: workers' first connections, ledger pages
            post_gate(sconn, GATE)
        before = max([r["seq"] for r in control(dt_port, "/_sim/requests")["requests"]] or [0])
        _, answer = post_gate(sconn, GATE)
        rounds = gate_rounds(dt_port, before)
        requests = sum(len(r) for r in rounds)
        if answer.get("status") != "success":
            raise SystemExit("bench_serve: the gate did not pass: %s" % answer)
        replayer = Replayer(dt_port, rounds)
        floors, replays, serves, clis = [], [], [], []
        for _ in range(args.runs):
            floors.append(floor(fconn))
            replays.append(replayer.run())
            elapsed, answer = post_gate(sconn, GATE)
            if answer.get("status") != "success":
                raise SystemExit("bench_serve: the gate did not pass: %s" % answer)
            serves.append(elapsed)
            clis.append(cli_gate(args.bin, specs, dt_port, tmp))
    finally:
        serve.terminate()
        serve.wait(timeout=60)
        control(dt_port, "/_sim/faults", method="DELETE")
    f, r, s, c = (statistics.median(v) * 1000 for v in (floors, replays, serves, clis))
    print("Part 1: gate latency, %d ms per Dynatrace request, %d requests per gate in rounds of %s, %d runs "
          "(medians)" % (args.latency, requests, "+".join(str(len(x)) for x in rounds), args.runs))
    print("  %-32s %9s %9s" % ("", "ms", "x floor"))
    print("  %-32s %9.1f %9.2f" % ("floor (two round trips)", f, 1.0))
    print("  %-32s %9.1f %9.2f" % ("the gate's two rounds replayed", r, r / f))
    print("  %-32s %9.1f %9.2f   (min %.1f, max %.1f)" % ("serve POST /v1/gate", s, s / f, min(serves) * 1000,
                                                            max(serves) * 1000))
    print("  %-32s %9.1f %9.2f" % ("CLI unbreakable gate", c, c / f))


def wrk_part(args, tmp, specs, dt_port):
    wrk = shutil.which("wrk")
    if not wrk:
        print("Part 2: skipped: wrk is not installed (apt-get install wrk, or ./setup.sh --test)")
        return
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
                'wrk.headers["Authorization"] = "Bearer %s"\n' % (json.dumps(json.dumps(TRIVIAL)), TOKEN))
    serve, port = start_serve(args.bin, tmp, specs, dt_port, args.wrk_workers)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        _, answer = post_gate(conn, TRIVIAL)
        if answer.get("status") != "success":
            raise SystemExit("bench_serve: the trivial gate did not pass: %s" % answer)
        conn.close()
        out = subprocess.run([wrk, "-t2", "-c64", "-d%ds" % args.wrk_seconds, "--latency", "-s", script,
                              "http://127.0.0.1:%d/v1/gate" % port], capture_output=True, text=True).stdout
        server_rss = rss_kb(serve.pid)
        workers_rss = sum(rss_kb(k) for k in children(serve.pid))
    finally:
        serve.terminate()
        serve.wait(timeout=60)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"\s99%\s+([\d.]+\w+)", out)
    p50 = re.search(r"\s50%\s+([\d.]+\w+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    print("Part 2: wrk -t2 -c64 -d%ds POST /v1/gate, trivial policy, no latency, --workers %d"
          % (args.wrk_seconds, args.wrk_workers))
    busy = int(non2xx.group(1)) if non2xx else 0
    gates = "%.0f" % ((int(total.group(1)) - busy) / args.wrk_seconds) if total else "?"
    print("  requests/s %s, p50 %s, p99 %s, requests %s, non-2xx (503 busy) %d, gates completed (2xx) %s/s"
          % (rps and rps.group(1), p50 and p50.group(1), p99 and p99.group(1), total and total.group(1),
             busy, gates))
    print("  RSS after the run: server %.1f MiB, %d workers %.1f MiB in all"
          % (server_rss / 1024, len(children(serve.pid)) or args.wrk_workers, workers_rss / 1024))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.environ.get("UB_BIN") or os.path.join(SOURCE, "build", "unbreakable"))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--latency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--wrk-workers", type=int, default=16)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("UB_BENCH_QUICK") == "1",
                        help="short mode (ctest label bench): proves the benchmark runs; figures not to be quoted")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.latency, args.wrk_workers, args.wrk_seconds = 2, 10, 4, 1
    tmp = tempfile.mkdtemp(prefix="bench-serve-")
    specs = os.path.join(tmp, "specs")
    os.mkdir(specs)
    shutil.copy(os.path.join(SOURCE, "examples", "monspec", "demo.monspec.json"), specs)
    with open(os.path.join(specs, "pass.lua"), "w") as f:
        f.write('return { verdict = "pass", summary = "trivial", '
                'objectives = { { name = "constant", status = "pass" } } }\n')
    sim, dt_port = start_sim(tmp)
    try:
        latency_part(args, tmp, specs, dt_port)
        wrk_part(args, tmp, specs, dt_port)
    finally:
        sim.terminate()
        sim.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
