"""testinfra checks of a bootstrapped lab node (molecule verify, ansible backend over SSH).

Every test runs once per node; tier-specific expectations read the node's inventory groups.
No test needs a secret: signing is proven by the signature the bootstrap's verify step left.
"""

import hashlib
import json
import os

import testinfra

KEYCHAIN = "/Users/ci-build/Library/Keychains/ci-build.keychain-db"
WRAPPER = "/usr/local/bin/macmesh-keychain-unlock"
WRAPPER_CONFIG = "/usr/local/etc/macmesh/wrapper.json"
SHIPPED_WRAPPER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "unlock_wrapper", "files",
                               "macmesh-keychain-unlock.py")
PROFILE_ROOT = "/Library/MacMesh/profiles"
XCODE_DIRS = (
    "/Users/ci-build/Library/MobileDevice/Provisioning Profiles",
    "/Users/ci-build/Library/Developer/Xcode/UserData/Provisioning Profiles",
)
VERIFY_FILE = "/Users/ci-build/.macmesh-verify/verify.txt"
TEAM_ID = "DEMO12345A"


def _is_signer(host):
    return "signers" in host.ansible.get_variables()["group_names"]


def test_ci_user_is_hidden_not_admin_no_autologin(host):
    user = host.user("ci-build")
    assert user.exists and user.home == "/Users/ci-build"
    assert "admin" not in user.groups
    assert host.run("dscl . -read /Users/ci-build IsHidden").stdout.split() == ["IsHidden:", "1"]
    auto = host.run("defaults read /Library/Preferences/com.apple.loginwindow autoLoginUser")
    assert auto.rc != 0 and "does not exist" in auto.stderr


def test_keychain_file_owner_and_mode(host):
    keychain = host.file(KEYCHAIN)
    assert keychain.is_file and keychain.user == "ci-build" and keychain.mode == 0o600


def test_wrapper_sealed_and_identical_everywhere(host):
    wrapper = host.file(WRAPPER)
    assert wrapper.is_file and wrapper.user == "root" and wrapper.mode == 0o755
    # The same bytes on every node: compliance compares this checksum across regions.
    reference_name = "jp-mini-01" if host.backend.get_hostname() == "hk-mini-01" else "hk-mini-01"
    reference = testinfra.get_host("ansible://" + reference_name,
                                   ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])
    assert wrapper.sha256sum == reference.file(WRAPPER).sha256sum
    # ... and they are the shipped file's bytes (the converge's expected sha256 is that file's hash).
    with open(SHIPPED_WRAPPER, "rb") as handle:
        assert wrapper.sha256sum == hashlib.sha256(handle.read()).hexdigest()


def test_wrapper_configuration_is_roots_and_names_the_layout(host):
    config = host.file(WRAPPER_CONFIG)
    assert config.is_file and config.user == "root" and config.mode == 0o644
    assert json.loads(config.content_string) == {
        "keychain_path": KEYCHAIN, "log_path": "/Library/Logs/MacMesh/keychain-unlock.log"}


def test_wrapper_log_is_append_only_for_ci_build(host):
    log = host.file("/Library/Logs/MacMesh/keychain-unlock.log")
    assert log.is_file and log.user == "ci-build" and log.mode == 0o640
    assert host.file("/Library/Logs/MacMesh").user == "root"
    # ci-build (the user it audits) and root alike: no truncation while the flag is set.
    for prefix in ("sudo -u ci-build", "sudo"):
        truncated = host.run("%s sh -c ': > /Library/Logs/MacMesh/keychain-unlock.log'" % prefix)
        assert truncated.rc != 0 and "Operation not permitted" in truncated.stderr, (prefix, truncated.stderr)


def test_profiles_read_only_versioned_and_mounted(host):
    current = host.file(PROFILE_ROOT + "/current")
    assert current.is_symlink
    version = host.file(PROFILE_ROOT + "/" + current.linked_to.rsplit("/", 1)[-1])
    assert version.is_directory and version.user == "root" and version.mode == 0o555
    profiles = [f for f in version.listdir() if f.endswith(".mobileprovision")]
    assert profiles
    for name in profiles:
        item = host.file(version.path + "/" + name)
        assert item.user == "root" and item.mode == 0o444
    assert not host.run("sudo -u ci-build touch %s/probe" % version.path).succeeded
    for directory in XCODE_DIRS:
        # readlink, not File.linked_to: the latter resolves the whole chain to the version dir.
        assert host.file(directory).is_symlink
        assert host.check_output("readlink '%s'" % directory) == PROFILE_ROOT + "/current"


def test_search_list_by_tier(host):
    listed = host.run("sudo -u ci-build -H security list-keychains -d user").stdout.split()
    listed = [entry.strip('"') for entry in listed]
    if _is_signer(host):
        assert listed[0] == KEYCHAIN
        assert "/Users/ci-build/Library/Keychains/login.keychain-db" in listed
    else:
        assert KEYCHAIN not in listed


def test_signers_sign_and_builders_hold_no_keys(host):
    identities = host.run("sudo -u ci-build -H security find-identity -v -p codesigning %s" % KEYCHAIN).stdout
    if _is_signer(host):
        assert "1 valid identities found" in identities
        shown = host.run("sudo -u ci-build -H codesign -dvvv '%s'" % VERIFY_FILE)
        assert "TeamIdentifier=%s" % TEAM_ID in shown.stderr.splitlines()
        assert any(line.startswith("Authority=Apple Distribution: MacMesh Demo") for line in shown.stderr.splitlines())
    else:
        assert "0 valid identities found" in identities
