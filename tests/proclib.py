"""Stopping a child process the tests started (importable from every test directory: pytest `pythonpath`)."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, wait up to timeout, then SIGKILL; the exit code."""
    proc.terminate()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=5)
