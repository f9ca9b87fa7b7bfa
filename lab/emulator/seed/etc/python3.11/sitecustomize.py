# install the apport exception handler if available
try:
    import apport_python_hook
except ImportError:
    pass
else:
    apport_python_hook.install()


# --- macmesh lab: Darwin shim (lab/emulator, test equipment only) ---------------------------
# Makes Python on this lab node report macOS (platform.system() == "Darwin", os.uname() with
# sysname Darwin, release 23.6.0/24.x, machine arm64, platform.mac_ver()) so that ansible picks
# its real macOS code paths (DarwinUser -> dscl, Darwin fact collectors -> sw_vers, sysctl, ...).
# Left alone: sys.platform (still "linux", so the stdlib keeps using Linux syscalls),
# sysconfig.get_platform() (pip/wheel tags), and processes that opt out (pip, py3compile, or
# MACEMU_REAL_PLATFORM=1). Everything is guarded: a shim bug must never stop Python starting.
def _macemu_darwin_shim():
    import json
    import os
    import sys

    if os.environ.get("MACEMU_REAL_PLATFORM") == "1":
        return
    argv = list(getattr(sys, "orig_argv", None) or sys.argv or [])
    names = [os.path.basename(a) for a in argv[:3]]
    if any(n.startswith(("pip", "py3compile", "py3clean", "pycompile", "ensurepip")) for n in names):
        return
    if "-m" in argv[:3] and argv[argv.index("-m") + 1:argv.index("-m") + 2] in (["pip"], ["ensurepip"], ["venv"], ["py_compile"], ["compileall"]):
        return

    try:
        with open(os.environ.get("MACEMU_NODE_CONFIG", "/etc/macemu/node.json")) as handle:
            version = str(json.load(handle).get("macos_version") or "14.6.1")
    except (OSError, ValueError, AttributeError):
        version = "14.6.1"
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")] + [0, 0]
    major, minor = parts[0], parts[1]
    if major == 14:
        release = "23.6.0"
    elif major == 15:
        release = "24.%d.0" % min(minor, 6)
    else:
        release = "%d.%d.0" % (major + 9, minor)
    kernel = {
        "23.6.0": "Darwin Kernel Version 23.6.0: Mon Jul 29 21:14:30 PDT 2024; "
                  "root:xnu-10063.141.2~1/RELEASE_ARM64_T8112",
        "24.6.0": "Darwin Kernel Version 24.6.0: Wed Nov  5 21:34:00 PST 2025; "
                  "root:xnu-11417.140.69.705.2~1/RELEASE_ARM64_T8132",
    }.get(release, "Darwin Kernel Version %s: Thu Jan  1 00:00:00 PST 2025; "
                   "root:xnu-0.0.0~1/RELEASE_ARM64_T8112" % release)

    import platform
    import sysconfig

    real_platform = sysconfig.get_platform()
    sysconfig.get_platform = lambda: real_platform
    real_uname = os.uname

    def uname():
        node = real_uname().nodename
        return os.uname_result(("Darwin", node, release, kernel, "arm64"))

    os.uname = uname
    platform._uname_cache = None

    def mac_ver(release="", versioninfo=("", "", ""), machine=""):
        return version, ("", "", ""), "arm64"

    platform.mac_ver = mac_ver


try:
    _macemu_darwin_shim()
except Exception:  # noqa: BLE001 - see the comment above: never break interpreter start-up
    pass
del _macemu_darwin_shim
