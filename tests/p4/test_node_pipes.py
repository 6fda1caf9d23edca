"""The priority module across pipes (issue 15 item 3): a Tofino keeps registers per pipe, so p4/srchain_node.p4
replicates a valid decision record (PRE group DECISION_GROUP, one copy per pipe to that pipe's recirculation
port, as the planner writes it) and each copy writes the session registers of its pipe. Data ports in pipe 0,
the decision arriving on a pipe-1 port (the emulator pipeline in-process, 4 pipes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from srchain.plan.tables import DECISION_GROUP, DECISION_RID, RECIRC_LOCAL_PORT
from srchain_contracts.records import DecisionRecord, FlowKey
from srchain_emu.interp.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[2]
SID_PRIO = 16005
IN, OUT = 1, 2  # data ports, pipe 0
DECISION_PORT = 129  # the aggregator's port, pipe 1
DROPS, DROP_DECISION = "SwitchIngress.drops", 8
MAC = "02:00:00:00:00:01"


def node(recirc_pipes: list[int]) -> Pipeline:
    p = Pipeline.from_file(ROOT / "p4" / "srchain_node.p4")
    p.reset_state()
    for src in (0x0A000100, 0x0A000200):  # UDP from 10.0.1.0/24 and 10.0.2.0/24 gets [SID_PRIO]
        p.table("classifier.rules").insert([(0, 0), (src, 0xFFFFFF00), (0, 0), (17, 0xFF), (0, 0), (0, 0), (0, 0)],
                                           "SwitchIngress.classifier.push_1", {"ttl": 64, "label_0": SID_PRIO}, 10)
    p.table("sr.local_sid_0").insert([SID_PRIO], "SwitchIngress.sr.pop_priority", {"sid": SID_PRIO})
    p.table("ipv4.routes").insert([(0x0A000200, 24)], "SwitchIngress.ipv4.route", {"port": OUT, "dst_mac": 2})
    p.table("ipv4.routes").insert([(0x0A000100, 24)], "SwitchIngress.ipv4.route", {"port": IN, "dst_mac": 1})
    p.table("priority.queue_map").insert([SID_PRIO, 1], "SwitchIngress.priority.set_qid", {"qid": 7})
    # $pre.mgid DECISION_GROUP -> one node, RID DECISION_RID, the recirculation port of each pipe in use
    p.mcast_groups[DECISION_GROUP] = tuple((RECIRC_LOCAL_PORT + 128 * pipe, DECISION_RID, -1)
                                           for pipe in recirc_pipes)
    return p


def data(sport: int = 5001, reverse: bool = False) -> bytes:
    ends = (("10.0.2.10", 6000), ("10.0.1.10", sport)) if reverse else (("10.0.1.10", sport), ("10.0.2.10", 6000))
    (src, s_port), (dst, d_port) = ends
    return bytes(Ether(dst=MAC, src=MAC) / IP(src=src, dst=dst) / UDP(sport=s_port, dport=d_port) / Raw(b"x" * 20))


def decision(sport: int, class_id: int) -> bytes:
    key, _ = FlowKey.from_packet("10.0.1.10", sport, "10.0.2.10", 6000, 17)
    record = DecisionRecord(key, issuer_id=7, class_id=class_id, confidence=255, ttl_s=0, seq=1, issued_ns=1).pack()
    return bytes(Ether(dst=MAC, src=MAC, type=0x8847) / MPLS(label=SID_PRIO, s=1, ttl=64)
                 / IP(src="10.255.0.3", dst="10.255.0.1") / UDP(sport=47002, dport=47002) / Raw(record))


def qid_of(p: Pipeline, port: int, frame: bytes) -> tuple[int, int]:
    (out,) = p.process(port, frame, 0)
    return out.port, out.qid


def test_a_decision_on_a_pipe_1_port_prioritises_the_session_in_pipe_0() -> None:
    p = node([0, 1])
    assert qid_of(p, IN, data()) == (OUT, 0)  # best effort before the decision
    assert p.process(DECISION_PORT, decision(5001, 1), 0) == []  # consumed: nothing leaves
    assert p.stats["recirculated"] == 2  # one copy per pipe, back through 68 and 196
    drops = p.counter(DROPS)
    assert [drops.read(DROP_DECISION, pipe)[0] for pipe in range(4)] == [1, 1, 0, 0]  # consumed in each pipe
    assert qid_of(p, IN, data()) == (OUT, 7)
    assert qid_of(p, OUT, data(reverse=True)) == (IN, 7)  # both directions share the session
    assert qid_of(p, IN, data(sport=5002)) == (OUT, 0)  # another session
    assert qid_of(p, 130, data()) == (OUT, 7)  # pipe 1 has the class too
    assert p.register("priority.session_class").read_pipes(p.register("priority.session_class").size - 1) == [
        (0,)] * 4  # (an untouched slot)
    p.process(DECISION_PORT, decision(5001, 0), 0)  # class 0 withdraws the class
    assert qid_of(p, IN, data()) == (OUT, 0)


def test_without_the_copy_for_pipe_0_the_decision_stays_in_the_other_pipe() -> None:
    """What the fan-out is for: registers are per pipe, a class written in pipe 1 only is not seen in pipe 0."""
    p = node([1])
    assert p.process(DECISION_PORT, decision(5001, 1), 0) == []
    assert qid_of(p, 130, data()) == (OUT, 7)
    assert qid_of(p, IN, data()) == (OUT, 0)


@pytest.mark.parametrize("ports", [[OUT], []])
def test_the_decision_itself_is_never_forwarded(ports: list[int]) -> None:
    """Only the PRE's copies leave ingress; with no group written the decision is dropped (counted by the PRE)."""
    p = node([0]) if ports else Pipeline.from_file(ROOT / "p4" / "srchain_node.p4")
    if not ports:
        p.table("sr.local_sid_0").insert([SID_PRIO], "SwitchIngress.sr.pop_priority", {"sid": SID_PRIO})
    assert p.process(IN, decision(5001, 1), 0) == []
    assert p.stats["mcast_unknown_mgid"] == (0 if ports else 1)
