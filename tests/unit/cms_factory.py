# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Test equipment: real CMS SignedData provisioning profiles, certificates and PKCS#12 files.

Everything is generated with ``cryptography`` so the tests do not depend on files from
elsewhere: a self-signed CMS signer, self-signed "developer certificates", profiles with
an arbitrary plist (DER as cryptography writes it, or re-encoded in BER with indefinite
lengths and chunked OCTET STRINGs as Apple tools write it), and p12 files.
"""

import datetime
import functools
import plistlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

UTC = datetime.timezone.utc
TEAM_ID = "AB12CD34EF"
UUID = "0f4a7d5e-61c2-4f3b-9a8e-2b7c9d1e0a34"
# Marks a key that profile_plist() must leave out.
DELETE = object()


def make_key():
    return ec.generate_private_key(ec.SECP256R1())


def make_certificate(common_name="iPhone Distribution: Example Corp (%s)" % TEAM_ID, key=None,
                     not_after=datetime.datetime(2099, 1, 1, tzinfo=UTC), extra_attributes=()):
    """Self-signed certificate; returns ``(key, certificate)``. ``common_name=None`` leaves CN out."""
    key = key or make_key()
    attributes = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEAM_ID)]
    attributes.extend(extra_attributes)
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    name = x509.Name(attributes)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def der(certificate):
    return certificate.public_bytes(serialization.Encoding.DER)


def sha1(certificate):
    return certificate.fingerprint(hashes.SHA1()).hex().upper()


@functools.lru_cache(maxsize=None)
def _signer():
    return make_certificate("Test CMS Signer")


@functools.lru_cache(maxsize=None)
def default_developer_certificate():
    return make_certificate()


def profile_plist(**overrides):
    """A provisioning-profile plist shaped like Apple's; ``overrides`` replace keys (DELETE drops one)."""
    plist = {
        "AppIDName": "Example App",
        "ApplicationIdentifierPrefix": [TEAM_ID],
        "CreationDate": datetime.datetime(2025, 1, 2, 3, 4, 5),
        "DeveloperCertificates": [der(default_developer_certificate()[1])],
        "Entitlements": {
            "application-identifier": TEAM_ID + ".com.example.app",
            "com.apple.developer.team-identifier": TEAM_ID,
            "get-task-allow": False,
            "keychain-access-groups": [TEAM_ID + ".*"],
        },
        "ExpirationDate": datetime.datetime(2099, 1, 2, 3, 4, 5),
        "IsXcodeManaged": False,
        "Name": "Example App AppStore",
        "Platform": ["iOS"],
        "TeamIdentifier": [TEAM_ID],
        "TeamName": "Example Corp",
        "TimeToLive": 365,
        "UUID": UUID,
        "Version": 1,
    }
    for key, value in overrides.items():
        if value is DELETE:
            plist.pop(key, None)
        else:
            plist[key] = value
    return plist


def sign_cms(content, detached=False):
    """CMS SignedData (DER) embedding ``content``, signed by a self-signed test signer."""
    key, certificate = _signer()
    options = [pkcs7.PKCS7Options.Binary]
    if detached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(certificate, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, options)
    )


def make_profile(ber=False, **overrides):
    """Bytes of a signed profile; ``ber=True`` re-encodes it the way Apple tools do."""
    data = sign_cms(plistlib.dumps(profile_plist(**overrides)))
    return to_ber(data) if ber else data


def make_p12(key, certificate, passphrase=None):
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
        if passphrase is not None
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b"identity", key, certificate, None, encryption)


# --- a minimal DER reader and BER writer -----------------------------------------------


def tlv(tag, body):
    length = len(body)
    if length < 0x80:
        header = bytes([tag, length])
    else:
        size = (length.bit_length() + 7) // 8
        header = bytes([tag, 0x80 | size]) + length.to_bytes(size, "big")
    return header + body


def _parse_der(data, pos=0, end=None):
    """Parse DER (low tag numbers only) into ``[(tag, children-or-bytes)]``."""
    end = len(data) if end is None else end
    nodes = []
    while pos < end:
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            size = length & 0x7F
            length = int.from_bytes(data[pos:pos + size], "big")
            pos += size
        body = data[pos:pos + length]
        nodes.append((tag, _parse_der(body) if tag & 0x20 else body))
        pos += length
    return nodes


def _encode_ber(node, chunk, nested):
    tag, body = node
    if isinstance(body, list):
        return bytes([tag, 0x80]) + b"".join(_encode_ber(child, chunk, nested) for child in body) + b"\x00\x00"
    if tag == 0x04 and len(body) > chunk:
        pieces = [tlv(0x04, body[i:i + chunk]) for i in range(0, len(body), chunk)]
        if nested:
            # A constructed OCTET STRING inside another one: legal BER, seen in the wild.
            pieces = [bytes([0x24, 0x80]) + piece + b"\x00\x00" for piece in pieces]
        return bytes([0x24, 0x80]) + b"".join(pieces) + b"\x00\x00"
    return tlv(tag, body)


def to_ber(der_bytes, chunk=1000, nested=False):
    """Re-encode DER as BER: every constructed element gets an indefinite length and every
    OCTET STRING longer than ``chunk`` becomes a constructed string of chunks.

    The content still decodes (``openssl cms -verify -noverify -nosigs`` accepts it), but the
    signature no longer verifies because the signed attributes are re-encoded too; the
    profile reader does not check signatures, so that does not matter here."""
    return b"".join(_encode_ber(node, chunk, nested) for node in _parse_der(der_bytes))
