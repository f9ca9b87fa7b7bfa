"""Helpers for the integration tests: real `ansible-playbook` runs of playbooks/bootstrap.yml against the meshlab lab.

The lab is test equipment (lab/meshlab + the macOS emulator). By default a private lab is started on
127.0.8.0/24 in /tmp/macmesh-it-lab and removed at the end. To reuse a running lab, set both
MESHLAB_DIR and MESHLAB_SUBNET (it is then left running). Tests are skipped when the machine cannot
run the lab (not root, or no sshd/unshare).
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MESHLAB = os.path.join(REPO, "lab", "meshlab")
PLAYBOOK = os.path.join(REPO, "playbooks", "bootstrap.yml")
BIN = os.path.dirname(sys.executable)
KEYCHAIN = "/Users/ci-build/Library/Keychains/ci-build.keychain-db"
PROFILE_ROOT = "/Library/MacMesh/profiles"
WRAPPER = "/usr/local/bin/macmesh-keychain-unlock"
HOSTS = ["hk-mini-01", "jp-mini-01", "kr-mini-01", "sg-mini-01", "us-mini-01"]
SIGNERS = ["hk-mini-01", "jp-mini-01", "kr-mini-01", "us-mini-01"]
RECAP_RE = re.compile(
    r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE
)


def load_demo_assets():
    spec = importlib.util.spec_from_file_location("demo_assets", os.path.join(REPO, "lab", "demo_assets.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Run(object):
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.recap = {
            m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)),
                         "unreachable": int(m.group(4)), "failed": int(m.group(5))}
            for m in RECAP_RE.finditer(self.out)
        }

    def summary(self):
        """{host: summary line} from the verify play's debug lines."""
        lines = re.findall(r'"msg": "((\S+) region=[^"]*)"', self.out)
        return {host: line for line, host in lines}

    def changed_tasks(self):
        """Names of the tasks that reported a change on any host."""
        names, task = [], None
        for line in self.out.splitlines():
            match = re.match(r"^TASK \[(.*)\] \**$", line)
            if match:
                task = match.group(1)
            elif line.startswith("changed: ") and task not in names:
                names.append(task)
        return names

    def __repr__(self):
        return "Run(rc=%d)\n%s" % (self.rc, self.out[-6000:])


class Lab(object):
    def __init__(self, state_dir, subnet, inventory, collections, demo_dir):
        self.state_dir = state_dir
        self.subnet = subnet
        self.inventory = inventory
        self.collections = collections
        self.demo_dir = demo_dir
        with open(os.path.join(demo_dir, "demo.json")) as handle:
            self.demo = json.load(handle)

    @property
    def env(self):
        env = dict(os.environ)
        env.update(
            MESHLAB_DIR=self.state_dir,
            MESHLAB_SUBNET=self.subnet,
            MACMESH_DEMO_DIR=self.demo_dir,
            ANSIBLE_COLLECTIONS_PATH=self.collections,
            ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_NOCOLOR="1",
            PATH=BIN + os.pathsep + env.get("PATH", ""),
        )
        return env

    def playbook_argv(self, *args):
        return [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, PLAYBOOK] + list(args)

    def secrets(self):
        """The lab's real secrets: the keychain password and the demo p12 passphrase."""
        values = []
        for path in (os.path.join(self.state_dir, "secrets", "keychain_password"),
                     os.path.join(self.demo_dir, "identity", "distribution.p12.passphrase")):
            with open(path) as handle:
                values.append(handle.read().strip())
        return [value for value in values if value]

    def assert_no_secret(self, text, where):
        """Fail naming the place, never the value."""
        leaked = [index for index, value in enumerate(self.secrets()) if value in text]
        assert not leaked, "%s contains lab secret #%s (keychain password = 0, p12 passphrase = 1)" % (where, leaked)

    def assert_no_secret_in_audit_logs(self):
        """No keychain password or p12 passphrase reached any argv on any node (the emulator's argv audit)."""
        for host in HOSTS:
            audit = self.sh(host, "cat /var/log/macemu/audit.log", check=False).stdout
            self.assert_no_secret(audit, "%s /var/log/macemu/audit.log" % host)

    def playbook(self, *args, extra_vars=None):
        """Run the bootstrap; every run's output, at any verbosity, is checked for the lab's secrets."""
        argv = self.playbook_argv(*args)
        if extra_vars is not None:
            argv += ["-e", json.dumps(extra_vars)]
        proc = subprocess.run(argv, env=self.env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=900, check=False)
        self.assert_no_secret(proc.stdout, "ansible-playbook %s output" % " ".join(args))
        return Run(proc)

    def meshlab(self, *args, check=True, input=None):
        """Run lab/meshlab; `input` (bytes) goes to its stdin and the output is then bytes too."""
        return subprocess.run([MESHLAB] + list(args), env=self.env, stdout=subprocess.PIPE, input=input,
                              stderr=subprocess.PIPE, universal_newlines=input is None, check=check, timeout=300)

    def sh(self, node, script, user="root", check=True):
        """Run a shell script on a node (through meshlab exec, not through Ansible)."""
        proc = self.meshlab("exec", node, "-u", user, "--", "/bin/sh", "-c", script, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("%s: %s failed (%d): %s%s" % (node, script, proc.returncode, proc.stdout, proc.stderr))
        return proc

    def node_state(self, node):
        """What a failed run must not change: identities, keychain file, profile links and versions."""
        script = (
            "sha256sum %s | cut -d' ' -f1; "
            "security find-identity -p codesigning %s 2>&1; "
            "readlink %s/current; readlink %s/previous; ls -a %s"
        ) % (KEYCHAIN, KEYCHAIN, PROFILE_ROOT, PROFILE_ROOT, PROFILE_ROOT)
        return self.sh(node, script, user="root", check=False).stdout

    # --- snapshots: a module starts from the bootstrapped mesh instead of bootstrapping it again ------
    def _controller_snapshot(self, name):
        return os.path.join(self.state_dir, "snapshots-controller", name)

    def snapshot(self, name):
        """Every node's disk (meshlab snapshot) and the controller's desired state (the demo's releases)."""
        self.meshlab("snapshot", name)
        target = self._controller_snapshot(name)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.demo["releases_dir"], target, symlinks=True)

    def restore(self, name):
        """Back to snapshot `name` on every node and on the controller (a reboot onto the snapshot's disks).

        The nodes' argv audit logs are replaced with the disks: what they hold now is checked for the lab's
        secrets first, as the session's last check would have done.
        """
        self.assert_no_secret_in_audit_logs()
        self.meshlab("restore", name)
        shutil.rmtree(self.demo["releases_dir"])
        shutil.copytree(self._controller_snapshot(name), self.demo["releases_dir"], symlinks=True)

    def readlink(self, node, name):
        return self.sh(node, "readlink %s/%s || true" % (PROFILE_ROOT, name)).stdout.strip()


def kill_when(argv, env, marker, timeout=600):
    """Start argv in its own process group, SIGKILL the whole group once `marker` is printed.

    Returns the output up to the kill; fails when the run ends before the marker shows up.
    """
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, start_new_session=True)
    seen = []
    deadline = time.time() + timeout
    try:
        for line in proc.stdout:
            seen.append(line)
            if marker in line or time.time() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait()
    output = "".join(seen)
    assert marker in output, "the run ended before %r:\n%s" % (marker, output[-4000:])
    return output


def make_tempdir():
    return tempfile.mkdtemp(prefix="macmesh-it-")
