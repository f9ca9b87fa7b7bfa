# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The compliance_query filter: results pass through, errors name the filter, it resolves by FQCN."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.filter import compliance_query
from ansible_collections.macmesh.signing.plugins.module_utils import _report
from ansible_collections.macmesh.signing.tests.unit.plugins.module_utils.test_report_fleet import build

SECRET_HOSTS = "hosts.* | [?checks.secrets == 'error'].host"


def test_selects_from_the_document_or_its_json_text():
    report = build()
    assert compliance_query.compliance_query(report, SECRET_HOSTS) == ["hk-mini-004"]
    assert compliance_query.compliance_query(_report.render_json(report), SECRET_HOSTS) == ["hk-mini-004"]
    assert "compliance_query" in compliance_query.FilterModule().filters()


@pytest.mark.parametrize("expression, message", [
    ("findings[?", "expression: invalid JMESPath expression"),
    ("nope(@)", "expression: JMESPath expression 'nope(@)' failed"),
    ("", "expression: must be a non-empty JMESPath expression"),
])
def test_errors_name_the_filter(expression, message):
    with pytest.raises(AnsibleFilterError, match=r"^macmesh\.signing\.compliance_query: %s" % message.replace("(", r"\(").replace(")", r"\)")):
        compliance_query.compliance_query(build(), expression)


def test_a_playbook_gate_with_the_filter(tmp_path):
    """The documented assert: passes when nothing is selected, fails the task when something is."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    os.makedirs(str(tmp_path / "ansible_collections" / "macmesh"))
    os.symlink(root, str(tmp_path / "ansible_collections" / "macmesh" / "signing"))
    os.makedirs(str(tmp_path / "reports"))
    (tmp_path / "reports" / "compliance.json").write_text(_report.render_json(build()))
    playbook = tmp_path / "gate.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_HOME=str(tmp_path / "home"))
    env.pop("ANSIBLE_CONFIG", None)
    # The Python running the tests (which has jmespath), not whatever ansible-playbook's shebang names.
    command = [sys.executable, "-m", "ansible.cli.playbook", "-i", "localhost,", "-c", "local", str(playbook)]

    run = subprocess.run(command, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout
    line = [text for text in run.stdout.splitlines() if '"msg": "RESULT ' in text][0]
    result = json.loads(json.loads("{%s}" % line.strip())["msg"][len("RESULT "):])
    assert result == {"sg_failed": False, "hk_us_failed": True, "msg": "selected: ['hk-mini-004', 'us-mini-009']",
                      "expiring": ["hk-mini-001", "jp-mini-001", "kr-mini-001", "sg-mini-001", "us-mini-001"]}


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the report
      ansible.builtin.set_fact:
        compliance: "{{ lookup('ansible.builtin.file', 'reports/compliance.json') | ansible.builtin.from_json }}"
    - name: Gate on sg (nothing selected)
      ansible.builtin.assert:
        that: compliance | macmesh.signing.compliance_query(query) | length == 0
        fail_msg: "selected: {{ compliance | macmesh.signing.compliance_query(query) }}"
      vars:
        query: "findings[?region == 'sg' && severity == 'error']"
      register: sg
      ignore_errors: true
    - name: Gate on hk and us (two errors)
      ansible.builtin.assert:
        that: compliance | macmesh.signing.compliance_query(query) | length == 0
        fail_msg: "selected: {{ compliance | macmesh.signing.compliance_query(query) }}"
      vars:
        query: "findings[?severity == 'error' && contains(['hk', 'us'], region)].host"
      register: hk_us
      ignore_errors: true
    - name: Print what the unit test checks
      ansible.builtin.debug:
        msg: "RESULT {{ {'sg_failed': sg is failed, 'hk_us_failed': hk_us is failed, 'msg': hk_us.msg,
          'expiring': compliance | macmesh.signing.compliance_query(expiring)} | to_json }}"
      vars:
        expiring: "hosts.* | [?contains(findings[].code, 'CERT_EXPIRING')].host"
"""
