"""`/usr/bin/pmset` for the lab's macOS emulator: only `sleepnow` (test equipment).

`pmset sleepnow` records a sleep on the node's clock in the run dir; every keychain with the
lock-on-sleep setting that was unlocked before it is locked from then on (keychain.Keychain._session).
The machine does not really sleep: processes keep running.
"""

import os
import sys

import common

USAGE = "Usage: pmset sleepnow\n"


def main(argv):
    common.audit(argv)
    if argv[1:] != ["sleepnow"]:
        sys.stderr.write(USAGE)
        return 1
    common.ensure_dir(common.run_dir(), 0o1777)
    path = os.path.join(common.run_dir(), "last_sleep")
    tmp = "%s.%d" % (path, os.getpid())
    with open(tmp, "w") as handle:
        handle.write("%.6f\n" % common.now())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    sys.stdout.write("Sleeping now...\n")
    return 0
