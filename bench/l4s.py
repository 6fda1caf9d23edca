"""L4S harness (issue 18): a classic TCP (Cubic, Not-ECT) and a scalable UDP flow (ECT(1), DCTCP/Prague-style
controller) through a 12 Mbit/s bottleneck and a 5 ms delay line, per bottleneck, side by side.

    sudo .venv/bin/python bench/l4s.py [--bottleneck fifo --bottleneck dualpi2-ref] [--seconds 30] [--runs 3]

Bottlenecks (srchain_demo.l4s.bottleneck): fifo (kernel tbf + bfifo on a bridge: no AQM), dualpi2-ref
(link emulator + reference DualPI2), kernel-dualpi2 (only where `tc … dualpi2` works; else "absent"),
fifo-emu (the emulator's own FIFO: a cross-check of the emulator against tbf). Baseline, same run: fifo
is the no-AQM case every AQM is compared with. Results JSON and plots go to results/l4s/<time>/;
docs/l4s.md says what each number means.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from srchain_demo.l4s.bottleneck import BUILDERS, BottleneckAbsent
from srchain_demo.l4s.harness import Setup, run_once
from srchain_demo.l4s.metrics import pooled
from srchain_demo.l4s.plots import plot_all

ROWS = [("L-queue delay p50 (ms)", "L_p50_ms"), ("L-queue delay p99 (ms)", "L_p99_ms"),
        ("C-queue delay p50 (ms)", "C_p50_ms"), ("C-queue delay p99 (ms)", "C_p99_ms"),
        ("UDP one-way queue p99 (ms)", "udp_owd_queue_p99_ms"), ("classic TCP (Mbit/s)", "classic_mbit"),
        ("scalable UDP (Mbit/s)", "scalable_mbit"), ("ratio classic/scalable", "ratio"),
        ("worst 1 s of a flow (Mbit/s)", "min_1s_mbit"), ("UDP packets CE-marked", "udp_ce_fraction"),
        ("web objects p99 completion (s)", "web_completion_p99_s")]


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
    for target in ("L_p99_le_2ms", "C_median_within_2x_target", "ratio_0.5_to_2", "no_starvation"):
        met = {n: f"{got[n]['targets_met_in_runs'][target]}/{got[n]['runs']} runs" for n in got}
        lines.append(f"{'target ' + target:32}" + "".join(_cell(met.get(n, "")) for n in names))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bottleneck", action="append", choices=sorted(BUILDERS),
                        help="repeatable; default: fifo, dualpi2-ref, kernel-dualpi2")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--web", action="store_true", help="classic flow: web-like objects instead of bulk")
    parser.add_argument("--out", type=Path, default=Path("results/l4s"))
    args = parser.parse_args()
    if not 3 <= args.seconds <= 120 or not 1 <= args.runs <= 10:
        print("error: --seconds must be within 3..120 and --runs within 1..10", file=sys.stderr)
        return 2
    names = args.bottleneck or ["fifo", "dualpi2-ref", "kernel-dualpi2"]
    setup = Setup(seconds=args.seconds, web=args.web)
    out = args.out / time.strftime("%Y%m%dT%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    raw: dict[str, list[dict[str, Any]]] = {}
    results: dict[str, Any] = {}
    for name in names:
        runs = []
        try:
            for i in range(args.runs):
                print(f"{name}: run {i + 1}/{args.runs} ({args.seconds:.0f} s)", flush=True)
                runs.append(run_once(name, Setup(**{**setup.__dict__, "seed": i + 1})))
        except BottleneckAbsent as exc:
            print(f"{name}: absent ({exc})", flush=True)
            results[name] = "absent"
            continue
        raw[name] = runs
        results[name] = pooled(runs)
    print(table(results))
    (out / "results.json").write_text(json.dumps({"setup": setup.__dict__, "results": results}, indent=1))
    (out / "raw.json").write_text(json.dumps(raw))
    for path in plot_all(raw, out):
        print(f"plot: {path}")
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
