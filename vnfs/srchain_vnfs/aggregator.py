"""Aggregator: window labels (UDP 47004) -> per-session hysteresis -> decision records (UDP 47002) per change.

A session changes class only after `agree` consecutive confident labels name the new class; a session that
sends no label for `idle_timeout_s` goes back to best effort (class 0, one decision) and is forgotten.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import Field
from srchain.records import (
    DECISION_PORT,
    U32_MAX,
    U48_MAX,
    WINDOW_LABEL_PORT,
    DecisionRecord,
    FlowKey,
    TrafficClass,
    WindowLabel,
)

from .service import Endpoint, UdpService, UdpServiceConfig


@dataclass(slots=True)
class _State:
    current: int = TrafficClass.BEST_EFFORT
    candidate: int = -1
    streak: int = 0
    confidence_sum: float = 0.0
    last_label: float = 0.0


@dataclass(frozen=True, slots=True)
class Change:
    key: FlowKey
    class_id: int
    confidence: float  # mean confidence of the agreeing labels (1.0 for a quiet -> best-effort change)


class Hysteresis:
    """Pure decision logic, clock passed in, so tests drive time explicitly."""

    def __init__(self, agree: int = 3, min_confidence: float = 0.5, idle_timeout_s: float = 5.0,
                 max_sessions: int = 100_000) -> None:  # fmt: skip
        if agree < 1 or not 0 <= min_confidence <= 1 or idle_timeout_s <= 0 or max_sessions < 1:
            raise ValueError("agree >= 1, 0 <= min_confidence <= 1, idle_timeout_s > 0, max_sessions >= 1")
        self.agree = agree
        self.min_confidence = min_confidence
        self.idle_timeout_s = idle_timeout_s
        self.max_sessions = max_sessions
        self.evicted = 0
        self.sessions: OrderedDict[FlowKey, _State] = OrderedDict()

    def class_of(self, key: FlowKey) -> int:
        state = self.sessions.get(key)
        return state.current if state else TrafficClass.BEST_EFFORT

    def observe(self, key: FlowKey, class_id: int, confidence: float, now: float) -> Change | None:
        state = self.sessions.get(key)
        if state is None:
            if len(self.sessions) >= self.max_sessions:
                self.sessions.popitem(last=False)  # least recently labelled
                self.evicted += 1
            state = self.sessions[key] = _State()
        else:
            self.sessions.move_to_end(key)
        state.last_label = now
        if confidence < self.min_confidence:
            return None  # unsure windows neither confirm nor break a streak
        if class_id == state.current:
            state.candidate, state.streak, state.confidence_sum = -1, 0, 0.0
            return None
        if class_id == state.candidate:
            state.streak += 1
            state.confidence_sum += confidence
        else:
            state.candidate, state.streak, state.confidence_sum = class_id, 1, confidence
        if state.streak < self.agree:
            return None
        change = Change(key, class_id, state.confidence_sum / state.streak)
        state.current, state.candidate, state.streak, state.confidence_sum = class_id, -1, 0, 0.0
        return change

    def expire(self, now: float) -> list[Change]:
        """Forget quiet sessions; those holding a class get one change back to best effort."""
        changes = []
        for key in [k for k, s in self.sessions.items() if now - s.last_label >= self.idle_timeout_s]:
            state = self.sessions.pop(key)
            if state.current != TrafficClass.BEST_EFFORT:
                changes.append(Change(key, TrafficClass.BEST_EFFORT, 1.0))
        return changes


class AggregatorConfig(UdpServiceConfig):
    name: str = "aggregator"
    listen: Endpoint = Endpoint(port=WINDOW_LABEL_PORT)
    next_hop: Endpoint = Endpoint(port=DECISION_PORT)
    agree: int = Field(default=3, ge=1, le=100)
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    idle_timeout_s: float = Field(default=5.0, gt=0, le=3600)
    decision_ttl_s: int = Field(default=0, ge=0, le=0xFFFF)
    max_sessions: int = Field(default=100_000, ge=1)
    issuer_id: int = Field(default=0, ge=0, le=0xFFFF)


class Aggregator(UdpService):
    kind = "aggregator"
    cfg: AggregatorConfig

    def __init__(self, cfg: AggregatorConfig) -> None:
        super().__init__(cfg)
        self.logic = Hysteresis(cfg.agree, cfg.min_confidence, cfg.idle_timeout_s, cfg.max_sessions)
        self.seq = 0

    def decision(self, change: Change) -> bytes:
        rec = DecisionRecord(
            change.key, change.class_id, self.seq, self.cfg.issuer_id, min(255, round(change.confidence * 255)),
            self.cfg.decision_ttl_s, time.time_ns() & U48_MAX,
        )  # fmt: skip
        self.seq = (self.seq + 1) & U32_MAX
        self.count(f"decision:{change.class_id}")
        return rec.pack()

    def handle(self, data: bytes) -> Iterable[bytes]:
        label = WindowLabel.unpack(data)
        change = self.logic.observe(label.key, label.class_id, label.confidence / 255, time.monotonic())
        self.sessions_gauge.set(len(self.logic.sessions))
        return (self.decision(change),) if change else ()

    def on_tick(self, now: float) -> None:
        changes = self.logic.expire(now)
        if changes:
            self.emit(self.decision(c) for c in changes)
        self.sessions_gauge.set(len(self.logic.sessions))
