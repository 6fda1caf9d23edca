"""The one root of every error the srchain library raises for an expected failure.

An expected failure (a refused spec, an unreachable switch, an entry a target refused, a drain that
could not be read...) is a `SrchainError`: its text is phrased for the operator, so callers print it
(`srchain` prints one `error: ...` line per problem and exits non-zero) or hand it on (the charms make
it the action's failure) and never show a traceback. Anything else is a bug.

Where a failure concerns one entry of one target, the error also says which, as data: `target`
("switch s1", "proxy px1"), `table`, `entry` (its key, canonical JSON), `code` (the target's own status,
e.g. the gRPC status name) and `reason` (the target's own words), so a program can act on it without
parsing the message.
"""

from __future__ import annotations

from typing import TypedDict


class Details(TypedDict):
    target: str | None
    table: str | None
    entry: str | None
    code: str | None
    reason: str | None


class SrchainError(Exception):
    def __init__(self, message: str = "", *, target: str | None = None, table: str | None = None,
                 entry: str | None = None, code: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.target = target
        self.table = table
        self.entry = entry
        self.code = code
        self.reason = message if reason is None else reason

    def details(self) -> Details:
        """The structured part, to carry over into an error that adds context."""
        return {"target": self.target, "table": self.table, "entry": self.entry, "code": self.code,
                "reason": self.reason}

    def lines(self) -> list[str]:
        """One line per problem, as the operator reads them."""
        return [line for line in str(self).splitlines() if line.strip()] or [type(self).__name__]
