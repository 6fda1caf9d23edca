"""An SRv6 chain through a P4 switch running the srv6 profile (examples/srv6-switch.yaml on
examples/inventory-srv6-switch.yaml): the reviewed golden plan, and what its switch entries mean: module SIDs on
the switch's locator keyed by their function, locator routes along every segment list, the report path's
H.Encaps, the priority module's rows; a switch head end's classifier H.Encaps; day-2 changes make-before-break."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from chainlib import EXAMPLES, plan_file, write_variant

from srchain.plan import Plan, diff
from srchain.plan import srv6switch as S6
from srchain.plan import tables as T
from srchain.plan.iproute2 import ip_args
from srchain.plan.model import Entry
from srchain.plan.srv6 import NODE_ENCAP, PROXY_SRV6_SID, TAIL_SEGMENT

SPEC = EXAMPLES / "srv6-switch.yaml"
INV = EXAMPLES / "inventory-srv6-switch.yaml"
GOLDEN = Path(__file__).parent / "golden" / "srv6-switch.plan.json"
S1_LOCATOR = "fcbb:bb00:10::/48"


def plan_of(spec: Path, state: Path) -> Plan:
    return plan_file(spec, state, INV)


def sid(plan: Plan, segment: str, instance: str | None = None) -> str:
    value = next(s.sid for s in plan.sids if s.segment == segment and s.instance == (instance or segment))
    assert isinstance(value, str)
    return value


def rows(plan: Plan, table: str, target: str = "s1") -> list[Entry]:
    return [e for e in plan.entries if e.table == table and e.target == target]


def test_srv6_switch_plan_is_exactly_the_reviewed_one(tmp_path: Path) -> None:
    assert plan_of(SPEC, tmp_path).to_json() == json.loads(GOLDEN.read_text())


def test_module_sids_live_on_the_switch_locator_keyed_by_their_function(tmp_path: Path) -> None:
    plan = plan_of(SPEC, tmp_path)
    features, prio = sid(plan, "features"), sid(plan, "priority")
    assert (features, prio) == ("fcbb:bb00:10:100::", "fcbb:bb00:10:101::")
    assert {(s.segment, s.target_kind, s.target, s.behaviour) for s in plan.sids if s.target_kind == "switch"} == {
        ("features", "switch", "s1", "p4:flow-features"), ("priority", "switch", "s1", "p4:priority")}
    local = {e.key["dst_addr"]: (e.action, e.params, e.role) for e in rows(plan, S6.LOCAL_SID)}
    assert local == {
        features: ("SwitchIngress.srv6.end_flow_features", {"sid": 0x100, "report_every": 16}, "local_sid"),
        prio: ("SwitchIngress.srv6.end_priority", {"sid": 0x101}, "local_sid"),
    }
    assert all(ipaddress.IPv6Address(a) in ipaddress.IPv6Network(S1_LOCATOR) for a in local)
    # the priority module's queue map is keyed by the same key; its decision group as on SR-MPLS
    assert {(e.key["sid"], e.key["class_id"]): e.params["qid"] for e in rows(plan, T.QUEUE_MAP)} == {
        (0x101, 1): 7, (0x101, 2): 5}
    assert [e.key for e in rows(plan, T.PRE_MGID) if e.role == "decision_group"] == [{"$MGID": T.DECISION_GROUP}]


def test_segment_lists_and_the_locator_routes_they_need(tmp_path: Path) -> None:
    plan = plan_of(SPEC, tmp_path)
    features, nat, prio = (sid(plan, n) for n in ("features", "nat", "priority"))
    tail = sid(plan, TAIL_SEGMENT, "tail")
    fmt, agg = sid(plan, "formatter"), sid(plan, "aggregator")
    assert {s.path: s.labels for s in plan.stacks} == {"data": [features, nat, prio, tail],
                                                       "reports:features": [fmt, agg, prio, tail]}
    (encap,) = [e for e in plan.entries if e.table == NODE_ENCAP]
    assert encap.target == "head" and encap.params["segments"] == [features, nat, prio, tail]
    # s1 routes every other node's locator the lists reach through it, unversioned (shared by chains)
    routes = {(e.key["dst_addr"]["value"], e.key["dst_addr"]["prefix_len"]): (e.params, e.role, e.version)
              for e in rows(plan, S6.SID_FORWARD)}
    assert routes == {
        ("fcbb:bb00:2::", 48): ({"port": 2, "dst_mac": "02:00:00:00:60:01"}, "locator_route", None),  # px1
        ("fcbb:bb00:3::", 48): ({"port": 3, "dst_mac": "02:00:00:00:60:02"}, "locator_route", None),  # px2
        ("fcbb:bb00:9::", 48): ({"port": 4, "dst_mac": "02:00:00:00:70:09"}, "locator_route", None),  # tail
    }
    # the NAT's End.AS restores the rest of the data path: the priority SID, then the tail
    (nat_entry,) = [e for e in plan.entries if e.table == PROXY_SRV6_SID and e.key["sid"] == nat]
    assert nat_entry.params["segments"] == [[prio, tail]]


def test_reports_leave_h_encapsulated_toward_the_report_path(tmp_path: Path) -> None:
    plan = plan_of(SPEC, tmp_path)
    fmt, agg, prio, tail = sid(plan, "formatter"), sid(plan, "aggregator"), sid(plan, "priority"), sid(
        plan, TAIL_SEGMENT, "tail")
    (encap,) = rows(plan, S6.REPORT_ENCAP)
    assert (encap.key, encap.action, encap.role, encap.flips) == (
        {"sid": 0x100, "lb_bucket": {"value": 0, "mask": 0}}, "SwitchEgress.report.encaps_4", "report_encap", True)
    assert encap.params == {"hop_limit": 64, "src_mac": "02:00:00:00:01:03", "dst_mac": "02:00:00:00:60:02",
                            "src_addr": "fcbb:bb00:10::1", "sid_0": fmt, "sid_1": agg, "sid_2": prio, "sid_3": tail}
    (session,) = rows(plan, T.REPORT_SESSION)
    assert session.params == {"group": T.REPORT_GROUP_BASE + 3}
    (mirror,) = rows(plan, T.MIRROR_CFG)
    assert mirror.params["$max_pkt_len"] == S6.REPORT_TRUNCATE == 227 and mirror.params["$ucast_egress_port"] == 3
    # the formatter's End.AS rebuilds the rest of the report path (a report VNF restores the report path)
    (fmt_entry,) = [e for e in plan.entries if e.table == PROXY_SRV6_SID and e.key["sid"] == fmt]
    assert fmt_entry.params["segments"] == [[agg, prio, tail]]
    (addresses,) = rows(plan, T.REPORT_ADDRESSES)
    assert addresses.params == {"switch_id": 1, "src_addr": "10.255.0.1", "dst_addr": "10.255.0.2"}


def test_a_switch_head_end_encapsulates_from_its_locator(tmp_path: Path) -> None:
    udp = "match: {dst: 10.0.2.0/24, protocol: udp}"  # a switch head end matches the 5-tuple
    spec = write_variant(tmp_path, "switch-head", {"  node: head": "  switch: s1", "match: {dst: 10.0.2.0/24}": udp},
                         base=SPEC)
    plan = plan_of(spec, tmp_path / "state")
    features, nat, prio = (sid(plan, n) for n in ("features", "nat", "priority"))
    tail = sid(plan, TAIL_SEGMENT, "tail")
    assert not [e for e in plan.entries if e.table == NODE_ENCAP], "no Linux head end"
    (cls,) = rows(plan, S6.CLASSIFIER)
    assert (cls.action, cls.role, cls.version) == ("SwitchIngress.classifier.encaps_4", "classifier", 1)
    assert cls.params == {"hop_limit": 64, "src_addr": "fcbb:bb00:10::1", "sid_0": features, "sid_1": nat,
                          "sid_2": prio, "sid_3": tail}
    assert cls.key["$MATCH_PRIORITY"] == T.MATCH_PRIORITY_MAX - 100
    assert cls.key["dst_addr"] == {"value": "10.0.2.0", "mask": "255.255.255.0"}
    assert cls.key["protocol"] == {"value": 17, "mask": 0xFF}
    # the same SIDs as with the Linux head end: a module SID depends on (switch, module) only
    assert (features, prio) == ("fcbb:bb00:10:100::", "fcbb:bb00:10:101::")


def test_changed_queues_modify_in_place_and_a_new_vnf_is_make_before_break(tmp_path: Path) -> None:
    old = plan_of(SPEC, tmp_path)
    queues = plan_of(write_variant(tmp_path, "queues", {"{1: 7, 2: 5}": "{1: 6, 2: 5}"}, base=SPEC), tmp_path)
    ops = diff(queues.entries, old.entries)
    changed = {(o.op, o.entry.table, o.entry.role) for o in ops}
    assert ("modify", T.QUEUE_MAP, "queue_map") in changed and ("add", "tf1.tm.queue.sched_cfg", "tm_queue") in changed
    assert sid(queues, "priority") == sid(old, "priority"), "the module keeps its SID (and its key)"
    # the NAT becomes End.AD: a new SID (the behaviour is in its context), installed first; the head end flips to
    # the new list; the old SID goes at cleanup; s1's module SIDs and locator routes stay as they are
    dyn = plan_of(write_variant(tmp_path, "dyn", {"proxy: px1, behaviour: static": "proxy: px1, behaviour: dynamic"},
                                base=SPEC), tmp_path)
    assert sid(dyn, "nat") != sid(old, "nat") and sid(dyn, "priority") == sid(old, "priority")
    assert [(o.phase, o.op, o.entry.target, o.entry.table) for o in diff(dyn.entries, old.entries)] == [
        ("install", "add", "px1", PROXY_SRV6_SID), ("flip", "modify", "head", NODE_ENCAP),
        ("cleanup", "delete", "px1", PROXY_SRV6_SID)]


def test_a_linux_end_in_the_middle_is_a_node_segment(tmp_path: Path) -> None:
    """`{name, node}`: an End on a Linux SRv6 node wired to s1 (issue 19's scenario 3): its SID on the node's
    locator, a seg6local End entry on the node, s1 routes its locator; it needs no switch row of its own."""
    inv = tmp_path / "inventory.yaml"
    inv.write_text(INV.read_text().replace(
        "srv6_nodes:\n",
        'srv6_nodes:\n  - {name: mid, locator: "fcbb:bb00:5::/48", address: "fcbb:bb00:5::1", interface: mid-s1, '
        'mac: "02:00:00:00:70:05"}\n').replace(
        "      - {port: 4, mac: \"02:00:00:00:01:04\", peer: {srv6_node: tail}}\n",
        "      - {port: 4, mac: \"02:00:00:00:01:04\", peer: {srv6_node: tail}}\n"
        "      - {port: 5, mac: \"02:00:00:00:01:05\", peer: {srv6_node: mid}}\n"))
    spec = tmp_path / "mid.yaml"
    spec.write_text("chain: mid\ndataplane: srv6\nsrv6: {tail: tail, next_hop: 10.0.2.1}\nmsd: 4\n"
                    "classifier: {node: head, rules: [{name: web, match: {dst: 10.0.2.0/24}}]}\n"
                    "segments:\n  - {name: prio, switch: s1, module: priority}\n  - {name: mid, node: mid}\n"
                    "  - {name: nat, vnf: nat, proxy: px1, behaviour: static}\n")
    plan = plan_file(spec, tmp_path / "state", inv)
    prio, mid, nat = (sid(plan, n) for n in ("prio", "mid", "nat"))
    tail = sid(plan, TAIL_SEGMENT, "tail")
    assert mid == "fcbb:bb00:5:100::"
    assert next(s for s in plan.sids if s.segment == "mid").behaviour == "node:end"
    assert {s.path: s.labels for s in plan.stacks} == {"data": [prio, mid, nat, tail]}
    (end,) = [e for e in plan.entries if e.target == "mid"]
    assert (end.table, end.key, end.action, end.params, end.role) == (
        "seg6local", {"sid": mid}, "end", {"dev": "mid-s1"}, "end_sid")
    routes = {e.key["dst_addr"]["value"]: e.params["port"] for e in rows(plan, S6.SID_FORWARD)}  # type: ignore[index]
    assert routes == {"fcbb:bb00:5::": 5, "fcbb:bb00:2::": 2, "fcbb:bb00:9::": 4}
    (nat_entry,) = [e for e in plan.entries if e.table == PROXY_SRV6_SID]
    assert nat_entry.params["segments"] == [[tail]]


def test_h_encaps_red_on_a_switch_and_on_a_linux_head_end(tmp_path: Path) -> None:
    """`srv6.encap: encap.red` (RFC 8986 H.Encaps.Red): the switch head end's classifier takes encaps_red_<n> with
    the same data, a Linux head end's route `mode encap.red`; the default keeps the spec's digest."""
    red = {"srv6: {tail: tail, decap: end.dx4, next_hop: 10.0.2.1}":
           "srv6: {tail: tail, decap: end.dx4, next_hop: 10.0.2.1, encap: encap.red}"}
    plain = plan_of(SPEC, tmp_path / "plain")
    linux = plan_of(write_variant(tmp_path, "red", red, base=SPEC), tmp_path / "linux")
    assert linux.spec_digest != plain.spec_digest
    (encap,) = [e for e in linux.entries if e.table == NODE_ENCAP]
    assert encap.params["mode"] == "encap.red" and "mode" not in next(
        e for e in plain.entries if e.table == NODE_ENCAP).params
    assert ip_args(encap)[1][:8] == ["route", "add", "10.0.2.0/24", "encap", "seg6", "mode", "encap.red", "segs"]
    udp = "match: {dst: 10.0.2.0/24, protocol: udp}"
    switch = plan_of(write_variant(tmp_path, "red-switch", {**red, "  node: head": "  switch: s1",
                                                            "match: {dst: 10.0.2.0/24}": udp}, base=SPEC),
                     tmp_path / "switch")
    (cls,) = rows(switch, S6.CLASSIFIER)
    assert cls.action == "SwitchIngress.classifier.encaps_red_4" and set(cls.params) == {
        "hop_limit", "src_addr", "sid_0", "sid_1", "sid_2", "sid_3"}
