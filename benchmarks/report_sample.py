# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A sample compliance report for a fleet of N hosts, and its screenshot.

The facts are made up (no lab needed) but go through the real ``mesh_parity`` and the real
renderers, so the findings, their codes and messages are what a converge would write. The mix is
what a fleet shows on an ordinary day: a stray token in hk, a node down in jp, a wrapper edited
in kr, a profile that changed in us, a certificate in its rotation window on every signer, a few
clocks drifting, and one region (sg) clean except for that certificate.

    python benchmarks/report_sample.py --per-region 10 --out build/report-sample          # 50 hosts
    python benchmarks/report_sample.py --per-region 100 --out build/report-sample-500     # 500 hosts
    python benchmarks/report_sample.py --per-region 10 --enforce --out build/report-sample
    python benchmarks/report_sample.py --per-region 10 --screenshot docs/compliance-report.png --open hk

``--screenshot`` needs headless Chromium (Debian package ``chromium``); nothing in ``make test``
does. ``--open`` expands a region in the copy that is photographed (the report itself opens none).
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

REGIONS = ("hk", "jp", "kr", "sg", "us")
NOW = "2026-11-25T06:00:00Z"
KEYCHAIN = "/Users/ci-build/Library/Keychains/ci-build.keychain-db"
LOGIN = "/Users/ci-build/Library/Keychains/login.keychain-db"
ROOT = "/Library/MacMesh/profiles"
XCODE_DIRS = (
    "/Users/ci-build/Library/MobileDevice/Provisioning Profiles",
    "/Users/ci-build/Library/Developer/Xcode/UserData/Provisioning Profiles",
)
TEAM = "QG598U658S"
WRAPPER = "/usr/local/bin/macmesh-keychain-unlock"
WRAPPER_SHA = hashlib.sha256(b"wrapper").hexdigest()
OLD = {"sha1": "86890D67F234745572B7EF153C72DEA7CF522EDE", "name": "iPhone Distribution: Example Corp (QG598U658S)",
       "not_after": "2026-12-09T00:00:00Z"}
NEW = {"sha1": "13F9C39BE0072902F6A60AF738F51BE53E3A8B23", "name": "Apple Distribution: Example Corp (QG598U658S)",
       "not_after": "2027-11-20T00:00:00Z"}
APPS = ("wallet", "wallet.widget", "maps", "maps.intents", "news", "chat", "chat.share", "camera")


def import_collection():
    """Make ansible_collections.macmesh.signing importable from this checkout (a symlink in a temp tree)."""
    tree = tempfile.mkdtemp(prefix="macmesh-report-")
    os.makedirs(os.path.join(tree, "ansible_collections", "macmesh"))
    os.symlink(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
               os.path.join(tree, "ansible_collections", "macmesh", "signing"))
    sys.path.insert(0, tree)
    for name in [name for name in sys.modules if name == "ansible_collections" or name.startswith("ansible_collections.")]:
        del sys.modules[name]
    from ansible_collections.macmesh.signing.plugins.module_utils import _manifest, _parity, _report
    return tree, _manifest, _parity, _report


def frozen_manifest(_manifest):
    entries = []
    for index, app in enumerate(APPS):
        uuid = "%08X-6E02-400D-8783-%012X" % (0x806A964A + index, index)
        entries.append({
            "uuid": uuid, "name": "Example %s AppStore" % app, "filename": uuid + ".mobileprovision",
            "team_id": TEAM, "team_name": "Example Corp", "app_id": "%s.com.example.%s" % (TEAM, app),
            "bundle_id": "com.example.%s" % app, "platforms": ["iOS"], "created": "2026-02-01T00:00:00Z",
            "expires": "2027-%02d-15T00:00:00Z" % (index + 2), "certificates": [OLD["sha1"], NEW["sha1"]],
            "devices": 0, "provisions_all_devices": False, "sha256": hashlib.sha256(uuid.encode()).hexdigest(),
        })
    return _manifest.build_manifest(entries, "2026.11.3")


def node(frozen, signer, index):
    """A compliant signing_info result."""
    identities = [dict(OLD, valid=True), dict(NEW, valid=True)] if signer else []
    keys = ("uuid", "name", "team_id", "expires", "sha256", "filename")
    return {
        "changed": False,
        "identities": [dict((k, i[k]) for k in ("sha1", "name", "valid")) for i in identities],
        "identity_hash": None,
        "summary_hash": hashlib.sha1(str(signer).encode()).hexdigest(),
        "certificates": [dict((k, i[k]) for k in ("sha1", "name", "not_after")) for i in identities],
        "keychain": {"path": KEYCHAIN, "exists": signer, "owner": "ci-build", "mode": "0600",
                     "lock_on_sleep": True, "timeout": 3600, "locked": True},
        "search_list": [KEYCHAIN, LOGIN] if signer else [LOGIN],
        "default_keychain": LOGIN,
        "profiles": [dict([(key, entry[key]) for key in keys], directory=XCODE_DIRS[0]) for entry in frozen["profiles"]],
        "profile_dirs": dict((path, {"exists": True, "is_symlink": True, "target": ROOT + "/current",
                                     "writable_by_user": False}) for path in XCODE_DIRS),
        "duplicate_uuids": [],
        "active_manifest": {"sha256": frozen["sha256"], "version": frozen["version"],
                            "path": "%s/%s" % (ROOT, frozen["sha256"])},
        "wrapper": {"path": WRAPPER, "sha256": WRAPPER_SHA,
                    "log": {"path": "/Library/Logs/MacMesh/keychain-unlock.log", "exists": True, "type": "file",
                            "owner": "ci-build", "group": "staff", "mode": "0640", "append_only": True,
                            "directory": {"path": "/Library/Logs/MacMesh", "owner": "root", "mode": "0755"}}},
        "hardware_fingerprint": hashlib.sha256(b"mac%d" % index).hexdigest(),
        "macos_version": "15.1" if index % 7 else "15.0.1",
        "clock_offset": 0.002 * (index % 7),
        "unavailable": {},
        "secrets": [],
    }


def drift(facts, host, kind, frozen):
    """Inject one kind of drift into ``host``'s facts (as a real node would show it)."""
    info = facts[host]
    if kind == "secret":
        info["secrets"] = [{"path": "/Users/ci-build/.config/gh/hosts.yml", "kind": "github_token"}]
    elif kind == "down":
        facts[host] = {"unreachable": True, "msg": "Failed to connect to the host via ssh: ssh: connect to host "
                                                   "%s port 22: Connection timed out" % host}
    elif kind == "become":
        facts[host] = {"failed": True, "msg": "Timeout (12s) waiting for privilege escalation prompt"}
    elif kind == "wrapper":
        info["wrapper"] = dict(info["wrapper"], sha256=hashlib.sha256(b"edited").hexdigest())
    elif kind == "profile":
        info["profiles"][2]["sha256"] = hashlib.sha256(b"re-downloaded").hexdigest()
    elif kind == "manifest":
        old = hashlib.sha256(b"2026.10.1").hexdigest()
        info["active_manifest"] = {"sha256": old, "version": "2026.10.1", "path": "%s/%s" % (ROOT, old)}
    elif kind == "clock":
        info["clock_offset"] = 2.4
    elif kind == "clock_error":
        info["clock_offset"] = -41.7
    elif kind == "keychain_mode":
        info["keychain"]["mode"] = "0644"
    elif kind == "search_list":
        info["search_list"] = [LOGIN, KEYCHAIN]
    elif kind == "writable":
        info["profile_dirs"][XCODE_DIRS[0]]["writable_by_user"] = True
    else:
        raise ValueError(kind)


# (region, host number, drift), host numbers 1-based within the region; signers are 01 and 02.
MIX = (
    ("hk", 4, "secret"), ("hk", 7, "clock"), ("hk", 1, "keychain_mode"),
    ("jp", 6, "down"), ("jp", 3, "clock"),
    ("kr", 3, "wrapper"), ("kr", 8, "writable"), ("kr", 9, "clock"),
    ("us", 5, "profile"), ("us", 9, "become"), ("us", 2, "search_list"), ("us", 7, "clock_error"),
)
# Repaired by an enforce run (in the "before" only); secrets and unreachable nodes never are.
REPAIRED = (("hk", 1, "keychain_mode"), ("kr", 3, "wrapper"), ("kr", 8, "writable"), ("us", 5, "profile"),
            ("us", 2, "search_list"), ("us", 7, "clock_error"), ("sg", 6, "manifest"))


def mesh(per_region, frozen, mix):
    facts, groups = {}, dict((region, []) for region in REGIONS)
    groups["signers"], groups["builders"] = [], []
    for r_index, region in enumerate(REGIONS):
        for number in range(1, per_region + 1):
            host = "%s-mini-%02d" % (region, number) if per_region < 100 else "%s-mini-%03d" % (region, number)
            signer = number <= max(2, per_region // 5)
            groups[region].append(host)
            groups["signers" if signer else "builders"].append(host)
            facts[host] = node(frozen, signer, r_index * per_region + number)
    # The mix repeats every 10 hosts of a region, so a 500-host sample has ten times as many findings.
    for block in range(0, per_region, 10):
        for region, number, kind in mix:
            if block + number <= per_region:
                host = groups[region][block + number - 1]
                if isinstance(facts[host], dict) and "unreachable" not in facts[host] and "failed" not in facts[host]:
                    drift(facts, host, kind, frozen)
    return facts, groups


def build(per_region, enforce=False):
    """``(report, _report)``: the compliance document of a sample mesh."""
    tree, _manifest, _parity, _report = import_collection()
    try:
        frozen = frozen_manifest(_manifest)
        signers = max(2, per_region // 5) * len(REGIONS)
        expected = {
            "manifest": frozen, "regions": list(REGIONS), "wrapper_sha256": WRAPPER_SHA,
            "max_key_copies": signers, "max_identity_hashes": 2,
            "declared_identities": {OLD["sha1"]: OLD["name"], NEW["sha1"]: NEW["name"]},
            "keychain_settings": {"timeout": 3600, "lock_on_sleep": True},
            "now": NOW,
        }
        after_mix = tuple(item for item in MIX if item not in REPAIRED) if enforce else MIX
        facts, groups = mesh(per_region, frozen, after_mix)
        parity = _parity.mesh_parity(facts, groups, expected)
        before = None
        if enforce:
            before_facts, _groups = mesh(per_region, frozen, MIX + REPAIRED)
            before = _parity.mesh_parity(before_facts, groups, expected)
        report_facts = {}
        for host, info in facts.items():
            region = [r for r in REGIONS if host in groups[r]][0]
            report_facts[host] = dict(info, region=region, tier="signers" if host in groups["signers"] else "builders")
        report = _report.build_report(parity, report_facts, {"version": frozen["version"], "sha256": frozen["sha256"]},
                                      "dedicated", NOW, "converge-20261125T060000Z-3f9a", before=before)
        return report, _report, tree
    except BaseException:
        shutil.rmtree(tree, True)
        raise


def write(report, _report, out):
    os.makedirs(out, exist_ok=True)
    paths = []
    for name, render in _report.RENDERERS:
        path = os.path.join(out, name)
        with open(path, "w") as handle:
            handle.write(render(report))
        paths.append(path)
    return paths


def screenshot(html_path, png, open_regions=(), size="1280,900"):
    """Photograph ``html_path`` with headless Chromium, with ``open_regions`` expanded."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        sys.exit("report_sample: --screenshot needs headless Chromium (apt-get install -y chromium)")
    with open(html_path) as handle:
        page = handle.read()
    for region in open_regions:
        page = page.replace('<details class="region" id="region-%s">' % region,
                            '<details class="region" id="region-%s" open>' % region)
    profile = tempfile.mkdtemp(prefix="report-chromium-")
    shot = os.path.join(profile, "page.html")
    try:
        with open(shot, "w") as handle:
            handle.write(page)
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                        "--virtual-time-budget=5000",
                        "--user-data-dir=%s" % profile, "--window-size=%s" % size,
                        "--screenshot=%s" % os.path.abspath(png), "file://%s" % shot],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    finally:
        shutil.rmtree(profile, True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--per-region", type=int, default=10, help="hosts per region (10: 50 hosts, 100: 500)")
    parser.add_argument("--enforce", action="store_true", help="an enforce run: with the audit before the repairs")
    parser.add_argument("--out", default="build/report-sample", help="directory for the four report files")
    parser.add_argument("--screenshot", help="write a PNG of compliance.html (needs chromium)")
    parser.add_argument("--open", nargs="*", default=[], help="regions expanded in the screenshot")
    parser.add_argument("--window-size", default="1280,900")
    args = parser.parse_args()
    report, _report, tree = build(args.per_region, args.enforce)
    try:
        paths = write(report, _report, args.out)
        print("%d hosts, %d errors, %d warnings: %s" % (report["counts"]["hosts"], report["counts"]["errors"],
                                                        report["counts"]["warnings"], ", ".join(paths)))
        if args.screenshot:
            screenshot(os.path.join(args.out, "compliance.html"), args.screenshot, args.open, args.window_size)
            print("screenshot: %s" % args.screenshot)
    finally:
        shutil.rmtree(tree, True)


if __name__ == "__main__":
    main()
