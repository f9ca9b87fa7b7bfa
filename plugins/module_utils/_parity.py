# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""Mesh parity and expiry: compare what ``signing_info`` reported on every node with the expected state.

``mesh_parity`` turns the facts of all nodes into findings with stable codes (see ``CODES``),
sorted by region, host and code, plus per-host and per-region verdicts. It does one pass over
the hosts and a few passes over per-identity/per-hash indexes, so its cost grows linearly with
the mesh. ``expiring`` is the date arithmetic behind the ``expiring`` filter.

Standard library only, Python 3.9: the filters call it on the controller, but it stays usable
anywhere the other module_utils are.

The pieces, by concern: ``_parity_codes`` (the code table the report also reads), ``_parity_input``
(the checked ``expected`` argument), ``_parity_host`` (per-host checks); this module holds the mesh-wide
checks and the entry points.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible_collections.macmesh.signing.plugins.module_utils._identity import identity_hash
from ansible_collections.macmesh.signing.plugins.module_utils._secret_versions import version_findings
# CODES is re-exported: the report and the tests read the code table through this module.
from ansible_collections.macmesh.signing.plugins.module_utils._parity_codes import (  # noqa: F401  pylint: disable=unused-import
    BUILDERS, CODES, ERROR, SIGNERS,
)
from ansible_collections.macmesh.signing.plugins.module_utils._parity_host import (
    _HostCheck, _host_list, _in_cache, _short, _successor_keys,
)
# current_time and to_utc are re-exported for the filters that share the time parsing.
from ansible_collections.macmesh.signing.plugins.module_utils._parity_input import (  # noqa: F401  pylint: disable=unused-import
    ParityInputError, _Expected, _is_number, _type_name, current_time, days_left, to_utc,
)


def expiring(items, days, now=None, key="expires"):
    """Return copies of the ``items`` whose ``key`` date is at most ``days`` days after ``now``.

    Already-expired items are kept and marked ``expired: true``; every returned item gets
    ``days_left`` (float, rounded to 0.01 day). Input order is kept.
    """
    if not isinstance(items, (list, tuple)):
        raise ParityInputError("_input", "must be a list of dicts, not %s" % _type_name(items))
    if not _is_number(days) or days < 0:
        raise ParityInputError("days", "must be a non-negative number, not %r" % (days,))
    if not isinstance(key, str) or not key:
        raise ParityInputError("key", "must be a non-empty string, not %r" % (key,))
    now = current_time(now, "now")
    result = []
    for index, item in enumerate(items):
        where = "_input[%d]" % index
        if not isinstance(item, Mapping):
            raise ParityInputError(where, "must be a dict, not %s" % _type_name(item))
        if key not in item:
            raise ParityInputError(where, "has no %r key" % key)
        left = days_left(to_utc(item[key], "%s.%s" % (where, key)), now)
        if left <= days:
            annotated = dict(item)
            annotated["days_left"] = round(left, 2)
            annotated["expired"] = left <= 0
            result.append(annotated)
    return result


def mesh_parity(facts, groups, expected):
    """Compare every host's signing_info result with ``expected``; see the mesh_parity filter docs.

    ``facts`` maps host -> signing_info result (``{"unreachable": true, "msg": ...}`` for an
    unreachable host), ``groups`` is Ansible's ``groups``. Raises ParityInputError on malformed input.
    """
    exp = _Expected(expected)
    if not isinstance(facts, Mapping):
        raise ParityInputError("hostvars_subset", "must be a dict of host -> signing_info result, not %s"
                               % _type_name(facts))
    if not isinstance(groups, Mapping):
        raise ParityInputError("groups", "must be a dict of group -> list of hosts, not %s" % _type_name(groups))
    return _Evaluation(exp, facts, groups).run()


class _Evaluation(object):
    """One run of mesh_parity: per-host checks, then the mesh-wide ones on the indexes they filled."""

    def __init__(self, exp, facts, groups):
        self.exp = exp
        self.facts = facts
        self.groups = groups
        self.findings = []
        self.hosts = {}
        # Indexes filled by the per-host pass, read by the mesh-wide pass.
        self.key_holders = {}  # sha1 -> [host]
        self.key_names = {}  # sha1 -> a name seen for it
        self.hash_hosts = {}  # identity hash -> [host], all evaluated hosts
        self.holder_hashes = {}  # identity hash -> [host], key holders only
        self.tier_shas = {}  # tier -> manifest sha -> [host]
        self.time_memo = {}
        self.host_versions = {}  # host -> {secret name: version}, hosts that reported them (issue 12)
        self.in_cache_memo = {}
        self._manifest_index()

    # -- inputs ------------------------------------------------------------------------------

    def _group(self, name):
        members = self.groups.get(name)
        if members is None:
            return []
        if not isinstance(members, (list, tuple)) or not all(isinstance(host, str) for host in members):
            raise ParityInputError("groups[%r]" % name, "must be a list of host names")
        return members

    def _manifest_index(self):
        """Per-UUID manifest entries and the latest expiry per (team, bundle id), for successor lookups."""
        self.by_uuid = {}
        self.latest = None
        self.manifest_pairs = None
        if self.exp.profiles is None:
            return
        for entry in self.exp.profiles:
            self.by_uuid[entry["uuid"].lower()] = entry
        self.manifest_pairs = set((key, entry["sha256"]) for key, entry in self.by_uuid.items())
        self.latest = self.latest_expiry(self.exp.profiles)

    def latest_expiry(self, entries):
        """Successor key (see _successor_keys) -> the latest expiry among ``entries``."""
        latest = {}
        for entry in entries:
            when = self.time(entry["expires"], "expires")[0]
            for key in _successor_keys(entry):
                if key not in latest or when > latest[key]:
                    latest[key] = when
        return latest

    def time(self, value, field):
        """``(datetime, days left)`` of an expiry time; thousands of hosts share a few values, parsed once."""
        cached = self.time_memo.get(value)
        if cached is None:
            when = to_utc(value, field)
            cached = self.time_memo[value] = (when, days_left(when, self.exp.now))
        return cached

    def in_cache(self, path):
        """Whether a path has a DerivedData or Caches component (memoised: hosts share their paths)."""
        cached = self.in_cache_memo.get(path)
        if cached is None:
            cached = self.in_cache_memo[path] = _in_cache(path)
        return cached

    # -- output helpers ----------------------------------------------------------------------

    def add(self, region, host, code, message, severity=None):
        self.findings.append((region, host, code, severity or CODES[code][0], message))

    # -- the run -----------------------------------------------------------------------------

    def run(self):
        exp = self.exp
        region_of = {}
        for region in exp.regions:
            for host in self._group(region):
                region_of.setdefault(host, []).append(region)
        signers = set(self._group(self.exp.signer_group))
        builders = set(self._group(self.exp.builder_group))

        for host in self.facts:
            if not isinstance(host, str):
                raise ParityInputError("hostvars_subset", "keys must be host names, not %s" % _type_name(host))
        for host in sorted(set(self.facts) | set(region_of)):
            self._host(host, region_of.get(host, []), host in signers, host in builders)

        self._key_copies()
        if exp.topology != "per_runner":
            self._identity_hashes()
        if exp.topology == "distributed":
            self._identity_set_divergence()
        self._tier_divergence()
        self._secret_versions()
        region_hosts = dict((region, []) for region in exp.regions)
        for host, info in self.hosts.items():
            if info["region"] in region_hosts:
                region_hosts[info["region"]].append(host)
        for region in exp.regions:
            if not region_hosts[region]:
                self.add(region, None, "REGION_EMPTY", "region %s has no host in group %r" % (region, region))
        return self._result(region_hosts)

    def _host(self, host, regions, is_signer, is_builder):
        exp = self.exp
        region = regions[0] if regions else None
        tier = None
        if is_signer and not is_builder:
            tier = SIGNERS
        elif is_builder and not is_signer:
            tier = BUILDERS
        self.hosts[host] = {"region": region, "tier": tier, "ok": True, "manifest_sha": None,
                            "identity_hash": None, "errors": 0, "warnings": 0}
        if not regions:
            self.add(None, host, "REGION_UNKNOWN", "not in any region group (%s)" % ", ".join(exp.regions))
        elif len(regions) > 1:
            self.add(region, host, "REGION_AMBIGUOUS", "in several region groups: %s" % ", ".join(regions))
        if is_signer and is_builder:
            self.add(region, host, "TIER_AMBIGUOUS", "in both the signers and the builders group")
        elif tier is None:
            self.add(region, host, "TIER_UNKNOWN", "in neither the signers nor the builders group")

        result = self.facts.get(host)
        if result is None:
            self.add(region, host, "NO_FACTS", "no signing_info result for this host")
            return
        if not isinstance(result, Mapping):
            raise ParityInputError("hostvars_subset[%r]" % host, "must be a signing_info result (dict), not %s"
                                   % _type_name(result))
        if result.get("unreachable"):
            self.add(region, host, "UNREACHABLE", "unreachable: %s" % (result.get("msg") or "no message"))
            return
        if result.get("failed"):
            self.add(region, host, "FACTS_FAILED", "signing_info failed: %s" % (result.get("msg") or "no message"))
            return
        if result.get("skipped"):
            self.add(region, host, "NO_FACTS", "the signing_info task was skipped on this host")
            return
        _HostCheck(self, host, region, tier, result).run()

    # -- mesh-wide checks --------------------------------------------------------------------

    def _key_copies(self):
        limit = self.exp.max_key_copies
        for sha1, hosts in self.key_holders.items():
            if len(hosts) <= limit:
                continue
            message = "identity %s (%s) is held by %d hosts (max %d): %s" % (
                sha1, self.key_names.get(sha1, "?"), len(hosts), limit, _host_list(hosts))
            for host in hosts:
                self.add(self.hosts[host]["region"], host, "KEY_COPIES_EXCEEDED", message)

    def _ranked(self, hash_hosts):
        """Hashes ranked: the declared set first, then by number of hosts, then by value."""
        declared = self.exp.declared_hash
        return sorted(hash_hosts, key=lambda value: (value != declared, -len(hash_hosts[value]), value))

    def _identity_hashes(self):
        empty = identity_hash([])
        populated = dict((value, hosts) for value, hosts in self.hash_hosts.items() if value != empty)
        limit = self.exp.max_identity_hashes
        ranked = self._ranked(populated)
        if len(ranked) <= limit:
            return
        allowed = ", ".join(_short(value) for value in ranked[:limit])
        for value in ranked[limit:]:
            for host in populated[value]:
                self.add(self.hosts[host]["region"], host, "IDENTITY_HASHES_EXCEEDED",
                         "identity set %s would be set %d of at most %d in the mesh (kept: %s): this host is "
                         "blocked until a rotation retires a set" % (_short(value), len(ranked), limit, allowed))

    def _identity_set_divergence(self):
        ranked = self._ranked(self.holder_hashes)
        for value in ranked[1:]:
            for host in self.holder_hashes[value]:
                self.add(self.hosts[host]["region"], host, "IDENTITY_SET_DIVERGES",
                         "identity set %s differs from the mesh's set %s (%d hosts)"
                         % (_short(value), _short(ranked[0]), len(self.holder_hashes[ranked[0]])))

    def _tier_divergence(self):
        for tier in sorted(self.tier_shas):
            shas = self.tier_shas[tier]
            if len(shas) < 2:
                continue
            ranked = sorted(shas, key=lambda value: (value != self.exp.manifest_sha, -len(shas[value]), value))
            summary = ", ".join("%s (%d)" % (_short(value), len(shas[value])) for value in ranked)
            for value in ranked[1:]:
                for host in shas[value]:
                    self.add(self.hosts[host]["region"], host, "MANIFEST_SHA_DIVERGES_IN_TIER",
                             "tier %s runs %d manifests: %s" % (tier, len(shas), summary))

    def _secret_versions(self):
        for item in version_findings(self.host_versions, dict((host, info["region"]) for host, info in self.hosts.items()),
                                     self.exp.secret_versions):
            self.add(item["region"], item["host"], item["code"], item["message"], item["severity"])

    def _result(self, region_hosts):
        self.findings.sort(key=lambda item: (item[0] or "", item[1] or "", item[2], item[4]))
        findings = []
        regions = dict((region, {"ok": True, "hosts": sorted(hosts), "errors": 0, "warnings": 0})
                       for region, hosts in region_hosts.items())
        codes = {}
        errors = warnings = 0
        for region, host, code, severity, message in self.findings:
            findings.append({"severity": severity, "code": code, "host": host, "region": region, "message": message})
            codes[code] = codes.get(code, 0) + 1
            counter = "errors" if severity == ERROR else "warnings"
            if severity == ERROR:
                errors += 1
            else:
                warnings += 1
            if host is not None:
                self.hosts[host][counter] += 1
                if severity == ERROR:
                    self.hosts[host]["ok"] = False
            if region in regions:
                regions[region][counter] += 1
                if severity == ERROR:
                    regions[region]["ok"] = False
        identity_hashes = dict((value, sorted(hosts)) for value, hosts in self.hash_hosts.items())
        manifest_shas = {}
        for host, info in self.hosts.items():
            if info["manifest_sha"] is not None:
                manifest_shas.setdefault(info["manifest_sha"], []).append(host)
        outcome = dict((code, 0) for code in ("UNREACHABLE", "FACTS_FAILED", "NO_FACTS"))
        for code in outcome:
            outcome[code] = len(set(item[1] for item in self.findings if item[2] == code))
        summary = {
            "hosts": len(self.hosts),
            "hosts_ok": sum(1 for info in self.hosts.values() if info["ok"]),
            "unreachable": outcome["UNREACHABLE"],
            "failed": outcome["FACTS_FAILED"],
            "no_facts": outcome["NO_FACTS"],
            "errors": errors,
            "warnings": warnings,
            "codes": codes,
            "topology": self.exp.topology,
            "now": self.exp.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "manifest_sha": self.exp.manifest_sha,
            "manifest_shas": dict((value, sorted(hosts)) for value, hosts in manifest_shas.items()),
            "identity_hashes": identity_hashes,
        }
        return {"ok": errors == 0, "findings": findings, "hosts": self.hosts, "regions": regions, "summary": summary}
