# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller side of macmesh.signing.managed_files: each ``files[].src`` is read here and sent as bytes.

``src`` is searched the way ``ansible.builtin.copy`` searches it (a role's ``files/`` directory first),
Vault-encrypted files are decrypted into a private temporary copy. The documentation lives in
plugins/modules/managed_files.py.
"""

from __future__ import annotations

import base64
import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

MODULE = "macmesh.signing.managed_files"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def _read(self, src, field):
        try:
            real_path = self._loader.get_real_file(self._find_needle("files", src), decrypt=True)
        except AnsibleError as exc:
            raise AnsibleActionFail("%s: cannot find %s (%s)" % (field, src, to_native(exc)))
        try:
            with open(real_path, "rb") as handle:
                return handle.read()
        except (IOError, OSError) as exc:
            raise AnsibleActionFail("%s: cannot read %s (%s)" % (field, src, to_native(exc)))
        finally:
            self._loader.cleanup_tmp_file(real_path)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        module_args = dict(self._task.args)
        files = module_args.get("files") or []
        if not isinstance(files, list):
            raise AnsibleActionFail("files: a list of dictionaries, not %s." % type(files).__name__)
        sent = []
        for index, item in enumerate(files):
            field = "files[%d]" % index
            if not isinstance(item, dict):
                raise AnsibleActionFail("%s: %r is not a dictionary with a path." % (field, item))
            item = dict(item)
            if "content_b64" in item:
                raise AnsibleActionFail("%s.content_b64: set by the action plugin from src; remove it from the task."
                                        % field)
            src = item.pop("src", None)
            if src is not None:
                if item.get("content") is not None:
                    raise AnsibleActionFail("%s: set one of src and content, not both." % field)
                item["content_b64"] = base64.b64encode(self._read(src, field + ".src")).decode("ascii")
                if not item.get("path"):
                    item["path"] = os.path.basename(src)
            sent.append(item)
        module_args["files"] = sent
        result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars))
        return result
