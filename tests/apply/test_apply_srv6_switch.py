"""An SRv6 chain's switch entries applied to an emulated Tofino running the srv6 bundle (`p4/build --profile srv6`),
through `ChainService` and the real switch driver over BF Runtime gRPC (the bundle pushed from the inventory's
`artifacts`); the proxies and Linux nodes are in-memory targets here (their real drivers:
tests/proxy/test_srv6_plan_netns.py, tests/proxy/test_srv6_switch_interop_netns.py). Then frames through the
switch's pipeline as the chain's neighbours would send them: what leaves is what the plan says, byte for byte
with scapy's SRH layer; a day-2 change is make-before-break; delete removes the chain's rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from fake_target import FakeNetwork
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrSegmentRouting
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from labs import GrpcSwitch
from srchain.apply.engine import Options
from srchain.apply.factory import driver_factory
from srchain.bfrt.client import BfrtClient
from srchain.chains import ChainService
from srchain.model.inventory import Inventory
from srchain.plan import Plan
from srchain.plan import srv6switch as S6
from srchain.plan.srv6 import TAIL_SEGMENT
from srchain.targets.base import Driver
from srchain.targets.switch import SwitchDriver
from srchain_contracts.records import DecisionRecord, FeatureReport, FlowKey
from srchain_emu.bundle import compile_to_dir

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "examples"
HEAD, PX1, PX2, TAIL = 1, 2, 3, 4  # s1's ports (examples/inventory-srv6-switch.yaml)
MAC = {"s1p1": "02:00:00:00:01:01", "s1p2": "02:00:00:00:01:02", "s1p3": "02:00:00:00:01:03",
       "s1p4": "02:00:00:00:01:04", "head": "02:00:00:00:70:01", "px1": "02:00:00:00:60:01",
       "px2": "02:00:00:00:60:02", "tail": "02:00:00:00:70:09"}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("srv6") / "node"
    compile_to_dir(REPO / "p4" / "srchain_node.p4", out, defines={"SRCHAIN_SRV6": "1"})
    return out


@pytest.fixture
def lab(artifacts: Path, tmp_path: Path) -> Iterator[dict[str, object]]:
    sw = GrpcSwitch()
    inv = yaml.safe_load((EX / "inventory-srv6-switch.yaml").read_text())
    inv["switches"][0].update(grpc=sw.address, artifacts=str(artifacts))
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv))
    fake = FakeNetwork()

    def connect(inventory: Inventory, base: Path) -> Callable[[str, str], Driver]:
        real = driver_factory(inventory, base, timeout=10, bfrt_backend="native")
        return lambda kind, name: real(kind, name) if kind == "switch" else fake.factory(kind, name)

    service = ChainService(path, tmp_path / "state", options=Options(drain_timeout=5, drain_interval=0.2),
                           connect=connect)
    try:
        yield {"sw": sw, "service": service, "fake": fake, "inv": path, "tmp": tmp_path}
    finally:
        sw.stop()


def sid(plan: Plan, segment: str, instance: str | None = None) -> str:
    value = next(s.sid for s in plan.sids if s.segment == segment and s.instance == (instance or segment))
    assert isinstance(value, str)
    return value


def inner(sport: int = 4000, payload: bytes = b"x" * 32) -> Packet:
    return IP(src="10.0.1.10", dst="10.0.2.10", ttl=64) / UDP(sport=sport, dport=7000) / Raw(payload)


def srv6(src_mac: str, dst_mac: str, src: str, segs: list[str], sl: int, payload: Packet, hlim: int = 64) -> bytes:
    """An SRv6 frame, `segs` in travel order (Segment List[0] is the last)."""
    wire = list(reversed(segs))
    return bytes(Ether(src=src_mac, dst=dst_mac) / IPv6(src=src, dst=wire[sl], hlim=hlim, nh=43)
                 / IPv6ExtHdrSegmentRouting(addresses=wire, segleft=sl, lastentry=len(wire) - 1, nh=4) / payload)


def process(sw: GrpcSwitch, port: int, frame: bytes) -> list[tuple[int, bytes, int]]:
    return [(e.port, e.frame, e.qid) for e in sw.servicer.process(port, frame)]


def switch_rows(lab: dict[str, object], plan: Plan) -> tuple[dict[object, str], dict[object, str], dict[object, str]]:
    """(live, planned, roles): s1's rows of the plan's tables as the switch driver reads them back, the plan's,
    and each planned row's role (by the driver's normal key)."""
    sw = lab["sw"]
    assert isinstance(sw, GrpcSwitch)
    driver = SwitchDriver("s1", BfrtClient.connect(sw.address, client_id=9, timeout=5), "srchain_node")
    try:
        driver.prepare(load=False)
        planned = dict(driver.norm(e) for e in plan.entries_of("switch", "s1"))
        roles = {driver.norm(e)[0]: e.role for e in plan.entries_of("switch", "s1")}
        live = {k: c for k, (c, _) in driver.snapshot({k[0] for k in planned}).items()}
    finally:
        driver.close()
    return live, planned, roles


def test_a_linux_head_end_chain_through_s1_end_priority_and_reports(lab: dict[str, object]) -> None:
    service, sw = lab["service"], lab["sw"]
    assert isinstance(service, ChainService) and isinstance(sw, GrpcSwitch)
    applied = service.apply(service.load(EX / "srv6-switch.yaml"))
    plan = applied.plan
    assert {o.op for o in applied.result.ops} == {"add"}
    live, planned, _ = switch_rows(lab, plan)
    assert live == planned, "every planned row of s1 reads back as planned"
    status = service.status("srv6-switch")
    assert all(not row.get("missing") and not row.get("differs") for row in status.values()), status
    features, nat, prio, fmt, agg = (sid(plan, n) for n in ("features", "nat", "priority", "formatter", "aggregator"))
    tail = sid(plan, TAIL_SEGMENT, "tail")
    head_addr, s1_src = "fcbb:bb00:1::1", "fcbb:bb00:10::1"
    data = [features, nat, prio, tail]

    # 1. the Linux head end's H.Encaps: s1 runs flow-features (End: SL 3 -> 2), then routes px1's locator
    frame = srv6(MAC["head"], MAC["s1p1"], head_addr, data, 3, inner())
    ((port, out, _),) = process(sw, HEAD, frame)
    # (the switch rewrites the destination MAC only: the source stays the head end's)
    assert port == PX1 and out == srv6(MAC["head"], MAC["px1"], head_addr, data, 2, inner(), hlim=63)
    # 2. px1's End.AS sends the NAT's packet back with the planned list behind it: s1's priority SID runs
    #    (End: SL 1 -> 0) and the tail's locator is routed to port 4
    back = srv6(MAC["px1"], MAC["s1p2"], nat, [prio, tail], 1, inner())
    ((port, out, qid),) = process(sw, PX1, back)
    assert (port, qid) == (TAIL, 0) and out == srv6(MAC["px1"], MAC["tail"], nat, [prio, tail], 0, inner(), hlim=63)
    # 3. an aggregator's decision for this flow, back from px2 on the report path: consumed by the priority SID;
    #    then the flow's packets leave in queue 7 (class 1 of the segment's queues)
    key, _ = FlowKey.from_packet("10.0.1.10", 4000, "10.0.2.10", 7000, 17)
    decision = IP(src="10.9.0.1", dst="10.255.0.2") / UDP(sport=47002, dport=47002) / Raw(
        DecisionRecord(key, class_id=1, seq=1).pack())
    assert process(sw, PX2, srv6(MAC["px2"], MAC["s1p3"], agg, [prio, tail], 1, decision)) == []
    ((port, out, qid),) = process(sw, PX1, back)
    assert (port, qid) == (TAIL, 7)
    # 4. the 16th packet of the flow (report_every 16) makes a feature report, H.Encaps'd toward the report path
    reports = []
    for _ in range(16):
        outs = process(sw, HEAD, frame)
        reports += [o for p, o, _ in outs if p == PX2]
        assert [p for p, _, _ in outs if p != PX2] == [PX1]
    (report,) = reports
    r = Ether(report)
    srh = r[IPv6ExtHdrSegmentRouting]
    assert (r.src, r.dst, r[IPv6].src, r[IPv6].dst, r[IPv6].hlim) == (MAC["s1p3"], MAC["px2"], s1_src, fmt, 64)
    assert (srh.addresses, srh.segleft) == ([tail, prio, agg, fmt], 3)
    at = 14 + 40 + 8 + 4 * 16 + 20 + 8
    record = FeatureReport.unpack(report[at : at + 72])
    assert (record.key, record.switch_id) == (key, 1) and record.pkt_count >= 16
    assert len(report) <= S6.REPORT_TRUNCATE - 1

    # delete: the chain's rows go, flip rows first; the infrastructure rows too (the locator routes, groups, the
    # mirror session, the TM rows back to the SDE's defaults): no other applied chain records them
    deleted = service.delete("srv6-switch")
    assert deleted.result.ops[0].phase == "flip"
    live, planned, roles = switch_rows(lab, plan)
    assert not {roles[k] for k in planned if k in live}


def test_a_switch_head_end_day2_is_make_before_break(lab: dict[str, object]) -> None:
    service, sw, fake = lab["service"], lab["sw"], lab["fake"]
    assert isinstance(service, ChainService) and isinstance(sw, GrpcSwitch) and isinstance(fake, FakeNetwork)
    spec = EX / "srv6-switch-head.yaml"
    first = service.apply(service.load(spec)).plan
    nat, prio, tail = sid(first, "nat"), sid(first, "priority"), sid(first, TAIL_SEGMENT, "tail")
    plain = bytes(Ether(src=MAC["head"], dst=MAC["s1p1"]) / inner())
    ((port, out, _),) = process(sw, HEAD, plain)
    # H.Encaps on s1 from its locator's first address; forwarded by px1's locator (Hop Limit 64 - 1)
    assert port == PX1 and out == srv6(MAC["head"], MAC["px1"], "fcbb:bb00:10::1", [nat, prio, tail], 2, inner(),
                                       hlim=63)
    # day 2: the NAT becomes End.AD: a new SID on px1 first, then s1's classifier flips to it, then the old SID goes
    dyn = lab["tmp"] / "dyn.yaml"  # type: ignore[operator]
    dyn.write_text(spec.read_text().replace("behaviour: static", "behaviour: dynamic"))
    second = service.apply(service.load(dyn))
    new_nat = sid(second.plan, "nat")
    assert new_nat != nat
    order = [(o.phase, o.op, o.entry.target, o.entry.table) for o in second.result.ops]
    assert order == [("install", "add", "px1", "srv6_sid"), ("flip", "modify", "s1", S6.CLASSIFIER),
                     ("cleanup", "delete", "px1", "srv6_sid")]
    assert second.result.drained is True
    ((port, out, _),) = process(sw, HEAD, plain)
    assert port == PX1 and Ether(out)[IPv6].dst == new_nat
    assert Ether(out)[IPv6ExtHdrSegmentRouting].addresses == [tail, prio, new_nat]
    live, planned, _ = switch_rows(lab, second.plan)
    assert live == planned
