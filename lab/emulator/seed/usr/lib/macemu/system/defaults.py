"""`defaults` on property-list files.

Domains: an absolute path ("/Library/Preferences/com.apple.loginwindow", ".plist" added when
missing), NSGlobalDomain / -g / -globalDomain (~/Library/Preferences/.GlobalPreferences.plist),
or a bundle id (~/Library/Preferences/<id>.plist; with -currentHost
~/Library/Preferences/ByHost/<id>.<hardware UUID>.plist). Files are written as binary plists,
as cfprefsd does. Supported: read [domain [key]], read-type, write (-string -int/-integer
-float -bool/-boolean -array -array-add -dict -dict-add -date, or a bare value = string),
delete [key], domains.
"""

import datetime
import os
import plistlib
import re
import sys
import threading
import time

import common

from system import darwin

GLOBAL = ("NSGlobalDomain", "-g", "-globalDomain")
TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")
USAGE = "Command line interface to a user's defaults.\nSyntax:\n\n'defaults' [-currentHost | -host <hostname>] followed by one of the following:\n"


class DefaultsError(Exception):
    pass


def _home():
    return common.home_dir()


def resolve(domain, current_host=False):
    """(plist path, name used in messages) for a domain argument."""
    if domain in GLOBAL:
        base = os.path.join(_home(), "Library", "Preferences")
        name = ".GlobalPreferences"
        if current_host:
            return os.path.join(base, "ByHost", "%s.%s.plist" % (name, darwin.hardware_uuid())), \
                "kCFPreferencesAnyApplication"
        return os.path.join(base, name + ".plist"), "kCFPreferencesAnyApplication"
    if domain.startswith("/"):
        path = domain if domain.endswith(".plist") else domain + ".plist"
        return path, domain
    base = os.path.join(_home(), "Library", "Preferences")
    if current_host:
        return os.path.join(base, "ByHost", "%s.%s.plist" % (domain, darwin.hardware_uuid())), domain
    return os.path.join(base, domain + ".plist"), domain


def load(path):
    try:
        with open(path, "rb") as handle:
            data = plistlib.load(handle)
    except FileNotFoundError:
        return None
    except (plistlib.InvalidFileException, ValueError) as exc:
        raise DefaultsError("Could not parse %s: %s" % (path, exc))
    return data if isinstance(data, dict) else {}


def save(path, data):
    common.ensure_dir(os.path.dirname(path), 0o755)
    tmp = "%s.macemu-%d" % (path, os.getpid())
    with open(tmp, "wb") as handle:
        plistlib.dump(data, handle, fmt=plistlib.FMT_BINARY, sort_keys=True)
    if os.path.exists(path):
        st = os.stat(path)
        os.chmod(tmp, st.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)
    else:
        os.chmod(tmp, 0o644)
    os.replace(tmp, path)


# --- old-style (NeXT) plist text, what `defaults read` prints -----------------------------------

_BARE = re.compile(r"^[A-Za-z0-9.]+$")


def _quote(text):
    if _BARE.match(text):
        return text
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(value, indent=0):
    pad = "    " * indent
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime.datetime):
        return '"%s"' % value.strftime("%Y-%m-%d %H:%M:%S +0000")
    if isinstance(value, (bytes, bytearray)):
        return "{length = %d, bytes = 0x%s}" % (len(value), bytes(value).hex())
    if isinstance(value, list):
        if not value:
            return "(\n%s)" % pad
        items = ",\n".join("%s    %s" % (pad, render(v, indent + 1)) for v in value)
        return "(\n%s\n%s)" % (items, pad)
    if isinstance(value, dict):
        if not value:
            return "{\n%s}" % pad
        items = "".join("%s    %s = %s;\n" % (pad, _quote(str(k)), render(v, indent + 1))
                        for k, v in sorted(value.items()))
        return "{\n%s%s}" % (items, pad)
    return _quote(str(value)) if indent else str(value)


def type_name(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "dictionary"
    if isinstance(value, datetime.datetime):
        return "date"
    return "data"


# --- value parsing for `write` ------------------------------------------------------------------

def _bool(text):
    if text.lower() in TRUE_WORDS:
        return True
    if text.lower() in FALSE_WORDS:
        return False
    raise DefaultsError("Value %s is not a valid boolean" % text)


def _scalar(flag, text):
    if flag == "-string":
        return text
    if flag in ("-int", "-integer"):
        try:
            return int(text)
        except ValueError:
            raise DefaultsError("Value %s is not an integer" % text)
    if flag == "-float":
        try:
            return float(text)
        except ValueError:
            raise DefaultsError("Value %s is not a float" % text)
    if flag in ("-bool", "-boolean"):
        return _bool(text)
    if flag == "-date":
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
            try:
                return datetime.datetime.strptime(text.split(" +")[0], fmt)
            except ValueError:
                pass
        raise DefaultsError("Value %s is not a date" % text)
    if flag == "-data":
        return bytes.fromhex(text)
    raise DefaultsError("Unexpected argument %s; leaving defaults unchanged." % flag)


def _typed_list(values):
    """Array items: plain strings, or `-type value` pairs (defaults(1) allows both)."""
    items = []
    values = list(values)
    while values:
        item = values.pop(0)
        if item.startswith("-") and item in ("-string", "-int", "-integer", "-float", "-bool",
                                             "-boolean", "-date", "-data") and values:
            items.append(_scalar(item, values.pop(0)))
        else:
            items.append(item)
    return items


def write_value(current, values):
    """The new value for a key from the arguments after it."""
    if not values:
        raise DefaultsError("Missing value; leaving defaults unchanged.")
    flag = values[0]
    if not flag.startswith("-"):
        return values[0]
    rest = values[1:]
    if flag == "-array":
        return _typed_list(rest)
    if flag == "-array-add":
        base = current if isinstance(current, list) else []
        return base + _typed_list(rest)
    if flag in ("-dict", "-dict-add"):
        if len(rest) % 2:
            raise DefaultsError("Key/value pairs must come in pairs")
        items = _typed_list(rest)
        base = dict(current) if flag == "-dict-add" and isinstance(current, dict) else {}
        for i in range(0, len(items), 2):
            base[str(items[i])] = items[i + 1]
        return base
    if len(rest) != 1:
        raise DefaultsError("Unexpected argument %s; leaving defaults unchanged." %
                            (rest[1] if len(rest) > 1 else flag))
    return _scalar(flag, rest[0])


# --- main ---------------------------------------------------------------------------------------

def _banner():
    """The `<timestamp> defaults[pid:tid]` line Foundation's NSLog puts before the message."""
    now = time.time()
    return "%s.%03d defaults[%d:%d]" % (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
                                        int(now * 1000) % 1000, os.getpid(),
                                        threading.get_ident() % 10000000)


def _fail(message):
    sys.stderr.write("%s\n%s\n" % (_banner(), message))
    return 1


def main(argv):
    common.audit(argv)
    args = list(argv[1:])
    current_host = False
    while args and args[0] in ("-currentHost", "-host"):
        flag = args.pop(0)
        if flag == "-host" and args:
            args.pop(0)
        current_host = True
    if not args:
        sys.stderr.write(USAGE)
        return 255
    command, rest = args[0], args[1:]
    label = rest[0] if rest else ""
    try:
        if command == "domains":
            base = os.path.join(_home(), "Library", "Preferences")
            names = sorted(n[:-6] for n in os.listdir(base) if n.endswith(".plist")) \
                if os.path.isdir(base) else []
            sys.stdout.write(", ".join(names) + "\n")
            return 0
        if not rest:
            sys.stderr.write(USAGE)
            return 255
        path, label = resolve(rest[0], current_host)
        data = load(path)
        if command in ("read", "read-type"):
            if command == "read-type" and len(rest) != 2:
                sys.stderr.write(USAGE)
                return 255
            if data is None and len(rest) == 1:
                return _fail("Domain %s does not exist" % label)
            if len(rest) == 1:
                sys.stdout.write(render(data) + "\n")
                return 0
            key = rest[1]
            if data is None or key not in data:
                return _fail("The domain/default pair of (%s, %s) does not exist" % (label, key))
            if command == "read-type":
                sys.stdout.write("Type is %s\n" % type_name(data[key]))
            else:
                sys.stdout.write(render(data[key]) + "\n")
            return 0
        if command == "write":
            if len(rest) < 3:
                sys.stderr.write(USAGE)
                return 255
            key = rest[1]
            data = data or {}
            data[key] = write_value(data.get(key), rest[2:])
            save(path, data)
            return 0
        if command == "delete":
            if data is None:
                return _fail("Domain (%s) not found.\nDefaults have not been changed." % label)
            if len(rest) == 1:
                os.unlink(path)
                return 0
            key = rest[1]
            if key not in data:
                return _fail("The domain/default pair of (%s, %s) does not exist" % (label, key))
            del data[key]
            save(path, data)
            return 0
    except DefaultsError as exc:
        return _fail(str(exc))
    except PermissionError as exc:
        return _fail("Could not write domain %s; exiting (%s)" % (label, exc.strerror))
    sys.stderr.write(USAGE)
    return 255
