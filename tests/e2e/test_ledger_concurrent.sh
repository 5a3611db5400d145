# test_ledger_concurrent.sh: several processes write one ledger at once and
# nothing is lost: three C API writers (test_ledger --write-many) record
# evaluations while two `unbreakable invalidate` CLIs mark earlier ones and
# a third CLI keeps reading history. Afterwards every record is counted.
set -u
: "${UB_BIN:?UB_BIN must name the unbreakable binary}"
: "${UB_BUILD:?UB_BUILD must name the build directory}"
WRITER="$UB_BUILD/tests/test_ledger"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DB="$WORK/ledger.db"
PER_WRITER=150
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }

"$WRITER" --write-fixture "$DB" >/dev/null || { echo "FAIL: fixture"; exit 1; }
"$WRITER" --write-many "$DB" 40 before || { echo "FAIL: prefill"; exit 1; }   # ids 3..42

invalidate_range() { # FIRST LAST WHO
  for id in $(seq "$1" "$2"); do
    "$UB_BIN" invalidate "$id" --reason "by $3" --ledger "$DB" >/dev/null 2>>"$WORK/cli-$3.err" \
      || echo "invalidate $id failed" >>"$WORK/cli-$3.err"
  done
}
read_history() {
  for _ in $(seq 1 15); do
    "$UB_BIN" history --ledger "$DB" --limit 5 >/dev/null 2>>"$WORK/cli-reader.err" \
      || echo "history failed" >>"$WORK/cli-reader.err"
  done
}

pids=""
for w in 1 2 3; do
  "$WRITER" --write-many "$DB" "$PER_WRITER" "writer-$w" 2>"$WORK/writer-$w.err" &
  pids="$pids $!"
done
invalidate_range 3 22 A & pids="$pids $!"
invalidate_range 23 42 B & pids="$pids $!"
read_history & pids="$pids $!"
for p in $pids; do wait "$p" || fail "process $p exited non-zero"; done
for f in "$WORK"/*.err; do
  [ -s "$f" ] && fail "$(basename "$f"): $(head -c 400 "$f")"
done

"$UB_BIN" history --ledger "$DB" --limit 0 --format json >"$WORK/all.json" || fail "final history"
/usr/bin/python3 - "$WORK/all.json" "$PER_WRITER" <<'PY' || FAILED=1
import collections, json, sys
rows = json.load(open(sys.argv[1]))
per = int(sys.argv[2])
by = collections.Counter(r["requested_by"] for r in rows)
want = {"writer-1": per, "writer-2": per, "writer-3": per, "before": 40,
        "cli:ci@build-agent-7": 1, "http:10.1.2.3": 1}
assert dict(by) == want, dict(by)
ids = [r["id"] for r in rows]
assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids) == 2 + 40 + 3 * per, len(ids)
assert all(r["status"] == "finished" for r in rows)
inv = {r["id"]: r["invalidated_reason"] for r in rows if r["invalidated"]}
assert inv == {**{i: "by A" for i in range(3, 23)}, **{i: "by B" for i in range(23, 43)}}, inv
print("ok: %d evaluations from 3 writers and 2 CLI writers, none lost" % len(rows))
PY
[ "$FAILED" = 0 ] || exit 1
