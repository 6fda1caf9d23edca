"""The apply engine against in-memory targets (tests/apply/fake_target.py) and a clock that never sleeps:
make-before-break order, rollback after a failure in each phase, the drain and its timeout, reconcile.
test_apply_engine.py runs the same engine against an emulated switch over real gRPC.
"""

from __future__ import annotations

import time

import pytest
from fake_target import FakeNetwork, as_live

from srchain.apply import AppliedStore, ApplyError, Controller, Drivers, Options
from srchain.plan.model import DiffOp, Entry, Plan, canonical

FWD, RULES = "SwitchIngress.sr.sid_forward", "SwitchIngress.classifier.rules"


def px_sid(label: int, restore: int, version: int) -> Entry:
    return Entry("proxy", "px1", "sid", {"sid": label}, "static", {"vnf": "fmt", "restore": [[restore]], "ttl": 64},
                 "proxy_sid", version)


def fwd(label: int, port: int, version: int) -> Entry:
    return Entry("switch", "s1", FWD, {"label": label}, "SwitchIngress.sr.forward", {"port": port}, "sid_forward",
                 version)


def classifier(stack: list[int], version: int) -> Entry:
    return Entry("switch", "s1", RULES, {"src_addr": "10.0.1.0"}, "SwitchIngress.classifier.push_2",
                 {"label_0": stack[0], "label_1": stack[1]}, "classifier", version)


# v1: classifier -> [100 (proxy px1), 200]; v2 moves the proxy segment to a new SID 101 (hitless change).
V1 = [px_sid(100, 200, 1), fwd(100, 4, 1), fwd(200, 1, 1), classifier([100, 200], 1)]
V2 = [px_sid(101, 200, 2), fwd(101, 4, 2), fwd(200, 1, 1), classifier([101, 200], 2)]


def plan_of(entries: list[Entry], version: int) -> Plan:
    return Plan("t", version, f"digest{version}", 1, [], [], entries)


@pytest.fixture
def net() -> FakeNetwork:
    return FakeNetwork()


@pytest.fixture
def store(tmp_path) -> AppliedStore:
    return AppliedStore(tmp_path)


@pytest.fixture
def controller(net: FakeNetwork, store: AppliedStore):
    def make(**opts: float) -> Controller:
        return Controller(Drivers(net.factory), store, Options(**{"drain_timeout": 5.0, "drain_interval": 0.5,
                                                                  **opts}), net.clock)

    return make


def recorded(store: AppliedStore) -> set[tuple[str, str, str, str, str]]:
    return {(*e.identity, e.content) for e in store.entries("t")}


def test_change_is_install_flip_drain_cleanup(net, store, controller) -> None:
    controller().apply(plan_of(V1, 1))
    net.journal.clear()
    r = controller().apply(plan_of(V2, 2))
    steps = [(target, phase, op) for _, target, phase, op, *_ in net.writes()]
    assert steps == [("proxy px1", "install", "add"), ("switch s1", "install", "add"),  # proxies before switches
                     ("switch s1", "flip", "modify"),
                     ("switch s1", "cleanup", "delete"), ("proxy px1", "cleanup", "delete")]
    flip = next(i for i, j in enumerate(net.journal) if j[:3] == ("write", "switch s1", "flip"))
    cleanup = next(i for i, j in enumerate(net.journal) if j[:3] == ("write", "switch s1", "cleanup"))
    assert sum(1 for j in net.journal[flip:cleanup] if j[0] == "read") >= 2  # counters sampled twice at least
    assert r.drained is True and r.batches == 5
    assert net.live() == as_live(V2)
    assert recorded(store) == {(*e.identity, e.content) for e in V2}


@pytest.mark.parametrize(
    ("phase", "kind", "name", "landed"),
    [("install", "switch", "s1", 1),  # the proxy's install had landed
     ("flip", "switch", "s1", 2),  # both installs had landed
     ("cleanup", "proxy", "px1", 4)],  # installs, flip and the switch's cleanup had landed
)
def test_a_failure_in_any_phase_leaves_the_previous_version(net, store, controller, phase, kind, name, landed) -> None:
    controller().apply(plan_of(V1, 1))
    net.target(kind, name).refuse = lambda op: "table full" if op.phase == phase else None
    with pytest.raises(ApplyError) as err:
        controller().apply(plan_of(V2, 2))
    exc = err.value
    failed = next(op.entry for op in _v1_to_v2() if op.phase == phase and op.entry.target_kind == kind)
    assert str(exc).startswith(f"{kind} {name}: table {failed.table}, entry {canonical(failed.key)}: ")
    assert f"failed: table full; rolled back {landed} operation(s): the previous version is in place" in str(exc)
    assert (exc.target, exc.table, exc.entry, exc.code, exc.reason) == \
        (f"{kind} {name}", failed.table, canonical(failed.key), "RESOURCE_EXHAUSTED", "table full")
    assert exc.unchanged is True
    assert net.live() == as_live(V1)  # every target exactly as before
    assert recorded(store) == {(*e.identity, e.content) for e in V1}  # the record still says v1


def _v1_to_v2() -> list[DiffOp]:
    from srchain.plan.diff import diff

    return diff(V2, V1)


def test_a_failed_rollback_says_so_and_is_not_unchanged(net, controller) -> None:
    controller().apply(plan_of(V1, 1))
    net.target("proxy", "px1").refuse = lambda op: "gone" if op.phase == "cleanup" else None
    net.target("switch", "s1").refuse = lambda op: "busy" if (op.phase, op.op) == ("cleanup", "add") else None
    with pytest.raises(ApplyError, match=r"ROLLBACK INCOMPLETE \(1 batch\(es\) failed: .*busy\): run `srchain "
                                         r"chain reconcile`") as err:
        controller().apply(plan_of(V2, 2))
    assert err.value.unchanged is False


def test_drain_waits_while_the_old_version_counts_without_sleeping(net, controller) -> None:
    controller().apply(plan_of(V1, 1))
    start = net.clock.now()
    old = (FWD, canonical({"label": 100}))
    net.target("switch", "s1").moving = lambda key, now: key == old and now < start + 2.0  # in flight for 2 s
    t0 = time.monotonic()
    r = controller().apply(plan_of(V2, 2))
    assert time.monotonic() - t0 < 1.0  # no real sleeping
    assert r.drained is True
    assert set(net.clock.slept) == {0.5} and 2.0 <= r.timings["drain_s"] <= 3.0
    assert net.live() == as_live(V2)


def test_drain_timeout_is_bounded_reported_and_cleans_up(net, controller) -> None:
    controller().apply(plan_of(V1, 1))
    net.target("switch", "s1").moving = lambda key, now: True  # never quiet
    r = controller(drain_timeout=3.0).apply(plan_of(V2, 2))
    assert r.drained is False and r.timings["drain_s"] == pytest.approx(3.0)
    assert "the old version was still counting packets after 3.0s; cleaned up anyway" in r.notes
    assert net.live() == as_live(V2)


def test_counters_unreadable_while_draining_roll_back_to_the_previous_version(net, store, controller) -> None:
    controller().apply(plan_of(V1, 1))
    sw = net.target("switch", "s1")

    def stop_reading_after_the_flip(op: DiffOp) -> None:
        if op.phase == "flip":
            sw.unreadable = True

    sw.refuse = stop_reading_after_the_flip  # type: ignore[assignment,return-value]
    with pytest.raises(ApplyError) as err:
        controller().apply(plan_of(V2, 2))
    assert str(err.value) == ("switch s1: reading the counters to drain the old version failed: read timed out; "
                              "rolled back 3 operation(s): the previous version is in place")
    assert err.value.unchanged is True and err.value.code == "DEADLINE_EXCEEDED"
    assert net.live() == as_live(V1)
    assert recorded(store) == {(*e.identity, e.content) for e in V1}


def test_unreachable_target_fails_before_any_write(net, store, controller) -> None:
    net.target("switch", "s1").down = True
    with pytest.raises(ApplyError, match=r"^switch s1: connection refused; nothing was changed$") as err:
        controller().apply(plan_of(V1, 1))
    assert err.value.unchanged is True and err.value.code == "UNAVAILABLE"
    assert net.writes() == [] and store.load("t") is None


def test_reconcile_restores_what_a_target_lost_or_changed(net, controller) -> None:
    controller().apply(plan_of(V1, 1))
    sw, px = net.target("switch", "s1"), net.target("proxy", "px1")
    sw.table.clear()  # a switch restart
    px.table[("sid", canonical({"sid": 100}))] = ("changed behind our back", 0)
    net.journal.clear()
    r = controller().reconcile("t")
    assert sorted((op.entry.target, op.op) for op in r.ops) == [("px1", "modify")] + [("s1", "add")] * 3
    assert [j[1:3] for j in net.writes()] == [("proxy px1", "install"), ("switch s1", "install"),
                                              ("switch s1", "install"), ("switch s1", "flip")]  # classifier last
    assert net.live() == as_live(V1)
    assert controller().reconcile("t").ops == []


def test_reconcile_of_an_unreadable_target_is_an_apply_error(net, controller) -> None:
    controller().apply(plan_of(V1, 1))
    net.target("switch", "s1").unreadable = True
    net.journal.clear()
    with pytest.raises(ApplyError, match=r"^switch s1: read timed out; nothing was changed$"):
        controller().reconcile("t")
    assert net.writes() == []


def test_reconcile_status_and_delete_of_an_unknown_chain(controller, store) -> None:
    for command in ("reconcile", "status", "delete"):
        with pytest.raises(ApplyError, match=rf"^chain nope has not been applied \(no {store.dir}/nope\.json\)$"):
            getattr(controller(), command)("nope")
