"""The target-model pass: what a real target's compiler refuses although the emulator could run it.

It runs on the checked program, between the checker and the code generator, so every rule sees resolved
names and types. `tofino1` stands for bf-p4c compiling for a Tofino 1 (the project's P4 must build there);
`none` accepts whatever the emulator runs. The Tofino 1 model grows here, one rule per refusal (stateful ALU
limits, parser assignment rules, stages and PHV); a rule yields Diagnostics and never raises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from ..frontend import ast as A
from ..frontend.errors import Loc, P4Error
from .checked import Annotations, CheckedProgram, TableResT, Typed

TARGET_MODELS = ("tofino1", "none")
DEFAULT_TARGET = "tofino1"


@dataclasses.dataclass(frozen=True, slots=True)
class Diagnostic:
    loc: Loc
    message: str

    def error(self) -> P4Error:
        return P4Error(self.loc, self.message)


Rule = Callable[[CheckedProgram], Iterator[Diagnostic]]


def check_target(checked: CheckedProgram, model: str = DEFAULT_TARGET) -> list[Diagnostic]:
    """What `model` refuses in `checked`, in source order per block (empty: it compiles for that target)."""
    if model not in RULES:
        raise ValueError(f"unknown target model {model!r} (one of {', '.join(TARGET_MODELS)})")
    found: dict[tuple[Loc, str], Diagnostic] = {}
    for rule in RULES[model]:
        for d in rule(checked):
            found.setdefault((d.loc, d.message), d)  # a control instantiated twice is reported once
    return list(found.values())


# ---------------------------------------------------------------- walking the checked program


def control_bodies(checked: CheckedProgram) -> Iterator[tuple[Annotations, A.Block]]:
    """Every action body and control apply block, with the annotations of its block instance."""
    for d in checked.program.decls:
        if isinstance(d, A.ActionDecl):
            yield checked.top, d.body
    for block in checked.blocks:
        if not isinstance(block.decl, A.ControlDecl):
            continue
        for ld in block.decl.locals:
            if isinstance(ld, A.ActionDecl):
                yield block.ann, ld.body
        yield block.ann, block.decl.apply


def statements(s: A.Stmt) -> Iterator[A.Stmt]:
    yield s
    if isinstance(s, A.Block):
        for inner in s.stmts:
            yield from statements(inner)
    elif isinstance(s, A.If):
        yield from statements(s.then)
        if s.other is not None:
            yield from statements(s.other)
    elif isinstance(s, A.Switch):
        for case in s.cases:
            if case.body is not None:
                yield from statements(case.body)


def expressions(s: A.Stmt) -> Iterator[A.Expr]:
    """The expressions of one statement (not those of the statements nested in it)."""
    if isinstance(s, A.Assign):
        yield s.target
        yield s.value
    elif isinstance(s, A.CallStmt):
        yield s.call
    elif isinstance(s, A.If):
        yield s.cond
    elif isinstance(s, A.Switch):
        yield s.expr
    elif isinstance(s, (A.VarDecl, A.Return)):
        e = s.init if isinstance(s, A.VarDecl) else s.value
        if e is not None:
            yield e


def subexpressions(e: A.Expr) -> Iterator[A.Expr]:
    yield e
    for f in dataclasses.fields(e):
        v = getattr(e, f.name)
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, A.Expr):
                yield from subexpressions(x)


# ---------------------------------------------------------------- Tofino 1 rules


def one_table_apply_per_expression(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c turns `t.apply().hit` into a branch on the table's result: one table per expression."""
    for ann, body in control_bodies(checked):
        for s in statements(body):
            for e in expressions(s):
                applies: list[tuple[A.Expr, str]] = []
                for x in subexpressions(e):
                    a = ann.get(id(x))
                    if isinstance(x, A.Call) and isinstance(a, Typed) and isinstance(a.type, TableResT):
                        applies.append((x, a.type.table.decl.name))
                if len(applies) > 1:
                    (_, first), (second_call, second) = applies[0], applies[1]
                    yield Diagnostic(second_call.loc, f"{first} and {second}: multiple table applications "
                                                      "in one expression")


RULES: dict[str, list[Rule]] = {
    "tofino1": [one_table_apply_per_expression],
    "none": [],
}
