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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import html
import json
import xml.etree.ElementTree as ET

REPORT_SCHEMA = 1

# Every finding code belongs to one check; a check is a column of the region x check table and a
# JUnit testcase per host. Codes are matched by prefix so a new code lands in a sensible column.
CHECKS = (
    ("reachability", ("UNREACHABLE", "FACT_UNAVAILABLE", "FACTS_FAILED", "NO_FACTS")),
    ("inventory", ("REGION_", "TIER_")),
    ("manifest", ("MANIFEST", "PROFILE_MISSING", "PROFILE_EXTRA", "PROFILE_SHA", "PROFILE_ROOT", "PROFILE_UNREADABLE")),
    ("identities", ("IDENTITY", "KEY_")),
    ("keychain", ("KEYCHAIN",)),
    ("wrapper", ("WRAPPER",)),
    ("search_list", ("SEARCH_LIST",)),
    ("expiry", ("CERT_", "PROFILE_OVERLAP", "PROFILE_EXPIRED", "EXPIR")),
    ("profile_dirs", ("DUPLICATE_UUID", "PROFILE_DIR", "PROFILE_IN_CACHE")),
    ("clock", ("CLOCK",)),
    ("secrets", ("SECRET",)),
    ("release", ("RELEASE_",)),
)
CHECK_NAMES = tuple(name for name, _prefixes in CHECKS)
OTHER_CHECK = "other"
SEVERITY_RANK = {"ok": 0, "warning": 1, "error": 2, "unreachable": 3}


def check_for_code(code):
    """Return the check (table column) a finding code belongs to."""
    for name, prefixes in CHECKS:
        if any(code.startswith(prefix) for prefix in prefixes):
            return name
    return OTHER_CHECK


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _status(findings, unreachable=False):
    if unreachable:
        return "unreachable"
    worst = "ok"
    for finding in findings:
        if SEVERITY_RANK[finding["severity"]] > SEVERITY_RANK[worst]:
            worst = finding["severity"]
    return worst


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
                label = "%s (%s)" % (profile.get("name") or profile["uuid"], profile["uuid"][:8])
                _keep_earliest(items, key, label, profile["expires"], host)
        for cert in info.get("certificates") or []:
            if cert.get("sha1") and cert.get("not_after"):
                key = (region, "certificate", cert["sha1"])
                label = "%s (%s)" % (cert.get("name") or cert["sha1"], cert["sha1"][:8])
                _keep_earliest(items, key, label, cert["not_after"], host)
    result = []
    for (region, kind, ident), item in sorted(items.items()):
        days_left = (_parse_iso(item["expires"]) - now).total_seconds() / 86400.0
        result.append({
            "region": region, "kind": kind, "id": ident, "label": item["label"],
            "expires": item["expires"], "days_left": round(days_left, 2), "hosts": sorted(item["hosts"]),
        })
    return result


def _keep_earliest(items, key, label, expires, host):
    item = items.get(key)
    if item is None:
        items[key] = {"label": label, "expires": expires, "hosts": {host}}
        return
    item["hosts"].add(host)
    if expires < item["expires"]:
        item["expires"] = expires


class SectionNameError(ValueError):
    """An extra section would overwrite a key of the compliance document."""


def build_report(parity, facts, manifest, topology, generated_at, correlation_id, before=None, sections=None):
    """Return the ``compliance.json`` document.

    ``parity`` is the ``mesh_parity`` result, ``facts`` host -> ``signing_info`` result (with
    ``region`` and ``tier``), ``manifest`` ``{version, sha256}``, ``before`` an earlier parity
    result (enforce mode: the audit before repairs) or ``None``. ``sections`` adds named top-level
    sections (e.g. a rotation's time to green), listed under ``sections``; they never change the
    verdict, and a name the document already uses raises :class:`SectionNameError`.
    """
    now = _parse_iso(generated_at)
    findings = sorted(parity.get("findings") or [], key=lambda f: (f.get("region") or "", f.get("host") or "", f["code"]))
    by_host = {}
    for finding in findings:
        by_host.setdefault(finding.get("host"), []).append(finding)
    hosts = {}
    for host, summary in sorted((parity.get("hosts") or {}).items()):
        own = by_host.get(host, [])
        unreachable = any(f["code"] == "UNREACHABLE" for f in own)
        checks = {}
        for name in CHECK_NAMES + (OTHER_CHECK,):
            in_check = [f for f in own if check_for_code(f["code"]) == name]
            if name == OTHER_CHECK and not in_check:
                continue
            checks[name] = _status(in_check, unreachable and name != "reachability")
        info = facts.get(host) or {}
        hosts[host] = {
            "region": summary.get("region"),
            "tier": summary.get("tier"),
            "ok": not any(f["severity"] == "error" for f in own),
            "reachable": not unreachable,
            "manifest_sha": summary.get("manifest_sha"),
            "identity_hash": summary.get("identity_hash"),
            "summary_hash": info.get("summary_hash"),
            "macos_version": info.get("macos_version"),
            "checks": checks,
            "findings": own,
        }
    regions = {}
    for host, entry in hosts.items():
        region = regions.setdefault(entry["region"] or "unknown", {"hosts": [], "checks": {}, "errors": 0, "warnings": 0})
        region["hosts"].append(host)
        for name, status in entry["checks"].items():
            current = region["checks"].get(name, "ok")
            if SEVERITY_RANK[status] > SEVERITY_RANK[current]:
                current = status
            region["checks"][name] = current
        region["errors"] += sum(1 for f in entry["findings"] if f["severity"] == "error")
        region["warnings"] += sum(1 for f in entry["findings"] if f["severity"] == "warning")
    for region in regions.values():
        region["hosts"].sort()
        region["ok"] = region["errors"] == 0
    report = {
        "schema": REPORT_SCHEMA,
        "generated_at": generated_at,
        "correlation_id": correlation_id,
        "manifest": {"version": manifest.get("version"), "sha256": manifest.get("sha256")},
        "topology": topology,
        "ok": not any(f["severity"] == "error" for f in findings),
        "counts": {
            "hosts": len(hosts),
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
        clashing = sorted(name for name in sections if name in report or name in ("before", "sections"))
        if clashing:
            raise SectionNameError("%s already belong to the compliance document; choose other names" % ", ".join(clashing))
        report.update(sections)
        report["sections"] = sorted(sections)
    if before is not None:
        report["before"] = {
            "ok": not any(f["severity"] == "error" for f in before.get("findings") or []),
            "findings": sorted(before.get("findings") or [], key=lambda f: (f.get("region") or "", f.get("host") or "", f["code"])),
        }
    return report


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def render_jsonl(report):
    """One line per host for log indexes (region tag, manifest sha, identity hash, correlation id)."""
    lines = []
    for host, entry in sorted(report["hosts"].items()):
        lines.append(json.dumps({
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
        }, sort_keys=True))
    return "\n".join(lines) + ("\n" if lines else "")


def render_junit(report):
    """A testcase per host x check; errors fail, warnings pass with system-out, unreachable errors."""
    suites = ET.Element("testsuites", name="macmesh.signing compliance")
    total = {"tests": 0, "failures": 0, "errors": 0}
    for region, region_entry in report["regions"].items():
        suite = ET.SubElement(suites, "testsuite", name="region.%s" % region, timestamp=report["generated_at"])
        counts = {"tests": 0, "failures": 0, "errors": 0}
        for host in region_entry["hosts"]:
            entry = report["hosts"][host]
            for check, status in sorted(entry["checks"].items()):
                case = ET.SubElement(suite, "testcase", classname="%s.%s" % (region, host), name=check)
                counts["tests"] += 1
                own = [f for f in entry["findings"] if check_for_code(f["code"]) == check]
                text = "\n".join("%s %s: %s" % (f["severity"], f["code"], f["message"]) for f in own)
                if status == "unreachable":
                    node = ET.SubElement(case, "error", type="UNREACHABLE", message="host unreachable")
                    node.text = text or "host unreachable"
                    counts["errors"] += 1
                elif status == "error":
                    node = ET.SubElement(case, "failure", type=",".join(sorted(set(f["code"] for f in own if f["severity"] == "error"))),
                                         message=own[0]["message"] if own else check)
                    node.text = text
                    counts["failures"] += 1
                elif text:
                    ET.SubElement(case, "system-out").text = text
        for key, value in counts.items():
            suite.set(key, str(value))
            total[key] += value
    for key, value in total.items():
        suites.set(key, str(value))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


_STATUS_STYLE = {
    "ok": ("#1b7f3b", "#e6f4ea", "ok"),
    "warning": ("#8a5a00", "#fff4d6", "warn"),
    "error": ("#a1121b", "#fde7e9", "error"),
    "unreachable": ("#444", "#e3e3e3", "down"),
}


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
    out = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="expiry timeline" '
           'width="%d" height="%d" font-family="sans-serif" font-size="12">' % (label_w + plot_w + right_w, height)]
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


def render_html(report):
    """One self-contained page: verdict, region x check table, expiry timeline, findings."""
    checks = list(report["checks"])
    if any(OTHER_CHECK in r["checks"] for r in report["regions"].values()):
        checks.append(OTHER_CHECK)
    rows = []
    for region, entry in report["regions"].items():
        cells = []
        for check in checks:
            status = entry["checks"].get(check, "ok")
            fg, bg, word = _STATUS_STYLE[status]
            cells.append('<td style="color:%s;background:%s">%s</td>' % (fg, bg, word))
        rows.append('<tr><th>%s</th><td class="nowrap">%s</td>%s</tr>' % (
            html.escape(region.upper()), html.escape(", ".join(entry["hosts"])), "".join(cells)))
    finding_rows = "".join(
        '<tr class="%s"><td class="nowrap">%s</td><td>%s</td><td class="nowrap">%s</td><td class="nowrap">%s</td><td>%s</td></tr>' % (
            f["severity"], f["severity"], html.escape((f.get("region") or "").upper()), html.escape(f.get("host") or ""),
            html.escape(f["code"]), html.escape(f["message"]))
        for f in report["findings"]) or '<tr><td colspan="5">No findings.</td></tr>'
    verdict = "COMPLIANT" if report["ok"] else "NOT COMPLIANT"
    return """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>macmesh.signing compliance %(generated)s</title>
<style>
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0 24px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
td.nowrap{white-space:nowrap}table.checks td{text-align:center}
.verdict{font-size:20px;font-weight:bold;color:%(vcolor)s}.muted{color:#666}
tr.error td{background:#fde7e9}tr.warning td{background:#fff4d6}
</style></head><body>
<h1>macmesh.signing compliance</h1>
<p class="verdict">%(verdict)s</p>
<p class="muted">generated %(generated)s · manifest %(mversion)s (%(msha)s) · topology %(topology)s · %(hosts)d hosts ·
%(errors)d errors · %(warnings)d warnings · correlation id %(cid)s</p>
<h2>Regions × checks</h2>
<table class="checks"><thead><tr><th>region</th><th>hosts</th>%(heads)s</tr></thead><tbody>%(rows)s</tbody></table>
<h2>Expiry timeline</h2>
%(svg)s
<h2>Findings</h2>
<table><thead><tr><th>severity</th><th>region</th><th>host</th><th>code</th><th>message</th></tr></thead>
<tbody>%(findings)s</tbody></table>
%(sections)s</body></html>
""" % {
        "generated": html.escape(report["generated_at"]),
        "vcolor": "#1b7f3b" if report["ok"] else "#a1121b",
        "verdict": verdict,
        "mversion": html.escape(str(report["manifest"].get("version"))),
        "msha": html.escape(str(report["manifest"].get("sha256") or "")[:12]),
        "topology": html.escape(str(report["topology"])),
        "hosts": report["counts"]["hosts"],
        "errors": report["counts"]["errors"],
        "warnings": report["counts"]["warnings"],
        "cid": html.escape(str(report["correlation_id"])),
        "heads": "".join("<th>%s</th>" % html.escape(c) for c in checks),
        "rows": "".join(rows),
        "svg": _svg_timeline(report["timeline"]),
        "findings": finding_rows,
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
