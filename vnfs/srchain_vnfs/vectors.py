"""Per-session windows of feature reports -> normalised feature vectors (formatter logic, also used in training).

A session is the canonical flow key; its two directions are kept apart. The direction carrying more
bytes per second is called *heavy* (the server's downstream for every profile we know), the other *light*,
so vectors do not depend on which endpoint happens to be canonical endpoint a. Each direction keeps its last
`depth` reports; values are log-scaled so that the classifier sees comparable magnitudes.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from srchain_contracts.records import IAT_NONE, PROTO_UDP, FeatureReport, FlowKey

_DIRECTION_FEATURES = (
    "mean_size", "size_min", "size_max", "mean_iat", "iat_min", "iat_max", "pps", "bps",
    "window_iat_spread", "last_mean_iat", "last_iat_max",
)
FEATURE_NAMES: tuple[str, ...] = (
    *(f"heavy_{n}" for n in _DIRECTION_FEATURES),
    *(f"light_{n}" for n in _DIRECTION_FEATURES),
    "light_seen", "pps_ratio", "bytes_ratio", "is_udp",
)


def _lg(x: float) -> float:
    return math.log10(1.0 + max(0.0, x))


def _iat_count(r: FeatureReport) -> int:
    # The flow's first window lacks the first packet's inter-arrival (docs/records.md).
    return r.win_pkts - 1 if r.pkt_count == r.win_pkts else r.win_pkts


@dataclass(slots=True)
class _DirectionStats:
    values: tuple[float, ...]
    bytes_per_s: float
    pkts_per_s: float


def _direction(reports: deque[FeatureReport]) -> _DirectionStats:
    pkts = sum(r.win_pkts for r in reports)
    size_total = sum(r.size_sum for r in reports)
    iats = sum(_iat_count(r) for r in reports)
    iat_total = sum(r.iat_sum for r in reports)
    with_iat = [r for r in reports if r.iat_min != IAT_NONE and _iat_count(r) > 0]
    iat_min = min((r.iat_min for r in with_iat), default=0)
    iat_max = max((r.iat_max for r in reports), default=0)
    mean_iat = iat_total / iats if iats else 0.0
    window_means = [r.iat_sum / _iat_count(r) for r in with_iat]
    spread = _lg(max(window_means)) - _lg(min(window_means)) if window_means else 0.0
    last = reports[-1]
    last_mean = last.iat_sum / _iat_count(last) if _iat_count(last) else 0.0
    seconds = iat_total / 1e9
    pps = iats / seconds if seconds > 0 else 0.0
    bps = size_total * 8 / seconds if seconds > 0 else 0.0
    values = (
        _lg(size_total / pkts if pkts else 0), min(r.size_min for r in reports) / 1500,
        max(r.size_max for r in reports) / 1500, _lg(mean_iat), _lg(iat_min), _lg(iat_max), _lg(pps), _lg(bps),
        spread, _lg(last_mean), _lg(last.iat_max),
    )
    return _DirectionStats(values, bps / 8, pps)


_EMPTY = (0.0,) * len(_DIRECTION_FEATURES)


@dataclass(slots=True)
class _Session:
    directions: dict[int, deque[FeatureReport]] = field(default_factory=dict)


class SessionWindows:
    """Bounded table of sessions (LRU eviction) turning each feature report into a session vector."""

    def __init__(self, depth: int = 4, max_sessions: int = 100_000) -> None:
        if depth < 1 or max_sessions < 1:
            raise ValueError(f"depth and max_sessions must be >= 1 (got {depth}, {max_sessions})")
        self.depth = depth
        self.max_sessions = max_sessions
        self.evicted = 0
        self._sessions: OrderedDict[FlowKey, _Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def update(self, report: FeatureReport) -> tuple[float, ...]:
        """Add a report to its session and return the session's feature vector (FEATURE_NAMES order)."""
        sess = self._sessions.get(report.key)
        if sess is None:
            if len(self._sessions) >= self.max_sessions:
                self._sessions.popitem(last=False)
                self.evicted += 1
            sess = self._sessions[report.key] = _Session()
        else:
            self._sessions.move_to_end(report.key)
        window = sess.directions.get(report.direction)
        if window is None or report.collision:
            window = sess.directions[report.direction] = deque(maxlen=self.depth)
        window.append(report)
        return self.vector(report.key)

    def forget(self, key: FlowKey) -> None:
        self._sessions.pop(key, None)

    def vector(self, key: FlowKey) -> tuple[float, ...]:
        stats = [_direction(w) for w in self._sessions[key].directions.values()]
        stats.sort(key=lambda s: s.bytes_per_s, reverse=True)
        heavy = stats[0]
        light = stats[1] if len(stats) > 1 else None
        if light is None:
            tail: tuple[float, ...] = (*_EMPTY, 0.0, 0.0, 0.0)
        else:
            tail = (
                *light.values, 1.0,
                light.pkts_per_s / heavy.pkts_per_s if heavy.pkts_per_s else 0.0,
                _lg(heavy.bytes_per_s) - _lg(light.bytes_per_s),
            )
        return (*heavy.values, *tail, 1.0 if key.proto == PROTO_UDP else 0.0)
