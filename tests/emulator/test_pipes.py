"""Per-pipe state (issue 15 item 3): Tofino 1 keeps registers, counters and meters once per pipe (the pipe of a
device port is dev_port >> 7); ingress uses the ingress port's pipe, egress the egress port's. Match tables are
symmetric. BF Runtime reads for pipe_id 0xFFFF return a register field per pipe, in pipe order (open-p4studio
tna_register/test.py), a counter summed over the pipes (pipe_mgr_stat_mgr_ent_query). Program:
tests/emulator/p4/pipes.p4."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.cli import switch_cli
from srchain_emu.interp.pipeline import Pipeline
from srchain_emu.ports import PortsError, PortSpec, check_pipes

ETH = bytes.fromhex("020000000002" "020000000001" "88b5")
P0, P1 = 1, 129  # device ports in pipe 0 and in pipe 1 (dev_port >> 7)


def frame(oport: int, idx: int) -> bytes:
    return ETH + oport.to_bytes(2, "big") + bytes([idx]) + bytes(9) + bytes(40)


def old_ig(out) -> int:
    return int.from_bytes(out.frame[17:21], "big")


def old_eg(out) -> int:
    return int.from_bytes(out.frame[21:25], "big")


def colour(out) -> int:
    return out.frame[25]


def send(p, port: int, oport: int, idx: int = 3):
    (o,) = p.process(port, frame(oport, idx), 0)
    return o


@pytest.fixture
def pipeline():
    return Pipeline.from_file(P4_DIR / "pipes.p4")


@pytest.fixture
def sw(tmp_path):
    srv, servicer, port = serve("127.0.0.1:0", num_pipes=2)
    compile_to_dir(P4_DIR / "pipes.p4", tmp_path / "out")
    c = BfrtClient(f"127.0.0.1:{port}")
    c.subscribe(learn=False)
    c.push_program("pipes", tmp_path / "out")
    c.bind("pipes")
    try:
        yield c, servicer
    finally:
        c.close()
        srv.stop(grace=None)


def test_a_register_written_in_pipe_0_is_invisible_in_pipe_1(pipeline):
    assert [old_ig(send(pipeline, P0, P0)) for _ in range(3)] == [0, 1, 2]
    assert [old_ig(send(pipeline, P1, P1)) for _ in range(2)] == [0, 1]  # pipe 1's own cell
    assert old_ig(send(pipeline, P0, P0)) == 3
    assert [pipeline.register("seen").read(3, p) for p in range(4)] == [(4,), (2,), (0,), (0,)]


def test_egress_uses_the_egress_ports_pipe(pipeline):
    # in through pipe 0, out through pipe 1: ingress counts in pipe 0, egress in pipe 1
    assert [old_eg(send(pipeline, P0, P1)) for _ in range(2)] == [0, 1]
    assert old_eg(send(pipeline, P0, P0)) == 0
    assert old_eg(send(pipeline, P1, 130)) == 2
    assert [pipeline.register("eg_seen").read(3, p)[0] for p in range(2)] == [1, 3]
    assert [pipeline.register("Ig.seen").read(3, p)[0] for p in range(2)] == [3, 1]


def test_a_packet_sent_to_a_pipes_recirculation_port_reenters_that_pipe(pipeline):
    send(pipeline, P1, P1)  # pipe 1's cells: seen 1, eg_seen 1
    o = send(pipeline, P0, 68 + 128)  # pipe 0 ingress -> pipe 1 egress -> pipe 1 ingress on 196 -> port 2
    assert (o.port, old_ig(o), old_eg(o)) == (2, 1, 0)  # the second ingress pass read pipe 1's cell
    assert [pipeline.register("seen").read(3, p)[0] for p in range(2)] == [1, 2]
    assert [pipeline.register("eg_seen").read(3, p)[0] for p in range(2)] == [1, 2]
    assert pipeline.stats["recirculated"] == 1


def test_python_api_writes_every_pipe_or_one(pipeline):
    reg = pipeline.register("seen")
    reg.write(5, (100,))
    reg.write(5, (7,), pipe=2)
    assert reg.read_pipes(5) == [(100,), (100,), (7,), (100,)]
    assert old_ig(send(pipeline, 2 * 128 + 4, P0, idx=5)) == 7


def test_bfrt_register_reads_one_value_per_pipe_and_writes_one_pipe(sw):
    c, servicer = sw
    for _ in range(3):
        send(servicer, P0, P0)
    send(servicer, P1, P1)
    assert c.register_read("Ig.seen", 3) == {"f1": [3, 1]}  # 0xFFFF: pipe order
    (row,) = c.entries("Ig.seen", {"$REGISTER_INDEX": 3}, pipe=1)
    assert row.data == {"Ig.seen.f1": [1]}
    c.modify("Ig.seen", {"$REGISTER_INDEX": 3}, None, {"Ig.seen.f1": 50}, pipe=1)
    assert c.register_read("Ig.seen", 3) == {"f1": [3, 50]}
    assert old_ig(send(servicer, P1, P1)) == 50
    assert old_ig(send(servicer, P0, P0)) == 3
    c.register_write("Ig.seen", 3, {"f1": 9})  # all pipes
    assert c.register_read("Ig.seen", 3) == {"f1": [9, 9]}


def test_bfrt_register_scope_writes_every_pipe_of_the_target_scope(sw):
    """EntryScope on a register table (tna_register RegisterAttributesTest): a write through one pipe sets that
    pipe's scope (SINGLE: the pipe; user-defined: the scope's pipes); 0xFFFF writes are refused while asymmetric;
    reads give every pipe; ALL again writes as before."""
    c, _servicer = sw

    def scope(single: bool = False, user: int | None = None) -> None:
        u = pb.Update(type=pb.Update.INSERT)
        ta = u.entity.table_attribute
        ta.table_id = c.table("Ig.seen").id
        if user is not None:
            ta.entry_scope.pipe_scope.user_defined = user
        else:
            ta.entry_scope.pipe_scope.predef = pb.Mode.SINGLE if single else pb.Mode.ALL
        c.write([u])

    c.register_write("Ig.seen", 3, {"f1": 1})
    scope(single=True)
    c.modify("Ig.seen", {"$REGISTER_INDEX": 3}, None, {"Ig.seen.f1": 5}, pipe=1)
    assert c.register_read("Ig.seen", 3) == {"f1": [1, 5]}
    with pytest.raises(BfrtError, match=r"register pipe\.Ig\.seen is asymmetric \(EntryScope\): written through a"):
        c.register_write("Ig.seen", 3, {"f1": 9})
    assert c.register_read("Ig.seen", 3) == {"f1": [1, 5]}, "the refused write changed nothing"
    scope(user=0x03)  # pipes 0 and 1 in one scope
    req = pb.ReadRequest(client_id=c.client_id, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    ta = req.entities.add().table_attribute
    ta.table_id = c.table("Ig.seen").id
    ta.entry_scope.SetInParent()
    (ent,) = c.read_entities(req)
    assert ent.table_attribute.entry_scope.pipe_scope.user_defined == 0x03
    c.modify("Ig.seen", {"$REGISTER_INDEX": 3}, None, {"Ig.seen.f1": 7}, pipe=0)
    assert c.register_read("Ig.seen", 3) == {"f1": [7, 7]}
    scope()
    c.register_write("Ig.seen", 3, {"f1": 2})
    assert c.register_read("Ig.seen", 3) == {"f1": [2, 2]}


def test_bfrt_counters_are_per_pipe_and_summed_for_all_pipes(sw):
    c, servicer = sw
    for _ in range(3):
        send(servicer, P0, P0)
    for _ in range(2):
        send(servicer, P1, P1)
    nbytes = len(frame(P0, 3)) + 4  # byte counters count the Ethernet FCS, as a Tofino does

    def counts(pipe=None):
        (row,) = c.entries("Ig.ig_cnt", {"$COUNTER_INDEX": 3}, pipe=pipe)
        return row.data["$COUNTER_SPEC_PKTS"], row.data["$COUNTER_SPEC_BYTES"]

    assert counts() == (5, 5 * nbytes)
    assert counts(0) == (3, 3 * nbytes)
    assert counts(1) == (2, 2 * nbytes)
    c.modify("Ig.ig_cnt", {"$COUNTER_INDEX": 3}, None, {"$COUNTER_SPEC_PKTS": 0, "$COUNTER_SPEC_BYTES": 0}, pipe=0)
    assert counts() == (2, 2 * nbytes)
    # written for all pipes: the value is the instance's and every pipe counts on from 0 under it
    # (pipe_mgr_stat_mgr_ent_set), so it reads back as written (tna_counter IndirectCounterIteratorTest)
    c.modify("Ig.ig_cnt", {"$COUNTER_INDEX": 3}, None, {"$COUNTER_SPEC_PKTS": 278, "$COUNTER_SPEC_BYTES": 64})
    assert counts() == (278, 64)
    send(servicer, P1, P1)
    assert counts() == (279, 64 + nbytes) and counts(1) == (1, nbytes)


def test_meters_keep_one_bucket_per_pipe(sw):
    c, servicer = sw
    c.modify("Ig.ig_mtr", {"$METER_INDEX": 3}, None, {"$METER_SPEC_CIR_PPS": 1, "$METER_SPEC_PIR_PPS": 1,
                                                       "$METER_SPEC_CBS_PKTS": 2, "$METER_SPEC_PBS_PKTS": 2})
    assert [colour(send(servicer, P0, P0)) for _ in range(3)] == [0, 0, 3]  # pipe 0's burst of 2 is used up
    assert [colour(send(servicer, P1, P1)) for _ in range(3)] == [0, 0, 3]  # pipe 1 has its own bucket


def test_pipe_ids_beyond_the_device_and_symmetric_tables_are_refused(sw):
    c, _servicer = sw
    with pytest.raises(BfrtError, match=r"pipe_id 0x2 is neither a pipe of 0..1 nor 0xffff"):
        c.entries("Ig.seen", {"$REGISTER_INDEX": 3}, pipe=2)
    with pytest.raises(BfrtError, match=r"pipe_id 0x2 is neither"):
        c.modify("Ig.seen", {"$REGISTER_INDEX": 3}, None, {"Ig.seen.f1": 1}, pipe=2)


def test_the_fixed_tables_know_the_devices_pipes(sw):
    c, _servicer = sw
    with pytest.raises(BfrtError, match=r"pipe_id 0x2 is not one pipe of 0\.\.1"):  # the TM's queues: 2 pipes
        c.modify("tf1.tm.queue.sched_cfg", {"pg_id": 0, "pg_queue": 1}, None, {"max_priority": "7"}, pipe=2)
    c.modify("tf1.tm.queue.sched_cfg", {"pg_id": 0, "pg_queue": 1}, None, {"max_priority": "7"}, pipe=1)
    with pytest.raises(BfrtError, match=r"pipe 0\.\.1"):  # pipe 2's packet generator port
        c.modify("tf1.pktgen.port_cfg", {"dev_port": 324}, None, {"pktgen_enable": True})
    c.modify("tf1.pktgen.port_cfg", {"dev_port": 196}, None, {"pktgen_enable": True})


def test_match_table_writes_for_one_pipe_are_refused(tmp_path):
    srv, _servicer, port = serve("127.0.0.1:0")
    compile_to_dir(P4_DIR / "exact_forward.p4", tmp_path / "out")
    c = BfrtClient(f"127.0.0.1:{port}")
    try:
        c.subscribe(learn=False)
        c.push_program("exact_forward", tmp_path / "out")
        c.bind("exact_forward")
        with pytest.raises(BfrtError, match=r"is symmetric .* write it with pipe_id 0xffff, not 0x1"):
            c.delete("forward", pipe=1)
        c.delete("forward")  # all pipes
    finally:
        c.close()
        srv.stop(grace=None)


def test_ports_beyond_the_configured_pipes_are_refused():
    assert Pipeline.from_file(P4_DIR / "pipes.p4", num_pipes=2).num_pipes == 2
    p = Pipeline.from_file(P4_DIR / "pipes.p4", num_pipes=1)
    assert p.process(P1, frame(P0, 3), 0) == []
    assert p.stats["drop_port_pipe_absent"] == 1
    assert p.process(P0, frame(P1, 3), 0) == []  # to a port of an absent pipe
    assert p.stats["drop_egress_port_pipe_absent"] == 1
    assert len(p.process(P0, frame(P0, 3), 0)) == 1
    with pytest.raises(ValueError, match=r"num_pipes 5: a Tofino 1 has 1\.\.4 pipes"):
        Pipeline.from_file(P4_DIR / "pipes.p4", num_pipes=5)
    with pytest.raises(PortsError, match=r"ports.json: device_port 129 \(veth2\) is in pipe 1, but the switch "
                                          r"has 1 pipe\(s\)"):
        check_pipes([PortSpec(1, "veth0"), PortSpec(129, "veth2")], 1, "ports.json")


def test_switch_run_refuses_a_port_beyond_num_pipes(tmp_path):
    ports = tmp_path / "ports.json"
    ports.write_text('{"PortToIf": [{"device_port": 0, "if": "eth0"}, {"device_port": 384, "if": "lo"}]}')
    res = CliRunner().invoke(switch_cli, ["run", "--ports", str(ports), "--num-pipes", "2"])
    assert res.exit_code == 1
    assert "device_port 384 (lo) is in pipe 3, but the switch has 2 pipe(s)" in res.output
