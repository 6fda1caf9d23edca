"""Calling Python code inside a network namespace: setns(2) in a short-lived thread, so only that thread
moves and sockets it opens stay in the namespace (the one copy every room and test uses)."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"


class NetnsCallTimeout(TimeoutError):
    """The call inside the namespace did not finish in time (not a timeout raised by the call itself)."""


def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def netns_exists(name: str) -> bool:
    return os.path.exists(netns_path(name))


def enter_netns(name: str) -> None:
    """Move the calling thread into namespace `name` (OSError naming it when that fails)."""
    fd = os.open(netns_path(name), os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


def run_in_netns(name: str, fn: Callable[[], T], timeout: float | None = 20) -> T:
    """fn() called in a thread that entered namespace `name`; its result or its exception comes back.
    NetnsCallTimeout when it has not finished within `timeout` seconds (None: wait for it)."""
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            enter_netns(name)
            results.append(fn())
        except BaseException as exc:  # handed back to the caller
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True, name=f"netns-{name}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise NetnsCallTimeout(f"call inside namespace {name} did not finish within {timeout} s")
    if errors:
        raise errors[0]
    return results[0]
