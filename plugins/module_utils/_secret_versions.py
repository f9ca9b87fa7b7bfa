# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""Secret versions: the non-secret version ids of the secrets the collection places on a node.

Every secret the collection places (the keychain password, each p12, the App Store Connect API
key) carries a version id from its lookup: HashiCorp Vault KV v2 returns ``metadata.version``
(the hashi_vault collection's ``vault_kv2_get`` lookup, which the operator installs; this
collection does not use it), an Ansible Vault file carries a sibling, non-secret
``*_version`` variable. A node records the versions it holds in a root-owned JSON file
(``versions_document``); the converge compares them across the mesh (``version_findings``) and
a promotion is refused while they differ, or while the unlock wrapper's sha256 differs
(``promotion_gate``).

No function here ever sees a secret value: only names and version ids.
Standard library only, Python 3.9.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from collections.abc import Mapping

SCHEMA = 1
# Names of the secrets: fixed ones, plus one "p12:<SHA1>" per identity.
FIXED_NAMES = ("keychain_password", "asc_api_key")
_NAME_RE = re.compile(r"^(?:keychain_password|asc_api_key|p12:[0-9A-F]{40})$")
# A version id is short and plain: a KV v2 version number, a date label, a commit id.
_VERSION_RE = re.compile(r"^[A-Za-z0-9._:+-]{1,64}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_HOSTS_IN_MESSAGE = 5


class SecretVersionError(ValueError):
    """A malformed input; ``field`` names it, e.g. ``keychain_identities[1].p12_version``."""

    def __init__(self, field, message):
        self.field = field
        self.message = message
        super(SecretVersionError, self).__init__("%s %s" % (field, message))


def normalise_version(value, field):
    """A version id as a string: KV v2 gives an int, Ansible Vault labels are strings."""
    if isinstance(value, bool) or value is None:
        raise SecretVersionError(field, "must be a version id (string or integer), not %r" % (value,))
    if isinstance(value, int):
        if value < 0:
            raise SecretVersionError(field, "must not be negative, not %d" % value)
        value = str(value)
    if not isinstance(value, str) or not _VERSION_RE.match(value):
        raise SecretVersionError(field, "must match [A-Za-z0-9._:+-]{1,64}; a version id is never the secret itself")
    return value


def versions_document(keychain_password_version=None, identities=None, asc_api_key_version=None):
    """The node's ``secret-versions.json`` content: ``{"schema": 1, "secrets": {name: version}}``.

    ``identities`` is the keychain role's list (``sha1`` and ``p12_version`` per entry; entries
    without a version are left out). A secret without a version id is simply not recorded.
    """
    secrets = {}
    if keychain_password_version not in (None, ""):
        secrets["keychain_password"] = normalise_version(keychain_password_version, "keychain_password_version")
    for index, identity in enumerate(identities or ()):
        where = "keychain_identities[%d]" % index
        if not isinstance(identity, Mapping):
            raise SecretVersionError(where, "must be a dict")
        version = identity.get("p12_version")
        if version in (None, ""):
            continue
        sha1 = re.sub(r"[: ]", "", str(identity.get("sha1") or "")).upper()
        if not re.match(r"^[0-9A-F]{40}$", sha1):
            raise SecretVersionError(where + ".sha1", "must be the identity's 40-hex SHA-1 to record p12_version")
        secrets["p12:" + sha1] = normalise_version(version, where + ".p12_version")
    if asc_api_key_version not in (None, ""):
        secrets["asc_api_key"] = normalise_version(asc_api_key_version, "notary_credentials_key_version")
    return {"schema": SCHEMA, "secrets": secrets}


def merge_documents(*documents):
    """Several roles record their own secrets: one document with all of them (later wins)."""
    secrets = {}
    for document in documents:
        secrets.update(read_document(document, "secret_versions"))
    return {"schema": SCHEMA, "secrets": secrets}


def read_document(document, field):
    """``{name: version}`` from a node's document (None or {} = nothing recorded)."""
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise SecretVersionError(field, "must be a dict, not %s" % type(document).__name__)
    if document.get("schema", SCHEMA) != SCHEMA:
        raise SecretVersionError(field + ".schema", "must be %d, not %r" % (SCHEMA, document.get("schema")))
    secrets = document.get("secrets", {})
    if not isinstance(secrets, Mapping):
        raise SecretVersionError(field + ".secrets", "must be a dict of name -> version")
    out = {}
    for name in sorted(secrets):
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise SecretVersionError("%s.secrets[%r]" % (field, name),
                                     "is not a secret name (keychain_password, asc_api_key, p12:<SHA1>)")
        out[name] = normalise_version(secrets[name], "%s.secrets[%r]" % (field, name))
    return out


def _host_list(hosts):
    hosts = sorted(hosts)
    shown = ", ".join(hosts[:_HOSTS_IN_MESSAGE])
    if len(hosts) > _HOSTS_IN_MESSAGE:
        shown += " and %d more" % (len(hosts) - _HOSTS_IN_MESSAGE)
    return shown


def _ranked(by_version, expected):
    """Versions: the expected one first, then the most held, then by value."""
    return sorted(by_version, key=lambda value: (value != expected, -len(by_version[value]), value))


def version_index(host_versions):
    """``{name: {version: [hosts]}}`` over ``{host: {name: version}}``."""
    index = {}
    for host in sorted(host_versions):
        for name, version in (host_versions[host] or {}).items():
            index.setdefault(name, {}).setdefault(version, []).append(host)
    return index


def version_findings(host_versions, region_of=None, expected=None):
    """Findings for secret versions that differ across the mesh, or from the expected ones.

    ``host_versions``: ``{host: {name: version}}`` (the output of ``read_document`` per host; a
    host that recorded nothing maps to ``{}``). ``region_of``: ``{host: region}``. ``expected``:
    optional ``{name: version}`` the controller's lookups return today.

    Returns a list of ``{"code", "host", "region", "severity", "message"}``:
    ``SECRET_VERSION_DIVERGES`` (error) for each host holding a version other than the reference
    one (the expected version, else the one most hosts hold); ``SECRET_VERSION_STALE`` (error) when
    every host agrees but the expected version is another one.
    """
    region_of = region_of or {}
    expected = dict(expected or {})
    findings = []
    for name, by_version in sorted(version_index(host_versions).items()):
        ranked = _ranked(by_version, expected.get(name))
        reference = ranked[0]
        summary = ", ".join("%s on %s" % (value, _host_list(by_version[value])) for value in ranked)
        if len(ranked) > 1:
            for value in ranked[1:]:
                for host in by_version[value]:
                    findings.append({
                        "code": "SECRET_VERSION_DIVERGES", "host": host, "region": region_of.get(host),
                        "severity": "error",
                        "message": "secret %s is at version %s here, %s elsewhere (%s)" % (name, value, reference, summary),
                    })
        if name in expected and expected[name] not in by_version:
            for host in by_version[reference]:
                findings.append({
                    "code": "SECRET_VERSION_STALE", "host": host, "region": region_of.get(host), "severity": "error",
                    "message": "secret %s is at version %s, the vault lookup says %s" % (name, reference, expected[name]),
                })
    return findings


def promotion_gate(nodes, expected_wrapper_sha256=None, expected_versions=None):
    """Whether a release (or rotation) may be promoted: one wrapper sha256 and one version per secret.

    ``nodes``: ``{host: {"wrapper_sha256": str or None, "secret_versions": {name: version}}}`` for
    every non-excluded node. Returns ``{"ok": bool, "reasons": [str], "wrapper_sha256s":
    {sha: [hosts]}, "secret_versions": {name: {version: [hosts]}}}``; each reason names the hosts
    and the values, so the refusal is actionable as it stands.
    """
    if not isinstance(nodes, Mapping):
        raise SecretVersionError("nodes", "must be a dict of host -> {wrapper_sha256, secret_versions}")
    if expected_wrapper_sha256 is not None and (not isinstance(expected_wrapper_sha256, str)
                                                or not _SHA256_RE.match(expected_wrapper_sha256)):
        raise SecretVersionError("expected_wrapper_sha256", "must be 64 lowercase hex digits")
    reasons = []
    wrappers = {}
    host_versions = {}
    for host in sorted(nodes):
        node = nodes[host]
        if not isinstance(node, Mapping):
            raise SecretVersionError("nodes[%r]" % host, "must be a dict")
        sha = node.get("wrapper_sha256")
        wrappers.setdefault(sha if sha else "missing", []).append(host)
        host_versions[host] = read_document({"secrets": node.get("secret_versions") or {}}, "nodes[%r]" % host)
    ranked = sorted(wrappers, key=lambda value: (value != expected_wrapper_sha256, -len(wrappers[value]), value))
    if len(ranked) > 1 or "missing" in wrappers or (
            expected_wrapper_sha256 is not None and ranked and ranked[0] != expected_wrapper_sha256):
        reasons.append("unlock wrapper sha256 differs: %s%s" % (
            "; ".join("%s on %s" % (value[:12], _host_list(wrappers[value])) for value in ranked),
            " (expected %s)" % expected_wrapper_sha256[:12] if expected_wrapper_sha256 else ""))
    expected_versions = read_document({"secrets": expected_versions or {}}, "expected_versions")
    index = version_index(host_versions)
    for name in sorted(index):
        by_version = index[name]
        ranked = _ranked(by_version, expected_versions.get(name))
        # Only hosts that hold a secret record it (a builder holds no p12): compare among them.
        if len(ranked) > 1 or (name in expected_versions and expected_versions[name] not in by_version):
            parts = ["%s on %s" % (value, _host_list(by_version[value])) for value in ranked]
            reasons.append("secret %s versions differ: %s%s" % (
                name, "; ".join(parts),
                " (vault says %s)" % expected_versions[name] if name in expected_versions else ""))
    return {"ok": not reasons, "reasons": reasons, "wrapper_sha256s": wrappers, "secret_versions": index}


def promotion_nodes(reads):
    """The gate's input from ``{host: signing_info result}`` (parts ``wrapper`` and ``agent`` gathered)."""
    nodes = {}
    for host, read in (reads or {}).items():
        read = read if isinstance(read, Mapping) else {}
        wrapper = read.get("wrapper") if isinstance(read.get("wrapper"), Mapping) else {}
        agent = read.get("agent") if isinstance(read.get("agent"), Mapping) else {}
        versions = agent.get("secret_versions") if isinstance(agent.get("secret_versions"), Mapping) else {}
        nodes[host] = {"wrapper_sha256": wrapper.get("sha256"), "secret_versions": dict(versions)}
    return nodes


def expected_versions(host_vars):
    """``{name: version}`` the inventory's lookups give today, from a signer's variables (see docs)."""
    host_vars = host_vars or {}
    identities = [dict((key, item.get(key)) for key in ("sha1", "p12_version"))
                  for item in host_vars.get("keychain_identities") or () if isinstance(item, Mapping)]
    return versions_document(host_vars.get("keychain_password_version"), identities,
                             host_vars.get("notary_credentials_key_version"))["secrets"]
