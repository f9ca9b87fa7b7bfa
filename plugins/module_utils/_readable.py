# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller's own inputs of a playbook (manifest, policy files): readable or not, and why.

A playbook that cannot read what it compares against has audited nothing; that must not look like a
finding ("not compliant", exit 2). check_inputs() names every unreadable input; the action plugin
macmesh.signing.controller_inputs turns a non-empty answer into a stop of the run (exit 4).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

# ansible-playbook's exit status when the controller cannot read an input (the run stops before any
# node is touched). Ansible itself uses 4 for "unreachable" and "parser error": both also mean that
# nothing was audited. 2 stays "a host failed", i.e. for the converge: not compliant.
INPUT_ERROR_EXIT = 4


def read_input(path, kind="file"):
    """(content, None) for a readable input, (None, reason) otherwise.

    kind: ``file`` (readable bytes), ``json`` (a JSON object), ``dir`` (a readable directory).
    """
    if not isinstance(path, str) or not path.strip():
        return None, "no path (the variable naming it is empty or not set)"
    if kind == "dir":
        if not os.path.isdir(path):
            return None, "%s: %s" % (path, "not a directory" if os.path.exists(path) else "no such directory")
        if not os.access(path, os.R_OK | os.X_OK):
            return None, "%s: directory not readable" % path
        return path, None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None, "%s: no such file" % path
    except IsADirectoryError:
        return None, "%s: is a directory, not a file" % path
    except OSError as exc:
        return None, "%s: %s" % (path, exc.strerror or exc)
    if kind == "file":
        return data, None
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, "%s: not JSON (%s)" % (path, exc)
    if not isinstance(document, dict):
        return None, "%s: a JSON %s, expected an object" % (path, type(document).__name__)
    return document, None


def check_inputs(inputs):
    """Problems (one line each) for a list of {name, path, kind}; empty when every input reads."""
    problems = []
    for item in inputs:
        _content, reason = read_input(item.get("path"), item.get("kind") or "file")
        if reason is not None:
            problems.append("%s: %s" % (item.get("name") or "input", reason))
    return problems


def stop_message(problems, what="nothing was read from the nodes"):
    return "cannot read the controller's input (%s; exit %d): %s" % (what, INPUT_ERROR_EXIT, "; ".join(problems))
