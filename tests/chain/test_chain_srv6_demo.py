"""The reference chain over SRv6 (examples/cloud-gaming-srv6.yaml on examples/inventory-demo-srv6.yaml): what the
P4 srv6 profile's limits make of it, planned. s1 parses at most 4 segments and runs one local SID per pass, so the
data path has a Linux End between s1's two module SIDs, and s1 pushes a report only up to the first End.AS SID
and the segment after it (that proxy writes the rest); a longer list without an End.AS to cut at is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from chainlib import EXAMPLES, plan_file, write_variant

from srchain.plan import Plan, PlanError
from srchain.plan import srv6switch as S6
from srchain.plan.model import Entry
from srchain.plan.srv6 import NODE_LOCAL, PROXY_SRV6_SID, TAIL_SEGMENT

SPEC = EXAMPLES / "cloud-gaming-srv6.yaml"
INV = EXAMPLES / "inventory-demo-srv6.yaml"


def plan_of(spec: Path, state: Path) -> Plan:
    return plan_file(spec, state, INV)


def sid(plan: Plan, segment: str, instance: str | None = None) -> str:
    value = next(s.sid for s in plan.sids if s.segment == segment and s.instance == (instance or segment))
    assert isinstance(value, str)
    return value


def rows(plan: Plan, table: str) -> list[Entry]:
    return [e for e in plan.entries if e.table == table]


def sids_of(entry: Entry) -> list[str]:
    return [str(entry.params[f"sid_{i}"]) for i in range(4) if f"sid_{i}" in entry.params]


def test_data_path_runs_features_then_a_linux_end_then_priority_then_the_tail(tmp_path: Path) -> None:
    plan = plan_of(SPEC, tmp_path)
    data = [sid(plan, "features"), sid(plan, "mid"), sid(plan, "priority"), sid(plan, TAIL_SEGMENT, "tail")]
    rules = rows(plan, S6.CLASSIFIER)
    assert len(rules) == 2 and {r.action for r in rules} == {"SwitchIngress.classifier.encaps_4"}
    assert all(sids_of(r) == data for r in rules)
    routes = {e.key["dst_addr"]["value"]: e.params["port"] for e in rows(plan, S6.SID_FORWARD)}  # type: ignore[index]
    assert routes == {"fcbb:bb00:4::": 5, "fcbb:bb00:2::": 4, "fcbb:bb00:9::": 2}  # m, px1, t (the shaped port)
    nodes = {(e.target, e.action): e.params for e in rows(plan, NODE_LOCAL)}
    assert nodes == {("mid", "end"): {"dev": "m-s1"}, ("tail", "end.dx4"): {"nh4": "10.0.2.10", "dev": "t-s1"}}


def test_reports_are_pushed_up_to_the_formatters_end_as_which_writes_the_rest(tmp_path: Path) -> None:
    plan = plan_of(SPEC, tmp_path)
    fmt, agg, prio, tail = (sid(plan, "formatter"), sid(plan, "aggregator"), sid(plan, "priority"),
                            sid(plan, TAIL_SEGMENT, "tail"))
    classifiers = [sid(plan, "classifier", "classifier-a"), sid(plan, "classifier", "classifier-b")]
    stacks = [s.labels for s in plan.stacks if s.path == "reports:features"]
    assert stacks == [[fmt, c, agg, prio, tail] for c in classifiers]  # the logical path: 5 segments
    encaps = sorted(rows(plan, S6.REPORT_ENCAP), key=lambda e: e.key["lb_bucket"]["value"])  # type: ignore[index]
    assert [e.action for e in encaps] == ["SwitchEgress.report.encaps_2"] * 2
    assert [sids_of(e) for e in encaps] == [[fmt, c] for c in classifiers]  # what s1 pushes: 2 of the 5
    proxy = {e.key["sid"]: e.params for e in rows(plan, PROXY_SRV6_SID)}
    assert proxy[fmt]["segments"] == [[c, agg, prio, tail] for c in classifiers]  # 4: s1 parses them
    assert all(proxy[c]["segments"] == [[agg, prio, tail]] for c in classifiers)
    assert proxy[agg]["segments"] == [[prio, tail]]


def test_plain_ipv4_is_routed_to_the_hosts_on_s1s_ports(tmp_path: Path) -> None:
    """The client's upstream (no rule classifies it) is plain IPv4 through s1: /32 routes, as on SR-MPLS."""
    routes = {(e.key["dst_addr"]["value"], e.params["port"], e.params["dst_mac"], e.role)  # type: ignore[index]
              for e in rows(plan_of(SPEC, tmp_path), "SwitchIngress.ipv4.routes")}
    assert routes == {("10.0.1.10", 1, "02:00:00:00:10:01", "route"), ("10.0.3.10", 3, "02:00:00:00:30:01", "route")}


def test_without_the_linux_end_two_module_sids_in_a_row_are_refused(tmp_path: Path) -> None:
    spec = write_variant(tmp_path, "no-mid", {"  - {name: mid, node: mid}\n": ""}, base=SPEC)
    with pytest.raises(PlanError, match=r"chain 'cloud-gaming-srv6': the data path runs two SIDs in a row on switch "
                                        r"'s1' \(fcbb:bb00:10:100:: then fcbb:bb00:10:101::\); the P4 srv6 profile "
                                        r"runs one local SID per pass"):
        plan_of(spec, tmp_path / "state")


def test_the_cut_is_at_the_first_end_as_wherever_it_is(tmp_path: Path) -> None:
    """The formatter behind End.AD (it keeps the SRH): s1 pushes up to the classifier's End.AS and one more."""
    spec = write_variant(tmp_path, "fmt-ad", {"vnf: formatter\n    proxy: px1\n    behaviour: static":
                                              "vnf: formatter\n    proxy: px1\n    behaviour: dynamic"}, base=SPEC)
    plan = plan_of(spec, tmp_path / "state")
    fmt, agg = sid(plan, "formatter"), sid(plan, "aggregator")
    encaps = sorted(rows(plan, S6.REPORT_ENCAP), key=lambda e: e.key["lb_bucket"]["value"])  # type: ignore[index]
    assert [sids_of(e) for e in encaps] == [[fmt, sid(plan, "classifier", c), agg]
                                            for c in ("classifier-a", "classifier-b")]


def test_a_list_too_long_for_s1_with_no_end_as_to_cut_at_is_refused(tmp_path: Path) -> None:
    """Every report VNF behind End.AD (which keeps the SRH): the report's 5 segments would cross s1 as pushed.
    With any one of them End.AS, the push is cut there."""
    spec = write_variant(tmp_path, "ad", {"behaviour: static": "behaviour: dynamic"}, base=SPEC)
    with pytest.raises(PlanError, match=r"chain 'cloud-gaming-srv6': the report path of 'features' has a segment "
                                        r"list of 5 segments and crosses switch 's1', whose P4 srv6 profile parses "
                                        r"at most 4 \(SRV6_MAX_SEGS\); shorten the chain$"):
        plan_of(spec, tmp_path / "state")
