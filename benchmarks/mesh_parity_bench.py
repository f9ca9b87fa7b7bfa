# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How mesh_parity and the report renderers scale: their time over json.loads of the same facts.

The ratio, not seconds, is reported so the number means the same on a slow CI runner and a
laptop: a linear implementation keeps it roughly constant from 1,000 to 10,000 hosts, a
quadratic one makes it grow about tenfold. One measurement per size (best of --repeat runs),
not a pass/fail test. The report is measured as the compliance_report module builds it
(build_report) and as each renderer writes it (json, jsonl, junit, html), each over json.loads.

    .venv/bin/python benchmarks/mesh_parity_bench.py [--sizes 1000 10000] [--repeat 3] [--json out.json]
"""

import argparse
import gc
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

REGIONS = ("hk", "jp", "kr", "sg", "us")
KEYCHAIN = "/Users/ci-build/Library/Keychains/ci-build.keychain-db"
ROOT = "/Library/MacMesh/profiles"
XCODE_DIRS = (
    "/Users/ci-build/Library/MobileDevice/Provisioning Profiles",
    "/Users/ci-build/Library/Developer/Xcode/UserData/Provisioning Profiles",
)
TEAM = "ABCDE12345"
WRAPPER_SHA = hashlib.sha256(b"wrapper").hexdigest()
OLD = {"sha1": "86890D67F234745572B7EF153C72DEA7CF522EDE", "name": "iPhone Distribution: Example (ABCDE12345)"}
NEW = {"sha1": "13F9C39BE0072902F6A60AF738F51BE53E3A8B23", "name": "Apple Distribution: Example (ABCDE12345)"}


def import_collection():
    """Make ansible_collections.macmesh.signing importable from this checkout (a symlink in a temp tree)."""
    tree = tempfile.mkdtemp(prefix="macmesh-bench-")
    os.makedirs(os.path.join(tree, "ansible_collections", "macmesh"))
    os.symlink(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
               os.path.join(tree, "ansible_collections", "macmesh", "signing"))
    sys.path.insert(0, tree)
    for name in [name for name in sys.modules if name == "ansible_collections" or name.startswith("ansible_collections.")]:
        del sys.modules[name]
    from ansible_collections.macmesh.signing.plugins.module_utils import _manifest, _parity, _report
    return tree, _manifest, _parity, _report


def manifest(_manifest, count=12):
    entries = []
    for index in range(count):
        uuid = "%08x-0000-4000-8000-%012x" % (index, index)
        entries.append({
            "uuid": uuid, "name": "com.example.app%d AppStore" % index, "filename": uuid + ".mobileprovision",
            "team_id": TEAM, "team_name": "Example", "app_id": "%s.com.example.app%d" % (TEAM, index),
            "bundle_id": "com.example.app%d" % index, "platforms": ["iOS"], "created": "2026-01-01T00:00:00Z",
            "expires": "2027-01-%02dT00:00:00Z" % (index + 1), "certificates": [OLD["sha1"]], "devices": 0,
            "provisions_all_devices": False, "sha256": hashlib.sha256(uuid.encode()).hexdigest(),
        })
    return _manifest.build_manifest(entries, "bench")


def host_facts(index, signer, frozen):
    """One signing_info result; about one host in 50 carries a fault so findings are produced too."""
    identities = [dict(OLD, valid=True), dict(NEW, valid=True)] if signer else []
    keys = ("uuid", "name", "team_id", "expires", "sha256", "filename")
    profiles = [dict([(key, entry[key]) for key in keys], directory=XCODE_DIRS[0]) for entry in frozen["profiles"]]
    sha = frozen["sha256"]
    if index % 50 == 7:
        sha = hashlib.sha256(b"old").hexdigest()
        profiles = profiles[1:]
    return {
        "changed": False,
        "identities": identities,
        "identity_hash": None,
        "summary_hash": hashlib.sha1(str(signer).encode()).hexdigest(),
        "keychain": {"path": KEYCHAIN, "exists": signer, "owner": "ci-build", "mode": "0600",
                     "lock_on_sleep": True, "timeout": 3600, "locked": True},
        "search_list": [KEYCHAIN] if signer else ["/Users/ci-build/Library/Keychains/login.keychain-db"],
        "default_keychain": KEYCHAIN,
        "profiles": profiles,
        "profile_dirs": dict((path, {"exists": True, "is_symlink": True, "target": ROOT + "/current",
                                     "writable_by_user": False}) for path in XCODE_DIRS),
        "duplicate_uuids": [],
        "active_manifest": {"sha256": sha, "version": "bench", "path": "%s/%s" % (ROOT, sha)},
        "wrapper": {"path": "/usr/local/bin/macmesh-keychain-unlock", "sha256": WRAPPER_SHA,
                    "log": {"path": "/Library/Logs/MacMesh/keychain-unlock.log", "exists": True, "type": "file",
                            "owner": "ci-build", "group": "staff", "mode": "0640", "append_only": True,
                            "directory": {"path": "/Library/Logs/MacMesh", "owner": "root", "mode": "0755"}}},
        "hardware_fingerprint": hashlib.sha256(b"mac%d" % index).hexdigest(),
        "macos_version": "15.1",
        "clock_offset": 0.002 * (index % 7),
        "unavailable": {},
    }


def mesh(size, frozen):
    facts = {}
    groups = dict((region, []) for region in REGIONS)
    groups["signers"], groups["builders"] = [], []
    for index in range(size):
        host = "mini-%05d" % index
        signer = index % 100 == 0
        groups[REGIONS[index % len(REGIONS)]].append(host)
        groups["signers" if signer else "builders"].append(host)
        facts[host] = ({"unreachable": True, "msg": "Failed to connect to the host via ssh"}
                       if index % 500 == 3 else host_facts(index, signer, frozen))
    return facts, groups


def best_of(repeat, function, *args):
    """Best wall time of ``repeat`` calls, with the cyclic GC off as timeit does.

    Both functions allocate millions of objects; GC passes over them would otherwise dominate
    and make the ratio depend on heap size rather than on the code measured.
    """
    best = None
    for _attempt in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            result = function(*args)
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        best = elapsed if best is None else min(best, elapsed)
    return best, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the measurements to this file (benchmarks/render_readme.py reads it)")
    args = parser.parse_args(argv)
    tree, _manifest, _parity, _report = import_collection()
    rows = []
    load_before = os.getloadavg()[0]
    try:
        frozen = manifest(_manifest)
        print("%8s %12s %14s %7s %9s   %s" % ("hosts", "json.loads s", "mesh_parity s", "ratio", "findings",
                                              "report/json.loads: build json jsonl junit html"))
        for size in args.sizes:
            facts, groups = mesh(size, frozen)
            text = json.dumps(facts)
            expected = {
                "manifest": frozen, "regions": list(REGIONS), "wrapper_sha256": WRAPPER_SHA,
                # Two signers per identity would be the policy; the bench uses size/100 to keep findings few.
                "max_key_copies": size,
                "declared_identities": {OLD["sha1"]: OLD["name"], NEW["sha1"]: NEW["name"]},
                "keychain_settings": {"timeout": 3600, "lock_on_sleep": True},
                "now": "2026-11-25T00:00:00Z",
            }
            load_time, loaded = best_of(args.repeat, json.loads, text)
            parity_time, result = best_of(args.repeat, _parity.mesh_parity, loaded, groups, expected)
            report_facts = dict((host, dict(info, region=result["hosts"].get(host, {}).get("region"),
                                            tier=result["hosts"].get(host, {}).get("tier")))
                                for host, info in loaded.items())
            build_time, report = best_of(
                args.repeat, _report.build_report, result, report_facts,
                {"version": frozen["version"], "sha256": frozen["sha256"]}, "dedicated",
                "2026-11-25T00:00:00Z", "bench")
            renders = {}
            for name in ("json", "jsonl", "junit", "html"):
                renders[name], _text = best_of(args.repeat, getattr(_report, "render_" + name), report)
            row = {"hosts": size, "json_loads_s": load_time, "mesh_parity_s": parity_time,
                   "mesh_parity_ratio": parity_time / load_time, "findings": len(result["findings"]),
                   "build_report_s": build_time, "build_report_ratio": build_time / load_time,
                   "render_s": renders, "render_ratio": dict((k, v / load_time) for k, v in renders.items())}
            rows.append(row)
            print("%8d %12.4f %14.4f %7.2f %9d   %.2f %s" % (
                size, load_time, parity_time, row["mesh_parity_ratio"], row["findings"], row["build_report_ratio"],
                " ".join("%.2f" % row["render_ratio"][k] for k in ("json", "jsonl", "junit", "html"))))
    finally:
        shutil.rmtree(tree, True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as handle:
            json.dump({"controller": rows, "repeat": args.repeat, "load_before": load_before,
                       "load_after": os.getloadavg()[0]}, handle, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
