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
  - C(security) reads the search list and default keychain of the running user and its C(HOME), and a keychain
    can only be inspected by its owner. Run it as the signing user (C(become_user=ci-build)), or as root
    (C(become=true)) - then every C(security) command runs as O(user) through C(/usr/bin/sudo -n -H -u <user> --),
    in the same login session, which is what C(become_user) does; files and the other commands are read as root.
  - With O(secret_scan) (run as root), the same call also scans the node for stray credentials with the
    scan of M(macmesh.signing.secret_scan); the converge's audit reads each node in this one call.
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
      - The module warns when it runs neither as this user nor as root.
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
  wrapper_log_path:
    description:
      - The wrapper's audit log, read with the V(wrapper) part (RV(wrapper.log)).
    type: path
    default: /Library/Logs/MacMesh/keychain-unlock.log
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
      - V(agent) gives RV(agent); it is only read when named.
      - V(profile_store) gives RV(profile_store); it is only read when named.
    type: list
    elements: str
    choices: [identities, certificates, keychain, search_list, default_keychain, profiles, active_manifest, wrapper,
              hardware_fingerprint, macos_version, clock_offset, release_state, agent, profile_store]
    default: [identities, certificates, keychain, search_list, default_keychain, profiles, active_manifest, wrapper,
              hardware_fingerprint, macos_version, clock_offset, release_state]
  release_state_path:
    description: The release record the node keeps (written by bootstrap, converge and rotate).
    type: path
    default: /Library/MacMesh/release.json
  secret_scan:
    description:
      - Also scan the node for stray credentials, with the same scan and options as M(macmesh.signing.secret_scan),
        and return it as RV(secret_scan). Not set - no scan.
      - Run as root for the scan to see every home directory.
    type: dict
    suboptions:
      paths:
        description: Files or directories to scan; see M(macmesh.signing.secret_scan).
        type: list
        elements: path
        required: true
      allowlist:
        description: Shell-style patterns of the places where credentials are allowed.
        type: list
        elements: str
        default: []
      kinds:
        description: The kinds of finding to look for. The default is all of them.
        type: list
        elements: str
        choices: [github_token, gitlab_token, aws_access_key, private_key, kubeconfig, pkcs12, asc_api_key]
        default: [github_token, gitlab_token, aws_access_key, private_key, kubeconfig, pkcs12, asc_api_key]
      max_file_size:
        description: Files larger than this many bytes are not read. Their names are still checked.
        type: int
        default: 1048576
  agent:
    description:
      - Where the V(agent) part looks; see RV(agent). Keys C(ramdisk) (default C(/Volumes/MacMeshNotary)),
        C(janitor_label) (C(com.macmesh.notary-janitor)), C(ci_agent_label) (C(com.macmesh.ci-agent)),
        C(runner_identity) (C(/Library/MacMesh/runner-identity.json)) and C(secret_versions)
        (C(/Library/MacMesh/secret-versions.json)).
    type: dict
    default: {}
notes:
  - Commands run, all with C(LC_ALL=C) - C(security find-identity -v -p codesigning <keychain>),
    C(security find-identity -p codesigning <keychain>), C(security find-certificate -a -Z -p <keychain>),
    C(security show-keychain-info <keychain>),
    C(security list-keychains -d user), C(security default-keychain -d user), C(/usr/bin/sw_vers -productVersion),
    C(/usr/sbin/system_profiler SPHardwareDataType) and C(/usr/bin/sntp <ntp_server>); for V(agent)
    C(/sbin/mount) and C(/bin/launchctl print system/<label>).
  - Profile directories that are symbolic links to the same directory count as one location; their profiles are
    listed once, under the first of O(profile_dirs) that leads there.
  - C(writable_by_user) is computed from the owner, group and mode bits (the module may run as another user).
    An owner can always change the mode, so a directory the user owns counts as writable. ACLs are not evaluated.
  - With O(keychain_password) and a locked keychain, also C(security -i) with C(unlock-keychain),
    C(show-keychain-info) and C(lock-keychain) on its standard input.
  - Run as root for another O(user), each C(security) command is C(/usr/bin/sudo -n -H -u <user> -- /usr/bin/env
    LC_ALL=C /usr/bin/security ...); only its arguments pass through sudo, a password stays on the standard input.
seealso:
  - module: macmesh.signing.keychain_identity
"""

EXAMPLES = r"""
- name: Read the node and scan it for stray credentials, in one call as root
  macmesh.signing.signing_info:
    user: ci-build
    secret_scan:
      paths: [/Users, /private/tmp]
      allowlist: [/Users/*/Library/Keychains]
  become: true
  register: signing

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
    log:
      description:
        - The wrapper's audit log (O(wrapper_log_path)) - C(path), C(exists), C(type), C(owner), C(group), C(mode),
          C(append_only) (the file refuses writes that do not append, C(chflags sappnd); read by opening it for writing
          without C(O_APPEND), never written) and C(directory) (C(path), C(owner), C(mode)).
        - Null when it cannot be read; RV(unavailable) says why under C(wrapper.log).
      type: dict
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
release_state:
  description:
    - The release the node records - C(release) (C(version), C(serial), C(sha256)), C(manifest) and the declared
      C(identities). Null when the node records none (a new node, or one bootstrapped before releases).
  returned: always
  type: dict
agent:
  description:
    - The CI agent's side of the node (names, paths, modes and versions only, never a secret) - C(ramdisk)
      (path, mounted, fstype, exists, owners_enforced, owner, mode, files), C(janitor) and C(ci_agent) (launchd
      job - label, loaded, state, user, session_create, last_exit, error), C(session_ttl) (configured_s and policy
      from the runner identity file) and C(secret_versions) (name -> version from the node's record).
  returned: when V(agent) is in O(gather)
  type: dict
secret_scan:
  description:
    - The result of the secret scan, as M(macmesh.signing.secret_scan) returns it - C(findings) (path, kind, line;
      never the value), C(summary), C(scanned_files), C(skipped_files) and C(missing).
    - Null when the scan could not run; RV(unavailable) says why under C(secret_scan).
  returned: when O(secret_scan) is set
  type: dict
  sample:
    findings: [{path: /Users/ci-build/.config/gh/hosts.yml, kind: github_token, line: 3}]
    summary: /Users/ci-build/.config/gh/hosts.yml (github_token, line 3)
    scanned_files: 1423
    skipped_files: 12
    missing: []
profile_store:
  description:
    - What the profile_mounts role owns under O(profile_root) - C(root), C(entries) (the names in it), C(current) and
      C(previous) (link targets, null when absent) and C(version), the active version directory (C(path), C(owner),
      C(mode) and C(files) - name -> C(owner), C(mode), C(type) (V(file) or V(other)) and C(sha256)).
    - C(kept) is the version kept for rollback (the target of C(previous)), in the same shape plus C(manifest) - its own
      C(profiles.json) in short (C(sha256) as declared, C(profiles_sha256) recomputed from its profiles, C(version),
      and each profile's C(filename) and C(sha256)), so that the audit can verify it (finding C(PROFILE_KEPT_TAMPERED)).
      A C(previous) that cannot be read gives C(kept.error) instead, never a lost read.
    - Null when O(profile_root) cannot be listed (RV(unavailable) says why).
  returned: when V(profile_store) is in O(gather)
  type: dict
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

import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.macmesh.signing.plugins.module_utils import _layout
from ansible_collections.macmesh.signing.plugins.module_utils._agent import AGENT_OPTIONS, read_agent
from ansible_collections.macmesh.signing.plugins.module_utils._node import FIELDS, PARTS, XCODE_PROFILE_DIRS, NodeReader, security_user
from ansible_collections.macmesh.signing.plugins.module_utils._secret_scan import KINDS, ScanOptionError, run_scan


def main():
    module = AnsibleModule(
        argument_spec=dict(
            user=dict(type="str", default=_layout.LAYOUT["user"]),
            keychain=dict(type="path"),
            keychain_password=dict(type="str", no_log=True),
            profile_dirs=dict(type="list", elements="path"),
            profile_root=dict(type="path", default=_layout.LAYOUT["profile_root"]),
            wrapper_path=dict(type="path", default=_layout.LAYOUT["wrapper_path"]),
            wrapper_log_path=dict(type="path", default=_layout.LAYOUT["wrapper_log_path"]),
            ntp_server=dict(type="str", default=_layout.LAYOUT["ntp_server"]),
            gather=dict(type="list", elements="str", choices=PARTS + ["agent", "profile_store"], default=PARTS),
            agent=dict(type="dict", default={}),
            release_state_path=dict(type="path", default=_layout.LAYOUT["release_state_path"]),
            # Where to scan (paths, patterns): no secret in it.
            secret_scan=dict(type="dict", no_log=False, options=dict(
                paths=dict(type="list", elements="path", required=True),
                allowlist=dict(type="list", elements="str", default=[]),
                kinds=dict(type="list", elements="str", choices=KINDS, default=KINDS),
                max_file_size=dict(type="int", default=1048576),
            )),
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
        home, user_uid = entry.pw_dir, entry.pw_uid
    except KeyError:
        home, user_uid = "/Users/" + user, None
        module.warn("user %s does not exist on this node." % user)
    # As root: security runs as the user through sudo (same session, as become_user); otherwise as the caller.
    run_as = security_user(os.geteuid(), user, user_uid)
    if run_as is None and user_uid is not None and os.geteuid() != user_uid:
        module.warn("signing_info runs as uid %d, not as %s: the search list and default keychain "
                    "are those of the running user. Use become_user: %s, or become root." % (os.geteuid(), user, user))
    keychain = params["keychain"] or os.path.join(home, "Library/Keychains/%s.keychain-db" % user)
    profile_dirs = params["profile_dirs"] or [os.path.join(home, d) for d in XCODE_PROFILE_DIRS]
    gather = set(params["gather"])

    reader = NodeReader(module, user, home, run_as=run_as)
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
        result["wrapper"] = reader.wrapper(params["wrapper_path"], params["wrapper_log_path"])
    if "hardware_fingerprint" in gather:
        result["hardware_fingerprint"] = reader.hardware_fingerprint()
    if "macos_version" in gather:
        result["macos_version"] = reader.macos_version()
    if "clock_offset" in gather:
        result["clock_offset"] = reader.clock_offset(params["ntp_server"])
    if "release_state" in gather:
        result["release_state"] = reader.release_state(params["release_state_path"])
    if "agent" in gather:
        # The reader lives in module_utils/_agent.py (issue 12).
        unknown = sorted(set(params["agent"]) - set(AGENT_OPTIONS))
        if unknown:
            module.fail_json(msg="agent: unknown key %s (known: %s)" % (unknown[0], ", ".join(sorted(AGENT_OPTIONS))))
        result["agent"], agent_unavailable = read_agent(
            reader._run, **dict((AGENT_OPTIONS[key], value) for key, value in params["agent"].items()))
        reader.unavailable.update(agent_unavailable)
    if "profile_store" in gather:
        result["profile_store"] = reader.profile_store(params["profile_root"])
    if params["secret_scan"] is not None:
        # Issue 14: the converge reads a node in one call; the scan is the module's (module_utils/_secret_scan.py).
        try:
            result["secret_scan"] = run_scan(params["secret_scan"])
        except ScanOptionError as exc:
            module.fail_json(msg=str(exc))
        except (IOError, OSError, RuntimeError, ValueError) as exc:
            # Never lose the signing read to the scan: the audit reports the missing scan instead.
            result["secret_scan"] = reader.missing("secret_scan", "the scan stopped: %s" % exc)
    result["unavailable"] = reader.unavailable
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
