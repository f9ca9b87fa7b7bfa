# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Release filters: ``release_node_state`` and ``release_guard`` (docs in the sidecar .yml files)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.module_utils import _release


def _desired(value, name):
    if not isinstance(value, Mapping) or not isinstance(value.get("manifest"), Mapping) or "identities" not in value:
        raise AnsibleFilterError("macmesh.signing.%s: expects the result of macmesh.signing.release" % name)
    return value


def release_node_state(desired, signer=True):
    """The document a node records after it reached ``desired`` (no timestamps: re-runs write the same bytes)."""
    return _release.node_state(_desired(desired, "release_node_state"), bool(signer))


def release_guard(recorded, desired, host, allow_downgrade=False, ticket=None):
    """'' when the job may apply ``desired`` to the node that recorded ``recorded``, else the refusal message.

    ``recorded`` is the node's record as a mapping, its JSON text (an empty text: no record), or null.
    """
    if isinstance(recorded, str):
        try:
            recorded = json.loads(recorded) if recorded.strip() else None
        except ValueError:
            # An unreadable record protects nothing; the job rewrites it.
            recorded = None
    if recorded is not None and not isinstance(recorded, Mapping):
        raise AnsibleFilterError("macmesh.signing.release_guard: the node record must be a mapping, its JSON text or null")
    return _release.guard(str(host), recorded, _desired(desired, "release_guard"), bool(allow_downgrade), ticket) or ""


class FilterModule(object):
    """Release filters."""

    def filters(self):
        return {"release_node_state": release_node_state, "release_guard": release_guard}
