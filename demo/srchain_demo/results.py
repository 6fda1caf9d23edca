"""Writing a demo run: results.json and the two PNG plots (delay CDF before/after, queue delay over time)."""

from __future__ import annotations

import json
from pathlib import Path

from .scenario import Outcome


def write(outcome: Outcome, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.json"]
    written[0].write_text(json.dumps(outcome.to_json(), indent=1))

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, values in (("before prioritisation", outcome.gaming_before_ms),
                          ("after prioritisation", outcome.gaming_after_ms)):
        if values:
            xs = sorted(values)
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax.step(xs, ys, where="post", label=f"{label} (n={len(xs)})")
    ax.set_xscale("log")
    ax.set_xlabel("one-way delay of the gaming flow (ms, log scale)")
    ax.set_ylabel("CDF")
    ax.set_title("Cloud-gaming downstream one-way delay, congested port")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = out_dir / "delay_cdf.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ts = [r["t"] for r in outcome.queue_series]
    for q, name in ((0, "queue 0 (best effort)"), (7, "queue 7 (prioritised)")):
        ax.plot(ts, [r[f"q{q}_delay_ms"] for r in outcome.queue_series], label=name)
    prio = outcome.timeline.get("prioritised")
    if prio is not None:
        ax.axvline(prio, color="grey", linestyle="--", label="gaming session prioritised")
    ax.set_xlabel("time since the gaming session started (s)")
    ax.set_ylabel("mean queueing delay per interval (ms)")
    ax.set_title("Shaped egress port toward the gaming client (switch queue_stats)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    path = out_dir / "queue_depth.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written
