# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The frozen profile manifest (``profiles.json``, schema 1): building, hashing, validating.

The manifest's ``sha256`` covers only the ``profiles`` list (canonical JSON), never the
version label or any run timestamp, so the same set of profiles always yields the same
hash: that hash names the version directory on every node. Standard library only,
because nodes read manifests back with /usr/bin/python3.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import re


SCHEMA = 1
PROFILE_EXTENSIONS = (".mobileprovision", ".provisionprofile")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\Z")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
_SHA1_RE = re.compile(r"^[0-9A-F]{40}\Z")

_TOP_KEYS = ("schema", "version", "sha256", "profiles")
# Manifest v1 entry: key -> (accepted types, description used in errors).
_ENTRY_FIELDS = {
    "uuid": ((str,), "a string"),
    "name": ((str,), "a string"),
    "filename": ((str,), "a string"),
    "team_id": ((str,), "a string"),
    "team_name": ((str, type(None)), "a string or null"),
    "app_id": ((str,), "a string"),
    "bundle_id": ((str,), "a string"),
    "platforms": ((list,), "a list"),
    "created": ((str,), "a string"),
    "expires": ((str,), "a string"),
    "certificates": ((list,), "a list"),
    "devices": ((int,), "an integer"),
    "provisions_all_devices": ((bool,), "a boolean"),
    "sha256": ((str,), "a string"),
}


class ManifestError(Exception):
    """A manifest is invalid. ``source`` names the manifest, ``field`` the offending part.

    ``uuid`` is set when the error concerns one profile, so callers can point at the
    file that profile came from.
    """

    def __init__(self, source, field, message, uuid=None):
        self.source = source
        self.field = field
        self.message = message
        self.uuid = uuid
        super(ManifestError, self).__init__("%s: %s: %s" % (source, field, message))


def canonical_json(obj):
    """UTF-8 JSON with sorted keys and no whitespace: the bytes that get hashed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def profiles_sha256(profiles):
    """sha256 hex of the canonical JSON of a manifest's ``profiles`` list."""
    return hashlib.sha256(canonical_json(profiles)).hexdigest()


def manifest_entry(profile, filename):
    """Turn a parsed profile (see _profile.parse_profile) into a manifest v1 entry."""
    return {
        "uuid": profile["uuid"],
        "name": profile["name"],
        "filename": filename,
        "team_id": profile["team_id"],
        "team_name": profile["team_name"],
        "app_id": profile["app_id"],
        "bundle_id": profile["bundle_id"],
        "platforms": list(profile["platforms"]),
        "created": profile["created"],
        "expires": profile["expires"],
        "certificates": [certificate["sha1"] for certificate in profile["certificates"]],
        "devices": profile["devices"],
        "provisions_all_devices": profile["provisions_all_devices"],
        "sha256": profile["sha256"],
    }


def build_manifest(entries, version):
    """Return the manifest for ``entries``, sorted by UUID so the hash ignores input order."""
    profiles = sorted(entries, key=lambda entry: (entry["uuid"].lower(), entry["filename"]))
    return {
        "schema": SCHEMA,
        "version": version,
        "sha256": profiles_sha256(profiles),
        "profiles": profiles,
    }


def parse_time(value):
    """Parse a ``YYYY-MM-DDTHH:MM:SSZ`` string into an aware UTC datetime (ValueError otherwise)."""
    return datetime.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)


def _validate_entry(entry, index, source, now, allow_expired):
    where = "profiles[%d]" % index
    if not isinstance(entry, dict):
        raise ManifestError(source, where, "must be an object")
    uuid = entry.get("uuid") if isinstance(entry.get("uuid"), str) else None
    unknown = sorted(set(entry) - set(_ENTRY_FIELDS))
    if unknown:
        raise ManifestError(source, "%s.%s" % (where, unknown[0]), "unknown key in a schema %d entry" % SCHEMA, uuid)
    for key in sorted(_ENTRY_FIELDS):
        kinds, description = _ENTRY_FIELDS[key]
        if key not in entry:
            raise ManifestError(source, "%s.%s" % (where, key), "missing", uuid)
        value = entry[key]
        # bool is an int subclass: only provisions_all_devices may be a boolean.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ManifestError(source, "%s.%s" % (where, key), "must be %s" % description, uuid)

    if not _UUID_RE.match(uuid):
        raise ManifestError(source, where + ".uuid", "%r is not a UUID" % uuid, uuid)
    filename = entry["filename"]
    if "/" in filename or "\\" in filename or ".." in filename:
        raise ManifestError(source, where + ".filename", "%r must be a bare file name" % filename, uuid)
    if filename not in [uuid + extension for extension in PROFILE_EXTENSIONS]:
        raise ManifestError(
            source, where + ".filename", "%r must be %s.mobileprovision or %s.provisionprofile" % (filename, uuid, uuid), uuid
        )
    if not entry["team_id"]:
        raise ManifestError(source, where + ".team_id", "must not be empty", uuid)
    if not all(isinstance(platform, str) for platform in entry["platforms"]):
        raise ManifestError(source, where + ".platforms", "must be a list of strings", uuid)
    certificates = entry["certificates"]
    if not certificates or not all(isinstance(sha1, str) and _SHA1_RE.match(sha1) for sha1 in certificates):
        raise ManifestError(source, where + ".certificates", "must be a non-empty list of 40 uppercase hex SHA-1s", uuid)
    if entry["devices"] < 0:
        raise ManifestError(source, where + ".devices", "must not be negative", uuid)
    if not _SHA256_RE.match(entry["sha256"]):
        raise ManifestError(source, where + ".sha256", "must be 64 lowercase hex digits", uuid)
    for key in ("created", "expires"):
        try:
            parse_time(entry[key])
        except ValueError:
            raise ManifestError(source, "%s.%s" % (where, key), "%r is not YYYY-MM-DDTHH:MM:SSZ" % entry[key], uuid)
    if not allow_expired and parse_time(entry["expires"]) <= now:
        raise ManifestError(
            source, where + ".expires", "profile %s (%s) expired at %s" % (uuid, entry["name"], entry["expires"]), uuid
        )


def validate_manifest(manifest, source, now=None, allow_expired=False, allow_mixed_teams=False):
    """Check a manifest against schema 1; raise ManifestError on the first problem.

    ``now`` (an aware datetime, default: the current time) decides which profiles are expired.
    """
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    if not isinstance(manifest, dict):
        raise ManifestError(source, "manifest", "must be a JSON object")
    for key in _TOP_KEYS:
        if key not in manifest:
            raise ManifestError(source, key, "missing")
    unknown = sorted(set(manifest) - set(_TOP_KEYS))
    if unknown:
        raise ManifestError(source, unknown[0], "unknown key in a schema %d manifest" % SCHEMA)
    if manifest["schema"] != SCHEMA or isinstance(manifest["schema"], bool):
        raise ManifestError(source, "schema", "%r is not supported (expected %d)" % (manifest["schema"], SCHEMA))
    if not isinstance(manifest["version"], str) or not manifest["version"]:
        raise ManifestError(source, "version", "must be a non-empty string")
    profiles = manifest["profiles"]
    if not isinstance(profiles, list):
        raise ManifestError(source, "profiles", "must be a list")

    seen = {}
    for index, entry in enumerate(profiles):
        _validate_entry(entry, index, source, now, allow_expired)
        # Compared case-insensitively: APFS is, so two such files would collide on a node.
        key = entry["uuid"].lower()
        if key in seen:
            raise ManifestError(
                source, "profiles[%d].uuid" % index, "duplicate UUID %s (also profiles[%d])" % (entry["uuid"], seen[key]),
                entry["uuid"],
            )
        seen[key] = index

    teams = {}
    for index, entry in enumerate(profiles):
        teams.setdefault(entry["team_id"], []).append("profiles[%d] (%s)" % (index, entry["filename"]))
    if len(teams) > 1 and not allow_mixed_teams:
        raise ManifestError(source, "team_id", "profiles belong to several teams: %s" % "; ".join(
            "%s: %s" % (team, ", ".join(teams[team])) for team in sorted(teams)))

    sha256 = manifest["sha256"]
    if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
        raise ManifestError(source, "sha256", "must be 64 lowercase hex digits")
    actual = profiles_sha256(profiles)
    if sha256 != actual:
        raise ManifestError(source, "sha256", "is %s but the profiles hash to %s" % (sha256, actual))


def load_manifest(path):
    """Read a manifest file (not validated: call validate_manifest)."""
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (IOError, OSError) as exc:
        raise ManifestError(path, "file", "cannot be read (%s)" % exc)
    except ValueError as exc:
        raise ManifestError(path, "file", "is not UTF-8 JSON (%s)" % exc)


def compare_profiles(expected_profiles, installed_profiles):
    """Compare manifest entries with the profiles found on a node.

    ``installed_profiles`` are ``signing_info`` profile records (``uuid``, ``sha256``, ...).
    Returns findings sorted by UUID, each ``{"kind", "uuid", "expected", "actual"}`` where
    kind is ``missing`` (in the manifest, not installed), ``unexpected`` (installed, not in
    the manifest) or ``sha256_mismatch``; expected/actual are sha256 values (or None).
    """
    expected = dict((entry["uuid"].lower(), entry) for entry in expected_profiles)
    installed = {}
    for record in installed_profiles:
        installed.setdefault(record["uuid"].lower(), {})[record["sha256"]] = record["uuid"]
    findings = []
    for key in sorted(set(expected) | set(installed)):
        want = expected.get(key)
        have = sorted(installed.get(key, {}).items())
        if want is None:
            findings.extend({"kind": "unexpected", "uuid": uuid, "expected": None, "actual": sha} for sha, uuid in have)
        elif not have:
            findings.append({"kind": "missing", "uuid": want["uuid"], "expected": want["sha256"], "actual": None})
        else:
            findings.extend(
                {"kind": "sha256_mismatch", "uuid": want["uuid"], "expected": want["sha256"], "actual": sha}
                for sha, _uuid in have
                if sha != want["sha256"]
            )
    return findings
