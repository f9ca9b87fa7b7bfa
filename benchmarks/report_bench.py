# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How the compliance report scales: build_report and each renderer over json.loads of the same facts.

The facts are benchmarks/report_sample.py's mesh (its mix of findings repeats every ten hosts of
a region), evaluated once by mesh_parity (benchmarks/mesh_parity_bench.py measures that part).
A ratio, not seconds, is reported: a linear renderer keeps it flat from 1,000 to 10,000 hosts.
Times are CPU times (best of --repeat), so the ratio holds on a busy machine too.

    .venv/bin/python benchmarks/report_bench.py [--sizes 1000 10000] [--repeat 3]
"""

import argparse
import gc
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import report_sample  # noqa: E402  pylint: disable=wrong-import-position


def best_of(repeat, function, *args):
    """Least CPU time (process_time) of ``repeat`` calls, cyclic GC off as timeit does.

    CPU time rather than wall time: on a shared machine the wall time of one call depends on
    the neighbours' load, its CPU time much less.
    """
    best = None
    for _attempt in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            result = function(*args)
            elapsed = time.process_time() - start
        finally:
            gc.enable()
        best = elapsed if best is None else min(best, elapsed)
    return best, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tree, _manifest, _parity, _report = report_sample.import_collection()
    try:
        frozen = report_sample.frozen_manifest(_manifest)
        names = ["build_report"] + [name.replace("compliance.", "") for name, _render in _report.RENDERERS]
        print("%7s %10s %s %8s" % ("hosts", "json.loads", " ".join("%12s" % name for name in names), "all"))
        for size in args.sizes:
            per_region = size // len(report_sample.REGIONS)
            facts, groups = report_sample.mesh(per_region, frozen, report_sample.MIX)
            text = json.dumps(facts)
            load_time, loaded = best_of(args.repeat, json.loads, text)
            expected = {
                "manifest": frozen, "regions": list(report_sample.REGIONS), "wrapper_sha256": report_sample.WRAPPER_SHA,
                "max_key_copies": len(groups["signers"]),
                "declared_identities": {report_sample.OLD["sha1"]: report_sample.OLD["name"],
                                        report_sample.NEW["sha1"]: report_sample.NEW["name"]},
                "keychain_settings": {"timeout": 3600, "lock_on_sleep": True}, "now": report_sample.NOW,
            }
            parity = _parity.mesh_parity(loaded, groups, expected)
            region_of = dict((host, region) for region in report_sample.REGIONS for host in groups[region])
            for host, info in loaded.items():
                info["region"] = region_of[host]
            build_time, report = best_of(args.repeat, _report.build_report, parity, loaded,
                                         {"version": frozen["version"], "sha256": frozen["sha256"]}, "dedicated",
                                         report_sample.NOW, "bench")
            times = [build_time]
            for _name, render in _report.RENDERERS:
                elapsed, _text = best_of(args.repeat, render, report)
                times.append(elapsed)
            print("%7d %9.4fs %s %8.2f" % (size, load_time, " ".join("%12.2f" % (t / load_time) for t in times),
                                            sum(times) / load_time))
        print("(ratios: time / json.loads of the facts; 'all' is build_report plus the four renderers)")
    finally:
        shutil.rmtree(tree, True)


if __name__ == "__main__":
    main()
