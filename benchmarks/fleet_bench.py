# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fleet benchmarks on the lab at two sizes, ratios measured side by side in one run.

For every lab size (default 5 and 50 nodes, `lab/meshlab up --per-region 1` and `10`):
  1. lab up, fake demo material, first bootstrap (timed, reported, not a ratio);
  2. --repeat rounds of: `ansible mesh -m ansible.builtin.ping`, audit converge, bootstrap re-run
     (must report changed=0 on every host), alternating so a load change hits all three;
     the best of each is kept and the ratios audit/ping and bootstrap/ping are formed from them;
  3. one rotation (canary region, then the others in rotate_serial batches; default 25 %, the same
     number of batches at every size), its wall time and the time to green from rotation.json;
  4. lab down --purge (unless --keep).

Every run also reports the lab's share: what the emulated macOS commands cost, read from each
node's calltime.log (lab/emulator/seed/usr/lib/macemu/calltime.py):
  emu_share   mean over hosts of (seconds that host spent inside emulated commands) / run wall time:
              the part of each host's critical path that a native `security` would mostly not cost;
  emu_cpu     emulator CPU seconds / (run wall time x CPUs): its part of the machine.
and the round trips per host, counted by benchmarks/callback_plugins/macmesh_roundtrips.py: remote
tasks (module executions over SSH, one round trip each with pipelining), local tasks and skipped ones.

    make bench-fleet                  # or:
    .venv/bin/python benchmarks/fleet_bench.py --lab 5:127.0.61:/tmp/bench-5 --lab 50:127.0.62:/tmp/bench-50 \\
        --out benchmarks/results/fleet.json
    .venv/bin/python benchmarks/render_readme.py   # README table from the results

Needs root (the lab) and the collection tree (`make collection-tree`). Not part of `make test`.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
MESHLAB = os.path.join(REPO, "lab", "meshlab")
CALLBACKS = os.path.join(REPO, "benchmarks", "callback_plugins")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
REGIONS = 5


def log(msg):
    sys.stderr.write("[fleet_bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class Lab(object):
    def __init__(self, size, subnet, state_dir, forks, collections):
        if size % REGIONS:
            raise SystemExit("lab size %d is not a multiple of %d regions" % (size, REGIONS))
        self.size, self.subnet, self.state_dir, self.forks = size, subnet, state_dir, forks
        self.demo_dir = os.path.join(state_dir, "demo")
        self.work = tempfile.mkdtemp(prefix="fleet-bench-%d-" % size)
        self.inventory = os.path.join(self.work, "inventory", "hosts.yml")
        self.env = dict(os.environ, MESHLAB_DIR=state_dir, MESHLAB_SUBNET=subnet, MACMESH_DEMO_DIR=self.demo_dir,
                        ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                        ANSIBLE_FORCE_COLOR="0", ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_FORKS=str(forks),
                        ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_CALLBACKS_ENABLED="macmesh_roundtrips",
                        ANSIBLE_LOAD_CALLBACK_PLUGINS="1", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        self.nodes = []

    # --- lab ------------------------------------------------------------------------------------
    def meshlab(self, *args):
        start = time.monotonic()
        proc = subprocess.run([MESHLAB] + list(args), env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True)
        if proc.returncode != 0:
            raise SystemExit("meshlab %s failed:\n%s" % (" ".join(args), proc.stdout[-3000:]))
        return time.monotonic() - start, proc.stdout

    def running(self):
        """True when this state dir already runs a lab of this size (--reuse)."""
        try:
            status = json.loads(self.meshlab("status", "--json")[1])
        except (SystemExit, ValueError):
            return False
        return len(status) == self.size and all(row["state"] == "up" for row in status)

    def up(self, reuse=False):
        up_s = None
        if not reuse:
            self.meshlab("down", "--purge")
            up_s, _out = self.meshlab("up", "--per-region", str(self.size // REGIONS))
        status = json.loads(self.meshlab("status", "--json")[1])
        self.nodes = [row["node"] for row in status]
        inv_dir = os.path.dirname(self.inventory)
        os.makedirs(inv_dir)
        shutil.copy(os.path.join(self.state_dir, "inventory.yml"), self.inventory)
        os.symlink(os.path.join(REPO, "inventories", "lab", "group_vars"), os.path.join(inv_dir, "group_vars"))
        subprocess.run([sys.executable, os.path.join(REPO, "lab", "demo_assets.py"), "--out", self.demo_dir],
                       env=self.env, check=True, stdout=subprocess.DEVNULL)
        return {"up_s": round(up_s, 2) if up_s is not None else None, "reused": reuse,
                "rss_kb_per_node": sum(r["rss_kb"] for r in status) // len(status),
                "pss_kb_per_node": sum(r.get("pss_kb", 0) for r in status) // len(status),
                "disk_kb_per_node": sum(r["disk_kb"] for r in status) // len(status)}

    def down(self):
        return {"down_s": round(self.meshlab("down", "--purge")[0], 2)}

    # --- emulator log -----------------------------------------------------------------------------
    def calltime_path(self, node):
        return os.path.join(self.state_dir, "nodes", node, "upper", "var", "log", "macemu", "calltime.log")

    def calltime_offsets(self):
        offsets = {}
        for node in self.nodes:
            try:
                offsets[node] = os.path.getsize(self.calltime_path(node))
            except OSError:
                offsets[node] = 0
        return offsets

    def calltime_since(self, offsets):
        per_node = {}
        for node in self.nodes:
            wall = cpu = 0.0
            calls = 0
            try:
                with open(self.calltime_path(node), "rb") as handle:
                    handle.seek(offsets.get(node, 0))
                    for line in handle:
                        try:
                            rec = json.loads(line)
                        except ValueError:
                            continue
                        calls += 1
                        wall += rec.get("wall_s") if rec.get("wall_s") is not None else rec.get("run_s", 0.0)
                        cpu += rec.get("cpu_s", 0.0)
            except OSError:
                pass
            per_node[node] = {"calls": calls, "wall_s": wall, "cpu_s": cpu}
        return per_node

    # --- runs -------------------------------------------------------------------------------------
    def run(self, name, argv, expect_rc=(0,)):
        tasks_file = os.path.join(self.work, "tasks-%s.json" % name)
        env = dict(self.env, MACMESH_BENCH_TASKS=tasks_file)
        offsets = self.calltime_offsets()
        start = time.monotonic()
        proc = subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
        wall = time.monotonic() - start
        if proc.returncode not in expect_rc:
            with open(os.path.join(self.work, "failed-%s.log" % name), "w") as handle:
                handle.write(proc.stdout)
            raise SystemExit("%s on %d nodes failed (exit %d), log in %s:\n%s" % (
                name, self.size, proc.returncode, self.work, proc.stdout[-3000:]))
        emu = self.calltime_since(offsets)
        hosts = [h for h in self.nodes]
        emu_wall = [emu[h]["wall_s"] for h in hosts]
        result = {
            "wall_s": round(wall, 3), "rc": proc.returncode,
            "emu_calls_per_host": round(sum(emu[h]["calls"] for h in hosts) / len(hosts), 1),
            "emu_wall_s_per_host": round(sum(emu_wall) / len(hosts), 3),
            "emu_share": round(sum(emu_wall) / len(hosts) / wall, 3),
            "emu_cpu_share": round(sum(emu[h]["cpu_s"] for h in hosts) / (wall * (os.cpu_count() or 1)), 3),
        }
        recap = RECAP.findall(proc.stdout)
        if recap:
            result["changed"] = sum(int(c) for h, _ok, c, _u, _f in recap if h in self.nodes)
            result["changed_hosts"] = sorted(h for h, _ok, c, _u, _f in recap if h in self.nodes and int(c))
        try:
            with open(tasks_file) as handle:
                counted = json.load(handle)
        except (OSError, ValueError):
            counted = None
        if counted:
            mesh = [counted["hosts"][h] for h in hosts if h in counted["hosts"]]
            if mesh:
                for key in ("remote", "local", "skipped", "executed"):
                    result["%s_per_host" % key] = round(sum(m[key] for m in mesh) / len(mesh), 1)
            result["top_remote_tasks"] = sorted(counted["tasks"].items(), key=lambda kv: -kv[1])[:8]
        result["output_tail"] = proc.stdout[-400:] if proc.returncode else ""
        return result

    def ping(self):
        # `mesh`, not `all`: the same hosts as the playbooks (localhost is never pinged).
        return self.run("ping", [os.path.join(BIN, "ansible"), "-i", self.inventory, "mesh", "-m", "ansible.builtin.ping"])

    def playbook_argv(self, playbook, extra):
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, os.path.join(REPO, "playbooks", playbook)]
        if extra:
            argv += ["-e", extra]
        return argv

    def audit(self):
        reports = os.path.join(self.work, "reports")
        return self.run("audit", self.playbook_argv("converge.yml", json.dumps({"macmesh_reports_dir": reports})))

    def bootstrap(self, name="bootstrap"):
        return self.run(name, self.playbook_argv("bootstrap.yml", None))

    def rotation(self, serial):
        renewal = os.path.join(self.state_dir, "demo-renewal")
        out = subprocess.run([sys.executable, os.path.join(REPO, "lab", "demo_assets.py"), "--out", self.demo_dir,
                              "--renewal", renewal, "--version", "bench-2"], env=self.env, check=True,
                             stdout=subprocess.PIPE, universal_newlines=True).stdout
        material = json.loads(out)
        with open(material["p12_passphrase_file"]) as handle:
            passphrase = handle.read().strip()
        reports = os.path.join(self.work, "rotation")
        path = os.path.join(self.work, "rotate-vars.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # a passphrase: never on argv
        with os.fdopen(fd, "w") as handle:
            json.dump({"rotate_ticket": "BENCH-1", "rotate_approvers": ["bench-a", "bench-b"],
                       "rotate_force": True, "rotate_force_reason": "benchmark: demo material far from expiry",
                       "rotate_manifest": material["manifest"], "rotate_serial": serial,
                       "rotate_identities": [{"src": material["identities"][0]["src"], "sha1": material["sha1"],
                                              "passphrase": passphrase}],
                       "rotate_reports_dir": reports, "macmesh_reports_dir": os.path.join(self.work, "rot-reports")},
                      handle)
        result = self.run("rotate", self.playbook_argv("rotate.yml", "@" + path))
        try:
            with open(os.path.join(reports, "rotation.json")) as handle:
                doc = json.load(handle)
            result["time_to_green_s"] = float(doc.get("time_to_green_s"))
            result["status"] = doc.get("status")
            result["regions_time_to_green_s"] = dict((r, v.get("time_to_green_s")) for r, v in doc.get("regions", {}).items())
        except (OSError, ValueError, TypeError) as exc:
            result["time_to_green_s"] = None
            result["status"] = "no rotation.json (%s)" % exc
        result["rotate_serial"] = serial
        return result


def best(runs):
    return min(runs, key=lambda r: r["wall_s"])


def bench_lab(lab, repeat, rotate, serial, reuse=False, save=lambda entry: None):
    """One lab's measurements; save(entry) is called after every step so a cut-short run keeps its data."""
    out = {"size": lab.size, "forks": lab.forks, "subnet": lab.subnet}
    reuse = reuse and lab.running()
    log("%d nodes: %s" % (lab.size, "reusing the running, bootstrapped lab" if reuse else "up"))
    out["lab"] = lab.up(reuse)
    if not reuse:
        log("%d nodes: first bootstrap" % lab.size)
        out["bootstrap_first"] = lab.bootstrap("bootstrap-first")
    rounds = {"ping": [], "audit": [], "bootstrap_rerun": []}
    out["rounds"] = rounds
    for index in range(repeat):
        log("%d nodes: round %d/%d ping, audit, bootstrap re-run" % (lab.size, index + 1, repeat))
        rounds["ping"].append(lab.ping())
        rounds["audit"].append(lab.audit())
        rounds["bootstrap_rerun"].append(lab.bootstrap("bootstrap-rerun"))
        out["best"] = dict((k, best(v)) for k, v in rounds.items())
        ping = out["best"]["ping"]["wall_s"]
        out["ratios"] = {"audit_over_ping": round(out["best"]["audit"]["wall_s"] / ping, 2),
                         "bootstrap_rerun_over_ping": round(out["best"]["bootstrap_rerun"]["wall_s"] / ping, 2)}
        out["rerun_changed"] = [r.get("changed") for r in rounds["bootstrap_rerun"]]
        out["rounds_done"] = index + 1
        save(out)
    if rotate:
        log("%d nodes: rotation (rotate_serial %s)" % (lab.size, serial))
        out["rotation"] = lab.rotation(serial)
        save(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", action="append", metavar="SIZE:SUBNET:STATE_DIR",
                        help="a lab size (multiple of 5), its subnet and state dir; repeat for each size")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--forks", type=int, default=10, help="ANSIBLE_FORKS for every command (same for ping)")
    parser.add_argument("--rotate-serial", default="25%")
    parser.add_argument("--no-rotation", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the labs running (default: down --purge)")
    parser.add_argument("--reuse", action="store_true",
                        help="use a lab of the right size already running (and bootstrapped) in the state dir")
    parser.add_argument("--collections", default=os.path.join(REPO, "build", "collections"))
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "fleet.json"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("the lab needs root")
    specs = args.lab or ["5:127.0.61:/tmp/fleet-bench-5", "50:127.0.62:/tmp/fleet-bench-50"]
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(),
               "load_before": os.getloadavg()[0], "labs": []}
    def write(partial=None):
        doc = dict(results, labs=results["labs"] + ([partial] if partial else []))
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out + ".tmp", "w") as handle:
            json.dump(doc, handle, indent=1, sort_keys=True)
        os.replace(args.out + ".tmp", args.out)

    for spec in specs:
        size, subnet, state = spec.split(":", 2)
        lab = Lab(int(size), subnet, state, args.forks, args.collections)
        try:
            entry = bench_lab(lab, args.repeat, not args.no_rotation, args.rotate_serial, args.reuse, write)
        finally:
            if not args.keep:
                downs = lab.down()
        if not args.keep:
            entry["lab"].update(downs)
        entry["load_after"] = os.getloadavg()[0]
        results["labs"].append(entry)
        shutil.rmtree(lab.work, True)
        log("%d nodes: audit/ping %.2f, bootstrap re-run/ping %.2f" % (
            lab.size, entry["ratios"]["audit_over_ping"], entry["ratios"]["bootstrap_rerun_over_ping"]))
        write()
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write()
    print(json.dumps(dict((e["size"], e["ratios"]) for e in results["labs"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
