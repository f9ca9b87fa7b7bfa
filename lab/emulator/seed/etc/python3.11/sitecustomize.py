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


# --- macmesh lab: compiled-code cache for AnsiballZ payloads (test equipment only) -------------
# Every Ansible module arrives as a zip (AnsiballZ) and zipimport compiles each module_utils file
# from source at every run (no .pyc in the zip): most of a module's start-up on this VM, for the
# collection's modules and ansible's alike. The lab keeps root's compiled code objects under
# /var/cache/macemu/pycode, keyed by the sha256 of the bytecode magic and the source, so a changed
# source is compiled again; co_filename is set back to this run's path. It changes how fast a
# module starts, nothing a module sees. MACEMU_CODE_CACHE=0 turns it off (cold start-up); other
# users than root compile as before. Never raises (see the Darwin shim above).
def _macemu_code_cache():
    import os
    import zipimport

    if os.environ.get("MACEMU_CODE_CACHE") == "0" or os.geteuid() != 0:
        return
    compile_source = zipimport._compile_source
    root = os.environ.get("MACEMU_CODE_CACHE_DIR", "/var/cache/macemu/pycode")

    def renamed(code, filename):
        consts = tuple(renamed(item, filename) if isinstance(item, type(code)) else item for item in code.co_consts)
        return code.replace(co_filename=filename, co_consts=consts)

    def cached_compile(pathname, source):
        try:
            import hashlib
            import marshal
            from importlib.util import MAGIC_NUMBER

            path = os.path.join(root, hashlib.sha256(MAGIC_NUMBER + source).hexdigest())
            try:
                with open(path, "rb") as handle:
                    return renamed(marshal.load(handle), pathname)
            except (OSError, ValueError, EOFError, TypeError):
                pass
            code = compile_source(pathname, source)
            os.makedirs(root, mode=0o700, exist_ok=True)
            temp = "%s.%d.tmp" % (path, os.getpid())
            with open(temp, "wb") as handle:
                marshal.dump(code, handle)
            os.replace(temp, path)
            return code
        except SyntaxError:
            raise
        except Exception:  # noqa: BLE001 - a cache failure compiles as zipimport would
            return compile_source(pathname, source)

    zipimport._compile_source = cached_compile


try:
    _macemu_code_cache()
except Exception:  # noqa: BLE001 - never break interpreter start-up
    pass
del _macemu_code_cache
