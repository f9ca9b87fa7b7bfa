# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the unit tests need from ansible-core, on every supported release (2.17 to 2.19).

2.19 added ``ansible.module_utils.testing.patch_module_args`` and ``_internal.is_controller``; before
it, a module read its arguments from ``basic._ANSIBLE_ARGS`` and warnings always went to the result.
"""

import contextlib
import importlib.util
import json

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as _warnings

try:
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=unused-import
except ImportError:  # ansible-core < 2.19
    @contextlib.contextmanager
    def patch_module_args(args=None):
        """The module arguments AnsibleModule() reads, as ansible-core >= 2.19's helper sets them."""
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode("utf-8")
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved

HAS_INTERNAL = importlib.util.find_spec("ansible.module_utils._internal") is not None


def run_as_on_a_node(monkeypatch):
    """A module run as on a node: an empty warning store, warn() into the result (not the Display)."""
    # AnsibleModule keeps warnings in a process-wide store (a dict in 2.19, a list before).
    monkeypatch.setattr(_warnings, "_global_warnings", type(_warnings._global_warnings)())
    if HAS_INTERNAL:
        # Once controller code is imported (action plugin tests), warn() goes to Display instead.
        import ansible.module_utils._internal as internal  # pylint: disable=import-outside-toplevel
        monkeypatch.setattr(internal, "is_controller", False)
