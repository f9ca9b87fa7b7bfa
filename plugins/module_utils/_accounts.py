# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The one place a node's numeric owner becomes the name the audit compares: a uid or gid with no
account is reported as its number (a string), so an orphaned file is a finding and never an error.
And the one place a name a task gives becomes the id a write sets (``user_id``/``group_id``: an
unknown name is an error naming the field). Standard library only, Python 3.9 (the node's python)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import pwd


def user_name(uid):
    """The account name of ``uid``, or the uid as a string when no account has it."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid):
    """The group name of ``gid``, or the gid as a string when no group has it."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def user_id(name, field="owner"):
    """The uid of the account ``name``; ValueError naming ``field`` when the node has no such account."""
    try:
        return pwd.getpwnam(name).pw_uid
    except (KeyError, TypeError):
        raise ValueError("%s: no user %s on this node" % (field, name))


def group_id(name, field="group"):
    """The gid of the group ``name``; ValueError naming ``field`` when the node has no such group."""
    try:
        return grp.getgrnam(name).gr_gid
    except (KeyError, TypeError):
        raise ValueError("%s: no group %s on this node" % (field, name))
