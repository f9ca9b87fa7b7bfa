# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""Per-host checks of mesh parity: one host's signing_info result against the expected state.

Standard library only, Python 3.9.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
from collections.abc import Mapping

from ansible_collections.macmesh.signing.plugins.module_utils import _release
from ansible_collections.macmesh.signing.plugins.module_utils._agent import agent_findings
from ansible_collections.macmesh.signing.plugins.module_utils._audit_log import log_problems
from ansible_collections.macmesh.signing.plugins.module_utils._identity import identity_hash
from ansible_collections.macmesh.signing.plugins.module_utils._manifest import compare_profiles
from ansible_collections.macmesh.signing.plugins.module_utils._parity_codes import (
    ERROR, NOT_GATHERED, SIGNERS, WARNING, _DERIVED, _FIELD_NEED, _NULL_CODES, _need,
)
from ansible_collections.macmesh.signing.plugins.module_utils._parity_input import (
    DEFAULT_KEYCHAIN_OWNER, ParityInputError, _type_name,
)
from ansible_collections.macmesh.signing.plugins.module_utils._secret_versions import SecretVersionError, read_document

_CACHE_PARTS = ("DerivedData", "Caches")
_HOSTS_IN_MESSAGE = 5


def _successor_keys(entry):
    """Keys under which a profile succeeds another: same team and name, and same bundle id when known.

    The last key is the most specific one the entry has.
    """
    keys = [("name", entry.get("team_id"), entry["name"])]
    if entry.get("bundle_id"):
        keys.append(("bundle", entry.get("team_id"), entry["bundle_id"]))
    return keys


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


# What profile_mounts publishes: root-owned 0444 files in a root-owned 0555 version directory.
PROFILE_OWNER = "root"
VERSION_DIR_MODE = "0555"
PROFILE_FILE_MODE = "0444"


def version_dir_problems(version, files, prefix=""):
    """How a version directory read by signing_info (profile_store) differs from a published one.

    ``files``: {name: sha256} it must hold, nothing else (the manifest's profiles and profiles.json);
    a sha256 of None is not compared. ``prefix`` goes before each file name in the messages.
    """
    problems = []
    if version.get("owner") != PROFILE_OWNER or version.get("mode") != VERSION_DIR_MODE:
        problems.append("%s: owner/mode %s %s, expected %s %s" % (version.get("path"), version.get("owner"),
                                                                  version.get("mode"), PROFILE_OWNER, VERSION_DIR_MODE))
    found = version.get("files") or {}
    for name in sorted(set(files) - set(found)):
        problems.append("%s%s: file missing" % (prefix, name))
    for name in sorted(set(found) - set(files)):
        problems.append("%s%s: not in the manifest" % (prefix, name))
    for name in sorted(set(found) & set(files)):
        entry = found[name] or {}
        if files[name] is not None and (entry.get("type") != "file" or entry.get("sha256") != files[name]):
            problems.append("%s%s: sha256 %s, expected %s" % (prefix, name, entry.get("sha256"), files[name]))
        if entry.get("owner") != PROFILE_OWNER or entry.get("mode") != PROFILE_FILE_MODE:
            problems.append("%s%s: owner/mode %s %s, expected %s %s" % (prefix, name, entry.get("owner"), entry.get("mode"),
                                                                        PROFILE_OWNER, PROFILE_FILE_MODE))
    return problems


def kept_version_problems(store):
    """How the version kept for rollback (profile_store's ``kept``) differs from what it was published as.

    Checked against its own profiles.json, which the directory's name pins: the declared and the
    recomputed sha256 of its profiles must both be the name; then every profile it lists with that
    sha256, nothing else, and the published owners and modes. Empty when no version is kept.
    """
    if not isinstance(store, Mapping) or store.get("previous") is None:
        return []
    kept = store.get("kept")
    name = store.get("previous")
    if not isinstance(kept, Mapping):
        return ["previous -> %s: not read" % name]
    if kept.get("error"):
        return ["previous -> %s: %s" % (name, kept["error"])]
    manifest = kept.get("manifest")
    if not isinstance(manifest, Mapping) or manifest.get("error"):
        return ["%s/profiles.json: %s" % (kept.get("path"), (manifest or {}).get("error") or "not read")]
    problems = []
    directory = kept.get("path") or name
    basename = posixpath.basename(directory.rstrip("/"))
    if manifest.get("sha256") != basename or manifest.get("profiles_sha256") != basename:
        problems.append("%s/profiles.json: declares sha256 %s, its profiles hash to %s, the directory is %s"
                        % (directory, manifest.get("sha256"), manifest.get("profiles_sha256"), basename))
    files = dict((item.get("filename"), item.get("sha256")) for item in manifest.get("profiles") or [])
    # profiles.json itself: present, published like the profiles (its content was checked above).
    files["profiles.json"] = None
    return problems + version_dir_problems(kept, files, prefix=directory + "/")


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
        self._kept_version()
        self._agent()

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
        marks = {}
        for index, identity in enumerate(identities):
            where = "%s.identities[%d]" % (self.where, index)
            if not isinstance(identity, Mapping):
                raise ParityInputError(where, "must be a dict")
            sha1, name, valid = identity.get("sha1"), identity.get("name"), identity.get("valid")
            if not isinstance(sha1, str) or not isinstance(name, str) or not isinstance(valid, bool):
                raise ParityInputError(where, "must have sha1 (string), name (string) and valid (boolean)")
            sha1 = sha1.upper()
            held[sha1] = held.get(sha1, False) or valid
            if isinstance(identity.get("status"), str):
                marks[sha1] = identity["status"]  # find-identity's mark, e.g. CSSMERR_TP_NOT_TRUSTED
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
                mark = marks.get(sha1)
                self.add("IDENTITY_UNTRUSTED", "declared identity %s (%s) is present but not valid%s: install its "
                         "issuing intermediate (role apple_intermediates) or renew it"
                         % (sha1, exp.declared.get(sha1, "?"), " (%s)" % mark if mark else ""))
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
        self._wrapper_log(wrapper)

    def _wrapper_log(self, wrapper):
        """WRAPPER_LOG_UNSEALED: the audit log must be append-only for the user it audits (issue 11)."""
        log = wrapper.get("log")
        if log is None:
            self.add("WRAPPER_LOG_UNSEALED", "unlock wrapper log unavailable: %s" % self.reason("wrapper.log"))
            return
        if not isinstance(log, Mapping):
            raise ParityInputError("%s.wrapper.log" % self.where, "must be a dict, not %s" % _type_name(log))
        # The user the wrapper runs as: the keychain's owner (the CI user), also where that check is off.
        problems = log_problems(log, self.exp.keychain_owner or DEFAULT_KEYCHAIN_OWNER)
        if problems:
            self.add("WRAPPER_LOG_UNSEALED", "unlock wrapper log: %s" % "; ".join(problems))

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

    def _kept_version(self):
        """The profile version kept for rollback still is what it was published as (when it was read)."""
        store = self.field("profile_store", (Mapping,), "a dict")
        if store is None:
            return
        for problem in kept_version_problems(store):
            self.add("PROFILE_KEPT_TAMPERED", "rollback version: %s" % problem)

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
            if item["kind"] == "asc_api_key":
                self.add("NOTARY_KEY_OUTSIDE_RAMDISK", "App Store Connect API key found in %s: it belongs on the notary "
                         "RAM disk only" % where)
                continue
            self.add("SECRET_FOUND", "%s found in %s" % (item["kind"], where))

    def _agent(self):
        """The CI agent checks over signing_info's ``agent`` part (absent: not gathered)."""
        agent = self.field("agent", (Mapping,), "a dict")
        if agent is None:
            return
        for code, message in agent_findings(agent, self.exp.agent, self.holder):
            self.add(code, message)
        versions = agent.get("secret_versions")
        if isinstance(versions, Mapping):
            try:
                self.ev.host_versions[self.host] = read_document({"secrets": versions}, "%s.agent.secret_versions"
                                                                 % self.where)
            except SecretVersionError as exc:
                raise ParityInputError(exc.field, exc.message)
