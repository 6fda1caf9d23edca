"""Reference DualPI2 (RFC 9332 Appendix A) as a queue discipline for the link emulator.

Two queues; ECT(1) and CE go to L, Not-ECT and ECT(0) to C (A.1, enqueue). Every Tupdate the PI2 core
turns the C queue's head sojourn time into the base probability p' (A.1, PI update):

    p' += alpha·(curq − target) + beta·(curq − prevq),   0 ≤ p' ≤ 1
    p_C  = p'²               classic drop (Not-ECT) or mark (ECT(0))   — the square (§2.4)
    p_CL = k·p'              coupled L4S marking
    p_L  = max(p_CL, native) native: step (or ramp) on the L packet's own sojourn time (A.1, laqm)

L marks are decided by the RFC's deterministic `recur` accumulator, C decisions by a seeded RNG.
Overload (§4.2.2, A.2): once p_C reaches p_Cmax = min(1/k², 1) the coupled L marking has saturated, so L
packets are dropped with p_C like classic ones, and ECN-capable classic packets are dropped, not marked.
Scheduling between the queues is a time-shifted FIFO: the L head goes first unless the C head has waited
more than tshift longer (A.1 names time-shifted FIFO as one suitable conditional priority scheduler).

Defaults are the Linux sch_dualpi2 ones the issue asks for (target 15 ms, Tupdate 16 ms, alpha 0.16 Hz,
beta 3.2 Hz, k 2, step 1 ms); RFC 9332 A.1 derives alpha 0.15, beta 3 and Tupdate 15 ms from
RTT_max = 100 ms — both are set by DualPI2Params.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from srchain_net.ecn import CE, ECT0, ECT1, ecn_field, set_ce
from srchain_net.qdisc import QdiscStats, QueueSample


@dataclass(frozen=True)
class DualPI2Params:
    target_s: float = 0.015  # classic queue delay target
    tupdate_s: float = 0.016  # PI2 update interval
    alpha_hz: float = 0.16  # integral gain
    beta_hz: float = 3.2  # proportional gain
    k: float = 2.0  # coupling factor
    step_s: float = 0.001  # native L4S AQM threshold (minTh of the RFC's ramp)
    ramp_s: float = 0.0  # ramp range above step_s; 0 makes it a step
    th_len: int = 1  # no native L4S marking while the L queue holds this many packets or fewer (A.2)
    tshift_s: float = 0.030  # time-shifted FIFO: the C head goes first once it waited this much longer
    limit_bytes: int = 375_000  # shared buffer: 250 ms at 12 Mbit/s (A.1: limit = link rate × 250 ms)
    seed: int = 1

    @property
    def p_cmax(self) -> float:
        return min(1 / self.k ** 2, 1.0)

    def check(self) -> None:
        problems = [f"dualpi2.{name}: {value} must be > 0" for name, value in (
            ("target_s", self.target_s), ("tupdate_s", self.tupdate_s), ("k", self.k),
            ("limit_bytes", self.limit_bytes)) if value <= 0]
        problems += [f"dualpi2.{name}: {value} must be >= 0" for name, value in (
            ("alpha_hz", self.alpha_hz), ("beta_hz", self.beta_hz), ("step_s", self.step_s),
            ("ramp_s", self.ramp_s), ("th_len", self.th_len), ("tshift_s", self.tshift_s)) if value < 0]
        if problems:
            raise ValueError("; ".join(problems))


@dataclass
class _Queue:
    name: str
    items: deque[tuple[float, bytes]] = field(default_factory=deque)
    bytes: int = 0
    count: float = 0.0  # the RFC's recur() accumulator

    def head_sojourn(self, now: float) -> float:
        return max(0.0, now - self.items[0][0]) if self.items else 0.0


class DualPI2:
    """The DualQ Coupled PI2 AQM; time comes in through enqueue/dequeue (`now`, s)."""

    def __init__(self, params: DualPI2Params | None = None) -> None:
        self.p = params or DualPI2Params()
        self.p.check()
        self.lq = _Queue("L")
        self.cq = _Queue("C")
        self.rng = random.Random(self.p.seed)
        self.p_prime = 0.0
        self.prevq = 0.0
        self.next_update: float | None = None
        self.stats = QdiscStats()
        self.sojourns: list[QueueSample] = []
        self.history: list[tuple[float, float]] = []  # (update time, p') after each PI2 update

    @property
    def p_c(self) -> float:
        return self.p_prime ** 2

    @property
    def p_cl(self) -> float:
        return min(self.p.k * self.p_prime, 1.0)

    def overloaded(self) -> bool:
        return self.p_c >= self.p.p_cmax

    def update(self, now: float) -> None:
        """One PI2 step (RFC 9332 A.1, dualpi2_update): curq is the C head's sojourn time at `now`."""
        curq = self.cq.head_sojourn(now)
        p = self.p
        self.p_prime += p.alpha_hz * (curq - p.target_s) + p.beta_hz * (curq - self.prevq)
        self.p_prime = min(max(self.p_prime, 0.0), 1.0)
        self.prevq = curq
        self.history.append((now, self.p_prime))

    def _advance(self, now: float) -> None:
        """Run the updates due by `now` (the timer of a real qdisc, replayed at each call)."""
        if self.next_update is None:
            self.next_update = now + self.p.tupdate_s
        while now >= self.next_update:
            self.update(self.next_update)
            self.next_update += self.p.tupdate_s

    def native_l(self, sojourn: float, qlen: int) -> float:
        """The native L4S AQM's probability (A.1 laqm; A.2 Th_len): 0 below step_s, 1 from step_s + ramp_s."""
        if qlen <= self.p.th_len or sojourn < self.p.step_s:
            return 0.0
        if self.p.ramp_s <= 0 or sojourn >= self.p.step_s + self.p.ramp_s:
            return 1.0
        return (sojourn - self.p.step_s) / self.p.ramp_s

    @staticmethod
    def _recur(q: _Queue, likelihood: float) -> bool:
        """True with the given long-run frequency, deterministically (RFC 9332 A.1, recur)."""
        q.count += likelihood
        if q.count >= 1:
            q.count -= 1
            return True
        return False

    def enqueue(self, frame: bytes, now: float) -> bool:
        self._advance(now)
        ecn = ecn_field(frame)
        q = self.lq if ecn is not None and ecn & ECT1 else self.cq  # ECT(1) and CE: the odd codepoints
        if self.lq.bytes + self.cq.bytes + len(frame) > self.p.limit_bytes:
            QdiscStats.bump(self.stats.dropped_full, q.name)
            return False
        q.items.append((now, frame))
        q.bytes += len(frame)
        QdiscStats.bump(self.stats.enqueued, q.name)
        return True

    def _pick(self, now: float) -> _Queue:
        if not self.cq.items:
            return self.lq
        if not self.lq.items:
            return self.cq
        return self.lq if self.lq.head_sojourn(now) + self.p.tshift_s >= self.cq.head_sojourn(now) else self.cq

    def dequeue(self, now: float) -> bytes | None:
        self._advance(now)
        while self.lq.items or self.cq.items:
            q = self._pick(now)
            qlen = len(q.items)
            arrived, frame = q.items.popleft()
            q.bytes -= len(frame)
            sojourn = now - arrived
            out = self._aqm(q, frame, sojourn, qlen)
            if out is None:
                QdiscStats.bump(self.stats.dropped_aqm, q.name)
                continue
            if out is not frame:
                QdiscStats.bump(self.stats.marked, q.name)
            QdiscStats.bump(self.stats.dequeued, q.name)
            self.sojourns.append(QueueSample(q.name, now, sojourn))
            return out
        return None

    def _aqm(self, q: _Queue, frame: bytes, sojourn: float, qlen: int) -> bytes | None:
        """The frame to send (itself, or a CE-marked copy), None to drop it."""
        overload = self.overloaded()
        if q is self.lq:
            if overload:  # saturated: L4S traffic is dropped like classic (A.2, §4.2.2)
                if self.rng.random() < self.p_c:
                    return None
                return set_ce(frame) or frame
            p_l = max(self.p_cl, self.native_l(sojourn, qlen))
            return (set_ce(frame) or frame) if self._recur(q, p_l) else frame
        if self.rng.random() >= self.p_c:
            return frame
        if overload or ecn_field(frame) not in (ECT0, CE):
            return None  # Not-ECT (or any classic packet in overload): drop
        return set_ce(frame)

    def backlog_bytes(self) -> dict[str, int]:
        return {"L": self.lq.bytes, "C": self.cq.bytes}

    def backlog_packets(self) -> dict[str, int]:
        return {"L": len(self.lq.items), "C": len(self.cq.items)}
