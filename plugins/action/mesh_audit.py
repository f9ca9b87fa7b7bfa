# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller side of macmesh.signing.mesh_audit: the converge's evaluation of every node's read.

The documentation is in plugins/modules/mesh_audit.py; the decisions in module_utils/_converge.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import os
import secrets
import string

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.macmesh.signing.plugins.module_utils._controller_only import ARGUMENT_SPECS

from ansible_collections.macmesh.signing.plugins.module_utils import _agent, _converge, _layout, _parity, _secret_versions

SPEC = ARGUMENT_SPECS['mesh_audit']
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRAPPER_FILE = os.path.join(COLLECTION_ROOT, "roles", "unlock_wrapper", "files", "macmesh-keychain-unlock.py")


def shipped_wrapper_sha256():
    """sha256 of the wrapper the unlock_wrapper role copies, unchanged, onto every node."""
    with open(WRAPPER_FILE, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(SPEC)

    def run(self, tmp=None, task_vars=None):
        super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        checked = ArgumentSpecValidator(SPEC).validate(self._task.args)
        if checked.error_messages:
            raise AnsibleActionFail("macmesh.signing.mesh_audit: %s" % "; ".join(checked.error_messages))
        args = checked.validated_parameters
        desired = args["release"]
        layout = dict(_layout.LAYOUT, **_layout.GROUPS)
        layout.update(desired.get("layout") or {})
        groups = dict(task_vars.get("groups") or {})
        hosts = args["hosts"] if args["hosts"] is not None else list(groups.get(layout["mesh_group"]) or [])
        hostvars = task_vars.get("hostvars") or {}
        reads, scans = {}, {}
        for host in hosts:
            host_vars = hostvars[host] if host in hostvars else {}
            reads[host] = self._templar.template(host_vars.get(args["signing_var"])) if args["signing_var"] in host_vars else None
            scans[host] = self._templar.template(host_vars.get(args["secrets_var"])) if args["secrets_var"] in host_vars else None
        manifest_path = (desired.get("manifest") or {}).get("path")
        try:
            with open(manifest_path, "rb") as handle:
                raw = handle.read()
            manifest = json.loads(raw.decode("utf-8"))
        except (IOError, OSError, TypeError, ValueError) as exc:
            return {"failed": True, "msg": "macmesh.signing.mesh_audit: release.manifest.path: %s cannot be read (%s)"
                    % (manifest_path, exc)}
        wrapper_sha256 = args["wrapper_sha256"] or shipped_wrapper_sha256()
        # Issue 12: what the CI agent checks and the secret versions expect, from a signer's inventory vars.
        signers = [host for host in groups.get(layout["signer_group"]) or [] if host in hosts] or hosts
        ref_vars = hostvars[signers[0]] if signers and signers[0] in hostvars else {}
        ref = dict((key, self._templar.template(ref_vars.get(key))) for key in _agent.EXPECTATION_VARS if key in ref_vars)
        try:
            agent = _agent.agent_expectation(ref)
            versions = _secret_versions.expected_versions(ref)
        except (_agent.AgentInputError, _secret_versions.SecretVersionError) as exc:
            return {"failed": True, "msg": "macmesh.signing.mesh_audit: %s" % exc}
        try:
            result = _converge.audit(desired, layout, manifest, wrapper_sha256, hosts, groups, reads, scans,
                                     per_runner_identities=args["per_runner_identities"],
                                     certificate_expiry=args["certificate_expiry"], before=args["before"],
                                     agent=agent, secret_versions=versions)
        except (_converge.AuditInputError, _parity.ParityInputError) as exc:
            return {"failed": True, "msg": "macmesh.signing.mesh_audit: %s" % exc}
        if args["bootstrap"] is not None:
            # Issue 14: which bootstrap hosts may skip the roles the read covers (decision in _converge).
            inputs = _converge.role_inputs(hosts, hostvars, args["bootstrap"]["inputs"], self._templar.template)
            result["bootstrap"] = _converge.bootstrap_plan(
                result["parity"], result["facts"], desired,
                _converge.expected_version_files(manifest, hashlib.sha256(raw).hexdigest()), inputs,
                full=args["bootstrap"]["full"], keep_previous=args["bootstrap"]["keep_previous"])
        result["changed"] = False
        result["wrapper_sha256"] = wrapper_sha256
        result["correlation_id"] = args["correlation_id"] or "converge-%s-%s" % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
            "".join(secrets.choice(string.ascii_lowercase + string.digits) for _index in range(8)))
        return result
