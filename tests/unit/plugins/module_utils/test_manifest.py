# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import copy
import datetime
import hashlib
import json
import os

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils._manifest import (
    ManifestError,
    build_manifest,
    canonical_json,
    compare_profiles,
    load_manifest,
    manifest_entry,
    profiles_sha256,
    validate_manifest,
)
from ansible_collections.macmesh.signing.plugins.module_utils._profile import read_profile

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "profiles")
UTC = datetime.timezone.utc
BEFORE_EXPIRY = datetime.datetime(2016, 1, 1, tzinfo=UTC)

MATCH_TEST_ENTRY = {
    "uuid": "98264c6b-5151-4349-8d0f-66691e48ae35",
    "name": "tools.fastlane.app AppStore",
    "filename": "98264c6b-5151-4349-8d0f-66691e48ae35.mobileprovision",
    "team_id": "439BBM9367",
    "team_name": "Felix Krause",
    "app_id": "439BBM9367.tools.fastlane.app",
    "bundle_id": "tools.fastlane.app",
    "platforms": ["iOS"],
    "created": "2015-11-08T21:09:03Z",
    "expires": "2016-11-07T20:58:52Z",
    "certificates": ["061D3B3DDDCE32CE3FB5901AC608E5AA6C9C540C"],
    "devices": 0,
    "provisions_all_devices": False,
    "sha256": "26d6914d39784a3a1ab99bae8f912a2a68d9f13ee626af7d1b3d053f3566f90b",
}


def entry(uuid, team_id="439BBM9367", expires="2016-11-07T20:58:52Z", extension=".mobileprovision"):
    result = dict(MATCH_TEST_ENTRY, uuid=uuid, filename=uuid + extension, team_id=team_id, expires=expires)
    result["sha256"] = hashlib.sha256(uuid.encode()).hexdigest()
    return result


def valid_manifest():
    return build_manifest(
        [entry("ffffffff-0000-4000-8000-000000000002"), dict(MATCH_TEST_ENTRY), entry("0000000a-0000-4000-8000-00000000000b")],
        "v1",
    )


def test_canonical_json_bytes():
    assert canonical_json({"b": [1, "\u00e9"], "a": None}) == b'{"a":null,"b":[1,"\xc3\xa9"]}'


def test_profiles_sha256_is_sha256_of_canonical_json():
    assert profiles_sha256([{"b": 1, "a": "x"}]) == hashlib.sha256(b'[{"a":"x","b":1}]').hexdigest()


def test_manifest_entry_from_real_profile():
    profile = read_profile(os.path.join(FIXTURES, "match_test.mobileprovision"))
    assert manifest_entry(profile, "98264c6b-5151-4349-8d0f-66691e48ae35.mobileprovision") == MATCH_TEST_ENTRY


def test_build_manifest_sorts_and_hashes():
    manifest = valid_manifest()
    assert list(manifest) == ["schema", "version", "sha256", "profiles"]
    assert manifest["schema"] == 1 and manifest["version"] == "v1"
    assert [item["uuid"] for item in manifest["profiles"]] == [
        "0000000a-0000-4000-8000-00000000000b",
        "98264c6b-5151-4349-8d0f-66691e48ae35",
        "ffffffff-0000-4000-8000-000000000002",
    ]
    assert manifest["sha256"] == hashlib.sha256(canonical_json(manifest["profiles"])).hexdigest()


def test_hash_ignores_input_order_and_version_label():
    entries = valid_manifest()["profiles"]
    assert build_manifest(list(reversed(entries)), "other label")["sha256"] == build_manifest(entries, "v1")["sha256"]


def test_hash_changes_with_any_profile_field():
    manifest = valid_manifest()
    changed = copy.deepcopy(manifest["profiles"])
    changed[0]["devices"] = 1
    assert build_manifest(changed, "v1")["sha256"] != manifest["sha256"]


def test_single_profile_manifest_hash():
    # The hash the acceptance run (one fastlane profile) must produce, computed independently.
    text = json.dumps([MATCH_TEST_ENTRY], sort_keys=True, separators=(",", ":"))
    manifest = build_manifest([dict(MATCH_TEST_ENTRY)], "v1")
    assert manifest["sha256"] == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    "options",
    [
        dict(now=BEFORE_EXPIRY),
        dict(allow_expired=True),
        dict(now=datetime.datetime(2016, 11, 7, 20, 58, 51, tzinfo=UTC)),
    ],
)
def test_valid_manifest_passes(options):
    validate_manifest(valid_manifest(), "profiles.json", **options)


def test_null_team_name_and_provisionprofile_are_valid():
    item = entry("0000000a-0000-4000-8000-00000000000b", extension=".provisionprofile")
    item["team_name"] = None
    validate_manifest(build_manifest([item], "v1"), "profiles.json", now=BEFORE_EXPIRY)


def test_mixed_teams_allowed_on_request():
    manifest = build_manifest([dict(MATCH_TEST_ENTRY), entry("0000000a-0000-4000-8000-00000000000b", team_id="QG598U658S")], "v1")
    validate_manifest(manifest, "profiles.json", now=BEFORE_EXPIRY, allow_mixed_teams=True)
    with pytest.raises(ManifestError) as caught:
        validate_manifest(manifest, "profiles.json", now=BEFORE_EXPIRY)
    assert caught.value.field == "team_id"
    assert ("439BBM9367: profiles[1] (98264c6b-5151-4349-8d0f-66691e48ae35.mobileprovision); "
            "QG598U658S: profiles[0] (0000000a-0000-4000-8000-00000000000b.mobileprovision)") in caught.value.message


def _set(path, value):
    """Mutation setting ``manifest[path...] = value`` (value DROP deletes)."""

    def mutate(manifest):
        target = manifest
        for key in path[:-1]:
            target = target[key]
        if value is DROP:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return mutate


def _rehash(mutate):
    """Apply ``mutate`` then fix the top sha256, so only the intended defect remains."""

    def apply(manifest):
        mutate(manifest)
        manifest["sha256"] = profiles_sha256(manifest["profiles"])

    return apply


DROP = object()
P0 = ("profiles", 0)
UUID0 = "0000000a-0000-4000-8000-00000000000b"

ERRORS = [
    # (id, mutation, field, message fragment, uuid attached to the error)
    ("not-a-dict", lambda m: m.clear() or m.update({"x": 1}), "schema", "missing", None),
    ("schema-2", _set(("schema",), 2), "schema", "not supported", None),
    ("schema-true", _set(("schema",), True), "schema", "not supported", None),
    ("schema-string", _set(("schema",), "1"), "schema", "not supported", None),
    ("schema-missing", _set(("schema",), DROP), "schema", "missing", None),
    ("unknown-top-key", _set(("generated_at",), "2026-01-01T00:00:00Z"), "generated_at", "unknown key", None),
    ("version-empty", _set(("version",), ""), "version", "non-empty string", None),
    ("version-int", _set(("version",), 1), "version", "non-empty string", None),
    ("profiles-dict", _set(("profiles",), {}), "profiles", "must be a list", None),
    ("entry-not-dict", _rehash(_set(P0, "x")), "profiles[0]", "must be an object", None),
    ("entry-missing-key", _rehash(_set(P0 + ("bundle_id",), DROP)), "profiles[0].bundle_id", "missing", UUID0),
    ("entry-unknown-key", _rehash(_set(P0 + ("path",), "/tmp/x")), "profiles[0].path", "unknown key", UUID0),
    ("devices-string", _rehash(_set(P0 + ("devices",), "3")), "profiles[0].devices", "integer", UUID0),
    ("devices-bool", _rehash(_set(P0 + ("devices",), True)), "profiles[0].devices", "integer", UUID0),
    ("devices-negative", _rehash(_set(P0 + ("devices",), -1)), "profiles[0].devices", "negative", UUID0),
    ("all-devices-int", _rehash(_set(P0 + ("provisions_all_devices",), 1)), "profiles[0].provisions_all_devices", "boolean", UUID0),
    ("team-name-int", _rehash(_set(P0 + ("team_name",), 5)), "profiles[0].team_name", "string or null", UUID0),
    ("uuid-int", _rehash(_set(P0 + ("uuid",), 5)), "profiles[0].uuid", "must be a string", None),
    ("uuid-bad", _rehash(_set(P0 + ("uuid",), "not-a-uuid")), "profiles[0].uuid", "not a UUID", "not-a-uuid"),
    ("filename-slash", _rehash(_set(P0 + ("filename",), "x/%s.mobileprovision" % UUID0)), "profiles[0].filename", "bare file name", UUID0),
    ("filename-dotdot", _rehash(_set(P0 + ("filename",), "..%s.mobileprovision" % UUID0)), "profiles[0].filename", "bare file name", UUID0),
    ("filename-backslash", _rehash(_set(P0 + ("filename",), "a\\b.mobileprovision")), "profiles[0].filename", "bare file name", UUID0),
    ("filename-ext", _rehash(_set(P0 + ("filename",), UUID0 + ".plist")), "profiles[0].filename", "must be", UUID0),
    ("filename-other-uuid", _rehash(_set(P0 + ("filename",), "98264c6b-5151-4349-8d0f-66691e48ae35.mobileprovision")),
     "profiles[0].filename", "must be", UUID0),
    ("filename-case", _rehash(_set(P0 + ("filename",), UUID0.upper() + ".mobileprovision")), "profiles[0].filename", "must be", UUID0),
    ("team-empty", _rehash(_set(P0 + ("team_id",), "")), "profiles[0].team_id", "empty", UUID0),
    ("platforms-int", _rehash(_set(P0 + ("platforms",), [1])), "profiles[0].platforms", "strings", UUID0),
    ("certificates-empty", _rehash(_set(P0 + ("certificates",), [])), "profiles[0].certificates", "non-empty", UUID0),
    ("certificates-lowercase", _rehash(_set(P0 + ("certificates",), ["061d3b3dddce32ce3fb5901ac608e5aa6c9c540c"])),
     "profiles[0].certificates", "uppercase hex", UUID0),
    ("certificates-short", _rehash(_set(P0 + ("certificates",), ["061D3B"])), "profiles[0].certificates", "40", UUID0),
    ("entry-sha256-upper", _rehash(_set(P0 + ("sha256",), "A" * 64)), "profiles[0].sha256", "64 lowercase hex", UUID0),
    ("created-format", _rehash(_set(P0 + ("created",), "2015-11-08 21:09:03")), "profiles[0].created", "YYYY-MM-DDTHH:MM:SSZ", UUID0),
    ("expires-format", _rehash(_set(P0 + ("expires",), "2016-11-07T20:58:52+00:00")), "profiles[0].expires", "YYYY-MM-DDTHH:MM:SSZ", UUID0),
    ("expired", _rehash(_set(P0 + ("expires",), "2015-12-31T23:59:59Z")), "profiles[0].expires", "expired at 2015-12-31T23:59:59Z", UUID0),
    ("expires-now", _rehash(_set(P0 + ("expires",), "2016-01-01T00:00:00Z")), "profiles[0].expires", "expired", UUID0),
    ("duplicate-uuid", _rehash(lambda m: m["profiles"].append(dict(m["profiles"][0], sha256="b" * 64))),
     "profiles[3].uuid", "duplicate UUID", UUID0),
    ("duplicate-uuid-other-case",
     _rehash(lambda m: m["profiles"].append(dict(m["profiles"][0], uuid=UUID0.upper(), filename=UUID0.upper() + ".mobileprovision"))),
     "profiles[3].uuid", "also profiles[0]", UUID0.upper()),
    ("mixed-teams", _rehash(_set(P0 + ("team_id",), "QG598U658S")), "team_id", "several teams", None),
    ("top-sha256-format", _set(("sha256",), "xyz"), "sha256", "64 lowercase hex", None),
    ("top-sha256-int", _set(("sha256",), 5), "sha256", "64 lowercase hex", None),
    ("top-sha256-mismatch", _set(P0 + ("devices",), 4), "sha256", "the profiles hash to", None),
    ("top-sha256-of-other", _set(("sha256",), "0" * 64), "sha256", "the profiles hash to", None),
]


@pytest.mark.parametrize("mutate, field, fragment, uuid", [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_validate_errors(mutate, field, fragment, uuid):
    manifest = valid_manifest()
    mutate(manifest)
    with pytest.raises(ManifestError) as caught:
        validate_manifest(manifest, "/ctl/profiles.json", now=BEFORE_EXPIRY)
    error = caught.value
    assert (error.source, error.field, error.uuid) == ("/ctl/profiles.json", field, uuid)
    assert fragment in error.message
    assert str(error) == "/ctl/profiles.json: %s: %s" % (field, error.message)


def test_non_dict_manifest():
    with pytest.raises(ManifestError, match="^m.json: manifest: must be a JSON object$"):
        validate_manifest([], "m.json")


def test_expiry_uses_current_time_by_default():
    with pytest.raises(ManifestError, match="expired at 2016-11-07T20:58:52Z"):
        validate_manifest(build_manifest([dict(MATCH_TEST_ENTRY)], "v1"), "m.json")


def test_load_manifest_round_trip(tmp_path):
    path = tmp_path / "profiles.json"
    manifest = valid_manifest()
    path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    assert load_manifest(str(path)) == manifest


@pytest.mark.parametrize(
    "content, fragment",
    [(None, "cannot be read"), (b"{not json", "not UTF-8 JSON"), (b"\xff\xfe", "not UTF-8 JSON")],
)
def test_load_manifest_errors(tmp_path, content, fragment):
    path = tmp_path / "profiles.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ManifestError) as caught:
        load_manifest(str(path))
    assert (caught.value.source, caught.value.field) == (str(path), "file")
    assert fragment in caught.value.message


def test_compare_profiles():
    expected = valid_manifest()["profiles"]
    installed = [
        # Same profile seen through both Xcode directories: one record each.
        {"uuid": expected[0]["uuid"], "sha256": expected[0]["sha256"]},
        {"uuid": expected[0]["uuid"].upper(), "sha256": expected[0]["sha256"]},
        {"uuid": expected[1]["uuid"], "sha256": "c" * 64},
        {"uuid": "11111111-2222-4333-8444-555555555555", "sha256": "d" * 64},
    ]
    assert compare_profiles(expected, installed) == [
        {"kind": "unexpected", "uuid": "11111111-2222-4333-8444-555555555555", "expected": None, "actual": "d" * 64},
        {"kind": "sha256_mismatch", "uuid": expected[1]["uuid"], "expected": expected[1]["sha256"], "actual": "c" * 64},
        {"kind": "missing", "uuid": expected[2]["uuid"], "expected": expected[2]["sha256"], "actual": None},
    ]


def test_compare_profiles_identical_sets():
    expected = valid_manifest()["profiles"]
    assert compare_profiles(expected, [{"uuid": item["uuid"], "sha256": item["sha256"]} for item in expected]) == []


@pytest.mark.parametrize("field, value", [
    ("uuid", "0000000a-0000-4000-8000-00000000000b\n"),
    ("sha256", "0" * 64 + "\n"),
    ("certificates", ["061D3B3DDDCE32CE3FB5901AC608E5AA6C9C540C\n"]),
])
def test_identifier_with_a_trailing_newline_is_refused(field, value):
    # `$` matches before a final newline; the patterns use \Z.
    item = entry("0000000a-0000-4000-8000-00000000000b")
    item[field] = value
    if field == "uuid":
        item["filename"] = value + ".mobileprovision"
    with pytest.raises(ManifestError) as caught:
        validate_manifest(build_manifest([item], "v1"), "profiles.json", now=BEFORE_EXPIRY)
    assert caught.value.field == "profiles[0].%s" % field
