#!/usr/bin/env bash
# demo.sh: the main job, end to end. Installs what is missing, builds, starts
# the bundled Dynatrace simulator, gates a good and a bad release of the demo
# service, and shows the ledger: history, an offline replay, an HTML report.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
bin=$PWD/build/unbreakable
work=$(mktemp -d)
sim_pid=""
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

python3 tests/sim/dynatrace_sim.py --scenario tests/sim/scenarios/demo.json \
  --port 0 --port-file "$work/port" >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 50); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "demo: the simulator did not start:"; cat "$work/sim.log"; exit 1; }

export DT_TENANT_URL="http://127.0.0.1:$(cat "$work/port")"
export DT_API_TOKEN_FILE="$work/token"
printf 'dt0c01.DEMO.READONLY' >"$DT_API_TOKEN_FILE"
export UB_LEDGER="$work/ledger.db"
monspec=examples/monspec/demo.monspec.json

step() { printf '\n== %s\n' "$*"; }
status=0
step "unbreakable gate: release 2.4.0 in Staging against Production (a good release)"
"$bin" gate --monspec "$monspec" --compare CheckoutService/StagingToProduction || status=$?
echo "exit status $status (0 = pass)"

status=0
step "unbreakable gate: release 2.5.0 in Canary against Production (a bad release)"
"$bin" gate --monspec "$monspec" --compare CheckoutService/CanaryToProduction || status=$?
echo "exit status $status (1 = fail)"

step "unbreakable history"
"$bin" history

step "unbreakable replay 2 (offline, from the recorded responses)"
"$bin" replay 2 | tail -n 1

step "unbreakable report 2 --html"
"$bin" report 2 --html "$work/report.html"
cp "$work/report.html" build/demo-report.html
echo "wrote build/demo-report.html ($(wc -c <build/demo-report.html) bytes, self-contained)"
