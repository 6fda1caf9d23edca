"""Emulated Tofino over real interfaces: forwarding rate through the 5-table program, veth in a netns.

    sudo .venv/bin/python bench/emulator_veth.py [--frames 20000] [--size 64]

A sender offers frames on host veth 0 as fast as it can (bounded count, so the switch is saturated and
drops at its socket buffer); the switch (DataPlane: AF_PACKET -> ingress -> TM -> egress -> AF_PACKET)
forwards them to port 2; the delivered rate is measured between the first and last frame arriving on
host veth 2 (bounded time). Baseline, same run and same sockets: a plain Python relay that
copies frames port 0 -> port 2 with no P4 program, so the ratio is what the P4 pipeline costs.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import threading
import time
from pathlib import Path

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from srchain_emu.bfrt_server import BfRuntimeServer
from srchain_emu.interp.pipeline import Pipeline
from srchain_emu.netns import Netns
from srchain_emu.portio import open_port
from srchain_emu.ports import PortSpec, open_port_socket
from srchain_emu.switch import DataPlane
from srchain_net.packetsock import PACKET_OUTGOING

sys.path.insert(0, str(Path(__file__).parent))
from emulator_pps import P4, setup_five


def frames(size: int) -> list[bytes]:
    out = []
    for i in range(64):
        raw = (Ether(dst="00:00:00:00:00:aa", src="00:00:00:00:00:01") /
               IP(src=f"10.0.{i}.1", dst="10.1.7.9") / UDP(sport=1000 + i, dport=80)).build()
        out.append(raw + bytes(max(0, size - len(raw))))
    return out


def offer_and_count(tx, rx, batch: list[bytes], count: int, window: float) -> tuple[float, int]:
    """Offer `count` frames at full speed; return (delivered pps between first and last arrival, received)."""
    received = 0
    first = last = 0.0
    done = threading.Event()

    def receiver() -> None:
        nonlocal received, first, last
        deadline = time.monotonic() + window
        while time.monotonic() < deadline and received < count:
            r, _, _ = select.select([rx], [], [], 0.05)
            if not r:
                if done.is_set() and time.monotonic() > last_send + 0.5:
                    return
                continue
            while True:
                try:
                    _, addr = rx.recvfrom(2048)
                except BlockingIOError:
                    break
                if addr[2] != PACKET_OUTGOING:
                    received += 1
                    last = time.monotonic()
                    if received == 1:
                        first = last

    last_send = time.monotonic()
    t = threading.Thread(target=receiver)
    t.start()
    start = time.monotonic()
    for i in range(count):
        while True:
            try:
                tx.send(batch[i % len(batch)])
                break
            except BlockingIOError:
                time.sleep(0.0005)
    last_send = time.monotonic()
    done.set()
    t.join()
    del start
    return (received - 1) / max(last - first, 1e-9) if received > 1 else 0.0, received


class Relay:
    """Baseline: copy every frame from one socket to another, no P4."""

    def __init__(self, rx, tx) -> None:
        self.rx, self.tx = rx, tx
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            r, _, _ = select.select([self.rx], [], [], 0.05)
            if not r:
                continue
            for _ in range(64):
                try:
                    f, addr = self.rx.recvfrom(2048)
                except BlockingIOError:
                    break
                if addr[2] != PACKET_OUTGOING:
                    self.tx.send(f)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespace, AF_PACKET)")
    batch = frames(args.size)
    window = 30.0
    with Netns(3, tag="b") as ns:
        host = ns.run_inside(lambda: [open_port_socket(h) for h in ns.host_ifs])
        sw = ns.run_inside(lambda: {i: open_port_socket(s) for i, s in enumerate(ns.switch_ifs)})
        relay = Relay(sw[0], sw[2])
        base_rate, base_n = offer_and_count(host[0], host[2], batch, args.frames, window)
        relay.stop.set()
        relay.thread.join()
        for s in sw.values():
            s.close()
        pipe = Pipeline.from_file(P4 / "five_tables.p4")
        setup_five(pipe)
        pipe.table("port_bd").insert([0], "SwitchIngress.set_bd", {"bd": 10})
        pipe.table("nexthop").clear()
        for n in range(1000):
            pipe.table("nexthop").insert([n], "SwitchIngress.forward", {"port": 2, "dmac": 0x02})
        server = BfRuntimeServer()
        server.install("five_tables", pipe)
        results = {}
        for io in ("socket", "ring"):  # the switch's port I/O: one syscall per frame, or PACKET_MMAP rings
            time.sleep(0.2)
            while True:  # drain leftovers before the measured run
                try:
                    host[2].recvfrom(2048)
                except BlockingIOError:
                    break
            ports = ns.run_inside(lambda io=io: {i: open_port(s, io) for i, s in enumerate(ns.switch_ifs)})
            dp = DataPlane(server, [PortSpec(i, s) for i, s in enumerate(ns.switch_ifs)], ports)
            dp.start()
            results[io] = offer_and_count(host[0], host[2], batch, args.frames, window)
            dp.stop()
        for s in host:
            s.close()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.size}-byte frames, {args.frames} offered; "
          f"baseline python relay {base_rate:8.0f} pps ({base_n} received)")
    for io, (rate, n) in results.items():
        print(f"emulator (5-table program), {io:6s} I/O: {rate:8.0f} pps delivered ({n} received) | "
              f"ratio to relay {rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
