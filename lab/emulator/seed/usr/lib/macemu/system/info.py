"""`sw_vers`, `system_profiler`, `sntp` and `vm_stat`: what the Mac says about itself."""

import hashlib
import json
import os
import sys
import time

import common

from system import darwin


# --- sw_vers ------------------------------------------------------------------------------------

def sw_vers_main(argv):
    common.audit(argv)
    fields = [("ProductName", "macOS"), ("ProductVersion", darwin.product_version()),
              ("BuildVersion", darwin.build_version())]
    if len(argv) == 1:
        sys.stdout.write("".join("%s:\t\t%s\n" % pair for pair in fields))
        return 0
    flags = {"-productName": 0, "--productName": 0, "-productVersion": 1, "--productVersion": 1,
             "-buildVersion": 2, "--buildVersion": 2}
    if len(argv) == 2 and argv[1] in flags:
        sys.stdout.write(fields[flags[argv[1]]][1] + "\n")
        return 0
    if len(argv) == 2 and argv[1] in ("-productVersionExtra", "--productVersionExtra"):
        return 0  # no Rapid Security Response installed: prints nothing
    sys.stderr.write("Usage: sw_vers [-productName|-productVersion|-productVersionExtra|-buildVersion]\n")
    return 1


# --- system_profiler ----------------------------------------------------------------------------

def hardware_overview():
    """(label, value, json key) rows of `system_profiler SPHardwareDataType` on Apple Silicon."""
    model = darwin.model_info()
    return [
        ("Model Name", model["name"], "machine_name"),
        ("Model Identifier", darwin.model_identifier(), "machine_model"),
        ("Model Number", "Z16K000%sLL/A" % darwin.serial_number()[-3:], "model_number"),
        ("Chip", model["chip"], "chip_type"),
        ("Total Number of Cores", "%d (%d performance and %d efficiency)"
         % (model["cores"], model["perf"], model["eff"]), "number_processors"),
        ("Memory", "%d GB" % (darwin.memory_bytes() // 1024 ** 3), "physical_memory"),
        ("System Firmware Version", darwin.firmware_version(), "boot_rom_version"),
        ("OS Loader Version", darwin.firmware_version(), "os_loader_version"),
        ("Serial Number (system)", darwin.serial_number(), "serial_number"),
        ("Hardware UUID", darwin.hardware_uuid(), "platform_UUID"),
        ("Provisioning UDID", darwin.provisioning_udid(), "provisioning_UDID"),
        ("Activation Lock Status", "Disabled", "activation_lock_status"),
    ]


def software_overview():
    seconds = int(time.time() - darwin.boot_time()[0])
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    since = ("%d day%s, " % (days, "" if days == 1 else "s") if days else "") + \
        "%d:%02d" % (hours, rest // 60)
    user = common.current_user()[0]
    return [
        ("System Version", "macOS %s (%s)" % (darwin.product_version(), darwin.build_version()),
         "os_version"),
        ("Kernel Version", "Darwin %s" % darwin.darwin_release(), "kernel_version"),
        ("Boot Volume", "Macintosh HD", "boot_volume"),
        ("Boot Mode", "Normal", "boot_mode"),
        ("Computer Name", "mini-%s" % darwin.node_name(), "local_host_name"),
        ("User Name", "%s (%s)" % (user, user), "user_name"),
        ("Secure Virtual Memory", "Enabled", "secure_vm"),
        ("System Integrity Protection", "Enabled", "system_integrity"),
        ("Time since boot", since, "uptime"),
    ]


DATA_TYPES = {
    "SPHardwareDataType": ("Hardware", "Hardware Overview", hardware_overview, "hardware_overview"),
    "SPSoftwareDataType": ("Software", "System Software Overview", software_overview,
                           "os_overview"),
}


def system_profiler_main(argv):
    common.audit(argv)
    as_json = False
    types = []
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg == "-json":
            as_json = True
        elif arg in ("-detailLevel", "-timeout") and args:
            args.pop(0)
        elif arg in ("-xml", "-listDataTypes", "-nospinner"):
            if arg == "-listDataTypes":
                sys.stdout.write("Available Datatypes:\n" + "".join(t + "\n" for t in sorted(DATA_TYPES)))
                return 0
            if arg == "-xml":
                sys.stderr.write("system_profiler (lab emulator): -xml is not emulated, use -json\n")
                return 1
        else:
            types.append(arg)
    types = [t for t in (types or sorted(DATA_TYPES)) if t in DATA_TYPES]
    if as_json:
        doc = {}
        for name in types:
            _, _, rows, item_name = DATA_TYPES[name]
            doc[name] = [dict([("_name", item_name)] + [(key, value) for _, value, key in rows()])]
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    out = []
    for name in types:
        title, overview, rows, _ = DATA_TYPES[name]
        out.append("%s:\n\n    %s:\n\n" % (title, overview))
        out.extend("      %s: %s\n" % (label, value) for label, value, _ in rows())
        out.append("\n")
    sys.stdout.write("".join(out))
    return 0


# --- sntp ---------------------------------------------------------------------------------------

KNOWN_SERVERS = {"time.apple.com": "17.253.16.125"}


def clock_offset():
    """The simulated clock error in seconds: <state_dir>/sntp_offset if present (drift tests
    change it at run time), else node.json sntp_offset, else 0."""
    path = os.path.join(common.state_dir(), "sntp_offset")
    try:
        with open(path) as handle:
            return float(handle.read().strip())
    except (OSError, ValueError):
        pass
    try:
        return float(common.node_config().get("sntp_offset") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _server_address(server):
    if server in KNOWN_SERVERS:
        return KNOWN_SERVERS[server]
    if all(p.isdigit() for p in server.split(".")) and server.count(".") == 3:
        return server
    digest = hashlib.sha256(server.encode("utf-8")).digest()
    return "17.253.%d.%d" % (digest[0], digest[1] or 1)


def sntp_main(argv):
    common.audit(argv)
    args = [a for a in argv[1:]]
    servers = []
    set_clock = False
    while args:
        arg = args.pop(0)
        if arg in ("-t", "-k", "-K", "-M", "-g", "-o", "-l", "-c", "-e"):
            if args:
                args.pop(0)
        elif arg.startswith("-"):
            # -s/-S (slew/step the clock): the node's simulated clock, never the host's.
            set_clock = set_clock or any(flag in arg for flag in "sS")
        else:
            servers.append(arg)
    if not servers:
        sys.stderr.write("sntp: no servers specified\n")
        return 1
    offset = clock_offset()
    digest = hashlib.sha256(darwin.node_name().encode("utf-8")).digest()
    error = 0.02 + (digest[0] % 100) / 10000.0
    for server in servers:
        sys.stdout.write("%+.6f +/- %.6f %s %s\n" % (offset, error, server, _server_address(server)))
    if set_clock:
        if os.geteuid() != 0:
            sys.stderr.write("sntp: settimeofday(): Operation not permitted\n")
            return 1
        common.ensure_dir(common.state_dir())
        with open(os.path.join(common.state_dir(), "sntp_offset"), "w") as handle:
            handle.write("0.0\n")
    return 0


# --- vm_stat ------------------------------------------------------------------------------------

def _meminfo():
    values = {}
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                values[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return values


def vm_stat_main(argv):
    """Page counts for the emulated memory size, in the host's current used/free proportions."""
    common.audit(argv)
    page = 16384
    total = darwin.memory_bytes() // page
    info = _meminfo()
    host_total = info.get("MemTotal") or 1
    ratio = lambda key: info.get(key, 0) / float(host_total)  # noqa: E731 - local shorthand
    free = int(total * ratio("MemFree"))
    inactive = int(total * ratio("Inactive"))
    active = int(total * ratio("Active"))
    wired = max(total - free - inactive - active, 0) // 3
    rows = [
        ("Pages free", free), ("Pages active", active), ("Pages inactive", inactive),
        ("Pages speculative", int(total * 0.01)), ("Pages throttled", 0),
        ("Pages wired down", wired), ("Pages purgeable", int(total * 0.002)),
        ('"Translation faults"', 123456789), ("Pages copy-on-write", 1234567),
        ("Pages zero filled", 98765432), ("Pages reactivated", 12345), ("Pages purged", 6789),
        ("File-backed pages", int(total * ratio("Cached"))),
        ("Anonymous pages", int(total * ratio("AnonPages"))),
        ("Pages stored in compressor", 0), ("Pages occupied by compressor", 0),
        ("Decompressions", 0), ("Compressions", 0), ("Pageins", 234567), ("Pageouts", 0),
        ("Swapins", 0), ("Swapouts", 0),
    ]
    out = ["Mach Virtual Memory Statistics: (page size of %d bytes)\n" % page]
    out.extend("%-30s%16d.\n" % (label + ":", value) for label, value in rows)
    sys.stdout.write("".join(out))
    return 0
