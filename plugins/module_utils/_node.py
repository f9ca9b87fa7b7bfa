# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The node reader behind ``macmesh.signing.signing_info``: one pass over a node's signing state.

Every part (identities, certificates, keychain, search list, profiles, active manifest, wrapper,
release record, ...) is read with ``security`` in batches and plain file reads; a part that cannot
be read becomes ``None`` with its reason in ``unavailable``, never an exception. Standard library
only, Python 3.9: it runs on macOS's /usr/bin/python3.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import hashlib
import json
import os
import pwd
import re
import stat

from ansible_collections.macmesh.signing.plugins.module_utils import _layout
from ansible_collections.macmesh.signing.plugins.module_utils._files import file_sha256
from ansible_collections.macmesh.signing.plugins.module_utils._accounts import user_name
from ansible_collections.macmesh.signing.plugins.module_utils._audit_log import read_log
from ansible_collections.macmesh.signing.plugins.module_utils._identity import identity_hash, summary_hash
from ansible_collections.macmesh.signing.plugins.module_utils._manifest import (
    PROFILE_EXTENSIONS, ManifestError, load_manifest, profiles_sha256,
)
from ansible_collections.macmesh.signing.plugins.module_utils._profile import ProfileError, certificate_info, parse_profile
from ansible_collections.macmesh.signing.plugins.module_utils._security import (
    InteractionNotAllowedError,
    ItemNotFoundError,
    ParseError,
    Secret,
    SecurityRunner,
    UnsafeTokenError,
    classify_error,
    parse_find_certificate_pem,
    parse_find_identity,
    parse_keychain_info,
    parse_keychain_list,
)

PARTS = [
    "identities", "certificates", "keychain", "search_list", "default_keychain", "profiles", "active_manifest",
    "wrapper", "hardware_fingerprint", "macos_version", "clock_offset", "release_state",
]
# The result fields each part fills.
FIELDS = {
    "identities": ("identities", "identity_hash", "summary_hash"),
    "profiles": ("profiles", "profile_dirs", "duplicate_uuids"),
}
XCODE_PROFILE_DIRS = (
    "Library/MobileDevice/Provisioning Profiles",
    "Library/Developer/Xcode/UserData/Provisioning Profiles",
)
SUDO = "/usr/bin/sudo"
ENV = "/usr/bin/env"
SW_VERS = "/usr/bin/sw_vers"
SYSTEM_PROFILER = "/usr/sbin/system_profiler"
SNTP = "/usr/bin/sntp"
# sntp prints "<offset> +/- <error> <server> <address>", sometimes after a timestamp.
SNTP_OFFSET_RE = re.compile(r"([+-]?\d+(?:\.\d+)?) \+/- ")
KEYCHAIN_SETTINGS = ("lock_on_sleep", "timeout")


def _kept_manifest(path):
    """A published profiles.json in short: its declared sha256, the sha256 of its profiles (recomputed)
    and each profile's filename and sha256; ``error`` when it cannot be read as one."""
    try:
        manifest = load_manifest(path)
    except ManifestError as exc:
        return {"error": str(exc)}
    profiles = manifest.get("profiles") if isinstance(manifest, dict) else None
    if not isinstance(profiles, list) or not all(isinstance(item, dict) for item in profiles):
        return {"error": "%s: profiles: not a list of entries" % path}
    return {"sha256": manifest.get("sha256"), "version": manifest.get("version"),
            "profiles_sha256": profiles_sha256(profiles),
            "profiles": [{"filename": item.get("filename"), "sha256": item.get("sha256")} for item in profiles]}


def security_user(euid, user, user_uid):
    """The user the ``security`` commands must switch to, or None when they run as the caller.

    ``security`` reads the search list, the default keychain and the unlock state of the running user
    (uid and ``HOME``), and only a keychain's owner can inspect it. A reader running as root (the converge's
    one call per node, which also scans the node for stray credentials) therefore runs them as ``user``;
    ``user_uid`` is None when the user does not exist, and then sudo's own refusal is what gets recorded.
    """
    if euid != 0 or user_uid == 0 or user in ("root", "0"):
        return None
    return user


def as_user(user, argv):
    """``argv`` run as ``user`` from root, the way become_user runs a module: ``sudo -n -H -u <user> --``.

    ``-n``: never prompt (root needs no password); ``-H``: the user's HOME; ``env LC_ALL=C`` because sudo's
    env_reset may drop the caller's LC_ALL, and the error classification reads English messages. Only argv
    goes through sudo; a secret stays on the standard input (``security -i``), never on the command line.
    """
    return [SUDO, "-n", "-H", "-u", user, "--", ENV, "LC_ALL=C"] + [str(arg) for arg in argv]


def _first_line(text):
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""


class NodeReader(object):
    """Reads one part of the node at a time; records why a value is missing in ``unavailable``."""

    def __init__(self, module, user, home, run_as=None):
        self.module = module
        self.user = user
        self.home = home
        self.run_as = run_as
        self.unavailable = {}
        # Only the user-scoped commands (security) switch user; files and system commands are read as the caller.
        self.security = SecurityRunner(self._run_as_user if run_as else self._run)

    def _run(self, argv, data=None):
        """run_command with LC_ALL=C that reports a missing binary as a failed command."""
        try:
            return self.module.run_command(argv, data=data, environ_update={"LC_ALL": "C"}, handle_exceptions=False)
        except (IOError, OSError) as exc:
            return 127, "", "%s: %s" % (argv[0], exc)

    def _run_as_user(self, argv, data=None):
        return self._run(as_user(self.run_as, argv), data=data)

    def missing(self, field, reason):
        self.unavailable[field] = reason
        return None

    def _security(self, field, *args):
        """``(out, err)`` of a security command, or None with the reason recorded under ``field``."""
        rc, out, err = self.security.run(*args)
        error = classify_error(rc, out, err)
        if error is not None:
            return self.missing(field, "security %s: %s" % (args[0], error.message))
        return out, err

    # --- identities ------------------------------------------------------------------------

    def identities(self, keychain):
        result = {"identities": None, "identity_hash": None, "summary_hash": None}
        if not os.path.exists(keychain):
            for field in result:
                self.missing(field, "keychain %s does not exist" % keychain)
            return result
        valid_only = self._security("identity_hash", "find-identity", "-v", "-p", "codesigning", keychain)
        if valid_only is not None:
            try:
                result["identity_hash"] = identity_hash(parse_find_identity(valid_only[0]))
                result["summary_hash"] = summary_hash(valid_only[0])
            except ParseError as exc:
                self.missing("identity_hash", str(exc))
                self.missing("summary_hash", str(exc))
        else:
            self.missing("summary_hash", self.unavailable["identity_hash"])
        every = self._security("identities", "find-identity", "-p", "codesigning", keychain)
        if every is not None:
            try:
                result["identities"] = parse_find_identity(every[0])
            except ParseError as exc:
                self.missing("identities", str(exc))
        return result

    def certificates(self, keychain, identities):
        """The certificates of ``identities`` (or of the keychain's code-signing identities when None)."""
        if not os.path.exists(keychain):
            return self.missing("certificates", "keychain %s does not exist" % keychain)
        if identities is None:
            every = self._security("certificates", "find-identity", "-p", "codesigning", keychain)
            if every is None:
                return None
            try:
                identities = parse_find_identity(every[0])
            except ParseError as exc:
                return self.missing("certificates", str(exc))
        names = dict((identity["sha1"], identity["name"]) for identity in identities)
        rc, out, err = self.security.run("find-certificate", "-a", "-Z", "-p", keychain)
        error = classify_error(rc, out, err)
        if isinstance(error, ItemNotFoundError):
            # security reports a keychain without certificates as a failed search.
            return []
        if error is not None:
            return self.missing("certificates", "security find-certificate: %s" % error.message)
        try:
            found = parse_find_certificate_pem(out)
        except ParseError as exc:
            return self.missing("certificates", str(exc))
        result = []
        for cert in found:
            if cert["sha1"] not in names or any(item["sha1"] == cert["sha1"] for item in result):
                continue
            try:
                info = certificate_info(cert["der"])
            except ValueError as exc:
                return self.missing("certificates", "certificate %s cannot be decoded: %s" % (cert["sha1"], exc))
            result.append({"sha1": cert["sha1"], "name": info["subject_cn"] or names[cert["sha1"]],
                           "not_after": info["not_after"]})
        return result

    # --- keychain ----------------------------------------------------------------------------

    def _read_locked_settings(self, path, password):
        """Unlock ``path`` with ``password``, read its settings and lock it again, in one ``security -i``.

        Returns ``(rc, out, err)`` of the batch (show-keychain-info prints its line there), or None
        with the reason recorded.
        """
        try:
            streams = self.security.batch([
                ["unlock-keychain", "-p", Secret(password), path],
                ["show-keychain-info", path],
                # It was locked: leave it so, whatever the read gave.
                ["lock-keychain", path],
            ])
        except UnsafeTokenError:
            for field in KEYCHAIN_SETTINGS:
                self.missing("keychain." + field, "keychain_password has characters security -i cannot receive")
            return None
        error = classify_error(*streams)
        if error is not None:
            for field in KEYCHAIN_SETTINGS:
                self.missing("keychain." + field, "security -i (unlock-keychain, show-keychain-info, lock-keychain): %s"
                             % error.message)
            return None
        return streams

    def keychain(self, path, password=None):
        info = {"path": path, "exists": os.path.exists(path), "owner": None, "mode": None,
                "lock_on_sleep": None, "timeout": None, "locked": None}
        if not info["exists"]:
            for field in ("owner", "mode", "locked") + KEYCHAIN_SETTINGS:
                self.missing("keychain." + field, "keychain %s does not exist" % path)
            return info
        try:
            st = os.stat(path)
        except OSError as exc:
            self.missing("keychain.owner", str(exc))
            self.missing("keychain.mode", str(exc))
        else:
            info["owner"] = user_name(st.st_uid)
            info["mode"] = "%04o" % stat.S_IMODE(st.st_mode)

        rc, out, err = self.security.run("show-keychain-info", path)
        error = classify_error(rc, out, err)
        if isinstance(error, InteractionNotAllowedError) and password:
            info["locked"] = True
            streams = self._read_locked_settings(path, password)
            if streams is None:
                return info
            self._settings(info, streams[1], streams[2])
            return info
        if isinstance(error, InteractionNotAllowedError):
            # Reading the settings needs the keychain unlocked; over SSH security cannot prompt.
            info["locked"] = True
            for field in KEYCHAIN_SETTINGS:
                self.missing("keychain." + field, error.message)
        elif error is not None:
            for field in ("locked",) + KEYCHAIN_SETTINGS:
                self.missing("keychain." + field, "security show-keychain-info: %s" % error.message)
        else:
            self._settings(info, out, err)
            info["locked"] = False
        return info

    def _settings(self, info, out, err):
        try:
            # security prints the settings line on stderr.
            settings = parse_keychain_info(err + "\n" + out)
        except ParseError as exc:
            for field in KEYCHAIN_SETTINGS:
                self.missing("keychain." + field, str(exc))
        else:
            info["lock_on_sleep"] = settings["lock_on_sleep"]
            info["timeout"] = settings["timeout"]

    def keychain_list(self, field, *args):
        streams = self._security(field, *args)
        if streams is None:
            return None
        try:
            return parse_keychain_list(streams[0])
        except ParseError as exc:
            return self.missing(field, str(exc))

    def default_keychain(self):
        paths = self.keychain_list("default_keychain", "default-keychain", "-d", "user")
        if paths is None:
            return None
        if not paths:
            return self.missing("default_keychain", "security default-keychain printed no keychain")
        return paths[0]

    # --- profiles ----------------------------------------------------------------------------

    def _user_ids(self):
        """``(uid, gids)`` of the signing user, or None when the user does not exist."""
        try:
            entry = pwd.getpwnam(self.user)
        except KeyError:
            return None
        gids = set([entry.pw_gid])
        gids.update(group.gr_gid for group in grp.getgrall() if self.user in group.gr_mem)
        return entry.pw_uid, gids

    @staticmethod
    def _writable(path, uid, gids):
        """Whether ``uid`` (in ``gids``) can create files in ``path``, or create ``path`` itself."""
        while not os.path.exists(path):
            path = os.path.dirname(path)
        st = os.stat(path)
        if uid == 0 or st.st_uid == uid:
            # root writes anywhere; an owner can always chmod its own directory.
            return True
        if st.st_gid in gids:
            bits = stat.S_IWGRP | stat.S_IXGRP
        else:
            bits = stat.S_IWOTH | stat.S_IXOTH
        return st.st_mode & bits == bits

    def profile_dirs(self, dirs):
        ids = self._user_ids()
        report = {}
        for directory in dirs:
            is_symlink = os.path.islink(directory)
            entry = {
                "exists": os.path.isdir(directory),
                "is_symlink": is_symlink,
                "target": os.readlink(directory) if is_symlink else None,
                "writable_by_user": None,
            }
            if ids is None:
                self.missing("profile_dirs.%s.writable_by_user" % directory, "user %s does not exist" % self.user)
            else:
                try:
                    entry["writable_by_user"] = self._writable(os.path.realpath(directory), *ids)
                except OSError as exc:
                    self.missing("profile_dirs.%s.writable_by_user" % directory, str(exc))
            report[directory] = entry
        return report

    def _profile(self, directory, filename):
        path = os.path.join(directory, filename)
        record = {"uuid": None, "name": None, "team_id": None, "expires": None, "sha256": None,
                  "filename": filename, "directory": directory}
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            record["error"] = "cannot be read (%s)" % exc
            return record
        record["sha256"] = hashlib.sha256(data).hexdigest()
        try:
            profile = parse_profile(data, source=path)
        except ProfileError as exc:
            record["error"] = str(exc)
            return record
        for field in ("uuid", "name", "team_id", "expires"):
            record[field] = profile[field]
        return record

    def profiles(self, dirs):
        """``(profiles, duplicate_uuids)``; directories reached through the same real path are read once."""
        seen = {}
        profiles = []
        locations = {}
        for directory in dirs:
            real = os.path.realpath(directory)
            if real in seen or not os.path.isdir(real):
                continue
            seen[real] = directory
            try:
                names = sorted(os.listdir(real))
            except OSError as exc:
                self.missing("profiles:%s" % directory, str(exc))
                continue
            found = [self._profile(directory, name) for name in names if name.endswith(PROFILE_EXTENSIONS)]
            profiles.extend(found)
            for record in found:
                if record["uuid"]:
                    # UUIDs compare case-insensitively; report the first spelling seen.
                    locations.setdefault(record["uuid"].lower(), (record["uuid"], set()))[1].add(real)
        return profiles, sorted(uuid for uuid, reals in locations.values() if len(reals) > 1)

    # --- files and other commands ------------------------------------------------------------

    def active_manifest(self, profile_root):
        current = os.path.join(profile_root, "current")
        if not os.path.exists(current):
            return self.missing("active_manifest", "%s does not exist" % current)
        version_dir = os.path.realpath(current)
        manifest_path = os.path.join(version_dir, "profiles.json")
        try:
            manifest = load_manifest(manifest_path)
        except ManifestError as exc:
            return self.missing("active_manifest", str(exc))
        if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str):
            return self.missing("active_manifest", "%s has no sha256" % manifest_path)
        if manifest["sha256"] != os.path.basename(version_dir):
            return self.missing("active_manifest", "%s declares sha256 %s but its directory is %s" % (
                manifest_path, manifest["sha256"], version_dir))
        return {"sha256": manifest["sha256"], "version": manifest.get("version"), "path": version_dir}

    def profile_store(self, profile_root):
        """What profile_mounts owns under ``profile_root``: for the bootstrap's fast path and the audit.

        ``entries`` (names in the root: the version directories, ``current``, ``previous``, leftovers)
        and ``current``/``previous`` (link targets), plus the active version directory (``version``) and
        the one kept for rollback (``kept``): owner, mode and files (owner, mode, sha256). ``kept`` also
        gives its own ``profiles.json`` in short (``manifest``: declared and recomputed sha256, each
        profile's filename and sha256), so the audit verifies the rollback version against the manifest
        it was published from (the directory's name is that sha256). Small: a few profiles each.
        """
        store = {"root": profile_root, "entries": None, "current": None, "previous": None, "version": None,
                 "kept": None}
        try:
            store["entries"] = sorted(os.listdir(profile_root))
        except OSError as exc:
            return self.missing("profile_store", "%s: %s" % (profile_root, exc))
        for link in ("current", "previous"):
            path = os.path.join(profile_root, link)
            if os.path.islink(path):
                store[link] = os.readlink(path)
        for link, key in (("current", "version"), ("previous", "kept")):
            if store[link] is None:
                continue
            version_dir = os.path.realpath(os.path.join(profile_root, link))
            try:
                store[key] = self._version_dir(version_dir, with_manifest=key == "kept")
            except (IOError, OSError) as exc:
                if key == "kept":
                    # A dangling or unreadable rollback version is the audit's finding, not a lost read.
                    store[key] = {"path": version_dir, "error": str(exc)}
                    continue
                return self.missing("profile_store", "%s: %s" % (version_dir, exc))
        return store

    def _version_dir(self, version_dir, with_manifest=False):
        st = os.lstat(version_dir)
        version = {"path": version_dir, "owner": user_name(st.st_uid), "mode": "%04o" % stat.S_IMODE(st.st_mode),
                   "files": {}}
        for name in sorted(os.listdir(version_dir)):
            path = os.path.join(version_dir, name)
            entry_st = os.lstat(path)
            entry = {"owner": user_name(entry_st.st_uid), "mode": "%04o" % stat.S_IMODE(entry_st.st_mode),
                     "type": "file" if stat.S_ISREG(entry_st.st_mode) else "other", "sha256": None}
            if entry["type"] == "file":
                entry["sha256"] = file_sha256(path)
            version["files"][name] = entry
        if with_manifest:
            version["manifest"] = _kept_manifest(os.path.join(version_dir, "profiles.json"))
        return version

    def wrapper(self, path, log_path=None):
        """The wrapper's sha256 and, under ``log``, its audit log's state (``_audit_log.read_log``; None with
        the reason under ``wrapper.log`` when it cannot be read)."""
        try:
            wrapper = {"path": path, "sha256": file_sha256(path)}
        except (IOError, OSError) as exc:
            return self.missing("wrapper", str(exc))
        log_path = log_path or _layout.LAYOUT["wrapper_log_path"]
        try:
            wrapper["log"] = read_log(log_path)
        except (IOError, OSError) as exc:
            wrapper["log"] = self.missing("wrapper.log", "%s: %s" % (log_path, exc))
        return wrapper

    def release_state(self, path=None):
        """The release the node recorded (None when it recorded none: a new or pre-release node)."""
        path = path or _layout.LAYOUT["release_state_path"]
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except (IOError, OSError) as exc:
            if getattr(exc, "errno", None) == 2:
                return None
            return self.missing("release_state", "%s: %s" % (path, exc))
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return self.missing("release_state", "%s is not a JSON release record: %s" % (path, exc))
        if not isinstance(data, dict) or not isinstance(data.get("release"), dict):
            return self.missing("release_state", "%s has no release object" % path)
        return data

    def command(self, field, argv):
        rc, out, err = self._run(argv)
        if rc != 0:
            return self.missing(field, "%s exited with %s: %s" % (" ".join(argv), rc, _first_line(err) or _first_line(out)))
        return out

    def hardware_fingerprint(self):
        out = self.command("hardware_fingerprint", [SYSTEM_PROFILER, "SPHardwareDataType"])
        if out is None:
            return None
        if not out.strip():
            return self.missing("hardware_fingerprint", "system_profiler printed nothing")
        return hashlib.sha256(out.encode("utf-8")).hexdigest()

    def macos_version(self):
        out = self.command("macos_version", [SW_VERS, "-productVersion"])
        if out is None:
            return None
        return out.strip() or self.missing("macos_version", "sw_vers printed nothing")

    def clock_offset(self, server):
        out = self.command("clock_offset", [SNTP, server])
        if out is None:
            return None
        match = SNTP_OFFSET_RE.search(out)
        if match is None:
            return self.missing("clock_offset", "no '<offset> +/- <error>' in sntp output: %r" % _first_line(out))
        return float(match.group(1))
