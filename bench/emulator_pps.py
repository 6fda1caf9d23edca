"""Emulated Tofino: packets/s through a 5-table TNA program on one core, and program load time.

    .venv/bin/python bench/emulator_pps.py [--seconds 3]

Baseline (same run): the same frames through a pass-through program (parser + deparser, no tables),
so the ratio shows what the five tables cost on top of the fixed per-packet work.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from srchain_emu.interp.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
P4 = ROOT / "tests" / "emulator" / "p4"


def frame(size: int, i: int) -> bytes:
    pkt = Ether(dst="00:00:00:00:00:aa", src="00:00:00:00:00:01") / IP(
        src=f"10.0.{i % 200}.1", dst=f"10.1.{i % 50}.9", ttl=64
    ) / UDP(sport=1000 + i, dport=80)
    raw = pkt.build()
    return raw + bytes(max(0, size - len(raw)))


def setup_five(p: Pipeline) -> None:
    p.table("port_bd").insert([1], "SwitchIngress.set_bd", {"bd": 10})
    p.table("dmac_check").insert([10, 0xAA], "NoAction", {})
    route = p.table("route")
    for n in range(50):
        route.insert([(0x0A010000 | (n << 8), 24)], "SwitchIngress.set_nexthop", {"nexthop": n})
    route.insert([(0x0A000000, 8)], "SwitchIngress.set_nexthop", {"nexthop": 999})
    nh = p.table("nexthop")
    for n in range(50):
        nh.insert([n], "SwitchIngress.forward", {"port": 2 + n % 4, "dmac": 0x020000000000 + n})
    acl = p.table("acl")
    for n in range(20):
        acl.insert([(0x0B000000 + n, 0xFFFFFFFF), (0, 0), (0, 0)], "SwitchIngress.acl_deny", {}, priority=n)
    acl.insert([(0, 0), (17, 0xFF), (80, 0xFFFF)], "SwitchIngress.set_qid", {"qid": 3}, priority=100)


def measure(p: Pipeline, frames: list[bytes], seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    process = p.process
    while True:
        for f in frames:
            process(1, f, 0)
        n += len(frames)
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()

    loads = []
    for _ in range(5):
        t0 = time.perf_counter()
        five = Pipeline.from_file(P4 / "five_tables.p4")
        loads.append(time.perf_counter() - t0)
    setup_five(five)
    passthru = Pipeline.from_file(P4 / "exact_forward.p4")
    passthru.table("forward").insert([0xAA], "SwitchIngress.hit", {"port": 2})
    print(f"program load (five_tables.p4: preprocess+parse+check+codegen): "
          f"median {statistics.median(loads) * 1000:.1f} ms over {len(loads)} loads")
    for size in (64, 128):
        frames = [frame(size, i) for i in range(256)]
        out = five.process(1, frames[0], 0)
        assert out and out[0].port in (2, 3, 4, 5), five.stats
        pps = measure(five, frames, args.seconds)
        base = measure(passthru, frames, args.seconds)
        print(f"{size:4d}-byte frames: 5-table program {pps:9.0f} pps | baseline 1-table program "
              f"{base:9.0f} pps | ratio {pps / base:.2f}")


if __name__ == "__main__":
    main()
