"""The checked program: what the checker hands to the target-model pass and the code generator.

Symbols and scopes, plus one annotation per AST node the checker visited (its type, constant value and the
symbol a name resolves to), kept per block instance: a control instantiated twice has two sets of tables and
registers, so the same AST node resolves differently in each. Neither later pass resolves a name or infers a
type again; the generator only fills in the Python names (`code`, `pyname`) of the symbols.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..frontend import ast as A
from ..frontend.errors import Loc, P4Error
from . import runtime as R
from .types import ExternT, P4Type, StructT

# Roles of the parameters of the six TNA blocks, by position (trailing ones are @optional).
ROLES = {
    "ingress_parser": ["pkt", "hdr", "md", "ig_intr_md", "ig_tm_md", "ig_prsr_md"],
    "ingress": ["hdr", "md", "ig_intr_md", "ig_prsr_md", "ig_dprsr_md", "ig_tm_md"],
    "ingress_deparser": ["pkt", "hdr", "md", "ig_dprsr_md", "ig_intr_md"],
    "egress_parser": ["pkt", "hdr", "md", "eg_intr_md", "eg_prsr_md"],
    "egress": ["hdr", "md", "eg_intr_md", "eg_prsr_md", "eg_dprsr_md", "eg_oport_md"],
    "egress_deparser": ["pkt", "hdr", "md", "eg_dprsr_md", "eg_intr_md", "eg_prsr_md"],
}
INTRINSIC_HEADERS = ("ingress_intrinsic_metadata_t", "egress_intrinsic_metadata_t")
ROLE_TYPES = {
    "ig_intr_md": "ingress_intrinsic_metadata_t",
    "ig_tm_md": "ingress_intrinsic_metadata_for_tm_t",
    "ig_prsr_md": "ingress_intrinsic_metadata_from_parser_t",
    "ig_dprsr_md": "ingress_intrinsic_metadata_for_deparser_t",
    "eg_intr_md": "egress_intrinsic_metadata_t",
    "eg_prsr_md": "egress_intrinsic_metadata_from_parser_t",
    "eg_dprsr_md": "egress_intrinsic_metadata_for_deparser_t",
    "eg_oport_md": "egress_intrinsic_metadata_for_output_port_t",
}

Param = tuple[str, "VarSym", P4Type]  # (direction, symbol, type) of a block parameter


# ---------------------------------------------------------------- symbols


@dataclass(eq=False)
class VarSym:
    type: P4Type
    readonly: bool = False
    code: str = ""  # the Python expression it lives in (set by the generator)


@dataclass
class ConstSym:
    value: object
    type: P4Type


@dataclass
class TypeSym:
    type: P4Type


@dataclass
class DeclSym:  # a parser/control/extern/package declaration, usable as a type to instantiate
    decl: A.Decl


@dataclass(eq=False)
class ActionSym:
    decl: A.ActionDecl
    cp_name: str  # control-plane name
    params: list[tuple[str, str, P4Type]]  # (direction, name, type)
    pyname: str = ""


@dataclass(eq=False)
class TableSym:
    decl: A.TableDecl
    qual: str  # pipe.Control.table
    keys: list[R.KeyInfo]
    infos: list[R.ActionInfo]
    actions: dict[str, ActionSym]
    size: int
    counter: ExternSym | None
    default_name: str
    default_args: tuple[int, ...]
    const_entries: list[tuple[list[object], str, tuple[int, ...], int]]
    pyname: str = ""  # the generated apply function
    objname: str = ""  # the runtime Table object in the module globals
    meter: ExternSym | None = None  # `meters = m` (a DirectMeter)
    dreg: ExternSym | None = None  # `registers = r` (a DirectRegister)
    dfilter: ExternSym | None = None  # `filters = f` naming a DirectLpf / DirectWred
    proxy: ExternSym | None = None  # `proxy_hash = Hash<...>(...)`: the table compares hashes of its exact key
    impl: ExternSym | None = None  # `implementation = p` (an ActionProfile or ActionSelector)
    idle_timeout: bool = False  # `idle_timeout = true`: lookups set the hit entry's hit bit
    key_masks: bool = False  # `@dynamic_table_key_masks(1)`: the control plane may mask the (exact) key
    selector_keys: list[A.Expr] = field(default_factory=list)  # `selector` keys: the selector's hash input


@dataclass(eq=False)
class ExternSym:
    kind: str
    type: ExternT
    qual: str  # pipe.Control.name
    cpq: str  # Control.name
    extra: dict[str, object] = field(default_factory=dict)
    pyname: str = ""


@dataclass(eq=False)
class InstanceSym:  # sub-parser or sub-control instance
    decl: A.ParserDecl | A.ControlDecl
    block: CheckedBlock


@dataclass(eq=False)
class Typed:
    """The annotation of one expression node: its type before any coercion by the context."""

    type: P4Type
    const: object = None
    lvalue: bool = False
    sym: VarSym | None = None  # what a name denotes, when it is a variable


@dataclass
class RefT(P4Type):  # the "type" of a name that denotes a table/extern/action/instance/type
    sym: object

    def __str__(self) -> str:
        return type(self.sym).__name__


@dataclass
class TableResT(P4Type):
    table: TableSym


@dataclass
class ActionRunT(P4Type):
    table: TableSym


class Scope:
    def __init__(self, parent: Scope | None = None) -> None:
        self.parent = parent
        self.names: dict[str, object] = {}

    def lookup(self, name: str) -> object | None:
        s: Scope | None = self
        while s is not None:
            if name in s.names:
                return s.names[name]
            s = s.parent
        return None

    def define(self, name: str, sym: object, loc: Loc) -> None:
        if name in self.names:
            raise P4Error(loc, f"'{name}' is already declared in this scope")
        self.names[name] = sym


# ---------------------------------------------------------------- the result

Annotations = dict[int, object]  # id(AST node) -> Typed (expressions), a symbol (declarations), StackT


@dataclass(eq=False)
class CheckedBlock:
    """One instance of a parser/control: its parameters and the annotations of every node inside it."""

    decl: A.ParserDecl | A.ControlDecl
    path: list[str]
    ann: Annotations = field(default_factory=dict)
    params: list[Param] = field(default_factory=list)
    fn: str = ""  # the generated function (set by the generator)


@dataclass
class PortMetadataInfo:
    """The ingress parser's `$PORT_METADATA` table: its bf-rt name, port_metadata_unpack's T (None: the one
    `$DEFAULT_FIELD`), and whether the program reads the phase-0 bits at all (not when it only advances past)."""

    name: str
    type: StructT | None
    read: bool


@dataclass
class CheckedProgram:
    program: A.Program
    top: Annotations  # top-level declarations (types, constants, actions)
    blocks: list[CheckedBlock]  # every block instance, in the order checked
    roles: dict[str, CheckedBlock]  # ingress_parser ... egress_deparser
    gress_types: dict[str, dict[str, P4Type]]  # gress -> {"hdr": ..., "md": ...}
    errors: list[str]
    pipe_name: str
    port_metadata: PortMetadataInfo
    resubmit: bool = False  # a Resubmit in the ingress deparser (the driver then takes resubmit data)


def expr_text(e: A.Expr) -> str:
    """Source-like text of a key expression (bf-rt key field names)."""
    if isinstance(e, A.Name):
        return e.name
    if isinstance(e, A.Member):
        return f"{expr_text(e.base)}.{e.name}"
    if isinstance(e, A.Index):
        return f"{expr_text(e.base)}[{expr_text(e.index)}]"
    if isinstance(e, A.Slice):
        return f"{expr_text(e.base)}[{expr_text(e.hi)}:{expr_text(e.lo)}]"
    if isinstance(e, A.IntConst):
        return str(e.value)
    if isinstance(e, A.Call) and isinstance(e.func, A.Member) and e.func.name == "isValid":
        return f"{expr_text(e.func.base)}.$valid"
    return "expr"


def py_ident(text: str) -> str:
    """`text` as a Python identifier (generated names derive from P4 names and paths)."""
    return re.sub(r"[^0-9A-Za-z_]", "_", text)
