"""Emulated Tofino running the real `p4/srchain_node.p4` with the reference chain's entries: packets/s per kind.

    .venv/bin/python bench/emulator_node.py [--seconds 2] [--repeat 3] [--profile KIND]

The switch entries are the ones the controller plans for `examples/cloud-gaming-mitigation.yaml` (the day-2
chain: data stack [flow-features, mitigation, priority]) written through real BF Runtime gRPC
(127.0.0.1, ephemeral port) into an in-process emulated switch; packets then go through
`Pipeline.ingress` -> `Pipeline.egress` (no sockets: the per-packet cost of the P4 program itself).

Kinds:
  classify  a plain IPv4/UDP gaming frame from the gaming server: classifier pushes the stack, the
            flow-features module pops its SID, counts, and (every 32nd packet) mirrors a feature report
            (report_every of the plan); the report's egress encap runs too
  return    a frame back from the proxy with [priority] on top: local SID pop + priority lookup + IPv4 route
  plain     a best-effort frame (no classifier rule): IPv4 route only
Rates are per CPU-second of the measuring thread (time.thread_time), median of --repeat runs.
Baseline (same run): the 1-table `tests/emulator/p4/exact_forward.p4`, as `bench/emulator_pps.py` uses.
`--profile KIND` prints the cProfile top functions for that kind instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path

from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from srchain.bfrt.client import BfrtClient
from srchain.model import load_chain
from srchain.plan import build_plan
from srchain.plan.diff import diff
from srchain.sidstore import SidStore
from srchain.targets.loader import Bundle
from srchain.targets.switch import SwitchDriver
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.interp.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
SWITCH_MAC, PROXY_PORT, SERVER_PORT = "02:00:00:00:01:01", 4, 1


def chain_switch(tmp: Path) -> tuple[object, Pipeline, dict[str, int]]:
    """The emulated switch with the mitigation chain's entries applied over gRPC; (grpc server, pipeline, sids)."""
    examples = ROOT / "examples"
    model = load_chain(str(examples / "cloud-gaming-mitigation.yaml"), str(examples / "inventory.yaml"))
    with SidStore(tmp / "state") as store:
        plan = build_plan(model, store)
    sids = {s.segment: s.sid for s in plan.sids}
    compile_to_dir(ROOT / "p4" / "srchain_node.p4", tmp / "bundle")
    server, servicer, port = serve("127.0.0.1:0")
    drv = SwitchDriver("s1", BfrtClient.connect(f"127.0.0.1:{port}", client_id=1, timeout=30), "srchain_node",
                       Bundle("srchain_node", tmp / "bundle"))
    drv.prepare()
    drv.write(diff([e for e in plan.entries if e.target_kind == "switch"], []))  # the engine's order
    drv.close()
    pipeline = next(iter(servicer.programs.values())).pipeline
    return server, pipeline, sids


def frames(kind: str, sids: dict[str, int], n: int = 64) -> list[tuple[int, bytes]]:
    out = []
    for i in range(n):
        ip = IP(src="10.0.1.10", dst="10.0.2.10", ttl=64)
        udp = UDP(sport=40000 + i % 8, dport=5000)
        pad = Raw(bytes(100))
        if kind == "classify":
            out.append((SERVER_PORT, bytes(Ether(dst=SWITCH_MAC, src="02:00:00:00:10:01") / ip / udp / pad)))
        elif kind == "return":
            mpls = MPLS(label=sids["priority"], s=1, ttl=62)
            out.append((PROXY_PORT, bytes(Ether(dst=SWITCH_MAC, src="02:00:00:00:40:01") / mpls / ip / udp / pad)))
        elif kind == "plain":
            bg = IP(src="10.0.4.10", dst="10.0.2.10", ttl=64)
            out.append((3, bytes(Ether(dst=SWITCH_MAC, src="02:00:00:00:30:01") / bg / udp / pad)))
        else:
            raise ValueError(kind)
    return out


def run_once(p: Pipeline, batch: list[tuple[int, bytes]]) -> int:
    """Ingress + egress of every frame in `batch` (and of any mirrored copy); packets that left the switch."""
    ingress, egress = p.ingress, p.egress
    sent = 0
    for port, f in batch:
        for item in ingress(port, f):
            if egress(item) is not None:
                sent += 1
    return sent


def measure(p: Pipeline, batch: list[tuple[int, bytes]], seconds: float) -> float:
    """Packets per second of this thread's CPU time (other processes on the box do not count against it)."""
    n = 0
    start = time.thread_time()
    deadline = time.perf_counter() + seconds
    while True:
        run_once(p, batch)
        n += len(batch)
        if time.perf_counter() >= deadline:
            return n / (time.thread_time() - start)


def check(p: Pipeline, kind: str, batch: list[tuple[int, bytes]], sids: dict[str, int]) -> None:
    """The kind does what it says (the numbers would be meaningless otherwise)."""
    port, f = batch[0]
    items = p.ingress(port, f)
    outs = [p.egress(i) for i in items]
    assert outs and outs[0] is not None, (kind, p.stats)
    first = outs[0]
    if kind == "classify":
        assert first.port == PROXY_PORT, first  # mitigation SID next: toward the proxy
        top = int.from_bytes(first.frame[14:18], "big") >> 12
        assert top == sids["mitigation"], (top, sids)
    else:
        assert first.port == 2 and Ether(first.frame).type == 0x0800, first


def baseline() -> tuple[Pipeline, list[tuple[int, bytes]]]:
    p = Pipeline.from_file(ROOT / "tests" / "emulator" / "p4" / "exact_forward.p4")
    p.table("forward").insert([0xAA], "SwitchIngress.hit", {"port": 2})
    f = bytes(Ether(dst="00:00:00:00:00:aa", src="00:00:00:00:00:01") / IP(src="10.0.1.10", dst="10.0.2.10")
              / UDP(sport=40000, dport=5000) / Raw(bytes(100)))
    return p, [(1, f)] * 64


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per kind; the median is printed")
    ap.add_argument("--profile", choices=("classify", "return", "plain"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="em-bench-") as tmp:
        server, p, sids = chain_switch(Path(tmp))
        try:
            if args.profile:
                batch = frames(args.profile, sids)
                prof = cProfile.Profile()
                prof.enable()
                for _ in range(200):
                    run_once(p, batch)
                prof.disable()
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
                return
            print(f"load average: {os.getloadavg()[0]:.2f}; sids {sids}")
            base_p, base_batch = baseline()
            base = statistics.median(measure(base_p, base_batch, args.seconds) for _ in range(args.repeat))
            print(f"baseline 1-table exact_forward.p4: {base:9.0f} pps")
            for kind in ("classify", "return", "plain"):
                batch = frames(kind, sids)
                check(p, kind, batch, sids)
                pps = statistics.median(measure(p, batch, args.seconds) for _ in range(args.repeat))
                print(f"srchain_node.p4 {kind:9s}: {pps:9.0f} pps | ratio to baseline {pps / base:.2f}")
            print(f"pipeline stats: {dict(sorted(p.stats.items()))}")
        finally:
            server.stop(None)


if __name__ == "__main__":
    main()
