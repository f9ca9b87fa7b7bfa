#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: keychain_identity
short_description: Import or remove a code-signing identity in a file keychain, idempotently by SHA-1
version_added: 0.1.0
description:
  - Imports a signing identity (certificate and private key) from a PKCS#12 file on the controller
    into a file keychain on a macOS node, grants C(codesign) and C(productsign) access to the key
    (C(-T)) and sets the key partition list, so that C(codesign) can sign without a prompt.
  - The identity is compared by the SHA-1 of its certificate, as C(security find-identity) prints it.
    An identity already in the keychain, valid or not, is left alone.
  - The PKCS#12 file is read on the controller by the action plugin, which checks that it holds a private
    key and a certificate, then re-encrypts both with the legacy 3DES/SHA-1 algorithms that macOS 15
    accepts and a random one-time transport passphrase. The passphrase of the file never leaves the controller.
  - Every secret reaches C(security) on standard input (C(security -i)), never on its command line.
  - With O(state=absent), removes the identity (certificate and private key) with the given SHA-1.
  - With O(exclusive=true), also removes every identity whose SHA-1 is not in O(declared_sha1s).
author:
  - macmesh.signing maintainers (@macmesh)
extends_documentation_fragment:
  - macmesh.signing.attributes
  - macmesh.signing.attributes.darwin
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the SHA-1 and name of the identities in the keychain before and after.
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
options:
  src:
    description:
      - Path on the controller of the PKCS#12 (C(.p12)) file holding the identity. Searched like
        C(ansible.builtin.copy) searches C(src), including a role's C(files/) directory.
      - The file may be encrypted with Ansible Vault.
      - Required when O(state=present). Not used with O(state=absent).
    type: path
  passphrase:
    description:
      - Passphrase of the O(src) file. Only used on the controller.
      - Leave empty for a file without password.
    type: str
    default: ''
  keychain:
    description:
      - Path of the file keychain on the node.
    type: path
    default: /Users/ci-build/Library/Keychains/ci-build.keychain-db
  keychain_password:
    description:
      - Password of O(keychain). Used to unlock it and to set the key partition list.
      - Required when O(state=present). With O(state=absent), the keychain is unlocked first when it is given.
      - Only the characters C([A-Za-z0-9_.,:+=@%/-]) are accepted, because the password is passed to
        C(security -i) on standard input.
    type: str
  sha1:
    description:
      - SHA-1 of the identity's certificate, 40 hexadecimal digits (colons and spaces are ignored).
      - Required when O(state=absent).
      - With O(state=present) it is computed from O(src); when given, it must match the certificate.
    type: str
  name:
    description:
      - Name of the identity (the certificate's common name).
      - With O(state=present) it is computed from O(src); when given, it must match the certificate.
    type: str
  state:
    description:
      - Whether the identity must be in the keychain.
    type: str
    choices: [present, absent]
    default: present
  allowed_apps:
    description:
      - Applications allowed to use the private key without a prompt (C(security import -T)).
    type: list
    elements: path
    default: [/usr/bin/codesign, /usr/bin/productsign]
  partition_list:
    description:
      - Key partition list set after an import (C(security set-key-partition-list -S)).
      - C(codesign) needs C(apple:) in it.
    type: str
    default: "apple-tool:,apple:,codesign:"
  exclusive:
    description:
      - Remove every identity whose SHA-1 is neither O(sha1) (with O(state=present)) nor listed in O(declared_sha1s).
      - When you loop over several identities, give the whole list in O(declared_sha1s) on every item.
    type: bool
    default: false
  declared_sha1s:
    description:
      - SHA-1s of the identities that O(exclusive=true) keeps.
    type: list
    elements: str
    default: []
  content:
    description:
      - Internal, set by the action plugin from O(src). Setting it in a task is an error.
      - The identity as base64 PKCS#12, encrypted with O(transport_passphrase).
    type: str
  transport_passphrase:
    description:
      - Internal, set by the action plugin. Setting it in a task is an error.
      - One-time passphrase of O(content).
    type: str
notes:
  - Run the task as the owner of the keychain (O(keychain)), for example with C(become_user=ci-build).
  - The imported private key is marked non-extractable (C(security import -x)).
  - O(partition_list) is applied with C(set-key-partition-list -s), which rewrites the partition list
    of every signing key in the keychain. Use a keychain dedicated to signing.
  - A failed import does not remove anything from the keychain.
  - When C(security) cannot decode the PKCS#12 data (macOS 15), the import is retried once with C(-f openssl).
  - The re-encrypted identity and its transport passphrase travel in the module arguments, like any
    C(no_log) option. C(ANSIBLE_DEBUG=1) prints module arguments and C(ANSIBLE_KEEP_REMOTE_FILES=1) leaves them
    on the node; do not use either with this module.
requirements:
  - The Python C(cryptography) library on the controller, for O(state=present).
seealso:
  - module: macmesh.signing.signing_info
"""

EXAMPLES = r"""
- name: Import the distribution identity into the signing keychain
  macmesh.signing.keychain_identity:
    src: files/distribution.p12
    passphrase: "{{ vault_distribution_p12_passphrase }}"
    keychain: /Users/ci-build/Library/Keychains/ci-build.keychain-db
    keychain_password: "{{ vault_ci_build_keychain_password }}"
  become: true
  become_user: ci-build

- name: Import every declared identity and remove the undeclared ones
  macmesh.signing.keychain_identity:
    src: "{{ item.src }}"
    passphrase: "{{ item.passphrase }}"
    sha1: "{{ item.sha1 }}"
    keychain_password: "{{ vault_ci_build_keychain_password }}"
    exclusive: true
    declared_sha1s: "{{ signing_identities | map(attribute='sha1') | list }}"
  loop: "{{ signing_identities }}"
  loop_control:
    label: "{{ item.sha1 }}"
  no_log: true
  become: true
  become_user: ci-build

- name: Remove a revoked identity
  macmesh.signing.keychain_identity:
    sha1: 86890D67F234745572B7EF153C72DEA7CF522EDE
    keychain_password: "{{ vault_ci_build_keychain_password }}"
    state: absent
  become: true
  become_user: ci-build
"""

RETURN = r"""
sha1:
  description: SHA-1 of the identity's certificate, upper-case hexadecimal.
  returned: always
  type: str
  sample: 86890D67F234745572B7EF153C72DEA7CF522EDE
name:
  description: Name of the identity; null when it is unknown (O(state=absent) for an identity not in the keychain).
  returned: always
  type: str
  sample: "iPhone Distribution: Tien Le (QG598U658S)"
removed:
  description: SHA-1s of the identities removed (or that would be removed in check mode).
  returned: always
  type: list
  elements: str
  sample: []
identities:
  description: The code-signing identities in the keychain after the task, valid or not.
  returned: always
  type: list
  elements: dict
  contains:
    sha1:
      description: SHA-1 of the certificate.
      type: str
    name:
      description: Name of the identity.
      type: str
  sample:
    - sha1: 86890D67F234745572B7EF153C72DEA7CF522EDE
      name: "iPhone Distribution: Tien Le (QG598U658S)"
"""

import base64
import binascii
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule, _load_params
from ansible_collections.macmesh.signing.plugins.module_utils._identity import normalise_sha1
from ansible_collections.macmesh.signing.plugins.module_utils._inputs import guarded_module
from ansible_collections.macmesh.signing.plugins.module_utils._security import (
    DuplicateItemError,
    ItemNotFoundError,
    ParseError,
    Secret,
    UndecodableDataError,
    UnsafeTokenError,
    WrongPasswordError,
    classify_error,
    is_safe_secret,
    module_runner,
    parse_find_identity,
)

LEGACY_EXPORT_HINT = (
    "Re-export the identity with `openssl pkcs12 -export -legacy` (3DES/SHA-1) and try again."
)


class IdentityFailure(Exception):
    """A failure to report with fail_json; the message names the field or command."""


class KeychainIdentity(object):
    """Compares the keychain's identities with the desired state and applies the difference."""

    def __init__(self, module, runner):
        self.module = module
        self.runner = runner
        params = module.params
        self.keychain = params["keychain"]
        self.state = params["state"]
        self.password = params["keychain_password"]
        self.sha1 = params["sha1"]
        self.name = params["name"]

    def identities(self):
        """Every code-signing identity in the keychain, valid or not: ``[{sha1, name}]``."""
        if not os.path.exists(self.keychain):
            return []
        rc, out, err = self.runner.run("find-identity", "-p", "codesigning", self.keychain)
        error = classify_error(rc, out, err)
        if error is not None:
            raise IdentityFailure("security find-identity %s: %s" % (self.keychain, error.describe()))
        try:
            found = parse_find_identity(out)
        except ParseError as exc:
            raise IdentityFailure("security find-identity %s: %s" % (self.keychain, exc))
        return [{"sha1": identity["sha1"], "name": identity["name"]} for identity in found]

    def _unlock(self):
        if self.password is None:
            return []
        return [["unlock-keychain", "-p", Secret(self.password), self.keychain]]

    def _batch(self, lines, what):
        """Run a ``security -i`` batch; return the classified error (None on success)."""
        try:
            rc, out, err = self.runner.batch(lines)
        except UnsafeTokenError as exc:
            raise IdentityFailure("%s: %s" % (what, exc))
        error = classify_error(rc, out, err)
        if isinstance(error, WrongPasswordError):
            raise IdentityFailure("keychain_password: does not unlock %s. %s" % (self.keychain, error.describe()))
        return error

    def _import_lines(self, path, fmt):
        params = self.module.params
        command = ["import", path, "-k", self.keychain, "-f", fmt, "-P", Secret(params["transport_passphrase"])]
        for app in params["allowed_apps"]:
            command.extend(["-T", app])
        command.append("-x")
        return self._unlock() + [
            command,
            ["set-key-partition-list", "-S", params["partition_list"], "-s", "-k", Secret(self.password), self.keychain],
        ]

    def import_identity(self, data):
        """Import the PKCS#12 ``data``; returns False when ``security`` already had it."""
        handle, path = tempfile.mkstemp(prefix="keychain-identity-", suffix=".p12", dir=self.module.tmpdir)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            error = self._batch(self._import_lines(path, "pkcs12"), "import")
            if isinstance(error, UndecodableDataError):
                # macOS 15 cannot decode some PKCS#12 files that it reads as `-f openssl`.
                error = self._batch(self._import_lines(path, "openssl"), "import")
                if error is not None and not isinstance(error, DuplicateItemError):
                    raise IdentityFailure(
                        "security import %s failed as pkcs12 (Unable to decode the provided data.) and as "
                        "openssl (%s). %s" % (self.sha1, error.message, LEGACY_EXPORT_HINT)
                    )
        finally:
            os.unlink(path)
        if isinstance(error, DuplicateItemError):
            return False
        if error is not None:
            raise IdentityFailure("security import %s into %s: %s" % (self.sha1, self.keychain, error.describe()))
        return True

    def delete(self, sha1s):
        lines = self._unlock() + [["delete-identity", "-Z", sha1, self.keychain] for sha1 in sha1s]
        error = self._batch(lines, "delete-identity")
        # An identity removed by someone else meanwhile is gone either way.
        if error is not None and not isinstance(error, ItemNotFoundError):
            raise IdentityFailure("security delete-identity %s: %s" % (" ".join(sha1s), error.describe()))


def _validated(module):
    """Normalise and check the options; one fail_json per bad value, naming the field."""
    params = module.params
    try:
        if params["sha1"] is not None:
            params["sha1"] = normalise_sha1(params["sha1"], "sha1")
        params["declared_sha1s"] = [normalise_sha1(value, "declared_sha1s") for value in params["declared_sha1s"]]
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    for field in ("keychain_password", "transport_passphrase"):
        if params[field] is not None and not is_safe_secret(params[field]):
            module.fail_json(
                msg="%s: only the characters [A-Za-z0-9_.,:+=@%%/-] can be passed to security -i; "
                "choose a password from that alphabet." % field
            )
    if params["state"] == "present":
        if params["content"] is None or params["transport_passphrase"] is None or params["sha1"] is None:
            module.fail_json(
                msg="content, transport_passphrase and sha1 are set by the action plugin from src: "
                "run macmesh.signing.keychain_identity with src and passphrase."
            )
        try:
            return base64.b64decode(params["content"], validate=True)
        except (binascii.Error, ValueError):
            module.fail_json(msg="content: not base64 PKCS#12 data.")
    return None


def main():
    module = guarded_module(
        AnsibleModule, _load_params,
        dict(
            # src and passphrase are read on the controller by the action plugin, which never
            # passes them on; they are accepted so that the documentation matches the spec.
            src=dict(type="path"),
            passphrase=dict(type="str", no_log=True, default=""),
            keychain=dict(type="path", default="/Users/ci-build/Library/Keychains/ci-build.keychain-db"),
            keychain_password=dict(type="str", no_log=True),
            sha1=dict(type="str"),
            name=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            allowed_apps=dict(type="list", elements="path", default=["/usr/bin/codesign", "/usr/bin/productsign"]),
            partition_list=dict(type="str", default="apple-tool:,apple:,codesign:"),
            exclusive=dict(type="bool", default=False),
            declared_sha1s=dict(type="list", elements="str", default=[]),
            content=dict(type="str", no_log=True),
            transport_passphrase=dict(type="str", no_log=True),
        ),
        required_if=[
            ("state", "present", ("keychain_password",)),
            ("state", "absent", ("sha1",)),
        ],
        supports_check_mode=True,
    )
    data = _validated(module)
    params = module.params
    backend = KeychainIdentity(module, module_runner(module))
    sha1 = params["sha1"]

    try:
        if params["state"] == "present" and not os.path.exists(params["keychain"]):
            raise IdentityFailure(
                "keychain: %s does not exist; create it first (macmesh.signing.keychain)." % params["keychain"]
            )
        before = backend.identities()
        present = [identity for identity in before if identity["sha1"] == sha1]
        name = present[0]["name"] if present else params["name"]

        keep = set(params["declared_sha1s"])
        if params["state"] == "present":
            keep.add(sha1)
        else:
            keep.discard(sha1)
        remove = [identity["sha1"] for identity in before if identity["sha1"] not in keep] if params["exclusive"] else []
        if params["state"] == "absent" and present and sha1 not in remove:
            remove.append(sha1)

        add = params["state"] == "present" and not present
        after = [identity for identity in before if identity["sha1"] not in remove]
        if add:
            after.append({"sha1": sha1, "name": name})

        # In check mode the predicted change is reported; a real import that security reports
        # as a duplicate ("already exists") changes nothing.
        imported = add
        if not module.check_mode and (add or remove):
            if add:
                imported = backend.import_identity(data)
            if remove:
                backend.delete(remove)
            after = backend.identities()
            if add and not any(identity["sha1"] == sha1 for identity in after):
                module.warn(
                    "security import reported %s as %s, but find-identity -p codesigning does not list it: "
                    "the certificate may not be valid for code signing." % (sha1, "imported" if imported else "already there")
                )
        changed = imported or bool(remove)
    except IdentityFailure as exc:
        module.fail_json(msg=str(exc), sha1=sha1)

    result = dict(changed=changed, sha1=sha1, name=name, removed=remove, identities=after)
    if module._diff:
        result["diff"] = {
            "before": {"identities": before},
            "after": {"identities": after},
            "before_header": params["keychain"],
            "after_header": params["keychain"],
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
