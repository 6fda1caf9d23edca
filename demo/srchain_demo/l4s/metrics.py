"""What one L4S run (harness.run_once) measured, reduced to the numbers of issue 18's Done-when.

Times are seconds since the senders started; the first WARMUP_S are left out of every summary (both
flows start from nothing). Queue delay comes from two places:
- the discipline's own sojourn times per queue (L, C, fifo) where it keeps them (the emulated links);
- the scalable flow's one-way delay minus the configured path delay and one frame's serialisation at the
  bottleneck rate, for every bottleneck (the kernel qdiscs keep no per-packet times). It covers the
  queue the UDP flow sits in (L with DualPI2, the one FIFO otherwise) plus the emulators' own lateness.
Throughput is application bytes (TCP goodput at the receiver, UDP payload bytes received).
"""

from __future__ import annotations

import statistics
from typing import Any

WARMUP_S = 2.0
CLASSIC_TARGET_S = 0.015
UDP_FRAME_OVERHEAD = 42  # Ethernet + IPv4 + UDP headers around a scalable-flow payload


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q / 100))]


def udp_packets(run: dict[str, Any]) -> list[tuple[float, int, float, int]]:
    """(arrival t, payload bytes, queue delay s, ECN) per scalable-flow packet."""
    setup = run["setup"]
    payload = 1400
    ser = (payload + UDP_FRAME_OVERHEAD) * 8 / setup["rate_bps"]
    off = run["realtime_offset_s"] + run["start_monotonic"]
    return [(recv / 1e9 - off, payload, (recv - sent) / 1e9 - setup["delay_s"] - ser, ecn)
            for _seq, sent, recv, ecn in run["udp_recv"].get("records", [])]


def tcp_bins(run: dict[str, Any]) -> list[tuple[float, int]]:
    """(bin start t, bytes) of the classic flow's goodput, 0.1 s bins."""
    srv = run["tcp_server"]
    if not srv:
        return []
    base = srv["start_monotonic"] - run["start_monotonic"]
    return [(base + i * srv["bin_s"], n) for i, n in enumerate(srv["bytes_per_bin"])]


def throughput_series(run: dict[str, Any], bin_s: float) -> dict[str, list[tuple[float, float]]]:
    """Mbit/s per flow in bins of bin_s from t = 0 to the end of the run."""
    n = int(run["setup"]["seconds"] / bin_s)
    classic = [0.0] * n
    scalable = [0.0] * n
    for t, b in tcp_bins(run):
        if 0 <= t < n * bin_s:
            classic[int(t / bin_s)] += b
    for t, b, _d, _e in udp_packets(run):
        if 0 <= t < n * bin_s:
            scalable[int(t / bin_s)] += b
    return {"classic": [(i * bin_s, v * 8 / bin_s / 1e6) for i, v in enumerate(classic)],
            "scalable": [(i * bin_s, v * 8 / bin_s / 1e6) for i, v in enumerate(scalable)]}


def sojourns(run: dict[str, Any]) -> dict[str, list[float]]:
    """The bottleneck's own queue delays per queue after the warm-up (empty for kernel qdiscs)."""
    data = run["bottleneck_data"]
    if not data.get("sojourns"):
        return {}
    shift = data["t0_monotonic"] - run["start_monotonic"]
    return {q: [s for t, s in v if t + shift >= WARMUP_S] for q, v in data["sojourns"].items()}


def per_second(run: dict[str, Any], key: str) -> dict[str, list[tuple[float, float]]]:
    """Per-second increments of the bottleneck's cumulative counter `key` (marked, dropped) per queue."""
    data = run["bottleneck_data"]
    series = data.get("series", [])
    if not series:
        return {}
    shift = data["t0_monotonic"] - run["start_monotonic"]
    out: dict[str, list[tuple[float, float]]] = {}
    queues = {q for s in series for q in s[key]} | {q for s in series for q in s["backlog_packets"]}
    for q in sorted(queues):
        points = [(s["t"] + shift, s[key].get(q, 0)) for s in series]
        rows = []
        j = 0
        for i, (t, v) in enumerate(points):
            while points[j][0] < t - 1.0:
                j += 1
            if i > j and t >= 1.0:
                rows.append((t, (v - points[j][1]) / (t - points[j][0])))
        out[q] = rows
    return out


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    seconds = run["setup"]["seconds"]
    udp = [p for p in udp_packets(run) if p[0] >= WARMUP_S]
    owd = [d for _t, _b, d, _e in udp]
    own = sojourns(run)
    tput = throughput_series(run, 1.0)
    steady = {f: [v for t, v in rows if WARMUP_S <= t < seconds - 1] for f, rows in tput.items()}
    mean = {f: statistics.fmean(v) if v else 0.0 for f, v in steady.items()}
    low = {f: min(v) if v else 0.0 for f, v in steady.items()}
    l_src = own.get("L") or own.get("fifo")
    c_src = own.get("C") or own.get("fifo")
    l_delay = l_src if l_src is not None else owd
    c_delay = c_src if c_src is not None else owd
    source = "discipline sojourn" if own else "scalable-flow one-way delay"
    series = run["bottleneck_data"].get("series") or [{}]
    ratio = mean["classic"] / mean["scalable"] if mean["scalable"] else float("inf")
    rate_mbit = run["setup"]["rate_bps"] / 1e6
    summary = {
        "queue_delay_source": source,
        "L_delay_ms": {"p50": pct(l_delay, 50) * 1e3, "p99": pct(l_delay, 99) * 1e3, "n": len(l_delay)},
        "C_delay_ms": {"p50": pct(c_delay, 50) * 1e3, "p99": pct(c_delay, 99) * 1e3, "n": len(c_delay)},
        "udp_owd_queue_ms": {"p50": pct(owd, 50) * 1e3, "p99": pct(owd, 99) * 1e3, "n": len(owd)},
        "throughput_mbit": mean, "min_1s_mbit": low, "ratio_classic_to_scalable": ratio,
        "udp": {"received": len(udp), "ce": sum(1 for p in udp if p[3] == 3),
                "sender_lost": run["udp_send"].get("lost"), "sender_marked": run["udp_send"].get("marked")},
        "bottleneck_marked": series[-1].get("marked", {}), "bottleneck_dropped": series[-1].get("dropped", {}),
    }
    objects = [o for o in run["tcp_client"].get("objects", []) if o["t"] >= WARMUP_S]
    if objects:
        done = [o["seconds"] for o in objects if o["ok"]]
        summary["web"] = {"objects": len(objects), "completed": len(done),
                          "completion_p50_s": pct(done, 50), "completion_p99_s": pct(done, 99)}
    summary["targets"] = {
        "L_p99_le_2ms": summary["L_delay_ms"]["p99"] <= 2.0,
        "C_median_within_2x_target": 0.5 <= summary["C_delay_ms"]["p50"] / 1e3 / CLASSIC_TARGET_S <= 2.0,
        "ratio_0.5_to_2": 0.5 <= ratio <= 2.0,
        "no_starvation": min(low.values()) >= 0.01 * rate_mbit,
    }
    return summary


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The Done-when figures over all runs of one bottleneck: delay samples pooled, throughputs averaged."""
    sums = [summarise(r) for r in runs]
    l_all: list[float] = []
    c_all: list[float] = []
    for r in runs:
        own = sojourns(r)
        owd = [d for t, _b, d, _e in udp_packets(r) if t >= WARMUP_S]
        lv, cv = own.get("L") or own.get("fifo"), own.get("C") or own.get("fifo")
        l_all += lv if lv is not None else owd
        c_all += cv if cv is not None else owd
    classic = statistics.fmean(s["throughput_mbit"]["classic"] for s in sums)
    scalable = statistics.fmean(s["throughput_mbit"]["scalable"] for s in sums)
    return {"runs": len(runs), "queue_delay_source": sums[0]["queue_delay_source"],
            "L_p50_ms": pct(l_all, 50) * 1e3, "L_p99_ms": pct(l_all, 99) * 1e3,
            "C_p50_ms": pct(c_all, 50) * 1e3, "C_p99_ms": pct(c_all, 99) * 1e3,
            "udp_owd_queue_p99_ms": max(s["udp_owd_queue_ms"]["p99"] for s in sums),
            "classic_mbit": classic, "scalable_mbit": scalable,
            "ratio": classic / scalable if scalable else float("inf"),
            "min_1s_mbit": min(min(s["min_1s_mbit"].values()) for s in sums),
            "udp_ce_fraction": sum(s["udp"]["ce"] for s in sums) / max(1, sum(s["udp"]["received"] for s in sums)),
            "web_completion_p99_s": max((s["web"]["completion_p99_s"] for s in sums if "web" in s), default=None),
            "targets_met_in_runs": {k: sum(s["targets"][k] for s in sums) for k in sums[0]["targets"]},
            "per_run": sums}
