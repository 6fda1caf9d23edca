"""Python model of the P4 flow-features module: exactly the feature reports the switch emits.

Training data, tests and benches use it so that the classifier learns from what the switch produces.
Semantics (documented in docs/records.md): one hash-indexed slot per flow *direction*; a packet whose
(key, direction) differs from the slot's owner takes the slot over and its next report carries the
collision flag; every `report_every` packets of a slot a report is emitted and the window restarts.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from srchain_contracts.records import FLOW_SLOTS, IAT_NONE, U32_MAX, U48_MAX, FeatureReport, FlowKey, flow_slot

from .profiles import Session


class _Slot:
    __slots__ = (
        "byte_count", "collision", "first_seen", "iat_max", "iat_min", "iat_sum", "last_seen", "owner",
        "pkt_count", "size_max", "size_min", "size_sum", "win_pkts",
    )

    def __init__(self, owner: tuple[FlowKey, int], ts: int, collision: bool) -> None:
        self.owner = owner
        self.collision = collision
        self.pkt_count = 0
        self.byte_count = 0
        self.first_seen = ts
        self.last_seen = ts
        self.reset_window()

    def reset_window(self) -> None:
        self.win_pkts = 0
        self.size_min = 0xFFFF
        self.size_max = 0
        self.size_sum = 0
        self.iat_min = IAT_NONE
        self.iat_max = 0
        self.iat_sum = 0


class FlowFeatureTable:
    """The register arrays of the flow-features module, as plain Python."""

    def __init__(self, switch_id: int = 1, slots: int = FLOW_SLOTS, report_every: int = 16) -> None:
        if not 1 <= report_every <= 0xFFFF:
            raise ValueError(f"report_every must be 1..65535, got {report_every}")
        self.switch_id = switch_id
        self.n_slots = slots
        self.report_every = report_every
        self.seq = 0
        self._slots: dict[int, _Slot] = {}

    def observe(
        self, ts_ns: int, src_ip: int, src_port: int, dst_ip: int, dst_port: int, proto: int, size: int
    ) -> FeatureReport | None:
        """Account one packet (ts = 48-bit switch ns); returns the report it triggers, if any."""
        key, direction = FlowKey.from_packet(src_ip, src_port, dst_ip, dst_port, proto)
        index = flow_slot(key, direction, self.n_slots)
        ts_ns &= U48_MAX
        slot = self._slots.get(index)
        if slot is None or slot.owner != (key, direction):
            slot = _Slot((key, direction), ts_ns, collision=slot is not None)
            self._slots[index] = slot
        elif slot.pkt_count:
            iat = min((ts_ns - slot.last_seen) & U48_MAX, U32_MAX)
            slot.iat_min = min(slot.iat_min, iat)
            slot.iat_max = max(slot.iat_max, iat)
            slot.iat_sum = min(slot.iat_sum + iat, U32_MAX)
        size = min(size, 0xFFFF)
        slot.last_seen = ts_ns
        slot.pkt_count = (slot.pkt_count + 1) & U32_MAX
        slot.byte_count = (slot.byte_count + size) & U32_MAX
        slot.win_pkts += 1
        slot.size_min = min(slot.size_min, size)
        slot.size_max = max(slot.size_max, size)
        slot.size_sum += size
        if slot.win_pkts < self.report_every:
            return None
        report = FeatureReport(
            key, direction, slot.collision, self.switch_id, index, self.seq, slot.pkt_count, slot.byte_count,
            slot.size_sum, slot.iat_min, slot.iat_max, slot.iat_sum, slot.win_pkts, slot.size_min,
            slot.size_max, slot.first_seen, slot.last_seen,
        )
        self.seq = (self.seq + 1) & U32_MAX
        slot.collision = False
        slot.reset_window()
        return report


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a generated session lives on the network: client/server endpoints and its start time."""

    client_ip: int
    client_port: int
    server_ip: int
    server_port: int
    start_ns: int = 0


def session_reports(
    sessions: Iterable[tuple[Session, Placement]], table: FlowFeatureTable
) -> Iterator[tuple[FeatureReport, Session]]:
    """Replay sessions, interleaved by time, through one table; yield each report with its session."""

    def stream(i: int, s: Session, p: Placement) -> Iterator[tuple[int, int, Session, Placement, bool, int]]:
        for e in s.events:
            yield p.start_ns + e.ts_ns, i, s, p, e.upstream, e.size

    streams = [stream(i, s, p) for i, (s, p) in enumerate(sessions)]
    for ts, _i, s, p, upstream, size in heapq.merge(*streams, key=lambda x: (x[0], x[1])):
        if upstream:
            rep = table.observe(ts, p.client_ip, p.client_port, p.server_ip, p.server_port, s.proto, size)
        else:
            rep = table.observe(ts, p.server_ip, p.server_port, p.client_ip, p.client_port, s.proto, size)
        if rep is not None:
            yield rep, s
