"""PTF tests of the l4s module (p4/control/l4s.p4; needs a bundle of the `l4s` profile: p4/build --profile l4s):
real frames in and out of the switch's ports. UDP from 10.0.1.0/24 gets [SID_L4S] and leaves by PTF port 1,
with the tables the controller writes for an l4s segment (srchain.plan.l4s, RFC 9332's defaults)."""

from __future__ import annotations

import time

from ptf import testutils
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from sr_node_base import HOST_MAC, SrNodeTest, udp_packet

from srchain.model.modules import L4sParams
from srchain.plan import l4s as L4S

SID_L4S = 16010
NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3
MARKED_L4S, MARKED_CLASSIC, DROPPED_CLASSIC, FORWARDED = range(4)
DECISIONS = "SwitchEgress.l4s.decisions"
CHUNK = 50  # frames sent before reading them back (PTF's per-port queue holds 100)


def ecn_packet(ecn: int, sport: int = 5000, size: int = 100, ttl: int = 64, eth_dst: str | None = None) -> Ether:
    pkt = udp_packet(sport=sport, size=size, ttl=ttl, **({"eth_dst": eth_dst} if eth_dst else {}))
    pkt[IP].tos = ecn
    return pkt


class L4sTest(SrNodeTest):
    params = L4sParams()

    def setUp(self) -> None:
        super().setUp()
        self.local_sid(SID_L4S, "pop_l4s")
        self.classify([SID_L4S], src="10.0.1.0", src_mask="255.255.255.0", protocol=17, protocol_mask=0xFF)
        self.route("10.0.2.0", 24, 1)
        for ecn in range(4):
            self.add("SwitchIngress.l4s.queue_map", {"sid": SID_L4S, "ecn": ecn}, "SwitchIngress.l4s.set_queue",
                     {"qid": L4S.queue_of(self.params, ecn)})
        self.add("SwitchEgress.l4s.config", {"sid": SID_L4S}, "SwitchEgress.l4s.set_config",
                 L4S.config_data(self.params))
        for row in L4S.pi_rows(self.params):
            self.add("SwitchEgress.l4s.pi_terms", {"sid": SID_L4S, "bucket": row.bucket},
                     "SwitchEgress.l4s.set_terms", {"now": row.now_term, "prev": row.prev_term})

    def decisions(self) -> list[int]:
        return [self.counter(DECISIONS, i) for i in range(4)]

    def queued(self, ptf_port: int, qid: int) -> int:
        return self.register("SwitchEgress.queue_stats.packets", (self.dev(ptf_port) << 5) | qid)

    def receive(self, n: int, ptf_port: int = 1, timeout: float = 5.0) -> list[Ether]:
        """The next `n` frames out of `ptf_port` (fewer when the time runs out)."""
        got: list[Ether] = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            res = testutils.dp_poll(self, port_number=ptf_port, timeout=max(0.05, deadline - time.monotonic()))
            if isinstance(res, self.dataplane.PollSuccess):
                got.append(Ether(res.packet))
        return got

    def shape(self, kbps: int | None) -> None:
        """PTF port 1 through the SDE's TM tables, as the plan's `port_rate_kbps` writes them."""
        port = {"dev_port": self.dev(1)}
        if kbps is not None:
            rate = {"unit": "BPS", "provisioning": "UPPER", "max_rate": kbps, "max_burst_size": 1600}
            self.c.modify("tf1.tm.port.sched_shaping", port, None, rate)
        self.c.modify("tf1.tm.port.sched_cfg", port, None, {"max_rate_enable": kbps is not None})


class EcnCodepointsPickTheQueue(L4sTest):
    """All four codepoints: ECT(1) and CE to the L4S queue (1), Not-ECT and ECT(0) to the classic queue (0); an
    idle queue marks nothing and the frames leave unchanged but for the hop (TTL, MAC)."""

    def runTest(self) -> None:
        before = self.decisions()
        q = {qid: self.queued(1, qid) for qid in (0, 1)}
        for ecn in (NOT_ECT, ECT1, ECT0, CE):
            self.send(0, ecn_packet(ecn, sport=5000 + ecn))
            self.expect(ecn_packet(ecn, sport=5000 + ecn, ttl=63, eth_dst=HOST_MAC[1]), 1)
        assert {qid: self.queued(1, qid) - q[qid] for qid in (0, 1)} == {0: 2, 1: 2}
        after = self.decisions()
        assert [a - b for a, b in zip(after, before, strict=True)] == [0, 0, 0, 4], (before, after)


class L4sStepMarksAStandingQueue(L4sTest):
    """PTF port 1 shaped to 2 Mbit/s: a burst of 1000-byte ECT(1) frames queues 4 ms per frame, so beyond the
    first frames (the shaper's burst lets them through; the queue builds only as fast as PTF sends) every one
    waits more than the 1 ms step threshold and leaves CE-marked, except the last: it leaves the L queue empty
    behind it, and RFC 9332 A.2's Th_len (one packet) keeps a packet alone in the queue unmarked; the counter
    agrees with what arrived."""

    def tearDown(self) -> None:
        self.shape(None)
        super().tearDown()

    def runTest(self) -> None:
        self.shape(2000)
        before = self.decisions()
        n = 30
        for i in range(n):
            self.send(0, ecn_packet(ECT1, sport=6000 + i, size=1000))
        got = self.receive(n, timeout=10.0)
        assert len(got) == n, len(got)
        ecn = [int(p[IP].tos) & 3 for p in got]
        assert ecn[0] == ECT1 and ecn[-1] == ECT1, ecn  # the first found the queue empty, the last left it so
        # Unmarked frames only while the queue builds (how many depends on how fast PTF sends: 4 under CI load),
        # then CE until the last: a standing queue never lets an ECT(1) frame through unmarked.
        first_ce = ecn.index(CE)
        assert first_ce <= n // 2 and ecn[first_ce:-1] == [CE] * (n - 1 - first_ce), ecn
        after = self.decisions()
        assert after[MARKED_L4S] - before[MARKED_L4S] == ecn.count(CE)
        assert after[FORWARDED] - before[FORWARDED] == ecn.count(ECT1)


class ClassicAtFullProbability(L4sTest):
    """p' held at 1 (a register write; an update by these packets lowers it by ~3e-5 only): p_C = p'^2 drops
    Not-ECT frames and CE-marks ECT(0) ones (RFC 9332 s2.5.1.1), each counted."""

    def runTest(self) -> None:
        self.c.register_write("SwitchEgress.l4s.prob", self.dev(1), {"f1": 0xFFFFFFFF})
        before = self.decisions()
        n = 20
        for i in range(n):
            self.send(0, ecn_packet(NOT_ECT, sport=7000 + i))
        dropped = n - len(self.receive(n, timeout=1.0))
        for i in range(n):
            self.send(0, ecn_packet(ECT0, sport=7100 + i))
        got = self.receive(n)
        marked = sum(int(p[IP].tos) & 3 == CE for p in got)
        assert len(got) == n and dropped >= n - 1 and marked >= n - 1, (dropped, marked)
        after = self.decisions()
        assert after[DROPPED_CLASSIC] - before[DROPPED_CLASSIC] == dropped
        assert after[MARKED_CLASSIC] - before[MARKED_CLASSIC] == marked


class MarksFollowTheCoupledCurve(L4sTest):
    """p' held at 0.3 (a register write; at an idle queue an update moves it by ~4e-5 only): ECT(1) frames are
    CE-marked with p_L = k p' = 0.6 (k 2, no step: the queue is idle), ECT(0) ones with p_C = p'^2 = 0.09 and
    Not-ECT ones dropped with 0.09 (RFC 9332 s2.4), each within 4.5 sigma of its binomial over n frames; the
    decision counters agree with what came out."""

    P_PRIME = 0.3

    def runTest(self) -> None:
        self.c.register_write("SwitchEgress.l4s.prob", self.dev(1), {"f1": int(self.P_PRIME * 2**32)})
        before = self.decisions()
        k = self.params.coupling
        seen: dict[int, tuple[int, int]] = {}
        for ecn, n in ((ECT1, 300), (ECT0, 500), (NOT_ECT, 500)):
            got: list[Ether] = []
            for start in range(0, n, CHUNK):  # PTF keeps the last 100 frames of a port: read as we go
                for i in range(start, min(n, start + CHUNK)):
                    self.send(0, ecn_packet(ecn, sport=8000 + i))
                got += self.receive(min(n, start + CHUNK) - start, timeout=1.0 if ecn == NOT_ECT else 5.0)
            seen[ecn] = (n - len(got), sum(int(p[IP].tos) & 3 == CE for p in got))
        p_l, p_c = min(1.0, k * self.P_PRIME), self.P_PRIME**2
        for what, count, n, p in (("ECT(1) marked", seen[ECT1][1], 300, p_l),
                                  ("ECT(0) marked", seen[ECT0][1], 500, p_c),
                                  ("Not-ECT dropped", seen[NOT_ECT][0], 500, p_c)):
            sigma = (n * p * (1 - p)) ** 0.5
            assert abs(count - n * p) <= 4.5 * sigma, (what, count, n * p, sigma)
        assert seen[ECT1][0] == 0 and seen[ECT0][0] == 0, seen  # ECN-capable frames are marked, never dropped
        after = self.decisions()
        assert after[MARKED_L4S] - before[MARKED_L4S] == seen[ECT1][1]
        assert after[MARKED_CLASSIC] - before[MARKED_CLASSIC] == seen[ECT0][1]
        assert after[DROPPED_CLASSIC] - before[DROPPED_CLASSIC] == seen[NOT_ECT][0]


class PiFollowsAStandingClassicQueue(L4sTest):
    """The PI2 core over real frames (RFC 9332 A.1, Tupdate 16 ms): PTF port 1 shaped to 1 Mbit/s, 40 ECT(0)
    frames of 1000 bytes build a classic queue of up to ~320 ms (8 ms a frame), far above the 15 ms target, and
    p' rises from 0 while they leave; frames sent one at a time afterwards find the queue empty, and p' falls
    (the first update's proportional term, beta (0 - prev), takes most of it back). Every frame comes out: ECN-
    capable ones are marked, never dropped."""

    def tearDown(self) -> None:
        self.shape(None)
        super().tearDown()

    def prob(self) -> int:
        return self.register("SwitchEgress.l4s.prob", self.dev(1))

    def runTest(self) -> None:
        self.c.register_write("SwitchEgress.l4s.prob", self.dev(1), {"f1": 0})
        self.shape(1000)
        n = 40
        for i in range(n):
            self.send(0, ecn_packet(ECT0, sport=9000 + i, size=1000))
        got = self.receive(n, timeout=10.0)
        assert len(got) == n, len(got)
        risen = self.prob()
        assert risen > 2**32 // 1000, risen / 2**32  # > 0.001: ~20 updates at 100-300 ms of delay
        for i in range(10):  # 20 ms apart: each finds the queue empty (8 ms a frame)
            self.send(0, ecn_packet(ECT0, sport=9100 + i, size=1000))
            time.sleep(0.02)
        assert len(self.receive(10, timeout=5.0)) == 10
        fallen = self.prob()
        assert fallen < risen, (risen / 2**32, fallen / 2**32)
