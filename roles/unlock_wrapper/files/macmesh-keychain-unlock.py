#!/usr/bin/python3
# Managed by the macmesh.signing.unlock_wrapper role: local edits are overwritten.
# The file must be byte-identical on every node: compliance compares its sha256 across regions,
# so nothing host-specific (not even `ansible_managed`, which may name the host) belongs here.
"""Unlock, lock or report the CI signing keychain without the password touching argv or env.

Usage:
  macmesh-keychain-unlock [unlock] [--keychain PATH] 3<PASSWORD_SOURCE
  macmesh-keychain-unlock lock     [--keychain PATH]
  macmesh-keychain-unlock status   [--keychain PATH]

unlock  reads the keychain password from file descriptor 3 (one line, at most one trailing
        newline, characters [A-Za-z0-9_.,:+=@%/-] only) and feeds it to `security -i` on stdin.
lock    locks the keychain.
status  prints "unlocked" or "locked".

Every call appends one JSON line to the audit log (LOG_PATH, or log_path in CONFIG_PATH): ts, correlation_id
(MACMESH_CORRELATION_ID or a new uuid4), user, keychain, action, latency_ms, result, state, error.
The password is never logged; error texts from `security` are scrubbed of it.

Exit codes: 0 ok, 2 wrong password, 3 keychain not found, 4 keychain locked after unlock,
1 other `security` failure, 64 usage, 65 password refused (empty, too long or outside the
alphabet), 66 file descriptor 3 not open, 73 log file not writable (nothing was attempted),
78 the configuration file (CONFIG_PATH) is unsafe or invalid (nothing was attempted),
124 a security call did not finish within 30 s (stopped; the message names the likely causes).
"""

import datetime
import errno
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import time
import uuid

SECURITY = "/usr/bin/security"
# The mesh layout's defaults (plugins/module_utils/_layout.py); CONFIG_PATH moves them on a node.
DEFAULT_KEYCHAIN = "/Users/ci-build/Library/Keychains/ci-build.keychain-db"
LOG_PATH = "/Library/Logs/MacMesh/keychain-unlock.log"
CONFIG_PATH = "/usr/local/etc/macmesh/wrapper.json"
PASSWORD_FD = 3
MAX_PASSWORD = 1024
SAFE_SECRET = re.compile(r"[A-Za-z0-9_.,:+=@%/-]+")
SAFE_CORRELATION = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
WRONG_PASSWORD = "The user name or passphrase you entered is not correct."
NOT_FOUND = "could not be found"
NO_INTERACTION = "User interaction is not allowed."
# What `security -i` prints after a failed command, e.g. "unlock-keychain: returned 51".
RETURNED = re.compile(r"[A-Za-z-]+: returned -?[0-9]+")

EX_OK, EX_FAIL, EX_WRONG_PASSWORD, EX_NOT_FOUND, EX_STILL_LOCKED = 0, 1, 2, 3, 4
EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_CANTCREAT, EX_CONFIG, EX_TIMEOUT = 64, 65, 66, 73, 78, 124
SECURITY_TIMEOUT = 30


class WrapperError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def security(args, stdin_text=None):
    """Run /usr/bin/security with a fixed locale; returns (rc, out, err)."""
    try:
        proc = subprocess.run(
            [SECURITY] + args,
            input=stdin_text if stdin_text is not None else "",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            env={"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": os.environ.get("HOME", "/")},
            check=False,
            timeout=SECURITY_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        # A blocked securityd (reference §4.2) must not hang the caller.
        raise WrapperError(EX_TIMEOUT, "security %s did not finish within %d s and was stopped; likely causes: "
                           "the keychain is locked and securityd waits for a password prompt, or a dialog "
                           "is waiting on the screen" % (args[0] if args else "", SECURITY_TIMEOUT))
    return proc.returncode, proc.stdout, proc.stderr


def read_password():
    """The password from FD 3, validated; raises WrapperError before anything runs."""
    try:
        os.fstat(PASSWORD_FD)
    except OSError:
        raise WrapperError(
            EX_NOINPUT,
            "file descriptor 3 is not open: pass the keychain password on FD 3, e.g. "
            "`macmesh-keychain-unlock 3<\"$PASSWORD_FILE\"`",
        )
    chunks, size = [], 0
    while size <= MAX_PASSWORD:
        chunk = os.read(PASSWORD_FD, 4096)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    os.close(PASSWORD_FD)
    data = b"".join(chunks)
    if data.endswith(b"\n"):
        data = data[:-1]
    if data.endswith(b"\r"):
        data = data[:-1]
    if not data:
        raise WrapperError(EX_DATAERR, "the password read from FD 3 is empty")
    if len(data) > MAX_PASSWORD:
        raise WrapperError(EX_DATAERR, "the password read from FD 3 is longer than %d bytes" % MAX_PASSWORD)
    text = data.decode("ascii", errors="replace")
    if not SAFE_SECRET.fullmatch(text):
        # `security -i` tokenises its input: outside this alphabet the password could split or
        # leak into another command, so it is refused rather than escaped.
        raise WrapperError(
            EX_DATAERR,
            "the password read from FD 3 contains characters outside [A-Za-z0-9_.,:+=@%/-]",
        )
    return text


def scrub(text, secret):
    """`security` output without the secret and without blank lines, bounded in size."""
    if secret:
        text = text.replace(secret, "********")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # `security -i` prints its prompt; it carries no information.
    lines = [line for line in lines if line not in ("security>",)]
    return " | ".join(lines)[:1000]


def keychain_state(keychain):
    """("unlocked" | "locked" | "missing", error text)."""
    rc, out, err = security(["show-keychain-info", keychain])
    text = out + err
    if rc == 0 and NO_INTERACTION not in text:
        return "unlocked", ""
    if NO_INTERACTION in text:
        return "locked", ""
    if NOT_FOUND in text:
        return "missing", scrub(text, None)
    raise WrapperError(EX_FAIL, "security show-keychain-info failed: %s" % scrub(text, None))


def do_status(keychain, _password):
    state, error = keychain_state(keychain)
    if state == "missing":
        raise WrapperError(EX_NOT_FOUND, "keychain not found: %s (%s)" % (keychain, error))
    print(state)
    return state


def do_lock(keychain, _password):
    rc, out, err = security(["lock-keychain", keychain])
    if rc != 0:
        text = scrub(out + err, None)
        code = EX_NOT_FOUND if NOT_FOUND in text else EX_FAIL
        raise WrapperError(code, "security lock-keychain failed: %s" % text)
    print("locked")
    return "locked"


def do_unlock(keychain, password):
    # The only channel for the secret: one line on the stdin of `security -i`.
    command = 'unlock-keychain -p "%s" "%s"\n' % (password, keychain)
    rc, out, err = security(["-i"], stdin_text=command)
    text = scrub(out + err, password)
    if WRONG_PASSWORD in text:
        raise WrapperError(EX_WRONG_PASSWORD, "wrong keychain password for %s: %s" % (keychain, text))
    if NOT_FOUND in text:
        raise WrapperError(EX_NOT_FOUND, "keychain not found: %s (%s)" % (keychain, text))
    if rc != 0 or "security:" in text or RETURNED.search(text):
        raise WrapperError(EX_FAIL, "security unlock-keychain failed: %s" % (text or "exit %d" % rc))
    # `security -i` does not always report a failed command in its exit status: check the result.
    state, error = keychain_state(keychain)
    if state != "unlocked":
        raise WrapperError(EX_STILL_LOCKED, "keychain %s is %s after unlock %s" % (keychain, state, error))
    print("unlocked")
    return state


ACTIONS = {"unlock": do_unlock, "lock": do_lock, "status": do_status}


def configure():
    """Take the node's layout paths from CONFIG_PATH, written by the unlock_wrapper role.

    The file is optional (the built-in defaults are the mesh layout's); when present it must be a
    regular file owned by this script's owner and writable by no one else, holding a JSON object with
    only the keys keychain_path and log_path, each an absolute path in [A-Za-z0-9_.,:+=@%/-].
    """
    global DEFAULT_KEYCHAIN, LOG_PATH
    try:
        fd = os.open(CONFIG_PATH, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return
        raise WrapperError(EX_CONFIG, "%s cannot be read (%s)" % (CONFIG_PATH, exc.strerror))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        owner = os.stat(os.path.abspath(__file__)).st_uid
        if not stat.S_ISREG(info.st_mode) or info.st_uid != owner or info.st_mode & 0o022:
            message = "must be a regular file owned by uid %d and writable by no one else" % owner
            raise WrapperError(EX_CONFIG, "%s %s" % (CONFIG_PATH, message))
        try:
            config = json.loads(handle.read(65536).decode("utf-8"))
        except ValueError as exc:
            raise WrapperError(EX_CONFIG, "%s is not JSON (%s)" % (CONFIG_PATH, exc))
    if not isinstance(config, dict):
        raise WrapperError(EX_CONFIG, "%s must hold a JSON object" % CONFIG_PATH)
    for key in sorted(config):
        value = config[key]
        if key not in ("keychain_path", "log_path"):
            raise WrapperError(EX_CONFIG, "%s: unknown field %r (known: keychain_path, log_path)" % (CONFIG_PATH, key))
        if not isinstance(value, str) or not value.startswith("/") or not SAFE_SECRET.fullmatch(value):
            message = "field %s must be an absolute path in [A-Za-z0-9_.,:+=@%%/-]" % key
            raise WrapperError(EX_CONFIG, "%s: %s" % (CONFIG_PATH, message))
    DEFAULT_KEYCHAIN = config.get("keychain_path", DEFAULT_KEYCHAIN)
    LOG_PATH = config.get("log_path", LOG_PATH)


def parse_args(argv):
    action, keychain = "unlock", DEFAULT_KEYCHAIN
    args = list(argv)
    if args and args[0] in ACTIONS:
        action = args.pop(0)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            print(__doc__)
            sys.exit(EX_OK)
        if arg == "--keychain" and args:
            keychain = args.pop(0)
        elif arg.startswith("--keychain="):
            keychain = arg.split("=", 1)[1]
        else:
            raise WrapperError(EX_USAGE, "unknown argument %r (see --help)" % arg)
    if not keychain.startswith("/") or not SAFE_SECRET.fullmatch(keychain):
        raise WrapperError(EX_USAGE, "--keychain must be an absolute path in [A-Za-z0-9_.,:+=@%/-]")
    return action, keychain


def correlation_id():
    value = os.environ.get("MACMESH_CORRELATION_ID", "")
    return value if SAFE_CORRELATION.fullmatch(value) else str(uuid.uuid4())


def open_log():
    try:
        return os.open(LOG_PATH, os.O_WRONLY | os.O_APPEND)
    except OSError as exc:
        raise WrapperError(EX_CANTCREAT, "cannot append to %s (%s): refusing to run unaudited" % (
            LOG_PATH, exc.strerror))


def main(argv):
    started = time.monotonic()
    try:
        configure()
    except WrapperError as exc:
        # Nothing attempted, nothing logged: the configuration names the log.
        sys.stderr.write("macmesh-keychain-unlock: %s\n" % exc)
        return exc.code
    record = {
        "ts": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "correlation_id": correlation_id(),
        "user": pwd.getpwuid(os.getuid()).pw_name,
        "keychain": DEFAULT_KEYCHAIN,
        "action": "unlock",
        "latency_ms": 0,
        "result": "error",
        "state": None,
        "error": "",
    }
    log_fd = None
    code = EX_OK
    try:
        # FD 3 is read before any file is opened: the log would otherwise take number 3.
        try:
            record["action"], record["keychain"] = parse_args(argv)
            password = read_password() if record["action"] == "unlock" else None
        finally:
            log_fd = open_log()
        record["state"] = ACTIONS[record["action"]](record["keychain"], password)
        record["result"] = "ok"
    except WrapperError as exc:
        code = exc.code
        record["error"] = str(exc)
        sys.stderr.write("macmesh-keychain-unlock: %s\n" % exc)
    finally:
        record["latency_ms"] = int((time.monotonic() - started) * 1000)
        if log_fd is not None:
            os.write(log_fd, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
            os.close(log_fd)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
