"""The lab's stand-in for Apple's PKI (test equipment, never used by the product).

On a real Mac the "Apple Root CA" is in the system roots of every machine, while the issuing
intermediates ("Apple Worldwide Developer Relations Certification Authority", "Developer ID
Certification Authority") are NOT: a signing identity is only valid once its intermediate is in a
keychain on the search list or in the System keychain (reference §4.1). The lab copies that:

- `ensure_root(pki_dir)` creates (once, kept across down/up) a clearly fake "Apple Root CA" for the
  lab; `lab/meshlab` writes its certificate into every node's system roots at every boot;
- `ensure_intermediate(pki_dir)` creates the lab's WWDR intermediate, issued by that root. It is
  never preinstalled on a node: the product's `apple_intermediates` role installs it (the lab
  inventory adds it to the same variable as Apple's real intermediates);
- `lab/demo_assets.py` issues the demo identities from the intermediate.

The names are deliberately not Apple's exact subjects, so a real Apple intermediate never
completes a lab chain by accident (the emulator checks signatures, not only names).
"""

import datetime
import os

ROOT_CN = "MacMesh Lab Apple Root CA (FAKE)"
WWDR_CN = "MacMesh Lab Worldwide Developer Relations CA (FAKE)"
WWDR_OU = "LAB-G1"
ROOT_FILE = "lab-apple-root-ca"
WWDR_FILE = "lab-wwdr-ca"
# Where a node keeps its system roots (the lab's stand-in for SystemRootCertificates.keychain).
NODE_SYSTEM_ROOTS = "/System/Library/Keychains/SystemRootCertificates.pem"


def _crypto():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    return x509, hashes, serialization, rsa, NameOID


def _name(common_name, unit):
    x509, _, _, _, NameOID = _crypto()
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MacMesh Lab (FAKE)"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    ])


def _write(path, data, mode):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _load(pki_dir, base):
    x509, _, serialization, _, _ = _crypto()
    cert_path = os.path.join(pki_dir, base + ".pem")
    key_path = os.path.join(pki_dir, base + ".key")
    if not (os.path.exists(cert_path) and os.path.exists(key_path)):
        return None
    with open(key_path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    with open(cert_path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    return key, cert


def _issue(pki_dir, base, subject, issuer, days):
    x509, hashes, serialization, rsa, _ = _crypto()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer_key, issuer_name = (key, subject) if issuer is None else (issuer[0], issuer[1].subject)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    os.makedirs(pki_dir, mode=0o700, exist_ok=True)
    _write(os.path.join(pki_dir, base + ".key"), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
    _write(os.path.join(pki_dir, base + ".pem"), cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(os.path.join(pki_dir, base + ".cer"), cert.public_bytes(serialization.Encoding.DER), 0o644)
    return key, cert


def ensure_root(pki_dir):
    """(key, cert) of the lab's "Apple Root CA", created on first use."""
    return _load(pki_dir, ROOT_FILE) or _issue(pki_dir, ROOT_FILE, _name(ROOT_CN, "Lab Certification Authority"),
                                               None, 7300)


def ensure_intermediate(pki_dir):
    """(key, cert) of the lab's WWDR intermediate, issued by the lab root, created on first use."""
    found = _load(pki_dir, WWDR_FILE)
    if found:
        return found
    return _issue(pki_dir, WWDR_FILE, _name(WWDR_CN, WWDR_OU), ensure_root(pki_dir), 3650)


def root_pem(pki_dir):
    ensure_root(pki_dir)
    with open(os.path.join(pki_dir, ROOT_FILE + ".pem")) as handle:
        return handle.read()
