"""Queue disciplines for the link emulator (linkem): the interface and the plain tail-drop FIFO.

A discipline holds whole Ethernet frames between the emulator's receive side and its serialiser. Time is
always passed in (`now`, seconds on one monotonic clock), never read, so a discipline runs the same in a
unit test with an injected clock as under the emulator.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class QueueSample:
    """One frame's stay in a queue: when it left (s) and how long it waited (s)."""

    queue: str
    left_at: float
    sojourn: float


@dataclass
class QdiscStats:
    """Counters every discipline keeps; per-queue dicts are keyed by queue name ("fifo", "L", "C")."""

    enqueued: dict[str, int] = field(default_factory=dict)
    dequeued: dict[str, int] = field(default_factory=dict)
    dropped_full: dict[str, int] = field(default_factory=dict)  # refused at enqueue: buffer limit
    dropped_aqm: dict[str, int] = field(default_factory=dict)  # dropped by the AQM at dequeue
    marked: dict[str, int] = field(default_factory=dict)  # CE set by the AQM

    @staticmethod
    def bump(counter: dict[str, int], queue: str, n: int = 1) -> None:
        counter[queue] = counter.get(queue, 0) + n

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"enqueued": dict(self.enqueued), "dequeued": dict(self.dequeued),
                "dropped_full": dict(self.dropped_full), "dropped_aqm": dict(self.dropped_aqm),
                "marked": dict(self.marked)}


class QueueDiscipline(Protocol):
    """What the link emulator needs from a queue: take a frame, give the next one to serialise.

    `sojourns` collects one QueueSample per dequeued frame (the discipline's own queue delay, the number a
    hardware AQM would see); the emulator drains it (`sojourns.clear()`) whenever it records them.
    """

    stats: QdiscStats
    sojourns: list[QueueSample]

    def enqueue(self, frame: bytes, now: float) -> bool:
        """Queue the frame; False when it was dropped instead (the discipline counted why)."""
        ...

    def dequeue(self, now: float) -> bytes | None:
        """The next frame to send at `now`, None when nothing is left to send (AQM drops are skipped)."""
        ...

    def backlog_bytes(self) -> dict[str, int]:
        """Bytes waiting, per queue."""
        ...

    def backlog_packets(self) -> dict[str, int]:
        """Frames waiting, per queue."""
        ...


class FifoTailDrop:
    """One FIFO with a byte limit; a frame that would exceed it is dropped on arrival (like the kernel's
    bfifo), so this is the emulator's "no AQM" case."""

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes < 64:
            raise ValueError(f"fifo limit_bytes: {limit_bytes} is below one minimum frame (64 bytes)")
        self.limit = limit_bytes
        self.queue: deque[tuple[float, bytes]] = deque()
        self.bytes = 0
        self.stats = QdiscStats()
        self.sojourns: list[QueueSample] = []

    def enqueue(self, frame: bytes, now: float) -> bool:
        if self.bytes + len(frame) > self.limit:
            QdiscStats.bump(self.stats.dropped_full, "fifo")
            return False
        self.queue.append((now, frame))
        self.bytes += len(frame)
        QdiscStats.bump(self.stats.enqueued, "fifo")
        return True

    def dequeue(self, now: float) -> bytes | None:
        if not self.queue:
            return None
        arrived, frame = self.queue.popleft()
        self.bytes -= len(frame)
        QdiscStats.bump(self.stats.dequeued, "fifo")
        self.sojourns.append(QueueSample("fifo", now, now - arrived))
        return frame

    def backlog_bytes(self) -> dict[str, int]:
        return {"fifo": self.bytes}

    def backlog_packets(self) -> dict[str, int]:
        return {"fifo": len(self.queue)}
