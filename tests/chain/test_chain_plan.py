"""The plan of the reference chain, exactly; and the diffs of day-2 changes in make-before-break order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from chainlib import EXAMPLES, INVENTORY, REFERENCE, ops, plan_file, sid_of, write_variant

from srchain.model import load_chain
from srchain.plan import Plan, PlanError, build_plan, diff
from srchain.plan import tables as T
from srchain.plan.model import DiffOp, Entry, entries_from_state
from srchain.sidstore import SidStore

GOLDEN = Path(__file__).parent / "golden" / "cloud-gaming.plan.json"
GOLDEN_SRV6 = Path(__file__).parent / "golden" / "srv6-services.plan.json"
MITIGATION = EXAMPLES / "cloud-gaming-mitigation.yaml"
FORMATTER = "  - name: formatter\n    vnf: formatter\n    proxy: px1\n    behaviour: static\n    traffic: reports\n"


def test_reference_plan_is_exactly_the_reviewed_one(tmp_path: Path) -> None:
    assert plan_file(REFERENCE, tmp_path).to_json() == json.loads(GOLDEN.read_text())


def test_srv6_plan_is_exactly_the_reviewed_one(tmp_path: Path) -> None:
    """The SRv6 example chain (VNFs behind proxies, Linux head and tail): semantics in test_chain_srv6_plan.py."""
    plan = plan_file(EXAMPLES / "srv6-services.yaml", tmp_path, EXAMPLES / "inventory-srv6.yaml")
    assert plan.to_json() == json.loads(GOLDEN_SRV6.read_text())


def test_reference_plan_semantics(tmp_path: Path) -> None:
    plan = plan_file(REFERENCE, tmp_path)
    ff, fmt, agg, prio = (sid_of(plan, n) for n in ("features", "formatter", "aggregator", "priority"))
    cla, clb = sid_of(plan, "classifier", "classifier-a"), sid_of(plan, "classifier", "classifier-b")
    assert [ff, fmt, cla, clb, agg, prio] == list(range(16000, 16006)), "fresh chain: labels in chain order"
    assert plan.lb_buckets == 2
    stacks = {(s.path, tuple(s.buckets)): s.labels for s in plan.stacks}
    assert stacks == {
        ("data", (0, 1)): [ff, prio],
        ("reports:features", (0,)): [fmt, cla, agg, prio],
        ("reports:features", (1,)): [fmt, clb, agg, prio],
    }
    s1 = {(e.table, json.dumps(e.key, sort_keys=True)): e for e in plan.entries_of("switch", "s1")}

    def entry(table: str, **key: object) -> Entry:
        return s1[(table, json.dumps(key, sort_keys=True))]

    # local SIDs: features and priority pop on s1, in both lookups of the pass (pop_* on top, second_* below)
    for table, kind in zip(T.LOCAL_SID_TABLES, ("pop", "second"), strict=True):
        assert entry(table, label=ff).action == f"SwitchIngress.sr.{kind}_flow_features"
        assert entry(table, label=ff).params == {"sid": ff, "report_every": 32}
        assert entry(table, label=prio).params == {"sid": prio}
        assert entry(table, label=prio).action == f"SwitchIngress.sr.{kind}_priority"
    # VNF SIDs leave s1 on the proxy port with the proxy's MAC; the formatter's SID leaves by the PRE's report group
    for label in (cla, clb, agg):
        assert entry(T.SID_FORWARD, label=label).params == {"port": 4, "dst_mac": "02:00:00:00:40:01"}
    assert (T.SID_FORWARD, json.dumps({"label": fmt})) not in s1
    assert entry(T.PRE_NODE, **{"$MULTICAST_NODE_ID": 5}).params == {
        "$MULTICAST_RID": T.REPORT_RID, "$MULTICAST_LAG_ID": [], "$DEV_PORT": [4]}
    assert entry(T.PRE_MGID, **{"$MGID": 5}).params == {
        "$MULTICAST_NODE_ID": [5], "$MULTICAST_NODE_L1_XID_VALID": [False], "$MULTICAST_NODE_L1_XID": [0],
        "$MULTICAST_ECMP_ID": [], "$MULTICAST_ECMP_L1_XID_VALID": [], "$MULTICAST_ECMP_L1_XID": []}
    assert entry(T.MIRROR_CFG, **{"$sid": 5}).params == {
        "$direction": "EGRESS", "$ucast_egress_port": 4, "$ucast_egress_port_valid": True, "$session_enable": True,
        "$max_pkt_len": 1 + 14 + 4 * 8 + 20 + 8 + 72}  # the report, truncated behind its one-byte mirror header
    assert entry(T.REPORT_SESSION, sid=ff, lb_bucket={"value": 0, "mask": 0}).params == {"group": 5}
    assert entry(T.REPORT_ENCAP, sid=ff, lb_bucket={"value": 1, "mask": 1}).params == {
        "ttl": 64,
        "src_mac": "02:00:00:00:01:04",  # the switch port toward the proxy
        "dst_mac": "02:00:00:00:40:01",  # the proxy
        "label_0": fmt,
        "label_1": clb,
        "label_2": agg,
        "label_3": prio,
    }
    assert entry(T.REPORT_ADDRESSES, sid=ff).params == {
        "switch_id": 1,
        "src_addr": "10.255.0.1",
        "dst_addr": "10.255.0.2",
    }
    # classifier: higher spec priority -> lower BF Runtime $MATCH_PRIORITY
    rules = sorted((e for e in plan.entries if e.table == T.CLASSIFIER), key=lambda e: e.key["$MATCH_PRIORITY"])
    assert [r.key["src_addr"]["value"] for r in rules] == ["10.0.1.0", "10.0.2.0", "10.0.3.0"]
    assert rules[0].key["protocol"] == {"value": 17, "mask": 255}
    assert all(r.params == {"ttl": 64, "label_0": ff, "label_1": prio} for r in rules)
    # proxy: the static formatter restores one stack per downstream classifier instance
    px = {e.key.get("sid"): e for e in plan.entries_of("proxy", "px1") if e.table == T.PROXY_SID}
    assert px[fmt].params["restore"] == [[cla, agg, prio], [clb, agg, prio]]
    assert px[agg].params["restore"] == [[prio]] and px[agg].action == "static"
    assert px[cla].action == "static" and px[cla].params["restore"] == [[agg, prio]]  # the VNF sends new datagrams
    assert all(e.version == 1 for e in plan.entries if e.role in ("classifier", "proxy_sid", "local_sid"))


def test_two_switch_chain_forwards_across_the_link(tmp_path: Path) -> None:
    plan = plan_file(EXAMPLES / "two-switch.yaml", tmp_path, EXAMPLES / "inventory-two-switch.yaml")
    fmt, prio = sid_of(plan, "formatter"), sid_of(plan, "priority")
    s1 = {(e.table, e.key.get("label")): e for e in plan.entries_of("switch", "s1")}
    s2 = {(e.table, e.key.get("label")): e for e in plan.entries_of("switch", "s2")}
    assert s1[(T.SID_FORWARD, prio)].params == {"port": 8, "dst_mac": "02:00:00:00:02:08"}  # towards s2
    assert s2[(T.SID_FORWARD, fmt)].params == {"port": 4, "dst_mac": "02:00:00:00:40:01"}  # s2 -> proxy
    assert (T.LOCAL_SID_TABLES[0], prio) in s2 and (T.LOCAL_SID_TABLES[0], prio) not in s1
    node = next(e for e in plan.entries_of("switch", "s1") if e.table == T.PRE_NODE)
    assert node.params["$DEV_PORT"] == [8], "reports leave s1 towards s2"
    route = next(e for e in plan.entries_of("switch", "s2") if e.table == T.ROUTES)
    assert route.params["port"] == 8


def test_msd_refused_naming_chain_and_depth(tmp_path: Path) -> None:
    deep = write_variant(tmp_path, "deep", {"msd: 8": "msd: 3"})
    with pytest.raises(
        PlanError,
        match=r"chain 'cloud-gaming': the report path of 'features' needs a label stack "
        r"of depth 4, more than the MSD 3",
    ):
        plan_file(deep, tmp_path)


# --- diffs ----------------------------------------------------------------------------------------


def check_make_before_break(new: Plan, installed: list[Entry], ops_: list[DiffOp]) -> None:
    """Replay the diff: after `install`, every label of every new stack is installed where it is used;
    until `cleanup`, every label of the old stacks still is; at the end, state == plan."""
    state = {e.identity: e for e in installed}
    phases = [o.phase for o in ops_]
    assert phases == sorted(phases, key=["install", "flip", "cleanup"].index), "phases out of order"
    old_labels = {v for e in installed if e.flips for k, v in e.params.items() if k.startswith("label_")}

    def served(label: int) -> bool:
        return any(
            e.key.get("label") == label or e.key.get("sid") == label
            for e in state.values()
            if e.role in ("local_sid", "proxy_sid", "sid_forward")
        )

    for phase in ("install", "flip", "cleanup"):
        for op in (o for o in ops_ if o.phase == phase):
            if op.op == "delete":
                del state[op.entry.identity]
            else:
                state[op.entry.identity] = op.entry
        if phase == "install":
            assert all(served(label) for s in new.stacks for label in s.labels), "flip before the new SIDs exist"
        if phase in ("install", "flip"):
            assert all(served(label) for label in old_labels), "old SIDs gone before the drain"
    assert {i: e.content for i, e in state.items()} == {e.identity: e.content for e in new.entries}


def test_replan_against_itself_is_empty(tmp_path: Path) -> None:
    plan = plan_file(REFERENCE, tmp_path)
    assert diff(plan.entries, plan.entries) == []


def test_diff_from_nothing_installs_then_flips(tmp_path: Path) -> None:
    plan = plan_file(REFERENCE, tmp_path)
    result = diff(plan.entries, [])
    check_make_before_break(plan, [], result)
    assert {o.op for o in result} == {"add"}
    first_switch = next(i for i, o in enumerate(result) if o.entry.target_kind == "switch")
    assert all(o.entry.target_kind == "proxy" for o in result[:first_switch]), "proxies are ready first"


def test_insert_segment(tmp_path: Path) -> None:
    before = plan_file(REFERENCE, tmp_path)
    after = plan_file(MITIGATION, tmp_path)
    mit = sid_of(after, "mitigation")
    assert ops(after, before.entries) == [
        ("install", "add", "px1", T.PROXY_ATTACHMENT),
        ("install", "add", "px1", T.PROXY_SID),
        ("install", "add", "s1", T.SID_FORWARD),
        ("flip", "modify", "s1", T.CLASSIFIER),
        ("flip", "modify", "s1", T.CLASSIFIER),
        ("flip", "modify", "s1", T.CLASSIFIER),
    ]
    flips = [o for o in diff(after.entries, before.entries) if o.phase == "flip"]
    assert all(o.entry.params["label_1"] == mit for o in flips)
    check_make_before_break(after, before.entries, diff(after.entries, before.entries))
    # the report path did not change, so none of its SIDs did
    assert [s.sid for s in after.sids if s.segment != "mitigation"] == [s.sid for s in before.sids]


def test_remove_segment(tmp_path: Path) -> None:
    with_mit = plan_file(MITIGATION, tmp_path)
    without = plan_file(REFERENCE, tmp_path)
    assert without.version == with_mit.version + 1
    assert ops(without, with_mit.entries) == [
        ("flip", "modify", "s1", T.CLASSIFIER),
        ("flip", "modify", "s1", T.CLASSIFIER),
        ("flip", "modify", "s1", T.CLASSIFIER),
        ("cleanup", "delete", "s1", T.SID_FORWARD),  # switches stop sending before the proxy forgets
        ("cleanup", "delete", "px1", T.PROXY_ATTACHMENT),
        ("cleanup", "delete", "px1", T.PROXY_SID),
    ]
    check_make_before_break(without, with_mit.entries, diff(without.entries, with_mit.entries))


def test_reorder_segments(tmp_path: Path) -> None:
    before = plan_file(REFERENCE, tmp_path)
    swapped = write_variant(
        tmp_path,
        "swap",
        {
            FORMATTER: "",
            "  - name: aggregator\n": FORMATTER + "  - name: aggregator\n",
        },
    )
    after = plan_file(swapped, tmp_path)
    # reports now: classifier -> formatter -> aggregator -> priority
    for seg in ("features", "priority", "aggregator"):
        assert sid_of(after, seg) == sid_of(before, seg), f"{seg}: nothing behind it changed, SID kept"
    for seg, inst in (("formatter", None), ("classifier", "classifier-a"), ("classifier", "classifier-b")):
        assert sid_of(after, seg, inst) != sid_of(before, seg, inst), f"{seg}: new path behind it, new SID"
        assert next(s.since for s in after.sids if s.sid == sid_of(after, seg, inst)) == 2
    result = diff(after.entries, before.entries)
    check_make_before_break(after, before.entries, result)
    flips = {(o.op, o.entry.table) for o in result if o.phase == "flip"}
    assert flips == {("modify", T.REPORT_ENCAP)}, "only the report stacks flip; the data path is unchanged"
    deleted = {o.entry.key.get("sid") or o.entry.key.get("label") for o in result if o.op == "delete"}
    assert deleted == {
        sid_of(before, "formatter"),
        sid_of(before, "classifier", "classifier-a"),
        sid_of(before, "classifier", "classifier-b"),
    }


def test_change_classifier(tmp_path: Path) -> None:
    before = plan_file(REFERENCE, tmp_path)
    changed = write_variant(
        tmp_path,
        "cls",
        {
            "match: {src: 10.0.3.0/24}": "match: {src: 10.0.3.0/24, dst_port: 443, protocol: tcp}",
            "      priority: 100\n": "      priority: 150\n",
        },
    )
    after = plan_file(changed, tmp_path)
    assert [s.sid for s in after.sids] == [s.sid for s in before.sids], "a classifier change keeps every SID"
    result = diff(after.entries, before.entries)
    # the rule's key changed, so the old entry goes and a new one comes, both in the flip phase
    assert [(o.phase, o.op, o.entry.table) for o in result] == [
        ("flip", "delete", T.CLASSIFIER),
        ("flip", "add", T.CLASSIFIER),
    ]
    added = result[1].entry
    assert added.key["dst_port"] == {"value": 443, "mask": 0xFFFF} and added.key["protocol"]["value"] == 6
    assert added.key["$MATCH_PRIORITY"] == T.MATCH_PRIORITY_MAX - 150
    check_make_before_break(after, before.entries, result)


def test_load_balancing_with_three_instances_uses_sixteen_buckets(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        INVENTORY.read_text().replace(
            "      - {vnf: aggregator, iface: px1-agg}\n",
            "      - {vnf: aggregator, iface: px1-agg}\n      - {vnf: spare, iface: px1-spare}\n",
        )
    )
    three = write_variant(
        tmp_path, "three", {"vnf: [classifier-a, classifier-b]": "vnf: [classifier-a, classifier-b, spare]"}
    )
    with SidStore(tmp_path / "state") as store:
        plan = build_plan(load_chain(three, inv), store)
    assert plan.lb_buckets == 16
    encaps = [e for e in plan.entries if e.table == T.REPORT_ENCAP]
    assert len(encaps) == 16 and all(e.key["lb_bucket"]["mask"] == 15 for e in encaps)
    per_instance = [
        sum(1 for e in encaps if e.params["label_1"] == sid_of(plan, "classifier", i))
        for i in ("classifier-a", "classifier-b", "spare")
    ]
    assert per_instance == [6, 5, 5], "buckets spread round-robin over the instances"


def test_cli_plan_json_and_current(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "srchain.cli",
                "chain",
                "plan",
                *args,
                "-i",
                str(INVENTORY),
                "--state-dir",
                str(tmp_path / "state"),
            ],
            capture_output=True,
            text=True,
        )

    first = run(str(REFERENCE), "--json")
    assert first.returncode == 0, first.stderr
    (tmp_path / "installed.json").write_text(first.stdout)
    second = run(str(MITIGATION), "--json", "--current", str(tmp_path / "installed.json"))
    doc = json.loads(second.stdout)
    assert doc["format"] == "srchain.plan/v1" and doc["version"] == 2
    assert [(d["phase"], d["op"], d["table"]) for d in doc["diff"]][-1] == ("flip", "modify", T.CLASSIFIER)
    assert len(entries_from_state(doc)) == sum(len(t["entries"]) for t in doc["targets"])
    human = run(str(MITIGATION), "--current", str(tmp_path / "installed.json"))
    assert "make-before-break order" in human.stdout and "classifier.push_3" in human.stdout
    (tmp_path / "junk.json").write_text('{"targets": [{"kind": "router"}]}')
    bad = run(str(REFERENCE), "--current", str(tmp_path / "junk.json"))
    assert bad.returncode == 1 and "not a usable current state" in bad.stderr and "router" in bad.stderr
