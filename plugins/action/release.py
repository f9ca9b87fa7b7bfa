# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller side of macmesh.signing.release: read, stage, promote and retire releases.

Runs entirely on the controller (the releases directory lives there); the documentation is in
plugins/modules/release.py. The decisions are in module_utils/_release.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.macmesh.signing.plugins.module_utils._controller_only import ARGUMENT_SPECS

from ansible_collections.macmesh.signing.plugins.module_utils import _layout, _release

SPEC = ARGUMENT_SPECS['release']
# Inventory variables the desired state is taken from when there is no releases directory.
INVENTORY_VARS = ("profile_mounts_manifest", "profile_mounts_src", "keychain_identities", "profile_mounts_team_ids")


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(SPEC)

    def _args(self):
        result = ArgumentSpecValidator(SPEC).validate(self._task.args)
        if result.error_messages:
            raise AnsibleActionFail("macmesh.signing.release: %s" % "; ".join(result.error_messages))
        return result.validated_parameters

    def _reference_vars(self, task_vars):
        """Variables of a signer (the declared identities live in the signers' group_vars)."""
        hostvars = task_vars.get("hostvars") or {}
        if task_vars.get("inventory_hostname") in (task_vars.get("groups") or {}).get("all", []):
            if task_vars.get("inventory_hostname") in (task_vars.get("groups") or {}).get(
                    _layout.GROUPS["signer_group"], []):
                return task_vars
        groups = task_vars.get("groups") or {}
        signer_group = task_vars.get(_layout.override_name("signer_group")) or _layout.GROUPS["signer_group"]
        mesh_group = task_vars.get(_layout.override_name("mesh_group")) or _layout.GROUPS["mesh_group"]
        for name in list(groups.get(signer_group) or []) + list(groups.get(mesh_group) or []):
            if name in hostvars:
                return hostvars[name]
        return task_vars

    def _layout(self, task_vars):
        layout = {}
        for key in _layout.keys():
            value = task_vars.get(_layout.override_name(key))
            layout[key] = self._templar.template(value) if value is not None else _layout.default(key)
        return layout

    def _from_inventory(self, task_vars):
        ref = self._reference_vars(task_vars)

        def get(name):
            try:
                value = ref[name]
            except KeyError:
                return None
            return self._templar.template(value)

        policy_vars = {}
        for key in _layout.POLICY:
            value = get(_layout.override_name(key))
            if value is not None:
                policy_vars[key] = value
        desired = _release.desired_from_inventory(get("profile_mounts_manifest"), get("keychain_identities"),
                                                  get("profile_mounts_team_ids"), policy_vars)
        src = get("profile_mounts_src")
        if src:
            desired["manifest"]["profiles_dir"] = src
        return desired

    def run(self, tmp=None, task_vars=None):
        super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._args()
        releases_dir = args["releases_dir"]
        if releases_dir is None:
            # A mesh host's view (the implicit localhost is in no inventory group, so variables built
            # on group_vars of the mesh do not resolve there).
            source = self._reference_vars(task_vars)
            if "macmesh_releases_dir" in source and source["macmesh_releases_dir"]:
                releases_dir = self._templar.template(source["macmesh_releases_dir"])
        state = args["state"]
        result = {"changed": False}
        try:
            if state != "current" and not releases_dir:
                raise _release.ReleaseError("macmesh_releases_dir", None, "is not set: state=%s writes a release, so "
                                            "the releases directory must be named (docs/rotation.md: migrating an "
                                            "inventory to releases)" % state)
            if state == "staged":
                if not args["version"] or not args["manifest"]:
                    raise _release.ReleaseError("macmesh.signing.release", "version/manifest", "state=staged needs both")
                _staged, result["changed"] = _release.stage(
                    releases_dir, args["version"], {"path": args["manifest"], "profiles_dir": args["profiles_dir"]},
                    args["identities"], change=args["change"] or None, policy_update=args["policy"] or None)
                desired = _release.read_desired(releases_dir, args["version"])
            elif state == "promoted":
                result["changed"] = _release.promote(releases_dir, args["version"] or _release.current_version(releases_dir))
                desired = _release.read_desired(releases_dir)
            elif state == "retired":
                if not args["version"]:
                    raise _release.ReleaseError("macmesh.signing.release", "version", "state=retired names the release "
                                                "to retire")
                result["changed"] = _release.retire(releases_dir, args["version"])
                desired = _release.read_desired(releases_dir)
            elif state == "initial":
                if not args["version"] or not args["manifest"]:
                    raise _release.ReleaseError("macmesh.signing.release", "version/manifest", "state=initial needs both")
                result["changed"] = _release.initial(
                    releases_dir, args["version"], {"path": args["manifest"], "profiles_dir": args["profiles_dir"]},
                    args["identities"], policy_data=args["policy"] or None, change=args["change"] or None)
                desired = _release.read_desired(releases_dir)
            elif releases_dir:
                desired = _release.read_desired(releases_dir, args["version"])
                if args["view"] == "retire":
                    desired = _release.retire_view(desired, releases_dir)
            else:
                desired = self._from_inventory(task_vars)
        except _release.ReleaseError as exc:
            return dict(result, failed=True, msg=str(exc))
        except (IOError, OSError) as exc:
            return dict(result, failed=True, msg="%s: %s" % (getattr(exc, "filename", "") or releases_dir, exc.strerror or exc))
        desired["layout"] = self._layout(task_vars)
        result.update(desired)
        return result
