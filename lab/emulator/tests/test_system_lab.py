"""Real ansible against a running lab (MACEMU_LAB_DIR = the MESHLAB_DIR of `lab/meshlab up`):
facts say Darwin, a full gather works, ansible.builtin.user creates a real account through dscl
and is idempotent, community.general.osx_defaults works. Skipped without a lab."""

import json
import os
import subprocess
import sys

import pytest

LAB_DIR = os.environ.get("MACEMU_LAB_DIR")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")
NODE = os.environ.get("MACEMU_LAB_NODE", "us")

pytestmark = pytest.mark.skipif(not LAB_DIR, reason="needs a running lab: set MACEMU_LAB_DIR")


def ansible(pattern, module, args=""):
    """Run an ad-hoc module; (process, {host: result dict}) from the json stdout callback."""
    argv = [ANSIBLE, "-i", os.path.join(LAB_DIR, "inventory.yml"), pattern, "-m", module]
    if args:
        argv += ["-a", args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                                  ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"))
    doc = json.loads(out.stdout)
    return out, doc["plays"][0]["tasks"][0]["hosts"]


def meshlab_exec(*argv):
    return subprocess.run([os.path.join(REPO, "lab", "meshlab"), "exec", NODE, "--"] + list(argv),
                          capture_output=True, text=True, env=dict(os.environ, MESHLAB_DIR=LAB_DIR))


def test_every_node_reports_darwin():
    out, results = ansible("all", "ansible.builtin.setup", "filter=ansible_system")
    assert results and out.returncode == 0, out.stderr
    assert {r["ansible_facts"]["ansible_system"] for r in results.values()} == {"Darwin"}


def test_full_gather_has_the_macos_facts_and_no_warnings():
    out, results = ansible("all", "ansible.builtin.setup")
    assert out.returncode == 0, out.stderr
    assert "WARNING" not in out.stderr, out.stderr
    for result in results.values():
        facts = result["ansible_facts"]
        assert not result.get("warnings"), result.get("warnings")
        assert facts["ansible_distribution"] == "MacOSX"
        assert facts["ansible_os_family"] == "Darwin"
        assert facts["ansible_machine"] == "arm64"
        assert facts["ansible_processor"].startswith("Apple M")
        assert facts["ansible_memtotal_mb"] > 0


def test_each_node_has_its_own_hardware_identity():
    out, results = ansible("all", "ansible.builtin.command", "system_profiler SPHardwareDataType")
    assert out.returncode == 0, out.stderr
    uuids = {[l for l in r["stdout"].splitlines() if "Hardware UUID" in l][0] for r in results.values()}
    assert len(uuids) == len(results) > 1


def _node():
    return sorted(ansible(NODE, "ansible.builtin.ping")[1])[0]


def test_user_module_creates_a_real_account_and_is_idempotent():
    node = _node()
    args = "name=ci-build home=/Users/ci-build hidden=true shell=/bin/zsh"
    first = ansible(node, "ansible.builtin.user", args)[1][node]
    assert not first.get("failed"), first
    assert meshlab_exec("id", "ci-build").returncode == 0
    assert meshlab_exec("dscl", ".", "-read", "/Users/ci-build", "UserShell").stdout == "UserShell: /bin/zsh\n"
    second = ansible(node, "ansible.builtin.user", args)[1][node]
    assert second["changed"] is False and not second.get("failed"), second


def test_osx_defaults_module_round_trip():
    node = _node()
    base = "domain=/Library/Preferences/com.apple.loginwindow key=autoLoginUser"

    def changed(args):
        result = ansible(node, "community.general.osx_defaults", base + " " + args)[1][node]
        assert not result.get("failed"), result
        return result["changed"]

    changed("state=absent")
    assert changed("type=string value=ci-build") is True
    assert changed("type=string value=ci-build") is False
    assert changed("state=absent") is True
    assert changed("state=absent") is False
