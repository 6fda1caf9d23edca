"""One direction of an emulated link, as a model with time passed in: loss → queue → serialiser → delay line.

    arrive(frame, t)   lost with probability `loss` (one seeded draw per arriving frame, so a seed and a
                       frame count give the exact number lost), else offered to the queue discipline
    serialiser         takes the next frame from the discipline when the line is free and holds the line
                       for len(frame)·8/rate s (rate 0: no serialisation, no queue builds)
    delay line         the frame leaves `delay` ± `jitter` s after its last bit; frames never overtake each
                       other (a release earlier than the one before is held back to it), as on one wire

No sockets and no clock here: linkem.py feeds it real frames and real time, tests feed it both.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from .qdisc import FifoTailDrop, QueueDiscipline


@dataclass(frozen=True)
class LinkParams:
    """One direction's settings; `check()` names the field and the reason of a bad value."""

    delay_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0  # probability per frame, 0..1
    rate_bps: float = 0.0  # 0: unlimited (no serialisation delay)
    limit_bytes: int = 1 << 20  # the default FIFO's buffer (a discipline given explicitly has its own)
    seed: int = 1

    def check(self, where: str = "link") -> None:
        problems = []
        if not 0 <= self.delay_s <= 10:
            problems.append(f"{where}.delay_s: {self.delay_s} is outside 0..10 s")
        if not 0 <= self.jitter_s <= self.delay_s:
            problems.append(f"{where}.jitter_s: {self.jitter_s} must be within 0..delay_s ({self.delay_s})")
        if not 0 <= self.loss <= 1:
            problems.append(f"{where}.loss: {self.loss} is not a probability (0..1)")
        if not 0 <= self.rate_bps <= 100e9:
            problems.append(f"{where}.rate_bps: {self.rate_bps} is outside 0..100e9 (0 = unlimited)")
        if self.limit_bytes < 64:
            problems.append(f"{where}.limit_bytes: {self.limit_bytes} is below one minimum frame (64)")
        if problems:
            raise ValueError("; ".join(problems))


class LinkPath:
    """One direction. Drive it with arrive() for every received frame (in arrival order) and service(now)
    whenever now reaches next_event(); service returns the frames due on the wire's far end."""

    def __init__(self, params: LinkParams, qdisc: QueueDiscipline | None = None) -> None:
        params.check()
        self.p = params
        self.qdisc: QueueDiscipline = qdisc if qdisc is not None else FifoTailDrop(params.limit_bytes)
        self.loss_rng = random.Random(params.seed)
        self.jitter_rng = random.Random(params.seed ^ 0x5EED)
        self.busy_until = 0.0  # the serialiser holds the line until then
        # arrivals not yet offered to the discipline: it sees each frame only at the moment (in the line's
        # time) it would have arrived, so a dequeue at time t never picks a frame that came after t
        self.inbox: deque[tuple[float, bytes]] = deque()
        self.line: deque[tuple[float, bytes]] = deque()  # (release time, frame), release times ascending
        self.last_release = 0.0
        self.arrived = 0
        self.lost = 0
        self.sent = 0
        self.sent_bytes = 0

    def arrive(self, frame: bytes, now: float) -> None:
        """Call in arrival order (non-decreasing `now`)."""
        self.arrived += 1
        if self.p.loss and self.loss_rng.random() < self.p.loss:
            self.lost += 1
            return
        self.inbox.append((now, frame))

    def _backlog(self) -> int:
        return sum(self.qdisc.backlog_packets().values())

    def _serialise(self, now: float) -> None:
        """Replay arrivals and departures in time order up to `now`. A frame starts when the line is free
        and the frame is waiting, not when the loop got round to it, so a late loop does not stretch the
        line's timing; the discipline is offered each arrival before any departure that follows it."""
        rate = self.p.rate_bps
        inbox = self.inbox
        while True:
            free = self.busy_until
            while inbox and inbox[0][0] <= free:
                t, f = inbox.popleft()
                self.qdisc.enqueue(f, t)
            if not self._backlog():
                if not inbox:
                    return
                t, f = inbox.popleft()  # the line was idle: this arrival starts it
                self.qdisc.enqueue(f, t)
                self.busy_until = t
                continue
            if free > now:
                return
            frame = self.qdisc.dequeue(free)
            if frame is None:  # the AQM dropped what was left
                continue
            done = free + len(frame) * 8 / rate if rate else free
            self.busy_until = done
            delay = self.p.delay_s
            if self.p.jitter_s:
                delay += self.jitter_rng.uniform(-self.p.jitter_s, self.p.jitter_s)
            release = max(done + delay, self.last_release)
            self.last_release = release
            self.line.append((release, frame))

    def service(self, now: float) -> list[tuple[float, bytes]]:
        """(release time, frame) for every frame whose release time has come, oldest first."""
        self._serialise(now)
        out = []
        line = self.line
        while line and line[0][0] <= now:
            out.append(line.popleft())
        self.sent += len(out)
        self.sent_bytes += sum(len(f) for _, f in out)
        return out

    def next_event(self) -> float | None:
        """When service() next has something to do, None when nothing is queued or on the line."""
        times = []
        if self.line:
            times.append(self.line[0][0])
        if self.inbox or self._backlog():
            times.append(self.busy_until)
        return min(times) if times else None
