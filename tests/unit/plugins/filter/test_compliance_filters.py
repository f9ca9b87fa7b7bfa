# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The expiring and mesh_parity filters: results pass through, input errors name the filter.

The checks themselves are tested in tests/unit/plugins/module_utils/test_parity.py; here every
input error must surface as AnsibleFilterError prefixed with the filter's FQCN, and one playbook
run shows the filters resolve by FQCN and fail a task the documented way.
"""

import hashlib
import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.filter import compliance
from ansible_collections.macmesh.signing.plugins.module_utils._identity import identity_hash
from ansible_collections.macmesh.signing.tests.unit.plugins.modules import test_signing_info as fake_node

NOW = "2026-12-01T00:00:00Z"
MANIFEST_SHA = hashlib.sha256(b"manifest").hexdigest()
WRAPPER_SHA = hashlib.sha256(b"wrapper").hexdigest()
KEYCHAIN = "/Users/ci-build/Library/Keychains/ci-build.keychain-db"
MOBILE_DEVICE = "/Users/ci-build/Library/MobileDevice/Provisioning Profiles"
DIST = {"sha1": "86890D67F234745572B7EF153C72DEA7CF522EDE", "name": "iPhone Distribution: Tien Le (QG598U658S)",
        "valid": True}


def signer_facts():
    return {
        "identities": [DIST], "identity_hash": identity_hash([DIST]), "summary_hash": "0" * 40,
        "keychain": {"path": KEYCHAIN, "exists": True, "owner": "ci-build", "mode": "0600", "lock_on_sleep": True,
                     "timeout": 3600, "locked": True},
        "search_list": [KEYCHAIN], "default_keychain": KEYCHAIN, "profiles": [],
        "profile_dirs": {MOBILE_DEVICE: {"exists": True, "is_symlink": True, "target": "/Library/MacMesh/profiles/current",
                                         "writable_by_user": False}},
        "duplicate_uuids": [],
        "active_manifest": {"sha256": MANIFEST_SHA, "version": "v1", "path": "/Library/MacMesh/profiles/" + MANIFEST_SHA},
        "wrapper": {"path": "/usr/local/bin/macmesh-keychain-unlock", "sha256": WRAPPER_SHA,
                    "log": {"path": "/Library/Logs/MacMesh/keychain-unlock.log", "exists": True, "type": "file",
                            "owner": "ci-build", "group": "staff", "mode": "0640", "append_only": True,
                            "directory": {"path": "/Library/Logs/MacMesh", "owner": "root", "mode": "0755"}}},
        "hardware_fingerprint": "1" * 64, "macos_version": "15.3.1", "clock_offset": 0.01, "unavailable": {},
    }


GROUPS = {"hk": ["sign-hk"], "signers": ["sign-hk"], "builders": []}
EXPECTED = {"manifest": MANIFEST_SHA, "regions": ["hk"], "wrapper_sha256": WRAPPER_SHA,
            "declared_identities": {DIST["sha1"]: DIST["name"]}, "now": NOW}


def test_filter_module_lists_both_filters():
    assert compliance.FilterModule().filters() == {"expiring": compliance.expiring, "mesh_parity": compliance.mesh_parity}


def test_mesh_parity_passes_the_result_through():
    result = compliance.mesh_parity({"sign-hk": signer_facts()}, GROUPS, EXPECTED)
    assert result["ok"] is True
    assert result["hosts"]["sign-hk"]["identity_hash"] == identity_hash([DIST])


def test_mesh_parity_reports_findings():
    result = compliance.mesh_parity({"sign-hk": {"unreachable": True, "msg": "timed out"}}, GROUPS, EXPECTED)
    assert result["ok"] is False
    assert result["findings"] == [{"severity": "error", "code": "UNREACHABLE", "host": "sign-hk", "region": "hk",
                                   "message": "unreachable: timed out"}]


def test_expiring_passes_the_result_through():
    items = [{"uuid": "a", "expires": "2026-12-02T00:00:00Z"}, {"uuid": "b", "expires": "2027-12-02T00:00:00Z"}]
    assert compliance.expiring(items, 21, now=NOW) == [
        {"uuid": "a", "expires": "2026-12-02T00:00:00Z", "days_left": 1.0, "expired": False}]


def test_mesh_parity_reads_a_real_signing_info_result(tmp_path, monkeypatch, capsys):
    """The contract end to end: signing_info on its fake node (see test_signing_info), then the filter."""
    node = fake_node.Node(tmp_path, monkeypatch)
    with open(fake_node.MATCH_TEST, "rb") as handle:
        manifest = node.install_version({fake_node.MATCH_UUID + ".mobileprovision": handle.read()})
    node.link_xcode_dirs()
    wrapper_sha = node.install_wrapper()
    result = fake_node.run_module(capsys, node.args())
    parity = compliance.mesh_parity({"sign-hk": result}, GROUPS, {
        "manifest": manifest, "regions": ["hk"], "wrapper_sha256": wrapper_sha, "keychain_path": str(node.keychain),
        "profile_root": str(node.profile_root), "declared_identities": {DIST["sha1"]: DIST["name"],
                                                                        "13F9C39BE0072902F6A60AF738F51BE53E3A8B23":
                                                                        "iPhone Developer: Tien Le (8PKL73LX5A)"},
        "keychain_settings": {"timeout": None, "lock_on_sleep": False},
        # The fake keychain belongs to the fake node's uid, whatever this machine calls it.
        "keychain_owner": result["keychain"]["owner"],
        # fastlane's match_test profile expires 2016-11-07T20:58:52Z
        "now": "2016-11-01T00:00:00Z"})
    assert [(f["code"], f["severity"]) for f in parity["findings"]] == [
        ("IDENTITY_UNDECLARED", "error"),  # the untrusted jevpaste-dev identity of the fake keychain
        ("PROFILE_OVERLAP_NO_SUCCESSOR", "error"),  # 6.9 days left, no successor
        ("SEARCH_LIST", "error"),  # the fake user's search list holds only a login keychain
        ("WRAPPER_LOG_UNSEALED", "error"),  # the fake node's log has no append-only flag
    ]
    assert parity["hosts"]["sign-hk"]["manifest_sha"] == manifest["sha256"]
    assert parity["hosts"]["sign-hk"]["identity_hash"] == result["identity_hash"]


MESH_PARITY_ERRORS = [
    ("facts", ([], GROUPS, EXPECTED), "hostvars_subset must be a dict of host -> signing_info result, not list"),
    ("groups", ({}, None, EXPECTED), "groups must be a dict of group -> list of hosts, not null"),
    ("expected", ({}, GROUPS, "x"), "expected must be a dict, not str"),
    ("manifest", ({}, GROUPS, dict(EXPECTED, manifest=5)),
     "expected.manifest must be a manifest v1 dict or its 64-hex sha256, not int"),
    ("regions", ({}, GROUPS, dict(EXPECTED, regions="hk")), "expected.regions must be a non-empty list of group names"),
    ("result", ({"sign-hk": []}, GROUPS, EXPECTED),
     "hostvars_subset['sign-hk'] must be a signing_info result (dict), not list"),
]


@pytest.mark.parametrize("args, message", [case[1:] for case in MESH_PARITY_ERRORS],
                         ids=[case[0] for case in MESH_PARITY_ERRORS])
def test_mesh_parity_errors_name_the_filter(args, message):
    with pytest.raises(AnsibleFilterError) as caught:
        compliance.mesh_parity(*args)
    assert str(caught.value).startswith("macmesh.signing.mesh_parity: " + message)


EXPIRING_ERRORS = [
    ("input", ("x", 7), {}, "_input must be a list of dicts, not str"),
    ("item", ([1], 7), {}, "_input[0] must be a dict, not int"),
    ("days", ([], None), {}, "days must be a non-negative number, not None"),
    ("now", ([], 7), {"now": "yesterday"}, "now 'yesterday' is not YYYY-MM-DDTHH:MM:SSZ"),
    ("key", ([{"expires": NOW}], 7), {"key": "not_after"}, "_input[0] has no 'not_after' key"),
]


@pytest.mark.parametrize("args, kwargs, message", [case[1:] for case in EXPIRING_ERRORS],
                         ids=[case[0] for case in EXPIRING_ERRORS])
def test_expiring_errors_name_the_filter(args, kwargs, message):
    with pytest.raises(AnsibleFilterError) as caught:
        compliance.expiring(*args, **kwargs)
    assert str(caught.value) == "macmesh.signing.expiring: " + message


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    facts: %(facts)s
    expected: %(expected)s
    soon: [{name: a, expires: "2026-12-05T00:00:00Z"}, {name: b, expires: "2027-12-05T00:00:00Z"}]
  tasks:
    - name: Compare through the FQCN
      ansible.builtin.set_fact:
        parity: "{{ facts | macmesh.signing.mesh_parity({'hk': ['sign-hk'], 'signers': ['sign-hk']}, expected) }}"
        expiring: "{{ soon | macmesh.signing.expiring(21, now='%(now)s') | map(attribute='name') | list }}"
    - name: A bad input fails the task with the filter's message
      ansible.builtin.set_fact:
        broken: "{{ facts | macmesh.signing.mesh_parity(groups, {'manifest': 'x'}) }}"
      register: broken
      ignore_errors: true
    - name: Print what the unit test checks
      ansible.builtin.debug:
        msg: "RESULT {{ {'ok': parity.ok, 'expiring': expiring, 'failed': broken is failed, 'msg': broken.msg} | to_json }}"
"""


def test_filters_resolve_by_fqcn_in_a_playbook(tmp_path):
    """One real templating run: FQCN resolution, Ansible's container types, the error surfacing in the task."""
    playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    if not os.path.exists(playbook_bin):
        pytest.skip("ansible-playbook is not installed next to this Python")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    os.makedirs(str(tmp_path / "ansible_collections" / "macmesh"))
    os.symlink(root, str(tmp_path / "ansible_collections" / "macmesh" / "signing"))
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK % {"facts": json.dumps({"sign-hk": signer_facts()}), "expected": json.dumps(EXPECTED),
                                    "now": NOW})
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"))
    run = subprocess.run([playbook_bin, "-i", "localhost,", "-c", "local", str(playbook)], env=env, cwd=str(tmp_path),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120,
                         check=False)
    assert run.returncode == 0, run.stdout
    line = [text for text in run.stdout.splitlines() if '"msg": "RESULT ' in text][0]
    result = json.loads(json.loads("{%s}" % line.strip())["msg"][len("RESULT "):])
    assert result["ok"] is True
    assert result["expiring"] == ["a"]
    assert result["failed"] is True
    assert "macmesh.signing.mesh_parity: expected.manifest must be a manifest v1 dict or its 64-hex sha256" in result["msg"]
