#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: keychain_certificates
short_description: Install pinned CA certificates (Apple's intermediates) into a macOS keychain
version_added: 0.2.0
description:
  - Checks every certificate file against its sha256 pin, lists the certificates already in the
    keychain with C(security find-certificate -a -Z -p), and adds only the missing ones with
    C(security add-certificates -k <keychain>).
  - Without the issuing intermediate (Apple Worldwide Developer Relations, Developer ID) in a keychain
    on the search list or in the System keychain, C(security find-identity) does not count a signing
    identity as valid and C(codesign) cannot build its chain.
  - Writing the System keychain needs root (C(become)).
author:
  - macmesh.signing maintainers (@macmesh)
extends_documentation_fragment:
  - macmesh.signing.attributes
  - macmesh.signing.attributes.darwin
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  keychain:
    description: The keychain to install into.
    type: path
    default: /Library/Keychains/System.keychain
  dir:
    description: Directory on the node that holds the certificate files.
    type: path
    required: true
  certificates:
    description: The certificate files (DER or PEM) in O(dir), each with its pin.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: A label for messages.
        type: str
        required: true
      file:
        description: File name in O(dir).
        type: str
      src:
        description: The file's path on the controller; its base name is looked up in O(dir).
        type: str
      source:
        description: Where the certificate comes from (documentation only).
        type: str
      sha256:
        description: The sha256 of the certificate's DER bytes (64 hex digits).
        type: str
        required: true
  timeout:
    description: Seconds each C(security) call may take before it is stopped.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Install Apple's intermediates into the System keychain
  macmesh.signing.keychain_certificates:
    dir: /Library/MacMesh/intermediates
    certificates:
      - name: Worldwide Developer Relations - G3
        file: AppleWWDRCAG3.cer
        sha256: dcf21878c77f4198e4b4614f03d696d89c66c66008d4244e1b99161aac91601f
  become: true
"""

RETURN = r"""
added:
  description: Names of the certificates that were added.
  type: list
  elements: str
  returned: always
certificates:
  description: Every requested certificate with its name, sha256 and SHA-1.
  type: list
  elements: dict
  returned: always
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.macmesh.signing.plugins.module_utils._certificates import (
    CertificateError,
    check_pins,
    missing,
)
from ansible_collections.macmesh.signing.plugins.module_utils._security import (
    ItemNotFoundError,
    ParseError,
    SecurityError,
    classify_error,
    module_runner,
    parse_find_certificate_pem,
)


def read_file(path):
    with open(path, "rb") as handle:
        return handle.read()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            keychain=dict(type="path", default="/Library/Keychains/System.keychain"),
            dir=dict(type="path", required=True),
            certificates=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                file=dict(type="str"),
                src=dict(type="str"),
                source=dict(type="str"),
                sha256=dict(type="str", required=True),
            )),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    keychain = module.params["keychain"]
    entries = []
    for index, entry in enumerate(module.params["certificates"]):
        name = entry.get("file") or os.path.basename(entry.get("src") or "")
        if not name or "/" in name:
            module.fail_json(msg="certificates[%d] (%s): file: a file name (or src) is required" % (index, entry["name"]))
        entries.append(dict(entry, path=os.path.join(module.params["dir"], name)))
    try:
        checked = check_pins(entries, read_file)
    except CertificateError as exc:
        module.fail_json(msg=str(exc))
    except (IOError, OSError) as exc:
        module.fail_json(msg="certificates: path: cannot read %s: %s" % (getattr(exc, "filename", "?"), exc))
    runner = module_runner(module, timeout=module.params["timeout"])
    try:
        rc, out, err = runner.run("find-certificate", "-a", "-Z", "-p", keychain)
        error = classify_error(rc, out, err)
        if isinstance(error, ItemNotFoundError):
            present = []  # an empty (or not yet created) keychain
        elif error:
            raise error
        else:
            present = [c["sha1"] for c in parse_find_certificate_pem(out)]
        todo = missing(checked, present)
        if todo and not module.check_mode:
            rc, out, err = runner.run("add-certificates", "-k", keychain, *[entry["path"] for entry in todo])
            error = classify_error(rc, out, err)
            if error:
                raise error
    except SecurityError as exc:
        module.fail_json(msg="keychain_certificates %s: %s" % (keychain, exc.describe()))
    except ParseError as exc:
        module.fail_json(msg="keychain_certificates %s: unexpected output from security: %s" % (keychain, exc))
    module.exit_json(changed=bool(todo), added=[entry["name"] for entry in todo], certificates=checked,
                     keychain=keychain)


if __name__ == "__main__":
    main()
