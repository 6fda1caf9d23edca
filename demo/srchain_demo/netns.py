"""Small helpers around `ip netns`: commands, and calling Python code inside a namespace."""

from __future__ import annotations

import os
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


def cpu_mask(cpus: set[int]) -> str:
    """A sysfs CPU bitmap (hex, a comma between 32-bit groups), e.g. {0, 1} -> "3"."""
    bits = sum(1 << c for c in cpus)
    groups = []
    while True:
        groups.append(f"{bits & 0xFFFFFFFF:08x}")
        bits >>= 32
        if not bits:
            break
    return ",".join(reversed(groups)).lstrip("0") or "0"


def keep_flows_on_one_cpu(ns: str, ifname: str) -> None:
    """Receive packet steering (RPS) over every CPU on a veth end, so the kernel queues each flow's frames on
    one CPU chosen by the flow hash. Without it a frame is queued on the backlog of whichever CPU the sender
    ran on: when one CPU's backlog waits for ksoftirqd (a loaded host) and the sending process moves to the
    other CPU, the later frames overtake the earlier ones, and a chain of Python forwarders can reorder a
    flow that none of them reorders."""
    mask = cpu_mask(os.sched_getaffinity(0))
    sh("ip", "netns", "exec", ns, "sh", "-c", f"echo {mask} > /sys/class/net/{ifname}/queues/rx-0/rps_cpus")


def delete_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=20)


def run_in_netns(name: str, fn: Callable[[], _T], timeout: float = 10) -> _T:
    """`fn` called inside namespace `name` (srchain_net.netns); used to reach services that listen on the
    namespace's loopback. A call that does not finish in time is a TestbedError."""
    try:
        return netns.run_in_netns(name, fn, timeout)
    except netns.NetnsCallTimeout as exc:
        raise TestbedError(str(exc)) from None
