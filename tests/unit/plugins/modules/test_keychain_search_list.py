# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""keychain_search_list: the exact list-keychains command lines per case, with recorded output.

The search lists are in the shape of the real transcripts in tests/unit/fixtures/transcripts
(four spaces, double quotes, one keychain per line). Every case lists all commands in order.
"""

import json
import os

import pytest
from ansible_collections.macmesh.signing.tests.unit.compat import patch_module_args, run_as_on_a_node

from ansible_collections.macmesh.signing.plugins.module_utils._security import NoDefaultKeychainError
from ansible_collections.macmesh.signing.plugins.modules import keychain_search_list

SECURITY = "/usr/bin/security"
TRANSCRIPTS = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "transcripts")

LOGIN = "/Users/ci-build/Library/Keychains/login.keychain-db"
CI = "/Users/ci-build/Library/Keychains/ci-build.keychain-db"
OTHER = "/Users/ci-build/Library/Keychains/other.keychain-db"
OK = (0, "", "")


def transcript(name):
    with open(os.path.join(TRANSCRIPTS, name), encoding="utf-8") as handle:
        return handle.read()


def listing(*paths):
    return (0, "".join('    "%s"\n' % path for path in paths), "")


def read(domain="user"):
    return [SECURITY, "list-keychains", "-d", domain]


def write(*paths, **kwargs):
    return [SECURITY, "list-keychains", "-d", kwargs.get("domain", "user"), "-s"] + list(paths)


# id, module args, check mode, [(argv, response)], expected result subset
CASES = [
    ("present, prepended", dict(keychains=[CI]), False,
     [(read(), listing(LOGIN)), (write(CI, LOGIN), OK), (read(), listing(CI, LOGIN))],
     dict(changed=True, search_list=[CI, LOGIN], diff={"before": LOGIN + "\n", "after": CI + "\n" + LOGIN + "\n"})),
    ("present, check mode", dict(keychains=[CI]), True,
     [(read(), listing(LOGIN))],
     dict(changed=True, search_list=[CI, LOGIN], diff={"before": LOGIN + "\n", "after": CI + "\n" + LOGIN + "\n"})),
    ("present, second run", dict(keychains=[CI]), False,
     [(read(), listing(CI, LOGIN))],
     dict(changed=False, search_list=[CI, LOGIN], diff={"before": CI + "\n" + LOGIN + "\n", "after": CI + "\n" + LOGIN + "\n"})),
    ("present, second run in check mode", dict(keychains=[CI]), True,
     [(read(), listing(CI, LOGIN))],
     dict(changed=False, search_list=[CI, LOGIN])),
    ("present keeps the order of entries already there", dict(keychains=[CI]), False,
     [(read(), listing(LOGIN, CI))],
     dict(changed=False, search_list=[LOGIN, CI])),
    ("present, appended", dict(keychains=[CI], position="last"), False,
     [(read(), listing(LOGIN, OTHER)), (write(LOGIN, OTHER, CI), OK), (read(), listing(LOGIN, OTHER, CI))],
     dict(changed=True, search_list=[LOGIN, OTHER, CI])),
    ("present, only missing ones added, in the given order", dict(keychains=[CI, LOGIN, OTHER]), False,
     [(read(), listing(LOGIN)), (write(CI, OTHER, LOGIN), OK), (read(), listing(CI, OTHER, LOGIN))],
     dict(changed=True, search_list=[CI, OTHER, LOGIN])),
    ("present removes duplicates", dict(keychains=[CI]), False,
     [(read(), listing(CI, LOGIN, CI)), (write(CI, LOGIN), OK), (read(), listing(CI, LOGIN))],
     dict(changed=True, search_list=[CI, LOGIN])),
    ("present, name without -db matches the listed file", dict(keychains=[CI[: -len("-db")]]), False,
     [(read(), listing(CI, LOGIN))],
     dict(changed=False, search_list=[CI, LOGIN])),
    ("present on an empty list", dict(keychains=[CI]), False,
     [(read(), OK), (write(CI), OK), (read(), listing(CI))],
     dict(changed=True, search_list=[CI], diff={"before": "", "after": CI + "\n"})),
    ("absent keeps the others", dict(keychains=[CI], state="absent"), False,
     [(read(), listing(OTHER, CI, LOGIN)), (write(OTHER, LOGIN), OK), (read(), listing(OTHER, LOGIN))],
     dict(changed=True, search_list=[OTHER, LOGIN])),
    ("absent, check mode", dict(keychains=[CI], state="absent"), True,
     [(read(), listing(CI, LOGIN))],
     dict(changed=True, search_list=[LOGIN])),
    ("absent, second run", dict(keychains=[CI], state="absent"), False,
     [(read(), listing(LOGIN))],
     dict(changed=False, search_list=[LOGIN])),
    ("exact", dict(keychains=[CI, LOGIN], state="exact"), False,
     [(read(), listing(LOGIN, OTHER)), (write(CI, LOGIN), OK), (read(), listing(CI, LOGIN))],
     dict(changed=True, search_list=[CI, LOGIN])),
    ("exact, order matters", dict(keychains=[CI, LOGIN], state="exact"), False,
     [(read(), listing(LOGIN, CI)), (write(CI, LOGIN), OK), (read(), listing(CI, LOGIN))],
     dict(changed=True, search_list=[CI, LOGIN])),
    ("exact, second run", dict(keychains=[CI, LOGIN, CI], state="exact"), False,
     [(read(), listing(CI, LOGIN))],
     dict(changed=False, search_list=[CI, LOGIN])),
    ("exact, check mode", dict(keychains=[CI], state="exact"), True,
     [(read(), listing(LOGIN))],
     dict(changed=True, search_list=[CI], diff={"before": LOGIN + "\n", "after": CI + "\n"})),
    ("system domain", dict(keychains=["/Library/Keychains/System.keychain"], domain="system"), False,
     [(read("system"), listing()),
      (write("/Library/Keychains/System.keychain", domain="system"), OK),
      (read("system"), listing("/Library/Keychains/System.keychain"))],
     dict(changed=True, domain="system")),
]

# id, module args, [(argv, response)], fragments of msg
FAILURES = [
    ("relative path", dict(keychains=["ci-build.keychain-db"]), [], ["keychains[0] must be an absolute path"]),
    ("list not taken", dict(keychains=[CI]),
     [(read(), listing(LOGIN)), (write(CI, LOGIN), OK), (read(), listing(LOGIN))],
     ["did not take", CI]),
    ("read fails", dict(keychains=[CI]),
     [(read(), (1, "", transcript("default_keychain_none.txt")))],
     ["A default keychain could not be found.", NoDefaultKeychainError.hint]),
    ("write fails", dict(keychains=[CI]),
     [(read(), listing(LOGIN)), (write(CI, LOGIN), (1, "", "security: SecKeychainSetSearchList: Permission denied\n"))],
     ["SecKeychainSetSearchList: Permission denied"]),
    ("unreadable list", dict(keychains=[CI]), [(read(), (0, "no keychains\n", ""))], ["unexpected output from security"]),
]


class FakeSecurity(object):
    def __init__(self, expected):
        self.expected = list(expected)

    def __call__(self, argv, data=None, environ_update=None, binary_data=None, check_rc=None,
                 before_communicate_callback=None):
        assert environ_update == {"LC_ALL": "C"} and data is None
        assert self.expected, "unexpected extra command %r" % (argv,)
        want_argv, response = self.expected.pop(0)
        assert argv == want_argv
        return response


def run(monkeypatch, capsys, args, commands, check_mode=False):
    fake = FakeSecurity(commands)
    monkeypatch.setattr(keychain_search_list.AnsibleModule, "run_command", fake)
    run_as_on_a_node(monkeypatch)
    with patch_module_args(dict(args, _ansible_check_mode=check_mode, _ansible_diff=True)):
        with pytest.raises(SystemExit):
            keychain_search_list.main()
    assert fake.expected == [], "commands not run: %r" % fake.expected
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("case_id,args,check_mode,commands,expected", CASES, ids=[case[0] for case in CASES])
def test_cases(monkeypatch, capsys, case_id, args, check_mode, commands, expected):
    if check_mode:
        assert all("-s" not in argv for argv, _response in commands)
    result = run(monkeypatch, capsys, args, commands, check_mode=check_mode)
    assert "failed" not in result, result.get("msg")
    assert "warnings" not in result
    for key, value in expected.items():
        assert result[key] == value, key
    assert isinstance(result["diff"]["before"], str) and isinstance(result["diff"]["after"], str)


@pytest.mark.parametrize("case_id,args,commands,fragments", FAILURES, ids=[case[0] for case in FAILURES])
def test_failures(monkeypatch, capsys, case_id, args, commands, fragments):
    result = run(monkeypatch, capsys, args, commands)
    assert result.get("failed") is True
    for fragment in fragments:
        assert fragment in result["msg"]


@pytest.mark.parametrize(
    "current, keychains, state, position, expected",
    [
        ([LOGIN], [CI], "present", "first", [CI, LOGIN]),
        ([LOGIN], [CI], "present", "last", [LOGIN, CI]),
        ([CI], [CI[: -len("-db")]], "present", "first", [CI]),
        ([LOGIN, LOGIN], [], "present", "first", [LOGIN]),
        ([LOGIN, CI], [CI[: -len("-db")]], "absent", "first", [LOGIN]),
        ([LOGIN], [CI, CI], "exact", "first", [CI]),
    ],
)
def test_plan(current, keychains, state, position, expected):
    assert keychain_search_list.plan(current, keychains, state, position) == expected


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    """The module takes its lock in ~/Library/Preferences: keep it out of the real HOME."""
    monkeypatch.setenv("HOME", str(tmp_path))
