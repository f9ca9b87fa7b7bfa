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

import fnmatch
import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule

# Patterns are written so that this file does not match itself: a copy of the module left in a
# temporary directory must not turn into a finding.
LINE_PATTERNS = (
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("aws_access_key", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("private_key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
)
KUBECONFIG_KIND = re.compile(r"^kind:\s*[\"']?Config[\"']?\s*$")
KUBECONFIG_CLUSTERS = re.compile(r"^clusters:")
KUBECONFIG_CREDENTIAL = re.compile(r"^\s+(?:token|password|client-key-data|client-key):\s*\S")
PKCS12_SUFFIXES = (".p12", ".pfx")
ASC_KEY_SUFFIX = ".p8"
BINARY_PROBE = 8192


def allowed(path, allowlist):
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in allowlist)


def scan_text(lines, kinds):
    """{kind: first 1-based line} for the content kinds found in `lines` (an iterable of str)."""
    found = {}
    kube = {"kind": False, "clusters": False, "credential": 0}
    for number, line in enumerate(lines, 1):
        for kind, pattern in LINE_PATTERNS:
            if kind in kinds and kind not in found and pattern.search(line):
                found[kind] = number
        if "kubeconfig" in kinds:
            if KUBECONFIG_KIND.match(line):
                kube["kind"] = True
            elif KUBECONFIG_CLUSTERS.match(line):
                kube["clusters"] = True
            elif not kube["credential"] and KUBECONFIG_CREDENTIAL.match(line):
                kube["credential"] = number
    if kube["kind"] and kube["clusters"] and kube["credential"]:
        found["kubeconfig"] = kube["credential"]
    return found


def scan_file(path, kinds, max_file_size):
    """(findings, skipped) for one regular file."""
    findings = []
    if "pkcs12" in kinds and path.lower().endswith(PKCS12_SUFFIXES):
        findings.append({"path": path, "kind": "pkcs12", "line": 0})
    content_kinds = [kind for kind in kinds if kind not in ("pkcs12", "asc_api_key")]
    if "asc_api_key" in kinds and path.lower().endswith(ASC_KEY_SUFFIX):
        findings.append({"path": path, "kind": "asc_api_key", "line": 0})
        content_kinds = [kind for kind in content_kinds if kind != "private_key"]
    if not content_kinds:
        return findings, False
    try:
        if os.path.getsize(path) > max_file_size:
            return findings, True
        with open(path, "rb") as handle:
            # Most files under /Library are binary: decide on the first block before reading more.
            data = handle.read(BINARY_PROBE)
            if b"\0" in data:
                return findings, True
            data += handle.read(max_file_size)
    except (IOError, OSError):
        return findings, True
    text = data.decode("utf-8", errors="replace")
    found = scan_text(text.splitlines(), content_kinds)
    del data, text
    for kind in sorted(found):
        findings.append({"path": path, "kind": kind, "line": found[kind]})
    return findings, False


def walk(root, allowlist):
    """Yield the regular files under `root` (or `root` itself), honouring the allowlist."""
    try:
        mode = os.lstat(root).st_mode
    except OSError:
        return
    if stat.S_ISREG(mode):
        if not allowed(root, allowlist):
            yield root
        return
    if not stat.S_ISDIR(mode) or allowed(root, allowlist):
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(
            name for name in dirnames if not allowed(os.path.join(dirpath, name), allowlist)
        )
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if allowed(path, allowlist):
                continue
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    yield path
            except OSError:
                continue


def scan(paths, allowlist, kinds, max_file_size):
    result = {"findings": [], "scanned_files": 0, "skipped_files": 0, "missing": []}
    seen = set()
    for root in paths:
        root = os.path.abspath(root)
        if not os.path.lexists(root):
            result["missing"].append(root)
            continue
        for path in walk(root, allowlist):
            if path in seen:
                continue
            seen.add(path)
            result["scanned_files"] += 1
            findings, skipped = scan_file(path, kinds, max_file_size)
            result["findings"].extend(findings)
            result["skipped_files"] += int(skipped)
    result["findings"].sort(key=lambda item: (item["path"], item["kind"]))
    return result


def summary(findings):
    """One line naming every finding (path and kind, never the value)."""
    return "; ".join("%s (%s%s)" % (item["path"], item["kind"], ", line %d" % item["line"] if item["line"] else "")
                     for item in findings)


def main():
    kinds = ["github_token", "gitlab_token", "aws_access_key", "private_key", "kubeconfig", "pkcs12", "asc_api_key"]
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", required=True),
            allowlist=dict(type="list", elements="str", default=[]),
            kinds=dict(type="list", elements="str", choices=kinds, default=kinds),
            max_file_size=dict(type="int", default=1048576),
        ),
        supports_check_mode=True,
    )
    if module.params["max_file_size"] < 1:
        module.fail_json(msg="max_file_size: must be a positive number of bytes")
    result = scan(
        module.params["paths"],
        module.params["allowlist"],
        set(module.params["kinds"]),
        module.params["max_file_size"],
    )
    result["summary"] = summary(result["findings"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
