"""An in-memory target for the apply engine and the chain service, and a clock that never sleeps.

`FakeTarget` is a switch or proxy as the engine sees it through the `Driver` protocol: tables of
entries with packet counters, batches applied all or nothing, and faults to inject (refuse a write,
become unreadable). Every write and read goes into a shared journal, so a test checks the order of work
across targets. `FakeClock` advances only when the engine sleeps.

(A uniquely named module, so `import` never picks another directory's helpers.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srchain.model.inventory import Inventory
from srchain.plan.model import DiffOp, Entry, canonical
from srchain.targets.base import NKey, TargetError

Journal = list[tuple[str, ...]]  # ("write", target, phase, op, table, key) | ("read", target)


@dataclass
class FakeClock:
    t: float = 0.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


@dataclass
class FakeTarget:
    """Live state of one target; `refuse(op) -> reason | None` refuses the batch holding that operation;
    `unreadable` makes snapshots fail; `moving(entry_key, now) -> bool` says whether an entry's counter
    still grows (traffic of the old version in flight)."""

    kind: str
    name: str
    journal: Journal
    clock: FakeClock
    table: dict[NKey, tuple[str, int]] = field(default_factory=dict)
    refuse: Callable[[DiffOp], str | None] = lambda op: None
    unreadable: bool = False
    down: bool = False
    moving: Callable[[NKey, float], bool] = lambda key, now: False

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    def contents(self) -> dict[NKey, str]:
        return {k: v[0] for k, v in self.table.items()}


class FakeDriver:
    def __init__(self, target: FakeTarget) -> None:
        self.t = target
        self.kind, self.name = target.kind, target.name

    def prepare(self, load: bool = True) -> list[str]:
        if self.t.down:
            raise TargetError(self.t.label, "connection refused", code="UNAVAILABLE")
        return []

    def norm(self, entry: Entry) -> tuple[NKey, str]:
        return (entry.table, canonical(entry.key)), entry.content

    def snapshot(self, tables: set[str]) -> dict[NKey, tuple[str, int | None]]:
        self.t.journal.append(("read", self.t.label))
        if self.t.unreadable:
            raise TargetError(self.t.label, "read timed out", code="DEADLINE_EXCEEDED")
        now = self.t.clock.now()
        for k, (content, count) in list(self.t.table.items()):
            if self.t.moving(k, now):
                self.t.table[k] = (content, count + 1)
        return {k: v for k, v in self.t.table.items() if k[0] in tables}

    def write(self, ops: list[DiffOp]) -> None:
        for i, op in enumerate(ops):  # all or nothing, like a switch's batch
            reason = self.t.refuse(op)
            if reason is not None:
                raise TargetError(self.t.label, reason, index=i, code="RESOURCE_EXHAUSTED")
        for op in ops:
            k, content = self.norm(op.entry)
            self.t.journal.append(("write", self.t.label, op.phase, op.op, op.entry.table, k[1]))
            if op.op == "delete":
                del self.t.table[k]
            else:
                self.t.table[k] = (content, 0)

    def close(self) -> None:
        pass


class FakeNetwork:
    """One FakeTarget per (kind, name), made on first use; `factory` is what Drivers takes,
    `connect` what ChainService takes."""

    def __init__(self) -> None:
        self.journal: Journal = []
        self.clock = FakeClock()
        self.targets: dict[tuple[str, str], FakeTarget] = {}

    def target(self, kind: str, name: str) -> FakeTarget:
        if (kind, name) not in self.targets:
            self.targets[(kind, name)] = FakeTarget(kind, name, self.journal, self.clock)
        return self.targets[(kind, name)]

    def factory(self, kind: str, name: str) -> FakeDriver:
        return FakeDriver(self.target(kind, name))

    def connect(self, inventory: Inventory, base: Path) -> Callable[[str, str], FakeDriver]:
        return self.factory

    def live(self) -> dict[tuple[str, str], dict[NKey, str]]:
        return {tid: t.contents() for tid, t in self.targets.items() if t.table}

    def writes(self) -> list[tuple[str, ...]]:
        return [j for j in self.journal if j[0] == "write"]


def as_live(entries: list[Entry]) -> dict[tuple[str, str], dict[NKey, str]]:
    """What FakeNetwork.live() shows when exactly `entries` are installed."""
    out: dict[tuple[str, str], dict[NKey, Any]] = {}
    for e in entries:
        out.setdefault((e.target_kind, e.target), {})[(e.table, canonical(e.key))] = e.content
    return out
