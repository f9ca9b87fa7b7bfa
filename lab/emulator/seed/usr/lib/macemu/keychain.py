"""File keychains for the lab's macOS emulator (test equipment, never imported by the product).

A keychain is a real file at the path macOS would use, owned by whoever created it. Inside is JSON:
certificates in clear (macOS lets anyone read certificates from a locked keychain), private keys
encrypted with AES-GCM under a key derived from the keychain password (PBKDF2-HMAC-SHA256), so a
wrong password really fails. Unlocking stores the derived key under run_dir(), which a reboot empties,
per calling uid: an unlock in one user's session does not unlock the keychain for another user.

Messages and OSStatus codes live in SecError; the command front-ends decide how to print them.
"""

import base64
import calendar
import fcntl
import hashlib
import json
import os
import plistlib
import time
import uuid

import common
import der
import lazy

# Imported at first use (lazy.py): most security calls never touch cryptography.
x509 = lazy.module("cryptography.x509")
hashes = lazy.module("cryptography.hazmat.primitives.hashes")
serialization = lazy.module("cryptography.hazmat.primitives.serialization")
rsa = lazy.module("cryptography.hazmat.primitives.asymmetric.rsa")
AESGCM = lazy.attr("cryptography.hazmat.primitives.ciphers.aead", "AESGCM")
PBKDF2HMAC = lazy.attr("cryptography.hazmat.primitives.kdf.pbkdf2", "PBKDF2HMAC")
pkcs12 = lazy.module("cryptography.hazmat.primitives.serialization.pkcs12")
ExtendedKeyUsageOID = lazy.attr("cryptography.x509.oid", "ExtendedKeyUsageOID")
NameOID = lazy.attr("cryptography.x509.oid", "NameOID")

# OSStatus values from Security.framework's SecBase.h. `security` exits with status & 0xFF: that is
# how errSecDuplicateKeychain (-25296) becomes the documented exit code 48.
errSecParam = -50
errSecWrPerm = -61
errSecInternalComponent = -2070
errSecAuthFailed = -25293
errSecNoSuchKeychain = -25294
errSecDuplicateKeychain = -25296
errSecDuplicateItem = -25299
errSecItemNotFound = -25300
errSecNoDefaultKeychain = -25307
errSecInteractionNotAllowed = -25308
errSecPkcs12VerifyFailure = -25264
errSecDecode = -26275
errSecMissingValue = -67736

MESSAGES = {
    errSecParam: "One or more parameters passed to a function were not valid.",
    errSecWrPerm: "Write permissions error.",
    errSecInternalComponent: "An internal component failed.",
    errSecAuthFailed: "The user name or passphrase you entered is not correct.",
    errSecNoSuchKeychain: "The specified keychain could not be found.",
    errSecDuplicateKeychain: "A keychain with the same name already exists.",
    errSecDuplicateItem: "The specified item already exists in the keychain.",
    errSecItemNotFound: "The specified item could not be found in the keychain.",
    errSecNoDefaultKeychain: "A default keychain could not be found.",
    errSecInteractionNotAllowed: "User interaction is not allowed.",
    errSecPkcs12VerifyFailure: "MAC verification failed during PKCS12 import (wrong password?)",
    errSecDecode: "Unable to decode the provided data.",
    errSecMissingValue: "A missing value was detected.",
}


class SecError(Exception):
    """A Security.framework failure: `status` is the OSStatus, str() its message."""

    def __init__(self, status):
        Exception.__init__(self, MESSAGES[status])
        self.status = status

    @property
    def exit_code(self):
        return self.status & 0xFF


SYSTEM_KEYCHAIN = "/Library/Keychains/System.keychain"
# The AppleFileDL GUID macOS writes next to every DbName in com.apple.security.plist.
DL_GUID = "{87191ca2-0fc9-11d4-849a-000502b52122}"
FORMAT = "macemu-keychain/1"
KDF_ITERATIONS = 20000  # low on purpose: the lab has two cores and runs many commands
DEFAULT_SETTINGS = {"lock_on_sleep": True, "timeout": 300, "use_lock_interval": False}
PARTITION_APPLE = ("apple:", "apple-tool:")

OID_PBES2 = "1.2.840.113549.1.5.13"
OID_DATA = "1.2.840.113549.1.7.1"
OID_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
OID_KEY_BAG = "1.2.840.113549.1.12.10.1.1"
OID_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _unb64(text):
    return base64.b64decode(text.encode("ascii"))


# ---------------------------------------------------------------------------------------------
# paths and the per-user search list


def keychains_dir():
    return os.path.join(common.home_dir(), "Library", "Keychains")


def login_keychain():
    return os.path.join(keychains_dir(), "login.keychain-db")


def resolve(name):
    """The file a keychain argument refers to.

    A bare name lives in ~/Library/Keychains; anything with a slash is a path. Since macOS 10.12 the
    file behind `foo.keychain` is `foo.keychain-db`, so the -db file wins when it exists.
    """
    path = name if "/" in name else os.path.join(keychains_dir(), name)
    path = os.path.abspath(os.path.expanduser(path))
    if not path.endswith("-db") and not os.path.exists(path) and os.path.exists(path + "-db"):
        return path + "-db"
    return path


def creation_path(name):
    """`create-keychain <name>` materialises `<name>-db` (reference §3.6)."""
    path = name if "/" in name else os.path.join(keychains_dir(), name)
    path = os.path.abspath(os.path.expanduser(path))
    return path if path.endswith("-db") else path + "-db"


def preferences_path():
    return os.path.join(common.home_dir(), "Library", "Preferences", "com.apple.security.plist")


def _read_preferences():
    try:
        with open(preferences_path(), "rb") as handle:
            data = plistlib.load(handle)
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _write_preferences(data):
    path = preferences_path()
    common.ensure_dir(os.path.dirname(path), 0o700)
    tmp = path + ".macemu-tmp"
    with open(tmp, "wb") as handle:
        plistlib.dump(data, handle)
    os.replace(tmp, path)


def _db_entry(path):
    return {"DbName": path, "GUID": DL_GUID, "SubserviceType": 6}


def _entry_path(entry):
    name = entry.get("DbName", "") if isinstance(entry, dict) else ""
    if name.startswith("~"):
        name = common.home_dir() + name[1:]
    return name


def search_list(domain="user"):
    """The keychain paths of a preference domain, in order."""
    if domain == "system":
        return [SYSTEM_KEYCHAIN]
    if domain != "user":
        return []
    prefs = _read_preferences()
    if "DLDBSearchList" not in prefs:
        return [login_keychain()]
    return [p for p in (_entry_path(e) for e in prefs["DLDBSearchList"]) if p]


def set_search_list(paths):
    prefs = _read_preferences()
    prefs["DLDBSearchList"] = [_db_entry(p) for p in paths]
    _write_preferences(prefs)


def default_keychain():
    """The user's default keychain path; SecError when there is none (reference §2.6)."""
    prefs = _read_preferences()
    path = _entry_path(prefs.get("DefaultKeychain", {}))
    if path and os.path.exists(path):
        return path
    if os.path.exists(login_keychain()):
        return login_keychain()
    raise SecError(errSecNoDefaultKeychain)


def set_default_keychain(path):
    prefs = _read_preferences()
    prefs["DefaultKeychain"] = _db_entry(path)
    _write_preferences(prefs)


def remove_from_preferences(path):
    prefs = _read_preferences()
    if "DLDBSearchList" in prefs:
        prefs["DLDBSearchList"] = [e for e in prefs["DLDBSearchList"] if _entry_path(e) != path]
    if _entry_path(prefs.get("DefaultKeychain", {})) == path:
        del prefs["DefaultKeychain"]
    if prefs:
        _write_preferences(prefs)


# ---------------------------------------------------------------------------------------------
# unlock state (volatile, per uid)


def _session_dir():
    base = os.path.join(common.run_dir(), "keychains")
    common.ensure_dir(base, 0o1777)
    mine = os.path.join(base, str(os.getuid()))
    common.ensure_dir(mine, 0o700)
    return mine


def _session_file(path):
    return os.path.join(_session_dir(), hashlib.sha256(path.encode("utf-8")).hexdigest() + ".json")


def _derive(password, salt, iterations):
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(password.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# certificates


def cert_sha1(der_bytes):
    return hashlib.sha1(der_bytes).hexdigest().upper()


def common_name(name):
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return attrs[0].value if attrs else name.rfc4514_string()


def team_identifier(cert):
    attrs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return attrs[0].value if attrs else None


def public_key_id(public_key):
    spki = public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(spki).hexdigest().upper()


def validity_error(cert, now=None):
    """The CSSM code that makes a certificate invalid now, or None. Trust is not evaluated: lab
    certificates chain to lab CAs, which this emulator treats as trusted."""
    now = time.time() if now is None else now
    # cryptography 38 returns naive UTC datetimes: timegm, not .timestamp(), reads them right.
    if calendar.timegm(cert.not_valid_after.timetuple()) < now:
        return "CSSMERR_TP_CERT_EXPIRED"
    if calendar.timegm(cert.not_valid_before.timetuple()) > now:
        return "CSSMERR_TP_CERT_NOT_VALID_YET"
    return None


def allows_codesigning(cert):
    """False only when an ExtendedKeyUsage extension exists and omits codeSigning."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CODE_SIGNING in eku


# ---------------------------------------------------------------------------------------------
# PKCS#12 classification (what macOS 15 rejects before it even tries the password)


def classify_pkcs12(data):
    """{"pfx": bool, "encrypted": bool, "pbes2": bool} from the outer, unencrypted structure."""
    result = {"pfx": False, "encrypted": False, "pbes2": False}
    try:
        pfx = der.parse(data)
        auth_safe = pfx.children[1]
        if der.oid(auth_safe.children[0]) != OID_DATA:
            return result
        safes = der.parse(der.explicit(auth_safe, 0).octets())
        algorithms = []
        for info in safes.children:
            kind = der.oid(info.children[0])
            body = der.explicit(info, 0)
            if kind == OID_ENCRYPTED_DATA:
                enc_info = body.children[1]
                algorithms.append(der.oid(enc_info.children[1].children[0]))
            elif kind == OID_DATA:
                for bag in der.parse(body.octets()).children:
                    if der.oid(bag.children[0]) == OID_SHROUDED_KEY_BAG:
                        value = der.explicit(bag, 0)
                        algorithms.append(der.oid(value.children[0].children[0]))
    except (der.DERError, IndexError, TypeError, AttributeError):
        return result
    result["pfx"] = True
    result["encrypted"] = bool(algorithms)
    result["pbes2"] = OID_PBES2 in algorithms
    return result


def load_pkcs12(data, password, openssl_format=False):
    """(private key or None, [certificate], friendly name) or SecError, the way macOS decides."""
    shape = classify_pkcs12(data)
    if not shape["pfx"]:
        raise SecError(errSecDecode)
    if common.macos_version_tuple() >= (15, 0, 0):
        # macOS 15 refuses OpenSSL p12s without encryption unless told they are "openssl" data,
        # and cannot verify the SHA-256 MAC that goes with OpenSSL 3's PBES2 defaults (§2.4).
        if not shape["encrypted"] and not openssl_format:
            raise SecError(errSecDecode)
        if shape["pbes2"]:
            raise SecError(errSecPkcs12VerifyFailure)
    candidates = [password.encode("utf-8")] if password is not None else []
    if not password:
        candidates.append(None)
    for candidate in candidates:
        try:
            bundle = pkcs12.load_pkcs12(data, candidate)
        except ValueError:
            continue
        certs = []
        name = None
        if bundle.cert is not None:
            certs.append(bundle.cert.certificate)
            if bundle.cert.friendly_name:
                name = bundle.cert.friendly_name.decode("utf-8", "replace")
        certs.extend(c.certificate for c in bundle.additional_certs)
        return bundle.key, certs, name
    raise SecError(errSecPkcs12VerifyFailure)


def load_openssl(data):
    """Keys and certificates from PEM or DER data (`import -f openssl` on non-p12 input)."""
    keys, certs = [], []
    if b"-----BEGIN" in data:
        blocks = data.split(b"-----END ")
        for block in blocks[:-1]:
            start = block.find(b"-----BEGIN ")
            if start < 0:
                continue
            label = block[start + 11:block.find(b"-----", start + 11)]
            pem = block[start:] + b"-----END " + label + b"-----\n"
            if label == b"CERTIFICATE":
                certs.append(x509.load_pem_x509_certificate(pem))
            elif label.endswith(b"PRIVATE KEY"):
                keys.append(serialization.load_pem_private_key(pem, None))
        return keys, certs
    try:
        return [], [x509.load_der_x509_certificate(data)]
    except ValueError:
        pass
    try:
        return [serialization.load_der_private_key(data, None)], []
    except (ValueError, TypeError):
        raise SecError(errSecDecode)


# ---------------------------------------------------------------------------------------------
# the keychain file


class Keychain(object):
    """One keychain file, loaded under an exclusive lock for writers (parallel codesign runs)."""

    def __init__(self, path, data, handle=None):
        self.path = path
        self.data = data
        self._handle = handle

    # -- lifecycle

    @classmethod
    def create(cls, path, password, mode=0o644):
        if os.path.exists(path):
            raise SecError(errSecDuplicateKeychain)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            common.ensure_dir(parent, 0o700)
        salt = os.urandom(16)
        master = _derive(password, salt, KDF_ITERATIONS)
        nonce = os.urandom(12)
        data = {
            "format": FORMAT,
            "uuid": str(uuid.uuid4()),
            "kdf": {"salt": _b64(salt), "iterations": KDF_ITERATIONS},
            "verifier": {"nonce": _b64(nonce),
                         "ct": _b64(AESGCM(master).encrypt(nonce, b"macemu-keychain", b"verifier"))},
            "settings": dict(DEFAULT_SETTINGS),
            "certificates": [],
            "keys": [],
        }
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise SecError(errSecDuplicateKeychain)
        except PermissionError:
            raise SecError(errSecWrPerm)
        with os.fdopen(fd, "w") as handle:
            os.fchmod(fd, mode)
            json.dump(data, handle, sort_keys=True)
        keychain = cls(path, data)
        keychain._remember(master)
        return keychain

    @classmethod
    def open(cls, path, write=False):
        """Load a keychain; with write=True hold an exclusive lock until close()."""
        try:
            handle = open(path, "r+" if write else "r")
        except FileNotFoundError:
            raise SecError(errSecNoSuchKeychain)
        except IsADirectoryError:
            raise SecError(errSecNoSuchKeychain)
        except PermissionError:
            raise SecError(errSecWrPerm if write else errSecInteractionNotAllowed)
        fcntl.flock(handle, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            data = json.load(handle)
        except ValueError:
            handle.close()
            raise SecError(errSecDecode)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            handle.close()
            raise SecError(errSecDecode)
        if not write:
            handle.close()
            handle = None
        return cls(path, data, handle)

    def save(self):
        text = json.dumps(self.data, sort_keys=True)
        # Rewrite in place so the file keeps its owner and mode, as macOS does.
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(text)
        self._handle.flush()

    def close(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- settings and lock state

    @property
    def settings(self):
        return self.data["settings"]

    def settings_line(self, shown_name):
        """The show-keychain-info line (reference §3.5)."""
        parts = ['Keychain "%s"' % shown_name]
        if self.settings.get("lock_on_sleep"):
            parts.append("lock-on-sleep")
        timeout = self.settings.get("timeout")
        parts.append("timeout=%ds" % timeout if timeout is not None else "no-timeout")
        return " ".join(parts)

    def password_ok(self, password):
        return self._master_for(password) is not None

    def _master_for(self, password):
        kdf = self.data["kdf"]
        master = _derive(password, _unb64(kdf["salt"]), kdf["iterations"])
        verifier = self.data["verifier"]
        try:
            AESGCM(master).decrypt(_unb64(verifier["nonce"]), _unb64(verifier["ct"]), b"verifier")
        except Exception:  # cryptography raises InvalidTag; any failure means a wrong password
            return None
        return master

    def _remember(self, master):
        now = time.time()
        record = {"path": self.path, "uuid": self.data["uuid"], "master": _b64(master),
                  "unlocked_at": now, "last_used": now}
        target = _session_file(self.path)
        fd = os.open(target + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)
        os.replace(target + ".tmp", target)

    def _session(self):
        try:
            with open(_session_file(self.path)) as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            return None
        if record.get("uuid") != self.data["uuid"]:
            return None  # the file was deleted and re-created since the unlock
        timeout = self.settings.get("timeout")
        if timeout is not None and time.time() - record.get("last_used", 0) > timeout:
            self.lock()
            return None
        return record

    def is_locked(self):
        return self._session() is None

    def unlock(self, password):
        """Unlock with the password. Reproduces rdar://3835412 (§3.8): unlocking an unlocked
        keychain succeeds whatever the password."""
        if not self.is_locked():
            return
        master = self._master_for(password)
        if master is None:
            raise SecError(errSecAuthFailed)
        self._remember(master)

    def unlock_checked(self, password):
        """Unlock that always verifies the password (set-key-partition-list on current macOS)."""
        master = self._master_for(password)
        if master is None:
            raise SecError(errSecAuthFailed)
        self._remember(master)

    def lock(self):
        try:
            os.unlink(_session_file(self.path))
        except FileNotFoundError:
            pass

    def _master(self):
        record = self._session()
        if record is None:
            raise SecError(errSecInteractionNotAllowed)
        record["last_used"] = time.time()
        target = _session_file(self.path)
        with open(target, "w") as handle:
            json.dump(record, handle)
        return _unb64(record["master"])

    # -- items

    def certificates(self):
        return [x509.load_der_x509_certificate(_unb64(c["der"])) for c in self.data["certificates"]]

    def has_certificate(self, sha1):
        return any(c["sha1"] == sha1 for c in self.data["certificates"])

    def add_certificate(self, cert):
        der_bytes = cert.public_bytes(serialization.Encoding.DER)
        sha1 = cert_sha1(der_bytes)
        if self.has_certificate(sha1):
            return False
        self.data["certificates"].append({"sha1": sha1, "der": _b64(der_bytes)})
        return True

    def add_key(self, key, label, apps, any_app, extractable):
        """Store a private key encrypted under the keychain key (needs the keychain unlocked)."""
        key_id = public_key_id(key.public_key())
        if any(k["id"] == key_id for k in self.data["keys"]):
            return False
        master = self._master()
        pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
        nonce = os.urandom(12)
        if isinstance(key, rsa.RSAPrivateKey):
            algorithm, bits = "rsa", key.key_size
        else:
            algorithm, bits = "ec", key.curve.key_size
        self.data["keys"].append({
            "id": key_id,
            "label": label,
            "algorithm": algorithm,
            "bits": bits,
            "extractable": extractable,
            "acl": {"any": any_app, "apps": list(apps)},
            "partitions": [],
            "nonce": _b64(nonce),
            "ct": _b64(AESGCM(master).encrypt(nonce, pkcs8, key_id.encode("ascii"))),
        })
        return True

    def key_records(self):
        return self.data["keys"]

    def private_key(self, key_id):
        record = next(k for k in self.data["keys"] if k["id"] == key_id)
        master = self._master()
        pkcs8 = AESGCM(master).decrypt(_unb64(record["nonce"]), _unb64(record["ct"]),
                                       key_id.encode("ascii"))
        return serialization.load_der_private_key(pkcs8, None)

    def identities(self):
        """[(sha1, cert, key record)] in import order: a certificate whose key is in this keychain."""
        keys = {k["id"]: k for k in self.data["keys"]}
        found = []
        for entry in self.data["certificates"]:
            cert = x509.load_der_x509_certificate(_unb64(entry["der"]))
            record = keys.get(public_key_id(cert.public_key()))
            if record is not None:
                found.append((entry["sha1"], cert, record))
        return found

    def delete_identity(self, sha1):
        for found_sha1, cert, record in self.identities():
            if found_sha1 == sha1:
                self._master()  # deleting a private key needs the keychain unlocked
                self.data["certificates"] = [c for c in self.data["certificates"] if c["sha1"] != sha1]
                self.data["keys"] = [k for k in self.data["keys"] if k["id"] != record["id"]]
                return cert
        raise SecError(errSecItemNotFound)


def open_all(paths):
    """(path, Keychain) for every path that opens; the others are skipped, as a search does."""
    found = []
    for path in paths:
        try:
            found.append((path, Keychain.open(path)))
        except SecError:
            continue
    return found
