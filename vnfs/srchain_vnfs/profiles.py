"""Traffic profiles: seeded, bounded models of one session as (time, size, direction) packet events.

Sizes are IPv4 total length in bytes (what the switch counts). Every profile is bounded by both a duration
and a packet count, so callers can never produce an unbounded stream. The shapes follow the issue:
cloud gaming (downstream frame bursts at 30/60 fps + small periodic upstream inputs), video streaming
(large chunks with pauses), web (page loads with think time), VoIP (small constant packets every ptime),
bulk (TCP-like: slow start, then a full-size stream with ACKs).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from srchain_contracts.records import PROTO_TCP, PROTO_UDP, TrafficClass

NS = 1_000_000_000
MSS_PKT = 1500  # full-size TCP packet (IPv4 total length)
ACK_PKT = 52  # TCP ACK with timestamps option


@dataclass(frozen=True, slots=True)
class PacketEvent:
    ts_ns: int  # time from the session start
    size: int  # IPv4 total length, bytes
    upstream: bool  # True = client -> server


@dataclass(frozen=True, slots=True)
class Session:
    profile: str
    class_id: TrafficClass
    proto: int
    events: tuple[PacketEvent, ...]


class _Builder:
    """Collects events of one session and stops at the duration / packet bounds."""

    def __init__(self, duration_ns: int, max_packets: int) -> None:
        self.duration_ns = duration_ns
        self.max_packets = max_packets
        self.events: list[PacketEvent] = []
        self.capped = False

    def add(self, ts_ns: float, size: int, upstream: bool) -> None:
        if 0 <= ts_ns < self.duration_ns:
            self.events.append(PacketEvent(int(ts_ns), max(28, min(1500, int(size))), upstream))

    def full(self, now_ns: float) -> bool:
        # Reaching the packet bound shrinks the horizon, so the other direction's loop still fills it.
        if not self.capped and len(self.events) >= self.max_packets:
            self.capped = True
            self.duration_ns = min(self.duration_ns, int(now_ns))
        return now_ns >= self.duration_ns

    def tcp_burst(self, rng: random.Random, start: float, nbytes: int, rate_bps: float, rtt_ns: float,
                  down: bool = True, cwnd: int = 10) -> float:
        """Send `nbytes` like TCP: cwnd packets per RTT doubling until the link rate; ACK every 2 packets.

        Returns the time the last packet left."""
        t = start
        left = max(1, math.ceil(nbytes / (MSS_PKT - 52)))
        gap = MSS_PKT * 8 * NS / rate_bps
        sent = 0
        while left > 0 and not self.full(t):
            burst = min(cwnd, left)
            for _ in range(burst):
                t += gap * rng.uniform(0.8, 1.2)
                self.add(t, MSS_PKT, not down)
                sent += 1
                if sent % 2 == 0:
                    self.add(t + rtt_ns / 2, ACK_PKT, down)
            left -= burst
            if burst * gap < rtt_ns:  # window-limited: wait for the ACK clock
                t += rtt_ns - burst * gap
            cwnd = min(cwnd * 2, 4096)
        return t

    def session(self, profile: str, cls: TrafficClass, proto: int) -> Session:
        self.events.sort(key=lambda e: e.ts_ns)
        return Session(profile, cls, proto, tuple(self.events[: self.max_packets]))


def cloud_gaming(rng: random.Random, duration_ns: int, max_packets: int) -> Session:
    b = _Builder(duration_ns, max_packets)
    fps = rng.choice((30, 60, 60, 120))
    bitrate = rng.uniform(5e6, 45e6)
    frame_bytes = bitrate / 8 / fps
    pkt = rng.randint(1100, 1432)
    pace_ns = rng.uniform(15_000, 150_000)
    period = NS / fps
    t = rng.uniform(0, period)
    while not b.full(t):
        size = frame_bytes * rng.lognormvariate(0, 0.3) * (3 if rng.random() < 0.02 else 1)
        n = max(1, math.ceil(size / pkt))
        ft = t
        for i in range(n):
            ft += pace_ns * rng.uniform(0.5, 1.5)
            b.add(ft, pkt if i < n - 1 else 60 + int(size) % pkt, False)
        t += period + rng.gauss(0, period * 0.05)
    # Upstream: controller/mouse inputs at a fixed poll rate, plus periodic receiver feedback.
    input_hz = rng.uniform(60, 250)
    t = rng.uniform(0, NS / input_hz)
    while not b.full(t):
        b.add(t, rng.randint(60, 180), True)
        t += NS / input_hz * rng.uniform(0.7, 1.3)
    t = 0.0
    while not b.full(t):
        t += rng.uniform(20e6, 100e6)
        b.add(t, rng.randint(80, 140), True)
    return b.session("cloud_gaming", TrafficClass.CLOUD_GAMING, PROTO_UDP)


def video_streaming(rng: random.Random, duration_ns: int, max_packets: int) -> Session:
    b = _Builder(duration_ns, max_packets)
    bitrate = rng.uniform(1.5e6, 16e6)
    segment_s = rng.choice((2.0, 4.0, 6.0))
    link = rng.uniform(40e6, 400e6)
    rtt = rng.uniform(5e6, 60e6)
    buffered_s, t = 0.0, rng.uniform(0, 50e6)
    target_buffer_s = rng.uniform(10, 30)
    while not b.full(t):
        b.add(t, rng.randint(400, 900), True)  # segment request
        end = b.tcp_burst(rng, t + rtt, int(bitrate * segment_s / 8 * rng.uniform(0.8, 1.2)), link, rtt)
        buffered_s += segment_s - (end - t) / NS
        # Startup fills the buffer back to back; in steady state the player waits one segment per segment.
        t = end + (segment_s * NS if buffered_s >= target_buffer_s else rng.uniform(1e6, 20e6))
    proto = rng.choice((PROTO_TCP, PROTO_UDP))  # UDP = QUIC
    return b.session("video_streaming", TrafficClass.VIDEO, proto)


def web(rng: random.Random, duration_ns: int, max_packets: int) -> Session:
    b = _Builder(duration_ns, max_packets)
    link = rng.uniform(10e6, 200e6)
    rtt = rng.uniform(10e6, 80e6)
    t = rng.uniform(0, 100e6)
    while not b.full(t):
        for _ in range(rng.randint(3, 30)):  # objects of one page, fetched one after the other
            b.add(t, rng.randint(300, 1200), True)
            t = b.tcp_burst(rng, t + rtt, int(rng.lognormvariate(9.5, 1.5)), link, rtt) + rtt / 2
            if b.full(t):
                break
        t += rng.uniform(0.5, 8) * NS  # think time
    proto = rng.choice((PROTO_TCP, PROTO_UDP))
    return b.session("web", TrafficClass.WEB, proto)


def voip(rng: random.Random, duration_ns: int, max_packets: int) -> Session:
    b = _Builder(duration_ns, max_packets)
    ptime = rng.choice((10e6, 20e6, 20e6, 30e6))
    size = rng.randint(60, 220)  # codec frame + RTP/UDP/IP headers
    for upstream in (True, False):
        t = rng.uniform(0, ptime)
        while not b.full(t):
            if rng.random() > 0.01:  # a little loss on the way in
                b.add(t + rng.gauss(0, 0.5e6), size + rng.randint(-4, 4), upstream)
            t += ptime
    return b.session("voip", TrafficClass.VOIP, PROTO_UDP)


def bulk(rng: random.Random, duration_ns: int, max_packets: int) -> Session:
    b = _Builder(duration_ns, max_packets)
    link = rng.uniform(50e6, 950e6)
    rtt = rng.uniform(2e6, 80e6)
    down = rng.random() < 0.7
    b.tcp_burst(rng, rng.uniform(0, 10e6), 1 << 40, link, rtt, down=down)
    return b.session("bulk", TrafficClass.BULK, PROTO_TCP)


PROFILES: dict[str, Callable[[random.Random, int, int], Session]] = {
    "cloud_gaming": cloud_gaming,
    "video_streaming": video_streaming,
    "web": web,
    "voip": voip,
    "bulk": bulk,
}


def generate(profile: str, seed: int, duration_s: float = 10.0, max_packets: int = 20_000) -> Session:
    """One seeded session of `profile`, at most `duration_s` long and `max_packets` packets."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    if not 0 < duration_s <= 3600 or not 0 < max_packets <= 10_000_000:
        raise ValueError(f"bounds out of range: duration_s={duration_s}, max_packets={max_packets}")
    rng = random.Random(f"{profile}:{seed}")
    return PROFILES[profile](rng, int(duration_s * NS), max_packets)
