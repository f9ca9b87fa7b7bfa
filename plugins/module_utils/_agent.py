# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The CI agent's side of a node: session TTL policy, the launchd jobs and the notary RAM disk.

* ``session_ttl_policy``: ``min(1.5 x build_p95 + margin, cap)``, the longest a CI session may live.
* ``ci_agent_plist``: the launchd job document of the operator's agent command (a dict that
  ``plistlib`` or the ``to_plist`` template writes), checked for secrets in its environment.
* ``read_agent``: the node reader behind ``signing_info``'s ``agent`` part (Python 3.9 stdlib).
* ``agent_findings``: per-host findings over what ``read_agent`` returned (the converge).

Nothing here reads or returns a secret value: the reader reports names, paths, modes, versions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import os
import re
import stat

from collections.abc import Mapping

from ansible_collections.macmesh.signing.plugins.module_utils._accounts import user_name

DEFAULT_CAP_S = 600
DEFAULT_MARGIN_S = 60
TTL_FACTOR = 1.5
DEFAULT_RAMDISK = "/Volumes/MacMeshNotary"
DEFAULT_JANITOR_LABEL = "com.macmesh.notary-janitor"
DEFAULT_AGENT_LABEL = "com.macmesh.ci-agent"
DEFAULT_RUNNER_IDENTITY = "/Library/MacMesh/runner-identity.json"
DEFAULT_SECRET_VERSIONS = "/Library/MacMesh/secret-versions.json"
LAUNCHCTL = "/bin/launchctl"
# signing_info's ``agent`` option keys -> read_agent arguments.
AGENT_OPTIONS = {"ramdisk": "ramdisk", "janitor_label": "janitor_label", "ci_agent_label": "agent_label",
                 "runner_identity": "runner_identity_path", "secret_versions": "secret_versions_path"}
# Environment names that must never carry a value into a launchd plist (it is world-readable).
_SECRET_ENV_RE = re.compile(r"(PASS|SECRET|TOKEN|PRIVATE|CREDENTIAL|APIKEY|API_KEY|_KEY$|^KEY$|P12|P8)", re.I)
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class AgentInputError(ValueError):
    """A malformed input; ``field`` names it."""

    def __init__(self, field, message):
        self.field = field
        self.message = message
        super(AgentInputError, self).__init__("%s %s" % (field, message))


def _number(value, field, minimum=0):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise AgentInputError(field, "must be a number of seconds, not %r" % (value,))
    if math.isnan(value) or math.isinf(value) or value < minimum:
        raise AgentInputError(field, "must be a finite number of seconds >= %s, not %r" % (minimum, value))
    return value


def session_ttl_policy(build_p95_s, margin_s=DEFAULT_MARGIN_S, cap_s=DEFAULT_CAP_S):
    """``{"build_p95_s", "margin_s", "cap_s", "max_ttl_s"}``: max_ttl_s = min(1.5 x p95 + margin, cap), whole seconds.

    Rounded up: a policy never cuts a session shorter than the formula says.
    """
    p95 = _number(build_p95_s, "build_p95_s", minimum=0)
    margin = _number(margin_s, "session_ttl_margin_s", minimum=0)
    cap = _number(cap_s, "session_ttl_cap_s", minimum=1)
    return {
        "build_p95_s": p95,
        "margin_s": margin,
        "cap_s": cap,
        "max_ttl_s": int(min(math.ceil(TTL_FACTOR * p95 + margin), cap)),
    }


def session_ttl_finding(configured_ttl_s, policy):
    """None when ``configured_ttl_s`` (null = not configured) is within ``policy``, else a message."""
    if configured_ttl_s is None:
        return None
    ttl = _number(configured_ttl_s, "session_ttl_s", minimum=0)
    if not isinstance(policy, Mapping) or "max_ttl_s" not in policy:
        raise AgentInputError("session_ttl_policy", "must be the dict session_ttl_policy() returns")
    limit = _number(policy["max_ttl_s"], "session_ttl_policy.max_ttl_s")
    if ttl <= limit:
        return None
    return ("configured session TTL %ss is above the policy %ss = min(1.5 x build_p95 %ss + margin %ss, cap %ss)"
            % (_fmt(ttl), _fmt(limit), _fmt(policy.get("build_p95_s")), _fmt(policy.get("margin_s")),
               _fmt(policy.get("cap_s"))))


def _fmt(value):
    if isinstance(value, float) and value.is_integer():
        return "%d" % value
    return "%s" % (value,)


def ci_agent_plist(label, program_arguments, user, working_directory, stdout_path, stderr_path,
                   environment=None, session_create=True, run_at_load=True, keep_alive=False):
    """The launchd job of the CI agent, as a dict; refuses an environment that names a secret."""
    if not isinstance(label, str) or not _LABEL_RE.match(label):
        raise AgentInputError("ci_agent_label", "must be a reverse-DNS label such as com.example.ci-agent")
    if not isinstance(program_arguments, (list, tuple)) or not program_arguments \
            or not all(isinstance(arg, str) and arg for arg in program_arguments):
        raise AgentInputError("ci_agent_program_arguments", "must be a non-empty list of strings")
    if not program_arguments[0].startswith("/"):
        raise AgentInputError("ci_agent_program_arguments[0]", "must be an absolute path (launchd has no PATH search)")
    environment = dict(environment or {})
    for name in sorted(environment):
        if _SECRET_ENV_RE.search(str(name)):
            raise AgentInputError("ci_agent_environment.%s" % name,
                                  "looks like a secret: a launchd plist is readable by every user; let the agent "
                                  "fetch it at run time (the keychain password reaches the signing entry point on FD 3)")
        if not isinstance(environment[name], str):
            raise AgentInputError("ci_agent_environment.%s" % name, "must be a string")
    for field, path in (("ci_agent_working_directory", working_directory), ("stdout", stdout_path),
                        ("stderr", stderr_path)):
        if not isinstance(path, str) or not path.startswith("/"):
            raise AgentInputError(field, "must be an absolute path")
    job = {
        "Label": label,
        "ProgramArguments": list(program_arguments),
        "WorkingDirectory": working_directory,
        "StandardOutPath": stdout_path,
        "StandardErrorPath": stderr_path,
        "RunAtLoad": bool(run_at_load),
        "KeepAlive": bool(keep_alive),
        "ProcessType": "Standard",
    }
    if user:
        job["UserName"] = user
    if session_create:
        job["SessionCreate"] = True
    if environment:
        job["EnvironmentVariables"] = environment
    return job


# --- node reader (runs on the node, as root) ------------------------------------------------


def _read_json(path):
    """(dict, None) or (None, reason)."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    except (IOError, OSError) as exc:
        return None, "%s: %s" % (path, exc.strerror or exc)
    except ValueError as exc:
        return None, "%s: not JSON (%s)" % (path, exc)
    if not isinstance(data, dict):
        return None, "%s: not a JSON object" % path
    return data, None


def _mount_output(run):
    """{mount point: [type, options...]} from macOS ``mount``: ``/dev/disk5s1 on /Volumes/X (apfs, local, ...)``."""
    rc, out, _err = run(["/sbin/mount"])
    if rc != 0:
        return None
    found = {}
    for line in out.splitlines():
        match = re.match(r"^(\S+) on (.+) \(([^)]*)\)\s*$", line)
        if match:
            found[match.group(2)] = [part.strip() for part in match.group(3).split(",")]
    return found


def read_ramdisk(path, run):
    """The notary RAM disk: mounted?, filesystem, owner, mode, the files on it (names only)."""
    mounts = _mount_output(run)
    if mounts is None:
        raise OSError("/sbin/mount failed")
    options = mounts.get(path) or [None]
    info = {"path": path, "mounted": path in mounts, "fstype": options[0], "exists": os.path.isdir(path),
            "owners_enforced": path in mounts and "noowners" not in options, "owner": None, "mode": None,
            "files": []}
    if info["exists"]:
        st = os.stat(path)
        info["owner"] = user_name(st.st_uid)
        info["mode"] = "%04o" % stat.S_IMODE(st.st_mode)
        try:
            info["files"] = sorted(os.listdir(path))
        except OSError:
            info["files"] = None
    return info


def read_job(label, run):
    """A launchd job in the system domain: loaded?, and the few plist keys the checks need."""
    rc, out, err = run([LAUNCHCTL, "print", "system/%s" % label])
    job = {"label": label, "loaded": rc == 0, "state": None, "user": None, "session_create": None,
           "last_exit": None, "error": None if rc == 0 else (err or out).strip()[:300]}
    if rc != 0:
        return job
    for line in out.splitlines():
        line = line.strip()
        match = re.match(r"^state = (\S+)", line)
        if match:
            job["state"] = match.group(1)
        match = re.match(r"^username = (\S+)", line)
        if match:
            job["user"] = match.group(1)
        match = re.match(r"^last exit code = (.+)$", line)
        if match:
            job["last_exit"] = match.group(1)
        if line == "session create = 1" or line == "session create = true":
            job["session_create"] = True
    if job["session_create"] is None:
        job["session_create"] = False
    return job


def read_agent(run, ramdisk=DEFAULT_RAMDISK, janitor_label=DEFAULT_JANITOR_LABEL, agent_label=DEFAULT_AGENT_LABEL,
               runner_identity_path=DEFAULT_RUNNER_IDENTITY, secret_versions_path=DEFAULT_SECRET_VERSIONS):
    """Everything ``agent_findings`` checks, read on the node. ``run(argv) -> (rc, out, err)``.

    Returns ``(agent, unavailable)``: ``unavailable`` maps ``agent.<part>`` to why it is null.
    """
    unavailable = {}
    agent = {"ramdisk": None, "janitor": None, "ci_agent": None, "session_ttl": None, "secret_versions": None}
    try:
        agent["ramdisk"] = read_ramdisk(ramdisk, run)
    except OSError as exc:
        unavailable["agent.ramdisk"] = "%s: %s" % (ramdisk, exc)
    agent["janitor"] = read_job(janitor_label, run) if janitor_label else None
    agent["ci_agent"] = read_job(agent_label, run) if agent_label else None
    identity, reason = _read_json(runner_identity_path)
    if identity is None:
        unavailable["agent.session_ttl"] = reason
    else:
        agent["session_ttl"] = {"configured_s": identity.get("session_ttl_s"),
                                "policy": identity.get("session_ttl_policy")}
    versions, reason = _read_json(secret_versions_path)
    if versions is None:
        unavailable["agent.secret_versions"] = reason
    else:
        secrets = versions.get("secrets")
        agent["secret_versions"] = dict(secrets) if isinstance(secrets, dict) else {}
    return agent, unavailable


# --- converge checks (controller) -----------------------------------------------------------


def agent_findings(agent, expected, holder):
    """Per-host findings ``[(code, message)]`` over signing_info's ``agent`` result.

    ``expected``: ``{"ramdisk": path, "ramdisk_owner": user, "janitor_label": label,
    "ci_agent_label": label or None, "session_ttl_policy": dict or None}``; the notary checks
    apply to key holders (signers) only, the TTL and agent checks to every host.
    """
    findings = []
    if not isinstance(agent, Mapping):
        return findings
    expected = expected or {}
    if holder and expected.get("ramdisk"):
        ramdisk = agent.get("ramdisk")
        if isinstance(ramdisk, Mapping):
            if not ramdisk.get("mounted"):
                findings.append(("NOTARY_RAMDISK_MISSING", "no RAM disk is mounted at %s (%s)" % (
                    ramdisk.get("path"), "an ordinary directory is there" if ramdisk.get("exists") else "nothing is there")))
            else:
                wrong = []
                owner = expected.get("ramdisk_owner")
                if owner and ramdisk.get("owner") != owner:
                    wrong.append("owner %s (expected %s)" % (ramdisk.get("owner"), owner))
                if ramdisk.get("mode") != "0700":
                    wrong.append("mode %s (expected 0700)" % ramdisk.get("mode"))
                if not ramdisk.get("owners_enforced", True):
                    wrong.append("ownership ignored (noowners: diskutil enableOwnership was not run)")
                if wrong:
                    findings.append(("NOTARY_RAMDISK_PERMISSIONS",
                                     "RAM disk %s has %s" % (ramdisk.get("path"), " and ".join(wrong))))
        janitor = agent.get("janitor")
        if isinstance(janitor, Mapping) and not janitor.get("loaded"):
            findings.append(("NOTARY_JANITOR_NOT_LOADED", "launchd job %s (wipes %s every 24 h and at boot) is not "
                             "loaded: %s" % (janitor.get("label"), expected.get("ramdisk"), janitor.get("error") or "?")))
    label = expected.get("ci_agent_label")
    job = agent.get("ci_agent")
    if label and isinstance(job, Mapping):
        if not job.get("loaded"):
            findings.append(("CI_AGENT_JOB", "launchd job %s is not loaded: %s" % (label, job.get("error") or "?")))
        elif not job.get("user") or job.get("user") == "root" or not job.get("session_create"):
            findings.append(("CI_AGENT_JOB", "launchd job %s runs as %s with SessionCreate %s: without UserName and "
                             "SessionCreate it runs in the system security session and cannot use the CI user's "
                             "keychain" % (label, job.get("user") or "root", bool(job.get("session_create")))))
    ttl = agent.get("session_ttl")
    if isinstance(ttl, Mapping):
        policy = expected.get("session_ttl_policy") or ttl.get("policy")
        if isinstance(policy, Mapping) and "max_ttl_s" in policy:
            message = session_ttl_finding(ttl.get("configured_s"), policy)
            if message:
                findings.append(("SESSION_TTL_ABOVE_POLICY", message))
    return findings


# --- the launchd verify (node) --------------------------------------------------------------


def find_record(text, correlation_id):
    """The last JSON line of ``text`` whose correlation_id is ``correlation_id`` (None if none)."""
    found = None
    for line in (text or "").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("correlation_id") == correlation_id:
            found = record
    return found


def explain_verify(label, record, job, timeout_s):
    """``(ok, message)`` for a verify run: ok only when the job signed; otherwise the likely cause first."""
    job = job or {}
    no_session = not job.get("user") or job.get("user") == "root" or not job.get("session_create")
    if record is not None and record.get("result") == "ok" and not no_session:
        return True, "launchd job %s (user %s, own security session) signed %s" % (
            label, job.get("user"), ", ".join(record.get("files") or []))
    if record is not None and record.get("result") == "ok":
        return True, "launchd job %s signed although it runs as %s with SessionCreate %s" % (
            label, job.get("user") or "root", bool(job.get("session_create")))
    error = (record or {}).get("error") or ""
    if no_session:
        cause = ("launchd job %s has %s: a LaunchDaemon without UserName and SessionCreate runs in the system "
                 "security session and cannot use %s's keychain (codesign: errSecInternalComponent). Set UserName "
                 "to the CI user and SessionCreate to true" % (
                     label, " and ".join(part for part in (
                         "no UserName" if not job.get("user") or job.get("user") == "root" else "",
                         "no SessionCreate" if not job.get("session_create") else "") if part),
                     "the CI user"))
    elif record is None:
        cause = ("launchd job %s wrote no result line within %d s: it did not start, or it blocked "
                 "(see its StandardErrorPath)" % (label, timeout_s))
    elif "errSecInternalComponent" in error:
        cause = ("launchd job %s could not use the signing key: the keychain is locked, or the key lacks "
                 "the partition list apple-tool:,apple: or the codesign ACL" % label)
    elif "did not finish within" in error:
        cause = "launchd job %s: signing timed out (a prompt no one can answer)" % label
    else:
        cause = "launchd job %s failed to sign" % label
    return False, cause + (": " + error if error else "")


# --- what the converge expects (controller) -------------------------------------------------

# Inventory variables agent_expectation and expected_secret_versions read from a signer's vars.
EXPECTATION_VARS = ("notary_credentials_volume_name", "notary_credentials_user", "notary_credentials_janitor_label",
                    "ci_agent_label", "ci_agent_program_arguments", "build_p95_s", "runner_identity_session_ttl_margin_s",
                    "runner_identity_session_ttl_cap_s", "keychain_password_version", "keychain_identities",
                    "notary_credentials_key_version")


def agent_expectation(host_vars):
    """``expected.agent`` of mesh_parity from a signer's inventory variables (role defaults where unset)."""
    host_vars = host_vars or {}
    policy = None
    if host_vars.get("build_p95_s") not in (None, ""):
        policy = session_ttl_policy(host_vars["build_p95_s"], host_vars.get("runner_identity_session_ttl_margin_s",
                                                                            DEFAULT_MARGIN_S),
                                    host_vars.get("runner_identity_session_ttl_cap_s", DEFAULT_CAP_S))
    return {
        "ramdisk": "/Volumes/%s" % host_vars.get("notary_credentials_volume_name", DEFAULT_RAMDISK.rsplit("/", 1)[-1]),
        "ramdisk_owner": host_vars.get("notary_credentials_user", "ci-build"),
        "janitor_label": host_vars.get("notary_credentials_janitor_label", DEFAULT_JANITOR_LABEL),
        # Only a mesh that installs an agent (the operator names its command) expects the job.
        "ci_agent_label": host_vars.get("ci_agent_label", DEFAULT_AGENT_LABEL)
        if host_vars.get("ci_agent_program_arguments") else None,
        "session_ttl_policy": policy,
    }
