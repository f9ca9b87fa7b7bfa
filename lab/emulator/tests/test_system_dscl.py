"""dscl / dseditgroup / createhomedir.

Reads run on the host (they only look at /etc/passwd and /etc/group). Anything that creates or
changes accounts runs only inside a lab node: either this test process is in one
(MACEMU_IN_NODE=1), or MACEMU_LAB_DIR names a running lab (`MESHLAB_DIR` of `lab/meshlab up`) and
the commands go through `lab/meshlab exec <node>`. Never on the host.
"""

import grp
import os
import pathlib
import pwd
import subprocess
import sys
import tempfile

import pytest

from _sysemu import Env, HERE

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "seed", "usr", "lib", "macemu"))
sys.dont_write_bytecode = True  # no __pycache__ in the seed tree (it is copied onto every node)
from system import accounts  # noqa: E402

NOT_FOUND = "<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)\n"
LAB_DIR = os.environ.get("MACEMU_LAB_DIR")
IN_NODE = os.environ.get("MACEMU_IN_NODE") == "1"
MESHLAB = os.path.join(os.path.dirname(os.path.dirname(HERE)), "meshlab")
LAB_NODE = os.environ.get("MACEMU_LAB_NODE", "kr")


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


# --- pure formatting ----------------------------------------------------------------------------

def test_format_attr_one_line_and_values_with_spaces():
    assert accounts.format_attr("UniqueID", ["501"]) == "UniqueID: 501\n"
    assert accounts.format_attr("GroupMembership", ["a", "b"]) == "GroupMembership: a b\n"
    assert accounts.format_attr("RealName", ["CI Build"]) == "RealName:\n CI Build\n"


# --- host-safe reads ----------------------------------------------------------------------------

def test_read_existing_user_attribute(env):
    out = env.run("dscl", ".", "-read", "/Users/root", "UniqueID")
    assert (out.returncode, out.stdout) == (0, "UniqueID: 0\n")


def test_read_unknown_record_is_ds_record_not_found(env):
    out = env.run("dscl", ".", "-read", "/Users/no-such-user-macemu", "UniqueID")
    assert (out.returncode, out.stdout, out.stderr) == (56, "", NOT_FOUND)


def test_list_uniqueid_columns_parse_like_darwinuser(env):
    out = env.run("dscl", ".", "-list", "/Users", "UniqueID")
    assert out.returncode == 0
    rows = {line.split()[0]: int(line.split(" ")[-1]) for line in out.stdout.splitlines()}
    assert rows["root"] == 0
    assert len(rows) == len(pwd.getpwall())
    # nobody is -2 as on macOS, so "highest UniqueID + 1" stays a normal uid
    if "nobody" in rows:
        assert rows["nobody"] == -2
    assert max(rows.values()) < 65534


def test_search_groups_layout(env):
    groups = [g for g in grp.getgrall() if g.gr_mem]
    if not groups:
        pytest.skip("no group with members on this host")
    group, member = groups[0].gr_name, groups[0].gr_mem[0]
    out = env.run("dscl", ".", "-search", "/Groups", "GroupMembership", member).stdout
    assert "%s\t\tGroupMembership = (\n" % group in out
    assert "    %s\n" % member in out


def test_writes_are_refused_without_root():
    # pytest's tmp_path sits under a 0700 directory nobody cannot enter: use a plain /tmp dir
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o777)
        env = Env(pathlib.Path(tmp))
        os.chmod(env.config, 0o644)
        out = _run_as_nobody(env)
    assert out.returncode == 40
    assert out.stderr.endswith("<dscl_cmd> DS Error: -14120 (eDSPermissionError)\n")
    with pytest.raises(KeyError):
        pwd.getpwnam("macemu-should-not-exist")


def _run_as_nobody(env):
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "/usr/bin/python3", os.path.join(os.path.dirname(HERE), "seed/usr/bin/dscl"),
                          ".", "-create", "/Users/macemu-should-not-exist"],
                          capture_output=True, text=True, env=env.environ())


# --- account changes: inside a lab node only ----------------------------------------------------

def node_run(*argv):
    if IN_NODE:
        return subprocess.run(list(argv), capture_output=True, text=True)
    return subprocess.run([MESHLAB, "exec", LAB_NODE, "--"] + list(argv), capture_output=True,
                          text=True, env=dict(os.environ, MESHLAB_DIR=LAB_DIR))


node_only = pytest.mark.skipif(not (IN_NODE or LAB_DIR),
                               reason="creates real accounts: set MACEMU_IN_NODE=1 in a node or "
                                      "MACEMU_LAB_DIR to a running lab")


@node_only
def test_darwinuser_sequence_creates_a_real_account():
    name = "macemu-t1"
    node_run("dscl", ".", "-delete", "/Users/" + name)
    steps = [
        ["dscl", ".", "-create", "/Users/" + name],
        ["dscl", ".", "-create", "/Users/" + name, "RealName", "Macemu Test"],
        ["dscl", ".", "-create", "/Users/" + name, "NFSHomeDirectory", "/Users/" + name],
        ["dscl", ".", "-create", "/Users/" + name, "UserShell", "/bin/zsh"],
        ["dscl", ".", "-create", "/Users/" + name, "UniqueID", "1501"],
        ["dscl", ".", "-create", "/Users/" + name, "PrimaryGroupID", "20"],
        ["dscl", ".", "-create", "/Users/" + name, "IsHidden", "1"],
        ["dscl", ".", "-create", "/Users/" + name, "Password", "*"],
        ["createhomedir", "-c", "-u", name],
        ["dseditgroup", "-o", "edit", "-a", name, "-t", "user", "admin"],
    ]
    for argv in steps:
        out = node_run(*argv)
        assert out.returncode == 0, (argv, out.stderr)
    try:
        assert node_run("id", "-u", name).stdout == "1501\n"
        shell = node_run("dscl", ".", "-read", "/Users/" + name, "UserShell").stdout
        assert shell == "UserShell: /bin/zsh\n"
        assert node_run("dscl", ".", "-read", "/Users/" + name, "RealName").stdout == "RealName:\n Macemu Test\n"
        assert node_run("dscl", ".", "-read", "/Users/" + name, "IsHidden").stdout == "IsHidden: 1\n"
        assert node_run("stat", "-c", "%a %U", "/Users/" + name).stdout == "750 %s\n" % name
        assert "admin\t\tGroupMembership" in node_run("dscl", ".", "-search", "/Groups", "GroupMembership", name).stdout
        member = node_run("dseditgroup", "-o", "checkmember", "-m", name, "admin")
        assert (member.returncode, member.stdout) == (0, "yes %s is a member of admin\n" % name)
    finally:
        assert node_run("dscl", ".", "-delete", "/Users/" + name).returncode == 0
    gone = node_run("dscl", ".", "-read", "/Users/" + name, "UniqueID")
    assert (gone.returncode, gone.stderr) == (56, NOT_FOUND)


@node_only
def test_interactive_dscl_takes_commands_and_the_password_on_stdin():
    name = "macemu-t2"
    node_run("dscl", ".", "-delete", "/Users/" + name)
    assert node_run("dscl", ".", "-create", "/Users/" + name).returncode == 0
    try:
        script = "create /Users/%s UniqueID 1502\npasswd /Users/%s S3cretNotInArgv\n" % (name, name)
        if IN_NODE:
            out = subprocess.run(["dscl", "."], input=script, capture_output=True, text=True)
        else:
            out = subprocess.run([MESHLAB, "exec", LAB_NODE, "--", "dscl", "."], input=script, capture_output=True,
                                 text=True, env=dict(os.environ, MESHLAB_DIR=LAB_DIR))
        assert out.returncode == 0, out.stderr
        assert node_run("id", "-u", name).stdout == "1502\n"
        assert node_run("sh", "-c", "getent shadow %s | cut -d: -f2 | cut -c1-3" % name).stdout.strip() not in ("", "*", "!")
        audit = node_run("cat", "/var/log/macemu/audit.log").stdout
        assert "S3cretNotInArgv" not in audit
    finally:
        node_run("dscl", ".", "-delete", "/Users/" + name)
