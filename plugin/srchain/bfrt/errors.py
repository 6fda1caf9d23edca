"""The BF Runtime client's one exception type (shared by the client and the schema it parses)."""

from __future__ import annotations


class BfrtError(Exception):
    """A refused or failed call; `code` is the gRPC status name (UNAVAILABLE, ALREADY_EXISTS, ...)."""

    def __init__(self, message: str, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.code = code
