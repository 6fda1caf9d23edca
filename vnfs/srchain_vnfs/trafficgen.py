"""Traffic generator on real UDP sockets: sends a profile's packets as probes, receives and measures them.

Each packet's payload starts with a probe (stream id, sequence number, send timestamp), so the receiver
measures loss, reordering and one-way delay. Senders are paced in real time from the profile's timestamps
and stop at a deadline; use only loopback or addresses inside namespaces the caller created.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from srchain_contracts.records import U48_MAX, Probe, RecordError, delta48

from .profiles import Session

IP_UDP_HEADERS = 28  # IPv4 (20) + UDP (8): profile sizes are IPv4 total length


def send_session(session: Session, dest: tuple[str, int], stream_id: int, upstream: bool = False,
                 deadline_s: float = 60.0, sock: socket.socket | None = None,
                 stop: threading.Event | None = None) -> dict[str, int]:
    """Send one direction of `session` to `dest` until its end, `deadline_s` or `stop` is set; returns
    {'sent', 'bytes', 'late'} counts."""
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = nbytes = late = 0
    start = time.monotonic()
    try:
        for event in session.events:
            if event.upstream != upstream:
                continue
            due = start + event.ts_ns / 1e9
            now = time.monotonic()
            if now - start > deadline_s or (stop is not None and stop.is_set()):
                break
            if due > now:
                time.sleep(due - now)
            elif now - due > 0.001:
                late += 1
            payload = Probe(stream_id, sent, time.time_ns() & U48_MAX, int(session.class_id),
                            1 if upstream else 0).pack(event.size - IP_UDP_HEADERS)
            s.sendto(payload, dest)
            sent += 1
            nbytes += len(payload)
    finally:
        if own:
            s.close()
    return {"sent": sent, "bytes": nbytes, "late": late}


@dataclass(slots=True)
class StreamStats:
    received: int = 0
    highest_seq: int = -1
    reordered: int = 0
    delay_min_ns: int = 1 << 62
    delay_max_ns: int = 0
    delay_sum_ns: int = 0
    seen: set[int] = field(default_factory=set)

    def add(self, probe: Probe, recv_ns: int) -> bool:
        """False for a duplicate."""
        if probe.seq in self.seen:
            return False
        self.seen.add(probe.seq)
        self.received += 1
        if probe.seq < self.highest_seq:
            self.reordered += 1
        self.highest_seq = max(self.highest_seq, probe.seq)
        d = delta48(recv_ns, probe.send_ns)
        self.delay_min_ns = min(self.delay_min_ns, d)
        self.delay_max_ns = max(self.delay_max_ns, d)
        self.delay_sum_ns += d
        return True


class ProbeReceiver:
    def __init__(self, listen: tuple[str, int]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(listen)
        self.streams: dict[int, StreamStats] = {}
        self.bad = 0
        self.duplicates = 0

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()
        return str(host), int(port)

    def feed(self, data: bytes, recv_ns: int) -> None:
        try:
            probe = Probe.unpack(data)
        except RecordError:
            self.bad += 1
            return
        if not self.streams.setdefault(probe.stream_id, StreamStats()).add(probe, recv_ns):
            self.duplicates += 1

    def run(self, duration_s: float, max_packets: int, idle_s: float | None = None) -> None:
        end = time.monotonic() + duration_s
        n = 0
        last = None
        while n < max_packets and (now := time.monotonic()) < end:
            if idle_s is not None and last is not None and now - last > idle_s:
                break
            self.sock.settimeout(min(0.1, end - now))
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            last = time.monotonic()
            self.feed(data, time.time_ns() & U48_MAX)
            n += 1

    def summary(self) -> dict[str, object]:
        streams = {}
        for sid, st in sorted(self.streams.items()):
            expected = st.highest_seq + 1
            streams[str(sid)] = {
                "received": st.received, "expected": expected, "lost": expected - st.received,
                "reordered": st.reordered,
                "delay_us": {"min": st.delay_min_ns / 1e3, "mean": st.delay_sum_ns / st.received / 1e3,
                             "max": st.delay_max_ns / 1e3},
            }
        return {"streams": streams, "bad": self.bad, "duplicates": self.duplicates}

    def close(self) -> None:
        self.sock.close()
