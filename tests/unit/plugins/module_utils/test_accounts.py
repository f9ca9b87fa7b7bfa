# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import pwd

from ansible_collections.macmesh.signing.plugins.module_utils._accounts import group_name, user_name


def _free_id(lookup):
    candidate = 4000000
    while True:
        try:
            lookup(candidate)
        except KeyError:
            return candidate
        candidate += 1


def test_known_ids_become_their_names():
    assert user_name(0) == pwd.getpwuid(0).pw_name
    assert group_name(0) == grp.getgrgid(0).gr_name


def test_an_id_without_an_account_is_its_number_as_a_string():
    uid, gid = _free_id(pwd.getpwuid), _free_id(grp.getgrgid)
    assert user_name(uid) == str(uid)
    assert group_name(gid) == str(gid)
