"""sw_vers, system_profiler, sntp, vm_stat, sysctl, ifconfig/route: output formats, per-node
identity, and ansible-core's own Darwin fact collectors fed by the emulated commands."""

import os
import shlex
import struct
import subprocess
import time

import pytest

from _sysemu import COMMANDS, NODE_HK, NODE_PYTHON, SEED, Env

NODE_JP = dict(NODE_HK, node="jp-mini-01", region="JP", serial="J7QCN4DL2F",
               hardware_uuid="5A0E2B9D-33C1-5F27-8D44-9B1C6E2F0A02", sntp_offset=-0.25)


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def test_sw_vers_prints_the_node_version_in_the_macos_layout(env):
    full = env.run("sw_vers")
    assert full.returncode == 0
    assert full.stdout == "ProductName:\t\tmacOS\nProductVersion:\t\t14.6.1\nBuildVersion:\t\t23G93\n"
    assert env.run("sw_vers", "-productVersion").stdout == "14.6.1\n"
    assert env.run("sw_vers", "-buildVersion").stdout == "23G93\n"


def test_sw_vers_follows_node_json(env):
    env.write_node(dict(NODE_HK, macos_version="15.2"))
    assert env.run("sw_vers", "-productVersion").stdout == "15.2\n"
    assert env.run("sw_vers", "-buildVersion").stdout == "24C101\n"


def _profile(env):
    out = env.run("system_profiler", "SPHardwareDataType")
    assert out.returncode == 0
    return out.stdout


def test_system_profiler_hardware_layout_matches_apple_silicon(env):
    text = _profile(env)
    lines = text.splitlines()
    assert lines[:4] == ["Hardware:", "", "    Hardware Overview:", ""]
    labels = [line.split(": ", 1)[0].strip() for line in lines[4:] if line.strip()]
    assert labels == ["Model Name", "Model Identifier", "Model Number", "Chip",
                      "Total Number of Cores", "Memory", "System Firmware Version",
                      "OS Loader Version", "Serial Number (system)", "Hardware UUID",
                      "Provisioning UDID", "Activation Lock Status"]
    assert "      Serial Number (system): H2WXK9PQ7M\n" in text
    assert "      Hardware UUID: 0F6B1C44-7E11-5B3A-9C0D-2A51E7B0C001\n" in text
    assert "      Chip: Apple M2\n" in text


def test_system_profiler_differs_per_node_and_is_stable(env, tmp_path):
    (tmp_path / "jp").mkdir()
    other = Env(tmp_path / "jp", NODE_JP)
    hk1, hk2, jp = _profile(env), _profile(env), _profile(other)
    assert hk1 == hk2
    assert hk1 != jp
    assert "J7QCN4DL2F" in jp and "H2WXK9PQ7M" not in jp


def test_sntp_prints_offset_error_server_address(env):
    out = env.run("sntp", "time.apple.com")
    assert out.returncode == 0
    words = out.stdout.split()
    assert words[0] == "+0.012300" and words[1] == "+/-"
    assert float(words[2]) > 0
    assert words[3:] == ["time.apple.com", "17.253.16.125"]


def test_sntp_offset_file_overrides_node_json_at_run_time(env):
    env.state.mkdir()
    (env.state / "sntp_offset").write_text("-1.5\n")
    assert env.run("sntp", "time.apple.com").stdout.startswith("-1.500000 +/- ")
    (env.state / "sntp_offset").unlink()
    assert env.run("sntp", "time.apple.com").stdout.startswith("+0.012300 +/- ")


def test_sntp_step_corrects_the_simulated_clock_as_root(env):
    env.state.mkdir()
    (env.state / "sntp_offset").write_text("120.5\n")
    stepped = env.run("sntp", "-sS", "time.apple.com")
    assert stepped.returncode == 0 and stepped.stdout.startswith("+120.500000 +/- ")
    assert env.run("sntp", "time.apple.com").stdout.startswith("+0.000000 +/- ")


def test_sysctl_answers_the_keys_ansible_reads(env):
    out = env.run("sysctl", "hw.model", "kern.osversion", "machdep.cpu.brand_string", "hw.memsize")
    assert out.stdout.splitlines() == ["hw.model: Mac14,3", "kern.osversion: 23G93",
                                       "machdep.cpu.brand_string: Apple M2",
                                       "hw.memsize: 17179869184"]
    assert env.run("sysctl", "-n", "hw.pagesize").stdout == "16384\n"
    prefix = env.run("sysctl", "machdep").stdout.splitlines()
    assert prefix and all(line.startswith("machdep.") for line in prefix)


def test_sysctl_boottime_binary_is_a_timeval_in_the_past(env):
    raw = env.run("sysctl", "-b", "kern.boottime", binary=True).stdout
    sec, usec = struct.unpack("@ll", raw)
    assert 0 < sec <= time.time() and 0 <= usec < 1000000


def test_sysctl_unknown_oid_and_linux_fallback(env):
    bad = env.run("sysctl", "hw.nosuchthing")
    assert bad.returncode == 1 and bad.stderr == "sysctl: unknown oid 'hw.nosuchthing'\n"
    with open("/proc/sys/kernel/pid_max") as handle:
        assert env.run("sysctl", "-n", "kernel.pid_max").stdout.strip() == handle.read().strip()


def test_route_has_no_default_and_ifconfig_shows_lo0_and_en0(env):
    route = env.run("route", "-n", "get", "default")
    assert route.returncode == 1 and route.stdout == ""
    assert route.stderr == "route: writing to routing socket: not in table\n"
    text = env.run("ifconfig", "-a").stdout
    assert text.startswith("lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384\n")
    assert "\ninet 127.0.0.1 netmask 0xff000000\n" in text.replace("\t", "")
    assert "\nen0: flags=" in text


# --- ansible-core's own collectors, fed by the emulators --------------------------------------

class FakeModule:
    """Just enough of AnsibleModule for the Darwin fact collectors: commands resolve to the
    emulators in the seed, run with the test's environment."""

    def __init__(self, env):
        self.env = env
        self.calls = []

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return "/" + COMMANDS[name] if name in COMMANDS else None

    def run_command(self, args, encoding="utf-8", **_):
        argv = shlex.split(args) if isinstance(args, str) else list(args)
        self.calls.append(argv)
        name = os.path.basename(argv[0])
        proc = subprocess.run([NODE_PYTHON, os.path.join(SEED, COMMANDS[name])] + argv[1:],
                              capture_output=True, env=self.env.environ())
        if encoding is None:
            return proc.returncode, proc.stdout, proc.stderr
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def error_as_warning(self, msg, exception=None):
        raise AssertionError(msg)


def test_ansible_darwin_hardware_facts(env):
    hardware = pytest.importorskip("ansible.module_utils.facts.hardware.darwin")
    module = FakeModule(env)
    facts = hardware.DarwinHardware(module).populate()
    assert facts["model"] == "Mac14,3"
    assert facts["processor"] == "Apple M2"
    assert facts["processor_cores"] == "8"
    assert facts["memtotal_mb"] == 16384
    assert 0 < facts["memfree_mb"] <= 16384
    assert facts["osversion"] == "23G93"
    assert 0 <= facts["uptime_seconds"] < 10 ** 9


def test_ansible_darwin_distribution_and_network_facts(env):
    distribution = pytest.importorskip("ansible.module_utils.facts.system.distribution")
    network = pytest.importorskip("ansible.module_utils.facts.network.darwin")
    module = FakeModule(env)
    dist = distribution.Distribution(module).get_distribution_Darwin()
    assert dist == {"distribution": "MacOSX", "distribution_major_version": "14",
                    "distribution_version": "14.6.1"}
    net = network.DarwinNetwork(module).populate()
    assert net["interfaces"] == ["en0", "lo0"]
    assert net["default_ipv4"] == {}
    assert net["lo0"]["ipv4"][0]["address"] == "127.0.0.1"
    assert net["en0"]["type"] == "ether"


def test_every_invocation_is_audited(env):
    env.run("sw_vers", "-productVersion")
    env.run("sntp", "time.apple.com")
    argvs = [rec["argv"][1:] for rec in env.audit_lines()]
    assert argvs == [["-productVersion"], ["time.apple.com"]]
