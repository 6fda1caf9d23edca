"""Code generation: a checked program (checker.py) becomes one Python module, compiled once at load.

Every P4 block instance becomes plain Python functions (no tree walk per packet). Block parameters and
block-level variables are module globals bound per packet by the generated drivers; values of type
bit<W>/int<W> are Python ints kept in range by masking at every operation that can overflow.
It reads types, constants and symbols from the checker's annotations and raises no P4Error: everything it
meets has been checked (an AssertionError here is a bug in the checker or in this module).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from ..frontend import ast as A
from ..frontend.errors import Loc
from . import dynhash as DH
from . import runtime as R
from .checked import (
    INTRINSIC_HEADERS,
    ROLE_TYPES,
    ROLES,
    ActionRunT,
    ActionSym,
    Annotations,
    CheckedBlock,
    CheckedProgram,
    DeclSym,
    ExternSym,
    InstanceSym,
    RefT,
    TableResT,
    TableSym,
    Typed,
    VarSym,
    expr_text,
    py_ident,
)
from .checker import wrap_const
from .types import (
    Bits,
    BoolT,
    EnumT,
    InfInt,
    P4Type,
    PacketT,
    StackT,
    StructT,
    VoidT,
    mask,
    pyattr,
    same_type,
    serial_bits,
)

# Byte counters count what a Tofino's do: the frame with its 4-byte Ethernet FCS, which a Linux interface hands
# over stripped (the SDE's tna_counter expects 208 bytes for two 100-byte frames). Meters keep the frame length.
FCS_BYTES = 4


@dataclass
class Value:
    """A generated Python expression and its P4 type."""

    code: str
    type: P4Type
    const: object = None
    lvalue: bool = False


@dataclass
class FnCtx:
    """One generated Python function being written."""

    kind: str  # action | control | state | regaction | table | driver
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
    setups: list[Callable[[dict[str, object]], None]]
    pipe_name: str
    has_egress: bool = True
    meters: dict[str, R.MeterArray] = field(default_factory=dict)
    profiles: dict[str, R.ActionProfile] = field(default_factory=dict)
    selectors: dict[str, R.ActionSelector] = field(default_factory=dict)
    port_metadata: R.PortMetadata = field(default_factory=lambda: R.PortMetadata("", []))
    reg_params: dict[str, R.RegisterParam] = field(default_factory=dict)
    lpfs: dict[str, R.LpfArray] = field(default_factory=dict)
    wreds: dict[str, R.WredArray] = field(default_factory=dict)
    value_sets: dict[str, R.ValueSet] = field(default_factory=dict)
    resubmit: bool = False  # run_ingress takes resubmit data; the deparser appends to _RESUB
    randoms: dict[str, random.Random] = field(default_factory=dict)  # Random externs by name
    traced: bool = False  # the source calls `_TR` (trace.py); stages: table (bf-rt name) -> the model's stage
    stages: dict[str, int] = field(default_factory=dict)
    # per gress: the objects with per-pipe state (registers, counters, meters, filters), see Pipeline
    pipe_state: dict[str, list[R.PipeState]] = field(default_factory=dict)
    dyn_hashes: dict[str, DH.DynHash] = field(default_factory=dict)  # dynamic hashing (dynhash.py) by Hash name


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


def wrap(code: str, t: Bits) -> str:
    if t.signed:
        half = 1 << (t.width - 1)
        return f"(((({code}) + {half}) & {mask(t.width):#x}) - {half})"
    return f"(({code}) & {mask(t.width):#x})"


class _Direct:  # a DirectCounter: counts into the entry its table's last lookup returned
    table: R.Table | None = None


class Generator:
    def __init__(self, checked: CheckedProgram, trace: bool = False) -> None:
        self.checked = checked
        self.trace = trace  # emit calls to the module's `_TR` (interp/trace.py) at states, tables and writes
        self.ann: Annotations = checked.top  # annotations of the block instance being generated
        self.module: list[str] = []  # generated module source, top to bottom
        self.post: list[str] = []  # appended after all functions (dicts referring to functions)
        self.env: dict[str, object] = {}
        self.names: set[str] = set()
        self.tables: dict[str, R.Table] = {}
        self.table_actions: dict[str, list[R.ActionInfo]] = {}
        self.registers: dict[str, R.RegisterArray] = {}
        self.counters: dict[str, R.CounterArray] = {}
        self.digests: dict[str, R.DigestInfo] = {}
        self.setups: list[Callable[[dict[str, object]], None]] = []
        self.struct_types: dict[str, StructT] = {}
        self.header_pack: dict[str, tuple[str, int]] = {}  # header class -> (packing expression of `_e`, bytes)
        self.stack_classes: dict[tuple[str, int], str] = {}
        self.fn: FnCtx = FnCtx("driver")
        self.block_prefix = ""
        self.meters: dict[str, R.MeterArray] = {}
        self.profiles: dict[str, R.ActionProfile] = {}
        self.selectors: dict[str, R.ActionSelector] = {}
        self.randoms: dict[str, random.Random] = {}  # each Random extern's generator (Pipeline.seed_random)
        self.uses_clock = False  # a meter reads the packet's timestamp (the driver then keeps it in _tnow)
        pmi = checked.port_metadata
        fields = [(n, serial_bits(ft).width) for n, ft in pmi.type.fields.items()] if pmi.type else []  # type: ignore[union-attr]
        self.port_metadata = R.PortMetadata(pmi.name, fields, pmi.read)
        self.reg_params: dict[str, R.RegisterParam] = {}
        self.lpfs: dict[str, R.LpfArray] = {}
        self.value_sets: dict[str, R.ValueSet] = {}
        self.wreds: dict[str, R.WredArray] = {}
        self.pmd_fns: dict[str, str] = {}  # struct class -> its port_metadata_unpack function
        self.gress = "ingress"  # the gress of the block being generated
        # Per gress, the stateful objects kept once per pipe (select(p) before a packet of pipe p runs there).
        self.pipe_state: dict[str, list[R.PipeState]] = {"ingress": [], "egress": []}
        self.dyn_sites: dict[int, DH.Site] | None = None  # Hash externs' get() sites (dynhash.survey), on first use
        self.dyn_hashes: dict[str, DH.DynHash] = {}  # by the Hash's name: those the control plane may reconfigure

    # ------------------------------------------------------------ naming
    def uniq(self, base: str) -> str:
        name = py_ident(base)
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

    def typed(self, node: object) -> Typed:
        t = self.ann[id(node)]
        assert isinstance(t, Typed), node
        return t

    # ------------------------------------------------------------ entry
    def generate(self) -> CompiledProgram:
        for d in self.checked.program.decls:
            if isinstance(d, A.Instantiation) and d.name == "main":
                continue
            self.gen_top(d)
        self.gen_main()
        source = "\n".join([*self.module, *self.post]) + "\n"
        return CompiledProgram(
            source, self.env, self.tables, self.registers, self.counters, self.digests, self.table_actions,
            self.setups, self.checked.pipe_name, meters=self.meters, profiles=self.profiles,
            selectors=self.selectors, port_metadata=self.port_metadata, reg_params=self.reg_params,
            lpfs=self.lpfs, wreds=self.wreds, resubmit=self.checked.resubmit, value_sets=self.value_sets,
            randoms=self.randoms, pipe_state=self.pipe_state, dyn_hashes=self.dyn_hashes,
        )

    def gen_top(self, d: A.Decl) -> None:
        if isinstance(d, (A.ConstDecl, A.TypedefDecl)):
            self.gen_type(d.type)
        elif isinstance(d, (A.HeaderDecl, A.StructDecl)):
            for f in d.fields:
                self.gen_type(f.type)
            st = self.ann[id(d)]
            assert isinstance(st, StructT)
            self.gen_struct_class(st)
        elif isinstance(d, A.EnumDecl) and d.underlying is not None:
            self.gen_type(d.underlying)
        elif isinstance(d, A.ActionDecl):
            self.block_prefix = "top"
            self.gen_action(d)

    # ------------------------------------------------------------ types
    def gen_type(self, t: A.TypeRef) -> None:
        """Declares the classes of the header stacks in a type, where the checker resolved them."""
        if isinstance(t, A.StackType):
            self.gen_type(t.elem)
            st = self.ann.get(id(t))
            if isinstance(st, StackT):
                key = (st.elem.name, st.size)
                if key not in self.stack_classes:
                    self.stack_classes[key] = self.gen_stack_class(st)
                st.pyclass = self.stack_classes[key]
        elif isinstance(t, A.NamedType):
            for a in t.args:
                self.gen_type(a)

    def gen_struct_class(self, st: StructT) -> None:
        # Scalar fields default to class attributes, so creating an instance costs only the nested
        # headers/structs it owns (the drivers' per-packet objects are reset field by field: reset_stores).
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
        if "resubmit_type" in st.fields and self.checked.resubmit:
            m.append("    _rset = False")  # set by any assignment to resubmit_type (the deparser's valid bit)
        if nested:
            m.append("    def __init__(self):")
            m.extend(nested)
        m.append("    def _copy(self, o):")
        m.extend(copy or ["        pass"])
        if st.is_header:
            self.gen_header_io(st)

    def reset_stores(self, obj: str, st: P4Type, out: list[str]) -> None:
        """Lines that put `obj`, a per-packet object of struct type `st`, back to a fresh instance's values:
        every scalar (and `_v`, `_uset`, `_rset`) stored, nested headers/structs/stacks recursively. The
        instance dicts keep their keys, so the packet's reads and writes hit them in place (clearing the
        dicts instead made every packet regrow them, and its reads of unset fields fall back to the class)."""
        assert isinstance(st, StructT), st
        var = f"o{len(out)}"
        out.append(f"{var} = {obj}")
        stores: list[str] = []
        for p4name, t in st.fields.items():
            name = pyattr(p4name)
            if isinstance(t, StructT):
                self.reset_stores(f"{var}.{name}", t, out)
            elif isinstance(t, StackT):
                out.append(f"{var}.{name}.ni = 0")
                for i in range(t.size):
                    self.reset_stores(f"{var}.{name}.h[{i}]", t.elem, out)
            else:
                stores.append(f"{var}.{name} = {self.zero(t)}")
        if st.is_header:
            stores.append(f"{var}._v = False")
        if "ucast_egress_port" in st.fields:
            stores.append(f"{var}._uset = False")
        if "resubmit_type" in st.fields and self.checked.resubmit:
            stores.append(f"{var}._rset = False")
        out.extend(stores)

    @staticmethod
    def zero(t: P4Type) -> str:
        if isinstance(t, (StructT, StackT)):
            assert t.pyclass, t
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
    def gen_main(self) -> None:
        for role, block in self.checked.roles.items():
            self.gress = "egress" if role.startswith("egress") else "ingress"
            self.gen_block(block)
        for gress in ("ingress", "egress"):
            self.gen_driver(gress, self.checked.roles, self.checked.gress_types[gress])

    def gen_driver(self, gress: str, blocks: dict[str, CheckedBlock], types: dict[str, P4Type]) -> None:
        """Generated per-packet entry point: build metadata, run parser, control, deparser."""
        g = gress
        pre = "ig" if g == "ingress" else "eg"
        fn = FnCtx("driver")
        otypes = {"hdr": types["hdr"], "md": types["md"]}
        for role, tname in ROLE_TYPES.items():
            if role.startswith(pre):
                otypes[role] = self.struct_types[tname]
        objs = {role: f"{t.pyclass}()" for role, t in otypes.items()}  # type: ignore[attr-defined]
        intr = f"{pre}_intr_md"
        if g == "ingress":
            fn.lines.append("def run_ingress(frame, port, tstamp, resub=None):" if self.checked.resubmit
                            else "def run_ingress(frame, port, tstamp):")
        else:
            fn.lines.append("def run_egress(frame, port, qid, enq_qdepth, deq_timedelta, tstamp, rid=0, "
                            "deq_qdepth=None, enq_tstamp=None):")
        if self.uses_clock:
            fn.emit("global _plen, _tnow")
            fn.emit("_plen = len(frame)")
            fn.emit("_tnow = tstamp")
        else:
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
            for (_, sym, _), r in zip(blocks[role].params, ROLES[role], strict=False):
                src = ("out" if role.endswith("deparser") else "pkt") if r == "pkt" else r
                self.module.append(f"{sym.code} = {keep[src]}")
        # Their reset, one straight-line function storing every field's default (reset_stores); run once here
        # too, so that the instance dicts hold all their keys from the first packet on.
        rst: list[str] = []
        for role, t in otypes.items():
            self.reset_stores(keep[role], t, rst)
        self.module.append(f"def _RST_{pre}():")
        self.module.extend(f"    {line}" for line in rst)
        self.module.append(f"_RST_{pre}()")
        fn.emit(f"_RST_{pre}()")
        for role in objs:
            fn.emit(f"r_{role} = {keep[role]}")
        shifts = header_shifts(self.struct_types[ROLE_TYPES[intr]])
        nbytes = self.struct_types[ROLE_TYPES[intr]].bits // 8
        fn.emit(f"pkt = {keep['pkt']}")
        if g == "ingress":
            fn.emit(f"r_{intr}.ingress_port = port")
            fn.emit(f"r_{intr}.ingress_mac_tstamp = ts48 = tstamp & 0xffffffffffff")
            fn.emit(f"r_{intr}._v = True")
            fn.emit("r_ig_prsr_md.global_tstamp = ts48")
            packed = f"((port << {shifts['ingress_port']}) | (ts48 << {shifts['ingress_mac_tstamp']}))"
            if self.checked.resubmit:  # a resubmitted pass: resubmit_flag 1, the resubmit data for the phase-0 bits
                fn.emit("if resub is not None:")
                fn.emit(f"    r_{intr}.resubmit_flag = 1")
                fn.emit(f"    pkt.data = data = ({packed} | {1 << shifts['resubmit_flag']}).to_bytes({nbytes}, 'big') "
                        "+ resub + frame")
                fn.emit("else:")
                ind = "    "
            else:
                ind = ""
            if self.checked.port_metadata.read:  # the phase-0 bits of the port ($PORT_METADATA), zeros if unset
                self.env["_PORTMD"] = self.port_metadata.values
                self.env["_PM0"] = bytes(R.PORT_METADATA_BYTES)
                fn.emit(f"{ind}pkt.data = data = {packed}.to_bytes({nbytes}, 'big') + _PORTMD.get(port, _PM0) + frame")
            else:  # the program only advances past them
                fn.emit(f"{ind}pkt.data = data = {packed}.to_bytes({nbytes}, 'big') + bytes(8) + frame")
        else:
            # tofino1arch.p4: depths in cells (19 bits), enq_tstamp the enqueue time and deq_timedelta the time
            # waited, both ns in 18 bits (low bits: the hardware's fields are that wide)
            fields = {"egress_port": "port & 0x1ff", "egress_qid": "qid & 0x1f", "enq_qdepth": "enq_qdepth & 0x7ffff",
                      "deq_qdepth": "(enq_qdepth if deq_qdepth is None else deq_qdepth) & 0x7ffff",
                      "deq_timedelta": "deq_timedelta & 0x3ffff",
                      "enq_tstamp": "(tstamp - deq_timedelta if enq_tstamp is None else enq_tstamp) & 0x3ffff",
                      "pkt_length": "len(frame) & 0xffff", "egress_rid": "rid & 0xffff"}
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
            bfn = blocks[role].fn
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

    def gen_block(self, block: CheckedBlock) -> None:
        """One instance of a parser/control: its function name goes into `block.fn`, its params' globals
        into their symbols."""
        decl = block.decl
        saved = (self.block_prefix, self.ann)
        self.block_prefix = py_ident("_".join(block.path))
        self.ann = block.ann
        for p, (_, sym, _) in zip(decl.params, block.params, strict=True):
            self.gen_type(p.type)
            sym.code = self.uniq(f"{self.block_prefix}__{p.name}")
        inits: list[tuple[VarSym, A.Expr | None, Loc]] = []
        checksums: list[str] = []
        for ld in decl.locals:
            if isinstance(ld, A.VarDecl):
                self.gen_type(ld.type)
                var = self.var(ld)
                var.code = self.uniq(f"{self.block_prefix}__{ld.name}")
                inits.append((var, ld.init, ld.loc))
                self.module.append(f"{var.code} = {self.zero(var.type)}")
            elif isinstance(ld, A.ConstDecl):
                self.gen_type(ld.type)
            elif isinstance(ld, A.ActionDecl):
                self.gen_action(ld)
            elif isinstance(ld, A.TableDecl):
                self.gen_table(ld)
            elif isinstance(ld, A.Instantiation):
                inst = self.gen_instantiation(ld)
                if isinstance(inst, ExternSym) and inst.kind == "Checksum":
                    checksums.append(inst.pyname)
            elif isinstance(ld, A.ValueSetDecl):
                vsym = self.ann[id(ld)]
                assert isinstance(vsym, ExternSym)
                vs = R.ValueSet(vsym.qual, vsym.extra["fields"], vsym.extra["size"])  # type: ignore[arg-type]
                vs.gress = self.gress
                self.value_sets[vsym.qual] = vs
                vsym.pyname = self.put_env(f"VS_{vsym.cpq}", vs)
        kind = "parser" if isinstance(decl, A.ParserDecl) else "control"
        fname = self.uniq(f"{'prs' if kind == 'parser' else 'ctl'}_{self.block_prefix}")
        block.fn = fname
        fn = FnCtx("control")
        fn.lines.append(f"def {fname}():")
        self.fn = fn
        for ck in checksums:
            fn.emit(f"{ck}.total = 0")
        for sym, init, _loc in inits:
            t = sym.type
            if isinstance(t, (StructT, StackT)):
                fn.emit(f"{sym.code}._copy({t.pyclass}())")
                if init is not None:
                    self.assign_to(Value(sym.code, t, lvalue=True), init)
            else:
                fn.globals.add(sym.code)
                val = self.coerce(self.expr(init), t).code if init is not None else "0"
                fn.emit(f"{sym.code} = {val}")
        if isinstance(decl, A.ParserDecl):
            states = self.gen_states(decl)
            fn.emit(f"s = {states['start']}")
            fn.emit("for _ in range(1024):")
            fn.emit("    s = s()")
            fn.emit("    if s is None:")
            fn.emit("        return")
            fn.emit("raise ParserReject('ParserTimeout')")
            self.fn = fn
        else:
            self.gen_block_stmt(decl.apply)
        self.flush_fn(fn)
        self.block_prefix, self.ann = saved

    def gen_states(self, decl: A.ParserDecl) -> dict[str, str]:
        names = {st.name: self.uniq(f"st_{self.block_prefix}_{st.name}") for st in decl.states}
        for st in decl.states:
            fn = FnCtx("state")
            fn.lines.append(f"def {names[st.name]}():")
            if self.trace:
                fn.emit(f"if _TR.on: _TR.state({decl.name + '.' + st.name!r})")
            self.fn = fn
            for s in st.stmts:
                self.gen_stmt(s)
            tr = st.transition
            if tr is None:
                fn.emit("raise ParserReject('reject')")
            elif tr.select is None:
                fn.emit(self.goto(tr.state, names))  # type: ignore[arg-type]
            else:
                self.gen_select(tr, names)
            self.flush_fn(fn)
        return names

    @staticmethod
    def goto(state: str, names: dict[str, str]) -> str:
        if state == "accept":
            return "return None"
        if state == "reject":
            return "raise ParserReject('reject')"
        return f"return {names[state]}"

    def gen_select(self, tr: A.Transition, names: dict[str, str]) -> None:
        fn = self.fn
        sel: list[Value] = []
        for e in tr.select or []:
            v = self.expr(e)
            if isinstance(v.type, BoolT):
                v = Value(f"(1 if {v.code} else 0)", Bits(1))
            t = fn.temp()
            fn.emit(f"{t} = {v.code}")
            sel.append(Value(t, v.type))
        simple: dict[int, str] = {}
        default: str | None = None
        is_simple = len(sel) == 1
        conds: list[tuple[str, str]] = []
        for case in tr.cases:
            vs = self.ann.get(id(case))
            if isinstance(vs, ExternSym):  # a value set: any of its entries
                conds.append((f"{vs.pyname}.match(({''.join(s.code + ', ' for s in sel)}))",
                              self.goto(case.state, names)))
                is_simple = False
                continue
            if len(case.keyset) == 1 and isinstance(case.keyset[0], A.Default):
                items: list[A.Expr] = [case.keyset[0]] * len(sel)
            else:
                items = case.keyset
            parts = [self.keyset_cond(item, s) for item, s in zip(items, sel, strict=True)]
            target = self.goto(case.state, names)
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

    def keyset_cond(self, item: A.Expr, s: Value) -> str:
        if isinstance(item, A.Default):
            return "True"
        if isinstance(item, A.Mask):
            v = self.const_of(item.value, s.type)
            m = self.const_of(item.mask, s.type)
            return f"{s.code} & {m} == {v & m}"
        if isinstance(item, A.Range):
            lo = self.const_of(item.low, s.type)
            hi = self.const_of(item.high, s.type)
            return f"{lo} <= {s.code} <= {hi}"
        return f"{s.code} == {self.const_of(item, s.type)}"

    def const_of(self, e: A.Expr, t: P4Type) -> int:
        return int(cast(int, self.coerce(self.expr(e), t).const))

    # ------------------------------------------------------------ actions
    def gen_action(self, d: A.ActionDecl) -> None:
        sym = self.ann[id(d)]
        assert isinstance(sym, ActionSym)
        sym.pyname = self.uniq(f"act_{self.block_prefix}_{d.name}")
        fn = FnCtx("action")
        argnames = []
        for p in d.params:
            self.gen_type(p.type)
            psym = self.ann[id(p)]
            assert isinstance(psym, VarSym)
            psym.code = f"p_{py_ident(p.name)}"
            argnames.append(psym.code)
            if p.direction in ("out", "inout"):
                fn.outs.append(psym.code)
        fn.lines.append(f"def {sym.pyname}({', '.join(argnames)}):")
        saved = self.fn
        self.fn = fn
        self.gen_block_stmt(d.body)
        if fn.outs:
            fn.emit(f"return ({', '.join(fn.outs)},)")
        self.flush_fn(fn)
        self.fn = saved

    # ------------------------------------------------------------ tables
    def gen_table(self, d: A.TableDecl) -> None:
        sym = self.ann[id(d)]
        assert isinstance(sym, TableSym)
        key_codes: list[str] = []
        for k in d.keys:
            if k.match_kind == "selector":  # the selector's hash input, not part of the match key
                continue
            v = self.expr(k.expr)
            if isinstance(v.type, Bits) and v.type.signed:
                v = Value(f"({v.code} & {mask(v.type.width)})", Bits(v.type.width))
            key_codes.append(v.code)
        objname = sym.objname = self.uniq(f"T_{self.block_prefix}_{d.name}")
        pyname = sym.pyname = self.uniq(f"tbl_{self.block_prefix}_{d.name}")
        tinfo = R.Table(sym.qual, sym.keys, sym.infos, None, sym.size, const_default=d.default_is_const,  # type: ignore[arg-type]
                        has_counter=sym.counter is not None,
                        meter_unit=str(sym.meter.extra["unit"]) if sym.meter is not None else None)
        if sym.idle_timeout:
            tinfo.idle = R.IdleTime()
        if sym.key_masks:
            tinfo.enable_key_masks()
        self.pipe_state[self.gress].append(tinfo)  # its EntryScope: one copy of the entries, or one per scope
        self.env[objname] = tinfo
        self.tables[sym.qual] = tinfo
        self.table_actions[sym.qual] = sym.infos
        if sym.counter is not None:
            self.env[sym.counter.pyname].table = tinfo  # type: ignore[attr-defined]
        if sym.meter is not None:
            self.env[sym.meter.pyname].table = tinfo  # type: ignore[attr-defined]
        if sym.dfilter is not None:
            filt = self.env[sym.dfilter.pyname]
            assert isinstance(filt, R.DirectFilter)
            filt.table, tinfo.dfilter = tinfo, filt
        if sym.dreg is not None:
            dreg = self.env[sym.dreg.pyname]
            assert isinstance(dreg, R.DirectRegister)
            dreg.table, tinfo.dreg = tinfo, dreg
        hash_code = ""
        if sym.impl is not None:
            if sym.impl.kind == "ActionSelector":
                sel = self.env[sym.impl.pyname]
                assert isinstance(sel, R.ActionSelector)
                tinfo.selector, tinfo.profile = sel, sel.profile
                sel.tables.append(tinfo)
                h: ExternSym = sym.impl.extra["hash"]  # type: ignore[assignment]
                loc = sym.selector_keys[0].loc
                code, width = self.concat(A.ListExpr(loc, list(sym.selector_keys)))
                hash_code = f"hash_value({h.extra['algo']!r}, {code}, {width}, {h.extra['width']})"
            else:
                prof = self.env[sym.impl.pyname]
                assert isinstance(prof, R.ActionProfile)
                tinfo.profile = prof
            tinfo.profile.tables.append(tinfo)
        pynames = {a.cp_name: a.pyname for a in sym.actions.values()}
        is_const = d.entries is not None
        const_entries = sym.const_entries

        def setup(module: dict[str, object], t: R.Table = tinfo, infos: list[R.ActionInfo] = sym.infos,
                  dname: str = sym.default_name, dargs: tuple[int, ...] = sym.default_args) -> None:
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
        if sym.proxy is not None:
            tinfo.set_proxy(sym.proxy.extra["algo"], sym.proxy.extra["width"])  # type: ignore[arg-type]
            fn.emit(f"e = {objname}.lookup_proxy({key})")
        elif tinfo.all_exact and tinfo.key_mask is None:
            # the dict lookup inline (a method call per lookup is a visible share of a packet); a dynamic-key-mask
            # table goes through _lookup, which masks the packet's key first
            fn.emit(f"e = {objname}._exact.get({key}, {objname}.default)")
        else:
            fn.emit(f"e = {objname}._lookup({key})")
        if self.trace:
            names = tuple(k.name for k in tinfo.keys)
            fn.emit(f"if _TR.on: _TR.table({sym.qual!r}, {names!r}, {key}, e)")
        if sym.counter is not None or sym.meter is not None or sym.dreg is not None or sym.dfilter is not None:
            fn.emit(f"{objname}.cur = e")
        if sym.idle_timeout:  # the entry's hit bit, which the idle-time sweep and UpdateHitState read and clear
            fn.emit("e.idle_hit = True")
        if hash_code:
            # An entry naming a selector group runs the member the hash of the `selector` keys picks; a group
            # without an active member runs the table's default action.
            fn.emit("g = e.group")
            fn.emit("if g is not None:")
            fn.emit(f"    m = g.pick({hash_code})")
            fn.emit("    if m is None:")
            fn.emit(f"        m = {objname}.default")
            fn.emit("    m.fn(*m.args)")
            fn.emit("    return m")
        fn.emit("e.fn(*e.args)")
        fn.emit("return e")
        self.flush_fn(fn)

    # ------------------------------------------------------------ instantiations
    def gen_instantiation(self, d: A.Instantiation) -> object:
        sym = self.ann[id(d)]
        if isinstance(sym, InstanceSym):
            saved_fn = self.fn
            self.gen_block(sym.block)
            self.fn = saved_fn
            return sym
        assert isinstance(sym, ExternSym) and isinstance(d.type, A.NamedType)
        for a in d.type.args:
            self.gen_type(a)
        getattr(self, f"inst_{sym.kind}")(sym)
        return sym

    def inst_Register(self, x: ExternSym) -> None:
        t = x.extra["value_type"]
        reg = R.RegisterArray(x.qual, x.extra["size"], x.extra["fields"], initial=x.extra["initial"])  # type: ignore[arg-type]
        x.pyname = self.put_env(f"REG_{x.cpq}", reg)
        self.registers[x.qual] = reg
        self.pipe_state[self.gress].append(reg)
        if isinstance(t, StructT):
            cls = t.pyclass

            def setup(m: dict[str, object], reg: R.RegisterArray = reg, cls: str = cls) -> None:
                factory = m[cls]  # the generated struct class of the register's cells
                assert callable(factory)
                reg.factory = factory
                reg.reset()

            self.setups.append(setup)
        else:
            reg.reset()

    def inst_RegisterAction(self, x: ExternSym) -> None:
        rsym: ExternSym = x.extra["register"]  # type: ignore[assignment]
        x.pyname = self.uniq(f"ra_{x.cpq}")
        fn = FnCtx("regaction")
        fn.lines.append(f"def {x.pyname}(index):")
        reg = rsym.pyname
        fn.emit(f"i = index % {rsym.extra['size']}")
        fn.emit(f"value = {reg}.values[i]")
        self.register_apply(x, fn, f"{reg}.values[i] = value")

    def inst_DirectRegisterAction(self, x: ExternSym) -> None:
        """The cell of the entry its table just matched (made from the initial value on first use)."""
        rsym: ExternSym = x.extra["register"]  # type: ignore[assignment]
        x.pyname = self.uniq(f"dra_{x.cpq}")
        fn = FnCtx("regaction")
        fn.lines.append(f"def {x.pyname}():")
        d = rsym.pyname
        fn.emit(f"cells = {d}.table.cur.reg")
        fn.emit("if cells is None:")
        fn.emit(f"    cells = {d}.table.cur.reg = {d}.new_cells()")
        fn.emit(f"p = {d}.pipe")  # the pipe this gress runs in: each pipe has its own cell
        fn.emit("value = cells[p]")
        fn.emit("if value is None:")
        fn.emit(f"    value = cells[p] = {d}.fresh()")
        self.register_apply(x, fn, "cells[p] = value")

    def register_apply(self, x: ExternSym, fn: FnCtx, store: str) -> None:
        ap: A.FunctionDecl = x.extra["apply"]  # type: ignore[assignment]
        rsym: ExternSym = x.extra["register"]  # type: ignore[assignment]
        u: P4Type = x.extra["rv_type"]  # type: ignore[assignment]
        self.var(ap.params[0]).code = "value"
        if len(ap.params) == 2:
            self.gen_type(ap.params[1].type)
            self.var(ap.params[1]).code = "rv"
        fn.emit(f"rv = {self.zero(u) if not isinstance(u, VoidT) else 'None'}")
        saved = self.fn
        self.fn = fn
        self.gen_block_stmt(ap.body)
        if not isinstance(rsym.extra["value_type"], StructT):
            fn.emit(store)
        fn.emit("return rv")
        self.flush_fn(fn)
        self.fn = saved

    def inst_DirectRegister(self, x: ExternSym) -> None:
        t = x.extra["value_type"]
        dreg = R.DirectRegister(x.qual, x.extra["fields"], x.extra["initial"])  # type: ignore[arg-type]
        x.pyname = self.put_env(f"DREG_{x.cpq}", dreg)
        self.pipe_state[self.gress].append(dreg)
        if isinstance(t, StructT):
            cls = t.pyclass

            def setup(m: dict[str, object], dreg: R.DirectRegister = dreg, cls: str = cls) -> None:
                factory = m[cls]
                assert callable(factory)
                dreg.factory = factory

            self.setups.append(setup)

    def inst_Lpf(self, x: ExternSym) -> None:
        lpf = R.LpfArray(x.qual, x.extra["size"], x.extra["width"])  # type: ignore[arg-type]
        self.lpfs[x.qual] = lpf
        self.pipe_state[self.gress].append(lpf)
        x.pyname = self.put_env(f"LPF_{x.cpq}", lpf)

    def inst_Wred(self, x: ExternSym) -> None:
        wred = R.WredArray(x.qual, x.extra["size"], x.extra["drop"], x.extra["no_drop"])  # type: ignore[arg-type]
        self.wreds[x.qual] = wred
        self.pipe_state[self.gress].append(wred)
        x.pyname = self.put_env(f"WRED_{x.cpq}", wred)

    def inst_DirectLpf(self, x: ExternSym) -> None:
        f = R.DirectFilter("Lpf", x.extra["width"])  # type: ignore[arg-type]
        x.pyname = self.put_env(f"DLPF_{x.cpq}", f)
        self.pipe_state[self.gress].append(f)

    def inst_DirectWred(self, x: ExternSym) -> None:
        f = R.DirectFilter("Wred", x.extra["width"], x.extra["drop"], x.extra["no_drop"])  # type: ignore[arg-type]
        x.pyname = self.put_env(f"DWRED_{x.cpq}", f)
        self.pipe_state[self.gress].append(f)

    def inst_CRCPolynomial(self, x: ExternSym) -> None:
        pass  # its parameters are the Hash's algorithm

    def inst_Alpm(self, x: ExternSym) -> None:
        pass  # a table layout: the table's own matcher does the lookup

    def inst_Atcam(self, x: ExternSym) -> None:
        pass

    def inst_RegisterParam(self, x: ExternSym) -> None:
        param = R.RegisterParam(x.qual, x.extra["width"], x.extra["initial"], x.extra["registers"])  # type: ignore[arg-type]
        self.reg_params[x.qual] = param
        x.pyname = self.put_env(f"RP_{x.cpq}", param)

    def var(self, node: object) -> VarSym:
        sym = self.ann[id(node)]
        assert isinstance(sym, VarSym)
        return sym

    def inst_Hash(self, x: ExternSym) -> None:
        pass  # memo tables are per call site (call_extern)

    def dyn_hash(self, x: ExternSym, c: A.Call, shifts: tuple[int, ...], nbits: int,
                 sym: tuple[tuple[int, int], ...]) -> str | None:
        """The env name of the DynHash of a Hash's only get() site over named fields (dynhash.py), else None."""
        if self.dyn_sites is None:
            self.dyn_sites = DH.survey(self.checked)
        site = self.dyn_sites.get(id(x))
        if site is None or site.calls != {id(c)} or site.fields is None:
            return None
        if x.qual not in self.dyn_hashes:  # (the one site's code may be generated more than once)
            self.dyn_hashes[x.qual] = DH.DynHash(x.qual, site.fields, x.extra["width"], tuple(sorted(site.used)),  # type: ignore[arg-type]
                                                 x.extra["algo"], shifts, nbits, sym)  # type: ignore[arg-type]
            self.names.add(f"DH_{py_ident(x.qual)}")
            self.env[f"DH_{py_ident(x.qual)}"] = self.dyn_hashes[x.qual]
        return f"DH_{py_ident(x.qual)}"

    def inst_Counter(self, x: ExternSym) -> None:
        c = R.CounterArray(x.qual, x.extra["size"], x.extra["kind"])  # type: ignore[arg-type]
        c.reset()
        self.counters[x.qual] = c
        self.pipe_state[self.gress].append(c)
        x.pyname = self.put_env(f"CNT_{x.cpq}", c)

    def inst_DirectCounter(self, x: ExternSym) -> None:
        x.pyname = self.put_env(f"DC_{x.cpq}", _Direct())

    def inst_Meter(self, x: ExternSym) -> None:
        m = R.MeterArray(x.qual, x.extra["size"], str(x.extra["unit"]), x.extra["colors"])  # type: ignore[arg-type]
        self.meters[x.qual] = m
        self.pipe_state[self.gress].append(m)
        x.pyname = self.put_env(f"MTR_{x.cpq}", m)

    def inst_DirectMeter(self, x: ExternSym) -> None:
        dm = R.DirectMeter(str(x.extra["unit"]), x.extra["colors"])  # type: ignore[arg-type]
        x.pyname = self.put_env(f"DM_{x.cpq}", dm)
        self.pipe_state[self.gress].append(dm)

    def profile_actions(self, x: ExternSym) -> R.ActionProfile:
        acts: dict[str, tuple[ActionSym, list[tuple[str, int]]]] = x.extra["actions"]  # type: ignore[assignment]
        infos = [R.ActionInfo(name, None, params) for name, (_, params) in acts.items()]
        prof = R.ActionProfile(x.qual, x.extra["size"], infos)  # type: ignore[arg-type]

        def setup(m: dict[str, object], infos: list[R.ActionInfo] = infos) -> None:
            for info in infos:
                info.fn = m[acts[info.name][0].pyname]

        self.setups.append(setup)
        self.profiles[x.qual] = prof
        return prof

    def inst_ActionProfile(self, x: ExternSym) -> None:
        x.pyname = self.put_env(f"AP_{x.cpq}", self.profile_actions(x))

    def inst_ActionSelector(self, x: ExternSym) -> None:
        psym: ExternSym = x.extra["profile"]  # type: ignore[assignment]
        prof = self.env[psym.pyname]
        assert isinstance(prof, R.ActionProfile)
        sel = R.ActionSelector(x.qual, prof, x.extra["num_groups"], x.extra["max_group_size"])  # type: ignore[arg-type]
        self.selectors[x.qual] = sel
        x.pyname = self.put_env(f"AS_{x.cpq}", sel)

    def inst_Random(self, x: ExternSym) -> None:
        rng = random.Random()
        self.randoms[x.qual] = rng
        x.pyname = self.put_env(f"RND_{x.cpq}", rng)

    def inst_Digest(self, x: ExternSym) -> None:
        info = R.DigestInfo(x.qual, x.extra["fields"])  # type: ignore[arg-type]
        self.digests[x.qual] = info
        x.pyname = self.put_env(f"DG_{x.cpq}", info)

    def inst_Mirror(self, x: ExternSym) -> None:
        pass

    def inst_Resubmit(self, x: ExternSym) -> None:
        pass  # emit() appends to _RESUB, the pipeline resubmits

    def inst_Checksum(self, x: ExternSym) -> None:
        x.pyname = self.put_env(f"CK_{x.cpq}", R.ChecksumUnit())

    # ------------------------------------------------------------ statements
    def gen_block_stmt(self, b: A.Block) -> None:
        start = len(self.fn.lines)
        for s in b.stmts:
            self.gen_stmt(s)
        if len(self.fn.lines) == start:
            self.fn.emit("pass")

    def gen_stmt(self, s: A.Stmt) -> None:
        fn = self.fn
        if isinstance(s, A.Block):
            self.gen_block_stmt(s)
        elif isinstance(s, A.Empty):
            pass
        elif isinstance(s, A.Assign) and isinstance(s.target, A.Slice):
            self.assign_slice(s.target, s.value)
            self.trace_write(s.target)
        elif isinstance(s, A.Assign):
            self.assign_to(self.expr(s.target), s.value)
            self.trace_write(s.target)
        elif isinstance(s, A.CallStmt):
            v = self.gen_call(s.call, as_stmt=True)
            if v.code:
                fn.emit(v.code)
        elif isinstance(s, A.If):
            fn.emit(f"if {self.expr(s.cond).code}:")
            fn.indent += 1
            self.gen_nested(s.then)
            fn.indent -= 1
            if s.other is not None:
                fn.emit("else:")
                fn.indent += 1
                self.gen_nested(s.other)
                fn.indent -= 1
        elif isinstance(s, A.VarDecl):
            self.gen_type(s.type)
            local = f"v_{py_ident(s.name)}_{fn.tmp}"
            fn.tmp += 1
            if s.is_const:
                return
            sym = self.var(s)
            sym.code = local
            t = sym.type
            if isinstance(t, (StructT, StackT)):
                fn.emit(f"{local} = {t.pyclass}()")
                if s.init is not None:
                    self.assign_to(Value(local, t, lvalue=True), s.init)
            elif s.init is not None:
                fn.emit(f"{local} = {self.coerce(self.expr(s.init), t).code}")
            else:
                fn.emit(f"{local} = {self.zero(t)}")
        elif isinstance(s, A.Switch):
            self.gen_switch(s)
        elif isinstance(s, A.Return):
            if fn.kind == "action":
                fn.emit(f"return ({', '.join(fn.outs)},)" if fn.outs else "return")
            elif fn.kind == "control":
                fn.emit("return")
            else:
                assert fn.kind == "regaction"
                fn.emit("return rv")
        elif isinstance(s, A.Exit):
            fn.emit("raise ExitControl()")
        else:
            raise AssertionError(f"{s.loc}: unchecked statement {type(s).__name__}")

    def gen_nested(self, s: A.Stmt) -> None:
        start = len(self.fn.lines)
        self.gen_stmt(s)
        if len(self.fn.lines) == start:
            self.fn.emit("pass")

    def gen_switch(self, s: A.Switch) -> None:
        fn = self.fn
        v = self.expr(s.expr)
        t = fn.temp()
        fn.emit(f"{t} = {v.code}")
        pending: list[str] = []
        first = True
        for case in s.cases:
            for label in case.labels:
                if label is None:
                    pending.append("True")
                elif isinstance(v.type, ActionRunT):
                    assert isinstance(label, A.Name)
                    pending.append(f"{t} is {v.type.table.actions[label.name].pyname}")
                else:
                    pending.append(f"{t} == {self.const_of(label, v.type)}")
            if case.body is None:
                continue
            cond = "True" if "True" in pending else " or ".join(pending)
            fn.emit(f"{'if' if first else 'elif'} {cond}:")
            first = False
            fn.indent += 1
            self.gen_block_stmt(case.body)
            fn.indent -= 1
            pending = []
        if first:
            fn.emit("pass")

    def trace_write(self, target: A.Expr) -> None:
        """With tracing: the value an assignment in an action or a control left in a scalar field (the whole
        field for a slice)."""
        if not self.trace or self.fn.kind not in ("action", "control"):
            return
        while isinstance(target, A.Slice):
            target = target.base
        a = self.ann.get(id(target))
        if isinstance(a, Typed) and isinstance(a.type, (Bits, BoolT)):
            self.fn.emit(f"if _TR.on: _TR.write({expr_text(target)!r}, {self.expr(target).code})")

    def assign_to(self, target: Value, expr: A.Expr) -> None:
        fn = self.fn
        t = target.type
        if isinstance(t, (StructT, StackT)):
            if isinstance(expr, A.ListExpr):
                assert isinstance(t, StructT)
                tmp = fn.temp()
                fn.emit(f"{tmp} = {target.code}")
                for (fname, ft), item in zip(t.fields.items(), expr.items, strict=True):
                    self.assign_to(Value(f"{tmp}.{pyattr(fname)}", ft, lvalue=True), item)
                if t.is_header:
                    fn.emit(f"{tmp}._v = True")
                return
            fn.emit(f"{target.code}._copy({self.expr(expr).code})")
            return
        v = self.coerce(self.expr(expr), t)
        self.note_global(target.code)
        fn.emit(f"{target.code} = {v.code}")
        if target.code.endswith(".ucast_egress_port"):
            fn.emit(f"{target.code[: -len('.ucast_egress_port')]}._uset = True")
        if target.code.endswith(".resubmit_type") and self.checked.resubmit:
            fn.emit(f"{target.code[: -len('.resubmit_type')]}._rset = True")

    def assign_slice(self, target: A.Slice, expr: A.Expr) -> None:
        base = self.expr(target.base)
        assert isinstance(base.type, Bits)
        hi, lo = self.typed(target.hi).const, self.typed(target.lo).const
        assert isinstance(hi, int) and isinstance(lo, int)
        v = self.coerce(self.expr(expr), Bits(hi - lo + 1))
        keep = mask(base.type.width) ^ (mask(hi - lo + 1) << lo)
        self.note_global(base.code)
        shifted = f"({v.code} << {lo})" if lo else v.code
        self.fn.emit(f"{base.code} = ({base.code} & {keep:#x}) | {shifted}")

    def note_global(self, code: str) -> None:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", code) and code in self.names:
            self.fn.globals.add(code)

    # ------------------------------------------------------------ expressions
    @staticmethod
    def coerce(v: Value, t: P4Type) -> Value:
        """The checker's coercion, for the code: integer literals take the width of their context."""
        if same_type(v.type, t):
            return v
        assert isinstance(v.type, InfInt) and isinstance(t, Bits), (v, t)
        c = wrap_const(int(v.const), t)  # type: ignore[call-overload]
        return Value(str(c), t, c)

    def expr(self, e: A.Expr) -> Value:
        a = self.typed(e)
        if a.const is not None:  # folded by the checker (the generated code is its literal)
            return Value(repr(a.const), a.type, a.const)
        if isinstance(e, A.Name):
            if a.sym is None:
                return Value("", a.type)
            assert a.sym.code, e
            return Value(a.sym.code, a.type, lvalue=a.lvalue)
        if isinstance(e, A.Member):
            return self.gen_member(e, a)
        if isinstance(e, A.Index):
            base = self.expr(e.base)
            return Value(f"{base.code}.h[{self.typed(e.index).const}]", a.type, lvalue=a.lvalue)
        if isinstance(e, A.Slice):
            base = self.expr(e.base)
            lo = self.typed(e.lo).const
            w = a.type.width  # type: ignore[attr-defined]
            return Value(f"(({base.code} >> {lo}) & {mask(w):#x})" if lo else f"({base.code} & {mask(w):#x})", a.type)
        if isinstance(e, A.Unary):
            return self.gen_unary(e, a)
        if isinstance(e, A.Binary):
            return self.gen_binary(e, a)
        if isinstance(e, A.Ternary):
            c, x, y = self.expr(e.cond), self.expr(e.then), self.expr(e.other)
            if isinstance(x.type, InfInt):
                x = self.coerce(x, y.type)
            if isinstance(y.type, InfInt):
                y = self.coerce(y, x.type)
            return Value(f"({x.code} if {c.code} else {y.code})", a.type)
        if isinstance(e, A.Cast):
            return self.gen_cast(e, a)
        if isinstance(e, A.Call):
            return self.gen_call(e, as_stmt=False)
        raise AssertionError(f"{e.loc}: unchecked expression {type(e).__name__}")

    def gen_member(self, e: A.Member, a: Typed) -> Value:
        if isinstance(a.type, RefT):
            return Value("", a.type)  # a method: the call generates it from e.base
        base = self.expr(e.base)
        t = base.type
        if isinstance(t, StructT):
            return Value(f"{base.code}.{pyattr(e.name)}", a.type, lvalue=a.lvalue)
        if isinstance(t, StackT):
            if e.name == "last":
                return Value(f"_last({base.code})", a.type, lvalue=a.lvalue)
            if e.name == "next":
                return Value(f"_next({base.code})", a.type, lvalue=a.lvalue)
            assert e.name == "lastIndex"
            return Value(f"(({base.code}.ni - 1) & 0xffffffff)", a.type)
        assert isinstance(t, TableResT)
        if e.name == "hit":
            return Value(f"{base.code}.hit", a.type)
        if e.name == "miss":
            return Value(f"(not {base.code}.hit)", a.type)
        return Value(f"{base.code}.fn", a.type)

    def gen_unary(self, e: A.Unary, a: Typed) -> Value:
        v = self.expr(e.operand)
        if e.op == "!":
            return Value(f"(not {v.code})", a.type)
        t = v.type
        assert isinstance(t, Bits)
        if e.op == "~":
            return Value(f"(~{v.code})" if t.signed else f"({v.code} ^ {mask(t.width):#x})", t)
        return Value(wrap(f"-{v.code}", t), t)

    def gen_binary(self, e: A.Binary, a: Typed) -> Value:
        op = e.op
        left, right = self.expr(e.left), self.expr(e.right)
        if op in ("&&", "||"):
            return Value(f"({left.code} {'and' if op == '&&' else 'or'} {right.code})", a.type)
        if op in ("<<", ">>"):
            lt = left.type
            assert isinstance(lt, Bits)
            if op == "<<":
                return Value(wrap(f"{left.code} << {right.code}", lt), lt)
            return Value(f"({left.code} >> {right.code})", lt)
        if op == "++":
            lb, rb = left.type, right.type
            assert isinstance(lb, Bits) and isinstance(rb, Bits)
            rcode = f"({right.code} & {mask(rb.width):#x})" if rb.signed else right.code
            cat = Bits(lb.width + rb.width, lb.signed)
            lcode = f"({left.code} & {mask(lb.width):#x})" if lb.signed else left.code
            code = f"(({lcode} << {rb.width}) | {rcode})"
            return Value(wrap(code, cat) if cat.signed else code, cat)
        if isinstance(left.type, InfInt):
            left = self.coerce(left, right.type) if isinstance(right.type, Bits) else left
        if isinstance(right.type, InfInt):
            right = self.coerce(right, left.type) if isinstance(left.type, Bits) else right
        lc, rc = left.code, right.code
        if op in ("==", "!=", "<", ">", "<=", ">=", "&", "|", "^"):
            return Value(f"({lc} {op} {rc})", a.type)
        t = left.type
        assert isinstance(t, Bits)
        if op in ("+", "-", "*"):
            return Value(wrap(f"{lc} {op} {rc}", t), t)
        if op in ("/", "%"):
            pyop = "//" if op == "/" else "%"
            return Value(f"({lc} {pyop} {rc} if {rc} else 0)", t)
        assert op in ("|+|", "|-|")
        lo, hi = ((-(1 << (t.width - 1)), (1 << (t.width - 1)) - 1) if t.signed else (0, mask(t.width)))
        pyop = "+" if op == "|+|" else "-"
        return Value(f"min(max({lc} {pyop} {rc}, {lo}), {hi})", t)

    def gen_cast(self, e: A.Cast, a: Typed) -> Value:
        self.gen_type(e.type)
        v = self.expr(e.expr)
        s, t = v.type, a.type
        if same_type(s, t):
            return v
        if isinstance(t, Bits):
            if isinstance(s, BoolT):
                return Value(f"(1 if {v.code} else 0)", t)
            if isinstance(s, EnumT) and s.underlying is not None:
                s = s.underlying
                v = Value(v.code, s)
                if same_type(s, t):
                    return v
            assert isinstance(s, Bits)
            if not t.signed and not s.signed and t.width >= s.width:
                return Value(v.code, t)
            return Value(wrap(v.code, t), t)
        if isinstance(t, BoolT):
            return Value(f"({v.code} == 1)", t)
        assert isinstance(t, EnumT)
        return Value(v.code, t)

    # ------------------------------------------------------------ calls
    def gen_call(self, c: A.Call, as_stmt: bool) -> Value:
        target = self.typed(c.func).type
        assert isinstance(target, RefT)
        sym = target.sym
        if isinstance(sym, ActionSym):
            return self.call_action(c, sym)
        if isinstance(sym, DeclSym):  # the extern functions the checker accepts: verify(), min(), max()
            name = sym.decl.name
            if name in ("min", "max"):
                t = self.typed(c).type
                a, b = (self.coerce(self.expr(x), t) for x in c.args)
                return Value(f"{name}({a.code}, {b.code})", t)
            if name == "port_metadata_unpack":
                return self.call_port_metadata_unpack(c)
            return self.call_verify(c)
        assert isinstance(sym, tuple) and isinstance(c.func, A.Member)
        obj, method = sym
        if isinstance(obj, Typed):
            return self.call_value_method(c, self.expr(c.func.base), method)
        if isinstance(obj, TableSym):
            return Value(f"{obj.pyname}()", TableResT(obj))
        if isinstance(obj, InstanceSym):
            return self.call_instance(c, obj)
        assert isinstance(obj, ExternSym)
        return self.call_extern(c, obj, method)

    def args_for(self, c: A.Call, params: list[tuple[str, P4Type]]) -> list[tuple[Value, A.Expr]]:
        out = []
        for (direction, t), a in zip(params, c.args, strict=True):
            v = self.expr(a)
            if direction in ("", "in"):
                v = self.coerce(v, t)
            out.append((v, a))
        return out

    def call_action(self, c: A.Call, a: ActionSym) -> Value:
        args = self.args_for(c, [(d, t) for d, _, t in a.params])
        call = f"{a.pyname}({', '.join(v.code for v, _ in args)})"
        outs = [v for (v, _), (d, _, _) in zip(args, a.params, strict=True) if d in ("out", "inout")]
        if not outs:
            return Value(call, VoidT())
        tmp = self.fn.temp()
        self.fn.emit(f"{tmp} = {call}")
        for i, v in enumerate(outs):
            self.assign_value(v, f"{tmp}[{i}]")
        return Value("", VoidT())

    def assign_value(self, target: Value, code: str) -> None:
        self.note_global(target.code)
        self.fn.emit(f"{target.code} = {code}")
        if target.code.endswith(".ucast_egress_port"):
            self.fn.emit(f"{target.code[: -len('.ucast_egress_port')]}._uset = True")
        if target.code.endswith(".resubmit_type") and self.checked.resubmit:
            self.fn.emit(f"{target.code[: -len('.resubmit_type')]}._rset = True")

    def call_port_metadata_unpack(self, c: A.Call) -> Value:
        """A fresh T from the next PORT_METADATA_SIZE bits (the port's phase-0 data), which it consumes."""
        t = self.typed(c).type
        assert isinstance(t, StructT)
        fname = self.pmd_fns.get(t.pyclass)
        if fname is None:
            fname = self.pmd_fns[t.pyclass] = self.uniq(f"pmd_{t.pyclass}")
            nbits = R.PORT_METADATA_BYTES * 8
            m = self.module
            m.append(f"def {fname}(pkt):")
            m.append("    o = pkt.off")
            m.append(f"    e = o + {R.PORT_METADATA_BYTES}")
            m.append("    if e > pkt.n:")
            m.append("        raise ParserReject('PacketTooShort')")
            m.append("    v = int.from_bytes(pkt.data[o:e], 'big')")
            m.append("    pkt.off = e")
            m.append(f"    h = {t.pyclass}()")
            pos = nbits
            for p4name, ft in t.fields.items():
                b = serial_bits(ft)
                assert b is not None
                pos -= b.width
                val = f"((v >> {pos}) & {hex(mask(b.width))})"
                if b.signed:
                    half = 1 << (b.width - 1)
                    val = f"(({val} + {half}) & {hex(mask(b.width))}) - {half}"
                m.append(f"    h.{pyattr(p4name)} = {val}")
            if t.is_header:
                m.append("    h._v = True")
            m.append("    return h")
        pkt = self.expr(c.args[0])
        return Value(f"{fname}({pkt.code})", t)

    def call_verify(self, c: A.Call) -> Value:
        cond = self.expr(c.args[0])
        err = self.expr(c.args[1])
        self.fn.emit(f"if not {cond.code}:")
        self.fn.emit(f"    raise ParserReject({self.checked.errors[int(err.const)]!r})")  # type: ignore[call-overload]
        return Value("", VoidT())

    def call_instance(self, c: A.Call, inst: InstanceSym) -> Value:
        fn = self.fn
        params = inst.block.params
        args = self.args_for(c, [(d, t) for d, _, t in params])
        after: list[tuple[Value, str]] = []
        for (v, _a), (direction, sym, t) in zip(args, params, strict=True):
            fn.globals.add(sym.code)
            fn.emit(f"{sym.code} = {v.code}")
            if direction in ("out", "inout") and not isinstance(t, (StructT, StackT, PacketT)):
                after.append((v, sym.code))
        fn.emit(f"{inst.block.fn}()")
        for v, gname in after:
            self.assign_value(v, gname)
        return Value("", VoidT())

    def concat(self, e: A.Expr) -> tuple[str, int]:
        """A list `{a, b}` or a header/struct value as one bit string: (code, width)."""
        terms = self.concat_terms(e)
        total = 0
        parts = []
        for code, w in reversed(terms):
            parts.append(f"({code} << {total})" if total else code)
            total += w
        return ("(" + " | ".join(reversed(parts)) + ")" if parts else "0"), total

    def ones_sum(self, e: A.Expr) -> str:
        """The 16-bit ones'-complement sum of `concat(e)` without building the wide int: 2^16 = 1 (mod 0xFFFF),
        so a field at bit position p (after padding to whole words) adds field << (p % 16) to a small sum."""
        terms = self.concat_terms(e)
        width = sum(w for _, w in terms)
        pos = (-width) % 16
        parts = []
        for code, w in reversed(terms):
            parts.append(f"({code} << {pos % 16})" if pos % 16 else code)
            pos += w
        return f"ones_fold({' + '.join(reversed(parts)) or '0'})"

    def concat_terms(self, e: A.Expr) -> list[tuple[str, int]]:
        if isinstance(e, A.ListExpr):
            vals = [self.expr(i) for i in e.items]
        else:
            v = self.expr(e)
            if isinstance(v.type, StructT):
                vals = [Value(f"{v.code}.{pyattr(n)}", ft) for n, ft in v.type.fields.items()]
            else:
                vals = [v]
        terms: list[tuple[str, int]] = []
        for v in vals:
            b = serial_bits(v.type)
            if isinstance(v.type, BoolT):
                terms.append((f"(1 if {v.code} else 0)", 1))
            else:
                assert b is not None
                code = f"({v.code} & {mask(b.width):#x})" if b.signed else v.code
                terms.append((code, b.width))
        return terms

    def call_value_method(self, c: A.Call, obj: Value, method: str) -> Value:
        t = obj.type
        fn = self.fn
        if isinstance(t, StructT):  # a header: isValid/setValid/setInvalid
            if method == "isValid":
                return Value(f"{obj.code}._v", BoolT())
            return Value(f"{obj.code}._v = {method == 'setValid'}", VoidT())
        if isinstance(t, StackT):  # push_front/pop_front
            n = self.typed(c.args[0]).const
            return Value(f"_{method}({obj.code}, {n}, {t.elem.pyclass})", VoidT())
        assert isinstance(t, PacketT)
        if method == "extract":
            h = self.expr(c.args[0])
            return Value(f"ext_{h.type.pyclass}({obj.code}, {h.code})", VoidT())  # type: ignore[attr-defined]
        if method == "lookahead":
            self.gen_type(c.type_args[0])
            lt = self.typed(c).type
            if isinstance(lt, StructT):  # a header: parse a fresh one, then put the offset back
                tmp, off = fn.temp(), fn.temp()
                fn.emit(f"{tmp} = {lt.pyclass}()")
                fn.emit(f"{off} = {obj.code}.off")
                fn.emit(f"ext_{lt.pyclass}({obj.code}, {tmp})")
                fn.emit(f"{obj.code}.off = {off}")
                return Value(tmp, lt)
            assert isinstance(lt, Bits)
            return Value(f"{obj.code}.lookahead({lt.width})", lt)
        if method == "advance":
            return Value(f"{obj.code}.advance({self.expr(c.args[0]).code})", VoidT())
        if method == "length":
            return Value(f"(({obj.code}.n * 8) & 0xffffffff)", Bits(32))
        assert method == "emit"
        lines = self.emit_lines(obj.code, self.expr(c.args[0]))
        for line in lines[:-1]:
            fn.emit(line)
        return Value(lines[-1] if lines else "", VoidT())

    def emit_lines(self, out: str, v: Value) -> list[str]:
        t = v.type
        if isinstance(t, StructT) and t.is_header:
            # inline: one deparser emits a dozen headers per packet, most of them invalid
            packed, nbytes = self.header_pack[t.pyclass]
            return [f"if (_e := {v.code})._v: {out}.append(({packed}).to_bytes({nbytes}, 'big'))"]
        if isinstance(t, StackT):
            return [f"emits_{t.elem.pyclass}({out}, {v.code}.h)"]
        assert isinstance(t, StructT)
        lines = []
        for n, ft in t.fields.items():
            lines.extend(self.emit_lines(out, Value(f"{v.code}.{pyattr(n)}", ft)))
        return lines

    def call_extern(self, c: A.Call, x: ExternSym, method: str) -> Value:
        kind = x.kind
        if kind == "RegisterAction":
            idx = self.coerce(self.expr(c.args[0]), x.extra["index_type"])  # type: ignore[arg-type]
            return Value(f"{x.pyname}({idx.code})", x.extra["rv_type"])  # type: ignore[arg-type]
        if kind == "DirectRegisterAction":
            return Value(f"{x.pyname}()", x.extra["rv_type"])  # type: ignore[arg-type]
        if kind in ("Lpf", "Wred", "DirectLpf", "DirectWred"):
            self.uses_clock = True
            vcode = self.coerce(self.expr(c.args[0]), Bits(x.extra["width"])).code  # type: ignore[arg-type]
            icode = "" if kind.startswith("Direct") else \
                ", " + self.coerce(self.expr(c.args[1]), x.extra["index_type"]).code  # type: ignore[arg-type]
            return Value(f"{x.pyname}.execute({vcode}{icode}, _tnow)", Bits(x.extra["width"] if kind.endswith("Lpf")  # type: ignore[arg-type]
                                                                         else 8))
        if kind == "RegisterParam":
            return Value(f"{x.pyname}.value", Bits(x.extra["width"]))  # type: ignore[arg-type]
        if kind == "Register":  # read(index) / write(index, value) of a bit<W> register
            idx = self.coerce(self.expr(c.args[0]), x.extra["index_type"])  # type: ignore[arg-type]
            cell = f"{x.pyname}.values[({idx.code}) % {x.extra['size']}]"
            if method == "read":
                return Value(cell, x.extra["value_type"])  # type: ignore[arg-type]
            v = self.coerce(self.expr(c.args[1]), x.extra["value_type"])  # type: ignore[arg-type]
            return Value(f"{cell} = {v.code}", VoidT())
        if kind == "Hash":
            # Memoised per call site on the field values (a flow hashes the same key on every packet), so a
            # hit costs a small tuple instead of building the wide concatenation.
            terms = self.concat_terms(c.args[0])
            shifts, pos = [], 0
            for _code, w in reversed(terms):
                shifts.append(pos)
                pos += w
            key = f"({', '.join(code for code, _ in terms)},)" if terms else "()"
            sym = x.extra["sym_sites"].get(id(c), ())  # type: ignore[attr-defined]
            dyn = self.dyn_hash(x, c, tuple(reversed(shifts)), pos, sym)
            if x.extra["algo"] == "IDENTITY":
                # the bits themselves (a timestamp slice changes on every packet: a memo would only miss)
                bits = " | ".join(f"(({code}) << {sh})" for (code, _w), sh in zip(terms, reversed(shifts),
                                                                                 strict=True)) or "0"
                ident = f"(({bits}) & {(1 << x.extra['width']) - 1})"  # type: ignore[operator]
                if dyn is not None:  # reconfigured by the control plane: the configured hash
                    ident = f"({dyn}.miss({key}) if {dyn}.active else {ident})"
                return Value(ident, Bits(x.extra["width"]))  # type: ignore[arg-type]
            memo = self.put_env("_HM", {}) if dyn is None else self.put_env("_HM", self.env[dyn].memo)  # type: ignore[attr-defined]
            call = (f"hash_site({memo}, _k, {x.extra['algo']!r}, {tuple(reversed(shifts))!r}, {pos}, {x.extra['width']}"
                    + (f", {sym!r})" if sym else ")")) if dyn is None else f"{dyn}.miss(_k)"
            return Value(f"(_h if (_h := {memo}.get(_k := {key})) is not None else {call})", Bits(x.extra["width"]))  # type: ignore[arg-type]
        if kind == "Counter":
            return Value(f"{x.pyname}.count({self.expr(c.args[0]).code}, _plen + {FCS_BYTES})", VoidT())
        if kind == "DirectCounter":
            return Value(f"{x.pyname}.table.cur.count(_plen + {FCS_BYTES})", VoidT())
        if kind in ("Meter", "DirectMeter"):
            self.uses_clock = True
            args = list(c.args)
            parts = []
            if kind == "Meter":
                parts.append(self.coerce(self.expr(args[0]), x.extra["index_type"]).code)  # type: ignore[arg-type]
                args = args[1:]
            pre = "0"
            if args:
                t0 = self.typed(args[0]).type
                if isinstance(t0, EnumT) and t0.name == "MeterColor_t":
                    pre = self.expr(args[0]).code
                    args = args[1:]
            nbytes = "_plen"
            if args:  # adjust_byte_count: a signed 32-bit amount subtracted from the length
                adj = self.coerce(self.expr(args[0]), Bits(32)).code
                nbytes = f"(_plen - ((({adj}) ^ 0x80000000) - 0x80000000))"
            parts += [nbytes, "_tnow", pre]
            return Value(f"{x.pyname}.execute({', '.join(parts)})", Bits(8))
        if kind == "Random":
            return Value(f"{x.pyname}.getrandbits({x.extra['width']})", Bits(x.extra["width"]))  # type: ignore[arg-type]
        if kind == "Digest":
            dt: StructT = x.extra["type"]  # type: ignore[assignment]
            arg = c.args[0]
            if isinstance(arg, A.ListExpr):
                vals = [self.coerce(self.expr(i), ft).code for i, ft in zip(arg.items, dt.fields.values(), strict=True)]
            else:
                v = self.expr(arg)
                vals = [f"{v.code}.{pyattr(n)}" for n in dt.fields]
            return Value(f"_DIGESTS.append(({x.pyname}, ({', '.join(vals)},)))", VoidT())
        if kind == "Resubmit":  # (the Resubmit's type or None, the data); the fields whether the header is valid or not
            if not c.args:
                return Value(f"_RESUB.append(({x.extra['type']!r}, b''))", VoidT())
            code, width = self.concat(c.args[0])
            return Value(f"_RESUB.append(({x.extra['type']!r}, ({code}).to_bytes({width // 8}, 'big')))", VoidT())
        if kind == "Mirror":
            sid = self.coerce(self.expr(c.args[0]), Bits(10))
            if len(c.args) == 1:
                return Value(f"_MIRRORS.append(({sid.code}, b''))", VoidT())
            code, width = self.concat(c.args[1])
            if c.type_args:
                self.gen_type(c.type_args[0])
            return Value(f"_MIRRORS.append(({sid.code}, {code}.to_bytes({width // 8}, 'big')))", VoidT())
        assert kind == "Checksum"
        if method in ("add", "subtract"):
            return Value(f"{x.pyname}.{method}_sum({self.ones_sum(c.args[0])})", VoidT())
        if method == "verify":
            return Value(f"{x.pyname}.verify()", BoolT())
        if method == "get":
            return Value(f"{x.pyname}.get()", Bits(16))
        code = f"(~{self.ones_sum(c.args[0])} & 0xffff)"
        if len(c.args) == 2 and self.typed(c.args[1]).const:  # zeros_as_ones: a computed 0 is sent as 0xFFFF
            code = f"({code} or 0xffff)"
        return Value(code, Bits(16))


def generate(checked: CheckedProgram, trace: bool = False) -> CompiledProgram:
    """The Python module (source and runtime objects) for a checked program (with trace calls: trace.py)."""
    return Generator(checked, trace).generate()
