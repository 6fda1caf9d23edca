"""Dynamic hashing: a Hash extern whose field list and algorithm the control plane changes at run time.

The SDE serves three BF Runtime tables per Hash used through get() (bf-p4c lists them in bf-rt.json, the
driver implements them in pipe_mgr + bf-utils `dynamic_hash`): `<hash>.configure` (which slices of the
get() fields feed the hash, in which order; two slices of one order are hashed symmetrically),
`<hash>.algorithm` (a predefined or user-defined CRC, or IDENTITY; msb/extend, output rotation, seed) and
`<hash>.compute` (the hash of given field values under the current configuration).

How the driver computes, and so how this module does:
  * the input is the chosen slices concatenated in ascending order (order 1 is the most significant, the
    first bytes of the CRC input), zero-padded on the left to whole bytes; order 0 leaves a slice out;
  * a symmetric pair (two slices of one order) contributes (a XOR b) in both of its places, which is what
    XORing the two slices' hash-matrix rows does (bf-utils update_symmetric_bits);
  * `rotate` r rotates the output bits the program reads left by r among themselves (pipe_mgr
    rotate_matrix: the column of output bit i moves to bit (i + r) mod n);
  * the seed is the constant part of the hash (the all-zero input's hash); writing one replaces it;
  * compute answers the bits the program reads, the others zero (pipe_mgr only programs those).

Until the control plane writes a configuration (and again after a reset), the Hash computes exactly as
declared in the program (the static path, including its @symmetric layout).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..frontend import ast as A
from . import runtime as R
from .checked import CheckedProgram, ExternSym, Typed, expr_text
from .target_walk import callee, control_bodies, expressions, statements, subexpressions
from .types import Bits

# bf-utils' standard CRCs (bfn_hash_algorithm.c): name -> (width, polynomial without its top bit, reflected,
# init, final xor). These are the catalogue parameters of each CRC (reveng's CRC catalogue).
PREDEFINED_CRCS: dict[str, tuple[int, int, bool, int, int]] = {
    "crc_8": (8, 0x07, False, 0, 0), "crc_8_darc": (8, 0x39, True, 0, 0), "crc_8_i_code": (8, 0x1D, False, 0xFD, 0),
    "crc_8_itu": (8, 0x07, False, 0x55, 0x55), "crc_8_maxim": (8, 0x31, True, 0, 0),
    "crc_8_rohc": (8, 0x07, True, 0xFF, 0), "crc_8_wcdma": (8, 0x9B, True, 0, 0),
    "crc_16": (16, 0x8005, True, 0, 0), "crc_16_bypass": (16, 0x8005, False, 0, 0),
    "crc_16_dds_110": (16, 0x8005, False, 0x800D, 0), "crc_16_dect": (16, 0x0589, False, 1, 1),
    "crc_16_dect_r": (16, 0x0589, False, 0, 1), "crc_16_dect_x": (16, 0x0589, False, 0, 0),
    "crc_16_dnp": (16, 0x3D65, True, 0, 0xFFFF), "crc_16_en_13757": (16, 0x3D65, False, 0, 0xFFFF),
    "crc_16_genibus": (16, 0x1021, False, 0xFFFF, 0xFFFF), "crc_16_maxim": (16, 0x8005, True, 0, 0xFFFF),
    "crc_16_mcrf4xx": (16, 0x1021, True, 0xFFFF, 0), "crc_16_riello": (16, 0x1021, True, 0xB2AA, 0),
    "crc_16_t10_dif": (16, 0x8BB7, False, 0, 0), "crc_16_teledisk": (16, 0xA097, False, 0, 0),
    "crc_16_usb": (16, 0x8005, True, 0xFFFF, 0xFFFF), "x_25": (16, 0x1021, True, 0xFFFF, 0xFFFF),
    "xmodem": (16, 0x1021, False, 0, 0), "modbus": (16, 0x8005, True, 0xFFFF, 0), "kermit": (16, 0x1021, True, 0, 0),
    "crc_ccitt_false": (16, 0x1021, False, 0xFFFF, 0), "crc_aug_ccitt": (16, 0x1021, False, 0x1D0F, 0),
    "crc_32": (32, 0x04C11DB7, True, 0xFFFFFFFF, 0xFFFFFFFF),
    "crc_32_bzip2": (32, 0x04C11DB7, False, 0xFFFFFFFF, 0xFFFFFFFF),
    "crc_32c": (32, 0x1EDC6F41, True, 0xFFFFFFFF, 0xFFFFFFFF),
    "crc_32d": (32, 0xA833982B, True, 0xFFFFFFFF, 0xFFFFFFFF),
    "crc_32_mpeg": (32, 0x04C11DB7, False, 0xFFFFFFFF, 0), "posix": (32, 0x04C11DB7, False, 0, 0xFFFFFFFF),
    "crc_32q": (32, 0x814141AB, False, 0, 0), "jamcrc": (32, 0x04C11DB7, True, 0xFFFFFFFF, 0),
    "xfer": (32, 0xAF, False, 0, 0), "crc_64": (64, 0x42F0E1EBA9EA3693, False, 0, 0),
    "crc_64_go_iso": (64, 0x1B, True, (1 << 64) - 1, (1 << 64) - 1),
    "crc_64_we": (64, 0x42F0E1EBA9EA3693, False, (1 << 64) - 1, (1 << 64) - 1),
    "crc_64_jones": (64, 0xAD93D23594C935A9, True, (1 << 64) - 1, 0),
}
# the `algorithm_name` choices bf-p4c lists (the driver takes each in lower or upper case)
ALGORITHM_NAMES = ["IDENTITY", "RANDOM", "XOR", *(n.upper() for n in PREDEFINED_CRCS)]
# HashAlgorithm_t of a declaration -> its bf-utils name
DECLARED_NAMES = {"CRC8": "crc_8", "CRC16": "crc_16", "CRC32": "crc_32", "CRC64": "crc_64", "IDENTITY": "identity"}


class DynHashError(ValueError):
    """A configuration the driver refuses (the message says why)."""


@dataclass(frozen=True)
class Algorithm:
    """What `<hash>.algorithm` holds: a CRC (`name`: a predefined one's, "" for user-defined) or IDENTITY."""

    name: str  # bf-utils name in lower case ("crc_32", "identity") or "" (user-defined CRC)
    width: int  # the CRC's width (hash_bit_width); IDENTITY: the Hash's output width
    poly: int = 0
    reverse: bool = False
    init: int = 0
    final_xor: int = 0
    msb: bool = False
    extend: bool = False

    def crc(self) -> R.CrcParams:
        return (self.width, self.poly, self.reverse, self.msb, self.extend, self.init, self.final_xor)


def predefined(name: str, out_width: int, msb: bool = False, extend: bool = False) -> Algorithm:
    """A predefined algorithm by its bf-rt `algorithm_name` (either case, as the driver takes it)."""
    low = name.lower()
    if low == "identity":
        return Algorithm("identity", out_width, msb=msb, extend=extend)
    if low in ("random", "xor"):
        raise DynHashError(f"algorithm {name} is not supported by the emulator (CRCs and IDENTITY are)")
    p = PREDEFINED_CRCS.get(low)
    if p is None or name not in (low, low.upper()):
        raise DynHashError(f"unknown algorithm_name {name!r} (one of {', '.join(ALGORITHM_NAMES)})")
    width, poly, rev, init, xor = p
    return Algorithm(low, width, poly, rev, init, xor, msb, extend)


def user_defined(width: int, poly: int, reverse: bool, init: int, final_xor: int, msb: bool,
                 extend: bool) -> Algorithm:
    """A user-defined CRC, refused as bf-utils verify_algorithm refuses it."""
    if not 0 < width <= 64:
        raise DynHashError(f"hash_bit_width {width} is not in 1..64")
    if poly >= 1 << width:
        raise DynHashError(f"polynomial {poly:#x} is wider than hash_bit_width {width}")
    if not poly & 1:
        raise DynHashError("Polynomial is not odd")
    if init >= 1 << width:
        raise DynHashError("Init value is larger than the polynomial")
    if final_xor >= 1 << width:
        raise DynHashError("Final xor value is larger than the polynomial")
    return Algorithm("", width, poly, reverse, init, final_xor, msb, extend)


def declared_algorithm(algo: str | R.CrcParams, out_width: int) -> Algorithm:
    """The algorithm a Hash declaration names, as `<hash>.algorithm` reads it back after a reset."""
    if isinstance(algo, tuple):  # a CRCPolynomial: a user-defined CRC
        width, poly, rev, msb, extend, init, xor = algo
        return Algorithm("", width, poly, rev, init, xor, msb, extend)
    if algo == "IDENTITY":
        return Algorithm("identity", out_width)
    return predefined(DECLARED_NAMES[algo], out_width)


@dataclass(frozen=True)
class Slice:
    """One `<field>` container entry of `<hash>.configure`."""

    field: int  # index in the get() list
    start: int
    length: int
    order: int


class DynHash:
    """A Hash extern with one get() site over named fields: its static computation and its run-time one."""

    def __init__(self, name: str, fields: list[tuple[str, int]], width: int, used: tuple[int, ...],
                 algo: str | R.CrcParams, shifts: tuple[int, ...], nbits: int,
                 sym: tuple[tuple[int, int], ...]) -> None:
        self.name = name  # the Hash's qualified name: the tables are <name>.configure / .algorithm / .compute
        self.fields = fields  # (bf-rt name, width) of each get() term, in order
        self.width = width  # the Hash's output width
        self.used = used  # the output bits the program reads, ascending
        self.static = (algo, shifts, nbits, sym)  # the declared computation (runtime.hash_site's arguments)
        self.declared = declared_algorithm(algo, width)
        self.memo: dict[tuple[int, ...], int] = {}  # field values -> hash (the call site's memo)
        self.slices: tuple[Slice, ...] | None = None  # None: the declared field list
        self.algorithm: Algorithm | None = None  # None: the declared algorithm
        self.rotate = 0
        self.seed: int | None = None  # None: the algorithm's own (the all-zero input's hash)
        self.active = False  # any of the above changed: hash by the configuration

    # ------------------------------------------------------------ configuration
    def default_slices(self) -> tuple[Slice, ...]:
        """The declared field list as `<hash>.configure` shows it: order 1.. in get() order, a declared
        @symmetric pair sharing the first one's order."""
        order = list(range(1, len(self.fields) + 1))
        for i, j in self.static[3]:
            order[j] = order[i]
        return tuple(Slice(i, 0, w, order[i]) for i, (_, w) in enumerate(self.fields))

    def current_slices(self) -> tuple[Slice, ...]:
        return self.default_slices() if self.slices is None else self.slices

    def current_algorithm(self) -> Algorithm:
        return self.declared if self.algorithm is None else self.algorithm

    def check_slices(self, slices: list[Slice]) -> tuple[Slice, ...]:
        """The slices as the driver takes them (a length past the field's end is cut), or DynHashError."""
        out = []
        for s in slices:
            fname, fw = self.fields[s.field]
            if s.start >= fw:
                raise DynHashError(f"{fname}: start_bit {s.start} is not below the field's width {fw}")
            length = fw - s.start if s.length == 0 or s.start + s.length > fw else s.length
            out.append(Slice(s.field, s.start, length, s.order))
        for a in out:
            for b in out:
                if a is not b and a.field == b.field and a.start < b.start + b.length and b.start < a.start + a.length:
                    raise DynHashError(f"{self.fields[a.field][0]}: slices [{a.start}, {a.start + a.length}) and "
                                       f"[{b.start}, {b.start + b.length}) overlap")
        by_order: dict[int, list[Slice]] = {}
        for s in out:
            if s.order:
                by_order.setdefault(s.order, []).append(s)
        for order, group in by_order.items():
            if len(group) > 2:
                raise DynHashError(f"{len(group)} slices have order {order}: at most two (a symmetric pair) may "
                                   "share one")
            if len(group) == 2 and group[0].length != group[1].length:
                raise DynHashError(f"order {order}: a symmetric pair must have equal lengths, not "
                                   f"{group[0].length} and {group[1].length}")
        return tuple(out)

    def configure(self, slices: tuple[Slice, ...] | None) -> None:
        self.slices = slices
        self._changed()

    def set_algorithm(self, algorithm: Algorithm | None, rotate: int) -> None:
        """A new algorithm (None: the declared one) also brings back its own seed, as the driver does."""
        self.algorithm = algorithm
        self.rotate = rotate
        self.seed = None
        self._changed()

    def set_seed(self, seed: int | None) -> None:
        self.seed = seed
        self._changed()

    def _changed(self) -> None:
        self.active = (self.slices is not None or self.algorithm is not None or self.rotate != 0
                       or self.seed is not None)
        self.memo.clear()

    # ------------------------------------------------------------ computation
    def miss(self, values: tuple[int, ...]) -> int:
        """The hash of one get()'s field values (a memo miss of the generated code)."""
        if not self.active:
            algo, shifts, nbits, sym = self.static
            if algo == "IDENTITY":
                v = 0
                for f, s in zip(values, shifts, strict=True):
                    v |= f << s
                return v & ((1 << self.width) - 1)
            return R.hash_site(self.memo, values, algo, shifts, nbits, self.width, sym)
        h = self.compute(values, masked=False)
        if len(self.memo) >= R.MEMO_LIMIT:
            self.memo.clear()
        self.memo[values] = h
        return h

    def _stream(self, values: tuple[int, ...]) -> tuple[int, int]:
        """(bit string, its length) of the configured input."""
        chosen = sorted((s for s in self.current_slices() if s.order), key=lambda s: (s.order, s.field, s.start))
        bits = [(values[s.field] >> s.start) & ((1 << s.length) - 1) for s in chosen]
        for i, s in enumerate(chosen):  # a symmetric pair: both places hold a XOR b
            if i + 1 < len(chosen) and chosen[i + 1].order == s.order:
                bits[i] = bits[i + 1] = bits[i] ^ bits[i + 1]
        value, nbits = 0, 0
        for b, s in zip(bits, chosen, strict=True):
            value = (value << s.length) | b
            nbits += s.length
        return value, nbits

    def _raw(self, value: int, nbits: int) -> int:
        alg = self.current_algorithm()
        if alg.name == "identity":
            return value & ((1 << self.width) - 1)
        return R.crc_custom(alg.crc(), value.to_bytes((nbits + 7) // 8, "big"), self.width)

    def _rotated(self, h: int) -> int:
        """The bits the program reads, rotated left among themselves by `rotate`; the others zero."""
        n = len(self.used)
        out = 0
        for i, pos in enumerate(self.used):
            if h >> pos & 1:
                out |= 1 << self.used[(i + self.rotate) % n]
        return out

    def default_seed(self) -> int:
        _, nbits = self._stream(tuple(0 for _ in self.fields))
        return self._rotated(self._raw(0, nbits))

    def compute(self, values: tuple[int, ...], masked: bool = True) -> int:
        """The hash under the current configuration (`masked`: only the bits the program reads, as
        `<hash>.compute` answers)."""
        value, nbits = self._stream(values)
        h = self._rotated(self._raw(value, nbits))
        if self.seed is not None:
            h ^= self.default_seed() ^ self.seed
        if not masked:  # the bits the program does not read: as computed without rotation or seed
            rest = self._raw(value, nbits) & ~sum(1 << p for p in self.used)
            h |= rest
        return h


# ---------------------------------------------------------------- which Hash externs get the tables


@dataclass
class Site:
    """A Hash's get() call sites and what the program reads of them."""

    calls: set[int]
    fields: list[tuple[str, int]] | None  # None: a term that is not a (sliced) field
    used: set[int]


def _fields(ann: dict[int, object], arg: A.Expr) -> list[tuple[str, int]] | None:
    items = arg.items if isinstance(arg, A.ListExpr) else [arg]
    out: list[tuple[str, int]] = []
    for it in items:
        name = expr_text(it)
        t = ann.get(id(it))
        if "expr" in name or isinstance(it, A.IntConst) or not isinstance(t, Typed) or not isinstance(t.type, Bits) \
                or t.type.signed or name in (n for n, _ in out):
            return None
        out.append((name, t.type.width))
    return out


def survey(checked: CheckedProgram) -> dict[int, Site]:
    """Per Hash extern (by id of its ExternSym) used through get(): its sites, field names, bits read."""
    sites: dict[int, Site] = {}
    for ann, body in control_bodies(checked):
        for s in statements(body):
            for e in expressions(s):
                sliced: dict[int, set[int]] = {}
                for x in subexpressions(e):
                    if isinstance(x, A.Slice) and isinstance(x.base, A.Call) and isinstance(x.hi, A.IntConst) \
                            and isinstance(x.lo, A.IntConst):
                        sliced[id(x.base)] = set(range(x.lo.value, x.hi.value + 1))
                    if not isinstance(x, A.Call):
                        continue
                    target = callee(ann, x)
                    if not (isinstance(target, tuple) and isinstance(target[0], ExternSym)
                            and target[0].kind == "Hash" and target[1] == "get" and len(x.args) == 1):
                        continue
                    sym: ExternSym = target[0]
                    width: int = sym.extra["width"]  # type: ignore[assignment]
                    site = sites.setdefault(id(sym), Site(set(), _fields(ann, x.args[0]), set()))
                    site.calls.add(id(x))
                    site.used |= sliced.get(id(x), set(range(width)))
    return sites
