"""The unlock wrapper template (roles/unlock_wrapper), rendered and run against a stub `security`.

The stub records its argv and stdin and answers like macOS does (texts from the reference transcripts),
so the tests see exactly what the wrapper would send to /usr/bin/security.
"""

import json
import os
import subprocess
import sys

import jinja2
import pytest

TEMPLATE = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "roles", "unlock_wrapper", "templates", "macmesh-keychain-unlock.py.j2"
)
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
    text = render(log_path=str(log))
    # The only change for the test: the path of `security`.
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


def render(log_path="/Library/Logs/MacMesh/keychain-unlock.log", **extra):
    with open(TEMPLATE) as handle:
        template = jinja2.Template(handle.read(), keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    values = {"unlock_wrapper_keychain_default": KEYCHAIN, "unlock_wrapper_log_path": log_path}
    values.update(extra)
    return template.render(**values)


def calls(state):
    path = state / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def log_records(run):
    return [json.loads(line) for line in run.log.read_text().splitlines()]


def test_renders_the_same_whatever_the_host():
    assert render(inventory_hostname="hk-mini-01") == render(inventory_hostname="us-mini-01", ansible_host="x")


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


def test_rendered_wrapper_runs_on_python_3_9(tmp_path):
    """macOS /usr/bin/python3 is 3.9: vermin must find nothing newer in the rendered wrapper."""
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    if not os.path.exists(vermin):
        pytest.skip("vermin is not installed next to this Python")
    script = tmp_path / "macmesh_keychain_unlock.py"
    script.write_text(render())
    result = subprocess.run([vermin, "--target=3.9-", "--no-tips", "--violations", str(script)],
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

SIGN_TEMPLATE = os.path.join(os.path.dirname(TEMPLATE), "macmesh-sign.py.j2")


@pytest.fixture
def signer(wrapper, tmp_path):
    """Run macmesh-sign against the same stub security plus a stub codesign."""
    with open(SIGN_TEMPLATE) as handle:
        template = jinja2.Template(handle.read(), keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    text = template.render(unlock_wrapper_keychain_default=KEYCHAIN, unlock_wrapper_log_path=str(wrapper.log))
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
    with open(SIGN_TEMPLATE) as handle:
        source = handle.read().replace("{{ unlock_wrapper_keychain_default }}", "/k").replace("{{ unlock_wrapper_log_path }}", "/l")
    exec(compile(source.replace('if __name__ == "__main__":', "if False:"), "macmesh-sign", "exec"), namespace)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert namespace["issuer_name"](der) == "Apple Worldwide Developer Relations Certification Authority (G3)"
