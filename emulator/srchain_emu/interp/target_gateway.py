"""Tofino 1 gateway and action-data rules: what bf-p4c refuses in `if` conditions and in the data an action
takes from hash units, although the emulator could run it.

A control's `if` becomes a gateway (bf-p4c mau/gateway.cpp, CheckGatewayExpr): it matches PHV fields
against constants — every leaf must be a field (not arithmetic: p4c copy-propagates an apply-block local
into the condition, so a local computed by an expression is that expression), a relation `<`/`>` needs a
constant operand, and the fields fit 4 bytes plus 12 single bits (`Device::gatewaySpec().PhvBytes`,
`IXBar::get_hash_single_bits()`). Equality of two fields goes through the gateway's XOR path, so only one
side counts. An action takes at most 32 bits from hash units (mau/action_format.cpp, the immediate pathway);
straight-line apply-block statements are one synthesized action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..frontend import ast as A
from .checked import Annotations, CheckedProgram, ExternSym, Typed
from .target_walk import Diagnostic, callee, source_text, statements, subexpressions, table_apply_call
from .types import Bits

GATEWAY_BYTES = 4       # Device::gatewaySpec().PhvBytes on Tofino 1
GATEWAY_SINGLE_BITS = 12
IMMEDIATE_BITS = 32     # hash/RNG data one action can take (mau/action_format.cpp)
RELATIONS = ("<", "<=", ">", ">=")
EQUALITIES = ("==", "!=")


@dataclass
class Operands:
    """The PHV input of one condition: multi-bit fields (bytes) and single bits."""

    byte_fields: dict[str, int]
    bit_fields: set[str]

    def bits(self) -> int:
        return sum((w + 7) // 8 * 8 for w in self.byte_fields.values()) + len(self.bit_fields)


def is_const(ann: Annotations, e: A.Expr) -> bool:
    t = ann.get(id(e))
    return isinstance(t, Typed) and t.const is not None


def width(ann: Annotations, e: A.Expr) -> int:
    t = ann.get(id(e))
    if isinstance(t, Typed) and isinstance(t.type, Bits):
        return t.type.width
    return 1


def power_of_two(ann: Annotations, e: A.Expr) -> bool:
    t = ann.get(id(e))
    return isinstance(t, Typed) and isinstance(t.const, int) and t.const > 0 and t.const & (t.const - 1) == 0


def is_valid_call(e: A.Expr) -> bool:
    return isinstance(e, A.Call) and isinstance(e.func, A.Member) and e.func.name == "isValid" and not e.args


def field_like(e: A.Expr) -> bool:
    """A PHV field reference: a (dotted, indexed) name or a constant slice of one."""
    while isinstance(e, (A.Member, A.Index, A.Slice)):
        e = e.base
    return isinstance(e, A.Name)


def apply_local_values(body: A.Block) -> dict[str, list[A.Expr]]:
    """Every value assigned to each local declared in an apply block (its declaration's and later ones)."""
    names: dict[str, list[A.Expr]] = {}
    for s in statements(body):
        if isinstance(s, A.VarDecl) and not s.is_const:
            names[s.name] = [s.init] if s.init is not None else []
    for s in statements(body):
        if isinstance(s, A.Assign) and isinstance(s.target, A.Name) and s.target.name in names:
            names[s.target.name].append(s.value)
    return names


def computed(ann: Annotations, e: A.Expr) -> bool:
    """An expression p4c would propagate as such: arithmetic or bitwise work on non-constant values."""
    if isinstance(e, A.Call):
        return False  # an extern's or table's result is a field written by its own table
    return any(isinstance(x, (A.Binary, A.Unary, A.Ternary)) and not is_const(ann, x)  # a cast is no work
               for x in subexpressions(e))


def is_condition(e: A.Expr) -> bool:
    """A comparison or a logic combination of them: what a gateway evaluates."""
    return (isinstance(e, A.Binary) and e.op in (*RELATIONS, *EQUALITIES, "&&", "||")) or (
        isinstance(e, A.Unary) and e.op == "!")


class GatewayCheck:
    """One condition, walked the way bf-p4c lowers it into a gateway."""

    def __init__(self, ann: Annotations, locals_: dict[str, list[A.Expr]]) -> None:
        self.ann = ann
        self.locals = locals_
        self.found: list[Diagnostic] = []
        self.inputs = Operands({}, set())

    def operand(self, e: A.Expr) -> bool:
        """Records the PHV input of one comparison operand; False (with a diagnostic) when it is no field."""
        if is_const(self.ann, e):
            return True
        while isinstance(e, A.Cast):
            e = e.expr
        if isinstance(e, A.Binary) and e.op == "&" and is_const(self.ann, e.right):
            return self.operand(e.left)  # a masked match
        if isinstance(e, A.Binary) and e.op == "%" and power_of_two(self.ann, e.right):
            return self.operand(e.left)  # p4c's StrengthReduction: x % 2^k is x & (2^k - 1)
        if is_valid_call(e):
            self.inputs.bit_fields.add(source_text(e))
            return True
        root = e.base if isinstance(e, A.Slice) else e
        if isinstance(root, A.Name) and root.name in self.locals:
            values = self.locals[root.name]
            if len(values) == 1 and root is e and is_condition(values[0]):
                self.cond(values[0])  # a bool local from a comparison: p4c folds the comparison in
                return True
            if len(values) == 1 and computed(self.ann, values[0]):
                self.found.append(Diagnostic(e.loc, f"condition expression too complex: {root.name} = "
                                                    f"{source_text(values[0])} is folded into the condition "
                                                    "(bf-p4c mau/gateway.cpp: a gateway reads fields only; "
                                                    "compute it in an action)"))
                return False
        if not field_like(e):
            self.found.append(Diagnostic(e.loc, f"condition expression too complex: {source_text(e)} "
                                                "(bf-p4c mau/gateway.cpp: a gateway reads fields only; compute "
                                                "it in an action)"))
            return False
        w = width(self.ann, e)
        if w == 1:
            self.inputs.bit_fields.add(source_text(e))
        else:
            self.inputs.byte_fields[source_text(e)] = w
        return True

    def cond(self, e: A.Expr) -> None:
        if isinstance(e, A.Binary) and e.op in ("&&", "||"):
            self.cond(e.left)
            self.cond(e.right)
        elif isinstance(e, A.Unary) and e.op == "!":
            self.cond(e.operand)
        elif isinstance(e, A.Binary) and e.op in RELATIONS:
            if not is_const(self.ann, e.left) and not is_const(self.ann, e.right):
                self.found.append(Diagnostic(e.loc, f"condition too complex, one operand of {source_text(e)} "
                                                    "must be constant (bf-p4c mau/gateway.cpp)"))
                return
            self.operand(e.left)
            self.operand(e.right)
        elif isinstance(e, A.Binary) and e.op in EQUALITIES:
            if not is_const(self.ann, e.left) and not is_const(self.ann, e.right):
                # field == field: one side through the XOR path (counted once, as the wider)
                before = dict(self.inputs.byte_fields), set(self.inputs.bit_fields)
                if self.operand(e.left) and self.operand(e.right):
                    self.inputs.byte_fields, self.inputs.bit_fields = before
                    wide = max((e.left, e.right), key=lambda x: width(self.ann, x))
                    self.operand(wide)
            else:
                self.operand(e.left)
                self.operand(e.right)
        else:
            self.operand(e)


def gateway_conditions(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/gateway.cpp CheckGatewayExpr: fields only, relations against constants, 4 bytes + 12 bits."""
    for block in checked.blocks:
        if not isinstance(block.decl, A.ControlDecl):
            continue
        ann = block.ann
        locals_ = apply_local_values(block.decl.apply)
        bodies: list[A.Block] = [block.decl.apply]
        bodies += [ld.body for ld in block.decl.locals if isinstance(ld, A.ActionDecl)]
        for body in bodies:
            for s in statements(body):
                if not isinstance(s, A.If):
                    continue
                if any(table_apply_call(ann, x) for x in subexpressions(s.cond)):
                    continue  # a branch on a table's result, not a gateway on fields
                check = GatewayCheck(ann, locals_)
                check.cond(s.cond)
                yield from check.found
                limit = GATEWAY_BYTES * 8 + GATEWAY_SINGLE_BITS
                if not check.found and check.inputs.bits() > limit:
                    yield Diagnostic(s.cond.loc, f"condition too complex, limit of {GATEWAY_BYTES} bytes + "
                                                 f"{GATEWAY_SINGLE_BITS} bits of PHV input exceeded: "
                                                 f"{source_text(s.cond)} reads {check.inputs.bits()} bits "
                                                 "(bf-p4c mau/gateway.cpp)")


def hash_bits(ann: Annotations, s: A.Stmt) -> int:
    """Bits of Hash.get results one statement takes (not those of statements nested in it)."""
    values: list[A.Expr] = []
    if isinstance(s, A.Assign):
        values = [s.value]
    elif isinstance(s, A.VarDecl) and s.init is not None:
        values = [s.init]
    def is_hash_get(x: A.Expr) -> bool:
        target = callee(ann, x) if isinstance(x, A.Call) else None
        return isinstance(target, tuple) and isinstance(target[0], ExternSym) and target[0].kind == "Hash"

    total = 0
    for v in values:
        sliced: set[int] = set()
        for x in subexpressions(v):
            if isinstance(x, A.Slice) and is_hash_get(x.base):
                total += width(ann, x)  # only the bits kept travel to the action (tna_dyn_hashing's CRC64[31:0])
                sliced.add(id(x.base))
            elif is_hash_get(x) and id(x) not in sliced:
                total += width(ann, x)
    return total


def straight_runs(body: A.Stmt) -> Iterator[list[A.Stmt]]:
    """Maximal runs of consecutive assignments/declarations: what p4c turns into one synthesized action."""
    for s in statements(body):
        if not isinstance(s, A.Block):
            continue
        run: list[A.Stmt] = []
        for inner in s.stmts:
            if isinstance(inner, (A.Assign, A.VarDecl)):
                run.append(inner)
            else:
                if run:
                    yield run
                run = []
        if run:
            yield run


def immediate_hash_data(checked: CheckedProgram) -> Iterator[Diagnostic]:
    """bf-p4c mau/action_format.cpp: one action takes at most 32 bits through the immediate pathway (hash
    unit outputs, RNG, meter colour); two Hash.get results of 32 + 16 bits need two actions."""
    for block in checked.blocks:
        if not isinstance(block.decl, A.ControlDecl):
            continue
        ann = block.ann
        runs: list[tuple[str, list[A.Stmt]]] = []
        for ld in block.decl.locals:
            if isinstance(ld, A.ActionDecl):
                runs.append((f"action {ld.name} takes", list(statements(ld.body))))
        runs += [("these statements take", run) for run in straight_runs(block.decl.apply)]
        for what, stmts in runs:
            total = sum(hash_bits(ann, s) for s in stmts)
            if total > IMMEDIATE_BITS:
                first = next(s for s in stmts if hash_bits(ann, s))
                yield Diagnostic(first.loc, f"{what} {total} bits of hash data, more than the {IMMEDIATE_BITS} "
                                            "bits of the immediate pathway (bf-p4c mau/action_format.cpp): "
                                            "one Hash.get per action")


GATEWAY_RULES: list[Callable[[CheckedProgram], Iterator[Diagnostic]]] = [gateway_conditions, immediate_hash_data]

