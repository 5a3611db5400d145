"""test_output_neutral.py: nothing a policy causes to be printed can drive
a terminal or a CI log (review 1.6), and every JUnit report is well-formed
XML whatever the text (review 3). Runs
  - every tests/hostile/*.lua policy through `unbreakable eval`;
  - a gate policy that prints hostile lines and returns a verdict with a
    hostile string in every field, through `unbreakable gate` in every
    format, then `unbreakable replay` of that evaluation in every format;
  - a policy that fails with a hostile error, through gate (junit, text)
    and replay --policy;
and checks the bytes of stdout and stderr: valid UTF-8; no control
character but tab and newline; no C1 control (U+0080..U+009F), bidi
override or line separator; no Azure Pipelines command ("##vso[", "##[")
anywhere; no line that starts, after blanks, with "::" (GitHub Actions),
"##" or a GitLab section marker. Every JUnit output is parsed with
xml.etree (Expat), and its warnings are skipped cases, not passes."""
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

BIN = os.environ.get("UB_BIN", "build/unbreakable")
SRC = os.environ.get("UB_SOURCE", ".")
MONSPEC = os.path.join(SRC, "examples", "monspec", "demo.monspec.json")
FAILURES = []

# Lua string literals: every way found to forge a CI command or drive a terminal.
HOSTILE = [
    r'"ok\r::warning::forged\27]0;t\7"',
    r'"\n::error file=x,line=1::forged"',
    r'"  ::set-output name=verdict::pass"',
    r'"\t::add-mask::dt0c01"',
    r'"::stop-commands::token"',
    r'"\194\160::warning::nbsp"',
    r'"x ##vso[task.complete result=Succeeded]done"',
    r'"##VSO[task.setvariable variable=gate]pass"',
    r'"##[group]g"',
    r'"\27[0Ksection_start:1700000000:s\r\27[0Kheader"',
    r'"section_end:1700000000:s"',
    r'"\27[2J\27[H clear \27[8mhidden"',
    r'"\27]8;;https://evil.example\27\\link"',
    r'"c1 \194\155" .. "31m \194\133 nel \194\144"',
    r'"raw \155" .. "2J \133 \159"',
    r'"bel\7 bs\8 del\127 nul\0 vt\11"',
    r'"bidi \226\128\174" .. "exe \226\128\168 sep"',
    r'"line1\r\nline2\n\n::endgroup::"',
    r'"<a b=\"&\">\'</a>]]>"',
]

VERDICT_POLICY = """
local ALL = { %s }
local H = {}  -- a verdict must be valid UTF-8 to be recorded: the raw bytes go to print
for _, h in ipairs(ALL) do if utf8.len(h) then H[#H + 1] = h end end
local all = table.concat(H, " | ")
local statuses = { "pass", "warning", "fail", "error", "no_data" }
return function(ctx)
  for _, h in ipairs(ALL) do print(h) end
  local objectives = {}
  for i, h in ipairs(H) do
    objectives[i] = { name = h, status = statuses[i %% 5 + 1], message = h, value = h,
                      unit = h, query = h, baseline = i, threshold = i }
  end
  return { verdict = "warning", summary = all, target = all, compat = all, errors = H,
           warnings = H, objectives = objectives, dtcli = { json = all }, keptn = { result = all } }
end
""" % ", ".join(HOSTILE)

ERROR_POLICY = """
local H = { %s }
return function(ctx)
  for _, h in ipairs(H) do print(h) end
  error(table.concat(H, " | "))
end
""" % ", ".join(HOSTILE)

BLANKS = " \t\u00a0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u202f\u205f\u3000\ufeff"
CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
UNICODE_CONTROL = re.compile("[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)


def neutral_problems(data):
    """Why data (bytes) could drive a terminal or a CI log; [] when safe."""
    problems = []
    m = CONTROL.search(data)
    if m:
        problems.append("control byte 0x%02x near %r" % (m.group()[0], data[max(0, m.start() - 20):m.end() + 20]))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append("not UTF-8: %s" % e)
        text = data.decode("utf-8", "replace")
    m = UNICODE_CONTROL.search(text)
    if m:
        problems.append("control U+%04X near %r" % (ord(m.group()), text[max(0, m.start() - 20):m.end() + 20]))
    low = text.lower()
    for cmd in ("##vso[", "##["):
        if cmd in low:
            problems.append("Azure command %r in %r" % (cmd, text[low.index(cmd) - 20:low.index(cmd) + 30]))
    for line in text.split("\n"):
        t = line.lstrip(BLANKS).lower()
        if t.startswith(("::", "##", "section_start:", "section_end:")):
            problems.append("line starts a CI command: %r" % line[:80])
    return problems


def run(args, env):
    return subprocess.run([BIN] + args, capture_output=True, env=env, timeout=120)


def check_neutral(what, p):
    for stream, data in (("stdout", p.stdout), ("stderr", p.stderr)):
        for problem in neutral_problems(data):
            check(False, "%s %s: %s" % (what, stream, problem))


def junit_root(what, data):
    """The first JUnit document in data, parsed by Expat; None if it is not XML."""
    text = data.decode("utf-8", "replace")
    end = text.find("</testsuites>")
    try:
        return ET.fromstring(text[:end + len("</testsuites>")] if end >= 0 else text)
    except ET.ParseError as e:
        check(False, "%s: JUnit is not well-formed XML: %s" % (what, e))
        return None


def test_hostile_corpus_output(env):
    folder = os.path.join(SRC, "tests", "hostile")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".lua"))
    for name in names:
        p = run(["eval", os.path.join(folder, name), "--timeout", "2"], env)
        check_neutral("eval " + name, p)
    printed = run(["eval", os.path.join(folder, "print_ci_commands.lua")], env).stderr
    check(b"[policy] ok?::warning::forged" in printed, "print output is kept, defused: %r" % printed[:200])
    check(b"[policy] x #?vso[task.complete" in printed, "##vso[ is defused in place: %r" % printed[:400])
    print("eval: %d hostile policies checked" % len(names))


def test_gate_and_replay(env, work):
    verdict_policy = os.path.join(work, "hostile_verdict.lua")
    error_policy = os.path.join(work, "hostile_error.lua")
    with open(verdict_policy, "w") as f:
        f.write(VERDICT_POLICY)
    with open(error_policy, "w") as f:
        f.write(ERROR_POLICY)
    ledger = os.path.join(work, "ledger.db")
    base = ["gate", "--monspec", MONSPEC, "--compare", "CheckoutService/StagingToProduction",
            "--ledger", ledger]
    for fmt in ("text", "json", "junit", "dtcli"):
        extra = ["--compat", "dtcli"] if fmt == "dtcli" else []
        p = run(base + ["--policy", verdict_policy, "--format", fmt] + extra, env)
        check(p.returncode == 0, "gate --format %s: exit %d: %r" % (fmt, p.returncode, p.stderr[-300:]))
        check_neutral("gate --format " + fmt, p)
        if fmt == "junit":
            root = junit_root("gate --format junit", p.stdout)
            if root is not None:
                skipped = [c for c in root.iter("testcase") if c.find("skipped") is not None]
                messages = [c.find("skipped").get("message") for c in skipped]
                check(any(m.startswith("warning: ") for m in messages), "warnings are skipped cases: %r" % messages)
                check(int(root.get("skipped")) == len(skipped), "skipped count matches the cases")
                verdict = [c for c in root.iter("testcase") if c.get("name") == "verdict"]
                check(verdict and verdict[0].find("skipped") is not None, "a warning verdict is a skipped case, not a pass")
                names = [c.get("name") for c in root.iter("testcase")]
                check("ok?::warning::forged" not in names and any("::warning::forged" in n for n in names),
                      "names keep the text, escaped, not cleaned: %r" % names[:2])
    p = run(base + ["--policy", verdict_policy, "--format", "junit", "--fail-on-warning"], env)
    root = junit_root("gate --fail-on-warning", p.stdout)
    if root is not None:
        verdict = [c for c in root.iter("testcase") if c.get("name") == "verdict"]
        check(verdict and verdict[0].find("failure") is not None, "--fail-on-warning fails the verdict case")
    for fmt in ("junit", "text", "json"):
        p = run(base + ["--policy", error_policy, "--format", fmt], env)
        check(p.returncode == 3, "failing policy --format %s: exit %d" % (fmt, p.returncode))
        check_neutral("gate failing policy --format " + fmt, p)
        if fmt == "junit":
            root = junit_root("gate failing policy --format junit", p.stdout)
            if root is not None:
                error = root.find(".//error")
                check(error is not None and "forged" in error.get("message", ""), "the error case names the error")
    for fmt in ("text", "json", "junit"):
        p = run(["replay", "1", "--ledger", ledger, "--format", fmt], env)
        check(p.returncode == 0, "replay --format %s: exit %d: %r" % (fmt, p.returncode, p.stderr[-300:]))
        check_neutral("replay --format " + fmt, p)
        if fmt == "junit":
            junit_root("replay --format junit", p.stdout)
        p = run(["replay", "1", "--ledger", ledger, "--format", fmt, "--policy", error_policy], env)
        check_neutral("replay --policy failing --format " + fmt, p)
        if fmt == "junit":
            junit_root("replay --policy failing --format junit", p.stdout)
    for args in (["history"], ["history", "--format", "json"]):
        p = run(args + ["--ledger", ledger], env)
        check_neutral(" ".join(args), p)


def main():
    work = tempfile.mkdtemp()
    env = dict(os.environ, DT_TENANT_URL="http://127.0.0.1:9", DT_API_TOKEN="dt0c01.NEUTRAL.TEST", NO_COLOR="1")
    env.pop("DT_API_TOKEN_FILE", None)
    test_hostile_corpus_output(env)
    test_gate_and_replay(env, work)
    print("%d failures" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
