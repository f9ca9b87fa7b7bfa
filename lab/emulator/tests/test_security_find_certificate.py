"""Conformance of `security find-certificate -a -Z -p` with real macOS, which signing_info parses.

macOS (10.13 and later) prints, per certificate, a `SHA-256 hash:` line and a `SHA-1 hash:` line, both
upper-case hexadecimal of the DER bytes, then the PEM block (64 base64 characters a line) and nothing
else: no `keychain:`/attribute dump once `-p` is given. Without `-a`, only the first match.
"""

import base64
import hashlib
import re

from cryptography.hazmat.primitives import serialization

from conftest import make_identity, p12_bytes

ENTRY_RE = re.compile(
    r"SHA-256 hash: ([0-9A-F]{64})\n"
    r"SHA-1 hash: ([0-9A-F]{40})\n"
    r"-----BEGIN CERTIFICATE-----\n((?:[A-Za-z0-9+/=]{1,64}\n)+)-----END CERTIFICATE-----\n"
)


def entries(text):
    """Split the whole output into entries; fails when any byte is not part of an entry."""
    found, pos = [], 0
    while pos < len(text):
        match = ENTRY_RE.match(text, pos)
        assert match, "unexpected text at %d: %r" % (pos, text[pos:pos + 80])
        der = base64.b64decode(match.group(3).replace("\n", ""))
        found.append((match.group(1), match.group(2), der))
        pos = match.end()
    return found


def test_find_certificate_all_hashes_pem(lab, lab_ca):
    ca_cert, _ca_key = lab_ca
    cert, key = make_identity("Apple Distribution: CI Build (LAB0TEAM01)", ca=lab_ca)
    db = lab.keychain()
    p12 = lab.root / "dist.p12"
    # A p12 with its chain, as exported from Keychain Access: the CA lands in the keychain too.
    p12.write_bytes(p12_bytes(cert, key, "p12-pass", extra=[ca_cert]))
    assert lab.security("import", p12, "-k", db, "-P", "p12-pass").returncode == 0

    result = lab.security("find-certificate", "-a", "-Z", "-p", db)

    assert (result.returncode, result.stderr) == (0, "")
    found = entries(result.stdout)
    wanted = {cert.public_bytes(serialization.Encoding.DER), ca_cert.public_bytes(serialization.Encoding.DER)}
    assert set(der for _sha256, _sha1, der in found) == wanted
    assert len(found) == 2
    for sha256, sha1, der in found:
        assert sha256 == hashlib.sha256(der).hexdigest().upper()
        assert sha1 == hashlib.sha1(der).hexdigest().upper()

    # Without -a: the first match only.
    assert len(entries(lab.security("find-certificate", "-Z", "-p", db).stdout)) == 1


def test_find_certificate_empty_keychain(lab):
    db = lab.keychain()
    result = lab.security("find-certificate", "-a", "-Z", "-p", db)
    assert result.returncode != 0
    assert (result.stdout, result.stderr) == (
        "", "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.\n")
