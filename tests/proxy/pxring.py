"""The proxy's real RX/TX ring classes over anonymous shared memory (no socket): a place to put frames
exactly as the kernel lays them out (tpacket2) and to read back what the data path queued for sending."""

from __future__ import annotations

import mmap
import socket
import struct
from array import array

from srchain_net.rings import FRAME_SIZE, TP_STATUS_USER, TX_DATA_OFFSET, RingTx, RxRing
from srchain_proxy.engine import HEADROOM

MAC_OFFSET = 32 + HEADROOM  # where the kernel puts a frame in a slot with PACKET_RESERVE = HEADROOM


def memory_rx(frames: list[bytes], slots: int | None = None) -> RxRing:
    """An RxRing whose slots hold frames, handed over to user space as the kernel does."""
    slots = slots or max(64, len(frames))
    ring = RxRing.__new__(RxRing)
    ring.sock = None
    ring.nr = slots
    ring.map = mmap.mmap(-1, slots * FRAME_SIZE)
    ring.view = memoryview(ring.map)
    ring.i = 0
    ring.oversize = ring.errors = ring.holes = 0
    ring._hole = None
    for k, f in enumerate(frames):
        off = k * FRAME_SIZE
        snap = min(len(f), FRAME_SIZE - MAC_OFFSET)
        ring.map[off + MAC_OFFSET:off + MAC_OFFSET + snap] = f[:snap]
        struct.pack_into("IIIH", ring.map, off, TP_STATUS_USER, len(f), snap, MAC_OFFSET)
    return ring


class MemoryTx(RingTx):
    """A TX ring nobody drains but us: `sent()` returns the queued frames in order and frees their slots.
    The compiled loop's send() goes to an unconnected datagram socket (it fails and counts an error)."""

    def __init__(self, slots: int = 4096) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.nr = slots
        self.map = mmap.mmap(-1, slots * FRAME_SIZE)
        self.st = array("q", (0, 0, 0, FRAME_SIZE - TX_DATA_OFFSET))  # [slot, pending, errors, max frame]
        self.next = 0

    def flush(self) -> None:
        self.st[1] = 0

    def sent(self) -> list[bytes]:
        out = []
        m = self.map
        while m[self.next * FRAME_SIZE]:
            off = self.next * FRAME_SIZE
            n = struct.unpack_from("I", m, off + 4)[0]
            out.append(bytes(m[off + TX_DATA_OFFSET:off + TX_DATA_OFFSET + n]))
            m[off:off + 4] = bytes(4)
            self.next = (self.next + 1) % self.nr
        return out

    def close(self) -> None:
        self.map.close()
        self.sock.close()
