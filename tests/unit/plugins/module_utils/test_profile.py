# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

import datetime
import hashlib
import os
import plistlib

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils._profile import (
    ProfileError,
    certificate_info,
    parse_profile,
    read_profile,
)
from ansible_collections.macmesh.signing.tests.unit import cms_factory as factory

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "profiles")
OID_DATA = bytes.fromhex("2a864886f70d010701")


def fixture(name):
    return os.path.join(FIXTURES, name)


# Oracle values: UUID, Team ID and Name are asserted by fastlane's own tests (see ATTRIBUTION.md);
# the rest was decoded independently with openssl + cryptography.
REAL_PROFILES = [
    (
        "match_test.mobileprovision",
        {
            "uuid": "98264c6b-5151-4349-8d0f-66691e48ae35",
            "name": "tools.fastlane.app AppStore",
            "team_id": "439BBM9367",
            "team_name": "Felix Krause",
            "app_id": "439BBM9367.tools.fastlane.app",
            "bundle_id": "tools.fastlane.app",
            "platforms": ["iOS"],
            "created": "2015-11-08T21:09:03Z",
            "expires": "2016-11-07T20:58:52Z",
            "certificates": [
                {
                    "sha1": "061D3B3DDDCE32CE3FB5901AC608E5AA6C9C540C",
                    "not_after": "2016-11-07T20:58:52Z",
                    "subject_cn": "iPhone Distribution: Felix Krause (439BBM9367)",
                }
            ],
            "devices": 0,
            "provisions_all_devices": False,
            "entitlement_keys": [
                "application-identifier",
                "beta-reports-active",
                "com.apple.developer.team-identifier",
                "get-task-allow",
                "keychain-access-groups",
            ],
            "sha256": "26d6914d39784a3a1ab99bae8f912a2a68d9f13ee626af7d1b3d053f3566f90b",
        },
    ),
    (
        "match_test.provisionprofile",
        {
            "uuid": "98264c6b-5151-4349-8d0f-66691e48ae35",
            "platforms": ["OSX"],
            "sha256": "71f6c80aadde0a1e9fb086dc830676d5dc5bed56c7e8c1bf2471e665742b3baf",
        },
    ),
    (
        "AppStore_tools.fastlane.app.mobileprovision",
        {
            "uuid": "736590c3-dfe8-4c25-b2eb-2404b8e65fb8",
            "name": "match AppStore tools.fastlane.app 1449198835",
            "team_id": "439BBM9367",
            "created": "2015-12-04T03:13:56Z",
            "expires": "2016-12-03T03:02:08Z",
            "certificates": [
                {
                    "sha1": "EF4751CA452094E26A79D6F8BFDC08413CE6C90D",
                    "not_after": "2016-12-03T03:02:08Z",
                    "subject_cn": "iPhone Distribution: Felix Krause (439BBM9367)",
                }
            ],
        },
    ),
    (
        # BER with indefinite lengths, as written by Apple-style tooling.
        "very-capable-app_embedded.mobileprovision",
        {
            "uuid": "12345678-1234-1234-1234-123456789012",
            "name": "org.fastlane.very-capable-app Development",
            "team_id": "TestFixture",
            "team_name": "TestFixture",
            "bundle_id": "org.fastlane.very-capable-app",
            "expires": "2019-04-07T01:27:21Z",
            "devices": 1,
            "certificates": [
                {
                    "sha1": "C8D1AAC67C23186501A9DDC93356D8E14AE29E14",
                    "not_after": "2028-04-04T01:11:26Z",
                    "subject_cn": "TestFixture",
                }
            ],
        },
    ),
]


@pytest.mark.parametrize("name, expected", REAL_PROFILES, ids=[case[0] for case in REAL_PROFILES])
def test_real_profiles(name, expected):
    profile = read_profile(fixture(name))
    assert dict((key, profile[key]) for key in expected) == expected


def test_real_profile_is_ber():
    with open(fixture("very-capable-app_embedded.mobileprovision"), "rb") as handle:
        assert handle.read(2) == b"\x30\x80"


def test_real_certificate_pairs_with_profile():
    with open(fixture("E7P4EE896K.cer"), "rb") as handle:
        info = certificate_info(handle.read())
    assert info == {
        "sha1": "EF4751CA452094E26A79D6F8BFDC08413CE6C90D",
        "not_after": "2016-12-03T03:02:08Z",
        "subject_cn": "iPhone Distribution: Felix Krause (439BBM9367)",
    }
    assert read_profile(fixture("AppStore_tools.fastlane.app.mobileprovision"))["certificates"] == [info]


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda der: der, id="der"),
        pytest.param(factory.to_ber, id="ber-chunked"),
        pytest.param(lambda der: factory.to_ber(der, chunk=7), id="ber-small-chunks"),
        pytest.param(lambda der: factory.to_ber(der, chunk=64, nested=True), id="ber-nested-chunks"),
        pytest.param(lambda der: factory.to_ber(der, chunk=1 << 20), id="ber-indefinite-unchunked"),
    ],
)
def test_generated_profile_encodings(encode):
    _key, certificate = factory.default_developer_certificate()
    data = encode(factory.make_profile())
    assert parse_profile(data) == {
        "uuid": factory.UUID,
        "name": "Example App AppStore",
        "team_id": factory.TEAM_ID,
        "team_name": "Example Corp",
        "app_id": factory.TEAM_ID + ".com.example.app",
        "bundle_id": "com.example.app",
        "platforms": ["iOS"],
        "created": "2025-01-02T03:04:05Z",
        "expires": "2099-01-02T03:04:05Z",
        "certificates": [
            {
                "sha1": factory.sha1(certificate),
                "not_after": "2099-01-01T00:00:00Z",
                "subject_cn": "iPhone Distribution: Example Corp (%s)" % factory.TEAM_ID,
            }
        ],
        "devices": 0,
        "provisions_all_devices": False,
        "entitlement_keys": [
            "application-identifier",
            "com.apple.developer.team-identifier",
            "get-task-allow",
            "keychain-access-groups",
        ],
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_ber_encoding_really_differs_from_der():
    der = factory.make_profile()
    ber = factory.to_ber(der)
    assert ber[:2] == b"\x30\x80" and ber != der
    assert b"\x24\x80\x04\x82\x03\xe8" in ber  # constructed OCTET STRING of 1000-byte chunks


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"Entitlements": {"application-identifier": factory.TEAM_ID + ".*"}}, {"bundle_id": "*"}),
        ({"Entitlements": {"application-identifier": factory.TEAM_ID + ".com.x.*"}}, {"bundle_id": "com.x.*"}),
        # macOS profiles name the App ID com.apple.application-identifier.
        (
            {"Entitlements": {"com.apple.application-identifier": factory.TEAM_ID + ".com.example.mac"}, "Platform": ["OSX"]},
            {"app_id": factory.TEAM_ID + ".com.example.mac", "bundle_id": "com.example.mac", "platforms": ["OSX"]},
        ),
        # A legacy App ID prefix differs from the Team ID; it is still the prefix.
        ({"Entitlements": {"application-identifier": "LEGACY1234.com.example.old"}}, {"bundle_id": "com.example.old"}),
        ({"Name": "  Spaced\tName \u00e9 "}, {"name": "  Spaced\tName \u00e9 "}),
        ({"UUID": factory.UUID.upper()}, {"uuid": factory.UUID.upper()}),
        ({"ProvisionedDevices": ["00008030-%012X" % n for n in range(17)]}, {"devices": 17}),
        ({"ProvisionsAllDevices": True}, {"provisions_all_devices": True, "devices": 0}),
        ({"Platform": ["iOS", "xrOS", "visionOS"]}, {"platforms": ["iOS", "xrOS", "visionOS"]}),
        ({"Platform": factory.DELETE}, {"platforms": []}),
        ({"TeamName": factory.DELETE}, {"team_name": None}),
        ({"TeamIdentifier": ["FIRST00000", "SECOND0000"]}, {"team_id": "FIRST00000"}),
        ({"Entitlements": {"b": 1, "a": 2, "application-identifier": "T.x"}}, {"entitlement_keys": ["a", "application-identifier", "b"]}),
        ({"ExpirationDate": datetime.datetime(2031, 12, 31, 23, 59, 59)}, {"expires": "2031-12-31T23:59:59Z"}),
    ],
)
def test_profile_fields(overrides, expected):
    profile = parse_profile(factory.make_profile(**overrides))
    assert dict((key, profile[key]) for key in expected) == expected


def test_binary_plist_content_is_accepted():
    data = factory.sign_cms(plistlib.dumps(factory.profile_plist(), fmt=plistlib.FMT_BINARY))
    assert parse_profile(data)["uuid"] == factory.UUID


@pytest.mark.parametrize(
    "common_name, not_after, extra, expected_cn, expected_not_after",
    [
        # Dates before 2050 are UTCTime, from 2050 on GeneralizedTime (RFC 5280).
        ("iPhone Developer: A (X)", datetime.datetime(2049, 12, 31, 23, 59, 59), (), "iPhone Developer: A (X)", "2049-12-31T23:59:59Z"),
        ("iPhone Developer: A (X)", datetime.datetime(2050, 1, 1, 0, 0, 0), (), "iPhone Developer: A (X)", "2050-01-01T00:00:00Z"),
        ("Apple Development: Zo\u00eb M\u00fcller (ABCDE12345)", datetime.datetime(2030, 6, 1), (),
         "Apple Development: Zo\u00eb M\u00fcller (ABCDE12345)", "2030-06-01T00:00:00Z"),
        (None, datetime.datetime(2030, 6, 1), (), None, "2030-06-01T00:00:00Z"),
    ],
)
def test_certificate_info(common_name, not_after, extra, expected_cn, expected_not_after):
    _key, certificate = factory.make_certificate(common_name, not_after=not_after.replace(tzinfo=factory.UTC),
                                                 extra_attributes=extra)
    assert certificate_info(factory.der(certificate)) == {
        "sha1": factory.sha1(certificate),
        "not_after": expected_not_after,
        "subject_cn": expected_cn,
    }


def _cms_with_content_type(oid):
    return factory.tlv(0x30, factory.tlv(0x06, oid) + factory.tlv(0xA0, factory.tlv(0x04, b"x")))


def _read_fixture(name):
    with open(fixture(name), "rb") as handle:
        return handle.read()


ERRORS = [
    # (id, bytes, field, message fragment)
    ("plain-plist", lambda: _read_fixture("spaceship_downloaded_provisioning_profile_UNSIGNED.mobileprovision"),
     "CMS", "not a CMS SignedData blob"),
    ("empty", lambda: b"", "CMS", "truncated"),
    ("der-cut-in-half", lambda: factory.make_profile()[:1300], "CMS", "truncated"),
    ("der-last-byte-missing", lambda: factory.make_profile()[:-1], "CMS", "truncated"),
    ("ber-without-final-eoc", lambda: factory.make_profile(ber=True)[:-2], "CMS", "end-of-contents"),
    ("real-ber-cut", lambda: _read_fixture("very-capable-app_embedded.mobileprovision")[:3000], "CMS", "truncated"),
    ("sequence-without-oid", lambda: b"\x30\x03\x02\x01\x00", "CMS", "contentType missing"),
    ("enveloped-not-signed", lambda: _cms_with_content_type(OID_DATA), "CMS", "not signedData"),
    ("detached-signature", lambda: factory.sign_cms(b"<plist/>", detached=True), "CMS", "eContent"),
    ("primitive-indefinite", lambda: b"\x04\x80abc\x00\x00", "CMS", "indefinite length on a primitive"),
    ("huge-length-of-length", lambda: b"\x30\x89" + b"\x01" * 9, "CMS", "length of 9 octets"),
    ("too-deep", lambda: b"\x30\x80" * 40 + b"\x00\x00" * 40, "CMS", "nesting deeper"),
    ("content-not-plist", lambda: factory.sign_cms(b"hello, world"), "plist", "not a property list"),
    ("plist-not-dict", lambda: factory.sign_cms(plistlib.dumps(["a"])), "plist", "not a dictionary"),
    ("no-uuid", lambda: factory.make_profile(UUID=factory.DELETE), "UUID", "missing"),
    ("uuid-not-string", lambda: factory.make_profile(UUID=7), "UUID", "must be a string"),
    ("uuid-path", lambda: factory.make_profile(UUID="../../etc/passwd"), "UUID", "is not a UUID"),
    ("no-name", lambda: factory.make_profile(Name=factory.DELETE), "Name", "missing"),
    ("no-team", lambda: factory.make_profile(TeamIdentifier=factory.DELETE), "TeamIdentifier", "missing"),
    ("empty-team", lambda: factory.make_profile(TeamIdentifier=[]), "TeamIdentifier", "non-empty"),
    ("team-name-not-string", lambda: factory.make_profile(TeamName=["x"]), "TeamName", "string"),
    ("entitlements-not-dict", lambda: factory.make_profile(Entitlements=["x"]), "Entitlements", "dictionary"),
    ("no-app-id", lambda: factory.make_profile(Entitlements={"get-task-allow": True}),
     "Entitlements.application-identifier", "missing"),
    ("no-certificates", lambda: factory.make_profile(DeveloperCertificates=factory.DELETE), "DeveloperCertificates", "missing"),
    ("empty-certificates", lambda: factory.make_profile(DeveloperCertificates=[]), "DeveloperCertificates", "no developer certificate"),
    ("certificate-garbage", lambda: factory.make_profile(DeveloperCertificates=[b"REDACTED"]),
     "DeveloperCertificates[0]", "not a DER X.509 certificate"),
    ("certificate-trailing-bytes",
     lambda: factory.make_profile(DeveloperCertificates=[factory.der(factory.default_developer_certificate()[1]) + b"\x00"]),
     "DeveloperCertificates[0]", "not a single DER SEQUENCE"),
    ("certificate-second-bad",
     lambda: factory.make_profile(DeveloperCertificates=[factory.der(factory.default_developer_certificate()[1]), b"\x30\x00"]),
     "DeveloperCertificates[1]", "tbsCertificate missing"),
    ("certificate-not-data", lambda: factory.make_profile(DeveloperCertificates=["REDACTED"]), "DeveloperCertificates[0]", "must be data"),
    ("no-expiration", lambda: factory.make_profile(ExpirationDate=factory.DELETE), "ExpirationDate", "missing"),
    ("expiration-not-date", lambda: factory.make_profile(ExpirationDate="2030-01-01"), "ExpirationDate", "must be a date"),
    ("no-creation", lambda: factory.make_profile(CreationDate=factory.DELETE), "CreationDate", "missing"),
    ("devices-not-list", lambda: factory.make_profile(ProvisionedDevices="x"), "ProvisionedDevices", "array"),
    ("platform-not-strings", lambda: factory.make_profile(Platform=[1]), "Platform", "array of strings"),
]


@pytest.mark.parametrize("make, field, fragment", [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_errors_name_source_and_field(make, field, fragment):
    with pytest.raises(ProfileError) as caught:
        parse_profile(make(), source="/src/bad.mobileprovision")
    error = caught.value
    assert (error.source, error.field) == ("/src/bad.mobileprovision", field)
    assert fragment in error.message
    assert str(error) == "/src/bad.mobileprovision: %s: %s" % (field, error.message)


def test_read_profile_names_path(tmp_path):
    path = tmp_path / "broken.mobileprovision"
    path.write_bytes(factory.make_profile(UUID=factory.DELETE))
    with pytest.raises(ProfileError, match="^%s: UUID: missing" % path):
        read_profile(str(path))


def test_read_profile_missing_file(tmp_path):
    path = str(tmp_path / "absent.mobileprovision")
    with pytest.raises(ProfileError) as caught:
        read_profile(path)
    assert (caught.value.source, caught.value.field) == (path, "file")
    assert "cannot be read" in caught.value.message


def test_certificate_info_rejects_garbage():
    with pytest.raises(ValueError):
        certificate_info(b"\x30\x03\x02\x01")
