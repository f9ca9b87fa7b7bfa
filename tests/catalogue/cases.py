# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The bad-input catalogue: one entry per mistake an operator can make, and what must happen.

Every case is one task (or one inventory) run by real ``ansible-playbook`` on localhost. A case
passes when the task fails, its message holds every ``expect`` fragment (the file and the field
to fix), nothing in the case's directory changed (no file written, moved, re-moded or linked),
and neither secret of the catalogue appears anywhere in the ``-vvv`` output.

``setup(ws)`` prepares the case's directory ``ws`` (a pathlib.Path) before the run; ``task`` is
the task as a dict, with ``{ws}`` replaced by that directory. Secrets are only ever referenced as
``{{ catalogue_secret }}`` / ``{{ catalogue_password }}`` (defined in a vars file outside the case
directories), so a secret that shows up in the output was printed by the product, not echoed
from the playbook's source.
"""

import datetime
import os

import cms_factory as factory

# Values the product must never print; the driver writes them into the vars file.
SECRET = "Cat4logue-p12-S3cret"
PASSWORD = "Cat4logue-kc-Passw0rd"

UUID_A = "0a0a0a0a-1111-4222-8333-444444444444"
UUID_B = "0b0b0b0b-1111-4222-8333-444444444444"
FUTURE = datetime.datetime(2099, 1, 1)
PAST = datetime.datetime(2020, 1, 1)

_KEY, _CERTIFICATE = factory.default_developer_certificate()
CERT_SHA1 = factory.sha1(_CERTIFICATE)


class Case(object):
    def __init__(self, case_id, area, task, expect, setup=None, check_mode=False, ok=False, inventory=None,
                 extra_args=()):
        self.id = case_id
        self.area = area
        self.task = task
        self.expect = list(expect)
        self.setup = setup
        self.check_mode = check_mode
        self.ok = ok
        self.inventory = inventory
        self.extra_args = tuple(extra_args)


def write(path, data, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    if mode is not None:
        os.chmod(str(path), mode)
    return path


# --- fixtures ---------------------------------------------------------------------------------


def profiles(*specs):
    """setup: profiles/<name> for each (name, overrides) in ``specs``."""
    def setup(ws):
        (ws / "profiles").mkdir(parents=True, exist_ok=True)
        for name, overrides in specs:
            write(ws / "profiles" / name, factory.make_profile(**overrides))
    return setup


def good_profiles(ws):
    profiles(("app.mobileprovision", {"UUID": UUID_A}))(ws)


def with_p12(setup, name="dist.p12", passphrase=SECRET, key=True, certificate=True):
    def combined(ws):
        if setup:
            setup(ws)
        key_obj, cert_obj = factory.default_developer_certificate()
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12
        encryption = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
        data = pkcs12.serialize_key_and_certificates(
            b"identity", key_obj if key else None, cert_obj if certificate else None, None, encryption)
        write(ws / "keys" / name, data)
    return combined


def existing_manifest(setup):
    """An existing profiles.json that must come out of the failed task untouched."""
    def combined(ws):
        if setup:
            setup(ws)
        write(ws / "out" / "profiles.json", '{"kept": true}\n')
    return combined


def keychain_file(setup=None):
    """A stand-in keychain file: the catalogue checks it is not touched."""
    def combined(ws):
        if setup:
            setup(ws)
        write(ws / "Keychains" / "ci.keychain-db", b"kych-standin")
    return combined


def pm(**args):
    task = {"src": "{ws}/profiles", "dest": "{ws}/out/profiles.json"}
    task.update(args)
    return {"macmesh.signing.profile_manifest": task}


def ki(**args):
    task = {"src": "{ws}/keys/dist.p12", "passphrase": "{{ catalogue_secret }}",
            "keychain": "{ws}/Keychains/ci.keychain-db", "keychain_password": "{{ catalogue_password }}"}
    task.update(args)
    return {"macmesh.signing.keychain_identity": dict((k, v) for k, v in task.items() if v is not None)}


def expr(expression, **task_vars):
    """A filter case: evaluating ``expression`` must fail the task."""
    task = {"ansible.builtin.set_fact": {"catalogue_value": "{{ %s }}" % expression}}
    if task_vars:
        task["vars"] = task_vars
    return task


def role(name, **role_vars):
    return {"ansible.builtin.include_role": {"name": "macmesh.signing." + name}, "vars": role_vars}


FIND_IDENTITY_OK = (
    '  1) %s "iPhone Distribution: Example Corp (AB12CD34EF)"\n     1 valid identities found\n' % CERT_SHA1
)
LIST_KEYCHAINS = '    "/Users/ci-build/Library/Keychains/ci-build.keychain-db"\n    "/Library/Keychains/System.keychain"\n'
MANIFEST_PROFILE = {
    "uuid": UUID_A, "name": "Example App AppStore", "filename": UUID_A + ".mobileprovision", "team_id": "AB12CD34EF",
    "team_name": "Example Corp", "app_id": "AB12CD34EF.com.example.app", "bundle_id": "com.example.app",
    "platforms": ["iOS"], "created": "2025-01-02T03:04:05Z", "expires": "2099-01-02T03:04:05Z",
    "certificates": [CERT_SHA1], "devices": 0, "provisions_all_devices": False, "sha256": "0" * 64,
}
MANIFEST = {"schema": 1, "version": "v1", "sha256": "0" * 64, "profiles": [MANIFEST_PROFILE]}
REGIONS = ["hk", "jp"]
PARITY_EXPECTED = {"manifest": "0" * 64, "regions": REGIONS, "wrapper_sha256": "0" * 64,
                   "declared_identities": {CERT_SHA1: "x"}}
GROUPS = {"mesh": ["hk-1", "jp-1"], "hk": ["hk-1"], "jp": ["jp-1"], "signers": ["hk-1", "jp-1"], "builders": []}


# --- the catalogue ----------------------------------------------------------------------------

CASES = [
    # profile_manifest ---------------------------------------------------------------------------
    Case("pm-uuid-trailing-newline", "profile_manifest", pm(),
         ["app.mobileprovision", "UUID", "not a UUID"],
         setup=existing_manifest(profiles(("app.mobileprovision", {"UUID": UUID_A + "\n"})))),
    Case("pm-uuid-not-a-uuid", "profile_manifest", pm(), ["app.mobileprovision", "UUID"],
         setup=existing_manifest(profiles(("app.mobileprovision", {"UUID": "not-a-uuid"})))),
    Case("pm-dest-is-directory", "profile_manifest", pm(dest="{ws}/out"), ["{ws}/out", "dest", "is a directory"],
         setup=existing_manifest(good_profiles)),
    Case("pm-dest-is-directory-check-mode", "profile_manifest", pm(dest="{ws}/out"), ["{ws}/out", "dest", "is a directory"],
         setup=existing_manifest(good_profiles), check_mode=True),
    Case("pm-dest-directory-missing", "profile_manifest", pm(dest="{ws}/nowhere/profiles.json"),
         ["{ws}/nowhere/profiles.json", "dest", "does not exist"], setup=good_profiles),
    Case("pm-src-missing", "profile_manifest", pm(src="{ws}/absent"), ["{ws}/absent", "src", "does not exist"],
         setup=existing_manifest(None)),
    Case("pm-src-is-a-file", "profile_manifest", pm(src="{ws}/profiles/app.mobileprovision"),
         ["app.mobileprovision", "src", "is not a directory"], setup=existing_manifest(good_profiles)),
    Case("pm-src-empty", "profile_manifest", pm(), ["{ws}/profiles", "src", "no *.mobileprovision"],
         setup=existing_manifest(lambda ws: (ws / "profiles").mkdir(parents=True))),
    Case("pm-profile-not-cms", "profile_manifest", pm(), ["broken.mobileprovision"],
         setup=existing_manifest(lambda ws: write(ws / "profiles" / "broken.mobileprovision", b"<plist>not signed</plist>"))),
    Case("pm-profile-expired", "profile_manifest", pm(), ["old.mobileprovision", "expires", "expired at 2020-01-01"],
         setup=existing_manifest(profiles(("old.mobileprovision", {"UUID": UUID_A, "ExpirationDate": PAST})))),
    Case("pm-mixed-teams", "profile_manifest", pm(),
         ["{ws}/profiles", "team_id", "AB12CD34EF: a.mobileprovision", "ZZ99ZZ99ZZ: b.mobileprovision"],
         setup=existing_manifest(profiles(("a.mobileprovision", {"UUID": UUID_A}),
                                          ("b.mobileprovision", {"UUID": UUID_B, "TeamIdentifier": ["ZZ99ZZ99ZZ"]})))),
    Case("pm-file-named-after-other-uuid", "profile_manifest", pm(), [UUID_B + ".mobileprovision", "UUID"],
         setup=existing_manifest(profiles((UUID_B + ".mobileprovision", {"UUID": UUID_A})))),
    Case("pm-duplicate-uuid", "profile_manifest", pm(), ["b.mobileprovision", "UUID", "also the UUID of"],
         setup=existing_manifest(profiles(("a.mobileprovision", {"UUID": UUID_A}), ("b.mobileprovision", {"UUID": UUID_A})))),
    Case("pm-identities-as-strings", "profile_manifest", pm(identities=["{ws}/keys/dist.p12"]),
         ["identities[0]", "must be a dict", "dist.p12"], setup=with_p12(existing_manifest(good_profiles))),
    Case("pm-identity-password-typo", "profile_manifest",
         pm(identities=[{"path": "{ws}/keys/dist.p12", "password": "{{ catalogue_secret }}"}]),
         ["identities[0].password", "unknown option", "passphrase"], setup=with_p12(existing_manifest(good_profiles))),
    Case("pm-identity-secret-typo-second-item", "profile_manifest",
         pm(identities=[{"path": "{ws}/keys/dist.p12", "passphrase": "{{ catalogue_secret }}"},
                        {"path": "{ws}/keys/dist.p12", "pass_phrase": "{{ catalogue_password }}"}]),
         ["identities[1].pass_phrase", "unknown option"], setup=with_p12(existing_manifest(good_profiles))),
    Case("pm-top-level-secret-typo", "profile_manifest", pm(passphrase="{{ catalogue_secret }}"),
         ["passphrase", "unknown option"], setup=existing_manifest(good_profiles)),
    Case("pm-identity-wrong-passphrase", "profile_manifest",
         pm(identities=[{"path": "{ws}/keys/dist.p12", "passphrase": "{{ catalogue_password }}"}]),
         ["dist.p12", "passphrase", "cannot decrypt"], setup=with_p12(existing_manifest(good_profiles))),
    Case("pm-identity-file-missing", "profile_manifest",
         pm(identities=[{"path": "{ws}/keys/absent.p12", "passphrase": "{{ catalogue_secret }}"}]),
         ["absent.p12", "path", "cannot be read"], setup=existing_manifest(good_profiles)),
    Case("pm-identity-without-key", "profile_manifest",
         pm(identities=[{"path": "{ws}/keys/dist.p12", "passphrase": "{{ catalogue_secret }}"}]),
         ["dist.p12", "no private key"], setup=with_p12(existing_manifest(good_profiles), key=False)),
    Case("pm-identity-not-listed", "profile_manifest",
         pm(identities=[{"path": "{ws}/keys/dist.p12", "passphrase": "{{ catalogue_secret }}"}]),
         ["app.mobileprovision", "DeveloperCertificates", "none of which is a declared identity"],
         setup=with_p12(existing_manifest(profiles(("app.mobileprovision", {
             "UUID": UUID_A, "DeveloperCertificates": [factory.der(factory.make_certificate("Other")[1])]}))))),
    Case("pm-allow-expired-not-bool", "profile_manifest", pm(allow_expired="maybe"), ["allow_expired", "bool"],
         setup=existing_manifest(good_profiles)),
    Case("pm-version-not-string", "profile_manifest", pm(version={"tag": "v1"}), ["version", "label"],
         setup=existing_manifest(good_profiles)),
    Case("pm-unknown-option", "profile_manifest", pm(destination="{ws}/out/x.json"), ["destination", "Unsupported"],
         setup=existing_manifest(good_profiles)),

    # keychain_identity action (controller side) ---------------------------------------------------
    Case("ki-src-missing", "keychain_identity", ki(src="{ws}/keys/absent.p12"), ["absent.p12", "src", "cannot find"],
         setup=keychain_file()),
    Case("ki-src-not-pkcs12", "keychain_identity", ki(), ["dist.p12", "not a PKCS#12"],
         setup=keychain_file(lambda ws: write(ws / "keys" / "dist.p12", b"not a p12 at all"))),
    Case("ki-wrong-passphrase", "keychain_identity", ki(passphrase="{{ catalogue_password }}"),
         ["dist.p12", "passphrase", "wrong"], setup=keychain_file(with_p12(None))),
    Case("ki-no-private-key", "keychain_identity", ki(), ["dist.p12", "no private key"],
         setup=keychain_file(with_p12(None, key=False))),
    Case("ki-password-typo", "keychain_identity", ki(passphrase=None, password="{{ catalogue_secret }}"),
         ["password", "unknown option"], setup=keychain_file(with_p12(None))),
    Case("ki-pasword-misspelt", "keychain_identity", ki(pasword="{{ catalogue_secret }}"),
         ["pasword", "unknown option"], setup=keychain_file(with_p12(None))),
    Case("ki-secret-typo", "keychain_identity", ki(keychain_secret="{{ catalogue_password }}"),
         ["keychain_secret", "unknown option"], setup=keychain_file(with_p12(None))),
    Case("ki-keychain-password-unsafe", "keychain_identity", ki(keychain_password="{{ catalogue_password }} \"x"),
         ["keychain_password", "only the characters"], setup=keychain_file(with_p12(None))),
    Case("ki-keychain-password-newline", "keychain_identity", ki(keychain_password="{{ catalogue_password }}\n"),
         ["keychain_password", "only the characters"], setup=keychain_file(with_p12(None))),
    Case("ki-absent-with-src", "keychain_identity", ki(state="absent", sha1=CERT_SHA1), ["src", "state=present"],
         setup=keychain_file(with_p12(None))),
    Case("ki-absent-without-sha1", "keychain_identity", ki(state="absent", src=None, passphrase=None),
         ["state=absent requires sha1"], setup=keychain_file()),
    Case("ki-present-without-src", "keychain_identity", ki(src=None), ["state=present requires src"],
         setup=keychain_file()),
    Case("ki-content-set", "keychain_identity", ki(content="AAAA"), ["content", "set by the action plugin"],
         setup=keychain_file(with_p12(None))),
    Case("ki-transport-passphrase-set", "keychain_identity", ki(transport_passphrase="{{ catalogue_password }}"),
         ["transport_passphrase", "set by the action plugin"], setup=keychain_file(with_p12(None))),
    Case("ki-sha1-mismatch", "keychain_identity", ki(sha1="0" * 40), ["sha1", "dist.p12", CERT_SHA1],
         setup=keychain_file(with_p12(None))),
    Case("ki-name-mismatch", "keychain_identity", ki(name="Someone Else"), ["name", "dist.p12"],
         setup=keychain_file(with_p12(None))),
    Case("ki-absent-sha1-short", "keychain_identity", ki(state="absent", src=None, passphrase=None, sha1=CERT_SHA1[:12]),
         ["sha1", "40 hexadecimal"], setup=keychain_file()),
    Case("ki-declared-sha1s-bad", "keychain_identity",
         ki(state="absent", src=None, passphrase=None, sha1=CERT_SHA1, declared_sha1s=["XYZ"]),
         ["declared_sha1s", "40 hexadecimal"], setup=keychain_file()),
    Case("ki-state-unknown", "keychain_identity", ki(state="installed"), ["state", "present, absent"],
         setup=keychain_file(with_p12(None))),

    # filters ------------------------------------------------------------------------------------
    Case("f-parse-identities-other-command", "filter", expr("text | macmesh.signing.parse_identities", text=LIST_KEYCHAINS),
         ["parse_identities", "not find-identity output"]),
    Case("f-parse-identities-empty", "filter", expr("'' | macmesh.signing.parse_identities"),
         ["parse_identities", "not security find-identity output"]),
    Case("f-parse-identities-short-sha1", "filter",
         expr("text | macmesh.signing.parse_identities",
              text='  1) 86890D67F2 "iPhone Distribution: X"\n     1 valid identities found\n'),
         ["parse_identities", "line 1", "SHA-1", "not 40 hexadecimal"]),
    Case("f-parse-identities-sha1-newline", "filter",
         expr("text | macmesh.signing.parse_identities", text=FIND_IDENTITY_OK.replace("     1 valid", "     2 valid")),
         ["parse_identities", "counts 2 identities but 1"]),
    Case("f-parse-identities-not-utf8", "filter", expr("('/w==' | b64decode) | macmesh.signing.parse_identities"),
         ["parse_identities", "not UTF-8"]),
    Case("f-parse-identities-dict", "filter", expr("{'a': 1} | macmesh.signing.parse_identities"),
         ["parse_identities", "must be the text"]),
    Case("f-identity-hash-strings", "filter", expr("['%s'] | macmesh.signing.identity_hash" % CERT_SHA1),
         ["identity_hash", "item 0", "dict"]),
    Case("f-identity-hash-short-sha1", "filter",
         expr("[{'sha1': 'ABC', 'name': 'n', 'valid': true}] | macmesh.signing.identity_hash"),
         ["identity_hash", "item 0", "sha1", "40 hexadecimal"]),
    Case("f-identity-hash-valid-string", "filter",
         expr("[{'sha1': '%s', 'name': 'n', 'valid': 'yes'}] | macmesh.signing.identity_hash" % CERT_SHA1),
         ["identity_hash", "item 0", "valid"]),
    Case("f-identity-hash-other-command", "filter", expr("text | macmesh.signing.identity_hash", text=LIST_KEYCHAINS),
         ["identity_hash", "not find-identity output"]),
    Case("f-manifest-sha-not-manifest", "filter", expr("'profiles.json' | macmesh.signing.manifest_sha"),
         ["manifest_sha"]),
    Case("f-manifest-sha-profiles-not-list", "filter", expr("{'profiles': 'x'} | macmesh.signing.manifest_sha"),
         ["manifest_sha", "profiles"]),
    Case("f-profile-map-empty-targets", "filter", expr("manifest | macmesh.signing.profile_map([])", manifest=MANIFEST),
         ["profile_map", "targets must not be empty"]),
    Case("f-profile-map-wildcard-target", "filter",
         expr("manifest | macmesh.signing.profile_map({'App': 'com.example.*'})", manifest=MANIFEST),
         ["profile_map", "targets['App']", "wildcard"]),
    Case("f-profile-map-no-match", "filter",
         expr("manifest | macmesh.signing.profile_map({'App': 'org.other.app'})", manifest=MANIFEST),
         ["profile_map", "App (org.other.app)"]),
    Case("f-profile-map-bad-by", "filter",
         expr("manifest | macmesh.signing.profile_map({'App': 'com.example.app'}, by='sha')", manifest=MANIFEST),
         ["profile_map", "by must be one of"]),
    Case("f-profile-map-bad-expiry", "filter",
         expr("manifest | macmesh.signing.profile_map({'App': 'com.example.app'})",
              manifest=dict(MANIFEST, profiles=[dict(MANIFEST_PROFILE, expires="next year")])),
         ["profile_map", "profiles[0].expires"]),
    Case("f-expiring-negative-days", "filter", expr("[] | macmesh.signing.expiring(-1)"), ["expiring", "days"]),
    Case("f-expiring-missing-key", "filter", expr("[{'name': 'x'}] | macmesh.signing.expiring(30)"),
         ["expiring", "_input[0]", "expires"]),
    Case("f-expiring-bad-date", "filter", expr("[{'expires': '2099-01-01'}] | macmesh.signing.expiring(30)"),
         ["expiring", "_input[0].expires"]),
    Case("f-expiring-not-list", "filter", expr("'profiles' | macmesh.signing.expiring(30)"), ["expiring", "_input"]),
    Case("f-mesh-parity-not-dict", "filter",
         expr("['hk-1'] | macmesh.signing.mesh_parity(groups_in, expected)", groups_in=GROUPS, expected=PARITY_EXPECTED),
         ["mesh_parity", "hostvars_subset"]),
    Case("f-mesh-parity-host-not-dict", "filter",
         expr("{'hk-1': 'ok'} | macmesh.signing.mesh_parity(groups_in, expected)", groups_in=GROUPS,
              expected=PARITY_EXPECTED),
         ["mesh_parity", "hostvars_subset['hk-1']"]),
    Case("f-mesh-parity-no-regions", "filter",
         expr("{'hk-1': {}} | macmesh.signing.mesh_parity(groups_in, expected)", groups_in=GROUPS,
              expected=dict(PARITY_EXPECTED, regions=[])),
         ["mesh_parity", "expected.regions"]),

    # role argument specs and role input checks ---------------------------------------------------
    Case("r-keychain-password-missing", "role", role("keychain"), ["keychain_password", "missing required"], check_mode=True),
    Case("r-keychain-timeout-not-int", "role", role("keychain", keychain_password="{{ catalogue_password }}",
                                                    keychain_timeout="soon"), ["keychain_timeout", "int"], check_mode=True),
    Case("r-keychain-identity-password-typo", "role",
         role("keychain", keychain_password="{{ catalogue_password }}",
              keychain_identities=[{"src": "a.p12", "password": "{{ catalogue_secret }}", "sha1": CERT_SHA1}]),
         ["keychain_identities", "password"], check_mode=True),
    Case("r-keychain-identities-strings", "role",
         role("keychain", keychain_password="{{ catalogue_password }}", keychain_identities=["a.p12"]),
         ["keychain_identities"], check_mode=True),
    Case("r-keychain-path-trailing-newline", "role",
         role("keychain", keychain_password="{{ catalogue_password }}",
              keychain_path="/Users/ci-build/Library/Keychains/ci-build.keychain-db\n"),
         ["keychain_path", ".keychain-db"], check_mode=True),
    Case("r-keychain-login-keychain", "role",
         role("keychain", keychain_password="{{ catalogue_password }}",
              keychain_path="/Users/ci-build/Library/Keychains/login.keychain-db"),
         ["keychain_path", "login keychain"], check_mode=True),
    Case("r-profile-mounts-team-id-newline", "role",
         role("profile_mounts", profile_mounts_manifest="{ws}/profiles.json", profile_mounts_src="{ws}/profiles",
              profile_mounts_team_ids=["AB12CD34EF\n"]),
         ["profile_mounts_team_ids"], check_mode=True),
    Case("r-profile-mounts-team-ids-missing", "role",
         role("profile_mounts", profile_mounts_manifest="{ws}/profiles.json", profile_mounts_src="{ws}/profiles"),
         ["profile_mounts_team_ids", "missing required"], check_mode=True),
    Case("r-profile-mounts-root-in-caches", "role",
         role("profile_mounts", profile_mounts_manifest="{ws}/profiles.json", profile_mounts_src="{ws}/profiles",
              profile_mounts_team_ids=["AB12CD34EF"], profile_mounts_root="/Users/ci-build/Library/Caches/profiles"),
         ["profile_mounts_root", "Caches"], check_mode=True),
    Case("r-runner-identity-region-newline", "role",
         role("runner_identity", runner_identity_region="hk\n", runner_identity_oidc_audience="sts.example"),
         ["runner_identity_region"], check_mode=True),
    Case("r-runner-identity-audience-missing", "role", role("runner_identity", runner_identity_region="hk"),
         ["runner_identity_oidc_audience", "missing required"], check_mode=True),
    Case("r-ci-user-name-newline", "role",
         role("ci_user", ci_user_name="ci-build\n", ci_user_authorized_keys=["ssh-ed25519 AAAA test"]),
         ["ci_user", "name"], check_mode=True),
    Case("r-ci-user-keys-not-ssh", "role", role("ci_user", ci_user_authorized_keys=["{{ catalogue_secret }}"]),
         ["ci_user_authorized_keys"], check_mode=True),
    Case("r-ci-user-uid-not-int", "role",
         role("ci_user", ci_user_authorized_keys=["ssh-ed25519 AAAA test"], ci_user_uid="six hundred"),
         ["ci_user_uid", "int"], check_mode=True),
    Case("r-unlock-wrapper-log-path-newline", "role",
         role("unlock_wrapper", unlock_wrapper_log_path="/Library/Logs/MacMesh/unlock.log\n"),
         ["unlock_wrapper_log_path"], check_mode=True),
    Case("r-search-list-keychain-list", "role", role("search_list", search_list_keychain=["/a", "/b"]),
         ["search_list_keychain"], check_mode=True),
    Case("r-search-list-keychain-newline", "role",
         role("search_list", search_list_keychain="/Users/ci-build/Library/Keychains/ci-build.keychain-db\n"),
         ["search_list_keychain"], check_mode=True),
    Case("r-search-list-user-bad", "role", role("search_list", search_list_user="ci build"),
         ["search_list_user"], check_mode=True),
]


# The rotation gate (the lead's rotation action, issue 9): refused before any node is read or any
# release is staged.
CASES += [
    Case("rot-ticket-missing", "rotation",
         {"macmesh.signing.rotation": {"step": "gate", "phase": "revoke", "ticket": "", "approvers": ["a", "b"],
                                       "compromised": [CERT_SHA1]}, "vars": {"macmesh_releases_dir": "{ws}/releases"}},
         ["rotate_ticket", "not set"]),
    Case("rot-releases-dir-missing", "rotation",
         {"macmesh.signing.rotation": {"step": "gate", "phase": "rotate", "ticket": "CHG-1", "approvers": ["a", "b"],
                                       "identities": [{"sha1": CERT_SHA1, "name": "x", "p12": "{ws}/keys/dist.p12",
                                                       "passphrase": "{{ catalogue_secret }}"}]},
          "vars": {"macmesh_releases_dir": "{ws}/releases"}},
         ["{ws}/releases", "macmesh_releases_dir", "is not a directory"], setup=with_p12(None)),
]

# Inventory mistakes: the real bootstrap playbook in check mode, in one run, against one local host per
# case (hosts are refused independently); each must be refused before any task that would touch a
# node (the driver's guard stops the run otherwise). ``inventory`` is (host, groups, host vars).
INVENTORY_VARS = {
    "ansible_connection": "local",
    "bootstrap_system_override": "Darwin",
    "bootstrap_version_override": "15.1",
    "bootstrap_secret_scan_enabled": False,
    "keychain_password": "{{ catalogue_password }}",
}

INVENTORY_CASES = [
    Case("inv-host-in-no-tier", "inventory", None, ["hk-notier", "neither signers nor builders"],
         inventory=("hk-notier", ["hk"], {})),
    Case("inv-host-in-both-tiers", "inventory", None, ["hk-bothtiers", "signers and builders"],
         inventory=("hk-bothtiers", ["hk", "signers", "builders"], {})),
    # The topology is mesh-wide (the release's policy, read once): runs of their own.
    Case("inv-distributed-with-builder", "inventory", None, ["jp-distbuilder", "distributed"],
         inventory=("jp-distbuilder", ["jp", "builders"], {"macmesh_topology": "distributed"}), extra_args=("own-run",)),
    Case("inv-unknown-topology", "inventory", None, ["topology", "mesh"],
         inventory=("hk-topology", ["hk", "signers"], {"macmesh_topology": "mesh"}), extra_args=("own-run",)),
    Case("inv-keychain-password-missing", "inventory", None, ["hk-nopassword", "keychain_password", "vault"],
         inventory=("hk-nopassword", ["hk", "signers"], {"keychain_password": ""})),
    # Mesh-wide inputs are read once, on the controller (the release read): a run of their own.
    Case("inv-identity-passphrase-missing", "inventory", None, ["hk-nopassphrase", "passphrase", "dist.p12"],
         inventory=("hk-nopassphrase", ["hk", "signers"],
                    {"keychain_identities": [{"src": "{top}/keys/dist.p12", "sha1": CERT_SHA1}]}),
         extra_args=("own-run",)),
    Case("inv-manifest-missing", "inventory", None, ["profile_mounts_manifest"],
         inventory=("hk-nomanifest", ["hk", "signers"], {"profile_mounts_manifest": "{top}/absent/profiles.json"}),
         extra_args=("own-run",)),
    Case("inv-not-macos", "inventory", None, ["jp-linux", "is not macOS"],
         inventory=("jp-linux", ["jp", "signers"], {"bootstrap_system_override": "Linux"})),
    Case("inv-macos-too-old", "inventory", None, ["jp-oldmacos", "13.6", "is not macOS"],
         inventory=("jp-oldmacos", ["jp", "signers"], {"bootstrap_version_override": "13.6"})),
]


def mesh_material(top):
    """The mesh-wide role variables every inventory case shares: a real manifest and its profiles."""
    import importlib.util
    import json

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    modules = {}
    for name in ("_profile", "_manifest"):
        spec = importlib.util.spec_from_file_location("catalogue" + name, os.path.join(
            root, "plugins", "module_utils", name + ".py"))
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    data = factory.make_profile(UUID=UUID_A)
    write(top / "mesh" / "profiles" / (UUID_A + ".mobileprovision"), data)
    entry = modules["_manifest"].manifest_entry(modules["_profile"].parse_profile(data, source="p"),
                                                UUID_A + ".mobileprovision")
    write(top / "mesh" / "profiles.json", json.dumps(modules["_manifest"].build_manifest([entry], "v1")))
    return {"profile_mounts_manifest": str(top / "mesh" / "profiles.json"),
            "profile_mounts_src": str(top / "mesh" / "profiles"), "profile_mounts_team_ids": [factory.TEAM_ID]}


def inventory(cases, material):
    """One inventory holding the hosts of ``cases``."""
    groups = {}
    hosts = {}
    for case in cases:
        host, member_of, host_vars = case.inventory
        hosts[host] = host_vars
        for group in member_of:
            groups.setdefault(group, {})[host] = None
    children = dict((name, {"hosts": members}) for name, members in groups.items())
    children["mesh"] = {"children": {"hk": {}, "jp": {}}}
    return {"all": {"vars": dict(INVENTORY_VARS, **material), "hosts": hosts, "children": children}}
