"""The BF Runtime client's one exception type (shared by the client and the schema it parses)."""

from __future__ import annotations

from srchain.errors import SrchainError


class BfrtError(SrchainError):
    """A refused or failed call; `code` is the gRPC status name (UNAVAILABLE, ALREADY_EXISTS, ...)."""

    def __init__(self, message: str, code: str = "UNKNOWN") -> None:
        super().__init__(message, code=code)
        self.code: str = code
