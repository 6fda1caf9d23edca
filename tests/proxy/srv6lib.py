"""SRv6 frame crafting for the proxy tests (scapy's SRH layer), and an engine with SRv6 SIDs on bytes."""

from __future__ import annotations

from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrSegmentRouting,
    IPv6ExtHdrSegmentRoutingTLV,
)
from scapy.layers.l2 import Ether

from srchain_proxy import srv6
from srchain_proxy.config import Attachment, SidEntry, Srv6SidEntry
from srchain_proxy.engine import HEADROOM, Engine

SR_MAC = "02:00:00:00:0a:01"
SW_MAC = "02:00:00:00:0a:02"
VNF_IF_MAC = "02:00:00:00:0b:01"
VNF_MAC = "02:00:00:00:0b:02"
HEAD = "fc00:1::1"  # the H.Encaps node's source address
PX = "fcbb:bb00:2::a5"  # proxy SIDs
PX_AD = "fcbb:bb00:2::ad"
PX_AM = "fcbb:bb00:2::a3"
TAIL = "fcbb:bb00:3::d4"  # End.DX4 at the tail
MID = "fcbb:bb00:4::e"  # a plain End in the middle


def hmac_tlv(key_id: int = 7) -> IPv6ExtHdrSegmentRoutingTLV:
    """RFC 8754 §2.1.2 HMAC TLV: type 5, length 38 = D bit + reserved (2) + key id (4) + HMAC (32). Built
    as a generic TLV: scapy 2.6's IPv6ExtHdrSegmentRoutingTLVHMAC writes a 2-byte length field."""
    return IPv6ExtHdrSegmentRoutingTLV(type=5, len=38, value=bytes(2) + key_id.to_bytes(4, "big") + bytes(range(32)))


def srh(travel: list[str], sl: int, nh: int = 4, tlvs=None, **kw) -> IPv6ExtHdrSegmentRouting:
    """An SRH for segments in travel order (Segment List[0] = the last one)."""
    return IPv6ExtHdrSegmentRouting(addresses=list(reversed(travel)), segleft=sl, nh=nh,
                                    tlv_objects=tlvs or [], **kw)


def srv6_packet(inner, travel: list[str], sl: int, hlim: int = 64, before=(), tlvs=None, src: str = HEAD,
                da: str | None = None, nh: int | None = None):
    """IPv6 (DA = Segment List[SL] unless given) / extension headers `before` / SRH / inner."""
    seglist = list(reversed(travel))
    pkt = IPv6(src=src, dst=da or seglist[sl], hlim=hlim)
    for ext in before:
        pkt = pkt / ext
    inner_nh = nh if nh is not None else (4 if inner is not None and inner.version == 4 else 41)
    pkt = pkt / srh(travel, sl, nh=inner_nh, tlvs=tlvs)
    return pkt / inner if inner is not None else pkt


def frame(pkt, dst: str = SR_MAC, src: str = SW_MAC) -> bytes:
    return bytes(Ether(dst=dst, src=src, type=0x86DD) / pkt)


def as_entry(sid: str = PX, vnf: str = "fmt", segments=((TAIL,),), **kw) -> Srv6SidEntry:
    return Srv6SidEntry(sid=sid, behaviour="end.as", vnf=vnf, source=kw.pop("source", HEAD),
                        segments=[list(s) for s in segments], **kw)


def make_engine(entries: list[Srv6SidEntry], vnfs=("fmt", "fw", "ids"), mpls: list[SidEntry] | None = None,
                sr_vlan: int | None = None) -> Engine:
    eng = Engine(SR_MAC, SW_MAC, sr_vlan=sr_vlan)
    build(eng, entries, vnfs, mpls)
    return eng


# the compiled module (_fastsr) the engines of make_engine/build use for SRv6 frames, None: Python (the
# reference); test_srv6_compiled.py sets it to run test_srv6_engine.py's tests through C as well
COMPILED = None


def build(eng: Engine, entries: list[Srv6SidEntry], vnfs=("fmt", "fw", "ids"),
          mpls: list[SidEntry] | None = None) -> None:
    if COMPILED is not None:
        eng.srv6_c = COMPILED
    atts = [(Attachment(vnf=v, iface=f"pxv{i}"), VNF_IF_MAC, VNF_MAC) for i, v in enumerate(vnfs)]
    tables = eng.build(mpls or [], atts)
    srv6.build(eng, tables, entries)
    eng.install(tables)


def inbound(eng: Engine, data: bytes, now: float = 0.0):
    buf = bytearray(data)
    att = eng.from_sr(buf, 0, len(buf), now)
    return att, (bytes(buf[eng.ostart:eng.oend]) if att is not None else None)


def back(eng: Engine, vnf: str, data: bytes, now: float = 0.0) -> bytes | None:
    """A frame from the VNF through the SRv6 return path (as the data path's handler calls it)."""
    buf = bytearray(HEADROOM) + bytearray(data)
    out = eng.srv6.from_vnf(eng, eng.atts[vnf], buf, HEADROOM, len(buf), now)
    if out is True:
        return bytes(buf[eng.ostart:eng.oend])
    return bytes(out) if out else None


def vnf_frame(pkt, dst: str = VNF_IF_MAC, src: str = VNF_MAC) -> bytes:
    return bytes(Ether(dst=dst, src=src) / pkt)


__all__ = ["HEAD", "MID", "PX", "PX_AD", "PX_AM", "SR_MAC", "SW_MAC", "TAIL", "VNF_IF_MAC", "VNF_MAC", "IPv6",
           "IPv6ExtHdrDestOpt", "IPv6ExtHdrFragment", "IPv6ExtHdrHopByHop", "as_entry", "back", "build", "frame",
           "hmac_tlv", "inbound", "make_engine", "srh", "srv6_packet", "vnf_frame"]
