"""Per-packet logic: static and dynamic round trips, TTL/TC/S rules, versions, drops by reason."""

from __future__ import annotations

import random

import pytest
from pxlib import SR_MAC, SW_MAC, VNF_IF_MAC, VNF_MAC, inner_bytes, ip_frame, labels_of, mpls_frame, udp4, udp6
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from srchain_net.packetsock import PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST, PACKET_OTHERHOST
from srchain_net.rings import (
    TP_STATUS_VLAN_TPID_VALID,
    TP_STATUS_VLAN_VALID,
    link_meta,
    rx_frame_offset,
    rx_max_frame,
)
from srchain_proxy.config import Attachment, SidEntry
from srchain_proxy.engine import DROP_REASONS, HEADROOM, Engine


def static(sid=16001, vnf="fmt", restore=((16002, 16004, 16005),), ttl=64, version=1) -> SidEntry:
    return SidEntry(sid=sid, behaviour="static", vnf=vnf, restore=[list(r) for r in restore], ttl=ttl,
                    version=version)


def dynamic(sid=16002, vnf="fw", **kw) -> SidEntry:
    return SidEntry(sid=sid, behaviour="dynamic", vnf=vnf, **kw)


def make_engine(sids, vnfs=("fmt", "fw"), msd=8) -> Engine:
    eng = Engine(SR_MAC, SW_MAC, msd=msd)
    atts = [(Attachment(vnf=v, iface=f"pxv{i}"), VNF_IF_MAC, VNF_MAC) for i, v in enumerate(vnfs)]
    eng.install(eng.build(sids, atts))
    return eng


def inbound(eng: Engine, frame: bytes, now=0.0):
    buf = bytearray(frame)
    att = eng.from_sr(buf, 0, len(buf), now)
    return att, (bytes(buf[eng.ostart:eng.oend]) if att is not None else None)


def back(eng: Engine, vnf: str, frame: bytes, now=0.0) -> bytes | None:
    buf = bytearray(HEADROOM) + bytearray(frame)
    ok = eng.from_vnf(eng.atts[vnf], buf, HEADROOM, len(buf), now)
    return bytes(buf[eng.ostart:eng.oend]) if ok else None


def test_static_round_trip_pops_all_and_pushes_configured_stack():
    eng = make_engine([static(ttl=33)])
    inner = udp4()
    att, out = inbound(eng, mpls_frame([16001, 16002, 16004], inner, ttls=[9, 8, 7], tcs=[1, 2, 3]))
    assert att is not None and att.vnf == "fmt"
    eth = Ether(out)
    assert (eth.dst, eth.src, eth.type) == (VNF_MAC, VNF_IF_MAC, 0x0800)
    assert bytes(eth.payload) == bytes(inner)
    reply = udp4(src="10.70.0.9", dst="10.80.0.5", sport=7000, dport=5555, payload=b"HELLO")
    ret = back(eng, "fmt", ip_frame(reply))
    eth = Ether(ret)
    assert (eth.dst, eth.src, eth.type) == (SW_MAC, SR_MAC, 0x8847)
    # static: configured TTL, TC 0, S only on the last label
    assert labels_of(ret) == [(16002, 0, 0, 33), (16004, 0, 0, 33), (16005, 0, 1, 33)]
    assert inner_bytes(ret) == bytes(reply)
    c = eng.counters()["sids"]["16001"]
    assert (c["rx_packets"], c["tx_packets"]) == (1, 1)
    assert c["rx_bytes"] == len(mpls_frame([16001, 16002, 16004], inner))
    assert c["tx_bytes"] == len(ret)


def test_dynamic_restores_learned_stack_bit_exact_ipv4_and_ipv6():
    eng = make_engine([dynamic()])
    for inner in (udp4(), udp6()):
        frame = mpls_frame([16002, 16004, 16005, 16009], inner, ttls=[50, 49, 48, 47], tcs=[4, 5, 6, 7])
        att, out = inbound(eng, frame)
        assert att is not None
        assert Ether(out).type == (0x0800 if isinstance(inner, IP) else 0x86DD)
        ret = back(eng, "fw", out.replace(VNF_IF_MAC.replace(":", "").encode(), b""))  # same bytes back
        assert ret is not None
        assert labels_of(ret) == [(16004, 5, 0, 49), (16005, 6, 0, 48), (16009, 7, 1, 47)]
        assert ret[14:26] == frame[18:30]  # the remaining stack, byte for byte
        assert inner_bytes(ret) == bytes(inner)


@pytest.mark.parametrize(("match", "same_ok", "reverse_ok"),
                         [("same", True, False), ("reverse", False, True), ("either", True, True)])
def test_dynamic_return_match(match, same_ok, reverse_ok):
    eng = make_engine([dynamic(return_match=match)])
    inbound(eng, mpls_frame([16002, 16004], udp4()))
    rev = udp4(src="10.70.0.9", dst="10.80.0.5", sport=7000, dport=5555)
    assert (back(eng, "fw", ip_frame(udp4())) is not None) is same_ok
    assert (back(eng, "fw", ip_frame(rev)) is not None) is reverse_ok


def test_dynamic_miss_policy_drop_and_fallback():
    eng = make_engine([dynamic()])
    assert back(eng, "fw", ip_frame(udp4())) is None
    assert eng.drops["flow_miss"] == 1
    assert eng.counters()["sids"]["16002"]["cache"]["misses"] == 1
    eng = make_engine([dynamic(miss_policy="fallback", fallback=[16007, 16008], ttl=20)])
    ret = back(eng, "fw", ip_frame(udp4()))
    assert labels_of(ret) == [(16007, 0, 0, 20), (16008, 0, 1, 20)]
    assert eng.drops["flow_miss"] == 0


def test_lru_bound_and_idle_expiry():
    eng = make_engine([dynamic(cache_size=4, idle_timeout_s=10)])
    for port in range(6):
        inbound(eng, mpls_frame([16002, 16004], udp4(sport=1000 + port)), now=port)
    cache = eng.sids[16002].cache
    assert len(cache) == 4 and cache.evictions == 2
    assert back(eng, "fw", ip_frame(udp4(sport=1000)), now=6) is None  # evicted (least recently used)
    assert back(eng, "fw", ip_frame(udp4(sport=1005)), now=6) is not None
    assert back(eng, "fw", ip_frame(udp4(sport=1002)), now=12.5) is None  # idle 10.5 s > 10 s
    assert cache.expired == 1
    eng.expire(now=15.5)  # 1003 and 1004 idle since 3 and 4; 1005 touched at 6
    assert len(cache) == 1 and cache.expired == 3
    assert eng.counters()["sids"]["16002"]["cache"]["full"] is False


def test_multiple_chains_through_one_vnf_and_versions_coexist():
    # two dynamic SIDs (chains A and B, or versions 1 and 2 of one chain) on the same VNF
    eng = make_engine([dynamic(sid=16002, version=1), dynamic(sid=16012, version=2)])
    inbound(eng, mpls_frame([16002, 16004, 16005], udp4(sport=1)))
    inbound(eng, mpls_frame([16012, 16005, 16004], udp4(sport=2)))
    assert [lab[0] for lab in labels_of(back(eng, "fw", ip_frame(udp4(sport=1))))] == [16004, 16005]
    assert [lab[0] for lab in labels_of(back(eng, "fw", ip_frame(udp4(sport=2))))] == [16005, 16004]
    c = eng.counters()["sids"]
    assert (c["16002"]["tx_packets"], c["16012"]["tx_packets"]) == (1, 1)


def test_static_versions_keep_old_stack_for_flows_that_entered_on_old_version():
    eng = make_engine([static(sid=16001, version=1, restore=[[16002, 16003]]),
                       static(sid=16011, version=2, restore=[[16003, 16002]])])
    inbound(eng, mpls_frame([16001, 16002], udp4(sport=1)))  # in flight inside the VNF on version 1
    inbound(eng, mpls_frame([16011, 16003], udp4(sport=2)))
    reply = udp4(src="10.70.0.9", dst="10.80.0.5", sport=7000, dport=1)
    assert [x[0] for x in labels_of(back(eng, "fmt", ip_frame(reply)))] == [16002, 16003]
    # a packet the VNF generates on its own goes out on the newest version
    assert [x[0] for x in labels_of(back(eng, "fmt", ip_frame(udp4(sport=9, dport=9))))] == [16003, 16002]


def test_load_balancing_buckets_are_sticky_per_flow():
    restore = [[16002, 16100 + i] for i in range(4)]
    eng = make_engine([static(restore=restore)])
    seen = set()
    for port in range(64):
        frame = ip_frame(udp4(sport=port))
        first = labels_of(back(eng, "fmt", frame))
        assert labels_of(back(eng, "fmt", frame)) == first
        seen.add(first[1][0])
    assert seen == {16100, 16101, 16102, 16103}


def test_config_change_keeps_learned_flows_and_counters():
    eng = make_engine([dynamic()])
    inbound(eng, mpls_frame([16002, 16004], udp4()))
    eng.install(eng.build([dynamic(), static()], [(Attachment(vnf="fw", iface="pxv1"), VNF_IF_MAC, VNF_MAC),
                                                  (Attachment(vnf="fmt", iface="pxv0"), VNF_IF_MAC, VNF_MAC)]))
    assert back(eng, "fw", ip_frame(udp4())) is not None
    assert eng.counters()["sids"]["16002"]["rx_packets"] == 1


def test_build_refuses_stack_deeper_than_msd():
    eng = make_engine([], msd=3)
    with pytest.raises(ValueError, match=r"sids\[16001\]\.restore\[0\]: 4 labels exceed msd 3"):
        eng.build([static(restore=[[16, 17, 18, 19]])], [])
    assert eng.sids == {}  # nothing half-applied


def test_malformed_inbound_frames_dropped_by_reason():
    eng = make_engine([static(), dynamic()], msd=4)
    ip = udp4()
    cases = {
        "truncated": [b"\x00" * 10, mpls_frame([16001, 16002], ip)[:20], mpls_frame([16001], ip)[:30]],
        "not_mpls": [ip_frame(ip)],
        "unknown_sid": [mpls_frame([17000, 16002], ip)],
        "ttl_expired": [mpls_frame([16001, 16002], ip, ttls=[1, 64]), mpls_frame([16002], ip, ttls=[0])],
        "stack_too_deep": [mpls_frame([16001, 16, 17, 18, 19], ip)],
        "not_ip": [mpls_frame([16001, 16002], b"\x00" * 40), mpls_frame([16001], b"\x51" * 30)],
    }
    for reason, frames in cases.items():
        for frame in frames:
            assert inbound(eng, frame)[0] is None, reason
        assert eng.drops[reason] == len(frames), reason
    eng2 = make_engine([static(vnf="other")])
    assert inbound(eng2, mpls_frame([16001, 16002], ip))[0] is None
    assert eng2.drops["no_attachment"] == 1


def test_unresolved_next_hop_drops_with_reason():
    eng = Engine(SR_MAC, SW_MAC)
    eng.install(eng.build([static()], [(Attachment(vnf="fmt", iface="a", next_hop="10.0.0.2"), VNF_IF_MAC, None)]))
    assert inbound(eng, mpls_frame([16001, 16002], udp4()))[0] is None
    assert eng.drops["no_neighbour"] == 1


def test_malformed_return_frames_dropped_by_reason():
    eng = make_engine([static(), dynamic()])
    arp = bytes.fromhex("ffffffffffff" + "020000000b02" + "0806") + b"\x00" * 28
    assert back(eng, "fw", arp) is None and eng.drops["return_not_ip"] == 1
    assert back(eng, "fw", ip_frame(udp4())[:30]) is None and eng.drops["return_truncated"] == 1
    assert back(eng, "fmt", bytes.fromhex("02") * 10) is None and eng.drops["return_truncated"] == 2


def test_random_frames_never_crash_and_every_frame_is_accounted():
    """100,000 malformed frames: each one is either forwarded or dropped under exactly one reason."""
    eng = make_engine([static(), dynamic(cache_size=128)], msd=4)
    rng = random.Random(6)
    good = mpls_frame([16001, 16002, 16004], udp4())
    forwarded = 0
    n = 100_000
    for i in range(n):
        kind = i % 4
        if kind == 0:  # random bytes
            frame = rng.randbytes(rng.randrange(0, 120))
        elif kind == 1:  # a valid frame cut short
            frame = good[:rng.randrange(0, len(good))]
        elif kind == 2:  # a valid frame with random bytes flipped in the MPLS/IP headers
            frame = bytearray(good)
            for _ in range(rng.randrange(1, 4)):
                frame[rng.randrange(12, 50)] = rng.randrange(256)
        else:  # MPLS ethertype, random label stack and payload
            frame = bytes.fromhex("020000000a01020000000a028847") + rng.randbytes(rng.randrange(0, 80))
        if inbound(eng, bytes(frame))[0] is not None:
            forwarded += 1
    counters = eng.counters()
    rx = sum(row["rx_packets"] for row in counters["sids"].values())
    assert rx == forwarded
    assert counters["drops_total"] + forwarded == n
    assert set(counters["drops"]) == set(DROP_REASONS)
    # still forwarding afterwards
    assert inbound(eng, good)[0] is not None


def test_counts_made_by_the_old_tables_after_a_rebuild_are_kept():
    """A config change builds new tables while the data path still runs on the old ones: whatever the
    old tables count between build and install must show in the new tables' counters."""
    eng = make_engine([dynamic()])
    inbound(eng, mpls_frame([16002, 16004], udp4()))
    new = eng.build([dynamic()], [(Attachment(vnf="fw", iface="pxv1"), VNF_IF_MAC, VNF_MAC)])
    assert back(eng, "fw", ip_frame(udp4())) is not None  # counted by the old tables
    assert back(eng, "fw", ip_frame(udp4(sport=9))) is None  # a miss, also counted by the old tables
    eng.install(new)
    row = eng.counters()["sids"]["16002"]
    assert (row["rx_packets"], row["tx_packets"]) == (1, 1)
    assert (row["cache"]["hits"], row["cache"]["misses"]) == (1, 1)


# ---- VLAN and MAC rules (docs/proxy.md): meta is what the kernel reported (srchain_net.rings.link_meta) ----

def _meta(pkttype: int = PACKET_HOST, tpid: int = 0, tci: int = 0) -> int:
    status = TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID if tpid else 0
    return link_meta(status, tci, tpid, pkttype)


def _sr_verdict(eng: Engine, frame: bytes, meta: int) -> str:
    """Either "forwarded" or the one drop reason the frame was counted under."""
    before = dict(eng.drops)
    att = eng.from_sr(bytearray(frame), 0, len(frame), 0.0, meta)
    grew = [r for r in eng.drops if eng.drops[r] != before[r]]
    assert len(grew) == (att is None), grew
    return "forwarded" if att is not None else grew[0]


DOT1Q, QINQ = 0x8100, 0x88A8


@pytest.mark.parametrize("meta,reason", [
    (_meta(tpid=DOT1Q, tci=1), "vlan"), (_meta(tpid=DOT1Q, tci=100), "vlan"), (_meta(tpid=DOT1Q, tci=4094), "vlan"),
    (_meta(tpid=QINQ, tci=100), "vlan"), (_meta(tpid=DOT1Q, tci=5 << 13), "vlan"),  # priority tag, VLAN 0
    (link_meta(TP_STATUS_VLAN_VALID, 100, 0, PACKET_HOST), "vlan"),  # a kernel that gives no TPID: 802.1Q
    (_meta(PACKET_OTHERHOST, DOT1Q, 100), "vlan"),  # another VLAN's frame, whoever it is for
    (_meta(PACKET_OTHERHOST), "foreign_mac"), (_meta(PACKET_BROADCAST), "multicast"),
    (_meta(PACKET_MULTICAST), "multicast"), (_meta(), "forwarded")])
def test_untagged_sr_side_takes_only_untagged_frames_to_its_own_mac(meta, reason):
    eng = make_engine([static()])
    assert _sr_verdict(eng, mpls_frame([16001, 16002], udp4()), meta) == reason


@pytest.mark.parametrize("meta,reason", [
    (_meta(tpid=DOT1Q, tci=100), "forwarded"), (_meta(tpid=DOT1Q, tci=7 << 13 | 1 << 12 | 100), "forwarded"),
    (_meta(), "vlan"), (_meta(tpid=DOT1Q, tci=101), "vlan"), (_meta(tpid=DOT1Q, tci=100 | 1 << 11), "vlan"),
    (_meta(tpid=QINQ, tci=100), "vlan"), (_meta(PACKET_OTHERHOST, DOT1Q, 100), "foreign_mac"),
    (_meta(PACKET_BROADCAST, DOT1Q, 100), "multicast")])
def test_sr_vlan_is_matched_exactly_priority_bits_aside(meta, reason):
    eng = Engine(SR_MAC, SW_MAC, sr_vlan=100)
    eng.install(eng.build([static()], [(Attachment(vnf="fmt", iface="pxv0"), VNF_IF_MAC, VNF_MAC)]))
    assert _sr_verdict(eng, mpls_frame([16001, 16002], udp4()), meta) == reason


def test_a_tag_left_inside_the_frame_counts_as_vlan_not_as_another_protocol():
    """The kernel takes off the outer tag only: behind an accepted one (or none) another may follow."""
    mpls = mpls_frame([16001, 16002], udp4())
    for tpid in (DOT1Q, QINQ, 0x9100):
        inline = mpls[:12] + tpid.to_bytes(2, "big") + (200).to_bytes(2, "big") + mpls[12:]
        assert _sr_verdict(make_engine([static()]), inline, 0) == "vlan"
        tagged = Engine(SR_MAC, SW_MAC, sr_vlan=100)
        tagged.install(tagged.build([static()], [(Attachment(vnf="fmt", iface="pxv0"), VNF_IF_MAC, VNF_MAC)]))
        assert _sr_verdict(tagged, inline, _meta(tpid=DOT1Q, tci=100)) == "vlan"
    eng = make_engine([static()])
    buf = bytearray(HEADROOM) + bytearray(ip_frame(udp4())[:12] + b"\x81\x00\x00\x07" + ip_frame(udp4())[12:])
    assert not eng.from_vnf(eng.atts["fmt"], buf, HEADROOM, len(buf), 0.0) and eng.drops["return_vlan"] == 1


def test_frames_back_to_a_tagged_sr_side_carry_its_vlan():
    eng = Engine(SR_MAC, SW_MAC, sr_vlan=4094)
    atts = [(Attachment(vnf=v, iface=f"pxv{i}"), VNF_IF_MAC, VNF_MAC) for i, v in enumerate(("fmt", "fw"))]
    eng.install(eng.build([static(restore=((16002, 16004),)), dynamic()], atts))
    ret = back(eng, "fmt", ip_frame(udp4()))
    eth = Ether(ret)
    assert (eth.dst, eth.src, eth.type, eth.payload.vlan, eth.payload.prio, eth.payload.type) == (
        SW_MAC, SR_MAC, DOT1Q, 4094, 0, 0x8847)
    assert labels_of(bytes(Ether(dst=SW_MAC, src=SR_MAC, type=0x8847)) + ret[18:]) == [(16002, 0, 0, 64),
                                                                                       (16004, 0, 1, 64)]
    # the proxy SID was the bottom label: back as plain IP, tagged too
    buf = bytearray(mpls_frame([16002], udp4()))
    assert eng.from_sr(buf, 0, len(buf), 0.0, _meta(tpid=DOT1Q, tci=4094)) is not None
    ret = back(eng, "fw", ip_frame(udp4()))
    assert ret[12:18] == b"\x81\x00\x0f\xfe\x08\x00" and ret[18:] == bytes(udp4())


@pytest.mark.parametrize("meta,l3,l2", [
    (_meta(), "forwarded", "forwarded"), (_meta(PACKET_BROADCAST), "return_multicast", "forwarded"),
    (_meta(PACKET_MULTICAST), "return_multicast", "return_multicast"),
    (_meta(PACKET_OTHERHOST), "return_foreign_mac", "return_foreign_mac"),
    (_meta(tpid=DOT1Q, tci=100), "return_vlan", "return_vlan"), (_meta(tpid=QINQ, tci=9), "return_vlan", "return_vlan"),
    (_meta(PACKET_BROADCAST, DOT1Q, 0), "return_vlan", "return_vlan")])
def test_attachments_take_untagged_frames_to_their_mac_and_broadcast_only_from_l2_vnfs(meta, l3, l2):
    """An L3 VNF (next hop or MAC) sends back to our MAC; a VNF we send broadcast frames to (neither) may
    pass them back unchanged, to the broadcast MAC. No tag: a VLAN attachment's sub-interface took its own."""
    eng = Engine(SR_MAC, SW_MAC)
    eng.install(eng.build([static(vnf="l3"), static(sid=16003, vnf="l2")],
                          [(Attachment(vnf="l3", iface="pxv0", mac=VNF_MAC), VNF_IF_MAC, VNF_MAC),
                           (Attachment(vnf="l2", iface="pxv1"), VNF_IF_MAC, "ff:ff:ff:ff:ff:ff")]))
    for vnf, want in (("l3", l3), ("l2", l2)):
        before = dict(eng.drops)
        buf = bytearray(HEADROOM) + bytearray(ip_frame(udp4()))
        ok = eng.from_vnf(eng.atts[vnf], buf, HEADROOM, len(buf), 0.0, meta)
        grew = [r for r in eng.drops if eng.drops[r] != before[r]]
        assert ("forwarded" if ok else grew[0]) == want and len(grew) == (not ok), (vnf, grew)


def test_ring_slot_holds_a_frame_up_to_its_documented_size():
    """2048-byte slot - the kernel's header and sockaddr_ll, aligned (80) + reserve, + the 14-byte header."""
    assert (rx_max_frame(0), rx_max_frame(HEADROOM)) == (1982, 1850)
    assert rx_frame_offset(0) + rx_max_frame(0) == 2048


def test_static_versions_label_returns_in_the_order_the_flow_went_in():
    # a chain change mid-flow: frames still inside the VNF when the flow's first version-2 frame arrives
    # come back with version 1's stack, later ones with version 2's, however the turns interleave
    eng = make_engine([static(sid=16001, version=1, restore=[[16002, 16003]]),
                       static(sid=16011, version=2, restore=[[16003, 16002]])])
    for _ in range(3):
        inbound(eng, mpls_frame([16001, 16002], udp4(sport=1)), now=1.0)  # v1: three frames in the VNF
    inbound(eng, mpls_frame([16011, 16003], udp4(sport=1)), now=1.0)  # the flip: v2's first frame
    inbound(eng, mpls_frame([16011, 16003], udp4(sport=1)), now=1.0)
    tops = [labels_of(back(eng, "fmt", ip_frame(udp4(sport=1)), now=1.01))[0][0] for _ in range(5)]
    assert tops == [16002, 16002, 16002, 16003, 16003]
    # more returns than went in (frames the VNF made): the newest version, no underflow
    assert labels_of(back(eng, "fmt", ip_frame(udp4(sport=1)), now=1.02))[0][0] == 16003


def test_frames_inside_the_vnf_when_a_second_version_arrives_return_with_the_version_they_went_in_under():
    """One static SID, no pins (nothing to tell apart); then the next chain version's SID is installed (before
    any switch sends it: make-before-break). Frames that went in before it and come back before the flow sends
    again return with their own version's stack, not the newest; a frame nobody pinned takes the newest version
    once those frames have had RUN_RESIDENCE_S to come back."""
    from srchain_proxy.engine import RUN_RESIDENCE_S

    v1 = static(sid=16001, version=1, restore=[[16002, 16003]])
    eng = make_engine([v1])
    for _ in range(3):
        inbound(eng, mpls_frame([16001, 16002], udp4(sport=1)), now=1.0)  # three v1 frames inside the VNF
    atts = [(Attachment(vnf=v, iface=f"pxv{i}"), VNF_IF_MAC, VNF_MAC) for i, v in enumerate(("fmt", "fw"))]
    eng.install(eng.build([v1, static(sid=16011, version=2, restore=[[16003, 16002]])], atts))
    tops = [labels_of(back(eng, "fmt", ip_frame(udp4(sport=1)), now=1.001))[0][0] for _ in range(3)]
    assert tops == [16002] * 3, tops  # before: the newest version's stack, v2 traffic before any flip
    inbound(eng, mpls_frame([16001, 16002], udp4(sport=1)), now=1.002)  # the flow goes on under v1, pinned
    inbound(eng, mpls_frame([16011, 16003], udp4(sport=1)), now=1.003)  # the flip
    tops = [labels_of(back(eng, "fmt", ip_frame(udp4(sport=1)), now=1.004))[0][0] for _ in range(2)]
    assert tops == [16002, 16003], tops
    # a flow the VNF makes itself, after the bound: the newest version, as before
    late = 1.001 + RUN_RESIDENCE_S + 0.01
    assert labels_of(back(eng, "fmt", ip_frame(udp4(sport=9)), now=late))[0][0] == 16003


def test_static_versions_a_run_the_vnf_dropped_gives_way_after_the_residence_bound():
    from srchain_proxy.engine import RUN_RESIDENCE_S

    eng = make_engine([static(sid=16001, version=1, restore=[[16002, 16003]]),
                       static(sid=16011, version=2, restore=[[16003, 16002]])])
    for _ in range(2):
        inbound(eng, mpls_frame([16001, 16002], udp4(sport=1)), now=1.0)  # the VNF drops both
    inbound(eng, mpls_frame([16011, 16003], udp4(sport=1)), now=1.0)
    late = 1.0 + RUN_RESIDENCE_S + 0.01
    assert labels_of(back(eng, "fmt", ip_frame(udp4(sport=1)), now=late))[0][0] == 16003
