"""EntryScope of match tables (issue 16, the SDE's tna_exact_match EntryScopeTest): a symmetric table has one copy
of its entries for every pipe; a single-pipe or user-defined pipe scope gives each scope its own copy, written and
read with a pipe of that scope as the target, and the data plane looks a packet up in its ingress pipe's copy.
Program: tests/emulator/p4/exact_forward.p4 (forward: dst MAC -> hit(port))."""

from __future__ import annotations

import pytest
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.interp import runtime as R
from srchain_emu.interp.pipeline import Pipeline

TABLE = "SwitchIngress.forward"
DST = 0x020000000002
P0, P1 = 1, 129  # ingress ports in pipe 0 and pipe 1


def frame() -> bytes:
    return DST.to_bytes(6, "big") + bytes.fromhex("020000000001" "0800") + bytes(46)


def out_port(p: Pipeline, port: int) -> int | None:
    outs = p.process(port, frame(), 0)
    return outs[0].port if outs else None


def test_in_process_each_pipe_looks_up_its_own_copy():
    p = Pipeline.from_file(P4_DIR / "exact_forward.p4", num_pipes=2)
    t = p.table("forward")
    t.set_scope((0, 1))
    before = t.select_copy(1)
    t.insert([DST], "SwitchIngress.hit", {"port": 5})
    t.select_copy(before)
    assert (out_port(p, P0), out_port(p, P1)) == (None, 5)  # pipe 0's copy is empty: the default drops
    with pytest.raises(R.ConfigError, match="changes only while the table has no entries"):
        t.set_scope((0, 0))
    assert [len(c) for c in t.copies()] == [0, 1]
    p.reset_state()
    assert not t.asymmetric and (out_port(p, P0), out_port(p, P1)) == (None, None)


@pytest.fixture()
def sw(tmp_path):
    server, servicer, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}", num_pipes=2)
    compile_to_dir(P4_DIR / "exact_forward.p4", tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1, timeout=5.0)
    c.subscribe(learn=False)
    c.push_program("exact_forward", tmp_path / "b")
    c.bind("exact_forward")
    try:
        yield c, servicer.programs["exact_forward"].pipeline
    finally:
        c.close()
        server.stop(grace=None)


def set_scope(c: BfrtClient, single: bool = False, user: int | None = None) -> None:
    u = pb.Update(type=pb.Update.INSERT)
    ta = u.entity.table_attribute
    ta.table_id = c.table(TABLE).id
    if user is not None:
        ta.entry_scope.pipe_scope.user_defined = user
    else:
        ta.entry_scope.pipe_scope.predef = pb.Mode.SINGLE if single else pb.Mode.ALL
    c.write([u])


def read_scope(c: BfrtClient) -> pb.Mode:
    req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    ta = req.entities.add().table_attribute
    ta.table_id = c.table(TABLE).id
    ta.entry_scope.SetInParent()
    (resp,) = list(c.stub.Read(req))
    return resp.entities[0].table_attribute.entry_scope.pipe_scope


def usage(c: BfrtClient, pipe: int) -> int:
    req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=pipe))
    req.entities.add().table_usage.table_id = c.table(TABLE).id
    (resp,) = list(c.stub.Read(req))
    return resp.entities[0].table_usage.usage


def test_single_pipe_scope_over_bf_runtime(sw):
    c, pipeline = sw
    key = {"hdr.ethernet.dst_addr": DST}
    with pytest.raises(BfrtError, match="is symmetric"):
        c.write([c.make_update(pb.Update.INSERT, TABLE, key, "SwitchIngress.hit", {"port": 5})], pipe=1)
    set_scope(c, single=True)
    assert read_scope(c).predef == pb.Mode.SINGLE
    with pytest.raises(BfrtError, match="is asymmetric"):
        c.insert(TABLE, key, "SwitchIngress.hit", {"port": 5})
    c.write([c.make_update(pb.Update.INSERT, TABLE, key, "SwitchIngress.hit", {"port": 5})], pipe=1)
    assert (out_port(pipeline, P0), out_port(pipeline, P1)) == (None, 5)
    assert (usage(c, 0), usage(c, 1), usage(c, 0xFFFF)) == (0, 1, 1)
    assert [e.data["port"] for e in c.entries(TABLE, key, pipe=1)] == [5]
    with pytest.raises(BfrtError, match="entry not found"):
        c.entries(TABLE, key, pipe=0)
    assert len(c.entries(TABLE, pipe=0xFFFF)) == 1
    with pytest.raises(BfrtError, match="changes only while the table has no entries"):
        set_scope(c)
    assert read_scope(c).predef == pb.Mode.SINGLE, "the refused change left the scope"
    # a batch that fails late rolls back its writes to pipe 1's copy
    bad = c.make_update(pb.Update.INSERT, TABLE, key, "SwitchIngress.hit", {"port": 6})
    good = c.make_update(pb.Update.MODIFY, TABLE, key, "SwitchIngress.hit", {"port": 7})
    with pytest.raises(BfrtError):
        c.write([good, bad], atomicity=pb.WriteRequest.ROLLBACK_ON_ERROR, pipe=1)
    assert out_port(pipeline, P1) == 5
    c.write([c.make_update(pb.Update.DELETE, TABLE, key)], pipe=1)
    set_scope(c)
    assert read_scope(c).predef == pb.Mode.ALL
    c.insert(TABLE, key, "SwitchIngress.hit", {"port": 4})
    assert (out_port(pipeline, P0), out_port(pipeline, P1)) == (4, 4)


def test_user_defined_scopes(sw):
    c, pipeline = sw
    with pytest.raises(BfrtError, match="leaves pipe 1 out"):
        set_scope(c, user=0x01)
    with pytest.raises(BfrtError, match="pipe 0 is in two scopes"):
        set_scope(c, user=0x0301)
    with pytest.raises(BfrtError, match="pipe 2 is not a pipe of the device"):
        set_scope(c, user=0x0403)
    set_scope(c, user=0x0201)  # scope 0: pipe 0, scope 1: pipe 1
    assert read_scope(c).user_defined == 0x0201
    key = {"hdr.ethernet.dst_addr": DST}
    c.write([c.make_update(pb.Update.INSERT, TABLE, key, "SwitchIngress.hit", {"port": 3})], pipe=0)
    assert (out_port(pipeline, P0), out_port(pipeline, P1)) == (3, None)
    # moved to the other scope while the data plane last used pipe 1's copy (tna_exact_match's EntryScopeTest):
    # the deferred lookup rebuild of a batch reaches the copy it changed, not only the one selected at its end
    c.write([c.make_update(pb.Update.DELETE, TABLE, key)], pipe=0)
    c.write([c.make_update(pb.Update.INSERT, TABLE, key, "SwitchIngress.hit", {"port": 4})], pipe=1)
    assert (out_port(pipeline, P1), out_port(pipeline, P0)) == (4, None)


def test_entry_targets_name_the_scope(sw):
    """tna_exact_match's ExactMatchEntryTgtTest: each entry's own target (entry_tgt) overrides the request's, and
    reads of an asymmetric table that name an entry target get each entry's scope by its first pipe (only then,
    as the SDE's table_read_all)."""
    c, pipeline = sw
    set_scope(c, single=True)
    req = pb.WriteRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    for pipe, port in ((0, 3), (1, 4)):
        u = c.make_update(pb.Update.INSERT, TABLE, {"hdr.ethernet.dst_addr": DST}, "SwitchIngress.hit",
                          {"port": port})
        u.entity.table_entry.entry_tgt.CopyFrom(pb.TargetDevice(device_id=0, pipe_id=pipe))
        req.updates.append(u)
    c.stub.Write(req)
    assert (out_port(pipeline, P0), out_port(pipeline, P1)) == (3, 4)
    rreq = pb.ReadRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    te = rreq.entities.add().table_entry
    te.table_id = c.table(TABLE).id
    assert [e.HasField("entry_tgt") for e in c.read(rreq)] == [False, False], "no entry target asked, none given"
    te.entry_tgt.CopyFrom(pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    got = sorted((e.entry_tgt.pipe_id, e.entry_tgt.prsr_id) for e in c.read(rreq))
    assert got == [(0, 0xFF), (1, 0xFF)]


def test_entry_handles_as_tna_exact_match_reads_them(sw):
    """Entry handles (tna_exact_match's ExactMatchEntryTgtTest): handle_get in an entry's pipe, then entry_get by
    handle with and without key_only; a modify keeps the handle, a delete ends it and a re-insert gets another;
    the key of another pipe's copy has no handle there; a read through another pipe is refused as pipe_mgr does
    (from the software state: not found; from the hardware: an invalid argument)."""
    c, _ = sw
    set_scope(c, single=True)
    keys = [{"hdr.ethernet.dst_addr": DST + i} for i in range(4)]
    for i, key in enumerate(keys):
        c.write([c.make_update(pb.Update.INSERT, TABLE, key, "SwitchIngress.hit", {"port": 10 + i})], pipe=i % 2)
    handles = [c.handle(TABLE, key, pipe=i % 2) for i, key in enumerate(keys)]
    assert len(set(handles)) == 4 and 0 not in handles
    for i, h in enumerate(handles):
        full = c.entry_by_handle(TABLE, h, pipe=i % 2)
        assert (full.key, full.action, full.data["port"], full.pipe) == (keys[i], "SwitchIngress.hit", 10 + i, i % 2)
        only = c.entry_by_handle(TABLE, h, key_only=True)
        assert (only.key, only.action, only.data, only.pipe) == (keys[i], None, {}, i % 2)
    with pytest.raises(BfrtError, match=r"NOT_FOUND: .*entity 0: Entry not found in table:pipe\.SwitchIngress\.fo"):
        c.handle(TABLE, keys[0], pipe=1)  # in pipe 0's copy only
    with pytest.raises(BfrtError, match=r"INVALID_ARGUMENT: .*entry handle \d+ is not in pipe 1's scope"):
        c.entry_by_handle(TABLE, handles[0], pipe=1, from_hw=True)
    with pytest.raises(BfrtError, match=r"NOT_FOUND: .*is read from the software state with pipe 0, not 1"):
        c.entry_by_handle(TABLE, handles[0], pipe=1)
    c.write([c.make_update(pb.Update.MODIFY, TABLE, keys[0], "SwitchIngress.hit", {"port": 20})], pipe=0)
    assert c.handle(TABLE, keys[0], pipe=0) == handles[0]
    assert c.entry_by_handle(TABLE, handles[0]).data["port"] == 20
    c.write([c.make_update(pb.Update.DELETE, TABLE, keys[0])], pipe=0)
    with pytest.raises(BfrtError, match="NOT_FOUND"):
        c.entry_by_handle(TABLE, handles[0])
    c.write([c.make_update(pb.Update.INSERT, TABLE, keys[0], "SwitchIngress.hit", {"port": 10})], pipe=0)
    assert c.handle(TABLE, keys[0], pipe=0) not in handles
    d = c.entry_by_handle(TABLE, 1, pipe=1, from_hw=True)  # handle 1: the default entry (pipe_mgr's first)
    assert (d.key, d.action, d.is_default) == ({}, "SwitchIngress.miss", False)  # unflagged, as the SDE answers
    req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    req.entities.add().handle.table_id = c.table(TABLE).id
    with pytest.raises(BfrtError, match="Invalid key is mandatory for get handle operation"):
        c.read_entities(req)
