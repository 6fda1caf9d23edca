"""What a test needs from the machine (importable from every test directory: pytest `pythonpath`).

Locally a test whose need is missing is skipped with the reason. Under CI (`CI=true` or `CI=1`, which
`.ci/run` sets) it fails instead: CI runs as root precisely so that no test is skipped there, and a
silently skipped test would let CI pass without running it. Tests that need network namespaces carry the
`netns` marker; tests/conftest.py checks it before each such test.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

NETNS_NEEDS = "needs root and the `ip` tool for network namespaces, veth pairs and AF_PACKET sockets"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def missing(reason: str) -> NoReturn:
    """Skip the running test with reason, or fail it under CI."""
    if in_ci():
        pytest.fail(f"{reason}; CI={os.environ['CI']} runs every test, so it must not be skipped", pytrace=False)
    pytest.skip(reason)


def netns_unavailable() -> str | None:
    """Why this process cannot build a network-namespace lab, else None."""
    if os.geteuid() != 0:
        return f"{NETNS_NEEDS} (running as uid {os.geteuid()})"
    if shutil.which("ip") is None:
        return f"{NETNS_NEEDS} (no `ip` on PATH)"
    return None
