# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Test equipment for tests/drills: kill -9 the controller at a task boundary.

Counts task starts (one per task, whatever the number of hosts; handlers and includes count too).
With DRILL_KILL_AT=N it kills the whole process group of ansible-playbook (the controller, its
workers and their ssh clients: what `kill -9` of a CI job does) when task N starts, after waiting
DRILL_KILL_DELAY seconds (0: at the boundary, before task N runs anywhere; more: inside task N).
DRILL_LOG gets one line per task start ("<index>\\t<task name>\\t<epoch>") and one per play start
("P\\t<play name>"), so the driver knows the boundaries without knowing the playbook's task names:
the drill survives any rewrite of the playbooks.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: drill_kill
type: aggregate
short_description: Kill the controller at task N (test equipment)
description: Counts task starts and SIGKILLs the process group at DRILL_KILL_AT.
"""

import os
import signal
import threading
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "drill_kill"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.count = 0
        self.kill_at = int(os.environ.get("DRILL_KILL_AT", "0") or 0)
        self.delay = float(os.environ.get("DRILL_KILL_DELAY", "0") or 0)
        self.log = os.environ.get("DRILL_LOG")
        # DRILL_KILL_PLAY=<play name>: DRILL_KILL_AT counts the task starts from that play's start
        # (its N-th task), for a point inside a play whose position in the run is not known beforehand.
        self.kill_play = os.environ.get("DRILL_KILL_PLAY") or None
        self.in_play = None

    def _write(self, *fields):
        """One tab-separated line in DRILL_LOG, on disk before the kill that may follow it."""
        if not self.log:
            return
        # Ansible swallows a callback's exception as a warning: a log that cannot be written must
        # not also stop the kill.
        try:
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write("\t".join(str(field).replace("\t", " ").replace("\n", " ") for field in fields) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            self._display.warning("drill_kill: cannot write %s: %s" % (self.log, exc))

    def _start(self, task):
        self.count += 1
        self._write(self.count, task.get_name(), "%.3f" % time.time())
        if self.in_play is not None:
            self.in_play += 1
        position = self.count if self.kill_play is None else self.in_play
        if self.kill_at and position == self.kill_at:
            if self.delay:
                # The callback runs before task N is queued: a timer lets the task start first.
                timer = threading.Timer(self.delay, os.killpg, (os.getpgrp(), signal.SIGKILL))
                timer.daemon = True
                timer.start()
            else:
                os.killpg(os.getpgrp(), signal.SIGKILL)

    def v2_playbook_on_play_start(self, play):
        if self.kill_play is not None and play.get_name() == self.kill_play and self.in_play is None:
            self.in_play = 0
        # "P<TAB><play name>" before the play's first task: the drills pick points per play (gate,
        # canary, batches, close) without depending on a task's name.
        self._write("P", play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task)
