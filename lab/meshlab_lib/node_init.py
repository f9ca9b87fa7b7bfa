"""PID 1 of one lab node. Run by `unshare` inside fresh mount/pid/uts/ipc namespaces.

Usage (internal): python3 node_init.py BOOT.json

It mounts the overlay root, /proc, /sys, a minimal /dev, tmpfs /run and /tmp, configures the
node, pivots into the new root, installs the seed tree, creates the admin user on first boot,
starts sshd and then only reaps orphans. Everything here dies with the namespace; the overlay upper (the node's "disk")
lives on a host-side tmpfs and survives a reboot.
"""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from meshlab_lib import sysutil  # noqa: E402  (path set just above)

NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROVISIONED = "var/lib/meshlab/provisioned"
SSHD_DROPIN = "etc/ssh/sshd_config.d/00-meshlab.conf"
SSHD_LOG = "/var/log/meshlab-sshd.log"
BOOT_HOOK = "/usr/lib/macemu/boot"

DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}


def log(msg):
    sys.stderr.write("[init] %s\n" % msg)
    sys.stderr.flush()


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".meshlab-tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def join_cgroup(cgroup):
    # Before any fork, so every process of the node inherits it. PIDs written to cgroup.procs are
    # read in the writer's pid namespace, where the host PID means nothing: "0" means "me".
    if cgroup:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
            fh.write("0")


def mount_root(boot):
    disk = boot["disk"]
    m = os.path.join(disk, "merged")
    sysutil.mount("meshlab-" + boot["name"], m, "overlay", 0,
                  "lowerdir=/,upperdir=%s/upper,workdir=%s/work" % (disk, disk))
    sysutil.mount("proc", m + "/proc", "proc", sysutil.MS_NOSUID | sysutil.MS_NODEV | sysutil.MS_NOEXEC)
    sysutil.mount("sysfs", m + "/sys", "sysfs",
                  sysutil.MS_RDONLY | sysutil.MS_NOSUID | sysutil.MS_NODEV | sysutil.MS_NOEXEC)
    dev = m + "/dev"
    sysutil.mount("tmpfs", dev, "tmpfs", sysutil.MS_NOSUID, "mode=755,size=1m")
    for name, (major, minor) in DEVICES.items():
        os.mknod(dev + "/" + name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(dev + "/" + name, 0o666)
    os.mkdir(dev + "/pts")
    sysutil.mount("devpts", dev + "/pts", "devpts", sysutil.MS_NOSUID | sysutil.MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=620,gid=5")
    os.symlink("pts/ptmx", dev + "/ptmx")
    os.mkdir(dev + "/shm")
    sysutil.mount("tmpfs", dev + "/shm", "tmpfs", sysutil.MS_NOSUID | sysutil.MS_NODEV, "mode=1777")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, dev + "/" + name)
    sysutil.mount("tmpfs", m + "/tmp", "tmpfs", sysutil.MS_NOSUID | sysutil.MS_NODEV, "mode=1777")
    sysutil.mount("tmpfs", m + "/run", "tmpfs", sysutil.MS_NOSUID | sysutil.MS_NODEV, "mode=755")
    os.mkdir(m + "/run/sshd", 0o755)
    os.mkdir(m + "/run/lock")
    os.chmod(m + "/run/lock", 0o1777)
    # The emulator's runtime state (keychain unlock sessions) lives here and, like securityd's,
    # is gone after a reboot; every user's security/codesign must be able to create its own entry.
    os.mkdir(m + "/run/macemu")
    os.chmod(m + "/run/macemu", 0o1777)
    return m


def read_seed(seed):
    """The seed tree as a list of entries, read while the host tree is still visible."""
    entries = []
    if not seed or not os.path.isdir(seed):
        return entries
    for dirpath, dirnames, filenames in os.walk(seed):
        dirnames.sort()
        rel = os.path.relpath(dirpath, seed)
        if rel != ".":
            entries.append(("dir", rel, stat.S_IMODE(os.stat(dirpath).st_mode), None))
        for name in list(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):  # os.walk lists links to dirs as dirs
                dirnames.remove(name)
                filenames.append(name)
        for name in sorted(filenames):
            src = os.path.join(dirpath, name)
            relname = os.path.normpath(os.path.join(rel, name))
            if os.path.islink(src):
                entries.append(("link", relname, None, os.readlink(src)))
            else:
                with open(src, "rb") as fh:
                    entries.append(("file", relname, stat.S_IMODE(os.stat(src).st_mode), fh.read()))
    return entries


def install_seed(entries):
    """Write the seed onto / (overwriting), owned by root.

    Runs inside the node's root (after pivot_root, or chrooted into /proc/PID/root) so that the
    node's absolute symlinks, such as /var/run -> /run, resolve inside the node and never on the host.
    Symlinked directories on the node (/bin -> usr/bin) are followed, not replaced.
    """
    for kind, rel, mode, payload in entries:
        dest = "/" + rel
        if kind == "dir":
            if os.path.lexists(dest) and not os.path.isdir(dest):
                os.unlink(dest)
            if not os.path.isdir(dest):
                os.mkdir(dest)
                os.chmod(dest, mode)
            continue
        if os.path.isdir(dest) and not os.path.islink(dest):
            log("seed: skipped %s, it would replace a directory" % dest)
            continue
        if os.path.lexists(dest):
            os.unlink(dest)
        if kind == "link":
            os.symlink(payload, dest)
            os.lchown(dest, 0, 0)
        else:
            with open(dest, "wb") as fh:
                fh.write(payload)
            os.chmod(dest, mode)
            os.chown(dest, 0, 0)
    return len([e for e in entries if e[0] != "dir"])


def configure(boot, m):
    """Files written at every boot (cheap, and they follow the current lab settings)."""
    name, address = boot["name"], boot["address"]
    first = not os.path.exists(os.path.join(m, PROVISIONED))
    write(m + "/etc/hostname", name + "\n")
    write(m + "/etc/hosts", "127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost\n" % (address, name))
    write(m + "/etc/macemu/node.json", json.dumps(boot["node_json"], indent=2, sort_keys=True) + "\n")
    if boot.get("system_roots"):
        # The node's system roots (lab/meshlab_lib/pki.py): trusted anchors, read-only for users.
        write(m + "/System/Library/Keychains/SystemRootCertificates.pem", boot["system_roots"])
    write(m + "/" + SSHD_DROPIN, "\n".join([
        "# written by meshlab at every boot",
        "ListenAddress %s:22" % address,
        "HostKey /etc/ssh/ssh_host_ed25519_key",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        "MaxSessions 100",
        "MaxStartups 200:30:400",
        "",
    ]))
    os.makedirs(m + "/root/.ssh", mode=0o700, exist_ok=True)
    write(m + "/root/.ssh/authorized_keys", boot["authorized_keys"], 0o600)
    if first:
        # The host's own host keys are visible through the lower: each node gets its own.
        for entry in os.listdir(m + "/etc/ssh"):
            if entry.startswith("ssh_host_"):
                os.unlink(m + "/etc/ssh/" + entry)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@" + name,
                        "-f", m + "/etc/ssh/ssh_host_ed25519_key"], check=True)
        write(m + "/etc/sudoers.d/meshlab-admin", "%s ALL=(ALL) NOPASSWD:ALL\n" % boot["admin_user"], 0o440)
    return first


def provision_admin(boot):
    """First boot, after pivot_root: the sudo login user (same key as root)."""
    user = boot["admin_user"]
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--password", "*", user], check=True)
    home = "/home/" + user
    os.makedirs(home + "/.ssh", mode=0o700, exist_ok=True)
    write(home + "/.ssh/authorized_keys", boot["authorized_keys"], 0o600)
    pw = subprocess.run(["id", "-u", user], check=True, capture_output=True, text=True).stdout.strip()
    for path in (home + "/.ssh", home + "/.ssh/authorized_keys"):
        os.chown(path, int(pw), int(pw))
    write("/" + PROVISIONED, "provisioned\n")


def run_boot_hook():
    """The seed's boot hook (the emulated launchd loading /Library/LaunchDaemons), bounded, never fatal."""
    if not os.access(BOOT_HOOK, os.X_OK):
        return
    try:
        proc = subprocess.run([BOOT_HOOK], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
                              check=False, universal_newlines=True)
        if proc.stdout.strip() or proc.returncode:
            log("boot hook exit %d: %s" % (proc.returncode, proc.stdout.strip()))
    except subprocess.TimeoutExpired:
        log("boot hook: timed out after 60 s")


def start_sshd():
    subprocess.run(["/usr/sbin/sshd", "-E", SSHD_LOG], check=True,
                   env={"PATH": NODE_PATH, "LANG": "C.UTF-8"})


def reap_forever():
    """PID 1 duty: reap every orphan. SIGCHLD is blocked and waited for, so none is missed."""
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        signal.sigtimedwait([signal.SIGCHLD], 60)


def main(argv):
    with open(argv[1]) as fh:
        boot = json.load(fh)
    join_cgroup(boot.get("cgroup"))
    socket.sethostname(boot["name"])
    m = mount_root(boot)
    seed = read_seed(boot.get("seed"))
    first = configure(boot, m)
    os.chdir(m)
    sysutil.pivot_root(".", ".")  # runc's trick: the old root ends up on top, detach it
    sysutil.umount(".", detach=True)
    os.chdir("/")
    os.environ.clear()
    os.environ.update({"PATH": NODE_PATH, "HOME": "/root", "LANG": "C.UTF-8"})
    copied = install_seed(seed)
    if first:
        provision_admin(boot)
    run_boot_hook()
    start_sshd()
    log("%s up on %s (first boot: %s, seed files: %d)" % (boot["name"], boot["address"], first, copied))
    reap_forever()


if __name__ == "__main__":
    try:
        main(sys.argv)
    except Exception:  # PID 1 must say why it died before the namespace vanishes
        traceback.print_exc()
        sys.exit(1)
