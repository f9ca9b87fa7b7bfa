# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""Task options checked before Ansible's own validation, so that a mistake never shows a secret.

Ansible's argument validation reports an unknown option (``identities[0].password`` instead of
``passphrase``) as "Unsupported parameters" and, at ``-vvv``, prints the invocation with that
option's value in clear: only options declared ``no_log`` are masked. An element of the wrong type
(a path string where a dict with ``path`` and ``passphrase`` is expected) gives a message that names
neither the option nor the element. ``guard_spec`` looks at the raw task options first and returns

- a spec in which every unknown option whose name looks like a secret (``pass``, ``secret``,
  ``token``, ``key``, ``pin``, ``cred``) is declared ``no_log``, so Ansible masks it everywhere,
  and list-of-dict options holding other elements accept them, so the module can refuse them itself;
- the values to mask besides (the secrets of the elements whose spec was relaxed);
- the problems, each naming the option path (``identities[1].password``) and what to write instead.

A module builds ``AnsibleModule`` from the returned spec, adds the values to ``no_log_values`` and
calls ``fail_json`` with the first problem. Standard library only (modules run on macOS's python3).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re

# Also the usual misspellings (pasword, passwd, pwd, pw) and the words around secrets.
SECRET_NAME_RE = re.compile(r"pa?s+w|p(or)?s?w(or)?d|pw|phrase|secret|token|key|pin|cred|auth|private", re.IGNORECASE)
_FILE_RE = re.compile(r"[^\x00-\x1f]+\.(p12|pfx|cer|crt|der|pem|mobileprovision|provisionprofile|json)\Z", re.IGNORECASE)


def looks_secret(name):
    """Whether an option called ``name`` probably holds a secret."""
    return bool(SECRET_NAME_RE.search(str(name)))


def _names(spec):
    names = set(spec)
    for option in spec.values():
        names.update(option.get("aliases") or ())
    return names


def _suggest(name, spec):
    close = difflib.get_close_matches(str(name), sorted(_names(spec)), n=1, cutoff=0.5)
    # A natural slip: password for the one secret option of the level.
    secret_options = sorted(key for key, option in spec.items() if option.get("no_log"))
    if not close and len(secret_options) == 1:
        close = secret_options
    return "; did you mean %s?" % close[0] if close else ""


def _secret_leaves(value, out):
    if isinstance(value, dict):
        for item in value.values():
            _secret_leaves(item, out)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _secret_leaves(item, out)
    elif value is not None and not isinstance(value, bool):
        text = str(value)
        if text:
            out.append(text)


def _walk(spec, params, where, problems, mask):
    """Return a copy of ``spec`` that lets ``params`` through to the module's own checks."""
    spec = dict(spec)
    if not isinstance(params, dict):
        return spec
    known = _names(spec)
    for key in sorted(params, key=str):
        if str(key).startswith("_ansible_") or key in known:
            continue
        if looks_secret(key):
            problems.append("%s%s: unknown option (its value is not shown)%s" % (where, key, _suggest(key, spec)))
            spec[key] = {"type": "raw", "no_log": True}
            _secret_leaves(params[key], mask)
    for key, option in list(spec.items()):
        suboptions = option.get("options")
        if not suboptions or key not in params or params[key] is None:
            continue
        value = params[key]
        if option.get("type", "str") == "list":
            if not isinstance(value, list):
                continue
            relaxed = False
            walked = suboptions
            for index, item in enumerate(value):
                label = "%s%s[%d]" % (where, key, index)
                if isinstance(item, dict):
                    walked = _walk(walked, item, label + ".", problems, mask)
                    continue
                relaxed = True
                shown = " %r" % item if isinstance(item, str) and _FILE_RE.match(item) else ""
                problems.append(
                    "%s: must be a dict with the keys %s, not the %s%s; write it as `- %s: ...`"
                    % (label, ", ".join(sorted(suboptions)), type(item).__name__, shown, _first_required(suboptions))
                )
            if relaxed:
                # The whole list reaches the module unchecked; its secret sub-values are masked by hand.
                for item in value:
                    if isinstance(item, dict):
                        for name, sub_value in item.items():
                            if looks_secret(name) or (suboptions.get(name) or {}).get("no_log"):
                                _secret_leaves(sub_value, mask)
                relaxed_option = dict((name, setting) for name, setting in option.items() if name != "options")
                relaxed_option["elements"] = "raw"
                spec[key] = relaxed_option
            elif walked is not suboptions:
                spec[key] = dict(option, options=walked)
        elif option.get("type") == "dict" and isinstance(value, dict):
            walked = _walk(suboptions, value, "%s%s." % (where, key), problems, mask)
            spec[key] = dict(option, options=walked)
    return spec


def _first_required(suboptions):
    required = sorted(name for name, option in suboptions.items() if option.get("required"))
    return required[0] if required else sorted(suboptions)[0]


def guard_spec(argument_spec, params):
    """Return ``(spec, mask, problems)`` for the raw task options ``params`` (see the module docstring)."""
    problems = []
    mask = []
    spec = _walk(argument_spec, params if isinstance(params, dict) else {}, "", problems, mask)
    return spec, sorted(set(mask)), problems


def guarded_module(module_class, load_params, argument_spec, **kwargs):
    """Build ``module_class(argument_spec=...)`` after :func:`guard_spec`; fail with the first problem.

    ``load_params`` is ``ansible.module_utils.basic._load_params`` (it caches what it read, so the
    module reads the same options again). When the options cannot be read here, Ansible's own
    validation runs unchanged.
    """
    try:
        params = load_params()
    except Exception:  # pylint: disable=broad-except
        params = {}
    spec, mask, problems = guard_spec(argument_spec, params)
    module = module_class(argument_spec=spec, **kwargs)
    module.no_log_values.update(mask)
    if problems:
        module.fail_json(msg=problems[0], problems=problems)
    return module
