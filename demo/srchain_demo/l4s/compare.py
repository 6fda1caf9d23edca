"""Bottlenecks side by side: run each `runs` times, pool the figures, print one table, write results JSON
and plots (bench/l4s.py and `srchain demo --scenario l4s` both call compare())."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bottleneck import BottleneckAbsent
from .harness import Setup, run_once
from .metrics import pooled
from .plots import plot_all

DEFAULT_BOTTLENECKS = ("fifo", "dualpi2-ref", "kernel-dualpi2")
ROWS = [("L-queue delay p50 (ms)", "L_p50_ms"), ("L-queue delay p99 (ms)", "L_p99_ms"),
        ("C-queue delay p50 (ms)", "C_p50_ms"), ("C-queue delay p99 (ms)", "C_p99_ms"),
        ("UDP one-way queue p99 (ms)", "udp_owd_queue_p99_ms"), ("classic TCP (Mbit/s)", "classic_mbit"),
        ("scalable UDP (Mbit/s)", "scalable_mbit"), ("ratio classic/scalable", "ratio"),
        ("worst 1 s of a flow (Mbit/s)", "min_1s_mbit"), ("UDP packets CE-marked", "udp_ce_fraction"),
        ("web objects p99 completion (s)", "web_completion_p99_s")]
TARGETS = ("L_p99_le_2ms", "C_median_within_2x_target", "ratio_0.5_to_2", "no_starvation")


def _cell(v: Any) -> str:
    if isinstance(v, float) and not math.isnan(v):
        return f"{v:>16.3f}"
    return f"{'—' if v is None else str(v)[:15]:>16}"


def table(results: dict[str, Any]) -> str:
    """The pooled figures per bottleneck side by side; an absent bottleneck shows "absent"."""
    names = list(results)
    got = {n: r for n, r in results.items() if isinstance(r, dict)}
    lines = [f"{'':32}" + "".join(f"{n:>16}" for n in names)]
    for label, key in ROWS:
        lines.append(f"{label:32}" + "".join(_cell(got[n].get(key) if n in got else results[n]) for n in names))
    lines.append(f"{'queue delay from':32}" + "".join(_cell(got[n]["queue_delay_source"] if n in got else "")
                                                       for n in names))
    for target in TARGETS:
        met = {n: f"{got[n]['targets_met_in_runs'][target]}/{got[n]['runs']} runs" for n in got}
        lines.append(f"{'target ' + target:32}" + "".join(_cell(met.get(n, "")) for n in names))
    return "\n".join(lines)


def compare(names: list[str], setup: Setup, runs: int, out_root: Path,
            echo: Callable[[str], None] = print) -> Path:
    """Run, print the table, write results.json, raw.json and plots under out_root/<time>/; that folder."""
    out = out_root / time.strftime("%Y%m%dT%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    raw: dict[str, list[dict[str, Any]]] = {}
    results: dict[str, Any] = {}
    for name in names:
        done = []
        try:
            for i in range(runs):
                echo(f"{name}: run {i + 1}/{runs} ({setup.seconds:.0f} s)")
                done.append(run_once(name, Setup(**{**setup.__dict__, "seed": i + 1})))
        except BottleneckAbsent as exc:
            echo(f"{name}: absent ({exc})")
            results[name] = "absent"
            continue
        raw[name] = done
        results[name] = pooled(done)
    echo(table(results))
    (out / "results.json").write_text(json.dumps({"setup": setup.__dict__, "results": results}, indent=1))
    (out / "raw.json").write_text(json.dumps(raw))
    for path in plot_all(raw, out):
        echo(f"plot: {path}")
    echo(f"results: {out / 'results.json'}")
    return out
