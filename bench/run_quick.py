"""run_quick.py: runs one benchmark in its short mode for ctest (label
"bench") and checks that it did not rot: it must exit 0, print at least one
ratio line (a figure like "1.43x", "(x2.10)", a line with "ratio" or an "x floor" column), and no
sanitizer report. Timing is never asserted: the figures are printed for the
log only.

    python3 bench/run_quick.py COMMAND [ARG ...]    (the command gets --quick)
"""
import os
import re
import subprocess
import sys

RATIO = re.compile(r"\d\.?\d*x\b|\(x\d|\bratio\b|\bx floor\b")


def main(argv):
    if not argv:
        print("usage: run_quick.py COMMAND [ARG ...]", file=sys.stderr)
        return 2
    scale = max(1.0, float(os.environ.get("UB_TIME_SCALE") or 1))
    env = dict(os.environ, UB_BENCH_QUICK="1")
    proc = subprocess.run(argv + ["--quick"], capture_output=True, text=True, env=env, timeout=300 * scale)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    problems = []
    if proc.returncode != 0:
        problems.append("exit status %d" % proc.returncode)
    ratios = [line for line in proc.stdout.splitlines() if RATIO.search(line)]
    if not ratios:
        problems.append("no ratio line in the output")
    if "Sanitizer" in proc.stderr or "runtime error:" in proc.stderr:
        problems.append("a sanitizer report")
    for problem in problems:
        print("run_quick: %s: %s" % (os.path.basename(argv[-1]), problem), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
