"""Attack mitigation (MOSAICO use case): a bump in the wire between two interfaces that drops flooding sources.

Detection works on fixed windows of `window_s` seconds (what a switch register reset would give):
- rate rule: a source sending more than `max_pps` packets/s is blocked for `block_s`;
- fan-in rule: when more than `max_fan_in` distinct sources hit one destination in a window, every source
  sending it more than `fan_in_source_pps` is blocked too (a distributed flood of individually slow sources).
Allow-listed networks are never blocked. Non-IPv4 frames (ARP, ...) pass unchanged; malformed IPv4 frames
are counted and dropped. Frames are forwarded byte for byte. `GET /blocked` lists the blocked sources with
the rule that blocked them and what they sent.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator

from srchain_net.packetsock import ETH_P_ALL, ETH_P_IP, PACKET_OUTGOING

from .service import Daemon, ServiceConfig


class Verdict:
    PASS = "pass"
    ALLOWED = "allowed"
    BLOCKED = "blocked"  # source already blocked
    RATE = "rate"  # blocked now by the rate rule
    FAN_IN = "fan_in"  # blocked now by the fan-in rule


@dataclass(slots=True)
class _Window:
    start: float
    per_source: dict[int, int]
    per_pair: dict[tuple[int, int], int]
    sources_of: dict[int, set[int]]


@dataclass(slots=True)
class Block:
    """Why and since when a source is blocked, and what it sent: in the window that blocked it, then while
    blocked (dropped)."""

    reason: str  # Verdict.RATE | Verdict.FAN_IN
    since: float
    until: float
    window_packets: int  # the source's packets in the window that blocked it (all destinations)
    destination: int  # the destination of the packet that tripped the rule
    dropped: int = 0  # packets dropped since


class FloodDetector:
    """Pure detection logic, clock passed in."""

    def __init__(self, max_pps: float, max_fan_in: int, fan_in_source_pps: float, window_s: float = 1.0,
                 block_s: float = 10.0, allow: list[ipaddress.IPv4Network] | None = None,
                 max_sources: int = 100_000) -> None:
        if max_pps <= 0 or max_fan_in < 1 or fan_in_source_pps <= 0 or window_s <= 0 or block_s <= 0:
            raise ValueError("thresholds, window_s and block_s must be positive")
        self.max_pkts = max_pps * window_s
        self.max_fan_in = max_fan_in
        self.fan_in_pkts = fan_in_source_pps * window_s
        self.window_s = window_s
        self.block_s = block_s
        self.allow = [(int(n.network_address), int(n.netmask)) for n in (allow or [])]
        self.max_sources = max_sources
        self.blocked: dict[int, Block] = {}  # source -> why, until when
        self.overflow = 0  # packets not tracked because the tables were full
        self._w = _Window(0.0, {}, {}, {})

    def allowed(self, src: int) -> bool:
        return any(src & mask == net for net, mask in self.allow)

    def _roll(self, now: float) -> None:
        if now - self._w.start >= self.window_s:
            self._w = _Window(now, {}, {}, {})
            self.blocked = {s: b for s, b in self.blocked.items() if b.until > now}

    def verdict(self, src: int, dst: int, now: float) -> str:
        if self.allowed(src):
            return Verdict.ALLOWED
        self._roll(now)
        block = self.blocked.get(src)
        if block is not None:
            if block.until > now:
                block.dropped += 1
                return Verdict.BLOCKED
            del self.blocked[src]
        w = self._w
        if src not in w.per_source and len(w.per_source) >= self.max_sources:
            self.overflow += 1
            return Verdict.PASS  # fail open for legitimate traffic; counted
        n = w.per_source[src] = w.per_source.get(src, 0) + 1
        pair = w.per_pair[(src, dst)] = w.per_pair.get((src, dst), 0) + 1
        sources = w.sources_of.setdefault(dst, set())
        sources.add(src)
        if n > self.max_pkts:
            self.blocked[src] = Block(Verdict.RATE, now, now + self.block_s, n, dst, 1)
            return Verdict.RATE
        if len(sources) > self.max_fan_in and pair > self.fan_in_pkts:
            self.blocked[src] = Block(Verdict.FAN_IN, now, now + self.block_s, n, dst, 1)
            return Verdict.FAN_IN
        return Verdict.PASS


def frame_addresses(frame: bytes) -> tuple[int, int] | None:
    """(src, dst) IPv4 of an Ethernet frame, None for non-IPv4; ValueError for malformed IPv4."""
    if len(frame) < 14:
        raise ValueError("truncated ethernet header")
    if struct.unpack_from(">H", frame, 12)[0] != ETH_P_IP:
        return None
    if len(frame) < 34:
        raise ValueError("truncated ipv4 header")
    ver_ihl = frame[14]
    if ver_ihl >> 4 != 4 or (ver_ihl & 0xF) < 5:
        raise ValueError("bad ipv4 version/ihl")
    src, dst = struct.unpack_from(">II", frame, 26)
    return src, dst


class MitigationConfig(ServiceConfig):
    name: str = "mitigation"
    in_iface: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,15}$")
    out_iface: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,15}$")
    max_pps: float = Field(default=10_000, gt=0)
    max_fan_in: int = Field(default=100, ge=1)
    fan_in_source_pps: float = Field(default=100, gt=0)
    window_s: float = Field(default=1.0, gt=0, le=60)
    block_s: float = Field(default=10.0, gt=0, le=86_400)
    allow: list[ipaddress.IPv4Network] = Field(default_factory=list)
    max_sources: int = Field(default=100_000, ge=1)
    batch: int = Field(default=64, ge=1, le=4096)

    @field_validator("allow", mode="before")
    @classmethod
    def _nets(cls, v: list[str]) -> list[ipaddress.IPv4Network]:
        return [ipaddress.IPv4Network(n, strict=True) for n in v]


class Mitigation(Daemon):
    """Filters frames arriving on in_iface before sending them out of out_iface; the reverse is passed."""

    kind = "mitigation"
    cfg: MitigationConfig

    def __init__(self, cfg: MitigationConfig) -> None:
        super().__init__(cfg)
        self.detector = FloodDetector(cfg.max_pps, cfg.max_fan_in, cfg.fan_in_source_pps, cfg.window_s,
                                      cfg.block_s, cfg.allow, cfg.max_sources)
        self._peer: dict[socket.socket, socket.socket] = {}
        self._filtered: socket.socket | None = None

    def open(self) -> None:
        a = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        b = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        a.bind((self.cfg.in_iface, 0))
        b.bind((self.cfg.out_iface, 0))
        for s in (a, b):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # absorb bursts between selects
            s.setblocking(False)
            self.watch(s)
        self._peer = {a: b, b: a}
        self._filtered = a

    def filter(self, frame: bytes, now: float) -> bool:
        """True when the frame may pass; counts why not."""
        try:
            addrs = frame_addresses(frame)
        except ValueError as exc:
            self.count(f"dropped:malformed_{str(exc).split()[0]}")
            return False
        if addrs is None:
            self.count("passed_non_ip")
            return True
        verdict = self.detector.verdict(addrs[0], addrs[1], now)
        if verdict in (Verdict.PASS, Verdict.ALLOWED):
            self.count("passed" if verdict == Verdict.PASS else "passed_allowed")
            return True
        self.count(f"dropped:{verdict}")
        if verdict != Verdict.BLOCKED:
            self.count("sources_blocked")
        return False

    def on_readable(self, sock: socket.socket) -> None:
        out = self._peer[sock]
        for _ in range(self.cfg.batch):
            try:
                frame, addr = sock.recvfrom(65535)
            except BlockingIOError:
                return
            if addr[2] == PACKET_OUTGOING:  # our own transmissions on this interface
                continue
            # received/sent: the filtered direction (in_iface -> out_iface), what the chain sends through us;
            # the reverse direction is passed unfiltered and counted apart
            forward = sock is self._filtered
            self.count("received" if forward else "reverse_received")
            if forward and not self.filter(frame, time.monotonic()):
                continue
            try:
                out.send(frame)
                self.count("sent" if forward else "reverse_sent")
            except OSError as exc:
                self.count(f"dropped:send_{exc.errno}")

    def on_tick(self, now: float) -> None:
        self.sessions_gauge.set(len(self.detector.blocked))

    def views(self) -> dict[str, Callable[[], Any]]:
        return {"/blocked": self.blocked_sources}

    def blocked_sources(self) -> dict[str, Any]:
        """Sources blocked now (most recently blocked first), with the rule and their packet counts."""
        now = time.monotonic()
        with self.state_lock:
            rows = [(s, b.reason, b.since, b.until, b.window_packets, b.destination, b.dropped)
                    for s, b in self.detector.blocked.items()]
        live = sorted((r for r in rows if r[3] > now), key=lambda r: -r[2])
        d = self.detector
        return {
            "blocked": [{"source": str(ipaddress.IPv4Address(src)), "reason": reason,
                         "since_s": round(now - since, 3), "remaining_s": round(until - now, 3),
                         "window_packets": pkts, "destination": str(ipaddress.IPv4Address(dst)),
                         "dropped": dropped}
                        for src, reason, since, until, pkts, dst, dropped in live],
            "count": len(live),
            "thresholds": {"max_pps": self.cfg.max_pps, "max_fan_in": d.max_fan_in,
                           "fan_in_source_pps": self.cfg.fan_in_source_pps, "window_s": d.window_s,
                           "block_s": d.block_s},
            "allow": [str(n) for n in self.cfg.allow],
            "untracked_packets": d.overflow,
        }
