# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Crash drills of the rotation, the revocation and the retire: kill -9 the controller, run again.

One full rotation is counted first (callback_plugins/drill_kill.py logs every task and play start).
Then, for each point, fresh material is issued, the rotation is started and the controller is killed
when task N starts; the same command is run again and must complete: the release promoted, every node
on its profile version with the superseded one kept for rollback, every signer holding both identities
and signing with the new one through an unlock (the keychain is not left unusable), and nothing left
on a node (drillkit.node_problems: no p12, temp file, staging directory, secret or half-written JSON).

The points are picked per play, never by task name: the middle task of the canary play (its switch),
of the batches, and the first task of the closing play (the promotion; make test's quick sample: the
canary's switch only, and no retire); DRILL_POINTS=all (make drills)
tries the first and the middle task of every play and a kill inside the gate (while it stages). The revocation
of the superseded identity is killed right after it deleted the keychains, the retire inside the
canary; each is then run again.
"""

import os

import pytest

from conftest import DRILL_STATS, QUICK
from drillkit import kill_env, node_problems, read_log
from labkit import HOSTS, SIGNERS
from rotationkit import GATE, REVOKE, Drill, issue

# Each point rotates onto fresh material; a rotation's serial of 2 gives the batches play two batches.
SERIAL = 2
SAMPLE_PLAYS = (("Canary region", "middle"), ("Other regions, in batches", "middle"), ("Close the rotation", "first"))
# The revocation's node play: 1 note, 2 end_host of an unreachable node, 3 delete the keychain, 4 the
# release's declaration: killed when task 4 starts, every signer has lost its keychain and not yet
# got the new one. The retire: half-way through the canary's node tasks.
REVOKE_KILL_AT = 4
RETIRE_KILL_AT = 16


class Mesh(object):
    """The drills' view of the lab: the material each node should run, and every secret issued."""

    def __init__(self, lab):
        self.drill = Drill(lab, verbose="")
        self.lab = lab
        self.current = None
        self.previous_sha1 = lab.demo["identity_sha1"]
        self.previous_sha256 = lab.demo["manifest_sha256"]
        self.count = 0

    def secrets(self):
        return self.drill.secrets

    def material(self):
        self.count += 1
        material = issue(self.lab, "crash-%d" % self.count, "demo-crash-%d" % self.count)
        self.drill.secrets.append(material["passphrase"])
        return material

    def rotate(self, material, log, kill_at=0, delay=0.0):
        return self.drill.rotate(material, env=kill_env(log, kill_at, delay), rotate_serial=SERIAL)

    def promoted(self, material):
        """After a completed rotation onto material: the superseded one is what rollback keeps."""
        if self.current is not None:
            self.previous_sha1, self.previous_sha256 = self.current["sha1"], self.current["sha256"]
        self.current = material

    def problems(self, material, identities, previous):
        """Every node on material's profile version, ``previous`` the link kept for rollback ("" none, None
        not checked), the signers holding ``identities`` and signing with material's after an unlock, and
        nothing left behind (drillkit.node_problems)."""
        problems = []
        for host in HOSTS:
            current = self.lab.readlink(host, "current")
            if current != material["sha256"]:
                problems.append("%s: current is %s, not the release's %s" % (host, current, material["sha256"]))
            kept = self.lab.readlink(host, "previous")
            if previous is not None and kept != previous:
                problems.append("%s: previous is %r, expected %r" % (host, kept, previous))
            problems.extend("%s: %s" % (host, problem) for problem in node_problems(
                self.lab, host, identities if host in SIGNERS else [], self.secrets()))
        for host in SIGNERS:
            if self.drill.sign(host, material["sha1"]) != 0:
                problems.append("%s: cannot sign with %s after an unlock" % (host, material["sha1"]))
        return problems

    def rotated(self, material):
        """After a rotation onto material: both identities held, the superseded version kept."""
        return self.problems(material, [material["sha1"], self.previous_sha1], self.previous_sha256)


@pytest.fixture(scope="module")
def mesh(bootstrapped, tmp_path_factory):
    """A converged mesh (the session's snapshot), rotated once with every task and play start logged: the
    points to kill at."""
    mesh = Mesh(bootstrapped)
    material = mesh.material()
    log = str(tmp_path_factory.mktemp("rotation") / "count.log")
    run = mesh.rotate(material, log)
    assert run.rc == 0 and run.report["status"] == "complete", run
    mesh.promoted(material)
    mesh.tasks, mesh.plays = read_log(log)
    assert not mesh.rotated(material)
    return mesh


def _span(mesh, play):
    """The task indices of a play: from its first task to the task before the next play's first."""
    starts = [index for index, _name in mesh.plays]
    for position, (first, name) in enumerate(mesh.plays):
        if name == play:
            end = starts[position + 1] - 1 if position + 1 < len(starts) else len(mesh.tasks)
            return first, end
    raise AssertionError("no play %r in the rotation's log: %s" % (play, mesh.plays))


def _points(mesh):
    """(task index, delay) to kill at. The sample: SAMPLE_PLAYS. DRILL_POINTS=all: the first and the
    middle task of every play, and a kill 0.3 s inside the gate's task (while it stages the release)."""
    if os.environ.get("DRILL_POINTS") == "all":
        points = set()
        for _first, play in mesh.plays:
            first, end = _span(mesh, play)
            points.update([(first, 0.0), ((first + end) // 2, 0.0)])
        return [(_span(mesh, "Gate the rotation")[0], 0.3)] + sorted(points)
    points = []
    for play, where in SAMPLE_PLAYS[:1] if QUICK else SAMPLE_PLAYS:
        first, end = _span(mesh, play)
        points.append(((first + end) // 2 if where == "middle" else first, 0.0))
    return points


def test_kill_at_points_of_the_rotation(mesh, tmp_path):
    failures = []
    for kill_at, delay in _points(mesh):
        label = "rotate-kill@%d/%d%s" % (kill_at, len(mesh.tasks), "+%.1fs" % delay if delay else "")
        DRILL_STATS["tried"].append(label)
        material = mesh.material()
        log = str(tmp_path / ("%d.log" % kill_at))
        killed = mesh.rotate(material, log, kill_at=kill_at, delay=delay)
        tasks = read_log(log)[0]
        if killed.rc == 0 or len(tasks) != kill_at:
            failures.append("%s: not killed there (rc %s, %d task starts)" % (label, killed.rc, len(tasks)))
            continue
        run = mesh.rotate(material, log + ".rerun")
        if run.rc != 0 or (run.report or {}).get("status") != "complete":
            failures.append("%s: the plain re-run did not complete (rc %s):\n%s" % (label, run.rc, run.out[-3000:]))
            continue
        if mesh.drill.current_release() != material["version"]:
            failures.append("%s: release %s is not current after the re-run" % (label, material["version"]))
        mesh.promoted(material)
        problems = mesh.rotated(material)
        if problems:
            failures.append("%s: %s" % (label, problems))
            continue
        DRILL_STATS["survived"].append(label)
    assert not failures, "\n\n".join(failures)


def _killed_in_play(label, run, log, play, kill_at):
    """Run killed at the kill_at-th task of play: assert it was, then count the point as tried."""
    DRILL_STATS["tried"].append(label)
    tasks, plays = read_log(log)
    starts = [index for index, name in plays if name == play]
    assert run.rc != 0 and starts and len(tasks) == starts[0] + kill_at - 1, (label, run.rc, plays, len(tasks))


def test_kill_a_revocation_after_the_keychains_were_deleted(mesh, tmp_path):
    """The superseded identity leaks during the overlap. The revocation deletes each signer's keychain
    before it recreates it from the release: the kill comes right after the delete, on every node."""
    leaked = mesh.previous_sha1
    extra = dict(GATE, revoke_sha1s=[leaked], revoke_identities=mesh.current["identities"],
                 revoke_account_password=True)
    play, kill_at = "Revoke on every node", REVOKE_KILL_AT
    label = "revoke-kill@%s+%d" % (play, kill_at)
    log = str(tmp_path / "revoke.log")
    killed = mesh.drill.play(REVOKE, extra, env=kill_env(log, kill_at, play=play))
    _killed_in_play(label, killed, log, play, kill_at)
    run = mesh.drill.play(REVOKE, extra)
    assert run.rc == 0 and "REVOKE COMPLETE" in run.out, (label, run)
    # The profile versions are not the revocation's: current stays, previous is not checked.
    problems = mesh.problems(mesh.current, [mesh.current["sha1"]], previous=None)
    problems.extend("%s still holds the revoked %s" % (host, leaked) for host in HOSTS
                    if leaked in mesh.drill.identities(host))
    assert not problems, (label, problems)
    DRILL_STATS["survived"].append(label)


@pytest.mark.skipif(QUICK, reason="make drills-sample and make drills only (make test's quick sample)")
def test_kill_a_retire_inside_the_canary(mesh, tmp_path):
    material = mesh.current
    play, kill_at = "Canary region", RETIRE_KILL_AT
    label = "retire-kill@%s+%d" % (play, kill_at)
    log = str(tmp_path / "retire.log")
    killed = mesh.drill.rotate(material, env=kill_env(log, kill_at, play=play), rotate_phase="retire")
    _killed_in_play(label, killed, log, play, kill_at)
    run = mesh.drill.rotate(material, rotate_phase="retire")
    assert run.rc == 0 and run.report["status"] == "complete", (label, run)
    problems = mesh.problems(material, [material["sha1"]], previous="")
    assert not problems, (label, problems)
    DRILL_STATS["survived"].append(label)
