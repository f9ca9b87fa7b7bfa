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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from collections.abc import Mapping

from ansible_collections.macmesh.signing.plugins.module_utils import _layout, _release
from ansible_collections.macmesh.signing.plugins.module_utils._identity import identity_hash, normalise_sha1
from ansible_collections.macmesh.signing.plugins.module_utils._manifest import (
    ManifestError,
    compare_profiles,
    parse_time,
    validate_manifest,
)


DEFAULT_KEYCHAIN_PATH = _layout.LAYOUT["keychain_path"]
DEFAULT_PROFILE_ROOT = _layout.LAYOUT["profile_root"]
DEFAULT_KEYCHAIN_OWNER = _layout.LAYOUT["user"]
DEFAULT_KEYCHAIN_MODE = _layout.LAYOUT["keychain_mode"]
TOPOLOGIES = _layout.TOPOLOGIES
# Tier names as they appear in findings and verdicts; the inventory groups behind them are
# expected.signer_group / expected.builder_group.
SIGNERS = "signers"
BUILDERS = "builders"
ERROR = "error"
# signing_info's reason for a part left out of its ``gather`` option.
NOT_GATHERED = "not gathered"
WARNING = "warning"

# Every finding code with the severity it normally carries and what it means. Codes are a
# stable interface: reports and playbooks match on them.
CODES = {
    "UNREACHABLE": (ERROR, "the host could not be reached; its other checks were not evaluated"),
    "FACTS_FAILED": (ERROR, "the signing_info task failed on the host"),
    "NO_FACTS": (ERROR, "the host is in a region group but no signing_info result was given (or it was skipped)"),
    "FACT_UNAVAILABLE": (ERROR, "signing_info could not read a field (warning for informational fields)"),
    "REGION_UNKNOWN": (ERROR, "the host is in none of the expected region groups"),
    "REGION_AMBIGUOUS": (ERROR, "the host is in several region groups"),
    "REGION_EMPTY": (ERROR, "an expected region has no host"),
    "TIER_UNKNOWN": (ERROR, "the host is in neither the signers nor the builders group"),
    "TIER_AMBIGUOUS": (ERROR, "the host is in both the signers and the builders group"),
    "MANIFEST_DRIFT": (ERROR, "the active manifest is not the expected one (or there is none)"),
    "MANIFEST_SHA_DIVERGES_IN_TIER": (WARNING, "hosts of one tier run different manifests"),
    "PROFILE_MISSING": (ERROR, "a manifest profile is not installed"),
    "PROFILE_EXTRA": (ERROR, "an installed profile is not in the manifest"),
    "PROFILE_SHA_MISMATCH": (ERROR, "an installed profile differs from its manifest entry"),
    "PROFILE_EXPIRED": (ERROR, "an installed profile has expired"),
    "PROFILE_UNREADABLE": (ERROR, "a file in a profile directory could not be read as a profile"),
    "PROFILE_OVERLAP_NO_SUCCESSOR": (WARNING, "a profile is in its overlap window and the manifest has no successor "
                                              "(error once fewer than overlap_min_days are left)"),
    "DUPLICATE_UUID": (ERROR, "a profile UUID is present in both Xcode profile directories"),
    "PROFILE_DIR_WRITABLE": (ERROR, "the CI user can write to a profile directory"),
    "PROFILE_IN_CACHE": (ERROR, "a profile or profile directory lives under DerivedData or Caches"),
    "PROFILE_ROOT_MISMATCH": (ERROR, "a profile directory or the active manifest is not under profile_root"),
    "KEY_ON_BUILDER": (ERROR, "a builder holds a signing identity (dedicated topology)"),
    "IDENTITY_UNDECLARED": (ERROR, "a host holds an identity it is not declared to hold"),
    "IDENTITY_MISSING": (ERROR, "a host lacks a valid identity it is declared to hold"),
    "KEY_COPIES_EXCEEDED": (ERROR, "an identity is held by more than max_key_copies hosts"),
    "IDENTITY_HASHES_EXCEEDED": (ERROR, "the mesh holds more than max_identity_hashes identity sets; "
                                        "hosts with the newest sets are blocked"),
    "IDENTITY_SET_DIVERGES": (WARNING, "a host's identity set differs from the mesh's usual set (distributed)"),
    "KEYCHAIN_PATH_MISMATCH": (ERROR, "the keychain inspected is not at keychain_path"),
    "KEYCHAIN_MISSING": (ERROR, "a signing host has no signing keychain"),
    "KEYCHAIN_SETTINGS": (ERROR, "the keychain timeout or lock-on-sleep differs from keychain_settings"),
    "KEYCHAIN_PERMISSIONS": (ERROR, "the keychain file is not owned by keychain_owner or its mode is not keychain_mode"),
    "WRAPPER_MISMATCH": (ERROR, "the unlock wrapper is missing or its sha256 differs from wrapper_sha256"),
    "SEARCH_LIST": (ERROR, "signing hosts: signing keychain not first; other hosts: signing keychain listed"),
    "CERT_EXPIRING": (WARNING, "a held certificate expires within cert_warn_days"),
    "CERT_EXPIRING_SOON": (ERROR, "a held certificate expires within cert_error_days"),
    "CERT_EXPIRED": (ERROR, "a held certificate has expired"),
    "CLOCK_OFFSET": (WARNING, "the host clock is off by more than max_clock_offset seconds "
                              "(error beyond max_clock_offset_error)"),
    "SECRET_FOUND": (ERROR, "the secret scan found a credential on the host (path and kind, never the value)"),
    "RELEASE_AHEAD": (ERROR, "the host records a newer release than the controller's current one (the controller's "
                             "releases/current is behind: a rotation promoted elsewhere, or current was moved back)"),
    "RELEASE_BEHIND": (ERROR, "the host records an older release than the controller's current one (enforce or the "
                              "bootstrap brings it up to date)"),
    "RELEASE_MISMATCH": (ERROR, "the host records a release with the current serial but other content (a release file "
                                "was edited after it was applied)"),
    "RELEASE_NOT_RECORDED": (WARNING, "the host records no release (bootstrapped before releases; enforce records it)"),
    "RELEASE_UNREADABLE": (ERROR, "the host's release record cannot be read"),
}

# signing_info fields, and whom their absence hurts: "all" hosts, key "holder"s only, or
# nobody ("info", a warning). Fields with a dedicated code when null are listed in _NULL_CODES.
# ``unavailable`` also names parts of fields; see _need.
_FIELD_NEED = {
    "identities": "all",
    "keychain": "holder",
    "search_list": "all",
    "profiles": "all",
    "profile_dirs": "all",
    "duplicate_uuids": "all",
    "active_manifest": "all",
    "wrapper": "holder",
    "default_keychain": "info",
    "hardware_fingerprint": "info",
    "macos_version": "info",
    "clock_offset": "info",
}
_NULL_CODES = ("keychain", "wrapper", "active_manifest", "release_state")
# Read from the same find-identity output as ``identities``: their absence is reported there.
_DERIVED = ("identity_hash", "summary_hash")

_EXPECTED_KEYS = (
    "manifest", "regions", "keychain_path", "keychain_owner", "keychain_mode", "wrapper_sha256", "profile_root", "topology", "max_key_copies",
    "max_identity_hashes", "declared_identities", "per_runner_identities", "certificate_expiry",
    "keychain_settings", "cert_warn_days", "cert_error_days", "overlap_min_days", "overlap_max_days",
    "max_clock_offset", "max_clock_offset_error", "now", "signer_group", "builder_group", "release",
)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MODE_RE = re.compile(r"^0[0-7]{3}$")
_CACHE_PARTS = ("DerivedData", "Caches")
_HOSTS_IN_MESSAGE = 5
_UTC = datetime.timezone.utc


class ParityInputError(ValueError):
    """An input of mesh_parity or expiring is malformed. ``field`` names it, e.g. ``expected.regions[2]``."""

    def __init__(self, field, message):
        self.field = field
        self.message = message
        super(ParityInputError, self).__init__("%s %s" % (field, message))


def to_utc(value, field):
    """Return an aware UTC datetime for a ``YYYY-MM-DDTHH:MM:SSZ`` string or a datetime (naive = UTC)."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            raise ParityInputError(field, "%r is not YYYY-MM-DDTHH:MM:SSZ" % (value,))
    raise ParityInputError(field, "must be a YYYY-MM-DDTHH:MM:SSZ string, not %s" % _type_name(value))


def current_time(now, field):
    """``now`` parsed by to_utc, or the current UTC time when it is None."""
    return datetime.datetime.now(_UTC) if now is None else to_utc(now, field)


def days_left(when, now):
    """Days (a float, negative when past) from ``now`` until ``when``."""
    return (when - now).total_seconds() / 86400.0


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


def _need(name):
    """Whom the absence of an ``unavailable`` entry hurts (see _FIELD_NEED), and whether it is only a warning."""
    if name in _FIELD_NEED:
        need = _FIELD_NEED[name]
        return need, need == "info"
    if name.startswith("profiles:"):
        # A profile directory that cannot be listed leaves the profile set incomplete.
        return "all", False
    if name == "certificates":
        # Only the certificate expiry checks need them; they fall back to expected.certificate_expiry.
        return "holder", True
    if name.startswith("keychain."):
        # Settings of a locked keychain cannot be read; the keychain itself was found.
        return "holder", True
    return "info", True


def _successor_keys(entry):
    """Keys under which a profile succeeds another: same team and name, and same bundle id when known.

    The last key is the most specific one the entry has.
    """
    keys = [("name", entry.get("team_id"), entry["name"])]
    if entry.get("bundle_id"):
        keys.append(("bundle", entry.get("team_id"), entry["bundle_id"]))
    return keys


def _type_name(value):
    return "null" if value is None else type(value).__name__


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _under(path, root):
    """Whether absolute ``path`` is ``root`` or inside it (string comparison: no filesystem here)."""
    root = root.rstrip("/")
    return path == root or path.startswith(root + "/")


def _in_cache(path):
    return any(part in _CACHE_PARTS for part in path.split("/"))


def _short(text):
    return text[:12] if isinstance(text, str) else repr(text)


def _host_list(hosts):
    hosts = sorted(hosts)
    shown = ", ".join(hosts[:_HOSTS_IN_MESSAGE])
    if len(hosts) > _HOSTS_IN_MESSAGE:
        shown += " and %d more" % (len(hosts) - _HOSTS_IN_MESSAGE)
    return shown


class _Expected(object):
    """The validated, normalised ``expected`` argument."""

    def __init__(self, expected):
        if not isinstance(expected, Mapping):
            raise ParityInputError("expected", "must be a dict, not %s" % _type_name(expected))
        unknown = sorted(str(key) for key in expected if key not in _EXPECTED_KEYS)
        if unknown:
            raise ParityInputError("expected.%s" % unknown[0], "is not a known option (known: %s)"
                                   % ", ".join(_EXPECTED_KEYS))
        self.now = current_time(expected.get("now"), "expected.now")
        self._manifest(expected.get("manifest"))
        self._regions(expected.get("regions"))
        self.keychain_path = self._path(expected, "keychain_path", DEFAULT_KEYCHAIN_PATH)
        self.profile_root = self._path(expected, "profile_root", DEFAULT_PROFILE_ROOT)
        self.keychain_owner = expected.get("keychain_owner", DEFAULT_KEYCHAIN_OWNER)
        if self.keychain_owner is not None and (not isinstance(self.keychain_owner, str) or not self.keychain_owner):
            raise ParityInputError("expected.keychain_owner", "must be a user name or null, not %r" % (self.keychain_owner,))
        self.keychain_mode = expected.get("keychain_mode", DEFAULT_KEYCHAIN_MODE)
        if self.keychain_mode is not None and (not isinstance(self.keychain_mode, str)
                                               or not _MODE_RE.match(self.keychain_mode)):
            raise ParityInputError("expected.keychain_mode", "must be a 4-digit octal mode such as '0600' or null, not %r"
                                   % (self.keychain_mode,))
        wrapper = expected.get("wrapper_sha256")
        if not isinstance(wrapper, str) or not _SHA256_RE.match(wrapper):
            raise ParityInputError("expected.wrapper_sha256", "must be 64 lowercase hex digits, not %r" % (wrapper,))
        self.wrapper_sha256 = wrapper
        self.signer_group = self._group_name(expected, "signer_group")
        self.builder_group = self._group_name(expected, "builder_group")
        self.topology = expected.get("topology", _layout.POLICY["topology"])
        if self.topology not in TOPOLOGIES:
            raise ParityInputError("expected.topology", "must be one of %s, not %r"
                                   % (", ".join(TOPOLOGIES), self.topology))
        self.max_key_copies = self._number(expected, "max_key_copies", _layout.POLICY["max_key_copies"], integer=True, minimum=1)
        self.max_identity_hashes = self._number(expected, "max_identity_hashes", _layout.POLICY["max_identity_hashes"], integer=True, minimum=1)
        self.cert_warn_days = self._number(expected, "cert_warn_days", _layout.POLICY["cert_warn_days"])
        self.cert_error_days = self._number(expected, "cert_error_days", _layout.POLICY["cert_error_days"])
        if self.cert_error_days > self.cert_warn_days:
            raise ParityInputError("expected.cert_error_days", "must not exceed cert_warn_days")
        self.overlap_min_days = self._number(expected, "overlap_min_days", _layout.POLICY["overlap_min_days"])
        self.overlap_max_days = self._number(expected, "overlap_max_days", _layout.POLICY["overlap_max_days"])
        if self.overlap_min_days > self.overlap_max_days:
            raise ParityInputError("expected.overlap_min_days", "must not exceed overlap_max_days")
        self.max_clock_offset = self._number(expected, "max_clock_offset", _layout.POLICY["max_clock_offset"])
        self.max_clock_offset_error = self._number(expected, "max_clock_offset_error", _layout.POLICY["max_clock_offset_error"])
        if self.max_clock_offset_error < self.max_clock_offset:
            raise ParityInputError("expected.max_clock_offset_error", "must not be below max_clock_offset")
        self._identities(expected)
        self._keychain_settings(expected.get("keychain_settings"))
        self._release(expected.get("release"))

    def _release(self, release):
        """{version, serial, sha256} of the controller's current release, or None (inventory mode: not checked)."""
        if release is None or (isinstance(release, Mapping) and release.get("serial") is None):
            self.release = None
            return
        if not isinstance(release, Mapping) or isinstance(release.get("serial"), bool) \
                or not isinstance(release.get("serial"), int):
            raise ParityInputError("expected.release", "must be {version, serial, sha256} of the current release or null")
        self.release = dict(release)

    @staticmethod
    def _group_name(expected, key):
        value = expected.get(key)
        if value is None:
            return _layout.GROUPS[key]
        if not isinstance(value, str) or not value:
            raise ParityInputError("expected.%s" % key, "must be an inventory group name, not %r" % (value,))
        return value

    def _manifest(self, manifest):
        self.profiles = None
        if isinstance(manifest, str):
            if not _SHA256_RE.match(manifest):
                raise ParityInputError("expected.manifest", "must be a manifest v1 dict or its 64-hex sha256, not %r"
                                       % (manifest,))
            self.manifest_sha = manifest
            return
        if not isinstance(manifest, Mapping):
            raise ParityInputError("expected.manifest", "must be a manifest v1 dict or its 64-hex sha256, not %s"
                                   % _type_name(manifest))
        manifest = dict(manifest)
        try:
            # Expired profiles and mixed teams are findings here, not reasons to refuse the input.
            validate_manifest(manifest, "expected.manifest", now=self.now, allow_expired=True, allow_mixed_teams=True)
        except ManifestError as exc:
            raise ParityInputError("expected.manifest.%s" % exc.field, exc.message)
        self.manifest_sha = manifest["sha256"]
        self.profiles = manifest["profiles"]

    def _regions(self, regions):
        if not isinstance(regions, (list, tuple)) or not regions:
            raise ParityInputError("expected.regions", "must be a non-empty list of group names, not %r" % (regions,))
        for index, region in enumerate(regions):
            if not isinstance(region, str) or not region:
                raise ParityInputError("expected.regions[%d]" % index, "must be a non-empty string")
        if len(set(regions)) != len(regions):
            raise ParityInputError("expected.regions", "lists a region twice")
        self.regions = list(regions)

    @staticmethod
    def _path(expected, key, default):
        value = expected.get(key, default)
        if not isinstance(value, str) or not value.startswith("/"):
            raise ParityInputError("expected.%s" % key, "must be an absolute path, not %r" % (value,))
        return value

    @staticmethod
    def _number(expected, key, default, integer=False, minimum=0):
        value = expected.get(key, default)
        if integer and (not isinstance(value, int) or isinstance(value, bool)):
            raise ParityInputError("expected.%s" % key, "must be an integer, not %r" % (value,))
        if not _is_number(value) or value < minimum:
            raise ParityInputError("expected.%s" % key, "must be a number >= %d, not %r" % (minimum, value))
        return value

    @staticmethod
    def _sha1(value, field):
        try:
            return normalise_sha1(value, field)
        except ValueError:
            raise ParityInputError(field, "must be a 40-hex SHA-1, not %r" % (value,))

    def _identities(self, expected):
        declared = expected.get("declared_identities")
        if declared is None and self.topology == "per_runner":
            declared = {}
        if not isinstance(declared, Mapping):
            raise ParityInputError("expected.declared_identities", "must be a dict of SHA-1 -> identity name, not %s"
                                   % _type_name(declared))
        self.declared = {}
        for sha1, name in declared.items():
            field = "expected.declared_identities[%r]" % (sha1,)
            if not isinstance(name, str):
                raise ParityInputError(field, "must be the identity name (a string), not %s" % _type_name(name))
            self.declared[self._sha1(sha1, field)] = name
        # The set a signer should hold, hashed like signing_info does, ranks first among the mesh's sets.
        self.declared_hash = identity_hash(
            [{"sha1": sha1, "name": name, "valid": True} for sha1, name in self.declared.items()]
        )

        self.per_runner = {}
        runners = expected.get("per_runner_identities")
        if self.topology == "per_runner":
            if not isinstance(runners, Mapping):
                raise ParityInputError("expected.per_runner_identities", "must be a dict of host -> list of SHA-1s "
                                       "when topology is per_runner, not %s" % _type_name(runners))
            for host, sha1s in runners.items():
                field = "expected.per_runner_identities[%r]" % (host,)
                if not isinstance(sha1s, (list, tuple)):
                    raise ParityInputError(field, "must be a list of SHA-1s, not %s" % _type_name(sha1s))
                self.per_runner[host] = frozenset(
                    self._sha1(sha1, "%s[%d]" % (field, index)) for index, sha1 in enumerate(sha1s)
                )
        elif runners is not None:
            raise ParityInputError("expected.per_runner_identities", "is only used with topology per_runner")

        expiry = expected.get("certificate_expiry", {})
        if not isinstance(expiry, Mapping):
            raise ParityInputError("expected.certificate_expiry", "must be a dict of SHA-1 -> expiry time, not %s"
                                   % _type_name(expiry))
        # Days left per certificate, computed once for the whole mesh.
        self.cert_days_left = {}
        for sha1, when in expiry.items():
            field = "expected.certificate_expiry[%r]" % (sha1,)
            self.cert_days_left[self._sha1(sha1, field)] = days_left(to_utc(when, field), self.now)

    def _keychain_settings(self, settings):
        self.keychain_settings = None
        if settings is None:
            return
        if not isinstance(settings, Mapping):
            raise ParityInputError("expected.keychain_settings", "must be a dict with timeout and lock_on_sleep, not %s"
                                   % _type_name(settings))
        unknown = sorted(str(key) for key in settings if key not in ("timeout", "lock_on_sleep"))
        if unknown:
            raise ParityInputError("expected.keychain_settings.%s" % unknown[0], "is not a known option")
        timeout = settings.get("timeout")
        if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0):
            raise ParityInputError("expected.keychain_settings.timeout",
                                   "must be a positive number of seconds or null (no timeout), not %r" % (timeout,))
        lock_on_sleep = settings.get("lock_on_sleep")
        if not isinstance(lock_on_sleep, bool):
            raise ParityInputError("expected.keychain_settings.lock_on_sleep",
                                   "must be a boolean, not %r" % (lock_on_sleep,))
        self.keychain_settings = {"timeout": timeout, "lock_on_sleep": lock_on_sleep}


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


class _HostCheck(object):
    """The checks on one reachable host's signing_info result."""

    def __init__(self, evaluation, host, region, tier, result):
        self.ev = evaluation
        self.exp = evaluation.exp
        self.host = host
        self.region = region
        self.tier = tier
        self.result = result
        self.where = "hostvars_subset[%r]" % host
        self.unavailable = {}
        self.cache_paths = set()  # DerivedData/Caches paths, reported once each
        # Whether this host should hold signing identities; None when its tier is unknown.
        if self.exp.topology == "per_runner":
            self.expected_keys = self.exp.per_runner.get(host, frozenset())
            self.holder = bool(self.expected_keys)
        elif tier is None:
            self.expected_keys = None
            self.holder = None
        else:
            self.holder = self.exp.topology == "distributed" or tier == SIGNERS
            self.expected_keys = frozenset(self.exp.declared) if self.holder else frozenset()

    def add(self, code, message, severity=None):
        self.ev.add(self.region, self.host, code, message, severity)

    def field(self, name, kinds, description):
        """The value of a field (None when null or absent), type-checked."""
        value = self.result.get(name)
        if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            raise ParityInputError("%s.%s" % (self.where, name), "must be %s, not %s" % (description, _type_name(value)))
        return value

    def reason(self, name):
        if name in self.unavailable:
            return str(self.unavailable[name])
        return "not reported" if name not in self.result else "null, no reason given"

    def run(self):
        self.unavailable = self.field("unavailable", (Mapping,), "a dict") or {}
        self._unavailable()
        self._identities()
        self._keychain()
        self._search_list()
        self._wrapper()
        self._active_manifest()
        self._profiles()
        self._profile_dirs()
        self._duplicates()
        self._clock()
        self._secrets()
        self._release_state()

    def _unavailable(self):
        """FACT_UNAVAILABLE for every value signing_info could not read, as severe as the checks it blocks."""
        for name in sorted(set(str(name) for name in self.unavailable) | set(_FIELD_NEED)):
            if name in _DERIVED:
                continue
            if self.result.get(name) is not None:
                if name not in self.unavailable:
                    continue
            elif name in _NULL_CODES:
                continue  # reported with its own code by the check that needs the field
            need, warning = _need(name)
            if need == "holder" and not self.holder:
                continue
            if need == "info" and self.unavailable.get(name) == NOT_GATHERED:
                # The caller chose not to read an informational field; no check misses it.
                continue
            self.add("FACT_UNAVAILABLE", "%s: %s" % (name, self.reason(name)), WARNING if warning else ERROR)

    def _identities(self):
        exp = self.exp
        identities = self.field("identities", (list, tuple), "a list")
        if identities is None:
            return
        held = {}
        for index, identity in enumerate(identities):
            where = "%s.identities[%d]" % (self.where, index)
            if not isinstance(identity, Mapping):
                raise ParityInputError(where, "must be a dict")
            sha1, name, valid = identity.get("sha1"), identity.get("name"), identity.get("valid")
            if not isinstance(sha1, str) or not isinstance(name, str) or not isinstance(valid, bool):
                raise ParityInputError(where, "must have sha1 (string), name (string) and valid (boolean)")
            sha1 = sha1.upper()
            held[sha1] = held.get(sha1, False) or valid
            self.ev.key_names.setdefault(sha1, name)
        value = self.field("identity_hash", (str,), "a string") or identity_hash(identities)
        self.ev.hosts[self.host]["identity_hash"] = value
        self.ev.hash_hosts.setdefault(value, []).append(self.host)
        if self.holder:
            self.ev.holder_hashes.setdefault(value, []).append(self.host)

        host_certs = self._certificates()
        for sha1 in sorted(held):
            self.ev.key_holders.setdefault(sha1, []).append(self.host)
            if sha1 in host_certs:
                left = self.ev.time(host_certs[sha1], "%s.certificates.not_after" % self.where)[1]
            else:
                left = exp.cert_days_left.get(sha1)
            if left is None:
                continue
            name = self.ev.key_names[sha1]
            if left <= 0:
                self.add("CERT_EXPIRED", "certificate %s (%s) expired %.1f days ago" % (sha1, name, -left))
            elif left < exp.cert_error_days:
                self.add("CERT_EXPIRING_SOON", "certificate %s (%s) expires in %.1f days (< %s)"
                         % (sha1, name, left, exp.cert_error_days))
            elif left < exp.cert_warn_days:
                self.add("CERT_EXPIRING", "certificate %s (%s) expires in %.1f days (< %s)"
                         % (sha1, name, left, exp.cert_warn_days))

        if self.expected_keys is None:
            return
        for sha1 in sorted(self.expected_keys):
            if sha1 not in held:
                self.add("IDENTITY_MISSING", "declared identity %s (%s) is not in the keychain"
                         % (sha1, exp.declared.get(sha1, "?")))
            elif not held[sha1]:
                self.add("IDENTITY_MISSING", "declared identity %s (%s) is present but not valid"
                         % (sha1, exp.declared.get(sha1, "?")))
        for sha1 in sorted(set(held) - self.expected_keys):
            name = self.ev.key_names[sha1]
            if not self.holder and exp.topology == "dedicated":
                self.add("KEY_ON_BUILDER", "builder holds identity %s (%s): keys belong on signers only" % (sha1, name))
            else:
                self.add("IDENTITY_UNDECLARED", "identity %s (%s) is not declared for this host" % (sha1, name))

    def _certificates(self):
        """SHA-1 -> not_after of the certificates signing_info read from the keychain (empty when not reported)."""
        certificates = self.field("certificates", (list, tuple), "a list")
        found = {}
        for index, cert in enumerate(certificates or ()):
            where = "%s.certificates[%d]" % (self.where, index)
            if not isinstance(cert, Mapping) or not isinstance(cert.get("sha1"), str) \
                    or not isinstance(cert.get("not_after"), str):
                raise ParityInputError(where, "must have sha1 and not_after (strings)")
            found[cert["sha1"].upper()] = cert["not_after"]
        return found

    def _keychain(self):
        exp = self.exp
        keychain = self.field("keychain", (Mapping,), "a dict")
        if keychain is None:
            if self.holder:
                self.add("KEYCHAIN_MISSING", "signing keychain unavailable: %s" % self.reason("keychain"))
            return
        path = keychain.get("path")
        if path != exp.keychain_path:
            self.add("KEYCHAIN_PATH_MISMATCH", "keychain inspected is %r, expected %r" % (path, exp.keychain_path))
        if keychain.get("exists"):
            owner, mode = keychain.get("owner"), keychain.get("mode")
            wrong = []
            if exp.keychain_owner is not None and owner is not None and owner != exp.keychain_owner:
                wrong.append("owner %s (expected %s)" % (owner, exp.keychain_owner))
            if exp.keychain_mode is not None and mode is not None and mode != exp.keychain_mode:
                wrong.append("mode %s (expected %s)" % (mode, exp.keychain_mode))
            if wrong:
                self.add("KEYCHAIN_PERMISSIONS", "keychain %s has %s" % (path, " and ".join(wrong)))
        if not self.holder:
            return
        if not keychain.get("exists"):
            self.add("KEYCHAIN_MISSING", "signing keychain %s does not exist" % exp.keychain_path)
            return
        wanted = exp.keychain_settings
        if wanted is None:
            return
        for key in ("lock_on_sleep", "timeout"):
            # Unreadable (locked keychain) is reported by _unavailable; null is "no timeout" otherwise.
            if "keychain." + key in self.unavailable:
                continue
            if keychain.get(key) != wanted[key]:
                self.add("KEYCHAIN_SETTINGS", "keychain %s is %r, policy says %r" % (key, keychain.get(key), wanted[key]))

    def _search_list(self):
        search_list = self.field("search_list", (list, tuple), "a list")
        if search_list is None or self.holder is None:
            return
        path = self.exp.keychain_path
        if self.holder:
            if not search_list:
                self.add("SEARCH_LIST", "search list is empty: %s must be first" % path)
            elif search_list[0] != path:
                where = ("at position %d" % (list(search_list).index(path) + 1)) if path in search_list else "absent"
                self.add("SEARCH_LIST", "signing keychain is %s; %s must be first (first is %s)"
                         % (where, path, search_list[0]))
        elif path in search_list:
            self.add("SEARCH_LIST", "signing keychain %s is on the search list of a host that must not sign" % path)

    def _wrapper(self):
        wrapper = self.field("wrapper", (Mapping,), "a dict")
        if wrapper is None:
            if self.holder:
                self.add("WRAPPER_MISMATCH", "unlock wrapper unavailable: %s" % self.reason("wrapper"))
            return
        if wrapper.get("sha256") != self.exp.wrapper_sha256:
            self.add("WRAPPER_MISMATCH", "unlock wrapper %s has sha256 %s, expected %s"
                     % (wrapper.get("path"), wrapper.get("sha256"), self.exp.wrapper_sha256))

    def _active_manifest(self):
        exp = self.exp
        active = self.field("active_manifest", (Mapping,), "a dict")
        if active is None:
            self.add("MANIFEST_DRIFT", "no active manifest: %s" % self.reason("active_manifest"))
            return
        sha = active.get("sha256")
        self.ev.hosts[self.host]["manifest_sha"] = sha
        if self.tier is not None and isinstance(sha, str):
            self.ev.tier_shas.setdefault(self.tier, {}).setdefault(sha, []).append(self.host)
        if sha != exp.manifest_sha:
            self.add("MANIFEST_DRIFT", "active manifest is %s (version %s), expected %s"
                     % (sha, active.get("version"), exp.manifest_sha))
        path = active.get("path")
        if not isinstance(path, str) or not _under(path, exp.profile_root):
            self.add("PROFILE_ROOT_MISMATCH", "active manifest path %r is not under %s" % (path, exp.profile_root))

    def _profiles(self):
        exp = self.exp
        profiles = self.field("profiles", (list, tuple), "a list")
        if profiles is None:
            return
        installed = {}
        readable = []
        for index, profile in enumerate(profiles):
            if not isinstance(profile, Mapping):
                raise ParityInputError("%s.profiles[%d]" % (self.where, index), "must be a dict")
            if profile.get("error") is not None:
                where = "%s in %s" % (profile.get("filename"), profile.get("directory"))
                self.add("PROFILE_UNREADABLE", "%s: %s" % (where, profile["error"]))
                continue
            for key in ("uuid", "name", "expires", "sha256"):
                if not isinstance(profile.get(key), str):
                    raise ParityInputError("%s.profiles[%d].%s" % (self.where, index, key), "must be a string")
            readable.append(profile)
            installed.setdefault(profile["uuid"].lower(), profile)
            directory = profile.get("directory")
            if isinstance(directory, str) and self.ev.in_cache(directory):
                self.cache_paths.add(directory)

        # Most hosts hold exactly the manifest: a set comparison spares them the full comparison.
        if exp.profiles is not None and (
            len(installed) != len(readable)
            or set((key, profile["sha256"]) for key, profile in installed.items()) != self.ev.manifest_pairs
        ):
            codes = {"missing": "PROFILE_MISSING", "unexpected": "PROFILE_EXTRA", "sha256_mismatch": "PROFILE_SHA_MISMATCH"}
            for item in compare_profiles(exp.profiles, readable):
                entry = self.ev.by_uuid.get(item["uuid"].lower())
                name = entry["name"] if entry else installed.get(item["uuid"].lower(), {}).get("name")
                self.add(codes[item["kind"]], "profile %s (%s): expected sha256 %s, installed %s"
                         % (item["uuid"], name, item["expected"], item["actual"]))

        latest = self.ev.latest if self.ev.latest is not None else self.ev.latest_expiry(installed.values())
        for key in sorted(installed):
            profile = installed[key]
            when, left = self.ev.time(profile["expires"], "%s.profiles.expires" % self.where)
            label = "profile %s (%s)" % (profile["uuid"], profile["name"])
            if left <= 0:
                self.add("PROFILE_EXPIRED", "%s expired %.1f days ago" % (label, -left))
                continue
            if left > exp.overlap_max_days:
                continue
            entry = self.ev.by_uuid.get(key) or profile
            keys = _successor_keys(entry)
            # Match on the bundle id when the manifest knows it, else on the name.
            successor = latest.get(keys[-1])
            if successor is not None and successor > when:
                continue
            severity = ERROR if left < exp.overlap_min_days else WARNING
            self.add("PROFILE_OVERLAP_NO_SUCCESSOR", "%s expires in %.1f days and the manifest has no successor "
                     "(same team and %s, later expiry)" % (label, left, keys[-1][0] == "bundle" and "bundle id" or "name"),
                     severity)

    def _profile_dirs(self):
        exp = self.exp
        dirs = self.field("profile_dirs", (Mapping,), "a dict")
        for directory in sorted(dirs or {}):
            info = dirs[directory]
            where = "%s.profile_dirs[%r]" % (self.where, directory)
            if not isinstance(info, Mapping) or not isinstance(directory, str):
                raise ParityInputError(where, "must map a directory path to a dict")
            target = info.get("target")
            if self.ev.in_cache(directory):
                self.cache_paths.add(directory)
            if isinstance(target, str) and self.ev.in_cache(target):
                self.cache_paths.add(target)
            if info.get("writable_by_user"):
                self.add("PROFILE_DIR_WRITABLE", "%s is writable by the CI user" % directory)
            if not info.get("exists"):
                self.add("PROFILE_ROOT_MISMATCH", "%s does not exist: it must link into %s" % (directory, exp.profile_root))
            elif not info.get("is_symlink"):
                self.add("PROFILE_ROOT_MISMATCH", "%s is a real directory: it must link into %s"
                         % (directory, exp.profile_root))
            elif not isinstance(target, str) or not _under(target, exp.profile_root):
                self.add("PROFILE_ROOT_MISMATCH", "%s links to %r, not into %s" % (directory, target, exp.profile_root))
        for path in sorted(self.cache_paths):
            self.add("PROFILE_IN_CACHE", "profiles found under a cache directory: %s" % path)

    def _duplicates(self):
        duplicates = self.field("duplicate_uuids", (list, tuple), "a list")
        for uuid in sorted(set(duplicates or ())):
            self.add("DUPLICATE_UUID", "profile %s is present in both Xcode profile directories" % uuid)

    def _clock(self):
        offset = self.field("clock_offset", (int, float), "a number")
        if offset is not None and abs(offset) > self.exp.max_clock_offset:
            # Code signature timestamps and certificate validity checks go wrong well before minutes of skew.
            severity = ERROR if abs(offset) > self.exp.max_clock_offset_error else WARNING
            self.add("CLOCK_OFFSET", "clock is off by %+.3f s (max %s s, error beyond %s s)"
                     % (offset, self.exp.max_clock_offset, self.exp.max_clock_offset_error), severity)

    def _release_state(self):
        """RELEASE_* when the host's release record differs from the controller's current release."""
        expected = self.exp.release
        if expected is None:
            return
        reason = self.unavailable.get("release_state")
        if reason == NOT_GATHERED:
            return
        record = self.result.get("release_state")
        if record is None:
            if reason:
                self.add("RELEASE_UNREADABLE", "release_state: %s" % reason)
            else:
                self.add("RELEASE_NOT_RECORDED", "records no release; the controller's current release is %s (serial %s)"
                         % (expected.get("version"), expected.get("serial")))
            return
        relation = _release.relation(record, expected)
        node = record.get("release") if isinstance(record, Mapping) else {}
        what = "runs release %s (serial %s); the controller's current release is %s (serial %s)" % (
            node.get("version"), node.get("serial"), expected.get("version"), expected.get("serial"))
        if relation == "ahead":
            self.add("RELEASE_AHEAD", what)
        elif relation == "behind":
            self.add("RELEASE_BEHIND", what)
        elif relation == "mismatch":
            self.add("RELEASE_MISMATCH", what + ", with other content")
        elif relation == "none":
            self.add("RELEASE_UNREADABLE", "release_state: has no release serial")

    def _secrets(self):
        """SECRET_FOUND per secret_scan finding merged into the result as ``secrets`` (absent: not scanned)."""
        secrets = self.field("secrets", (list, tuple), "a list")
        for index, item in enumerate(secrets or ()):
            if not isinstance(item, Mapping) or not isinstance(item.get("path"), str) or not isinstance(item.get("kind"), str):
                raise ParityInputError("%s.secrets[%d]" % (self.where, index), "must have path and kind (strings)")
            line = item.get("line")
            where = item["path"] if not line else "%s line %s" % (item["path"], line)
            self.add("SECRET_FOUND", "%s found in %s" % (item["kind"], where))
