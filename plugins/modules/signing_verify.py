#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: signing_verify
short_description: Prove, as the CI user, that a node signs non-interactively and only while unlocked
version_added: 0.3.0
description:
  - The bootstrap's, the rotation's and the revocation's verify (role C(macmesh.signing.verify)) in one module call, so
    one SSH round trip per node.
  - Must run as O(user) over that user's own login (C(ansible_user), no become), as a CI job does - a sudo session
    would not show what the CI user's session can do.
  - Reads the node back as the CI user (the identities in O(keychain), the active profile version under
    O(profile_root), as M(macmesh.signing.signing_info) does) and, when O(manifest_sha256) is set, checks that the CI
    user reads that version as current.
  - On a signer (O(signer=true)) - writes the scratch file O(file) (directory 0700, file 0600), signs it with O(sha1)
    through O(sign) (C(macmesh-sign) - unlock, sign, lock in one process, the password on file descriptor 3), reads
    the signature (C(codesign -dvvv) - C(Authority) and C(TeamIdentifier)), tries each of O(revoked_sha1s) with the
    keychain unlocked (each must be refused, and not because the keychain was locked), then proves that signing with
    the keychain locked fails within O(probe_timeout) seconds. After a failure it locks the keychain with O(wrapper).
  - On a builder - the CI user sees no valid signing identity, and C(codesign -s) O(sha1) fails.
  - Every command is bounded (its own timeout plus 30 s, then its process group is killed).
  - Reports no change. The module's result carries C(verify) (C(ok), or C(FAILED) with the cause); it fails when the
    verify failed.
author:
  - macmesh.signing maintainers (@macmesh)
extends_documentation_fragment:
  - macmesh.signing.attributes
  - macmesh.signing.attributes.darwin
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module only reads (identities, active version) and checks O(manifest_sha256); it signs nothing.
  diff_mode:
    support: none
options:
  user:
    description: The CI user the module must run as.
    type: str
    required: true
  keychain:
    description: The signing keychain.
    type: path
    required: true
  profile_root:
    description: The profile versions' root (its C(current) link is the active version).
    type: path
    required: true
  sign:
    description: The one-process signing entry point (C(macmesh-sign)).
    type: path
    default: /usr/local/bin/macmesh-sign
  wrapper:
    description: The unlock wrapper, used to lock the keychain after a failed step.
    type: path
    default: /usr/local/bin/macmesh-keychain-unlock
  file:
    description: The scratch file that gets signed.
    type: path
    required: true
  signer:
    description: Whether the node is a signer (otherwise a builder, which must not be able to sign).
    type: bool
    required: true
  sha1:
    description: SHA-1 of the identity to sign with (40 hex digits; colons and spaces are removed). Required on a signer.
    type: str
    default: ""
  team_id:
    description: The Team ID the signature must carry.
    type: str
    default: ""
  keychain_password:
    description: The keychain password, given to O(sign) on file descriptor 3 only. Required on a signer.
    type: str
    default: ""
  revoked_sha1s:
    description: SHA-1s that must not sign any more.
    type: list
    elements: str
    default: []
  manifest_sha256:
    description: When set, the CI user must read this profile version as current.
    type: str
    default: ""
  timeout:
    description: Seconds a signing call may take before O(sign) stops it.
    type: int
    default: 120
  probe_timeout:
    description: Bound of the probe that signs with the keychain locked (it blocks, as on macOS).
    type: int
    default: 5
notes:
  - The password is never in an argument list, the environment, the result or a message.
seealso:
  - module: macmesh.signing.signing_info
  - module: macmesh.signing.launchd_verify
"""

EXAMPLES = r"""
- name: Verify signing as the CI user
  macmesh.signing.signing_verify:
    user: ci-build
    keychain: /Users/ci-build/Library/Keychains/ci-build.keychain-db
    profile_root: /Library/MacMesh/profiles
    file: /Users/ci-build/.macmesh-verify/verify.txt
    signer: true
    sha1: 0123456789ABCDEF0123456789ABCDEF01234567
    team_id: ABCDE12345
    keychain_password: "{{ keychain_password }}"
  vars:
    ansible_user: ci-build
"""

RETURN = r"""
verify:
  description: C(ok), or C(FAILED) with the step that failed and what it printed.
  returned: always
  type: str
  sample: ok
identity_hash:
  description: Hash of the valid identities the CI user sees (as in M(macmesh.signing.signing_info)), or null.
  returned: always
  type: str
identities:
  description: The identities in O(keychain) (sha1, name, valid), as the CI user reads them, or null.
  returned: always
  type: list
  elements: dict
active_manifest:
  description: The active profile version (sha256, version, path), or null.
  returned: always
  type: dict
unavailable:
  description: Why a value could not be read (field -> reason).
  returned: always
  type: dict
"""

import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.macmesh.signing.plugins.module_utils._node import NodeReader
from ansible_collections.macmesh.signing.plugins.module_utils._verify import (
    VerifyFailed, Verifier, check_options, manifest_problem, run_bounded, write_scratch)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            user=dict(type="str", required=True),
            keychain=dict(type="path", required=True),
            profile_root=dict(type="path", required=True),
            sign=dict(type="path", default="/usr/local/bin/macmesh-sign"),
            wrapper=dict(type="path", default="/usr/local/bin/macmesh-keychain-unlock"),
            file=dict(type="path", required=True),
            signer=dict(type="bool", required=True),
            sha1=dict(type="str", default=""),
            team_id=dict(type="str", default=""),
            keychain_password=dict(type="str", default="", no_log=True),
            revoked_sha1s=dict(type="list", elements="str", default=[]),
            manifest_sha256=dict(type="str", default=""),
            timeout=dict(type="int", default=120),
            probe_timeout=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        options = check_options(dict(params, password=params["keychain_password"]))
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    user = params["user"]
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        module.fail_json(msg="user: %s does not exist on this node." % user)
    if os.geteuid() != entry.pw_uid:
        module.fail_json(msg="signing_verify runs as uid %d, not as %s: the verify must be the CI user's own login "
                             "(ansible_user: %s, no become)." % (os.geteuid(), user, user))

    reader = NodeReader(module, user, entry.pw_dir)
    result = reader.identities(params["keychain"])
    result["active_manifest"] = reader.active_manifest(params["profile_root"])
    result = dict(changed=False, identities=result["identities"], identity_hash=result["identity_hash"],
                  active_manifest=result["active_manifest"], unavailable=reader.unavailable)

    problem = manifest_problem(result["active_manifest"], params["manifest_sha256"], params["profile_root"])
    if problem is None and not module.check_mode:
        verifier = Verifier(run_bounded, options)
        try:
            write_scratch(options["file"])
            if options["signer"]:
                verifier.signer(result["identities"])
            else:
                verifier.builder()
        except VerifyFailed as exc:
            problem = str(exc)
        except (IOError, OSError) as exc:
            problem = "%s: %s" % (getattr(exc, "filename", None) or options["file"], exc.strerror or exc)
    if problem:
        result["verify"] = "FAILED: %s" % problem
        module.fail_json(msg=problem, **result)
    result["verify"] = "ok"
    module.exit_json(**result)


if __name__ == "__main__":
    main()
