"""Front-end errors that always name the original source file and line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Loc:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NOLOC = Loc("<builtin>", 0)


class P4Error(Exception):
    """A compile-time error: `file:line: message` (exactly what `srchain p4 check` prints)."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(f"{loc}: {message}")
        self.loc = loc
        self.message = message
