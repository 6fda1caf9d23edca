"""The Tofino 1 packet generator (emulator/srchain_emu/pktgen.py): the SDE's tf1.pktgen.* tables over real gRPC,
timer apps on an injected clock, and generated packets through a program's ingress onto a real port."""

from __future__ import annotations

import json
import time

import pytest
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.pktgen import (
    APP_CFG_ID,
    PKT_BUFFER_ID,
    PORT_CFG_ID,
    PacketGenerator,
    PktgenError,
    PktgenUnsupported,
    port_down_header,
    timer_header,
)

PORT, APP, BUF = "tf1.pktgen.port_cfg", "tf1.pktgen.app_cfg", "tf1.pktgen.pkt_buffer"
PAYLOAD = bytes(range(100))


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000_000

    def __call__(self) -> int:
        return self.ns


def armed(gen: PacketGenerator, action: int = 1, timer: int = 1000, **fields: int | bool) -> None:
    """Port 68 on, PAYLOAD at offset 32, app 3 configured (timer 1000 ns, 3 batches of 4) and enabled."""
    gen.write(PORT_CFG_ID, "MODIFY", (68,), {2: True})
    gen.write(PKT_BUFFER_ID, "MODIFY", (32, len(PAYLOAD)), {1: PAYLOAD})
    values = {1: timer, 13: len(PAYLOAD), 14: 32, 17: 2, 18: 3, **{
        {"ipg": 21, "ibg": 19, "app_enable": 12}[k]: v for k, v in fields.items()}}
    gen.write(APP_CFG_ID, "MODIFY", (3,), values, action)
    gen.write(APP_CFG_ID, "MODIFY", (3,), {12: True})


def counters(gen: PacketGenerator) -> tuple:
    (_, row, _), = gen.read(APP_CFG_ID, (3,))
    return row[25], row[23], row[24]  # trigger, batch, packet counters


def test_one_shot_timer_makes_its_batches_once_with_the_timer_header():
    clock = Clock()
    gen = PacketGenerator(clock)
    armed(gen)
    assert gen.due(clock.ns + 999) == [] and gen.next_due_ns(clock.ns) == 1000
    out = gen.due(clock.ns + 1000)
    assert [p for p, _ in out] == [0] * 12  # pipe 0's pipe_local_source_port (0: not set)
    assert [f[:6] for _, f in out] == [timer_header(0, 3, b, p) for b in range(3) for p in range(4)]
    assert all(f[6:] == PAYLOAD for _, f in out) and out[5][1][:6] == bytes.fromhex("03 00 0001 0001")
    assert counters(gen) == (1, 3, 12)
    clock.ns += 10_000
    assert gen.due(clock.ns) == [] and counters(gen) == (1, 3, 12)  # one shot: it stays enabled, done
    gen.write(APP_CFG_ID, "MODIFY", (3,), {12: False})
    gen.write(APP_CFG_ID, "MODIFY", (3,), {12: True})  # disable + enable triggers again
    assert len(gen.due(clock.ns + 1000)) == 12 and counters(gen) == (2, 6, 24)


def test_periodic_timer_fires_every_period_and_gaps_space_the_packets():
    clock = Clock()
    gen = PacketGenerator(clock)
    armed(gen, action=2, timer=10_000, ipg=100, ibg=1000)
    start = clock.ns
    got = gen.due(start + 10_000)
    assert len(got) == 1  # packet 0 of batch 0 at the trigger; the next one ipg (100 ns) later
    assert len(gen.due(start + 10_000 + 300)) == 3  # batch 0's packets 1..3
    assert len(gen.due(start + 10_000 + 1000)) == 1  # batch 1 starts ibg after batch 0 (start to start)
    assert counters(gen) == (1, 3, 12)
    assert len(gen.due(start + 49_999)) == 7 + 3 * 12  # the rest of trigger 1 and triggers 2..4 (30k, 40k)
    assert counters(gen) == (4, 12, 48)
    gen.write(APP_CFG_ID, "MODIFY", (3,), {12: False})
    assert gen.due(start + 1_000_000) == [] and gen.next_due_ns(start) is None


def test_packets_are_made_only_where_the_generator_port_is_on():
    clock = Clock()
    gen = PacketGenerator(clock)
    armed(gen)
    gen.write(PORT_CFG_ID, "MODIFY", (196,), {2: True})  # pipe 1's generator as well
    out = gen.due(clock.ns + 1000)
    assert sorted({p for p, _ in out}) == [0, 128] and {f[0] >> 3 for _, f in out} == {0, 1}
    assert counters(gen) == (2, 6, 24)


def test_app_counters_are_each_pipes_own_and_all_pipes_read_their_sum():
    """pipe_mgr's bf_pktgen_get_*_counter: a read for one pipe is that pipe's generator's registers, a read for all
    pipes their sum (tna_pktgen's PeriodicTimer checks each pipe against its verify table, OneShotTimer the sum); a
    counter write for one pipe sets that pipe's, for all pipes every pipe's."""
    clock = Clock()
    gen = PacketGenerator(clock)
    armed(gen)
    gen.write(PORT_CFG_ID, "MODIFY", (196,), {2: True})
    assert len(gen.due(clock.ns + 1000)) == 24

    def of(pipe: int | None) -> tuple:
        (_, row, _), = gen.read(APP_CFG_ID, (3,), pipe)
        return row[25], row[23], row[24]

    assert (of(0), of(1), of(2), of(None)) == ((1, 3, 12), (1, 3, 12), (0, 0, 0), (2, 6, 24))
    undo = gen.write(APP_CFG_ID, "MODIFY", (3,), {25: 7}, 0, pipe=1)
    assert (of(0)[0], of(1)[0], of(None)[0]) == (1, 7, 8)
    undo()
    assert of(1) == (1, 3, 12)
    gen.write(APP_CFG_ID, "MODIFY", (3,), {23: 0, 24: 0, 25: 0})  # all pipes: each pipe's set
    assert (of(0), of(1), of(None)) == ((0, 0, 0), (0, 0, 0), (0, 0, 0))


def test_a_recirculated_frame_matching_a_pattern_triggers_the_recirculation_app():
    """tna_pktgen RecircApp (Tofino 1): a frame recirculated on a port with pattern matching and the generator on
    triggers each enabled trigger_recirc_pattern app whose value matches its first 4 bytes under the mask, once per
    frame, in the port's pipe; its packets carry the 3 low bytes of those 4 as `key`."""
    clock = Clock()
    gen = PacketGenerator(clock)
    gen.write(PKT_BUFFER_ID, "MODIFY", (32, len(PAYLOAD)), {1: PAYLOAD})
    gen.write(APP_CFG_ID, "MODIFY", (6,), {4: 0xFF123456, 5: 0xFFFFFFFF, 13: len(PAYLOAD), 14: 32, 18: 1,
                                          12: True}, 4)
    tagged = bytes.fromhex("ff123456") + bytes(60)
    gen.recirculated(196, tagged)
    assert gen.due(clock.ns) == []  # pattern matching off on pipe 1's port
    gen.write(PORT_CFG_ID, "MODIFY", (196,), {2: True, 3: True})
    gen.recirculated(196, bytes.fromhex("ff123457") + bytes(60))  # no match
    assert gen.due(clock.ns) == []
    gen.recirculated(196, tagged)
    out = gen.due(clock.ns)
    assert [(port, f[:6].hex()) for port, f in out] == [(128, "0e1234560000"), (128, "0e1234560001")]
    assert all(f[6:] == PAYLOAD for _, f in out)
    for pipe, made in ((0, (0, 0, 0)), (1, (1, 1, 2))):
        (_, row, action), = gen.read(APP_CFG_ID, (6,), pipe)
        assert (row[25], row[23], row[24]) == made
    assert action == 4 and (row[4], row[5]) == (0xFF123456, 0xFFFFFFFF)


def test_port_down_fires_once_per_armed_port_in_its_pipe():
    """tna_pktgen's PortDownAppTF1 rules: a port fires the first time it goes down after clear_port_down_enable,
    never again until cleared; the packets carry the port, in the port's pipe."""
    clock = Clock()
    gen = PacketGenerator(clock)
    gen.write(PORT_CFG_ID, "MODIFY", (68,), {2: True})
    gen.write(PKT_BUFFER_ID, "MODIFY", (0, len(PAYLOAD)), {1: PAYLOAD})
    gen.write(APP_CFG_ID, "MODIFY", (1,), {13: len(PAYLOAD), 17: 0, 18: 1, 12: True}, 3)
    gen.port_down(5)
    assert gen.due(clock.ns) == []  # not armed: every port starts so
    for port in (5, 6, 130):
        gen.write(PORT_CFG_ID, "MODIFY", (port,), {4: True})
    (_, row, _), = gen.read(PORT_CFG_ID, (5,))
    assert row[4] is True  # armed reads back as clear_port_down_enable
    gen.port_down(5)
    out = gen.due(clock.ns)
    assert [f[:6] for _, f in out] == [port_down_header(0, 1, 5, p) for p in range(2)]
    assert out[1][1][:6] == bytes.fromhex("01 000005 0001") and all(f[6:] == PAYLOAD for _, f in out)
    gen.port_down(5)  # down again without a clear: nothing
    gen.port_down(130)  # pipe 1: its generator port is off, and the port's arming is used up
    assert gen.due(clock.ns + 10**9) == [] and 130 not in gen.armed_ports
    assert counters_of(gen, 1) == (1, 1, 2)
    (_, row, _), = gen.read(PORT_CFG_ID, (5,))
    assert row[4] is False


def counters_of(gen: PacketGenerator, app: int) -> tuple:
    (_, row, _), = gen.read(APP_CFG_ID, (app,))
    return row[25], row[23], row[24]


@pytest.mark.parametrize("table,key,values,action,error,message", [
    (PKT_BUFFER_ID, (8, 100), {1: PAYLOAD}, 0, PktgenError, "offset 8 must be 16-byte aligned"),
    (PKT_BUFFER_ID, (16368, 32), {1: bytes(32)}, 0, PktgenError, "exceed the 16384-byte buffer"),
    (PKT_BUFFER_ID, (0, 100), {1: bytes(99)}, 0, PktgenError, "buffer must be 100 bytes"),
    (PORT_CFG_ID, (1,), {2: True}, 0, PktgenError, "dev_port 1 has no packet generator"),
    (PORT_CFG_ID, (72,), {4: True}, 0, PktgenError, "dev_port 72 is not a port of the device"),
    (PORT_CFG_ID, (68,), {1: True}, 0, PktgenUnsupported, "recirculation_enable: the emulator does not model"),
    (PORT_CFG_ID, (5,), {3: True}, 0, PktgenError, "dev_port 5 has no packet generator"),
    (APP_CFG_ID, (3,), {20: 5}, 1, PktgenUnsupported, "ibg_jitter 5: jitter is not modelled"),
    (APP_CFG_ID, (8,), {12: True}, 1, PktgenError, "app_id 8 out of range 0..7"),
    (APP_CFG_ID, (3,), {13: 1 << 16}, 1, PktgenError, "pkt_len must be a uint16"),
])
def test_refusals_name_the_field_and_change_nothing(table, key, values, action, error, message):
    clock = Clock()
    gen = PacketGenerator(clock)
    armed(gen)
    before = (bytes(gen.buffer), {p: dict(r) for p, r in gen.ports.items()}, gen.read(APP_CFG_ID, None))
    with pytest.raises(error, match=message):
        gen.write(table, "MODIFY", key, values, action)
    assert (bytes(gen.buffer), {p: dict(r) for p, r in gen.ports.items()}, gen.read(APP_CFG_ID, None)) == before
    with pytest.raises(PktgenUnsupported, match="tableEntryMod and tableClear only"):
        gen.write(PORT_CFG_ID, "INSERT", (68,), {2: True})
    with pytest.raises(PktgenUnsupported, match="tableEntryMod and tableClear only"):
        gen.write(PORT_CFG_ID, "DELETE", (68,), {})


def test_table_clear_resets_each_table_and_undoes():
    """A DELETE without a key is the SDE's tableClear (bf_rt_pktgen_tf1.json lists it for the three tables):
    writable fields back to their defaults; its undo puts them back."""
    gen = PacketGenerator(Clock())
    armed(gen)
    before = (bytes(gen.buffer), {p: dict(r) for p, r in gen.ports.items()}, gen.read(APP_CFG_ID, None))
    fresh = PacketGenerator(Clock())
    undos = [gen.write(t, "DELETE", (), {}) for t in (APP_CFG_ID, PKT_BUFFER_ID, PORT_CFG_ID)]
    assert (bytes(gen.buffer), gen.ports, gen.read(APP_CFG_ID, None)) == \
        (bytes(fresh.buffer), fresh.ports, fresh.read(APP_CFG_ID, None))
    assert not gen.timers_armed
    for undo in reversed(undos):
        undo()
    assert (bytes(gen.buffer), {p: dict(r) for p, r in gen.ports.items()}, gen.read(APP_CFG_ID, None)) == before


@pytest.fixture()
def client(tmp_path):
    server, servicer, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    compile_to_dir(P4_DIR / "exact_forward.p4", tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1)
    c.subscribe(learn=False)
    c.push_program("exact_forward", tmp_path / "b")
    c.bind("exact_forward")
    try:
        yield c, servicer
    finally:
        c.close()
        server.stop(grace=None)


def test_the_sde_pktgen_tables_over_grpc(client):
    c, _ = client
    resp = c.stub.GetForwardingPipelineConfig(pb.GetForwardingPipelineConfigRequest(device_id=0, client_id=1))
    tables = {t["name"]: t for t in json.loads(resp.non_p4_config.bfruntime_info)["tables"]}
    # ids, keys, actions and data of the SDE's bf_rt_pktgen_tf1.json
    assert (tables[PORT]["id"], tables[APP]["id"], tables[BUF]["id"]) == (PORT_CFG_ID, APP_CFG_ID, PKT_BUFFER_ID)
    assert [a["name"] for a in tables[APP]["action_specs"]] == [
        "trigger_timer_one_shot", "trigger_timer_periodic", "trigger_port_down", "trigger_recirc_pattern"]
    assert [k["name"] for k in tables[BUF]["key"]] == ["pkt_buffer_offset", "pkt_buffer_size"]
    c.modify(PORT, {"dev_port": 68}, None, {"pktgen_enable": True})
    (row,) = c.entries(PORT, {"dev_port": 68})
    assert row.data["pktgen_enable"] is True and row.data["recirculation_enable"] is False
    c.modify(BUF, {"pkt_buffer_offset": 64, "pkt_buffer_size": 100}, None, {"buffer": PAYLOAD})
    (row,) = c.entries(BUF, {"pkt_buffer_offset": 64, "pkt_buffer_size": 100})
    assert row.data["buffer"] == list(PAYLOAD)  # one int per byte (a repeated 8-bit field), as the SDE reads it
    c.modify(APP, {"app_id": 5}, "trigger_timer_periodic", {
        "timer_nanosec": 10**9, "pkt_len": 100, "pkt_buffer_offset": 64, "batch_count_cfg": 0,
        "packets_per_batch_cfg": 1, "app_enable": False})
    (row,) = c.entries(APP, {"app_id": 5})
    assert row.action == "trigger_timer_periodic" and row.data["timer_nanosec"] == 10**9
    assert (row.data["pkt_len"], row.data["packets_per_batch_cfg"], row.data["app_enable"]) == (100, 1, False)
    with pytest.raises(BfrtError, match=r"UNIMPLEMENTED: .*recirculation_enable"):
        c.modify(PORT, {"dev_port": 68}, None, {"recirculation_enable": True})
    with pytest.raises(BfrtError, match=r"INVALID_ARGUMENT: .*offset 8 must be 16-byte aligned"):
        c.modify(BUF, {"pkt_buffer_offset": 8, "pkt_buffer_size": 4}, None, {"buffer": b"abcd"})
    (row,) = c.entries(APP, {"app_id": 5})
    assert row.action == "trigger_timer_periodic"  # the refused write changed nothing


def test_a_port_disabled_through_the_port_table_fires_the_port_down_app():
    """$PORT_ENABLE false (and a $PORT delete) is the port going down, as flap_port does in the SDE's test."""
    from srchain_emu.device_tables import PORT as PORT_TABLE
    from srchain_emu.device_tables import DeviceTables

    dev = DeviceTables()
    dev.attach([1, 2], lambda *a: None, lambda *a: None)
    gen = dev.pktgen
    gen.write(PORT_CFG_ID, "MODIFY", (68,), {2: True})
    gen.write(PKT_BUFFER_ID, "MODIFY", (0, 64), {1: bytes(64)})
    gen.write(APP_CFG_ID, "MODIFY", (2,), {13: 64, 12: True}, 3)
    for port in (1, 2):
        gen.write(PORT_CFG_ID, "MODIFY", (port,), {4: True})
    dev.write(PORT_TABLE.id, "MODIFY", (2,), {3: False})
    dev.write(PORT_TABLE.id, "MODIFY", (2,), {3: True})
    dev.write(PORT_TABLE.id, "MODIFY", (2,), {3: False})  # down again: no longer armed
    dev.write(PORT_TABLE.id, "DELETE", (1,), {})
    out = gen.due(time.monotonic_ns())
    assert [f[:6] for _, f in out] == [port_down_header(0, 2, 2, 0), port_down_header(0, 2, 1, 0)]


def test_idle_tells_the_switch_loop_when_the_generator_has_nothing_to_do():
    """The switch loop skips the generator while it is idle: an armed timer or pending packets make it busy, a
    disabled app makes it idle again, and a refused write changes nothing."""
    clock = Clock()
    gen = PacketGenerator(clock)
    assert gen.idle
    armed(gen)
    assert not gen.idle
    gen.advance(clock.ns + 1000)
    assert gen.pending and not gen.idle
    gen.write(APP_CFG_ID, "MODIFY", (3,), {12: False})
    assert gen.idle  # disabling drops its pending packets too
    gen.write(APP_CFG_ID, "MODIFY", (3,), {12: True})
    assert not gen.idle
    with pytest.raises(PktgenUnsupported):
        gen.write(APP_CFG_ID, "MODIFY", (3,), {20: 5})  # ibg_jitter: refused, nothing changed
    assert not gen.idle
