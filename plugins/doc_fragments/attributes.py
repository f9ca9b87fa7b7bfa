# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Attributes documented once for every module of macmesh.signing.

Use C(macmesh.signing.attributes) for the descriptions and declare C(support) per module, plus
C(macmesh.signing.attributes.darwin) for modules that run on the macOS nodes and
C(macmesh.signing.attributes.info_module) for read-only modules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
"""

    # Modules that run on the macOS signing nodes.
    DARWIN = r"""
options: {}
attributes:
  platform:
    platforms: darwin
"""

    # Modules that only read; use together with the default fragment.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
"""
