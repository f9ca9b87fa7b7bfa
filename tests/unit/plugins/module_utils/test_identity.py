# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_identity: identity lines and the two hashes, pinned to literal values."""

import os

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils._identity import (
    identity_hash,
    identity_lines,
    normalise_sha1,
    summary_hash,
)
from ansible_collections.macmesh.signing.plugins.module_utils._security import parse_find_identity

TRANSCRIPTS = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "transcripts")

DIS = {"sha1": "86890D67F234745572B7EF153C72DEA7CF522EDE", "name": "iPhone Distribution: Tien Le (QG598U658S)", "valid": True}
DEV = {"sha1": "13F9C39BE0072902F6A60AF738F51BE53E3A8B23", "name": "iPhone Developer: Tien Le (8PKL73LX5A)", "valid": True}
BAD = {"sha1": "64CB89C8C7EFA62842BDD1AA76A9FAF321704F72", "name": "jevpaste-dev", "valid": False}

# sha256 of "13F9... iPhone Developer: Tien Le (8PKL73LX5A)\n86890D... iPhone Distribution: Tien Le (QG598U658S)\n"
FX_HASH = "d56b663a99220958582e4538a32d9241e51fcb084f890f28e4f6214e1f5bc11e"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def read_bytes(name):
    with open(os.path.join(TRANSCRIPTS, name), "rb") as handle:
        return handle.read()


def test_identity_lines_are_sorted_unique_and_valid_only():
    lower = dict(DIS, sha1=DIS["sha1"].lower())
    assert identity_lines([DIS, BAD, DEV, lower]) == [
        "13F9C39BE0072902F6A60AF738F51BE53E3A8B23 iPhone Developer: Tien Le (8PKL73LX5A)",
        "86890D67F234745572B7EF153C72DEA7CF522EDE iPhone Distribution: Tien Le (QG598U658S)",
    ]


def test_identity_hash_is_the_documented_sha256():
    assert identity_hash([DIS, DEV]) == FX_HASH


def test_identity_hash_ignores_order_duplicates_and_invalid_identities():
    assert identity_hash([DEV, BAD, DIS, DEV]) == FX_HASH


def test_identity_hash_of_the_fx_studio_transcript():
    text = read_bytes("find_identity_fx_studio.txt").decode("utf-8")
    assert identity_hash(parse_find_identity(text)) == FX_HASH


def test_identity_hash_of_nothing_is_sha256_of_empty_string():
    assert identity_hash([]) == EMPTY_SHA256
    assert identity_hash([BAD]) == EMPTY_SHA256
    assert identity_hash(parse_find_identity(read_bytes("find_identity_v_zero_fastlane.txt").decode())) == EMPTY_SHA256


def test_identity_hash_changes_with_the_name():
    assert identity_hash([DIS, dict(DEV, name="iPhone Developer: Someone Else (8PKL73LX5A)")]) != FX_HASH


def test_summary_hash_is_sha1_of_the_raw_bytes():
    # `printf '     0 valid identities found\n' | shasum`
    assert summary_hash(b"     0 valid identities found\n") == "5b1928434e89a32d46fad6c1de4c5d68475cef67"
    assert summary_hash(read_bytes("find_identity_fx_studio.txt")) == "d2c4c6a8ab1ac5ad6ff652656b38929d467520f4"


def test_summary_hash_encodes_text_as_utf8():
    raw = read_bytes("cargo_codesign_mixed.txt")
    assert summary_hash(raw.decode("utf-8")) == summary_hash(raw)


@pytest.mark.parametrize("spelling", [
    DIS["sha1"],
    DIS["sha1"].lower(),
    ":".join(DIS["sha1"][i:i + 2] for i in range(0, 40, 2)),
    " ".join(DIS["sha1"][i:i + 2].lower() for i in range(0, 40, 2)),
    " " + DIS["sha1"] + " ",
])
def test_normalise_sha1_accepts_the_spellings_people_paste(spelling):
    assert normalise_sha1(spelling) == DIS["sha1"]


@pytest.mark.parametrize("value", [
    DIS["sha1"] + "\n",          # `$` would have let this through
    "\n" + DIS["sha1"],
    DIS["sha1"] + "\r",
    DIS["sha1"][:20] + "\t" + DIS["sha1"][20:],
    DIS["sha1"] + "\x00",
    DIS["sha1"][:39],
    DIS["sha1"] + "0",
    "G" + DIS["sha1"][1:],
    "",
    "\uff10" * 40,              # fullwidth digits are not hex digits
])
def test_normalise_sha1_refuses_anything_else(value):
    with pytest.raises(ValueError) as caught:
        normalise_sha1(value, "rotate_identities[1].sha1")
    assert str(caught.value) == "rotate_identities[1].sha1: %r is not 40 hexadecimal digits." % (value,)


@pytest.mark.parametrize("value", [None, 86890, ["86890D67F234745572B7EF153C72DEA7CF522EDE"]])
def test_normalise_sha1_refuses_non_strings(value):
    with pytest.raises(ValueError, match=r"^sha1: .* is not 40 hexadecimal digits\.$"):
        normalise_sha1(value, "sha1")


def test_normalise_sha1_without_a_field_names_only_the_value():
    with pytest.raises(ValueError) as caught:
        normalise_sha1("abc")
    assert str(caught.value) == "'abc' is not 40 hexadecimal digits."
