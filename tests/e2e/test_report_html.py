"""test_report_html.py: the HTML report of recorded evaluations, opened in
headless Chromium: renders without console errors or blocked resources,
needs no JavaScript (none in the page, and its CSP forbids any), and a screenshot of the fixture report is
taken (UB_UPDATE_SCREENSHOT=1 copies it to tests/report-screenshot.png).

The ledger is written through the C API by `test_ledger --write-fixture`:
evaluation 1 is a failing monspec gate with series, 2 an SLO gate in Keptn's
shape. When no Chromium is installed it exits 77, which ctest reports as
skipped (SKIP_RETURN_CODE, tests/CMakeLists.txt), never as passed; ./test.sh
installs Chromium (setup.sh --test) and fails on any skipped test."""
import html.parser
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

UB_BIN = os.environ["UB_BIN"]
UB_BUILD = os.environ["UB_BUILD"]
UB_SOURCE = os.environ.get("UB_SOURCE", os.getcwd())
FAILURES = []
SKIP = 77   # ctest's SKIP_RETURN_CODE for the end-to-end tests


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(cmd, timeout=120):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class Census(html.parser.HTMLParser):
    """Counts elements and collects text and the classes seen."""

    def __init__(self):
        super().__init__()
        self.tags, self.classes, self.text = {}, set(), []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for key, value in attrs:
            if key == "class" and value:
                self.classes.update(value.split())

    def handle_data(self, data):
        self.text.append(data)


def census(markup):
    c = Census()
    c.feed(markup)
    c.all_text = " ".join(" ".join(c.text).split())
    return c


def chromium(browser, profile, url, *extra):
    return run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
                *extra, url])


def console_problems(stderr):
    bad = []
    for line in stderr.splitlines():
        if ("CONSOLE" in line or "Uncaught" in line or "Refused to" in line
                or "Failed to load resource" in line):
            bad.append(line)
    return bad


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def static_checks(name, markup):
    check(markup.startswith("<!DOCTYPE html>"), name + ": doctype")
    check("<script" not in markup.lower(), name + ": has a script element")
    check(not re.search(r"\son[a-z]+\s*=", markup, re.I), name + ": has an event handler attribute")
    check("javascript:" not in markup.lower(), name + ": has a javascript: URL")
    check(not re.search(r"\s(src|href)=\"(?!#)", markup), name + ": loads or links a resource")
    urls = re.findall(r"https?://[^\s\"'<>]+", markup)
    check(set(urls) <= {"http://www.w3.org/2000/svg"}, name + ": external URLs %r" % urls)
    check("Content-Security-Policy" in markup and "default-src 'none'" in markup,
          name + ": CSP meta missing")


def main():
    browser = find_chromium()
    if not browser:
        print("SKIPPED: chromium not installed (apt-get install -y chromium, or ./setup.sh --test)")
        return SKIP
    work = tempfile.mkdtemp(prefix="ub-report-")
    try:
        return exercise(browser, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def exercise(browser, work):
    db = os.path.join(work, "ledger.db")
    out = run([os.path.join(UB_BUILD, "tests", "test_ledger"), "--write-fixture", db])
    check(out.returncode == 0 and out.stdout.split() == ["1", "2"], "fixture: " + out.stderr)
    pages = {}
    for ident in ("1", "2"):
        path = os.path.join(work, "report-%s.html" % ident)
        r = run([UB_BIN, "report", ident, "--html", path, "--ledger", db])
        check(r.returncode == 0, "report %s exit %d: %s" % (ident, r.returncode, r.stderr))
        with open(path, encoding="utf-8") as f:
            pages[ident] = (path, f.read())
        static_checks("report " + ident, pages[ident][1])

    # Canary: the console check does see a page's errors.
    canary = os.path.join(work, "canary.html")
    with open(canary, "w") as f:
        f.write("<!DOCTYPE html><html><body><script>console.error('canary'); nope();</script>"
                "</body></html>")
    r = chromium(browser, tempfile.mkdtemp(dir=work), "file://" + canary, "--dump-dom")
    check(len(console_problems(r.stderr)) >= 1, "console check is blind: " + r.stderr[-300:])

    # Evaluation 1 in the browser: the DOM as rendered.
    path, markup = pages["1"]
    url = "file://" + path
    for label, extra in (("dom", ()),):
        r = chromium(browser, tempfile.mkdtemp(dir=work), url, "--dump-dom", *extra)
        check("<html" in r.stdout[:200], "chromium --dump-dom printed no DOM")
        check(r.returncode == 0, "chromium --dump-dom (%s) exit %d" % (label, r.returncode))
        check(not console_problems(r.stderr), "console (%s): %r" % (label, console_problems(r.stderr)))
        dom = census(r.stdout)
        check(dom.tags.get("svg") == 3, "%s: %s charts, want 3" % (label, dom.tags.get("svg")))
        check("v-fail" in dom.classes, label + ": no fail banner")
        check(dom.tags.get("tr", 0) >= 5 + 1 + 3, label + ": objective and input tables")
        for text in ("FAIL", "1 of 4 objectives failed", "412.5 ms", "398.6 ms", "438.5 ms",
                     "2.53%", "threshold 2%", "running sum", "builtin:service.response.time:avg",
                     "Why: 2.53 % is above the static upper limit 2 % (baseline 0.81 %)",
                     "No data: the source window gave no value"):
            check(text in dom.all_text, "%s: page lacks %r" % (label, text))
        check("dt0c01" not in r.stdout, label + ": token prefix visible")

    # Screenshot of the fixture report, as a user sees it. (The page's CSP,
    # default-src 'none' without script-src, already blocks every script, so
    # what Chromium renders here is what a reader without JavaScript gets.)
    shot = os.path.join(work, "report.png")
    r = chromium(browser, tempfile.mkdtemp(dir=work), url, "--screenshot=" + shot,
                 "--window-size=1200,1600", "--hide-scrollbars")
    check(r.returncode == 0 and os.path.exists(shot), "screenshot: " + r.stderr[-400:])
    check(not console_problems(r.stderr), "console (screenshot): %r" % console_problems(r.stderr))
    if os.path.exists(shot):
        check(png_size(shot) == (1200, 1600), "screenshot size %r" % (png_size(shot),))
        check(os.path.getsize(shot) > 30000, "screenshot looks empty")
        if os.environ.get("UB_UPDATE_SCREENSHOT") == "1":
            shutil.copyfile(shot, os.path.join(UB_SOURCE, "tests", "report-screenshot.png"))
            print("updated tests/report-screenshot.png")

    # Evaluation 2 (Keptn shape) renders too.
    path, _ = pages["2"]
    r = chromium(browser, tempfile.mkdtemp(dir=work), "file://" + path, "--dump-dom")
    check(not console_problems(r.stderr), "console (slo): %r" % console_problems(r.stderr))
    dom = census(r.stdout)
    for text in ("WARNING", "score 66.67", "SLI results (Keptn evaluation)", "<=+10%",
                 "(target 550) violated", "response_time_p95"):
        check(text in dom.all_text, "slo page lacks %r" % text)

    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("ok: reports render in %s without console errors" % os.path.basename(browser))
    return 0


if __name__ == "__main__":
    sys.exit(main())
