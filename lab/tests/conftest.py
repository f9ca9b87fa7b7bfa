"""Fixtures for the meshlab tests: a private lab on 127.0.9.N in a temporary state dir.

The lab tests need root (namespaces, mounts); they are skipped otherwise. They never touch a
developer's lab: their own MESHLAB_DIR and MESHLAB_SUBNET=127.0.9.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(LAB_DIR)
MESHLAB = os.path.join(LAB_DIR, "meshlab")
# MESHLAB_TEST_SUBNET moves the tests' labs (e.g. a helper's own subnet); make test uses 127.0.9.
SUBNET = os.environ.get("MESHLAB_TEST_SUBNET") or "127.0.9"
NODES = ["hk-mini-01", "jp-mini-01", "kr-mini-01", "sg-mini-01", "us-mini-01"]

sys.path.insert(0, LAB_DIR)

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not os.path.exists("/usr/sbin/sshd"),
    reason="the lab needs root, util-linux unshare and openssh-server")


def addr(node):
    return "%s.%d" % (SUBNET, NODES.index(node) + 1)


class LabHandle:
    """Runs lab/meshlab and ssh against one state dir."""

    def __init__(self, state_dir, seed, subnet=SUBNET):
        self.state_dir = str(state_dir)
        self.seed = str(seed)
        self.env = dict(os.environ, MESHLAB_DIR=self.state_dir, MESHLAB_SUBNET=subnet, MESHLAB_SEED=self.seed)

    def run(self, *args, env=None, timeout=60):
        return subprocess.run([MESHLAB] + list(args), env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, *args):
        res = self.run(*args)
        assert res.returncode == 0, "meshlab %s failed (%d):\n%s%s" % (args, res.returncode, res.stdout, res.stderr)
        return res.stdout

    def exec(self, node, script, user=None):
        args = ["exec", node] + (["-u", user] if user else []) + ["--", "sh", "-c", script]
        return self.run(*args)

    def status(self):
        return {row["node"]: row for row in json.loads(self.ok("status", "--json"))}

    def ssh_argv(self, node, command, user="root", timeout=2):
        return ["ssh", "-i", os.path.join(self.state_dir, "ssh", "id_ed25519"),
                "-o", "UserKnownHostsFile=" + os.path.join(self.state_dir, "ssh", "known_hosts"),
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ControlMaster=no",
                "-o", "ControlPath=none", "-o", "ConnectTimeout=%d" % timeout,
                "%s@%s" % (user, addr(node)), command]

    def ssh(self, node, command, user="root", timeout=2):
        return subprocess.run(self.ssh_argv(node, command, user, timeout), capture_output=True, text=True,
                              timeout=timeout + 30)


def make_seed(root):
    """A tiny seed tree standing in for the macOS emulator."""
    probe = root / "usr" / "local" / "bin" / "meshlab-seed-probe"
    probe.parent.mkdir(parents=True)
    probe.write_text("#!/bin/sh\necho seed-probe-v1\n")
    probe.chmod(0o755)
    (probe.parent / "meshlab-seed-link").symlink_to("meshlab-seed-probe")
    (root / "etc").mkdir()
    (root / "etc" / "meshlab-seed.conf").write_text("seeded\n")
    # /var/run is an absolute symlink to /run on Debian: it must resolve inside the node.
    (root / "var" / "run").mkdir(parents=True)
    (root / "var" / "run" / "meshlab-seed-run").write_text("run\n")
    return root


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("meshlab")
    handle = LabHandle(base / "state", make_seed(base / "seed"))
    res = handle.run("up")
    if res.returncode != 0:
        handle.run("down")
        pytest.fail("meshlab up failed:\n%s%s" % (res.stdout, res.stderr))
    yield handle
    handle.run("down")
