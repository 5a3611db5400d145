# test_ledger_commands.sh: `unbreakable history`, `invalidate` and `report`
# on a ledger recorded through the C API (test_ledger --write-fixture):
# output, filters, exit codes, invalidation, ledger location (flag, env,
# XDG), and clear errors for foreign or corrupt files.
set -u
: "${UB_BIN:?UB_BIN must name the unbreakable binary}"
: "${UB_BUILD:?UB_BUILD must name the build directory}"
WRITER="$UB_BUILD/tests/test_ledger"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILED=0

fail() { echo "FAIL: $*"; FAILED=1; }
# expect STATUS DESCRIPTION -- COMMAND...: runs it, keeps stdout/stderr.
expect() {
  local want=$1 what=$2
  shift 3
  "$@" >"$WORK/out" 2>"$WORK/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "$what: exit $got, want $want; stderr: $(cat "$WORK/err")"
}
contains() { grep -qF -- "$2" "$WORK/$1" || fail "$1 lacks '$2': $(head -c 600 "$WORK/$1")"; }
lacks() { ! grep -qF -- "$2" "$WORK/$1" || fail "$1 has '$2'"; }

DB="$WORK/ledger.db"
read -r MONSPEC SLO < <("$WRITER" --write-fixture "$DB") || { echo "FAIL: fixture writer"; exit 1; }
[ "$MONSPEC" = 1 ] && [ "$SLO" = 2 ] || fail "fixture ids $MONSPEC $SLO"

# history: text and JSON, newest first, filters, limit
expect 0 "history text" -- "$UB_BIN" history --ledger "$DB"
contains out "ID  RECORDED (UTC)"
[ "$(sed -n 2p "$WORK/out" | awk '{print $1, $3, $4, $5, $6, $7}')" = "2 carts staging slo warning 66.7" ] \
  || fail "history row 1: $(sed -n 2p "$WORK/out")"
[ "$(sed -n 3p "$WORK/out" | awk '{print $1, $5, $6, $7, $8}')" = "1 monspec fail - carts/StagingToProduction" ] \
  || fail "history row 2: $(sed -n 3p "$WORK/out")"

expect 0 "history json" -- "$UB_BIN" history --ledger "$DB" --format json
/usr/bin/python3 - "$WORK/out" <<'EOF' || FAILED=1
import json, sys
rows = json.load(open(sys.argv[1]))
assert [r["id"] for r in rows] == [2, 1], rows
assert rows[0]["kind"] == "slo" and rows[0]["score"] == 66.66666666666667, rows[0]
assert rows[1]["verdict"] == "fail" and rows[1]["score"] is None, rows[1]
assert rows[1]["requested_by"] == "cli:ci@build-agent-7", rows[1]
assert rows[0]["invalidated"] is False and rows[0]["invalidated_reason"] is None
EOF

expect 0 "history --limit 1" -- "$UB_BIN" history --ledger "$DB" --limit 1 --format json
[ "$(grep -c '"id"' "$WORK/out")" = 1 ] || fail "limit 1 gave $(grep -c '"id"' "$WORK/out") rows"
expect 0 "history --service other" -- "$UB_BIN" history --ledger "$DB" --service orders
contains out "no evaluations recorded in $DB"
expect 0 "history --stage staging" -- "$UB_BIN" history --ledger "$DB" --stage staging --format json
[ "$(grep -c '"id"' "$WORK/out")" = 2 ] || fail "stage filter"
expect 2 "history --format yaml" -- "$UB_BIN" history --ledger "$DB" --format yaml
contains err "--format is text or json"
expect 2 "history --limit -3" -- "$UB_BIN" history --ledger "$DB" --limit -3
expect 2 "history --bogus" -- "$UB_BIN" history --bogus

# the ledger location: UB_LEDGER, XDG_DATA_HOME, HOME; reads never create it
expect 0 "history via UB_LEDGER" -- env UB_LEDGER="$DB" "$UB_BIN" history --format json
[ "$(grep -c '"id"' "$WORK/out")" = 2 ] || fail "UB_LEDGER not used"
mkdir -p "$WORK/xdg/unbreakable"
cp "$DB" "$WORK/xdg/unbreakable/ledger.db"
expect 0 "history via XDG_DATA_HOME" -- env -u UB_LEDGER XDG_DATA_HOME="$WORK/xdg" "$UB_BIN" history --format json
[ "$(grep -c '"id"' "$WORK/out")" = 2 ] || fail "XDG_DATA_HOME not used"
expect 0 "history without a ledger" -- env -u UB_LEDGER -u XDG_DATA_HOME HOME="$WORK/home" "$UB_BIN" history
contains out "no evaluations recorded in $WORK/home/.local/share/unbreakable/ledger.db"
[ ! -e "$WORK/home/.local/share/unbreakable/ledger.db" ] || fail "history created a ledger"

# invalidate: marks, keeps the first reason, refuses bad input
expect 0 "invalidate" -- "$UB_BIN" invalidate 2 --reason "load generator misconfigured" --ledger "$DB"
contains out "evaluation 2 invalidated at"
expect 0 "invalidate again" -- "$UB_BIN" invalidate 2 --reason "other" --ledger "$DB"
contains out "was already invalidated"
contains out "load generator misconfigured"
expect 0 "history after invalidate" -- "$UB_BIN" history --ledger "$DB"
contains out "invalidated: load generator misconfigured"
expect 0 "history json after invalidate" -- "$UB_BIN" history --ledger "$DB" --format json
contains out '"invalidated": true, "invalidated_reason": "load generator misconfigured"'
expect 2 "invalidate unknown id" -- "$UB_BIN" invalidate 99 --reason x --ledger "$DB"
contains err "has no evaluation 99"
expect 2 "invalidate without reason" -- "$UB_BIN" invalidate 1 --ledger "$DB"
contains err "--reason TEXT is required"
expect 2 "invalidate bad id" -- "$UB_BIN" invalidate 1x --reason x --ledger "$DB"
contains err "'1x' is not an evaluation ID"
expect 2 "invalidate missing ledger" -- "$UB_BIN" invalidate 1 --reason x --ledger "$WORK/none.db"
contains err "no ledger at $WORK/none.db"

# report
expect 0 "report" -- "$UB_BIN" report 1 --html "$WORK/r1.html" --ledger "$DB"
contains out "wrote $WORK/r1.html (evaluation 1, fail)"
grep -q "<title>Evaluation 1: fail" "$WORK/r1.html" || fail "report title"
expect 0 "report to stdout" -- "$UB_BIN" report 2 --html - --ledger "$DB"
contains out "SLI results (Keptn evaluation)"
contains out "load generator misconfigured"
expect 2 "report unknown id" -- "$UB_BIN" report 42 --html "$WORK/r42.html" --ledger "$DB"
contains err "has no evaluation 42"
[ ! -e "$WORK/r42.html" ] || fail "report wrote a file for an unknown id"
expect 2 "report unwritable" -- "$UB_BIN" report 1 --html "$WORK/no/such/dir/r.html" --ledger "$DB"
contains err "cannot write $WORK/no/such/dir/r.html"
# a symlink planted at the temporary name (path.tmp<pid> before) is never
# written through: the report goes to a fresh temporary file ($$ of the
# shell is the pid of the exec'ed command)
echo keep >"$WORK/victim"
expect 0 "report past a planted symlink" -- sh -c 'ln -s "$1/victim" "$1/r3.html.tmp$$" &&
  exec "$2" report 1 --html "$1/r3.html" --ledger "$3"' sh "$WORK" "$UB_BIN" "$DB"
[ "$(cat "$WORK/victim")" = keep ] || fail "report wrote through a symlink: $(head -c 80 "$WORK/victim")"
grep -q "<title>Evaluation 1: fail" "$WORK/r3.html" || fail "report past a planted symlink: no page"
expect 2 "report without --html" -- "$UB_BIN" report 1 --ledger "$DB"

# a policy's error text (sandbox error messages are the policy's own) with
# terminal escapes and a newline: history prints it without them
cp "$DB" "$WORK/ctl.db"
/usr/bin/python3 - "$WORK/ctl.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE evaluations SET status = 'error', verdict = NULL, error = ? WHERE id = 1",
           ("policy failed: \x1b]0;pwned\x07\x1b[2J done\n     9  forged row",))
db.commit()
EOF
expect 0 "history with control characters" -- "$UB_BIN" history --ledger "$WORK/ctl.db"
contains out "error: policy failed: ?]0;pwned??[2J done?     9  forged row"
[ "$(wc -l <"$WORK/out")" -eq 3 ] || fail "history with control characters: $(wc -l <"$WORK/out") lines, want 3"

# foreign and corrupt files: exit 2 with a clear message, never a crash
printf 'just some text, not a database\n' >"$WORK/foreign.db"
expect 2 "foreign file" -- "$UB_BIN" history --ledger "$WORK/foreign.db"
contains err "is not an SQLite database"
cp "$DB" "$WORK/corrupt.db"
/usr/bin/python3 - "$WORK/corrupt.db" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100)
    f.write(b"\x5a" * 3996)
EOF
expect 2 "corrupt file" -- "$UB_BIN" report 1 --html "$WORK/c.html" --ledger "$WORK/corrupt.db"
contains err "is corrupt"
lacks err "Segmentation"

[ "$FAILED" = 0 ] && echo "ok: ledger commands" || exit 1
