"""The SR-side loops give the same result: the compiled C loop against the Python reference.

Same frames (common case, new flows, changed stacks, every malformed kind, unresolved and missing
attachments, version pins, random bytes, frames that just fit a ring slot and just do not, VLAN tags the
kernel took off or left inline, frames to other MACs) through each loop over the real ring classes in
shared memory, untagged and with an SR VLAN; what each sends, counts and caches must be identical. Plus
the C loop's errors, spin and cycle; the choice of loop (test_proxy_fastpath_choice.py) is tested apart.
"""

from __future__ import annotations

import random
import time
from array import array

import pytest
from pxlib import SR_MAC, SW_MAC, VNF_IF_MAC, VNF_MAC, mpls_frame, udp4, udp6
from pxring import TO_US, Link, MemoryTx, memory_rx
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from srchain_net.packetsock import PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST, PACKET_OTHERHOST
from srchain_net.rings import rx_max_frame
from srchain_proxy import compiled, datapath
from srchain_proxy.config import Attachment, SidEntry
from srchain_proxy.engine import INBOUND_DROPS, Engine
from srchain_proxy.fastpath import fast_table
from waiting import wait_until

SR_MAX = rx_max_frame(0)  # the SR ring has no headroom: 1982 bytes fit a slot


def make(variant: str, frames: list[bytes], links: list[Link] | None = None, sr_vlan: int | None = None):
    eng = Engine(SR_MAC, SW_MAC, msd=4, sr_vlan=sr_vlan)
    sids = [SidEntry(sid=16001, behaviour="static", vnf="fmt", restore=[[16002, 16003]]),
            SidEntry(sid=16002, behaviour="dynamic", vnf="fw", cache_size=40, return_match="either"),
            SidEntry(sid=16005, behaviour="static", vnf="ids", version=1, restore=[[16010]]),
            SidEntry(sid=16006, behaviour="static", vnf="ids", version=2, restore=[[16011]]),
            SidEntry(sid=16007, behaviour="static", vnf="nh", restore=[[16012]]),
            SidEntry(sid=16008, behaviour="static", vnf="ghost", restore=[[16013]])]
    atts = [(Attachment(vnf=v, iface=f"spv{i}"), VNF_IF_MAC, VNF_MAC) for i, v in enumerate(("fmt", "fw", "ids"))]
    atts.append((Attachment(vnf="nh", iface="spv9", next_hop="10.9.9.9"), VNF_IF_MAC, None))  # unresolved
    tables = eng.build(sids, atts)
    txs = {}
    for vnf, att in tables.atts.items():
        att.tx = txs[vnf] = MemoryTx()
    eng.install(tables)
    eng.fast = fast_table(eng)
    rx = memory_rx(frames, slots=4096, reserve=0, links=links)
    calls = {"slow": 0}
    clock = [0.0]  # the data path's `now` for the reference handler, as DataPath.now
    handler = datapath.sr_handler(eng, rx, lambda: clock[0])

    def slow(buf, s, e):
        calls["slow"] += 1
        handler(buf, s, e)

    inner = datapath.sr_drainer(eng, rx, slow, variant)

    def drain(budget: int, now: float) -> bool:
        clock[0] = now
        return inner(budget, now)

    return eng, rx, txs, drain, calls


def mixed_frames(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    kinds = []
    for _ in range(n):
        k = rng.random()
        sport = rng.randrange(1000, 1080)  # 80 flows over a 40-entry cache: hits, misses, evictions
        if k < 0.35:  # the common dynamic case; sometimes a different stack or TC/TTL for the same flow
            tail = [16004, 16009] if rng.random() < 0.8 else [16009]
            kinds.append(mpls_frame([16002, *tail], udp4(sport=sport), ttls=[64, rng.choice([63, 62]), 61]))
        elif k < 0.5:
            kinds.append(mpls_frame([16001, 16099], udp4(sport=sport, payload=b"s" * rng.randrange(0, 200))))
        elif k < 0.55:
            kinds.append(mpls_frame([16002, 16004], IP(src="10.1.0.1", dst="10.2.0.2") / TCP(sport=sport)))
        elif k < 0.58:
            kinds.append(mpls_frame([16002, 16004], IP(src="10.1.0.1", dst="10.2.0.2") / ICMP()))
        elif k < 0.61:
            kinds.append(mpls_frame([16002, 16004], IP(src="10.1.0.1", dst="10.2.0.2", flags=0, frag=10) / (b"x" * 8)))
        elif k < 0.64:
            kinds.append(mpls_frame([16002, 16004], IP(src="10.1.0.1", options=b"\x01" * 4) / UDP(sport=sport)))
        elif k < 0.68:
            kinds.append(mpls_frame([rng.choice([16001, 16002]), 16004], udp6(sport=sport)))
        elif k < 0.72:
            kinds.append(mpls_frame([rng.choice([16005, 16006]), 16004], udp4(sport=sport)))  # pinned
        elif k < 0.75:
            kinds.append(mpls_frame([rng.choice([16007, 16008]), 16004], udp4()))  # unresolved / no attachment
        elif k < 0.78:
            kinds.append(mpls_frame([17999, 16004], udp4()))  # not ours
        elif k < 0.81:
            kinds.append(mpls_frame([16001, 16004], udp4(), ttls=[rng.choice([0, 1]), 64]))
        elif k < 0.84:
            kinds.append(mpls_frame([16002, 17, 18, 19, 20, 21], udp4()))  # deeper than msd 4
        elif k < 0.88:
            good = mpls_frame([16002, 16004], udp4(sport=sport))
            kinds.append(good[:rng.randrange(14, len(good) - 1)])  # truncated anywhere
        elif k < 0.9:
            kinds.append(mpls_frame([16001, 16004], udp4(payload=b"o" * 1990)))  # larger than a ring slot
        elif k < 0.91:  # as long as a slot holds (forwarded: in C for the static SID), or one byte longer
            size = SR_MAX + rng.choice([0, 0, 1])
            kinds.append(mpls_frame([rng.choice([16001, 16002]), 16004], udp4(sport=sport, payload=b"n" * (size - 50))))
        elif k < 0.92:  # a second VLAN tag still in the frame (the kernel takes off only the outer one)
            kinds.append(bytes(Ether(dst=SR_MAC, src=SW_MAC) / Dot1Q(vlan=rng.choice([100, 200]), type=0x8847))
                         + mpls_frame([16001, 16004], udp4())[14:])
        elif k < 0.95:  # our SID, then garbage
            kinds.append(mpls_frame([16002], b"")[:18] + rng.randbytes(rng.randrange(0, 80)))
        else:
            kinds.append(bytes.fromhex("02000000000a0102") + rng.randbytes(rng.randrange(6, 90)))
    return kinds


def link_mix(n: int, seed: int, sr_vlan: int | None) -> list[Link]:
    """What the kernel reports about each frame: mostly what this SR side takes (to our MAC, untagged or
    tagged with the SR VLAN, priority bits set or not), else every way of being refused."""
    rng = random.Random(seed)
    ours = (PACKET_HOST, 0x8100, sr_vlan) if sr_vlan else TO_US
    refused = [(PACKET_HOST, 0x8100, 1), (PACKET_HOST, 0x8100, 4094), (PACKET_HOST, 0x88A8, sr_vlan or 100),
               (PACKET_HOST, 0x8100, 5 << 13), (PACKET_OTHERHOST, *ours[1:]), (PACKET_BROADCAST, *ours[1:]),
               (PACKET_MULTICAST, *ours[1:]), (PACKET_OTHERHOST, 0x8100, 300)]
    if sr_vlan:
        refused += [TO_US, (PACKET_HOST, 0x8100, sr_vlan + 1), (PACKET_HOST, 0x8100, sr_vlan | 0x1000)]
    out: list[Link] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.1:
            out.append(rng.choice(refused))
        elif sr_vlan and r < 0.2:
            out.append((PACKET_HOST, 0x8100, rng.randrange(8) << 13 | sr_vlan))  # priority bits do not count
        else:
            out.append(ours)
    return out


def run_variant(variant: str, frames: list[bytes], links: list[Link] | None = None, sr_vlan: int | None = None):
    eng, rx, txs, drain, calls = make(variant, frames, links, sr_vlan)
    now = 0.0
    pos = 0
    rng = random.Random(7)
    while pos < len(frames):  # uneven batches; time moves on between some of them
        budget = rng.randrange(1, 40)
        drain(budget, now)
        pos += budget
        if rng.random() < 0.5:
            now += 0.25
    sent = {vnf: tx.sent() for vnf, tx in txs.items()}
    caches = {sid: list(st.cache.od.items()) for sid, st in eng.sids.items() if st.cache is not None}
    return {"sent": sent, "counters": eng.counters(), "caches": caches, "oversize": rx.oversize,
            "errors": rx.errors, "index": rx.i, "slow_calls": calls["slow"]}


@pytest.mark.parametrize("sr_vlan", [None, 100])
def test_compiled_loop_sends_counts_and_caches_like_the_reference(sr_vlan):
    _needs_compiled()
    frames = mixed_frames(3000, seed=1)
    links = link_mix(3000, seed=2, sr_vlan=sr_vlan)
    ref = run_variant("python", frames, links, sr_vlan)
    assert ref["errors"] == 0 and ref["index"] == 3000 % 4096
    drops = ref["counters"]["drops"]
    # the mix really covers every inbound reason and both behaviours
    for reason in INBOUND_DROPS:
        assert drops[reason] > 0, reason
    assert ref["counters"]["sids"]["16002"]["cache"]["evictions"] > 0
    assert ref["oversize"] == sum(len(f) > SR_MAX for f in frames) > 0
    assert sum(len(v) for v in ref["sent"].values()) > 1000
    # a frame as long as the slot holds went through, popped (two labels less)
    assert SR_MAX - 8 in {len(f) for f in ref["sent"]["fmt"]}
    assert ref["slow_calls"] == 3000 - ref["oversize"]  # the reference handles every frame itself
    got = run_variant("compiled", frames, links, sr_vlan)
    assert got["sent"] == ref["sent"]
    assert got["counters"] == ref["counters"]
    assert got["caches"] == ref["caches"]
    assert (got["oversize"], got["errors"], got["index"]) == (ref["oversize"], 0, ref["index"])
    # C forwarded the common case itself (new flows of this mix, 80 over a 40-entry cache, and refused
    # link facts go to Python)
    assert ref["slow_calls"] - got["slow_calls"] > 700


def _needs_compiled():
    """The extension: built by `make .venv/.installed` (scripts/bootstrap.sh requires it), so never skipped."""
    mod = compiled.load()
    assert mod is not None, compiled.unavailable()
    return mod


def test_compiled_loop_handles_the_common_case_itself_and_stops_at_anything_else():
    mod = _needs_compiled()
    common = [mpls_frame([16001, 16099], udp4(sport=i)) for i in range(10)]
    frames = [*common, mpls_frame([17999, 16004], udp4()), *common]
    eng, rx, txs, _drain, _calls = make("compiled", frames)
    i, done, why, err = mod.drain(rx.map, 0, rx.nr, 100, 1.0, eng.fast, 4 * eng.msd, eng.sr_tag)
    assert (i, done, why, err) == (10, 10, mod.WHY_SLOW, None)  # stopped at the unknown SID, left in place
    assert rx.map[10 * 2048] & 1 and not rx.map[9 * 2048] & 1
    assert len(txs["fmt"].sent()) == 10 and eng.sids[16001].rx_pkts == 10
    # a new dynamic flow is left to Python (it learns); once cached, C refreshes it
    flow = mpls_frame([16002, 16004], udp4(sport=4242))
    eng, rx, txs, drain, _calls = make("compiled", [flow, flow, flow])
    assert mod.drain(rx.map, 0, rx.nr, 3, 1.0, eng.fast, 16, 0)[1:3] == (0, mod.WHY_SLOW)
    drain(1, 1.0)
    assert mod.drain(rx.map, 1, rx.nr, 2, 2.0, eng.fast, 16, 0)[1:3] == (2, mod.WHY_BUDGET)
    (_key, (stack, seen)), = eng.sids[16002].cache.od.items()
    assert (stack, seen) == (flow[18:22], 2.0) and len(txs["fw"].sent()) == 3


def test_compiled_loop_error_costs_one_frame_count_not_the_loop(caplog):
    _needs_compiled()
    frames = [mpls_frame([16001, 16099], udp4(sport=i)) for i in range(5)]
    eng, rx, txs, drain, _calls = make("compiled", frames)
    eng.fast[16001] = (object(), *eng.fast[16001][1:])  # an attachment without .dmac: the C API call fails
    assert drain(5, 1.0) is True and drain(5, 1.0) is False  # budget used up, then nothing more waiting
    assert rx.errors == 5 and "compiled fast path failed" in caplog.text and "AttributeError" in caplog.text
    assert len(txs["fmt"].sent()) == 5  # each of those frames still went through the Python path
    assert eng.sids[16001].rx_pkts == 5


def test_spin_returns_the_ready_ring_and_gives_up_after_its_bound():
    import mmap
    import threading
    import time

    mod = _needs_compiled()
    a, b = mmap.mmap(-1, 4 * 2048), mmap.mmap(-1, 4 * 2048)
    t0 = time.monotonic()
    assert mod.spin([(a, 0), (b, 2048)], 20_000_000) == -1  # nothing ready: back after the 20 ms bound
    assert 0.019 <= time.monotonic() - t0 < 1.0
    b[2048] = 1  # TP_STATUS_USER on the watched slot of the second ring
    assert mod.spin([(a, 0), (b, 2048)], 10**9) == 1
    # the spin runs without the GIL: a Python thread can hand over a frame meanwhile
    a[4096] = 0
    setter = threading.Timer(0.05, lambda: a.__setitem__(4096, 1))
    setter.start()
    t0 = time.monotonic()
    assert mod.spin([(a, 4096)], 5 * 10**9) == 0
    assert time.monotonic() - t0 < 2.0
    setter.join()
    with pytest.raises(ValueError, match="spin: slot offset out of range"):
        mod.spin([(a, 4 * 2048)], 1000)
    with pytest.raises(ValueError, match="spin: too many rings"):
        mod.spin([(a, 0)] * 17, 1000)


@pytest.mark.parametrize("variant", datapath.SR_VARIANTS)
def test_every_loop_gets_past_a_run_of_empty_slots(variant):
    """Slots 0-2 never handed over, the rest full: each loop skips them after 1 ms instead of stalling."""
    frames = [mpls_frame([16001, 16099], udp4(sport=i)) for i in range(64)]
    eng, rx, txs, drain, _calls = make(variant, frames)
    for slot in range(3):
        rx.map[slot * 2048] = 0
    assert drain(16, 1.0) is False and txs["fmt"].sent() == []

    def holes_skipped() -> int:
        drain(16, 1.0)
        return rx.holes

    wait_until(holes_skipped, 1.0, interval=0, what="the loop past the empty slots")
    assert rx.holes == 3
    drain(64, 1.0)
    assert len(txs["fmt"].sent()) == 61 and eng.sids[16001].rx_pkts == 61


def _cycle_args(eng, rx, txs, extra_jobs=()):
    jobs = [(0, rx.map, rx.nr, (eng.fast, 4 * eng.msd, eng.sr_tag)), *extra_jobs]
    pos = array("q", [rx.i] + [0] * len(extra_jobs))
    return jobs, pos, [(tx.st, tx.sock.fileno()) for tx in txs.values()], array("q", [0])


def test_cycle_runs_the_turns_in_c_and_comes_back_only_for_python_work():
    mod = _needs_compiled()
    common = [mpls_frame([16001, 16099], udp4(sport=i)) for i in range(10)]
    frames = [*common, mpls_frame([17999, 16004], udp4()), *common[:5]]
    eng, rx, txs, drain, calls = make("compiled", frames)
    jobs, pos, tx, attn = _cycle_args(eng, rx, txs)
    # C forwards the common case and stops, untouched, at the frame only Python handles (an unknown SID)
    assert mod.cycle(jobs, pos, tx, attn, 0, 10**9) == (0, mod.WHY_SLOW, 10)
    assert pos[0] == 10 and rx.map[10 * 2048] & 1 and len(txs["fmt"].sent()) == 10
    rx.i = pos[0]
    drain(1, 1.0)  # Python's walk: counted as unknown_sid
    assert calls["slow"] == 1 and eng.counters()["drops"]["unknown_sid"] == 1
    pos[0] = rx.i
    assert mod.cycle(jobs, pos, tx, attn, 0, 10**9) == (-1, mod.WHY_IDLE, 5)  # empty, no spin: back at once
    assert pos[0] == 16 and len(txs["fmt"].sent()) == 5 and eng.sids[16001].rx_pkts == 15
    # a hole (this slot empty, the next one full) is for Python's walk to decide about
    hole = memory_rx([], slots=64)
    hole.map[1 * 2048] = 1
    assert mod.cycle(*_cycle_args(eng, hole, txs), 0, 10**9)[:2] == (0, mod.WHY_HOLE)
    # a ring without a compiled entry (kind 2) with a frame in it: Python's
    py = memory_rx([common[0]], slots=64)
    jobs2, pos2, tx2, attn2 = _cycle_args(eng, memory_rx([], slots=64), txs, [(2, py.map, py.nr, None)])
    assert mod.cycle(jobs2, pos2, tx2, attn2, 0, 10**9) == (1, mod.WHY_SLOW, 0)


def test_cycle_spins_without_the_gil_and_returns_for_the_control_side_and_the_slice():
    import threading

    mod = _needs_compiled()
    frames = [mpls_frame([16001, 16099], udp4(sport=i)) for i in range(200)]
    eng, rx, txs, _drain, _calls = make("compiled", frames)
    jobs, pos, tx, attn = _cycle_args(eng, rx, txs)
    # slice 0: back to Python after the first turn (at most 64 frames a ring), whatever is still waiting
    k, why, done = mod.cycle(jobs, pos, tx, attn, 0, 0)
    assert (k, why) == (-1, mod.WHY_SLICE) and done == pos[0] == 64
    # the control side's flag: back after the turn in progress
    attn[0] = 1
    assert mod.cycle(jobs, pos, tx, attn, 0, 10**9) == (-1, mod.WHY_WAKE, 64)
    attn[0] = 0
    assert mod.cycle(jobs, pos, tx, attn, 0, 10**9) == (-1, mod.WHY_IDLE, 72)
    assert len(txs["fmt"].sent()) == 200
    # idle: spins for spin_ns without the GIL (this thread hands a frame over meanwhile), then IDLE
    late = memory_rx([frames[0]], slots=64)
    late.map[0] = 0
    jobs, pos, tx, attn = _cycle_args(eng, late, txs)
    setter = threading.Timer(0.05, lambda: late.map.__setitem__(0, 1))
    setter.start()
    t0 = time.monotonic()
    assert mod.cycle(jobs, pos, tx, attn, 300_000_000, 10**9) == (-1, mod.WHY_IDLE, 1)
    assert 0.3 <= time.monotonic() - t0 < 2.0  # the spin restarts after the frame: 300 ms of nothing
    setter.join()
    assert len(txs["fmt"].sent()) == 1
    with pytest.raises(ValueError, match="cycle: job kind must be 0, 1 or 2"):
        mod.cycle([(5, late.map, late.nr, None)], pos, tx, attn, 0, 0)
    pos[0] = 64
    with pytest.raises(ValueError, match="cycle: ring index out of range"):
        mod.cycle(jobs, pos, tx, attn, 0, 0)
