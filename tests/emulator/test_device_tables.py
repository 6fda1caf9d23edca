"""The fixed (non-P4) device tables over real gRPC: $PORT and the TM port shaper tables act on the
data plane's traffic manager and port state; bad writes are refused and atomic batches roll back."""

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


@pytest.fixture()
def device(tmp_path):
    server, servicer, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    tm, enabled = TrafficManager(), {}
    servicer.device.attach([1, 2, 3], tm.set_rate, enabled.__setitem__, tm.set_queue_priority)
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
    assert names == ["$mirror.cfg", "$PORT", CFG, SHAPING, QUEUE, "$pre.mgid", "$pre.node"]


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
    assert [e.key["$DEV_PORT"] for e in c.entries("$PORT")] == [1, 2, 3]
    c.modify("$PORT", {"$DEV_PORT": 3}, None, {"$PORT_ENABLE": False})
    assert enabled[3] is False
    c.delete("$PORT", {"$DEV_PORT": 3})
    assert [e.key["$DEV_PORT"] for e in c.entries("$PORT")] == [1, 2]
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
        (SHAPING, {"dev_port": 1}, {"unit": "PPS"}, "INVALID_ARGUMENT", "shapes in BPS only"),
        (QUEUE, {"pg_id": 1, "pg_queue": 3}, {"max_priority": 8}, "INVALID_ARGUMENT", "max_priority must be 0..7"),
        (QUEUE, {"pg_id": 1, "pg_queue": 8}, {"max_priority": 1}, "NOT_FOUND", "no pg_id 1, pg_queue 8"),
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


def test_queue_priority_changes_the_service_order(device):
    c, _, tm, _ = device
    rows = c.entries(QUEUE)
    assert len(rows) == 3 * 8 and {r.data["max_priority"] for r in rows if r.key["pg_queue"] == 5} == {5}
    c.modify(QUEUE, {"pg_id": 2, "pg_queue": 0}, None, {"max_priority": 7})
    c.modify(QUEUE, {"pg_id": 2, "pg_queue": 7}, None, {"max_priority": 0})
    assert tm.order[2][:2] == [0, 6] and tm.order[2][-1] == 7
    for qid in (7, 0):  # queue 7 first in time; queue 0 must still leave first
        tm.enqueue(ToTM(2, bytes([qid]) * 64, qid))
    out, _ = tm.dequeue()
    assert [item.qid for item, _, _ in out] == [0, 7]
    c.delete(QUEUE, {"pg_id": 2, "pg_queue": 0})  # back to the default: priority = queue number
    c.delete(QUEUE, {"pg_id": 2, "pg_queue": 7})
    assert tm.order[2] == list(range(7, -1, -1))

