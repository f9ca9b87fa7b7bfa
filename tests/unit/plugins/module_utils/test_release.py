# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _release
from ansible_collections.macmesh.signing.plugins.module_utils._manifest import build_manifest

OLD = "A" * 40
NEW = "B" * 40


def write_manifest(root, version, uuid_digit, expires="2027-06-01T00:00:00Z"):
    folder = os.path.join(root, "profiles-" + version)
    os.makedirs(folder)
    entry = {"uuid": ("%s" % uuid_digit) * 8 + "-1111-1111-1111-111111111111", "name": "App " + version,
             "filename": "p.mobileprovision", "team_id": "ABCDE12345", "team_name": "T", "app_id": "ABCDE12345.app",
             "bundle_id": "app", "platforms": ["iOS"], "created": "2026-01-01T00:00:00Z", "expires": expires,
             "certificates": [], "devices": [], "provisions_all_devices": False, "sha256": "0" * 64}
    manifest = build_manifest([entry], version)
    with open(os.path.join(folder, entry["filename"]), "wb") as handle:
        handle.write(b"a profile")
    path = os.path.join(folder, "profiles.json")
    with open(path, "w") as handle:
        json.dump(manifest, handle)
    return path, manifest


def write_p12(root, name):
    path = os.path.join(root, name)
    with open(path, "wb") as handle:
        handle.write(b"not really a p12")
    return path


@pytest.fixture
def mesh(tmp_path):
    root = str(tmp_path)
    releases = os.path.join(root, "releases")
    manifest_path, manifest = write_manifest(root, "v1", 1)
    p12 = write_p12(root, "old.p12")
    _release.initial(releases, "v1", {"path": manifest_path},
                     [{"sha1": OLD, "name": "Apple Distribution: Old", "p12": p12, "passphrase": {"var": "vault_old"}}],
                     policy_data={"max_key_copies": 4})
    return {"root": root, "releases": releases, "manifest": manifest, "manifest_path": manifest_path}


def stage_v2(mesh, **kwargs):
    path, manifest = write_manifest(mesh["root"], "v2", 2)
    p12 = write_p12(mesh["root"], "new.p12")
    release, changed = _release.stage(
        mesh["releases"], "v2", {"path": path},
        [{"sha1": NEW, "name": "Apple Distribution: New", "src": p12, "passphrase": {"file": p12 + ".pass"}}],
        change={"ticket": "CHG-1", "approvers": ["a", "b"]}, **kwargs)
    return release, changed, manifest


def test_initial_release_is_current_and_relative(mesh):
    assert _release.current_version(mesh["releases"]) == "v1"
    with open(os.path.join(mesh["releases"], "v1", "release.json")) as handle:
        data = json.load(handle)
    assert data["status"] == "current"
    assert not os.path.isabs(data["manifest"]["path"])
    assert data["identities"][0]["passphrase"] == {"var": "vault_old"}
    desired = _release.read_desired(mesh["releases"])
    assert desired["source"] == "release"
    assert desired["serial"] == 1
    assert desired["manifest"]["sha256"] == mesh["manifest"]["sha256"]
    assert desired["manifest"]["team_ids"] == ["ABCDE12345"]
    assert desired["policy"]["max_key_copies"] == 4
    assert desired["policy"]["max_identity_hashes"] == 2  # collection default
    assert [item["sha1"] for item in desired["identities"]] == [OLD]
    assert desired["keep_previous"] is True  # nothing retired: a rollback target stays


def test_initial_is_idempotent_and_refuses_other_content(mesh):
    p12 = os.path.join(mesh["root"], "old.p12")
    assert _release.initial(mesh["releases"], "v1", {"path": mesh["manifest_path"]},
                            [{"sha1": OLD, "name": "Apple Distribution: Old", "p12": p12,
                              "passphrase": {"var": "vault_old"}}], policy_data={"max_key_copies": 4}) is False
    with pytest.raises(_release.ReleaseError, match="exists with other content"):
        _release.initial(mesh["releases"], "v1", {"path": mesh["manifest_path"]},
                         [{"sha1": NEW, "name": "x", "p12": p12, "passphrase": {"var": "v"}}])


def test_stage_carries_the_old_identity_for_the_overlap(mesh):
    release, changed, manifest = stage_v2(mesh)
    assert changed
    assert release["status"] == "staged"
    assert release["serial"] == 2
    assert release["previous"] == "v1"
    by_sha = dict((item["sha1"], item) for item in release["identities"])
    assert by_sha[OLD]["retire_with"] == "v1"
    assert by_sha[NEW]["retire_with"] is None
    # current has not moved
    assert _release.current_version(mesh["releases"]) == "v1"
    # re-staging the same inputs is no change
    assert stage_v2_again(mesh) is False


def stage_v2_again(mesh):
    path = os.path.join(mesh["root"], "profiles-v2", "profiles.json")
    p12 = os.path.join(mesh["root"], "new.p12")
    return _release.stage(mesh["releases"], "v2", {"path": path},
                          [{"sha1": NEW, "name": "Apple Distribution: New", "src": p12,
                            "passphrase": {"file": p12 + ".pass"}}])[1]


def test_stage_refuses_the_current_manifest_and_name(mesh):
    p12 = os.path.join(mesh["root"], "old.p12")
    with pytest.raises(_release.ReleaseError, match="nothing to rotate"):
        _release.stage(mesh["releases"], "v2", {"path": mesh["manifest_path"]},
                       [{"sha1": NEW, "p12": p12, "passphrase": {"var": "x"}}])
    with pytest.raises(_release.ReleaseError, match="is the current release"):
        _release.stage(mesh["releases"], "v1", {"path": mesh["manifest_path"]},
                       [{"sha1": NEW, "p12": p12, "passphrase": {"var": "x"}}])
    with pytest.raises(_release.ReleaseError, match="rotate_identities"):
        _release.stage(mesh["releases"], "v9", {"path": mesh["manifest_path"]}, [])


def test_stage_refuses_a_passphrase_value(mesh):
    path, _manifest = write_manifest(mesh["root"], "v2", 2)
    p12 = write_p12(mesh["root"], "new.p12")
    with pytest.raises(_release.ReleaseError) as info:
        _release.stage(mesh["releases"], "v2", {"path": path}, [{"sha1": NEW, "p12": p12, "passphrase": "hunter2"}])
    assert "identities[0].passphrase" in str(info.value)
    assert "never hold the value" in str(info.value)
    assert "hunter2" not in str(info.value)
    assert not os.path.exists(os.path.join(mesh["releases"], "v2", "release.json"))


def test_promote_then_retire(mesh):
    stage_v2(mesh)
    assert _release.promote(mesh["releases"], "v2") is True
    assert _release.current_version(mesh["releases"]) == "v2"
    assert _release.statuses(mesh["releases"]) == {"v1": "superseded", "v2": "current"}
    desired = _release.read_desired(mesh["releases"])
    assert sorted(item["sha1"] for item in desired["identities"]) == [OLD, NEW]
    assert desired["retiring"] == [OLD]
    assert desired["keep_previous"] is True
    assert _release.promote(mesh["releases"], "v2") is False
    view = _release.retire_view(desired, mesh["releases"])
    assert [item["sha1"] for item in view["identities"]] == [NEW]
    assert view["keep_previous"] is False
    assert view["sha256"] == desired["sha256"]  # the release itself does not change
    assert _release.retire(mesh["releases"], "v1") is True
    assert _release.retire(mesh["releases"], "v1") is False
    after = _release.read_desired(mesh["releases"])
    assert [item["sha1"] for item in after["identities"]] == [NEW]
    assert after["keep_previous"] is False
    # What a node records tells a retired node from one that still keeps the rollback version, even
    # when the identities are already the same (a revoke removed the old one during the overlap).
    same_identities = dict(desired, identities=view["identities"])
    assert _release.node_state(view, True) != _release.node_state(same_identities, True)
    assert _release.node_state(view, True) == _release.node_state(after, True)


def test_retire_and_promote_refuse_wrong_status(mesh):
    with pytest.raises(_release.ReleaseError, match="only a release that a later one superseded"):
        _release.retire(mesh["releases"], "v1")
    stage_v2(mesh)
    _release.promote(mesh["releases"], "v2")
    _release.retire(mesh["releases"], "v1")
    with pytest.raises(_release.ReleaseError, match="only a staged release is promoted"):
        _release.promote(mesh["releases"], "v1")


def test_restage_after_promotion_is_no_change(mesh):
    stage_v2(mesh)
    _release.promote(mesh["releases"], "v2")
    assert stage_v2_again(mesh) is False


def test_current_pointer_errors(tmp_path):
    releases = str(tmp_path / "releases")
    with pytest.raises(_release.ReleaseError, match="is not a directory"):
        _release.current_version(releases)
    os.makedirs(releases)
    with pytest.raises(_release.ReleaseError, match="names the current release"):
        _release.current_version(releases)
    with open(os.path.join(releases, "current"), "w") as handle:
        handle.write("../etc\n")
    with pytest.raises(_release.ReleaseError, match="must hold one release name"):
        _release.current_version(releases)


BAD = [
    ({"extra": 1}, "extra", "is not a release field"),
    ({"schema": 2}, "schema", "must be 1"),
    ({"version": "a/b"}, "version", "release name"),
    ({"serial": 0}, "serial", "whole number"),
    ({"serial": True}, "serial", "whole number"),
    ({"status": "live"}, "status", "must be one of"),
    ({"previous": 3}, "previous", "release name or null"),
    ({"manifest": []}, "manifest", "must be an object"),
    ({"manifest": {"path": "x"}}, "manifest.profiles_dir", "is missing"),
    ({"identities": {}}, "identities", "must be a list"),
    ({"identities": [{"sha1": "AB" * 19, "p12": "x", "passphrase": {"var": "v"}}]}, "identities[0].sha1", "40-hex"),
    ({"identities": [{"sha1": OLD + "\n", "p12": "x", "passphrase": {"var": "v"}}]}, "identities[0].sha1", "40-hex"),
    ({"identities": [{"sha1": OLD, "p12": "x", "password": "s3cret"}]}, "identities[0].password", "never the value"),
    ({"identities": [{"sha1": OLD, "p12": "x", "passphrase": {"env": "X"}}]}, "identities[0].passphrase", "file"),
    ({"identities": [{"sha1": OLD, "p12": "x", "passphrase": {"var": "a-b"}}]}, "identities[0].passphrase.var", "name"),
    ({"identities": [{"sha1": OLD, "passphrase": {"var": "a"}}]}, "identities[0].p12", "PKCS#12"),
    ({"policy": {"max_key_copies": -1}}, "policy.max_key_copies", ">= 0"),
    ({"policy": {"topology": "mesh"}}, "policy.topology", "must be one of"),
    ({"policy": {"colour": 1}}, "policy.colour", "not a policy setting"),
    ({"team_ids": ["abc"]}, "team_ids[0]", "Team ID"),
]


@pytest.mark.parametrize("patch,field,text", BAD, ids=[case[1] + "-" + str(index) for index, case in enumerate(BAD)])
def test_validate_names_file_and_field(mesh, patch, field, text):
    path = os.path.join(mesh["releases"], "v1", "release.json")
    with open(path) as handle:
        data = json.load(handle)
    data.update(patch)
    with pytest.raises(_release.ReleaseError) as info:
        _release.validate(data, path, check_files=False)
    assert str(info.value).startswith(path + ": " + field + ": ")
    assert text in str(info.value)
    assert "s3cret" not in str(info.value)


def test_validate_checks_the_manifest_file(mesh):
    path = os.path.join(mesh["releases"], "v1", "release.json")
    with open(path) as handle:
        data = json.load(handle)
    data["manifest"]["sha256"] = "f" * 64
    with pytest.raises(_release.ReleaseError, match="manifest.sha256"):
        _release.validate(data, path)
    with open(mesh["manifest_path"]) as handle:
        frozen = json.load(handle)
    frozen["profiles"][0]["name"] = "edited"
    with open(mesh["manifest_path"], "w") as handle:
        json.dump(frozen, handle)
    with pytest.raises(_release.ReleaseError, match="edited after it was frozen"):
        _release.read_desired(mesh["releases"])


def test_not_json_and_missing(mesh):
    path = os.path.join(mesh["releases"], "v1", "release.json")
    with open(path, "wb") as handle:
        handle.write(b"\xff\xfe")
    with pytest.raises(_release.ReleaseError, match="not UTF-8"):
        _release.read_desired(mesh["releases"])
    with pytest.raises(_release.ReleaseError, match="no release 'v7'"):
        _release.read_desired(mesh["releases"], "v7")


def test_relation_and_guard(mesh):
    desired = _release.read_desired(mesh["releases"])
    same = _release.node_state(desired, True)
    assert same == _release.node_state(desired, True)  # deterministic
    assert _release.relation(same, desired) == "same"
    assert _release.relation(None, desired) == "none"
    assert _release.relation({"release": {"serial": "2"}}, desired) == "none"
    ahead = {"release": {"version": "v2", "serial": 2, "sha256": "x"}}
    behind = {"release": {"version": "v0", "serial": 0, "sha256": "x"}}
    other = {"release": {"version": "v1", "serial": 1, "sha256": "x"}}
    assert _release.relation(ahead, desired) == "ahead"
    assert _release.relation(behind, desired) == "behind"
    assert _release.relation(other, desired) == "mismatch"
    assert _release.guard("hk-1", same, desired) is None
    assert _release.guard("hk-1", behind, desired) is None
    message = _release.guard("hk-1", ahead, desired)
    assert message.startswith("REFUSED: hk-1 runs release v2 (serial 2), newer than the controller's release v1 (serial 1)")
    assert "macmesh_allow_downgrade=true" in message
    assert "needs macmesh_downgrade_ticket" in _release.guard("hk-1", ahead, desired, allow_downgrade=True)
    assert _release.guard("hk-1", ahead, desired, allow_downgrade=True, ticket="CHG-9") is None
    assert _release.guard("hk-1", other, desired).startswith("REFUSED: hk-1 runs release v1")
    inventory = dict(desired, serial=None)
    assert _release.relation(ahead, inventory) == "inventory"
    assert _release.guard("hk-1", ahead, inventory) is None


def test_node_state_of_a_builder_holds_no_identity(mesh):
    desired = _release.read_desired(mesh["releases"])
    assert _release.node_state(desired, False)["identities"] == []
    assert _release.node_state(desired, True)["identities"] == [OLD]


def test_desired_from_inventory(mesh):
    desired = _release.desired_from_inventory(mesh["manifest_path"], [{"sha1": OLD.lower(), "src": "x.p12", "passphrase": "pw-XYZZY"}],
                                              None, {"max_key_copies": 3})
    assert desired["source"] == "inventory"
    assert desired["identities"] == [{"sha1": OLD, "name": OLD, "src": "x.p12"}]
    assert "XYZZY" not in json.dumps(desired)
    assert desired["policy"]["max_key_copies"] == 3
    assert desired["manifest"]["sha256"] == mesh["manifest"]["sha256"]
    with pytest.raises(_release.ReleaseError, match="keychain_identities\\[0\\].sha1"):
        _release.desired_from_inventory(mesh["manifest_path"], [{"sha1": "no"}], None, None)
    with pytest.raises(_release.ReleaseError, match="profile_mounts_manifest"):
        _release.desired_from_inventory(None, [], None, None)
    with pytest.raises(_release.ReleaseError, match="keychain_identities\\[0\\]: must be"):
        _release.desired_from_inventory(mesh["manifest_path"], ["x.p12"], None, None)


def test_atomic_write_leaves_no_temp_file(tmp_path):
    target = str(tmp_path / "f.json")
    _release.atomic_write(target, "one\n")
    _release.atomic_write(target, "two\n")
    with open(target) as handle:
        assert handle.read() == "two\n"
    assert os.listdir(str(tmp_path)) == ["f.json"]


def test_stage_revocation_drops_the_compromised_identity(mesh):
    stage_v2(mesh)
    _release.promote(mesh["releases"], "v2")
    release, changed = _release.stage_revocation(mesh["releases"], "v2-revoke", [OLD], change={"ticket": "SEC-1"})
    assert changed
    assert [item["sha1"] for item in release["identities"]] == [NEW]
    assert release["manifest"]["sha256"] == _release.read_desired(mesh["releases"])["manifest"]["sha256"]
    assert release["serial"] == 3
    assert _release.stage_revocation(mesh["releases"], "v2-revoke", [OLD])[1] is False
    _release.promote(mesh["releases"], "v2-revoke")
    assert [item["sha1"] for item in _release.read_desired(mesh["releases"])["identities"]] == [NEW]
    assert _release.stage_revocation(mesh["releases"], "v2-revoke", [OLD])[1] is False


def test_stage_revocation_refuses_to_leave_nothing(mesh):
    with pytest.raises(_release.ReleaseError, match="no identity is left to sign with"):
        _release.stage_revocation(mesh["releases"], "v1-revoke", [OLD])
    with pytest.raises(_release.ReleaseError, match="one of the compromised identities"):
        _release.stage_revocation(mesh["releases"], "v1-revoke", [OLD], [{"sha1": OLD, "p12": "x", "passphrase": {"var": "a"}}])


def test_stage_refuses_a_profiles_dir_without_the_profile_files(mesh):
    """Found at the gate, before any node copies anything (the rotation drills once rolled back the
    canary on a copy error because the profiles sat in a sub-directory of the manifest's)."""
    path, _manifest = write_manifest(mesh["root"], "v2", 2)
    p12 = write_p12(mesh["root"], "new.p12")
    elsewhere = os.path.join(mesh["root"], "empty")
    os.makedirs(elsewhere)
    with pytest.raises(_release.ReleaseError) as caught:
        _release.stage(mesh["releases"], "v2", {"path": path, "profiles_dir": elsewhere},
                       [{"sha1": NEW, "name": "Apple Distribution: New", "src": p12, "passphrase": {"var": "vault_new"}}])
    message = str(caught.value)
    assert "manifest.profiles_dir" in message and elsewhere in message and "p.mobileprovision" in message
    assert "rotate_profiles_dir" in message
    assert not os.path.exists(os.path.join(mesh["releases"], "v2"))
