# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mesh_parity and expiring on synthetic signing_info results.

The baseline mesh is healthy (no finding). Every case breaks one thing and lists exactly the
(code, host, severity) findings it must produce, so a check that fires too often fails as surely as
one that never fires. Identity SHA-1s and names, and the ``unavailable`` reasons, are quoted from
/work/shared/reference/macos-security-cli.md (sections 3.2, 3.4, 3.5).
"""

import copy
import datetime
import hashlib

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _manifest, _parity
from ansible_collections.macmesh.signing.plugins.module_utils._identity import identity_hash
from ansible_collections.macmesh.signing.plugins.module_utils._manifest import build_manifest

REGIONS = ["hk", "jp", "kr", "sg", "us"]
SIGNERS = ["sign-hk", "sign-us"]
BUILDERS = ["mini-" + region for region in REGIONS]
HOSTS = sorted(SIGNERS + BUILDERS)
NOW = "2026-12-01T00:00:00Z"
TEAM = "QG598U658S"
KEYCHAIN = "/Users/ci-build/Library/Keychains/ci-build.keychain-db"
LOGIN = "/Users/ci-build/Library/Keychains/login.keychain-db"
ROOT = "/Library/MacMesh/profiles"
MOBILE_DEVICE = "/Users/ci-build/Library/MobileDevice/Provisioning Profiles"
USER_DATA = "/Users/ci-build/Library/Developer/Xcode/UserData/Provisioning Profiles"
WRAPPER_SHA = hashlib.sha256(b"#!/bin/sh\n# macmesh-keychain-unlock\n").hexdigest()
# section 3.2: two valid identities and an untrusted one
DIST = {"sha1": "86890D67F234745572B7EF153C72DEA7CF522EDE", "name": "iPhone Distribution: Tien Le (QG598U658S)"}
DEV = {"sha1": "13F9C39BE0072902F6A60AF738F51BE53E3A8B23", "name": "iPhone Developer: Tien Le (8PKL73LX5A)"}
UNTRUSTED = {"sha1": "64CB89C8C7EFA62842BDD1AA76A9FAF321704F72", "name": "jevpaste-dev"}
# section 3.5, verbatim apart from the keychain path
LOCKED = "security: SecKeychainCopySettings %s: User interaction is not allowed." % KEYCHAIN

P_APP = "11111111-aaaa-4aaa-8aaa-000000000001"
P_WILD = "11111111-aaaa-4aaa-8aaa-000000000002"
P_WIDGET = "11111111-aaaa-4aaa-8aaa-000000000003"
P_NEXT = "11111111-aaaa-4aaa-8aaa-000000000004"
P_STRAY = "11111111-aaaa-4aaa-8aaa-000000000005"


def entry(uuid, name, bundle_id, expires):
    return {
        "uuid": uuid, "name": name, "filename": uuid + ".mobileprovision", "team_id": TEAM, "team_name": "Tien Le",
        "app_id": "%s.%s" % (TEAM, bundle_id), "bundle_id": bundle_id, "platforms": ["iOS"],
        "created": "2026-01-01T00:00:00Z", "expires": expires, "certificates": [DIST["sha1"]], "devices": 0,
        "provisions_all_devices": False, "sha256": hashlib.sha256(uuid.encode()).hexdigest(),
    }


ENTRIES = [
    entry(P_APP, "App AppStore", "com.example.app", "2027-06-01T00:00:00Z"),
    entry(P_WILD, "Wildcard AppStore", "com.example.*", "2027-09-01T00:00:00Z"),
    entry(P_WIDGET, "Widget AppStore", "com.example.app.widget", "2027-03-01T00:00:00Z"),
]
MANIFEST = build_manifest(ENTRIES, "2026.12-r1")
OTHER_SHA = hashlib.sha256(b"an older manifest").hexdigest()


def record(item, directory=MOBILE_DEVICE):
    """A signing_info profile record for a manifest entry."""
    return {"uuid": item["uuid"], "name": item["name"], "team_id": item["team_id"], "expires": item["expires"],
            "sha256": item["sha256"], "filename": item["filename"], "directory": directory}


def host_facts(holds, manifest=None, identities=(DIST,)):
    """A healthy registered signing_info result for a host that holds keys (``holds``) or not."""
    manifest = manifest or MANIFEST
    ids = [dict(identity, valid=True) for identity in identities] if holds else []
    return {
        "changed": False,
        "failed": False,
        "identities": ids,
        "identity_hash": identity_hash(ids),
        "summary_hash": hashlib.sha1(repr(ids).encode()).hexdigest(),
        "keychain": {"path": KEYCHAIN, "exists": holds, "owner": "ci-build" if holds else None,
                     "mode": "0600" if holds else None, "lock_on_sleep": True if holds else None,
                     "timeout": 3600 if holds else None, "locked": True if holds else None},
        "search_list": [KEYCHAIN, LOGIN] if holds else [LOGIN],
        "default_keychain": KEYCHAIN if holds else LOGIN,
        "profiles": [record(item) for item in manifest["profiles"]],
        "profile_dirs": {
            MOBILE_DEVICE: {"exists": True, "is_symlink": True, "target": ROOT + "/current", "writable_by_user": False},
            USER_DATA: {"exists": True, "is_symlink": True, "target": ROOT + "/current", "writable_by_user": False},
        },
        "duplicate_uuids": [],
        "active_manifest": {"sha256": manifest["sha256"], "version": manifest["version"],
                            "path": "%s/%s" % (ROOT, manifest["sha256"])},
        "wrapper": {"path": "/usr/local/bin/macmesh-keychain-unlock", "sha256": WRAPPER_SHA,
                    "log": {"path": "/Library/Logs/MacMesh/keychain-unlock.log", "exists": True, "type": "file",
                            "owner": "ci-build", "group": "staff", "mode": "0640", "append_only": True,
                            "directory": {"path": "/Library/Logs/MacMesh", "owner": "root", "mode": "0755"}}},
        "hardware_fingerprint": hashlib.sha256(b"Mac14,3").hexdigest(),
        "macos_version": "15.3.1",
        "clock_offset": 0.000233,
        "unavailable": {},
    }


class Mesh(object):
    """Inputs of mesh_parity for the baseline mesh; cases mutate them."""

    def __init__(self):
        self.facts = dict((host, host_facts(host in SIGNERS)) for host in HOSTS)
        self.groups = dict((region, sorted(h for h in HOSTS if h.endswith("-" + region))) for region in REGIONS)
        self.groups.update({"signers": list(SIGNERS), "builders": list(BUILDERS), "mesh": list(HOSTS),
                            "all": list(HOSTS), "ungrouped": []})
        self.expected = {
            "manifest": copy.deepcopy(MANIFEST),
            "regions": list(REGIONS),
            "keychain_path": KEYCHAIN,
            "wrapper_sha256": WRAPPER_SHA,
            "profile_root": ROOT,
            "topology": "dedicated",
            "max_key_copies": 2,
            "max_identity_hashes": 2,
            "declared_identities": {DIST["sha1"]: DIST["name"]},
            "certificate_expiry": {DIST["sha1"]: "2027-10-01T12:00:00Z"},
            "keychain_settings": {"timeout": 3600, "lock_on_sleep": True},
            "cert_warn_days": 21,
            "cert_error_days": 7,
            "overlap_min_days": 7,
            "overlap_max_days": 14,
            "max_clock_offset": 1.0,
            "now": NOW,
        }

    def run(self):
        return _parity.mesh_parity(self.facts, self.groups, self.expected)

    def add_host(self, host, region, tier, facts):
        self.facts[host] = facts
        self.groups[region].append(host)
        self.groups[tier].append(host)


def before(days, when):
    moment = _parity.to_utc(when, "when") - datetime.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def all_hosts(code, severity="error", hosts=HOSTS):
    return set((code, host, severity) for host in hosts)


# --- the cases: (id, mutation, expected findings) ---------------------------------------------

def unreachable(m):
    m.facts["mini-jp"] = {"unreachable": True, "changed": False,
                          "msg": "Failed to connect to the host via ssh: ssh: connect to host 127.0.1.2 port 22: "
                                 "Connection refused"}


def failed(m):
    m.facts["mini-jp"] = {"failed": True, "msg": "MODULE FAILURE"}


def missing_result(m):
    del m.facts["mini-kr"]


def null_result(m):
    m.facts["mini-kr"] = None


def skipped(m):
    m.facts["mini-kr"] = {"skipped": True, "changed": False, "skip_reason": "Conditional result was False"}


def identities_unreadable(m):
    facts = m.facts["mini-hk"]
    facts.update(identities=None, identity_hash=None, summary_hash=None)
    facts["unavailable"] = {"identities": "security find-identity: The specified keychain could not be found.",
                            "identity_hash": "security find-identity: The specified keychain could not be found.",
                            "summary_hash": "security find-identity: The specified keychain could not be found."}


def info_unreadable(m):
    m.facts["mini-hk"]["macos_version"] = None
    m.facts["mini-hk"]["unavailable"]["macos_version"] = "/usr/bin/sw_vers -productVersion exited with 127"


def field_not_reported(m):
    del m.facts["mini-hk"]["clock_offset"]


def info_not_gathered(m):
    m.facts["mini-hk"]["default_keychain"] = None
    m.facts["mini-hk"]["unavailable"]["default_keychain"] = "not gathered"


def needed_not_gathered(m):
    m.facts["mini-hk"]["identities"] = None
    m.facts["mini-hk"]["unavailable"]["identities"] = "not gathered"


def null_without_reason(m):
    m.facts["mini-hk"]["search_list"] = None


def profile_dir_unlistable(m):
    m.facts["mini-hk"]["unavailable"]["profiles:" + USER_DATA] = "[Errno 13] Permission denied"


def locked_keychain_settings(m):
    keychain = m.facts["sign-hk"]["keychain"]
    keychain.update(timeout=None, lock_on_sleep=None)
    m.facts["sign-hk"]["unavailable"].update({"keychain.timeout": LOCKED, "keychain.lock_on_sleep": LOCKED})


def locked_keychain_on_builder(m):
    m.facts["mini-hk"]["unavailable"]["keychain.timeout"] = LOCKED


def writability_unknown(m):
    m.facts["mini-hk"]["profile_dirs"][USER_DATA]["writable_by_user"] = None
    m.facts["mini-hk"]["unavailable"]["profile_dirs.%s.writable_by_user" % USER_DATA] = "user ci-build does not exist"


def stray_host(m):
    m.facts["stray"] = host_facts(False)
    m.groups["builders"].append("stray")


def two_regions(m):
    m.groups["jp"].append("mini-hk")


def empty_region(m):
    m.groups["kr"] = []
    del m.facts["mini-kr"]
    m.groups["builders"].remove("mini-kr")


def no_tier(m):
    m.groups["builders"].remove("mini-sg")


def both_tiers(m):
    m.groups["signers"].append("mini-sg")


def drift(m):
    m.facts["mini-jp"]["active_manifest"].update(sha256=OTHER_SHA, path="%s/%s" % (ROOT, OTHER_SHA))


def no_active_manifest(m):
    m.facts["mini-jp"]["active_manifest"] = None
    m.facts["mini-jp"]["unavailable"]["active_manifest"] = ROOT + "/current does not exist"


def drift_majority(m):
    """Four builders agree with each other but not with the manifest: the expected sha still ranks first."""
    m.expected["manifest"] = MANIFEST["sha256"]
    for host in ["mini-jp", "mini-kr", "mini-sg", "mini-us"]:
        m.facts[host]["active_manifest"].update(sha256=OTHER_SHA, path="%s/%s" % (ROOT, OTHER_SHA))


def profile_missing(m):
    m.facts["mini-kr"]["profiles"] = [p for p in m.facts["mini-kr"]["profiles"] if p["uuid"] != P_WIDGET]


def profile_extra(m):
    stray = entry(P_STRAY, "Stray AppStore", "com.example.stray", "2027-06-01T00:00:00Z")
    m.facts["mini-kr"]["profiles"].append(record(stray))


def profile_sha_mismatch(m):
    m.facts["mini-kr"]["profiles"][0]["sha256"] = hashlib.sha256(b"edited").hexdigest()


def profile_unreadable(m):
    m.facts["mini-kr"]["profiles"].append({
        "uuid": None, "name": None, "team_id": None, "expires": None, "sha256": None, "filename": "broken.mobileprovision",
        "directory": MOBILE_DEVICE, "error": "cannot be read ([Errno 13] Permission denied)"})


def profile_expired_on_host(m):
    m.facts["mini-kr"]["profiles"][2]["expires"] = "2026-11-01T00:00:00Z"


def overlap_window(m):
    m.expected["now"] = before(10, ENTRIES[2]["expires"])


def overlap_closing(m):
    m.expected["now"] = before(3, ENTRIES[2]["expires"])


def overlap_with_successor(m):
    successor = entry(P_NEXT, "Widget AppStore", "com.example.app.widget", "2028-03-01T00:00:00Z")
    manifest = build_manifest(ENTRIES + [successor], "2027.02-r1")
    m.expected["manifest"] = manifest
    m.expected["now"] = before(10, ENTRIES[2]["expires"])
    for host in HOSTS:
        m.facts[host] = host_facts(host in SIGNERS, manifest)


def overlap_sha_only(m):
    """With only the manifest sha, successors are looked up among the host's installed profiles (by name)."""
    m.expected["manifest"] = MANIFEST["sha256"]
    m.expected["now"] = before(10, ENTRIES[2]["expires"])
    successor = entry(P_NEXT, "Widget AppStore", "com.example.app.widget", "2028-03-01T00:00:00Z")
    m.facts["mini-kr"]["profiles"].append(record(successor))


def duplicate_uuid(m):
    m.facts["mini-us"]["duplicate_uuids"] = [P_APP]


def dir_writable(m):
    m.facts["mini-us"]["profile_dirs"][MOBILE_DEVICE]["writable_by_user"] = True


def profile_in_derived_data(m):
    m.facts["mini-us"]["profiles"][0]["directory"] = "/Users/ci-build/Library/Developer/Xcode/DerivedData/App-x/Build"


def profile_dir_in_caches(m):
    m.facts["mini-us"]["profile_dirs"][USER_DATA]["target"] = "/Users/ci-build/Library/Caches/profiles"


def profile_dir_absent(m):
    m.facts["mini-us"]["profile_dirs"][USER_DATA].update(exists=False, is_symlink=False, target=None)


def kept_version(profiles, version="old", **change):
    """The version kept for rollback as signing_info reads it (profile_store's ``kept``), published exactly
    as its own manifest says: the directory named after the sha256 of ``profiles``; ``change`` replaces keys."""
    name = _manifest.profiles_sha256(profiles)
    files = dict((item["filename"], {"owner": "root", "mode": "0444", "type": "file", "sha256": item["sha256"]})
                 for item in profiles)
    files["profiles.json"] = {"owner": "root", "mode": "0444", "type": "file", "sha256": "9" * 64}
    value = {"path": "/Library/MacMesh/profiles/" + name, "owner": "root", "mode": "0555", "files": files,
             "manifest": {"sha256": name, "profiles_sha256": name, "version": version,
                          "profiles": [dict(item) for item in profiles]}}
    value.update(change)
    return value


def kept_store(**change):
    """A profile_store read whose rollback version (previous) is published as its own manifest says."""
    profiles = [{"filename": "old.mobileprovision", "sha256": "1" * 64}]
    kept = kept_version(profiles)
    kept["files"]["old.mobileprovision"].update(change.pop("file", {}))
    kept.update(change)
    name = _manifest.profiles_sha256(profiles)
    return {"root": "/Library/MacMesh/profiles", "current": "c" * 64, "previous": name, "kept": kept,
            "entries": ["c" * 64, "current", name, "previous"], "version": None}


def kept_version_tampered(m):
    m.facts["sign-us"]["profile_store"] = kept_store(file={"sha256": "2" * 64})


def kept_version_intact(m):
    m.facts["sign-us"]["profile_store"] = kept_store()


def profile_dir_real(m):
    m.facts["mini-us"]["profile_dirs"][USER_DATA].update(is_symlink=False, target=None)


def active_manifest_elsewhere(m):
    m.facts["mini-us"]["active_manifest"]["path"] = "/Users/ci-build/profiles/" + MANIFEST["sha256"]


def key_on_builder(m):
    m.expected["max_key_copies"] = 3
    m.facts["mini-jp"] = host_facts(True)
    m.facts["mini-jp"]["search_list"] = [LOGIN]


def third_signer(m):
    m.add_host("sign-jp", "jp", "signers", host_facts(True))


def undeclared(m):
    m.facts["sign-hk"] = host_facts(True, identities=(DIST, DEV))


def identity_absent(m):
    m.facts["sign-us"] = host_facts(True, identities=())


def identity_invalid(m):
    facts = m.facts["sign-us"]
    facts["identities"] = [dict(DIST, valid=False)]
    facts["identity_hash"] = identity_hash(facts["identities"])


def too_many_sets(m):
    """Sets: declared {DIST} (2 hosts), {DIST, DEV} (2 hosts), {DIST, UNTRUSTED} (1 host: blocked)."""
    m.expected["max_key_copies"] = 10
    m.add_host("sign-jp", "jp", "signers", host_facts(True, identities=(DIST, DEV)))
    m.add_host("sign-kr", "kr", "signers", host_facts(True, identities=(DIST, DEV)))
    m.add_host("sign-sg", "sg", "signers", host_facts(True, identities=(DIST, UNTRUSTED)))


def declared_set_kept(m):
    """The declared set is kept even when rarer than both others: {DIST, UNTRUSTED} is blocked."""
    m.expected["max_key_copies"] = 10
    m.facts["sign-us"] = host_facts(True, identities=(DIST, DEV))
    m.add_host("sign-jp", "jp", "signers", host_facts(True, identities=(DIST, DEV)))
    m.add_host("sign-kr", "kr", "signers", host_facts(True, identities=(DIST, DEV)))
    m.add_host("sign-sg", "sg", "signers", host_facts(True, identities=(DIST, UNTRUSTED)))
    m.add_host("sign-sg2", "sg", "signers", host_facts(True, identities=(DIST, UNTRUSTED)))


def distributed(m):
    m.expected.update(topology="distributed", max_key_copies=10)
    for host in HOSTS:
        m.facts[host] = host_facts(True)


def distributed_divergent(m):
    distributed(m)
    m.facts["mini-kr"] = host_facts(True, identities=(DIST, DEV))


def per_runner(m):
    m.expected["topology"] = "per_runner"
    del m.expected["declared_identities"]
    m.expected["per_runner_identities"] = {"sign-hk": [DIST["sha1"]], "sign-us": [DIST["sha1"]],
                                           "mini-hk": [DEV["sha1"]], "mini-jp": [UNTRUSTED["sha1"].lower()]}
    m.facts["mini-hk"] = host_facts(True, identities=(DEV,))
    m.facts["mini-jp"] = host_facts(True, identities=(UNTRUSTED,))


def per_runner_undeclared(m):
    per_runner(m)
    m.facts["mini-kr"] = host_facts(True, identities=(DEV,))
    m.facts["mini-kr"]["search_list"] = [LOGIN]


def keychain_path(m):
    m.facts["sign-hk"]["keychain"]["path"] = LOGIN


def keychain_absent(m):
    m.facts["sign-hk"]["keychain"]["exists"] = False


def keychain_unreadable(m):
    m.facts["sign-hk"]["keychain"] = None
    m.facts["sign-hk"]["unavailable"]["keychain"] = "security: SecKeychainCopyDefault: A default keychain could not be found."


def keychain_timeout(m):
    m.facts["sign-hk"]["keychain"]["timeout"] = 300


def keychain_no_timeout(m):
    m.facts["sign-hk"]["keychain"].update(timeout=None, lock_on_sleep=False)


def no_keychain_policy(m):
    del m.expected["keychain_settings"]
    m.facts["sign-hk"]["keychain"]["timeout"] = 300


def wrapper_tampered(m):
    m.facts["mini-hk"]["wrapper"]["sha256"] = hashlib.sha256(b"tampered").hexdigest()


def wrapper_missing_on_signer(m):
    m.facts["sign-us"]["wrapper"] = None
    m.facts["sign-us"]["unavailable"]["wrapper"] = "[Errno 2] No such file or directory"


def wrapper_log_not_append_only(m):
    m.facts["sign-hk"]["wrapper"]["log"]["append_only"] = False


def wrapper_log_directory_of_the_ci_user(m):
    m.facts["mini-kr"]["wrapper"]["log"]["directory"]["owner"] = "ci-build"


def wrapper_log_writable_by_others(m):
    m.facts["sign-us"]["wrapper"]["log"]["mode"] = "0666"


def wrapper_log_owned_by_root(m):
    m.facts["mini-jp"]["wrapper"]["log"]["owner"] = "root"


def wrapper_log_missing(m):
    m.facts["mini-sg"]["wrapper"]["log"].update(exists=False, type=None, owner=None, group=None, mode=None,
                                                append_only=None)


def wrapper_log_unreadable(m):
    m.facts["sign-hk"]["wrapper"]["log"] = None
    m.facts["sign-hk"]["unavailable"]["wrapper.log"] = "[Errno 13] Permission denied"


def wrapper_log_checked_when_keychain_owner_is_not(m):
    m.expected.update(keychain_owner=None, keychain_mode=None)
    m.facts["sign-hk"]["wrapper"]["log"]["owner"] = "admin"


def wrapper_missing_on_builder(m):
    m.facts["mini-us"]["wrapper"] = None
    m.facts["mini-us"]["unavailable"]["wrapper"] = "[Errno 2] No such file or directory"


def search_list_login_first(m):
    m.facts["sign-hk"]["search_list"] = [LOGIN, KEYCHAIN]


def search_list_without_keychain(m):
    m.facts["sign-hk"]["search_list"] = [LOGIN]


def search_list_empty(m):
    m.facts["sign-hk"]["search_list"] = []


def search_list_on_builder(m):
    m.facts["mini-sg"]["search_list"] = [LOGIN, KEYCHAIN]


def cert_days(days):
    def mutate(m):
        m.expected["certificate_expiry"] = {DIST["sha1"].lower(): before(-days, NOW)}
    return mutate


def host_cert_days(days, host="sign-hk"):
    """signing_info's own certificate dates win over expected.certificate_expiry (which stays healthy)."""
    def mutate(m):
        m.facts[host]["certificates"] = [{"sha1": DIST["sha1"], "name": DIST["name"], "not_after": before(-days, NOW)}]
    return mutate


def host_certs_without_expected(m):
    """No certificate_expiry at all: every signer reports its certificate, one of them expired."""
    del m.expected["certificate_expiry"]
    for host in SIGNERS:
        m.facts[host]["certificates"] = [{"sha1": DIST["sha1"], "name": DIST["name"], "not_after": "2027-10-01T12:00:00Z"}]
    m.facts["sign-us"]["certificates"][0]["not_after"] = before(1, NOW)


def certificates_unreadable(m):
    m.facts["sign-hk"]["certificates"] = None
    m.facts["sign-hk"]["unavailable"]["certificates"] = "security find-certificate: " + LOCKED.split(": ", 2)[2]


def keychain_mode(m):
    m.facts["sign-hk"]["keychain"]["mode"] = "0644"


def keychain_owner(m):
    m.facts["sign-us"]["keychain"]["owner"] = "root"
    m.facts["sign-us"]["keychain"]["mode"] = "0666"


def keychain_permissions_unchecked(m):
    m.expected.update(keychain_owner=None, keychain_mode=None)
    m.facts["sign-hk"]["keychain"]["mode"] = "0644"


def secret_found(m):
    m.facts["mini-kr"]["secrets"] = [{"path": "/Users/ci-build/.config/gh/hosts.yml", "kind": "github_token", "line": 3},
                                     {"path": "/private/tmp/dist.p12", "kind": "pkcs12", "line": 0}]


def no_secret(m):
    m.facts["mini-kr"]["secrets"] = []


def clock(m):
    m.facts["mini-sg"]["clock_offset"] = -2.5


def clock_far_off(m):
    m.facts["mini-sg"]["clock_offset"] = 120.0


RELEASE = {"version": "v2", "serial": 2, "sha256": "e" * 64}


def with_release(record_of=None, reason=None):
    """The controller runs release v2; every host records it, except what ``record_of`` changes."""
    def mutate(m):
        m.expected["release"] = dict(RELEASE)
        for host in HOSTS:
            m.facts[host]["release_state"] = {"schema": 1, "release": dict(RELEASE)}
        for host, record in (record_of or {}).items():
            m.facts[host]["release_state"] = record
            if reason:
                m.facts[host].setdefault("unavailable", {})["release_state"] = reason
    return mutate


def computed_identity_hash(m):
    """A result without identity_hash (only some fields registered): computed from the identities."""
    for host in HOSTS:
        del m.facts[host]["identity_hash"]


CASES = [
    ("unreachable", unreachable, {("UNREACHABLE", "mini-jp", "error")}),
    ("failed", failed, {("FACTS_FAILED", "mini-jp", "error")}),
    ("no result", missing_result, {("NO_FACTS", "mini-kr", "error")}),
    ("null result", null_result, {("NO_FACTS", "mini-kr", "error")}),
    ("skipped", skipped, {("NO_FACTS", "mini-kr", "error")}),
    ("identities unreadable", identities_unreadable, {("FACT_UNAVAILABLE", "mini-hk", "error")}),
    ("info field unreadable", info_unreadable, {("FACT_UNAVAILABLE", "mini-hk", "warning")}),
    ("info field not reported", field_not_reported, {("FACT_UNAVAILABLE", "mini-hk", "warning")}),
    ("info field not gathered", info_not_gathered, set()),
    ("needed field not gathered", needed_not_gathered, {("FACT_UNAVAILABLE", "mini-hk", "error")}),
    ("needed field null", null_without_reason, {("FACT_UNAVAILABLE", "mini-hk", "error")}),
    ("profile dir unlistable", profile_dir_unlistable, {("FACT_UNAVAILABLE", "mini-hk", "error")}),
    ("locked keychain settings", locked_keychain_settings,
     {("FACT_UNAVAILABLE", "sign-hk", "warning"), ("FACT_UNAVAILABLE", "sign-hk", "warning")}),
    ("locked keychain on builder", locked_keychain_on_builder, set()),
    ("writability unknown", writability_unknown, {("FACT_UNAVAILABLE", "mini-hk", "warning")}),
    ("host in no region", stray_host, {("REGION_UNKNOWN", "stray", "error")}),
    ("host in two regions", two_regions, {("REGION_AMBIGUOUS", "mini-hk", "error")}),
    ("empty region", empty_region, {("REGION_EMPTY", None, "error")}),
    ("no tier", no_tier, {("TIER_UNKNOWN", "mini-sg", "error")}),
    ("both tiers", both_tiers, {("TIER_AMBIGUOUS", "mini-sg", "error")}),
    ("manifest drift", drift, {("MANIFEST_DRIFT", "mini-jp", "error"),
                               ("MANIFEST_SHA_DIVERGES_IN_TIER", "mini-jp", "warning")}),
    ("no active manifest", no_active_manifest, {("MANIFEST_DRIFT", "mini-jp", "error")}),
    ("drift of a majority", drift_majority,
     all_hosts("MANIFEST_DRIFT", hosts=["mini-jp", "mini-kr", "mini-sg", "mini-us"])
     | all_hosts("MANIFEST_SHA_DIVERGES_IN_TIER", "warning", ["mini-jp", "mini-kr", "mini-sg", "mini-us"])),
    ("profile missing", profile_missing, {("PROFILE_MISSING", "mini-kr", "error")}),
    ("profile extra", profile_extra, {("PROFILE_EXTRA", "mini-kr", "error")}),
    ("profile sha mismatch", profile_sha_mismatch, {("PROFILE_SHA_MISMATCH", "mini-kr", "error")}),
    ("profile unreadable", profile_unreadable, {("PROFILE_UNREADABLE", "mini-kr", "error")}),
    ("profile expired", profile_expired_on_host, {("PROFILE_EXPIRED", "mini-kr", "error")}),
    ("overlap window", overlap_window, all_hosts("PROFILE_OVERLAP_NO_SUCCESSOR", "warning")),
    ("overlap closing", overlap_closing, all_hosts("PROFILE_OVERLAP_NO_SUCCESSOR", "error")),
    ("overlap with successor", overlap_with_successor, set()),
    ("overlap, sha-only manifest", overlap_sha_only,
     all_hosts("PROFILE_OVERLAP_NO_SUCCESSOR", "warning", [h for h in HOSTS if h != "mini-kr"])),
    ("duplicate uuid", duplicate_uuid, {("DUPLICATE_UUID", "mini-us", "error")}),
    ("profile dir writable", dir_writable, {("PROFILE_DIR_WRITABLE", "mini-us", "error")}),
    ("profile in DerivedData", profile_in_derived_data, {("PROFILE_IN_CACHE", "mini-us", "error")}),
    ("profile dir in Caches", profile_dir_in_caches, {("PROFILE_IN_CACHE", "mini-us", "error"),
                                                      ("PROFILE_ROOT_MISMATCH", "mini-us", "error")}),
    ("profile dir absent", profile_dir_absent, {("PROFILE_ROOT_MISMATCH", "mini-us", "error")}),
    ("rollback version tampered", kept_version_tampered, {("PROFILE_KEPT_TAMPERED", "sign-us", "error")}),
    ("rollback version intact", kept_version_intact, set()),
    ("profile dir not a link", profile_dir_real, {("PROFILE_ROOT_MISMATCH", "mini-us", "error")}),
    ("active manifest outside root", active_manifest_elsewhere, {("PROFILE_ROOT_MISMATCH", "mini-us", "error")}),
    ("key on builder", key_on_builder, {("KEY_ON_BUILDER", "mini-jp", "error")}),
    ("third key copy", third_signer, all_hosts("KEY_COPIES_EXCEEDED", hosts=["sign-hk", "sign-jp", "sign-us"])),
    ("undeclared identity", undeclared, {("IDENTITY_UNDECLARED", "sign-hk", "error")}),
    ("identity absent", identity_absent, {("IDENTITY_MISSING", "sign-us", "error")}),
    ("identity not valid", identity_invalid, {("IDENTITY_UNTRUSTED", "sign-us", "error")}),
    ("too many identity sets", too_many_sets,
     all_hosts("IDENTITY_UNDECLARED", hosts=["sign-jp", "sign-kr", "sign-sg"])
     | {("IDENTITY_HASHES_EXCEEDED", "sign-sg", "error")}),
    ("declared identity set kept", declared_set_kept,
     all_hosts("IDENTITY_UNDECLARED", hosts=["sign-jp", "sign-kr", "sign-sg", "sign-sg2", "sign-us"])
     | all_hosts("IDENTITY_HASHES_EXCEEDED", hosts=["sign-sg", "sign-sg2"])),
    ("distributed", distributed, set()),
    ("distributed, divergent set", distributed_divergent, {("IDENTITY_UNDECLARED", "mini-kr", "error"),
                                                           ("IDENTITY_SET_DIVERGES", "mini-kr", "warning")}),
    ("per runner", per_runner, set()),
    ("per runner, undeclared", per_runner_undeclared, {("IDENTITY_UNDECLARED", "mini-kr", "error")}),
    ("keychain path", keychain_path, {("KEYCHAIN_PATH_MISMATCH", "sign-hk", "error")}),
    ("keychain absent", keychain_absent, {("KEYCHAIN_MISSING", "sign-hk", "error")}),
    ("keychain unreadable", keychain_unreadable, {("KEYCHAIN_MISSING", "sign-hk", "error")}),
    ("keychain timeout", keychain_timeout, {("KEYCHAIN_SETTINGS", "sign-hk", "error")}),
    ("keychain never locks", keychain_no_timeout, {("KEYCHAIN_SETTINGS", "sign-hk", "error")}),
    ("no keychain policy", no_keychain_policy, set()),
    ("wrapper tampered", wrapper_tampered, {("WRAPPER_MISMATCH", "mini-hk", "error")}),
    ("wrapper missing on signer", wrapper_missing_on_signer, {("WRAPPER_MISMATCH", "sign-us", "error")}),
    ("wrapper log not append-only", wrapper_log_not_append_only, {("WRAPPER_LOG_UNSEALED", "sign-hk", "error")}),
    ("wrapper log directory of the ci user", wrapper_log_directory_of_the_ci_user,
     {("WRAPPER_LOG_UNSEALED", "mini-kr", "error")}),
    ("wrapper log writable by others", wrapper_log_writable_by_others, {("WRAPPER_LOG_UNSEALED", "sign-us", "error")}),
    ("wrapper log owned by root", wrapper_log_owned_by_root, {("WRAPPER_LOG_UNSEALED", "mini-jp", "error")}),
    ("wrapper log missing", wrapper_log_missing, {("WRAPPER_LOG_UNSEALED", "mini-sg", "error")}),
    ("wrapper log unreadable", wrapper_log_unreadable, {("WRAPPER_LOG_UNSEALED", "sign-hk", "error")}),
    ("wrapper log checked without keychain owner", wrapper_log_checked_when_keychain_owner_is_not,
     {("WRAPPER_LOG_UNSEALED", "sign-hk", "error")}),
    ("wrapper missing on builder", wrapper_missing_on_builder, set()),
    ("login keychain first", search_list_login_first, {("SEARCH_LIST", "sign-hk", "error")}),
    ("signing keychain not listed", search_list_without_keychain, {("SEARCH_LIST", "sign-hk", "error")}),
    ("empty search list", search_list_empty, {("SEARCH_LIST", "sign-hk", "error")}),
    ("signing keychain on builder", search_list_on_builder, {("SEARCH_LIST", "mini-sg", "error")}),
    ("certificate fine", cert_days(21.5), set()),
    ("certificate expiring", cert_days(20), all_hosts("CERT_EXPIRING", "warning", SIGNERS)),
    ("certificate expiring soon", cert_days(6.9), all_hosts("CERT_EXPIRING_SOON", "error", SIGNERS)),
    ("certificate expired", cert_days(-1), all_hosts("CERT_EXPIRED", "error", SIGNERS)),
    ("host certificate expiring", host_cert_days(20), {("CERT_EXPIRING", "sign-hk", "warning")}),
    ("host certificate expired", host_cert_days(-0.5, "sign-us"), {("CERT_EXPIRED", "sign-us", "error")}),
    ("host certificate fine", host_cert_days(40), set()),
    ("host certificates only", host_certs_without_expected, {("CERT_EXPIRED", "sign-us", "error")}),
    ("certificates unreadable", certificates_unreadable, {("FACT_UNAVAILABLE", "sign-hk", "warning")}),
    ("keychain mode", keychain_mode, {("KEYCHAIN_PERMISSIONS", "sign-hk", "error")}),
    ("keychain owner and mode", keychain_owner, {("KEYCHAIN_PERMISSIONS", "sign-us", "error")}),
    ("keychain permissions unchecked", keychain_permissions_unchecked, set()),
    ("secret found", secret_found, {("SECRET_FOUND", "mini-kr", "error"), ("SECRET_FOUND", "mini-kr", "error")}),
    ("secret scan clean", no_secret, set()),
    ("clock offset", clock, {("CLOCK_OFFSET", "mini-sg", "warning")}),
    ("clock far off", clock_far_off, {("CLOCK_OFFSET", "mini-sg", "error")}),
    ("identity hash computed", computed_identity_hash, set()),
    ("release same everywhere", with_release(), set()),
    ("release ahead", with_release({"sign-hk": {"release": dict(RELEASE, serial=3, version="v3")}}),
     {("RELEASE_AHEAD", "sign-hk", "error")}),
    ("release behind", with_release({"mini-jp": {"release": dict(RELEASE, serial=1, version="v1")}}),
     {("RELEASE_BEHIND", "mini-jp", "error")}),
    ("release edited", with_release({"mini-jp": {"release": dict(RELEASE, sha256="f" * 64)}}),
     {("RELEASE_MISMATCH", "mini-jp", "error")}),
    ("release not recorded", with_release({"mini-sg": None}), {("RELEASE_NOT_RECORDED", "mini-sg", "warning")}),
    ("release record unreadable", with_release({"mini-sg": None}, reason="/Library/MacMesh/release.json: denied"),
     {("RELEASE_UNREADABLE", "mini-sg", "error")}),
    ("release record not gathered", with_release({"mini-sg": None}, reason="not gathered"), set()),
    ("no release in inventory mode", lambda m: m.expected.update(release=None), set()),
]


# --- the CI agent's side (issue 12): signing_info part "agent", expected.agent, expected.secret_versions ---

RAMDISK = "/Volumes/MacMeshNotary"
TTL_POLICY = {"build_p95_s": 240.0, "margin_s": 60.0, "cap_s": 600.0, "max_ttl_s": 420}


def agent_part(holder, versions):
    return {
        "ramdisk": {"path": RAMDISK, "mounted": holder, "fstype": "apfs" if holder else None, "exists": holder,
                    "owners_enforced": holder, "owner": "ci-build" if holder else None,
                    "mode": "0700" if holder else None, "files": []},
        "janitor": {"label": "com.macmesh.notary-janitor", "loaded": holder, "state": "not running",
                    "user": None, "session_create": False, "last_exit": "0", "error": None},
        "ci_agent": {"label": "com.macmesh.ci-agent", "loaded": True, "state": "running", "user": "ci-build",
                     "session_create": True, "last_exit": None, "error": None},
        "session_ttl": {"configured_s": 300, "policy": TTL_POLICY},
        "secret_versions": dict(versions),
    }


def with_agent(m):
    """Every host reports the agent part; signers hold the p12 and the ASC key."""
    m.expected["agent"] = {"ramdisk": RAMDISK, "ramdisk_owner": "ci-build", "janitor_label": "com.macmesh.notary-janitor",
                           "ci_agent_label": "com.macmesh.ci-agent"}
    for host in HOSTS:
        versions = {"keychain_password": "3"}
        if host in SIGNERS:
            versions.update({"p12:" + DIST["sha1"]: "7", "asc_api_key": "2"})
        m.facts[host]["agent"] = agent_part(host in SIGNERS, versions)


def agent_case(change):
    def mutate(m):
        with_agent(m)
        change(m)
    return mutate


def _p8_in_downloads(m):
    m.facts["sign-us"]["secrets"] = [{"path": "/Users/ci-build/Downloads/AuthKey_ABCDE12345.p8", "kind": "asc_api_key",
                                      "line": 0}]


def _ramdisk_missing(m):
    m.facts["sign-hk"]["agent"]["ramdisk"].update(mounted=False, fstype=None)


def _ramdisk_mode(m):
    m.facts["sign-hk"]["agent"]["ramdisk"].update(mode="0755", owners_enforced=False)


def _janitor_unloaded(m):
    m.facts["sign-us"]["agent"]["janitor"].update(loaded=False, error='Could not find service "x" in domain for system')


def _agent_without_session(m):
    m.facts["mini-jp"]["agent"]["ci_agent"].update(user=None, session_create=False)


def _agent_not_loaded(m):
    m.facts["mini-kr"]["agent"]["ci_agent"].update(loaded=False)


def _ttl_above(m):
    m.facts["mini-sg"]["agent"]["session_ttl"]["configured_s"] = 900


def _ttl_policy_from_inventory(m):
    # The controller's policy wins over the one recorded on the node.
    m.expected["agent"]["session_ttl_policy"] = dict(TTL_POLICY, max_ttl_s=200)


def _one_region_rotated(m):
    m.facts["sign-us"]["agent"]["secret_versions"]["keychain_password"] = "4"


def _vault_moved_on(m):
    m.expected["secret_versions"] = {"asc_api_key": "3"}


CASES += [
    ("agent baseline", with_agent, set()),
    ("p8 in Downloads", agent_case(_p8_in_downloads), {("NOTARY_KEY_OUTSIDE_RAMDISK", "sign-us", "error")}),
    ("ramdisk missing", agent_case(_ramdisk_missing), {("NOTARY_RAMDISK_MISSING", "sign-hk", "error")}),
    ("ramdisk mode", agent_case(_ramdisk_mode), {("NOTARY_RAMDISK_PERMISSIONS", "sign-hk", "error")}),
    ("janitor not loaded", agent_case(_janitor_unloaded), {("NOTARY_JANITOR_NOT_LOADED", "sign-us", "error")}),
    ("agent without session", agent_case(_agent_without_session), {("CI_AGENT_JOB", "mini-jp", "error")}),
    ("agent not loaded", agent_case(_agent_not_loaded), {("CI_AGENT_JOB", "mini-kr", "error")}),
    ("session ttl above policy", agent_case(_ttl_above), {("SESSION_TTL_ABOVE_POLICY", "mini-sg", "error")}),
    ("session ttl policy from inventory", agent_case(_ttl_policy_from_inventory),
     all_hosts("SESSION_TTL_ABOVE_POLICY")),
    ("one region's secret version", agent_case(_one_region_rotated), {("SECRET_VERSION_DIVERGES", "sign-us", "error")}),
    ("vault moved on", agent_case(_vault_moved_on), all_hosts("SECRET_VERSION_STALE", "error", SIGNERS)),
]


def findings_of(result):
    return set((f["code"], f["host"], f["severity"]) for f in result["findings"])


def test_baseline_is_clean():
    result = Mesh().run()
    assert result["findings"] == []
    assert result["ok"] is True
    assert all(info["ok"] for info in result["hosts"].values())
    assert result["regions"]["hk"] == {"ok": True, "hosts": ["mini-hk", "sign-hk"], "errors": 0, "warnings": 0}
    assert result["hosts"]["sign-hk"]["tier"] == "signers" and result["hosts"]["mini-hk"]["tier"] == "builders"


@pytest.mark.parametrize("mutate, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_case(mutate, expected):
    mesh = Mesh()
    mutate(mesh)
    result = mesh.run()
    assert findings_of(result) == expected, result["findings"]
    assert result["ok"] is not any(severity == "error" for _code, _host, severity in expected)
    for code, host, severity in expected:
        if host is not None and severity == "error":
            assert result["hosts"][host]["ok"] is False


def test_every_code_has_a_case():
    covered = set(code for case in CASES for code, _host, _severity in case[2])
    assert covered == set(_parity.CODES)


def test_every_severity_in_codes_is_known():
    assert set(severity for severity, _text in _parity.CODES.values()) == {"error", "warning"}


def test_unreachable_host_is_counted_and_others_are_still_evaluated():
    mesh = Mesh()
    profile_missing(mesh)  # another host: evaluated
    unreachable(mesh)
    result = mesh.run()
    assert findings_of(result) == {("UNREACHABLE", "mini-jp", "error"), ("PROFILE_MISSING", "mini-kr", "error")}
    assert "Connection refused" in result["findings"][0]["message"]
    assert result["regions"]["jp"] == {"ok": False, "hosts": ["mini-jp"], "errors": 1, "warnings": 0}
    assert result["regions"]["hk"]["ok"] is True
    assert result["hosts"]["mini-jp"] == {"region": "jp", "tier": "builders", "ok": False, "manifest_sha": None,
                                          "identity_hash": None, "errors": 1, "warnings": 0}
    summary = result["summary"]
    assert (summary["hosts"], summary["hosts_ok"], summary["unreachable"], summary["errors"]) == (7, 5, 1, 2)
    assert summary["codes"] == {"UNREACHABLE": 1, "PROFILE_MISSING": 1}


def test_findings_are_sorted_by_region_host_code():
    mesh = Mesh()
    stray_host(mesh)  # region None sorts first
    clock(mesh)
    search_list_on_builder(mesh)
    wrapper_tampered(mesh)
    empty_region(mesh)
    keychain_timeout(mesh)
    result = mesh.run()
    keys = [(f["region"] or "", f["host"] or "", f["code"]) for f in result["findings"]]
    assert keys == sorted(keys)
    assert [(f["region"], f["host"], f["code"]) for f in result["findings"]] == [
        (None, "stray", "REGION_UNKNOWN"),
        ("hk", "mini-hk", "WRAPPER_MISMATCH"),
        ("hk", "sign-hk", "KEYCHAIN_SETTINGS"),
        ("kr", None, "REGION_EMPTY"),
        ("sg", "mini-sg", "CLOCK_OFFSET"),
        ("sg", "mini-sg", "SEARCH_LIST"),
    ]


def test_result_does_not_depend_on_input_order():
    first = Mesh()
    drift(first)
    second = Mesh()
    drift(second)
    second.facts = dict(reversed(list(second.facts.items())))
    second.groups = dict((name, list(reversed(hosts))) for name, hosts in second.groups.items())
    assert first.run() == second.run()


def test_summary_indexes_identity_hashes_and_manifests():
    mesh = Mesh()
    drift(mesh)
    summary = mesh.run()["summary"]
    signer_hash = identity_hash([dict(DIST, valid=True)])
    assert summary["identity_hashes"] == {signer_hash: ["sign-hk", "sign-us"],
                                          identity_hash([]): sorted(BUILDERS)}
    assert summary["manifest_shas"] == {MANIFEST["sha256"]: sorted(h for h in HOSTS if h != "mini-jp"),
                                        OTHER_SHA: ["mini-jp"]}
    assert (summary["topology"], summary["now"], summary["manifest_sha"]) == ("dedicated", NOW, MANIFEST["sha256"])


def test_messages_name_the_values():
    mesh = Mesh()
    keychain_timeout(mesh)
    wrapper_tampered(mesh)
    third_signer(mesh)
    messages = dict(((f["code"], f["host"]), f["message"]) for f in mesh.run()["findings"])
    assert messages[("KEYCHAIN_SETTINGS", "sign-hk")] == "keychain timeout is 300, policy says 3600"
    assert WRAPPER_SHA in messages[("WRAPPER_MISMATCH", "mini-hk")]
    unsealed = Mesh()
    wrapper_log_not_append_only(unsealed)
    wrapper_log_directory_of_the_ci_user(unsealed)
    logs = dict(((f["code"], f["host"]), f["message"]) for f in unsealed.run()["findings"])
    assert logs[("WRAPPER_LOG_UNSEALED", "sign-hk")] == (
        "unlock wrapper log: /Library/Logs/MacMesh/keychain-unlock.log is not append-only (chflags sappnd): "
        "ci-build can truncate or rewrite it")
    assert logs[("WRAPPER_LOG_UNSEALED", "mini-kr")] == (
        "unlock wrapper log: its directory /Library/Logs/MacMesh is owned by ci-build, not root: "
        "ci-build could replace the log")
    assert messages[("KEY_COPIES_EXCEEDED", "sign-jp")] == (
        "identity %s (%s) is held by 3 hosts (max 2): sign-hk, sign-jp, sign-us" % (DIST["sha1"], DIST["name"]))


def test_long_host_lists_are_shortened():
    mesh = Mesh()
    distributed(mesh)
    mesh.expected["max_key_copies"] = 2
    message = [f for f in mesh.run()["findings"] if f["code"] == "KEY_COPIES_EXCEEDED"][0]["message"]
    assert message.endswith("held by 7 hosts (max 2): mini-hk, mini-jp, mini-kr, mini-sg, mini-us and 2 more")


def test_identity_messages_distinguish_absent_and_invalid():
    absent, invalid = Mesh(), Mesh()
    identity_absent(absent)
    identity_invalid(invalid)
    assert absent.run()["findings"][0]["message"].endswith("is not in the keychain")
    finding = invalid.run()["findings"][0]
    assert finding["code"] == "IDENTITY_UNTRUSTED"
    assert "is present but not valid" in finding["message"] and "apple_intermediates" in finding["message"]


def test_untrusted_identity_carries_the_find_identity_mark():
    mesh = Mesh()
    identity_invalid(mesh)
    mesh.facts["sign-us"]["identities"][0]["status"] = "CSSMERR_TP_NOT_TRUSTED"
    [message] = [f["message"] for f in mesh.run()["findings"] if f["code"] == "IDENTITY_UNTRUSTED"]
    assert "is present but not valid (CSSMERR_TP_NOT_TRUSTED)" in message


def test_unavailable_reason_is_quoted():
    mesh = Mesh()
    locked_keychain_settings(mesh)
    messages = [f["message"] for f in mesh.run()["findings"]]
    assert messages == ["keychain.lock_on_sleep: " + LOCKED, "keychain.timeout: " + LOCKED]


def test_field_not_reported_and_null_say_so():
    mesh = Mesh()
    field_not_reported(mesh)
    null_without_reason(mesh)
    messages = sorted(f["message"] for f in mesh.run()["findings"])
    assert messages == ["clock_offset: not reported", "search_list: null, no reason given"]


def test_blocked_identity_set_message():
    mesh = Mesh()
    too_many_sets(mesh)
    finding = [f for f in mesh.run()["findings"] if f["code"] == "IDENTITY_HASHES_EXCEEDED"][0]
    assert "set 3 of at most 2" in finding["message"] and "blocked" in finding["message"]


def test_default_now_is_the_current_time():
    mesh = Mesh()
    del mesh.expected["now"]
    mesh.expected["certificate_expiry"] = {}
    result = mesh.run()
    now = _parity.to_utc(result["summary"]["now"], "now")
    assert abs((datetime.datetime.now(datetime.timezone.utc) - now).total_seconds()) < 60


def test_defaults_match_the_node_layout():
    mesh = Mesh()
    for key in ("keychain_path", "profile_root", "topology", "max_key_copies", "max_identity_hashes", "cert_warn_days",
                "cert_error_days", "overlap_min_days", "overlap_max_days", "max_clock_offset"):
        del mesh.expected[key]
    assert mesh.run()["findings"] == []


def test_ten_thousand_hosts_evaluate():
    """Not a timing test (see benchmarks/mesh_parity_bench.py): the indexes stay correct at scale."""
    facts = {}
    groups = dict((region, []) for region in REGIONS)
    groups.update(signers=[], builders=[])
    template = host_facts(False)
    for index in range(10000):
        host = "mini-%05d" % index
        facts[host] = template
        groups[REGIONS[index % 5]].append(host)
        groups["builders"].append(host)
    result = _parity.mesh_parity(facts, groups, Mesh().expected)
    assert result["ok"] and len(result["hosts"]) == 10000
    assert result["regions"]["sg"]["hosts"][:2] == ["mini-00003", "mini-00008"]


# --- input errors ------------------------------------------------------------------------------

def set_expected(key, value):
    def mutate(m):
        m.expected[key] = value
    return mutate


def drop_expected(key):
    def mutate(m):
        del m.expected[key]
    return mutate


def set_fact(host, key, value):
    def mutate(m):
        m.facts[host][key] = value
    return mutate


def broken_manifest(m):
    m.expected["manifest"]["sha256"] = OTHER_SHA


INPUT_ERRORS = [
    ("expected not a dict", lambda m: setattr(m, "expected", ["manifest"]), "expected must be a dict"),
    ("unknown option", set_expected("cert_warn_day", 21), "expected.cert_warn_day is not a known option"),
    ("bad now", set_expected("now", "2026-12-01 00:00:00"), "expected.now '2026-12-01 00:00:00' is not"),
    ("now not a string", set_expected("now", 1764547200), "expected.now must be a YYYY-MM-DDTHH:MM:SSZ string"),
    ("manifest missing", drop_expected("manifest"), "expected.manifest must be a manifest v1 dict"),
    ("manifest bad sha", set_expected("manifest", "ABC"), "expected.manifest must be a manifest v1 dict or its 64-hex"),
    ("manifest list", set_expected("manifest", []), "expected.manifest must be a manifest v1 dict"),
    ("manifest edited", broken_manifest, "expected.manifest.sha256 is %s but the profiles hash to" % OTHER_SHA),
    ("manifest schema", lambda m: m.expected["manifest"].update(schema=2), "expected.manifest.schema 2 is not supported"),
    ("regions missing", drop_expected("regions"), "expected.regions must be a non-empty list"),
    ("regions empty", set_expected("regions", []), "expected.regions must be a non-empty list"),
    ("region not a string", set_expected("regions", ["hk", 5]), "expected.regions[1] must be a non-empty string"),
    ("region twice", set_expected("regions", ["hk", "hk"]), "expected.regions lists a region twice"),
    ("keychain path relative", set_expected("keychain_path", "ci-build.keychain-db"), "expected.keychain_path must be an absolute path"),
    ("profile root not a string", set_expected("profile_root", None), "expected.profile_root must be an absolute path"),
    ("wrapper sha missing", drop_expected("wrapper_sha256"), "expected.wrapper_sha256 must be 64 lowercase hex"),
    ("wrapper sha upper", set_expected("wrapper_sha256", WRAPPER_SHA.upper()), "expected.wrapper_sha256 must be 64"),
    ("topology", set_expected("topology", "shared"), "expected.topology must be one of dedicated, distributed, per_runner"),
    ("key copies float", set_expected("max_key_copies", 2.0), "expected.max_key_copies must be an integer"),
    ("key copies bool", set_expected("max_key_copies", True), "expected.max_key_copies must be an integer"),
    ("key copies zero", set_expected("max_key_copies", 0), "expected.max_key_copies must be a number >= 1"),
    ("hashes zero", set_expected("max_identity_hashes", 0), "expected.max_identity_hashes must be a number >= 1"),
    ("warn days text", set_expected("cert_warn_days", "21"), "expected.cert_warn_days must be a number >= 0"),
    ("warn days negative", set_expected("cert_warn_days", -1), "expected.cert_warn_days must be a number >= 0"),
    ("error days above warn", set_expected("cert_error_days", 30), "expected.cert_error_days must not exceed cert_warn_days"),
    ("overlap inverted", set_expected("overlap_min_days", 20), "expected.overlap_min_days must not exceed overlap_max_days"),
    ("overlap max bool", set_expected("overlap_max_days", False), "expected.overlap_max_days must be a number"),
    ("clock offset bool", set_expected("max_clock_offset", True), "expected.max_clock_offset must be a number"),
    ("declared missing", drop_expected("declared_identities"), "expected.declared_identities must be a dict"),
    ("declared list", set_expected("declared_identities", [DIST["sha1"]]), "expected.declared_identities must be a dict"),
    ("declared name", set_expected("declared_identities", {DIST["sha1"]: None}),
     "expected.declared_identities['%s'] must be the identity name" % DIST["sha1"]),
    ("declared sha1", set_expected("declared_identities", {"86890D67": "x"}),
     "expected.declared_identities['86890D67'] must be a 40-hex SHA-1"),
    ("per runner missing", lambda m: m.expected.update(topology="per_runner"), "expected.per_runner_identities must be a dict"),
    ("per runner with dedicated", set_expected("per_runner_identities", {}), "expected.per_runner_identities is only used"),
    ("per runner not a list", lambda m: m.expected.update(topology="per_runner", per_runner_identities={"mini-hk": DIST["sha1"]}),
     "expected.per_runner_identities['mini-hk'] must be a list of SHA-1s"),
    ("per runner bad sha1", lambda m: m.expected.update(topology="per_runner", per_runner_identities={"mini-hk": ["x"]}),
     "expected.per_runner_identities['mini-hk'][0] must be a 40-hex SHA-1"),
    ("cert expiry list", set_expected("certificate_expiry", []), "expected.certificate_expiry must be a dict"),
    ("cert expiry sha1", set_expected("certificate_expiry", {"zz": NOW}), "expected.certificate_expiry['zz'] must be a 40-hex"),
    ("cert expiry date", set_expected("certificate_expiry", {DIST["sha1"]: "2027-10-01"}),
     "expected.certificate_expiry['%s'] '2027-10-01' is not YYYY-MM-DDTHH:MM:SSZ" % DIST["sha1"]),
    ("keychain settings list", set_expected("keychain_settings", [3600]), "expected.keychain_settings must be a dict"),
    ("keychain settings key", set_expected("keychain_settings", {"timeout": 1, "lock_on_sleep": True, "locked": True}),
     "expected.keychain_settings.locked is not a known option"),
    ("keychain timeout zero", set_expected("keychain_settings", {"timeout": 0, "lock_on_sleep": True}),
     "expected.keychain_settings.timeout must be a positive number of seconds or null"),
    ("keychain lock text", set_expected("keychain_settings", {"timeout": None, "lock_on_sleep": "yes"}),
     "expected.keychain_settings.lock_on_sleep must be a boolean"),
    ("facts not a dict", lambda m: setattr(m, "facts", [host_facts(True)]), "hostvars_subset must be a dict"),
    ("host name not a string", lambda m: m.facts.update({5: host_facts(True)}), "hostvars_subset keys must be host names"),
    ("result not a dict", lambda m: m.facts.update({"mini-hk": "ok"}), "hostvars_subset['mini-hk'] must be a signing_info result"),
    ("groups not a dict", lambda m: setattr(m, "groups", ["hk"]), "groups must be a dict"),
    ("group not a list", lambda m: m.groups.update(hk="mini-hk"), "groups['hk'] must be a list of host names"),
    ("group member", lambda m: m.groups.update(signers=["sign-hk", None]), "groups['signers'] must be a list of host names"),
    ("unavailable list", set_fact("mini-hk", "unavailable", ["identities"]), "hostvars_subset['mini-hk'].unavailable must be a dict"),
    ("identities dict", set_fact("mini-hk", "identities", {}), "hostvars_subset['mini-hk'].identities must be a list"),
    ("identity text", set_fact("mini-hk", "identities", ["86890D67F234745572B7EF153C72DEA7CF522EDE"]),
     "hostvars_subset['mini-hk'].identities[0] must be a dict"),
    ("identity fields", set_fact("mini-hk", "identities", [{"sha1": DIST["sha1"], "name": DIST["name"], "valid": "yes"}]),
     "hostvars_subset['mini-hk'].identities[0] must have sha1 (string), name (string) and valid (boolean)"),
    ("identity hash type", set_fact("mini-hk", "identity_hash", 5), "hostvars_subset['mini-hk'].identity_hash must be a string"),
    ("keychain type", set_fact("mini-hk", "keychain", KEYCHAIN), "hostvars_subset['mini-hk'].keychain must be a dict"),
    ("search list type", set_fact("mini-hk", "search_list", LOGIN), "hostvars_subset['mini-hk'].search_list must be a list"),
    ("wrapper type", set_fact("mini-hk", "wrapper", WRAPPER_SHA), "hostvars_subset['mini-hk'].wrapper must be a dict"),
    ("active manifest type", set_fact("mini-hk", "active_manifest", MANIFEST["sha256"]),
     "hostvars_subset['mini-hk'].active_manifest must be a dict"),
    ("profiles type", set_fact("mini-hk", "profiles", {}), "hostvars_subset['mini-hk'].profiles must be a list"),
    ("profile text", set_fact("mini-hk", "profiles", [P_APP]), "hostvars_subset['mini-hk'].profiles[0] must be a dict"),
    ("profile uuid", set_fact("mini-hk", "profiles", [{"uuid": None, "name": "x", "expires": NOW, "sha256": "a"}]),
     "hostvars_subset['mini-hk'].profiles[0].uuid must be a string"),
    ("profile expires", set_fact("mini-hk", "profiles", [dict(record(ENTRIES[0]), expires="soon")]),
     "hostvars_subset['mini-hk'].profiles.expires 'soon' is not YYYY-MM-DDTHH:MM:SSZ"),
    ("profile dirs type", set_fact("mini-hk", "profile_dirs", [MOBILE_DEVICE]), "hostvars_subset['mini-hk'].profile_dirs must be a dict"),
    ("profile dir entry", set_fact("mini-hk", "profile_dirs", {MOBILE_DEVICE: True}),
     "hostvars_subset['mini-hk'].profile_dirs['%s'] must map a directory path to a dict" % MOBILE_DEVICE),
    ("duplicates type", set_fact("mini-hk", "duplicate_uuids", P_APP), "hostvars_subset['mini-hk'].duplicate_uuids must be a list"),
    ("clock bool", set_fact("mini-hk", "clock_offset", True), "hostvars_subset['mini-hk'].clock_offset must be a number"),
]


@pytest.mark.parametrize("mutate, message", [case[1:] for case in INPUT_ERRORS], ids=[case[0] for case in INPUT_ERRORS])
def test_input_error(mutate, message):
    mesh = Mesh()
    mutate(mesh)
    with pytest.raises(_parity.ParityInputError) as caught:
        mesh.run()
    assert str(caught.value).startswith(message)


def test_expired_manifest_profiles_are_accepted_as_input():
    """validate_manifest would refuse an expired profile; for parity it is a finding, not an input error."""
    mesh = Mesh()
    mesh.expected["now"] = "2027-04-01T00:00:00Z"
    result = mesh.run()
    assert findings_of(result) == all_hosts("PROFILE_EXPIRED")


# --- expiring ----------------------------------------------------------------------------------

ITEMS = [
    {"name": "past", "expires": "2026-11-30T00:00:00Z"},
    {"name": "now", "expires": NOW},
    {"name": "in 7 days", "expires": "2026-12-08T00:00:00Z"},
    {"name": "in 7 days and a second", "expires": "2026-12-08T00:00:01Z"},
    {"name": "in 30 days", "expires": "2026-12-31T00:00:00Z"},
]


def test_expiring_selects_the_window_and_the_expired():
    result = _parity.expiring(ITEMS, 7, now=NOW)
    assert [(i["name"], i["days_left"], i["expired"]) for i in result] == [
        ("past", -1.0, True), ("now", 0.0, True), ("in 7 days", 7.0, False)]
    assert "days_left" not in ITEMS[0]  # copies, not the caller's dicts


def test_expiring_zero_days_keeps_only_expired():
    assert [i["name"] for i in _parity.expiring(ITEMS, 0, now=NOW)] == ["past", "now"]


def test_expiring_other_key_and_datetime_values():
    items = [{"not_after": datetime.datetime(2026, 12, 3, 12, 0, 0)},
             {"not_after": datetime.datetime(2026, 12, 3, 12, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=9)))}]
    result = _parity.expiring(items, 2.5, now=NOW, key="not_after")
    assert [i["days_left"] for i in result] == [2.5, 2.12]


def test_expiring_default_now():
    items = [{"expires": "2000-01-01T00:00:00Z"}, {"expires": "2999-01-01T00:00:00Z"}]
    assert [i["expires"] for i in _parity.expiring(items, 365)] == ["2000-01-01T00:00:00Z"]


EXPIRING_ERRORS = [
    ({"items": {"a": 1}}, "_input must be a list of dicts, not dict"),
    ({"items": ["x"]}, "_input[0] must be a dict, not str"),
    ({"items": [{"name": "x"}]}, "_input[0] has no 'expires' key"),
    ({"items": [{"expires": "tomorrow"}]}, "_input[0].expires 'tomorrow' is not YYYY-MM-DDTHH:MM:SSZ"),
    ({"items": [{"expires": None}]}, "_input[0].expires must be a YYYY-MM-DDTHH:MM:SSZ string, not null"),
    ({"days": -1}, "days must be a non-negative number, not -1"),
    ({"days": True}, "days must be a non-negative number, not True"),
    ({"days": "7"}, "days must be a non-negative number, not '7'"),
    ({"key": ""}, "key must be a non-empty string, not ''"),
    ({"now": "now"}, "now 'now' is not YYYY-MM-DDTHH:MM:SSZ"),
]


@pytest.mark.parametrize("override, message", EXPIRING_ERRORS, ids=[case[1] for case in EXPIRING_ERRORS])
def test_expiring_errors(override, message):
    override = dict(override)
    items = override.pop("items", ITEMS)
    kwargs = {"days": 7, "now": NOW, "key": "expires"}
    kwargs.update(override)
    with pytest.raises(_parity.ParityInputError) as caught:
        _parity.expiring(items, kwargs["days"], now=kwargs["now"], key=kwargs["key"])
    assert str(caught.value) == message


def test_secret_finding_names_path_and_kind_only():
    mesh = Mesh()
    secret_found(mesh)
    messages = [f["message"] for f in mesh.run()["findings"]]
    assert messages == ["github_token found in /Users/ci-build/.config/gh/hosts.yml line 3",
                        "pkcs12 found in /private/tmp/dist.p12"]


def test_keychain_permissions_message():
    mesh = Mesh()
    keychain_owner(mesh)
    (finding,) = mesh.run()["findings"]
    assert finding["message"] == "keychain %s has owner root (expected ci-build) and mode 0666 (expected 0600)" % KEYCHAIN


@pytest.mark.parametrize("key,value", [("keychain_mode", "600"), ("keychain_mode", 384), ("keychain_owner", "")])
def test_bad_keychain_permission_policy(key, value):
    mesh = Mesh()
    mesh.expected[key] = value
    with pytest.raises(_parity.ParityInputError) as info:
        mesh.run()
    assert info.value.field == "expected." + key


def test_malformed_host_certificates():
    mesh = Mesh()
    mesh.facts["sign-hk"]["certificates"] = [{"sha1": DIST["sha1"]}]
    with pytest.raises(_parity.ParityInputError) as info:
        mesh.run()
    assert info.value.field == "hostvars_subset['sign-hk'].certificates[0]"
