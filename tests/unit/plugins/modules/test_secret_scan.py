"""Unit tests for plugins/modules/secret_scan.py and its scan, plugins/module_utils/_secret_scan.py.

The fake credentials are assembled at run time so that this file itself never looks like a leak.
"""

import importlib.util
import json
import os
import sys

import pytest

from ansible_collections.macmesh.signing.plugins.module_utils import _secret_scan
from ansible_collections.macmesh.signing.tests.unit.compat import patch_module_args

MODULE_PATH = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "modules", "secret_scan.py"
)


def load_module():
    spec = importlib.util.spec_from_file_location("secret_scan_under_test", MODULE_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


secret_scan = load_module()
# The scan itself (shared with signing_info's secret_scan option); main() is the module's.
scanner = _secret_scan
SCAN_UTILS_PATH = _secret_scan.__file__
ALL = {"github_token", "gitlab_token", "aws_access_key", "private_key", "kubeconfig", "pkcs12", "asc_api_key"}

GHP = "ghp" + "_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PAT = "github" + "_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV01234567"
GLPAT = "gl" + "pat-" + "xY9_zAbCdEfGhIjKlMnO"
AKIA = "AK" + "IA" + "IOSFODNN7EXAMPLE"
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----"
OPENSSH = "-----BEGIN " + "OPENSSH PRIVATE KEY-----"
KUBECONFIG = "\n".join([
    "apiVersion: v1",
    "clusters:",
    "- cluster:",
    "    server: https://127.0.0.1:6443",
    "  name: prod",
    "kind: Config",
    "users:",
    "- name: ci",
    "  user:",
    "    token: " + "eyJhbGciOi" + "JSUzI1NiJ9.fake",
    "",
])


def write(tmp_path, rel, text, mode="w"):
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode) as handle:
        handle.write(text)
    return str(path)


@pytest.mark.parametrize(
    "text, kind, line",
    [
        ("# config\ntoken = %s\n" % GHP, "github_token", 2),
        ("GH_TOKEN=%s\n" % PAT, "github_token", 1),
        ("\n\nCI_TOKEN: %s\n" % GLPAT, "gitlab_token", 3),
        ("[default]\naws_access_key_id = %s\n" % AKIA, "aws_access_key", 2),
        ("%s\nMIIEow...\n" % PEM, "private_key", 1),
        ("x\n%s\n" % OPENSSH, "private_key", 2),
        (KUBECONFIG, "kubeconfig", 10),
    ],
)
def test_each_kind_is_found_with_its_line(tmp_path, text, kind, line):
    path = write(tmp_path, "home/f.txt", text)
    result = scanner.scan([str(tmp_path)], [], ALL, 1 << 20)
    assert result["findings"] == [{"path": path, "kind": kind, "line": line}]


def test_findings_never_contain_the_value(tmp_path):
    write(tmp_path, "a.env", "A=%s\nB=%s\nC=%s\n" % (GHP, GLPAT, AKIA))
    result = scanner.scan([str(tmp_path)], [], ALL, 1 << 20)
    dumped = json.dumps(result)
    assert [f["kind"] for f in result["findings"]] == ["aws_access_key", "github_token", "gitlab_token"]
    for value in (GHP, GLPAT, AKIA, GHP[4:20]):
        assert value not in dumped


@pytest.mark.parametrize(
    "text",
    [
        "ghp_tooshort\n",
        "AKIAIOSFODNN7EXAMPLEX1\n",  # 22 characters: not a key id
        "-----BEGIN CERTIFICATE-----\n",
        "-----BEGIN PUBLIC KEY-----\n",
        "apiVersion: v1\nclusters:\n- cluster: {}\nkind: Config\nusers: []\n",
    ],
)
def test_lookalikes_are_not_findings(tmp_path, text):
    write(tmp_path, "f.txt", text)
    assert scanner.scan([str(tmp_path)], [], ALL, 1 << 20)["findings"] == []


def test_p12_is_found_by_name_and_allowlist_excludes(tmp_path):
    stray = write(tmp_path, "Users/ci-build/Downloads/dist.P12", b"\x30\x82\x00", mode="wb")
    write(tmp_path, "Users/ci-build/Library/Keychains/ok.p12", b"\x30\x82\x00", mode="wb")
    write(tmp_path, "Users/ci-build/Library/Keychains/notes", GHP)
    allow = [str(tmp_path / "Users/*/Library/Keychains")]
    result = scanner.scan([str(tmp_path)], allow, ALL, 1 << 20)
    assert result["findings"] == [{"path": stray, "kind": "pkcs12", "line": 0}]


def test_allowlisted_file_pattern(tmp_path):
    write(tmp_path, "keys/id_ed25519", OPENSSH)
    kept = write(tmp_path, "keys/other", OPENSSH)
    result = scanner.scan([str(tmp_path)], ["*/id_ed25519"], ALL, 1 << 20)
    assert [f["path"] for f in result["findings"]] == [kept]


def test_binary_and_large_files_are_skipped_but_counted(tmp_path):
    write(tmp_path, "bin", b"\0\1" + GHP.encode(), mode="wb")
    write(tmp_path, "big", "x" * 100 + GHP)
    result = scanner.scan([str(tmp_path)], [], ALL, 64)
    assert result["findings"] == []
    assert result["scanned_files"] == 2
    assert result["skipped_files"] == 2


def test_symlinks_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    write(tmp_path, "outside/secret", GHP)
    scanned = tmp_path / "scanned"
    scanned.mkdir()
    os.symlink(str(outside), str(scanned / "link-dir"))
    os.symlink(str(outside / "secret"), str(scanned / "link-file"))
    result = scanner.scan([str(scanned)], [], ALL, 1 << 20)
    assert result["findings"] == []
    assert result["scanned_files"] == 0


def test_missing_paths_are_reported_not_fatal(tmp_path):
    result = scanner.scan([str(tmp_path / "nope")], [], ALL, 1 << 20)
    assert result["missing"] == [str(tmp_path / "nope")]


def test_kinds_restrict_the_scan(tmp_path):
    write(tmp_path, "f", "%s\n%s\n" % (GHP, AKIA))
    result = scanner.scan([str(tmp_path)], [], {"aws_access_key"}, 1 << 20)
    assert [f["kind"] for f in result["findings"]] == ["aws_access_key"]


def test_module_source_does_not_match_itself(tmp_path):
    result = scanner.scan([os.path.abspath(MODULE_PATH), os.path.abspath(SCAN_UTILS_PATH)], [], ALL, 1 << 20)
    assert result["scanned_files"] == 2 and result["findings"] == []


def test_module_main_exit_json(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "f", GLPAT)
    args = {"ANSIBLE_MODULE_ARGS": {"paths": [str(tmp_path)], "_ansible_check_mode": True}}
    monkeypatch.setattr(sys, "argv", ["secret_scan", json.dumps(args)])
    with pytest.raises(SystemExit) as exc:
        secret_scan.main()
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] is False
    assert out["findings"] == [{"path": path, "kind": "gitlab_token", "line": 1}]
    assert GLPAT not in json.dumps(out)


def test_an_asc_api_key_is_found_once_by_name(tmp_path):
    """A .p8 in ~/Downloads is an App Store Connect key (its PRIVATE KEY block is not reported twice)."""
    downloads = tmp_path / "Users" / "ci-build" / "Downloads"
    downloads.mkdir(parents=True)
    (downloads / "AuthKey_ABCDE12345.p8").write_text("-----BEGIN PRIVATE KEY-----\nMIGTAgEA\n-----END PRIVATE KEY-----\n")
    ramdisk = tmp_path / "Volumes" / "MacMeshNotary"
    ramdisk.mkdir(parents=True)
    (ramdisk / "AuthKey_ABCDE12345.p8").write_text("-----BEGIN PRIVATE KEY-----\n")
    result = scanner.scan([str(tmp_path)], [str(ramdisk)], ALL, 1 << 20)
    assert result["findings"] == [{"path": str(downloads / "AuthKey_ABCDE12345.p8"), "kind": "asc_api_key", "line": 0}]


def test_summary_names_path_kind_and_line_never_the_value():
    findings = [{"path": "/Users/Shared/notes.txt", "kind": "github_token", "line": 1},
                {"path": "/Users/ci-build/dist.p12", "kind": "pkcs12", "line": 0}]
    assert scanner.summary(findings) == ("/Users/Shared/notes.txt (github_token, line 1); "
                                         "/Users/ci-build/dist.p12 (pkcs12)")
    assert scanner.summary([]) == ""


@pytest.mark.parametrize("options,message", [
    ({"paths": ["/tmp"], "depth": 3}, "secret_scan: unknown key depth"),
    ({"paths": "/tmp"}, "secret_scan.paths: must be a list of paths"),
    ({"paths": ["/tmp"], "allowlist": [1]}, "secret_scan.allowlist: must be a list of patterns"),
    ({"paths": ["/tmp"], "kinds": ["passwords"]}, "secret_scan.kinds: must be a list of"),
    ({"paths": ["/tmp"], "max_file_size": 0}, "secret_scan.max_file_size: must be a positive number of bytes"),
    ({"paths": ["/tmp"], "max_file_size": True}, "secret_scan.max_file_size"),
])
def test_run_scan_names_the_bad_field(options, message):
    with pytest.raises(scanner.ScanOptionError) as exc:
        scanner.run_scan(options)
    assert str(exc.value).startswith(message)


def test_run_scan_defaults_and_summary(tmp_path):
    path = write(tmp_path, "f", GLPAT)
    result = scanner.run_scan({"paths": [str(tmp_path)]})
    assert result["findings"] == [{"path": path, "kind": "gitlab_token", "line": 1}]
    assert result["summary"] == "%s (gitlab_token, line 1)" % path
    assert scanner.run_scan({"paths": []})["findings"] == []


def test_module_bad_size_fails_naming_the_option(tmp_path, capsys):
    with patch_module_args({"paths": [str(tmp_path)], "max_file_size": 0}):
        with pytest.raises(SystemExit):
            secret_scan.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] is True and out["msg"] == "max_file_size: must be a positive number of bytes"
