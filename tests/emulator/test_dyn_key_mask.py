"""Dynamic key masks (issue 16, the SDE's tna_dkm): an exact table declared `@dynamic_table_key_masks(1)` has the
DynamicKeyMask attribute in bf-rt.json (bf-p4c's order: after EntryScope); the control plane reads it (all ones at
first) and sets one mask per key field (a field left out gets 0) while the table has no entries; entry keys are
stored masked (so two keys that differ only in masked-out bits are one entry) and the data plane masks the packet's
key before the exact lookup. Program: a snippet (emu_helpers.TEMPLATE) with the DKM table `Ig.dkm` and a plain
exact table `Ig.plain`. The SDE client's own run of tna_dkm is in docs/emulator.md (2 of 2 test classes)."""

from __future__ import annotations

import json

import pytest
from emu_helpers import data_frame, program_text

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.frontend.errors import P4Error
from srchain_emu.interp.pipeline import Pipeline

DKM, PLAIN = "pipe.Ig.dkm", "pipe.Ig.plain"
PORT, D, C = "ig_intr_md.ingress_port", "hdr.data.d", "hdr.data.c[7:0]"

LOCALS = """
    action fwd(PortId_t port) { ig_tm_md.ucast_egress_port = port; }
    @dynamic_table_key_masks(1)
    table dkm {
        key = { ig_intr_md.ingress_port : exact; hdr.data.d : exact; hdr.data.c[7:0] : exact; }
        actions = { fwd; NoAction; }
        size = 64;
    }
    table plain {
        key = { hdr.data.a : exact; }
        actions = { fwd; NoAction; }
        size = 64;
    }
"""
APPLY = "        plain.apply();\n        dkm.apply();"


def dkm_program(table_annotation: str = "@dynamic_table_key_masks(1)", key_kind: str = "exact") -> str:
    return program_text(
        locals=LOCALS.replace("@dynamic_table_key_masks(1)", table_annotation).replace(
            "hdr.data.d : exact", f"hdr.data.d : {key_kind}"),
        apply=APPLY)


@pytest.fixture()
def sw(tmp_path):
    src = tmp_path / "dkm.p4"
    src.write_text(dkm_program())
    server, servicer, _ = serve(f"unix:{tmp_path / 'bfrt.sock'}")
    compile_to_dir(src, tmp_path / "b")
    c = BfrtClient(f"unix:{tmp_path / 'bfrt.sock'}", client_id=1, timeout=5.0)
    c.subscribe(learn=False)
    c.push_program("dkm", tmp_path / "b")
    c.bind("dkm")
    info = json.loads((tmp_path / "b" / "bf-rt.json").read_text())
    try:
        yield c, servicer, {t["name"]: t for t in info["tables"]}
    finally:
        c.close()
        server.stop(grace=None)


def out_port(servicer, ingress: int, d: int, c: int = 0) -> int:
    (o,) = servicer.process(ingress, data_frame(d=d, c=c), 0)
    return int(o.port)


def key_ids(tables: dict, name: str) -> dict[str, int]:
    return {k["name"]: k["id"] for k in tables[name]["key"]}


def set_mask(c: BfrtClient, tables: dict, name: str, masks: dict[str, bytes],
             ids: dict[str, int] | None = None) -> None:
    """attribute_dyn_key_mask_set as the SDE client sends it: one KeyFieldMask per named field."""
    ids = ids or key_ids(tables, name)
    u = pb.Update(type=pb.Update.INSERT)
    ta = u.entity.table_attribute
    ta.table_id = tables[name]["id"]
    for field, mask in masks.items():
        ta.dyn_key_mask.fields.add(field_id=ids[field], mask=mask)
    c.write([u])


def read_mask(c: BfrtClient, tables: dict, name: str = DKM) -> dict[str, bytes]:
    """attribute_get(target, "DynamicKeyMask"): every key field's mask, by name."""
    req = pb.ReadRequest(client_id=1, target=pb.TargetDevice(device_id=0, pipe_id=0xFFFF))
    ta = req.entities.add().table_attribute
    ta.table_id = tables[name]["id"]
    ta.dyn_key_mask.SetInParent()
    (ent,) = c.read_entities(req)
    names = {v: k for k, v in key_ids(tables, name).items()}
    return {names[f.field_id]: f.mask for f in ent.table_attribute.dyn_key_mask.fields}


FULL = {PORT: b"\x01\xff", D: b"\xff\xff\xff\xff", C: b"\xff"}


def test_schema_lists_the_attribute_for_annotated_tables_only(sw):
    _, _, tables = sw
    assert tables[DKM]["attributes"] == ["EntryScope", "DynamicKeyMask"]
    assert tables[PLAIN]["attributes"] == ["EntryScope"]


def test_mask_masks_entry_keys_and_packet_keys(sw):
    c, servicer, tables = sw
    assert read_mask(c, tables) == FULL  # all ones until set: the lookup is plain exact
    c.insert(DKM, {PORT: 3, D: 0x0A000001, C: 7}, "Ig.fwd", {"port": 9})
    assert out_port(servicer, 3, 0x0A000001, 7) == 9
    assert out_port(servicer, 4, 0x0A000001, 7) == 1  # another ingress port misses (the template's port 1)
    # ignore the ingress port and the slice, and the low byte of d
    with pytest.raises(BfrtError, match="changes only while the table has no entries"):
        set_mask(c, tables, DKM, {PORT: b"\x00\x00", D: b"\xff\xff\xff\x00"})
    assert read_mask(c, tables) == FULL, "the refused mask left the old one"
    assert out_port(servicer, 4, 0x0A000001, 7) == 1
    c.delete(DKM)
    set_mask(c, tables, DKM, {PORT: b"\x00\x00", D: b"\xff\xff\xff\x00"})  # C left out: mask 0, as the SDE
    assert read_mask(c, tables) == {PORT: b"\x00\x00", D: b"\xff\xff\xff\x00", C: b"\x00"}
    # the key is stored masked: read back masked, and a key differing only in masked-out bits is the same entry
    c.insert(DKM, {PORT: 3, D: 0x0A000001, C: 7}, "Ig.fwd", {"port": 9})
    (e,) = c.entries(DKM)
    assert (e.key_int(PORT), e.key_int(D), e.key_int(C)) == (0, 0x0A000000, 0)
    with pytest.raises(BfrtError, match="entry already exists"):
        c.insert(DKM, {PORT: 5, D: 0x0A0000FF, C: 1}, "Ig.fwd", {"port": 8})
    assert [x.data_int("port") for x in c.entries(DKM, {PORT: 1, D: 0x0A000042, C: 2})] == [9]
    # packets: any port, any slice value, any low byte of d hit; another high part of d misses
    hits = ((3, 0x0A000001, 7), (4, 0x0A0000FE, 0), (8, 0x0A000000, 99))
    assert [out_port(servicer, p, d, cc) for p, d, cc in hits] == [9, 9, 9]
    assert out_port(servicer, 3, 0x0A000101, 7) == 1
    c.delete(DKM, {PORT: 7, D: 0x0A000077, C: 3})  # deleted by a key that masks to the stored one
    assert c.entries(DKM) == []
    assert out_port(servicer, 3, 0x0A000001, 7) == 1
    set_mask(c, tables, DKM, FULL)  # back to the full key (tna_dkm's tearDown)
    assert read_mask(c, tables) == FULL


def test_refusals_leave_the_mask(sw):
    c, servicer, tables = sw
    set_mask(c, tables, DKM, {PORT: b"\x01\xff", D: b"\xff\xff\x00\x00", C: b"\xff"})
    before = read_mask(c, tables)
    with pytest.raises(BfrtError, match=r"not declared with @dynamic_table_key_masks\(1\): no DynamicKeyMask"):
        set_mask(c, tables, PLAIN, {"hdr.data.a": b"\x00"})
    with pytest.raises(BfrtError, match=r"not declared with @dynamic_table_key_masks\(1\)"):
        read_mask(c, tables, PLAIN)
    with pytest.raises(BfrtError, match="is 9 bits: its mask takes 2 bytes, not 1"):
        set_mask(c, tables, DKM, {PORT: b"\xff", D: b"\xff\xff\xff\xff"})
    with pytest.raises(BfrtError, match="mask 0xfff does not fit in 9 bits"):
        set_mask(c, tables, DKM, {PORT: b"\x0f\xff", D: b"\xff\xff\xff\xff"})
    with pytest.raises(BfrtError, match="no key field id 99"):
        set_mask(c, tables, DKM, {"bogus": b"\xff"}, ids={"bogus": 99})
    assert read_mask(c, tables) == before
    c.insert(DKM, {PORT: 3, D: 0x0A0B0000, C: 7}, "Ig.fwd", {"port": 9})
    assert out_port(servicer, 3, 0x0A0BFFFF, 7) == 9  # still the mask set first


def test_program_checks_and_push_reset(tmp_path):
    def load(text: str) -> Pipeline:
        path = tmp_path / "p.p4"
        path.write_text(text)
        return Pipeline.from_file(path)

    with pytest.raises(P4Error, match="only permitted on exact-match tables"):
        load(dkm_program(key_kind="ternary"))
    with pytest.raises(P4Error, match="needs one constant value"):
        load(dkm_program(table_annotation="@dynamic_table_key_masks"))
    off = load(dkm_program(table_annotation="@dynamic_table_key_masks(0)"))  # bf-p4c: a warning, no masks
    assert off.table("dkm").key_mask is None
    p = load(dkm_program())
    t = p.table("dkm")
    t.set_key_mask((0, 0xFFFFFFFF, 0))
    p.reset_state()  # a program push: the full key again
    assert t.key_mask == (0x1FF, 0xFFFFFFFF, 0xFF)
