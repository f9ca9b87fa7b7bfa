# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The manifest filters: ``manifest_sha`` and ``profile_map``.

Their documentation lives in the sidecar files ``manifest_sha.yml`` and ``profile_map.yml``:
ansible-doc reads a filter's docs from the file named after the filter when one plugin file
defines several filters.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.module_utils._manifest import profiles_sha256
from ansible_collections.macmesh.signing.plugins.module_utils._parity import (
    ParityInputError,
    current_time,
    to_utc,
)

_BY = ("uuid", "name")
_ENTRY_KEYS = ("uuid", "name", "team_id", "bundle_id", "expires")


def _fail(name, message):
    raise AnsibleFilterError("macmesh.signing.%s: %s" % (name, message))


def _type_name(value):
    return "null" if value is None else type(value).__name__


def _plain(value):
    """A copy made of plain dict/list/str values, so hashing sees exactly what JSON would hold."""
    if isinstance(value, Mapping):
        return dict((str(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    return value


def _profiles(data, name):
    """The profile list of a manifest v1 dict, or the list itself."""
    if isinstance(data, Mapping):
        if "profiles" not in data:
            _fail(name, "the manifest has no 'profiles' key")
        data = data["profiles"]
        where = "_input.profiles"
    else:
        where = "_input"
    if not isinstance(data, (list, tuple)):
        _fail(name, "%s must be a manifest (dict) or its list of profiles, not %s" % (where, _type_name(data)))
    for index, entry in enumerate(data):
        if not isinstance(entry, Mapping):
            _fail(name, "%s[%d] must be a dict, not %s" % (where, index, _type_name(entry)))
    return data, where


def manifest_sha(data):
    """sha256 of a manifest's profile list, as ``_manifest.profiles_sha256`` computes it."""
    profiles, _where = _profiles(data, "manifest_sha")
    return profiles_sha256(_plain(list(profiles)))


def _targets(targets):
    """``[(target name, bundle id)]`` from a list of {name, bundle_id} or a dict name -> bundle id."""
    if isinstance(targets, Mapping):
        pairs = [(name, bundle_id, "targets[%r]" % (name,)) for name, bundle_id in targets.items()]
    elif isinstance(targets, (list, tuple)):
        pairs = []
        for index, target in enumerate(targets):
            if not isinstance(target, Mapping):
                _fail("profile_map", "targets[%d] must be a dict with name and bundle_id, not %s"
                      % (index, _type_name(target)))
            pairs.append((target.get("name"), target.get("bundle_id"), "targets[%d]" % index))
    else:
        _fail("profile_map", "targets must be a list of {name, bundle_id} or a dict of name -> bundle id, not %s"
              % _type_name(targets))
    if not pairs:
        _fail("profile_map", "targets must not be empty")
    seen = set()
    result = []
    for name, bundle_id, where in pairs:
        if not isinstance(name, str) or not name:
            _fail("profile_map", "%s name must be a non-empty string, not %r" % (where, name))
        if not isinstance(bundle_id, str) or not bundle_id or "*" in bundle_id:
            _fail("profile_map", "%s bundle_id must be a concrete bundle id (no wildcard), not %r" % (where, bundle_id))
        if name in seen:
            _fail("profile_map", "%s names target %r twice" % (where, name))
        seen.add(name)
        result.append((str(name), str(bundle_id)))
    return result


def _specificity(pattern, bundle_id):
    """How precisely an App ID pattern matches a bundle id: None (no match), exact beats longer prefix."""
    if pattern == bundle_id:
        return (2, len(pattern))
    if pattern == "*":
        return (1, 0)
    if pattern.endswith(".*") and bundle_id.startswith(pattern[:-1]):
        return (1, len(pattern))
    return None


def profile_map(manifest, targets, team_id=None, by="uuid", now=None):
    """Pick one profile per app target and build exportOptions' ``provisioningProfiles``."""
    profiles, where = _profiles(manifest, "profile_map")
    if team_id is not None and (not isinstance(team_id, str) or not team_id):
        _fail("profile_map", "team_id must be a non-empty string, not %r" % (team_id,))
    if by not in _BY:
        _fail("profile_map", "by must be one of %s, not %r" % (", ".join(_BY), by))
    try:
        moment = current_time(now, "now")
    except ParityInputError as exc:
        _fail("profile_map", str(exc))
    wanted = _targets(targets)

    candidates = []
    for index, entry in enumerate(profiles):
        for key in _ENTRY_KEYS:
            if not isinstance(entry.get(key), str):
                _fail("profile_map", "%s[%d].%s must be a string, not %s"
                      % (where, index, key, _type_name(entry.get(key))))
        if team_id is not None and entry["team_id"] != team_id:
            continue
        try:
            expires = to_utc(entry["expires"], "%s[%d].expires" % (where, index))
        except ParityInputError as exc:
            _fail("profile_map", str(exc))
        candidates.append((entry, expires, expires > moment))

    chosen = {}
    unmatched = []
    for name, bundle_id in wanted:
        best = None
        for entry, expires, valid in candidates:
            specificity = _specificity(entry["bundle_id"], bundle_id)
            if specificity is None:
                continue
            # A valid profile beats an expired one; then exact beats wildcard; then the latest expiry.
            rank = (valid, specificity, expires, entry["uuid"])
            if best is None or rank > best[0]:
                best = (rank, entry, valid)
        if best is None:
            unmatched.append("%s (%s)" % (name, bundle_id))
            continue
        _rank, entry, valid = best
        chosen[name] = {
            "bundle_id": bundle_id,
            "uuid": str(entry["uuid"]),
            "name": str(entry["name"]),
            "specifier": str(entry[by]),
            "app_id_pattern": str(entry["bundle_id"]),
            "expires": str(entry["expires"]),
            "expired": not valid,
        }
    if unmatched:
        scope = " of team %s" % team_id if team_id is not None else ""
        _fail("profile_map", "no provisioning profile%s matches %d target(s): %s"
              % (scope, len(unmatched), ", ".join(unmatched)))
    return {
        "targets": chosen,
        "provisioningProfiles": dict((item["bundle_id"], item["specifier"]) for item in chosen.values()),
    }


class FilterModule(object):
    """Manifest hashing and target-to-profile mapping filters."""

    def filters(self):
        return {"manifest_sha": manifest_sha, "profile_map": profile_map}
