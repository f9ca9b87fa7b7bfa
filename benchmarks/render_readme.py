# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Regenerate README's benchmark table from the results files; never typed by hand.

    .venv/bin/python benchmarks/render_readme.py [--fleet benchmarks/results/fleet.json]
        [--controller benchmarks/results/controller.json] [--readme README.md] [--check]

Replaces the lines between `<!-- benchmarks:begin -->` and `<!-- benchmarks:end -->`. --check
exits 1 when the README differs from what the results give (nothing written).
"""

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"


def _goal(value, limit):
    return "%.2f (goal ≤ %g: %s)" % (value, limit, "met" if value <= limit else "**not met**")


def _share(run):
    if run.get("emu_share") is None:
        return "-"
    return "%.0f %% (cpu %.0f %%)" % (100 * run["emu_share"], 100 * run["emu_cpu_share"])


def _trips(run):
    if "remote_per_host" not in run:
        return "-"
    return "%g remote + %g local (%g skipped)" % (run["remote_per_host"], run["local_per_host"], run["skipped_per_host"])


def fleet_rows(fleet):
    rows = []
    labs = sorted(fleet.get("labs", []), key=lambda e: e["size"])
    for entry in labs:
        n, best, ratios = entry["size"], entry["best"], entry["ratios"]
        rows.append("| audit converge / ping, %d nodes | %s | %s | %s | %.1f s / %.1f s |" % (
            n, _goal(ratios["audit_over_ping"], 2), _share(best["audit"]), _trips(best["audit"]),
            best["audit"]["wall_s"], best["ping"]["wall_s"]))
        changed = entry.get("rerun_changed") or []
        rows.append("| bootstrap re-run / ping, %d nodes (changed=%s) | %s | %s | %s | %.1f s / %.1f s |" % (
            n, ",".join(str(c) for c in changed), _goal(ratios["bootstrap_rerun_over_ping"], 10),
            _share(best["bootstrap_rerun"]), _trips(best["bootstrap_rerun"]), best["bootstrap_rerun"]["wall_s"],
            best["ping"]["wall_s"]))
    rotations = [(e["size"], e["rotation"]) for e in labs if e.get("rotation")]
    for n, rot in rotations:
        green = rot.get("time_to_green_s")
        rows.append("| rotation, %d nodes (canary hk, then batches of %s): time to green / ping | %s | %s | %s | %s / %.1f s (wall %s, %s) |" % (
            n, rot.get("rotate_serial"),
            "%.1f" % (green / _ping(labs, n)) if green else "-", _share(rot), _trips(rot),
            "%.1f s" % green if green else "-", _ping(labs, n),
            "%.1f s" % rot["wall_s"] if rot.get("wall_s") is not None else "-", rot.get("status")))
    if len(rotations) >= 2 and all(r.get("time_to_green_s") for _n, r in rotations):
        (n0, r0), (n1, r1) = rotations[0], rotations[-1]
        rows.append("| rotation growth %d → %d nodes (time to green) | %.2f× for %g× the nodes | | | |" % (
            n0, n1, r1["time_to_green_s"] / r0["time_to_green_s"], float(n1) / n0))
    for entry in labs:
        lab = entry["lab"]
        up = "%.2f s" % lab["up_s"] if lab.get("up_s") is not None else "(reused)"
        down = "%.2f s" % lab["down_s"] if lab.get("down_s") is not None else "-"
        first = entry.get("bootstrap_first")
        rows.append("| lab, %d nodes: up / down%s | %s / %s | | | %d kB PSS per node (RSS %d kB), disk %d kB%s |" % (
            entry["size"], "" if first is None else "; first bootstrap", up, down, lab.get("pss_kb_per_node", 0),
            lab["rss_kb_per_node"], lab["disk_kb_per_node"],
            "" if first is None else "; first bootstrap %.1f s" % first["wall_s"]))
    return rows


def _ping(labs, size):
    return [e for e in labs if e["size"] == size][0]["best"]["ping"]["wall_s"]


def controller_rows(controller):
    rows = []
    for row in controller.get("controller", []):
        renders = row["render_ratio"]
        rows.append("| `mesh_parity` / `json.loads`, %d hosts | %s | 0 %% | - | %.3f s / %.3f s |" % (
            row["hosts"], _goal(row["mesh_parity_ratio"], 2), row["mesh_parity_s"], row["json_loads_s"]))
        rows.append("| report build + render (json, jsonl, junit, html) / `json.loads`, %d hosts | %.2f + %s | 0 %% | - | |" % (
            row["hosts"], row["build_report_ratio"], ", ".join("%.2f" % renders[k] for k in ("json", "jsonl", "junit", "html"))))
    return rows


def table(fleet, controller):
    lines = [BEGIN,
             "| benchmark | ratio | lab's share (emulator) | round trips per host | times |",
             "|---|---|---|---|---|"]
    lines += fleet_rows(fleet) if fleet else []
    lines += controller_rows(controller) if controller else []
    stamp = []
    if fleet:
        stamp.append("fleet: %s%s, %s CPUs, forks %s, load %.1f before" % (
            fleet.get("started"), " (+%d more runs of the harness)" % (fleet["runs"] - 1) if fleet.get("runs", 1) > 1 else "",
            fleet.get("cpus"), ",".join(str(e["forks"]) for e in fleet.get("labs", [])), fleet.get("load_before", 0)))
    if controller:
        stamp.append("controller: best of %s, load %.1f before" % (controller.get("repeat", 3),
                                                                  controller.get("load_before", 0)))
    lines.append("")
    lines.append("Generated by `benchmarks/render_readme.py` from `benchmarks/results/*.json` (%s)." % "; ".join(stamp))
    lines.append(END)
    return lines


def load(path):
    if path and os.path.exists(path):
        with open(path) as handle:
            return json.load(handle)
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", action="append",
                        help="fleet_bench.py results (repeatable: the labs of every file are listed; default "
                             "benchmarks/results/fleet.json)")
    parser.add_argument("--controller", default=os.path.join(REPO, "benchmarks", "results", "controller.json"))
    parser.add_argument("--readme", default=os.path.join(REPO, "README.md"))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    with open(args.readme) as handle:
        text = handle.read()
    if BEGIN not in text or END not in text:
        raise SystemExit("%s: markers %s ... %s missing" % (args.readme, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    fleet = None
    for path in args.fleet or [os.path.join(REPO, "benchmarks", "results", "fleet.json")]:
        part = load(path)
        if part is None:
            continue
        if fleet is None:
            fleet = part
        else:
            fleet = dict(fleet, labs=fleet["labs"] + part["labs"], runs=fleet.get("runs", 1) + 1)
    new = head + "\n".join(table(fleet, load(args.controller))) + tail
    if args.check:
        return 0 if new == text else 1
    with open(args.readme, "w") as handle:
        handle.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
