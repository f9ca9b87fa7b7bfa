"""Lab lifecycle and faults, host side. Every operation works from the state dir alone."""

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time

import yaml

from meshlab_lib import node_init, pki, sysutil
from meshlab_lib.config import ADMIN_USER, REPO_DIR, LabError

NODE_INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_init.py")
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FREEZER_ROOT = "/sys/fs/cgroup/freezer"
PASSWORD_ALPHABET = string.ascii_letters + string.digits
BOOT_TIMEOUT = 10.0
EXIT_NO_NFT = 3


def opaque_dirs(cfg):
    """Directories that start empty on every node so host junk doesn't leak in (G10)."""
    dirs = ["/root", "/home", "/opt", "/srv", "/usr/local", "/mnt", "/media",
            os.path.dirname(REPO_DIR), "/Users", "/Library", "/var/log/macemu", "/var/db/macemu"]
    hidden = dirs + ["/tmp", "/run", "/dev", "/proc", "/sys"]
    if not any(cfg.state_dir == d or cfg.state_dir.startswith(d.rstrip("/") + "/") for d in hidden):
        dirs.append(cfg.state_dir)
    return dirs


def _mkdir_like_lower(upper, path, opaque):
    """Create upper+path with the lower dir's mode and owner (root 0755 if the host has none)."""
    target = upper + path
    if os.path.isdir(target) and not os.path.islink(target):
        return
    try:
        st = os.stat(path)
        mode, uid, gid = (st.st_mode & 0o7777, st.st_uid, st.st_gid) if os.path.isdir(path) else (0o755, 0, 0)
    except FileNotFoundError:
        mode, uid, gid = 0o755, 0, 0
    os.mkdir(target)
    os.chmod(target, mode)
    os.chown(target, uid, gid)
    if opaque:
        os.setxattr(target, "trusted.overlay.opaque", b"y")


def prepare_disk(cfg, upper):
    for path in opaque_dirs(cfg):
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            _mkdir_like_lower(upper, "/" + "/".join(parts[:depth]), opaque=False)
        _mkdir_like_lower(upper, path, opaque=True)
    for sub in ("bin", "sbin", "lib", "share", "etc"):
        os.makedirs(upper + "/usr/local/" + sub, mode=0o755, exist_ok=True)
    # /root is opaque: give root the stock dotfiles back.
    for name in (".bashrc", ".profile"):
        if os.path.exists("/etc/skel/" + name):
            shutil.copyfile("/etc/skel/" + name, upper + "/root/" + name)


class Lab:
    def __init__(self, cfg, out=sys.stdout):
        self.cfg = cfg
        self.out = out

    def say(self, msg):
        self.out.write(msg + "\n")
        self.out.flush()

    # --- state files ---------------------------------------------------------------------------
    def disk(self, node):
        return self.cfg.path("nodes", node.name)

    def run_file(self, node):
        return self.cfg.path("run", node.name + ".json")

    def read_run(self, node):
        try:
            with open(self.run_file(node)) as fh:
                return json.load(fh)
        except FileNotFoundError:
            return {}

    def write_run(self, node, data):
        os.makedirs(self.cfg.path("run"), exist_ok=True)
        tmp = self.run_file(node) + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.run_file(node))

    def init_pid(self, node):
        pid = self.read_run(node).get("init")
        return pid if sysutil.alive(pid) else None

    def require_running(self, node):
        pid = self.init_pid(node)
        if pid is None:
            raise LabError("node %s is not running (meshlab up / meshlab reboot %s)" % (node.name, node.name))
        return pid

    @contextlib.contextmanager
    def locked(self):
        os.makedirs(self.cfg.state_dir, mode=0o700, exist_ok=True)
        with open(self.cfg.path(".lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    # --- cgroup freezer (optional) ---------------------------------------------------------------
    def cgroup_path(self, node):
        """This node's cgroup-v1 freezer group, or None when the host has no writable freezer."""
        if not os.path.isfile(os.path.join(FREEZER_ROOT, "cgroup.procs")) or not os.access(FREEZER_ROOT, os.W_OK):
            return None
        return os.path.join(FREEZER_ROOT, "meshlab-%s-%s" % (self.cfg.lab_id, node.name))

    def cgroup(self, node):
        """The cgroup freeze/thaw should use; None means SIGSTOP/SIGCONT."""
        return None if self.cfg.freeze_mode == "signal" else self.cgroup_path(node)

    def _cgroup_state(self, node):
        cg = self.cgroup_path(node)
        try:
            with open(os.path.join(cg, "freezer.state")) as fh:
                return fh.read().strip()
        except (TypeError, FileNotFoundError):
            return None

    # --- processes --------------------------------------------------------------------------------
    def sshd_pids(self, init):
        return [p for p in sysutil.pids_in_ns_of(init) if sysutil.comm(p) == "sshd"]

    def listener_pid(self, init):
        for pid in self.sshd_pids(init):
            if sysutil.ppid(pid) == init:
                return pid
        return None

    def is_frozen(self, node):
        if self._cgroup_state(node) in ("FROZEN", "FREEZING"):
            return True
        if self.read_run(node).get("frozen_by_signal"):
            return True
        return False

    # --- secrets and keys -------------------------------------------------------------------------
    def ensure_key(self):
        os.makedirs(self.cfg.path("ssh"), mode=0o700, exist_ok=True)
        if not os.path.exists(self.cfg.key_file):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "meshlab",
                            "-f", self.cfg.key_file], check=True)

    def ensure_secrets(self):
        """Lab-only secrets, generated once and kept across down/up; never committed."""
        sdir = self.cfg.path("secrets")
        os.makedirs(sdir, mode=0o700, exist_ok=True)
        raw = os.path.join(sdir, "keychain_password")
        if not os.path.exists(raw):
            password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(32))
            fd = os.open(raw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(password)
        with open(raw) as fh:
            password = fh.read().strip()
        path = self.cfg.path("secrets.yml")
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("# generated by lab/meshlab (lab only, never commit)\n")
            yaml.safe_dump({"macmesh_keychain_password": password}, fh, default_flow_style=False)
        os.replace(path + ".tmp", path)

    # --- boot -------------------------------------------------------------------------------------
    def boot(self, node):
        """Start one node's namespace on its (possibly existing) disk. Returns the init host PID."""
        disk = self.disk(node)
        os.makedirs(disk, exist_ok=True)
        if not os.path.ismount(disk):
            sysutil.mount("meshlab-disk-" + node.name, disk, "tmpfs", 0, "size=%s,mode=755" % self.cfg.disk_size)
            for sub in ("upper", "work", "merged"):
                os.mkdir(os.path.join(disk, sub))
            prepare_disk(self.cfg, os.path.join(disk, "upper"))
        cg = self.cgroup(node)
        if cg:
            os.makedirs(cg, exist_ok=True)
        with open(self.cfg.key_file + ".pub") as fh:
            pubkey = fh.read()
        boot = {
            "name": node.name,
            "address": node.address,
            "disk": disk,
            "seed": self.cfg.seed if os.path.isdir(self.cfg.seed) else None,
            "node_json": node.emulator_config(),
            "authorized_keys": pubkey,
            "admin_user": ADMIN_USER,
            "cgroup": cg,
            # The lab's "Apple Root CA": every node trusts it, as every Mac trusts Apple's root.
            "system_roots": pki.root_pem(self.cfg.path("pki")),
        }
        os.makedirs(self.cfg.path("run"), exist_ok=True)
        os.makedirs(self.cfg.path("logs"), exist_ok=True)
        boot_file = self.cfg.path("run", node.name + ".boot.json")
        with open(boot_file, "w") as fh:
            json.dump(boot, fh)
        with open(self.cfg.path("logs", node.name + ".log"), "ab") as logf:
            proc = subprocess.Popen(
                ["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "--propagation", "private",
                 "--kill-child=SIGKILL", "--", sys.executable, "-E", "-s", NODE_INIT, boot_file],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, cwd="/",
                start_new_session=True, env={"PATH": NODE_PATH, "LANG": "C.UTF-8"})
        deadline = time.monotonic() + 5
        init = None
        while init is None and time.monotonic() < deadline:
            kids = sysutil.children(proc.pid)
            if kids:
                init = kids[0]
            elif proc.poll() is not None:
                break
            else:
                time.sleep(0.002)
        if init is None:
            raise LabError("node %s: namespace did not start\n%s" % (node.name, self.log_tail(node)))
        self.write_run(node, {"unshare": proc.pid, "init": init, "address": node.address})
        return init

    def log_tail(self, node, lines=15):
        try:
            with open(self.cfg.path("logs", node.name + ".log"), errors="replace") as fh:
                return "".join(fh.readlines()[-lines:])
        except FileNotFoundError:
            return ""

    def wait_ssh(self, nodes, timeout=BOOT_TIMEOUT):
        pending = list(nodes)
        deadline = time.monotonic() + timeout
        while pending:
            for node in list(pending):
                if banner(node.address):
                    pending.remove(node)
                elif self.init_pid(node) is None:
                    raise LabError("node %s died while booting:\n%s" % (node.name, self.log_tail(node)))
            if pending:
                if time.monotonic() > deadline:
                    raise LabError("no SSH banner from %s within %.0f s" %
                                   (", ".join(n.name for n in pending), timeout))
                time.sleep(0.01)

    def host_key(self, node):
        with open(os.path.join(self.disk(node), "upper", "etc/ssh/ssh_host_ed25519_key.pub")) as fh:
            return " ".join(fh.read().split()[:2])

    def write_known_hosts(self):
        lines = ["%s,%s %s\n" % (node.address, node.name, self.host_key(node)) for node in self.cfg.nodes]
        with open(self.cfg.known_hosts + ".tmp", "w") as fh:
            fh.writelines(lines)
        os.replace(self.cfg.known_hosts + ".tmp", self.cfg.known_hosts)

    def write_inventory(self):
        """A standalone inventory: the committed groups, the live addresses, literal paths."""
        with open(self.cfg.hosts_file) as fh:
            data = yaml.safe_load(fh)
        addresses = {n.name: n.address for n in self.cfg.nodes}

        def fix(group):
            for host, hvars in ((group or {}).get("hosts") or {}).items():
                if hvars and "ansible_host" in hvars:
                    hvars["ansible_host"] = addresses[host]
            for child in ((group or {}).get("children") or {}).values():
                fix(child)

        fix(data["all"])
        all_vars = data["all"].setdefault("vars", {}) or {}
        all_vars.update({
            "meshlab_state_dir": self.cfg.state_dir,
            "ansible_user": "root",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_pipelining": True,
            "ansible_ssh_private_key_file": self.cfg.key_file,
            "ansible_ssh_common_args": self.cfg.ssh_common_args(),
            "macmesh_keychain_password":
                "{{ lookup('ansible.builtin.file', '%s') }}" % self.cfg.path("secrets", "keychain_password"),
        })
        data["all"]["vars"] = all_vars
        path = self.cfg.path("inventory.yml")
        with open(path + ".tmp", "w") as fh:
            fh.write("# generated by lab/meshlab up; standalone: ansible -i %s all -m ansible.builtin.ping\n" % path)
            yaml.safe_dump(data, fh, default_flow_style=False, sort_keys=False)
        os.replace(path + ".tmp", path)

    # --- commands ---------------------------------------------------------------------------------
    def up(self, per_region=None):
        start = time.monotonic()
        with self.locked():
            running = [n.name for n in self.cfg.nodes if self.init_pid(n)]
            if running:
                raise LabError("lab in %s is already up (%s); run `meshlab down` first"
                               % (self.cfg.state_dir, ", ".join(running)))
            old, new = self.cfg, self.cfg.scaled(per_region)
            taken = [n for n in new.nodes if port_open(n.address)]
            if taken:
                raise LabError("refusing to start: %s already answer(s) on port 22 (another lab or a host "
                               "sshd?). Stop it, or use MESHLAB_SUBNET for a second lab (G11)"
                               % ", ".join("%s (%s)" % (n.address, n.name) for n in taken))
            self._teardown()  # leftovers of a crashed run: stale mounts, cgroups, nft rules
            new.commit_fleet()
            self.cfg = new
            if [n.name for n in old.nodes] != [n.name for n in new.nodes]:
                self._teardown()
            self.ensure_key()
            self.ensure_secrets()
            os.makedirs(self.cfg.path("logs"), exist_ok=True)
            try:
                for node in self.cfg.nodes:
                    open(self.cfg.path("logs", node.name + ".log"), "w").close()  # one log per lab life
                    self.boot(node)
                # First boots generate host keys and add a user: allow for that on a busy 2-core VM.
                self.wait_ssh(self.cfg.nodes, BOOT_TIMEOUT + 0.5 * len(self.cfg.nodes))
                self.write_known_hosts()
                self.write_inventory()
            except BaseException:
                self._teardown()
                raise
        self.say("meshlab: %d nodes up in %.2f s (state %s)" % (len(self.cfg.nodes), time.monotonic() - start,
                                                               self.cfg.state_dir))
        for node in self.cfg.nodes:
            self.say("  %-12s %s" % (node.name, node.address))
        self.say("  inventory: %s" % self.cfg.path("inventory.yml"))

    def _kill_node(self, node):
        """Kill sshd by PID, then the namespace init (the kernel kills the rest). Returns PIDs killed."""
        run = self.read_run(node)
        init = run.get("init")
        pids = [p for p in (run.get("unshare"), init) if p]
        if sysutil.alive(init):
            if self._cgroup_state(node) in ("FROZEN", "FREEZING"):
                self._set_freezer(node, "THAWED")  # cgroup-v1 frozen tasks cannot die until thawed
            listener = self.listener_pid(init)
            if listener:
                sysutil.kill(listener)
                pids.append(listener)
            sysutil.kill(init)
        if pids and not sysutil.wait_dead(pids, timeout=5):
            raise LabError("node %s: processes %s did not die" % (node.name, [p for p in pids if sysutil.alive(p)]))
        run.pop("frozen_by_signal", None)
        run["init"] = None
        if os.path.exists(self.run_file(node)):
            self.write_run(node, run)
        return pids

    def _teardown(self):
        for node in self.cfg.nodes:
            self._kill_node(node)
        for point in sysutil.mounts_under(self.cfg.path("nodes")):
            try:
                sysutil.umount(point)
            except OSError:
                sysutil.umount(point, detach=True)
        for node in self.cfg.nodes:
            cg = self.cgroup_path(node)
            if cg and os.path.isdir(cg):
                os.rmdir(cg)
        if shutil.which("nft"):
            subprocess.run(["nft", "delete", "table", "inet", self.nft_table()],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for path in (self.cfg.path("nodes"), self.cfg.path("run")):
            if os.path.isdir(path):
                sysutil.clear_append_flags(path)
            shutil.rmtree(path, ignore_errors=True)
        for path in (self.cfg.known_hosts, self.cfg.path("inventory.yml")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def down(self, purge=False):
        start = time.monotonic()
        if not os.path.isdir(self.cfg.state_dir):
            self.say("meshlab: nothing to do (%s does not exist)" % self.cfg.state_dir)
            return
        with self.locked():
            self._teardown()
        if purge:
            shutil.rmtree(self.cfg.state_dir)
        self.say("meshlab: down in %.2f s%s" % (time.monotonic() - start, " (state purged)" if purge else ""))

    def status(self):
        rows = []
        partitioned = self.partitioned_nodes()
        for node in self.cfg.nodes:
            init = self.init_pid(node)
            row = {"node": node.name, "address": node.address, "init_pid": init, "sshd_pid": None,
                   "pids": [], "frozen": False, "partitioned": node.name in partitioned}
            if init:
                row["pids"] = sysutil.pids_in_ns_of(init)
                row["sshd_pid"] = self.listener_pid(init)
                row["frozen"] = self.is_frozen(node)
            # Memory the node holds: resident set of its processes and its tmpfs disk (RAM too).
            row["rss_kb"] = sum(sysutil.rss_kb(p) for p in row["pids"])
            row["pss_kb"] = sum(sysutil.pss_kb(p) for p in row["pids"])
            row["disk_kb"] = sysutil.tmpfs_used_kb(self.disk(node))
            if not init:
                row["state"] = "down"
            elif row["frozen"]:
                row["state"] = "frozen"
            elif not row["sshd_pid"]:
                row["state"] = "stopped"
            elif row["partitioned"]:
                row["state"] = "partitioned"
            else:
                row["state"] = "up"
            rows.append(row)
        return rows

    def stop(self, node):
        with self.locked():
            init = self.require_running(node)
            if self.is_frozen(node):
                raise LabError("node %s is frozen; thaw it first" % node.name)
            # Listener first, then every session (G6): live ControlPersist sessions would survive otherwise.
            for _ in range(3):
                pids = self.sshd_pids(init)
                if not pids:
                    break
                for pid in sorted(pids, key=lambda p: sysutil.ppid(p) != init):
                    sysutil.kill(pid)
                sysutil.wait_dead(pids, timeout=5)
        self.say("meshlab: sshd stopped on %s (%s:22 refuses connections)" % (node.name, node.address))

    def start(self, node):
        with self.locked():
            init = self.require_running(node)
            if self.is_frozen(node):
                raise LabError("node %s is frozen; thaw it first" % node.name)
            if self.listener_pid(init):
                self.say("meshlab: sshd already running on %s" % node.name)
                return
            self.install_seed(init)  # the seed is (re)installed at every start, as at boot
            rc = self.run_in(node, ["/usr/sbin/sshd", "-E", "/var/log/meshlab-sshd.log"])
            if rc != 0:
                raise LabError("node %s: sshd failed to start (rc %d)" % (node.name, rc))
            self.wait_ssh([node])
        self.say("meshlab: sshd started on %s" % node.name)

    def install_seed(self, init):
        entries = node_init.read_seed(self.cfg.seed)
        if not entries:
            return
        child = os.fork()
        if child == 0:  # chrooted child: the node's absolute symlinks must resolve inside the node
            code = 1
            try:
                os.chroot("/proc/%d/root" % init)
                os.chdir("/")
                node_init.install_seed(entries)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        if status != 0:
            raise LabError("installing the seed into the node failed (status %d)" % status)

    def _set_freezer(self, node, state):
        cg = self.cgroup_path(node)
        with open(os.path.join(cg, "freezer.state"), "w") as fh:
            fh.write(state)
        deadline = time.monotonic() + 5
        while self._cgroup_state(node) != state:
            if time.monotonic() > deadline:
                raise LabError("node %s: freezer stuck in %s" % (node.name, self._cgroup_state(node)))
            time.sleep(0.005)

    def freeze(self, node):
        with self.locked():
            init = self.require_running(node)
            cg = self.cgroup(node)
            if cg and os.path.isdir(cg):
                # Processes started through `exec` did not inherit the cgroup: sweep them in first.
                for pid in sysutil.pids_in_ns_of(init):
                    with contextlib.suppress(OSError):
                        with open(os.path.join(cg, "cgroup.procs"), "w") as fh:
                            fh.write(str(pid))
                self._set_freezer(node, "FROZEN")
                how = "cgroup freezer"
            else:
                for pid in sysutil.pids_in_ns_of(init):
                    sysutil.kill(pid, signal.SIGSTOP)
                run = self.read_run(node)
                run["frozen_by_signal"] = True
                self.write_run(node, run)
                how = "SIGSTOP"
        self.say("meshlab: %s frozen (%s): connections hang until `meshlab thaw %s`" % (node.name, how, node.name))

    def thaw(self, node):
        with self.locked():
            init = self.require_running(node)
            run = self.read_run(node)
            if run.pop("frozen_by_signal", None):
                for pid in sysutil.pids_in_ns_of(init):
                    sysutil.kill(pid, signal.SIGCONT)
                self.write_run(node, run)
            if self._cgroup_state(node) in ("FROZEN", "FREEZING"):
                self._set_freezer(node, "THAWED")
        self.say("meshlab: %s thawed" % node.name)

    def nft_table(self):
        return "meshlab_" + self.cfg.lab_id

    @staticmethod
    def nft_chain(node):
        return "partition_" + node.name.replace("-", "_")

    def _need_nft(self):
        if not shutil.which("nft"):
            raise LabError("partition/heal need nftables (`nft` not found; apt-get install nftables)", EXIT_NO_NFT)

    def partitioned_nodes(self):
        if not shutil.which("nft"):
            return set()
        res = subprocess.run(["nft", "list", "table", "inet", self.nft_table()],
                             capture_output=True, text=True)
        if res.returncode != 0:
            return set()
        return {n.name for n in self.cfg.nodes if "chain %s " % self.nft_chain(n) in res.stdout}

    def partition(self, node):
        self._need_nft()
        with self.locked():
            self.require_running(node)
            table, chain = self.nft_table(), self.nft_chain(node)
            script = "\n".join([
                "add table inet %s" % table,
                "add chain inet %s %s { type filter hook output priority 0; policy accept; }" % (table, chain),
                "flush chain inet %s %s" % (table, chain),
                "add rule inet %s %s ip daddr %s tcp dport 22 drop" % (table, chain, node.address),
                "add rule inet %s %s ip saddr %s tcp sport 22 drop" % (table, chain, node.address),
                "",
            ])
            res = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
            if res.returncode != 0:
                raise LabError("nft failed: %s" % res.stderr.strip())
        self.say("meshlab: %s partitioned (traffic to %s:22 dropped)" % (node.name, node.address))

    def heal(self, node):
        self._need_nft()
        with self.locked():
            if node.name in self.partitioned_nodes():
                subprocess.run(["nft", "delete", "chain", "inet", self.nft_table(), self.nft_chain(node)],
                               check=True)
        self.say("meshlab: %s healed" % node.name)

    def _require_disk(self, node):
        disk = self.disk(node)
        if not os.path.ismount(disk):
            raise LabError("node %s has no disk (run `meshlab up`)" % node.name)
        return disk

    def _wipe_disk(self, node):
        """Kill the node and empty its disk (upper and work dirs), ready for a fresh or a restored upper."""
        disk = self._require_disk(node)
        self._kill_node(node)
        for sub in ("upper", "work"):
            path = os.path.join(disk, sub)
            # The node's append-only files (chflags sappnd: the wrapper's log) would stop rmtree.
            sysutil.clear_append_flags(path)
            shutil.rmtree(path)
        os.mkdir(os.path.join(disk, "work"))
        return disk

    def reboot(self, node):
        start = time.monotonic()
        with self.locked():
            self._require_disk(node)
            self._kill_node(node)
            self.boot(node)
            self.wait_ssh([node])
        self.say("meshlab: %s rebooted in %.2f s (disk kept; processes, /run and /tmp lost)"
                 % (node.name, time.monotonic() - start))

    def reset(self, node):
        """Kill the node and boot it on a fresh disk, as `up` does: a Mac mini straight out of the box.

        The node gets new host keys (first boot), so known_hosts is written again. Used by the crash
        drills to provision the same node again and again.
        """
        start = time.monotonic()
        with self.locked():
            disk = self._wipe_disk(node)
            os.mkdir(os.path.join(disk, "upper"))
            prepare_disk(self.cfg, os.path.join(disk, "upper"))
            self.boot(node)
            self.wait_ssh([node])
            self.write_known_hosts()
        self.say("meshlab: %s reset to a fresh disk in %.2f s" % (node.name, time.monotonic() - start))

    # --- snapshots --------------------------------------------------------------------------------
    def snapshot_dir(self, name):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
            raise LabError("bad snapshot name %r (a plain name: letters, digits, - and _)" % name, 2)
        return self.cfg.path("snapshots", name)

    def snapshot(self, name, nodes):
        """Copy each node's disk (its overlay's upper dir) to snapshots/NAME.

        The nodes keep running: take it while no run is in flight (what a run is writing may be
        half there). What is not on the disk (processes, /run, /tmp) is not in it, as for reboot.
        """
        start = time.monotonic()
        with self.locked():
            target = self.snapshot_dir(name)
            for node in nodes:
                upper = os.path.join(self._require_disk(node), "upper")
                dest = os.path.join(target, node.name)
                shutil.rmtree(dest, ignore_errors=True)
                os.makedirs(dest, mode=0o700)
                # cp -a keeps owners, modes, times, whiteouts and xattrs: the overlay's opaque dirs, and the
                # node's `chflags sappnd`, which overlayfs keeps as trusted.overlay.protattr on the upper file.
                subprocess.run(["cp", "-a", upper, os.path.join(dest, "upper")], check=True)
        self.say("meshlab: snapshot %s of %s in %.2f s" % (name, ", ".join(n.name for n in nodes),
                                                          time.monotonic() - start))

    def restore(self, name, nodes):
        """Kill each node, put its disk back as snapshots/NAME holds it and boot it (a reboot onto that disk).

        The host keys come back with the disk, so known_hosts is written again from it.
        """
        start = time.monotonic()
        with self.locked():
            source = self.snapshot_dir(name)
            missing = [n.name for n in nodes if not os.path.isdir(os.path.join(source, n.name, "upper"))]
            if missing:
                raise LabError("snapshot %s has no disk of %s (meshlab snapshot %s first)"
                               % (name, ", ".join(missing), name))
            for node in nodes:
                disk = self._wipe_disk(node)
                subprocess.run(["cp", "-a", os.path.join(source, node.name, "upper"), os.path.join(disk, "upper")],
                               check=True)
                self.boot(node)
            self.wait_ssh(nodes)
            self.write_known_hosts()
        self.say("meshlab: %s restored from snapshot %s in %.2f s" % (", ".join(n.name for n in nodes), name,
                                                                      time.monotonic() - start))

    # --- exec -------------------------------------------------------------------------------------
    def nsenter_argv(self, init, argv, user=None):
        env = ["/usr/bin/env", "-i", "PATH=" + NODE_PATH, "LANG=C.UTF-8", "HOME=/root", "USER=root",
               "LOGNAME=root", "TERM=" + os.environ.get("TERM", "dumb")]
        if user and user != "root":
            # runuser sets HOME, SHELL, USER and LOGNAME for a non-root target.
            env += ["/usr/sbin/runuser", "-u", user, "--"]
        return ["nsenter", "--target", str(init), "--mount", "--uts", "--ipc", "--pid",
                "--root", "--wd", "--"] + env + argv

    def run_in(self, node, argv, user=None):
        init = self.require_running(node)
        return subprocess.run(self.nsenter_argv(init, argv, user)).returncode

    def exec(self, node, argv, user=None):
        init = self.require_running(node)
        if self.is_frozen(node):
            raise LabError("node %s is frozen; `meshlab thaw %s` first" % (node.name, node.name))
        if not argv:
            argv = ["/bin/bash", "-l"]
        return subprocess.run(self.nsenter_argv(init, argv, user)).returncode


def port_open(address, port=22, timeout=0.3):
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def banner(address, timeout=0.5):
    try:
        with socket.create_connection((address, 22), timeout=timeout) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False
