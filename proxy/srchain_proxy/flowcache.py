"""Bounded LRU flow cache with idle timeout.

An OrderedDict kept in last-use order: a touch moves the key to the end, so the front holds the least
recently used entry (evicted when full) and idle expiry only has to look at the front.
Entries are immutable (value, last_seen) tuples of atomic objects: the cyclic GC untracks them, so a
large cache adds nothing to garbage-collection pauses (which would show up as latency spikes).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class FlowCache:
    __slots__ = ("evictions", "expired", "idle", "learned", "od", "size")

    def __init__(self, size: int, idle_s: float) -> None:
        self.od: OrderedDict[Any, tuple[Any, float]] = OrderedDict()  # key -> (value, last_seen)
        self.size = size
        self.idle = idle_s
        self.evictions = 0
        self.expired = 0
        self.learned = 0

    def __len__(self) -> int:
        return len(self.od)

    def learn(self, key: Any, value: Any, now: float) -> None:
        od = self.od
        ent = od.get(key)
        if ent is not None:
            if ent[1] == now and ent[0] == value:
                return  # touched in this same batch already (callers pass one `now` per batch)
            od[key] = (value, now)
            od.move_to_end(key)
            return
        if len(od) >= self.size:
            od.popitem(last=False)
            self.evictions += 1
        od[key] = (value, now)
        self.learned += 1

    def lookup(self, key: Any, now: float) -> tuple[Any, float] | None:
        """Return the live (value, last_seen) entry and refresh it, or None (expired entries are removed)."""
        od = self.od
        ent = od.get(key)
        if ent is None:
            return None
        if now - ent[1] > self.idle:
            del od[key]
            self.expired += 1
            return None
        od[key] = ent = (ent[0], now)
        od.move_to_end(key)
        return ent

    def expire(self, now: float, budget: int = 100_000) -> int:
        """Drop idle entries from the LRU end; bounded work per call."""
        od = self.od
        cutoff = now - self.idle
        removed = 0
        while od and removed < budget:
            key = next(iter(od))
            if od[key][1] >= cutoff:
                break
            del od[key]
            removed += 1
        self.expired += removed
        return removed
