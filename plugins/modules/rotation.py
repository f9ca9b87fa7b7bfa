#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rotation
author:
  - macmesh.signing maintainers (@macmesh)
short_description: Gate, plan and close a rotation, a retire or a revocation of the mesh's signing material
version_added: 0.2.0
description:
  - The decisions of C(macmesh.signing.rotate) and C(macmesh.signing.revoke), on the controller; the playbooks only
    sequence them. Each refusal fails the task with a message that starts with C(REFUSED:) and names the variable to fix.
  - O(step=gate), before any node is read. It checks the change ticket and the two distinct approvers (and the reason
    of a forced run), then stages the target release. V(rotate) stages the new manifest and identities, the old ones kept
    through the overlap. V(retire) takes the current release without the superseded release's material. V(revoke) takes
    the current release without the compromised identities. Returns C(gate), C(target) and C(base) (the current
    release), and C(verify_sha1), the identity the nodes verify with.
  - O(step=plan), after every node was read. It places the run in the window policy and refuses unread regions that
    are not excluded. It puts the canary region first and the other regions in batches; a retire also needs every
    target to run the current release. Returns C(plan).
  - O(step=close), after the nodes ran. It summarises per host and region (time to green). Only when every non-excluded
    region is green it promotes the staged release (C(releases/current) moves), or marks the superseded release retired.
    Returns C(summary), C(report), C(current), C(event), C(lines) and C(incomplete).
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
  step:
    description: Which decision to take.
    type: str
    required: true
    choices: [gate, plan, close]
  phase:
    description: V(rotate), V(retire) or V(revoke).
    type: str
    default: rotate
  releases_dir:
    description: The releases directory. Default - C(macmesh_releases_dir).
    type: path
  ticket:
    description: The change ticket (C(rotate_ticket)).
    type: raw
  approvers:
    description: Exactly two distinct people, a list or a comma-separated string (C(rotate_approvers)).
    type: raw
  force:
    description: Override the window policy (C(rotate_force)); needs O(force_reason).
    type: raw
    default: false
  force_reason:
    description: Why the window policy is overridden, recorded in the release and the report.
    type: str
  version:
    description: The name of the release to stage. Default - the new manifest's version (rotate), C(<current>-revoke-<ticket>) (revoke).
    type: str
  manifest:
    description: The new frozen C(profiles.json) (rotate).
    type: path
  profiles_dir:
    description: The directory holding the new profiles. Default - the manifest's directory.
    type: path
  identities:
    description:
      - "The new identities (rotate) or the replacements (revoke), C([{sha1, name, p12, passphrase}]) with C(passphrase)
        C({file: <path>}) or C({var: <name>}) - never the value."
    type: raw
    default: []
  compromised:
    description: The SHA-1s of the compromised certificates (revoke).
    type: raw
    default: []
  gate:
    description: The registered result of O(step=gate) (plan, close).
    type: dict
  hosts:
    description: The mesh. Default - the layout's mesh group.
    type: list
    elements: str
  reads_var:
    description: The variable each node registered its signing_info read in (plan).
    type: str
    default: rotate_read
  exclude_regions:
    description: Regions left out of the run (they keep the release they run).
    type: raw
    default: []
  canary_region:
    description: The region that goes first.
    type: str
    default: hk
  serial:
    description: Nodes per batch after the canary, a number or a percentage.
    type: raw
    default: 2
  window_min_days:
    description:
      - The fewest days before the old material's expiry a rotation runs in. Default - 7.
      - O(step=plan) judges the window on the earliest expiry of the old profiles and the certificates the nodes hold.
        O(step=gate) already refuses, before any node is read, a rotation whose current manifest alone expires in
        fewer days (the nodes' certificates can only make the expiry earlier), and window bounds that contradict.
    type: raw
  window_max_days:
    description: The most days before the old material's expiry a rotation runs in. Default - 14.
    type: raw
notes:
  - The per-node outcomes that O(step=close) summarises are the facts C(rotate_outcome), C(rotate_message),
    C(rotate_touched), C(rotate_started_epoch) and C(rotate_green_epoch) that C(playbooks/tasks/rotate_node.yml) sets.
"""

EXAMPLES = r"""
- name: Check the ticket and the approvers, then stage the next release
  macmesh.signing.rotation:
    step: gate
    ticket: CHG-1234
    approvers: [alice, bob]
    manifest: files/profiles-2026.12/profiles.json
    identities:
      - sha1: 0123456789ABCDEF0123456789ABCDEF01234567
        p12: files/identities/distribution-2026.12.p12
        # Where the passphrase comes from (a vault variable), never its value.
        passphrase:
          var: vault_distribution_2026_12_passphrase
  register: rotate_gate
"""

RETURN = r"""
gate:
  description: The change record (ticket, approvers, forced, force_reason, started_at, phase).
  returned: step=gate
  type: dict
target:
  description: The release the nodes are taken to (as M(macmesh.signing.release) returns it).
  returned: step=gate
  type: dict
base:
  description: The current release (the rollback target).
  returned: step=gate
  type: dict
plan:
  description: C(targets), C(excluded), C(canary), C(batches), C(region_of), C(window).
  returned: step=plan
  type: dict
summary:
  description: Per host and per region outcome, version and time to green.
  returned: step=close
  type: dict
report:
  description: The rotation.json (or revoke.json) document.
  returned: step=close
  type: dict
current:
  description: The release that is current after the close.
  returned: step=close
  type: dict
"""

from ansible_collections.macmesh.signing.plugins.module_utils._controller_only import refuse


def main():
    refuse("rotation")


if __name__ == "__main__":
    main()
