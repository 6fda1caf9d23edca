"""Timestamped UDP probes for measuring a link: the sender writes (seq, send time) into each payload, the
receiver takes the kernel's receive timestamp (SO_TIMESTAMPNS), so neither side's scheduling enters the
one-way delay. Both clocks are the same host's CLOCK_REALTIME (namespaces share it)."""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

from srchain_net.netns import run_in_netns

PROBE = struct.Struct("!IQ")  # seq, send time (ns, CLOCK_REALTIME)
SO_TIMESTAMPNS = 35
UDP_IP_ETH_OVERHEAD = 8 + 20 + 14  # what a UDP payload grows by on the Ethernet wire


@dataclass(frozen=True)
class Arrival:
    seq: int
    sent_ns: int
    received_ns: int

    @property
    def delay_s(self) -> float:
        return (self.received_ns - self.sent_ns) / 1e9


def send(ns: str, dst: tuple[str, int], count: int, payload: int, gap_s: float) -> None:
    """count probes of `payload` bytes, gap_s apart (0: back to back), from inside namespace ns."""
    if payload < PROBE.size:
        raise ValueError(f"probe payload: {payload} bytes is below the {PROBE.size}-byte header")

    def go() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            pad = bytes(payload - PROBE.size)
            start = time.monotonic()
            for seq in range(count):
                if gap_s:
                    wait = start + seq * gap_s - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                s.sendto(PROBE.pack(seq, time.time_ns()) + pad, dst)

    run_in_netns(ns, go, timeout=count * gap_s + 30)


class Receiver:
    """A bound UDP socket in namespace ns; collect() reads until `count` probes or `quiet_s` of silence."""

    def __init__(self, ns: str, port: int) -> None:
        def open_() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.bind(("0.0.0.0", port))
            return s

        self.sock = run_in_netns(ns, open_)

    def collect(self, count: int, quiet_s: float = 1.0, limit_s: float = 60.0) -> list[Arrival]:
        out: list[Arrival] = []
        self.sock.settimeout(quiet_s)
        deadline = time.monotonic() + limit_s
        space = socket.CMSG_SPACE(16)
        while len(out) < count and time.monotonic() < deadline:
            try:
                data, ancillary, _flags, _addr = self.sock.recvmsg(65536, space)
            except TimeoutError:
                break
            received = time.time_ns()
            for level, kind, cdata in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    received = sec * 1_000_000_000 + nsec
            seq, sent = PROBE.unpack_from(data)
            out.append(Arrival(seq, sent, received))
        return out

    def close(self) -> None:
        self.sock.close()
