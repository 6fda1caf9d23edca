"""Stage and PHV estimate of a checked program on a Tofino: the table dependency graph, a greedy placement.

An estimate of what bf-p4c allocates (p4lang/p4c `backends/tofino/bf-p4c`, p4c 1.2.5.16). Each table, each
gateway (`if` condition) and each run of apply-block statements (bf-p4c's synthesized `tbl_…` action
tables) is a node of one gress. Between two nodes of a gress that are not mutually exclusive, in program
order (mau/table_dependency_graph.h, dependencies_t):

* match/action read (IXBAR_READ, ACTION_READ): the later node reads (key, condition, hash/RegisterAction
  input, action operand) what the earlier writes: the later one sits at least one stage later;
* output (OUTPUT): both write one field: one stage later too;
* anti (ANTI_*) and control (CONTROL_*: a gateway, a table's hit/miss/action_run): same stage allowed
  (mau/table_dependency_graph.cpp, is_anti_edge/is_ctrl_edge add no stage);
* next-table order (Tofino 1, no long branches): a gated block whose own dependencies span stages holds every
  later step of the same sequence at or after its last stage, whatever their data dependencies: a table's
  next table lies in a later stage (`long_branch` exists from Tofino 2 on, mau/tofino vs mau/jbay). Checked
  with bf-p4c 9.13.4: two 4-table chains, each under its own `if`, take 7 stages; each table under its own
  `if`, 4. Blocks of one stage hold nothing (bf-p4c reorders independent steps of a sequence).

The longest chain is the minimum number of stages of a gress. The placement then fills stages greedily, in
dependency order, within the per-stage limits of mau/tofino/memories.h and mau/tofino/memories.cpp
(`mem_info::constraint_check`); ingress and egress share each stage's resources. Memories are estimated from
table sizes and widths (mau/tofino/memories.cpp `mems_needed`): bf-p4c's real layouts (hash ways, packing,
action-data formats, input-crossbar bytes) only ever need more; the next-table rule can hold a block that
bf-p4c would reorder, so the estimate is neither a lower nor an upper bound (docs/emulator.md).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..frontend import ast as A
from ..frontend.errors import Loc
from .checked import (
    ROLES,
    ActionSym,
    Annotations,
    CheckedBlock,
    CheckedProgram,
    ExternSym,
    InstanceSym,
    TableSym,
    Typed,
    VarSym,
)
from .target_walk import callee, children, expressions, statements
from .types import Bits, BoolT, EnumT, P4Type, StackT, StructT


@dataclass(frozen=True)
class TargetSpec:
    """Per-stage limits of one target, each from the bf-p4c source named beside it."""

    name: str
    stages: int  # specs/device.h getNumStages(): Tofino 12, JBay (Tofino 2) 20
    logical_tables: int = 16  # mau/tofino/memories.h LOGICAL_TABLES, TABLES_MAX
    ternary_tables: int = 8  # memories.h TERNARY_TABLES_MAX
    srams: int = 80  # memories.h SRAM_ROWS 8 x SRAM_COLUMNS 10, 1024 x 128 bit each (SRAM_DEPTH)
    map_rams: int = 48  # memories.h MAPRAM_COLUMNS 6 x SRAM_ROWS 8: stateful, stats, meter RAMs
    tcams: int = 24  # memories.h TCAM_ROWS 12 x TCAM_COLUMNS 2, 512 x 44 bit each (TCAM_DEPTH)
    meter_alus: int = 4  # memories.h METER_ALUS: meters + stateful ALUs + selectors per stage
    stats_alus: int = 4  # memories.h STATS_ALUS
    gateways: int = 16  # memories.h GATEWAYS_PER_ROW 2 x SRAM_ROWS 8
    hash_dist: int = 6  # specs/mau_spec.h HASH_DIST_SLICES 3 x HASH_DIST_UNITS 2 (hash results to ALUs)
    # specs/phv_spec.cpp: containers per size (MAU groups x containers per group) and tagalong bits
    phv_containers: tuple[tuple[int, int], ...] = ((8, 64), (16, 96), (32, 64))
    tagalong_bits: int = 0
    # the estimate's PHV bits above which bf-p4c's allocation fails in practice (calibrated, not derived: the
    # estimate counts every field used and packs nothing); None: containers + tagalong only
    phv_fit_bits: int | None = None
    long_branches: bool = False  # mau/jbay (Tofino 2) has long branches; Tofino 1 chains next tables forward

    @property
    def phv_bits(self) -> int:
        return sum(size * n for size, n in self.phv_containers)


# specs/phv_spec.cpp TofinoPhvSpec: B/H/W 4/6/4 groups of 16 (4096 bit); TB/TH/TW 4/6/4 x 8 collections (2048).
# JBayPhvSpec: 4/6/4 groups of 20 (12 normal + 4 mocha + 4 dark); no tagalong. mau/tofino/memories.h is
# shared by Tofino 1 and 2 ("this code is shared for Tofino and JBay").
TARGETS: dict[str, TargetSpec] = {
    # phv_fit_bits: bf-p4c 9.13.4 (p4c 1.2.5.16, 2026-12-03) allocated srchain_node.p4's profiles up to 5303
    # estimated bits (srv6-priority-only) and refused `srv6` at 5374 ("PHV allocation was not successful",
    # 14 field slices of priority's locals left): the model refuses above the midpoint (docs/p4.md)
    "tofino1": TargetSpec("tofino1", stages=12, tagalong_bits=2048, phv_fit_bits=5340),
    "tofino2": TargetSpec("tofino2", stages=20, phv_containers=((8, 80), (16, 120), (32, 80)), long_branches=True),
}
SRAM_WORD = 128  # bits of one SRAM row (memories.h: 1024 x 128)
SRAM_DEPTH = 1024
TCAM_DEPTH = 512
IMMEDIATE_BITS = 32  # action data that fits the match overhead; wider data needs action RAMs
DEFAULT_TABLE_SIZE = 512  # bf-p4c's size of a table without `size`


@dataclass(eq=False)
class Node:
    """One logical table of the estimate: a P4 table, a gateway, or a synthesized action table."""

    name: str
    gress: str
    kind: str  # "table" | "gateway" | "action"
    loc: Loc
    order: int
    path: tuple[tuple[int, int], ...]  # branch choices on the way here: (branch point, arm)
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    zero_inits: set[str] = field(default_factory=set)
    controllers: list[Node] = field(default_factory=list)
    registers: dict[str, int] = field(default_factory=dict)  # register -> stateful RAMs
    hashes: int = 0
    match_kind: str = "none"  # "exact" | "ternary" | "none" (keyless, gateway, action table)
    key_bits: int = 0
    size: int = 0
    action_bits: int = 0
    n_actions: int = 0
    stats_rams: int = 0
    min_stage: int = 0
    stage: int = -1
    via: Node | None = None  # the predecessor that sets min_stage (the critical chain)
    via_kind: str = ""
    floor: int = 0  # the stage a multi-stage block before it in its sequence holds it at (Tofino 1)
    floor_via: Node | None = None

    # ---- memories (mau/tofino/memories.cpp find_mem_and_bus_info, mems_needed)
    @property
    def tcams(self) -> int:
        if self.match_kind != "ternary":
            return 0
        nbytes, per_row = math.ceil(self.key_bits / 8), 0
        while nbytes > 11:  # two 44-bit TCAMs hold 11 bytes (memories.cpp)
            nbytes -= 11
            per_row += 2
        per_row += 2 if nbytes > 6 else 1
        return per_row * math.ceil(self.size / TCAM_DEPTH)

    @property
    def match_rams(self) -> int:
        if self.match_kind != "exact":
            return 0
        entry = self.key_bits + 4 + max(0, math.ceil(math.log2(max(self.n_actions, 1))))  # + version bits
        if self.action_bits <= IMMEDIATE_BITS:
            entry += self.action_bits
        width = math.ceil(entry / SRAM_WORD)
        per_word = min(5, max(1, SRAM_WORD // entry))  # specs/device.h getSramMaxPackEntriesPerRow
        return width * math.ceil(self.size / (SRAM_DEPTH * per_word))

    @property
    def tind_rams(self) -> int:
        return 1 if self.match_kind == "ternary" and (self.n_actions > 1 or self.action_bits) else 0

    @property
    def action_rams(self) -> int:
        if self.action_bits <= IMMEDIATE_BITS or self.match_kind == "none":
            return 0
        word = 1 << max(3, math.ceil(math.log2(self.action_bits)))
        return math.ceil(self.size * word / (SRAM_DEPTH * SRAM_WORD))

    @property
    def srams(self) -> int:
        return self.match_rams + self.tind_rams + self.action_rams

    @property
    def logical(self) -> int:
        return 0 if self.kind == "gateway" else 1


@dataclass
class Effects:
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    registers: dict[str, int] = field(default_factory=dict)
    hashes: int = 0
    externs: int = 0  # extern uses other than Hash (bf-p4c keeps them in separate synthesized actions)
    stats_rams: int = 0
    zero_inits: set[str] = field(default_factory=set)  # fields assigned the constant 0 / false

    def add(self, other: Effects) -> None:
        self.reads |= other.reads
        self.writes |= other.writes
        self.registers.update(other.registers)
        self.hashes += other.hashes
        self.externs += other.externs
        self.stats_rams += other.stats_rams
        self.zero_inits |= other.zero_inits


def prefixes(fields: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for f in fields:
        parts = f.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


def overlap(a: set[str], b: set[str]) -> set[str]:
    """Fields of `a` that alias one of `b` (equal, or one contains the other: `hdr.ipv4` and `hdr.ipv4.ttl`)."""
    pa, pb = prefixes(a), prefixes(b)
    return {x for x in a if x in pb} | {x for x in b if x in pa}


def width_of(t: P4Type) -> int:
    if isinstance(t, Bits):
        return t.width
    if isinstance(t, BoolT):
        return 1
    if isinstance(t, EnumT):
        return t.underlying.width if t.underlying else 32
    if isinstance(t, StructT):
        return sum(width_of(f) for f in t.fields.values()) + (1 if t.is_header else 0)
    if isinstance(t, StackT):
        return t.size * width_of(t.elem)
    return 0


# ---------------------------------------------------------------- the dependency graph of one gress


class GressGraph:
    """Nodes of one gress in program order, from its control and the sub-controls it applies."""

    def __init__(self, checked: CheckedProgram, gress: str, prefix: str, nodes: list[Node]) -> None:
        self.checked = checked
        self.gress = gress
        self.prefix = prefix
        self.nodes = nodes
        self.branches = itertools.count()
        self.tables: dict[int, Node] = {}
        self.envs: dict[int, dict[int, str | None]] = {}

    # ---- names
    def canon(self, ann: Annotations, env: dict[int, str | None], block: CheckedBlock | None,
              e: A.Expr) -> str | None:
        """The PHV field an lvalue-like expression names, with the gress's root (`ig.hdr.ipv4.ttl`)."""
        parts: list[str] = []
        while isinstance(e, (A.Member, A.Index, A.Slice)):
            if isinstance(e, A.Member):
                parts.append(e.name)
            elif isinstance(e, A.Index):
                parts.clear()  # an element of a header stack: the whole stack
            e = e.base
        if not isinstance(e, A.Name):
            return None
        t = ann.get(id(e))
        sym = t.sym if isinstance(t, Typed) else None
        if not isinstance(sym, VarSym):
            return None
        if id(sym) in env:
            root = env[id(sym)]
            if root is None:
                return None
        else:
            root = ".".join([self.prefix, *(block.path if block else []), e.name])
        return ".".join([root, *reversed(parts)])

    def reads(self, ann: Annotations, env: dict[int, str | None], block: CheckedBlock | None, e: A.Expr,
              eff: Effects) -> None:
        t = ann.get(id(e))
        if isinstance(t, Typed) and t.const is not None:
            return
        if isinstance(e, A.Call):
            self.call(ann, env, block, e, eff, None)
            return
        if isinstance(e, (A.Name, A.Member)):
            f = self.canon(ann, env, block, e)
            if f is not None:
                eff.reads.add(f)
                return
        for x in children(e):
            self.reads(ann, env, block, x, eff)

    def call(self, ann: Annotations, env: dict[int, str | None], block: CheckedBlock | None, c: A.Call,
             eff: Effects, result: str | None) -> None:
        """The effects of one call; `result` is the field its value is assigned to."""
        target = callee(ann, c)
        if isinstance(target, ActionSym):
            self.action(target, block, eff, args=(ann, env, c.args))
            return
        if isinstance(target, tuple):
            obj, method = target
            if isinstance(obj, ExternSym):
                if obj.kind == "RegisterAction":
                    reg: ExternSym = obj.extra["register"]  # type: ignore[assignment]
                    cell = width_of(reg.extra["value_type"])  # type: ignore[arg-type]
                    size: int = reg.extra["size"]  # type: ignore[assignment]
                    per_word = max(1, SRAM_WORD // max(cell, 1))
                    # mau/tofino/memories.cpp SetupAttachedTables: mems_needed(entries, 1024, per_row, twoport)
                    eff.registers[reg.qual] = math.ceil(size / (SRAM_DEPTH * per_word)) + 1
                    eff.externs += 1
                    apply: A.FunctionDecl = obj.extra["apply"]  # type: ignore[assignment]
                    inner = dict(env)
                    for p in apply.params:
                        inner[id(ann[id(p)])] = None  # the cell and rv live in the ALU
                    sub = Effects()
                    for s in statements(apply.body):
                        if isinstance(s, A.VarDecl) and id(s) in ann:
                            inner[id(ann[id(s)])] = None
                        for x in expressions(s):
                            if not (isinstance(s, A.Assign) and x is s.target):
                                self.reads(ann, inner, block, x, sub)
                    eff.reads |= sub.reads
                elif obj.kind == "Hash":
                    eff.hashes += 1
                elif obj.kind in ("Counter", "DirectCounter"):
                    eff.externs += 1
                    if obj.kind == "Counter":
                        n: int = obj.extra["size"]  # type: ignore[assignment]
                        eff.stats_rams += math.ceil(n / (SRAM_DEPTH * 2)) + 1  # 64-bit packets+bytes cells
                else:
                    eff.externs += 1
            elif isinstance(obj, Typed) and isinstance(c.func, A.Member):
                base = self.canon(ann, env, block, c.func.base)
                if base is not None:
                    if method == "isValid":
                        eff.reads.add(base + ".$valid")
                    elif method in ("setValid", "setInvalid"):
                        eff.writes.add(base + ".$valid")
                    elif method in ("push_front", "pop_front"):
                        eff.reads.add(base)
                        eff.writes.add(base)
        for a in c.args:
            self.reads(ann, env, block, a, eff)
        if result is not None:
            eff.writes.add(result)

    def stmt(self, ann: Annotations, env: dict[int, str | None], block: CheckedBlock | None, s: A.Stmt,
             eff: Effects) -> None:
        """The effects of a statement inside an action (or of a simple apply-block statement)."""
        if isinstance(s, A.Assign):
            target = self.canon(ann, env, block, s.target)
            if isinstance(s.value, A.Call):
                self.call(ann, env, block, s.value, eff, target)
            else:
                self.reads(ann, env, block, s.value, eff)
                t = ann.get(id(s.value))
                if target is not None and isinstance(t, Typed) and t.const in (0, False):
                    eff.zero_inits.add(target)
                elif target is not None:
                    eff.writes.add(target)
        elif isinstance(s, A.CallStmt):
            self.call(ann, env, block, s.call, eff, None)
        elif isinstance(s, A.VarDecl):
            if s.init is not None:
                name = ".".join([self.prefix, *(block.path if block else []), s.name])
                if isinstance(s.init, A.Call):
                    self.call(ann, env, block, s.init, eff, name)
                else:
                    self.reads(ann, env, block, s.init, eff)
                    eff.writes.add(name)
        elif isinstance(s, A.If):
            self.reads(ann, env, block, s.cond, eff)
            self.stmt(ann, env, block, s.then, eff)
            if s.other is not None:
                self.stmt(ann, env, block, s.other, eff)
        elif isinstance(s, A.Block):
            for x in s.stmts:
                self.stmt(ann, env, block, x, eff)

    def action(self, a: ActionSym, block: CheckedBlock | None, eff: Effects,
               args: tuple[Annotations, dict[int, str | None], list[A.Expr]] | None = None) -> None:
        local = block is not None and any(ld is a.decl for ld in block.decl.locals)
        ann = block.ann if local and block is not None else self.checked.top
        env: dict[int, str | None] = dict(self.env_of(block)) if local else {}
        for i, p in enumerate(a.decl.params):
            env[id(ann[id(p)])] = None  # action data, not PHV
            if args is not None and i < len(args[2]):
                self.reads(args[0], args[1], block, args[2][i], eff)  # a direct call's arguments are read
        for s in a.decl.body.stmts:
            self.stmt(ann, env, block if local else None, s, eff)

    def env_of(self, block: CheckedBlock | None) -> dict[int, str | None]:
        return self.envs.get(id(block), {}) if block is not None else {}

    # ---- the apply walk
    def control(self, block: CheckedBlock, env: dict[int, str | None], path: tuple[tuple[int, int], ...],
                controllers: list[Node]) -> None:
        self.envs[id(block)] = env  # its parameters -> the caller's fields
        assert isinstance(block.decl, A.ControlDecl)
        self.body(block, env, block.decl.apply.stmts, path, controllers)

    def new(self, name: str, kind: str, loc: Loc, path: tuple[tuple[int, int], ...], controllers: list[Node],
            eff: Effects | None = None) -> Node:
        n = Node(name, self.gress, kind, loc, len(self.nodes), path, controllers=list(controllers))
        if eff is not None:
            n.reads, n.writes, n.hashes, n.stats_rams = eff.reads, eff.writes, eff.hashes, eff.stats_rams
            n.zero_inits = eff.zero_inits
            n.registers = {r: rams for r, rams in eff.registers.items()}
        self.nodes.append(n)
        return n

    def body(self, block: CheckedBlock, env: dict[int, str | None], stmts: list[A.Stmt],
             path: tuple[tuple[int, int], ...], controllers: list[Node]) -> None:
        ann = block.ann
        run: list[tuple[A.Stmt, Effects]] = []

        def flush() -> None:
            if run:
                eff = Effects()
                for _, e in run:
                    eff.add(e)
                first = run[0][0]
                self.new(f"tbl_{os.path.splitext(os.path.basename(first.loc.file))[0]}{first.loc.line}",
                         "action", first.loc, path, controllers, eff)
                run.clear()

        for s in stmts:
            table = self.table_in(ann, s)
            if table is None and isinstance(s, (A.Assign, A.VarDecl, A.CallStmt)) and not self.is_apply(ann, s):
                direct = isinstance(s, A.CallStmt) and isinstance(callee(ann, s.call), ActionSym)
                eff = Effects()
                self.stmt(ann, env, block, s, eff)
                if run:  # action_synthesis_policy.h: no data dependency, one extern per synthesized action
                    acc = Effects()
                    for _, e in run:
                        acc.add(e)
                    if direct or overlap(eff.reads, acc.writes) or (eff.externs and acc.externs):
                        flush()
                run.append((s, eff))
                if direct:  # p4c MoveActionsToTables: a direct action call is a table of its own
                    flush()
                continue
            flush()
            self.control_stmt(block, env, s, path, controllers)
        flush()

    def is_apply(self, ann: Annotations, s: A.Stmt) -> bool:
        if not isinstance(s, A.CallStmt):
            return False
        target = callee(ann, s.call)
        return isinstance(target, tuple) and isinstance(target[0], (TableSym, InstanceSym))

    def table_in(self, ann: Annotations, s: A.Stmt) -> tuple[TableSym, A.Call] | None:
        exprs = [s.cond] if isinstance(s, A.If) else [s.expr] if isinstance(s, A.Switch) else (
            [s.call] if isinstance(s, A.CallStmt) else [])
        for e in exprs:
            stack = [e]
            while stack:
                x = stack.pop()
                if isinstance(x, A.Call):
                    t = callee(ann, x)
                    if isinstance(t, tuple) and isinstance(t[0], TableSym) and t[1] == "apply":
                        return t[0], x
                stack.extend(children(x))
        return None

    def apply_table(self, block: CheckedBlock, env: dict[int, str | None], t: TableSym, call: A.Call,
                    path: tuple[tuple[int, int], ...], controllers: list[Node]) -> Node:
        if id(t) in self.tables:  # applied again (exclusive paths): one logical table
            return self.tables[id(t)]
        eff = Effects()
        ann = block.ann
        for k in t.decl.keys:
            self.reads(ann, env, block, k.expr, eff)
        for a in t.actions.values():
            self.action(a, block, eff)
        n = self.new(t.qual.split(".", 1)[-1], "table", t.decl.loc, path, controllers, eff)
        kinds = {k.match_kind for k in t.keys}
        n.match_kind = "none" if not kinds else "exact" if kinds == {"exact"} else "ternary"
        n.key_bits = sum(k.width for k in t.keys)
        n.size = t.size or DEFAULT_TABLE_SIZE
        n.n_actions = len(t.actions)
        n.action_bits = max((sum(width_of(pt) for d, _, pt in a.params if d == "") for a in t.actions.values()),
                            default=0)
        if t.counter is not None:  # direct counter: one 64-bit cell per entry
            n.stats_rams += math.ceil(n.size / (SRAM_DEPTH * 2)) + 1
        self.tables[id(t)] = n
        return n

    def control_stmt(self, block: CheckedBlock, env: dict[int, str | None], s: A.Stmt,
                     path: tuple[tuple[int, int], ...], controllers: list[Node]) -> None:
        ann = block.ann
        found = self.table_in(ann, s)
        table = self.apply_table(block, env, *found, path, controllers) if found else None
        if isinstance(s, A.CallStmt):
            target = callee(ann, s.call)
            if isinstance(target, tuple) and isinstance(target[0], InstanceSym):
                inst = target[0]
                if isinstance(inst.decl, A.ControlDecl):
                    inner: dict[int, str | None] = {}
                    for (_, sym, _), arg in zip(inst.block.params, s.call.args, strict=False):
                        inner[id(sym)] = self.canon(ann, env, block, arg)
                    self.control(inst.block, inner, path, controllers)
            return
        if isinstance(s, A.Block):
            self.body(block, env, s.stmts, path, controllers)
            return
        if isinstance(s, A.If):
            eff = Effects()
            self.reads(ann, env, block, s.cond, eff)
            ctl = list(controllers)
            if table is not None:
                ctl.append(table)
            if eff.reads:  # mau/gateway.cpp: a condition on PHV is a gateway
                ctl.append(self.new(f"cond_{os.path.splitext(os.path.basename(s.loc.file))[0]}{s.loc.line}",
                                    "gateway", s.loc, path, controllers, eff))
            b = next(self.branches)
            self.body(block, env, [s.then], (*path, (b, 0)), ctl)
            if s.other is not None:
                self.body(block, env, [s.other], (*path, (b, 1)), ctl)
            return
        if isinstance(s, A.Switch):
            ctl = list(controllers)
            if table is not None:
                ctl.append(table)
            else:
                eff = Effects()
                self.reads(ann, env, block, s.expr, eff)
                ctl.append(self.new(f"cond_{os.path.splitext(os.path.basename(s.loc.file))[0]}{s.loc.line}",
                                    "gateway", s.loc, path, controllers, eff))
            b = next(self.branches)
            for i, case in enumerate(s.cases):
                if case.body is not None:
                    self.body(block, env, [case.body], (*path, (b, i)), ctl)


def remove_metadata_inits(nodes: list[Node]) -> None:
    """bf-p4c phv/auto_init_metadata.h RemoveMetadataInits: metadata is zeroed at the start of a gress, so
    assigning 0 to a metadata field nothing wrote before is dropped (no write, no dependency). Any other
    zero assignment is an ordinary write."""
    written: dict[str, set[str]] = {"ingress": set(), "egress": set()}
    for n in nodes:
        before = written[n.gress]
        for f in n.zero_inits:
            root = f.split(".")[1]
            if overlap({f}, before) or (root in ROLES[n.gress] and root != "md"):  # intrinsic: kept
                n.writes.add(f)
        before |= n.writes


def exclusive(a: Node, b: Node) -> bool:
    """Two nodes on different arms of one branch never run for the same packet (mau/action_mutex.cpp,
    mau/table_mutex.cpp): no dependency between them."""
    arms = dict(a.path)
    return any(arms.get(b_id, arm) != arm for b_id, arm in b.path)


def dependencies(nodes: list[Node]) -> None:
    """Longest-path stage minimum per node (mau/table_dependency_graph.cpp: data dependencies add a stage,
    anti and control dependencies none), from each node's floor (a next-table hold, see `place_held`)."""
    for v in nodes:
        v.min_stage, v.via, v.via_kind = v.floor, v.floor_via, "next-table order" if v.floor_via else ""
    for j, v in enumerate(nodes):
        ctl = {id(c) for c in v.controllers}
        for u in nodes[:j]:
            if u.gress != v.gress or exclusive(u, v):
                continue
            weight, kind = -1, ""
            if overlap(u.writes, v.reads):
                weight, kind = 1, f"reads {sorted(overlap(u.writes, v.reads))[0]}"
            elif overlap(u.writes, v.writes):
                weight, kind = 1, f"writes {sorted(overlap(u.writes, v.writes))[0]} too"
            elif id(u) in ctl:
                weight, kind = 0, "control"
            elif overlap(u.reads, v.writes):
                weight, kind = 0, "anti"
            if weight >= 0 and u.min_stage + weight > v.min_stage:
                v.min_stage, v.via, v.via_kind = u.min_stage + weight, u, kind
            elif weight > 0 and v.via is None:
                v.via, v.via_kind = u, kind


@dataclass
class Block:
    """The nodes under one branch point (an `if`/`switch`/table-hit arm set) and the sequence it sits in."""

    point: int
    prefix: tuple[tuple[int, int], ...]  # the branch choices that lead to the sequence holding the block
    members: list[Node] = field(default_factory=list)

    def encloses(self, v: Node) -> bool:
        """`v` is a later step of the sequence that holds the block (not inside it)."""
        n = len(self.prefix)
        return v.path[:n] == self.prefix and (len(v.path) == n or v.path[n][0] != self.point)


def blocks(nodes: list[Node]) -> list[Block]:
    out: dict[tuple[str, int], Block] = {}
    for n in nodes:
        for i, (point, _) in enumerate(n.path):
            out.setdefault((n.gress, point), Block(point, n.path[:i])).members.append(n)
    return list(out.values())


def next_table_holds(nodes: list[Node], spec: TargetSpec) -> dict[int, list[Block]]:
    """For each node, the blocks before it in its sequence that can hold it (see the module doc), if the
    target has no long branches."""
    holds: dict[int, list[Block]] = {id(n): [] for n in nodes}
    if spec.long_branches:
        return holds
    for b in blocks(nodes):
        last = max(u.order for u in b.members)
        for v in nodes:
            if v.order > last and v.gress == b.members[0].gress and b.encloses(v):
                holds[id(v)].append(b)
    return holds


def held_at(b: Block) -> int | None:
    """The last stage of a block placed over more than one stage (its gateways go with their tables), else
    None: a one-stage block holds nothing."""
    placed = {u.stage for u in b.members if u.kind != "gateway" and u.stage >= 0}
    return max(placed) if len(placed) > 1 else None


def chain(n: Node) -> list[Node]:
    """The dependency chain that ends at `n`, one node per stage it adds (control/anti links skipped)."""
    out = [n]
    while n.via is not None and n.min_stage > 0:
        p = n.via
        while p.via is not None and p.min_stage == n.min_stage:
            p = p.via
        if p.min_stage == n.min_stage:
            break
        out.append(p)
        n = p
    return list(reversed(out))


# ---------------------------------------------------------------- placement


@dataclass
class StageUse:
    nodes: list[Node] = field(default_factory=list)
    registers: dict[str, int] = field(default_factory=dict)

    @property
    def logical(self) -> int:
        return sum(n.logical for n in self.nodes)

    @property
    def ternary(self) -> int:
        return sum(1 for n in self.nodes if n.match_kind == "ternary")

    @property
    def gateways(self) -> int:
        return sum(1 for n in self.nodes if n.kind == "gateway")

    @property
    def srams(self) -> int:
        return sum(n.srams for n in self.nodes)

    @property
    def tcams(self) -> int:
        return sum(n.tcams for n in self.nodes)

    @property
    def map_rams(self) -> int:
        return sum(self.registers.values()) + sum(n.stats_rams for n in self.nodes)

    @property
    def stats(self) -> int:
        return sum(1 for n in self.nodes if n.stats_rams)

    def fits(self, n: Node, spec: TargetSpec) -> bool:
        """mau/tofino/memories.cpp mem_info::constraint_check, per stage."""
        regs = {**self.registers, **n.registers}
        return (self.logical + n.logical <= spec.logical_tables
                and self.ternary + (n.match_kind == "ternary") <= spec.ternary_tables
                and self.gateways + (n.kind == "gateway") <= spec.gateways
                and self.srams + n.srams <= spec.srams
                and self.tcams + n.tcams <= spec.tcams
                and len(regs) <= spec.meter_alus
                and self.stats + (1 if n.stats_rams else 0) <= spec.stats_alus
                and sum(regs.values()) + sum(x.stats_rams for x in self.nodes) + n.stats_rams <= spec.map_rams)

    def add(self, n: Node) -> None:
        self.nodes.append(n)
        self.registers.update(n.registers)


@dataclass
class ResourceEstimate:
    spec: TargetSpec
    nodes: list[Node]
    stages: list[StageUse]
    phv: dict[str, int]  # gress -> bits

    def critical(self, gress: str) -> list[Node]:
        ns = [n for n in self.nodes if n.gress == gress]
        return chain(max(ns, key=lambda n: (n.min_stage, -n.order))) if ns else []

    def min_stages(self, gress: str) -> int:
        return max((n.min_stage + 1 for n in self.nodes if n.gress == gress), default=0)

    def gress_stages(self, gress: str) -> int:
        return max((n.stage + 1 for n in self.nodes if n.gress == gress), default=0)

    @property
    def total_stages(self) -> int:
        return len(self.stages)

    @property
    def phv_limit(self) -> int:
        s = self.spec
        return s.phv_fit_bits if s.phv_fit_bits is not None else s.phv_bits + s.tagalong_bits

    @property
    def fits(self) -> bool:
        return self.total_stages <= self.spec.stages and sum(self.phv.values()) <= self.phv_limit

    def refusal(self) -> str | None:
        """Why the program does not fit (naming the longest chain), or None."""
        if self.total_stages > self.spec.stages:
            worst = max(("ingress", "egress"), key=self.gress_stages)
            names = " -> ".join(n.name for n in self.critical(worst))
            if self.min_stages(worst) > self.spec.stages:
                why = f"its {worst} dependency chain is {self.min_stages(worst)} long: {names}"
            else:
                why = (f"its {worst} dependency chain is {self.min_stages(worst)} long ({names}) and the "
                       "per-stage limits push it further")
            return (f"needs at least {self.total_stages} stages, {self.spec.name} has {self.spec.stages}: {why} "
                    "(bf-p4c mau/table_dependency_graph.cpp, mau/table_placement.cpp)")
        total = sum(self.phv.values())
        if total > self.spec.phv_bits + self.spec.tagalong_bits:
            return (f"needs {total} PHV bits, {self.spec.name} has {self.spec.phv_bits} "
                    f"(+{self.spec.tagalong_bits} tagalong; bf-p4c specs/phv_spec.cpp)")
        if total > self.phv_limit:
            return (f"needs {total} PHV bits by the model's estimate; above {self.phv_limit} bf-p4c's PHV "
                    f"allocation fails on {self.spec.name} (calibrated on bf-p4c 9.13.4: 'PHV allocation was not "
                    "successful'; phv/allocate_phv.cpp)")
        return None

    def report(self) -> str:
        s = self.spec
        lines = [f"target {s.name}: {s.stages} stages; per stage {s.logical_tables} logical tables, "
                 f"{s.srams} SRAM, {s.tcams} TCAM, {s.map_rams} map RAM, {s.meter_alus} stateful ALUs, "
                 f"{s.gateways} gateways",
                 f"{'stage':>5}  {'tables':>6} {'gw':>3} {'SRAM':>5} {'TCAM':>5} {'mapRAM':>6} {'SALU':>4}  "
                 "tables (i = ingress, e = egress)"]
        for i, st in enumerate(self.stages):
            names = ", ".join(f"{n.name}({n.gress[0]})" for n in st.nodes if n.kind != "gateway")
            lines.append(f"{i:>5}  {st.logical:>6} {st.gateways:>3} {st.srams:>5} {st.tcams:>5} "
                         f"{st.map_rams:>6} {len(st.registers):>4}  {names}")
        tot = StageUse([n for st in self.stages for n in st.nodes],
                       {r: v for st in self.stages for r, v in st.registers.items()})
        lines.append(f"{'total':>5}  {tot.logical:>6} {tot.gateways:>3} {tot.srams:>5} {tot.tcams:>5} "
                     f"{tot.map_rams:>6} {len(tot.registers):>4}")
        for g in ("ingress", "egress"):
            crit = self.critical(g)
            if crit:
                lines.append(f"{g}: dependency chain {self.min_stages(g)} stages "
                             f"({' -> '.join(n.name for n in crit)}), placed in {self.gress_stages(g)}")
        lines.append("PHV: " + ", ".join(f"{g} {b} bits" for g, b in self.phv.items())
                     + f"; {s.name} has {s.phv_bits} bits in containers"
                     + (f" (+{s.tagalong_bits} tagalong)" if s.tagalong_bits else "")
                     + " (estimate: fields used, no packing)")
        why = self.refusal()
        lines.append(f"verdict: {'OVER' if why else 'fits'}: {self.total_stages} of {s.stages} stages"
                     + (f"; {why}" if why else ""))
        return "\n".join(lines)


def place(nodes: list[Node], spec: TargetSpec) -> list[StageUse]:
    """Greedy placement in dependency order (mau/table_placement.cpp places in the same order, with more
    freedom): each node in the first stage at or after its dependencies where it fits."""
    stages: list[StageUse] = []
    preds: dict[int, list[tuple[Node, int]]] = {id(n): [] for n in nodes}
    for j, v in enumerate(nodes):
        ctl = {id(c) for c in v.controllers}
        for u in nodes[:j]:
            if u.gress != v.gress or exclusive(u, v):
                continue
            if overlap(u.writes, v.reads) or overlap(u.writes, v.writes):
                preds[id(v)].append((u, 1))
            elif id(u) in ctl or overlap(u.reads, v.writes):
                preds[id(v)].append((u, 0))
    reg_stage: dict[str, int] = {}
    for n in sorted(nodes, key=lambda n: (n.min_stage, n.gress != "ingress", n.order)):
        st = max((u.stage + w for u, w in preds[id(n)]), default=0)
        st = max(st, n.floor)
        st = max([st, *(reg_stage[r] for r in n.registers if r in reg_stage)])
        while True:
            while len(stages) <= st:
                stages.append(StageUse())
            if stages[st].fits(n, spec) or (not stages[st].nodes):
                break
            st += 1
        stages[st].add(n)
        n.stage = st
        for r in n.registers:
            reg_stage.setdefault(r, st)
    return stages


def place_held(nodes: list[Node], spec: TargetSpec) -> list[StageUse]:
    """Dependencies and placement, repeated while a multi-stage block holds a later step of its sequence below
    the block's last stage (Tofino 1's next-table order): that step's floor rises to it and everything after
    it follows. Floors only rise, each at most to the last stage used: bounded."""
    holds = next_table_holds(nodes, spec)
    stages: list[StageUse] = []
    for _ in range(len(nodes) + 1):
        for n in nodes:
            n.stage = -1
        dependencies(nodes)
        stages = place(nodes, spec)
        raised = False
        for v in nodes:
            for b in holds[id(v)]:
                at = held_at(b)
                if at is not None and at > v.floor and at > v.stage:
                    v.floor, raised = at, True
                    v.floor_via = max((u for u in b.members if u.stage == at), key=lambda u: u.order)
        if not raised:
            break
    return stages


# ---------------------------------------------------------------- PHV


def phv_bits(checked: CheckedProgram, nodes: list[Node], gress: str, prefix: str) -> int:
    """Header fields of the gress (parsed or emitted: all of `hdr`) plus the metadata fields its tables and
    actions use. bf-p4c packs fields into 8/16/32-bit containers (phv/allocate_phv.cpp) and may leave unused
    header fields to tagalong containers: an estimate of the demand, not of the allocation."""
    types = checked.gress_types.get(gress, {})
    bits = width_of(types["hdr"]) if "hdr" in types else 0
    used = set()
    for n in nodes:
        if n.gress == gress:
            used |= n.reads | n.writes
    hdr = f"{prefix}.hdr"
    seen: set[str] = set()
    for f in sorted(used):
        if f == hdr or f.startswith(hdr + ".") or any(f.startswith(s + ".") for s in seen):
            continue
        seen.add(f)
        bits += field_width(checked, gress, prefix, f)
    return bits


def field_width(checked: CheckedProgram, gress: str, prefix: str, f: str) -> int:
    parts = f.split(".")[1:]
    role_types = {"md": checked.gress_types.get(gress, {}).get("md")}
    t: P4Type | None = role_types.get(parts[0]) if parts else None
    if t is None:
        return 0  # intrinsic metadata (fixed, outside the estimate) or a control local without a known type
    for p in parts[1:]:
        if isinstance(t, StructT) and p in t.fields:
            t = t.fields[p]
        elif p == "$valid":
            return 1
        else:
            return 0
    return width_of(t) if t is not None else 0


# ---------------------------------------------------------------- entry point

GRESSES = (("ingress", "ig"), ("egress", "eg"))


def estimate(checked: CheckedProgram, target: str = "tofino1") -> ResourceEstimate:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r} (one of {', '.join(TARGETS)})")
    spec = TARGETS[target]
    nodes: list[Node] = []
    for gress, prefix in GRESSES:
        block = checked.roles.get(gress)
        if block is None:
            continue
        env: dict[int, str | None] = {id(sym): f"{prefix}.{role}"
                                      for (_, sym, _), role in zip(block.params, ROLES[gress], strict=False)}
        GressGraph(checked, gress, prefix, nodes).control(block, env, (), [])
    for i, n in enumerate(nodes):
        n.order = i
    remove_metadata_inits(nodes)
    stages = place_held(nodes, spec)
    phv = {g: phv_bits(checked, nodes, g, p) for g, p in GRESSES if g in checked.roles}
    return ResourceEstimate(spec, nodes, stages, phv)


__all__ = ["TARGETS", "Node", "ResourceEstimate", "TargetSpec", "estimate"]
