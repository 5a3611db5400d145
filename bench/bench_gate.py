#!/usr/bin/env python3
"""bench_gate.py: wall time of `unbreakable gate` on a monspec of 50 metrics
over 2 environments against the Dynatrace simulator, next to the floor of one
round trip per concurrency slot, all measured in the same run (issue 5).

The monspec has 25 Timeseries v1 ids x (avg, p90) = 50 perfsignature entries;
its environments Staging and Production are found by tags, one service each,
with constant values (the verdict is pass). The gate plans two batches: the 2
entity look-ups, then the 100 timeseries queries of both sides. With latency
L per request, concurrency C and n_b requests in batch b, the floor is
sum_b ceil(n_b / C) x L; the simplest floor is ceil(R / C) x L for all R
requests. The request counts come from the simulator's request log.

For each simulator (as shipped, and with its listen backlog raised: the
evidence for the gap between the two), latency (0 ms: process, sandbox and
decoding overhead; L ms) and concurrency (10, 50), it runs the gate several
times with --no-ledger and prints medians: wall time, ratio to both floors,
and the phases read from the simulator's request log (arrival times):
  start  process start -> first request arrives
  b1->b2 first batch-1 arrival -> first batch-2 arrival (one round trip +
         decoding the entities + planning batch 2)
  b2     first -> last batch-2 arrival (ideal: (ceil(n_2/C) - 1) x L)
  tail   last arrival -> process exit (one round trip + policy + report)
  gap    largest gap between two consecutive arrivals (a handshake the
         server dropped shows as about 1000 ms: TCP's initial retransmission
         timeout, then 2, 4, 8 s ...)
  cpu    CPU time (user + system) of the gate process and of the simulator
         during the run: who was busy while the wall clock ran
  retries requests beyond the distinct ones (the client retried an attempt)
  stale  requests of an earlier run that reached the simulator during this
         one (left out of everything else; each run has its own --now)
  ovf    growth of the kernel's ListenOverflows counter during the run
         (/proc/net/netstat, shared by the whole machine)
The floors count distinct requests; the process start and exit alone
(`gate --help`) is printed too.
Timings are printed, never asserted. It exits 1 only when the setup is
wrong: a gate run that does not pass, or a request log that does not hold
every metric of both environments.

usage: python3 bench/bench_gate.py [--bin build/unbreakable] [--runs 5]
                                   [--latency 100] [--backlog 128]
"""

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM_DIR = os.path.join(SOURCE, "tests", "sim")
TOKEN = "dt0c01.BENCH.GATE.TOKEN"
TIMESERIES = 25
AGGREGATES = ("avg", "p90")
ENVIRONMENTS = (("Staging", "SERVICE-BE4C000000000001"), ("Production", "SERVICE-BE4C000000000002"))
CONCURRENCIES = (10, 50)
TARGET = "Bench/StagingToProduction"


# ---- files written at run time ---------------------------------------------------

def timeseries_id(i):
    return "com.dynatrace.builtin:bench.metric%02d" % i


def env_tags(env):
    return [{"context": "ENVIRONMENT", "key": "DEPLOYMENT_GROUP_NAME", "value": env}]


def scenario():
    entities = [{"entityId": eid, "displayName": "bench-" + env.lower(), "tags": env_tags(env)}
                for env, eid in ENVIRONMENTS]
    metrics = {}
    for i in range(TIMESERIES):
        data = {agg: {eid: {"constant": 1000.0 * (k + 1) + i} for _, eid in ENVIRONMENTS}
                for k, agg in enumerate(AGGREGATES)}
        metrics[timeseries_id(i)] = {"displayName": "bench metric %d" % i, "unit": "MicroSecond",
                                     "aggregationTypes": ["AVG", "PERCENTILE"], "data": data}
    return {"about": "bench_gate: 25 timeseries x avg/p90 for two tagged services",
            "tokens": {TOKEN: "*"}, "entities": entities, "metrics": metrics}


def monspec():
    entries = [{"timeseries": timeseries_id(i), "aggregate": agg, "validate": "upper"}
               for i in range(TIMESERIES) for agg in AGGREGATES]
    environments = {env: {"tags": [{"context": "Environment", "key": "DEPLOYMENT_GROUP_NAME",
                                    "value": env}]} for env, _ in ENVIRONMENTS}
    comparison = {"name": "StagingToProduction", "source": "Staging", "compare": "Production",
                  "scalefactorperc": {"default": 10}, "shiftsourcetimeframe": 0, "shiftcomparetimeframe": 0}
    return {"Bench": {"etype": "SERVICE", "name": "bench", "owner": "bench_gate",
                      "environments": environments, "comparisons": [comparison], "perfsignature": entries}}


def write_json(folder, name, doc):
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=1)
    return path


# ---- the simulator ---------------------------------------------------------------

class Simulator:
    """tests/sim/dynatrace_sim.py in its own process. backlog None: as shipped,
    else SimServer.request_queue_size (the listen backlog) set to it."""

    def __init__(self, scenario_path, folder, backlog):
        port_file = os.path.join(folder, "port.%s" % (backlog or "shipped"))
        code = ("import sys; sys.path.insert(0, %r); import dynatrace_sim as s; " % SIM_DIR +
                ("s.SimServer.request_queue_size = %d; " % backlog if backlog else "") +
                "sys.exit(s.main(sys.argv[1:]))")
        args = [sys.executable, "-c", code, "--scenario", scenario_path, "--port", "0",
                "--port-file", port_file, "--token", TOKEN]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        self.url = "http://127.0.0.1:%d" % wait_for_port(port_file, self.proc)
        self.last_now_s = 0

    def next_now_ms(self):
        """A `--now` for the next gate run, in whole seconds, distinct from every
        earlier run's and 2 minutes in the past: its timeseries requests carry it
        as endTimestamp, which tells them from a straggler of an earlier run."""
        self.last_now_s = max(int(time.time()) - 120, self.last_now_s + 1)
        return self.last_now_s * 1000

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as answer:
            return json.load(answer)

    def set_latency(self, latency_ms):
        self.control("DELETE", "/_sim/faults")
        if latency_ms > 0:
            self.control("POST", "/_sim/faults", {"path": "/api/", "latencyMs": latency_ms, "name": "bench-latency"})

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def wait_for_port(port_file, proc):
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit("bench_gate: the simulator exited with status %d" % proc.returncode)
        try:
            with open(port_file, encoding="ascii") as handle:
                return int(handle.read())
        except (OSError, ValueError):
            time.sleep(0.05)
    proc.terminate()
    sys.exit("bench_gate: the simulator did not write %s within 10 s" % port_file)


def shipped_server_settings():
    """(listen backlog, TCP_NODELAY) of the simulator as shipped."""
    sys.path.insert(0, SIM_DIR)
    import dynatrace_sim  # noqa: E402 (the simulator's folder is only known here)
    return dynatrace_sim.SimServer.request_queue_size, dynatrace_sim.Handler.disable_nagle_algorithm


# ---- one gate run ----------------------------------------------------------------

def listen_overflows():
    """The kernel's TcpExt ListenOverflows counter, or None off Linux."""
    try:
        with open("/proc/net/netstat", encoding="ascii") as handle:
            lines = [line.split() for line in handle if line.startswith("TcpExt:")]
        return int(lines[1][lines[0].index("ListenOverflows")])
    except (OSError, ValueError, IndexError):
        return None


def cpu_ms_of(pid):
    """User + system CPU of a running process in ms (/proc), or None off Linux."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def children_cpu_ms():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000.0


def delta(before, after):
    return after - before if before is not None and after is not None else None


def run_gate(binary, spec_path, sim, concurrency):
    """Runs one gate; returns a dict: wall_ms, start and end (wall clock s), the
    request log, ListenOverflows growth, CPU ms of the gate and the simulator."""
    sim.control("DELETE", "/_sim/requests")
    env = dict(os.environ, DT_TENANT_URL=sim.url, DT_API_TOKEN=TOKEN, NO_COLOR="1")
    now_ms = sim.next_now_ms()
    args = [binary, "gate", "--monspec", spec_path, "--compare", TARGET, "--no-ledger",
            "--format", "json", "--concurrency", str(concurrency), "--now", str(now_ms)]
    overflows, sim_cpu, gate_cpu = listen_overflows(), cpu_ms_of(sim.proc.pid), children_cpu_ms()
    start_wall, start = time.time(), time.monotonic()
    done = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    wall = time.monotonic() - start
    sample = {"wall_ms": wall * 1000, "start": start_wall, "end": start_wall + wall,
              "overflows": delta(overflows, listen_overflows()),
              "sim_cpu_ms": delta(sim_cpu, cpu_ms_of(sim.proc.pid)),
              "gate_cpu_ms": children_cpu_ms() - gate_cpu}
    check_verdict(done)
    log = sim.control("GET", "/_sim/requests")["requests"]
    sample["log"] = [r for r in log if not is_straggler(r, now_ms)]
    sample["stale"] = len(log) - len(sample["log"])
    return sample


def is_straggler(request, now_ms):
    """A timeseries query of an earlier run, arriving late (its connection was
    stuck in the server's listen queue) after that run's gate had exited."""
    end = request["params"].get("endTimestamp")
    return end is not None and end != [str(now_ms)]


def check_verdict(done):
    try:
        verdict = json.loads(done.stdout)["verdict"]
    except (ValueError, KeyError, TypeError):
        verdict = None
    if done.returncode != 0 or verdict != "pass":
        sys.exit("bench_gate: the gate exited %d with verdict %s (expected 0, pass):\n%s"
                 % (done.returncode, verdict, done.stderr.decode(errors="replace")[-2000:]))


# ---- reading the request log -----------------------------------------------------

def split_batches(log):
    """(entity look-ups, timeseries queries), each in arrival order."""
    lookups = [r for r in log if r["path"].startswith("/api/v1/entity/")]
    series = [r for r in log if r["path"].startswith("/api/v1/timeseries/")]
    if len(lookups) + len(series) != len(log):
        sys.exit("bench_gate: unexpected requests: %s" %
                 sorted({r["path"] for r in log} - {r["path"] for r in lookups + series}))
    return lookups, series


def check_coverage(log):
    """Every (timeseries, aggregate, entity) was asked at least once and every
    answer was 200. Returns (distinct look-ups, distinct timeseries queries,
    requests beyond those: the client's retries)."""
    lookups, series = split_batches(log)
    asked = []
    for r in series:
        params = r["params"]
        agg = params.get("aggregationType", ["?"])[0].lower()
        if agg == "percentile":
            agg = "p" + params.get("percentile", ["?"])[0]
        for eid in params.get("entity", []):
            asked.append((r["path"].rsplit("/", 1)[1], agg, eid))
    expected = {(timeseries_id(i), agg, eid) for i in range(TIMESERIES) for agg in AGGREGATES
                for _, eid in ENVIRONMENTS}
    distinct_lookups = {r["query"] for r in lookups}
    bad = [r for r in log if r["status"] != 200]
    if set(asked) != expected or len(distinct_lookups) != len(ENVIRONMENTS) or bad:
        sys.exit("bench_gate: the request log does not hold each of the %d metric queries "
                 "(%d distinct asked, %d distinct look-ups, %d answers not 200)"
                 % (len(expected), len(set(asked)), len(distinct_lookups), len(bad)))
    distinct_series = {(r["path"], r["query"]) for r in series}
    return len(distinct_lookups), len(distinct_series), len(log) - len(distinct_lookups) - len(distinct_series)


def phases(log, start_wall, end_wall):
    """Phases of one run in ms from the arrival times (wall clock ms) of the log."""
    lookups, series = split_batches(log)
    times = sorted(r["time"] for r in log)
    first, last = times[0], times[-1]
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {"start": first - start_wall * 1000,
            "b1->b2": min(r["time"] for r in series) - min(r["time"] for r in lookups),
            "b2": max(r["time"] for r in series) - min(r["time"] for r in series),
            "tail": end_wall * 1000 - last,
            "gap": max(gaps) if gaps else 0.0}


# ---- floors and rows -------------------------------------------------------------

def floors(batch_sizes, concurrency, latency_ms):
    by_batch = sum(math.ceil(n / concurrency) for n in batch_sizes) * latency_ms
    simplest = math.ceil(sum(batch_sizes) / concurrency) * latency_ms
    return by_batch, simplest


class Row:
    """The runs of one (simulator, latency, concurrency)."""

    def __init__(self):
        self.samples, self.phases, self.retries = [], [], []
        self.sizes = None

    def add(self, sample):
        lookups, series, retries = check_coverage(sample["log"])
        self.sizes = (lookups, series)
        self.samples.append(sample)
        self.phases.append(phases(sample["log"], sample["start"], sample["end"]))
        self.retries.append(retries)

    def median_phase(self, key):
        return statistics.median(p[key] for p in self.phases)

    def median_sample(self, key):
        values = [s[key] for s in self.samples if s[key] is not None]
        return statistics.median(values) if values else float("nan")


def measure_row(args, spec_path, sim, concurrency):
    row = Row()
    for _ in range(args.runs):
        row.add(run_gate(args.bin, spec_path, sim, concurrency))
    return row


def ratio(wall_ms, floor_ms):
    return "%6.2fx" % (wall_ms / floor_ms) if floor_ms > 0 else "     - "


HEADER = ("  lat  conc  floor/b  floor/R   median  /floor_b /floor_R   start  b1->b2      b2    tail"
          "     gap  cpu:gate    sim  retries  stale  ovf (per run)")


def print_row(latency_ms, concurrency, row):
    wall = row.median_sample("wall_ms")
    by_batch, simplest = floors(row.sizes, concurrency, latency_ms)
    ovf = ",".join("?" if s["overflows"] is None else str(s["overflows"]) for s in row.samples)
    stale = ",".join(str(s["stale"]) for s in row.samples)
    print("%5d %5d %8d %8d %8.0f  %s  %s %7.0f %7.0f %7.0f %7.0f %7.0f  %8.0f %6.0f  %7s  %5s  %s"
          % (latency_ms, concurrency, by_batch, simplest, wall, ratio(wall, by_batch), ratio(wall, simplest),
             row.median_phase("start"), row.median_phase("b1->b2"), row.median_phase("b2"),
             row.median_phase("tail"), row.median_phase("gap"), row.median_sample("gate_cpu_ms"),
             row.median_sample("sim_cpu_ms"), ",".join(map(str, row.retries)), stale, ovf))
    sys.stdout.flush()


def bench_simulator(args, paths, variant):
    """Every latency and concurrency against one simulator; returns the batch sizes."""
    label, backlog = variant
    sim = Simulator(paths["scenario"], paths["folder"], backlog)
    try:
        print("\nsimulator %s" % label)
        print(HEADER)
        sizes = None
        for latency_ms in (0, args.latency):
            sim.set_latency(latency_ms)
            for concurrency in CONCURRENCIES:
                row = measure_row(args, paths["monspec"], sim, concurrency)
                sizes = row.sizes
                print_row(latency_ms, concurrency, row)
        return sizes
    finally:
        sim.stop()


def variants(args):
    """(label, backlog or None) of each simulator to measure."""
    backlog, nodelay = shipped_server_settings()
    out = [("as shipped (listen backlog %d, TCP_NODELAY %s)" % (backlog, "on" if nodelay else "off"), None)]
    if args.backlog:
        out.append(("with SimServer.request_queue_size = %d (set by this program)" % args.backlog,
                    args.backlog))
    return out


def process_floor(binary, runs):
    """Median ms of `unbreakable gate --help`: starting and ending the process."""
    walls = []
    for _ in range(max(runs, 5)):
        start = time.monotonic()
        subprocess.run([binary, "gate", "--help"], stdout=subprocess.DEVNULL, check=True)
        walls.append((time.monotonic() - start) * 1000)
    return statistics.median(walls)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.environ.get("UB_BIN", os.path.join(SOURCE, "build", "unbreakable")),
                        help="the unbreakable binary (default $UB_BIN or build/unbreakable)")
    parser.add_argument("--runs", type=int, default=5, help="gate runs per row (default 5)")
    parser.add_argument("--latency", type=int, default=100, help="simulator latency per request, ms")
    parser.add_argument("--backlog", type=int, default=128,
                        help="listen backlog of the second simulator (0: only the shipped one)")
    parser.add_argument("--quick", action="store_true", default=os.environ.get("UB_BENCH_QUICK") == "1",
                        help="short mode (ctest label bench): 1 run per row, 20 ms latency, the shipped"
                             " simulator only; proves the benchmark runs, its figures are not to be quoted")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.latency, args.backlog = 1, 20, 0
    if args.runs < 1 or args.latency < 1 or args.backlog < 0:
        parser.error("--runs and --latency must be positive, --backlog not negative")
    if not os.access(args.bin, os.X_OK):
        parser.error("%s is not an executable (build it, or give --bin)" % args.bin)
    return args


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_gate.") as folder:
        paths = {"folder": folder, "scenario": write_json(folder, "scenario.json", scenario()),
                 "monspec": write_json(folder, "bench.monspec.json", monspec())}
        print("bench_gate: `unbreakable gate --compare %s --no-ledger` on %d metrics (%d timeseries x %s)"
              % (TARGET, TIMESERIES * len(AGGREGATES), TIMESERIES, "/".join(AGGREGATES)))
        print("over 2 environments by tags; binary %s; medians of %d runs; times in ms"
              % (args.bin, args.runs))
        print("process start and exit (`gate --help`, median): %.1f ms" % process_floor(args.bin, args.runs))
        sizes = None
        for variant in variants(args):
            sizes = bench_simulator(args, paths, variant)
        print("\nrequests per run: %d distinct (batch 1: %d entity look-ups; batch 2: %d timeseries"
              " queries); every metric of both environments queried, every answer 200"
              % (sum(sizes), sizes[0], sizes[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
