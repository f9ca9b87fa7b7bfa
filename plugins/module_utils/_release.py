# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""Releases: the one desired signing state of the mesh, kept on the controller.

A *releases directory* (``macmesh_releases_dir``, usually ``releases/`` in the operator's inventory
repository) holds one directory per release with a ``release.json`` a person reviews in a pull
request, and a ``current`` file naming the release the mesh must run::

    releases/current                 "2026.12\\n", replaced atomically (temp file, fsync, rename)
    releases/2026.12/release.json    schema 1, see RELEASE_KEYS and docs/architecture.md

A release names its profile manifest (path, version, sha256), the identities signers hold (SHA-1,
name, where the p12 is and *where* its passphrase comes from: ``{"file": …}`` or ``{"var": …}``,
never the value), the policy (topology, groups, thresholds) and its status:

``staged``      written by a rotation, not yet the desired state
``current``     the desired state (the ``current`` file names it)
``superseded``  was current; a later release replaced it, its identities may still be live
                (the overlap) until it is retired
``retired``     its material is gone from the mesh

Identities that a rotation carries over for the overlap name the release they belong to
(``retire_with``); once that release is retired they are no longer declared. Every bootstrap,
converge, rotate and revoke reads the current release through ``read_desired``; nodes record the
release they run (``node_state``) and ``guard`` refuses to take a node back to an older one.

Without a releases directory the inventory's role variables (``profile_mounts_manifest``,
``keychain_identities``, ``macmesh_*``) are the desired state: ``desired_from_inventory``.

Standard library only (controller side, but kept Python 3.9 clean like the rest).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import os
import re

from ansible_collections.macmesh.signing.plugins.module_utils import _identity, _layout
# The one atomic writer (module_utils/_files), shared with the node modules.
from ansible_collections.macmesh.signing.plugins.module_utils._files import atomic_write
from ansible_collections.macmesh.signing.plugins.module_utils._manifest import ManifestError, canonical_json, profiles_sha256

SCHEMA = 1
NODE_SCHEMA = 1
STATUSES = ("staged", "current", "superseded", "retired")
RELEASE_FILE = "release.json"
CURRENT_FILE = "current"
RELEASE_KEYS = ("schema", "version", "serial", "status", "previous", "change", "manifest", "team_ids",
                "identities", "policy")
_REQUIRED = ("schema", "version", "serial", "status", "manifest", "identities")
_IDENTITY_KEYS = ("sha1", "name", "p12", "passphrase", "retire_with")
_MANIFEST_KEYS = ("path", "profiles_dir", "version", "sha256")
_CHANGE_KEYS = ("ticket", "approvers", "force_reason", "staged_at")
# Release names are directory names: no separators, no leading dot, printable.
_VERSION_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,63}\Z")
_SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
_TEAM_RE = re.compile(r"\A[A-Z0-9]{10}\Z")
_VAR_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMBER_POLICY = ("max_identity_hashes", "max_key_copies", "cert_warn_days", "cert_error_days", "overlap_min_days",
                  "overlap_max_days", "max_clock_offset", "max_clock_offset_error", "keychain_timeout")


class ReleaseError(ValueError):
    """A release file (or the releases directory) is not usable. ``str()`` names file and field."""

    def __init__(self, path, field, message):
        self.path = path
        self.field = field
        text = "%s: %s: %s" % (path, field, message) if field else "%s: %s" % (path, message)
        super(ReleaseError, self).__init__(text)


class GuardRefused(ValueError):
    """A node runs a newer release than the one a job would apply."""


# -- small helpers ---------------------------------------------------------------------------


def normalise_sha1(value):
    """The SHA-1 of a certificate as 40 upper-case hex digits (colons and spaces dropped), or None.

    The one normaliser is ``_identity.normalise_sha1``; this spelling returns None instead of raising.
    """
    try:
        return _identity.normalise_sha1(value)
    except ValueError:
        return None


def _type(value):
    return type(value).__name__


def release_sha256(release):
    """Digest of a release's content. The status is left out: it is the one field that changes."""
    body = dict((key, value) for key, value in release.items() if key not in ("status",) and not key.startswith("_"))
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _read_json(path, field=None):
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except (IOError, OSError) as exc:
        raise ReleaseError(path, field, "cannot be read (%s)" % (exc.strerror or exc))
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ReleaseError(path, field, "is not UTF-8 text")
    except ValueError as exc:
        raise ReleaseError(path, field, "is not valid JSON (%s)" % exc)


def _resolve(base, path):
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base, path))


# -- the releases directory ------------------------------------------------------------------


def release_path(releases_dir, version):
    return os.path.join(releases_dir, version, RELEASE_FILE)


def current_version(releases_dir):
    pointer = os.path.join(releases_dir, CURRENT_FILE)
    if not os.path.isdir(releases_dir):
        raise ReleaseError(releases_dir, None, "is not a directory (macmesh_releases_dir)")
    try:
        with open(pointer) as handle:
            version = handle.read().strip()
    except (IOError, OSError) as exc:
        raise ReleaseError(pointer, None, "cannot be read (%s): it names the current release; write one with "
                           "the macmesh.signing.release module (state=current)" % (exc.strerror or exc))
    if not _VERSION_RE.match(version):
        raise ReleaseError(pointer, None, "must hold one release name (letters, digits, . _ + -), not %r" % version)
    return version


def list_versions(releases_dir):
    try:
        names = sorted(os.listdir(releases_dir))
    except OSError:
        return []
    return [name for name in names if _VERSION_RE.match(name) and os.path.isfile(release_path(releases_dir, name))]


def load(releases_dir, version, check_files=True):
    """Read and validate one release; paths come back absolute. Raises ReleaseError."""
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise ReleaseError(releases_dir, "version", "%r is not a release name (letters, digits, . _ + -)" % (version,))
    path = release_path(releases_dir, version)
    if not os.path.isfile(path):
        raise ReleaseError(path, None, "does not exist: no release %r in %s" % (version, releases_dir))
    data = _read_json(path)
    release = validate(data, path, check_files=check_files)
    if release["version"] != version:
        raise ReleaseError(path, "version", "is %r but the file lives in the directory of %r" % (release["version"], version))
    return release


def validate(data, path, check_files=True):
    """The checked, normalised release (a copy) with absolute paths. Raises ReleaseError naming the field."""
    if not isinstance(data, dict):
        raise ReleaseError(path, None, "must hold a JSON object, not %s" % _type(data))
    unknown = sorted(str(key) for key in data if key not in RELEASE_KEYS)
    if unknown:
        raise ReleaseError(path, unknown[0], "is not a release field (known: %s)" % ", ".join(RELEASE_KEYS))
    for key in _REQUIRED:
        if key not in data:
            raise ReleaseError(path, key, "is missing")
    if data["schema"] != SCHEMA:
        raise ReleaseError(path, "schema", "must be %d, not %r" % (SCHEMA, data["schema"]))
    if not isinstance(data["version"], str) or not _VERSION_RE.match(data["version"]):
        raise ReleaseError(path, "version", "must be a release name (letters, digits, . _ + -), not %r" % (data["version"],))
    if isinstance(data["serial"], bool) or not isinstance(data["serial"], int) or data["serial"] < 1:
        raise ReleaseError(path, "serial", "must be a whole number from 1 (each release one more than the one before), "
                           "not %r" % (data["serial"],))
    if data["status"] not in STATUSES:
        raise ReleaseError(path, "status", "must be one of %s, not %r" % (", ".join(STATUSES), data["status"]))
    previous = data.get("previous")
    if previous is not None and (not isinstance(previous, str) or not _VERSION_RE.match(previous)):
        raise ReleaseError(path, "previous", "must be a release name or null, not %r" % (previous,))
    base = os.path.dirname(os.path.abspath(path))
    release = copy.deepcopy(data)
    release["previous"] = previous
    release["change"] = _change(data.get("change"), path)
    release["manifest"] = _manifest(data["manifest"], path, base, check_files)
    release["identities"] = _identities(data["identities"], path, base, check_files)
    release["team_ids"] = _team_ids(data.get("team_ids"), path, release["manifest"])
    release["policy"] = policy(data.get("policy"), path)
    release["_path"] = os.path.abspath(path)
    return release


def _change(change, path):
    if change is None:
        return {}
    if not isinstance(change, dict):
        raise ReleaseError(path, "change", "must be an object (ticket, approvers, force_reason), not %s" % _type(change))
    unknown = sorted(str(key) for key in change if key not in _CHANGE_KEYS)
    if unknown:
        raise ReleaseError(path, "change.%s" % unknown[0], "is not a change field (known: %s)" % ", ".join(_CHANGE_KEYS))
    return dict(change)


def _manifest(manifest, path, base, check_files):
    if not isinstance(manifest, dict):
        raise ReleaseError(path, "manifest", "must be an object (path, profiles_dir, version, sha256), not %s" % _type(manifest))
    unknown = sorted(str(key) for key in manifest if key not in _MANIFEST_KEYS)
    if unknown:
        raise ReleaseError(path, "manifest.%s" % unknown[0], "is not a manifest field (known: %s)" % ", ".join(_MANIFEST_KEYS))
    for key in _MANIFEST_KEYS:
        if key not in manifest:
            raise ReleaseError(path, "manifest.%s" % key, "is missing")
    for key in ("path", "profiles_dir", "version"):
        if not isinstance(manifest[key], str) or not manifest[key] or "\n" in manifest[key]:
            raise ReleaseError(path, "manifest.%s" % key, "must be a non-empty string, not %r" % (manifest[key],))
    if not isinstance(manifest["sha256"], str) or not _SHA256_RE.match(manifest["sha256"]):
        raise ReleaseError(path, "manifest.sha256", "must be 64 lower-case hex digits (the manifest's own sha256), not %r"
                           % (manifest["sha256"],))
    out = dict(manifest)
    out["path"] = _resolve(base, manifest["path"])
    out["profiles_dir"] = _resolve(base, manifest["profiles_dir"])
    out["expires"] = None
    out["team_ids"] = []
    if check_files:
        frozen = _read_json(out["path"], "manifest.path")
        if not isinstance(frozen, dict) or not isinstance(frozen.get("profiles"), list) or not frozen["profiles"]:
            raise ReleaseError(out["path"], "profiles", "is not a frozen profiles.json with at least one profile "
                               "(build it with macmesh.signing.profile_manifest)")
        try:
            digest = profiles_sha256(frozen["profiles"])
        except (ManifestError, TypeError, ValueError) as exc:
            raise ReleaseError(out["path"], "profiles", "cannot be hashed (%s)" % exc)
        if frozen.get("sha256") != digest:
            raise ReleaseError(out["path"], "sha256", "does not match its profile list: the manifest was edited after "
                               "it was frozen; build it again with macmesh.signing.profile_manifest")
        if digest != manifest["sha256"]:
            raise ReleaseError(path, "manifest.sha256", "is %s but %s has %s" % (manifest["sha256"], out["path"], digest))
        if frozen.get("version") != manifest["version"]:
            raise ReleaseError(path, "manifest.version",
                               "is %r but %s says %r" % (manifest["version"], out["path"], frozen.get("version")))
        if not os.path.isdir(out["profiles_dir"]):
            raise ReleaseError(path, "manifest.profiles_dir", "%s is not a directory" % out["profiles_dir"])
        # Every file the manifest names must be there: found now, not by a node's copy mid-rotation.
        missing = sorted(entry["filename"] for entry in frozen["profiles"] if isinstance(entry, dict)
                         and isinstance(entry.get("filename"), str)
                         and not os.path.isfile(os.path.join(out["profiles_dir"], entry["filename"])))
        if missing:
            raise ReleaseError(path, "manifest.profiles_dir", "%s does not hold %s, which %s names (%d of %d missing): "
                               "give the directory that holds the profile files (rotate_profiles_dir)"
                               % (out["profiles_dir"], missing[0], out["path"], len(missing), len(frozen["profiles"])))
        expiries = [entry.get("expires") for entry in frozen["profiles"] if isinstance(entry, dict)]
        expiries = [value for value in expiries if isinstance(value, str)]
        out["expires"] = min(expiries) if expiries else None
        out["team_ids"] = sorted(set(entry.get("team_id") for entry in frozen["profiles"]
                                     if isinstance(entry, dict) and isinstance(entry.get("team_id"), str)))
    return out


def _identities(identities, path, base, check_files):
    if not isinstance(identities, list):
        raise ReleaseError(path, "identities", "must be a list of identities, not %s" % _type(identities))
    out = []
    seen = set()
    for index, entry in enumerate(identities):
        field = "identities[%d]" % index
        if not isinstance(entry, dict):
            raise ReleaseError(path, field, "must be an object (sha1, name, p12, passphrase), not %s" % _type(entry))
        unknown = sorted(str(key) for key in entry if key not in _IDENTITY_KEYS)
        if unknown:
            hint = (" (a release names where the passphrase comes from, never the value)"
                    if re.search(r"pass|secret|password|key", unknown[0], re.I) else "")
            raise ReleaseError(path, "%s.%s" % (field, unknown[0]), "is not an identity field (known: %s)%s"
                               % (", ".join(_IDENTITY_KEYS), hint))
        sha1 = normalise_sha1(entry.get("sha1"))
        if sha1 is None:
            raise ReleaseError(path, field + ".sha1", "must be the 40-hex-digit SHA-1 of the certificate, not %r"
                               % (entry.get("sha1"),))
        if sha1 in seen:
            raise ReleaseError(path, field + ".sha1", "%s is listed twice" % sha1)
        seen.add(sha1)
        name = entry.get("name", sha1)
        if not isinstance(name, str) or not name or "\n" in name:
            raise ReleaseError(path, field + ".name", "must be the certificate's common name, not %r" % (name,))
        p12 = entry.get("p12")
        if not isinstance(p12, str) or not p12:
            raise ReleaseError(path, field + ".p12", "must name the PKCS#12 file on the controller, not %r" % (p12,))
        p12 = _resolve(base, p12)
        if check_files and not os.path.isfile(p12):
            raise ReleaseError(path, field + ".p12", "%s does not exist" % p12)
        passphrase = _passphrase(entry.get("passphrase"), path, field + ".passphrase", base)
        retire_with = entry.get("retire_with")
        if retire_with is not None and (not isinstance(retire_with, str) or not _VERSION_RE.match(retire_with)):
            raise ReleaseError(path, field + ".retire_with", "must be a release name or null, not %r" % (retire_with,))
        out.append({"sha1": sha1, "name": name, "p12": p12, "passphrase": passphrase, "retire_with": retire_with})
    return out


def _passphrase(ref, path, field, base):
    if isinstance(ref, str):
        raise ReleaseError(path, field, "must say where the passphrase comes from ({\"file\": \"…\"} for a vault-encrypted "
                           "file, or {\"var\": \"…\"} for an inventory or vault variable), never hold the value")
    if not isinstance(ref, dict) or len(ref) != 1 or list(ref)[0] not in ("file", "var"):
        raise ReleaseError(path, field, "must be {\"file\": \"<path>\"} or {\"var\": \"<variable name>\"}, not %r"
                           % (ref if not isinstance(ref, dict) else sorted(ref),))
    if "file" in ref:
        if not isinstance(ref["file"], str) or not ref["file"]:
            raise ReleaseError(path, field + ".file", "must be a path")
        return {"file": _resolve(base, ref["file"])}
    if not isinstance(ref["var"], str) or not _VAR_RE.match(ref["var"]):
        raise ReleaseError(path, field + ".var", "must be a variable name, not %r" % (ref["var"],))
    return {"var": ref["var"]}


def _team_ids(team_ids, path, manifest):
    if team_ids is None:
        return list(manifest.get("team_ids") or [])
    if not isinstance(team_ids, list) or not team_ids:
        raise ReleaseError(path, "team_ids", "must be a non-empty list of 10-character Team IDs")
    for index, team in enumerate(team_ids):
        if not isinstance(team, str) or not _TEAM_RE.match(team):
            raise ReleaseError(path, "team_ids[%d]" % index, "must be a 10-character Team ID, not %r" % (team,))
    return list(team_ids)


def policy(data, path, base=None):
    """A release's policy completed with the collection defaults (``_layout.POLICY``)."""
    out = copy.deepcopy(base if base is not None else _layout.POLICY)
    if data is None:
        return out
    if not isinstance(data, dict):
        raise ReleaseError(path, "policy", "must be an object, not %s" % _type(data))
    for key, value in data.items():
        field = "policy.%s" % key
        if key not in _layout.POLICY:
            raise ReleaseError(path, field, "is not a policy setting (known: %s)" % ", ".join(sorted(_layout.POLICY)))
        if key == "topology":
            if value not in _layout.TOPOLOGIES:
                raise ReleaseError(path, field, "must be one of %s, not %r" % (", ".join(_layout.TOPOLOGIES), value))
        elif key == "regions":
            if (not isinstance(value, list) or not value or len(set(map(str, value))) != len(value)
                    or not all(isinstance(item, str) and item for item in value)):
                raise ReleaseError(path, field, "must be a list of distinct region group names")
        elif key in ("signer_group", "builder_group"):
            if not isinstance(value, str) or not value:
                raise ReleaseError(path, field, "must be an inventory group name")
        elif key == "keychain_lock_on_sleep":
            if not isinstance(value, bool):
                raise ReleaseError(path, field, "must be true or false")
        elif key in _NUMBER_POLICY:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ReleaseError(path, field, "must be a number >= 0, not %r" % (value,))
        out[key] = value
    return out


# -- the desired state -----------------------------------------------------------------------


def statuses(releases_dir):
    """{version: status} of every release in the directory (unreadable ones left out)."""
    out = {}
    for version in list_versions(releases_dir):
        try:
            data = _read_json(release_path(releases_dir, version))
        except ReleaseError:
            continue
        if isinstance(data, dict) and data.get("status") in STATUSES:
            out[version] = data["status"]
    return out


def effective(release, known_statuses):
    """What a release declares now: identities whose ``retire_with`` release is retired drop out."""
    identities, retiring = [], []
    for identity in release["identities"]:
        origin = identity.get("retire_with")
        if origin is not None and known_statuses.get(origin) == "retired":
            continue
        identities.append(identity)
        if origin is not None:
            retiring.append(identity["sha1"])
    previous = release.get("previous")
    # The previous profile version stays the rollback target until the release it came from is retired.
    keep_previous = not (previous and known_statuses.get(previous) == "retired")
    return identities, retiring, keep_previous


def desired(release, known_statuses, releases_dir):
    """The document every job works from (no secret in it: passphrases stay references)."""
    identities, retiring, keep_previous = effective(release, known_statuses)
    manifest = release["manifest"]
    return {
        "source": "release",
        "releases_dir": os.path.abspath(releases_dir),
        "version": release["version"],
        "serial": release["serial"],
        "status": release["status"],
        "sha256": release_sha256(strip_private(release)),
        "path": release["_path"],
        "previous": release.get("previous"),
        "change": release.get("change") or {},
        "manifest": {"path": manifest["path"], "profiles_dir": manifest["profiles_dir"], "version": manifest["version"],
                     "sha256": manifest["sha256"], "expires": manifest.get("expires"),
                     "team_ids": release["team_ids"]},
        "identities": [{"sha1": item["sha1"], "name": item["name"], "src": item["p12"], "passphrase": item["passphrase"]}
                       for item in identities],
        "declared": dict((item["sha1"], item["name"]) for item in identities),
        "retiring": retiring,
        "keep_previous": keep_previous,
        "policy": release["policy"],
    }


def strip_private(release):
    return dict((key, value) for key, value in release.items() if not key.startswith("_"))


def read_desired(releases_dir, version=None, check_files=True):
    """The desired state from the current release (or ``version``)."""
    version = version or current_version(releases_dir)
    release = load(releases_dir, version, check_files=check_files)
    return desired(release, statuses(releases_dir), releases_dir)


def desired_from_inventory(manifest_path, identities, team_ids, policy_vars, check_files=True):
    """The same document from plain inventory variables (a simple mesh without releases)."""
    where = "inventory"
    if not isinstance(manifest_path, str) or not manifest_path:
        raise ReleaseError(where, "profile_mounts_manifest", "is not set: name the frozen profiles.json (or set "
                           "macmesh_releases_dir to work from releases)")
    manifest = {"path": os.path.abspath(manifest_path), "profiles_dir": os.path.dirname(os.path.abspath(manifest_path)),
                "version": None, "sha256": None, "expires": None, "team_ids": list(team_ids or [])}
    if check_files:
        frozen = _read_json(manifest["path"], "profile_mounts_manifest")
        if not isinstance(frozen, dict) or not isinstance(frozen.get("profiles"), list):
            raise ReleaseError(manifest["path"], "profiles", "is not a frozen profiles.json")
        manifest["version"] = frozen.get("version")
        manifest["sha256"] = frozen.get("sha256")
        expiries = [entry.get("expires") for entry in frozen["profiles"]
                    if isinstance(entry, dict) and isinstance(entry.get("expires"), str)]
        manifest["expires"] = min(expiries) if expiries else None
        if not manifest["team_ids"]:
            manifest["team_ids"] = sorted(set(entry.get("team_id") for entry in frozen["profiles"]
                                              if isinstance(entry, dict) and isinstance(entry.get("team_id"), str)))
    out_identities = []
    if identities is None:
        identities = []
    if not isinstance(identities, list):
        raise ReleaseError(where, "keychain_identities", "must be a list of {src, passphrase, sha1}, not %s" % _type(identities))
    for index, entry in enumerate(identities):
        if not isinstance(entry, dict):
            raise ReleaseError(where, "keychain_identities[%d]" % index, "must be a {src, passphrase, sha1} mapping, not %s"
                               % _type(entry))
        sha1 = normalise_sha1(entry.get("sha1"))
        if sha1 is None:
            raise ReleaseError(where, "keychain_identities[%d].sha1" % index, "must be the 40-hex-digit SHA-1, not %r"
                               % (entry.get("sha1"),))
        out_identities.append({"sha1": sha1, "name": entry.get("name") or sha1, "src": entry.get("src")})
    return {
        "source": "inventory", "releases_dir": None, "version": manifest["version"], "serial": None, "status": None,
        "sha256": None, "path": None, "previous": None, "change": {}, "manifest": manifest,
        "identities": out_identities, "declared": dict((item["sha1"], item["name"]) for item in out_identities),
        "retiring": [], "keep_previous": True, "policy": policy(policy_vars, where),
    }


# -- what a node records, and the downgrade guard --------------------------------------------


def node_state(desired_state, signer):
    """What a node writes to the layout's release_state_path after it reached ``desired_state``.

    Deterministic (no timestamps): bootstrap, converge and rotate write the same bytes for the same
    release, so re-runs report no change.
    """
    return {
        "schema": NODE_SCHEMA,
        "release": {"version": desired_state.get("version"), "serial": desired_state.get("serial"),
                    "sha256": desired_state.get("sha256")},
        "manifest": {"version": desired_state["manifest"].get("version"), "sha256": desired_state["manifest"].get("sha256")},
        "identities": sorted(item["sha1"] for item in desired_state["identities"]) if signer else [],
        # Whether the previous profile version is still the rollback target: a retire changes only
        # this (and the identities), so a node that has not dropped it is not done with the retire.
        "keep_previous": bool(desired_state.get("keep_previous", True)),
    }


def relation(recorded, desired_state):
    """How a node's recorded release relates to the desired one.

    ``none`` (nothing recorded), ``same``, ``behind`` (older serial), ``ahead`` (newer serial),
    ``mismatch`` (same serial, other content), ``inventory`` (the desired state has no release).
    """
    if desired_state.get("serial") is None:
        return "inventory"
    if not isinstance(recorded, dict) or not isinstance(recorded.get("release"), dict):
        return "none"
    serial = recorded["release"].get("serial")
    if isinstance(serial, bool) or not isinstance(serial, int):
        return "none"
    if serial > desired_state["serial"]:
        return "ahead"
    if serial < desired_state["serial"]:
        return "behind"
    if recorded["release"].get("sha256") != desired_state.get("sha256"):
        return "mismatch"
    return "same"


def guard(host, recorded, desired_state, allow_downgrade=False, ticket=None):
    """None when the job may apply ``desired_state`` to the node, else the refusal message."""
    rel = relation(recorded, desired_state)
    if rel not in ("ahead", "mismatch"):
        return None
    ticket = (ticket or "").strip() if isinstance(ticket, str) else ""
    if allow_downgrade and ticket:
        return None
    node = recorded["release"]
    what = ("newer than" if rel == "ahead" else "a different release with the same serial as")
    message = ("REFUSED: %s runs release %s (serial %s), %s the controller's release %s (serial %s): refusing to "
               "take it back. If the controller's release is what you want (a rollback), run again with "
               "-e macmesh_allow_downgrade=true -e macmesh_downgrade_ticket=<change ticket>; if the node is right, "
               "point %s/current at %s." % (host, node.get("version"), node.get("serial"), what, desired_state.get("version"),
                                            desired_state.get("serial"), desired_state.get("releases_dir") or "releases",
                                            node.get("version")))
    if allow_downgrade and not ticket:
        message += " (macmesh_allow_downgrade needs macmesh_downgrade_ticket: a key movement needs a ticket.)"
    return message


# -- writing: stage, promote, retire ---------------------------------------------------------


def _dump(release):
    body = strip_private(release)
    ordered = dict((key, body[key]) for key in RELEASE_KEYS if key in body)
    return json.dumps(ordered, indent=2, sort_keys=False) + "\n"


def _relative(path, base):
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return path


def _rel(value, base):
    return _relative(value, base) if isinstance(value, str) and value else value


def _for_file(release, release_dir):
    """The release as it is written: paths relative to its directory, reviewable."""
    out = copy.deepcopy(strip_private(release))
    manifest = out.get("manifest")
    if isinstance(manifest, dict):
        manifest = dict((key, manifest[key]) for key in _MANIFEST_KEYS if key in manifest)
        for key in ("path", "profiles_dir"):
            manifest[key] = _rel(manifest.get(key), release_dir)
        out["manifest"] = manifest
    identities = []
    for item in out.get("identities") or []:
        if not isinstance(item, dict):
            identities.append(item)
            continue
        entry = dict((key, value) for key, value in item.items() if key in _IDENTITY_KEYS and value is not None)
        entry["p12"] = _rel(entry.get("p12"), release_dir)
        ref = entry.get("passphrase")
        if isinstance(ref, dict) and isinstance(ref.get("file"), str):
            entry["passphrase"] = {"file": _rel(ref["file"], release_dir)}
        identities.append(entry)
    out["identities"] = identities
    if not out.get("change"):
        out.pop("change", None)
    return out


def stage(releases_dir, version, manifest, identities, change=None, base_version=None, policy_update=None):
    """Write ``releases/<version>/release.json`` (status staged) on top of the current release.

    ``manifest``: {path, profiles_dir} of the new frozen manifest (its version and sha256 are read
    from it). ``identities``: the new ones, [{sha1, name?, p12, passphrase: {file|var}}]. The
    current release's declared identities that are not renewed are carried over with
    ``retire_with`` = the current version, so both are declared through the overlap.
    Returns (release, changed). Idempotent: the same inputs give the same file and no change.
    """
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise ReleaseError(releases_dir, "version", "%r is not a release name (letters, digits, . _ + -)" % (version,))
    target = release_path(releases_dir, version)
    if os.path.isfile(target):
        existing = load(releases_dir, version, check_files=False)
        if existing["status"] != "staged":
            # Already promoted (a re-run after the promotion): base it on the release it superseded.
            base_version = existing.get("previous") or base_version
    base_version = base_version or current_version(releases_dir)
    base = load(releases_dir, base_version)
    known = statuses(releases_dir)
    if version == base_version:
        raise ReleaseError(target, "version", "is the current release: a rotation stages a new release name (e.g. the "
                           "new manifest's version)")
    carried, _retiring, _keep = effective(base, known)
    new_sha1s = set()
    draft_identities = []
    for index, item in enumerate(identities or []):
        if not isinstance(item, dict):
            raise ReleaseError("rotate_identities", "[%d]" % index, "must be an object (sha1, p12 or src, passphrase)")
        entry = dict(item)
        if "src" in entry and "p12" not in entry:
            entry["p12"] = entry.pop("src")
        entry = dict((key, value) for key, value in entry.items() if key in _IDENTITY_KEYS)
        draft_identities.append(entry)
        sha1 = normalise_sha1(item.get("sha1"))
        if sha1:
            new_sha1s.add(sha1)
    if not draft_identities:
        raise ReleaseError("rotate_identities", None, "is empty: name the new identities ([{sha1, p12, passphrase: "
                           "{file|var}}])")
    for item in carried:
        if item["sha1"] in new_sha1s:
            continue
        draft_identities.append({"sha1": item["sha1"], "name": item["name"], "p12": item["p12"],
                                 "passphrase": item["passphrase"], "retire_with": item.get("retire_with") or base_version})
    frozen = _read_json(os.path.abspath(manifest["path"]), "rotate_manifest")
    if not isinstance(frozen, dict):
        raise ReleaseError(manifest["path"], None, "is not a frozen profiles.json")
    draft = {
        "schema": SCHEMA, "version": version, "serial": base["serial"] + 1, "status": "staged",
        "previous": base_version, "change": change or {},
        "manifest": {"path": os.path.abspath(manifest["path"]),
                     "profiles_dir": os.path.abspath(manifest.get("profiles_dir") or os.path.dirname(manifest["path"])),
                     "version": frozen.get("version"), "sha256": frozen.get("sha256")},
        "identities": draft_identities,
        "policy": dict(base["policy"], **(policy_update or {})),
    }
    if draft["manifest"]["sha256"] == base["manifest"]["sha256"]:
        raise ReleaseError(manifest["path"], None, "is the manifest the current release %s already declares (%s): "
                           "nothing to rotate" % (base_version, base["manifest"]["version"]))
    return _write_staged(releases_dir, version, target, draft)


def _write_staged(releases_dir, version, target, draft):
    """Validate ``draft`` and write it as a staged release; (release, changed).

    A release promoted already with the same material is no change (a re-run after the promotion);
    with other material it is refused. A staged one is rewritten as the same inputs would write it,
    keeping the change record of its first staging (a re-run continues the same change).
    """
    release_dir = os.path.dirname(target)
    checked = validate(_for_file(draft, release_dir), target)
    text = _dump(_for_file(checked, release_dir))
    if os.path.exists(target):
        existing = _read_json(target)
        if isinstance(existing, dict) and existing.get("status") != "staged":
            if _same_material(existing, checked):
                return load(releases_dir, version), False
            raise ReleaseError(target, "status", "release %s already exists as %s with other material: stage under a "
                               "new name" % (version, existing.get("status")))
        if isinstance(existing, dict) and existing.get("change"):
            text = _dump(dict(json.loads(text), change=existing["change"]))
        with open(target) as handle:
            if handle.read() == text:
                return load(releases_dir, version), False
    elif not os.path.isdir(release_dir):
        os.makedirs(release_dir)
    atomic_write(target, text)
    return load(releases_dir, version), True


def _same_material(existing, release):
    manifest = existing.get("manifest") if isinstance(existing.get("manifest"), dict) else {}
    sha1s = set(normalise_sha1(item.get("sha1")) for item in existing.get("identities") or [] if isinstance(item, dict))
    return (manifest.get("sha256") == release["manifest"]["sha256"]
            and sha1s == set(item["sha1"] for item in release["identities"]))


def _set_status(releases_dir, version, status):
    path = release_path(releases_dir, version)
    data = _read_json(path)
    if data.get("status") == status:
        return False
    data["status"] = status
    atomic_write(path, _dump(data))
    return True


def promote(releases_dir, version):
    """Make a staged release current: its status, the previous current's status, then the pointer.

    Returns changed. The ``current`` file moves last, so a crash in between leaves the old release
    current (the staged one still staged or already marked current, which a re-run completes).
    """
    release = load(releases_dir, version)
    try:
        old = current_version(releases_dir)
    except ReleaseError:
        old = None
    if release["status"] not in ("staged", "current"):
        raise ReleaseError(release["_path"], "status", "is %s: only a staged release is promoted" % release["status"])
    changed = _set_status(releases_dir, version, "current")
    if old and old != version:
        changed = _set_status(releases_dir, old, "superseded") or changed
    if old != version:
        atomic_write(os.path.join(releases_dir, CURRENT_FILE), version + "\n")
        changed = True
    return changed


def retire(releases_dir, version):
    """Mark a superseded release retired (its carried-over identities stop being declared)."""
    release = load(releases_dir, version, check_files=False)
    if release["status"] == "retired":
        return False
    if release["status"] != "superseded":
        raise ReleaseError(release["_path"], "status", "is %s: only a release that a later one superseded is retired"
                           % release["status"])
    return _set_status(releases_dir, version, "retired")


def retire_view(desired_state, releases_dir):
    """The desired state once every release it superseded is retired (the retire phase's target).

    Retiring ends every overlap at once: the identities carried over from superseded releases and
    the previous profile version stop being declared. ``retires`` lists the releases it retires.
    """
    known = statuses(releases_dir)
    superseded = sorted(version for version, status in known.items() if status == "superseded")
    if not superseded:
        raise ReleaseError(os.path.join(releases_dir, CURRENT_FILE), None, "release %s supersedes no release that is "
                           "not retired yet: nothing to retire" % desired_state.get("version"))
    for version in superseded:
        known[version] = "retired"
    release = load(releases_dir, desired_state["version"], check_files=True)
    out = desired(release, known, releases_dir)
    out["retires"] = superseded
    return out


def initial(releases_dir, version, manifest, identities, policy_data=None, change=None):
    """Write the first release of a mesh and make it current (the migration from inventory variables)."""
    target = release_path(releases_dir, version)
    release_dir = os.path.dirname(target)
    frozen = _read_json(os.path.abspath(manifest["path"]), "manifest.path")
    draft = {
        "schema": SCHEMA, "version": version, "serial": 1, "status": "current", "previous": None, "change": change or {},
        "manifest": {"path": os.path.abspath(manifest["path"]),
                     "profiles_dir": os.path.abspath(manifest.get("profiles_dir") or os.path.dirname(manifest["path"])),
                     "version": frozen.get("version") if isinstance(frozen, dict) else None,
                     "sha256": frozen.get("sha256") if isinstance(frozen, dict) else None},
        "identities": [dict(item, p12=item.get("p12") or item.get("src")) if isinstance(item, dict) else item
                       for item in identities],
        "policy": policy_data or {},
    }
    checked = validate(_for_file(draft, release_dir), target)
    text = _dump(_for_file(checked, release_dir))
    changed = False
    if not os.path.isdir(release_dir):
        os.makedirs(release_dir)
    existing = None
    if os.path.exists(target):
        with open(target) as handle:
            existing = handle.read()
    if existing != text:
        if existing is not None:
            raise ReleaseError(target, None, "exists with other content: an initial release is written once")
        atomic_write(target, text)
        changed = True
    pointer = os.path.join(releases_dir, CURRENT_FILE)
    if not os.path.exists(pointer):
        atomic_write(pointer, version + "\n")
        changed = True
    return changed


def stage_revocation(releases_dir, version, compromised, replacements=None, change=None):
    """Stage the current release minus the compromised identities (plus replacements), same manifest.

    A revoked identity must never come back: the next bootstrap or converge applies this release.
    Returns (release, changed).
    """
    target = release_path(releases_dir, version)
    base_version = None
    if os.path.isfile(target):
        existing = load(releases_dir, version, check_files=False)
        if existing["status"] != "staged":
            base_version = existing.get("previous")
    base_version = base_version or current_version(releases_dir)
    if version == base_version:
        raise ReleaseError(target, "version", "is the current release: a revocation stages a new release name")
    base = load(releases_dir, base_version)
    carried, _retiring, _keep = effective(base, statuses(releases_dir))
    gone = set(compromised)
    identities = [dict(item) for item in carried if item["sha1"] not in gone]
    for index, item in enumerate(replacements or []):
        if not isinstance(item, dict):
            raise ReleaseError("revoke_identities", "[%d]" % index, "must be an object (sha1, p12, passphrase)")
        entry = dict(item)
        if "src" in entry and "p12" not in entry:
            entry["p12"] = entry.pop("src")
        sha1 = normalise_sha1(entry.get("sha1"))
        if sha1 in gone:
            raise ReleaseError("revoke_identities", "[%d].sha1" % index, "%s is one of the compromised identities" % sha1)
        if sha1 not in set(i["sha1"] for i in identities):
            identities.append(dict((key, value) for key, value in entry.items() if key in _IDENTITY_KEYS))
    if not identities:
        raise ReleaseError("revoke_identities", None, "no identity is left to sign with once %s is removed: give the "
                           "replacement in revoke_identities ([{sha1, p12, passphrase: {file|var}}])" % ", ".join(sorted(gone)))
    draft = {
        "schema": SCHEMA, "version": version, "serial": base["serial"] + 1, "status": "staged", "previous": base_version,
        "change": change or {}, "manifest": dict((key, base["manifest"][key]) for key in _MANIFEST_KEYS),
        "identities": [dict(item, retire_with=item.get("retire_with")) for item in identities],
        "policy": base["policy"],
    }
    return _write_staged(releases_dir, version, target, draft)
