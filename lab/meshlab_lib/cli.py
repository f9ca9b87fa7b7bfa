"""Command line of lab/meshlab."""

import json
import os
import sys

from meshlab_lib.config import Config, LabError
from meshlab_lib.lab import Lab

USAGE = """usage: meshlab COMMAND [ARGS]

  up [--per-region N]        start the nodes (fresh disks), write known_hosts + inventory.yml;
                             --per-region N: N nodes in every region (hk-mini-01..NN, ...), see lab/README.md
  down [--purge]             kill every node, unmount their disks (--purge: also delete the state dir)
  status [--json]            per node: state (up/stopped/frozen/partitioned/down), PIDs, address
  exec NODE [-u USER] [-- CMD ...]   run CMD inside NODE (default: login shell), exit with its status
  stop NODE | start NODE     kill / restart the node's sshd (listener and live sessions)
  freeze NODE | thaw NODE    suspend / resume every process of the node
  partition NODE | heal NODE drop / restore traffic to NODE:22 (needs nft; exit 3 without it)
  reboot NODE                kill the node's namespace and boot it again on the same disk
  reset NODE                 kill the node and boot it on a fresh disk (new host keys; known_hosts rewritten)
  snapshot NAME [NODE ...]   copy the nodes' disks (default: every node) to $MESHLAB_DIR/snapshots/NAME
  restore NAME [NODE ...]    kill the nodes, put their disks back as snapshot NAME holds them, boot them

NODE is a host name (hk-mini-01) or its region (hk).
Environment: MESHLAB_DIR, MESHLAB_SUBNET, MESHLAB_SEED, MESHLAB_INVENTORY, MESHLAB_DISK_SIZE (see lab/README.md).
"""

NODE_COMMANDS = ("stop", "start", "freeze", "thaw", "partition", "heal", "reboot", "reset")


def usage_error(msg):
    sys.stderr.write("meshlab: %s\n%s" % (msg, USAGE))
    return 2


def print_status(rows, as_json):
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print("%-12s %-12s %-12s %-9s %-9s %s" % ("NODE", "ADDRESS", "STATE", "INIT", "SSHD", "PIDS"))
    for row in rows:
        flags = " (partitioned)" if row["partitioned"] and row["state"] != "partitioned" else ""
        print("%-12s %-12s %-12s %-9s %-9s %d%s" % (
            row["node"], row["address"], row["state"], row["init_pid"] or "-", row["sshd_pid"] or "-",
            len(row["pids"]), flags))


def parse_up(args):
    """up [--per-region N] -> N or None."""
    if not args:
        return None
    if len(args) == 2 and args[0] == "--per-region":
        value = args[1]
    elif len(args) == 1 and args[0].startswith("--per-region="):
        value = args[0].split("=", 1)[1]
    else:
        raise ValueError("up takes only --per-region N")
    if not value.isdigit() or int(value) < 1:
        raise ValueError("--per-region needs a positive integer, got %r" % value)
    return int(value)


def parse_exec(args):
    """exec NODE [-u USER] [--] CMD...: everything after the node/options belongs to CMD."""
    if not args:
        raise ValueError("exec needs a NODE")
    node, rest, user = args[0], args[1:], None
    while rest and rest[0] in ("-u", "--user"):
        if len(rest) < 2:
            raise ValueError("-u needs a USER")
        user, rest = rest[1], rest[2:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    return node, user, rest


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    cmd, args = argv[0], argv[1:]
    if os.geteuid() != 0:
        sys.stderr.write("meshlab: must run as root (namespaces, mounts)\n")
        return 1
    try:
        cfg = Config()
        lab = Lab(cfg)
        if cmd == "up":
            try:
                per_region = parse_up(args)
            except ValueError as exc:
                return usage_error(str(exc))
            lab.up(per_region)
        elif cmd == "down" and args in ([], ["--purge"]):
            lab.down(purge=bool(args))
        elif cmd == "status" and args in ([], ["--json"]):
            print_status(lab.status(), bool(args))
        elif cmd == "exec":
            try:
                node, user, rest = parse_exec(args)
            except ValueError as exc:
                return usage_error(str(exc))
            return lab.exec(cfg.node(node), rest, user)
        elif cmd in ("snapshot", "restore") and args:
            nodes = [cfg.node(name) for name in args[1:]] or list(cfg.nodes)
            getattr(lab, cmd)(args[0], nodes)
        elif cmd in NODE_COMMANDS and len(args) == 1:
            getattr(lab, cmd)(cfg.node(args[0]))
        else:
            return usage_error("bad command line: %s" % " ".join(argv))
    except LabError as exc:
        sys.stderr.write("meshlab: %s\n" % exc)
        return exc.code
    return 0
