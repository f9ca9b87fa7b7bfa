# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller side of macmesh.signing.keychain_identity.

The identity file is read here, on the controller, because the nodes' /usr/bin/python3 has no
PKCS#12 support and macOS 15's ``security import`` rejects modern (PBES2/AES) PKCS#12 files. The
identity is re-encrypted with the legacy 3DES/SHA-1 profile that every macOS accepts, under a
fresh transport passphrase drawn from an alphabet that ``security -i`` needs no quoting for.
The documentation lives in plugins/modules/keychain_identity.py.
"""

from __future__ import annotations

import base64
import difflib
import secrets
import string

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.action import ActionBase

from ansible_collections.macmesh.signing.plugins.module_utils._pkcs12 import IdentityFileError, read_identity
from ansible_collections.macmesh.signing.plugins.module_utils._identity import normalise_sha1
from ansible_collections.macmesh.signing.plugins.module_utils._inputs import looks_secret
from ansible_collections.macmesh.signing.plugins.module_utils._security import SAFE_SECRET_ALPHABET, is_safe_secret

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
except ImportError as exc:  # pragma: no cover - cryptography ships with every supported controller setup
    CRYPTOGRAPHY_IMPORT_ERROR = exc
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

MODULE = "macmesh.signing.keychain_identity"
TRANSPORT_ALPHABET = string.ascii_letters + string.digits
TRANSPORT_LENGTH = 32
# Iterations of the legacy PKCS#12 KDF; the value `openssl pkcs12 -export -legacy` uses.
KDF_ROUNDS = 2048
# Options only the action plugin may set on the module.
INTERNAL_OPTIONS = ("content", "transport_passphrase")
# Every option of the module (plugins/modules/keychain_identity.py; a unit test keeps them equal).
MODULE_OPTIONS = (
    "src", "passphrase", "keychain", "keychain_password", "sha1", "name", "state", "allowed_apps",
    "partition_list", "exclusive", "declared_sha1s", "content", "transport_passphrase",
)
SECRET_OPTIONS = ("passphrase", "keychain_password", "content", "transport_passphrase")

ACTION_SPEC = {
    "src": {"type": "path"},
    "passphrase": {"type": "str", "no_log": True, "default": ""},
}


def transport_passphrase():
    """A fresh random passphrase that ``security -i`` accepts without quoting."""
    return "".join(secrets.choice(TRANSPORT_ALPHABET) for dummy in range(TRANSPORT_LENGTH))


def legacy_pkcs12(name, key, certificate, chain, passphrase):
    """PKCS#12 with 3DES key and certificate bags and a SHA-1 MAC, as macOS 15 requires."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(passphrase.encode("ascii"))
    )
    return pkcs12.serialize_key_and_certificates(
        to_bytes(name, errors="surrogate_or_strict"), key, certificate, chain or None, encryption
    )


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def _module_args(self, own, module_args):
        """Fill ``module_args`` for the module from the controller-side options ``own``."""
        state = module_args.get("state", "present")
        src = own["src"]
        if state == "absent":
            if src is not None:
                raise AnsibleActionFail("src is only used with state=present; state=absent takes sha1.")
            if module_args.get("sha1") is None:
                raise AnsibleActionFail("state=absent requires sha1 (the identity's SHA-1).")
            return None
        if src is None:
            raise AnsibleActionFail("state=present requires src (the .p12 file on the controller).")

        try:
            # get_real_file decrypts Ansible Vault files into a private temporary copy.
            real_path = self._loader.get_real_file(self._find_needle("files", src), decrypt=True)
        except AnsibleError as exc:
            raise AnsibleActionFail("src: cannot find %s (%s)" % (src, to_native(exc)))
        try:
            with open(real_path, "rb") as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            raise AnsibleActionFail("src: cannot read %s (%s)" % (src, to_native(exc)))
        finally:
            self._loader.cleanup_tmp_file(real_path)

        try:
            sha1, name, key, certificate, chain = read_identity(data, own["passphrase"], src)
        except IdentityFileError as exc:
            raise AnsibleActionFail(to_native(exc))

        declared_sha1 = module_args.get("sha1")
        try:
            normalised = None if declared_sha1 is None else normalise_sha1(str(declared_sha1), "sha1")
        except ValueError as exc:
            raise AnsibleActionFail(str(exc))
        if normalised is not None and normalised != sha1:
            raise AnsibleActionFail("sha1: the task declares %s but the certificate in %s has SHA-1 %s." % (
                declared_sha1, src, sha1))
        declared_name = module_args.get("name")
        if declared_name is not None and declared_name != name:
            raise AnsibleActionFail("name: the task declares %r but the certificate in %s is %r." % (
                declared_name, src, name))

        secret = transport_passphrase()
        module_args.update(
            sha1=sha1,
            name=name,
            transport_passphrase=secret,
            content=base64.b64encode(legacy_pkcs12(name, key, certificate, chain, secret)).decode("ascii"),
        )
        return secret

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        module_args = dict(self._task.args)
        for option in INTERNAL_OPTIONS:
            if option in module_args:
                raise AnsibleActionFail("%s is set by the action plugin from src; remove it from the task." % option)
        # An unknown option that looks like a secret (password: for passphrase:) is refused here,
        # before the module's "Unsupported parameters" would show it, and masked in every output.
        unknown = sorted(key for key in module_args if key not in MODULE_OPTIONS and looks_secret(key))
        if unknown:
            masked = []
            for key in unknown:
                _collect_strings(module_args[key], masked)
            suggestion = difflib.get_close_matches(unknown[0], SECRET_OPTIONS, n=1, cutoff=0.4)
            message = "%s: unknown option of %s (its value is not shown)%s" % (
                unknown[0], MODULE, "; did you mean %s?" % suggestion[0] if suggestion else "")
            failed = dict(failed=True, msg=message, invocation={"module_args": _shown(self._task.args, unknown)})
            return remove_values(failed, masked)
        # The keychain password is checked here, before the identity is read, re-encrypted and sent.
        password = module_args.get("keychain_password")
        if password is not None and (not isinstance(password, str) or not is_safe_secret(password)):
            raise AnsibleActionFail(
                "keychain_password: only the characters [%s] are accepted, because the password reaches "
                "security -i on standard input; choose a password from that alphabet (its value is not shown)."
                % SAFE_SECRET_ALPHABET)
        own = {name: module_args.pop(name) for name in ACTION_SPEC if name in module_args}
        validation = ArgumentSpecValidator(ACTION_SPEC).validate(own)
        if validation.error_messages:
            raise AnsibleActionFail(validation.error_messages[0])
        own = validation.validated_parameters

        if CRYPTOGRAPHY_IMPORT_ERROR is not None and own["src"] is not None:
            raise AnsibleActionFail("%s needs the Python 'cryptography' library on the controller: %s" % (
                MODULE, CRYPTOGRAPHY_IMPORT_ERROR))

        secrets_in_play = {own["passphrase"], module_args.get("keychain_password")}
        secrets_in_play.add(self._module_args(own, module_args))
        secrets_in_play.add(module_args.get("content"))
        secrets_in_play = [value for value in secrets_in_play if isinstance(value, str) and value]

        result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars))
        # The module masks its own no_log options; the invocation shown at -vvv must also not
        # reveal the controller-side options, so it is rebuilt from what the task said.
        result["invocation"] = {"module_args": _shown(self._task.args, ())}
        return remove_values(result, secrets_in_play)


def _collect_strings(value, out):
    if isinstance(value, dict):
        for item in value.values():
            _collect_strings(item, out)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_strings(item, out)
    elif value is not None and not isinstance(value, bool) and str(value):
        out.append(str(value))


def _shown(args, extra):
    """The task's options as -vvv may show them: every secret-looking option masked."""
    shown = dict(args)
    for option in list(shown):
        if option in SECRET_OPTIONS or option in extra or (option not in MODULE_OPTIONS and looks_secret(option)):
            shown[option] = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    return shown
