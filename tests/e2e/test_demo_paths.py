"""The demo's testbed works from a relative results directory (as `make demo` runs it): every path it
writes into the generated inventory is absolute, which the inventory requires of unix: addresses."""

from __future__ import annotations

from pathlib import Path

from srchain_demo.testbed import Testbed


def test_relative_workdir_gives_absolute_paths(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    tb = Testbed(Path("results/demo-x/testbed"))
    for p in (tb.workdir, tb.inventory, tb.state_dir, tb.switch_sock, tb.proxy_sock, tb.bundle):
        assert p.is_absolute() and str(p).startswith(str(tmp_path)), p
