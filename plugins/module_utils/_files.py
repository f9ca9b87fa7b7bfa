# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""How the collection reads and writes one file, on the nodes and on the controller alike: the sha256 the
checks compare, and the atomic write (temporary file in the same directory, fsync, rename, fsync of the
directory) every writer uses. Small and standard library only, Python 3.9 (the node's python), so that a
module that writes one file does not carry the release or manifest code with it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re
import tempfile

# mkstemp's random part: 8 characters of [a-z0-9_].
_TEMP_RE = r"^\.%s\.[a-z0-9_]{8}\.tmp\Z"


def file_sha256(path):
    """The sha256 hex digest of the file at ``path``, read in blocks; OSError when it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path, text, mode=0o644, uid=-1, gid=-1):
    """Write ``text`` (str, as UTF-8, or bytes) to ``path`` so that a reader sees the old or the new file,
    never half of one; the new file gets ``mode`` and, when given, ``uid``/``gid`` before it is renamed in."""
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.rename(tmp, path)
        fsync_dir(directory)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def fsync_dir(directory):
    """Flush a directory's entries (a rename or unlink in it) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_temp_of(name, entry):
    """Whether directory entry ``entry`` is a temporary file atomic_write left for file ``name`` when it was killed."""
    return re.match(_TEMP_RE % re.escape(name), entry) is not None
