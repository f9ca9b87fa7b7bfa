"""Make ``ansible_collections.macmesh.signing`` importable for the controller tests (they build
release fixtures with the collection's own module_utils) and hand the same tree to ansible-playbook."""

import atexit
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

if not os.environ.get("ANSIBLE_COLLECTIONS_PATH"):
    _TREE = tempfile.mkdtemp(prefix="macmesh-controller-")
    atexit.register(shutil.rmtree, _TREE, True)  # unlinks the symlink, never descends into the checkout
    os.makedirs(os.path.join(_TREE, "ansible_collections", "macmesh"))
    os.symlink(REPO, os.path.join(_TREE, "ansible_collections", "macmesh", "signing"))
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = _TREE
sys.path.insert(0, os.environ["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)[0])
for _name in [name for name in sys.modules if name == "ansible_collections" or name.startswith("ansible_collections.macmesh")]:
    del sys.modules[_name]
