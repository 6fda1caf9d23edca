"""Semantic checks: scopes, name resolution, types, the supported subset and the externs' signatures.

Walks the typed AST once, in source order, and raises P4Error with the original file and line for the first
thing outside the supported subset. What it learns goes into a CheckedProgram (checked.py): the annotation of
every expression and declaration, per block instance. It writes no Python: that is codegen.py's job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from ..frontend import ast as A
from ..frontend.errors import Loc, P4Error
from ..frontend.lexer import tokenize
from ..frontend.parser import Parser
from . import hash_symmetric as HS
from . import runtime as R
from .checked import (
    ROLE_TYPES,
    ROLES,
    ActionRunT,
    ActionSym,
    Annotations,
    CheckedBlock,
    CheckedProgram,
    ConstSym,
    DeclSym,
    ExternSym,
    InstanceSym,
    Param,
    PortMetadataInfo,
    RefT,
    Scope,
    TableResT,
    TableSym,
    Typed,
    TypeSym,
    VarSym,
    expr_text,
    py_ident,
)
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
    same_type,
    serial_bits,
)

SUPPORTED_EXTERNS = {"Register", "RegisterAction", "Hash", "Counter", "DirectCounter", "Digest", "Mirror",
                     "Checksum", "Meter", "DirectMeter", "ActionProfile", "ActionSelector", "Random",
                     "RegisterParam", "DirectRegister", "DirectRegisterAction", "Alpm", "Atcam",
                     "Lpf", "DirectLpf", "Wred", "DirectWred", "CRCPolynomial", "Resubmit"}
# intrinsic metadata whose effect happens outside the pipeline and is not modelled: writing them is refused
UNMODELLED_INTRINSICS = {
    "copy_to_cpu": ("ingress_intrinsic_metadata_for_tm_t", "the PRE's copy to the CPU port"),
    "capture_tstamp_on_tx": ("egress_intrinsic_metadata_for_output_port_t", "tx timestamping in the egress MAC"),
    "update_delay_on_tx": ("egress_intrinsic_metadata_for_output_port_t", "PTP delay update in the egress MAC"),
}
FLEX_PAD = "_flexible_pad"  # the padding field of a header whose @flexible fields do not fill whole bytes
PORT_METADATA_BITS = R.PORT_METADATA_BYTES * 8  # PORT_METADATA_SIZE, Tofino 1
METER_COLORS = {"GREEN": 0, "YELLOW": 1, "RED": 3}  # MeterColor_t, tofino1_base.p4
MATCH_KINDS = {"exact", "ternary", "lpm", "range"}

ExternHandler = Callable[[A.Instantiation, Scope, ExternT, list[P4Type], list[A.Expr], str, str], ExternSym]


def wrap_const(c: int, t: Bits) -> int:
    """`c` wrapped to the range of `t` (what every generated operation that can overflow does)."""
    c &= mask(t.width)
    if t.signed and c >> (t.width - 1):
        c -= 1 << t.width
    return c


def _div(a: int, b: int) -> int:
    return a // b if b else 0


_INT_OPS: dict[str, Callable[[int, int], object]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": _div, "%": lambda a, b: a % b if b else 0,
    "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}


class Checker:
    def __init__(self, program: A.Program) -> None:
        self.program = program
        self.globals = Scope()
        self.errors_list: list[str] = []
        self.top: Annotations = {}
        self.ann = self.top  # the annotations of the block instance being checked
        self.blocks: list[CheckedBlock] = []
        # What the generated function being checked will be: return/exit/next/verify depend on it.
        self.kind = "driver"  # action | control | state | regaction | driver
        self.cp_prefix = ""  # control-plane name prefix of the current block, e.g. "SwitchIngress"
        self.pipe_name = "pipe"
        # port_metadata_unpack<T>(pkt): T, and every call site (block path, loc); advance(PORT_METADATA_SIZE)'s
        # block paths (a program that only skips the phase-0 bits never reads $PORT_METADATA)
        self.port_md_type: StructT | None = None
        self.port_md_sites: list[tuple[str, Loc]] = []
        self.port_md_skips: list[str] = []
        self.cur_action: ActionSym | None = None
        self.flex_emits: list[tuple[str, str, Loc]] = []  # emits of padded @flexible headers (block path, header)
        self.resubmit_sites: list[tuple[str, Loc]] = []  # Resubmit instances (block path) and the other deparser
        self.deparser_emits: list[tuple[str, str, Loc]] = []  # externs that a resubmitted pass would have to order
        self.action_dregs: dict[int, list[tuple[ExternSym, Loc]]] = {}  # id(ActionSym) -> DirectRegisters it runs
        self.cur_register: ExternSym | None = None  # the (Direct)Register of the RegisterAction being checked

    # ------------------------------------------------------------ entry
    def check(self) -> CheckedProgram:
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
                    self.check_block(d, [d.name])
            raise P4Error(self.last_loc(), "program has no 'main' instantiation (Switch(pipe) main;)")
        roles, gress_types = self.check_main(main)
        ig_parser = roles["ingress_parser"].path[0]
        for path, loc in self.port_md_sites:
            if path.split(".")[0] != ig_parser:
                raise P4Error(loc, "port_metadata_unpack is only available in the ingress parser (phase 0)")
        for path, hname, loc in self.flex_emits:
            if path.split(".")[0] == roles["egress_deparser"].path[0]:
                raise P4Error(loc, f"header {hname} (@flexible fields, padded by the emulator) would leave the switch "
                                   "from the egress deparser: bf-p4c's packing of it is not modelled")
        ig_deparser = roles["ingress_deparser"].path[0]
        for path, loc in self.resubmit_sites:
            if path.split(".")[0] != ig_deparser:
                raise P4Error(loc, "Resubmit is only available in the ingress deparser")
        if self.resubmit_sites:
            for path, kind, loc in self.deparser_emits:
                if path.split(".")[0] == ig_deparser:
                    raise P4Error(loc, f"a {kind} beside a Resubmit in the ingress deparser is not supported by the "
                                       "emulator (what a resubmitted packet's first pass emits is not modelled)")
        reads = bool(self.port_md_sites) or not any(p.split(".")[0] == ig_parser for p in self.port_md_skips)
        port_md = PortMetadataInfo(f"{self.pipe_name}.{ig_parser}.$PORT_METADATA", self.port_md_type, reads)
        return CheckedProgram(self.program, self.top, self.blocks, roles, gress_types, self.errors_list,
                              self.pipe_name, port_md, bool(self.resubmit_sites))

    def last_loc(self) -> Loc:
        return self.program.decls[-1].loc if self.program.decls else Loc("<input>", 0)

    def define_const(self, d: A.ConstDecl, scope: Scope) -> None:
        """A `const` declaration: its value must be known at compile time."""
        t = self.resolve_type(d.type, scope)
        v = self.coerce(self.check_expr(d.value, scope), t, d.loc)
        if v.const is None:
            raise P4Error(d.loc, f"constant '{d.name}' is not a compile-time value")
        scope.define(d.name, ConstSym(v.const, t), d.loc)

    def declare_top(self, d: A.Decl) -> None:
        g = self.globals
        if isinstance(d, A.ConstDecl):
            self.define_const(d, g)
        elif isinstance(d, A.TypedefDecl):
            g.define(d.name, TypeSym(self.resolve_type(d.type, g)), d.loc)
        elif isinstance(d, (A.HeaderDecl, A.StructDecl)):
            st = StructT(d.name, {}, isinstance(d, A.HeaderDecl))
            g.define(d.name, TypeSym(st), d.loc)
            self.ann[id(d)] = st
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
            if st.is_header and st.bits % 8 and any(f.flexible for f in d.fields):
                # bf-p4c packs a header with @flexible fields (it only travels inside the switch: bridged or mirror
                # metadata) to whole bytes; the emulator keeps the declared order and pads at the end
                st.fields[FLEX_PAD] = Bits(8 - st.bits % 8)
            if st.is_header and st.bits % 8:
                raise P4Error(d.loc, f"header {d.name} is {st.bits} bits long, not a multiple of 8")
        elif isinstance(d, A.EnumDecl):
            et = EnumT(d.name, d.members)
            if d.underlying is not None:
                ut = self.resolve_type(d.underlying, g)
                if not isinstance(ut, Bits):
                    raise P4Error(d.loc, "enum underlying type must be bit<W> or int<W>")
                et.underlying = ut
                for m, e in zip(d.members, d.values, strict=True):
                    v = self.coerce(self.check_expr(e, g), ut, e.loc)
                    et.values[m] = int(v.const)  # type: ignore[call-overload]
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
            self.cp_prefix = ""
            self.check_action(d, g)
        elif isinstance(d, A.Instantiation):
            g.define(d.name, DeclSym(d), d.loc)
        else:
            raise P4Error(d.loc, f"unsupported declaration {type(d).__name__}")

    # ------------------------------------------------------------ types
    def resolve_type(self, t: A.TypeRef, scope: Scope) -> P4Type:
        if isinstance(t, A.BitsType):
            w = self.check_expr(t.width, scope)
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
            n = self.check_expr(t.size, scope)
            if not isinstance(n.const, int) or n.const <= 0:
                raise P4Error(t.loc, "header stack size must be a positive compile-time integer")
            st = StackT(elem, n.const)
            self.ann[id(t)] = st  # the generator declares its class here
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

    # ------------------------------------------------------------ main / pipeline
    def check_main(self, main: A.Instantiation) -> tuple[dict[str, CheckedBlock], dict[str, dict[str, P4Type]]]:
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
        blocks: dict[str, CheckedBlock] = {}
        for role, a in zip(ROLES, pipe.args, strict=True):
            decl = self.block_arg(a, g)
            expect_parser = role.endswith("_parser")
            if expect_parser != isinstance(decl, A.ParserDecl):
                raise P4Error(a.loc, f"{role.replace('_', ' ')} must be a {'parser' if expect_parser else 'control'}")
            block = self.check_block(decl, [decl.name])
            if len(block.params) > len(ROLES[role]):
                raise P4Error(decl.loc, f"{decl.name} has more parameters than the TNA {role} signature")
            for (_, _, t), r, p in zip(block.params, ROLES[role], decl.params, strict=False):
                self.check_role_type(r, t, p)
            blocks[role] = block
        gress_types: dict[str, dict[str, P4Type]] = {}
        for gress in ("ingress", "egress"):
            types: dict[str, P4Type] = {}
            for role in (f"{gress}_parser", gress, f"{gress}_deparser"):
                for (_, _, t), r in zip(blocks[role].params, ROLES[role], strict=False):
                    if r in ("hdr", "md"):
                        if r in types and not same_type(types[r], t):
                            raise P4Error(pipe.loc, f"{gress} blocks disagree on the {r} type: {types[r]} vs {t}")
                        types[r] = t
            gress_types[gress] = types
        return blocks, gress_types

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

    # ------------------------------------------------------------ blocks
    def check_block(self, decl: A.ParserDecl | A.ControlDecl, path: list[str]) -> CheckedBlock:
        """Check one instance of a parser/control (its own annotations: tables and externs are per instance)."""
        if decl.type_params:
            raise P4Error(decl.loc, f"generic {type(decl).__name__[:-4].lower()} '{decl.name}' is not supported")
        if decl.ctor_params:
            raise P4Error(decl.loc, f"constructor parameters of '{decl.name}' are not supported")
        saved = (self.cp_prefix, self.ann)
        block = CheckedBlock(decl, path)
        self.blocks.append(block)
        self.cp_prefix = ".".join(path)
        self.ann = block.ann
        scope = Scope(self.globals)
        for p in decl.params:
            t = self.resolve_type(p.type, scope)
            sym = VarSym(t, readonly=p.direction == "in")
            self.ann[id(p)] = sym
            block.params.append((p.direction, sym, t))
            scope.define(p.name, sym, p.loc)
        inits: list[tuple[A.VarDecl, P4Type]] = []
        for ld in decl.locals:
            if isinstance(ld, A.VarDecl):
                t = self.resolve_type(ld.type, scope)
                sym = VarSym(t)
                self.ann[id(ld)] = sym
                scope.define(ld.name, sym, ld.loc)
                inits.append((ld, t))
            elif isinstance(ld, A.ConstDecl):
                self.define_const(ld, scope)
            elif isinstance(ld, A.ActionDecl):
                self.check_action(ld, scope)
            elif isinstance(ld, A.TableDecl):
                self.check_table(ld, scope)
            elif isinstance(ld, A.Instantiation):
                self.check_instantiation(ld, scope, path)
            elif isinstance(ld, A.ValueSetDecl):
                self.check_value_set(ld, scope)
            else:
                raise P4Error(ld.loc, f"unsupported declaration inside {decl.name}")
        self.kind = "control"  # the block's function: variable initialisers and the apply body
        for vd, t in inits:
            if vd.init is None:
                continue
            if isinstance(t, (StructT, StackT)):
                self.assign_to(Typed(t, lvalue=True), vd.init, scope, vd.loc)
            else:
                self.coerce(self.check_expr(vd.init, scope), t, vd.loc)
        if isinstance(decl, A.ParserDecl):
            self.check_states(decl, scope)
            self.kind = "control"
        else:
            self.check_block_stmt(decl.apply, scope)
        self.cp_prefix, self.ann = saved
        return block

    def check_states(self, decl: A.ParserDecl, scope: Scope) -> None:
        names: set[str] = set()
        for st in decl.states:
            if st.name in names or st.name in ("accept", "reject"):
                raise P4Error(st.loc, f"state '{st.name}' declared twice")
            names.add(st.name)
        if "start" not in names:
            raise P4Error(decl.loc, f"parser {decl.name} has no start state")
        for st in decl.states:
            self.kind = "state"
            sscope = Scope(scope)
            for s in st.stmts:
                self.check_stmt(s, sscope)
            tr = st.transition
            if tr is None:
                pass
            elif tr.select is None:
                self.check_goto(tr.state, names, tr.loc)  # type: ignore[arg-type]
            else:
                self.check_select(tr, sscope, names)

    @staticmethod
    def check_goto(state: str, names: set[str], loc: Loc) -> None:
        if state not in ("accept", "reject") and state not in names:
            raise P4Error(loc, f"unknown parser state '{state}'")

    def check_value_set(self, d: A.ValueSetDecl, scope: Scope) -> ExternSym:
        """`value_set<T>(size)`: T is bit<W> or a struct of bit<W> fields (one ternary key field each)."""
        t = self.resolve_type(d.type, scope)
        if isinstance(t, Bits) and not t.signed:
            fields = [("f1", t.width)]  # as bf-p4c names the key of a value_set<bit<W>>
        elif isinstance(t, StructT) and not t.is_header and all(
                isinstance(f, Bits) and not f.signed for f in t.fields.values()):
            fields = [(n, f.width) for n, f in t.fields.items()]  # type: ignore[attr-defined]
        else:
            raise P4Error(d.loc, f"value_set<{t}>: the type must be bit<W> or a struct of bit<W> fields")
        size = self.const_u(d.size, scope, "value_set size", positive=True)
        qual = f"{self.pipe_name}.{self.cp_prefix}.{d.name}"
        sym = ExternSym("ValueSet", ExternT("value_set", [t]), qual, f"{self.cp_prefix}.{d.name}",
                        {"fields": fields, "size": size})
        self.ann[id(d)] = sym
        scope.define(d.name, sym, d.loc)
        return sym

    def check_select(self, tr: A.Transition, scope: Scope, names: set[str]) -> None:
        sel: list[P4Type] = []
        for e in tr.select or []:
            v = self.check_expr(e, scope)
            t = Bits(1) if isinstance(v.type, BoolT) else v.type
            if not isinstance(t, (Bits, EnumT)):
                raise P4Error(e.loc, f"select expression must be bit<W>, not {t}")
            sel.append(t)
        for case in tr.cases:
            vs = scope.lookup(case.keyset[0].name) if len(case.keyset) == 1 and isinstance(case.keyset[0], A.Name) \
                else None
            if isinstance(vs, ExternSym) and vs.kind == "ValueSet":  # the whole select against the value set
                widths = [w for _, w in vs.extra["fields"]]  # type: ignore[attr-defined]
                if [t.width if isinstance(t, Bits) else -1 for t in sel] != widths:
                    raise P4Error(case.loc, f"value set {vs.cpq} has fields of {widths} bits; the select has "
                                            f"{', '.join(str(t) for t in sel)}")
                self.ann[id(case)] = vs
                self.check_goto(case.state, names, case.loc)
                continue
            if len(case.keyset) == 1 and isinstance(case.keyset[0], A.Default):
                items: list[A.Expr] = [case.keyset[0]] * len(sel)
            else:
                items = case.keyset
            if len(items) != len(sel):
                raise P4Error(case.loc, f"keyset has {len(items)} values but select has {len(sel)}")
            for item, t in zip(items, sel, strict=True):
                self.check_keyset(item, t, scope)
            self.check_goto(case.state, names, case.loc)

    def check_keyset(self, item: A.Expr, t: P4Type, scope: Scope) -> None:
        if isinstance(item, A.Default):
            return
        if isinstance(item, A.Mask):
            self.const_of(item.value, t, scope)
            self.const_of(item.mask, t, scope)
        elif isinstance(item, A.Range):
            self.const_of(item.low, t, scope)
            self.const_of(item.high, t, scope)
        else:
            self.const_of(item, t, scope)

    def const_of(self, e: A.Expr, t: P4Type, scope: Scope) -> int:
        v = self.coerce(self.check_expr(e, scope), t, e.loc)
        if v.const is None:
            raise P4Error(e.loc, "keyset values must be compile-time constants")
        return int(cast(int, v.const))

    # ------------------------------------------------------------ actions
    @staticmethod
    def reject_renames(anns: list[A.Annotation], what: str, loc: Loc) -> None:
        # bf-p4c renames control-plane objects with @name; silently keeping our name would break clients.
        if any(a.name == "name" for a in anns):
            raise P4Error(loc, f"@name on {what} is not supported by the emulator")

    def check_algo_table(self, d: A.TableDecl, keys: list[R.KeyInfo], ref: A.Expr | None, scope: Scope) -> None:
        """Alpm / Atcam implementations: the SDE lays the entries out in partitions, the lookup stays longest-prefix
        (Alpm) / ternary within the entry's partition (Atcam: the atcam_partition_index key, matched exactly)."""
        partition = [k for k in keys if k.bfrt_match == "ATCAM"]
        kind = ""
        if ref is not None:
            algo = self.lookup_ref(ref, scope)
            if not (isinstance(algo, ExternSym) and algo.kind in ("Alpm", "Atcam")):
                raise P4Error(ref.loc, "'alpm' / 'atcam' must name an Alpm / Atcam")
            kind = algo.kind
        alpm_keys_ok = [k.match_kind for k in keys].count("lpm") == 1 and all(
            k.match_kind in ("exact", "lpm") and not k.bfrt_match for k in keys)
        if kind == "Alpm" and not alpm_keys_ok:
            raise P4Error(d.loc, f"table {d.name}: an Alpm table needs one lpm key and exact keys besides")
        if kind == "Atcam":
            if len(partition) != 1:
                raise P4Error(d.loc, f"table {d.name}: an Atcam table needs one atcam_partition_index key")
            if any(k.match_kind == "range" for k in keys):
                raise P4Error(d.loc, f"table {d.name}: range keys in an Atcam table are not supported")
        elif partition:
            raise P4Error(d.loc, f"table {d.name}: an atcam_partition_index key needs 'atcam = <Atcam>'")

    @staticmethod
    def dynamic_key_masks(d: A.TableDecl, keys: list[R.KeyInfo], hashed_or_algo: bool) -> bool:
        """`@dynamic_table_key_masks(v)`, as bf-p4c reads it: a constant value; 1 gives the table the DynamicKeyMask
        attribute (bf-rt.json), any other value leaves it out (bf-p4c warns); only an exact-match table may carry
        it (not ternary, lpm, range, ALPM/ATCAM or proxy hash: bf-p4c's table_layout error)."""
        ann = next((a for a in d.annotations if a.name == "dynamic_table_key_masks"), None)
        if ann is None:
            return False
        if len(ann.args) != 1 or not isinstance(ann.args[0], A.IntConst):
            raise P4Error(ann.loc, f"table {d.name}: @dynamic_table_key_masks needs one constant value (1 enables "
                                   "the masks)")
        exact = all(k.match_kind == "exact" and not k.bfrt_match for k in keys) and not hashed_or_algo
        if not exact:
            raise P4Error(ann.loc, f"table {d.name}: @dynamic_table_key_masks is only permitted on exact-match "
                                   "tables")
        return ann.args[0].value == 1

    def filter_type(self, d: A.Instantiation, t: P4Type) -> int:
        if not isinstance(t, Bits) or t.signed:
            raise P4Error(d.loc, f"{d.type.name}'s value type must be bit<W>, not {t}")  # type: ignore[attr-defined]
        return t.width

    def inst_Lpf(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                 args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (1,), targs, 2)
        return ExternSym("Lpf", et, qual, cpq, {"width": self.filter_type(d, targs[0]), "index_type": targs[1],
                                                "size": self.const_u(args[0], scope, "Lpf size", positive=True)})

    def inst_DirectLpf(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                       args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (0,), targs, 1)
        return ExternSym("DirectLpf", et, qual, cpq, {"width": self.filter_type(d, targs[0]), "table": ""})

    def inst_Wred(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                  args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (3,), targs, 2)
        return ExternSym("Wred", et, qual, cpq, {
            "width": self.filter_type(d, targs[0]), "index_type": targs[1],
            "size": self.const_u(args[0], scope, "Wred size", positive=True),
            "drop": self.const_u(args[1], scope, "drop_value", 8), "no_drop": self.const_u(args[2], scope,
                                                                                           "no_drop_value", 8)})

    def inst_DirectWred(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                        args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (2,), targs, 1)
        return ExternSym("DirectWred", et, qual, cpq, {
            "width": self.filter_type(d, targs[0]), "table": "",
            "drop": self.const_u(args[0], scope, "drop_value", 8), "no_drop": self.const_u(args[1], scope,
                                                                                           "no_drop_value", 8)})

    def inst_CRCPolynomial(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                           args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (6,), targs, 1)
        t = targs[0]
        if not isinstance(t, Bits) or t.signed or not 1 <= t.width <= 64:
            raise P4Error(d.loc, f"CRCPolynomial's type must be bit<W>, W at most 64, not {t}")
        w = t.width
        coeff, init, xor = (self.const_of(a, t, scope) for a in (args[0], args[4], args[5]))
        flags = []
        for a, what in zip(args[1:4], ("reversed", "msb", "extended"), strict=True):
            v = self.check_expr(a, scope)
            if not isinstance(v.const, bool):
                raise P4Error(a.loc, f"CRCPolynomial's {what} must be a compile-time bool")
            flags.append(v.const)
        if not coeff & 1:  # bf-utils verify_algorithm: "polynomial must be odd"
            raise P4Error(args[0].loc, f"CRCPolynomial coefficient {coeff:#x} must be odd (as bf-p4c requires)")
        params: R.CrcParams = (w, coeff, flags[0], flags[1], flags[2], init, xor)
        return ExternSym("CRCPolynomial", et, qual, cpq, {"params": params})

    def inst_Alpm(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                  args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (0, 1, 2, 3, 4), targs, 0)
        what = ("number_partitions", "subtrees_per_partition", "atcam_subset_width", "shift_granularity")
        return ExternSym("Alpm", et, qual, cpq, {w: self.const_u(a, scope, w) for w, a in zip(what, args,
                                                                                              strict=False)})

    def inst_Atcam(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                   args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (0, 1), targs, 0)
        return ExternSym("Atcam", et, qual, cpq, {"number_partitions": self.const_u(args[0], scope, "partitions")
                                                  if args else 1024})

    def check_action(self, d: A.ActionDecl, scope: Scope) -> ActionSym:
        self.reject_renames(d.annotations, f"action {d.name}", d.loc)
        ascope = Scope(scope)
        params: list[tuple[str, str, P4Type]] = []
        for p in d.params:
            t = self.resolve_type(p.type, ascope)
            if not isinstance(t, (Bits, BoolT)) and p.direction == "":
                raise P4Error(p.loc, f"action data parameter '{p.name}' must be bit<W> or bool, not {t}")
            if isinstance(t, (StructT, StackT, ExternT, PacketT)):
                raise P4Error(p.loc, f"action parameter '{p.name}' of type {t} is not supported")
            params.append((p.direction, p.name, t))
            psym = VarSym(t, readonly=p.direction == "in")
            self.ann[id(p)] = psym
            ascope.define(p.name, psym, p.loc)
        cp_name = f"{self.cp_prefix}.{d.name}" if self.cp_prefix else d.name
        sym = ActionSym(d, cp_name, params)
        self.ann[id(d)] = sym
        scope.define(d.name, sym, d.loc)
        saved = self.kind, self.cur_action
        self.kind, self.cur_action = "action", sym
        self.check_block_stmt(d.body, ascope)
        self.kind, self.cur_action = saved
        return sym

    # ------------------------------------------------------------ tables
    def check_table(self, d: A.TableDecl, scope: Scope) -> TableSym:
        self.reject_renames(d.annotations, f"table {d.name}", d.loc)
        qual = f"{self.pipe_name}.{self.cp_prefix}.{d.name}"
        keys: list[R.KeyInfo] = []
        selector_keys: list[A.Expr] = []
        for k in d.keys:
            if k.match_kind == "selector":
                self.concat_width(k.expr, scope)
                selector_keys.append(k.expr)
                continue
            if k.match_kind not in MATCH_KINDS and k.match_kind != "atcam_partition_index":
                raise P4Error(k.loc, f"match kind '{k.match_kind}' is not supported (exact, ternary, lpm, range, "
                                     "atcam_partition_index)")
            v = self.check_expr(k.expr, scope)
            if isinstance(v.type, BoolT):
                width = 1
            elif isinstance(v.type, Bits):
                width = v.type.width
            elif isinstance(v.type, EnumT) and v.type.underlying is not None:
                width = v.type.underlying.width
            else:
                raise P4Error(k.loc, f"table key must be bit<W>, bool or a serializable enum, not {v.type}")
            kname = expr_text(k.expr)
            for ann in k.annotations:
                if ann.name == "name" and ann.args and isinstance(ann.args[0], A.StringConst):
                    kname = ann.args[0].value
            if k.match_kind == "atcam_partition_index":  # an ATCAM entry matches its own partition only
                keys.append(R.KeyInfo(kname, "exact", width, "ATCAM"))
            else:
                keys.append(R.KeyInfo(kname, k.match_kind, width))
        if sum(k.match_kind == "lpm" for k in keys) > 1:
            raise P4Error(d.loc, f"table {d.name} has more than one lpm key")
        actions: dict[str, ActionSym] = {}
        infos: list[R.ActionInfo] = []
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
                elif ann.name == "tableonly":
                    scope_name = "TableOnly"
            actions[ref.name.lstrip(".")] = sym
            widths = [(n, t.width if isinstance(t, Bits) else 1) for _, n, t in sym.params]
            infos.append(R.ActionInfo(sym.cp_name, None, widths, scope_name))
        size = 512
        if d.size is not None:
            sv = self.check_expr(d.size, scope)
            if not isinstance(sv.const, int) or sv.const <= 0:
                raise P4Error(d.size.loc, "table size must be a positive compile-time integer")
            size = sv.const
        counter: ExternSym | None = None
        if d.counters is not None:
            cs = self.lookup_ref(d.counters, scope)
            if not (isinstance(cs, ExternSym) and cs.kind == "DirectCounter"):
                raise P4Error(d.counters.loc, "'counters' must name a DirectCounter")
            if cs.extra.get("table"):
                raise P4Error(d.counters.loc, "a DirectCounter can be attached to one table only")
            cs.extra["table"] = qual
            counter = cs
        meter: ExternSym | None = None
        if d.meters is not None:
            ms = self.lookup_ref(d.meters, scope)
            if not (isinstance(ms, ExternSym) and ms.kind == "DirectMeter"):
                raise P4Error(d.meters.loc, "'meters' must name a DirectMeter")
            if ms.extra.get("table"):
                raise P4Error(d.meters.loc, "a DirectMeter can be attached to one table only")
            ms.extra["table"] = qual
            meter = ms
        dreg: ExternSym | None = None
        if d.registers is not None:
            rs = self.lookup_ref(d.registers, scope)
            if not (isinstance(rs, ExternSym) and rs.kind == "DirectRegister"):
                raise P4Error(d.registers.loc, "'registers' must name a DirectRegister")
            if rs.extra.get("table"):
                raise P4Error(d.registers.loc, "a DirectRegister can be attached to one table only")
            rs.extra["table"] = qual
            dreg = rs
        proxy: ExternSym | None = None
        if d.proxy_hash is not None:
            ph = d.proxy_hash
            if not (isinstance(ph.type, A.NamedType) and ph.type.name == "Hash"):
                raise P4Error(ph.loc, "'proxy_hash' must be a Hash<bit<W>>(...) instance")
            if any(k.match_kind != "exact" or k.bfrt_match for k in keys):
                raise P4Error(d.loc, f"table {d.name}: a proxy_hash table matches exact keys only")
            et = self.resolve_type(ph.type, scope)
            assert isinstance(et, ExternT)
            hdecl = self.globals.lookup("Hash")
            assert isinstance(hdecl, DeclSym) and isinstance(hdecl.decl, A.ExternDecl)
            ph.args[:] = self.positional_args(ph.args, hdecl.decl, "Hash", ph.loc)
            proxy = self.inst_Hash(ph, scope, et, et.args, ph.args, f"{qual}.$proxy_hash", ph.name)
            if proxy.extra["algo"] == "IDENTITY":
                raise P4Error(ph.loc, f"table {d.name}: an IDENTITY proxy hash is not supported by the emulator")
        dfilter: ExternSym | None = None
        if d.filters is not None:
            fs = self.lookup_ref(d.filters, scope)
            if not (isinstance(fs, ExternSym) and fs.kind in ("Lpf", "Wred", "DirectLpf", "DirectWred")):
                raise P4Error(d.filters.loc, "'filters' must name an Lpf, Wred, DirectLpf or DirectWred")
            if fs.kind.startswith("Direct"):
                if fs.extra.get("table"):
                    raise P4Error(d.filters.loc, f"a {fs.kind} can be attached to one table only")
                fs.extra["table"] = qual
                dfilter = fs
        for act in actions.values():
            for rs2, loc in self.action_dregs.get(id(act), []):
                if rs2 is not dreg and rs2 is not dfilter:
                    what = "DirectRegisterAction of" if rs2.kind == "DirectRegister" else rs2.kind
                    prop = "registers" if rs2.kind == "DirectRegister" else "filters"
                    raise P4Error(loc, f"action {act.cp_name} of table {d.name} executes a {what} "
                                       f"{rs2.cpq}, which is not the table's '{prop}'")
        impl: ExternSym | None = None
        algo_ref = d.algo
        named = self.lookup_ref(d.implementation, scope) if d.implementation is not None else None
        if isinstance(named, ExternSym) and named.kind in ("Alpm", "Atcam"):
            algo_ref = d.implementation
        self.check_algo_table(d, keys, algo_ref, scope)
        if d.implementation is not None and algo_ref is not d.implementation:
            impl_sym = self.lookup_ref(d.implementation, scope)
            if not (isinstance(impl_sym, ExternSym) and impl_sym.kind in ("ActionProfile", "ActionSelector")):
                raise P4Error(d.implementation.loc, "'implementation' must name an ActionProfile or ActionSelector")
            impl = impl_sym
            if d.entries is not None:
                raise P4Error(d.loc, f"table {d.name}: const entries in a table with an action profile are not "
                                     "supported by the emulator")
        if selector_keys and (impl is None or impl.kind != "ActionSelector"):
            raise P4Error(d.loc, f"table {d.name}: 'selector' keys need 'implementation = <ActionSelector>'")
        if impl is not None and impl.kind == "ActionSelector" and not selector_keys:
            raise P4Error(d.loc, f"table {d.name}: a table with an ActionSelector needs 'selector' keys "
                                 "(the selector's hash input)")
        default_ref = d.default_action
        default_args: tuple[int, ...] = ()
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
        const_entries: list[tuple[list[object], str, tuple[int, ...], int]] = []
        for i, ce in enumerate(d.entries or []):
            items = ce.keyset
            if len(items) == 1 and isinstance(items[0], A.Default) and len(keys) != 1:
                items = items * len(keys)
            if len(items) != len(keys):
                raise P4Error(ce.loc, f"entry has {len(items)} key values but table has {len(keys)} keys")
            spec = [self.const_key(item, k, scope) for item, k in zip(items, keys, strict=True)]
            asym = actions.get(ce.action.name.lstrip("."))
            if asym is None:
                raise P4Error(ce.action.loc, f"entry action '{ce.action.name}' is not in the actions list")
            args = self.action_const_args(asym, ce.action, scope)
            const_entries.append((spec, asym.cp_name, args, ce.priority if ce.priority is not None else i))
        tsym = TableSym(d, qual, keys, infos, actions, size, counter, default_name, default_args, const_entries,
                        meter=meter, impl=impl, selector_keys=selector_keys, dreg=dreg, dfilter=dfilter,
                        proxy=proxy, idle_timeout=d.idle_timeout,
                        key_masks=self.dynamic_key_masks(d, keys, proxy is not None or algo_ref is not None))
        if impl is not None:
            profile = impl.extra["profile"] if impl.kind == "ActionSelector" else impl
            assert isinstance(profile, ExternSym)
            prof_actions: dict[str, tuple[ActionSym, list[tuple[str, int]]]] = profile.extra["actions"]  # type: ignore[assignment]
            for a in infos:
                sym_a = next(x for x in actions.values() if x.cp_name == a.name)
                prof_actions.setdefault(a.name, (sym_a, list(a.params)))
            profile.extra["tables"].append(qual)  # type: ignore[attr-defined]
        self.ann[id(d)] = tsym
        scope.define(d.name, tsym, d.loc)
        return tsym

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

    def action_const_args(self, sym: ActionSym, ref: A.ActionRef, scope: Scope) -> tuple[int, ...]:
        if len(ref.args) != len(sym.params):
            raise P4Error(ref.loc, f"action {ref.name} takes {len(sym.params)} arguments, {len(ref.args)} given")
        out = []
        for (_, pname, t), a in zip(sym.params, ref.args, strict=True):
            v = self.coerce(self.check_expr(a, scope), t, a.loc)
            if v.const is None:
                raise P4Error(a.loc, f"argument '{pname}' must be a compile-time constant here")
            out.append(int(v.const))  # type: ignore[call-overload]
        return tuple(out)

    # ------------------------------------------------------------ instantiations
    def check_instantiation(self, d: A.Instantiation, scope: Scope, path: list[str]) -> object:
        if not isinstance(d.type, A.NamedType):
            raise P4Error(d.loc, "unsupported instantiation")
        tname = d.type.name
        sym = scope.lookup(tname)
        if isinstance(sym, DeclSym) and isinstance(sym.decl, (A.ParserDecl, A.ControlDecl)):
            if d.args:
                raise P4Error(d.loc, "constructor arguments for parser/control instances are not supported")
            HS.refuse_symmetric(d)
            saved_kind = self.kind
            block = self.check_block(sym.decl, [*path, d.name])
            self.kind = saved_kind
            inst = InstanceSym(sym.decl, block)
            self.ann[id(d)] = inst
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
        if tname != "Hash":
            HS.refuse_symmetric(d)
        d.args[:] = self.positional_args(d.args, sym.decl, tname, d.loc)
        handler: ExternHandler = getattr(self, f"inst_{tname}")
        esym = handler(d, scope, et, targs, d.args, qual, cpq)
        self.ann[id(d)] = esym
        scope.define(d.name, esym, d.loc)
        return esym

    def positional_args(self, args: list[A.Expr], decl: A.ExternDecl, method: str, loc: Loc) -> list[A.Expr]:
        """`args` in declaration order: named arguments (`size = 1024`) are matched by name against the
        overloads of `method` (the extern's name for its constructor) declared in tna.p4; an @optional
        parameter left out must come after every given one."""
        named = [a for a in args if isinstance(a, A.NamedArg)]
        if not named:
            return args
        if len(named) != len(args):
            raise P4Error(loc, "named and positional arguments cannot be mixed")
        given = {a.name: a.value for a in named if isinstance(a, A.NamedArg)}
        if len(given) != len(named):
            raise P4Error(loc, "an argument is named twice")
        for m in decl.methods:
            if m.name != method:
                continue
            pnames = [p.name for p in m.params]
            if not set(given) <= set(pnames):
                continue
            out: list[A.Expr] = []
            missing = False
            for p in m.params:
                if p.name in given:
                    if missing:
                        break
                    out.append(given[p.name])
                elif any(a.name == "optional" for a in p.annotations):
                    missing = True
                else:
                    break
            else:
                return out
        raise P4Error(loc, f"{decl.name}.{method} has no overload with the parameters {', '.join(given)}")

    def want_args(self, d: A.Instantiation, n: tuple[int, ...], targs: list[P4Type], nt: int) -> None:
        if len(d.args) not in n:
            raise P4Error(d.loc, f"{d.type.name}: wrong number of constructor arguments")  # type: ignore[attr-defined]
        if len(targs) != nt:
            raise P4Error(d.loc, f"{d.type.name} needs {nt} type argument(s)")  # type: ignore[attr-defined]

    def enum_arg(self, e: A.Expr, scope: Scope, enum: str) -> str:
        v = self.check_expr(e, scope)
        if not (isinstance(v.type, EnumT) and v.type.name == enum):
            raise P4Error(e.loc, f"expected a {enum} value")
        return next(m for m, i in v.type.values.items() if i == v.const)

    def register_fields(self, t: P4Type, loc: Loc) -> list[tuple[str, int]]:
        if isinstance(t, Bits):
            return [("f1", t.width)]
        if isinstance(t, StructT) and not t.is_header and all(isinstance(f, Bits) for f in t.fields.values()):
            return [(n, f.width) for n, f in t.fields.items()]  # type: ignore[attr-defined]
        raise P4Error(loc, f"register value type must be bit<W> or a struct of bit<W>, not {t}")

    def register_initial(self, arg: A.Expr, t: P4Type, scope: Scope) -> tuple[int, ...]:
        if isinstance(arg, A.ListExpr) and isinstance(t, StructT):
            return tuple(self.const_of(a, ft, scope) for a, ft in zip(arg.items, t.fields.values(), strict=True))
        return (self.const_of(arg, t, scope),)

    def inst_Register(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                      args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (1, 2), targs, 2)
        t, it = targs
        size = self.check_expr(args[0], scope)
        if not isinstance(size.const, int) or size.const <= 0:
            raise P4Error(args[0].loc, "register size must be a positive compile-time integer")
        fields = self.register_fields(t, d.loc)
        if not isinstance(it, Bits):
            raise P4Error(d.loc, "register index type must be bit<W>")
        initial = self.register_initial(args[1], t, scope) if len(args) == 2 else ()
        return ExternSym("Register", et, qual, cpq, {"value_type": t, "index_type": it, "size": size.const,
                                                     "fields": fields, "initial": initial})

    def inst_DirectRegister(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                            args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        """One cell per entry of the table naming it with `registers =`."""
        self.want_args(d, (0, 1), targs, 1)
        t = targs[0]
        fields = self.register_fields(t, d.loc)
        initial = self.register_initial(args[0], t, scope) if args else ()
        return ExternSym("DirectRegister", et, qual, cpq, {"value_type": t, "fields": fields, "initial": initial,
                                                           "table": ""})

    def inst_RegisterParam(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                           args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        """A run-time parameter (BF Runtime table of one value) that RegisterActions read."""
        self.want_args(d, (1,), targs, 1)
        t = targs[0]
        if not isinstance(t, Bits) or t.signed:
            raise P4Error(d.loc, f"RegisterParam's type must be bit<W>, not {t}")
        initial = self.const_of(args[0], t, scope)
        return ExternSym("RegisterParam", et, qual, cpq, {"width": t.width, "initial": initial, "registers": []})

    def inst_RegisterAction(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                            args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (1,), targs, 3)
        t, _it, u = targs
        rsym = self.lookup_ref(args[0], scope)
        if not (isinstance(rsym, ExternSym) and rsym.kind == "Register"):
            raise P4Error(args[0].loc, "RegisterAction argument must be a Register")
        ap = self.check_register_apply(d, rsym, t, u, scope)
        return ExternSym("RegisterAction", et, qual, cpq, {"rv_type": u, "index_type": rsym.extra["index_type"],
                                                           "register": rsym, "apply": ap})

    def inst_DirectRegisterAction(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                                  args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (1,), targs, 2)
        t, u = targs
        rsym = self.lookup_ref(args[0], scope)
        if not (isinstance(rsym, ExternSym) and rsym.kind == "DirectRegister"):
            raise P4Error(args[0].loc, "DirectRegisterAction argument must be a DirectRegister")
        ap = self.check_register_apply(d, rsym, t, u, scope)
        return ExternSym("DirectRegisterAction", et, qual, cpq, {"rv_type": u, "register": rsym, "apply": ap})

    def check_register_apply(self, d: A.Instantiation, rsym: ExternSym, t: P4Type, u: P4Type,
                             scope: Scope) -> A.FunctionDecl:
        kind = d.type.name  # type: ignore[attr-defined]
        if not same_type(rsym.extra["value_type"], t):  # type: ignore[arg-type]
            raise P4Error(d.loc, f"{kind} value type {t} differs from the register's")
        applies = [f for f in d.initializer if f.name == "apply"]
        if len(applies) != 1 or len(d.initializer) != 1:
            raise P4Error(d.loc, f"{kind} needs exactly one 'apply' function")
        ap = applies[0]
        if not 1 <= len(ap.params) <= 2:
            raise P4Error(ap.loc, f"{kind} apply takes (inout T value[, out U rv])")
        rscope = Scope(scope)
        value = VarSym(t)
        self.ann[id(ap.params[0])] = value
        rscope.define(ap.params[0].name, value, ap.params[0].loc)
        if len(ap.params) == 2:
            ut = self.resolve_type(ap.params[1].type, rscope)
            if not same_type(ut, u):
                raise P4Error(ap.params[1].loc, f"rv type {ut} differs from the {kind}'s {u}")
            rv = VarSym(u)
            self.ann[id(ap.params[1])] = rv
            rscope.define(ap.params[1].name, rv, ap.params[1].loc)
        saved = self.kind, self.cur_register
        self.kind, self.cur_register = "regaction", rsym
        self.check_block_stmt(ap.body, rscope)
        self.kind, self.cur_register = saved
        return ap

    def inst_Hash(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                  args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (1, 2), targs, 1)
        if not isinstance(targs[0], Bits):
            raise P4Error(d.loc, "Hash output type must be bit<W>")
        algo_name = self.enum_arg(args[0], scope, "HashAlgorithm_t")
        algo: str | R.CrcParams = algo_name
        if algo_name not in ("CRC8", "CRC16", "CRC32", "CRC64", "IDENTITY", "CUSTOM"):
            raise P4Error(args[0].loc, f"hash algorithm {algo_name} is not supported (CRC8, CRC16, CRC32, CRC64, "
                                       "IDENTITY, CUSTOM with a CRCPolynomial)")
        if (algo_name == "CUSTOM") != (len(args) == 2):
            raise P4Error(d.loc, "a CRCPolynomial goes with HashAlgorithm_t.CUSTOM, and CUSTOM needs one")
        if len(args) == 2:
            poly = self.lookup_ref(args[1], scope)
            if not (isinstance(poly, ExternSym) and poly.kind == "CRCPolynomial"):
                raise P4Error(args[1].loc, "Hash's second argument must be a CRCPolynomial")
            algo = poly.extra["params"]  # type: ignore[assignment]
        return ExternSym("Hash", et, qual, cpq, {"algo": algo, "width": targs[0].width,
                                                 "symmetric": HS.declared_pairs(d), "sym_sites": {}})

    def inst_Counter(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                     args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (2,), targs, 2)
        size = self.check_expr(args[0], scope)
        if not isinstance(size.const, int) or size.const <= 0:
            raise P4Error(args[0].loc, "counter size must be a positive compile-time integer")
        kind = self.enum_arg(args[1], scope, "CounterType_t")
        return ExternSym("Counter", et, qual, cpq, {"size": size.const, "kind": kind})

    def inst_DirectCounter(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                           args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (1,), targs, 1)
        kind = self.enum_arg(args[0], scope, "CounterType_t")
        return ExternSym("DirectCounter", et, qual, cpq, {"kind": kind})

    def inst_Digest(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                    args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.deparser_emits.append((self.cp_prefix, "Digest", d.loc))
        self.want_args(d, (0,), targs, 1)
        t = targs[0]
        if not (isinstance(t, StructT) and all(isinstance(f, Bits) for f in t.fields.values())):
            raise P4Error(d.loc, "Digest type must be a struct of bit<W> fields")
        fields = [(n, f.width) for n, f in t.fields.items()]  # type: ignore[attr-defined]
        return ExternSym("Digest", et, qual, cpq, {"type": t, "fields": fields})

    def inst_Mirror(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                    args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (0, 1), targs, 0)
        self.deparser_emits.append((self.cp_prefix, "Mirror", d.loc))
        return ExternSym("Mirror", et, qual, cpq)

    def inst_Resubmit(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                      args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (0, 1), targs, 0)
        self.resubmit_sites.append((self.cp_prefix, d.loc))
        rtype = self.const_u(args[0], scope, "resubmit type", 3) if args else None
        return ExternSym("Resubmit", et, qual, cpq, {"type": rtype})

    def const_u(self, e: A.Expr, scope: Scope, what: str, width: int = 32, positive: bool = False) -> int:
        v = self.check_expr(e, scope)
        if not isinstance(v.const, int) or isinstance(v.const, bool) or not 0 <= v.const < (1 << width) \
                or (positive and v.const <= 0):
            raise P4Error(e.loc, f"{what} must be a {'positive ' if positive else ''}compile-time integer "
                                 f"that fits in {width} bits")
        return v.const

    def meter_colors(self, args: list[A.Expr], scope: Scope) -> dict[int, int]:
        """MeterColor_t code -> the value execute() returns: the constructor's (red, yellow, green) or the codes."""
        if not args:
            return {c: c for c in METER_COLORS.values()}
        red, yellow, green = (self.const_u(a, scope, "a meter colour value", 8) for a in args)
        return {METER_COLORS["RED"]: red, METER_COLORS["YELLOW"]: yellow, METER_COLORS["GREEN"]: green}

    def inst_Meter(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                   args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (2, 5), targs, 1)
        if not isinstance(targs[0], Bits):
            raise P4Error(d.loc, "Meter index type must be bit<W>")
        size = self.const_u(args[0], scope, "meter size", positive=True)
        unit = self.enum_arg(args[1], scope, "MeterType_t")
        return ExternSym("Meter", et, qual, cpq, {"size": size, "unit": unit, "index_type": targs[0],
                                                  "colors": self.meter_colors(args[2:], scope)})

    def inst_DirectMeter(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                         args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (1, 4), targs, 0)
        unit = self.enum_arg(args[0], scope, "MeterType_t")
        return ExternSym("DirectMeter", et, qual, cpq, {"unit": unit, "colors": self.meter_colors(args[1:], scope)})

    def inst_ActionProfile(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                           args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (1,), targs, 0)
        size = self.const_u(args[0], scope, "action profile size", positive=True)
        return ExternSym("ActionProfile", et, qual, cpq, {"size": size, "actions": {}, "tables": []})

    def inst_ActionSelector(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                            args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (3, 4, 5, 6), targs, 0)
        if len(args) in (3, 4):
            raise P4Error(d.loc, "ActionSelector(size, hash, mode) without an ActionProfile is deprecated TNA and "
                                 "not supported by the emulator: declare an ActionProfile and pass it first")
        if len(args) == 6:
            raise P4Error(args[3].loc, "an ActionSelector with a member-status Register is not supported by the "
                                       "emulator (the data plane does not change member status)")
        prof = self.lookup_ref(args[0], scope)
        if not (isinstance(prof, ExternSym) and prof.kind == "ActionProfile"):
            raise P4Error(args[0].loc, "ActionSelector's first argument must be an ActionProfile")
        h = self.lookup_ref(args[1], scope)
        if not (isinstance(h, ExternSym) and h.kind == "Hash"):
            raise P4Error(args[1].loc, "ActionSelector's second argument must be a Hash")
        if h.extra["symmetric"]:
            raise P4Error(args[1].loc, "a @symmetric Hash as a selector's hash is not supported by the emulator")
        mode = self.enum_arg(args[2], scope, "SelectorMode_t")
        max_group = self.const_u(args[3], scope, "max group size", positive=True)
        groups = self.const_u(args[4], scope, "number of groups", positive=True)
        return ExternSym("ActionSelector", et, qual, cpq, {"profile": prof, "hash": h, "mode": mode,
                                                           "max_group_size": max_group, "num_groups": groups})

    def inst_Random(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                    args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (0,), targs, 1)
        if not isinstance(targs[0], Bits) or targs[0].signed:
            raise P4Error(d.loc, "Random's type must be bit<W>")
        return ExternSym("Random", et, qual, cpq, {"width": targs[0].width})

    def inst_Checksum(self, d: A.Instantiation, scope: Scope, et: ExternT, targs: list[P4Type],
                      args: list[A.Expr], qual: str, cpq: str) -> ExternSym:
        self.want_args(d, (0,), targs, 0)
        return ExternSym("Checksum", et, qual, cpq)

    def lookup_ref(self, e: A.Expr, scope: Scope) -> object:
        if isinstance(e, A.Name):
            sym = scope.lookup(e.name)
            if sym is None:
                raise P4Error(e.loc, f"unknown name '{e.name}'")
            return sym
        raise P4Error(e.loc, "expected a name")

    # ------------------------------------------------------------ statements
    def check_block_stmt(self, b: A.Block, scope: Scope) -> None:
        inner = Scope(scope)
        for s in b.stmts:
            self.check_stmt(s, inner)

    def check_stmt(self, s: A.Stmt, scope: Scope) -> None:
        if isinstance(s, A.Block):
            self.check_block_stmt(s, scope)
        elif isinstance(s, A.Empty):
            pass
        elif isinstance(s, A.Assign) and isinstance(s.target, A.Slice):
            self.check_assign_slice(s.target, s.value, scope)
        elif isinstance(s, A.Assign):
            if isinstance(s.target, A.Member) and s.target.name in UNMODELLED_INTRINSICS:
                base = self.check_expr(s.target.base, scope).type
                owner, what = UNMODELLED_INTRINSICS[s.target.name]
                if isinstance(base, StructT) and base.name == owner:
                    raise P4Error(s.loc, f"{s.target.name} is not modelled by the emulator ({what})")
            self.assign_to(self.check_expr(s.target, scope), s.value, scope, s.loc)
        elif isinstance(s, A.CallStmt):
            self.check_call(s.call, scope, as_stmt=True)
        elif isinstance(s, A.If):
            c = self.check_expr(s.cond, scope)
            if not isinstance(c.type, BoolT):
                raise P4Error(s.cond.loc, f"if condition must be bool, not {c.type}")
            self.check_stmt(s.then, Scope(scope))
            if s.other is not None:
                self.check_stmt(s.other, Scope(scope))
        elif isinstance(s, A.VarDecl):
            t = self.resolve_type(s.type, scope)
            if s.is_const:
                v = self.coerce(self.check_expr(s.init, scope), t, s.loc)  # type: ignore[arg-type]
                if v.const is None:
                    raise P4Error(s.loc, f"constant '{s.name}' is not a compile-time value")
                scope.define(s.name, ConstSym(v.const, t), s.loc)
                return
            sym = VarSym(t)
            self.ann[id(s)] = sym
            scope.define(s.name, sym, s.loc)  # before the initialiser, as the generated code has it
            if isinstance(t, (StructT, StackT)):
                if s.init is not None:
                    self.assign_to(Typed(t, lvalue=True), s.init, scope, s.loc)
            elif s.init is not None:
                self.coerce(self.check_expr(s.init, scope), t, s.loc)
        elif isinstance(s, A.Switch):
            self.check_switch(s, scope)
        elif isinstance(s, A.Return):
            if self.kind == "action":
                if s.value is not None:
                    raise P4Error(s.loc, "actions cannot return a value")
            elif self.kind == "control":
                pass
            elif self.kind == "regaction":
                if s.value is not None:
                    raise P4Error(s.loc, "RegisterAction apply returns through its out parameter")
            else:
                raise P4Error(s.loc, "return is not allowed here")
        elif isinstance(s, A.Exit):
            if self.kind not in ("action", "control"):
                raise P4Error(s.loc, "exit is only allowed in controls and actions")
        else:
            raise P4Error(s.loc, f"unsupported statement {type(s).__name__}")

    def check_switch(self, s: A.Switch, scope: Scope) -> None:
        v = self.check_expr(s.expr, scope)
        pending = False
        seen_default = False
        for case in s.cases:
            for label in case.labels:
                if label is None:
                    seen_default = True
                elif isinstance(v.type, ActionRunT):
                    if not isinstance(label, A.Name) or label.name not in v.type.table.actions:
                        raise P4Error(case.loc, f"switch label must be an action of table "
                                      f"{v.type.table.decl.name}")
                elif isinstance(v.type, (Bits, EnumT)):
                    self.const_of(label, v.type, scope)
                else:
                    raise P4Error(s.expr.loc, f"cannot switch on {v.type}")
                pending = True
            if case.body is None:
                continue
            self.check_block_stmt(case.body, scope)
            pending = False
        if pending and not seen_default:
            raise P4Error(s.loc, "switch ends with labels that have no body")

    def assign_to(self, target: Typed, expr: A.Expr, scope: Scope, loc: Loc) -> None:
        if not target.lvalue:
            raise P4Error(loc, "cannot assign to this expression")
        t = target.type
        if isinstance(t, (StructT, StackT)):
            if isinstance(expr, A.ListExpr):
                if not isinstance(t, StructT):
                    raise P4Error(loc, "cannot initialise a header stack from a list")
                if len(expr.items) != len(t.fields):
                    raise P4Error(loc, f"{t} has {len(t.fields)} fields, list has {len(expr.items)}")
                for ft, item in zip(t.fields.values(), expr.items, strict=True):
                    self.assign_to(Typed(ft, lvalue=True), item, scope, item.loc)
                return
            v = self.check_expr(expr, scope)
            if not same_type(v.type, t):
                raise P4Error(loc, f"cannot assign {v.type} to {t}")
            return
        self.coerce(self.check_expr(expr, scope), t, loc)

    def check_assign_slice(self, target: A.Slice, expr: A.Expr, scope: Scope) -> None:
        base = self.check_expr(target.base, scope)
        if not base.lvalue or not isinstance(base.type, Bits) or base.type.signed:
            raise P4Error(target.loc, "slice assignment needs a writable bit<W> value")
        hi, lo = self.check_expr(target.hi, scope).const, self.check_expr(target.lo, scope).const
        if not (isinstance(hi, int) and isinstance(lo, int)) or not 0 <= lo <= hi < base.type.width:
            raise P4Error(target.loc, f"slice [{hi}:{lo}] is not valid for {base.type}")
        self.coerce(self.check_expr(expr, scope), Bits(hi - lo + 1), target.loc)

    # ------------------------------------------------------------ expressions
    def coerce(self, v: Typed, t: P4Type, loc: Loc) -> Typed:
        if same_type(v.type, t):
            return v
        if isinstance(v.type, InfInt) and isinstance(t, Bits):
            if v.const is None:
                raise P4Error(loc, f"cannot use a non-constant integer as {t}")
            return Typed(t, wrap_const(int(v.const), t))  # type: ignore[call-overload]
        if isinstance(v.type, InfInt) and isinstance(t, EnumT) and t.underlying is not None:
            raise P4Error(loc, f"cannot assign an integer to {t} without a cast")
        raise P4Error(loc, f"type mismatch: expected {t}, got {v.type}")

    @staticmethod
    def fold(t: P4Type, op: Callable[..., object], *vals: Typed) -> Typed:
        """A constant when every operand is one (what the generated expression would evaluate to)."""
        if all(v.const is not None for v in vals):
            return Typed(t, op(*(v.const for v in vals)))
        return Typed(t)

    def check_expr(self, e: A.Expr, scope: Scope) -> Typed:
        v = self._expr(e, scope)
        self.ann[id(e)] = v
        return v

    def _expr(self, e: A.Expr, scope: Scope) -> Typed:
        if isinstance(e, A.NamedArg):
            raise P4Error(e.loc, f"named argument '{e.name} = ...' is only supported for extern constructors and "
                                 "methods")
        if isinstance(e, A.IntConst):
            if e.width is not None:
                return Typed(Bits(e.width, e.signed), e.value)
            return Typed(InfInt(), e.value)
        if isinstance(e, A.BoolConst):
            return Typed(BoolT(), e.value)
        if isinstance(e, A.StringConst):
            return Typed(StringT(), e.value)
        if isinstance(e, A.Name):
            return self.check_name(e, scope)
        if isinstance(e, A.Member):
            return self.check_member(e, scope)
        if isinstance(e, A.Index):
            base = self.check_expr(e.base, scope)
            if not isinstance(base.type, StackT):
                raise P4Error(e.loc, f"cannot index {base.type}")
            idx = self.check_expr(e.index, scope)
            if not isinstance(idx.const, int):
                raise P4Error(e.index.loc, "header stack index must be a compile-time constant")
            if not 0 <= idx.const < base.type.size:
                raise P4Error(e.index.loc, f"index {idx.const} out of bounds for {base.type}")
            return Typed(base.type.elem, lvalue=base.lvalue)
        if isinstance(e, A.Slice):
            base = self.check_expr(e.base, scope)
            if not isinstance(base.type, Bits):
                raise P4Error(e.loc, f"cannot slice {base.type}")
            hi, lo = self.check_expr(e.hi, scope).const, self.check_expr(e.lo, scope).const
            if not (isinstance(hi, int) and isinstance(lo, int)) or not 0 <= lo <= hi < base.type.width:
                raise P4Error(e.loc, f"slice [{hi}:{lo}] is not valid for {base.type}")
            w = hi - lo + 1
            return self.fold(Bits(w), lambda b: (b >> lo) & mask(w), base)
        if isinstance(e, A.Unary):
            return self.check_unary(e, scope)
        if isinstance(e, A.Binary):
            return self.check_binary(e, scope)
        if isinstance(e, A.Ternary):
            c = self.check_expr(e.cond, scope)
            if not isinstance(c.type, BoolT):
                raise P4Error(e.cond.loc, "condition of ?: must be bool")
            a, b = self.check_expr(e.then, scope), self.check_expr(e.other, scope)
            if isinstance(a.type, InfInt):
                a = self.coerce(a, b.type, e.loc)
            if isinstance(b.type, InfInt):
                b = self.coerce(b, a.type, e.loc)
            if not same_type(a.type, b.type):
                raise P4Error(e.loc, f"branches of ?: have different types {a.type} and {b.type}")
            return self.fold(a.type, lambda cv, av, bv: av if cv else bv, c, a, b)
        if isinstance(e, A.Cast):
            return self.check_cast(e, scope)
        if isinstance(e, A.Call):
            return self.check_call(e, scope, as_stmt=False)
        if isinstance(e, A.ListExpr):
            raise P4Error(e.loc, "a list expression is not allowed here")
        if isinstance(e, (A.Mask, A.Range, A.Default)):
            raise P4Error(e.loc, "a keyset expression is not allowed here")
        raise P4Error(e.loc, f"unsupported expression {type(e).__name__}")

    def check_name(self, e: A.Name, scope: Scope) -> Typed:
        if e.name == "error":
            return Typed(RefT("error"))
        sym = scope.lookup(e.name)
        if sym is None:
            raise P4Error(e.loc, f"unknown name '{e.name}'")
        if isinstance(sym, VarSym):
            return Typed(sym.type, lvalue=not sym.readonly, sym=sym)
        if isinstance(sym, ConstSym):
            return Typed(sym.type, sym.value)
        return Typed(RefT(sym))

    def check_member(self, e: A.Member, scope: Scope) -> Typed:
        base = self.check_expr(e.base, scope)
        t = base.type
        if isinstance(t, RefT):
            if t.sym == "error":
                if e.name not in self.errors_list:
                    raise P4Error(e.loc, f"unknown error '{e.name}'")
                return Typed(ErrorT(), self.errors_list.index(e.name))
            if isinstance(t.sym, TypeSym) and isinstance(t.sym.type, EnumT):
                et = t.sym.type
                if e.name not in et.values:
                    raise P4Error(e.loc, f"enum {et.name} has no member '{e.name}'")
                return Typed(et, et.values[e.name])
            return Typed(RefT((t.sym, e.name)))
        if isinstance(t, StructT) and t.is_header and e.name in ("isValid", "setValid", "setInvalid"):
            return Typed(RefT((base, e.name)))
        if isinstance(t, StructT):
            if e.name not in t.fields:
                raise P4Error(e.loc, f"{t} has no field '{e.name}'")
            return Typed(t.fields[e.name], lvalue=base.lvalue)
        if isinstance(t, StackT):
            if e.name == "last":
                return Typed(t.elem, lvalue=base.lvalue)
            if e.name == "next":
                if self.kind != "state":
                    raise P4Error(e.loc, "'next' is only allowed in parsers")
                return Typed(t.elem, lvalue=base.lvalue)
            if e.name == "size":
                return Typed(Bits(32), t.size)
            if e.name == "lastIndex":
                return Typed(Bits(32))
            return Typed(RefT((base, e.name)))
        if isinstance(t, TableResT):
            if e.name in ("hit", "miss"):
                return Typed(BoolT())
            if e.name == "action_run":
                return Typed(ActionRunT(t.table))
            raise P4Error(e.loc, f"table apply result has no member '{e.name}'")
        if isinstance(t, (PacketT, ExternT, StructT)):
            return Typed(RefT((base, e.name)))
        raise P4Error(e.loc, f"{t} has no member '{e.name}'")

    def check_unary(self, e: A.Unary, scope: Scope) -> Typed:
        v = self.check_expr(e.operand, scope)
        if e.op == "!":
            if not isinstance(v.type, BoolT):
                raise P4Error(e.loc, f"'!' needs a bool, not {v.type}")
            return self.fold(BoolT(), lambda x: not x, v)
        if isinstance(v.type, InfInt):
            c = int(v.const)  # type: ignore[call-overload]
            return Typed(InfInt(), -c if e.op == "-" else ~c)
        if not isinstance(v.type, Bits):
            raise P4Error(e.loc, f"'{e.op}' needs bit<W> or int<W>, not {v.type}")
        t = v.type
        if e.op == "~":
            return self.fold(t, (lambda x: ~x) if t.signed else (lambda x: x ^ mask(t.width)), v)
        return self.fold(t, lambda x: wrap_const(-x, t), v)

    def check_binary(self, e: A.Binary, scope: Scope) -> Typed:
        op = e.op
        left, right = self.check_expr(e.left, scope), self.check_expr(e.right, scope)
        if op in ("&&", "||"):
            for v, side in ((left, e.left), (right, e.right)):
                if not isinstance(v.type, BoolT):
                    raise P4Error(side.loc, f"'{op}' needs bool operands, not {v.type}")
            if op == "&&":
                return self.fold(BoolT(), lambda a, b: a and b, left, right)
            return self.fold(BoolT(), lambda a, b: a or b, left, right)
        if op in ("<<", ">>"):
            if not isinstance(right.type, (Bits, InfInt)) or (isinstance(right.type, Bits) and right.type.signed):
                raise P4Error(e.right.loc, "shift amount must be an unsigned integer")
            if isinstance(left.type, InfInt):
                if left.const is None or right.const is None:
                    raise P4Error(e.loc, "shift of an integer literal needs a width (e.g. 8w1)")
                a, b = int(left.const), int(right.const)  # type: ignore[call-overload]
                return Typed(InfInt(), a << b if op == "<<" else a >> b)
            if not isinstance(left.type, Bits):
                raise P4Error(e.left.loc, f"cannot shift {left.type}")
            lt = left.type
            if op == "<<":
                return self.fold(lt, lambda a, b: wrap_const(a << b, lt), left, right)
            return self.fold(lt, lambda a, b: a >> b, left, right)
        if op == "++":
            if not (isinstance(left.type, Bits) and isinstance(right.type, Bits)):
                raise P4Error(e.loc, "'++' needs bit<W> operands of known width")
            lt, rt = left.type, right.type
            t = Bits(lt.width + rt.width, lt.signed)

            def concat(a: int, b: int) -> int:
                a = a & mask(lt.width) if lt.signed else a
                b = b & mask(rt.width) if rt.signed else b
                c = (a << rt.width) | b
                return wrap_const(c, t) if t.signed else c

            return self.fold(t, concat, left, right)
        # Arithmetic, bitwise and comparisons: both sides must have the same type (literals adapt).
        if isinstance(left.type, InfInt) and isinstance(right.type, InfInt):
            a, b = int(left.const), int(right.const)  # type: ignore[call-overload]
            res = _INT_OPS.get(op)
            if res is None:
                raise P4Error(e.loc, f"operator '{op}' is not supported on integer literals")
            c = res(a, b)
            return Typed(BoolT() if isinstance(c, bool) else InfInt(), c)
        if isinstance(left.type, InfInt):
            left = self.coerce(left, right.type, e.left.loc) if isinstance(right.type, Bits) else left
        if isinstance(right.type, InfInt):
            right = self.coerce(right, left.type, e.right.loc) if isinstance(left.type, Bits) else right
        if not same_type(left.type, right.type):
            raise P4Error(e.loc, f"operands of '{op}' have different types {left.type} and {right.type}")
        ct = left.type
        if op in ("==", "!="):
            if isinstance(ct, (StructT, StackT, ExternT, RefT)):
                raise P4Error(e.loc, f"cannot compare values of type {ct}")
            return self.fold(BoolT(), _INT_OPS[op], left, right)
        if not isinstance(ct, Bits):
            raise P4Error(e.loc, f"operator '{op}' needs bit<W> or int<W> operands, not {ct}")
        t = ct
        if op in ("<", ">", "<=", ">=", "&", "|", "^"):
            return self.fold(BoolT() if op in ("<", ">", "<=", ">=") else t, _INT_OPS[op], left, right)
        bt = t
        if op in ("+", "-", "*"):
            raw = _INT_OPS[op]
            return self.fold(bt, lambda a, b: wrap_const(raw(a, b), bt), left, right)  # type: ignore[arg-type]
        if op in ("/", "%"):
            if t.signed:
                raise P4Error(e.loc, f"'{op}' on signed values is not supported")
            return self.fold(t, _INT_OPS[op], left, right)
        if op in ("|+|", "|-|"):
            lo, hi = ((-(1 << (t.width - 1)), (1 << (t.width - 1)) - 1) if t.signed else (0, mask(t.width)))
            sign = 1 if op == "|+|" else -1
            return self.fold(t, lambda a, b: min(max(a + sign * b, lo), hi), left, right)
        raise P4Error(e.loc, f"unsupported operator '{op}'")

    def check_cast(self, e: A.Cast, scope: Scope) -> Typed:
        t = self.resolve_type(e.type, scope)
        v = self.check_expr(e.expr, scope)
        s = v.type
        if same_type(s, t):
            return v
        if isinstance(t, Bits):
            if isinstance(s, InfInt):
                return self.coerce(v, t, e.loc)
            if isinstance(s, BoolT):
                if t.width != 1:
                    raise P4Error(e.loc, "bool can only be cast to bit<1>")
                return self.fold(t, lambda x: 1 if x else 0, v)
            if isinstance(s, EnumT) and s.underlying is not None:
                s = s.underlying
                v = Typed(s, v.const)
                if same_type(s, t):
                    return v
            if isinstance(s, Bits):
                if not t.signed and not s.signed and t.width >= s.width:
                    return Typed(t, v.const)
                return self.fold(t, lambda x: wrap_const(x, t), v)
        if isinstance(t, BoolT) and isinstance(s, Bits) and s.width == 1 and not s.signed:
            return self.fold(t, lambda x: x == 1, v)
        if isinstance(t, EnumT) and t.underlying is not None and isinstance(s, (Bits, InfInt)):
            inner = self.coerce(v, t.underlying, e.loc) if isinstance(s, InfInt) else v
            if not same_type(inner.type, t.underlying):
                raise P4Error(e.loc, f"cannot cast {s} to {t}")
            return Typed(t, inner.const)
        raise P4Error(e.loc, f"cannot cast {s} to {t}")

    # ------------------------------------------------------------ calls
    def check_call(self, c: A.Call, scope: Scope, as_stmt: bool) -> Typed:
        v = self._call(c, scope, as_stmt)
        self.ann[id(c)] = v
        return v

    def _call(self, c: A.Call, scope: Scope, as_stmt: bool) -> Typed:
        f = self.check_expr(c.func, scope)
        if not isinstance(f.type, RefT):
            raise P4Error(c.loc, "this expression cannot be called")
        target = f.type.sym
        if isinstance(target, ActionSym):
            if not as_stmt:
                raise P4Error(c.loc, "actions can only be called as statements")
            self.args_for(c, target.params, scope)
            return Typed(VoidT())
        if isinstance(target, DeclSym) and isinstance(target.decl, A.ExternFuncDecl):
            if target.decl.name == "verify":
                return self.check_verify(c, scope)
            if target.decl.name in ("min", "max"):
                return self.check_min_max(c, target.decl.name, scope)
            if target.decl.name == "port_metadata_unpack":
                return self.check_port_metadata_unpack(c, scope)
            raise P4Error(c.loc, f"extern function {target.decl.name} is not supported")
        if isinstance(target, tuple):
            obj, method = target
            if isinstance(obj, Typed):
                return self.check_value_method(c, obj, method, scope, as_stmt)
            if isinstance(obj, TableSym):
                if method != "apply" or c.args:
                    raise P4Error(c.loc, f"tables only have apply(), not {method}")
                return Typed(TableResT(obj))
            if isinstance(obj, InstanceSym):
                if method != "apply":
                    raise P4Error(c.loc, f"'{obj.decl.name}' instances only have apply()")
                # parameters are named as the generated globals they are passed in (error messages)
                names = [py_ident(f"{'_'.join(obj.block.path)}__{p.name}") for p in obj.decl.params]
                self.args_for(c, [(d, n, t) for (d, _, t), n in zip(obj.block.params, names, strict=True)], scope)
                if isinstance(obj.decl, A.ControlDecl) and self.kind == "state":
                    raise P4Error(c.loc, "controls cannot be applied from a parser")
                if isinstance(obj.decl, A.ParserDecl) and self.kind != "state":
                    raise P4Error(c.loc, "parsers can only be applied from a parser state")
                return Typed(VoidT())
            if isinstance(obj, ExternSym):
                return self.check_extern_call(c, obj, method, scope)
        raise P4Error(c.loc, "this expression cannot be called")

    def args_for(self, c: A.Call, params: list[tuple[str, str, P4Type]], scope: Scope) -> None:
        if len(c.args) != len(params):
            raise P4Error(c.loc, f"expected {len(params)} arguments, got {len(c.args)}")
        for (direction, name, t), a in zip(params, c.args, strict=True):
            if isinstance(a, A.ListExpr) and isinstance(t, StructT):
                raise P4Error(a.loc, "list arguments are not supported here")
            v = self.check_expr(a, scope)
            if direction in ("out", "inout") and not v.lvalue:
                raise P4Error(a.loc, f"argument for {direction} parameter '{name}' must be assignable")
            if direction in ("", "in"):
                self.coerce(v, t, a.loc)
            elif not same_type(v.type, t):
                raise P4Error(a.loc, f"type mismatch: expected {t}, got {v.type}")

    def check_verify(self, c: A.Call, scope: Scope) -> Typed:
        if self.kind != "state":
            raise P4Error(c.loc, "verify() is only allowed in parsers")
        if len(c.args) != 2:
            raise P4Error(c.loc, "verify(condition, error) takes 2 arguments")
        cond = self.check_expr(c.args[0], scope)
        err = self.check_expr(c.args[1], scope)
        if not isinstance(cond.type, BoolT) or not isinstance(err.type, ErrorT):
            raise P4Error(c.loc, "verify(bool, error) has the wrong argument types")
        return Typed(VoidT())

    def check_port_metadata_unpack(self, c: A.Call, scope: Scope) -> Typed:
        """`T port_metadata_unpack<T>(packet_in pkt)`: T (bit fields, at most PORT_METADATA_SIZE bits) from the
        phase-0 bits of the ingress port; one T per program (its fields are the $PORT_METADATA data fields)."""
        if self.kind != "state":
            raise P4Error(c.loc, "port_metadata_unpack is only allowed in parser states")
        if len(c.type_args) != 1 or len(c.args) != 1:
            raise P4Error(c.loc, "port_metadata_unpack<T>(pkt) needs its type argument T and the packet_in")
        pkt = self.check_expr(c.args[0], scope)
        if not (isinstance(pkt.type, PacketT) and pkt.type.direction == "in"):
            raise P4Error(c.args[0].loc, "port_metadata_unpack's argument must be the parser's packet_in")
        t = self.resolve_type(c.type_args[0], scope)
        if not isinstance(t, StructT):
            raise P4Error(c.loc, f"port_metadata_unpack<T>: T must be a struct or header, not {t}")
        width = 0
        for fname, ft in t.fields.items():
            b = serial_bits(ft)
            if b is None or isinstance(ft, BoolT):
                raise P4Error(c.loc, f"port_metadata_unpack<{t.name}>: field {fname} is not bit<W>")
            width += b.width
        if width > PORT_METADATA_BITS:
            raise P4Error(c.loc, f"port_metadata_unpack<{t.name}>: {width} bits, more than PORT_METADATA_SIZE "
                                 f"({PORT_METADATA_BITS})")
        if self.port_md_type is not None and not same_type(self.port_md_type, t):
            raise P4Error(c.loc, f"port_metadata_unpack is used with {self.port_md_type} and {t}: the emulator "
                                 "(like bf-rt.json's one $PORT_METADATA table) takes one layout")
        self.port_md_type = t
        self.port_md_sites.append((self.cp_prefix, c.loc))
        return Typed(t)

    def check_min_max(self, c: A.Call, name: str, scope: Scope) -> Typed:
        """TNA's `T min<T>(in T, in T)` / `max`: one ALU instruction (minu/maxu) on two unsigned values."""
        if len(c.args) != 2:
            raise P4Error(c.loc, f"{name}(a, b) takes 2 arguments")
        a, b = (self.check_expr(x, scope) for x in c.args)
        t = a.type if isinstance(a.type, Bits) else b.type
        if not isinstance(t, Bits) or t.signed:
            raise P4Error(c.loc, f"{name}() needs bit<W> arguments, got {a.type} and {b.type}")
        a, b = self.coerce(a, t, c.args[0].loc), self.coerce(b, t, c.args[1].loc)
        return self.fold(t, min if name == "min" else max, a, b)

    def concat_width(self, e: A.Expr, scope: Scope) -> int:
        """Checks a list `{a, b}` or a header/struct value used as one bit string; returns its width."""
        if isinstance(e, A.ListExpr):
            vals = [(self.check_expr(i, scope).type, i.loc) for i in e.items]
        else:
            t = self.check_expr(e, scope).type
            vals = [(ft, e.loc) for ft in t.fields.values()] if isinstance(t, StructT) else [(t, e.loc)]
        width = 0
        for vt, loc in vals:
            b = serial_bits(vt)
            if isinstance(vt, BoolT):
                width += 1
            elif b is not None:
                width += b.width
            else:
                raise P4Error(loc, f"only bit<W> fields can be hashed/packed, not {vt}")
        return width

    def check_value_method(self, c: A.Call, obj: Typed, method: str, scope: Scope, as_stmt: bool) -> Typed:
        t = obj.type
        if isinstance(t, StructT) and t.is_header:
            if method == "isValid" and not c.args:
                return Typed(BoolT())
            if method in ("setValid", "setInvalid") and not c.args and as_stmt:
                if not obj.lvalue:
                    raise P4Error(c.loc, f"cannot {method} a read-only header")
                return Typed(VoidT())
        if isinstance(t, StackT) and method in ("push_front", "pop_front") and as_stmt:
            if len(c.args) != 1:
                raise P4Error(c.loc, f"{method} takes one argument")
            n = self.check_expr(c.args[0], scope).const
            if not isinstance(n, int) or n <= 0:
                raise P4Error(c.loc, f"{method} count must be a positive compile-time integer")
            return Typed(VoidT())
        if isinstance(t, PacketT) and t.direction == "in":
            if self.kind != "state":
                raise P4Error(c.loc, f"packet_in.{method} is only allowed in parser states")
            if method == "extract":
                if len(c.args) != 1:
                    raise P4Error(c.loc, "extract with a variable-size argument is not supported")
                h = self.check_expr(c.args[0], scope)
                if not (isinstance(h.type, StructT) and h.type.is_header) or not h.lvalue:
                    raise P4Error(c.loc, "extract needs a writable header")
                return Typed(VoidT())
            if method == "lookahead":
                if len(c.type_args) != 1 or c.args:
                    raise P4Error(c.loc, "lookahead<T>() needs one type argument")
                lt = self.resolve_type(c.type_args[0], scope)
                if isinstance(lt, StructT) and lt.is_header:
                    return Typed(lt)  # a copy of the next bytes as that header, valid
                if not isinstance(lt, Bits) or lt.signed:
                    raise P4Error(c.loc, "lookahead is supported for bit<W> and header types only")
                return Typed(lt)
            if method == "advance":
                n2 = self.check_expr(c.args[0], scope) if len(c.args) == 1 else None
                if n2 is None or not isinstance(n2.type, (Bits, InfInt)):
                    raise P4Error(c.loc, "advance(bits) takes one integer argument")
                if n2.const == PORT_METADATA_BITS:
                    self.port_md_skips.append(self.cp_prefix)
                return Typed(VoidT())
            if method == "length":
                return Typed(Bits(32))
        if isinstance(t, PacketT) and t.direction == "out" and method == "emit":
            if len(c.args) != 1:
                raise P4Error(c.loc, "emit takes one argument")
            self.check_emit(self.check_expr(c.args[0], scope).type, c.loc)
            return Typed(VoidT())
        raise P4Error(c.loc, f"{t} has no method '{method}' (or it is not supported here)")

    def check_emit(self, t: P4Type, loc: Loc) -> None:
        if isinstance(t, StructT) and t.is_header and t.name == "ptp_metadata_t":
            raise P4Error(loc, "emitting ptp_metadata_t (the egress MAC's PTP correction-field update, tx "
                               "timestamping) is not supported by the emulator")
        if isinstance(t, StructT) and t.is_header and FLEX_PAD in t.fields:
            self.flex_emits.append((self.cp_prefix, t.name, loc))
        if (isinstance(t, StructT) and t.is_header) or isinstance(t, StackT):
            return
        if isinstance(t, StructT):
            for ft in t.fields.values():
                self.check_emit(ft, loc)
            return
        raise P4Error(loc, f"emit needs a header, header stack or struct of headers, not {t}")

    def check_extern_call(self, c: A.Call, x: ExternSym, method: str, scope: Scope) -> Typed:
        kind = x.kind
        decl = self.globals.lookup(x.type.name)
        if isinstance(decl, DeclSym) and isinstance(decl.decl, A.ExternDecl):
            c.args[:] = self.positional_args(c.args, decl.decl, method, c.loc)
        if kind in ("Meter", "DirectMeter") and method == "execute":
            return self.check_meter_execute(c, x, scope)
        if kind == "Random" and method == "get" and not c.args:
            return Typed(Bits(x.extra["width"]))  # type: ignore[arg-type]
        if kind in ("ActionProfile", "ActionSelector"):
            raise P4Error(c.loc, f"{kind} has no methods; attach it with 'implementation ='")
        if kind == "RegisterParam" and method == "read" and not c.args:
            if self.kind != "regaction" or self.cur_register is None:
                raise P4Error(c.loc, "RegisterParam.read() is only available inside a RegisterAction's apply "
                                     "(as in bf-p4c)")
            regs: list[str] = x.extra["registers"]  # type: ignore[assignment]
            if self.cur_register.qual not in regs:
                regs.append(self.cur_register.qual)
            return Typed(Bits(x.extra["width"]))  # type: ignore[arg-type]
        if kind in ("Lpf", "Wred", "DirectLpf", "DirectWred") and method == "execute":
            direct = kind.startswith("Direct")
            if len(c.args) != (1 if direct else 2):
                raise P4Error(c.loc, f"{kind}.execute({'val' if direct else 'val, index'})")
            self.coerce(self.check_expr(c.args[0], scope), Bits(x.extra["width"]), c.args[0].loc)  # type: ignore[arg-type]
            if not direct:
                self.coerce(self.check_expr(c.args[1], scope), x.extra["index_type"], c.args[1].loc)  # type: ignore[arg-type]
            elif self.kind != "action" or self.cur_action is None:
                raise P4Error(c.loc, f"a {kind} can only be executed from an action of its table")
            else:
                self.action_dregs.setdefault(id(self.cur_action), []).append((x, c.loc))
            return Typed(Bits(x.extra["width"] if kind.endswith("Lpf") else 8))  # type: ignore[arg-type]
        if kind == "DirectRegisterAction" and method == "execute" and not c.args:
            if self.kind != "action" or self.cur_action is None:
                raise P4Error(c.loc, "a DirectRegisterAction can only be executed from an action of its table")
            self.action_dregs.setdefault(id(self.cur_action), []).append((x.extra["register"], c.loc))  # type: ignore[arg-type]
            return Typed(x.extra["rv_type"])  # type: ignore[arg-type]
        if kind == "Register" and method in ("read", "write"):
            t = x.extra["value_type"]
            if not isinstance(t, Bits):
                raise P4Error(c.loc, f"Register.{method} of a struct-valued register is not supported by the "
                                     "emulator (use a RegisterAction)")
            if self.kind not in ("action", "control"):
                raise P4Error(c.loc, f"Register.{method} is only available in a control or action")
            if len(c.args) != (1 if method == "read" else 2):
                raise P4Error(c.loc, "read(index) / write(index, value)")
            self.coerce(self.check_expr(c.args[0], scope), x.extra["index_type"], c.args[0].loc)  # type: ignore[arg-type]
            if method == "read":
                return Typed(t)
            self.coerce(self.check_expr(c.args[1], scope), t, c.args[1].loc)
            return Typed(VoidT())
        if kind == "RegisterAction" and method == "execute":
            if len(c.args) != 1:
                raise P4Error(c.loc, "execute(index) takes one argument")
            self.coerce(self.check_expr(c.args[0], scope), x.extra["index_type"], c.args[0].loc)  # type: ignore[arg-type]
            return Typed(x.extra["rv_type"])  # type: ignore[arg-type]
        if kind == "Hash" and method == "get":
            if len(c.args) != 1:
                raise P4Error(c.loc, "get(data) takes one argument")
            self.concat_width(c.args[0], scope)
            if x.extra["symmetric"]:
                x.extra["sym_sites"][id(c)] = self.symmetric_site(c, x, scope)  # type: ignore[index]
            return Typed(Bits(x.extra["width"]))  # type: ignore[arg-type]
        if kind == "Counter" and method == "count":
            if len(c.args) != 1:
                raise P4Error(c.loc, "count(index) takes one argument")
            idx = self.check_expr(c.args[0], scope)
            if not isinstance(idx.type, (Bits, InfInt)):
                raise P4Error(c.loc, "counter index must be bit<W>")
            return Typed(VoidT())
        if kind == "DirectCounter" and method == "count":
            if self.kind != "action":
                raise P4Error(c.loc, "a DirectCounter can only be counted from an action of its table")
            return Typed(VoidT())
        if kind == "Digest" and method == "pack":
            if len(c.args) != 1:
                raise P4Error(c.loc, "pack(data) takes one argument")
            dt: StructT = x.extra["type"]  # type: ignore[assignment]
            arg = c.args[0]
            if isinstance(arg, A.ListExpr):
                if len(arg.items) != len(dt.fields):
                    raise P4Error(c.loc, f"digest {dt.name} has {len(dt.fields)} fields, got {len(arg.items)}")
                for i, ft in zip(arg.items, dt.fields.values(), strict=True):
                    self.coerce(self.check_expr(i, scope), ft, i.loc)
            else:
                v = self.check_expr(arg, scope)
                if not same_type(v.type, dt):
                    raise P4Error(c.loc, f"pack needs a {dt.name}, not {v.type}")
            return Typed(VoidT())
        if kind == "Resubmit" and method == "emit":
            if len(c.args) > 1:
                raise P4Error(c.loc, "Resubmit.emit([hdr]) takes at most one argument")
            if c.args:
                width = self.concat_width(c.args[0], scope)
                if width > PORT_METADATA_BITS or width % 8:
                    raise P4Error(c.loc, f"resubmit data is {width} bits; Tofino 1 carries whole bytes, at most "
                                         f"{PORT_METADATA_BITS} bits")
            return Typed(VoidT())
        if kind == "Mirror" and method == "emit":
            if not 1 <= len(c.args) <= 2:
                raise P4Error(c.loc, "emit(session_id[, header]) takes one or two arguments")
            self.coerce(self.check_expr(c.args[0], scope), Bits(10), c.args[0].loc)
            if len(c.args) == 1:
                return Typed(VoidT())
            width = self.concat_width(c.args[1], scope)
            if c.type_args:
                ht = self.resolve_type(c.type_args[0], scope)
                if not isinstance(ht, StructT) or ht.bits != width:
                    raise P4Error(c.loc, f"mirror data does not match {ht}")
            if width % 8:
                raise P4Error(c.loc, "mirror header must be a whole number of bytes")
            return Typed(VoidT())
        if kind == "Checksum":
            if method in ("add", "subtract") and len(c.args) == 1:
                self.concat_width(c.args[0], scope)
                return Typed(VoidT())
            if method == "verify" and not c.args:
                return Typed(BoolT())
            if method == "get" and not c.args:
                return Typed(Bits(16))
            if method == "update" and len(c.args) in (1, 2):
                self.concat_width(c.args[0], scope)
                if len(c.args) == 2:
                    z = self.check_expr(c.args[1], scope)
                    if not (isinstance(z.type, BoolT) and isinstance(z.const, bool)):
                        raise P4Error(c.args[1].loc, "zeros_as_ones must be a compile-time bool")
                return Typed(Bits(16))
        raise P4Error(c.loc, f"{kind} has no method '{method}' with these arguments")


    def check_meter_execute(self, c: A.Call, x: ExternSym, scope: Scope) -> Typed:
        """Meter.execute(index[, color][, adjust_byte_count]) / DirectMeter.execute([color][, adjust_byte_count])."""
        args = list(c.args)
        if x.kind == "Meter":
            if not args:
                raise P4Error(c.loc, "Meter.execute(index[, color][, adjust_byte_count]) needs an index")
            self.coerce(self.check_expr(args[0], scope), x.extra["index_type"], args[0].loc)  # type: ignore[arg-type]
            args = args[1:]
        elif self.kind != "action":
            raise P4Error(c.loc, "a DirectMeter can only be executed from an action of its table")
        if len(args) > 2:
            raise P4Error(c.loc, "too many arguments to execute")
        if args:
            v = self.check_expr(args[0], scope)
            if isinstance(v.type, EnumT) and v.type.name == "MeterColor_t":
                args = args[1:]
            elif len(args) == 2:
                raise P4Error(args[0].loc, "the colour argument must be a MeterColor_t")
        if args:
            self.coerce(self.check_expr(args[0], scope), Bits(32), args[0].loc)
        return Typed(Bits(8))

    def symmetric_site(self, c: A.Call, x: ExternSym, scope: Scope) -> HS.SymPairs:
        """The @symmetric pairs of one Hash.get call, as indexes into its field list."""
        arg = c.args[0]
        if isinstance(arg, A.ListExpr):
            items = [(expr_text(i) if isinstance(i, (A.Name, A.Member, A.Index)) else "",
                      self.check_expr(i, scope).type) for i in arg.items]
        else:
            t = self.check_expr(arg, scope).type
            base = expr_text(arg) if isinstance(arg, (A.Name, A.Member, A.Index)) else ""
            items = ([(f"{base}.{n}" if base else "", ft) for n, ft in t.fields.items()] if isinstance(t, StructT)
                     else [(base, t)])
        widths = [1 if isinstance(t, BoolT) else cast(Bits, serial_bits(t)).width for _, t in items]

        def is_field(text: str) -> bool:
            try:
                e = Parser(tokenize(text, c.loc.file)).parse_expr()
                return isinstance(e, (A.Name, A.Member, A.Index)) and isinstance(
                    self.check_expr(e, scope).type, (Bits, BoolT))
            except P4Error:
                return False

        return HS.site_pairs(x.extra["symmetric"], [n for n, _ in items], widths,  # type: ignore[arg-type]
                             x.extra["algo"] if isinstance(x.extra["algo"], str) else "CUSTOM", c.loc, is_field)


def check_program(program: A.Program) -> CheckedProgram:
    """Check `program` (P4Error with file:line on the first problem) and return its annotations."""
    for d in program.decls:
        if isinstance(d, A.Instantiation):
            HS.refuse_symmetric(d, "@symmetric is only supported on a Hash instance declared in a control")
    return Checker(program).check()


__all__ = ["Checker", "Param", "check_program", "wrap_const"]
