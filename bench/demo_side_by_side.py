"""The SR-MPLS and SRv6 demo runs side by side, from their results.json (docs/demo.md "Over SRv6").

    .venv/bin/python bench/demo_side_by_side.py [--plot FILE.png] [RESULTS_ROOT | RUN_DIR ...]

With a results root (default `results`), the newest `demo-<time>/` and `demo-srv6-<time>/` in it; with run
directories, those. Prints one markdown row per run: data plane, first gaming packet -> prioritised, the
prioritised gaming flow's p50 / p99 against best-effort VoIP's in the same period (the ratio of p99s and of
p50s), gaming packets lost of those sent, feature reports, decisions, classes. `--plot` also draws the
prioritised gaming flow's delay CDF of every run on one chart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def newest(root: Path) -> list[Path]:
    runs = []
    for pattern in ("demo-2*", "demo-srv6-*"):
        found = sorted(p for p in root.glob(pattern) if (p / "results.json").exists())
        runs += found[-1:]
    return runs


def row(run: Path) -> str:
    o: dict[str, Any] = json.loads((run / "results.json").read_text())
    d = o["delays"]
    g, v, all_g = d["cloud_gaming_after"], d["voip_after"], d["cloud_gaming"]
    prio = o["timeline"].get("prioritised")
    ratio = (f"{v['p99_ms'] / g['p99_ms']:.1f} / {v['p50_ms'] / g['p50_ms']:.1f}"
             if g["p99_ms"] and g["p50_ms"] and v["p99_ms"] else "–")
    return (f"| {o['settings'].get('dataplane', 'sr-mpls')} | {run.name} | "
            f"{'–' if prio is None else f'{prio:.2f} s'} | {g['p50_ms']:.1f} / {g['p99_ms']:.1f} ms | "
            f"{v['p50_ms']:.1f} / {v['p99_ms']:.1f} ms | {ratio} | {all_g['lost']} of {all_g['expected']} | "
            f"{o['switch']['reports_sent']} | {o['switch']['decisions_accepted']} | {o['classes']} |")


def plot(runs: list[Path], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for run in runs:
        o: dict[str, Any] = json.loads((run / "results.json").read_text())
        plane = o["settings"].get("dataplane", "sr-mpls")
        xs = sorted(o["gaming_delay_samples"]["after_ms"])
        if xs:
            ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post",
                    label=f"{plane} {run.name}: gaming, prioritised (n={len(xs)})")
    ax.set_xscale("log")
    ax.set_xlabel("one-way delay of the gaming flow after prioritisation (ms, log scale)")
    ax.set_ylabel("CDF")
    ax.set_title("The reference chain over SR-MPLS and SRv6: prioritised gaming flow")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(args: list[str]) -> int:
    out: Path | None = None
    if args[:1] == ["--plot"]:
        if len(args) < 2:
            print("--plot needs a file name", file=sys.stderr)
            return 2
        out, args = Path(args[1]), args[2:]
    paths = [Path(a) for a in args] or [Path("results")]
    runs = [r for p in paths for r in ((p,) if (p / "results.json").exists() else newest(p))]
    if not runs:
        print(f"no demo runs (results.json) under {', '.join(map(str, paths))}", file=sys.stderr)
        return 1
    print("| data plane | run | first packet → prioritised | gaming p50 / p99 (prioritised) | voip p50 / p99 "
          "(best effort, same period) | ratio p99 / p50 | gaming lost | reports | decisions | classes |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        print(row(run))
    if out is not None:
        plot(runs, out)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
