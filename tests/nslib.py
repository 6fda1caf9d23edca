"""Network namespaces for the test labs (importable from every test directory: pytest `pythonpath`)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterable, Iterator


def sh(*args: str) -> None:
    """Run a set-up command; a failure raises CalledProcessError with its output."""
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def add_veths(ns: str, pairs: Iterable[tuple[str, str]]) -> None:
    """Veth pairs with both ends inside namespace ns (no name ever exists outside it), all up."""
    for a, b in pairs:
        sh("ip", "-n", ns, "link", "add", a, "type", "veth", "peer", "name", b)
        for name in (a, b):
            sh("ip", "-n", ns, "link", "set", name, "up")


@contextlib.contextmanager
def namespace(name: str) -> Iterator[str]:
    """Network namespace `name` (a leftover of that name is removed first), deleted on exit."""
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    sh("ip", "netns", "add", name)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
