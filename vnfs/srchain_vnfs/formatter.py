"""Formatter: feature reports (UDP 47001) -> per-session windows -> normalised feature vectors (UDP 47003)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from pydantic import Field

from srchain_contracts.records import FEATURE_REPORT_PORT, FEATURE_VECTOR_PORT, U32_MAX, FeatureReport, FeatureVector

from .service import Endpoint, UdpService, UdpServiceConfig
from .vectors import SessionWindows


class FormatterConfig(UdpServiceConfig):
    name: str = "formatter"
    listen: Endpoint = Endpoint(port=FEATURE_REPORT_PORT)
    next_hop: Endpoint = Endpoint(port=FEATURE_VECTOR_PORT)
    depth: int = Field(default=4, ge=1, le=64)
    max_sessions: int = Field(default=100_000, ge=1)
    source_id: int = Field(default=0, ge=0, le=0xFFFF)


class Formatter(UdpService):
    kind = "formatter"
    cfg: FormatterConfig

    def __init__(self, cfg: FormatterConfig) -> None:
        super().__init__(cfg)
        self.windows = SessionWindows(cfg.depth, cfg.max_sessions)
        self.seq = 0

    def handle(self, data: bytes) -> Iterable[bytes]:
        report = FeatureReport.unpack(data)
        values = self.windows.update(report)
        self.sessions_gauge.set(len(self.windows))
        vec = FeatureVector(report.key, self.seq, report.last_seen_ns, values, self.cfg.source_id)
        self.seq = (self.seq + 1) & U32_MAX
        return (vec.pack(),)

    def flow_of(self, payload: bytes) -> int:
        """A vector's session (its flow key): one source port per session, so the classifier instance a
        per-flow balancer picks sees all of a session's vectors."""
        return zlib.crc32(FeatureVector.unpack(payload).key.key_bytes())
