"""Where a real Mac is strict (reference §4): trust evaluation, the per-login-session unlock, codesign
blocking on a locked keychain, and the keychain timeout / lock-on-sleep on the node's clock."""

import subprocess

import pytest

from conftest import PMSET, make_ca, make_identity, sha1_of
from test_codesign import DEV, signing_keychain


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "Payload.ipa"
    path.write_bytes(b"not really an ipa\n" * 100)
    return path


@pytest.mark.parametrize("case", ["locked", "rebooted", "other-session"])
def test_locked_keychain_blocks_codesign(lab, dev_identity, target, case):
    """§4.2: codesign waits for a password prompt nobody can answer; only a bounded caller returns."""
    db = signing_keychain(lab, dev_identity)
    if case == "locked":
        lab.security("lock-keychain", db)
    if case == "rebooted":
        lab.reboot()
    with pytest.raises(subprocess.TimeoutExpired):
        lab.codesign("-s", DEV, "--keychain", db, target, timeout=3, new_session=case == "other-session")
    assert lab.codesign("-dv", target).stderr == "%s: code object is not signed at all\n" % target


def test_unlock_is_per_login_session(lab, dev_identity):
    """§4.3 (strict): an unlock in one login session is not seen by the next one."""
    db = signing_keychain(lab, dev_identity)
    assert lab.security("show-keychain-info", db, new_session=True).stderr == \
        "security: SecKeychainCopySettings %s: User interaction is not allowed.\n" % db
    assert lab.security("show-keychain-info", db).returncode == 0  # still unlocked in this session
    lab.configure(unlock_scope="uid")  # the kinder model, for comparison
    assert lab.security("unlock-keychain", "-p", "kc-pass", db).returncode == 0
    assert lab.security("show-keychain-info", db, new_session=True).returncode == 0


def test_missing_intermediate(bare_lab, dev_identity, target, lab_ca):
    """§4.1: without the WWDR intermediate the identity is listed but not valid, and codesign
    cannot build the chain."""
    lab = bare_lab
    db = signing_keychain(lab, dev_identity)
    found = lab.security("find-identity", "-p", "codesigning", db).stdout
    assert '"%s" (CSSMERR_TP_NOT_TRUSTED)' % DEV in found
    assert found.endswith("     1 identities found\n  Valid identities only\n     0 valid identities found\n")
    result = lab.codesign("-s", DEV, target)
    assert (result.returncode, result.stderr) == (1, 'Warning: unable to build chain to self-signed root for signer "%s"\n'
                                                  '%s: errSecInternalComponent\n' % (DEV, target))
    lab.add_system_certificate(lab_ca[0])
    assert lab.codesign("-s", DEV, target).returncode == 0
    assert "     1 valid identities found\n" in lab.security("find-identity", "-v", "-p", "codesigning").stdout


def test_expired_untrusted_and_expired_intermediate(lab, lab_root, target, lab_ca):
    """§4.1: expired, self-signed (no Apple chain), or issued by an expired intermediate: not valid,
    and codesign does not find the identity."""
    old_ca = make_ca("MacMesh Lab Old WWDR CA", issuer=lab_root, expired=True)
    lab.add_system_certificate(old_ca[0])
    cases = (
        ("expired", make_identity("Apple Development: Old (LAB0TEAM01)", ca=lab_ca, expired=True), "CSSMERR_TP_CERT_EXPIRED"),
        ("selfsigned", make_identity("Apple Distribution: Self (LAB0TEAM01)"), "CSSMERR_TP_NOT_TRUSTED"),
        ("oldca", make_identity("Apple Distribution: Old CA (LAB0TEAM01)", ca=old_ca), "CSSMERR_TP_CERT_EXPIRED"),
    )
    for name, identity, code in cases:
        db = signing_keychain(lab, identity, name=name + ".keychain")
        assert "(%s)" % code in lab.security("find-identity", "-p", "codesigning", db).stdout
        result = lab.codesign("-s", sha1_of(identity[0]), target)
        assert (result.returncode, result.stderr) == (1, "error: The specified item could not be found in the keychain.\n")


def test_timeout_and_sleep_lock_on_the_node_clock(lab, dev_identity):
    db = signing_keychain(lab, dev_identity)
    assert lab.security("set-keychain-settings", "-l", "-t", "300", db).returncode == 0
    (lab.root / "state").mkdir(exist_ok=True)
    (lab.root / "state" / "clock_advance").write_text("301")
    assert "User interaction is not allowed." in lab.security("show-keychain-info", db).stderr
    (lab.root / "state" / "clock_advance").write_text("0")
    assert lab.security("unlock-keychain", "-p", "kc-pass", db).returncode == 0
    assert lab.security("show-keychain-info", db).returncode == 0
    assert lab.run(PMSET, "sleepnow").stdout == "Sleeping now...\n"
    assert "User interaction is not allowed." in lab.security("show-keychain-info", db).stderr


def test_interactive_status_resets_on_empty_line(lab):
    db = lab.keychain()
    failing = 'unlock-keychain -p wrong "%s"\n' % (lab.root / "missing.keychain-db")
    assert lab.security("-i", stdin=failing).returncode != 0
    assert lab.security("-i", stdin=failing + "\n").returncode == 0
    assert db
