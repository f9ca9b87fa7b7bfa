# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""The decisions of rotate.yml and revoke.yml, on the controller (stdlib only).

The playbooks sequence; this module decides: the change gate (ticket, two approvers, force
reason), the window policy, the plan (targets, exclusions, canary, batches), the checks before
a retire, what a node has to do, and the summaries the reports are written from.

Every refusal is a ``Refused`` whose ``field`` names the variable the operator must fix and
whose text starts with ``REFUSED: `` (the texts are the playbooks' former ``fail_msg``).
Times are ``YYYY-MM-DDTHH:MM:SSZ`` strings in UTC; epochs are floats (strings are accepted,
because ``set_fact`` renders ``now().timestamp()`` to text).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import math
from collections.abc import Mapping

from ansible_collections.macmesh.signing.plugins.module_utils._identity import normalise_sha1

__all__ = [
    "Refused", "normalise_sha1", "change_gate", "earliest_expiry", "retire_expiry", "window_decision", "window_precheck",
    "plan_rotation", "retire_check", "summarize_rotation", "summarize_revoke", "region_of",
    "check_inputs", "identity_sha1s", "unmatched_profiles", "is_rerun", "check_new_material", "revoke_selection",
    "node_done", "retired_sha1s", "state_document", "retire_document", "failure_message",
    "audit_sha1s", "rotation_report", "completion_event", "region_lines", "incomplete_message",
    "parse_bool", "parse_time", "format_time",
]

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# A node without a recorded old expiry never makes the overlap end early.
NO_EXPIRY = "9999-12-31T00:00:00Z"
PHASES = ("rotate", "retire")
# Outcomes that leave a node on the new version.
GREEN = ("green", "already")
_TRUE = ("true", "yes", "on", "y", "t", "1")
_FALSE = ("false", "no", "off", "n", "f", "0", "")
_UTC = datetime.timezone.utc


class Refused(ValueError):
    """A gate or plan refusal. ``.field`` names the variable (e.g. ``'rotate_ticket'``), str() is the full message.

    ``message`` may be given with or without the ``REFUSED: `` prefix; ``.message`` and str() carry it.
    """

    def __init__(self, field, message):
        self.field = field
        self.message = message if message.startswith("REFUSED: ") else "REFUSED: " + message
        super(Refused, self).__init__(self.message)

    def __str__(self):
        return self.message


# ---------------------------------------------------------------------------------------------
# Small parsers


def _type_name(value):
    return "null" if value is None else type(value).__name__


def parse_bool(value, field):
    """``True``/``False`` from a bool, 0/1, None (False) or a yes/no string, as ``-e`` gives it; else Refused."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Refused(field, "%s must be true or false, not %r." % (field, value))


def parse_time(value, field):
    """An aware UTC datetime from a ``YYYY-MM-DDTHH:MM:SSZ`` string or a datetime (naive = UTC); else Refused."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    if isinstance(value, str):
        try:
            return datetime.datetime.strptime(value.strip(), TIME_FORMAT).replace(tzinfo=_UTC)
        except ValueError:
            pass
    raise Refused(field, "%s: %r is not a time of the form YYYY-MM-DDTHH:MM:SSZ." % (field, value))


def format_time(when):
    """``YYYY-MM-DDTHH:MM:SSZ`` of an aware (or naive UTC) datetime."""
    return parse_time(when, "time").strftime(TIME_FORMAT)


def _now(now):
    return datetime.datetime.now(_UTC) if now is None else parse_time(now, "now")


def _text(value):
    """Trimmed text of a scalar variable; None is the empty string."""
    return "" if value is None else str(value).strip()


def _number(value, field):
    """A non-negative number from a number or a numeric string (``-e`` gives strings); else Refused."""
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or math.isnan(number) or number < 0:
        raise Refused(field, "%s must be a number of days >= 0, not %r." % (field, value))
    return number


def _show_number(number):
    return "%d" % number if float(number).is_integer() else "%g" % number


def _epoch(value):
    """A float epoch, or None for None/''."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)


def _names(value, field):
    """A list of trimmed, non-empty names from a list or a comma-separated string."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, Mapping) or not isinstance(items, (list, tuple)):
        raise Refused(field, "%s must be a list of names or a comma-separated string, not %s." % (field, _type_name(value)))
    names = []
    for index, item in enumerate(items):
        if isinstance(item, (Mapping, list, tuple)):
            raise Refused(field, "%s[%d] must be a name, not %s." % (field, index, _type_name(item)))
        text = _text(item)
        if text:
            names.append(text)
    return names


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


# ---------------------------------------------------------------------------------------------
# Gate


def change_gate(ticket, approvers, force=False, force_reason=None, now=None):
    """Check the change ticket, the two approvers and the force reason; return the gate record.

    ``approvers`` is a list or a comma-separated string; names are trimmed and empty ones dropped.
    Returns ``{ticket, approvers, forced, force_reason, started_at, started_epoch}``
    (``force_reason`` is ``""`` unless forced).
    """
    ticket_text = _text(ticket)
    if not ticket_text:
        raise Refused("rotate_ticket", "rotate_ticket is not set: name the change ticket (-e rotate_ticket=CHG-1234).")
    names = _names(approvers, "rotate_approvers")
    if len(names) != 2:
        raise Refused("rotate_approvers", "rotate_approvers must name exactly two people (got %d)." % len(names))
    if names[0].casefold() == names[1].casefold():
        raise Refused("rotate_approvers", "rotate_approvers names the same person twice (%s): a key movement needs two "
                      "different people." % names[0])
    forced = parse_bool(force, "rotate_force")
    reason = _text(force_reason)
    if forced and not reason:
        raise Refused("rotate_force_reason", "rotate_force=true needs rotate_force_reason (recorded in the report and the "
                      "node state): say why the window policy is overridden.")
    started = _now(now)
    return {
        "ticket": ticket_text,
        "approvers": names,
        "forced": forced,
        "force_reason": reason if forced else "",
        "started_at": started.strftime(TIME_FORMAT),
        "started_epoch": started.timestamp(),
    }


# ---------------------------------------------------------------------------------------------
# Inputs of the rotation (what rotate_inputs.yml checked)


def check_inputs(phase, manifest, identities):
    """Refuse an unknown phase, an unset ``rotate_manifest`` or an empty ``rotate_identities``; return the phase."""
    phase = "rotate" if phase is None else phase
    if phase not in PHASES:
        raise Refused("rotate_phase", "rotate_phase must be rotate or retire (got %r)." % (phase,))
    if not isinstance(manifest, str) or not manifest.strip():
        raise Refused("rotate_manifest", "rotate_manifest (the new profiles.json, built with "
                      "macmesh.signing.profile_manifest) is not set.")
    if not identities:
        raise Refused("rotate_identities", "rotate_identities (the new identities: [{src, passphrase, sha1}], passphrases "
                      "from the vault; the retire phase takes the same list) is empty.")
    return phase


def identity_sha1s(identities, field):
    """The normalised SHA-1s of ``[{sha1, ...}]`` (or of plain SHA-1 strings); Refused names ``field[i].sha1``.

    Only the SHA-1s are returned: passphrases never leave this function.
    """
    if identities is None:
        return []
    if isinstance(identities, (str, Mapping)) or not isinstance(identities, (list, tuple)):
        raise Refused(field, "%s must be a list, not %s." % (field, _type_name(identities)))
    sha1s = []
    for index, identity in enumerate(identities):
        where = "%s[%d]" % (field, index)
        value = identity
        if isinstance(identity, Mapping):
            where += ".sha1"
            value = identity.get("sha1")
        try:
            sha1s.append(normalise_sha1(value, where))
        except ValueError:
            raise Refused(field, "%s: every entry needs the 40-hex-digit SHA-1 of its certificate (got %r)." % (where, value))
    return sha1s


def unmatched_profiles(profiles, sha1s):
    """File names of the profiles none of whose ``certificates`` is in ``sha1s`` (case-insensitive)."""
    wanted = set(sha1.upper() for sha1 in sha1s)
    return [
        profile.get("filename", profile.get("uuid", "?"))
        for profile in profiles
        if not wanted.intersection(str(sha1).upper() for sha1 in profile.get("certificates") or [])
    ]


def is_rerun(new, current):
    """Whether a rotation onto ``new`` ({version, sha256} of its manifest) is the same command run again after
    its promotion: the release it promoted is current already and supersedes another one, so the rotation
    continues on top of that one (every node "already") instead of refusing "nothing to rotate"."""
    current = current or {}
    return (bool(current.get("previous")) and current.get("version") == new.get("version")
            and (current.get("manifest") or {}).get("sha256") == new.get("sha256"))


def check_new_material(phase, manifest, new, current, profiles, sha1s):
    """The rotate phase needs profiles issued for the new identities and a manifest other than the active one.

    ``new`` is ``{version, sha256}`` (the release version and its manifest's sha256), ``current`` the current
    release (``version``, ``manifest``, ``previous``), ``profiles`` the new manifest's profiles. The same
    manifest as the current release's is refused, unless this is the promoted rotation run again (is_rerun).
    """
    if phase == "retire":
        return
    unmatched = unmatched_profiles(profiles, sha1s)
    if unmatched:
        raise Refused("rotate_manifest", "%s: profiles %s: certificates: list none of the new identities (%s); a profile "
                      "must be issued for the identity that will sign with it."
                      % (manifest, ", ".join(unmatched), ", ".join(sha1s)))
    active = (current or {}).get("manifest") or {}
    if new.get("sha256") == active.get("sha256") and not is_rerun(new, current):
        raise Refused("rotate_manifest", "%s is the manifest the inventory already declares (%s): nothing to rotate. "
                      "Point rotate_manifest at the new profiles.json (the inventory keeps the old one until the rotation "
                      "is retired)." % (manifest, active.get("version")))


# ---------------------------------------------------------------------------------------------
# Window policy


def earliest_expiry(profile_expires, certificates, sha1s):
    """The earliest of the old profiles' expiries and the ``not_after`` of the old certificates.

    ``profile_expires`` is one time or a list; ``certificates`` are ``{sha1, not_after}`` as the
    nodes report them; only those whose SHA-1 is in ``sha1s`` count.
    """
    if isinstance(profile_expires, (str, datetime.datetime)):
        profile_expires = [profile_expires]
    times = [parse_time(when, "profiles[%d].expires" % index) for index, when in enumerate(profile_expires or [])]
    wanted = set(str(sha1).upper() for sha1 in sha1s or [])
    for index, certificate in enumerate(certificates or []):
        if str(certificate.get("sha1", "")).upper() in wanted:
            times.append(parse_time(certificate.get("not_after"), "certificates[%d].not_after" % index))
    if not times:
        raise Refused("rotate_old_manifest", "rotate_old_manifest: the old material has no expiry (no profile and no "
                      "certificate of the old identities): cannot place the run in the window policy.")
    return min(times).strftime(TIME_FORMAT)


def retire_expiry(states):
    """The earliest ``old_expires`` the nodes recorded when they rotated (NO_EXPIRY for a node without one)."""
    times = [parse_time((state or {}).get("old_expires") or NO_EXPIRY, "old_expires") for state in states if state]
    return min(times).strftime(TIME_FORMAT) if times else NO_EXPIRY


def _window_bounds(min_days, max_days):
    low = _number(7 if min_days is None else min_days, "rotate_window_min_days")
    high = _number(14 if max_days is None else max_days, "rotate_window_max_days")
    if low > high:
        raise Refused("rotate_window_min_days", "rotate_window_min_days (%s) is greater than rotate_window_max_days (%s)."
                      % (_show_number(low), _show_number(high)))
    return low, high


def _days_left(when, now):
    # The playbooks compared the value printed with two decimals: so does this.
    return round((when - _now(now)).total_seconds() / 86400.0, 2)


def window_precheck(phase, manifest_expires, now, min_days=None, max_days=None, forced=False, old_version=None):
    """What the gate refuses before any node is read: the window's own bounds, and a rotation whose current
    manifest alone already puts it too late for the window (or past the overlap). The earliest expiry the
    plan judges also counts the certificates the nodes hold, so it is never later than the manifest's:
    "too soon" is certain from the manifest, "too early" is not (window_decision decides that after the reads).
    """
    low = _window_bounds(min_days, max_days)[0]
    if phase != "rotate" or not manifest_expires:
        return
    days = _days_left(parse_time(manifest_expires, "old_expires"), now)
    if days <= 0 or (days < low and not parse_bool(forced, "rotate_force")):
        window_decision(phase, manifest_expires, now, min_days=min_days, max_days=max_days, forced=forced,
                        old_version=old_version)


def window_decision(phase, old_expires, now, new_expires=None, min_days=7, max_days=14, forced=False,
                    old_version=None, manifest=None):
    """Place the run in the window policy; return ``{days_left, old_expires}`` or raise Refused.

    rotate: ``min_days <= days_left <= max_days`` unless forced; the old material must not have
    expired (even forced: there is no overlap); the new profiles must outlive the old material.
    retire: only once the old material expired (``days_left <= 0``), unless forced.
    ``old_version`` and ``manifest`` only make the messages name them.
    """
    if phase not in PHASES:
        raise Refused("rotate_phase", "rotate_phase must be rotate or retire (got %r)." % (phase,))
    low, high = _window_bounds(min_days, max_days)
    forced = parse_bool(forced, "rotate_force")
    old = parse_time(old_expires, "old_expires")
    old_text = old.strftime(TIME_FORMAT)
    days = _days_left(old, now)
    shown = "%.2f" % days
    if phase == "rotate":
        if not forced and not low <= days <= high:
            raise Refused("rotate_force", "the old material%s first expires at %s, in %s days: a rotation runs %s-%s days "
                          "before that expiry. Wait for the window, or set rotate_force=true with rotate_force_reason "
                          "(recorded)." % (" (%s)" % old_version if old_version else "", old_text, shown,
                                           _show_number(low), _show_number(high)))
        if days <= 0:
            raise Refused("rotate_manifest", "the old material already expired at %s: there is no overlap to rotate in; "
                          "install the new manifest with the bootstrap instead." % old_text)
        if new_expires is None:
            raise Refused("rotate_manifest", "%s: the expiry of the new profiles is needed to check the overlap."
                          % (manifest or "rotate_manifest"))
        new = parse_time(new_expires, "rotate_manifest")
        if new <= old:
            raise Refused("rotate_manifest", "a new profile of %s expires at %s, before the old material (%s): the new "
                          "UUIDs must outlive the overlap." % (manifest or "rotate_manifest", new.strftime(TIME_FORMAT),
                                                               old_text))
    elif not forced and days > 0:
        raise Refused("rotate_force", "the overlap runs until the old material expires at %s (in %s days): retire after "
                      "that, or set rotate_force=true with rotate_force_reason (recorded)." % (old_text, shown))
    return {"days_left": days, "old_expires": old_text}


# ---------------------------------------------------------------------------------------------
# Plan


def region_of(mesh, group_names_by_host, regions):
    """``{host: region}``: the first of ``regions`` (in that order) the host is a member of, else ``'unknown'``."""
    result = {}
    for host in mesh:
        groups = set((group_names_by_host or {}).get(host) or [])
        result[host] = next((region for region in regions if region in groups), "unknown")
    return result


def _serial(serial, count):
    """Batch size from an int >= 1, a digit string, or a percentage of ``count`` (floored, at least 1)."""
    size = None
    if isinstance(serial, int) and not isinstance(serial, bool):
        size = serial
    elif isinstance(serial, str):
        text = serial.strip()
        if text.endswith("%") and text[:-1].strip().isdigit():
            percent = int(text[:-1])
            if 1 <= percent <= 100:
                return max(1, (percent * count) // 100)
        elif text.isdigit():
            size = int(text)
    if size is None or size < 1:
        raise Refused("rotate_serial", "rotate_serial must be a number of nodes >= 1 or a percentage such as 50%%, "
                      "not %r." % (serial,))
    return size


def plan_rotation(mesh, region_of, reads, exclude_regions=(), canary_region="hk", serial=2):
    """Decide the targets, the exclusions, the canary and the batches; refuse before any node changes.

    ``reads`` is ``{host: {reachable, msg}}``; a host missing from it was not read. Every
    non-excluded host must have been read. Returns ``{targets, excluded, canary, batches,
    region_of, batch_size}``, hosts in mesh order.
    """
    regions = dict((host, (region_of or {}).get(host) or "unknown") for host in mesh)
    known = _unique(regions[host] for host in mesh)
    excluded_regions = _unique(_names(exclude_regions, "rotate_exclude_regions"))
    unknown = [region for region in excluded_regions if region not in known]
    if unknown:
        raise Refused("rotate_exclude_regions", "rotate_exclude_regions names %s, which %s no region of the mesh (%s)."
                      % (", ".join(unknown), "is" if len(unknown) == 1 else "are", ", ".join(known) or "none"))
    excluded = [host for host in mesh if regions[host] in excluded_regions]
    targets = [host for host in mesh if host not in excluded]

    canary_name = _text(canary_region) or "hk"
    canary = [host for host in targets if regions[host] == canary_name]
    others = [host for host in targets if host not in canary]
    size = _serial(serial, len(others))

    reads = reads or {}
    unreached = [host for host in targets if not (reads.get(host) or {}).get("reachable")]
    if unreached:
        msgs = [_text((reads.get(host) or {}).get("msg")) or ("unreachable" if host in reads else "not read")
                for host in unreached]
        suggestion = json.dumps({"rotate_exclude_regions": excluded_regions + _unique(regions[host] for host in unreached)})
        raise Refused("rotate_exclude_regions", "%s could not be read (%s). Bring the node back, or exclude its region "
                      "explicitly with -e '%s' (it then keeps the old version)."
                      % (", ".join(unreached), "; ".join(msgs), suggestion))
    if not canary:
        raise Refused("rotate_canary_region", "the canary region %s has no node among the targets (%s); set "
                      "rotate_canary_region to a region that is not excluded." % (canary_name, ", ".join(targets) or "none"))
    return {
        "targets": targets,
        "excluded": excluded,
        "canary": canary,
        "batches": [others[start:start + size] for start in range(0, len(others), size)],
        "batch_size": size,
        "region_of": regions,
    }


def _recorded(node):
    """``(recorded sha256, active sha256)`` of a node state ``{release|state: {...}, active}``."""
    node = node or {}
    release = node.get("release")
    if release is None:
        release = node.get("state")
    release = release if isinstance(release, Mapping) else {}
    manifest = release.get("manifest") if isinstance(release.get("manifest"), Mapping) else release
    return manifest.get("sha256"), node.get("active")


def retire_check(targets, node_states, new_sha256, new_version=None):
    """Refuse a retire while a target does not record and run ``new_sha256``.

    ``node_states`` is ``{host: {"release": <recorded document>, "active": sha256}}``: the document
    the node recorded (the release record of ``_release.node_state`` or the older rotation-state.json;
    both carry ``manifest.sha256``, which is compared; a bare ``{sha256}`` is taken as that) and the
    sha256 of the manifest the node's ``current`` link points at. ``new_sha256`` is the new
    manifest's sha256. ``state`` is accepted as another name of ``release``.
    """
    missing = []
    for host in targets:
        recorded, active = _recorded((node_states or {}).get(host))
        if not recorded or recorded != new_sha256 or active != new_sha256:
            missing.append(host)
    if missing:
        raise Refused("rotate_phase", "%s do%s not run %s (%s) as their recorded rotation state: finish the rotation "
                      "(run the rotate phase again) before retiring."
                      % (", ".join(missing), "es" if len(missing) == 1 else "", new_version or new_sha256,
                         (new_sha256 or "")[:12]))


# ---------------------------------------------------------------------------------------------
# Per node


def node_done(phase, node):
    """Whether a node already did this phase: rotate = records and runs the new sha256; retire = recorded 'retired'.

    ``node`` is ``{"release"|"state": <recorded state>, "active": sha256, "new_sha256": sha256}``.
    """
    node = node or {}
    if phase == "retire":
        state = node.get("release") if node.get("release") is not None else node.get("state")
        return isinstance(state, Mapping) and state.get("phase") == "retired"
    recorded, active = _recorded(node)
    new = node.get("new_sha256")
    return bool(new) and recorded == new and active == new


def retired_sha1s(state):
    """The identities a retire removes: held before the rotation and not one of the new ones."""
    state = state or {}
    keep = set(state.get("identities") or [])
    return [sha1 for sha1 in state.get("identities_before") or [] if sha1 not in keep]


def state_document(new, previous, signer, new_sha1s, identities_before, old_expires, gate, promoted_at):
    """The rotation-state.json a node records once green (schema 1, phase promoted): the idempotency key."""
    return {
        "schema": 1,
        "phase": "promoted",
        "manifest": {"version": new.get("version"), "sha256": new.get("sha256")},
        "previous": {"version": (previous or {}).get("version"), "sha256": (previous or {}).get("sha256")},
        "identities": list(new_sha1s) if signer else [],
        "identities_before": list(identities_before or []),
        "old_expires": old_expires,
        "ticket": gate["ticket"],
        "approvers": list(gate["approvers"]),
        "force_reason": gate.get("force_reason", ""),
        "promoted_at": format_time(promoted_at),
    }


def retire_document(state, gate, retired_at):
    """The node's rotation state after a retire: the recorded one, marked retired with the retire's gate."""
    document = dict(state or {})
    document.update({
        "phase": "retired",
        "retired_at": format_time(retired_at),
        "retire_ticket": gate["ticket"],
        "retire_approvers": list(gate["approvers"]),
        "retire_force_reason": gate.get("force_reason", ""),
    })
    return document


def failure_message(result, task_name):
    """What a rescue records: the failed result's msg, or the task's name when no_log hid it."""
    result = result or {}
    if result.get("censored"):
        return "%s failed (output hidden: no_log)" % task_name
    return _text(result.get("msg")) or "failed"


def audit_sha1s(phase, new_sha1s, old_sha1s):
    """The identities the post-rotation audit expects: new and old during the overlap, the new ones after a retire."""
    return _unique(list(new_sha1s) + ([] if phase == "retire" else list(old_sha1s)))


# ---------------------------------------------------------------------------------------------
# Summaries


def summarize_rotation(mesh, region_of, excluded, outcomes, phase, new, old=None):
    """Per host and per region: outcome, version, time to green; whether the run completed.

    ``outcomes`` is ``{host: {outcome, message, started_epoch, green_epoch, active_version, active}}``;
    a host missing from it is ``not_started``, an excluded host is ``excluded``. A host on the new
    version (green, already, or any host after a retire) reports ``new``'s version and sha256.
    ``complete`` means every host of the mesh is green or already (an excluded region keeps a run
    incomplete); ``targets_complete`` ignores the excluded hosts.
    """
    excluded = set(excluded or [])
    outcomes = outcomes or {}
    hosts, members, starts, greens = {}, {}, [], []
    for host in mesh:
        record = outcomes.get(host) or {}
        outcome = "excluded" if host in excluded else (record.get("outcome") or "not_started")
        on_new = outcome in GREEN or phase == "retire"
        seconds = None
        if outcome == "green":
            started, green = _epoch(record.get("started_epoch")), _epoch(record.get("green_epoch"))
            if started is not None and green is not None:
                seconds = round(green - started, 1)
                starts.append(started)
                greens.append(green)
        region = (region_of or {}).get(host) or "unknown"
        hosts[host] = {
            "region": region,
            "outcome": outcome,
            "message": record.get("message") or "",
            "version": new.get("version") if on_new else record.get("active_version"),
            "sha256": new.get("sha256") if on_new else record.get("active"),
            "time_to_green_s": seconds,
        }
        members.setdefault(region, []).append(host)

    regions = {}
    for region, names in members.items():
        region_outcomes = _unique(hosts[host]["outcome"] for host in names)
        bad = [outcome for outcome in region_outcomes if outcome not in GREEN]
        ran = [host for host in names if hosts[host]["time_to_green_s"] is not None]
        seconds = None
        if ran and not bad:
            seconds = round(max(_epoch(outcomes[host]["green_epoch"]) for host in ran)
                            - min(_epoch(outcomes[host]["started_epoch"]) for host in ran), 1)
        if seconds is None and region_outcomes == ["already"]:
            seconds = 0.0
        regions[region] = {
            "hosts": names,
            "versions": _unique(hosts[host]["version"] for host in names),
            "status": bad[0] if bad else "green",
            "time_to_green_s": seconds,
        }

    not_green = [[host, hosts[host]["outcome"]] for host in mesh if hosts[host]["outcome"] not in GREEN]
    complete = not not_green
    if complete:
        status = "complete"
    elif any(entry["outcome"] == "rolled_back" for entry in hosts.values()):
        status = "rolled_back"
    else:
        status = "incomplete"
    summary = {
        "hosts": hosts,
        "regions": regions,
        "complete": complete,
        "targets_complete": all(outcome == "excluded" for _host, outcome in not_green),
        "time_to_green_s": round(max(greens) - min(starts), 1) if greens else (0.0 if complete else None),
        "status": status,
        "not_green": not_green,
        "manifest": {"version": new.get("version"), "sha256": new.get("sha256")},
    }
    if old is not None:
        summary["previous"] = {"version": old.get("version"), "sha256": old.get("sha256")}
    return summary


def rotation_report(phase, summary, gate, new, old, old_expires, excluded_regions, finished_at, compliance_ok):
    """The rotation.json document (schema 1)."""
    return {
        "schema": 1,
        "phase": phase,
        "status": summary["status"],
        "ticket": gate["ticket"],
        "approvers": list(gate["approvers"]),
        "forced": gate["forced"],
        "force_reason": gate["force_reason"],
        "started_at": gate["started_at"],
        "finished_at": format_time(finished_at),
        "manifest": {"version": new.get("version"), "sha256": new.get("sha256")},
        "previous": {"version": old.get("version"), "sha256": old.get("sha256")},
        "old_expires": old_expires,
        "excluded_regions": _names(excluded_regions, "rotate_exclude_regions"),
        "time_to_green_s": summary["time_to_green_s"],
        "regions": summary["regions"],
        "hosts": summary["hosts"],
        "compliance_ok": bool(compliance_ok),
    }


def completion_event(report, summary):
    """The macmesh.rotation.<phase>.complete event written once per manifest version."""
    return {
        "event": "macmesh.rotation.%s.complete" % report["phase"],
        "manifest": report["manifest"],
        "previous": report["previous"],
        "ticket": report["ticket"],
        "approvers": report["approvers"],
        "regions": list(summary["regions"]),
        "time_to_green_s": summary["time_to_green_s"],
        "completed_at": report["finished_at"],
    }


def region_lines(summary):
    """One line per region: ``hk: green version=2.0 time_to_green=12.5s (green, already)``."""
    lines = []
    for region, entry in summary["regions"].items():
        seconds = entry["time_to_green_s"]
        lines.append("%s: %s version=%s time_to_green=%ss (%s)" % (
            region, entry["status"], "+".join(str(version) for version in entry["versions"]),
            "-" if seconds is None else seconds, ", ".join(summary["hosts"][host]["outcome"] for host in entry["hosts"])))
    return lines


def incomplete_message(summary, phase, new_version):
    """The failure text of a run that did not complete, or None when it did."""
    if summary["complete"]:
        return None
    return ("The %s did not complete: %s. Fix the cause and run the same command again: nodes already on %s are "
            "skipped." % (phase, ", ".join("%s: %s" % (host, outcome) for host, outcome in summary["not_green"]),
                          new_version))


# ---------------------------------------------------------------------------------------------
# Revoke


def revoke_selection(compromised, identities):
    """The compromised SHA-1s and the declared identities that stay; refuse when nothing would be left to sign with.

    Returns ``{"compromised": [sha1], "keep": [identity]}``; ``keep`` holds the identity records
    as given (with their passphrases: never put it in a report, use ``identity_sha1s``).
    """
    names = _names(compromised, "revoke_sha1s") if isinstance(compromised, str) else compromised
    sha1s = []
    for index, value in enumerate(names or []):
        try:
            sha1s.append(normalise_sha1(value, "revoke_sha1s[%d]" % index))
        except ValueError:
            raise Refused("revoke_sha1s", "revoke_sha1s must list the 40-hex-digit SHA-1 of each compromised certificate "
                          "(revoke_sha1s[%d] is %r)." % (index, value))
    if not sha1s:
        raise Refused("revoke_sha1s", "revoke_sha1s must list the 40-hex-digit SHA-1 of each compromised certificate.")
    declared = list(identities or [])
    declared_sha1s = identity_sha1s(declared, "revoke_identities")
    keep = [identity for identity, sha1 in zip(declared, declared_sha1s) if sha1 not in sha1s]
    if not keep:
        raise Refused("revoke_identities", "no identity is left to sign with once %s is removed: give the replacement in "
                      "revoke_identities ([{src, passphrase, sha1}], from the vault)." % ", ".join(sha1s))
    return {"compromised": _unique(sha1s), "keep": keep}


def summarize_revoke(mesh, region_of, outcomes, gate, compromised, remaining, finished_at):
    """The revoke.json document (schema 1): per host outcome, whether the leak touched it, time to green.

    ``outcomes`` is ``{host: {outcome, touched, message, started_epoch, green_epoch}}``; a host
    missing from it is ``not_run``. ``remaining`` are SHA-1s or identity records (only their
    SHA-1s are reported). ``complete`` means every host of the mesh is green.
    """
    outcomes = outcomes or {}
    hosts, starts, greens = {}, [], []
    for host in mesh:
        record = outcomes.get(host) or {}
        outcome = record.get("outcome") or "not_run"
        seconds = None
        if outcome == "green":
            started, green = _epoch(record.get("started_epoch")), _epoch(record.get("green_epoch"))
            if started is not None and green is not None:
                seconds = round(green - started, 1)
                starts.append(started)
                greens.append(green)
        hosts[host] = {
            "region": (region_of or {}).get(host) or "unknown",
            "outcome": outcome,
            "touched": record.get("touched"),
            "message": record.get("message") or "",
            "time_to_green_s": seconds,
        }
    return {
        "schema": 1,
        "ticket": gate["ticket"],
        "approvers": list(gate["approvers"]),
        "compromised": list(compromised),
        "remaining": identity_sha1s(remaining, "remaining"),
        "started_at": gate["started_at"],
        "finished_at": format_time(finished_at),
        "hosts": hosts,
        "hosts_touched": [host for host in mesh if hosts[host]["touched"]],
        "complete": all(entry["outcome"] == "green" for entry in hosts.values()),
        "time_to_green_s": round(max(greens) - min(starts), 1) if greens else None,
    }
