"""playbooks/rotate.yml and playbooks/revoke.yml against the five-node lab: the rotation drills.

The tests run in file order and build on each other: the gates refuse, the canary's verify fails
and rolls back, a full rotation succeeds (then re-runs with no change), a region goes down in a
second rotation and a re-run completes it, the old material is retired, a leaked identity is
revoked. Every run is checked for secrets in its -vvv output, every node's argv audit at the end.
New material is issued by the lab's own fake demo CA (lab/demo_assets.py, imported).
"""

import json
import os
import shutil
import subprocess

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from labkit import BIN, HOSTS, KEYCHAIN, MESHLAB, PROFILE_ROOT, REPO, SIGNERS, Run, load_demo_assets, make_tempdir

ROTATE = os.path.join(REPO, "playbooks", "rotate.yml")
REVOKE = os.path.join(REPO, "playbooks", "revoke.yml")
CONVERGE = os.path.join(REPO, "playbooks", "converge.yml")
STATE = "/Library/MacMesh/rotation-state.json"
GATE = {"rotate_ticket": "CHG-4711", "rotate_approvers": ["alice", "bob"]}
# The lab's demo material expires in about 300 days: every lab rotation is outside its window.
FORCE = {"rotate_force": True, "rotate_force_reason": "lab drill: demo material is far from expiry"}
# Four lab signers hold the same identity (the converge's default allows two copies).
POLICY = {"macmesh_max_key_copies": 4}
VERBOSE = "-vvv"


# --- material -------------------------------------------------------------------------------------


def issue(lab, name, version, broken=False, mismatch=False):
    """A renewed identity (p12 + passphrase) and new profiles for it, with their manifest.

    broken: the identity has no code-signing usage (imports, but codesign cannot use it).
    mismatch: the profiles list the OLD identity instead of the new one.
    """
    demo = load_demo_assets()
    ca_key, ca_cert, signer_key, signer_cert, old_cert = demo.load_private(lab.demo_dir)
    out = os.path.join(lab.state_dir, "rotation", name)
    shutil.rmtree(out, ignore_errors=True)
    if broken:
        subject = demo._name(demo.IDENTITY_NAME, unit=demo.TEAM_ID, uid=demo.TEAM_ID)
        key, cert = demo.issue_leaf(ca_key, ca_cert, subject, ExtendedKeyUsageOID.CLIENT_AUTH)
    else:
        key, cert = demo.make_identity(ca_key, ca_cert)
    passphrase = demo.new_passphrase()
    p12 = os.path.join(out, "identity", "distribution.p12")
    demo.write_file(p12, demo.legacy_p12(key, cert, [ca_cert], passphrase), 0o600)
    profiles_dir = os.path.join(out, "profiles")
    for bundle_id in demo.BUNDLE_IDS:
        body = demo.profile_plist(bundle_id, old_cert if mismatch else cert, expires_days=400)
        demo.write_file(os.path.join(profiles_dir, "%s.mobileprovision" % body["UUID"]),
                        demo.sign_profile(body, signer_key, signer_cert, ca_cert))
    old_env = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = lab.collections
    try:
        manifest = demo.build_manifest(profiles_dir, os.path.join(out, "profiles.json"), version)
    finally:
        if old_env is None:
            os.environ.pop("ANSIBLE_COLLECTIONS_PATH")
        else:
            os.environ["ANSIBLE_COLLECTIONS_PATH"] = old_env
    sha1 = cert.fingerprint(demo.hashes.SHA1()).hex().upper()
    return {
        "manifest": os.path.join(out, "profiles.json"),
        "version": version,
        "sha256": manifest["sha256"],
        "sha1": sha1,
        "passphrase": passphrase,
        "identities": [{"src": p12, "passphrase": passphrase, "sha1": sha1}],
    }


def rotate_vars(material, **extra):
    result = dict(GATE, **FORCE)
    result.update(POLICY)
    result.update(rotate_manifest=material["manifest"], rotate_identities=material["identities"])
    result.update(extra)
    return result


# --- running --------------------------------------------------------------------------------------


class Drill(object):
    def __init__(self, lab):
        self.lab = lab
        self.reports = make_tempdir()
        self.secrets = [self.keychain_password(), self.read(lab.demo["p12_passphrase_file"])]

    @staticmethod
    def read(path):
        with open(path) as handle:
            return handle.read().strip()

    def keychain_password(self):
        return self.read(os.path.join(self.lab.state_dir, "secrets", "keychain_password"))

    def play(self, playbook, extra_vars, *args):
        extra_vars = dict(extra_vars, rotate_reports_dir=self.reports, macmesh_reports_dir=self.reports)
        vars_file = os.path.join(make_tempdir(), "vars.json")
        with open(vars_file, "w") as handle:
            json.dump(extra_vars, handle)
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", self.lab.inventory, playbook,
                "-e", "@" + vars_file, VERBOSE] + list(args)
        proc = subprocess.run(argv, env=self.lab.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=900)
        shutil.rmtree(os.path.dirname(vars_file))
        run = Run(proc)
        self.assert_no_secret(run.out, playbook)
        return run

    def rotate(self, material, **extra):
        run = self.play(ROTATE, rotate_vars(material, **extra))
        path = os.path.join(self.reports, "rotation.json")
        run.report = None
        if os.path.exists(path):
            with open(path) as handle:
                run.report = json.load(handle)
            os.unlink(path)
        return run

    def converge(self):
        run = self.play(CONVERGE, dict(POLICY))
        with open(os.path.join(self.reports, "compliance.json")) as handle:
            run.report = json.load(handle)
        return run

    def assert_no_secret(self, text, where):
        for secret in self.secrets:
            assert secret not in text, "a secret appears in %s" % where

    def state(self, host):
        proc = self.lab.sh(host, "cat %s 2>/dev/null || true" % STATE)
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    def identities(self, host):
        return self.lab.sh(host, "security find-identity -p codesigning %s" % KEYCHAIN, user="ci-build").stdout

    def sign(self, host, sha1):
        """Unlock (password on stdin), sign a scratch file with sha1, lock: the exit status of codesign."""
        script = ('f=$(mktemp); echo drill > "$f"; security -i >/dev/null; '
                  'codesign -s %s --keychain %s -f "$f"; rc=$?; security lock-keychain %s; rm -f "$f"; exit $rc'
                  % (sha1, KEYCHAIN, KEYCHAIN))
        stdin = 'unlock-keychain -p "%s" "%s"\n' % (self.keychain_password(), KEYCHAIN)
        proc = subprocess.run([MESHLAB, "exec", host, "-u", "ci-build", "--", "/bin/sh", "-c", script],
                              input=stdin, env=self.lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=120)
        return proc.returncode


@pytest.fixture(scope="module")
def drill(lab):
    """A bootstrapped lab (bootstrap is idempotent: cheap when test_bootstrap already ran)."""
    run = lab.playbook("--skip-tags", "verify")
    assert run.rc == 0, run
    return Drill(lab)


@pytest.fixture(scope="module")
def renewed(lab):
    return issue(lab, "renewed", "demo-2")
