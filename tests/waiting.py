"""Waiting for something to become true, with a bound (importable from every test directory: pytest
`pythonpath`). One helper instead of a hand-written deadline loop per test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The awaited condition did not hold in time (an AssertionError: pytest reports it as a failure)."""


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.05, what: str = "the condition",
               ignore: tuple[type[BaseException], ...] = ()) -> T:
    """predicate()'s first truthy value, asked every interval seconds; after timeout seconds (asked once more
    at the deadline) WaitTimeout naming `what` and the last value seen. An exception of a type in `ignore`
    counts as "not yet" (and is reported as the last value); any other exception propagates at once."""
    deadline = time.monotonic() + timeout
    while True:
        last: object
        try:
            value = predicate()
        except ignore as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(f"{what}: not within {timeout:g} s; last seen: {last!r}")
        time.sleep(min(interval, left))
