"""Two sites end to end (issue 20): the reference chain split over two sites of the demo testbed (`topology.two_site`:
flow-features and priority on edge a1 in site A, the report path's VNFs behind proxy pxb in site B, borders a2 and
b1 on P4 profile `wan`, joined by the link emulator at 10 ms each way). A chained probe flow (gaming server ->
client, sequence numbers) runs while the controller inserts the attack-mitigation VNF of site B into the data path
(v2: the probes now cross the WAN twice, a1 -> a2 -> WAN -> b1 -> pxb -> mitigation -> pxb -> b1 -> WAN -> a2 -> a1)
and removes it again (v3): make-before-break across sites, each site written by its own thread. The same
assertions as the single-site day-2 test (test_day2_e2e.py): nothing lost or duplicated, every probe carried one
version's stack, old entries gone on every switch of both sites and on the proxy when each apply returned.
"""

from __future__ import annotations

import os

import pytest

from srchain_demo import topology
from srchain_demo.day2 import Day2Settings, live_state, run_day2
from srchain_demo.netns import netns_exists
from srchain_demo.testbed import Testbed

pytestmark = [
    pytest.mark.netns,
    pytest.mark.timeout(150),
]
RATE = 2_000  # probes/s: three Python switches (the detour crosses each twice), the proxy, the mitigation and the WAN
# emulator share two cores; 3 kpps was loss-free too at load 3-5, 2 kpps leaves room for a busier CI host
DURATION_S = 6.0  # the removal at +3.5 s leaves 2.5 s of v3 even when an apply takes 2-3 s on a loaded host
INSERT_AT_S, REMOVE_AT_S = 1.5, 3.5
WAN_DELAY_MS = 10.0


@pytest.fixture(scope="module")
def sites2(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("sd-sites2")
    tb = Testbed(work / "testbed", port_rate_bps=400_000_000, prefix=f"sd{os.getpid()}w",
                 layout=topology.two_site(WAN_DELAY_MS))
    try:
        tb.start()
        tb.apply(tb.spec())
        before = live_state(tb)
        settings = Day2Settings(rate_pps=RATE, duration_s=DURATION_S, insert_at_s=INSERT_AT_S, reorder_at_s=None,
                                remove_at_s=REMOVE_AT_S)
        o = run_day2(tb, settings, work / "run")
        yield {"o": o, "before": before}
    finally:
        tb.close()
        roles = [s.role for s in tb.layout.switches] + ["px", "mi", "wan", "gs", "gc"]
        left = [r for r in roles if netns_exists(tb.ns(r))]
        assert not left, f"namespaces left behind: {left}"


def test_zero_loss_and_no_duplicates_across_a_cross_site_insert_and_removal(sites2):
    o = sites2["o"]
    assert [a.version for a in o.applies] == [2, 3], f"applies: {o.applies}"
    assert o.sent == RATE * DURATION_S and o.send_errors == 0, f"sent {o.sent}, send errors {o.send_errors}"
    assert o.lost == 0 and o.received == o.sent, f"lost {o.lost}, received {o.received} of {o.sent}"
    assert o.duplicates == 0, f"{o.duplicates} duplicate probes"


def test_every_probe_carried_one_versions_stack_across_the_wan(sites2):
    o = sites2["o"]
    ins = o.applies[0].live_after
    features, mit, prio = ins["classifier_stacks"][0]  # v2 = [features, mitigation, priority]
    assert ins["proxy_sids"][mit] == {"vnf": "mitigation", "version": 2}, f"proxy SIDs after the insert: {ins}"
    assert {features, prio} <= set(ins["switch"]["local_sid_0"]), f"a1's local SIDs: {ins['switch']}"
    assert all(c["kernel_drops"] == 0 for c in o.capture.values()), f"a capture dropped frames: {o.capture}"
    (d2,) = o.detours
    # The proxy (site B) sees the probe after a1 popped flow-features and after the WAN: [mitigation, priority].
    assert (d2["version"], d2["stack"]) == (2, [mit, prio]), f"detour: {d2}"
    assert d2["count"] > RATE // 2, f"v2 carried {d2['count']} probes, expected > {RATE // 2}: {d2}"
    # Toward the proxy only v2's stack, back from it only its remainder, for exactly the same probes.
    assert o.stacks_to_proxy == {f"{mit},{prio}": d2["count"]}, f"stacks toward pxb: {o.stacks_to_proxy}"
    assert o.stacks_from_proxy == {f"{prio}": d2["count"]}, f"stacks from pxb: {o.stacks_from_proxy}"
    assert d2["returned_same"], f"not returned {d2['not_returned'][:20]}, extra {d2['returned_extra'][:20]}"
    # One contiguous run of sequence numbers: v1 before it, v3 (the direct path again) after it.
    assert d2["contiguous"] and d2["first"] > 0 and d2["last"] < o.sent - 1, f"v2's run: {d2}"
    n = d2["count"]
    assert o.mitigation.get("received") == o.mitigation.get("passed") == o.mitigation.get("sent") == n, \
        f"mitigation counters {o.mitigation}, expected {n} each"
    assert o.proxy["drops"] == {} and o.proxy["kernel_drops"] == 0, f"proxy drops: {o.proxy}"
    # The detoured probes crossed the emulated WAN twice (there and back): none took less than two one-way delays.
    assert o.delays_ms["detour"]["min"] >= 2 * WAN_DELAY_MS, f"detour faster than two WAN crossings: {o.delays_ms}"


def test_order_kept_per_path_reordering_only_at_the_removal(sites2):
    """Each version's probes stay in order; only the removal reorders: the first probes of the direct path
    overtake those still on the detour (now two WAN crossings, 2 x 10 ms, longer than in one site)."""
    o = sites2["o"]
    d = o.detour_seqs
    assert d["late_within_detour_path"] == 0 and d["late_within_direct_path"] == 0, f"reordered within a path: {d}"
    assert d["late_not_in_detour"] == 0, f"late probes that never took the detour: {d}, {o.late_seqs}"
    last = o.detours[-1]
    assert all(last["first"] <= q <= last["last"] for q in o.late_seqs), f"late outside v2's run: {o.late_seqs}"


def test_old_entries_gone_on_every_switch_of_both_sites(sites2):
    o, before = sites2["o"], sites2["before"]
    ins, rem = o.applies
    v2 = ins.live_after["classifier_stacks"][0]
    mit = v2[1]
    assert ins.live_after["classifier_stacks"] == [v2] * len(before["classifier_stacks"]), \
        f"classifier stacks after the insert: {ins.live_after['classifier_stacks']}"
    # The way there and back across the WAN was installed: a2 encapsulates mitigation's label toward b1, b1 forwards
    # it to pxb.
    for border in ("a2", "b1"):
        assert mit in ins.live_after["switches"][border]["sid_forward"], \
            f"{border} has no row for mitigation's label {mit}: {ins.live_after['switches'][border]}"
    assert "mitigation" in ins.live_after["proxy_attachments"], f"attachments: {ins.live_after['proxy_attachments']}"
    assert rem.drained is True, f"the removal did not drain: {rem}"
    after = rem.live_after
    assert after["classifier_stacks"] == before["classifier_stacks"], \
        f"classifier stacks {after['classifier_stacks']}, before the insert {before['classifier_stacks']}"
    for name, labels in after["switches"].items():
        assert all(mit not in t for t in labels.values()), f"mitigation's label {mit} left on {name}: {labels}"
    assert after["switches"] == before["switches"], f"switch tables {after['switches']}, before {before['switches']}"
    assert mit not in after["proxy_sids"] and after["proxy_sids"] == before["proxy_sids"], \
        f"proxy SIDs {after['proxy_sids']}, before {before['proxy_sids']}"
    assert "mitigation" not in after["proxy_attachments"], f"attachments: {after['proxy_attachments']}"
