"""What the apply engine needs from a target, and the error every driver raises."""

from __future__ import annotations

from typing import Any, Protocol

from srchain.errors import SrchainError
from srchain.plan.model import DiffOp, Entry

NKey = tuple[str, Any]  # (table, normalised key): how a driver matches a plan entry with a live one


class TargetError(SrchainError):
    """A target refused or did not answer. `index` is the position in the batch of the operation that
    failed, when the target said so; `landed_unknown` means the write may or may not have happened.
    Drivers raise it; the apply engine turns it into an ApplyError before it reaches a caller."""

    def __init__(self, target: str, message: str, index: int | None = None, code: str = "UNKNOWN",
                 landed_unknown: bool = False) -> None:
        super().__init__(f"{target}: {message}", target=target, code=code, reason=message)
        self.target: str = target
        self.code: str = code
        self.message = message
        self.index = index
        self.landed_unknown = landed_unknown


class Driver(Protocol):
    kind: str
    name: str

    def prepare(self, load: bool = True) -> list[str]:
        """Make sure the target runs what the entries need (switch: program loaded, when `load` and it
        has artifacts; then bound). Returns notes on what it did (e.g. 'pushed program srchain_node')."""
        ...

    def norm(self, entry: Entry) -> tuple[NKey, str]:
        """(identity, content) of a plan entry in the target's own normal form."""
        ...

    def snapshot(self, tables: set[str]) -> dict[NKey, tuple[str, int | None]]:
        """Live entries of these tables: identity -> (content, packet counter or None)."""
        ...

    def write(self, ops: list[DiffOp]) -> None:
        """Apply one batch in order; raises TargetError. Switches: all or nothing."""
        ...

    def close(self) -> None: ...


def describe(entry: Entry) -> str:
    """How an error names an entry: target, table, key."""
    from srchain.plan.model import canonical

    return f"{entry.target_kind} {entry.target}: table {entry.table}, entry {canonical(entry.key)}"
