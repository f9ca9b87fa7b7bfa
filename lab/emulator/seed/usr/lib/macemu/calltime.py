"""What the test equipment itself costs: one line per emulated command, written at exit.

Imported first by every launcher in the seed (/usr/bin/security, /usr/sbin/sysctl, ...), before the
command's own modules, so that `run_s` covers imports and the command. The process' CPU time
(`cpu_s`, from getrusage) and `wall_s` (from the kernel's process start time, 10 ms resolution)
also cover the interpreter start-up. The benchmarks (benchmarks/) read the log straight from each
node's disk and report the emulator's share next to every ratio.

The log is `calltime.log` next to the audit log (MACEMU_AUDIT's directory, /var/log/macemu on a
node) unless MACEMU_CALLTIME names another file; MACEMU_CALLTIME=off turns it off. One JSON line:
{"cmd": "security", "sub": "find-identity", "pid": 123, "wall_s": 0.09, "run_s": 0.071,
"cpu_s": 0.08}. Nothing here prints: a command's output is unchanged.

This module only uses what the interpreter has already loaded at start-up (os, sys, time), plus
atexit and resource, so it adds well under a millisecond.
"""

import atexit
import os
import sys
import time

T0 = time.monotonic()


def log_path():
    explicit = os.environ.get("MACEMU_CALLTIME")
    if explicit:
        return None if explicit == "off" else explicit
    audit = os.environ.get("MACEMU_AUDIT", "/var/log/macemu/audit.log")
    return os.path.join(os.path.dirname(audit), "calltime.log")


def _process_age():
    """Seconds since the kernel started this process (field 22 of /proc/self/stat), or None."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        start = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _subcommand(argv):
    """The first argument that is not an option (security's `find-identity`), or ""."""
    for arg in argv[1:]:
        if not arg.startswith("-"):
            return arg
    return ""


def _record():
    path = log_path()
    if not path:
        return
    try:
        import json
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        age = _process_age()
        record = {
            "cmd": os.path.basename(sys.argv[0]) if sys.argv else "",
            "sub": _subcommand(sys.argv or []),
            "pid": os.getpid(),
            "run_s": round(time.monotonic() - T0, 4),
            "wall_s": None if age is None else round(age, 3),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 4),
        }
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        directory = os.path.dirname(path)
        if directory and not os.path.isdir(directory):
            return  # the audit log's directory appears with the first audited call; never create it here
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if os.fstat(fd).st_uid == os.geteuid():
                os.fchmod(fd, 0o666)  # every user of the node appends, whoever ran first
            os.write(fd, line)
        finally:
            os.close(fd)
    except Exception:  # noqa: BLE001 - measuring must never change what the command does
        pass


atexit.register(_record)
