"""Emulated launchd (system domain only) and `launchctl` for the lab nodes (test equipment).

What it does, and nothing more (sources in lab/emulator/README.md, "launchd" rows):
- `launchctl bootstrap system PLIST`, `enable|disable system/LABEL`, `kickstart [-k] [-p] system/LABEL`,
  `print system/LABEL`, `bootout system/LABEL|system PLIST`.
- A job really runs: launchd forks a supervisor, which forks the job: setsid(2), the plist's
  UserName (initgroups/setgid/setuid, HOME/USER/LOGNAME/SHELL from passwd), WorkingDirectory,
  EnvironmentVariables, stdin /dev/null, StandardOutPath/StandardErrorPath opened for append.
- The security session of a job: with SessionCreate the job gets a session of its own; without
  it, it runs in the system session, where no user keychain can be used (codesign says
  errSecInternalComponent; reference §2.1 "codesign over SSH / launchd"). The emulator records
  that per POSIX session id in MACEMU_RUN/launchd/sessions/<sid>.json, which every process the
  job starts inherits.
- StartInterval re-runs the job every N seconds (the supervisor sleeps); RunAtLoad runs it at
  bootstrap and at boot. `boot()` (called by lab/meshlab's init at every boot, before sshd)
  bootstraps every plist in /Library/LaunchDaemons that is not disabled, and removes the
  mount points left in /Volumes by RAM disks that died with the previous boot.

State: loaded jobs in MACEMU_RUN/launchd/jobs/<label>.json (volatile: a reboot unloads every job);
enable/disable overrides in MACEMU_STATE/launchd/disabled.json (persistent, like
/var/db/com.apple.xpc.launchd/disabled.plist).
"""

import errno
import fcntl
import grp
import json
import os
import plistlib
import pwd
import signal
import sys
import time

import common

DAEMONS_DIR = "/Library/LaunchDaemons"
DEFAULT_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
USAGE = "Usage: launchctl <subcommand> ... | help [subcommand]"


class LaunchError(Exception):
    def __init__(self, message, code):
        super().__init__(message)
        self.message = message
        self.code = code


def _dir(*parts):
    path = os.path.join(common.run_dir(), "launchd", *parts)
    common.ensure_dir(path, 0o755)
    return path


def _job_path(label):
    return os.path.join(_dir("jobs"), label + ".json")


def _lock():
    fd = os.open(os.path.join(_dir(), "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _disabled_path():
    base = os.path.join(common.state_dir(), "launchd")
    common.ensure_dir(base, 0o755)
    return os.path.join(base, "disabled.json")


def _disabled():
    try:
        with open(_disabled_path()) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _set_disabled(label, value):
    data = _disabled()
    data[label] = value
    tmp = _disabled_path() + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, sort_keys=True)
    os.replace(tmp, _disabled_path())


def load_job(label):
    try:
        with open(_job_path(label)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def save_job(job):
    tmp = _job_path(job["label"]) + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(job, handle, sort_keys=True)
    os.replace(tmp, _job_path(job["label"]))


def _alive(pid):
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# --- sessions -------------------------------------------------------------------------------


def _session_path(sid):
    return os.path.join(_dir("sessions"), "%d.json" % sid)


def _proc_start(pid):
    """Start time of a process (field 22 of /proc/PID/stat): tells a reused PID from the original."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _forget_session(sid):
    try:
        os.unlink(_session_path(sid))
    except OSError:
        pass


def session_of_process():
    """The launchd session record of the calling process' POSIX session, or None (not a launchd job)."""
    sid = os.getsid(0)
    try:
        with open(_session_path(sid)) as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    if record.get("leader_start") != _proc_start(sid):
        return None  # a stale record of a job whose session id was reused
    return record


def in_system_session():
    """True for a process of a launchd job without SessionCreate: no user keychain is usable there."""
    record = session_of_process()
    return bool(record) and not record.get("session_create")


# --- plist ----------------------------------------------------------------------------------


def read_plist(path):
    try:
        with open(path, "rb") as handle:
            data = plistlib.load(handle)
    except FileNotFoundError:
        raise LaunchError("Bootstrap failed: 2: No such file or directory", 2)
    except (OSError, ValueError, plistlib.InvalidFileException):
        raise LaunchError("Bootstrap failed: 5: Input/output error", 5)
    if not isinstance(data, dict) or not isinstance(data.get("Label"), str) or not (
            isinstance(data.get("ProgramArguments"), list) or isinstance(data.get("Program"), str)):
        raise LaunchError("Bootstrap failed: 5: Input/output error", 5)
    return data


# --- running a job --------------------------------------------------------------------------


def _child_env(plist, user):
    env = {"PATH": DEFAULT_PATH, "XPC_SERVICE_NAME": plist["Label"]}
    if user is not None:
        env.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name, SHELL=user.pw_shell, TMPDIR="/tmp/")
    else:
        env.update(HOME="/var/root" if os.path.isdir("/var/root") else "/root", USER="root", LOGNAME="root")
    for key, value in (plist.get("EnvironmentVariables") or {}).items():
        env[str(key)] = str(value)
    return env


def _exec_job(plist):
    """In the forked job process: new POSIX session, session record, user, cwd, stdio, exec. Never returns."""
    try:
        os.setsid()
        sid = os.getsid(0)
        name = plist.get("UserName")
        user = pwd.getpwnam(name) if name else None
        record = {"label": plist["Label"], "session_create": bool(plist.get("SessionCreate")),
                  "user": name or "root", "leader_start": _proc_start(sid)}
        with open(_session_path(sid), "w") as handle:
            json.dump(record, handle)
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        for fd, key in ((1, "StandardOutPath"), (2, "StandardErrorPath")):
            path = plist.get(key)
            target = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else \
                os.open("/dev/null", os.O_WRONLY)
            os.dup2(target, fd)
        os.closerange(3, 1024)
        if user is not None:
            gid = plist.get("GroupName") and grp.getgrnam(plist["GroupName"]).gr_gid or user.pw_gid
            os.initgroups(user.pw_name, gid)
            os.setgid(gid)
            os.setuid(user.pw_uid)
        os.chdir(plist.get("WorkingDirectory") or "/")
        argv = plist.get("ProgramArguments") or [plist["Program"]]
        program = plist.get("Program") or argv[0]
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.execve(program, argv, _child_env(plist, user))
    except BaseException as exc:  # the job's stderr is the plist's StandardErrorPath
        try:
            os.write(2, ("launchd: %s: %s\n" % (plist.get("Label"), exc)).encode())
        finally:
            os._exit(78)


def _supervise(label):
    """The supervisor process: run the job, record its exit, repeat every StartInterval."""
    while True:
        job = load_job(label)
        if job is None:
            os._exit(0)
        plist = job["plist"]
        pid = os.fork()
        if pid == 0:
            _exec_job(plist)
        fd = _lock()
        job = load_job(label) or job
        job.update(pid=pid, state="running", runs=job.get("runs", 0) + 1)
        save_job(job)
        os.close(fd)
        _pid, status = os.waitpid(pid, 0)
        _forget_session(pid)
        fd = _lock()
        job = load_job(label)
        if job is None or job.get("supervisor") != os.getpid():
            os._exit(0)
        code = os.waitstatus_to_exitcode(status)
        job.update(pid=None, state="not running", last_exit=code)
        save_job(job)
        os.close(fd)
        interval = plist.get("StartInterval")
        if not isinstance(interval, int) or interval <= 0:
            os._exit(0)
        time.sleep(interval)


def start(job):
    """Fork a detached supervisor for the job (it is reparented to the node's init)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.closerange(0, 1024)
            null = os.open("/dev/null", os.O_RDWR)
            os.dup2(null, 1)
            os.dup2(null, 2)
            middle = os.fork()
            if middle:
                os._exit(0)
            job = load_job(job["label"])
            job["supervisor"] = os.getpid()
            save_job(job)
            _supervise(job["label"])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    # The supervisor records itself; wait (bounded) so that print right after shows the run.
    deadline = time.time() + 5
    while time.time() < deadline:
        current = load_job(job["label"]) or {}
        if current.get("supervisor") and (current.get("pid") or current.get("runs", 0) > job.get("runs", 0)):
            return
        time.sleep(0.02)


def _kill(job):
    """SIGKILL the supervisor, SIGTERM the job's process group (SIGKILL after 5 s), as bootout does."""
    supervisor, pid = job.get("supervisor"), job.get("pid")
    if supervisor and _alive(supervisor):
        try:
            os.kill(supervisor, signal.SIGKILL)
        except OSError:
            pass
    if not pid or not _alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        pass
    deadline = time.time() + 5
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.02)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    _forget_session(pid)


# --- subcommands ----------------------------------------------------------------------------


def _need_root(verb):
    if os.geteuid() != 0:
        raise LaunchError("%s failed: 1: Operation not permitted" % verb, 1)


def _service(target):
    if not target.startswith("system/") or len(target) <= len("system/"):
        raise LaunchError(USAGE, 64)
    return target[len("system/"):]


def _not_found(label):
    return LaunchError('Could not find service "%s" in domain for system' % label, 113)


def bootstrap(domain, paths):
    if domain != "system":
        raise LaunchError(USAGE, 64)
    _need_root("Bootstrap")
    for path in paths:
        plist = read_plist(path)
        label = plist["Label"]
        fd = _lock()
        try:
            if load_job(label) is not None:
                raise LaunchError("Bootstrap failed: 5: Input/output error", 5)
            if _disabled().get(label):
                raise LaunchError("Bootstrap failed: 119: Service is disabled", 119)
            job = {"label": label, "path": os.path.abspath(path), "plist": plist, "loaded_at": time.time(),
                   "pid": None, "supervisor": None, "runs": 0, "last_exit": None, "state": "not running"}
            save_job(job)
        finally:
            os.close(fd)
        if plist.get("RunAtLoad"):
            start(job)


def bootout(target, paths=None):
    _need_root("Boot-out")
    if paths:
        labels = [read_plist(path)["Label"] for path in paths]
    else:
        labels = [_service(target)]
    for label in labels:
        fd = _lock()
        try:
            job = load_job(label)
            if job is None:
                raise LaunchError("Boot-out failed: 3: No such process", 3)
            os.unlink(_job_path(label))
        finally:
            os.close(fd)
        _kill(job)


def enable(target, value):
    _need_root("Enable" if not value else "Disable")
    _set_disabled(_service(target), value)


def kickstart(target, kill):
    _need_root("Kickstart")
    label = _service(target)
    job = load_job(label)
    if job is None:
        raise _not_found(label)
    if _alive(job.get("pid")) and not kill:
        return job
    _kill(job)  # also a supervisor sleeping out its StartInterval
    job = load_job(label)
    job["supervisor"] = None
    save_job(job)
    start(job)
    return load_job(label)


def print_service(target):
    label = _service(target)
    job = load_job(label)
    if job is None:
        raise _not_found(label)
    plist = job["plist"]
    running = _alive(job.get("pid"))
    argv = plist.get("ProgramArguments") or [plist.get("Program")]
    lines = ["system/%s = {" % label,
             "\tactive count = %d" % (1 if running else 0),
             "\tpath = %s" % job["path"],
             "\ttype = LaunchDaemon",
             "\tstate = %s" % ("running" if running else "not running"),
             "",
             "\tprogram = %s" % (plist.get("Program") or argv[0]),
             "\targuments = {"]
    lines += ["\t\t%s" % arg for arg in argv]
    lines += ["\t}", ""]
    if plist.get("WorkingDirectory"):
        lines.append("\tworking directory = %s" % plist["WorkingDirectory"])
    for key, name in (("StandardOutPath", "stdout path"), ("StandardErrorPath", "stderr path")):
        if plist.get(key):
            lines.append("\t%s = %s" % (name, plist[key]))
    env = plist.get("EnvironmentVariables") or {}
    if env:
        lines.append("\tenvironment = {")
        lines += ["\t\t%s => %s" % (key, env[key]) for key in sorted(env)]
        lines.append("\t}")
    lines += ["", "\tdomain = system"]
    if plist.get("UserName"):
        lines.append("\tusername = %s" % plist["UserName"])
    lines.append("\tsession create = %d" % (1 if plist.get("SessionCreate") else 0))
    if plist.get("StartInterval"):
        lines.append("\trun interval = %d seconds" % plist["StartInterval"])
    lines.append("\truns = %d" % job.get("runs", 0))
    if running:
        lines.append("\tpid = %d" % job["pid"])
    lines.append("\tlast exit code = %s" % ("(never exited)" if job.get("last_exit") is None else job["last_exit"]))
    properties = [name for key, name in (("RunAtLoad", "runatload"), ("KeepAlive", "keepalive")) if plist.get(key)]
    if properties:
        lines.append("\tproperties = %s" % " | ".join(properties))
    lines.append("}")
    return "\n".join(lines) + "\n"


def boot():
    """At every node boot (lab/meshlab init, before sshd): clean /Volumes, load /Library/LaunchDaemons."""
    # Directories every macOS install has (the node's disk starts with an empty /Library).
    for path in (DAEMONS_DIR, "/Library/LaunchAgents", "/etc/newsyslog.d", "/Volumes"):
        common.ensure_dir(path, 0o755)
    if os.path.isdir("/Volumes"):
        for name in os.listdir("/Volumes"):
            path = os.path.join("/Volumes", name)
            if os.path.isdir(path) and not os.path.ismount(path):
                try:
                    os.rmdir(path)  # a RAM disk's mount point: the RAM disk died with the last boot
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
    if not os.path.isdir(DAEMONS_DIR):
        return 0
    for name in sorted(os.listdir(DAEMONS_DIR)):
        if not name.endswith(".plist"):
            continue
        try:
            bootstrap("system", [os.path.join(DAEMONS_DIR, name)])
        except LaunchError as exc:
            sys.stderr.write("launchd boot: %s: %s\n" % (name, exc.message))
    return 0


def main(argv):
    common.audit(argv)
    args = argv[1:]
    try:
        if not args:
            raise LaunchError(USAGE, 64)
        verb = args.pop(0)
        if verb == "bootstrap" and len(args) >= 2:
            bootstrap(args[0], args[1:])
        elif verb == "bootout" and args:
            bootout(args[0], args[1:] if args[0] == "system" else None)
        elif verb in ("enable", "disable") and len(args) == 1:
            enable(args[0], verb == "disable")
        elif verb == "kickstart" and args:
            flags = [arg for arg in args[:-1]]
            if any(flag not in ("-k", "-p", "-s") for flag in flags):
                raise LaunchError(USAGE, 64)
            job = kickstart(args[-1], "-k" in flags)
            if "-p" in flags and job and job.get("pid"):
                print(job["pid"])
        elif verb == "print" and len(args) == 1:
            sys.stdout.write(print_service(args[0]))
        else:
            raise LaunchError('Unrecognized subcommand: %s\n%s' % (verb, USAGE) if verb not in (
                "bootstrap", "bootout", "enable", "disable", "kickstart", "print") else USAGE, 64)
    except LaunchError as exc:
        sys.stderr.write(exc.message + "\n")
        return exc.code
    return 0
