"""The TX ring on a real veth: a frame longer than the interface's MTU never stalls the ring.

Without PACKET_LOSS the kernel marks such a slot TP_STATUS_WRONG_FORMAT and stops there, so every later frame
waits until the ring laps; `put()` refuses frames over the MTU (counted as tx errors) and PACKET_LOSS makes the
kernel skip any it still refuses (e.g. one the compiled loop queued)."""

from __future__ import annotations

import os

import pytest
from netlab import add_netns, add_veth, call_in_netns, del_netns, packet_socket_in, recv_frames

from srchain_net.rings import FRAME_SIZE, TX_DATA_OFFSET, RingTx

pytestmark = pytest.mark.netns

NS = f"sp{os.getpid()}t"
SRC, DST = "02:00:00:00:77:01", "02:00:00:00:77:02"


def frame(seq: int, size: int) -> bytes:
    head = bytes.fromhex(DST.replace(":", "") + SRC.replace(":", "")) + b"\x88\xb5"  # local experimental type
    return head + seq.to_bytes(4, "big") + bytes(size - len(head) - 4)


@pytest.fixture
def link():
    add_netns(NS)
    try:
        add_veth(NS, "tx0", SRC, NS, "rx0", DST)
        tx = call_in_netns(NS, lambda: RingTx("tx0", frames=256))  # the socket keeps the namespace
        rx = packet_socket_in(NS, "rx0")
        try:
            yield tx, rx
        finally:
            tx.sock.close()
            rx.close()
    finally:
        del_netns(NS)


def seqs(frames: list[bytes]) -> list[int]:
    return [int.from_bytes(f[14:18], "big") for f in frames if f[12:14] == b"\x88\xb5"]


def test_put_refuses_a_frame_over_the_mtu_and_counts_it(link) -> None:
    tx, rx = link
    assert tx.st[3] == 1514  # veth MTU 1500 + the Ethernet header, read in the ring's own namespace
    tx.put(memoryview(frame(0, 1515)))
    assert tx.errors == 1 and tx.pending == 0  # refused before it took a slot
    for i in range(1, 101):
        tx.put(memoryview(frame(i, 1514 if i % 10 == 0 else 100)))
    tx.flush()
    assert seqs(recv_frames(rx, 100, timeout=2.0)) == list(range(1, 101))
    assert tx.errors == 1


def test_a_refused_frame_already_in_the_ring_is_skipped_not_a_stall(link) -> None:
    tx, rx = link
    tx.st[3] = FRAME_SIZE - TX_DATA_OFFSET  # as if the limit were unknown: the frame reaches the kernel
    tx.put(memoryview(frame(0, 1600)))
    for i in range(1, 101):
        tx.put(memoryview(frame(i, 100)))
    tx.flush()
    # The kernel skipped the oversize frame (PACKET_LOSS) and sent the rest at once, in order; without
    # PACKET_LOSS none of them would leave before 256 more frames lapped the ring.
    assert seqs(recv_frames(rx, 101, timeout=2.0)) == list(range(1, 101))
