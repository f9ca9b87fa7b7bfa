# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Outage drills on the lab: a region down (stop), hung (freeze) or partitioned during bootstrap
and converge. The other regions finish, the run names the region's node, it ends within
HUNG_BOUND seconds of a normal run (docs/outages.md: ServerAlive 5 s x 2 and ConnectTimeout make a
hung node UNREACHABLE in about 15 s per connection), and a re-run after start/thaw/heal completes.
(Rotation with a region down is tests/integration/test_rotate.py::test_region_down_mid_rotation.)
"""

import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import DRILL_STATS, QUICK
from labkit import HOSTS

REGION_NODE = "jp-mini-01"
# A hung node may cost each play at most about one ServerAlive/ConnectTimeout window; the whole
# bootstrap has a handful of plays. Documented in docs/outages.md.
HUNG_BOUND = 180

OUTAGES = [("stop", "start"), ("freeze", "thaw"), ("partition", "heal")]


def _available(lab, fault):
    if fault == "partition" and not shutil.which("nft"):
        return False
    # make drills-sample runs the hung region (the hardest case), make drills (DRILL_POINTS set) all three;
    # make test's quick sample only the hung region during converge.
    return (fault == "freeze" and not QUICK) or bool(os.environ.get("DRILL_POINTS"))


@pytest.fixture(scope="module")
def baseline(bootstrapped):
    """How long a bootstrap re-run of the converged mesh takes: the bound of a run with a region out."""
    lab = bootstrapped
    started = time.time()
    run = lab.playbook()
    assert run.rc == 0, run
    return time.time() - started


@pytest.mark.parametrize("fault,repair", OUTAGES, ids=[fault for fault, _repair in OUTAGES])
def test_bootstrap_with_a_region_out(lab, request, fault, repair):
    if not _available(lab, fault):
        pytest.skip("not in this sample (make drills-sample: freeze; make drills: all three, partition with nftables)")
    # Asked for only now: a skipped fault costs no bootstrap re-run.
    baseline = request.getfixturevalue("baseline")
    label = "bootstrap-%s" % fault
    DRILL_STATS["tried"].append(label)
    lab.meshlab(fault, REGION_NODE)
    try:
        started = time.time()
        run = lab.playbook()
        took = time.time() - started
    finally:
        lab.meshlab(repair, REGION_NODE)
    assert run.rc != 0, run
    assert run.recap[REGION_NODE]["unreachable"] >= 1 or run.recap[REGION_NODE]["failed"] >= 1, run
    others = [host for host in HOSTS if host != REGION_NODE]
    for host in others:
        assert run.recap[host]["failed"] == 0 and run.recap[host]["unreachable"] == 0, (host, run)
        assert "verify=ok" in run.summary().get(host, ""), (host, run)
    assert took <= baseline + HUNG_BOUND, "%s: the run took %.0f s, %.0f s more than a normal one" % (
        label, took, took - baseline)
    rerun = lab.playbook()
    assert rerun.rc == 0, rerun
    assert "verify=ok" in rerun.summary()[REGION_NODE], rerun
    DRILL_STATS["survived"].append(label)


def test_converge_with_a_hung_region_names_it(bootstrapped, tmp_path):
    """The bound is a converge of the healthy mesh (timed first) plus HUNG_BOUND."""
    lab = bootstrapped
    DRILL_STATS["tried"].append("converge-freeze")
    reports = str(tmp_path / "reports")
    os.makedirs(reports)
    argv = [arg if not arg.endswith("bootstrap.yml") else arg.replace("bootstrap.yml", "converge.yml")
            for arg in lab.playbook_argv("-e", json.dumps({"macmesh_reports_dir": reports}))]
    started = time.time()
    healthy = subprocess.run(argv, env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, timeout=900, check=False)
    baseline = time.time() - started
    assert healthy.returncode == 0, healthy.stdout[-3000:]
    lab.meshlab("freeze", REGION_NODE)
    try:
        started = time.time()
        proc = subprocess.run(argv, env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=900, check=False)
        took = time.time() - started
    finally:
        lab.meshlab("thaw", REGION_NODE)
    lab.assert_no_secret(proc.stdout, "converge output")
    assert proc.returncode != 0, proc.stdout[-3000:]
    with open(os.path.join(reports, "compliance.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    text = json.dumps(report)
    assert "UNREACHABLE" in text and REGION_NODE in text, text[:3000]
    assert took <= baseline + HUNG_BOUND, "converge took %.0f s with a hung node" % took
    proc = subprocess.run(argv, env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    DRILL_STATS["survived"].append("converge-freeze")
