"""Profile srv6 of p4/srchain_node.p4 (the SR core over SRv6), driven in-process through the emulator: every frame
out is compared byte for byte with the one scapy builds (IPv6ExtHdrSegmentRouting), every drop with its reason's
counter. H.Encaps / H.Encaps.Red at the classifier, End, End.X, End.DX4, End.DT4, priority and flow-features
module SIDs (the feature report H.Encaps'd toward its SIDs), Hop Limit and Segments Left rules (RFC 8986
4.1-4.6), SRHs the parser refuses (RFC 8754 fields)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import (
    ICMPv6MLReport2,
    ICMPv6ND_NS,
    IPv6,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrSegmentRouting,
    RouterAlert,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from srchain.plan.tables import DECISION_GROUP, DECISION_RID, RECIRC_LOCAL_PORT, REPORT_RID, REPORT_SESSION_BASE
from srchain_contracts.records import DecisionRecord, FeatureReport, FlowKey
from srchain_emu.interp import runtime as R
from srchain_emu.interp.pipeline import Emitted, Pipeline

ROOT = Path(__file__).resolve().parents[2]
PROFILE = {"SRCHAIN_SRV6": "1"}  # p4/build --profile srv6
SRC = "fcbb:bb00:1::1"  # the classifier's encapsulation source
END, END_X, DX4, DT4, PRIO, FF = (f"fcbb:bb00:1:{f}::" for f in ("e000", "e001", "e002", "e003", "e004", "e005"))
NEXT = "fcbb:bb00:2:e000::"  # a SID of the next switch: forwarded by its /48 locator
LAST = "fcbb:bb00:3:e002::"
NH_MAC, X_MAC, DX4_MAC, ROUTE_MAC = 0x0200000000AA, 0x0200000000BB, 0x0200000000CC, 0x0200000000DD
PORT_FWD, PORT_X, PORT_DX4, PORT_ROUTE = 2, 3, 4, 5
PRIO_SID, PRIO_CLASS, PRIO_QID = 16005, 3, 7
FF_SID, SWITCH_ID, REPORT_PORT, REPORT_GROUP = 16000, 3, 6, 9
COLLECTOR = "fcbb:bb00:4:e002::"  # the report path's last SID (an End.DX4 toward the aggregator)
# the report's E2E mirror cut: mirror header + Ethernet + IPv6 + an SRH of 4 + IPv4 + UDP + record (the SR-MPLS
# profiles' plan/tables.py REPORT_TRUNCATE is 147, for 8 labels)
SRV6_REPORT_TRUNCATE = 1 + 14 + 40 + 8 + 4 * 16 + 20 + 8 + 72
DROP = {"stack_too_deep": 1, "ttl_expired": 2, "unknown_label": 3, "ip_ttl": 5, "not_ipv4": 7, "decision": 8,
        "srh_invalid": 10, "segments_left": 11, "link_local": 13}


def v6(a: str) -> int:
    return int(ipaddress.IPv6Address(a))


def mac(m: int) -> str:
    return ":".join(f"{b:02x}" for b in m.to_bytes(6, "big"))


@pytest.fixture(scope="module")
def compiled() -> Pipeline:
    return Pipeline.from_file(ROOT / "p4" / "srchain_node.p4", defines=PROFILE)


@pytest.fixture
def node(compiled: Pipeline) -> Pipeline:
    p = compiled
    p.reset_state()
    local = p.table("srv6.local_sid")
    local.insert([v6(END)], "SwitchIngress.srv6.end", {})
    local.insert([v6(END_X)], "SwitchIngress.srv6.end_x", {"port": PORT_X, "dst_mac": X_MAC})
    local.insert([v6(DX4)], "SwitchIngress.srv6.end_dx4", {"port": PORT_DX4, "dst_mac": DX4_MAC})
    local.insert([v6(DT4)], "SwitchIngress.srv6.end_dt4", {})
    local.insert([v6(PRIO)], "SwitchIngress.srv6.end_priority", {"sid": PRIO_SID})
    p.table("srv6.sid_forward").insert([(v6("fcbb:bb00:2::"), 48)], "SwitchIngress.srv6.forward",
                                       {"port": PORT_FWD, "dst_mac": NH_MAC})
    p.table("srv6.sid_forward").insert([(v6("fcbb:bb00:3::"), 48)], "SwitchIngress.srv6.forward",
                                       {"port": PORT_FWD, "dst_mac": NH_MAC})
    p.table("ipv4.routes").insert([(0, 0)], "SwitchIngress.ipv4.route", {"port": PORT_ROUTE, "dst_mac": ROUTE_MAC})
    p.table("priority.queue_map").insert([PRIO_SID, PRIO_CLASS], "SwitchIngress.priority.set_qid", {"qid": PRIO_QID})
    local.insert([v6(FF)], "SwitchIngress.srv6.end_flow_features", {"sid": FF_SID, "report_every": 2})
    p.table("flow_features.report_session").insert([FF_SID, (0, 0)], "SwitchIngress.flow_features.set_report_group",
                                                   {"group": REPORT_GROUP})
    p.table("report.encap").insert([FF_SID, (0, 0)], "SwitchEgress.report.encaps_2",
                                   {"hop_limit": 64, "src_mac": 0x0200000000E1, "dst_mac": 0x0200000000E2,
                                    "src_addr": v6(SRC), "sid_0": v6(NEXT), "sid_1": v6(COLLECTOR)})
    p.table("report.addresses").insert([FF_SID], "SwitchEgress.report.set_addresses",
                                       {"switch_id": SWITCH_ID, "src_addr": 0x0AFF0001, "dst_addr": 0x0AFF0002})
    p.mcast_groups[REPORT_GROUP] = ((REPORT_PORT, REPORT_RID, -1),)
    # a valid decision is replicated to pipe 0's recirculation port, whose copy writes the session registers
    p.mcast_groups[DECISION_GROUP] = ((RECIRC_LOCAL_PORT, DECISION_RID, -1),)
    p.mirror_sessions[REPORT_SESSION_BASE + REPORT_PORT] = R.MirrorSession(
        egress_port=REPORT_PORT, max_pkt_len=SRV6_REPORT_TRUNCATE, direction="EGRESS")
    return p


def inner(ttl: int = 64, sport: int = 4000, tos: int = 0x28) -> IP:
    return IP(src="10.0.1.10", dst="10.0.2.10", ttl=ttl, tos=tos) / UDP(sport=sport, dport=6000) / Raw(b"x" * 32)


def eth(**fields: int) -> Ether:
    """The sender's Ethernet header (its type follows from the payload unless given)."""
    return Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02", **fields)


def srv6(da: str, segs: list[str], sl: int, hlim: int = 64, payload: Packet | None = None, nh: int = 4,
         tc: int = 0) -> Packet:
    """An SRv6 frame: `segs` in wire order (Segment List[0] first), as a Linux H.Encaps writes it (traffic class 0
    for an IPv4 packet)."""
    pkt = payload if payload is not None else inner()
    srh = IPv6ExtHdrSegmentRouting(addresses=segs, segleft=sl, lastentry=len(segs) - 1, nh=nh)
    return eth() / IPv6(src=SRC, dst=da, hlim=hlim, tc=tc, nh=43) / srh / pkt


def one(out: list[Emitted]) -> Emitted:
    assert len(out) == 1, out
    return out[0]


def drops(p: Pipeline) -> dict[int, int]:
    c = p.counter("SwitchIngress.drops")
    return {i: n for i, n in enumerate(c.pkts) if n}


def with_dst(frame: Packet, m: int) -> bytes:
    frame[Ether].dst = mac(m)
    return bytes(frame)


def test_h_encaps_pushes_ipv6_and_an_srh_from_the_action_data(node: Pipeline) -> None:
    node.table("classifier.rules").insert([(0, 0)] * 7, "SwitchIngress.classifier.encaps_3",
                                          {"hop_limit": 64, "src_addr": v6(SRC), "sid_0": v6(NEXT),
                                           "sid_1": v6("fcbb:bb00:3:e000::"), "sid_2": v6(LAST)}, 10)
    e = one(node.process(1, bytes(eth() / inner())))
    # forwarded by the first SID's locator, Hop Limit 64 - 1; traffic class 0 whatever the inner DSCP/ECN
    want = srv6(NEXT, [LAST, "fcbb:bb00:3:e000::", NEXT], sl=2, hlim=63)
    assert e.port == PORT_FWD and e.frame == with_dst(want, NH_MAC)
    srh = Ether(e.frame)[IPv6ExtHdrSegmentRouting]
    assert (srh.len, srh.type, srh.segleft, srh.lastentry) == (6, 4, 2, 2)
    assert Ether(e.frame)[IPv6].plen == 56 + len(inner())


def test_h_encaps_red_leaves_the_first_segment_out_of_the_srh(node: Pipeline) -> None:
    rules = node.table("classifier.rules")
    rules.insert([(0, 0)] * 7, "SwitchIngress.classifier.encaps_red_2",
                 {"hop_limit": 64, "src_addr": v6(SRC), "sid_0": v6(NEXT), "sid_1": v6(LAST)}, 10)
    e = one(node.process(1, bytes(eth() / inner())))
    want = srv6(NEXT, [LAST], sl=1, hlim=63)  # Last Entry 0, Segments Left 1: the DA holds Segment List[1]
    assert e.frame == with_dst(want, NH_MAC)
    # and one segment: no SRH at all, IPv4 right after the IPv6 header
    rules.clear()
    rules.insert([(0, 0)] * 7, "SwitchIngress.classifier.encaps_red_1",
                 {"hop_limit": 64, "src_addr": v6(SRC), "sid_0": v6(LAST)}, 10)
    e = one(node.process(1, bytes(eth() / inner())))
    plain = eth() / IPv6(src=SRC, dst=LAST, hlim=63, nh=4) / inner()
    assert e.frame == with_dst(plain, NH_MAC)


def test_end_takes_the_next_segment_and_decrements_the_hop_limit(node: Pipeline) -> None:
    segs = [LAST, NEXT, END]
    e = one(node.process(1, bytes(srv6(END, segs, sl=2, hlim=10, tc=0x28))))  # the traffic class stays
    assert e.port == PORT_FWD and e.frame == with_dst(srv6(NEXT, segs, sl=1, hlim=9, tc=0x28), NH_MAC)


def test_end_x_goes_to_its_next_hop(node: Pipeline) -> None:
    segs = [LAST, END_X]
    e = one(node.process(1, bytes(srv6(END_X, segs, sl=1))))
    assert e.port == PORT_X and e.frame == with_dst(srv6(LAST, segs, sl=0, hlim=63), X_MAC)


def test_end_dx4_decapsulates_and_forwards_the_inner_ipv4(node: Pipeline) -> None:
    e = one(node.process(1, bytes(srv6(DX4, [DX4, END], sl=0, hlim=1))))  # the outer Hop Limit is not checked
    want = Ether(dst=mac(DX4_MAC), src="02:00:00:00:00:02") / inner(ttl=63)
    assert e.port == PORT_DX4 and e.frame == bytes(want)  # scapy recomputes the checksum: the switch did too
    # H.Encaps.Red of one segment: no SRH
    red = eth() / IPv6(src=SRC, dst=DX4, nh=4) / inner()
    assert one(node.process(1, bytes(red))).frame == bytes(want)


def test_end_dt4_decapsulates_into_the_ipv4_routes(node: Pipeline) -> None:
    e = one(node.process(1, bytes(srv6(DT4, [DT4], sl=0))))
    assert e.port == PORT_ROUTE and e.frame == bytes(Ether(dst=mac(ROUTE_MAC), src="02:00:00:00:00:02") / inner(63))


def test_priority_sid_is_an_end_that_runs_the_module(node: Pipeline) -> None:
    key, _ = FlowKey.from_packet("10.0.1.10", 4000, "10.0.2.10", 6000, 17)
    record = DecisionRecord(key, class_id=PRIO_CLASS, seq=1).pack()
    decision = IP(src="10.9.0.1", dst="10.0.2.10") / UDP(sport=47002, dport=47002) / Raw(record)
    assert node.process(1, bytes(srv6(PRIO, [LAST, PRIO], sl=1, payload=decision))) == []
    assert drops(node) == {DROP["decision"]: 1}  # consumed
    for sport_src in (True, False):  # both directions of the session
        pkt = inner() if sport_src else IP(src="10.0.2.10", dst="10.0.1.10", tos=0x28) / UDP(sport=6000, dport=4000)
        e = one(node.process(1, bytes(srv6(PRIO, [LAST, PRIO], sl=1, payload=pkt))))
        assert e.qid == PRIO_QID and e.frame == with_dst(srv6(LAST, [LAST, PRIO], sl=0, hlim=63, payload=pkt), NH_MAC)
    other = inner(sport=4001)
    assert one(node.process(1, bytes(srv6(PRIO, [LAST, PRIO], sl=1, payload=other)))).qid == 0


def test_encapsulated_onto_a_local_module_sid_runs_it_in_the_same_pass(node: Pipeline) -> None:
    node.table("classifier.rules").insert([(0, 0)] * 7, "SwitchIngress.classifier.encaps_2",
                                          {"hop_limit": 64, "src_addr": v6(SRC), "sid_0": v6(PRIO),
                                           "sid_1": v6(LAST)}, 10)
    key, _ = FlowKey.from_packet("10.0.1.10", 4000, "10.0.2.10", 6000, 17)
    decision = IP(src="10.9.0.1", dst="10.0.2.10") / UDP(sport=47002, dport=47002) / Raw(
        DecisionRecord(key, class_id=PRIO_CLASS, seq=1).pack())
    assert node.process(1, bytes(eth() / decision)) == []  # the decision too is encapsulated onto the SID
    e = one(node.process(1, bytes(eth() / inner())))
    assert e.qid == PRIO_QID and e.frame == with_dst(srv6(LAST, [LAST, PRIO], sl=0, hlim=63), NH_MAC)


def raw_srh(head: list[int], rest: bytes) -> Packet:
    return eth() / IPv6(src=SRC, dst=END, nh=43) / Raw(bytes(head) + rest + bytes(inner()))


def test_flow_features_sid_reports_h_encapsulated_toward_the_report_path(node: Pipeline) -> None:
    sent = srv6(FF, [LAST, FF], sl=1)
    assert one(node.process(1, bytes(sent))).frame == with_dst(srv6(LAST, [LAST, FF], sl=0, hlim=63), NH_MAC)
    out = node.process(1, bytes(sent))  # report_every 2: the second packet closes the window
    (data,) = [e for e in out if e.port == PORT_FWD]
    (rep,) = [e for e in out if e.port == REPORT_PORT]
    assert data.frame == with_dst(srv6(LAST, [LAST, FF], sl=0, hlim=63), NH_MAC)
    at = 14 + 40 + 8 + 2 * 16 + 20 + 8  # the record behind Ethernet, IPv6, an SRH of 2, IPv4, UDP
    record = FeatureReport.unpack(rep.frame[at : at + 72])
    key, _ = FlowKey.from_packet("10.0.1.10", 4000, "10.0.2.10", 6000, 17)
    assert (record.key, record.switch_id, record.pkt_count, record.byte_count) == (key, SWITCH_ID, 2,
                                                                                   2 * len(inner()))
    head = (Ether(src="02:00:00:00:00:e1", dst="02:00:00:00:00:e2") / IPv6(src=SRC, dst=NEXT, hlim=64, tc=0, nh=43)
            / IPv6ExtHdrSegmentRouting(addresses=[COLLECTOR, NEXT], segleft=1, lastentry=1, nh=4)
            / IP(src="10.255.0.1", dst="10.255.0.2", id=0, flags="DF", ttl=64)
            / UDP(sport=47001, dport=47001, chksum=0) / Raw(rep.frame[at : at + 72]))
    assert rep.frame[: at + 72] == bytes(head)  # beyond it, the data frame's first bytes up to the mirror cut
    assert len(rep.frame) == SRV6_REPORT_TRUNCATE - 1


@pytest.mark.parametrize(("name", "frame", "reason"), [
    ("hop limit 1 with segments left", lambda: srv6(END, [LAST, END], sl=1, hlim=1), "ttl_expired"),
    ("transit hop limit 1", lambda: eth() / IPv6(dst=NEXT, hlim=1, nh=4) / inner(), "ttl_expired"),
    ("End with SL 0", lambda: srv6(END, [END], sl=0), "segments_left"),
    ("End without an SRH", lambda: eth() / IPv6(dst=END, nh=4) / inner(), "segments_left"),
    ("End.DX4 with SL 1", lambda: srv6(DX4, [DX4, END], sl=1), "segments_left"),
    ("End.DX4 over IPv6", lambda: srv6(DX4, [DX4], sl=0, payload=IPv6() / UDP(), nh=41), "not_ipv4"),
    ("End.DX4, inner TTL 1", lambda: srv6(DX4, [DX4], sl=0, payload=inner(ttl=1)), "ip_ttl"),
    ("five segments", lambda: srv6(END, [LAST] * 4 + [END], sl=4), "stack_too_deep"),
    ("SL > Last Entry + 1", lambda: srv6(END, [LAST, END], sl=3), "srh_invalid"),
    # routing header fields: next header, Hdr Ext Len, routing type, Segments Left, Last Entry, flags, tag
    ("routing type 0", lambda: raw_srh([4, 2, 0, 1, 0, 0, 0, 0], b"\x11" * 16), "srh_invalid"),
    ("SRH with a PadN TLV", lambda: raw_srh([4, 3, 4, 1, 0, 0, 0, 0], b"\x11" * 16 + bytes([4, 6]) + b"\x00" * 6),
     "srh_invalid"),
    ("unknown SID", lambda: srv6("fcbb:bb00:9:e000::", [LAST, "fcbb:bb00:9:e000::"], sl=1), "unknown_label"),
    ("MPLS", lambda: eth(type=0x8847) / bytes([0x03, 0xE8, 0x01, 0x40]) / inner(), "not_ipv4"),
    # a Linux neighbour's MLDv2 report (Hop Limit 1, hop-by-hop router alert) and DAD solicitation: not a
    # ttl_expired (nothing loops) and not an unknown SID
    ("MLDv2 report", lambda: eth() / IPv6(src="fe80::1", dst="ff02::16", hlim=1, nh=0)
     / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6MLReport2(), "link_local"),
    ("DAD solicitation", lambda: eth() / IPv6(src="::", dst="ff02::1:ff00:1", hlim=255)
     / ICMPv6ND_NS(tgt="fe80::1"), "link_local"),
    ("to a link-local address", lambda: eth() / IPv6(src="fe80::2", dst="fe80::1", hlim=64, nh=4) / inner(),
     "link_local"),
])
def test_refused_packets_are_dropped_and_counted_by_reason(node: Pipeline, name: str, frame: object,
                                                           reason: str) -> None:
    pkt = frame()  # type: ignore[operator]
    assert node.process(1, bytes(pkt)) == [], name
    assert drops(node) == {DROP[reason]: 1}, name
