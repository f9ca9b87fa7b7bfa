"""`/usr/bin/codesign` for the lab's macOS emulator (test equipment, never imported by the product).

It signs for real: the CodeDirectory (identifier, team, SHA-256 of the file) is hashed into a
cdhash and that is signed with the identity's private key, taken from the keychain only if
- the identity is trusted (reference §4.1): its chain, built from the search list plus the System
  keychain, reaches a system root and nothing in it is expired. Expired or untrusted:
  `error: The specified item could not be found in the keychain.`; an issuer that no searched
  keychain holds: `Warning: unable to build chain to self-signed root for signer "<name>"` and then
  `<path>: errSecInternalComponent`;
- the keychain is unlocked in this login session. A locked keychain makes codesign wait for a
  password prompt that nobody can answer in a non-interactive session: it blocks (reference §4.2,
  assumed), so only a caller with a timeout survives;
- the key's ACL trusts /usr/bin/codesign and its partition list holds "apple:" (reference §2.2,
  `man security`), else `<path>: errSecInternalComponent`.

macOS keeps the signature of a non-Mach-O file in the extended attributes com.apple.cs.CodeDirectory,
com.apple.cs.CodeRequirements and com.apple.cs.CodeSignature. Linux only lets users write the
`user.` namespace, so they become user.com.apple.cs.*; where the filesystem refuses user xattrs
(tmpfs before Linux 6.6) the same JSON goes to a sidecar file `FILE.macemu-sig`
(MACEMU_CODESIGN_XATTRS=0 forces the sidecar).
"""

import base64
import getopt
import hashlib
import json
import os
import sys
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

import common
import keychain as kc
import launchd
from keychain import SecError

CODESIGN = "/usr/bin/codesign"
XATTR_PREFIX = "user.com.apple.cs."
SIDECAR_SUFFIX = ".macemu-sig"
CODE_DIRECTORY_VERSION = 20500


class Failure(Exception):
    """A codesign diagnostic: printed as is to stderr, exit status 1."""


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# signature storage


def _use_xattrs():
    # MACEMU_CODESIGN_XATTRS=0 forces the sidecar, so the fallback can be exercised on any filesystem.
    return os.environ.get("MACEMU_CODESIGN_XATTRS", "1") != "0"


def _write_signature(path, blobs):
    try:
        if not _use_xattrs():
            raise OSError("user xattrs disabled")
        for name, value in blobs.items():
            os.setxattr(path, XATTR_PREFIX + name, _canonical(value))
        _remove_sidecar(path)
        return
    except OSError:
        for name in blobs:
            try:
                os.removexattr(path, XATTR_PREFIX + name)
            except OSError:
                pass
    with open(path + SIDECAR_SUFFIX, "wb") as handle:
        handle.write(_canonical(blobs))


def _remove_sidecar(path):
    try:
        os.unlink(path + SIDECAR_SUFFIX)
    except FileNotFoundError:
        pass


def read_signature(path):
    """The stored blobs {CodeDirectory, CodeRequirements, CodeSignature}, or None if unsigned."""
    blobs = {}
    for name in ("CodeDirectory", "CodeRequirements", "CodeSignature") if _use_xattrs() else ():
        try:
            blobs[name] = json.loads(os.getxattr(path, XATTR_PREFIX + name))
        except OSError:
            break
    if len(blobs) == 3:
        return blobs
    try:
        with open(path + SIDECAR_SUFFIX, "rb") as handle:
            return json.loads(handle.read())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# identity lookup


def _search_keychains(keychain_filter):
    """[(path, Keychain)] of the user's search list; --keychain filters it (TN2206)."""
    paths = kc.search_list("user")
    if keychain_filter is not None:
        wanted = kc.resolve(keychain_filter)
        paths = [p for p in paths if p == wanted]
        if not paths:
            raise Failure(NOT_IN_KEYCHAIN)
    return kc.open_all(paths)


def find_identity(spec, keychain_filter):
    """(keychain path, sha1, cert, key record) for a SHA-1 or a name, usable for code signing."""
    candidates = []
    for path, keychain in _search_keychains(keychain_filter):
        for sha1, cert, record in keychain.identities():
            if not kc.allows_codesigning(cert):
                continue
            candidates.append((path, sha1, cert, record))
    if len(spec) == 40 and all(c in "0123456789abcdefABCDEF" for c in spec):
        matches = [c for c in candidates if c[1] == spec.upper()]
    else:
        matches = [c for c in candidates if kc.common_name(c[2].subject) == spec]
        if not matches:
            matches = [c for c in candidates if spec in kc.common_name(c[2].subject)]
    distinct = []
    for match in matches:
        if match[1] not in [d[1] for d in distinct]:
            distinct.append(match)
    if not distinct:
        raise Failure("%s: no identity found" % spec)
    if len(distinct) > 1:
        first, second = distinct[0], distinct[1]
        raise Failure('%s: ambiguous (matches "%s" and "%s" in %s)' % (
            spec, kc.common_name(first[2].subject), kc.common_name(second[2].subject), first[0]))
    return distinct[0]


NOT_IN_KEYCHAIN = "error: The specified item could not be found in the keychain."


def prompt_wait():
    """How long a blocked codesign waits before it gives up (lab hygiene only: a real one waits
    for the prompt until something kills it). MACEMU_PROMPT_WAIT, default one day."""
    try:
        return float(os.environ.get("MACEMU_PROMPT_WAIT", "86400"))
    except ValueError:
        return 86400.0


def block_for_prompt(path):
    """What securityd does when codesign needs a locked keychain and nobody can type the password:
    wait. Nothing is printed; the caller's timeout is what ends it."""
    deadline = time.monotonic() + prompt_wait()
    while time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    raise Failure("%s: errSecInternalComponent" % path)


# ---------------------------------------------------------------------------------------------
# sign / display / verify


def _identifier(path):
    base = os.path.basename(path)
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    return stem or base


def _requirement(identifier, leaf_sha1):
    return 'designated => identifier "%s" and certificate leaf = H"%s"' % (identifier, leaf_sha1.lower())


def _sign_bytes(key, data):
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def _verify_bytes(public_key, signature, data):
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def sign(path, spec, keychain_filter, force, timestamp, identifier):
    if not os.path.isfile(path):
        raise Failure("%s: No such file or directory" % path)
    if read_signature(path) is not None and not force:
        raise Failure("%s: is already signed" % path)
    keychain_path, sha1, cert, record = find_identity(spec, keychain_filter)
    trust = kc.evaluate_trust(cert, kc.trust_pool())
    if trust.code is not None:
        if trust.missing_issuer is not None:
            sys.stderr.write('Warning: unable to build chain to self-signed root for signer "%s"\n'
                             % kc.common_name(cert.subject))
            raise Failure("%s: errSecInternalComponent" % path)
        raise Failure(NOT_IN_KEYCHAIN)
    try:
        with kc.Keychain.open(keychain_path) as keychain:
            if keychain.is_locked():
                block_for_prompt(path)
            acl = record["acl"]
            if launchd.in_system_session():
                # A launchd job without SessionCreate: no user security session (§2.1, launchd).
                raise SecError(kc.errSecInternalComponent)
            if not (acl["any"] or CODESIGN in acl["apps"]):
                raise SecError(kc.errSecInternalComponent)
            if kc.PARTITION_CODESIGN not in record["partitions"]:
                raise SecError(kc.errSecInternalComponent)
            key = keychain.private_key(record["id"])
    except SecError:
        # ACL or partition refusal (or a lock between the check and the key): errSecInternalComponent.
        raise Failure("%s: errSecInternalComponent" % path)
    if read_signature(path) is not None:
        sys.stderr.write("%s: replacing existing signature\n" % path)
    with open(path, "rb") as handle:
        content = handle.read()
    identifier = identifier or _identifier(path)
    code_directory = {
        "version": CODE_DIRECTORY_VERSION,
        "identifier": identifier,
        "team_id": kc.team_identifier(cert),
        "hash_type": "sha256",
        "content_sha256": hashlib.sha256(content).hexdigest(),
        "length": len(content),
        "flags": 0,
    }
    cdhash = hashlib.sha256(_canonical(code_directory)).hexdigest()
    signed = {"cdhash": cdhash, "signed_time": int(common.now()), "timestamp": timestamp}
    chain = trust.chain
    blobs = {
        "CodeDirectory": code_directory,
        "CodeRequirements": {"count": 1, "designated": _requirement(identifier, sha1)},
        "CodeSignature": {
            "signed": signed,
            "signature": base64.b64encode(_sign_bytes(key, _canonical(signed))).decode("ascii"),
            "certificates": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
                             for c in chain],
        },
    }
    _write_signature(path, blobs)


def _load(path):
    if not os.path.exists(path):
        raise Failure("%s: No such file or directory" % path)
    blobs = read_signature(path)
    if blobs is None:
        raise Failure("%s: code object is not signed at all" % path)
    try:
        sig = blobs["CodeSignature"]
        certs = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in sig["certificates"]]
        signature = base64.b64decode(sig["signature"])
        cd = blobs["CodeDirectory"]
        if hashlib.sha256(_canonical(cd)).hexdigest() != sig["signed"]["cdhash"]:
            raise InvalidSignature()
        _verify_bytes(certs[0].public_key(), signature, _canonical(sig["signed"]))
    except (InvalidSignature, KeyError, ValueError, TypeError, IndexError):
        raise Failure("%s: invalid signature (code or signature have been modified)" % path)
    return blobs, certs, signature


def _format_time(epoch):
    """`Dec 10, 2018 at 12:18:45 AM`, local time (reference §3.10)."""
    tm = time.localtime(epoch)
    hour = tm.tm_hour % 12 or 12
    return "%s %d, %d at %d:%02d:%02d %s" % (time.strftime("%b", tm), tm.tm_mday, tm.tm_year, hour,
                                             tm.tm_min, tm.tm_sec, "AM" if tm.tm_hour < 12 else "PM")


def display(path, verbosity):
    blobs, certs, signature = _load(path)
    cd = blobs["CodeDirectory"]
    signed = blobs["CodeSignature"]["signed"]
    cdhash = signed["cdhash"]
    lines = ["Executable=%s" % os.path.abspath(path)]
    if verbosity >= 1:
        pages = (cd["length"] + 4095) // 4096
        lines += [
            "Identifier=%s" % cd["identifier"],
            "Format=generic",
            "CodeDirectory v=%d size=%d flags=0x0(none) hashes=%d+2 location=embedded"
            % (cd["version"], len(_canonical(cd)), pages),
        ]
    if verbosity >= 3:
        lines += [
            "Hash type=sha256 size=32",
            "CandidateCDHash sha256=%s" % cdhash[:40],
            "CandidateCDHashFull sha256=%s" % cdhash,
            "Hash choices=sha256",
            "CMSDigest=%s" % cdhash,
            "CMSDigestType=2",
            "Page size=4096",
            "CDHash=%s" % cdhash[:40],
        ]
    if verbosity >= 1:
        size = len(signature) + sum(len(c.public_bytes(serialization.Encoding.DER)) for c in certs)
        lines.append("Signature size=%d" % size)
    if verbosity >= 2:
        for cert in certs:
            lines.append("Authority=%s" % kc.common_name(cert.subject))
        last = certs[-1]
        if last.issuer != last.subject:
            lines.append("Authority=%s" % kc.common_name(last.issuer))
    if verbosity >= 1:
        label = "Timestamp" if signed["timestamp"] else "Signed Time"
        requirements = blobs["CodeRequirements"]
        lines += [
            "%s=%s" % (label, _format_time(signed["signed_time"])),
            "Info.plist=not bound",
            "TeamIdentifier=%s" % (cd["team_id"] or "not set"),
            "Sealed Resources=none",
            "Internal requirements count=%d size=%d"
            % (requirements["count"], len(requirements["designated"])),
        ]
    sys.stderr.write("".join(line + "\n" for line in lines))


def verify(path, verbosity):
    blobs, _, _ = _load(path)
    with open(path, "rb") as handle:
        content = handle.read()
    if hashlib.sha256(content).hexdigest() != blobs["CodeDirectory"]["content_sha256"]:
        raise Failure("%s: invalid signature (code or signature have been modified)" % path)
    if verbosity >= 1:
        sys.stderr.write("%s: valid on disk\n%s: satisfies its Designated Requirement\n" % (path, path))


USAGE = ("Usage: codesign -s identity [-fv*] [-o flags] [-r reqs] [-i ident] path ... # sign\n"
         "       codesign -v [-v*] [-R=<req string>|-R <req file path>] path|[+]pid ... # verify\n"
         "       codesign -d [options] path ... # display contents\n")


def main(argv):
    common.audit(argv)
    args = []
    timestamp = False
    verbosity = 0
    for arg in argv[1:]:
        # --timestamp[=URL|none] and --verbose[=N] take optional values, which getopt cannot express.
        if arg == "--timestamp" or arg.startswith("--timestamp="):
            timestamp = arg != "--timestamp=none"
        elif arg == "--verbose" or arg.startswith("--verbose="):
            value = arg.partition("=")[2]
            verbosity += int(value) if value.isdigit() else 1
        else:
            args.append(arg)
    try:
        opts, paths = getopt.gnu_getopt(args, "dvfs:i:", [
            "sign=", "keychain=", "force", "display", "verify", "identifier=", "deep",
            "options=", "entitlements=", "generate-entitlement-der"])
    except getopt.GetoptError:
        sys.stderr.write(USAGE)
        return 2
    mode = None
    spec = keychain_filter = identifier = None
    force = False
    for flag, value in opts:
        if flag in ("-s", "--sign"):
            mode, spec = "sign", value
        elif flag in ("-d", "--display"):
            mode = "display"
        elif flag == "--verify":
            mode = mode or "verify"
        elif flag == "-v":
            verbosity += 1
        elif flag in ("-f", "--force"):
            force = True
        elif flag == "--keychain":
            keychain_filter = value
        elif flag in ("-i", "--identifier"):
            identifier = value
    if mode is None and verbosity:
        # A bare -v means verify; every further v adds verbosity.
        mode, verbosity = "verify", verbosity - 1
    if mode is None or not paths:
        sys.stderr.write(USAGE)
        return 2
    status = 0
    for path in paths:
        try:
            if mode == "sign":
                sign(path, spec, keychain_filter, force, timestamp, identifier)
            elif mode == "display":
                display(path, verbosity)
            else:
                verify(path, verbosity)
        except Failure as exc:
            sys.stderr.write("%s\n" % exc)
            status = 1
    return status
