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

from collections.abc import Mapping

from ansible_collections.macmesh.signing.plugins.module_utils import _layout, _parity

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


def repair_plan(parity, facts):
    """Which nodes enforce repairs (reachable, error findings that a re-apply fixes) and which it leaves alone."""
    repair, refused, clock = [], {}, []
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
        if "CLOCK_OFFSET" in codes:
            clock.append(host)
    return {"repair": repair, "refused": refused, "clock": clock}


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
