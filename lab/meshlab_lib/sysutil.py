"""Thin wrappers over the Linux calls the lab needs (mount, pivot_root, /proc walking).

Stdlib only: this module is imported by the in-namespace init as well as by the CLI.
"""

import ctypes
import ctypes.util
import errno
import os
import platform
import signal
import time

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

# pivot_root has no libc wrapper; its number depends on the architecture.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _b(value):
    return None if value is None else os.fsencode(value)


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def mount(source, target, fstype, flags=0, data=None):
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           "mount %s on %s (%s)" % (source, target, fstype))


def umount(target, detach=False):
    _check(_libc.umount2(_b(target), MNT_DETACH if detach else 0), "umount %s" % target)


def pivot_root(new_root, put_old):
    nr = _SYS_PIVOT_ROOT.get(platform.machine())
    if nr is None:
        raise OSError(errno.ENOSYS, "pivot_root: unsupported architecture %s" % platform.machine())
    _check(_libc.syscall(nr, _b(new_root), _b(put_old)), "pivot_root %s" % new_root)


def mounts_under(prefix):
    """Mount points (host view) at or below prefix, deepest first."""
    prefix = prefix.rstrip("/")
    found = []
    with open("/proc/self/mounts") as fh:
        for line in fh:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(set(found), key=len, reverse=True)


def proc_state(pid):
    """One-letter state from /proc/PID/stat, or None when the process is gone."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            data = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may contain spaces and parentheses: the state follows the last ')'.
    return data.rsplit(")", 1)[1].split()[0]


def alive(pid):
    """A zombie counts as dead (G1): the sandbox's PID 1 reaps orphans only every ~2 s."""
    if not pid:
        return False
    state = proc_state(pid)
    return state is not None and state not in ("Z", "X")


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as fh:
            # The file ends with a trailing space (G2): split on whitespace.
            return [int(x) for x in fh.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as fh:
            return fh.read().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def pidns(pid):
    try:
        return os.readlink("/proc/%d/ns/pid" % pid)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def pids_in_ns_of(init_pid):
    """Host PIDs of every live process in the pid namespace whose PID 1 is init_pid."""
    ns = pidns(init_pid)
    if ns is None:
        return []
    result = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pidns(pid) == ns and alive(pid):
            result.append(pid)
    return sorted(result)


def kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def wait_dead(pids, timeout=5.0):
    deadline = time.monotonic() + timeout
    pending = [p for p in pids if p]
    while pending and time.monotonic() < deadline:
        pending = [p for p in pending if alive(p)]
        if pending:
            time.sleep(0.01)
    return not pending


def rss_kb(pid):
    """VmRSS of a process in kB (0 when it is gone or a kernel thread)."""
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def pss_kb(pid):
    """Proportional set size in kB (shared pages split between their users): what a node really
    adds to the host's memory. 0 when the process is gone."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tmpfs_used_kb(path):
    """Used space of the filesystem mounted at path in kB (0 when nothing is mounted there)."""
    if not os.path.ismount(path):
        return 0
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_APPEND_FL = 0x00000020
_FS_IMMUTABLE_FL = 0x00000010


def clear_append_flags(tree):
    """Clear the append-only and immutable inode flags under ``tree`` (a node's `chflags sappnd`, e.g. the
    wrapper's audit log), so that the tree can be removed. Returns the paths cleared."""
    import array
    import fcntl

    cleared = []
    for root, dirs, files in os.walk(tree):
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                buf = array.array("i", [0])
                fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buf, True)
                if buf[0] & (_FS_APPEND_FL | _FS_IMMUTABLE_FL):
                    fcntl.ioctl(fd, _FS_IOC_SETFLAGS, array.array("i", [buf[0] & ~(_FS_APPEND_FL | _FS_IMMUTABLE_FL)]))
                    cleared.append(path)
            except OSError:
                pass
            finally:
                os.close(fd)
    return cleared
