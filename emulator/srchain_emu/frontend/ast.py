"""Typed AST of the supported P4_16 subset. Every node carries its original source location."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import NOLOC, Loc

# ---------------------------------------------------------------- types (syntax)


@dataclass(slots=True)
class TypeRef:
    loc: Loc


@dataclass(slots=True)
class BitsType(TypeRef):
    width: Expr
    signed: bool = False


@dataclass(slots=True)
class BoolType(TypeRef):
    pass


@dataclass(slots=True)
class VoidType(TypeRef):
    pass


@dataclass(slots=True)
class ErrorType(TypeRef):
    pass


@dataclass(slots=True)
class DontCareType(TypeRef):
    pass


@dataclass(slots=True)
class NamedType(TypeRef):
    name: str
    args: list[TypeRef] = field(default_factory=list)


@dataclass(slots=True)
class StackType(TypeRef):
    elem: TypeRef
    size: Expr


# ---------------------------------------------------------------- expressions


@dataclass(slots=True)
class Expr:
    loc: Loc


@dataclass(slots=True)
class IntConst(Expr):
    value: int
    width: int | None = None
    signed: bool = False


@dataclass(slots=True)
class BoolConst(Expr):
    value: bool


@dataclass(slots=True)
class StringConst(Expr):
    value: str


@dataclass(slots=True)
class Name(Expr):
    name: str


@dataclass(slots=True)
class Member(Expr):
    base: Expr
    name: str


@dataclass(slots=True)
class Index(Expr):
    base: Expr
    index: Expr


@dataclass(slots=True)
class Slice(Expr):
    base: Expr
    hi: Expr
    lo: Expr


@dataclass(slots=True)
class Unary(Expr):
    op: str
    operand: Expr


@dataclass(slots=True)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(slots=True)
class Ternary(Expr):
    cond: Expr
    then: Expr
    other: Expr


@dataclass(slots=True)
class Cast(Expr):
    type: TypeRef
    expr: Expr


@dataclass(slots=True)
class Call(Expr):
    func: Expr
    type_args: list[TypeRef]
    args: list[Expr]


@dataclass(slots=True)
class NamedArg(Expr):  # `name = value` in an argument list (resolved against the callee's parameter names)
    name: str
    value: Expr


@dataclass(slots=True)
class ListExpr(Expr):
    items: list[Expr]


@dataclass(slots=True)
class Mask(Expr):  # keyset `value &&& mask`
    value: Expr
    mask: Expr


@dataclass(slots=True)
class Range(Expr):  # keyset `low .. high`
    low: Expr
    high: Expr


@dataclass(slots=True)
class Default(Expr):  # keyset `default` or `_`
    pass


# ---------------------------------------------------------------- statements


@dataclass(slots=True)
class Stmt:
    loc: Loc


@dataclass(slots=True)
class Assign(Stmt):
    target: Expr
    value: Expr


@dataclass(slots=True)
class CallStmt(Stmt):
    call: Call


@dataclass(slots=True)
class If(Stmt):
    cond: Expr
    then: Stmt
    other: Stmt | None


@dataclass(slots=True)
class Block(Stmt):
    stmts: list[Stmt]


@dataclass(slots=True)
class SwitchCase:
    loc: Loc
    labels: list[Expr | None]  # None = default
    body: Block | None  # None = fall through to the next case


@dataclass(slots=True)
class Switch(Stmt):
    expr: Expr
    cases: list[SwitchCase]


@dataclass(slots=True)
class Return(Stmt):
    value: Expr | None


@dataclass(slots=True)
class Exit(Stmt):
    pass


@dataclass(slots=True)
class Empty(Stmt):
    pass


@dataclass(slots=True)
class VarDecl(Stmt):
    type: TypeRef
    name: str
    init: Expr | None
    is_const: bool = False


# ---------------------------------------------------------------- declarations


@dataclass(slots=True)
class Annotation:
    name: str
    args: list[Expr]
    loc: Loc = NOLOC


@dataclass(slots=True)
class Decl:
    loc: Loc
    name: str


@dataclass(slots=True)
class Param:
    loc: Loc
    direction: str  # "", "in", "out", "inout"
    type: TypeRef
    name: str
    annotations: list[Annotation] = field(default_factory=list)
    default: Expr | None = None


@dataclass(slots=True)
class ConstDecl(Decl):
    type: TypeRef
    value: Expr


@dataclass(slots=True)
class ValueSetDecl(Decl):
    """`value_set<T>(size) name;` in a parser: a select keyset the control plane fills."""

    type: TypeRef
    size: Expr


@dataclass(slots=True)
class TypedefDecl(Decl):
    type: TypeRef
    is_type: bool = False  # `type` (new type) vs `typedef`


@dataclass(slots=True)
class FieldDecl:
    loc: Loc
    type: TypeRef
    name: str
    flexible: bool = False  # `@flexible`: bf-p4c may place it anywhere in the header (bridged/mirrored metadata)


@dataclass(slots=True)
class HeaderDecl(Decl):
    fields: list[FieldDecl]


@dataclass(slots=True)
class StructDecl(Decl):
    fields: list[FieldDecl]


@dataclass(slots=True)
class EnumDecl(Decl):
    members: list[str]
    underlying: TypeRef | None = None
    values: list[Expr] = field(default_factory=list)


@dataclass(slots=True)
class ErrorDecl(Decl):
    members: list[str]


@dataclass(slots=True)
class MatchKindDecl(Decl):
    members: list[str]


@dataclass(slots=True)
class MethodDecl:
    loc: Loc
    name: str
    ret: TypeRef | None  # None for constructors
    type_params: list[str]
    params: list[Param]
    is_abstract: bool = False


@dataclass(slots=True)
class ExternDecl(Decl):
    type_params: list[str]
    methods: list[MethodDecl]


@dataclass(slots=True)
class ExternFuncDecl(Decl):
    ret: TypeRef
    type_params: list[str]
    params: list[Param]


@dataclass(slots=True)
class BlockTypeDecl(Decl):  # `parser P<H>(...);`, `control C<H>(...);`, `package Pipeline<...>(...);`
    kind: str  # "parser", "control", "package"
    type_params: list[str]
    params: list[Param]


@dataclass(slots=True)
class FunctionDecl(Decl):
    ret: TypeRef
    params: list[Param]
    body: Block


@dataclass(slots=True)
class Instantiation(Decl):
    type: TypeRef
    args: list[Expr]
    initializer: list[FunctionDecl] = field(default_factory=list)  # `= { void apply(...) {...} }`
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(slots=True)
class ActionDecl(Decl):
    params: list[Param]
    body: Block
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(slots=True)
class KeyElement:
    loc: Loc
    expr: Expr
    match_kind: str
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(slots=True)
class ActionRef:
    loc: Loc
    name: str
    args: list[Expr]
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(slots=True)
class ConstEntry:
    loc: Loc
    keyset: list[Expr]
    action: ActionRef
    priority: int | None = None


@dataclass(slots=True)
class TableDecl(Decl):
    keys: list[KeyElement]
    actions: list[ActionRef]
    default_action: ActionRef | None
    default_is_const: bool
    entries: list[ConstEntry] | None
    size: Expr | None
    counters: Expr | None
    annotations: list[Annotation] = field(default_factory=list)
    meters: Expr | None = None  # `meters = m;` (a DirectMeter)
    implementation: Expr | None = None  # `implementation = p;` (an ActionProfile or ActionSelector)
    registers: Expr | None = None  # `registers = r;` (a DirectRegister)
    proxy_hash: Instantiation | None = None  # `proxy_hash = Hash<bit<W>>(algo);`: lookups compare key hashes
    filters: Expr | None = None  # `filters = f;` (an Lpf/Wred, or a DirectLpf/DirectWred: a cell per entry)
    algo: Expr | None = None  # `alpm = a;` / `atcam = a;` (an Alpm or Atcam; `implementation =` also names one)
    idle_timeout: bool = False  # `idle_timeout = true;`: the entries age (notify or poll mode, set at run time)


@dataclass(slots=True)
class SelectCase:
    loc: Loc
    keyset: list[Expr]
    state: str


@dataclass(slots=True)
class Transition:
    loc: Loc
    select: list[Expr] | None  # None: direct transition to `state`
    cases: list[SelectCase]
    state: str | None


@dataclass(slots=True)
class StateDecl(Decl):
    stmts: list[Stmt]
    transition: Transition | None


@dataclass(slots=True)
class ParserDecl(Decl):
    type_params: list[str]
    params: list[Param]
    ctor_params: list[Param]
    locals: list[Decl | VarDecl]
    states: list[StateDecl]
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(slots=True)
class ControlDecl(Decl):
    type_params: list[str]
    params: list[Param]
    ctor_params: list[Param]
    locals: list[Decl | VarDecl]
    apply: Block
    annotations: list[Annotation] = field(default_factory=list)


@dataclass(slots=True)
class Program:
    decls: list[Decl]
