"""Tofino 1 stateful ALU rules: what bf-p4c refuses in a Register, its RegisterActions and their executions.

A register lives in one stateful ALU (SALU) in one stage. On a Tofino 1 that ALU reads at most two PHV
fields from the input crossbar, has two comparison units feeding its predicates, a low and a high ALU of at
most 32 bits that add, subtract (also saturating), take min/max and do bitwise operations (no shifts),
and runs one instruction per packet. Each rule names the bf-p4c source it mirrors (p4lang/p4c,
`backends/tofino/bf-p4c/`) in its docstring and its message; the wording follows bf-p4c's where it has one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from functools import cached_property

from ..frontend import ast as A
from ..frontend.errors import Loc
from .checked import Annotations, CheckedProgram, ExternSym, Typed, VarSym
from .target_walk import (
    Diagnostic,
    action_call,
    block_externs,
    children,
    expressions,
    field_path,
    register_action_call,
    statements,
    subexpressions,
    table_apply_call,
)
from .types import Bits, StructT

PHV_INPUTS = 2  # specs/device.cpp, mau/tofino/input_xbar.cpp: the SALU's two input-crossbar words
CMP_UNITS = 2  # specs/device.cpp: StatefulAluSpec CmpUnits of a Tofino 1
ALU_BITS = 32  # the widest half of a stateful ALU
RELATIONS = {"==": "eq", "!=": "eq", "<": "lt", ">=": "lt", ">": "gt", "<=": "gt"}  # a unit and its negation


@dataclasses.dataclass(frozen=True)
class RegisterActionSite:
    """One RegisterAction of one block instance, with the annotations its body was checked in."""

    ann: Annotations
    decl: A.Instantiation
    sym: ExternSym

    @property
    def name(self) -> str:
        return self.decl.name

    @property
    def body(self) -> A.Block:
        apply: A.FunctionDecl = self.sym.extra["apply"]  # type: ignore[assignment]
        return apply.body

    @property
    def register(self) -> ExternSym:
        return self.sym.extra["register"]  # type: ignore[return-value]

    @cached_property
    def value(self) -> VarSym:
        apply: A.FunctionDecl = self.sym.extra["apply"]  # type: ignore[assignment]
        return self.ann[id(apply.params[0])]  # type: ignore[return-value]

    @cached_property
    def alu_names(self) -> set[VarSym]:
        """What lives inside the ALU: the register value, the out parameter and the body's locals."""
        apply: A.FunctionDecl = self.sym.extra["apply"]  # type: ignore[assignment]
        names = {self.ann[id(p)] for p in apply.params}
        names |= {self.ann[id(s)] for s in statements(self.body) if isinstance(s, A.VarDecl) and id(s) in self.ann}
        return {n for n in names if isinstance(n, VarSym)}

    def sym_of(self, e: A.Expr) -> VarSym | None:
        t = self.ann.get(id(e))
        return t.sym if isinstance(t, Typed) else None

    def is_const(self, e: A.Expr) -> bool:
        t = self.ann.get(id(e))
        return isinstance(t, Typed) and t.const is not None


def register_actions(checked: CheckedProgram) -> Iterator[RegisterActionSite]:
    for block, decl, sym in block_externs(checked, "RegisterAction"):
        yield RegisterActionSite(block.ann, decl, sym)


def shape(e: object) -> object:
    """A comparable form of an expression, without source locations."""
    if isinstance(e, list):
        return tuple(shape(x) for x in e)
    if dataclasses.is_dataclass(e) and not isinstance(e, type):
        return (type(e).__name__, *(shape(getattr(e, f.name)) for f in dataclasses.fields(e) if f.name != "loc"))
    return e


def read_expressions(s: A.Stmt) -> Iterator[A.Expr]:
    """What a statement of a RegisterAction body reads (assignment targets are written, not read)."""
    for e in expressions(s):
        if not (isinstance(s, A.Assign) and e is s.target):
            yield e


# ---------------------------------------------------------------- PHV inputs


def phv_reads(site: RegisterActionSite, e: A.Expr) -> Iterator[tuple[str, A.Expr]]:
    """The PHV fields `e` reads: field paths rooted outside the ALU (constants and ALU names don't count)."""
    if site.is_const(e):
        return
    path = field_path(e)
    if path is not None:
        root, text = path
        sym = site.sym_of(root)
        if sym is not None and sym not in site.alu_names:
            yield text, e
        return
    for x in (e.args if isinstance(e, A.Call) else children(e)):
        yield from phv_reads(site, x)


def salu_phv_inputs(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/tofino/input_xbar.cpp: a Tofino 1 stateful ALU reads at most 2 PHV fields, shared by all
    RegisterActions of its register (`<reg> requires more than 2 PHV inputs`)."""
    inputs: dict[int, dict[str, A.Expr]] = {}
    for site in register_actions(checked):
        seen = inputs.setdefault(id(site.register), {})
        for s in statements(site.body):
            for e in read_expressions(s):
                for text, x in phv_reads(site, e):
                    if text in seen:
                        continue
                    seen[text] = x
                    if len(seen) == PHV_INPUTS + 1:
                        yield Diagnostic(x.loc, f"{site.register.cpq} requires more than {PHV_INPUTS} PHV inputs "
                                                f"({', '.join(seen)}; bf-p4c mau/tofino/input_xbar.cpp: a stateful "
                                                f"ALU reads at most {PHV_INPUTS} PHV fields, shared by all "
                                                "RegisterActions of a register)")


# ---------------------------------------------------------------- comparison units


def comparisons(site: RegisterActionSite, cond: A.Expr) -> Iterator[tuple[object, A.Expr]]:
    """The comparison units a condition needs: one per relation (a relation and its negation share one),
    one per boolean field tested (`f` is `f != 0`)."""
    if site.is_const(cond):
        return
    if isinstance(cond, A.Unary) and cond.op == "!":
        yield from comparisons(site, cond.operand)
    elif isinstance(cond, A.Binary) and cond.op in ("&&", "||"):
        yield from comparisons(site, cond.left)
        yield from comparisons(site, cond.right)
    elif isinstance(cond, A.Binary) and cond.op in RELATIONS:
        yield (RELATIONS[cond.op], shape(cond.left), shape(cond.right)), cond
    else:
        yield ("eq", shape(cond), None), cond


def conditions(body: A.Block) -> Iterator[A.Expr]:
    for s in statements(body):
        if isinstance(s, A.If):
            yield s.cond
        for e in expressions(s):
            yield from (x.cond for x in subexpressions(e) if isinstance(x, A.Ternary))


def salu_comparison_units(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/stateful_alu.cpp (CreateSaluInstruction, CmpUnits of specs/device.cpp): the conditions of a
    RegisterAction share the Tofino 1 SALU's 2 comparison units."""
    for site in register_actions(checked):
        units: dict[object, A.Expr] = {}
        for cond in conditions(site.body):
            for key, e in comparisons(site, cond):
                units.setdefault(key, e)
        if len(units) > CMP_UNITS:
            third = list(units.values())[CMP_UNITS]
            yield Diagnostic(third.loc, f"RegisterAction {site.name}.apply needs {len(units)} comparisons but the "
                                        f"device only has {CMP_UNITS} comparison units (bf-p4c "
                                        "mau/stateful_alu.cpp, specs/device.cpp)")


# ---------------------------------------------------------------- operators and cells


def salu_operators(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/stateful_alu.cpp: the SALU adds, subtracts (also saturating), takes min/max and does bitwise
    operations; `*`, `/`, `%` and shifts have no instruction (bf-p4c refuses even `value << 1`: checked
    against bf-p4c 1.2.5.16 on 2026-12-02)."""
    for site in register_actions(checked):
        for s in statements(site.body):
            for e in expressions(s):
                for x in subexpressions(e):
                    if not isinstance(x, A.Binary) or site.is_const(x):
                        continue
                    if x.op in ("*", "/", "%"):
                        what = f"'{x.op}'"
                    elif x.op in ("<<", ">>"):
                        what = f"a shift ('{x.op}')"
                    else:
                        continue
                    yield Diagnostic(x.loc, f"RegisterAction {site.name}: {what}: expression too complex for "
                                            "register action (bf-p4c mau/stateful_alu.cpp: the stateful ALU adds, "
                                            "subtracts, takes min/max and does bitwise operations)")


def _alu_width(width: int) -> bool:
    return width in (8, 16, ALU_BITS)  # a power of two from 8 to the ALU's width


def cell_fits(t: object) -> bool:
    """bf-p4c's register element types (mau/stateful_alu.cpp, the register type check): bit<1>; bit/int of
    8, 16 or 32 bits; 64 bits (both halves, dual mode); a struct of one or two fields of one such type."""
    if isinstance(t, Bits):
        return t.width in (1, 2 * ALU_BITS) or _alu_width(t.width)
    if isinstance(t, StructT) and len(t.fields) in (1, 2):
        types = list(t.fields.values())
        return all(isinstance(f, Bits) and f == types[0] and _alu_width(f.width) for f in types)
    return False


def salu_register_cells(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/stateful_alu.cpp: what a Tofino 1 register cell can be (cell_fits)."""
    for _block, decl, sym in block_externs(checked, "Register"):
        t = sym.extra["value_type"]
        if not cell_fits(t):
            yield Diagnostic(decl.loc, f"{sym.cpq}: register cell {t} does not fit the stateful ALU (bf-p4c "
                                       "mau/stateful_alu.cpp: bit<1>, bit/int<8|16|32>, bit<64>, or a struct "
                                       "of one or two fields of one bit/int<8|16|32> type)")


_ALU_OPS = frozenset(("+", "|+|", "-", "|-|", "&"))  # where bf-p4c checks for a complex instruction
_COMPLEX_OPERANDS = frozenset(("+", "|+|", "-", "|-|", "&", "|", "^", "/", "%"))


def _complex_operand(e: A.Expr) -> bool:
    return (isinstance(e, A.Binary) and e.op in _COMPLEX_OPERANDS) or (isinstance(e, A.Unary) and e.op == "-")


def salu_complex_instructions(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/stateful_alu.cpp (CreateSaluInstruction::isComplexInstruction): one ALU operation per
    statement: `+`, `|+|`, `-`, `|-|` or `&` with an operand that is itself such an operation (or `|`, `^`,
    `/`, `%`, a negation) is refused; only `|` may join two operations, and only as the whole value written
    to the register cell."""
    for site in register_actions(checked):
        for s in statements(site.body):
            top_or = s.value if isinstance(s, A.Assign) and site.sym_of(s.target) is site.value else None
            for e in expressions(s):
                for x in subexpressions(e):
                    if not isinstance(x, A.Binary) or site.is_const(x):
                        continue
                    if not (x.op in _ALU_OPS or (x.op == "|" and x is not top_or)):
                        continue
                    if _complex_operand(x.left) or _complex_operand(x.right):
                        yield Diagnostic(x.loc, f"RegisterAction {site.name}: You can only have more than one "
                                                "binary operator in a statement if the outer one is | (bf-p4c "
                                                "mau/stateful_alu.cpp: one ALU operation per statement)")


# ---------------------------------------------------------------- locals and assignments


def assignments(body: A.Block) -> Iterator[tuple[A.Stmt, A.Expr, A.Expr | None, tuple[object, ...]]]:
    """(statement, target, value, predicate path) of every assignment and initialised local, in order."""

    def walk(s: A.Stmt, path: tuple[object, ...]) -> Iterator[tuple[A.Stmt, A.Expr, A.Expr | None, tuple[object, ...]]]:
        if isinstance(s, A.Block):
            for inner in s.stmts:
                yield from walk(inner, path)
        elif isinstance(s, A.If):
            cond = shape(s.cond)
            yield from walk(s.then, (*path, (cond, True)))
            if s.other is not None:
                yield from walk(s.other, (*path, (cond, False)))
        elif isinstance(s, A.Assign):
            yield s, s.target, s.value, path
        elif isinstance(s, A.VarDecl) and s.init is not None:
            yield s, A.Name(s.loc, s.name), s.init, path

    yield from walk(body, ())


def is_zero(site: RegisterActionSite, e: A.Expr) -> bool:
    t = site.ann.get(id(e))
    return isinstance(t, Typed) and t.const in (0, False)


def salu_exclusive_assignments(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/stateful_alu.cpp (checkWriteAfterWrite): each ALU computes one value per packet, so two
    assignments of one name must sit under different conditions (an unconditional first `= 0` is free)."""
    for site in register_actions(checked):
        seen: dict[object, list[tuple[tuple[object, ...], Loc]]] = {}
        for s, target, value, path in assignments(site.body):
            key = shape(target)
            earlier = seen.get(key)
            if earlier is None:
                if not (path == () and value is not None and is_zero(site, value)):
                    seen[key] = [(path, s.loc)]
                continue
            clash = next((loc for p, loc in earlier if p == () or path == () or p == path), None)
            if clash is not None:
                path_text = field_path(target)
                name = path_text[1] if path_text is not None else "a value"
                yield Diagnostic(s.loc, f"two or more assignments of {name} inside the register action {site.name} "
                                        f"(lines {clash.line} and {s.loc.line}) are not mutually exclusive: "
                                        "expression too complex for register action (bf-p4c "
                                        "mau/stateful_alu.cpp: each ALU computes one value per packet)")
                break
            earlier.append((path, s.loc))


def salu_local_kinds(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/stateful_alu.cpp (doAssignment, LocalVar): a RegisterAction local is either a copy of the
    register value or the high ALU's result, never first one then the other."""
    for site in register_actions(checked):
        kinds: dict[VarSym, str] = {}
        for s, target, value, _path in assignments(site.body):
            if value is None:
                continue
            local = site.ann.get(id(s)) if isinstance(s, A.VarDecl) else site.sym_of(target)
            if not isinstance(local, VarSym) or local is site.value or local not in site.alu_names:
                continue
            path = field_path(value)
            kind = "memory" if path is not None and site.sym_of(path[0]) is site.value else "computed"
            if kinds.setdefault(local, kind) != kind:
                name = target.name if isinstance(target, A.Name) else "a local"
                yield Diagnostic(s.loc, f"RegisterAction {site.name}: local {name} is assigned both the register "
                                        "value and a computed value: expression too complex for register action "
                                        "(bf-p4c mau/stateful_alu.cpp: a local is a copy of memory or the high "
                                        "ALU's result)")


# ---------------------------------------------------------------- one access per packet


Path = tuple[tuple[int, object], ...]  # (branching node, branch taken) from the apply block down


def exclusive(a: Path, b: Path) -> bool:
    taken = dict(a)
    return any(node in taken and taken[node] != branch for node, branch in b)


def executions(ann: Annotations, apply: A.Block) -> Iterator[tuple[ExternSym, A.Call, Path]]:
    """Every `ra.execute()` a control's apply block can run, with its branch path; the actions of an applied
    table are alternatives (one runs), an action called directly runs where it is called."""

    def in_expr(e: A.Expr, path: Path) -> Iterator[tuple[ExternSym, A.Call, Path]]:
        for x in subexpressions(e):
            ra = register_action_call(ann, x)
            if ra is not None and isinstance(x, A.Call):
                yield ra, x, path
            table = table_apply_call(ann, x)
            if table is not None:
                for name, action in table.actions.items():
                    yield from in_stmt(action.decl.body, (*path, (id(x), name)))
            called = action_call(ann, x)
            if called is not None:
                yield from in_stmt(called.decl.body, path)

    def in_stmt(s: A.Stmt, path: Path) -> Iterator[tuple[ExternSym, A.Call, Path]]:
        if isinstance(s, A.Block):
            for inner in s.stmts:
                yield from in_stmt(inner, path)
        elif isinstance(s, A.If):
            yield from in_expr(s.cond, path)
            yield from in_stmt(s.then, (*path, (id(s), True)))
            if s.other is not None:
                yield from in_stmt(s.other, (*path, (id(s), False)))
        elif isinstance(s, A.Switch):
            yield from in_expr(s.expr, path)
            for i, case in enumerate(s.cases):
                if case.body is not None:
                    yield from in_stmt(case.body, (*path, (id(s), i)))
        else:
            for e in expressions(s):
                yield from in_expr(e, path)

    yield from in_stmt(apply, ())


def salu_one_access_per_packet(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/stateful_alu.cpp, mau/table_placement.cpp: a register's SALU runs one RegisterAction per
    packet, so two executions on one path through a control (not in exclusive branches) are refused."""
    for block in checked.blocks:
        if not isinstance(block.decl, A.ControlDecl):
            continue
        seen: dict[int, list[tuple[ExternSym, A.Call, Path]]] = {}
        reported: set[int] = set()
        for ra, call, path in executions(block.ann, block.decl.apply):
            register: ExternSym = ra.extra["register"]  # type: ignore[assignment]
            earlier = seen.setdefault(id(register), [])
            clash = next((e for e in earlier if not exclusive(e[2], path)), None)
            earlier.append((ra, call, path))
            if clash is None or id(register) in reported:
                continue
            reported.add(id(register))
            first, second = clash[0].cpq.rsplit(".", 1)[-1], ra.cpq.rsplit(".", 1)[-1]
            what = f"{first} executes twice" if first == second else f"{first} and {second} both execute"
            yield Diagnostic(call.loc, f"{register.cpq}: {what} on one path (line {clash[1].loc.line} and here): "
                                       "a register is accessed once per packet (bf-p4c mau/stateful_alu.cpp, "
                                       "mau/table_placement.cpp: one stateful ALU instruction per register and "
                                       "packet; put the executions in exclusive branches)")


SALU_RULES: list[Callable[[CheckedProgram], Iterator[Diagnostic]]] = [
    salu_register_cells,
    salu_phv_inputs,
    salu_comparison_units,
    salu_operators,
    salu_complex_instructions,
    salu_exclusive_assignments,
    salu_local_kinds,
    salu_one_access_per_packet,
]
