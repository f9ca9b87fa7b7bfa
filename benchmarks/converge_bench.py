# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Audit converge wall time over `ansible all -m ansible.builtin.ping` wall time, in one run on a lab.

The ratio, not seconds, is the result: both commands pay the same SSH and Python start-up on the
same machine at the same moment, so the ratio says what the audit costs on top of reaching the
nodes. Goal: <= 2. The two commands alternate (ping, audit, ping, audit, ...) so a load change
hits both; the best of --repeat runs of each is kept. The lab must be bootstrapped already.

    MESHLAB_DIR=/tmp/lab MESHLAB_SUBNET=127.0.6 MACMESH_DEMO_DIR=/tmp/lab/demo \\
      .venv/bin/python benchmarks/converge_bench.py -i /tmp/inv/hosts.yml [--repeat 3] [-e '{"macmesh_max_key_copies": 4}']
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def timed(argv, env):
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("%s failed (exit %d):\n%s" % (" ".join(argv[:4]), proc.returncode, proc.stdout[-3000:]))
    return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", default=os.path.join(REPO, "inventories", "lab"))
    parser.add_argument("-e", "--extra-vars", default="{}", help="JSON extra vars for the converge")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    reports = tempfile.mkdtemp(prefix="converge-bench-")
    extra = dict(json.loads(args.extra_vars), macmesh_reports_dir=reports)
    ping = [os.path.join(BIN, "ansible"), "-i", args.inventory, "all", "-m", "ansible.builtin.ping"]
    audit = [os.path.join(BIN, "ansible-playbook"), "-i", args.inventory,
             os.path.join(REPO, "playbooks", "converge.yml"), "-e", json.dumps(extra)]

    pings, audits = [], []
    for _ in range(args.repeat):
        pings.append(timed(ping, env))
        audits.append(timed(audit, env))
    with open(os.path.join(reports, "compliance.json")) as handle:
        hosts = len(json.load(handle)["hosts"])
    best_ping, best_audit = min(pings), min(audits)
    ratio = best_audit / best_ping
    print("hosts: %d" % hosts)
    print("ping:  %s s (best %.2f s)" % (", ".join("%.2f" % t for t in pings), best_ping))
    print("audit: %s s (best %.2f s)" % (", ".join("%.2f" % t for t in audits), best_audit))
    print("ratio audit/ping: %.2f (goal <= 2: %s)" % (ratio, "met" if ratio <= 2 else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
