# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_verify: the verify's steps against a recorded node (a fake runner), and run_bounded on real processes.

find-identity outputs are quoted from /work/shared/reference/macos-security-cli.md (sections 3.1, 3.2); the
codesign -dvvv lines are the Authority/TeamIdentifier lines of section 3.6's display.
"""

import os
import stat
import sys

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _verify
from ansible_collections.macmesh.signing.plugins.module_utils._verify import VerifyFailed, Verifier

SHA1 = "86890D67F234745572B7EF153C72DEA7CF522EDE"
REVOKED = "13F9C39BE0072902F6A60AF738F51BE53E3A8B23"
NAME = "iPhone Distribution: Tien Le (QG598U658S)"
TEAM = "QG598U658S"
PASSWORD = "Keychain.Pass-1"
IDENTITIES = [{"sha1": SHA1, "name": NAME, "valid": True}]
DISPLAY = "Executable=/Users/ci-build/.macmesh-verify/verify.txt\nAuthority=%s\nAuthority=Apple Worldwide Developer " \
          "Relations Certification Authority\nTeamIdentifier=%s\n" % (NAME, TEAM)
NO_IDENTITY = "\n     0 valid identities found\n"
ONE_IDENTITY = '  1) %s "%s"\n     1 valid identities found\n' % (SHA1, NAME)
LOCKED = "codesign -s did not finish within 5 s and was stopped; likely causes: the keychain is locked\n"


class Node(object):
    """Answers each command by what it runs; records argv and standard input."""

    def __init__(self, **answers):
        self.calls = []
        self.answers = dict({"sign": (0, "", ""), "display": (0, "", DISPLAY), "revoked": (1, "", "no identity found"),
                             "probe": (1, "", LOCKED), "lock": (0, "", ""), "find": (0, NO_IDENTITY, ""),
                             "builder_sign": (1, "", "no identity found")}, **answers)

    def kind(self, argv):
        if argv[0] == _verify.SHELL:
            if "lock" in argv[2] and "--keychain" not in argv[2]:
                return "lock"
            if "--no-unlock" in argv[2]:
                return "probe"
            return "revoked" if argv[6] == REVOKED else "sign"
        if argv[:2] == [_verify.CODESIGN, "-dvvv"]:
            return "display"
        if argv[0] == _verify.SECURITY:
            return "find"
        return "builder_sign"

    def __call__(self, argv, data=None, bound=None):
        kind = self.kind(argv)
        self.calls.append((kind, argv, data, bound))
        return self.answers[kind]

    def kinds(self):
        return [call[0] for call in self.calls]


def options(**extra):
    base = dict(sign="/usr/local/bin/macmesh-sign", wrapper="/usr/local/bin/macmesh-keychain-unlock",
                keychain="/Users/ci-build/Library/Keychains/ci-build.keychain-db",
                file="/Users/ci-build/.macmesh-verify/verify.txt", profile_root="/Library/MacMesh/profiles",
                signer=True, sha1=SHA1, team_id=TEAM, password=PASSWORD, revoked_sha1s=[], timeout=120, probe_timeout=5)
    base.update(extra)
    return _verify.check_options(base)


def test_a_signer_signs_checks_the_signature_and_proves_the_locked_probe_fails():
    node = Node()
    Verifier(node, options()).signer(IDENTITIES)
    assert node.kinds() == ["sign", "display", "probe"]
    kind, argv, data, bound = node.calls[0]
    # The password only on standard input (the shell moves it to FD 3), never in argv.
    assert data == (PASSWORD + "\n").encode() and not any(PASSWORD in arg for arg in argv)
    assert "3<&0" in argv[2] and argv[3:] == ["/usr/local/bin/macmesh-sign", options()["keychain"], "120", SHA1,
                                              options()["file"]]
    assert bound == 120 + _verify.GRACE
    # The probe never unlocks: no password, its own short bound.
    probe = node.calls[2]
    assert probe[2] is None and probe[1][5] == "5" and "3<&0" not in probe[1][2]


def test_a_failed_sign_names_the_entry_point_and_its_message_and_locks():
    node = Node(sign=(69, "", 'the chain of "%s" is incomplete: its issuer "WWDR (G3)" is in no keychain\n' % NAME))
    with pytest.raises(VerifyFailed) as failed:
        Verifier(node, options()).signer(IDENTITIES)
    assert "/usr/local/bin/macmesh-sign -- codesign -s %s failed (exit 69)" % SHA1 in str(failed.value)
    assert 'its issuer "WWDR (G3)" is in no keychain' in str(failed.value)
    assert node.kinds() == ["sign", "lock"]


@pytest.mark.parametrize("display, needle", [
    (DISPLAY.replace(TEAM, "ZZZZZZZZZZ"), "TeamIdentifier=ZZZZZZZZZZ"),
    (DISPLAY.replace("Authority=" + NAME, "Authority=Someone Else"), "Authority=Someone Else"),
    ("", "got nothing"),
])
def test_a_signature_of_another_identity_or_team_fails(display, needle):
    node = Node(display=(0, "", display))
    with pytest.raises(VerifyFailed) as failed:
        Verifier(node, options()).signer(IDENTITIES)
    assert "Authority/TeamIdentifier: expected \"%s\" and %s" % (NAME, TEAM) in str(failed.value)
    assert needle in str(failed.value)


def test_an_identity_the_ci_user_does_not_see_fails_the_signature_check():
    with pytest.raises(VerifyFailed) as failed:
        Verifier(Node(), options()).signer([])
    assert 'expected "?"' in str(failed.value)


def test_a_revoked_identity_that_still_signs_fails():
    node = Node(revoked=(0, "", ""))
    with pytest.raises(VerifyFailed) as failed:
        Verifier(node, options(revoked_sha1s=[REVOKED.lower()])).signer(IDENTITIES)
    assert "codesign -s %s signed: the revoked identity is still usable" % REVOKED in str(failed.value)
    assert node.kinds() == ["sign", "display", "revoked", "lock"]


def test_a_revoked_identity_refused_only_because_the_keychain_was_locked_fails():
    node = Node(revoked=(1, "", "errSecInternalComponent"))
    with pytest.raises(VerifyFailed) as failed:
        Verifier(node, options(revoked_sha1s=[REVOKED])).signer(IDENTITIES)
    assert "not because the identity is gone" in str(failed.value)


def test_a_refused_revoked_identity_passes():
    node = Node()
    Verifier(node, options(revoked_sha1s=[REVOKED])).signer(IDENTITIES)
    assert node.kinds() == ["sign", "display", "revoked", "probe"]
    assert node.calls[2][2] == (PASSWORD + "\n").encode()


def test_a_keychain_that_signs_while_locked_fails():
    node = Node(probe=(0, "", ""))
    with pytest.raises(VerifyFailed) as failed:
        Verifier(node, options()).signer(IDENTITIES)
    assert "locked signed (exit 0)" in str(failed.value)
    assert node.kinds()[-1] == "lock"


def test_a_builder_sees_no_identity_and_cannot_sign():
    node = Node()
    Verifier(node, options(signer=False, password="")).builder()
    assert node.kinds() == ["find", "builder_sign"]
    assert all(call[2] is None for call in node.calls)


def test_a_builder_that_sees_an_identity_fails_naming_it():
    with pytest.raises(VerifyFailed) as failed:
        Verifier(Node(find=(0, ONE_IDENTITY, "")), options(signer=False)).builder()
    assert "can see signing identities: %s" % NAME in str(failed.value)


def test_a_builder_that_signs_fails():
    with pytest.raises(VerifyFailed) as failed:
        Verifier(Node(builder_sign=(0, "", "")), options(signer=False)).builder()
    assert "a builder, but codesign -s %s succeeded" % SHA1 in str(failed.value)


def test_a_builder_whose_find_identity_output_is_not_find_identity_fails():
    with pytest.raises(VerifyFailed) as failed:
        Verifier(Node(find=(0, '    "/Users/ci-build/Library/Keychains/login.keychain-db"\n', "")),
                 options(signer=False)).builder()
    assert "security find-identity -v -p codesigning" in str(failed.value)


@pytest.mark.parametrize("extra, needle", [
    (dict(sha1="86890D67"), "sha1: '86890D67' is not 40 hexadecimal digits."),
    (dict(sha1=""), "sha1: a signer needs the SHA-1"),
    (dict(revoked_sha1s=[SHA1, "xyz"]), "revoked_sha1s[1]: 'xyz' is not 40 hexadecimal digits."),
    (dict(password=""), "keychain_password: a signer's verify needs the keychain password."),
    (dict(file="verify.txt"), "file: 'verify.txt' is not an absolute path."),
    (dict(timeout=0), "timeout: 0 is not a number of seconds"),
])
def test_bad_options_name_the_field(extra, needle):
    with pytest.raises(ValueError) as failed:
        options(**extra)
    assert needle in str(failed.value)
    assert PASSWORD not in str(failed.value)


def test_sha1s_are_normalised_once():
    opts = options(sha1=":".join(SHA1[i:i + 2] for i in range(0, 40, 2)).lower(), revoked_sha1s=[REVOKED.lower()])
    assert opts["sha1"] == SHA1 and opts["revoked_sha1s"] == [REVOKED]


@pytest.mark.parametrize("active, expected, problem", [
    ({"sha256": "a" * 64}, "a" * 64, None),
    ({"sha256": "a" * 64}, "", None),
    ({"sha256": "b" * 64}, "a" * 64, "/r/current: the CI user reads %s, expected %s." % ("b" * 64, "a" * 64)),
    (None, "a" * 64, "/r/current: the CI user reads nothing, expected %s." % ("a" * 64)),
])
def test_manifest_problem(active, expected, problem):
    assert _verify.manifest_problem(active, expected, "/r") == problem


def test_write_scratch_is_private_and_rewritten_only_when_it_differs(tmp_path):
    path = str(tmp_path / "scratch" / "verify.txt")
    _verify.write_scratch(path)
    assert open(path, "rb").read() == _verify.SCRATCH_TEXT
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    inode = os.stat(path).st_ino
    _verify.write_scratch(path)
    assert os.stat(path).st_ino == inode
    with open(path, "w") as handle:
        handle.write("changed")
    _verify.write_scratch(path)
    assert open(path, "rb").read() == _verify.SCRATCH_TEXT
    assert os.listdir(os.path.dirname(path)) == ["verify.txt"]


def test_run_bounded_feeds_standard_input_and_returns_the_exit_status():
    rc, out, err = _verify.run_bounded([sys.executable, "-c", "import sys; d = sys.stdin.read(); print(len(d)); "
                                        "sys.stderr.write('e'); sys.exit(3)"], data=b"abc\n", bound=30)
    assert (rc, out.strip(), err) == (3, "4", "e")


def test_run_bounded_kills_a_hung_command_within_its_bound():
    rc, out, err = _verify.run_bounded([sys.executable, "-c", "import time; time.sleep(60)"], bound=1)
    assert rc == 124 and "did not finish within 1 s" in err


def test_run_bounded_reports_a_missing_program():
    rc, out, err = _verify.run_bounded(["/nonexistent/codesign"], bound=5)
    assert rc == 127 and "/nonexistent/codesign" in err
