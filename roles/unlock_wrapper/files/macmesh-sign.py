#!/usr/bin/python3
# Managed by the macmesh.signing.unlock_wrapper role: local edits are overwritten.
# Byte-identical on every node (compliance compares its sha256): nothing host-specific here.
"""Sign in one process: unlock, sign, lock. The password comes on FD 3 and never reaches argv or env.

Usage:
  macmesh-sign [--keychain PATH] [--timeout SECONDS] [--no-unlock] -- codesign|productsign ARGS... 3<PASSWORD_SOURCE

1. reads the keychain password from FD 3 (same rules as macmesh-keychain-unlock);
2. re-asserts the search list under the user's lock (the keychain first, other entries kept);
3. unlocks the keychain with `security -i` (password on stdin);
4. runs /usr/bin/codesign or /usr/bin/productsign with ARGS, bounded by --timeout (default 120 s);
5. locks the keychain again, whatever happened.
--no-unlock skips steps 1 and 3 (a probe of what signing does with the keychain as it is).

Every run appends one JSON line to the audit log (LOG_PATH, or log_path in CONFIG_PATH): ts, correlation_id, user, keychain,
action "sign", tool, identity (the -s/--sign SHA-1 or name), latency_ms, result, rc, error. Never the
password (error texts are scrubbed of it).

Exit codes: the tool's own status when it ran; 2 wrong password, 3 keychain not found, 4 still
locked after unlock, 5 the chain of the identity is incomplete (missing intermediate), 64 usage,
65 password refused, 66 FD 3 not open, 73 log not writable, 75 search-list lock busy,
78 the configuration file (CONFIG_PATH) is unsafe or invalid,
124 the tool did not finish within --timeout (it was killed; the message names the likely causes).
"""

import datetime
import errno
import fcntl
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
TOOLS = {"codesign": "/usr/bin/codesign", "productsign": "/usr/bin/productsign"}
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
NO_CHAIN = re.compile(r'unable to build chain to self-signed root for signer "([^"]*)"')
SECURITY_TIMEOUT = 30
LOCK_NAME = ".macmesh-keychain-lists.lock"
TIMEOUT_CAUSES = (
    "the keychain is locked (relocked by its timeout or lock-on-sleep, or unlocked in another login "
    "session) and securityd is waiting for a password prompt; the key's partition list lacks "
    "'apple:' (set-key-partition-list -S apple-tool:,apple:); or a dialog is waiting on the screen"
)

EX_CHAIN, EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_CANTCREAT, EX_TEMPFAIL = 5, 64, 65, 66, 73, 75
EX_CONFIG, EX_TIMEOUT = 78, 124


class SignError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def run(argv, stdin_text="", timeout=SECURITY_TIMEOUT):
    """(rc, out, err) of argv with a fixed locale, killed after timeout (SignError 124)."""
    try:
        proc = subprocess.run(
            argv, input=stdin_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
            env={"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": os.environ.get("HOME", "/")},
            timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SignError(EX_TIMEOUT, "%s did not finish within %d s and was stopped; likely causes: %s" % (
            " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv[:2])), timeout,
            TIMEOUT_CAUSES))
    return proc.returncode, proc.stdout, proc.stderr


def scrub(text, secret):
    if secret:
        text = text.replace(secret, "********")
    lines = [line.strip() for line in text.splitlines() if line.strip() and line.strip() != "security>"]
    return " | ".join(lines)[:1000]


def read_password():
    try:
        os.fstat(PASSWORD_FD)
    except OSError:
        raise SignError(EX_NOINPUT, "file descriptor 3 is not open: pass the keychain password on FD 3")
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
    if not data or len(data) > MAX_PASSWORD:
        raise SignError(EX_DATAERR, "the password read from FD 3 is empty or too long")
    text = data.decode("ascii", errors="replace")
    if not SAFE_SECRET.fullmatch(text):
        raise SignError(EX_DATAERR, "the password read from FD 3 contains characters outside [A-Za-z0-9_.,:+=@%/-]")
    return text


def lists_lock(timeout=30):
    """An exclusive flock on ~/Library/Preferences/.macmesh-keychain-lists.lock (the same file the
    collection's modules take), so parallel jobs never lose each other's search-list entries."""
    directory = os.path.join(os.environ.get("HOME", "/"), "Library", "Preferences")
    os.makedirs(directory, 0o700, exist_ok=True)
    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                os.close(fd)
                raise SignError(EX_TEMPFAIL, "the search-list lock stayed busy for %d s" % timeout)
            time.sleep(0.05)


def assert_search_list(keychain):
    """Keychain first on the user's search list, every other entry kept (read-modify-write under lock)."""
    fd = lists_lock()
    try:
        rc, out, err = run([SECURITY, "list-keychains", "-d", "user"])
        if rc != 0:
            raise SignError(1, "security list-keychains failed: %s" % scrub(out + err, None))
        current = [line.strip().strip('"') for line in out.splitlines() if line.strip()]
        wanted = [keychain] + [p for p in current if p not in (keychain, keychain[:-3] if keychain.endswith("-db") else keychain)]
        if current != wanted:
            rc, out, err = run([SECURITY, "list-keychains", "-d", "user", "-s"] + wanted)
            if rc != 0:
                raise SignError(1, "security list-keychains -s failed: %s" % scrub(out + err, None))
    finally:
        os.close(fd)


def state_of(keychain):
    rc, out, err = run([SECURITY, "show-keychain-info", keychain])
    text = out + err
    if NO_INTERACTION in text:
        return "locked"
    if NOT_FOUND in text:
        return "missing"
    return "unlocked" if rc == 0 else "unknown"


def unlock(keychain, password):
    rc, out, err = run([SECURITY, "-i"], 'unlock-keychain -p "%s" "%s"\n' % (password, keychain))
    text = scrub(out + err, password)
    if WRONG_PASSWORD in text:
        raise SignError(2, "wrong keychain password for %s: %s" % (keychain, text))
    if NOT_FOUND in text:
        raise SignError(3, "keychain not found: %s (%s)" % (keychain, text))
    if rc != 0 or "security:" in text:
        raise SignError(1, "security unlock-keychain failed: %s" % (text or "exit %d" % rc))
    if state_of(keychain) != "unlocked":
        raise SignError(4, "keychain %s is still locked after unlock" % keychain)


def lock(keychain):
    try:
        run([SECURITY, "lock-keychain", keychain])
    except SignError:
        pass


def identity_of(args):
    for index, arg in enumerate(args):
        if arg in ("-s", "--sign") and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--sign="):
            return arg.split("=", 1)[1]
    return None


def missing_issuer(keychain, signer):
    """The issuer named in the signer's certificate (its DER issuer CN/OU), for the message."""
    rc, out, err = run([SECURITY, "find-certificate", "-a", "-c", signer, "-p", keychain])
    if rc != 0 or "BEGIN CERTIFICATE" not in out:
        return None
    import base64
    body = out.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
    return issuer_name(base64.b64decode("".join(body.split())))


def _tlv(data, pos):
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    return tag, pos, pos + length


def issuer_name(der):
    """'CN (OU)' of a certificate's issuer, read with a minimal DER walk (stdlib only)."""
    try:
        _tag, start, _end = _tlv(der, 0)     # Certificate
        _tag, pos, _end = _tlv(der, start)   # TBSCertificate
        tag, _start, end = _tlv(der, pos)
        if tag == 0xA0:                      # [0] version
            pos = end
        for _index in range(2):              # serialNumber, signature
            _tag, _start, pos = _tlv(der, pos)
        _tag, pos, name_end = _tlv(der, pos)  # issuer Name
        values = {}
        while pos < name_end:
            _tag, rdn, pos = _tlv(der, pos)
            _tag, attr, _end = _tlv(der, rdn)
            _tag, oid_start, oid_end = _tlv(der, attr)
            _tag, value_start, value_end = _tlv(der, oid_end)
            values[bytes(der[oid_start:oid_end])] = der[value_start:value_end].decode("utf-8", "replace")
        cn, ou = values.get(b"\x55\x04\x03"), values.get(b"\x55\x04\x0b")
        return "%s (%s)" % (cn, ou) if cn and ou else cn
    except (IndexError, ValueError):
        return None


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
        raise SignError(EX_CONFIG, "%s cannot be read (%s)" % (CONFIG_PATH, exc.strerror))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        owner = os.stat(os.path.abspath(__file__)).st_uid
        if not stat.S_ISREG(info.st_mode) or info.st_uid != owner or info.st_mode & 0o022:
            message = "must be a regular file owned by uid %d and writable by no one else" % owner
            raise SignError(EX_CONFIG, "%s %s" % (CONFIG_PATH, message))
        try:
            config = json.loads(handle.read(65536).decode("utf-8"))
        except ValueError as exc:
            raise SignError(EX_CONFIG, "%s is not JSON (%s)" % (CONFIG_PATH, exc))
    if not isinstance(config, dict):
        raise SignError(EX_CONFIG, "%s must hold a JSON object" % CONFIG_PATH)
    for key in sorted(config):
        value = config[key]
        if key not in ("keychain_path", "log_path"):
            raise SignError(EX_CONFIG, "%s: unknown field %r (known: keychain_path, log_path)" % (CONFIG_PATH, key))
        if not isinstance(value, str) or not value.startswith("/") or not SAFE_SECRET.fullmatch(value):
            message = "field %s must be an absolute path in [A-Za-z0-9_.,:+=@%%/-]" % key
            raise SignError(EX_CONFIG, "%s: %s" % (CONFIG_PATH, message))
    DEFAULT_KEYCHAIN = config.get("keychain_path", DEFAULT_KEYCHAIN)
    LOG_PATH = config.get("log_path", LOG_PATH)


def parse_args(argv):
    keychain, timeout, do_unlock = DEFAULT_KEYCHAIN, 120, True
    args = list(argv)
    while args and args[0] != "--":
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if arg == "--keychain" and args:
            keychain = args.pop(0)
        elif arg == "--timeout" and args and args[0].isdigit():
            timeout = int(args.pop(0))
        elif arg == "--no-unlock":
            do_unlock = False
        else:
            raise SignError(EX_USAGE, "unknown argument %r (see --help)" % arg)
    if not args or len(args) < 2 or args[1] not in TOOLS:
        raise SignError(EX_USAGE, "expected -- codesign|productsign ARGS...")
    if not keychain.startswith("/") or not SAFE_SECRET.fullmatch(keychain) or not 0 < timeout <= 3600:
        raise SignError(EX_USAGE, "--keychain must be an absolute path in [A-Za-z0-9_.,:+=@%/-], --timeout 1-3600")
    return keychain, timeout, do_unlock, args[1], args[2:]


def main(argv):
    started = time.monotonic()
    try:
        configure()
    except SignError as exc:
        # Nothing attempted, nothing logged: the configuration names the log.
        sys.stderr.write("macmesh-sign: %s\n" % exc)
        return exc.code
    correlation = os.environ.get("MACMESH_CORRELATION_ID", "")
    record = {
        "ts": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "correlation_id": correlation if SAFE_CORRELATION.fullmatch(correlation) else str(uuid.uuid4()),
        "user": pwd.getpwuid(os.getuid()).pw_name, "keychain": DEFAULT_KEYCHAIN, "action": "sign",
        "tool": None, "identity": None, "latency_ms": 0, "result": "error", "rc": None, "error": "",
    }
    log_fd = None
    code = 0
    password = None
    keychain = None
    try:
        try:
            keychain, timeout, do_unlock, tool, args = parse_args(argv)
            record.update(keychain=keychain, tool=tool, identity=identity_of(args))
            password = read_password() if do_unlock else None
        finally:
            try:
                log_fd = os.open(LOG_PATH, os.O_WRONLY | os.O_APPEND)
            except OSError as exc:
                raise SignError(EX_CANTCREAT, "cannot append to %s (%s): refusing to run unaudited" % (LOG_PATH, exc.strerror))
        assert_search_list(keychain)
        if do_unlock:
            unlock(keychain, password)
        rc, out, err = run([TOOLS[tool]] + args, timeout=timeout)
        sys.stdout.write(out)
        sys.stderr.write(err)
        record["rc"] = code = rc
        chain = NO_CHAIN.search(err)
        if chain:
            issuer = missing_issuer(keychain, chain.group(1))
            raise SignError(EX_CHAIN, "the chain of \"%s\" is incomplete: its issuer %s is in no keychain on the search "
                            "list nor in the System keychain; install it (role macmesh.signing.apple_intermediates)"
                            % (chain.group(1), '"%s"' % issuer if issuer else "(unknown)"))
        record["result"] = "ok" if rc == 0 else "failed"
        if rc != 0:
            record["error"] = scrub(err, password)
    except SignError as exc:
        code = exc.code
        record["error"] = scrub(str(exc), password)
        record["result"] = "timeout" if exc.code == EX_TIMEOUT else "error"
        sys.stderr.write("macmesh-sign: %s\n" % record["error"])
    finally:
        if keychain and password is not None:
            lock(keychain)
        record["latency_ms"] = int((time.monotonic() - started) * 1000)
        if log_fd is not None:
            os.write(log_fd, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
            os.close(log_fd)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
