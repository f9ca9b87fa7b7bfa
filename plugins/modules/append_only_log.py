#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: append_only_log
short_description: Keep a log file that its writer can only append to (macOS system append-only flag)
version_added: 0.3.0
description:
  - Creates the file empty when it is missing, sets its owner, group and mode, and sets the system
    append-only flag with C(chflags sappnd). The owner can then append, but nobody can truncate, rewrite,
    rename or delete the file until root clears the flag.
  - Used for the unlock wrapper's audit log, which the CI user writes and must not be able to edit.
  - Whether the flag is set is read by opening the file for writing without C(O_APPEND), which an
    append-only file refuses with C(EPERM); nothing is written. The content is never changed.
  - An owner or mode to change on an append-only file clears the flag first (C(chflags nosappnd)), then sets it again.
  - The file's directory must exist; keep it root-owned (for example with M(ansible.builtin.file)),
    otherwise the owner could replace the file.
  - Must run as root (C(become=true)), because only root sets the system flag.
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
      - The diff shows owner, group, mode and the flag before and after.
options:
  path:
    description: Absolute path of the log file.
    type: path
    required: true
  owner:
    description: The user that writes the log.
    type: str
    required: true
  group:
    description: The file's group.
    type: str
    required: true
  mode:
    description:
      - The file's permissions, octal. Write access for the group or others is refused.
    type: str
    default: "0640"
seealso:
  - module: macmesh.signing.signing_info
    description: Its V(wrapper) part reads the wrapper log's state; the audit reports C(WRAPPER_LOG_UNSEALED).
"""

EXAMPLES = r"""
---
- name: Keep the unlock wrapper's audit log append-only for the CI user
  macmesh.signing.append_only_log:
    path: /Library/Logs/MacMesh/keychain-unlock.log
    owner: ci-build
    group: staff
  become: true
"""

RETURN = r"""
log:
  description:
    - The log's state after the task (what it would be, in check mode) - C(path), C(exists), C(type), C(owner),
      C(group), C(mode), C(append_only) and C(directory) (C(path), C(owner), C(mode)).
  returned: always
  type: dict
  sample:
    path: /Library/Logs/MacMesh/keychain-unlock.log
    exists: true
    type: file
    owner: ci-build
    group: staff
    mode: "0640"
    append_only: true
    directory: {path: /Library/Logs/MacMesh, owner: root, mode: "0755"}
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.macmesh.signing.plugins.module_utils._audit_log import AuditLogError, ensure

MODE_RE = re.compile(r"^0?[0-7]{3}$")
SHOWN = ("exists", "owner", "group", "mode", "append_only")


def _diff(path, state):
    return "".join("%s: %s\n" % (key, state.get(key)) for key in SHOWN)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            owner=dict(type="str", required=True),
            group=dict(type="str", required=True),
            mode=dict(type="str", default="0640"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]
    if not path or not os.path.isabs(path) or path.endswith("/"):
        module.fail_json(msg="path: %r is not an absolute file path." % path)
    if not MODE_RE.match(params["mode"] or ""):
        module.fail_json(msg="mode: %r is not an octal mode such as 0640." % params["mode"])
    mode = int(params["mode"], 8)
    if mode & 0o022:
        module.fail_json(msg="mode: %s lets the group or others write %s; an audit log is its owner's alone."
                         % (params["mode"], path))
    if os.geteuid() != 0:
        module.fail_json(msg="path: %s: only root sets the system append-only flag; run with become: true." % path)
    try:
        changed, before, after = ensure(path, params["owner"], params["group"], mode,
                                        lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}),
                                        check_mode=module.check_mode)
    except AuditLogError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=changed, log=after)
    if module._diff:
        result["diff"] = {"before": _diff(path, before), "after": _diff(path, after),
                          "before_header": path, "after_header": path}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
