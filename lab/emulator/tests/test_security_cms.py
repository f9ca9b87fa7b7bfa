"""`security cms -D` (§3.9): prints the encapsulated plist; the reference's error texts."""

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

PLIST = (b'<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">\n<dict>\n'
         b"\t<key>UUID</key>\n\t<string>0B5C4C7E-1C1A-4B33-9F0E-3E2B5A1C2D3F</string>\n</dict>\n</plist>\n")


def signed_profile(dev_identity):
    cert, key = dev_identity
    return (pkcs7.PKCS7SignatureBuilder().set_data(PLIST).add_signer(cert, key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))


def test_cms_decode_prints_plist(lab, dev_identity):
    profile = lab.root / "lab.mobileprovision"
    profile.write_bytes(signed_profile(dev_identity))
    result = lab.security("cms", "-D", "-i", profile)
    assert (result.returncode, result.stdout, result.stderr) == (0, PLIST.decode(), "")
    out = lab.root / "out.plist"
    assert lab.security("cms", "-D", "-i", profile, "-o", out).returncode == 0
    assert out.read_bytes() == PLIST


def test_cms_missing_file(lab):
    missing = lab.root / "nope.mobileprovision"
    result = lab.security("cms", "-D", "-i", missing)
    assert result.returncode != 0
    assert result.stderr == 'security: unable to open "%s" for reading: No such file or directory\n' % missing


def test_cms_broken_file(lab, dev_identity):
    broken = lab.root / "broken.mobileprovision"
    broken.write_bytes(signed_profile(dev_identity)[:-300])
    result = lab.security("cms", "-D", "-i", broken)
    assert (result.returncode != 0, result.stdout) == (True, "")
    assert result.stderr == ("security: cert import failed: One or more parameters passed to a function were not valid.\n"
                             "security: problem decoding\n")
