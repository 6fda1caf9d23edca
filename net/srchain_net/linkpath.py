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
        self.pending_since: float | None = None  # earliest time the queue had a frame the line has not taken
        self.line: deque[tuple[float, bytes]] = deque()  # (release time, frame), release times ascending
        self.last_release = 0.0
        self.arrived = 0
        self.lost = 0
        self.sent = 0
        self.sent_bytes = 0

    def arrive(self, frame: bytes, now: float) -> None:
        self.arrived += 1
        if self.p.loss and self.loss_rng.random() < self.p.loss:
            self.lost += 1
            return
        if self.qdisc.enqueue(frame, now) and self.pending_since is None:
            self.pending_since = now

    def _serialise(self, now: float) -> None:
        """Move frames from the discipline to the delay line while the line has been free before `now`.
        A frame starts when both the line was free and the frame was waiting, not when we got round to it,
        so a late loop does not stretch the line's timing."""
        rate = self.p.rate_bps
        while self.pending_since is not None:
            start = max(self.busy_until, self.pending_since)
            if start > now:
                return
            frame = self.qdisc.dequeue(start)
            if frame is None:  # empty (or the AQM dropped what was left)
                self.pending_since = None
                return
            done = start + len(frame) * 8 / rate if rate else start
            self.busy_until = done
            # the next frame, if any, was already waiting when this one finished
            self.pending_since = done if sum(self.qdisc.backlog_packets().values()) else None
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
        if self.pending_since is not None:
            times.append(max(self.busy_until, self.pending_since))
        return min(times) if times else None
