"""`/usr/bin/security` for the lab's macOS emulator (test equipment, never imported by the product).

Every line this prints comes from /work/shared/reference/macos-security-cli.md where the reference has
it; lab/emulator/README.md lists the rest as "assumed". Errors go to stderr as
`security: <function>[ <keychain>]: <message>` and the exit status is OSStatus & 0xFF (which is how
errSecDuplicateKeychain, -25296, gives the documented 48).
"""

import getopt
import getpass
import hashlib
import os
import sys

import common
import der
import keychain as kc
import lazy
from keychain import SecError

# Imported at first use (lazy.py): list-keychains, default-keychain, show-keychain-info, ... never need it.
x509 = lazy.module("cryptography.x509")
serialization = lazy.module("cryptography.hazmat.primitives.serialization")

SHOW_USAGE = 2

USAGE = {
    "create-keychain": "create-keychain [-P] [-p password] [keychains...]",
    "delete-keychain": "delete-keychain [keychains...]",
    "list-keychains": "list-keychains [-h] [-d user|system|common|dynamic] [-s [keychain...]]",
    "default-keychain": "default-keychain [-h] [-d user|system|common|dynamic] [-s [keychain]]",
    "show-keychain-info": "show-keychain-info [keychain]",
    "set-keychain-settings": "set-keychain-settings [-lu] [-t timeout] [keychain]",
    "unlock-keychain": "unlock-keychain [-u] [-p password] [keychain]",
    "lock-keychain": "lock-keychain [-a | keychain]",
    "import": "import inputfile [-k keychain] [-t type] [-f format] [-w] [-P passphrase] "
              "[-a attrName attrValue] [-A | -T appPath] [-x]",
    "delete-identity": "delete-identity [-c name] [-Z hash] [-t] [keychain...]",
    "add-certificates": "add-certificates [-k keychain] file...",
    "set-key-partition-list": "set-key-partition-list [options...] [keychain]",
    "find-identity": "find-identity [-p policy] [-s string] [-v] [keychain...]",
    "find-certificate": "find-certificate [-a] [-c name] [-e emailAddress] [-m] [-p] [-Z] [keychain...]",
    "cms": "cms [-C|-D|-E|-S] [<options>]",
}

POLICIES = {
    "basic": "X.509 Basic",
    "codesigning": "Code Signing",
    "ssl-client": "SSL (client)",
    "ssl-server": "SSL (server)",
    "smime": "S/MIME",
}


class UsageError(Exception):
    pass


def err(function, status, name=None):
    """Print one Security.framework error line and return the exit status."""
    if not isinstance(status, SecError):
        status = SecError(status)
    where = "%s %s" % (function, name) if name else function
    sys.stderr.write("security: %s: %s\n" % (where, status))
    return status.exit_code


def out(text):
    sys.stdout.write(text)


def _opts(args, spec):
    try:
        return getopt.getopt(args, spec)
    except getopt.GetoptError:
        raise UsageError()


def _prompt(text, interactive):
    """Ask for a secret on the terminal; without one macOS cannot ask either."""
    if interactive or not sys.stdin.isatty():
        raise SecError(kc.errSecInteractionNotAllowed)
    return getpass.getpass(text)


def _target(name):
    """(path, shown name) of a keychain argument, or the default keychain when name is None."""
    if name is None:
        path = kc.default_keychain()
        return path, path
    return kc.resolve(name), name


# ---------------------------------------------------------------------------------------------
# keychain lifecycle


def cmd_create_keychain(args, ctx):
    opts, rest = _opts(args, "Pp:")
    password = None
    for flag, value in opts:
        if flag == "-p":
            password = value
    if not rest:
        raise UsageError()
    status = 0
    for name in rest:
        try:
            secret = password
            if secret is None:
                secret = _prompt("password for new keychain: ", ctx["interactive"])
                if _prompt("retype password for new keychain: ", ctx["interactive"]) != secret:
                    raise SecError(kc.errSecAuthFailed)
            kc.Keychain.create(kc.creation_path(name), secret)
        except SecError as exc:
            status = err("SecKeychainCreate", exc, name)
    return status


def cmd_delete_keychain(args, ctx):
    opts, rest = _opts(args, "")
    if not rest:
        raise UsageError()
    status = 0
    for name in rest:
        path = kc.resolve(name)
        if not os.path.isfile(path):
            status = err("SecKeychainDelete", kc.errSecNoSuchKeychain)
            continue
        try:
            kc.Keychain.open(path).lock()
        except SecError:
            pass
        os.unlink(path)
        kc.remove_from_preferences(path)
    return status


def _domain(opts):
    domain = "user"
    explicit = False
    for flag, value in opts:
        if flag == "-d":
            if value not in ("user", "system", "common", "dynamic"):
                raise UsageError()
            domain, explicit = value, True
    return domain, explicit


def cmd_list_keychains(args, ctx):
    opts, rest = _opts(args, "hd:s")
    domain, explicit = _domain(opts)
    if any(flag == "-s" for flag, _ in opts):
        if domain != "user":
            return err("SecKeychainSetDomainSearchList", kc.errSecWrPerm)
        kc.set_search_list([kc.resolve(name) for name in rest])
        return 0
    if rest:
        raise UsageError()
    if explicit:
        paths = kc.search_list(domain)
    else:
        paths = kc.search_list("user") + kc.search_list("system")
    out("".join('    "%s"\n' % p for p in paths))
    return 0


def cmd_default_keychain(args, ctx):
    opts, rest = _opts(args, "hd:s")
    domain, _ = _domain(opts)
    if any(flag == "-s" for flag, _ in opts):
        if domain != "user":
            return err("SecKeychainSetDomainDefault", kc.errSecWrPerm)
        if len(rest) > 1:
            raise UsageError()
        if rest:
            kc.set_default_keychain(kc.resolve(rest[0]))
        return 0
    if rest:
        raise UsageError()
    if domain == "system":
        out('    "%s"\n' % kc.SYSTEM_KEYCHAIN)
        return 0
    try:
        out('    "%s"\n' % kc.default_keychain())
    except SecError as exc:
        return err("SecKeychainCopyDefault", exc)
    return 0


def cmd_show_keychain_info(args, ctx):
    opts, rest = _opts(args, "")
    if len(rest) > 1:
        raise UsageError()
    try:
        path, shown = _target(rest[0] if rest else None)
        keychain = kc.Keychain.open(path)
    except SecError as exc:
        return err("SecKeychainCopySettings", exc)
    if keychain.is_locked():
        return err("SecKeychainCopySettings", kc.errSecInteractionNotAllowed, shown)
    # Written to stderr, as the reference's macOS 15 source says (§3.5).
    sys.stderr.write(keychain.settings_line(shown) + "\n")
    return 0


def cmd_set_keychain_settings(args, ctx):
    opts, rest = _opts(args, "lut:")
    settings = {"lock_on_sleep": False, "use_lock_interval": False, "timeout": None}
    for flag, value in opts:
        if flag == "-l":
            settings["lock_on_sleep"] = True
        elif flag == "-u":
            settings["use_lock_interval"] = True
        elif flag == "-t":
            if not value.isdigit():
                raise UsageError()
            settings["timeout"] = int(value)
    if len(rest) > 1:
        raise UsageError()
    try:
        path, shown = _target(rest[0] if rest else None)
        with kc.Keychain.open(path, write=True) as keychain:
            if keychain.is_locked():
                return err("SecKeychainSetSettings", kc.errSecInteractionNotAllowed, shown)
            keychain.data["settings"] = settings
            keychain.save()
    except SecError as exc:
        return err("SecKeychainSetSettings", exc)
    return 0


def cmd_unlock_keychain(args, ctx):
    opts, rest = _opts(args, "up:")
    password = None
    no_password = False
    for flag, value in opts:
        if flag == "-p":
            password = value
        elif flag == "-u":
            no_password = True
    if len(rest) > 1:
        raise UsageError()
    try:
        path, shown = _target(rest[0] if rest else None)
        keychain = kc.Keychain.open(path)
    except SecError as exc:
        return err("SecKeychainUnlock", exc)
    try:
        if keychain.is_locked() and password is None:
            if no_password:
                raise SecError(kc.errSecInteractionNotAllowed)
            password = _prompt("password to unlock %s: " % shown, ctx["interactive"])
        keychain.unlock(password or "")
    except SecError as exc:
        return err("SecKeychainUnlock", exc, shown)
    return 0


def cmd_lock_keychain(args, ctx):
    opts, rest = _opts(args, "a")
    lock_all = any(flag == "-a" for flag, _ in opts)
    if lock_all:
        names = kc.search_list("user")
    elif len(rest) <= 1:
        names = [rest[0] if rest else None]
    else:
        raise UsageError()
    status = 0
    for name in names:
        try:
            path, _ = _target(name)
            kc.Keychain.open(path).lock()
        except SecError as exc:
            if not lock_all:  # -a skips search-list entries that do not exist
                status = err("SecKeychainLock", exc)
    return status


# ---------------------------------------------------------------------------------------------
# items


def _plural(count, one, many):
    return "%d %s imported.\n" % (count, one if count == 1 else many)


def cmd_import(args, ctx):
    infile = None
    if args and not args[0].startswith("-"):
        infile, args = args[0], args[1:]
    opts, rest = _opts(args, "k:t:f:wP:a:AT:xh")
    if infile is None and rest:
        infile, rest = rest[0], rest[1:]
    if infile is None or rest:
        raise UsageError()
    keychain_name = None
    fmt = None
    passphrase = None
    apps = []
    any_app = False
    extractable = True
    for flag, value in opts:
        if flag == "-k":
            keychain_name = value
        elif flag == "-f":
            fmt = value
        elif flag == "-P":
            passphrase = value
        elif flag == "-T":
            if value:
                apps.append(value)
        elif flag == "-A":
            any_app = True
        elif flag == "-x":
            extractable = False
    if not any(flag == "-T" for flag, _ in opts):
        apps = ["/usr/bin/security"]  # without -T only the importing tool may use the key
    try:
        with open(infile, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        sys.stderr.write("security: Error reading infile %s: %s\n" % (infile, exc.strerror))
        return 1
    function = "SecKeychainItemImport"
    try:
        path, _ = _target(keychain_name)
        is_p12 = fmt == "pkcs12" or (fmt is None and (infile.lower().endswith((".p12", ".pfx"))
                                                      or kc.classify_pkcs12(data)["pfx"]))
        label = None
        if is_p12 or (fmt == "openssl" and kc.classify_pkcs12(data)["pfx"]):
            try:
                key, certs, label = kc.load_pkcs12(data, passphrase, openssl_format=fmt == "openssl")
            except SecError as exc:
                if exc.status == kc.errSecPkcs12VerifyFailure and passphrase is None:
                    raise SecError(kc.errSecInteractionNotAllowed)
                raise
            keys = [key] if key is not None else []
        else:
            keys, certs = kc.load_openssl(data)
        with kc.Keychain.open(path, write=True) as keychain:
            if keychain.is_locked():
                raise SecError(kc.errSecInteractionNotAllowed)
            new_certs = [c for c in certs if keychain.add_certificate(c)]
            new_keys = []
            for key in keys:
                name = label or _label_for(key, certs)
                if keychain.add_key(key, name, apps, any_app, extractable):
                    new_keys.append(key)
            if not new_certs and not new_keys:
                raise SecError(kc.errSecDuplicateItem)
            keychain.save()
    except SecError as exc:
        # Apple's SecurityTool (keychain_import.c) returns 1 for every failed import, whatever
        # the OSStatus; only the printed message tells the causes apart.
        err(function, exc)
        return 1
    if is_p12:
        key_ids = set(kc.public_key_id(k.public_key()) for k in new_keys)
        identities = [c for c in new_certs if kc.public_key_id(c.public_key()) in key_ids]
        text = ""
        if identities:
            text += _plural(len(identities), "identity", "identities")
        others = len(new_certs) - len(identities)
        if others:
            text += _plural(others, "certificate", "certificates")
        out(text)
    else:
        text = ""
        if new_keys:
            text += _plural(len(new_keys), "key", "keys")
        if new_certs:
            text += _plural(len(new_certs), "certificate", "certificates")
        out(text)
    return 0


def _label_for(key, certs):
    key_id = kc.public_key_id(key.public_key())
    for cert in certs:
        if kc.public_key_id(cert.public_key()) == key_id:
            return kc.common_name(cert.subject)
    return "Imported Private Key"


def _search(names):
    """[(path, Keychain)] for the given keychain arguments or, without any, the user's search
    list plus the system keychain. Keychains that do not exist are skipped, as a search does."""
    if names:
        paths = [kc.resolve(n) for n in names]
    else:
        paths = kc.search_list("user") + kc.search_list("system")
    return kc.open_all(paths)


def cmd_delete_identity(args, ctx):
    opts, rest = _opts(args, "c:Z:t")
    sha1 = name = None
    for flag, value in opts:
        if flag == "-Z":
            sha1 = value.upper()
        elif flag == "-c":
            name = value
    if sha1 is None and name is None:
        raise UsageError()
    for path, found in _search(rest):
        for ident_sha1, cert, _ in found.identities():
            if (sha1 and ident_sha1 == sha1) or (name and name in kc.common_name(cert.subject)):
                try:
                    with kc.Keychain.open(path, write=True) as keychain:
                        keychain.delete_identity(ident_sha1)
                        keychain.save()
                except SecError as exc:
                    return err("SecKeychainItemDelete", exc)
                return 0
    # Assumed (README): the shape of SecurityTool's keychain_delete.c as recalled, not a transcript.
    sys.stderr.write('Unable to delete certificate matching "%s"\n' % (name if name is not None else sha1))
    return 1


def cmd_add_certificates(args, ctx):
    """`add-certificates [-k keychain] file...`: DER or PEM certificates into a keychain (the
    default keychain without -k). Writing the System keychain needs root, as on macOS."""
    opts, rest = _opts(args, "k:")
    keychain_name = None
    for flag, value in opts:
        if flag == "-k":
            keychain_name = value
    if not rest:
        raise UsageError()
    certs = []
    for infile in rest:
        try:
            with open(infile, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            sys.stderr.write("security: Error reading infile %s: %s\n" % (infile, exc.strerror))
            return 1
        try:
            certs.extend(kc.load_openssl(data)[1])
        except (SecError, ValueError):
            err("SecCertificateCreateFromData", kc.errSecDecode)
            return 1
    try:
        path, _ = _target(keychain_name)
        if path == kc.SYSTEM_KEYCHAIN and not os.path.exists(kc.system_keychain_file()):
            # The System keychain exists on every Mac; the lab creates it on the first write, which
            # only root can do (/Library/Keychains is root's, as the file then is).
            try:
                common.ensure_dir(os.path.dirname(kc.system_keychain_file()), 0o755)
                kc.Keychain.create(path, os.urandom(16).hex(), mode=0o644).lock()
            except OSError:
                raise SecError(kc.errSecWrPerm)
        with kc.Keychain.open(path, write=True) as keychain:
            added = [c for c in certs if keychain.add_certificate(c)]
            keychain.save()
        if len(added) < len(certs):
            raise SecError(kc.errSecDuplicateItem)
    except SecError as exc:
        err("SecCertificateAddToKeychain", exc)
        return 1
    return 0


# The 27 attributes of a private-key record, in the order `set-key-partition-list` dumps them
# (reference §3.7 shows 0x00, 0x01, 0x02, 0x06 and 0x1A verbatim; the others are assumed).
def _key_attributes(record):
    key_type = 0x2A if record["algorithm"] == "rsa" else 0x49
    empty_date = ("timedate", b"00000000000000\x00")
    return [
        ("uint32", 0x10),
        ("blob", record["label"].encode("utf-8")),
        ("blob", None),
        ("uint32", 1),
        ("uint32", 1),
        ("uint32", 1),
        ("blob", bytes.fromhex(record["id"])),
        ("blob", None),
        ("blob", None),
        ("uint32", key_type),
        ("uint32", record["bits"]),
        ("uint32", record["bits"]),
        empty_date,
        empty_date,
        ("uint32", 1),
        ("uint32", 0),
        ("uint32", 1 if record["extractable"] else 0),
        ("uint32", 0 if record["extractable"] else 1),
        ("uint32", 0),
        ("uint32", 1),
        ("uint32", 1),
        ("uint32", 1),
        ("uint32", 0),
        ("uint32", 1),
        ("uint32", 0),
        ("uint32", 0),
        ("uint32", 1),
    ]


def format_blob(value):
    """A blob as `security` prints it: quoted text when printable, else hex plus escaped text."""
    if value is None:
        return "<NULL>"
    escaped = "".join(chr(b) if 0x20 <= b < 0x7F else "\\%03o" % b for b in value)
    if all(0x20 <= b < 0x7F for b in value):
        return '"%s"' % escaped
    return '0x%s  "%s"' % (value.hex().upper(), escaped)


def key_dump(path, record):
    lines = ['keychain: "%s"' % path, "version: 512", "class: 0x00000010 ", "attributes:"]
    for number, (kind, value) in enumerate(_key_attributes(record)):
        if kind == "uint32":
            text = "0x%08X " % value
        else:
            text = format_blob(value)
        lines.append("    0x%08X <%s>=%s" % (number, kind, text))
    return "\n".join(lines) + "\n"


def cmd_set_key_partition_list(args, ctx):
    opts, rest = _opts(args, "a:c:d:D:j:l:rst:S:k:")
    partitions = password = label = None
    filters = 0
    for flag, value in opts:
        if flag == "-S":
            partitions = [p for p in value.split(",") if p]
        elif flag == "-k":
            password = value
        elif flag == "-l":
            label, filters = value, filters + 1
        elif flag in ("-s", "-a", "-c", "-d", "-D", "-j", "-r", "-t"):
            filters += 1
    if partitions is None or len(rest) > 1:
        raise UsageError()
    try:
        path, _ = _target(rest[0] if rest else None)
        with kc.Keychain.open(path, write=True) as keychain:
            if password is None:
                password = _prompt("password to unlock %s: " % path, ctx["interactive"])
            # Current macOS validates -k by unlocking, which is why the message names SecKeychainUnlock.
            keychain.unlock_checked(password)
            if not filters:
                return err("SecKeychainItemCopyAccess", kc.errSecMissingValue)
            dumps = []
            for record in keychain.key_records():
                if label is not None and record["label"] != label:
                    continue
                record["partitions"] = list(partitions)
                dumps.append(key_dump(path, record))
            keychain.save()
    except SecError as exc:
        return err("SecKeychainUnlock", exc)
    out("".join(dumps))
    return 0


def _identity_line(number, sha1, cert, suffix=""):
    return '%3d) %s "%s"%s\n' % (number, sha1, kc.common_name(cert.subject), suffix)


def cmd_find_identity(args, ctx):
    opts, rest = _opts(args, "p:s:v")
    policy = "basic"
    valid_only = False
    for flag, value in opts:
        if flag == "-p":
            if value not in POLICIES:
                raise UsageError()
            policy = value
        elif flag == "-v":
            valid_only = True
    matching = []
    seen = set()
    searched = _search(rest)
    pool = kc.trust_pool([p for p, _ in searched])
    roots = kc.system_roots()
    for _, keychain in searched:
        for sha1, cert, _ in keychain.identities():
            if sha1 in seen or (policy == "codesigning" and not kc.allows_codesigning(cert)):
                continue
            seen.add(sha1)
            matching.append((sha1, cert, kc.evaluate_trust(cert, pool, roots).code))
    valid = [m for m in matching if m[2] is None]
    text = ""
    if not valid_only:
        text += "Policy: %s\n  Matching identities\n" % POLICIES[policy]
        for number, (sha1, cert, problem) in enumerate(matching, 1):
            text += _identity_line(number, sha1, cert, " (%s)" % problem if problem else "")
        text += "     %d identities found\n" % len(matching)
        if common.node_config().get("find_identity_blank_line"):
            text += "\n"
        text += "  Valid identities only\n"
    for number, (sha1, cert, _) in enumerate(valid, 1):
        text += _identity_line(number, sha1, cert)
    text += "     %d valid identities found\n" % len(valid)
    out(text)
    return 0


def _cert_dump(path, cert):
    """The attribute listing of a certificate record (shape assumed, see README)."""
    name = kc.common_name(cert.subject).encode("utf-8")
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    rows = [
        ('"alis"', "blob", name),
        ('"cenc"', "uint32", 3),
        ('"ctyp"', "uint32", 1),
        ('"hpky"', "blob", hashlib.sha1(spki).digest()),
        ('"issu"', "blob", cert.issuer.public_bytes()),
        ('"labl"', "blob", name),
        ('"skid"', "blob", None),
        ('"snbr"', "blob", cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")),
        ('"subj"', "blob", cert.subject.public_bytes()),
    ]
    lines = ['keychain: "%s"' % path, "version: 256", "class: 0x80001000 ", "attributes:"]
    for tag, kind, value in rows:
        text = "0x%08X " % value if kind == "uint32" else format_blob(value)
        lines.append("    %s<%s>=%s" % (tag, kind, text))
    return "\n".join(lines) + "\n"


def cmd_find_certificate(args, ctx):
    opts, rest = _opts(args, "ac:e:mpZ")
    find_all = pem = hashes = False
    name = None
    for flag, value in opts:
        if flag == "-a":
            find_all = True
        elif flag == "-c":
            name = value
        elif flag == "-p":
            pem = True
        elif flag == "-Z":
            hashes = True
    text = ""
    count = 0
    for path, keychain in _search(rest):
        for cert in keychain.certificates():
            if name is not None and name not in kc.common_name(cert.subject):
                continue
            if count and not find_all:
                break
            count += 1
            der_bytes = cert.public_bytes(serialization.Encoding.DER)
            if hashes:
                text += "SHA-256 hash: %s\nSHA-1 hash: %s\n" % (
                    hashlib.sha256(der_bytes).hexdigest().upper(), kc.cert_sha1(der_bytes))
            if pem:
                text += cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
            else:
                text += _cert_dump(path, cert)
    if not count:
        return err("SecKeychainSearchCopyNext", kc.errSecItemNotFound)
    out(text)
    return 0


# ---------------------------------------------------------------------------------------------
# cms

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"


def cms_content(data):
    """The encapsulated content of a CMS SignedData blob; certificates must parse (as macOS's
    decoder imports them). Raises ValueError naming the failing stage."""
    try:
        info = der.parse(data)
        if der.oid(info.children[0]) != OID_SIGNED_DATA:
            raise ValueError("content")
        signed = der.explicit(info, 0)
        encap = signed.children[2]
        content = der.explicit(encap, 0)
        payload = content.octets() if content is not None else b""
        certs = [c for c in signed.children[3:] if c.tag == 0xA0]
    except (der.DERError, IndexError, TypeError, AttributeError):
        raise ValueError("decode")
    for holder in certs:
        for cert in holder.children or ():
            try:
                x509.load_der_x509_certificate(cert.encoded)
            except (ValueError, TypeError):
                raise ValueError("cert")
    return payload


def cmd_cms(args, ctx):
    opts, rest = _opts(args, "CDESi:o:nNh:c:u:")
    flags = [flag for flag, _ in opts]
    if "-D" not in flags or rest:
        raise UsageError()
    infile = outfile = None
    for flag, value in opts:
        if flag == "-i":
            infile = value
        elif flag == "-o":
            outfile = value
    if infile is None:
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(infile, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            sys.stderr.write('security: unable to open "%s" for reading: %s\n' % (infile, exc.strerror))
            return 1
    try:
        payload = cms_content(data)
    except ValueError:
        sys.stderr.write("security: cert import failed: %s\n" % kc.MESSAGES[kc.errSecParam])
        sys.stderr.write("security: problem decoding\n")
        return 1
    if outfile is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
    else:
        with open(outfile, "wb") as handle:
            handle.write(payload)
    return 0


COMMANDS = {
    "create-keychain": cmd_create_keychain,
    "delete-keychain": cmd_delete_keychain,
    "list-keychains": cmd_list_keychains,
    "default-keychain": cmd_default_keychain,
    "show-keychain-info": cmd_show_keychain_info,
    "set-keychain-settings": cmd_set_keychain_settings,
    "unlock-keychain": cmd_unlock_keychain,
    "lock-keychain": cmd_lock_keychain,
    "import": cmd_import,
    "delete-identity": cmd_delete_identity,
    "add-certificates": cmd_add_certificates,
    "set-key-partition-list": cmd_set_key_partition_list,
    "find-identity": cmd_find_identity,
    "find-certificate": cmd_find_certificate,
    "cms": cmd_cms,
}


def run_command(words, interactive=False):
    """Run one subcommand (argv without the program name) and return its exit status."""
    name, args = words[0], words[1:]
    handler = COMMANDS.get(name)
    if handler is None:
        sys.stderr.write('security: unknown command "%s"\n' % name)
        return 1
    try:
        return handler(args, {"interactive": interactive})
    except UsageError:
        sys.stderr.write("Usage: %s\n" % USAGE[name])
        return SHOW_USAGE
    except SecError as exc:
        return err(name, exc)


def tokenize(line):
    """Split an interactive line like security.c's split_line: white space separates, double or
    single quotes group, a backslash escapes the next character; at most 32 words are kept."""
    words, current, quote, started, escaped = [], [], None, False, False
    for char in line.rstrip("\n"):
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped, started = True, True
        elif quote:
            if char == quote:
                quote = None
            else:
                current.append(char)
        elif char in "\"'":
            quote, started = char, True
        elif char.isspace():
            if current or started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
    if current or started:
        words.append("".join(current))
    return words[:32]


def interactive():
    """`security -i`: run each stdin line until EOF.

    Like security.c: a failed command is followed by ``<command>: returned <n>`` on stderr, and
    the process exits with the status of the last command run.
    """
    status = 0
    prompt = sys.stdin.isatty()
    while True:
        if prompt:
            out("security> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            return status
        words = tokenize(line)
        if not words:
            # security.c resets the status when it reads an empty line, so a trailing blank line
            # (Ansible's stdin_add_newline) turns a failed batch into exit 0.
            status = 0
            continue
        if words[0] in ("exit", "quit"):
            return status
        status = run_command(words, interactive=True)
        sys.stdout.flush()
        if status:
            sys.stderr.write("%s: returned %d\n" % (words[0], status))


def main(argv):
    common.audit(argv)
    args = argv[1:]
    try:
        opts, rest = getopt.getopt(args, "hilp:qv")
    except getopt.GetoptError:
        rest, opts = None, None
    if opts is None or any(flag == "-h" for flag, _ in opts):
        sys.stderr.write("Usage: security [-h] [-i] [-l] [-p prompt] [-q] [-v] [command] [opt ...]\n")
        return SHOW_USAGE
    if any(flag in ("-i", "-p") for flag, _ in opts) and not rest:
        return interactive()
    if not rest:
        sys.stderr.write("Usage: security [-h] [-i] [-l] [-p prompt] [-q] [-v] [command] [opt ...]\n")
        return SHOW_USAGE
    return run_command(rest)
