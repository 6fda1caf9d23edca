"""The fixed (non-P4) device tables over real gRPC: $PORT and the SDE's Tofino 1 TM tables (port shaper,
port queue carving, queue scheduler and shaper) act on the data plane's traffic manager and port state;
bad writes are refused with the SDE's status codes and atomic batches roll back."""

from __future__ import annotations

import json

import pytest
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.interp.pipeline import ToTM
from srchain_emu.tm import TrafficManager

SHAPING, CFG, QUEUE = "tf1.tm.port.sched_shaping", "tf1.tm.port.sched_cfg", "tf1.tm.queue.sched_cfg"
QSHAPING, PORT_CFG = "tf1.tm.queue.sched_shaping", "tf1.tm.port.cfg"


@pytest.fixture()
def device(tmp_path):
    server, servicer, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    tm, enabled = TrafficManager(), {}
    servicer.device.attach([1, 2, 3, 133], tm.set_rate, enabled.__setitem__, tm.set_queue)
    compile_to_dir(P4_DIR / "exact_forward.p4", tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1)
    c.subscribe(learn=False)
    c.push_program("exact_forward", tmp_path / "b")
    c.bind("exact_forward")
    try:
        yield c, servicer, tm, enabled
    finally:
        c.close()
        server.stop(grace=None)


def rate(tm: TrafficManager, port: int) -> int:
    s = tm.shapers.get(port)
    return s.rate_bps if s else 0


def test_non_p4_info_lists_the_device_tables(device):
    c, *_ = device
    resp = c.stub.GetForwardingPipelineConfig(pb.GetForwardingPipelineConfigRequest(device_id=0, client_id=1))
    names = [t["name"] for t in json.loads(resp.non_p4_config.bfruntime_info)["tables"]]
    assert names == ["$mirror.cfg", "$PORT", PORT_CFG, CFG, SHAPING, QUEUE, QSHAPING, "tf1.dev.device_configuration",
                     "tf1.pktgen.port_cfg",
                     "tf1.pktgen.app_cfg", "tf1.pktgen.pkt_buffer", "$pre.mgid", "$pre.node"]
    tables = {t["name"]: t for t in json.loads(resp.non_p4_config.bfruntime_info)["tables"]}
    # ids, key and field names/types of the SDE's bf_rt_tm_tf1.json (open-p4studio bf_rt_tm)
    q = tables[QUEUE]
    assert (q["id"], q["table_type"]) == (0xFF050025, "TmQueueSchedCfg")
    keys = [(k["id"], k["name"], k["type"]["type"]) for k in q["key"]]
    assert keys == [(1, "pg_id", "uint8"), (2, "pg_queue", "uint8")]
    fields = {d["singleton"]["name"]: (d["singleton"]["id"], d["singleton"]["type"]["type"]) for d in q["data"]}
    assert fields == {"min_rate_enable": (2, "bool"), "min_priority": (1, "string"), "max_rate_enable": (5, "bool"),
                      "max_priority": (4, "string"), "dwrr_weight": (3, "uint16"), "scheduling_enable": (6, "bool")}
    assert tables[QSHAPING]["id"] == 0xFF050026 and tables[CFG]["id"] == 0xFF050016
    assert tables[SHAPING]["id"] == 0xFF050017 and tables[PORT_CFG]["id"] == 0xFF050010


def test_port_shaping_reaches_the_traffic_manager(device):
    c, _, tm, _ = device
    c.modify(SHAPING, {"dev_port": 2}, None, {"unit": "BPS", "max_rate": 2000, "max_burst_size": 3000})
    assert rate(tm, 2) == 0, "not before max_rate_enable"
    c.modify(CFG, {"dev_port": 2}, None, {"max_rate_enable": True})
    assert rate(tm, 2) == 2_000_000 and tm.shapers[2].burst_bytes == 3000
    (row,) = c.entries(SHAPING, {"dev_port": 2})
    assert (row.data["unit"], row.data["max_rate"], row.data["max_burst_size"]) == ("BPS", 2000, 3000)
    c.delete(CFG, {"dev_port": 2})  # a TM row cannot go away: back to its defaults (shaper off)
    assert rate(tm, 2) == 0
    (row,) = c.entries(CFG, {"dev_port": 2})
    assert row.data["max_rate_enable"] is False


def test_port_enable_and_rows(device):
    c, _, _, enabled = device
    assert [e.key["$DEV_PORT"] for e in c.entries("$PORT")] == [1, 2, 3, 133]
    c.modify("$PORT", {"$DEV_PORT": 3}, None, {"$PORT_ENABLE": False})
    assert enabled[3] is False
    c.delete("$PORT", {"$DEV_PORT": 3})
    assert [e.key["$DEV_PORT"] for e in c.entries("$PORT")] == [1, 2, 133]
    c.insert("$PORT", {"$DEV_PORT": 3}, None, {"$SPEED": "BF_SPEED_100G", "$FEC": "BF_FEC_TYP_REED_SOLOMON"})
    assert enabled[3] is True
    (row,) = c.entries("$PORT", {"$DEV_PORT": 3})
    assert row.data["$SPEED"] == "BF_SPEED_100G"


@pytest.mark.parametrize(
    ("table", "key", "data", "code", "text"),
    [
        ("$PORT", {"$DEV_PORT": 1}, {"$SPEED": "BF_SPEED_10G"}, "ALREADY_EXISTS", "$PORT: $DEV_PORT 1 exists"),
        ("$PORT", {"$DEV_PORT": 9}, {"$SPEED": "BF_SPEED_10G"}, "NOT_FOUND", "the device has no $DEV_PORT 9"),
        ("$PORT", {"$DEV_PORT": 2}, {"$SPEED": "BF_SPEED_3G"}, "INVALID_ARGUMENT", "$SPEED must be one of"),
        (SHAPING, {"dev_port": 1}, {"unit": "PPS"}, "UNIMPLEMENTED", "shapes in BPS only"),
        (SHAPING, {"dev_port": 9}, {"max_rate": 1}, "NOT_FOUND", "the device has no dev_port 9"),
        (CFG, {"dev_port": 1}, {"scheduling_speed": "BF_SPEED_100G"}, "UNIMPLEMENTED", "scheduling_speed"),
        (PORT_CFG, {"dev_port": 1}, {"pg_id": 3}, "INVALID_ARGUMENT", "pg_id is read-only"),
    ],
)
def test_bad_writes_are_refused(device, table, key, data, code, text):
    c, *_ = device
    op = c.insert if table == "$PORT" and key["$DEV_PORT"] != 2 else c.modify
    with pytest.raises(BfrtError) as err:
        op(table, key, None, data)
    assert err.value.code == code and text in str(err.value)


def test_failed_atomic_batch_leaves_the_shaper_as_it_was(device):
    c, _, tm, _ = device
    c.modify(SHAPING, {"dev_port": 1}, None, {"max_rate": 5000})
    c.modify(CFG, {"dev_port": 1}, None, {"max_rate_enable": True})
    batch = [
        c.make_update(pb.Update.MODIFY, SHAPING, {"dev_port": 1}, None, {"max_rate": 1000}),
        c.make_update(pb.Update.MODIFY, SHAPING, {"dev_port": 1}, None, {"unit": "PPS"}),
    ]
    with pytest.raises(BfrtError, match="rolled back"):
        c.write(batch, pb.WriteRequest.ROLLBACK_ON_ERROR)
    assert rate(tm, 1) == 5_000_000
    (row,) = c.entries(SHAPING, {"dev_port": 1})
    assert (row.data["unit"], row.data["max_rate"]) == ("BPS", 5000)


def test_port_cfg_gives_each_ports_queues(device):
    """Tofino 1's default carving: 4 ports a port group, 8 queues each from pg_port_nr * 8, qid i -> queue i % 8."""
    c, *_ = device
    (row,) = c.entries(PORT_CFG, {"dev_port": 133})  # pipe 1, local port 5: port group 1, second port
    assert (row.data["pg_id"], row.data["pg_port_nr"], row.data["port_queues_count"]) == (1, 1, 8)
    assert row.data["ingress_qid_map"] == [i % 8 for i in range(32)]
    assert row.data["egress_qid_queues"] == [8 + i % 8 for i in range(32)]
    assert len(c.entries(PORT_CFG)) == 4 * 72  # every TM port has its queues, port_add or not
    with pytest.raises(BfrtError) as err:
        c.entries(PORT_CFG, {"dev_port": 72})
    assert err.value.code == "INVALID_ARGUMENT" and "not a TM port" in str(err.value)


def test_queue_tables_default_to_the_sdes_dwrr(device):
    """Every queue at priority 0 (read back "LOW"), weight 1023, no rate limits: bf_tm_tofino_set_sch_default_for_q."""
    c, *_ = device
    rows = c.entries(QUEUE, pipe=0)
    assert len(rows) == 18 * 32
    assert {(r.data["max_priority"], r.data["min_priority"], r.data["dwrr_weight"], r.data["scheduling_enable"],
             r.data["max_rate_enable"], r.data["min_rate_enable"]) for r in rows} == {("LOW", "LOW", 1023, True, False,
                                                                                          False)}
    (sh,) = c.entries(QSHAPING, {"pg_id": 0, "pg_queue": 15}, pipe=0)
    assert sh.data == {"unit": "BPS", "provisioning": "UPPER", "min_rate": 0, "min_burst_size": 16384,
                       "max_rate": 10_000_000, "max_burst_size": 16384}


def test_queue_priority_and_weight_reach_the_traffic_manager(device):
    c, _, tm, _ = device
    # dev port 2 = pipe 0, port group 0, port 2 of it: queue q is pg_queue 16 + q
    c.modify(QUEUE, {"pg_id": 0, "pg_queue": 23}, None, {"max_priority": "7"}, pipe=0)
    (row,) = c.entries(QUEUE, {"pg_id": 0, "pg_queue": 23}, pipe=0)
    assert row.data["max_priority"] == "7"
    assert tm.sched[2].levels == [(7, [7]), (0, [0, 1, 2, 3, 4, 5, 6])]
    for qid in (0, 7):  # queue 0 first in time; queue 7 must still leave first
        tm.enqueue(ToTM(2, bytes([qid]) * 64, qid))
    out, _ = tm.dequeue()
    assert [d.item.qid for d in out] == [7, 0]
    c.modify(QUEUE, {"pg_id": 0, "pg_queue": 16}, None, {"dwrr_weight": 100, "scheduling_enable": False}, pipe=0)
    assert tm.sched[2].conf[0].weight == 100 and tm.sched[2].levels == [(7, [7]), (0, [1, 2, 3, 4, 5, 6])]
    c.modify(QSHAPING, {"pg_id": 0, "pg_queue": 23}, None, {"max_rate": 800, "max_burst_size": 2000}, pipe=0)
    assert 7 not in tm.sched[2].shapers, "the max rate waits for max_rate_enable"
    c.modify(QUEUE, {"pg_id": 0, "pg_queue": 23}, None, {"max_rate_enable": True}, pipe=0)
    assert (tm.sched[2].shapers[7].rate_bps, tm.sched[2].shapers[7].burst_bytes) == (800_000, 2000)
    c.delete(QUEUE, None, pipe=0)  # tableClear: the pipe's rows back to the defaults
    assert tm.sched[2].levels == [(0, list(range(8)))] and not tm.sched[2].shapers
    (row,) = c.entries(QUEUE, {"pg_id": 0, "pg_queue": 23}, pipe=0)
    assert row.data["max_priority"] == "LOW"
    c.modify(QUEUE, {"pg_id": 1, "pg_queue": 8 + 3}, None, {"max_priority": "HIGH"}, pipe=1)  # dev port 133
    assert tm.sched[133].levels[0] == (7, [3])
    (row,) = c.entries(QUEUE, {"pg_id": 1, "pg_queue": 11}, pipe=1)
    assert row.data["max_priority"] == "7", "HIGH is level 7, which reads back as 7 (prio_to_str)"


@pytest.mark.parametrize(
    ("update", "data", "pipe", "code", "text"),
    [
        ("MODIFY", {"max_priority": "8"}, 0, "INVALID_ARGUMENT", "max_priority must be one of LOW, 0, 1"),
        ("MODIFY", {"max_priority": "7"}, 0xFFFF, "INVALID_ARGUMENT", "pipe_id 0xffff is not one pipe"),
        ("MODIFY", {"max_priority": "7"}, 4, "INVALID_ARGUMENT", "pipe_id 0x4 is not one pipe"),
        ("MODIFY", {"min_rate_enable": True}, 0, "UNIMPLEMENTED", "guaranteed (min) rate"),
        ("INSERT", {"max_priority": "7"}, 0, "UNIMPLEMENTED", "INSERT is not implemented for TM tables"),
        ("INSERT_OR_MODIFY", {"max_priority": "7"}, 0, "UNIMPLEMENTED", "INSERT_OR_MODIFY is not implemented"),
        ("DELETE", None, 0, "UNIMPLEMENTED", "DELETE is not implemented for TM tables"),
    ],
)
def test_bad_queue_writes_are_refused(device, update, data, pipe, code, text):
    c, _, tm, _ = device
    u = c.make_update(getattr(pb.Update, update), QUEUE, {"pg_id": 0, "pg_queue": 23}, None, data)
    with pytest.raises(BfrtError) as err:
        c.write([u], pb.WriteRequest.ROLLBACK_ON_ERROR, pipe=pipe)
    assert err.value.code == code and text in str(err.value), err.value
    assert tm.sched[2].levels == [(0, list(range(8)))]


def test_unknown_queue_key_and_field_are_refused_as_the_sde_does(device):
    c, *_ = device
    with pytest.raises(BfrtError) as err:  # bf_tm_pg_port_queue_get: pg_id >= pg_per_pipe is BF_INVALID_ARG
        c.modify(QUEUE, {"pg_id": 18, "pg_queue": 0}, None, {"max_priority": "7"}, pipe=0)
    assert err.value.code == "INVALID_ARGUMENT" and "pg_id 18 out of range 0..17" in str(err.value)
    with pytest.raises(BfrtError) as err:
        c.modify(QUEUE, {"pg_id": 0, "pg_queue": 32}, None, {"max_priority": "7"}, pipe=0)
    assert err.value.code == "INVALID_ARGUMENT" and "pg_queue 32 out of range 0..31" in str(err.value)
    u = c.make_update(pb.Update.MODIFY, QUEUE, {"pg_id": 0, "pg_queue": 0}, None, {"max_priority": "7"})
    u.entity.table_entry.data.fields[0].field_id = 9  # a field the SDE's table does not have
    with pytest.raises(BfrtError) as err:
        c.write([u], pipe=0)
    assert err.value.code == "INVALID_ARGUMENT" and "no data field id 9" in str(err.value)
    with pytest.raises(BfrtError) as err:
        c.entries(QUEUE, pipe=0xFFFF)
    assert err.value.code == "INVALID_ARGUMENT"
