#!/usr/bin/env bash
# demo.sh: the main job, the whole loop end to end against the bundled
# simulators of Dynatrace and Azure DevOps: a team starts its project with
# `unbreakable init`, releases 41 and 42 are deployed with deployment events,
# `serve` passes 42 to production and fails a bad build, Dynatrace opens a
# problem on production, and serve rolls production back to 41 and says so
# on the problem. Every step's HTML report is kept in build/demo/.
# Installs what is missing and builds first (UB_BIN=path skips that and uses
# the given binary; UB_DEMO_OUT=dir puts the reports elsewhere).
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD
if [ -n "${UB_BIN:-}" ]; then
  bin=$UB_BIN
else
  ./setup.sh
  bin=$top/build/unbreakable
fi
out=${UB_DEMO_OUT:-$top/build/demo}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$out"
mkdir -p "$out"

step() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }
fail() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# wait_for SECONDS WHAT COMMAND...: runs COMMAND until it succeeds (the
# deadline scales with the build: UB_TIME_SCALE is 4 under the sanitizers)
wait_for() {
  local seconds=$(($1 * ${UB_TIME_SCALE:-1})) what=$2 i
  shift 2
  for ((i = 0; i < seconds * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "$what did not happen within $seconds s"
}

# a simulator in the background on a free port; its URL in the variable $1
start_sim() {
  local var=$1 script=$2 scenario=$3
  python3 "tests/sim/$script" --scenario "$scenario" --port 0 --port-file "$work/$var.port" \
    >"$work/$var.log" 2>&1 &
  pids+=($!)
  wait_for 10 "the simulator $script listening" test -s "$work/$var.port"
  printf -v "$var" 'http://127.0.0.1:%s' "$(cat "$work/$var.port")"
}

# api METHOD PATH [BODY]: a request to serve with its token; prints the answer's body
api() {
  python3 - "$SERVE_URL" "$work/serve-token" "$@" <<'PY'
import sys, urllib.request, urllib.error
url, token_file, method, path = sys.argv[1:5]
body = sys.argv[5].encode() if len(sys.argv) > 5 else None
with open(token_file) as f:
    token = f.read().strip()
req = urllib.request.Request(url + path, data=body, method=method,
                             headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=60) as answer:
        sys.stdout.buffer.write(answer.read())
except urllib.error.HTTPError as err:
    sys.stdout.buffer.write(err.read())
PY
}

# field NAME... < JSON: prints the named fields of a JSON object, one a line
field() {
  python3 -c 'import json, sys
doc = json.load(sys.stdin)
for name in sys.argv[1:]:
    value = doc
    for part in name.split("."):
        value = value[int(part)] if isinstance(value, list) else value.get(part)
    print(value)' "$@"
}

# deploy RELEASE STAGE ENVIRONMENT-ID: the pipeline's deployment event for a
# classic release of SampleProject (deploy-event reads these variables of
# Azure Pipelines by itself)
deploy() {
  local release=$1 stage=$2 env_id=$3
  RELEASE_RELEASEID=$release RELEASE_RELEASENAME=Release-$release RELEASE_DEFINITIONNAME=SampleDevOpsPipeline \
  RELEASE_DEFINITIONID=7 RELEASE_ENVIRONMENTNAME=$stage RELEASE_DEFINITIONENVIRONMENTID=2 \
  RELEASE_ENVIRONMENTID=$env_id SYSTEM_TEAMPROJECT=SampleProject \
  SYSTEM_TEAMFOUNDATIONCOLLECTIONURI=$ADO_URL/ SYSTEM_TEAMFOUNDATIONSERVERURI=$ADO_URL/ \
    "$bin" deploy-event --monspec "$project/monspec.json" --environment "checkout/$stage" | sed -n '1s/^/   /p'
}

step "The bundled simulators: a Dynatrace tenant and an Azure DevOps organisation"
python3 tests/sim/scenarios/demo_loop.py "$work"
start_sim DT_TENANT_URL dynatrace_sim.py "$work/dt.json"
start_sim ADO_URL azure_devops_sim.py "$work/ado.json"
export DT_TENANT_URL DT_API_TOKEN=dt0c01.DEMO.ALLSCOPES UB_LEDGER=$work/ledger.db
say "Dynatrace:    $DT_TENANT_URL (the checkout service in Production, Staging and a Canary)"
say "Azure DevOps: $ADO_URL (SampleProject: Release-41 and Release-42 of one release pipeline)"

step "unbreakable init: the checkout team's starting point"
project=$work/checkout
"$bin" init "$project" --service checkout --tenant "$DT_TENANT_URL" --ci azure --non-interactive | sed -n '1s/^/   /p'
say "monspec.json, slo.yaml, policies/gate.lua, policies/selfheal.lua, their specs,"
say "azure-pipelines.yml, unbreakable.json (serve), a systemd unit, README.md; the specs pass:"
(cd "$project" && "$bin" test | sed -n '$s/^/   /p')
cp examples/monspec/demo.monspec.json "$project/"
say "(the canary's monspec, examples/monspec/demo.monspec.json, joins the project)"

step "unbreakable serve --config unbreakable.json: the gate Azure DevOps calls, and self-healing"
python3 -c 'import secrets; print(secrets.token_hex(32))' >"$work/serve-token"
UB_SERVE_TOKEN_FILE=$work/serve-token AZURE_DEVOPS_ORG_URL=$ADO_URL AZURE_DEVOPS_RELEASE_URL=$ADO_URL \
AZURE_DEVOPS_TOKEN=ado-pat-DEMO-0123456789abcdef \
  "$bin" serve --config "$project/unbreakable.json" --listen 127.0.0.1:0 --specs "$project" \
  --ledger "$UB_LEDGER" 2>"$work/serve.log" &
pids+=($!)
wait_for 30 "serve listening" grep -q '(port [0-9]*)' "$work/serve.log"
SERVE_URL="http://127.0.0.1:$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$work/serve.log" | head -n 1)"
wait_for 30 "serve ready" python3 -c "import urllib.request; urllib.request.urlopen('$SERVE_URL/readyz')"
say "listening on $SERVE_URL (token in a file; /healthz and /readyz answer)"

step "Release-41 is deployed to Production: the pipeline pushes a deployment event"
deploy 41 Production 98

step "Release-42 is deployed to Staging and load-tested: another deployment event"
deploy 42 Staging 101

step "The production environment's check asks serve: POST /v1/gate (Staging against Production)"
answer=$(api POST /v1/gate '{"monspec": "monspec.json", "compare": "checkout/StagingToProduction", "window": 5,
                             "labels": {"release": "Release-42"}}')
read -r status verdict good <<<"$(field status verdict evaluation <<<"$answer" | tr '\n' ' ')"
say "status $status, verdict $verdict: $(field summary <<<"$answer")"
[ "$status" = success ] || fail "the good release did not pass: $answer"
api GET "/v1/evaluations/$good/report" >"$out/1-gate-release-42-pass.html"
say "report: $out/1-gate-release-42-pass.html"

step "Release-42 passed its gate and is deployed to Production: deployment event"
deploy 42 Production 102

step "A bad build (2.5.0) in the canary: its gate fails (POST /v1/gate, Canary against Production)"
"$bin" deploy-event --monspec "$project/demo.monspec.json" --environment CheckoutService/Canary \
  --name checkout --version 2.5.0 | sed -n '1s/^/   /p'
answer=$(api POST /v1/gate '{"monspec": "demo.monspec.json", "compare": "CheckoutService/CanaryToProduction"}')
read -r status verdict bad <<<"$(field status verdict evaluation <<<"$answer" | tr '\n' ' ')"
say "status $status, verdict $verdict: $(field summary <<<"$answer")"
[ "$status" = failure ] || fail "the bad build was not stopped: $answer"
api GET "/v1/evaluations/$bad/report" >"$out/2-gate-bad-build-fail.html"
say "report: $out/2-gate-bad-build-fail.html"
say "the same gate as a CLI step, for teams without serve (exit status 1 = fail):"
status=0
"$bin" gate --monspec "$project/demo.monspec.json" --compare CheckoutService/CanaryToProduction \
  --no-ledger | sed 's/^/   | /' || status=$?
[ "$status" -ne 0 ] || fail "the CLI gate passed the bad build"

step "Dynatrace opens a problem on checkout in Production and notifies serve: POST /v1/problems"
pid="-5823370287731021622_1641224100000V2"
now_ms=$(python3 -c 'import time; print(int(time.time() * 1000))')
answer=$(api POST /v1/problems "{\"State\": \"OPEN\", \"PID\": \"$pid\", \"ProblemID\": \"P-2512001\",
  \"ProblemTitle\": \"Response time degradation\", \"ProblemImpact\": \"SERVICE\", \"ImpactedEntity\": \"checkout\",
  \"ImpactedEntities\": [{\"type\": \"SERVICE\", \"name\": \"checkout\", \"entity\": \"SERVICE-C4EC4A0E5A3B1001\"}],
  \"ProblemDetails\": {\"id\": \"$pid\", \"displayName\": \"P-2512001\", \"status\": \"OPEN\",
                       \"startTime\": $now_ms, \"endTime\": -1}}")
notification=$(field notification <<<"$answer")
say "recorded as notification $notification (202 only once it is in the ledger)"

step "Self-healing: serve rolls Production back to Release-41 and comments on the problem"
healed() { [ "$(api GET "/v1/selfheal/$notification" | field state)" = "done" ]; }
wait_for 30 "the healing of notification $notification" healed
healing=$(api GET "/v1/selfheal/$notification")
say "decision: $(field decision.summary <<<"$healing")"
python3 -c 'import json, sys
decision = json.load(sys.stdin)["decision"]
done = {o["intent"]: o for o in decision["outcomes"]}
for n, i in enumerate(decision["intents"], 1):
    o = done.get(n, {})
    print("   %-8s %-5s %s" % (i["kind"], o.get("status", "?"), o.get("detail", "")))' <<<"$healing"
python3 - "$ADO_URL" <<'PY'
import json, sys, urllib.request
for r in json.load(urllib.request.urlopen(sys.argv[1] + "/_sim/requests"))["requests"]:
    if r["method"] == "PATCH":
        print("   Azure DevOps received PATCH %s: %s" % (r["path"], json.loads(r["body"])["comment"]))
PY
python3 -c 'import json, sys
decision = json.load(sys.stdin)["decision"]
sys.exit(not any(i["kind"] == "rollback" and i.get("release") == 41 and o["status"] == "done"
                 for i, o in zip(decision["intents"], decision["outcomes"])))' <<<"$healing" || fail "no rollback to Release-41: $healing"
python3 - "$DT_TENANT_URL" "$pid" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request("%s/api/v2/problems/%s/comments" % tuple(sys.argv[1:3]),
                             headers={"Authorization": "Api-Token dt0c01.DEMO.ALLSCOPES"})
for c in json.load(urllib.request.urlopen(req))["comments"]:
    print("   Dynatrace problem comment: " + c["content"])
PY
api GET "/v1/selfheal/$notification/report" >"$out/3-selfheal-rollback.html"
say "report: $out/3-selfheal-rollback.html"

step "The ledger: every decision, replayable offline"
"$bin" history | sed 's/^/   /'
"$bin" history --kind selfheal | sed 's/^/   /'
say "unbreakable replay $bad (the bad build's gate, from the recorded Dynatrace answers):"
"$bin" replay "$bad" | sed -n '$s/^/   /p'

step "The HTML reports of each step (self-contained pages)"
for f in "$out"/*.html; do say "$f ($(wc -c <"$f") bytes)"; done
step "Done: release 42 passed its gate, the bad build was stopped, production was healed"
