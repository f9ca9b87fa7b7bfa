# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""A role's directories and files, each with its exact content, owner, group and mode, in one call (issue 14).

A role used to spend one task (one or two round trips) per directory and file: ``file`` for each
directory, ``copy`` for each file, ``stat`` to read a checksum back. ``ensure`` brings them all to
their state in one module run, with the same checks on every run (nothing is skipped: content by
sha256, owner, group and mode of every path, each time), so a compliant node costs one round trip and
a drifted one is repaired in the same call.

States of a file item:

- ``file``: a regular file with exactly ``content``. A new content is written to a temporary file in
  the same directory, flushed to disk, given its owner and mode, then renamed over the path (a reader
  sees the old or the new file, never half of one). A symlink at the path is replaced, never followed.
- ``present``: a regular file whose content is not managed (a log another program appends to):
  created empty when missing, owner and mode set, content never touched. A symlink is refused.
- ``absent``: no file at the path (a symlink or a file is removed; a directory is refused).

Directories are handled first, in the order given, so a file can live in a directory created by the
same call; a directory's missing parents are created with its owner, group and mode, a file's parent
must be listed or present. An owner or group set nowhere is left as it is. Every input is checked before
anything is written: one bad item changes nothing. Temporary files of an earlier, killed run
(``.<name>.macmesh-*.tmp``) are removed. Standard library only, Python 3.9 (the node's python).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import errno
import hashlib
import os
import re
import stat
import tempfile

from ansible_collections.macmesh.signing.plugins.module_utils._accounts import group_id, group_name, user_id, user_name
from ansible_collections.macmesh.signing.plugins.module_utils._digest import file_sha256

MODE_RE = re.compile(r"^0?[0-7]{3,4}\Z")
FILE_STATES = ("file", "present", "absent")
TEMP_INFIX = ".macmesh-"


class ManagedFilesError(Exception):
    """An input or a path that cannot be brought to its state; the message names the field and the path."""


def _mode(value, field):
    text = value if isinstance(value, str) else None
    if text is None or not MODE_RE.match(text):
        raise ManagedFilesError("%s: %r is not an octal mode such as 0644 (quote it in YAML)." % (field, value))
    return int(text, 8)


def _path(value, field):
    if not isinstance(value, str) or not value.startswith("/") or value.endswith("/") or "\n" in value \
            or os.path.normpath(value) != value:
        raise ManagedFilesError("%s: %r is not a normalised absolute path." % (field, value))
    return value


def _content(item, field):
    """The bytes of a ``file`` item: ``content`` (text) or ``content_b64`` (set by the action from ``src``)."""
    text, encoded = item.get("content"), item.get("content_b64")
    if (text is None) == (encoded is None):
        raise ManagedFilesError("%s: a file with state=file needs exactly one of content and src." % field)
    if text is not None:
        return text.encode("utf-8")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ManagedFilesError("%s.content_b64: not base64 data." % field)


def normalise(directories, files, owner=None, group=None, mode="0644", directory_mode="0755", dest=None):
    """Check every item and resolve owners, groups and modes; raises ManagedFilesError naming the field.

    A file's ``path`` that is a bare name (no ``/``) is a file in ``dest``.

    Returns ``(dirs, files)``: lists of dicts with ``path``, ``uid``, ``gid``, ``owner``, ``group``,
    ``mode`` (int) and, for files, ``state`` and ``data`` (bytes, state=file only).
    """
    seen = {}
    out = ([], [])
    kinds = (("directories", directories, directory_mode, out[0]), ("files", files, mode, out[1]))
    for kind, items, default_mode, target in kinds:
        for index, item in enumerate(items or []):
            field = "%s[%d]" % (kind, index)
            if not isinstance(item, dict):
                raise ManagedFilesError("%s: %r is not a dictionary with a path." % (field, item))
            path = item.get("path")
            if kind == "files" and isinstance(path, str) and path and "/" not in path:
                if not dest:
                    raise ManagedFilesError("%s.path: %r is a bare name, and the task sets no dest for it." % (
                        field, path))
                path = os.path.join(_path(dest, "dest"), path)
            path = _path(path, field + ".path")
            if path in seen:
                # A directory two paths share (a wrapper and its signing entry point in one bin directory)
                # is listed once per path by the role: the same item twice is one item.
                if kind == "directories" and item == seen[path][1]:
                    continue
                raise ManagedFilesError("%s.path: %s is already %s." % (field, path, seen[path][0]))
            seen[path] = (field, item)
            state = item.get("state") or "file" if kind == "files" else "directory"
            if kind == "files" and state not in FILE_STATES:
                raise ManagedFilesError("%s.state: %r is not one of %s." % (field, state, ", ".join(FILE_STATES)))
            entry = {"path": path, "state": state, "field": field}
            if state != "absent":
                # An owner or group set nowhere is left as it is (a new path gets the module's: root's).
                entry["owner"] = item.get("owner") or owner
                entry["group"] = item.get("group") or group
                try:
                    entry["uid"] = user_id(entry["owner"], field + ".owner") if entry["owner"] else -1
                    entry["gid"] = group_id(entry["group"], field + ".group") if entry["group"] else -1
                except ValueError as exc:
                    raise ManagedFilesError(str(exc))
                entry["mode"] = _mode(item.get("mode") or default_mode, field + ".mode")
            if state == "file":
                entry["data"] = _content(item, field)
            elif item.get("content") is not None or item.get("content_b64") is not None:
                raise ManagedFilesError("%s: state=%s takes no content." % (field, state))
            target.append(entry)
    return out


def _lstat(path):
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def describe(path, want_sha256=False):
    """``{type, owner, group, mode[, sha256]}`` of ``path`` as it is (``type`` None when missing)."""
    st = _lstat(path)
    if st is None:
        return {"type": None}
    kind = ("directory" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode)
            else "link" if stat.S_ISLNK(st.st_mode) else "other")
    state = {"type": kind, "owner": user_name(st.st_uid), "group": group_name(st.st_gid),
             "mode": "%04o" % stat.S_IMODE(st.st_mode)}
    if want_sha256 and kind == "file":
        state["sha256"] = file_sha256(path)
    return state


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(directory, names, check_mode):
    """Temporary files an earlier run left when it was killed between write and rename."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        for name in names:
            if entry.startswith("." + name + TEMP_INFIX) and entry.endswith(".tmp"):
                if not check_mode:
                    try:
                        os.unlink(os.path.join(directory, entry))
                    except OSError:
                        pass


def _write(entry):
    directory, name = os.path.split(entry["path"])
    fd, tmp = tempfile.mkstemp(prefix="." + name + TEMP_INFIX, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(entry["data"])
            handle.flush()
            os.fchown(handle.fileno(), entry["uid"], entry["gid"])
            os.fchmod(handle.fileno(), entry["mode"])
            os.fsync(handle.fileno())
        os.rename(tmp, entry["path"])
        _fsync_dir(directory)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _owner_differs(entry, st):
    return entry["uid"] not in (-1, st.st_uid) or entry["gid"] not in (-1, st.st_gid)


def _set_attributes(entry, st):
    if _owner_differs(entry, st):
        os.chown(entry["path"], entry["uid"], entry["gid"], follow_symlinks=False)
    if stat.S_IMODE(st.st_mode) != entry["mode"]:
        os.chmod(entry["path"], entry["mode"])


def _attributes_differ(entry, st):
    return _owner_differs(entry, st) or stat.S_IMODE(st.st_mode) != entry["mode"]


def _fix_attributes(entry, st, check_mode):
    """Owner, group and mode of an existing path put right; True when they were (would be) changed."""
    if not _attributes_differ(entry, st):
        return False
    if not check_mode:
        _set_attributes(entry, st)
    return True


def _ensure_directory(entry, check_mode, pending):
    path = entry["path"]
    st = _lstat(path)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ManagedFilesError("%s.path: %s exists and is not a directory (%s); remove it by hand." % (
            entry["field"], path, describe(path)["type"]))
    if st is None:
        # Missing parents are created too, with the directory's owner, group and mode (as
        # ansible.builtin.file does): /usr/local/bin on a Mac fresh out of the box has no /usr/local.
        missing = [path]
        while True:
            parent = os.path.dirname(missing[-1])
            if parent in pending or os.path.isdir(parent):
                break
            if os.path.lexists(parent):
                raise ManagedFilesError("%s.path: %s exists and is not a directory (%s); remove it by hand." % (
                    entry["field"], parent, describe(parent)["type"]))
            missing.append(parent)
        for created in reversed(missing):
            if not check_mode:
                os.mkdir(created, 0o700)
                os.chown(created, entry["uid"], entry["gid"], follow_symlinks=False)
                os.chmod(created, entry["mode"])
            pending.add(created)
        return True
    return _fix_attributes(entry, st, check_mode)


def _ensure_file(entry, check_mode, pending):
    path = entry["path"]
    parent = os.path.dirname(path)
    st = _lstat(path)
    if entry["state"] != "absent" and parent not in pending and not os.path.isdir(parent):
        raise ManagedFilesError("%s.path: the directory of %s does not exist; list it in directories." % (
            entry["field"], path))
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise ManagedFilesError("%s.path: %s is a directory, not a file; remove it by hand." % (entry["field"], path))
    if entry["state"] == "absent":
        if st is None:
            return False
        if not check_mode:
            os.unlink(path)
            _fsync_dir(parent)
        return True
    if st is not None and not stat.S_ISREG(st.st_mode) and entry["state"] == "present":
        raise ManagedFilesError("%s.path: %s is a %s, not a regular file; refusing to follow it." % (
            entry["field"], path, describe(path)["type"]))
    if entry["state"] == "present":
        if st is None:
            if not check_mode:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
                try:
                    os.fchown(fd, entry["uid"], entry["gid"])
                    os.fchmod(fd, entry["mode"])
                    os.fsync(fd)
                finally:
                    os.close(fd)
                _fsync_dir(parent)
            return True
        return _fix_attributes(entry, st, check_mode)
    # state=file: content by sha256, then owner, group and mode.
    if st is None or not stat.S_ISREG(st.st_mode) or file_sha256(path) != hashlib.sha256(entry["data"]).hexdigest():
        if not check_mode:
            _write(entry)
        return True
    return _fix_attributes(entry, st, check_mode)


def _summary(state):
    if state.get("type") is None:
        return "absent"
    shown = ["%s %s:%s %s" % (state["type"], state.get("owner"), state.get("group"), state.get("mode"))]
    if state.get("sha256"):
        shown.append("sha256 %s" % state["sha256"])
    return " ".join(shown)


def ensure(directories, files, check_mode=False):
    """Bring the normalised ``directories`` and ``files`` (``normalise``) to their state.

    Returns ``{"changed": [path, ...], "before": {path: state}, "after": {path: state}}`` (``after`` is
    what the paths would be in check mode for the changed ones: the asked state). Raises
    ManagedFilesError naming the field when a path cannot be brought to its state (nothing after it is
    touched), OSError for what the node refuses.
    """
    changed, before, after = [], {}, {}
    pending = set()
    for entry in directories:
        state = describe(entry["path"])
        if _ensure_directory(entry, check_mode, pending):
            changed.append(entry["path"])
            before[entry["path"]] = state
    by_dir = {}
    for entry in files:
        by_dir.setdefault(os.path.dirname(entry["path"]), []).append(os.path.basename(entry["path"]))
    for directory, names in sorted(by_dir.items()):
        _remove_stale_temps(directory, names, check_mode)
    for entry in files:
        state = describe(entry["path"], want_sha256=True)
        if _ensure_file(entry, check_mode, pending):
            changed.append(entry["path"])
            before[entry["path"]] = state
    for entry in list(directories) + list(files):
        path = entry["path"]
        if check_mode and path in before:
            after[path] = asked(entry)
        else:
            after[path] = describe(path, want_sha256=entry.get("state") == "file")
    return {"changed": changed, "before": before, "after": after}


def asked(entry):
    """The state an entry asks for, in the shape of ``describe``."""
    if entry["state"] == "absent":
        return {"type": None}
    # Names through the same normaliser as describe (a gid two group names share reads the same both sides).
    state = {"type": "file" if entry["state"] in ("file", "present") else "directory",
             "owner": user_name(entry["uid"]) if entry["uid"] != -1 else "(unchanged)",
             "group": group_name(entry["gid"]) if entry["gid"] != -1 else "(unchanged)",
             "mode": "%04o" % entry["mode"]}
    if entry["state"] == "file":
        state["sha256"] = hashlib.sha256(entry["data"]).hexdigest()
    return state


def diff(result):
    """Ansible's before/after diff of the changed paths: one line each, never a file's content."""
    paths = result["changed"]
    return {"before": "".join("%s: %s\n" % (path, _summary(result["before"][path])) for path in paths),
            "after": "".join("%s: %s\n" % (path, _summary(result["after"][path])) for path in paths)}
