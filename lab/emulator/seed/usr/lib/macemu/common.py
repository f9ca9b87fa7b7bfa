"""Shared plumbing for the lab's macOS command emulator (test equipment, never imported by the product).

Import convention for every emulated command in the seed tree: the launcher in /usr/bin puts the
directory holding this file on sys.path (resolved from the launcher's own location, so the same
script also runs from the checkout on the host) and imports top-level modules:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib", "macemu"))
    import common

Every path the emulator touches can be redirected through the environment, which is how the
host-side tests run the commands without a lab:

    MACEMU_NODE_CONFIG  node description (default /etc/macemu/node.json)
    MACEMU_STATE        persistent state, survives reboot (default /var/db/macemu)
    MACEMU_RUN          volatile state, lost on reboot (default /run/macemu)
    MACEMU_AUDIT        audit log, one JSON line per invocation (default /var/log/macemu/audit.log)
"""

import json
import os
import pwd
import sys
import time

NODE_CONFIG = "/etc/macemu/node.json"
DEFAULT_MACOS_VERSION = "14.6.1"


def node_config_path():
    return os.environ.get("MACEMU_NODE_CONFIG", NODE_CONFIG)


def node_config():
    """The node description as a dict; {} when the file is missing (a bare host run).

    Known keys: name (e.g. "hk"), region ("HK"), macos_version ("15.1"), build, hardware (dict).
    Unknown keys are kept so other emulated commands can add their own.
    """
    try:
        with open(node_config_path(), "rb") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError("%s: expected a JSON object" % node_config_path())
    return data


def node_name():
    return node_config().get("node") or node_config().get("name") or os.uname().nodename


def macos_version():
    """The emulated macOS version string, e.g. "15.1"."""
    return str(node_config().get("macos_version") or DEFAULT_MACOS_VERSION)


def macos_version_tuple():
    """(major, minor, patch) ints, for comparisons such as `>= (15,)`."""
    parts = []
    for piece in macos_version().split("."):
        parts.append(int(piece) if piece.isdigit() else 0)
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts[:3])


def state_dir():
    return os.environ.get("MACEMU_STATE", "/var/db/macemu")


def run_dir():
    return os.environ.get("MACEMU_RUN", "/run/macemu")


def audit_path():
    return os.environ.get("MACEMU_AUDIT", "/var/log/macemu/audit.log")


def clock_advance():
    """Seconds the node's clock runs ahead of the host's: <state>/clock_advance (a lab knob that
    tests write to let time pass, e.g. past a keychain's timeout), else 0."""
    try:
        with open(os.path.join(state_dir(), "clock_advance")) as handle:
            return float(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0.0


def now():
    """The node's clock (epoch seconds): keychain timeouts and certificate validity use it."""
    return time.time() + clock_advance()


def _proc_stat(pid):
    """(comm, ppid, starttime) of a process from /proc, or None."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            data = handle.read()
    except OSError:
        return None
    comm = data[data.index("(") + 1:data.rindex(")")]
    fields = data[data.rindex(")") + 2:].split()
    return comm, int(fields[1]), fields[19]


def login_session():
    """The lab's analogue of the macOS audit session id (asid) that securityd keys unlocks on.

    On macOS, sshd puts each SSH login into its own audit session, and everything started in that
    login (every channel of a multiplexed connection, sudo, child processes) shares it. In the lab:
    - inside an SSH login: the per-connection sshd process (the child of the sshd listener, i.e.
      `sshd: user [priv]`), named by its pid and start time;
    - otherwise (nsenter from `lab/meshlab exec`, a test on the host, a launchd job with
      SessionCreate): the kernel session (getsid) and its leader's start time. `setsid` therefore
      starts a new session, like SessionCreate.
    The result is a file-name-safe string.
    """
    chain = []
    pid = os.getpid()
    while pid > 1 and len(chain) < 64:
        info = _proc_stat(pid)
        if info is None:
            break
        chain.append((pid, info))
        pid = info[1]
    sshd = [(p, i) for p, i in chain if i[0] == "sshd"]
    if len(sshd) >= 2:
        # chain goes child -> parent: the last sshd is the listener, the one before it the login.
        login_pid, login_info = sshd[-2]
        return "ssh-%d-%s" % (login_pid, login_info[2])
    sid = os.getsid(0)
    info = _proc_stat(sid)
    return "sid-%d-%s" % (sid, info[2] if info else "0")


def current_user():
    """(name, uid) of the calling process' real user."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return name, uid


def home_dir():
    """HOME as the process sees it: macOS `security` resolves the user's keychains through HOME
    (reference §2.6, HOME=/tmp/isolated), so the emulator does the same, falling back to passwd."""
    home = os.environ.get("HOME")
    if home:
        return home
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return "/"


def ensure_dir(path, mode=0o755):
    """mkdir -p with an explicit mode on the directories it creates (umask-proof)."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path.rstrip("/"))
    if parent and parent != path:
        ensure_dir(parent, mode)
    try:
        os.mkdir(path, mode)
        os.chmod(path, mode)
    except FileExistsError:
        pass


def audit(argv):
    """Append one JSON line {ts, node, user, uid, argv} to the audit log.

    argv is logged exactly as given (that is the point: it shows what a caller put on the command
    line). stdin is never logged. The directory is sticky and world-writable and the file 0666 so
    every user of the node can append, whoever ran first.
    """
    name, uid = current_user()
    record = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "node": node_name(),
        "user": name,
        "uid": uid,
        "argv": list(argv),
    }
    line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    path = audit_path()
    try:
        ensure_dir(os.path.dirname(path), 0o1777)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if os.fstat(fd).st_uid == os.geteuid():
                os.fchmod(fd, 0o666)
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as exc:
        # A lab misconfiguration, not a macOS behaviour: say so loudly rather than lose the trail.
        sys.stderr.write("macemu: cannot write audit log %s: %s\n" % (path, exc))
