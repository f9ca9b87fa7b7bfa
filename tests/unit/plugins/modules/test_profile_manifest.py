# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import datetime
import json
import os
import shutil
import warnings

import pytest
from ansible.module_utils import basic
from ansible_collections.macmesh.signing.tests.unit.compat import patch_module_args
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ansible_collections.macmesh.signing.plugins.modules import profile_manifest
from ansible_collections.macmesh.signing.tests.unit import cms_factory as factory
from ansible_collections.macmesh.signing.tests.unit.plugins.module_utils.test_manifest import MATCH_TEST_ENTRY

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "profiles")
MATCH_TEST_UUID = "98264c6b-5151-4349-8d0f-66691e48ae35"
UUID_A = "0a6f3c5e-1111-4a2b-8c3d-aaaaaaaaaaaa"
UUID_B = "0b6f3c5e-2222-4a2b-8c3d-bbbbbbbbbbbb"
PASSPHRASE = "correct-horse"


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    def exit_json(self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(self, **kwargs):
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


def run(args, check_mode=False, diff=False, expect=ExitJson):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(expect) as caught:
            profile_manifest.main()
    return caught.value.args[0]


def copy_fixture(name, directory, as_name=None):
    shutil.copy(os.path.join(FIXTURES, name), str(directory / (as_name or name)))


# --- the fastlane profile: the acceptance scenario ------------------------------------


@pytest.fixture
def fastlane(tmp_path):
    src = tmp_path / "pm"
    src.mkdir()
    copy_fixture("match_test.mobileprovision", src)
    return {"src": str(src), "dest": str(tmp_path / "pm.json"), "version": "v1", "allow_expired": True}


def test_writes_manifest_then_is_idempotent(fastlane):
    first = run(fastlane)
    assert first["changed"] is True
    with open(fastlane["dest"], encoding="utf-8") as handle:
        written = json.load(handle)
    assert written == first["manifest"]
    assert written["sha256"] == first["sha256"]
    # The entry test_manifest checks build_manifest against: the module writes exactly it.
    assert written["profiles"] == [MATCH_TEST_ENTRY]
    mtime = os.stat(fastlane["dest"]).st_mtime_ns
    second = run(fastlane)
    assert second["changed"] is False and second["sha256"] == first["sha256"]
    assert os.stat(fastlane["dest"]).st_mtime_ns == mtime


def test_check_mode_predicts_without_writing(fastlane):
    result = run(fastlane, check_mode=True, diff=True)
    assert result["changed"] is True
    assert not os.path.exists(fastlane["dest"])
    assert result["diff"]["before"] == ""
    assert json.loads(result["diff"]["after"]) == result["manifest"]
    run(fastlane)
    again = run(fastlane, check_mode=True, diff=True)
    assert again["changed"] is False
    assert again["diff"]["before"] == again["diff"]["after"]


def test_diff_is_strings_of_json(fastlane):
    run(fastlane)
    result = run(dict(fastlane, version="v2"), diff=True)
    assert result["changed"] is True
    before, after = result["diff"]["before"], result["diff"]["after"]
    assert isinstance(before, str) and isinstance(after, str)
    assert json.loads(before)["version"] == "v1" and json.loads(after)["version"] == "v2"


def test_version_label_does_not_change_sha256(fastlane):
    first = run(fastlane)
    relabelled = run(dict(fastlane, version="2026.11-r1"))
    assert relabelled["changed"] is True
    assert relabelled["sha256"] == first["sha256"]


def test_without_version_the_label_derives_from_the_content(fastlane):
    # The acceptance command gives no version: the label must still be stable.
    params = dict((key, value) for key, value in fastlane.items() if key != "version")
    first = run(params)
    assert first["changed"] is True
    assert first["manifest"]["version"] == "sha-" + first["sha256"][:12]
    assert run(params)["changed"] is False


def test_rewrites_a_tampered_manifest(fastlane):
    first = run(fastlane)
    with open(fastlane["dest"], "w", encoding="utf-8") as handle:
        handle.write("{}\n")
    assert run(fastlane)["changed"] is True
    with open(fastlane["dest"], encoding="utf-8") as handle:
        assert json.load(handle) == first["manifest"]


def test_ignores_hidden_and_foreign_files(fastlane):
    src = fastlane["src"]
    with open(os.path.join(src, "._match_test.mobileprovision"), "wb") as handle:
        handle.write(b"\x00\x05\x16\x07 AppleDouble resource fork")
    with open(os.path.join(src, "README.txt"), "w") as handle:
        handle.write("not a profile")
    os.mkdir(os.path.join(src, "old.mobileprovision"))
    result = run(fastlane)
    assert [item["uuid"] for item in result["manifest"]["profiles"]] == [MATCH_TEST_UUID]


@pytest.mark.parametrize(
    "source_name, filename",
    [
        ("match_test.provisionprofile", MATCH_TEST_UUID + ".provisionprofile"),
        ("Match_Test.MobileProvision", MATCH_TEST_UUID + ".mobileprovision"),
        # Already named the way roles install it.
        (MATCH_TEST_UUID + ".mobileprovision", MATCH_TEST_UUID + ".mobileprovision"),
        (MATCH_TEST_UUID.upper() + ".mobileprovision", MATCH_TEST_UUID + ".mobileprovision"),
    ],
)
def test_manifest_filename(tmp_path, source_name, filename):
    fixture_name = "match_test.provisionprofile" if source_name.endswith("provisionprofile") else "match_test.mobileprovision"
    copy_fixture(fixture_name, tmp_path, source_name)
    result = run({"src": str(tmp_path), "dest": str(tmp_path / "m.json"), "version": "v1", "allow_expired": True})
    assert [item["filename"] for item in result["manifest"]["profiles"]] == [filename]


# --- generated profiles and identities -------------------------------------------------


@pytest.fixture(scope="module")
def identities():
    distribution = factory.make_certificate("iPhone Distribution: Example Corp (%s)" % factory.TEAM_ID)
    development = factory.make_certificate("Apple Development: Dev One (DEV1234567)")
    stray = factory.make_certificate("Apple Development: Someone Else (OTHER12345)")
    return {"distribution": distribution, "development": development, "stray": stray}


def write(path, data):
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def signed(tmp_path, identities):
    """Two valid profiles (one DER, one BER) and the identities they list."""
    src = tmp_path / "profiles"
    src.mkdir()
    distribution_key, distribution = identities["distribution"]
    _development_key, development = identities["development"]
    write(src / "app_store.mobileprovision",
          factory.make_profile(UUID=UUID_A, DeveloperCertificates=[factory.der(distribution)]))
    write(src / "development.mobileprovision",
          factory.make_profile(ber=True, UUID=UUID_B, Name="Example Dev",
                               DeveloperCertificates=[factory.der(development), factory.der(identities["stray"][1])]))
    keys = tmp_path / "keys"
    keys.mkdir()
    return {
        "args": {
            "src": str(src),
            "dest": str(tmp_path / "profiles.json"),
            "version": "r1",
            "identities": [
                {"path": write(keys / "distribution.p12", factory.make_p12(distribution_key, distribution, PASSPHRASE)),
                 "passphrase": PASSPHRASE},
                {"path": write(keys / "development.cer", factory.der(development))},
            ],
        },
        "src": src,
        "keys": keys,
    }


def test_identities_cover_profiles(signed, identities):
    result = run(signed["args"])
    assert result["changed"] is True
    profiles = result["manifest"]["profiles"]
    assert [item["uuid"] for item in profiles] == [UUID_A, UUID_B]
    assert profiles[1]["certificates"] == [factory.sha1(identities["development"][1]), factory.sha1(identities["stray"][1])]
    assert PASSPHRASE not in json.dumps(result)


def test_identity_formats(signed, identities):
    key, certificate = identities["distribution"]
    keys = signed["keys"]
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    for identity in (
        {"path": write(keys / "distribution-open.p12", factory.make_p12(key, certificate))},
        {"path": write(keys / "distribution.pfx", factory.make_p12(key, certificate, PASSPHRASE)), "passphrase": PASSPHRASE},
        {"path": write(keys / "distribution.pem", pem)},
        {"path": write(keys / "distribution.crt", b"\n" + pem)},
    ):
        args = dict(signed["args"], identities=[identity, signed["args"]["identities"][1]])
        result = run(args)
        assert [item["uuid"] for item in result["manifest"]["profiles"]] == [UUID_A, UUID_B], identity["path"]


def test_keychain_style_ber_p12_loads_without_warning(signed, identities):
    key, certificate = identities["distribution"]
    ber_p12 = factory.to_ber(factory.make_p12(key, certificate, PASSPHRASE))
    # The fixture really triggers cryptography's BER fallback warning...
    with pytest.warns(UserWarning, match="could not be parsed as DER"):
        pkcs12.load_key_and_certificates(ber_p12, PASSPHRASE.encode())
    # ...and the module keeps it quiet.
    path = write(signed["keys"] / "keychain.p12", ber_p12)
    args = dict(signed["args"], identities=[{"path": path, "passphrase": PASSPHRASE}, signed["args"]["identities"][1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(args)["changed"] is True


def test_mixed_teams_allowed_on_request(signed):
    write(signed["src"] / "other_team.mobileprovision",
          factory.make_profile(UUID="0c6f3c5e-3333-4a2b-8c3d-cccccccccccc", TeamIdentifier=["ZZ99ZZ99ZZ"]))
    args = dict(signed["args"], identities=None, allow_mixed_teams=True)
    assert sorted(set(item["team_id"] for item in run(args)["manifest"]["profiles"])) == [factory.TEAM_ID, "ZZ99ZZ99ZZ"]


def test_missing_cryptography_is_reported(signed, monkeypatch):
    monkeypatch.setattr(profile_manifest, "CRYPTOGRAPHY_IMPORT_ERROR", "Traceback: ImportError")
    result = run(signed["args"], expect=FailJson)
    assert "cryptography" in result["msg"]
    assert not os.path.exists(signed["args"]["dest"])


# --- every bad input: one failed task naming the file and the field, nothing written ----


def _bad_profile(name, data):
    def arrange(ctx):
        return write(ctx["src"] / name, data), {}

    return arrange


def _duplicate(ctx):
    write(ctx["src"] / "zz_copy.mobileprovision", factory.make_profile(UUID=UUID_A.upper()))
    return str(ctx["src"] / "zz_copy.mobileprovision"), {}


def _named_after_other_uuid(ctx):
    return write(ctx["src"] / (UUID_B + ".mobileprovision"), factory.make_profile(UUID="0d6f3c5e-4444-4a2b-8c3d-dddddddddddd")), {}


def _identity(name, data, passphrase=None, keep_others=True):
    def arrange(ctx):
        path = write(ctx["keys"] / name, data(ctx) if callable(data) else data)
        identity = {"path": path}
        if passphrase is not None:
            identity["passphrase"] = passphrase
        identities = ctx["args"]["identities"] if keep_others else []
        return path, {"identities": identities + [identity]}

    return arrange


def _p12(key_name, with_key=True, with_certificate=True, passphrase=PASSPHRASE):
    def build(ctx):
        key, certificate = ctx["identities"][key_name]
        return pkcs12.serialize_key_and_certificates(
            b"x", key if with_key else None, certificate if with_certificate else None, None,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )

    return build


def _only_distribution(ctx):
    # The development profile lists no declared identity.
    return str(ctx["src"] / "development.mobileprovision"), {"identities": ctx["args"]["identities"][:1]}


def _empty_src(ctx):
    empty = ctx["src"].parent / "empty"
    empty.mkdir()
    return str(empty), {"src": str(empty)}


def _src_is_file(ctx):
    return str(ctx["src"] / "app_store.mobileprovision"), {"src": str(ctx["src"] / "app_store.mobileprovision")}


def _dest_dir_missing(ctx):
    dest = str(ctx["src"].parent / "missing" / "profiles.json")
    return dest, {"dest": dest}


def _other_team(ctx):
    path = write(ctx["src"] / "other_team.mobileprovision",
                 factory.make_profile(UUID="0c6f3c5e-3333-4a2b-8c3d-cccccccccccc", TeamIdentifier=["ZZ99ZZ99ZZ"]))
    return str(ctx["src"]), {"identities": None, "_": path}


def _missing_identity(ctx):
    path = str(ctx["keys"] / "absent.p12")
    return path, {"identities": ctx["args"]["identities"] + [{"path": path, "passphrase": "x"}]}


PAST = datetime.datetime(2020, 1, 1)

BAD_INPUTS = [
    # (id, arrange(ctx) -> (path the message must name, argument overrides), field, message fragment)
    ("not-cms", lambda ctx: (shutil.copy(os.path.join(FIXTURES, "spaceship_downloaded_provisioning_profile_UNSIGNED.mobileprovision"),
                                         str(ctx["src"] / "unsigned.mobileprovision")), {}),
     "CMS", "not a CMS SignedData blob"),
    ("truncated", _bad_profile("cut.mobileprovision", factory.make_profile(UUID=UUID_A)[:700]), "CMS", "truncated"),
    ("truncated-ber", _bad_profile("cut.provisionprofile", factory.make_profile(ber=True)[:-4]), "CMS", "truncated"),
    ("plist-without-uuid", _bad_profile("nouuid.mobileprovision", factory.make_profile(UUID=factory.DELETE)), "UUID", "missing"),
    ("no-developer-certificates", _bad_profile("nocerts.mobileprovision", factory.make_profile(DeveloperCertificates=[])),
     "DeveloperCertificates", "no developer certificate"),
    ("duplicate-uuid", _duplicate, "UUID", "is also the UUID of"),
    ("filename-mismatch", _named_after_other_uuid, "UUID", "file is named after " + UUID_B),
    ("expired", _bad_profile("old.mobileprovision",
                             factory.make_profile(UUID="0e6f3c5e-5555-4a2b-8c3d-eeeeeeeeeeee", ExpirationDate=PAST)),
     "expires", "expired at 2020-01-01T00:00:00Z"),
    ("team-id-mismatch", _other_team, "team_id",
     "2 teams: %s: app_store.mobileprovision, development.mobileprovision; ZZ99ZZ99ZZ: other_team.mobileprovision" % factory.TEAM_ID),
    ("wrong-passphrase", _identity("wrong.p12", _p12("distribution"), passphrase="wrong"), "passphrase", "wrong passphrase"),
    ("passphrase-missing", _identity("nopass.p12", _p12("distribution")), "passphrase", "wrong passphrase"),
    ("not-a-p12", _identity("garbage.p12", b"Test p12", passphrase="x"), "passphrase", "not a PKCS#12 file"),
    ("p12-without-key", _identity("certonly.p12", _p12("distribution", with_key=False), passphrase=PASSPHRASE),
     "path", "no private key"),
    ("p12-without-certificate", _identity("keyonly.p12", _p12("distribution", with_certificate=False), passphrase=PASSPHRASE),
     "path", "no certificate"),
    ("certificate-unused", _identity("stray-extra.cer", lambda ctx: factory.der(factory.make_certificate()[1])),
     "certificate", "is not listed by any profile"),
    ("certificate-garbage", _identity("garbage.cer", b"Test cer"), "path", "not a DER or PEM certificate"),
    ("identity-missing", _missing_identity, "path", "cannot be read"),
    ("profile-matches-no-identity", _only_distribution, "DeveloperCertificates", "none of which is a declared identity"),
    ("empty-src", _empty_src, "src", "no *.mobileprovision"),
    ("src-not-a-directory", _src_is_file, "src", "is not a directory"),
    ("dest-directory-missing", _dest_dir_missing, "dest", "missing does not exist"),
]


@pytest.mark.parametrize("arrange, field, fragment", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_fails_naming_file_and_field(signed, identities, arrange, field, fragment):
    ctx = dict(signed, identities=identities)
    path, overrides = arrange(ctx)
    overrides.pop("_", None)
    args = dict(signed["args"], **overrides)
    result = run(args, expect=FailJson)
    assert result["msg"].startswith("%s: %s: " % (path, field)), result["msg"]
    assert fragment in result["msg"]
    assert not os.path.exists(signed["args"]["dest"])
    assert PASSPHRASE not in result["msg"]


def test_bad_input_leaves_existing_manifest_alone(signed):
    run(signed["args"])
    with open(signed["args"]["dest"], "rb") as handle:
        before = handle.read()
    write(signed["src"] / "broken.mobileprovision", b"\x30\x82\x10\x00")
    result = run(signed["args"], expect=FailJson)
    assert "broken.mobileprovision: CMS: file is truncated" in result["msg"]
    with open(signed["args"]["dest"], "rb") as handle:
        assert handle.read() == before


# --- inputs that used to be accepted, crash, or write anyway (issue 11) ----------------------


def test_bare_file_name_dest_is_written_in_the_working_directory(fastlane, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(dict(fastlane, dest="profiles.json"))
    assert result["changed"] is True
    with open(str(tmp_path / "profiles.json"), encoding="utf-8") as handle:
        assert json.load(handle)["sha256"] == result["sha256"]
    assert [name for name in os.listdir(str(tmp_path)) if name.startswith(".profile_manifest.")] == []


@pytest.mark.parametrize("check_mode", [False, True], ids=["normal", "check-mode"])
def test_dest_that_is_a_directory_is_refused_naming_it(fastlane, tmp_path, check_mode):
    target = tmp_path / "out"
    target.mkdir()
    result = run(dict(fastlane, dest=str(target)), check_mode=check_mode, expect=FailJson)
    assert result["msg"].startswith("%s: dest: is a directory" % target)
    assert os.listdir(str(target)) == []


def test_unreadable_src_names_the_directory(fastlane, monkeypatch):
    real_listdir = os.listdir

    def denied(path):
        if path == fastlane["src"]:
            raise PermissionError(13, "Permission denied", path)
        return real_listdir(path)

    monkeypatch.setattr(profile_manifest.os, "listdir", denied)
    result = run(fastlane, expect=FailJson)
    assert result["msg"] == "%s: src: cannot be read (Permission denied)" % fastlane["src"]
    assert not os.path.exists(fastlane["dest"])


def test_profile_whose_uuid_ends_in_a_newline_is_refused(tmp_path):
    src = tmp_path / "p"
    src.mkdir()
    write(src / "app.mobileprovision", factory.make_profile(UUID=factory.UUID + "\n"))
    result = run({"src": str(src), "dest": str(tmp_path / "m.json")}, expect=FailJson)
    assert "app.mobileprovision" in result["msg"] and "UUID" in result["msg"]
    assert not os.path.exists(str(tmp_path / "m.json"))


@pytest.mark.parametrize("version", ["{'tag': 'v1'}", "v1\n", "", "two words"])
def test_version_must_be_a_label(fastlane, version):
    result = run(dict(fastlane, version=version), expect=FailJson)
    assert ": version: " in result["msg"] and "release label" in result["msg"]
    assert not os.path.exists(fastlane["dest"])


def test_identities_as_strings_are_refused_naming_the_item(fastlane, tmp_path):
    result = run(dict(fastlane, identities=[str(tmp_path / "dist.p12")]), expect=FailJson)
    assert result["msg"].startswith("identities[0]: must be a dict with the keys passphrase, path")
    assert "dist.p12" in result["msg"]


def test_secret_looking_typo_is_refused_and_masked(fastlane, tmp_path):
    secret = "Typo-S3cret-Value"
    result = run(dict(fastlane, identities=[{"path": str(tmp_path / "d.p12"), "password": secret}]), expect=FailJson)
    assert result["msg"] == "identities[0].password: unknown option (its value is not shown); did you mean passphrase?"
    assert secret not in json.dumps(result)
