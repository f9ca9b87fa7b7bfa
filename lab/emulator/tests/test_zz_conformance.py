"""Conformance: every line the emulated `security`, `codesign` and `pmset` print must match a catalogue
entry, and every catalogue entry names its source: a transcript fixture (the product's
tests/unit/fixtures/transcripts/ or the lab-owned transcripts/ here) whose lines the entry must match,
or "assumed" (then lab/emulator/README.md lists the behaviour as assumed).

The file is named to run last: it checks the lines printed by every emulator test of the session
(conftest.PRINTED) plus its own scenarios, which cover the texts of reference §4.
"""

import os
import re

import pytest

import conftest
from conftest import make_identity, sha1_of
from test_codesign import DEV, signing_keychain

HERE = os.path.dirname(os.path.abspath(__file__))
PRODUCT = os.path.join(HERE, "..", "..", "..", "tests", "unit", "fixtures", "transcripts")
LAB = os.path.join(HERE, "transcripts")
MSG = (r"(One or more parameters passed to a function were not valid|Write permissions error|An internal component failed"
       r"|The user name or passphrase you entered is not correct|The specified keychain could not be found"
       r"|A keychain with the same name already exists|The specified item already exists in the keychain"
       r"|The specified item could not be found in the keychain|A default keychain could not be found"
       r"|User interaction is not allowed|MAC verification failed during PKCS12 import \(wrong password\?\)"
       r"|Unable to decode the provided data|A missing value was detected)\.?")


def fixture(name):
    return os.path.join(LAB if name.startswith("lab:") else PRODUCT, name.split(":", 1)[-1])


# (tool, regex, source): source is a fixture file ("lab:" = lab-owned) or "assumed".
CATALOGUE = [
    # sysctl -n prints the bare value of a numeric key (lab/emulator/SYSTEM.md lists the keys).
    ("sysctl", r"\d+", "assumed"),
    # security: keychains and lists
    ("security", r'    ".+"', "list_keychains_git_list.txt"),
    ("security", r"security: SecKeychainCreate .+: A keychain with the same name already exists\.", "create_keychain_exists.txt"),
    ("security", r"security: SecKeychainCopyDefault: A default keychain could not be found\.", "default_keychain_none.txt"),
    ("security", r'Keychain ".+" lock-on-sleep timeout=\d+s', "show_keychain_info_new_bats.txt"),
    ("security", r'Keychain ".+" no-timeout', "show_keychain_info_no_timeout.txt"),
    ("security", r'Keychain ".+"( lock-on-sleep)?( timeout=\d+s| no-timeout)', "assumed"),  # the other combinations
    ("security", r"security: SecKeychainCopySettings .+: User interaction is not allowed\.", "show_keychain_info_locked.txt"),
    ("security", r"security: SecKeychainCopySettings: The specified keychain could not be found\.", "show_keychain_info_not_found.txt"),
    ("security", r"security: SecKeychainUnlock .+: The user name or passphrase you entered is not correct\.", "unlock_wrong_password.txt"),
    ("security", r"security: SecKeychainUnlock: The user name or passphrase you entered is not correct\.", "partition_list_wrong_password.txt"),
    ("security", r"security: SecKeychainItemCopyAccess: A missing value was detected\.", "partition_list_missing_value.txt"),
    # security: import
    ("security", r"1 identity imported\.", "import_p12_ok.txt"),
    ("security", r"1 key imported\.", "import_openssl_ok.txt"),
    ("security", r"1 certificate imported\.", "import_openssl_ok.txt"),
    ("security", r"\d+ (identities|keys|certificates) imported\.", "assumed"),
    ("security", r"security: SecKeychainItemImport: The specified item already exists in the keychain\.", "import_duplicate.txt"),
    ("security", r"security: SecKeychainItemImport: Unable to decode the provided data\.", "import_undecodable.txt"),
    ("security", r"security: SecKeychainItemImport: The user name or passphrase you entered is not correct\.", "import_wrong_password.txt"),
    ("security", r"security: SecKeychainItemImport: MAC verification failed during PKCS12 import \(wrong password\?\)", "import_mac_verification.txt"),
    # security: find-identity
    ("security", r"Policy: Code Signing", "find_identity_fx_studio.txt"),
    ("security", r"Policy: (X\.509 Basic|SSL \(client\)|SSL \(server\)|S/MIME)", "assumed"),
    ("security", r"  Matching identities", "find_identity_fx_studio.txt"),
    ("security", r"  Valid identities only", "find_identity_fx_studio.txt"),
    ("security", r' {1,3}\d+\) [0-9A-F]{40} ".+"', "find_identity_fx_studio.txt"),
    ("security", r' {1,3}\d+\) [0-9A-F]{40} ".+" \((CSSMERR_TP_CERT_EXPIRED|CSSMERR_TP_NOT_TRUSTED)\)', "lab:find_identity_expired_dts.txt"),
    ("security", r' {1,3}\d+\) [0-9A-F]{40} ".+" \(CSSMERR_TP_CERT_NOT_VALID_YET\)', "assumed"),
    ("security", r"     \d+ identities found", "find_identity_fx_studio.txt"),
    ("security", r"     \d+ valid identities found", "find_identity_fx_studio.txt"),
    ("security", r"", "find_identity_zero_valid_tail.txt"),
    # security: set-key-partition-list dump (§3.7)
    ("security", r'keychain: ".+"', "lab:partition_list_dump_fx_studio.txt"),
    ("security", r"version: 512", "lab:partition_list_dump_fx_studio.txt"),
    ("security", r"class: 0x00000010 ", "lab:partition_list_dump_fx_studio.txt"),
    ("security", r"attributes:", "lab:partition_list_dump_fx_studio.txt"),
    ("security", r"    0x[0-9A-F]{8} <(uint32|blob)>=.*", "lab:partition_list_dump_fx_studio.txt"),
    ("security", r"    0x[0-9A-F]{8} <timedate>=.*", "assumed"),
    # security: find-certificate (assumed layout), cms
    ("security", r"version: 256|class: 0x80001000 ", "assumed"),
    ("security", r'    "[a-z]{4}"<(blob|uint32)>=.*', "assumed"),
    ("security", r"SHA-(256|1) hash: [0-9A-F]+", "assumed"),
    ("security", r"-----(BEGIN|END) CERTIFICATE-----|[A-Za-z0-9+/=]{1,64}", "assumed"),
    ("security", r"security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain\.", "assumed"),
    ("security", r'security: unable to open ".+" for reading: No such file or directory', "lab:cms_unable_to_open.txt"),
    ("security", r"security: cert import failed: One or more parameters passed to a function were not valid\.", "lab:cms_problem_decoding.txt"),
    ("security", r"security: problem decoding", "lab:cms_problem_decoding.txt"),
    # security: everything else is assumed
    ("security", r"security: \w+( .+)?: " + MSG, "assumed"),
    ("security", r"[a-z-]+: returned -?\d+", "assumed"),
    ("security", r'security: unknown command ".*"', "assumed"),
    ("security", r"Usage: .+", "assumed"),
    ("security", r"security: Error reading infile .+: .+", "assumed"),
    ("security", r'Unable to delete certificate matching ".+"', "assumed"),
    # codesign
    ("codesign", r"error: The specified item could not be found in the keychain\.", "codesign_item_not_found.txt"),
    ("codesign", r"error: The specified item could not be found in the keychain\.", "lab:codesign_expired_dts.txt"),
    ("codesign", r'Warning: unable to build chain to self-signed root for signer ".+"', "lab:codesign_missing_issuer_forum.txt"),
    ("codesign", r".+: errSecInternalComponent", "lab:codesign_missing_issuer_forum.txt"),
    ("codesign", r"Executable=.+", "lab:codesign_display_drduh.txt"),
    ("codesign", r"Identifier=.+", "lab:codesign_display_drduh.txt"),
    ("codesign", r"Format=generic", "assumed"),
    ("codesign", r"CodeDirectory v=\d+ size=\d+ flags=0x0\(none\) hashes=\d+\+\d+ location=embedded", "lab:codesign_display_drduh.txt"),
    ("codesign", r"Hash type=sha256 size=32|CandidateCDHash sha256=[0-9a-f]{40}", "assumed"),
    ("codesign", r"CandidateCDHashFull sha256=\S+", "lab:codesign_display_1password.txt"),
    ("codesign", r"Hash choices=sha256", "lab:codesign_display_1password.txt"),
    ("codesign", r"CMSDigest=\S+", "lab:codesign_display_1password.txt"),
    ("codesign", r"CMSDigestType=2", "lab:codesign_display_1password.txt"),
    ("codesign", r"Page size=4096", "lab:codesign_display_1password.txt"),
    ("codesign", r"CDHash=[0-9a-f]{40}", "lab:codesign_display_1password.txt"),
    ("codesign", r"Signature size=\d+", "lab:codesign_display_drduh.txt"),
    ("codesign", r"Authority=.+", "lab:codesign_display_drduh.txt"),
    ("codesign", r"Signed Time=[A-Z][a-z]{2} \d{1,2}, \d{4} at \d{1,2}:\d{2}:\d{2} [AP]M", "lab:codesign_display_drduh.txt"),
    ("codesign", r"Timestamp=[A-Z][a-z]{2} \d{1,2}, \d{4} at \d{1,2}:\d{2}:\d{2} [AP]M", "lab:codesign_display_1password.txt"),
    ("codesign", r"TeamIdentifier=.+", "lab:codesign_display_drduh.txt"),
    ("codesign", r"Internal requirements count=\d+ size=\d+", "lab:codesign_display_drduh.txt"),
    ("codesign", r"Info\.plist=not bound|Sealed Resources=none", "assumed"),
    ("codesign", r".+: (no identity found|is already signed|replacing existing signature|code object is not signed at all"
                 r"|invalid signature \(code or signature have been modified\)|valid on disk"
                 r"|satisfies its Designated Requirement|No such file or directory)", "assumed"),
    ("codesign", r'.+: ambiguous \(matches ".+" and ".+" in .+\)', "assumed"),  # §2.8, prefix elided there
    ("codesign", r"(Usage: |       )codesign .+", "assumed"),
    ("pmset", r"Sleeping now\.\.\.|Usage: pmset sleepnow", "assumed"),
]


def fixture_lines(name):
    with open(fixture(name), encoding="utf-8") as handle:
        return handle.read().splitlines()


@pytest.mark.parametrize("tool,pattern,source", [c for c in CATALOGUE if c[2] != "assumed"])
def test_every_sourced_text_is_in_its_transcript(tool, pattern, source):
    assert any(re.fullmatch(pattern, line) for line in fixture_lines(source)), \
        "%s: %r matches no line of %s" % (tool, pattern, source)


def matches(tool, line):
    return [source for t, pattern, source in CATALOGUE if t == tool and re.fullmatch(pattern, line)]


def test_the_catalogue_refuses_an_invented_text():
    assert not matches("security", "security: delete-identity: The item was not found.")
    assert not matches("codesign", "Warning: could not build a chain for signer")


def test_section_4_texts(lab, bare_lab, dev_identity, lab_ca, tmp_path):
    """Print the §4 texts (trust marks, chain warning, expired codesign), so they are checked below."""
    target = tmp_path / "f.txt"
    target.write_text("x\n")
    db = signing_keychain(bare_lab, dev_identity)
    bare_lab.security("find-identity", "-p", "codesigning", db)
    bare_lab.codesign("-s", DEV, target)
    expired = make_identity("Apple Development: Old (LAB0TEAM01)", ca=lab_ca, expired=True)
    db = signing_keychain(lab, expired, name="old.keychain")
    lab.security("find-identity", "-p", "codesigning", db)
    lab.codesign("-s", sha1_of(expired[0]), target)
    printed = [p for p in conftest.PRINTED if p[1] in ("find-identity", "-s")]
    assert any("CSSMERR_TP_NOT_TRUSTED" in p[3] for p in printed)
    assert any("unable to build chain" in p[3] for p in printed)


def test_every_printed_line_has_a_source():
    """All lines printed by the emulator during this session (every test above, in file order)."""
    unknown = set()
    for tool, sub, stream, line in conftest.PRINTED:
        if tool == "security" and sub == "cms" and stream == "stdout":
            continue  # the decoded payload (a profile's plist), not a text of security's
        if not matches(tool, line):
            unknown.add((tool, sub, stream, line))
    assert not unknown, "texts without a catalogue entry (add a transcript or mark assumed): %s" % sorted(unknown)[:20]
    assert conftest.PRINTED, "no emulator output was recorded"
