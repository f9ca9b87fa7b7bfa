# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: passphrase
author:
  - macmesh.signing maintainers (@macmesh)
short_description: The passphrase of a declared signing identity, from where its release says it comes
version_added: 0.2.0
description:
  - Takes an identity as C(keychain_identities) or a release declares it and returns its p12 passphrase.
  - "A release never holds a passphrase. Its C(passphrase) says where the value comes from. C({file: <path>})
    reads a file on the controller, decrypting it when it is Ansible-Vault encrypted; trailing newlines are
    dropped. C({var: <name>}) reads an inventory or vault variable."
  - A plain string, the form of inventory-declared identities, is returned as it is.
  - The caller's task must set C(no_log).
options:
  _terms:
    description: Identities, each a dictionary with C(sha1) and C(passphrase).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Import an identity of the current release
  macmesh.signing.keychain_identity:
    src: "{{ item.src }}"
    passphrase: "{{ lookup('macmesh.signing.passphrase', item) }}"
    sha1: "{{ item.sha1 }}"
    keychain_password: "{{ keychain_password }}"
  loop: "{{ keychain_identities }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: One passphrase per identity.
  type: list
  elements: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):

    def _file(self, path, sha1):
        try:
            if hasattr(self._loader, "get_text_file_contents"):
                text = self._loader.get_text_file_contents(path)
            else:  # ansible-core < 2.19
                data, _show = self._loader._get_file_contents(path)
                text = to_text(data, errors="surrogate_or_strict")
        except Exception as exc:
            raise AnsibleError("macmesh.signing.passphrase: identity %s: passphrase.file: %s cannot be read (%s)"
                               % (sha1, path, type(exc).__name__))
        return text.rstrip("\r\n")

    def _var(self, name, variables, sha1):
        if name not in (variables or {}):
            raise AnsibleError("macmesh.signing.passphrase: identity %s: passphrase.var: the variable %r is not defined "
                               "(put it in the inventory's vault file, and give the vault password)" % (sha1, name))
        value = self._templar.template(variables[name])
        if not isinstance(value, str) or not value:
            raise AnsibleError("macmesh.signing.passphrase: identity %s: passphrase.var: %r must be a non-empty string"
                               % (sha1, name))
        return value

    def run(self, terms, variables=None, **kwargs):
        out = []
        for term in terms:
            if not isinstance(term, Mapping):
                raise AnsibleError("macmesh.signing.passphrase: expects identities ({sha1, passphrase}), not %s"
                                   % type(term).__name__)
            sha1 = term.get("sha1", "?")
            ref = term.get("passphrase")
            if isinstance(ref, str):
                out.append(ref)
            elif isinstance(ref, Mapping) and list(ref) == ["file"]:
                out.append(self._file(ref["file"], sha1))
            elif isinstance(ref, Mapping) and list(ref) == ["var"]:
                out.append(self._var(ref["var"], variables, sha1))
            else:
                raise AnsibleError("macmesh.signing.passphrase: identity %s: passphrase must be a string, {file: <path>} "
                                   "or {var: <name>}" % sha1)
        return out
