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


def refuse(name, supports_check_mode=False):
    module = AnsibleModule(argument_spec={}, supports_check_mode=supports_check_mode)
    module.fail_json(msg="macmesh.signing.%s runs on the controller through its action plugin only." % name)
