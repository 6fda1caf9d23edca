"""Network namespaces with veth pairs for data-plane tests and benches (prefix `em`, always torn down)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


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
        box: dict[str, object] = {}

        def target() -> None:
            fd = os.open(f"/var/run/netns/{self.name}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
                box["value"] = fn()
            except BaseException as exc:  # handed back to the caller
                box["error"] = exc
            finally:
                os.close(fd)

        t = threading.Thread(target=target)
        t.start()
        t.join(timeout=20)
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]
