"""PTF tests of the srv6 profile (p4/build --profile srv6): H.Encaps at the classifier, End, End.X and End.DX4
over real ports, frames compared byte for byte with scapy's SRH, drops counted by reason. Run against a bundle
of that profile (see sr_node_base.py for the parameters)."""

from __future__ import annotations

import ipaddress

from ptf import testutils
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrSegmentRouting
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from sr_node_base import (
    DROP_NOT_IPV4,
    DROP_TTL_EXPIRED,
    DROP_UNKNOWN_LABEL,
    HOST_MAC,
    SWITCH_MAC,
    SrNodeTest,
    mac,
    udp_packet,
)

DROP_SRH_INVALID, DROP_SEGMENTS_LEFT, DROP_LINK_LOCAL = 10, 11, 13  # p4/include/defines.p4
SRC = "fcbb:bb00:1::1"
END, END_X, DX4 = "fcbb:bb00:1:e000::", "fcbb:bb00:1:e001::", "fcbb:bb00:1:e002::"
REMOTE = "fcbb:bb00:2:e000::"  # the next switch's SID, reached by its /48 locator on PTF port 1


def v6(a: str) -> int:
    return int(ipaddress.IPv6Address(a))


def srv6(inner: Packet, da: str, segs: list[str], sl: int, hlim: int = 64, eth_dst: str = SWITCH_MAC,
         eth_src: str = HOST_MAC[3]) -> Packet:
    """`inner` (an Ethernet frame) behind an outer IPv6 + SRH listing `segs` in wire order."""
    srh = IPv6ExtHdrSegmentRouting(addresses=segs, segleft=sl, lastentry=len(segs) - 1, nh=4)
    return Ether(dst=eth_dst, src=eth_src) / IPv6(src=SRC, dst=da, hlim=hlim, nh=43) / srh / inner.payload


class Srv6Test(SrNodeTest):
    def local(self, sid: str, action: str, data: dict | None = None) -> None:
        self.add("SwitchIngress.srv6.local_sid", {"dst_addr": v6(sid)}, f"SwitchIngress.srv6.{action}", data)

    def locator(self, prefix: str, ptf_port: int) -> None:
        self.add("SwitchIngress.srv6.sid_forward", {"dst_addr": (v6(prefix), 48)}, "SwitchIngress.srv6.forward",
                 {"port": self.dev(ptf_port), "dst_mac": mac(HOST_MAC[ptf_port])})


class EncapsAndForward(Srv6Test):
    """A classified IPv4 packet leaves H.Encaps'd: outer IPv6 (DA = first SID, Hop Limit 64 - 1) + SRH."""

    def runTest(self) -> None:
        key = {"ig_port": (0, 0), "src_addr": (0, 0), "dst_addr": (0, 0), "protocol": (0, 0), "src_port": (0, 0),
               "dst_port": (0, 0), "lb_bucket": (0, 0)}
        self.add("SwitchIngress.classifier.rules", key, "SwitchIngress.classifier.encaps_2",
                 {"hop_limit": 64, "src_addr": v6(SRC), "sid_0": v6(REMOTE), "sid_1": v6(DX4)}, priority=100)
        self.locator("fcbb:bb00:2::", 1)
        pkt = udp_packet(eth_src=HOST_MAC[0])
        self.send(0, pkt)
        out = srv6(pkt, REMOTE, [DX4, REMOTE], sl=1, hlim=63, eth_dst=HOST_MAC[1], eth_src=HOST_MAC[0])
        self.expect(out, 1)
        testutils.verify_no_other_packets(self, timeout=0.5)


class EndThenDx4(Srv6Test):
    """End takes the next SID and forwards by it; the packet comes back to End.DX4, which decapsulates."""

    def runTest(self) -> None:
        self.local(END, "end")
        self.local(DX4, "end_dx4", {"port": self.dev(2), "dst_mac": mac(HOST_MAC[2])})
        self.locator("fcbb:bb00:1::", 1)  # the node's own locator: a SID after End goes out and comes back
        pkt = udp_packet(ttl=30)
        self.send(3, srv6(pkt, END, [DX4, END], sl=1, hlim=9))
        after_end = srv6(pkt, DX4, [DX4, END], sl=0, hlim=8, eth_dst=HOST_MAC[1])
        self.expect(after_end, 1)
        self.send(1, after_end)
        self.expect(udp_packet(ttl=29, eth_dst=HOST_MAC[2], eth_src=HOST_MAC[3]), 2)  # checksum recomputed
        testutils.verify_no_other_packets(self, timeout=0.5)


class EndXToItsNextHop(Srv6Test):
    def runTest(self) -> None:
        self.local(END_X, "end_x", {"port": self.dev(2), "dst_mac": mac(HOST_MAC[2])})
        pkt = udp_packet()
        self.send(3, srv6(pkt, END_X, [REMOTE, END_X], sl=1))
        self.expect(srv6(pkt, REMOTE, [REMOTE, END_X], sl=0, hlim=63, eth_dst=HOST_MAC[2]), 2)
        testutils.verify_no_other_packets(self, timeout=0.5)


class RefusalsCounted(Srv6Test):
    """Each refusal is dropped and counted under its reason."""

    def runTest(self) -> None:
        self.local(END, "end")
        self.locator("fcbb:bb00:2::", 1)
        pkt = udp_packet()
        tlv = Raw(bytes([4, 3, 4, 1, 0, 0, 0, 0]) + b"\x11" * 16 + bytes([4, 6]) + b"\x00" * 6 + bytes(pkt[IP]))
        cases = [
            (srv6(pkt, END, [REMOTE, END], sl=1, hlim=1), DROP_TTL_EXPIRED),
            (srv6(pkt, END, [END], sl=0), DROP_SEGMENTS_LEFT),
            (Ether(dst=SWITCH_MAC) / IPv6(src=SRC, dst=END, nh=43) / tlv, DROP_SRH_INVALID),
            (srv6(pkt, "fcbb:bb00:9::", [END, "fcbb:bb00:9::"], sl=1), DROP_UNKNOWN_LABEL),
            (Ether(dst=SWITCH_MAC, type=0x8847) / Raw(bytes([0x03, 0xE8, 0x11, 0x40])) / pkt.payload, DROP_NOT_IPV4),
            # a neighbour's MLD report (Hop Limit 1, to ff02::16): link-scoped, not an expired hop limit
            (Ether(dst="33:33:00:00:00:16") / IPv6(src="fe80::1", dst="ff02::16", hlim=1) / Raw(b"\x8f" + b"\x00" * 7),
             DROP_LINK_LOCAL),
        ]
        for frame, reason in cases:
            before = self.drops(reason)
            self.send(3, frame)
            testutils.verify_no_other_packets(self, timeout=0.5)
            assert self.drops(reason) == before + 1, f"reason {reason}"
        # the same End SID with a segment left and Hop Limit 64 goes on
        self.send(3, srv6(pkt, END, [REMOTE, END], sl=1))
        self.expect(srv6(pkt, REMOTE, [REMOTE, END], sl=0, hlim=63, eth_dst=HOST_MAC[1]), 1)
