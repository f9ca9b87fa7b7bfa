"""`meshlab up --per-region N`: the generated fleet (no root) and one small live scale check (root).

The live check brings up 10 nodes (--per-region 2) on the tests' subnet and takes ~10 s; the 50-node
run is a benchmark (benchmarks/fleet_bench.py), not a test.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import SUBNET, LabHandle, make_seed, needs_root
from meshlab_lib.cli import parse_up
from meshlab_lib.config import DEFAULT_HOSTS, Config, LabError, fleet_inventory

REGIONS = ["hk", "jp", "kr", "sg", "us"]


def committed():
    with open(DEFAULT_HOSTS) as fh:
        return yaml.safe_load(fh)


def test_per_region_1_is_the_committed_inventory():
    assert fleet_inventory(committed(), 1) == committed()


def test_per_region_10_names_addresses_and_tiers():
    data = fleet_inventory(committed(), 10)
    cfg = Config({"MESHLAB_SUBNET": "127.0.62"}, hosts_data=data)
    assert len(cfg.nodes) == 50
    assert [n.name for n in cfg.nodes[:11]] == ["hk-mini-%02d" % i for i in range(1, 11)] + ["jp-mini-01"]
    assert cfg.nodes[-1].name == "us-mini-10" and cfg.nodes[-1].address == "127.0.62.50"
    assert len({n.address for n in cfg.nodes}) == 50
    for index, node in enumerate(cfg.nodes):
        assert node.region == REGIONS[index // 10] and node.name.startswith(node.region + "-mini-")
    # Node 01 keeps its region's committed tier; every other node is a builder, so the signers (and the
    # key-copy policy of the lab, macmesh_max_key_copies 4) are the same at every size.
    assert cfg.groups["signers"]["hosts"] == ["hk-mini-01", "jp-mini-01", "kr-mini-01", "us-mini-01"]
    builders = cfg.groups["builders"]["hosts"]
    assert len(builders) == 46 and "sg-mini-01" in builders
    assert not set(builders) & set(cfg.groups["signers"]["hosts"])
    assert all(("signers" in n.groups) != ("builders" in n.groups) for n in cfg.nodes)


def test_region_host_vars_are_copied_to_every_node(tmp_path):
    base = tmp_path / "hosts.yml"
    base.write_text(
        "all:\n  children:\n    mesh:\n      children:\n"
        "        hk:\n          hosts:\n            hk-mini-01: {ansible_host: 127.0.1.1, meshlab_macos_version: '15.1'}\n"
        "        jp:\n          hosts:\n            jp-mini-01: {ansible_host: 127.0.1.2}\n"
        "    signers:\n      hosts:\n        hk-mini-01:\n    builders:\n      hosts:\n        jp-mini-01:\n")
    cfg = Config({"MESHLAB_INVENTORY": str(base), "MESHLAB_DIR": str(tmp_path / "state")}).scaled(3)
    versions = {n.name: n.macos_version for n in cfg.nodes}
    assert versions == {"hk-mini-01": "15.1", "hk-mini-02": "15.1", "hk-mini-03": "15.1",
                        "jp-mini-01": "14.6.1", "jp-mini-02": "14.6.1", "jp-mini-03": "14.6.1"}
    assert [n.address for n in cfg.nodes] == ["127.0.1.%d" % i for i in range(1, 7)]
    assert cfg.groups["signers"]["hosts"] == ["hk-mini-01"]


@pytest.mark.parametrize("per_region", [0, 51, -1, "2"])
def test_per_region_out_of_range_refused(per_region):
    with pytest.raises(LabError, match="--per-region must be an integer from 1 to 50"):
        fleet_inventory(committed(), per_region)


def test_parse_up():
    assert parse_up([]) is None
    assert parse_up(["--per-region", "10"]) == 10
    assert parse_up(["--per-region=3"]) == 3
    for bad in (["--per-region"], ["--per-region", "x"], ["--per-region", "0"], ["--nodes", "3"]):
        with pytest.raises(ValueError):
            parse_up(bad)


def test_fleet_file_is_the_labs_node_list_until_a_plain_up(tmp_path):
    env = {"MESHLAB_DIR": str(tmp_path / "state"), "MESHLAB_SUBNET": "127.0.62"}
    scaled = Config(env).scaled(4)
    assert not os.path.exists(scaled.fleet_hosts_file)  # scaled() writes nothing
    scaled.commit_fleet()
    again = Config(env)  # what `status`, `down`, `exec` of this lab see
    assert len(again.nodes) == 20 and again.hosts_file == again.fleet_hosts_file
    assert again.node("jp-mini-04").address == "127.0.62.8"
    plain = again.scaled(None)
    assert len(plain.nodes) == 5 and plain.hosts_file == DEFAULT_HOSTS
    plain.commit_fleet()
    assert not os.path.exists(plain.fleet_hosts_file) and len(Config(env).nodes) == 5


def test_cli_rejects_bad_per_region():
    meshlab = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "meshlab")
    if os.geteuid() != 0:
        pytest.skip("meshlab checks root first")
    res = subprocess.run([meshlab, "up", "--per-region", "0"], capture_output=True, text=True)
    assert res.returncode == 2 and "--per-region needs a positive integer" in res.stderr


@needs_root
def test_scale_check_ten_nodes(tmp_path):
    """--per-region 2: ten nodes up, reachable, in the inventory with their tiers; all gone after down."""
    handle = LabHandle(tmp_path / "state", make_seed(tmp_path / "seed"))
    try:
        out = handle.ok("up", "--per-region", "2")
        assert re.search(r"meshlab: 10 nodes up in [0-9.]+ s", out)
        status = handle.status()
        assert sorted(status) == sorted("%s-mini-%02d" % (r, i) for r in REGIONS for i in (1, 2))
        assert all(row["state"] == "up" and row["rss_kb"] > 0 and row["pss_kb"] > 0 and row["disk_kb"] > 0
                   for row in status.values())
        assert status["us-mini-02"]["address"] == SUBNET + ".10"
        with open(os.path.join(handle.state_dir, "inventory.yml")) as fh:
            inventory = yaml.safe_load(fh)
        children = inventory["all"]["children"]
        assert sorted(children["signers"]["hosts"]) == ["hk-mini-01", "jp-mini-01", "kr-mini-01", "us-mini-01"]
        assert len(children["builders"]["hosts"]) == 6
        assert children["mesh"]["children"]["sg"]["hosts"]["sg-mini-02"]["ansible_host"] == SUBNET + ".8"
        with open(os.path.join(handle.state_dir, "ssh", "known_hosts")) as fh:
            assert len(fh.read().splitlines()) == 10
        assert handle.exec("kr-mini-02", "hostname").stdout.strip() == "kr-mini-02"
        ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
        if os.path.exists(ansible):
            res = subprocess.run([ansible, "-i", os.path.join(handle.state_dir, "inventory.yml"), "mesh",
                                  "-m", "ansible.builtin.ping", "-f", "10"], capture_output=True, text=True,
                                 timeout=300, env=dict(handle.env, ANSIBLE_NOCOLOR="1"))
            assert res.returncode == 0, res.stdout + res.stderr
            assert len(re.findall(r"^\S+ \| SUCCESS", res.stdout, re.M)) == 10
        pids = [p for row in status.values() for p in row["pids"]]
        handle.ok("down")
        assert all(row["state"] == "down" for row in handle.status().values())  # still the 10-node list
        assert not [p for p in pids if os.path.exists("/proc/%d" % p)
                    and open("/proc/%d/stat" % p).read().split(") ")[1][0] != "Z"]
    finally:
        handle.run("down", "--purge")
