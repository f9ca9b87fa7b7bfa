# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A role's directories and files in one call (module_utils/_managed_files.py) and the managed_files module."""

import base64
import grp
import hashlib
import json
import os
import pwd
import stat

import pytest
from ansible_collections.macmesh.signing.tests.unit.compat import patch_module_args

from ansible_collections.macmesh.signing.plugins.module_utils import _managed_files as mf
from ansible_collections.macmesh.signing.plugins.modules import managed_files

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def _items(tmp_path, content="hello\n"):
    directories = [{"path": str(tmp_path / "etc")}, {"path": str(tmp_path / "etc" / "sub"), "mode": "0700"}]
    files = [
        {"path": str(tmp_path / "etc" / "a.conf"), "content": content},
        {"path": str(tmp_path / "etc" / "sub" / "b.bin"), "content_b64": base64.b64encode(b"\x00\xff").decode()},
        {"path": str(tmp_path / "etc" / "app.log"), "state": "present", "mode": "0640"},
        {"path": str(tmp_path / "etc" / "gone"), "state": "absent"},
    ]
    return directories, files


def _ensure(tmp_path, check_mode=False, **kwargs):
    directories, files = _items(tmp_path, **kwargs)
    return mf.ensure(*mf.normalise(directories, files, ME, MY_GROUP), check_mode=check_mode)


def _mode(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


def test_creates_everything_then_changes_nothing(tmp_path):
    first = _ensure(tmp_path)
    assert first["changed"] == [str(tmp_path / p) for p in ("etc", "etc/sub", "etc/a.conf", "etc/sub/b.bin", "etc/app.log")]
    assert (tmp_path / "etc" / "a.conf").read_text() == "hello\n"
    assert (tmp_path / "etc" / "sub" / "b.bin").read_bytes() == b"\x00\xff"
    assert (tmp_path / "etc" / "app.log").read_bytes() == b""
    assert (_mode(tmp_path / "etc"), _mode(tmp_path / "etc" / "sub")) == (0o755, 0o700)
    assert (_mode(tmp_path / "etc" / "a.conf"), _mode(tmp_path / "etc" / "app.log")) == (0o644, 0o640)
    after = first["after"][str(tmp_path / "etc" / "a.conf")]
    assert after == {"type": "file", "owner": ME, "group": MY_GROUP, "mode": "0644",
                     "sha256": hashlib.sha256(b"hello\n").hexdigest()}
    assert _ensure(tmp_path)["changed"] == []


def test_repairs_content_mode_and_a_symlink_but_keeps_a_log(tmp_path):
    _ensure(tmp_path)
    conf, log, binary = tmp_path / "etc" / "a.conf", tmp_path / "etc" / "app.log", tmp_path / "etc" / "sub" / "b.bin"
    conf.write_text("tampered\n")
    os.chmod(str(log), 0o666)
    log.write_text("line one\n")
    target = tmp_path / "elsewhere"
    target.write_bytes(b"\x00\xff")
    binary.unlink()
    binary.symlink_to(target)
    (tmp_path / "etc" / "gone").write_text("x")
    outcome = _ensure(tmp_path)
    assert sorted(outcome["changed"]) == sorted(str(p) for p in (conf, binary, log, tmp_path / "etc" / "gone"))
    assert conf.read_text() == "hello\n"
    assert log.read_text() == "line one\n" and _mode(log) == 0o640
    # The symlink was replaced by a file; its target was not written through.
    assert not binary.is_symlink() and binary.read_bytes() == b"\x00\xff" and target.read_bytes() == b"\x00\xff"
    assert not (tmp_path / "etc" / "gone").exists()
    assert outcome["before"][str(conf)]["sha256"] == hashlib.sha256(b"tampered\n").hexdigest()


def test_check_mode_reports_and_writes_nothing(tmp_path):
    outcome = _ensure(tmp_path, check_mode=True)
    assert len(outcome["changed"]) == 5
    assert not (tmp_path / "etc").exists()
    assert outcome["after"][str(tmp_path / "etc")] == {"type": "directory", "owner": ME, "group": MY_GROUP,
                                                       "mode": "0755"}
    _ensure(tmp_path)
    (tmp_path / "etc" / "a.conf").write_text("other\n")
    assert _ensure(tmp_path, check_mode=True)["changed"] == [str(tmp_path / "etc" / "a.conf")]
    assert (tmp_path / "etc" / "a.conf").read_text() == "other\n"


def test_a_killed_runs_temporary_file_is_removed(tmp_path):
    _ensure(tmp_path)
    stale = tmp_path / "etc" / ".a.conf.x1y2z3_4.tmp"
    stale.write_text("half")
    other = tmp_path / "etc" / ".unrelated.tmp"
    other.write_text("not ours")
    _ensure(tmp_path, check_mode=True)
    assert stale.exists()
    assert _ensure(tmp_path)["changed"] == []
    assert not stale.exists() and other.exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    _ensure(tmp_path)

    def refuse(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mf.os, "rename", refuse)
    with pytest.raises(OSError):
        _ensure(tmp_path, content="new\n")
    assert (tmp_path / "etc" / "a.conf").read_text() == "hello\n"
    assert [name for name in os.listdir(str(tmp_path / "etc")) if name.endswith(".tmp")] == []


@pytest.mark.parametrize("change, message", [
    (lambda d, f: d.__setitem__(0, {"path": "relative"}), "directories[0].path: 'relative' is not a normalised absolute path."),
    (lambda d, f: f[0].__setitem__("path", "/a/../b"), "files[0].path: '/a/../b' is not a normalised absolute path."),
    (lambda d, f: f[0].__setitem__("mode", "644x"), "files[0].mode: '644x' is not an octal mode such as 0644"),
    (lambda d, f: f[0].__setitem__("mode", 420), "files[0].mode: 420 is not an octal mode"),
    (lambda d, f: f[0].__setitem__("owner", "no-such-user-here"), "files[0].owner: no user no-such-user-here on this node"),
    (lambda d, f: d[1].__setitem__("group", "no-such-group-here"), "directories[1].group: no group no-such-group-here"),
    (lambda d, f: f[0].pop("content"), "files[0]: a file with state=file needs exactly one of content and src."),
    (lambda d, f: f[0].__setitem__("content_b64", "aGk="), "files[0]: a file with state=file needs exactly one of"),
    (lambda d, f: f[1].__setitem__("content_b64", "not base64!"), "files[1].content_b64: not base64 data."),
    (lambda d, f: f[2].__setitem__("content", "x"), "files[2]: state=present takes no content."),
    (lambda d, f: f[3].__setitem__("state", "link"), "files[3].state: 'link' is not one of file, present, absent."),
    (lambda d, f: f.append(dict(f[0])), "files[4].path: %s is already files[0]."),
    (lambda d, f: f.append("just/a/path"), "files[4]: 'just/a/path' is not a dictionary with a path."),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(tmp_path, change, message):
    directories, files = _items(tmp_path)
    change(directories, files)
    with pytest.raises(mf.ManagedFilesError) as caught:
        mf.ensure(*mf.normalise(directories, files, ME, MY_GROUP))
    assert str(caught.value).startswith(message.replace("%s", str(tmp_path / "etc" / "a.conf")))
    assert not (tmp_path / "etc").exists()


def test_an_owner_set_nowhere_is_left_as_it_is(tmp_path, monkeypatch):
    directories, files = _items(tmp_path)
    dirs, normalised = mf.normalise(directories, files, None, None)
    assert (normalised[0]["uid"], normalised[0]["gid"]) == (-1, -1)
    mf.ensure(dirs, normalised)
    chowned = []
    monkeypatch.setattr(mf.os, "chown", lambda *args, **kwargs: chowned.append(args))
    os.chmod(str(tmp_path / "etc" / "a.conf"), 0o600)
    assert mf.ensure(dirs, normalised)["changed"] == [str(tmp_path / "etc" / "a.conf")]
    assert chowned == [] and _mode(tmp_path / "etc" / "a.conf") == 0o644


def test_missing_parents_of_a_directory_are_created_and_a_repeated_directory_is_one(tmp_path):
    deep = tmp_path / "usr" / "local" / "bin"
    directories = [{"path": str(deep)}, {"path": str(deep)}, {"path": str(tmp_path / "usr" / "local")}]
    outcome = mf.ensure(*mf.normalise(directories, [], ME, MY_GROUP))
    assert outcome["changed"] == [str(deep)] and deep.is_dir() and _mode(tmp_path / "usr") == 0o755
    directories[1] = dict(directories[1], mode="0700")
    with pytest.raises(mf.ManagedFilesError, match=r"^directories\[1\]\.path: .* is already directories\[0\]"):
        mf.normalise(directories, [], ME, MY_GROUP)


@pytest.mark.parametrize("make, message", [
    (lambda p: (p / "etc").write_text("a file"), "directories[0].path: %s exists and is not a directory (file)"),
    (lambda p: ((p / "etc").mkdir(), (p / "etc" / "a.conf").mkdir()), "files[0].path: %s is a directory, not a file"),
    (lambda p: ((p / "etc").mkdir(), (p / "etc" / "app.log").symlink_to(p / "x")),
     "files[2].path: %s is a link, not a regular file; refusing to follow it."),
])
def test_what_it_must_not_replace_is_refused(tmp_path, make, message):
    make(tmp_path)
    paths = {"directories[0]": "etc", "files[0]": "etc/a.conf", "files[2]": "etc/app.log"}
    with pytest.raises(mf.ManagedFilesError) as caught:
        _ensure(tmp_path)
    field = message.split(".path")[0]
    assert str(caught.value).startswith(message % (tmp_path / paths[field]))


def test_a_missing_parent_is_an_error(tmp_path):
    files = [{"path": str(tmp_path / "nowhere" / "a"), "content": "x"}]
    with pytest.raises(mf.ManagedFilesError, match=r"files\[0\]\.path: the directory of .* does not exist"):
        mf.ensure(*mf.normalise([], files, ME, MY_GROUP))
    (tmp_path / "a").write_text("a file")
    directories = [{"path": str(tmp_path / "a" / "b" / "c")}]
    with pytest.raises(mf.ManagedFilesError, match=r"directories\[0\]\.path: .*/a exists and is not a directory"):
        mf.ensure(*mf.normalise(directories, [], ME, MY_GROUP))


def test_diff_is_one_line_per_changed_path_without_content(tmp_path):
    outcome = _ensure(tmp_path, content="the secret-looking content\n")
    shown = mf.diff(outcome)
    assert "the secret-looking content" not in json.dumps(shown)
    assert shown["before"].splitlines()[0] == "%s: absent" % (tmp_path / "etc")
    assert "%s: file %s:%s 0644 sha256 %s" % (tmp_path / "etc" / "a.conf", ME, MY_GROUP, hashlib.sha256(
        b"the secret-looking content\n").hexdigest()) in shown["after"].splitlines()


# --- the module ---------------------------------------------------------------------------------------

def _run_module(capsys, args, check_mode=False, diff=False):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            managed_files.main()
    return json.loads(capsys.readouterr().out)


def _module_args(tmp_path, content="module content\n"):
    return {"owner": ME, "group": MY_GROUP, "directories": [{"path": str(tmp_path / "d")}],
            "files": [{"path": str(tmp_path / "d" / "f"), "content": content}]}


def test_module_writes_reports_and_hides_the_content(capsys, tmp_path):
    result = _run_module(capsys, _module_args(tmp_path), diff=True)
    assert result["changed"] is True
    assert result["changed_paths"] == [str(tmp_path / "d"), str(tmp_path / "d" / "f")]
    assert result["paths"][str(tmp_path / "d" / "f")]["sha256"] == hashlib.sha256(b"module content\n").hexdigest()
    assert "module content" not in json.dumps(result)
    assert result["invocation"]["module_args"]["files"][0]["content"].startswith("(15 characters, sha256 ")
    again = _run_module(capsys, _module_args(tmp_path))
    assert (again["changed"], again["changed_paths"]) == (False, [])


def test_module_check_mode_changes_nothing(capsys, tmp_path):
    result = _run_module(capsys, _module_args(tmp_path), check_mode=True)
    assert result["changed"] is True and not (tmp_path / "d").exists()


def test_module_fails_naming_the_field_without_the_content(capsys, tmp_path):
    args = _module_args(tmp_path)
    args["files"][0]["mode"] = "rw-r--r--"
    result = _run_module(capsys, args)
    assert result["failed"] is True
    assert result["msg"] == "files[0].mode: 'rw-r--r--' is not an octal mode such as 0644 (quote it in YAML)."
    assert "module content" not in json.dumps(result)
    assert not (tmp_path / "d").exists()


def test_module_refuses_src_when_the_action_plugin_did_not_run(capsys, tmp_path):
    args = _module_args(tmp_path)
    args["files"][0] = {"path": str(tmp_path / "d" / "f"), "src": "file.txt"}
    result = _run_module(capsys, args)
    assert result["msg"].startswith("files[0].src: read by the action plugin on the controller")


def test_a_bare_name_is_a_file_in_dest(tmp_path):
    files = [{"path": "a.cer", "content": "x"}]
    _dirs, normalised = mf.normalise([], files, ME, MY_GROUP, dest=str(tmp_path))
    assert normalised[0]["path"] == str(tmp_path / "a.cer")
    with pytest.raises(mf.ManagedFilesError, match=r"^files\[0\]\.path: 'a.cer' is a bare name, and the task sets no dest"):
        mf.normalise([], files, ME, MY_GROUP)
    with pytest.raises(mf.ManagedFilesError, match=r"^dest: 'rel' is not a normalised absolute path"):
        mf.normalise([], files, ME, MY_GROUP, dest="rel")


def test_a_path_that_cannot_be_brought_to_its_state_is_refused_before_anything_is_written(tmp_path):
    directories, files = _items(tmp_path)
    # files[2] (the log) is a symlink in a directory that exists: refused, and nothing before it written.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "app.log").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(mf.ManagedFilesError, match=r"^files\[2\]\.path: .* is a link"):
        mf.ensure(*mf.normalise(directories, files, ME, MY_GROUP))
    # Neither directories[1] (etc/sub) nor files[0] (a.conf), which come before it, were written.
    assert sorted(os.listdir(str(tmp_path / "etc"))) == ["app.log"]
