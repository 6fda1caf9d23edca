"""The L4S harness, briefly, on the reference DualPI2: real TCP (Cubic) and the scalable UDP sender through
the link emulator in namespaces (about 12 s)."""

from __future__ import annotations

import pytest

from srchain_demo.l4s.harness import Setup, run_once
from srchain_demo.l4s.metrics import summarise

pytestmark = pytest.mark.netns


def test_dualpi2_reference_separates_and_shares() -> None:
    run = run_once("dualpi2-ref", Setup(seconds=8.0), prefix="l4st-h")
    s = summarise(run)
    marked, dropped = s["bottleneck_marked"], s["bottleneck_dropped"]
    # the scalable flow (ECT(1), L queue) is held back by CE marks, seen at its receiver too
    assert marked.get("L", 0) > 0 and s["udp"]["ce"] > 0
    # the classic flow is Not-ECT: never marked; two greedy flows overload the link, so PI2 drops it
    assert marked.get("C", 0) == 0 and dropped.get("C", 0) > 0
    # both get a real share of the 12 Mbit/s (each at least 10 %, every 1 s window after the warm-up)
    assert min(s["min_1s_mbit"].values()) > 1.2
    # latency separation: the L queue's delays sit below the C queue's typical delay
    assert s["L_delay_ms"]["p99"] < s["C_delay_ms"]["p50"]
    assert s["L_delay_ms"]["p50"] < 2.0 and s["C_delay_ms"]["p50"] > 5.0


def test_the_p4_switch_as_the_bottleneck_marks_the_scalable_flow_and_holds_classic_back() -> None:
    """The same run with the emulated Tofino as the bottleneck (srchain_demo.l4s.p4link): the SR node's l4s
    profile, the chain applied by the controller, out0 shaped to 12 Mbit/s by the TM tables; the counts come from
    the module's own decision counters and the TM's per-queue delays."""
    run = run_once("p4", Setup(seconds=8.0), prefix="l4st-p")
    s = summarise(run)
    marked = s["bottleneck_marked"]
    assert marked.get("L", 0) > 0 and s["udp"]["ce"] > 0  # the module CE-marks ECT(1) packets in egress
    assert marked.get("C", 0) == 0  # the classic flow is Not-ECT: dropped, never marked
    assert min(s["min_1s_mbit"].values()) > 0.5  # neither flow starves (the shares: docs/l4s.md)
    assert s["L_delay_ms"]["p50"] < s["C_delay_ms"]["p50"]  # the L queue is the short one
