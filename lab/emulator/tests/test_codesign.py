"""The emulated `codesign`: real signatures, the §3.10 display shape and each failure the reference
describes (§2.1 errSecInternalComponent, §2.6 --keychain as a search-list filter, §2.8 ambiguity)."""

import os
import re
import subprocess

import pytest

from conftest import PMSET, make_identity, p12_bytes, sha1_of

DEV = "Apple Development: CI Build (LAB0TEAM01)"


def signing_keychain(lab, identity, apps=("/usr/bin/codesign", "/usr/bin/productsign"), partition=True,
                     name="ci-build.keychain", extra=()):
    """The collection's recipe: dedicated keychain, -T apps, partition list, on the search list."""
    db = lab.keychain(name=name, password="kc-pass")
    p12 = lab.root / ("%s.p12" % name)
    p12.write_bytes(p12_bytes(identity[0], identity[1], "p12-pass"))
    args = ["import", p12, "-k", db, "-P", "p12-pass"]
    for app in apps:
        args += ["-T", app]
    assert lab.security(*(args + list(extra))).returncode == 0
    if partition:
        assert lab.security("set-key-partition-list", "-S", "apple-tool:,apple:", "-s", "-k", "kc-pass",
                            db).returncode == 0
    return db


@pytest.fixture
def target(lab):
    path = lab.root / "Payload.ipa"
    path.write_bytes(b"not really an ipa\n" * 100)
    return path


def test_sign_and_display(lab, dev_identity, target, lab_ca):
    signing_keychain(lab, dev_identity)
    result = lab.codesign("-s", sha1_of(dev_identity[0]), "--timestamp=none", target)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert os.getxattr(target, "user.com.apple.cs.CodeSignature")
    result = lab.codesign("-dvvv", target)
    assert (result.returncode, result.stdout) == (0, "")
    lines = result.stderr.splitlines()
    names = [line.split("=", 1)[0].split(" ")[0] for line in lines]
    assert names == ["Executable", "Identifier", "Format", "CodeDirectory", "Hash", "CandidateCDHash",
                     "CandidateCDHashFull", "Hash", "CMSDigest", "CMSDigestType", "Page", "CDHash",
                     "Signature", "Authority", "Authority", "Authority", "Signed", "Info.plist", "TeamIdentifier",
                     "Sealed", "Internal"]
    assert lines[0] == "Executable=%s" % target
    assert lines[1] == "Identifier=Payload"
    assert lines[2] == "Format=generic"
    assert re.match(r"CodeDirectory v=20500 size=\d+ flags=0x0\(none\) hashes=1\+2 location=embedded$", lines[3])
    assert "Authority=%s" % DEV in lines
    # §3.10: leaf, intermediate, root.
    assert lines[13:16] == ["Authority=%s" % DEV, "Authority=MacMesh Lab Worldwide Developer Relations CA (FAKE)",
                            "Authority=MacMesh Lab Apple Root CA (FAKE)"]
    assert "TeamIdentifier=LAB0TEAM01" in lines
    assert re.match(r"Signed Time=[A-Z][a-z]{2} \d{1,2}, \d{4} at \d{1,2}:\d{2}:\d{2} [AP]M$", lines[16])
    assert lab.codesign("-v", target).returncode == 0


def test_display_verbosity_levels(lab, dev_identity, target):
    signing_keychain(lab, dev_identity)
    lab.codesign("-s", DEV, target)
    dvv = lab.codesign("-dvv", target).stderr
    assert "Authority=%s\n" % DEV in dvv and "CDHash=" not in dvv and "Signed Time=" in dvv
    assert lab.codesign("-d", "-vvv", target).stderr == lab.codesign("-dvvv", target).stderr
    assert "Authority=" not in lab.codesign("-dv", target).stderr


def test_sign_by_name_substring_with_secure_timestamp(lab, dev_identity, target):
    signing_keychain(lab, dev_identity)
    assert lab.codesign("-s", "Apple Development", "--timestamp", target).returncode == 0
    dvv = lab.codesign("-dvv", target).stderr
    assert "Timestamp=" in dvv and "Signed Time=" not in dvv


def test_unsigned_file(lab, target):
    result = lab.codesign("-dvvv", target)
    assert (result.returncode, result.stderr) == (1, "%s: code object is not signed at all\n" % target)


def test_modified_file_fails_verification(lab, dev_identity, target):
    signing_keychain(lab, dev_identity)
    lab.codesign("-s", DEV, target)
    with open(target, "ab") as handle:
        handle.write(b"tampered")
    result = lab.codesign("-v", target)
    assert (result.returncode, result.stderr) == (
        1, "%s: invalid signature (code or signature have been modified)\n" % target)


def test_tampered_signature_fails_display(lab, dev_identity, target):
    signing_keychain(lab, dev_identity)
    lab.codesign("-s", DEV, target)
    directory = os.getxattr(target, "user.com.apple.cs.CodeDirectory").replace(b"Payload", b"Evilbox")
    os.setxattr(target, "user.com.apple.cs.CodeDirectory", directory)
    assert "invalid signature" in lab.codesign("-dvvv", target).stderr


def test_already_signed_needs_force(lab, dev_identity, target):
    signing_keychain(lab, dev_identity)
    lab.codesign("-s", DEV, target)
    assert lab.codesign("-s", DEV, target).stderr == "%s: is already signed\n" % target
    result = lab.codesign("-f", "-s", DEV, target)
    assert (result.returncode, result.stderr) == (0, "%s: replacing existing signature\n" % target)


def test_sidecar_when_xattrs_unavailable(lab, dev_identity, target):
    signing_keychain(lab, dev_identity)
    lab.env["MACEMU_CODESIGN_XATTRS"] = "0"
    assert lab.codesign("-s", DEV, target).returncode == 0
    assert os.path.isfile(str(target) + ".macemu-sig")
    assert "TeamIdentifier=LAB0TEAM01" in lab.codesign("-dvv", target).stderr


@pytest.mark.parametrize("case", ["acl", "partition", "apple-tool-only"])
def test_err_sec_internal_component(lab, dev_identity, target, case):
    apps = ("/usr/bin/productsign",) if case == "acl" else ("/usr/bin/codesign",)
    db = signing_keychain(lab, dev_identity, apps=apps, partition=case not in ("partition", "apple-tool-only"))
    if case == "apple-tool-only":
        # man security (§2.2): codesign needs "apple:" in the partition list; "apple-tool:" is not enough.
        assert lab.security("set-key-partition-list", "-S", "apple-tool:", "-s", "-k", "kc-pass", db).returncode == 0
    result = lab.codesign("-s", DEV, "--keychain", db, target)
    assert (result.returncode, result.stderr) == (1, "%s: errSecInternalComponent\n" % target)


def test_any_application_acl(lab, dev_identity, target):
    signing_keychain(lab, dev_identity, apps=(), extra=["-A"])
    assert lab.codesign("-s", DEV, target).returncode == 0


def test_keychain_not_on_search_list(lab, dev_identity, target):
    db = signing_keychain(lab, dev_identity)
    lab.security("list-keychains", "-d", "user", "-s", lab.root / "other.keychain-db")
    result = lab.codesign("-s", DEV, "--keychain", db, target)
    assert (result.returncode, result.stderr) == (1, "error: The specified item could not be found in the keychain.\n")


def test_no_identity(lab, target):
    lab.keychain()
    result = lab.codesign("-s", "Apple Development", target)
    assert (result.returncode, result.stderr) == (1, "Apple Development: no identity found\n")


def test_ambiguous_name(lab, dev_identity, lab_ca, target):
    twin = make_identity(DEV, ca=lab_ca)
    first = signing_keychain(lab, dev_identity)
    p12 = lab.root / "twin.p12"
    p12.write_bytes(p12_bytes(twin[0], twin[1], "p12-pass"))
    lab.security("import", p12, "-k", first, "-P", "p12-pass", "-T", "/usr/bin/codesign")
    result = lab.codesign("-s", DEV, target)
    assert result.returncode == 1
    assert result.stderr == '%s: ambiguous (matches "%s" and "%s" in %s)\n' % (DEV, DEV, DEV, first)  # §2.8
    assert lab.codesign("-s", sha1_of(twin[0]), target).returncode != 0  # twin has no partition list
    assert lab.codesign("-s", sha1_of(dev_identity[0]), target).returncode == 0
