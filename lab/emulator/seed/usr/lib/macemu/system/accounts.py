"""`dscl`, `dseditgroup` and `createhomedir` backed by REAL Linux accounts.

Users and groups are the node's /etc/passwd and /etc/group (changed with useradd/usermod/...),
so SSH login, sudo and become work for accounts that ansible's DarwinUser creates. Attributes
Linux has no column for (IsHidden, AuthenticationAuthority, ...) and the value a caller asked
for when Linux had to be given something else (UserShell /bin/zsh on a node without zsh) live in
<state_dir>/dslocal.json.

macOS-only groups: `staff` and `admin` are created with their macOS gids (20, 80) when those are
free and the name is missing; Debian already has `staff` (gid 50, and 20 is `dialout`), which is
then used as is. `wheel` is added as a second name for gid 0 (so `group: wheel` resolves), while
stat() still names gid 0 `root`.
"""

import contextlib
import fcntl
import grp
import json
import os
import pwd
import subprocess
import sys

import common

DS_NOT_FOUND = (-14136, "eDSRecordNotFound")
DS_PERMISSION = (-14120, "eDSPermissionError")
DS_INVALID_PATH = (-14009, "eDSUnknownNodeName")
# A Linux tool (useradd, usermod, ...) refused: its message is printed, then this code.
DS_OPERATION_FAILED = (-14008, "eDSOperationFailed")

# Attributes that live in /etc/passwd; everything else is kept in the JSON db.
USER_LINUX_ATTRS = ("RecordName", "UniqueID", "PrimaryGroupID", "NFSHomeDirectory", "UserShell",
                    "RealName", "Password")
GROUP_LINUX_ATTRS = ("RecordName", "PrimaryGroupID", "GroupMembership")
MACOS_GROUPS = (("staff", 20), ("admin", 80))
# macOS reports nobody/nogroup with negative ids; Linux uses 65534. Translating keeps DarwinUser's
# "highest UniqueID + 1" from picking 65535.
NOBODY_IDS = {65534: "-2"}
DEFAULT_SHELL = "/usr/bin/false"  # what dscl gives a record created without UserShell
FALLBACK_SHELL = "/bin/bash"
NO_HOME = "/var/empty"


class DSError(Exception):
    def __init__(self, code, detail=""):
        super().__init__(code[1])
        self.code = code
        self.detail = detail


def _emit_ds_error(exc):
    if exc.detail:
        sys.stderr.write(exc.detail.rstrip("\n") + "\n")
    sys.stderr.write("<dscl_cmd> DS Error: %d (%s)\n" % exc.code)
    # dscl's exit status is the DS error code truncated to a byte: -14136 -> 56 (see SYSTEM.md).
    return abs(exc.code[0]) & 0xFF


# --- the JSON side db ---------------------------------------------------------------------------

def _db_path():
    return os.path.join(common.state_dir(), "dslocal.json")


@contextlib.contextmanager
def _db(write=False):
    path = _db_path()
    if write:
        common.ensure_dir(os.path.dirname(path), 0o755)
    lock = None
    if write:
        lock = open(path + ".lock", "a")
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        try:
            with open(path) as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            data = {}
        data.setdefault("Users", {})
        data.setdefault("Groups", {})
        yield data
        if write:
            tmp = path + ".tmp"
            with open(tmp, "w") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
            os.replace(tmp, path)
    finally:
        if lock is not None:
            lock.close()


# --- Linux side ---------------------------------------------------------------------------------

def _run(argv, data=None):
    proc = subprocess.run(argv, input=data, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DSError(DS_OPERATION_FAILED,
                      "%s: %s" % (argv[0], (proc.stderr or proc.stdout).strip()))
    return proc


def _require_root():
    if os.geteuid() != 0:
        raise DSError(DS_PERMISSION)


def _gid_free(gid):
    try:
        grp.getgrgid(gid)
        return False
    except KeyError:
        return True


def ensure_macos_groups():
    """Create staff/admin/wheel if missing (root only; a no-op otherwise)."""
    if os.geteuid() != 0:
        return
    for name, gid in MACOS_GROUPS:
        try:
            grp.getgrnam(name)
        except KeyError:
            _run(["groupadd", "-g", str(gid), name] if _gid_free(gid) else ["groupadd", name])
    try:
        grp.getgrnam("wheel")
    except KeyError:
        _run(["groupadd", "-o", "-g", "0", "wheel"])


def _linux_shell(requested):
    """The shell the Linux account gets for a requested macOS shell."""
    if os.path.isfile(requested) and os.access(requested, os.X_OK):
        return requested
    return FALLBACK_SHELL


def _display_id(value):
    return NOBODY_IDS.get(value, str(value))


def _group_for_gid(gid):
    """A group with this gid, created (as macemu-<gid>) if there is none: dscl lets a user's
    PrimaryGroupID be any number, Linux needs a group entry for it."""
    if _gid_free(gid):
        _run(["groupadd", "-g", str(gid), "macemu-%d" % gid])
    return str(gid)


# --- records ------------------------------------------------------------------------------------

def _user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _group(name):
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


def user_attrs(name, db):
    """Ordered {attr: [values]} for a user, or None if there is no such user."""
    entry = _user(name)
    if entry is None:
        return None
    extra = db["Users"].get(name, {})
    attrs = {"RecordName": [entry.pw_name]}
    if "UniqueID" not in extra.get("_unset", []):
        attrs["UniqueID"] = [_display_id(entry.pw_uid)]
    attrs["PrimaryGroupID"] = [_display_id(entry.pw_gid)]
    attrs["NFSHomeDirectory"] = [entry.pw_dir]
    shell = entry.pw_shell
    asked = extra.get("UserShell")
    if asked and _linux_shell(asked[0]) == shell:
        shell = asked[0]
    attrs["UserShell"] = [shell]
    if entry.pw_gecos:
        attrs["RealName"] = [entry.pw_gecos.split(",")[0]]
    attrs["Password"] = ["********"]
    for key, values in sorted(extra.items()):
        if key.startswith("_") or key in USER_LINUX_ATTRS:
            continue
        attrs[key] = list(values)
    return attrs


def group_attrs(name, db):
    entry = _group(name)
    if entry is None:
        return None
    attrs = {"RecordName": [entry.gr_name], "PrimaryGroupID": [_display_id(entry.gr_gid)]}
    if entry.gr_mem:
        attrs["GroupMembership"] = list(entry.gr_mem)
    for key, values in sorted(db["Groups"].get(name, {}).items()):
        if key.startswith("_") or key in GROUP_LINUX_ATTRS:
            continue
        attrs[key] = list(values)
    return attrs


def _all_names(kind):
    if kind == "Users":
        return [e.pw_name for e in pwd.getpwall()]
    return [e.gr_name for e in grp.getgrall()]


def _attrs(kind, name, db):
    return user_attrs(name, db) if kind == "Users" else group_attrs(name, db)


# --- output -------------------------------------------------------------------------------------

def format_attr(key, values):
    """dscl(1): values are listed after the key on one line; if any value contains a space, each
    value is printed on its own line, indented by one space, after a line holding the key."""
    if any(" " in v for v in values):
        return "%s:\n%s\n" % (key, "\n".join(" " + v for v in values))
    return "%s: %s\n" % (key, " ".join(values))


def _parse_path(path):
    """'/Users/bob' -> ('Users', 'bob'); '/Users' -> ('Users', None)."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("Users", "Groups") or len(parts) > 2:
        raise DSError(DS_INVALID_PATH)
    return parts[0], (parts[1] if len(parts) == 2 else None)


# --- dscl commands ------------------------------------------------------------------------------

def cmd_list(kind, name, args, db):
    if name is not None:
        raise DSError(DS_INVALID_PATH)
    rows = []
    for record in sorted(_all_names(kind), key=str.lower):
        if not args:
            rows.append((record, None))
            continue
        values = _attrs(kind, record, db).get(args[0])
        if values is not None:
            rows.append((record, " ".join(values)))
    if not args:
        return "".join(r + "\n" for r, _ in rows)
    width = max([len(r) for r, _ in rows] + [24]) + 1
    return "".join("%s%s\n" % (r.ljust(width), v) for r, v in rows)


def cmd_read(kind, name, args, db):
    if name is None:
        raise DSError(DS_INVALID_PATH)
    attrs = _attrs(kind, name, db)
    if attrs is None:
        raise DSError(DS_NOT_FOUND)
    if not args:
        # a full read lists the attributes in name order, as dscl does
        return "".join(format_attr(k, attrs[k]) for k in sorted(attrs))
    out = []
    missing = []
    for key in args:
        if key in attrs:
            out.append(format_attr(key, attrs[key]))
        else:
            missing.append(key)
    if missing and not out:
        sys.stderr.write("".join("No such key: %s\n" % k for k in missing))
        raise SystemExit(1)
    return "".join(out)


def cmd_search(kind, name, args, db):
    if name is not None or len(args) != 2:
        raise DSError(DS_INVALID_PATH)
    key, wanted = args
    out = []
    for record in sorted(_all_names(kind), key=str.lower):
        values = _attrs(kind, record, db).get(key) or []
        if wanted in values:
            out.append("%s\t\t%s = (\n%s\n)\n" % (record, key, "\n".join("    " + v for v in values)))
    return "".join(out)


def _create_user(name, db):
    if _user(name) is not None:
        return
    staff = grp.getgrnam("staff").gr_gid
    _run(["useradd", "-M", "-N", "-g", str(staff), "-d", NO_HOME, "-s", DEFAULT_SHELL, name])
    db["Users"].setdefault(name, {})["_unset"] = ["UniqueID"]


def _set_user_attr(name, key, values, db):
    extra = db["Users"].setdefault(name, {})
    value = values[0] if values else ""
    if key == "UniqueID":
        _run(["usermod", "-u", value, name])
        extra["_unset"] = [k for k in extra.get("_unset", []) if k != "UniqueID"]
    elif key == "PrimaryGroupID":
        _run(["usermod", "-g", _group_for_gid(int(value)), name])
    elif key == "NFSHomeDirectory":
        _run(["usermod", "-d", value, name])
    elif key == "UserShell":
        _run(["usermod", "-s", _linux_shell(value), name])
        extra["UserShell"] = [value]
    elif key == "RealName":
        _run(["usermod", "-c", value, name])
    elif key == "Password":
        # '*' is what macOS stores for "no password"; on Linux it also means no password login
        # but, unlike '!', does not make sshd treat the account as locked.
        if value == "*":
            _run(["usermod", "-p", "*", name])
        else:
            _run(["chpasswd"], data="%s:%s\n" % (name, value))
    elif key == "RecordName":
        raise DSError(DS_PERMISSION)
    else:
        extra[key] = list(values)


def _create_group(name, db):
    if _group(name) is None:
        _run(["groupadd", name])


def _set_group_attr(name, key, values, db, append=False):
    if key == "PrimaryGroupID":
        _run(["groupmod", "-g", values[0], name])
    elif key == "GroupMembership":
        current = set(_group(name).gr_mem)
        wanted = [v for v in values if v not in current] if append else values
        if append:
            for member in wanted:
                _run(["gpasswd", "-a", member, name])
        else:
            _run(["gpasswd", "-M", ",".join(values), name])
    elif key == "RecordName":
        raise DSError(DS_PERMISSION)
    else:
        extra = db["Groups"].setdefault(name, {})
        extra[key] = (extra.get(key, []) + [v for v in values if v not in extra.get(key, [])]
                      if append else list(values))


def cmd_create(kind, name, args, db):
    _require_root()
    if name is None:
        raise DSError(DS_INVALID_PATH)
    if kind == "Users":
        _create_user(name, db)
        if args:
            _set_user_attr(name, args[0], args[1:], db)
    else:
        _create_group(name, db)
        if args:
            _set_group_attr(name, args[0], args[1:], db)
    return ""


def cmd_append(kind, name, args, db, merge=False):
    _require_root()
    if name is None or not args:
        raise DSError(DS_INVALID_PATH)
    if _attrs(kind, name, db) is None:
        raise DSError(DS_NOT_FOUND)
    if kind == "Groups":
        _set_group_attr(name, args[0], args[1:], db, append=True)
    elif args[0] in USER_LINUX_ATTRS:
        _set_user_attr(name, args[0], args[1:], db)
    else:
        extra = db["Users"].setdefault(name, {})
        old = extra.get(args[0], [])
        extra[args[0]] = old + [v for v in args[1:] if not (merge and v in old)]
    return ""


def cmd_delete(kind, name, args, db):
    _require_root()
    if name is None:
        raise DSError(DS_INVALID_PATH)
    if _attrs(kind, name, db) is None:
        raise DSError(DS_NOT_FOUND)
    if not args:
        if kind == "Users":
            # userdel without -r: macOS `dscl -delete` leaves the home directory alone too.
            _run(["userdel", name])
        else:
            _run(["groupdel", name])
        db[kind].pop(name, None)
        return ""
    key, values = args[0], args[1:]
    if kind == "Groups" and key == "GroupMembership":
        members = values or list(_group(name).gr_mem)
        for member in members:
            if member in _group(name).gr_mem:
                _run(["gpasswd", "-d", member, name])
        return ""
    if key == "RealName" and kind == "Users":
        _run(["usermod", "-c", "", name])
        return ""
    if key in USER_LINUX_ATTRS + GROUP_LINUX_ATTRS:
        raise DSError(DS_PERMISSION)
    extra = db[kind].setdefault(name, {})
    if values:
        extra[key] = [v for v in extra.get(key, []) if v not in values]
    else:
        extra.pop(key, None)
    return ""


def cmd_change(kind, name, args, db):
    if len(args) != 3:
        raise DSError(DS_INVALID_PATH)
    key, old, new = args
    current = (_attrs(kind, name, db) or {}).get(key)
    if current is None:
        raise DSError(DS_NOT_FOUND)
    if old not in current:
        raise DSError((-14134, "eDSAttributeValueNotFound"))
    values = [new if v == old else v for v in current]
    return cmd_create(kind, name, [key] + values, db)


def cmd_passwd(kind, name, args, db):
    _require_root()
    if kind != "Users" or name is None or not args:
        raise DSError(DS_INVALID_PATH)
    if _user(name) is None:
        raise DSError(DS_NOT_FOUND)
    # `-passwd path new` or `-passwd path old new`; the new one is last. It goes to chpasswd on
    # stdin, never on an argv.
    _run(["chpasswd"], data="%s:%s\n" % (name, args[-1]))
    return ""


COMMANDS = {
    "-list": (cmd_list, False), "-read": (cmd_read, False), "-search": (cmd_search, False),
    "-create": (cmd_create, True), "-append": (cmd_append, True), "-delete": (cmd_delete, True),
    "-change": (cmd_change, True), "-passwd": (cmd_passwd, True),
}


def dscl_interactive(datasource):
    """`dscl .` with no command: one command per stdin line, dash optional (as dscl's prompt takes them).

    Secrets (passwd) then travel on stdin instead of argv; only the datasource is audited.
    """
    status = 0
    for line in sys.stdin.read().splitlines():
        words = line.split()
        if not words:
            continue
        command = words[0] if words[0].startswith("-") else "-" + words[0]
        status = _dscl_run([datasource, command] + words[1:]) or status
    return status


def dscl_main(argv):
    common.audit(argv)
    args = list(argv[1:])
    while args and args[0] in ("-q", "-raw", "-plist", "-url"):
        args.pop(0)
    if len(args) == 1 and args[0] in (".", "localhost", "/Local/Default", "/Search"):
        return dscl_interactive(args[0])
    return _dscl_run(args)


def _dscl_run(args):
    if len(args) < 3 or args[0] not in (".", "localhost", "/Local/Default", "/Search"):
        sys.stderr.write("usage: dscl [options] [<datasource> [<command>]]\n")
        return 64
    command, path, rest = args[1], args[2], args[3:]
    if command == "-merge":
        handler, writes = (lambda k, n, a, d: cmd_append(k, n, a, d, merge=True)), True
    elif command in COMMANDS:
        handler, writes = COMMANDS[command]
    else:
        sys.stderr.write("Invalid command: %s\n" % command)
        return 64
    try:
        kind, name = _parse_path(path)
        if writes:
            _require_root()
            ensure_macos_groups()
        with _db(write=writes) as db:
            out = handler(kind, name, rest, db)
    except DSError as exc:
        return _emit_ds_error(exc)
    except SystemExit as exc:
        return int(exc.code or 0)
    sys.stdout.write(out)
    return 0


# --- dseditgroup --------------------------------------------------------------------------------

def dseditgroup_main(argv):
    """The forms ansible and people use: -o edit -a|-d USER -t user GROUP, -o create [-i GID]
    GROUP, -o delete GROUP, -o read GROUP, -o checkmember -m USER GROUP."""
    common.audit(argv)
    opts = {}
    args = list(argv[1:])
    positional = []
    while args:
        arg = args.pop(0)
        if arg in ("-o", "-a", "-d", "-t", "-i", "-m", "-n", "-r", "-T"):
            if not args:
                sys.stderr.write("Missing value for %s\n" % arg)
                return 64
            opts[arg] = args.pop(0)
        elif arg in ("-q", "-v"):
            continue
        else:
            positional.append(arg)
    op = opts.get("-o", "read")
    if len(positional) != 1:
        sys.stderr.write("Usage: dseditgroup [-pqv] [-o edit] [-n nodename] [-a name | -d name] "
                         "[-t rectype] groupname\n")
        return 64
    group = positional[0]
    try:
        if op == "checkmember":
            member = opts.get("-m") or common.current_user()[0]
            entry = _group(group)
            if entry is None:
                sys.stdout.write("Group not found.\n")
                return 64
            user = _user(member)
            if member in entry.gr_mem or (user is not None and user.pw_gid == entry.gr_gid):
                sys.stdout.write("yes %s is a member of %s\n" % (member, group))
                return 0
            sys.stdout.write("no %s is NOT a member of %s\n" % (member, group))
            return 67
        if op == "read":
            with _db() as db:
                attrs = group_attrs(group, db)
            if attrs is None:
                sys.stderr.write("Group not found.\n")
                return 64
            sys.stdout.write("".join(format_attr(k, v) for k, v in attrs.items()))
            return 0
        _require_root()
        ensure_macos_groups()
        with _db(write=True) as db:
            if op == "create":
                if _group(group) is None:
                    gid = opts.get("-i")
                    _run(["groupadd"] + (["-g", gid] if gid else []) + [group])
            elif op == "delete":
                if _group(group) is None:
                    raise DSError(DS_NOT_FOUND)
                _run(["groupdel", group])
                db["Groups"].pop(group, None)
            elif op == "edit":
                if _group(group) is None:
                    raise DSError(DS_NOT_FOUND)
                if opts.get("-t", "user") != "user":
                    raise DSError(DS_INVALID_PATH)
                if "-a" in opts:
                    if _user(opts["-a"]) is None:
                        raise DSError(DS_NOT_FOUND)
                    if opts["-a"] not in _group(group).gr_mem:
                        _run(["gpasswd", "-a", opts["-a"], group])
                if "-d" in opts and opts["-d"] in _group(group).gr_mem:
                    _run(["gpasswd", "-d", opts["-d"], group])
            else:
                sys.stderr.write("Unknown operation: %s\n" % op)
                return 64
    except DSError as exc:
        if exc.detail:
            sys.stderr.write(exc.detail + "\n")
        sys.stderr.write("Error: %d (%s)\n" % exc.code)
        return abs(exc.code[0]) & 0xFF
    return 0


# --- createhomedir ------------------------------------------------------------------------------

HOME_MODE = 0o750
LIBRARY_MODE = 0o700


def create_home(name):
    """Create the user's NFSHomeDirectory (and Library/) owned by the user, like macOS's template
    copy minus the template contents. Returns True if anything was created."""
    entry = _user(name)
    home = entry.pw_dir
    if not home or home == NO_HOME:
        home = "/Users/%s" % name
    created = False
    common.ensure_dir(os.path.dirname(home), 0o755)
    for path, mode in ((home, HOME_MODE), (os.path.join(home, "Library"), LIBRARY_MODE)):
        if not os.path.isdir(path):
            os.mkdir(path, mode)
            os.chmod(path, mode)
            os.chown(path, entry.pw_uid, entry.pw_gid)
            created = True
    return created


def createhomedir_main(argv):
    """createhomedir -c [-u user] | -a | -l: create missing homes on the local node."""
    common.audit(argv)
    args = list(argv[1:])
    users = []
    everyone = False
    local = False
    while args:
        arg = args.pop(0)
        if arg == "-u" and args:
            users.append(args.pop(0))
        elif arg in ("-c", "-l"):
            local = True
        elif arg == "-a":
            everyone = True
        elif arg == "-b":
            continue
        else:
            sys.stderr.write("usage: createhomedir [-a | -c | -l] [-u username] [-b]\n")
            return 64
    if not (local or everyone):
        sys.stderr.write("usage: createhomedir [-a | -c | -l] [-u username] [-b]\n")
        return 64
    if os.geteuid() != 0:
        sys.stderr.write("createhomedir: must be run as root\n")
        return 1
    if not users:
        users = [e.pw_name for e in pwd.getpwall() if e.pw_uid >= 500 and e.pw_uid != 65534
                 and e.pw_dir.startswith("/Users/")]
    for name in users:
        if _user(name) is None:
            sys.stderr.write("createhomedir: user %s not found\n" % name)
            return 1
        if create_home(name):
            sys.stdout.write("creating home directories for (%s)\n" % name)
    return 0
