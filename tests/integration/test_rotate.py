"""playbooks/rotate.yml and playbooks/revoke.yml against the five-node lab: the rotation drills.

The tests run in file order and build on each other: the gates refuse, the canary's verify fails
and rolls back, a full rotation succeeds (then re-runs with no change), a region goes down in a
second rotation and a re-run completes it, the old material is retired, a leaked identity is
revoked. Every run is checked for secrets in its -vvv output, every node's argv audit at the end.
New material is issued by the lab's own fake demo CA (lab/demo_assets.py, imported).
"""

import json
import os
import subprocess

import pytest

from labkit import BIN, HOSTS, KEYCHAIN, PROFILE_ROOT, REPO, SIGNERS, make_tempdir
from rotationkit import CONVERGE, GATE, REVOKE, ROTATE, VERBOSE, Drill, issue, rotate_vars


@pytest.fixture(scope="module")
def drill(bootstrapped):
    """The bootstrapped mesh (restored from the session's snapshot)."""
    return Drill(bootstrapped)


@pytest.fixture(scope="module")
def renewed(drill):
    return lab_vars(drill, issue(drill.lab, "renewed", "demo-2"))


def lab_vars(drill, material):
    """What an operator passes for a rotation of the lab (plus the drill's own material)."""
    drill.secrets.append(material["passphrase"])
    return material


# --- gates: each refuses before any node changes ---------------------------------------------------


@pytest.mark.parametrize("override, needle", [
    ({"rotate_ticket": ""}, "rotate_ticket is not set"),
    ({"rotate_approvers": ["alice", "Alice "]}, "names the same person twice"),
    ({"rotate_approvers": ["alice"]}, "must name exactly two people"),
    ({"rotate_force": False}, "a rotation runs 7-14 days before that expiry"),
    ({"rotate_force_reason": ""}, "rotate_force=true needs rotate_force_reason"),
])
def test_gates_refuse(drill, renewed, override, needle):
    before = {host: drill.lab.node_state(host) for host in ("hk-mini-01", "jp-mini-01")}
    run = drill.rotate(renewed, **override)
    assert run.rc != 0, run
    assert "REFUSED: " in run.out and needle in run.out, run
    assert {host: drill.lab.node_state(host) for host in before} == before


def test_a_profile_for_another_identity_is_refused_at_preflight(drill):
    mismatch = lab_vars(drill, issue(drill.lab, "mismatch", "demo-mismatch", mismatch=True))
    run = drill.rotate(mismatch)
    assert run.rc != 0, run
    assert "certificates: list none of the new identities (%s)" % mismatch["sha1"] in run.out, run


# --- canary verify fails: rollback, nothing else touched -------------------------------------------


def test_canary_failure_rolls_back_and_touches_no_other_region(drill):
    broken = lab_vars(drill, issue(drill.lab, "broken", "demo-broken", broken=True))
    old_sha1 = drill.lab.demo["identity_sha1"]
    others = [host for host in HOSTS if host != "hk-mini-01"]
    before = dict((host, drill.lab.node_state(host)) for host in HOSTS)
    run = drill.rotate(broken)
    assert run.rc != 0, run
    report = run.report
    assert report["status"] == "rolled_back", report
    assert report["hosts"]["hk-mini-01"]["outcome"] == "rolled_back", report
    assert "verify" in report["hosts"]["hk-mini-01"]["message"], report
    for host in others:
        assert report["hosts"][host]["outcome"] == "not_started", report
        assert report["hosts"][host]["version"] == drill.lab.demo["manifest_version"], report
    assert report["regions"]["hk"]["versions"] == [drill.lab.demo["manifest_version"]], report
    # The other regions are exactly as before; the canary is back on the old version and identity.
    for host in others:
        assert drill.lab.node_state(host) == before[host], host
    assert drill.lab.readlink("hk-mini-01", "current") == drill.lab.demo["manifest_sha256"]
    assert broken["sha1"] not in drill.identities("hk-mini-01")
    for host in SIGNERS:
        assert drill.sign(host, old_sha1) == 0, host
    # After the rollback the converge audit is clean against the manifest that is active.
    audit = drill.converge()
    assert audit.rc == 0 and audit.report["ok"] is True, audit.report["findings"]


# --- full rotation, then a re-run that changes nothing -----------------------------------------------


def test_full_rotation_of_five_regions(drill, renewed):
    run = drill.rotate(renewed, rotate_serial=4)
    assert run.rc == 0, run
    report = run.report
    assert report["status"] == "complete", report
    assert sorted(report["regions"]) == ["hk", "jp", "kr", "sg", "us"]
    for region, entry in report["regions"].items():
        assert entry["status"] == "green" and entry["versions"] == ["demo-2"], (region, entry)
        # Measured, not timed (a loaded machine is slower): each region's time is within the run's.
        assert 0 < entry["time_to_green_s"] <= report["time_to_green_s"], (region, entry)
    assert report["time_to_green_s"] > 0, report
    assert "ROTATE COMPLETE: release demo-2 is current" in run.out
    assert drill.current_release() == "demo-2"
    event = os.path.join(drill.reports, "rotation-rotate-complete-%s.json" % renewed["sha256"][:12])
    with open(event) as handle:
        assert json.load(handle)["manifest"] == {"version": "demo-2", "sha256": renewed["sha256"]}
    with open(os.path.join(drill.reports, "compliance.json")) as handle:
        compliance = json.load(handle)
    assert compliance["rotation"]["time_to_green_s"] == report["time_to_green_s"]
    assert compliance["ok"] is True, compliance["findings"]
    for host in HOSTS:
        state = drill.state(host)
        assert state["manifest"] == {"version": "demo-2", "sha256": renewed["sha256"]}, host
        assert state["release"]["version"] == "demo-2" and state["release"]["serial"] == 2, host
        assert drill.lab.readlink(host, "current") == renewed["sha256"]
        assert drill.lab.readlink(host, "previous") == drill.lab.demo["manifest_sha256"]
    for host in SIGNERS:
        held = drill.identities(host)
        assert renewed["sha1"] in held and drill.lab.demo["identity_sha1"] in held, host
        assert drill.sign(host, renewed["sha1"]) == 0 and drill.sign(host, drill.lab.demo["identity_sha1"]) == 0


def test_rerunning_a_completed_rotation_changes_nothing(drill, renewed):
    run = drill.rotate(renewed, rotate_serial=4)
    assert run.rc == 0, run
    assert all(r["changed"] == 0 for r in run.recap.values()), run
    assert set(host["outcome"] for host in run.report["hosts"].values()) == {"already"}


def test_a_changed_rollback_version_is_a_finding(drill):
    """The version kept for rollback is audited against its own manifest: one byte changed is an error."""
    host = "jp-mini-01"
    kept = "%s/%s" % (PROFILE_ROOT, drill.lab.demo["manifest_sha256"])
    assert drill.lab.readlink(host, "previous") == drill.lab.demo["manifest_sha256"]
    name = drill.lab.sh(host, "cd %s && ls *.mobileprovision | head -1" % kept).stdout.strip()
    path = "%s/%s" % (kept, name)
    drill.lab.sh(host, "cp -p '%s' /var/tmp/kept.orig && printf x >> '%s'" % (path, path))
    try:
        audit = drill.converge()
        assert audit.rc != 0, audit
        tampered = [f for f in audit.report["findings"] if f["code"] == "PROFILE_KEPT_TAMPERED"]
        assert [f["host"] for f in tampered] == [host], audit.report["findings"]
        assert name + ": sha256 " in tampered[0]["message"] and tampered[0]["severity"] == "error", tampered
    finally:
        drill.lab.sh(host, "cp /var/tmp/kept.orig '%s' && rm -f /var/tmp/kept.orig" % path)
    audit = drill.converge()
    assert audit.rc == 0 and audit.report["ok"] is True, audit.report["findings"]


# --- a region goes down in the middle of a rotation ------------------------------------------------


@pytest.fixture(scope="module")
def third(drill):
    return lab_vars(drill, issue(drill.lab, "third", "demo-3"))


def test_region_down_mid_rotation_then_rerun_completes(drill, renewed, third):
    extra = rotate_vars(third, rotate_reports_dir=drill.reports, macmesh_reports_dir=drill.reports)
    vars_file = os.path.join(make_tempdir(), "vars.json")
    with open(vars_file, "w") as handle:
        json.dump(extra, handle)
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", drill.lab.inventory, ROTATE, "-e", "@" + vars_file, VERBOSE]
    proc = subprocess.Popen(argv, env=drill.lab.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    lines, stopped = [], False
    try:
        for line in proc.stdout:
            lines.append(line)
            # kr goes down while the canary (hk) rotates, after the preflight read it.
            if not stopped and line.startswith("PLAY [Canary region]"):
                drill.lab.meshlab("stop", "kr")
                stopped = True
    finally:
        proc.wait()
    try:
        out = "".join(lines)
        drill.assert_no_secret(out, "the outage run")
        assert stopped and proc.returncode != 0, out[-4000:]
        with open(os.path.join(drill.reports, "rotation.json")) as handle:
            report = json.load(handle)
        hosts = report["hosts"]
        assert hosts["hk-mini-01"]["outcome"] == "green" and hosts["jp-mini-01"]["outcome"] == "green", report
        assert hosts["kr-mini-01"]["outcome"] == "unreachable", report
        assert hosts["sg-mini-01"]["outcome"] == hosts["us-mini-01"]["outcome"] == "not_started", report
        assert report["regions"]["kr"]["status"] == "unreachable", report
        assert report["status"] == "incomplete"
        # The others are consistent: done regions on demo-3, the rest untouched on demo-2.
        for host, sha in (("hk-mini-01", third["sha256"]), ("jp-mini-01", third["sha256"]),
                          ("sg-mini-01", renewed["sha256"]), ("us-mini-01", renewed["sha256"])):
            assert drill.lab.readlink(host, "current") == sha, host
            assert hosts[host]["sha256"] == sha, host
        assert "kr: unreachable version=demo-2" in out
    finally:
        drill.lab.meshlab("start", "kr")
    assert drill.current_release() == "demo-2"  # not promoted while a region is not green
    run = drill.rotate(third)
    assert run.rc == 0, run
    assert drill.current_release() == "demo-3"
    outcomes = dict((host, entry["outcome"]) for host, entry in run.report["hosts"].items())
    assert outcomes == {"hk-mini-01": "already", "jp-mini-01": "already", "kr-mini-01": "green",
                        "sg-mini-01": "green", "us-mini-01": "green"}, run.report
    for host in HOSTS:
        assert drill.lab.readlink(host, "current") == third["sha256"], host


# --- revoke (during the overlap) and retire (gated) -----------------------------------------------------------------------


def test_revoke_removes_a_leaked_identity_everywhere_in_one_run(drill, renewed, third):
    # During the overlap the signers hold demo-2 and demo-3: demo-2's key leaks.
    leaked = renewed["sha1"]
    assert all(leaked in drill.identities(host) for host in SIGNERS)
    # The account-password step always runs, and the lab's account store (the node's /etc/shadow,
    # where the emulated dscl -passwd writes: lab/emulator/seed/usr/lib/macemu/system/accounts.py)
    # must show a new password for ci-build on every signer afterwards.
    extra = dict(GATE, revoke_sha1s=[leaked], revoke_identities=third["identities"], revoke_account_password=True)
    hashes_before = dict((host, drill.lab.sh(host, "sha256sum %s" % KEYCHAIN).stdout) for host in SIGNERS)
    shadow_before = dict((host, _password_hash(drill.lab, host)) for host in SIGNERS)
    run = drill.play(REVOKE, extra)
    assert run.rc == 0, run
    with open(os.path.join(drill.reports, "revoke.json")) as handle:
        report = json.load(handle)
    assert report["complete"] is True and report["compromised"] == [leaked], report
    assert sorted(report["hosts_touched"]) == SIGNERS, report
    assert report["time_to_green_s"] > 0, report
    assert "REVOKE COMPLETE" in run.out
    # The revocation is the desired state now: no later bootstrap or converge brings the key back.
    assert drill.current_release().startswith("demo-3-revoke-")
    for host in HOSTS:
        assert leaked not in drill.identities(host), host
    for host in SIGNERS:
        assert drill.sign(host, leaked) != 0, host
        assert drill.sign(host, third["sha1"]) == 0, host
        # The keychain file itself was replaced.
        assert drill.lab.sh(host, "sha256sum %s" % KEYCHAIN).stdout != hashes_before[host], host
        # The CI account's password really changed (a revoke that skipped the step fails here).
        after = _password_hash(drill.lab, host)
        assert after and after not in ("!", "*") and after != shadow_before[host], host


def _password_hash(lab, host):
    """ci-build's password hash in the node's account store (never printed by the assertions)."""
    return lab.sh(host, "getent shadow ci-build | cut -d: -f2").stdout.strip()


def test_retire_is_gated_then_removes_the_old_material(drill, renewed, third):
    common = dict(rotate_phase="retire")
    refused = drill.rotate(third, rotate_force=False, **common)
    assert refused.rc != 0 and "REFUSED: the overlap runs until" in refused.out, refused
    run = drill.rotate(third, **common)
    assert run.rc == 0, run
    assert run.report["status"] == "complete", run.report
    for host in HOSTS:
        assert drill.state(host)["identities"] == ([third["sha1"]] if host in SIGNERS else []), host
        assert drill.lab.readlink(host, "previous") == ""
        assert drill.lab.sh(host, "test ! -e %s/%s" % (PROFILE_ROOT, renewed["sha256"]), check=False).returncode == 0
    for host in SIGNERS:
        held = drill.identities(host)
        assert renewed["sha1"] not in held and third["sha1"] in held, host
        assert drill.sign(host, third["sha1"]) == 0, host


# --- the controller's current release moved back: refused, then rolled back with a ticket ------------


def test_a_downgrade_is_refused_then_done_with_the_override_and_a_ticket(drill, third):
    releases = drill.lab.demo["releases_dir"]
    newer = drill.current_release()
    with open(os.path.join(releases, newer, "release.json")) as handle:
        older = json.load(handle)["previous"]
    pointer = os.path.join(releases, "current")
    with open(pointer, "w") as handle:
        handle.write(older + "\n")
    try:
        refused = drill.lab.playbook()
        assert refused.rc != 0, refused
        for host in HOSTS:
            assert "REFUSED: %s runs release %s" % (host, newer) in refused.out, (host, refused)
            assert "than the controller's release %s" % older in refused.out, refused
            assert drill.state(host)["release"]["version"] == newer, host
        # The override alone is not enough: a key movement needs a ticket.
        no_ticket = drill.lab.playbook("-e", "macmesh_allow_downgrade=true")
        assert no_ticket.rc != 0 and "needs macmesh_downgrade_ticket" in no_ticket.out, no_ticket
        run = drill.lab.playbook("-e", json.dumps({"macmesh_allow_downgrade": True, "macmesh_downgrade_ticket": "CHG-9"}))
        assert run.rc == 0, run
        for host in HOSTS:
            assert drill.state(host)["release"]["version"] == older, host
        for host in SIGNERS:
            assert drill.sign(host, third["sha1"]) == 0, host
        audit = drill.converge()
        assert audit.rc == 0 and audit.report["ok"] is True, audit.report["findings"]
    finally:
        with open(pointer, "w") as handle:
            handle.write(newer + "\n")


# --- one inventory variable moves a layout path for every role, module call and check ---------------


def test_a_moved_keychain_is_honoured_by_bootstrap_converge_and_rotate(drill, third):
    moved = "/Users/ci-build/Library/Keychains/moved.keychain-db"
    layout = {"macmesh_keychain_path": moved}
    run = drill.lab.playbook(extra_vars=layout)
    assert run.rc == 0, run
    for host in SIGNERS:
        held = drill.lab.sh(host, "security find-identity -p codesigning %s" % moved, user="ci-build").stdout
        assert third["sha1"] in held, host
    audit = drill.play(CONVERGE, layout)
    with open(os.path.join(drill.reports, "compliance.json")) as handle:
        report = json.load(handle)
    assert audit.rc == 0 and report["ok"] is True, report["findings"]
    fourth = lab_vars(drill, issue(drill.lab, "fourth", "demo-4"))
    rotated = drill.rotate(fourth, rotate_serial=4, **layout)
    assert rotated.rc == 0, rotated
    for host in SIGNERS:
        held = drill.lab.sh(host, "security find-identity -p codesigning %s" % moved, user="ci-build").stdout
        assert fourth["sha1"] in held, host


def test_no_secret_in_the_argv_audit_of_any_node(drill):
    for host in HOSTS:
        audit = drill.lab.sh(host, "cat /var/log/macemu/audit.log").stdout
        assert audit, host
        drill.assert_no_secret(audit, "%s /var/log/macemu/audit.log" % host)
