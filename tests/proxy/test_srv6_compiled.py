"""The compiled SRv6 path (_fastsr.c srv6_in / srv6_out) against the Python reference (srv6.py): the same
frames into two engines, identical output bytes, drop counters, events, SID counters and learned headers
(slots and flow caches, LRU order included). A 20k-frame mutation fuzz in each direction, the edge cases one
by one, and every test of test_srv6_engine.py run again with the engines in C."""

from __future__ import annotations

import random

import pytest
import srv6lib
from pxlib import udp4, udp6
from pxring import MemoryTx, memory_rx
from scapy.layers.l2 import Ether
from srv6lib import (
    MID,
    PX,
    PX_AD,
    PX_AM,
    SR_MAC,
    SW_MAC,
    TAIL,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    as_entry,
    build,
    frame,
    hmac_tlv,
    srv6_packet,
    vnf_frame,
)

from srchain_proxy import compiled, datapath, fastpath, srv6
from srchain_proxy.config import Srv6SidEntry
from srchain_proxy.engine import DROP_REASONS, HEADROOM, Engine
from srchain_proxy.fastpath import fast_table

MOD = compiled.load()
pytestmark = pytest.mark.skipif(MOD is None, reason=f"compiled fast path not built: {compiled.unavailable()}")

PX_AF = "fcbb:bb00:2::af"


def ad_entry(sid=PX_AD, vnf="fw", **kw) -> Srv6SidEntry:
    return Srv6SidEntry(sid=sid, behaviour="end.ad", vnf=vnf, **kw)


def am_entry(sid=PX_AM, vnf="ids", **kw) -> Srv6SidEntry:
    return Srv6SidEntry(sid=sid, behaviour="end.am", vnf=vnf, **kw)


ENTRIES = [as_entry(), ad_entry(), ad_entry(sid=PX_AF, vnf="flo", cache_key="flow"), am_entry()]
VNFS = ("fmt", "fw", "ids", "flo")


def pair(entries=ENTRIES, vnfs=VNFS) -> tuple[Engine, Engine]:
    """(reference, compiled) engines with the same SIDs."""
    saved = srv6lib.COMPILED
    try:
        srv6lib.COMPILED = None
        ref = Engine(SR_MAC, SW_MAC)
        build(ref, entries, vnfs)
        srv6lib.COMPILED = MOD
        fast = Engine(SR_MAC, SW_MAC)
        build(fast, entries, vnfs)
    finally:
        srv6lib.COMPILED = saved
    assert type(ref.srv6) is srv6.Srv6 and isinstance(fast.srv6, srv6.Srv6Compiled)
    return ref, fast


def state(eng: Engine) -> dict:
    """Everything a frame can change: counters (drops, events, SID rows with cache stats) and what End.AD
    learned (slot, flow cache contents in LRU order)."""
    learned = {}
    for st in eng.srv6.sids.values():
        learned[st.sid] = (st.slot, list(st.cache.od.items()) if st.cache is not None else None)
    return {**eng.counters(), "learned": learned}


def inbound_both(ref: Engine, fast: Engine, data: bytes, now: float) -> tuple[str | None, bytes | None]:
    outs = []
    for eng in (ref, fast):
        buf = bytearray(data)
        att = eng.from_sr(buf, 0, len(buf), now)
        outs.append((att.vnf if att is not None else None, bytes(buf[eng.ostart:eng.oend]) if att else None))
    assert outs[0] == outs[1], data.hex()
    return outs[0]


def back_both(ref: Engine, fast: Engine, vnf: str, data: bytes, now: float, meta: int = 0) -> bytes | None:
    outs = []
    for eng in (ref, fast):
        buf = bytearray(HEADROOM) + bytearray(data)
        out = eng.srv6.from_vnf(eng, eng.atts[vnf], buf, HEADROOM, len(buf), now, meta)
        outs.append(bytes(buf[eng.ostart:eng.oend]) if out is True else bytes(out) if out else None)
    assert outs[0] == outs[1], data.hex()
    return outs[0]


def test_reason_names_are_the_engines():
    assert set(MOD.SRV6_REASONS) <= set(DROP_REASONS)
    assert len(set(MOD.SRV6_REASONS)) == len(MOD.SRV6_REASONS)


def test_return_entries_cover_the_single_sid_attachments():
    _, fast = pair()
    covered = {fast.srv6.ret[id(att)][1].sid for att in fast.atts.values() if id(att) in fast.srv6.ret}
    assert covered == {srv6lib.PX, PX_AD, PX_AM, PX_AF}


def seeds() -> list[bytes]:
    return [
        frame(srv6_packet(udp4(), [PX, TAIL], sl=1, tlvs=[hmac_tlv()])),
        frame(srv6_packet(udp6(), [MID, PX_AD, TAIL], sl=1, before=[IPv6ExtHdrHopByHop()])),
        frame(srv6_packet(udp4(), [PX_AM, TAIL], sl=1)),
        frame(srv6_packet(udp4(), [PX_AF, TAIL], sl=1, before=[IPv6ExtHdrDestOpt()])),
        frame(srv6_packet(udp6(sport=9), [PX_AF, MID, TAIL], sl=2, before=[IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt()])),
        frame(srv6_packet(None, [PX, TAIL], sl=1, nh=60) / IPv6ExtHdrDestOpt(nh=4) / udp4()),
        frame(srv6_packet(udp4(), [PX_AD, TAIL], sl=1, tlvs=[hmac_tlv()])),
        frame(srv6_packet(udp4(), [MID, TAIL], sl=2, da=PX_AD)),  # reduced SRH (H.Encaps.Red)
    ]


def mutate(rnd: random.Random, data: bytearray, lo: int) -> bytearray:
    for _ in range(rnd.randint(1, 4)):
        kind = rnd.random()
        if len(data) <= lo + 1:
            break
        if kind < 0.6:
            data[rnd.randrange(lo, len(data))] = rnd.randrange(256)
        elif kind < 0.8:
            del data[rnd.randrange(lo + 1, len(data)):]
        elif len(data) > lo + 48:
            data[lo + 40 + rnd.randrange(8)] = rnd.randrange(256)  # the first extension header's fixed part
    return data


def test_fuzz_20k_frames_each_way_identical_bytes_and_counters(monkeypatch):
    rnd = random.Random(1919)
    ref, fast = pair()
    fallbacks = []  # returns the compiled engine left to Python (End.AD per flow, headers past the headroom)
    reference = srv6.Srv6.from_vnf

    def counted(self, *args, **kw):
        fallbacks.append(self is fast.srv6)
        return reference(self, *args, **kw)

    monkeypatch.setattr(srv6.Srv6, "from_vnf", counted)
    base = seeds()
    n = 20_000
    sent = returned = 0
    for i in range(n):
        now = i * 0.001
        data = mutate(rnd, bytearray(rnd.choice(base)), 14)
        vnf, out = inbound_both(ref, fast, bytes(data), now)
        if out is None:
            continue
        sent += 1
        # the VNF's answer: the packet as it got it, or mutated (End.AM returns keep their SRH)
        reply = bytearray(vnf_frame(Ether(out).payload))
        if i % 2:
            reply = mutate(rnd, reply, 14)
        returned += back_both(ref, fast, vnf, bytes(reply), now) is not None
        if i % 500 == 0:
            assert state(ref) == state(fast)
    assert state(ref) == state(fast)
    c = fast.counters()
    assert sent > n // 10 and returned > sent // 4
    assert sum(fallbacks) < sent // 3  # the compiled engine did most returns in C
    assert sum(row["tx_packets"] for row in c["srv6_sids"].values()) == returned
    assert all(c["srv6_events"].values())  # HMAC, extension headers before and after the SRH all met


EDGES = {
    "hop-by-hop + destination options before the SRH": (
        srv6_packet(udp4(), [PX, TAIL], sl=1, before=[IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt()]), None),
    "SL = 0": (srv6_packet(udp4(), [TAIL, PX], sl=0), "srv6_sl_zero"),
    "fragment before the SRH": (srv6_packet(udp4(), [PX, TAIL], sl=1, before=[IPv6ExtHdrFragment()]), "srv6_fragment"),
    "fragment after the SRH": (srv6_packet(None, [PX, TAIL], sl=1, nh=44) / IPv6ExtHdrFragment(nh=4) / udp4(),
                               "srv6_fragment"),
    "hop-by-hop not first": (srv6_packet(udp4(), [PX, TAIL], sl=1, before=[IPv6ExtHdrDestOpt(), IPv6ExtHdrHopByHop()]),
                             "srv6_ext_header"),
    "nine destination options": (srv6_packet(udp4(), [PX, TAIL], sl=1, before=[IPv6ExtHdrDestOpt()] * 9),
                                 "srv6_ext_header"),
    "HMAC TLV (End.AS)": (srv6_packet(udp4(), [PX, TAIL], sl=1, tlvs=[hmac_tlv()]), None),
    "HMAC TLV (End.AD)": (srv6_packet(udp4(), [PX_AD, TAIL], sl=1, tlvs=[hmac_tlv()]), None),
    "HMAC TLV (End.AM)": (srv6_packet(udp6(), [PX_AM, TAIL], sl=1, tlvs=[hmac_tlv()]), None),
    "hop limit 1": (srv6_packet(udp4(), [PX, TAIL], sl=1, hlim=1), "srv6_hop_limit"),
    "hop limit 0": (srv6_packet(udp4(), [PX_AM, TAIL], sl=1, hlim=0), "srv6_hop_limit"),
    "no SRH": (IPv6(src=srv6lib.HEAD, dst=PX) / udp4(), "srv6_no_srh"),
    "unknown SID": (srv6_packet(udp4(), [MID, TAIL], sl=1), "srv6_unknown_sid"),
    "inner not IP": (srv6_packet(None, [PX_AD, TAIL], sl=1, nh=59), "srv6_inner_type"),
    # reduced SRHs (H.Encaps.Red: the first segment only in the DA, SL = Last Entry + 1)
    "reduced SRH (End.AS)": (srv6_packet(udp4(), [TAIL], sl=1, da=PX), None),
    "reduced SRH (End.AD)": (srv6_packet(udp4(), [MID, TAIL], sl=2, da=PX_AD), None),
    "reduced SRH (End.AD per flow)": (srv6_packet(udp4(), [TAIL], sl=1, da=PX_AF), None),
    "reduced SRH (End.AM)": (srv6_packet(udp6(), [TAIL], sl=1, da=PX_AM), "srv6_am_reduced_srh"),
    "SL = Last Entry + 2": (srv6_packet(udp4(), [TAIL], sl=2, da=PX_AD), "srv6_bad_srh"),
}


@pytest.mark.parametrize("name", list(EDGES))
def test_edge_cases_identical_and_counted(name):
    pkt, reason = EDGES[name]
    ref, fast = pair()
    vnf, out = inbound_both(ref, fast, frame(pkt), 1.0)
    assert (out is None) == (reason is not None)
    drops = {k: v for k, v in fast.drops.items() if v}
    assert drops == ({reason: 1} if reason else {})
    if out is not None:
        back_both(ref, fast, vnf, vnf_frame(Ether(out).payload), 1.0)
    assert state(ref) == state(fast)


def test_truncated_and_inconsistent_srh_at_every_length():
    """Every cut of a frame (inside the IPv6 header, the extension headers, the SRH, its TLVs, the inner
    packet) and every value of the SRH's length fields: the same verdict, bytes and counters."""
    ref, fast = pair()
    for data in seeds():
        for cut in range(14, len(data) + 1):
            inbound_both(ref, fast, data[:cut], 2.0)
        srh_at = data.find(bytes((4,)), 14 + 40)  # not exact for every seed: any byte offset will do
        for off in range(14 + 40, min(len(data), 14 + 40 + 24)):
            for value in (0, 1, 2, 5, 255):
                mutated = bytearray(data)
                mutated[off] = value
                inbound_both(ref, fast, bytes(mutated), 2.0)
        assert srh_at > 0
    assert state(ref) == state(fast)
    assert ref.drops["srv6_truncated"] > 100 and ref.drops["srv6_bad_srh"] > 0


@pytest.mark.parametrize("match", ["same", "reverse", "either"])
def test_end_ad_per_flow_return_match_expiry_and_miss_identical(match):
    ref, fast = pair([ad_entry(sid=PX_AF, vnf="flo", cache_key="flow", idle_timeout_s=1, return_match=match)])
    fwd = udp4(src="10.80.0.5", dst="10.70.0.9", sport=5555, dport=7000)
    rev = udp4(src="10.70.0.9", dst="10.80.0.5", sport=7000, dport=5555)
    inbound_both(ref, fast, frame(srv6_packet(fwd, [PX_AF, TAIL], sl=1, hlim=20)), 0.0)
    outs = [back_both(ref, fast, "flo", vnf_frame(pkt), now) for pkt, now in
            ((rev, 0.5), (fwd, 0.6), (rev, 1.0), (fwd, 5.0), (rev, 5.1), (udp6(), 5.2))]
    hits = {"same": [False, True, False], "reverse": [True, False, True], "either": [True, True, True]}[match]
    assert [o is not None for o in outs[:3]] == hits and outs[3:] == [None, None, None]  # expired after 1 s
    assert state(ref) == state(fast)
    c = fast.counters()["srv6_sids"][PX_AF]["cache"]
    assert (c["hits"], c["expired"], c["entries"]) == (sum(hits), 1, 0)


def bad_srh_length() -> bytes:
    data = bytearray(vnf_frame(srv6_packet(udp6(), [PX_AM, TAIL], sl=1)))
    data[14 + 40 + 1] = 200  # the SRH's length runs past the packet
    return bytes(data)


def test_return_path_refusals_and_copies_identical():
    ref, fast = pair()
    long_segs = [PX_AD, "fcbb::1", "fcbb::2", "fcbb::3", "fcbb::4", "fcbb::5", TAIL]
    inbound_both(ref, fast, frame(srv6_packet(udp4(), long_segs, sl=6, tlvs=[hmac_tlv()])), 1.0)
    frames = {
        "fw": [vnf_frame(udp4()), vnf_frame(udp6()), b"\x00" * 13, vnf_frame(udp4())[:30]],  # copy past headroom
        "ids": [vnf_frame(srv6_packet(udp6(), [PX_AM, TAIL], sl=0)), vnf_frame(srv6_packet(udp6(), [MID, TAIL], sl=1)),
                vnf_frame(srv6_packet(udp6(), [PX_AM, TAIL], sl=1, hlim=1)), vnf_frame(udp6()), vnf_frame(udp4()),
                vnf_frame(srv6_packet(udp6(), [PX_AM, TAIL], sl=1, before=[IPv6ExtHdrFragment()])),
                vnf_frame(srv6_packet(udp6(), [PX_AM, TAIL], sl=1, before=[IPv6ExtHdrDestOpt(), IPv6ExtHdrHopByHop()])),
                vnf_frame(srv6_packet(udp6(), [PX_AM, TAIL], sl=1))[:14 + 40 + 10], bad_srh_length(),
                vnf_frame(srv6_packet(udp6(), [TAIL], sl=1, da=TAIL))],  # reduced: names no SID
        "fmt": [vnf_frame(udp4()), vnf_frame(udp6()), bytes(Ether(type=0x88CC) / (b"lldp" * 20))],
        "flo": [vnf_frame(udp4())],
    }
    for vnf, datas in frames.items():
        for data in datas:
            back_both(ref, fast, vnf, data, 1.5)
            back_both(ref, fast, vnf, data, 1.5, meta=2 << 32)  # link rules (multicast): Python's, in both
    assert state(ref) == state(fast)
    assert {k for k, v in fast.drops.items() if v} >= {
        "srv6_return_sl_zero", "srv6_return_unknown_sid", "srv6_return_hop_limit", "srv6_return_no_srh",
        "srv6_return_fragment", "srv6_return_ext_header", "srv6_return_bad_srh", "return_not_ip",
        "return_truncated", "no_sid", "srv6_flow_miss", "return_multicast"}


def test_tagged_returns_are_return_vlan_in_c_too():
    """The compiled return path (srv6_out) refuses a tagged frame itself, under engine.return_refusal's
    name, for each single-SID attachment kind; nothing else moves."""
    from test_srv6_engine import tagged_returns

    ref, fast = pair()
    inbound_both(ref, fast, frame(srv6_packet(udp4(), [PX_AD, TAIL], sl=1)), 1.0)
    reasons = []
    out_c = fast.srv6._out_c

    def spy(buf, s, e, now, ent, o):
        rc = out_c(buf, s, e, now, ent, o)
        reasons.append(MOD.SRV6_REASONS[o[2]] if rc == 0 else rc)
        return rc

    fast.srv6._out_c = spy
    for vnf in VNFS:
        for data in tagged_returns():
            before = state(fast)
            assert back_both(ref, fast, vnf, data, 2.0) is None
            after = state(fast)
            after["drops"]["return_vlan"] -= 1
            after["drops_total"] -= 1
            assert after == before, vnf
    assert state(ref) == state(fast)
    assert reasons == ["return_vlan"] * (len(VNFS) * len(tagged_returns()))  # C counted every one


# ---- the compiled SR ring loop (_fastsr.c one() -> one6) ------------------------------------------------------

def ring_run(variant: str, frames: list[bytes]) -> dict:
    """Frames through the SR ring's drain (pxring's memory rings), as the data path runs it."""
    eng = Engine(SR_MAC, SW_MAC)
    eng.srv6_c = MOD if variant == "compiled" else None
    atts = [(srv6lib.Attachment(vnf=v, iface=f"pxv{i}"), srv6lib.VNF_IF_MAC, srv6lib.VNF_MAC)
            for i, v in enumerate(VNFS)]
    tables = eng.build([], atts)
    srv6.build(eng, tables, ENTRIES)
    txs = {}
    for vnf, att in tables.atts.items():
        att.tx = txs[vnf] = MemoryTx()
    eng.install(tables)
    eng.fast = fast_table(eng)
    rx = memory_rx(frames, slots=4096, reserve=0)
    calls = [0]
    clock = [0.0]
    handler = datapath.sr_handler(eng, rx, lambda: clock[0])

    def slow(buf, s, e):
        calls[0] += 1
        handler(buf, s, e)

    drain = datapath.sr_drainer(eng, rx, slow, variant)
    rng = random.Random(3)
    pos = 0
    while pos < len(frames):
        budget = rng.randrange(1, 40)
        drain(budget, clock[0])
        pos += budget
        clock[0] += 0.01
    return {"sent": {vnf: tx.sent() for vnf, tx in txs.items()}, "state": state(eng), "slow": calls[0],
            "errors": rx.errors}


def test_sr_ring_loop_forwards_srv6_in_c_like_the_reference():
    rnd = random.Random(77)
    clean = [frame(srv6_packet(udp4(sport=7), [PX, TAIL], sl=1)), frame(srv6_packet(udp6(), [PX_AD, TAIL], sl=1)),
             frame(srv6_packet(udp4(sport=8), [PX_AF, MID, TAIL], sl=2)),
             frame(srv6_packet(udp6(), [PX_AM, TAIL], sl=1)),
             frame(srv6_packet(udp4(sport=9), [TAIL], sl=1, da=PX_AD))]  # reduced SRH: C forwards it too
    base = seeds() + clean
    frames = [bytes(mutate(rnd, bytearray(rnd.choice(base)), 14)) if rnd.random() < 0.3 else rnd.choice(base)
              for _ in range(3000)]
    ref = ring_run("python", frames)
    got = ring_run("compiled", frames)
    assert got["sent"] == ref["sent"] and got["state"] == ref["state"]
    assert ref["slow"] == 3000 and got["errors"] == ref["errors"] == 0
    assert sum(len(v) for v in ref["sent"].values()) > 1500
    # C forwarded every clean frame itself; drops and frames with events to count went to Python
    n_clean = sum(1 for f in frames if f in clean or f == base[2])
    assert n_clean > 800 and got["slow"] <= 3000 - n_clean


def return_run(variant: str, vnf: str, frames: list[bytes]) -> dict:
    """Frames from one attachment's ring back to the SR side: the ring walk with Srv6.from_vnf (Python), or
    _fastsr.ret_drain with the attachment's kind-2 return entry (compiled)."""
    eng = Engine(SR_MAC, SW_MAC)
    eng.srv6_c = MOD if variant == "compiled" else None
    atts = [(srv6lib.Attachment(vnf=v, iface=f"pxv{i}"), srv6lib.VNF_IF_MAC, srv6lib.VNF_MAC)
            for i, v in enumerate(VNFS)]
    tables = eng.build([], atts)
    srv6.build(eng, tables, ENTRIES)
    for att in tables.atts.values():
        att.tx = MemoryTx()
    eng.install(tables)
    # End.AD learns its header from the SR side first: per attachment, and per flow for two of the flows
    for pkt in (srv6_packet(udp4(), [MID, PX_AD, TAIL], sl=1, hlim=9),
                srv6_packet(udp4(sport=0), [PX_AF, TAIL], sl=1, hlim=7),
                srv6_packet(udp6(), [PX_AF, MID, TAIL], sl=2),
                srv6_packet(udp4(sport=5), [PX_AF, MID, TAIL], sl=2, tlvs=[hmac_tlv()])):  # past the headroom
        buf = bytearray(frame(pkt))
        assert eng.from_sr(buf, 0, len(buf), 0.0) is not None
    att = eng.atts[vnf]
    sr_tx = MemoryTx()
    rx = memory_rx(frames, slots=4096)
    calls = [0]
    mv = rx.view

    def handler(b, s, e):
        calls[0] += 1
        out = eng.srv6.from_vnf(eng, att, b, s, e, 1.0, rx.meta)
        if out is True:
            sr_tx.put(mv[eng.ostart:eng.oend])
        elif out:
            sr_tx.put(out)

    entry = fastpath.return_entry(eng, att, sr_tx) if variant == "compiled" else None
    assert (entry is not None) == (variant == "compiled")
    rng = random.Random(5)
    pos = 0
    while pos < len(frames):
        budget = rng.randrange(1, 40)
        if entry is not None:
            fastpath.vnf_drain_compiled(MOD, rx, entry, handler, budget, 1.0)
        else:
            rx.drain(handler, budget)
        pos += budget
    return {"sent": sr_tx.sent(), "state": state(eng), "slow": calls[0], "errors": rx.errors}


@pytest.mark.parametrize("vnf", ["fmt", "fw", "ids", "flo"])
def test_return_ring_loop_in_c_like_the_reference(vnf):
    rnd = random.Random(len(vnf))
    if vnf == "ids":
        clean = [vnf_frame(srv6_packet(udp6(sport=k), [PX_AM, TAIL], sl=1)) for k in range(3)]
    elif vnf == "flo":  # the two learned flows (udp4 sport 1 is a miss: Python's in the ring loop)
        clean = [vnf_frame(udp4(sport=0)), vnf_frame(udp6())]
    else:
        clean = [vnf_frame(udp4(sport=k)) for k in range(2)] + [vnf_frame(udp6())]
    odd = [vnf_frame(srv6_packet(udp6(), [PX_AM, TAIL], sl=1, tlvs=[hmac_tlv()])), vnf_frame(udp4())[:30],
           vnf_frame(udp4(sport=5))]
    base = clean + odd
    frames = [bytes(mutate(rnd, bytearray(rnd.choice(base)), 14)) if rnd.random() < 0.3 else rnd.choice(base)
              for _ in range(2000)]
    ref = return_run("python", vnf, frames)
    got = return_run("compiled", vnf, frames)
    assert got["sent"] == ref["sent"] and got["state"] == ref["state"]
    assert ref["slow"] == 2000 and got["errors"] == ref["errors"] == 0 and len(ref["sent"]) > 600
    n_clean = sum(1 for f in frames if f in clean)
    assert n_clean > 500 and got["slow"] <= 2000 - n_clean  # C sent every clean frame itself


# ---- test_srv6_engine.py again, its engines in C ------------------------------------------------------------

@pytest.fixture(autouse=True)
def _compiled_engines(monkeypatch):
    monkeypatch.setattr(srv6lib, "COMPILED", MOD)


from test_srv6_engine import *  # noqa: E402, F403 -- the same tests, collected here with the fixture above
