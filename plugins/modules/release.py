#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: release
author:
  - macmesh.signing maintainers (@macmesh)
short_description: Read, stage, promote and retire the releases that declare the mesh's desired signing state
version_added: 0.2.0
description:
  - A release is one reviewable file, C(<releases_dir>/<version>/release.json), that names the profile manifest
    (path, version, sha256), the identities signers hold (SHA-1, name, p12 path and B(where) the passphrase comes
    from, never its value), the policy (topology, groups, thresholds) and a status (C(staged), C(current),
    C(superseded), C(retired)). C(<releases_dir>/current) names the release the mesh must run; it is replaced
    atomically.
  - Bootstrap, converge, rotate and revoke read the current release with O(state=current) and apply it; the
    rotation stages the next release, applies it canary first, and promotes it only when every region is green.
  - Without a releases directory (O(releases_dir) and C(macmesh_releases_dir) unset), O(state=current) returns the
    same document built from the inventory's role variables (C(profile_mounts_manifest), C(keychain_identities),
    C(macmesh_*) policy variables). A simple mesh may stay on plain inventory variables.
  - Runs on the controller only (an action plugin); it never contacts the node.
  - The file format is described in C(docs/architecture.md).
extends_documentation_fragment:
  - macmesh.signing.attributes
attributes:
  check_mode:
    support: none
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  state:
    description:
      - V(current) reads the current release (or O(version)) and returns the desired state.
      - V(staged) writes O(version) as a staged release on top of the current one, with O(manifest) and the new
        O(identities); the current release's identities that are not renewed stay declared until it is retired.
      - V(promoted) makes the staged O(version) current and the previous current release C(superseded).
      - V(retired) marks the superseded release O(version) retired; its carried-over identities stop being declared.
      - V(initial) writes the first release of a mesh (serial 1) and points C(current) at it.
    type: str
    default: current
    choices: [current, staged, promoted, retired, initial]
  releases_dir:
    description: The releases directory on the controller. Defaults to the variable C(macmesh_releases_dir).
    type: path
  version:
    description: The release to read or write; with O(state=current), defaults to the one C(current) names.
    type: str
  view:
    description:
      - With O(state=current), V(retire) returns the desired state as it will be once the release that O(version)
        superseded is retired (what the rotation's retire phase applies before it marks that release retired).
    type: str
    default: desired
    choices: [desired, retire]
  manifest:
    description: The frozen C(profiles.json) of the release (O(state=staged) and O(state=initial)).
    type: path
  profiles_dir:
    description: The directory holding the profile files; defaults to the directory of O(manifest).
    type: path
  identities:
    description:
      - "The identities the release adds, C([{sha1, name, p12, passphrase}]) where C(passphrase) is
        C({file: <path>}) (a vault-encrypted file) or C({var: <name>}) (a vault variable)."
      - A passphrase value is refused with a message naming the field.
    type: list
    elements: dict
    default: []
  change:
    description: The change record kept in the release (ticket, approvers, force_reason).
    type: dict
    default: {}
  policy:
    description: Policy settings for O(state=initial), or changed by O(state=staged); the rest comes from the collection defaults.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Read the desired state once for the whole play
  macmesh.signing.release:
  run_once: true
  register: macmesh_release

- name: Migrate an inventory to releases (once)
  macmesh.signing.release:
    state: initial
    releases_dir: "{{ inventory_dir }}/../releases"
    version: "2026.11"
    manifest: files/profiles/profiles.json
    identities:
      - sha1: 0123456789ABCDEF0123456789ABCDEF01234567
        name: "Apple Distribution: Example Corp (ABCDE12345)"
        p12: files/identities/distribution-2026.p12
        # Where the passphrase comes from (a vault variable), never its value.
        passphrase:
          var: vault_distribution_p12_passphrase
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
source:
  description: V(release) or V(inventory).
  returned: success
  type: str
version:
  description: The release's name (in inventory mode, the manifest's version).
  returned: success
  type: str
serial:
  description: Position of the release in the mesh's history; nodes record it, and a job refuses to take a node to a lower one.
  returned: success
  type: int
status:
  description: The release's status.
  returned: success
  type: str
sha256:
  description: Digest of the release's content (its status left out).
  returned: success
  type: str
manifest:
  description: C(path), C(profiles_dir), C(version), C(sha256), C(expires) (earliest profile expiry) and C(team_ids).
  returned: success
  type: dict
identities:
  description: The identities declared now, C([{sha1, name, src, passphrase}]); C(passphrase) is a reference, never a value.
  returned: success
  type: list
  elements: dict
declared:
  description: SHA-1 -> name of the declared identities.
  returned: success
  type: dict
retiring:
  description: SHA-1s declared only for the overlap (they go when their release is retired).
  returned: success
  type: list
  elements: str
keep_previous:
  description: Whether nodes keep the previous profile version (until the release it came from is retired).
  returned: success
  type: bool
policy:
  description: The policy, completed with the collection defaults.
  returned: success
  type: dict
layout:
  description: The node layout (paths, user, groups), from the collection defaults and C(macmesh_<key>) variables.
  returned: success
  type: dict
"""

from ansible_collections.macmesh.signing.plugins.module_utils._controller_only import refuse


def main():
    refuse("release")


if __name__ == "__main__":
    main()
