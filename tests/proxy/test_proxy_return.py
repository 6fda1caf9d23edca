"""The VNF -> SR direction: the compiled return loop against Engine.from_vnf (the reference), bit-exact.

Same returning frames (cached flows both ways, misses, expired flows, a stack learned at the bottom of
stack, TCP, ICMP, fragments, options, IPv6, ARP, truncated, padded and random frames, frames that just
fit a ring slot and just do not, VLAN tags the kernel took off or left inline, frames to other MACs and to
the broadcast MAC) through the Python ring walk and through the compiled loop, over the real ring classes
in shared memory, with flows learned and time moving between uneven batches: what each sends, counts and
caches must be identical.
"""

from __future__ import annotations

import functools
import random
import socket
import struct

import pytest
from pxlib import SR_MAC, SW_MAC, VNF_IF_MAC, VNF_MAC, ip_frame, mpls_frame, udp4, udp6
from pxring import TO_US, Link, MemoryTx, memory_rx
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether

from srchain_net.packetsock import PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST, PACKET_OTHERHOST
from srchain_net.rings import rx_max_frame
from srchain_proxy import compiled, datapath
from srchain_proxy.config import Attachment, SidEntry
from srchain_proxy.engine import HEADROOM, RETURN_DROPS, Engine
from srchain_proxy.fastpath import fast_table, return_entry, vnf_drain_compiled

A, B = "10.80.0.5", "10.70.0.9"
BROADCAST = "ff:ff:ff:ff:ff:ff"
ATT_MAX = rx_max_frame(HEADROOM)  # attachments' rings keep headroom for the push: 1850 bytes fit a slot


def engine(vnf: str, return_match: str):
    eng = Engine(SR_MAC, SW_MAC, msd=4)
    sids = [SidEntry(sid=16001, behaviour="static", vnf="fmt", restore=[[16002, 16003]], ttl=17),
            SidEntry(sid=16002, behaviour="dynamic", vnf="fw", cache_size=40, idle_timeout_s=1,
                     return_match=return_match, miss_policy="fallback", fallback=[16020]),
            SidEntry(sid=16003, behaviour="dynamic", vnf="fw2", return_match=return_match),
            SidEntry(sid=16004, behaviour="dynamic", vnf="fw2", return_match=return_match)]
    # fmt: an L3 VNF at a known MAC; fw, fw2: neither next hop nor MAC, so they get (and may send back)
    # frames to the broadcast MAC
    atts = [(Attachment(vnf="fmt", iface="spv0", mac=VNF_MAC), VNF_IF_MAC, VNF_MAC),
            *((Attachment(vnf=v, iface=f"spv{i}"), VNF_IF_MAC, BROADCAST) for i, v in ((1, "fw"), (2, "fw2")))]
    tables = eng.build(sids, atts)
    for att in tables.atts.values():
        att.tx = MemoryTx()
    eng.install(tables)
    eng.fast = fast_table(eng)
    return eng, eng.atts[vnf]


TAILS = ([16005, 16006], [16007], [])  # []: the proxy SID is the bottom label (return as plain IP)


@functools.cache
def inbound(sport: int, tail: int, ttl: int) -> bytes:
    """A frame from the switch for the dynamic SID: learns (or relearns) the flow's stack."""
    labels = [16002, *TAILS[tail]]
    return mpls_frame(labels, udp4(src=A, dst=B, sport=sport), ttls=[64, ttl, 59][:len(labels)])


@functools.cache
def returning_frames(n: int, seed: int) -> tuple[bytes, ...]:
    return tuple(returning(random.Random(seed * 1000 + i)) for i in range(n))


def returning(rng: random.Random) -> bytes:
    sport = rng.randrange(1000, 1060)  # 60 flows over a 40-entry cache
    k = rng.random()
    if k < 0.35:
        return ip_frame(udp4(src=A, dst=B, sport=sport, payload=b"r" * rng.randrange(0, 100)))  # same 5-tuple
    if k < 0.6:
        return ip_frame(udp4(src=B, dst=A, sport=7000, dport=sport))  # the reverse 5-tuple
    if k < 0.65:
        return ip_frame(IP(src=A, dst=B) / TCP(sport=sport, dport=7000))
    if k < 0.68:
        return ip_frame(IP(src=A, dst=B) / ICMP())
    if k < 0.71:
        return ip_frame(IP(src=A, dst=B, frag=10) / (b"x" * 8))
    if k < 0.74:
        return ip_frame(IP(src=A, dst=B, options=b"\x01" * 4) / UDP(sport=sport, dport=7000))
    if k < 0.78:
        return ip_frame(udp6(sport=sport))
    if k < 0.8:
        return bytes(Ether(dst=VNF_IF_MAC, src=VNF_MAC) / ARP())
    if k < 0.85:
        good = ip_frame(udp4(src=A, dst=B, sport=sport))
        return good[:rng.randrange(0, len(good) - 1)]  # truncated anywhere
    if k < 0.9:
        return ip_frame(udp4(src=A, dst=B, sport=sport)) + b"\0" * rng.randrange(1, 30)  # link padding
    if k < 0.92:
        return ip_frame(udp4(src=A, dst=B, sport=sport, payload=b"o" * 1990))  # larger than a ring slot
    if k < 0.93:  # as long as a slot holds, or one byte longer
        size = ATT_MAX + rng.choice([0, 0, 1])
        return ip_frame(udp4(src=A, dst=B, sport=sport, payload=b"n" * (size - 42)))
    if k < 0.94:  # a second VLAN tag still in the frame (the kernel takes off only the outer one)
        return bytes(Ether(dst=VNF_IF_MAC, src=VNF_MAC) / Dot1Q(vlan=7) / udp4(src=A, dst=B, sport=sport))
    if k < 0.95:
        return ip_frame(IP(src=A, dst=B, len=rng.choice([10, 19, 4000])) / UDP(sport=sport))  # bad length
    return bytes.fromhex(VNF_IF_MAC.replace(":", "") + "02000000000b") + rng.randbytes(rng.randrange(0, 80))


def return_links(n: int, seed: int) -> list[Link]:
    """What the kernel reports about each returning frame: mostly untagged to our MAC, else tagged, to
    another MAC, multicast or broadcast (taken from a VNF we send broadcast frames to, refused otherwise)."""
    rng = random.Random(seed)
    refused = [(PACKET_HOST, 0x8100, 100), (PACKET_HOST, 0x88A8, 4094), (PACKET_HOST, 0x8100, 3 << 13),
               (PACKET_OTHERHOST, 0, 0), (PACKET_MULTICAST, 0, 0), (PACKET_BROADCAST, 0x8100, 5)]
    return [rng.choice(refused) if r < 0.06 else (PACKET_BROADCAST, 0, 0) if r < 0.1 else TO_US
            for r in (rng.random() for _ in range(n))]


def run(variant: str, vnf: str, return_match: str, n: int = 3000, seed: int = 11):
    eng, att = engine(vnf, return_match)
    frames = list(returning_frames(n, seed))
    rx = memory_rx(frames, slots=4096, links=return_links(n, seed))
    sr_tx = MemoryTx()
    now = [0.0]

    def handler(buf, s, e):
        if eng.from_vnf(att, buf, s, e, now[0], rx.meta):
            sr_tx.put(rx.view[eng.ostart:eng.oend])

    entry = return_entry(eng, att, sr_tx)
    if variant == "compiled":
        assert entry is not None
        mod = compiled.load()
        drain = lambda budget: vnf_drain_compiled(mod, rx, entry, handler, budget, now[0])  # noqa: E731
    else:
        drain = lambda budget: rx.drain(handler, budget)  # noqa: E731
    rng = random.Random(seed)
    learn = random.Random(seed + 1)
    pos = 0
    while pos < n:
        for _ in range(learn.randrange(0, 6)):  # flows (re)learned from the SR side between batches
            f = bytearray(inbound(learn.randrange(1000, 1060), learn.randrange(3), learn.choice([60, 61])))
            eng.from_sr(f, 0, len(f), now[0])
        budget = rng.randrange(1, 40)
        drain(budget)
        pos += budget
        if rng.random() < 0.4:
            now[0] += 0.4  # entries idle for > 1 s expire on lookup
    caches = {sid: list(st.cache.od.items()) for sid, st in eng.sids.items() if st.cache is not None}
    return {"sent": sr_tx.sent(), "counters": eng.counters(), "caches": caches, "index": rx.i,
            "oversize": rx.oversize, "errors": rx.errors,
            "expired": {sid: st.cache.expired for sid, st in eng.sids.items() if st.cache is not None}}


def _needs_compiled():
    """The extension: built by `make .venv/.installed` (scripts/bootstrap.sh requires it), so never skipped."""
    mod = compiled.load()
    assert mod is not None, compiled.unavailable()
    return mod


@pytest.mark.parametrize("vnf,return_match", [("fw", "same"), ("fw", "reverse"), ("fw", "either"),
                                              ("fmt", "same")])
def test_compiled_return_loop_sends_counts_and_caches_like_the_reference(vnf, return_match):
    _needs_compiled()
    ref = run("python", vnf, return_match)
    got = run("compiled", vnf, return_match)
    assert len(ref["sent"]) > 500, "the mix must exercise the common case"
    drops = ref["counters"]["drops"]
    for reason in RETURN_DROPS:  # every reason but the ones this attachment cannot have
        assert drops[reason] > 0 or reason in {"fmt": ("flow_miss", "no_sid"), "fw": ("flow_miss", "no_sid")}[vnf]
    frames = returning_frames(3000, 11)
    assert ref["oversize"] == sum(len(f) > ATT_MAX for f in frames) > 0
    assert ATT_MAX + 8 in {len(f) for f in ref["sent"]} or vnf == "fw"  # fmt pushes two labels
    # multicast frames are refused; broadcast ones too, except from fw, which gets broadcast frames from us
    whole = [link for f, link in zip(frames, return_links(3000, 11), strict=True) if len(f) <= ATT_MAX]
    multicast = whole.count((PACKET_MULTICAST, 0, 0)) + (whole.count((PACKET_BROADCAST, 0, 0)) if vnf == "fmt" else 0)
    assert drops["return_multicast"] == multicast
    for key in ("counters", "caches", "index", "oversize", "errors", "expired"):
        assert got[key] == ref[key], key
    assert got["sent"] == ref["sent"]
    if vnf == "fw":  # every branch was taken: hits, misses (fallback), expiry, plain-IP returns
        counters = ref["counters"]["sids"]["16002"]
        assert counters["cache"]["hits"] > 100 and counters["cache"]["misses"] > 50
        assert ref["expired"][16002] > 0
        assert any(f[12:14] == b"\x08\x00" for f in ref["sent"])  # bottom-of-stack flows back as plain IP


def test_compiled_return_loop_forwards_the_common_case_itself_and_stops_at_anything_else():
    mod = _needs_compiled()
    eng, att = engine("fw", "either")
    f = bytearray(mpls_frame([16002, 16005], udp4(src=A, dst=B, sport=1234), ttls=[64, 33]))
    stack = bytes(f[18:22])
    eng.from_sr(f, 0, len(f), 1.0)
    frames = [ip_frame(udp4(src=B, dst=A, sport=7000, dport=1234))] * 3 + [ip_frame(udp6())]
    rx = memory_rx(frames)
    sr_tx = MemoryTx()
    entry = return_entry(eng, att, sr_tx)
    i, done, why, err = mod.ret_drain(rx.map, 0, rx.nr, 10, 1.5, entry)
    assert (i, done, why, err) == (3, 3, mod.WHY_SLOW, None)  # the IPv6 frame is left for Python, untouched
    assert rx.map[3 * 2048] & 1 and not rx.map[2 * 2048] & 1
    sent = sr_tx.sent()
    assert len(sent) == 3 and sent[0][:14] == eng.sr_mpls and sent[0][14:18] == stack
    assert eng.sids[16002].hits == 3 and eng.sids[16002].tx_pkts == 3
    (_key, (_stack, seen)), = eng.sids[16002].cache.od.items()
    assert seen == 1.5  # refreshed by C as FlowCache.lookup does
    # attachments the C loop does not serve: several dynamic SIDs, or a socket send side
    assert return_entry(eng, eng.atts["fw2"], sr_tx) is None
    assert return_entry(eng, att, datapath.SocketTx.__new__(datapath.SocketTx)) is None


def test_compiled_return_loop_error_costs_one_frame_count_not_the_frame(caplog):
    _needs_compiled()
    eng, att = engine("fw", "same")
    f = bytearray(mpls_frame([16002, 16005], udp4(src=A, dst=B, sport=1234)))
    eng.from_sr(f, 0, len(f), 1.0)
    rx = memory_rx([ip_frame(udp4(src=A, dst=B, sport=1234))] * 4)
    sr_tx = MemoryTx()
    entry = list(return_entry(eng, att, sr_tx))
    key = (17, socket.inet_aton(A) + socket.inet_aton(B) + struct.pack("!HH", 1234, 7000))
    entry[1] = {BrokenKey(hash(key)): None}  # comparing our key with it raises: the C API call fails

    def handler(buf, s, e):
        if eng.from_vnf(att, buf, s, e, 1.0):
            sr_tx.put(rx.view[eng.ostart:eng.oend])

    assert vnf_drain_compiled(compiled.load(), rx, tuple(entry), handler, 10, 1.0) is False
    assert rx.errors == 4 and "compiled return path failed" in caplog.text and "RuntimeError" in caplog.text
    assert len(sr_tx.sent()) == 4 and eng.sids[16002].tx_pkts == 4  # each went through the Python path


class BrokenKey:
    def __init__(self, h: int) -> None:
        self.h = h

    def __hash__(self) -> int:
        return self.h

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("broken key comparison")
