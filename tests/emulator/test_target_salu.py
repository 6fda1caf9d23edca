"""Tofino 1 stateful ALU rules of the target model (interp/target_salu.py): one small illegal program per rule,
refused with the rule's text and line, and its legal twin, accepted and run."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from emu_helpers import data_fields, data_frame, program_text

from srchain_emu.cli import p4_cli
from srchain_emu.interp.pipeline import Pipeline
from srchain_emu.interp.target import TargetRefusal

PAIR = "struct pair_t { bit<32> lo; bit<32> hi; }\nstruct wide3_t { bit<32> a; bit<32> b; bit<32> c; }\n"


def register(body: str, cell: str = "bit<32>", name: str = "ra", reg: str = "r", declare: bool = True) -> str:
    """A Register `reg` (unless declared already) and a RegisterAction `name` with `body`."""
    decl = f"    Register<{cell}, bit<8>>(16) {reg};\n" if declare else ""
    return decl + f"""    RegisterAction<{cell}, bit<8>, bit<32>>({reg}) {name} = {{
        void apply(inout {cell} value, out bit<32> rv) {{
{body}
        }}
    }};
"""


EXECUTE = "        hdr.data.d = ra.execute(hdr.data.a);\n"


def write(tmp_path, locals: str, apply: str = EXECUTE, types: str = PAIR):
    path = tmp_path / "salu.p4"
    text = program_text(locals=locals, apply=apply, types=types)
    path.write_text(text)
    return path, text


def line_of(text: str, marker: str) -> int:
    (line,) = [i + 1 for i, s in enumerate(text.splitlines()) if marker in s]
    return line


def refusals(path) -> list[str]:
    with pytest.raises(TargetRefusal) as info:
        Pipeline.from_file(path)  # tofino1 is the default model
    return [f"{d.loc}: {d.message}" for d in info.value.diagnostics]


def run(path, a: int = 1, b: int = 0) -> list[int]:
    """Accepted by the Tofino 1 model; the `d` field after three packets of the same index."""
    p = Pipeline.from_file(path)
    return [data_fields(p.process(0, data_frame(a=a, b=b, d=7))[0].frame)[3] for _ in range(3)]


# ---------------------------------------------------------------- PHV inputs


def test_three_phv_inputs_are_refused(tmp_path):
    body = """            if (md.flag) { value = md.x; } else { value = value + (bit<32>)hdr.data.b; }  // third
            rv = value;"""
    path, text = write(tmp_path, register(body))
    assert refusals(path) == [
        f"{path}:{line_of(text, '// third')}: Ig.r requires more than 2 PHV inputs (md.flag, md.x, hdr.data.b; "
        "bf-p4c mau/tofino/input_xbar.cpp: a stateful ALU reads at most 2 PHV fields, shared by all "
        "RegisterActions of a register)"]


def test_two_phv_inputs_and_constants_are_accepted(tmp_path):
    body = """            if (md.flag) { value = md.x; } else { value = value + md.x; }
            rv = value + 3;"""
    path, _ = write(tmp_path, register(body), apply="        md.x = 5;\n" + EXECUTE)
    assert run(path) == [8, 13, 18]  # md.flag is false: value += 5, out value + 3


def test_phv_inputs_are_counted_per_register_across_its_actions(tmp_path):
    locals = (register("            value = md.x; rv = value;")
              + register("            value = (bit<32>)md.c; rv = (bit<32>)hdr.data.b;  // other", name="rb",
                         declare=False))
    apply = "        if (md.flag) { hdr.data.d = ra.execute(0); } else { hdr.data.d = rb.execute(0); }\n"
    path, text = write(tmp_path, locals, apply)
    assert refusals(path) == [
        f"{path}:{line_of(text, '// other')}: Ig.r requires more than 2 PHV inputs (md.x, md.c, hdr.data.b; "
        "bf-p4c mau/tofino/input_xbar.cpp: a stateful ALU reads at most 2 PHV fields, shared by all "
        "RegisterActions of a register)"]


# ---------------------------------------------------------------- comparison units


def test_three_comparisons_are_refused(tmp_path):
    body = """            if (md.flag || md.x < value ||
                md.x == value) {  // third
                value = md.x;
            }
            rv = value;"""
    path, text = write(tmp_path, register(body))
    assert refusals(path) == [
        f"{path}:{line_of(text, '// third')}: RegisterAction ra.apply needs 3 comparisons but the device only has "
        "2 comparison units (bf-p4c mau/stateful_alu.cpp, specs/device.cpp)"]


def test_two_comparison_units_with_a_negation_sharing_one_are_accepted(tmp_path):
    body = """            if (md.flag || md.x < value) {
                value = md.x;
            } else if (md.x >= value) {
                value = value + 1;
            }
            rv = value;"""
    path, _ = write(tmp_path, register(body), apply="        md.x = 5;\n" + EXECUTE)
    assert run(path) == [1, 2, 3]  # md.x (5) is never below the cell (0, 1, 2): the else-if counts


# ---------------------------------------------------------------- operators


@pytest.mark.parametrize(("expr", "what"), [
    ("value * 3", "'*'"), ("value / 3", "'/'"), ("value % 3", "'%'"),
    ("value << md.a", "a shift ('<<')"), ("value << 1", "a shift ('<<')"),
])
def test_operators_the_salu_lacks_are_refused(tmp_path, expr, what):
    path, text = write(tmp_path, register(f"            value = {expr};  // op\n            rv = value;"))
    assert refusals(path) == [
        f"{path}:{line_of(text, '// op')}: RegisterAction ra: {what}: expression too complex for register action "
        "(bf-p4c mau/stateful_alu.cpp: the stateful ALU adds, subtracts, takes min/max and does bitwise "
        "operations)"]


def test_add_saturate_and_bitwise_are_accepted(tmp_path):
    body = """            if (hdr.data.b == 0) { value = value |+| (bit<32>)hdr.data.a; } else { value = value | 6; }
            rv = value;"""
    path, _ = write(tmp_path, register(body))
    assert run(path, b=0) == [1, 2, 3]
    assert run(path, b=1) == [6, 6, 6]


def test_two_alu_operations_in_one_statement_are_refused(tmp_path):
    body = "            value = value + md.x + 3;  // two\n            rv = value;"
    path, text = write(tmp_path, register(body))
    assert refusals(path) == [
        f"{path}:{line_of(text, '// two')}: RegisterAction ra: You can only have more than one binary operator "
        "in a statement if the outer one is | (bf-p4c mau/stateful_alu.cpp: one ALU operation per statement)"]


# ---------------------------------------------------------------- register cells


@pytest.mark.parametrize(("cell", "shown"), [("bit<24>", "bit<24>"), ("wide3_t", "struct wide3_t")])
def test_cells_wider_than_the_alu_are_refused(tmp_path, cell, shown):
    body = "            rv = 1;"
    path, text = write(tmp_path, register(body, cell=cell))
    assert refusals(path) == [
        f"{path}:{line_of(text, 'Register<' + cell)}: Ig.r: register cell {shown} does not fit the stateful ALU "
        "(bf-p4c mau/stateful_alu.cpp: bit<1>, bit/int<8|16|32>, bit<64>, or a struct of one or two fields of one "
        "bit/int<8|16|32> type)"]


def test_a_pair_of_32_bit_halves_is_accepted(tmp_path):
    body = "            value.lo = value.lo + 1;\n            value.hi = md.x;\n            rv = value.lo;"
    path, _ = write(tmp_path, register(body, cell="pair_t"))
    assert run(path) == [1, 2, 3]


# ---------------------------------------------------------------- assignments and locals


def test_assignments_on_overlapping_conditions_are_refused(tmp_path):
    body = """            bit<32> w = 1;
            if (!md.flag) {
                w = value + 1;  // second
            }
            rv = w;
            value = w;"""
    path, text = write(tmp_path, register(body))
    second = line_of(text, "// second")
    assert refusals(path) == [
        f"{path}:{second}: two or more assignments of w inside the register action ra (lines {second - 2} and "
        f"{second}) are not mutually exclusive: expression too complex for register action (bf-p4c "
        "mau/stateful_alu.cpp: each ALU computes one value per packet)"]


def test_assignments_in_exclusive_branches_and_a_first_zero_are_accepted(tmp_path):
    body = """            rv = 0;
            if (md.flag) {
                rv = 1;
            } else {
                rv = value + 1;
            }
            if (md.flag) { value = 1; } else { value = value + 1; }"""
    path, _ = write(tmp_path, register(body))
    assert run(path) == [1, 2, 3]


def test_a_local_from_memory_then_computed_is_refused(tmp_path):
    body = """            bit<32> c;
            if (md.flag) {
                c = value;
            } else {
                c = 7;  // computed
            }
            rv = c;"""
    path, text = write(tmp_path, register(body))
    assert refusals(path) == [
        f"{path}:{line_of(text, '// computed')}: RegisterAction ra: local c is assigned both the register value "
        "and a computed value: expression too complex for register action (bf-p4c mau/stateful_alu.cpp: a local "
        "is a copy of memory or the high ALU's result)"]


def test_a_local_always_computed_is_accepted(tmp_path):
    body = """            bit<32> c;
            if (md.flag) {
                c = value + 1;
            } else {
                c = 7;
            }
            rv = c;"""
    path, _ = write(tmp_path, register(body))
    assert run(path) == [7, 7, 7]


# ---------------------------------------------------------------- one access per packet

TWO_ACTIONS = (register("            value = value + 1; rv = value;")
               + register("            value = value + 2; rv = value;", name="rb", declare=False))


def test_two_executions_of_one_register_on_one_path_are_refused(tmp_path):
    apply = "        hdr.data.d = ra.execute(0);\n        hdr.data.c = (bit<16>)rb.execute(0);  // second\n"
    path, text = write(tmp_path, TWO_ACTIONS, apply)
    second = line_of(text, "// second")
    assert refusals(path) == [
        f"{path}:{second}: Ig.r: ra and rb both execute on one path (line {second - 1} and here): a register is "
        "accessed once per packet (bf-p4c mau/stateful_alu.cpp, mau/table_placement.cpp: one stateful ALU "
        "instruction per register and packet; put the executions in exclusive branches)"]


def test_an_execution_in_an_action_and_in_apply_is_refused(tmp_path):
    locals = TWO_ACTIONS + "    action bump() { hdr.data.d = rb.execute(0); }\n"
    apply = "        bump();\n        if (md.flag) { hdr.data.d = ra.execute(1); }  // second\n"
    path, text = write(tmp_path, locals, apply)
    assert refusals(path)[0].startswith(f"{path}:{line_of(text, '// second')}: Ig.r: rb and ra both execute "
                                        "on one path")


def test_executions_in_exclusive_branches_and_table_actions_are_accepted(tmp_path):
    locals = TWO_ACTIONS + """    action use_a() { hdr.data.d = ra.execute(0); }
    action use_b() { hdr.data.d = rb.execute(0); }
    table pick { key = { hdr.data.a : exact; } actions = { use_a; use_b; } default_action = use_b; }
"""
    apply = """        if (hdr.data.b == 1) {
            hdr.data.d = ra.execute(0);
        } else if (hdr.data.b == 2) {
            hdr.data.d = rb.execute(0);
        } else {
            pick.apply();
        }
"""
    path, _ = write(tmp_path, locals, apply)
    assert run(path, b=1) == [1, 2, 3]
    assert run(path, b=2) == [2, 4, 6]
    assert run(path, b=0) == [2, 4, 6]  # the table's default action


# ---------------------------------------------------------------- the CLI lists every refusal


def test_check_prints_every_refusal_and_none_accepts(tmp_path):
    body = """            if (md.flag || md.x < value || md.x == value + (bit<32>)hdr.data.b) { value = md.x; }
            rv = value * 2;"""
    path, _ = write(tmp_path, register(body))
    res = CliRunner().invoke(p4_cli, ["check", str(path)])
    assert res.exit_code == 1
    assert "requires more than 2 PHV inputs" in res.output
    assert "needs 3 comparisons" in res.output
    assert "'*': expression too complex for register action" in res.output
    assert len(res.output.splitlines()) == 3
    res = CliRunner().invoke(p4_cli, ["check", str(path), "--target-model", "none"])
    assert res.exit_code == 0, res.output
