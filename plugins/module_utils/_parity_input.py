# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""Input checks of mesh parity: the validated ``expected`` argument, time parsing, and the input error.

Standard library only, Python 3.9.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from collections.abc import Mapping

from ansible_collections.macmesh.signing.plugins.module_utils import _layout
from ansible_collections.macmesh.signing.plugins.module_utils._secret_versions import SecretVersionError, read_document
from ansible_collections.macmesh.signing.plugins.module_utils._identity import identity_hash, normalise_sha1
from ansible_collections.macmesh.signing.plugins.module_utils._manifest import ManifestError, parse_time, validate_manifest

DEFAULT_KEYCHAIN_PATH = _layout.LAYOUT["keychain_path"]
DEFAULT_PROFILE_ROOT = _layout.LAYOUT["profile_root"]
DEFAULT_KEYCHAIN_OWNER = _layout.LAYOUT["user"]
DEFAULT_KEYCHAIN_MODE = _layout.LAYOUT["keychain_mode"]
TOPOLOGIES = _layout.TOPOLOGIES
_EXPECTED_KEYS = (
    "manifest", "regions", "keychain_path", "keychain_owner", "keychain_mode", "wrapper_sha256", "profile_root", "topology", "max_key_copies",
    "max_identity_hashes", "declared_identities", "per_runner_identities", "certificate_expiry",
    "keychain_settings", "cert_warn_days", "cert_error_days", "overlap_min_days", "overlap_max_days",
    "max_clock_offset", "max_clock_offset_error", "now", "signer_group", "builder_group", "release", "agent",
    "secret_versions",
)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
_MODE_RE = re.compile(r"^0[0-7]{3}\Z")
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


def _type_name(value):
    return "null" if value is None else type(value).__name__


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
        # The CI agent checks (see _agent.agent_findings) and the versions the vault lookups return.
        self.agent = expected.get("agent") or {}
        if not isinstance(self.agent, Mapping):
            raise ParityInputError("expected.agent", "must be a dict, not %s" % _type_name(self.agent))
        try:
            self.secret_versions = read_document({"secrets": expected.get("secret_versions") or {}},
                                                 "expected.secret_versions")
        except SecretVersionError as exc:
            raise ParityInputError(exc.field, exc.message)

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
