"""Recovery, end to end in the demo testbed (policy in docs/demo.md, "Recovery"):

- a VNF of the report path (the formatter) is SIGKILLed and restarted under chained traffic: data traffic
  continues with zero loss (it never crosses the VNF); the reports that reach the dead VNF are dropped by
  its namespace's kernel (UdpNoPorts) and show as proxy SID rx without tx; after the restart reports
  flow again and a new gaming session is detected and prioritised;
- the emulated switch is restarted (empty: no program, no entries): status reports every switch entry
  missing, data traffic meanwhile is lost, reconcile restores every entry and the traffic, and a new
  gaming session is prioritised again;
- a gaming session prioritised before a switch restart, still running, is prioritised again within a
  bound after the reconcile through the aggregator's decision refresh (no class change needed);
- the SR proxy is SIGKILLed and restarted while the data flow detours through it (mitigation inserted): the
  packets sent while it is down are lost (only those), it comes back with every SID and attachment the
  controller applied (its state file) so status is in sync with no reconcile, and the flow crosses the
  mitigation again; its dynamic flow cache starts empty and relearns from the next inbound packet.
"""

from __future__ import annotations

import os
import time

import pytest

from srchain_demo.day2 import live_state
from srchain_demo.netns import netns_exists
from srchain_demo.observe import proxy_counters
from srchain_demo.probes import (
    finish_probe,
    formatter_role,
    gaming_prioritised,
    snmp,
    start_gaming,
    start_probe,
)
from srchain_demo.shipped import MITIGATION_SPEC, REFERENCE_SPEC
from srchain_demo.testbed import Testbed

pytestmark = [
    pytest.mark.netns,
    pytest.mark.timeout(180),
]
RATE = 1000  # chained probes/s: a report every 32 packets of the flow, ~31 reports/s to the formatter
FORMATTER_SID_VNF = "formatter"
# the aggregator's default refresh_s (2 s) + a report-path round (formatter, classifier, aggregator) + polling
REFRESH_BOUND_S = 4.0


@pytest.fixture(scope="module")
def testbed(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("sd-recovery")
    tb = Testbed(work / "testbed", port_rate_bps=100_000_000, prefix=f"sd{os.getpid()}r")
    try:
        tb.start()
        tb.apply(REFERENCE_SPEC)
        yield tb, work
    finally:
        tb.close()
        assert not any(netns_exists(tb.ns(r)) for r in ("sw", "px", "fm")), "namespaces left behind"


def _formatter_sid(tb: Testbed) -> dict[str, int]:
    return next(c for c in proxy_counters(tb)["sids"].values() if c["vnf"] == FORMATTER_SID_VNF)


def test_vnf_killed_and_restarted(testbed):
    tb, work = testbed
    role = formatter_role()
    flow = start_probe(tb, "vk", work / "vk", port=5004, rate_pps=RATE, duration_s=6.0)
    time.sleep(max(0.0, flow.t0 + 1.5 - time.time()))
    before = _formatter_sid(tb)
    assert before["rx"] > 0 and before["rx"] - before["tx"] <= 2, before  # reports flow (a couple in flight)
    noports0, icmp0 = snmp(tb, role, "Udp", "NoPorts"), snmp(tb, role, "Icmp", "OutDestUnreachs")
    tb.kill_vnf("formatter")
    time.sleep(1.5)
    gap = _formatter_sid(tb)
    noports_gap = snmp(tb, role, "Udp", "NoPorts") - noports0
    tb.start_vnf_by_name("formatter")  # waits for its health endpoint
    res = finish_probe(tb, flow)
    after = _formatter_sid(tb)
    noports = snmp(tb, role, "Udp", "NoPorts") - noports0
    icmp = snmp(tb, role, "Icmp", "OutDestUnreachs") - icmp0
    fm = tb.vnf_health(role)["counters"]

    # Data traffic never crosses the formatter: not one probe lost across the kill and the restart.
    assert res.sent == RATE * 6 and res.lost() == [], (res.sent, res.lost()[:20])
    # During the gap: reports still reach the proxy SID and go to the VNF's namespace, whose kernel drops
    # them (no socket): rx grows, tx does not, and UdpNoPorts counts them.
    assert gap["rx"] - before["rx"] >= 30, (before, gap)
    assert noports_gap > 0
    # Over the whole run: the reports lost are the ones the dead VNF's kernel refused, plus what its socket
    # held when it was killed. The kernel answers (rate-limited) with ICMP port unreachable, which comes back
    # on the attachment and leaves through the static SID like any VNF output (counted as tx; docs/demo.md).
    assert icmp > 0
    lost_reports = (after["rx"] - after["tx"]) - (before["rx"] - before["tx"]) + icmp
    assert noports - 3 <= lost_reports <= noports + 64, (lost_reports, noports, icmp)
    # After the restart: the new process receives and answers every report again.
    assert fm["received"] > 0 and fm["sent"] == fm["received"] and not any(k.startswith("dropped:") for k in fm), fm
    assert after["tx"] > gap["tx"], (gap, after)
    # Detection works again: a new gaming session is prioritised.
    t = gaming_prioritised(tb, "vk-game", work / "vk", port=5000)
    assert t is not None and t <= 4.0, t


def test_switch_restarted_then_reconciled(testbed):
    tb, work = testbed
    intended = live_state(tb)
    flow = start_probe(tb, "sr", work / "sr", port=5005, rate_pps=RATE, duration_s=8.0)
    time.sleep(max(0.0, flow.t0 + 1.5 - time.time()))
    t_stop = time.time()
    tb.restart_switch()  # a fresh process: no program, no entries, no registers
    t_up = time.time()
    status = tb.status()
    rec = tb.reconcile()
    t_reconciled = time.time()
    res = finish_probe(tb, flow)

    # Status reports the restart: the switch runs no program, so none of its entries is live; the proxy
    # (not restarted) is fully in sync.
    sw = next(v for k, v in status.items() if k.startswith("switch"))
    px = next(v for k, v in status.items() if k.startswith("proxy"))
    assert sw["ok"] == 0 and ("error" in sw or len(sw["missing"]) == sw["intended"]), sw
    assert px["ok"] == px["intended"] and not px["missing"] and not px["differs"], px
    # Reconcile pushed the program and re-added every entry: the live state is the intended one again.
    assert any("pushed" in n for n in rec.notes), rec.notes
    assert {op.op for op in rec.ops} == {"add"}, rec.ops
    assert live_state(tb) == intended
    after_status = tb.status()
    assert all(v["ok"] == v["intended"] for v in after_status.values()), after_status
    # Meanwhile data traffic was lost (documented), and only between the stop and the reconcile.
    lost = res.lost()
    assert res.sent == RATE * 8 and len(lost) >= (t_up - t_stop) * RATE * 0.5, (len(lost), t_up - t_stop)
    assert all(t_stop - 0.5 <= flow.send_time(q) <= t_reconciled + 0.5 for q in lost), (lost[0], lost[-1])
    # Traffic flows again, and a new gaming session is prioritised (the registers started empty).
    assert any(flow.send_time(q) > t_reconciled + 0.5 for q in res.seqs)
    t = gaming_prioritised(tb, "sr-game", work / "sr", port=5006)
    assert t is not None and t <= 4.0, t


def test_prioritised_session_regains_its_class_after_switch_restart(testbed):
    """A gaming session prioritised before the switch restarts is prioritised again after the reconcile,
    while it keeps running: the aggregator re-sends the decision of a live session every `refresh_s`
    (docs/vnfs.md), so no class change is needed for the switch's priority register to learn it again."""
    tb, work = testbed
    out = work / "rg"
    out.mkdir(parents=True, exist_ok=True)
    session = start_gaming(tb, "rg", out, port=5008, session_s=24.0, seed=26)
    try:
        time.sleep(max(0.0, session.start - time.time()))
        assert session.prioritised_within(6.0, since=time.time()) is not None, \
            "the session was not prioritised before the restart"
        before = tb.vnf_health("ag")["counters"]
        tb.restart_switch()  # registers empty: the session's class is gone from the switch
        rec = tb.reconcile()
        assert any("pushed" in n for n in rec.notes), rec.notes
        t = session.prioritised_within(REFRESH_BOUND_S, since=time.time(), client_id=15)
        after = tb.vnf_health("ag")["counters"]
    finally:
        session.stop()
    assert t is not None, f"not prioritised again within {REFRESH_BOUND_S} s of the reconcile: {after}"
    # regained through a refresh of the same decision, not through a new change of class
    assert after.get("refresh:1", 0) > before.get("refresh:1", 0), (before, after)
    assert after.get("decision:1", 0) == before.get("decision:1", 0), (before, after)


def test_proxy_killed_and_restarted_under_detoured_traffic(testbed):
    tb, work = testbed
    tb.apply(MITIGATION_SPEC)
    try:
        before = live_state(tb)
        flow = start_probe(tb, "pk", work / "pk", port=5009, rate_pps=RATE, duration_s=6.0)
        time.sleep(max(0.0, flow.t0 + 1.5 - time.time()))
        mit0 = tb.vnf_health("mi")["counters"]
        t_kill = time.time()
        tb.restart_proxy()  # SIGKILL, then the same config: waits for its health endpoint
        t_up = time.time()
        status = tb.status()
        res = finish_probe(tb, flow)
        px = proxy_counters(tb)
        mit1 = tb.vnf_health("mi")["counters"]
        after = live_state(tb)
    finally:
        tb.apply(REFERENCE_SPEC)  # the module's other tests expect the reference chain

    # The restarted proxy holds exactly what the controller applied (no reconcile): status is in sync.
    assert after == before
    assert all(v["ok"] == v["intended"] and not v["missing"] and not v["differs"] for v in status.values()), status
    # Data loss only while the proxy was down (the detour crosses it), and the flow is back afterwards.
    lost = res.lost()
    assert res.sent == RATE * 6 and lost, (res.sent, len(lost))
    assert len(lost) <= (t_up - t_kill + 1.0) * RATE, (len(lost), t_up - t_kill)
    assert all(t_kill - 0.5 <= flow.send_time(q) <= t_up + 0.5 for q in lost), (lost[0], lost[-1], t_kill, t_up)
    assert sum(1 for q in res.seqs if flow.send_time(q) > t_up + 0.5) >= RATE, "traffic did not come back"
    # ... through the mitigation: it passed the probes after the restart, and the new proxy process
    # counted them on the mitigation's SID (its counters started at zero).
    assert mit1["passed"] - mit0["passed"] >= RATE, (mit0, mit1)
    mit_sid = next(c for c in px["sids"].values() if c["vnf"] == "mitigation")
    assert mit_sid["rx"] >= RATE and mit_sid["tx"] >= mit_sid["rx"] - 5, (mit_sid, px)
    # Packets still inside the VNF at the kill came back to an empty flow cache: counted, never forwarded
    # wrongly; nothing else was dropped.
    assert set(px["drops"]) <= {"flow_miss"} and px["drops"].get("flow_miss", 0) <= 64, px["drops"]
