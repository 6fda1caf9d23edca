"""bf-rt.json in bf-p4c's schema, the compile bundle, and the `p4 check/compile` CLI."""

from __future__ import annotations

import json

from click.testing import CliRunner
from emu_helpers import P4_DIR, data_frame

from srchain_emu.bfrt_schema import bfrt_info
from srchain_emu.bundle import compile_to_dir, load_dir
from srchain_emu.cli import p4_cli
from srchain_emu.interp.pipeline import Pipeline

FLOW = P4_DIR / "flow_counter.p4"
FWD = P4_DIR / "exact_forward.p4"


def by_name(info: dict) -> dict[str, dict]:
    return {t["name"]: t for t in info["tables"]}


def test_tables_keys_actions_and_counters():
    info = bfrt_info(Pipeline.from_file(FWD))
    assert info["schema_version"] == "1.0.0"
    t = by_name(info)["pipe.SwitchIngress.forward"]
    assert t["table_type"] == "MatchAction_Direct" and t["size"] == 1024
    assert t["has_const_default_action"] is True
    assert [(k["id"], k["name"], k["match_type"], k["type"]) for k in t["key"]] == [
        (1, "hdr.ethernet.dst_addr", "Exact", {"type": "bytes", "width": 48})
    ]
    specs = {a["name"]: a for a in t["action_specs"]}
    assert specs["SwitchIngress.hit"]["action_scope"] == "TableAndDefault"
    assert [(d["id"], d["name"], d["type"]["width"]) for d in specs["SwitchIngress.hit"]["data"]] == [(1, "port", 9)]
    assert specs["SwitchIngress.miss"]["action_scope"] == "DefaultOnly"
    assert specs["SwitchIngress.miss"]["annotations"] == [{"name": "@defaultonly"}]
    assert {d["singleton"]["name"] for d in t["data"]} == {"$COUNTER_SPEC_BYTES", "$COUNTER_SPEC_PKTS"}
    assert t["id"] >> 24 == 0x02 and specs["SwitchIngress.hit"]["id"] >> 24 == 0x01


def test_registers_lpm_and_learn_filters():
    info = bfrt_info(Pipeline.from_file(FLOW))
    tables = by_name(info)
    reg = tables["pipe.SwitchIngress.flow_packets"]
    assert reg["table_type"] == "Register" and reg["size"] == 4096
    assert [k["name"] for k in reg["key"]] == ["$REGISTER_INDEX"]
    assert [d["singleton"]["name"] for d in reg["data"]] == ["SwitchIngress.flow_packets.f1"]
    assert tables["pipe.SwitchIngress.route"]["key"][0]["match_type"] == "LPM"
    (lf,) = info["learn_filters"]
    assert lf["name"] == "pipe.SwitchIngressDeparser.flow_digest"
    assert [(f["name"], f["type"]["width"]) for f in lf["fields"]] == [
        ("src_addr", 32), ("dst_addr", 32), ("src_port", 16), ("dst_port", 16), ("count", 32)]


def test_ternary_tables_get_match_priority(build):
    p = build(locals="""
        action a() {}
        table t { key = { hdr.data.a : ternary; } actions = { a; } }
    """, apply="t.apply();")
    keys = [k["name"] for k in by_name(bfrt_info(p))["pipe.Ig.t"]["key"]]
    assert keys == ["hdr.data.a", "$MATCH_PRIORITY"]


def test_ids_are_stable_and_unique():
    a, b = bfrt_info(Pipeline.from_file(FLOW)), bfrt_info(Pipeline.from_file(FLOW))
    assert a == b
    ids = [t["id"] for t in a["tables"]] + [lf["id"] for lf in a["learn_filters"]]
    assert len(ids) == len(set(ids))


def test_compile_bundle_roundtrip(tmp_path):
    out = tmp_path / "out"
    compile_to_dir(FWD, out)
    assert json.loads((out / "bf-rt.json").read_text()) == bfrt_info(Pipeline.from_file(FWD))
    manifest = json.loads((out / "pipe" / "context.json").read_text())
    assert manifest["program_name"] == "exact_forward" and manifest["pipe"] == "pipe"
    conf = json.loads((out / "exact_forward.conf").read_text())
    assert conf["p4_devices"][0]["p4_programs"][0]["program-name"] == "exact_forward"
    # The binary is self-contained: it loads without include paths and behaves the same.
    p = load_dir(out)
    p.table("forward").insert([0x020000000002], "SwitchIngress.hit", {"port": 4})
    assert [o.port for o in p.process(0, data_frame())] == [4]


def test_cli_check_ok_and_error(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(p4_cli, ["check", str(FLOW)])
    assert ok.exit_code == 0 and "ok (1 tables, 1 registers, 1 digests" in ok.output
    bad = tmp_path / "bad.p4"
    bad.write_text("#include <tna.p4>\n\nheader h_t { bit<7> a; }\n")
    res = runner.invoke(p4_cli, ["check", str(bad)])
    assert res.exit_code == 1
    assert res.output.strip() == f"{bad}:3: header h_t is 7 bits long, not a multiple of 8"


def test_cli_compile_writes_artifacts_and_fails_cleanly(tmp_path):
    runner = CliRunner()
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "common_headers.p4").write_text((P4_DIR / "common_headers.p4").read_text())
    prog = tmp_path / "prog.p4"
    prog.write_text(FWD.read_text())
    res = runner.invoke(p4_cli, ["compile", str(prog), "-I", str(inc), "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "bf-rt.json").is_file() and (tmp_path / "o" / "pipe" / "tofino.bin").is_file()
    res = runner.invoke(p4_cli, ["compile", str(prog), "-o", str(tmp_path / "o2")])
    assert res.exit_code == 1
    assert "include file not found: common_headers.p4" in res.output
    assert not (tmp_path / "o2").exists()
