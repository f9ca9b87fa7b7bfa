# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: layout
author:
  - macmesh.signing maintainers (@macmesh)
short_description: The node layout, group names and policy defaults of the mesh
version_added: 0.2.0
description:
  - Returns the value of a layout or policy key, for example C(keychain_path), C(signer_group) or
    C(max_key_copies). That is the inventory variable C(macmesh_<key>) when it is set, else the built-in
    default of the collection.
  - Role defaults, playbooks and the release reader use it, so that one inventory variable
    (for example C(macmesh_keychain_path)) moves a path for every role, module call and check.
  - Without a term, returns the whole resolved layout as one dictionary.
options:
  _terms:
    description: Layout or policy keys.
    type: list
    elements: str
    required: false
notes:
  - The keys and their defaults are listed in C(docs/architecture.md) (node layout) and
    C(docs/compliance.md) (policy).
"""

EXAMPLES = r"""
- name: Where the signing keychain lives on every node
  ansible.builtin.debug:
    msg: "{{ lookup('macmesh.signing.layout', 'keychain_path') }}"

- name: Hosts that hold signing identities
  ansible.builtin.debug:
    msg: "{{ groups[lookup('macmesh.signing.layout', 'signer_group')] }}"
"""

RETURN = r"""
_raw:
  description: One value per key (or the whole layout as a dictionary without a term).
  type: list
  elements: raw
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.macmesh.signing.plugins.module_utils import _layout


class LookupModule(LookupBase):

    def _resolve(self, key, variables):
        try:
            _layout.default(key)
        except KeyError as exc:
            raise AnsibleError("macmesh.signing.layout: %s" % exc.args[0])
        value = (variables or {}).get(_layout.override_name(key))
        if value is None:
            return _layout.default(key)
        return self._templar.template(value)

    def run(self, terms, variables=None, **kwargs):
        if not terms:
            return [dict((key, self._resolve(key, variables)) for key in _layout.keys())]
        return [self._resolve(str(key), variables) for key in terms]
