# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""keychain_identity on the node: the exact security commands per case, with recorded output.

Outputs are quoted from /work/shared/reference/macos-security-cli.md (real macOS transcripts):
find-identity (fx-studio Travis log, section 3.2), import / set-key-partition-list (3.7), unlock with a
wrong password (3.8). Each case lists every command the module must run, in order: a change of
behaviour shows up as a diff of this table.
"""

import base64
import json
import os
import stat

import pytest
from ansible_collections.macmesh.signing.tests.unit.compat import patch_module_args

from ansible_collections.macmesh.signing.plugins.modules import keychain_identity

SECURITY = "/usr/bin/security"
KEYCHAIN_PASSWORD = "kcPW-9f2e7Qa1"
TRANSPORT = "Tr4nsp0rtPassphraseAbcdefghijklm"
P12 = b"0\x82\x0b\x1f\x02\x01\x03fake-pkcs12-body"
CONTENT = base64.b64encode(P12).decode()
DIS = "86890D67F234745572B7EF153C72DEA7CF522EDE"
DIS_NAME = "iPhone Distribution: Tien Le (QG598U658S)"
DEV = "13F9C39BE0072902F6A60AF738F51BE53E3A8B23"
DEV_NAME = "iPhone Developer: Tien Le (8PKL73LX5A)"
SECRETS = (KEYCHAIN_PASSWORD, TRANSPORT, CONTENT)

# section 3.2, verbatim
FIND_BOTH = """Policy: Code Signing
  Matching identities
  1) 86890D67F234745572B7EF153C72DEA7CF522EDE "iPhone Distribution: Tien Le (QG598U658S)"
  2) 13F9C39BE0072902F6A60AF738F51BE53E3A8B23 "iPhone Developer: Tien Le (8PKL73LX5A)"
     2 identities found
  Valid identities only
  1) 86890D67F234745572B7EF153C72DEA7CF522EDE "iPhone Distribution: Tien Le (QG598U658S)"
  2) 13F9C39BE0072902F6A60AF738F51BE53E3A8B23 "iPhone Developer: Tien Le (8PKL73LX5A)"
     2 valid identities found
"""
# the same log's shape with one identity (the dev one), and with none
FIND_DEV = """Policy: Code Signing
  Matching identities
  1) 13F9C39BE0072902F6A60AF738F51BE53E3A8B23 "iPhone Developer: Tien Le (8PKL73LX5A)"
     1 identities found

  Valid identities only
  1) 13F9C39BE0072902F6A60AF738F51BE53E3A8B23 "iPhone Developer: Tien Le (8PKL73LX5A)"
     1 valid identities found
"""
FIND_DIS = FIND_DEV.replace(DEV, DIS).replace(DEV_NAME, DIS_NAME)
FIND_NONE = """Policy: Code Signing
  Matching identities
     0 identities found

  Valid identities only
     0 valid identities found
"""
# an identity present but not trusted: listed under "Matching" only (suffix as in section 3.2)
FIND_DIS_UNTRUSTED = """Policy: Code Signing
  Matching identities
  1) 86890D67F234745572B7EF153C72DEA7CF522EDE "iPhone Distribution: Tien Le (QG598U658S)" (CSSMERR_TP_NOT_TRUSTED)
     1 identities found

  Valid identities only
     0 valid identities found
"""
# section 3.7: import success, then set-key-partition-list's attribute dump (never returned)
PARTITION_DUMP = "\n".join([
    'keychain: "/Users/travis/Library/Keychains/[secure]-db"',
    "version: 512",
    "class: 0x00000010 ",
    "attributes:",
    "    0x00000000 <uint32>=0x00000010 ",
    '    0x00000001 <blob>="iOS Distribution: Tien Le"',
    "    0x00000002 <blob>=<NULL>",
    '    0x00000006 <blob>=0x573F5F26AAF3F17159F89AA601022169D9C4D28C  "W?_&\\252\\363\\361qY\\370\\232\\246\\001\\002!i\\331\\304\\322\\214"',
    "    0x0000001A <uint32>=0x00000001 ",
]) + "\n"
IMPORTED = (0, "1 identity imported.\n" + PARTITION_DUMP, "")
IMPORTED_OPENSSL = (0, "1 key imported.\n1 certificate imported.\n" + PARTITION_DUMP, "")
DUPLICATE = (0, PARTITION_DUMP, "security: SecKeychainItemImport: The specified item already exists in the keychain.\nimport: returned 1\n")
UNDECODABLE = (0, "", "security: SecKeychainItemImport: Unable to decode the provided data.\nimport: returned 1\n")
MAC_FAILED = (0, "", "security: SecKeychainItemImport: MAC verification failed during PKCS12 import (wrong password?)\nimport: returned 1\n")
WRONG_UNLOCK = (1, "", "security: SecKeychainUnlock test-unlock: The user name or passphrase you entered is not correct.\n"
                "unlock-keychain: returned 1\n")
NOT_FOUND = (0, "", "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.\n")
OK = (0, "", "")


def q(*tokens):
    return " ".join('"%s"' % token for token in tokens) + "\n"


def unlock(kc):
    return q("unlock-keychain", "-p", KEYCHAIN_PASSWORD, kc)


def import_line(kc, fmt="pkcs12", apps=("/usr/bin/codesign", "/usr/bin/productsign")):
    tokens = ["import", "<TMP>", "-k", kc, "-f", fmt, "-P", TRANSPORT]
    for app in apps:
        tokens += ["-T", app]
    return q(*tokens + ["-x"])


def partition(kc, partitions="apple-tool:,apple:,codesign:"):
    return q("set-key-partition-list", "-S", partitions, "-s", "-k", KEYCHAIN_PASSWORD, kc)


def find(kc, output):
    return ([SECURITY, "find-identity", "-p", "codesigning", kc], None, (0, output, ""))


def batch(text, response):
    return ([SECURITY, "-i"], text, response)


def present_args(**extra):
    args = dict(keychain_password=KEYCHAIN_PASSWORD, sha1=DIS, name=DIS_NAME, content=CONTENT, transport_passphrase=TRANSPORT)
    args.update(extra)
    return args


def import_batch(kc, response, fmt="pkcs12"):
    return batch(unlock(kc) + import_line(kc, fmt) + partition(kc), response)


# (id, module args, check mode, commands(kc) -> [(argv, stdin, (rc, out, err))], expected result subset)
CASES = [
    ("import-new", present_args(), False,
     lambda kc: [find(kc, FIND_DEV), import_batch(kc, IMPORTED), find(kc, FIND_BOTH)],
     {"changed": True, "sha1": DIS, "name": DIS_NAME, "removed": [],
      "identities": [{"sha1": DIS, "name": DIS_NAME}, {"sha1": DEV, "name": DEV_NAME}]}),
    ("already-present", present_args(), False,
     lambda kc: [find(kc, FIND_BOTH)],
     {"changed": False, "sha1": DIS, "identities": [{"sha1": DIS, "name": DIS_NAME}, {"sha1": DEV, "name": DEV_NAME}]}),
    ("present-but-untrusted-counts-as-present", present_args(), False,
     lambda kc: [find(kc, FIND_DIS_UNTRUSTED)],
     {"changed": False, "identities": [{"sha1": DIS, "name": DIS_NAME}]}),
    ("check-mode-import", present_args(), True,
     lambda kc: [find(kc, FIND_DEV)],
     {"changed": True, "identities": [{"sha1": DEV, "name": DEV_NAME}, {"sha1": DIS, "name": DIS_NAME}]}),
    ("check-mode-idempotent", present_args(), True,
     lambda kc: [find(kc, FIND_BOTH)],
     {"changed": False}),
    ("sha1-in-other-spelling", present_args(sha1=":".join(DIS[i:i + 2].lower() for i in range(0, 40, 2))), False,
     lambda kc: [find(kc, FIND_BOTH)],
     {"changed": False, "sha1": DIS}),
    ("duplicate-is-ok-not-changed", present_args(), False,
     lambda kc: [find(kc, FIND_NONE), import_batch(kc, DUPLICATE), find(kc, FIND_DIS)],
     {"changed": False, "identities": [{"sha1": DIS, "name": DIS_NAME}]}),
    ("macos15-undecodable-retries-as-openssl", present_args(), False,
     lambda kc: [find(kc, FIND_NONE), import_batch(kc, UNDECODABLE), import_batch(kc, IMPORTED_OPENSSL, "openssl"), find(kc, FIND_DIS)],
     {"changed": True, "identities": [{"sha1": DIS, "name": DIS_NAME}]}),
    ("custom-apps-and-partitions", present_args(allowed_apps=["/usr/bin/codesign"], partition_list="apple-tool:,apple:"), False,
     lambda kc: [find(kc, FIND_NONE),
                 batch(unlock(kc) + import_line(kc, apps=["/usr/bin/codesign"]) + partition(kc, "apple-tool:,apple:"), IMPORTED),
                 find(kc, FIND_DIS)],
     {"changed": True}),
    ("exclusive-imports-then-removes-undeclared", present_args(exclusive=True), False,
     lambda kc: [find(kc, FIND_DEV), import_batch(kc, IMPORTED),
                 batch(unlock(kc) + q("delete-identity", "-Z", DEV, kc), OK), find(kc, FIND_DIS)],
     {"changed": True, "removed": [DEV], "identities": [{"sha1": DIS, "name": DIS_NAME}]}),
    ("exclusive-keeps-declared", present_args(exclusive=True, declared_sha1s=[DIS, DEV.lower()]), False,
     lambda kc: [find(kc, FIND_BOTH)],
     {"changed": False, "removed": []}),
    ("exclusive-check-mode", present_args(exclusive=True), True,
     lambda kc: [find(kc, FIND_BOTH)],
     {"changed": True, "removed": [DEV], "identities": [{"sha1": DIS, "name": DIS_NAME}]}),
    ("absent-removes", dict(state="absent", sha1=DIS, keychain_password=KEYCHAIN_PASSWORD), False,
     lambda kc: [find(kc, FIND_BOTH), batch(unlock(kc) + q("delete-identity", "-Z", DIS, kc), OK), find(kc, FIND_DEV)],
     {"changed": True, "name": DIS_NAME, "removed": [DIS], "identities": [{"sha1": DEV, "name": DEV_NAME}]}),
    ("absent-without-password-does-not-unlock", dict(state="absent", sha1=DIS), False,
     lambda kc: [find(kc, FIND_DIS), batch(q("delete-identity", "-Z", DIS, kc), OK), find(kc, FIND_NONE)],
     {"changed": True, "removed": [DIS], "identities": []}),
    ("absent-already-gone", dict(state="absent", sha1=DIS, keychain_password=KEYCHAIN_PASSWORD), False,
     lambda kc: [find(kc, FIND_DEV)],
     {"changed": False, "name": None, "removed": [], "identities": [{"sha1": DEV, "name": DEV_NAME}]}),
    ("absent-removed-meanwhile", dict(state="absent", sha1=DIS), False,
     lambda kc: [find(kc, FIND_DIS), batch(q("delete-identity", "-Z", DIS, kc), NOT_FOUND), find(kc, FIND_NONE)],
     {"changed": True, "identities": []}),
    ("absent-check-mode", dict(state="absent", sha1=DIS), True,
     lambda kc: [find(kc, FIND_BOTH)],
     {"changed": True, "removed": [DIS], "identities": [{"sha1": DEV, "name": DEV_NAME}]}),
    ("absent-exclusive-removes-all-undeclared", dict(state="absent", sha1=DIS, exclusive=True, declared_sha1s=[DIS]), False,
     lambda kc: [find(kc, FIND_BOTH), batch(q("delete-identity", "-Z", DIS, kc) + q("delete-identity", "-Z", DEV, kc), OK),
                 find(kc, FIND_NONE)],
     {"changed": True, "removed": [DIS, DEV], "identities": []}),
]

# (id, module args, commands(kc), fragments of msg)
FAILURES = [
    ("macos15-undecodable-twice", present_args(),
     lambda kc: [find(kc, FIND_NONE), import_batch(kc, UNDECODABLE), import_batch(kc, UNDECODABLE, "openssl")],
     ["Unable to decode the provided data.", "openssl pkcs12 -export -legacy"]),
    ("mac-verification-failed", present_args(),
     lambda kc: [find(kc, FIND_NONE), import_batch(kc, MAC_FAILED)],
     ["MAC verification failed", "openssl pkcs12 -export -legacy"]),
    ("wrong-keychain-password", present_args(),
     lambda kc: [find(kc, FIND_NONE), import_batch(kc, WRONG_UNLOCK)],
     ["keychain_password", "not correct"]),
    ("unsafe-keychain-password", present_args(keychain_password='pa ss"word'),
     lambda kc: [],
     ["keychain_password", "[A-Za-z0-9_.,:+=@%/-]"]),
    ("bad-sha1", present_args(sha1="86890D67"),
     lambda kc: [],
     ["sha1", "86890D67", "40 hexadecimal"]),
    ("sha1-with-trailing-newline", present_args(sha1="86890D67F234745572B7EF153C72DEA7CF522EDE\n"),
     lambda kc: [],
     ["sha1", "40 hexadecimal"]),
    ("bad-declared-sha1", present_args(exclusive=True, declared_sha1s=["nope"]),
     lambda kc: [],
     ["declared_sha1s", "nope"]),
    ("not-through-action-plugin", dict(keychain_password=KEYCHAIN_PASSWORD),
     lambda kc: [],
     ["set by the action plugin", "src"]),
    ("content-not-base64", present_args(content="%%% not base64"),
     lambda kc: [],
     ["content", "base64"]),
    ("unquotable-app-path", present_args(allowed_apps=['/Applications/Evil".app']),
     lambda kc: [find(kc, FIND_NONE)],
     ["import", "double quote"]),
]


class FakeSecurity:
    """Stands in for AnsibleModule.run_command; checks each call against the case table."""

    def __init__(self, expected):
        self.expected = list(expected)
        self.calls = []
        self.tmp_files = []

    def __call__(self, module, argv, data=None, environ_update=None, binary_data=False, check_rc=False, **kwargs):
        assert environ_update == {"LC_ALL": "C"}
        assert not check_rc
        assert self.expected, "unexpected extra command %r" % (argv,)
        want_argv, want_data, response = self.expected.pop(0)
        if data is not None and '"import" "' in data:
            path = data.split('"import" "', 1)[1].split('"', 1)[0]
            # The p12 is on disk only while security reads it, readable by the owner only.
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            with open(path, "rb") as handle:
                assert handle.read() == P12
            self.tmp_files.append(path)
            data = data.replace(path, "<TMP>")
        self.calls.append((argv, data))
        assert (argv, data) == (want_argv, want_data)
        return response


def run(monkeypatch, capsys, tmp_path, args, commands, check_mode=False, keychain_exists=True):
    kc = str(tmp_path / "ci-build.keychain-db")
    if keychain_exists:
        with open(kc, "wb") as handle:
            handle.write(b"kych")
    (tmp_path / "remote-tmp").mkdir()
    fake = FakeSecurity(commands(kc))

    def run_command(module, *args, **kwargs):
        return fake(module, *args, **kwargs)

    monkeypatch.setattr(keychain_identity.AnsibleModule, "run_command", run_command)
    module_args = dict(args, keychain=kc, _ansible_check_mode=check_mode, _ansible_diff=True,
                       _ansible_remote_tmp=str(tmp_path / "remote-tmp"), _ansible_keep_remote_files=False)
    with patch_module_args(module_args):
        with pytest.raises(SystemExit):
            keychain_identity.main()
    output = capsys.readouterr().out
    assert fake.expected == [], "commands not run: %r" % fake.expected
    for path in fake.tmp_files:
        assert not os.path.exists(path)
    for argv, dummy in fake.calls:
        for secret in SECRETS:
            assert not any(secret in token for token in argv)
    for secret in SECRETS:
        assert secret not in output
    return json.loads(output), fake


@pytest.mark.parametrize("case_id,args,check_mode,commands,expected", CASES, ids=[case[0] for case in CASES])
def test_cases(monkeypatch, capsys, tmp_path, case_id, args, check_mode, commands, expected):
    result, dummy = run(monkeypatch, capsys, tmp_path, args, commands, check_mode=check_mode)
    assert "failed" not in result, result.get("msg")
    for key, value in expected.items():
        assert result[key] == value, key
    assert result["diff"]["after"] == {"identities": result["identities"]}
    assert isinstance(result["diff"]["before"], dict)
    assert "identity imported" not in json.dumps(result) and "0x00000001" not in json.dumps(result)


@pytest.mark.parametrize("case_id,args,commands,fragments", FAILURES, ids=[case[0] for case in FAILURES])
def test_failures(monkeypatch, capsys, tmp_path, case_id, args, commands, fragments):
    result, dummy = run(monkeypatch, capsys, tmp_path, args, commands)
    assert result["failed"] is True
    for fragment in fragments:
        assert fragment in result["msg"]


def test_diff_before_and_after(monkeypatch, capsys, tmp_path):
    result, dummy = run(monkeypatch, capsys, tmp_path, present_args(), lambda kc: [find(kc, FIND_DEV), import_batch(kc, IMPORTED), find(kc, FIND_BOTH)])
    assert result["diff"]["before"] == {"identities": [{"sha1": DEV, "name": DEV_NAME}]}
    assert result["diff"]["after"] == {"identities": [{"sha1": DIS, "name": DIS_NAME}, {"sha1": DEV, "name": DEV_NAME}]}


def test_invocation_masks_secrets(monkeypatch, capsys, tmp_path):
    result, dummy = run(monkeypatch, capsys, tmp_path, present_args(), lambda kc: [find(kc, FIND_BOTH)])
    shown = result["invocation"]["module_args"]
    for field in ("keychain_password", "transport_passphrase", "content"):
        assert shown[field] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_failed_import_removes_nothing(monkeypatch, capsys, tmp_path):
    result, fake = run(monkeypatch, capsys, tmp_path, present_args(exclusive=True),
                       lambda kc: [find(kc, FIND_DEV), import_batch(kc, MAC_FAILED)])
    assert result["failed"] is True
    assert not any(data and "delete-identity" in data for dummy, data in fake.calls)


def test_import_listed_nowhere_warns(monkeypatch, capsys, tmp_path):
    result, dummy = run(monkeypatch, capsys, tmp_path, present_args(), lambda kc: [find(kc, FIND_NONE), import_batch(kc, IMPORTED), find(kc, FIND_NONE)])
    assert result["changed"] is True
    assert "does not list it" in json.dumps(result["warnings"])


def test_present_needs_existing_keychain(monkeypatch, capsys, tmp_path):
    result, fake = run(monkeypatch, capsys, tmp_path, present_args(), lambda kc: [], keychain_exists=False)
    assert result["failed"] is True
    assert "keychain:" in result["msg"] and "does not exist" in result["msg"]
    assert fake.calls == []


def test_absent_without_keychain_is_ok(monkeypatch, capsys, tmp_path):
    result, fake = run(monkeypatch, capsys, tmp_path, dict(state="absent", sha1=DIS), lambda kc: [], keychain_exists=False)
    assert result["changed"] is False and result["identities"] == []
    assert fake.calls == []
