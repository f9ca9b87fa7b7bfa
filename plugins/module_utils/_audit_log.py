# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The unlock wrapper's audit log: append-only for the user it audits (issue 11).

The wrapper and ``macmesh-sign`` run as the CI user and append one JSON line per call. The log is
that user's file (it must append), in a root-owned directory (it cannot replace the file), with the
**system append-only flag** (``chflags sappnd``): while it is set nobody (root included) can truncate,
rewrite, rename or delete the file; appends still work. Only root clears it, and on a Mac running at a
securelevel above 0 only in single-user mode (BSD chflags(1)), so a sealed log's owner or mode cannot be
repaired in place there; ``ensure`` then says so.

Whether the flag is set is read by behaviour, not by ``st_flags``: opening the file for writing
without ``O_APPEND`` fails with ``EPERM`` on an append-only file (macOS and Linux alike), and
succeeds otherwise; the probe never writes. Standard library only, Python 3.9 (the node's python).
Used by the ``append_only_log`` module (the role's write), by the node reader (``signing_info``) and
by the audit's check (``log_problems``, ``WRAPPER_LOG_UNSEALED``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat

from ansible_collections.macmesh.signing.plugins.module_utils._accounts import group_id, group_name, user_id, user_name

CHFLAGS = "/usr/bin/chflags"
APPEND_FLAG = "sappnd"
CLEAR_APPEND_FLAG = "nosappnd"


class AuditLogError(Exception):
    """A log that cannot be brought to the asked state; the message names the path and the field."""


def append_only(path):
    """True when ``path`` refuses a write that does not append (the append-only flag), False otherwise.

    Opens the file for writing without ``O_APPEND`` and closes it at once: nothing is written, no
    timestamp changes. ``EPERM`` is the flag's answer; any other error (``EACCES`` for a reader that may
    not write the file at all) is raised, because it does not say.
    """
    flags = os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.EPERM:
            return True
        raise
    os.close(fd)
    return False


def read_log(path):
    """The log's state: ``path``, ``exists``, ``type``, ``owner``, ``group``, ``mode``, ``append_only``
    and ``directory`` (``path``, ``owner``, ``mode``). Raises OSError when it cannot be read."""
    directory = os.path.dirname(path) or "/"
    state = {"path": path, "exists": False, "type": None, "owner": None, "group": None, "mode": None,
             "append_only": None, "directory": None}
    try:
        dst = os.stat(directory)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
    else:
        state["directory"] = {"path": directory, "owner": user_name(dst.st_uid),
                              "mode": "%04o" % stat.S_IMODE(dst.st_mode)}
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return state
        raise
    state.update(exists=True, owner=user_name(st.st_uid),
                 group=group_name(st.st_gid), mode="%04o" % stat.S_IMODE(st.st_mode),
                 type="file" if stat.S_ISREG(st.st_mode) else ("symlink" if stat.S_ISLNK(st.st_mode) else "other"))
    if state["type"] == "file":
        state["append_only"] = append_only(path)
    return state


def log_problems(state, user):
    """Why the log is not append-only for ``user`` (empty when it is), from ``read_log``'s state."""
    problems = []
    path = state.get("path")
    directory = state.get("directory")
    if not directory:
        return ["%s: its directory does not exist" % path]
    if directory.get("owner") != "root":
        problems.append("its directory %s is owned by %s, not root: %s could replace the log"
                        % (directory.get("path"), directory.get("owner"), directory.get("owner")))
    if _mode(directory.get("mode")) & 0o022:
        problems.append("its directory %s is mode %s: users other than root could replace the log"
                        % (directory.get("path"), directory.get("mode")))
    if not state.get("exists"):
        return problems + ["%s does not exist: the wrapper refuses to run without it" % path]
    if state.get("type") != "file":
        return problems + ["%s is a %s, not a regular file" % (path, state.get("type"))]
    if state.get("owner") != user:
        problems.append("%s is owned by %s, not %s: the wrapper, run as %s, must append to it"
                        % (path, state.get("owner"), user, user))
    if _mode(state.get("mode")) & 0o022:
        problems.append("%s is mode %s: users other than its owner can write it" % (path, state.get("mode")))
    if state.get("append_only") is not True:
        problems.append("%s is not append-only (chflags %s): %s can truncate or rewrite it"
                        % (path, APPEND_FLAG, user))
    return problems


def _mode(text):
    try:
        return int(text, 8)
    except (TypeError, ValueError):
        return 0o777


def ensure(path, owner, group, mode, run_command, check_mode=False):
    """Bring the log to: a regular file owned by ``owner``:``group`` with ``mode`` (an int), append-only.

    ``run_command(argv)`` returns ``(rc, out, err)`` (the module's). Returns ``(changed, before, after)``;
    raises AuditLogError with the path and the field when the state cannot be reached. The content is
    never touched: a new log is created empty, an existing one keeps every line.
    """
    try:
        uid, gid = user_id(owner), group_id(group)
    except ValueError as exc:
        raise AuditLogError(str(exc))
    try:
        before = read_log(path)
    except OSError as exc:
        raise AuditLogError("path: %s cannot be read: %s" % (path, exc.strerror or exc))
    if before["directory"] is None:
        raise AuditLogError("path: the directory of %s does not exist" % path)
    if before["exists"] and before["type"] != "file":
        raise AuditLogError("path: %s is a %s, not a regular file; refusing to replace it" % (path, before["type"]))
    wanted = {"owner": owner, "group": group, "mode": "%04o" % mode, "append_only": True}
    attributes_wrong = before["exists"] and any(before[key] != wanted[key] for key in ("owner", "group", "mode"))
    if before["exists"] and not attributes_wrong and before["append_only"] is True:
        return False, before, before
    if check_mode:
        after = dict(before, exists=True, type="file", **wanted)
        return True, before, after
    try:
        if not before["exists"]:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
        elif attributes_wrong:
            if before["append_only"]:
                # Owner and mode of an append-only file cannot change: clear the flag, fix, set it again.
                _chflags(run_command, CLEAR_APPEND_FLAG, path)
            os.lchown(path, uid, gid)
            os.chmod(path, mode)
    except OSError as exc:
        raise AuditLogError("path: %s: %s" % (path, exc.strerror or exc))
    _chflags(run_command, APPEND_FLAG, path)
    try:
        after = read_log(path)
    except OSError as exc:
        raise AuditLogError("path: %s cannot be read after the change: %s" % (path, exc.strerror or exc))
    if after["append_only"] is not True:
        raise AuditLogError("path: chflags %s %s succeeded, but the file still accepts writes that do not append"
                            % (APPEND_FLAG, path))
    return True, before, after


def _chflags(run_command, flag, path):
    rc, out, err = run_command([CHFLAGS, flag, path])
    if rc != 0:
        hint = ""
        if flag == CLEAR_APPEND_FLAG:
            hint = ("; the file is append-only with another owner or mode, and the system flag is only cleared at "
                    "securelevel 0 (single-user mode): fix it there, or remove the log there and run the role again")
        raise AuditLogError("path: chflags %s %s failed (exit %s): %s%s"
                            % (flag, path, rc, (err or out or "").strip() or "no message", hint))
