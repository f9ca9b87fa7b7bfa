"""Fixtures of the integration tests (see labkit.py for the lab they drive).

By default a private lab is started on 127.0.8.0/24 in /tmp/macmesh-it-lab and removed at the end.
To reuse a running lab, set both MESHLAB_DIR and MESHLAB_SUBNET (it is then left running). The
tests are skipped when the machine cannot run the lab (not root, or no sshd/unshare).
"""

import os
import shutil
import subprocess
import sys

import pytest

from labkit import MESHLAB, REPO, Lab, load_demo_assets


def _lab_usable():
    return os.geteuid() == 0 and shutil.which("unshare") and os.path.exists("/usr/sbin/sshd")


def _collections_tree(tmp):
    if os.environ.get("ANSIBLE_COLLECTIONS_PATH"):
        return os.environ["ANSIBLE_COLLECTIONS_PATH"]
    os.makedirs(os.path.join(tmp, "ansible_collections", "macmesh"))
    os.symlink(REPO, os.path.join(tmp, "ansible_collections", "macmesh", "signing"))
    return tmp


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    if not _lab_usable():
        pytest.skip("the lab needs root, unshare and openssh-server")
    reuse = bool(os.environ.get("MESHLAB_DIR") and os.environ.get("MESHLAB_SUBNET"))
    state_dir = os.environ.get("MESHLAB_DIR") if reuse else os.environ.get("MACMESH_IT_LAB_DIR", "/tmp/macmesh-it-lab")
    subnet = os.environ.get("MESHLAB_SUBNET") if reuse else os.environ.get("MACMESH_IT_SUBNET", "127.0.8")
    env = dict(os.environ, MESHLAB_DIR=state_dir, MESHLAB_SUBNET=subnet)
    if not reuse:
        subprocess.run([MESHLAB, "up"], env=env, check=True, stdout=subprocess.PIPE, timeout=300)

    tmp = str(tmp_path_factory.mktemp("it"))
    collections = _collections_tree(os.path.join(tmp, "collections"))
    demo_dir = os.path.join(state_dir, "demo")
    subprocess.run([sys.executable, os.path.join(REPO, "lab", "demo_assets.py"), "--out", demo_dir],
                   env=dict(env, ANSIBLE_COLLECTIONS_PATH=collections), check=True, stdout=subprocess.PIPE)
    # The lab's standalone inventory plus the repository's lab group_vars (role variables).
    inventory_dir = os.path.join(tmp, "inventory")
    os.makedirs(inventory_dir)
    shutil.copy(os.path.join(state_dir, "inventory.yml"), os.path.join(inventory_dir, "hosts.yml"))
    os.symlink(os.path.join(REPO, "inventories", "lab", "group_vars"), os.path.join(inventory_dir, "group_vars"))

    lab = Lab(state_dir, subnet, os.path.join(inventory_dir, "hosts.yml"), collections, demo_dir)
    yield lab

    # Across the whole run, no keychain password or p12 passphrase reached any argv on any node.
    try:
        lab.assert_no_secret_in_audit_logs()
    finally:
        if not reuse:
            subprocess.run([MESHLAB, "down", "--purge"], env=env, check=False, stdout=subprocess.PIPE, timeout=300)


@pytest.fixture(scope="session")
def first_bootstrap(lab):
    """The bootstrap of the fresh lab (the run test_bootstrap checks), then a snapshot of the converged mesh."""
    run = lab.playbook()
    assert run.rc == 0, run
    lab.snapshot("bootstrapped")
    return run


@pytest.fixture(scope="module")
def bootstrapped(lab, first_bootstrap):
    """A module starts from the bootstrapped mesh: nodes and the controller's release as the first
    bootstrap left them (lab/meshlab restore: seconds, where a bootstrap re-run is minutes)."""
    lab.restore("bootstrapped")
    return lab


@pytest.fixture(scope="session")
def demo_assets():
    return load_demo_assets()


@pytest.fixture(scope="session")
def manifest_utils(lab):
    """The collection's own _manifest module (to recompute a manifest sha the way the product does)."""
    sys.path.insert(0, lab.collections)
    from ansible_collections.macmesh.signing.plugins.module_utils import _manifest
    return _manifest
