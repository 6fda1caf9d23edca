"""The apply engine against an emulated switch over real gRPC: install, idempotency, make-before-break
changes, failure + rollback (injected and real), drain on live counters, reconcile after a restart, delete.

Synthetic plans on `exact_forward.p4` (table `forward`, 1024 entries, direct counters) keep these
tests independent of the SR node program; test_apply_chain.py runs the real chain.
"""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from apply_helpers import FWD, HIT, Switch, as_live, bundle, fwd, live_forward, mac, plan_of, switch_factory
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from srchain.apply import AppliedStore, ApplyError, Controller, Drivers, Options
from srchain.bfrt.client import BfrtClient
from srchain.plan.model import Entry

V1 = [fwd(i, 1 + i % 4) for i in range(1, 41)] + [fwd(100, 5, role="classifier")]
# v2: 1..10 unchanged, 11..20 re-pointed, 21..40 gone, 41..60 new; the classifier entry moves.
V2 = ([fwd(i, 1 + i % 4) for i in range(1, 11)] + [fwd(i, 9, 2) for i in range(11, 21)]
      + [fwd(i, 6, 2) for i in range(41, 61)] + [fwd(100, 7, 2, role="classifier")])


@pytest.fixture
def env(tmp_path):
    sw = Switch()
    b = bundle("exact_forward", tmp_path / "out")
    store = AppliedStore(tmp_path / "state")
    ctl_list: list[Drivers] = []

    def controller(**opts) -> Controller:
        d = Drivers(switch_factory(sw, b))
        ctl_list.append(d)
        return Controller(d, store, Options(**{"drain_timeout": 2.0, "drain_interval": 0.05, **opts}))

    try:
        yield sw, store, controller
    finally:
        for d in ctl_list:
            d.close()
        sw.stop()


def test_apply_installs_everything_and_reapply_changes_nothing(env):
    sw, store, controller = env
    r = controller().apply(plan_of(V1))
    assert {op.op for op in r.ops} == {"add"} and len(r.ops) == 41
    assert r.batches == 2  # install batch + flip batch
    assert "pushed program exact_forward" in " ".join(r.notes)
    assert live_forward(sw.address) == as_live(V1)
    assert {e.identity for e in store.entries("t")} == {e.identity for e in V1}

    again = controller().apply(plan_of(V1))
    assert again.ops == [] and again.batches == 0 and again.notes == []  # program already loaded: no push
    assert live_forward(sw.address) == as_live(V1)


def test_change_is_make_before_break_and_lands_exactly(env):
    sw, _, controller = env
    controller().apply(plan_of(V1))
    r = controller().apply(plan_of(V2, version=2))
    phases = [op.phase for op in r.ops]
    assert phases == sorted(phases, key=["install", "flip", "cleanup"].index)
    assert [op.op for op in r.ops if op.phase == "flip"] == ["modify"]
    assert {op.op for op in r.ops if op.phase == "cleanup"} == {"delete"} and len(r.ops) == 10 + 20 + 1 + 20
    assert r.drained is True
    assert live_forward(sw.address) == as_live(V2)


@pytest.mark.parametrize("nth", [1, 2, 3])
def test_injected_failure_on_nth_write_rolls_back_to_the_old_chain(env, nth):
    sw, store, controller = env
    controller().apply(plan_of(V1))
    sw.injector.arm(nth)
    with pytest.raises(ApplyError) as err:
        controller().apply(plan_of(V2, version=2))
    msg = str(err.value)
    assert "switch s1" in msg and f"table {FWD}" in msg and "injected fault" in msg
    phase_entry = {1: mac(11), 2: mac(100), 3: mac(21)}[nth]  # first entry of the failed batch
    assert phase_entry in msg
    assert ("nothing had been changed" in msg) if nth == 1 else ("rolled back" in msg)
    assert live_forward(sw.address) == as_live(V1)  # every entry read back: the old chain, exactly
    assert {e.identity for e in store.entries("t")} == {e.identity for e in V1}  # record unchanged


def test_full_table_names_the_refused_entry_and_leaves_old_chain(env):
    sw, _, controller = env
    controller().apply(plan_of(V1))
    c = BfrtClient.connect(sw.address, client_id=9, timeout=5)
    c.bind("exact_forward")
    foreign = {0x0A0000000000 + i: 3 for i in range(1024 - 41 - 5)}  # leave room for 5 more entries
    c.write([c.make_update(1, FWD, {"hdr.ethernet.dst_addr": k}, "SwitchIngress.hit", {"port": 3}) for k in foreign])
    c.close()
    with pytest.raises(ApplyError) as err:
        controller().apply(plan_of(V2, version=2))
    msg = str(err.value)
    assert "RESOURCE_EXHAUSTED" in msg and f"table {FWD}" in msg
    assert f'entry {{"hdr.ethernet.dst_addr":"{mac(46)}"}}: add failed' in msg  # the 6th new entry did not fit
    assert live_forward(sw.address) == {**as_live(V1), **foreign}


def test_foreign_entry_with_other_content_is_refused_before_any_write(env):
    sw, _, controller = env
    controller().apply(plan_of(V1))
    c = BfrtClient.connect(sw.address, client_id=9, timeout=5)
    c.bind("exact_forward")
    c.insert(FWD, {"hdr.ethernet.dst_addr": int(mac(41).replace(":", ""), 16)}, "SwitchIngress.hit", {"port": 2})
    c.close()
    before = live_forward(sw.address)
    with pytest.raises(ApplyError, match=rf"table {FWD}, entry .*{mac(41)}.*not installed by this chain"):
        controller().apply(plan_of(V2, version=2))
    assert live_forward(sw.address) == before


def _frame(dst: str) -> bytes:
    return bytes(Ether(dst=dst, src="02:00:00:00:99:99") / IP(src="10.0.0.1", dst="10.0.0.2") / UDP() / b"x")


def test_drain_waits_until_old_entries_stop_counting(env):
    sw, _, controller = env
    controller().apply(plan_of(V1))
    stop = threading.Event()
    frame = _frame(mac(30))  # 30 is removed by V2: its counter moves until the sender stops

    def send() -> None:
        end = time.monotonic() + 0.8
        while not stop.is_set() and time.monotonic() < end:
            sw.servicer.process(0, frame)
            time.sleep(0.005)

    t = threading.Thread(target=send)
    t.start()
    try:
        time.sleep(0.1)
        r = controller(drain_interval=0.15, drain_timeout=5).apply(plan_of(V2, version=2))
    finally:
        stop.set()
        t.join()
    assert r.drained is True
    assert r.timings["drain_s"] >= 0.4  # waited for the sender (0.8 s from start) to go quiet
    assert live_forward(sw.address) == as_live(V2)


def test_drain_timeout_is_bounded_and_reported(env):
    sw, _, controller = env
    controller().apply(plan_of(V1))
    stop = threading.Event()

    def send() -> None:
        end = time.monotonic() + 3
        while not stop.is_set() and time.monotonic() < end:
            sw.servicer.process(0, _frame(mac(30)))
            time.sleep(0.005)

    t = threading.Thread(target=send)
    t.start()
    try:
        r = controller(drain_interval=0.1, drain_timeout=0.5).apply(plan_of(V2, version=2))
    finally:
        stop.set()
        t.join()
    assert r.drained is False and 0.4 <= r.timings["drain_s"] < 1.5
    assert any("still counting packets" in n for n in r.notes)
    assert live_forward(sw.address) == as_live(V2)


def test_restart_then_status_and_reconcile_restore_the_chain(env):
    sw, _, controller = env
    controller().apply(plan_of(V1))
    assert controller().status("t")["switch s1"] == {"intended": 41, "ok": 41, "missing": [], "differs": []}
    sw.restart()  # a fresh device: no program, no entries
    down = controller().status("t")["switch s1"]
    assert "program exact_forward" in down["error"] and "not loaded" in down["error"]
    r = controller().reconcile("t")
    assert len(r.ops) == 41 and {op.op for op in r.ops} == {"add"}
    assert "pushed program exact_forward" in " ".join(r.notes)
    assert live_forward(sw.address) == as_live(V1)
    # one entry changed behind the controller's back, one deleted: reconcile repairs just those two
    c = BfrtClient.connect(sw.address, client_id=9, timeout=5)
    c.bind("exact_forward")
    c.modify(FWD, {"hdr.ethernet.dst_addr": int(mac(1).replace(":", ""), 16)}, "SwitchIngress.hit", {"port": 8})
    c.delete(FWD, {"hdr.ethernet.dst_addr": int(mac(2).replace(":", ""), 16)})
    c.close()
    st = controller().status("t")["switch s1"]
    assert st["ok"] == 39 and len(st["missing"]) == 1 and len(st["differs"]) == 1 and mac(2) in st["missing"][0]
    r = controller().reconcile("t")
    assert sorted(op.op for op in r.ops) == ["add", "modify"]
    assert live_forward(sw.address) == as_live(V1)
    assert controller().reconcile("t").ops == []


def test_delete_removes_the_chain_but_keeps_entries_another_chain_records(env):
    sw, store, controller = env
    controller().apply(plan_of(V1))
    shared = fwd(5, 2, version=None, role="route")  # same identity and content as V1's entry 5
    other = [shared, fwd(200, 4, version=None, role="route")]
    controller().apply(plan_of(other, chain="u"))
    r = controller().delete("t")
    assert all(op.op == "delete" for op in r.ops) and r.ops[0].entry.role == "classifier"  # flip entries first
    assert live_forward(sw.address) == as_live(other)
    assert store.load("t") is None and store.chains() == ["u"]
    with pytest.raises(ApplyError, match="chain t has not been applied"):
        controller().status("t")


def test_unreachable_switch_fails_before_any_change(env):
    sw, store, _ = env
    sw.stop()
    with pytest.raises(ApplyError, match=r"switch s1: 127\.0\.0\.1:\d+: no BF Runtime session after 3 attempts"):
        Controller(Drivers(lambda k, n: _connect_fast(sw.address)), store).apply(plan_of(V1))
    assert store.load("t") is None


def _connect_fast(address: str):
    from srchain.bfrt.client import BfrtError
    from srchain.targets.base import TargetError

    try:
        BfrtClient.connect(address, attempts=3, backoff=0.05, timeout=1)
    except BfrtError as exc:
        raise TargetError("switch s1", str(exc), code=exc.code) from None
    raise AssertionError("connected to a stopped switch")


def test_write_failure_code_other_than_unavailable(env):
    sw, _, controller = env
    controller().apply(plan_of(V1))
    sw.injector.arm(2, grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(ApplyError, match=r"PERMISSION_DENIED.*rolled back 30 operation"):
        controller().apply(plan_of(V2, version=2))
    assert live_forward(sw.address) == as_live(V1)


def test_failure_in_a_later_chunk_of_a_big_batch_rolls_back_the_chunks_that_landed(env):
    sw, _, controller = env
    controller().apply(plan_of(V1))
    c = BfrtClient.connect(sw.address, client_id=9, timeout=5)
    c.bind("exact_forward")
    foreign = {0x0A0000000000 + i: 3 for i in range(1024 - 41 - 700)}  # room for 700 more entries
    c.write([c.make_update(1, FWD, {"hdr.ethernet.dst_addr": k}, "SwitchIngress.hit", {"port": 3}) for k in foreign])
    c.close()
    big = V1 + [fwd(1000 + i, 2, 2) for i in range(800)]  # 800 adds: chunks of 500 + 300; the 701st does not fit
    with pytest.raises(ApplyError) as err:
        controller().apply(plan_of(big, version=2))
    # the two chunks (one table, one kind) are in flight together and may land in either order: the one that
    # lands first fits, the other fails on the entry that finds the table full, and the first is rolled back
    msg = str(err.value)
    first_500 = f'"{mac(1000 + 700)}"}}: add failed' in msg and "rolled back 500 operation(s)" in msg
    first_300 = f'"{mac(1000 + 400)}"}}: add failed' in msg and "rolled back 300 operation(s)" in msg
    assert "RESOURCE_EXHAUSTED" in msg and (first_500 or first_300), msg
    assert live_forward(sw.address) == {**as_live(V1), **foreign}


def test_batched_changes_are_what_the_data_plane_matches(env):
    """Inserts and deletes in one Write: lookups afterwards follow the table exactly."""
    sw, _, controller = env
    controller().apply(plan_of(V1))
    controller().apply(plan_of(V2, version=2))
    for i in (1, 15, 45, 30, 100):
        out = sw.servicer.process(0, _frame(mac(i)))
        want = next((e.params["port"] for e in V2 if e.key["hdr.ethernet.dst_addr"] == mac(i)), None)
        assert [o.port for o in out] == ([want] if want is not None else []), i


def test_plan_for_a_table_the_program_lacks_is_refused_before_any_write(env):
    sw, store, controller = env
    controller().apply(plan_of(V1))
    bad = Entry("switch", "s1", "SwitchIngress.no_such_table", {"label": 5}, HIT, {"port": 1}, "sid_forward", 2)
    with pytest.raises(ApplyError) as err:
        controller().apply(plan_of([*V1, bad], version=2))
    assert "table SwitchIngress.no_such_table" in str(err.value) and "nothing was changed" in str(err.value)
    assert live_forward(sw.address) == as_live(V1)
    assert {e.identity for e in store.entries("t")} == {e.identity for e in V1}
