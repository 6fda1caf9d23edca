"""Device ports on Linux interfaces: an SDE-style ports JSON and AF_PACKET raw sockets.

Accepted layouts (one of):
    {"PortToIf":   [{"device_port": 1, "if": "eth1", "rate_bps": 1000000000}, ...]}
    {"PortToVeth": [{"device_port": 0, "veth1": 0, "veth2": 1}, ...]}   # tofino-model style: uses veth<veth1>
`rate_bps` and `burst_bytes` (optional, our extension) shape the port in the traffic manager.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from srchain_net.packetsock import ETH_P_ALL, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC, SOL_PACKET


@dataclass(frozen=True)
class PortSpec:
    device_port: int
    ifname: str
    rate_bps: int = 0
    burst_bytes: int = 16384


class PortsError(ValueError):
    pass


def load_ports(path: str | Path) -> list[PortSpec]:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PortsError(f"{path}: cannot read ports JSON: {exc}") from None
    specs: list[PortSpec] = []
    try:
        if "PortToIf" in doc:
            for e in doc["PortToIf"]:
                specs.append(PortSpec(int(e["device_port"]), str(e["if"]), int(e.get("rate_bps", 0)),
                                      int(e.get("burst_bytes", 16384))))
        elif "PortToVeth" in doc:
            for e in doc["PortToVeth"]:
                specs.append(PortSpec(int(e["device_port"]), f"veth{int(e['veth1'])}", int(e.get("rate_bps", 0))))
        else:
            raise PortsError(f"{path}: expected a PortToIf or PortToVeth list")
    except PortsError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise PortsError(f"{path}: bad port entry: {exc}") from None
    seen: set[int] = set()
    by_if: dict[str, int] = {}
    for s in specs:
        if not 0 <= s.device_port < 512:
            raise PortsError(f"{path}: device_port {s.device_port} out of range 0..511")
        if s.device_port in seen:
            raise PortsError(f"{path}: device_port {s.device_port} listed twice")
        seen.add(s.device_port)
        if s.ifname in by_if:  # each port's socket would take every frame: it would enter once per port
            raise PortsError(f"{path}: {s.ifname} is given to device_port {by_if[s.ifname]} and {s.device_port}")
        by_if[s.ifname] = s.device_port
    return specs


def check_pipes(specs: list[PortSpec], num_pipes: int, path: str | Path) -> list[PortSpec]:
    """Every port must be in one of the device's pipes (Tofino 1: pipe = dev_port >> 7)."""
    for s in specs:
        if s.device_port >> 7 >= num_pipes:
            raise PortsError(f"{path}: device_port {s.device_port} ({s.ifname}) is in pipe {s.device_port >> 7}, "
                             f"but the switch has {num_pipes} pipe(s) (0..{num_pipes - 1}; --num-pipes)")
    return specs


def open_port_socket(ifname: str) -> socket.socket:
    """A non-blocking promiscuous AF_PACKET socket on `ifname` (needs root / CAP_NET_RAW)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        sock.bind((ifname, 0))
        ifindex = socket.if_nametoindex(ifname)
        mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
        sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
