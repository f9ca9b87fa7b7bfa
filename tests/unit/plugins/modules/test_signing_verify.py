# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""signing_verify's module layer: who it runs as, check mode, and the result it fails with (the steps
themselves are test_verify.py's). find-identity output from the reference, section 3.2."""

import collections
import json
import os

import pytest
from ansible_collections.macmesh.signing.tests.unit.compat import patch_module_args

from ansible_collections.macmesh.signing.plugins.modules import signing_verify

SHA1 = "86890D67F234745572B7EF153C72DEA7CF522EDE"
NAME = "iPhone Distribution: Tien Le (QG598U658S)"
PASSWORD = "Keychain.Pass-1"
UID = 501
FIND = '  1) %s "%s"\n     1 valid identities found\n' % (SHA1, NAME)
Pw = collections.namedtuple("Pw", "pw_name pw_passwd pw_uid pw_gid pw_gecos pw_dir pw_shell")


@pytest.fixture
def node(tmp_path, monkeypatch):
    keychain = tmp_path / "ci-build.keychain-db"
    keychain.write_bytes(b"kych")
    monkeypatch.setattr(signing_verify.pwd, "getpwnam", lambda name: Pw(name, "*", UID, 20, "", str(tmp_path), "/bin/zsh"))
    monkeypatch.setattr(signing_verify.os, "geteuid", lambda: UID)
    monkeypatch.setattr(signing_verify.AnsibleModule, "run_command", lambda module, argv, **kw: (0, FIND, ""))
    calls = []

    def run(argv, data=None, bound=None):
        calls.append((argv, data))
        if "--no-unlock" in " ".join(argv):
            return 1, "", "locked"
        if argv[:2] == ["/usr/bin/codesign", "-dvvv"]:
            return 0, "", "Authority=%s\nTeamIdentifier=QG598U658S\n" % NAME
        return 0, "", ""

    monkeypatch.setattr(signing_verify, "run_bounded", run)
    args = dict(user="ci-build", keychain=str(keychain), profile_root=str(tmp_path / "profiles"),
                file=str(tmp_path / "scratch" / "verify.txt"), signer=True, sha1=SHA1, team_id="QG598U658S",
                keychain_password=PASSWORD)
    return args, calls


def run_module(capsys, args, check=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            signing_verify.main()
    out = capsys.readouterr().out
    assert PASSWORD not in out
    return json.loads(out)


def test_a_signer_verifies_and_reports_what_the_ci_user_sees(node, capsys):
    args, calls = node
    result = run_module(capsys, args)
    assert result["verify"] == "ok" and not result.get("failed") and result["changed"] is False
    assert result["identities"][0]["sha1"] == SHA1 and result["identity_hash"]
    assert result["unavailable"]["active_manifest"].endswith("current does not exist")
    assert len(calls) == 3 and os.path.exists(args["file"])


def test_an_expected_version_the_ci_user_does_not_read_fails_before_signing(node, capsys):
    args, calls = node
    result = run_module(capsys, dict(args, manifest_sha256="a" * 64))
    assert result["failed"] and result["verify"].startswith("FAILED: ") and "reads nothing, expected" in result["msg"]
    assert calls == []


def test_check_mode_signs_nothing(node, capsys):
    args, calls = node
    result = run_module(capsys, args, check=True)
    assert result["verify"] == "ok" and calls == [] and not os.path.exists(args["file"])


def test_run_as_another_user_is_refused(node, capsys, monkeypatch):
    args, calls = node
    monkeypatch.setattr(signing_verify.os, "geteuid", lambda: 0)
    result = run_module(capsys, args)
    assert result["failed"] and "runs as uid 0, not as ci-build" in result["msg"] and calls == []


def test_a_failed_step_fails_the_module_with_the_cause(node, capsys, monkeypatch):
    args, calls = node
    monkeypatch.setattr(signing_verify, "run_bounded", lambda argv, data=None, bound=None: (1, "", "errSecInternalComponent"))
    result = run_module(capsys, args)
    assert result["failed"] and result["verify"] == "FAILED: " + result["msg"]
    assert "codesign -s %s failed (exit 1): errSecInternalComponent" % SHA1 in result["msg"]


def test_a_bad_sha1_is_one_clear_error(node, capsys):
    args, calls = node
    result = run_module(capsys, dict(args, sha1="not-a-sha1"))
    assert result["failed"] and result["msg"] == "sha1: 'not-a-sha1' is not 40 hexadecimal digits." and calls == []
