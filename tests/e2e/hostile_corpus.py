"""Runs every policy of tests/hostile/ through `unbreakable eval` and checks
that each is contained by the in-process limits with the expected, clear
error: exit status 3, one line on stderr naming the cause, nothing on
stdout, never a signal and never the host's backstop. The header lines of
each policy say what to expect:
    -- expect: timeout | memory | instructions | error: <text> | ok-without-secret
    -- args: <extra eval arguments>
    -- absent: <words that must appear in no output>
The deadline is 0.5 s for timeout cases, 10 s for the others (both scaled
by UB_TIME_SCALE); an --timeout in the args wins. Elapsed times are printed
for the record, never asserted. Cases that need
files the repository should not hold (a 4 MiB policy, links out of the
policy's folder, a FIFO) are written to a temporary folder by
generated_cases()."""
import json
import os
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("UB_BIN", "build/unbreakable")
ROOT = os.environ.get("UB_SOURCE", ".")
# Policies expected to hit the deadline get a short one; the others get a
# long one, so that a slow or busy machine cannot turn their memory,
# instruction or error outcome into a timeout. UB_TIME_SCALE (default 1)
# stretches both for slow builds (ASan): tests/CMakeLists.txt sets it.
TIME_SCALE = float(os.environ.get("UB_TIME_SCALE", "1"))
DEADLINE = 0.5 * TIME_SCALE
OTHER_DEADLINE = 10 * TIME_SCALE
SECRET = "dt0c01.PROBE-SECRET-7f3a9c"

EXPECT_TEXT = {
    "timeout": "wall-clock deadline of",
    "memory": "memory limit of",
    "instructions": "instruction budget of",
}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def and_chain(size):
    """Lua source of about size bytes that the parser handles in quadratic
    time (each 'and' walks the jump list of the ones before it)."""
    return "local x = a" + " and a" * ((size - 12) // 6) + "\n"


def generated_cases(tmp):
    """Writes the generated policies; returns their paths."""
    cases = []

    def case(name, header_lines, body, files=()):
        folder = os.path.join(tmp, name)
        for rel, text in files:
            write(os.path.join(folder, rel), text)
        path = os.path.join(folder, name + ".lua")
        write(path, "".join("-- %s\n" % h for h in header_lines) + body)
        cases.append(path)
        return folder

    # 11.1.1: a policy file and a required module the parser takes minutes on
    # (4 MiB: the largest policy or module the sandbox reads)
    case("big_policy_and_chain", ["expect: timeout"], and_chain((4 << 20) - 64))
    case("big_module_and_chain", ["expect: timeout"], 'return require("big")\n',
         [("big.lua", and_chain((4 << 20) - 64))])
    # 11.1.5: require follows no link out of the policy's folder
    folder = case("require_link_env_file", ["expect: error: refused"],
                  'return require("envfile")\n')
    write(os.path.join(tmp, "ci.env"), 'DT_API_TOKEN="%s"\n' % SECRET)
    os.symlink("../ci.env", os.path.join(folder, "envfile.lua"))
    outside = os.path.join(tmp, "outside", "secret.lua")
    write(outside, 'return "%s"\n' % SECRET)
    folder = case("require_link_root", ["expect: error: refused"],
                  'return require("rootfs%s")\n' % outside[:-4].replace("/", "."))
    os.symlink("/", os.path.join(folder, "rootfs"))
    folder = case("require_fifo", ["expect: error: refused"], 'return require("fifo")\n')
    os.mkfifo(os.path.join(folder, "fifo.lua"))
    # a compile error in a required file says file and line, never its text
    case("require_compile_error_quiet",
         ["expect: error: does not compile (line 2)", "absent: QUIET a1b2c3"],
         'return require("tokenfile")\n',
         [("tokenfile.lua", "-- not Lua\nDT_API_TOKEN=dt0c01.9QUIET-TOKEN-a1b2c3\n")])
    # a link that stays inside the folder is fine
    folder = case("require_link_inside", ["expect: ok-without-secret"],
                  'return { x = require("alias").x }\n',
                  [("lib/real.lua", "return { x = 1 }\n")])
    os.symlink("lib/real.lua", os.path.join(folder, "alias.lua"))
    return cases


def header(path):
    expect, args, absent = None, [], []
    with open(path) as f:
        for line in f:
            if not line.startswith("--"):
                break
            if line.startswith("-- expect:"):
                expect = line.split(":", 1)[1].strip()
            elif line.startswith("-- args:"):
                args = line.split(":", 1)[1].split()
            elif line.startswith("-- absent:"):
                absent = line.split(":", 1)[1].split()
    return expect, args, absent


def run_case(path):
    expect, args, absent = header(path)
    env = dict(os.environ, DT_API_TOKEN=SECRET, UB_PROBE=SECRET)
    deadline = DEADLINE if expect == "timeout" else OTHER_DEADLINE
    cmd = [BIN, "eval", path, "--timeout", str(deadline)] + args
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env,
                       timeout=60 * TIME_SCALE + deadline)
    elapsed = time.monotonic() - start
    problems = []
    if "backstop" in p.stderr or "died from signal" in p.stderr:
        problems.append("not contained in-process: " + p.stderr.strip())
    if SECRET in p.stdout or SECRET in p.stderr:
        problems.append("the secret leaked")
    for word in absent:
        if word in p.stdout or word in p.stderr:
            problems.append("%r appears in the output" % word)
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
    cases = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".lua"))
    with tempfile.TemporaryDirectory(prefix="ub_hostile_") as tmp:
        return run_all(cases + generated_cases(tmp))


def run_all(cases):
    passed = failed = 0
    for path in cases:
        name = os.path.basename(path)
        problems, elapsed, last = run_case(path)
        status = "ok" if not problems else "FAIL"
        print("%-36s %-4s %6.3f s  %s" % (name, status, elapsed, last[0][:110]))
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
