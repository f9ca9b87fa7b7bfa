"""`chflags`: BSD file flags. The lab keeps the one the collection sets: the system append-only flag.

`sappnd` (alias `sappend`) is Linux's append-only inode flag (FS_APPEND_FL, what `chattr +a` sets), which
the kernel enforces as macOS enforces SF_APPEND: a write-open without O_APPEND, truncation, rename, unlink,
chmod and chown fail with EPERM, for root too; appends work; only a privileged process sets or clears it.
Clearing it (`nosappnd`) is refused with EPERM, for root too: BSD's chflags(1) allows it only at securelevel
0 or -1, and "Mac OS X in a Nutshell" says only in single-user mode; where the sources disagree the lab is the
stricter Mac (assumed). A test that must tamper with a sealed file does it as single-user mode would, with the
Linux tool (`chattr -a`). Flags this lab does not keep are refused, never accepted and ignored. See
lab/emulator/SYSTEM.md.
"""

import array
import fcntl
import os
import sys

import common

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_APPEND_FL = 0x00000020
# flag name -> set it? (clearing is refused: see chflags_main)
KEPT = {"sappnd": True, "sappend": True, "nosappnd": False, "nosappend": False}
# Valid on macOS (chflags(1)), not kept by the lab.
MACOS_ONLY = ("arch", "archived", "opaque", "nodump", "schg", "schange", "simmutable", "uappnd", "uappend",
              "uchg", "uchange", "uimmutable", "hidden", "restricted", "sunlnk", "sunlink")
USAGE = "usage: chflags [-fhvx] [-R [-H | -L | -P]] flags file ...\n"


def _err(text):
    sys.stderr.write("chflags: %s\n" % text)


def _flags(fd):
    buf = array.array("i", [0])
    fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
    return buf[0]


def set_append(path):
    """Set the append-only flag on ``path`` (followed, as chflags without -h does)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        old = _flags(fd)
        if not old & FS_APPEND_FL:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, array.array("i", [old | FS_APPEND_FL]), False)
    finally:
        os.close(fd)


def chflags_main(argv):
    common.audit(argv)
    args = argv[1:]
    quiet = verbose = False
    while args and args[0].startswith("-") and args[0] != "-":
        option = args.pop(0)
        if option == "--":
            break
        for letter in option[1:]:
            if letter == "f":
                quiet = True
            elif letter == "v":
                verbose = True
            elif letter in "hxRHLP":
                _err("lab: option -%s is not emulated" % letter)
                return 1
            else:
                _err("illegal option -- %s" % letter)
                sys.stderr.write(USAGE)
                return 1
    if len(args) < 2:
        sys.stderr.write(USAGE)
        return 1
    changes = []
    for name in args[0].split(","):
        if name in KEPT:
            changes.append(KEPT[name])
        elif name in MACOS_ONLY or (name.startswith("no") and name[2:] in MACOS_ONLY):
            _err("lab: flag %s is not emulated (only sappnd/nosappnd)" % name)
            return 1
        else:
            # chflags.c: strtofflags() fails -> errx(1, "invalid flag: %s", flags)
            _err("invalid flag: %s" % args[0])
            return 1
    status = 0
    for path in args[1:]:
        try:
            for wanted in changes:
                if not wanted:
                    # securelevel > 0: the system flags are cleared only in single-user mode (assumed).
                    os.stat(path)
                    raise OSError(1, os.strerror(1))
                set_append(path)
        except OSError as exc:
            if not quiet:
                _err("%s: %s" % (path, os.strerror(exc.errno) if exc.errno else exc))
                status = 1
            continue
        if verbose:
            sys.stdout.write(path + "\n")
    return status
