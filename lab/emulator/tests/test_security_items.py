"""Conformance of `security import`, `set-key-partition-list`, `find-identity`, `find-certificate`
and `delete-identity` with the reference (§2.4, §3.1, §3.2, §3.7)."""

import base64
import os
import pathlib
import sys

import pytest

from conftest import make_identity, p12_bytes, sha1_of

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "seed", "usr", "lib", "macemu"))

IMPORTED = "1 identity imported.\n"
DUPLICATE = "security: SecKeychainItemImport: The specified item already exists in the keychain.\n"
MAC_FAILED = "security: SecKeychainItemImport: MAC verification failed during PKCS12 import (wrong password?)\n"
UNDECODABLE = "security: SecKeychainItemImport: Unable to decode the provided data.\n"


def write_p12(lab, identity, kind="legacy", password="p12-pass", name=None):
    path = lab.root / (name or "%s.p12" % kind)
    path.write_bytes(p12_bytes(identity[0], identity[1], password, kind))
    return path


def test_import_p12_success_then_duplicate(lab, dev_identity):
    db = lab.keychain()
    p12 = write_p12(lab, dev_identity)
    args = ("import", p12, "-k", db, "-P", "p12-pass", "-T", "/usr/bin/codesign", "-T", "/usr/bin/productsign")
    result = lab.security(*args)
    assert (result.returncode, result.stdout, result.stderr) == (0, IMPORTED, "")
    result = lab.security(*args)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", DUPLICATE)


def test_import_wrong_passphrase(lab, dev_identity):
    db = lab.keychain()
    result = lab.security("import", write_p12(lab, dev_identity), "-k", db, "-P", "not-it", "-f", "pkcs12")
    assert (result.stdout, result.stderr) == ("", MAC_FAILED)
    assert result.returncode != 0


def test_import_into_locked_keychain(lab, dev_identity):
    db = lab.keychain()
    lab.security("lock-keychain", db)
    result = lab.security("import", write_p12(lab, dev_identity), "-k", db, "-P", "p12-pass")
    assert result.stderr == "security: SecKeychainItemImport: User interaction is not allowed.\n"
    assert result.returncode != 0


@pytest.mark.parametrize("version", ["14.6.1", "15.1"])
def test_openssl3_default_p12(lab, dev_identity, version):
    lab.configure(macos_version=version)
    db = lab.keychain()
    result = lab.security("import", write_p12(lab, dev_identity, "aes"), "-k", db, "-P", "p12-pass")
    if version.startswith("15"):
        assert (result.returncode != 0, result.stderr) == (True, MAC_FAILED)  # §2.4
    else:
        assert (result.returncode, result.stdout) == (0, IMPORTED)


def test_macos15_unencrypted_p12_needs_format_openssl(lab, dev_identity):
    """codemagic-ci-cd/cli-tools PR #428 (§2.4), both transcripts."""
    lab.configure(macos_version="15.0")
    db = lab.keychain()
    p12 = write_p12(lab, dev_identity, "none", password="")
    result = lab.security("import", p12, "-f", "pkcs12", "-k", db, "-P", "", "-T", "/usr/bin/codesign",
                          "-T", "/usr/bin/productsign")
    assert (result.returncode != 0, result.stdout, result.stderr) == (True, "", UNDECODABLE)
    result = lab.security("import", p12, "-f", "openssl", "-k", db, "-P", "", "-T", "/usr/bin/codesign")
    assert (result.returncode, result.stdout, result.stderr) == (0, "1 key imported.\n1 certificate imported.\n", "")


def test_macos14_accepts_unencrypted_p12(lab, dev_identity):
    db = lab.keychain()
    p12 = write_p12(lab, dev_identity, "none", password="")
    assert lab.security("import", p12, "-k", db, "-P", "").stdout == IMPORTED


def test_private_key_is_encrypted_at_rest(lab, dev_identity):
    from cryptography.hazmat.primitives import serialization
    db = lab.keychain()
    lab.security("import", write_p12(lab, dev_identity), "-k", db, "-P", "p12-pass")
    raw = pathlib.Path(db).read_text()
    pkcs8 = dev_identity[1].private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
    assert base64.b64encode(pkcs8).decode() not in raw
    assert base64.b64encode(pkcs8[40:80]).decode()[:20] not in raw


def test_set_key_partition_list_wrong_password(lab, dev_identity):
    db = lab.keychain(password="kc-pass")
    lab.security("import", write_p12(lab, dev_identity), "-k", db, "-P", "p12-pass")
    result = lab.security("set-key-partition-list", "-S", "apple-tool:,apple:", "-s", "-k", "p12-pass", db)
    assert result.returncode != 0
    assert result.stderr == "security: SecKeychainUnlock: The user name or passphrase you entered is not correct.\n"


def test_set_key_partition_list_without_s(lab, dev_identity):
    db = lab.keychain(password="kc-pass")
    result = lab.security("set-key-partition-list", "-S", "apple:", "-k", "kc-pass", db)
    assert result.stderr == "security: SecKeychainItemCopyAccess: A missing value was detected.\n"  # §2.2


def test_set_key_partition_list_dumps_each_key(lab, dev_identity, lab_ca):
    db = lab.keychain(password="kc-pass")
    lab.security("import", write_p12(lab, dev_identity), "-k", db, "-P", "p12-pass")
    second = make_identity("Apple Distribution: CI Build (LAB0TEAM01)", ca=lab_ca)
    lab.security("import", write_p12(lab, second, name="dist.p12"), "-k", db, "-P", "p12-pass")
    lab.security("lock-keychain", db)
    result = lab.security("set-key-partition-list", "-S", "apple-tool:,apple:", "-s", "-k", "kc-pass", db)
    assert (result.returncode, result.stderr) == (0, "")
    blocks = result.stdout.split('keychain: "')[1:]
    assert len(blocks) == 2
    for block in blocks:
        lines = block.splitlines()
        # the shape of the fx-studio transcript (§3.7)
        assert lines[0] == '%s"' % db
        assert lines[1:4] == ["version: 512", "class: 0x00000010 ", "attributes:"]
        assert lines[4] == "    0x00000000 <uint32>=0x00000010 "
        assert lines[6] == "    0x00000002 <blob>=<NULL>"
        assert lines[-1] == "    0x0000001A <uint32>=0x00000001 "
        assert len(lines) == 4 + 27
    # -k unlocks as a side effect: SecKeychainUnlock is what validates it
    assert lab.security("show-keychain-info", db).returncode == 0


def test_blob_format_matches_reference_sample():
    import security_cli
    value = bytes.fromhex("573F5F26AAF3F17159F89AA601022169D9C4D28C")
    line = "    0x00000006 <blob>=" + security_cli.format_blob(value)
    assert line == ('    0x00000006 <blob>=0x573F5F26AAF3F17159F89AA601022169D9C4D28C  '
                    '"W?_&\\252\\363\\361qY\\370\\232\\246\\001\\002!i\\331\\304\\322\\214"')
    assert security_cli.format_blob(b"iOS Distribution: Tien Le") == '"iOS Distribution: Tien Le"'


def test_find_identity_formats(lab, dev_identity, lab_ca):
    db = lab.keychain()
    lab.security("import", write_p12(lab, dev_identity), "-k", db, "-P", "p12-pass")
    second = make_identity("iPhone Distribution: CI Build (LAB0TEAM01)", ca=lab_ca)
    lab.security("import", write_p12(lab, second, name="dist.p12"), "-k", db, "-P", "p12-pass")
    one = '  1) %s "Apple Development: CI Build (LAB0TEAM01)"\n' % sha1_of(dev_identity[0])
    two = '  2) %s "iPhone Distribution: CI Build (LAB0TEAM01)"\n' % sha1_of(second[0])
    result = lab.security("find-identity", "-v", "-p", "codesigning")  # search list, §3.1
    assert (result.returncode, result.stdout) == (0, one + two + "     2 valid identities found\n")
    result = lab.security("find-identity", "-p", "codesigning", db)  # §3.2
    assert result.stdout == ("Policy: Code Signing\n  Matching identities\n" + one + two
                             + "     2 identities found\n  Valid identities only\n" + one + two
                             + "     2 valid identities found\n")


def test_find_identity_blank_line_variant(lab, dev_identity):
    lab.configure(find_identity_blank_line=True)
    lab.keychain()
    assert lab.security("find-identity", "-p", "codesigning").stdout == (
        "Policy: Code Signing\n  Matching identities\n     0 identities found\n\n"
        "  Valid identities only\n     0 valid identities found\n")  # §3.2, the other real transcript


def test_find_identity_zero_and_locked(lab, dev_identity):
    result = lab.security("find-identity", "-v", "-p", "codesigning")
    assert result.stdout == "     0 valid identities found\n"  # fastlane's stub, §3.1
    db = lab.keychain()
    lab.security("import", write_p12(lab, dev_identity), "-k", db, "-P", "p12-pass")
    lab.security("lock-keychain", db)
    assert "     1 valid identities found\n" in lab.security("find-identity", "-v", db).stdout


def test_find_identity_expired_is_matching_but_not_valid(lab, lab_ca):
    db = lab.keychain()
    expired = make_identity("Apple Development: Old (LAB0TEAM01)", ca=lab_ca, expired=True)
    lab.security("import", write_p12(lab, expired), "-k", db, "-P", "p12-pass")
    result = lab.security("find-identity", "-p", "codesigning", db)
    assert result.stdout == (
        "Policy: Code Signing\n  Matching identities\n"
        '  1) %s "Apple Development: Old (LAB0TEAM01)" (CSSMERR_TP_CERT_EXPIRED)\n'
        "     1 identities found\n  Valid identities only\n     0 valid identities found\n" % sha1_of(expired[0]))


def test_find_certificate(lab, dev_identity):
    db = lab.keychain()
    result = lab.security("find-certificate", "-a", "-c", "Apple Development", db)
    assert result.stderr == ("security: SecKeychainSearchCopyNext: "
                             "The specified item could not be found in the keychain.\n")
    lab.security("import", write_p12(lab, dev_identity), "-k", db, "-P", "p12-pass")
    result = lab.security("find-certificate", "-a", "-c", "Apple Development", "-Z", "-p", db)
    assert result.returncode == 0
    assert "SHA-1 hash: %s\n-----BEGIN CERTIFICATE-----\n" % sha1_of(dev_identity[0]) in result.stdout
    result = lab.security("find-certificate", "-a", db)
    assert result.stdout.startswith('keychain: "%s"\nversion: 256\nclass: 0x80001000 \nattributes:\n' % db)
    assert '    "labl"<blob>="Apple Development: CI Build (LAB0TEAM01)"\n' in result.stdout


def test_delete_identity(lab, dev_identity):
    db = lab.keychain()
    lab.security("import", write_p12(lab, dev_identity), "-k", db, "-P", "p12-pass")
    sha1 = sha1_of(dev_identity[0])
    assert lab.security("delete-identity", "-Z", sha1, db).returncode == 0
    assert lab.security("find-identity", "-v", db).stdout == "     0 valid identities found\n"
    result = lab.security("delete-identity", "-Z", sha1, db)
    assert (result.returncode, result.stderr) == (1, 'Unable to delete certificate matching "%s"\n' % sha1)  # assumed
