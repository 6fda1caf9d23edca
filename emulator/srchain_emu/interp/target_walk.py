"""Walking the checked program for the target-model rules: bodies, statements, expressions, and what a name,
call or field path resolves to in a block instance's annotations."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from ..frontend import ast as A
from ..frontend.errors import Loc, P4Error
from .checked import ActionSym, Annotations, CheckedBlock, CheckedProgram, ExternSym, RefT, TableSym, Typed


@dataclasses.dataclass(frozen=True, slots=True)
class Diagnostic:
    loc: Loc
    message: str

    def error(self) -> P4Error:
        return P4Error(self.loc, self.message)


class TargetRefusal(P4Error):
    """The target model refused the program: the first diagnostic is the message, all of them are kept."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics[0].loc, diagnostics[0].message)
        self.diagnostics = diagnostics


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


def block_externs(checked: CheckedProgram, kind: str) -> Iterator[tuple[CheckedBlock, A.Instantiation, ExternSym]]:
    """Every instance of extern `kind` declared in a block instance, with its declaration."""
    for block in checked.blocks:
        for ld in block.decl.locals:
            sym = block.ann.get(id(ld))
            if isinstance(ld, A.Instantiation) and isinstance(sym, ExternSym) and sym.kind == kind:
                yield block, ld, sym


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


def children(e: A.Expr) -> Iterator[A.Expr]:
    for f in dataclasses.fields(e):
        v = getattr(e, f.name)
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, A.Expr):
                yield x


def subexpressions(e: A.Expr) -> Iterator[A.Expr]:
    yield e
    for x in children(e):
        yield from subexpressions(x)


def callee(ann: Annotations, call: A.Call) -> object:
    """What a call invokes: an ActionSym, or (ExternSym | TableSym | ..., method), or None."""
    t = ann.get(id(call.func))
    return t.type.sym if isinstance(t, Typed) and isinstance(t.type, RefT) else None


def register_action_call(ann: Annotations, e: A.Expr) -> ExternSym | None:
    """The RegisterAction `e` executes, when `e` is `ra.execute(i)`."""
    if not isinstance(e, A.Call):
        return None
    target = callee(ann, e)
    if isinstance(target, tuple) and isinstance(target[0], ExternSym) and target[0].kind == "RegisterAction":
        return target[0] if target[1] == "execute" else None
    return None


def table_apply_call(ann: Annotations, e: A.Expr) -> TableSym | None:
    if not isinstance(e, A.Call):
        return None
    target = callee(ann, e)
    if isinstance(target, tuple) and isinstance(target[0], TableSym) and target[1] == "apply":
        return target[0]
    return None


def action_call(ann: Annotations, e: A.Expr) -> ActionSym | None:
    target = callee(ann, e) if isinstance(e, A.Call) else None
    return target if isinstance(target, ActionSym) else None


def field_path(e: A.Expr) -> tuple[A.Name, str] | None:
    """`a.b.c` as its root name and text; None for anything else."""
    parts: list[str] = []
    while isinstance(e, A.Member):
        parts.append(e.name)
        e = e.base
    if not isinstance(e, A.Name):
        return None
    return e, ".".join([e.name, *reversed(parts)])


def source_text(e: A.Expr) -> str:
    """Source-like text of an expression, for messages (`!ipv4_checksum.verify()`)."""
    if isinstance(e, A.Name):
        return e.name
    if isinstance(e, A.Member):
        return f"{source_text(e.base)}.{e.name}"
    if isinstance(e, A.IntConst):
        return str(e.value)
    if isinstance(e, A.BoolConst):
        return "true" if e.value else "false"
    if isinstance(e, A.Call):
        return f"{source_text(e.func)}({', '.join(source_text(a) for a in e.args)})"
    if isinstance(e, A.Unary):
        return f"{e.op}{source_text(e.operand)}"
    if isinstance(e, A.Binary):
        return f"{source_text(e.left)} {e.op} {source_text(e.right)}"
    if isinstance(e, A.Slice):
        return f"{source_text(e.base)}[{source_text(e.hi)}:{source_text(e.lo)}]"
    if isinstance(e, A.Index):
        return f"{source_text(e.base)}[{source_text(e.index)}]"
    if isinstance(e, A.Cast):
        return f"(cast){source_text(e.expr)}"
    return "..."
