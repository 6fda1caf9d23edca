"""The local chain end to end, measured (root; builds and removes its own `sd<pid>…` namespaces).

    .venv/bin/python bench/demo_e2e.py [--runs 2] [--session-s 10] [--day2-rates 4000,6000,8000]

Per scenario run (congested port, `srchain demo --reconfigure --twin`):
- time from the gaming session's first packet (its send time, from the probe) to class 1 in the switch's
  priority register (polled every 0.2 s, so up to 0.2 s late);
- one-way delays (kernel receive timestamps) on the congested port. Baseline in the same run: the *twin*,
  the same gaming downstream (same profile and seed, same start) sent from 10.0.4.10, which no classifier
  rule matches, so it crosses the same port best effort; also the VoIP session (best effort, same period).
  Ratio = twin p99 / prioritised p99;
- loss and reordering of the gaming session (both directions, packets sent ±1 s around it) while the
  mitigation VNF is inserted live mid-session.
Then per day-2 rate: a sequence-numbered chained probe flow while the mitigation is inserted and removed
again (make-before-break both times): lost, duplicated, reordered packets, and what the apply took.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from srchain_demo.day2 import Day2Settings, run_day2
from srchain_demo.scenario import Settings, run
from srchain_demo.testbed import Testbed


def scenario_run(tmp: Path, i: int, session_s: float, port_rate_bps: int) -> dict:
    with Testbed(tmp / f"tb{i}", port_rate_bps=port_rate_bps) as tb:
        tb.apply(tb.spec())
        s = Settings(session_s=session_s, twin=True, reconfigure_at_s=session_s / 2)
        o = run(tb, s, tmp / f"run{i}", lambda *_: None, lambda *_: None)
    d = o.delays
    prio, twin = d["cloud_gaming_after"]["p99_ms"], d["cloud_gaming_twin_after"]["p99_ms"]
    voip = d["voip_after"]["p99_ms"]
    change = o.extra.get("reconfigure", {})
    return {
        "run": i, "to_prioritised_s": o.timeline["prioritised"], "class": o.classes,
        "gaming_after": d["cloud_gaming_after"], "twin_same_period": d["cloud_gaming_twin_after"],
        "voip_same_period": d["voip_after"], "background": d["background"],
        "ratio_p99_twin_over_prioritised": twin / prio if twin and prio else None,
        "ratio_p99_voip_over_prioritised": voip / prio if voip and prio else None,
        "reconfigure": {k: change.get(k) for k in ("version", "seconds", "lost", "late", "streams")},
        "queue_stats_port2": o.extra["queue_port2"], "load_avg": os.getloadavg()[0],
    }


# Day-2 modes: the live change, and two baselines without any change during the traffic (the reference chain
# throughout; the mitigation chain throughout, applied before the first probe).
MODES = {"live insert+remove": (1.5, 4.0), "baseline: reference": (None, None), "baseline: mitigation": (-2.0, None)}


def cpu_seconds(tb: Testbed) -> dict[str, float]:
    """User+system CPU seconds of each testbed process so far (`ip netns exec` execs, so the pid is the program)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for key, proc in tb.procs.items():
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[key] = (int(fields[11]) + int(fields[12])) / tick
    return out


def day2_run(tmp: Path, rate: float, mode: str) -> dict:
    insert_at, remove_at = MODES[mode]
    name = f"d2-{int(rate)}-{list(MODES).index(mode)}-{time.monotonic_ns()}"  # unique: a rate may be repeated
    with Testbed(tmp / name, port_rate_bps=400_000_000) as tb:
        tb.apply(tb.spec())
        cpu0, t0 = cpu_seconds(tb), time.monotonic()
        o = run_day2(tb, Day2Settings(rate_pps=rate, duration_s=7.0, insert_at_s=insert_at, remove_at_s=remove_at),
                     tmp / name)
        cpu1, wall = cpu_seconds(tb), time.monotonic() - t0
    # share of one core per process while the probe flow ran (the run also spans agent start-up and drain)
    cpu = {k: round((cpu1[k] - cpu0[k]) / wall, 2) for k in cpu1 if k in cpu0 and cpu1[k] > cpu0[k]}
    return {"rate_pps": rate, "mode": mode, "sent": o.sent, "lost": o.lost, "duplicates": o.duplicates,
            "late": o.late, "late_not_in_detour": o.detour_seqs["late_not_in_detour"],
            "detoured": o.detour_seqs["count"], "stacks_to_proxy": o.stacks_to_proxy,
            "stacks_from_proxy": o.stacks_from_proxy,
            "capture_drops": sum(c["kernel_drops"] for c in o.capture.values()),
            "receiver_drops": o.receiver_kernel_drops, "proxy_drops": o.proxy.get("drops"),
            "proxy_kernel_drops": o.proxy.get("kernel_drops"), "mitigation": o.mitigation,
            "applies_s": [round(a.seconds, 3) for a in o.applies], "drained": [a.drained for a in o.applies],
            "cpu_cores": cpu, "load_avg": os.getloadavg()[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--session-s", type=float, default=10.0)
    ap.add_argument("--port-rate-mbps", type=float, default=12.0)
    ap.add_argument("--day2-rates", default="4000", help="comma-separated probe rates (pps) for day-2 runs")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/demo_e2e.py needs root (network namespaces); skipped")
        return 0
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    rows, d2 = [], []
    with tempfile.TemporaryDirectory(prefix="sd-bench-") as tmp:
        for i in range(args.runs):
            rows.append(scenario_run(Path(tmp), i, args.session_s, int(args.port_rate_mbps * 1e6)))
            print(json.dumps(rows[-1]))
            time.sleep(1)
        for rate in (float(r) for r in args.day2_rates.split(",") if r):
            for mode in MODES:
                d2.append(day2_run(Path(tmp), rate, mode))
                print(json.dumps(d2[-1]))
                time.sleep(1)
    print("\nrun | first packet -> prioritised (s) | gaming p50/p99 prioritised (ms) | twin outside the chain p50/p99 "
          "(ms) | voip p50/p99 (ms) | ratio p99 twin/prio | live insert: lost / late (gaming, ±1 s)")
    for r in rows:
        g, t, v, c = r["gaming_after"], r["twin_same_period"], r["voip_same_period"], r["reconfigure"]
        ratio = r["ratio_p99_twin_over_prioritised"]
        print(f"{r['run']} | {r['to_prioritised_s']:.2f} | {g['p50_ms']:.1f} / {g['p99_ms']:.1f} | "
              f"{t['p50_ms']:.1f} / {t['p99_ms']:.1f} | {v['p50_ms']:.1f} / {v['p99_ms']:.1f} | "
              f"{ratio:.1f} | {c['lost']} / {c['late']}")
    if d2:
        print("\nday-2 rate (pps) | mode | sent | lost | duplicates | late (all detoured?) | detoured | applies (s)")
        for r in d2:
            print(f"{r['rate_pps']:.0f} | {r['mode']} | {r['sent']} | {r['lost']} | {r['duplicates']} | {r['late']} "
                  f"({r['late_not_in_detour'] == 0}) | {r['detoured']} | {r['applies_s']}")
    ok = all(r["class"]["cloud_gaming"] == 1 and r["reconfigure"]["lost"] == 0 for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
