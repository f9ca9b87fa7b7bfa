# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The compliance converge's decisions: what the mesh must look like, which reads count, what to repair.

``audit`` turns the desired state (a release, see ``_release``), the node layout and every node's
registered ``signing_info`` result (with its secret scan, or a separate ``secret_scan`` result) into the ``mesh_parity`` verdict, the facts
the report shows, the nodes enforce may repair and those it must leave alone (a node that runs a
newer release is never taken back), and the one-line verdict. The playbook only sequences it.

Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections.abc import Mapping

from ansible_collections.macmesh.signing.plugins.module_utils import _layout, _parity, _parity_host, _release

# Findings that enforce must not "repair": taking the node back would undo a rotation.
NO_REPAIR_CODES = ("RELEASE_AHEAD", "RELEASE_MISMATCH", "SECRET_FOUND")
_POLICY_TO_EXPECTED = ("topology", "regions", "signer_group", "builder_group", "max_key_copies", "max_identity_hashes",
                       "cert_warn_days", "cert_error_days", "overlap_min_days", "overlap_max_days", "max_clock_offset",
                       "max_clock_offset_error")


class AuditInputError(ValueError):
    pass


def _usable(read):
    return (isinstance(read, Mapping) and not read.get("unreachable") and not read.get("failed")
            and not read.get("skipped"))


def _scan_into(read, scan, source):
    """Merge a secret scan result into ``read``: its findings as ``secrets``, or why there are none."""
    if isinstance(scan, Mapping) and "findings" in scan:
        read["secrets"] = scan["findings"]
    elif isinstance(scan, Mapping) and not scan.get("skipped"):
        unavailable = dict(read.get("unavailable") or {})
        unavailable["secrets"] = "%s: %s" % (source, scan.get("msg") or "no result")
        read["unavailable"] = unavailable


def collect_reads(hosts, reads, scans):
    """{host: read}: each usable signing_info read with its secret scan's findings (or why it has none).

    The scan comes from the read itself when signing_info ran it (its ``secret_scan`` option: the
    converge's one call per node), else from the separately registered ``secret_scan`` result in
    ``scans``. The read's own ``secret_scan`` entry is replaced by ``secrets`` (the findings).
    """
    facts = {}
    for host in hosts:
        read = reads.get(host)
        if _usable(read):
            read = dict(read)
            unavailable = dict(read.get("unavailable") or {})
            if "secret_scan" in read:
                inline = read.pop("secret_scan")
                reason = unavailable.pop("secret_scan", None)
                read["unavailable"] = unavailable
                if isinstance(inline, Mapping):
                    _scan_into(read, inline, "secret_scan")
                else:
                    unavailable["secrets"] = "secret_scan: %s" % (reason or "no result")
            else:
                _scan_into(read, scans.get(host), "secret_scan")
        facts[host] = read
    return facts


def declared_identities(desired, facts):
    """SHA-1 -> name of the declared identities, names filled from what the nodes report when unknown."""
    seen = {}
    for read in facts.values():
        if isinstance(read, Mapping):
            for item in read.get("identities") or []:
                if isinstance(item, Mapping) and item.get("sha1") and item.get("name"):
                    seen.setdefault(item["sha1"], item["name"])
    out = {}
    for sha1, name in (desired.get("declared") or {}).items():
        out[sha1] = name if name and name != sha1 else seen.get(sha1, sha1)
    return out


def expected_state(desired, layout, manifest, wrapper_sha256, facts, per_runner_identities=None,
                   certificate_expiry=None, now=None, agent=None, secret_versions=None):
    """The ``expected`` argument of mesh_parity for this desired state."""
    if not isinstance(desired, Mapping) or not isinstance(desired.get("policy"), Mapping):
        raise AuditInputError("release: expects the result of macmesh.signing.release")
    policy = desired["policy"]
    timeout = policy.get("keychain_timeout", _layout.POLICY["keychain_timeout"])
    expected = {
        "manifest": manifest,
        "keychain_path": layout.get("keychain_path", _layout.LAYOUT["keychain_path"]),
        "keychain_owner": layout.get("user", _layout.LAYOUT["user"]),
        "keychain_mode": layout.get("keychain_mode", _layout.LAYOUT["keychain_mode"]),
        "profile_root": layout.get("profile_root", _layout.LAYOUT["profile_root"]),
        "wrapper_sha256": wrapper_sha256,
        "keychain_settings": {"timeout": int(timeout) if timeout else None,
                              "lock_on_sleep": bool(policy.get("keychain_lock_on_sleep", True))},
        "certificate_expiry": dict(certificate_expiry or {}),
        "release": ({"version": desired.get("version"), "serial": desired.get("serial"), "sha256": desired.get("sha256")}
                    if desired.get("serial") is not None else None),
    }
    for key in _POLICY_TO_EXPECTED:
        if key in policy:
            expected[key] = policy[key]
    if expected.get("topology") == "per_runner":
        expected["per_runner_identities"] = dict(per_runner_identities or {})
    else:
        expected["declared_identities"] = declared_identities(desired, facts)
    if now is not None:
        expected["now"] = now
    # Issue 12: the CI agent's side (_agent.agent_expectation) and the secret versions the lookups give.
    if agent is not None:
        expected["agent"] = agent
    if secret_versions is not None:
        expected["secret_versions"] = secret_versions
    return expected


# Enforce re-applies, on a node with error findings, only the roles that own what drifted (issue 14:
# "enforce repairs only what is drifted, not whole roles"). The roles of the repair play, in its order;
# ALWAYS_REPAIR run on every repaired node (the account the others act as, the runner identity that
# carries the identity hash and manifest version, the release record); the others only for their codes.
REPAIR_ROLES = ("ci_user", "keychain", "unlock_wrapper", "profile_mounts", "search_list", "runner_identity",
                "release_record")
ALWAYS_REPAIR = ("ci_user", "runner_identity", "release_record")
_PROFILE_CODES = ("MANIFEST_DRIFT", "PROFILE_MISSING", "PROFILE_EXTRA", "PROFILE_SHA_MISMATCH", "PROFILE_UNREADABLE",
                  "DUPLICATE_UUID", "PROFILE_DIR_WRITABLE", "PROFILE_IN_CACHE", "PROFILE_ROOT_MISMATCH",
                  "PROFILE_KEPT_TAMPERED")
_KEYCHAIN_CODES = ("KEY_ON_BUILDER", "IDENTITY_UNDECLARED", "IDENTITY_MISSING", "KEYCHAIN_PATH_MISMATCH",
                   "KEYCHAIN_MISSING", "KEYCHAIN_SETTINGS", "KEYCHAIN_PERMISSIONS")
CODE_ROLES = dict(
    [(code, ("profile_mounts",)) for code in _PROFILE_CODES]
    + [(code, ("keychain",)) for code in _KEYCHAIN_CODES]
    + [("WRAPPER_MISMATCH", ("unlock_wrapper",)), ("WRAPPER_LOG_UNSEALED", ("unlock_wrapper",)),
       ("SEARCH_LIST", ("search_list",)),
       # A clock is stepped (sntp), not a role's; a release record the node lacks or cannot read is the
       # release_record role's, always applied.
       ("CLOCK_OFFSET", ()), ("RELEASE_NOT_RECORDED", ()), ("RELEASE_UNREADABLE", ())]
)


def repair_roles(codes):
    """The repair play's roles for a node's error codes, in play order: ALWAYS_REPAIR plus the owners of
    the codes; a code no role is named for (RELEASE_BEHIND: the whole desired state moved) gets them all."""
    wanted = set(ALWAYS_REPAIR)
    for code in codes:
        wanted.update(CODE_ROLES.get(code, REPAIR_ROLES))
    return [role for role in REPAIR_ROLES if role in wanted]


def repair_plan(parity, facts):
    """Which nodes enforce repairs (reachable, error findings that a re-apply fixes), with which roles
    (``roles``: {host: [role, ...]}, repair_roles), and which nodes it leaves alone."""
    repair, refused, clock, roles = [], {}, [], {}
    by_host = {}
    for finding in parity.get("findings") or []:
        if finding.get("host") and finding.get("severity") == "error":
            by_host.setdefault(finding["host"], []).append(finding["code"])
    for host in sorted(by_host):
        codes = by_host[host]
        if not _usable(facts.get(host)):
            continue
        blocking = sorted(set(code for code in codes if code in NO_REPAIR_CODES))
        if blocking:
            refused[host] = blocking
            continue
        repair.append(host)
        roles[host] = repair_roles(codes)
        if "CLOCK_OFFSET" in codes:
            clock.append(host)
    return {"repair": repair, "refused": refused, "clock": clock, "roles": roles}


def report_facts(facts, parity):
    """The reads with region and tier, as the report shows them."""
    out = {}
    hosts = parity.get("hosts") or {}
    for host, read in facts.items():
        verdict = hosts.get(host) or {}
        entry = dict(read) if isinstance(read, Mapping) else {}
        entry["region"] = verdict.get("region")
        entry["tier"] = verdict.get("tier")
        out[host] = entry
    return out


def verdict(parity, before=None):
    """The one-line summary and the error list the last task fails with."""
    summary = parity.get("summary") or {}
    text = "%s: %s hosts, %s errors, %s warnings" % ("COMPLIANT" if parity.get("ok") else "NOT COMPLIANT",
                                                     summary.get("hosts"), summary.get("errors"), summary.get("warnings"))
    if before is not None:
        text += " (before repairs: %s errors)" % (before.get("summary") or {}).get("errors")
    errors = ["%s %s" % (finding.get("host") or "mesh", finding.get("code"))
              for finding in parity.get("findings") or [] if finding.get("severity") == "error"]
    return {"summary": text, "errors": errors}


def audit(desired, layout, manifest, wrapper_sha256, hosts, groups, reads, scans, per_runner_identities=None,
          certificate_expiry=None, now=None, before=None, agent=None, secret_versions=None):
    """Everything the converge (and the rotation's closing audit) reports, in one call."""
    facts = collect_reads(hosts, reads, scans)
    expected = expected_state(desired, layout, manifest, wrapper_sha256, facts, per_runner_identities,
                              certificate_expiry, now, agent, secret_versions)
    parity = _parity.mesh_parity(facts, groups, expected)
    out = {
        "parity": parity,
        "facts": facts,
        "report_facts": report_facts(facts, parity),
        "expected": dict((key, value) for key, value in expected.items() if key != "manifest"),
        "plan": repair_plan(parity, facts),
    }
    out.update(verdict(parity, before))
    return out


# --- bootstrap: which nodes may skip the roles the read fully covers (issue 14) ---------------------

# The roles a compliant node skips: everything they own is checked by the read (the parity checks and
# profile_store_problems). The other roles stay on every node; docs/performance.md says why.
FAST_PATH_SKIPS = ("profile_mounts", "search_list")
_VERSION_RE = re.compile(r"^[0-9a-f]{64}\Z")
_STAGING_RE = re.compile(r"^\.[0-9a-f]{64}\.staging\Z")


def expected_version_files(manifest, manifest_sha256):
    """{name: sha256} of a published version directory: the manifest's profiles and profiles.json itself."""
    files = dict((item["filename"], item["sha256"]) for item in manifest.get("profiles") or []
                 if isinstance(item, Mapping) and item.get("filename"))
    files["profiles.json"] = manifest_sha256
    return files


def profile_store_problems(store, manifest_sha, files, keep_previous=True):
    """What the profile_mounts role would change under the profile root (empty: nothing), from the read.

    The same checks as the role's verify of a published version (files and their sha256, root-owned,
    0444 files in a 0555 directory, nothing else), its links (``current`` on the manifest's version,
    no ``previous`` unless kept) and its clean-up (no other version or staging directory).
    """
    if not isinstance(store, Mapping):
        return ["profile_store: not read"]
    version = store.get("version")
    if store.get("current") != manifest_sha or not isinstance(version, Mapping):
        return ["current: %s, expected %s" % (store.get("current"), manifest_sha)]
    problems = _parity_host.version_dir_problems(version, files)
    previous = store.get("previous")
    if previous is not None and not keep_previous:
        problems.append("previous: %s, but no previous version is kept" % previous)
    keep = set([manifest_sha] + ([previous] if previous and keep_previous else []))
    for name in store.get("entries") or []:
        if (_VERSION_RE.match(name) or _STAGING_RE.match(name)) and name not in keep:
            problems.append("%s: a version or staging directory the role removes" % name)
    return problems


def role_inputs(hosts, hostvars, expected, template=None):
    """{host: {var: (its value on the host, the release's)}} for the variables the host has set.

    A variable the host does not set gets the role default, which is what the release assumes.
    ``template`` resolves a host's raw value (the action's templar).
    """
    template = template or (lambda value: value)
    out = {}
    for host in hosts:
        host_vars = hostvars[host] if host in hostvars else {}
        out[host] = dict((name, (template(host_vars.get(name)), value))
                         for name, value in (expected or {}).items() if name in host_vars)
    return out


def _same_release(record, desired):
    return _release.relation(record, desired) == "same"


def bootstrap_plan(parity, facts, desired, files, inputs=None, full=False, keep_previous=True):
    """Which bootstrap hosts skip the FAST_PATH_SKIPS roles (``fast``) and why the others get every role (``full``).

    A host is on the fast path only when its read is usable, the converge's repair plan would leave it
    alone (no error finding), nothing could not be read (no FACT_UNAVAILABLE), it records the current
    release, the profile store is what profile_mounts leaves (profile_store_problems), and the role
    inputs it would get are the release's (``inputs``: {host: {var: (effective, expected)}}, e.g. an
    extra var that overrides the release's manifest). No mesh-wide error may stand, and ``full``
    (macmesh_bootstrap_full=true) sends every host through every role.
    """
    hosts = sorted(facts)
    reasons = dict((host, []) for host in hosts)
    if full:
        for host in hosts:
            reasons[host].append("macmesh_bootstrap_full=true")
    if desired.get("source") != "release" or desired.get("serial") is None:
        for host in hosts:
            reasons[host].append("no release: the inventory's role variables are the desired state")
    mesh_errors = sorted(set(item.get("code") for item in parity.get("findings") or []
                             if not item.get("host") and item.get("severity") == "error"))
    if mesh_errors:
        for host in hosts:
            reasons[host].append("mesh: %s" % ", ".join(mesh_errors))
    by_host = {}
    for item in parity.get("findings") or []:
        if item.get("host") in reasons and (item.get("severity") == "error" or item.get("code") == "FACT_UNAVAILABLE"):
            by_host.setdefault(item["host"], set()).add(item["code"])
    manifest_sha = (desired.get("manifest") or {}).get("sha256")
    for host in hosts:
        read = facts.get(host)
        if not _usable(read):
            reasons[host].append("no usable read")
            continue
        if by_host.get(host):
            reasons[host].append("findings: %s" % ", ".join(sorted(by_host[host])))
        if not _same_release(read.get("release_state"), desired):
            recorded = ((read.get("release_state") or {}).get("release") or {}) if isinstance(
                read.get("release_state"), Mapping) else {}
            reasons[host].append("records release %s (serial %s), current is %s (serial %s)" % (
                recorded.get("version"), recorded.get("serial"), desired.get("version"), desired.get("serial")))
        problems = profile_store_problems(read.get("profile_store"), manifest_sha, files, keep_previous)
        if problems:
            reasons[host].append("profiles: %s" % "; ".join(problems))
        for name, (effective, expected) in sorted(((inputs or {}).get(host) or {}).items()):
            if effective != expected:
                reasons[host].append("%s differs from the release" % name)
    return {"fast": [host for host in hosts if not reasons[host]],
            "full": dict((host, why) for host, why in reasons.items() if why),
            "skips": list(FAST_PATH_SKIPS)}
