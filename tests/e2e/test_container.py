"""The container image (Containerfile): built with podman from a Debian 12
base made locally (no registry is reachable: mmdebstrap --variant=minbase
bookworm, imported once and kept in podman's storage between runs), run as
it would be deployed (serve as the entry point, the token and the specs as
mounted files, the tenant by environment variables), it answers /healthz,
its own HEALTHCHECK passes, it runs as a non-root user, and it gates a good
release (success) and a bad one (failure) against the Dynatrace simulator on
the host.

The image build's duration is printed (CI's budget), never asserted.
Skipped (exit 77), with the reason and podman's own error, when podman or
mmdebstrap is missing or podman cannot run a container on this machine;
./setup.sh --test installs what it needs, and ./test.sh counts a skip as a
failure.

Machines where the default OCI runtime (crun) cannot start a container
(cgroups v1 with controllers left in the cgroup v2 hierarchy: "cgroups in
hybrid mode not supported") are retried with runc; machines whose root lacks
CAP_SYS_RESOURCE cannot raise the limits podman sets by default, so every
container gets this process's own limits (--ulimit)."""
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

SRC = os.environ.get("UB_SOURCE", ".")
BUILD = os.environ.get("UB_BUILD", os.path.join(SRC, "build"))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
import dynatrace_sim  # noqa: E402
from launch import scaled, wait_for  # noqa: E402

BASE = "localhost/unbreakable-base:bookworm"
# one tag per source tree: clones tested at once on one machine do not swap images
IMAGE = "localhost/unbreakable:test-" + hashlib.sha1(os.path.realpath(SRC).encode()).hexdigest()[:10]
DEMO = os.path.join(SRC, "tests", "sim", "scenarios", "demo.json")
DT_TOKEN = "dt0c01.DEMO.READONLY"
SERVE_TOKEN = "container-serve-token-0123456789abcdef"
SKIP = 77


def ulimits():
    """Limits no higher than this process's own and podman's default for
    nproc (32768, which its runtime already runs under), so that they can be
    set without CAP_SYS_RESOURCE."""
    flags = []
    for name, which, cap in (("nofile", resource.RLIMIT_NOFILE, 1048576), ("nproc", resource.RLIMIT_NPROC, 32768)):
        soft, _ = resource.getrlimit(which)
        value = cap if soft == resource.RLIM_INFINITY else min(soft, cap)
        flags += ["--ulimit", "%s=%d:%d" % (name, value, value)]
    return flags


class Podman:
    """podman with the global flags (the OCI runtime) that work here."""

    def __init__(self, global_flags):
        self.global_flags = list(global_flags)
        self.limits = ulimits()

    def run(self, *args, timeout=120, check=True):
        cmd = ["podman"] + self.global_flags + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=scaled(timeout), stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError("%s: exit %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
        return p


def skip(reason):
    print("SKIPPED: " + reason)
    sys.exit(SKIP)


def base_image():
    """The local Debian 12 base, made once with mmdebstrap and kept in podman's storage."""
    if subprocess.run(["podman", "image", "exists", BASE]).returncode == 0:
        return
    if not shutil.which("mmdebstrap"):
        skip("mmdebstrap is missing to build the base image (./setup.sh --test installs it)")
    os.makedirs(BUILD, exist_ok=True)
    tar = os.path.join(BUILD, "container-base.tar")
    start = time.monotonic()
    try:
        p = subprocess.run(["mmdebstrap", "--variant=minbase", "--quiet", "bookworm", tar],
                           capture_output=True, text=True, timeout=scaled(600))
        if p.returncode != 0:
            raise AssertionError("mmdebstrap failed: %s" % p.stderr[-2000:])
        p = subprocess.run(["podman", "import", tar, BASE], capture_output=True, text=True, timeout=scaled(300))
        if p.returncode != 0:
            raise AssertionError("podman import failed: %s" % p.stderr[-2000:])
    finally:
        if os.path.exists(tar):
            os.remove(tar)
    print("base image %s made in %.1f s" % (BASE, time.monotonic() - start))


def working_podman():
    """The first runtime choice under which a container starts, else a skip
    quoting what podman said."""
    errors = []
    candidates = [[]]
    if shutil.which("runc"):
        candidates.append(["--runtime", shutil.which("runc")])
    for flags in candidates:
        pm = Podman(flags)
        p = pm.run("run", "--rm", *pm.limits, BASE, "true", check=False)
        if p.returncode == 0:
            return pm
        errors.append("podman %s run: %s" % (" ".join(flags) or "(default runtime)", p.stderr.strip()[-500:]))
    skip("podman cannot run a container on this machine:\n  " + "\n  ".join(errors))


class Image(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pm = PODMAN
        start = time.monotonic()
        cls.pm.run("build", "--format", "docker", *cls.pm.limits, "--build-arg", "BASE=" + BASE,
                   "-t", IMAGE, "-f", os.path.join(SRC, "Containerfile"), SRC, timeout=1500)
        print("image built in %.1f s" % (time.monotonic() - start))
        cls.dt = dynatrace_sim.start(DEMO, tokens=[DT_TOKEN])
        cls.tmp = tempfile.mkdtemp(prefix="ub-container-")
        os.chmod(cls.tmp, 0o755)
        cls.specs = os.path.join(cls.tmp, "specs")
        os.mkdir(cls.specs)
        shutil.copy(os.path.join(SRC, "examples", "monspec", "demo.monspec.json"), cls.specs)
        os.chmod(os.path.join(cls.specs, "demo.monspec.json"), 0o644)
        cls.token_file = os.path.join(cls.tmp, "serve-token")
        with open(cls.token_file, "w") as f:
            f.write(SERVE_TOKEN + "\n")
        os.chmod(cls.token_file, 0o644)   # the container's user is not this one
        cls.name = "ub-test-container-%d" % os.getpid()
        cls.names = []
        try:
            cls.start_gate_container()
            cls.start_default_container()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls, name, *args):
        cls.names.append(name)
        cls.pm.run("run", "-d", "--name", name, *cls.pm.limits,
                   "-e", "UB_SERVE_TOKEN_FILE=/run/secrets/serve-token",
                   "-v", cls.token_file + ":/run/secrets/serve-token:ro",
                   "-v", cls.specs + ":/srv/unbreakable/specs:ro", *args)

    @classmethod
    def start_gate_container(cls):
        """The image on the host's network, so that serve reaches the
        simulator on loopback (the only place plain http:// is allowed),
        listening on a free port it names in its log."""
        cls.gate_name = cls.name + "-gate"
        cls.start(cls.gate_name, "--network", "host", "-e", "DT_TENANT_URL=http://127.0.0.1:%d" % cls.dt.port,
                  "-e", "DT_API_TOKEN=" + DT_TOKEN, IMAGE, "--listen", "127.0.0.1:0",
                  "--specs", "/srv/unbreakable/specs")

        def port():
            if not cls.running(cls.gate_name):
                raise AssertionError("the container stopped: %s" % cls.logs(cls.gate_name))
            m = re.search(r"\(port (\d+)\)", cls.logs(cls.gate_name))
            return m and m.group(1)
        cls.url = "http://127.0.0.1:%s" % wait_for(port, 60, "serve in the container to listen", interval=0.2)

    @classmethod
    def start_default_container(cls):
        """The image as shipped (its own CMD: 0.0.0.0:8080) in a network
        namespace of its own, for its HEALTHCHECK."""
        cls.default_name = cls.name + "-default"
        cls.start(cls.default_name, "--network", "none", IMAGE)

    @classmethod
    def running(cls, name):
        return cls.pm.run("inspect", "--format", "{{.State.Running}}", name, check=False).stdout.strip() == "true"

    @classmethod
    def logs(cls, name):
        p = cls.pm.run("logs", name, check=False)
        return p.stdout + p.stderr

    @classmethod
    def tearDownClass(cls):
        for name in getattr(cls, "names", []):
            cls.pm.run("rm", "-f", "-t", "0", name, check=False)
        if getattr(cls, "dt", None):
            cls.dt.stop()

    def gate(self, compare):
        body = json.dumps({"monspec": "demo.monspec.json", "compare": compare, "window": 5}).encode()
        req = urllib.request.Request(self.url + "/v1/gate", data=body, method="POST",
                                     headers={"Authorization": "Bearer " + SERVE_TOKEN,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=scaled(60)) as r:
            return r.status, json.loads(r.read())

    def test_the_image_is_configured_as_documented(self):
        image = json.loads(self.pm.run("image", "inspect", IMAGE).stdout)[0]
        config = image["Config"]
        self.assertEqual(config["User"], "10001:10001")
        self.assertEqual(config["Entrypoint"], ["/usr/local/bin/unbreakable", "serve"])
        self.assertIn("/var/lib/unbreakable", config["Volumes"])
        healthcheck = image.get("Healthcheck") or config.get("Healthcheck")
        self.assertIn("http://127.0.0.1:8080/healthz", healthcheck["Test"])

    def test_it_answers_healthz(self):
        with urllib.request.urlopen(self.url + "/healthz", timeout=scaled(5)) as r:
            self.assertEqual(json.loads(r.read())["status"], "ok")

    def test_its_healthcheck_passes_as_shipped(self):
        def healthy():
            if not self.running(self.default_name):
                raise AssertionError("the container stopped: %s" % self.logs(self.default_name))
            return self.pm.run("healthcheck", "run", self.default_name, check=False).returncode == 0
        wait_for(healthy, 60, "the image's HEALTHCHECK to pass", interval=0.5)

    def test_it_runs_as_a_non_root_user_and_never_logs_the_token(self):
        for name in (self.gate_name, self.default_name):
            p = self.pm.run("exec", name, "id", "-u")
            self.assertEqual(p.stdout.strip(), "10001")
            self.assertNotIn(SERVE_TOKEN, self.logs(name))

    def test_it_gates_a_good_and_a_bad_release(self):
        status, v = self.gate("CheckoutService/StagingToProduction")
        self.assertEqual((status, v["status"], v["verdict"]), (200, "success", "pass"), v)
        status, v = self.gate("CheckoutService/CanaryToProduction")
        self.assertEqual((status, v["status"], v["verdict"]), (200, "failure", "fail"), v)
        # the ledger on the image's volume recorded both
        with urllib.request.urlopen(urllib.request.Request(
                self.url + "/v1/evaluations?service=CheckoutService",
                headers={"Authorization": "Bearer " + SERVE_TOKEN}), timeout=scaled(10)) as r:
            self.assertGreaterEqual(len(json.loads(r.read())["evaluations"]), 2)

    def test_unauthenticated_gates_are_refused(self):
        req = urllib.request.Request(self.url + "/v1/gate", data=b"{}", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=scaled(10))
        self.assertEqual(caught.exception.code, 401)


if __name__ == "__main__":
    if not shutil.which("podman"):
        skip("podman is missing (./setup.sh --test installs it)")
    base_image()
    PODMAN = working_podman()
    unittest.main()
