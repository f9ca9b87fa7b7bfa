# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Test equipment for tests/catalogue: records, per catalogue case, which tasks failed and why.

A case is the block named ``CASE <id>`` (or, in an inventory run, the whole run, named by
CATALOGUE_CASE). Results go to the JSON file CATALOGUE_RECORD. A task whose action could change
a node (anything outside SAFE_ACTIONS) is recorded as an escape; in an inventory run
(CATALOGUE_GUARD=exit) the run is stopped right there.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: catalogue_record
type: aggregate
short_description: Record catalogue case results (test equipment)
description: Records failed tasks per catalogue case.
"""

import json
import os

from ansible.plugins.callback import CallbackBase

SAFE_ACTIONS = {
    "gather_facts", "setup", "assert", "fail", "set_fact", "debug", "include_tasks", "import_tasks", "include_role",
    "import_role", "meta", "validate_argument_spec", "include_vars", "secret_scan", "profile_manifest",
    "keychain_identity", "stat", "release", "slurp", "rotation",
}


def _case_of(task):
    node = task
    while node is not None:
        name = getattr(node, "name", None) or ""
        if name.startswith("CASE "):
            return name[5:]
        node = getattr(node, "_parent", None)
    return os.environ.get("CATALOGUE_CASE")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "catalogue_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.path = os.environ["CATALOGUE_RECORD"]
        self.cases = {}

    def _entry(self, task):
        case = _case_of(task)
        if case is None:
            return None
        return self.cases.setdefault(case, {"failures": [], "escaped": [], "tasks": 0})

    def _save(self):
        with open(self.path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(self.cases, handle, indent=1, sort_keys=True)
        os.replace(self.path + ".tmp", self.path)

    def v2_playbook_on_task_start(self, task, is_conditional):
        entry = self._entry(task)
        if entry is None:
            return
        entry["tasks"] += 1
        short = task.action.rsplit(".", 1)[-1]
        guard = os.environ.get("CATALOGUE_GUARD") == "exit"
        if short not in SAFE_ACTIONS or (guard and short in ("profile_manifest", "keychain_identity")):
            entry["escaped"].append("%s (%s)" % (task.get_name(), task.action))
            self._save()
            if guard:
                os._exit(97)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        entry = self._entry(result._task)
        if entry is not None:
            entry["failures"].append({"task": result._task.get_name(), "host": result._host.get_name(),
                                      "msg": str(result._result.get("msg", ""))})
            self._save()

    def v2_runner_on_unreachable(self, result):
        self.v2_runner_on_failed(result)

    def v2_playbook_on_stats(self, stats):
        self._save()
