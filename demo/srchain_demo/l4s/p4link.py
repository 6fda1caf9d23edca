"""The `p4` bottleneck: the emulated Tofino running the SR node's l4s profile between in0 and out0.

    python -m srchain_demo.l4s.p4link in0 out0 --rate-mbit 12 --report link.json

Run inside the bottleneck's namespace. It starts the emulated switch in this process (device port 0 = in0, the
sender's side; 1 = out0, the receiver's), compiles `p4/srchain_node.p4` with the l4s profile, and has the
controller (`srchain.chains.ChainService`, BF Runtime over a unix socket) apply a one-segment chain: traffic to
the receiver is classified, pops the l4s module's SID and leaves by out0, whose egress the chain shapes to
--rate-mbit through the TM tables (`port_rate_kbps`); the module's DualPI2 marks and drops in egress. Traffic
back to the sender is routed plainly. Prints "ready" once the chain is applied; on SIGTERM writes the report
aqmlink writes, from the switch itself: per-packet queue delay of out0's two queues as the traffic manager
hands it to egress (`deq_timedelta`, the value the module's AQM works from), backlog of each queue and the
module's decision counters (SwitchEgress.l4s.decisions) every 100 ms, and how late the switch's loop sent
each of out0's packets behind the port's line clock (emulator/srchain_emu/tm.py).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from srchain.chains import ChainService
from srchain_demo.shipped import P4_PROGRAM
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.ports import PortSpec
from srchain_emu.switch import DataPlane
from srchain_emu.tm import CELL, Dequeued

from .topo import RCV_IP, RCV_MAC, SND_IP, SND_MAC

L_QUEUE, C_QUEUE = 1, 0
IN_PORT, OUT_PORT = 0, 1
PROFILE = {"SRCHAIN_FLOW_FEATURES": "0", "SRCHAIN_PRIORITY": "0", "SRCHAIN_L4S": "1"}
DECISIONS = "SwitchEgress.l4s.decisions"  # 0 marked L4S, 1 marked classic, 2 dropped classic, 3 forwarded


def inventory(sock: Path, artifacts: Path, in_if: str, out_if: str) -> dict[str, Any]:
    return {
        "switches": [{"name": "s1", "grpc": f"unix:{sock}", "device_id": 0, "program": "srchain_node",
                      "artifacts": str(artifacts), "ports": [
                          {"port": IN_PORT, "mac": "02:18:00:00:01:00", "interface": in_if, "peer": {"host": "snd"}},
                          {"port": OUT_PORT, "mac": "02:18:00:00:01:01", "interface": out_if,
                           "peer": {"host": "rcv"}}]}],
        "hosts": [{"name": "snd", "mac": SND_MAC, "ipv4": SND_IP}, {"name": "rcv", "mac": RCV_MAC, "ipv4": RCV_IP}],
    }


def spec(rate_kbps: int) -> dict[str, Any]:
    return {
        "chain": "l4s-bottleneck", "description": "the L4S harness's bottleneck", "sr_block": {"start": 16000,
                                                                                               "end": 16999},
        "classifier": {"switch": "s1", "rules": [{"name": "to-receiver", "match": {"dst": f"{RCV_IP}/32"}}]},
        "segments": [{"name": "aqm", "switch": "s1", "module": "l4s", "params": {
            "l4s_queue": L_QUEUE, "classic_queue": C_QUEUE, "port_rate_kbps": rate_kbps}}],
    }


class Tap:
    """Queue delays of out0's packets as the traffic manager releases them, and a sample every 100 ms."""

    def __init__(self, dp: DataPlane, decisions: Any) -> None:
        self.t0 = time.monotonic()
        self.sojourns: dict[str, list[tuple[float, float]]] = {"L": [], "C": []}
        self.series: list[dict[str, Any]] = []
        self.dp, self.decisions = dp, decisions
        names = {L_QUEUE: "L", C_QUEUE: "C"}

        def tap(out: list[Dequeued]) -> None:
            t = time.monotonic() - self.t0
            for d in out:
                q = names.get(d.item.qid % 8)
                if d.item.port == OUT_PORT and q is not None:
                    self.sojourns[q].append((t, d.deq_timedelta / 1e9))
        dp.tm.on_dequeue = tap

    def sample(self) -> None:
        tm = self.dp.tm
        queues = tm.queues.get(OUT_PORT)
        pkts = {n: len(queues[q]) if queues else 0 for q, n in ((L_QUEUE, "L"), (C_QUEUE, "C"))}
        cells = {n: tm.depth[(OUT_PORT, q)] for q, n in ((L_QUEUE, "L"), (C_QUEUE, "C"))}
        counts = [self.decisions.pkts[i] for i in range(4)]
        self.series.append({"t": time.monotonic() - self.t0, "backlog_packets": pkts,
                            "backlog_bytes": {n: c * CELL for n, c in cells.items()},
                            "marked": {"L": counts[0], "C": counts[1]},
                            "dropped_aqm": {"L": 0, "C": counts[2]},
                            "dropped_full": {"L": tm.drops[(OUT_PORT, L_QUEUE)], "C": tm.drops[(OUT_PORT, C_QUEUE)]}})

    def report(self) -> dict[str, Any]:
        return {"t0_monotonic": self.t0, "forward": {"sojourns": self.sojourns, "series": self.series,
                                                      "lateness_s": [n / 1e9 for n in self.dp.tm.lateness_ns],
                                                      "qdisc": "p4-l4s"}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srchain_demo.l4s.p4link", description=__doc__.splitlines()[0])
    parser.add_argument("a", help="the sender's side (device port 0)")
    parser.add_argument("b", help="the receiver's side (device port 1)")
    parser.add_argument("--rate-mbit", type=float, required=True, help="out0's rate (the chain's port_rate_kbps)")
    parser.add_argument("--report", type=Path, required=True, help="write the JSON report here")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="l4s-p4-") as tmp_dir:
        tmp = Path(tmp_dir)
        sock = tmp / "bfrt.sock"
        server, servicer, _ = serve(f"unix:{sock}")
        dp = DataPlane(servicer, [PortSpec(IN_PORT, args.a), PortSpec(OUT_PORT, args.b)])
        dp.start()
        try:
            artifacts = tmp / "node"
            compile_to_dir(P4_PROGRAM, artifacts, defines=PROFILE)
            (tmp / "inventory.yaml").write_text(yaml.safe_dump(inventory(sock, artifacts, args.a, args.b)))
            (tmp / "chain.yaml").write_text(yaml.safe_dump(spec(round(args.rate_mbit * 1000))))
            service = ChainService(tmp / "inventory.yaml", tmp / "state")
            service.apply(service.load(tmp / "chain.yaml"))
            pipeline = servicer.programs["srchain_node"].pipeline
            tap = Tap(dp, pipeline.counter(DECISIONS))
            print("ready", flush=True)
            while not stop.wait(0.1):
                tap.sample()
            args.report.write_text(json.dumps(tap.report()))
        finally:
            dp.stop()
            server.stop(grace=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
