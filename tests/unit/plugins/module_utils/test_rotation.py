# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_rotation: every gate and plan refusal, every branch of the summaries (formerly Jinja in playbooks/)."""

import datetime
import json

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _identity
from ansible_collections.macmesh.signing.plugins.module_utils._rotation import (
    NO_EXPIRY,
    Refused,
    audit_sha1s,
    change_gate,
    check_inputs,
    check_new_material,
    completion_event,
    earliest_expiry,
    failure_message,
    format_time,
    identity_sha1s,
    incomplete_message,
    is_rerun,
    node_done,
    normalise_sha1,
    parse_bool,
    parse_time,
    plan_rotation,
    region_lines,
    region_of,
    retire_check,
    retire_document,
    retire_expiry,
    retired_sha1s,
    revoke_selection,
    rotation_report,
    state_document,
    summarize_revoke,
    summarize_rotation,
    unmatched_profiles,
    window_decision,
    window_precheck,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
OLD_SHA1 = "86890D67F234745572B7EF153C72DEA7CF522EDE"
NEW_SHA1 = "13F9C39BE0072902F6A60AF738F51BE53E3A8B23"
OLD = {"version": "2026.1", "sha256": "a" * 64}
NEW = {"version": "2026.2", "sha256": "b" * 64}
GATE = {"ticket": "CHG-1", "approvers": ["alice", "bob"], "forced": False, "force_reason": "",
        "started_at": "2026-12-01T12:00:00Z", "started_epoch": 1000.0}
MESH = ["sign-hk", "mini-hk", "sign-jp", "mini-jp", "sign-us", "mini-us"]
REGIONS = {"sign-hk": "hk", "mini-hk": "hk", "sign-jp": "jp", "mini-jp": "jp", "sign-us": "us", "mini-us": "us"}
ALL_READ = dict((host, {"reachable": True, "msg": ""}) for host in MESH)


def days(n):
    return (NOW + datetime.timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def refused(call, *args, **kwargs):
    with pytest.raises(Refused) as caught:
        call(*args, **kwargs)
    assert str(caught.value).startswith("REFUSED: ")
    assert caught.value.message == str(caught.value)
    assert isinstance(caught.value, ValueError)
    return caught.value


# --- Refused and the small parsers ------------------------------------------------------------

def test_refused_adds_the_prefix_once():
    assert str(Refused("x", "bad.")) == "REFUSED: bad."
    assert str(Refused("x", "REFUSED: bad.")) == "REFUSED: bad."
    assert Refused("rotate_ticket", "bad.").field == "rotate_ticket"


def test_normalise_sha1_is_the_identity_one():
    assert normalise_sha1 is _identity.normalise_sha1
    with pytest.raises(ValueError, match="rotate_identities"):
        normalise_sha1(OLD_SHA1 + "\n", "rotate_identities")


@pytest.mark.parametrize("value,expected", [
    (True, True), (False, False), (None, False), (1, True), (0, False), ("true", True), ("Yes", True),
    (" 1 ", True), ("on", True), ("false", False), ("no", False), ("0", False), ("", False), ("off", False),
])
def test_parse_bool(value, expected):
    assert parse_bool(value, "rotate_force") is expected


@pytest.mark.parametrize("value", ["ture", 2, [], {}, 1.5])
def test_parse_bool_refuses_what_is_not_a_yes_or_no(value):
    error = refused(parse_bool, value, "rotate_force")
    assert error.field == "rotate_force"
    assert "rotate_force must be true or false" in str(error)


def test_parse_time_and_format_time():
    assert parse_time("2026-12-01T12:00:00Z", "f") == NOW
    assert parse_time(datetime.datetime(2026, 12, 1, 12), "f") == NOW
    assert parse_time(datetime.datetime(2026, 12, 1, 20, tzinfo=datetime.timezone(datetime.timedelta(hours=8))), "f") == NOW
    assert format_time(NOW) == "2026-12-01T12:00:00Z"
    for bad in ("2026-12-01", "2026-12-01T12:00:00+00:00", None, 5):
        assert refused(parse_time, bad, "profiles[0].expires").field == "profiles[0].expires"


# --- change gate --------------------------------------------------------------------------------

def test_gate_records_ticket_approvers_and_start():
    gate = change_gate(" CHG-1234 ", ["alice", " bob "], now=NOW)
    assert gate == {"ticket": "CHG-1234", "approvers": ["alice", "bob"], "forced": False, "force_reason": "",
                    "started_at": "2026-12-01T12:00:00Z", "started_epoch": NOW.timestamp()}


def test_gate_takes_a_comma_separated_string_and_drops_empty_names():
    assert change_gate("CHG-1", "alice, ,bob,", now=NOW)["approvers"] == ["alice", "bob"]
    assert change_gate("CHG-1", ["alice", "", None, "bob"], now=NOW)["approvers"] == ["alice", "bob"]


def test_gate_without_now_uses_the_current_time():
    before = datetime.datetime.now(UTC).timestamp()
    gate = change_gate("CHG-1", ["alice", "bob"])
    assert before - 1 <= gate["started_epoch"] <= datetime.datetime.now(UTC).timestamp() + 1
    assert gate["started_at"].endswith("Z") and len(gate["started_at"]) == 20


@pytest.mark.parametrize("ticket", [None, "", "   ", "\n"])
def test_gate_refuses_a_missing_ticket(ticket):
    error = refused(change_gate, ticket, ["alice", "bob"])
    assert error.field == "rotate_ticket"
    assert str(error) == "REFUSED: rotate_ticket is not set: name the change ticket (-e rotate_ticket=CHG-1234)."


@pytest.mark.parametrize("approvers,count", [(None, 0), ([], 0), ("", 0), (["alice"], 1), ("alice,,", 1),
                                             (["a", "b", "c"], 3)])
def test_gate_refuses_other_than_two_approvers(approvers, count):
    error = refused(change_gate, "CHG-1", approvers)
    assert error.field == "rotate_approvers"
    assert str(error) == "REFUSED: rotate_approvers must name exactly two people (got %d)." % count


@pytest.mark.parametrize("approvers", [["alice", "alice"], ["Alice", "aLICE "], "bob,BOB"])
def test_gate_refuses_the_same_person_twice(approvers):
    error = refused(change_gate, "CHG-1", approvers)
    assert error.field == "rotate_approvers"
    first = approvers.split(",")[0] if isinstance(approvers, str) else approvers[0]
    assert str(error) == ("REFUSED: rotate_approvers names the same person twice (%s): a key movement needs two "
                          "different people." % first.strip())


@pytest.mark.parametrize("approvers,fragment", [({"alice": 1}, "not dict"), (5, "not int"), ([["alice"], "bob"], "[0]")])
def test_gate_refuses_approvers_that_are_not_names(approvers, fragment):
    error = refused(change_gate, "CHG-1", approvers)
    assert error.field == "rotate_approvers" and fragment in str(error)


@pytest.mark.parametrize("force", [True, "true", "yes", "1"])
def test_gate_forced_needs_a_reason(force):
    for reason in (None, "", "  "):
        error = refused(change_gate, "CHG-1", ["alice", "bob"], force=force, force_reason=reason)
        assert error.field == "rotate_force_reason"
        assert str(error) == ("REFUSED: rotate_force=true needs rotate_force_reason (recorded in the report and the node "
                              "state): say why the window policy is overridden.")
    gate = change_gate("CHG-1", ["alice", "bob"], force=force, force_reason=" Apple revoked early ", now=NOW)
    assert gate["forced"] is True and gate["force_reason"] == "Apple revoked early"


def test_gate_not_forced_records_no_reason():
    gate = change_gate("CHG-1", ["alice", "bob"], force="false", force_reason="ignored", now=NOW)
    assert gate["forced"] is False and gate["force_reason"] == ""


def test_gate_refuses_a_force_that_is_not_a_boolean():
    assert refused(change_gate, "CHG-1", ["alice", "bob"], force="ture").field == "rotate_force"


def test_gate_checks_ticket_before_approvers_before_force():
    assert refused(change_gate, "", ["alice"], force=True).field == "rotate_ticket"
    assert refused(change_gate, "CHG-1", ["alice"], force=True).field == "rotate_approvers"


# --- inputs ---------------------------------------------------------------------------------------

def test_check_inputs():
    assert check_inputs(None, "new/profiles.json", [{"sha1": NEW_SHA1}]) == "rotate"
    assert check_inputs("retire", "new/profiles.json", [{"sha1": NEW_SHA1}]) == "retire"
    error = refused(check_inputs, "undo", "m.json", [{}])
    assert error.field == "rotate_phase" and str(error) == "REFUSED: rotate_phase must be rotate or retire (got 'undo')."
    for manifest in (None, "", ["m.json"]):
        error = refused(check_inputs, "rotate", manifest, [{}])
        assert error.field == "rotate_manifest" and "rotate_manifest (the new profiles.json" in str(error)
    for identities in (None, []):
        error = refused(check_inputs, "rotate", "m.json", identities)
        assert error.field == "rotate_identities" and "rotate_identities (the new identities" in str(error)


def test_identity_sha1s_normalises_and_returns_only_sha1s():
    spelled = ":".join(NEW_SHA1[i:i + 2].lower() for i in range(0, 40, 2))
    assert identity_sha1s([{"sha1": spelled, "passphrase": "secret"}, OLD_SHA1], "rotate_identities") == [NEW_SHA1, OLD_SHA1]
    assert identity_sha1s(None, "rotate_identities") == []


@pytest.mark.parametrize("identities,where", [
    ([{"sha1": NEW_SHA1}, {"sha1": NEW_SHA1 + "\n"}], "rotate_identities[1].sha1"),
    ([{"src": "x.p12"}], "rotate_identities[0].sha1"),
    (["abc"], "rotate_identities[0]"),
])
def test_identity_sha1s_refuses_a_bad_sha1(identities, where):
    error = refused(identity_sha1s, identities, "rotate_identities")
    assert error.field == "rotate_identities"
    assert str(error).startswith("REFUSED: %s: every entry needs the 40-hex-digit SHA-1 of its certificate" % where)
    assert "secret" not in str(error)


@pytest.mark.parametrize("value", ["abc", {"sha1": NEW_SHA1}])
def test_identity_sha1s_refuses_a_non_list(value):
    assert refused(identity_sha1s, value, "rotate_identities").field == "rotate_identities"


PROFILES = [
    {"filename": "a.mobileprovision", "certificates": [NEW_SHA1.lower(), OLD_SHA1]},
    {"filename": "b.mobileprovision", "certificates": [OLD_SHA1]},
    {"filename": "c.mobileprovision"},
]


def test_unmatched_profiles():
    assert unmatched_profiles(PROFILES, [NEW_SHA1]) == ["b.mobileprovision", "c.mobileprovision"]
    assert unmatched_profiles(PROFILES[:1], [NEW_SHA1]) == []


CURRENT = {"version": "r1", "manifest": OLD, "previous": "r0"}


def test_check_new_material():
    check_new_material("rotate", "new/profiles.json", NEW, CURRENT, PROFILES[:1], [NEW_SHA1])
    # retire checks neither (the same manifest is expected there)
    check_new_material("retire", "new/profiles.json", OLD, CURRENT, PROFILES, [NEW_SHA1])
    error = refused(check_new_material, "rotate", "new/profiles.json", NEW, CURRENT, PROFILES, [NEW_SHA1])
    assert error.field == "rotate_manifest"
    assert str(error) == ("REFUSED: new/profiles.json: profiles b.mobileprovision, c.mobileprovision: certificates: list "
                          "none of the new identities (%s); a profile must be issued for the identity that will sign "
                          "with it." % NEW_SHA1)
    error = refused(check_new_material, "rotate", "new/profiles.json", dict(OLD), CURRENT, PROFILES[:1], [NEW_SHA1])
    assert error.field == "rotate_manifest"
    assert str(error).startswith("REFUSED: new/profiles.json is the manifest the inventory already declares (2026.1): "
                                 "nothing to rotate.")


def test_the_promoted_rotation_run_again_is_not_refused():
    promoted = {"version": "2026.2", "manifest": NEW, "previous": "r1"}
    assert is_rerun({"version": "2026.2", "sha256": NEW["sha256"]}, promoted)
    check_new_material("rotate", "new/profiles.json", {"version": "2026.2", "sha256": NEW["sha256"]}, promoted,
                       PROFILES[:1], [NEW_SHA1])
    # Not a re-run: another version name for the same manifest, or a current release that supersedes none.
    for new, current in (({"version": "2026.3", "sha256": NEW["sha256"]}, promoted),
                         ({"version": "2026.2", "sha256": NEW["sha256"]}, dict(promoted, previous=None))):
        assert not is_rerun(new, current)
        error = refused(check_new_material, "rotate", "new/profiles.json", new, current, PROFILES[:1], [NEW_SHA1])
        assert "nothing to rotate" in str(error)


# --- expiry and window --------------------------------------------------------------------------

def test_earliest_expiry_takes_profiles_and_the_old_certificates_only():
    certificates = [{"sha1": OLD_SHA1.lower(), "not_after": days(9)}, {"sha1": NEW_SHA1, "not_after": days(1)}]
    assert earliest_expiry([days(20), days(12)], certificates, [OLD_SHA1]) == days(9)
    assert earliest_expiry(days(8), certificates, [OLD_SHA1]) == days(8)
    assert earliest_expiry([days(20)], certificates, [NEW_SHA1]) == days(1)
    assert earliest_expiry([days(20)], None, None) == days(20)


def test_earliest_expiry_refusals():
    assert refused(earliest_expiry, [], [], [OLD_SHA1]).field == "rotate_old_manifest"
    assert refused(earliest_expiry, ["soon"], [], []).field == "profiles[0].expires"
    error = refused(earliest_expiry, [days(3)], [{"sha1": OLD_SHA1, "not_after": "later"}], [OLD_SHA1])
    assert error.field == "certificates[0].not_after"


def test_retire_expiry():
    assert retire_expiry([{"old_expires": days(3)}, {"old_expires": days(-2)}, {}, None]) == days(-2)
    assert retire_expiry([{"phase": "promoted"}]) == NO_EXPIRY
    assert retire_expiry([]) == NO_EXPIRY


@pytest.mark.parametrize("left", [7, 10, 14, 6.999])
def test_rotate_inside_the_window(left):
    old = (NOW + datetime.timedelta(days=left)).strftime("%Y-%m-%dT%H:%M:%SZ")
    decision = window_decision("rotate", old, NOW, new_expires=days(300))
    assert decision == {"days_left": round(left, 2), "old_expires": old}


@pytest.mark.parametrize("left", [6.99, 14.01, 30, 1])
def test_rotate_outside_the_window_is_refused_unless_forced(left):
    old = (NOW + datetime.timedelta(days=left)).strftime("%Y-%m-%dT%H:%M:%SZ")
    error = refused(window_decision, "rotate", old, NOW, new_expires=days(300), old_version="2026.1")
    assert error.field == "rotate_force"
    assert str(error) == ("REFUSED: the old material (2026.1) first expires at %s, in %.2f days: a rotation runs 7-14 days "
                          "before that expiry. Wait for the window, or set rotate_force=true with rotate_force_reason "
                          "(recorded)." % (old, left))
    assert window_decision("rotate", old, NOW, new_expires=days(300), forced=True)["days_left"] == left


def test_window_message_uses_the_configured_window():
    error = refused(window_decision, "rotate", days(30), NOW, new_expires=days(300), min_days="3", max_days=4.5)
    assert "first expires at %s, in 30.00 days: a rotation runs 3-4.5 days" % days(30) in str(error)
    assert str(error).startswith("REFUSED: the old material first expires")
    assert window_decision("rotate", days(4), NOW, new_expires=days(300), min_days="3", max_days="5")["days_left"] == 4


@pytest.mark.parametrize("left", [0, -3])
def test_rotate_after_the_old_expiry_is_refused_even_forced(left):
    error = refused(window_decision, "rotate", days(left), NOW, new_expires=days(300), forced=True)
    assert error.field == "rotate_manifest"
    assert str(error) == ("REFUSED: the old material already expired at %s: there is no overlap to rotate in; install the "
                          "new manifest with the bootstrap instead." % days(left))
    # min_days 0 lets the window pass; the expiry still refuses
    assert refused(window_decision, "rotate", days(0), NOW, new_expires=days(300), min_days=0).field == "rotate_manifest"


@pytest.mark.parametrize("new", [days(10), days(5)])
def test_rotate_refuses_new_profiles_that_do_not_outlive_the_old_material(new):
    error = refused(window_decision, "rotate", days(10), NOW, new_expires=new, manifest="new/profiles.json")
    assert error.field == "rotate_manifest"
    assert str(error) == ("REFUSED: a new profile of new/profiles.json expires at %s, before the old material (%s): the new "
                          "UUIDs must outlive the overlap." % (new, days(10)))


def test_rotate_needs_the_new_expiry():
    assert refused(window_decision, "rotate", days(10), NOW).field == "rotate_manifest"


def test_retire_after_the_overlap():
    assert window_decision("retire", days(-1), NOW) == {"days_left": -1.0, "old_expires": days(-1)}
    assert window_decision("retire", days(0), NOW)["days_left"] == 0


def test_retire_inside_the_overlap_is_refused_unless_forced():
    error = refused(window_decision, "retire", days(3), NOW)
    assert error.field == "rotate_force"
    assert str(error) == ("REFUSED: the overlap runs until the old material expires at %s (in 3.00 days): retire after that, "
                          "or set rotate_force=true with rotate_force_reason (recorded)." % days(3))
    assert window_decision("retire", days(3), NOW, forced="yes")["days_left"] == 3


def test_window_refuses_an_unknown_phase():
    error = refused(window_decision, "rollback", days(10), NOW, new_expires=days(300))
    assert error.field == "rotate_phase" and "rotate_phase must be rotate or retire" in str(error)


@pytest.mark.parametrize("low,high,field", [
    (15, 14, "rotate_window_min_days"), (-1, 14, "rotate_window_min_days"), (7, -2, "rotate_window_max_days"),
    ("seven", 14, "rotate_window_min_days"), (7, True, "rotate_window_max_days"), (float("nan"), 14, "rotate_window_min_days"),
])
def test_window_refuses_a_bad_window(low, high, field):
    error = refused(window_decision, "rotate", days(10), NOW, new_expires=days(300), min_days=low, max_days=high)
    assert error.field == field


def test_window_min_greater_than_max_names_both():
    error = refused(window_decision, "rotate", days(10), NOW, new_expires=days(300), min_days=15, max_days=14)
    assert str(error) == "REFUSED: rotate_window_min_days (15) is greater than rotate_window_max_days (14)."


def test_window_defaults_when_none_and_now_none():
    old = (datetime.datetime.now(UTC) + datetime.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    decision = window_decision("rotate", old, None, new_expires=days(3000), min_days=None, max_days=None)
    assert 9.9 <= decision["days_left"] <= 10


# --- plan ---------------------------------------------------------------------------------------

def test_region_of_takes_the_first_region_in_regions_order():
    groups = {"a": ["mesh", "signers", "us", "hk"], "b": ["mesh"], "c": ["jp"]}
    assert region_of(["a", "b", "c", "d"], groups, ["hk", "jp", "us"]) == {"a": "hk", "b": "unknown", "c": "jp", "d": "unknown"}
    assert region_of(["a"], groups, ["us", "hk"]) == {"a": "us"}


def test_plan_canary_first_then_batches_in_mesh_order():
    plan = plan_rotation(MESH, REGIONS, ALL_READ)
    assert plan == {
        "targets": MESH, "excluded": [], "canary": ["sign-hk", "mini-hk"],
        "batches": [["sign-jp", "mini-jp"], ["sign-us", "mini-us"]], "batch_size": 2, "region_of": REGIONS,
    }


@pytest.mark.parametrize("serial,batches", [
    (1, [["sign-jp"], ["mini-jp"], ["sign-us"], ["mini-us"]]),
    ("3", [["sign-jp", "mini-jp", "sign-us"], ["mini-us"]]),
    (10, [["sign-jp", "mini-jp", "sign-us", "mini-us"]]),
    ("50%", [["sign-jp", "mini-jp"], ["sign-us", "mini-us"]]),
    ("100%", [["sign-jp", "mini-jp", "sign-us", "mini-us"]]),
    ("10%", [["sign-jp"], ["mini-jp"], ["sign-us"], ["mini-us"]]),  # floored, at least one
    ("30%", [["sign-jp"], ["mini-jp"], ["sign-us"], ["mini-us"]]),  # 1.2 nodes: floored like Ansible's serial
    ("60%", [["sign-jp", "mini-jp"], ["sign-us", "mini-us"]]),  # 2.4
    (" 75% ", [["sign-jp", "mini-jp", "sign-us"], ["mini-us"]]),
])
def test_plan_serial(serial, batches):
    assert plan_rotation(MESH, REGIONS, ALL_READ, serial=serial)["batches"] == batches


@pytest.mark.parametrize("serial", [0, -1, "0", "0%", "101%", "half", "%", "1.5", 1.5, True, None, [2]])
def test_plan_refuses_a_bad_serial(serial):
    error = refused(plan_rotation, MESH, REGIONS, ALL_READ, serial=serial)
    assert error.field == "rotate_serial"
    assert str(error) == ("REFUSED: rotate_serial must be a number of nodes >= 1 or a percentage such as 50%%, not %r."
                          % (serial,))


def test_plan_with_only_the_canary_has_no_batches():
    plan = plan_rotation(MESH, REGIONS, ALL_READ, exclude_regions=["jp", "us"], serial="50%")
    assert plan["batches"] == [] and plan["canary"] == ["sign-hk", "mini-hk"]


def test_plan_excludes_regions_and_their_unreachable_hosts():
    reads = dict(ALL_READ, **{"sign-us": {"reachable": False, "msg": "timeout"}})
    del reads["mini-us"]
    plan = plan_rotation(MESH, REGIONS, reads, exclude_regions=["us"], canary_region="jp", serial=1)
    assert plan["targets"] == ["sign-hk", "mini-hk", "sign-jp", "mini-jp"]
    assert plan["excluded"] == ["sign-us", "mini-us"]
    assert plan["canary"] == ["sign-jp", "mini-jp"]
    assert plan["batches"] == [["sign-hk"], ["mini-hk"]]
    assert plan_rotation(MESH, REGIONS, reads, exclude_regions="us, hk", canary_region="jp")["excluded"] == [
        "sign-hk", "mini-hk", "sign-us", "mini-us"]


def test_plan_refuses_an_unknown_region_to_exclude():
    error = refused(plan_rotation, MESH, REGIONS, ALL_READ, exclude_regions=["us", "eu", "mars"])
    assert error.field == "rotate_exclude_regions"
    assert str(error) == "REFUSED: rotate_exclude_regions names eu, mars, which are no region of the mesh (hk, jp, us)."
    assert "eu, which is no region" in str(refused(plan_rotation, MESH, REGIONS, ALL_READ, exclude_regions="eu"))
    assert refused(plan_rotation, MESH, REGIONS, ALL_READ, exclude_regions={"us": 1}).field == "rotate_exclude_regions"


def test_plan_refuses_unread_hosts_and_says_how_to_exclude_their_regions():
    reads = dict(ALL_READ)
    reads["mini-jp"] = {"reachable": False, "msg": "Failed to connect to the host via ssh: timed out\n"}
    reads["sign-us"] = {"reachable": False}
    del reads["mini-us"]
    error = refused(plan_rotation, MESH, REGIONS, reads)
    assert error.field == "rotate_exclude_regions"
    assert str(error) == (
        "REFUSED: mini-jp, sign-us, mini-us could not be read (Failed to connect to the host via ssh: timed out; "
        "unreachable; not read). Bring the node back, or exclude its region explicitly with "
        "-e '{\"rotate_exclude_regions\": [\"jp\", \"us\"]}' (it then keeps the old version).")


def test_plan_suggestion_keeps_the_regions_already_excluded():
    reads = dict(ALL_READ, **{"mini-jp": {"reachable": False, "msg": "down"}})
    error = refused(plan_rotation, MESH, REGIONS, reads, exclude_regions=["us"])
    suggestion = str(error).split("-e '")[1].split("'")[0]
    assert json.loads(suggestion) == {"rotate_exclude_regions": ["us", "jp"]}


def test_plan_refuses_a_canary_region_without_target():
    error = refused(plan_rotation, MESH, REGIONS, ALL_READ, exclude_regions=["hk"])
    assert error.field == "rotate_canary_region"
    assert str(error) == ("REFUSED: the canary region hk has no node among the targets (sign-jp, mini-jp, sign-us, mini-us); "
                          "set rotate_canary_region to a region that is not excluded.")
    error = refused(plan_rotation, MESH, REGIONS, ALL_READ, canary_region="eu")
    assert "the canary region eu has no node" in str(error)
    error = refused(plan_rotation, MESH, REGIONS, ALL_READ, exclude_regions=["hk", "jp", "us"])
    assert "among the targets (none)" in str(error)


def test_plan_default_canary_when_none_and_unknown_region():
    regions = dict(REGIONS, **{"mini-us": None})
    plan = plan_rotation(MESH, regions, ALL_READ, canary_region=None)
    assert plan["canary"] == ["sign-hk", "mini-hk"] and plan["region_of"]["mini-us"] == "unknown"
    assert plan_rotation(MESH, {}, ALL_READ, canary_region="unknown")["canary"] == MESH


# --- retire check, per-node decisions -------------------------------------------------------------

def promoted(sha256, active=None):
    return {"release": {"schema": 1, "phase": "promoted", "manifest": {"version": "v", "sha256": sha256}},
            "active": sha256 if active is None else active}


def test_retire_check_passes_when_every_target_runs_the_new_version():
    retire_check(["a", "b"], {"a": promoted(NEW["sha256"]), "b": {"release": {"sha256": NEW["sha256"]}, "active": NEW["sha256"]},
                              "c": {}}, NEW["sha256"])
    retire_check(["a"], {"a": {"state": promoted(NEW["sha256"])["release"], "active": NEW["sha256"]}}, NEW["sha256"])


def test_retire_check_names_every_node_not_on_the_new_version():
    states = {
        "a": promoted(NEW["sha256"]),
        "b": promoted(OLD["sha256"]),                     # recorded the old one
        "c": promoted(NEW["sha256"], active=OLD["sha256"]),  # rolled back by hand
        "d": {"release": {}, "active": NEW["sha256"]},     # no state recorded
        "e": {"release": "garbage", "active": NEW["sha256"]},
    }
    error = refused(retire_check, ["a", "b", "c", "d", "e", "f"], states, NEW["sha256"], new_version="2026.2")
    assert error.field == "rotate_phase"
    assert str(error) == ("REFUSED: b, c, d, e, f do not run 2026.2 (bbbbbbbbbbbb) as their recorded rotation state: finish "
                          "the rotation (run the rotate phase again) before retiring.")
    error = refused(retire_check, ["b"], states, NEW["sha256"])
    assert str(error).startswith("REFUSED: b does not run %s (bbbbbbbbbbbb)" % NEW["sha256"])


def test_node_done():
    assert node_done("rotate", dict(promoted(NEW["sha256"]), new_sha256=NEW["sha256"])) is True
    assert node_done("rotate", dict(promoted(NEW["sha256"], OLD["sha256"]), new_sha256=NEW["sha256"])) is False
    assert node_done("rotate", dict(promoted(OLD["sha256"]), new_sha256=NEW["sha256"])) is False
    assert node_done("rotate", {"release": {}, "active": "", "new_sha256": ""}) is False
    assert node_done("rotate", None) is False
    assert node_done("retire", {"release": {"phase": "retired"}}) is True
    assert node_done("retire", {"state": {"phase": "retired"}}) is True
    assert node_done("retire", {"release": {"phase": "promoted"}}) is False
    assert node_done("retire", {}) is False


def test_retired_sha1s():
    assert retired_sha1s({"identities_before": [OLD_SHA1, NEW_SHA1], "identities": [NEW_SHA1]}) == [OLD_SHA1]
    assert retired_sha1s({"identities_before": [OLD_SHA1], "identities": []}) == [OLD_SHA1]
    assert retired_sha1s({}) == [] and retired_sha1s(None) == []


def test_state_document():
    gate = dict(GATE, force_reason="early")
    doc = state_document(NEW, {"version": "2026.1", "sha256": OLD["sha256"]}, True, [NEW_SHA1], [OLD_SHA1], days(9), gate, NOW)
    assert doc == {"schema": 1, "phase": "promoted", "manifest": NEW, "previous": OLD, "identities": [NEW_SHA1],
                   "identities_before": [OLD_SHA1], "old_expires": days(9), "ticket": "CHG-1", "approvers": ["alice", "bob"],
                   "force_reason": "early", "promoted_at": "2026-12-01T12:00:00Z"}
    builder = state_document(NEW, None, False, [NEW_SHA1], None, days(9), GATE, "2026-12-01T12:00:00Z")
    assert builder["identities"] == [] and builder["identities_before"] == []
    assert builder["previous"] == {"version": None, "sha256": None}


def test_retire_document_keeps_the_recorded_state():
    state = {"schema": 1, "phase": "promoted", "manifest": NEW}
    doc = retire_document(state, GATE, NOW)
    assert doc == {"schema": 1, "phase": "retired", "manifest": NEW, "retired_at": "2026-12-01T12:00:00Z",
                   "retire_ticket": "CHG-1", "retire_approvers": ["alice", "bob"], "retire_force_reason": ""}
    assert state["phase"] == "promoted"


def test_failure_message():
    assert failure_message({"msg": " boom \n"}, "Stage") == "boom"
    assert failure_message({"msg": "secret", "censored": "the output has been hidden"}, "Stage - import") == (
        "Stage - import failed (output hidden: no_log)")
    assert failure_message({}, "x") == "failed" and failure_message(None, "x") == "failed"


def test_audit_sha1s():
    assert audit_sha1s("rotate", [NEW_SHA1], [OLD_SHA1, NEW_SHA1]) == [NEW_SHA1, OLD_SHA1]
    assert audit_sha1s("retire", [NEW_SHA1], [OLD_SHA1]) == [NEW_SHA1]


# --- rotation summary ---------------------------------------------------------------------------

def green(start, end, **extra):
    return dict({"outcome": "green", "message": "", "started_epoch": start, "green_epoch": end,
                 "active_version": OLD["version"], "active": OLD["sha256"]}, **extra)


def test_summary_complete_run():
    outcomes = {
        "sign-hk": green(100.0, 130.0), "mini-hk": green("110.5", "120.0"),
        "sign-jp": {"outcome": "already"}, "mini-jp": {"outcome": "already"},
        "sign-us": green(200.0, 260.04), "mini-us": {"outcome": "already", "active_version": "x"},
    }
    summary = summarize_rotation(MESH, REGIONS, [], outcomes, "rotate", NEW, OLD)
    assert summary["complete"] is True and summary["targets_complete"] is True
    assert summary["status"] == "complete" and summary["not_green"] == []
    assert summary["time_to_green_s"] == 160.0
    assert summary["hosts"]["sign-hk"] == {"region": "hk", "outcome": "green", "message": "", "version": "2026.2",
                                           "sha256": NEW["sha256"], "time_to_green_s": 30.0}
    assert summary["hosts"]["mini-hk"]["time_to_green_s"] == 9.5
    assert summary["hosts"]["mini-us"]["version"] == "2026.2"
    assert summary["regions"] == {
        "hk": {"hosts": ["sign-hk", "mini-hk"], "versions": ["2026.2"], "status": "green", "time_to_green_s": 30.0},
        "jp": {"hosts": ["sign-jp", "mini-jp"], "versions": ["2026.2"], "status": "green", "time_to_green_s": 0.0},
        "us": {"hosts": ["sign-us", "mini-us"], "versions": ["2026.2"], "status": "green", "time_to_green_s": 60.0},
    }
    assert list(summary["regions"]) == ["hk", "jp", "us"]
    assert summary["manifest"] == NEW and summary["previous"] == OLD


def test_summary_all_already_is_complete_in_zero_seconds():
    outcomes = dict((host, {"outcome": "already"}) for host in MESH)
    summary = summarize_rotation(MESH, REGIONS, [], outcomes, "rotate", NEW)
    assert summary["time_to_green_s"] == 0.0 and summary["complete"] is True and "previous" not in summary


def test_summary_rolled_back_halts_the_rest():
    outcomes = {
        "sign-hk": green(100.0, 130.0), "mini-hk": green(100.0, 125.0),
        "sign-jp": {"outcome": "rolled_back", "message": "codesign failed", "started_epoch": 140.0,
                    "active_version": OLD["version"], "active": OLD["sha256"]},
        "mini-jp": green(140.0, 150.0),
    }
    summary = summarize_rotation(MESH, REGIONS, [], outcomes, "rotate", NEW, OLD)
    assert summary["status"] == "rolled_back" and summary["complete"] is False and summary["targets_complete"] is False
    assert summary["not_green"] == [["sign-jp", "rolled_back"], ["sign-us", "not_started"], ["mini-us", "not_started"]]
    assert summary["hosts"]["sign-jp"] == {"region": "jp", "outcome": "rolled_back", "message": "codesign failed",
                                           "version": "2026.1", "sha256": OLD["sha256"], "time_to_green_s": None}
    assert summary["hosts"]["sign-us"]["version"] is None and summary["hosts"]["sign-us"]["sha256"] is None
    assert summary["regions"]["jp"] == {"hosts": ["sign-jp", "mini-jp"], "versions": ["2026.1", "2026.2"],
                                        "status": "rolled_back", "time_to_green_s": None}
    assert summary["regions"]["us"]["status"] == "not_started" and summary["regions"]["us"]["time_to_green_s"] is None
    # time to green covers the green hosts, even when the run failed
    assert summary["time_to_green_s"] == 50.0


def test_summary_with_an_excluded_region():
    outcomes = dict((host, green(100.0, 110.0)) for host in MESH[:4])
    outcomes["sign-us"] = {"outcome": "green", "active_version": OLD["version"]}  # ignored: excluded
    summary = summarize_rotation(MESH, REGIONS, ["sign-us", "mini-us"], outcomes, "rotate", NEW, OLD)
    assert summary["complete"] is False and summary["targets_complete"] is True
    assert summary["status"] == "incomplete"
    assert summary["hosts"]["sign-us"]["outcome"] == "excluded" and summary["hosts"]["sign-us"]["version"] == "2026.1"
    assert summary["regions"]["us"]["status"] == "excluded"
    assert summary["not_green"] == [["sign-us", "excluded"], ["mini-us", "excluded"]]


def test_summary_unreachable_and_no_green_at_all():
    outcomes = {"sign-hk": {"outcome": "unreachable", "message": "gone"}}
    summary = summarize_rotation(["sign-hk"], REGIONS, [], outcomes, "rotate", NEW)
    assert summary["time_to_green_s"] is None and summary["status"] == "incomplete"
    assert summary["regions"]["hk"]["status"] == "unreachable"


def test_summary_green_without_epochs_has_no_time():
    summary = summarize_rotation(["sign-hk"], REGIONS, [], {"sign-hk": {"outcome": "green", "started_epoch": ""}}, "rotate", NEW)
    assert summary["hosts"]["sign-hk"]["time_to_green_s"] is None
    assert summary["regions"]["hk"]["time_to_green_s"] is None
    assert summary["time_to_green_s"] == 0.0  # complete, nothing timed


def test_summary_retire_reports_the_new_version_everywhere():
    outcomes = {"sign-hk": {"outcome": "failed", "message": "delete-identity failed", "active_version": OLD["version"]}}
    summary = summarize_rotation(["sign-hk", "mini-hk"], REGIONS, [], outcomes, "retire", NEW)
    assert summary["hosts"]["sign-hk"]["version"] == "2026.2" and summary["hosts"]["mini-hk"]["version"] == "2026.2"
    assert summary["status"] == "incomplete"
    assert summary["regions"]["hk"]["status"] == "failed"


def test_summary_host_without_region():
    summary = summarize_rotation(["x"], {}, [], {"x": {"outcome": "already"}}, "rotate", NEW)
    assert summary["hosts"]["x"]["region"] == "unknown" and list(summary["regions"]) == ["unknown"]


def test_report_event_lines_and_failure_text():
    outcomes = {"sign-hk": green(100.0, 130.0), "mini-hk": {"outcome": "already"}}
    summary = summarize_rotation(["sign-hk", "mini-hk"], REGIONS, [], outcomes, "rotate", NEW, OLD)
    report = rotation_report("rotate", summary, GATE, NEW, OLD, days(9), None, NOW, True)
    assert report == {
        "schema": 1, "phase": "rotate", "status": "complete", "ticket": "CHG-1", "approvers": ["alice", "bob"],
        "forced": False, "force_reason": "", "started_at": "2026-12-01T12:00:00Z", "finished_at": "2026-12-01T12:00:00Z",
        "manifest": NEW, "previous": OLD, "old_expires": days(9), "excluded_regions": [], "time_to_green_s": 30.0,
        "regions": summary["regions"], "hosts": summary["hosts"], "compliance_ok": True,
    }
    assert completion_event(report, summary) == {
        "event": "macmesh.rotation.rotate.complete", "manifest": NEW, "previous": OLD, "ticket": "CHG-1",
        "approvers": ["alice", "bob"], "regions": ["hk"], "time_to_green_s": 30.0, "completed_at": "2026-12-01T12:00:00Z",
    }
    assert region_lines(summary) == ["hk: green version=2026.2 time_to_green=30.0s (green, already)"]
    assert incomplete_message(summary, "rotate", "2026.2") is None

    summary = summarize_rotation(["sign-hk", "sign-us"], REGIONS, ["sign-us"], {"sign-hk": {"outcome": "rolled_back"}},
                                 "rotate", NEW, OLD)
    assert region_lines(summary) == ["hk: rolled_back version=None time_to_green=-s (rolled_back)",
                                     "us: excluded version=None time_to_green=-s (excluded)"]
    assert incomplete_message(summary, "rotate", "2026.2") == (
        "The rotate did not complete: sign-hk: rolled_back, sign-us: excluded. Fix the cause and run the same command "
        "again: nodes already on 2026.2 are skipped.")
    assert rotation_report("rotate", summary, GATE, NEW, OLD, days(9), "us", NOW, False)["excluded_regions"] == ["us"]


# --- revoke ---------------------------------------------------------------------------------------

def test_revoke_selection_keeps_the_other_identities():
    identities = [{"sha1": OLD_SHA1.lower(), "passphrase": "p1"}, {"sha1": NEW_SHA1, "passphrase": "p2"}]
    spelled = " ".join(OLD_SHA1[i:i + 2] for i in range(0, 40, 2))
    selection = revoke_selection([spelled], identities)
    assert selection == {"compromised": [OLD_SHA1], "keep": [identities[1]]}
    assert revoke_selection(OLD_SHA1 + "," + OLD_SHA1, identities)["compromised"] == [OLD_SHA1]


@pytest.mark.parametrize("compromised", [None, [], "", ["86890D67"], [OLD_SHA1 + "\n"]])
def test_revoke_refuses_bad_compromised_sha1s(compromised):
    error = refused(revoke_selection, compromised, [{"sha1": NEW_SHA1}])
    assert error.field == "revoke_sha1s"
    assert str(error).startswith("REFUSED: revoke_sha1s must list the 40-hex-digit SHA-1 of each compromised certificate")


@pytest.mark.parametrize("identities", [None, [], [{"sha1": OLD_SHA1, "passphrase": "secret"}]])
def test_revoke_refuses_when_nothing_is_left_to_sign_with(identities):
    error = refused(revoke_selection, [OLD_SHA1], identities)
    assert error.field == "revoke_identities"
    assert str(error) == ("REFUSED: no identity is left to sign with once %s is removed: give the replacement in "
                          "revoke_identities ([{src, passphrase, sha1}], from the vault)." % OLD_SHA1)
    assert "secret" not in str(error)


def test_revoke_summary():
    outcomes = {
        "sign-hk": {"outcome": "green", "touched": True, "started_epoch": "100.0", "green_epoch": "112.25"},
        "mini-hk": {"outcome": "green", "touched": False, "started_epoch": 101.0, "green_epoch": 105.0},
        "sign-jp": {"outcome": "failed", "touched": True, "message": "codesign still signs", "started_epoch": 99.0},
        "mini-jp": {"outcome": "unreachable"},
    }
    doc = summarize_revoke(MESH[:5], REGIONS, outcomes, GATE, [OLD_SHA1], [{"sha1": NEW_SHA1, "passphrase": "p"}], NOW)
    assert doc["schema"] == 1 and doc["ticket"] == "CHG-1" and doc["approvers"] == ["alice", "bob"]
    assert doc["compromised"] == [OLD_SHA1] and doc["remaining"] == [NEW_SHA1]
    assert "p" not in json.dumps(doc["remaining"]) and "passphrase" not in json.dumps(doc)
    assert doc["started_at"] == "2026-12-01T12:00:00Z" and doc["finished_at"] == "2026-12-01T12:00:00Z"
    assert doc["hosts"]["sign-hk"] == {"region": "hk", "outcome": "green", "touched": True, "message": "",
                                       "time_to_green_s": 12.2}
    assert doc["hosts"]["sign-jp"]["time_to_green_s"] is None and doc["hosts"]["sign-jp"]["message"] == "codesign still signs"
    assert doc["hosts"]["mini-jp"] == {"region": "jp", "outcome": "unreachable", "touched": None, "message": "",
                                       "time_to_green_s": None}
    assert doc["hosts"]["sign-us"]["outcome"] == "not_run"
    assert doc["hosts_touched"] == ["sign-hk", "sign-jp"]
    assert doc["complete"] is False
    assert doc["time_to_green_s"] == 12.2


def test_revoke_summary_complete_and_empty():
    outcomes = {"sign-hk": {"outcome": "green", "touched": False, "started_epoch": 1.0, "green_epoch": 2.0}}
    doc = summarize_revoke(["sign-hk"], {}, outcomes, GATE, [OLD_SHA1], [NEW_SHA1], "2026-12-01T13:00:00Z")
    assert doc["complete"] is True and doc["hosts_touched"] == [] and doc["time_to_green_s"] == 1.0
    assert doc["hosts"]["sign-hk"]["region"] == "unknown" and doc["finished_at"] == "2026-12-01T13:00:00Z"
    doc = summarize_revoke(["sign-hk"], {}, {"sign-hk": {"outcome": "green"}}, GATE, [OLD_SHA1], [NEW_SHA1], NOW)
    assert doc["time_to_green_s"] is None and doc["complete"] is True


# --- window_precheck: what the gate refuses before any node is read ---------------------------------


def test_the_gate_refuses_a_manifest_that_alone_is_too_late_for_the_window():
    error = refused(window_precheck, "rotate", days(3), NOW, old_version="2026.1")
    assert error.field == "rotate_force" and "in 3.00 days: a rotation runs 7-14 days" in str(error)
    # Past the expiry there is no overlap, forced or not.
    error = refused(window_precheck, "rotate", days(-1), NOW, forced=True)
    assert error.field == "rotate_manifest" and "already expired" in str(error)
    error = refused(window_precheck, "rotate", days(30), NOW, min_days=9, max_days=8)
    assert error.field == "rotate_window_min_days"


def test_the_gate_leaves_to_the_plan_what_the_nodes_certificates_may_change():
    # Far from the manifest's expiry: a certificate on the nodes may still expire within the window.
    assert window_precheck("rotate", days(300), NOW) is None
    assert window_precheck("rotate", days(10), NOW) is None
    # Forced and not expired; retire and revoke; no manifest expiry known.
    assert window_precheck("rotate", days(3), NOW, forced=True) is None
    assert window_precheck("retire", days(3), NOW) is None
    assert window_precheck("revoke", days(3), NOW) is None
    assert window_precheck("rotate", None, NOW) is None
