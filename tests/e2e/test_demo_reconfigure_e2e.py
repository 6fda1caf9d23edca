"""`srchain demo --reconfigure` end to end: the demo scenario (congested port, gaming session detected and
prioritised), and mid-session the controller inserts the attack-mitigation VNF on the data path while the
traffic runs. Across the change the prioritised session loses and reorders nothing, in either direction,
and its packets really take the new path; the report path keeps working through the change.
"""

from __future__ import annotations

import os

import pytest

from srchain_demo.netns import netns_exists
from srchain_demo.scenario import Settings, run
from srchain_demo.shipped import REFERENCE_SPEC
from srchain_demo.testbed import Testbed

pytestmark = [
    pytest.mark.netns,
    pytest.mark.timeout(180),
]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("sd-reconf")
    events: list[tuple[str, float]] = []
    tb = Testbed(work / "testbed", prefix=f"sd{os.getpid()}c")
    try:
        tb.start()
        tb.apply(REFERENCE_SPEC)
        settings = Settings(warmup_s=1.5, session_s=6.0, reconfigure_at_s=3.0)
        o = run(tb, settings, work / "run", lambda n, t: events.append((n, t)), lambda *_: None)
        yield {"o": o, "events": events}
    finally:
        tb.close()
        assert not any(netns_exists(tb.ns(r)) for r in ("sw", "px", "mi")), "namespaces left behind"


def test_live_insert_loses_and_reorders_nothing(outcome):
    o = outcome["o"]
    change = o.extra["reconfigure"]
    assert change["version"] == 2 and change["ops"] > 0, change
    assert any(n.startswith("day 2: mitigation inserted") for n, _ in outcome["events"]), outcome["events"]
    # Both directions of the prioritised gaming session, packets sent from 1 s before to 1 s after the change.
    for name, c in change["streams"].items():
        assert c["received"] > 100, (name, c)
        assert c["lost"] == 0 and c["late"] == 0, (name, c)
    assert change["lost"] == 0 and change["late"] == 0
    assert o.timeline["prioritised"] < o.timeline["reconfigured"], o.timeline
    assert o.classes["cloud_gaming"] == 1, o.classes


def test_chained_traffic_takes_the_new_path(outcome):
    o = outcome["o"]
    m = o.extra["reconfigure"]["mitigation"]
    assert m.get("passed", 0) > 1000 and m["passed"] == m["received"] == m["sent"], m
    mit = next(c for c in o.proxy["sids"].values() if c["vnf"] == "mitigation")
    assert mit["version"] == 2 and mit["rx"] == mit["tx"] == m["passed"], mit
    assert o.proxy["drops"] == {} and o.proxy["kernel_drops"] == 0, o.proxy


def test_report_path_unbroken_through_the_change(outcome):
    """Every report reached every VNF (switch mirrored = each VNF's input and output; decisions accepted).
    Proxy tx counters are not compared here: they can miss a few frames counted during a proxy
    configuration change (docs/demo.md, gaps found); rx counters and the VNFs' own counters are exact."""
    o = outcome["o"]
    mirrored = o.switch["reports_sent"]
    assert mirrored > 50, o.switch
    v = o.vnfs
    fm_rx = next(c["rx"] for c in o.proxy["sids"].values() if c["vnf"] == "formatter")
    assert fm_rx == v["formatter"]["received"] == v["formatter"]["sent"] == mirrored, (fm_rx, v)
    cls_in = v["classifier-a"].get("received", 0) + v["classifier-b"].get("received", 0)
    assert cls_in == mirrored and v["aggregator"]["received"] == mirrored, v
    assert o.switch["decisions_accepted"] == v["aggregator"]["sent"] >= 1, (o.switch, v["aggregator"])
