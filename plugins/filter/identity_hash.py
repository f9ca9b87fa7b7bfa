# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The identity_hash filter: one digest for a set of valid signing identities."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: identity_hash
short_description: Hash the set of valid signing identities
version_added: 0.1.0
author:
  - macmesh.signing maintainers (@macmesh)
description:
  - Returns one sha256 hex digest for the set of valid identities, so nodes can be compared
    whatever order C(security) lists the identities in.
  - The digest is C(sha256) of one C(<SHA1> <name>) line per valid identity, sorted and
    de-duplicated, each line ended by a newline. Invalid identities do not count. No valid
    identity gives C(sha256) of the empty string,
    V(e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855).
  - It is the same value as C(identity_hash) returned by M(macmesh.signing.signing_info).
options:
  _input:
    description:
      - Either the text printed by C(security find-identity), parsed as by
        P(macmesh.signing.parse_identities#filter), or a list of identity records with the keys
        C(sha1) (string), C(name) (string) and C(valid) (boolean).
    type: raw
    required: true
seealso:
  - plugin: macmesh.signing.parse_identities
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Hash the identities found on a node
  ansible.builtin.set_fact:
    node_identity_hash: "{{ find_identity.stdout | macmesh.signing.identity_hash }}"

- name: Hash identity records
  ansible.builtin.debug:
    msg: >-
      {{ [{'sha1': '86890D67F234745572B7EF153C72DEA7CF522EDE',
           'name': 'iPhone Distribution: Tien Le (QG598U658S)',
           'valid': true}] | macmesh.signing.identity_hash }}
"""

RETURN = r"""
_value:
  description: The sha256 hex digest, lower case.
  type: str
  sample: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
"""

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.module_utils._identity import identity_hash as _identity_hash
from ansible_collections.macmesh.signing.plugins.module_utils._security import ParseError, check_utf8, decode_utf8, parse_find_identity

_SHA1_RE = re.compile(r"[0-9A-Fa-f]{40}\Z")
_RECORD_KEYS = (("sha1", str), ("name", str), ("valid", bool))


def _records(data):
    if not isinstance(data, str) and isinstance(data, (bytes, bytearray)):
        try:
            data = decode_utf8(bytes(data), "The macmesh.signing.identity_hash input")
        except ParseError as exc:
            raise AnsibleFilterError(str(exc))
    if isinstance(data, str):
        try:
            return parse_find_identity(data)
        except ParseError as exc:
            raise AnsibleFilterError("The macmesh.signing.identity_hash input is not find-identity output: %s" % exc)
    if not isinstance(data, (list, tuple)):
        raise AnsibleFilterError(
            "The macmesh.signing.identity_hash input must be find-identity text or a list of "
            "identity records, not %s" % type(data).__name__
        )
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise AnsibleFilterError(
                "The macmesh.signing.identity_hash input item %d must be a dict with sha1, name and "
                "valid, not %s" % (index, type(record).__name__)
            )
        for key, expected in _RECORD_KEYS:
            if not isinstance(record.get(key), expected):
                raise AnsibleFilterError(
                    "The macmesh.signing.identity_hash input item %d needs %s of type %s"
                    % (index, key, expected.__name__)
                )
        if not _SHA1_RE.match(record["sha1"]):
            raise AnsibleFilterError(
                "The macmesh.signing.identity_hash input item %d: sha1 %r is not 40 hexadecimal digits"
                % (index, record["sha1"]))
        for key in ("sha1", "name"):
            try:
                check_utf8(record[key], "item %d %s" % (index, key))
            except ParseError as exc:
                raise AnsibleFilterError("The macmesh.signing.identity_hash input %s" % exc)
    return data


def identity_hash(data):
    """Hash find-identity text or identity records (see ``_identity.identity_hash``)."""
    return _identity_hash(_records(data))


class FilterModule(object):
    """The identity_hash filter."""

    def filters(self):
        return {"identity_hash": identity_hash}
