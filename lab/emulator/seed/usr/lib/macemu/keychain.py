"""File keychains for the lab's macOS emulator (test equipment, never imported by the product).

A keychain is a real file at the path macOS would use, owned by whoever created it. Inside is JSON:
certificates in clear (macOS lets anyone read certificates from a locked keychain), private keys
encrypted with AES-GCM under a key derived from the keychain password (PBKDF2-HMAC-SHA256), so a
wrong password really fails. Unlocking stores the derived key under run_dir(), which a reboot empties,
per calling uid and login session (common.login_session(), the lab's audit-session analogue): an
unlock in one SSH login is not seen by the next login, nor by another user (reference §4.3, strict).

Trust (reference §4.1): an identity is valid only when its certificate chain, built from the
keychains on the search list plus the System keychain, ends in one of the node's system roots,
every signature verifies and no certificate is expired.

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
ec = lazy.module("cryptography.hazmat.primitives.asymmetric.ec")
padding = lazy.module("cryptography.hazmat.primitives.asymmetric.padding")
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
# The node's trusted anchors: a PEM bundle written by lab/meshlab at every boot (the lab's stand-in
# for /System/Library/Keychains/SystemRootCertificates.keychain).
SYSTEM_ROOTS = "/System/Library/Keychains/SystemRootCertificates.pem"
# The AppleFileDL GUID macOS writes next to every DbName in com.apple.security.plist.
DL_GUID = "{87191ca2-0fc9-11d4-849a-000502b52122}"
FORMAT = "macemu-keychain/1"
KDF_ITERATIONS = 20000  # low on purpose: the lab has two cores and runs many commands
DEFAULT_SETTINGS = {"lock_on_sleep": True, "timeout": 300, "use_lock_interval": False}
# `man security` (quoted in github/docs PR #30252, reference §2.2): "If you'd like to run
# /usr/bin/codesign with the key, "apple:" must be an element of the partition list."
PARTITION_CODESIGN = "apple:"

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


def system_keychain_file():
    """Where the System keychain's file is (MACEMU_SYSTEM_KEYCHAIN redirects it for host tests);
    it is always *shown* as SYSTEM_KEYCHAIN."""
    return os.environ.get("MACEMU_SYSTEM_KEYCHAIN", SYSTEM_KEYCHAIN)


def system_roots_file():
    return os.environ.get("MACEMU_SYSTEM_ROOTS", SYSTEM_ROOTS)


def real_path(path):
    """The file behind a shown keychain path (only the System keychain can differ)."""
    return system_keychain_file() if path == SYSTEM_KEYCHAIN else path


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


def unlock_scope():
    """"session" (default, strict: per uid and login session) or "uid" (the old, kinder model:
    one unlock is seen by every session of the user), from node.json `unlock_scope`."""
    return "uid" if common.node_config().get("unlock_scope") == "uid" else "session"


def _session_dir():
    base = os.path.join(common.run_dir(), "keychains")
    common.ensure_dir(base, 0o1777)
    mine = os.path.join(base, str(os.getuid()))
    common.ensure_dir(mine, 0o700)
    if unlock_scope() == "session":
        mine = os.path.join(mine, common.login_session())
        common.ensure_dir(mine, 0o700)
    return mine


def last_sleep():
    """When the node last went to sleep (`pmset sleepnow`), node clock; 0 if it never did."""
    try:
        with open(os.path.join(common.run_dir(), "last_sleep")) as handle:
            return float(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0.0


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
    """The CSSM code that makes this one certificate invalid now (dates only), or None."""
    now = common.now() if now is None else now
    # cryptography 38 returns naive UTC datetimes: timegm, not .timestamp(), reads them right.
    if calendar.timegm(cert.not_valid_after.timetuple()) < now:
        return "CSSMERR_TP_CERT_EXPIRED"
    if calendar.timegm(cert.not_valid_before.timetuple()) > now:
        return "CSSMERR_TP_CERT_NOT_VALID_YET"
    return None


def system_roots():
    """The node's trusted anchors (empty when the file is missing: nothing is trusted)."""
    try:
        with open(system_roots_file(), "rb") as handle:
            data = handle.read()
    except OSError:
        return []
    return load_openssl(data)[1] if data.strip() else []


def signed_by(cert, issuer):
    """True when issuer's key verifies cert's signature."""
    public_key = issuer.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                              cert.signature_hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes,
                              ec.ECDSA(cert.signature_hash_algorithm))
        else:
            return False
    except Exception:  # InvalidSignature or an unsupported algorithm: not this issuer
        return False
    return True


# What evaluate_trust() returns besides None (trusted).
TRUST_EXPIRED = "CSSMERR_TP_CERT_EXPIRED"
TRUST_NOT_YET_VALID = "CSSMERR_TP_CERT_NOT_VALID_YET"
TRUST_NOT_TRUSTED = "CSSMERR_TP_NOT_TRUSTED"


class Trust(object):
    """The outcome of a chain evaluation: `code` (None = trusted), `chain` (leaf first, as far as
    it was built) and `missing_issuer` (the issuer name nothing in the pool provides)."""

    def __init__(self, code, chain, missing_issuer=None):
        self.code = code
        self.chain = chain
        self.missing_issuer = missing_issuer


def evaluate_trust(leaf, pool, roots=None, now=None):
    """Build the chain leaf -> ... -> anchor from `pool` (certificates of the searched keychains)
    and the system roots, checking names and signatures; then dates on every certificate."""
    roots = system_roots() if roots is None else roots
    root_der = set(r.public_bytes(serialization.Encoding.DER) for r in roots)
    chain = [leaf]
    anchored = False
    missing = None
    while len(chain) < 8:
        current = chain[-1]
        if current.public_bytes(serialization.Encoding.DER) in root_der:
            anchored = True
            break
        parent = next((c for c in roots + pool if c.subject == current.issuer and signed_by(current, c)
                       and c not in chain), None)
        if parent is None:
            if current.issuer != current.subject:
                missing = current.issuer  # an intermediate is not in any searched keychain
            break
        chain.append(parent)
    for cert in chain:
        problem = validity_error(cert, now)
        if problem:
            return Trust(problem, chain, missing)
    if not anchored:
        return Trust(TRUST_NOT_TRUSTED, chain, missing)
    return Trust(None, chain)


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
        shown, path = path, real_path(path)
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
        keychain = cls(shown, data)
        keychain._remember(master)
        return keychain

    @classmethod
    def open(cls, path, write=False):
        """Load a keychain; with write=True hold an exclusive lock until close()."""
        try:
            handle = open(real_path(path), "r+" if write else "r")
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
        now = common.now()
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
        if timeout is not None and common.now() - record.get("last_used", 0) > timeout:
            self.lock()
            return None
        if self.settings.get("lock_on_sleep") and last_sleep() >= record.get("unlocked_at", 0):
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
        record["last_used"] = common.now()
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


def trust_pool(extra=()):
    """Certificates a trust evaluation may use: the given keychains, the user's search list and
    the System keychain (reference §4.1)."""
    paths = []
    for path in list(extra) + search_list("user") + [SYSTEM_KEYCHAIN]:
        if path not in paths:
            paths.append(path)
    pool = []
    for _, keychain in open_all(paths):
        pool.extend(keychain.certificates())
    return pool


def open_all(paths):
    """(path, Keychain) for every path that opens; the others are skipped, as a search does."""
    found = []
    for path in paths:
        try:
            found.append((path, Keychain.open(path)))
        except SecError:
            continue
    return found
