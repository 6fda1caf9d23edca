"""SRv6 proxy behaviours on bytes (srv6.py): End.AS, End.AD (per attachment and per flow), End.AM, every
extension-header and SRH edge case with its counter, and a fuzz run in which every frame is counted once."""

from __future__ import annotations

import random

import pytest
from pxlib import udp4, udp6
from scapy.layers.inet6 import IPv6ExtHdrSegmentRouting
from scapy.layers.l2 import Ether
from srv6lib import (
    HEAD,
    MID,
    PX,
    PX_AD,
    PX_AM,
    SR_MAC,
    SW_MAC,
    TAIL,
    VNF_IF_MAC,
    VNF_MAC,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    as_entry,
    back,
    build,
    frame,
    hmac_tlv,
    inbound,
    make_engine,
    srv6_packet,
    vnf_frame,
)

from srchain_proxy.config import SidEntry, Srv6SidEntry
from srchain_proxy.engine import HEADROOM, Engine


def ad_entry(sid=PX_AD, vnf="fw", **kw) -> Srv6SidEntry:
    return Srv6SidEntry(sid=sid, behaviour="end.ad", vnf=vnf, **kw)


def am_entry(sid=PX_AM, vnf="ids", **kw) -> Srv6SidEntry:
    return Srv6SidEntry(sid=sid, behaviour="end.am", vnf=vnf, **kw)


def nonzero_drops(eng: Engine) -> dict[str, int]:
    return {k: v for k, v in eng.drops.items() if v}


def expected_after_end(pkt: IPv6) -> bytes:
    """What RFC 8986 End does to the outer headers: hop limit - 1, SL - 1, DA = Segment List[SL]."""
    out = pkt.copy()
    s = out[IPv6ExtHdrSegmentRouting]
    s.segleft -= 1
    out.dst = s.addresses[s.segleft]
    out.hlim -= 1
    return bytes(out)


# ---- End.AS --------------------------------------------------------------------------------------------

def test_end_as_decapsulates_and_reencapsulates_with_the_configured_srh():
    eng = make_engine([as_entry(segments=[[MID, TAIL]], hop_limit=33)])
    inner = udp4()
    att, out = inbound(eng, frame(srv6_packet(inner, [PX, TAIL], sl=1, hlim=9)))
    assert att is not None and att.vnf == "fmt"
    eth = Ether(out)
    assert (eth.dst, eth.src, eth.type) == (VNF_MAC, VNF_IF_MAC, 0x0800)
    assert bytes(eth.payload) == bytes(inner)  # the inner packet untouched (the VNF is its IP hop)
    reply = udp4(src="10.70.0.9", dst="10.80.0.5", payload=b"HELLO")
    ret = back(eng, "fmt", vnf_frame(reply))
    assert ret is not None
    want = Ether(dst=SW_MAC, src=SR_MAC) / IPv6(src=HEAD, dst=MID, hlim=33, tc=0, fl=0) / IPv6ExtHdrSegmentRouting(
        addresses=[TAIL, MID], segleft=1, nh=4) / reply
    assert ret == bytes(want)  # byte for byte: payload length, SRH lengths, Last Entry, SL, DA
    c = eng.counters()["srv6_sids"][PX]
    assert (c["behaviour"], c["rx_packets"], c["tx_packets"], c["tx_bytes"]) == ("end.as", 1, 1, len(ret))


def test_end_as_segments_left_buckets_and_inner_ipv6():
    eng = make_engine([as_entry(segments=[[PX, TAIL], [PX, MID]], segments_left=0)])
    seen = set()
    for sport in range(40):
        ret = back(eng, "fmt", vnf_frame(udp6(sport=sport)))
        assert ret is not None
        pkt = Ether(ret)[IPv6]
        s = pkt[IPv6ExtHdrSegmentRouting]
        assert (s.segleft, s.lastentry, s.nh) == (0, 1, 41)
        assert pkt.dst == s.addresses[0]  # DA = Segment List[SL]
        seen.add(pkt.dst)
        assert bytes(s.payload) == bytes(udp6(sport=sport))
    assert seen == {TAIL, MID}  # both lists used, by the flow's stable hash


def test_end_as_same_flow_same_list_across_engines():
    entry = as_entry(segments=[[TAIL], [MID]])
    a, b = make_engine([entry]), make_engine([entry])
    for sport in range(20):
        f = vnf_frame(udp4(sport=sport))
        assert back(a, "fmt", f) == back(b, "fmt", f)


# ---- End.AD --------------------------------------------------------------------------------------------

def test_end_ad_per_attachment_restores_the_learned_header_after_end():
    eng = make_engine([ad_entry()])  # cache_key iface: the draft's C(IFACE-IN)
    pkt = srv6_packet(udp4(), [MID, PX_AD, TAIL], sl=1, hlim=40, tlvs=[hmac_tlv()])
    att, out = inbound(eng, frame(pkt))
    assert att is not None and bytes(Ether(out).payload) == bytes(udp4())
    other = udp4(src="10.9.9.9", sport=1)  # any packet from the VNF takes the attachment's header
    ret = back(eng, "fw", vnf_frame(other))
    want = pkt.copy()
    want[IPv6ExtHdrSegmentRouting].remove_payload()
    want = IPv6(expected_after_end(want / other))
    assert ret == bytes(Ether(dst=SW_MAC, src=SR_MAC) / want)
    assert Ether(ret)[IPv6].dst == TAIL and Ether(ret)[IPv6].hlim == 39
    assert eng.srv6_events["hmac_tlv"] == 1  # carried through untouched, counted
    c = eng.counters()["srv6_sids"][PX_AD]["cache"]
    assert (c["key"], c["entries"], c["hits"], c["misses"]) == ("iface", 1, 1, 0)


def test_end_ad_iface_cache_follows_the_last_packet_and_names_the_inner_type():
    eng = make_engine([ad_entry()])
    inbound(eng, frame(srv6_packet(udp4(), [PX_AD, MID], sl=1)), now=1.0)
    inbound(eng, frame(srv6_packet(udp4(), [PX_AD, TAIL], sl=1)), now=2.0)
    ret = back(eng, "fw", vnf_frame(udp6()))  # an IPv6 packet back: next header 41, not the learned 4
    pkt = Ether(ret)[IPv6]
    assert pkt.dst == TAIL and pkt[IPv6ExtHdrSegmentRouting].nh == 41
    assert bytes(pkt[IPv6ExtHdrSegmentRouting].payload) == bytes(udp6())


def test_end_ad_per_flow_return_match_and_miss():
    eng = make_engine([ad_entry(cache_key="flow", return_match="reverse")])
    fwd = udp4(src="10.80.0.5", dst="10.70.0.9", sport=5555, dport=7000)
    inbound(eng, frame(srv6_packet(fwd, [PX_AD, TAIL], sl=1, hlim=20)))
    rev = udp4(src="10.70.0.9", dst="10.80.0.5", sport=7000, dport=5555)
    ret = back(eng, "fw", vnf_frame(rev))
    assert ret is not None and Ether(ret)[IPv6].dst == TAIL and Ether(ret)[IPv6].hlim == 19
    assert back(eng, "fw", vnf_frame(fwd)) is None  # the same direction is a miss with return_match reverse
    assert nonzero_drops(eng) == {"srv6_flow_miss": 1}
    c = eng.counters()["srv6_sids"][PX_AD]["cache"]
    assert (c["key"], c["entries"], c["learned"], c["hits"], c["misses"]) == ("flow", 1, 1, 1, 1)


def test_end_ad_nothing_learned_yet_is_a_flow_miss():
    eng = make_engine([ad_entry()])
    assert back(eng, "fw", vnf_frame(udp4())) is None
    assert nonzero_drops(eng) == {"srv6_flow_miss": 1}


def test_end_ad_learned_header_longer_than_the_headroom_goes_as_a_copy():
    segs = [PX_AD, "fcbb::1", "fcbb::2", "fcbb::3", "fcbb::4", "fcbb::5", TAIL]
    eng = make_engine([ad_entry()])
    pkt = srv6_packet(udp4(), segs, sl=6, tlvs=[hmac_tlv()])
    assert len(bytes(pkt)) - len(bytes(udp4())) > HEADROOM
    inbound(eng, frame(pkt))
    ret = back(eng, "fw", vnf_frame(udp4()))
    assert ret is not None and Ether(ret)[IPv6].dst == "fcbb::1"
    assert bytes(Ether(ret)[IPv6ExtHdrSegmentRouting].payload) == bytes(udp4())
    assert Ether(ret)[IPv6].plen == len(ret) - 14 - 40


# ---- End.AM --------------------------------------------------------------------------------------------

def test_end_am_masquerades_and_demasquerades():
    eng = make_engine([am_entry()])
    pkt = srv6_packet(udp6(), [MID, PX_AM, TAIL], sl=1, hlim=30, tlvs=[hmac_tlv()])
    att, out = inbound(eng, frame(pkt))
    assert att is not None and att.vnf == "ids"
    seen = Ether(out)
    assert (seen.dst, seen.type) == (VNF_MAC, 0x86DD)
    masq = pkt.copy()
    masq.dst = TAIL  # DA = Segment List[0]; SL, hop limit and the SRH (HMAC TLV included) unchanged
    assert bytes(seen.payload) == bytes(masq)
    ret = back(eng, "ids", vnf_frame(seen[IPv6]))
    assert ret == bytes(Ether(dst=SW_MAC, src=SR_MAC) / IPv6(expected_after_end(pkt)))
    c = eng.counters()["srv6_sids"][PX_AM]
    assert (c["rx_packets"], c["tx_packets"]) == (1, 1)
    assert eng.srv6_events["hmac_tlv"] == 2  # once each way


def test_end_am_return_refusals_are_counted():
    eng = make_engine([am_entry()])
    sl0 = srv6_packet(udp6(), [PX_AM, TAIL], sl=0)
    assert back(eng, "ids", vnf_frame(sl0)) is None
    not_ours = srv6_packet(udp6(), [MID, TAIL], sl=1)
    assert back(eng, "ids", vnf_frame(not_ours)) is None
    hl1 = srv6_packet(udp6(), [PX_AM, TAIL], sl=1, hlim=1)
    assert back(eng, "ids", vnf_frame(hl1)) is None
    assert back(eng, "ids", vnf_frame(udp6())) is None  # no SRH at all
    frag = srv6_packet(udp6(), [PX_AM, TAIL], sl=1, before=[IPv6ExtHdrFragment()])
    assert back(eng, "ids", vnf_frame(frag)) is None
    assert nonzero_drops(eng) == {"srv6_return_sl_zero": 1, "srv6_return_unknown_sid": 1,
                                  "srv6_return_hop_limit": 1, "srv6_return_no_srh": 1, "srv6_return_fragment": 1}


# ---- extension headers and SRH edge cases ----------------------------------------------------------------

def test_hop_by_hop_and_destination_options_before_the_srh_are_walked():
    eng = make_engine([as_entry()])
    inner = udp4()
    pkt = srv6_packet(inner, [PX, TAIL], sl=1, before=[IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt()])
    att, out = inbound(eng, frame(pkt))
    assert att is not None and bytes(Ether(out).payload) == bytes(inner)
    assert eng.srv6_events["ext_headers_before_srh"] == 1
    # destination options after the SRH (before the inner packet) too
    pkt = srv6_packet(None, [PX, TAIL], sl=1, nh=60) / IPv6ExtHdrDestOpt(nh=4) / inner
    att, out = inbound(eng, frame(pkt))
    assert att is not None and bytes(Ether(out).payload) == bytes(inner)
    assert eng.srv6_events["dest_opts_after_srh"] == 1
    assert nonzero_drops(eng) == {}


def one_drop(entries, pkt_or_bytes, **kw) -> dict[str, int]:
    eng = make_engine(entries)
    data = pkt_or_bytes if isinstance(pkt_or_bytes, bytes) else frame(pkt_or_bytes)
    att, _ = inbound(eng, data, **kw)
    assert att is None
    assert sum(st["rx_packets"] for st in eng.counters()["srv6_sids"].values()) == 0
    return nonzero_drops(eng)


@pytest.mark.parametrize("entry", [as_entry(), ad_entry(sid=PX), am_entry(sid=PX)], ids=["as", "ad", "am"])
def test_refusals_with_their_counter(entry):
    inner = udp4()
    good = srv6_packet(inner, [PX, TAIL], sl=1)
    cases = {
        "srv6_sl_zero": srv6_packet(inner, [TAIL, PX], sl=0),
        "srv6_hop_limit": srv6_packet(inner, [PX, TAIL], sl=1, hlim=1),
        "srv6_fragment": srv6_packet(inner, [PX, TAIL], sl=1, before=[IPv6ExtHdrFragment()]),
        "srv6_ext_header": srv6_packet(inner, [PX, TAIL], sl=1, before=[IPv6ExtHdrDestOpt(), IPv6ExtHdrHopByHop()]),
        "srv6_no_srh": IPv6(src=HEAD, dst=PX) / inner,
        "srv6_unknown_sid": srv6_packet(inner, [MID, TAIL], sl=1),
    }
    for reason, pkt in cases.items():
        assert one_drop([entry], pkt) == {reason: 1}, reason
    raw = bytearray(frame(good))
    srh_at = 14 + 40
    bad = {
        "last entry past the header": (srh_at + 4, 5),
        "SL > last entry + 1": (srh_at + 3, 3),  # 2 (= Last Entry + 1) is a reduced SRH, legal
    }
    for what, (off, value) in bad.items():
        data = bytearray(raw)
        data[off] = value
        assert one_drop([entry], bytes(data)) == {"srv6_bad_srh": 1}, what
    data = bytearray(raw)
    data[srh_at + 1] = 200  # header extension length beyond the packet
    assert one_drop([entry], bytes(data)) == {"srv6_truncated": 1}
    assert one_drop([entry], bytes(raw[:14 + 40 + 6])) == {"srv6_truncated": 1}  # cut inside the SRH
    # a TLV that runs past the SRH's end
    tlv = srv6_packet(inner, [PX, TAIL], sl=1, tlvs=[hmac_tlv()])
    data = bytearray(frame(tlv))
    data[srh_at + 8 + 32 + 1] = 250
    assert one_drop([entry], bytes(data)) == {"srv6_bad_srh": 1}


def tagged_returns() -> list[bytes]:
    """Frames back from a VNF with a tag still in them (the kernel took the outer one, if any): 802.1Q,
    802.1ad and 0x9100 before an IPv4 packet, and a tag before an SRv6 packet (End.AM's return)."""
    out = []
    for tpid, inner in ((0x8100, udp4()), (0x88A8, udp6()), (0x9100, udp4()),
                        (0x8100, srv6_packet(udp6(), [PX_AM, TAIL], sl=1))):
        plain = vnf_frame(inner)
        out.append(plain[:12] + tpid.to_bytes(2, "big") + (7).to_bytes(2, "big") + plain[12:])
    return out


def test_tagged_return_frames_count_as_return_vlan_as_on_the_sr_mpls_path():
    eng = make_engine([as_entry(), ad_entry(), am_entry()])
    inbound(eng, frame(srv6_packet(udp4(), [PX_AD, TAIL], sl=1)))  # End.AD has learned: a miss is not why
    for vnf in ("fmt", "fw", "ids"):
        for data in tagged_returns():
            before = eng.counters()
            assert back(eng, vnf, data) is None
            after = eng.counters()
            assert after["drops"]["return_vlan"] == before["drops"]["return_vlan"] + 1, vnf
            after["drops"]["return_vlan"] -= 1
            after["drops_total"] -= 1
            assert after == before, vnf  # nothing else moved: no other drop, no SID or event counter


def test_a_routing_header_of_another_type_is_not_an_srh():
    data = bytearray(frame(srv6_packet(udp4(), [PX, TAIL], sl=1)))
    data[14 + 40 + 2] = 3  # routing type 3 (RPL)
    assert one_drop([as_entry()], bytes(data)) == {"srv6_no_srh": 1}


def test_inner_not_ip_for_decapsulating_behaviours():
    pkt = srv6_packet(None, [PX, TAIL], sl=1, nh=59)  # no next header
    assert one_drop([as_entry()], pkt) == {"srv6_inner_type": 1}
    assert one_drop([ad_entry(sid=PX)], pkt) == {"srv6_inner_type": 1}


def test_hmac_tlv_is_counted_for_end_as_and_the_packet_forwarded():
    eng = make_engine([as_entry()])
    att, out = inbound(eng, frame(srv6_packet(udp4(), [PX, TAIL], sl=1, tlvs=[hmac_tlv()])))
    assert att is not None and bytes(Ether(out).payload) == bytes(udp4())
    assert eng.srv6_events["hmac_tlv"] == 1


def test_ipv6_without_srv6_sids_is_still_not_mpls_and_no_attachment_is_counted():
    eng = make_engine([])
    assert inbound(eng, frame(srv6_packet(udp4(), [PX, TAIL], sl=1)))[0] is None
    assert nonzero_drops(eng) == {"not_mpls": 1}
    eng = make_engine([as_entry(vnf="nobody")])
    assert inbound(eng, frame(srv6_packet(udp4(), [PX, TAIL], sl=1)))[0] is None
    assert nonzero_drops(eng) == {"no_attachment": 1}


def test_an_attachment_serves_one_data_plane():
    with pytest.raises(ValueError, match=r"srv6_sids\[fcbb:bb00:2::a5\].vnf: attachment fmt already serves SR-MPLS"):
        make_engine([as_entry()], mpls=[SidEntry(sid=16001, behaviour="static", vnf="fmt", restore=[[16002]])])


def test_rebuild_keeps_counters_and_learned_headers():
    eng = make_engine([ad_entry(), ad_entry(sid=PX, cache_key="flow")])
    inbound(eng, frame(srv6_packet(udp4(), [PX_AD, TAIL], sl=1)))
    inbound(eng, frame(srv6_packet(udp4(), [PX, TAIL], sl=1)))
    build(eng, [ad_entry(), ad_entry(sid=PX, cache_key="flow"), am_entry()])
    rows = eng.counters()["srv6_sids"]
    assert rows[PX_AD]["rx_packets"] == rows[PX]["rx_packets"] == 1
    assert rows[PX_AD]["cache"]["entries"] == rows[PX]["cache"]["entries"] == 1


def test_contract_messages():
    with pytest.raises(ValueError, match=r"segments: an end\.as SID needs"):
        Srv6SidEntry(sid=PX, behaviour="end.as", vnf="x", source=HEAD)
    with pytest.raises(ValueError, match=r"source: an end\.as SID needs"):
        Srv6SidEntry(sid=PX, behaviour="end.as", vnf="x", segments=[[TAIL]])
    with pytest.raises(ValueError, match="segments_left: 2 needs more than the 2 segments"):
        as_entry(segments=[[MID, TAIL]], segments_left=2)
    with pytest.raises(ValueError, match=r"6 segments exceed 5"):
        as_entry(segments=[[TAIL] * 6])
    with pytest.raises(ValueError, match="not a unicast IPv6 address"):
        as_entry(sid="ff02::1")
    with pytest.raises(ValueError, match="is not an IPv6 address"):
        as_entry(segments=[["10.0.0.1"]])
    with pytest.raises(ValueError, match="Input should be a valid integer"):
        Srv6SidEntry.model_validate({"sid": PX, "behaviour": "end.am", "vnf": "x", "hop_limit": "64"}, strict=True)
    assert as_entry(sid="FCBB:BB00:0002:0000::A5").sid == PX  # one spelling per address


# ---- reduced SRH (H.Encaps.Red) -------------------------------------------------------------------------

def reduced_packet(inner, travel: list[str], hlim: int = 64, **kw):
    """RFC 8986 §5.2 H.Encaps.Red of travel: the first segment only in the DA, the SRH holds the rest
    (reversed), SL = Last Entry + 1 — what Linux's `encap seg6 mode encap.red` writes."""
    return srv6_packet(inner, travel[1:], sl=len(travel) - 1, hlim=hlim, da=travel[0], **kw)


def test_reduced_srh_end_ad_learns_end_applied_da_from_segment_list_last_entry():
    """SL = Last Entry + 1 (RFC 8754 §4.3.1.1 allows it): End.AD's End takes SL - 1 = Last Entry and the DA
    from Segment List[Last Entry], the second segment, as Linux's seg6local End does."""
    eng = make_engine([ad_entry()])
    pkt = IPv6(bytes(reduced_packet(udp4(), [PX_AD, MID, TAIL], hlim=30)))
    s = pkt[IPv6ExtHdrSegmentRouting]
    assert (s.lastentry, s.segleft, pkt.dst) == (1, 2, PX_AD)
    att, out = inbound(eng, frame(pkt))
    assert att is not None and bytes(Ether(out).payload) == bytes(udp4())
    ret = back(eng, "fw", vnf_frame(udp4()))
    got = Ether(ret)[IPv6]
    assert (got.dst, got.hlim, got[IPv6ExtHdrSegmentRouting].segleft, got[IPv6ExtHdrSegmentRouting].lastentry) == (
        MID, 29, 1, 1)
    assert bytes(got) == expected_after_end(pkt)
    assert nonzero_drops(eng) == {}


def test_reduced_srh_end_as_decapsulates():
    eng = make_engine([as_entry(segments=[[TAIL]])])
    att, out = inbound(eng, frame(reduced_packet(udp4(), [PX, TAIL])))
    assert att is not None and bytes(Ether(out).payload) == bytes(udp4())
    assert eng.counters()["srv6_sids"][PX]["rx_packets"] == 1 and nonzero_drops(eng) == {}


def test_reduced_srh_refusals_say_which():
    """End.AM cannot take a reduced SRH (masquerading overwrites the DA, the only place our SID is: the
    packet back would name no SID); SL = Last Entry + 2 is still a bad SRH; an End.AM return whose SRH
    is reduced names no SID of ours."""
    assert one_drop([am_entry()], reduced_packet(udp6(), [PX_AM, TAIL])) == {"srv6_am_reduced_srh": 1}
    bad = bytearray(frame(reduced_packet(udp4(), [PX, TAIL])))
    bad[14 + 40 + 3] = 2  # Last Entry 0: SL 2 = Last Entry + 2
    assert one_drop([as_entry()], bytes(bad)) == {"srv6_bad_srh": 1}
    eng = make_engine([am_entry()])
    assert back(eng, "ids", vnf_frame(srv6_packet(udp6(), [TAIL], sl=1, da=TAIL))) is None
    assert nonzero_drops(eng) == {"srv6_return_unknown_sid": 1}


# ---- fuzz -------------------------------------------------------------------------------------------------

def test_fuzz_every_frame_counted_once_never_raises():
    rnd = random.Random(19)
    eng = make_engine([as_entry(), ad_entry(), ad_entry(sid="fcbb:bb00:2::af", cache_key="flow"), am_entry()])
    seeds = [frame(srv6_packet(udp4(), [PX, TAIL], sl=1, tlvs=[hmac_tlv()])),
             frame(srv6_packet(udp6(), [MID, PX_AD, TAIL], sl=1, before=[IPv6ExtHdrHopByHop()])),
             frame(srv6_packet(udp4(), [PX_AM, TAIL], sl=1)),
             frame(srv6_packet(udp4(), ["fcbb:bb00:2::af", TAIL], sl=1, before=[IPv6ExtHdrDestOpt()])),
             frame(reduced_packet(udp4(), [PX_AD, MID, TAIL]))]
    n = 20_000
    returned = 0
    for i in range(n):
        data = bytearray(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 4)):
            kind = rnd.random()
            if len(data) <= 15:
                break
            if kind < 0.6:
                data[rnd.randrange(14, len(data))] = rnd.randrange(256)
            elif kind < 0.8:
                del data[rnd.randrange(15, len(data)):]
            elif len(data) > 14 + 48:
                data[14 + 40 + rnd.randrange(8)] = rnd.randrange(256)  # the SRH's fixed part
        att, out = inbound(eng, bytes(data), now=i * 0.001)
        if att is not None and out is not None and i % 3 == 0:
            returned += back(eng, att.vnf, vnf_frame(Ether(out).payload), now=i * 0.001) is not None
    c = eng.counters()
    rx = sum(row["rx_packets"] for row in c["srv6_sids"].values())
    returns = ("srv6_flow_miss", "no_sid", *(r for r in c["drops"] if r.startswith(("srv6_return", "return_"))))
    inbound_drops = sum(v for k, v in c["drops"].items() if k not in returns)
    assert rx + inbound_drops == n  # every inbound frame is in one SID's rx or in exactly one inbound reason
    assert rx > n // 10 and returned > 0  # the mutations leave plenty of valid frames
