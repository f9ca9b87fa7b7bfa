# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_converge.collect_reads: the secret scan from the signing read (one call per node) or from its own task.

The healthy reads are test_parity's baseline mesh; each case changes where the scan comes from.
"""

import copy

from ansible_collections.macmesh.signing.plugins.module_utils import _converge, _parity
from ansible_collections.macmesh.signing.tests.unit.plugins.module_utils.test_parity import SIGNERS, Mesh

HOST = SIGNERS[0]
FINDING = {"path": "/Users/ci-build/.config/gh/hosts.yml", "kind": "github_token", "line": 3}


def scan_result(findings=()):
    findings = [dict(item) for item in findings]
    return {"findings": findings, "summary": "", "scanned_files": 12, "skipped_files": 0, "missing": []}


def collect(read, scan=None):
    return _converge.collect_reads([HOST], {HOST: read}, {HOST: scan} if scan is not None else {})[HOST]


def healthy():
    return copy.deepcopy(Mesh().facts[HOST])


def test_the_scan_in_the_read_gives_the_findings():
    read = dict(healthy(), secret_scan=scan_result([FINDING]))
    fact = collect(read)
    assert fact["secrets"] == [FINDING]
    # The read's own scan entry is replaced by the findings; the report shows them as before.
    assert "secret_scan" not in fact
    assert "secret_scan" not in fact["unavailable"] and "secrets" not in fact["unavailable"]
    # The registered result is not modified.
    assert read["secret_scan"]["findings"] == [FINDING]


def test_a_clean_scan_in_the_read_gives_no_findings():
    fact = collect(dict(healthy(), secret_scan=scan_result()))
    assert fact["secrets"] == []


def test_a_scan_that_stopped_in_the_read_is_unavailable():
    read = healthy()
    read["secret_scan"] = None
    read["unavailable"] = {"secret_scan": "the scan stopped: [Errno 24] Too many open files"}
    fact = collect(read)
    assert "secrets" not in fact and "secret_scan" not in fact
    assert fact["unavailable"] == {"secrets": "secret_scan: the scan stopped: [Errno 24] Too many open files"}


def test_the_scan_in_the_read_wins_over_a_separate_one():
    fact = collect(dict(healthy(), secret_scan=scan_result()), scan=scan_result([FINDING]))
    assert fact["secrets"] == []


def test_the_separate_scan_still_counts_without_one_in_the_read():
    fact = collect(healthy(), scan=scan_result([FINDING]))
    assert fact["secrets"] == [FINDING]


def test_a_failed_separate_scan_is_unavailable():
    fact = collect(healthy(), scan={"failed": True, "msg": "Permission denied"})
    assert fact["unavailable"]["secrets"] == "secret_scan: Permission denied"


def test_no_scan_at_all_reports_nothing():
    # macmesh_secret_scan_enabled: false - no option, or the separate task skipped.
    assert "secrets" not in collect(healthy())
    fact = collect(healthy(), scan={"skipped": True, "changed": False})
    assert "secrets" not in fact and "secrets" not in fact["unavailable"]


def test_an_unreachable_or_failed_read_is_passed_on_as_it_is():
    unreachable = {"unreachable": True, "msg": "ssh: connect to host: timed out"}
    assert collect(unreachable, scan=scan_result([FINDING])) is unreachable
    failed = {"failed": True, "msg": "sudo: a password is required", "secret_scan": scan_result([FINDING])}
    assert collect(failed) is failed


def test_a_finding_from_the_read_is_secret_found_and_never_repaired():
    mesh = Mesh()
    mesh.facts[HOST] = dict(mesh.facts[HOST], secret_scan=scan_result([FINDING]))
    facts = _converge.collect_reads(sorted(mesh.facts), mesh.facts, {})
    parity = _parity.mesh_parity(facts, mesh.groups, mesh.expected)
    codes = [(item["code"], item["host"]) for item in parity["findings"] if item["severity"] == "error"]
    assert codes == [("SECRET_FOUND", HOST)]
    plan = _converge.repair_plan(parity, facts)
    assert plan["repair"] == [] and plan["refused"] == {HOST: ["SECRET_FOUND"]}
