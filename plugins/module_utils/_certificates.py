# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.

"""CA certificates that must be in a keychain for codesign to build an identity's chain.

Reference §4.1: an identity is valid only when its issuer (Apple's WWDR or Developer ID
intermediate) is in a keychain on the search list or in the System keychain. The collection ships
those public certificates pinned by sha256; this module decides which are missing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib


class CertificateError(ValueError):
    """A certificate file that is not what the pin says (message names the entry and field)."""


def der_of(data):
    """DER bytes of a certificate file given as DER or PEM."""
    if b"-----BEGIN CERTIFICATE-----" in data:
        body = data.split(b"-----BEGIN CERTIFICATE-----", 1)[1].split(b"-----END CERTIFICATE-----", 1)[0]
        return base64.b64decode(b"".join(body.split()))
    return data


def check_pins(entries, read):
    """[{name, path, sha256, sha1}] for ``entries`` ({name, path, sha256}); ``read(path)`` returns
    bytes. Raises :class:`CertificateError` when a file's sha256 is not its pin."""
    checked = []
    for index, entry in enumerate(entries):
        name = entry.get("name") or entry.get("path")
        pin = (entry.get("sha256") or "").lower().replace(":", "")
        if len(pin) != 64:
            raise CertificateError("certificates[%d] (%s): sha256: a 64-hex-digit pin is required" % (index, name))
        der = der_of(read(entry["path"]))
        actual = hashlib.sha256(der).hexdigest()
        if actual != pin:
            raise CertificateError(
                "certificates[%d] (%s): sha256: %s is pinned but %s has %s; refusing to install it"
                % (index, name, pin, entry["path"], actual))
        checked.append({"name": name, "path": entry["path"], "sha256": pin,
                        "sha1": hashlib.sha1(der).hexdigest().upper()})
    return checked


def missing(checked, present_sha1s):
    """The checked entries whose SHA-1 is not among ``present_sha1s``, in order."""
    present = set(s.upper() for s in present_sha1s)
    return [entry for entry in checked if entry["sha1"] not in present]
