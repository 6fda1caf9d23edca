"""Issue 16's TNA constructs, second part: port metadata ($PORT_METADATA), driven through the project's BF
Runtime client over real gRPC (tests/emulator/p4/tna_externs2.p4), and their bf-rt.json shapes against bf-p4c's.
The Intel examples' acceptance list stays in test_tna_externs.py."""

from __future__ import annotations

import pytest
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_emu.bfrt_schema import bfrt_info
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.frontend.errors import P4Error
from srchain_emu.interp.pipeline import Pipeline

ETH = bytes.fromhex("020000000002" "020000000001" "88b5")
PM = "IgParser.$PORT_METADATA"


def frame(a: int, b: int = 0, d: int = 0, size: int = 100) -> bytes:
    head = ETH + bytes([a, b, 0, 0]) + d.to_bytes(4, "big") + bytes(8)
    return head + bytes(size - len(head))


def c_of(out) -> int:
    return int.from_bytes(out.frame[16:18], "big")


def e_of(out) -> int:
    return int.from_bytes(out.frame[22:30], "big")


@pytest.fixture
def sw(tmp_path):
    srv, servicer, port = serve("127.0.0.1:0")
    compile_to_dir(P4_DIR / "tna_externs2.p4", tmp_path / "out")
    c = BfrtClient(f"127.0.0.1:{port}")
    c.subscribe(learn=False)
    c.push_program("tna_externs2", tmp_path / "out")
    c.bind("tna_externs2")
    try:
        yield c, servicer
    finally:
        c.close()
        srv.stop(grace=None)


def load(tmp_path, src: str) -> Pipeline:
    path = tmp_path / "t.p4"
    path.write_text(src)
    return Pipeline.from_file(path)


def run(servicer, f: bytes, port: int = 0, t: int = 0):
    (o,) = servicer.process(port, f, t)
    return o


# ---------------------------------------------------------------- $PORT_METADATA


def test_port_metadata_is_the_ports_phase0_data(sw):
    c, servicer = sw
    assert e_of(run(servicer, frame(1), port=5)) == 0  # unwritten: zeros
    c.insert(PM, {"ig_intr_md.ingress_port": 5}, None, {"f1": 0x1234, "f2": 0xABCDEF, "f3": 0x5678, "f4": 0x9A})
    c.insert(PM, {"ig_intr_md.ingress_port": 6}, None, {"f1": 1, "f2": 2, "f3": 3, "f4": 4})
    assert e_of(run(servicer, frame(1), port=5)) == 0x1234ABCDEF56789A
    assert e_of(run(servicer, frame(1), port=6)) == 0x0001000002000304
    assert e_of(run(servicer, frame(1), port=7)) == 0
    (row,) = c.entries(PM, {"ig_intr_md.ingress_port": 5})
    assert row.data == {"f1": 0x1234, "f2": 0xABCDEF, "f3": 0x5678, "f4": 0x9A}
    assert len(c.entries(PM)) == 2
    c.modify(PM, {"ig_intr_md.ingress_port": 5}, None, {"f1": 7, "f2": 0, "f3": 0, "f4": 0})
    assert e_of(run(servicer, frame(1), port=5)) == 7 << 48
    with pytest.raises(BfrtError):  # an entry exists
        c.insert(PM, {"ig_intr_md.ingress_port": 6}, None, {"f1": 1, "f2": 2, "f3": 3, "f4": 4})
    with pytest.raises(BfrtError):  # every field is mandatory, as bf-rt.json says
        c.insert(PM, {"ig_intr_md.ingress_port": 9}, None, {"f1": 1})
    c.delete(PM, {"ig_intr_md.ingress_port": 5})
    assert e_of(run(servicer, frame(1), port=5)) == 0
    c.delete(PM)
    assert c.entries(PM) == []
    assert e_of(run(servicer, frame(1), port=6)) == 0


def test_port_metadata_table_shape_matches_bf_p4c():
    info = bfrt_info(Pipeline.from_file(P4_DIR / "tna_externs2.p4"))
    (t,) = [x for x in info["tables"] if x["name"] == "pipe.IgParser.$PORT_METADATA"]
    assert (t["table_type"], t["size"], t["id"] >> 24) == ("PortMetadata", 288, 0x90)
    assert [(k["id"], k["name"], k["type"]) for k in t["key"]] == [
        (65575, "ig_intr_md.ingress_port", {"type": "bytes", "width": 9})]
    assert [(d["singleton"]["id"], d["singleton"]["name"], d["singleton"]["type"]["width"], d["mandatory"])
            for d in t["data"]] == [(1, "f1", 16, True), (2, "f2", 24, True), (3, "f3", 16, True), (4, "f4", 8, True)]
    # a program that only advances past the phase-0 bits has nothing to configure: no table
    other = bfrt_info(Pipeline.from_file(P4_DIR / "tna_externs.p4"))
    assert not [x for x in other["tables"] if x["table_type"] == "PortMetadata"]


def test_default_field_feeds_a_phase0_header(tmp_path):
    src = (P4_DIR / "tna_externs2.p4").read_text()
    src = src.replace("md.pm = port_metadata_unpack<port_md_t>(pkt);", "pkt.extract(hdr.pm);")
    src = src.replace("struct headers_t { ethernet_h ethernet; data_h data; }",
                      "header pm_h { bit<64> v; }\nstruct headers_t { pm_h pm; ethernet_h ethernet; data_h data; }")
    src = src.replace("hdr.data.e = md.pm.f1 ++ md.pm.f2 ++ md.pm.f3 ++ md.pm.f4;",
                      "hdr.data.e = hdr.pm.v; hdr.pm.setInvalid();")
    p = load(tmp_path, src)
    p.port_metadata.write(3, {"$DEFAULT_FIELD": 0x0102030405060708})
    (o,) = p.process(3, frame(1))
    assert e_of(o) == 0x0102030405060708
    assert p.port_metadata.get(3) == {"$DEFAULT_FIELD": 0x0102030405060708}
    # a program that extracts a header there: one 64-bit $DEFAULT_FIELD, as bf-p4c writes it
    (t,) = [x for x in bfrt_info(p)["tables"] if x["table_type"] == "PortMetadata"]
    assert [(d["singleton"]["id"], d["singleton"]["name"], d["singleton"]["type"]["width"]) for d in t["data"]] == [
        (65576, "$DEFAULT_FIELD", 64)]


@pytest.mark.parametrize(("snippet", "message"), [
    ("md.pm = port_metadata_unpack<bit<128>>(pkt);", "T must be a struct or header"),
    ("md.pm = port_metadata_unpack(pkt);", "needs its type argument"),
])
def test_port_metadata_unpack_refusals(tmp_path, snippet, message):
    src = (P4_DIR / "tna_externs2.p4").read_text().replace("md.pm = port_metadata_unpack<port_md_t>(pkt);", snippet)
    with pytest.raises(P4Error, match=message) as exc:
        load(tmp_path, src)
    assert "t.p4:" in str(exc.value)


def test_port_metadata_unpack_only_in_the_ingress_parser(tmp_path):
    src = (P4_DIR / "tna_externs2.p4").read_text().replace(
        "state start { pkt.extract(eg_intr_md); transition accept; }",
        "state start { pkt.extract(eg_intr_md); md.pm = port_metadata_unpack<port_md_t>(pkt); transition accept; }")
    with pytest.raises(P4Error, match="only available in the ingress parser"):
        load(tmp_path, src)
