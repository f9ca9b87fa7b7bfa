# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fast playbook tests on localhost (no lab) for behaviour that was only caught end to end:

- the converge's exit status: an error-level finding must make ``macmesh.signing.converge`` exit
  non-zero (with the finding named), not only show up in the report;
- the profile switch: activating a new version moves the old one to ``previous`` (the rollback
  target), removes the others, and a re-run changes nothing.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))

import cms_factory as factory  # noqa: E402  pylint: disable=wrong-import-position

SHA_A, SHA_B, SHA_OLD = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture
def ansible(tmp_path):
    link_root = tmp_path / "collections" / "ansible_collections" / "macmesh"
    link_root.mkdir(parents=True)
    os.symlink(ROOT, str(link_root / "signing"))
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_PIPELINING="1")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

    def run(*argv):
        proc = subprocess.run([playbook] + list(argv), cwd=str(tmp_path), env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600, check=False)
        return proc.returncode, proc.stdout.decode("utf-8", "replace")

    return run


def _recap_changed(output):
    line = [line for line in output.splitlines() if line.startswith("localhost") and "changed=" in line][-1]
    return int(line.split("changed=")[1].split()[0])


def test_profile_switch_keeps_the_replaced_version_as_previous(tmp_path, ansible):
    root = tmp_path / "profiles"
    for sha in (SHA_A, SHA_B, SHA_OLD):
        (root / sha).mkdir(parents=True)
    os.symlink(SHA_A, str(root / "current"))
    os.symlink(SHA_OLD, str(root / "previous"))
    (tmp_path / "switch.yml").write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable, "profile_mounts_root": str(root),
                 "profile_mounts_sha": SHA_B, "profile_mounts_version_dir": str(root / SHA_B)},
        "tasks": [{"ansible.builtin.include_role": {"name": "macmesh.signing.profile_mounts", "tasks_from": "switch"}}],
    }]))
    rc, output = ansible("-i", "localhost,", "-c", "local", "switch.yml")
    assert rc == 0, output
    assert os.readlink(str(root / "current")) == SHA_B
    assert os.readlink(str(root / "previous")) == SHA_A, "the replaced version must become the rollback target"
    assert sorted(os.listdir(str(root))) == sorted([SHA_A, SHA_B, "current", "previous"])
    rc, output = ansible("-i", "localhost,", "-c", "local", "switch.yml")
    assert rc == 0 and _recap_changed(output) == 0, output
    assert os.readlink(str(root / "previous")) == SHA_A


def test_converge_exits_non_zero_on_an_error_finding(tmp_path, ansible):
    """A mesh node whose read fails is an error finding: converge must fail, naming host and code."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.mobileprovision").write_bytes(factory.make_profile())
    (tmp_path / "manifest.yml").write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": [{"macmesh.signing.profile_manifest": {"src": str(tmp_path / "src"),
                                                        "dest": str(tmp_path / "profiles.json")}}]}]))
    rc, output = ansible("-i", "localhost,", "-c", "local", "manifest.yml")
    assert rc == 0, output
    inventory = {"all": {"children": {
        "mesh": {"children": {"hk": {"hosts": {"hk-fast": {}}}}},
        "signers": {"hosts": {"hk-fast": {}}},
    }, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "macmesh_regions": ["hk"], "macmesh_manifest": str(tmp_path / "profiles.json"),
        "profile_mounts_manifest": str(tmp_path / "profiles.json"), "profile_mounts_src": str(tmp_path / "src"),
        "profile_mounts_team_ids": [factory.TEAM_ID],
        "macmesh_reports_dir": str(tmp_path / "reports"), "macmesh_secret_scan_enabled": False,
        # No such account here: the node's read fails, which is an error finding for hk-fast.
        "keychain_user": "macmesh-no-such-user", "macmesh_declared_identities": {factory.sha1(
            factory.default_developer_certificate()[1]): "iPhone Distribution: Example Corp (AB12CD34EF)"},
    }}}
    (tmp_path / "reports").mkdir()
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    rc, output = ansible("-i", "inventory.yml", "macmesh.signing.converge")
    assert rc != 0, "converge exited 0 although an error finding stands:\n" + output
    assert "error finding(s)" in output and "hk-fast" in output, output
    with open(str(tmp_path / "reports" / "compliance.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    assert json.dumps(report).count("hk-fast") > 0


DIST = {"sha1": "86890D67F234745572B7EF153C72DEA7CF522EDE", "name": "iPhone Distribution: Tien Le (QG598U658S)", "valid": True}
DEV = {"sha1": "13F9C39BE0072902F6A60AF738F51BE53E3A8B23", "name": "iPhone Developer: Tien Le (8PKL73LX5A)", "valid": True}
OTHER = {"sha1": "64CB89C8C7EFA62842BDD1AA76A9FAF321704F72", "name": "iPhone Distribution: Other (AAAAAAAAAA)", "valid": True}


def _pool_gate(tmp_path, ansible, kr_identities):
    """playbooks/tasks/pool_gate.yml over a mesh whose nodes were all read by the preflight
    (``bootstrap_read``): three members and a new node (no active manifest yet)."""
    active = {"sha256": SHA_A, "version": "r1", "path": "/Library/MacMesh/profiles/" + SHA_A}
    reads = {"sign-hk": {"identities": [DIST], "active_manifest": active},
             "sign-jp": {"identities": [DIST, DEV], "active_manifest": active},
             "sign-kr": {"identities": kr_identities, "active_manifest": active},
             "new-us": {"identities": [], "active_manifest": None}}
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    regions = {"hk": "sign-hk", "jp": "sign-jp", "kr": "sign-kr", "us": "new-us"}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "mesh": {"children": dict((region, {"hosts": {host: dict(local)}}) for region, host in regions.items())},
        "signers": {"hosts": dict((host, None) for host in regions.values())}}}}))
    policy = {"regions": sorted(regions), "topology": "dedicated", "signer_group": "signers",
              "builder_group": "builders", "max_identity_hashes": 2}
    (tmp_path / "gate.yml").write_text(yaml.safe_dump([{
        "hosts": "mesh", "gather_facts": False,
        "vars": {"macmesh_release": {"policy": policy, "declared": {DIST["sha1"]: DIST["name"]}}, "reads": reads},
        "tasks": [
            {"name": "The preflight's read", "ansible.builtin.set_fact": {"bootstrap_read": "{{ reads[inventory_hostname] }}"}},
            {"ansible.builtin.include_tasks": os.path.join(ROOT, "playbooks", "tasks", "pool_gate.yml")},
        ],
    }]))
    return ansible("-i", "hosts.yml", "gate.yml")


def test_pool_gate_refuses_only_the_new_node_while_the_pool_holds_too_many_identity_sets(tmp_path, ansible):
    """Three identity sets among the members, two allowed: the new node is refused, the members go on.
    The members are judged from the preflight's read alone: nothing is read again (the loop is empty)."""
    rc, output = _pool_gate(tmp_path, ansible, [DIST, OTHER])
    assert rc != 0, output
    # The declared set is kept; of the two others (one host each) the one ranked last is blocked.
    assert re.search(r"new-us: not added to the pool: sign-(jp|kr) hold identity sets beyond max_identity_hashes=2",
                     output), output
    read = output.split("TASK [Read the identity sets of the pool members outside this play]")[1].split("TASK [")[0]
    assert read.split() == ["*" * len(read.split()[0]), "skipping:", "[sign-hk]"], read
    recap = dict((line.split()[0], line) for line in output.splitlines() if " : ok=" in line)
    assert "failed=1" in recap["new-us"] and all("failed=0" in recap[host] for host in ("sign-hk", "sign-jp", "sign-kr"))


def test_pool_gate_lets_a_new_node_in_while_the_pool_is_within_its_budget(tmp_path, ansible):
    rc, output = _pool_gate(tmp_path, ansible, [DIST])
    assert rc == 0, output
    assert "not added to the pool" not in output
