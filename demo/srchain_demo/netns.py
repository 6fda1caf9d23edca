"""Small helpers around `ip netns`: commands, and calling Python code inside a namespace."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import TypeVar

from srchain_net import netns
from srchain_net.netns import netns_exists

_T = TypeVar("_T")
__all__ = ["TestbedError", "delete_netns", "netns_exists", "run_in_netns", "sh"]


class TestbedError(RuntimeError):
    """The testbed could not be built or a part of it stopped; the message names the part."""

    __test__ = False  # not a pytest class


def sh(*args: str, timeout: float = 20) -> str:
    res = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise TestbedError(f"{' '.join(args)}: {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout


def delete_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=20)


def run_in_netns(name: str, fn: Callable[[], _T], timeout: float = 10) -> _T:
    """`fn` called inside namespace `name` (srchain_net.netns); used to reach services that listen on the
    namespace's loopback. A call that does not finish in time is a TestbedError."""
    try:
        return netns.run_in_netns(name, fn, timeout)
    except netns.NetnsCallTimeout as exc:
        raise TestbedError(str(exc)) from None
