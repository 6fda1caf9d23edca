"""End to end on one machine: the demo testbed (namespaces `sd<pid>…`, emulated s1, a real srchain-proxy,
the VNFs as processes), the chain applied through srchain.apply, real traffic through real sockets.

One scenario run (about 20 s) feeds the assertions: every feature report went through every hop of the
report path in chain order and nothing was dropped; the gaming session, and only it, got class 1 and
queue 7; the per-flow delays show the effect.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from srchain_demo.netns import netns_exists
from srchain_demo.scenario import Settings, run
from srchain_demo.shipped import REFERENCE_SPEC
from srchain_demo.testbed import Testbed

pytestmark = [
    pytest.mark.netns,
    pytest.mark.timeout(180),
]
SPEC = REFERENCE_SPEC


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("sd-e2e")
    events: list[tuple[str, float]] = []
    tb = Testbed(work / "testbed")
    try:
        tb.start()
        plan, result = tb.apply(SPEC)
        o = run(tb, Settings(warmup_s=1.5, session_s=6.0), work / "run", lambda n, t: events.append((n, t)),
                lambda *_: None)
        yield {"o": o, "plan": plan, "result": result, "events": events, "tb": tb}
    finally:
        tb.close()
        assert not any(netns_exists(tb.ns(r)) for r in ("sw", "px", "gc", "fm")), "namespaces left behind"


def test_chain_applied_through_the_controller(outcome):
    assert outcome["plan"].chain == "cloud-gaming"
    assert any("pushed program srchain_node" in n for n in outcome["result"].notes)
    assert outcome["result"].ops, "apply wrote nothing"


def test_every_report_crosses_every_hop_in_order(outcome):
    o = outcome["o"]
    mirrored = o.switch["reports_sent"]
    assert mirrored > 50, o.switch
    assert o.switch["reports_no_group"] == 0 and o.switch["reports_unconfigured"] == 0, o.switch
    by_vnf: dict[str, dict[str, int]] = {}
    for c in o.proxy["sids"].values():
        row = by_vnf.setdefault(c["vnf"], {"rx": 0, "tx": 0})
        row["rx"] += c["rx"]
        row["tx"] += c["tx"]
    v = o.vnfs
    # switch -> proxy(formatter SID) -> formatter -> proxy -> classifier(s) -> proxy -> aggregator -> proxy -> s1
    assert by_vnf["formatter"]["rx"] == mirrored
    assert v["formatter"]["received"] == mirrored and v["formatter"]["sent"] == mirrored
    assert by_vnf["formatter"]["tx"] == mirrored
    cls_rx = by_vnf["classifier-a"]["rx"] + by_vnf["classifier-b"]["rx"]
    cls_in = v["classifier-a"].get("received", 0) + v["classifier-b"].get("received", 0)
    cls_out = v["classifier-a"].get("sent", 0) + v["classifier-b"].get("sent", 0)
    assert cls_rx == cls_in == cls_out == mirrored
    # the formatter's per-session source ports spread the sessions over both classifier instances
    assert by_vnf["classifier-a"]["rx"] > 0 and by_vnf["classifier-b"]["rx"] > 0, by_vnf
    assert by_vnf["classifier-a"]["tx"] + by_vnf["classifier-b"]["tx"] == mirrored
    assert by_vnf["aggregator"]["rx"] == v["aggregator"]["received"] == mirrored
    decisions = v["aggregator"]["sent"]
    assert decisions >= 1 and by_vnf["aggregator"]["tx"] == decisions
    assert o.switch["decisions_accepted"] == decisions
    # Nothing dropped anywhere on the report path (the only switch "drop" is the consumed decision; over SRv6 also
    # link_local: the Linux nodes' MLD reports and ND for their first seconds, never a chain packet).
    assert o.proxy["drops"] == {} and o.proxy["kernel_drops"] == 0, o.proxy
    neighbours = {"link_local"} if o.settings["dataplane"] == "srv6" else set()
    assert set(o.switch["drops"]) <= {"decision"} | neighbours, o.switch["drops"]
    assert all(not k.startswith("dropped:") for c in v.values() for k in c), v


def test_gaming_detected_and_prioritised_others_not(outcome):
    o = outcome["o"]
    names = [n for n, _ in outcome["events"]]
    assert names.index("session seen") <= names.index("detected") <= names.index("prioritised"), names
    assert o.timeline["prioritised"] is not None and o.timeline["prioritised"] <= 2.0, o.timeline
    assert o.classes["cloud_gaming"] == 1, o.classes
    assert o.classes["voip"] != 1 and o.classes["web"] != 1, o.classes
    assert o.vnfs["aggregator"].get("decision:1", 0) == 1, o.vnfs["aggregator"]  # one session, one change
    # Queue 7 of the shaped port carried the gaming flow's packets (and nothing else is class 1).
    q7 = o.extra["queue_port2"][7]["packets"]
    game_sent = o.delays["cloud_gaming"]["expected"]
    assert 0.8 * game_sent <= q7 <= game_sent, (q7, game_sent)
    assert o.switch["packets_prioritised"] >= q7


def test_prioritised_flow_waits_less_than_best_effort(outcome):
    d = outcome["o"].delays
    after, voip = d["cloud_gaming_after"], d["voip_after"]
    assert after["packets"] > 1000 and voip["packets"] > 50, d
    # Same period, same congested port: the prioritised flow's median is far below a best-effort flow's.
    assert after["p50_ms"] * 5 < voip["p50_ms"], d


def test_teardown_leaves_nothing(tmp_path):
    tb = Testbed(tmp_path / "tb", prefix=f"sd{os.getpid()}t")
    with pytest.raises(Exception, match="boom"), tb:
        assert netns_exists(tb.ns("sw"))
        pids = [p.pid for p in tb.procs.values()]
        raise RuntimeError("boom")
    assert not any(netns_exists(tb.ns(r)) for r in ("sw", "px", "gs", "gc", "bg", "fm", "ca", "cb", "ag"))
    for pid in pids:
        assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0, f"{pid} alive"
    assert Path(tb.proxy_sock).exists() is False
