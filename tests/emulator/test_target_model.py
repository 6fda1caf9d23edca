"""The target-model pass between the checker and the code generator (interp/target.py)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from emu_helpers import data_fields, data_frame, program_text

from srchain_emu.cli import p4_cli
from srchain_emu.frontend.errors import P4Error
from srchain_emu.frontend.parser import parse_text
from srchain_emu.interp.checker import check_program
from srchain_emu.interp.pipeline import Pipeline, load_source
from srchain_emu.interp.target import Diagnostic, check_target

TWO_TABLES = """
    action set_b(bit<8> v) { hdr.data.b = v; }
    table a { key = { hdr.data.a : exact; } actions = { set_b; NoAction; } default_action = NoAction; }
    table b { key = { hdr.data.a : exact; } actions = { set_b; NoAction; } default_action = NoAction; }
"""
BOTH_HIT = """
        if (a.apply().hit &&
            b.apply().hit) { hdr.data.d = 1; }
"""
SECOND = "            b.apply().hit) { hdr.data.d = 1; }"
APPLY_LINE = program_text(locals=TWO_TABLES, apply=BOTH_HIT).splitlines().index(SECOND) + 1


def test_tofino1_refuses_two_table_applications_in_one_expression(tmp_path):
    path = tmp_path / "two.p4"
    path.write_text(program_text(locals=TWO_TABLES, apply=BOTH_HIT))
    with pytest.raises(P4Error) as info:
        Pipeline.from_file(path)  # tofino1 is the default
    assert str(info.value) == f"{path}:{APPLY_LINE}: a and b: multiple table applications in one expression"


def test_target_none_runs_it_with_short_circuit(tmp_path):
    path = tmp_path / "two.p4"
    path.write_text(program_text(locals=TWO_TABLES, apply=BOTH_HIT))
    p = Pipeline.from_file(path, target_model="none")
    p.table("Ig.a").insert([1], "Ig.set_b", {"v": 5})
    p.table("Ig.b").insert([1], "Ig.set_b", {"v": 6})
    p.table("Ig.b").insert([2], "Ig.set_b", {"v": 7})
    assert data_fields(p.process(0, data_frame(1))[0].frame) == (1, 6, 0, 1)
    assert data_fields(p.process(0, data_frame(2))[0].frame) == (2, 0, 0, 0)  # a missed: b not applied


def test_check_target_returns_diagnostics_on_the_checked_program(tmp_path):
    path = tmp_path / "two.p4"
    path.write_text(program_text(locals=TWO_TABLES, apply=BOTH_HIT))
    program = parse_text(load_source(path), str(path))
    checked = check_program(program)
    diags = check_target(checked, "tofino1")
    assert [(d.loc.line, d.message) for d in diags] == [
        (APPLY_LINE, "a and b: multiple table applications in one expression")]
    assert isinstance(diags[0], Diagnostic)
    assert check_target(checked, "none") == []
    with pytest.raises(ValueError, match="unknown target model"):
        check_target(checked, "tofino9")


def test_one_application_per_expression_is_accepted(tmp_path):
    apply = """
        if (a.apply().hit) { if (b.apply().miss) { hdr.data.d = 2; } }
        switch (a.apply().action_run) { set_b: { hdr.data.c = 1; } default: {} }
    """
    path = tmp_path / "one.p4"
    path.write_text(program_text(locals=TWO_TABLES, apply=apply))
    Pipeline.from_file(path)


def test_cli_target_model_option(tmp_path):
    path = tmp_path / "two.p4"
    path.write_text(program_text(locals=TWO_TABLES, apply=BOTH_HIT))
    res = CliRunner().invoke(p4_cli, ["check", str(path)])
    assert res.exit_code == 1
    assert f"{path}:{APPLY_LINE}: a and b: multiple table applications in one expression" in res.output
    res = CliRunner().invoke(p4_cli, ["compile", str(path), "--target-model", "none", "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "bf-rt.json").exists()


@pytest.mark.parametrize("cond", ["hdr.data.b == 1 && a.apply().hit", "a.apply().hit || hdr.data.b == 1",
                                  "!(a.apply().hit && hdr.data.b == 1)"])
def test_tofino1_refuses_a_table_application_combined_with_other_operations(tmp_path, cond):
    # bf-p4c 1.2.5.16 refused `hdr.mpls[1].isValid() && local_sid_1.apply().hit` in p4/control/sr.p4 with this
    apply = f"        if ({cond}) {{  // here\n            hdr.data.d = 1;\n        }}\n"
    path = tmp_path / "complex.p4"
    text = program_text(locals=TWO_TABLES, apply=apply)
    path.write_text(text)
    (line,) = [i + 1 for i, s in enumerate(text.splitlines()) if "// here" in s]
    with pytest.raises(P4Error) as info:
        Pipeline.from_file(path)
    assert str(info.value) == (f"{path}:{line}: a.apply() in complex context not yet supported -- must be in an 'if' "
                               "by itself, not combined with other operations with &&/|| (bf-p4c "
                               "common/extract_maupipe.cpp)")
    Pipeline.from_file(path, target_model="none")


@pytest.mark.parametrize("cond", ["a.apply().hit", "!a.apply().hit", "a.apply().miss"])
def test_a_table_application_alone_in_its_if_is_accepted(tmp_path, cond):
    apply = (f"        if (hdr.data.b == 1) {{\n            if ({cond}) {{\n                hdr.data.d = 1;\n"
             "            }\n        }\n")
    path = tmp_path / "alone.p4"
    path.write_text(program_text(locals=TWO_TABLES, apply=apply))
    Pipeline.from_file(path)


BOOL_FROM_COMPARISON = """
        bool big = hdr.data.a == 1;
        set_a.apply();
        if (big) { hdr.data.d = 1; }
"""
BOOL_FOLDED = """
        bool big = hdr.data.a == 1;
        set_b.apply();
        if (big) { hdr.data.d = 1; }
"""
BOOL_FROM_IF = """
        bool big;
        if (hdr.data.a == 1) { big = true; } else { big = false; }
        set_a.apply();
        if (big) { hdr.data.d = 1; }
"""
SETTERS = """
    action seta(bit<8> v) { hdr.data.a = v; }
    action setb(bit<8> v) { hdr.data.b = v; }
    table set_a { key = { hdr.data.c : exact; } actions = { seta; NoAction; } default_action = NoAction; }
    table set_b { key = { hdr.data.c : exact; } actions = { setb; NoAction; } default_action = NoAction; }
"""


def test_tofino1_refuses_a_bool_assigned_from_a_comparison_whose_operand_changes(tmp_path):
    """bf-p4c 9.13.4: `source of modify_field invalid` when a table's action writes an operand before the use
    (and after a plain assignment of it); accepted when nothing writes the operands (p4c folds the local)."""
    text = program_text(locals=SETTERS, apply=BOOL_FROM_COMPARISON)
    path = tmp_path / "cmp.p4"
    path.write_text(text)
    line = text.splitlines().index("        bool big = hdr.data.a == 1;") + 1
    with pytest.raises(P4Error) as info:
        Pipeline.from_file(path)
    assert str(info.value).startswith(f"{path}:{line}: source of modify_field invalid: hdr.data.a == 1 is a "
                                      "comparison or logic result"), str(info.value)
    assert "bf-p4c mau/instruction_selection.cpp" in str(info.value)
    path.write_text(program_text(locals=SETTERS, apply=BOOL_FOLDED))
    Pipeline.from_file(path)  # set_b writes no operand: folded into the condition


def test_a_bool_set_by_an_if_is_accepted(tmp_path):
    path = tmp_path / "if.p4"
    path.write_text(program_text(locals=SETTERS, apply=BOOL_FROM_IF))
    p = Pipeline.from_file(path)
    assert data_fields(p.process(0, data_frame(1))[0].frame)[3] == 1
    assert data_fields(p.process(0, data_frame(2))[0].frame)[3] == 0


COUNTER = "    Counter<bit<32>, bit<2>>(4, CounterType_t.PACKETS) c;\n"
COUNT_TWICE = """
        if (hdr.data.a == 1) { c.count(0); }
        if (hdr.data.b == 1) { c.count(1); }
"""
COUNT_EXCLUSIVE = """
        if (hdr.data.a == 1) { c.count(0); } else if (hdr.data.b == 1) { c.count(1); }
"""
COUNT_ONCE = """
        bit<2> idx = 3;
        if (hdr.data.a == 1) { idx = 0; }
        if (hdr.data.b == 1) { idx = 1; }
        c.count(idx);
"""


def test_tofino1_refuses_a_counter_used_by_two_tables_not_mutually_exclusive(tmp_path):
    """bf-p4c 9.13.4 on the same program: `table tbl_…45 and table tbl_…44 cannot share Counter Ig.c because use
    of the Counter Ig.c is not mutually exclusive`; the `else if` and the single count compile."""
    text = program_text(locals=COUNTER, apply=COUNT_TWICE)
    path = tmp_path / "cnt.p4"
    path.write_text(text)
    second = text.splitlines().index("        if (hdr.data.b == 1) { c.count(1); }") + 1
    with pytest.raises(P4Error) as info:
        Pipeline.from_file(path)
    assert str(info.value).startswith(f"{path}:{second}: line {second - 1} and line {second} cannot share Counter "
                                      "Ig.c because use of the Counter Ig.c is not mutually exclusive"), str(info.value)
    for apply, index in ((COUNT_EXCLUSIVE, 0), (COUNT_ONCE, 0)):
        path.write_text(program_text(locals=COUNTER, apply=apply))
        p = Pipeline.from_file(path)
        p.process(0, data_frame(1))  # hdr.data.a == 1
        assert p.counter("Ig.c").pkts == [1 if i == index else 0 for i in range(4)]
