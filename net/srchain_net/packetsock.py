"""AF_PACKET socket helpers (Linux)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from pathlib import Path

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_MPLS_UC = 0x8847
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
# sockaddr_ll.sll_pkttype: whom a received frame's destination MAC addressed (linux/if_packet.h)
PACKET_HOST = 0  # this interface's own MAC
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3  # another host's unicast MAC (seen on veth, bridges and promiscuous NICs)
PACKET_OUTGOING = 4  # a frame this host sent
PACKET_STATISTICS = 6
PACKET_QDISC_BYPASS = 20
PACKET_IGNORE_OUTGOING = 23
_STATS = struct.Struct("II")  # struct tpacket_stats {tp_packets, tp_drops}


def iface_mac(ifname: str) -> str:
    try:
        return Path(f"/sys/class/net/{ifname}/address").read_text().strip()
    except OSError as exc:
        raise ValueError(f"no such interface {ifname!r}") from exc


def open_packet_socket(ifname: str, receive: bool = True, rcvbuf: int = 8 << 20,
                       setup: Callable[[socket.socket], None] | None = None) -> socket.socket:
    """A non-blocking raw socket bound to ifname; receive=False gives a send-only socket.

    Created with protocol 0 (receives nothing) and only then bound with ETH_P_ALL, so no frame from
    another interface slips in between socket() and bind(). Outgoing frames (ours or anyone's) are not
    looped back. setup(sock) runs before bind (ring options must be set before binding).
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        if receive:
            try:
                sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE (root)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        if setup is not None:
            setup(sock)
        sock.bind((ifname, ETH_P_ALL if receive else 0))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot open a packet socket on {ifname!r}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


def kernel_drops(sock: socket.socket) -> int:
    """Frames the kernel dropped for this socket since the last call (the counter resets on read)."""
    _packets, drops = _STATS.unpack(sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS.size))
    return int(drops)
