#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: compliance_report
short_description: Write the compliance reports (JSON, JUnit XML, HTML, JSON lines) of a signing mesh
version_added: 0.1.0
description:
  - Turns the result of the P(macmesh.signing.mesh_parity#filter) filter and the per-host
    M(macmesh.signing.signing_info) results into four files in O(dest) - C(compliance.json) (the document),
    C(compliance.junit.xml) (a testcase per host and check, for CI dashboards), C(compliance.html) (one
    self-contained page - a row per region that expands to its hosts, the findings errors first, the
    enforce before and after, an expiry timeline) and C(compliance.jsonl) (one JSON line per host for log
    indexes).
  - O(gate) and O(select) run JMESPath expressions over the document, for pipelines that decide on
    part of the mesh (for example fail only for errors in some regions); see docs/compliance.md.
  - Runs on the controller, with C(delegate_to) set to C(localhost).
  - The files are rewritten on every run, because a scheduled audit needs a fresh timestamp. The task
    reports C(changed) only when the compliance state (verdict, findings, manifest, per-host hashes)
    differs from the previous C(compliance.json) in O(dest).
author:
  - macmesh.signing maintainers (@macmesh)
requirements:
  - jmespath (on the controller), only for O(gate) and O(select)
extends_documentation_fragment:
  - macmesh.signing.attributes
attributes:
  check_mode:
    support: full
    details: In check mode nothing is written; the result still says whether the state differs.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  parity:
    description: The result of the P(macmesh.signing.mesh_parity#filter) filter.
    type: dict
    required: true
  facts:
    description:
      - Host name to M(macmesh.signing.signing_info) result, each with C(region) and C(tier) added.
      - Used for the per-host details and the expiry timeline.
    type: dict
    default: {}
  manifest:
    description: The frozen manifest the mesh is audited against (at least C(version) and C(sha256)).
    type: dict
    required: true
  topology:
    description: The key topology the audit used.
    type: str
    default: dedicated
    choices: [dedicated, distributed, per_runner]
  before:
    description:
      - In enforce mode, the P(macmesh.signing.mesh_parity#filter) result of the audit before the repairs,
        so the report shows before and after.
    type: dict
  correlation_id:
    description: The identifier of this run, carried into every JSON line.
    type: str
    required: true
  sections:
    description:
      - Extra top-level sections of the document, by name, for a caller that reports more than the audit
        (C(macmesh.signing.rotate) adds C(rotation) - which region runs which version, time to green).
      - Written into C(compliance.json) as they are and listed in its C(sections) key; C(compliance.html)
        shows each as formatted JSON. They never change the verdict nor whether the task reports C(changed).
      - A name the document already uses (for example C(findings)) is refused.
    type: dict
    default: {}
    version_added: 0.1.0
  gate:
    description:
      - Pipeline gates - name to a JMESPath expression evaluated over the C(compliance.json) document.
      - A gate fails when its result selects something - a non-empty list, object or string, V(true), or a
        non-zero number. The task then fails after writing the reports, naming each failed gate, how much it
        selected and the first items; the reports list every gate and whether it failed (key C(gates)).
      - Every expression is checked before anything is written; an invalid one fails the task naming
        C(gate[<name>]).
      - Needs the Python library C(jmespath) on the controller.
    type: dict
    default: {}
    version_added: 0.1.0
  select:
    description:
      - Selections - name to a JMESPath expression evaluated over the C(compliance.json) document, returned
        in RV(selected) (for example the hosts with C(CERT_EXPIRING), for a notification). They never fail
        the task.
      - Needs the Python library C(jmespath) on the controller.
    type: dict
    default: {}
    version_added: 0.1.0
  generated_at:
    description: The time of the audit as C(YYYY-MM-DDTHH:MM:SSZ) (UTC). Defaults to now.
    type: str
  dest:
    description: The directory the reports are written to. Created when missing.
    type: path
    default: reports
"""

EXAMPLES = r"""
- name: Write the compliance reports
  macmesh.signing.compliance_report:
    parity: "{{ parity }}"
    facts: "{{ audit_facts }}"
    manifest: "{{ manifest }}"
    topology: dedicated
    correlation_id: "{{ macmesh_correlation_id }}"
    dest: reports
  delegate_to: localhost
  run_once: true

- name: Write the reports; fail the pipeline only for errors in hk or us, and list the expiring hosts
  macmesh.signing.compliance_report:
    parity: "{{ parity }}"
    facts: "{{ audit_facts }}"
    manifest: "{{ manifest }}"
    correlation_id: "{{ macmesh_correlation_id }}"
    gate:
      errors in hk or us: "findings[?severity == 'error' && contains(['hk', 'us'], region)]"
    select:
      expiring: "hosts.* | [?contains(findings[].code, 'CERT_EXPIRING')].host"
  delegate_to: localhost
  run_once: true
  register: report
"""

RETURN = r"""
ok:
  description: Whether the mesh is compliant (no error-level finding).
  returned: always
  type: bool
counts:
  description: Hosts, errors and warnings.
  returned: always
  type: dict
  sample: {hosts: 5, errors: 0, warnings: 1}
files:
  description: The paths of the reports written.
  returned: always
  type: list
  elements: str
  sample: [reports/compliance.json, reports/compliance.junit.xml, reports/compliance.html, reports/compliance.jsonl]
gates:
  description: One entry per O(gate) - its name, query, whether it failed, and how many items it selected.
  returned: always
  type: list
  elements: dict
  sample: [{name: errors in hk or us, query: "findings[?severity == 'error']", failed: true, count: 1,
            result: [{severity: error, code: SECRET_FOUND, host: hk-mini-03, region: hk, message: "..."}]}]
  version_added: 0.1.0
selected:
  description: The result of every O(select) expression, by name.
  returned: always
  type: dict
  sample: {expiring: [hk-mini-02, us-mini-07]}
  version_added: 0.1.0
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.macmesh.signing.plugins.module_utils._compliance_query import (
    HAS_JMESPATH,
    JMESPATH_IMPORT_ERROR,
    QueryError,
    apply_to_report,
    check_queries,
    gate_message,
)
from ansible_collections.macmesh.signing.plugins.module_utils._files import atomic_write
from ansible_collections.macmesh.signing.plugins.module_utils._report import (
    RENDERERS,
    SectionNameError,
    build_report,
    finding_sort_key,
    utc_now,
)


def _state(report):
    """The parts of a report whose change means the compliance state changed."""
    if not report:
        return None
    return {
        "ok": report.get("ok"),
        "manifest": report.get("manifest"),
        # Sorted here: a report written by an older version listed its findings in another order.
        "findings": sorted(report.get("findings") or [], key=finding_sort_key),
        "hosts": dict(
            (host, [entry.get("manifest_sha"), entry.get("identity_hash"), entry.get("reachable")])
            for host, entry in (report.get("hosts") or {}).items()
        ),
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            parity=dict(type="dict", required=True),
            facts=dict(type="dict", default={}),
            manifest=dict(type="dict", required=True),
            topology=dict(type="str", default="dedicated", choices=["dedicated", "distributed", "per_runner"]),
            before=dict(type="dict"),
            correlation_id=dict(type="str", required=True),
            sections=dict(type="dict", default={}),
            gate=dict(type="dict", default={}),
            select=dict(type="dict", default={}),
            generated_at=dict(type="str"),
            dest=dict(type="path", default="reports"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    generated_at = params["generated_at"] or utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
    if not isinstance(params["parity"].get("findings"), list) or not isinstance(params["parity"].get("hosts"), dict):
        module.fail_json(msg="parity: expected the result of macmesh.signing.mesh_parity (with 'findings' and 'hosts')")
    for option in ("gate", "select"):
        if params[option] and not HAS_JMESPATH:
            module.fail_json(msg=missing_required_lib("jmespath", reason="for the %s option" % option),
                             exception=JMESPATH_IMPORT_ERROR)
        try:
            check_queries(params[option], option)
        except QueryError as exc:
            module.fail_json(msg=str(exc))
    try:
        report = build_report(params["parity"], params["facts"], params["manifest"], params["topology"],
                              generated_at, params["correlation_id"], before=params["before"],
                              sections=params["sections"])
    except SectionNameError as exc:
        module.fail_json(msg="sections: %s" % exc)
    except (KeyError, TypeError, ValueError) as exc:
        module.fail_json(msg="parity/facts: cannot build the report: %s" % exc)
    try:
        selected, gates = apply_to_report(report, params["gate"], params["select"])
    except QueryError as exc:
        module.fail_json(msg=str(exc))
    dest = params["dest"]
    previous = None
    previous_path = os.path.join(dest, "compliance.json")
    if os.path.exists(previous_path):
        try:
            with open(previous_path) as handle:
                previous = json.load(handle)
        except ValueError:
            previous = None
    changed = _state(previous) != _state(report)
    files = [os.path.join(dest, name) for name, _render in RENDERERS]
    if not module.check_mode:
        try:
            if not os.path.isdir(dest):
                os.makedirs(dest)
            for (name, render), path in zip(RENDERERS, files):
                atomic_write(path, render(report))
        except OSError as exc:
            module.fail_json(msg="dest: cannot write the reports to %s: %s" % (dest, exc))
    result = dict(changed=changed, ok=report["ok"], counts=report["counts"], files=files, gates=gates, selected=selected)
    if any(gate["failed"] for gate in gates):
        module.fail_json(msg=gate_message(gates), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
