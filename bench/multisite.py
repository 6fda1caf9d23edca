"""A chain across two sites vs plain routing between them, per WAN delay (root; builds and removes its own
`sd<pid>…` namespaces, one two-site testbed per delay).

    .venv/bin/python bench/multisite.py [--delays 0,10,40,150] [--probe-pps 200] [--offered-pps 8000]

The testbed is `srchain demo --sites 2`'s (`topology.two_site`) with one more host, `remote` 10.1.0.10 on b1 port 5
in site B, and the chain `examples/two-site-mitigation.yaml` applied: its data path crosses the WAN twice each way
(gaming server -> a1 -> a2 -> WAN -> b1 -> pxb -> mitigation -> pxb -> b1 -> WAN -> a2 -> a1 -> gaming client, and
the client's packets the same way back). Baseline in the same run: **plain routing between the sites**, 10.0.4.10
(on the background host, matched by no classifier rule) <-> `remote`, over the same switches and the same WAN link,
with IPv4 routes the bench writes itself (a1 and a2 toward 10.1.0.0/16 over the WAN, b1 toward 10.0.0.0/16; the
planner writes routes inside a site only: docs/multisite.md). Per delay:

- **RTT**: a sequence-numbered probe flow each way, chain and plain, at --probe-pps for --seconds (100-byte
  payload), all four at once, after a 1-s warm-up of the same flows (discarded); one-way delays from the kernel's
  receive timestamps (one clock: every namespace is on this host); RTT = median one way + median the other way.
  Chain: 4 WAN crossings per round trip; plain: 2.
- **Overhead per node pass**: (RTT - crossings x delay) / node passes per round trip. Chain: 22 (a1, a2, b1 each
  twice per direction = 12 switch passes, pxb 4, the mitigation 2, the link emulator 4); plain: 8 (a1, a2, b1 once
  per direction, the link emulator 2).
- **UDP throughput**: --offered-pps of 1372-byte payloads for --burst-s one way, chain then plain; delivered rate
  = datagrams received / (last arrival - first send), in packets/s and Mbit/s of UDP payload; lost = not received.
- **The link emulator's own lateness** (its report: each departure - its planned release), p50 / p99: how much of
  a round trip beyond the configured delays the emulator itself added on this host.
  Not measured: TCP (none of the testbed's agents speaks it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from srchain.bfrt.client import BfrtClient
from srchain_demo import topology as topo
from srchain_demo.day2 import sender_stats, wait_files, wait_quiet
from srchain_demo.testbed import Testbed

REMOTE = topo.Host("remote", "rh", "10.1.0.10", "02:00:00:00:b0:01", 5)
REMOTE_PORT = topo.Port(5, "b1p5", "02:00:00:00:0b:05", topo.Peer("host", REMOTE.role))
PLAIN_SRC = topo.BLASTER_SRC  # 10.0.4.10 on the background host: no classifier rule matches it
GS, GC = "10.0.1.10", "10.0.2.10"
CHAIN_PASSES, PLAIN_PASSES = 22, 8  # node passes per round trip (module docstring)
CHAIN_CROSSINGS, PLAIN_CROSSINGS = 4, 2  # WAN crossings per round trip
ROUTES = "SwitchIngress.ipv4.routes"
ROUTE = "SwitchIngress.ipv4.route"


def bench_layout(delay_ms: float) -> topo.Layout:
    """two_site() with `remote` on b1 port 5 (a host of site B)."""
    lay = topo.two_site(delay_ms)
    a1, a2, b1 = lay.switches
    site_a, site_b = lay.sites
    return replace(lay, switches=(a1, a2, replace(b1, ports=(*b1.ports, REMOTE_PORT))), hosts=(*lay.hosts, REMOTE),
                   sites=(site_a, replace(site_b, hosts=(REMOTE.name,))))


def _mac(mac: str) -> int:
    return int(mac.replace(":", ""), 16)


def _ip(addr: str) -> int:
    a, b, c, d = (int(x) for x in addr.split("."))
    return a << 24 | b << 16 | c << 8 | d


def plain_routes(tb: Testbed) -> None:
    """IPv4 between the sites, as a WAN router would route it: a1 -> a2 -> WAN -> b1 -> remote for 10.1.0.0/16, and
    b1 -> WAN -> a2 -> a1 -> background host for 10.0.4.10 (the planner routes only inside a site)."""
    lay = tb.layout
    bg = next(h for h in lay.hosts if h.role == "bg")
    rows = {  # switch -> [(prefix, length, port, next hop MAC)]
        "a1": [("10.1.0.0", 16, 8, lay.switch("a2").port(8).mac), (PLAIN_SRC, 32, bg.port, bg.mac)],
        "a2": [("10.1.0.0", 16, 9, lay.switch("b1").port(9).mac), (PLAIN_SRC, 32, 8, lay.switch("a1").port(8).mac)],
        "b1": [("10.0.0.0", 16, 9, lay.switch("a2").port(9).mac)],
    }
    for name, routes in rows.items():
        client = BfrtClient.connect(f"unix:{tb.switch_socks[name]}", client_id=15, timeout=5, attempts=3)
        try:
            client.bind("srchain_node")
            for prefix, length, port, mac in routes:
                client.insert(ROUTES, {"dst_addr": (_ip(prefix), length)}, ROUTE, {"port": port, "dst_mac": _mac(mac)})
        finally:
            client.close()


@dataclass(frozen=True)
class Flow:
    key: str
    tx_role: str
    src: str
    rx_role: str
    dst: str
    port: int
    stream: int


CHAIN_FWD = Flow("chain-fwd", "gs", GS, "gc", GC, 5010, 50)
CHAIN_BACK = Flow("chain-back", "gc", GC, "gs", GS, 5011, 51)
PLAIN_FWD = Flow("plain-fwd", "bg", PLAIN_SRC, "rh", REMOTE.ipv4, 5012, 52)
PLAIN_BACK = Flow("plain-back", "rh", REMOTE.ipv4, "bg", PLAIN_SRC, 5013, 53)


def _agent(tb: Testbed, key: str, role: str, *args: str) -> None:
    tb.spawn(f"agent-{key}", role, [sys.executable, "-m", "srchain_demo.agent", *args])


def run_flows(tb: Testbed, flows: list[Flow], rate_pps: float, size: int, seconds: float, out: Path,
              tag: str) -> dict[str, dict[str, Any]]:
    """Send every flow at once; per flow: sent, received, lost, one-way delay median / p99 (ms), delivered rate."""
    files = {f.key: out / f"{tag}-{f.key}.json" for f in flows}
    for f in flows:
        files[f.key].unlink(missing_ok=True)
        _agent(tb, f"{tag}-{f.key}-rx", f.rx_role, "peer", "--bind", f"{f.dst}:{f.port}",
               "--duration", f"{seconds + 40:.1f}", "--out", str(files[f.key]))
    t0 = time.time() + 2.5  # the agents' Python imports
    for f in flows:
        _agent(tb, f"{tag}-{f.key}-tx", f.tx_role, "blast", "--to", f"{f.dst}:{f.port}", "--src", f"{f.src}:{f.port}",
               "--stream", str(f.stream), "--rate-pps", f"{rate_pps:.1f}", "--size", str(size),
               "--start-at", f"{t0:.3f}", "--duration", f"{seconds:.2f}")
    sent = {f.key: sender_stats(tb, f"{tag}-{f.key}-tx", timeout=seconds + 10) for f in flows}
    for f in flows:
        wait_quiet(tb, f.rx_role, quiet_s=1.0, max_s=30.0)  # a backlog in the switches' rings drains
    for f in flows:
        tb.procs[f"agent-{tag}-{f.key}-rx"].terminate()
    docs = wait_files(tb, files, timeout=15)
    res = {}
    for f in flows:
        st = docs[f.key]["streams"].get(str(f.stream), {"seq": [], "send_ns": [], "delay_ns": []})
        delays = sorted(st["delay_ns"])
        n, tx = len(set(st["seq"])), int(sent[f.key]["sent"])
        span = (max(s + d for s, d in zip(st["send_ns"], st["delay_ns"], strict=True)) - min(st["send_ns"])) / 1e9 \
            if n else 0.0
        res[f.key] = {"sent": tx, "received": n, "lost": tx - n,
                      "p50_ms": delays[len(delays) // 2] / 1e6 if delays else None,
                      "p99_ms": delays[int(len(delays) * 0.99)] / 1e6 if delays else None,
                      "delivered_pps": n / span if span else 0.0,
                      "delivered_mbps": n * size * 8 / span / 1e6 if span else 0.0}
    return res


def one_delay(tmp: Path, delay_ms: float, args: argparse.Namespace) -> dict[str, Any]:
    with Testbed(tmp / f"tb-{delay_ms:g}", port_rate_bps=1_000_000_000, layout=bench_layout(delay_ms)) as tb:
        tb.apply(tb.spec("mitigation"))
        plain_routes(tb)
        flows = [CHAIN_FWD, CHAIN_BACK, PLAIN_FWD, PLAIN_BACK]
        run_flows(tb, flows, args.probe_pps, 100, 1.0, tb.workdir, "warm")  # first packets: discarded
        lat = run_flows(tb, flows, args.probe_pps, 100, args.seconds, tb.workdir, "rtt")
        thr = {}
        for flow in (CHAIN_FWD, PLAIN_FWD):
            thr |= run_flows(tb, [flow], args.offered_pps, 1372, args.burst_s, tb.workdir, "thr")
    wan = json.loads(tb.wan_report(tb.layout.wan[0]).read_text())  # written when the testbed stopped it
    late = sorted(x * 1e3 for d in ("forward", "reverse") for x in wan[d]["lateness_s"])
    chain_rtt = lat["chain-fwd"]["p50_ms"] + lat["chain-back"]["p50_ms"]
    plain_rtt = lat["plain-fwd"]["p50_ms"] + lat["plain-back"]["p50_ms"]
    return {
        "delay_ms": delay_ms, "load_avg": os.getloadavg()[0], "latency": lat, "throughput": thr,
        "wan_frames": wan["forward"]["sent"] + wan["reverse"]["sent"],
        "wan_lateness_ms": {"p50": late[len(late) // 2], "p99": late[int(len(late) * 0.99)]} if late else {},
        "chain_rtt_ms": chain_rtt, "plain_rtt_ms": plain_rtt, "rtt_ratio": chain_rtt / plain_rtt,
        "chain_per_pass_ms": (chain_rtt - CHAIN_CROSSINGS * delay_ms) / CHAIN_PASSES,
        "plain_per_pass_ms": (plain_rtt - PLAIN_CROSSINGS * delay_ms) / PLAIN_PASSES,
        "throughput_ratio": thr["chain-fwd"]["delivered_pps"] / thr["plain-fwd"]["delivered_pps"]
        if thr["plain-fwd"]["delivered_pps"] else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--delays", default="0,10,40,150", help="one-way WAN delays (ms), comma-separated")
    p.add_argument("--probe-pps", type=float, default=200.0, help="RTT probes per flow and second")
    p.add_argument("--seconds", type=float, default=3.0, help="RTT probe flows' length (s)")
    p.add_argument("--offered-pps", type=float, default=8000.0, help="throughput: offered datagrams/s")
    p.add_argument("--burst-s", type=float, default=2.0, help="throughput: how long it is offered (s)")
    p.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("bench/multisite.py needs root (network namespaces)", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory(prefix="srchain-multisite-") as tmp:
        for d in (float(x) for x in args.delays.split(",")):
            rows.append(one_delay(Path(tmp), d, args))
            r = rows[-1]
            lat, thr = r["latency"], r["throughput"]
            print(f"delay {d:5g} ms | RTT chain {r['chain_rtt_ms']:8.2f} plain {r['plain_rtt_ms']:8.2f} ms, "
                  f"ratio {r['rtt_ratio']:5.2f} | per node pass chain {r['chain_per_pass_ms']:6.3f} plain "
                  f"{r['plain_per_pass_ms']:6.3f} ms | p99 one way chain {lat['chain-fwd']['p99_ms']:.1f} plain "
                  f"{lat['plain-fwd']['p99_ms']:.1f} ms | lost (probes) "
                  f"{sum(v['lost'] for v in lat.values())} | UDP chain {thr['chain-fwd']['delivered_pps']:7.0f} pps "
                  f"{thr['chain-fwd']['delivered_mbps']:6.1f} Mbit/s lost {thr['chain-fwd']['lost']}, plain "
                  f"{thr['plain-fwd']['delivered_pps']:7.0f} pps {thr['plain-fwd']['delivered_mbps']:6.1f} Mbit/s "
                  f"lost {thr['plain-fwd']['lost']}, ratio {r['throughput_ratio']:.2f} | linkem late p50 "
                  f"{r['wan_lateness_ms'].get('p50', 0):.2f} p99 {r['wan_lateness_ms'].get('p99', 0):.2f} ms | load "
                  f"{r['load_avg']:.1f}",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
