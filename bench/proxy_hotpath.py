"""SR proxy hot path without the kernel: nanoseconds per frame of the data-path code alone.

The real RX/TX ring classes run over anonymous shared memory instead of a packet socket: the RX ring is
filled with tpacket2 frames (82-byte Eth/MPLS(2 labels)/IPv4/UDP over 64 flows, as in proxy_forwarding.py),
the data path drains it, the TX ring "flush" hands the slots straight back. This isolates the Python (or
compiled) per-frame work from veth and the machine's other load, so variants can be compared within one run.
Both directions, each as the Python reference (ring walk -> Engine.from_sr / from_vnf) and the compiled loop.
Run:  .venv/bin/python bench/proxy_hotpath.py [--frames 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import mmap
import socket
import statistics
import struct
import time
from array import array
from collections.abc import Callable
from pathlib import Path

from srchain_net.rings import FRAME_SIZE, TP_STATUS_USER, TX_DATA_OFFSET, RingTx, RxRing
from srchain_proxy import datapath
from srchain_proxy.config import Attachment, SidEntry
from srchain_proxy.engine import HEADROOM, Engine
from srchain_proxy.fastpath import fast_table

SR_MAC, SW_MAC, VNF_IF_MAC, VNF_MAC = "02:00:00:00:0d:02", "02:00:00:00:0d:01", "02:00:00:00:0d:03", "02:00:00:00:0d:04"
SLOTS = 4096


def frame(label: int, sport: int) -> bytes:
    payload = b"x" * 32
    udp = struct.pack("!HHHH", sport, 7000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, 0x0A500005, 0x0A460009)
    mpls = struct.pack("!II", label << 12 | 64, 16004 << 12 | 0x100 | 64)
    return bytes.fromhex(SR_MAC.replace(":", "") + SW_MAC.replace(":", "")) + b"\x88\x47" + mpls + ip + udp


def fake_rx(frames: list[bytes]) -> RxRing:
    ring = RxRing.__new__(RxRing)
    ring.sock = None
    ring.nr = SLOTS
    ring.map = mmap.mmap(-1, SLOTS * FRAME_SIZE)
    ring.view = memoryview(ring.map)
    ring.i = 0
    ring.oversize = ring.errors = ring.holes = 0
    ring._hole = None
    mac = 32 + HEADROOM
    for k in range(SLOTS):
        f = frames[k % len(frames)]
        off = k * FRAME_SIZE
        ring.map[off + mac:off + mac + len(f)] = f
        struct.pack_into("IIIH", ring.map, off, TP_STATUS_USER, len(f), len(f), mac)
    ring.pristine = bytes(ring.map)  # type: ignore[attr-defined]
    return ring


def arm(ring: RxRing) -> None:
    """Frames are rewritten in place: put them back and hand every slot over again, as the kernel would."""
    ring.map[:] = ring.pristine  # type: ignore[attr-defined]


class FakeTx(RingTx):
    def __init__(self) -> None:  # a TX ring whose "kernel" sends instantly
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # the compiled loop's send() goes here
        self.nr = SLOTS
        self.map = mmap.mmap(-1, self.nr * FRAME_SIZE)
        self.st = array("q", (0, 0, 0, FRAME_SIZE - TX_DATA_OFFSET))  # [slot, pending, errors, max frame]
        self.sent = 0
        self.c = 0  # next slot to collect

    def collect(self) -> None:
        """Count and free the slots marked for sending, in ring order (the compiled loop's send() fails)."""
        m = self.map
        c = self.c
        while m[c * FRAME_SIZE]:
            m[c * FRAME_SIZE] = 0
            self.sent += 1
            c = c + 1 if c + 1 < self.nr else 0
        self.c = c
        self.st[1] = 0

    def flush(self) -> None:
        if self.st[1]:
            self.collect()


def timed_laps(rx, tx: FakeTx, drain: Callable[[int, float], object], n_frames: int, drops: dict) -> tuple[float, int]:
    """Refill the ring and drain it (drain(budget, now)) until n_frames went through; ns per frame."""
    done = 0
    busy = 0.0
    now = 0.0
    while done < n_frames:
        arm(rx)
        now += 0.001
        t0 = time.perf_counter()
        for _ in range(SLOTS // datapath.BATCH):
            drain(datapath.BATCH, now)
        tx.collect()
        busy += time.perf_counter() - t0
        done += SLOTS
    assert tx.sent == done, (tx.sent, done, drops)
    return busy / done * 1e9, done


def run(label: int, n_frames: int, variant: str) -> tuple[float, int]:
    eng = Engine(SR_MAC, SW_MAC)
    sids = [SidEntry(sid=16001, behaviour="static", vnf="sink", restore=[[16002]]),
            SidEntry(sid=16003, behaviour="dynamic", vnf="sink", cache_size=65536)]
    tables = eng.build(sids, [(Attachment(vnf="sink", iface="vnf0", mac=VNF_MAC), VNF_IF_MAC, VNF_MAC)])
    tx = FakeTx()
    tables.atts["sink"].tx = tx
    eng.install(tables)
    eng.fast = fast_table(eng)
    rx = fake_rx([frame(label, 1000 + i) for i in range(64)])
    clock = [0.0]  # the data path's `now` for the reference handler, as DataPath.now
    handler = datapath.sr_handler(eng, rx, lambda: clock[0])
    inner = datapath.sr_drainer(eng, rx, handler, variant)

    def drain(budget: int, now: float) -> None:
        clock[0] = now
        inner(budget, now)

    return timed_laps(rx, tx, drain, n_frames, eng.drops)


def ip_frame(sport: int) -> bytes:
    """What the VNF sends back: Eth/IPv4/UDP, 60 bytes on the wire plus the MPLS stack the proxy pushes."""
    f = frame(16001, sport)
    return bytes.fromhex(VNF_IF_MAC.replace(":", "") + VNF_MAC.replace(":", "")) + b"\x08\x00" + f[22:]


def run_return(mode: str, n_frames: int, variant: str) -> tuple[float, int]:
    """VNF -> SR: "python" = RxRing.drain + Engine.from_vnf (the reference), "compiled" = _fastsr.ret_drain."""
    eng = Engine(SR_MAC, SW_MAC)
    sid = (SidEntry(sid=16001, behaviour="static", vnf="sink", restore=[[16002]]) if mode == "static" else
           SidEntry(sid=16003, behaviour="dynamic", vnf="sink", cache_size=65536))
    tables = eng.build([sid], [(Attachment(vnf="sink", iface="vnf0", mac=VNF_MAC), VNF_IF_MAC, VNF_MAC)])
    tables.atts["sink"].tx = FakeTx()
    eng.install(tables)
    att = eng.atts["sink"]
    if mode == "dynamic":  # the 64 flows learned from the SR side first
        for i in range(64):
            f = bytearray(frame(16003, 1000 + i))
            eng.from_sr(f, 0, len(f), 0.0)
    rx = fake_rx([ip_frame(1000 + i) for i in range(64)])
    sr_tx = FakeTx()
    clock = [0.0]
    mv = rx.view

    def handler(buf, s, e) -> None:
        if eng.from_vnf(att, buf, s, e, clock[0]):
            sr_tx.put(mv[eng.ostart:eng.oend])

    if variant == "compiled":
        from srchain_proxy import compiled
        from srchain_proxy.fastpath import return_entry, vnf_drain_compiled

        mod = compiled.load()
        entry = return_entry(eng, att, sr_tx)
        assert mod is not None and entry is not None

        def drain(budget: int, now: float) -> None:
            clock[0] = now
            vnf_drain_compiled(mod, rx, entry, handler, budget, now)
    else:
        def drain(budget: int, now: float) -> None:
            clock[0] = now
            rx.drain(handler, budget)
    return timed_laps(rx, sr_tx, drain, n_frames, eng.drops)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")
    for variant, mode, label in [(v, m, lab) for v in datapath.SR_VARIANTS
                                 for m, lab in (("static", 16001), ("dynamic", 16003))]:
        ns = [run(label, args.frames, variant)[0] for _ in range(args.repeat)]
        print(f"{variant:8s} {mode:8s} SR->VNF: median {statistics.median(ns):6.0f} ns/frame (min {min(ns):.0f}, "
              f"max {max(ns):.0f}) = {1e6 / statistics.median(ns):6.0f} kpps of CPU for the code alone")
    medians: dict[tuple[str, str], float] = {}
    for variant, mode in [(v, m) for v in ("python", "compiled") for m in ("static", "dynamic")]:
        ns = [run_return(mode, args.frames, variant)[0] for _ in range(args.repeat)]
        medians[(variant, mode)] = statistics.median(ns)
        print(f"{variant:8s} {mode:8s} VNF->SR: median {statistics.median(ns):6.0f} ns/frame (min {min(ns):.0f}, "
              f"max {max(ns):.0f}) = {1e6 / statistics.median(ns):6.0f} kpps of CPU for the code alone")
    for mode in ("static", "dynamic"):
        print(f"VNF->SR {mode}: compiled is {medians[('python', mode)] / medians[('compiled', mode)]:.1f}x "
              "the Python path (same run)")


if __name__ == "__main__":
    main()
