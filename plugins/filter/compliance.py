# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The compliance filters: ``expiring`` and ``mesh_parity``.

Their documentation lives in the sidecar files ``expiring.yml`` and ``mesh_parity.yml``:
ansible-doc reads a filter's docs from the file named after the filter when one plugin file
defines several filters. The logic is in ``module_utils/_parity.py``; this file only turns its
input errors into AnsibleFilterError naming the filter.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.module_utils._parity import (
    ParityInputError,
    expiring as _expiring,
    mesh_parity as _mesh_parity,
)


def expiring(items, days, now=None, key="expires"):
    """Items whose ``key`` date falls within ``days`` days of ``now`` (or has passed), with ``days_left``."""
    try:
        return _expiring(items, days, now=now, key=key)
    except ParityInputError as exc:
        raise AnsibleFilterError("macmesh.signing.expiring: %s" % exc)


def mesh_parity(hostvars_subset, groups, expected):
    """Findings, per-host and per-region verdicts for the whole mesh (see mesh_parity.yml)."""
    try:
        return _mesh_parity(hostvars_subset, groups, expected)
    except ParityInputError as exc:
        raise AnsibleFilterError("macmesh.signing.mesh_parity: %s" % exc)


class FilterModule(object):
    """Expiry and mesh parity filters."""

    def filters(self):
        return {"expiring": expiring, "mesh_parity": mesh_parity}
