# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reports at fleet size: 50 and 500 hosts, one unreachable host, a stray secret, enforce."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _report

NOW = "2026-11-25T00:00:00Z"
REGIONS = ("hk", "jp", "kr", "sg", "us")


def _finding(severity, code, host, region, message="m"):
    return {"severity": severity, "code": code, "host": host, "region": region, "message": message}


def fleet(per_region=10, extra=()):
    """A parity result for ``per_region`` hosts in each region, with the findings of ``extra``.

    The default mix: a stray token on hk-mini-04, jp-mini-06 down, a wrapper edited on kr-mini-03,
    a read that failed on us-mini-09, and a certificate warning on every region's first host.
    """
    hosts = {}
    for region in REGIONS:
        for number in range(1, per_region + 1):
            hosts["%s-mini-%03d" % (region, number)] = {
                "region": region, "tier": "signers" if number <= 2 else "builders",
                "manifest_sha": "a" * 64, "identity_hash": "b" * 64}
    findings = [
        _finding("error", "SECRET_FOUND", "hk-mini-004", "hk", "github_token found in /Users/ci-build/.config/gh/hosts.yml"),
        _finding("error", "UNREACHABLE", "jp-mini-006", "jp", "unreachable: ssh: connect timed out"),
        _finding("error", "WRAPPER_MISMATCH", "kr-mini-003", "kr", "wrapper has another sha256"),
        _finding("error", "FACTS_FAILED", "us-mini-009", "us", "signing_info failed: become timeout"),
    ]
    findings += [_finding("warning", "CERT_EXPIRING", "%s-mini-001" % r, r, "expires in 13.8 days") for r in REGIONS]
    findings += list(extra)
    return {"ok": False, "findings": findings, "hosts": hosts}


def build(parity=None, before=None, **kwargs):
    return _report.build_report(parity or fleet(), {}, {"version": "v1", "sha256": "a" * 64}, "dedicated", NOW,
                                "cid", before=before, **kwargs)


class Rows(HTMLParser):
    """Table rows as lists of cell texts, the <details> regions, and the region summaries' text."""

    def __init__(self):
        HTMLParser.__init__(self)
        self.rows, self.details, self.summaries = [], [], {}
        self._row = self._cell = None
        self._summary = None
        self._region = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "details" and "region" in (attrs.get("class") or ""):
            self._region = attrs["id"][len("region-"):]
            self.details.append(self._region)
        elif tag == "summary" and self._region:
            self._summary = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "summary" and self._summary is not None:
            self.summaries[self._region] = " ".join(" ".join(self._summary).split())
            self._summary = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._summary is not None:
            self._summary.append(data)


def parse(page):
    rows = Rows()
    rows.feed(page)
    return rows


def test_one_unreachable_host_does_not_mark_its_region_down():
    region = build()["regions"]["jp"]
    assert region["reachable"] == 9 and len(region["hosts"]) == 10
    assert region["not_evaluated"] == ["jp-mini-006"]
    assert region["checks"]["reachability"] == "error"
    # The nine other hosts were evaluated and pass: their checks read ok, not "unreachable".
    assert region["checks"]["manifest"] == "ok" and region["checks"]["secrets"] == "ok"
    assert region["failing"]["reachability"] == {"error": ["jp-mini-006"], "warning": []}
    page = parse(_report.render_html(build()))
    assert "9/10" in page.summaries["jp"] and "reachability" in page.summaries["jp"]
    assert "unreachable" not in page.summaries["jp"]


def test_a_failed_read_is_not_evaluated_but_still_reachable():
    report = build()
    host = report["hosts"]["us-mini-009"]
    assert host["reachable"] is True and host["evaluated"] is False
    assert host["checks"]["wrapper"] == "not_evaluated" and host["checks"]["reachability"] == "error"
    assert report["regions"]["us"]["reachable"] == 10 and report["regions"]["us"]["not_evaluated"] == ["us-mini-009"]


def test_every_host_of_a_region_down_reads_unreachable_not_ok():
    extra = [_finding("error", "UNREACHABLE", "sg-mini-%03d" % n, "sg") for n in range(1, 11)]
    report = build(fleet(extra=extra))
    region = report["regions"]["sg"]
    assert region["reachable"] == 0 and region["checks"]["manifest"] == "unreachable"
    assert region["checks"]["inventory"] == "ok"
    summary = parse(_report.render_html(report)).summaries["sg"]
    assert "unreachable" in summary and "0/10" in summary


def test_a_region_with_a_secret_never_reads_ok():
    report = build()
    region = report["regions"]["hk"]
    assert region["ok"] is False and region["status"] == "error" and region["checks"]["secrets"] == "error"
    assert region["failing"]["secrets"]["error"] == ["hk-mini-004"]
    summary = parse(_report.render_html(report)).summaries["hk"]
    assert summary.startswith("HK errors") and "secrets" in summary
    # Even with every other host of hk down, the secret stands out.
    extra = [_finding("error", "UNREACHABLE", "hk-mini-%03d" % n, "hk") for n in range(1, 11) if n != 4]
    summary = parse(_report.render_html(build(fleet(extra=extra)))).summaries["hk"]
    assert summary.startswith("HK errors") and "secrets" in summary


@pytest.mark.parametrize("per_region", [10, 100])
def test_every_failing_check_is_in_its_region_row_and_no_table_grows_sideways(per_region):
    extra = [_finding("error", code, "%s-mini-%03d" % (region, number), region)
             for region, number, code in (("kr", 7, "SEARCH_LIST"), ("us", 2, "PROFILE_SHA_MISMATCH"),
                                          ("us", 3, "CLOCK_OFFSET"), ("sg", 5, "KEYCHAIN_SETTINGS"),
                                          ("hk", 8, "IDENTITY_UNDECLARED"), ("jp", 2, "PROFILE_DIR_WRITABLE"))]
    report = build(fleet(per_region, extra))
    page = parse(_report.render_html(report))
    assert page.details == list(REGIONS)
    for region, entry in report["regions"].items():
        for check, lists in entry["failing"].items():
            count = len(lists["error"]) or len(lists["warning"])
            assert re.search(r"%s \S %d/\d+" % (check, count), page.summaries[region]), (region, check, page.summaries[region])
    # One column per check per host would be 11+ cells a row; the widest table here has 6.
    assert max(len(row) for row in page.rows) <= 6
    assert len([row for row in page.rows if row and row[0].endswith("-mini-%03d" % per_region)]) == len(REGIONS)


def test_html_findings_are_listed_errors_first():
    report = build()
    page = _report.render_html(report)
    table = page[page.index('<table class="findings">'):]
    severities = re.findall(r'<tr class="(error|warning|info)">', table)
    assert severities == sorted(severities, key=lambda s: _report.FINDING_ORDER[s])
    assert severities.count("error") == 4 and severities.count("warning") == 5


def test_hosts_of_a_region_are_listed_worst_first():
    page = parse(_report.render_html(build()))
    hk = [row[0] for row in page.rows if row and row[0].startswith("hk-mini-")]
    assert hk[:2] == ["hk-mini-004", "hk-mini-001"] and hk[2:] == sorted(hk[2:])
    us = [row[0] for row in page.rows if row and row[0].startswith("us-mini-")]
    assert us[0] == "us-mini-009"


def test_region_finding_without_host_gets_a_region_row():
    extra = [_finding("error", "REGION_EMPTY", None, "eu", "region eu has no host in group 'eu'")]
    report = build(fleet(extra=extra))
    assert report["regions"]["eu"]["hosts"] == [] and report["regions"]["eu"]["ok"] is False
    assert report["regions"]["eu"]["checks"]["inventory"] == "error"
    page = _report.render_html(report)
    assert "REGION_EMPTY" in parse(page).summaries["eu"]
    suite = [s for s in ET.fromstring(_report.render_junit(report)) if s.get("name") == "region.eu"][0]
    assert suite.get("failures") == "1" and suite.find("testcase").get("classname") == "eu"


def test_junit_unreachable_host_is_one_failure_and_the_rest_skipped():
    report = build()
    root = ET.fromstring(_report.render_junit(report))
    jp = [c for c in root.iter("testcase") if c.get("classname") == "jp.jp-mini-006"]
    assert len(jp) == len(report["hosts"]["jp-mini-006"]["checks"])
    assert [c.get("name") for c in jp if c.find("failure") is not None] == ["reachability"]
    skipped = [c for c in jp if c.find("skipped") is not None]
    assert len(skipped) == len(jp) - 2  # reachability fails, inventory was evaluated from the inventory
    assert all("ssh: connect timed out" in c.find("skipped").get("message") for c in skipped)
    assert int(root.get("failures")) == 4 and int(root.get("tests")) == 50 * len(_report.CHECK_NAMES)


def test_junit_warnings_are_visible():
    root = ET.fromstring(_report.render_junit(build()))
    case = [c for c in root.iter("testcase") if c.get("classname") == "sg.sg-mini-001" and c.get("name") == "expiry"][0]
    assert case.find("failure") is None and "CERT_EXPIRING" in case.find("system-out").text
    suite = [s for s in root if s.get("name") == "region.sg"][0]
    assert "sg-mini-001 warning CERT_EXPIRING" in suite.find("system-out").text
    assert {p.get("name"): p.get("value") for p in suite.iter("property")} == {"warnings": "1", "reachable": "10/10"}


def test_junit_error_with_a_warning_in_the_same_check_keeps_both():
    extra = [_finding("error", "CERT_EXPIRED", "hk-mini-001", "hk", "expired")]
    root = ET.fromstring(_report.render_junit(build(fleet(extra=extra))))
    case = [c for c in root.iter("testcase") if c.get("classname") == "hk.hk-mini-001" and c.get("name") == "expiry"][0]
    assert case.find("failure").get("type") == "CERT_EXPIRED" and "CERT_EXPIRING" in case.find("system-out").text


def test_junit_lists_gates():
    report = build()
    report["gates"] = [{"name": "hk or us", "query": "findings[?region=='hk']", "failed": True, "count": 1},
                       {"name": "clean sg", "query": "findings[?region=='sg' && severity=='error']", "failed": False,
                        "count": 0}]
    root = ET.fromstring(_report.render_junit(report))
    suite = [s for s in root if s.get("name") == "gates"][0]
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    assert suite.find("testcase/failure").get("message").startswith("selected 1 by")
    page = _report.render_html(report)
    assert "Pipeline gates" in page and "FAILED: selected 1 item by" in page and "passed" in page


def test_enforce_before_and_after_in_html():
    before = {"findings": [_finding("error", "WRAPPER_MISMATCH", "kr-mini-003", "kr"),
                           _finding("error", "KEYCHAIN_SETTINGS", "sg-mini-002", "sg", "timeout 60"),
                           _finding("error", "SECRET_FOUND", "hk-mini-004", "hk")]}
    report = build(before=before)
    assert report["before"]["counts"] == {"errors": 3, "warnings": 0}
    changes = _report.enforce_changes(report)
    assert [(f["host"], f["code"]) for f in changes["repaired"]] == [("sg-mini-002", "KEYCHAIN_SETTINGS")]
    assert [(f["host"], f["code"]) for f in changes["standing"]] == [("hk-mini-004", "SECRET_FOUND"),
                                                                     ("kr-mini-003", "WRAPPER_MISMATCH")]
    assert ("jp-mini-006", "UNREACHABLE") in [(f["host"], f["code"]) for f in changes["new"]]
    page = _report.render_html(report)
    assert "Before repairs" in page and "After repairs" in page and "Repaired (1)" in page
    enforce = page[page.index("Enforce: before and after"):page.index("<h2>Regions")]
    assert "KEYCHAIN_SETTINGS" in enforce and "3 errors" in enforce
    assert _report.enforce_changes(build()) is None and "Enforce:" not in _report.render_html(build())


def test_a_gates_section_name_is_reserved():
    with pytest.raises(_report.SectionNameError, match="gates"):
        build(sections={"gates": {}})


def test_render_is_linear_in_hosts():
    """Ten times the hosts, about ten times the output: no renderer repeats work per host pair."""
    small = build(fleet(10))
    large = build(fleet(100))
    for _name, render in _report.RENDERERS:
        ratio = len(render(large)) / float(len(render(small)))
        assert 5 < ratio < 12, (_name, ratio)


def test_json_is_one_line_per_host_and_finding_and_round_trips():
    before = {"findings": [_finding("error", "WRAPPER_MISMATCH", "kr-mini-003", "kr")]}
    report = build(before=before, sections={"rotation": {"regions": {}, "total_s": None}, "empty": []})
    text = _report.render_json(report)
    assert json.loads(text) == report
    lines = text.splitlines()
    assert len([line for line in lines if line.startswith('    "hk-mini-')]) == 10
    assert len([line for line in lines if line.startswith('    {"code": ')]) == len(report["findings"])
    assert '  "empty": [],' in lines and lines[0] == "{" and lines[-1] == "}"
    empty = build(parity={"findings": [], "hosts": {}})
    assert json.loads(_report.render_json(empty)) == empty
