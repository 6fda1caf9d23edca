"""PACKET_MMAP rings (TPACKET_V2) and a plain-socket fallback, behind one small interface.

Receive: the kernel writes frames into a shared ring; we walk it without a system call per frame and hand
each frame back by clearing its status word. PACKET_RESERVE leaves HEADROOM bytes in front of every frame,
so the proxy can push a label stack in place. TPACKET_V2 rather than V3: V3 hands frames over a block
at a time (when full or after a timeout of >= 1 ms), which adds up to that timeout to the latency at low
rates; V2 hands over every frame at once.
Send: frames are copied into a TX ring and flushed with one send() per batch.

Link facts: besides the frame, the kernel reports what the frame looked like on the wire and is gone from
it -- an outer VLAN tag it took off (tpacket2_hdr.tp_vlan_tci/tp_vlan_tpid with TP_STATUS_VLAN_VALID; the
kernel strips the outer 802.1Q/802.1ad tag before any packet socket sees the frame, offload or not) and
whom the destination MAC addressed (sockaddr_ll.sll_pkttype after the header: this host, broadcast,
multicast or another host). Both rings hand them over per frame as one int, `meta` (see link_meta).
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import socket
import struct
import time
from array import array
from collections.abc import Callable

from .packetsock import SOL_PACKET, open_packet_socket

log = logging.getLogger(__name__)

PACKET_RX_RING = 5
PACKET_VERSION = 10
PACKET_RESERVE = 12
PACKET_TX_RING = 13
PACKET_LOSS = 14
SIOCGIFMTU = 0x8921
TPACKET_V2 = 1
TP_STATUS_USER = 1
TP_STATUS_SEND_REQUEST = 1
TP_STATUS_WRONG_FORMAT = 4
TP_STATUS_VLAN_VALID = 0x10  # tp_vlan_tci holds the outer tag the kernel took off the frame
TP_STATUS_VLAN_TPID_VALID = 0x40  # tp_vlan_tpid holds that tag's TPID (0x8100 802.1Q, 0x88a8 802.1ad)
PACKET_AUXDATA = 8  # recvmsg ancillary data with the same facts, for sockets without a ring
TX_DATA_OFFSET = 32  # TPACKET2_HDRLEN - sizeof(struct sockaddr_ll): where the kernel reads TX frame data
TPACKET2_HDRLEN = 52  # TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) + sizeof(struct sockaddr_ll)
SLL_PKTTYPE_OFFSET = 32 + 10  # sockaddr_ll follows the 32-byte tpacket2_hdr; sll_pkttype is its 11th byte
ETH_HLEN = 14
VLAN_HLEN = 4  # an 802.1Q tag written into a frame we send

_REQ = struct.Struct("IIII")  # struct tpacket_req {block_size, block_nr, frame_size, frame_nr}
# tpacket2_hdr: tp_status, tp_len, tp_snaplen, tp_mac, (tp_net, tp_sec, tp_nsec), tp_vlan_tci, tp_vlan_tpid
_RXHDR = struct.Struct("IIIH10xHH")
_AUXDATA = struct.Struct("IIIHHHH")  # struct tpacket_auxdata
_U32 = struct.Struct("I")
_STATUS_LEN = struct.Struct("II")  # tpacket2_hdr: tp_status, tp_len
_ZERO = bytes(4)
FRAME_SIZE = 2048  # one page holds two frames; a frame longer than rx_max_frame(reserve) is dropped
FRAMES_PER_BLOCK = 32


def rx_frame_offset(reserve: int) -> int:
    """Where the kernel writes an Ethernet frame in an RX slot (tp_mac), as net/packet/af_packet.c does:
    the network header at TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + reserve, the 14-byte header before it."""
    return (TPACKET2_HDRLEN + 16 + 15) // 16 * 16 + reserve - ETH_HLEN


def rx_max_frame(reserve: int) -> int:
    """The longest frame an RX slot holds whole: the rest of the 2048-byte slot after the kernel's header,
    its alignment and `reserve` (1982 bytes with no reserve, 1850 with the proxy's 132-byte headroom)."""
    return FRAME_SIZE - rx_frame_offset(reserve)


def link_meta(status: int, tci: int, tpid: int, pkttype: int) -> int:
    """What the kernel reported about a frame, as one int: pkttype << 32 | tag, where tag is
    TPID << 16 | TCI of the outer VLAN tag it took off, 0 when there was none (a kernel that does not
    report the TPID means 802.1Q). 0 therefore means: untagged, sent to this host's MAC."""
    if not status & TP_STATUS_VLAN_VALID:
        return pkttype << 32
    return pkttype << 32 | (tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100) << 16 | tci


def _max_frame(sock: socket.socket, ifname: str) -> int:
    """The longest Ethernet frame `ifname` sends: its MTU (asked through the socket, so in the socket's own
    network namespace) plus the 14-byte header."""
    try:
        ifr = fcntl.ioctl(sock.fileno(), SIOCGIFMTU, struct.pack("16si12x", ifname.encode(), 0))
    except OSError:
        return FRAME_SIZE - TX_DATA_OFFSET
    mtu: int = struct.unpack_from("16si", ifr)[1]
    return mtu + 14


def _ring(sock: socket.socket, which: int, frames: int) -> None:
    block = FRAME_SIZE * FRAMES_PER_BLOCK
    sock.setsockopt(SOL_PACKET, which, _REQ.pack(block, frames // FRAMES_PER_BLOCK, FRAME_SIZE, frames))


_RX_TSTAMP = struct.Struct("II")  # tpacket2_hdr.tp_sec, tp_nsec: the kernel's receive time (CLOCK_REALTIME)
_RX_TSTAMP_AT = 16  # after tp_status, tp_len, tp_snaplen, tp_mac, tp_net


def rx_stamp_ns(ring: mmap.mmap, start: int) -> int:
    """The kernel's receive time (CLOCK_REALTIME ns) of the frame whose data starts at `start` in an RX ring
    (slots are FRAME_SIZE apart from the start of the map; the header is at the slot's start)."""
    sec, nsec = _RX_TSTAMP.unpack_from(ring, start - start % FRAME_SIZE + _RX_TSTAMP_AT)
    return int(sec) * 1_000_000_000 + int(nsec)


class RxRing:
    """Receive side of one interface, TPACKET_V2 ring."""

    def __init__(self, ifname: str, reserve: int, frames: int = 4096,
                 join: Callable[[socket.socket], None] | None = None) -> None:
        """join: called on the bound socket before the ring is mapped (the proxy's workers join their
        PACKET_FANOUT group there); a ValueError from it closes the socket and propagates."""
        def setup(sock: socket.socket) -> None:
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            sock.setsockopt(SOL_PACKET, PACKET_RESERVE, reserve)
            _ring(sock, PACKET_RX_RING, frames)

        self.sock = open_packet_socket(ifname, receive=True, setup=setup)
        if join is not None:
            try:
                join(self.sock)
            except ValueError:
                self.sock.close()
                raise
        self.nr = frames
        self.map = mmap.mmap(self.sock.fileno(), frames * FRAME_SIZE, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self.view = memoryview(self.map)  # what senders slice frames from (no copy)
        self.max_frame = rx_max_frame(reserve)
        link_frame = _max_frame(self.sock, ifname)
        if link_frame > self.max_frame:
            log.warning("%s: its MTU lets frames of up to %d bytes through, a receive slot holds %d: "
                        "longer frames are dropped and counted as oversize", ifname, link_frame, self.max_frame)
        self.i = 0
        self.meta = 0  # link_meta() of the frame being handled, read by handlers during drain()
        self.oversize = 0
        self.errors = 0
        self.holes = 0
        self._hole: tuple[int, float] | None = None  # (slot, first seen) of a suspected hole

    def fileno(self) -> int:
        return self.sock.fileno()

    _stuck: tuple[int, float] | None = None  # (slot, since) while slot i stays empty with nothing behind it

    def _skip_hole(self, i: int) -> int:
        """Slot i is not ours yet: how many slots to skip (0: wait for it).

        Under overload the kernel can advance past slots it never hands over (seen on 6.x: status stays 0
        while later slots are filled); waiting for them would stall us until the ring wraps -- and with a
        full ring it never wraps (every new frame is dropped). A slot still being copied completes within
        microseconds, so a slot that stays like this for 1 ms is skipped (if it completes later, we pick it
        up next lap). One empty slot with a frame right behind it is checked on every call; a longer run of
        empty slots shows as the same slot staying empty while the loop is called again (epoll says frames
        are waiting), and then the ring is scanned once per ms for the next frame.
        """
        m = self.map
        nr = self.nr
        if not m[((i + 1) % nr) * FRAME_SIZE] & TP_STATUS_USER:
            self._hole = None
            now = time.monotonic()
            stuck = self._stuck
            if stuck is None or stuck[0] != i:
                self._stuck = (i, now)
                return 0
            if now - stuck[1] < 0.001:
                return 0
            self._stuck = (i, now)  # scan at most once per ms
            ahead = next((k for k in range(2, nr) if m[((i + k) % nr) * FRAME_SIZE] & TP_STATUS_USER), 0)
            self.holes += ahead
            return ahead
        now = time.monotonic()
        if self._hole is None or self._hole[0] != i:
            self._hole = (i, now)
            return 0
        if now - self._hole[1] < 0.001:
            return 0
        self._hole = None
        self.holes += 1
        return 1

    def drain(self, handle: Callable[[mmap.mmap, int, int], None], budget: int) -> bool:
        """Call handle(ring, start, end) for up to budget ready frames, with `self.meta` set to the frame's
        link_meta(). True if more may be waiting."""
        m = self.map
        nr = self.nr
        i = self.i
        unpack = _RXHDR.unpack_from
        pkttype_at = SLL_PKTTYPE_OFFSET
        vlan_valid = TP_STATUS_VLAN_VALID
        done = 0
        try:
            while done < budget:
                off = i * FRAME_SIZE
                if not m[off] & TP_STATUS_USER:
                    skip = self._skip_hole(i)
                    if skip:
                        i = (i + skip) % nr
                        continue
                    # a suspected hole keeps the loop polling (the socket stays readable) until decided
                    return self._hole is not None
                status, length, snap, mac, tci, tpid = unpack(m, off)
                pkttype = m[off + pkttype_at]
                self.meta = link_meta(status, tci, tpid, pkttype) if pkttype or status & vlan_valid else 0
                if snap == length:
                    try:
                        handle(m, off + mac, off + mac + snap)
                    except Exception:  # a bug must cost one frame, not the loop (the frame is released below)
                        self.errors += 1
                        log_frame_error(self.errors)
                else:
                    self.oversize += 1
                m[off:off + 4] = _ZERO  # back to the kernel
                i = i + 1 if i + 1 < nr else 0
                done += 1
            return True
        finally:
            self.i = i

    def state(self) -> dict[str, int]:
        """Ring occupancy for diagnostics: our read index, frames waiting for us, status at the index."""
        m = self.map
        waiting = sum(1 for k in range(self.nr) if m[k * FRAME_SIZE] & TP_STATUS_USER)
        return {"index": self.i, "waiting": waiting, "holes_skipped": self.holes, "max_frame": self.max_frame}

    def close(self) -> None:
        self.view.release()
        self.map.close()
        self.sock.close()


def log_frame_error(count: int) -> None:
    if count == 1 or count % 10_000 == 0:
        log.exception("internal error handling a frame (%d so far); frame dropped", count)


class SocketRx:
    """Receive side without a ring: one recvmsg_into per frame (fallback, io: socket); `meta` as RxRing's,
    from the sender's address (pkttype) and the PACKET_AUXDATA message (VLAN tag)."""

    def __init__(self, ifname: str, reserve: int) -> None:
        self.sock = open_packet_socket(
            ifname, receive=True, setup=lambda sock: sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1))
        self.reserve = reserve
        self.buf = bytearray(reserve + 65536)
        self.view = memoryview(self.buf)
        self.meta = 0
        self.oversize = 0
        self.errors = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self, handle: Callable[[bytearray, int, int], None], budget: int) -> bool:
        recv = self.sock.recvmsg_into
        into = [self.view[self.reserve:]]
        space = socket.CMSG_SPACE(_AUXDATA.size)
        buf = self.buf
        start = self.reserve
        for _ in range(budget):
            try:
                n, ancillary, _flags, addr = recv(into, space)
            except BlockingIOError:
                return False
            meta = addr[2] << 32  # (ifname, protocol, pkttype, hatype, address)
            for level, kind, data in ancillary:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= _AUXDATA.size:
                    status, _len, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(data)
                    meta = link_meta(status, tci, tpid, addr[2])
            self.meta = meta
            try:
                handle(buf, start, start + n)
            except Exception:
                self.errors += 1
                log_frame_error(self.errors)
        return True

    def close(self) -> None:
        self.sock.close()


class RingTx:
    """Send side of one interface: copy into a TPACKET_V2 TX ring, flush with one send()."""

    def __init__(self, ifname: str, frames: int = 1024, tagged: bool = False) -> None:
        """tagged: the frames carry an 802.1Q tag inline, which the kernel allows on top of the MTU."""
        def setup(sock: socket.socket) -> None:
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            # A frame the kernel refuses (e.g. longer than the MTU) is skipped, not left as WRONG_FORMAT:
            # without this the kernel stops at that slot and every later frame waits a whole ring lap.
            sock.setsockopt(SOL_PACKET, PACKET_LOSS, 1)
            _ring(sock, PACKET_TX_RING, frames)

        self.sock = open_packet_socket(ifname, receive=False, setup=setup)
        self.nr = frames
        self.map = mmap.mmap(self.sock.fileno(), frames * FRAME_SIZE, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        # [next slot, frames waiting for send(), errors, longest frame the interface sends]: an array shared
        # with the compiled fast path, which leaves longer frames to put() (counted as tx errors)
        link_frame = _max_frame(self.sock, ifname) + (VLAN_HLEN if tagged else 0)
        self.st = array("q", (0, 0, 0, min(FRAME_SIZE - TX_DATA_OFFSET, link_frame)))

    @property
    def i(self) -> int:
        return self.st[0]

    @property
    def pending(self) -> int:
        return self.st[1]

    @property
    def errors(self) -> int:
        return self.st[2]

    def put(self, data: bytes | memoryview) -> None:
        m = self.map
        st = self.st
        off = st[0] * FRAME_SIZE
        n = len(data)
        if m[off] & 0xFF and not self._reclaim(off):
            st[2] += 1  # ring full: the kernel has not sent the frames of a whole lap yet
            return
        if n > st[3]:
            st[2] += 1  # longer than the interface's MTU allows: the kernel would refuse it
            return
        m[off + TX_DATA_OFFSET:off + TX_DATA_OFFSET + n] = data
        # tp_status and tp_len in one store: the kernel reads the slot only in send(), at flush time
        _STATUS_LEN.pack_into(m, off, TP_STATUS_SEND_REQUEST, n)
        i = st[0] + 1
        st[0] = i if i < self.nr else 0
        st[1] += 1
        if st[1] >= 32:  # bound the delay a frame waits for its batch
            self.flush()

    def _reclaim(self, off: int) -> bool:
        """The slot is still owned by the kernel: flush and look again; drop a rejected frame's slot."""
        self.flush()
        status: int = _U32.unpack_from(self.map, off)[0]
        if status == TP_STATUS_WRONG_FORMAT:
            self.st[2] += 1
            _U32.pack_into(self.map, off, 0)
            return True
        return status == 0

    def flush(self) -> None:
        st = self.st
        if st[1]:
            st[1] = 0
            try:
                self.sock.send(b"", socket.MSG_DONTWAIT)
            except (BlockingIOError, OSError):
                st[2] += 1

    def close(self) -> None:
        self.map.close()
        self.sock.close()


class SocketTx:
    """Send side without a ring: one send() per frame (fallback, io: socket)."""

    def __init__(self, ifname: str) -> None:
        self.sock = open_packet_socket(ifname, receive=False)
        self.send = self.sock.send
        self.errors = 0
        self.pending = 0

    def put(self, data: bytes | memoryview) -> None:
        try:
            self.send(data)
        except OSError:
            self.errors += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.sock.close()
