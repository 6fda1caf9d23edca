"""A scalable (L4S) sender over UDP, in user space, because the kernel here offers no DCTCP or Prague
(`net.ipv4.tcp_available_congestion_control`: reno bbr cubic).

Sender: ECT(1) on every packet (IP_TOS), payload = (seq, send time), paced at 1.2·cwnd/srtt and never
more than cwnd packets in flight. Receiver: reads each packet's ECN field (IP_RECVTOS) and its kernel
receive time, and returns one feedback datagram per packet (seq, ECN, echoed send time): per-packet
feedback, what AccECN gives TCP Prague. Congestion control, DCTCP/Prague-style (RFC 9331 §4.3):

    per round (one cwnd of packets): F = CE-marked / acknowledged; alpha ← (1 − g)·alpha + g·F, g = 1/16
    at the end of a round with any CE mark: cwnd ← cwnd·(1 − alpha/2)        (once per round trip)
    each unmarked acknowledgement: cwnd += 1/cwnd                           (additive increase)
    loss (a gap of 3 behind the newest feedback, or no feedback for max(4·srtt, 200 ms)): cwnd ← cwnd/2,
    once per round — a scalable sender must still answer loss like Reno (RFC 9331 §4.3, item 2)

It has no slow start (it starts at 10 packets, about one BDP of the 12 Mbit/s, 10 ms test path), no
retransmission (the payload is a probe, not data) and no RTT-independence (Prague's optional part).

    python -m srchain_demo.l4s.scalable recv --port 5300 --report rcv.json
    python -m srchain_demo.l4s.scalable send --dst 10.18.0.2 --port 5300 --seconds 30 --report snd.json
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = struct.Struct("!IQ")  # seq, send time (ns, CLOCK_REALTIME)
FEEDBACK = struct.Struct("!IBQ")  # seq, ECN field as received, echoed send time
IP_RECVTOS = 13
SO_TIMESTAMPNS = 35
ECT1, CE = 1, 3
G = 1 / 16
MIN_CWND = 2.0
PACING_GAIN = 1.2


@dataclass
class Controller:
    """The congestion controller's state, fed by feedback; no sockets, so it can be unit-tested."""

    cwnd: float = 10.0
    alpha: float = 1.0  # start pessimistic, as DCTCP does
    srtt: float | None = None
    next_seq: int = 0
    round_end: int = 0  # the round ends when feedback for this seq (or later) arrives
    acked_round: int = 0
    marked_round: int = 0
    loss_round: bool = False
    outstanding: dict[int, float] = field(default_factory=dict)  # seq → send time (monotonic)
    acked: int = 0
    marked: int = 0
    lost: int = 0
    reductions: int = 0

    def on_send(self, seq: int, now: float) -> None:
        self.outstanding[seq] = now
        self.next_seq = seq + 1

    def on_feedback(self, seq: int, ecn: int, rtt: float) -> None:
        if self.outstanding.pop(seq, None) is None:
            return  # late feedback for a packet already counted lost
        self.srtt = rtt if self.srtt is None else 0.875 * self.srtt + 0.125 * rtt
        self.acked += 1
        self.acked_round += 1
        if ecn == CE:
            self.marked += 1
            self.marked_round += 1
        else:
            self.cwnd += 1 / self.cwnd
        gone = [s for s in self.outstanding if s < seq - 3]
        self._lose(gone)
        if seq >= self.round_end:
            self._end_round()

    def on_timer(self, now: float) -> None:
        limit = max(4 * (self.srtt or 0.05), 0.2)
        self._lose([s for s, t in self.outstanding.items() if now - t > limit])

    def _lose(self, seqs: list[int]) -> None:
        if not seqs:
            return
        for s in seqs:
            del self.outstanding[s]
        self.lost += len(seqs)
        if not self.loss_round:
            self.loss_round = True
            self.cwnd = max(MIN_CWND, self.cwnd / 2)
            self.reductions += 1

    def _end_round(self) -> None:
        if self.acked_round:
            self.alpha = (1 - G) * self.alpha + G * self.marked_round / self.acked_round
        if self.marked_round and not self.loss_round:
            self.cwnd = max(MIN_CWND, self.cwnd * (1 - self.alpha / 2))
            self.reductions += 1
        self.acked_round = self.marked_round = 0
        self.loss_round = False
        self.round_end = self.next_seq

    def may_send(self) -> bool:
        return len(self.outstanding) < int(self.cwnd)

    def gap(self) -> float:
        """Pacing interval between packets (s)."""
        return (self.srtt or 0.01) / (PACING_GAIN * self.cwnd)


def send(dst: str, port: int, seconds: float, payload: int, stop: threading.Event) -> dict[str, Any]:
    cc = Controller()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, ECT1)
    sock.connect((dst, port))
    sock.setblocking(False)
    pad = bytes(payload - DATA.size)
    series: list[dict[str, float]] = []
    start = time.monotonic()
    next_send = next_sample = start
    print("ready", flush=True)
    while not stop.is_set():
        now = time.monotonic()
        if now - start >= seconds:
            break
        if now >= next_sample:
            series.append({"t": now - start, "cwnd": cc.cwnd, "alpha": cc.alpha, "srtt": cc.srtt or 0.0,
                           "acked": cc.acked, "marked": cc.marked, "lost": cc.lost, "sent": cc.next_seq})
            next_sample += 0.1
            cc.on_timer(now)
        if now >= next_send and cc.may_send():
            try:
                sock.send(DATA.pack(cc.next_seq, time.time_ns()) + pad)
                cc.on_send(cc.next_seq, now)
            except BlockingIOError:
                pass
            next_send = max(next_send + cc.gap(), now - cc.gap())  # no catch-up bursts after a stall
        wake = min(next_send if cc.may_send() else next_sample, next_sample)
        ready, _, _ = select.select([sock], [], [], max(0.0, min(wake - time.monotonic(), 0.01)))
        if ready:
            while True:
                try:
                    data = sock.recv(64)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                seq, ecn, echo = FEEDBACK.unpack_from(data)
                cc.on_feedback(seq, ecn, (time.time_ns() - echo) / 1e9)
    sock.close()
    return {"sent": cc.next_seq, "acked": cc.acked, "marked": cc.marked, "lost": cc.lost,
            "reductions": cc.reductions, "series": series}


def receive(port: int, stop: threading.Event) -> dict[str, Any]:
    """Feedback for every packet; records (seq, send ns, kernel receive ns, ECN) per packet."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(0.2)
    records: list[tuple[int, int, int, int]] = []
    space = socket.CMSG_SPACE(16) + socket.CMSG_SPACE(4)
    print("ready", flush=True)
    while not stop.is_set():
        try:
            data, ancillary, _flags, addr = sock.recvmsg(2048, space)
        except TimeoutError:
            continue
        received = time.time_ns()
        ecn = 0
        for level, kind, cdata in ancillary:
            if level == socket.IPPROTO_IP and kind == socket.IP_TOS:
                ecn = cdata[0] & 3
            elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", cdata[:16])
                received = sec * 1_000_000_000 + nsec
        seq, sent = DATA.unpack_from(data)
        records.append((seq, sent, received, ecn))
        sock.sendto(FEEDBACK.pack(seq, ecn, sent), addr)
    sock.close()
    return {"records": records}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srchain_demo.l4s.scalable", description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=("send", "recv"))
    parser.add_argument("--dst", default="10.18.0.2")
    parser.add_argument("--port", type=int, default=5300)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--payload", type=int, default=1400, help="UDP payload bytes (1442-byte frames)")
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.payload < DATA.size or args.payload > 1472:
        print(f"scalable: error: --payload {args.payload} is outside {DATA.size}..1472", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.role == "send":
        report = send(args.dst, args.port, args.seconds, args.payload, stop)
    else:
        report = receive(args.port, stop)
    args.report.write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
