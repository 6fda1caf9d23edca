"""The stage and PHV estimate (interp/target_resources.py) and `srchain p4 check --resources`.

The stage counts asserted here are the ones bf-p4c 1.2.5.16 allocates for the same programs (docs/emulator.md,
"Target model": the chains of 5, 12 and 13 tables compile in 5, 12 and "tofino supports up to 12 stages,
using 13"); bf-p4c itself is not run here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from emu_helpers import program_text

from srchain_emu.cli import p4_cli
from srchain_emu.frontend.parser import parse_text
from srchain_emu.interp.checker import check_program
from srchain_emu.interp.pipeline import load_source
from srchain_emu.interp.target_resources import ResourceEstimate, estimate


def chain_program(n: int) -> str:
    """n tables, each keyed on what the previous one's action writes: n match dependencies in a row."""
    loc = "".join(f"    bit<8> v{i};\n" for i in range(1, n))
    for i in range(1, n + 1):
        src = "hdr.data.a" if i == 1 else f"v{i - 1}"
        dst = "hdr.data.b" if i == n else f"v{i}"
        loc += (f"    action set{i}(bit<8> x) {{ {dst} = x; }}\n"
                f"    table t{i} {{ key = {{ {src} : exact; }} actions = {{ set{i}; NoAction; }} "
                f"default_action = NoAction; size = 256; }}\n")
    return program_text(locals=loc, apply="".join(f"        t{i}.apply();\n" for i in range(1, n + 1)))


def est(tmp_path: Path, text: str, target: str = "tofino1") -> ResourceEstimate:
    path = tmp_path / "prog.p4"
    path.write_text(text)
    return estimate(check_program(parse_text(load_source(path), str(path))), target)


def names(e: ResourceEstimate, gress: str = "ingress") -> list[list[str]]:
    return [[n.name for n in st.nodes if n.gress == gress and n.kind == "table"] for st in e.stages]


@pytest.mark.parametrize("n", [1, 5, 12])
def test_a_chain_of_dependent_tables_needs_one_stage_per_table(tmp_path, n):
    e = est(tmp_path, chain_program(n))
    assert e.min_stages("ingress") == n
    assert e.total_stages == n
    assert [s for s in names(e) if s] == [[f"Ig.t{i}"] for i in range(1, n + 1)]
    assert e.refusal() is None and e.fits


def test_a_chain_of_13_is_refused_for_tofino1_naming_the_chain(tmp_path):
    e = est(tmp_path, chain_program(13))
    chain = " -> ".join(f"Ig.t{i}" for i in range(1, 14))
    assert e.refusal() == (f"needs at least 13 stages, tofino1 has 12: its ingress dependency chain is 13 long: "
                           f"{chain} (bf-p4c mau/table_dependency_graph.cpp, mau/table_placement.cpp)")
    assert est(tmp_path, chain_program(13), "tofino2").refusal() is None  # 20 stages (specs/device.h)


def test_independent_tables_share_a_stage_and_anti_dependencies_add_none(tmp_path):
    loc = """
    action seta(bit<8> x) { hdr.data.a = x; }
    action setb(bit<8> x) { hdr.data.b = x; }
    table ta { key = { hdr.data.c : exact; } actions = { seta; } size = 64; }
    table tb { key = { hdr.data.c : exact; } actions = { setb; } size = 64; }
    table tc { key = { hdr.data.d : exact; } actions = { seta; } size = 64; }
    """
    # tb reads nothing ta writes; tc writes what ta writes (output dependency): a stage later
    e = est(tmp_path, program_text(locals=loc, apply="ta.apply(); tb.apply(); tc.apply();"))
    assert [s for s in names(e) if s] == [["Ig.ta", "Ig.tb"], ["Ig.tc"]]


def test_exclusive_branches_do_not_depend_on_each_other(tmp_path):
    loc = """
    action seta(bit<8> x) { hdr.data.a = x; }
    table ta { key = { hdr.data.c : exact; } actions = { seta; } size = 64; }
    table tb { key = { hdr.data.c : exact; } actions = { seta; } size = 64; }
    """
    e = est(tmp_path, program_text(locals=loc, apply="if (hdr.data.b == 1) { ta.apply(); } else { tb.apply(); }"))
    assert e.total_stages == 1
    e = est(tmp_path, program_text(locals=loc, apply="ta.apply(); tb.apply();"))
    assert e.total_stages == 2


def test_a_gateway_reading_a_written_field_adds_a_stage(tmp_path):
    loc = """
    action seta(bit<8> x) { hdr.data.a = x; }
    action setb(bit<8> x) { hdr.data.b = x; }
    table ta { key = { hdr.data.c : exact; } actions = { seta; } size = 64; }
    table tb { key = { hdr.data.c : exact; } actions = { setb; } size = 64; }
    """
    e = est(tmp_path, program_text(locals=loc, apply="ta.apply(); if (hdr.data.a == 3) { tb.apply(); }"))
    assert e.min_stages("ingress") == 2
    assert [n.name for n in e.critical("ingress")] == ["Ig.ta", "cond_prog47"]


def two_chains(nested: bool) -> str:
    """Two independent chains of 4 dependent tables, each step gated: one `if` around each chain (nested) or
    one around each table (flat)."""
    loc = "".join(f"    bit<8> {c}{i};\n" for c in "ab" for i in range(1, 5))
    for c, out in (("a", "hdr.data.a"), ("b", "hdr.data.b")):
        for i in range(1, 5):
            src = "hdr.data.c" if i == 1 else f"{c}{i - 1}"
            dst = out if i == 4 else f"{c}{i}"
            loc += (f"    action s{c}{i}(bit<8> x) {{ {dst} = x; }}\n"
                    f"    table t{c}{i} {{ key = {{ {src} : exact; }} actions = {{ s{c}{i}; }} size = 16; }}\n")
    if nested:
        apply = "".join(f"if (hdr.data.d == {k}) {{ " + " ".join(f"t{c}{i}.apply();" for i in range(1, 5)) + " }\n"
                        for k, c in ((1, "a"), (2, "b")))
    else:
        apply = "".join(f"if (hdr.data.d == {k}) {{ t{c}{i}.apply(); }}\n" for c, k in (("a", 1), ("b", 2))
                        for i in range(1, 5))
    return program_text(locals=loc, apply=apply)


def test_a_multi_stage_block_holds_later_steps_on_tofino1_only(tmp_path):
    """Tofino 1 has no long branches: a gated block spanning stages holds the later steps of its sequence at
    its last stage. bf-p4c 9.13.4 on the same shape: nested 7 stages (the second chain starts in the first's
    last stage), flat 4 (docs/p4.md "Stages on a Tofino 1")."""
    nested = est(tmp_path, two_chains(nested=True))
    assert nested.min_stages("ingress") == 7 and nested.total_stages == 7
    crit = nested.critical("ingress")
    assert [n.name for n in crit] == ["Ig.ta1", "Ig.ta2", "Ig.ta3", "Ig.tb1", "Ig.tb2", "Ig.tb3", "Ig.tb4"]
    assert crit[3].via_kind == "next-table order" and crit[3].via is not None and crit[3].via.name == "Ig.ta4"
    assert est(tmp_path, two_chains(nested=False)).total_stages == 4
    assert est(tmp_path, two_chains(nested=True), "tofino2").total_stages == 4  # long branches (mau/jbay)


def test_zeroing_metadata_first_is_no_write(tmp_path):
    """phv/auto_init_metadata.h: `md.a = 0` before any write is dropped (SDE tna_digest: 3 stages, not 4)."""
    loc = """
    action seta(bit<8> x) { md.a = x; }
    table ta { key = { hdr.data.c : exact; } actions = { seta; } size = 64; }
    """
    assert est(tmp_path, program_text(locals=loc, apply="md.a = 0; ta.apply();")).total_stages == 1
    assert est(tmp_path, program_text(locals=loc, apply="md.a = 1; ta.apply();")).total_stages == 2


def test_four_stateful_alus_per_stage(tmp_path):
    """mau/tofino/memories.h METER_ALUS: five independent registers need two stages."""
    regs = "".join(f"""
    Register<bit<32>, bit<8>>(256) r{i};
    RegisterAction<bit<32>, bit<8>, bit<32>>(r{i}) ra{i} = {{
        void apply(inout bit<32> value) {{ value = value + 1; }}
    }};""" for i in range(5))
    e = est(tmp_path, program_text(locals=regs, apply="".join(f"ra{i}.execute(hdr.data.a);\n" for i in range(5))))
    assert e.min_stages("ingress") == 1
    assert [len(st.registers) for st in e.stages] == [4, 1]


def test_table_memories(tmp_path):
    loc = """
    action set(bit<8> x) { hdr.data.a = x; }
    table ex { key = { hdr.data.d : exact; } actions = { set; } size = 4096; }
    table tern { key = { hdr.data.d : ternary; hdr.data.c : exact; } actions = { set; NoAction; } size = 1024; }
    """
    e = est(tmp_path, program_text(locals=loc, apply="ex.apply(); tern.apply();"))
    ex, tern = (next(n for n in e.nodes if n.name == name) for name in ("Ig.ex", "Ig.tern"))
    assert (ex.match_rams, ex.tcams) == (2, 0)  # 32 key + 4 version + 8 data bits: 2 per word, 4096 in 2 RAMs
    assert (tern.tcams, tern.tind_rams) == (2, 1)  # 6 bytes: one 44-bit TCAM wide, 1024 entries two deep


def test_check_resources_prints_the_stages_and_refuses_13(tmp_path):
    path = tmp_path / "chain.p4"
    path.write_text(chain_program(5))
    out = CliRunner().invoke(p4_cli, ["check", "--resources", str(path)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("target tofino1: 12 stages; per stage 16 logical tables, 80 SRAM, 24 TCAM")
    assert "stage  tables  gw  SRAM  TCAM mapRAM SALU" in lines[1]
    assert lines[2].split()[:2] == ["0", "2"] and lines[2].endswith("tbl_chain55(i), Ig.t1(i)")
    assert "ingress: dependency chain 5 stages (Ig.t1 -> Ig.t2 -> Ig.t3 -> Ig.t4 -> Ig.t5), placed in 5" in lines
    assert lines[-1] == "verdict: fits: 5 of 12 stages"
    path.write_text(chain_program(13))
    out = CliRunner().invoke(p4_cli, ["check", "--resources", str(path)])
    assert out.exit_code == 1
    assert "verdict: OVER: 13 of 12 stages; needs at least 13 stages, tofino1 has 12" in out.output
    # the stage limit is enforced by --resources only: a plain check (and the emulator) still takes it
    assert CliRunner().invoke(p4_cli, ["check", str(path)]).exit_code == 0
    assert CliRunner().invoke(p4_cli, ["check", "--resources", "--target", "tofino2", str(path)]).exit_code == 0


# Intel's public TNA examples (open-p4studio pkgsrc/p4-examples/p4_16_programs) that the emulator's front end
# accepts, with the stages bf-p4c 1.2.5.16 allocates (docs/emulator.md). Not in the repository: run where
# they are installed (SRCHAIN_TNA_EXAMPLES or /opt/bf-p4c/open-p4studio), skipped elsewhere.
EXAMPLES = Path("/opt/bf-p4c/open-p4studio/pkgsrc/p4-examples/p4_16_programs")
BF_P4C_STAGES = {"tna_bridged_md": 3, "tna_counter": 4, "tna_digest": 3, "tna_dkm": 1, "tna_field_slice": 9,
                 "tna_operations": 3, "tna_port_metadata": 2, "tna_ports": 3, "tna_range_match": 2,
                 "tna_snapshot": 3, "tna_symmetric_hash": 1}


@pytest.mark.parametrize("name", sorted(BF_P4C_STAGES))
def test_intel_examples_pass_and_the_estimate_is_a_lower_bound(name):
    base = Path(os.environ.get("SRCHAIN_TNA_EXAMPLES", EXAMPLES))
    path = base / name / f"{name}.p4"
    if not path.exists():
        pytest.skip(f"{path} not installed")
    out = CliRunner().invoke(p4_cli, ["check", "--resources", "-I", str(base / name), "-I", str(base), str(path)])
    assert out.exit_code == 0, out.output
    e = estimate(check_program(parse_text(load_source(path, [base / name, base]), str(path))))
    assert 1 <= e.total_stages <= BF_P4C_STAGES[name]
