"""`ifconfig` and `route` just far enough for ansible's Darwin network facts.

The lab nodes share the host's loopback-only network, so the emulated Mac shows lo0 (127.0.0.1
plus the node's own 127.x address as an alias, read from its sshd ListenAddress) and an en0 with
a MAC address but no IPv4 address. There is no default route, which `route -n get default`
reports the way macOS does; ansible then leaves ansible_default_ipv4 empty.
"""

import glob
import hashlib
import sys

import common

from system import darwin

SSHD_DROPINS = "/etc/ssh/sshd_config.d/*.conf"


def node_addresses():
    addresses = []
    for path in sorted(glob.glob(SSHD_DROPINS)):
        try:
            with open(path) as handle:
                for line in handle:
                    words = line.split()
                    if len(words) == 2 and words[0].lower() == "listenaddress":
                        address = words[1].rsplit(":", 1)[0] if words[1].count(":") == 1 else words[1]
                        if address.startswith("127.") and address != "127.0.0.1":
                            addresses.append(address)
        except OSError:
            continue
    return addresses


def mac_address():
    digest = hashlib.sha256(("en0:" + darwin.hardware_uuid()).encode("ascii")).digest()
    # locally administered, unicast
    return ":".join("%02x" % b for b in bytes([(digest[0] & 0xFC) | 0x02]) + digest[1:6])


def interfaces():
    lo0 = ["lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384",
           "\toptions=1203<RXCSUM,TXCSUM,TXSTATUS,SW_TIMESTAMP>",
           "\tinet 127.0.0.1 netmask 0xff000000"]
    lo0 += ["\tinet %s netmask 0xff000000" % a for a in node_addresses()]
    lo0 += ["\tinet6 ::1 prefixlen 128 ", "\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1 ",
            "\tnd6 options=201<PERFORMNUD,DAD>"]
    en0 = ["en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500",
           "\toptions=50b<RXCSUM,TXCSUM,VLAN_HWTAGGING,AV,CHANNEL_IO>",
           "\tether %s" % mac_address(),
           "\tmedia: autoselect (1000baseT <full-duplex>)",
           "\tstatus: active"]
    return [("lo0", lo0), ("en0", en0)]


def ifconfig_main(argv):
    common.audit(argv)
    args = [a for a in argv[1:] if a not in ("-a", "-l", "-u", "-v")]
    if "-l" in argv[1:]:
        sys.stdout.write(" ".join(name for name, _ in interfaces()) + "\n")
        return 0
    if args:
        for name, lines in interfaces():
            if name == args[0]:
                if len(args) > 1:
                    sys.stderr.write("ifconfig: ioctl (SIOCAIFADDR): Operation not permitted\n")
                    return 1
                sys.stdout.write("\n".join(lines) + "\n")
                return 0
        sys.stderr.write("ifconfig: interface %s does not exist\n" % args[0])
        return 1
    sys.stdout.write("".join("\n".join(lines) + "\n" for _, lines in interfaces()))
    return 0


def route_main(argv):
    common.audit(argv)
    args = [a for a in argv[1:] if a != "-n"]
    if args and args[0] == "get":
        sys.stderr.write("route: writing to routing socket: not in table\n")
        return 1
    sys.stderr.write("route (lab emulator): only `route -n get ...` is emulated\n")
    return 64
