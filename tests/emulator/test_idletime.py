"""Idle time (`idle_timeout = true`, the SDE's tna_idletimeout): the hit bit a lookup sets, notify-mode aging with
ENTRY_IDLE / ENTRY_ACTIVE notifications on the BF Runtime stream, poll mode's UpdateHitState and $ENTRY_HIT_STATE,
the bf-rt.json fields bf-p4c writes, and the refusals. Program: exact_forward.p4 with the property added."""

from __future__ import annotations

import json
import time

import pytest
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_emu import idletime as I
from srchain_emu.bfrt_schema import bfrt_info
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.interp.pipeline import Pipeline

TABLE = "SwitchIngress.forward"
DST = 0x020000000002


def program(tmp_path) -> str:
    src = (P4_DIR / "exact_forward.p4").read_text()
    old = "counters = fwd_counter;"
    assert old in src
    path = tmp_path / "idle_forward.p4"
    path.write_text(src.replace(old, old + "\n        idle_timeout = true;")
                    .replace('"common_headers.p4"', f'"{P4_DIR / "common_headers.p4"}"'))
    return str(path)


def frame(dst: int = DST) -> bytes:
    return dst.to_bytes(6, "big") + bytes.fromhex("020000000001" "0800") + bytes(46)


def test_bfrt_json_has_the_fields_bf_p4c_writes(tmp_path):
    info = bfrt_info(Pipeline.from_file(program(tmp_path)))
    (t,) = [t for t in info["tables"] if t["name"].endswith(TABLE)]
    fields = {d["singleton"]["name"]: d["singleton"] for d in t["data"]}
    assert fields["$ENTRY_HIT_STATE"]["id"] == 65544
    assert fields["$ENTRY_HIT_STATE"]["type"] == {"type": "string", "choices": ["ENTRY_IDLE", "ENTRY_ACTIVE"]}
    assert fields["$ENTRY_TTL"]["id"] == 65543 and fields["$ENTRY_TTL"]["type"]["type"] == "uint32"
    assert "UpdateHitState" in t["supported_operations"] and "IdleTimeout" in t["attributes"]
    plain = bfrt_info(Pipeline.from_file(P4_DIR / "exact_forward.p4"))
    (p,) = [t for t in plain["tables"] if t["name"].endswith(TABLE)]
    assert "IdleTimeout" not in p["attributes"] and "$ENTRY_TTL" not in str(p["data"])


def test_a_hit_sets_the_bit_and_a_sweep_ages_what_was_not_hit(tmp_path):
    p = Pipeline.from_file(program(tmp_path))
    t = p.table("forward")
    t.insert([DST], "SwitchIngress.hit", {"port": 2})
    t.insert([0x020000000003], "SwitchIngress.hit", {"port": 3})
    hot, cold = t.entries[(DST,)], t.entries[(0x020000000003,)]
    I.set_ttl(hot, 300)
    I.set_ttl(cold, 300)
    p.process(1, frame(), 0)
    assert hot.idle_hit and not cold.idle_hit
    assert I.sweep(t, 100) == [] and not hot.idle_hit
    assert (hot.idle.left_ms, cold.idle.left_ms) == (300, 200)
    assert I.sweep(t, 100) == []
    assert I.sweep(t, 100) == [(0, (0x020000000003,), cold, True)]  # 300 ms without a hit: idle, reported once
    assert I.sweep(t, 100) == [(0, (DST,), hot, True)]
    assert I.sweep(t, 100) == []
    p.process(1, frame(), 0)
    assert I.sweep(t, 100) == [(0, (DST,), hot, False)] and hot.idle.left_ms == 300  # active again, TTL restored


def test_an_entry_without_ttl_never_ages(tmp_path):
    p = Pipeline.from_file(program(tmp_path))
    t = p.table("forward")
    t.insert([DST], "SwitchIngress.hit", {"port": 2})
    for _ in range(10):
        assert I.sweep(t, 1000) == []


@pytest.fixture()
def sw(tmp_path):
    server, servicer, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    compile_to_dir(program(tmp_path), tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1, timeout=5.0)
    c.subscribe(learn=False, idle_timeouts=True, entry_active=True)
    c.push_program("idle_forward", tmp_path / "b")
    c.bind("idle_forward")
    try:
        yield c, servicer
    finally:
        c.set_idle_time(TABLE, False)  # stops the sweeps
        c.close()
        server.stop(grace=None)


def attribute(c: BfrtClient):
    from srchain_contracts.bfrt import bfruntime_pb2 as pb

    req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    ta = req.entities.add().table_attribute
    ta.table_id = c.table(TABLE).id
    ta.idle_table.SetInParent()
    (resp,) = list(c.stub.Read(req))
    return resp.entities[0].table_attribute.idle_table


def test_notify_mode_over_grpc(sw):
    c, servicer = sw
    c.set_idle_time(TABLE, True, query_ms=100)
    a = attribute(c)
    assert (a.enable, a.ttl_query_interval, a.idle_table_mode) == (True, 100, 1)
    c.insert(TABLE, {"hdr.ethernet.dst_addr": DST}, "SwitchIngress.hit", {"port": 2, "$ENTRY_TTL": 300})
    start = time.monotonic()
    name, entry, idle = c.idle_notification(timeout=3.0)
    waited = time.monotonic() - start
    assert (name.endswith(TABLE), entry.key, idle) == (True, {"hdr.ethernet.dst_addr": DST}, True)
    assert 0.25 <= waited <= 1.5, waited  # 300 ms TTL at 100-ms sweeps (plus the first sweep's alignment)
    assert c.entries(TABLE, {"hdr.ethernet.dst_addr": DST})[0].data["$ENTRY_TTL"] == 0
    with servicer.lock:  # a packet hits the entry: the next sweep reports it active
        servicer.programs["idle_forward"].tables[c.table(TABLE).id].obj.entries[(DST,)].idle_hit = True
    assert c.idle_notification(timeout=2.0)[2] is False
    left = c.entries(TABLE, {"hdr.ethernet.dst_addr": DST})[0].data["$ENTRY_TTL"]
    assert 0 < left <= 300
    c.delete(TABLE, {"hdr.ethernet.dst_addr": DST})  # the application deletes idle entries, not the switch
    c.set_idle_time(TABLE, False)  # the SDE client's default interval comes with it (tna_idletimeout reads 5000)
    a = attribute(c)
    assert (a.enable, a.ttl_query_interval) == (False, 5000)


def test_poll_mode_follows_tna_idletimeouts_sequence(sw):
    c, servicer = sw
    c.set_idle_time(TABLE, True, poll=True)
    a = attribute(c)
    assert (a.enable, a.ttl_query_interval, a.idle_table_mode) == (True, 0, 0)  # kept in notify mode only
    key = {"hdr.ethernet.dst_addr": DST}
    c.insert(TABLE, key, "SwitchIngress.hit", {"port": 2})

    def state(from_hw: bool = False) -> str:
        from srchain_contracts.bfrt import bfruntime_pb2 as pb

        req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
        te = req.entities.add().table_entry
        te.CopyFrom(c.make_update(pb.Update.INSERT, TABLE, key).entity.table_entry)
        te.table_flags.from_hw = from_hw
        (e,) = c.read(req)
        return next(f.str_val for f in e.data.fields if f.field_id == I.ENTRY_HIT_STATE_ID)

    table = servicer.programs["idle_forward"].tables[c.table(TABLE).id].obj
    assert state() == "ENTRY_IDLE"
    table.entries[(DST,)].idle_hit = True  # what a lookup that hit leaves
    assert state() == "ENTRY_IDLE", "the software state changes only at UpdateHitState"
    c.table_operation(TABLE, "UpdateHitState")
    assert state() == "ENTRY_ACTIVE"
    c.table_operation(TABLE, "UpdateHitState")
    assert state() == "ENTRY_IDLE"
    c.modify(TABLE, key, None, {"$ENTRY_HIT_STATE": "ENTRY_ACTIVE"})
    assert (state(), state(from_hw=True)) == ("ENTRY_ACTIVE", "ENTRY_ACTIVE")
    c.table_operation(TABLE, "UpdateHitState")
    assert state() == "ENTRY_IDLE"
    assert c.entries(TABLE, key)[0].data["port"] == 2, "a MODIFY of the hit state alone keeps the action"


def test_refusals_name_table_and_reason(sw):
    c, _ = sw
    key = {"hdr.ethernet.dst_addr": DST}
    c.set_idle_time(TABLE, True, poll=True)
    with pytest.raises(BfrtError, match=r"poll mode; \$ENTRY_TTL does not apply"):
        c.insert(TABLE, key, "SwitchIngress.hit", {"port": 2, "$ENTRY_TTL": 100})
    assert c.entries(TABLE) == [], "the refused insert left nothing"
    c.insert(TABLE, key, "SwitchIngress.hit", {"port": 2})
    with pytest.raises(BfrtError, match="none of ENTRY_IDLE, ENTRY_ACTIVE"):
        c.modify(TABLE, key, None, {"$ENTRY_HIT_STATE": "BUSY"})
    c.set_idle_time(TABLE, True, query_ms=1000)
    with pytest.raises(BfrtError, match="UpdateHitState needs the idle table enabled in poll mode"):
        c.table_operation(TABLE, "UpdateHitState")
    with pytest.raises(BfrtError, match=r"written in poll mode only"):
        c.modify(TABLE, key, None, {"$ENTRY_HIT_STATE": "ENTRY_ACTIVE"})
    with pytest.raises(BfrtError, match="needs a ttl_query_interval above 0"):
        c.set_idle_time(TABLE, True, query_ms=0)
    with pytest.raises(BfrtError, match="no operation 'Flush'"):
        c.table_operation(TABLE, "Flush")
    c.table_operation(TABLE, "SyncCounters")  # the table has a direct counter: nothing to copy, it succeeds


def test_the_attribute_needs_an_idle_table(tmp_path):
    server, _, _ = serve(f"unix:{tmp_path / 'b.sock'}")
    compile_to_dir(P4_DIR / "exact_forward.p4", tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'b.sock'}", client_id=1, timeout=5.0)
    try:
        c.subscribe(learn=False)
        c.push_program("exact_forward", tmp_path / "b")
        c.bind("exact_forward")
        with pytest.raises(BfrtError, match="not declared with `idle_timeout = true`"):
            c.set_idle_time(TABLE, True)
        with pytest.raises(BfrtError, match="no operation 'UpdateHitState'"):
            c.table_operation(TABLE, "UpdateHitState")
    finally:
        c.close()
        server.stop(grace=None)


def test_table_operations_are_the_ones_bf_rt_json_lists(tmp_path):
    """The pushed bf-rt.json decides (as the SDE's tableOperationsSupported): the same table with SyncCounters
    struck from its list refuses it, naming what is listed; an operation listed for a table that cannot do it
    (UpdateHitState with no idle table) is still refused for the reason."""
    server, _, _ = serve(f"unix:{tmp_path / 'b.sock'}")
    bfrt = compile_to_dir(P4_DIR / "exact_forward.p4", tmp_path / "b")
    info = json.loads(bfrt.read_text())
    (forward,) = [t for t in info["tables"] if t["name"] == f"pipe.{TABLE}"]
    assert forward["supported_operations"] == ["SyncCounters"], "the generator lists the direct counter's sync"
    forward["supported_operations"] = ["UpdateHitState"]
    bfrt.write_text(json.dumps(info))
    c = BfrtClient(f"unix:{tmp_path / 'b.sock'}", client_id=1, timeout=5.0)
    try:
        c.subscribe(learn=False)
        c.push_program("exact_forward", tmp_path / "b")
        c.bind("exact_forward")
        with pytest.raises(BfrtError, match=r"no operation 'SyncCounters' \(bf-rt.json lists: UpdateHitState\)"):
            c.table_operation(TABLE, "SyncCounters")
        with pytest.raises(BfrtError, match="UpdateHitState needs the idle table enabled in poll mode"):
            c.table_operation(TABLE, "UpdateHitState")
    finally:
        c.close()
        server.stop(grace=None)
