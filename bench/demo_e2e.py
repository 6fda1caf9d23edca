"""The local chain end to end, measured (root; builds and removes its own `sd<pid>…` namespaces).

    .venv/bin/python bench/demo_e2e.py [--runs 2] [--session-s 10]

Per run: time from the gaming session's first packet (its send time, from the probe) to the moment the
switch's priority register holds class 1 for the session (polled every 0.2 s, so up to 0.2 s late), and
one-way delays (kernel receive timestamps) on the congested port. The baseline in the same run is the
best-effort treatment the gaming flow gets without the chain's decision: the VoIP session and the
background load crossing the same shaped port during the same period, and the gaming flow's own packets
sent before its decision landed (few, since detection is fast). Ratio = baseline p99 / prioritised p99.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from srchain.demo.scenario import Settings, run
from srchain.demo.testbed import REPO, Testbed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--session-s", type=float, default=10.0)
    ap.add_argument("--port-rate-mbps", type=float, default=12.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/demo_e2e.py needs root (network namespaces); skipped")
        return 0
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sd-bench-") as tmp:
        for i in range(args.runs):
            with Testbed(Path(tmp) / f"tb{i}", port_rate_bps=int(args.port_rate_mbps * 1e6)) as tb:
                tb.apply(REPO / "examples" / "cloud-gaming.yaml")
                o = run(tb, Settings(session_s=args.session_s), Path(tmp) / f"run{i}", lambda *_: None,
                        lambda *_: None)  # fmt: skip
            d = o.delays
            base = d["voip_after"]["p99_ms"]
            prio = d["cloud_gaming_after"]["p99_ms"]
            row = {
                "run": i, "to_prioritised_s": o.timeline["prioritised"], "class": o.classes,
                "gaming_after": d["cloud_gaming_after"], "gaming_before": d["cloud_gaming_before"],
                "voip_same_period": d["voip_after"], "background": d["background"],
                "ratio_p99_besteffort_over_prioritised": (base / prio) if base and prio else None,
                "queue_stats_port2": o.extra["queue_port2"], "load_avg": os.getloadavg()[0],
            }  # fmt: skip
            rows.append(row)
            print(json.dumps(row))
            time.sleep(1)
    print("\nrun | first packet -> prioritised (s) | gaming p50/p99 prioritised (ms) | best-effort voip p50/p99 (ms) "
          "| background p50/p99 (ms) | ratio p99")  # fmt: skip
    for r in rows:
        g, v, b = r["gaming_after"], r["voip_same_period"], r["background"]
        print(f"{r['run']} | {r['to_prioritised_s']:.2f} | {g['p50_ms']:.1f} / {g['p99_ms']:.1f} | "
              f"{v['p50_ms']:.1f} / {v['p99_ms']:.1f} | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} | "
              f"{r['ratio_p99_besteffort_over_prioritised']:.1f}")  # fmt: skip
    ok = all(r["class"]["cloud_gaming"] == 1 for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
