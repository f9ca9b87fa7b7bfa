"""Issue 10's acceptance on the lab (which is as strict as macOS, lab/emulator/README.md):
- bootstrap without the intermediate step fails its verify, naming the missing intermediate;
- an unlock in one SSH session does not unlock another (and bootstrap still signs: macmesh-sign);
- a locked keychain under a job: the product's signing call returns a clear timeout error in bound;
- 4 concurrent jobs editing ci-build's search list lose no entry.

Runs after test_bootstrap.py (file order): the mesh is bootstrapped; every test leaves it so.
"""

import concurrent.futures
import json
import os
import subprocess
import time

import pytest

from labkit import BIN, KEYCHAIN

SIGNER = "hk-mini-01"
# The module starts from the bootstrapped mesh (conftest.py: the session's snapshot, restored).
pytestmark = pytest.mark.usefixtures("bootstrapped")
SIGN = "/usr/local/bin/macmesh-sign"
LAB_WWDR = "MacMesh Lab Worldwide Developer Relations CA (FAKE)"
SCRATCH = "/Users/ci-build/.macmesh-verify/fidelity.txt"


def ssh(lab, host, command, stdin=None, timeout=120):
    """One fresh SSH login as ci-build (no ControlMaster: a new login session every time)."""
    address = "%s.%s" % (lab.subnet, 1 + ["hk", "jp", "kr", "sg", "us"].index(host[:2]))
    argv = ["ssh", "-i", os.path.join(lab.state_dir, "ssh", "id_ed25519"),
            "-o", "UserKnownHostsFile=%s" % os.path.join(lab.state_dir, "ssh", "known_hosts"),
            "-o", "StrictHostKeyChecking=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none",
            "-o", "BatchMode=yes", "ci-build@%s" % address, command]
    return subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, check=False)


def password(lab):
    with open(os.path.join(lab.state_dir, "secrets", "keychain_password")) as handle:
        return handle.read().strip()


def test_bootstrap_without_the_intermediate_fails_naming_it(lab):
    # A fresh Mac mini: no WWDR intermediate anywhere (the System keychain is the only place it was).
    lab.sh(SIGNER, "rm -f /Library/Keychains/System.keychain")
    found = lab.sh(SIGNER, "security find-identity -p codesigning %s" % KEYCHAIN, user="ci-build").stdout
    assert "(CSSMERR_TP_NOT_TRUSTED)" in found and "     0 valid identities found" in found
    run = lab.playbook("--limit", SIGNER, "-e", "bootstrap_apple_intermediates=false")
    assert run.rc != 0, run
    assert run.recap[SIGNER]["failed"] == 1, run
    assert 'its issuer "%s (LAB-G1)" is in no keychain on the search list nor in the System keychain' % LAB_WWDR in run.out, run
    # With the intermediate step, the same node passes again (the failed run touched no other node).
    run = lab.playbook("--limit", SIGNER)
    assert run.rc == 0, run
    assert run.recap[SIGNER]["failed"] == 0 and "verify=ok" in run.summary()[SIGNER], run


def test_unlock_in_one_ssh_session_does_not_unlock_another(lab):
    first = ssh(lab, SIGNER, "/usr/local/bin/macmesh-keychain-unlock 3<&0 </dev/null && "
                             "/usr/local/bin/macmesh-keychain-unlock status", stdin=password(lab) + "\n")
    assert first.returncode == 0 and first.stdout.splitlines() == ["unlocked", "unlocked"], first
    second = ssh(lab, SIGNER, "/usr/local/bin/macmesh-keychain-unlock status")
    assert (second.returncode, second.stdout) == (0, "locked\n"), second
    # Signing in one process still works from any session.
    lab.sh(SIGNER, "echo fidelity > %s && chown ci-build %s" % (SCRATCH, SCRATCH))
    signed = ssh(lab, SIGNER, "%s -- codesign -s %s --keychain %s -f %s 3<&0 </dev/null"
                 % (SIGN, lab.demo["identity_sha1"], KEYCHAIN, SCRATCH), stdin=password(lab) + "\n")
    assert signed.returncode == 0, signed
    assert ssh(lab, SIGNER, "/usr/local/bin/macmesh-keychain-unlock status").stdout == "locked\n"


def test_locked_keychain_gives_a_clear_timeout_within_its_bound(lab):
    lab.sh(SIGNER, "echo fidelity > %s && chown ci-build %s" % (SCRATCH, SCRATCH))
    started = time.monotonic()
    probe = ssh(lab, SIGNER, "%s --no-unlock --timeout 5 -- codesign -s %s --keychain %s -f %s </dev/null"
                % (SIGN, lab.demo["identity_sha1"], KEYCHAIN, SCRATCH), timeout=60)
    elapsed = time.monotonic() - started
    assert probe.returncode == 124, probe
    assert "codesign -s did not finish within 5 s and was stopped; likely causes: the keychain is locked" in probe.stderr
    assert elapsed < 30, elapsed
    # Nothing is left hanging on the node.
    assert lab.sh(SIGNER, "pgrep -u ci-build -f /usr/bin/codesign", check=False).returncode == 1
    log = lab.sh(SIGNER, "tail -n 1 /Library/Logs/MacMesh/keychain-unlock.log").stdout
    record = json.loads(log)
    assert (record["action"], record["result"], record["identity"]) == ("sign", "timeout", lab.demo["identity_sha1"])
    lab.assert_no_secret(log, "the wrapper log")


def test_four_concurrent_jobs_lose_no_search_list_entry(lab):
    ansible = os.path.join(BIN, "ansible")
    paths = ["/Users/ci-build/Library/Keychains/job-%d.keychain-db" % n for n in range(4)]

    def job(path):
        args = json.dumps({"keychains": [path], "state": "present", "position": "last"})
        return subprocess.run([ansible, "-i", lab.inventory, SIGNER, "-b", "--become-user", "ci-build",
                               "-m", "macmesh.signing.keychain_search_list", "-a", args],
                              env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=300, check=False)

    before = lab.sh(SIGNER, "security list-keychains -d user", user="ci-build").stdout.split()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(job, paths))
        for result in results:
            assert result.returncode == 0, result.stdout
        listed = lab.sh(SIGNER, "security list-keychains -d user", user="ci-build").stdout
        for path in paths + [KEYCHAIN]:
            assert '"%s"' % path in listed, listed
    finally:
        lab.sh(SIGNER, "security list-keychains -d user -s %s" % " ".join(before), user="ci-build")
