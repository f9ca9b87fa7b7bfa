"""Emulated macOS system commands (dscl, defaults, sysctl, ...) for the lab nodes.

Test equipment: never imported by the collection. Each module has `main(argv) -> exit code`;
the launchers in usr/bin and usr/sbin call it. Sources for every output format and error text
are listed in lab/emulator/SYSTEM.md.
"""
