# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_security: the runner, the batch script, the parsers and the error classifier, on real transcripts."""

import os
import time

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _security as sec
from ansible_collections.macmesh.signing.plugins.module_utils._security import (
    DuplicateItemError,
    InteractionNotAllowedError,
    ItemNotFoundError,
    KeychainExistsError,
    KeychainNotFoundError,
    MacVerificationError,
    NoDefaultKeychainError,
    ParseError,
    Secret,
    SecurityError,
    SecurityRunner,
    UndecodableDataError,
    UnsafeSecretError,
    UnsafeTokenError,
    WrongPasswordError,
    classify_error,
    parse_find_identity,
    parse_keychain_info,
    parse_keychain_list,
)

TRANSCRIPTS = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "transcripts")


def transcript(name):
    with open(os.path.join(TRANSCRIPTS, name), encoding="utf-8") as handle:
        return handle.read()


FX_DIS = ("86890D67F234745572B7EF153C72DEA7CF522EDE", "iPhone Distribution: Tien Le (QG598U658S)")
FX_DEV = ("13F9C39BE0072902F6A60AF738F51BE53E3A8B23", "iPhone Developer: Tien Le (8PKL73LX5A)")


def records(*triples):
    return [{"sha1": sha1, "name": name, "valid": valid} for sha1, name, valid in triples]


# --- find-identity ------------------------------------------------------------------------------


def create_dmg_unredacted():
    """The create-dmg transcript with its X-ed hash digits put back as hex (the poster redacted them)."""
    return transcript("find_identity_v_create_dmg.txt").replace("XXXXX304", "ABCDE304").replace("X", "A")


def test_find_identity_v_lists_every_identity_as_valid():
    assert parse_find_identity(create_dmg_unredacted()) == records(
        ("9ABCDE304D7307AAAA981678FAAAAA50AA5AAA08", "iPhone Developer: johndoe@example.com (T5A7AAAAMA)", True),
        ("0DAAAD187027AAA8ACDAAAAD4C127E46924AAAAA", "Apple Development: johndoe@example.com (2AAVHAAL7A)", True),
    )


def test_redacted_or_cut_short_sha1_is_refused():
    # The poster's X-ed hashes are not 40 hex digits: a parser must not take them for identities.
    with pytest.raises(ParseError, match=r"line 1: SHA-1 '9XXXXX304D7307XXXX981678FAXXXX50AA5XXX08' is not 40 hexadecimal"):
        parse_find_identity(transcript("find_identity_v_create_dmg.txt"))
    with pytest.raises(ParseError, match="line 1: SHA-1 '86890D67F2' is not 40 hexadecimal"):
        parse_find_identity('  1) 86890D67F2 "%s"\n     1 valid identities found\n' % FX_DIS[1])
    with pytest.raises(ParseError, match="not 40 hexadecimal"):
        parse_find_identity('  1) %s0 "%s"\n     1 valid identities found\n' % FX_DIS)


@pytest.mark.parametrize("text", [
    "",
    "\n",
    transcript("list_keychains_user_cargo.txt"),
    transcript("list_keychains_git_list.txt"),
    "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.\n",
])
def test_text_of_another_command_is_not_no_identities(text):
    with pytest.raises(ParseError, match="not (security )?find-identity output"):
        parse_find_identity(text)


def test_count_that_differs_from_the_listing_is_refused():
    fx = transcript("find_identity_fx_studio.txt").splitlines(True)
    # The listing cut after its first entry still carries the count of two.
    cut = "".join(line for index, line in enumerate(fx) if index != 7)
    with pytest.raises(ParseError, match="line 8 counts 2 identities but 1 are listed"):
        parse_find_identity(cut)
    with pytest.raises(ParseError, match="cut short"):
        parse_find_identity("".join(fx[:-1]))


def test_find_identity_without_v_lists_each_identity_once():
    assert parse_find_identity(transcript("find_identity_fx_studio.txt")) == records(FX_DIS + (True,), FX_DEV + (True,))


def test_find_identity_tolerates_blank_line_before_valid_section():
    text = transcript("find_identity_fx_studio.txt").replace("  Valid identities only", "\n  Valid identities only")
    assert "\n\n  Valid identities only" in text
    assert parse_find_identity(text) == records(FX_DIS + (True,), FX_DEV + (True,))


def test_identity_only_in_matching_section_is_invalid():
    fx = transcript("find_identity_fx_studio.txt")
    matching = fx[: fx.index("     2 identities found")]
    text = matching + "     2 identities found\n\n  Valid identities only\n     0 valid identities found\n"
    assert parse_find_identity(text) == records(FX_DIS + (False,), FX_DEV + (False,))


def test_identity_valid_in_second_section_only_counts_once_as_valid():
    fx = transcript("find_identity_fx_studio.txt").splitlines(True)
    # Drop the developer identity from the valid section: it stays listed, as invalid.
    text = "".join(line for index, line in enumerate(fx) if not (index == 7 and FX_DEV[0] in line))
    text = text.replace("2 valid identities found", "1 valid identities found")
    assert parse_find_identity(text) == records(FX_DIS + (True,), FX_DEV + (False,))


def test_untrusted_identity_with_cssmerr_suffix_is_invalid():
    text = (
        "Policy: Code Signing\n  Matching identities\n  "
        + transcript("find_identity_not_trusted_line.txt")
        + transcript("find_identity_zero_valid_tail.txt")
    )
    assert parse_find_identity(text) == [dict(records(("64CB89C8C7EFA62842BDD1AA76A9FAF321704F72", "jevpaste-dev", False))[0],
                                              status="CSSMERR_TP_NOT_TRUSTED")]


def test_status_suffix_outside_sections_is_invalid():
    text = transcript("find_identity_not_trusted_line.txt") + "     1 identities found\n"
    assert parse_find_identity(text) == [dict(records(
        ("64CB89C8C7EFA62842BDD1AA76A9FAF321704F72", "jevpaste-dev", False)
    )[0], status="CSSMERR_TP_NOT_TRUSTED")]


def test_find_identity_with_no_identity():
    assert parse_find_identity(transcript("find_identity_v_zero_fastlane.txt")) == []
    tail = transcript("find_identity_zero_valid_tail.txt")
    assert parse_find_identity("  Matching identities\n     0 identities found\n" + tail[tail.index("\n"):]) == []


def test_a_fragment_is_refused():
    # The tail alone counts an identity it does not list: not a whole find-identity output.
    with pytest.raises(ParseError, match="line 1 counts 1 identities but 0 are listed"):
        parse_find_identity(transcript("find_identity_zero_valid_tail.txt"))


def test_cargo_codesign_mixed_log_is_not_find_identity_output():
    # A CI log mixing several commands (and a hash the poster cut short) is refused, naming the line.
    with pytest.raises(ParseError, match="line 1 is not find-identity output: '=== find-identity"):
        parse_find_identity(transcript("cargo_codesign_mixed.txt"))


def test_each_find_identity_run_starts_a_fresh_section():
    fx = transcript("find_identity_fx_studio.txt")
    text = fx[: fx.index("  Matching")] + "  Matching identities\n     0 identities found\n  Valid identities only\n"
    text += "     0 valid identities found\n" + create_dmg_unredacted()
    assert [identity["valid"] for identity in parse_find_identity(text)] == [True, True]
    # After "N valid identities found" the valid-only section is over: a status suffix counts again.
    text = fx + transcript("find_identity_not_trusted_line.txt") + "     1 identities found\n"
    assert [identity["valid"] for identity in parse_find_identity(text)] == [True, True, False]


def test_lower_case_hash_is_upper_cased():
    result = parse_find_identity('  1) %s "%s"\n     1 valid identities found\n' % (FX_DIS[0].lower(), FX_DIS[1]))
    assert result == records(FX_DIS + (True,))


@pytest.mark.parametrize(
    "line",
    [
        "  1) 86890D67F234745572B7EF153C72DEA7CF522EDE iPhone Distribution\n",
        '  1) "iPhone Distribution"\n',
        '  1) 86890D67F234745572B7EF153C72DEA7CF522EDE "unterminated\n',
    ],
)
def test_numbered_line_that_is_not_an_identity_is_an_error(line):
    with pytest.raises(ParseError, match="line 1"):
        parse_find_identity(line)


def test_find_identity_refuses_bytes():
    with pytest.raises(ParseError):
        parse_find_identity(b"     0 valid identities found\n")


# --- list-keychains / default-keychain ----------------------------------------------------------


def test_list_keychains_user():
    assert parse_keychain_list(transcript("list_keychains_user_cargo.txt")) == [
        "/Users/runner/Library/Keychains/login.keychain-db"
    ]


def test_list_keychains_all_domains():
    assert parse_keychain_list(transcript("list_keychains_git_list.txt")) == [
        "/Users/rc/Library/Keychains/login.keychain-db",
        "/Library/Keychains/System.keychain",
    ]


def test_default_keychain():
    assert parse_keychain_list(transcript("default_keychain_git_list.txt")) == [
        "/Users/rc/Library/Keychains/login.keychain-db"
    ]


def test_keychain_path_with_spaces_and_empty_output():
    assert parse_keychain_list('    "/Users/a b/Library/Keychains/x.keychain-db"\n\n') == [
        "/Users/a b/Library/Keychains/x.keychain-db"
    ]
    assert parse_keychain_list("") == []


def test_keychain_list_refuses_other_lines():
    with pytest.raises(ParseError, match="line 1"):
        parse_keychain_list(transcript("default_keychain_none.txt"))


# --- show-keychain-info -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("show_keychain_info_new_bats.txt", {"path": "${PW_KEYCHAIN}", "lock_on_sleep": True, "timeout": 300}),
        (
            "show_keychain_info_no_timeout.txt",
            {"path": "/Users/choonkeat/Library/Keychains/login.keychain-db", "lock_on_sleep": False, "timeout": None},
        ),
        (
            "show_keychain_info_21600.txt",
            {"path": "/Users/x/Library/Keychains/login.keychain-db", "lock_on_sleep": True, "timeout": 21600},
        ),
    ],
)
def test_show_keychain_info_transcripts(name, expected):
    assert parse_keychain_info(transcript(name)) == expected


@pytest.mark.parametrize(
    "words, lock_on_sleep, timeout",
    [
        ("no-timeout", False, None),
        ("lock-on-sleep no-timeout", True, None),
        ("timeout=900s", False, 900),
        ("lock-on-sleep timeout=300s", True, 300),
    ],
)
def test_show_keychain_info_grammar(words, lock_on_sleep, timeout):
    line = 'Keychain "/Users/ci-build/Library/Keychains/ci build.keychain-db" %s\n' % words
    assert parse_keychain_info(line) == {
        "path": "/Users/ci-build/Library/Keychains/ci build.keychain-db",
        "lock_on_sleep": lock_on_sleep,
        "timeout": timeout,
    }


def test_show_keychain_info_found_in_either_stream():
    stderr = transcript("show_keychain_info_new_bats.txt")
    assert parse_keychain_info(stderr + "\n" + "")["timeout"] == 300
    assert parse_keychain_info("" + "\n" + stderr)["timeout"] == 300


@pytest.mark.parametrize(
    "text",
    [
        transcript("show_keychain_info_locked.txt"),
        'Keychain "/k" lock-on-sleep\n',
        'Keychain "/k" no-timeout timeout=5s\n',
        'Keychain "/k" sometimes\n',
        "",
    ],
)
def test_show_keychain_info_errors(text):
    with pytest.raises(ParseError):
        parse_keychain_info(text)


# --- classify_error -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, rc, cls",
    [
        ("create_keychain_exists.txt", 48, KeychainExistsError),
        ("unlock_wrong_password.txt", 51, WrongPasswordError),
        ("partition_list_wrong_password.txt", 1, WrongPasswordError),
        ("import_wrong_password.txt", 1, WrongPasswordError),
        ("show_keychain_info_locked.txt", 36, InteractionNotAllowedError),
        ("import_undecodable.txt", 1, UndecodableDataError),
        ("import_mac_verification.txt", 1, MacVerificationError),
        ("import_duplicate.txt", 1, DuplicateItemError),
        ("show_keychain_info_not_found.txt", 50, KeychainNotFoundError),
        ("default_keychain_none.txt", 1, NoDefaultKeychainError),
        ("codesign_item_not_found.txt", 1, ItemNotFoundError),
    ],
)
def test_known_errors_are_classified_from_stderr(name, rc, cls):
    text = transcript(name)
    error = classify_error(rc, "", text)
    assert error.__class__ is cls
    assert str(error) == text.strip()
    assert error.rc == rc and error.err == text
    # security -i may exit 0 after a failed command: the text alone decides.
    assert classify_error(0, "", text).__class__ is cls
    # Text on stdout counts too.
    assert classify_error(0, text, "").__class__ is cls


def test_every_error_class_has_its_own_operator_hint():
    classes = [
        KeychainExistsError,
        WrongPasswordError,
        InteractionNotAllowedError,
        UndecodableDataError,
        MacVerificationError,
        DuplicateItemError,
        KeychainNotFoundError,
        NoDefaultKeychainError,
        ItemNotFoundError,
    ]
    hints = [cls.hint for cls in classes]
    assert len(set(hints + [SecurityError.hint])) == len(classes) + 1
    assert "openssl pkcs12 -export -legacy" in MacVerificationError.hint
    assert "openssl pkcs12 -export -legacy" in UndecodableDataError.hint
    assert "keychain_search_list" in ItemNotFoundError.hint
    assert "HOME" in NoDefaultKeychainError.hint


def test_describe_joins_message_and_hint():
    error = classify_error(1, "", transcript("import_mac_verification.txt"))
    assert error.describe() == (
        "security: SecKeychainItemImport: MAC verification failed during PKCS12 import (wrong password?) Hint: "
        + MacVerificationError.hint
    )


def test_exit_48_alone_means_keychain_exists():
    assert classify_error(48, "", "").__class__ is KeychainExistsError


def test_batch_returned_48_means_keychain_exists():
    assert classify_error(0, "", "create-keychain: returned 48\n").__class__ is KeychainExistsError


def test_first_known_line_wins():
    err = transcript("import_duplicate.txt") + transcript("partition_list_wrong_password.txt")
    assert classify_error(1, "", err).__class__ is DuplicateItemError


def test_unknown_failure_is_a_plain_security_error():
    err = transcript("partition_list_missing_value.txt")
    error = classify_error(1, "", err)
    assert error.__class__ is SecurityError
    assert str(error) == err.strip()


def test_unknown_failure_inside_a_batch_exiting_zero():
    err = transcript("partition_list_missing_value.txt") + "set-key-partition-list: returned 1\n"
    error = classify_error(0, "", err)
    assert error.__class__ is SecurityError
    assert str(error) == err.splitlines()[0]


def test_failure_without_text():
    assert str(classify_error(2, "", "")) == "security exited with code 2"


@pytest.mark.parametrize(
    "out, err",
    [
        (transcript("import_p12_ok.txt"), ""),
        (transcript("import_openssl_ok.txt"), ""),
        ("", transcript("show_keychain_info_new_bats.txt")),
        ("<?xml version=\"1.0\"?>", transcript("cms_policy_noise.txt")),
        (transcript("find_identity_v_zero_fastlane.txt"), ""),
    ],
)
def test_success_is_not_an_error(out, err):
    assert classify_error(0, out, err) is None


# --- runner and batch ---------------------------------------------------------------------------


class Recorder(object):
    def __init__(self, result=(0, "", "")):
        self.calls = []
        self.result = result

    def __call__(self, argv, data=None):
        self.calls.append((argv, data))
        return self.result


def split_line(line):
    """Python port of split_line() in Apple's SecurityTool/security.c, to read back a batch line."""
    args, current, state, quote = [], None, "skip", None
    for char in line:
        if state == "skip":
            if char.isspace():
                continue
            if char in "\"'":
                quote, state, current = char, "quoted", ""
                continue
            state, current = "arg", ""
        if state == "arg":
            if char == "\\":
                state = "arg-escaped"
                continue
            if char.isspace():
                args.append(current)
                state = "skip"
            else:
                current += char
            continue
        if state == "quoted":
            if char == "\\":
                state = "quoted-escaped"
                continue
            if char == quote:
                args.append(current)
                state = "skip"
            else:
                current += char
            continue
        current += char
        state = "arg" if state == "arg-escaped" else "quoted"
    if state != "skip":
        args.append(current)
    return args


def test_run_passes_an_argv_list():
    recorder = Recorder((0, "out", "err"))
    assert SecurityRunner(recorder).run("show-keychain-info", "/k k") == (0, "out", "err")
    assert recorder.calls == [(["/usr/bin/security", "show-keychain-info", "/k k"], None)]


def test_run_refuses_secrets_on_argv():
    recorder = Recorder()
    with pytest.raises(UnsafeSecretError):
        SecurityRunner(recorder).run("unlock-keychain", "-p", Secret("pw"), "/k")
    assert recorder.calls == []


def test_batch_feeds_security_i_on_stdin():
    recorder = Recorder((0, "", ""))
    lines = [
        ["unlock-keychain", "-p", Secret("S3cret_pw.=+@%/,:-"), "/Users/ci-build/Library/Keychains/ci-build.keychain-db"],
        ["list-keychains", "-d", "user", "-s", "/Users/ci-build/Library/Provisioning Profiles/x.keychain-db"],
    ]
    SecurityRunner(recorder).batch(lines)
    assert recorder.calls == [
        (
            ["/usr/bin/security", "-i"],
            '"unlock-keychain" "-p" "S3cret_pw.=+@%/,:-" "/Users/ci-build/Library/Keychains/ci-build.keychain-db"\n'
            '"list-keychains" "-d" "user" "-s" "/Users/ci-build/Library/Provisioning Profiles/x.keychain-db"\n',
        )
    ]
    script = recorder.calls[0][1]
    assert [split_line(line) for line in script.splitlines()] == [
        [token.value if isinstance(token, Secret) else token for token in line] for line in lines
    ]


@pytest.mark.parametrize("secret", ["pass word", 'pa"ss', "pa'ss", "pa\\ss", "pa$ss", "pa`ss", "p\nw", "", "pässword", 42])
def test_unsafe_secret_is_refused_before_anything_runs(secret):
    recorder = Recorder()
    lines = [["list-keychains"], ["unlock-keychain", "-p", Secret(secret), "/k"]]
    with pytest.raises(UnsafeSecretError) as info:
        SecurityRunner(recorder).batch(lines)
    assert recorder.calls == []
    if isinstance(secret, str) and secret:
        assert secret not in str(info.value)


@pytest.mark.parametrize("token", ['/k"k', "/k\\k", "/k\nk", "/k\tk", "/k\x7fk", None, True, 1.5])
def test_unsafe_plain_token_is_refused(token):
    recorder = Recorder()
    with pytest.raises(UnsafeTokenError) as info:
        SecurityRunner(recorder).batch([["show-keychain-info", token]])
    assert not isinstance(info.value, UnsafeSecretError)
    assert recorder.calls == []


def test_batch_allows_integers_and_empty_tokens():
    recorder = Recorder()
    SecurityRunner(recorder).batch([["set-keychain-settings", "-t", 300, "/k"], ["import", "/p", "-P", ""]])
    assert recorder.calls[0][1] == '"set-keychain-settings" "-t" "300" "/k"\n"import" "/p" "-P" ""\n'
    assert split_line('"import" "/p" "-P" ""') == ["import", "/p", "-P", ""]


def test_secret_repr_hides_the_value():
    assert "hunter2" not in repr(Secret("hunter2"))
    assert "hunter2" not in str(Secret("hunter2"))


def test_batch_line_limits_of_security_i():
    recorder = Recorder()
    runner = SecurityRunner(recorder)
    runner.batch([["list-keychains", "-s"] + ["/k%d" % i for i in range(30)]])
    with pytest.raises(UnsafeTokenError, match="32 arguments"):
        runner.batch([["list-keychains", "-s"] + ["/k%d" % i for i in range(31)]])
    with pytest.raises(UnsafeTokenError, match="4095 bytes"):
        runner.batch([["show-keychain-info", "/" + "k" * 4090]])
    with pytest.raises(UnsafeTokenError):
        runner.batch([[]])
    assert len(recorder.calls) == 1


def test_module_runner_sets_lc_all_and_passes_stdin():
    class FakeModule(object):
        def __init__(self):
            self.calls = []

        def run_command(self, argv, **kwargs):
            self.calls.append((argv, kwargs))
            return 0, "", ""

    module = FakeModule()
    runner = sec.module_runner(module)
    runner.run("list-keychains", "-d", "user")
    runner.batch([["lock-keychain", "/k"]])
    assert module.calls == [
        (
            ["/usr/bin/security", "list-keychains", "-d", "user"],
            {"data": None, "environ_update": {"LC_ALL": "C"}, "binary_data": False, "check_rc": False,
             "before_communicate_callback": module.calls[0][1]["before_communicate_callback"]},
        ),
        (
            ["/usr/bin/security", "-i"],
            {"data": '"lock-keychain" "/k"\n', "environ_update": {"LC_ALL": "C"}, "binary_data": False, "check_rc": False,
             "before_communicate_callback": module.calls[1][1]["before_communicate_callback"]},
        ),
    ]


def test_is_safe_secret():
    assert sec.is_safe_secret("Abc-123_x.y,z:+=@%/")
    assert not sec.is_safe_secret("a b")
    assert not sec.is_safe_secret(None)


def test_module_runner_stops_a_hung_command_with_a_clear_error():
    """§4.2: a blocked security/codesign is killed at the bound; the error names the likely causes."""
    import subprocess

    class RealModule(object):
        def run_command(self, argv, data=None, before_communicate_callback=None, **kwargs):
            proc = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            before_communicate_callback(proc)
            out, err = proc.communicate()
            return proc.returncode, out.decode(), err.decode()

    started = time.monotonic()
    with pytest.raises(sec.SecurityTimeoutError) as info:
        sec.module_runner(RealModule(), timeout=1).run("find-identity", "-v")
    assert time.monotonic() - started < 10
    text = info.value.describe()
    assert "did not finish within 1 s" in text
    assert "keychain is locked" in text and "partition list" in text and "prompt" in text


def test_lists_lock_serialises_writers(tmp_path):
    path = str(tmp_path / "Library" / "Preferences" / sec.LOCK_NAME)
    with sec.lists_lock(path):
        with pytest.raises(sec.LockTimeoutError):
            import multiprocessing  # noqa: F401  (a second open file description, same process)
            fd = os.open(path, os.O_RDWR)
            try:
                import fcntl
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise sec.LockTimeoutError("held")
            finally:
                os.close(fd)
