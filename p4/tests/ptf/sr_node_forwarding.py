"""SR core of p4/srchain_node.p4, packet by packet: transit, pop + forward, bottom of stack to IPv4,
classifier push, MSD, TTL, unknown labels, checksums. See sr_node_base.py for the test parameters."""

from __future__ import annotations

from ptf import testutils
from scapy.layers.l2 import Ether
from sr_node_base import (
    DROP_BAD_CHECKSUM,
    DROP_STACK_TOO_DEEP,
    DROP_TTL_EXPIRED,
    DROP_UNKNOWN_LABEL,
    HOST_MAC,
    SID_PRIO,
    SID_REMOTE,
    TTL,
    SrNodeTest,
    labelled,
    udp_packet,
)


class TransitByLabel(SrNodeTest):
    """A label that is not ours leaves by sid_forward: same stack, top TTL - 1, next-hop MAC."""

    def runTest(self) -> None:
        self.sid_forward(SID_REMOTE[0], 1)
        inner = udp_packet()
        self.send(0, labelled([SID_REMOTE[0], SID_REMOTE[1]], inner, ttls=[10, 64]))
        self.expect(labelled([SID_REMOTE[0], SID_REMOTE[1]], inner, ttls=[9, 64], eth_dst=HOST_MAC[1]), 1)
        testutils.verify_no_other_packets(self, timeout=0.5)
        (entry,) = self.c.entries("SwitchIngress.sr.sid_forward")
        assert entry.data["$COUNTER_SPEC_PKTS"] == 1, entry.data


class PopOwnSidAndForwardByNext(SrNodeTest):
    """Our SID on top is popped (its module runs), the exposed label inherits TTL - 1 and is forwarded."""

    def runTest(self) -> None:
        self.local_sid(SID_PRIO, "pop_priority")
        self.sid_forward(SID_REMOTE[2], 2)
        inner = udp_packet()
        self.send(3, labelled([SID_PRIO, SID_REMOTE[2], SID_REMOTE[3]], inner, ttls=[50, 64, 64]))
        self.expect(labelled([SID_REMOTE[2], SID_REMOTE[3]], inner, ttls=[49, 64], eth_dst=HOST_MAC[2]), 2)
        testutils.verify_no_other_packets(self, timeout=0.5)


class BottomOfStackToIpv4(SrNodeTest):
    """Popping the bottom label leaves plain IPv4, routed by LPM: TTL - 1 and a correct checksum."""

    def runTest(self) -> None:
        self.local_sid(SID_PRIO, "pop_priority")
        self.route("10.0.2.0", 24, 1)
        self.route("10.0.2.10", 32, 2)  # longer prefix wins
        inner = udp_packet(dst="10.0.2.10", ttl=30)
        self.send(3, labelled([SID_PRIO], inner))
        # scapy recomputes the checksum of the expected packet: an exact byte match checks it
        expected = udp_packet(dst="10.0.2.10", ttl=29, eth_dst=HOST_MAC[2], eth_src=HOST_MAC[3])
        self.expect(expected, 2)
        self.send(3, labelled([SID_PRIO], udp_packet(dst="10.0.2.99", ttl=30)))
        self.expect(udp_packet(dst="10.0.2.99", ttl=29, eth_dst=HOST_MAC[1], eth_src=HOST_MAC[3]), 1)
        testutils.verify_no_other_packets(self, timeout=0.5)


class PushByClassifier(SrNodeTest):
    """Plain IPv4 matching a classifier rule gets the chain's stack; other traffic is routed untouched."""

    def runTest(self) -> None:
        self.classify([SID_REMOTE[0], SID_REMOTE[1], SID_REMOTE[2]], src="10.0.1.0", src_mask="255.255.255.0",
                      protocol=17, protocol_mask=0xFF)
        self.sid_forward(SID_REMOTE[0], 3)
        self.route("10.0.0.0", 8, 1)
        pkt = udp_packet(src="10.0.1.10")
        self.send(0, pkt)
        # pushed with TTL 64 each; the top label is then forwarded (TTL - 1)
        expected = Ether(dst=HOST_MAC[3], src=HOST_MAC[0], type=0x8847)
        expected = labelled([SID_REMOTE[0], SID_REMOTE[1], SID_REMOTE[2]], pkt, ttls=[TTL - 1, TTL, TTL],
                            eth_dst=HOST_MAC[3], eth_src=HOST_MAC[0])
        self.expect(expected, 3)
        other = udp_packet(src="10.0.9.10", ttl=20)
        self.send(0, other)
        self.expect(udp_packet(src="10.0.9.10", ttl=19, eth_dst=HOST_MAC[1]), 1)
        testutils.verify_no_other_packets(self, timeout=0.5)
        (rule,) = self.c.entries("SwitchIngress.classifier.rules")
        assert rule.data["$COUNTER_SPEC_PKTS"] == 1, rule.data


class MaximumStackDepth(SrNodeTest):
    """MSD 8: a stack of 8 labels is forwarded; 9 labels are dropped and counted as stack_too_deep."""

    def runTest(self) -> None:
        self.sid_forward(SID_REMOTE[0], 1)
        inner = udp_packet()
        eight = SID_REMOTE[:8]
        before = self.drops(DROP_STACK_TOO_DEEP)
        self.send(0, labelled(eight, inner))
        self.expect(labelled(eight, inner, ttls=[TTL - 1] + [TTL] * 7, eth_dst=HOST_MAC[1]), 1)
        self.send(0, labelled(SID_REMOTE[:9], inner))
        testutils.verify_no_other_packets(self, timeout=0.5)
        assert self.drops(DROP_STACK_TOO_DEEP) == before + 1


class TtlExpiry(SrNodeTest):
    """A top label arriving with TTL 1 (or 0) is dropped and counted, never forwarded."""

    def runTest(self) -> None:
        self.sid_forward(SID_REMOTE[0], 1)
        self.local_sid(SID_PRIO, "pop_priority")
        inner = udp_packet()
        before = self.drops(DROP_TTL_EXPIRED)
        self.send(0, labelled([SID_REMOTE[0]], inner, ttls=1))
        self.send(0, labelled([SID_REMOTE[0]], inner, ttls=0))
        self.send(0, labelled([SID_PRIO, SID_REMOTE[0]], inner, ttls=[1, 64]))
        testutils.verify_no_other_packets(self, timeout=0.5)
        assert self.drops(DROP_TTL_EXPIRED) == before + 3
        self.send(0, labelled([SID_REMOTE[0]], inner, ttls=2))
        self.expect(labelled([SID_REMOTE[0]], inner, ttls=1, eth_dst=HOST_MAC[1]), 1)


class TtlAtEachExposure(SrNodeTest):
    """RFC 3032: a pop is the hop's TTL decrement. A TTL-2 label popped once leaves with TTL 1; a label exposed
    with TTL 1 that is itself local (popped again, bottom or not) would leave with 0: dropped and counted."""

    def runTest(self) -> None:
        self.sid_forward(SID_REMOTE[0], 1)
        self.local_sid(SID_PRIO, "pop_priority")
        inner = udp_packet()
        self.send(0, labelled([SID_PRIO, SID_REMOTE[0]], inner, ttls=[2, 64]))
        self.expect(labelled([SID_REMOTE[0]], inner, ttls=1, eth_dst=HOST_MAC[1]), 1)
        self.send(0, labelled([SID_PRIO, SID_PRIO, SID_REMOTE[0]], inner, ttls=[3, 64, 64]))
        self.expect(labelled([SID_REMOTE[0]], inner, ttls=1, eth_dst=HOST_MAC[1]), 1)
        before = self.drops(DROP_TTL_EXPIRED)
        self.send(0, labelled([SID_PRIO, SID_PRIO, SID_REMOTE[0]], inner, ttls=[2, 64, 64]))
        self.send(0, labelled([SID_PRIO, SID_PRIO], inner, ttls=[2, 64]))
        testutils.verify_no_other_packets(self, timeout=0.5)
        assert self.drops(DROP_TTL_EXPIRED) == before + 2


class UnknownLabel(SrNodeTest):
    """A top label that is neither local nor forwardable is dropped and counted."""

    def runTest(self) -> None:
        self.sid_forward(SID_REMOTE[0], 1)
        before = self.drops(DROP_UNKNOWN_LABEL)
        self.send(0, labelled([SID_REMOTE[5]], udp_packet()))
        testutils.verify_no_other_packets(self, timeout=0.5)
        assert self.drops(DROP_UNKNOWN_LABEL) == before + 1


class BadChecksumDropped(SrNodeTest):
    """An IPv4 header with a wrong checksum is dropped and counted, labelled or not."""

    def runTest(self) -> None:
        self.route("10.0.0.0", 8, 1)
        self.local_sid(SID_PRIO, "pop_priority")
        bad = udp_packet()
        bad["IP"].chksum = 0x1234
        before = self.drops(DROP_BAD_CHECKSUM)
        self.send(0, bad)
        self.send(3, labelled([SID_PRIO], bad))
        testutils.verify_no_other_packets(self, timeout=0.5)
        assert self.drops(DROP_BAD_CHECKSUM) == before + 2
