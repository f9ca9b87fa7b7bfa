# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The four report renderings agree with the document and with each other."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _report

NOW = "2026-11-25T00:00:00Z"


def _parity():
    findings = [
        {"severity": "error", "code": "PROFILE_SHA_MISMATCH", "host": "jp-mini-01", "region": "jp", "message": "sha differs"},
        {"severity": "warning", "code": "CERT_EXPIRING", "host": "hk-mini-01", "region": "hk", "message": "20 days"},
        {"severity": "error", "code": "UNREACHABLE", "host": "us-mini-01", "region": "us", "message": "ssh refused"},
    ]
    hosts = {
        "hk-mini-01": {"region": "hk", "tier": "signers", "manifest_sha": "a" * 64, "identity_hash": "b" * 64},
        "jp-mini-01": {"region": "jp", "tier": "signers", "manifest_sha": "a" * 64, "identity_hash": "b" * 64},
        "us-mini-01": {"region": "us", "tier": "signers", "manifest_sha": None, "identity_hash": None},
    }
    return {"ok": False, "findings": findings, "hosts": hosts}


def _facts():
    return {
        "hk-mini-01": {"region": "hk", "profiles": [{"uuid": "u-1", "name": "App <Store>", "expires": "2026-12-15T00:00:00Z"}],
                       "certificates": [{"sha1": "C" * 40, "name": "Apple Distribution: X", "not_after": "2026-12-10T00:00:00Z"}]},
        "jp-mini-01": {"region": "jp", "profiles": [{"uuid": "u-1", "name": "App <Store>", "expires": "2026-12-15T00:00:00Z"}]},
    }


def _build(before=None):
    return _report.build_report(_parity(), _facts(), {"version": "v1", "sha256": "a" * 64}, "dedicated", NOW, "cid-1", before=before)


@pytest.mark.parametrize("code, check", [
    ("UNREACHABLE", "reachability"), ("NO_FACTS", "reachability"), ("FACTS_FAILED", "reachability"),
    ("REGION_UNKNOWN", "inventory"), ("TIER_AMBIGUOUS", "inventory"), ("PROFILE_UNREADABLE", "manifest"),
    ("MANIFEST_DRIFT", "manifest"), ("PROFILE_SHA_MISMATCH", "manifest"),
    ("KEY_ON_BUILDER", "identities"), ("IDENTITY_HASHES_EXCEEDED", "identities"), ("KEYCHAIN_SETTINGS", "keychain"),
    ("WRAPPER_MISMATCH", "wrapper"), ("SEARCH_LIST", "search_list"), ("CERT_EXPIRING_SOON", "expiry"),
    ("PROFILE_OVERLAP_NO_SUCCESSOR", "expiry"), ("DUPLICATE_UUID", "profile_dirs"), ("PROFILE_DIR_WRITABLE", "profile_dirs"),
    ("CLOCK_OFFSET", "clock"), ("SECRET_FOUND", "secrets"), ("SOMETHING_NEW", "other"),
])
def test_every_code_lands_in_one_check(code, check):
    assert _report.check_for_code(code) == check


def test_document_verdict_counts_and_statuses():
    report = _build()
    assert report["schema"] == 2
    assert report["ok"] is False
    assert report["counts"] == {"hosts": 3, "reachable": 2, "errors": 2, "warnings": 1}
    assert report["hosts"]["jp-mini-01"]["checks"]["manifest"] == "error"
    assert report["hosts"]["hk-mini-01"]["checks"]["expiry"] == "warning"
    assert report["hosts"]["hk-mini-01"]["ok"] is True
    assert report["hosts"]["hk-mini-01"]["host"] == "hk-mini-01" and report["hosts"]["hk-mini-01"]["evaluated"] is True
    # An unreachable host is unknown in every check that needs its facts, not "ok".
    assert report["hosts"]["us-mini-01"]["checks"]["manifest"] == "unreachable"
    assert report["hosts"]["us-mini-01"]["checks"]["reachability"] == "error"
    assert report["hosts"]["us-mini-01"]["checks"]["inventory"] == "ok"
    assert report["hosts"]["us-mini-01"]["evaluated"] is False
    assert report["regions"]["jp"]["ok"] is False and report["regions"]["hk"]["ok"] is True
    # us has no host that could be evaluated: its checks read "unreachable", not "ok".
    assert report["regions"]["us"]["checks"]["manifest"] == "unreachable"
    assert report["regions"]["us"]["reachable"] == 0 and report["regions"]["us"]["not_evaluated"] == ["us-mini-01"]
    assert "before" not in report


def test_findings_are_sorted_by_severity_then_region_and_host():
    report = _build()
    assert [(f["severity"], f["host"]) for f in report["findings"]] == [
        ("error", "jp-mini-01"), ("error", "us-mini-01"), ("warning", "hk-mini-01")]
    parity = _parity()
    parity["findings"].append({"severity": "info", "code": "SOMETHING_NEW", "host": "hk-mini-01", "region": "hk",
                               "message": "fyi"})
    parity["findings"].insert(0, {"severity": "warning", "code": "CLOCK_OFFSET", "host": "jp-mini-01", "region": "jp",
                                  "message": "1.2 s"})
    report = _report.build_report(parity, _facts(), {"version": "v1", "sha256": "a" * 64}, "dedicated", NOW, "cid-1")
    assert [f["severity"] for f in report["findings"]] == ["error", "error", "warning", "warning", "info"]
    assert [f["host"] for f in report["findings"] if f["severity"] == "warning"] == ["hk-mini-01", "jp-mini-01"]
    # An informational finding is listed but changes no check.
    assert report["hosts"]["hk-mini-01"]["checks"]["other"] == "ok"


def test_timeline_one_item_per_region_and_kind():
    items = _build()["timeline"]
    assert [(i["region"], i["kind"]) for i in items] == [("hk", "certificate"), ("hk", "profile"), ("jp", "profile")]
    assert items[0]["days_left"] == 15.0


def test_before_is_reported_in_enforce_mode():
    before = {"findings": [{"severity": "error", "code": "WRAPPER_MISMATCH", "host": "kr-mini-01", "region": "kr", "message": "x"}]}
    report = _build(before=before)
    assert report["before"]["ok"] is False and report["before"]["findings"][0]["code"] == "WRAPPER_MISMATCH"


def test_junit_has_a_testcase_per_host_and_check():
    report = _build()
    root = ET.fromstring(_report.render_junit(report))
    cases = root.findall(".//testcase")
    assert len(cases) == sum(len(h["checks"]) for h in report["hosts"].values())
    # jp's manifest fails; us is unreachable: one failure (reachability), the checks it prevented are skipped.
    assert root.get("failures") == "2" and root.get("errors") == "0"
    assert root.get("skipped") == str(len(report["hosts"]["us-mini-01"]["checks"]) - 2)
    failed = [c for c in cases if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [("jp.jp-mini-01", "manifest"), ("us.us-mini-01", "reachability")]
    assert root.get("tests") == str(len(cases))


def test_jsonl_one_line_per_host():
    lines = _report.render_jsonl(_build()).splitlines()
    assert [json.loads(line)["host"] for line in lines] == ["hk-mini-01", "jp-mini-01", "us-mini-01"]
    assert all(json.loads(line)["correlation_id"] == "cid-1" for line in lines)


def test_html_is_self_contained_and_escaped():
    page = _report.render_html(_build())
    assert "NOT COMPLIANT" in page and "<svg" in page
    assert "App &lt;Store&gt;" in page and "App <Store>" not in page
    for external in ("<script src", "<link", "http://", "https://"):
        assert external not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_json_round_trips():
    report = _build()
    assert json.loads(_report.render_json(report)) == report


def test_every_parity_code_has_a_named_check():
    from ansible_collections.macmesh.signing.plugins.module_utils import _parity
    unplaced = [code for code in _parity.CODES if _report.check_for_code(code) == _report.OTHER_CHECK]
    assert unplaced == []


def test_timeline_labels_keep_their_id_and_axis_has_few_ticks():
    long_name = "MacMesh Demo Distribution com.macmesh.demo.widget.extension"
    item = {"label": "%s (806A964A)" % long_name, "id": "806A964A-6E02-400D-8783-A929527E478A"}
    short = _report._short_label(item)
    assert len(short) <= 44 and short.endswith("... (806A964A)")
    assert _report._short_label({"label": "short (806A964A)", "id": item["id"]}) == "short (806A964A)"
    items = [{"region": "hk", "kind": "profile", "id": item["id"], "label": item["label"], "expires": "2027-09-21T00:00:00Z",
              "days_left": days} for days in (-3.0, 5.0, 365.0)]
    svg = _report._svg_timeline(items)
    assert svg.count("text-anchor=\"middle\"") <= 8  # ticks, not one label per threshold
    assert "today" in svg and "under 7 days" in svg


def test_sections_are_added_listed_and_shown_without_changing_the_verdict():
    rotation = {"regions": {"hk": {"version": "v2", "time_to_green_s": 17.2}}, "total_s": 40.1}
    report = _report.build_report(_parity(), _facts(), {"version": "v1", "sha256": "a" * 64}, "dedicated", NOW, "cid-1",
                                  sections={"rotation": rotation})
    assert report["rotation"] == rotation and report["sections"] == ["rotation"]
    assert report["ok"] is False and report["counts"]["errors"] == 2
    page = _report.render_html(report)
    assert "<h2>rotation</h2>" in page and "time_to_green_s" in page


@pytest.mark.parametrize("name", ["findings", "hosts", "ok", "sections", "before"])
def test_a_section_may_not_overwrite_the_document(name):
    with pytest.raises(_report.SectionNameError, match=name):
        _report.build_report(_parity(), _facts(), {"version": "v1", "sha256": "a" * 64}, "dedicated", NOW, "cid-1",
                             sections={name: {}})
