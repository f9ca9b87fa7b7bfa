"""playbooks/bootstrap.yml against the five-node lab: converge, idempotence, verify, faults.

The tests run in file order and build on each other. The module starts from the mesh the session's first
bootstrap converged (conftest.py: a snapshot of it, restored); the first test checks that run.
"""

import json
import os
import re
import shutil

import pytest

from labkit import HOSTS, KEYCHAIN, PROFILE_ROOT, SIGNERS, WRAPPER, kill_when, make_tempdir

SIGNER = "hk-mini-01"
BUILDER = "sg-mini-01"
PAIR = "%s,%s" % (SIGNER, BUILDER)
pytestmark = pytest.mark.usefixtures("bootstrapped")


def assert_failed_on(run, hosts, *needles):
    assert run.rc != 0, run
    for host in hosts:
        assert run.recap[host]["failed"] == 1, run
    for needle in needles:
        assert needle in run.out, "%r not in output\n%r" % (needle, run)


# --- converge -------------------------------------------------------------------------------------


def test_bootstrap_converges_and_verifies(lab, first_bootstrap):
    run = first_bootstrap
    assert run.rc == 0, run
    assert sorted(run.recap) == HOSTS
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in run.recap.values()), run
    summary = run.summary()
    assert sorted(summary) == HOSTS, run
    for host, line in summary.items():
        assert "verify=ok" in line, line
        assert ("role=signer" if host in SIGNERS else "role=builder") in line, line
        assert "manifest=demo-1@" + lab.demo["manifest_sha256"][:12] in line, line


# The notary credentials' two tasks: the App Store Connect key lives on a RAM disk, gone at every reboot.
NOTARY_TASKS = [
    "macmesh.signing.notary_credentials : Place the App Store Connect API key on the RAM disk (standard input, never argv)",
    "macmesh.signing.notary_credentials : Place the key's identifiers next to it (not secret; used with notarytool --key-id/--issuer)",
]


def test_after_a_reboot_a_run_only_puts_the_notary_key_back(lab):
    # The module began with `meshlab restore`: every node rebooted onto the converged disk. The RAM disk
    # is empty again, so the run puts the API key back on the signers, and changes nothing else.
    # -vvv: the most verbose output, with the key being placed, still holds no secret (Lab.playbook
    # checks every run's output).
    run = lab.playbook("-vvv")
    assert run.rc == 0, run
    assert run.changed_tasks() == NOTARY_TASKS, run.changed_tasks()
    assert {host: r["changed"] for host, r in run.recap.items()} == {
        host: (2 if host in SIGNERS else 0) for host in HOSTS}, run


def test_second_run_changes_nothing(lab):
    run = lab.playbook()
    assert run.rc == 0, run
    assert {host: r["changed"] for host, r in run.recap.items()} == {host: 0 for host in HOSTS}, run
    # Every node is compliant, so every node takes the fast path: the plan names no node for the full
    # run. (The plan's task may fail without stopping the run - then every node gets every role, which
    # is safe but slow, and would go unnoticed without this.)
    plan = re.search(r"TASK \[Name the nodes that get every role, and why\].*?\"msg\": (.*?)\n}", run.out, re.S)
    assert plan and plan.group(1).strip() == "{}", plan.group(1) if plan else run.out[-3000:]


def test_check_mode_on_a_converged_mesh_changes_nothing(lab):
    # A signer and a builder: every task of both tiers (the other signers run the signer's tasks).
    run = lab.playbook("--check", "--skip-tags", "verify", "--limit", PAIR)
    assert run.rc == 0, run
    assert sorted(run.recap) == sorted([SIGNER, BUILDER]), run
    # The keychain module cannot read the settings of a locked keychain without its password in
    # check mode, and says so (documented): that task is the only one allowed to predict a change.
    assert set(run.changed_tasks()) <= {"macmesh.signing.keychain : Create the keychain, apply the lock policy and check the password"}, run
    assert "is locked, so check mode cannot read its settings" in run.out or not run.changed_tasks()


# --- the node layout ------------------------------------------------------------------------------


def test_node_layout(lab):
    manifest_sha = lab.demo["manifest_sha256"]
    for host in HOSTS:
        out = lab.sh(host, (
            "stat -c '%%U %%a' %s %s; stat -c '%%U %%a' %s/%s; readlink %s/current; "
            "readlink '/Users/ci-build/Library/MobileDevice/Provisioning Profiles' "
            "'/Users/ci-build/Library/Developer/Xcode/UserData/Provisioning Profiles'; "
            "id -Gn ci-build"
        ) % (KEYCHAIN, WRAPPER, PROFILE_ROOT, manifest_sha, PROFILE_ROOT)).stdout.split("\n")
        assert out[0] == "ci-build 600", (host, out)
        assert out[1] == "root 755", (host, out)
        assert out[2] == "root 555", (host, out)
        assert out[3] == manifest_sha, (host, out)
        assert out[4] == out[5] == PROFILE_ROOT + "/current", (host, out)
        assert "admin" not in out[6].split(), (host, out)


def test_runner_identity_and_wrapper_are_the_same_shape_everywhere(lab):
    wrappers = set()
    for host in HOSTS:
        doc = json.loads(lab.sh(host, "cat /Library/MacMesh/runner-identity.json").stdout)
        region = host[:2]
        assert doc["region"] == region
        assert doc["oidc_audience"] == "macmesh-ci-lab-" + region
        assert doc["role"] == ("signer" if host in SIGNERS else "builder")
        assert doc["manifest"] == {"sha256": lab.demo["manifest_sha256"], "version": "demo-1"}
        assert len(doc["hardware_fingerprint"]) == 64
        assert lab.demo["p12_passphrase_file"] not in json.dumps(doc)
        wrappers.add(doc["wrapper_sha256"])
        wrappers.add(lab.sh(host, "sha256sum %s | cut -d' ' -f1" % WRAPPER).stdout.strip())
    assert len(wrappers) == 1, wrappers


def test_wrapper_log_has_one_json_line_per_call_without_the_password(lab):
    with open(os.path.join(lab.state_dir, "secrets", "keychain_password")) as handle:
        password = handle.read().strip()
    log = lab.sh(SIGNER, "cat /Library/Logs/MacMesh/keychain-unlock.log").stdout
    records = [json.loads(line) for line in log.splitlines()]
    # The verify signs through macmesh-sign (one process: unlock, sign, lock) and locks with the wrapper.
    assert {"sign", "lock"} <= {r["action"] for r in records}
    for record in records:
        assert set(record) >= {"ts", "correlation_id", "user", "keychain", "action", "latency_ms", "result", "error"}
        assert record["user"] == "ci-build"
    assert password not in log


def test_wrapper_log_is_append_only_for_the_user_it_audits(lab):
    """ci-build appends (the wrapper does, as ci-build) but cannot truncate, rewrite, move or delete the log;
    while the flag is set, root cannot either (chflags sappnd; the lab's chflags sets the kernel's flag)."""
    log = "/Library/Logs/MacMesh/keychain-unlock.log"
    before = lab.sh(SIGNER, "cat %s" % log).stdout
    assert before
    for attempt in (": > %s" % log, "printf '{}\\n' > %s" % log, "mv %s %s.old" % (log, log), "rm -f %s" % log,
                    "truncate -s 0 %s" % log):
        done = lab.sh(SIGNER, attempt, user="ci-build", check=False)
        assert done.returncode != 0, (attempt, done)
    as_root = lab.sh(SIGNER, ": > %s" % log, check=False)
    assert as_root.returncode != 0 and "Operation not permitted" in as_root.stderr, as_root
    assert lab.sh(SIGNER, "cat %s" % log).stdout == before


def test_builder_holds_no_identity_and_does_not_list_the_keychain(lab):
    out = lab.sh(BUILDER, "security find-identity -v -p codesigning; security list-keychains -d user",
                 user="ci-build").stdout
    assert "0 valid identities found" in out
    assert KEYCHAIN not in out


def test_signer_lists_the_signing_keychain_first(lab):
    out = lab.sh(SIGNER, "security list-keychains -d user", user="ci-build").stdout
    assert out.split()[0].strip('"') == KEYCHAIN, out


def test_an_identity_found_on_a_builder_is_removed(lab):
    with open(os.path.join(lab.state_dir, "secrets", "keychain_password")) as handle:
        password = handle.read().strip()
    with open(lab.demo["p12_passphrase_file"]) as handle:
        passphrase = handle.read().strip()
    with open(lab.demo["p12"], "rb") as handle:
        p12 = handle.read()
    staged = "/Users/ci-build/stray.p12"
    # Someone imports the distribution identity on a builder by hand. Even test equipment keeps the
    # secrets off argv (security -i on stdin): the session's audit check covers every node.
    proc = lab.meshlab("exec", BUILDER, "-u", "ci-build", "--", "/bin/sh", "-c", "cat > %s" % staged,
                       check=False, input=p12)
    assert proc.returncode == 0, proc.stderr
    batch = ('unlock-keychain -p "%s" "%s"\nimport "%s" -k "%s" -P "%s" -T /usr/bin/codesign\nlock-keychain "%s"\n'
             % (password, KEYCHAIN, staged, KEYCHAIN, passphrase, KEYCHAIN))
    proc = lab.meshlab("exec", BUILDER, "-u", "ci-build", "--", "/usr/bin/security", "-i",
                       check=False, input=batch.encode())
    lab.sh(BUILDER, "rm -f %s" % staged)
    assert proc.returncode == 0 and b"returned" not in proc.stderr, proc.stderr
    assert lab.demo["identity_sha1"] in lab.sh(BUILDER, "security find-identity -p codesigning %s" % KEYCHAIN,
                                               user="ci-build").stdout
    run = lab.playbook("--limit", BUILDER)
    assert run.rc == 0, run
    assert run.recap[BUILDER]["changed"] >= 1, run
    assert "verify=ok" in run.summary()[BUILDER], run
    assert lab.demo["identity_sha1"] not in lab.sh(BUILDER, "security find-identity -p codesigning %s" % KEYCHAIN,
                                                   user="ci-build").stdout


# --- bad input and faults: each stops with host, file and field, and changes nothing ---------------


@pytest.fixture
def unchanged(lab):
    """Asserts after the test that the signer and the builder are exactly as before."""
    before = {host: lab.node_state(host) for host in (SIGNER, BUILDER)}
    yield
    assert {host: lab.node_state(host) for host in (SIGNER, BUILDER)} == before


def test_missing_vault_secret(lab, unchanged):
    run = lab.playbook("--limit", PAIR, extra_vars={"keychain_password": "{{ vault_keychain_password }}"})
    assert_failed_on(run, [SIGNER, BUILDER], "%s: keychain_password is not set" % SIGNER, "vault.yml")


def test_wrong_keychain_password(lab, unchanged):
    run = lab.playbook("--limit", SIGNER, extra_vars={"keychain_password": "NotTheKeychainPassword1"})
    assert_failed_on(run, [SIGNER], "%s: %s: keychain_password:" % (SIGNER, KEYCHAIN),
                     "The user name or passphrase you entered is not correct.")
    assert "NotTheKeychainPassword1" not in run.out


def test_p12_with_wrong_passphrase(lab, unchanged):
    identity = {"src": lab.demo["p12"], "sha1": lab.demo["identity_sha1"], "passphrase": "not-the-passphrase"}
    run = lab.playbook("--limit", SIGNER, extra_vars={"keychain_identities": [identity]})
    assert_failed_on(run, [SIGNER], "%s: %s: %s:" % (SIGNER, KEYCHAIN, lab.demo["p12"]), "`passphrase` option is wrong")
    assert "not-the-passphrase" not in run.out


def test_manifest_with_a_wrong_file_sha256(lab, manifest_utils, unchanged):
    work = make_tempdir()
    try:
        shutil.copytree(lab.demo["profiles_dir"], os.path.join(work, "profiles"))
        with open(lab.demo["manifest"]) as handle:
            manifest = json.load(handle)
        bad = manifest["profiles"][0]
        bad["sha256"] = "0" * 64
        # A consistent manifest (its own sha256 recomputed): only the file check can catch it.
        manifest["sha256"] = manifest_utils.profiles_sha256(manifest["profiles"])
        with open(os.path.join(work, "profiles.json"), "w") as handle:
            json.dump(manifest, handle)
        run = lab.playbook("--limit", PAIR, extra_vars={
            "profile_mounts_manifest": os.path.join(work, "profiles.json"),
            "profile_mounts_src": os.path.join(work, "profiles"),
        })
        staging = "%s/.%s.staging/%s: sha256:" % (PROFILE_ROOT, manifest["sha256"], bad["filename"])
        assert_failed_on(run, [SIGNER, BUILDER], "%s: %s" % (SIGNER, staging), "The active version was left as it was")
    finally:
        shutil.rmtree(work)


def test_profile_for_another_team(lab, demo_assets, unchanged):
    work = make_tempdir()
    try:
        ca_key, ca_cert, signer_key, signer_cert, _private_dir = demo_assets.load_private(lab.demo_dir)
        _other_key, other_cert = demo_assets.make_identity(ca_key, ca_cert, team_id="OTHER6789Z", team_name="Other Team")
        body = demo_assets.profile_plist("com.other.app", other_cert, team_id="OTHER6789Z", team_name="Other Team")
        os.makedirs(os.path.join(work, "profiles"))
        filename = body["UUID"] + ".mobileprovision"
        demo_assets.write_file(os.path.join(work, "profiles", filename),
                               demo_assets.sign_profile(body, signer_key, signer_cert, ca_cert))
        manifest = os.path.join(work, "profiles.json")
        demo_assets.build_manifest(os.path.join(work, "profiles"), manifest, "other-1")
        run = lab.playbook("--limit", SIGNER, extra_vars={
            "profile_mounts_manifest": manifest, "profile_mounts_src": os.path.join(work, "profiles")})
        assert_failed_on(run, [SIGNER], "%s: %s: profile %s: team_id: OTHER6789Z" % (SIGNER, manifest, filename))
    finally:
        shutil.rmtree(work)


def test_node_that_is_not_macos(lab, unchanged):
    run = lab.playbook("--limit", BUILDER, "-e", "bootstrap_system_override=Linux")
    assert_failed_on(run, [BUILDER], "%s: ansible_facts.system/distribution_version: Linux" % BUILDER, "is not macOS")


def test_secret_found_by_the_scan(lab, unchanged):
    token = "ghp" + "_" + "Zz9" * 12
    lab.sh(SIGNER, "mkdir -p /Users/Shared && printf 'export GH_TOKEN=%s\\n' > /Users/Shared/notes.txt" % token)
    try:
        run = lab.playbook("--limit", SIGNER)
        assert_failed_on(run, [SIGNER], "%s: the secret scan found 1 item(s): /Users/Shared/notes.txt (github_token, line 1)" % SIGNER)
        assert token not in run.out
    finally:
        lab.sh(SIGNER, "rm -f /Users/Shared/notes.txt")


# --- interrupted runs, rollback, reboot ------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest_v2(lab, demo_assets):
    """A second manifest: the demo profiles plus one more, so a new version directory is staged."""
    work = make_tempdir()
    profiles = os.path.join(work, "profiles")
    shutil.copytree(lab.demo["profiles_dir"], profiles)
    ca_key, ca_cert, signer_key, signer_cert, identity_cert = demo_assets.load_private(lab.demo_dir)
    body = demo_assets.profile_plist("com.macmesh.demo.clip", identity_cert)
    demo_assets.write_file(os.path.join(profiles, body["UUID"] + ".mobileprovision"),
                           demo_assets.sign_profile(body, signer_key, signer_cert, ca_cert))
    manifest = demo_assets.build_manifest(profiles, os.path.join(work, "profiles.json"), "demo-2")
    yield {"profile_mounts_manifest": os.path.join(work, "profiles.json"),
           "profile_mounts_src": profiles, "sha256": manifest["sha256"]}
    shutil.rmtree(work)


def test_killed_run_converges_when_run_again(lab, manifest_v2):
    # A signer and a builder (both tiers): the kill at every task boundary of a bootstrap is the drills' job
    # (tests/drills, make drills); this one is the kill while a new profile version is being staged.
    extra = {k: manifest_v2[k] for k in ("profile_mounts_manifest", "profile_mounts_src")}
    argv = lab.playbook_argv("--limit", PAIR, "-e", json.dumps(extra))
    kill_when(argv, lab.env, "Copy the profiles into the staging directory")
    # Nothing half-done is active: `current` still names the first version.
    for host in (SIGNER, BUILDER):
        assert lab.readlink(host, "current") == lab.demo["manifest_sha256"]
    run = lab.playbook("--limit", PAIR, extra_vars=extra)
    assert run.rc == 0, run
    assert sorted(run.summary()) == sorted([SIGNER, BUILDER]), run
    assert all("verify=ok" in line for line in run.summary().values()), run
    for host in (SIGNER, BUILDER):
        assert lab.readlink(host, "current") == manifest_v2["sha256"]
        assert lab.readlink(host, "previous") == lab.demo["manifest_sha256"]
        assert ".staging" not in lab.sh(host, "ls -a %s" % PROFILE_ROOT).stdout


def test_rollback_to_the_previous_version(lab, manifest_v2):
    run = lab.playbook("--limit", PAIR)
    assert run.rc == 0, run
    for host in (SIGNER, BUILDER):
        assert lab.readlink(host, "current") == lab.demo["manifest_sha256"]
        assert lab.readlink(host, "previous") == manifest_v2["sha256"]


def test_reboot_then_signing_works_without_a_human(lab):
    lab.meshlab("reboot", SIGNER)
    run = lab.playbook("--limit", SIGNER, "--tags", "verify")
    assert run.rc == 0, run
    assert "verify=ok" in run.summary()[SIGNER], run
