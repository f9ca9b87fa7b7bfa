# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The one PKCS#12 reader of the collection (controller side: it needs ``cryptography``).

The keychain_identity action plugin (before it re-encrypts an identity for the node) and
profile_manifest (to check that every profile lists a declared identity) both read identities here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import warnings

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID
except ImportError as exc:  # pragma: no cover - the callers report the missing library
    CRYPTOGRAPHY_IMPORT_ERROR = exc
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

# Keychain Access exports BER; cryptography parses it but warns that it may stop doing so.
BER_WARNING = "PKCS#12 bundle could not be parsed as DER"


def to_bytes(value):
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


class IdentityFileError(Exception):
    """The identity file cannot be used; the message names the file, ``field`` the option to fix."""

    def __init__(self, message, field="path"):
        self.field = field
        super(IdentityFileError, self).__init__(message)


def certificate_name(certificate):
    """The label ``security find-identity`` shows: the subject CN, else the whole subject."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        return names[0].value
    return certificate.subject.rfc4514_string()


def public_bytes(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load(data, passphrase, src):
    """Return ``(key, certificate, chain)`` from PKCS#12 bytes; errors name ``src``."""
    # An empty passphrase means either "no password" or "the empty password": PKCS#12 tells them apart.
    candidates = [to_bytes(passphrase)] if passphrase else [None, b""]
    last_error = None
    for candidate in candidates:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=BER_WARNING, category=UserWarning)
                return pkcs12.load_key_and_certificates(data, candidate)
        except ValueError as exc:
            last_error = str(exc)
    if "password" in last_error.lower():
        raise IdentityFileError(
            "Cannot decrypt %s: the `passphrase` option is wrong for this file (or the file is damaged)." % src,
            field="passphrase")
    raise IdentityFileError("%s is not a PKCS#12 (.p12) identity file." % src, field="passphrase")


def read_identity(data, passphrase, src):
    """Check a PKCS#12 identity and return ``(sha1, name, key, certificate, chain)``.

    Raises IdentityFileError naming ``src`` when the file holds no usable identity.
    """
    key, certificate, chain = load(data, passphrase, src)
    if key is None:
        raise IdentityFileError(
            "%s contains no private key: export the identity (certificate and private key) as .p12, "
            "not the certificate alone." % src
        )
    # cryptography pairs the key with its certificate (by localKeyId, else by public key).
    if certificate is None:
        raise IdentityFileError("%s contains a private key but no certificate for it." % src)
    if public_bytes(certificate.public_key()) != public_bytes(key.public_key()):
        raise IdentityFileError("%s: the private key does not belong to the certificate." % src)
    sha1 = certificate.fingerprint(hashes.SHA1()).hex().upper()
    return sha1, certificate_name(certificate), key, certificate, list(chain or [])
