"""`sysctl` (installed as /usr/sbin/sysctl on the node): Darwin names first, Linux /proc/sys after.

Darwin keys (hw.*, machdep.cpu.*, kern.*, vm.*) describe the emulated Mac. A dotted name that is
not a Darwin key is looked up under /proc/sys so Linux tooling on the node that reads e.g.
`sysctl -n kernel.pid_max` still works; writes (-w, -p, --system) are accepted and ignored,
because this replaces procps' sysctl and the node's /proc/sys is not ours to tune.
"""

import os
import struct
import sys
import time

import common

from system import darwin


def darwin_keys():
    """Ordered {name: value} of the Darwin sysctl keys, as text."""
    model = darwin.model_info()
    cores = model["cores"]
    sec, usec = darwin.boot_time()
    boot_text = "{ sec = %d, usec = %d } %s" % (sec, usec, time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(sec)))
    try:
        with open("/proc/loadavg") as handle:
            load = handle.read().split()[:3]
    except OSError:
        load = ["0.00", "0.00", "0.00"]
    keys = [
        ("hw.ncpu", cores), ("hw.byteorder", 1234), ("hw.memsize", darwin.memory_bytes()),
        ("hw.activecpu", cores), ("hw.physicalcpu", cores), ("hw.physicalcpu_max", cores),
        ("hw.logicalcpu", cores), ("hw.logicalcpu_max", cores), ("hw.cputype", 16777228),
        ("hw.cpusubtype", 2), ("hw.cpu64bit_capable", 1), ("hw.cpufamily", model["cpufamily"]),
        ("hw.cacheconfig", "%d 1 %d 0 0 0 0 0 0 0" % (cores, model["perf"])),
        ("hw.cachelinesize", 128), ("hw.l1icachesize", 131072), ("hw.l1dcachesize", 65536),
        ("hw.l2cachesize", 4194304), ("hw.tbfrequency", 24000000), ("hw.packages", 1),
        ("hw.pagesize", 16384), ("hw.pagesize32", 16384), ("hw.optional.arm64", 1),
        ("hw.optional.floatingpoint", 1), ("hw.optional.neon", 1),
        ("hw.nperflevels", 2), ("hw.perflevel0.physicalcpu", model["perf"]),
        ("hw.perflevel0.name", "Performance"), ("hw.perflevel1.physicalcpu", model["eff"]),
        ("hw.perflevel1.name", "Efficiency"),
        ("hw.targettype", model["board"]), ("hw.product", darwin.model_identifier()),
        ("hw.model", darwin.model_identifier()),
        ("machdep.cpu.cores_per_package", cores), ("machdep.cpu.core_count", cores),
        ("machdep.cpu.logical_per_package", cores), ("machdep.cpu.thread_count", cores),
        ("machdep.cpu.brand_string", model["chip"]), ("machdep.virtual_address_size", 47),
        ("machdep.ptrauth_enabled", 1),
        ("kern.ostype", "Darwin"), ("kern.osrelease", darwin.darwin_release()),
        ("kern.osrevision", 199506), ("kern.version", darwin.kernel_version()),
        ("kern.maxvnodes", 263168), ("kern.maxproc", 8000), ("kern.maxfiles", 245760),
        ("kern.argmax", 1048576), ("kern.securelevel", 0), ("kern.hostname", darwin.hostname()),
        ("kern.boottime", boot_text), ("kern.maxfilesperproc", 122880),
        ("kern.maxprocperuid", 5333), ("kern.osversion", darwin.build_version()),
        ("kern.osproductversion", darwin.product_version()), ("kern.osreleasetype", "User"),
        ("kern.hv_vmm_present", 0), ("kern.uuid", darwin.hardware_uuid()),
        ("vm.loadavg", "{ %s }" % " ".join(load)),
        ("vm.swapusage", "total = 0.00M  used = 0.00M  free = 0.00M  (encrypted)"),
        ("vm.page_free_count", 0), ("vm.memory_pressure", 0), ("vm.pagesize", 16384),
    ]
    return dict((k, str(v)) for k, v in keys)


def binary_value(name, text):
    """`sysctl -b`: the raw C value. kern.boottime is a struct timeval (two native longs)."""
    if name == "kern.boottime":
        sec, usec = darwin.boot_time()
        return struct.pack("@ll", sec, usec)
    try:
        return struct.pack("@q", int(text))
    except ValueError:
        return text.encode("utf-8") + b"\0"


def _proc_sys(name):
    path = os.path.join("/proc/sys", *name.split("."))
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as handle:
            return handle.read().strip().replace("\t", " ")
    except OSError:
        return None


def main(argv):
    common.audit(argv)
    args = list(argv[1:])
    value_only = binary = show_all = False
    names = []
    while args:
        arg = args.pop(0)
        if arg in ("-p", "--load", "--system", "-w", "--write", "-q", "--quiet", "-e"):
            # Linux procps write/load forms: see the module docstring.
            if arg in ("-p", "--load", "--system", "-w", "--write"):
                return 0
            continue
        if arg.startswith("-") and len(arg) > 1 and not arg.startswith("--"):
            for flag in arg[1:]:
                if flag == "n":
                    value_only = True
                elif flag == "b":
                    binary = True
                elif flag in ("a", "A", "X"):
                    show_all = True
                elif flag in ("h", "N", "o", "x", "d"):
                    continue
                else:
                    sys.stderr.write("usage: sysctl [-bdehiNnoqx] name[=value] ...\n"
                                     "       sysctl [-bdehNnoqx] -a\n")
                    return 64
            continue
        names.append(arg)
    keys = darwin_keys()
    if show_all and not names:
        names = list(keys)
    if not names:
        sys.stderr.write("usage: sysctl [-bdehiNnoqx] name[=value] ...\n       sysctl [-bdehNnoqx] -a\n")
        return 64
    rc = 0
    out = []
    raw = b""
    for name in names:
        if "=" in name:
            sys.stderr.write("sysctl: oid '%s' is read only\n" % name.split("=", 1)[0])
            rc = 1
            continue
        matches = [k for k in keys if k == name or k.startswith(name + ".")]
        if not matches:
            linux = _proc_sys(name)
            if linux is None:
                sys.stderr.write("sysctl: unknown oid '%s'\n" % name)
                rc = 1
                continue
            out.append(linux if value_only else "%s = %s" % (name, linux))
            continue
        for key in matches:
            if binary:
                raw += binary_value(key, keys[key])
            else:
                out.append(keys[key] if value_only else "%s: %s" % (key, keys[key]))
    if binary:
        sys.stdout.flush()
        os.write(1, raw)
    elif out:
        sys.stdout.write("\n".join(out) + "\n")
    return rc
