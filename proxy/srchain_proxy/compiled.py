"""The compiled fast path: the C extension srchain_proxy._fastsr, built when srchain is installed (setup.py).

pip builds it when a C compiler and the Python headers are there and installs srchain without it
otherwise; nothing is compiled at run time. Running without it is never silent: `fast_path: auto` logs a
WARNING with the reason, `fast_path: compiled` refuses to start, and `srchain-proxy --version`, the metric
srchain_proxy_fast_path_info and GET /v1/health name the loop in use (datapath.choose_variant).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

MODULE = "srchain_proxy._fastsr"
SOURCE = Path(__file__).with_name("_fastsr.c")
HOW_TO_BUILD = ("to build it: install a C compiler and the Python headers (Debian: apt-get install gcc python3-dev) "
                "and reinstall srchain (pip install --force-reinstall --no-deps <srchain>; "
                "source tree: make .venv/.installed)")
HOW_TO_REBUILD = "to rebuild it: make .venv/.installed (or pip install --no-deps -e .)"


@dataclass(frozen=True)
class Probe:
    module: ModuleType | None
    why_not: str | None = None  # set when module is None: what is wrong, and how to fix it


@functools.cache
def probe() -> Probe:
    """Import the extension once per process and say whether it can be used."""
    try:
        module = importlib.import_module(MODULE)
    except ImportError as exc:
        return Probe(None, f"{MODULE} is not installed ({exc}); {HOW_TO_BUILD}")
    # in a source tree (editable install) the build sits next to its source: an edit since then would run
    # old C against new Python tables, so a build of another version of the source is not used
    if SOURCE.exists() and getattr(module, "SOURCE_SHA256", None) != hashlib.sha256(SOURCE.read_bytes()).hexdigest():
        return Probe(None, f"{module.__file__} was built from another version of {SOURCE}; {HOW_TO_REBUILD}")
    return Probe(module)


def load() -> ModuleType | None:
    """The compiled module, or None (then `unavailable()` says why)."""
    return probe().module


def unavailable() -> str | None:
    """Why the compiled module cannot be used, with what to do about it; None when it can."""
    return probe().why_not


def describe() -> str:
    """The SR loop `fast_path: auto` runs here, as `srchain-proxy --version` prints it."""
    mod = load()
    return f"compiled ({MODULE} from {mod.__file__})" if mod is not None else f"python ({unavailable()})"
