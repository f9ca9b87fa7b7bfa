# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The CI agent filters: ci_agent_plist, launchd_plist, session_ttl_policy, secret_versions_document, promotion_gate.

Their documentation lives in the sidecar files named after each filter. The logic is in
``module_utils/_agent.py`` and ``module_utils/_secret_versions.py``; this file only turns their
input errors into AnsibleFilterError naming the filter and the field.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import plistlib

from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.module_utils._agent import (
    AgentInputError,
    ci_agent_plist as _ci_agent_plist,
    session_ttl_policy as _session_ttl_policy,
)
from ansible_collections.macmesh.signing.plugins.module_utils._secret_versions import (
    SecretVersionError,
    promotion_gate as _promotion_gate,
    versions_document,
)


def _plain(value):
    """Ansible's lazy strings and wrapped types, as plain Python for plistlib."""
    if isinstance(value, dict):
        return dict((str(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def ci_agent_plist(program_arguments, label, user, working_directory, stdout_path, stderr_path,
                   environment=None, session_create=True, run_at_load=True, keep_alive=False):
    try:
        return _ci_agent_plist(label, _plain(program_arguments), user, working_directory, stdout_path, stderr_path,
                               environment=_plain(environment or {}), session_create=bool(session_create),
                               run_at_load=bool(run_at_load), keep_alive=bool(keep_alive))
    except AgentInputError as exc:
        raise AnsibleFilterError("macmesh.signing.ci_agent_plist: %s" % exc)


def launchd_plist(job):
    if not isinstance(job, dict) or "Label" not in job:
        raise AnsibleFilterError("macmesh.signing.launchd_plist: expects a launchd job dict with a Label")
    return plistlib.dumps(_plain(job), sort_keys=True).decode("utf-8")


def session_ttl_policy(build_p95_s, margin_s=60, cap_s=600):
    try:
        return _session_ttl_policy(build_p95_s, margin_s, cap_s)
    except AgentInputError as exc:
        raise AnsibleFilterError("macmesh.signing.session_ttl_policy: %s" % exc)


def secret_versions_document(keychain_password_version=None, identities=None, asc_api_key_version=None):
    try:
        return versions_document(keychain_password_version, _plain(identities or []), asc_api_key_version)
    except SecretVersionError as exc:
        raise AnsibleFilterError("macmesh.signing.secret_versions_document: %s" % exc)


def promotion_gate(nodes, expected_wrapper_sha256=None, expected_versions=None):
    try:
        return _promotion_gate(_plain(nodes), expected_wrapper_sha256, _plain(expected_versions or {}))
    except SecretVersionError as exc:
        raise AnsibleFilterError("macmesh.signing.promotion_gate: %s" % exc)


class FilterModule(object):
    """CI agent, session TTL and secret version filters."""

    def filters(self):
        return {
            "ci_agent_plist": ci_agent_plist,
            "launchd_plist": launchd_plist,
            "session_ttl_policy": session_ttl_policy,
            "secret_versions_document": secret_versions_document,
            "promotion_gate": promotion_gate,
        }
