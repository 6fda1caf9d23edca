"""Validation errors that name the file, the line, the path inside the document and the reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from srchain.errors import SrchainError


@dataclass(frozen=True)
class Issue:
    file: str
    path: str  # e.g. "segments[2].proxy"; "" for the whole document
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(SrchainError):
    """A chain spec or inventory was refused; `issues` lists every reason found."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    def lines(self) -> list[str]:
        return [str(i) for i in self.issues]


def format_path(loc: Iterable[str | int]) -> str:
    """("segments", 2, "proxy") -> "segments[2].proxy"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
