# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Crash drills on the lab: kill -9 the controller, or reboot the node, at task boundaries.

Generic on purpose: a point is a task-boundary index counted by callback_plugins/drill_kill.py,
never a task name, and every invariant is read from the node itself, so the drills survive any
rewrite of the playbooks. For each point the drilled node starts fresh (``meshlab reset``: a Mac
mini out of the box), the bootstrap is killed at task N, then a plain re-run must converge and:

- every identity the inventory declares is valid in the signing keychain, and the keychain
  unlocks (the re-run's verify signs with it through the wrapper);
- no p12, no secret and no Ansible temp file is left on the node outside the keychain;
- every JSON file the product wrote parses (no half-written file), and no ``.tmp``/staging
  leftover remains.

DRILL_POINTS=all (``make drills``) tries every task boundary; otherwise two points, one kill inside
a task and one reboot (``make drills-sample``; ``make test``'s DRILL_SAMPLE=quick: one point, one kill
inside a task, one reboot). DRILL_POINTS=3,17,40 picks points by hand.
"""

import os
import signal
import subprocess
import time

import pytest

from conftest import DRILL_STATS, QUICK
from drillkit import kill_env, longest_task, node_problems, read_log

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = os.environ.get("DRILL_NODE", "hk-mini-01")
SAMPLE = 2
# The counting run's task starts (index, name, epoch), for the kill inside a task.
COUNTED = {}


def _env(lab, log, kill_at=0, delay=0.0):
    return dict(lab.env, **kill_env(log, kill_at, delay))


def _bootstrap(lab, log, kill_at=0, delay=0.0, timeout=900):
    argv = lab.playbook_argv("--limit", NODE)
    proc = subprocess.Popen(argv, env=_env(lab, log, kill_at, delay), cwd=os.path.dirname(os.path.dirname(HERE)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                            start_new_session=True)
    try:
        out, _err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _err = proc.communicate()
        raise AssertionError("bootstrap did not end within %d s:\n%s" % (timeout, out[-3000:]))
    lab.assert_no_secret(out, "drill bootstrap output")
    return proc.returncode, out


def _tasks(log):
    return read_log(log)[0]


@pytest.fixture(scope="module")
def boundaries(bootstrapped, tmp_path_factory):
    """From the converged mesh (the session's snapshot), count the task boundaries of provisioning NODE
    from scratch.

    DRILL_TASKS=<n> (a count from an earlier run) skips the counting run, to drill one point quickly
    while working on a drill.
    """
    if os.environ.get("DRILL_TASKS"):
        return int(os.environ["DRILL_TASKS"])
    lab = bootstrapped
    lab.meshlab("reset", NODE)
    log = str(tmp_path_factory.mktemp("drill") / "count.log")
    rc, out = _bootstrap(lab, log)
    assert rc == 0, out[-4000:]
    COUNTED["tasks"] = _tasks(log)
    return len(COUNTED["tasks"])


def _points(total):
    wanted = os.environ.get("DRILL_POINTS", "")
    if wanted == "all":
        return list(range(1, total + 1))
    if wanted:
        return [int(value) for value in wanted.split(",") if 0 < int(value) <= total]
    # A spread: one in the first half (user, keychain, identity import), one in the second
    # (profiles, search list, verify); make test's quick sample, the middle. make drills tries them all.
    fractions = (0.5,) if QUICK else (0.3, 0.7)
    return sorted(set(max(1, round(total * fraction)) for fraction in fractions))[:SAMPLE]


def check_invariants(lab, node):
    """What must hold on the node after any crash and a converging re-run (read from the node)."""
    return node_problems(lab, node, [lab.demo["identity_sha1"]], lab.secrets())


def _drill(lab, tmp_path, label, kill_at, delay=0.0, reboot=False):
    DRILL_STATS["tried"].append(label)
    lab.meshlab("reset", NODE)
    # A label holds "/" (point/total): not in a file name, or the callback cannot write its log.
    log = str(tmp_path / ("%s.log" % label.replace("/", "-of-")))
    if reboot:
        # The node reboots while the bootstrap runs: the controller sees the node vanish mid-task.
        env = _env(lab, log)
        proc = subprocess.Popen(lab.playbook_argv("--limit", NODE), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 600
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(log) and len(_tasks(log)) >= kill_at:
                break
            time.sleep(0.2)
        lab.meshlab("reboot", NODE)
        try:
            proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("%s: the run hung after the node rebooted" % label)
    else:
        rc, out = _bootstrap(lab, log, kill_at=kill_at, delay=delay)
        assert rc == -signal.SIGKILL or rc != 0, "%s: the run was not killed (rc %s, %d task starts):\n%s" % (
            label, rc, len(_tasks(log)), out[-2000:])
        landed = len(_tasks(log))
        # At a boundary the kill comes exactly when task N starts. A kill `delay` seconds into task N lands
        # inside it, or, when the task ran quicker this time than on the counting run, in a later one:
        # either way a module may be running on the node, which is what the drill is for.
        assert landed == kill_at or (delay and landed > kill_at), "%s: killed at task %d, not %d" % (
            label, landed, kill_at)
        if landed != kill_at:
            DRILL_STATS["tried"][-1] = DRILL_STATS["tried"][-1] + " (landed in task %d)" % landed
    rc, out = _bootstrap(lab, log + ".rerun")
    assert rc == 0, "%s: the plain re-run did not converge:\n%s" % (label, out[-4000:])
    assert "verify=ok" in out, "%s: the re-run's verify did not sign:\n%s" % (label, out[-3000:])
    problems = check_invariants(lab, NODE)
    assert not problems, "%s: %s" % (label, problems)
    DRILL_STATS["survived"].append(label)


def test_kill_at_task_boundaries_of_bootstrap(lab, boundaries, tmp_path):
    failures = []
    for point in _points(boundaries):
        try:
            _drill(lab, tmp_path, "bootstrap-kill@%d/%d" % (point, boundaries), point)
        except AssertionError as exc:
            failures.append(str(exc)[:2000])
    assert not failures, "\n\n".join(failures)


def test_kill_inside_a_task_of_bootstrap(lab, boundaries, tmp_path):
    """A third into the longest task of the run's middle (timed on the counting run), so a module is
    likely running on the node when the controller dies (a quicker run lands in a later task, which the
    label then names). With DRILL_TASKS (no counting run): 0.5 s into a sampled point."""
    if COUNTED.get("tasks"):
        point, seconds = longest_task(COUNTED["tasks"])
        delay = max(0.2, seconds / 3)
    else:
        points = _points(boundaries)
        point, delay = points[len(points) // 2], 0.5
    _drill(lab, tmp_path, "bootstrap-kill-inside@%d/%d+%.1fs" % (point, boundaries, delay), point, delay=delay)


def test_node_reboot_during_bootstrap(lab, boundaries, tmp_path):
    points = _points(boundaries)
    point = points[min(1, len(points) - 1)]
    _drill(lab, tmp_path, "bootstrap-reboot@%d/%d" % (point, boundaries), point, reboot=True)
