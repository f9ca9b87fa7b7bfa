"""Emulated `hdiutil` (attach -nomount ram://N, detach), `diskutil` (erasevolume, enableOwnership,
info) and `mount` (the list) for RAM disks on the lab nodes (test equipment).

A RAM disk is a tmpfs of N x 512 bytes. `hdiutil attach -nomount ram://N` only reserves a device
(recorded in MACEMU_RUN/disks, so a reboot forgets it); `diskutil erasevolume APFS NAME DEV`
mounts the tmpfs at /Volumes/NAME (or "/Volumes/NAME 1" when that is taken, as macOS does),
owned by the caller with ownership ignored ("noowners") until `diskutil enableOwnership`.
The tmpfs dies with the node's mount namespace, so a reboot empties it.
Sources in lab/emulator/README.md ("RAM disk" rows).
"""

import json
import os
import pwd
import re
import subprocess
import sys

import common

FIRST_DISK = 4
SECTOR = 512
MOUNT = "/usr/bin/mount"
UMOUNT = "/usr/bin/umount"


def _dir():
    path = os.path.join(common.run_dir(), "disks")
    common.ensure_dir(path, 0o755)
    return path


def _records():
    out = {}
    for name in sorted(os.listdir(_dir())):
        if name.endswith(".json"):
            with open(os.path.join(_dir(), name)) as handle:
                record = json.load(handle)
            out[record["disk"]] = record
    return out


def _save(record):
    tmp = os.path.join(_dir(), record["disk"] + ".json.tmp")
    with open(tmp, "w") as handle:
        json.dump(record, handle, sort_keys=True)
    os.replace(tmp, os.path.join(_dir(), record["disk"] + ".json"))


def _real_mounts():
    with open("/proc/self/mounts") as handle:
        return set(line.split()[1].replace("\\040", " ") for line in handle if len(line.split()) > 1)


def _disk_of(device):
    match = re.match(r"^(?:/dev/)?r?(disk[0-9]+)$", (device or "").strip())
    return match.group(1) if match else None


def _next_disk(records):
    used = set()
    for record in records.values():
        used.add(int(record["disk"][4:]))
        if record.get("volume"):
            used.add(int(re.match(r"disk([0-9]+)", record["volume"]).group(1)))
    number = FIRST_DISK
    while number in used:
        number += 1
    return number


def hdiutil(argv):
    args = argv[1:]
    if len(args) == 3 and args[0] == "attach" and args[1] == "-nomount" and args[2].startswith("ram://"):
        sectors = args[2][len("ram://"):]
        if not sectors.isdigit() or int(sectors) < 1:
            sys.stderr.write("hdiutil: attach failed - No such file or directory\n")
            return 1
        records = _records()
        disk = "disk%d" % _next_disk(records)
        _save({"disk": disk, "sectors": int(sectors), "uid": os.getuid(), "mountpoint": None, "volume": None,
               "owners": False})
        sys.stdout.write("/dev/%s          \t       \t\n" % disk)
        return 0
    if len(args) == 2 and args[0] in ("detach", "eject"):
        disk = _disk_of(args[1])
        records = _records()
        if disk is None and args[1] in [r.get("mountpoint") for r in records.values()]:
            disk = [r["disk"] for r in records.values() if r.get("mountpoint") == args[1]][0]
        if disk not in records:
            sys.stderr.write("hdiutil: detach failed - No such file or directory\n")
            return 1
        record = records[disk]
        if record.get("mountpoint"):
            subprocess.run([UMOUNT, record["mountpoint"]], check=False)
            try:
                os.rmdir(record["mountpoint"])
            except OSError:
                pass
        os.unlink(os.path.join(_dir(), disk + ".json"))
        sys.stdout.write('"%s" ejected.\n' % disk)
        return 0
    sys.stderr.write("Usage: hdiutil <verb> <options>\n")
    return 1


def _mountpoint(name):
    taken = _real_mounts()
    path = "/Volumes/%s" % name
    number = 1
    while path in taken or (os.path.exists(path) and os.listdir(path)):
        path = "/Volumes/%s %d" % (name, number)
        number += 1
    return path


def diskutil(argv):
    args = argv[1:]
    if len(args) == 4 and args[0].lower() == "erasevolume":
        fstype, name, device = args[1], args[2], args[3]
        disk = _disk_of(device)
        records = _records()
        if fstype not in ("APFS", "apfs", "HFS+", "JHFS+"):
            sys.stderr.write("%s does not appear to be a valid file system format\n" % fstype)
            return 1
        if disk not in records:
            sys.stderr.write("Could not find disk: %s\n" % device)
            return 1
        if not re.match(r"^[A-Za-z0-9 ._-]{1,63}$", name):
            sys.stderr.write("Invalid volume name\n")
            return 1
        record = records[disk]
        if record.get("mountpoint"):
            subprocess.run([UMOUNT, record["mountpoint"]], check=False)
        path = _mountpoint(name)
        common.ensure_dir("/Volumes", 0o755)
        if not os.path.isdir(path):
            os.mkdir(path, 0o755)
        size = record["sectors"] * SECTOR
        subprocess.run([MOUNT, "-t", "tmpfs", "-o", "size=%d,mode=0755,uid=%d,nodev,nosuid" % (size, os.getuid()),
                        "tmpfs", path], check=True)
        if fstype.lower() == "apfs":
            # erasevolume APFS makes a container on the next free disk and one volume in it.
            container = "disk%d" % _next_disk(records)
            volume = container + "s1"
        else:
            container, volume = None, disk
        record.update(mountpoint=path, volume=volume, name=name, fstype=fstype.lower(), owners=False)
        _save(record)
        out = ["Started erase on %s" % disk, "Unmounting disk", "Erasing"]
        if fstype.lower() == "apfs":
            out += ["Creating a new empty APFS Container", "Unmounting Volumes", "Switching %s to APFS" % disk,
                    "Creating APFS Container", "Created new APFS Container %s" % container,
                    "Preparing to add APFS Volume to APFS Container %s" % container, "Creating APFS Volume",
                    "Created new APFS Volume %s" % volume, "Mounting disk", "Setting volume permissions",
                    "Disk from %s mounted" % disk, "Finished erase on %s" % disk]
        else:
            out += ["Initialized /dev/r%s as a %d MB case-insensitive HFS Plus volume" % (disk, size // 1048576),
                    "Mounting disk", "Finished erase on %s (%s)" % (disk, name)]
        sys.stdout.write("\n".join(out) + "\n")
        return 0
    if len(args) == 2 and args[0] in ("enableOwnership", "disableOwnership"):
        if os.geteuid() != 0:
            sys.stderr.write("%s requires root access\n" % args[0])
            return 1
        for record in _records().values():
            if record.get("mountpoint") == args[1] or "/dev/" + (record.get("volume") or "") == args[1]:
                record["owners"] = args[0] == "enableOwnership"
                _save(record)
                sys.stdout.write("File system user/group ownership %s\n" % (
                    "enabled" if record["owners"] else "disabled"))
                return 0
        sys.stderr.write("Could not find disk: %s\n" % args[1])
        return 1
    sys.stderr.write("Usage:  diskutil [quiet] <verb> <options>, where <verb> is as follows:\n")
    return 1


def mount_list():
    """`mount` without arguments: the root volume and the RAM disks, in macOS's format."""
    lines = ["/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)"]
    real = _real_mounts()
    for record in _records().values():
        path = record.get("mountpoint")
        if not path or path not in real:
            continue
        options = ["apfs" if record.get("fstype") == "apfs" else "hfs", "local", "nodev", "nosuid", "journaled"]
        if not record.get("owners"):
            options.append("noowners")
        try:
            owner = pwd.getpwuid(record.get("uid", 0)).pw_name
        except KeyError:
            owner = str(record.get("uid"))
        options.append("mounted by %s" % owner)
        lines.append("/dev/%s on %s (%s)" % (record["volume"], path, ", ".join(options)))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def mount(argv):
    if len(argv) == 1:
        return mount_list()
    os.execv(MOUNT, [MOUNT] + argv[1:])
    return 1
