"""Tofino 1 deparser field-list rules: what bf-p4c refuses in the field lists of `Mirror.emit` and
`Digest.pack` (a "learning quanta") although the emulator could run it.

* Size (bf-p4c phv/parde_phv_constraints.cpp, `Device::maxDigestSizeInBytes()` = 384 bits on Tofino 1): the
  selector (`mirror_type` / `digest_type`, one byte) plus every field, each rounded up to whole bytes — for a
  mirror the session id (MirrorId_t, 2 bytes) is the list's first field — is at most 48 bytes: `Learning
  quanta requires N bytes, which is greater than the maximum permissible 48 bytes.`
* Mirror size (bf-asm tofino/deparser.cpp, `mirror digest limited to 32 bytes`): a Tofino 1 mirror table holds
  32 bytes of PHV containers after the session id's. The model counts the fields rounded up to bytes, the
  least the containers can take (bf-p4c may pack them into more: a lower bound).
* Constants (bf-p4c parde/extract_deparser.cpp): a non-zero constant in a field list is `Non-zero constant value
  C in digest field list is not supported on tofino`: put the value in a metadata field first. That includes a
  mirror's session id: `mirror.emit(5, …)` is refused, `mirror.emit(md.session, …)` is not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..frontend import ast as A
from .checked import Annotations, CheckedProgram, ExternSym, Typed
from .target_walk import Diagnostic, callee, expressions, source_text, statements, subexpressions
from .types import Bits, BoolT, StructT, serial_bits

MAX_QUANTA_BYTES = 384 // 8
MAX_MIRROR_BYTES = 32  # mirror_tbl entries of the Tofino 1 deparser (bf-asm tofino/deparser.cpp)
SELECTOR_BYTES = 1  # mirror_type / digest_type, rounded up to a byte
SESSION_BYTES = {"Mirror": 2, "Digest": 0}  # a mirror's field list starts with its session id (bit<10>)


def _bytes(bits: int) -> int:
    return (bits + 7) // 8


def field_list_calls(ann: Annotations, body: A.Stmt) -> Iterator[tuple[str, A.Call, A.Expr]]:
    """(extern kind, call, field list) of every `mirror.emit(session, list)` and `digest.pack(list)` in `body`."""
    for s in statements(body):
        for e in expressions(s):
            for x in subexpressions(e):
                target = callee(ann, x) if isinstance(x, A.Call) else None
                if not (isinstance(target, tuple) and isinstance(target[0], ExternSym)):
                    continue
                kind, method = target[0].kind, target[1]
                assert isinstance(x, A.Call)
                if kind == "Mirror" and method == "emit" and len(x.args) == 2:
                    yield kind, x, x.args[1]
                elif kind == "Digest" and method == "pack" and len(x.args) == 1:
                    yield kind, x, x.args[0]


def list_fields(ann: Annotations, fields: A.Expr) -> list[tuple[A.Expr | None, int]]:
    """The (expression or None for a header's field, width in bits) of a field list."""
    if isinstance(fields, A.ListExpr):
        out: list[tuple[A.Expr | None, int]] = []
        for item in fields.items:
            t = ann.get(id(item))
            width = 1
            if isinstance(t, Typed):
                b = serial_bits(t.type)
                width = b.width if isinstance(b, Bits) else (1 if isinstance(t.type, BoolT) else 0)
            out.append((item, width))
        return out
    t = ann.get(id(fields))
    if isinstance(t, Typed) and isinstance(t.type, StructT):
        widths: list[tuple[A.Expr | None, int]] = []
        for ft in t.type.fields.values():
            b = serial_bits(ft)
            widths.append((None, b.width if b is not None else 1))
        return widths
    return []


def deparser_field_lists(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c phv/parde_phv_constraints.cpp and parde/extract_deparser.cpp: a learning quanta of at most 48
    bytes (selector included, fields rounded up to bytes), and no non-zero constants in it."""
    for block in checked.blocks:
        if not isinstance(block.decl, A.ControlDecl):
            continue
        ann = block.ann
        for kind, call, fields in field_list_calls(ann, block.decl.apply):
            items = list_fields(ann, fields)
            session: list[tuple[A.Expr | None, int]] = [(call.args[0], 10)] if kind == "Mirror" else []
            for item, _width in session + items:  # a mirror's session id is the list's first field
                t = ann.get(id(item)) if item is not None else None
                if isinstance(t, Typed) and isinstance(t.const, int) and t.const != 0:
                    assert item is not None
                    yield Diagnostic(item.loc, f"Non-zero constant value {source_text(item)} in digest field list is "
                                               "not supported on tofino (bf-p4c parde/extract_deparser.cpp: put it "
                                               "in a metadata field)")
            data = sum(_bytes(w) for _, w in items)
            size = SELECTOR_BYTES + SESSION_BYTES[kind] + data
            if kind == "Mirror" and data > MAX_MIRROR_BYTES and size <= MAX_QUANTA_BYTES:
                yield Diagnostic(call.loc, f"mirror digest limited to {MAX_MIRROR_BYTES} bytes: Mirror field list "
                                           f"{source_text(fields)} takes at least {data} (bf-asm tofino/deparser.cpp: "
                                           "the mirror table holds 32 bytes of PHV containers after the session id)")
            if size > MAX_QUANTA_BYTES:
                yield Diagnostic(call.loc, f"Learning quanta requires {size} bytes, which is greater than the "
                                           f"maximum permissible {MAX_QUANTA_BYTES} bytes: {kind} field list "
                                           f"{source_text(fields)} (bf-p4c phv/parde_phv_constraints.cpp, each field "
                                           "rounded up to bytes, the selector included)")


FIELD_LIST_RULES: list[Callable[[CheckedProgram], Iterator[Diagnostic]]] = [deparser_field_lists]
