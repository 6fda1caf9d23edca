"""Shared by the VNF service tests: a service daemon running in a thread for the length of a `with`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from srchain_vnfs.service import Daemon


@contextmanager
def running(daemon: Daemon) -> Iterator[Daemon]:
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop, ready), daemon=True)
    thread.start()
    try:
        assert ready.wait(5), "service did not start"
        yield daemon
    finally:
        stop.set()
        thread.join(5)
        assert not thread.is_alive()
