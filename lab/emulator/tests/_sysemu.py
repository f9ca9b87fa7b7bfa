"""Helpers for the test_system_* tests: run the seed's emulated commands on the host, with every
path they touch redirected into a temporary directory."""

import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = os.path.join(os.path.dirname(HERE), "seed")
SHIM_DIR = os.path.join(SEED, "etc", "python3.11")
NODE_PYTHON = "/usr/bin/python3"  # what the nodes run; the emulators are written for it

COMMANDS = {
    "dscl": "usr/bin/dscl", "defaults": "usr/bin/defaults", "sw_vers": "usr/bin/sw_vers",
    "sntp": "usr/bin/sntp", "vm_stat": "usr/bin/vm_stat", "sysctl": "usr/sbin/sysctl",
    "system_profiler": "usr/sbin/system_profiler", "ifconfig": "usr/sbin/ifconfig",
    "route": "usr/sbin/route", "dseditgroup": "usr/sbin/dseditgroup",
    "createhomedir": "usr/sbin/createhomedir", "chflags": "usr/bin/chflags",
}

NODE_HK = {"node": "hk-mini-01", "region": "HK", "macos_version": "14.6.1",
           "serial": "H2WXK9PQ7M", "hardware_uuid": "0F6B1C44-7E11-5B3A-9C0D-2A51E7B0C001",
           "sntp_offset": 0.0123, "model": "Mac14,3"}


class Env:
    """A fake node: node.json, state dir, audit log and HOME under one tmp dir."""

    def __init__(self, tmp_path, node=None):
        self.root = tmp_path
        self.config = tmp_path / "node.json"
        self.state = tmp_path / "state"
        self.audit = tmp_path / "audit.log"
        self.home = tmp_path / "home"
        self.home.mkdir(exist_ok=True)
        self.write_node(node if node is not None else NODE_HK)

    def write_node(self, node):
        self.config.write_text(json.dumps(node))

    def environ(self, **extra):
        env = dict(os.environ)
        env.update({
            "MACEMU_NODE_CONFIG": str(self.config), "MACEMU_STATE": str(self.state),
            "MACEMU_AUDIT": str(self.audit), "MACEMU_RUN": str(self.root / "run"),
            "HOME": str(self.home), "PYTHONDONTWRITEBYTECODE": "1", "LC_ALL": "C",
        })
        env.update(extra)
        return env

    def run(self, name, *args, binary=False, **extra):
        argv = [NODE_PYTHON, os.path.join(SEED, COMMANDS[name])] + list(args)
        return subprocess.run(argv, capture_output=True, text=not binary, env=self.environ(**extra),
                              timeout=60)

    def audit_lines(self):
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines()]
