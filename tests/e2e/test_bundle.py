"""Signed policy bundles end to end: keygen, build, sign, verify, and every
rejection (issue 16): an unsigned manifest, a missing key id (OPA once
accepted an unsigned bundle when the key id was missing), another key, a
forged key id, an extra file, a missing file, a changed byte, a changed
manifest or signing time, path traversal, an absolute path, duplicate
entries, a link entry, an archive that is not gzip, and what a hostile
repository can put in a tar.gz: devices, FIFOs, folders, names with controls,
newlines, NUL or CI commands (never echoed raw), pax sizes, huge pax headers,
gzip bombs, sparse entries, another bundle's genuine manifest and signature,
a signature field out of shape, a public key file that is not a key. Each tampered bundle is
refused by `bundle verify` (exit 1) and by `gate --bundle` and
`test --bundle` (exit 2) before any policy or spec runs."""
import io
import json
import os
import re
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

# What a refusal's message must never carry from a hostile archive.
HOSTILE_TEXT = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]|##vso\[")


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
        for p in (v, g, t):  # names come from the archive: never a control or a CI command
            self.assertFalse(HOSTILE_TEXT.search(p.stderr), repr(p.stderr))
            self.assertEqual(len([line for line in p.stderr.splitlines() if want in line]), 1, p.stderr)

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

    def test_test_bundle_runs_only_the_bundles_specs(self):
        # a PATH outside the verified folder would run specs nobody signed
        outside = os.path.join(self.tmp, "unsigned-specs")
        os.makedirs(outside, exist_ok=True)
        with open(os.path.join(outside, "evil_spec.lua"), "w") as f:
            f.write('it("unsigned", function() print("unsigned spec ran") end)\n')
        for path in (outside, "../" * 8 + outside.lstrip("/"), "a/../../x"):
            with self.subTest(path=path):
                t = self.run_ub("test", "--bundle", self.good, "--pubkey", self.key + ".pub", path, cwd=self.tmp)
                self.assertEqual(t.returncode, 2, t.stdout + t.stderr)
                self.assertIn("inside the bundle", t.stderr)
                self.assertNotIn("unsigned spec ran", t.stdout + t.stderr)
        t = self.run_ub("test", "--bundle", self.good, "--pubkey", self.key + ".pub", "policy_spec.lua",
                        cwd=self.tmp)
        self.assertEqual(t.returncode, 0, t.stdout + t.stderr)

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

    def test_build_keeps_keys_and_bundles_out(self):
        # the tutorial's first draft ran keygen and build inside the folder: the secret key
        # went into the bundle every gate receives
        d = os.path.join(self.tmp, "keys-inside")
        os.makedirs(os.path.join(d, "keys"), exist_ok=True)
        shutil.copy(os.path.join(self.src, "policy.lua"), d)
        shutil.copy(self.key, os.path.join(d, "keys", "reviewer"))
        out = os.path.join(self.tmp, "keys-inside.tar.gz")
        p = self.run_ub("bundle", "build", d, "-o", out)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("keys/reviewer: a secret signing key", p.stderr)
        self.assertFalse(os.path.exists(out))
        os.remove(os.path.join(d, "keys", "reviewer"))
        shutil.copy(self.key + ".pub", os.path.join(d, "keys"))  # a public key may travel
        for inner in ("b.tar.gz", "./keys/b.tar.gz"):
            with self.subTest(output=inner):
                p = self.run_ub("bundle", "build", ".", "-o", inner, cwd=d)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn("inside", p.stderr)
                self.assertIn("-o ../", p.stderr)
        p = self.run_ub("bundle", "build", ".", "-o", "../keys-inside.tar.gz", cwd=d)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_keys_swapped(self):
        p = self.run_ub("bundle", "verify", self.good, "--pubkey", self.key)
        self.assertEqual(p.returncode, 1)
        self.assertIn("a secret key, where the public key is needed", p.stderr)
        copy = os.path.join(self.tmp, "swap.tar.gz")
        shutil.copy(self.good, copy)
        p = self.run_ub("bundle", "sign", copy, "--key", self.key + ".pub")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("a public key, where the secret key is needed", p.stderr)

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

    # ---- what a hostile repository can put in the archive ----

    def added(self, name, member):
        return self.tampered(name, lambda ms: ms + [member])

    def test_device_fifo_and_folder_entries(self):
        for kind, want in ((tarfile.CHRTYPE, "special file"), (tarfile.BLKTYPE, "special file"),
                           (tarfile.FIFOTYPE, "special file"), (tarfile.DIRTYPE, "a folder")):
            with self.subTest(kind=kind):
                m = tarfile.TarInfo("dev.lua")
                m.type, m.devmajor, m.devminor = kind, 1, 3
                self.assert_refused(self.added("dev", (m, b"")), want)

    def test_unprintable_names_are_refused_and_never_echoed(self):
        for name in ("a\nb.lua", "\x1b[31mred\x07.lua", "x##vso[task.complete result=Succeeded;].lua",
                     "sp ace.lua", "back\\slash.lua"):
            with self.subTest(name=name):
                self.assert_refused(self.added("name", file_member(name, b"return 1")), "unsafe path")
        self.assert_refused(self.added("latin1", file_member("caf\xe9.lua", b"return 1")),
                            "not a valid tar.gz bundle")
        # a folder entry named to forge a CI command: refused as a folder, its name made safe
        m = tarfile.TarInfo("\x1b]0;title\x07##vso[task.setvariable variable=x]y")
        m.type = tarfile.DIRTYPE
        self.assert_refused(self.added("dirname", (m, b"")), "is a folder")

    def test_nul_in_a_pax_path(self):
        # the name ends at the NUL: it becomes a second policy.lua
        m, data = file_member("policy.lua", b"return 1")
        m.pax_headers = {"path": "policy.lua\x00evil"}
        self.assert_refused(self.added("nul", (m, data)), "appears twice")

    def test_sizes_from_headers_are_capped(self):
        m, data = file_member("big.lua", b"x")
        m.pax_headers = {"size": "99999999999999"}
        self.assert_refused(self.added("paxsize", (m, data)), "too large")
        m, data = file_member("neg.lua", b"x")
        m.pax_headers = {"size": "-1"}
        self.assert_refused(self.added("paxneg", (m, data)), "not a valid tar.gz bundle")
        m, data = file_member("hdr.lua", b"x")
        m.pax_headers = {"comment": "A" * (4 << 20)}
        self.assert_refused(self.added("paxhdr", (m, data)), "not a valid tar.gz bundle")

    def test_gzip_bomb(self):
        # 1 GiB of zeros compressed to 1 MiB: refused from its header, never inflated
        class Zeros(io.RawIOBase):
            def __init__(self, n):
                self.n = n

            def readinto(self, b):
                k = min(len(b), self.n)
                b[:k] = bytes(k)
                self.n -= k
                return k
        path = os.path.join(self.tmp, "bomb.tar.gz")
        with tarfile.open(path, "w:gz") as t:
            for m, d in read_members(self.good):
                t.addfile(m, io.BytesIO(d))
            for i in range(5):  # each under the file cap, together over the total cap
                m = tarfile.TarInfo("zeros%d.lua" % i)
                m.size = 15 << 20
                t.addfile(m, Zeros(m.size))
            m = tarfile.TarInfo("huge.lua")
            m.size = 1 << 30
            t.addfile(m, Zeros(m.size))
        self.assert_refused(path, "too large")

    def sparse_member(self, name, realsize, regions, data):
        """A GNU sparse 1.0 entry (pax headers and an in-data map)."""
        head = ("%d\n" % len(regions) + "".join("%d\n%d\n" % r for r in regions)).encode()
        head += bytes(-len(head) % 512)
        m = tarfile.TarInfo("GNUSparseFile.0/" + name)
        m.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
                         "GNU.sparse.realsize": str(realsize)}
        m.size = len(head + data)
        return m, head + data

    def test_sparse_entries(self):
        # a terabyte of holes is refused by its size; a small sparse policy.lua does not match
        big = self.sparse_member("evil.lua", 1 << 40, [(0, 1), ((1 << 40) - 1, 1)], b"ab")
        self.assert_refused(self.added("sparsebig", big), "too large")
        small = self.sparse_member("policy.lua", 4096, [(0, 5)], b"hello")
        path = self.tampered("sparse", lambda ms: [x for x in ms if x[0].name != "policy.lua"] + [small])
        v = self.run_ub("bundle", "verify", path, "--pubkey", self.key + ".pub")
        self.assertEqual(v.returncode, 1, v.stderr)
        self.assertNotIn("policy ran", self.gate(path).stderr)

    def test_manifest_and_signature_of_another_bundle(self):
        # a genuine signature by the trusted key, over a different manifest
        d = os.path.join(self.tmp, "other-src")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "policy.lua"), "w") as f:
            f.write("return function() return {verdict = 'pass'} end\n")
        other = os.path.join(self.tmp, "other.tar.gz")
        self.assertEqual(self.run_ub("bundle", "build", d, "-o", other).returncode, 0)
        self.assertEqual(self.run_ub("bundle", "sign", other, "--key", self.key).returncode, 0)
        theirs = dict((m.name, (m, data)) for m, data in read_members(other))
        swapped = self.tampered("swapped", lambda ms: [theirs.get(m.name, (m, data)) for m, data in ms])
        self.assert_refused(swapped, "extra file: 'helper.lua'")

    def test_signing_time_must_be_a_time(self):
        # the signed message separates its fields by newlines: none may hide in the time
        path = self.edit_sig("nltime", lambda d: d.update(signed_at=d["signed_at"] + "\n{"))
        self.assert_refused(path, "field 'signed_at'")
        # text after a NUL in the key id would be signed over as nothing
        path = self.edit_sig("nulkeyid", lambda d: d.update(key_id=d["key_id"] + "\x00x"))
        self.assert_refused(path, "field 'key_id'")

    def test_public_key_that_is_not_a_key(self):
        with open(self.key + ".pub") as f:
            pub = json.load(f)
        with open(self.key, "rb") as f:
            secret = f.read()
        with open(self.good, "rb") as f:
            bundle = f.read()
        cases = {"empty": b"", "json": b"{}", "the secret key": secret, "the bundle": bundle,
                 "bad base64": json.dumps(dict(pub, public_key="AAAA")).encode(),
                 "wrong type": json.dumps(dict(pub, type="x")).encode()}
        for what, data in cases.items():
            with self.subTest(what=what):
                path = os.path.join(self.tmp, "notakey.pub")
                with open(path, "wb") as f:
                    f.write(data)
                self.assert_refused(self.good, "notakey.pub", pubkey=path)
        fifo = os.path.join(self.tmp, "fifo.tar.gz")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        for path, want in ((self.tmp, "directory"), ("/dev/zero", "device"), (fifo, "FIFO")):
            with self.subTest(bundle=path):  # never read: a FIFO would block for ever
                self.assert_refused(path, want)
        for path, want in ((self.tmp, "directory"), ("/dev/zero", "device"),
                           (os.path.join(self.tmp, "absent.pub"), "No such file")):
            with self.subTest(path=path):
                self.assert_refused(self.good, want, pubkey=path)


if __name__ == "__main__":
    unittest.main()
