# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every crash drill shares: the kill callback's log, and the invariants read from a node."""

import json
import os

from labkit import KEYCHAIN, PROFILE_ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
# Where the product writes on a node, and where a secret or a p12 must never be left.
WRITTEN_JSON = "/Library/MacMesh"
SEARCHED = "/Users /Library/MacMesh /usr/local /tmp /private /var/tmp /root /etc"
SECRET_FILES_OK = (KEYCHAIN,)


def kill_env(log, kill_at=0, delay=0.0, play=None):
    """The environment that loads callback_plugins/drill_kill.py: log every start, kill at task kill_at.

    With play, kill_at counts from that play's start (its kill_at-th task).
    """
    return {
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "drill_kill",
        "DRILL_LOG": log,
        "DRILL_KILL_AT": str(kill_at),
        "DRILL_KILL_DELAY": str(delay),
        "DRILL_KILL_PLAY": play or "",
    }


def read_log(log):
    """The callback's log: ([[index, task name, start epoch], ...], [(index of the play's first task, play name), ...])."""
    tasks, plays = [], []
    if not os.path.exists(log):
        return tasks, plays
    with open(log, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "P":
                plays.append((len(tasks) + 1, fields[1]))
            else:
                tasks.append([fields[0], fields[1], float(fields[2])])
    return tasks, plays


def longest_task(tasks, low=0.3, high=0.7):
    """(index, seconds) of the task that ran longest between low and high of the run: where a kill
    "inside a task" lands inside it (a module running on the node), not at the next boundary."""
    candidates = []
    for position in range(max(0, int(len(tasks) * low)), min(len(tasks) - 1, int(len(tasks) * high))):
        candidates.append((tasks[position + 1][2] - tasks[position][2], position + 1))
    seconds, index = max(candidates)
    return index, seconds


def node_problems(lab, node, identities, secrets):
    """What must hold on a node after any crash and a converging re-run, read from the node itself.

    identities: the SHA-1s the release declares for this node (each must be valid in the keychain);
    secrets: the values no file outside the keychain may hold.
    """
    problems = []
    held = lab.sh(node, "security find-identity -v -p codesigning %s" % KEYCHAIN, check=False).stdout
    problems.extend("declared identity %s not valid in the keychain" % sha1 for sha1 in identities if sha1 not in held)
    # No p12 and no Ansible temp file left anywhere the product or Ansible writes.
    leftovers = lab.sh(node, "find %s \\( -name '*.p12' -o -name '*.pfx' -o -name 'AnsiballZ_*' -o -name '*.tmp' "
                             "-o -name '.*.staging' -o -name '.profile_manifest.*' \\) -print 2>/dev/null" % SEARCHED,
                       check=False).stdout.split()
    problems.extend("left on the node: %s" % path for path in leftovers)
    # No secret in any file outside the keychain: grep reads the secrets from stdin, never argv.
    found = lab.meshlab("exec", node, "--", "/bin/sh", "-c",
                        "grep -rlF -f /dev/stdin %s 2>/dev/null || true" % SEARCHED,
                        input="\n".join(value for value in secrets if value).encode(), check=False)
    hits = [path for path in found.stdout.decode(errors="replace").split() if path not in SECRET_FILES_OK]
    problems.extend("a secret is in %s" % path for path in hits)
    # Every JSON document the product wrote parses.
    for path in lab.sh(node, "find %s -name '*.json' -type f 2>/dev/null" % WRITTEN_JSON, check=False).stdout.split():
        text = lab.sh(node, "cat '%s'" % path, check=False).stdout
        try:
            json.loads(text)
        except ValueError:
            problems.append("half-written JSON: %s" % path)
    current = lab.readlink(node, "current")
    if not current or current.startswith("readlink"):
        problems.append("no active profile version (current link missing)")
    elif lab.sh(node, "test -d %s/%s" % (PROFILE_ROOT, current), check=False).returncode != 0:
        problems.append("current points at a missing version %s" % current)
    previous = lab.readlink(node, "previous")
    if previous and lab.sh(node, "test -d %s/%s" % (PROFILE_ROOT, previous), check=False).returncode != 0:
        problems.append("previous points at a missing version %s" % previous)
    return problems
