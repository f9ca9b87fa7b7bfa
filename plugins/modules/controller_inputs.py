#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: controller_inputs
short_description: Stop the run when the controller cannot read a playbook's inputs
version_added: 1.0.0
description:
  - Checks on the controller that each of O(inputs) can be read (a file, a JSON object, a directory).
  - When one cannot, or O(error) is set, the task result is marked B(unreachable), not failed, and
    names every unreadable input. C(ansible-playbook) then exits with status 4 instead of 2, so that a
    scheduler tells "nothing was audited" from "not compliant"; when the play's only host is
    C(localhost), the playbook ends there, before any node is touched.
  - The converge playbook (C(macmesh.signing.converge)) reads its desired state (M(macmesh.signing.release))
    in a first play on C(localhost) and calls this module in the C(rescue) of that read.
  - This is an action plugin; it runs on the controller only and never connects to a node.
author:
  - macmesh.signing maintainers (@macmesh)
extends_documentation_fragment:
  - macmesh.signing.attributes
attributes:
  check_mode:
    support: full
    details: Only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  inputs:
    description: The inputs to read.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: What the input is, for the message (for example the variable that names it).
        type: str
        required: true
      path:
        description: Its path on the controller. Empty or unset counts as unreadable.
        type: str
      kind:
        description: C(file) (readable), C(json) (a JSON object), C(dir) (a readable directory).
        type: str
        default: file
        choices: [file, json, dir]
  error:
    description:
      - An error already met while resolving the inputs (for example C(ansible_failed_result.msg) in a
        C(rescue) after a lookup failed); it stops the run the same way.
    type: str
"""

EXAMPLES = r"""
- name: Check the inputs of a play (an unreadable one stops the run with exit 4)
  macmesh.signing.controller_inputs:
    inputs:
      - name: profile_mounts_manifest
        path: "{{ profile_mounts_manifest }}"
        kind: json
      - name: profile_mounts_src
        path: "{{ profile_mounts_src }}"
        kind: dir

- name: Read the desired state; any failure to read it stops the run with exit 4
  block:
    - name: Read the desired state
      macmesh.signing.release:
      register: converge_release
  rescue:
    - name: Stop the run, an input cannot be read
      macmesh.signing.controller_inputs:
        error: "{{ ansible_failed_result.msg }}"
"""

RETURN = r"""
problems:
  description: One line per unreadable input (empty when all read).
  returned: always
  type: list
  elements: str
  sample: ["profile_mounts_manifest: /runner/inventory/files/profiles/profiles.json: no such file"]
"""
