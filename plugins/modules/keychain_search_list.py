#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: keychain_search_list
short_description: Keep keychains on (or off) a macOS keychain search list
version_added: 0.1.0
description:
  - Reads the keychain search list with C(security list-keychains -d <domain>) and changes it only
    when it differs from what is asked.
  - C(security list-keychains -s) replaces the whole list. With O(state=present) or
    O(state=absent) the module reads the list first and keeps every other entry, so the login
    keychain and keychains added by other tools stay where they are.
  - C(codesign --keychain) only filters the search list, so the signing keychain must be on it.
  - The search list belongs to the user the module runs as, so use C(become_user) to act for the
    CI user. C(become) with sudo sets C(HOME) to that user's home, which C(security) needs.
author:
  - macmesh.signing maintainers (@macmesh)
extends_documentation_fragment:
  - macmesh.signing.attributes
  - macmesh.signing.attributes.darwin
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the search list before and after, one keychain per line.
options:
  keychains:
    description:
      - Absolute paths of keychain files.
      - A listed entry C(<path>-db) counts as O(keychains) entry C(<path>), because that is the file
        C(security create-keychain <path>) writes.
    type: list
    elements: path
    required: true
  state:
    description:
      - V(present) adds the O(keychains) that are missing and keeps every other entry. Entries
        already on the list are not moved.
      - V(absent) removes the O(keychains) and keeps every other entry.
      - V(exact) makes the list exactly O(keychains), in that order.
      - Duplicate entries are removed in every state.
    type: str
    choices: [exact, present, absent]
    default: present
  position:
    description:
      - Where O(state=present) puts missing keychains. V(first) puts them at the start of the
        list, so they are searched first.
    type: str
    choices: [first, last]
    default: first
  domain:
    description:
      - Which preference domain's search list to manage. V(system) and V(common) need root.
    type: str
    choices: [user, system, common]
    default: user
seealso:
  - module: macmesh.signing.keychain
"""

EXAMPLES = r"""
---
- name: Put the CI keychain first on the CI user's search list
  macmesh.signing.keychain_search_list:
    keychains:
      - /Users/ci-build/Library/Keychains/ci-build.keychain-db
  become: true
  become_user: ci-build

- name: Search only the CI keychain and the login keychain
  macmesh.signing.keychain_search_list:
    keychains:
      - /Users/ci-build/Library/Keychains/ci-build.keychain-db
      - /Users/ci-build/Library/Keychains/login.keychain-db
    state: exact
  become: true
  become_user: ci-build
"""

RETURN = r"""
search_list:
  description: The search list after the task (what it would be, in check mode).
  returned: always
  type: list
  elements: str
  sample:
    - /Users/ci-build/Library/Keychains/ci-build.keychain-db
    - /Users/ci-build/Library/Keychains/login.keychain-db
domain:
  description: The preference domain that was managed.
  returned: always
  type: str
  sample: user
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.macmesh.signing.plugins.module_utils._security import (
    ParseError,
    SecurityError,
    classify_error,
    LockTimeoutError,
    lists_lock,
    module_runner,
    parse_keychain_list,
)


def same_keychain(listed, wanted):
    """A listed entry names the wanted keychain, also when security added '-db'."""
    return listed == wanted or (not wanted.endswith("-db") and listed == wanted + "-db")


def dedupe(paths):
    kept = []
    for path in paths:
        if not any(same_keychain(path, other) or same_keychain(other, path) for other in kept):
            kept.append(path)
    return kept


def same_list(listed, wanted):
    return len(listed) == len(wanted) and all(same_keychain(a, b) for a, b in zip(listed, wanted))


def plan(current, keychains, state, position):
    """The search list to set, given the ``current`` one."""
    keychains = dedupe(keychains)
    current = dedupe(current)
    if state == "exact":
        return keychains
    if state == "absent":
        return [path for path in current if not any(same_keychain(path, gone) for gone in keychains)]
    missing = [path for path in keychains if not any(same_keychain(listed, path) for listed in current)]
    return missing + current if position == "first" else current + missing


def as_text(paths):
    return "".join(path + "\n" for path in paths)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            keychains=dict(type="list", elements="path", required=True, no_log=False),
            state=dict(type="str", choices=["exact", "present", "absent"], default="present"),
            position=dict(type="str", choices=["first", "last"], default="first"),
            domain=dict(type="str", choices=["user", "system", "common"], default="user"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    domain = params["domain"]
    for index, path in enumerate(params["keychains"]):
        if not os.path.isabs(path):
            module.fail_json(msg="keychains[%d] must be an absolute path, got %r" % (index, path))

    runner = module_runner(module)

    def list_keychains(*extra):
        rc, out, err = runner.run("list-keychains", "-d", domain, *extra)
        error = classify_error(rc, out, err)
        if error:
            raise error
        return out

    try:
        # Read, plan and write under the user's lock: parallel jobs of one user would otherwise
        # each write their own read of the list and lose the others' entries (fastlane#15512).
        with lists_lock():
            current = parse_keychain_list(list_keychains())
            wanted = plan(current, params["keychains"], params["state"], params["position"])
            changed = not same_list(current, wanted)
            if changed and not module.check_mode:
                list_keychains("-s", *wanted)
                now = parse_keychain_list(list_keychains())
                if not same_list(now, wanted):
                    module.fail_json(
                        msg="security list-keychains -d %s -s did not take: asked for %s, the list is %s"
                        % (domain, wanted, now)
                    )
                wanted = now
    except LockTimeoutError as exc:
        module.fail_json(msg="keychain search list (%s): %s" % (domain, exc))
    except SecurityError as exc:
        module.fail_json(msg="keychain search list (%s): %s" % (domain, exc.describe()))
    except ParseError as exc:
        module.fail_json(msg="keychain search list (%s): unexpected output from security: %s" % (domain, exc))

    result = dict(changed=changed, search_list=wanted, domain=domain)
    if module._diff:
        result["diff"] = {"before": as_text(current), "after": as_text(wanted)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
