"""Load balancing over VNF instances in p4/srchain_node.p4 (the emulator pipeline driven in-process): with two
instances (bucket mask 1, as the planner writes for k = 2), many flows split over both on the data path and
on the report path within binomial bounds, and each flow's reports take the same bucket as its data."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from srchain.plan.tables import REPORT_RID, REPORT_SESSION_BASE, REPORT_TRUNCATE
from srchain_emu.interp import runtime as R
from srchain_emu.interp.pipeline import Emitted, Pipeline

ROOT = Path(__file__).resolve().parents[2]
SID_FF, VNF_A, VNF_B, REPORT_A, REPORT_B = 16000, 16100, 16101, 16200, 16201
PORT_A, PORT_B, REPORT_PORT = 5, 6, 4
FLOWS = 400
# |split - n/2| <= 4.5 sigma for a fair coin: a hash that is fair fails this about once in 10^5 runs
BOUND = 4.5 * (FLOWS * 0.25) ** 0.5


@pytest.fixture(scope="module")
def node() -> Pipeline:
    p = Pipeline.from_file(ROOT / "p4" / "srchain_node.p4")
    p.reset_state()
    for bucket, vnf in ((0, VNF_A), (1, VNF_B)):  # ternary on lb_bucket with mask 1: two instances
        p.table("classifier.rules").insert([(0, 0)] * 6 + [(bucket, 1)], "SwitchIngress.classifier.push_2",
                                           {"ttl": 64, "label_0": SID_FF, "label_1": vnf}, 10)
    for t in ("sr.local_sid_0", "sr.local_sid_1"):
        p.table(t).insert([SID_FF], "SwitchIngress.sr.pop_flow_features", {"sid": SID_FF, "report_every": 1})
    for vnf, port in ((VNF_A, PORT_A), (VNF_B, PORT_B)):
        p.table("sr.sid_forward").insert([vnf], "SwitchIngress.sr.forward", {"port": port, "dst_mac": 0x0200000000BB})
    p.table("flow_features.report_session").insert([SID_FF, (0, 0)], "SwitchIngress.flow_features.set_report_group",
                                                   {"group": 9})
    for bucket, label in ((0, REPORT_A), (1, REPORT_B)):
        p.table("report.encap").insert([SID_FF, (bucket, 1)], "SwitchEgress.report.push_1",
                                       {"ttl": 64, "src_mac": 1, "dst_mac": 2, "label_0": label})
    p.table("report.addresses").insert([SID_FF], "SwitchEgress.report.set_addresses",
                                       {"switch_id": 1, "src_addr": 1, "dst_addr": 2})
    p.mcast_groups[9] = ((REPORT_PORT, REPORT_RID, -1),)  # $pre.mgid 9 -> one node: the report port
    p.mirror_sessions[REPORT_SESSION_BASE + REPORT_PORT] = R.MirrorSession(  # E2E: the report, truncated
        egress_port=REPORT_PORT, max_pkt_len=REPORT_TRUNCATE, direction="EGRESS")
    return p


def top_label(frame: bytes) -> int:
    assert frame[12:14] == b"\x88\x47", frame[:16].hex()
    return int.from_bytes(frame[14:17], "big") >> 4


def flow_frame(i: int) -> bytes:
    src = f"10.1.{i // 250}.{i % 250 + 1}"
    return bytes(Ether() / IP(src=src, dst="10.2.0.9") / UDP(sport=10000 + i, dport=5000))


def test_flows_split_over_two_instances_on_both_paths_and_reports_follow_their_data(node: Pipeline) -> None:
    data: dict[int, int] = {PORT_A: 0, PORT_B: 0}
    reports: dict[int, int] = {REPORT_A: 0, REPORT_B: 0}
    for i in range(FLOWS):
        out: list[Emitted] = node.process(1, flow_frame(i))
        (fwd,) = [e for e in out if e.port in (PORT_A, PORT_B)]
        (rep,) = [e for e in out if e.port == REPORT_PORT]
        data[fwd.port] += 1
        label = top_label(rep.frame)
        reports[label] += 1
        assert (fwd.port == PORT_A) == (label == REPORT_A), f"flow {i}: data to port {fwd.port}, report {label}"
    assert abs(data[PORT_A] - FLOWS / 2) <= BOUND, data
    assert abs(reports[REPORT_A] - FLOWS / 2) <= BOUND, reports
