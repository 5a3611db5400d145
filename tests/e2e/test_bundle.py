"""Signed policy bundles end to end: keygen, build, sign, verify, and every
rejection (issue 16): an unsigned manifest, a missing key id (OPA once
accepted an unsigned bundle when the key id was missing), another key, a
forged key id, an extra file, a missing file, a changed byte, a changed
manifest or signing time, path traversal, an absolute path, duplicate
entries, a link entry, an archive that is not gzip. Each tampered bundle is
refused by `bundle verify` (exit 1) and by `gate --bundle` and
`test --bundle` (exit 2) before any policy or spec runs."""
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import unittest

BIN = os.path.abspath(os.environ.get("UB_BIN", "build/unbreakable"))

POLICY = """local helper = require("helper")
return function(ctx)
  print("policy ran")
  return {verdict = helper.verdict(), summary = "from the bundle",
          objectives = {{name = "bundled", status = "pass", outcome = "pass", critical = true}}}
end
"""
HELPER = """return {verdict = function() return "pass" end}
"""
SPEC = """describe("bundled policy", function()
  it("passes", function()
    assert.equals("pass", gate({}, "policy.lua").verdict)
  end)
end)
"""


def read_members(path):
    with tarfile.open(path, "r:gz") as t:
        return [(m, t.extractfile(m).read() if m.isfile() else b"") for m in t.getmembers()]


def write_members(path, members, compress="gz"):
    with tarfile.open(path, "w:" + compress if compress else "w") as t:
        for m, data in members:
            m.size = len(data)
            t.addfile(m, io.BytesIO(data) if m.isfile() else None)


def file_member(name, data):
    m = tarfile.TarInfo(name)
    m.size = len(data)
    m.mode = 0o644
    return m, data


class Bundles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.src = os.path.join(cls.tmp, "src")
        os.mkdir(cls.src)
        for name, text in (("policy.lua", POLICY), ("helper.lua", HELPER), ("policy_spec.lua", SPEC)):
            with open(os.path.join(cls.src, name), "w") as f:
                f.write(text)
        cls.key = os.path.join(cls.tmp, "signer")
        cls.other = os.path.join(cls.tmp, "other")
        for k in (cls.key, cls.other):
            p = cls.run_ub("bundle", "keygen", "--out", k)
            assert p.returncode == 0, p.stderr
        cls.good = os.path.join(cls.tmp, "good.tar.gz")
        assert cls.run_ub("bundle", "build", cls.src, "-o", cls.good).returncode == 0
        p = cls.run_ub("bundle", "sign", cls.good, "--key", cls.key)
        assert p.returncode == 0, p.stderr
        cls.monspec = os.path.join(cls.tmp, "m.monspec.json")
        with open(cls.monspec, "w") as f:
            json.dump({"svc": {"etype": "SERVICE", "name": "svc", "environments": {}}}, f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @staticmethod
    def run_ub(*args, cwd=None):
        env = dict(os.environ, DT_TENANT_URL="http://127.0.0.1:9", DT_API_TOKEN="dt0c01.NOT.USED",
                   NO_COLOR="1")
        return subprocess.run([BIN] + list(args), capture_output=True, text=True, env=env, cwd=cwd,
                              timeout=300)

    def gate(self, bundle, pubkey=None):
        return self.run_ub("gate", "--monspec", self.monspec, "--compare", "svc/c", "--no-ledger",
                           "--bundle", bundle, "--pubkey", pubkey or self.key + ".pub")

    def tampered(self, name, change, compress="gz"):
        members = read_members(self.good)
        members = change(members) or members
        path = os.path.join(self.tmp, name + ".tar.gz")
        write_members(path, members, compress)
        return path

    def assert_refused(self, path, want, pubkey=None):
        v = self.run_ub("bundle", "verify", path, "--pubkey", pubkey or self.key + ".pub")
        self.assertEqual(v.returncode, 1, v.stdout + v.stderr)
        self.assertIn(want, v.stderr)
        g = self.gate(path, pubkey)
        self.assertEqual(g.returncode, 2, g.stdout + g.stderr)
        self.assertIn(want, g.stderr)
        self.assertNotIn("policy ran", g.stderr)
        t = self.run_ub("test", "--bundle", path, "--pubkey", pubkey or self.key + ".pub", cwd=self.tmp)
        self.assertEqual(t.returncode, 2, t.stdout + t.stderr)
        self.assertIn(want, t.stderr)
        self.assertNotIn("passed", t.stdout)

    # ---- the good path ----

    def test_keygen_files(self):
        self.assertEqual(stat.S_IMODE(os.stat(self.key).st_mode), 0o600)
        with open(self.key + ".pub") as f:
            pub = json.load(f)
        self.assertEqual(pub["algorithm"], "ed25519")
        self.assertEqual(len(pub["key_id"]), 16)
        again = self.run_ub("bundle", "keygen", "--out", self.key)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("never overwritten", again.stderr)

    def test_secret_key_readable_by_others_is_refused(self):
        loose = os.path.join(self.tmp, "loose")
        shutil.copy(self.key, loose)
        os.chmod(loose, 0o644)
        copy = os.path.join(self.tmp, "copy.tar.gz")
        shutil.copy(self.good, copy)
        p = self.run_ub("bundle", "sign", copy, "--key", loose)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("chmod 600", p.stderr)

    def test_verify_good(self):
        p = self.run_ub("bundle", "verify", self.good, "--pubkey", self.key + ".pub")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("verified: 3 files", p.stdout)
        names = [m.name for m, _ in read_members(self.good)]
        self.assertEqual(sorted(names), ["helper.lua", "manifest.json", "manifest.sig",
                                         "policy.lua", "policy_spec.lua"])
        sig = json.loads(dict((m.name, d) for m, d in read_members(self.good))["manifest.sig"])
        self.assertEqual(sorted(sig), ["algorithm", "key_id", "signature", "signed_at"])

    def test_gate_and_test_from_the_bundle(self):
        g = self.gate(self.good)
        self.assertEqual(g.returncode, 0, g.stderr)
        self.assertIn("policy ran", g.stderr)
        self.assertIn("from bundle", g.stderr)
        t = self.run_ub("test", "--bundle", self.good, "--pubkey", self.key + ".pub", cwd=self.tmp)
        self.assertEqual(t.returncode, 0, t.stdout + t.stderr)
        self.assertIn("1 passed, 0 failed", t.stdout)
        self.assertFalse([d for d in os.listdir(tempfile.gettempdir()) if d.startswith("unbreakable-bundle-")
                          and os.stat(os.path.join(tempfile.gettempdir(), d)).st_mtime > os.stat(self.good).st_mtime],
                         "the extracted folder is removed")

    def test_build_refuses_links_and_special_files(self):
        d = os.path.join(self.tmp, "withlink")
        os.mkdir(d)
        with open(os.path.join(d, "policy.lua"), "w") as f:
            f.write(POLICY)
        os.symlink("/etc/passwd", os.path.join(d, "passwd.lua"))
        p = self.run_ub("bundle", "build", d, "-o", os.path.join(self.tmp, "x.tar.gz"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("symbolic link", p.stderr)
        os.remove(os.path.join(d, "passwd.lua"))
        os.mkfifo(os.path.join(d, "pipe"))
        p = self.run_ub("bundle", "build", d, "-o", os.path.join(self.tmp, "x.tar.gz"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("special file", p.stderr)

    # ---- every rejection ----

    def test_unsigned_manifest(self):
        unsigned = os.path.join(self.tmp, "unsigned.tar.gz")
        self.assertEqual(self.run_ub("bundle", "build", self.src, "-o", unsigned).returncode, 0)
        self.assert_refused(unsigned, "unsigned bundle")
        stripped = self.tampered("nosig", lambda ms: [x for x in ms if x[0].name != "manifest.sig"])
        self.assert_refused(stripped, "unsigned bundle")

    def edit_sig(self, name, edit):
        def change(ms):
            out = []
            for m, d in ms:
                if m.name == "manifest.sig":
                    doc = json.loads(d)
                    edit(doc)
                    d = json.dumps(doc).encode()
                out.append((m, d))
            return out
        return self.tampered(name, change)

    def test_missing_key_id(self):
        # the OPA bug: no key id must never mean "no verification"
        self.assert_refused(self.edit_sig("nokeyid", lambda d: d.pop("key_id")), "no key id")
        self.assert_refused(self.edit_sig("nokeyid_nosig", lambda d: (d.pop("key_id"), d.pop("signature"))),
                            "no key id")
        self.assert_refused(self.edit_sig("emptykeyid", lambda d: d.update(key_id="")), "signature document")

    def test_wrong_key(self):
        self.assert_refused(self.good, "not with the trusted key", pubkey=self.other + ".pub")

    def test_forged_key_id(self):
        with open(self.other + ".pub") as f:
            other_id = json.load(f)["key_id"]
        forged = self.edit_sig("forged", lambda d: d.update(key_id=other_id))
        self.assert_refused(forged, "bad signature", pubkey=self.other + ".pub")

    def test_changed_signing_time(self):
        self.assert_refused(self.edit_sig("time", lambda d: d.update(signed_at="2000-01-01T00:00:00Z")),
                            "bad signature")

    def test_changed_manifest(self):
        def change(ms):
            return [(m, d.replace(b'"size":', b'"size":1') if m.name == "manifest.json" else d) for m, d in ms]
        self.assert_refused(self.tampered("manifest", change), "bad signature")

    def test_extra_file(self):
        self.assert_refused(self.tampered("extra", lambda ms: ms + [file_member("evil.lua", b"return 1")]),
                            "extra file: 'evil.lua'")

    def test_missing_file(self):
        self.assert_refused(self.tampered("missing", lambda ms: [x for x in ms if x[0].name != "helper.lua"]),
                            "missing file: 'helper.lua'")

    def test_changed_byte(self):
        def change(ms):
            out = []
            for m, d in ms:
                if m.name == "helper.lua":
                    d = d.replace(b'"pass"', b'"paSs"')
                out.append((m, d))
            return out
        self.assert_refused(self.tampered("byte", change), "changed file: 'helper.lua'")

    def test_path_traversal_and_absolute_paths(self):
        for name in ("../evil.lua", "a/../../evil.lua", "/etc/evil.lua", "./policy.lua", "a//b.lua"):
            with self.subTest(name=name):
                path = self.tampered("trav", lambda ms: ms + [file_member(name, b"return 1")])
                self.assert_refused(path, "unsafe path")

    def test_duplicate_entries(self):
        dup = self.tampered("dup", lambda ms: ms + [file_member("policy.lua", b"return function() end")])
        self.assert_refused(dup, "appears twice")
        dupsig = self.tampered("dupsig", lambda ms: ms + [x for x in ms if x[0].name == "manifest.sig"])
        self.assert_refused(dupsig, "appears twice")

    def test_link_entries(self):
        def add_link(kind):
            def change(ms):
                m = tarfile.TarInfo("link.lua")
                m.type = kind
                m.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else "policy.lua"
                return ms + [(m, b"")]
            return change
        self.assert_refused(self.tampered("sym", add_link(tarfile.SYMTYPE)), "symbolic link")
        self.assert_refused(self.tampered("hard", add_link(tarfile.LNKTYPE)), "hard link")

    def test_not_gzip(self):
        self.assert_refused(self.tampered("plain", lambda ms: None, compress=""), "not gzip")


if __name__ == "__main__":
    unittest.main()
