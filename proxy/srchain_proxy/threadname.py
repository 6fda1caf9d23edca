"""Kernel-visible thread names (top -H, /proc/<pid>/task/*/comm): Python's thread names stay inside Python."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)

DATAPATH_COMM = "srchain-dp"  # the data-path thread's kernel name (top -H, /proc/<pid>/task/*/comm)


def name_thread(name: str) -> None:
    """Give the calling thread a kernel-visible name (Python's thread names stay inside Python)."""
    try:
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_text(name[:15])
    except OSError as exc:
        log.debug("cannot name thread %s: %s", name, exc)
