"""Match-table requests as the SDE's BF Runtime server answers them, which the SDE's own PTF tests rely on:
table usage reads, direct resources on the default entry, and a MODIFY whose data omits action parameters."""

from __future__ import annotations

import json
from types import SimpleNamespace

import grpc
import pytest
from emu_helpers import P4_DIR, batch_codes

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.interp import runtime as R

TABLE = "SwitchIngress.forward"
ALL_PIPES = pb.TargetDevice(device_id=0, pipe_id=0xFFFF)  # symmetric tables: every pipe, as the SDE client writes


def program(tmp_path) -> str:
    """exact_forward.p4 with a DirectMeter beside its DirectCounter, a two-parameter action and a default
    action the control plane may change."""
    src = (P4_DIR / "exact_forward.p4").read_text()
    for old, new in (
        ("action hit(PortId_t port) {", "DirectMeter(MeterType_t.BYTES) dm;\n"
         "    action hit(PortId_t port, bit<16> tag) {\n"
         "        hdr.ethernet.ether_type = tag;\n        hdr.ipv4.diffserv = dm.execute();"),
        ("@defaultonly miss;", "miss;"),
        ("const default_action = miss(0x1);", "default_action = miss(0x1);"),
        ("counters = fwd_counter;", "counters = fwd_counter;\n        meters = dm;"),
        ("forward.apply();", "forward.apply();\n        ic.count(1);"),
        ("DirectMeter(MeterType_t.BYTES) dm;", "DirectMeter(MeterType_t.BYTES) dm;\n"
         "    Counter<bit<32>, bit<8>>(16, CounterType_t.PACKETS_AND_BYTES) ic;"),
    ):
        assert old in src
        src = src.replace(old, new)
    path = tmp_path / "direct_res.p4"
    path.write_text(src.replace('"common_headers.p4"', f'"{P4_DIR / "common_headers.p4"}"'))
    return str(path)


@pytest.fixture()
def served(tmp_path):
    server, servicer, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    compile_to_dir(program(tmp_path), tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1)
    c.subscribe(learn=False)
    c.push_program("direct_res", tmp_path / "b")
    c.bind("direct_res")
    try:
        yield c, servicer
    finally:
        c.close()
        server.stop(grace=None)


@pytest.fixture()
def client(served):
    return served[0]


def usage(c: BfrtClient, table: str) -> int:
    req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    req.entities.add().table_usage.table_id = c.table(table).id
    (ent,) = [e for resp in c.stub.Read(req) for e in resp.entities]
    return ent.table_usage.usage


def test_usage_counts_entries(client):
    c = client
    assert usage(c, TABLE) == 0
    for mac in (0x111111111111, 0x222222222222):
        c.insert(TABLE, {"hdr.ethernet.dst_addr": mac}, "SwitchIngress.hit", {"port": 1, "tag": 2})
    c.set_default(TABLE, "SwitchIngress.miss", {"drop": 0})
    assert usage(c, TABLE) == 2, "the default entry is not counted"
    c.delete(TABLE)
    assert usage(c, TABLE) == 0
    req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(pipe_id=0xFFFF))
    req.entities.add().table_usage.table_id = c.table(TABLE).id
    req.entities.add().table_usage.table_id = 12345
    call = c.stub.Read(req)
    (resp,) = [next(call)]  # the entity that could be read, then the other's error
    assert resp.entities[0].table_usage.usage == 0
    with pytest.raises(grpc.RpcError) as info:
        next(call)
    assert batch_codes(info.value) == ["OK", "NOT_FOUND"] and "12345" in info.value.details()


def test_default_entry_takes_direct_counter_and_meter(client):
    c = client
    c.set_default(TABLE, "SwitchIngress.miss", {"drop": 0, "$COUNTER_SPEC_PKTS": 7, "$COUNTER_SPEC_BYTES": 700,
                                                 "$METER_SPEC_CIR_KBPS": 1000, "$METER_SPEC_PIR_KBPS": 2000,
                                                 "$METER_SPEC_CBS_KBITS": 10, "$METER_SPEC_PBS_KBITS": 20})
    (d,) = c.entries(TABLE, default=True)
    assert (d.action, d.data["drop"], d.data["$COUNTER_SPEC_PKTS"], d.data["$COUNTER_SPEC_BYTES"]) == \
        ("SwitchIngress.miss", 0, 7, 700)
    assert (d.data["$METER_SPEC_CIR_KBPS"], d.data["$METER_SPEC_PBS_KBITS"]) == (1000, 20)
    with pytest.raises(BfrtError) as info:  # PIR below CIR: refused, and the default stays as it was
        c.set_default(TABLE, "SwitchIngress.miss", {"drop": 1, "$METER_SPEC_CIR_KBPS": 5000,
                                                     "$METER_SPEC_PIR_KBPS": 10})
    assert "peak rate" in str(info.value)


def test_modify_without_action_parameters_zeroes_them(client):
    c = client
    key = {"hdr.ethernet.dst_addr": 0x222222222222}
    c.insert(TABLE, key, "SwitchIngress.hit", {"port": 5, "tag": 0x800})
    c.modify(TABLE, key, "SwitchIngress.hit", {"$COUNTER_SPEC_PKTS": 3, "$METER_SPEC_CIR_KBPS": 100,
                                               "$METER_SPEC_PIR_KBPS": 100})
    (e,) = c.entries(TABLE, key)
    assert (e.data["port"], e.data["tag"], e.data["$COUNTER_SPEC_PKTS"]) == (0, 0, 3)
    assert e.data["$METER_SPEC_CIR_KBPS"] == 100
    c.modify(TABLE, key, "SwitchIngress.hit", {"tag": 9})
    (e,) = c.entries(TABLE, key)
    assert (e.data["port"], e.data["tag"]) == (0, 9)
    with pytest.raises(BfrtError, match="needs parameter tag"):  # an INSERT still names every parameter
        c.insert(TABLE, {"hdr.ethernet.dst_addr": 0x333333333333}, "SwitchIngress.hit", {"port": 1})


def test_register_fields_and_clear(tmp_path):
    """Register data fields as bf-p4c marks them (one value written, one per pipe read back), and DELETE without
    a key (the SDE client's entry_del(target)) resets every cell."""
    server, _, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    compile_to_dir(P4_DIR / "flow_counter.p4", tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1)
    try:
        c.subscribe(learn=False)
        c.push_program("flow_counter", tmp_path / "b")
        c.bind("flow_counter")
        reg = "SwitchIngress.flow_packets"
        info = [t for t in json.loads(c.pipeline().config[0].bfruntime_info)["tables"] if t["name"].endswith(reg)]
        (field,) = [d["singleton"] for d in info[0]["data"]]
        assert (field["repeated"], field["annotations"]) == (False, [{"name": "$bfrt_field_class",
                                                                     "value": "register_data"}])
        c.register_write(reg, 3, {"f1": 42})
        c.register_write(reg, 7, {"f1": 9})
        assert c.register_read(reg, 3)["f1"][0] == 42
        c.delete(reg)
        assert c.register_read(reg, 3)["f1"][0] == 0 and c.register_read(reg, 7)["f1"][0] == 0
        with pytest.raises(BfrtError, match="cannot be deleted"):
            c.delete(reg, {"$REGISTER_INDEX": 3})
    finally:
        c.close()
        server.stop(grace=None)


def test_failed_updates_are_reported_per_update(client):
    """A Write that fails answers as the SDE's server: UNKNOWN, with one error per update up to the last failed
    one (OK for those that took effect under CONTINUE_ON_ERROR); the project's client names the first failed
    update's code."""
    c = client
    good = c.make_update(pb.Update.INSERT, TABLE, {"hdr.ethernet.dst_addr": 0x1}, "SwitchIngress.hit",
                         {"port": 1, "tag": 2})
    dup = c.make_update(pb.Update.INSERT, TABLE, {"hdr.ethernet.dst_addr": 0x1}, "SwitchIngress.hit",
                        {"port": 1, "tag": 2})
    missing = c.make_update(pb.Update.DELETE, TABLE, {"hdr.ethernet.dst_addr": 0x9})
    other = c.make_update(pb.Update.INSERT, TABLE, {"hdr.ethernet.dst_addr": 0x2}, "SwitchIngress.hit",
                          {"port": 3, "tag": 4})
    req = pb.WriteRequest(client_id=1, target=ALL_PIPES, atomicity=pb.WriteRequest.CONTINUE_ON_ERROR)
    req.updates.extend([good, dup, other, missing])
    with pytest.raises(grpc.RpcError) as info:
        c.stub.Write(req)
    assert batch_codes(info.value) == ["OK", "ALREADY_EXISTS", "OK", "NOT_FOUND"]
    assert usage(c, TABLE) == 2, "the updates that succeeded stay"
    with pytest.raises(BfrtError) as err:
        c.write([dup])
    assert err.value.code == "ALREADY_EXISTS"


def attribute_write(c: BfrtClient, table: str, fill, pipe: int = 0xFFFF) -> None:
    req = pb.WriteRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=pipe))
    upd = req.updates.add(type=pb.Update.INSERT)
    upd.entity.table_attribute.table_id = c.table(table).id
    fill(upd.entity.table_attribute)
    c.stub.Write(req)


def attribute_read(c: BfrtClient, table: str, which: str, pipe: int = 0xFFFF) -> pb.TableAttribute:
    req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=pipe))
    ta = req.entities.add().table_attribute
    ta.table_id = c.table(table).id
    getattr(ta, which).SetInParent()
    (ent,) = [e for resp in c.stub.Read(req) for e in resp.entities]
    return ent.table_attribute


def test_entry_scope_attribute(client):
    """Pipe scopes of match tables are modelled (tests/emulator/test_entry_scope.py); gress and parser scopes
    other than ALL are refused, not ignored."""
    c = client
    attribute_write(c, TABLE, lambda ta: setattr(ta.entry_scope.pipe_scope, "predef", pb.Mode.ALL))
    got = attribute_read(c, TABLE, "entry_scope")
    assert (got.entry_scope.pipe_scope.predef, got.entry_scope.gress_scope.predef) == (pb.Mode.ALL, pb.Mode.ALL)
    assert got.entry_scope.HasField("pipe_scope")
    attribute_write(c, TABLE, lambda ta: setattr(ta.entry_scope.pipe_scope, "predef", pb.Mode.SINGLE))
    assert attribute_read(c, TABLE, "entry_scope").entry_scope.pipe_scope.predef == pb.Mode.SINGLE
    with pytest.raises(grpc.RpcError) as info:
        attribute_write(c, TABLE, lambda ta: setattr(ta.entry_scope.gress_scope, "predef", pb.Mode.SINGLE))
    assert batch_codes(info.value) == ["UNIMPLEMENTED"] and "gress_scope" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:  # pipes 0 and 1 in scope 0; pipes 2 and 3 in none
        attribute_write(c, TABLE, lambda ta: setattr(ta.entry_scope.pipe_scope, "user_defined", 0x3))
    assert batch_codes(info.value) == ["INVALID_ARGUMENT"] and "leaves pipe 2 out" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:  # an attribute the emulator does not know: refused
        attribute_write(c, TABLE, lambda ta: None)
    assert batch_codes(info.value) == ["UNIMPLEMENTED"]


def test_meter_byte_count_adjust(client):
    c = client
    assert attribute_read(c, TABLE, "byte_count_adj").byte_count_adj.byte_count_adjust == 0
    attribute_write(c, TABLE, lambda ta: setattr(ta.byte_count_adj, "byte_count_adjust", -12))
    assert attribute_read(c, TABLE, "byte_count_adj").byte_count_adj.byte_count_adjust == -12
    # per pipe (tna_meter_bytecount_adjust's PerPipe tests): a pipe's write leaves the others; 0xFFFF reads pipe 0
    attribute_write(c, TABLE, lambda ta: setattr(ta.byte_count_adj, "byte_count_adjust", -16), pipe=1)

    def adjust(pipe: int) -> int:
        return attribute_read(c, TABLE, "byte_count_adj", pipe).byte_count_adj.byte_count_adjust
    assert [adjust(p) for p in (0, 1, 2, 0xFFFF)] == [-12, -16, -12, -12]


def test_byte_count_adjust_changes_what_a_meter_sees():
    # CIR = PIR 8 kbit/s, bursts 1 kbit = 125 bytes: a 100-byte packet fits, 100 + 30 adjusted bytes do not; the
    # adjustment is the packet's pipe's
    m = R.MeterArray("m", 1, "BYTES", {R.GREEN: R.GREEN, R.YELLOW: R.YELLOW, R.RED: R.RED})
    m.set_num_pipes(2)
    m.adjusts[1] = 30
    for pipe, colour in ((0, R.GREEN), (1, R.RED)):
        m.select(pipe)
        m.cells[0].set_spec((8, 8, 1, 1), False)
        assert m.execute(0, 100, 1) == colour


def test_error_in_resp_and_ignore_not_found(client):
    """The SDE client's call metadata: `error_in_resp` puts every update's (entity's) status in the response
    and the call succeeds; `ignore_not_found` lets a keyed DELETE of a missing entry pass, its status naming
    NOT_FOUND in `code`."""
    c = client
    ins = c.make_update(pb.Update.INSERT, TABLE, {"hdr.ethernet.dst_addr": 0x1}, "SwitchIngress.hit",
                        {"port": 1, "tag": 2})
    gone = c.make_update(pb.Update.DELETE, TABLE, {"hdr.ethernet.dst_addr": 0x7})
    req = pb.WriteRequest(client_id=1, target=ALL_PIPES)
    req.updates.extend([ins, ins, gone])
    resp = c.stub.Write(req, metadata=(("error_in_resp", "1"),))
    assert [s.canonical_code for s in resp.status] == [0, grpc.StatusCode.ALREADY_EXISTS.value[0],
                                                        grpc.StatusCode.NOT_FOUND.value[0]]
    req = pb.WriteRequest(client_id=1, target=ALL_PIPES)
    req.updates.extend([gone])
    resp = c.stub.Write(req, metadata=(("error_in_resp", "1"), ("ignore_not_found", "1")))
    assert [(s.canonical_code, s.code) for s in resp.status] == [(0, grpc.StatusCode.NOT_FOUND.value[0])]
    c.stub.Write(req, metadata=(("ignore_not_found", "1"),))  # no error raised either
    with pytest.raises(grpc.RpcError) as info:
        c.stub.Write(req)
    assert batch_codes(info.value) == ["NOT_FOUND"]
    rreq = pb.ReadRequest(client_id=1, target=pb.TargetDevice(pipe_id=0xFFFF))
    rreq.entities.add().table_usage.table_id = c.table(TABLE).id
    rreq.entities.add().table_usage.table_id = 4242
    (rresp,) = list(c.stub.Read(rreq, metadata=(("error_in_resp", "1"),)))
    assert rresp.entities[0].table_usage.usage == 1
    assert [s.canonical_code for s in rresp.status] == [0, grpc.StatusCode.NOT_FOUND.value[0]]


def test_counter_table_clear(client):
    """DELETE without a key on a Counter table (the SDE client's entry_del(target)) zeroes every cell; a keyed
    DELETE is refused."""
    c = client
    name = "SwitchIngress.ic"
    c.modify(name, {"$COUNTER_INDEX": 2}, None, {"$COUNTER_SPEC_PKTS": 5, "$COUNTER_SPEC_BYTES": 500}, pipe=1)
    assert c.entries(name, {"$COUNTER_INDEX": 2})[0].data["$COUNTER_SPEC_PKTS"] == 5, "pipe 1's cell, summed"
    with pytest.raises(BfrtError, match="cannot be deleted"):
        c.delete(name, {"$COUNTER_INDEX": 2})
    c.delete(name)
    got = c.entries(name, {"$COUNTER_INDEX": 2})[0].data
    assert (got["$COUNTER_SPEC_PKTS"], got["$COUNTER_SPEC_BYTES"]) == (0, 0)


def test_modify_of_an_indirect_entry_with_only_direct_resources(tmp_path):
    """A MODIFY of an indirect table's entry that names no member changes its direct counter and keeps the
    member (tableEntryModInternal); naming neither on INSERT is still refused."""
    src = (P4_DIR / "tna_externs.p4").read_text()
    for old, new in (("action set_c(bit<16> v) { hdr.data.c = v; }",
                      "DirectCounter<bit<32>>(CounterType_t.PACKETS_AND_BYTES) pc;\n"
                      "    action set_c(bit<16> v) { hdr.data.c = v; pc.count(); }"),
                     ("implementation = plain_ap;", "implementation = plain_ap;\n        counters = pc;")):
        assert old in src
        src = src.replace(old, new)
    (tmp_path / "ind.p4").write_text(src)
    server, _, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    compile_to_dir(tmp_path / "ind.p4", tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1)
    try:
        c.subscribe(learn=False)
        c.push_program("ind", tmp_path / "b")
        c.bind("ind")
        c.insert("Ig.plain_ap", {"$ACTION_MEMBER_ID": 1}, "Ig.set_c", {"v": 7})
        c.insert("Ig.prof", {"hdr.data.b": 1}, None, {"$ACTION_MEMBER_ID": 1})
        c.modify("Ig.prof", {"hdr.data.b": 1}, None, {"$COUNTER_SPEC_PKTS": 9})
        (e,) = c.entries("Ig.prof", {"hdr.data.b": 1})
        assert (e.data["$ACTION_MEMBER_ID"], e.data["$COUNTER_SPEC_PKTS"]) == (1, 9)
        with pytest.raises(BfrtError, match="exactly one"):
            c.insert("Ig.prof", {"hdr.data.b": 2}, None, {"$COUNTER_SPEC_PKTS": 1})
    finally:
        c.close()
        server.stop(grace=None)


def test_selector_group_weights_by_repetition():
    """A member listed n times in a group is picked n times as often (the SDE's weighted groups)."""
    one, two = object(), object()
    prof = SimpleNamespace(name="ap", members={1: one, 2: two})
    group = R.SelectorGroup(prof, 16)  # type: ignore[arg-type]
    group.set([1, 2, 2, 2], [True] * 4)
    picks = [group.pick(h) for h in range(400)]
    assert picks.count(two) == 3 * picks.count(one) == 300


def test_read_filtered_by_another_action_fails(client):
    """An entry read whose data names an action other than the entry's is an error, as on the SDE (tna_ternary_match's
    negative get); naming the entry's own action reads it."""
    c = client
    key = {"hdr.ethernet.dst_addr": 0x5}
    c.insert(TABLE, key, "SwitchIngress.hit", {"port": 1, "tag": 2})
    t = c.table(TABLE)

    def read(action: str) -> list[pb.TableEntry]:
        req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(pipe_id=0xFFFF))
        te = req.entities.add().table_entry
        te.table_id = t.id
        te.key.CopyFrom(c._key(t, key, None))
        te.data.action_id = next(a.id for a in t.actions if a.name == action)
        return [e.table_entry for r in c.stub.Read(req) for e in r.entities]

    assert len(read("SwitchIngress.hit")) == 1
    c.insert(TABLE, {"hdr.ethernet.dst_addr": 0x6}, "SwitchIngress.miss", {"drop": 1})
    # all entries, filtered by action: only that action's entries
    req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(pipe_id=0xFFFF))
    te = req.entities.add().table_entry
    te.table_id = t.id
    te.data.action_id = next(a.id for a in t.actions if a.name == "SwitchIngress.miss")
    got = [e.table_entry for r in c.stub.Read(req) for e in r.entities]
    assert [int.from_bytes(e.key.fields[0].exact.value, "big") for e in got] == [0x6]
    with pytest.raises(grpc.RpcError) as info:
        read("SwitchIngress.miss")
    assert batch_codes(info.value) == ["INVALID_ARGUMENT"] and "not SwitchIngress.miss" in info.value.details()


class TickingClock:
    """The server's Write clock advanced by 1 ms at every look: a Write of many updates outlives a short deadline
    at a known update."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def test_a_write_past_its_deadline_stops_there(served):
    """The SDE client's `deadline_sec`/`deadline_nsec` metadata (tna_exact_match ExactMatchTimeoutTest): the server
    serves updates until the deadline, then answers DEADLINE_EXCEEDED; the entries written before it stay, unless
    the batch is ROLLBACK_ON_ERROR (then none does). Out-of-range values set no deadline, as in the SDE."""
    c, servicer = served
    servicer.clock = TickingClock()
    ins = [c.make_update(pb.Update.INSERT, TABLE, {"hdr.ethernet.dst_addr": i}, "SwitchIngress.hit",
                         {"port": 1, "tag": 2}) for i in range(1, 41)]
    deadline = (("deadline_sec", "0"), ("deadline_nsec", "9500000"))  # 9.5 ms: 9 looks of 1 ms after arrival
    req = c._write_request(ins, pb.WriteRequest.CONTINUE_ON_ERROR)
    with pytest.raises(grpc.RpcError) as info:
        c.stub.Write(req, metadata=deadline)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "before the server could serve update 9 of 40; the 9 before it stay" in info.value.details()
    assert usage(c, TABLE) == 9
    c.delete(TABLE)
    req = c._write_request(ins, pb.WriteRequest.ROLLBACK_ON_ERROR)
    with pytest.raises(grpc.RpcError, match="the batch was rolled back"):
        c.stub.Write(req, metadata=deadline)
    assert usage(c, TABLE) == 0
    for ignored in ((("deadline_nsec", "1000000000"),), (("deadline_sec", "-1"),)):
        c.stub.Write(c._write_request(ins[:3], pb.WriteRequest.CONTINUE_ON_ERROR), metadata=ignored)
        assert usage(c, TABLE) == 3
        c.delete(TABLE)
