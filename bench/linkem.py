"""Link emulator accuracy: configured vs measured one-way delay, rate and loss, at a few settings.

    sudo .venv/bin/python bench/linkem.py [--probes 400] [--json results/linkem/linkem.json]

Each setting gets a fresh `snd → linkem → rcv` line of namespaces (srchain_demo.l4s.linkcheck):
- delay: paced UDP probes (200-byte payload, 2 ms apart: no queue builds); error = measured one-way delay
  (sender's timestamp in the payload, the kernel's receive timestamp) − configured delay − one frame's
  serialisation; mean, p50, p99 of it;
- rate: a back-to-back train of 1400-byte probes; receive rate between the first and last arrival;
- loss: paced probes at loss 1 %, seed 7: counted, and the count the seed gives.
Baseline, same run: the same delay probes through a kernel bridge (no emulator): the path's own one-way
delay, so the emulator's overhead is the 0 ms row minus that floor.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

from srchain_demo.l4s.linkcheck import bridge_trial, trial
from srchain_net.linkpath import LinkParams


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=400, help="probes per delay measurement")
    parser.add_argument("--json", type=Path, default=Path("results/linkem/linkem.json"))
    args = parser.parse_args()
    floor = sorted(a.delay_s for a in bridge_trial("l4st-bb", args.probes, 200, 0.002))
    base = {"p50_ms": statistics.median(floor) * 1e3, "p99_ms": floor[int(len(floor) * 0.99)] * 1e3}
    rows = []
    for rate in (12e6, 100e6):
        for delay in (0.0, 0.005, 0.040):
            params = LinkParams(delay_s=delay, rate_bps=rate)
            d = trial("l4st-bd", params, args.probes, 200, 0.002).summary()
            burst = 600 if rate < 50e6 else 2000  # < 1 MiB FIFO: no tail drop in the train
            r = trial("l4st-br", params, burst, 1400, 0.0)
            rows.append({**d, "measured_rate_mbit": r.rate_bps() / 1e6, "rate_train_received": len(r.arrivals),
                         "rate_train_sent": burst})
    lossy = trial("l4st-bl", LinkParams(loss=0.01, seed=7), 2000, 100, 0.0005)
    rng = random.Random(7)
    loss = {"configured": 0.01, "sent": 2000, "received": len(lossy.arrivals),
            "lost_by_emulator": lossy.report["forward"]["lost"],
            "expected_from_seed": sum(rng.random() < 0.01 for _ in range(2000))}
    print(f"baseline (kernel bridge, no emulator): one-way p50 {base['p50_ms']:.3f} ms, p99 {base['p99_ms']:.3f} ms")
    print(f"{'rate Mbit/s':>11} {'delay ms':>8} | {'err mean':>8} {'p50':>7} {'p99':>7} {'min':>7} ms |"
          f" {'late p99':>8} ms | {'rate meas.':>10} {'ratio':>6}")
    for r in rows:
        e = r["delay_error_ms"]
        print(f"{r['rate_mbit']:>11.0f} {r['delay_ms']:>8.0f} | {e['mean']:>8.3f} {e['p50']:>7.3f} {e['p99']:>7.3f}"
              f" {e['min']:>7.3f}    | {r['emulator_lateness_ms']['p99']:>8.3f}    |"
              f" {r['measured_rate_mbit']:>10.3f} {r['measured_rate_mbit'] / r['rate_mbit']:>6.4f}")
    print(f"loss 1 %, seed 7, 2000 probes: emulator dropped {loss['lost_by_emulator']}, the seed gives "
          f"{loss['expected_from_seed']}, received {loss['received']}")
    if rows and base["p50_ms"] > 0:
        zero = next(r for r in rows if r["delay_ms"] == 0 and r["rate_mbit"] == 100)
        overhead = zero["delay_error_ms"]["p50"]
        print(f"emulator overhead at 0 ms / 100 Mbit/s, p50 error {overhead:.3f} ms "
              f"= {overhead / base['p50_ms']:.1f}x the bridge path's one-way p50")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"baseline_bridge": base, "settings": rows, "loss": loss}, indent=1))
    print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
