"""BF Runtime gRPC server, exercised through real gRPC on 127.0.0.1 with an ephemeral port."""

from __future__ import annotations

import json
import queue
import threading

import grpc
import pytest
from emu_helpers import P4_DIR, batch_codes
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from srchain.bfrt.client import BfrtClient
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_contracts.bfrt import bfruntime_pb2_grpc as pb_grpc
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir

SetReq = pb.SetForwardingPipelineConfigRequest


class Session:
    """A minimal BF Runtime client: one stream, subscribe, push, bind, write, read."""

    def __init__(self, port: int, client_id: int = 0, metadata=()) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = pb_grpc.BfRuntimeStub(self.channel)
        self.client_id = client_id
        self.md = list(metadata)
        self.requests: queue.Queue = queue.Queue()
        self.responses: queue.Queue = queue.Queue()
        self.stream = self.stub.StreamChannel(iter(self.requests.get, None), metadata=self.md)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        try:
            for msg in self.stream:
                self.responses.put(msg)
        except grpc.RpcError as exc:
            self.responses.put(exc)

    def subscribe(self, learn: bool = True) -> pb.StreamMessageResponse:
        req = pb.StreamMessageRequest(client_id=self.client_id)
        req.subscribe.device_id = 0
        req.subscribe.notifications.enable_learn_notifications = learn
        self.requests.put(req)
        return self.next()

    def next(self, timeout: float = 5.0):
        return self.responses.get(timeout=timeout)

    def push(self, name: str, out_dir) -> None:
        req = SetReq(device_id=0, client_id=self.client_id, action=SetReq.VERIFY_AND_WARM_INIT_BEGIN_AND_END)
        cfg = req.config.add(p4_name=name, bfruntime_info=(out_dir / "bf-rt.json").read_bytes())
        cfg.profiles.add(profile_name="pipe", context=(out_dir / "pipe" / "context.json").read_bytes(),
                         binary=(out_dir / "pipe" / "tofino.bin").read_bytes(), pipe_scope=[0, 1, 2, 3])
        self.stub.SetForwardingPipelineConfig(req, metadata=self.md)

    def bind(self, name: str) -> None:
        req = SetReq(device_id=0, client_id=self.client_id, action=SetReq.BIND)
        req.config.add(p4_name=name)
        self.stub.SetForwardingPipelineConfig(req, metadata=self.md)

    def info(self) -> dict:
        resp = self.stub.GetForwardingPipelineConfig(pb.GetForwardingPipelineConfigRequest(device_id=0),
                                                     metadata=self.md)
        assert json.loads(resp.non_p4_config.bfruntime_info)["tables"][0]["name"] == "$mirror.cfg"
        return json.loads(resp.config[0].bfruntime_info)

    # pipe_id 0xFFFF (all pipes), the SDE client's default target
    def write(self, updates: list[pb.Update], atomicity=pb.WriteRequest.CONTINUE_ON_ERROR, pipe=0xFFFF) -> None:
        req = pb.WriteRequest(client_id=self.client_id, updates=updates, atomicity=atomicity)
        req.target.device_id = 0
        req.target.pipe_id = pipe
        self.stub.Write(req, metadata=self.md)

    def read(self, entry: pb.TableEntry, pipe=0xFFFF) -> list[pb.TableEntry]:
        req = pb.ReadRequest(client_id=self.client_id)
        req.target.pipe_id = pipe
        req.entities.add().table_entry.CopyFrom(entry)
        return [e.table_entry for r in self.stub.Read(req, metadata=self.md) for e in r.entities]

    def close(self) -> None:
        self.requests.put(None)
        self.channel.close()


def table(info: dict, suffix: str) -> dict:
    return next(t for t in info["tables"] if t["name"].endswith(suffix))


def action_id(t: dict, name: str) -> int:
    return next(a["id"] for a in t["action_specs"] if a["name"] == name)


def fwd_entry(t: dict, mac: int, port: int | None = None) -> pb.TableEntry:
    e = pb.TableEntry(table_id=t["id"])
    e.key.fields.add(field_id=1).exact.value = mac.to_bytes(6, "big")
    if port is not None:
        e.data.action_id = action_id(t, "SwitchIngress.hit")
        e.data.fields.add(field_id=1, stream=port.to_bytes(2, "big"))
    return e


def update(kind: int, entry: pb.TableEntry) -> pb.Update:
    u = pb.Update(type=kind)
    u.entity.table_entry.CopyFrom(entry)
    return u


@pytest.fixture
def server():
    srv, servicer, port = serve("127.0.0.1:0")
    try:
        yield servicer, port
    finally:
        srv.stop(grace=None)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    base = tmp_path_factory.mktemp("bundles")
    for name in ("exact_forward", "flow_counter"):
        compile_to_dir(P4_DIR / f"{name}.p4", base / name)
    return base


def test_session_push_bind_write_read_and_forward(server, bundles):
    servicer, port = server
    s = Session(port)
    try:
        # Before subscribing / binding nothing is allowed.
        with pytest.raises(grpc.RpcError) as info:
            s.bind("exact_forward")
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert s.subscribe().subscribe.status.code == 0
        with pytest.raises(grpc.RpcError) as info:
            s.bind("exact_forward")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        s.push("exact_forward", bundles / "exact_forward")
        kinds = [s.next().set_forwarding_pipeline_config_response.set_forwarding_pipeline_config_response_type
                 for _ in range(2)]
        assert kinds == [pb.WARM_INIT_STARTED, pb.WARM_INIT_FINISHED]
        t = table(s.info(), "SwitchIngress.forward")
        with pytest.raises(grpc.RpcError) as info:
            s.write([update(pb.Update.INSERT, fwd_entry(t, 0x222222222222, 5))])
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "not bound" in info.value.details()
        s.bind("exact_forward")
        s.write([update(pb.Update.INSERT, fwd_entry(t, 0x222222222222, 5))])
        frame = (Ether(dst="22:22:22:22:22:22") / IP() / UDP()).build()
        assert [(o.port, o.frame) for o in servicer.process(1, frame)] == [(5, frame)]
        # Read one entry (with its direct counter) and all entries: the hardware's count (from_hw), and the
        # software state, which has the count as written (0) until a SyncCounters operation (tna_operations)
        def pkts(from_hw: bool) -> int:
            entry = fwd_entry(t, 0x222222222222)
            entry.table_flags.from_hw = from_hw
            (got,) = s.read(entry)
            assert got.data.action_id == action_id(t, "SwitchIngress.hit")
            fields = {f.field_id: f.stream for f in got.data.fields}
            assert fields[1] == b"\x00\x05"
            return int.from_bytes(fields[65554], "big")

        assert (pkts(True), pkts(False)) == (1, 0)
        sync = pb.Update(type=pb.Update.INSERT)
        sync.entity.table_operation.table_id = t["id"]
        sync.entity.table_operation.table_operations_type = "SyncCounters"
        s.write([sync])
        assert (pkts(True), pkts(False)) == (1, 1)
        # Errors carry the right status codes and change nothing.
        with pytest.raises(grpc.RpcError) as info:
            s.write([update(pb.Update.INSERT, fwd_entry(t, 0x222222222222, 6))])
        assert batch_codes(info.value) == ["ALREADY_EXISTS"]
        with pytest.raises(grpc.RpcError) as info:
            s.write([update(pb.Update.MODIFY, fwd_entry(t, 0x1, 6))])
        assert batch_codes(info.value) == ["NOT_FOUND"]
        with pytest.raises(grpc.RpcError) as info:
            s.write([update(pb.Update.INSERT, fwd_entry(t, 0x3, 600))])
        assert batch_codes(info.value) == ["INVALID_ARGUMENT"]
        assert "does not fit in 9 bits" in info.value.details()
        s.write([update(pb.Update.INSERT_OR_MODIFY, fwd_entry(t, 0x222222222222, 7))])
        assert [o.port for o in servicer.process(1, frame)] == [7]
        s.write([update(pb.Update.INSERT_OR_MODIFY, fwd_entry(t, 0x333333333333, 8))])
        assert len(s.read(pb.TableEntry(table_id=t["id"]))) == 2
        # DELETE with an empty key removes every entry.
        s.write([update(pb.Update.DELETE, pb.TableEntry(table_id=t["id"]))])
        assert s.read(pb.TableEntry(table_id=t["id"])) == []
        assert servicer.process(1, frame) == []
    finally:
        s.close()


def test_atomicity_rollback_vs_continue(server, bundles):
    _, port = server
    s = Session(port)
    try:
        s.subscribe()
        s.push("exact_forward", bundles / "exact_forward")
        s.next(), s.next()
        s.bind("exact_forward")
        t = table(s.info(), "SwitchIngress.forward")
        batch = [update(pb.Update.INSERT, fwd_entry(t, 0xA, 1)), update(pb.Update.INSERT, fwd_entry(t, 0xB, 999))]
        for mode in (pb.WriteRequest.ROLLBACK_ON_ERROR, pb.WriteRequest.DATAPLANE_ATOMIC):
            with pytest.raises(grpc.RpcError) as info:
                s.write(batch, mode)
            assert "rolled back" in info.value.details()
            assert s.read(pb.TableEntry(table_id=t["id"])) == []
        with pytest.raises(grpc.RpcError):
            s.write(batch, pb.WriteRequest.CONTINUE_ON_ERROR)
        (only,) = s.read(pb.TableEntry(table_id=t["id"]))
        assert only.key.fields[0].exact.value == (0xA).to_bytes(6, "big")
    finally:
        s.close()


def test_registers_and_digests_over_grpc(server, bundles):
    servicer, port = server
    s = Session(port, client_id=3)
    try:
        s.subscribe(learn=True)
        s.push("flow_counter", bundles / "flow_counter")
        s.next(), s.next()
        s.bind("flow_counter")
        info = s.info()
        route = table(info, "SwitchIngress.route")
        e = pb.TableEntry(table_id=route["id"])
        f = e.key.fields.add(field_id=1)
        f.lpm.value, f.lpm.prefix_len = bytes([10, 1, 0, 0]), 16
        e.data.action_id = action_id(route, "SwitchIngress.set_port")
        e.data.fields.add(field_id=1, stream=b"\x00\x03")
        s.write([update(pb.Update.INSERT, e)])
        frame = (Ether() / IP(src="10.0.0.1", dst="10.1.0.2") / UDP(sport=5, dport=6)).build()
        for _ in range(4):
            assert [o.port for o in servicer.process(1, frame)] == [3]
        lf = info["learn_filters"][0]
        counts = []
        for _ in range(2):
            msg = s.next()
            assert msg.WhichOneof("update") == "digest" and msg.digest.digest_id == lf["id"]
            (data,) = msg.digest.data
            by_id = {fd.field_id: int.from_bytes(fd.stream, "big") for fd in data.fields}
            counts.append(by_id[5])
            ack = pb.StreamMessageRequest(client_id=3)
            ack.digest_ack.digest_id, ack.digest_ack.list_id = msg.digest.digest_id, msg.digest.list_id
            s.requests.put(ack)
        assert counts == [1, 4]
        reg = table(info, "SwitchIngress.flow_packets")
        rows = [r for r in s.read(pb.TableEntry(table_id=reg["id"])) if r.data.fields[0].int_arr_val.val[0]]
        # port 1 is in pipe 0: the other pipes' cells were never touched
        assert len(rows) == 1 and list(rows[0].data.fields[0].int_arr_val.val) == [4, 0, 0, 0]
        idx = int.from_bytes(rows[0].key.fields[0].exact.value, "big")
        w = pb.TableEntry(table_id=reg["id"])
        w.key.fields.add(field_id=1).exact.value = idx.to_bytes(4, "big")
        w.data.fields.add(field_id=1, stream=(99).to_bytes(4, "big"))
        s.write([update(pb.Update.MODIFY, w)])
        servicer.process(1, frame)
        (row,) = s.read(w)
        assert list(row.data.fields[0].int_arr_val.val) == [100, 99, 99, 99]  # written in all, counted in pipe 0
    finally:
        s.close()


def test_bad_program_push_is_rejected_and_keeps_the_old_one(server, bundles):
    servicer, port = server
    s = Session(port)
    try:
        s.subscribe()
        s.push("exact_forward", bundles / "exact_forward")
        s.next(), s.next()
        req = SetReq(device_id=0, client_id=0, action=SetReq.VERIFY_AND_WARM_INIT_BEGIN_AND_END)
        cfg = req.config.add(p4_name="broken")
        cfg.profiles.add(profile_name="pipe", binary=b'#line 1 "broken.p4"\nheader h { bit<7> x; }\n')
        with pytest.raises(grpc.RpcError) as info:
            s.stub.SetForwardingPipelineConfig(req)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "broken.p4:1: header h is 7 bits long" in info.value.details()
        assert list(servicer.programs) == ["exact_forward"]
    finally:
        s.close()


def test_token_and_loopback_only():
    with pytest.raises(ValueError, match="only loopback"):
        serve("0.0.0.0:0")
    srv, _, port = serve("127.0.0.1:0", token="s3cret")
    try:
        ch = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = pb_grpc.BfRuntimeStub(ch)
        with pytest.raises(grpc.RpcError) as info:
            stub.GetForwardingPipelineConfig(pb.GetForwardingPipelineConfigRequest(device_id=0))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        resp = stub.GetForwardingPipelineConfig(pb.GetForwardingPipelineConfigRequest(device_id=0),
                                                metadata=[("x-srchain-token", "s3cret")])
        assert list(resp.config) == []
        ch.close()
    finally:
        srv.stop(grace=None)


def test_client_mirror_sessions_defaults_and_errors(server, snippet_path, tmp_path):
    from srchain.bfrt.client import BfrtError

    servicer, port = server
    prog = snippet_path(
        types="header mirror_h { bit<8> kind; bit<8> tag; }",
        locals="""
            action set_c(bit<16> v) { hdr.data.c = v; }
            table t { key = { hdr.data.b : exact; } actions = { set_c; NoAction; } default_action = NoAction; }
        """,
        # a Tofino mirror field list takes fields, not constants (session id included): metadata carries them
        apply="t.apply(); if (hdr.data.a == 1) { ig_dprsr_md.mirror_type = 1; md.a = 0xEE; md.b = 0x01; md.c = 7; }",
        deparser_locals="Mirror() mirror;",
        deparser="if (ig_dprsr_md.mirror_type == 1) { mirror.emit<mirror_h>(md.c[9:0], {md.a, md.b}); }",
    )
    compile_to_dir(prog, tmp_path / "snip")
    c = BfrtClient(f"127.0.0.1:{port}")
    try:
        c.subscribe()
        c.push_program("snippet", tmp_path / "snip")
        c.bind("snippet")
        c.insert("$mirror.cfg", {"$sid": 7}, "$normal", {"$direction": "INGRESS", "$ucast_egress_port": 3,
                 "$ucast_egress_port_valid": True, "$session_enable": True, "$max_pkt_len": 30})
        (sess,) = c.entries("$mirror.cfg")
        assert sess.key == {"$sid": 7} and sess.data["$ucast_egress_port"] == 3
        frame = bytes.fromhex("02000000000202000000000188b5") + bytes([1, 0, 0, 0]) + bytes(4) + b"m" * 40
        out = servicer.process(0, frame)
        assert [(o.port, len(o.frame)) for o in out] == [(1, len(frame)), (3, 30)]
        assert out[1].frame == (b"\xee\x01" + frame)[:30]
        c.insert("$mirror.cfg", {"$sid": 9}, "$normal", {"$ucast_egress_port": 4, "$ucast_egress_port_valid": True})
        assert [e.data["$ucast_egress_port"] for e in c.entries("$mirror.cfg", {"$sid": 9})] == [4]  # the key's one
        with pytest.raises(BfrtError, match="no session 5"):
            c.entries("$mirror.cfg", {"$sid": 5})
        c.delete("$mirror.cfg", {"$sid": 9})
        # $ucast_egress_port_valid is optional (tna_mirror TestMirInfoGet): without it, or false, a session
        # sends no unicast copy, and a read says so
        c.modify("$mirror.cfg", {"$sid": 7}, "$normal", {"$ucast_egress_port_valid": False})
        assert [o.port for o in servicer.process(0, frame)] == [1]
        assert servicer.programs["snippet"].pipeline.stats["mirror_no_port"] == 1
        c.insert("$mirror.cfg", {"$sid": 9}, "$normal", {"$ucast_egress_port": 4})
        assert c.entries("$mirror.cfg", {"$sid": 9})[0].data["$ucast_egress_port_valid"] is False
        c.delete("$mirror.cfg", {"$sid": 9})
        c.modify("$mirror.cfg", {"$sid": 7}, "$normal", {"$ucast_egress_port_valid": True})
        # A MODIFY changes only the fields it gives (as the SDE's, whose $mirror.cfg fields are all optional)
        c.modify("$mirror.cfg", {"$sid": 7}, "$normal", {"$max_pkt_len": 20})
        (sess,) = c.entries("$mirror.cfg")
        assert (sess.data["$direction"], sess.data["$ucast_egress_port"], sess.data["$max_pkt_len"]) == \
            ("INGRESS", 3, 20)
        assert [(o.port, len(o.frame)) for o in servicer.process(0, frame)] == [(1, len(frame)), (3, 20)]
        # To multicast groups (tna_mirror TestMCast): the copy replicated to each node port but the excluded
        # node's, with the session's RID; unicast too when valid
        c.insert("$pre.node", {"$MULTICAST_NODE_ID": 1}, None, {"$MULTICAST_RID": 9, "$DEV_PORT": [5, 6]})
        c.insert("$pre.node", {"$MULTICAST_NODE_ID": 2}, None, {"$MULTICAST_RID": 9, "$DEV_PORT": [8]})
        c.insert("$pre.mgid", {"$MGID": 0xAAA}, None, {"$MULTICAST_NODE_ID": [1, 2],
                                                     "$MULTICAST_NODE_L1_XID_VALID": [False, True],
                                                     "$MULTICAST_NODE_L1_XID": [0, 4]})
        c.modify("$mirror.cfg", {"$sid": 7}, "$normal", {"$ucast_egress_port_valid": False, "$mcast_grp_a": 0xAAA,
                                                          "$mcast_grp_a_valid": True, "$mcast_rid": 3,
                                                          "$mcast_l1_xid": 4, "$max_pkt_len": 0})
        out = servicer.process(0, frame)
        assert [(o.port, o.frame) for o in out[1:]] == [(5, b"\xee\x01" + frame), (6, b"\xee\x01" + frame)]
        (sess,) = c.entries("$mirror.cfg")
        assert (sess.data["$mcast_grp_a"], sess.data["$mcast_grp_a_valid"], sess.data["$mcast_rid"],
                sess.data["$mcast_grp_b_valid"]) == (0xAAA, True, 3, False)
        with pytest.raises(BfrtError, match=r"UNIMPLEMENTED: .*\$copy_to_cpu"):
            c.modify("$mirror.cfg", {"$sid": 7}, "$normal", {"$copy_to_cpu": True})
        with pytest.raises(BfrtError, match=r"\$packet_color 'BLUE' is none of GREEN, YELLOW, RED"):
            c.modify("$mirror.cfg", {"$sid": 7}, "$normal", {"$packet_color": "BLUE"})
        with pytest.raises(BfrtError, match=r"UNIMPLEMENTED: .*\$coalescing"):
            c.insert("$mirror.cfg", {"$sid": 11}, "$coalescing", {"$extract_len": 64})
        assert c.entries("$mirror.cfg")[0].data["$copy_to_cpu"] is False, "the refused writes changed nothing"
        schema = c.table("$mirror.cfg")  # the SDE's bf_rt_mirror_tf1.json ids
        assert (schema.id, [(d.id, d.name) for d in schema.data][:3]) == (
            0xFF040001, [(5, "$session_enable"), (6, "$direction"), (7, "$ucast_egress_port")])
        # Default entries: set, read back, reset.
        c.set_default("t", "Ig.set_c", {"v": 0x4242})
        (d,) = c.entries("t", default=True)
        assert d.is_default and d.action == "Ig.set_c" and d.data == {"v": 0x4242}
        assert servicer.process(0, frame)[0].frame[16:18] == b"\x42\x42"
        c.reset_default("t")
        assert c.entries("t", default=True)[0].action == "NoAction"
        with pytest.raises(BfrtError, match="no key field"):
            c.insert("t", {"hdr.data.zz": 1}, "Ig.set_c", {"v": 1})
        with pytest.raises(BfrtError, match="NOT_FOUND"):
            c.delete("t", {"hdr.data.b": 5})
        with pytest.raises(BfrtError, match=r"no name .nonexistent_table."):
            c.table("nonexistent_table")
    finally:
        c.close()


def test_indirect_counter_reads_carry_only_the_declared_fields(tmp_path):
    """A PACKETS counter reads back as $COUNTER_SPEC_PKTS only (no undeclared bytes field)."""
    server, _, _ = serve(f"unix:{tmp_path / 'n.sock'}")
    out = tmp_path / "node"
    compile_to_dir(P4_DIR.parents[2] / "p4" / "srchain_node.p4", out)
    c = BfrtClient(f"unix:{tmp_path / 'n.sock'}", client_id=1)
    try:
        c.subscribe(learn=False)
        c.push_program("srchain_node", out)
        c.bind("srchain_node")
        (row,) = c.entries("SwitchIngress.drops", {"$COUNTER_INDEX": 3})
        assert row.data == {"$COUNTER_SPEC_PKTS": 0}
    finally:
        c.close()
        server.stop(grace=None)
