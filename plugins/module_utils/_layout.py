# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The one place for the node layout, the group names and the policy defaults of the mesh.

Modules take their option defaults from here, the ``macmesh.signing.layout`` lookup hands the same
values to role defaults and playbooks, and the release reader (``_release``) fills a release's
``policy`` from ``POLICY``. Every value can be overridden mesh-wide by the inventory variable
``macmesh_<key>`` (for example ``macmesh_keychain_path``); ``override_name`` gives that name.

Standard library only, Python 3.9: modules on macOS import it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

# Where things live on every node. Parity checks compare these paths across regions, so they are
# the same on every node of a mesh: change them for the whole mesh (macmesh_<key>) or not at all.
LAYOUT = {
    "user": "ci-build",
    "user_home": "/Users/ci-build",
    "user_uid": 601,
    "user_group": "staff",
    "keychain_path": "/Users/ci-build/Library/Keychains/ci-build.keychain-db",
    "keychain_mode": "0600",
    "profile_root": "/Library/MacMesh/profiles",
    "wrapper_path": "/usr/local/bin/macmesh-keychain-unlock",
    "wrapper_log_path": "/Library/Logs/MacMesh/keychain-unlock.log",
    # What the node records about the release it runs (written by bootstrap, rotate and revoke).
    "release_state_path": "/Library/MacMesh/release.json",
    "runner_identity_path": "/Library/MacMesh/runner-identity.json",
    "ntp_server": "time.apple.com",
}

# Inventory group names.
GROUPS = {
    "mesh_group": "mesh",
    "signer_group": "signers",
    "builder_group": "builders",
}

REGIONS = ["hk", "jp", "kr", "sg", "us"]

TOPOLOGIES = ("dedicated", "distributed", "per_runner")

# Thresholds from the field (docs/compliance.md says what each means).
POLICY = {
    "topology": "dedicated",
    "regions": REGIONS,
    "signer_group": GROUPS["signer_group"],
    "builder_group": GROUPS["builder_group"],
    # more than this many identity hashes in a pool blocks new nodes
    "max_identity_hashes": 2,
    # at most this many live copies of a distribution key
    "max_key_copies": 2,
    # certificates under this many days open a rotation (warning), under cert_error_days: error
    "cert_warn_days": 21.0,
    "cert_error_days": 7.0,
    # profiles overlap this many days; a rotation runs inside this window before the old expiry
    "overlap_min_days": 7.0,
    "overlap_max_days": 14.0,
    "max_clock_offset": 1.0,
    "max_clock_offset_error": 30.0,
    # seconds of inactivity before the keychain locks (0: never), and lock on sleep
    "keychain_timeout": 3600,
    "keychain_lock_on_sleep": True,
}

_ALL = {}
_ALL.update(LAYOUT)
_ALL.update(GROUPS)
_ALL.update(POLICY)


def override_name(key):
    """The inventory variable that overrides ``key`` for the whole mesh."""
    return "macmesh_" + key


def keys():
    return sorted(_ALL)


def default(key):
    """The built-in value of ``key`` (a copy: callers may change it)."""
    try:
        return copy.deepcopy(_ALL[key])
    except KeyError:
        raise KeyError("unknown layout key %r; known keys: %s" % (key, ", ".join(keys())))


def resolve(key, variables=None):
    """``macmesh_<key>`` from ``variables`` when set, else the built-in value."""
    default_value = default(key)
    if variables is not None:
        value = variables.get(override_name(key))
        if value is not None:
            return value
    return default_value


def policy_defaults():
    return copy.deepcopy(POLICY)
