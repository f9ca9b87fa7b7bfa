# -*- coding: utf-8 -*-
# Copyright: contributors to macmesh.signing
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller half of keychain_identity: p12 checks, normalisation, and that no secret leaks."""

import base64
import datetime
import json
import re
import warnings
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultLib, VaultSecret
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.macmesh.signing.plugins.action import keychain_identity as action_mod

CN = "Apple Distribution: Example Corp (ABCDE12345)"
PASSPHRASE = "correct horse battery staple"
KEYCHAIN_PASSWORD = "Kc9pW0rdFromVault"
# DER object identifiers as they appear inside a PKCS#12 file.
OID_PBE_SHA1_3DES = bytes.fromhex("2a864886f70d010c0103")  # pbeWithSHAAnd3-KeyTripleDES-CBC
OID_PBES2 = bytes.fromhex("2a864886f70d01050d")  # PBES2 (OpenSSL 3 default, rejected by macOS 15)
OID_SHA1 = bytes.fromhex("2b0e03021a")
OID_SHA256 = bytes.fromhex("608648016503040201")


def make_identity(cn=CN, key=None):
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ABCDE12345")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture(scope="module")
def identity():
    return make_identity()


def p12(key, cert, passphrase=PASSPHRASE, cas=None):
    """A modern (PBES2/AES-256/SHA-256) p12, the kind OpenSSL 3 writes and macOS 15 refuses."""
    encryption = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"export", key, cert, cas, encryption)


def sha1_of(cert):
    return cert.fingerprint(hashes.SHA1()).hex().upper()


class Harness:
    """An ActionModule wired to a fake task; records what it would send to the module."""

    def __init__(self, tmp_path, args, files=None, check_mode=False, module_result=None, loader=None):
        for name, data in (files or {}).items():
            (tmp_path / name).write_bytes(data)
        task = MagicMock()
        task.args = args
        task.async_val = 0
        task.check_mode = check_mode
        task.action = action_mod.MODULE
        connection = MagicMock()
        connection._shell.tmpdir = None
        self.action = action_mod.ActionModule(task, connection, MagicMock(), loader or DataLoader(), MagicMock(), MagicMock())
        self.action._find_needle = lambda dirname, needle: str(tmp_path / needle)
        self.calls = []
        reply = {"changed": True, "sha1": None} if module_result is None else module_result

        def execute(module_name=None, module_args=None, task_vars=None):
            self.calls.append((module_name, dict(module_args)))
            return dict(reply, invocation={"module_args": dict(module_args)})

        self.action._execute_module = execute

    def run(self):
        return self.action.run(task_vars={})


def test_present_normalises_to_legacy_p12(tmp_path, identity):
    key, cert = identity
    h = Harness(tmp_path, {"src": "dist.p12", "passphrase": PASSPHRASE, "keychain_password": KEYCHAIN_PASSWORD},
                files={"dist.p12": p12(key, cert)})
    h.run()
    assert len(h.calls) == 1
    module_name, args = h.calls[0]
    assert module_name == "macmesh.signing.keychain_identity"
    assert sorted(args) == ["content", "keychain_password", "name", "sha1", "transport_passphrase"]
    assert args["sha1"] == sha1_of(cert) and re.match(r"^[0-9A-F]{40}$", args["sha1"])
    assert args["name"] == CN
    assert re.match(r"^[A-Za-z0-9]{32}$", args["transport_passphrase"])
    blob = base64.b64decode(args["content"])
    # Legacy algorithms only: 3DES bags, SHA-1 MAC, no PBES2/SHA-256 anywhere.
    assert OID_PBE_SHA1_3DES in blob and OID_SHA1 in blob
    assert OID_PBES2 not in blob and OID_SHA256 not in blob.split(OID_SHA1)[-1][:64]
    new_key, new_cert, chain = pkcs12.load_key_and_certificates(blob, args["transport_passphrase"].encode())
    assert sha1_of(new_cert) == sha1_of(cert)
    assert new_key.private_numbers() == key.private_numbers()
    assert chain == []
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(blob, PASSPHRASE.encode())


def test_original_p12_is_modern_so_the_oid_checks_can_fail(identity):
    blob = p12(*identity)
    assert OID_PBES2 in blob and OID_PBE_SHA1_3DES not in blob


def test_chain_is_kept(tmp_path, identity):
    key, cert = identity
    dummy, intermediate = make_identity("Apple Worldwide Developer Relations Certification Authority")
    h = Harness(tmp_path, {"src": "dist.p12", "passphrase": PASSPHRASE}, files={"dist.p12": p12(key, cert, cas=[intermediate])})
    h.run()
    args = h.calls[0][1]
    dummy, new_cert, chain = pkcs12.load_key_and_certificates(base64.b64decode(args["content"]), args["transport_passphrase"].encode())
    assert sha1_of(new_cert) == sha1_of(cert)
    assert [sha1_of(c) for c in chain] == [sha1_of(intermediate)]


def test_transport_passphrase_is_fresh_each_run(tmp_path, identity):
    files = {"dist.p12": p12(*identity)}
    seen = set()
    for dummy in range(2):
        h = Harness(tmp_path, {"src": "dist.p12", "passphrase": PASSPHRASE}, files=files)
        h.run()
        seen.add(h.calls[0][1]["transport_passphrase"])
    assert len(seen) == 2


def test_no_secret_in_result_or_invocation(tmp_path, identity):
    key, cert = identity
    leaked = {}

    h = Harness(tmp_path, {"src": "dist.p12", "passphrase": PASSPHRASE, "keychain_password": KEYCHAIN_PASSWORD},
                files={"dist.p12": p12(key, cert)})
    original = h.action._execute_module

    def echoing_module(module_name=None, module_args=None, task_vars=None):
        # A module that (wrongly) echoed every secret back must still not leak them.
        leaked.update(module_args)
        result = original(module_name=module_name, module_args=module_args, task_vars=task_vars)
        result["msg"] = "echo %s %s %s" % (module_args["transport_passphrase"], module_args["keychain_password"], PASSPHRASE)
        result["content"] = module_args["content"]
        return result

    h.action._execute_module = echoing_module
    result = h.run()
    text = json.dumps(result)
    for secret in (PASSPHRASE, KEYCHAIN_PASSWORD, leaked["transport_passphrase"], leaked["content"]):
        assert secret not in text
    assert result["invocation"]["module_args"]["passphrase"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert result["invocation"]["module_args"]["keychain_password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert result["invocation"]["module_args"]["src"] == "dist.p12"
    assert "content" not in result["invocation"]["module_args"]


def test_module_result_is_returned(tmp_path, identity):
    reply = {"changed": False, "sha1": sha1_of(identity[1]), "name": CN, "identities": [{"sha1": sha1_of(identity[1]), "name": CN}]}
    h = Harness(tmp_path, {"src": "dist.p12", "passphrase": PASSPHRASE}, files={"dist.p12": p12(*identity)}, module_result=reply)
    result = h.run()
    assert result["changed"] is False
    assert result["identities"] == reply["identities"]


@pytest.mark.parametrize("passphrase", [None, ""])
def test_p12_without_password(tmp_path, identity, passphrase):
    args = {"src": "open.p12"}
    if passphrase is not None:
        args["passphrase"] = passphrase
    h = Harness(tmp_path, args, files={"open.p12": p12(*identity, passphrase="")})
    h.run()
    assert h.calls[0][1]["sha1"] == sha1_of(identity[1])


def test_ec_key(tmp_path):
    key, cert = make_identity(key=ec.generate_private_key(ec.SECP256R1()))
    h = Harness(tmp_path, {"src": "ec.p12", "passphrase": PASSPHRASE}, files={"ec.p12": p12(key, cert)})
    h.run()
    assert h.calls[0][1]["sha1"] == sha1_of(cert)


def test_certificate_without_cn_uses_subject(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nevercode"), x509.NameAttribute(NameOID.COUNTRY_NAME, "UK")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    h = Harness(tmp_path, {"src": "nocn.p12", "passphrase": PASSPHRASE}, files={"nocn.p12": p12(key, cert)})
    h.run()
    assert h.calls[0][1]["name"] == "C=UK,O=Nevercode"


def test_ber_warning_is_suppressed(tmp_path, identity, monkeypatch):
    real_load = pkcs12.load_key_and_certificates

    def warning_load(data, password):
        warnings.warn("PKCS#12 bundle could not be parsed as DER, falling back to parsing as BER. In the future, "
                      "this may become an exception. Error details: ASN.1 parsing error: DEFAULT value was explicitly encoded",
                      UserWarning)
        return real_load(data, password)

    monkeypatch.setattr(action_mod.pkcs12, "load_key_and_certificates", warning_load)
    h = Harness(tmp_path, {"src": "ber.p12", "passphrase": PASSPHRASE}, files={"ber.p12": p12(*identity)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h.run()
    assert [str(w.message) for w in caught if "BER" in str(w.message)] == []
    assert h.calls


def test_vault_encrypted_src(tmp_path, identity):
    vault_secret = VaultSecret(b"vault-pass")
    loader = DataLoader()
    loader.set_vault_secrets([("default", vault_secret)])
    encrypted = VaultLib([("default", vault_secret)]).encrypt(p12(*identity))
    h = Harness(tmp_path, {"src": "dist.p12.vault", "passphrase": PASSPHRASE}, files={"dist.p12.vault": encrypted}, loader=loader)
    h.run()
    assert h.calls[0][1]["sha1"] == sha1_of(identity[1])


def test_state_absent_passes_sha1_only(tmp_path):
    sha1 = "86890D67F234745572B7EF153C72DEA7CF522EDE"
    h = Harness(tmp_path, {"state": "absent", "sha1": sha1, "keychain_password": KEYCHAIN_PASSWORD})
    h.run()
    assert h.calls == [("macmesh.signing.keychain_identity", {"state": "absent", "sha1": sha1, "keychain_password": KEYCHAIN_PASSWORD})]


def test_declared_sha1_in_other_spelling_is_accepted(tmp_path, identity):
    spaced = ":".join(re.findall("..", sha1_of(identity[1]).lower()))
    h = Harness(tmp_path, {"src": "dist.p12", "passphrase": PASSPHRASE, "sha1": spaced}, files={"dist.p12": p12(*identity)})
    h.run()
    assert h.calls[0][1]["sha1"] == sha1_of(identity[1])


def _key_without_its_cert_p12():
    key_a, dummy = make_identity()
    dummy, cert_b = make_identity()
    return pkcs12.serialize_key_and_certificates(b"x", key_a, None, [cert_b], serialization.BestAvailableEncryption(PASSPHRASE.encode()))


def test_certificate_found_among_unpaired_certificates(tmp_path, identity):
    key, cert = identity
    dummy, other = make_identity("Apple Root CA")
    data = pkcs12.serialize_key_and_certificates(b"x", key, None, [other, cert], serialization.BestAvailableEncryption(PASSPHRASE.encode()))
    h = Harness(tmp_path, {"src": "unpaired.p12", "passphrase": PASSPHRASE}, files={"unpaired.p12": data})
    h.run()
    args = h.calls[0][1]
    assert args["sha1"] == sha1_of(cert)
    dummy, new_cert, chain = pkcs12.load_key_and_certificates(base64.b64decode(args["content"]), args["transport_passphrase"].encode())
    assert sha1_of(new_cert) == sha1_of(cert) and [sha1_of(c) for c in chain] == [sha1_of(other)]


def test_key_paired_with_foreign_certificate(tmp_path, identity, monkeypatch):
    # cryptography refuses to write such a file, so the loader is made to return one.
    dummy, foreign = make_identity()
    monkeypatch.setattr(action_mod.pkcs12, "load_key_and_certificates", lambda data, password: (identity[0], foreign, []))
    h = Harness(tmp_path, {"src": "mixed.p12", "passphrase": PASSPHRASE}, files={"mixed.p12": b"stub"})
    with pytest.raises(AnsibleActionFail, match="mixed.p12: the private key does not belong to the certificate"):
        h.run()
    assert h.calls == []


def _cert_only_p12():
    dummy, cert = make_identity()
    return pkcs12.serialize_key_and_certificates(b"x", None, cert, None, serialization.BestAvailableEncryption(PASSPHRASE.encode()))


FAILURES = [
    # (id, task args, file contents or None, expected message fragments)
    ("wrong-passphrase", {"src": "dist.p12", "passphrase": "not it"}, "identity",
     ["dist.p12", "`passphrase`"]),
    ("no-private-key", {"src": "cert-only.p12", "passphrase": PASSPHRASE}, "cert-only",
     ["cert-only.p12", "no private key"]),
    ("not-pkcs12", {"src": "E7P4EE896K.cer", "passphrase": PASSPHRASE}, "garbage",
     ["E7P4EE896K.cer", "not a PKCS#12"]),
    ("key-without-certificate", {"src": "keyonly.p12", "passphrase": PASSPHRASE}, "key-only",
     ["keyonly.p12", "no certificate for it"]),
    ("sha1-mismatch", {"src": "dist.p12", "passphrase": PASSPHRASE, "sha1": "13F9C39BE0072902F6A60AF738F51BE53E3A8B23"}, "identity",
     ["sha1:", "13F9C39BE0072902F6A60AF738F51BE53E3A8B23", "dist.p12"]),
    ("sha1-not-hex", {"src": "dist.p12", "passphrase": PASSPHRASE, "sha1": "86890D67F234745572B7EF153C72DEA7CF522EDE\n"},
     "identity", ["sha1:", "is not 40 hexadecimal digits"]),
    ("name-mismatch", {"src": "dist.p12", "passphrase": PASSPHRASE, "name": "iPhone Developer: Someone Else"}, "identity",
     ["name:", "Someone Else", "dist.p12"]),
    ("present-needs-src", {"passphrase": PASSPHRASE}, None, ["requires src"]),
    ("absent-needs-sha1", {"state": "absent"}, None, ["requires sha1"]),
    ("absent-refuses-src", {"state": "absent", "src": "dist.p12", "sha1": "86890D67F234745572B7EF153C72DEA7CF522EDE"}, None,
     ["src is only used with state=present"]),
    ("content-is-internal", {"src": "dist.p12", "content": "AAAA"}, None, ["content is set by the action plugin"]),
    ("transport-is-internal", {"src": "dist.p12", "transport_passphrase": "x"}, None, ["transport_passphrase is set by the action plugin"]),
    ("missing-file", {"src": "nowhere.p12", "passphrase": PASSPHRASE}, None, ["nowhere.p12"]),
]


@pytest.mark.parametrize("case_id,args,content,fragments", FAILURES, ids=[case[0] for case in FAILURES])
def test_failures_name_file_and_field(tmp_path, identity, case_id, args, content, fragments):
    payloads = {
        "identity": lambda: p12(*identity),
        "cert-only": _cert_only_p12,
        "garbage": lambda: b"0\x82\x05\x9b0\x82\x04\x83\xa0\x03\x02\x01\x02" + b"\x00" * 64,
        "key-only": _key_without_its_cert_p12,
    }
    files = {args["src"]: payloads[content]()} if content else {}
    h = Harness(tmp_path, args, files=files)
    with pytest.raises(AnsibleActionFail) as failure:
        h.run()
    message = str(failure.value)
    for fragment in fragments:
        assert fragment in message
    assert PASSPHRASE not in message and "not it" not in message
    assert h.calls == []


# --- checked on the controller, before the identity is read, re-encrypted or sent (issue 11) ---


@pytest.mark.parametrize("password", ['has "quote', "has space", "line\nbreak", "caf\u00e9"])
def test_unsafe_keychain_password_is_refused_before_src_is_read(tmp_path, password):
    # src does not even exist: the password check comes first, and nothing reaches the module.
    h = Harness(tmp_path, {"src": "nowhere.p12", "passphrase": PASSPHRASE, "keychain_password": password})
    with pytest.raises(AnsibleActionFail) as failure:
        h.run()
    assert str(failure.value).startswith("keychain_password: only the characters [A-Za-z0-9_.,:+=@%/-] are accepted")
    assert password not in str(failure.value)
    assert h.calls == []


@pytest.mark.parametrize("option", ["password", "pasword", "p12_password", "keychain_secret", "token"])
def test_secret_looking_unknown_option_is_refused_and_masked(tmp_path, identity, option):
    secret = "Unkn0wn-Secret-Value"
    h = Harness(tmp_path, {"src": "dist.p12", "passphrase": PASSPHRASE, "keychain_password": KEYCHAIN_PASSWORD,
                           option: secret}, files={"dist.p12": p12(*identity)})
    result = h.run()
    assert result["failed"] is True
    assert result["msg"].startswith("%s: unknown option of macmesh.signing.keychain_identity (its value is not shown)" % option)
    assert secret not in repr(result) and PASSPHRASE not in repr(result) and KEYCHAIN_PASSWORD not in repr(result)
    assert result["invocation"]["module_args"][option] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert h.calls == []


def test_module_options_list_matches_the_module():
    from ansible_collections.macmesh.signing.plugins.modules import keychain_identity as module
    import yaml

    documented = set(yaml.safe_load(module.DOCUMENTATION)["options"])
    assert set(action_mod.MODULE_OPTIONS) == documented
