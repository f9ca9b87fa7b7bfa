"""The unlock wrapper and macmesh-sign (roles/unlock_wrapper/files), run against a stub `security`.

The stub records its argv and stdin and answers like macOS does (texts from the reference transcripts),
so the tests see exactly what the wrapper would send to /usr/bin/security.
"""

import json
import os
import re
import subprocess
import sys

import pytest

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "unlock_wrapper")
WRAPPER_FILE = os.path.join(ROLE, "files", "macmesh-keychain-unlock.py")
SIGN_FILE = os.path.join(ROLE, "files", "macmesh-sign.py")
CONFIG_LINE = 'CONFIG_PATH = "/usr/local/etc/macmesh/wrapper.json"'
KEYCHAIN = "/Users/ci-build/Library/Keychains/ci-build.keychain-db"
PASSWORD = "s3cret.Pass-word_42"

STUB = r'''#!%(python)s
import json, os, sys
state = %(state)r
calls = os.path.join(state, "calls.jsonl")
stdin = sys.stdin.read()
with open(calls, "a") as handle:
    handle.write(json.dumps({"argv": sys.argv[1:], "stdin": stdin, "env": sorted(os.environ)}) + "\n")
locked = os.path.exists(os.path.join(state, "locked"))
good = open(os.path.join(state, "password")).read()
if sys.argv[1:] == ["-i"]:
    line = stdin.strip()
    if line.startswith("unlock-keychain"):
        given = line.split('"')[1]
        if given != good:
            sys.stderr.write("security: SecKeychainUnlock %(kc)s: The user name or passphrase you entered is not correct.\n")
            sys.stderr.write("unlock-keychain: returned 51\n")
            sys.exit(0)  # security -i does not always say so in its exit status
        if os.path.exists(os.path.join(state, "locked")):
            os.unlink(os.path.join(state, "locked"))
    sys.exit(0)
if sys.argv[1] == "show-keychain-info":
    if locked:
        sys.stderr.write("security: SecKeychainCopySettings %(kc)s: User interaction is not allowed.\n")
        sys.exit(36)
    sys.stderr.write('Keychain "%(kc)s" lock-on-sleep timeout=3600s\n')
    sys.exit(0)
if sys.argv[1] == "lock-keychain":
    open(os.path.join(state, "locked"), "w").close()
    sys.exit(0)
sys.exit(2)
'''


@pytest.fixture
def wrapper(tmp_path):
    """(run, state): run(args, password=None, env=None) -> CompletedProcess; state dir of the stub."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "password").write_text(PASSWORD)
    (state / "locked").write_text("")
    stub = tmp_path / "security"
    stub.write_text(STUB % {"python": sys.executable, "kc": KEYCHAIN, "state": str(state)})
    stub.chmod(0o755)
    log = tmp_path / "keychain-unlock.log"
    log.write_text("")
    text = installed(WRAPPER_FILE, tmp_path, log_path=str(log))
    # The only other change for the test: the path of `security`.
    assert text.count('SECURITY = "/usr/bin/security"') == 1
    script = tmp_path / "macmesh-keychain-unlock"
    script.write_text(text.replace('SECURITY = "/usr/bin/security"', 'SECURITY = "%s"' % stub))

    def run(args, password=None, env=None):
        full_env = dict(os.environ, CALLER_ONLY="not for security")
        full_env.update(env or {})
        argv = [sys.executable, str(script)] + args
        if password is not None:
            # As the bootstrap verify and a CI job do it: the secret arrives on FD 3 from a pipe.
            argv = ["/bin/sh", "-c", 'exec "$@" 3<&0 </dev/null', "sh"] + argv
        return subprocess.run(argv, env=full_env, input=password or "", stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, check=False)

    run.state = state
    run.log = log
    return run


def installed(path, tmp_path, log_path=None, keychain_path=KEYCHAIN, config=None):
    """The shipped script, its CONFIG_PATH moved to tmp_path/wrapper.json, written as the role does."""
    with open(path) as handle:
        text = handle.read()
    assert text.count(CONFIG_LINE) == 1
    config_path = tmp_path / "wrapper.json"
    if config is None:
        config = json.dumps({"keychain_path": keychain_path, "log_path": log_path}, sort_keys=True, indent=4) + "\n"
    if config is not False:
        config_path.write_text(config)
        config_path.chmod(0o644)
    return text.replace(CONFIG_LINE, 'CONFIG_PATH = "%s"' % config_path)


def calls(state):
    path = state / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def log_records(run):
    return [json.loads(line) for line in run.log.read_text().splitlines()]


def test_shipped_scripts_are_static_and_default_to_the_layout():
    """One file, the same bytes on every node: no template syntax; defaults are the layout's, and the
    configuration path is the one the role writes."""
    from ansible_collections.macmesh.signing.plugins.module_utils import _layout
    with open(os.path.join(ROLE, "vars", "main.yml")) as handle:
        role_config = re.search(r"^unlock_wrapper_config_path: (\S+)$", handle.read(), re.M).group(1)
    for path in (WRAPPER_FILE, SIGN_FILE):
        with open(path) as handle:
            text = handle.read()
        assert "{{" not in text and "{%" not in text, path
        assert 'DEFAULT_KEYCHAIN = "%s"' % _layout.LAYOUT["keychain_path"] in text, path
        assert 'LOG_PATH = "%s"' % _layout.LAYOUT["wrapper_log_path"] in text, path
        assert CONFIG_LINE == 'CONFIG_PATH = "%s"' % role_config
    with open(os.path.join(ROLE, "tasks", "main.yml")) as handle:
        tasks = handle.read()
    assert "ansible.builtin.template" not in tasks


@pytest.mark.parametrize("config, says", [
    ('{"log_path": "relative/log"}', "field log_path must be an absolute path"),
    ('{"keychain_path": "/k", "log_path": "/l", "password": "x"}', "unknown field 'password'"),
    ("[1, 2]", "must hold a JSON object"),
    ("{not json", "is not JSON"),
])
def test_a_bad_configuration_is_refused_before_anything_runs(tmp_path, config, says):
    script = tmp_path / "macmesh-keychain-unlock"
    script.write_text(installed(WRAPPER_FILE, tmp_path, config=config))
    proc = subprocess.run([sys.executable, str(script), "status"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    assert proc.returncode == 78, proc.stderr
    assert str(tmp_path / "wrapper.json") in proc.stderr and says in proc.stderr


def test_a_configuration_others_can_write_is_refused(tmp_path):
    log = tmp_path / "log"
    log.write_text("")
    for name in ("macmesh-keychain-unlock", "macmesh-sign"):
        script = tmp_path / name
        script.write_text(installed(WRAPPER_FILE if name == "macmesh-keychain-unlock" else SIGN_FILE, tmp_path,
                                    log_path=str(log)))
        (tmp_path / "wrapper.json").chmod(0o666)
        proc = subprocess.run([sys.executable, str(script), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False)
        assert proc.returncode == 78 and "writable by no one else" in proc.stderr, (name, proc.stderr)
    assert log.read_text() == ""


def test_without_a_configuration_the_layout_defaults_apply(tmp_path):
    script = tmp_path / "macmesh-keychain-unlock"
    script.write_text(installed(WRAPPER_FILE, tmp_path, config=False))
    proc = subprocess.run([sys.executable, str(script), "status"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    assert proc.returncode == 73, proc.stderr
    assert "cannot append to /Library/Logs/MacMesh/keychain-unlock.log" in proc.stderr


def test_unlock_sends_the_password_on_stdin_only(wrapper):
    proc = wrapper([], password=PASSWORD + "\n", env={"MACMESH_CORRELATION_ID": "job-123"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "unlocked\n"
    recorded = calls(wrapper.state)
    assert recorded[0]["argv"] == ["-i"]
    assert recorded[0]["stdin"] == 'unlock-keychain -p "%s" "%s"\n' % (PASSWORD, KEYCHAIN)
    assert all(PASSWORD not in " ".join(call["argv"]) for call in recorded)
    # The environment of `security` is the wrapper's fixed one, not the caller's.
    # (Python itself may add LC_CTYPE when it coerces the C locale.)
    assert set(recorded[0]["env"]) - {"LC_CTYPE"} == {"HOME", "LC_ALL", "PATH"}
    [record] = log_records(wrapper)
    assert record["result"] == "ok" and record["action"] == "unlock" and record["state"] == "unlocked"
    assert record["correlation_id"] == "job-123"
    assert record["keychain"] == KEYCHAIN
    assert isinstance(record["latency_ms"], int)
    assert PASSWORD not in wrapper.log.read_text()


def test_missing_fd3_fails_clearly_and_is_logged(wrapper):
    proc = wrapper([])
    assert proc.returncode == 66
    assert "file descriptor 3 is not open" in proc.stderr
    assert calls(wrapper.state) == []
    [record] = log_records(wrapper)
    assert record["result"] == "error" and "file descriptor 3" in record["error"]


@pytest.mark.parametrize("password", ["has space", 'quo"te', "", "tab\there", "x" * 2000])
def test_unsafe_passwords_are_refused_before_security_runs(wrapper, password):
    proc = wrapper([], password=password)
    assert proc.returncode == 65, proc.stderr
    assert calls(wrapper.state) == []
    if password:
        assert password not in wrapper.log.read_text()


def test_wrong_password_is_classified_and_scrubbed(wrapper):
    proc = wrapper(["unlock"], password="Wrong-password-1")
    assert proc.returncode == 2
    assert "The user name or passphrase you entered is not correct." in proc.stderr
    [record] = log_records(wrapper)
    assert record["result"] == "error"
    assert "Wrong-password-1" not in wrapper.log.read_text()
    assert "Wrong-password-1" not in proc.stderr


def test_lock_and_status(wrapper):
    assert wrapper([], password=PASSWORD).returncode == 0
    assert wrapper(["status"]).stdout == "unlocked\n"
    assert wrapper(["lock"]).stdout == "locked\n"
    assert wrapper(["status"]).stdout == "locked\n"
    assert [r["action"] for r in log_records(wrapper)] == ["unlock", "status", "lock", "status"]


def test_keychain_option_and_bad_arguments(wrapper):
    other = "/Users/ci-build/Library/Keychains/other.keychain-db"
    assert wrapper(["status", "--keychain", other]).returncode == 0
    assert calls(wrapper.state)[-1]["argv"] == ["show-keychain-info", other]
    assert wrapper(["status", "--keychain", "relative.keychain"]).returncode == 64
    assert wrapper(["bogus"]).returncode == 64


def test_refuses_to_run_unaudited(wrapper):
    wrapper.log.unlink()
    proc = wrapper([], password=PASSWORD)
    assert proc.returncode == 73
    assert "refusing to run unaudited" in proc.stderr
    assert calls(wrapper.state) == []


def test_shipped_scripts_run_on_python_3_9(tmp_path):
    """macOS /usr/bin/python3 is 3.9: vermin must find nothing newer in the shipped scripts."""
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    if not os.path.exists(vermin):
        pytest.skip("vermin is not installed next to this Python")
    result = subprocess.run([vermin, "--target=3.9-", "--no-tips", "--violations", WRAPPER_FILE, SIGN_FILE],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- tests that can fail (issue 11): a stub that echoes the password, an unlock that does not take --


def test_scrub_removes_a_password_that_security_echoes(wrapper):
    """A `security` that prints the line it was given (as some versions do in errors): without
    scrub() the password would reach stderr and the JSON log."""
    stub = wrapper.state.parent / "security"
    text = stub.read_text().replace(
        '            sys.stderr.write("unlock-keychain: returned 51\\n")',
        '            sys.stderr.write("security> %s\\n" % line)\n            sys.stderr.write("unlock-keychain: returned 51\\n")')
    assert text != stub.read_text()
    stub.write_text(text)
    (wrapper.state / "password").write_text("another-password")
    proc = wrapper([], password=PASSWORD + "\n")
    assert proc.returncode == 2
    assert PASSWORD not in proc.stderr and "********" in proc.stderr
    assert PASSWORD not in wrapper.log.read_text()


def test_unlock_that_does_not_take_is_reported(wrapper):
    """`security -i` may exit 0 without unlocking: the post-unlock check must catch it (exit 4)."""
    stub = wrapper.state.parent / "security"
    text = stub.read_text().replace(
        '        if os.path.exists(os.path.join(state, "locked")):\n            os.unlink(os.path.join(state, "locked"))',
        '        pass  # claims success, stays locked')
    assert text != stub.read_text()
    stub.write_text(text)
    proc = wrapper([], password=PASSWORD + "\n")
    assert proc.returncode == 4, proc.stderr
    assert "is locked after unlock" in proc.stderr


# --- macmesh-sign: unlock, sign, lock in one process ---------------------------------------------


@pytest.fixture
def signer(wrapper, tmp_path):
    """Run macmesh-sign against the same stub security plus a stub codesign."""
    text = installed(SIGN_FILE, tmp_path, log_path=str(wrapper.log))
    stub = tmp_path / "security"
    # The stub security answers list-keychains too (for the search-list re-assert).
    stub.write_text(stub.read_text().replace(
        'if sys.argv[1] == "lock-keychain":',
        'if sys.argv[1] == "list-keychains":\n    sys.stdout.write(\'    "%s"\\n\' % ' + repr(KEYCHAIN) + ')\n    sys.exit(0)\n'
        'if sys.argv[1] == "lock-keychain":'))
    codesign = tmp_path / "codesign"
    codesign.write_text("#!%s\nimport os, sys, time\nlocked = os.path.exists(%r)\n"
                        "time.sleep(30) if locked else None\nsys.stderr.write('signed %%s\\n' %% ' '.join(sys.argv[1:]))\n"
                        % (sys.executable, str(wrapper.state / "locked")))
    codesign.chmod(0o755)
    assert text.count('SECURITY = "/usr/bin/security"') == 1 and text.count('"codesign": "/usr/bin/codesign"') == 1
    text = text.replace('SECURITY = "/usr/bin/security"', 'SECURITY = "%s"' % stub)
    text = text.replace('"codesign": "/usr/bin/codesign"', '"codesign": "%s"' % codesign)
    script = tmp_path / "macmesh-sign"
    script.write_text(text)

    def run(args, password=None):
        argv = [sys.executable, str(script)] + args
        if password is not None:
            argv = ["/bin/sh", "-c", 'exec "$@" 3<&0 </dev/null', "sh"] + argv
        return subprocess.run(argv, env=dict(os.environ, HOME=str(tmp_path), MACMESH_CORRELATION_ID="ci-42"),
                              input=password or "", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False, timeout=60)

    run.state = wrapper.state
    run.log = wrapper.log
    return run


SHA1 = "0123456789ABCDEF0123456789ABCDEF01234567"


def test_sign_unlocks_signs_and_locks_in_one_process(signer):
    proc = signer(["--", "codesign", "-s", SHA1, "-f", "/tmp/x"], password=PASSWORD + "\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "signed -s %s -f /tmp/x\n" % SHA1
    recorded = [c["argv"] for c in calls(signer.state)]
    assert recorded[0] == ["list-keychains", "-d", "user"]
    assert ["-i"] in recorded and recorded[-1] == ["lock-keychain", KEYCHAIN]
    assert all(PASSWORD not in " ".join(argv) for argv in recorded)
    assert (signer.state / "locked").exists()  # locked again
    [record] = log_records(signer)
    assert (record["action"], record["result"], record["identity"], record["correlation_id"]) == ("sign", "ok", SHA1, "ci-42")
    assert isinstance(record["latency_ms"], int) and PASSWORD not in signer.log.read_text()


def test_sign_with_a_locked_keychain_stops_at_its_bound(signer):
    proc = signer(["--no-unlock", "--timeout", "2", "--", "codesign", "-s", SHA1, "/tmp/x"])
    assert proc.returncode == 124
    assert "did not finish within 2 s and was stopped; likely causes: the keychain is locked" in proc.stderr
    assert "partition list" in proc.stderr and "prompt" in proc.stderr
    [record] = log_records(signer)
    assert record["result"] == "timeout"


def test_sign_refuses_other_tools_and_missing_fd3(signer):
    assert signer(["--", "sh", "-c", "id"], password=PASSWORD).returncode == 64
    assert signer(["--", "codesign", "-s", SHA1, "/tmp/x"]).returncode == 66


def test_issuer_name_reads_the_der_issuer(tmp_path):
    """The message that names the missing intermediate reads the issuer with a stdlib DER walk."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Apple Worldwide Developer Relations Certification Authority"),
                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "G3")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
            .issuer_name(issuer).public_key(key.public_key()).serial_number(12345678901234567890)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    namespace = {}
    with open(SIGN_FILE) as handle:
        source = handle.read()
    exec(compile(source.replace('if __name__ == "__main__":', "if False:"), "macmesh-sign", "exec"), namespace)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert namespace["issuer_name"](der) == "Apple Worldwide Developer Relations Certification Authority (G3)"
