"""The optional compiled fast path: _fastsr.c built with the system C compiler on first use, then cached.

Nothing to install beyond a C compiler and the Python headers (Debian: gcc, python3-dev; both in
scripts/bootstrap.sh). The shared object is cached under $SRCHAIN_PROXY_CACHE, else
$XDG_CACHE_HOME/srchain-proxy, else ~/.cache/srchain-proxy, named after a hash of the source and the
interpreter, so an edited source or another Python rebuilds. The directory must be ours and not writable by
others (we load code from it). When anything is missing the proxy runs the pure-Python loop and says why.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_fastsr.c")
_loaded: dict[str, ModuleType | str] = {}  # "module" -> module, or "error" -> why it is unavailable


def cache_dir() -> Path:
    env = os.environ.get("SRCHAIN_PROXY_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "srchain-proxy"


def _check_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise RuntimeError(f"{path} is not owned by us or is writable by others; refusing to load code from it")


def _target() -> Path:
    tag = hashlib.sha256(SOURCE.read_bytes() + sys.version.encode() + sys.executable.encode()).hexdigest()[:16]
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return cache_dir() / f"_fastsr-{tag}{suffix}"


def build(target: Path) -> None:
    include = sysconfig.get_paths()["include"]
    if not Path(include, "Python.h").exists():
        raise RuntimeError(f"Python headers not found in {include} (Debian: apt-get install python3-dev)")
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise RuntimeError("no C compiler (Debian: apt-get install gcc)")
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        cmd = [cc, "-O2", "-shared", "-fPIC", "-fno-strict-aliasing", "-Wall", f"-I{include}", str(SOURCE),
               "-o", tmp]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()[-800:]}")
        os.replace(tmp, target)  # atomic: a concurrent build by another process is harmless
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load() -> ModuleType | None:
    """The compiled module, building it if needed; None (and `unavailable()` says why) when it cannot be."""
    loaded = _loaded.get("module")
    if isinstance(loaded, ModuleType):
        return loaded
    if "error" in _loaded:
        return None
    try:
        _check_dir(cache_dir())
        target = _target()
        if not target.exists():
            log.info("building the compiled fast path into %s", target)
            build(target)
        spec = importlib.util.spec_from_file_location("_fastsr", target)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {target}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (OSError, RuntimeError, ImportError, subprocess.SubprocessError) as exc:
        _loaded["error"] = str(exc)
        log.warning("compiled fast path unavailable, using the pure-Python loop: %s", exc)
        return None
    _loaded["module"] = module
    return module


def unavailable() -> str | None:
    """Why the compiled fast path is not in use (after load() returned None), else None."""
    err = _loaded.get("error")
    return err if isinstance(err, str) else None
