"""The emulator's own cost: calltime.log per call, and cryptography imported only when used."""

import json
import os
import subprocess

from conftest import SEED_BIN

MACEMU_LIB = os.path.join(os.path.dirname(SEED_BIN), "lib", "macemu")
SYSTEM_BIN = os.path.join(os.path.dirname(SEED_BIN), "sbin")


def _logged(lab):
    path = lab.audit.parent / "calltime.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_every_call_logs_its_cost_next_to_the_audit_log(lab):
    # The fixture's own setup calls (e.g. the lab root's add-certificates) are logged before ours.
    before = len(_logged(lab))
    first = lab.security("list-keychains", "-d", "user")
    assert first.returncode == 0
    lab.run(os.path.join(SYSTEM_BIN, "sysctl"), "-n", "hw.ncpu")
    lines = _logged(lab)[before:]
    assert [(r["cmd"], r["sub"]) for r in lines] == [("security", "list-keychains"), ("sysctl", "hw.ncpu")]
    for record in lines:
        assert set(record) == {"cmd", "sub", "pid", "run_s", "wall_s", "cpu_s"}
        assert 0 < record["run_s"] < 30 and 0 < record["cpu_s"] < 30
        assert record["wall_s"] is None or record["wall_s"] >= 0
    # Measuring changes nothing a caller sees.
    lab.env["MACEMU_CALLTIME"] = "off"
    again = lab.security("list-keychains", "-d", "user")
    assert (again.returncode, again.stdout, again.stderr) == (first.returncode, first.stdout, first.stderr)
    assert len(_logged(lab)) == before + 2


def test_calltime_file_can_be_moved(lab, tmp_path):
    before = len(_logged(lab))
    lab.env["MACEMU_CALLTIME"] = str(tmp_path / "elsewhere.log")
    assert lab.security("list-keychains").returncode == 0
    assert json.loads((tmp_path / "elsewhere.log").read_text())["sub"] == "list-keychains"
    assert len(_logged(lab)) == before


def test_cryptography_is_imported_only_when_a_call_needs_it(lab):
    probe = ("import sys; sys.path.insert(0, %r); import security_cli, keychain; "
             "print('cryptography' in sys.modules); "
             "keychain.x509.load_der_x509_certificate; print('cryptography.x509' in sys.modules)" % MACEMU_LIB)
    out = subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True, text=True, env=lab.env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
