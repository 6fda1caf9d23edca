"""The SR proxy's compiled fast path (srchain_proxy._fastsr), the one thing pyproject.toml cannot declare.

Built at install time when a C compiler and the Python headers are there (Debian: gcc, python3-dev). By
default it is optional: without them srchain still installs, this build prints why the extension was
skipped, and the proxy says so at start (`fast_path: auto` logs a warning, `fast_path: compiled` refuses
to start, `srchain-proxy --version` shows the active loop). SRCHAIN_FASTSR=required makes a failed build
fail the install (scripts/bootstrap.sh and images that ship the proxy set it).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE = "proxy/srchain_proxy/_fastsr.c"  # relative, as setuptools wants it
SOURCE_SHA256 = hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()
REQUIRED = os.environ.get("SRCHAIN_FASTSR", "optional") == "required"


class BuildFastPath(build_ext):
    """build_ext that explains a skipped optional extension in words an operator can act on."""

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # compiler missing or failing: setuptools' own errors have no common base
            if not ext.optional:
                raise
            why = str(exc) if len(str(exc)) < 200 else f"{str(exc)[:200]}..."
            print(f"\n*** srchain: {ext.name} NOT built ({why}).\n"
                  "*** The SR proxy will run its pure-Python loop (several times slower); `fast_path: compiled`\n"
                  "*** refuses to start. To build it: install a C compiler and the Python headers\n"
                  "*** (Debian: apt-get install gcc python3-dev), then reinstall srchain.\n", file=sys.stderr)


setup(
    ext_modules=[Extension(
        "srchain_proxy._fastsr", [SOURCE], optional=not REQUIRED,
        extra_compile_args=["-O2", "-fno-strict-aliasing"],
        # the loader compares this with the source next to it: a stale build in a source tree is refused
        define_macros=[("FASTSR_SOURCE_SHA256", f'"{SOURCE_SHA256}"')],
    )],
    cmdclass={"build_ext": BuildFastPath},
)
