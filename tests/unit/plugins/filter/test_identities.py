# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The parse_identities and identity_hash filters: results, and errors naming the filter."""

import os

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.filter import identity_hash as hash_filter
from ansible_collections.macmesh.signing.plugins.filter import parse_identities as parse_filter

TRANSCRIPTS = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "transcripts")
FX_HASH = "d56b663a99220958582e4538a32d9241e51fcb084f890f28e4f6214e1f5bc11e"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def transcript(name):
    with open(os.path.join(TRANSCRIPTS, name), encoding="utf-8") as handle:
        return handle.read()


def parse_identities(value):
    return parse_filter.FilterModule().filters()["parse_identities"](value)


def identity_hash(value):
    return hash_filter.FilterModule().filters()["identity_hash"](value)


def test_parse_identities_on_text_and_bytes():
    text = transcript("find_identity_fx_studio.txt")
    expected = [
        {"sha1": "86890D67F234745572B7EF153C72DEA7CF522EDE", "name": "iPhone Distribution: Tien Le (QG598U658S)", "valid": True},
        {"sha1": "13F9C39BE0072902F6A60AF738F51BE53E3A8B23", "name": "iPhone Developer: Tien Le (8PKL73LX5A)", "valid": True},
    ]
    assert parse_identities(text) == expected
    assert parse_identities(text.encode("utf-8")) == expected


@pytest.mark.parametrize("value", [None, 42, ["  1) A \"b\""], {"stdout": ""}])
def test_parse_identities_refuses_other_types(value):
    with pytest.raises(AnsibleFilterError, match="macmesh.signing.parse_identities input must be"):
        parse_identities(value)


def test_parse_identities_reports_bad_text():
    with pytest.raises(AnsibleFilterError, match="macmesh.signing.parse_identities input is not find-identity output"):
        parse_identities("  1) not an identity\n")


def test_identity_hash_of_text_and_of_records_agree():
    text = transcript("find_identity_fx_studio.txt")
    assert identity_hash(text) == FX_HASH
    assert identity_hash(parse_identities(text)) == FX_HASH
    assert identity_hash(tuple(parse_identities(text))) == FX_HASH


def test_identity_hash_of_no_identity():
    assert identity_hash([]) == EMPTY_SHA256
    assert identity_hash(transcript("find_identity_v_zero_fastlane.txt")) == EMPTY_SHA256


@pytest.mark.parametrize(
    "value, message",
    [
        (42, "input must be find-identity text or a list of identity records, not int"),
        (None, "not NoneType"),
        (["x"], "input item 0 must be a dict"),
        ([{"sha1": "A", "name": "n"}], "input item 0 needs valid of type bool"),
        ([{"sha1": "A", "name": "n", "valid": "yes"}], "needs valid of type bool"),
        ([{"sha1": 1, "name": "n", "valid": True}], "needs sha1 of type str"),
        ("  1) broken\n", "input is not find-identity output"),
    ],
)
def test_identity_hash_refuses_bad_input(value, message):
    with pytest.raises(AnsibleFilterError, match="macmesh.signing.identity_hash") as info:
        identity_hash(value)
    assert message in str(info.value)


# --- refused instead of a raw codec error or a silent "no identities" (issue 11) -------------


@pytest.mark.parametrize("value", [b"\xff\xfe  1) x\n", "\udcff     0 valid identities found\n"], ids=["bytes", "surrogates"])
@pytest.mark.parametrize("name", ["parse_identities", "identity_hash"])
def test_non_utf8_input_is_named_not_a_codec_error(value, name):
    function = parse_identities if name == "parse_identities" else identity_hash
    with pytest.raises(AnsibleFilterError, match="macmesh.signing.%s input.*not UTF-8 text" % name):
        function(value)


@pytest.mark.parametrize("name", ["parse_identities", "identity_hash"])
def test_other_commands_output_is_not_no_identities(name):
    function = parse_identities if name == "parse_identities" else identity_hash
    with pytest.raises(AnsibleFilterError, match="not find-identity output"):
        function(transcript("list_keychains_user_cargo.txt"))


@pytest.mark.parametrize("sha1", ["86890D67F2", "86890D67F234745572B7EF153C72DEA7CF522EDE\n", "X" * 40])
def test_identity_hash_refuses_a_record_whose_sha1_is_not_40_hex(sha1):
    with pytest.raises(AnsibleFilterError, match="item 0: sha1 .* is not 40 hexadecimal digits"):
        identity_hash([{"sha1": sha1, "name": "n", "valid": True}])
