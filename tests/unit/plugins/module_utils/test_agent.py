# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The CI agent's module_utils: TTL policy, the launchd job document, the node reader, verify explanations."""

import json

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _agent

# The launchctl print shape the reader parses (lab/emulator/README.md, launchd rows).
PRINT_OK = """system/com.macmesh.ci-agent = {
\tactive count = 1
\tpath = /Library/LaunchDaemons/com.macmesh.ci-agent.plist
\tstate = running

\tdomain = system
\tusername = ci-build
\tsession create = 1
\truns = 1
\tpid = 31
\tlast exit code = (never exited)
}
"""
MOUNT = ("/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n"
         "/dev/disk5s1 on /Volumes/MacMeshNotary (apfs, local, nodev, nosuid, journaled, mounted by root)\n")


@pytest.mark.parametrize("p95, margin, cap, expected", [
    (240, 60, 600, 420),      # 1.5 x 240 + 60
    (400, 60, 600, 600),      # capped
    (100.2, 0, 600, 151),     # rounded up, never shorter than the formula
    (0, 60, 600, 60),
])
def test_session_ttl_policy(p95, margin, cap, expected):
    assert _agent.session_ttl_policy(p95, margin, cap)["max_ttl_s"] == expected


@pytest.mark.parametrize("args, field", [(("x",), "build_p95_s"), ((-1,), "build_p95_s"), ((10, -1), "session_ttl_margin_s"),
                                         ((10, 0, 0), "session_ttl_cap_s"), ((float("nan"),), "build_p95_s")])
def test_session_ttl_policy_refuses_bad_input(args, field):
    with pytest.raises(_agent.AgentInputError) as info:
        _agent.session_ttl_policy(*args)
    assert info.value.field == field


def test_session_ttl_finding():
    policy = _agent.session_ttl_policy(240)
    assert _agent.session_ttl_finding(420, policy) is None
    assert _agent.session_ttl_finding(None, policy) is None
    message = _agent.session_ttl_finding(421, policy)
    assert message == ("configured session TTL 421s is above the policy 420s = min(1.5 x build_p95 240s + margin 60s, "
                       "cap 600s)")


def job(**kwargs):
    args = dict(label="com.macmesh.ci-agent", program_arguments=["/Users/ci-build/runner/run.sh"], user="ci-build",
                working_directory="/Users/ci-build", stdout_path="/Library/Logs/a.log", stderr_path="/Library/Logs/b.log")
    args.update(kwargs)
    return _agent.ci_agent_plist(**args)


def test_ci_agent_plist_has_its_own_session_and_user():
    document = job(environment={"RUNNER_LABELS": "macos,arm64"})
    assert document["UserName"] == "ci-build" and document["SessionCreate"] is True
    assert document["EnvironmentVariables"] == {"RUNNER_LABELS": "macos,arm64"}
    assert document["StandardOutPath"] == "/Library/Logs/a.log" and document["RunAtLoad"] is True


def test_the_test_variant_leaves_user_and_session_out():
    document = job(user="", session_create=False)
    assert "UserName" not in document and "SessionCreate" not in document


@pytest.mark.parametrize("name", ["KEYCHAIN_PASSWORD", "GITHUB_TOKEN", "ASC_API_KEY", "RUNNER_SECRET", "p12_pass"])
def test_ci_agent_plist_refuses_secrets_in_the_environment(name):
    with pytest.raises(_agent.AgentInputError) as info:
        job(environment={name: "x"})
    assert info.value.field == "ci_agent_environment.%s" % name


@pytest.mark.parametrize("kwargs, field", [({"label": "bad label"}, "ci_agent_label"),
                                           ({"program_arguments": ["run.sh"]}, "ci_agent_program_arguments[0]"),
                                           ({"program_arguments": []}, "ci_agent_program_arguments"),
                                           ({"working_directory": "rel"}, "ci_agent_working_directory")])
def test_ci_agent_plist_input_errors(kwargs, field):
    with pytest.raises(_agent.AgentInputError) as info:
        job(**kwargs)
    assert info.value.field == field


def fake_run(answers):
    def run(argv):
        return answers.get(tuple(argv), (113, "", 'Could not find service "x" in domain for system\n'))
    return run


def test_read_agent(tmp_path):
    ramdisk = tmp_path / "ram"
    ramdisk.mkdir(mode=0o700)
    identity = tmp_path / "runner-identity.json"
    identity.write_text(json.dumps({"session_ttl_s": 300, "session_ttl_policy": {"max_ttl_s": 420}}))
    versions = tmp_path / "versions.json"
    versions.write_text(json.dumps({"schema": 1, "secrets": {"keychain_password": "3"}}))
    run = fake_run({("/sbin/mount",): (0, MOUNT.replace("/Volumes/MacMeshNotary", str(ramdisk)), ""),
                    (_agent.LAUNCHCTL, "print", "system/com.macmesh.ci-agent"): (0, PRINT_OK, "")})
    agent, unavailable = _agent.read_agent(run, ramdisk=str(ramdisk), runner_identity_path=str(identity),
                                           secret_versions_path=str(versions))
    assert unavailable == {}
    assert agent["ramdisk"]["mounted"] and agent["ramdisk"]["owners_enforced"] and agent["ramdisk"]["mode"] == "0700"
    assert agent["ci_agent"] == {"label": "com.macmesh.ci-agent", "loaded": True, "state": "running", "user": "ci-build",
                                 "session_create": True, "last_exit": "(never exited)", "error": None}
    assert agent["janitor"]["loaded"] is False and "Could not find service" in agent["janitor"]["error"]
    assert agent["session_ttl"] == {"configured_s": 300, "policy": {"max_ttl_s": 420}}
    assert agent["secret_versions"] == {"keychain_password": "3"}


def test_read_agent_reports_what_it_could_not_read(tmp_path):
    run = fake_run({("/sbin/mount",): (0, MOUNT, "")})
    agent, unavailable = _agent.read_agent(run, ramdisk=str(tmp_path / "none"),
                                           runner_identity_path=str(tmp_path / "x.json"),
                                           secret_versions_path=str(tmp_path / "y.json"))
    assert agent["ramdisk"]["mounted"] is False and agent["ramdisk"]["exists"] is False
    assert set(unavailable) == {"agent.session_ttl", "agent.secret_versions"}


def test_find_record_takes_the_last_line_of_the_run():
    text = "\n".join([json.dumps({"correlation_id": "a", "result": "error"}), "not json",
                      json.dumps({"correlation_id": "b", "result": "error"}), json.dumps({"correlation_id": "a",
                                                                                          "result": "ok"})])
    assert _agent.find_record(text, "a") == {"correlation_id": "a", "result": "ok"}
    assert _agent.find_record(text, "c") is None


SESSION = {"user": "ci-build", "session_create": True}


def test_explain_ok():
    ok, message = _agent.explain_verify("L", {"result": "ok", "files": ["/f"]}, SESSION, 60)
    assert ok and "own security session" in message


def test_explain_a_daemon_without_user_and_session():
    ok, message = _agent.explain_verify("L", {"result": "error", "error": "codesign /f failed (exit 1): /f: "
                                              "errSecInternalComponent"}, {"user": None, "session_create": False}, 60)
    assert not ok
    assert message.startswith("launchd job L has no UserName and no SessionCreate: a LaunchDaemon without UserName "
                              "and SessionCreate runs in the system security session")
    assert message.endswith("errSecInternalComponent")


def test_explain_no_record_and_a_locked_keychain():
    assert "wrote no result line within 60 s" in _agent.explain_verify("L", None, SESSION, 60)[1]
    message = _agent.explain_verify("L", {"result": "error", "error": "x: errSecInternalComponent"}, SESSION, 60)[1]
    assert "keychain is locked, or the key lacks the partition list" in message


def test_agent_findings_skip_the_notary_checks_on_builders():
    agent = {"ramdisk": {"mounted": False}, "janitor": {"loaded": False}}
    expected = {"ramdisk": "/Volumes/MacMeshNotary", "janitor_label": "j"}
    assert _agent.agent_findings(agent, expected, holder=False) == []
    codes = [code for code, _message in _agent.agent_findings(agent, expected, holder=True)]
    assert codes == ["NOTARY_RAMDISK_MISSING", "NOTARY_JANITOR_NOT_LOADED"]


def test_agent_expectation_from_inventory_vars():
    assert _agent.agent_expectation({}) == {"ramdisk": "/Volumes/MacMeshNotary", "ramdisk_owner": "ci-build",
                                            "janitor_label": "com.macmesh.notary-janitor", "ci_agent_label": None,
                                            "session_ttl_policy": None}
    expected = _agent.agent_expectation({"ci_agent_program_arguments": ["/x"], "build_p95_s": "240",
                                         "notary_credentials_volume_name": "N"})
    assert expected["ci_agent_label"] == "com.macmesh.ci-agent" and expected["ramdisk"] == "/Volumes/N"
    assert expected["session_ttl_policy"]["max_ttl_s"] == 420
