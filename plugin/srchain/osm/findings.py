"""What a validation pass reports: one finding per broken rule, naming file, path and rule."""

from __future__ import annotations

from dataclasses import dataclass

from srchain.errors import SrchainError


@dataclass(frozen=True)
class Finding:
    file: str  # the descriptor, package or charm file the problem is in
    path: str  # where inside it, e.g. "vnfd.df[default-df].vdu-profile[vm].id"
    rule: str  # stable rule id, e.g. "vnfd.vdu-profile"; tests and docs refer to it
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: [{self.rule}] {self.message}"


class OsmToolError(SrchainError):
    """An environment or usage problem (no YANG, unreadable file): not a finding about a descriptor."""
