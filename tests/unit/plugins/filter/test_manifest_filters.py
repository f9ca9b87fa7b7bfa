# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The manifest_sha and profile_map filters."""

import collections
import hashlib
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.filter import manifest as filters
from ansible_collections.macmesh.signing.plugins.module_utils._manifest import build_manifest

NOW = "2026-12-01T00:00:00Z"
TEAM = "QG598U658S"
OTHER_TEAM = "8PKL73LX5A"


def entry(number, bundle_id, expires, team=TEAM, name=None):
    uuid = "22222222-bbbb-4bbb-8bbb-%012d" % number
    return {
        "uuid": uuid, "name": name or "%s AppStore" % bundle_id, "filename": uuid + ".mobileprovision",
        "team_id": team, "team_name": None, "app_id": "%s.%s" % (team, bundle_id), "bundle_id": bundle_id,
        "platforms": ["iOS"], "created": "2026-01-01T00:00:00Z", "expires": expires,
        "certificates": ["86890D67F234745572B7EF153C72DEA7CF522EDE"], "devices": 0,
        "provisions_all_devices": False, "sha256": hashlib.sha256(uuid.encode()).hexdigest(),
    }


APP = entry(1, "com.example.app", "2027-06-01T00:00:00Z")
APP_LATER = entry(2, "com.example.app", "2027-09-01T00:00:00Z")
APP_EXPIRED = entry(3, "com.example.app", "2026-11-01T00:00:00Z")
WILD = entry(4, "com.example.*", "2027-06-01T00:00:00Z")
WILD_APP = entry(5, "com.example.app.*", "2027-06-01T00:00:00Z")
ANY = entry(6, "*", "2028-01-01T00:00:00Z")
OTHER = entry(7, "com.example.app", "2029-01-01T00:00:00Z", team=OTHER_TEAM)


# --- manifest_sha ------------------------------------------------------------------------------

def test_manifest_sha_equals_the_manifest_hash():
    manifest = build_manifest([APP, WILD], "v1")
    assert filters.manifest_sha(manifest) == manifest["sha256"]
    assert filters.manifest_sha(manifest["profiles"]) == manifest["sha256"]


def test_manifest_sha_is_canonical_json():
    """Independent oracle: sorted keys, no whitespace, UTF-8 (non-ASCII kept as is)."""
    profiles = [{"name": "Größe", "uuid": "u"}]
    expected = hashlib.sha256('[{"name":"Größe","uuid":"u"}]'.encode("utf-8")).hexdigest()
    assert filters.manifest_sha(profiles) == expected
    assert filters.manifest_sha((collections.OrderedDict([("uuid", "u"), ("name", "Größe")]),)) == expected


def test_manifest_sha_ignores_version_and_stored_sha():
    manifest = build_manifest([APP], "v1")
    relabelled = dict(manifest, version="v2", sha256="0" * 64)
    assert filters.manifest_sha(relabelled) == manifest["sha256"]


def test_manifest_sha_changes_with_any_profile_field():
    edited = dict(APP, expires="2027-06-02T00:00:00Z")
    assert filters.manifest_sha([edited]) != filters.manifest_sha([APP])


MANIFEST_SHA_ERRORS = [
    ("text", "profiles.json", "_input must be a manifest (dict) or its list of profiles, not str"),
    ("none", None, "_input must be a manifest (dict) or its list of profiles, not null"),
    ("no profiles", {"schema": 1, "version": "v1"}, "the manifest has no 'profiles' key"),
    ("profiles dict", {"profiles": {"a": APP}}, "_input.profiles must be a manifest (dict) or its list of profiles, not dict"),
    ("entry text", ["a"], "_input[0] must be a dict, not str"),
    ("manifest entry", {"profiles": [APP, 5]}, "_input.profiles[1] must be a dict, not int"),
]


@pytest.mark.parametrize("data, message", [case[1:] for case in MANIFEST_SHA_ERRORS],
                         ids=[case[0] for case in MANIFEST_SHA_ERRORS])
def test_manifest_sha_errors(data, message):
    with pytest.raises(AnsibleFilterError) as caught:
        filters.manifest_sha(data)
    assert str(caught.value) == "macmesh.signing.manifest_sha: " + message


# --- profile_map -------------------------------------------------------------------------------

def chosen(profiles, bundle_id, **kwargs):
    kwargs.setdefault("now", NOW)
    return filters.profile_map(profiles, {"T": bundle_id}, **kwargs)["targets"]["T"]["uuid"]


@pytest.mark.parametrize("profiles, bundle_id, winner", [
    ([WILD, APP, ANY], "com.example.app", APP),
    ([ANY, WILD], "com.example.app", WILD),
    ([ANY, WILD, WILD_APP], "com.example.app.widget", WILD_APP),
    ([ANY], "org.other.app", ANY),
    ([APP, APP_LATER], "com.example.app", APP_LATER),
    ([APP_EXPIRED, WILD], "com.example.app", WILD),
    ([APP_EXPIRED, APP], "com.example.app", APP),
    ([WILD], "com.example.app.widget", WILD),
    ([WILD_APP, ANY], "com.example.app", ANY),  # com.example.app.* does not cover com.example.app itself
], ids=["exact beats wildcards", "longer wildcard beats *", "most specific wildcard", "* covers all",
        "latest expiry", "valid wildcard beats expired exact", "valid beats expired", "wildcard covers nested ids",
        "wildcard does not cover its own prefix"])
def test_profile_map_choice(profiles, bundle_id, winner):
    assert chosen(profiles, bundle_id) == winner["uuid"]


def test_profile_map_choice_does_not_depend_on_order():
    profiles = [APP, APP_LATER, WILD, ANY, WILD_APP, APP_EXPIRED]
    assert chosen(profiles, "com.example.app") == chosen(list(reversed(profiles)), "com.example.app")


def test_profile_map_full_result():
    manifest = build_manifest([APP, WILD], "v1")
    result = filters.profile_map(manifest, [{"name": "App", "bundle_id": "com.example.app"},
                                            {"name": "Widget", "bundle_id": "com.example.app.widget"}], now=NOW)
    assert result == {
        "targets": {
            "App": {"bundle_id": "com.example.app", "uuid": APP["uuid"], "name": APP["name"], "specifier": APP["uuid"],
                    "app_id_pattern": "com.example.app", "expires": APP["expires"], "expired": False},
            "Widget": {"bundle_id": "com.example.app.widget", "uuid": WILD["uuid"], "name": WILD["name"],
                       "specifier": WILD["uuid"], "app_id_pattern": "com.example.*", "expires": WILD["expires"],
                       "expired": False},
        },
        "provisioningProfiles": {"com.example.app": APP["uuid"], "com.example.app.widget": WILD["uuid"]},
    }
    json.dumps(result)  # plain data, ready for to_json / a plist template


def test_profile_map_by_name_and_dict_targets():
    result = filters.profile_map([APP, WILD], {"App": "com.example.app", "Widget": "com.example.app.widget"},
                                 by="name", now=NOW)
    assert result["provisioningProfiles"] == {"com.example.app": APP["name"], "com.example.app.widget": WILD["name"]}
    assert result["targets"]["App"]["specifier"] == APP["name"]


def test_profile_map_team_filter():
    assert chosen([APP, OTHER], "com.example.app") == OTHER["uuid"]  # later expiry wins without a filter
    assert chosen([APP, OTHER], "com.example.app", team_id=TEAM) == APP["uuid"]


def test_profile_map_expired_only_when_nothing_valid():
    target = filters.profile_map([APP_EXPIRED], {"App": "com.example.app"}, now=NOW)["targets"]["App"]
    assert (target["uuid"], target["expired"]) == (APP_EXPIRED["uuid"], True)


def test_profile_map_default_now():
    long_gone = entry(8, "com.example.app", "2001-01-01T00:00:00Z")
    far_away = entry(9, "com.example.app", "2999-01-01T00:00:00Z")
    valid = filters.profile_map([far_away, long_gone], {"App": "com.example.app"})["targets"]["App"]
    assert (valid["uuid"], valid["expired"]) == (far_away["uuid"], False)
    assert filters.profile_map([long_gone], {"App": "com.example.app"})["targets"]["App"]["expired"] is True


PROFILE_MAP_ERRORS = [
    ("every unmatched target", ([APP], {"App": "com.example.app", "Watch": "com.example.watch", "Clip": "org.clip"}), {},
     "no provisioning profile matches 2 target(s): Watch (com.example.watch), Clip (org.clip)"),
    ("team scope", ([APP, OTHER], [{"name": "App", "bundle_id": "com.example.app"}]), {"team_id": "ZZZZZZZZZZ"},
     "no provisioning profile of team ZZZZZZZZZZ matches 1 target(s): App (com.example.app)"),
    ("empty manifest", ({"profiles": []}, {"App": "com.example.app"}), {},
     "no provisioning profile matches 1 target(s): App (com.example.app)"),
    ("manifest type", ("profiles.json", {"App": "com.example.app"}), {},
     "_input must be a manifest (dict) or its list of profiles, not str"),
    ("manifest without profiles", ({"version": "v1"}, {"App": "com.example.app"}), {}, "the manifest has no 'profiles' key"),
    ("entry type", ([None], {"App": "com.example.app"}), {}, "_input[0] must be a dict, not null"),
    ("entry field", ({"profiles": [dict(APP, bundle_id=None)]}, {"App": "com.example.app"}), {},
     "_input.profiles[0].bundle_id must be a string, not null"),
    ("entry missing field", ([dict((k, v) for k, v in APP.items() if k != "expires")], {"App": "com.example.app"}), {},
     "_input[0].expires must be a string, not null"),
    ("entry expiry", ([dict(APP, expires="2027-06-01")], {"App": "com.example.app"}), {},
     "_input[0].expires '2027-06-01' is not YYYY-MM-DDTHH:MM:SSZ"),
    ("targets type", ([APP], "com.example.app"), {},
     "targets must be a list of {name, bundle_id} or a dict of name -> bundle id, not str"),
    ("targets empty", ([APP], []), {}, "targets must not be empty"),
    ("target type", ([APP], ["com.example.app"]), {}, "targets[0] must be a dict with name and bundle_id, not str"),
    ("target name", ([APP], [{"bundle_id": "com.example.app"}]), {}, "targets[0] name must be a non-empty string, not None"),
    ("target bundle", ([APP], [{"name": "App"}]), {}, "targets[0] bundle_id must be a concrete bundle id (no wildcard), not None"),
    ("target wildcard", ([APP], {"App": "com.example.*"}), {},
     "targets['App'] bundle_id must be a concrete bundle id (no wildcard), not 'com.example.*'"),
    ("target twice", ([APP], [{"name": "App", "bundle_id": "com.example.app"}, {"name": "App", "bundle_id": "com.x"}]), {},
     "targets[1] names target 'App' twice"),
    ("by", ([APP], {"App": "com.example.app"}), {"by": "filename"}, "by must be one of uuid, name, not 'filename'"),
    ("team type", ([APP], {"App": "com.example.app"}), {"team_id": 5}, "team_id must be a non-empty string, not 5"),
    ("team empty", ([APP], {"App": "com.example.app"}), {"team_id": ""}, "team_id must be a non-empty string, not ''"),
    ("now", ([APP], {"App": "com.example.app"}), {"now": "today"}, "now 'today' is not YYYY-MM-DDTHH:MM:SSZ"),
]


@pytest.mark.parametrize("args, kwargs, message", [case[1:] for case in PROFILE_MAP_ERRORS],
                         ids=[case[0] for case in PROFILE_MAP_ERRORS])
def test_profile_map_errors(args, kwargs, message):
    kwargs.setdefault("now", NOW)
    with pytest.raises(AnsibleFilterError) as caught:
        filters.profile_map(*args, **kwargs)
    assert str(caught.value) == "macmesh.signing.profile_map: " + message


def test_filter_module_lists_both_filters():
    assert filters.FilterModule().filters() == {"manifest_sha": filters.manifest_sha, "profile_map": filters.profile_map}
