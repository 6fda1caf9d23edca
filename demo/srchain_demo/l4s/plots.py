"""Figures of an L4S comparison (matplotlib, Agg): queue delay CDF per queue with every bottleneck on one
figure, and per bottleneck (its first run) queue occupancy, marks/drops per second and throughput per
flow over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .metrics import WARMUP_S, per_second, sojourns, throughput_series, udp_packets


def _cdf(ax: Any, values: list[float], label: str) -> None:
    if not values:
        return
    s = sorted(v * 1e3 for v in values)
    ax.plot(s, [(i + 1) / len(s) for i in range(len(s))], label=label)


def plot_all(raw: dict[str, list[dict[str, Any]]], out: Path) -> list[Path]:
    if not raw:
        return []
    paths = []
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, runs in raw.items():
        own: dict[str, list[float]] = {}
        owd: list[float] = []
        for r in runs:
            for q, v in sojourns(r).items():
                own.setdefault(q, []).extend(v)
            owd += [d for t, _b, d, _e in udp_packets(r) if t >= WARMUP_S]
        for q, v in sorted(own.items()):
            _cdf(ax, v, f"{name} {q} (sojourn)")
        _cdf(ax, owd, f"{name} UDP one-way − path")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("queue delay (ms)")
    ax.set_ylabel("CDF")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    paths.append(out / "queue_delay_cdf.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    for title, fname in (("queue occupancy (packets)", "occupancy.png"),
                         ("marks and drops per second", "marks_drops.png"),
                         ("throughput per flow (Mbit/s, 0.5 s bins)", "throughput.png")):
        fig, axes = plt.subplots(len(raw), 1, figsize=(9, 2.6 * len(raw)), squeeze=False, sharex=True)
        for ax, (name, runs) in zip(axes[:, 0], raw.items(), strict=True):
            r = runs[0]
            if fname == "occupancy.png":
                data = r["bottleneck_data"]
                shift = data.get("t0_monotonic", r["start_monotonic"]) - r["start_monotonic"]
                queues = sorted({q for s in data.get("series", []) for q in s["backlog_packets"]})
                for q in queues:
                    ax.plot([s["t"] + shift for s in data["series"]],
                            [s["backlog_packets"].get(q, 0) for s in data["series"]], label=q)
            elif fname == "marks_drops.png":
                for key in ("marked", "dropped"):
                    for q, rows in per_second(r, key).items():
                        if any(v for _t, v in rows):
                            ax.plot([t for t, _ in rows], [v for _, v in rows], label=f"{q} {key}")
            else:
                for flow, rows in throughput_series(r, 0.5).items():
                    ax.plot([t for t, _ in rows], [v for _, v in rows], label=flow)
            ax.set_title(f"{name}: {title}", fontsize=9)
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="upper right")
        axes[-1, 0].set_xlabel("time since the senders started (s)")
        fig.tight_layout()
        paths.append(out / fname)
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths
