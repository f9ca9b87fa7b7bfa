"""Issue 12 against the lab: the CI agent's launchd job signs in its own session (also after a reboot,
with no human step and no playbook run), a daemon without UserName/SessionCreate cannot, the App Store
Connect key lives only on the RAM disk its janitor wipes, and the converge and the rotation gate see a
.p8 in ~/Downloads and one region's secret version moving.

One signer (hk) and one builder (sg), to keep the run short; every run's output and every node's argv
audit are checked for the lab's secrets, the ASC key included.
"""

import json
import os
import shutil
import stat
import subprocess
import time

import pytest
import yaml

from labkit import BIN, REPO, Run, load_demo_assets

SIGNER, BUILDER = "hk-mini-01", "sg-mini-01"
PAIR = "%s,%s" % (SIGNER, BUILDER)
LOGS = "/Library/Logs/MacMesh/ci-agent"
RAMDISK = "/Volumes/MacMeshNotary"
JANITOR = "com.macmesh.notary-janitor"
VERSIONS = "/Library/MacMesh/secret-versions.json"
AGENT_FIFO = "/Users/ci-build/.meshlab-agent/jobs"
MAC_DIRS = "/Applications /Library /System /Users /Volumes /private /usr /opt /etc /var /tmp /root"
CONVERGE = os.path.join(REPO, "playbooks", "converge.yml")
ROTATE = os.path.join(REPO, "playbooks", "rotate.yml")


def asc_key_body(lab):
    """The longest base64 line of the lab's fake ASC key: what a leak would show."""
    with open(lab.demo["asc_key"]) as handle:
        return max((line.strip() for line in handle if "-----" not in line), key=len)


def assert_no_secret(lab, text, where):
    lab.assert_no_secret(text, where)
    assert asc_key_body(lab) not in text, "%s contains the App Store Connect key" % where


class Pair(object):
    """The lab inventory plus a group `pair` (hk, sg) that converge and rotate can target."""

    def __init__(self, lab, tmp):
        self.lab = lab
        self.tmp = tmp
        with open(lab.inventory) as handle:
            inventory = yaml.safe_load(handle)
        inventory["all"]["children"]["pair"] = {"hosts": {SIGNER: None, BUILDER: None}}
        self.inventory = os.path.join(os.path.dirname(lab.inventory), "pair.yml")
        with open(self.inventory, "w") as handle:
            yaml.safe_dump(inventory, handle)
        self.reports = os.path.join(tmp, "reports")

    def play(self, playbook, *args, extra_vars=None, check_secrets=True):
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, playbook] + list(args)
        if extra_vars is not None:
            path = os.path.join(self.tmp, "extra-%d.json" % time.monotonic_ns())
            with open(path, "w") as handle:
                json.dump(extra_vars, handle)
            argv += ["-e", "@" + path]
        proc = subprocess.run(argv, env=self.lab.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=1800, check=False)
        if check_secrets:
            assert_no_secret(self.lab, proc.stdout, "ansible-playbook %s output" % os.path.basename(playbook))
        # The whole output, for a failure that Run's repr truncates.
        with open(os.path.join(self.tmp, "%s-%d.log" % (os.path.basename(playbook), time.monotonic_ns())), "w") as handle:
            handle.write(proc.stdout)
        return Run(proc)

    def bootstrap(self, *args):
        return self.play(os.path.join(REPO, "playbooks", "bootstrap.yml"), "--limit", PAIR, *args)

    def sh(self, script, node=SIGNER, user="root", check=True):
        return self.lab.sh(node, script, user=user, check=check)

    def log_records(self, name, node=SIGNER):
        text = self.sh("cat %s/%s" % (LOGS, name), node=node).stdout
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def wait_record(self, name, correlation_id, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for record in self.log_records(name):
                if record.get("correlation_id") == correlation_id:
                    return record
            time.sleep(1)
        raise AssertionError("no %s line with correlation id %s in %d s" % (name, correlation_id, timeout))

    def converge(self, **extra):
        extra_vars = dict(macmesh_converge_hosts="pair", macmesh_regions=["hk", "sg"], macmesh_reports_dir=self.reports)
        extra_vars.update(extra)
        run = self.play(CONVERGE, extra_vars=extra_vars)
        with open(os.path.join(self.reports, "compliance.json")) as handle:
            report = json.load(handle)
        for name in os.listdir(self.reports):
            with open(os.path.join(self.reports, name), errors="replace") as handle:
                assert_no_secret(self.lab, handle.read(), "report %s" % name)
        return run, report


@pytest.fixture(scope="module")
def pair(bootstrapped, tmp_path_factory):
    lab = bootstrapped
    pair = Pair(lab, str(tmp_path_factory.mktemp("ci-agent")))
    run = pair.bootstrap()
    assert run.rc == 0, run
    pair.first_run = run
    yield pair
    # Across this module, no secret reached any argv on the two nodes (the ASC key included).
    for host in (SIGNER, BUILDER):
        audit = lab.sh(host, "cat /var/log/macemu/audit.log", check=False).stdout
        assert_no_secret(lab, audit, "%s audit log" % host)


def findings(report, code):
    return sorted(f["host"] for f in report["findings"] if f["code"] == code)


# --- the agent's launchd job -----------------------------------------------------------------------


def test_the_agent_runs_under_launchd_in_its_own_session(pair):
    out = pair.sh("launchctl print system/com.macmesh.ci-agent").stdout
    assert "\tstate = running" in out and "\tusername = ci-build" in out and "\tsession create = 1" in out, out
    ready = [r for r in pair.log_records("agent.log") if r.get("event") == "ready"]
    assert ready, "the agent never started"


def test_bootstrap_verify_signs_inside_the_launchd_session(pair):
    assert "%s launchd-verify=ok" % SIGNER in pair.first_run.out, pair.first_run
    record = [r for r in pair.log_records("verify.log") if r.get("event") == "sign"][-1]
    assert record["result"] == "ok" and record["user"] == "ci-build"
    assert record["region"] == "hk" and record["manifest_version"] == pair.lab.demo["manifest_version"]
    assert record["correlation_id"].startswith("ci-agent-verify-%s-" % SIGNER)
    # The signature is real and made by the declared identity.
    display = pair.sh("codesign -dvvv /Users/ci-build/.macmesh-verify/launchd-verify.txt").stderr
    assert "Authority=%s" % pair.lab.demo["identity_name"] in display


def test_second_run_changes_nothing(pair):
    run = pair.bootstrap()
    assert run.rc == 0, run
    assert all(recap["changed"] == 0 for recap in run.recap.values()), (run.changed_tasks(), run)


# --- notary credentials -----------------------------------------------------------------------------


def test_the_asc_key_is_only_on_the_ram_disk(pair):
    key = "%s/AuthKey_%s.p8" % (RAMDISK, pair.lab.demo["asc_key_id"])
    # A Mac's own top-level directories: the lab node also sees host directories (a checkout with a
    # demo's material in lab/.state), which are the test equipment's, not the node's disk.
    out = pair.sh("stat -c '%%U %%a' %s %s; find %s 2>/dev/null \\( -path %s -o -path %s \\) -prune -o -name '*.p8' -print"
                  % (RAMDISK, key, MAC_DIRS, RAMDISK, pair.lab.state_dir), check=False).stdout
    assert out.splitlines() == ["ci-build 700", "ci-build 400"], out
    # The node's whole boot disk (the overlay's upper layer, read from the host): the key's content is
    # in no file there, so in no keychain either.
    body = asc_key_body(pair.lab).encode()
    upper = os.path.join(pair.lab.state_dir, "nodes", SIGNER, "upper")
    holders = []
    for root, _dirs, files in os.walk(upper):
        for name in files:
            path = os.path.join(root, name)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue  # FIFOs (the agent's job queue, the verify's password FIFO) would block
                with open(path, "rb") as handle:
                    if body in handle.read():
                        holders.append(path[len(upper):])
            except OSError:
                continue
    assert holders == []


def test_the_janitor_wipes_the_ram_disk_when_forced(pair):
    assert "AuthKey_" in pair.sh("ls %s" % RAMDISK).stdout
    pair.sh("launchctl kickstart -k system/%s" % JANITOR)
    deadline = time.time() + 60
    while time.time() < deadline and "AuthKey_" in pair.sh("ls %s" % RAMDISK).stdout:
        time.sleep(1)
    assert pair.sh("ls -A %s" % RAMDISK).stdout.strip() == ""
    assert '"action": "wipe"' in pair.sh("tail -1 /Library/Logs/MacMesh/notary-janitor.log").stdout


# --- converge and the rotation gate ------------------------------------------------------------------


def test_converge_flags_a_p8_in_downloads_and_one_regions_secret_version(pair):
    pair.sh("mkdir -p /Users/ci-build/Downloads && printf -- '-----BEGIN PRIVATE KEY-----\\nFAKE\\n' "
            "> /Users/ci-build/Downloads/AuthKey_STRAY00001.p8")
    pair.sh("sed -i 's/\"keychain_password\": \"1\"/\"keychain_password\": \"2\"/' %s" % VERSIONS)
    try:
        run, report = pair.converge()
        assert run.rc != 0, run
        assert findings(report, "NOTARY_KEY_OUTSIDE_RAMDISK") == [SIGNER], report["findings"]
        assert findings(report, "SECRET_VERSION_DIVERGES") == [SIGNER], report["findings"]
        diverges = [f for f in report["findings"] if f["code"] == "SECRET_VERSION_DIVERGES"][0]
        assert "keychain_password is at version 2 here, 1 elsewhere" in diverges["message"]

        material = load_demo_assets()
        os.environ["ANSIBLE_COLLECTIONS_PATH"] = pair.lab.collections
        renewed = material.issue_renewal(pair.lab.demo_dir, os.path.join(pair.tmp, "renewed"), "demo-2")
        run = pair.play(ROTATE, extra_vars={
            "rotate_hosts": "pair", "rotate_ticket": "CHG-12", "rotate_approvers": ["alice", "bob"],
            "rotate_force": True, "rotate_force_reason": "lab drill", "macmesh_max_key_copies": 4,
            "rotate_manifest": renewed["manifest"], "rotate_profiles_dir": renewed["profiles_dir"],
            "rotate_identities": renewed["identities"],
            "rotate_reports_dir": pair.reports, "macmesh_reports_dir": pair.reports}, check_secrets=False)
        assert run.rc != 0, run
        assert "REFUSED: secret keychain_password versions differ: 1 on %s; 2 on %s" % (BUILDER, SIGNER) in run.out \
            or "REFUSED: secret keychain_password versions differ: 2 on %s; 1 on %s" % (SIGNER, BUILDER) in run.out, run
    finally:
        pair.sh("rm -f /Users/ci-build/Downloads/AuthKey_*.p8; "
                "sed -i 's/\"keychain_password\": \"2\"/\"keychain_password\": \"1\"/' %s" % VERSIONS)


# --- reboot and the daemon variant ------------------------------------------------------------------


def job(pair, correlation_id):
    password = pair.lab.secrets()[0]
    return (json.dumps({"correlation_id": correlation_id, "identity": pair.lab.demo["identity_sha1"],
                        "file": "/Users/ci-build/.macmesh-verify/agent-job.txt", "password": password}) + "\n").encode()


def test_after_a_reboot_the_agent_signs_again_with_no_human_and_no_playbook(pair):
    pair.sh("printf 'a CI job artifact\\n' > /Users/ci-build/.macmesh-verify/agent-job.txt", user="ci-build")
    pair.lab.meshlab("reboot", SIGNER)
    # launchd loaded /Library/LaunchDaemons at boot: the agent (RunAtLoad) and the janitor are back.
    deadline = time.time() + 60
    while time.time() < deadline:
        if "state = running" in pair.sh("launchctl print system/com.macmesh.ci-agent", check=False).stdout:
            break
        time.sleep(1)
    # The RAM disk died with the boot; the janitor made a new, empty one.
    listing = pair.sh("mount; ls -A %s" % RAMDISK).stdout
    assert "on %s (apfs" % RAMDISK in listing and "AuthKey" not in listing, listing
    # A CI job arrives from the "server" with its secret (stdin of the FIFO, never argv).
    correlation_id = "after-reboot-%d" % time.time()
    proc = pair.lab.meshlab("exec", SIGNER, "-u", "ci-build", "--", "/bin/sh", "-c", "cat > %s" % AGENT_FIFO,
                            input=job(pair, correlation_id), check=False)
    assert proc.returncode == 0, proc
    record = pair.wait_record("agent.log", correlation_id)
    assert record["result"] == "ok", record
    assert record["label"] == "com.macmesh.ci-agent" and record["region"] == "hk"
    assert record["manifest_version"] == pair.lab.demo["manifest_version"]


@pytest.mark.parametrize("overrides, needle", [
    ({"ci_agent_user": "", "ci_agent_session_create": False}, "has no UserName and no SessionCreate"),
    ({"ci_agent_session_create": False}, "has no SessionCreate"),
])
def test_a_daemon_without_user_and_session_cannot_sign_and_the_verify_says_why(pair, overrides, needle):
    playbook = os.path.join(pair.tmp, "verify.yml")
    with open(playbook, "w") as handle:
        yaml.safe_dump([{"hosts": SIGNER, "become": True, "gather_facts": False, "tasks": [
            {"name": "Run the ci_agent verify", "ansible.builtin.include_role": {
                "name": "macmesh.signing.ci_agent", "tasks_from": "verify"}}]}], handle)
    # Run alone, the entry point is told what to sign with (the bootstrap takes it from the release).
    run = pair.play(playbook, extra_vars=dict(overrides, ci_agent_verify_identity=pair.lab.demo["identity_sha1"]))
    assert run.rc != 0, run
    assert "launchd-verify=FAILED" in run.out and needle in run.out, run
    assert "runs in the system security session" in run.out, run
    record = [r for r in pair.log_records("verify.log") if r.get("event") == "sign"][-1]
    assert record["result"] == "error"
    if "ci_agent_user" not in overrides:
        # UserName alone is not enough: codesign in the system session (reference 2.1).
        assert record["user"] == "ci-build" and "errSecInternalComponent" in record["error"], record


def test_converge_is_clean_on_the_agent_checks_again(pair):
    _run, report = pair.converge()
    codes = set(f["code"] for f in report["findings"])
    assert not codes & {"NOTARY_KEY_OUTSIDE_RAMDISK", "NOTARY_RAMDISK_MISSING", "NOTARY_RAMDISK_PERMISSIONS",
                        "NOTARY_JANITOR_NOT_LOADED", "CI_AGENT_JOB", "SESSION_TTL_ABOVE_POLICY",
                        "SECRET_VERSION_DIVERGES", "SECRET_VERSION_STALE"}, report["findings"]
    shutil.rmtree(pair.reports, ignore_errors=True)
