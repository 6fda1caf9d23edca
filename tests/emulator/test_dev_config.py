"""`tf1.dev.device_configuration` and program-named Read/Write, as the SDE's PTF set-up uses them: a
subscribed client that has not bound yet reads the device table's default entry naming the program
(bf_rt_server_impl.cpp serves a named program whatever the client's binding), then binds."""

from __future__ import annotations

import json

import grpc
import pytest
from click.testing import CliRunner
from emu_helpers import P4_DIR, batch_codes

from srchain.bfrt.client import BfrtClient
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.cli import switch_cli

DEV_CFG_ID = 0xFF060001


@pytest.fixture()
def client(tmp_path):
    server, servicer, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    compile_to_dir(P4_DIR / "exact_forward.p4", tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1)
    c.subscribe(learn=False)
    c.push_program("exact_forward", tmp_path / "b")
    try:
        yield c, servicer
    finally:
        c.close()
        server.stop(grace=None)


def read_dev_cfg(c: BfrtClient, p4_name: str) -> list[pb.TableEntry]:
    req = pb.ReadRequest(client_id=1, p4_name=p4_name, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    req.entities.add().table_entry.CopyFrom(pb.TableEntry(table_id=DEV_CFG_ID, is_default_entry=True))
    return [e.table_entry for resp in c.stub.Read(req) for e in resp.entities]


def fields(te: pb.TableEntry) -> dict[int, object]:
    out: dict[int, object] = {}
    for f in te.data.fields:
        which = f.WhichOneof("value")
        out[f.field_id] = (list(f.int_arr_val.val) if which == "int_arr_val" else
                           int.from_bytes(f.stream, "big") if which == "stream" else getattr(f, which))
    return out


def test_schema_is_the_sdes(client):
    c, _ = client
    resp = c.stub.GetForwardingPipelineConfig(pb.GetForwardingPipelineConfigRequest(device_id=0, client_id=1))
    (t,) = [t for t in json.loads(resp.non_p4_config.bfruntime_info)["tables"]
            if t["name"] == "tf1.dev.device_configuration"]
    assert (t["id"], t["table_type"], t["size"], t["key"]) == (DEV_CFG_ID, "DevConfigure", 1, [])
    got = [(d["singleton"]["id"], d["singleton"]["name"], d["singleton"]["type"]["type"], d["singleton"]["repeated"],
            d["read_only"]) for d in t["data"]]
    # bf_rt_dev_tf1.json (open-p4studio pkgsrc/bf-drivers/src/bf_rt/bf_rt_dev)
    assert got == [
        (1, "sku", "string", False, True), (2, "num_pipes", "uint32", False, True),
        (3, "num_stages", "uint32", False, True), (4, "num_max_ports", "uint32", False, True),
        (5, "num_front_ports", "uint32", False, True), (6, "pcie_cpu_port", "uint32", False, True),
        (7, "eth_cpu_port_list", "uint32", True, True), (8, "internal_port_list", "uint32", True, True),
        (9, "external_port_list", "uint32", True, True), (10, "recirc_port_list", "uint32", True, True),
        (11, "intr_based_link_monitoring", "bool", False, True), (12, "flow_learn_intr_mode", "bool", False, False),
        (13, "lrt_dr_timeout_usec", "uint32", False, False), (14, "flow_learn_timeout_usec", "uint32", False, False),
        (15, "inactive_node_delete", "bool", False, False), (16, "selector_member_order", "bool", False, False)]
    assert "default_value" not in t["data"][1]["singleton"]["type"]
    assert t["data"][13]["singleton"]["type"]["default_value"] == 500


def test_named_read_before_bind_gets_the_default_entry(client):
    c, servicer = client
    (te,) = read_dev_cfg(c, "exact_forward")  # not bound yet: served because the request names the program
    assert te.is_default_entry, "the SDE client drops entries whose is_default_entry differs from its request"
    f = fields(te)
    assert (f[1], f[2], f[3], f[6], f[7]) == ("BFN-T10-064Q", 4, 12, 320, [64, 65, 66, 67])
    assert f[10] == [68, 69, 70, 71, *range(192, 200), 324, 325, 326, 327, *range(448, 456)]
    assert len(f[9]) == 256 and f[8] == [] and f[14] == 500
    servicer.dev.tables.set_num_pipes(2)
    f = fields(read_dev_cfg(c, "exact_forward")[0])
    assert (f[1], f[2], f[6], f[10]) == ("BFN-T10-032Q", 2, 192, [68, 69, 70, 71, 196, 197, 198, 199])
    with pytest.raises(ValueError, match="1, 2 or 4 pipes"):
        servicer.dev.tables.set_num_pipes(3)


def test_unnamed_or_unknown_program(client):
    c, _ = client
    with pytest.raises(grpc.RpcError) as info:
        read_dev_cfg(c, "")  # no name and not bound: nothing to serve
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as info:
        read_dev_cfg(c, "no_such_program")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and "no_such_program" in info.value.details()
    c.bind("exact_forward")
    assert fields(read_dev_cfg(c, "")[0])[2] == 4


def test_writes_are_refused_not_ignored(client):
    c, _ = client
    c.bind("exact_forward")
    te = pb.TableEntry(table_id=DEV_CFG_ID, is_default_entry=True)
    te.data.fields.add(field_id=14, stream=(1000).to_bytes(4, "big"))
    req = pb.WriteRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    upd = req.updates.add(type=pb.Update.MODIFY)
    upd.entity.table_entry.CopyFrom(te)
    with pytest.raises(grpc.RpcError) as info:
        c.stub.Write(req)
    assert batch_codes(info.value) == ["UNIMPLEMENTED"]
    assert "tf1.dev.device_configuration" in info.value.details()
    assert fields(read_dev_cfg(c, "")[0])[14] == 500


def test_cli_num_pipes_choices(tmp_path):
    ports = tmp_path / "ports.json"
    ports.write_text('{"PortToIf": []}')
    res = CliRunner().invoke(switch_cli, ["run", "--ports", str(ports), "--num-pipes", "3"])
    assert res.exit_code == 2 and "'3' is not one of '1', '2', '4'" in res.output


def test_selector_member_order_is_kept_and_reset(client):
    c, _ = client
    c.bind("exact_forward")

    def write(utype, fields):
        te = pb.TableEntry(table_id=DEV_CFG_ID, is_default_entry=True)
        for fid, value in fields:
            te.data.fields.add(field_id=fid, bool_val=value)
        req = pb.WriteRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
        req.updates.add(type=utype).entity.table_entry.CopyFrom(te)
        c.stub.Write(req)

    write(pb.Update.MODIFY, [(16, True)])
    assert fields(read_dev_cfg(c, "")[0])[16] is True
    write(pb.Update.MODIFY, [(15, False)])  # unchanged learn settings may be written
    with pytest.raises(grpc.RpcError) as info:
        write(pb.Update.MODIFY, [(15, True)])
    assert batch_codes(info.value) == ["UNIMPLEMENTED"] and "inactive_node_delete" in info.value.details()
    write(pb.Update.DELETE, [])  # the default entry's reset
    assert fields(read_dev_cfg(c, "")[0])[16] is False
