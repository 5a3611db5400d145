"""launch.py: what the Python tests need to run against the Dynatrace
simulator, written once: the simulator as a separate process on a free port
of 127.0.0.1 (SimProcess), `unbreakable serve` likewise (ServeProcess, for
tests/e2e/test_serve.py and test_selfheal.py), waiting for a condition
under a deadline that scales with the build (wait_for, scaled), the child
processes of a process (children), and the paths of the source tree and of
the fixtures.

Deadlines: ctest sets UB_TIME_SCALE (1 in a normal build, larger under the
sanitizers, see tests/CMakeLists.txt); every deadline a test sets is
multiplied by it. A test waits on a condition; the deadline only bounds how
long it waits, it never decides a pass.

    sys.path.insert(0, os.path.join(SOURCE, "tests", "sim"))
    from launch import SimProcess, FIXTURES, scaled, wait_for
    with SimProcess(scenario, tokens=["dt0c01.X"]) as sim:
        sim.url, sim.control("GET", "/_sim/requests")
"""
import atexit
import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import time
import urllib.error
import urllib.request

SIM_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("UB_SOURCE") or os.path.dirname(os.path.dirname(SIM_DIR))
FIXTURES = os.environ.get("UB_FIXTURES") or os.path.join(SOURCE, "tests", "fixtures")
SIM = os.path.join(SIM_DIR, "dynatrace_sim.py")
SCENARIOS = os.path.join(SIM_DIR, "scenarios")
PYTHON = sys.executable or "/usr/bin/python3"


def time_scale():
    """UB_TIME_SCALE as a factor >= 1 (unset or not a number: 1)."""
    try:
        scale = float(os.environ.get("UB_TIME_SCALE", "1"))
    except ValueError:
        return 1.0
    return scale if 1.0 <= scale <= 1000.0 else 1.0


def scaled(seconds):
    """A deadline of `seconds` in a normal build, scaled for this build."""
    return seconds * time_scale()


def wait_for(condition, seconds, what, interval=0.01):
    """Calls condition() until it returns a true value, which is returned.
    Raises TimeoutError naming `what` after scaled(seconds)."""
    deadline = time.monotonic() + scaled(seconds)
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("gave up after %.1f s waiting for %s" % (scaled(seconds), what))
        time.sleep(interval)


def children(pid):
    """The ids of the live processes whose parent is pid (read from /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def run_unless(missing):
    """A test script's main: unittest.main(), or, when missing (why the script cannot run,
    e.g. a tool that is not installed) is set, that reason and exit status 77, which
    tests/CMakeLists.txt declares as ctest's SKIP_RETURN_CODE: skipped, never passed."""
    if missing:
        print("SKIPPED: " + missing)
        sys.exit(77)
    unittest.main()


def temp_dir(prefix):
    """A new temporary directory, removed when the test script exits
    (kept when UB_KEEP_TMP=1, to read the logs of a run afterwards)."""
    path = tempfile.mkdtemp(prefix=prefix)
    if os.environ.get("UB_KEEP_TMP") != "1":
        atexit.register(shutil.rmtree, path, True)
    return path


def fixture_path(*parts):
    """The path of a file of tests/fixtures, e.g. fixture_path("keptn", "x.yaml")."""
    return os.path.join(FIXTURES, *parts)


class SimProcess:
    """The simulator (dynatrace_sim.py) as a process on an ephemeral port.

    Ready when it prints "LISTENING <port>" (it does so once the socket
    listens); its stderr goes to `log_path` (a temporary file by default),
    read back by log_text() and quoted when it fails to start."""

    def __init__(self, scenario, tokens=(), record=None, args=(), log_path=None, start_seconds=10):
        work = temp_dir("dtsim-")
        self.log_path = log_path or os.path.join(work, "sim.log")
        self.port_file = os.path.join(work, "port")
        cmd = [PYTHON, SIM, "--scenario", scenario, "--port", "0", "--port-file", self.port_file]
        for token in tokens:
            cmd += ["--token", token]
        if record:
            cmd += ["--record", record]
        cmd += list(args)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        try:
            self.port = self._wait_listening(scaled(start_seconds))
        except BaseException:
            self.stop(signal.SIGKILL)
            raise
        self.url = "http://127.0.0.1:%d" % self.port

    def _wait_listening(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("simulator not listening after %.1f s: %s" % (seconds, self.log_text()))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if line.startswith(b"LISTENING "):
                return int(line.split()[1])
            if not line:    # end of file: the simulator exited
                self.proc.wait()
                raise RuntimeError("simulator exited with %d before listening: %s"
                                   % (self.proc.returncode, self.log_text()))

    def log_text(self):
        """What the simulator wrote on stderr so far."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def control(self, method, path, doc=None, timeout=10):
        """Calls the control API (/_sim/...); returns the decoded answer,
        raises AssertionError on any status but 200."""
        data = json.dumps(doc).encode("utf-8") if doc is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=scaled(timeout)) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as err:
            raise AssertionError("control %s %s: %d %r" % (method, path, err.code, err.read()[:300]))

    def requests(self, path_prefix="/api/"):
        """The simulator's request log, only the requests under path_prefix."""
        return [r for r in self.control("GET", "/_sim/requests")["requests"] if r["path"].startswith(path_prefix)]

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Stops the simulator (SIGTERM: a clean exit 0); returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=scaled(10))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


_OWN = object()  # ServeProcess.request: the launcher's own token


class ServeProcess:
    """`unbreakable serve` (binary) on an ephemeral port of 127.0.0.1, its
    stderr in a file (text() reads it back). Ready when its log says
    "(port N)"; a serve that exits first fails the wait with its log.
    request() speaks HTTP to it with `token` as the bearer token."""

    def __init__(self, binary, specs, ledger, args=(), env=None, token=None, start_seconds=60):
        self.dir = temp_dir("ub-serve-")
        self.log_path = os.path.join(self.dir, "serve.log")
        self.token = token
        self.log = open(self.log_path, "w")
        where = ["--specs", specs] if specs is not None else []  # None: the args name a --bundle
        self.proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0"] + where +
                                     ["--ledger", ledger] + list(args),
                                     stdout=subprocess.DEVNULL, stderr=self.log, stdin=subprocess.DEVNULL, env=env)
        try:
            self.port = int(wait_for(self._listening_port, start_seconds, "serve to listen"))
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def _listening_port(self):
        if self.proc.poll() is not None:
            raise AssertionError("serve exited with %s: %s" % (self.proc.returncode, self.text()))
        m = re.search(r"\(port (\d+)\)", self.text())
        return m and m.group(1)

    def text(self):
        """What serve logged so far."""
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def request(self, method, path, body=None, headers=None, token=_OWN, timeout=60):
        """One request (a body that is not bytes or str is sent as JSON; token:
        this one instead of the launcher's, None for none). Returns (status,
        headers with lower-case names, body bytes)."""
        token = self.token if token is _OWN else token
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=scaled(timeout))
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        finally:
            conn.close()

    def stop(self, sig=signal.SIGTERM, seconds=60):
        """Signals serve (unless it exited) and waits for it; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=scaled(seconds))
        finally:
            if not self.log.closed:
                self.log.close()
