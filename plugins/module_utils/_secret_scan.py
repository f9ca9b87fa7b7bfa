# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The secret scan behind ``macmesh.signing.secret_scan`` and the ``secret_scan`` option of ``signing_info``.

Walks paths and reports the files that hold stray credentials: path, kind and line only, never the
value. One implementation for the bootstrap preflight (the module) and the converge's one read per
node (signing_info). Standard library only, Python 3.9: it runs on macOS's /usr/bin/python3.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import re
import stat

# Patterns are written so that this file does not match itself: a copy of the module (which carries
# this file) left in a temporary directory must not turn into a finding.
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
KINDS = ["github_token", "gitlab_token", "aws_access_key", "private_key", "kubeconfig", "pkcs12", "asc_api_key"]
DEFAULT_MAX_FILE_SIZE = 1048576


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
    """{findings, scanned_files, skipped_files, missing} for ``paths`` (the module's result without summary)."""
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


class ScanOptionError(ValueError):
    """An option of the scan that cannot be used; the message names the field."""


def run_scan(options, where="secret_scan"):
    """The module's whole result (with ``summary``) for a dict of options as the module takes them.

    ``options``: ``paths`` (required), ``allowlist``, ``kinds``, ``max_file_size``. Raises
    :class:`ScanOptionError` naming ``<where>.<field>`` (``<field>`` when ``where`` is empty) for a bad value.
    """
    prefix = where + "." if where else ""
    unknown = sorted(set(options) - set(["paths", "allowlist", "kinds", "max_file_size"]))
    if unknown:
        raise ScanOptionError("%s: unknown key %s (known: allowlist, kinds, max_file_size, paths)"
                              % (where or "options", unknown[0]))
    paths = options.get("paths")
    if not isinstance(paths, (list, tuple)) or not all(isinstance(path, str) and path for path in paths):
        raise ScanOptionError("%spaths: must be a list of paths" % prefix)
    allowlist = options.get("allowlist") or []
    if not isinstance(allowlist, (list, tuple)) or not all(isinstance(p, str) for p in allowlist):
        raise ScanOptionError("%sallowlist: must be a list of patterns" % prefix)
    kinds = options.get("kinds")
    if kinds is None:
        kinds = KINDS
    if not isinstance(kinds, (list, tuple)) or any(kind not in KINDS for kind in kinds):
        raise ScanOptionError("%skinds: must be a list of %s" % (prefix, ", ".join(KINDS)))
    max_file_size = options.get("max_file_size")
    if max_file_size is None:
        max_file_size = DEFAULT_MAX_FILE_SIZE
    if isinstance(max_file_size, bool) or not isinstance(max_file_size, int) or max_file_size < 1:
        raise ScanOptionError("%smax_file_size: must be a positive number of bytes" % prefix)
    result = scan([os.path.expanduser(path) for path in paths], list(allowlist), set(kinds), max_file_size)
    result["summary"] = summary(result["findings"])
    return result
