#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: signing_info
short_description: Read everything a compliance check needs from a signing node, in one call
version_added: 0.1.0
description:
  - Reads the signing identities, the signing keychain and its settings, the user's keychain search list,
    the provisioning profiles in both Xcode directories, the active profile manifest, the unlock wrapper,
    a hardware fingerprint, the macOS version and the clock offset.
  - Never changes the node and never fails because something cannot be read. Whatever cannot be read is
    null, and RV(unavailable) says why. Only invalid option values make the task fail.
  - The one exception to "never changes" is O(keychain_password) - the lock settings of a locked keychain
    can only be read unlocked, so with that option the module unlocks it, reads the settings and locks it again.
  - Run it as the signing user (C(become_user=ci-build)). C(security) reads that user's search list and
    default keychain from the running user and its C(HOME), and a keychain can only be inspected by its owner.
author:
  - macmesh.signing maintainers (@macmesh)
extends_documentation_fragment:
  - macmesh.signing.attributes
  - macmesh.signing.attributes.darwin
  - macmesh.signing.attributes.info_module
options:
  user:
    description:
      - The signing user. Its home directory gives the defaults of O(keychain) and O(profile_dirs), and
        RV(profile_dirs) reports whether this user can write to each profile directory.
      - The module warns when it does not run as this user.
    type: str
    default: ci-build
  keychain:
    description:
      - The signing keychain.
      - Defaults to C(~/Library/Keychains/<user>.keychain-db) in the home of O(user).
    type: path
  keychain_password:
    description:
      - The password of O(keychain). Only used when the keychain is locked, to read its lock settings
        (RV(keychain.lock_on_sleep), RV(keychain.timeout)); the keychain is locked again right after.
      - It reaches C(security) on its standard input (C(security -i)), never on a command line, and is
        never returned.
      - Without it, the settings of a locked keychain are null and RV(unavailable) says why.
    type: str
  profile_dirs:
    description:
      - The directories Xcode loads provisioning profiles from.
      - Defaults to C(~/Library/MobileDevice/Provisioning Profiles) (Xcode 15 and older) and
        C(~/Library/Developer/Xcode/UserData/Provisioning Profiles) (Xcode 16 and newer) in the home of O(user).
    type: list
    elements: path
  profile_root:
    description:
      - Directory holding the profile versions. The active version is the directory that C(<profile_root>/current)
        points to, named after the sha256 of its C(profiles.json).
    type: path
    default: /Library/MacMesh/profiles
  wrapper_path:
    description:
      - The keychain unlock wrapper.
    type: path
    default: /usr/local/bin/macmesh-keychain-unlock
  ntp_server:
    description:
      - Server that C(sntp) measures the clock offset against.
    type: str
    default: time.apple.com
  gather:
    description:
      - The parts to read. The others are returned as null, with the reason C(not gathered).
      - V(identities) gives RV(identities), RV(identity_hash) and RV(summary_hash).
      - V(certificates) gives RV(certificates); it reuses the identities read by V(identities) when both are gathered.
      - V(profiles) gives RV(profiles), RV(profile_dirs) and RV(duplicate_uuids).
    type: list
    elements: str
    choices: [identities, certificates, keychain, search_list, default_keychain, profiles, active_manifest, wrapper,
              hardware_fingerprint, macos_version, clock_offset]
    default: [identities, certificates, keychain, search_list, default_keychain, profiles, active_manifest, wrapper,
              hardware_fingerprint, macos_version, clock_offset]
notes:
  - Commands run, all with C(LC_ALL=C) - C(security find-identity -v -p codesigning <keychain>),
    C(security find-identity -p codesigning <keychain>), C(security find-certificate -a -Z -p <keychain>),
    C(security show-keychain-info <keychain>),
    C(security list-keychains -d user), C(security default-keychain -d user), C(/usr/bin/sw_vers -productVersion),
    C(/usr/sbin/system_profiler SPHardwareDataType) and C(/usr/bin/sntp <ntp_server>).
  - Profile directories that are symbolic links to the same directory count as one location; their profiles are
    listed once, under the first of O(profile_dirs) that leads there.
  - C(writable_by_user) is computed from the owner, group and mode bits (the module may run as another user).
    An owner can always change the mode, so a directory the user owns counts as writable. ACLs are not evaluated.
  - With O(keychain_password) and a locked keychain, also C(security -i) with C(unlock-keychain),
    C(show-keychain-info) and C(lock-keychain) on its standard input.
seealso:
  - module: macmesh.signing.keychain_identity
"""

EXAMPLES = r"""
- name: Read the signing state of the node
  macmesh.signing.signing_info:
  become: true
  become_user: ci-build
  register: signing

- name: Fail when the keychain is not set up to stay unlocked during builds
  ansible.builtin.assert:
    that:
      - signing.keychain.exists
      - signing.keychain.timeout is none
      - not signing.keychain.lock_on_sleep
      - signing.duplicate_uuids | length == 0

- name: Only the identities and the profiles, without asking an NTP server
  macmesh.signing.signing_info:
    gather: [identities, profiles]
  become: true
  become_user: ci-build
"""

RETURN = r"""
identities:
  description: Code-signing identities in the keychain, valid or not. Null when they cannot be read.
  returned: always
  type: list
  elements: dict
  contains:
    sha1:
      description: SHA-1 of the certificate, upper-case hexadecimal.
      type: str
    name:
      description: Name of the identity.
      type: str
    valid:
      description: Whether C(security) lists the identity as valid.
      type: bool
  sample:
    - sha1: 86890D67F234745572B7EF153C72DEA7CF522EDE
      name: "iPhone Distribution: Tien Le (QG598U658S)"
      valid: true
identity_hash:
  description: sha256 of the sorted C(<SHA1> <name>) lines of the valid identities; equal on nodes with the same identities.
  returned: always
  type: str
  sample: 0b9a5ed0d7cf3a9d5bbd09f8b9fa5b6d0f4a8f5c4ff1c6c7cfb7a4f4c1a8f1d2
summary_hash:
  description: sha1 of the raw C(security find-identity -v -p codesigning <keychain>) output, as C(| shasum) prints it on the node.
  returned: always
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d70
certificates:
  description:
    - The certificates of the code-signing identities in RV(identities), read from the keychain with
      C(security find-certificate -a -Z -p); other certificates of the keychain (CA certificates) are left out.
    - Null when they cannot be read; empty when the keychain holds no identity.
  returned: always
  type: list
  elements: dict
  contains:
    sha1:
      description: SHA-1 of the certificate, upper-case hexadecimal (the identity's SHA-1).
      type: str
    name:
      description: Common name of the certificate's subject.
      type: str
    not_after:
      description: End of the certificate's validity, C(YYYY-MM-DDTHH:MM:SSZ).
      type: str
  sample:
    - sha1: 86890D67F234745572B7EF153C72DEA7CF522EDE
      name: "iPhone Distribution: Tien Le (QG598U658S)"
      not_after: "2027-03-01T10:12:44Z"
keychain:
  description: The signing keychain. Settings are null when the keychain is locked.
  returned: always
  type: dict
  contains:
    path:
      description: Path of the keychain.
      type: str
    exists:
      description: Whether the keychain file exists.
      type: bool
    owner:
      description: Name of the file's owner.
      type: str
    mode:
      description: Permission bits of the file, in octal.
      type: str
      sample: "0600"
    lock_on_sleep:
      description: Whether the keychain locks when the Mac sleeps.
      type: bool
    timeout:
      description: Seconds of inactivity after which the keychain locks; null for no timeout.
      type: int
    locked:
      description:
        - Whether the keychain is locked (C(security) cannot read its settings without prompting).
        - With O(keychain_password), the state found before the module unlocked it to read the settings.
      type: bool
search_list:
  description: The user's keychain search list (C(security list-keychains -d user)).
  returned: always
  type: list
  elements: str
  sample: [/Users/ci-build/Library/Keychains/ci-build.keychain-db]
default_keychain:
  description: The user's default keychain.
  returned: always
  type: str
profiles:
  description: Provisioning profiles found in O(profile_dirs). A profile that cannot be read has C(error) set and null fields.
  returned: always
  type: list
  elements: dict
  contains:
    uuid:
      description: UUID of the profile.
      type: str
    name:
      description: Name of the profile.
      type: str
    team_id:
      description: Team ID.
      type: str
    expires:
      description: Expiration date, C(YYYY-MM-DDTHH:MM:SSZ).
      type: str
    sha256:
      description: sha256 of the file.
      type: str
    filename:
      description: File name.
      type: str
    directory:
      description: The entry of O(profile_dirs) the file was found through.
      type: str
    error:
      description: Why the profile could not be read; only present then.
      type: str
      returned: when the profile cannot be read
profile_dirs:
  description: Each of O(profile_dirs), keyed by path.
  returned: always
  type: dict
  sample:
    "/Users/ci-build/Library/MobileDevice/Provisioning Profiles":
      exists: true
      is_symlink: true
      target: /Library/MacMesh/profiles/current
      writable_by_user: false
duplicate_uuids:
  description: UUIDs of profiles present in more than one of the distinct directories of O(profile_dirs).
  returned: always
  type: list
  elements: str
active_manifest:
  description: The active profile manifest (C(<profile_root>/current/profiles.json)).
  returned: always
  type: dict
  contains:
    sha256:
      description: The manifest's sha256, which is also the name of its directory.
      type: str
    version:
      description: The manifest's version label.
      type: str
    path:
      description: The version directory C(current) resolves to.
      type: str
wrapper:
  description: The unlock wrapper and the sha256 of its content.
  returned: always
  type: dict
  contains:
    path:
      description: Path of the wrapper.
      type: str
    sha256:
      description: sha256 of the file.
      type: str
hardware_fingerprint:
  description: sha256 of the output of C(system_profiler SPHardwareDataType).
  returned: always
  type: str
macos_version:
  description: Output of C(sw_vers -productVersion).
  returned: always
  type: str
  sample: "15.3.1"
clock_offset:
  description: Offset of the local clock from O(ntp_server), in seconds, as C(sntp) reports it.
  returned: always
  type: float
  sample: 0.000233
unavailable:
  description:
    - Why a value is null, keyed by the name of the value (C(keychain.timeout) for a field inside RV(keychain),
      C(profiles:<dir>) for a profile directory that cannot be listed).
  returned: always
  type: dict
  sample:
    keychain.lock_on_sleep: "security: SecKeychainCopySettings /Users/ci-build/Library/Keychains/ci-build.keychain-db: User interaction is not allowed."
    clock_offset: "not gathered"
"""

import grp
import hashlib
import json
import os
import pwd
import re
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.macmesh.signing.plugins.module_utils import _layout
from ansible_collections.macmesh.signing.plugins.module_utils._identity import identity_hash, summary_hash
from ansible_collections.macmesh.signing.plugins.module_utils._manifest import PROFILE_EXTENSIONS
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
    "wrapper", "hardware_fingerprint", "macos_version", "clock_offset",
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
SW_VERS = "/usr/bin/sw_vers"
SYSTEM_PROFILER = "/usr/sbin/system_profiler"
SNTP = "/usr/bin/sntp"
# sntp prints "<offset> +/- <error> <server> <address>", sometimes after a timestamp.
SNTP_OFFSET_RE = re.compile(r"([+-]?\d+(?:\.\d+)?) \+/- ")
KEYCHAIN_SETTINGS = ("lock_on_sleep", "timeout")


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_line(text):
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""


class NodeReader(object):
    """Reads one part of the node at a time; records why a value is missing in ``unavailable``."""

    def __init__(self, module, user, home):
        self.module = module
        self.user = user
        self.home = home
        self.unavailable = {}
        self.security = SecurityRunner(self._run)

    def _run(self, argv, data=None):
        """run_command with LC_ALL=C that reports a missing binary as a failed command."""
        try:
            return self.module.run_command(argv, data=data, environ_update={"LC_ALL": "C"}, handle_exceptions=False)
        except (IOError, OSError) as exc:
            return 127, "", "%s: %s" % (argv[0], exc)

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
            info["owner"] = self._user_name(st.st_uid)
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

    @staticmethod
    def _user_name(uid):
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return str(uid)

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
            with open(manifest_path, "rb") as handle:
                manifest = json.loads(handle.read().decode("utf-8"))
        except (IOError, OSError, ValueError) as exc:
            return self.missing("active_manifest", "%s: %s" % (manifest_path, exc))
        if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str):
            return self.missing("active_manifest", "%s has no sha256" % manifest_path)
        if manifest["sha256"] != os.path.basename(version_dir):
            return self.missing("active_manifest", "%s declares sha256 %s but its directory is %s" % (
                manifest_path, manifest["sha256"], version_dir))
        return {"sha256": manifest["sha256"], "version": manifest.get("version"), "path": version_dir}

    def wrapper(self, path):
        try:
            return {"path": path, "sha256": _sha256_file(path)}
        except (IOError, OSError) as exc:
            return self.missing("wrapper", str(exc))

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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            user=dict(type="str", default=_layout.LAYOUT["user"]),
            keychain=dict(type="path"),
            keychain_password=dict(type="str", no_log=True),
            profile_dirs=dict(type="list", elements="path"),
            profile_root=dict(type="path", default=_layout.LAYOUT["profile_root"]),
            wrapper_path=dict(type="path", default=_layout.LAYOUT["wrapper_path"]),
            ntp_server=dict(type="str", default=_layout.LAYOUT["ntp_server"]),
            gather=dict(type="list", elements="str", choices=PARTS, default=PARTS),
        ),
        supports_check_mode=True,
    )
    params = module.params
    user = params["user"]
    if not user or "/" in user:
        module.fail_json(msg="user: %r is not a user name." % user)
    if not params["ntp_server"] or params["ntp_server"].startswith("-"):
        module.fail_json(msg="ntp_server: %r is not a host name." % params["ntp_server"])
    try:
        entry = pwd.getpwnam(user)
        home = entry.pw_dir
        if os.geteuid() != entry.pw_uid:
            module.warn("signing_info runs as uid %d, not as %s: the search list and default keychain "
                        "are those of the running user. Use become_user: %s." % (os.geteuid(), user, user))
    except KeyError:
        home = "/Users/" + user
        module.warn("user %s does not exist on this node." % user)
    keychain = params["keychain"] or os.path.join(home, "Library/Keychains/%s.keychain-db" % user)
    profile_dirs = params["profile_dirs"] or [os.path.join(home, d) for d in XCODE_PROFILE_DIRS]
    gather = set(params["gather"])

    reader = NodeReader(module, user, home)
    result = dict((field, None) for part in PARTS for field in FIELDS.get(part, (part,)))
    for part in PARTS:
        if part not in gather:
            for field in FIELDS.get(part, (part,)):
                reader.missing(field, "not gathered")
    if "identities" in gather:
        result.update(reader.identities(keychain))
    if "certificates" in gather:
        result["certificates"] = reader.certificates(keychain, result["identities"] if "identities" in gather else None)
    if "keychain" in gather:
        result["keychain"] = reader.keychain(keychain, params["keychain_password"])
    if "search_list" in gather:
        result["search_list"] = reader.keychain_list("search_list", "list-keychains", "-d", "user")
    if "default_keychain" in gather:
        result["default_keychain"] = reader.default_keychain()
    if "profiles" in gather:
        result["profile_dirs"] = reader.profile_dirs(profile_dirs)
        result["profiles"], result["duplicate_uuids"] = reader.profiles(profile_dirs)
    if "active_manifest" in gather:
        result["active_manifest"] = reader.active_manifest(params["profile_root"])
    if "wrapper" in gather:
        result["wrapper"] = reader.wrapper(params["wrapper_path"])
    if "hardware_fingerprint" in gather:
        result["hardware_fingerprint"] = reader.hardware_fingerprint()
    if "macos_version" in gather:
        result["macos_version"] = reader.macos_version()
    if "clock_offset" in gather:
        result["clock_offset"] = reader.clock_offset(params["ntp_server"])
    result["unavailable"] = reader.unavailable
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
