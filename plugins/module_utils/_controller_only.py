# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.

"""The module side of the controller-only plugins (release, rotation, mesh_audit): their work is in
the action plugin of the same name, so a module run on a node only says so."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

# The options of each controller-only module: the action plugin validates its arguments with them,
# the module declares them (so its documentation and its argument spec are one).
ARGUMENT_SPECS = {
    'release': {
        "state": {"type": "str", "default": "current", "choices": ["current", "staged", "promoted", "retired", "initial"]},
        "releases_dir": {"type": "path"},
        "version": {"type": "str"},
        "view": {"type": "str", "default": "desired", "choices": ["desired", "retire"]},
        "manifest": {"type": "path"},
        "profiles_dir": {"type": "path"},
        "identities": {"type": "list", "elements": "dict", "default": []},
        "change": {"type": "dict", "default": {}},
        "policy": {"type": "dict", "default": {}},
    },
    'mesh_audit': {
        "release": {"type": "dict", "required": True},
        "hosts": {"type": "list", "elements": "str"},
        "signing_var": {"type": "str", "default": "macmesh_signing"},
        "secrets_var": {"type": "str", "default": "macmesh_secrets", "no_log": False},
        "per_runner_identities": {"type": "dict", "default": {}},
        "certificate_expiry": {"type": "dict", "default": {}},
        "wrapper_sha256": {"type": "str"},
        "before": {"type": "dict"},
        "correlation_id": {"type": "str"},
        "bootstrap": {"type": "dict", "options": {
            "full": {"type": "bool", "default": False},
            "inputs": {"type": "dict", "default": {}},
            "keep_previous": {"type": "bool", "default": True},
        }},
    },
    'rotation': {
        "step": {"type": "str", "required": True, "choices": ["gate", "plan", "close"]},
        "phase": {"type": "str", "default": "rotate"},
        "releases_dir": {"type": "path"},
        "ticket": {"type": "raw"},
        "approvers": {"type": "raw"},
        "force": {"type": "raw", "default": False},
        "force_reason": {"type": "str"},
        "version": {"type": "str"},
        "manifest": {"type": "path"},
        "profiles_dir": {"type": "path"},
        "identities": {"type": "raw", "default": []},
        "compromised": {"type": "raw", "default": []},
        "gate": {"type": "dict"},
        "hosts": {"type": "list", "elements": "str"},
        "reads_var": {"type": "str", "default": "rotate_read"},
        "exclude_regions": {"type": "raw", "default": []},
        "canary_region": {"type": "str", "default": "hk"},
        "serial": {"type": "raw", "default": 2},
        "window_min_days": {"type": "raw"},
        "window_max_days": {"type": "raw"},
    },
}


def refuse(name, supports_check_mode=False):
    module = AnsibleModule(argument_spec=ARGUMENT_SPECS[name], supports_check_mode=supports_check_mode)
    module.fail_json(msg="macmesh.signing.%s runs on the controller through its action plugin only." % name)
