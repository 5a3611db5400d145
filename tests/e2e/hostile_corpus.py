"""Runs every policy of tests/hostile/ through `unbreakable eval` and checks
that each is contained by the in-process limits with the expected, clear
error: exit status 3, one line on stderr naming the cause, nothing on
stdout, never a signal and never the host's backstop. The header lines of
each policy say what to expect:
    -- expect: timeout | memory | instructions | error: <text> | ok-without-secret
    -- args: <extra eval arguments>
Elapsed times are printed for the record, never asserted."""
import json
import os
import subprocess
import sys
import time

BIN = os.environ.get("UB_BIN", "build/unbreakable")
ROOT = os.environ.get("UB_SOURCE", ".")
DEADLINE = 0.5
SECRET = "dt0c01.PROBE-SECRET-7f3a9c"

EXPECT_TEXT = {
    "timeout": "wall-clock deadline of",
    "memory": "memory limit of",
    "instructions": "instruction budget of",
}


def header(path):
    expect, args = None, []
    with open(path) as f:
        for line in f:
            if not line.startswith("--"):
                break
            if line.startswith("-- expect:"):
                expect = line.split(":", 1)[1].strip()
            elif line.startswith("-- args:"):
                args = line.split(":", 1)[1].split()
    return expect, args


def run_case(path):
    expect, args = header(path)
    env = dict(os.environ, DT_API_TOKEN=SECRET, UB_PROBE=SECRET)
    cmd = [BIN, "eval", path, "--timeout", str(DEADLINE)] + args
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    elapsed = time.monotonic() - start
    problems = []
    if "backstop" in p.stderr or "died from signal" in p.stderr:
        problems.append("not contained in-process: " + p.stderr.strip())
    if SECRET in p.stdout or SECRET in p.stderr:
        problems.append("the secret leaked")
    if expect == "ok-without-secret":
        if p.returncode != 0:
            problems.append("exit %d: %s" % (p.returncode, p.stderr.strip()))
        else:
            result = json.loads(p.stdout)
            if result.get("found"):
                problems.append("found: %r" % result["found"])
    else:
        want = EXPECT_TEXT.get(expect) or expect.split(":", 1)[1].strip()
        if p.returncode != 3:
            problems.append("exit %d, want 3" % p.returncode)
        if p.stdout.strip():
            problems.append("stdout not empty: %r" % p.stdout[:200])
        if want not in p.stderr:
            problems.append("stderr %r lacks %r" % (p.stderr.strip()[:300], want))
        lines = [l for l in p.stderr.splitlines() if not l.startswith("[policy]")]
        if len(lines) != 1:
            problems.append("want one error line, got %d" % len(lines))
        elif os.path.basename(path) not in lines[0] and expect in EXPECT_TEXT:
            problems.append("error does not name the policy file: %r" % lines[0])
    return problems, elapsed, p.stderr.strip().splitlines()[-1:] or [""]


def main():
    folder = os.path.join(ROOT, "tests", "hostile")
    cases = sorted(f for f in os.listdir(folder) if f.endswith(".lua"))
    passed = failed = 0
    for name in cases:
        problems, elapsed, last = run_case(os.path.join(folder, name))
        status = "ok" if not problems else "FAIL"
        print("%-28s %-4s %6.3f s  %s" % (name, status, elapsed, last[0][:110]))
        for pr in problems:
            print("    " + pr)
        if problems:
            failed += 1
        else:
            passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed < 20 else 0


if __name__ == "__main__":
    sys.exit(main())
