"""The Darwin shim appended to the node's sitecustomize.py, run on the host's node Python with
the seed's sitecustomize first on sys.path."""

import json
import subprocess

import pytest

from _sysemu import NODE_HK, NODE_PYTHON, SHIM_DIR, Env

PROBE = ("import json, os, platform, sys, sysconfig; print(json.dumps({"
         "'system': platform.system(), 'release': platform.release(), 'machine': platform.machine(),"
         "'uname': list(os.uname()), 'mac_ver': platform.mac_ver()[0],"
         "'sysplatform': sys.platform, 'sysconfig': sysconfig.get_platform()}))")


def probe(env, *argv, **extra):
    out = subprocess.run([NODE_PYTHON] + list(argv or ["-c", PROBE]), capture_output=True,
                         text=True, env=env.environ(PYTHONPATH=SHIM_DIR, **extra), timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def test_shim_keeps_the_original_sitecustomize_first():
    with open("/etc/python3.11/sitecustomize.py") as handle:
        original = handle.read()
    with open(SHIM_DIR + "/sitecustomize.py") as handle:
        seeded = handle.read()
    assert seeded.startswith(original)
    assert "_macemu_darwin_shim" in seeded[len(original):]


def test_python_reports_darwin_arm64(env):
    facts = probe(env)
    assert facts["system"] == "Darwin"
    assert facts["release"] == "23.6.0"
    assert facts["machine"] == "arm64"
    assert facts["uname"][0] == "Darwin" and facts["uname"][2] == "23.6.0"
    assert facts["uname"][3].startswith("Darwin Kernel Version 23.6.0: ")
    assert facts["mac_ver"] == "14.6.1"


@pytest.mark.parametrize("version, release", [("15.0", "24.0.0"), ("15.2", "24.2.0"),
                                              ("15.7", "24.6.0"), ("14.2", "23.6.0")])
def test_release_follows_the_node_macos_version(env, version, release):
    env.write_node(dict(NODE_HK, macos_version=version))
    facts = probe(env)
    assert facts["release"] == release and facts["mac_ver"] == version


def test_stdlib_keeps_working_as_linux(env):
    facts = probe(env)
    assert facts["sysplatform"] == "linux"
    assert facts["sysconfig"].startswith("linux-")


def test_opt_out_for_pip_and_by_environment(env, tmp_path):
    assert probe(env, MACEMU_REAL_PLATFORM="1")["system"] == "Linux"
    script = tmp_path / "pip3"
    script.write_text(PROBE)
    assert probe(env, str(script))["system"] == "Linux"


def test_a_broken_node_json_does_not_stop_python(env):
    env.config.write_text("{not json")
    assert probe(env)["release"] == "23.6.0"
