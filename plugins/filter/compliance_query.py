# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The compliance_query filter: a JMESPath expression over the compliance document."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: compliance_query
short_description: Select findings and hosts from the compliance document with JMESPath
version_added: 0.1.0
author:
  - macmesh.signing maintainers (@macmesh)
description:
  - Evaluates a JMESPath expression over the C(compliance.json) document that
    M(macmesh.signing.compliance_report) writes, and returns the result.
  - For a pipeline decision in a playbook (C(ansible.builtin.assert), C(ansible.builtin.fail)) or a
    notification. The same expressions work in the O(macmesh.signing.compliance_report#module:gate) and
    O(macmesh.signing.compliance_report#module:select) options.
  - The document's layout (C(findings), C(hosts.<name>.findings), C(regions.<name>.failing), ...) is in
    the collection's docs/compliance.md.
  - An invalid expression, or one that fails on the data (an unknown function, a wrong argument type), is
    an error naming the filter and the expression.
requirements:
  - jmespath (on the controller)
options:
  _input:
    description:
      - The compliance document, parsed (for example C(lookup('ansible.builtin.file', 'reports/compliance.json')
        | ansible.builtin.from_json)), or its JSON text.
    type: raw
    required: true
  expression:
    description: The JMESPath expression.
    type: str
    required: true
seealso:
  - module: macmesh.signing.compliance_report
"""

EXAMPLES = r"""
---
- name: Read the last report
  ansible.builtin.set_fact:
    compliance: "{{ lookup('ansible.builtin.file', 'reports/compliance.json') | ansible.builtin.from_json }}"

- name: Fail the pipeline when an error finding stands in hk or us
  ansible.builtin.assert:
    that: compliance | macmesh.signing.compliance_query(query) | length == 0
    fail_msg: "errors in hk or us: {{ compliance | macmesh.signing.compliance_query(query) }}"
  vars:
    query: "findings[?severity == 'error' && contains(['hk', 'us'], region)].[host, code]"

- name: Hosts with a certificate to renew
  ansible.builtin.debug:
    msg: "{{ compliance | macmesh.signing.compliance_query(\"hosts.* | [?contains(findings[].code, 'CERT_EXPIRING')].host\") }}"

- name: Hosts whose secret scan found something
  ansible.builtin.debug:
    msg: "{{ compliance | macmesh.signing.compliance_query(\"hosts.* | [?checks.secrets == 'error'].host\") }}"
"""

RETURN = r"""
_value:
  description: The result of the expression (a list, object, string, number, boolean or null).
  type: raw
  sample: [hk-mini-03, us-mini-07]
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.macmesh.signing.plugins.module_utils._compliance_query import QueryError, plain, search


def compliance_query(document, expression):
    """The result of the JMESPath ``expression`` over the compliance ``document``."""
    try:
        return search("expression", expression, plain(document))
    except QueryError as exc:
        raise AnsibleFilterError("macmesh.signing.compliance_query: %s" % exc)


class FilterModule(object):
    """JMESPath over the compliance document."""

    def filters(self):
        return {"compliance_query": compliance_query}
