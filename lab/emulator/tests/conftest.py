"""Fixtures for the emulator's conformance tests: the seed scripts run on the host as subprocesses,
with every emulator path (state, run, audit, node config, HOME) pointed into a temporary directory."""

import datetime
import json
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SEED_BIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "seed", "usr", "bin")
SECURITY = os.path.join(SEED_BIN, "security")
CODESIGN = os.path.join(SEED_BIN, "codesign")
PMSET = os.path.join(SEED_BIN, "pmset")


# Every line the emulated security/codesign/pmset printed in this test session, as (tool, subcommand,
# stream, line): test_zz_conformance.py checks each against the catalogue of sourced texts.
PRINTED = []


class Lab(object):
    """One emulated node user: HOME, state, run dir, audit log and node.json under tmp_path."""

    def __init__(self, root, anchors=(), intermediates=()):
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.run_dir = root / "run"
        self.audit = root / "log" / "audit.log"
        self.node_config = root / "node.json"
        self.configure(macos_version="14.6.1")
        self.system_roots = root / "SystemRootCertificates.pem"
        self.system_roots.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in anchors))
        self.system_keychain = root / "System.keychain"
        self.env = dict(os.environ, HOME=str(self.home), MACEMU_STATE=str(root / "state"),
                        MACEMU_RUN=str(self.run_dir), MACEMU_AUDIT=str(self.audit),
                        MACEMU_NODE_CONFIG=str(self.node_config), LC_ALL="C",
                        MACEMU_SYSTEM_ROOTS=str(self.system_roots),
                        MACEMU_SYSTEM_KEYCHAIN=str(self.system_keychain),
                        PYTHONDONTWRITEBYTECODE="1")  # keep the seed tree free of __pycache__
        for cert in intermediates:
            self.add_system_certificate(cert)
        if self.audit.exists():
            self.audit.unlink()  # the setup is not part of what a test audits

    def add_system_certificate(self, cert):
        """Put a CA certificate into the System keychain (what the apple_intermediates role does)."""
        pem = self.root / ("ca-%s.pem" % sha1_of(cert))
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        result = self.security("add-certificates", "-k", "/Library/Keychains/System.keychain", pem)
        assert result.returncode == 0, result.stderr

    def configure(self, **config):
        base = {"name": "hk", "region": "HK"}
        base.update(config)
        self.node_config.write_text(json.dumps(base))

    def run(self, tool, *args, stdin=None, new_session=False, timeout=60):
        """Run an emulated command; new_session=True runs it in a new login session (setsid), the
        way a second SSH login would be."""
        result = subprocess.run([tool] + [str(a) for a in args], input=stdin, env=self.env,
                                capture_output=True, text=True, timeout=timeout,
                                start_new_session=new_session)
        sub = str(args[0]) if args else ""
        for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            for line in text.splitlines():
                PRINTED.append((os.path.basename(tool), sub, stream, line))
        return result

    def security(self, *args, stdin=None, new_session=False):
        return self.run(SECURITY, *args, stdin=stdin, new_session=new_session)

    def codesign(self, *args, new_session=False, timeout=60):
        return self.run(CODESIGN, *args, new_session=new_session, timeout=timeout)

    def reboot(self):
        """What a node reboot does to the emulator: /run is a fresh tmpfs."""
        for dirpath, dirnames, filenames in os.walk(self.run_dir, topdown=False):
            for name in filenames:
                os.unlink(os.path.join(dirpath, name))
            for name in dirnames:
                os.rmdir(os.path.join(dirpath, name))

    def keychain(self, name="ci-build.keychain", password="kc-pass-1"):
        """Create a keychain in tmp, put it on the user's search list, return its -db path."""
        path = self.root / name
        result = self.security("create-keychain", "-p", password, path)
        assert result.returncode == 0, result.stderr
        db = str(path) + "-db"
        assert self.security("list-keychains", "-d", "user", "-s", db).returncode == 0
        return db

    def audit_lines(self):
        return [json.loads(line) for line in self.audit.read_text().splitlines()]


@pytest.fixture
def lab(tmp_path, lab_root, lab_ca):
    """A node whose system roots hold the lab root and whose System keychain holds the lab WWDR
    intermediate (as after the product's apple_intermediates role)."""
    return Lab(tmp_path, anchors=[lab_root[0]], intermediates=[lab_ca[0]])


@pytest.fixture
def bare_lab(tmp_path, lab_root):
    """A fresh node: the lab root is trusted, but no intermediate is installed anywhere."""
    root = tmp_path / "bare"
    root.mkdir()
    return Lab(root, anchors=[lab_root[0]])


def make_ca(cn="MacMesh Lab WWDR CA", issuer=None, expired=False):
    """(cert, key) of a CA: self-signed, or issued by `issuer` (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (name, key)
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(days=400 if expired else 1)
    end = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=3650)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    return cert, key


def make_identity(cn, team="LAB0TEAM01", ca=None, days=365, expired=False, key_type="rsa"):
    """A code-signing certificate and key, issued by `ca` (cert, key) when given."""
    key = rsa.generate_private_key(65537, 2048) if key_type == "rsa" else ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MacMesh Lab")])
    issuer_cert, issuer_key = ca if ca else (None, key)
    issuer = issuer_cert.subject if issuer_cert else subject
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(days=400 if expired else 1)
    end = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=days)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    return cert, key


def sha1_of(cert):
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def p12_bytes(cert, key, password, kind="legacy", extra=None):
    """kind: legacy (3DES/SHA-1, `openssl -legacy`), aes (PBES2/AES-256/SHA-256, OpenSSL 3's default)
    or none (no encryption at all)."""
    if kind == "none":
        encryption = serialization.NoEncryption()
    else:
        builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
        if kind == "legacy":
            builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
        else:
            builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
        encryption = builder.build(password.encode("utf-8"))
    return pkcs12.serialize_key_and_certificates(b"lab", key, cert, extra, encryption)


@pytest.fixture(scope="session")
def lab_root():
    """The lab's "Apple Root CA": in every node's system roots."""
    return make_ca("MacMesh Lab Apple Root CA (FAKE)")


@pytest.fixture(scope="session")
def lab_ca(lab_root):
    """The lab's WWDR intermediate: issues the identities, is not a system root."""
    return make_ca("MacMesh Lab Worldwide Developer Relations CA (FAKE)", issuer=lab_root)


@pytest.fixture(scope="session")
def dev_identity(lab_ca):
    return make_identity("Apple Development: CI Build (LAB0TEAM01)", ca=lab_ca)
