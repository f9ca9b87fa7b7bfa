"""What this emulated Mac is: version, build, kernel, hardware identity (from node.json).

node.json (written by lab/meshlab) holds {node, region, macos_version, serial, hardware_uuid,
sntp_offset, model}. Anything missing is derived from the host name so a bare host run still
gets stable, per-machine values.
"""

import hashlib
import os
import socket
import time
import uuid

import common

# macOS version -> build, for the versions the lab uses. Sources in SYSTEM.md; a version not
# listed gets a synthetic build (clearly marked by the "Z" letter, which Apple does not use).
BUILDS = {
    "14.6": "23G80",
    "14.6.1": "23G93",
    "14.7": "23H124",
    "15.0": "24A335",
    "15.1": "24B83",
    "15.2": "24C101",
    "15.3": "24D60",
    "15.4": "24E248",
    "15.5": "24F74",
    "15.6": "24G84",
    "15.6.1": "24G90",
}

# Kernel version strings (uname -v). 24.6.0 is verbatim from a real M4 (see SYSTEM.md); the
# 23.6.0 one is assumed (same shape, Sonoma's xnu tag).
KERNEL_VERSIONS = {
    "23.6.0": "Darwin Kernel Version 23.6.0: Mon Jul 29 21:14:30 PDT 2024; "
              "root:xnu-10063.141.2~1/RELEASE_ARM64_T8112",
    "24.6.0": "Darwin Kernel Version 24.6.0: Wed Nov  5 21:34:00 PST 2025; "
              "root:xnu-11417.140.69.705.2~1/RELEASE_ARM64_T8132",
}

# Model identifier -> (marketing name, chip, performance cores, efficiency cores, board, chip id
# used in the Provisioning UDID, sysctl hw.cpufamily).
MODELS = {
    "Macmini9,1": ("Mac mini", "Apple M1", 4, 4, "J274", "8103", 458787763),
    "Mac14,3": ("Mac mini", "Apple M2", 4, 4, "J473", "8112", -634136515),
    "Mac14,12": ("Mac mini", "Apple M2 Pro", 8, 4, "J474", "6020", -634136515),
    "Mac16,10": ("Mac mini", "Apple M4", 4, 6, "J773g", "8132", 1867590060),
}
DEFAULT_MODEL = "Mac14,3"
DEFAULT_MEMORY_GB = 16


def config():
    return common.node_config()


def hostname():
    return socket.gethostname()


def node_name():
    cfg = config()
    return str(cfg.get("node") or cfg.get("name") or hostname())


def _digest(label):
    return hashlib.sha256(("%s:%s" % (label, node_name())).encode("utf-8")).hexdigest()


def product_version():
    return common.macos_version()


def version_tuple():
    return common.macos_version_tuple()


def build_version():
    cfg = config()
    if cfg.get("build"):
        return str(cfg["build"])
    version = product_version()
    if version in BUILDS:
        return BUILDS[version]
    major, minor, patch = version_tuple()
    return "%d%sZ%d" % (major + 9, chr(ord("A") + min(minor, 25)), 100 + patch)


def darwin_release():
    """Kernel release for the macOS version: 14.x -> 23.6.0 (the lab's Sonoma), 15.x -> 24.<minor>.0
    (15.6 and later stay on 24.6.0), other majors -> <major+9>.<minor>.0."""
    major, minor, _ = version_tuple()
    if major == 14:
        return "23.6.0"
    if major == 15:
        return "24.%d.0" % min(minor, 6)
    return "%d.%d.0" % (major + 9, minor)


def kernel_version():
    release = darwin_release()
    if release in KERNEL_VERSIONS:
        return KERNEL_VERSIONS[release]
    return ("Darwin Kernel Version %s: Thu Jan  1 00:00:00 PST 2025; "
            "root:xnu-0.0.0~1/RELEASE_ARM64_T8112" % release)


def model_identifier():
    model = str(config().get("model") or DEFAULT_MODEL)
    return model if model in MODELS else DEFAULT_MODEL


def model_info():
    name, chip, perf, eff, board, chip_id, family = MODELS[model_identifier()]
    return {
        "name": name, "chip": chip, "perf": perf, "eff": eff, "cores": perf + eff,
        "board": board, "chip_id": chip_id, "cpufamily": family,
    }


def memory_bytes():
    gb = config().get("memory_gb") or DEFAULT_MEMORY_GB
    return int(gb) * 1024 ** 3


def serial_number():
    serial = config().get("serial")
    if serial:
        return str(serial)
    alphabet = "0123456789CDFGHJKLMNPQRTVWXY"
    raw = bytes.fromhex(_digest("serial"))
    return "".join(alphabet[b % len(alphabet)] for b in raw[:10])


def hardware_uuid():
    value = config().get("hardware_uuid")
    if value:
        return str(value).upper()
    return str(uuid.UUID(_digest("uuid")[:32])).upper()


def provisioning_udid():
    """Apple Silicon form: 0000<chip id>-<16 hex>, e.g. 00008112-001C24A114E8A01E."""
    tail = hashlib.sha256(hardware_uuid().encode("ascii")).hexdigest()[:16].upper()
    return "0000%s-%s" % (model_info()["chip_id"], tail)


def firmware_version():
    """System Firmware / OS Loader version shipped with the macOS major."""
    return "11881.140.96" if version_tuple()[0] >= 15 else "10151.140.19"


def boot_time():
    """(seconds, microseconds) since the epoch at which this node booted: the start of its PID 1
    (the node's own pid namespace), so a node reboot gives a new boot time."""
    try:
        with open("/proc/stat") as handle:
            btime = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
        with open("/proc/1/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        start = btime + int(fields[19]) / float(os.sysconf("SC_CLK_TCK"))
    except (OSError, StopIteration, ValueError, IndexError):
        start = time.time() - 3600
    return int(start), int((start - int(start)) * 1e6)
