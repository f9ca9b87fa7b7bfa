# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller side of macmesh.signing.rotation: gate, plan and close a rotation, retire or revocation.

The documentation is in plugins/modules/rotation.py. The decisions are in module_utils/_rotation.py
(gate, window, plan, summaries) and module_utils/_release.py (the releases it stages and promotes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.macmesh.signing.plugins.module_utils._controller_only import ARGUMENT_SPECS

from ansible_collections.macmesh.signing.plugins.module_utils import _layout, _release, _rotation, _secret_versions

SPEC = ARGUMENT_SPECS['rotation']
PHASES = ("rotate", "retire", "revoke")
_SAFE_VERSION = re.compile(r"[^A-Za-z0-9._+-]+")


def _short(desired):
    return {"version": desired.get("version"), "sha256": (desired.get("manifest") or {}).get("sha256"),
            "serial": desired.get("serial"), "release_sha256": desired.get("sha256")}


def _reference(desired):
    return dict((key, desired[key]) for key in ("version", "serial", "sha256") if key in desired)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(SPEC)

    def _var(self, task_vars, name):
        """A mesh host's view of an inventory variable (this play runs on the implicit localhost)."""
        hostvars = task_vars.get("hostvars") or {}
        groups = task_vars.get("groups") or {}
        for host in groups.get(_layout.GROUPS["mesh_group"]) or []:
            if host in hostvars and name in hostvars[host]:
                return self._templar.template(hostvars[host][name])
        value = task_vars.get(name)
        return self._templar.template(value) if value is not None else None

    def run(self, tmp=None, task_vars=None):
        super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        checked = ArgumentSpecValidator(SPEC).validate(self._task.args)
        if checked.error_messages:
            raise AnsibleActionFail("macmesh.signing.rotation: %s" % "; ".join(checked.error_messages))
        args = checked.validated_parameters
        releases_dir = args["releases_dir"] or self._var(task_vars, "macmesh_releases_dir")
        try:
            if args["phase"] not in PHASES:
                raise _rotation.Refused("rotate_phase", "rotate_phase must be rotate or retire (got %r)." % (args["phase"],))
            if not releases_dir:
                raise _rotation.Refused("macmesh_releases_dir", "macmesh_releases_dir is not set: a rotation records "
                                        "its outcome in a release (docs/rotation.md: migrating an inventory to releases).")
            step = getattr(self, "_" + args["step"])
            result = step(args, releases_dir, task_vars)
        except _rotation.Refused as exc:
            return {"failed": True, "changed": False, "msg": str(exc), "field": exc.field}
        except _release.ReleaseError as exc:
            return {"failed": True, "changed": False, "msg": "REFUSED: %s" % exc}
        result.setdefault("changed", False)
        return result

    # -- gate: before any node is read -----------------------------------------------------

    def _gate(self, args, releases_dir, task_vars):
        phase = args["phase"]
        gate = _rotation.change_gate(args["ticket"], args["approvers"], args["force"], args["force_reason"])
        base = _release.read_desired(releases_dir)
        changed = False
        new_sha1s = []
        # What the controller alone can refuse comes before anything is staged or any node is read.
        _rotation.window_precheck(phase, (base.get("manifest") or {}).get("expires"),
                                  datetime.datetime.now(datetime.timezone.utc), min_days=args["window_min_days"],
                                  max_days=args["window_max_days"], forced=gate["forced"], old_version=base.get("version"))
        if phase == "rotate":
            _rotation.check_inputs(phase, args["manifest"], args["identities"])
            new_sha1s = _rotation.identity_sha1s(args["identities"], "rotate_identities")
            try:
                with open(args["manifest"]) as handle:
                    frozen = json.load(handle)
            except (IOError, OSError, ValueError) as exc:
                raise _rotation.Refused("rotate_manifest", "%s cannot be read as a frozen profiles.json (%s)."
                                        % (args["manifest"], exc))
            if not isinstance(frozen, dict) or not isinstance(frozen.get("profiles"), list):
                raise _rotation.Refused("rotate_manifest", "%s is not a frozen profiles.json." % args["manifest"])
            version = args["version"] or str(frozen.get("version") or "")
            _rotation.check_new_material(phase, args["manifest"], {"version": version, "sha256": frozen.get("sha256")},
                                         base, frozen["profiles"], new_sha1s)
            staged, changed = _release.stage(
                releases_dir, version, {"path": args["manifest"], "profiles_dir": args["profiles_dir"]},
                args["identities"], change={"ticket": gate["ticket"], "approvers": gate["approvers"],
                                            "force_reason": gate["force_reason"], "staged_at": gate["started_at"]})
            target = _release.read_desired(releases_dir, staged["version"])
            if target["status"] != "staged":
                # A re-run after the promotion: the rotation is done; continue on what it promoted.
                base = _release.read_desired(releases_dir, target["previous"])
        elif phase == "retire":
            if base["status"] == "staged":
                raise _rotation.Refused("rotate_phase", "the current release %s is still staged." % base["version"])
            target = _release.retire_view(base, releases_dir)
            new_sha1s = [item["sha1"] for item in target["identities"]]
        else:
            selection = _rotation.revoke_selection(args["compromised"], base["identities"] + list(args["identities"] or []))
            compromised = selection["compromised"]
            version = args["version"] or "%s-revoke-%s" % (base["version"], _SAFE_VERSION.sub("-", gate["ticket"])[:24])
            staged, changed = _release.stage_revocation(
                releases_dir, version, compromised, args["identities"],
                change={"ticket": gate["ticket"], "approvers": gate["approvers"], "force_reason": gate["force_reason"],
                        "staged_at": gate["started_at"]})
            target = _release.read_desired(releases_dir, staged["version"])
            new_sha1s = [item["sha1"] for item in target["identities"]]
            gate["compromised"] = compromised
        gate.update({"phase": phase, "releases_dir": os.path.abspath(releases_dir)})
        layout = dict((key, _layout.resolve(key, dict((k, self._var(task_vars, k)) for k in [_layout.override_name(key)])))
                      for key in _layout.keys())
        target["layout"] = layout
        base["layout"] = layout
        # What the canary and the batches verify with: an identity the target declares and the base did not.
        base_sha1s = set(item["sha1"] for item in base["identities"])
        fresh = [sha1 for sha1 in new_sha1s if sha1 not in base_sha1s] or new_sha1s
        return {"changed": changed, "gate": gate, "target": target, "base": base, "verify_sha1": fresh[0] if fresh else "",
                "new_sha1s": new_sha1s,
                "msg": "%s %s -> %s (ticket %s)" % (phase, base["version"], target["version"], gate["ticket"])}

    # -- plan: after every node was read -----------------------------------------------------

    def _plan(self, args, releases_dir, task_vars):
        gate = args["gate"] or {}
        phase = gate.get("gate", {}).get("phase") or args["phase"]
        target, base = gate["target"], gate["base"]
        hostvars = task_vars.get("hostvars") or {}
        groups = task_vars.get("groups") or {}
        mesh = args["hosts"] if args["hosts"] is not None else list(groups.get(base["layout"]["mesh_group"]) or [])
        reads, certificates, group_names = {}, [], {}
        for host in mesh:
            host_vars = hostvars[host] if host in hostvars else {}
            group_names[host] = list(self._templar.template(host_vars.get("group_names")) or [])
            read = self._templar.template(host_vars.get(args["reads_var"])) if args["reads_var"] in host_vars else None
            if not isinstance(read, dict):
                continue
            if read.get("unreachable") or read.get("failed"):
                reads[host] = {"reachable": False, "msg": str(read.get("msg") or "unreachable").strip()}
                continue
            reads[host] = {"reachable": True, "msg": ""}
            certificates.extend(read.get("certificates") or [])
        region_of = _rotation.region_of(mesh, group_names, base["policy"]["regions"])
        now = datetime.datetime.now(datetime.timezone.utc)
        forced = bool(gate["gate"].get("forced"))
        window = None
        if phase == "rotate":
            old_sha1s = [sha1 for sha1 in base["declared"] if sha1 not in target.get("declared", {}) or sha1 in target["retiring"]]
            old_expires = _rotation.earliest_expiry([base["manifest"]["expires"]] if base["manifest"]["expires"] else [],
                                                    certificates, old_sha1s)
            window = _rotation.window_decision(phase, old_expires, now, new_expires=target["manifest"]["expires"],
                                               min_days=args["window_min_days"], max_days=args["window_max_days"],
                                               forced=forced, old_version=base["version"],
                                               manifest=target["manifest"]["path"])
        elif phase == "retire":
            old_manifest_expires = []
            for version in target.get("retires") or []:
                try:
                    expires = _release.read_desired(releases_dir, version)["manifest"]["expires"]
                except _release.ReleaseError:
                    expires = None
                if expires:
                    old_manifest_expires.append(expires)
            old_expires = _rotation.earliest_expiry(old_manifest_expires, certificates, base["retiring"])
            window = _rotation.window_decision(phase, old_expires, now, min_days=args["window_min_days"],
                                               max_days=args["window_max_days"], forced=forced)
        if phase == "revoke":
            # No canary: the key is already out. Every reachable node at once; unreachable ones are reported.
            targets = list(mesh)
            plan = {"targets": targets, "excluded": [], "canary": [], "batches": [targets] if targets else [],
                    "batch_size": len(targets), "region_of": region_of}
        else:
            plan = _rotation.plan_rotation(mesh, region_of, reads, args["exclude_regions"], args["canary_region"],
                                           args["serial"])
            if phase == "rotate":
                # Issue 12: one unlock wrapper sha256 and one version per secret across the targets.
                gate = _secret_versions.promotion_gate(_secret_versions.promotion_nodes(dict(
                    (host, self._templar.template(hostvars[host].get(args["reads_var"])) if host in hostvars else {})
                    for host in plan["targets"])))
                if not gate["ok"]:
                    raise _rotation.Refused("rotate_hosts", "%s. Bring every region to the same wrapper and secret "
                                            "versions first (bootstrap, or converge -e macmesh_enforce=true)."
                                            % "; ".join(gate["reasons"]))
            if phase == "retire":
                not_on = []
                for host in plan["targets"]:
                    read = self._templar.template(hostvars[host].get(args["reads_var"])) if host in hostvars else {}
                    if _release.relation((read or {}).get("release_state"), base) != "same":
                        not_on.append(host)
                if not_on:
                    raise _rotation.Refused("rotate_phase", "%s do%s not run release %s as their recorded release: finish "
                                            "the rotation (run the rotate phase again) before retiring."
                                            % (", ".join(not_on), "es" if len(not_on) == 1 else "", base["version"]))
        plan["window"] = window
        plan["mesh"] = mesh
        return {"plan": plan, "msg": "targets %s; canary %s; excluded %s" % (
            ", ".join(plan["targets"]) or "none", ", ".join(plan["canary"]) or "none", ", ".join(plan["excluded"]) or "none")}

    # -- close: every node done; summarise, then promote or retire --------------------------

    def _close(self, args, releases_dir, task_vars):
        gate_result = args["gate"] or {}
        gate = gate_result["gate"]
        phase = gate["phase"]
        target, base = gate_result["target"], gate_result["base"]
        hostvars = task_vars.get("hostvars") or {}
        plan = (self._templar.template(task_vars.get("rotate_plan")) or {}).get("plan") if task_vars.get("rotate_plan") else None
        mesh = args["hosts"] or (plan or {}).get("mesh") or []
        outcomes = {}
        for host in mesh:
            host_vars = hostvars[host] if host in hostvars else {}
            # A node that did not reach the target still runs the base release (it rolled back to it).
            record = {"active_version": base["version"], "active": base["manifest"]["sha256"]}
            for key, name in (("outcome", "rotate_outcome"), ("message", "rotate_message"), ("touched", "rotate_touched"),
                              ("started_epoch", "rotate_started_epoch"), ("green_epoch", "rotate_green_epoch")):
                if name in host_vars:
                    record[key] = self._templar.template(host_vars[name])
            outcomes[host] = record
        region_of = (plan or {}).get("region_of") or {}
        excluded = (plan or {}).get("excluded") or []
        now = datetime.datetime.now(datetime.timezone.utc)
        changed = False
        if phase == "revoke":
            summary = _rotation.summarize_revoke(mesh, region_of, outcomes, gate, gate.get("compromised") or [],
                                                 [item["sha1"] for item in target["identities"]], now)
            complete = summary["complete"]
            summary["release"] = _reference(target)
        else:
            new = {"version": target["version"], "sha256": target["manifest"]["sha256"]}
            old = {"version": base["version"], "sha256": base["manifest"]["sha256"]}
            summary = _rotation.summarize_rotation(mesh, region_of, excluded, outcomes, phase, new, old)
            # Excluded regions keep the release they run; the others decide.
            complete = summary["targets_complete"]
        # The controller's desired state moves only when every non-excluded region is green.
        if complete and phase in ("rotate", "revoke") and target["status"] == "staged":
            changed = _release.promote(releases_dir, target["version"])
        elif complete and phase == "retire":
            for version in target.get("retires") or []:
                changed = _release.retire(releases_dir, version) or changed
        current = _release.read_desired(releases_dir)
        current["layout"] = target.get("layout") or {}
        out = {"changed": changed, "summary": summary, "complete": complete, "current": current,
               "promoted": complete and phase != "retire", "phase": phase}
        if phase != "revoke":
            window = (plan or {}).get("window") or {}
            out["lines"] = _rotation.region_lines(summary)
            out["incomplete"] = "" if complete else (_rotation.incomplete_message(summary, phase, target["version"]) or "")
            out["report"] = _rotation.rotation_report(
                phase, summary, gate, {"version": target["version"], "sha256": target["manifest"]["sha256"]},
                {"version": base["version"], "sha256": base["manifest"]["sha256"]}, window.get("old_expires"),
                args["exclude_regions"], now, True)
            out["report"]["release"] = {"target": _reference(target), "base": _reference(base),
                                        "current": _reference(current), "promoted": out["promoted"] and changed}
            out["event"] = _rotation.completion_event(out["report"], summary) if complete else None
        else:
            out["report"] = summary
            out["incomplete"] = "" if complete else (
                "Not revoked everywhere: %s. These nodes may still hold the compromised identity: run again once they "
                "answer." % ", ".join(host for host, entry in summary["hosts"].items() if entry["outcome"] != "green"))
        return out
