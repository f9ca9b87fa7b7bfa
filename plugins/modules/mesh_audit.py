#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mesh_audit
author:
  - macmesh.signing maintainers (@macmesh)
short_description: Evaluate every node's signing read against the current release
version_added: 0.2.0
description:
  - Runs on the controller, once per audit. It collects every node's registered M(macmesh.signing.signing_info)
    result, with the secret scan it ran (its O(macmesh.signing.signing_info#module:secret_scan) option, the converge's
    one call per node) or else a separately registered M(macmesh.signing.secret_scan) result, and builds the expected
    state from the release (manifest, declared identities, policy, layout, the shipped wrapper's sha256). It then evaluates the mesh with the same checks as the
    P(macmesh.signing.mesh_parity#filter) filter.
  - Returns the verdict, the facts the report shows, and the repair plan for enforce mode. The plan lists the nodes
    with error findings that a re-apply of the roles fixes. It leaves alone the nodes that run a newer release or
    hold a stray secret, and names them.
  - An unreachable node or a failed read is a finding for that node and region; the others are still evaluated.
extends_documentation_fragment:
  - macmesh.signing.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  release:
    description: The result of M(macmesh.signing.release).
    type: dict
    required: true
  hosts:
    description: The hosts audited. Default - the layout's mesh group.
    type: list
    elements: str
  signing_var:
    description: The variable each host registered its signing_info result in.
    type: str
    default: macmesh_signing
  secrets_var:
    description:
      - The variable each host registered a separate M(macmesh.signing.secret_scan) result in.
      - Only used for a host whose signing_info result has no C(secret_scan) of its own.
    type: str
    default: macmesh_secrets
  per_runner_identities:
    description: Host -> SHA-1s it holds, for the C(per_runner) topology.
    type: dict
    default: {}
  certificate_expiry:
    description: SHA-1 -> expiry, the fallback for reads without certificates.
    type: dict
    default: {}
  wrapper_sha256:
    description: The unlock wrapper's expected sha256. Default - the hash of the wrapper the collection ships.
    type: str
  before:
    description: The parity of the audit before repairs (enforce), for the summary line.
    type: dict
  correlation_id:
    description: The audit's correlation id (reports, logs). Default - C(converge-<UTC time>-<8 random characters>).
    type: str
  bootstrap:
    description:
      - Also decide which hosts the bootstrap may take through its fast path (RV(bootstrap)) - a host without an error
        finding, without a fact it could not read, that records the current release, whose profile store (the read's
        C(profile_store) part) is what the profile_mounts role leaves, and whose role inputs are the release's.
    type: dict
    suboptions:
      full:
        description: Every host gets every role (C(macmesh_bootstrap_full=true)).
        type: bool
        default: false
      inputs:
        description:
          - Variable name -> the value the release gives it. A host where the variable is set to another value (an
            extra var, a host var) gets every role.
        type: dict
        default: {}
      keep_previous:
        description: Whether the release keeps the previous profile version (C(previous) link) for rollback.
        type: bool
        default: true
"""

EXAMPLES = r"""
- name: Evaluate the mesh against the release
  macmesh.signing.mesh_audit:
    release: "{{ hostvars[groups['mesh'] | first].macmesh_release }}"
  register: converge_audit
"""

RETURN = r"""
parity:
  description: The P(macmesh.signing.mesh_parity#filter) result (findings, hosts, regions, summary, ok).
  returned: success
  type: dict
facts:
  description: Host -> the read that was evaluated (the scan's findings as C(secrets), in place of C(secret_scan)).
  returned: success
  type: dict
report_facts:
  description: The same with C(region) and C(tier), as M(macmesh.signing.compliance_report) shows them.
  returned: success
  type: dict
expected:
  description: The expected state that was checked (without the manifest's profile list).
  returned: success
  type: dict
plan:
  description:
    - C(repair) (hosts to repair), C(roles) (host -> the roles enforce re-applies there, the owners of its finding
      codes), C(refused) (host -> codes enforce leaves alone), C(clock) (clocks to step).
  returned: success
  type: dict
summary:
  description: The one-line verdict.
  returned: success
  type: str
errors:
  description: C("<host> <code>") of every error finding.
  returned: success
  type: list
  elements: str
correlation_id:
  description: The audit's correlation id.
  returned: success
  type: str
bootstrap:
  description:
    - C(fast) (hosts that skip the roles in C(skips)), C(full) (host -> why it gets every role) and C(skips).
  returned: when O(bootstrap) is set
  type: dict
  sample:
    fast: [hk-mini-1]
    full: {us-mini-1: ["records release None (serial None), current is 2026.12-r1 (serial 3)"]}
    skips: [profile_mounts, search_list]
wrapper_sha256:
  description: The wrapper sha256 that was expected.
  returned: success
  type: str
"""

from ansible_collections.macmesh.signing.plugins.module_utils._controller_only import refuse


def main():
    refuse("mesh_audit", supports_check_mode=True)


if __name__ == "__main__":
    main()
