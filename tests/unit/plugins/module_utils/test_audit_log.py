# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The wrapper log's append-only state (module_utils/_audit_log.py) and the append_only_log module.

The flag itself is real where this machine can set it: as root on a file system with Linux's append-only
inode flag (``chattr +a``, what the lab's ``chflags sappnd`` sets), which refuses a write-open without
O_APPEND with EPERM exactly as macOS's ``sappnd`` does. Elsewhere those tests are skipped.
"""

import grp
import json
import os
import pwd
import shutil
import subprocess

import pytest
from ansible_collections.macmesh.signing.tests.unit.compat import patch_module_args

from ansible_collections.macmesh.signing.plugins.module_utils import _audit_log
from ansible_collections.macmesh.signing.plugins.modules import append_only_log

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def _chattr(flag, path):
    return subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True, check=False)


def _can_set_append(tmp_path):
    if os.geteuid() != 0 or not shutil.which("chattr"):
        return False
    probe = tmp_path / ".probe"
    probe.write_text("")
    ok = _chattr("+a", probe).returncode == 0
    if ok:
        _chattr("-a", probe)
    probe.unlink()
    return ok


@pytest.fixture
def appendable(tmp_path):
    if not _can_set_append(tmp_path):
        pytest.skip("needs root and a file system with the append-only inode flag (chattr +a)")
    made = []
    yield made
    for path in made:
        _chattr("-a", path)


class FakeChflags:
    """/usr/bin/chflags as the lab's emulator does it: sappnd -> chattr +a, nosappnd -> chattr -a."""

    def __init__(self, made, fail=None):
        self.made = made
        self.calls = []
        self.fail = fail

    def __call__(self, argv):
        self.calls.append(list(argv))
        assert argv[0] == _audit_log.CHFLAGS and len(argv) == 3
        if self.fail:
            return 1, "", self.fail
        proc = _chattr({"sappnd": "+a", "nosappnd": "-a"}[argv[1]], argv[2])
        self.made.append(argv[2])
        return proc.returncode, proc.stdout, proc.stderr


def test_read_log_of_a_plain_file(tmp_path):
    log = tmp_path / "logs" / "unlock.log"
    log.parent.mkdir()
    log.write_text('{"a": 1}\n')
    log.chmod(0o640)
    state = _audit_log.read_log(str(log))
    assert state == {"path": str(log), "exists": True, "type": "file", "owner": ME, "group": MY_GROUP, "mode": "0640",
                     "append_only": False, "directory": {"path": str(log.parent), "owner": ME, "mode": "0755"}}
    # The probe never writes.
    assert log.read_text() == '{"a": 1}\n'


def test_read_log_missing_file_and_directory(tmp_path):
    state = _audit_log.read_log(str(tmp_path / "unlock.log"))
    assert state["exists"] is False and state["append_only"] is None and state["directory"]["path"] == str(tmp_path)
    assert _audit_log.read_log(str(tmp_path / "none" / "unlock.log"))["directory"] is None


def test_read_log_of_a_symlink_is_not_followed(tmp_path):
    target = tmp_path / "target"
    target.write_text("")
    (tmp_path / "unlock.log").symlink_to(target)
    state = _audit_log.read_log(str(tmp_path / "unlock.log"))
    assert state["type"] == "symlink" and state["append_only"] is None


def test_the_probe_sees_the_append_only_flag(tmp_path, appendable):
    log = tmp_path / "unlock.log"
    log.write_text("line\n")
    assert _chattr("+a", log).returncode == 0
    appendable.append(str(log))
    assert _audit_log.append_only(str(log)) is True
    # Appending still works (what the wrapper does); rewriting does not.
    with open(str(log), "a") as handle:
        handle.write("more\n")
    with pytest.raises(PermissionError):
        open(str(log), "w")
    assert log.read_text() == "line\nmore\n"


SEALED = {"path": "/L/unlock.log", "exists": True, "type": "file", "owner": "ci-build", "group": "staff", "mode": "0640",
          "append_only": True, "directory": {"path": "/L", "owner": "root", "mode": "0755"}}


@pytest.mark.parametrize("change, expected", [
    ({}, []),
    ({"append_only": False}, ["/L/unlock.log is not append-only (chflags sappnd): ci-build can truncate or rewrite it"]),
    ({"append_only": None}, ["/L/unlock.log is not append-only (chflags sappnd): ci-build can truncate or rewrite it"]),
    ({"owner": "root"}, ["/L/unlock.log is owned by root, not ci-build: the wrapper, run as ci-build, must append to it"]),
    ({"mode": "0662"}, ["/L/unlock.log is mode 0662: users other than its owner can write it"]),
    ({"exists": False}, ["/L/unlock.log does not exist: the wrapper refuses to run without it"]),
    ({"type": "symlink"}, ["/L/unlock.log is a symlink, not a regular file"]),
    ({"directory": {"path": "/L", "owner": "ci-build", "mode": "0755"}},
     ["its directory /L is owned by ci-build, not root: ci-build could replace the log"]),
    ({"directory": {"path": "/L", "owner": "root", "mode": "1777"}},
     ["its directory /L is mode 1777: users other than root could replace the log"]),
    ({"directory": None}, ["/L/unlock.log: its directory does not exist"]),
])
def test_log_problems(change, expected):
    assert _audit_log.log_problems(dict(SEALED, **change), "ci-build") == expected


def test_ensure_creates_seals_and_is_idempotent(tmp_path, appendable):
    log = str(tmp_path / "unlock.log")
    chflags = FakeChflags(appendable)
    changed, before, after = _audit_log.ensure(log, ME, MY_GROUP, 0o640, chflags)
    assert changed and before["exists"] is False
    assert (after["exists"], after["mode"], after["owner"], after["append_only"]) == (True, "0640", ME, True)
    assert chflags.calls == [[_audit_log.CHFLAGS, "sappnd", log]]
    changed, _before, again = _audit_log.ensure(log, ME, MY_GROUP, 0o640, chflags)
    assert not changed and again == after and len(chflags.calls) == 1


def _sealed(tmp_path, appendable, text, mode):
    """A log with ``text`` and ``mode`` and the append-only flag set (cleared again after the test)."""
    log = tmp_path / "unlock.log"
    log.write_text(text)
    log.chmod(mode)
    assert _chattr("+a", log).returncode == 0
    appendable.append(str(log))
    return log


def test_ensure_keeps_the_lines_and_fixes_a_mode_under_the_flag(tmp_path, appendable):
    log = _sealed(tmp_path, appendable, '{"call": 1}\n', 0o600)
    chflags = FakeChflags(appendable)
    changed, before, after = _audit_log.ensure(str(log), ME, MY_GROUP, 0o640, chflags)
    assert changed and before["append_only"] is True and after["mode"] == "0640" and after["append_only"] is True
    assert [call[1] for call in chflags.calls] == ["nosappnd", "sappnd"]
    assert log.read_text() == '{"call": 1}\n'


def test_ensure_says_where_a_sealed_log_can_be_repaired(tmp_path, appendable):
    log = _sealed(tmp_path, appendable, "", 0o600)
    refused = FakeChflags(appendable, fail="chflags: %s: Operation not permitted" % log)
    with pytest.raises(_audit_log.AuditLogError, match=r"chflags nosappnd .*Operation not permitted; .*single-user mode"):
        _audit_log.ensure(str(log), ME, MY_GROUP, 0o640, refused)
    assert _audit_log.read_log(str(log))["append_only"] is True


def test_ensure_in_check_mode_changes_nothing(tmp_path):
    log = tmp_path / "unlock.log"
    calls = []
    changed, _before, after = _audit_log.ensure(str(log), ME, MY_GROUP, 0o640, calls.append, check_mode=True)
    assert changed and after["append_only"] is True and not log.exists() and calls == []


def test_ensure_refuses_what_it_must_not_replace(tmp_path):
    (tmp_path / "dir.log").mkdir()
    with pytest.raises(_audit_log.AuditLogError, match=r"^path: .*dir\.log is a other, not a regular file"):
        _audit_log.ensure(str(tmp_path / "dir.log"), ME, MY_GROUP, 0o640, None)
    with pytest.raises(_audit_log.AuditLogError, match=r"^path: the directory of .*/none/x.log does not exist"):
        _audit_log.ensure(str(tmp_path / "none" / "x.log"), ME, MY_GROUP, 0o640, None)
    with pytest.raises(_audit_log.AuditLogError, match=r"^owner: no user no-such-user-x on this node"):
        _audit_log.ensure(str(tmp_path / "x.log"), "no-such-user-x", MY_GROUP, 0o640, None)
    with pytest.raises(_audit_log.AuditLogError, match=r"^group: no group no-such-group-x on this node"):
        _audit_log.ensure(str(tmp_path / "x.log"), ME, "no-such-group-x", 0o640, None)


def test_ensure_reports_a_failed_chflags_and_a_flag_that_did_not_hold(tmp_path):
    log = str(tmp_path / "unlock.log")
    failing = FakeChflags([], fail="chflags: %s: Operation not permitted" % log)
    with pytest.raises(_audit_log.AuditLogError, match=r"chflags sappnd .* failed \(exit 1\): chflags: .*Operation not permitted"):
        _audit_log.ensure(log, ME, MY_GROUP, 0o640, failing)
    with pytest.raises(_audit_log.AuditLogError, match=r"still accepts writes that do not append"):
        _audit_log.ensure(log, ME, MY_GROUP, 0o640, lambda argv: (0, "", ""))


def _run_module(capsys, args, check_mode=False):
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            append_only_log.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, message", [
    ({"path": "relative.log"}, "path: 'relative.log' is not an absolute file path."),
    ({"mode": "0666"}, "mode: 0666 lets the group or others write"),
    ({"mode": "rw"}, "mode: 'rw' is not an octal mode such as 0640."),
])
def test_module_refuses_bad_input(capsys, tmp_path, args, message):
    base = {"path": str(tmp_path / "unlock.log"), "owner": ME, "group": MY_GROUP}
    result = _run_module(capsys, dict(base, **args))
    assert result["failed"] and message in result["msg"]
    assert not (tmp_path / "unlock.log").exists()


def test_module_needs_root(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 501)
    result = _run_module(capsys, {"path": str(tmp_path / "unlock.log"), "owner": ME, "group": MY_GROUP})
    assert result["failed"] and "only root sets the system append-only flag" in result["msg"]


def test_module_check_mode_reports_the_change_with_a_diff(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    args = {"path": str(tmp_path / "unlock.log"), "owner": ME, "group": MY_GROUP, "_ansible_diff": True}
    result = _run_module(capsys, args, check_mode=True)
    assert result["changed"] and result["log"]["append_only"] is True
    assert "append_only: None" in result["diff"]["before"] and "append_only: True" in result["diff"]["after"]
    assert not (tmp_path / "unlock.log").exists()
