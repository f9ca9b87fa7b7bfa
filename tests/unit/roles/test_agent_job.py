"""roles/ci_agent/files/macmesh-agent-job against a stub signing entry point (both modes).

The helper is copied with its CONFIG constant pointed at a temporary file; the stubs record their
argv, environment names and what arrived on FD 3, so the tests see exactly what the helper hands
on - and that the password never reaches an argv or the JSON line.
"""

import json
import os
import subprocess
import sys

import pytest

HELPER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "ci_agent", "files", "macmesh-agent-job")
SHA1 = "346BC72421933336D42828CF01CC43292FEFE994"
PASSWORD = "s3cret.Pass-word_42"

STUB = r'''#!%(python)s
import json, os, sys
fd3 = ""
try:
    fd3 = os.read(3, 4096).decode()
except OSError:
    pass
with open(%(calls)r, "a") as handle:
    handle.write(json.dumps({"argv": sys.argv, "fd3": fd3, "correlation": os.environ.get("MACMESH_CORRELATION_ID")}) + "\n")
sys.exit(int(os.environ.get("STUB_RC", "0")))
'''


@pytest.fixture
def setup(tmp_path):
    calls = tmp_path / "calls.jsonl"
    for name in ("entry", "codesign"):
        path = tmp_path / name
        path.write_text(STUB % {"python": sys.executable, "calls": str(calls)})
        path.chmod(0o755)
    identity = tmp_path / "runner-identity.json"
    identity.write_text(json.dumps({"region": "hk", "manifest": {"version": "demo-1"}}))
    helper = tmp_path / "macmesh-agent-job"
    text = open(HELPER).read()
    text = text.replace('CONFIG = "/Library/MacMesh/ci-agent.json"', 'CONFIG = %r' % str(tmp_path / "config.json"))
    text = text.replace('CODESIGN = "/usr/bin/codesign"', 'CODESIGN = %r' % str(tmp_path / "codesign"))
    helper.write_text(text)

    def run(mode, *args, password=PASSWORD, env=None):
        (tmp_path / "config.json").write_text(json.dumps({
            "entry_point": str(tmp_path / "entry"), "entry_point_mode": mode, "keychain": "/k/ci.keychain-db",
            "runner_identity": str(identity), "timeout_s": 30}))
        # The password on FD 3, as a CI job passes it (3<file); stdin is then /dev/null.
        argv = ["/bin/sh", "-c", 'exec "$@" 3<&0 </dev/null' if password is not None else 'exec "$@" </dev/null',
                "sh", sys.executable, str(helper)] + list(args)
        proc = subprocess.run(argv, input=(password + "\n") if password is not None else "", capture_output=True,
                              text=True, env=dict(os.environ, **(env or {})), check=False)
        lines = calls.read_text().splitlines() if calls.exists() else []
        return proc, [json.loads(line) for line in lines], json.loads(proc.stdout.splitlines()[-1])
    return run


def test_sign_mode_hands_fd3_to_the_one_process_entry_point(setup):
    proc, calls, record = setup("sign", "sign", "--identity", SHA1.lower(), "--correlation-id", "job-1", "/w/app.ipa")
    assert proc.returncode == 0, proc.stderr
    assert [call["argv"][1:] for call in calls] == [[
        "--keychain", "/k/ci.keychain-db", "--timeout", "30", "--", "codesign", "-s", SHA1, "--keychain",
        "/k/ci.keychain-db", "-f", "/w/app.ipa"]]
    assert calls[0]["fd3"] == PASSWORD + "\n" and calls[0]["correlation"] == "job-1"
    assert record["result"] == "ok" and record["region"] == "hk" and record["manifest_version"] == "demo-1"
    assert record["correlation_id"] == "job-1" and PASSWORD not in proc.stdout + proc.stderr


def test_wrapper_mode_unlocks_signs_and_locks(setup):
    proc, calls, record = setup("wrapper", "sign", "--identity", SHA1, "/w/a", "/w/b")
    assert proc.returncode == 0, proc.stderr
    assert [call["argv"][1:] for call in calls] == [
        ["unlock", "--keychain", "/k/ci.keychain-db"],
        ["-s", SHA1, "--keychain", "/k/ci.keychain-db", "-f", "/w/a"],
        ["-s", SHA1, "--keychain", "/k/ci.keychain-db", "-f", "/w/b"],
        ["lock", "--keychain", "/k/ci.keychain-db"]]
    assert calls[0]["fd3"] == PASSWORD + "\n" and all(call["fd3"] == "" for call in calls[1:])
    assert record["files"] == ["/w/a", "/w/b"] and record["result"] == "ok"


def test_a_failed_entry_point_is_an_error_line(setup):
    proc, _calls, record = setup("sign", "sign", "--identity", SHA1, "/w/a", env={"STUB_RC": "124"})
    assert proc.returncode == 1 and record["result"] == "error" and "exit 124" in record["error"]


def test_no_fd3_and_bad_usage(setup):
    proc, calls, record = setup("sign", "sign", "--identity", SHA1, "/w/a", password=None)
    assert proc.returncode == 66 and "file descriptor 3 is not open" in record["error"] and calls == []
    proc, _calls, record = setup("sign", "sign", "--identity", "nope", "/w/a")
    assert proc.returncode == 64 and "--identity" in record["error"]
    proc, _calls, record = setup("sign", "sign", "--identity", SHA1, "relative")
    assert proc.returncode == 64
