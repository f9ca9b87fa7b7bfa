# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The compliance_report module: files written, change detection, and the JMESPath gate."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import xml.etree.ElementTree as ET

import pytest
from ansible_collections.macmesh.signing.tests.unit.compat import patch_module_args

from ansible_collections.macmesh.signing.plugins.module_utils import _compliance_query
from ansible_collections.macmesh.signing.plugins.modules import compliance_report
from ansible_collections.macmesh.signing.tests.unit.plugins.module_utils.test_report_fleet import fleet

HK_OR_US = "findings[?severity == 'error' && contains(['hk', 'us'], region)]"


def args(dest, **extra):
    result = dict(parity=fleet(), facts={}, manifest={"version": "v1", "sha256": "a" * 64}, correlation_id="cid",
                  generated_at="2026-11-25T00:00:00Z", dest=str(dest))
    result.update(extra)
    return result


def run(capsys, arguments):
    with patch_module_args(arguments):
        with pytest.raises(SystemExit) as caught:
            compliance_report.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = caught.value.code
    return result


def written(dest):
    with open(os.path.join(str(dest), "compliance.json")) as handle:
        return json.load(handle)


def test_writes_four_files_and_reports_change_once(tmp_path, capsys):
    first = run(capsys, args(tmp_path))
    assert first["rc"] == 0 and first["changed"] is True and first["ok"] is False
    files = ["compliance.html", "compliance.json", "compliance.jsonl", "compliance.junit.xml"]
    assert sorted(os.listdir(str(tmp_path))) == files
    assert first["gates"] == [] and first["selected"] == {}
    second = run(capsys, args(tmp_path, generated_at="2026-11-26T00:00:00Z"))
    assert second["changed"] is False


def test_findings_written_in_another_order_are_not_a_change(tmp_path, capsys):
    """A compliance.json of schema 1 listed findings by region; the same findings are the same state."""
    run(capsys, args(tmp_path))
    document = written(tmp_path)
    document["findings"].sort(key=lambda f: (f["region"] or "", f["host"] or "", f["code"]))
    with open(os.path.join(str(tmp_path), "compliance.json"), "w") as handle:
        json.dump(document, handle)
    assert run(capsys, args(tmp_path))["changed"] is False


def test_gate_fails_the_task_after_writing_the_reports(tmp_path, capsys):
    result = run(capsys, args(tmp_path, gate={"errors in hk or us": HK_OR_US},
                              select={"expiring": "hosts.* | [?contains(findings[].code, 'CERT_EXPIRING')].host"}))
    # The pipeline must stop: a gate that selects something fails the task.
    assert result["rc"] == 1 and result.get("failed") is True, result
    assert result["msg"].startswith("gate 'errors in hk or us' failed: 2 selected by ")
    assert "hk-mini-004 SECRET_FOUND" in result["msg"]
    assert result["gates"][0]["failed"] is True and result["gates"][0]["count"] == 2
    assert result["selected"]["expiring"][0] == "hk-mini-001"
    document = written(tmp_path)
    assert document["gates"] == [{"name": "errors in hk or us", "query": HK_OR_US, "failed": True, "count": 2}]
    junit = ET.parse(os.path.join(str(tmp_path), "compliance.junit.xml")).getroot()
    assert [s.get("failures") for s in junit if s.get("name") == "gates"] == ["1"]


def test_gate_that_selects_nothing_passes(tmp_path, capsys):
    result = run(capsys, args(tmp_path, gate={"sg": "findings[?region == 'sg' && severity == 'error']"}))
    assert result["rc"] == 0 and not result.get("failed")
    assert result["gates"][0]["failed"] is False
    assert "Pipeline gates" in open(os.path.join(str(tmp_path), "compliance.html")).read()


def test_gate_is_evaluated_in_check_mode_without_writing(tmp_path, capsys):
    result = run(capsys, args(tmp_path, gate={"any error": "findings[?severity == 'error']"}, _ansible_check_mode=True))
    assert result["rc"] == 1 and result["gates"][0]["failed"] is True
    assert os.listdir(str(tmp_path)) == []


def test_invalid_gate_fails_before_anything_is_written(tmp_path, capsys):
    dest = tmp_path / "reports"
    result = run(capsys, args(dest, gate={"broken": "findings[?severity =="}))
    assert result["rc"] == 1 and result["msg"].startswith("gate[broken]: invalid JMESPath expression")
    assert not dest.exists()


def test_select_that_fails_on_the_data_names_the_option(tmp_path, capsys):
    result = run(capsys, args(tmp_path, select={"bad": "length(counts.hosts)"}))
    assert result["rc"] == 1 and result["msg"].startswith("select[bad]: JMESPath expression")


def test_missing_jmespath_names_the_option(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(compliance_report, "HAS_JMESPATH", False)
    result = run(capsys, args(tmp_path, select={"x": "findings"}))
    assert result["rc"] == 1 and "jmespath" in result["msg"] and "for the select option" in result["msg"]
    # Without gate or select, jmespath is not needed.
    assert run(capsys, args(tmp_path))["rc"] == 0


def test_bad_parity_and_section_names(tmp_path, capsys):
    result = run(capsys, args(tmp_path, parity={"findings": "x"}))
    assert result["rc"] == 1 and result["msg"].startswith("parity:")
    result = run(capsys, args(tmp_path, sections={"gates": {}}))
    assert result["rc"] == 1 and result["msg"].startswith("sections: gates")


def test_query_errors_are_value_errors_naming_the_option():
    error = _compliance_query.QueryError("gate[x]", "boom")
    assert isinstance(error, ValueError) and str(error) == "gate[x]: boom" and error.option == "gate[x]"
