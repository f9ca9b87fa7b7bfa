"""Tests of lab/meshlab: configuration (no root) and a live five-node lab on 127.0.9.N (root).

Run as root: /work/main/.venv/bin/pytest lab/tests -v
The live tests share one lab (module fixture); test_zz_down runs last and tears it down.
"""

import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import time

import pytest

from conftest import MESHLAB, NODES, REPO_DIR, LabHandle, addr, make_seed, needs_root
from meshlab_lib import sysutil
from meshlab_lib.cli import parse_exec
from meshlab_lib.config import Config, LabError

VENV_ANSIBLE = os.path.join(REPO_DIR, ".venv", "bin", "ansible")


# --- configuration (no root needed) -------------------------------------------------------------

def test_committed_inventory_nodes():
    cfg = Config({})
    assert [(n.name, n.region, n.address) for n in cfg.nodes] == [
        ("hk-mini-01", "hk", "127.0.1.1"), ("jp-mini-01", "jp", "127.0.1.2"), ("kr-mini-01", "kr", "127.0.1.3"),
        ("sg-mini-01", "sg", "127.0.1.4"), ("us-mini-01", "us", "127.0.1.5")]
    assert cfg.groups["signers"]["hosts"] == ["hk-mini-01", "jp-mini-01", "kr-mini-01", "us-mini-01"]
    assert cfg.groups["builders"]["hosts"] == ["sg-mini-01"]
    assert all("mesh" in n.groups for n in cfg.nodes)


def test_subnet_moves_every_address():
    cfg = Config({"MESHLAB_SUBNET": "127.0.2"})
    assert [n.address for n in cfg.nodes] == ["127.0.2.%d" % i for i in range(1, 6)]


@pytest.mark.parametrize("subnet", ["10.0.0", "192.168.1", "127.0", "127.0.2.1"])
def test_non_loopback_or_malformed_subnet_refused(subnet):
    with pytest.raises(LabError, match="MESHLAB_SUBNET|loopback"):
        Config({"MESHLAB_SUBNET": subnet})


def test_emulator_config_per_node(tmp_path):
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(
        "all:\n  children:\n    mesh:\n      children:\n"
        "        hk:\n          hosts:\n            hk-mini-01: {ansible_host: 127.0.1.1, meshlab_macos_version: '15.1'}\n"
        "        jp:\n          hosts:\n            jp-mini-01: {ansible_host: 127.0.1.2, meshlab_sntp_offset: -0.25}\n")
    hk, jp = Config({"MESHLAB_INVENTORY": str(hosts)}).nodes
    assert hk.emulator_config()["macos_version"] == "15.1"
    assert jp.emulator_config()["macos_version"] == "14.6.1"
    assert (hk.sntp_offset, jp.sntp_offset) == (0.0123, -0.25)
    assert hk.emulator_config()["model"] == "Mac14,3" and hk.emulator_config()["region"] == "hk"
    # Deterministic from the name, distinct between nodes, and shaped like the real thing.
    assert hk.serial == Config({"MESHLAB_INVENTORY": str(hosts)}).nodes[0].serial
    assert hk.serial != jp.serial and re.fullmatch(r"[0-9A-Z]{10}", hk.serial)
    assert re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", hk.hardware_uuid)
    assert hk.hardware_uuid != jp.hardware_uuid


def test_host_outside_region_group_refused(tmp_path):
    hosts = tmp_path / "hosts.yml"
    hosts.write_text("all:\n  children:\n    mesh:\n      children:\n        hk:\n          hosts:\n"
                     "            a: {ansible_host: 127.0.1.1}\n    other:\n      hosts:\n"
                     "        b: {ansible_host: 127.0.1.2}\n")
    with pytest.raises(LabError, match="host b must be in exactly one region group"):
        Config({"MESHLAB_INVENTORY": str(hosts)})


def test_parse_exec():
    assert parse_exec(["hk", "--", "ls", "-l"]) == ("hk", None, ["ls", "-l"])
    assert parse_exec(["hk", "-u", "admin", "--", "id", "-u"]) == ("hk", "admin", ["id", "-u"])
    assert parse_exec(["hk"]) == ("hk", None, [])
    with pytest.raises(ValueError):
        parse_exec(["hk", "-u"])


def test_alive_treats_zombie_as_dead():
    proc = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while sysutil.proc_state(proc.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sysutil.proc_state(proc.pid) == "Z"
    assert not sysutil.alive(proc.pid)
    proc.wait()
    assert sysutil.alive(os.getpid())


def test_committed_inventory_resolves_state_dir(tmp_path):
    if not os.path.exists(VENV_ANSIBLE):
        pytest.skip("no .venv/bin/ansible")
    env = dict(os.environ)
    env.pop("MESHLAB_DIR", None)
    args = [VENV_ANSIBLE, "-i", os.path.join(REPO_DIR, "inventories", "lab"), "hk-mini-01", "-c", "local",
            "-m", "ansible.builtin.debug", "-a", "msg='{{ ansible_ssh_private_key_file }} {{ ansible_ssh_common_args }}'"]
    out = subprocess.run(args, env=env, capture_output=True, text=True, cwd=str(tmp_path)).stdout
    state = os.path.join(REPO_DIR, "lab", ".state")
    assert "%s/ssh/id_ed25519 -o UserKnownHostsFile=%s/ssh/known_hosts" % (state, state) in out
    assert "-o ServerAliveInterval=5 -o ServerAliveCountMax=2" in out
    env["MESHLAB_DIR"] = str(tmp_path)
    out = subprocess.run(args, env=env, capture_output=True, text=True).stdout
    assert "%s/ssh/id_ed25519" % tmp_path in out


# --- live lab (root) -----------------------------------------------------------------------------

@needs_root
def test_up_writes_inventory_known_hosts_and_secrets(lab):
    status = lab.status()
    assert [status[n]["state"] for n in NODES] == ["up"] * 5
    assert [status[n]["address"] for n in NODES] == [addr(n) for n in NODES]
    with open(os.path.join(lab.state_dir, "ssh", "known_hosts")) as fh:
        known = fh.read()
    assert all(addr(n) in known for n in NODES)
    with open(os.path.join(lab.state_dir, "inventory.yml")) as fh:
        inventory = fh.read()
    assert "ansible_host: %s" % addr("us-mini-01") in inventory and "StrictHostKeyChecking=yes" in inventory
    secret = os.path.join(lab.state_dir, "secrets", "keychain_password")
    with open(secret) as fh:
        password = fh.read()
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password)
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert password not in inventory  # referenced by a lookup, never inlined


@needs_root
def test_ssh_root_and_admin_with_sudo(lab):
    for node in NODES:
        res = lab.ssh(node, "hostname")
        assert (res.returncode, res.stdout.strip()) == (0, node), res.stderr
    res = lab.ssh("kr-mini-01", "id -un; sudo -n id -un", user="admin")
    assert res.stdout.split() == ["admin", "root"], res.stderr


@needs_root
def test_node_json_and_seed(lab):
    seen = set()
    for node in NODES:
        res = lab.exec(node, "cat /etc/macemu/node.json")
        cfg = json.loads(res.stdout)
        assert cfg["node"] == node and cfg["region"] == node[:2] and cfg["model"] == "Mac14,3"
        seen.add(cfg["serial"])
    assert len(seen) == 5
    res = lab.exec("sg-mini-01", "meshlab-seed-link; cat /etc/meshlab-seed.conf; stat -c %U /etc/meshlab-seed.conf; "
                                 "readlink /usr/local/bin/meshlab-seed-link; cat /run/meshlab-seed-run; "
                                 "test -L /var/run && echo var-run-still-a-link")
    assert res.stdout.split() == ["seed-probe-v1", "seeded", "root", "meshlab-seed-probe", "run",
                                  "var-run-still-a-link"]
    assert not os.path.exists("/usr/local/bin/meshlab-seed-probe")
    assert not os.path.exists("/run/meshlab-seed-run")


@needs_root
def test_isolation_between_nodes_and_host(lab):
    res = lab.exec("hk-mini-01", "useradd isotest && echo x > /root/iso-marker && echo x > /etc/iso-marker")
    assert res.returncode == 0, res.stderr
    assert lab.exec("hk-mini-01", "id isotest && test -e /root/iso-marker").returncode == 0
    for node in NODES[1:]:
        assert lab.exec(node, "id isotest").returncode == 1
        assert lab.exec(node, "test -e /root/iso-marker || test -e /etc/iso-marker").returncode == 1
    with pytest.raises(KeyError):
        pwd.getpwnam("isotest")
    assert not os.path.exists("/etc/iso-marker")
    # Host junk stays out: the checkout, /opt and the state dir are opaque or tmpfs on the node.
    res = lab.exec("jp-mini-01", "test -e %s || ls -A /opt | grep . || test -e %s" % (REPO_DIR, lab.state_dir))
    assert res.returncode == 1, res.stdout


@needs_root
def test_exec_exit_status_streams_and_user(lab):
    res = lab.run("exec", "us-mini-01", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (res.returncode, res.stdout, res.stderr) == (7, "out\n", "err\n")
    res = lab.exec("us-mini-01", "id -un; echo $HOME", user="admin")
    assert res.stdout.split() == ["admin", "/home/admin"]


@needs_root
def test_stop_refuses_and_kills_live_sessions_then_start(lab):
    node = "jp-mini-01"
    session = subprocess.Popen(lab.ssh_argv(node, "sleep 30"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    assert session.poll() is None
    lab.ok("stop", node)
    assert session.wait(timeout=5) == 255  # G6: the established session died too
    res = lab.ssh(node, "true")
    assert res.returncode == 255 and "Connection refused" in res.stderr
    assert lab.status()[node]["state"] == "stopped"
    assert lab.exec(node, "echo tampered > /etc/meshlab-seed.conf").returncode == 0  # exec: nsenter, not ssh
    lab.ok("start", node)
    assert lab.exec(node, "cat /etc/meshlab-seed.conf").stdout == "seeded\n"  # seed re-installed
    assert not os.path.exists("/run/meshlab-seed-run")  # ... inside the node (chroot), not on the host
    assert lab.ssh(node, "true").returncode == 0
    assert lab.status()[node]["state"] == "up"


@needs_root
def test_freeze_times_out_then_thaw(lab):
    node = "kr-mini-01"
    lab.ok("freeze", node)
    try:
        assert lab.status()[node]["state"] == "frozen"
        start = time.monotonic()
        res = lab.ssh(node, "true", timeout=2)
        assert res.returncode == 255 and "timed out" in res.stderr
        assert time.monotonic() - start >= 1.9
        assert lab.ssh("hk-mini-01", "true").returncode == 0  # only kr hangs
    finally:
        lab.ok("thaw", node)
    assert lab.ssh(node, "true").returncode == 0
    assert lab.status()[node]["state"] == "up"


@needs_root
def test_freeze_signal_fallback(lab):
    node = "hk-mini-01"
    env = dict(lab.env, MESHLAB_FREEZE="signal")
    assert lab.run("freeze", node, env=env).returncode == 0
    try:
        pids = lab.status()[node]["pids"]
        assert pids and all(sysutil.proc_state(p) == "T" for p in pids)
        assert lab.status()[node]["state"] == "frozen"
        assert "timed out" in lab.ssh(node, "true", timeout=1).stderr
    finally:
        assert lab.run("thaw", node, env=env).returncode == 0
    assert not any(sysutil.proc_state(p) == "T" for p in pids)
    assert lab.ssh(node, "true").returncode == 0


@needs_root
def test_partition_then_heal(lab):
    if not shutil.which("nft"):
        pytest.skip("nft not installed: partition exits 3 (see test_partition_without_nft)")
    node = "sg-mini-01"
    lab.ok("partition", node)
    try:
        assert lab.status()[node]["state"] == "partitioned"
        res = lab.ssh(node, "true", timeout=2)
        assert res.returncode == 255 and "timed out" in res.stderr
        assert lab.ssh("us-mini-01", "true").returncode == 0
    finally:
        lab.ok("heal", node)
    assert lab.ssh(node, "true").returncode == 0
    assert lab.status()[node]["state"] == "up"


@needs_root
def test_partition_without_nft(lab):
    env = dict(lab.env, PATH="/usr/bin:/bin")  # nft lives in /usr/sbin
    res = lab.run("partition", "sg-mini-01", env=env)
    assert res.returncode == 3 and "nft" in res.stderr


@needs_root
def test_reboot_keeps_disk_loses_processes_run_tmp(lab):
    node = "us-mini-01"
    script = ("echo d > /etc/reboot-marker; echo r > /run/reboot-marker; echo t > /tmp/reboot-marker; "
              "echo tampered > /usr/local/bin/meshlab-seed-probe; "
              "setsid sleep 600 </dev/null >/dev/null 2>&1 &")
    assert lab.exec(node, script).returncode == 0
    before = lab.status()[node]
    sleeper = [p for p in sysutil.pids_in_ns_of(before["init_pid"]) if sysutil.comm(p) == "sleep"]
    assert sleeper
    lab.ok("reboot", node)
    after = lab.status()[node]
    assert after["state"] == "up" and after["init_pid"] != before["init_pid"]
    assert not any(sysutil.alive(p) for p in before["pids"] + sleeper)
    res = lab.exec(node, "cat /etc/reboot-marker; ls /run/reboot-marker /tmp/reboot-marker 2>&1; "
                         "meshlab-seed-probe; id admin >/dev/null && echo admin-kept")
    lines = res.stdout.splitlines()
    assert lines[0] == "d"
    assert sum("No such file" in line for line in lines) == 2
    assert "seed-probe-v1" in lines and "admin-kept" in lines  # seed re-copied, users kept
    assert lab.ssh(node, "true").returncode == 0  # host key kept: known_hosts still valid
    # The emulator's runtime dir is recreated empty and world-writable (sticky) on every boot.
    res = lab.exec(node, "stat -c %a /run/macemu; ls -A /run/macemu | wc -l")
    assert res.stdout.split() == ["1777", "0"]


@needs_root
def test_restore_puts_the_snapshot_disk_back_with_its_append_only_flag(lab):
    node = "kr-mini-01"
    setup = ("echo one > /etc/snap-marker; echo line > /var/log/snap-sealed.log; chattr +a /var/log/snap-sealed.log; "
             "rm -f /etc/snap-later")
    assert lab.exec(node, setup).returncode == 0
    lab.ok("snapshot", "base", node)
    change = ("echo two > /etc/snap-marker; echo new > /etc/snap-later; chattr -a /var/log/snap-sealed.log; "
              "rm /var/log/snap-sealed.log")
    assert lab.exec(node, change).returncode == 0
    before = lab.status()[node]
    other = lab.status()["jp-mini-01"]
    out = lab.ok("restore", "base", node)
    assert "restored from snapshot base" in out
    after = lab.status()
    assert after[node]["state"] == "up" and after[node]["init_pid"] != before["init_pid"]
    assert after["jp-mini-01"]["init_pid"] == other["init_pid"]  # only the named node
    res = lab.exec(node, "cat /etc/snap-marker; ls /etc/snap-later 2>&1; lsattr /var/log/snap-sealed.log; "
                         "truncate -s 0 /var/log/snap-sealed.log 2>/dev/null || echo truncate-refused")
    lines = res.stdout.splitlines()
    assert lines[0] == "one" and "No such file" in lines[1], res.stdout
    assert lines[2].split()[0].count("a") == 1 and "truncate-refused" in lines[-1], res.stdout + res.stderr
    assert lab.ssh(node, "true").returncode == 0  # the snapshot's host key: known_hosts written again
    # Restoring again works (the restored disk's flag does not stop its removal); an unknown one is refused.
    lab.ok("restore", "base", node)
    res = lab.run("restore", "nosuch", node)
    assert res.returncode == 1 and "snapshot nosuch has no disk of kr-mini-01" in res.stderr
    res = lab.run("snapshot", "../escape", node)
    assert res.returncode == 2 and "bad snapshot name" in res.stderr
    assert lab.exec(node, "chattr -a /var/log/snap-sealed.log; rm -f /var/log/snap-sealed.log /etc/snap-marker").returncode == 0


@needs_root
def test_ansible_ping_all_five(lab):
    if not os.path.exists(VENV_ANSIBLE):
        pytest.skip("no .venv/bin/ansible")
    res = subprocess.run([VENV_ANSIBLE, "-i", os.path.join(lab.state_dir, "inventory.yml"), "all",
                          "-m", "ansible.builtin.ping"], capture_output=True, text=True, timeout=120,
                         env=dict(lab.env, ANSIBLE_NOCOLOR="1"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(re.findall(r"^(\S+) \| SUCCESS", res.stdout, re.M)) == NODES


@needs_root
def test_up_refuses_when_lab_already_answers(lab, tmp_path):
    other = LabHandle(tmp_path / "state", lab.seed)  # same subnet as the running lab
    res = other.run("up")
    assert res.returncode == 1 and "already answer" in res.stderr
    assert not sysutil.mounts_under(other.state_dir)


@needs_root
def test_up_refuses_when_an_address_is_taken(tmp_path):
    subnet = "127.0.11"
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((subnet + ".3", 22))
    listener.listen(1)
    try:
        handle = LabHandle(tmp_path / "state", make_seed(tmp_path / "seed"), subnet=subnet)
        res = handle.run("up")
        assert res.returncode == 1 and "127.0.11.3 (kr-mini-01)" in res.stderr
        assert not sysutil.mounts_under(handle.state_dir)
        assert not os.path.exists(os.path.join(handle.state_dir, "run"))
    finally:
        listener.close()


@needs_root
def test_zz_down_leaves_nothing(lab):
    status = lab.status()
    with open(os.path.join(lab.state_dir, "run", "hk-mini-01.json")) as fh:
        unshare_pid = json.load(fh)["unshare"]
    pids = [unshare_pid] + [p for row in status.values() for p in row["pids"]]
    assert len(pids) >= 11  # at least init + sshd per node, plus one unshare
    lab.ok("freeze", "hk-mini-01")  # down must cope with a frozen node
    start = time.monotonic()
    lab.ok("down")
    assert time.monotonic() - start < 5
    assert not [p for p in pids if sysutil.alive(p)]
    with open("/proc/mounts") as fh:
        assert lab.state_dir not in fh.read()
    assert not [d for d in os.listdir("/sys/fs/cgroup/freezer") if d.startswith("meshlab-")
                and d.split("-")[1] == Config({"MESHLAB_DIR": lab.state_dir}).lab_id]
    if shutil.which("nft"):
        assert "meshlab_" + Config({"MESHLAB_DIR": lab.state_dir}).lab_id not in \
            subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert not os.path.exists(os.path.join(lab.state_dir, "nodes"))
    assert all(lab.status()[n]["state"] == "down" for n in NODES)
    assert os.path.exists(os.path.join(lab.state_dir, "ssh", "id_ed25519"))  # kept for a stable re-up
    for node in NODES:
        res = subprocess.run(["ssh", "-o", "ConnectTimeout=1", "-o", "BatchMode=yes", "root@" + addr(node), "true"],
                             capture_output=True, text=True)
        assert "Connection refused" in res.stderr
    assert os.access(MESHLAB, os.X_OK)
