"""Next-hop MAC resolution: the kernel neighbour table first, then a probe of our own (ARP or NDP).

The proxy's VNF-side interfaces need no IP address. The ARP probe uses sender address 0.0.0.0 (RFC 5227),
which Linux and most stacks answer directly to the probing MAC. The IPv6 probe is a Neighbor Solicitation
(RFC 4861) from the link-local address derived from the interface's MAC (EUI-64), with our MAC in the
source link-layer option, to the target's solicited-node multicast group; the Neighbor Advertisement comes
back to our MAC whether or not the kernel configured that address on the interface.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from srchain_net.packetsock import ETH_P_ARP, iface_mac

ETH_P_IPV6 = 0x86DD


def kernel_neighbour(ifname: str, ip: str) -> str | None:
    if ipaddress.ip_address(ip).version == 4:
        try:
            rows = Path("/proc/net/arp").read_text().splitlines()[1:]
        except OSError:
            return None
        for row in rows:
            cols = row.split()
            # IP address, HW type, Flags, HW address, Mask, Device; flag 0x2 = complete
            if len(cols) >= 6 and cols[0] == ip and cols[5] == ifname and int(cols[2], 16) & 0x2:
                return cols[3].lower()
        return None
    try:
        out = subprocess.run(["ip", "-6", "neigh", "show", "to", ip, "dev", ifname], capture_output=True,
                             text=True, timeout=2, check=False).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    if "lladdr" in out and not {"FAILED", "INCOMPLETE"} & set(out):
        return out[out.index("lladdr") + 1].lower()
    return None


def _ask(ifname: str, proto: int, request: bytes, answer: Callable[[bytes], str | None],
         timeout: float) -> str | None:
    """Send request on ifname (a raw socket of ethertype proto) and return the first answer(frame) that is
    not None within timeout."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto)) as sock:
        sock.bind((ifname, proto))
        sock.send(request)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                found = answer(sock.recv(256))
            except TimeoutError:
                break
            if found is not None:
                return found
    return None


def arp_probe(ifname: str, ip: str, timeout: float = 0.5) -> str | None:
    """Send one ARP request for ip on ifname and wait up to timeout for the reply's sender MAC."""
    mac = bytes.fromhex(iface_mac(ifname).replace(":", ""))
    target = socket.inet_aton(ip)
    request = (b"\xff" * 6 + mac + ETH_P_ARP.to_bytes(2, "big")
               + bytes.fromhex("0001080006040001") + mac + b"\x00" * 4 + b"\x00" * 6 + target)

    def reply(frame: bytes) -> str | None:  # ARP reply (op 2) whose sender protocol address is the target
        if len(frame) >= 42 and frame[20:22] == b"\x00\x02" and frame[28:32] == target:
            return frame[22:28].hex(":")
        return None

    return _ask(ifname, ETH_P_ARP, request, reply, timeout)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[k:k + 2], "big") for k in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def link_local(mac: bytes) -> bytes:
    """fe80::/64 with the modified EUI-64 interface identifier of mac (RFC 4291, appendix A)."""
    return bytes.fromhex("fe80000000000000") + bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:6]


def solicitation(mac: bytes, target: bytes) -> bytes:
    """An Ethernet frame carrying a Neighbor Solicitation for target from mac (link-local source)."""
    src = link_local(mac)
    group = bytes.fromhex("ff0200000000000000000001ff") + target[13:]  # solicited-node multicast
    body = bytes([135, 0, 0, 0]) + b"\x00" * 4 + target + bytes([1, 1]) + mac  # NS + source link-layer opt.
    pseudo = src + group + len(body).to_bytes(4, "big") + b"\x00\x00\x00\x3a"
    csum = _checksum(pseudo + body)
    body = body[:2] + csum.to_bytes(2, "big") + body[4:]
    ip6 = b"\x60\x00\x00\x00" + len(body).to_bytes(2, "big") + bytes([58, 255]) + src + group
    return b"\x33\x33" + group[12:] + mac + ETH_P_IPV6.to_bytes(2, "big") + ip6 + body


def ndp_probe(ifname: str, ip: str, timeout: float = 0.5) -> str | None:
    """Send one Neighbor Solicitation for ip on ifname; the advertising MAC within timeout, or None."""
    mac = bytes.fromhex(iface_mac(ifname).replace(":", ""))
    target = ipaddress.IPv6Address(ip).packed

    def advert(frame: bytes) -> str | None:
        # ICMPv6 (next header 58) Neighbor Advertisement (136) for our target: its target link-layer option
        # if present, else the frame's source MAC
        if len(frame) < 78 or frame[20] != 58 or frame[54] != 136 or frame[62:78] != target:
            return None
        opts = frame[78:]
        while len(opts) >= 8 and opts[1]:
            if opts[0] == 2:
                return opts[2:8].hex(":")
            opts = opts[8 * opts[1]:]
        return frame[6:12].hex(":")

    return _ask(ifname, ETH_P_IPV6, solicitation(mac, target), advert, timeout)


def resolve(ifname: str, ip: str, timeout: float = 0.5) -> str | None:
    found = kernel_neighbour(ifname, ip)
    if found is None:
        probe = arp_probe if ipaddress.ip_address(ip).version == 4 else ndp_probe
        found = probe(ifname, ip, timeout)
    return found
