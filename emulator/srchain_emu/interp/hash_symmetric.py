"""`@symmetric("a", "b")` on a TNA `Hash` instance: which inputs of a `get` are paired, with bf-p4c's checks.

bf-p4c (p4c 1.2.5.16, backends/tofino/bf-p4c) reads the annotation from the Hash declaration
(`mau/instruction_selection.cpp` check_for_symmetric → `mau/ixbar_expr.cpp` verifySymmetricHashPairs), pairs
field-list entries i < j, and `mau/asm_hash_output.cpp` emit_ixbar_gather_map gives the earlier entry of a pair
the bit positions of the later one in the CRC input. CRC being linear, the hash is then the non-symmetric CRC
of the same field list with entry i replaced by zeros and entry j by (i XOR j): see `runtime.hash_site`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..frontend import ast as A
from ..frontend.errors import Loc, P4Error

_SRC = "bf-p4c mau/ixbar_expr.cpp"

SymPairs = tuple[tuple[int, int], ...]  # (earlier, later) indexes into a get's field list


def declared_pairs(d: A.Instantiation) -> list[tuple[str, str, Loc]]:
    """The `@symmetric` annotations of a Hash instance, each as (field, field, where)."""
    out = []
    for ann in d.annotations:
        if ann.name != "symmetric":
            continue
        if not (len(ann.args) == 2 and all(isinstance(a, A.StringConst) for a in ann.args)):
            raise P4Error(ann.loc, f"The symmetric annotation requires two string inputs ({_SRC})")
        a, b = (x.value for x in ann.args)  # type: ignore[attr-defined]
        out.append((a, b, ann.loc))
    return out


def refuse_symmetric(d: A.Instantiation, why: str = "") -> None:
    """`@symmetric` on anything but a Hash instance in a control (bf-p4c midend/check_unsupported.cpp)."""
    for ann in d.annotations:
        if ann.name == "symmetric":
            raise P4Error(ann.loc, why or f"{d.name}: @symmetric is only supported by the Hash extern "
                                         f"(bf-p4c midend/check_unsupported.cpp)")


def site_pairs(declared: list[tuple[str, str, Loc]], names: list[str], widths: list[int], algo: str,
               call_loc: Loc, is_field: Callable[[str], bool]) -> SymPairs:
    """The pairs of one `get` call: `names`/`widths` describe its field list (a name is the source text of an
    entry that is a whole field, "" otherwise). Refuses what verifySymmetricHashPairs refuses, in its order."""
    seen: set[str] = set()
    pairs: list[tuple[int, int]] = []
    at = f" (in the get at {call_loc}; {_SRC})"
    for a, b, loc in declared:
        for n in (a, b):
            if n not in names and not is_field(n):
                raise P4Error(loc, f"The key {n} in the symmetric annotation is not recognized as a PHV field{at}")
        if a == b:
            raise P4Error(loc, f"A field {a} cannot be symmetric to itself{at}")
        # the last entry naming the field, as bf-p4c's scan of the list keeps it
        pos = {n: max((i for i, m in enumerate(names) if m == n), default=-1) for n in (a, b)}
        for n in (a, b):
            if pos[n] < 0:
                raise P4Error(loc, f"The key {n} in the symmetric annotation does not appear within the field "
                                   f"list{at}")
        if a in seen or b in seen:
            n = b if a not in seen else a
            raise P4Error(loc, f"The key {n} in the symmetric annotation has already been declared symmetric "
                               f"with another field.  Please use it only once{at}")
        if widths[pos[a]] != widths[pos[b]]:
            raise P4Error(loc, f"The two symmetric fields are not the same size ({a}: {widths[pos[a]]} bits, "
                               f"{b}: {widths[pos[b]]} bits){at}")
        seen.update((a, b))
        pairs.append((min(pos.values()), max(pos.values())))
    if pairs and algo not in ("CRC16", "CRC32"):
        raise P4Error(declared[0][2], f"Currently in p4c, symmetric hash is only supported to work with CRC "
                                      f"algorithms, not {algo}{at}")
    return tuple(pairs)
