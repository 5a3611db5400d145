"""`serve --bundle B --pubkey K` end to end (issue 16): serve takes its
specs only from a bundle whose signature and every file verify; SIGHUP reads
the bundle again; a bundle that fails verification (a changed byte, no
signature, no key id, another key, not a bundle at all) is refused with a
log line saying why and the last good bundle keeps serving; a new good
bundle puts its policy in force; a gate in flight finishes on the bundle it
started with; /readyz and /metrics say which bundle is live; --config takes
the same settings. Waits are on conditions (a log line, a request in the
simulator's log), never on sleeps."""
import hashlib
import io
import json
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import unittest
import subprocess

SRC = os.environ.get("UB_SOURCE", ".")
BIN = os.environ.get("UB_BIN", os.path.join(SRC, "build", "unbreakable"))
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))
import dynatrace_sim  # noqa: E402
from launch import ServeProcess, scaled, wait_for  # noqa: E402

DEMO = os.path.join(SRC, "tests", "sim", "scenarios", "demo.json")
DT_TOKEN = "dt0c01.DEMO.READONLY"
TOKEN = "serve-token-bundle-0123456789"
WAIT_S = 60

# The policy of each bundle takes its verdict from a module beside it,
# required only after the Dynatrace reads: a gate in flight needs its own
# bundle's folder until it ends.
POLICY = """local monspec = require("unbreakable.monspec")
return function(ctx)
  local v = monspec.evaluate(ctx)
  local mark = require("mark")
  return {verdict = mark.verdict, summary = mark.name .. " after " .. tostring(v.verdict),
          objectives = {{name = mark.name, status = mark.verdict}}}
end
"""
MARK = 'return {{name = "{name}", verdict = "{verdict}"}}\n'


def run_ub(*args):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=scaled(120))


def manifest_digest(path):
    with tarfile.open(path, "r:gz") as t:
        return hashlib.sha256(t.extractfile("manifest.json").read()).hexdigest()


def rewrite(src, dst, change):
    """Copies bundle src to dst with change(name, bytes) -> bytes or None (dropped)."""
    with tarfile.open(src, "r:gz") as t:
        members = [(m, t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]
    with tarfile.open(dst, "w:gz") as t:
        for m, data in members:
            data = change(m.name, data)
            if data is None:
                continue
            m.size = len(data)
            t.addfile(m, io.BytesIO(data))


class ServeBundle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ub-serve-bundle-")
        cls.key = os.path.join(cls.tmp, "signer")
        cls.other = os.path.join(cls.tmp, "other")
        for k in (cls.key, cls.other):
            p = run_ub("bundle", "keygen", "--out", k)
            assert p.returncode == 0, p.stderr
        cls.a = cls.make_bundle("a", "bundle-A", "pass", cls.key)
        cls.b = cls.make_bundle("b", "bundle-B", "fail", cls.key)
        cls.b_other_key = cls.make_bundle("b-other", "bundle-B", "fail", cls.other)
        cls.dt = dynatrace_sim.start(DEMO, tokens=[DT_TOKEN])

    @classmethod
    def tearDownClass(cls):
        cls.dt.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def make_bundle(cls, name, mark, verdict, key):
        src = os.path.join(cls.tmp, "src-" + name)
        os.mkdir(src)
        shutil.copy(os.path.join(SRC, "examples", "monspec", "demo.monspec.json"), src)
        with open(os.path.join(src, "policy.lua"), "w") as f:
            f.write(POLICY)
        with open(os.path.join(src, "mark.lua"), "w") as f:
            f.write(MARK.format(name=mark, verdict=verdict))
        out = os.path.join(cls.tmp, name + ".tar.gz")
        for args in (("bundle", "build", src, "-o", out), ("bundle", "sign", out, "--key", key)):
            p = run_ub(*args)
            assert p.returncode == 0, p.stderr
        return out

    def setUp(self):
        self.live = os.path.join(self.tmp, "live.tar.gz")
        shutil.copy(self.a, self.live)
        name = self.id().rsplit(".", 1)[-1]
        self.ledger = os.path.join(self.tmp, name + ".db")
        self.bundle_tmp = os.path.join(self.tmp, "unpacked-" + name)  # serve's TMPDIR
        os.mkdir(self.bundle_tmp)
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()

    def start(self, *args):
        env = dict(os.environ, DT_TENANT_URL=self.dt.url, DT_API_TOKEN=DT_TOKEN, UB_SERVE_TOKEN=TOKEN,
                   TMPDIR=self.bundle_tmp)
        env.pop("DT_API_TOKEN_FILE", None)
        env.pop("UB_SERVE_TOKEN_FILE", None)
        self.srv = ServeProcess(BIN, None, self.ledger, args or ("--bundle", self.live, "--pubkey", self.key + ".pub"),
                                env=env, token=TOKEN)
        return self.srv

    def gate(self):
        body = {"monspec": "demo.monspec.json", "compare": "CheckoutService/StagingToProduction",
                "policy": "policy.lua"}
        status, _, data = self.srv.request("POST", "/v1/gate", body)
        self.assertEqual(status, 200, data)
        return json.loads(data)

    def ready(self):
        status, _, data = self.srv.request("GET", "/readyz", token=None)
        self.assertEqual(status, 200, data)
        return json.loads(data)["specs"]

    def swap(self, path):
        """Replaces the live bundle file by rename, as a deployment would."""
        tmp = self.live + ".new"
        shutil.copy(path, tmp)
        os.replace(tmp, self.live)

    def reload(self, expect):
        """SIGHUP, then waits for the n-th reload log line containing expect."""
        before = self.srv.text().count("SIGHUP: bundle")
        self.srv.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.srv.text().count("SIGHUP: bundle") > before, WAIT_S, "the reload's log line")
        last = [ln for ln in self.srv.text().splitlines() if "SIGHUP: bundle" in ln][-1]
        self.assertIn(expect, last)
        return json.loads(last)

    def test_good_bundle_serves_and_readyz_names_it(self):
        self.start()
        v = self.gate()
        self.assertEqual((v["status"], v["verdict"]), ("success", "pass"), v)
        self.assertIn("bundle-A", v["summary"])
        specs = self.ready()
        self.assertEqual(specs["digest"], manifest_digest(self.a))
        with open(self.key + ".pub") as f:
            self.assertEqual(specs["key_id"], json.load(f)["key_id"])
        metrics = self.srv.request("GET", "/metrics", token=None)[2].decode()
        self.assertIn('unbreakable_bundle_info{digest="%s"' % manifest_digest(self.a), metrics)

    def test_tampered_bundles_are_refused_and_the_last_good_one_serves(self):
        self.start()
        self.assertIn("bundle-A", self.gate()["summary"])
        changed = os.path.join(self.tmp, "changed.tar.gz")
        rewrite(self.b, changed, lambda n, d: d.replace(b"bundle-B", b"bundle-C") if n == "mark.lua" else d)
        unsigned = os.path.join(self.tmp, "unsigned.tar.gz")
        rewrite(self.b, unsigned, lambda n, d: None if n == "manifest.sig" else d)
        nokeyid = os.path.join(self.tmp, "nokeyid.tar.gz")

        def drop_key_id(name, data):
            if name != "manifest.sig":
                return data
            doc = json.loads(data)
            doc.pop("key_id")
            return json.dumps(doc).encode()
        rewrite(self.b, nokeyid, drop_key_id)
        garbage = os.path.join(self.tmp, "garbage.tar.gz")
        with open(garbage, "wb") as f:
            f.write(b"not a bundle at all")
        cases = ((changed, "changed file: 'mark.lua'"), (unsigned, "unsigned bundle"),
                 (nokeyid, "no key id"), (self.b_other_key, "not with the trusted key"),
                 (garbage, "live.tar.gz"))
        for path, why in cases:
            with self.subTest(why=why):
                self.swap(path)
                line = self.reload("refused")
                self.assertIn(why, line["msg"])
                self.assertIn(manifest_digest(self.a), line["msg"])  # what still serves
                v = self.gate()
                self.assertEqual((v["status"], v["verdict"]), ("success", "pass"), v)
                self.assertIn("bundle-A", v["summary"])
                specs = self.ready()
                self.assertEqual(specs["digest"], manifest_digest(self.a))
                self.assertIn(why, specs["last_refusal"])
        os.remove(self.live)  # unreadable: gone
        self.assertIn("live.tar.gz", self.reload("refused")["msg"])
        self.assertIn("bundle-A", self.gate()["summary"])
        # then a new good bundle: its policy is in force
        self.swap(self.b)
        self.reload("reloaded")
        v = self.gate()
        self.assertEqual((v["status"], v["verdict"]), ("failure", "fail"), v)
        self.assertIn("bundle-B", v["summary"])
        self.assertEqual(self.ready()["digest"], manifest_digest(self.b))
        self.assertNotIn("last_refusal", self.ready())
        metrics = self.srv.request("GET", "/metrics", token=None)[2].decode()
        self.assertIn('unbreakable_bundle_reloads_total{result="refused"} 6', metrics)
        self.assertIn('unbreakable_bundle_reloads_total{result="loaded"} 1', metrics)

    def test_gate_in_flight_finishes_on_its_bundle(self):
        # the simulator holds the gate's first Dynatrace read long enough to swap and reload
        self.start("--bundle", self.live, "--pubkey", self.key + ".pub", "--gate-timeout", str(int(scaled(30))))
        self.dt.state.clear_requests()
        self.dt.state.add_faults([{"path": "/api/", "latencyMs": int(scaled(5) * 1000), "times": 1}])
        result = {}
        t = threading.Thread(target=lambda: result.update(v=self.gate()))
        t.start()
        wait_for(lambda: self.dt.state.requests_since(0), WAIT_S, "the gate's first Dynatrace read")
        self.swap(self.b)
        self.reload("reloaded")
        t.join(scaled(WAIT_S))
        v = result["v"]
        self.assertEqual((v["status"], v["verdict"]), ("success", "pass"), v)
        self.assertIn("bundle-A", v["summary"])  # its own bundle's module, read after the reload
        self.assertIn("bundle-B", self.gate()["summary"])
        # the replaced folder is removed once its gate ended; only the live one stays
        wait_for(lambda: len(os.listdir(self.bundle_tmp)) == 1, WAIT_S,
                 "the old bundle's folder to go (left: %s)" % os.listdir(self.bundle_tmp))

    def test_config_file_takes_the_bundle_settings(self):
        cfg = os.path.join(self.tmp, "serve.json")
        with open(cfg, "w") as f:
            json.dump({"bundle": self.live, "pubkey": self.key + ".pub"}, f)
        self.start("--config", cfg)
        self.assertIn("bundle-A", self.gate()["summary"])
        self.assertEqual(self.ready()["digest"], manifest_digest(self.a))

    def test_start_refuses_a_bad_bundle_and_bad_flags(self):
        rewrite(self.a, self.live, lambda n, d: None if n == "manifest.sig" else d)
        env = dict(os.environ, UB_SERVE_TOKEN=TOKEN)
        ledger = os.path.join(self.tmp, "refused.db")
        p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--ledger", ledger, "--bundle", self.live,
                            "--pubkey", self.key + ".pub"], capture_output=True, text=True, env=env,
                           timeout=scaled(60))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("unsigned bundle", p.stderr)
        for args, why in ((["--bundle", self.a], "--pubkey"), (["--pubkey", self.key + ".pub"], "--bundle"),
                          (["--bundle", self.a, "--pubkey", self.key + ".pub", "--specs", self.tmp], "replaces --specs")):
            p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--ledger", ledger] + args,
                               capture_output=True, text=True, env=env, timeout=scaled(60))
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(why, p.stderr)


if __name__ == "__main__":
    unittest.main()
