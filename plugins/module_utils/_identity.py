# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""Identity sets and the two hashes the collection compares across nodes.

``identity_hash`` answers "do these nodes hold the same valid signing identities?" and does not
depend on the order ``security`` lists them in, on duplicates, or on invalid identities.
``summary_hash`` is what an operator gets on the node itself with
``security find-identity -v -p codesigning | shasum``, so a report can be checked by hand.
``normalise_sha1`` is the one place a SHA-1 given by an operator or a file is accepted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

# What people paste between the hex digits: Keychain Access shows "AB CD ...", openssl "AB:CD:...".
# Anything else (a newline, a tab, a NUL) is refused, not silently removed.
_SHA1_SEPARATORS = re.compile(r"[: ]")
_SHA1_HEX = re.compile(r"[0-9A-F]{40}")


def normalise_sha1(value, field=None):
    """Return ``value`` as 40 upper-case hex digits, the way ``security`` prints a SHA-1.

    Colons and spaces are removed and the text is upper-cased; what remains must be exactly 40
    hex digits (``fullmatch``: a trailing newline is refused). Raises ValueError naming ``field``
    (e.g. ``"sha1"`` or ``"rotate_identities[2].sha1"``) otherwise, non-strings included.
    """
    prefix = "%s: " % field if field else ""
    if not isinstance(value, str):
        raise ValueError("%s%r is not 40 hexadecimal digits." % (prefix, value))
    text = _SHA1_SEPARATORS.sub("", value).upper()
    if not _SHA1_HEX.fullmatch(text):
        raise ValueError("%s%r is not 40 hexadecimal digits." % (prefix, value))
    return text


def identity_lines(identities):
    """Return ``["<SHA1> <name>", ...]`` for the valid identities: sorted, without duplicates.

    ``identities`` are ``{"sha1", "name", "valid"}`` records as returned by
    ``_security.parse_find_identity``. The SHA-1 is upper-cased, as ``security`` prints it.
    """
    return sorted(
        set("%s %s" % (identity["sha1"].upper(), identity["name"]) for identity in identities if identity["valid"])
    )


def identity_hash(identities):
    """Return the sha256 hex digest identifying a set of valid identities.

    Exactly: ``sha256(("\\n".join(identity_lines(identities)) + "\\n").encode("utf-8"))``,
    i.e. one ``"<SHA1> <name>"`` line per valid identity, sorted, de-duplicated, each line ended
    by a newline. The empty set hashes the empty string: ``sha256(b"")``
    (``e3b0c442...b855``), not ``sha256(b"\\n")``.
    """
    lines = identity_lines(identities)
    data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
    return hashlib.sha256(data).hexdigest()


def summary_hash(raw):
    """Return the sha1 hex digest of the raw ``find-identity -v -p codesigning`` output.

    ``raw`` is bytes, or text that is encoded as UTF-8 first. This is the value
    ``security find-identity -v -p codesigning | shasum`` prints on the node.
    """
    if not isinstance(raw, bytes):
        raw = raw.encode("utf-8")
    return hashlib.sha1(raw).hexdigest()
