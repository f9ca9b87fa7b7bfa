# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Secret versions: the node document, the cross-mesh comparison and the promotion gate."""

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _secret_versions as sv

SHA1 = "86890D67F234745572B7EF153C72DEA7CF522EDE"
WRAPPER = "a" * 64
OTHER_WRAPPER = "b" * 64


def test_document_records_each_secret_with_a_version():
    doc = sv.versions_document(3, [{"sha1": "86:89:0d:67:F2:34:74:55:72:B7:EF:15:3C:72:DE:A7:CF:52:2E:DE",
                                    "p12_version": "2026-11-30.1"}, {"sha1": "X", "p12_version": ""}], "v2")
    assert doc == {"schema": 1,
                   "secrets": {"keychain_password": "3", "p12:" + SHA1: "2026-11-30.1", "asc_api_key": "v2"}}


def test_document_without_versions_is_empty():
    assert sv.versions_document(None, [{"sha1": SHA1}], "") == {"schema": 1, "secrets": {}}


@pytest.mark.parametrize("value, field", [
    (True, "keychain_password_version"),
    (-1, "keychain_password_version"),
    ("has space", "keychain_password_version"),
    ("x" * 65, "keychain_password_version"),
])
def test_document_refuses_a_bad_version(value, field):
    with pytest.raises(sv.SecretVersionError) as info:
        sv.versions_document(value)
    assert info.value.field == field


def test_document_needs_the_sha1_to_record_a_p12_version():
    with pytest.raises(sv.SecretVersionError) as info:
        sv.versions_document(None, [{"sha1": "nope", "p12_version": 1}])
    assert info.value.field == "keychain_identities[0].sha1"


def test_read_document_refuses_unknown_names_and_schemas():
    with pytest.raises(sv.SecretVersionError, match="is not a secret name"):
        sv.read_document({"secrets": {"password": "1"}}, "node")
    with pytest.raises(sv.SecretVersionError, match="schema"):
        sv.read_document({"schema": 2, "secrets": {}}, "node")
    assert sv.read_document(None, "node") == {}


def test_merge_documents_keeps_every_secret():
    merged = sv.merge_documents({"secrets": {"keychain_password": "1"}}, {"secrets": {"asc_api_key": "2"}})
    assert merged["secrets"] == {"keychain_password": "1", "asc_api_key": "2"}


def hosts(**versions):
    return dict((host, {"keychain_password": value}) for host, value in versions.items())


def test_findings_name_the_odd_host_and_the_reference_version():
    findings = sv.version_findings(hosts(hk="3", jp="3", us="4"), {"hk": "hk", "jp": "jp", "us": "us"})
    assert [(f["code"], f["host"], f["region"]) for f in findings] == [("SECRET_VERSION_DIVERGES", "us", "us")]
    assert "version 4 here, 3 elsewhere" in findings[0]["message"]


def test_the_expected_version_is_the_reference():
    findings = sv.version_findings(hosts(hk="3", jp="3", us="4"), expected={"keychain_password": "4"})
    assert sorted(f["host"] for f in findings) == ["hk", "jp"]


def test_stale_when_every_host_agrees_on_an_old_version():
    findings = sv.version_findings(hosts(hk="3", jp="3"), expected={"keychain_password": "4"})
    assert sorted((f["code"], f["host"]) for f in findings) == [("SECRET_VERSION_STALE", "hk"),
                                                                ("SECRET_VERSION_STALE", "jp")]


def test_agreeing_hosts_have_no_finding():
    assert sv.version_findings(hosts(hk="3", jp="3", us="3")) == []
    assert sv.version_findings({"hk": {}, "jp": {}}) == []


def nodes(**kwargs):
    return dict((host, {"wrapper_sha256": wrapper, "secret_versions": versions})
                for host, (wrapper, versions) in kwargs.items())


def test_gate_passes_when_wrapper_and_versions_agree():
    gate = sv.promotion_gate(nodes(hk=(WRAPPER, {"keychain_password": "3"}), sg=(WRAPPER, {"keychain_password": "3"})),
                             WRAPPER, {"keychain_password": "3"})
    assert gate["ok"] and gate["reasons"] == []


def test_gate_refuses_a_divergent_secret_version():
    gate = sv.promotion_gate(nodes(hk=(WRAPPER, {"keychain_password": "3"}), us=(WRAPPER, {"keychain_password": "4"})))
    assert not gate["ok"]
    assert gate["reasons"] == ["secret keychain_password versions differ: 3 on hk; 4 on us"]


def test_gate_refuses_a_divergent_wrapper():
    gate = sv.promotion_gate(nodes(hk=(WRAPPER, {}), jp=(WRAPPER, {}), us=(OTHER_WRAPPER, {})))
    assert not gate["ok"]
    assert gate["reasons"] == ["unlock wrapper sha256 differs: aaaaaaaaaaaa on hk, jp; bbbbbbbbbbbb on us"]


def test_gate_refuses_a_missing_wrapper_and_an_unexpected_one():
    assert not sv.promotion_gate(nodes(hk=(None, {})))["ok"]
    gate = sv.promotion_gate(nodes(hk=(WRAPPER, {})), OTHER_WRAPPER)
    assert gate["reasons"] == ["unlock wrapper sha256 differs: aaaaaaaaaaaa on hk (expected bbbbbbbbbbbb)"]


def test_gate_refuses_versions_behind_the_vault():
    gate = sv.promotion_gate(nodes(hk=(WRAPPER, {"asc_api_key": "2"})), WRAPPER, {"asc_api_key": "3"})
    assert gate["reasons"] == ["secret asc_api_key versions differ: 2 on hk (vault says 3)"]


def test_gate_compares_only_the_hosts_that_hold_a_secret():
    gate = sv.promotion_gate(nodes(hk=(WRAPPER, {"p12:" + SHA1: "7"}), sg=(WRAPPER, {})))
    assert gate["ok"]


def test_gate_input_errors_name_the_field():
    with pytest.raises(sv.SecretVersionError) as info:
        sv.promotion_gate([])
    assert info.value.field == "nodes"
    with pytest.raises(sv.SecretVersionError) as info:
        sv.promotion_gate({}, "short")
    assert info.value.field == "expected_wrapper_sha256"


def test_promotion_nodes_from_signing_info_reads():
    reads = {"hk": {"wrapper": {"path": "/w", "sha256": WRAPPER}, "agent": {"secret_versions": {"asc_api_key": "2"}}},
             "sg": {"wrapper": None, "agent": None}, "us": None}
    assert sv.promotion_nodes(reads) == {
        "hk": {"wrapper_sha256": WRAPPER, "secret_versions": {"asc_api_key": "2"}},
        "sg": {"wrapper_sha256": None, "secret_versions": {}},
        "us": {"wrapper_sha256": None, "secret_versions": {}},
    }


def test_expected_versions_from_inventory_vars():
    assert sv.expected_versions({"keychain_password_version": 3, "notary_credentials_key_version": "",
                                 "keychain_identities": [{"sha1": SHA1, "passphrase": "never read", "p12_version": "7"}]}) \
        == {"keychain_password": "3", "p12:" + SHA1: "7"}
    assert sv.expected_versions({}) == {}
