# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""controller_inputs: an unreadable input stops the run as unreachable (exit 4), never as failed."""

from ansible_collections.macmesh.signing.plugins.action.controller_inputs import input_result
from ansible_collections.macmesh.signing.plugins.module_utils._readable import INPUT_ERROR_EXIT


def test_result_is_ok_or_unreachable_never_failed():
    assert input_result([]) == {"changed": False, "problems": []}
    stop = input_result(["manifest: /x: no such file"])
    assert stop["unreachable"] is True and "failed" not in stop
    assert "manifest: /x: no such file" in stop["msg"] and ("exit %d" % INPUT_ERROR_EXIT) in stop["msg"]
