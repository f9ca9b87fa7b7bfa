"""Lab configuration: the node list (from the committed inventory) and the environment knobs."""

import hashlib
import ipaddress
import os
import uuid

import yaml

LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(LAB_DIR)

DEFAULT_HOSTS = os.path.join(REPO_DIR, "inventories", "lab", "hosts.yml")
DEFAULT_MACOS_VERSION = "14.6.1"
DEFAULT_SNTP_OFFSET = 0.0123
MODEL = "Mac14,3"
ADMIN_USER = "admin"
# The groups whose direct children are the regions.
REGION_PARENT = "mesh"
# `meshlab up --per-region N` writes the generated node list here (in the state dir); while it exists,
# every command of that lab reads it instead of the committed inventory.
FLEET_HOSTS = "fleet-hosts.yml"
# Tier groups: a generated fleet keeps each region's first node in the tier the committed inventory
# gives that region's host; every further node is a builder.
TIER_GROUPS = ("signers", "builders")
FLEET_TIER = "builders"
# Fixed namespace so the generated hardware UUIDs are the same on every machine.
_UUID_NS = uuid.UUID("6d3c1f7e-2b1a-4c55-9a49-6d65736c6162")
_SERIAL_ALPHABET = "0123456789CDFGHJKLMNPQRTVWXY"  # Apple avoids vowels and look-alikes

SSH_OPTIONS = (
    "-o ServerAliveInterval=5 -o ServerAliveCountMax=2 "
    "-o ControlMaster=auto -o ControlPersist=60s"
)


class LabError(Exception):
    """A problem the operator must fix; printed without a traceback."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class Node:
    def __init__(self, name, region, groups, address, index, hostvars):
        self.name = name
        self.region = region
        self.groups = groups
        self.address = address
        self.index = index
        self.hostvars = hostvars

    @property
    def macos_version(self):
        return str(self.hostvars.get("meshlab_macos_version", DEFAULT_MACOS_VERSION))

    @property
    def sntp_offset(self):
        return float(self.hostvars.get("meshlab_sntp_offset", DEFAULT_SNTP_OFFSET))

    @property
    def serial(self):
        digest = hashlib.sha256(("serial:" + self.name).encode()).digest()
        return "".join(_SERIAL_ALPHABET[b % len(_SERIAL_ALPHABET)] for b in digest[:10])

    @property
    def hardware_uuid(self):
        return str(uuid.uuid5(_UUID_NS, self.name)).upper()

    def emulator_config(self):
        """The /etc/macemu/node.json contract with the macOS emulator."""
        return {
            "node": self.name,
            "region": self.region,
            "macos_version": self.macos_version,
            "serial": self.serial,
            "hardware_uuid": self.hardware_uuid,
            "sntp_offset": self.sntp_offset,
            "model": MODEL,
        }


def _walk(group_name, group, inherited_vars, parents, hosts, groups):
    group = group or {}
    groups.setdefault(group_name, {"children": [], "hosts": []})
    merged_vars = dict(inherited_vars)
    merged_vars.update(group.get("vars") or {})
    for host, hvars in (group.get("hosts") or {}).items():
        entry = hosts.setdefault(host, {"groups": set(), "vars": {}})
        entry["groups"].update(parents + [group_name])
        for key, value in merged_vars.items():
            entry["vars"].setdefault(key, value)
        entry["vars"].update(hvars or {})
        if host not in groups[group_name]["hosts"]:
            groups[group_name]["hosts"].append(host)
    for child, body in (group.get("children") or {}).items():
        if child not in groups[group_name]["children"]:
            groups[group_name]["children"].append(child)
        _walk(child, body, merged_vars, parents + [group_name], hosts, groups)


def parse_hosts(path):
    """Hosts and groups from a YAML inventory: ({host: {groups, vars}}, {group: {children, hosts}})."""
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise LabError("cannot read inventory %s: %s" % (path, exc.strerror))
    return parse_hosts_data(data, path)


def parse_hosts_data(data, path):
    if "all" not in data:
        raise LabError("%s: field 'all' missing" % path)
    hosts, groups = {}, {}
    _walk("all", data["all"], {}, [], hosts, groups)
    return hosts, groups


def fleet_inventory(data, per_region, source="inventory"):
    """The committed inventory scaled to `per_region` nodes in every region (a YAML-ready dict).

    Region r (0-based, in the order of the mesh children) gets <region>-mini-01 .. -NN at
    127.0.1.(r*N + i), so --per-region 1 gives back the committed names, addresses and tiers. Node 01
    of a region is in the tier group(s) of the committed region host; nodes 02..NN are builders (a
    fleet has many builders and a fixed, small set of signers, so the key-copy policy is unchanged).
    The committed region host's own vars (other than ansible_host) are copied to every node; group
    vars stay with their groups.
    """
    hosts, groups = {}, {}
    _walk("all", data.get("all"), {}, [], hosts, groups)
    regions = groups.get(REGION_PARENT, {}).get("children", [])
    if not regions:
        raise LabError("%s: group %r has no region children" % (source, REGION_PARENT))
    if not isinstance(per_region, int) or per_region < 1 or per_region * len(regions) > 254:
        raise LabError("--per-region must be an integer from 1 to %d (%d regions on one /24)"
                       % (254 // len(regions), len(regions)), 2)
    mesh_children, tiers = {}, dict((tier, {}) for tier in TIER_GROUPS)
    for r, region in enumerate(regions):
        members = groups[region]["hosts"]
        if not members:
            raise LabError("%s: region %s has no host to copy" % (source, region))
        template = members[0]
        own_vars = dict((k, v) for k, v in ((_region_body(data, region).get("hosts") or {})
                                             .get(template) or {}).items() if k != "ansible_host")
        region_hosts = {}
        for i in range(1, per_region + 1):
            name = "%s-mini-%02d" % (region, i)
            hvars = dict(own_vars)
            hvars["ansible_host"] = "127.0.1.%d" % (r * per_region + i)
            region_hosts[name] = hvars
            if i == 1:
                for tier in TIER_GROUPS:
                    if template in groups.get(tier, {}).get("hosts", []):
                        tiers[tier][name] = None
            else:
                tiers[FLEET_TIER][name] = None
        body = dict((k, v) for k, v in _region_body(data, region).items() if k != "hosts")
        body["hosts"] = region_hosts
        mesh_children[region] = body
    top = dict(data["all"])
    children = dict(top.get("children") or {})
    mesh = dict(children.get(REGION_PARENT) or {})
    mesh["children"] = mesh_children
    children[REGION_PARENT] = mesh
    for tier in TIER_GROUPS:
        body = dict(children.get(tier) or {})
        body["hosts"] = tiers[tier]
        children[tier] = body
    top["children"] = children
    return {"all": top}


def _region_body(data, region):
    return (((data["all"].get("children") or {}).get(REGION_PARENT) or {}).get("children") or {}).get(region) or {}


def _check_loopback(address, source):
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        raise LabError("%s: %r is not an IPv4 address" % (source, address))
    if not ip.is_loopback:
        raise LabError("%s: %s is not a loopback address (the lab only uses 127.0.0.0/8)" % (source, address))


class Config:
    def __init__(self, environ=None, hosts_data=None, hosts_file=None):
        env = os.environ if environ is None else environ
        self.environ = env
        self.state_dir = os.path.abspath(env.get("MESHLAB_DIR") or os.path.join(LAB_DIR, ".state"))
        self.subnet = env.get("MESHLAB_SUBNET") or None
        self.seed = os.path.abspath(env.get("MESHLAB_SEED") or os.path.join(LAB_DIR, "emulator", "seed"))
        fleet = os.path.join(self.state_dir, FLEET_HOSTS)
        # The node list `up --per-region` generated for this state dir while it exists (it was scaled
        # from MESHLAB_INVENTORY or the committed inventory); else MESHLAB_INVENTORY; else the committed
        # five-node inventory.
        self.hosts_file = os.path.abspath(hosts_file or (fleet if os.path.exists(fleet) else None)
                                          or env.get("MESHLAB_INVENTORY") or DEFAULT_HOSTS)
        self.disk_size = env.get("MESHLAB_DISK_SIZE") or "2g"
        # "signal" forces SIGSTOP/SIGCONT even where the cgroup-v1 freezer exists (tests the fallback).
        self.freeze_mode = env.get("MESHLAB_FREEZE") or "auto"
        if self.freeze_mode not in ("auto", "signal"):
            raise LabError("MESHLAB_FREEZE must be auto or signal, got %r" % self.freeze_mode)
        if self.subnet is not None:
            parts = self.subnet.split(".")
            if len(parts) != 3:
                raise LabError("MESHLAB_SUBNET must be three octets such as 127.0.2, got %r" % self.subnet)
            _check_loopback(self.subnet + ".1", "MESHLAB_SUBNET")
        self.hosts, self.groups = (parse_hosts(self.hosts_file) if hosts_data is None
                                   else parse_hosts_data(hosts_data, self.hosts_file))
        self.nodes = self._nodes()

    def _nodes(self):
        regions = self.groups.get(REGION_PARENT, {}).get("children", [])
        if not regions:
            raise LabError("%s: group %r has no region children" % (self.hosts_file, REGION_PARENT))
        nodes = []
        for name, entry in self.hosts.items():
            region = [g for g in regions if g in entry["groups"]]
            if len(region) != 1:
                raise LabError("%s: host %s must be in exactly one region group of %s, found %s"
                               % (self.hosts_file, name, REGION_PARENT, region or "none"))
            host_address = entry["vars"].get("ansible_host")
            if not host_address:
                raise LabError("%s: host %s: field ansible_host missing" % (self.hosts_file, name))
            _check_loopback(host_address, "%s: host %s: ansible_host" % (self.hosts_file, name))
            index = int(host_address.rsplit(".", 1)[1])
            address = host_address if self.subnet is None else "%s.%d" % (self.subnet, index)
            groups = sorted(entry["groups"] - {"all"})
            nodes.append(Node(name, region[0], groups, address, index, entry["vars"]))
        nodes.sort(key=lambda n: n.index)
        seen = {}
        for node in nodes:
            if node.address in seen:
                raise LabError("%s: hosts %s and %s share address %s"
                               % (self.hosts_file, seen[node.address], node.name, node.address))
            seen[node.address] = node.name
        return nodes

    @property
    def fleet_hosts_file(self):
        return os.path.join(self.state_dir, FLEET_HOSTS)

    def base_hosts_file(self):
        """The inventory a generated fleet is scaled from (MESHLAB_INVENTORY or the committed one)."""
        return os.path.abspath(self.environ.get("MESHLAB_INVENTORY") or DEFAULT_HOSTS)

    def fleet_data(self, per_region):
        """The node list `up --per-region N` writes (None: back to the base inventory)."""
        if per_region is None:
            return None
        with open(self.base_hosts_file()) as fh:
            data = yaml.safe_load(fh) or {}
        if "all" not in data:
            raise LabError("%s: field 'all' missing" % self.base_hosts_file())
        return fleet_inventory(data, per_region, self.base_hosts_file())

    def scaled(self, per_region):
        """This lab's Config as `up --per-region N` (or a plain `up`) will leave it; writes nothing.

        A plain `up` goes back to the base inventory; MESHLAB_INVENTORY still wins over both."""
        data = self.fleet_data(per_region)
        cfg = Config(self.environ, hosts_data=data,
                     hosts_file=self.base_hosts_file() if data is None else self.fleet_hosts_file)
        cfg.fleet = data
        return cfg

    def commit_fleet(self):
        """Write (or remove) fleet-hosts.yml so that later commands of this lab see these nodes."""
        if getattr(self, "fleet", None) is None:
            if os.path.exists(self.fleet_hosts_file):
                os.unlink(self.fleet_hosts_file)
            return
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        tmp = self.fleet_hosts_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("# generated by lab/meshlab up --per-region from %s; removed by a plain `up`\n"
                     % self.base_hosts_file())
            yaml.safe_dump(self.fleet, fh, default_flow_style=False, sort_keys=False)
        os.replace(tmp, self.fleet_hosts_file)

    def node(self, name):
        for node in self.nodes:
            # Accept the region as a short alias: `meshlab stop jp`.
            if name in (node.name, node.region):
                return node
        raise LabError("unknown node %r (known: %s)" % (name, ", ".join(n.name for n in self.nodes)), 2)

    # --- paths -----------------------------------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.state_dir, *parts)

    @property
    def key_file(self):
        return self.path("ssh", "id_ed25519")

    @property
    def known_hosts(self):
        return self.path("ssh", "known_hosts")

    @property
    def lab_id(self):
        """Short id of this state dir: names host-global objects (cgroups, nft table) per lab."""
        return hashlib.sha256(self.state_dir.encode()).hexdigest()[:8]

    def ssh_common_args(self):
        return "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes %s" % (self.known_hosts, SSH_OPTIONS)
