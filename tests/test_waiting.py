"""tests/waiting.py: wait_until returns the first truthy value, or fails naming what it waited for."""

from __future__ import annotations

import itertools
import time

import pytest

from waiting import WaitTimeout, wait_until


def test_returns_the_first_truthy_value_and_asks_no_more() -> None:
    values = iter([0, None, {}, {"ready": True}, {"later": 1}])
    assert wait_until(lambda: next(values), timeout=5, interval=0.001) == {"ready": True}
    assert next(values) == {"later": 1}


def test_a_timeout_names_what_and_the_last_value_seen_after_the_full_timeout() -> None:
    values = itertools.chain([None, 0, ""], itertools.repeat({}))
    start = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"^proxy counters settle: not within 0.2 s; last seen: \{\}$"):
        wait_until(lambda: next(values), timeout=0.2, interval=0.01, what="proxy counters settle")
    assert 0.2 <= time.monotonic() - start < 1.0


def test_ignored_exceptions_mean_not_yet_and_the_last_one_is_reported() -> None:
    calls = itertools.count()

    def connect() -> str:
        if next(calls) < 3:
            raise ConnectionRefusedError("not listening yet")
        return "connected"

    assert wait_until(connect, timeout=5, interval=0.001, ignore=(OSError,)) == "connected"

    def never() -> str:
        raise FileNotFoundError("no socket")

    seen = r"^the socket: not within 0.05 s; last seen: FileNotFoundError\('no socket'\)$"
    with pytest.raises(WaitTimeout, match=seen):
        wait_until(never, timeout=0.05, interval=0.01, what="the socket", ignore=(OSError,))


def test_other_exceptions_propagate_at_once() -> None:
    def crashed() -> bool:
        raise RuntimeError("proxy exited 1")

    start = time.monotonic()
    with pytest.raises(RuntimeError, match="proxy exited 1"):
        wait_until(crashed, timeout=10, ignore=(OSError,))
    assert time.monotonic() - start < 1.0


def test_a_wait_timeout_is_an_assertion_failure() -> None:
    assert issubclass(WaitTimeout, AssertionError)
