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
(``_files.atomic_write``'s ``.<name>.<random>.tmp``) are removed. Standard library only, Python 3.9 (the node's python).
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

from ansible_collections.macmesh.signing.plugins.module_utils._accounts import group_id, group_name, user_id, user_name
from ansible_collections.macmesh.signing.plugins.module_utils._files import atomic_write, file_sha256, fsync_dir, is_temp_of

MODE_RE = re.compile(r"^0?[0-7]{3,4}\Z")
FILE_STATES = ("file", "present", "absent")


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


def _kind(st):
    if st is None:
        return None
    return ("directory" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode)
            else "link" if stat.S_ISLNK(st.st_mode) else "other")


def describe(path, st, want_sha256=False):
    """``{type, owner, group, mode[, sha256]}`` of ``path`` from its lstat ``st`` (``type`` None when missing)."""
    kind = _kind(st)
    if kind is None:
        return {"type": None}
    state = {"type": kind, "owner": user_name(st.st_uid), "group": group_name(st.st_gid),
             "mode": "%04o" % stat.S_IMODE(st.st_mode)}
    if want_sha256 and kind == "file":
        state["sha256"] = file_sha256(path)
    return state


def _owner_differs(entry, st):
    return st is None or entry["uid"] not in (-1, st.st_uid) or entry["gid"] not in (-1, st.st_gid)


def _attributes_differ(entry, st):
    return _owner_differs(entry, st) or stat.S_IMODE(st.st_mode) != entry["mode"]


def _set_attributes(path, entry, st=None):
    """Owner (only what differs from ``st``; a new path: what the entry sets) and mode."""
    if _owner_differs(entry, st) and (entry["uid"], entry["gid"]) != (-1, -1):
        os.chown(path, entry["uid"], entry["gid"], follow_symlinks=False)
    os.chmod(path, entry["mode"])


def _refusal(entry, st, will_exist):
    """Why ``entry`` cannot be brought to its state (None: it can); ``will_exist``: directories that exist
    or that the call creates before it."""
    path, field, kind = entry["path"], entry["field"], _kind(st)
    if entry["state"] == "directory":
        if kind not in (None, "directory"):
            return "%s.path: %s exists and is not a directory (%s); remove it by hand." % (field, path, kind)
        parent = os.path.dirname(path)
        while kind is None and parent not in will_exist:
            # Missing parents are created too, with the directory's owner, group and mode (as
            # ansible.builtin.file does): /usr/local/bin on a Mac fresh out of the box has no /usr/local.
            if os.path.isdir(parent):
                break
            if os.path.lexists(parent):
                return "%s.path: %s exists and is not a directory (%s); remove it by hand." % (
                    field, parent, _kind(_lstat(parent)))
            parent = os.path.dirname(parent)
        return None
    if kind == "directory":
        return "%s.path: %s is a directory, not a file; remove it by hand." % (field, path)
    parent = os.path.dirname(path)
    if entry["state"] != "absent" and parent not in will_exist and not os.path.isdir(parent):
        return "%s.path: the directory of %s does not exist; list it in directories." % (field, path)
    if entry["state"] == "present" and kind not in (None, "file"):
        return "%s.path: %s is a %s, not a regular file; refusing to follow it." % (field, path, kind)
    return None


def _needs_change(entry, st, before):
    if entry["state"] == "absent":
        return st is not None
    if st is None:
        return True
    if entry["state"] == "file" and _content_differs(entry, before):
        return True
    return _attributes_differ(entry, st)


def _content_differs(entry, before):
    return before["type"] != "file" or before["sha256"] != hashlib.sha256(entry["data"]).hexdigest()


def _apply(entry, st, before):
    """Write what _needs_change found; ``st`` and ``before``: the path's lstat and state as read."""
    path, parent = entry["path"], os.path.dirname(entry["path"])
    if entry["state"] == "directory":
        if st is None:
            missing = [path]
            while not os.path.isdir(os.path.dirname(missing[-1])):
                missing.append(os.path.dirname(missing[-1]))
            for created in reversed(missing):
                os.mkdir(created, 0o700)
                _set_attributes(created, entry)
        else:
            _set_attributes(path, entry, st)
    elif entry["state"] == "absent":
        os.unlink(path)
        fsync_dir(parent)
    elif entry["state"] == "file" and _content_differs(entry, before):
        # A symlink at the path is replaced by the rename, never followed.
        atomic_write(path, entry["data"], entry["mode"], entry["uid"], entry["gid"])
    elif st is None:
        # state=present, missing: created empty, never rewritten later.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.fchown(fd, entry["uid"], entry["gid"])
            os.fchmod(fd, entry["mode"])
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(parent)
    else:
        _set_attributes(path, entry, st)


def _remove_stale_temps(files):
    """Temporary files an earlier run left when it was killed between atomic_write's write and rename."""
    by_dir = {}
    for entry in files:
        by_dir.setdefault(os.path.dirname(entry["path"]), []).append(os.path.basename(entry["path"]))
    for directory, names in sorted(by_dir.items()):
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for found in entries:
            if any(is_temp_of(name, found) for name in names):
                try:
                    os.unlink(os.path.join(directory, found))
                except OSError:
                    pass


def _summary(state):
    if state.get("type") is None:
        return "absent"
    shown = ["%s %s:%s %s" % (state["type"], state.get("owner"), state.get("group"), state.get("mode"))]
    if state.get("sha256"):
        shown.append("sha256 %s" % state["sha256"])
    return " ".join(shown)


def ensure(directories, files, check_mode=False):
    """Bring the normalised ``directories`` and ``files`` (``normalise``) to their state.

    Each path is read once (lstat, and the sha256 of a managed file); every path that cannot be brought to
    its state is refused (ManagedFilesError naming the field) before anything is written. Returns
    ``{"changed": [path, ...], "before": {path: state}, "after": {path: state}}``: ``after`` is the state
    read again for a changed path (in check mode, the asked one), the state read for the others.
    OSError for what the node refuses while writing.
    """
    entries = list(directories) + list(files)
    seen = {}
    will_exist = set()
    for entry in entries:
        st = _lstat(entry["path"])
        seen[entry["path"]] = (st, describe(entry["path"], st, want_sha256=entry["state"] == "file"))
        refusal = _refusal(entry, st, will_exist)
        if refusal:
            raise ManagedFilesError(refusal)
        if entry["state"] == "directory":
            # It, and the missing parents created with it, exist for the entries after it.
            created = entry["path"]
            while created not in will_exist and not os.path.isdir(created):
                will_exist.add(created)
                created = os.path.dirname(created)
    if not check_mode:
        _remove_stale_temps(files)
    changed, before, after = [], {}, {}
    for entry in entries:
        path = entry["path"]
        st, state = seen[path]
        if entry["state"] == "directory" and st is None and not check_mode:
            # Possibly created meanwhile as the missing parent of a directory before it: read it again.
            st = _lstat(path)
            state = describe(path, st) if st is not None else state
        if not _needs_change(entry, st, state):
            after[path] = state
            continue
        changed.append(path)
        before[path] = state
        if check_mode:
            after[path] = asked(entry)
        else:
            _apply(entry, st, state)
            after[path] = describe(path, _lstat(path), want_sha256=entry["state"] == "file")
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
