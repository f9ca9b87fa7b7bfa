#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: macmesh.signing contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: secret_scan
short_description: Find stray credentials on a node without ever reading them back
version_added: 0.1.0
description:
  - Walks the given paths and reports files that hold credentials which must not live on a signing
    node, such as GitHub and GitLab tokens, AWS access keys, kubeconfigs with credentials, PEM/OpenSSH
    private keys, and PKCS#12 files outside the allowed places.
  - Only the path, the kind of finding and the line number are returned. The matched value is never
    returned, logged or kept in memory longer than the comparison.
  - Read-only. The module never changes the node, so check mode and normal mode behave the same.
  - Symbolic links are not followed. Files larger than O(max_file_size) and binary files are
    skipped for content checks, but their names are still checked.
author:
  - macmesh.signing maintainers (@macmesh)
extends_documentation_fragment:
  - macmesh.signing.attributes
  - macmesh.signing.attributes.info_module
attributes:
  platform:
    platforms: posix
options:
  paths:
    description:
      - Files or directories to scan. Directories are walked recursively.
      - Paths that do not exist are listed in RV(missing) and are not an error.
    type: list
    elements: path
    required: true
  allowlist:
    description:
      - Shell-style patterns (C(fnmatch)) matched against absolute paths.
      - A directory that matches is not entered. A file that matches is not reported.
      - Use this for the places where credentials are allowed, such as the signing keychain.
    type: list
    elements: str
    default: []
  kinds:
    description:
      - The kinds of finding to look for. The default is all of them.
    type: list
    elements: str
    choices: [github_token, gitlab_token, aws_access_key, private_key, kubeconfig, pkcs12, asc_api_key]
    default: [github_token, gitlab_token, aws_access_key, private_key, kubeconfig, pkcs12, asc_api_key]
  max_file_size:
    description:
      - Files larger than this many bytes are not read. Their names are still checked.
    type: int
    default: 1048576
notes:
  - The content checks look at text files only. A file counts as binary when its first 8 KiB
    contain a NUL byte.
  - V(asc_api_key) is an App Store Connect API key (a C(.p8) file, for example C(AuthKey_<KEYID>.p8)); its
    C(PRIVATE KEY) block is then not reported a second time as V(private_key). Allowlist the notary RAM disk.
  - A kubeconfig counts as a finding only when it holds credentials (C(token), C(password),
    C(client-key-data) or C(client-key)). A kubeconfig without credentials is not reported.
seealso:
  - name: GitHub token formats
    description: The prefixes GitHub uses for its tokens.
    link: https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/
"""

EXAMPLES = r"""
- name: Scan home directories and /tmp, allowing the signing keychain
  macmesh.signing.secret_scan:
    paths:
      - /Users
      - /private/tmp
    allowlist:
      - /Users/*/Library/Keychains/*
  register: scan

- name: Stop when anything was found (the values are never shown)
  ansible.builtin.assert:
    that: scan.findings | length == 0
    fail_msg: >-
      {{ inventory_hostname }}: {{ scan.findings | map(attribute='path') | join(', ') }}
"""

RETURN = r"""
findings:
  description: One entry per file and kind, sorted by path. Never contains the secret itself.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Absolute path of the file.
      type: str
      sample: /Users/ci-build/.config/gh/hosts.yml
    kind:
      description: What was found.
      type: str
      sample: github_token
    line:
      description: 1-based line of the first match, or V(0) when the finding is about the file name.
      type: int
      sample: 3
  sample:
    - path: /Users/ci-build/.config/gh/hosts.yml
      kind: github_token
      line: 3
summary:
  description: The findings as one line for a message, C(<path> (<kind>, line <n>)) joined by C(; ). Empty when nothing was found.
  returned: always
  type: str
  sample: /Users/ci-build/.config/gh/hosts.yml (github_token, line 3)
scanned_files:
  description: Number of files checked.
  returned: always
  type: int
  sample: 1423
skipped_files:
  description: Files whose content was not read, because they were too large, binary, or unreadable.
  returned: always
  type: int
  sample: 12
missing:
  description: Entries of O(paths) that do not exist.
  returned: always
  type: list
  elements: str
  sample: [/opt/homebrew]
"""

from ansible.module_utils.basic import AnsibleModule
# The scan lives in module_utils so that signing_info's converge read runs the same one (issue 14).
from ansible_collections.macmesh.signing.plugins.module_utils._secret_scan import KINDS, ScanOptionError, run_scan


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", required=True),
            allowlist=dict(type="list", elements="str", default=[]),
            kinds=dict(type="list", elements="str", choices=KINDS, default=KINDS),
            max_file_size=dict(type="int", default=1048576),
        ),
        supports_check_mode=True,
    )
    try:
        result = run_scan(dict((key, module.params[key]) for key in ("paths", "allowlist", "kinds", "max_file_size")),
                          where="")
    except ScanOptionError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
