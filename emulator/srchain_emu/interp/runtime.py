"""Runtime objects the compiled program calls into: packets, tables, registers, counters, hashes, checksums."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass, field

from .types import pyattr


class ParserReject(Exception):
    """The parser rejected the packet (explicit `reject` or a parser error such as PacketTooShort)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ExitControl(Exception):
    """`exit;`: leave the enclosing top-level control."""


class PacketIn:
    __slots__ = ("data", "intr", "n", "off")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.off = 0
        self.n = len(data)
        self.intr: object = None  # the intrinsic-metadata header whose bytes the driver put at offset 0

    def lookahead(self, nbits: int) -> int:
        nbytes = (nbits + 7) // 8
        end = self.off + nbytes
        if end > self.n:
            raise ParserReject("PacketTooShort")
        return int.from_bytes(self.data[self.off : end], "big") >> (nbytes * 8 - nbits)

    def advance(self, nbits: int) -> None:
        if nbits % 8:
            raise ParserReject("ParserInvalidArgument")
        end = self.off + nbits // 8
        if end > self.n:
            raise ParserReject("PacketTooShort")
        self.off = end


class StackOutOfBounds(ParserReject):
    def __init__(self) -> None:
        super().__init__("StackOutOfBounds")


# ---------------------------------------------------------------- tables


class ConfigError(ValueError):
    """A control-plane request that the program cannot accept (unknown field, value too wide, full, ...)."""


class EntryExists(ConfigError):
    pass


class EntryNotFound(ConfigError):
    pass


class TableFull(ConfigError):
    pass


class ConstTable(ConfigError):
    pass


@dataclass(slots=True)
class ActionInfo:
    name: str  # control-plane name, e.g. "SwitchIngress.hit"
    fn: object  # the compiled action function
    params: list[tuple[str, int]]  # action-data parameters (name, width)
    scope: str = "TableAndDefault"  # TableAndDefault | TableOnly | DefaultOnly


@dataclass(slots=True)
class KeyInfo:
    name: str
    match_kind: str  # exact | ternary | lpm | range
    width: int


class Entry:
    __slots__ = ("action", "args", "bytes", "fn", "hit", "key", "pkts", "priority", "rank")

    def __init__(self, action: ActionInfo, args: tuple, hit: bool, key: tuple = (), priority: int = 0) -> None:
        self.action = action
        self.fn = action.fn
        self.args = args
        self.hit = hit
        self.key = key
        self.priority = priority
        self.pkts = 0
        self.bytes = 0
        self.rank = (priority, 0)

    def count(self, nbytes: int) -> None:
        self.pkts += 1
        self.bytes += nbytes


MEMO_LIMIT = 65536  # distinct keys remembered per LPM/ternary/range table before the memo starts over


class Table:
    """A match-action table. Keys are tuples of ints, one per key field, in declaration order.

    Control-plane key specs per field: exact → value; ternary → (value, mask); lpm → (value, prefix_len);
    range → (low, high). Ternary/range entries carry a priority: a LOWER number wins (TCAM order), and
    const entries get their source order as priority.
    """

    def __init__(
        self,
        name: str,
        keys: list[KeyInfo],
        actions: list[ActionInfo],
        default: Entry,
        size: int,
        const_default: bool = False,
        has_counter: bool = False,
    ) -> None:
        self.name = name
        self.keys = keys
        self.actions = {a.name: a for a in actions}
        self.size = size
        self.const_default = const_default
        self.has_counter = has_counter
        self.is_const = False
        self.initial_default = default
        self.default = default
        self.cur: Entry = default
        kinds = {k.match_kind for k in keys}
        self.all_exact = kinds <= {"exact"}
        self.lpm_index = next((i for i, k in enumerate(keys) if k.match_kind == "lpm"), -1)
        self.prefix_mode = kinds <= {"exact", "lpm"} and sum(k.match_kind == "lpm" for k in keys) == 1
        self.entries: dict[tuple, Entry] = {}  # normalised key spec -> entry (all modes)
        self._exact: dict[tuple, Entry] = {}
        self._ordered: list[tuple[Entry, list]] = []
        self._prefix_tables: list[tuple[int, dict[tuple, Entry]]] = []
        # Tuple-space search for ternary/lpm tables: one dict per distinct mask vector.
        self._groups: list[tuple[tuple, dict[tuple, Entry], tuple]] = []
        self._memo: dict[tuple, Entry | None] = {}
        if self.all_exact:
            self._lookup = self._lookup_exact
        else:
            if self.prefix_mode:
                self._slow_lookup = self._lookup_prefix
            elif "range" in kinds:
                self._slow_lookup = self._lookup_ordered
            else:
                self._slow_lookup = self._lookup_masked
            self._lookup = self._lookup_memo

    # -- data plane (lookup is rebound to the matcher of the table's key kinds)
    def lookup(self, key: tuple) -> Entry:
        return self._lookup(key)

    def _lookup_exact(self, key: tuple) -> Entry:
        return self._exact.get(key, self.default)

    def _lookup_memo(self, key: tuple) -> Entry:
        # LPM/ternary results per key, until the entries change (_rebuild clears it). Misses are kept as
        # None so a changed default action is always read fresh.
        memo = self._memo
        try:
            e = memo[key]
        except KeyError:
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            e = self._slow_lookup(key)
            memo[key] = e = None if e is self.default else e
        return self.default if e is None else e

    def _lookup_prefix(self, key: tuple) -> Entry:
        i = self.lpm_index
        head, k, tail = key[:i], key[i], key[i + 1 :]
        for mask, table in self._prefix_tables:
            e = table.get((*head, k & mask, *tail))
            if e is not None:
                return e
        return self.default

    def _lookup_masked(self, key: tuple) -> Entry:
        best = None
        for masks, table, min_rank in self._groups:
            if best is not None and best.rank <= min_rank:
                break  # groups are sorted by the best rank they can offer
            e = table.get(tuple([k & m for k, m in zip(key, masks, strict=False)]))
            if e is not None and (best is None or e.rank < best.rank):
                best = e
        return best if best is not None else self.default

    def _lookup_ordered(self, key: tuple) -> Entry:
        for e, checks in self._ordered:
            for i, kind, a, b in checks:
                k = key[i]
                if kind == 0:
                    if k != a:
                        break
                elif kind == 1:
                    if k & b != a:
                        break
                elif not a <= k <= b:
                    break
            else:
                return e
        return self.default

    # -- control plane
    def _normalise(self, spec: list) -> tuple:
        if len(spec) != len(self.keys):
            raise ConfigError(f"table {self.name}: expected {len(self.keys)} key fields, got {len(spec)}")
        out: list[int | tuple[int, int]] = []
        for k, v in zip(self.keys, spec, strict=True):
            limit = 1 << k.width
            if k.match_kind == "exact":
                v = int(v)
                if not 0 <= v < limit:
                    raise ConfigError(f"table {self.name}: key {k.name} value {v} does not fit in {k.width} bits")
                out.append(v)
            elif k.match_kind == "ternary":
                val, mask = (int(x) for x in v)
                if not (0 <= val < limit and 0 <= mask < limit):
                    raise ConfigError(f"table {self.name}: key {k.name} does not fit in {k.width} bits")
                out.append((val & mask, mask))
            elif k.match_kind == "lpm":
                val, plen = (int(x) for x in v)
                if not 0 <= plen <= k.width or not 0 <= val < limit:
                    raise ConfigError(f"table {self.name}: key {k.name} bad prefix {val}/{plen}")
                mask = ((1 << plen) - 1) << (k.width - plen)
                out.append((val & mask, plen))
            elif k.match_kind == "range":
                lo, hi = (int(x) for x in v)
                if not 0 <= lo <= hi < limit:
                    raise ConfigError(f"table {self.name}: key {k.name} bad range {lo}..{hi}")
                out.append((lo, hi))
            else:
                raise ConfigError(f"table {self.name}: match kind {k.match_kind} not supported")
        return tuple(out)

    def make_entry(self, action_name: str, data: dict[str, int] | tuple, *, default: bool = False) -> Entry:
        action = self.actions.get(action_name)
        if action is None:
            raise ConfigError(f"table {self.name}: unknown action {action_name}")
        if default and action.scope == "TableOnly":
            raise ConfigError(f"table {self.name}: action {action_name} cannot be the default action")
        if not default and action.scope == "DefaultOnly":
            raise ConfigError(f"table {self.name}: action {action_name} is default-only")
        if isinstance(data, tuple):
            args = data
        else:
            unknown = set(data) - {p for p, _ in action.params}
            if unknown:
                raise ConfigError(f"table {self.name}: action {action_name} has no parameter {sorted(unknown)[0]}")
            missing = [p for p, _ in action.params if p not in data]
            if missing:
                raise ConfigError(f"table {self.name}: action {action_name} needs parameter {missing[0]}")
            args = tuple(int(data[p]) for p, _ in action.params)
        for (pname, width), v in zip(action.params, args, strict=True):
            if not 0 <= v < (1 << width):
                raise ConfigError(f"table {self.name}: {action_name}.{pname}={v} does not fit in {width} bits")
        return Entry(action, args, hit=not default)

    def insert(self, spec: list, action_name: str, data: dict[str, int] | tuple, priority: int = 0) -> Entry:
        if self.is_const:
            raise ConstTable(f"table {self.name} has const entries and cannot be modified")
        key = self._normalise(spec)
        if key in self.entries:
            raise EntryExists(f"table {self.name}: entry already exists")
        if len(self.entries) >= self.size:
            raise TableFull(f"table {self.name} is full ({self.size} entries)")
        entry = self.make_entry(action_name, data)
        entry.key = key
        entry.priority = priority
        self._add(key, entry)
        return entry

    def modify(self, spec: list, action_name: str, data: dict[str, int] | tuple) -> Entry:
        if self.is_const:
            raise ConstTable(f"table {self.name} has const entries and cannot be modified")
        key = self._normalise(spec)
        old = self.entries.get(key)
        if old is None:
            raise EntryNotFound(f"table {self.name}: entry not found")
        new = self.make_entry(action_name, data)
        old.action, old.fn, old.args = new.action, new.fn, new.args
        return old

    def delete(self, spec: list) -> None:
        if self.is_const:
            raise ConstTable(f"table {self.name} has const entries and cannot be modified")
        key = self._normalise(spec)
        entry = self.entries.pop(key, None)
        if entry is None:
            raise EntryNotFound(f"table {self.name}: entry not found")
        self._rebuild()

    def clear(self) -> None:
        if self.is_const:
            return
        self.entries.clear()
        self._rebuild()

    def get(self, spec: list) -> Entry | None:
        return self.entries.get(self._normalise(spec))

    def set_default(self, action_name: str, data: dict[str, int] | tuple) -> None:
        if self.const_default:
            raise ConstTable(f"table {self.name} has a const default action")
        self.default = self.make_entry(action_name, data, default=True)

    def reset_default(self) -> None:
        self.default = self.initial_default

    def _add(self, key: tuple, entry: Entry) -> None:
        self.entries[key] = entry
        if self.all_exact:
            self._exact[key] = entry
            return
        self._rebuild()

    def _rebuild(self) -> None:
        self._memo = {}
        if self.all_exact:
            self._exact = dict(self.entries)
            return
        if self.prefix_mode:
            i = self.lpm_index
            by_prefix: dict[int, dict[tuple, Entry]] = {}
            for key, e in self.entries.items():
                plen = key[i][1]
                probe = (*key[:i], key[i][0], *key[i + 1:])
                by_prefix.setdefault(plen, {})[probe] = e
            width = self.keys[i].width
            self._prefix_tables = [
                (((1 << p) - 1) << (width - p), by_prefix[p]) for p in sorted(by_prefix, reverse=True)
            ]
            return
        ordered = []
        for key, e in self.entries.items():
            checks = []
            for i, (k, v) in enumerate(zip(self.keys, key, strict=True)):
                if k.match_kind == "exact":
                    checks.append((i, 0, v, 0))
                elif k.match_kind == "ternary":
                    if v[1]:
                        checks.append((i, 1, v[0], v[1]))
                elif k.match_kind == "lpm":
                    mask = ((1 << v[1]) - 1) << (k.width - v[1])
                    if mask:
                        checks.append((i, 1, v[0], mask))
                else:
                    checks.append((i, 2, v[0], v[1]))
            ordered.append((e, checks))
        # Lower priority value first; among equal priorities, longer LPM prefixes first.
        def rank(item: tuple[Entry, list]) -> tuple[int, int]:
            e = item[0]
            plen = e.key[self.lpm_index][1] if self.lpm_index >= 0 else 0
            return (e.priority, -plen)

        ordered.sort(key=rank)
        self._ordered = ordered
        groups: dict[tuple, tuple[dict[tuple, Entry], list]] = {}
        for e, _checks in ordered:  # best rank first, so the first entry kept per masked key wins
            e.rank = rank((e, _checks))
            masks = []
            values = []
            for k, v in zip(self.keys, e.key, strict=True):
                if k.match_kind == "exact":
                    masks.append((1 << k.width) - 1)
                    values.append(v)
                elif k.match_kind == "ternary":
                    masks.append(v[1])
                    values.append(v[0])
                else:  # lpm (range tables use the ordered scan)
                    masks.append(((1 << v[1]) - 1) << (k.width - v[1]) if k.match_kind == "lpm" else 0)
                    values.append(v[0] if k.match_kind == "lpm" else 0)
            table, ranks = groups.setdefault(tuple(masks), ({}, []))
            table.setdefault(tuple(values), e)
            ranks.append(e.rank)
        self._groups = sorted(((m, t, min(r)) for m, (t, r) in groups.items()), key=lambda g: g[2])


# ---------------------------------------------------------------- stateful externs


@dataclass(slots=True)
class RegisterArray:
    name: str  # control-plane name, e.g. "pipe.SwitchIngress.reg"
    size: int
    fields: list[tuple[str, int]]  # (name, width); one entry for bit<W> registers
    values: list = field(default_factory=list)  # ints (bit<W>) or generated struct objects
    factory: Callable[[], object] | None = None  # creates a struct value (None for bit<W>)
    initial: tuple = ()

    def reset(self) -> None:
        if self.factory is None:
            self.values = [self.initial[0] if self.initial else 0] * self.size
        else:
            self.values = []
            for _ in range(self.size):
                v = self.factory()
                for (fname, _), init in zip(self.fields, self.initial or (0,) * len(self.fields), strict=True):
                    setattr(v, pyattr(fname), init)
                self.values.append(v)

    def read(self, index: int) -> tuple[int, ...]:
        self._check(index)
        v = self.values[index]
        if self.factory is None:
            return (v,)
        return tuple(getattr(v, pyattr(f)) for f, _ in self.fields)

    def write(self, index: int, data: tuple[int, ...]) -> None:
        self._check(index)
        for (fname, width), x in zip(self.fields, data, strict=True):
            if not 0 <= x < (1 << width):
                raise ConfigError(f"register {self.name}: {fname}={x} does not fit in {width} bits")
        if self.factory is None:
            self.values[index] = data[0]
        else:
            for (fname, _), x in zip(self.fields, data, strict=True):
                setattr(self.values[index], pyattr(fname), x)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise ConfigError(f"register {self.name}: index {index} out of range 0..{self.size - 1}")


@dataclass(slots=True)
class CounterArray:
    name: str
    size: int
    kind: str  # PACKETS | BYTES | PACKETS_AND_BYTES
    pkts: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)

    def reset(self) -> None:
        self.pkts = [0] * self.size
        self.bytes = [0] * self.size

    def count(self, index: int, nbytes: int) -> None:
        index %= self.size
        self.pkts[index] += 1
        self.bytes[index] += nbytes


@dataclass(slots=True)
class DigestInfo:
    name: str  # e.g. "pipe.SwitchIngressDeparser.digest_a"
    fields: list[tuple[str, int]]


@dataclass(slots=True)
class MirrorSession:
    egress_port: int
    max_pkt_len: int = 0  # 0: no truncation
    enabled: bool = True
    direction: str = "BOTH"  # $mirror.cfg $direction: INGRESS (I2E), EGRESS (E2E) or BOTH


# ---------------------------------------------------------------- hashes and checksums


def _crc16_table() -> list[int]:
    # CRC-16 (ARC/IBM): polynomial 0x8005, reflected, init 0, xorout 0 — Tofino's HashAlgorithm_t.CRC16.
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC16 = _crc16_table()
_CRC16_WORD: list[int] = []  # 16 bits at a time (built on first use: 64k entries)


def _crc16_word_table() -> list[int]:
    t = _CRC16
    out = []
    for x in range(65536):
        c = (x >> 8) ^ t[x & 0xFF]
        out.append((c >> 8) ^ t[c & 0xFF])
    return out


def crc16(data: bytes) -> int:
    # A reflected 16-bit CRC consumes a little-endian 16-bit word in one table step: crc = W[crc ^ word].
    if not _CRC16_WORD:
        _CRC16_WORD.extend(_crc16_word_table())
    w = _CRC16_WORD
    crc = 0
    n = len(data) & ~1
    for i in range(0, n, 2):
        crc = w[crc ^ data[i] ^ (data[i + 1] << 8)]
    if n < len(data):
        crc = (crc >> 8) ^ _CRC16[(crc ^ data[n]) & 0xFF]
    return crc


def crc32(data: bytes) -> int:
    return binascii.crc32(data)


_HASH_MEMO: dict[tuple[str, int, int, int], int] = {}


def hash_value(algo: str, value: int, nbits: int, out_width: int) -> int:
    """Hash of the bit string `value` (nbits long, zero-padded on the left to whole bytes)."""
    key = (algo, value, nbits, out_width)
    h = _HASH_MEMO.get(key)  # a pure function of its arguments; packets of one flow hash the same key
    if h is not None:
        return h
    mask = (1 << out_width) - 1
    if algo == "IDENTITY":
        h = value & mask
    else:
        data = value.to_bytes((nbits + 7) // 8, "big")
        h = (crc16(data) if algo == "CRC16" else binascii.crc32(data)) & mask
    if len(_HASH_MEMO) >= MEMO_LIMIT:
        _HASH_MEMO.clear()
    _HASH_MEMO[key] = h
    return h


def hash_site(memo: dict[tuple, int], fields: tuple[int, ...], algo: str, shifts: tuple[int, ...], nbits: int,
              out_width: int, sym: tuple[tuple[int, int], ...] = ()) -> int:
    """A Hash.get call site's miss: the fields placed at their bit positions, hashed, remembered by field values.

    `sym` lists the @symmetric pairs (i, j), i < j: as bf-p4c lays out the CRC input (hash_symmetric.py), entry i
    counts as zeros and entry j as (i XOR j), so swapping the two values gives the same hash."""
    vals = fields
    if sym:
        lst = list(fields)
        for i, j in sym:
            lst[j] ^= lst[i]
            lst[i] = 0
        vals = tuple(lst)
    value = 0
    for f, s in zip(vals, shifts, strict=True):
        value |= f << s
    h = hash_value(algo, value, nbits, out_width)
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[fields] = h
    return h


def ones_complement_sum(value: int, nbits: int) -> int:
    """16-bit ones'-complement sum of the bit string `value` (padded on the right to 16-bit words).

    2^16 = 1 (mod 0xFFFF), so the end-around-carry sum of the words is `value mod 0xFFFF`, except that a
    non-zero input never sums to 0 but to 0xFFFF (negative zero)."""
    value <<= (-nbits) % 16
    r = value % 0xFFFF
    return r if r or not value else 0xFFFF


def ones_fold(total: int) -> int:
    """ones_complement_sum of a bit string, given any non-negative int congruent to it mod 0xFFFF that is 0
    exactly when the string is all zeros (the generated code passes a sum of shifted fields)."""
    r = total % 0xFFFF
    return r if r or not total else 0xFFFF


class ChecksumUnit:
    """TNA `Checksum`: add/subtract fields, then verify() (the error bit: the sum is not all ones, as on a
    Tofino, SDE `tna_checksum.p4`) or get() (the sum's complement)."""

    __slots__ = ("total",)

    def __init__(self) -> None:
        self.total = 0

    def add(self, value: int, nbits: int) -> None:
        t = self.total + ones_complement_sum(value, nbits)
        self.total = (t & 0xFFFF) + (t >> 16)

    def subtract(self, value: int, nbits: int) -> None:
        t = self.total + (~ones_complement_sum(value, nbits) & 0xFFFF)
        self.total = (t & 0xFFFF) + (t >> 16)

    def add_sum(self, ones: int) -> None:
        t = self.total + ones
        self.total = (t & 0xFFFF) + (t >> 16)

    def subtract_sum(self, ones: int) -> None:
        t = self.total + (~ones & 0xFFFF)
        self.total = (t & 0xFFFF) + (t >> 16)

    def verify(self) -> bool:
        return self.total != 0xFFFF

    def get(self) -> int:
        return ~self.total & 0xFFFF

    @staticmethod
    def update(value: int, nbits: int) -> int:
        return ~ones_complement_sum(value, nbits) & 0xFFFF
