# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The one way a node's file becomes the sha256 the checks compare (the reader and the file writer).
Standard library only, Python 3.9 (the node's python)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib


def file_sha256(path):
    """The sha256 hex digest of the file at ``path``, read in blocks; OSError when it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()
