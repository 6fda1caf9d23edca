"""Next-hop MAC resolution: the kernel neighbour table first, then an ARP probe of our own.

The proxy's VNF-side interfaces need no IP address: the probe uses sender address 0.0.0.0 (RFC 5227),
which Linux and most stacks answer directly to the probing MAC.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
from pathlib import Path

from .packetsock import ETH_P_ARP, iface_mac


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


def arp_probe(ifname: str, ip: str, timeout: float = 0.5) -> str | None:
    """Send one ARP request for ip on ifname and wait up to timeout for the reply's sender MAC."""
    mac = bytes.fromhex(iface_mac(ifname).replace(":", ""))
    target = socket.inet_aton(ip)
    request = (b"\xff" * 6 + mac + ETH_P_ARP.to_bytes(2, "big")
               + bytes.fromhex("0001080006040001") + mac + b"\x00" * 4 + b"\x00" * 6 + target)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
        sock.bind((ifname, ETH_P_ARP))
        sock.send(request)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                frame = sock.recv(128)
            except TimeoutError:
                break
            # ARP reply (op 2) whose sender protocol address is the target
            if len(frame) >= 42 and frame[20:22] == b"\x00\x02" and frame[28:32] == target:
                return frame[22:28].hex(":")
    return None


def resolve(ifname: str, ip: str, timeout: float = 0.5) -> str | None:
    found = kernel_neighbour(ifname, ip)
    if found is None and ipaddress.ip_address(ip).version == 4:
        found = arp_probe(ifname, ip, timeout)
    return found
