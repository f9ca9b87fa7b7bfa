"""Helpers for the rotation and revocation tests (tests/integration/test_rotate.py, tests/drills).

Renewed material from the lab's fake demo CA, the operator's rotation variables, and a Drill that
runs rotate.yml / revoke.yml / converge.yml against the lab and checks every output for secrets.
"""

import json
import os
import shutil
import subprocess

from labkit import BIN, KEYCHAIN, MESHLAB, REPO, Run, load_demo_assets, make_tempdir

ROTATE = os.path.join(REPO, "playbooks", "rotate.yml")
REVOKE = os.path.join(REPO, "playbooks", "revoke.yml")
CONVERGE = os.path.join(REPO, "playbooks", "converge.yml")
# What a node records about the release it runs (bootstrap, rotate and revoke write it).
STATE = "/Library/MacMesh/release.json"
GATE = {"rotate_ticket": "CHG-4711", "rotate_approvers": ["alice", "bob"]}
# The lab's demo material expires in about 300 days: every lab rotation is outside its window.
FORCE = {"rotate_force": True, "rotate_force_reason": "lab drill: demo material is far from expiry"}
# The lab's releases carry its policy (four signers hold the same identity: max_key_copies 4).
POLICY = {}
VERBOSE = "-vvv"


# --- material -------------------------------------------------------------------------------------


def issue(lab, name, version, broken=False, mismatch=False):
    """Renewed material from the lab's fake demo CA (lab/demo_assets.issue_renewal)."""
    demo = load_demo_assets()
    old_env = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = lab.collections
    try:
        return demo.issue_renewal(lab.demo_dir, os.path.join(lab.state_dir, "rotation", name), version,
                                  broken=broken, mismatch=mismatch)
    finally:
        if old_env is None:
            os.environ.pop("ANSIBLE_COLLECTIONS_PATH")
        else:
            os.environ["ANSIBLE_COLLECTIONS_PATH"] = old_env


def rotate_vars(material, **extra):
    result = dict(GATE, **FORCE)
    result.update(POLICY)
    # The lab's material keeps its profiles beside profiles.json, in profiles/ (as the demo passes it).
    result.update(rotate_manifest=material["manifest"], rotate_profiles_dir=material["profiles_dir"],
                  rotate_identities=material["identities"])
    result.update(extra)
    return result


# --- running --------------------------------------------------------------------------------------


class Drill(object):
    def __init__(self, lab, verbose=VERBOSE):
        self.lab = lab
        self.verbose = verbose
        self.reports = make_tempdir()
        self.secrets = [self.keychain_password(), self.read(lab.demo["p12_passphrase_file"])]

    @staticmethod
    def read(path):
        with open(path) as handle:
            return handle.read().strip()

    def keychain_password(self):
        return self.read(os.path.join(self.lab.state_dir, "secrets", "keychain_password"))

    def play(self, playbook, extra_vars, *args, env=None):
        extra_vars = dict(extra_vars, rotate_reports_dir=self.reports, macmesh_reports_dir=self.reports)
        vars_file = os.path.join(make_tempdir(), "vars.json")
        with open(vars_file, "w") as handle:
            json.dump(extra_vars, handle)
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", self.lab.inventory, playbook,
                "-e", "@" + vars_file] + ([self.verbose] if self.verbose else []) + list(args)
        # Its own session: a drill's kill callback kills the playbook's process group, never pytest.
        proc = subprocess.run(argv, env=dict(self.lab.env, **(env or {})), cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=900, check=False,
                              start_new_session=True)
        shutil.rmtree(os.path.dirname(vars_file))
        run = Run(proc)
        self.assert_no_secret(run.out, playbook)
        return run

    def rotate(self, material, env=None, **extra):
        run = self.play(ROTATE, rotate_vars(material, **extra), env=env)
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

    def current_release(self):
        with open(os.path.join(self.lab.demo["releases_dir"], "current")) as handle:
            return handle.read().strip()

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
                              universal_newlines=True, timeout=120, check=False)
        return proc.returncode
