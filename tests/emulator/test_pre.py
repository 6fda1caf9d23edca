"""The packet replication engine over real gRPC with the project's client: `$pre.node` / `$pre.mgid` as the SDE
serves them (bf_rt_pre_tf1.json), and a program that unicasts every packet AND replicates it to the group its
tag names (tests/emulator/p4/mcast_clone.p4: egress stamps egress_rid and egress_port into the tag)."""

from __future__ import annotations

import json

import pytest
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir

NODE, MGID = "$pre.node", "$pre.mgid"


@pytest.fixture()
def switch(tmp_path):
    server, servicer, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    compile_to_dir(P4_DIR / "mcast_clone.p4", tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1)
    c.subscribe(learn=False)
    c.push_program("mcast_clone", tmp_path / "b")
    c.bind("mcast_clone")
    try:
        yield c, servicer
    finally:
        c.close()
        server.stop(grace=None)


def frame(mgid: int, xid: int = 0, drop: int = 0) -> bytes:
    tag = mgid.to_bytes(2, "big") + xid.to_bytes(2, "big") + bytes([drop, 0]) + bytes(2)
    return bytes.fromhex("020000000002020000000001") + b"\x88\xb5" + tag + b"payload" * 4


def copies(servicer, f: bytes) -> list[tuple[int, int]]:
    """(port, egress_rid) of every copy that left, as egress stamped them into the tag."""
    out = []
    for e in servicer.process(0, f):
        assert e.frame[19] == e.port & 0xFF  # egress saw the copy's own port
        out.append((e.port, int.from_bytes(e.frame[20:22], "big")))
    return out


def node(c: BfrtClient, node_id: int, rid: int, ports: list[int]) -> None:
    c.insert(NODE, {"$MULTICAST_NODE_ID": node_id}, None,
             {"$MULTICAST_RID": rid, "$MULTICAST_LAG_ID": [], "$DEV_PORT": ports})


def group(c: BfrtClient, mgid: int, nodes: list[int], xids: list[int | None] | None = None,
          modify: bool = False) -> None:
    xs = xids or [None] * len(nodes)
    data = {"$MULTICAST_NODE_ID": nodes, "$MULTICAST_NODE_L1_XID_VALID": [x is not None for x in xs],
            "$MULTICAST_NODE_L1_XID": [x or 0 for x in xs]}
    (c.modify if modify else c.insert)(MGID, {"$MGID": mgid}, None, data)


def test_pre_tables_are_served_as_the_sde_declares_them(switch):
    c, _ = switch
    info = json.loads(c.pipeline().non_p4_config.bfruntime_info)
    tables = {t["name"]: t for t in info["tables"]}
    # ids, key and field ids/types of pkgsrc/bf-drivers/src/bf_rt/bf_rt_pre/bf_rt_pre_tf1.json
    assert (tables[MGID]["id"], tables[MGID]["table_type"]) == (4278321153, "PreMgid")
    assert (tables[NODE]["id"], tables[NODE]["table_type"]) == (4278321154, "PreNode")
    assert [(k["id"], k["name"], k["type"]["type"]) for k in tables[MGID]["key"]] == [(1, "$MGID", "uint16")]
    assert [(k["id"], k["name"], k["type"]["type"]) for k in tables[NODE]["key"]] == \
        [(1, "$MULTICAST_NODE_ID", "uint32")]
    fields = [(d["singleton"]["id"], d["singleton"]["name"], d["singleton"]["type"]["type"], d["singleton"]["repeated"])
              for d in tables[NODE]["data"]]
    assert fields == [(1, "$MULTICAST_RID", "uint16", False), (2, "$MULTICAST_LAG_ID", "uint8", True),
                      (3, "$DEV_PORT", "uint32", True)]
    names = [d["singleton"]["name"] for d in tables[MGID]["data"]]
    assert names == ["$MULTICAST_NODE_ID", "$MULTICAST_NODE_L1_XID_VALID", "$MULTICAST_NODE_L1_XID",
                     "$MULTICAST_ECMP_ID", "$MULTICAST_ECMP_L1_XID_VALID", "$MULTICAST_ECMP_L1_XID"]


def test_unicast_and_one_copy_per_node_port_with_its_rid(switch):
    c, servicer = switch
    node(c, 1, 7, [2, 3])
    node(c, 2, 9, [4])
    group(c, 5, [1, 2])
    assert copies(servicer, frame(5)) == [(1, 0), (2, 7), (3, 7), (4, 9)]
    assert copies(servicer, frame(0)) == [(1, 0)]  # mcast_grp_a 0: no multicast, nothing counted
    stats = servicer.stats()
    assert stats["mcast_copies"] == 3 and "mcast_unknown_mgid" not in stats
    # Level-1 exclusion: node 2 carries L1 XID 3; a packet with level1_exclusion_id 3 skips it.
    group(c, 5, [1, 2], [None, 3], modify=True)
    assert copies(servicer, frame(5, xid=3)) == [(1, 0), (2, 7), (3, 7)]
    assert copies(servicer, frame(5, xid=4)) == [(1, 0), (2, 7), (3, 7), (4, 9)]


def test_drop_ctl_drops_every_copy_and_unknown_mgids_are_counted(switch):
    c, servicer = switch
    node(c, 1, 7, [2, 3])
    group(c, 5, [1])
    assert copies(servicer, frame(5, drop=1)) == []
    assert servicer.stats()["drop_ctl_ingress"] == 1
    assert copies(servicer, frame(6)) == [(1, 0)]  # unknown MGID: only the unicast copy
    assert servicer.stats()["mcast_unknown_mgid"] == 1


def test_read_back_modify_delete(switch):
    c, servicer = switch
    node(c, 1, 7, [3, 2, 3])  # a port bitmap in the SDE: read back sorted, once each
    node(c, 2, 9, [4])
    group(c, 5, [2, 1], [3, None])
    (n,) = c.entries(NODE, {"$MULTICAST_NODE_ID": 1})
    assert n.key == {"$MULTICAST_NODE_ID": 1} and n.data_int("$MULTICAST_RID") == 7
    assert n.data_ints("$DEV_PORT") == [2, 3] and n.data_ints("$MULTICAST_LAG_ID") == []
    (g,) = c.entries(MGID, {"$MGID": 5})
    assert g.data_ints("$MULTICAST_NODE_ID") == [2, 1]
    assert g.data_bools("$MULTICAST_NODE_L1_XID_VALID") == [True, False]
    assert g.data_ints("$MULTICAST_NODE_L1_XID") == [3, 0] and g.data_ints("$MULTICAST_ECMP_ID") == []
    assert [e.key_int("$MULTICAST_NODE_ID") for e in c.entries(NODE)] == [1, 2]
    # MODIFY a node's ports: the next packet follows them.
    c.modify(NODE, {"$MULTICAST_NODE_ID": 1}, None, {"$MULTICAST_RID": 7, "$MULTICAST_LAG_ID": [], "$DEV_PORT": [6]})
    assert copies(servicer, frame(5)) == [(1, 0), (4, 9), (6, 7)]
    # MODIFY a group replaces its members.
    group(c, 5, [1], modify=True)
    assert copies(servicer, frame(5)) == [(1, 0), (6, 7)]
    # DELETE a node its group holds: the SDE takes it out of the group (bf_mc_node_destroy), no error.
    c.delete(NODE, {"$MULTICAST_NODE_ID": 1})
    assert c.entries(MGID, {"$MGID": 5})[0].data_ints("$MULTICAST_NODE_ID") == []
    assert copies(servicer, frame(5)) == [(1, 0)]
    with pytest.raises(BfrtError, match="NOT_FOUND"):
        c.entries(NODE, {"$MULTICAST_NODE_ID": 1})
    c.delete(MGID, {"$MGID": 5})
    assert c.entries(MGID) == []
    assert copies(servicer, frame(5)) == [(1, 0)]
    with pytest.raises(BfrtError, match="NOT_FOUND"):
        c.delete(MGID, {"$MGID": 5})


def code_of(fn) -> tuple[str, str]:
    with pytest.raises(BfrtError) as info:
        fn()
    return info.value.code, str(info.value)


def test_errors_match_the_sde(switch):
    c, servicer = switch
    node(c, 1, 7, [2])
    node(c, 2, 8, [3])
    group(c, 5, [1])
    assert code_of(lambda: node(c, 1, 7, [2]))[0] == "ALREADY_EXISTS"
    assert code_of(lambda: group(c, 5, [2]))[0] == "ALREADY_EXISTS"
    # A node belongs to one group (mc_mgr_l1_associate), also within one group.
    code, msg = code_of(lambda: group(c, 6, [1]))
    assert code == "ALREADY_EXISTS" and "already associated with MGID 5" in msg
    assert code_of(lambda: group(c, 6, [2, 2]))[0] == "ALREADY_EXISTS"
    code, msg = code_of(lambda: group(c, 6, [9]))
    assert code == "NOT_FOUND" and "node id 9" in msg
    assert code_of(lambda: c.entries(MGID, {"$MGID": 6}))[0] == "NOT_FOUND"  # the failed inserts left nothing
    # Array lengths (mcMGIDValidateDataMbrsSize).
    code, msg = code_of(lambda: c.insert(MGID, {"$MGID": 6}, None, {
        "$MULTICAST_NODE_ID": [2], "$MULTICAST_NODE_L1_XID_VALID": [False, False], "$MULTICAST_NODE_L1_XID": [0]}))
    assert code == "INVALID_ARGUMENT" and "Node L1 XIDs size 1 and Node L1 XIDs Valid size 2 do not match" in msg
    code, msg = code_of(lambda: c.insert(MGID, {"$MGID": 6}, None, {"$MULTICAST_NODE_ID": [2]}))
    assert code == "INVALID_ARGUMENT" and "Multicast Node IDs size 1 and Node L1 XIDs size 0" in msg
    # What the emulator does not model is refused, never ignored.
    code, msg = code_of(lambda: c.insert(NODE, {"$MULTICAST_NODE_ID": 3}, None,
                                         {"$MULTICAST_RID": 1, "$MULTICAST_LAG_ID": [4], "$DEV_PORT": [2]}))
    assert code == "UNIMPLEMENTED" and "$pre.lag" in msg
    code, msg = code_of(lambda: c.insert(MGID, {"$MGID": 6}, None, {"$MULTICAST_ECMP_ID": [1],
                        "$MULTICAST_ECMP_L1_XID_VALID": [False], "$MULTICAST_ECMP_L1_XID": [0]}))
    assert code == "UNIMPLEMENTED" and "$pre.ecmp" in msg
    code, msg = code_of(lambda: c.modify(NODE, {"$MULTICAST_NODE_ID": 2}, None,
                                         {"$MULTICAST_RID": 99, "$MULTICAST_LAG_ID": [], "$DEV_PORT": [3]}))
    assert code == "INVALID_ARGUMENT" and "cannot change it" in msg
    inc = c.make_update(pb.Update.MODIFY_INC, MGID, {"$MGID": 5}, None, {"$MULTICAST_NODE_ID": [2],
                        "$MULTICAST_NODE_L1_XID_VALID": [False], "$MULTICAST_NODE_L1_XID": [0]})
    assert code_of(lambda: c.write([inc]))[0] == "UNIMPLEMENTED"
    assert code_of(lambda: node(c, 4, 1, [512]))[0] == "INVALID_ARGUMENT"
    assert code_of(lambda: c.delete(MGID))[0] == "INVALID_ARGUMENT"  # no clear for PRE tables
    # The client types the arrays: a list for a single-valued field, a non-bool in a bool array.
    assert code_of(lambda: node(c, 4, [1], [2]))[0] == "INVALID_ARGUMENT"  # an RID list
    assert code_of(lambda: c.insert(MGID, {"$MGID": 6}, None, {"$MULTICAST_NODE_ID": [2],
                   "$MULTICAST_NODE_L1_XID_VALID": [0], "$MULTICAST_NODE_L1_XID": [0]}))[0] == "INVALID_ARGUMENT"
    # An atomic batch that fails half-way leaves the PRE as it was.
    ok = c.make_update(pb.Update.INSERT, NODE, {"$MULTICAST_NODE_ID": 4}, None,
                       {"$MULTICAST_RID": 4, "$MULTICAST_LAG_ID": [], "$DEV_PORT": [6]})
    bad = c.make_update(pb.Update.INSERT, MGID, {"$MGID": 5}, None, {})
    with pytest.raises(BfrtError, match="rolled back"):
        c.write([ok, bad], pb.WriteRequest.ROLLBACK_ON_ERROR)
    assert [e.key_int("$MULTICAST_NODE_ID") for e in c.entries(NODE)] == [1, 2]
    assert copies(servicer, frame(5)) == [(1, 0), (2, 7)]


def test_a_program_push_starts_the_pre_empty(switch, tmp_path):
    c, servicer = switch
    node(c, 1, 7, [2])
    group(c, 5, [1])
    c.push_program("mcast_clone", tmp_path / "b")
    c.bind("mcast_clone")
    assert c.entries(NODE) == [] and c.entries(MGID) == []
    assert copies(servicer, frame(5)) == [(1, 0)]


@pytest.mark.netns
def test_copies_leave_through_the_traffic_manager_on_veth_ports():
    """The whole switch (AF_PACKET rings → ingress → PRE → TM → egress → ports) in a network namespace: the
    unicast copy and each multicast copy arrive on their own interface, stamped with their RID."""
    import select
    import time

    from srchain_emu.bfrt_server import BfRuntimeServer
    from srchain_emu.interp.pipeline import Pipeline
    from srchain_emu.netns import Netns
    from srchain_emu.portio import RingPort
    from srchain_emu.ports import PortSpec, open_port_socket
    from srchain_emu.pre import PRE_MGID_ID, PRE_NODE_ID
    from srchain_emu.switch import DataPlane

    with Netns(5) as ns:
        specs = [PortSpec(i, ns.switch_ifs[i]) for i in range(5)]
        server = BfRuntimeServer()
        server.install("prog", Pipeline.from_file(P4_DIR / "mcast_clone.p4"))
        pre = server.programs["prog"].pre
        pre.write(PRE_NODE_ID, "INSERT", 1, {"$MULTICAST_RID": 7, "$DEV_PORT": [2, 3]})
        pre.write(PRE_NODE_ID, "INSERT", 2, {"$MULTICAST_RID": 9, "$DEV_PORT": [4]})
        pre.write(PRE_MGID_ID, "INSERT", 5, {"$MULTICAST_NODE_ID": [1, 2], "$MULTICAST_NODE_L1_XID_VALID": [False] * 2,
                                             "$MULTICAST_NODE_L1_XID": [0, 0]})
        ports = ns.run_inside(lambda: {s.device_port: RingPort(s.ifname) for s in specs})
        hosts = ns.run_inside(lambda: [open_port_socket(h) for h in ns.host_ifs])
        dp = DataPlane(server, specs, ports)
        dp.start()
        try:
            hosts[0].send(frame(5))
            got: dict[int, list[int]] = {}
            deadline = time.monotonic() + 3
            while sum(map(len, got.values())) < 4 and time.monotonic() < deadline:
                ready, _, _ = select.select(hosts[1:], [], [], 0.05)
                for s in ready:
                    f, addr = s.recvfrom(16384)
                    if addr[2] != 4 and f[12:14] == b"\x88\xb5":  # not our own outgoing frames
                        got.setdefault(hosts.index(s), []).append(int.from_bytes(f[20:22], "big"))
            assert got == {1: [0], 2: [7], 3: [7], 4: [9]}
        finally:
            dp.stop()
            for s in hosts:
                s.close()
