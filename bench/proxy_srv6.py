"""SR proxy SRv6 hot path without the kernel: nanoseconds per frame, SRv6 vs SR-MPLS, compiled vs Python.

As bench/proxy_hotpath.py (real ring classes over anonymous shared memory, the TX "kernel" hands slots back
at once), with SRv6 frames: Eth / IPv6 (DA = the proxy SID) / SRH [SID, TAIL] SL 1 / IPv4 / UDP, 32 bytes
of payload (138 bytes; the SR-MPLS frames are 82), 64 flows. Per behaviour and direction:
  SR->VNF   End.AS (strip), End.AD per attachment (strip + learn), End.AD per flow, End.AM (DA swap)
  VNF->SR   End.AS (push the configured header), End.AD per attachment and per flow (restore the learned
            header), End.AM (End)
each as the Python reference (ring walk -> srv6.Srv6) and the compiled loop (_fastsr.c one6 / ret6), and the
SR-MPLS compiled path (static / dynamic) in the same run, with the ratio SRv6 compiled / SR-MPLS compiled.
Every variant runs once per repeat, round robin, so that a change in the machine's load hits all alike.
Run:  .venv/bin/python bench/proxy_srv6.py [--frames 200000] [--repeat 5]
Code alone, so no rates or latency: the loss-free rate and the added latency p50/p99 at half of it, through
the daemon and the kernel, are bench/proxy_forwarding.py --srv6's; the chain's RTT and throughput against
plain routing are bench/srv6_overhead.py's.
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import struct
from collections.abc import Callable
from pathlib import Path

from proxy_hotpath import SR_MAC, SW_MAC, VNF_IF_MAC, VNF_MAC, FakeTx, fake_rx, run, run_return, timed_laps

from srchain_proxy import compiled, datapath, fastpath, srv6
from srchain_proxy.config import Attachment, Srv6SidEntry
from srchain_proxy.engine import Engine

HEAD, TAIL = "fc00:1::1", "fcbb:bb00:3::d4"
SIDS = {"end.as": "fcbb:bb00:2::a5", "end.ad": "fcbb:bb00:2::ad", "end.ad.flow": "fcbb:bb00:2::af",
        "end.am": "fcbb:bb00:2::a3"}


def mac(m: str) -> bytes:
    return bytes.fromhex(m.replace(":", ""))


def inner4(sport: int) -> bytes:
    payload = b"x" * 32
    udp = struct.pack("!HHHH", sport, 7000, 8 + len(payload), 0) + payload
    return struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, 0x0A500005, 0x0A460009) + udp


def srv6_frame(sid: str, sport: int, inner: bytes | None = None) -> bytes:
    """Eth / IPv6 (DA = sid) / SRH [sid, TAIL] SL 1 / inner (an IPv4 packet unless given; nh 41 for IPv6)."""
    inner = inner if inner is not None else inner4(sport)
    nh = 4 if inner[0] >> 4 == 4 else 41
    segs = ipaddress.IPv6Address(TAIL).packed + ipaddress.IPv6Address(sid).packed  # Segment List[0] = last
    srh = bytes((nh, 4, 4, 1, 1, 0, 0, 0)) + segs
    ip6 = struct.pack("!IHBB", 6 << 28, len(srh) + len(inner), 43, 64) + ipaddress.IPv6Address(HEAD).packed
    ip6 += ipaddress.IPv6Address(sid).packed
    return mac(SR_MAC) + mac(SW_MAC) + b"\x86\xdd" + ip6 + srh + inner


def entry(behaviour: str) -> Srv6SidEntry:
    sid = SIDS[behaviour]
    if behaviour == "end.as":
        return Srv6SidEntry(sid=sid, behaviour="end.as", vnf="sink", source=HEAD, segments=[[TAIL]])
    if behaviour == "end.ad.flow":
        return Srv6SidEntry(sid=sid, behaviour="end.ad", vnf="sink", cache_key="flow")
    return Srv6SidEntry(sid=sid, behaviour=behaviour, vnf="sink")


def engine(behaviour: str, variant: str) -> Engine:
    eng = Engine(SR_MAC, SW_MAC)
    eng.srv6_c = compiled.load() if variant == "compiled" else None
    tables = eng.build([], [(Attachment(vnf="sink", iface="vnf0", mac=VNF_MAC), VNF_IF_MAC, VNF_MAC)])
    srv6.build(eng, tables, [entry(behaviour)])
    tables.atts["sink"].tx = FakeTx()
    eng.install(tables)
    eng.fast = fastpath.fast_table(eng)
    return eng


def run_sr(behaviour: str, n_frames: int, variant: str) -> float:
    eng = engine(behaviour, variant)
    tx = eng.atts["sink"].tx
    assert isinstance(tx, FakeTx)
    rx = fake_rx([srv6_frame(SIDS[behaviour], 1000 + i) for i in range(64)])
    clock = [0.0]
    handler = datapath.sr_handler(eng, rx, lambda: clock[0])
    inner = datapath.sr_drainer(eng, rx, handler, variant)

    def drain(budget: int, now: float) -> None:
        clock[0] = now
        inner(budget, now)

    return timed_laps(rx, tx, drain, n_frames, eng.drops)[0]


def run_vnf(behaviour: str, n_frames: int, variant: str) -> float:
    eng = engine(behaviour, variant)
    att = eng.atts["sink"]
    if behaviour == "end.ad":  # the header learned from the SR side first
        f = bytearray(srv6_frame(SIDS[behaviour], 999))
        assert eng.from_sr(f, 0, len(f), 0.0) is not None
    if behaviour == "end.ad.flow":  # the 64 flows learned from the SR side first
        for i in range(64):
            f = bytearray(srv6_frame(SIDS[behaviour], 1000 + i))
            assert eng.from_sr(f, 0, len(f), 0.0) is not None
    if behaviour == "end.am":  # the VNF sends back what it got: DA = the last segment, the SRH kept
        frames = [mac(VNF_IF_MAC) + mac(VNF_MAC) + srv6_frame(SIDS[behaviour], 1000 + i)[12:] for i in range(64)]
        frames = [f[:14 + 24] + ipaddress.IPv6Address(TAIL).packed + f[14 + 40:] for f in frames]
    else:
        frames = [mac(VNF_IF_MAC) + mac(VNF_MAC) + b"\x08\x00" + inner4(1000 + i) for i in range(64)]
    rx = fake_rx(frames)
    sr_tx = FakeTx()
    clock = [0.0]
    mv = rx.view
    srv = eng.srv6

    def handler(buf, s, e) -> None:
        out = srv.from_vnf(eng, att, buf, s, e, clock[0])
        if out is True:
            sr_tx.put(mv[eng.ostart:eng.oend])
        elif out:
            sr_tx.put(out)

    mod = compiled.load()
    ent = fastpath.return_entry(eng, att, sr_tx) if variant == "compiled" else None
    if variant == "compiled":
        assert mod is not None and ent is not None

        def drain(budget: int, now: float) -> None:
            clock[0] = now
            fastpath.vnf_drain_compiled(mod, rx, ent, handler, budget, now)
    else:
        def drain(budget: int, now: float) -> None:
            clock[0] = now
            rx.drain(handler, budget)
    return timed_laps(rx, sr_tx, drain, n_frames, eng.drops)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if compiled.load() is None:
        raise SystemExit(f"the compiled fast path is needed: {compiled.unavailable()}")
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")
    med: dict[tuple[str, str, str], float] = {}

    def report(key: tuple[str, str, str], ns: list[float]) -> None:
        med[key] = statistics.median(ns)
        print(f"{key[0]:8s} {key[1]:12s} {key[2]:7s}: median {med[key]:6.0f} ns/frame (min {min(ns):.0f}, "
              f"max {max(ns):.0f}) = {1e6 / med[key]:6.0f} kpps of CPU for the code alone", flush=True)

    jobs: list[tuple[tuple[str, str, str], Callable[[], float]]] = []
    for variant in ("compiled", "python"):
        for mode, label in (("static", 16001), ("dynamic", 16003)):
            jobs.append(((variant, f"mpls.{mode}", "SR->VNF"),
                         lambda label=label, variant=variant: run(label, args.frames, variant)[0]))
            jobs.append(((variant, f"mpls.{mode}", "VNF->SR"),
                         lambda mode=mode, variant=variant: run_return(mode, args.frames, variant)[0]))
        for beh in ("end.as", "end.ad", "end.ad.flow", "end.am"):
            jobs.append(((variant, beh, "SR->VNF"),
                         lambda beh=beh, variant=variant: run_sr(beh, args.frames, variant)))
        for beh in ("end.as", "end.ad", "end.ad.flow", "end.am"):
            jobs.append(((variant, beh, "VNF->SR"),
                         lambda beh=beh, variant=variant: run_vnf(beh, args.frames, variant)))
    samples: dict[tuple[str, str, str], list[float]] = {key: [] for key, _ in jobs}
    for _ in range(args.repeat):  # round robin: a change in the machine's load hits every variant alike
        for key, job in jobs:
            samples[key].append(job())
    for key, ns in samples.items():
        report(key, ns)
    print("\nSRv6 compiled vs the Python reference, and vs SR-MPLS compiled (rate ratio, same run; >= 0.8 wanted):")
    for beh, mode in (("end.as", "static"), ("end.ad", "dynamic"), ("end.ad.flow", "dynamic"), ("end.am", "static")):
        for d in ("SR->VNF", "VNF->SR"):
            if ("compiled", beh, d) not in med:
                continue
            c = med[("compiled", beh, d)]
            print(f"  {beh:12s} {d}: {med[('python', beh, d)] / c:4.1f}x Python; "
                  f"{med[('compiled', f'mpls.{mode}', d)] / c:4.2f}x SR-MPLS {mode} compiled")


if __name__ == "__main__":
    main()
