#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: profile_manifest
short_description: Freeze a directory of provisioning profiles into a manifest
version_added: 0.1.0
description:
  - Reads every C(.mobileprovision) and C(.provisionprofile) file of O(src) and writes the
    frozen manifest C(profiles.json) (schema 1) to O(dest).
  - The manifest lists each profile under the file name roles install it as (C(<UUID>.<extension>)),
    with its team, App ID, dates, developer certificate SHA-1s, device count and file sha256.
    Its C(sha256) covers only the profile list, so it is the same for the same profiles whatever
    the O(version) label; it names the version directory on the nodes.
  - Every bad input fails the task with a message naming the file and the field, and nothing is
    written.
  - Runs on the controller; use it against C(localhost) or with C(delegate_to=localhost).
author:
  - macmesh.signing maintainers (@macmesh)
requirements:
  - cryptography (on the host that runs the module, only when O(identities) is set)
extends_documentation_fragment:
  - macmesh.signing.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The diff shows the manifest JSON before and after.
  platform:
    platforms: posix
options:
  src:
    description:
      - Directory holding the profiles. Files whose names end in C(.mobileprovision) or
        C(.provisionprofile) are read; hidden files (such as macOS C(._*) resource forks) are ignored.
      - A file named after a UUID must contain that UUID.
    type: path
    required: true
  dest:
    description:
      - Path of the manifest to write. Its directory must exist.
      - Written atomically, and only when its content changes.
    type: path
    required: true
  version:
    description:
      - Label stored in the manifest (for example a release tag). It does not change the manifest C(sha256).
      - "Letters, digits and C(. _ + - : @ /), at most 128 characters, starting with a letter or digit."
      - When omitted, the label is C(sha-) followed by the first 12 hex digits of the manifest C(sha256), so
        the same profiles always get the same label and re-running stays idempotent.
    type: str
  allow_expired:
    description:
      - Accept profiles whose ExpirationDate has passed.
    type: bool
    default: false
  allow_mixed_teams:
    description:
      - Accept profiles of more than one Team ID in one manifest.
    type: bool
    default: false
  identities:
    description:
      - Signing identities the profiles must be used with.
      - When set, every profile must list at least one of these certificates among its
        DeveloperCertificates, and every identity must be listed by at least one profile.
    type: list
    elements: dict
    suboptions:
      path:
        description:
          - A PKCS#12 file (name ending in C(.p12) or C(.pfx)), which must hold a private key
            and its certificate, or a certificate in DER or PEM form.
        type: path
        required: true
      passphrase:
        description:
          - Passphrase of the PKCS#12 file. Omit it for a PKCS#12 file without passphrase.
        type: str
seealso:
  - name: Architecture of macmesh.signing
    description: The manifest contract and how nodes use its sha256.
    link: https://example.invalid/macmesh/signing/docs
"""

EXAMPLES = r"""
- name: Freeze the release's profiles
  macmesh.signing.profile_manifest:
    src: "{{ playbook_dir }}/profiles"
    dest: "{{ playbook_dir }}/profiles.json"
    version: "2026.11-r1"
    identities:
      - path: "{{ playbook_dir }}/identities/distribution.p12"
        passphrase: "{{ vault_distribution_p12_passphrase }}"
  delegate_to: localhost
  run_once: true
  register: profile_manifest

- name: Rebuild a manifest for a lab from expired sample profiles
  macmesh.signing.profile_manifest:
    src: /srv/lab/profiles
    dest: /srv/lab/profiles.json
    version: lab
    allow_expired: true
  delegate_to: localhost
"""

RETURN = r"""
sha256:
  description: sha256 of the canonical JSON of the manifest's profile list (the version directory name on nodes).
  returned: success
  type: str
  sample: 1d4e5b2e7c0f5e1ad6b0f7f03f0bd4a1e3c35d36c9e52b2e3c0fd5a2a8f36a0b
manifest:
  description: The manifest as written to O(dest).
  returned: success
  type: dict
  contains:
    schema:
      description: Manifest schema version.
      type: int
      sample: 1
    version:
      description: The O(version) label.
      type: str
      sample: v1
    sha256:
      description: Same as RV(sha256).
      type: str
    profiles:
      description: One entry per profile, sorted by UUID.
      type: list
      elements: dict
      sample:
        - uuid: 98264c6b-5151-4349-8d0f-66691e48ae35
          name: tools.fastlane.app AppStore
          filename: 98264c6b-5151-4349-8d0f-66691e48ae35.mobileprovision
          team_id: 439BBM9367
          team_name: Felix Krause
          app_id: 439BBM9367.tools.fastlane.app
          bundle_id: tools.fastlane.app
          platforms: [iOS]
          created: "2015-11-08T21:09:03Z"
          expires: "2016-11-07T20:58:52Z"
          certificates: [061D3B3DDDCE32CE3FB5901AC608E5AA6C9C540C]
          devices: 0
          provisions_all_devices: false
          sha256: 26d6914d39784a3a1ab99bae8f912a2a68d9f13ee626af7d1b3d053f3566f90b
"""

import json
import os
import re
import tempfile
import traceback

from ansible.module_utils.basic import AnsibleModule, _load_params, missing_required_lib
from ansible_collections.macmesh.signing.plugins.module_utils._inputs import guarded_module
from ansible_collections.macmesh.signing.plugins.module_utils._manifest import (
    PROFILE_EXTENSIONS,
    ManifestError,
    build_manifest,
    manifest_entry,
    validate_manifest,
)
from ansible_collections.macmesh.signing.plugins.module_utils._pkcs12 import IdentityFileError, read_identity
from ansible_collections.macmesh.signing.plugins.module_utils._profile import UUID_RE, ProfileError, read_profile

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
except ImportError:
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None


VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+:@/-]{0,127}\Z")


class InputError(Exception):
    """Bad input: ``str()`` names the file and the field."""

    def __init__(self, source, field, message):
        super(InputError, self).__init__("%s: %s: %s" % (source, field, message))


def profile_files(src):
    """Profile paths in ``src``, sorted; hidden files are skipped."""
    try:
        listing = os.listdir(src)
    except (IOError, OSError) as exc:
        raise InputError(src, "src", "cannot be read (%s)" % (exc.strerror or exc))
    names = sorted(
        name
        for name in listing
        if not name.startswith(".")
        and name.lower().endswith(PROFILE_EXTENSIONS)
        and os.path.isfile(os.path.join(src, name))
    )
    return [os.path.join(src, name) for name in names]


def read_profiles(src):
    """Return ``[(path, profile, manifest filename)]`` for ``src``; raise InputError/ProfileError."""
    paths = profile_files(src)
    if not paths:
        raise InputError(src, "src", "no *.mobileprovision or *.provisionprofile file found")
    found = []
    by_uuid = {}
    for path in paths:
        profile = read_profile(path)
        uuid = profile["uuid"]
        stem, extension = os.path.splitext(os.path.basename(path))
        if UUID_RE.match(stem) and stem.lower() != uuid.lower():
            raise InputError(path, "UUID", "file is named after %s but the profile's UUID is %s" % (stem, uuid))
        if uuid.lower() in by_uuid:
            raise InputError(path, "UUID", "%s is also the UUID of %s" % (uuid, by_uuid[uuid.lower()]))
        by_uuid[uuid.lower()] = path
        found.append((path, profile, uuid + extension.lower()))
    return found


def load_identity(path, passphrase):
    """SHA-1 (40 uppercase hex) of the certificate of a p12 or certificate file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise InputError(path, "path", "cannot be read (%s)" % exc)
    if path.lower().endswith((".p12", ".pfx")):
        try:
            sha1, _name, _key, _certificate, _chain = read_identity(data, passphrase, path)
        except IdentityFileError as exc:
            if exc.field == "passphrase":
                raise InputError(path, "passphrase", "cannot decrypt the PKCS#12 file: wrong passphrase, or not a PKCS#12 file")
            raise InputError(path, "path", str(exc))
        return sha1
    else:
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                certificate = x509.load_pem_x509_certificate(data)
            else:
                certificate = x509.load_der_x509_certificate(data)
        except ValueError as exc:
            raise InputError(path, "path", "not a DER or PEM certificate (%s)" % exc)
    return certificate.fingerprint(hashes.SHA1()).hex().upper()


def check_identities(profiles, identities):
    """Every profile must list a declared identity, and every identity must be listed."""
    declared = [(item["path"], load_identity(item["path"], item.get("passphrase"))) for item in identities]
    sha1s = set(sha1 for _path, sha1 in declared)
    used = set()
    for path, profile, _filename in profiles:
        listed = set(certificate["sha1"] for certificate in profile["certificates"])
        if not listed & sha1s:
            raise InputError(
                path, "DeveloperCertificates",
                "lists %s, none of which is a declared identity" % ", ".join(sorted(listed)),
            )
        used |= listed
    for path, sha1 in declared:
        if sha1 not in used:
            raise InputError(path, "certificate", "%s is not listed by any profile" % sha1)


def mixed_teams_message(profiles):
    """Name the profile files of each team, so the operator sees which files to move out."""
    teams = {}
    for path, profile, _filename in profiles:
        teams.setdefault(profile["team_id"], []).append(os.path.basename(path))
    return "profiles belong to %d teams: %s; keep one team per manifest (or set allow_mixed_teams)" % (
        len(teams), "; ".join("%s: %s" % (team, ", ".join(sorted(teams[team]))) for team in sorted(teams)))


def render(manifest):
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_text(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def write_atomically(module, dest, text):
    """Write ``text`` to a temporary file next to ``dest``, fsync it, rename it over ``dest``.

    A crash leaves either the old manifest or the new one, never half of one; the temporary
    file is removed on every error.
    """
    directory = os.path.dirname(dest)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".profile_manifest.", dir=directory)
    except (IOError, OSError) as exc:
        raise InputError(dest, "dest", "cannot write in %s (%s)" % (directory, exc.strerror or exc))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, dest)
        _fsync_directory(directory)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except (IOError, OSError):
        return
    try:
        os.fsync(fd)
    except (IOError, OSError):
        pass
    finally:
        os.close(fd)


def run(module):
    params = module.params
    src = params["src"]
    # A bare file name (dest=profiles.json) is relative to the working directory, as for copy.
    dest = os.path.abspath(params["dest"])
    if not os.path.isdir(src):
        raise InputError(src, "src", "is not a directory" if os.path.exists(src) else "does not exist")
    if os.path.isdir(dest):
        raise InputError(dest, "dest", "is a directory; give the path of the manifest file (for example %s)"
                         % os.path.join(dest, "profiles.json"))
    if os.path.lexists(dest) and not os.path.isfile(dest):
        raise InputError(dest, "dest", "exists and is not a regular file")
    if not os.path.isdir(os.path.dirname(dest)):
        raise InputError(dest, "dest", "its directory %s does not exist" % os.path.dirname(dest))
    if os.path.exists(dest) and not os.access(dest, os.R_OK):
        raise InputError(dest, "dest", "exists but cannot be read")

    version = params["version"]
    if version is not None and not VERSION_RE.match(version):
        # Ansible turns a list or dict into its Python text for a str option: refuse that too.
        raise InputError(dest, "version", "%r is not a release label: use letters, digits and . _ + - : @ / "
                         "(at most 128, starting with a letter or digit)" % version)
    profiles = read_profiles(src)
    manifest = build_manifest([manifest_entry(profile, filename) for _path, profile, filename in profiles], params["version"])
    if params["version"] is None:
        manifest["version"] = "sha-" + manifest["sha256"][:12]
    try:
        validate_manifest(
            manifest, src, allow_expired=params["allow_expired"], allow_mixed_teams=params["allow_mixed_teams"]
        )
    except ManifestError as exc:
        paths = dict((profile["uuid"], path) for path, profile, _filename in profiles)
        if exc.field == "team_id" and exc.uuid is None:
            raise InputError(src, "team_id", mixed_teams_message(profiles))
        if exc.uuid in paths:
            raise InputError(paths[exc.uuid], exc.field.rsplit(".", 1)[-1], exc.message)
        raise
    if params["identities"]:
        if CRYPTOGRAPHY_IMPORT_ERROR:
            module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
        check_identities(profiles, params["identities"])

    before = read_text(dest)
    after = render(manifest)
    changed = before != after
    if changed and not module.check_mode:
        write_atomically(module, dest, after)
    result = {"changed": changed, "manifest": manifest, "sha256": manifest["sha256"]}
    if module._diff:
        result["diff"] = {"before": before or "", "after": after, "before_header": dest, "after_header": dest}
    return result


def main():
    module = guarded_module(
        AnsibleModule, _load_params,
        dict(
            src=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            version=dict(type="str"),
            allow_expired=dict(type="bool", default=False),
            allow_mixed_teams=dict(type="bool", default=False),
            identities=dict(
                type="list",
                elements="dict",
                options=dict(
                    path=dict(type="path", required=True),
                    passphrase=dict(type="str", no_log=True),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (InputError, ProfileError, ManifestError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
