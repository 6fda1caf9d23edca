"""`srchain demo --dataplane srv6` end to end: the demo testbed over SRv6 (s1 on the P4 srv6 profile as the head
end, the gaming client behind the Linux tail t's End.DX4, m's Linux End between s1's two module SIDs, px1 serving
the report path's VNFs with End.AS), the chain applied through srchain.apply, real traffic through real sockets.

One scenario run (about 25 s) feeds the same outcome checks as the SR-MPLS demo's test (imported from
test_demo_chain_e2e.py and run on this outcome): every feature report through every hop in chain order with
nothing dropped, the gaming session and only it prioritised within 2 s into queue 7, its median far below a
best-effort flow's. Then what is SRv6's own: the Linux nodes' seg6local counters and the proxy's SRv6 SIDs.

The switch runs at nice -10 (`Testbed(switch_nice=...)`, `srchain demo --switch-nice`): the srv6 data path
crosses s1 twice (m's detour) and on the shared 2-core machine the emulated switch's CPU share decides the
queueing; docs/demo.md "Over SRv6" has runs with and without.
"""

from __future__ import annotations

import os
import re

import pytest
from test_demo_chain_e2e import test_every_report_crosses_every_hop_in_order as every_report_crosses_every_hop
from test_demo_chain_e2e import test_gaming_detected_and_prioritised_others_not as gaming_detected_and_prioritised
from test_demo_chain_e2e import test_prioritised_flow_waits_less_than_best_effort as prioritised_waits_less

from srchain_demo import topology as topo
from srchain_demo.netns import netns_exists, sh
from srchain_demo.scenario import Settings, run
from srchain_demo.shipped import SRV6_SPEC
from srchain_demo.testbed import Testbed

pytestmark = [
    pytest.mark.netns,
    pytest.mark.timeout(180),
]


def seg6local(tb: Testbed, role: str, sid: str) -> tuple[int, int]:
    """(packets, errors) of a Linux node's seg6local route (`count`)."""
    out = sh("ip", "-n", tb.ns(role), "-s", "-6", "route", "show", f"{sid}/128")
    m = re.search(r"packets (\d+) bytes \d+ errors (\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("sd-srv6-e2e")
    events: list[tuple[str, float]] = []
    tb = Testbed(work / "testbed", layout=topo.SINGLE_SITE_SRV6, switch_nice=-10, prefix=f"sd{os.getpid()}v")
    try:
        tb.start()
        plan, result = tb.apply(SRV6_SPEC)
        o = run(tb, Settings(warmup_s=1.5, session_s=6.0), work / "run", lambda n, t: events.append((n, t)),
                lambda *_: None)
        sids = {s.segment: str(s.sid) for s in plan.sids}
        nodes = {"mid": seg6local(tb, topo.SRV6_MID_ROLE, sids["mid"]),
                 "tail": seg6local(tb, topo.SRV6_TAIL_ROLE, next(str(s.sid) for s in plan.sids
                                                                  if s.behaviour == "node:end.dx4"))}
        yield {"o": o, "plan": plan, "result": result, "events": events, "tb": tb, "nodes": nodes}
    finally:
        tb.close()
        assert not any(netns_exists(tb.ns(r)) for r in ("sw", "px", "gc", "fm", "t", "m")), "namespaces left behind"


def test_srv6_chain_applied_through_the_controller(outcome):
    plan, result = outcome["plan"], outcome["result"]
    assert plan.chain == "cloud-gaming-srv6" and outcome["o"].settings["dataplane"] == "srv6"
    assert any("pushed program srchain_node" in n for n in result.notes), result.notes
    targets = {(op.entry.target_kind, op.entry.target) for op in result.ops}
    assert {("switch", "s1"), ("proxy", "px1"), ("node", "mid"), ("node", "tail")} <= targets, targets


def test_every_report_crosses_every_hop_in_order(outcome):
    every_report_crosses_every_hop(outcome)


def test_gaming_detected_and_prioritised_others_not(outcome):
    gaming_detected_and_prioritised(outcome)


def test_prioritised_flow_waits_less_than_best_effort(outcome):
    prioritised_waits_less(outcome)


def test_the_linux_nodes_did_the_srv6_work(outcome):
    """m's End took every chained downstream packet s1 sent it, t's End.DX4 decapsulated what the shaped port
    passed: at least every gaming packet the client received (they all came through the chain), no errors."""
    o, nodes = outcome["o"], outcome["nodes"]
    (mid, mid_err), (tail, tail_err) = nodes["mid"], nodes["tail"]
    assert mid_err == 0 and tail_err == 0, nodes
    received = o.delays["cloud_gaming"]["packets"] + o.delays["voip"]["packets"] + o.delays["web"]["packets"]
    assert mid >= tail >= received > 1000, (nodes, received)
    assert all(isinstance(sid, str) and sid.startswith("fcbb:bb00:2:") for sid in o.proxy["sids"]), o.proxy
