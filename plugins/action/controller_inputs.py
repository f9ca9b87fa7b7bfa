# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""macmesh.signing.controller_inputs: stop the run when the controller cannot read its inputs.

The result of an unreadable input is marked unreachable, not failed: ansible-playbook then exits 4
(the host failed code 2 is what a scheduler reads as "not compliant"), and a play whose only host is
localhost ends the whole playbook.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.macmesh.signing.plugins.module_utils._readable import check_inputs, stop_message

SPEC = {
    "inputs": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "name": {"type": "str", "required": True},
            "path": {"type": "str"},
            "kind": {"type": "str", "default": "file", "choices": ["file", "json", "dir"]},
        },
    },
    "error": {"type": "str"},
}


def input_result(problems):
    """The task result for these problems: ok, or a stop of the run (unreachable)."""
    if not problems:
        return {"changed": False, "problems": []}
    return {"changed": False, "unreachable": True, "problems": problems, "msg": stop_message(problems)}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(SPEC)

    def run(self, tmp=None, task_vars=None):
        super(ActionModule, self).run(tmp, task_vars)
        validation = ArgumentSpecValidator(SPEC).validate(dict(self._task.args))
        if validation.error_messages:
            raise AnsibleActionFail(validation.error_messages[0])
        args = validation.validated_parameters
        problems = check_inputs(args["inputs"])
        if args.get("error"):
            problems.append(args["error"])
        return input_result(problems)
