"""Small helpers around `ip netns`: commands, and calling Python code inside a namespace."""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class TestbedError(RuntimeError):
    """The testbed could not be built or a part of it stopped; the message names the part."""

    __test__ = False  # not a pytest class


def sh(*args: str, timeout: float = 20) -> str:
    res = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise TestbedError(f"{' '.join(args)}: {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout


def netns_exists(name: str) -> bool:
    return os.path.exists(f"/var/run/netns/{name}")


def delete_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=20)


def run_in_netns(name: str, fn: Callable[[], _T], timeout: float = 10) -> _T:
    """Call `fn` in a thread that entered namespace `name` (only that thread moves; sockets it opens stay
    in the namespace). Used to reach services that listen on the namespace's loopback."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
        except OSError as exc:
            box["error"] = exc
            return
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {name} failed")
            box["value"] = fn()
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc
        finally:
            os.close(fd)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TestbedError(f"call inside namespace {name} did not finish within {timeout} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
