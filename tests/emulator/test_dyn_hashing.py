"""Dynamic hashing (interp/dynhash.py, dynhash_tables.py): a Hash's `.configure` / `.algorithm` / `.compute`
tables and a selector's `_get_member`, served with bf-p4c's schema, driven through BF Runtime as the SDE's
tna_dyn_hashing drives them (default_entry_set / _reset / _get, entry_get by key), and honoured by the data
plane. The SDE client's own run of tna_dyn_hashing is in docs/emulator.md (5 of 5 test classes)."""

from __future__ import annotations

import binascii
import json

import pytest
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_schema import bfrt_info
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.interp import dynhash as DH
from srchain_emu.interp.pipeline import Pipeline

ETH = bytes.fromhex("020000000002" "020000000001" "88b5")
HASH = "pipe.Ig.flow_hash"
FIELDS = ["hdr.flow.a", "hdr.flow.b", "hdr.flow.c", "hdr.flow.d"]
START, LENGTH, ORDER = 65584, 65585, 65586


def frame(a: int, b: int, c: int, d: int) -> bytes:
    return ETH + a.to_bytes(4, "big") + b.to_bytes(4, "big") + c.to_bytes(2, "big") + d.to_bytes(2, "big") + bytes(4)


def h_of(out) -> int:
    return int.from_bytes(out.frame[26:30], "big")


@pytest.fixture
def sw(tmp_path):
    srv, servicer, port = serve("127.0.0.1:0")
    compile_to_dir(P4_DIR / "dyn_hash.p4", tmp_path / "out")
    c = BfrtClient(f"127.0.0.1:{port}")
    c.subscribe(learn=False)
    c.push_program("dyn_hash", tmp_path / "out")
    c.bind("dyn_hash")
    info = json.loads((tmp_path / "out" / "bf-rt.json").read_text())
    try:
        yield c, servicer, {t["name"]: t for t in info["tables"]}
    finally:
        c.close()
        srv.stop(grace=None)


def run(servicer, a: int, b: int, c: int, d: int, port: int = 0):
    (o,) = servicer.process(port, frame(a, b, c, d), 0)
    return o


def default_update(tables: dict, name: str, kind=pb.Update.MODIFY, action: int = 0) -> pb.Update:
    u = pb.Update(type=kind)
    te = u.entity.table_entry
    te.table_id, te.is_default_entry = tables[name]["id"], True
    te.data.action_id = action
    return u


def configure(c: BfrtClient, tables: dict, slices: list[tuple[str, int | None, int | None, int]]) -> None:
    """default_entry_set of `.configure`: (field, start_bit, length, order); None: not sent (its default)."""
    u = default_update(tables, f"{HASH}.configure")
    by_field: dict[str, list[tuple[int | None, int | None, int]]] = {}
    for name, start, length, order in slices:
        by_field.setdefault(name, []).append((start, length, order))
    for name, lst in by_field.items():
        f = u.entity.table_entry.data.fields.add(field_id=FIELDS.index(name) + 1)
        for start, length, order in lst:
            cont = f.container_arr_val.container.add()
            for fid, v in ((START, start), (LENGTH, length), (ORDER, order)):
                inner = cont.val.add(field_id=fid)
                if v is not None:
                    inner.stream = v.to_bytes(8, "big")
    c.write([u])


def read_default(c: BfrtClient, tables: dict, name: str) -> pb.TableEntry:
    req = pb.ReadRequest(client_id=c.client_id)
    req.target.pipe_id = 0xFFFF
    te = req.entities.add().table_entry
    te.table_id, te.is_default_entry = tables[name]["id"], True
    (got,) = c.read(req)
    return got


def slices_read(c: BfrtClient, tables: dict) -> dict[str, list[tuple[int, int, int]]]:
    got = read_default(c, tables, f"{HASH}.configure")
    out = {}
    for f in got.data.fields:
        vals = [{v.field_id: int.from_bytes(v.stream, "big") for v in cont.val}
                for cont in f.container_arr_val.container]
        out[FIELDS[f.field_id - 1]] = [(v[START], v[LENGTH], v[ORDER]) for v in vals]
    return out


def set_algorithm(c: BfrtClient, tables: dict, action: str, **fields: object) -> None:
    t = tables[f"{HASH}.algorithm"]
    u = default_update(tables, f"{HASH}.algorithm", action=next(a["id"] for a in t["action_specs"]
                                                                if a["name"] == action))
    ids = {d["singleton"]["name"]: d["singleton"]["id"] for d in t["data"]}
    ids.update({d["name"]: d["id"] for a in t["action_specs"] if a["name"] == action for d in a["data"]})
    for name, v in fields.items():
        f = u.entity.table_entry.data.fields.add(field_id=ids[name])
        if isinstance(v, bool):
            f.bool_val = v
        elif isinstance(v, str):
            f.str_val = v
        else:
            f.stream = int(v).to_bytes(8 if name not in ("rotate", "seed") else 4, "big")  # type: ignore[call-overload]
    c.write([u])


def compute(c: BfrtClient, tables: dict, a: int, b: int, cc: int, d: int) -> int:
    req = pb.ReadRequest(client_id=c.client_id)
    req.target.pipe_id = 0xFFFF
    te = req.entities.add().table_entry
    te.table_id = tables[f"{HASH}.compute"]["id"]
    for i, (v, n) in enumerate(((a, 4), (b, 4), (cc, 2), (d, 2)), start=1):
        te.key.fields.add(field_id=i).exact.value = v.to_bytes(n, "big")
    (got,) = c.read(req)
    (f,) = got.data.fields
    assert (f.field_id, len(f.stream)) == (65583, 8)
    return int.from_bytes(f.stream, "big")


def crc(params: tuple[int, int, bool, int, int], data: bytes) -> int:
    width, poly, rev, init, xor = params
    return DH.R.crc_custom((width, poly, rev, False, False, init, xor), data, width)


FLOW = (0x0A000001, 0xC0A80102, 0x1234, 0x0050)
FLOW_BYTES = bytes.fromhex("0a000001" "c0a80102" "1234" "0050")


def test_tables_match_bf_p4c_schema():
    p = Pipeline.from_file(P4_DIR / "dyn_hash.p4")
    tables = {t["name"]: t for t in bfrt_info(p)["tables"]}
    # bf-p4c lists the three tables for a Hash read through get() (not for the selector's hash) and a
    # _get_member per selector, with these types, ids' prefixes and fields (bf-p4c 1.2.5.16's bfrt.json of dyn_hash.p4:
    # the same keys, data and actions)
    assert {n: t["table_type"] for n, t in tables.items() if "Dyn" in t["table_type"] or "Get" in t["table_type"]} \
        == {f"{HASH}.configure": "DynHashConfigure", f"{HASH}.algorithm": "DynHashAlgorithm",
            f"{HASH}.compute": "DynHashCompute", "pipe.Ig.spread_get_member": "SelectorGetMember"}
    cfg = tables[f"{HASH}.configure"]
    assert [hex(tables[n]["id"] >> 24) for n in (f"{HASH}.configure", f"{HASH}.compute", f"{HASH}.algorithm",
                                                  "pipe.Ig.spread_get_member")] == ["0x95", "0x96", "0x97", "0x9a"]
    assert [(d["singleton"]["id"], d["singleton"]["name"], d["singleton"]["repeated"]) for d in cfg["data"]] == \
        [(i, n, True) for i, n in enumerate(FIELDS, start=1)]
    inner = cfg["data"][2]["singleton"]["container"]
    assert [(x["singleton"]["id"], x["singleton"]["name"], x["mandatory"], x["singleton"]["type"]) for x in inner] == [
        (START, "start_bit", False, {"type": "uint64", "default_value": 0}),
        (LENGTH, "length", False, {"type": "uint64", "default_value": 16}),
        (ORDER, "order", True, {"type": "uint64"})]
    algo = tables[f"{HASH}.algorithm"]
    assert algo["depends_on"] == [cfg["id"]] and algo["key"] == []
    assert [d["singleton"]["name"] for d in algo["data"]] == ["rotate", "seed", "msb", "extend"]
    assert [(a["id"], a["name"], [d["name"] for d in a["data"]]) for a in algo["action_specs"]] == [
        (65581, "pre_defined", ["algorithm_name"]),
        (65582, "user_defined", ["reverse", "polynomial", "init", "final_xor", "hash_bit_width"])]
    assert "CRC_64_JONES" in algo["action_specs"][0]["data"][0]["type"]["choices"]
    comp = tables[f"{HASH}.compute"]
    assert comp["read_only"] and [(k["name"], k["type"]) for k in comp["key"]] == [
        ("hdr.flow.a", {"type": "bytes", "width": 32}), ("hdr.flow.b", {"type": "bytes", "width": 32}),
        ("hdr.flow.c", {"type": "bytes", "width": 16}), ("hdr.flow.d", {"type": "bytes", "width": 16})]
    assert comp["data"][0]["singleton"]["name"] == "hash_value" and comp["data"][0]["read_only"]
    gm = tables["pipe.Ig.spread_get_member"]
    assert [(k["id"], k["name"]) for k in gm["key"]] == [(65563, "$SELECTOR_GROUP_ID"), (65583, "hash_value")]
    assert gm["data"][0]["singleton"]["name"] == "$ACTION_MEMBER_ID"


def test_default_configuration_is_the_program_and_resets_to_it(sw):
    c, servicer, tables = sw
    assert slices_read(c, tables) == {"hdr.flow.a": [(0, 32, 1)], "hdr.flow.b": [(0, 32, 2)],
                                      "hdr.flow.c": [(0, 16, 3)], "hdr.flow.d": [(0, 16, 4)]}
    declared = crc(DH.PREDEFINED_CRCS["crc_64"], FLOW_BYTES) & 0xFFFFFFFF
    assert h_of(run(servicer, *FLOW)) == declared
    # the same list written explicitly hashes the same; compute answers the 32 bits the program reads
    configure(c, tables, [(n, None, None, i) for i, n in enumerate(FIELDS, start=1)])
    assert h_of(run(servicer, *FLOW)) == declared == compute(c, tables, *FLOW)
    algo = read_default(c, tables, f"{HASH}.algorithm")
    assert algo.data.action_id == 65581 and [f.str_val for f in algo.data.fields if f.field_id == 1] == ["CRC_64"]
    configure(c, tables, [("hdr.flow.b", None, None, 1)])
    assert slices_read(c, tables)["hdr.flow.a"] == [(0, 32, 0)]  # left out: order 0
    c.reset_default(f"{HASH}.configure")
    assert slices_read(c, tables)["hdr.flow.a"] == [(0, 32, 1)]
    assert h_of(run(servicer, *FLOW)) == declared


def test_order_slices_and_symmetric_pairs_change_the_hash(sw):
    c, servicer, tables = sw
    configure(c, tables, [("hdr.flow.b", None, None, 1), ("hdr.flow.a", None, None, 2),
                          ("hdr.flow.c", None, None, 3), ("hdr.flow.d", None, None, 4)])
    swapped = bytes.fromhex("c0a80102" "0a000001" "1234" "0050")
    assert h_of(run(servicer, *FLOW)) == crc(DH.PREDEFINED_CRCS["crc_64"], swapped) & 0xFFFFFFFF
    # a masked-out slice: bits outside [8, 32) of a do not change the hash, bits inside do
    configure(c, tables, [("hdr.flow.a", 8, None, 1), ("hdr.flow.b", None, None, 2)])
    base = h_of(run(servicer, *FLOW))
    assert h_of(run(servicer, FLOW[0] ^ 0xFF, *FLOW[1:])) == base
    assert h_of(run(servicer, FLOW[0] ^ 0x100, *FLOW[1:])) != base
    assert h_of(run(servicer, FLOW[0], FLOW[1], 7, 9)) == base  # c, d left out
    # a and b of one order: symmetric, swapping them keeps the hash
    configure(c, tables, [("hdr.flow.a", None, None, 1), ("hdr.flow.b", None, None, 1),
                          ("hdr.flow.c", None, None, 2), ("hdr.flow.d", None, None, 2)])
    assert h_of(run(servicer, *FLOW)) == h_of(run(servicer, FLOW[1], FLOW[0], FLOW[3], FLOW[2]))
    assert h_of(run(servicer, *FLOW)) != h_of(run(servicer, FLOW[1], FLOW[0] ^ 1, FLOW[3], FLOW[2]))


@pytest.mark.parametrize(("slices", "message"), [
    ([("hdr.flow.a", 3, 4, 1), ("hdr.flow.a", 1, 9, 2)], "overlap"),
    ([("hdr.flow.a", 37, 4, 1)], "start_bit 37 is not below the field's width 32"),
    ([("hdr.flow.a", 0, 5, 2), ("hdr.flow.a", 5, 5, 2), ("hdr.flow.a", 10, 5, 2)], "at most two"),
    ([("hdr.flow.a", 0, 3, 2), ("hdr.flow.a", 5, 5, 2)], "equal lengths"),
])
def test_configure_refusals(sw, slices, message):
    c, servicer, tables = sw
    before = h_of(run(servicer, *FLOW))
    with pytest.raises(BfrtError, match=message):
        configure(c, tables, slices)
    assert h_of(run(servicer, *FLOW)) == before  # nothing changed


def test_algorithms_rotation_and_seed(sw):
    c, servicer, tables = sw
    set_algorithm(c, tables, "pre_defined", algorithm_name="crc_32", msb=False, extend=False)
    assert h_of(run(servicer, *FLOW)) == binascii.crc32(FLOW_BYTES) == compute(c, tables, *FLOW)
    set_algorithm(c, tables, "user_defined", polynomial=0x1021, reverse=True, init=0xFFFF, final_xor=0xFFFF,
                  hash_bit_width=16)
    assert h_of(run(servicer, *FLOW)) == crc(DH.PREDEFINED_CRCS["x_25"], FLOW_BYTES)
    # rotate: the 32 bits the program reads, rotated left by 2 (extend repeats the 32-bit CRC over 64 bits)
    set_algorithm(c, tables, "pre_defined", algorithm_name="CRC_32", extend=True, rotate=2)
    h = binascii.crc32(FLOW_BYTES)
    assert h_of(run(servicer, *FLOW)) == ((h << 2) | (h >> 30)) & 0xFFFFFFFF == compute(c, tables, *FLOW)
    got = read_default(c, tables, f"{HASH}.algorithm")
    fields = {f.field_id: f for f in got.data.fields}
    assert int.from_bytes(fields[65577].stream, "big") == 2 and fields[65580].bool_val and fields[1].str_val == "CRC_32"
    # a seed replaces the constant part: the hash moves by (seed XOR the all-zero input's hash)
    default_seed = int.from_bytes(fields[65578].stream, "big")
    set_algorithm(c, tables, "pre_defined", algorithm_name="CRC_32", extend=True, rotate=2, seed=0x1234)
    assert h_of(run(servicer, *FLOW)) == ((h << 2) | (h >> 30)) & 0xFFFFFFFF ^ default_seed ^ 0x1234
    c.reset_default(f"{HASH}.algorithm")
    assert h_of(run(servicer, *FLOW)) == crc(DH.PREDEFINED_CRCS["crc_64"], FLOW_BYTES) & 0xFFFFFFFF


@pytest.mark.parametrize(("action", "fields", "message"), [
    ("pre_defined", {"algorithm_name": "crc_33"}, "unknown algorithm_name"),
    ("pre_defined", {"algorithm_name": "Crc_32"}, "unknown algorithm_name"),
    ("pre_defined", {"algorithm_name": "RANDOM"}, "not supported by the emulator"),
    ("pre_defined", {"algorithm_name": "XOR"}, "not supported by the emulator"),
    ("user_defined", {"polynomial": 0x1020, "hash_bit_width": 16}, "Polynomial is not odd"),
    ("user_defined", {"polynomial": 0x7, "init": 0x1FF, "hash_bit_width": 8}, "Init value is larger"),
])
def test_algorithm_refusals(sw, action, fields, message):
    c, _servicer, tables = sw
    with pytest.raises(BfrtError, match=message):
        set_algorithm(c, tables, action, **fields)


def test_compute_and_get_member_are_read_only_and_agree_with_the_data_plane(sw):
    c, servicer, tables = sw
    for mid in (1, 2, 3):
        c.insert("Ig.members", {"$ACTION_MEMBER_ID": mid}, "Ig.to_port", {"port": mid + 4})
    c.insert("Ig.spread", {"$SELECTOR_GROUP_ID": 1}, None, {"$ACTION_MEMBER_ID": [1, 2, 3]})
    c.insert("Ig.fwd", {"ig_intr_md.ingress_port": 0}, None, {"$SELECTOR_GROUP_ID": 1})
    gm = tables["pipe.Ig.spread_get_member"]
    for flow in (FLOW, (1, 2, 3, 4), (0xFFFFFFFF, 0, 0xFFFF, 1)):
        out = run(servicer, *flow)
        h = compute(c, tables, *flow)
        assert h == h_of(out)
        req = pb.ReadRequest(client_id=c.client_id)
        te = req.entities.add().table_entry
        te.table_id = gm["id"]
        te.key.fields.add(field_id=65563).exact.value = (1).to_bytes(8, "big")
        te.key.fields.add(field_id=65583).exact.value = h.to_bytes(8, "big")
        (got,) = c.read(req)
        assert int.from_bytes(got.data.fields[0].stream, "big") + 4 == out.port
    for name in (f"{HASH}.compute", "pipe.Ig.spread_get_member"):
        u = pb.Update(type=pb.Update.INSERT)
        u.entity.table_entry.table_id = tables[name]["id"]
        with pytest.raises(BfrtError, match="read-only"):
            c.write([u])
    u = pb.Update(type=pb.Update.INSERT)
    u.entity.table_entry.table_id = tables[f"{HASH}.configure"]["id"]
    with pytest.raises(BfrtError, match="keyless: set its default entry"):
        c.write([u])


def test_only_a_hash_with_one_get_over_fields_gets_the_tables(tmp_path):
    again = "action take_again() { hdr.flow.a = flow_hash.get({hdr.flow.b})[31:0]; }\n    "
    src = (P4_DIR / "dyn_hash.p4").read_text().replace("table hashing {", again + "table hashing {")
    src = src.replace("actions = { take_hash; }", "actions = { take_hash; take_again; }")
    path = tmp_path / "t.p4"
    path.write_text(src)
    p = Pipeline.from_file(path)
    assert p.dyn_hashes == {}  # two get() sites with different field lists: one static hash each, no tables
    assert not any(t["table_type"].startswith("DynHash") for t in bfrt_info(p)["tables"])
