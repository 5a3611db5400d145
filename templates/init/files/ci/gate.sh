#!/bin/sh
# ci/gate.sh SOURCE_ENVIRONMENT: the release gate of {{service}} as a CLI step
# (for teams without `serve`): gates the comparison {{service}}/<SOURCE>ToProduction
# of monspec.json, writes the JUnit results (one test case per objective)
# and the HTML report to gate-results/, and exits with the gate's status
# (0 pass, 1 fail, 2 invalid input, 3 error, 4 inconclusive: only 0 lets
# the pipeline go on). The ledger is $UB_LEDGER, kept between runs by the
# pipeline's cache.
set -u
source_env=${1:-Staging}
out=gate-results
mkdir -p "$out"
status=0
ci/unbreakable gate --monspec monspec.json --compare "{{service}}/${source_env}ToProduction" \
  --format junit --output "$out/gate.xml" || status=$?
id=$(ci/unbreakable history --limit 1 --format json | sed -n 's/.*"id": \([0-9][0-9]*\).*/\1/p' | head -n 1)
if [ -n "$id" ]; then
  ci/unbreakable report "$id" --html "$out/gate-report.html" || true
  echo "gate: evaluation $id, exit status $status; report: $out/gate-report.html"
fi
exit "$status"
