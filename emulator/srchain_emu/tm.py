"""Traffic manager: per egress port 8 queues, scheduled as a Tofino 1 schedules them, shaped by token buckets.

Scheduling follows the SDE's queue scheduler model (`tf1.tm.queue.sched_cfg`, device_tables.py): a queue is
served by its `max_priority` level, higher levels first (strict priority between levels); queues of one
level share by DWRR with their `dwrr_weight`. The default is the SDE's for Tofino 1
(`tm_tofino_default.c` `bf_tm_tofino_set_sch_default_for_q`): every queue at priority 0, weight 1023, so
the queues of a port share it round robin by bytes; strict priority exists only where configured. A queue
with `scheduling_enable` false is not served; one with a max rate (`max_rate_enable` +
`tf1.tm.queue.sched_shaping`) is skipped while its token bucket is empty (the others go on: work
conserving). The port's own token bucket (`tf1.tm.port.sched_*`) gates the whole port. DWRR: each visit
credits a queue `max(64, dwrr_weight)` bytes (the emulator's quantum: weights are relative; the hardware's
quantum is not in the SDE), and a queue sends while its head fits in its credit; an emptied queue loses
its credit. Not modelled: the guaranteed (min) rate and its priority (refused by device_tables.py).

Egress gets what a Tofino 1 gives it per queue (TNA tofino1arch.p4 `egress_intrinsic_metadata_t`), in
`Dequeued`: `enq_qdepth` (the queue's depth in 80-byte cells when the packet was enqueued, the packet itself
not counted), `deq_qdepth` (the depth when it was dequeued, the packet itself no longer counted),
`enq_tstamp` (the enqueue time in ns; egress sees its low 18 bits, as the hardware's field is 18 bits wide)
and `deq_timedelta` (ns the packet waited; 18 bits in egress, so it wraps past 262 us: a program that needs
millisecond delays takes them from timestamps, docs/p4.md "L4S module").

A port shaped by its own rate (`tf1.tm.port.sched_*`) runs on its line clock, as the hardware's TM does: each
packet leaves at the time the port's token bucket and the scheduler allow it, computed from the enqueue times,
not at the moment this Python loop comes round to it. That time is what egress sees (`deq_tstamp`, the wait
`deq_timedelta`); a loop that comes round late sends the packet late on the wire, and by how much is
measured (`lateness_ns`), as the link emulator (srchain_net.linkem) does. Unshaped ports have no line clock
here (a veth has no rate): their packets leave when the loop serves them.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from .device_tables import QueueSched
from .interp.pipeline import ToTM

CELL = 80
NUM_QUEUES = 8
MIN_QUANTUM = 64
LATENESS_KEEP = 1_000_000
LINE_CLOCK_STEPS = 8  # re-picks while the line waits for tokens (a packet may arrive meanwhile); bounds the loop
DEFAULT_SCHED = QueueSched()


class Dequeued(NamedTuple):
    """A packet the TM released and the queue metadata egress reads (module docstring)."""

    item: ToTM
    enq_qdepth: int  # cells
    deq_timedelta: int  # ns
    deq_qdepth: int  # cells
    enq_tstamp: int  # ns (monotonic clock)
    deq_tstamp: int  # ns: the dequeue time, which egress sees as its global timestamp


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

    def ready_at(self, nbytes: int, t: float) -> float:
        """The earliest time >= t (>= the last accounted time) at which `nbytes` may leave; state unchanged."""
        tokens = min(self.burst_bytes, self.tokens + (t - self.last) * self.rate_bps / 8)
        need = min(nbytes, self.burst_bytes)
        return t if tokens >= need else t + (need - tokens) * 8 / self.rate_bps

    def take(self, nbytes: int, t: float) -> None:
        """`nbytes` leave at t (t >= the last accounted time)."""
        self.tokens = min(self.burst_bytes, self.tokens + (t - self.last) * self.rate_bps / 8) - nbytes
        self.last = t


class _PortSched:
    """Per port: the queues' configuration, DWRR credits and the queue each level is visiting."""

    def __init__(self) -> None:
        self.conf = [DEFAULT_SCHED] * NUM_QUEUES
        self.levels: list[tuple[int, list[int]]] = []  # (level, queues) highest first
        self.credit = [0] * NUM_QUEUES
        self.visiting: dict[int, int] = {}  # level -> queue being visited (its credit already granted)
        self.shapers: dict[int, PortShaper] = {}  # queue -> max-rate token bucket
        self.update()

    def update(self) -> None:
        by_level: dict[int, list[int]] = {}
        for q, c in enumerate(self.conf):
            if c.enabled:
                by_level.setdefault(c.priority, []).append(q)
        self.levels = sorted(by_level.items(), reverse=True)
        self.visiting = {lv: qs[0] for lv, qs in self.levels if self.visiting.get(lv) in qs}
        self.shapers = {q: self.shapers.get(q) or PortShaper(c.max_rate_bps, c.max_burst_bytes,
                                                             float(c.max_burst_bytes))
                        for q, c in enumerate(self.conf) if c.max_rate_bps}
        for q, s in self.shapers.items():
            s.rate_bps, s.burst_bytes = self.conf[q].max_rate_bps, self.conf[q].max_burst_bytes


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
        self.sched: dict[int, _PortSched] = {}
        # how late the loop sent each packet of a shaped port behind its line-clock time (ns), the first
        # LATENESS_KEEP of them: what the emulator could not promise on a busy host, measured
        self.lateness_ns: list[int] = []
        # called with each non-empty batch dequeue() releases (a measurement tap, e.g. the L4S harness's)
        self.on_dequeue: Callable[[list[Dequeued]], None] | None = None

    def set_queue(self, port: int, qid: int, conf: QueueSched) -> None:
        """One queue's scheduling (from `tf1.tm.queue.sched_cfg` / `sched_shaping`)."""
        ps = self.sched.get(port)
        if ps is None:
            ps = self.sched[port] = _PortSched()
        ps.conf[qid % NUM_QUEUES] = conf
        ps.update()

    def set_rate(self, port: int, rate_bps: int, burst_bytes: int = 16384) -> None:
        self.shapers[port] = PortShaper(rate_bps, burst_bytes, float(burst_bytes))

    def enqueue(self, item: ToTM, now_ns: int | None = None) -> bool:
        """Queue a packet; False (and counted) when its queue is full (tail drop). Logical qid i goes to port
        queue i % 8, the SDE's default ingress qid map (device_tables.py)."""
        qid = item.qid % NUM_QUEUES
        key = (item.port, qid)
        size = cells(len(item.frame))
        if self.depth[key] + size > self.queue_limit:
            self.drops[key] += 1
            return False
        queues = self.queues.get(item.port)
        if queues is None:
            queues = self.queues[item.port] = [collections.deque() for _ in range(NUM_QUEUES)]
            self.sched.setdefault(item.port, _PortSched())
        depth = self.depth[key]
        queues[qid].append((item, time.monotonic_ns() if now_ns is None else now_ns, depth))
        self.depth[key] = depth + size
        self.pending += 1
        return True

    @staticmethod
    def _pick(ps: _PortSched, queues: list[collections.deque[tuple[ToTM, int, int]]], now: float,
              horizon_ns: int | None = None) -> tuple[int | None, float]:
        """The queue whose head goes next (None: nothing may go now) and the shortest wait of a queue
        held back by its max rate (0: none). With `horizon_ns`, only heads enqueued by then compete (the
        line clock's time, which may be behind the loop's)."""
        wait = 0.0
        for level, qs in ps.levels:
            ready = []
            for q in qs:
                if not queues[q] or (horizon_ns is not None and queues[q][0][1] > horizon_ns):
                    continue
                shaper = ps.shapers.get(q)
                if shaper is not None:
                    shaper.refill(now)
                    w = shaper.wait_for(len(queues[q][0][0].frame))
                    if w > 0:
                        wait = w if wait == 0 else min(wait, w)
                        continue
                ready.append(q)
            if not ready:
                continue
            cur = ps.visiting.get(level)
            if cur in ready and len(queues[cur][0][0].frame) <= ps.credit[cur]:
                return cur, wait
            # next queue of this level in round-robin order after the one visited; each visit grants a quantum
            start = qs.index(cur) + 1 if cur in qs else 0
            order = [qs[(start + i) % len(qs)] for i in range(len(qs))]
            while True:
                for q in order:
                    if q not in ready:
                        continue
                    ps.credit[q] += max(MIN_QUANTUM, ps.conf[q].weight)
                    ps.visiting[level] = q
                    if len(queues[q][0][0].frame) <= ps.credit[q]:
                        return q, wait
        return None, wait

    def dequeue(self, now: float | None = None, now_ns: int | None = None) -> tuple[list[Dequeued], float]:
        """Packets allowed out now, and the seconds until the next shaped packet may leave (0 when nothing
        is waiting). `now_ns` (default: the monotonic clock) is the dequeue time the packets get."""
        now = time.monotonic() if now is None else now
        now_ns = time.monotonic_ns() if now_ns is None else now_ns
        out: list[Dequeued] = []
        next_wait = 0.0
        for port, queues in self.queues.items():
            shaper = self.shapers.get(port)
            ps = self.sched[port]
            if shaper is not None and shaper.rate_bps:
                wait = self._dequeue_on_line_clock(port, queues, ps, shaper, now, out)
                if wait > 0:
                    next_wait = wait if next_wait == 0 else min(next_wait, wait)
                continue
            if shaper is not None:
                shaper.refill(now)
            while True:
                qid, wait = self._pick(ps, queues, now)
                if wait > 0:
                    next_wait = wait if next_wait == 0 else min(next_wait, wait)
                if qid is None:
                    break
                q = queues[qid]
                head_item, enq_ns, enq_depth = q[0]
                n = len(head_item.frame)
                if shaper is not None:
                    w = shaper.wait_for(n)
                    if w > 0:  # the port's rate: nothing else leaves this port now either
                        next_wait = w if next_wait == 0 else min(next_wait, w)
                        break
                    shaper.tokens -= n
                depth = self._pop(port, ps, q, qid, n)
                out.append(Dequeued(head_item, enq_depth, max(0, now_ns - enq_ns), depth, enq_ns, now_ns))
        if out and self.on_dequeue is not None:
            self.on_dequeue(out)
        return out, next_wait

    def _pop(self, port: int, ps: _PortSched, q: collections.deque[tuple[ToTM, int, int]], qid: int, n: int) -> int:
        """Take the head packet (`n` bytes) off queue `qid` of `port`: its queue max-rate tokens, DWRR credit and
        depth; returns the queue's depth in cells after it."""
        qshaper = ps.shapers.get(qid)
        if qshaper is not None:
            qshaper.tokens -= n
        ps.credit[qid] -= n
        q.popleft()
        if not q:
            ps.credit[qid] = 0
        depth = self.depth[(port, qid)] - cells(n)
        self.depth[(port, qid)] = depth
        self.pending -= 1
        return depth

    def _dequeue_on_line_clock(self, port: int, queues: list[collections.deque[tuple[ToTM, int, int]]],
                               ps: _PortSched, shaper: PortShaper, now: float, out: list[Dequeued]) -> float:
        """A shaped port's packets whose line-clock time has come (module docstring), each stamped with that
        time; returns the seconds until the next one (0: nothing waiting). The clock is the monotonic one the
        enqueue times use; `now` must be on it."""
        late = self.lateness_ns
        while True:
            heads = [queues[q][0][1] for _, qs in ps.levels for q in qs if queues[q]]
            if not heads:
                return 0.0
            t = max(shaper.last, min(heads) / 1e9)  # the line is free and a packet is there
            qid: int | None = None
            for _ in range(LINE_CLOCK_STEPS):
                if t > now:
                    return t - now
                qid, qwait = self._pick(ps, queues, t, int(t * 1e9) + 1)  # +1: float rounding of t
                if qid is None:  # every packet there is held by its queue's max rate
                    t += qwait
                    continue
                ready = shaper.ready_at(len(queues[qid][0][0].frame), t)
                if ready <= t:
                    break
                t, qid = ready, None  # tokens by then; whoever arrived meanwhile competes again
            if qid is None:
                return max(t - now, 1e-6)
            q = queues[qid]
            head_item, enq_ns, enq_depth = q[0]
            n = len(head_item.frame)
            shaper.take(n, t)
            depth = self._pop(port, ps, q, qid, n)
            t_ns = max(enq_ns, int(t * 1e9))
            out.append(Dequeued(head_item, enq_depth, t_ns - enq_ns, depth, enq_ns, t_ns))
            if len(late) < LATENESS_KEEP:
                late.append(max(0, int((now - t) * 1e9)))
