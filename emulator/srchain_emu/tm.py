"""Traffic manager: per egress port 8 queues served in strict priority, shaped by a token bucket.

Queue depth is kept in 80-byte cells (Tofino's accounting unit) and handed to egress as enq_qdepth;
the time a packet waited is handed over as deq_timedelta (ns).
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

from .interp.pipeline import ToTM

CELL = 80
NUM_QUEUES = 8
DEFAULT_ORDER = list(range(NUM_QUEUES - 1, -1, -1))  # queue 7 first


def cells(nbytes: int) -> int:
    return (nbytes + CELL - 1) // CELL


@dataclass
class PortShaper:
    rate_bps: int = 0  # 0: unshaped
    burst_bytes: int = 16384
    tokens: float = 16384.0
    last: float = field(default_factory=time.monotonic)

    def refill(self, now: float) -> None:
        if self.rate_bps:
            self.tokens = min(self.burst_bytes, self.tokens + (now - self.last) * self.rate_bps / 8)
        self.last = now

    def wait_for(self, nbytes: int) -> float:
        """Seconds until `nbytes` may leave (0 when allowed now)."""
        if not self.rate_bps or self.tokens >= min(nbytes, self.burst_bytes):
            return 0.0
        return (min(nbytes, self.burst_bytes) - self.tokens) * 8 / self.rate_bps


class TrafficManager:
    def __init__(self, queue_limit_cells: int = 8192) -> None:
        self.queue_limit = queue_limit_cells
        # per port 8 queues of (packet, enqueue time ns, queue depth in cells at enqueue): plain tuples, as
        # one object per packet is all the TM should cost
        self.queues: dict[int, list[collections.deque[tuple[ToTM, int, int]]]] = {}
        self.depth: dict[tuple[int, int], int] = collections.defaultdict(int)
        self.shapers: dict[int, PortShaper] = {}
        self.drops: collections.Counter[tuple[int, int]] = collections.Counter()
        self.pending = 0
        # per port: queue numbers in service order (strict priority); by default queue 7 first
        self.priority: dict[tuple[int, int], int] = {}
        self.order: dict[int, list[int]] = {}

    def set_queue_priority(self, port: int, qid: int, priority: int) -> None:
        """Strict-priority level of one queue (higher is served first; equal levels by queue number)."""
        self.priority[(port, qid)] = priority
        levels = [(self.priority.get((port, q), q), q) for q in range(NUM_QUEUES)]
        self.order[port] = [q for _, q in sorted(levels, reverse=True)]

    def set_rate(self, port: int, rate_bps: int, burst_bytes: int = 16384) -> None:
        self.shapers[port] = PortShaper(rate_bps, burst_bytes, float(burst_bytes))

    def enqueue(self, item: ToTM, now_ns: int | None = None) -> bool:
        """Queue a packet; False (and counted) when its queue is full (tail drop)."""
        qid = item.qid % NUM_QUEUES
        key = (item.port, qid)
        size = cells(len(item.frame))
        if self.depth[key] + size > self.queue_limit:
            self.drops[key] += 1
            return False
        queues = self.queues.get(item.port)
        if queues is None:
            queues = self.queues[item.port] = [collections.deque() for _ in range(NUM_QUEUES)]
        depth = self.depth[key]
        queues[qid].append((item, time.monotonic_ns() if now_ns is None else now_ns, depth))
        self.depth[key] = depth + size
        self.pending += 1
        return True

    def dequeue(self, now: float | None = None) -> tuple[list[tuple[ToTM, int, int]], float]:
        """Packets allowed out now as (item, enq_qdepth cells, deq_timedelta ns), and the seconds until
        the next shaped packet may leave (0 when nothing is waiting)."""
        now = time.monotonic() if now is None else now
        now_ns = time.monotonic_ns()
        out: list[tuple[ToTM, int, int]] = []
        next_wait = 0.0
        for port, queues in self.queues.items():
            shaper = self.shapers.get(port)
            if shaper is not None:
                shaper.refill(now)
            for qid in self.order.get(port, DEFAULT_ORDER):  # strict priority
                q = queues[qid]
                while q:
                    head_item, enq_ns, enq_depth = q[0]
                    n = len(head_item.frame)
                    if shaper is not None:
                        wait = shaper.wait_for(n)
                        if wait > 0:
                            next_wait = wait if next_wait == 0 else min(next_wait, wait)
                            break
                        shaper.tokens -= n
                    q.popleft()
                    self.depth[(port, qid)] -= cells(n)
                    self.pending -= 1
                    out.append((head_item, enq_depth, max(0, now_ns - enq_ns)))
                if shaper is not None and q:
                    break  # a shaped port blocked on a higher queue: lower queues wait too
        return out, next_wait
