"""The pinned CA certificates (roles/apple_intermediates): the shipped files match their pins, and a
file that does not is refused, naming the entry and the field."""

import hashlib
import os

import pytest
import yaml

from ansible_collections.macmesh.signing.plugins.module_utils._certificates import (
    CertificateError,
    check_pins,
    der_of,
    missing,
)

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "apple_intermediates")


def shipped():
    with open(os.path.join(ROLE, "defaults", "main.yml")) as handle:
        return yaml.safe_load(handle)["apple_intermediates_certificates"]


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def test_every_shipped_intermediate_matches_its_pin():
    entries = [dict(e, path=os.path.join(ROLE, "files", e["file"])) for e in shipped()]
    assert [e["name"] for e in entries] == [
        "Worldwide Developer Relations - G3", "Worldwide Developer Relations - G4",
        "Worldwide Developer Relations - G5", "Worldwide Developer Relations - G6",
        "Developer ID - G1", "Developer ID - G2"]
    checked = check_pins(entries, read)
    assert all(e["source"].startswith("https://www.apple.com/certificateauthority/") for e in entries)
    # G3's SHA-1 as Apple's PKI page and public scripts give it.
    assert checked[0]["sha1"] == "06EC06599F4ED0027CC58956B4D3AC1255114F35"


def test_subjects_and_issuers_are_apples():
    x509 = pytest.importorskip("cryptography.x509")
    for entry in shipped():
        cert = x509.load_der_x509_certificate(read(os.path.join(ROLE, "files", entry["file"])))
        subject = cert.subject.rfc4514_string()
        assert "O=Apple Inc." in subject
        assert ("Worldwide Developer Relations" in subject) == entry["name"].startswith("Worldwide")
        assert cert.issuer.rfc4514_string().startswith(("CN=Apple Root CA,", "C=US,O=Apple Inc.,OU=Apple Certification Authority,CN=Apple Root CA - G3"))


def test_a_wrong_file_is_refused_naming_entry_and_field(tmp_path):
    path = tmp_path / "AppleWWDRCAG3.cer"
    path.write_bytes(b"not the certificate")
    with pytest.raises(CertificateError) as info:
        check_pins([{"name": "Worldwide Developer Relations - G3", "path": str(path),
                     "sha256": shipped()[0]["sha256"]}], read)
    assert str(info.value).startswith("certificates[0] (Worldwide Developer Relations - G3): sha256: ")
    with pytest.raises(CertificateError, match=r"certificates\[0\] \(x\): sha256: a 64-hex-digit pin is required"):
        check_pins([{"name": "x", "path": str(path), "sha256": "abc"}], read)


def test_pem_and_missing(tmp_path):
    der = read(os.path.join(ROLE, "files", "AppleWWDRCAG4.cer"))
    import base64
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    assert der_of(pem) == der
    path = tmp_path / "g4.pem"
    path.write_bytes(pem)
    [entry] = check_pins([{"name": "G4", "path": str(path), "sha256": hashlib.sha256(der).hexdigest()}], read)
    assert missing([entry], []) == [entry]
    assert missing([entry], [entry["sha1"].lower()]) == []
