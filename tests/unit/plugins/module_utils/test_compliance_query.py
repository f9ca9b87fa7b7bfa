# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""JMESPath over the compliance document: the documented examples, gates, and their errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import glob
import json
import os
import re

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _compliance_query as query
from ansible_collections.macmesh.signing.plugins.module_utils import _report
from ansible_collections.macmesh.signing.tests.unit.plugins.module_utils.test_report_fleet import _finding, build, fleet

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
DOCS = os.path.join(ROOT, "docs", "compliance.md")

# The examples of docs/compliance.md, with what they select on the fleet of test_report_fleet.
ERRORS_IN_HK_OR_US = "findings[?severity == 'error' && contains(['hk', 'us'], region)]"
CERT_EXPIRING_HOSTS = "hosts.* | [?contains(findings[].code, 'CERT_EXPIRING')].host"
SECRET_HOSTS = "hosts.* | [?checks.secrets == 'error'].host"
REGIONS_BELOW_FULL_REACH = "regions.* | [?reachable < length(hosts)] | length(@)"
FAILING_CHECKS_PER_REGION = "regions.*.failing | [*] | map(&keys(@), @)"


def document(**kwargs):
    # What the module and the filter see: the document as JSON types.
    return json.loads(json.dumps(build(**kwargs)))


def test_errors_in_hk_or_us():
    result = query.search("gate", ERRORS_IN_HK_OR_US, document())
    assert [(f["host"], f["code"]) for f in result] == [("hk-mini-004", "SECRET_FOUND"), ("us-mini-009", "FACTS_FAILED")]


def test_hosts_with_cert_expiring():
    assert query.search("select", CERT_EXPIRING_HOSTS, document()) == ["%s-mini-001" % r for r in ("hk", "jp", "kr", "sg", "us")]


def test_hosts_whose_secret_scan_found_something():
    assert query.search("select", SECRET_HOSTS, document()) == ["hk-mini-004"]


def test_regions_with_an_unreachable_or_unread_host():
    assert query.search("select", REGIONS_BELOW_FULL_REACH, document()) == 1  # jp (us-mini-009 is reachable)
    assert query.search("select", FAILING_CHECKS_PER_REGION, document())[0] == ["expiry", "secrets"]


def documented_expressions():
    """The expressions of the question | expression table of docs/compliance.md, unescaped."""
    with open(DOCS) as handle:
        text = handle.read()
    table = text[text.index("| question | expression |"):]
    table = table[:table.index("\n\n")]
    return [re.search(r"`([^`]+)` \|$", line).group(1).replace("\\|", "|") for line in table.splitlines()[2:]]


def test_the_examples_are_the_ones_documented_and_all_run():
    documented = documented_expressions()
    for expression in (ERRORS_IN_HK_OR_US, CERT_EXPIRING_HOSTS, SECRET_HOSTS, REGIONS_BELOW_FULL_REACH):
        assert expression in documented, expression
    for expression in documented:
        query.search("docs", expression, document())
    errors = query.search("docs", documented[-1], document())
    assert {"host": "hk-mini-004", "codes": ["SECRET_FOUND"]} in errors and len(errors) == 4


@pytest.mark.parametrize("result, selects, count", [
    (None, False, 0), (False, False, 0), (0, False, 0), (0.0, False, 0), ("", False, 0), ([], False, 0), ({}, False, 0),
    (True, True, 1), (3, True, 1), (-1, True, 1), ("x", True, 1), ([None], True, 1), ({"a": 1}, True, 1),
    ([1, 2], True, 2),
])
def test_what_a_gate_counts_as_selecting_something(result, selects, count):
    assert query.selects_something(result) is selects
    assert query.selected_count(result) == count


def test_gates_fail_only_when_they_select_something_and_are_added_to_the_document():
    report = document()
    selected, gates = query.apply_to_report(report, {"hk or us": ERRORS_IN_HK_OR_US,
                                                     "sg errors": "findings[?region == 'sg' && severity == 'error']"},
                                            {"expiring": CERT_EXPIRING_HOSTS})
    assert selected == {"expiring": ["%s-mini-001" % r for r in ("hk", "jp", "kr", "sg", "us")]}
    assert [(g["name"], g["failed"], g["count"]) for g in gates] == [("hk or us", True, 2), ("sg errors", False, 0)]
    assert report["gates"] == [{"name": "hk or us", "query": ERRORS_IN_HK_OR_US, "failed": True, "count": 2},
                               {"name": "sg errors", "query": "findings[?region == 'sg' && severity == 'error']",
                                "failed": False, "count": 0}]
    message = query.gate_message(gates)
    assert message == ("gate 'hk or us' failed: 2 selected by %s: hk-mini-004 SECRET_FOUND, us-mini-009 FACTS_FAILED"
                       % ERRORS_IN_HK_OR_US)


def test_no_gate_no_gates_key():
    report = document()
    assert query.apply_to_report(report, {}, {}) == ({}, [])
    assert "gates" not in report


def test_gate_message_shortens_long_selections():
    extra = [_finding("error", "CLOCK_OFFSET", "us-mini-%03d" % n, "us") for n in range(10, 31)]
    _selected, gates = query.apply_to_report(document(parity=fleet(100, extra)), {"us": "findings[?region == 'us']"})
    assert gates[0]["count"] == 23 and query.gate_message(gates).endswith("and 13 more")
    _selected, gates = query.apply_to_report(document(), {"obj": "regions.hk.failing", "num": "counts.errors",
                                                          "text": "regions.hk.status"})
    assert query.gate_message(gates) == ("gate 'obj' failed: 2 selected by regions.hk.failing: expiry, secrets; "
                                         "gate 'num' failed: 1 selected by counts.errors: 4; "
                                         "gate 'text' failed: 5 selected by regions.hk.status: error")


def test_invalid_expression_names_the_option_on_one_line():
    with pytest.raises(query.QueryError) as caught:
        query.check_queries({"broken": "findings[?severity == 'error'"}, "gate")
    assert caught.value.option == "gate[broken]"
    assert str(caught.value).startswith("gate[broken]: invalid JMESPath expression \"findings[?severity == 'error'\"")
    assert "\n" not in str(caught.value)


def test_expression_failing_on_the_data_names_the_option():
    with pytest.raises(query.QueryError, match=r"^select\[n\]: JMESPath expression 'nope\(@\)' failed: Unknown function"):
        query.select(document(), {"n": "nope(@)"})
    with pytest.raises(query.QueryError, match=r"^gate\[len\]: .*invalid type"):
        query.evaluate_gates(document(), {"len": "length(counts.hosts)"})


@pytest.mark.parametrize("expression", ["", "   ", None, 3])
def test_empty_or_non_text_expression(expression):
    with pytest.raises(query.QueryError, match=r"^gate\[x\]: must be a non-empty JMESPath expression"):
        query.check_queries({"x": expression}, "gate")


def test_queries_must_be_a_dict():
    with pytest.raises(query.QueryError, match=r"^gate: must be a dict of name -> JMESPath expression, not list"):
        query.check_queries([ERRORS_IN_HK_OR_US], "gate")


def test_missing_jmespath_is_named(monkeypatch):
    monkeypatch.setattr(query, "HAS_JMESPATH", False)
    with pytest.raises(query.QueryError, match=r"^gate\[g\]: needs the Python library jmespath on the controller"):
        query.check_queries({"g": "findings"}, "gate")


def test_plain_parses_json_text_and_refuses_other_text():
    text = _report.render_json(build())
    assert query.search("expression", SECRET_HOSTS, query.plain(text)) == ["hk-mini-004"]

    class Tagged(str):
        """What a templating engine may hand out: a str subclass, which jmespath would not call a string."""

    doc = {"findings": [{"region": Tagged("hk"), "severity": "error"}]}
    assert query.search("e", "findings[?contains(['hk'], region)] | length(@)", query.plain(doc)) == 1
    with pytest.raises(query.QueryError, match="^document: is text but not JSON"):
        query.plain("not json")


def test_only_the_controller_side_imports_jmespath():
    """Modules run on the Mac's /usr/bin/python3 with the standard library: none may need jmespath."""
    importers = []
    for path in glob.glob(os.path.join(ROOT, "plugins", "*", "*.py")):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(name == "jmespath" or name.startswith("jmespath.") or name.endswith("._compliance_query")
                   for name in names):
                importers.append(os.path.relpath(path, ROOT))
    assert sorted(set(importers)) == ["plugins/filter/compliance_query.py", "plugins/module_utils/_compliance_query.py",
                                      "plugins/modules/compliance_report.py"]
