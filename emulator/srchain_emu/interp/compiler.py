"""Semantic checks + code generation: the typed AST becomes one Python module, compiled once at load.

Every P4 block instance becomes plain Python functions (no tree walk per packet). Block parameters and
block-level variables are module globals bound per packet by the generated drivers; values of type
bit<W>/int<W> are Python ints kept in range by masking at every operation that can overflow.
Everything outside the supported subset raises P4Error with the original file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..frontend import ast as A
from ..frontend.errors import Loc, P4Error
from . import runtime as R
from .types import (
    Bits,
    BoolT,
    EnumT,
    ErrorT,
    ExternT,
    InfInt,
    MatchKindT,
    P4Type,
    PacketT,
    StackT,
    StringT,
    StructT,
    VoidT,
    mask,
    pyattr,
    same_type,
    serial_bits,
)

SUPPORTED_EXTERNS = {"Register", "RegisterAction", "Hash", "Counter", "DirectCounter", "Digest", "Mirror",
                     "Checksum"}
MATCH_KINDS = {"exact", "ternary", "lpm", "range"}

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


# ---------------------------------------------------------------- symbols


@dataclass
class VarSym:
    code: str
    type: P4Type
    is_global: bool
    readonly: bool = False


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


@dataclass
class ActionSym:
    decl: A.ActionDecl
    pyname: str
    cp_name: str  # control-plane name
    params: list[tuple[str, str, P4Type]]  # (direction, name, type)


@dataclass
class TableSym:
    decl: A.TableDecl
    pyname: str  # the generated apply function
    objname: str  # the runtime Table object in the module globals
    actions: dict[str, ActionSym]


@dataclass
class ExternSym:
    kind: str
    pyname: str
    type: ExternT
    extra: dict = field(default_factory=dict)


@dataclass
class InstanceSym:  # sub-parser or sub-control instance
    decl: A.ParserDecl | A.ControlDecl
    fn: str
    params: list[tuple[str, str, P4Type]]  # (direction, global name, type)


@dataclass
class Value:
    code: str
    type: P4Type
    const: object = None
    lvalue: bool = False


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


@dataclass
class FnCtx:
    """One generated Python function being written."""

    kind: str  # action | control | state | regaction | driver
    lines: list[str] = field(default_factory=list)
    indent: int = 1
    globals: set[str] = field(default_factory=set)
    outs: list[str] = field(default_factory=list)  # names returned (inout/out action params)
    tmp: int = 0

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def temp(self) -> str:
        self.tmp += 1
        return f"_t{self.tmp}"


# ---------------------------------------------------------------- results


@dataclass
class TableSetup:
    table: R.Table
    entries: list[tuple[list, str, tuple, int]]


@dataclass
class CompiledProgram:
    """What the compiler hands to the pipeline: generated source plus runtime objects, not yet executed."""

    source: str
    env: dict[str, object]
    tables: dict[str, R.Table]
    registers: dict[str, R.RegisterArray]
    counters: dict[str, R.CounterArray]
    digests: dict[str, R.DigestInfo]
    table_actions: dict[str, list[R.ActionInfo]]
    setups: list[Callable[[dict], None]]
    pipe_name: str
    has_egress: bool = True


def header_shifts(st: StructT) -> dict[str, int]:
    """Bit position (from the right) of each field of a header when serialised."""
    out = {}
    shift = st.bits
    for p4name, ft in st.fields.items():
        t = serial_bits(ft)
        assert t is not None
        shift -= t.width
        out[pyattr(p4name)] = shift
    return out


def pack_expr(parts: list[tuple[str, Bits, int]], obj: str) -> str:
    """The int a header serialises to, from (field, type, shift) of its fields, read from `obj`."""
    terms = []
    for name, t, sh in parts:
        f = f"{obj}.{name}" if not t.signed else f"({obj}.{name} & {hex(mask(t.width))})"
        terms.append(f"({f} << {sh})" if sh else f)
    return " | ".join(terms) or "0"


def _ident(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", text)


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


class Compiler:
    def __init__(self, program: A.Program) -> None:
        self.program = program
        self.globals = Scope()
        self.module: list[str] = []  # generated module source, top to bottom
        self.post: list[str] = []  # appended after all functions (dicts referring to functions)
        self.env: dict[str, object] = {}
        self.names: set[str] = set()
        self.tables: dict[str, R.Table] = {}
        self.table_actions: dict[str, list[R.ActionInfo]] = {}
        self.registers: dict[str, R.RegisterArray] = {}
        self.counters: dict[str, R.CounterArray] = {}
        self.digests: dict[str, R.DigestInfo] = {}
        self.setups: list[Callable[[dict], None]] = []
        self.errors_list: list[str] = []
        self.struct_types: dict[str, StructT] = {}
        self.header_pack: dict[str, tuple[str, int]] = {}  # header class -> (packing expression of `_e`, bytes)
        self.stack_classes: dict[tuple[str, int], str] = {}
        self.checksums_by_block: dict[str, list[str]] = {}
        self.fn: FnCtx = FnCtx("driver")
        self.block_prefix = ""
        self.cp_prefix = ""  # control-plane name prefix of the current block, e.g. "SwitchIngress"
        self.pipe_name = "pipe"

    # ------------------------------------------------------------ naming
    def uniq(self, base: str) -> str:
        name = _ident(base)
        if name in self.names:
            i = 2
            while f"{name}_{i}" in self.names:
                i += 1
            name = f"{name}_{i}"
        self.names.add(name)
        return name

    def put_env(self, base: str, obj: object) -> str:
        name = self.uniq(base)
        self.env[name] = obj
        return name

    # ------------------------------------------------------------ entry
    def compile(self) -> CompiledProgram:
        main: A.Instantiation | None = None
        for d in self.program.decls:
            if isinstance(d, A.Instantiation) and d.name == "main":
                main = d
                continue
            self.declare_top(d)
        if main is None:
            # Still check every non-generic block, so `p4 check` reports real errors first.
            for d in self.program.decls:
                if isinstance(d, (A.ParserDecl, A.ControlDecl)) and not d.type_params:
                    self.compile_block(d, [d.name])
            raise P4Error(self.last_loc(), "program has no 'main' instantiation (Switch(pipe) main;)")
        self.compile_main(main)
        source = "\n".join([*self.module, *self.post]) + "\n"
        return CompiledProgram(
            source, self.env, self.tables, self.registers, self.counters, self.digests, self.table_actions,
            self.setups, self.pipe_name,
        )

    def last_loc(self) -> Loc:
        return self.program.decls[-1].loc if self.program.decls else Loc("<input>", 0)

    def declare_top(self, d: A.Decl) -> None:
        g = self.globals
        if isinstance(d, A.ConstDecl):
            t = self.resolve_type(d.type, g)
            v = self.compile_expr(d.value, g)
            v = self.coerce(v, t, d.loc)
            if v.const is None:
                raise P4Error(d.loc, f"constant '{d.name}' is not a compile-time value")
            g.define(d.name, ConstSym(v.const, t), d.loc)
        elif isinstance(d, A.TypedefDecl):
            g.define(d.name, TypeSym(self.resolve_type(d.type, g)), d.loc)
        elif isinstance(d, (A.HeaderDecl, A.StructDecl)):
            st = StructT(d.name, {}, isinstance(d, A.HeaderDecl))
            g.define(d.name, TypeSym(st), d.loc)
            for f in d.fields:
                ft = self.resolve_type(f.type, g)
                if f.name in st.fields:
                    raise P4Error(f.loc, f"duplicate field '{f.name}' in {st}")
                if st.is_header and serial_bits(ft) is None:
                    raise P4Error(f.loc, f"header field '{f.name}' must be bit<W>, int<W> or a serializable enum, "
                                  f"not {ft}")
                if isinstance(ft, (ExternT, PacketT)):
                    raise P4Error(f.loc, f"field '{f.name}' cannot have type {ft}")
                st.fields[f.name] = ft
            if st.is_header and st.bits % 8:
                raise P4Error(d.loc, f"header {d.name} is {st.bits} bits long, not a multiple of 8")
            self.gen_struct_class(st)
        elif isinstance(d, A.EnumDecl):
            et = EnumT(d.name, d.members)
            if d.underlying is not None:
                ut = self.resolve_type(d.underlying, g)
                if not isinstance(ut, Bits):
                    raise P4Error(d.loc, "enum underlying type must be bit<W> or int<W>")
                et.underlying = ut
                for m, e in zip(d.members, d.values, strict=True):
                    v = self.coerce(self.compile_expr(e, g), ut, e.loc)
                    et.values[m] = int(v.const)  # type: ignore[arg-type]
            else:
                et.values = {m: i for i, m in enumerate(d.members)}
            g.define(d.name, TypeSym(et), d.loc)
        elif isinstance(d, A.ErrorDecl):
            for m in d.members:
                if m not in self.errors_list:
                    self.errors_list.append(m)
        elif isinstance(d, A.MatchKindDecl):
            for m in d.members:
                g.names[m] = ConstSym(m, MatchKindT())
        elif isinstance(d, (A.ExternDecl, A.ExternFuncDecl, A.BlockTypeDecl, A.ParserDecl, A.ControlDecl)):
            g.define(d.name, DeclSym(d), d.loc)
        elif isinstance(d, A.ActionDecl):
            self.block_prefix, self.cp_prefix = "top", ""
            self.compile_action(d, g)
        elif isinstance(d, A.Instantiation):
            g.define(d.name, DeclSym(d), d.loc)
        else:
            raise P4Error(d.loc, f"unsupported declaration {type(d).__name__}")

    # ------------------------------------------------------------ types
    def resolve_type(self, t: A.TypeRef, scope: Scope) -> P4Type:
        if isinstance(t, A.BitsType):
            w = self.compile_expr(t.width, scope)
            if not isinstance(w.const, int) or isinstance(w.const, bool) or w.const <= 0:
                raise P4Error(t.loc, "width of bit<W>/int<W> must be a positive compile-time integer")
            return Bits(w.const, t.signed)
        if isinstance(t, A.BoolType):
            return BoolT()
        if isinstance(t, A.VoidType):
            return VoidT()
        if isinstance(t, A.ErrorType):
            return ErrorT()
        if isinstance(t, A.StackType):
            elem = self.resolve_type(t.elem, scope)
            if not (isinstance(elem, StructT) and elem.is_header):
                raise P4Error(t.loc, f"header stack elements must be headers, not {elem}")
            n = self.compile_expr(t.size, scope)
            if not isinstance(n.const, int) or n.const <= 0:
                raise P4Error(t.loc, "header stack size must be a positive compile-time integer")
            key = (elem.name, n.const)
            st = StackT(elem, n.const)
            if key not in self.stack_classes:
                self.stack_classes[key] = self.gen_stack_class(st)
            st.pyclass = self.stack_classes[key]
            return st
        if isinstance(t, A.NamedType):
            if t.name == "packet_in":
                return PacketT("in")
            if t.name == "packet_out":
                return PacketT("out")
            sym = scope.lookup(t.name)
            if isinstance(sym, TypeSym):
                if t.args:
                    raise P4Error(t.loc, f"type {t.name} takes no type arguments")
                return sym.type
            if isinstance(sym, DeclSym) and isinstance(sym.decl, A.ExternDecl):
                return ExternT(t.name, [self.resolve_type(a, scope) for a in t.args])
            if isinstance(sym, DeclSym):
                return ExternT(t.name, [])
            raise P4Error(t.loc, f"unknown type '{t.name}'")
        if isinstance(t, A.DontCareType):
            raise P4Error(t.loc, "'_' is not supported as a type here")
        raise P4Error(t.loc, f"unsupported type {type(t).__name__}")

    def gen_struct_class(self, st: StructT) -> None:
        # Scalar fields default to class attributes, so creating an instance per packet costs only the
        # nested headers/structs it owns (no __slots__: instance dicts are as fast and start empty).
        cls = self.uniq(("H_" if st.is_header else "S_") + st.name)
        st.pyclass = cls
        self.struct_types[st.name] = st
        m = self.module
        m.append(f"class {cls}:")
        copy: list[str] = []
        nested: list[str] = []
        for p4name, t in st.fields.items():
            name = pyattr(p4name)
            if isinstance(t, (StructT, StackT)):
                nested.append(f"        self.{name} = {self.zero(t)}")
                copy.append(f"        self.{name}._copy(o.{name})")
            else:
                m.append(f"    {name} = {self.zero(t)}")
                copy.append(f"        self.{name} = o.{name}")
        if st.is_header:
            m.append("    _v = False")
            copy.append("        self._v = o._v")
        if "ucast_egress_port" in st.fields:
            m.append("    _uset = False")  # set by any assignment to ucast_egress_port
        if nested:
            m.append("    def __init__(self):")
            m.extend(nested)
        m.append("    def _copy(self, o):")
        m.extend(copy or ["        pass"])
        # Back to a fresh instance's state without allocating: scalars fall back to the class defaults when
        # the instance dict forgets them; nested objects are kept and reset themselves.
        m.append("    def _reset(self):")
        nested_t = {pyattr(n): t for n, t in st.fields.items() if isinstance(t, (StructT, StackT))}
        if not nested_t:
            m.append("        self.__dict__.clear()")
        else:
            m.append("        d = self.__dict__")
            names = list(nested_t)
            if len(names) < len(st.fields):  # scalars too: forget them, keep the nested objects
                m.append(f"        keep = ({', '.join(f'd[{n!r}]' for n in names)},)")
                m.append("        d.clear()")
                for i, n in enumerate(names):
                    m.append(f"        d[{n!r}] = keep[{i}]")
            for n, t in nested_t.items():  # leaves inline: a method call per header costs more than the clear
                if isinstance(t, StackT):
                    m.append(f"        k = d[{n!r}]")
                    m.append("        for x in k.h:")
                    m.append("            x.__dict__.clear()")
                    m.append("        k.ni = 0")
                elif any(isinstance(ft, (StructT, StackT)) for ft in t.fields.values()):
                    m.append(f"        d[{n!r}]._reset()")
                else:
                    m.append(f"        d[{n!r}].__dict__.clear()")
        if st.is_header:
            self.gen_header_io(st)

    def zero(self, t: P4Type) -> str:
        if isinstance(t, (StructT, StackT)):
            return f"{t.pyclass}()"
        if isinstance(t, BoolT):
            return "False"
        return "0"

    def gen_stack_class(self, st: StackT) -> str:
        cls = self.uniq(f"K_{st.elem.name}_{st.size}")
        m = self.module
        m.append(f"class {cls}:")
        m.append("    __slots__ = ('h', 'ni')")
        m.append("    def __init__(self):")
        m.append(f"        self.h = [{st.elem.pyclass}() for _ in range({st.size})]")
        m.append("        self.ni = 0")
        m.append("    def _copy(self, o):")
        m.append("        for a, b in zip(self.h, o.h):")
        m.append("            a._copy(b)")
        m.append("        self.ni = o.ni")
        m.append("    def _reset(self):")
        m.append("        for x in self.h:")
        m.append("            x._reset()")
        m.append("        self.ni = 0")
        return cls

    def gen_header_io(self, st: StructT) -> None:
        nbytes = st.bits // 8
        m = self.module
        m.append(f"def ext_{st.pyclass}(pkt, h):")
        m.append("    o = pkt.off")
        if st.name in INTRINSIC_HEADERS:
            # The driver put this very object's bytes at offset 0: parsing them back changes nothing.
            m.append("    if o == 0 and h is pkt.intr:")
            m.append(f"        pkt.off = {nbytes}")
            m.append("        h._v = True")
            m.append("        return")
        m.append(f"    e = o + {nbytes}")
        m.append("    if e > pkt.n:")
        m.append("        raise ParserReject('PacketTooShort')")
        m.append("    v = int.from_bytes(pkt.data[o:e], 'big')")
        m.append("    pkt.off = e")
        shift = st.bits
        parts = []
        for p4name, ft in st.fields.items():
            name = pyattr(p4name)
            t = serial_bits(ft)
            assert t is not None
            shift -= t.width
            val = f"(v >> {shift})" if shift else "v"
            if shift + t.width < st.bits:
                val = f"({val} & {hex(mask(t.width))})"
            if t.signed:
                half = 1 << (t.width - 1)
                val = f"((({val}) + {half}) & {hex(mask(t.width))}) - {half}"
            m.append(f"    h.{name} = {val}")
            parts.append((name, t, shift))
        m.append("    h._v = True")
        m.append(f"def emit_{st.pyclass}(out, h):")
        m.append("    if h._v:")
        terms = []
        for name, t, sh in parts:
            f = f"h.{name}" if not t.signed else f"(h.{name} & {hex(mask(t.width))})"
            terms.append(f"({f} << {sh})" if sh else f)
        self.header_pack[st.pyclass] = (pack_expr(parts, "_e"), nbytes)
        m.append(f"        out.append(({' | '.join(terms) or '0'}).to_bytes({nbytes}, 'big'))")
        m.append(f"def bytes_{st.pyclass}(h):")
        m.append(f"    return ({' | '.join(terms) or '0'}).to_bytes({nbytes}, 'big')")
        # a whole header stack in one call (the valid elements, in order)
        m.append(f"def emits_{st.pyclass}(out, hs):")
        m.append("    for h in hs:")
        m.append("        if h._v:")
        m.append(f"            out.append(({' | '.join(terms) or '0'}).to_bytes({nbytes}, 'big'))")

    # ------------------------------------------------------------ main / pipeline
    def compile_main(self, main: A.Instantiation) -> None:
        g = self.globals
        if not (isinstance(main.type, A.NamedType) and main.type.name == "Switch"):
            raise P4Error(main.loc, "'main' must be a Switch(...) instantiation")
        if len(main.args) != 1:
            raise P4Error(main.loc, "the emulator supports exactly one pipeline: Switch(pipe) main;")
        arg = main.args[0]
        if not isinstance(arg, A.Name):
            raise P4Error(arg.loc, "Switch argument must name a Pipeline instance")
        sym = g.lookup(arg.name)
        if not (isinstance(sym, DeclSym) and isinstance(sym.decl, A.Instantiation)):
            raise P4Error(arg.loc, f"'{arg.name}' is not a Pipeline instance")
        pipe = sym.decl
        if not (isinstance(pipe.type, A.NamedType) and pipe.type.name == "Pipeline"):
            raise P4Error(pipe.loc, "the Switch argument must be a Pipeline(...) instantiation")
        if len(pipe.args) != 6:
            raise P4Error(pipe.loc, "Pipeline takes 6 blocks (ingress parser/control/deparser, egress ...)")
        self.pipe_name = pipe.name
        blocks: dict[str, tuple[str, list[tuple[str, str, P4Type]]]] = {}
        for role, a in zip(ROLES, pipe.args, strict=True):
            decl = self.block_arg(a, g)
            expect_parser = role.endswith("_parser")
            if expect_parser != isinstance(decl, A.ParserDecl):
                raise P4Error(a.loc, f"{role.replace('_', ' ')} must be a {'parser' if expect_parser else 'control'}")
            fn, params = self.compile_block(decl, [decl.name])
            if len(params) > len(ROLES[role]):
                raise P4Error(decl.loc, f"{decl.name} has more parameters than the TNA {role} signature")
            for (_, _, t), r, p in zip(params, ROLES[role], decl.params, strict=False):
                self.check_role_type(r, t, p)
            blocks[role] = (fn, params)
        for gress in ("ingress", "egress"):
            types = {}
            for role in (f"{gress}_parser", gress, f"{gress}_deparser"):
                for (_, _, t), r in zip(blocks[role][1], ROLES[role], strict=False):
                    if r in ("hdr", "md"):
                        if r in types and not same_type(types[r], t):
                            raise P4Error(pipe.loc, f"{gress} blocks disagree on the {r} type: {types[r]} vs {t}")
                        types[r] = t
            self.gen_driver(gress, blocks, types)

    def check_role_type(self, role: str, t: P4Type, p: A.Param) -> None:
        if role == "pkt":
            if not isinstance(t, PacketT):
                raise P4Error(p.loc, f"parameter '{p.name}' must be packet_in/packet_out")
        elif role in ROLE_TYPES:
            if not (isinstance(t, StructT) and t.name == ROLE_TYPES[role]):
                raise P4Error(p.loc, f"parameter '{p.name}' must have type {ROLE_TYPES[role]}")
        elif not isinstance(t, StructT):
            raise P4Error(p.loc, f"parameter '{p.name}' must be a struct or header type")

    def block_arg(self, a: A.Expr, scope: Scope) -> A.ParserDecl | A.ControlDecl:
        if isinstance(a, A.Call) and isinstance(a.func, A.Name) and not a.args:
            sym = scope.lookup(a.func.name)
            if isinstance(sym, DeclSym) and isinstance(sym.decl, (A.ParserDecl, A.ControlDecl)):
                return sym.decl
        if isinstance(a, A.Name):
            sym = scope.lookup(a.name)
            if isinstance(sym, DeclSym) and isinstance(sym.decl, A.Instantiation):
                t = sym.decl.type
                inner = scope.lookup(t.name) if isinstance(t, A.NamedType) else None
                if isinstance(inner, DeclSym) and isinstance(inner.decl, (A.ParserDecl, A.ControlDecl)):
                    return inner.decl
        raise P4Error(a.loc, "Pipeline arguments must be parser/control instantiations such as MyIngress()")

    def gen_driver(self, gress: str, blocks: dict, types: dict) -> None:
        """Generated per-packet entry point: build metadata, run parser, control, deparser."""
        g = gress
        pre = "ig" if g == "ingress" else "eg"
        fn = FnCtx("driver")
        objs = {
            "hdr": f"{types['hdr'].pyclass}()",
            "md": f"{types['md'].pyclass}()",
        }
        for role, tname in ROLE_TYPES.items():
            if role.startswith(pre):
                objs[role] = f"{self.struct_types[tname].pyclass}()"
        intr = f"{pre}_intr_md"
        if g == "ingress":
            fn.lines.append("def run_ingress(frame, port, tstamp):")
        else:
            fn.lines.append("def run_egress(frame, port, qid, enq_qdepth, deq_timedelta, tstamp):")
        fn.emit("global _plen")
        fn.emit("_plen = len(frame)")
        # One set of per-packet objects per gress, reset for each packet, and the blocks' parameters bound to
        # them once, here at load time (run_ingress/run_egress are not re-entered: one packet at a time, and
        # whole-struct assignments copy into these objects rather than rebinding).
        keep = {role: f"_R{pre}_{role}" for role in objs}
        keep["pkt"], keep["out"] = f"_R{pre}_pkt", f"_R{pre}_out"
        for role, ctor in objs.items():
            self.module.append(f"{keep[role]} = {ctor}")
        self.module.append(f"{keep['pkt']} = PacketIn(b'')")
        self.module.append(f"{keep['out']} = []")
        for role in (f"{g}_parser", g, f"{g}_deparser"):
            _bfn, params = blocks[role]
            for (_, gname, _), r in zip(params, ROLES[role], strict=False):
                src = ("out" if role.endswith("deparser") else "pkt") if r == "pkt" else r
                self.module.append(f"{gname} = {keep[src]}")
        for role in objs:
            fn.emit(f"r_{role} = {keep[role]}")
            fn.emit(f"r_{role}._reset()")
        shifts = header_shifts(self.struct_types[ROLE_TYPES[intr]])
        nbytes = self.struct_types[ROLE_TYPES[intr]].bits // 8
        fn.emit(f"pkt = {keep['pkt']}")
        if g == "ingress":
            fn.emit(f"r_{intr}.ingress_port = port")
            fn.emit(f"r_{intr}.ingress_mac_tstamp = ts48 = tstamp & 0xffffffffffff")
            fn.emit(f"r_{intr}._v = True")
            fn.emit("r_ig_prsr_md.global_tstamp = ts48")
            packed = f"((port << {shifts['ingress_port']}) | (ts48 << {shifts['ingress_mac_tstamp']}))"
            fn.emit(f"pkt.data = data = {packed}.to_bytes({nbytes}, 'big') + bytes(8) + frame")
        else:
            fields = {"egress_port": "port & 0x1ff", "egress_qid": "qid & 0x1f", "enq_qdepth": "qd", "deq_qdepth": "qd",
                      "deq_timedelta": "deq_timedelta & 0x3ffff", "enq_tstamp": "tstamp & 0x3ffff",
                      "pkt_length": "len(frame) & 0xffff"}
            fn.emit("qd = enq_qdepth & 0x7ffff")
            terms = []
            for name, val in fields.items():
                fn.emit(f"r_{intr}.{name} = f_{name} = {val}")
                terms.append(f"(f_{name} << {shifts[name]})")
            fn.emit(f"r_{intr}._v = True")
            fn.emit("r_eg_prsr_md.global_tstamp = tstamp & 0xffffffffffff")
            fn.emit(f"pkt.data = data = ({' | '.join(terms)}).to_bytes({nbytes}, 'big') + frame")
        fn.emit("pkt.n = len(data)")
        fn.emit("pkt.off = 0")
        fn.emit(f"pkt.intr = r_{intr}")
        fn.emit(f"out = {keep['out']}")
        fn.emit("out.clear()")
        for role in (f"{g}_parser", g, f"{g}_deparser"):
            bfn, _params = blocks[role]
            if role == g:
                fn.emit("try:")
                fn.emit(f"    {bfn}()")
                fn.emit("except ExitControl:")
                fn.emit("    pass")
            else:
                fn.emit(f"{bfn}()")
        tm = "r_ig_tm_md" if g == "ingress" else "r_eg_oport_md"
        fn.emit(f"return {tm}, r_{pre}_dprsr_md, b''.join(out) + data[pkt.off:]")
        self.flush_fn(fn)

    # ------------------------------------------------------------ blocks
    def flush_fn(self, fn: FnCtx) -> None:
        header, body = fn.lines[0], fn.lines[1:]
        out = [header]
        if fn.globals:
            out.append("    global " + ", ".join(sorted(fn.globals)))
        if not body:
            body = ["    pass"]
        out.extend(body)
        self.module.extend(out)

    def compile_block(self, decl: A.ParserDecl | A.ControlDecl, path: list[str]):
        """Compile one instance of a parser/control; returns (function name, params as globals)."""
        if decl.type_params:
            raise P4Error(decl.loc, f"generic {type(decl).__name__[:-4].lower()} '{decl.name}' is not supported")
        if decl.ctor_params:
            raise P4Error(decl.loc, f"constructor parameters of '{decl.name}' are not supported")
        saved = (self.block_prefix, self.cp_prefix)
        self.block_prefix = _ident("_".join(path))
        self.cp_prefix = ".".join(path)
        scope = Scope(self.globals)
        params: list[tuple[str, str, P4Type]] = []
        for p in decl.params:
            t = self.resolve_type(p.type, scope)
            gname = self.uniq(f"{self.block_prefix}__{p.name}")
            params.append((p.direction, gname, t))
            scope.define(p.name, VarSym(gname, t, True, readonly=p.direction == "in"), p.loc)
        inits: list[tuple[str, P4Type, A.Expr | None, Loc]] = []
        checksums: list[str] = []
        for ld in decl.locals:
            if isinstance(ld, A.VarDecl):
                t = self.resolve_type(ld.type, scope)
                gname = self.uniq(f"{self.block_prefix}__{ld.name}")
                scope.define(ld.name, VarSym(gname, t, True), ld.loc)
                inits.append((gname, t, ld.init, ld.loc))
                self.module.append(f"{gname} = {self.zero(t)}")
            elif isinstance(ld, A.ConstDecl):
                t = self.resolve_type(ld.type, scope)
                v = self.coerce(self.compile_expr(ld.value, scope), t, ld.loc)
                if v.const is None:
                    raise P4Error(ld.loc, f"constant '{ld.name}' is not a compile-time value")
                scope.define(ld.name, ConstSym(v.const, t), ld.loc)
            elif isinstance(ld, A.ActionDecl):
                self.compile_action(ld, scope)
            elif isinstance(ld, A.TableDecl):
                self.compile_table(ld, scope)
            elif isinstance(ld, A.Instantiation):
                sym = self.compile_instantiation(ld, scope, path)
                if isinstance(sym, ExternSym) and sym.kind == "Checksum":
                    checksums.append(sym.pyname)
            else:
                raise P4Error(ld.loc, f"unsupported declaration inside {decl.name}")
        kind = "parser" if isinstance(decl, A.ParserDecl) else "control"
        fname = self.uniq(f"{'prs' if kind == 'parser' else 'ctl'}_{self.block_prefix}")
        fn = FnCtx("control")
        fn.lines.append(f"def {fname}():")
        self.fn = fn
        for ck in checksums:
            fn.emit(f"{ck}.total = 0")
        for gname, t, init, loc in inits:
            if isinstance(t, (StructT, StackT)):
                fn.emit(f"{gname}._copy({t.pyclass}())")
                if init is not None:
                    self.assign_to(Value(gname, t, lvalue=True), init, scope, loc)
            else:
                fn.globals.add(gname)
                val = self.coerce(self.compile_expr(init, scope), t, loc).code if init is not None else "0"
                fn.emit(f"{gname} = {val}")
        if isinstance(decl, A.ParserDecl):
            states = self.compile_states(decl, scope)
            fn.emit(f"s = {states['start']}")
            fn.emit("for _ in range(1024):")
            fn.emit("    s = s()")
            fn.emit("    if s is None:")
            fn.emit("        return")
            fn.emit("raise ParserReject('ParserTimeout')")
            self.fn = fn
        else:
            self.compile_block_stmt(decl.apply, scope)
        self.flush_fn(fn)
        self.block_prefix, self.cp_prefix = saved
        return fname, params

    def compile_states(self, decl: A.ParserDecl, scope: Scope) -> dict[str, str]:
        names = {}
        for st in decl.states:
            if st.name in names or st.name in ("accept", "reject"):
                raise P4Error(st.loc, f"state '{st.name}' declared twice")
            names[st.name] = self.uniq(f"st_{self.block_prefix}_{st.name}")
        if "start" not in names:
            raise P4Error(decl.loc, f"parser {decl.name} has no start state")
        for st in decl.states:
            fn = FnCtx("state")
            fn.lines.append(f"def {names[st.name]}():")
            self.fn = fn
            sscope = Scope(scope)
            for s in st.stmts:
                self.compile_stmt(s, sscope)
            tr = st.transition
            if tr is None:
                fn.emit("raise ParserReject('reject')")
            elif tr.select is None:
                fn.emit(self.goto(tr.state, names, tr.loc))  # type: ignore[arg-type]
            else:
                self.compile_select(tr, sscope, names)
            self.flush_fn(fn)
        return names

    def goto(self, state: str, names: dict[str, str], loc: Loc) -> str:
        if state == "accept":
            return "return None"
        if state == "reject":
            return "raise ParserReject('reject')"
        if state not in names:
            raise P4Error(loc, f"unknown parser state '{state}'")
        return f"return {names[state]}"

    def compile_select(self, tr: A.Transition, scope: Scope, names: dict[str, str]) -> None:
        fn = self.fn
        sel: list[Value] = []
        for e in tr.select or []:
            v = self.compile_expr(e, scope)
            if isinstance(v.type, BoolT):
                v = Value(f"(1 if {v.code} else 0)", Bits(1))
            if not isinstance(v.type, (Bits, EnumT)):
                raise P4Error(e.loc, f"select expression must be bit<W>, not {v.type}")
            t = fn.temp()
            fn.emit(f"{t} = {v.code}")
            sel.append(Value(t, v.type))
        simple: dict[int, str] = {}
        default: str | None = None
        is_simple = len(sel) == 1
        conds: list[tuple[str, str]] = []
        for case in tr.cases:
            if len(case.keyset) == 1 and isinstance(case.keyset[0], A.Default):
                items: list[A.Expr] = [case.keyset[0]] * len(sel)
            else:
                items = case.keyset
            if len(items) != len(sel):
                raise P4Error(case.loc, f"keyset has {len(items)} values but select has {len(sel)}")
            parts = []
            for item, s in zip(items, sel, strict=True):
                parts.append(self.keyset_cond(item, s, scope))
            target = self.goto(case.state, names, case.loc)
            cond = " and ".join(p for p in parts if p != "True") or "True"
            conds.append((cond, target))
            if is_simple and isinstance(items[0], A.Default):
                if default is None:
                    default = target
            elif is_simple and parts[0].startswith(f"{sel[0].code} == ") and default is None:
                val = int(parts[0].split(" == ", 1)[1], 0)
                simple.setdefault(val, target)
            else:
                is_simple = False
        if is_simple and len(simple) >= 3 and all(t.startswith("return ") for t in simple.values()):
            table = self.uniq(f"_SEL_{self.block_prefix}")
            pairs = ", ".join(f"{k}: {t[7:]}" for k, t in simple.items())
            self.post.append(f"{table} = {{{pairs}}}")
            fn.emit(f"n = {table}.get({sel[0].code})")
            fn.emit("if n is not None:")
            fn.emit("    return n")
            fn.emit(default if default is not None else "raise ParserReject('NoMatch')")
            return
        for cond, target in conds:
            if cond == "True":
                fn.emit(target)
                return
            fn.emit(f"if {cond}:")
            fn.emit(f"    {target}")
        fn.emit("raise ParserReject('NoMatch')")

    def keyset_cond(self, item: A.Expr, s: Value, scope: Scope) -> str:
        if isinstance(item, A.Default):
            return "True"
        if isinstance(item, A.Mask):
            v = self.const_of(item.value, s.type, scope)
            m = self.const_of(item.mask, s.type, scope)
            return f"{s.code} & {m} == {v & m}"
        if isinstance(item, A.Range):
            lo = self.const_of(item.low, s.type, scope)
            hi = self.const_of(item.high, s.type, scope)
            return f"{lo} <= {s.code} <= {hi}"
        return f"{s.code} == {self.const_of(item, s.type, scope)}"

    def const_of(self, e: A.Expr, t: P4Type, scope: Scope) -> int:
        v = self.coerce(self.compile_expr(e, scope), t, e.loc)
        if v.const is None:
            raise P4Error(e.loc, "keyset values must be compile-time constants")
        return int(v.const)  # type: ignore[arg-type]

    # ------------------------------------------------------------ actions
    @staticmethod
    def reject_renames(anns: list[A.Annotation], what: str, loc: Loc) -> None:
        # bf-p4c renames control-plane objects with @name; silently keeping our name would break clients.
        if any(a.name == "name" for a in anns):
            raise P4Error(loc, f"@name on {what} is not supported by the emulator")

    def compile_action(self, d: A.ActionDecl, scope: Scope) -> ActionSym:
        self.reject_renames(d.annotations, f"action {d.name}", d.loc)
        pyname = self.uniq(f"act_{self.block_prefix}_{d.name}")
        ascope = Scope(scope)
        params: list[tuple[str, str, P4Type]] = []
        fn = FnCtx("action")
        argnames = []
        for p in d.params:
            t = self.resolve_type(p.type, ascope)
            if not isinstance(t, (Bits, BoolT)) and p.direction == "":
                raise P4Error(p.loc, f"action data parameter '{p.name}' must be bit<W> or bool, not {t}")
            if isinstance(t, (StructT, StackT, ExternT, PacketT)):
                raise P4Error(p.loc, f"action parameter '{p.name}' of type {t} is not supported")
            local = f"p_{_ident(p.name)}"
            params.append((p.direction, p.name, t))
            ascope.define(p.name, VarSym(local, t, False, readonly=p.direction == "in"), p.loc)
            argnames.append(local)
            if p.direction in ("out", "inout"):
                fn.outs.append(local)
        fn.lines.append(f"def {pyname}({', '.join(argnames)}):")
        cp_name = f"{self.cp_prefix}.{d.name}" if self.cp_prefix else d.name
        sym = ActionSym(d, pyname, cp_name, params)
        scope.define(d.name, sym, d.loc)
        saved = self.fn
        self.fn = fn
        self.compile_block_stmt(d.body, ascope)
        if fn.outs:
            fn.emit(f"return ({', '.join(fn.outs)},)")
        self.flush_fn(fn)
        self.fn = saved
        return sym

    # ------------------------------------------------------------ tables
    def compile_table(self, d: A.TableDecl, scope: Scope) -> TableSym:
        self.reject_renames(d.annotations, f"table {d.name}", d.loc)
        qual = f"{self.pipe_name}.{self.cp_prefix}.{d.name}"
        keys: list[R.KeyInfo] = []
        key_codes: list[str] = []
        for k in d.keys:
            if k.match_kind not in MATCH_KINDS:
                raise P4Error(k.loc, f"match kind '{k.match_kind}' is not supported (exact, ternary, lpm, range)")
            v = self.compile_expr(k.expr, scope)
            if isinstance(v.type, BoolT):
                width = 1
            elif isinstance(v.type, Bits):
                width = v.type.width
                if v.type.signed:
                    v = Value(f"({v.code} & {mask(width)})", Bits(width))
            elif isinstance(v.type, EnumT) and v.type.underlying is not None:
                width = v.type.underlying.width
            else:
                raise P4Error(k.loc, f"table key must be bit<W>, bool or a serializable enum, not {v.type}")
            kname = expr_text(k.expr)
            for ann in k.annotations:
                if ann.name == "name" and ann.args and isinstance(ann.args[0], A.StringConst):
                    kname = ann.args[0].value
            keys.append(R.KeyInfo(kname, k.match_kind, width))
            key_codes.append(v.code)
        if sum(k.match_kind == "lpm" for k in keys) > 1:
            raise P4Error(d.loc, f"table {d.name} has more than one lpm key")
        actions: dict[str, ActionSym] = {}
        infos: list[R.ActionInfo] = []
        default_only: set[str] = set()
        for ref in d.actions:
            sym = scope.lookup(ref.name.lstrip("."))
            if not isinstance(sym, ActionSym):
                raise P4Error(ref.loc, f"'{ref.name}' is not an action")
            if ref.args:
                raise P4Error(ref.loc, "binding action arguments in the actions list is not supported")
            if any(dirn for dirn, _, _ in sym.params):
                raise P4Error(ref.loc, f"action {ref.name} has directional parameters; tables need data-only actions")
            scope_name = "TableAndDefault"
            for ann in ref.annotations:
                if ann.name == "defaultonly":
                    scope_name = "DefaultOnly"
                    default_only.add(sym.cp_name)
                elif ann.name == "tableonly":
                    scope_name = "TableOnly"
            actions[ref.name.lstrip(".")] = sym
            widths = [(n, t.width if isinstance(t, Bits) else 1) for _, n, t in sym.params]
            infos.append(R.ActionInfo(sym.cp_name, None, widths, scope_name))
        size = 512
        if d.size is not None:
            sv = self.compile_expr(d.size, scope)
            if not isinstance(sv.const, int) or sv.const <= 0:
                raise P4Error(d.size.loc, "table size must be a positive compile-time integer")
            size = sv.const
        objname = self.uniq(f"T_{self.block_prefix}_{d.name}")
        pyname = self.uniq(f"tbl_{self.block_prefix}_{d.name}")
        counter: ExternSym | None = None
        if d.counters is not None:
            cs = self.lookup_ref(d.counters, scope)
            if not (isinstance(cs, ExternSym) and cs.kind == "DirectCounter"):
                raise P4Error(d.counters.loc, "'counters' must name a DirectCounter")
            if cs.extra.get("table"):
                raise P4Error(d.counters.loc, "a DirectCounter can be attached to one table only")
            cs.extra["table"] = qual
            counter = cs
        default_ref = d.default_action
        default_args: tuple = ()
        if default_ref is not None:
            dsym = actions.get(default_ref.name.lstrip("."))
            if dsym is None:
                raise P4Error(default_ref.loc, f"default action '{default_ref.name}' is not in the actions list")
            default_args = self.action_const_args(dsym, default_ref, scope)
            default_name = dsym.cp_name
        else:
            no_action = self.globals.lookup("NoAction")
            if not isinstance(no_action, ActionSym):
                raise P4Error(d.loc, "NoAction is not declared (include core.p4)")
            default_name = "NoAction"
            if "NoAction" not in actions:
                infos.append(R.ActionInfo("NoAction", None, [], "DefaultOnly"))
                actions["NoAction"] = no_action
        # Const entries are checked now (errors carry lines) and installed once the module exists.
        const_entries: list[tuple[list, str, tuple, int]] = []
        for i, ce in enumerate(d.entries or []):
            items = ce.keyset
            if len(items) == 1 and isinstance(items[0], A.Default) and len(keys) != 1:
                items = items * len(keys)
            if len(items) != len(keys):
                raise P4Error(ce.loc, f"entry has {len(items)} key values but table has {len(keys)} keys")
            spec = []
            for item, k in zip(items, keys, strict=True):
                spec.append(self.const_key(item, k, scope))
            asym = actions.get(ce.action.name.lstrip("."))
            if asym is None:
                raise P4Error(ce.action.loc, f"entry action '{ce.action.name}' is not in the actions list")
            args = self.action_const_args(asym, ce.action, scope)
            const_entries.append((spec, asym.cp_name, args, ce.priority if ce.priority is not None else i))
        tinfo = R.Table(qual, keys, infos, None, size, const_default=d.default_is_const,  # type: ignore[arg-type]
                        has_counter=counter is not None)
        self.env[objname] = tinfo
        self.tables[qual] = tinfo
        self.table_actions[qual] = infos
        if counter is not None:
            self.env[counter.pyname].table = tinfo  # type: ignore[attr-defined]
        pynames = {a.cp_name: a.pyname for a in actions.values()}
        is_const = d.entries is not None

        def setup(module: dict, t=tinfo, infos=infos, dname=default_name, dargs=default_args) -> None:
            for info in infos:
                info.fn = module[pynames[info.name]]
            t.initial_default = t.default = t.cur = t.make_entry(dname, dargs, default=True)
            for spec, aname, args, prio in const_entries:
                t.insert(spec, aname, args, prio)
            t.is_const = is_const

        self.setups.append(setup)
        fn = FnCtx("table")
        fn.lines.append(f"def {pyname}():")
        key = f"({', '.join(key_codes)},)" if key_codes else "()"
        if tinfo.all_exact:  # the dict lookup inline (a method call per lookup is a visible share of a packet)
            fn.emit(f"e = {objname}._exact.get({key}, {objname}.default)")
        else:
            fn.emit(f"e = {objname}._lookup({key})")
        if counter is not None:
            fn.emit(f"{objname}.cur = e")
        fn.emit("e.fn(*e.args)")
        fn.emit("return e")
        saved = self.fn
        self.flush_fn(fn)
        self.fn = saved
        sym = TableSym(d, pyname, objname, actions)
        scope.define(d.name, sym, d.loc)
        return sym

    def const_key(self, item: A.Expr, k: R.KeyInfo, scope: Scope) -> object:
        t = Bits(k.width)
        if isinstance(item, A.Default):
            if k.match_kind == "exact":
                raise P4Error(item.loc, f"'_' cannot match exact key {k.name}")
            return (0, 0) if k.match_kind in ("ternary", "lpm") else (0, mask(k.width))
        if isinstance(item, A.Mask):
            v, m = self.const_of(item.value, t, scope), self.const_of(item.mask, t, scope)
            if k.match_kind == "ternary":
                return (v, m)
            if k.match_kind == "lpm":
                plen = bin(m).count("1")
                if m != (mask(plen) << (k.width - plen)):
                    raise P4Error(item.loc, f"mask {m:#x} is not a prefix for lpm key {k.name}")
                return (v, plen)
            raise P4Error(item.loc, f"'&&&' cannot be used with {k.match_kind} key {k.name}")
        if isinstance(item, A.Range):
            if k.match_kind != "range":
                raise P4Error(item.loc, f"'..' cannot be used with {k.match_kind} key {k.name}")
            return (self.const_of(item.low, t, scope), self.const_of(item.high, t, scope))
        v = self.const_of(item, t, scope)
        return {"exact": v, "ternary": (v, mask(k.width)), "lpm": (v, k.width), "range": (v, v)}[k.match_kind]

    def action_const_args(self, sym: ActionSym, ref: A.ActionRef, scope: Scope) -> tuple:
        if len(ref.args) != len(sym.params):
            raise P4Error(ref.loc, f"action {ref.name} takes {len(sym.params)} arguments, {len(ref.args)} given")
        out = []
        for (_, pname, t), a in zip(sym.params, ref.args, strict=True):
            v = self.coerce(self.compile_expr(a, scope), t, a.loc)
            if v.const is None:
                raise P4Error(a.loc, f"argument '{pname}' must be a compile-time constant here")
            out.append(int(v.const))  # type: ignore[arg-type]
        return tuple(out)

    # ------------------------------------------------------------ instantiations
    def compile_instantiation(self, d: A.Instantiation, scope: Scope, path: list[str]) -> object:
        if not isinstance(d.type, A.NamedType):
            raise P4Error(d.loc, "unsupported instantiation")
        tname = d.type.name
        sym = scope.lookup(tname)
        if isinstance(sym, DeclSym) and isinstance(sym.decl, (A.ParserDecl, A.ControlDecl)):
            if d.args:
                raise P4Error(d.loc, "constructor arguments for parser/control instances are not supported")
            saved_fn = self.fn
            fname, params = self.compile_block(sym.decl, [*path, d.name])
            self.fn = saved_fn
            inst = InstanceSym(sym.decl, fname, params)
            scope.define(d.name, inst, d.loc)
            return inst
        if not (isinstance(sym, DeclSym) and isinstance(sym.decl, A.ExternDecl)):
            raise P4Error(d.loc, f"unknown type '{tname}' in instantiation")
        if tname not in SUPPORTED_EXTERNS:
            raise P4Error(d.loc, f"extern {tname} is not supported by the emulator")
        targs = [self.resolve_type(a, scope) for a in d.type.args]
        et = ExternT(tname, targs)
        qual = f"{self.pipe_name}.{'.'.join(path)}.{d.name}"
        cpq = f"{'.'.join(path)}.{d.name}"
        args = d.args
        handler = getattr(self, f"inst_{tname}")
        esym: ExternSym = handler(d, scope, et, targs, args, qual, cpq)
        scope.define(d.name, esym, d.loc)
        return esym

    def want_args(self, d: A.Instantiation, n: tuple[int, ...], targs: list, nt: int) -> None:
        if len(d.args) not in n:
            raise P4Error(d.loc, f"{d.type.name}: wrong number of constructor arguments")  # type: ignore[attr-defined]
        if len(targs) != nt:
            raise P4Error(d.loc, f"{d.type.name} needs {nt} type argument(s)")  # type: ignore[attr-defined]

    def enum_arg(self, e: A.Expr, scope: Scope, enum: str) -> str:
        v = self.compile_expr(e, scope)
        if not (isinstance(v.type, EnumT) and v.type.name == enum):
            raise P4Error(e.loc, f"expected a {enum} value")
        return next(m for m, i in v.type.values.items() if i == v.const)

    def inst_Register(self, d, scope, et, targs, args, qual, cpq) -> ExternSym:
        self.want_args(d, (1, 2), targs, 2)
        t, it = targs
        size = self.compile_expr(args[0], scope)
        if not isinstance(size.const, int) or size.const <= 0:
            raise P4Error(args[0].loc, "register size must be a positive compile-time integer")
        if isinstance(t, Bits):
            fields = [("f1", t.width)]
        elif isinstance(t, StructT) and not t.is_header and all(isinstance(f, Bits) for f in t.fields.values()):
            fields = [(n, f.width) for n, f in t.fields.items()]  # type: ignore[union-attr]
        else:
            raise P4Error(d.loc, f"register value type must be bit<W> or a struct of bit<W>, not {t}")
        if not isinstance(it, Bits):
            raise P4Error(d.loc, "register index type must be bit<W>")
        initial: tuple = ()
        if len(args) == 2:
            if isinstance(args[1], A.ListExpr) and isinstance(t, StructT):
                initial = tuple(self.const_of(a, ft, scope) for a, ft in zip(args[1].items, t.fields.values(),
                                                                           strict=True))
            else:
                initial = (self.const_of(args[1], t, scope),)
        reg = R.RegisterArray(qual, size.const, fields, initial=initial)
        name = self.put_env(f"REG_{cpq}", reg)
        self.registers[qual] = reg
        if isinstance(t, StructT):
            cls = t.pyclass
            self.setups.append(lambda m, reg=reg, cls=cls: (setattr(reg, "factory", m[cls]), reg.reset()))
        else:
            reg.reset()
        return ExternSym("Register", name, et, {"value_type": t, "index_type": it, "size": size.const})

    def inst_RegisterAction(self, d, scope, et, targs, args, qual, cpq) -> ExternSym:
        self.want_args(d, (1,), targs, 3)
        t, _it, u = targs
        rsym = self.lookup_ref(args[0], scope)
        if not (isinstance(rsym, ExternSym) and rsym.kind == "Register"):
            raise P4Error(args[0].loc, "RegisterAction argument must be a Register")
        if not same_type(rsym.extra["value_type"], t):
            raise P4Error(d.loc, f"RegisterAction value type {t} differs from the register's")
        applies = [f for f in d.initializer if f.name == "apply"]
        if len(applies) != 1 or len(d.initializer) != 1:
            raise P4Error(d.loc, "RegisterAction needs exactly one 'apply' function")
        ap = applies[0]
        if not 1 <= len(ap.params) <= 2:
            raise P4Error(ap.loc, "RegisterAction apply takes (inout T value[, out U rv])")
        pyname = self.uniq(f"ra_{cpq}")
        fn = FnCtx("regaction")
        fn.lines.append(f"def {pyname}(index):")
        rscope = Scope(scope)
        reg = rsym.pyname
        size = rsym.extra["size"]
        fn.emit(f"i = index % {size}")
        fn.emit(f"value = {reg}.values[i]")
        rscope.define(ap.params[0].name, VarSym("value", t, False), ap.params[0].loc)
        if len(ap.params) == 2:
            ut = self.resolve_type(ap.params[1].type, rscope)
            if not same_type(ut, u):
                raise P4Error(ap.params[1].loc, f"rv type {ut} differs from the RegisterAction's {u}")
            rscope.define(ap.params[1].name, VarSym("rv", u, False), ap.params[1].loc)
        fn.emit(f"rv = {self.zero(u) if not isinstance(u, VoidT) else 'None'}")
        saved = self.fn
        self.fn = fn
        self.compile_block_stmt(ap.body, rscope)
        if not isinstance(t, StructT):
            fn.emit(f"{reg}.values[i] = value")
        fn.emit("return rv")
        self.flush_fn(fn)
        self.fn = saved
        return ExternSym("RegisterAction", pyname, et, {"rv_type": u, "index_type": rsym.extra["index_type"]})

    def inst_Hash(self, d, scope, et, targs, args, qual, cpq) -> ExternSym:
        self.want_args(d, (1,), targs, 1)
        if not isinstance(targs[0], Bits):
            raise P4Error(d.loc, "Hash output type must be bit<W>")
        algo = self.enum_arg(args[0], scope, "HashAlgorithm_t")
        if algo not in ("CRC16", "CRC32", "IDENTITY"):
            raise P4Error(args[0].loc, f"hash algorithm {algo} is not supported (CRC16, CRC32, IDENTITY)")
        return ExternSym("Hash", "", et, {"algo": algo, "width": targs[0].width})

    def inst_Counter(self, d, scope, et, targs, args, qual, cpq) -> ExternSym:
        self.want_args(d, (2,), targs, 2)
        size = self.compile_expr(args[0], scope)
        if not isinstance(size.const, int) or size.const <= 0:
            raise P4Error(args[0].loc, "counter size must be a positive compile-time integer")
        kind = self.enum_arg(args[1], scope, "CounterType_t")
        c = R.CounterArray(qual, size.const, kind)
        c.reset()
        self.counters[qual] = c
        return ExternSym("Counter", self.put_env(f"CNT_{cpq}", c), et)

    def inst_DirectCounter(self, d, scope, et, targs, args, qual, cpq) -> ExternSym:
        self.want_args(d, (1,), targs, 1)
        kind = self.enum_arg(args[0], scope, "CounterType_t")

        class _Direct:
            table: R.Table | None = None

        return ExternSym("DirectCounter", self.put_env(f"DC_{cpq}", _Direct()), et, {"kind": kind})

    def inst_Digest(self, d, scope, et, targs, args, qual, cpq) -> ExternSym:
        self.want_args(d, (0,), targs, 1)
        t = targs[0]
        if not (isinstance(t, StructT) and all(isinstance(f, Bits) for f in t.fields.values())):
            raise P4Error(d.loc, "Digest type must be a struct of bit<W> fields")
        info = R.DigestInfo(qual, [(n, f.width) for n, f in t.fields.items()])  # type: ignore[union-attr]
        self.digests[qual] = info
        return ExternSym("Digest", self.put_env(f"DG_{cpq}", info), et, {"type": t})

    def inst_Mirror(self, d, scope, et, targs, args, qual, cpq) -> ExternSym:
        self.want_args(d, (0, 1), targs, 0)
        return ExternSym("Mirror", "", et)

    def inst_Checksum(self, d, scope, et, targs, args, qual, cpq) -> ExternSym:
        self.want_args(d, (0,), targs, 0)
        return ExternSym("Checksum", self.put_env(f"CK_{cpq}", R.ChecksumUnit()), et)

    def lookup_ref(self, e: A.Expr, scope: Scope) -> object:
        if isinstance(e, A.Name):
            sym = scope.lookup(e.name)
            if sym is None:
                raise P4Error(e.loc, f"unknown name '{e.name}'")
            return sym
        raise P4Error(e.loc, "expected a name")

    # ------------------------------------------------------------ statements
    def compile_block_stmt(self, b: A.Block, scope: Scope) -> None:
        inner = Scope(scope)
        start = len(self.fn.lines)
        for s in b.stmts:
            self.compile_stmt(s, inner)
        if len(self.fn.lines) == start:
            self.fn.emit("pass")

    def compile_stmt(self, s: A.Stmt, scope: Scope) -> None:
        fn = self.fn
        if isinstance(s, A.Block):
            self.compile_block_stmt(s, scope)
        elif isinstance(s, A.Empty):
            pass
        elif isinstance(s, A.Assign) and isinstance(s.target, A.Slice):
            self.assign_slice(s.target, s.value, scope)
        elif isinstance(s, A.Assign):
            target = self.compile_expr(s.target, scope)
            self.assign_to(target, s.value, scope, s.loc)
        elif isinstance(s, A.CallStmt):
            v = self.compile_call(s.call, scope, as_stmt=True)
            if v.code:
                fn.emit(v.code)
        elif isinstance(s, A.If):
            c = self.compile_expr(s.cond, scope)
            if not isinstance(c.type, BoolT):
                raise P4Error(s.cond.loc, f"if condition must be bool, not {c.type}")
            fn.emit(f"if {c.code}:")
            fn.indent += 1
            self.compile_nested(s.then, scope)
            fn.indent -= 1
            if s.other is not None:
                fn.emit("else:")
                fn.indent += 1
                self.compile_nested(s.other, scope)
                fn.indent -= 1
        elif isinstance(s, A.VarDecl):
            t = self.resolve_type(s.type, scope)
            local = f"v_{_ident(s.name)}_{fn.tmp}"
            fn.tmp += 1
            if s.is_const:
                v = self.coerce(self.compile_expr(s.init, scope), t, s.loc)  # type: ignore[arg-type]
                if v.const is None:
                    raise P4Error(s.loc, f"constant '{s.name}' is not a compile-time value")
                scope.define(s.name, ConstSym(v.const, t), s.loc)
                return
            scope.define(s.name, VarSym(local, t, False), s.loc)
            if isinstance(t, (StructT, StackT)):
                fn.emit(f"{local} = {t.pyclass}()")
                if s.init is not None:
                    self.assign_to(Value(local, t, lvalue=True), s.init, scope, s.loc)
            elif s.init is not None:
                fn.emit(f"{local} = {self.coerce(self.compile_expr(s.init, scope), t, s.loc).code}")
            else:
                fn.emit(f"{local} = {self.zero(t)}")
        elif isinstance(s, A.Switch):
            self.compile_switch(s, scope)
        elif isinstance(s, A.Return):
            if fn.kind == "action":
                if s.value is not None:
                    raise P4Error(s.loc, "actions cannot return a value")
                fn.emit(f"return ({', '.join(fn.outs)},)" if fn.outs else "return")
            elif fn.kind == "control":
                fn.emit("return")
            elif fn.kind == "regaction":
                if s.value is not None:
                    raise P4Error(s.loc, "RegisterAction apply returns through its out parameter")
                fn.emit("return rv")
            else:
                raise P4Error(s.loc, "return is not allowed here")
        elif isinstance(s, A.Exit):
            if fn.kind not in ("action", "control"):
                raise P4Error(s.loc, "exit is only allowed in controls and actions")
            fn.emit("raise ExitControl()")
        else:
            raise P4Error(s.loc, f"unsupported statement {type(s).__name__}")

    def compile_nested(self, s: A.Stmt, scope: Scope) -> None:
        start = len(self.fn.lines)
        self.compile_stmt(s, Scope(scope))
        if len(self.fn.lines) == start:
            self.fn.emit("pass")

    def compile_switch(self, s: A.Switch, scope: Scope) -> None:
        fn = self.fn
        v = self.compile_expr(s.expr, scope)
        t = fn.temp()
        fn.emit(f"{t} = {v.code}")
        pending: list[str] = []
        first = True
        seen_default = False
        for case in s.cases:
            for label in case.labels:
                if label is None:
                    seen_default = True
                    pending.append("True")
                elif isinstance(v.type, ActionRunT):
                    if not isinstance(label, A.Name) or label.name not in v.type.table.actions:
                        raise P4Error(case.loc, f"switch label must be an action of table "
                                      f"{v.type.table.decl.name}")
                    pending.append(f"{t} is {v.type.table.actions[label.name].pyname}")
                elif isinstance(v.type, (Bits, EnumT)):
                    pending.append(f"{t} == {self.const_of(label, v.type, scope)}")
                else:
                    raise P4Error(s.expr.loc, f"cannot switch on {v.type}")
            if case.body is None:
                continue
            cond = "True" if "True" in pending else " or ".join(pending)
            fn.emit(f"{'if' if first else 'elif'} {cond}:")
            first = False
            fn.indent += 1
            self.compile_block_stmt(case.body, scope)
            fn.indent -= 1
            pending = []
        if pending and not seen_default:
            raise P4Error(s.loc, "switch ends with labels that have no body")
        if first:
            fn.emit("pass")

    def assign_to(self, target: Value, expr: A.Expr, scope: Scope, loc: Loc) -> None:
        fn = self.fn
        if not target.lvalue:
            raise P4Error(loc, "cannot assign to this expression")
        t = target.type
        if isinstance(t, (StructT, StackT)):
            if isinstance(expr, A.ListExpr):
                if not isinstance(t, StructT):
                    raise P4Error(loc, "cannot initialise a header stack from a list")
                if len(expr.items) != len(t.fields):
                    raise P4Error(loc, f"{t} has {len(t.fields)} fields, list has {len(expr.items)}")
                tmp = fn.temp()
                fn.emit(f"{tmp} = {target.code}")
                for (fname, ft), item in zip(t.fields.items(), expr.items, strict=True):
                    self.assign_to(Value(f"{tmp}.{pyattr(fname)}", ft, lvalue=True), item, scope, item.loc)
                if t.is_header:
                    fn.emit(f"{tmp}._v = True")
                return
            v = self.compile_expr(expr, scope)
            if not same_type(v.type, t):
                raise P4Error(loc, f"cannot assign {v.type} to {t}")
            fn.emit(f"{target.code}._copy({v.code})")
            return
        v = self.coerce(self.compile_expr(expr, scope), t, loc)
        self.note_global(target.code, scope)
        fn.emit(f"{target.code} = {v.code}")
        if target.code.endswith(".ucast_egress_port"):
            fn.emit(f"{target.code[: -len('.ucast_egress_port')]}._uset = True")

    def assign_slice(self, target: A.Slice, expr: A.Expr, scope: Scope) -> None:
        base = self.compile_expr(target.base, scope)
        if not base.lvalue or not isinstance(base.type, Bits) or base.type.signed:
            raise P4Error(target.loc, "slice assignment needs a writable bit<W> value")
        hi, lo = self.compile_expr(target.hi, scope).const, self.compile_expr(target.lo, scope).const
        if not (isinstance(hi, int) and isinstance(lo, int)) or not 0 <= lo <= hi < base.type.width:
            raise P4Error(target.loc, f"slice [{hi}:{lo}] is not valid for {base.type}")
        v = self.coerce(self.compile_expr(expr, scope), Bits(hi - lo + 1), target.loc)
        keep = mask(base.type.width) ^ (mask(hi - lo + 1) << lo)
        self.note_global(base.code, scope)
        shifted = f"({v.code} << {lo})" if lo else v.code
        self.fn.emit(f"{base.code} = ({base.code} & {keep:#x}) | {shifted}")

    def note_global(self, code: str, scope: Scope) -> None:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", code) and code in self.names:
            self.fn.globals.add(code)

    # ------------------------------------------------------------ expressions
    def coerce(self, v: Value, t: P4Type, loc: Loc) -> Value:
        if same_type(v.type, t):
            return v
        if isinstance(v.type, InfInt) and isinstance(t, Bits):
            if v.const is None:
                raise P4Error(loc, f"cannot use a non-constant integer as {t}")
            c = self.wrap_const(int(v.const), t)  # type: ignore[arg-type]
            return Value(str(c), t, c)
        if isinstance(v.type, InfInt) and isinstance(t, EnumT) and t.underlying is not None:
            raise P4Error(loc, f"cannot assign an integer to {t} without a cast")
        raise P4Error(loc, f"type mismatch: expected {t}, got {v.type}")

    @staticmethod
    def wrap_const(c: int, t: Bits) -> int:
        c &= mask(t.width)
        if t.signed and c >> (t.width - 1):
            c -= 1 << t.width
        return c

    def wrap(self, code: str, t: Bits) -> str:
        if t.signed:
            half = 1 << (t.width - 1)
            return f"(((({code}) + {half}) & {mask(t.width):#x}) - {half})"
        return f"(({code}) & {mask(t.width):#x})"

    def fold(self, code: str, t: P4Type, *vals: Value) -> Value:
        if all(v.const is not None for v in vals):
            c = eval(code, {"__builtins__": {}}, {})
            return Value(repr(c), t, c)
        return Value(code, t)

    def compile_expr(self, e: A.Expr, scope: Scope) -> Value:
        if isinstance(e, A.IntConst):
            if e.width is not None:
                t = Bits(e.width, e.signed)
                return Value(str(e.value), t, e.value)
            return Value(str(e.value), InfInt(), e.value)
        if isinstance(e, A.BoolConst):
            return Value(repr(e.value), BoolT(), e.value)
        if isinstance(e, A.StringConst):
            return Value(repr(e.value), StringT(), e.value)
        if isinstance(e, A.Name):
            return self.compile_name(e, scope)
        if isinstance(e, A.Member):
            return self.compile_member(e, scope)
        if isinstance(e, A.Index):
            base = self.compile_expr(e.base, scope)
            if not isinstance(base.type, StackT):
                raise P4Error(e.loc, f"cannot index {base.type}")
            idx = self.compile_expr(e.index, scope)
            if not isinstance(idx.const, int):
                raise P4Error(e.index.loc, "header stack index must be a compile-time constant")
            if not 0 <= idx.const < base.type.size:
                raise P4Error(e.index.loc, f"index {idx.const} out of bounds for {base.type}")
            return Value(f"{base.code}.h[{idx.const}]", base.type.elem, lvalue=base.lvalue)
        if isinstance(e, A.Slice):
            base = self.compile_expr(e.base, scope)
            if not isinstance(base.type, Bits):
                raise P4Error(e.loc, f"cannot slice {base.type}")
            hi, lo = self.compile_expr(e.hi, scope).const, self.compile_expr(e.lo, scope).const
            if not (isinstance(hi, int) and isinstance(lo, int)) or not 0 <= lo <= hi < base.type.width:
                raise P4Error(e.loc, f"slice [{hi}:{lo}] is not valid for {base.type}")
            w = hi - lo + 1
            code = f"(({base.code} >> {lo}) & {mask(w):#x})" if lo else f"({base.code} & {mask(w):#x})"
            return self.fold(code, Bits(w), base)
        if isinstance(e, A.Unary):
            return self.compile_unary(e, scope)
        if isinstance(e, A.Binary):
            return self.compile_binary(e, scope)
        if isinstance(e, A.Ternary):
            c = self.compile_expr(e.cond, scope)
            if not isinstance(c.type, BoolT):
                raise P4Error(e.cond.loc, "condition of ?: must be bool")
            a, b = self.compile_expr(e.then, scope), self.compile_expr(e.other, scope)
            if isinstance(a.type, InfInt):
                a = self.coerce(a, b.type, e.loc)
            if isinstance(b.type, InfInt):
                b = self.coerce(b, a.type, e.loc)
            if not same_type(a.type, b.type):
                raise P4Error(e.loc, f"branches of ?: have different types {a.type} and {b.type}")
            return self.fold(f"({a.code} if {c.code} else {b.code})", a.type, c, a, b)
        if isinstance(e, A.Cast):
            return self.compile_cast(e, scope)
        if isinstance(e, A.Call):
            return self.compile_call(e, scope, as_stmt=False)
        if isinstance(e, A.ListExpr):
            raise P4Error(e.loc, "a list expression is not allowed here")
        if isinstance(e, (A.Mask, A.Range, A.Default)):
            raise P4Error(e.loc, "a keyset expression is not allowed here")
        raise P4Error(e.loc, f"unsupported expression {type(e).__name__}")

    def compile_name(self, e: A.Name, scope: Scope) -> Value:
        if e.name == "error":
            return Value("", RefT("error"))
        sym = scope.lookup(e.name)
        if sym is None:
            raise P4Error(e.loc, f"unknown name '{e.name}'")
        if isinstance(sym, VarSym):
            return Value(sym.code, sym.type, lvalue=not sym.readonly)
        if isinstance(sym, ConstSym):
            return Value(repr(sym.value), sym.type, sym.value)
        return Value("", RefT(sym))

    def compile_member(self, e: A.Member, scope: Scope) -> Value:
        base = self.compile_expr(e.base, scope)
        t = base.type
        if isinstance(t, RefT):
            if t.sym == "error":
                if e.name not in self.errors_list:
                    raise P4Error(e.loc, f"unknown error '{e.name}'")
                i = self.errors_list.index(e.name)
                return Value(str(i), ErrorT(), i)
            if isinstance(t.sym, TypeSym) and isinstance(t.sym.type, EnumT):
                et = t.sym.type
                if e.name not in et.values:
                    raise P4Error(e.loc, f"enum {et.name} has no member '{e.name}'")
                return Value(str(et.values[e.name]), et, et.values[e.name])
            return Value("", RefT((t.sym, e.name)))
        if isinstance(t, StructT) and t.is_header and e.name in ("isValid", "setValid", "setInvalid"):
            return Value("", RefT((base, e.name)))
        if isinstance(t, StructT):
            if e.name not in t.fields:
                raise P4Error(e.loc, f"{t} has no field '{e.name}'")
            return Value(f"{base.code}.{pyattr(e.name)}", t.fields[e.name], lvalue=base.lvalue)
        if isinstance(t, StackT):
            if e.name == "last":
                return Value(f"_last({base.code})", t.elem, lvalue=base.lvalue)
            if e.name == "next":
                if self.fn.kind != "state":
                    raise P4Error(e.loc, "'next' is only allowed in parsers")
                return Value(f"_next({base.code})", t.elem, lvalue=base.lvalue)
            if e.name == "size":
                return Value(str(t.size), Bits(32), t.size)
            if e.name == "lastIndex":
                return Value(f"(({base.code}.ni - 1) & 0xffffffff)", Bits(32))
            return Value("", RefT((base, e.name)))
        if isinstance(t, TableResT):
            if e.name == "hit":
                return Value(f"{base.code}.hit", BoolT())
            if e.name == "miss":
                return Value(f"(not {base.code}.hit)", BoolT())
            if e.name == "action_run":
                return Value(f"{base.code}.fn", ActionRunT(t.table))
            raise P4Error(e.loc, f"table apply result has no member '{e.name}'")
        if isinstance(t, (PacketT, ExternT, StructT)):
            return Value("", RefT((base, e.name)))
        raise P4Error(e.loc, f"{t} has no member '{e.name}'")

    def compile_unary(self, e: A.Unary, scope: Scope) -> Value:
        v = self.compile_expr(e.operand, scope)
        if e.op == "!":
            if not isinstance(v.type, BoolT):
                raise P4Error(e.loc, f"'!' needs a bool, not {v.type}")
            return self.fold(f"(not {v.code})", BoolT(), v)
        if isinstance(v.type, InfInt):
            c = -int(v.const) if e.op == "-" else ~int(v.const)  # type: ignore[arg-type]
            return Value(str(c), InfInt(), c)
        if not isinstance(v.type, Bits):
            raise P4Error(e.loc, f"'{e.op}' needs bit<W> or int<W>, not {v.type}")
        t = v.type
        if e.op == "~":
            code = f"(~{v.code})" if t.signed else f"({v.code} ^ {mask(t.width):#x})"
        else:
            code = self.wrap(f"-{v.code}", t)
        return self.fold(code, t, v)

    def compile_binary(self, e: A.Binary, scope: Scope) -> Value:
        op = e.op
        left, right = self.compile_expr(e.left, scope), self.compile_expr(e.right, scope)
        if op in ("&&", "||"):
            for v, side in ((left, e.left), (right, e.right)):
                if not isinstance(v.type, BoolT):
                    raise P4Error(side.loc, f"'{op}' needs bool operands, not {v.type}")
            return self.fold(f"({left.code} {'and' if op == '&&' else 'or'} {right.code})", BoolT(), left, right)
        if op in ("<<", ">>"):
            if not isinstance(right.type, (Bits, InfInt)) or (isinstance(right.type, Bits) and right.type.signed):
                raise P4Error(e.right.loc, "shift amount must be an unsigned integer")
            if isinstance(left.type, InfInt):
                if left.const is None or right.const is None:
                    raise P4Error(e.loc, "shift of an integer literal needs a width (e.g. 8w1)")
                c = int(left.const) << int(right.const) if op == "<<" else int(left.const) >> int(right.const)
                return Value(str(c), InfInt(), c)
            if not isinstance(left.type, Bits):
                raise P4Error(e.left.loc, f"cannot shift {left.type}")
            if op == "<<":
                return self.fold(self.wrap(f"{left.code} << {right.code}", left.type), left.type, left, right)
            return self.fold(f"({left.code} >> {right.code})", left.type, left, right)
        if op == "++":
            if not (isinstance(left.type, Bits) and isinstance(right.type, Bits)):
                raise P4Error(e.loc, "'++' needs bit<W> operands of known width")
            rcode = f"({right.code} & {mask(right.type.width):#x})" if right.type.signed else right.code
            t = Bits(left.type.width + right.type.width, left.type.signed)
            lcode = f"({left.code} & {mask(left.type.width):#x})" if left.type.signed else left.code
            code = f"(({lcode} << {right.type.width}) | {rcode})"
            if t.signed:
                code = self.wrap(code, t)
            return self.fold(code, t, left, right)
        # Arithmetic, bitwise and comparisons: both sides must have the same type (literals adapt).
        if isinstance(left.type, InfInt) and isinstance(right.type, InfInt):
            a, b = int(left.const), int(right.const)  # type: ignore[arg-type]
            res = {
                "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                "/": lambda: a // b if b else 0, "%": lambda: a % b if b else 0,
                "&": lambda: a & b, "|": lambda: a | b, "^": lambda: a ^ b,
                "==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b, ">": lambda: a > b,
                "<=": lambda: a <= b, ">=": lambda: a >= b,
            }.get(op)
            if res is None:
                raise P4Error(e.loc, f"operator '{op}' is not supported on integer literals")
            c = res()
            return Value(repr(c), BoolT() if isinstance(c, bool) else InfInt(), c)
        if isinstance(left.type, InfInt):
            left = self.coerce(left, right.type, e.left.loc) if isinstance(right.type, Bits) else left
        if isinstance(right.type, InfInt):
            right = self.coerce(right, left.type, e.right.loc) if isinstance(left.type, Bits) else right
        if not same_type(left.type, right.type):
            raise P4Error(e.loc, f"operands of '{op}' have different types {left.type} and {right.type}")
        t = left.type
        if op in ("==", "!="):
            if isinstance(t, (StructT, StackT, ExternT, RefT)):
                raise P4Error(e.loc, f"cannot compare values of type {t}")
            return self.fold(f"({left.code} {op} {right.code})", BoolT(), left, right)
        if not isinstance(t, Bits):
            raise P4Error(e.loc, f"operator '{op}' needs bit<W> or int<W> operands, not {t}")
        lc, rc = left.code, right.code
        if op in ("<", ">", "<=", ">="):
            return self.fold(f"({lc} {op} {rc})", BoolT(), left, right)
        if op in ("&", "|", "^"):
            return self.fold(f"({lc} {op} {rc})", t, left, right)
        if op in ("+", "-", "*"):
            return self.fold(self.wrap(f"{lc} {op} {rc}", t), t, left, right)
        if op in ("/", "%"):
            if t.signed:
                raise P4Error(e.loc, f"'{op}' on signed values is not supported")
            pyop = "//" if op == "/" else "%"
            return self.fold(f"({lc} {pyop} {rc} if {rc} else 0)", t, left, right)
        if op in ("|+|", "|-|"):
            lo, hi = ((-(1 << (t.width - 1)), (1 << (t.width - 1)) - 1) if t.signed else (0, mask(t.width)))
            pyop = "+" if op == "|+|" else "-"
            return self.fold(f"min(max({lc} {pyop} {rc}, {lo}), {hi})", t, left, right)
        raise P4Error(e.loc, f"unsupported operator '{op}'")

    def compile_cast(self, e: A.Cast, scope: Scope) -> Value:
        t = self.resolve_type(e.type, scope)
        v = self.compile_expr(e.expr, scope)
        s = v.type
        if same_type(s, t):
            return v
        if isinstance(t, Bits):
            if isinstance(s, InfInt):
                return self.coerce(v, t, e.loc)
            if isinstance(s, BoolT):
                if t.width != 1:
                    raise P4Error(e.loc, "bool can only be cast to bit<1>")
                return self.fold(f"(1 if {v.code} else 0)", t, v)
            if isinstance(s, EnumT) and s.underlying is not None:
                s = s.underlying
                v = Value(v.code, s, v.const)
                if same_type(s, t):
                    return v
            if isinstance(s, Bits):
                if not t.signed and not s.signed and t.width >= s.width:
                    return Value(v.code, t, v.const)
                return self.fold(self.wrap(v.code, t), t, v)
        if isinstance(t, BoolT) and isinstance(s, Bits) and s.width == 1 and not s.signed:
            return self.fold(f"({v.code} == 1)", t, v)
        if isinstance(t, EnumT) and t.underlying is not None and isinstance(s, (Bits, InfInt)):
            inner = self.coerce(v, t.underlying, e.loc) if isinstance(s, InfInt) else v
            if not same_type(inner.type, t.underlying):
                raise P4Error(e.loc, f"cannot cast {s} to {t}")
            return Value(inner.code, t, inner.const)
        raise P4Error(e.loc, f"cannot cast {s} to {t}")

    # ------------------------------------------------------------ calls
    def compile_call(self, c: A.Call, scope: Scope, as_stmt: bool) -> Value:
        f = self.compile_expr(c.func, scope)
        if not isinstance(f.type, RefT):
            raise P4Error(c.loc, "this expression cannot be called")
        target = f.type.sym
        if isinstance(target, ActionSym):
            return self.call_action(c, target, scope, as_stmt)
        if isinstance(target, DeclSym) and isinstance(target.decl, A.ExternFuncDecl):
            if target.decl.name == "verify":
                return self.call_verify(c, scope)
            raise P4Error(c.loc, f"extern function {target.decl.name} is not supported")
        if isinstance(target, tuple):
            obj, method = target
            if isinstance(obj, Value):
                return self.call_value_method(c, obj, method, scope, as_stmt)
            if isinstance(obj, TableSym):
                if method != "apply" or c.args:
                    raise P4Error(c.loc, f"tables only have apply(), not {method}")
                return Value(f"{obj.pyname}()", TableResT(obj))
            if isinstance(obj, InstanceSym):
                if method != "apply":
                    raise P4Error(c.loc, f"'{obj.decl.name}' instances only have apply()")
                return self.call_instance(c, obj, scope)
            if isinstance(obj, ExternSym):
                return self.call_extern(c, obj, method, scope)
        raise P4Error(c.loc, "this expression cannot be called")

    def args_for(self, c: A.Call, params: list[tuple[str, str, P4Type]], scope: Scope) -> list[tuple[Value, A.Expr]]:
        if len(c.args) != len(params):
            raise P4Error(c.loc, f"expected {len(params)} arguments, got {len(c.args)}")
        out = []
        for (direction, name, t), a in zip(params, c.args, strict=True):
            if isinstance(a, A.ListExpr) and isinstance(t, StructT):
                raise P4Error(a.loc, "list arguments are not supported here")
            v = self.compile_expr(a, scope)
            if direction in ("out", "inout") and not v.lvalue:
                raise P4Error(a.loc, f"argument for {direction} parameter '{name}' must be assignable")
            if direction in ("", "in"):
                v = self.coerce(v, t, a.loc)
            elif not same_type(v.type, t):
                raise P4Error(a.loc, f"type mismatch: expected {t}, got {v.type}")
            out.append((v, a))
        return out

    def call_action(self, c: A.Call, a: ActionSym, scope: Scope, as_stmt: bool) -> Value:
        if not as_stmt:
            raise P4Error(c.loc, "actions can only be called as statements")
        args = self.args_for(c, a.params, scope)
        call = f"{a.pyname}({', '.join(v.code for v, _ in args)})"
        outs = [(v, ex) for (v, ex), (d, _, _) in zip(args, a.params, strict=True) if d in ("out", "inout")]
        if not outs:
            return Value(call, VoidT())
        tmp = self.fn.temp()
        self.fn.emit(f"{tmp} = {call}")
        for i, (v, ex) in enumerate(outs):
            self.assign_value(v, f"{tmp}[{i}]", scope, ex.loc)
        return Value("", VoidT())

    def assign_value(self, target: Value, code: str, scope: Scope, loc: Loc) -> None:
        self.note_global(target.code, scope)
        self.fn.emit(f"{target.code} = {code}")
        if target.code.endswith(".ucast_egress_port"):
            self.fn.emit(f"{target.code[: -len('.ucast_egress_port')]}._uset = True")

    def call_verify(self, c: A.Call, scope: Scope) -> Value:
        if self.fn.kind != "state":
            raise P4Error(c.loc, "verify() is only allowed in parsers")
        if len(c.args) != 2:
            raise P4Error(c.loc, "verify(condition, error) takes 2 arguments")
        cond = self.compile_expr(c.args[0], scope)
        err = self.compile_expr(c.args[1], scope)
        if not isinstance(cond.type, BoolT) or not isinstance(err.type, ErrorT):
            raise P4Error(c.loc, "verify(bool, error) has the wrong argument types")
        self.fn.emit(f"if not {cond.code}:")
        self.fn.emit(f"    raise ParserReject({self.errors_list[int(err.const)]!r})")  # type: ignore[arg-type]
        return Value("", VoidT())

    def call_instance(self, c: A.Call, inst: InstanceSym, scope: Scope) -> Value:
        fn = self.fn
        args = self.args_for(c, inst.params, scope)
        after: list[tuple[Value, str, Loc]] = []
        for (v, a), (direction, gname, t) in zip(args, inst.params, strict=True):
            fn.globals.add(gname)
            fn.emit(f"{gname} = {v.code}")
            if direction in ("out", "inout") and not isinstance(t, (StructT, StackT, PacketT)):
                after.append((v, gname, a.loc))
        if isinstance(inst.decl, A.ControlDecl) and fn.kind == "state":
            raise P4Error(c.loc, "controls cannot be applied from a parser")
        if isinstance(inst.decl, A.ParserDecl) and fn.kind != "state":
            raise P4Error(c.loc, "parsers can only be applied from a parser state")
        fn.emit(f"{inst.fn}()")
        for v, gname, loc in after:
            self.assign_value(v, gname, scope, loc)
        return Value("", VoidT())

    def concat(self, e: A.Expr, scope: Scope) -> tuple[str, int]:
        """A list `{a, b}` or a header/struct value as one bit string: (code, width)."""
        terms = self.concat_terms(e, scope)
        total = 0
        parts = []
        for code, w in reversed(terms):
            parts.append(f"({code} << {total})" if total else code)
            total += w
        return ("(" + " | ".join(reversed(parts)) + ")" if parts else "0"), total

    def ones_sum(self, e: A.Expr, scope: Scope) -> str:
        """The 16-bit ones'-complement sum of `concat(e)` without building the wide int: 2^16 = 1 (mod 0xFFFF),
        so a field at bit position p (after padding to whole words) adds field << (p % 16) to a small sum."""
        terms = self.concat_terms(e, scope)
        width = sum(w for _, w in terms)
        pos = (-width) % 16
        parts = []
        for code, w in reversed(terms):
            parts.append(f"({code} << {pos % 16})" if pos % 16 else code)
            pos += w
        return f"ones_fold({' + '.join(reversed(parts)) or '0'})"

    def concat_terms(self, e: A.Expr, scope: Scope) -> list[tuple[str, int]]:
        if isinstance(e, A.ListExpr):
            vals = [self.compile_expr(i, scope) for i in e.items]
            locs = [i.loc for i in e.items]
        else:
            v = self.compile_expr(e, scope)
            if isinstance(v.type, StructT):
                vals = [Value(f"{v.code}.{pyattr(n)}", ft) for n, ft in v.type.fields.items()]
                locs = [e.loc] * len(vals)
            else:
                vals, locs = [v], [e.loc]
        terms: list[tuple[str, int]] = []
        for v, loc in zip(vals, locs, strict=True):
            b = serial_bits(v.type)
            if isinstance(v.type, BoolT):
                terms.append((f"(1 if {v.code} else 0)", 1))
            elif b is not None:
                code = f"({v.code} & {mask(b.width):#x})" if b.signed else v.code
                terms.append((code, b.width))
            else:
                raise P4Error(loc, f"only bit<W> fields can be hashed/packed, not {v.type}")
        return terms

    def call_value_method(self, c: A.Call, obj: Value, method: str, scope: Scope, as_stmt: bool) -> Value:
        t = obj.type
        fn = self.fn
        if isinstance(t, StructT) and t.is_header:
            if method == "isValid" and not c.args:
                return Value(f"{obj.code}._v", BoolT())
            if method in ("setValid", "setInvalid") and not c.args and as_stmt:
                if not obj.lvalue:
                    raise P4Error(c.loc, f"cannot {method} a read-only header")
                return Value(f"{obj.code}._v = {method == 'setValid'}", VoidT())
        if isinstance(t, StackT) and method in ("push_front", "pop_front") and as_stmt:
            if len(c.args) != 1:
                raise P4Error(c.loc, f"{method} takes one argument")
            n = self.compile_expr(c.args[0], scope).const
            if not isinstance(n, int) or n <= 0:
                raise P4Error(c.loc, f"{method} count must be a positive compile-time integer")
            return Value(f"_{method}({obj.code}, {n}, {t.elem.pyclass})", VoidT())
        if isinstance(t, PacketT) and t.direction == "in":
            if fn.kind != "state":
                raise P4Error(c.loc, f"packet_in.{method} is only allowed in parser states")
            if method == "extract":
                if len(c.args) != 1:
                    raise P4Error(c.loc, "extract with a variable-size argument is not supported")
                h = self.compile_expr(c.args[0], scope)
                if not (isinstance(h.type, StructT) and h.type.is_header) or not h.lvalue:
                    raise P4Error(c.loc, "extract needs a writable header")
                return Value(f"ext_{h.type.pyclass}({obj.code}, {h.code})", VoidT())
            if method == "lookahead":
                if len(c.type_args) != 1 or c.args:
                    raise P4Error(c.loc, "lookahead<T>() needs one type argument")
                lt = self.resolve_type(c.type_args[0], scope)
                if not isinstance(lt, Bits) or lt.signed:
                    raise P4Error(c.loc, "lookahead is supported for bit<W> only")
                return Value(f"{obj.code}.lookahead({lt.width})", lt)
            if method == "advance":
                n = self.compile_expr(c.args[0], scope) if len(c.args) == 1 else None
                if n is None or not isinstance(n.type, (Bits, InfInt)):
                    raise P4Error(c.loc, "advance(bits) takes one integer argument")
                return Value(f"{obj.code}.advance({n.code})", VoidT())
            if method == "length":
                return Value(f"(({obj.code}.n * 8) & 0xffffffff)", Bits(32))
        if isinstance(t, PacketT) and t.direction == "out" and method == "emit":
            if len(c.args) != 1:
                raise P4Error(c.loc, "emit takes one argument")
            v = self.compile_expr(c.args[0], scope)
            lines = self.emit_lines(obj.code, v, c.loc)
            for line in lines[:-1]:
                fn.emit(line)
            return Value(lines[-1] if lines else "", VoidT())
        raise P4Error(c.loc, f"{t} has no method '{method}' (or it is not supported here)")

    def emit_lines(self, out: str, v: Value, loc: Loc) -> list[str]:
        t = v.type
        if isinstance(t, StructT) and t.is_header:
            # inline: one deparser emits a dozen headers per packet, most of them invalid
            packed, nbytes = self.header_pack[t.pyclass]
            return [f"if (_e := {v.code})._v: {out}.append(({packed}).to_bytes({nbytes}, 'big'))"]
        if isinstance(t, StackT):
            return [f"emits_{t.elem.pyclass}({out}, {v.code}.h)"]
        if isinstance(t, StructT):
            lines = []
            for n, ft in t.fields.items():
                lines.extend(self.emit_lines(out, Value(f"{v.code}.{pyattr(n)}", ft), loc))
            return lines
        raise P4Error(loc, f"emit needs a header, header stack or struct of headers, not {t}")

    def call_extern(self, c: A.Call, x: ExternSym, method: str, scope: Scope) -> Value:
        kind = x.kind
        if kind == "RegisterAction" and method == "execute":
            if len(c.args) != 1:
                raise P4Error(c.loc, "execute(index) takes one argument")
            idx = self.coerce(self.compile_expr(c.args[0], scope), x.extra["index_type"], c.args[0].loc)
            return Value(f"{x.pyname}({idx.code})", x.extra["rv_type"])
        if kind == "Hash" and method == "get":
            if len(c.args) != 1:
                raise P4Error(c.loc, "get(data) takes one argument")
            self.concat(c.args[0], scope)  # checks the operand
            # Memoised per call site on the field values (a flow hashes the same key on every packet), so a
            # hit costs a small tuple instead of building the wide concatenation.
            terms = self.concat_terms(c.args[0], scope)
            shifts, pos = [], 0
            for _code, w in reversed(terms):
                shifts.append(pos)
                pos += w
            memo = self.put_env("_HM", {})
            key = f"({', '.join(code for code, _ in terms)},)" if terms else "()"
            call = f"hash_site({memo}, _k, {x.extra['algo']!r}, {tuple(reversed(shifts))!r}, {pos}, {x.extra['width']})"
            return Value(f"(_h if (_h := {memo}.get(_k := {key})) is not None else {call})", Bits(x.extra["width"]))
        if kind == "Counter" and method == "count":
            if len(c.args) != 1:
                raise P4Error(c.loc, "count(index) takes one argument")
            idx = self.compile_expr(c.args[0], scope)
            if not isinstance(idx.type, (Bits, InfInt)):
                raise P4Error(c.loc, "counter index must be bit<W>")
            return Value(f"{x.pyname}.count({idx.code}, _plen)", VoidT())
        if kind == "DirectCounter" and method == "count":
            if self.fn.kind != "action":
                raise P4Error(c.loc, "a DirectCounter can only be counted from an action of its table")
            return Value(f"{x.pyname}.table.cur.count(_plen)", VoidT())
        if kind == "Digest" and method == "pack":
            if len(c.args) != 1:
                raise P4Error(c.loc, "pack(data) takes one argument")
            dt: StructT = x.extra["type"]
            arg = c.args[0]
            if isinstance(arg, A.ListExpr):
                if len(arg.items) != len(dt.fields):
                    raise P4Error(c.loc, f"digest {dt.name} has {len(dt.fields)} fields, got {len(arg.items)}")
                vals = [self.coerce(self.compile_expr(i, scope), ft, i.loc).code
                        for i, ft in zip(arg.items, dt.fields.values(), strict=True)]
            else:
                v = self.compile_expr(arg, scope)
                if not same_type(v.type, dt):
                    raise P4Error(c.loc, f"pack needs a {dt.name}, not {v.type}")
                vals = [f"{v.code}.{pyattr(n)}" for n in dt.fields]
            return Value(f"_DIGESTS.append(({x.pyname}, ({', '.join(vals)},)))", VoidT())
        if kind == "Mirror" and method == "emit":
            if not 1 <= len(c.args) <= 2:
                raise P4Error(c.loc, "emit(session_id[, header]) takes one or two arguments")
            sid = self.coerce(self.compile_expr(c.args[0], scope), Bits(10), c.args[0].loc)
            if len(c.args) == 1:
                return Value(f"_MIRRORS.append(({sid.code}, b''))", VoidT())
            code, width = self.concat(c.args[1], scope)
            if c.type_args:
                ht = self.resolve_type(c.type_args[0], scope)
                if not isinstance(ht, StructT) or ht.bits != width:
                    raise P4Error(c.loc, f"mirror data does not match {ht}")
            if width % 8:
                raise P4Error(c.loc, "mirror header must be a whole number of bytes")
            return Value(f"_MIRRORS.append(({sid.code}, {code}.to_bytes({width // 8}, 'big')))", VoidT())
        if kind == "Checksum":
            if method in ("add", "subtract") and len(c.args) == 1:
                self.concat(c.args[0], scope)  # checks the operand
                return Value(f"{x.pyname}.{method}_sum({self.ones_sum(c.args[0], scope)})", VoidT())
            if method == "verify" and not c.args:
                return Value(f"{x.pyname}.verify()", BoolT())
            if method == "get" and not c.args:
                return Value(f"{x.pyname}.get()", Bits(16))
            if method == "update" and len(c.args) == 1:
                self.concat(c.args[0], scope)
                return Value(f"(~{self.ones_sum(c.args[0], scope)} & 0xffff)", Bits(16))
        raise P4Error(c.loc, f"{kind} has no method '{method}' with these arguments")


def compile_program(program: A.Program) -> CompiledProgram:
    return Compiler(program).compile()
