# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""keychain: the exact security commands and stdin per case, with recorded output.

Each case lists every command the module must run, in order, with what security answered
(texts from tests/unit/fixtures/transcripts, with the keychain name put in). A change of
behaviour shows up as a diff of these tables. Check mode, real run and both idempotent runs are
separate rows.
"""

import json
import os

import pytest
from ansible_collections.macmesh.signing.tests.unit.compat import patch_module_args, run_as_on_a_node

from ansible_collections.macmesh.signing.plugins.module_utils._security import WrongPasswordError
from ansible_collections.macmesh.signing.plugins.modules import keychain

SECURITY = "/usr/bin/security"
PASSWORD = "kc-Pw_9f2e.7Qa1"
TRANSCRIPTS = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "transcripts")


def transcript(name):
    with open(os.path.join(TRANSCRIPTS, name), encoding="utf-8") as handle:
        return handle.read()


OK = (0, "", "")


def show(kc):
    return [SECURITY, "show-keychain-info", kc]


def info(kc, words):
    """show-keychain-info answers on stderr (bats transcript shape)."""
    return (0, "", 'Keychain "%s" %s\n' % (kc, words))


def new_info(kc):
    return (0, "", transcript("show_keychain_info_new_bats.txt").replace("${PW_KEYCHAIN}", kc))


def locked(kc):
    return (36, "", transcript("show_keychain_info_locked.txt").replace("<kc>", kc))


def wrong_password(kc):
    text = transcript("unlock_wrong_password.txt").replace("test-unlock", kc)
    return (51, "", text + "unlock-keychain: returned 51\n")


def batch(script):
    return [SECURITY, "-i"], script


def create_line(kc):
    return '"create-keychain" "-p" "%s" "%s"\n' % (PASSWORD, kc)


def unlock_line(kc):
    return '"unlock-keychain" "-p" "%s" "%s"\n' % (PASSWORD, kc)


def touch(path):
    def effect():
        with open(path, "wb") as handle:
            handle.write(b"kych")

    return effect


def remove(path):
    return lambda: os.remove(path)


NO_TIMEOUT = {"lock_on_sleep": False, "timeout": None}
NEW = {"lock_on_sleep": True, "timeout": 300}
UNLOCKED_NO_TIMEOUT = dict(password=PASSWORD, settings=dict(timeout=0, lock_on_sleep=False), lock_state="unlocked")

# id, module args, check mode, keychain file exists, commands(kc), expected result subset
CASES = [
    (
        "create",
        UNLOCKED_NO_TIMEOUT,
        False,
        False,
        lambda kc: [
            batch(create_line(kc)) + (OK, touch(kc)),
            (show(kc), None, new_info(kc)),
            ([SECURITY, "set-keychain-settings", kc], None, OK),
            (show(kc), None, info(kc, "no-timeout")),
        ],
        dict(changed=True, exists=True, locked=False, settings=NO_TIMEOUT,
             diff={"before": {"exists": False},
                   "after": {"exists": True, "locked": False, "lock_on_sleep": False, "timeout": None}}),
    ),
    (
        "create, check mode",
        UNLOCKED_NO_TIMEOUT,
        True,
        False,
        lambda kc: [],
        dict(changed=True, exists=True, locked=False, settings=NO_TIMEOUT,
             diff={"before": {"exists": False},
                   "after": {"exists": True, "locked": False, "lock_on_sleep": False, "timeout": None}}),
    ),
    (
        "create, second run",
        UNLOCKED_NO_TIMEOUT,
        False,
        True,
        lambda kc: [(show(kc), None, info(kc, "no-timeout"))],
        dict(changed=False, exists=True, locked=False, settings=NO_TIMEOUT),
    ),
    (
        "create, second run in check mode",
        UNLOCKED_NO_TIMEOUT,
        True,
        True,
        lambda kc: [(show(kc), None, info(kc, "no-timeout"))],
        dict(changed=False, exists=True, locked=False, settings=NO_TIMEOUT),
    ),
    (
        "new defaults, default lock settings kept",
        dict(password=PASSWORD),
        False,
        True,
        lambda kc: [(show(kc), None, new_info(kc))],
        dict(changed=False, exists=True, locked=False, settings=NEW),
    ),
    (
        "settings differ, check mode",
        dict(settings=dict(timeout=3600, lock_on_sleep=True)),
        True,
        True,
        lambda kc: [(show(kc), None, new_info(kc))],
        dict(changed=True, locked=False, settings={"lock_on_sleep": True, "timeout": 3600},
             diff={"before": {"exists": True, "locked": False, "lock_on_sleep": True, "timeout": 300},
                   "after": {"exists": True, "locked": False, "lock_on_sleep": True, "timeout": 3600}}),
    ),
    (
        "settings differ",
        dict(settings=dict(timeout=3600, lock_on_sleep=True)),
        False,
        True,
        lambda kc: [
            (show(kc), None, new_info(kc)),
            ([SECURITY, "set-keychain-settings", "-l", "-u", "-t", "3600", kc], None, OK),
            (show(kc), None, info(kc, "lock-on-sleep timeout=3600s")),
        ],
        dict(changed=True, locked=False, settings={"lock_on_sleep": True, "timeout": 3600}),
    ),
    (
        "settings timeout only",
        dict(settings=dict(timeout=900)),
        False,
        True,
        lambda kc: [
            (show(kc), None, new_info(kc)),
            ([SECURITY, "set-keychain-settings", "-u", "-t", "900", kc], None, OK),
            (show(kc), None, info(kc, "timeout=900s")),
        ],
        dict(changed=True, locked=False, settings={"lock_on_sleep": False, "timeout": 900}),
    ),
    (
        "locked, unlock",
        dict(password=PASSWORD, lock_state="unlocked"),
        False,
        True,
        lambda kc: [
            (show(kc), None, locked(kc)),
            batch(unlock_line(kc)) + (OK,),
            (show(kc), None, new_info(kc)),
        ],
        dict(changed=True, locked=False, settings=NEW,
             diff={"before": {"exists": True, "locked": True, "lock_on_sleep": True, "timeout": 300},
                   "after": {"exists": True, "locked": False, "lock_on_sleep": True, "timeout": 300}}),
    ),
    (
        "locked, unlock, check mode",
        dict(password=PASSWORD, lock_state="unlocked"),
        True,
        True,
        lambda kc: [(show(kc), None, locked(kc))],
        dict(changed=True, locked=False, settings=None),
    ),
    (
        "locked, left alone without password",
        dict(),
        False,
        True,
        lambda kc: [(show(kc), None, locked(kc))],
        dict(changed=False, locked=True, settings=None),
    ),
    (
        "locked, settings changed, locked again",
        dict(password=PASSWORD, settings=dict(timeout=0)),
        False,
        True,
        lambda kc: [
            (show(kc), None, locked(kc)),
            batch(unlock_line(kc)) + (OK,),
            (show(kc), None, new_info(kc)),
            ([SECURITY, "set-keychain-settings", kc], None, OK),
            (show(kc), None, info(kc, "no-timeout")),
            ([SECURITY, "lock-keychain", kc], None, OK),
        ],
        dict(changed=True, locked=True, settings=NO_TIMEOUT),
    ),
    (
        "locked, settings already right, locked again",
        dict(password=PASSWORD, settings=dict(timeout=300, lock_on_sleep=True)),
        False,
        True,
        lambda kc: [
            (show(kc), None, locked(kc)),
            batch(unlock_line(kc)) + (OK,),
            (show(kc), None, new_info(kc)),
            ([SECURITY, "lock-keychain", kc], None, OK),
        ],
        dict(changed=False, locked=True, settings=NEW),
    ),
    (
        "locked, settings, check mode cannot read them",
        dict(password=PASSWORD, settings=dict(timeout=300, lock_on_sleep=True)),
        True,
        True,
        lambda kc: [(show(kc), None, locked(kc))],
        dict(changed=True, locked=True, settings=NEW),
    ),
    (
        "lock",
        dict(lock_state="locked"),
        False,
        True,
        lambda kc: [(show(kc), None, new_info(kc)), ([SECURITY, "lock-keychain", kc], None, OK)],
        dict(changed=True, locked=True, settings=NEW),
    ),
    (
        "lock, already locked",
        dict(lock_state="locked"),
        False,
        True,
        lambda kc: [(show(kc), None, locked(kc))],
        dict(changed=False, locked=True, settings=None),
    ),
    (
        "verify password of an unlocked keychain: lock first",
        dict(password=PASSWORD, verify_password=True),
        False,
        True,
        lambda kc: [
            (show(kc), None, new_info(kc)),
            batch('"lock-keychain" "%s"\n' % kc + unlock_line(kc)) + (OK,),
        ],
        dict(changed=False, locked=False, settings=NEW),
    ),
    (
        "verify password of a locked keychain, locked again",
        dict(password=PASSWORD, verify_password=True),
        False,
        True,
        lambda kc: [
            (show(kc), None, locked(kc)),
            batch(unlock_line(kc)) + (OK,),
            (show(kc), None, new_info(kc)),
            ([SECURITY, "lock-keychain", kc], None, OK),
        ],
        dict(changed=False, locked=True, settings=NEW),
    ),
    (
        "verify password skipped in check mode",
        dict(password=PASSWORD, verify_password=True),
        True,
        True,
        lambda kc: [(show(kc), None, new_info(kc))],
        dict(changed=False, locked=False, settings=NEW),
    ),
    (
        "create races with another creator (exit 48)",
        dict(password=PASSWORD),
        False,
        False,
        lambda kc: [
            batch(create_line(kc)) + ((48, "", transcript("create_keychain_exists.txt")
                                       .replace("FooProject.keychain-db", kc) + "create-keychain: returned 48\n"),
                                      touch(kc)),
            (show(kc), None, new_info(kc)),
        ],
        dict(changed=False, exists=True, locked=False, settings=NEW),
    ),
    (
        "absent",
        dict(state="absent"),
        False,
        True,
        lambda kc: [([SECURITY, "delete-keychain", kc], None, OK, remove(kc))],
        dict(changed=True, exists=False, locked=None, settings=None,
             diff={"before": {"exists": True, "locked": None, "lock_on_sleep": None, "timeout": None},
                   "after": {"exists": False}}),
    ),
    (
        "absent, check mode",
        dict(state="absent"),
        True,
        True,
        lambda kc: [],
        dict(changed=True, exists=False),
    ),
    (
        "absent, already gone",
        dict(state="absent"),
        False,
        False,
        lambda kc: [],
        dict(changed=False, exists=False),
    ),
]

# id, module args, keychain file exists, commands(kc), fragments of msg
FAILURES = [
    ("password with a space", dict(password="pass word"), True, lambda kc: [],
     ["password must be", "[A-Za-z0-9_.,:+=@%/-]"]),
    ("password with a quote", dict(password='pa"ss'), True, lambda kc: [], ["password must be"]),
    ("relative path", dict(path="ci-build.keychain-db"), True, lambda kc: [], ["path must be absolute"]),
    ("path with a double quote", dict(path='/tmp/ci"build.keychain-db'), True, lambda kc: [],
     ["path:", "double quote"]),
    ("negative timeout", dict(settings=dict(timeout=-1)), True, lambda kc: [], ["settings.timeout"]),
    ("create without password", dict(), False, lambda kc: [], ["password is required to create"]),
    ("unlock without password", dict(lock_state="unlocked"), True, lambda kc: [(show(kc), None, locked(kc))],
     ["password is required to unlock"]),
    ("wrong password on unlock", dict(password=PASSWORD, lock_state="unlocked"), True,
     lambda kc: [(show(kc), None, locked(kc)), batch(unlock_line(kc)) + (wrong_password(kc),)],
     ["The user name or passphrase you entered is not correct.", WrongPasswordError.hint]),
    ("wrong password on verify", dict(password=PASSWORD, verify_password=True), True,
     lambda kc: [(show(kc), None, new_info(kc)),
                 batch('"lock-keychain" "%s"\n' % kc + unlock_line(kc)) + (wrong_password(kc),)],
     ["not correct", "vaulted password"]),
    ("settings not applied", dict(settings=dict(timeout=0)), True,
     lambda kc: [(show(kc), None, new_info(kc)), ([SECURITY, "set-keychain-settings", kc], None, OK),
                 (show(kc), None, new_info(kc))],
     ["did not apply"]),
    ("keychain not found by security", dict(), True,
     lambda kc: [(show(kc), None, (50, "", transcript("show_keychain_info_not_found.txt")))],
     ["The specified keychain could not be found.", "become_user"]),
    ("unreadable show-keychain-info", dict(), True,
     lambda kc: [(show(kc), None, (0, "", "Keychain settings unavailable\n"))],
     ["unexpected output from security"]),
    ("create fails", dict(password=PASSWORD), False,
     lambda kc: [batch(create_line(kc)) + ((1, "", "security: SecKeychainCreate x: Permission denied\n"
                                            "create-keychain: returned 1\n"),)],
     ["SecKeychainCreate x: Permission denied", "Hint:"]),
]


class FakeSecurity(object):
    def __init__(self, expected):
        self.expected = list(expected)
        self.calls = []

    def __call__(self, argv, data=None, environ_update=None, binary_data=None, check_rc=None,
                 before_communicate_callback=None):
        assert environ_update == {"LC_ALL": "C"}
        assert binary_data is False and check_rc is False
        assert self.expected, "unexpected extra command %r" % (argv,)
        step = self.expected.pop(0)
        self.calls.append((argv, data))
        assert (argv, data) == (step[0], step[1])
        if len(step) > 3:
            step[3]()
        return step[2]


def run(monkeypatch, capsys, tmp_path, args, commands, check_mode=False, exists=True):
    kc = str(tmp_path / "ci-build.keychain-db")
    if exists:
        touch(kc)()
    fake = FakeSecurity(commands(kc))
    monkeypatch.setattr(keychain.AnsibleModule, "run_command", fake)
    run_as_on_a_node(monkeypatch)
    module_args = dict(dict(path=kc), **args)
    module_args.update(_ansible_check_mode=check_mode, _ansible_diff=True)
    with patch_module_args(module_args):
        with pytest.raises(SystemExit):
            keychain.main()
    output = capsys.readouterr().out
    assert fake.expected == [], "commands not run: %r" % fake.expected
    for argv, _data in fake.calls:
        assert not any(PASSWORD in token for token in argv)
    # The password is neither returned nor needs masking anywhere in the output.
    assert PASSWORD not in output and "********" not in output
    return json.loads(output), fake, kc


@pytest.mark.parametrize("case_id,args,check_mode,exists,commands,expected", CASES, ids=[case[0] for case in CASES])
def test_cases(monkeypatch, capsys, tmp_path, case_id, args, check_mode, exists, commands, expected):
    result, fake, kc = run(monkeypatch, capsys, tmp_path, args, commands, check_mode=check_mode, exists=exists)
    assert "failed" not in result, result.get("msg")
    for key, value in expected.items():
        assert result[key] == value, key
    assert result["keychain"] == kc
    assert "warnings" not in result or case_id.endswith("check mode cannot read them"), result["warnings"]
    assert isinstance(result["diff"]["before"], dict) and isinstance(result["diff"]["after"], dict)
    if check_mode:
        # Check mode only ever reads.
        assert all(argv == [SECURITY, "show-keychain-info", kc] for argv, _data in fake.calls)
        assert os.path.exists(kc) == exists
    else:
        assert os.path.exists(kc) == result["exists"]


def test_check_mode_warns_when_locked_settings_cannot_be_read(monkeypatch, capsys, tmp_path):
    result = run(monkeypatch, capsys, tmp_path, dict(password=PASSWORD, settings=dict(timeout=0)),
                 lambda kc: [(show(kc), None, locked(kc))], check_mode=True)[0]
    assert result["changed"] is True
    assert "check mode cannot read its settings" in json.dumps(result["warnings"])


def test_path_without_db_suffix_finds_the_db_file(monkeypatch, capsys, tmp_path):
    kc = str(tmp_path / "ci-build.keychain-db")
    touch(kc)()
    name = kc[: -len("-db")]
    fake = FakeSecurity([(show(name), None, new_info(kc))])
    monkeypatch.setattr(keychain.AnsibleModule, "run_command", fake)
    with patch_module_args(dict(path=name, password=PASSWORD)):
        with pytest.raises(SystemExit):
            keychain.main()
    result = json.loads(capsys.readouterr().out)
    assert fake.expected == []
    assert result["changed"] is False and result["exists"] is True


@pytest.mark.parametrize("case_id,args,exists,commands,fragments", FAILURES, ids=[case[0] for case in FAILURES])
def test_failures(monkeypatch, capsys, tmp_path, case_id, args, exists, commands, fragments):
    result = run(monkeypatch, capsys, tmp_path, args, commands, exists=exists)[0]
    assert result.get("failed") is True
    for fragment in fragments:
        assert fragment in result["msg"]


@pytest.mark.parametrize(
    "settings, args",
    [
        ({"lock_on_sleep": False, "timeout": None}, []),
        ({"lock_on_sleep": True, "timeout": None}, ["-l"]),
        ({"lock_on_sleep": False, "timeout": 60}, ["-u", "-t", "60"]),
        ({"lock_on_sleep": True, "timeout": 300}, ["-l", "-u", "-t", "300"]),
    ],
)
def test_settings_args(settings, args):
    assert keychain.settings_args(settings) == args
