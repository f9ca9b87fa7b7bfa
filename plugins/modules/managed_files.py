#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: managed_files
short_description: A role's directories and files, with exact content, owner, group and mode, in one call
version_added: 0.4.0
description:
  - Brings a set of directories and files to their state in one module run, where a role would spend a
    M(ansible.builtin.file) or M(ansible.builtin.copy) task, one or two round trips, per path. Every path is
    checked on every run (content by sha256, owner, group, mode); nothing is skipped.
  - Directories first, in the order given, then files. A file's directory must be listed or exist.
  - A changed file is written to a temporary file in its directory, flushed to disk, given its owner and
    mode and renamed over the path, so a reader sees the old or the new file, never half of one. A symlink
    at a file's path is replaced, never followed. Temporary files of an earlier, killed run are removed.
  - Every item is checked before anything is written; one bad item changes nothing.
  - The contents never appear in the output, the diff or the invocation shown at C(-vvv) (a size and
    sha256 instead). Not for secrets all the same; those have modules of their own.
  - An action plugin reads O(files[].src) on the controller (searched like C(ansible.builtin.copy) searches
    C(src), including a role's C(files/) directory) and sends the bytes.
author:
  - macmesh.signing maintainers (@macmesh)
extends_documentation_fragment:
  - macmesh.signing.attributes
  - macmesh.signing.attributes.darwin
attributes:
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - One line per changed path before and after (type, owner, group, mode, sha256), never the content.
options:
  owner:
    description: Owner of every item that sets none.
    type: str
  group:
    description: Group of every item that sets none.
    type: str
  mode:
    description: Mode (octal, quoted) of every file that sets none.
    type: str
    default: "0644"
  directory_mode:
    description: Mode (octal, quoted) of every directory that sets none.
    type: str
    default: "0755"
  dest:
    description:
      - Directory of the files whose O(files[].path) is a bare name (no C(/)); a file with O(files[].src) and
        no O(files[].path) is V(<dest>/<basename of src>).
    type: path
  directories:
    description: Directories, created when missing (their parent must be listed before them or exist).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute, normalised path.
        type: path
        required: true
      owner:
        description: Owner; default O(owner).
        type: str
      group:
        description: Group; default O(group).
        type: str
      mode:
        description: Mode, octal; default O(directory_mode).
        type: str
  files:
    description: Files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description:
          - Absolute, normalised path, or a bare file name in O(dest).
          - Required, except with O(files[].src) and O(dest).
        type: path
      state:
        description:
          - V(file) - a regular file with exactly the content of O(files[].content) or O(files[].src).
          - V(present) - a regular file whose content is not managed (a log), created empty when missing.
          - V(absent) - no file (a file or symlink is removed, a directory refused).
        type: str
        choices: [file, present, absent]
        default: file
      content:
        description: The file's content as text (UTF-8). Exactly one of O(files[].content) and O(files[].src) with V(file).
        type: str
      src:
        description: A file on the controller whose bytes are the content; read by the action plugin.
        type: path
      content_b64:
        description: Internal, set by the action plugin from O(files[].src). Setting it in a task is an error.
        type: str
      owner:
        description: Owner; default O(owner).
        type: str
      group:
        description: Group; default O(group).
        type: str
      mode:
        description: Mode, octal; default O(mode).
        type: str
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
---
- name: Install the CA certificates shipped with the role
  macmesh.signing.managed_files:
    owner: root
    group: wheel
    dest: /Library/MacMesh/intermediates
    directories:
      - path: /Library/MacMesh/intermediates
    files:
      - src: AppleWWDRCAG3.cer
        # path: the bare name of src, in dest
      - path: /Library/MacMesh/intermediates/README
        content: "Managed by macmesh.signing\n"
        mode: "0444"
      - path: /Library/Logs/MacMesh/agent.log
        state: present
        owner: ci-build
        mode: "0640"
  become: true
  register: installed

- name: Use what changed
  ansible.builtin.debug:
    msg: "{{ installed.changed_paths }}"
"""

RETURN = r"""
changed_paths:
  description: The paths changed (in check mode, those that would change), in the order handled.
  returned: always
  type: list
  elements: str
  sample: [/Library/MacMesh/intermediates/AppleWWDRCAG3.cer]
paths:
  description:
    - Every path's state after the task (in check mode, the asked state of those that would change) -
      C(type) (V(file), V(directory), or null when absent), C(owner), C(group), C(mode) and, for a file
      with managed content, C(sha256).
  returned: always
  type: dict
  sample:
    /Library/MacMesh/intermediates: {type: directory, owner: root, group: wheel, mode: "0755"}
    /Library/MacMesh/intermediates/AppleWWDRCAG3.cer:
      {type: file, owner: root, group: wheel, mode: "0644", sha256: "bfe8...a1c2"}
"""

import hashlib

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.macmesh.signing.plugins.module_utils._managed_files import (
    ManagedFilesError, diff, ensure, normalise,
)

ITEM_COMMON = dict(
    path=dict(type="path", required=True),
    owner=dict(type="str"),
    group=dict(type="str"),
    mode=dict(type="str"),
)


def _shown(params):
    """The options as the invocation shows them: each content as its size and sha256."""
    shown = dict(params)
    files = []
    for item in params.get("files") or []:
        item = dict(item)
        for key in ("content", "content_b64"):
            if item.get(key) is not None:
                item[key] = "(%d characters, sha256 %s)" % (
                    len(item[key]), hashlib.sha256(item[key].encode("utf-8")).hexdigest())
        files.append(item)
    shown["files"] = files
    return {"module_args": shown}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="str", default="0644"),
            directory_mode=dict(type="str", default="0755"),
            dest=dict(type="path"),
            directories=dict(type="list", elements="dict", default=[], options=dict(ITEM_COMMON)),
            files=dict(type="list", elements="dict", default=[], options=dict(
                ITEM_COMMON,
                path=dict(type="path"),
                state=dict(type="str", choices=["file", "present", "absent"], default="file"),
                content=dict(type="str"),
                src=dict(type="path"),
                content_b64=dict(type="str"),
            )),
        ),
        supports_check_mode=True,
    )
    params = module.params
    invocation = _shown(params)
    for index, item in enumerate(params["files"]):
        if item.get("src") is not None:
            module.fail_json(msg="files[%d].src: read by the action plugin on the controller; run the module as "
                             "macmesh.signing.managed_files, not with a copied module." % index, invocation=invocation)
    try:
        directories, files = normalise(params["directories"], params["files"], params["owner"], params["group"],
                                       params["mode"], params["directory_mode"], params["dest"])
        outcome = ensure(directories, files, check_mode=module.check_mode)
    except ManagedFilesError as exc:
        module.fail_json(msg=str(exc), invocation=invocation)
    except (IOError, OSError) as exc:
        module.fail_json(msg="%s: %s" % (getattr(exc, "filename", None) or "files", exc.strerror or exc),
                         invocation=invocation)
    result = dict(changed=bool(outcome["changed"]), changed_paths=outcome["changed"], paths=outcome["after"],
                  invocation=invocation)
    if module._diff:
        result["diff"] = diff(outcome)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
