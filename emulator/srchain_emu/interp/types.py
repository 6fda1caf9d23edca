"""Semantic types of the supported subset (typedefs are resolved away)."""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

_RESERVED_ATTRS = frozenset({"_v", "_copy", "_uset", "_rset"})


def pyattr(name: str) -> str:
    """Python attribute for a P4 field name (P4 allows `class`, `from`, ... which Python does not)."""
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in _RESERVED_ATTRS:
        return name + "__"
    return name


class P4Type:
    def __str__(self) -> str:  # used in error messages
        return type(self).__name__


@dataclass(frozen=True, slots=True)
class Bits(P4Type):
    width: int
    signed: bool = False

    def __str__(self) -> str:
        return f"{'int' if self.signed else 'bit'}<{self.width}>"


@dataclass(frozen=True, slots=True)
class InfInt(P4Type):
    def __str__(self) -> str:
        return "int"


@dataclass(frozen=True, slots=True)
class BoolT(P4Type):
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True, slots=True)
class VoidT(P4Type):
    def __str__(self) -> str:
        return "void"


@dataclass(frozen=True, slots=True)
class ErrorT(P4Type):
    def __str__(self) -> str:
        return "error"


@dataclass(frozen=True, slots=True)
class StringT(P4Type):
    def __str__(self) -> str:
        return "string"


@dataclass(eq=False, slots=True)
class StructT(P4Type):
    name: str
    fields: dict[str, P4Type]
    is_header: bool = False
    pyclass: str = ""  # name of the generated Python class

    def __str__(self) -> str:
        return f"{'header' if self.is_header else 'struct'} {self.name}"

    @property
    def bits(self) -> int:
        total = 0
        for t in self.fields.values():
            b = serial_bits(t)
            if b is None:
                return -1
            total += b.width
        return total


@dataclass(eq=False, slots=True)
class StackT(P4Type):
    elem: StructT
    size: int
    pyclass: str = ""

    def __str__(self) -> str:
        return f"{self.elem.name}[{self.size}]"


@dataclass(eq=False, slots=True)
class EnumT(P4Type):
    name: str
    members: list[str]
    underlying: Bits | None = None
    values: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"enum {self.name}"


@dataclass(eq=False, slots=True)
class ExternT(P4Type):
    name: str
    args: list[P4Type]

    def __str__(self) -> str:
        return f"extern {self.name}"


@dataclass(frozen=True, slots=True)
class PacketT(P4Type):
    direction: str  # "in" (packet_in) | "out" (packet_out)

    def __str__(self) -> str:
        return f"packet_{self.direction}"


@dataclass(frozen=True, slots=True)
class MatchKindT(P4Type):
    def __str__(self) -> str:
        return "match_kind"


def serial_bits(t: P4Type) -> Bits | None:
    """The wire type of a header field: bit<W>/int<W> or a serializable enum's underlying type."""
    if isinstance(t, Bits):
        return t
    if isinstance(t, EnumT) and t.underlying is not None:
        return t.underlying
    return None


def same_type(a: P4Type, b: P4Type) -> bool:
    return a is b or a == b


def mask(width: int) -> int:
    return (1 << width) - 1
