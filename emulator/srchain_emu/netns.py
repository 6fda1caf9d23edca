"""Network namespaces with veth pairs for data-plane tests and benches (prefix `em`, always torn down)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from typing import TypeVar

from srchain_net.netns import run_in_netns

_T = TypeVar("_T")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


class Netns:
    """`n` veth pairs inside one namespace: switch side `<ns>s<i>`, host side `<ns>h<i>`."""

    def __init__(self, n: int, tag: str = "") -> None:
        self.name = f"em{os.getpid() % 100000}{tag}"
        self.switch_ifs = [f"{self.name}s{i}" for i in range(n)]
        self.host_ifs = [f"{self.name}h{i}" for i in range(n)]

    def __enter__(self) -> Netns:
        sh("ip", "netns", "add", self.name)
        try:
            self.exec("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
            for s, h in zip(self.switch_ifs, self.host_ifs, strict=True):
                sh("ip", "-n", self.name, "link", "add", s, "type", "veth", "peer", "name", h)
                sh("ip", "-n", self.name, "link", "set", s, "up")
                sh("ip", "-n", self.name, "link", "set", h, "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=20)

    def exec(self, *args: str) -> None:
        sh("ip", "netns", "exec", self.name, *args)

    def run_inside(self, fn: Callable[[], _T]) -> _T:
        """Call fn in a thread that entered the namespace (sockets it creates stay in the namespace)."""
        return run_in_netns(self.name, fn)
