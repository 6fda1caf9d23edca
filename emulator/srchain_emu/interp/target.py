"""The target-model pass: what a real target's compiler refuses although the emulator could run it.

It runs on the checked program, between the checker and the code generator, so every rule sees resolved
names and types. `tofino1` stands for bf-p4c compiling for a Tofino 1 (the project's P4 must build there);
`none` accepts whatever the emulator runs. The Tofino 1 model grows here, one rule per refusal (stateful ALU
limits, parser assignment rules, stages and PHV); a rule yields Diagnostics and never raises.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from ..frontend import ast as A
from ..frontend.errors import Loc
from .checked import Annotations, CheckedProgram, ExternSym, TableResT, Typed
from .target_fieldlist import FIELD_LIST_RULES
from .target_gateway import GATEWAY_RULES
from .target_parser import PARSER_RULES
from .target_salu import SALU_RULES
from .target_walk import (
    Diagnostic,
    TargetRefusal,
    action_call,
    callee,
    control_bodies,
    expressions,
    field_path,
    source_text,
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


_COMPARISONS = ("==", "!=", "<", ">", "<=", ">=", "&&", "||")


def _comparison(e: A.Expr | None) -> bool:
    return (isinstance(e, A.Binary) and e.op in _COMPARISONS) or (isinstance(e, A.Unary) and e.op == "!")


def _fields(e: A.Expr) -> set[str]:
    """The fields `e` reads, whole paths only (`hdr.data.a`, not also its bases `hdr.data` and `hdr`)."""
    paths = {fp[1] for x in subexpressions(e) if (fp := field_path(x)) is not None}
    return {p for p in paths if not any(q.startswith(p + ".") for q in paths)}


def _overlap(a: set[str], b: set[str]) -> bool:
    return any(x == y or x.startswith(y + ".") or y.startswith(x + ".") for x in a for y in b)


def _assigned(body: A.Stmt) -> set[str]:
    out: set[str] = set()
    for s in statements(body):
        if isinstance(s, A.Assign):
            t = s.target.base if isinstance(s.target, (A.Slice, A.Index)) else s.target
            if (fp := field_path(t)) is not None:
                out.add(fp[1])
    return out


def _writes(ann: Annotations, s: A.Stmt) -> set[str]:
    """Fields statement `s` itself writes: its assignment, and the actions it runs (directly or by a table)."""
    out = _assigned(s) if isinstance(s, A.Assign) else set()
    for e in expressions(s):
        for x in subexpressions(e):
            if (a := action_call(ann, x)) is not None:
                out |= _assigned(a.decl.body)
            elif (t := table_apply_call(ann, x)) is not None:
                for act in t.actions.values():
                    out |= _assigned(act.decl.body)
    return out


def bool_from_a_comparison(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/instruction_selection.cpp: an assignment is a `set` of a PHV field, action data or a
    constant; a comparison or logic result is none of them ("source of modify_field invalid"). p4c folds an
    apply-block local into the conditions that use it, unless something writes the comparison's operands
    before a use; an action (or a metadata field) keeps the assignment. A gateway computes it instead: `if (c)
    { b = true; } else { b = false; }`. Checked with bf-p4c 9.13.4: refused after a write of an operand (an
    assignment or a table's action), accepted when nothing writes them before the use."""
    for ann, body in control_bodies(checked):
        flat = list(statements(body))
        in_action = body is not None and not any(
            isinstance(b.decl, A.ControlDecl) and b.decl.apply is body for b in checked.blocks)
        for i, s in enumerate(flat):
            value = s.value if isinstance(s, A.Assign) else s.init if isinstance(s, A.VarDecl) else None
            if not _comparison(value) or (isinstance(s, A.VarDecl) and s.is_const):
                continue
            assert value is not None
            local = s.name if isinstance(s, A.VarDecl) else (
                s.target.name if isinstance(s, A.Assign) and isinstance(s.target, A.Name) else None)
            kept = in_action or local is None
            if not kept:
                operands = _fields(value)
                uses = [j for j in range(i + 1, len(flat)) if any(
                    isinstance(x, A.Name) and x.name == local for e in expressions(flat[j])
                    for x in subexpressions(e))]
                kept = bool(uses) and any(_overlap(_writes(ann, flat[k]), operands) for k in range(i + 1, max(uses)))
            if kept:
                yield Diagnostic(value.loc, f"source of modify_field invalid: {source_text(value)} is a comparison "
                                            "or logic result, which no ALU instruction moves (its operands change "
                                            "before its use, or it is set in an action); set the bool in an if/else "
                                            "instead (bf-p4c mau/instruction_selection.cpp)")


_SHARED_KINDS = ("Counter", "Meter")  # indirect attached tables a stage serves from one table's address


def _uses(ann: Annotations, body: A.Stmt) -> list[tuple[ExternSym, A.Expr]]:
    """The Counter.count / Meter.execute calls in `body` (its nested statements included)."""
    out = []
    for s in statements(body):
        for e in expressions(s):
            for x in subexpressions(e):
                t = callee(ann, x) if isinstance(x, A.Call) else None
                if isinstance(t, tuple) and isinstance(t[0], ExternSym) and t[0].kind in _SHARED_KINDS:
                    out.append((t[0], x))
    return out


Site = tuple[ExternSym, object, str, A.Expr, tuple[tuple[int, int], ...]]  # (extern, table, name, call, path)


def _counting_sites(ann: Annotations, apply: A.Stmt) -> list[Site]:
    """Where an apply block uses its Counters/Meters: per bf-p4c table (a table's actions are one; a statement
    is a synthesized table of its own), with the branch choices that lead there."""
    sites: list[Site] = []
    branch = itertools.count()

    def walk(stmt: A.Stmt, path: tuple[tuple[int, int], ...]) -> None:
        if isinstance(stmt, A.Block):
            for inner in stmt.stmts:
                walk(inner, path)
            return
        for e in expressions(stmt):
            for x in subexpressions(e):
                if (t := table_apply_call(ann, x)) is not None:
                    for act in t.actions.values():
                        for ext, call in _uses(ann, act.decl.body):
                            sites.append((ext, ("table", t.qual), t.decl.name, call, path))
                elif (a := action_call(ann, x)) is not None:
                    for ext, call in _uses(ann, a.decl.body):
                        sites.append((ext, ("stmt", id(stmt)), a.decl.name, call, path))
                else:
                    t2 = callee(ann, x) if isinstance(x, A.Call) else None
                    if isinstance(t2, tuple) and isinstance(t2[0], ExternSym) and t2[0].kind in _SHARED_KINDS:
                        sites.append((t2[0], ("stmt", id(stmt)), f"line {x.loc.line}", x, path))
        if isinstance(stmt, A.If):
            b = next(branch)
            walk(stmt.then, (*path, (b, 0)))
            if stmt.other is not None:
                walk(stmt.other, (*path, (b, 1)))
        elif isinstance(stmt, A.Switch):
            b = next(branch)
            for i, case in enumerate(stmt.cases):
                if case.body is not None:
                    walk(case.body, (*path, (b, i)))

    walk(apply, ())
    return sites


def shared_counters_mutually_exclusive(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/table_mutex.cpp (SharedIndirectAttachedAnalysis): an indirect Counter or Meter used by two
    tables (a table's actions are one; an apply-block statement is a table of its own) must be used on
    mutually exclusive paths: "t1 and t2 cannot share Counter c because use of the Counter c is not mutually
    exclusive". Checked with bf-p4c 9.13.4: two `if`s each counting are refused; `if … else if …`, or one
    count with a computed index, compile."""
    for block in checked.blocks:
        if not isinstance(block.decl, A.ControlDecl):
            continue
        sites = _counting_sites(block.ann, block.decl.apply)
        for i, (ext, site, name, call, path) in enumerate(sites):
            for ext0, site0, name0, _, path0 in sites[:i]:
                arms = dict(path0)
                exclusive = any(arms.get(b, arm) != arm for b, arm in path)
                if ext0 is ext and site0 != site and not exclusive:
                    yield Diagnostic(call.loc, f"{name0} and {name} cannot share {ext.kind} {ext.cpq} because use "
                                               f"of the {ext.kind} {ext.cpq} is not mutually exclusive (bf-p4c "
                                               "mau/table_mutex.cpp; count once, or on exclusive branches)")
                    break


__all__ = ["DEFAULT_TARGET", "RULES", "TARGET_MODELS", "Diagnostic", "TargetRefusal", "check_target"]

RULES: dict[str, list[Rule]] = {
    "tofino1": [one_table_apply_per_expression, table_apply_alone_in_its_if, bool_from_a_comparison,
                shared_counters_mutually_exclusive, *SALU_RULES, *PARSER_RULES, *GATEWAY_RULES, *FIELD_LIST_RULES],
    "none": [],
}
