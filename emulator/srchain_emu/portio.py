"""Frame I/O of one switch port: PACKET_MMAP rings by default, plain AF_PACKET sockets as the fallback.

The rings are the proxy's (`srchain_net.rings`, TPACKET_V2): received frames are read from shared memory
without a system call each, and sent frames are copied into a TX ring and handed to the kernel with one
send() per batch. Fewer system calls matter less than fewer wake-ups: every send() on a veth runs the
receiver's side in our time slice and may hand the CPU to the woken receiver before we continue.
Frames longer than the egress interface's MTU (+ Ethernet header) are dropped and counted (`oversize`), as
a switch port does; so are received frames longer than a ring slot (FRAME_SIZE - 32 = 2016 bytes).
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import socket
import struct
from typing import Protocol

from srchain_net.packetsock import PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC, PACKET_OUTGOING, SOL_PACKET, kernel_drops
from srchain_net.rings import FRAME_SIZE, TX_DATA_OFFSET, RingTx, RxRing, rx_stamp_ns

log = logging.getLogger(__name__)
MAX_FRAME = 16384
RX_RING_FRAMES = 32768  # per port: 64 MB of ring, ~3 s of 10 kpps: a day-2 detour doubles the work per packet
MAX_RING_FRAME = FRAME_SIZE - TX_DATA_OFFSET
SIOCGIFMTU = 0x8921
ETH_HLEN = 14


def max_frame(sock: socket.socket, ifname: str) -> int:
    """Largest frame the interface sends: its MTU plus the Ethernet header (asked through `sock`, so it is the
    interface of the socket's network namespace)."""
    req = struct.pack("16si", ifname.encode()[:15], 0)
    return struct.unpack("16si", fcntl.ioctl(sock.fileno(), SIOCGIFMTU, req))[1] + ETH_HLEN


SIOCGIFFLAGS = 0x8913
IFF_UP, IFF_RUNNING = 0x1, 0x40


def link_up(fd: int, ifname: str) -> bool:
    """The interface is up and has its carrier (IFF_UP and IFF_RUNNING), asked through the socket `fd` (so in the
    socket's network namespace); an interface that is gone is down."""
    try:
        req = struct.pack("16sh", ifname.encode()[:15], 0)
        flags = struct.unpack("16sh", fcntl.ioctl(fd, SIOCGIFFLAGS, req))[1]
    except OSError:
        return False
    return bool(flags & IFF_UP) and bool(flags & IFF_RUNNING)


class Port(Protocol):
    oversize: int  # frames longer than the egress MTU (or a ring slot): dropped and counted, as a switch does

    @property
    def tx_errors(self) -> int: ...

    def fileno(self) -> int: ...
    def rx_drops(self) -> int: ...
    def receive(self, budget: int) -> list[bytes]: ...

    # the kernel's receive time (CLOCK_REALTIME ns) of each frame the last receive() returned, in order; empty
    # where the port cannot tell (plain sockets: the switch then stamps frames when it reads them)
    rx_stamps: list[int]

    def send(self, frame: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class SocketPort:
    """One recvfrom/send per frame on a promiscuous AF_PACKET socket (what tests hand in, and the fallback)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.oversize = 0
        self.tx_errors = 0
        self._drops = 0
        self.max_frame = max_frame(sock, sock.getsockname()[0])
        self.rx_stamps: list[int] = []

    def rx_drops(self) -> int:
        """Frames the kernel dropped because we did not read them in time (socket buffer full), so far."""
        self._drops += kernel_drops(self.sock)
        return self._drops

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self, budget: int) -> list[bytes]:
        out: list[bytes] = []
        recv = self.sock.recvfrom
        for _ in range(budget):
            try:
                frame, addr = recv(MAX_FRAME)
            except BlockingIOError:
                break
            except OSError as exc:
                log.warning("receive failed: %s", exc)
                break
            if addr[2] != PACKET_OUTGOING:  # our own transmissions seen on the same interface
                out.append(frame)
        return out

    def send(self, frame: bytes) -> None:
        if len(frame) > self.max_frame:
            self.oversize += 1
            return
        try:
            self.sock.send(frame)
        except OSError as exc:
            self.tx_errors += 1
            if self.tx_errors == 1 or self.tx_errors % 10_000 == 0:  # not a log line per frame
                log.warning("transmit failed (%d so far): %s", self.tx_errors, exc)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.sock.close()


class RingPort:
    """TPACKET_V2 RX and TX rings on one interface (outgoing frames are not looped back to the RX ring)."""

    def __init__(self, ifname: str, rx_frames: int = RX_RING_FRAMES) -> None:
        self.rx = RxRing(ifname, 0, rx_frames)
        try:
            mreq = struct.pack("iHH8s", socket.if_nametoindex(ifname), PACKET_MR_PROMISC, 0, b"")
            self.rx.sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            self.tx = RingTx(ifname)
        except (OSError, ValueError):
            self.rx.close()
            raise
        self.oversize = 0
        self._drops = 0
        # A frame the kernel refuses (longer than the MTU) would stop the TX ring at that slot (TPACKET without
        # PACKET_LOSS) until it is reclaimed a lap later, sending everything after it a lap late: never queue one.
        self.max_frame = min(max_frame(self.tx.sock, ifname), MAX_RING_FRAME)
        self._frames: list[bytes] = []
        self._take = self._frames.append
        self.rx_stamps: list[int] = []
        self._stamp = self.rx_stamps.append

    @property
    def tx_errors(self) -> int:
        return self.tx.errors

    @property
    def rx_oversize(self) -> int:
        return self.rx.oversize

    def rx_drops(self) -> int:
        """Frames the kernel dropped because the RX ring was full, so far."""
        self._drops += kernel_drops(self.rx.sock)
        return self._drops

    def fileno(self) -> int:
        return self.rx.fileno()

    def _handle(self, ring: mmap.mmap, start: int, end: int) -> None:
        self._take(ring[start:end])
        self._stamp(rx_stamp_ns(ring, start))

    def receive(self, budget: int) -> list[bytes]:
        self.rx_stamps.clear()
        self.rx.drain(self._handle, budget)
        out = self._frames
        self._frames = []
        self._take = self._frames.append
        return out

    def send(self, frame: bytes) -> None:
        if len(frame) > self.max_frame:
            self.oversize += 1
            return
        self.tx.put(frame)

    def flush(self) -> None:
        self.tx.flush()

    def close(self) -> None:
        self.tx.close()
        self.rx.close()


def open_port(ifname: str, io: str = "ring") -> Port:
    """A port on `ifname` (needs root / CAP_NET_RAW): rings unless io="socket" or the rings cannot be set up."""
    if io == "ring":
        try:
            return RingPort(ifname)
        except (OSError, ValueError) as exc:
            log.warning("port %s: no PACKET_MMAP rings (%s); using a plain socket", ifname, exc)
    from .ports import open_port_socket

    return SocketPort(open_port_socket(ifname))
