"""Profile wan of p4/srchain_node.p4 (p4/control/wan.p4: MPLS-in-UDP at a border switch, RFC 7510), driven
in-process through the emulator: every frame out is compared byte for byte with the one scapy builds (outer IPv4
checksum included), every drop with its reason's counter. Encapsulation by sid_forward's encap_mpls_in_udp (after
a classifier push, a transit label, a local pop), the UDP source port from the inner flow's hash, decapsulation
by wan.decap and the label lookup after it, and what is not decapsulated: another UDP port or options (plain
IPv4), another border's address (routed by the outer header), a fragment or a bad UDP length (wan_malformed),
a bad outer checksum, a truncated payload. MPLS-in-GRE (RFC 4023) likewise, and a GRE header with options."""

from __future__ import annotations

import ipaddress
import struct
import zlib
from pathlib import Path

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import GRE, Ether
from scapy.packet import Packet, Raw

from srchain.plan import wan as W
from srchain_emu.interp.pipeline import Emitted, Pipeline

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "p4" / "srchain_node.p4"
WAN = {"SRCHAIN_FLOW_FEATURES": "0", "SRCHAIN_PRIORITY": "0", "SRCHAIN_WAN": "1"}  # p4/build --profile wan
PRIORITY_WAN = {"SRCHAIN_FLOW_FEATURES": "0", "SRCHAIN_WAN": "1"}  # a module SID on the border: pops

HERE, THERE, OTHER = "198.51.100.1", "198.51.100.2", "198.51.100.9"  # this border, the far one, neither
GRE_PEER = "198.51.100.6"  # the far border of an MPLS-in-GRE link
WAN_PORT, SITE_PORT, ROUTE_PORT = 9, 3, 5
WAN_MAC, FAR_MAC, SITE_MAC, ROUTE_MAC = 0x020000000209, 0x020000000B09, 0x0200000000AA, 0x0200000000DD
CROSS, LOCAL_NEXT, PRIO_SID = 16001, 16002, 16005  # crosses the WAN; forwarded in the site; a priority SID
CROSS_GRE = 16003  # crosses the GRE link
DROP = {"ttl_expired": 2, "unknown_label": 3, "no_route": 4, "ip_ttl": 5, "bad_checksum": 6, "not_ipv4": 7,
        "wan_malformed": 12}


def ip(a: str) -> int:
    return int(ipaddress.IPv4Address(a))


def mac(m: int) -> str:
    return ":".join(f"{b:02x}" for b in m.to_bytes(6, "big"))


def setup(p: Pipeline) -> Pipeline:
    p.reset_state()
    sf = p.table("sr.sid_forward")
    sf.insert([CROSS], W.ENCAP_ACTION["mpls-in-udp"],
              {"port": WAN_PORT, "src_mac": WAN_MAC, "dst_mac": FAR_MAC, "src_addr": ip(HERE), "dst_addr": ip(THERE),
               "ttl": W.OUTER_TTL, "udp_dst_port": W.MPLS_UDP_PORT, "udp_src_min": W.UDP_SRC_MIN})
    sf.insert([LOCAL_NEXT], "SwitchIngress.sr.forward", {"port": SITE_PORT, "dst_mac": SITE_MAC})
    sf.insert([CROSS_GRE], W.ENCAP_ACTION["mpls-in-gre"],
              {"port": WAN_PORT, "src_mac": WAN_MAC, "dst_mac": FAR_MAC, "src_addr": ip(HERE),
               "dst_addr": ip(GRE_PEER), "ttl": W.OUTER_TTL, "gre_protocol": W.GRE_MPLS_PROTOCOL})
    p.table("wan.decap").insert([ip(THERE), ip(HERE)], W.DECAP_ACTION["mpls-in-udp"], {})
    p.table("wan.decap").insert([ip(GRE_PEER), ip(HERE)], W.DECAP_ACTION["mpls-in-gre"], {})
    p.table("ipv4.routes").insert([(0, 0)], "SwitchIngress.ipv4.route", {"port": ROUTE_PORT, "dst_mac": ROUTE_MAC})
    return p


@pytest.fixture(scope="module")
def compiled() -> Pipeline:
    return Pipeline.from_file(PROGRAM, defines=WAN)


@pytest.fixture
def node(compiled: Pipeline) -> Pipeline:
    return setup(compiled)


def inner(src: str = "10.0.1.10", dst: str = "10.1.0.10", sport: int = 4000, dport: int = 6000, ttl: int = 64,
          size: int = 32) -> IP:
    return IP(src=src, dst=dst, ttl=ttl, id=7) / UDP(sport=sport, dport=dport) / Raw(b"x" * size)


def eth(**fields: object) -> Ether:
    return Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02", **fields)


def stack(*labels: tuple[int, int]) -> Packet:
    """MPLS entries (label, ttl), top first; the last has the bottom-of-stack bit."""
    out: Packet | None = None
    for i, (label, ttl) in enumerate(labels):
        m = MPLS(label=label, ttl=ttl, s=int(i == len(labels) - 1))
        out = m if out is None else out / m
    assert out is not None
    return out


def entropy_port(pkt: IP) -> int:
    """udp_src_min + the low 14 bits of CRC-32 (IEEE) over the inner src, dst, protocol, source and destination
    ports: the program's wan_hash (the same CRC-32 as srchain_contracts.records.flow_slot)."""
    key = struct.pack("!4s4sBHH", ipaddress.IPv4Address(pkt.src).packed, ipaddress.IPv4Address(pkt.dst).packed,
                      pkt.proto, pkt[UDP].sport, pkt[UDP].dport)
    return W.UDP_SRC_MIN + (zlib.crc32(key) & ((1 << W.UDP_SRC_HASH_BITS) - 1))


def encapsulated(payload: Packet, sport: int, ttl: int = W.OUTER_TTL, src: str = HERE, dst: str = THERE) -> bytes:
    """RFC 7510 as the border writes it: outer IPv4 (DF, id 0, checksum computed by scapy) + UDP (checksum 0)."""
    return bytes(Ether(dst=mac(FAR_MAC), src=mac(WAN_MAC)) / IP(src=src, dst=dst, ttl=ttl, id=0, flags="DF")
                 / UDP(sport=sport, dport=W.MPLS_UDP_PORT, chksum=0) / payload)


def from_wan(payload: Packet, src: str = THERE, dst: str = HERE, sport: int = 50000, ttl: int = 60,
             **ip_fields: object) -> Ether:
    return (Ether(dst=mac(WAN_MAC), src=mac(FAR_MAC)) / IP(src=src, dst=dst, ttl=ttl, **ip_fields)
            / UDP(sport=sport, dport=W.MPLS_UDP_PORT, chksum=0) / payload)


def one(out: list[Emitted]) -> Emitted:
    assert len(out) == 1, out
    return out[0]


def drops(p: Pipeline) -> dict[int, int]:
    return {i: n for i, n in enumerate(p.counter("SwitchIngress.drops").pkts) if n}


# ---------------------------------------------------------------------------------------------- encapsulation

def test_a_label_across_the_wan_is_encapsulated_in_mpls_in_udp_byte_for_byte(node: Pipeline) -> None:
    pkt = inner()
    e = one(node.process(1, bytes(eth() / stack((CROSS, 10), (PRIO_SID, 64)) / pkt)))
    assert e.port == WAN_PORT
    # the label is processed here as by forward (TTL - 1); total length 20 + 8 + 8 + 60, UDP length 8 + 8 + 60
    want = encapsulated(stack((CROSS, 9), (PRIO_SID, 64)) / pkt, entropy_port(pkt))
    assert e.frame == want
    outer = Ether(e.frame)[IP]
    assert outer.len == 20 + 8 + 8 + len(pkt) and outer[UDP].len == 8 + 8 + len(pkt)
    assert outer.chksum == IP(bytes(IP(src=HERE, dst=THERE, ttl=64, id=0, flags="DF", proto=17,
                                       len=outer.len))).chksum


def test_the_source_port_is_the_flows_own_and_stays_in_the_dynamic_range(node: Pipeline) -> None:
    ports: dict[int, set[int]] = {}
    for flow in range(64):
        for ttl, size in ((64, 10), (20, 300), (3, 1)):  # the rest of the packet does not move it
            pkt = inner(src=f"10.0.{flow // 8}.{flow % 8 + 1}", sport=1000 + flow, ttl=ttl, size=size)
            e = one(node.process(1, bytes(eth() / stack((CROSS, 10)) / pkt)))
            sport = Ether(e.frame)[UDP].sport
            assert sport == entropy_port(pkt)
            ports.setdefault(flow, set()).add(sport)
    assert all(len(s) == 1 for s in ports.values())
    seen = [next(iter(s)) for s in ports.values()]
    assert all(49152 <= p <= 65535 for p in seen) and len(set(seen)) >= 60  # 64 flows over 16384 ports


def test_a_stack_pushed_by_the_classifier_is_encapsulated_with_its_length(node: Pipeline) -> None:
    node.table("classifier.rules").insert([(0, 0)] * 7, "SwitchIngress.classifier.push_3",
                                          {"ttl": 64, "label_0": CROSS, "label_1": PRIO_SID, "label_2": 16009}, 10)
    pkt = inner(size=100)
    e = one(node.process(1, bytes(eth() / pkt)))
    assert e.frame == encapsulated(stack((CROSS, 63), (PRIO_SID, 64), (16009, 64)) / pkt, entropy_port(pkt))


def test_a_label_in_the_site_is_forwarded_as_before(node: Pipeline) -> None:
    pkt = inner()
    e = one(node.process(1, bytes(eth() / stack((LOCAL_NEXT, 10)) / pkt)))
    assert (e.port, e.frame) == (SITE_PORT, bytes(Ether(dst=mac(SITE_MAC), src="02:00:00:00:00:02")
                                                  / stack((LOCAL_NEXT, 9)) / pkt))


def test_a_stack_without_ipv4_below_cannot_be_sized_and_is_dropped(node: Pipeline) -> None:
    assert node.process(1, bytes(eth() / stack((CROSS, 10)) / Raw(b"\x60" + b"\x00" * 59))) == []
    assert drops(node) == {DROP["not_ipv4"]: 1}


def test_after_a_local_pop_the_label_below_crosses_with_one_label_fewer() -> None:
    """A priority SID on the border (profile priority + WAN): popped, then the next label is encapsulated; the
    UDP length counts the labels left, not the labels that arrived."""
    p = setup(Pipeline.from_file(PROGRAM, defines=PRIORITY_WAN))
    p.table("sr.local_sid_0").insert([PRIO_SID], "SwitchIngress.sr.pop_priority", {"sid": PRIO_SID})
    p.table("sr.local_sid_1").insert([PRIO_SID], "SwitchIngress.sr.second_priority", {"sid": PRIO_SID})
    pkt = inner()
    e = one(p.process(1, bytes(eth() / stack((PRIO_SID, 10), (CROSS, 64), (16009, 64)) / pkt)))
    # the pop hands TTL 10 - 1 to the exposed label, which leaves without a further decrement
    assert e.frame == encapsulated(stack((CROSS, 9), (16009, 64)) / pkt, entropy_port(pkt))


# ---------------------------------------------------------------------------------------------- decapsulation

def test_mpls_in_udp_for_this_border_is_decapsulated_and_its_label_looked_up(node: Pipeline) -> None:
    pkt = inner()
    for checksum in (0, 0x1234):  # RFC 7510: a UDP checksum may be present; it is not checked
        frame = from_wan(stack((LOCAL_NEXT, 10), (PRIO_SID, 64)) / pkt)
        frame[UDP].chksum = checksum
        e = one(node.process(WAN_PORT, bytes(frame)))
        assert e.port == SITE_PORT
        assert e.frame == bytes(Ether(dst=mac(SITE_MAC), src=mac(FAR_MAC)) / stack((LOCAL_NEXT, 9), (PRIO_SID, 64))
                                / pkt)
    row = node.table("wan.decap").get([ip(THERE), ip(HERE)])
    assert row is not None and row.pkts == 2  # the direct counter of the link direction's row


def test_a_decapsulated_label_can_cross_the_next_link_in_transit(node: Pipeline) -> None:
    """A site between two others: the border strips one tunnel and opens the next (here the same link back)."""
    pkt = inner(sport=4242)
    e = one(node.process(WAN_PORT, bytes(from_wan(stack((CROSS, 10)) / pkt))))
    assert e.frame == encapsulated(stack((CROSS, 9)) / pkt, entropy_port(pkt))


def test_a_decapsulated_label_is_checked_like_any_arriving_one(node: Pipeline) -> None:
    assert node.process(WAN_PORT, bytes(from_wan(stack((LOCAL_NEXT, 1)) / inner()))) == []
    assert node.process(WAN_PORT, bytes(from_wan(stack((16999, 10)) / inner()))) == []
    assert drops(node) == {DROP["ttl_expired"]: 1, DROP["unknown_label"]: 1}


# ---------------------------------------------------------------------------------------------- not decapsulated

def routed(frame: Ether) -> bytes:
    """What ordinary routing makes of an IPv4 frame: next-hop MAC, TTL - 1, checksum recomputed."""
    out = frame.copy()
    out[Ether].dst = mac(ROUTE_MAC)
    out[IP].ttl -= 1
    del out[IP].chksum
    return bytes(Ether(bytes(out)))


def test_another_udp_port_or_ip_options_is_plain_ipv4(node: Pipeline) -> None:
    payload = stack((LOCAL_NEXT, 10)) / inner()
    other_port = from_wan(payload)
    other_port[UDP].dport = W.MPLS_UDP_PORT + 1
    e = one(node.process(WAN_PORT, bytes(other_port)))
    assert (e.port, e.frame) == (ROUTE_PORT, routed(other_port))
    assert drops(node) == {}
    # with options the outer header is plain IPv4 too, which this program drops as bad_checksum (its parser's
    # checksum covers 20 bytes: IPv4 options are not taken anywhere in the SR node, WAN or not)
    with_options = (Ether(dst=mac(WAN_MAC), src=mac(FAR_MAC)) / IP(src=THERE, dst=HERE, ttl=60, options=b"\x01" * 4)
                    / UDP(sport=50000, dport=W.MPLS_UDP_PORT, chksum=0) / payload)
    assert node.process(WAN_PORT, bytes(with_options)) == []
    assert drops(node) == {DROP["bad_checksum"]: 1}
    assert node.table("wan.decap").get([ip(THERE), ip(HERE)]).pkts == 0  # type: ignore[union-attr]


def test_mpls_in_udp_for_another_address_is_routed_by_its_outer_header(node: Pipeline) -> None:
    """A decap miss: not this border's (or not from the far border): ipv4.routes on the outer destination, the
    outer TTL - 1, the labels and the inner packet untouched (their TTLs included)."""
    for src, dst in ((THERE, OTHER), (OTHER, HERE)):
        frame = from_wan(stack((CROSS, 1), (PRIO_SID, 1)) / inner(ttl=1), src=src, dst=dst)
        e = one(node.process(WAN_PORT, bytes(frame)))
        assert (e.port, e.frame) == (ROUTE_PORT, routed(frame))
    assert drops(node) == {}
    # and like any routed packet, its outer TTL runs out
    assert node.process(WAN_PORT, bytes(from_wan(stack((CROSS, 10)) / inner(), dst=OTHER, ttl=1))) == []
    assert drops(node) == {DROP["ip_ttl"]: 1}


def test_plain_ipv4_still_routes_on_its_own_header(node: Pipeline) -> None:
    frame = eth() / inner(ttl=9)
    e = one(node.process(1, bytes(frame)))
    assert (e.port, e.frame) == (ROUTE_PORT, routed(frame))


def test_a_fragment_or_a_bad_udp_length_for_this_border_is_dropped_as_malformed(node: Pipeline) -> None:
    payload = stack((LOCAL_NEXT, 10)) / inner()
    assert node.process(WAN_PORT, bytes(from_wan(payload, flags="MF"))) == []
    assert node.process(WAN_PORT, bytes(from_wan(payload, frag=8))) == []
    bad_len = from_wan(payload)
    bad_len[UDP].len = 8 + len(payload) - 4
    assert node.process(WAN_PORT, bytes(bad_len)) == []
    assert drops(node) == {DROP["wan_malformed"]: 3}
    # a fragment not for this border is routed like any fragment
    frag = from_wan(payload, dst=OTHER, flags="MF")
    assert one(node.process(WAN_PORT, bytes(frag))).frame == routed(frag)


def test_a_bad_outer_checksum_is_dropped_and_counted(node: Pipeline) -> None:
    frame = from_wan(stack((LOCAL_NEXT, 10)) / inner())
    raw = bytearray(bytes(frame))
    raw[14 + 10] ^= 0xFF  # the outer header checksum
    assert node.process(WAN_PORT, bytes(raw)) == []
    assert drops(node) == {DROP["bad_checksum"]: 1}


def test_a_truncated_payload_is_a_parser_error(node: Pipeline) -> None:
    """Fewer than 4 bytes after the UDP header: no label to take (the emulator drops a parser error and counts it
    in its stats, docs/emulator.md)."""
    assert node.process(WAN_PORT, bytes(from_wan(Raw(b"\x03\xe8")))) == []
    assert node.stats["drop_parser_PacketTooShort"] == 1


# ---------------------------------------------------------------------------------------------- MPLS-in-GRE

def from_gre_peer(payload: Packet, dst: str = HERE, **gre_fields: object) -> Ether:
    return (Ether(dst=mac(WAN_MAC), src=mac(FAR_MAC)) / IP(src=GRE_PEER, dst=dst, ttl=60)
            / GRE(proto=W.GRE_MPLS_PROTOCOL, **gre_fields) / payload)


def test_a_label_across_a_gre_link_is_encapsulated_in_mpls_in_gre(node: Pipeline) -> None:
    pkt = inner()
    e = one(node.process(1, bytes(eth() / stack((CROSS_GRE, 10), (PRIO_SID, 64)) / pkt)))
    want = (Ether(dst=mac(FAR_MAC), src=mac(WAN_MAC)) / IP(src=HERE, dst=GRE_PEER, ttl=64, id=0, flags="DF")
            / GRE(proto=W.GRE_MPLS_PROTOCOL) / stack((CROSS_GRE, 9), (PRIO_SID, 64)) / pkt)
    assert (e.port, e.frame) == (WAN_PORT, bytes(want))
    assert Ether(e.frame)[IP].len == 20 + 4 + 8 + len(pkt)


def test_mpls_in_gre_for_this_border_is_decapsulated(node: Pipeline) -> None:
    pkt = inner()
    e = one(node.process(WAN_PORT, bytes(from_gre_peer(stack((LOCAL_NEXT, 10)) / pkt))))
    assert (e.port, e.frame) == (SITE_PORT, bytes(Ether(dst=mac(SITE_MAC), src=mac(FAR_MAC))
                                                  / stack((LOCAL_NEXT, 9)) / pkt))


def test_gre_with_a_key_or_another_protocol_is_not_decapsulated(node: Pipeline) -> None:
    payload = stack((LOCAL_NEXT, 10)) / inner()
    assert node.process(WAN_PORT, bytes(from_gre_peer(payload, key_present=1, key=5))) == []
    assert drops(node) == {DROP["wan_malformed"]: 1}
    keyed = from_gre_peer(payload, dst=OTHER, key_present=1, key=5)  # not ours: routed as it is
    assert one(node.process(WAN_PORT, bytes(keyed))).frame == routed(keyed)
    ipv4_in_gre = from_gre_peer(inner())
    ipv4_in_gre[GRE].proto = 0x0800  # GRE, but not MPLS: plain IPv4
    assert one(node.process(WAN_PORT, bytes(ipv4_in_gre))).frame == routed(ipv4_in_gre)
    assert drops(node) == {DROP["wan_malformed"]: 1}
