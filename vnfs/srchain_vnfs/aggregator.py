"""Aggregator: window labels (UDP 47004) -> per-session hysteresis -> decision records (UDP 47002) per change.

A session changes class only after `agree` consecutive confident labels name the new class; a session that
sends no label for `idle_timeout_s` goes back to best effort (class 0, one decision) and is forgotten.

Refresh: a live session holding a class other than best effort gets its decision sent again every
`refresh_s` (at most `refresh_max` per tick), so a switch that lost its priority registers (restart +
reconcile) learns the class again without waiting for a change. `GET /decisions` lists the sessions.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from srchain_contracts.records import (
    DECISION_PORT,
    U32_MAX,
    U48_MAX,
    WINDOW_LABEL_PORT,
    DecisionRecord,
    FlowKey,
    TrafficClass,
    WindowLabel,
    int_to_ip,
)

from .service import Endpoint, UdpService, UdpServiceConfig


@dataclass(slots=True)
class _State:
    current: int = TrafficClass.BEST_EFFORT
    candidate: int = -1
    streak: int = 0
    confidence_sum: float = 0.0
    last_label: float = 0.0
    decided: float | None = None  # when `current` was decided (None: never, best effort by default)
    emitted: float = 0.0  # when its decision was last sent (a change or a refresh)
    confidence: float = 1.0  # of the decision for `current`


@dataclass(frozen=True, slots=True)
class Change:
    key: FlowKey
    class_id: int
    confidence: float  # mean confidence of the agreeing labels (1.0 for a quiet -> best-effort change)


class Hysteresis:
    """Pure decision logic, clock passed in, so tests drive time explicitly."""

    def __init__(self, agree: int = 3, min_confidence: float = 0.5, idle_timeout_s: float = 5.0,
                 max_sessions: int = 100_000) -> None:
        if agree < 1 or not 0 <= min_confidence <= 1 or idle_timeout_s <= 0 or max_sessions < 1:
            raise ValueError("agree >= 1, 0 <= min_confidence <= 1, idle_timeout_s > 0, max_sessions >= 1")
        self.agree = agree
        self.min_confidence = min_confidence
        self.idle_timeout_s = idle_timeout_s
        self.max_sessions = max_sessions
        self.evicted = 0
        self.sessions: OrderedDict[FlowKey, _State] = OrderedDict()
        # sessions holding a class other than best effort, least recently emitted first: what refresh()
        # walks, so a refresh costs what it sends, not the size of the table
        self.held: OrderedDict[FlowKey, None] = OrderedDict()

    def class_of(self, key: FlowKey) -> int:
        state = self.sessions.get(key)
        return state.current if state else TrafficClass.BEST_EFFORT

    def observe(self, key: FlowKey, class_id: int, confidence: float, now: float) -> Change | None:
        state = self.sessions.get(key)
        if state is None:
            if len(self.sessions) >= self.max_sessions:
                old, _ = self.sessions.popitem(last=False)  # least recently labelled
                self.held.pop(old, None)
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
        state.decided, state.emitted, state.confidence = now, now, change.confidence
        if class_id == TrafficClass.BEST_EFFORT:
            self.held.pop(key, None)
        else:
            self.held[key] = None
            self.held.move_to_end(key)
        return change

    def refresh(self, now: float, every_s: float, limit: int) -> list[Change]:
        """The decisions of live sessions holding a class other than best effort, last sent `every_s` or
        more ago: at most `limit`, the longest unsent first (the rest are due at the next call)."""
        out: list[Change] = []
        while self.held and len(out) < limit:
            key = next(iter(self.held))
            state = self.sessions[key]
            if now - state.emitted < every_s:
                break  # ordered by emission time: none after this one is due either
            state.emitted = now
            self.held.move_to_end(key)
            out.append(Change(key, state.current, state.confidence))
        return out

    def expire(self, now: float) -> list[Change]:
        """Forget quiet sessions; those holding a class get one change back to best effort."""
        changes = []
        for key in [k for k, s in self.sessions.items() if now - s.last_label >= self.idle_timeout_s]:
            state = self.sessions.pop(key)
            self.held.pop(key, None)
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
    refresh_s: float = Field(default=2.0, ge=0, le=3600)  # 0 = decisions only on a change
    refresh_max: int = Field(default=1000, ge=1, le=100_000)  # decisions re-sent per tick, at most
    show_max: int = Field(default=1000, ge=1, le=100_000)  # sessions listed by GET /decisions


class Aggregator(UdpService):
    kind = "aggregator"
    cfg: AggregatorConfig

    def __init__(self, cfg: AggregatorConfig) -> None:
        super().__init__(cfg)
        self.logic = Hysteresis(cfg.agree, cfg.min_confidence, cfg.idle_timeout_s, cfg.max_sessions)
        self.seq = 0

    def decision(self, change: Change, event: str = "decision") -> bytes:
        rec = DecisionRecord(
            change.key, change.class_id, self.seq, self.cfg.issuer_id, min(255, round(change.confidence * 255)),
            self.cfg.decision_ttl_s, time.time_ns() & U48_MAX,
        )
        self.seq = (self.seq + 1) & U32_MAX
        self.count(f"{event}:{change.class_id}")  # decision:N = changes; refresh:N = the same decision again
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
        if self.cfg.refresh_s > 0:
            again = self.logic.refresh(now, self.cfg.refresh_s, self.cfg.refresh_max)
            if again:
                self.emit(self.decision(c, "refresh") for c in again)
        self.sessions_gauge.set(len(self.logic.sessions))

    def views(self) -> dict[str, Callable[[], Any]]:
        return {"/decisions": self.decisions}

    def decisions(self) -> dict[str, Any]:
        """Every tracked session (up to `show_max`, most recently labelled first): its class, since when,
        and the label streak in progress."""
        now = time.monotonic()
        with self.state_lock:
            rows = [(k, s.current, s.decided, s.last_label, s.candidate, s.streak, s.confidence)
                    for k, s in self.logic.sessions.items()]
        by_class: dict[str, int] = {}
        for row in rows:
            name = _class_name(row[1])
            by_class[name] = by_class.get(name, 0) + 1
        out = []
        for key, current, decided, last, candidate, streak, confidence in reversed(rows[-self.cfg.show_max:]):
            out.append({
                "flow": {"ip_a": int_to_ip(key.ip_a), "port_a": key.port_a, "ip_b": int_to_ip(key.ip_b),
                         "port_b": key.port_b, "proto": key.proto},
                "class": current, "class_name": _class_name(current),
                "age_s": None if decided is None else round(now - decided, 3),
                "confidence": round(confidence, 3) if decided is not None else None,
                "last_label_age_s": round(now - last, 3),
                "candidate": None if candidate < 0 else candidate, "streak": streak,
            })
        return {"sessions": len(rows), "by_class": by_class, "shown": len(out), "refresh_s": self.cfg.refresh_s,
                "idle_timeout_s": self.cfg.idle_timeout_s, "decisions": out}


def _class_name(class_id: int) -> str:
    try:
        return TrafficClass(class_id).name.lower()
    except ValueError:
        return f"class_{class_id}"
