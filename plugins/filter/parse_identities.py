# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The parse_identities filter: find-identity text to identity records."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: parse_identities
short_description: Parse the output of C(security find-identity) into identity records
version_added: 0.1.0
author:
  - macmesh.signing maintainers (@macmesh)
description:
  - Turns the text printed by C(security find-identity), with or without C(-v), into a list of
    identities, each listed once.
  - An identity is valid when it is listed under C(Valid identities only), or in C(-v) output.
    Entries only listed under C(Matching identities), or carrying a status such as
    C((CSSMERR_TP_NOT_TRUSTED)), are not valid.
  - Lines that are not identities (C(Policy:), counts, blank lines, other commands' output) are
    skipped. A numbered line that is not an identity fails the task.
  - The same parser is used on the nodes by M(macmesh.signing.signing_info).
options:
  _input:
    description:
      - The text printed by C(security find-identity), for example the C(stdout) of a registered
        M(ansible.builtin.command) task.
    type: string
    required: true
seealso:
  - plugin: macmesh.signing.identity_hash
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: List the code-signing identities of the CI keychain
  ansible.builtin.command:
    argv: [/usr/bin/security, find-identity, -p, codesigning, /Users/ci-build/Library/Keychains/ci-build.keychain-db]
  register: find_identity
  changed_when: false

- name: Fail when an identity is not valid
  ansible.builtin.assert:
    that: invalid | length == 0
    fail_msg: "Invalid identities: {{ invalid | map(attribute='name') | join(', ') }}"
  vars:
    invalid: "{{ find_identity.stdout | macmesh.signing.parse_identities | rejectattr('valid') }}"
"""

RETURN = r"""
_value:
  description:
    - One record per identity, in the order C(security) first lists them.
  type: list
  elements: dict
  contains:
    sha1:
      description: SHA-1 of the certificate, upper case, as C(security) prints it.
      type: str
      returned: always
      sample: 86890D67F234745572B7EF153C72DEA7CF522EDE
    name:
      description: The name C(security) prints between double quotes.
      type: str
      returned: always
      sample: "iPhone Distribution: Tien Le (QG598U658S)"
    valid:
      description: Whether the identity can be used to sign now.
      type: bool
      returned: always
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.module_utils._security import ParseError, decode_utf8, parse_find_identity


def parse_identities(text):
    """Parse find-identity text into ``[{"sha1", "name", "valid"}]``."""
    if not isinstance(text, str) and isinstance(text, (bytes, bytearray)):
        try:
            text = decode_utf8(bytes(text), "The macmesh.signing.parse_identities input")
        except ParseError as exc:
            raise AnsibleFilterError(str(exc))
    if not isinstance(text, str):
        raise AnsibleFilterError(
            "The macmesh.signing.parse_identities input must be the text printed by "
            "security find-identity, not %s" % type(text).__name__
        )
    try:
        return parse_find_identity(text)
    except ParseError as exc:
        raise AnsibleFilterError("The macmesh.signing.parse_identities input is not find-identity output: %s" % exc)


class FilterModule(object):
    """The parse_identities filter."""

    def filters(self):
        return {"parse_identities": parse_identities}
