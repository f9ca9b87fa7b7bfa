#!/usr/bin/env python3
"""Generate CLEARLY FAKE demo signing material for the lab (test equipment, never used by the product).

Everything written here chains to the lab's throw-away "Apple Root CA" (lab/meshlab_lib/pki.py),
which only the lab's nodes trust, through the lab's WWDR intermediate, which no node has until the
product's `apple_intermediates` role installs it (as on a fresh Mac mini, reference §4.1):
a distribution identity "Apple Distribution: MacMesh Demo (DEMO12345A)" as a legacy PKCS#12
(3DES/SHA-1, the encoding macOS `security import` accepts), its random passphrase in a 0600 file,
CMS-signed provisioning profiles for the demo bundle ids, and the frozen manifest `profiles.json`
built by the collection's own `macmesh.signing.profile_manifest` module.

Usage:
    lab/demo_assets.py [--out DIR] [--force]

Output (DIR defaults to lab/.state/demo):
    demo-root-ca.pem                      the lab root (public part only; nodes trust it)
    lab-wwdr-ca.cer                       the lab WWDR intermediate (DER), installed by the product
    identity/distribution.p12             identity only (no chain, like a developer-portal
                                          export), legacy encryption
    identity/distribution.p12.passphrase  0600, random, safe alphabet, no newline
    identity/distribution.cer             the identity's certificate (DER)
    profiles/<uuid>.mobileprovision       one per bundle id
    profiles.json                         the manifest for profiles/
    notary/AuthKey_DEMOASC001.p8          a FAKE App Store Connect API key (EC P-256, PKCS#8)
    demo.json                             what was generated (names, SHA-1, paths)
    private/                              0700: issuing-CA and profile-signer keys, kept so tests
                                          can issue extra (e.g. foreign-team) profiles

The root and the intermediate live in the lab's PKI directory (--pki, default: the `pki` directory
next to --out, i.e. $MESHLAB_DIR/pki, shared with lab/meshlab) and are created there when missing.

An existing, complete output directory is left alone (stable manifest sha256 across runs)
unless --force is given. The functions are importable so tests can make variants.
"""

import argparse
import datetime
import json
import os
import plistlib
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import uuid
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from meshlab_lib import pki  # noqa: E402  (lab-only helper next to this file)

REPO = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, ".state", "demo")

TEAM_ID = "DEMO12345A"
ASC_KEY_ID = "DEMOASC001"
ASC_ISSUER_ID = "00000000-0000-4000-8000-00000000a5c0"  # FAKE
TEAM_NAME = "MacMesh Demo"
IDENTITY_NAME = "Apple Distribution: %s (%s)" % (TEAM_NAME, TEAM_ID)
BUNDLE_IDS = ("com.macmesh.demo", "com.macmesh.demo.widget")
# The same restricted alphabet the keychain tooling accepts for secrets fed to `security -i`.
PASSPHRASE_ALPHABET = string.ascii_letters + string.digits + "_.,:+=@%/-"
# Fake device UDIDs (the 00008xxx- shape of Apple Silicon devices, obviously made up).
DEMO_DEVICES = ("00008101-000DE40000000001", "00008101-000DE40000000002")


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name, org=TEAM_NAME, unit=None, uid=None):
    attrs = []
    if uid:
        attrs.append(x509.NameAttribute(NameOID.USER_ID, uid))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, "US"))
    return x509.Name(attrs)


def make_root_ca(now=None):
    """(key, cert) of the fake "MacMesh Demo Root CA"."""
    now = now or utcnow()
    key = new_key()
    name = _name("MacMesh Demo Root CA (FAKE - NOT TRUSTED)", org="MacMesh Demo (FAKE)")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_leaf(ca_key, ca_cert, subject, eku, now=None, days=365):
    """(key, cert) for a leaf signed by the demo CA."""
    now = now or utcnow()
    key = new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def make_identity(ca_key, ca_cert, team_id=TEAM_ID, team_name=TEAM_NAME, now=None):
    """(key, cert) of the distribution identity; OU carries the Team ID like Apple's certificates."""
    subject = _name(
        "Apple Distribution: %s (%s)" % (team_name, team_id), org=team_name, unit=team_id, uid=team_id
    )
    return issue_leaf(ca_key, ca_cert, subject, ExtendedKeyUsageOID.CODE_SIGNING, now=now)


def make_profile_signer(ca_key, ca_cert, now=None):
    subject = _name("MacMesh Demo Profile Signing (FAKE)", org="MacMesh Demo (FAKE)")
    return issue_leaf(ca_key, ca_cert, subject, ExtendedKeyUsageOID.CODE_SIGNING, now=now, days=3650)


def kc_name(cert):
    """The certificate's common name (how security and codesign name it)."""
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def new_passphrase(length=32):
    return "".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(length))


def legacy_p12(key, cert, chain, passphrase, friendly_name=b"MacMesh Demo Distribution (FAKE)"):
    """PKCS#12 with PBE-SHA1-3DES and a SHA-1 MAC: what `openssl pkcs12 -export -legacy` writes."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(passphrase.encode("ascii"))
    )
    return pkcs12.serialize_key_and_certificates(friendly_name, key, cert, chain, encryption)


def profile_plist(
    bundle_id,
    identity_cert,
    team_id=TEAM_ID,
    team_name=TEAM_NAME,
    now=None,
    created_days=-1,
    expires_days=300,
    devices=DEMO_DEVICES,
    provisions_all_devices=False,
    profile_uuid=None,
    name=None,
):
    """The profile's property list (a dict), shaped like a developer-portal profile."""
    now = (now or utcnow()).replace(tzinfo=None)
    body = {
        "AppIDName": "MacMesh Demo %s" % bundle_id,
        "ApplicationIdentifierPrefix": [team_id],
        "CreationDate": now + datetime.timedelta(days=created_days),
        "ExpirationDate": now + datetime.timedelta(days=expires_days),
        "DeveloperCertificates": [identity_cert.public_bytes(serialization.Encoding.DER)],
        "Entitlements": {
            "application-identifier": "%s.%s" % (team_id, bundle_id),
            "com.apple.developer.team-identifier": team_id,
            "get-task-allow": False,
            "keychain-access-groups": ["%s.*" % team_id],
        },
        "IsXcodeManaged": False,
        "Name": name or "MacMesh Demo Distribution %s" % bundle_id,
        "Platform": ["iOS"],
        "TeamIdentifier": [team_id],
        "TeamName": team_name,
        "TimeToLive": expires_days - created_days,
        "UUID": profile_uuid or str(uuid.uuid4()).upper(),
        "Version": 1,
    }
    if provisions_all_devices:
        body["ProvisionsAllDevices"] = True
    else:
        body["ProvisionedDevices"] = list(devices)
    return body


def sign_profile(body, signer_key, signer_cert, ca_cert):
    """DER CMS SignedData with the XML plist embedded, as Apple delivers .mobileprovision files."""
    data = plistlib.dumps(body, fmt=plistlib.FMT_XML)
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(signer_cert, signer_key, hashes.SHA256())
        .add_certificate(ca_cert)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def write_file(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private(out):
    """(ca_key, ca_cert, signer_key, signer_cert, identity_cert) from an existing output dir."""
    def read(rel):
        with open(os.path.join(out, rel), "rb") as handle:
            return handle.read()

    return (
        serialization.load_pem_private_key(read("private/issuing-ca.key"), None),
        x509.load_pem_x509_certificate(read("private/issuing-ca.pem")),
        serialization.load_pem_private_key(read("private/profile-signer.key"), None),
        x509.load_pem_x509_certificate(read("private/profile-signer.pem")),
        x509.load_der_x509_certificate(read("identity/distribution.cer")),
    )


def build_manifest(profiles_dir, dest, version, identity_cert=None):
    """Run the collection's profile_manifest module on localhost: the product path, not a copy."""
    args = {"src": profiles_dir, "dest": dest, "version": version}
    if identity_cert:
        # The manifest then also proves every profile lists the demo identity.
        args["identities"] = [{"path": identity_cert}]
    run_module("macmesh.signing.profile_manifest", args, os.path.dirname(dest))
    with open(dest, "rb") as handle:
        return json.load(handle)


def initial_release(out, demo, version):
    """The lab mesh's first release (the desired state bootstrap applies), written by the product's
    macmesh.signing.release module: <out>/releases/<version>/release.json and <out>/releases/current."""
    run_module("macmesh.signing.release", {
        "state": "initial", "releases_dir": os.path.join(out, "releases"), "version": version,
        "manifest": demo["manifest"], "profiles_dir": demo["profiles_dir"],
        "identities": [{"sha1": demo["identity_sha1"], "name": demo["identity_name"], "p12": demo["p12"],
                        "passphrase": {"file": demo["p12_passphrase_file"]}}],
        # The lab is a `dedicated` mesh with one signer in each of four regions, so the distribution
        # key lives on four hosts. Production meshes keep the field limit of 2 live copies.
        "policy": {"max_key_copies": 4},
    }, out)
    return os.path.join(out, "releases")


def run_module(module, args, cwd):
    """Run one of the collection's modules on localhost, as an operator would with `ansible -m`."""
    env = dict(os.environ)
    tree = None
    if not env.get("ANSIBLE_COLLECTIONS_PATH"):
        # Run the checkout itself: a throw-away ansible_collections tree with one symlink to it.
        tree = tempfile.mkdtemp(prefix="macmesh-demo-")
        os.makedirs(os.path.join(tree, "ansible_collections", "macmesh"))
        os.symlink(REPO, os.path.join(tree, "ansible_collections", "macmesh", "signing"))
        env["ANSIBLE_COLLECTIONS_PATH"] = tree
    # Only the module matters here: no inventory, no ansible.cfg from the caller's directory.
    env.pop("ANSIBLE_CONFIG", None)
    env["ANSIBLE_INVENTORY"] = "localhost,"
    env["ANSIBLE_LOCALHOST_WARNING"] = "False"
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "False"
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
    try:
        proc = subprocess.run(
            [ansible, "localhost", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
             "-m", module, "-a", json.dumps(args)],
            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True,
        )
    finally:
        if tree:
            shutil.rmtree(tree)  # unlinks the symlink, never follows it
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (module, proc.stdout))


def default_pki_dir(out):
    return os.path.join(os.path.dirname(os.path.abspath(out)), "pki")


def generate(out, version="demo-1", pki_dir=None):
    """Write the whole demo set into `out`; returns the demo.json dict."""
    now = utcnow()
    pki_dir = pki_dir or default_pki_dir(out)
    _root_key, root_cert = pki.ensure_root(pki_dir)
    ca_key, ca_cert = pki.ensure_intermediate(pki_dir)  # identities are issued by the WWDR stand-in
    id_key, id_cert = make_identity(ca_key, ca_cert, now=now)
    signer_key, signer_cert = make_profile_signer(ca_key, ca_cert, now=now)
    passphrase = new_passphrase()

    os.makedirs(os.path.join(out, "private"), mode=0o700, exist_ok=True)
    write_file(os.path.join(out, "private", "issuing-ca.key"), pem_key(ca_key), 0o600)
    write_file(os.path.join(out, "private", "issuing-ca.pem"), ca_cert.public_bytes(serialization.Encoding.PEM))
    wwdr_der = ca_cert.public_bytes(serialization.Encoding.DER)
    write_file(os.path.join(out, "lab-wwdr-ca.cer"), wwdr_der)
    write_file(os.path.join(out, "private", "profile-signer.key"), pem_key(signer_key), 0o600)
    write_file(
        os.path.join(out, "private", "profile-signer.pem"),
        signer_cert.public_bytes(serialization.Encoding.PEM),
    )
    write_file(os.path.join(out, "demo-root-ca.pem"), root_cert.public_bytes(serialization.Encoding.PEM))
    write_file(
        os.path.join(out, "identity", "distribution.cer"),
        id_cert.public_bytes(serialization.Encoding.DER),
    )
    write_file(
        os.path.join(out, "identity", "distribution.p12"),
        legacy_p12(id_key, id_cert, None, passphrase),
        0o600,
    )
    write_file(
        os.path.join(out, "identity", "distribution.p12.passphrase"), passphrase.encode("ascii"), 0o600
    )

    # A FAKE App Store Connect API key (.p8 = PKCS#8 EC P-256), for the notary_credentials role.
    asc_key = ec.generate_private_key(ec.SECP256R1())
    write_file(os.path.join(out, "notary", "AuthKey_%s.p8" % ASC_KEY_ID), pem_key(asc_key), 0o600)

    profiles_dir = os.path.join(out, "profiles")
    profiles = []
    for index, bundle_id in enumerate(BUNDLE_IDS):
        # One ad-hoc style profile with device UDIDs, one that provisions all devices: both shapes.
        body = profile_plist(bundle_id, id_cert, now=now, provisions_all_devices=index == 1)
        filename = "%s.mobileprovision" % body["UUID"]
        write_file(os.path.join(profiles_dir, filename), sign_profile(body, signer_key, signer_cert, ca_cert))
        profiles.append({"uuid": body["UUID"], "bundle_id": bundle_id, "filename": filename})

    manifest_path = os.path.join(out, "profiles.json")
    manifest = build_manifest(
        profiles_dir, manifest_path, version, os.path.join(out, "identity", "distribution.cer")
    )
    demo = {
        "warning": "FAKE demo material issued by a throw-away CA; useless outside the lab",
        "team_id": TEAM_ID,
        "team_name": TEAM_NAME,
        "identity_name": IDENTITY_NAME,
        "identity_sha1": id_cert.fingerprint(hashes.SHA1()).hex().upper(),
        "p12": os.path.join(out, "identity", "distribution.p12"),
        "p12_passphrase_file": os.path.join(out, "identity", "distribution.p12.passphrase"),
        "root_ca": os.path.join(out, "demo-root-ca.pem"),
        "wwdr_intermediate": {"name": kc_name(ca_cert), "src": os.path.join(out, "lab-wwdr-ca.cer"),
                              "sha256": hashlib.sha256(wwdr_der).hexdigest()},
        "profiles_dir": profiles_dir,
        "profiles": profiles,
        "manifest": manifest_path,
        "manifest_sha256": manifest["sha256"],
        "manifest_version": manifest["version"],
        "asc_key": os.path.join(out, "notary", "AuthKey_%s.p8" % ASC_KEY_ID),
        "asc_key_id": ASC_KEY_ID,
        "asc_issuer_id": ASC_ISSUER_ID,
    }
    demo["releases_dir"] = initial_release(out, demo, version)
    write_file(os.path.join(out, "demo.json"), (json.dumps(demo, indent=2, sort_keys=True) + "\n").encode())
    return demo


def issue_renewal(demo_dir, out, version, broken=False, mismatch=False, expires_days=400):
    """Renewed material for a rotation: a new identity (p12 + passphrase file) from the demo CA and
    new profiles (new UUIDs) for it, with their manifest. Returns what rotate.yml takes.

    broken: the identity has no code-signing usage (it imports, but codesign cannot use it).
    mismatch: the profiles list the OLD identity instead of the new one.
    """
    ca_key, ca_cert, signer_key, signer_cert, old_cert = load_private(demo_dir)
    shutil.rmtree(out, ignore_errors=True)
    if broken:
        subject = _name(IDENTITY_NAME, unit=TEAM_ID, uid=TEAM_ID)
        key, cert = issue_leaf(ca_key, ca_cert, subject, ExtendedKeyUsageOID.CLIENT_AUTH)
    else:
        key, cert = make_identity(ca_key, ca_cert)
    passphrase = new_passphrase()
    p12 = os.path.join(out, "identity", "distribution.p12")
    write_file(p12, legacy_p12(key, cert, None, passphrase), 0o600)
    write_file(p12 + ".passphrase", passphrase.encode("ascii"), 0o600)
    profiles_dir = os.path.join(out, "profiles")
    for bundle_id in BUNDLE_IDS:
        body = profile_plist(bundle_id, old_cert if mismatch else cert, expires_days=expires_days)
        write_file(os.path.join(profiles_dir, "%s.mobileprovision" % body["UUID"]),
                   sign_profile(body, signer_key, signer_cert, ca_cert))
    manifest = build_manifest(profiles_dir, os.path.join(out, "profiles.json"), version)
    sha1 = cert.fingerprint(hashes.SHA1()).hex().upper()
    return {
        "manifest": os.path.join(out, "profiles.json"),
        "profiles_dir": profiles_dir,
        "version": version,
        "sha256": manifest["sha256"],
        "sha1": sha1,
        "passphrase": passphrase,
        "p12_passphrase_file": p12 + ".passphrase",
        # As a rotation takes them: where the passphrase comes from, never the value.
        "identities": [{"p12": p12, "passphrase": {"file": p12 + ".passphrase"}, "sha1": sha1}],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    parser.add_argument("--version", default="demo-1", help="manifest version label")
    parser.add_argument("--force", action="store_true", help="regenerate even if the set exists")
    parser.add_argument("--pki", default=None, help="the lab PKI directory (default: pki next to --out)")
    parser.add_argument("--renewal", metavar="DIR",
                        help="issue renewed material for a rotation into DIR from the set in --out")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    if args.renewal:
        renewal = issue_renewal(out, os.path.abspath(args.renewal), args.version)
        renewal.pop("passphrase")  # stdout is not a place for secrets: it is in p12_passphrase_file
        print(json.dumps(renewal, indent=2, sort_keys=True))
        return 0
    summary = os.path.join(out, "demo.json")
    if os.path.exists(summary) and not args.force:
        with open(summary) as handle:
            print(handle.read(), end="")
        return 0
    if args.force and os.path.isdir(out):
        shutil.rmtree(out)
    print(json.dumps(generate(out, args.version, args.pki), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
