"""Feature reports of p4/srchain_node.p4 equal, field for field, the Python model srchain_vnfs.features,
for scripted flows with exact ingress timestamps (the emulator pipeline driven in-process), including
48-bit timestamp wrap, inter-arrival clamping, slot collisions and a random multi-flow workload."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from srchain.plan.tables import REPORT_RID, REPORT_SESSION_BASE, REPORT_TRUNCATE
from srchain_contracts.records import U32_MAX, FeatureReport, FlowKey, flow_slot
from srchain_emu.interp import runtime as R
from srchain_emu.interp.pipeline import Pipeline
from srchain_vnfs.features import FlowFeatureTable

ROOT = Path(__file__).resolve().parents[2]
SID_FF, SWITCH_ID, REPORT_PORT = 16000, 3, 4


def ip(s: str) -> int:
    return int(ipaddress.IPv4Address(s))


@pytest.fixture(scope="module")
def compiled() -> Pipeline:
    return Pipeline.from_file(ROOT / "p4" / "srchain_node.p4")


def node(compiled: Pipeline, report_every: int) -> Pipeline:
    p = compiled
    p.reset_state()  # tables, registers, counters, PRE groups
    p.table("classifier.rules").insert([(0, 0)] * 7, "SwitchIngress.classifier.push_1",
                                       {"ttl": 64, "label_0": SID_FF}, 10)
    for t in ("sr.local_sid_0", "sr.local_sid_1"):
        p.table(t).insert([SID_FF], "SwitchIngress.sr.pop_flow_features", {"sid": SID_FF, "report_every": report_every})
    p.table("ipv4.routes").insert([(0, 0)], "SwitchIngress.ipv4.route", {"port": 2, "dst_mac": 0x0200000000AA})
    p.table("flow_features.report_session").insert([SID_FF, (0, 0)], "SwitchIngress.flow_features.set_report_group",
                                                   {"group": 9})
    p.table("report.encap").insert([SID_FF, (0, 0)], "SwitchEgress.report.push_1",
                                   {"ttl": 64, "src_mac": 1, "dst_mac": 2, "label_0": 16001})
    p.table("report.addresses").insert([SID_FF], "SwitchEgress.report.set_addresses",
                                       {"switch_id": SWITCH_ID, "src_addr": 1, "dst_addr": 2})
    p.mcast_groups[9] = ((REPORT_PORT, REPORT_RID, -1),)  # $pre.mgid 9 -> one node: the report port
    p.mirror_sessions[REPORT_SESSION_BASE + REPORT_PORT] = R.MirrorSession(  # E2E: the report, truncated
        egress_port=REPORT_PORT, max_pkt_len=REPORT_TRUNCATE, direction="EGRESS")
    return p


def frame(src: str, sport: int, dst: str, dport: int, size: int, proto: int = 17) -> bytes:
    l4 = UDP(sport=sport, dport=dport) if proto == 17 else b""
    pkt = Ether() / IP(src=src, dst=dst, proto=proto) / l4
    return bytes(pkt / Raw(b"\x00" * max(0, size - len(pkt))))


class Replay:
    """Feeds the same packets to the switch pipeline and to the model; collects both report lists."""

    def __init__(self, p: Pipeline, report_every: int) -> None:
        self.p = p
        self.model = FlowFeatureTable(switch_id=SWITCH_ID, report_every=report_every)
        self.switch: list[FeatureReport] = []
        self.expected: list[FeatureReport] = []

    def packet(self, ts: int, src: str, sport: int, dst: str, dport: int, size: int) -> None:
        f = frame(src, sport, dst, dport, size)
        for out in self.p.process(1, f, tstamp_ns=ts):
            if out.port == REPORT_PORT:
                # the finished report's E2E copy, cut behind its one-byte mirror header (one label here)
                assert len(out.frame) == min(REPORT_TRUNCATE - 1, len(f) + 14 + 4 + 28 + 72), len(out.frame)
                self.switch.append(FeatureReport.unpack(out.frame[14 + 4 + 28 :]))
            else:
                assert out.port == 2
        rep = self.model.observe(ts, ip(src), sport, ip(dst), dport, 17, len(f) - 14)
        if rep is not None:
            self.expected.append(rep)


def test_scripted_flow_reports_match_the_model_exactly(compiled: Pipeline) -> None:
    r = Replay(node(compiled, 4), 4)
    sizes = [100, 200, 150, 120, 300, 90, 110, 250, 64, 1500, 700, 80]
    gaps = [0, 1_000, 25_000, 3, 5_000_000_000, 10, 20, 30, 2**32 - 1, 2**32, 7, 9]  # two gaps clamp
    ts = (1 << 48) - 3_000  # the 48-bit timestamp wraps during the flow
    for size, gap in zip(sizes, gaps, strict=True):
        ts = (ts + gap) & ((1 << 48) - 1)
        r.packet(ts, "10.0.1.10", 5001, "10.0.2.10", 6000, size)
    assert len(r.switch) == 3
    assert r.switch == r.expected
    assert r.switch[1].iat_max == U32_MAX and r.switch[2].iat_max == U32_MAX  # clamped, not wrapped
    assert [x.seq for x in r.switch] == [0, 1, 2]


def test_both_directions_have_their_own_slot(compiled: Pipeline) -> None:
    r = Replay(node(compiled, 2), 2)
    for i in range(4):
        r.packet(1000 * i, "10.0.1.10", 5001, "10.0.2.10", 6000, 100 + i)
        r.packet(1000 * i + 500, "10.0.2.10", 6000, "10.0.1.10", 5001, 200 + i)
    assert r.switch == r.expected and len(r.switch) == 4
    assert {x.direction for x in r.switch} == {0, 1} and len({x.slot for x in r.switch}) == 2


def test_collisions_restart_statistics_and_flag_the_report(compiled: Pipeline) -> None:
    key, direction = FlowKey.from_packet("10.0.1.10", 5001, "10.0.2.10", 6000, 17)
    slot = flow_slot(key, direction, 1 << 16)

    def slot_of(sport: int) -> int:
        return flow_slot(*FlowKey.from_packet("10.0.1.10", sport, "10.0.2.10", 6000, 17), 1 << 16)

    other = next(p for p in range(6001, 65536) if slot_of(p) == slot)
    r = Replay(node(compiled, 3), 3)
    ts = 0
    for sport in [5001, 5001, other, other, 5001, 5001, 5001, other, other, other]:
        ts += 777
        r.packet(ts, "10.0.1.10", sport, "10.0.2.10", 6000, 100 + sport % 50)
    assert r.switch == r.expected
    assert [(x.key.port_a, x.collision) for x in r.switch] == [(5001, True), (other, True)]


def test_random_workload_matches_the_model(compiled: Pipeline) -> None:
    rng = random.Random(4)
    r = Replay(node(compiled, 5), 5)
    flows = [(f"10.0.{rng.randrange(1, 4)}.{rng.randrange(1, 250)}", rng.randrange(1024, 65535),
              f"10.1.0.{rng.randrange(1, 250)}", rng.choice([53, 443, 3074, 27015])) for _ in range(40)]
    ts = 10**12
    for _ in range(1500):
        src, sport, dst, dport = rng.choice(flows)
        if rng.random() < 0.5:
            src, sport, dst, dport = dst, dport, src, sport
        ts += rng.choice([0, 1, 50, 1_000, 200_000, 30_000_000])
        r.packet(ts, src, sport, dst, dport, rng.randrange(64, 1500))
    assert len(r.expected) > 200
    assert r.switch == r.expected


def test_canonical_order_with_equal_addresses_follows_the_ports(compiled: Pipeline) -> None:
    # the key order is built from min() and XOR tests (a gateway compares a field with a constant only):
    # equal addresses leave the order to the ports, in both directions, and to the model's rule
    r = Replay(node(compiled, 1), 1)
    r.packet(1_000, "10.0.0.7", 7000, "10.0.0.7", 53, 100)
    r.packet(2_000, "10.0.0.7", 53, "10.0.0.7", 7000, 100)
    r.packet(3_000, "10.0.0.9", 80, "10.0.0.7", 9000, 100)
    assert r.switch == r.expected and len(r.switch) == 3
    assert [(x.key.port_a, x.key.port_b, x.direction) for x in r.switch[:2]] == [(53, 7000, 0), (53, 7000, 1)]
    assert (r.switch[2].key.ip_a, r.switch[2].direction) == (ip("10.0.0.7"), 0)
