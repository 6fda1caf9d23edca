"""Issue 16's TNA constructs, second part: port metadata ($PORT_METADATA), driven through the project's BF
Runtime client over real gRPC (tests/emulator/p4/tna_externs2.p4), and their bf-rt.json shapes against bf-p4c's.
The Intel examples' acceptance list stays in test_tna_externs.py."""

from __future__ import annotations

import math
import os
from pathlib import Path

import grpc
import pytest
from emu_helpers import P4_DIR

from srchain.bfrt.client import BfrtClient, BfrtError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_emu.bfrt_schema import bfrt_info
from srchain_emu.bfrt_server import serve
from srchain_emu.bundle import compile_to_dir
from srchain_emu.frontend.errors import P4Error
from srchain_emu.interp.pipeline import Pipeline
from srchain_emu.interp.runtime import MirrorSession, crc16, crc_custom

ETH = bytes.fromhex("020000000002" "020000000001" "88b5")
PM = "IgParser.$PORT_METADATA"


def frame(a: int, b: int = 0, d: int = 0, size: int = 100, c: int = 0, e: int = 0) -> bytes:
    head = ETH + bytes([a, b]) + c.to_bytes(2, "big") + d.to_bytes(4, "big") + e.to_bytes(8, "big")
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


# ---------------------------------------------------------------- RegisterParam, DirectRegister, Register.read/write


def d_of(out) -> int:
    return int.from_bytes(out.frame[18:22], "big")


def test_register_params_are_read_by_the_register_action(sw):
    c, servicer = sw
    assert c.entries("Ig.add", default=True)[0].data == {"value": 1}
    olds = [d_of(run(servicer, frame(2, b=3))) for _ in range(3)]
    assert olds == [7, 107, 207]  # second += 100 per packet while below cap (1000)
    # first += add (1); only pipe 0 (the packets' ingress pipe) changes, the others keep the initial {5, 7}
    assert c.register_read("Ig.reg", 3) == {"first": [8, 5, 5, 5], "second": [307, 7, 7, 7]}
    c.set_default("Ig.add", None, {"value": 10})  # type: ignore[arg-type]
    c.set_default("Ig.cap", None, {"value": 300})  # type: ignore[arg-type]
    assert c.entries("Ig.cap", default=True)[0].data == {"value": 300}
    assert [d_of(run(servicer, frame(2, b=3))) for _ in range(2)] == [307, 307]  # capped: second stays
    assert c.register_read("Ig.reg", 3) == {"first": [28, 5, 5, 5], "second": [307, 7, 7, 7]}
    c.reset_default("Ig.add")
    c.reset_default("Ig.cap")
    assert c.entries("Ig.add", default=True)[0].data == {"value": 1}
    run(servicer, frame(2, b=3))
    assert c.register_read("Ig.reg", 3) == {"first": [29, 5, 5, 5], "second": [407, 7, 7, 7]}


def test_direct_register_cell_per_entry_written_and_read_with_the_entry(sw):
    c, servicer = sw
    c.insert("Ig.dtab", {"hdr.data.b": 1}, "Ig.dcount")
    c.insert("Ig.dtab", {"hdr.data.b": 2}, "Ig.dcount_p", {"v": 5, "w": 6, "Ig.dreg.first": 1000,
                                                         "Ig.dreg.second": 2000})
    assert [d_of(run(servicer, frame(3, b=1))) for _ in range(3)] == [2, 102, 202]  # from the initial {1, 2}
    o = run(servicer, frame(3, b=2))
    assert (d_of(o), c_of(o)) == (2000, 11)
    (row,) = c.entries("Ig.dtab", {"hdr.data.b": 1})
    assert (row.data["Ig.dreg.first"], row.data["Ig.dreg.second"]) == ([4, 1, 1, 1], [302, 2, 2, 2])  # pipe 0 ran
    (row,) = c.entries("Ig.dtab", {"hdr.data.b": 2})
    assert row.data == {"v": 5, "w": 6, "Ig.dreg.first": [1001] + [1000] * 3, "Ig.dreg.second": [2100] + [2000] * 3}
    c.modify("Ig.dtab", {"hdr.data.b": 1}, "Ig.dcount", {"Ig.dreg.second": 0})
    assert d_of(run(servicer, frame(3, b=1))) == 0
    (row,) = c.entries("Ig.dtab", {"hdr.data.b": 1})
    assert (row.data["Ig.dreg.first"], row.data["Ig.dreg.second"]) == ([5, 1, 1, 1], [100, 0, 0, 0])
    c.delete("Ig.dtab", {"hdr.data.b": 1})
    c.insert("Ig.dtab", {"hdr.data.b": 1}, "Ig.dcount")
    assert d_of(run(servicer, frame(3, b=1))) == 2  # a new entry starts from the initial value


def test_register_read_write_outside_a_register_action(sw):
    c, servicer = sw
    run(servicer, frame(4, b=6, d=0xCAFE))
    assert d_of(run(servicer, frame(4, b=7))) == 0xCAFE
    assert c.register_read("Ig.plain", 6) == {"f1": [0xCAFE, 0, 0, 0]}
    c.register_write("Ig.plain", 6, {"f1": 42})
    assert d_of(run(servicer, frame(4, b=7))) == 42


def test_register_tables_shape_matches_bf_p4c():
    info = bfrt_info(Pipeline.from_file(P4_DIR / "tna_externs2.p4"))
    tables = {t["name"]: t for t in info["tables"]}
    add, reg = tables["pipe.Ig.add"], tables["pipe.Ig.reg"]
    assert (add["table_type"], add["size"], add["key"], add["depends_on"]) == ("RegisterParam", 1, [], [reg["id"]])
    (d,) = add["data"]
    assert (d["singleton"]["id"], d["singleton"]["name"], d["singleton"]["type"], d["mandatory"]) == (
        1, "value", {"type": "bytes", "width": 32, "default_value": 1}, True)
    dtab = tables["pipe.Ig.dtab"]
    # register fields are numbered after the largest action's parameters (dcount_p has 2), as bf-p4c does
    assert [(x["singleton"]["id"], x["singleton"]["name"], x["singleton"]["annotations"]) for x in dtab["data"]] == [
        (3, "Ig.dreg.first", [{"name": "$bfrt_field_class", "value": "register_data"}]),
        (4, "Ig.dreg.second", [{"name": "$bfrt_field_class", "value": "register_data"}])]
    # optional (an entry may keep the initial value), which the SDE client checks its read-back values against
    assert [x["mandatory"] for x in dtab["data"]] == [False, False]
    assert dtab["supported_operations"] == ["SyncRegisters"]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("dtab.apply();", "hdr.data.d = dreg_step.execute();", "only be executed from an action of its table"),
    ("    Register<bit<32>, bit<8>>(16) plain;",
     "    Register<bit<32>, bit<8>>(16) plain;\n    table other { key = { hdr.data.c : exact; } "
     "actions = { dcount; } }",
     "action Ig.dcount of table other executes a DirectRegisterAction of Ig.dreg"),
    ("action dcount() { hdr.data.d = dreg_step.execute(); }",
     "action dcount() { hdr.data.d = dreg_step.execute(); }\n    action x() { hdr.data.d = add.read(); }",
     "only available inside a RegisterAction"),
    ("Register<bit<32>, bit<8>>(16) plain;", "Register<pair, bit<8>>(16) plain;",
     "struct-valued register is not supported"),
])
def test_register_refusals(tmp_path, old, new, message):
    src = (P4_DIR / "tna_externs2.p4").read_text()
    assert old in src
    with pytest.raises(P4Error, match=message) as exc:
        load(tmp_path, src.replace(old, new))
    assert "t.p4:" in str(exc.value)


# ---------------------------------------------------------------- Alpm, Atcam


def test_alpm_table_is_longest_prefix_match_per_exact_key(sw):
    c, servicer = sw
    c.insert("Ig.alpm_t", {"hdr.data.b": 1, "hdr.data.d": (0x0A000000, 8)}, "Ig.set_c", {"v": 8})
    c.insert("Ig.alpm_t", {"hdr.data.b": 1, "hdr.data.d": (0x0A010000, 16)}, "Ig.set_c", {"v": 16})
    c.insert("Ig.alpm_t", {"hdr.data.b": 2, "hdr.data.d": (0, 0)}, "Ig.set_c", {"v": 99})
    assert c_of(run(servicer, frame(5, b=1, d=0x0A010203))) == 16
    assert c_of(run(servicer, frame(5, b=1, d=0x0A020203))) == 8
    assert c_of(run(servicer, frame(5, b=1, d=0x0B000001))) == 0  # miss: NoAction
    assert c_of(run(servicer, frame(5, b=2, d=0x0A010203))) == 99  # the other exact key's default route
    c.delete("Ig.alpm_t", {"hdr.data.b": 1, "hdr.data.d": (0x0A010000, 16)})
    assert c_of(run(servicer, frame(5, b=1, d=0x0A010203))) == 8
    (row,) = c.entries("Ig.alpm_t", {"hdr.data.b": 1, "hdr.data.d": (0x0A000000, 8)})
    assert row.data == {"v": 8}


def test_atcam_matches_ternary_within_the_entrys_partition(sw):
    c, servicer = sw
    key = "hdr.data.b"
    c.insert("Ig.atcam_t", {key: 1, "hdr.data.d": (0x0A000000, 0xFF000000)}, "Ig.set_c", {"v": 10}, priority=5)
    c.insert("Ig.atcam_t", {key: 1, "hdr.data.d": (0x0A000001, 0xFF0000FF)}, "Ig.set_c", {"v": 11}, priority=1)
    c.insert("Ig.atcam_t", {key: 2, "hdr.data.d": (0, 0)}, "Ig.set_c", {"v": 20}, priority=0)
    assert c_of(run(servicer, frame(6, b=1, d=0x0A000001))) == 11  # both match in partition 1: priority 1 wins
    assert c_of(run(servicer, frame(6, b=1, d=0x0A000002))) == 10
    assert c_of(run(servicer, frame(6, b=2, d=0x0A000001))) == 20  # partition 2's catch-all, not partition 1's
    assert c_of(run(servicer, frame(6, b=3, d=0x0A000001))) == 0  # an empty partition: miss
    rows = c.entries("Ig.atcam_t")
    assert sorted((r.key[key], r.data["v"]) for r in rows) == [(1, 10), (1, 11), (2, 20)]


def test_alpm_and_atcam_tables_shape_matches_bf_p4c():
    info = bfrt_info(Pipeline.from_file(P4_DIR / "tna_externs2.p4"))
    tables = {t["name"]: t for t in info["tables"]}
    a, t = tables["pipe.Ig.alpm_t"], tables["pipe.Ig.atcam_t"]
    assert (a["table_type"], [(k["id"], k["name"], k["match_type"]) for k in a["key"]]) == (
        "MatchAction_Direct", [(1, "hdr.data.b", "Exact"), (2, "hdr.data.d", "LPM")])
    assert (t["table_type"], [(k["id"], k["name"], k["match_type"]) for k in t["key"]]) == (
        "MatchAction_Direct", [(1, "hdr.data.b", "ATCAM"), (2, "hdr.data.d", "Ternary"),
                               (65537, "$MATCH_PRIORITY", "Exact")])
    assert a["attributes"] == t["attributes"] == ["EntryScope"]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("key = { hdr.data.b : exact; hdr.data.d : lpm; }", "key = { hdr.data.b : exact; hdr.data.d : ternary; }",
     "an Alpm table needs one lpm key"),
    ("key = { hdr.data.b : atcam_partition_index; hdr.data.d : ternary; }",
     "key = { hdr.data.b : exact; hdr.data.d : ternary; }", "an Atcam table needs one atcam_partition_index key"),
    ("        atcam = atcam;\n", "", "an atcam_partition_index key needs 'atcam = <Atcam>'"),
])
def test_alpm_atcam_refusals(tmp_path, old, new, message):
    src = (P4_DIR / "tna_externs2.p4").read_text()
    assert old in src
    with pytest.raises(P4Error, match=message) as exc:
        load(tmp_path, src.replace(old, new))
    assert "t.p4:" in str(exc.value)


# ---------------------------------------------------------------- Lpf, Wred

US = 1000  # ns


def lpf_spec(kind: str, gain: float, decay: float, scale: int = 0) -> dict:
    return {"$LPF_SPEC_TYPE": kind, "$LPF_SPEC_GAIN_TIME_CONSTANT_NS": gain,
            "$LPF_SPEC_DECAY_TIME_CONSTANT_NS": decay, "$LPF_SPEC_OUT_SCALE_DOWN_FACTOR": scale}


def wred_spec(tc: float, lo: int, hi: int, p: float) -> dict:
    return {"$WRED_SPEC_TIME_CONSTANT_NS": tc, "$WRED_SPEC_MIN_THRESH_CELLS": lo,
            "$WRED_SPEC_MAX_THRESH_CELLS": hi, "$WRED_SPEC_MAX_PROBABILITY": p}


def test_lpf_sample_mode_follows_the_time_constants(sw):
    c, servicer = sw
    c.modify("Ig.lpf", {"$LPF_INDEX": 2}, None, lpf_spec("SAMPLE", 1000.0, 1000.0))
    (row,) = c.entries("Ig.lpf", {"$LPF_INDEX": 2})
    assert row.data == lpf_spec("SAMPLE", 1000.0, 1000.0)

    def lpf(x: int, t: int) -> int:
        return c_of(run(servicer, frame(7, b=2, c=x), t=t))

    assert lpf(1000, 0) == 1000  # the first sample
    assert lpf(0, 1000) == 367  # one time constant later: 1000 * e^-1
    assert lpf(0, 2000) == 135  # 1000 * e^-2
    assert lpf(1000, 2000) == 135  # no time passed: no change
    # rising with gain time constant 0 follows at once, falling decays over 4 us; output scaled down by 2^2
    c.modify("Ig.lpf", {"$LPF_INDEX": 2}, None, lpf_spec("SAMPLE", 0.0, 4000.0, 2))
    assert lpf(4000, 0) == 1000
    assert lpf(0, 4000) == 367
    # an unconfigured cell passes its input through
    assert c_of(run(servicer, frame(7, b=3, c=1234))) == 1234


def test_lpf_rate_mode_settles_at_input_per_sample_over_one_minus_decay(sw):
    c, servicer = sw
    c.modify("Ig.lpf", {"$LPF_INDEX": 1}, None, lpf_spec("RATE", 1_000_000.0, 1_000_000.0))
    out = [c_of(run(servicer, frame(7, b=1, c=1000), t=i * 100 * US)) for i in range(120)]
    assert out == sorted(out) and out[0] == 1000
    assert abs(out[-1] - 1000 / (1 - math.exp(-0.1))) <= 1  # 10508: 12 time constants later


def test_direct_lpf_spec_is_entry_data(sw):
    c, servicer = sw
    c.insert("Ig.dlpf_t", {"hdr.data.b": 1}, "Ig.dl", lpf_spec("SAMPLE", 1000.0, 1000.0))
    c.insert("Ig.dlpf_t", {"hdr.data.b": 2}, "Ig.dl")
    assert c_of(run(servicer, frame(8, b=1, c=1000), t=0)) == 1000
    assert c_of(run(servicer, frame(8, b=1, c=0), t=1000)) == 367
    assert c_of(run(servicer, frame(8, b=2, c=77), t=1000)) == 77  # no spec: no filtering
    (row,) = c.entries("Ig.dlpf_t", {"hdr.data.b": 1})
    assert row.data == lpf_spec("SAMPLE", 1000.0, 1000.0)
    (row,) = c.entries("Ig.dlpf_t", {"hdr.data.b": 2})
    assert row.data == lpf_spec("SAMPLE", 0.0, 0.0)  # the reset spec, as the SDE reads it back
    with pytest.raises(BfrtError, match="LPF_SPEC_TYPE"):
        c.insert("Ig.dlpf_t", {"hdr.data.b": 3}, "Ig.dl", {**lpf_spec("SAMPLE", 1.0, 1.0), "$LPF_SPEC_TYPE": "X"})


def test_wred_drops_between_thresholds_with_the_configured_probability(sw):
    c, servicer = sw

    def wred(x: int, t: int = 0, b: int = 4) -> int:
        return d_of(run(servicer, frame(9, b=b, c=x), t=t))

    assert {wred(5000) for _ in range(20)} == {0}  # unconfigured: never drops
    c.modify("Ig.wred", {"$WRED_INDEX": 4}, None, wred_spec(0.0, 100, 200, 0.5))
    assert {wred(50) for _ in range(50)} == {0}
    assert {wred(250) for _ in range(50)} == {1}
    drops = sum(wred(150) for _ in range(2000))  # p = 0.5 * (150 - 100) / (200 - 100) = 0.25
    assert 400 <= drops <= 600
    # with a time constant the average moves toward the input: a burst right after a quiet period is kept
    c.modify("Ig.wred", {"$WRED_INDEX": 5}, None, wred_spec(1000.0, 100, 200, 1.0))
    assert wred(0, 0, 5) == 0
    assert wred(1000, 10, 5) == 0  # average ~ 1000 * (1 - e^-0.01) = 10
    assert wred(1000, 10_000, 5) == 1  # 10 time constants later: ~1000
    with pytest.raises(BfrtError, match="probability"):
        c.modify("Ig.wred", {"$WRED_INDEX": 4}, None, wred_spec(0.0, 100, 200, 1.5))


def test_direct_wred_spec_is_entry_data(sw):
    c, servicer = sw
    c.insert("Ig.dwred_t", {"hdr.data.b": 1}, "Ig.dw", wred_spec(0.0, 10, 20, 1.0))
    c.insert("Ig.dwred_t", {"hdr.data.b": 2}, "Ig.dw")
    assert d_of(run(servicer, frame(10, b=1, c=30))) == 1
    assert d_of(run(servicer, frame(10, b=1, c=5))) == 0
    assert d_of(run(servicer, frame(10, b=2, c=30))) == 0  # no spec: never drops
    (row,) = c.entries("Ig.dwred_t", {"hdr.data.b": 1})
    assert row.data == wred_spec(0.0, 10, 20, 1.0)


def test_lpf_wred_tables_shape_matches_bf_p4c():
    info = bfrt_info(Pipeline.from_file(P4_DIR / "tna_externs2.p4"))
    tables = {t["name"]: t for t in info["tables"]}

    def shape(t):
        return (t["table_type"], [(k["id"], k["name"]) for k in t["key"]],
                [(d["singleton"]["id"], d["singleton"]["name"], d["singleton"]["type"]["type"], d["mandatory"])
                 for d in t["data"]])

    lpf_data = [(65567, "$LPF_SPEC_TYPE", "string", True), (65568, "$LPF_SPEC_GAIN_TIME_CONSTANT_NS", "float", True),
                (65569, "$LPF_SPEC_DECAY_TIME_CONSTANT_NS", "float", True),
                (65570, "$LPF_SPEC_OUT_SCALE_DOWN_FACTOR", "uint32", True)]
    wred_data = [(65571, "$WRED_SPEC_TIME_CONSTANT_NS", "float", True),
                 (65572, "$WRED_SPEC_MIN_THRESH_CELLS", "uint32", True),
                 (65573, "$WRED_SPEC_MAX_THRESH_CELLS", "uint32", True),
                 (65574, "$WRED_SPEC_MAX_PROBABILITY", "float", True)]
    assert shape(tables["pipe.Ig.lpf"]) == ("Lpf", [(65560, "$LPF_INDEX")], lpf_data)
    assert shape(tables["pipe.Ig.wred"]) == ("Wred", [(65561, "$WRED_INDEX")], wred_data)
    assert shape(tables["pipe.Ig.dlpf_t"]) == ("MatchAction_Direct", [(1, "hdr.data.b")], lpf_data)
    assert shape(tables["pipe.Ig.dwred_t"]) == ("MatchAction_Direct", [(1, "hdr.data.b")], wred_data)
    assert tables["pipe.Ig.lpf"]["data"][0]["singleton"]["type"]["choices"] == ["RATE", "SAMPLE"]


def test_direct_filter_outside_its_table_is_refused(tmp_path):
    src = (P4_DIR / "tna_externs2.p4").read_text().replace("dwred_t.apply();", "hdr.data.c = dlpf.execute(1);")
    with pytest.raises(P4Error, match="DirectLpf can only be executed from an action of its table"):
        load(tmp_path, src)


# ---------------------------------------------------------------- CRCPolynomial, Hash(CUSTOM, poly), CRC8, CRC64

CHECK = b"123456789"  # the CRC catalogue's check input; its "check" value is the CRC of these 9 bytes
CATALOGUE = [  # name, (width, poly, reversed, msb, extend, init, xor), check (reveng CRC catalogue)
    ("CRC-16/CCITT-FALSE", (16, 0x1021, False, False, False, 0xFFFF, 0), 0x29B1),
    ("CRC-16/ARC", (16, 0x8005, True, False, False, 0, 0), 0xBB3D),
    ("CRC-16/XMODEM", (16, 0x1021, False, False, False, 0, 0), 0x31C3),
    ("CRC-16/KERMIT", (16, 0x1021, True, False, False, 0, 0), 0x2189),
    ("CRC-16/USB", (16, 0x8005, True, False, False, 0xFFFF, 0xFFFF), 0xB4C8),
    ("CRC-32/ISO-HDLC", (32, 0x04C11DB7, True, False, False, 0xFFFFFFFF, 0xFFFFFFFF), 0xCBF43926),
    ("CRC-32/BZIP2", (32, 0x04C11DB7, False, False, False, 0xFFFFFFFF, 0xFFFFFFFF), 0xFC891918),
    ("CRC-32C", (32, 0x1EDC6F41, True, False, False, 0xFFFFFFFF, 0xFFFFFFFF), 0xE3069283),
    ("CRC-32/MPEG-2", (32, 0x04C11DB7, False, False, False, 0xFFFFFFFF, 0), 0x0376E6E7),
    ("CRC-8/SMBUS", (8, 0x07, False, False, False, 0, 0), 0xF4),
    ("CRC-8/MAXIM-DOW", (8, 0x31, True, False, False, 0, 0), 0xA1),
    ("CRC-5/USB", (5, 0x05, True, False, False, 0x1F, 0x1F), 0x19),
    ("CRC-64/ECMA-182", (64, 0x42F0E1EBA9EA3693, False, False, False, 0, 0), 0x6C40DF5F0B497347),
    ("CRC-64/WE", (64, 0x42F0E1EBA9EA3693, False, False, False, (1 << 64) - 1, (1 << 64) - 1), 0x62EC59E3F1A4F00A),
    ("CRC-64/GO-ISO", (64, 0x1B, True, False, False, (1 << 64) - 1, (1 << 64) - 1), 0xB90956C775A41001),
]


@pytest.mark.parametrize(("name", "params", "check"), CATALOGUE, ids=[n for n, _, _ in CATALOGUE])
def test_custom_crc_matches_the_catalogue_check_value(name, params, check):
    assert crc_custom(params, CHECK, params[0]) == check, name


def test_custom_crc_output_width_msb_and_extend():
    p = (16, 0x1021, False, False, False, 0xFFFF, 0)  # CCITT-FALSE: 0x29B1
    assert crc_custom(p, CHECK, 8) == 0xB1  # low bits of a wider CRC
    assert crc_custom((16, 0x1021, False, True, False, 0xFFFF, 0), CHECK, 8) == 0x29  # msb: the high bits
    assert crc_custom(p, CHECK, 32) == 0x29B1  # zero-extended
    assert crc_custom((16, 0x1021, False, False, True, 0xFFFF, 0), CHECK, 32) == 0x29B129B1  # extended: repeated


def test_custom_hashes_in_the_data_plane(sw):
    _c, servicer = sw
    e, b = int.from_bytes(CHECK[:8], "big"), CHECK[8]
    assert d_of(run(servicer, frame(11, b=b, e=e))) == 0xE3069283
    assert c_of(run(servicer, frame(12, b=b, e=e))) == 0x29B1
    assert d_of(run(servicer, frame(13, b=b, e=e))) == 0x29B129B1
    assert c_of(run(servicer, frame(14, b=b, e=e))) == 0x29
    assert c_of(run(servicer, frame(15, b=b, e=e))) == 0xF4


def test_crc64_hash(tmp_path):
    # 64 bits of hash data in one action exceed the Tofino 1 target model's immediate pathway (32 bits), so this
    # runs without the target model
    src = (P4_DIR / "tna_externs2.p4").read_text().replace(
        "    Atcam(16) atcam;", "    Hash<bit<64>>(HashAlgorithm_t.CRC64) crc64;\n    Atcam(16) atcam;").replace(
        "hdr.data.c = (bit<16>)crc8.get({hdr.data.e, hdr.data.b});",
        "hdr.data.c = (bit<16>)crc8.get({hdr.data.e, hdr.data.b}); hdr.data.e = crc64.get({hdr.data.e, hdr.data.b});")
    path = tmp_path / "t.p4"
    path.write_text(src)
    p = Pipeline.from_file(path, target_model="none")
    (o,) = p.process(0, frame(15, b=CHECK[8], e=int.from_bytes(CHECK[:8], "big")))
    assert (e_of(o), c_of(o)) == (0x6C40DF5F0B497347, 0xF4)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("Hash<bit<16>>(HashAlgorithm_t.CUSTOM, ccitt_poly) ccitt;", "Hash<bit<16>>(HashAlgorithm_t.CUSTOM) ccitt;",
     "CUSTOM needs one"),
    ("Hash<bit<16>>(HashAlgorithm_t.CUSTOM, ccitt_poly) ccitt;",
     "Hash<bit<16>>(HashAlgorithm_t.CRC16, ccitt_poly) ccitt;", "CUSTOM needs one"),
    ("(16w0x1021, false, false, false, 16w0xFFFF, 16w0) ccitt_poly",
     "(16w0x1020, false, false, false, 16w0xFFFF, 16w0) ccitt_poly", "must be odd"),
])
def test_custom_hash_refusals(tmp_path, old, new, message):
    src = (P4_DIR / "tna_externs2.p4").read_text()
    assert old in src
    with pytest.raises(P4Error, match=message) as exc:
        load(tmp_path, src.replace(old, new))
    assert "t.p4:" in str(exc.value)


# ---------------------------------------------------------------- Resubmit


def test_resubmit_runs_ingress_again_on_the_packet_as_it_arrived_with_the_resubmit_data(sw):
    c, servicer = sw
    c.insert(PM, {"ig_intr_md.ingress_port": 4}, None, {"f1": 1, "f2": 2, "f3": 3, "f4": 4})
    before = servicer.dev.stats().get("resubmitted", 0)
    o = run(servicer, frame(16, b=5, e=0x1111), port=4)
    # first pass' write (0xBAD) is gone; the second pass saw flag 1, v = 15, and no phase-0 data
    assert (c_of(o), d_of(o), e_of(o)) == (15, 1, 0)
    assert servicer.dev.stats()["resubmitted"] == before + 1
    # a packet that never writes resubmit_type is not resubmitted, even where an emit would run for type 0
    run(servicer, frame(1), port=4)
    assert servicer.dev.stats()["resubmitted"] == before + 1


def test_resubmit_happens_once_and_only_for_a_matching_type(sw):
    _c, servicer = sw
    o = run(servicer, frame(17, d=0))
    assert d_of(o) == 2  # the second pass (flag 1) ran on the original d = 0; its resubmit was not done
    stats = servicer.dev.stats()
    assert stats["resubmitted"] == 1 and stats["resubmit_again_ignored"] == 1
    assert d_of(run(servicer, frame(18))) == 0  # type 2: no Resubmit emits for it
    assert servicer.dev.stats()["resubmitted"] == 1


@pytest.mark.parametrize(("old", "new", "message"), [
    ("    Resubmit(3) resubmit3;", "    Resubmit(3) resubmit3;\n    Digest<port_md_t>() dg;",
     "a Digest beside a Resubmit in the ingress deparser is not supported"),
    ("header resub_h { bit<8> kind; bit<16> v; }", "header resub_h { bit<8> kind; bit<16> v; bit<48> w; }",
     "resubmit data is 72 bits"),
])
def test_resubmit_refusals(tmp_path, old, new, message):
    src = (P4_DIR / "tna_externs2.p4").read_text()
    assert old in src
    with pytest.raises(P4Error, match=message) as exc:
        load(tmp_path, src.replace(old, new))
    assert "t.p4:" in str(exc.value)


# ---------------------------------------------------------------- parser value sets


def test_parser_value_sets_are_written_through_bf_runtime(sw):
    c, servicer = sw
    eth_alt = ETH[:12] + bytes.fromhex("9000")

    def vs(f: bytes) -> int:
        return d_of(run(servicer, f))

    assert vs(frame(19, b=1)) == 0
    assert run(servicer, eth_alt + frame(19)[14:]).frame[14] == 19  # not parsed as data: forwarded untouched
    c.insert("IgParser.etypes", {"f1": (0x9000, 0xFFF0)})
    c.insert("IgParser.pairs", {"a": (19, 0xFF), "b": (0x10, 0xF0)})
    req = pb.ReadRequest(client_id=c.client_id)  # table_usage: the value set's entries (the SDE's tna_pvs reads it)
    req.entities.add().table_usage.table_id = c.table("IgParser.etypes").id
    assert [e.table_usage.usage for r in c.stub.Read(req) for e in r.entities] == [1]
    req = pb.ReadRequest(client_id=c.client_id)  # entries come with a (empty) data, as the SDE client expects
    req.entities.add().table_entry.table_id = c.table("IgParser.etypes").id
    assert [e.table_entry.HasField("data") for r in c.stub.Read(req) for e in r.entities] == [True]
    assert vs(eth_alt + frame(19, b=1)[14:]) == 0b10  # 0x9000 in etypes; (19, 1) not in pairs
    assert vs(eth_alt[:12] + bytes.fromhex("900f") + frame(19, b=0x1F)[14:]) == 0b11
    assert vs(frame(19, b=0x1F)) == 0b01
    assert sorted(e.key["b"] for e in c.entries("IgParser.pairs")) == [(0x10, 0xF0)]
    with pytest.raises(BfrtError):  # size 2
        c.insert("IgParser.pairs", {"a": (1, 0xFF)})
        c.insert("IgParser.pairs", {"a": (2, 0xFF)})
    c.delete("IgParser.pairs", {"a": (19, 0xFF), "b": (0x10, 0xF0)})
    assert vs(frame(19, b=0x1F)) == 0
    c.delete("IgParser.etypes")
    assert c.entries("IgParser.etypes") == []


def test_value_set_entry_scope_per_pipe_and_parser(sw):
    """EntryScope of a parser value set (the SDE's tna_pvs AttributeTest, tna_pktgen's pgen_* sets): gress, pipe
    and parser SINGLE; a write names the direction, a pipe and a parser, each refused when missing; the entry
    acts in that pipe's parser only (a port's parser: its group of 4 ports); the scope changes only while empty."""
    c, servicer = sw
    etypes = c.table("IgParser.etypes")
    eth_alt = ETH[:12] + bytes.fromhex("9000")

    def scope(single: bool) -> None:
        u = pb.Update(type=pb.Update.INSERT)
        es = u.entity.table_attribute.entry_scope
        u.entity.table_attribute.table_id = etypes.id
        mode, args = (pb.Mode.SINGLE, 0) if single else (pb.Mode.ALL, 0xFF)
        for m in (es.gress_scope, es.pipe_scope, es.prsr_scope):
            m.predef, m.args = mode, args
        c.write([u])

    def write(kind, pipe: int, direction: int, prsr: int) -> None:
        req = c._write_request([c.make_update(kind, "IgParser.etypes", {"f1": (0x9000, 0xFFF0)})],
                               pb.WriteRequest.CONTINUE_ON_ERROR, pipe)
        req.target.direction, req.target.prsr_id = direction, prsr
        c.stub.Write(req)

    def matched(port: int) -> bool:
        return bool(d_of(run(servicer, eth_alt + frame(19, b=1)[14:], port=port)) & 0b10)

    scope(single=True)
    req = pb.ReadRequest(client_id=c.client_id, target=pb.TargetDevice(pipe_id=0xFFFF, direction=0))
    ta = req.entities.add().table_attribute
    ta.table_id = etypes.id
    ta.entry_scope.SetInParent()
    (got,) = c.read_entities(req)
    es = got.table_attribute.entry_scope
    assert [(m.predef, m.args) for m in (es.gress_scope, es.pipe_scope, es.prsr_scope)] == [(pb.Mode.SINGLE, 0)] * 3
    for target, why in (((0, 0xFF, 0), "single-gress scope"), ((0xFFFF, 0, 0), "a pipe scope"),
                        ((0, 0, 0xFF), "single-parser scope")):
        with pytest.raises(grpc.RpcError, match=why):
            write(pb.Update.INSERT, *target)
    write(pb.Update.INSERT, 1, 0, 1)  # pipe 1, ingress, parser 1 (ports 132-135 of pipe 1)
    assert [matched(p) for p in (128 + 4, 128 + 7, 128, 4, 0)] == [True, True, False, False, False]
    with pytest.raises(BfrtError, match="changes only while it has no entries"):
        scope(single=False)
    write(pb.Update.DELETE, 1, 0, 1)
    scope(single=False)
    c.insert("IgParser.etypes", {"f1": (0x9000, 0xFFF0)})
    assert [matched(p) for p in (128 + 4, 0)] == [True, True]  # one copy for every pipe and parser again


def test_a_generated_packet_takes_the_generator_ports_parser_not_its_ingress_ports(sw):
    """Packet-generator packets carry the app's source port as ingress_port but come in on the generator port's
    channel: its parser's value-set copy decides (tna_pktgen: pgen_timer entries on parser 17, Tofino 1's port 68,
    with the apps' source port left 0)."""
    c, servicer = sw
    etypes = c.table("IgParser.etypes")
    u = pb.Update(type=pb.Update.INSERT)
    u.entity.table_attribute.table_id = etypes.id
    es = u.entity.table_attribute.entry_scope
    for m in (es.gress_scope, es.pipe_scope, es.prsr_scope):
        m.predef, m.args = pb.Mode.SINGLE, 0
    c.write([u])
    req = c._write_request([c.make_update(pb.Update.INSERT, "IgParser.etypes", {"f1": (0x9000, 0xFFF0)})],
                           pb.WriteRequest.CONTINUE_ON_ERROR, 1)
    req.target.direction, req.target.prsr_id = 0, 1  # pipe 1, parser 1 (ports 132-135)
    c.stub.Write(req)
    f = ETH[:12] + bytes.fromhex("9000") + frame(19, b=1)[14:]

    def matched(port: int, parser_port: int | None) -> bool:
        (o,) = servicer.ingress_many(port, [f], parser_port)
        return bool(d_of(o) & 0b10)

    assert [matched(128, None), matched(128, 132), matched(132, None), matched(132, 128)] == [False, True, True, False]


def test_value_set_table_shape_matches_bf_p4c():
    info = bfrt_info(Pipeline.from_file(P4_DIR / "tna_externs2.p4"))
    tables = {t["name"]: t for t in info["tables"]}
    for name, keys in (("pipe.IgParser.etypes", [(1, "f1", "Ternary", 16)]),
                       ("pipe.IgParser.pairs", [(1, "a", "Ternary", 8), (2, "b", "Ternary", 8)])):
        t = tables[name]
        assert (t["table_type"], t["data"], t["attributes"]) == ("ParserValueSet", [], ["EntryScope"])
        assert [(k["id"], k["name"], k["match_type"], k["type"]["width"]) for k in t["key"]] == keys


def test_value_set_select_width_mismatch_is_refused(tmp_path):
    src = (P4_DIR / "tna_externs2.p4").read_text().replace("value_set<bit<16>>(4) etypes;",
                                                           "value_set<bit<8>>(4) etypes;")
    with pytest.raises(P4Error, match=r"value set IgParser\.etypes has fields of"):
        load(tmp_path, src)


# ---------------------------------------------------------------- intrinsics the emulator does not model


@pytest.mark.parametrize(("old", "new", "message"), [
    ("ig_tm_md.ucast_egress_port = 1;", "ig_tm_md.ucast_egress_port = 1; ig_tm_md.copy_to_cpu = 1;",
     "copy_to_cpu is not modelled by the emulator"),
    ("           inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {\n    apply { }",
     "           inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {\n"
     "    apply { eg_oport_md.update_delay_on_tx = 1; }", "update_delay_on_tx is not modelled"),
    ("struct headers_t { ethernet_h ethernet; data_h data; }",
     "struct headers_t { ethernet_h ethernet; data_h data; ptp_metadata_t ptp; }", "emitting ptp_metadata_t"),
])
def test_unmodelled_intrinsics_are_refused(tmp_path, old, new, message):
    src = (P4_DIR / "tna_externs2.p4").read_text()
    assert old in src
    with pytest.raises(P4Error, match=message) as exc:
        load(tmp_path, src.replace(old, new))
    assert "t.p4:" in str(exc.value)


# ---------------------------------------------------------------- proxy_hash


def test_proxy_hash_table_matches_by_the_hash_of_its_key(sw):
    c, servicer = sw
    c.insert("Ig.proxy_t", {"hdr.data.d": 1}, "Ig.set_c", {"v": 42})
    h1 = crc16(bytes([0, 0, 0, 1])) & 0xFF
    twin = next(d for d in range(2, 100000) if crc16(d.to_bytes(4, "big")) & 0xFF == h1)
    other = next(d for d in range(2, 100000) if crc16(d.to_bytes(4, "big")) & 0xFF != h1)
    assert c_of(run(servicer, frame(20, d=1))) == 42
    assert c_of(run(servicer, frame(20, d=other))) == 0  # miss
    assert c_of(run(servicer, frame(20, d=twin))) == 42  # another key with the same proxy hash: a false positive
    with pytest.raises(BfrtError, match="proxy hash"):  # the table could not tell the two entries apart
        c.insert("Ig.proxy_t", {"hdr.data.d": twin}, "Ig.set_c", {"v": 7})
    c.delete("Ig.proxy_t", {"hdr.data.d": 1})
    c.insert("Ig.proxy_t", {"hdr.data.d": twin}, "Ig.set_c", {"v": 7})
    assert c_of(run(servicer, frame(20, d=1))) == 7
    (row,) = c.entries("Ig.proxy_t")
    assert (row.key, row.data) == ({"hdr.data.d": twin}, {"v": 7})


def test_proxy_hash_on_a_ternary_table_is_refused(tmp_path):
    old = "key = { hdr.data.d : exact; }\n        actions = { set_c; NoAction; }\n        size = 64;\n" \
          "        proxy_hash"
    src = (P4_DIR / "tna_externs2.p4").read_text()
    assert old in src
    src = src.replace(old, old.replace("exact", "ternary"))
    with pytest.raises(P4Error, match="a proxy_hash table matches exact keys only"):
        load(tmp_path, src)


EXAMPLES = Path(os.environ.get("SRCHAIN_TNA_EXAMPLES", "/opt/bf-p4c/open-p4studio/pkgsrc/p4-examples/p4_16_programs"))


def test_intel_tna_resubmit_example_passes_its_data_to_the_second_pass(tmp_path):
    """Intel's tna_resubmit through BF Runtime: pass one (keyed by the port's phase-0 data) resubmits with type A's
    data, pass two matches it and counts; the packet goes back out of its port, unmodified (bypass egress)."""
    path = EXAMPLES / "tna_resubmit" / "tna_resubmit.p4"
    if not path.exists():
        pytest.skip(f"{path} not installed")
    srv, servicer, port = serve("127.0.0.1:0")
    compile_to_dir(path, tmp_path / "out", [path.parent, EXAMPLES])
    c = BfrtClient(f"127.0.0.1:{port}")
    try:
        c.subscribe(learn=False)
        c.push_program("tna_resubmit", tmp_path / "out")
        c.bind("tna_resubmit")
        c.insert("SwitchIngressParser.$PORT_METADATA", {"ig_intr_md.ingress_port": 3}, None, {"f1": 11, "f2": 22})
        c.insert("SwitchIngress.pass_one", {"port": 3, "f1": 11, "f2": 22}, "SwitchIngress.resub_a",
                 {"f1": 1, "f2": 2, "f3": 3, "more_data": 0})
        c.insert("SwitchIngress.pass_two_type_a", {"md.a.f1": 1, "md.a.f2": 2, "md.a.f3": 3}, "SwitchIngress.okay_a")
        pkt = bytes.fromhex("00aabbccddee" "001122334455" "0800") + bytes(50)
        (o,) = servicer.process(3, pkt, 0)
        assert (o.port, o.frame) == (3, pkt)  # pass one zeroed the source MAC; pass two started from the original
        assert [e.data["$COUNTER_SPEC_PKTS"] for e in c.entries("SwitchIngress.cntr")] == [1, 1, 0, 0]
    finally:
        c.close()
        srv.stop(grace=None)


def test_intel_tna_mirror_example_bridges_a_flexible_header_and_mirrors_both_ways():
    """Intel's tna_mirror: a 19-bit bridged header of @flexible fields (padded to whole bytes, it only travels inside
    the switch) carries the egress mirror session; the egress parser tells copies apart with lookahead<mirror_h>."""
    path = EXAMPLES / "tna_mirror" / "tna_mirror.p4"
    if not path.exists():
        pytest.skip(f"{path} not installed")
    p = Pipeline.from_file(path, [path.parent, EXAMPLES])
    p.table("SwitchIngress.mirror_fwd").insert([1], "SwitchIngress.set_md", {
        "dest_port": 2, "ing_mir": 1, "ing_ses": 5, "egr_mir": 1, "egr_ses": 6})
    p.mirror_sessions[5] = MirrorSession(3, direction="INGRESS")
    p.mirror_sessions[6] = MirrorSession(4, direction="EGRESS")
    pkt = bytes.fromhex("00aabbccddee" "001122334455" "0800") + bytes(range(40))
    out = sorted((o.port, o.frame) for o in p.process(1, pkt, 0))
    # the packet on port 2, its I2E copy on 3 and E2E copy on 4; every copy's mirror header and the bridged header
    # were parsed off in egress (the egress deparser emits the Ethernet header and the rest of the packet)
    assert out == [(2, pkt), (3, pkt), (4, pkt)]


def test_flexible_header_refusals(tmp_path):
    base = (P4_DIR / "tna_externs2.p4").read_text()
    flex = base.replace("struct headers_t {", "header fx_h { bit<8> t; @flexible bit<3> f; }\nstruct headers_t {")
    load(tmp_path, flex)  # padded to 16 bits
    with pytest.raises(P4Error, match="fx_h is 11 bits long, not a multiple of 8"):  # not @flexible: refused
        load(tmp_path, flex.replace("@flexible bit<3> f;", "bit<3> f;"))
    leaving = flex.replace("struct headers_t { ethernet_h ethernet; data_h data; }",
                           "struct headers_t { ethernet_h ethernet; data_h data; fx_h fx; }")
    with pytest.raises(P4Error, match="would leave the switch from the egress deparser"):
        load(tmp_path, leaving)
