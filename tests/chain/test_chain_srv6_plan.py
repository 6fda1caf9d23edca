"""The plan of an SRv6 chain: SIDs on the locators, the head end's segment lists, the proxies' Srv6SidEntry
(accepted by the proxy's engine, and consistent with the head end's lists on real frames), hitless day-2
changes in make-before-break order, the CLI, the node entries as iproute2 commands."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest
from chainlib import EXAMPLES, write_variant
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrSegmentRouting
from scapy.layers.l2 import Ether

from srchain.model import load_chain
from srchain.plan import Plan, PlanError, build_plan
from srchain.plan.model import Entry
from srchain.plan.srv6 import NODE_ENCAP, NODE_LOCAL, PROXY_SRV6_SID, TAIL_SEGMENT
from srchain.sidstore import SidStore
from srchain_proxy import srv6
from srchain_proxy.config import Attachment, Srv6SidEntry
from srchain_proxy.engine import HEADROOM, Engine

SPEC = EXAMPLES / "srv6-services.yaml"
INV = EXAMPLES / "inventory-srv6.yaml"
SR_MAC, SW_MAC, VNF_IF_MAC, VNF_MAC = "02:00:00:00:0a:01", "02:00:00:00:0a:02", "02:00:00:00:0b:01", "02:00:00:00:0b:02"


def plan_of(spec: Path, state: Path) -> Plan:
    with SidStore(state) as store:
        return build_plan(load_chain(spec, INV), store)


def sid(plan: Plan, segment: str, instance: str | None = None) -> str:
    value = next(s.sid for s in plan.sids if s.segment == segment and s.instance == (instance or segment))
    assert isinstance(value, str)
    return value


def table(plan: Plan, name: str) -> list[Entry]:
    return [e for e in plan.entries if e.table == name]


def test_sids_are_functions_of_their_nodes_locators(tmp_path: Path) -> None:
    plan = plan_of(SPEC, tmp_path)
    locators = {"px1": "fcbb:bb00:2::/48", "px2": "fcbb:bb00:3::/48", "tail": "fcbb:bb00:9::/48"}
    for s in plan.sids:
        assert ipaddress.IPv6Address(s.sid) in ipaddress.IPv6Network(locators[s.target]), s
    assert [sid(plan, "nat"), sid(plan, "firewall", "fw-a"), sid(plan, "firewall", "fw-b")] == [
        "fcbb:bb00:2:100::", "fcbb:bb00:2:101::", "fcbb:bb00:2:102::"], "fresh chain: functions in chain order"
    assert sid(plan, TAIL_SEGMENT, "tail") == "fcbb:bb00:9:100::"
    assert {s.behaviour for s in plan.sids} == {"proxy:end.as", "proxy:end.ad", "proxy:end.am", "node:end.dx4"}


def test_segment_lists_per_bucket_end_at_the_tail(tmp_path: Path) -> None:
    plan = plan_of(SPEC, tmp_path)
    nat, ids, tail = sid(plan, "nat"), sid(plan, "ids"), sid(plan, TAIL_SEGMENT, "tail")
    fw = [sid(plan, "firewall", "fw-a"), sid(plan, "firewall", "fw-b")]
    assert plan.lb_buckets == 2
    assert {tuple(s.buckets): s.labels for s in plan.stacks} == {(b,): [nat, fw[b], ids, tail] for b in (0, 1)}
    encaps = table(plan, NODE_ENCAP)
    assert {(e.target, e.key["lb_bucket"]["value"], e.key["lb_bucket"]["mask"]) for e in encaps} == {
        ("head", 0, 1), ("head", 1, 1)}
    for e in encaps:
        b = e.key["lb_bucket"]["value"]
        assert e.action == "h.encaps" and e.role == "classifier" and e.flips
        assert e.params == {"match": {"dst": "10.0.2.0/24", "protocol": 6, "dst_port": 443}, "priority": 200,
                            "source": "fcbb:bb00:1::1", "segments": [nat, fw[b], ids, tail], "dev": "head-sr"}
    (decap,) = table(plan, NODE_LOCAL)
    assert (decap.target, decap.key, decap.action, decap.params) == (
        "tail", {"sid": tail}, "end.dx4", {"nh4": "10.0.2.1", "dev": "tail-sr"})


def test_proxy_entries_are_what_the_proxy_takes(tmp_path: Path) -> None:
    plan = plan_of(SPEC, tmp_path)
    nat, ids, tail = sid(plan, "nat"), sid(plan, "ids"), sid(plan, TAIL_SEGMENT, "tail")
    fw = [sid(plan, "firewall", "fw-a"), sid(plan, "firewall", "fw-b")]
    entries = {e.key["sid"]: e for e in table(plan, PROXY_SRV6_SID)}
    assert {k: (e.target, e.action) for k, e in entries.items()} == {
        nat: ("px1", "end.as"), fw[0]: ("px1", "end.ad"), fw[1]: ("px1", "end.ad"), ids: ("px2", "end.am")}
    # End.AS restores one segment list per downstream path: the firewall instance, then what follows
    assert entries[nat].params == {"vnf": "nat", "source": nat, "segments": [[fw[0], ids, tail], [fw[1], ids, tail]],
                                   "hop_limit": 64}
    assert entries[fw[0]].params == {"vnf": "fw-a", "cache_key": "flow", "return_match": "same",
                                     "cache_size": 100000, "idle_timeout_s": 120}
    for e in entries.values():  # the proxy's own contract reads each entry back unchanged
        assert isinstance(e.key["sid"], str)
        wire = Srv6SidEntry(sid=e.key["sid"], behaviour=e.action, version=e.version, **e.params)
        assert wire.params() == e.params


def _px1_engine(plan: Plan) -> Engine:
    eng = Engine(SR_MAC, SW_MAC)
    atts = [(Attachment(vnf=e.key["vnf"], **e.params), VNF_IF_MAC, VNF_MAC)
            for e in plan.entries_of("proxy", "px1") if e.table == "attachment"]
    tables = eng.build([], atts)
    srv6.build(eng, tables, [Srv6SidEntry(sid=e.key["sid"], behaviour=e.action, version=e.version, **e.params)
                             for e in plan.entries_of("proxy", "px1") if e.table == PROXY_SRV6_SID])
    eng.install(tables)
    return eng


def test_the_head_ends_packet_through_the_planned_proxy(tmp_path: Path) -> None:
    """The head end's bucket-0 packet into px1's engine, built from the plan: End.AS hands the inner packet
    to the NAT; the NAT's reply leaves with one of the planned restore lists, DA = a firewall's End.AD SID;
    End.AD then hands it to that firewall."""
    plan = plan_of(SPEC, tmp_path)
    eng = _px1_engine(plan)
    segments = next(e.params["segments"] for e in table(plan, NODE_ENCAP) if e.key["lb_bucket"]["value"] == 0)
    assert isinstance(segments, list)
    inner = IP(src="10.0.1.5", dst="10.0.2.7") / UDP(sport=4000, dport=443) / b"hello"
    pkt = IPv6(src="fcbb:bb00:1::1", dst=segments[0], hlim=64) / IPv6ExtHdrSegmentRouting(
        addresses=list(reversed(segments)), segleft=len(segments) - 1, nh=4) / inner
    buf = bytearray(bytes(Ether(dst=SR_MAC, src=SW_MAC) / pkt))
    att = eng.from_sr(buf, 0, len(buf), 0.0)
    assert att is not None and att.vnf == "nat"
    assert bytes(Ether(bytes(buf[eng.ostart:eng.oend])).payload) == bytes(inner)
    back = bytearray(HEADROOM) + bytearray(bytes(Ether(dst=VNF_IF_MAC, src=VNF_MAC) / inner))
    assert eng.srv6.from_vnf(eng, eng.atts["nat"], back, HEADROOM, len(back), 0.0) is True
    out = Ether(bytes(back[eng.ostart:eng.oend]))
    restore = next(e.params["segments"] for e in table(plan, PROXY_SRV6_SID) if e.action == "end.as")
    assert isinstance(restore, list)
    travel = list(reversed(out[IPv6ExtHdrSegmentRouting].addresses))
    assert travel in restore and out[IPv6].dst == travel[0] and out[IPv6].src == sid(plan, "nat")
    again = bytearray(bytes(out))
    fw = eng.from_sr(again, 0, len(again), 0.1)
    assert fw is not None and fw.vnf in ("fw-a", "fw-b") and travel[0] == sid(plan, "firewall", fw.vnf)
    assert not any(eng.drops.values()), {k: v for k, v in eng.drops.items() if v}


RED = {"srv6: {tail: tail, decap: end.dx4, next_hop: 10.0.2.1}":
       "srv6: {tail: tail, decap: end.dx4, next_hop: 10.0.2.1, encap: encap.red}"}


def test_encap_red_onto_a_proxy_end_as_is_planned_and_the_proxy_takes_the_reduced_srh(tmp_path: Path) -> None:
    """srv6.encap: encap.red with End.AS (nat) first: planned (the head end's route `mode encap.red`); the
    reduced SRH Linux writes (the first SID only in the DA, Segments Left = Last Entry + 1) goes through px1's
    engine built from the plan: the NAT gets the inner packet, nothing is dropped."""
    plan = plan_of(write_variant(tmp_path, "red", RED, base=SPEC), tmp_path / "state")
    encaps = table(plan, NODE_ENCAP)
    assert {e.params["mode"] for e in encaps} == {"encap.red"}
    segments = next(e.params["segments"] for e in encaps if e.key["lb_bucket"]["value"] == 0)
    assert isinstance(segments, list) and segments[0] == sid(plan, "nat")
    inner = IP(src="10.0.1.5", dst="10.0.2.7") / UDP(sport=4000, dport=443) / b"hello"
    pkt = IPv6(src="fcbb:bb00:1::1", dst=segments[0], hlim=64) / IPv6ExtHdrSegmentRouting(
        addresses=list(reversed(segments[1:])), segleft=len(segments) - 1, nh=4) / inner
    eng = _px1_engine(plan)
    buf = bytearray(bytes(Ether(dst=SR_MAC, src=SW_MAC) / pkt))
    assert buf[14 + 40 + 3] == buf[14 + 40 + 4] + 1  # SL = Last Entry + 1
    att = eng.from_sr(buf, 0, len(buf), 0.0)
    assert att is not None and att.vnf == "nat"
    assert bytes(Ether(bytes(buf[eng.ostart:eng.oend])).payload) == bytes(inner)
    assert not any(eng.drops.values()), {k: v for k, v in eng.drops.items() if v}


def test_encap_red_onto_a_proxy_end_am_is_refused_by_name(tmp_path: Path) -> None:
    spec = write_variant(tmp_path, "red-am", {**RED, "behaviour: static}": "behaviour: masquerading}"}, base=SPEC)
    with pytest.raises(PlanError, match=r"chain 'srv6-services': srv6.encap encap.red: the first segment 'nat' is "
                                        r"an End.AM SID of proxy 'px1', which refuses a reduced SRH \(Segments Left = "
                                        r"Last Entry \+ 1 on arrival: srv6_am_reduced_srh\); put another segment "
                                        r"first, or use encap$"):
        plan_of(spec, tmp_path / "state")
    # the same chain with H.Encaps is planned
    plan_of(write_variant(tmp_path, "am", {"behaviour: static}": "behaviour: masquerading}"}, base=SPEC),
            tmp_path / "state2")


def test_replanning_keeps_sids_and_version(tmp_path: Path) -> None:
    first, again = plan_of(SPEC, tmp_path), plan_of(SPEC, tmp_path)
    assert again.to_json() == first.to_json()


def test_changed_cache_settings_modify_the_end_ad_entries_in_place(tmp_path: Path) -> None:
    first = plan_of(SPEC, tmp_path)
    changed = write_variant(tmp_path, "idle", {"idle_timeout_s: 120": "idle_timeout_s: 60"}, base=SPEC)
    second = plan_of(changed, tmp_path)
    assert second.version == first.version + 1
    assert [s.sid for s in second.sids] == [s.sid for s in first.sids], "contexts unchanged: the same SIDs"
    from srchain.plan import diff

    ops = [(o.phase, o.op, o.entry.target, o.entry.action) for o in diff(second.entries, first.entries)]
    assert ops == [("install", "modify", "px1", "end.ad")] * 2


def test_removing_a_segment_is_make_before_break(tmp_path: Path) -> None:
    """Without the IDS the paths behind NAT and the firewalls change: they get new SIDs, installed before
    the head end flips; the old ones (and the IDS's) go in cleanup, after the drain."""
    first = plan_of(SPEC, tmp_path)
    spec = write_variant(tmp_path, "no-ids", {"  - {name: ids, vnf: ids, proxy: px2, behaviour: masquerading}\n": ""},
                         base=SPEC)
    second = plan_of(spec, tmp_path)
    assert sid(second, "nat") not in {s.sid for s in first.sids}
    assert sid(second, TAIL_SEGMENT, "tail") == sid(first, TAIL_SEGMENT, "tail"), "the tail's context is unchanged"
    from srchain.plan import diff

    ops = diff(second.entries, first.entries)
    phases = [o.phase for o in ops]
    assert phases == sorted(phases, key=["install", "flip", "cleanup"].index)
    install = [(o.op, o.entry.target, o.entry.table) for o in ops if o.phase == "install"]
    assert install == [("add", "px1", PROXY_SRV6_SID)] * 3
    flip = [(o.op, o.entry.target, o.entry.table) for o in ops if o.phase == "flip"]
    assert flip == [("modify", "head", NODE_ENCAP)] * 2
    cleanup = {(o.op, o.entry.target, o.entry.table, o.entry.action) for o in ops if o.phase == "cleanup"}
    assert cleanup == {("delete", "px1", PROXY_SRV6_SID, "end.as"), ("delete", "px1", PROXY_SRV6_SID, "end.ad"),
                       ("delete", "px2", PROXY_SRV6_SID, "end.am"), ("delete", "px2", "attachment", "attach")}


def test_cli_plans_an_srv6_chain(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "srchain.cli", "chain", "plan", str(SPEC), "-i", str(INV),
                               "--state-dir", str(tmp_path / "state"), *args], capture_output=True, text=True)

    doc = run("--json")
    assert doc.returncode == 0, doc.stderr
    assert {(t["kind"], t["name"]) for t in json.loads(doc.stdout)["targets"]} == {
        ("node", "head"), ("node", "tail"), ("proxy", "px1"), ("proxy", "px2")}
    human = run()
    assert human.returncode == 0 and "Segment lists (travel order" in human.stdout
    assert "fcbb:bb00:2:100::" in human.stdout, "addresses print as they are (no emoji codes)"


def test_node_entries_as_iproute2_commands(tmp_path: Path) -> None:
    """What a Linux head end and tail run (the netns test runs them: tests/proxy/test_srv6_plan_netns.py);
    what has no iproute2 form yet is refused by name."""
    from srchain.plan.iproute2 import NotRendered, ip_args

    plan = plan_of(SPEC, tmp_path)
    (decap,) = table(plan, NODE_LOCAL)
    assert ip_args(decap) == [["-6", "route", "add", f"{decap.key['sid']}/128", "encap", "seg6local", "action",
                               "End.DX4", "nh4", "10.0.2.1", "count", "dev", "tail-sr"]]
    encap = table(plan, NODE_ENCAP)[0]
    with pytest.raises(NotRendered, match=r"node head: .* a match on dst_port, protocol needs policy routing"):
        ip_args(encap)
    whole = {"rule": "web", "lb_bucket": {"value": 0, "mask": 0}}  # one bucket: a plain route
    dst_params = {**encap.params, "match": {"dst": "10.0.2.0/24"}}
    dst_only = Entry(encap.target_kind, encap.target, encap.table, whole, encap.action, dst_params, encap.role,
                     encap.version)
    assert ip_args(dst_only) == [["sr", "tunsrc", "set", "fcbb:bb00:1::1"],
                                 ["route", "add", "10.0.2.0/24", "encap", "seg6", "mode", "encap", "segs",
                                  ",".join(encap.params["segments"]), "dev", "head-sr"]]
    assert ip_args(dst_only, replace=True)[1][:2] == ["route", "replace"]  # a modify of the chain's own route
    bucketed = Entry(encap.target_kind, encap.target, encap.table, encap.key, encap.action, dst_only.params,
                     encap.role, encap.version)
    with pytest.raises(NotRendered, match="load-balancing buckets"):
        ip_args(bucketed)
    no_dev = Entry(decap.target_kind, decap.target, decap.table, decap.key, decap.action, {"nh4": "10.0.2.1"},
                   decap.role, decap.version)
    with pytest.raises(NotRendered, match=r"no device \(inventory srv6_nodes\[\].interface\)"):
        ip_args(no_dev)


def test_apply_refuses_what_a_linux_head_end_cannot_do_before_anything_happens(tmp_path: Path) -> None:
    """The example's head end matches on protocol and port and load-balances over two buckets: no plain
    route does that. Apply says so before it allocates or writes anything (no target is contacted)."""
    from srchain.chains import ChainService
    from srchain.plan import PlanError

    service = ChainService(INV, tmp_path)
    with pytest.raises(PlanError, match=r"srv6-services.yaml: chain 'srv6-services': cannot apply: node head: .*"
                                        r"a match on dst_port, protocol needs policy routing"):
        service.apply(service.load(SPEC))
    with SidStore(tmp_path) as store:
        assert store.srv6_sids() == [] and store.sids() == []
