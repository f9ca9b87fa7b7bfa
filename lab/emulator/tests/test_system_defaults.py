"""`defaults` on plist files, and community.general.osx_defaults driving it unchanged."""

import os
import plistlib
import re
import subprocess

import pytest

from _sysemu import COMMANDS, NODE_PYTHON, SEED, Env

MISSING = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} defaults\[\d+:\d+\]\n"
                     r"The domain/default pair of \((?P<domain>.*), (?P<key>.*)\) does not exist\n$")


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


@pytest.fixture
def domain(tmp_path):
    return str(tmp_path / "Library" / "Preferences" / "com.apple.loginwindow")


def test_missing_key_gives_the_real_error_text(env, domain):
    out = env.run("defaults", "read", domain, "autoLoginUser")
    assert out.returncode == 1 and out.stdout == ""
    match = MISSING.match(out.stderr)
    assert match and match.group("domain") == domain and match.group("key") == "autoLoginUser"
    assert env.run("defaults", "read-type", domain, "autoLoginUser").returncode == 1


def test_write_read_types_and_plist_file(env, domain):
    assert env.run("defaults", "write", domain, "autoLoginUser", "-string", "ci-build").returncode == 0
    assert env.run("defaults", "write", domain, "Hide", "-bool", "TRUE").returncode == 0
    assert env.run("defaults", "write", domain, "Count", "-int", "3").returncode == 0
    assert env.run("defaults", "write", domain, "L", "-array", "a", "b-c").returncode == 0
    assert env.run("defaults", "read", domain, "autoLoginUser").stdout == "ci-build\n"
    assert env.run("defaults", "read", domain, "Hide").stdout == "1\n"
    assert env.run("defaults", "read", domain, "L").stdout == '(\n    a,\n    "b-c"\n)\n'
    types = [env.run("defaults", "read-type", domain, k).stdout for k in ("autoLoginUser", "Hide", "Count", "L")]
    assert types == ["Type is string\n", "Type is boolean\n", "Type is integer\n", "Type is array\n"]
    with open(domain + ".plist", "rb") as handle:
        assert handle.read(8) == b"bplist00"
    with open(domain + ".plist", "rb") as handle:
        assert plistlib.load(handle) == {"autoLoginUser": "ci-build", "Hide": True, "Count": 3, "L": ["a", "b-c"]}


def test_array_add_and_the_hidden_users_parse_ansible_does(env, domain):
    env.run("defaults", "write", domain + ".plist", "HiddenUsersList", "-array-add", "_svc")
    env.run("defaults", "write", domain + ".plist", "HiddenUsersList", "-array-add", "ci-build")
    out = env.run("defaults", "read", domain + ".plist", "HiddenUsersList").stdout
    # DarwinUser._update_system_user's parser, verbatim in spirit: lines between the parens
    hidden = [x.split('"')[1] if '"' in x else x.strip() for x in out.splitlines()[1:-1]]
    assert hidden == ["_svc", "ci-build"]


def test_delete(env, domain):
    env.run("defaults", "write", domain, "k", "v")
    assert env.run("defaults", "delete", domain, "k").returncode == 0
    again = env.run("defaults", "delete", domain, "k")
    assert again.returncode == 1 and MISSING.match(again.stderr)


def test_global_and_current_host_domains(env):
    assert env.run("defaults", "write", "-g", "AppleLocale", "en_US").returncode == 0
    assert (env.home / "Library/Preferences/.GlobalPreferences.plist").is_file()
    missing = env.run("defaults", "read", "-g", "AppleInterfaceStyle")
    assert MISSING.match(missing.stderr).group("domain") == "kCFPreferencesAnyApplication"
    assert env.run("defaults", "-currentHost", "write", "com.apple.screensaver", "idleTime", "-int", "0").returncode == 0
    byhost = os.listdir(env.home / "Library/Preferences/ByHost")
    assert byhost == ["com.apple.screensaver.0F6B1C44-7E11-5B3A-9C0D-2A51E7B0C001.plist"]


class FakeModule:
    def __init__(self, env, **params):
        self.env = env
        self.check_mode = False
        self.params = dict(domain="NSGlobalDomain", host=None, key=None, check_type=True,
                           type="string", array_add=False, value=None, state="present",
                           path="/usr/bin:/usr/local/bin")
        self.params.update(params)

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/usr/bin/defaults"

    def run_command(self, argv, **_):
        proc = subprocess.run([NODE_PYTHON, os.path.join(SEED, COMMANDS["defaults"])] + argv[1:],
                              capture_output=True, text=True, env=self.env.environ())
        return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("kind, value, stored", [
    ("string", "ci-build", "ci-build"), ("bool", "true", True), ("int", "5", 5),
    ("array", ["a", "b"], ["a", "b"]),
])
def test_osx_defaults_module_is_idempotent(env, domain, kind, value, stored):
    module = pytest.importorskip("ansible_collections.community.general.plugins.modules.osx_defaults")

    def run(**params):
        return module.OSXDefaults(FakeModule(env, domain=domain, key="k", **params)).run()

    assert run(type=kind, value=value) is True
    assert run(type=kind, value=value) is False
    with open(domain + ".plist", "rb") as handle:
        assert plistlib.load(handle)["k"] == stored
    assert run(state="absent") is True
    assert run(state="absent") is False
