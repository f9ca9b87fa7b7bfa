"""Conformance of the emulated `security` keychain commands with the reference transcripts
(/work/shared/reference/macos-security-cli.md; section numbers below). Expected texts are literals
copied from the reference, with only the keychain path substituted."""

import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import SECURITY, Lab


def test_create_keychain_materialises_db_file_owned_by_caller(lab):
    plain = lab.root / "FooProject.keychain"
    result = lab.security("create-keychain", "-p", "pw", plain)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    db = lab.root / "FooProject.keychain-db"  # §3.6: create-keychain <name> materialises <name>-db
    assert db.is_file() and not plain.exists()
    st = os.stat(db)
    assert st.st_uid == os.getuid() and st.st_mode & 0o777 == 0o644
    assert "pw" not in db.read_text()


def test_create_keychain_exists_exit_48_names_argument_as_given(lab):
    lab.security("create-keychain", "-p", "pw", lab.root / "FooProject.keychain")
    for given in ("FooProject.keychain", "FooProject.keychain-db"):
        result = lab.security("create-keychain", "-p", "pw", lab.root / given)
        assert result.returncode == 48  # §3.6
        assert result.stderr == ("security: SecKeychainCreate %s: A keychain with the same name already exists.\n"
                                 % (lab.root / given))


def test_bare_name_lives_in_users_keychains_dir(lab):
    assert lab.security("create-keychain", "-p", "pw", "FooProject.keychain-db").returncode == 0
    assert (lab.home / "Library" / "Keychains" / "FooProject.keychain-db").is_file()
    result = lab.security("create-keychain", "-p", "pw", "FooProject.keychain-db")
    assert result.stderr == ("security: SecKeychainCreate FooProject.keychain-db: "
                             "A keychain with the same name already exists.\n")


def test_list_keychains_default_user_list_and_system(lab):
    login = lab.home / "Library" / "Keychains" / "login.keychain-db"
    result = lab.security("list-keychains")
    assert result.stdout == '    "%s"\n    "/Library/Keychains/System.keychain"\n' % login  # §3.3
    assert lab.security("list-keychains", "-d", "user").stdout == '    "%s"\n' % login


def test_list_keychains_set_replaces_the_user_list_in_a_real_plist(lab):
    import plistlib
    db = lab.keychain()
    other = str(lab.root / "b.keychain-db")
    assert lab.security("list-keychains", "-d", "user", "-s", db, other).returncode == 0
    assert lab.security("list-keychains", "-d", "user").stdout == '    "%s"\n    "%s"\n' % (db, other)
    with open(lab.home / "Library" / "Preferences" / "com.apple.security.plist", "rb") as handle:
        prefs = plistlib.load(handle)
    assert [entry["DbName"] for entry in prefs["DLDBSearchList"]] == [db, other]
    # fastlane#12337: -s with one keychain drops every other one
    lab.security("list-keychains", "-d", "user", "-s", other)
    assert lab.security("list-keychains").stdout == '    "%s"\n    "/Library/Keychains/System.keychain"\n' % other


def test_default_keychain_missing_and_set(lab):
    result = lab.security("default-keychain")
    assert result.returncode != 0
    assert result.stderr == "security: SecKeychainCopyDefault: A default keychain could not be found.\n"  # §2.6
    db = lab.keychain()
    assert lab.security("default-keychain", "-d", "user", "-s", db).returncode == 0
    assert lab.security("default-keychain").stdout == '    "%s"\n' % db  # §3.4


def test_show_keychain_info_new_keychain_on_stderr(lab):
    db = lab.keychain()
    result = lab.security("show-keychain-info", db)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == 'Keychain "%s" lock-on-sleep timeout=300s\n' % db  # §3.5 (new keychain)


def test_set_keychain_settings_grammar(lab):
    db = lab.keychain()
    cases = [
        ((), "no-timeout"),
        (("-l",), "lock-on-sleep no-timeout"),
        (("-t", "900"), "timeout=900s"),
        (("-l", "-u", "-t", "300"), "lock-on-sleep timeout=300s"),
        (("-t", "21600", "-l"), "lock-on-sleep timeout=21600s"),
    ]
    for flags, expected in cases:
        assert lab.security("set-keychain-settings", *(flags + (db,))).returncode == 0
        assert lab.security("show-keychain-info", db).stderr == 'Keychain "%s" %s\n' % (db, expected)


def test_show_keychain_info_locked_and_missing(lab):
    db = lab.keychain()
    assert lab.security("lock-keychain", db).returncode == 0
    result = lab.security("show-keychain-info", db)
    assert result.returncode != 0
    assert result.stderr == "security: SecKeychainCopySettings %s: User interaction is not allowed.\n" % db
    result = lab.security("show-keychain-info", lab.root / "missing.keychain-db")
    assert result.returncode != 0
    assert result.stderr == "security: SecKeychainCopySettings: The specified keychain could not be found.\n"


def test_unlock_wrong_password_really_fails(lab):
    db = lab.keychain(password="right-one")
    lab.security("lock-keychain", db)
    result = lab.security("unlock-keychain", "-p", "wrong-one", db)
    assert result.returncode != 0
    assert result.stderr == ("security: SecKeychainUnlock %s: The user name or passphrase you entered is not correct.\n"
                             % db)  # §3.8
    assert lab.security("show-keychain-info", db).returncode != 0  # still locked
    assert lab.security("unlock-keychain", "-p", "right-one", db).returncode == 0
    assert lab.security("show-keychain-info", db).returncode == 0


def test_unlocking_an_unlocked_keychain_with_wrong_password_succeeds(lab):
    """rdar://3835412, kept as a TODO in Apple's own regression test (§3.8)."""
    db = lab.keychain(password="right-one")
    result = lab.security("unlock-keychain", "-p", "wrong-one", db)
    assert (result.returncode, result.stderr) == (0, "")


def test_reboot_locks_every_keychain(lab):
    db = lab.keychain()
    assert lab.security("show-keychain-info", db).returncode == 0
    lab.reboot()
    assert "User interaction is not allowed." in lab.security("show-keychain-info", db).stderr


def test_timeout_locks_after_inactivity(lab):
    db = lab.keychain()
    lab.security("set-keychain-settings", "-t", "60", db)
    assert lab.security("show-keychain-info", db).returncode == 0
    (lab.root / "state").mkdir(exist_ok=True)
    (lab.root / "state" / "clock_advance").write_text("61")  # the node's clock, not a real wait
    assert "User interaction is not allowed." in lab.security("show-keychain-info", db).stderr


def test_unlock_state_is_per_keychain_file_instance(lab):
    db = lab.keychain(password="one")
    os.unlink(db)
    assert lab.security("create-keychain", "-p", "two", db).returncode == 0
    lab.security("lock-keychain", db)
    assert lab.security("unlock-keychain", "-p", "one", db).returncode != 0


def test_delete_keychain_removes_file_and_search_list_entry(lab):
    db = lab.keychain()
    assert lab.security("delete-keychain", db).returncode == 0
    assert not os.path.exists(db)
    assert db not in lab.security("list-keychains", "-d", "user").stdout


def test_unknown_command_and_usage(lab):
    result = lab.security("frobnicate")
    assert (result.returncode, result.stderr) == (1, 'security: unknown command "frobnicate"\n')
    result = lab.security("create-keychain")
    assert result.returncode == 2 and result.stderr.startswith("Usage: create-keychain")


def test_interactive_mode_runs_lines_and_keeps_secrets_out_of_audit(lab):
    db = str(lab.root / "ci-build.keychain-db")
    script = ('create-keychain -p "Sup3r-Secret_pw" "%s"\n'
              'lock-keychain "%s"\n'
              "\n"
              'unlock-keychain -p "Sup3r-Secret_pw" "%s"\n'
              'set-keychain-settings "%s"\n' % (db, db, db, db))
    result = lab.security("-i", stdin=script)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert lab.security("show-keychain-info", db).stderr == 'Keychain "%s" no-timeout\n' % db
    assert "Sup3r-Secret_pw" not in lab.audit.read_text()
    assert [line["argv"][1:] for line in lab.audit_lines()] == [["-i"], ["show-keychain-info", db]]


def test_interactive_reports_each_failure_and_exits_with_the_last_status(lab):
    db = lab.keychain()
    result = lab.security("-i", stdin='create-keychain -p x "%s"\nlist-keychains -d user\n' % db)
    assert result.returncode == 0
    assert result.stdout == '    "%s"\n' % db
    assert result.stderr == ("security: SecKeychainCreate %s: A keychain with the same name already exists.\n"
                             "create-keychain: returned 48\n" % db)
    result = lab.security("-i", stdin='list-keychains -d user\ncreate-keychain -p x "%s"\n' % db)
    assert result.returncode == 48
    assert result.stderr.endswith("create-keychain: returned 48\n")


def test_tokenizer_follows_split_line_quotes_and_escapes():
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "seed", "usr", "lib", "macemu"))
    import security_cli
    assert security_cli.tokenize('a "b c" "" d\\e \'f "g\' h\\ i\n') == ["a", "b c", "", "de", 'f "g', "h i"]
    assert len(security_cli.tokenize(" ".join(["w"] * 40))) == 32


def test_audit_line_per_invocation(lab):
    lab.security("list-keychains")
    lab.codesign("-dvvv", lab.root / "nothing")
    lines = lab.audit_lines()
    assert [os.path.basename(line["argv"][0]) for line in lines] == ["security", "codesign"]
    assert lines[0]["argv"][1:] == ["list-keychains"]
    assert set(lines[0]) == {"ts", "node", "user", "uid", "argv"}
    assert lines[0]["node"] == "hk" and lines[0]["uid"] == os.getuid()
    assert os.stat(lab.audit).st_mode & 0o777 == 0o666
    json.dumps(lines)


def test_other_users_append_to_audit_and_have_their_own_unlock_state():
    """Needs root: a second uid (nobody) shares the node's audit log and run dir."""
    if os.getuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to act as a second user")
    root = tempfile.mkdtemp(prefix="macemu-users-")  # pytest's tmp_path is private to root
    try:
        os.chmod(root, 0o777)
        lab = Lab(pathlib.Path(root))
        os.chmod(lab.home, 0o777)
        db = os.path.join(root, "nobody.keychain-db")
        lab.security("list-keychains")  # root creates the audit log first
        as_nobody = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                    SECURITY, "create-keychain", "-p", "pw", db],
                                   env=lab.env, capture_output=True, text=True)
        assert as_nobody.returncode == 0, as_nobody.stderr
        assert os.stat(db).st_uid == 65534
        assert [line["uid"] for line in lab.audit_lines()] == [0, 65534]
        # nobody's unlock (create leaves a keychain unlocked) is not root's
        assert "User interaction is not allowed." in lab.security("show-keychain-info", db).stderr
    finally:
        shutil.rmtree(root)
