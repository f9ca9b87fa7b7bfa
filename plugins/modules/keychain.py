#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: keychain
short_description: Create, configure, lock, unlock or delete a macOS file keychain
version_added: 0.1.0
description:
  - Manages one file keychain with C(/usr/bin/security) for the user the module runs as (use
    C(become_user) to act as the keychain's owner).
  - The password only reaches C(security) on its standard input (C(security -i)), never on a
    command line that other users could read with C(ps).
  - Settings are read with C(security show-keychain-info) first and only what differs is changed.
  - C(security) cannot read the settings of a locked keychain over SSH ("User interaction is not
    allowed."). When O(settings) is set and the keychain is locked, the module unlocks it with
    O(password), reads and changes the settings, and locks it again unless O(lock_state=unlocked).
author:
  - macmesh.signing maintainers (@macmesh)
extends_documentation_fragment:
  - macmesh.signing.attributes
  - macmesh.signing.attributes.darwin
attributes:
  check_mode:
    support: full
    details:
      - Check mode runs only reading commands. When the keychain is locked, its settings cannot be
        read without unlocking it, so check mode then reports O(settings) as a change and warns.
      - O(verify_password) is skipped in check mode.
  diff_mode:
    support: full
    details:
      - The diff shows whether the keychain exists, whether it is locked, and its lock settings.
options:
  path:
    description:
      - Absolute path of the keychain file, for example
        C(/Users/ci-build/Library/Keychains/ci-build.keychain-db).
      - When the path does not end in C(-db), a file named O(path) followed by C(-db) counts as
        the keychain too, because that is the file C(security create-keychain) writes.
      - It must not contain a double quote, a backslash or a control character.
    type: path
    required: true
  state:
    description:
      - V(present) creates the keychain when it does not exist, V(absent) deletes it with
        C(security delete-keychain).
    type: str
    choices: [present, absent]
    default: present
  password:
    description:
      - The keychain's password.
      - Needed to create the keychain, to unlock it, to read the settings of a locked keychain,
        and for O(verify_password).
      - Only letters, digits and the characters C(_.,:+=@%/-) are accepted (the regular expression
        C([A-Za-z0-9_.,:+=@%/-]+)), because the interactive reader of C(security) gives other
        characters special meanings. Generate the password from that alphabet.
    type: str
  settings:
    description:
      - The complete lock settings of the keychain, as C(security set-keychain-settings) sets them
        all at once. Leave unset to keep the settings as they are.
      - A new keychain locks on sleep and after 300 seconds, which breaks builds that run longer.
    type: dict
    suboptions:
      timeout:
        description:
          - Seconds of inactivity after which the keychain locks itself.
          - V(0) or no value means no timeout.
        type: int
      lock_on_sleep:
        description:
          - Whether the keychain locks when the Mac sleeps.
        type: bool
        default: false
  lock_state:
    description:
      - V(unlocked) unlocks the keychain with O(password), V(locked) locks it, V(unchanged) leaves
        it as it is (a keychain unlocked only to read its settings is locked again).
      - An unlock lasts for the security session that ran it; a CI agent in another session may
        still see the keychain locked, which is what the unlock wrapper is for.
    type: str
    choices: [unlocked, locked, unchanged]
    default: unchanged
  verify_password:
    description:
      - Check that O(password) opens an existing keychain.
      - C(security) accepts any password when asked to unlock a keychain that is already unlocked,
        so the keychain is locked and then unlocked with O(password). Builds that use the keychain
        at that moment may fail; a wrong password leaves the keychain locked.
    type: bool
    default: false
seealso:
  - module: macmesh.signing.keychain_search_list
notes:
  - Errors from C(security) are reported with a hint saying what to do.
"""

EXAMPLES = r"""
---
- name: Create the CI keychain without auto-lock and leave it unlocked
  macmesh.signing.keychain:
    path: /Users/ci-build/Library/Keychains/ci-build.keychain-db
    password: "{{ vault_ci_keychain_password }}"
    settings:
      timeout: 0
      lock_on_sleep: false
    lock_state: unlocked
  become: true
  become_user: ci-build

- name: Lock after an hour of inactivity, lock on sleep, and check the vaulted password
  macmesh.signing.keychain:
    path: /Users/ci-build/Library/Keychains/ci-build.keychain-db
    password: "{{ vault_ci_keychain_password }}"
    settings:
      timeout: 3600
      lock_on_sleep: true
    verify_password: true
  become: true
  become_user: ci-build

- name: Remove a keychain
  macmesh.signing.keychain:
    path: /Users/ci-build/Library/Keychains/old.keychain-db
    state: absent
  become: true
  become_user: ci-build
"""

RETURN = r"""
keychain:
  description:
    - The keychain path as given in O(path). (A result key named C(path) would make Ansible add
      file attributes of that path to the result.)
  returned: always
  type: str
  sample: /Users/ci-build/Library/Keychains/ci-build.keychain-db
exists:
  description: Whether the keychain exists after the task.
  returned: always
  type: bool
locked:
  description:
    - Whether the keychain is locked after the task.
    - V(null) when it does not exist.
  returned: always
  type: bool
settings:
  description:
    - The lock settings after the task.
    - V(null) when the keychain does not exist, or is locked and was not unlocked.
  returned: always
  type: dict
  contains:
    timeout:
      description: Seconds of inactivity before the keychain locks, V(null) for no timeout.
      type: int
      sample: 300
    lock_on_sleep:
      description: Whether the keychain locks when the Mac sleeps.
      type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule, _load_params
from ansible_collections.macmesh.signing.plugins.module_utils._inputs import guarded_module

from ansible_collections.macmesh.signing.plugins.module_utils._security import (
    InteractionNotAllowedError,
    KeychainExistsError,
    ParseError,
    SAFE_SECRET_ALPHABET,
    Secret,
    SecurityError,
    UnsafeTokenError,
    classify_error,
    is_safe_secret,
    module_runner,
    parse_keychain_info,
    quote_token,
)

# What a keychain made by create-keychain starts with (dotnet/corefx#20577, bats tests).
NEW_KEYCHAIN_SETTINGS = {"lock_on_sleep": True, "timeout": 300}


def keychain_exists(path):
    """Whether the keychain file is there; create-keychain <name> writes '<name>-db'."""
    return os.path.exists(path) or (not path.endswith("-db") and os.path.exists(path + "-db"))


def settings_args(settings):
    """Arguments of set-keychain-settings for the complete ``settings``.

    -u is passed with -t because older security versions keep the timeout off without it.
    """
    args = ["-l"] if settings["lock_on_sleep"] else []
    if settings["timeout"]:
        args += ["-u", "-t", str(settings["timeout"])]
    return args


def describe(exists, locked=None, settings=None):
    """The diff view of a keychain."""
    if not exists:
        return {"exists": False}
    return {
        "exists": True,
        "locked": locked,
        "lock_on_sleep": settings["lock_on_sleep"] if settings else None,
        "timeout": settings["timeout"] if settings else None,
    }


class Keychain(object):
    """One file keychain, driven through a SecurityRunner."""

    def __init__(self, module, runner):
        self.module = module
        self.runner = runner
        self.path = module.params["path"]
        self.password = module.params["password"]

    def _check(self, result):
        error = classify_error(*result)
        if error:
            raise error

    def _require_password(self, why):
        if not self.password:
            self.module.fail_json(msg="password is required %s keychain %s" % (why, self.path))

    def read(self):
        """(locked, settings): settings is None when the keychain is locked."""
        rc, out, err = self.runner.run("show-keychain-info", self.path)
        error = classify_error(rc, out, err)
        if isinstance(error, InteractionNotAllowedError):
            return True, None
        if error:
            raise error
        info = parse_keychain_info(err + "\n" + out)
        return False, {"lock_on_sleep": info["lock_on_sleep"], "timeout": info["timeout"]}

    def unlock(self):
        self._check(self.runner.batch([["unlock-keychain", "-p", Secret(self.password), self.path]]))

    def create(self):
        """Create the keychain; False when security says it already exists (exit 48)."""
        rc, out, err = self.runner.batch([["create-keychain", "-p", Secret(self.password), self.path]])
        error = classify_error(rc, out, err)
        if isinstance(error, KeychainExistsError):
            return False
        if error:
            raise error
        return True

    def absent(self):
        if not keychain_exists(self.path):
            return dict(changed=False, exists=False, locked=None, settings=None), describe(False), describe(False)
        if not self.module.check_mode:
            self._check(self.runner.run("delete-keychain", self.path))
        before = describe(True)
        return dict(changed=True, exists=False, locked=None, settings=None), before, describe(False)

    def present(self, desired, lock_state, verify_password):
        check_mode = self.module.check_mode
        created = False
        if not keychain_exists(self.path):
            self._require_password("to create")
            if check_mode:
                settings = desired or NEW_KEYCHAIN_SETTINGS
                locked = lock_state == "locked"
                result = dict(changed=True, exists=True, locked=locked, settings=settings)
                return result, describe(False), describe(True, locked, settings)
            created = self.create()

        locked, current = self.read()
        was_locked = locked
        want_locked = {"locked": True, "unlocked": False, "unchanged": was_locked}[lock_state]
        must_read_settings = desired is not None and current is None
        must_unlock = locked and (must_read_settings or not want_locked)
        if must_unlock:
            self._require_password("to unlock")
        if verify_password:
            self._require_password("for verify_password on")

        if check_mode:
            if must_read_settings:
                self.module.warn(
                    "keychain %s is locked, so check mode cannot read its settings and reports them "
                    "as changed" % self.path
                )
            settings = desired if desired is not None else current
            changed = (desired is not None and desired != current) or want_locked != was_locked
            result = dict(changed=changed, exists=True, locked=want_locked, settings=settings)
            return result, describe(True, was_locked, current), describe(True, want_locked, settings)

        if verify_password:
            # Unlocking an unlocked keychain succeeds with any password (rdar://3835412): lock first.
            lines = [] if locked else [["lock-keychain", self.path]]
            lines.append(["unlock-keychain", "-p", Secret(self.password), self.path])
            self._check(self.runner.batch(lines))
            locked = False
        elif must_unlock:
            self.unlock()
            locked = False
        if current is None and not locked:
            current = self.read()[1]

        settings = current
        if desired is not None and desired != current:
            self._check(self.runner.run("set-keychain-settings", *(settings_args(desired) + [self.path])))
            settings = self.read()[1]
            if settings != desired:
                self.module.fail_json(
                    msg="security set-keychain-settings did not apply the settings to %s: asked for %s, "
                    "show-keychain-info reports %s" % (self.path, desired, settings)
                )

        if want_locked and not locked:
            self._check(self.runner.run("lock-keychain", self.path))
            locked = True

        changed = created or settings != current or locked != was_locked
        before = describe(False) if created else describe(True, was_locked, current)
        result = dict(changed=changed, exists=True, locked=locked, settings=settings)
        return result, before, describe(True, locked, settings)


def validate(module):
    params = module.params
    path = params["path"]
    if not os.path.isabs(path):
        module.fail_json(msg="path must be absolute, got %r" % path)
    try:
        quote_token(path)
    except UnsafeTokenError as exc:
        module.fail_json(msg="path: %s" % exc)
    if params["password"] is not None and not is_safe_secret(params["password"]):
        module.fail_json(
            msg="password must be a non-empty text made only of [%s]; security -i would misread "
            "other characters, so generate the keychain password from that alphabet" % SAFE_SECRET_ALPHABET
        )
    settings = params["settings"]
    if settings is None:
        return None
    timeout = settings["timeout"]
    if timeout is not None and timeout < 0:
        module.fail_json(msg="settings.timeout must be 0 (no timeout) or a number of seconds, got %d" % timeout)
    return {"lock_on_sleep": bool(settings["lock_on_sleep"]), "timeout": timeout or None}


def main():
    module = guarded_module(
        AnsibleModule, _load_params,
        dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            password=dict(type="str", no_log=True),
            settings=dict(
                type="dict",
                options=dict(
                    timeout=dict(type="int"),
                    lock_on_sleep=dict(type="bool", default=False),
                ),
            ),
            lock_state=dict(type="str", choices=["unlocked", "locked", "unchanged"], default="unchanged"),
            verify_password=dict(type="bool", default=False, no_log=False),
        ),
        supports_check_mode=True,
    )
    desired = validate(module)
    keychain = Keychain(module, module_runner(module))
    try:
        if module.params["state"] == "absent":
            result, before, after = keychain.absent()
        else:
            result, before, after = keychain.present(
                desired, module.params["lock_state"], module.params["verify_password"]
            )
    except SecurityError as exc:
        module.fail_json(msg="keychain %s: %s" % (module.params["path"], exc.describe()))
    except ParseError as exc:
        module.fail_json(msg="keychain %s: unexpected output from security: %s" % (module.params["path"], exc))
    result["keychain"] = module.params["path"]
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
