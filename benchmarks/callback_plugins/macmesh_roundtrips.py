# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark callback (not shipped): counts per host the tasks executed and the round trips they cost.

Enabled only by benchmarks/fleet_bench.py (ANSIBLE_CALLBACK_PLUGINS + ANSIBLE_CALLBACKS_ENABLED); writes
JSON to $MACMESH_BENCH_TASKS at the end of the playbook:

    {"hosts": {"hk-mini-01": {"executed": 40, "skipped": 12, "remote": 31, "local": 9}}, "tasks": {...}}

executed: results that ran (ok, changed, failed, unreachable), one per loop item. remote: the
executed ones that reached the node, i.e. one module execution over SSH each (with pipelining one
round trip); local: actions that never leave the controller (set_fact, assert, debug, ... or
delegated to localhost). tasks: remote executions per task name, summed over hosts (where the
round trips go).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: macmesh_roundtrips
type: aggregate
short_description: count tasks executed and round trips per host (benchmarks only)
description: Writes per-host task counts to the file named by MACMESH_BENCH_TASKS.
"""

LOCAL_ACTIONS = frozenset(
    "ansible.builtin." + name for name in (
        "set_fact", "assert", "debug", "fail", "meta", "add_host", "group_by", "include_vars",
        "include_tasks", "import_tasks", "include_role", "import_role", "set_stats", "pause",
        "validate_argument_spec",
    )
) | frozenset(("set_fact", "assert", "debug", "fail", "meta", "add_host", "group_by", "include_vars",
               "include_tasks", "import_tasks", "include_role", "import_role", "set_stats", "pause",
               "validate_argument_spec"))
LOCAL_HOSTS = ("localhost", "127.0.0.1")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "macmesh_roundtrips"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.hosts = {}
        self.tasks = {}

    def _count(self, result, skipped=False):
        host = result._host.get_name()
        task = result._task
        entry = self.hosts.setdefault(host, {"executed": 0, "skipped": 0, "remote": 0, "local": 0})
        items = result._result.get("results") if isinstance(result._result, dict) else None
        if isinstance(items, list) and items:
            ran = sum(1 for item in items if not (isinstance(item, dict) and item.get("skipped")))
            entry["skipped"] += len(items) - ran
        else:
            ran = 0 if skipped else 1
            entry["skipped"] += 1 if skipped else 0
        if not ran:
            return
        entry["executed"] += ran
        delegate = task.delegate_to
        local = (task.action in LOCAL_ACTIONS or host in LOCAL_HOSTS
                 or (delegate is not None and str(delegate) in LOCAL_HOSTS)
                 or task.connection == "local")
        entry["local" if local else "remote"] += ran
        if not local:
            name = task.get_name()
            self.tasks[name] = self.tasks.get(name, 0) + ran

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_runner_on_unreachable(self, result):
        self._count(result)

    def v2_runner_on_skipped(self, result):
        self._count(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("MACMESH_BENCH_TASKS")
        if not path:
            return
        with open(path, "w") as handle:
            json.dump({"hosts": self.hosts, "tasks": self.tasks}, handle, indent=1, sort_keys=True)
