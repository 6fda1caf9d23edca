"""The target-model pass: what a real target's compiler refuses although the emulator could run it.

It runs on the checked program, between the checker and the code generator, so every rule sees resolved
names and types. `tofino1` stands for bf-p4c compiling for a Tofino 1 (the project's P4 must build there);
`none` accepts whatever the emulator runs. The Tofino 1 model grows here, one rule per refusal (stateful ALU
limits, parser assignment rules, stages and PHV); a rule yields Diagnostics and never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..frontend import ast as A
from ..frontend.errors import Loc
from .checked import CheckedProgram, TableResT, Typed
from .target_fieldlist import FIELD_LIST_RULES
from .target_gateway import GATEWAY_RULES
from .target_parser import PARSER_RULES
from .target_salu import SALU_RULES
from .target_walk import (
    Diagnostic,
    TargetRefusal,
    control_bodies,
    expressions,
    statements,
    subexpressions,
    table_apply_call,
)

TARGET_MODELS = ("tofino1", "none")
DEFAULT_TARGET = "tofino1"


Rule = Callable[[CheckedProgram], Iterator[Diagnostic]]


def check_target(checked: CheckedProgram, model: str = DEFAULT_TARGET) -> list[Diagnostic]:
    """What `model` refuses in `checked`, by file and line (empty: it compiles for that target)."""
    if model not in RULES:
        raise ValueError(f"unknown target model {model!r} (one of {', '.join(TARGET_MODELS)})")
    found: dict[tuple[Loc, str], Diagnostic] = {}
    for rule in RULES[model]:
        for d in rule(checked):
            found.setdefault((d.loc, d.message), d)  # a control instantiated twice is reported once
    return sorted(found.values(), key=lambda d: (d.loc.file, d.loc.line))


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


def table_apply_alone_in_its_if(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c common/extract_maupipe.cpp: a condition on a table's result is the table's own branch, so
    `if (t.apply().hit)` (or `.miss`, or negated) must stand alone: `x && t.apply().hit` is refused."""
    for ann, body in control_bodies(checked):
        for s in statements(body):
            if not isinstance(s, A.If):
                continue
            applies = [(x, t.decl.name) for x in subexpressions(s.cond) if (t := table_apply_call(ann, x)) is not None]
            if len(applies) != 1:
                continue  # none, or several: one_table_apply_per_expression reports those
            (call, table), = applies
            cond = s.cond.operand if isinstance(s.cond, A.Unary) and s.cond.op == "!" else s.cond
            if isinstance(cond, A.Member) and cond.name in ("hit", "miss") and cond.base is call:
                continue
            yield Diagnostic(call.loc, f"{table}.apply() in complex context not yet supported -- must be in an "
                                       "'if' by itself, not combined with other operations with &&/|| (bf-p4c "
                                       "common/extract_maupipe.cpp)")


__all__ = ["DEFAULT_TARGET", "RULES", "TARGET_MODELS", "Diagnostic", "TargetRefusal", "check_target"]

RULES: dict[str, list[Rule]] = {
    "tofino1": [one_table_apply_per_expression, table_apply_alone_in_its_if, *SALU_RULES, *PARSER_RULES,
                *GATEWAY_RULES, *FIELD_LIST_RULES],
    "none": [],
}
