# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make ``ansible_collections.macmesh.signing`` importable when pytest runs from a plain checkout.

ansible-test already places the collection under ``ansible_collections/``; a plain
``pytest tests/unit`` does not, so a temporary tree with one symlink is prepended to sys.path.
"""

import atexit
import os
import shutil
import sys
import tempfile

import pytest

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _importable():
    try:
        import ansible_collections.macmesh.signing.plugins.module_utils  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        return False
    return True


if not _importable():
    _TREE = tempfile.mkdtemp(prefix="macmesh-signing-")
    # rmtree unlinks the symlink; it never descends into the checkout.
    atexit.register(shutil.rmtree, _TREE, True)
    os.makedirs(os.path.join(_TREE, "ansible_collections", "macmesh"))
    os.symlink(COLLECTION_ROOT, os.path.join(_TREE, "ansible_collections", "macmesh", "signing"))
    sys.path.insert(0, _TREE)
    # ansible_collections is a namespace package that may already be imported from site-packages.
    for _name in [name for name in sys.modules if name == "ansible_collections" or name.startswith("ansible_collections.macmesh")]:
        del sys.modules[_name]


@pytest.fixture(autouse=True)
def _modules_run_on_the_node(request, monkeypatch):
    """Module tests see module_utils as a node does.

    Importing controller code (action plugin tests) flips ``is_controller`` for the whole session,
    which sends ``AnsibleModule.warn()`` to the display instead of the module result.
    """
    if request.path.parent.name == "modules":
        from ansible_collections.macmesh.signing.tests.unit.compat import run_as_on_a_node
        run_as_on_a_node(monkeypatch)
