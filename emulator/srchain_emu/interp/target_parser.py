"""Tofino 1 parser rules: what bf-p4c's parser lowering refuses although the emulator could run it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..frontend import ast as A
from .checked import Annotations, CheckedProgram, ExternSym
from .target_walk import Diagnostic, callee, expressions, source_text, statements, subexpressions


def checksum_verify_call(ann: Annotations, e: A.Expr) -> bool:
    target = callee(ann, e) if isinstance(e, A.Call) else None
    return (isinstance(target, tuple) and isinstance(target[0], ExternSym) and target[0].kind == "Checksum"
            and target[1] == "verify")


def lowered_verify(ann: Annotations, s: A.Stmt) -> A.Expr | None:
    """The verify() call of `x = c.verify()` or `x = x | c.verify()`, the two forms a Tofino parser has."""
    if not isinstance(s, A.Assign):
        return None
    v = s.value
    if checksum_verify_call(ann, v):
        return v
    if (isinstance(v, A.Binary) and v.op == "|" and source_text(v.left) == source_text(s.target)
            and checksum_verify_call(ann, v.right)):
        return v.right
    return None


def parser_checksum_verify(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c parde/extract_parser.cpp: a Tofino parser writes a checksum's error bit into a field
    (`x = c.verify()`, `x = x | c.verify()`); any other use of verify() cannot be evaluated there. (On a Tofino
    verify() is the *error* bit: true when the checksum is wrong, SDE `tna_checksum.p4`.)"""
    for block in checked.blocks:
        if not isinstance(block.decl, A.ParserDecl):
            continue
        for state in block.decl.states:
            for top in state.stmts:
                for s in statements(top):
                    allowed = lowered_verify(block.ann, s)
                    for e in expressions(s):
                        for x in subexpressions(e):
                            if x is allowed or not checksum_verify_call(block.ann, x):
                                continue
                            shown = s.value if isinstance(s, A.Assign) else x
                            yield Diagnostic(x.loc, "Assignment source cannot be evaluated in the parser: "
                                                    f"{source_text(shown)} (bf-p4c parde/extract_parser.cpp: "
                                                    "write `x = c.verify()`, the checksum's error bit)")


PARSER_RULES: list[Callable[[CheckedProgram], Iterator[Diagnostic]]] = [parser_checksum_verify]
