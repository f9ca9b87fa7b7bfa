# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE: it is only meant to be used by the plugins of macmesh.signing.
# Its API may change between minor releases.

"""Compliance reports: one document, four renderings (JSON, JUnit XML, HTML, JSON lines).

``build_report`` turns the output of ``mesh_parity`` (findings per host and region) and the
per-host ``signing_info`` facts into the ``compliance.json`` document; the other renderers only
format that document, so the four files can never disagree.

Every step is linear in hosts and findings: a fleet of 10,000 hosts renders in about the time
``json.loads`` takes to read its facts (``benchmarks/report_bench.py``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import html
import json

# 2: findings sorted by severity; hosts carry their name and whether they were evaluated; regions
# count reachable hosts and list which checks fail on which hosts; a host that was not evaluated
# no longer makes its region's other checks "unreachable". See docs/compliance.md.
REPORT_SCHEMA = 2

# Every finding code belongs to one check; a check is a JUnit testcase per host and a line of a
# region's summary. Codes are matched by prefix so a new code lands in a sensible check.
CHECKS = (
    ("reachability", ("UNREACHABLE", "FACT_UNAVAILABLE", "FACTS_FAILED", "NO_FACTS")),
    ("inventory", ("REGION_", "TIER_")),
    ("manifest", ("MANIFEST", "PROFILE_MISSING", "PROFILE_EXTRA", "PROFILE_SHA", "PROFILE_ROOT", "PROFILE_UNREADABLE",
                  "PROFILE_KEPT")),
    ("identities", ("IDENTITY", "KEY_")),
    ("keychain", ("KEYCHAIN",)),
    ("wrapper", ("WRAPPER",)),
    ("search_list", ("SEARCH_LIST",)),
    ("expiry", ("CERT_", "PROFILE_OVERLAP", "PROFILE_EXPIRED", "EXPIR")),
    ("profile_dirs", ("DUPLICATE_UUID", "PROFILE_DIR", "PROFILE_IN_CACHE")),
    ("clock", ("CLOCK",)),
    ("secrets", ("SECRET",)),
    ("release", ("RELEASE_",)),
    ("ci_agent", ("NOTARY_", "CI_AGENT", "SESSION_TTL")),
)
CHECK_NAMES = tuple(name for name, _prefixes in CHECKS)
OTHER_CHECK = "other"
REACHABILITY = "reachability"
# Checks evaluated from the inventory and the read's outcome, even for a host that could not be read.
EVALUATED_WITHOUT_FACTS = (REACHABILITY, "inventory")
# The codes after which parity evaluates nothing else on the host.
NOT_EVALUATED_CODES = {"UNREACHABLE": "unreachable", "FACTS_FAILED": "not_evaluated", "NO_FACTS": "not_evaluated"}
# Check statuses, worst last. "unreachable" / "not_evaluated": the check could not run on the host.
SEVERITY_RANK = {"ok": 0, "warning": 1, "error": 2, "not_evaluated": 3, "unreachable": 3}
# Findings are listed errors first, then warnings, then anything informational.
FINDING_ORDER = {"error": 0, "warning": 1, "info": 2}
_CHECK_CACHE = {}


def check_for_code(code):
    """Return the check a finding code belongs to."""
    check = _CHECK_CACHE.get(code)
    if check is None:
        check = OTHER_CHECK
        for name, prefixes in CHECKS:
            if code.startswith(prefixes):
                check = name
                break
        _CHECK_CACHE[code] = check
    return check


def finding_sort_key(finding):
    """Severity (error, warning, info, anything else), then region, host, code, message."""
    return (FINDING_ORDER.get(finding["severity"], 3), finding.get("region") or "", finding.get("host") or "",
            finding["code"], finding.get("message") or "")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _worse(current, status):
    return status if SEVERITY_RANK[status] > SEVERITY_RANK[current] else current


def _finding_status(severity):
    """The check status one finding gives: only errors and warnings change it."""
    return severity if severity in ("error", "warning") else "ok"


def timeline(facts, now):
    """Return the expiry items per region: one per (region, kind, id), the earliest expiry wins.

    ``facts`` maps host -> ``signing_info`` result (with ``region``); certificates and profiles
    that several hosts of a region hold appear once for that region.
    """
    items = {}
    for host in sorted(facts):
        info = facts[host] or {}
        region = info.get("region") or "unknown"
        for profile in info.get("profiles") or []:
            if profile.get("uuid") and profile.get("expires"):
                key = (region, "profile", profile["uuid"])
                _keep_earliest(items, key, profile.get("name"), profile["uuid"], profile["expires"], host)
        for cert in info.get("certificates") or []:
            if cert.get("sha1") and cert.get("not_after"):
                key = (region, "certificate", cert["sha1"])
                _keep_earliest(items, key, cert.get("name"), cert["sha1"], cert["not_after"], host)
    result = []
    for (region, kind, ident), item in sorted(items.items()):
        days_left = (_parse_iso(item["expires"]) - now).total_seconds() / 86400.0
        result.append({
            "region": region, "kind": kind, "id": ident, "label": item["label"],
            "expires": item["expires"], "days_left": round(days_left, 2), "hosts": sorted(item["hosts"]),
        })
    return result


def _keep_earliest(items, key, name, ident, expires, host):
    item = items.get(key)
    if item is None:
        items[key] = {"label": "%s (%s)" % (name or ident, ident[:8]), "expires": expires, "hosts": {host}}
        return
    item["hosts"].add(host)
    if expires < item["expires"]:
        item["expires"] = expires


class SectionNameError(ValueError):
    """An extra section would overwrite a key of the compliance document."""


def _host_entry(host, summary, own, info):
    """One ``hosts.<h>`` entry: a status per check, whether the host was evaluated at all."""
    not_evaluated = None
    for finding in own:
        if finding["code"] in NOT_EVALUATED_CODES:
            not_evaluated = NOT_EVALUATED_CODES[finding["code"]]
            break
    checks = dict.fromkeys(CHECK_NAMES, "ok")
    for finding in own:
        check = check_for_code(finding["code"])
        checks[check] = _worse(checks.get(check, "ok"), _finding_status(finding["severity"]))
    if not_evaluated:
        # What could not run is not "ok"; a finding the host has anyway (e.g. TIER_UNKNOWN) stands.
        for name in checks:
            if name not in EVALUATED_WITHOUT_FACTS and checks[name] == "ok":
                checks[name] = not_evaluated
    return {
        "host": host,
        "region": summary.get("region"),
        "tier": summary.get("tier"),
        "ok": not any(f["severity"] == "error" for f in own),
        "reachable": not_evaluated != "unreachable",
        "evaluated": not_evaluated is None,
        "manifest_sha": summary.get("manifest_sha"),
        "identity_hash": summary.get("identity_hash"),
        "summary_hash": info.get("summary_hash"),
        "macos_version": info.get("macos_version"),
        "checks": checks,
        "findings": own,
    }


def _new_region():
    return {"hosts": [], "checks": dict((name, "ok") for name in CHECK_NAMES), "errors": 0, "warnings": 0,
            "reachable": 0, "not_evaluated": [], "failing": {}, "findings": []}


def _add_host_to_region(region, host, entry):
    region["hosts"].append(host)
    region["reachable"] += entry["reachable"]
    if not entry["evaluated"]:
        region["not_evaluated"].append(host)
    for finding in entry["findings"]:
        if finding["severity"] == "error":
            region["errors"] += 1
        elif finding["severity"] == "warning":
            region["warnings"] += 1
    for name, status in entry["checks"].items():
        if status in ("error", "warning"):
            region["failing"].setdefault(name, {"error": [], "warning": []})[status].append(host)
            region["checks"][name] = _worse(region["checks"].get(name, "ok"), status)


def _close_region(region):
    """Sort the host lists; a region where no host could be evaluated reads as such, not as ok."""
    region["hosts"].sort()
    for lists in region["failing"].values():
        lists["error"].sort()
        lists["warning"].sort()
    if region["hosts"] and len(region["not_evaluated"]) == len(region["hosts"]):
        status = "unreachable" if region["reachable"] == 0 else "not_evaluated"
        for name in region["checks"]:
            if name not in EVALUATED_WITHOUT_FACTS and region["checks"][name] == "ok":
                region["checks"][name] = status
    region["ok"] = region["errors"] == 0
    region["status"] = "error" if region["errors"] else "warning" if region["warnings"] else "ok"


def build_report(parity, facts, manifest, topology, generated_at, correlation_id, before=None, sections=None):
    """Return the ``compliance.json`` document.

    ``parity`` is the ``mesh_parity`` result, ``facts`` host -> ``signing_info`` result (with
    ``region`` and ``tier``), ``manifest`` ``{version, sha256}``, ``before`` an earlier parity
    result (enforce mode: the audit before repairs) or ``None``. ``sections`` adds named top-level
    sections (e.g. a rotation's time to green), listed under ``sections``; they never change the
    verdict, and a name the document already uses raises :class:`SectionNameError`.
    """
    now = _parse_iso(generated_at)
    findings = sorted(parity.get("findings") or [], key=finding_sort_key)
    by_host = {}
    loose = []
    for finding in findings:
        host = finding.get("host")
        if host is None:
            loose.append(finding)
        else:
            by_host.setdefault(host, []).append(finding)
    hosts = {}
    regions = {}
    for host, summary in sorted((parity.get("hosts") or {}).items()):
        entry = _host_entry(host, summary, by_host.get(host, []), facts.get(host) or {})
        hosts[host] = entry
        region = regions.get(entry["region"] or "unknown")
        if region is None:
            region = regions[entry["region"] or "unknown"] = _new_region()
        _add_host_to_region(region, host, entry)
    # A finding without a host belongs to its region (REGION_EMPTY: a region with no host at all).
    for finding in loose:
        name = finding.get("region") or "unknown"
        region = regions.get(name)
        if region is None:
            region = regions[name] = _new_region()
        region["findings"].append(finding)
        check = check_for_code(finding["code"])
        region["checks"][check] = _worse(region["checks"].get(check, "ok"), _finding_status(finding["severity"]))
        if finding["severity"] == "error":
            region["errors"] += 1
        elif finding["severity"] == "warning":
            region["warnings"] += 1
    for region in regions.values():
        _close_region(region)
    report = {
        "schema": REPORT_SCHEMA,
        "generated_at": generated_at,
        "correlation_id": correlation_id,
        "manifest": {"version": manifest.get("version"), "sha256": manifest.get("sha256")},
        "topology": topology,
        "ok": not any(f["severity"] == "error" for f in findings),
        "counts": {
            "hosts": len(hosts),
            "reachable": sum(1 for entry in hosts.values() if entry["reachable"]),
            "errors": sum(1 for f in findings if f["severity"] == "error"),
            "warnings": sum(1 for f in findings if f["severity"] == "warning"),
        },
        "checks": list(CHECK_NAMES),
        "hosts": hosts,
        "regions": dict(sorted(regions.items())),
        "findings": findings,
        "timeline": timeline(facts, now),
    }
    if sections:
        clashing = sorted(name for name in sections if name in report or name in ("before", "sections", "gates"))
        if clashing:
            raise SectionNameError("%s already belong to the compliance document; choose other names" % ", ".join(clashing))
        report.update(sections)
        report["sections"] = sorted(sections)
    if before is not None:
        before_findings = sorted(before.get("findings") or [], key=finding_sort_key)
        report["before"] = {
            "ok": not any(f["severity"] == "error" for f in before_findings),
            "counts": {
                "errors": sum(1 for f in before_findings if f["severity"] == "error"),
                "warnings": sum(1 for f in before_findings if f["severity"] == "warning"),
            },
            "findings": before_findings,
        }
    return report


def enforce_changes(report):
    """Before vs after in enforce mode: ``{repaired, standing, new}`` lists of findings (after's order).

    A finding is the same before and after when severity, code, host and region are equal; the
    message may differ (it often carries a value that the repair changed).
    """
    if "before" not in report:
        return None

    def key(finding):
        return (finding["severity"], finding["code"], finding.get("host"), finding.get("region"))

    after_keys = set(key(f) for f in report["findings"])
    before_keys = set(key(f) for f in report["before"]["findings"])
    return {
        "repaired": [f for f in report["before"]["findings"] if key(f) not in after_keys],
        "standing": [f for f in report["findings"] if key(f) in before_keys],
        "new": [f for f in report["findings"] if key(f) not in before_keys],
    }


_COMPACT = json.JSONEncoder(sort_keys=True, separators=(", ", ": ")).encode
_SORTED_LINE = json.JSONEncoder(sort_keys=True).encode


def render_json(report):
    """The document, one top-level key per line and one item per line inside lists and maps.

    ``json.dumps(indent=2)`` runs the pure-Python encoder and costs more than every other renderer
    together at 10,000 hosts; this keeps the C encoder (one call per host or finding) and still gives
    a file that ``grep`` and ``diff`` read line by line.
    """
    lines = ["{"]
    keys = sorted(report)
    for index, key in enumerate(keys):
        value = report[key]
        comma = "," if index < len(keys) - 1 else ""
        head = "  %s: " % _COMPACT(key)
        if isinstance(value, list) and value:
            lines.append(head + "[")
            lines.append(",\n".join("    " + _COMPACT(item) for item in value))
            lines.append("  ]" + comma)
        elif isinstance(value, dict) and value and any(isinstance(item, (dict, list)) for item in value.values()):
            lines.append(head + "{")
            lines.append(",\n".join("    %s: %s" % (_COMPACT(name), _COMPACT(value[name])) for name in sorted(value)))
            lines.append("  }" + comma)
        else:
            lines.append(head + _COMPACT(value) + comma)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_jsonl(report):
    """One line per host for log indexes (region tag, manifest sha, identity hash, correlation id)."""
    lines = []
    dumps = _SORTED_LINE
    for host, entry in sorted(report["hosts"].items()):
        lines.append(dumps({
            "ts": report["generated_at"],
            "correlation_id": report["correlation_id"],
            "host": host,
            "region": entry["region"],
            "tier": entry["tier"],
            "ok": entry["ok"],
            "reachable": entry["reachable"],
            "manifest_sha": entry["manifest_sha"],
            "identity_hash": entry["identity_hash"],
            "errors": sum(1 for f in entry["findings"] if f["severity"] == "error"),
            "warnings": sum(1 for f in entry["findings"] if f["severity"] == "warning"),
            "codes": sorted(set(f["code"] for f in entry["findings"])),
        }))
    return "\n".join(lines) + ("\n" if lines else "")


def _x(text):
    """XML/HTML text and attribute escaping (quotes too)."""
    return html.escape(str(text), quote=True)


def _finding_line(finding, with_host=False):
    where = ""
    if with_host:
        where = "%s " % (finding.get("host") or "(region %s)" % (finding.get("region") or "unknown"))
    return "%s%s %s: %s" % (where, finding["severity"], finding["code"], finding["message"])


def _junit_case(out, counts, classname, check, status, own, reason=None):
    """One testcase. error: a failure; warning/info: passes, with system-out; not evaluated: skipped.

    ``classname`` is already escaped (it is the same for a host's dozen testcases).
    """
    counts["tests"] += 1
    if status == "ok" and not own:
        out.append('<testcase classname="%s" name="%s"/>' % (classname, _x(check)))
        return
    head = '<testcase classname="%s" name="%s"' % (classname, _x(check))
    text = "\n".join(_finding_line(f) for f in own)
    if status == "error":
        counts["failures"] += 1
        errors = [f for f in own if f["severity"] == "error"]
        out.append('%s><failure type="%s" message="%s">%s</failure>%s</testcase>' % (
            head, _x(",".join(sorted(set(f["code"] for f in errors)))), _x(errors[0]["message"] if errors else check),
            _x(text), "<system-out>%s</system-out>" % _x(text) if len(own) > len(errors) else ""))
    elif status in ("unreachable", "not_evaluated"):
        counts["skipped"] += 1
        out.append('%s><skipped message="%s"/></testcase>' % (head, _x(reason or "not evaluated")))
    elif text:
        out.append("%s><system-out>%s</system-out></testcase>" % (head, _x(text)))
    else:
        out.append("%s/>" % head)


def render_junit(report):
    """A testsuite per region, a testcase per host x check (and per check of a region-level finding).

    An error is a ``<failure>``; a host that was not evaluated (unreachable, failed read) fails its
    reachability testcase once and skips the others with the reason; warnings pass, with their
    text in the testcase's ``<system-out>``, and every suite lists its warnings in its own
    ``<system-out>`` and counts them in a ``warnings`` property.
    """
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    suites = []
    for region, region_entry in report["regions"].items():
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        cases = []
        warnings = []
        by_check = {}
        for finding in region_entry.get("findings") or []:
            by_check.setdefault(check_for_code(finding["code"]), []).append(finding)
        for check, own in sorted(by_check.items()):
            status = "ok"
            for finding in own:
                status = _worse(status, _finding_status(finding["severity"]))
            warnings.extend(f for f in own if f["severity"] != "error")
            _junit_case(cases, counts, _x(region), check, status, own)
        for host in region_entry["hosts"]:
            entry = report["hosts"][host]
            own_by_check = {}
            for finding in entry["findings"]:
                own_by_check.setdefault(check_for_code(finding["code"]), []).append(finding)
                if finding["severity"] != "error":
                    warnings.append(finding)
            reason = None
            if not entry.get("evaluated", entry["reachable"]):
                cause = [f for f in entry["findings"] if f["code"] in NOT_EVALUATED_CODES]
                reason = "not evaluated: %s" % (cause[0]["message"] if cause else "host unreachable")
            classname = _x("%s.%s" % (region, host))
            for check, status in sorted(entry["checks"].items()):
                _junit_case(cases, counts, classname, check, status, own_by_check.get(check, ()), reason)
        suite_out = ""
        if warnings:
            suite_out = "<system-out>%s</system-out>" % _x("%d warning(s):\n%s" % (
                len([f for f in warnings if f["severity"] == "warning"]),
                "\n".join(_finding_line(f, with_host=True) for f in warnings)))
        suites.append('<testsuite name="region.%s" timestamp="%s" tests="%d" failures="%d" errors="%d" skipped="%d">'
                      '<properties><property name="warnings" value="%d"/><property name="reachable" value="%d/%d"/>'
                      '</properties>%s%s</testsuite>' % (
                          _x(region), _x(report["generated_at"]), counts["tests"], counts["failures"], counts["errors"],
                          counts["skipped"], region_entry["warnings"], region_entry.get("reachable", 0),
                          len(region_entry["hosts"]), "".join(cases), suite_out))
        for key, value in counts.items():
            total[key] += value
    if report.get("gates"):
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        cases = []
        for gate in report["gates"]:
            counts["tests"] += 1
            head = '<testcase classname="gates" name="%s"' % _x(gate["name"])
            if gate["failed"]:
                counts["failures"] += 1
                cases.append('%s><failure type="GATE" message="%s">%s</failure></testcase>' % (
                    head, _x("selected %d by %s" % (gate["count"], gate["query"])), _x(gate["query"])))
            else:
                cases.append("%s/>" % head)
        suites.append('<testsuite name="gates" timestamp="%s" tests="%d" failures="%d" errors="0" skipped="0">%s</testsuite>'
                      % (_x(report["generated_at"]), counts["tests"], counts["failures"], "".join(cases)))
        for key, value in counts.items():
            total[key] += value
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="macmesh.signing compliance" tests="%d" '
            'failures="%d" errors="%d" skipped="%d">%s</testsuites>\n' % (
                total["tests"], total["failures"], total["errors"], total["skipped"], "".join(suites)))


def _tick_step(span):
    """Days between axis ticks, so that about six ticks span the chart."""
    for step in (7, 14, 30, 60, 90, 180, 365):
        if span / step <= 7:
            return step
    return 730


def _short_label(item, width=44):
    """The label cut to ``width`` characters, keeping its trailing id ``(xxxxxxxx)`` so equal names stay apart."""
    label = item["label"]
    if len(label) <= width:
        return label
    suffix = " (%s)" % item["id"][:8]
    name = label[:-len(suffix)] if label.endswith(suffix) else label
    return name[:width - len(suffix) - 3] + "..." + suffix


def _svg_timeline(items, window_days=(7, 21)):
    """Inline SVG: one bar per (region, item) from today to its expiry.

    Shaded bands mark the error (< 7 days) and warning (< 21 days) windows; a dated axis with a
    handful of ticks replaces per-threshold labels, which collide once the chart spans months.
    """
    if not items:
        return '<p class="muted">No certificates or profiles reported.</p>'
    row_h, label_w, plot_w, right_w, top = 22, 380, 560, 90, 44
    lo = min(0.0, min(i["days_left"] for i in items))
    hi = max(60.0, max(i["days_left"] for i in items)) * 1.02
    span = hi - lo

    def x(days):
        return label_w + (days - lo) / span * plot_w

    height = top + row_h * len(items) + 8
    bottom = height - 4
    width = label_w + plot_w + right_w
    out = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="expiry timeline" '
           'width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">'
           % (width, height, width, height)]
    error_days, warn_days = window_days
    out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#fde7e9"/>'
               % (x(max(lo, 0)), top - 4, max(x(error_days) - x(max(lo, 0)), 1), bottom - top + 4))
    out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#fff4d6"/>'
               % (x(error_days), top - 4, max(x(warn_days) - x(error_days), 1), bottom - top + 4))
    out.append('<text x="%d" y="12" fill="#555">shaded: under %d days (error) and under %d days (rotation warning)</text>'
               % (label_w, error_days, warn_days))
    step = _tick_step(span)
    tick = 0
    while tick <= hi:
        if tick >= lo:
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>'
                       % (x(tick), top - 8, x(tick), bottom, "#333" if tick == 0 else "#ddd"))
            out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%s</text>'
                       % (x(tick), top - 12, "today" if tick == 0 else "+%dd" % tick))
        tick += step
    for index, item in enumerate(items):
        y = top + index * row_h
        days = item["days_left"]
        color = "#a1121b" if days < error_days else "#d08a00" if days < warn_days else "#1b7f3b"
        start, end = (x(days), x(0)) if days < 0 else (x(0), x(days))
        out.append('<text x="4" y="%d"><tspan font-weight="bold">%s</tspan> %s &#183; %s</text>' % (
            y + 15, html.escape(item["region"].upper()), item["kind"], html.escape(_short_label(item))))
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="14" fill="%s"><title>%s expires %s (%.1f days)</title></rect>'
                   % (start, y + 4, max(end - start, 2.0), color, html.escape(item["label"]), item["expires"], days))
        out.append('<text x="%.1f" y="%d" font-size="11">%s</text>' % (max(start, end) + 4, y + 15, item["expires"][:10]))
    out.append("</svg>")
    return "".join(out)


# -- HTML ------------------------------------------------------------------------------------------
#
# Laid out for a 1280-px screen at any fleet size: nothing has one column per check, so nothing
# grows sideways. A region is one row (verdict, n/N reachable, errors, warnings, and a chip per
# failing check with how many hosts fail it) that expands (<details>) to its hosts, worst first;
# a host row lists only its failing checks. Findings are one table, errors first.

_BADGE = {
    "ok": "ok",
    "warning": "warnings",
    "error": "errors",
    "unreachable": "unreachable",
    "not_evaluated": "not evaluated",
}
_CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:14px;margin:0 auto;padding:20px 24px;
max-width:1280px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.muted{color:#59636e}.small{font-size:12px}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.verdict{display:inline-block;font-size:18px;font-weight:700;padding:3px 12px;border-radius:6px;margin:6px 0}
.verdict.bad{background:#fde7e9;color:#a1121b;border:1px solid #f3b3b9}
.verdict.good{background:#e6f4ea;color:#1b7f3b;border:1px solid #a6d8b5}
.tiles{display:flex;gap:10px;flex-wrap:wrap;margin:10px 0}
.tile{border:1px solid #d0d7de;border-radius:6px;padding:6px 14px;min-width:120px}
.tile b{display:block;font-size:20px}.tile.error b{color:#a1121b}.tile.warning b{color:#8a5a00}
.chip{display:inline-block;border-radius:10px;padding:1px 8px;margin:2px 4px 2px 0;font-size:12px;white-space:nowrap;
border:1px solid transparent}
.chip.error{background:#fde7e9;color:#a1121b;border-color:#f3b3b9}
.chip.warning{background:#fff4d6;color:#7a4f00;border-color:#edd08a}
.chip.unreachable,.chip.not_evaluated{background:#e8e8e8;color:#333;border-color:#bbb}
.chip.ok{background:#e6f4ea;color:#1b7f3b;border-color:#a6d8b5}
.badge{display:inline-block;min-width:84px;text-align:center;border-radius:4px;padding:1px 6px;font-weight:600;
font-size:12px}
.badge.ok{background:#e6f4ea;color:#1b7f3b}.badge.warning{background:#fff4d6;color:#7a4f00}
.badge.error{background:#a1121b;color:#fff}.badge.unreachable,.badge.not_evaluated{background:#555;color:#fff}
.regions{border:1px solid #d0d7de;border-radius:6px}
.rrow{display:grid;grid-template-columns:70px 100px 130px 56px 70px 1fr;gap:8px;align-items:center;padding:6px 10px}
.rhead{font-weight:600;color:#59636e;font-size:12px;border-bottom:1px solid #d0d7de;background:#f6f8fa}
details.region{border-bottom:1px solid #d0d7de}details.region:last-child{border-bottom:0}
details.region>summary{list-style:none;cursor:pointer}details.region>summary::-webkit-details-marker{display:none}
details.region>summary:hover{background:#f6f8fa}
details.region>summary .name::before{content:"\\25B8  ";color:#59636e}
details.region[open]>summary .name::before{content:"\\25BE  "}
details.region[open]>summary{background:#f6f8fa;border-bottom:1px solid #d0d7de}
.name{font-weight:700}.num{text-align:right;font-variant-numeric:tabular-nums}
.num.error{color:#a1121b;font-weight:700}.num.warning{color:#8a5a00;font-weight:700}
.hostwrap{padding:6px 10px 10px 30px}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{border-bottom:1px solid #e1e4e8;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{font-size:12px;color:#59636e;background:#f6f8fa}
table.hosts col.h{width:150px}table.hosts col.t{width:70px}table.hosts col.s{width:104px}
table.hosts col.m{width:70px}table.hosts col.sha{width:100px}
table.findings col.sev{width:72px}table.findings col.r{width:54px}table.findings col.h{width:140px}
table.findings col.c{width:96px}table.findings col.code{width:230px}
tr.error td.sev{color:#a1121b;font-weight:700}tr.warning td.sev{color:#8a5a00;font-weight:700}
tr.error{background:#fffafa}
.ba{display:grid;grid-template-columns:1fr 1fr;gap:12px}.ba .box{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px}
details.list>summary{cursor:pointer;margin:6px 0;font-weight:600}
.gate{border-left:4px solid #a1121b;padding:4px 10px;margin:6px 0;background:#fffafa}
.gate.pass{border-color:#1b7f3b;background:#f6fbf7}
svg{max-width:100%;height:auto}
pre{background:#f6f8fa;padding:8px;overflow-x:auto}
"""


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def _region_chips(region_entry):
    """A chip per failing check: errors first, then warnings, each with how many hosts fail it."""
    chips = []
    evaluated = len(region_entry["hosts"]) - len(region_entry.get("not_evaluated") or ())
    for finding in region_entry.get("findings") or []:
        if finding["severity"] in ("error", "warning"):
            chips.append((FINDING_ORDER[finding["severity"]], "", '<span class="chip %s" title="%s">%s: %s</span>' % (
                finding["severity"], _x(finding["message"]), _x(check_for_code(finding["code"])), _x(finding["code"]))))
    for check, lists in (region_entry.get("failing") or {}).items():
        for status in ("error", "warning"):
            hosts = lists[status]
            if not hosts:
                continue
            of = "/%d" % (len(region_entry["hosts"]) if check in EVALUATED_WITHOUT_FACTS else evaluated)
            shown = ", ".join(hosts[:20]) + (" and %d more" % (len(hosts) - 20) if len(hosts) > 20 else "")
            chips.append((FINDING_ORDER[status], check, '<span class="chip %s" title="%s">%s %s %d%s</span>' % (
                status, _x(shown), _x(check), "&#10007;" if status == "error" else "&#9888;", len(hosts), of)))
    chips.sort(key=lambda chip: chip[:2])
    if not chips and region_entry.get("not_evaluated") and len(region_entry["not_evaluated"]) == len(region_entry["hosts"]):
        return '<span class="chip unreachable">no host evaluated</span>'
    return "".join(chip[2] for chip in chips) or '<span class="muted small">every check passes</span>'


def _host_status(entry):
    if not entry.get("evaluated", entry["reachable"]):
        return "unreachable" if not entry["reachable"] else "not_evaluated"
    worst = "ok"
    for finding in entry["findings"]:
        worst = _worse(worst, _finding_status(finding["severity"]))
    return worst


_HOST_ORDER = {"unreachable": 0, "not_evaluated": 0, "error": 1, "warning": 2, "ok": 3}


def _host_rows(report, region_entry):
    rows = []
    entries = []
    for host in region_entry["hosts"]:
        entry = report["hosts"][host]
        entries.append((_HOST_ORDER[_host_status(entry)], host, entry))
    entries.sort(key=lambda item: item[:2])
    for _order, host, entry in entries:
        status = _host_status(entry)
        by_check = {}
        for finding in entry["findings"]:
            by_check.setdefault(check_for_code(finding["code"]), []).append(finding)
        chips = []
        for check in sorted(by_check, key=lambda name: (SEVERITY_RANK[entry["checks"].get(name, "ok")] * -1, name)):
            own = by_check[check]
            worst = "ok"
            for finding in own:
                worst = _worse(worst, _finding_status(finding["severity"]))
            if worst == "ok":
                continue
            chips.append('<span class="chip %s" title="%s">%s: %s</span>' % (
                worst, _x("\n".join(f["message"] for f in own)), _x(check),
                _x(", ".join(sorted(set(f["code"] for f in own))))))
        if status in ("unreachable", "not_evaluated"):
            chips.append('<span class="chip %s">other checks not evaluated</span>' % status)
        rows.append('<tr><td class="mono">%s</td><td>%s</td><td><span class="badge %s">%s</span></td><td>%s</td>'
                    '<td>%s</td><td class="mono">%s</td></tr>' % (
                        _x(host), _x(entry.get("tier") or "?"), status, _BADGE[status],
                        "".join(chips) or '<span class="muted small">all checks pass</span>',
                        _x(entry.get("macos_version") or ""), _x((entry.get("manifest_sha") or "")[:12])))
    return ('<table class="hosts"><colgroup><col class="h"><col class="t"><col class="s"><col><col class="m">'
            '<col class="sha"></colgroup><thead><tr><th>host</th><th>tier</th><th>status</th><th>failing checks (codes)</th>'
            '<th>macOS</th><th>manifest</th></tr></thead><tbody>%s</tbody></table>' % "".join(rows))


def _regions_html(report):
    out = ['<div class="regions"><div class="rrow rhead"><span>region</span><span>verdict</span><span>reachable</span>'
           '<span class="num">errors</span><span class="num">warnings</span><span>failing checks (hosts failing / hosts evaluated)</span></div>']
    for region, entry in report["regions"].items():
        status = entry.get("status") or ("error" if entry["errors"] else "warning" if entry["warnings"] else "ok")
        total = len(entry["hosts"])
        reachable = entry.get("reachable", total)
        if total and len(entry.get("not_evaluated") or ()) == total:
            status = "unreachable" if not reachable else "not_evaluated"
            # An error still outranks "unreachable": a region with errors never reads as merely down.
            if entry["errors"] > len(entry.get("not_evaluated") or ()):
                status = "error"
        reach_class = "error" if reachable < total else ""
        unread = len(entry.get("not_evaluated") or ()) - (total - reachable)
        reach_note = ' <span class="muted small">(%d not read)</span>' % unread if unread > 0 else ""
        host_part = _host_rows(report, entry) if entry["hosts"] else '<p class="muted">This region has no host.</p>'
        loose = entry.get("findings") or []
        if loose:
            host_part = "<p>%s</p>%s" % ("<br>".join(_x(_finding_line(f, with_host=True)) for f in loose), host_part)
        out.append('<details class="region" id="region-%s"><summary class="rrow"><span class="name">%s</span>'
                   '<span><span class="badge %s">%s</span></span><span class="num %s" style="text-align:left">%d/%d%s</span>'
                   '<span class="num %s">%d</span><span class="num %s">%d</span><span>%s</span></summary>'
                   '<div class="hostwrap">%s</div></details>' % (
                       _x(region), _x(region.upper()), status, _BADGE[status], reach_class, reachable, total, reach_note,
                       "error" if entry["errors"] else "", entry["errors"], "warning" if entry["warnings"] else "",
                       entry["warnings"], _region_chips(entry), host_part))
    out.append("</div>")
    return "".join(out)


def _findings_table(findings, empty="No findings."):
    rows = []
    for f in findings:
        rows.append('<tr class="%s"><td class="sev">%s</td><td>%s</td><td class="mono">%s</td><td>%s</td>'
                    '<td class="mono">%s</td><td>%s</td></tr>' % (
                        _x(f["severity"]), _x(f["severity"]), _x((f.get("region") or "").upper()), _x(f.get("host") or "(region)"),
                        _x(check_for_code(f["code"])), _x(f["code"]), _x(f["message"])))
    if not rows:
        return '<p class="muted">%s</p>' % empty
    return ('<table class="findings"><colgroup><col class="sev"><col class="r"><col class="h"><col class="c"><col class="code">'
            '<col></colgroup><thead><tr><th>severity</th><th>region</th><th>host</th><th>check</th><th>code</th>'
            '<th>message</th></tr></thead><tbody>%s</tbody></table>' % "".join(rows))


def _enforce_html(report):
    changes = enforce_changes(report)
    if changes is None:
        return ""
    before = report["before"]
    counts = before.get("counts") or {
        "errors": sum(1 for f in before["findings"] if f["severity"] == "error"),
        "warnings": sum(1 for f in before["findings"] if f["severity"] == "warning"),
    }

    def box(title, ok, errors, warnings):
        return ('<div class="box"><b>%s</b> <span class="verdict %s" style="font-size:14px">%s</span><br>%s, %s</div>' % (
            title, "good" if ok else "bad", "COMPLIANT" if ok else "NOT COMPLIANT", _plural(errors, "error"),
            _plural(warnings, "warning")))

    parts = ['<h2>Enforce: before and after the repairs</h2><div class="ba">',
             box("Before repairs", before["ok"], counts["errors"], counts["warnings"]),
             box("After repairs", report["ok"], report["counts"]["errors"], report["counts"]["warnings"]), "</div>"]
    # "Still standing" is the findings table below minus the new ones: listed, but closed.
    for key, title, is_open in (("repaired", "Repaired", True), ("standing", "Still standing", False),
                                ("new", "New after the repairs", True)):
        items = changes[key]
        parts.append('<details class="list"%s><summary>%s (%d)</summary>%s</details>' % (
            " open" if is_open and 0 < len(items) <= 40 else "", title, len(items), _findings_table(items, "None.")))
    return "".join(parts)


def _gates_html(report):
    gates = report.get("gates")
    if not gates:
        return ""
    parts = ["<h2>Pipeline gates</h2>"]
    for gate in gates:
        parts.append('<div class="gate%s"><b>%s</b> &mdash; %s <code>%s</code></div>' % (
            "" if gate["failed"] else " pass", _x(gate["name"]),
            "FAILED: selected %s by" % _plural(gate["count"], "item") if gate["failed"] else "passed: nothing selected by",
            _x(gate["query"])))
    return "".join(parts)


def render_html(report):
    """One self-contained page: verdict, gates, enforce before/after, regions, findings, expiry timeline."""
    counts = report["counts"]
    hosts = counts["hosts"]
    reachable = counts.get("reachable", sum(1 for entry in report["hosts"].values() if entry["reachable"]))
    failing_regions = sum(1 for entry in report["regions"].values() if not entry["ok"])
    tiles = "".join('<div class="tile%s"><span class="muted small">%s</span><b>%s</b></div>' % (cls, label, value) for cls, label, value in (
        ("", "hosts", hosts),
        (" error" if reachable < hosts else "", "reachable", "%d/%d" % (reachable, hosts)),
        (" error" if counts["errors"] else "", "errors", counts["errors"]),
        (" warning" if counts["warnings"] else "", "warnings", counts["warnings"]),
        (" error" if failing_regions else "", "regions with errors", "%d/%d" % (failing_regions, len(report["regions"]))),
    ))
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>macmesh.signing compliance %(generated)s</title>
<style>%(css)s</style></head><body>
<h1>macmesh.signing compliance</h1>
<span class="verdict %(vclass)s">%(verdict)s</span>
<span class="muted">generated %(generated)s &middot; manifest %(mversion)s (<span class="mono">%(msha)s</span>) &middot;
topology %(topology)s &middot; correlation id <span class="mono">%(cid)s</span></span>
<div class="tiles">%(tiles)s</div>
%(gates)s%(enforce)s
<h2>Regions <span class="muted small">(click a region for its hosts)</span></h2>
%(regions)s
<h2>Findings <span class="muted small">(%(nfindings)d, errors first)</span></h2>
%(findings)s
<h2>Expiry timeline</h2>
%(svg)s
%(sections)s</body></html>
""" % {
        "css": _CSS,
        "generated": _x(report["generated_at"]),
        "vclass": "good" if report["ok"] else "bad",
        "verdict": "COMPLIANT" if report["ok"] else "NOT COMPLIANT",
        "mversion": _x(report["manifest"].get("version")),
        "msha": _x(str(report["manifest"].get("sha256") or "")[:12]),
        "topology": _x(report["topology"]),
        "cid": _x(report["correlation_id"]),
        "tiles": tiles,
        "gates": _gates_html(report),
        "enforce": _enforce_html(report),
        "regions": _regions_html(report),
        "nfindings": len(report["findings"]),
        "findings": _findings_table(report["findings"]),
        "svg": _svg_timeline(report["timeline"]),
        "sections": _html_sections(report),
    }


def _html_sections(report):
    """The extra sections a caller added (e.g. a rotation's time to green), as formatted JSON."""
    return "".join(
        "<h2>%s</h2>\n<pre>%s</pre>\n" % (html.escape(name), html.escape(json.dumps(report[name], indent=2, sort_keys=True)))
        for name in report.get("sections") or [] if name in report)


RENDERERS = (
    ("compliance.json", render_json),
    ("compliance.junit.xml", render_junit),
    ("compliance.html", render_html),
    ("compliance.jsonl", render_jsonl),
)
