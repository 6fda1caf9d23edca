"""The proxy's real RX/TX ring classes over anonymous shared memory (no socket): a place to put frames
exactly as the kernel lays them out (tpacket2) and to read back what the data path queued for sending."""

from __future__ import annotations

import mmap
import socket
import struct
from array import array

from srchain_net.packetsock import PACKET_HOST
from srchain_net.rings import (
    FRAME_SIZE,
    SLL_PKTTYPE_OFFSET,
    TP_STATUS_USER,
    TP_STATUS_VLAN_TPID_VALID,
    TP_STATUS_VLAN_VALID,
    TX_DATA_OFFSET,
    RingTx,
    RxRing,
    rx_frame_offset,
    rx_max_frame,
)
from srchain_proxy.engine import HEADROOM

# what the kernel reported about a frame: (sll_pkttype, TPID, TCI) of the outer tag it took off (TPID 0: none)
Link = tuple[int, int, int]
TO_US: Link = (PACKET_HOST, 0, 0)


def memory_rx(frames: list[bytes], slots: int | None = None, reserve: int = HEADROOM,
              links: list[Link] | None = None) -> RxRing:
    """An RxRing whose slots hold frames, laid out and handed over to user space as the kernel does with
    PACKET_RESERVE = reserve (the SR ring has none, attachments HEADROOM): a frame longer than the slot
    holds is cut (tp_snaplen < tp_len); links[k], the link facts of frame k (default TO_US)."""
    slots = slots or max(64, len(frames))
    ring = RxRing.__new__(RxRing)
    ring.sock = None
    ring.nr = slots
    ring.map = mmap.mmap(-1, slots * FRAME_SIZE)
    ring.view = memoryview(ring.map)
    ring.i = 0
    ring.meta = 0
    ring.max_frame = rx_max_frame(reserve)
    ring.oversize = ring.errors = ring.holes = 0
    ring._hole = None
    mac = rx_frame_offset(reserve)
    for k, f in enumerate(frames):
        off = k * FRAME_SIZE
        snap = min(len(f), FRAME_SIZE - mac)
        ring.map[off + mac:off + mac + snap] = f[:snap]
        pkttype, tpid, tci = links[k] if links else TO_US
        status = TP_STATUS_USER | (TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID if tpid else 0)
        struct.pack_into("IIIH10xHH", ring.map, off, status, len(f), snap, mac, tci, tpid)
        ring.map[off + SLL_PKTTYPE_OFFSET] = pkttype
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
