# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_converge.collect_reads: the secret scan from the signing read (one call per node) or from its own task.

The healthy reads are test_parity's baseline mesh; each case changes where the scan comes from.
"""

import copy

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _converge, _parity, _parity_host
from ansible_collections.macmesh.signing.tests.unit.plugins.module_utils.test_parity import SIGNERS, Mesh

HOST = SIGNERS[0]
FINDING = {"path": "/Users/ci-build/.config/gh/hosts.yml", "kind": "github_token", "line": 3}


def scan_result(findings=()):
    findings = [dict(item) for item in findings]
    return {"findings": findings, "summary": "", "scanned_files": 12, "skipped_files": 0, "missing": []}


def collect(read, scan=None):
    return _converge.collect_reads([HOST], {HOST: read}, {HOST: scan} if scan is not None else {})[HOST]


def healthy():
    return copy.deepcopy(Mesh().facts[HOST])


def test_the_scan_in_the_read_gives_the_findings():
    read = dict(healthy(), secret_scan=scan_result([FINDING]))
    fact = collect(read)
    assert fact["secrets"] == [FINDING]
    # The read's own scan entry is replaced by the findings; the report shows them as before.
    assert "secret_scan" not in fact
    assert "secret_scan" not in fact["unavailable"] and "secrets" not in fact["unavailable"]
    # The registered result is not modified.
    assert read["secret_scan"]["findings"] == [FINDING]


def test_a_clean_scan_in_the_read_gives_no_findings():
    fact = collect(dict(healthy(), secret_scan=scan_result()))
    assert fact["secrets"] == []


def test_a_scan_that_stopped_in_the_read_is_unavailable():
    read = healthy()
    read["secret_scan"] = None
    read["unavailable"] = {"secret_scan": "the scan stopped: [Errno 24] Too many open files"}
    fact = collect(read)
    assert "secrets" not in fact and "secret_scan" not in fact
    assert fact["unavailable"] == {"secrets": "secret_scan: the scan stopped: [Errno 24] Too many open files"}


def test_the_scan_in_the_read_wins_over_a_separate_one():
    fact = collect(dict(healthy(), secret_scan=scan_result()), scan=scan_result([FINDING]))
    assert fact["secrets"] == []


def test_the_separate_scan_still_counts_without_one_in_the_read():
    fact = collect(healthy(), scan=scan_result([FINDING]))
    assert fact["secrets"] == [FINDING]


def test_a_failed_separate_scan_is_unavailable():
    fact = collect(healthy(), scan={"failed": True, "msg": "Permission denied"})
    assert fact["unavailable"]["secrets"] == "secret_scan: Permission denied"


def test_no_scan_at_all_reports_nothing():
    # macmesh_secret_scan_enabled: false - no option, or the separate task skipped.
    assert "secrets" not in collect(healthy())
    fact = collect(healthy(), scan={"skipped": True, "changed": False})
    assert "secrets" not in fact and "secrets" not in fact["unavailable"]


def test_an_unreachable_or_failed_read_is_passed_on_as_it_is():
    unreachable = {"unreachable": True, "msg": "ssh: connect to host: timed out"}
    assert collect(unreachable, scan=scan_result([FINDING])) is unreachable
    failed = {"failed": True, "msg": "sudo: a password is required", "secret_scan": scan_result([FINDING])}
    assert collect(failed) is failed


def test_a_finding_from_the_read_is_secret_found_and_never_repaired():
    mesh = Mesh()
    mesh.facts[HOST] = dict(mesh.facts[HOST], secret_scan=scan_result([FINDING]))
    facts = _converge.collect_reads(sorted(mesh.facts), mesh.facts, {})
    parity = _parity.mesh_parity(facts, mesh.groups, mesh.expected)
    codes = [(item["code"], item["host"]) for item in parity["findings"] if item["severity"] == "error"]
    assert codes == [("SECRET_FOUND", HOST)]
    plan = _converge.repair_plan(parity, facts)
    assert plan["repair"] == [] and plan["refused"] == {HOST: ["SECRET_FOUND"]}


@pytest.mark.parametrize("codes, roles", [
    (["WRAPPER_MISMATCH"], ["ci_user", "unlock_wrapper", "runner_identity", "release_record"]),
    (["SEARCH_LIST", "KEYCHAIN_SETTINGS"], ["ci_user", "keychain", "search_list", "runner_identity", "release_record"]),
    (["MANIFEST_DRIFT", "PROFILE_EXTRA"], ["ci_user", "profile_mounts", "runner_identity", "release_record"]),
    (["CLOCK_OFFSET"], ["ci_user", "runner_identity", "release_record"]),
    # A code no role is named for: every role, as before.
    (["RELEASE_BEHIND"], list(_converge.REPAIR_ROLES)),
    (["WRAPPER_LOG_UNSEALED", "CERT_EXPIRED"], list(_converge.REPAIR_ROLES)),
])
def test_enforce_re_applies_only_the_roles_that_own_what_drifted(codes, roles):
    assert _converge.repair_roles(codes) == roles


def test_the_repair_plan_names_each_nodes_roles():
    mesh = Mesh()
    mesh.facts[HOST] = dict(mesh.facts[HOST], wrapper=dict(mesh.facts[HOST]["wrapper"], sha256="0" * 64))
    facts = _converge.collect_reads(sorted(mesh.facts), mesh.facts, {})
    parity = _parity.mesh_parity(facts, mesh.groups, mesh.expected)
    plan = _converge.repair_plan(parity, facts)
    assert plan["repair"] == [HOST]
    assert plan["roles"] == {HOST: ["ci_user", "unlock_wrapper", "runner_identity", "release_record"]}


def test_every_code_a_role_is_named_for_is_a_finding_code():
    from ansible_collections.macmesh.signing.plugins.module_utils._parity_codes import CODES
    assert set(_converge.CODE_ROLES) <= set(CODES)
    assert all(set(roles) <= set(_converge.REPAIR_ROLES) for roles in _converge.CODE_ROLES.values())


# --- bootstrap_plan: which nodes skip profile_mounts and search_list (issue 14) -------------------

from ansible_collections.macmesh.signing.plugins.module_utils._manifest import profiles_sha256  # noqa: E402
from ansible_collections.macmesh.signing.tests.unit.plugins.module_utils.test_parity import MANIFEST, kept_version  # noqa: E402

MANIFEST_FILE_SHA = "f" * 64
FILES = _converge.expected_version_files(MANIFEST, MANIFEST_FILE_SHA)
# The version kept for rollback: a published directory named after the sha256 of its manifest's profiles.
KEPT_PROFILES = [{"filename": "old-%d.mobileprovision" % index, "sha256": ("%d" % index) * 64} for index in (1, 2)]
PREVIOUS = profiles_sha256(KEPT_PROFILES)
RELEASE = {"version": "2026.12-r1", "serial": 3, "sha256": "c" * 64}
DESIRED = dict(RELEASE, source="release", manifest={"sha256": MANIFEST["sha256"], "version": MANIFEST["version"]})


def store(**change):
    """The profile store profile_mounts leaves: root-owned 0444 files in a 0555 version directory."""
    files = dict((name, {"owner": "root", "mode": "0444", "type": "file", "sha256": sha}) for name, sha in FILES.items())
    value = {"root": "/Library/MacMesh/profiles", "entries": sorted(["current", "previous", MANIFEST["sha256"], PREVIOUS]),
             "current": MANIFEST["sha256"], "previous": PREVIOUS,
             "version": {"path": "/Library/MacMesh/profiles/" + MANIFEST["sha256"], "owner": "root", "mode": "0555",
                         "files": files},
             "kept": kept()}
    value.update(change)
    return value


def kept(**change):
    """The version kept for rollback as signing_info reads it, published exactly as its manifest says."""
    return kept_version(KEPT_PROFILES, version="2026.11", **change)


def compliant_mesh():
    mesh = Mesh()
    mesh.expected["release"] = dict(RELEASE)
    for host, read in mesh.facts.items():
        read["release_state"] = {"release": dict(RELEASE)}
        read["profile_store"] = store()
    return mesh


def plan(mesh, **kwargs):
    facts = _converge.collect_reads(sorted(mesh.facts), mesh.facts, {})
    parity = _parity.mesh_parity(facts, mesh.groups, mesh.expected)
    return _converge.bootstrap_plan(parity, facts, kwargs.pop("desired", DESIRED), FILES, **kwargs)


def test_a_compliant_mesh_takes_the_fast_path():
    mesh = compliant_mesh()
    result = plan(mesh)
    assert result["fast"] == sorted(mesh.facts) and result["full"] == {}
    assert result["skips"] == ["profile_mounts", "search_list"]


def test_the_operator_forces_the_full_run():
    mesh = compliant_mesh()
    result = plan(mesh, full=True)
    assert result["fast"] == []
    assert all(why == ["macmesh_bootstrap_full=true"] for why in result["full"].values())


def test_inventory_mode_always_takes_the_full_run():
    result = plan(compliant_mesh(), desired=dict(DESIRED, source="inventory", serial=None))
    assert result["fast"] == []


def test_a_node_with_a_finding_gets_every_role_the_others_do_not():
    mesh = compliant_mesh()
    mesh.facts[HOST]["search_list"] = ["/Users/ci-build/Library/Keychains/login.keychain-db"]
    result = plan(mesh)
    assert result["full"] == {HOST: ["findings: SEARCH_LIST"]}
    assert HOST not in result["fast"] and len(result["fast"]) == len(mesh.facts) - 1


def test_a_fact_that_could_not_be_read_is_not_compliant():
    # A warning for the audit (the keychain settings of a locked keychain), but nothing checked them.
    mesh = compliant_mesh()
    mesh.facts[HOST]["keychain"]["timeout"] = None
    mesh.facts[HOST]["unavailable"] = {"keychain.timeout": "security: SecKeychainCopySettings: User interaction is not allowed."}
    assert plan(mesh)["full"] == {HOST: ["findings: FACT_UNAVAILABLE"]}


@pytest.mark.parametrize("record,fragment", [
    (None, "records release None"),                                          # a new node
    ({"release": dict(RELEASE, serial=2)}, "records release 2026.12-r1 (serial 2)"),  # behind
])
def test_a_node_that_does_not_record_the_current_release_gets_every_role(record, fragment):
    mesh = compliant_mesh()
    mesh.facts[HOST]["release_state"] = record
    why = plan(mesh)["full"][HOST]
    assert any(fragment in item for item in why), why


def test_an_unreachable_or_failed_node_gets_every_role():
    mesh = compliant_mesh()
    mesh.facts[HOST] = {"unreachable": True, "msg": "timed out"}
    assert "no usable read" in plan(mesh)["full"][HOST]


def test_a_mesh_wide_error_sends_every_node_through_every_role():
    mesh = compliant_mesh()
    mesh.expected["regions"] = mesh.expected["regions"] + ["eu"]  # REGION_EMPTY: a region finding, no host
    result = plan(mesh)
    assert result["fast"] == []
    assert all(why == ["mesh: REGION_EMPTY"] for why in result["full"].values()), result["full"]


def test_a_role_input_other_than_the_release_sends_the_node_through_every_role():
    mesh = compliant_mesh()
    inputs = {HOST: {"profile_mounts_manifest": ("/tmp/other/profiles.json", "/srv/releases/3/profiles.json")},
              SIGNERS[1]: {"profile_mounts_manifest": ("/srv/releases/3/profiles.json", "/srv/releases/3/profiles.json")}}
    result = plan(mesh, inputs=inputs)
    assert result["full"] == {HOST: ["profile_mounts_manifest differs from the release"]}


def _problems(**change):
    return _converge.profile_store_problems(store(**change), MANIFEST["sha256"], FILES)


def test_the_store_profile_mounts_leaves_has_no_problem():
    assert _problems() == []
    # The first bootstrap keeps no previous version yet.
    assert _problems(previous=None, entries=["current", MANIFEST["sha256"]]) == []


def _version(**change):
    value = store()["version"]
    value.update(change)
    return value


def _edited(files, name, **change):
    """A copy of a version directory's files with one removed (remove=True), changed or added."""
    files = dict((key, dict(value)) for key, value in files.items())
    if change.pop("remove", False):
        del files[name]
    else:
        files.setdefault(name, {"owner": "root", "mode": "0444", "type": "file", "sha256": "0" * 64}).update(change)
    return files


def _files(name, **change):
    return _version(files=_edited(store()["version"]["files"], name, **change))


@pytest.mark.parametrize("change,fragment", [
    ({"current": PREVIOUS}, "current: %s, expected" % PREVIOUS),
    ({"version": None}, "current: "),
    ({"version": _version(mode="0755")}, "owner/mode root 0755, expected root 0555"),
    ({"version": _version(owner="ci-build")}, "owner/mode ci-build 0555"),
    ({"version": _files("profiles.json", remove=True)}, "profiles.json: file missing"),
    ({"version": _files("notes.txt")}, "notes.txt: not in the manifest"),
    ({"version": _files("profiles.json", sha256="0" * 64)}, "profiles.json: sha256 " + "0" * 64),
    ({"version": _files("profiles.json", mode="0644")}, "profiles.json: owner/mode root 0644"),
    ({"version": _files("profiles.json", type="other", sha256=None)}, "profiles.json: sha256 None"),
    ({"entries": ["current", "previous", MANIFEST["sha256"], PREVIOUS, "b" * 64]}, "b" * 64 + ": a version or staging"),
    ({"entries": ["current", MANIFEST["sha256"], "." + "b" * 64 + ".staging"]}, ".staging: a version or staging"),
])
def test_what_profile_mounts_would_change_is_a_problem(change, fragment):
    problems = _problems(**change)
    assert any(fragment in item for item in problems), problems


def test_a_kept_previous_version_is_a_problem_once_the_release_keeps_none():
    problems = _converge.profile_store_problems(store(), MANIFEST["sha256"], FILES, keep_previous=False)
    assert problems == ["previous: %s, but no previous version is kept" % PREVIOUS,
                        PREVIOUS + ": a version or staging directory the role removes"]


def test_a_store_that_was_not_read_is_a_problem():
    assert _converge.profile_store_problems(None, MANIFEST["sha256"], FILES) == ["profile_store: not read"]
    mesh = compliant_mesh()
    mesh.facts[HOST]["profile_store"] = None
    assert plan(mesh)["full"][HOST] == ["profiles: profile_store: not read"]


def test_expected_version_files_are_the_profiles_and_the_manifest_file():
    assert sorted(FILES) == sorted([item["filename"] for item in MANIFEST["profiles"]] + ["profiles.json"])
    assert FILES["profiles.json"] == MANIFEST_FILE_SHA


def test_a_limited_run_decides_for_its_own_hosts():
    # bootstrap --limit: only the play's hosts are read; the rest of the inventory is not a finding for them.
    mesh = compliant_mesh()
    mesh.facts = dict((host, read) for host, read in mesh.facts.items() if host in (HOST, "mini-hk"))
    result = plan(mesh)
    assert result["fast"] == sorted([HOST, "mini-hk"]) and result["full"] == {}


def test_role_inputs_are_the_variables_a_host_sets():
    hostvars = {"a": {"profile_mounts_manifest": "{{ other }}", "unrelated": 1}, "b": {}}
    got = _converge.role_inputs(["a", "b", "c"], hostvars, {"profile_mounts_manifest": "/r/profiles.json",
                                                            "search_list_user": "ci-build"},
                                template=lambda value: "/tmp/other.json" if value == "{{ other }}" else value)
    assert got == {"a": {"profile_mounts_manifest": ("/tmp/other.json", "/r/profiles.json")}, "b": {}, "c": {}}
    assert _converge.role_inputs(["a"], hostvars, None) == {"a": {}}


# --- the version kept for rollback: verified against its own manifest (issue 11) -------------------


def _kept_problems(**change):
    return _parity_host.kept_version_problems(store(kept=kept(**change)))


def _kept_files(name, **change):
    return _edited(kept()["files"], name, **change)


def test_a_rollback_version_published_as_its_manifest_says_has_no_problem():
    assert _kept_problems() == []
    # No version kept (the first bootstrap, or after a retire): nothing to verify.
    assert _parity_host.kept_version_problems(store(previous=None, kept=None)) == []


@pytest.mark.parametrize("change,fragment", [
    ({"files": _kept_files("old-1.mobileprovision", sha256="e" * 64)}, "old-1.mobileprovision: sha256 " + "e" * 64),
    ({"files": _kept_files("old-2.mobileprovision", remove=True)}, "old-2.mobileprovision: file missing"),
    ({"files": _kept_files("extra.mobileprovision")}, "extra.mobileprovision: not in the manifest"),
    ({"files": _kept_files("profiles.json", remove=True)}, "profiles.json: file missing"),
    ({"files": _kept_files("old-1.mobileprovision", mode="0644")}, "old-1.mobileprovision: owner/mode root 0644"),
    ({"mode": "0755"}, "owner/mode root 0755, expected root 0555"),
    # profiles.json rewritten to match a swapped profile: its profiles no longer hash to the directory's name.
    ({"manifest": dict(kept()["manifest"], profiles_sha256="d" * 64)}, "its profiles hash to " + "d" * 64),
    ({"manifest": dict(kept()["manifest"], sha256="d" * 64)}, "declares sha256 " + "d" * 64),
    ({"manifest": {"error": "profiles.json: file: is not UTF-8 JSON"}}, "is not UTF-8 JSON"),
    ({"error": "[Errno 2] No such file or directory"}, "previous -> %s: [Errno 2]" % PREVIOUS),
])
def test_a_changed_rollback_version_is_a_problem(change, fragment):
    problems = _kept_problems(**change)
    assert any(fragment in item for item in problems), problems


def test_a_tampered_rollback_version_is_a_finding_and_sends_the_node_through_every_role():
    mesh = compliant_mesh()
    mesh.facts[HOST]["profile_store"] = store(kept=kept(files=_kept_files("old-1.mobileprovision", sha256="e" * 64)))
    result = plan(mesh)
    assert result["full"][HOST] == ["findings: PROFILE_KEPT_TAMPERED"], result
    assert HOST not in result["fast"]
