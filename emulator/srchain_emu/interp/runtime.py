"""Runtime objects the compiled program calls into: packets, tables, registers, counters, hashes, checksums."""

from __future__ import annotations

import binascii
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    bfrt_match: str = ""  # bf-rt.json's match_type when it is not the match kind's (ATCAM: an exact partition index)


class Entry:
    __slots__ = (
        "action",
        "args",
        "bytes",
        "filt",
        "fn",
        "group",
        "handle",
        "hit",
        "idle",
        "idle_hit",
        "key",
        "member",
        "meter",
        "pkts",
        "priority",
        "rank",
        "reg",
        "synced",
    )

    def __init__(self, action: ActionInfo, args: tuple, hit: bool, key: tuple = (), priority: int = 0) -> None:
        self.action = action
        self.fn = action.fn
        self.args = args
        self.hit = hit
        self.key = key
        self.priority = priority
        self.pkts = 0
        self.bytes = 0
        self.synced = (0, 0)  # its direct counter's software state (from_hw=False reads): last written or synced
        self.rank = (priority, 0)
        self.handle = 0  # the entry handle the control plane reads it by (0: not inserted, e.g. a default)
        self.member: int | None = None  # an indirect table's entry: the action profile member it runs
        self.group: SelectorGroup | None = None  # ... or the selector group it picks a member from
        self.meter: list[MeterState] | None = None  # a DirectMeter's cell per pipe (None: no spec, never red)
        self.reg: object = None  # a DirectRegister's cell: int or struct object (None: the initial value)
        self.filt: list | None = None  # a DirectLpf's / DirectWred's cell per pipe (None: no spec written)
        self.idle_hit = False  # `idle_timeout` tables: set by a lookup that hit, cleared by a sweep / UpdateHitState
        self.idle: EntryIdle | None = None  # `idle_timeout` tables: the entry's TTL and aging state

    def count(self, nbytes: int) -> None:
        self.pkts += 1
        self.bytes += nbytes


IDLE_POLL, IDLE_NOTIFY = 0, 1  # bfruntime.proto IdleTable.IdleTableMode
IDLE_DEFAULT_QUERY_MS = 5000  # what a disabled notify-mode table reports (tna_idletimeout's IdleTimeoutTest)


@dataclass(slots=True)
class IdleTime:
    """A table's idle-time configuration (the SDE's IdleTimeout table attribute). Notify mode: entries with a TTL
    age at each sweep (every `query_ms`) and raise ENTRY_IDLE / ENTRY_ACTIVE notifications. Poll mode: the
    control plane syncs the hit bits with the UpdateHitState operation and reads $ENTRY_HIT_STATE."""

    enabled: bool = False
    mode: int = IDLE_NOTIFY
    query_ms: int = IDLE_DEFAULT_QUERY_MS
    max_ttl_ms: int = 0
    min_ttl_ms: int = 0
    next_ns: int = 0  # when the next notify-mode sweep is due (monotonic clock)


@dataclass(slots=True)
class EntryIdle:
    """One entry's aging state: its TTL and what is left of it (notify mode), whether it was reported idle, and
    the hit state the last UpdateHitState copied from the hit bit (poll mode)."""

    ttl_ms: int = 0  # $ENTRY_TTL; 0: the entry does not age
    left_ms: int = 0
    reported_idle: bool = False
    hit_state: bool = False  # $ENTRY_HIT_STATE as the software holds it (True: ENTRY_ACTIVE)


# pipe_mgr installs a table's default entry first: handle 1 reads it (tna_ternary_match reads the default so)
DEFAULT_HANDLE = 1

# What one copy of a match table's entries is made of (the attributes an EntryScope copy swaps in and out)
_COPY_STATE = ("entries", "_exact", "_ordered", "_prefix_tables", "_groups", "_memo", "_proxy", "default", "cur")

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
        meter_unit: str | None = None,
    ) -> None:
        self.name = name
        self.meter_unit = meter_unit  # a DirectMeter's MeterType_t (its spec is entry data), or None
        self.meter_adjusts = [0]  # its MeterByteCountAdjust attribute per pipe: bytes added to each packet's length
        self.profile: ActionProfile | None = None  # `implementation =`: entries name members ...
        self.selector: ActionSelector | None = None  # ... or selector groups
        self.dreg: DirectRegister | None = None  # `registers =`: one register cell per entry
        self.dfilter: DirectFilter | None = None  # `filters =` naming a DirectLpf / DirectWred
        # `proxy_hash =`: (algorithm, output width, key bits); entries are found by the hash of the key
        self.proxy: tuple[str | CrcParams, int, int] | None = None
        self._proxy: dict[int, Entry] = {}
        self.idle: IdleTime | None = None  # `idle_timeout = true`: the table's idle-time configuration
        # EntryScope: which copy of the entries each pipe uses. One copy (symmetric, the default) or one per
        # scope (asymmetric); the attributes hold the selected copy, `_copies` the others while asymmetric.
        self.num_pipes = 1
        self.pipe = 0
        self.scope: tuple[int, ...] = (0,)
        self._copy = 0
        self._copies: list[dict[str, Any] | None] | None = None
        self.scope_mode: tuple[str, int] = ("ALL", 0)  # the EntryScope pipe scope as written: ALL, SINGLE, USER
        # `@dynamic_table_key_masks(1)` (exact tables only): the DynamicKeyMask attribute, one mask per key field
        # (all ones until the control plane sets one), ANDed onto each entry's key as it is written (pipe_mgr
        # stores the masked key) and onto the packet's key at lookup. None: not a dynamic-key-mask table.
        self.key_mask: tuple[int, ...] | None = None
        self.keys = keys
        self.actions = {a.name: a for a in actions}
        self.size = size
        self.const_default = const_default
        self.has_counter = has_counter
        self.is_const = False
        self.initial_default = default
        self.default = default
        self.cur: Entry = default
        # entry handles count up per table, across every copy of an asymmetric one; DEFAULT_HANDLE is the default
        self._last_handle = DEFAULT_HANDLE
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

    def _lookup_key_masked(self, key: tuple) -> Entry:
        mask = self.key_mask
        assert mask is not None
        return self._exact.get(tuple([k & m for k, m in zip(key, mask, strict=True)]), self.default)

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
        key_mask = self.key_mask
        for k, v in zip(self.keys, spec, strict=True):
            limit = 1 << k.width
            if k.match_kind == "exact":
                v = int(v)
                if not 0 <= v < limit:
                    raise ConfigError(f"table {self.name}: key {k.name} value {v} does not fit in {k.width} bits")
                out.append(v if key_mask is None else v & key_mask[len(out)])  # DynamicKeyMask: the masked key
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
        entry.handle = self._new_handle()
        self._add(key, entry)
        return entry

    def insert_entry(self, spec: list, entry: Entry, priority: int = 0) -> Entry:
        """Insert a prepared entry (an indirect table's: ActionProfile/ActionSelector.entry_for)."""
        if self.is_const:
            raise ConstTable(f"table {self.name} has const entries and cannot be modified")
        key = self._normalise(spec)
        if key in self.entries:
            raise EntryExists(f"table {self.name}: entry already exists")
        if len(self.entries) >= self.size:
            raise TableFull(f"table {self.name} is full ({self.size} entries)")
        entry.key = key
        entry.priority = priority
        entry.handle = self._new_handle()
        self._add(key, entry)
        return entry

    def _new_handle(self) -> int:
        """A fresh entry handle: unique in the table for its life (a modify keeps it, a re-insert gets another),
        as pipe_mgr's match entry handles are."""
        self._last_handle += 1
        return self._last_handle

    def find_handle(self, handle: int) -> tuple[int, tuple, Entry] | None:
        """The entry with `handle`: (its copy, its normalised key, the entry), or None."""
        if handle <= 0:
            return None
        for c, entries in enumerate(self.copies()):
            for key, e in entries.items():
                if e.handle == handle:
                    return c, key, e
        return None

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

    # -- entry scope (per-pipe copies of the entries; the pipeline selects the pipe, as for registers)
    def set_num_pipes(self, n: int) -> None:
        self.num_pipes, self.pipe = n, 0
        if self._copies is not None:
            self.set_scope((0,) * n)
        self.scope = (0,) * n
        self.meter_adjusts = [0] * n

    def reset(self) -> None:
        """Back to one copy for all pipes and the full key mask (a program push); the entries are cleared by the
        pipeline."""
        if self._copies is not None:
            self._use_copy(0)
            self._copies = None
        self.scope, self._copy, self.scope_mode = (0,) * self.num_pipes, 0, ("ALL", 0)
        if self.key_mask is not None:
            self.key_mask = self.full_key_mask()

    # -- dynamic key masks (`@dynamic_table_key_masks(1)`, the DynamicKeyMask attribute)
    def full_key_mask(self) -> tuple[int, ...]:
        """Every bit of every key field: the mask a dynamic-key-mask table starts with."""
        return tuple((1 << k.width) - 1 for k in self.keys)

    def enable_key_masks(self) -> None:
        """Make this an exact table whose key the control plane may mask (all ones until it does)."""
        if not self.all_exact or self.proxy is not None:
            raise ConfigError(f"table {self.name}: dynamic key masks need an exact-match table")
        self.key_mask = self.full_key_mask()
        self._lookup = self._lookup_key_masked

    def set_key_mask(self, mask: tuple[int, ...]) -> None:
        """The DynamicKeyMask attribute: one mask per key field, in key order. As pipe_mgr, only while no copy of
        the entries holds any (the table's default entry does not count): the stored keys were masked with the old
        mask."""
        if self.key_mask is None:
            raise ConfigError(f"table {self.name} is not declared with @dynamic_table_key_masks(1)")
        if len(mask) != len(self.keys):
            raise ConfigError(f"table {self.name}: a key mask needs {len(self.keys)} fields, not {len(mask)}")
        for k, m in zip(self.keys, mask, strict=True):
            if not 0 <= m < 1 << k.width:
                raise ConfigError(f"table {self.name}: key {k.name} mask {m:#x} does not fit in {k.width} bits")
        if any(self.copies()):
            raise ConfigError(f"table {self.name}: the key mask changes only while the table has no entries (delete "
                              "them first)")
        self.key_mask = mask

    @property
    def asymmetric(self) -> bool:
        return self._copies is not None

    def select(self, pipe: int) -> None:
        c = self.scope[pipe]
        if c != self._copy:
            self._use_copy(c)
        self.pipe = pipe

    def _use_copy(self, c: int) -> None:
        copies = self._copies
        assert copies is not None
        copies[self._copy] = {a: getattr(self, a) for a in _COPY_STATE}
        for a, v in copies[c].items():  # type: ignore[union-attr]
            setattr(self, a, v)
        copies[c] = None
        self._copy = c

    def copy_of(self, pipe: int) -> int:
        return self.scope[pipe]

    def select_copy(self, c: int) -> int:
        """Make copy `c` the attributes' (control-plane access); returns the copy they held before."""
        before = self._copy
        if c != before:
            self._use_copy(c)
        return before

    def copies(self) -> list[dict[tuple, Entry]]:
        """The entries of every copy, in copy order (one dict when symmetric)."""
        if self._copies is None:
            return [self.entries]
        return [self.entries if i == self._copy else c["entries"]  # type: ignore[index]
                for i, c in enumerate(self._copies)]

    def rebuild_all(self) -> None:
        """The lookup structures of every copy of the entries rebuilt (after a batch that deferred them)."""
        if self._copies is None:
            self._rebuild()
            return
        for c in range(len(self._copies)):
            before = self.select_copy(c)
            self._rebuild()
            self.select_copy(before)

    def set_scope(self, scope: tuple[int, ...]) -> None:
        """EntryScope: `scope[pipe]` is the copy of the entries that pipe uses (copies numbered from 0 in order of
        first use). Only an empty table changes scope; each new copy starts with the table's default action."""
        if any(self.copies()):
            raise ConfigError(f"table {self.name}: the entry scope changes only while the table has no entries")
        if len(scope) != self.num_pipes or sorted(set(scope)) != list(range(max(scope) + 1)):
            raise ConfigError(f"table {self.name}: scope {scope} does not give each of {self.num_pipes} pipes a copy")
        if self._copies is not None:
            self._use_copy(0)
        n = max(scope) + 1
        self._copies = None
        if n > 1:
            copies: list[dict[str, Any] | None] = [None]
            keep = {a: getattr(self, a) for a in _COPY_STATE}
            for _ in range(1, n):
                d = self.default
                fresh = Entry(d.action, d.args, False)
                self.entries, self._exact, self._ordered, self._prefix_tables = {}, {}, [], []
                self._groups, self._proxy, self.default, self.cur = [], {}, fresh, fresh
                self._rebuild()
                copies.append({a: getattr(self, a) for a in _COPY_STATE})
            for a, v in keep.items():
                setattr(self, a, v)
            self._copies = copies
        self.scope, self._copy = scope, 0
        self.select(self.pipe)

    # -- proxy hash tables (`proxy_hash =`): the data plane stores and compares the hash of the key, not the key
    def set_proxy(self, algo: str | CrcParams, width: int) -> None:
        self.proxy = (algo, width, sum(k.width for k in self.keys))
        self._rebuild()

    def proxy_hash(self, key: tuple) -> int:
        algo, width, nbits = self.proxy  # type: ignore[misc]
        value = 0
        for k, x in zip(self.keys, key, strict=True):
            value = (value << k.width) | x
        return hash_value(algo, value, nbits, width)

    def lookup_proxy(self, key: tuple) -> Entry:
        """Any entry whose key hashes like the packet's matches it (the false positive the SDE documents)."""
        return self._proxy.get(self.proxy_hash(key), self.default)

    def _add(self, key: tuple, entry: Entry) -> None:
        if self.proxy is not None:
            h = self.proxy_hash(key)
            if h in self._proxy:
                raise EntryExists(f"table {self.name}: proxy hash {h:#x} of this key is the one of entry "
                                  f"{self._proxy[h].key} (the table cannot tell them apart)")
            self._proxy[h] = entry
        self.entries[key] = entry
        if self.all_exact:
            self._exact[key] = entry
            return
        self._rebuild()

    def _rebuild(self) -> None:
        self._memo = {}
        if self.proxy is not None:
            self._proxy = {self.proxy_hash(k): e for k, e in self.entries.items()}
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


# ---------------------------------------------------------------- action profiles and selectors


def _no_action(*_args: object) -> None:
    return None


class ActionProfile:
    """TNA ActionProfile: members ($ACTION_MEMBER_ID -> an action and its data) that the entries of its
    tables point at. A member's change shows in every entry that runs it."""

    def __init__(self, name: str, size: int, actions: list[ActionInfo]) -> None:
        self.name = name
        self.size = size
        self.actions = {a.name: a for a in actions}
        self.members: dict[int, Entry] = {}
        self.tables: list[Table] = []
        self.selectors: list[ActionSelector] = []

    def _entry(self, action_name: str, data: dict[str, int] | tuple) -> Entry:
        action = self.actions.get(action_name)
        if action is None:
            raise ConfigError(f"action profile {self.name}: unknown action {action_name}")
        probe = Table(self.name, [], [action], Entry(action, (), False), 1)
        e = probe.make_entry(action_name, data)
        return e

    def add_member(self, mid: int, action_name: str, data: dict[str, int] | tuple) -> Entry:
        if mid in self.members:
            raise EntryExists(f"action profile {self.name}: member {mid} exists")
        if len(self.members) >= self.size:
            raise TableFull(f"action profile {self.name} is full ({self.size} members)")
        e = self.members[mid] = self._entry(action_name, data)
        return e

    def modify_member(self, mid: int, action_name: str, data: dict[str, int] | tuple) -> None:
        old = self.members.get(mid)
        if old is None:
            raise EntryNotFound(f"action profile {self.name}: no member {mid}")
        new = self._entry(action_name, data)
        self.set_member(mid, (new.action, new.fn, new.args))

    def set_member(self, mid: int, state: tuple) -> None:
        """Replace member `mid`'s (action, fn, args) in place, in the member and in every entry running it."""
        m = self.members[mid]
        m.action, m.fn, m.args = state
        for t in self.tables:
            for e in t.entries.values():
                if e.member == mid:
                    e.action, e.fn, e.args = state
            if t.default.member == mid:
                t.default.action, t.default.fn, t.default.args = state

    def users(self, mid: int) -> str | None:
        """What still points at member `mid` (the SDE refuses to delete a member in use), or None."""
        for t in self.tables:
            if any(e.member == mid for e in t.entries.values()) or t.default.member == mid:
                return f"an entry of {t.name}"
        for s in self.selectors:
            for gid, g in s.groups.items():
                if mid in g.members:
                    return f"group {gid} of {s.name}"
        return None

    def delete_member(self, mid: int) -> Entry:
        if mid not in self.members:
            raise EntryNotFound(f"action profile {self.name}: no member {mid}")
        user = self.users(mid)
        if user is not None:
            raise ConfigError(f"action profile {self.name}: member {mid} is used by {user}")
        return self.members.pop(mid)

    def entry_for(self, mid: int) -> Entry:
        """A match entry that runs member `mid`."""
        m = self.members.get(mid)
        if m is None:
            raise EntryNotFound(f"action profile {self.name}: no member {mid}")
        e = Entry(m.action, m.args, hit=True)
        e.member = mid
        return e


class SelectorGroup:
    """One $SELECTOR_GROUP_ID: its members in order, each with its $ACTION_MEMBER_STATUS."""

    __slots__ = ("active", "max_size", "members", "profile", "status")

    def __init__(self, profile: ActionProfile, max_size: int) -> None:
        self.profile = profile
        self.max_size = max_size
        self.members: list[int] = []
        self.status: list[bool] = []
        self.active: list[Entry] = []

    def set(self, members: list[int], status: list[bool]) -> None:
        if len(members) > self.max_size:
            raise ConfigError(f"selector group has {len(members)} members, more than its $MAX_GROUP_SIZE "
                              f"{self.max_size}")
        # a member listed n times has n times the weight (the SDE's weighted groups, tna_action_selector)
        for mid in members:
            if mid not in self.profile.members:
                raise EntryNotFound(f"action profile {self.profile.name}: no member {mid}")
        self.members, self.status = list(members), list(status)
        self.refresh()

    def refresh(self) -> None:
        self.active = [self.profile.members[m] for m, on in zip(self.members, self.status, strict=True) if on]

    def pick(self, h: int) -> Entry | None:
        """The member the selector's hash `h` chooses among the active ones (None: no active member)."""
        act = self.active
        return act[h % len(act)] if act else None


class ActionSelector:
    """TNA ActionSelector: groups of its profile's members; an entry pointing at a group runs the member
    picked by the hash of the table's `selector` keys."""

    def __init__(self, name: str, profile: ActionProfile, num_groups: int, max_group_size: int) -> None:
        self.name = name
        self.profile = profile
        self.num_groups = num_groups
        self.max_group_size = max_group_size
        self.groups: dict[int, SelectorGroup] = {}
        self.tables: list[Table] = []
        profile.selectors.append(self)

    def write_group(self, gid: int, members: list[int], status: list[bool] | None, max_size: int | None,
                    mode: str) -> SelectorGroup:
        """INSERT / MODIFY / INSERT_OR_MODIFY of a group (status defaults to all active)."""
        g = self.groups.get(gid)
        if mode == "INSERT" and g is not None:
            raise EntryExists(f"selector {self.name}: group {gid} exists")
        if mode == "MODIFY" and g is None:
            raise EntryNotFound(f"selector {self.name}: no group {gid}")
        if status is None:
            status = [True] * len(members)
        if len(status) != len(members):
            raise ConfigError(f"selector {self.name}: {len(members)} member ids but {len(status)} member statuses")
        if g is None:
            if len(self.groups) >= self.num_groups:
                raise TableFull(f"selector {self.name} is full ({self.num_groups} groups)")
            size = self.max_group_size if max_size is None else max_size
            if not 0 < size <= self.max_group_size:
                raise ConfigError(f"selector {self.name}: $MAX_GROUP_SIZE {size} is not in 1..{self.max_group_size}")
            new = SelectorGroup(self.profile, size)
            new.set(members, status)
            self.groups[gid] = new
            return new
        if max_size is not None and max_size != g.max_size:
            raise ConfigError(f"selector {self.name}: $MAX_GROUP_SIZE of group {gid} cannot change "
                              f"({g.max_size})")
        g.set(members, status)
        return g

    def delete_group(self, gid: int) -> SelectorGroup:
        g = self.groups.get(gid)
        if g is None:
            raise EntryNotFound(f"selector {self.name}: no group {gid}")
        for t in self.tables:
            if any(e.group is g for e in t.entries.values()) or t.default.group is g:
                raise ConfigError(f"selector {self.name}: group {gid} is used by an entry of {t.name}")
        return self.groups.pop(gid)

    def entry_for(self, gid: int) -> Entry:
        g = self.groups.get(gid)
        if g is None:
            raise EntryNotFound(f"selector {self.name}: no group {gid}")
        e = Entry(ActionInfo("$SELECTOR_GROUP", _no_action, []), (), hit=True)
        e.group = g
        return e


# ---------------------------------------------------------------- meters

METER_UNSET = (1 << 64) - 1  # bf-rt.json's default for every $METER_SPEC_* field
GREEN, YELLOW, RED = 0, 1, 3  # MeterColor_t


class MeterState:
    """One meter cell: a two-rate three-colour marker (RFC 2698 trTCM), on Tofino's clock (the packet's
    timestamp, ns). Rates and bursts in bytes (or packets) per ns and bytes (packets): the BF Runtime spec
    $METER_SPEC_CIR_KBPS/PIR_KBPS (kbit/s) and CBS_KBITS/PBS_KBITS (kbit) for BYTES meters, CIR_PPS/PIR_PPS and
    CBS_PKTS/PBS_PKTS for PACKETS meters. Both buckets start full."""

    __slots__ = ("cbs", "cir", "last", "pbs", "pir", "spec", "tc", "tp")

    def __init__(self, spec: tuple[int, int, int, int] = (METER_UNSET,) * 4, packets: bool = False) -> None:
        self.set_spec(spec, packets)

    def set_spec(self, spec: tuple[int, int, int, int], packets: bool) -> None:
        cir, pir, cbs, pbs = spec
        self.spec = spec
        if packets:
            self.cir, self.pir, self.cbs, self.pbs = cir / 1e9, pir / 1e9, float(cbs), float(pbs)
        else:  # kbit/s -> bytes/ns, kbit -> bytes
            self.cir, self.pir, self.cbs, self.pbs = cir / 8e6, pir / 8e6, cbs * 125.0, pbs * 125.0
        self.tc, self.tp = self.cbs, self.pbs
        self.last: int | None = None

    def color(self, now: int, n: float, pre: int = GREEN) -> int:
        """RFC 2698 section 3: colour-blind when `pre` is GREEN, else colour-aware."""
        last = self.last
        if last is not None and now > last:
            dt = now - last
            tc = self.tc + self.cir * dt
            tp = self.tp + self.pir * dt
            self.tc = tc if tc < self.cbs else self.cbs
            self.tp = tp if tp < self.pbs else self.pbs
        if last is None or now > last:
            self.last = now
        if pre == RED or self.tp < n:
            return RED
        if pre == YELLOW or self.tc < n:
            self.tp -= n
            return YELLOW
        self.tp -= n
        self.tc -= n
        return GREEN


class PipeCells:
    """`size` cells kept once per pipe (a PipeState); `cells` is the selected pipe's, which execute() uses."""

    size: int

    def _init_cells(self) -> None:
        self.num_pipes = 1
        self.pipe = 0
        self.pipes: list[list[Any]] = []  # each pipe's cells
        self.cells: list[Any] = []
        self.reset()

    def new_cell(self) -> Any:
        raise NotImplementedError

    def reset(self) -> None:
        self.pipes = [[self.new_cell() for _ in range(self.size)] for _ in range(self.num_pipes)]
        self.cells = self.pipes[self.pipe]

    def set_num_pipes(self, n: int) -> None:
        self.num_pipes, self.pipe = n, 0
        self.reset()

    def select(self, pipe: int) -> None:
        self.cells = self.pipes[pipe]
        self.pipe = pipe


class MeterArray(PipeCells):
    """TNA Meter: `size` cells, each a MeterState; execute() returns the colour as the program declared it."""

    def __init__(self, name: str, size: int, unit: str, colors: dict[int, int]) -> None:
        self.name = name
        self.size = size
        self.unit = unit  # BYTES | PACKETS
        self.packets = unit == "PACKETS"
        self.colors = colors
        self._init_cells()
        self.adjusts = [0]  # the MeterByteCountAdjust table attribute per pipe: bytes added to each packet's length

    def set_num_pipes(self, n: int) -> None:
        super().set_num_pipes(n)
        self.adjusts = [0] * n

    def new_cell(self) -> MeterState:
        return MeterState(packets=self.packets)

    def execute(self, index: int, nbytes: int, now: int, pre: int = GREEN) -> int:
        cell = self.cells[index % self.size]
        return self.colors[cell.color(now, 1 if self.packets else max(0, nbytes + self.adjusts[self.pipe]), pre)]


class DirectMeter:
    """TNA DirectMeter: one MeterState per entry of its table (Entry.meter), run on the entry just looked up."""

    def __init__(self, unit: str, colors: dict[int, int]) -> None:
        self.unit = unit
        self.packets = unit == "PACKETS"
        self.colors = colors
        self.table: Table | None = None
        self.num_pipes = 1
        self.pipe = 0  # the selected pipe: each pipe has its own bucket per entry

    def set_num_pipes(self, n: int) -> None:
        self.num_pipes, self.pipe = n, 0

    def select(self, pipe: int) -> None:
        self.pipe = pipe

    def reset(self) -> None:
        pass  # the cells live in the table's entries

    def execute(self, nbytes: int, now: int, pre: int = GREEN) -> int:
        e = self.table.cur  # type: ignore[union-attr]
        m = e.meter
        if m is None:
            return self.colors[GREEN if pre == GREEN else pre]  # no spec written: unlimited rates
        adjust = self.table.meter_adjusts[self.pipe]  # type: ignore[union-attr]
        return self.colors[m[self.pipe].color(now, 1 if self.packets else max(0, nbytes + adjust), pre)]


PARSERS_PER_PIPE = 18  # Tofino 1: one parser per group of 4 ports (tna_pktgen: port 68 is parser 17's)

VsKey = tuple[tuple[int, ...], tuple[int, ...]]  # (masked values, masks)


class ValueSet:
    """A parser value set (`value_set<T>(size)`): entries of (value, mask) per field, written through BF Runtime;
    a select matches it when some entry matches every field.

    EntryScope (ingress value sets): a pipe scope and a parser scope, as `scope[pipe]` / `scope[parser]` = the
    copy of the entries it uses; `entries` is the copy of the packet's (pipe, parser), chosen by `select_port`
    before the parser runs (Pipeline.ingress), and of the write's target on the control plane."""

    def __init__(self, name: str, fields: list[tuple[str, int]], size: int) -> None:
        self.name = name
        self.fields = fields
        self.size = size
        self.gress = "ingress"
        self.entries: dict[VsKey, None] = {}
        self.pipe_scope: tuple[int, ...] | None = None  # None: one copy for every pipe (ALL)
        self.prsr_scope: tuple[int, ...] | None = None  # None: one copy for every parser (ALL)
        self.copies: dict[tuple[int, int], dict[VsKey, None]] = {(0, 0): self.entries}

    @property
    def scoped(self) -> bool:
        return self.pipe_scope is not None or self.prsr_scope is not None

    def copy_key(self, pipe: int, parser: int) -> tuple[int, int]:
        return (0 if self.pipe_scope is None else self.pipe_scope[pipe],
                0 if self.prsr_scope is None else self.prsr_scope[parser])

    def select(self, key: tuple[int, int]) -> None:
        self.entries = self.copies.setdefault(key, {})

    def select_port(self, port: int) -> None:
        self.select(self.copy_key((port & 0x1FF) >> 7, (port & 0x7F) >> 2))

    def all_entries(self) -> list[VsKey]:
        return [k for c in self.copies.values() for k in c]

    def set_scope(self, pipe_scope: tuple[int, ...] | None, prsr_scope: tuple[int, ...] | None) -> None:
        if self.all_entries():
            raise ConfigError(f"value set {self.name}: the entry scope changes only while it has no entries")
        self.pipe_scope, self.prsr_scope = pipe_scope, prsr_scope
        self.copies = {}
        self.select((0, 0))

    def clear(self) -> None:
        for c in self.copies.values():
            c.clear()

    def match(self, keys: tuple[int, ...]) -> bool:
        for values, masks in self.entries:
            if all(k & m == v for k, v, m in zip(keys, values, masks, strict=True)):
                return True
        return False


# ---------------------------------------------------------------- low-pass filters and WRED

LPF_UNSET = ("SAMPLE", 0.0, 0.0, 0)  # an LPF cell nobody configured (the SDE reads it so): no filtering
WRED_UNSET = (0.0, 0xFF000000, 0xFF000000, 0.0)  # a WRED cell nobody configured, as the SDE reads it: never drops


class LpfState:
    """One low-pass filter cell on the packet clock (ns), after the SDE's LPF spec ($LPF_SPEC_*):
    SAMPLE: y += (x - y) * (1 - exp(-dt / tau)), tau the gain time constant while x >= y (rising) and the decay
    time constant while x < y; RATE: a leaky accumulator, y = y * exp(-dt / tau) + x (tau: gain, or decay when x
    is below y), whose steady state is the input's rate times tau per unit of time. The output is y shifted right
    by the out scale-down factor, saturated to the output width. The first sample starts from 0 with dt infinite
    (SAMPLE: y = x). Not bit-exact with Tofino's fixed-point filter."""

    __slots__ = ("decay", "gain", "last", "scale", "spec", "type", "y")

    def __init__(self, spec: tuple[str, float, float, int] = LPF_UNSET) -> None:
        self.set_spec(spec)

    def set_spec(self, spec: tuple[str, float, float, int]) -> None:
        self.spec = spec
        self.type, self.gain, self.decay, self.scale = spec
        self.y = 0.0
        self.last: int | None = None

    def run(self, x: int, now: int, width: int) -> int:
        last = self.last
        dt = math.inf if last is None else max(now - last, 0)
        self.last = now if last is None or now > last else last
        y = self.y
        tau = self.gain if x >= y else self.decay
        keep = math.exp(-dt / tau) if tau > 0 else 0.0
        y = self.y = x + (y - x) * keep if self.type == "SAMPLE" else y * keep + x
        out = int(y) >> self.scale
        top = (1 << width) - 1
        return out if out < top else top


class WredState:
    """One WRED cell ($WRED_SPEC_*): avg += (x - avg) * (1 - exp(-dt / tau)) on the packet clock; below the min
    threshold nothing is dropped, at or above the max threshold everything is, in between with probability
    max_probability * (avg - min) / (max - min) (Python's random). An unconfigured cell never drops. The
    average's fixed-point precision and Tofino's random source are not modelled."""

    __slots__ = ("avg", "last", "max_p", "max_t", "min_t", "spec", "tau")

    def __init__(self, spec: tuple[float, int, int, float] = WRED_UNSET) -> None:
        self.set_spec(spec)

    def set_spec(self, spec: tuple[float, int, int, float]) -> None:
        self.spec = spec
        self.tau, self.min_t, self.max_t, self.max_p = spec
        self.avg = 0.0
        self.last: int | None = None

    def drop(self, x: int, now: int, rng: random.Random) -> bool:
        if self.spec == WRED_UNSET:
            return False
        last = self.last
        dt = math.inf if last is None else max(now - last, 0)
        self.last = now if last is None or now > last else last
        keep = math.exp(-dt / self.tau) if self.tau > 0 else 0.0
        avg = self.avg = x + (self.avg - x) * keep
        if avg < self.min_t:
            return False
        if avg >= self.max_t:
            return True
        return rng.random() < self.max_p * (avg - self.min_t) / (self.max_t - self.min_t)


class LpfArray(PipeCells):
    """TNA Lpf<T, I>(size): `size` cells; execute(val, index) returns the filtered value (T's width)."""

    def __init__(self, name: str, size: int, width: int) -> None:
        self.name = name
        self.size = size
        self.width = width
        self._init_cells()

    def new_cell(self) -> LpfState:
        return LpfState()

    def execute(self, x: int, index: int, now: int) -> int:
        return self.cells[index % self.size].run(x, now, self.width)


class WredArray(PipeCells):
    """TNA Wred<T, I>(size, drop_value, no_drop_value): execute(val, index) returns drop_value or no_drop_value."""

    def __init__(self, name: str, size: int, drop_value: int, no_drop_value: int) -> None:
        self.name = name
        self.size = size
        self.drop_value, self.no_drop_value = drop_value, no_drop_value
        self.rng = random.Random(0)
        self._init_cells()

    def new_cell(self) -> WredState:
        return WredState()

    def execute(self, x: int, index: int, now: int) -> int:
        return self.drop_value if self.cells[index % self.size].drop(x, now, self.rng) else self.no_drop_value


class DirectFilter:
    """DirectLpf / DirectWred: the cell of the entry its table just matched (Entry.filt, written with the entry;
    an entry without a spec filters nothing / never drops)."""

    def __init__(self, kind: str, width: int, drop_value: int = 0, no_drop_value: int = 0) -> None:
        self.kind = kind  # Lpf | Wred
        self.width = width
        self.drop_value, self.no_drop_value = drop_value, no_drop_value
        self.rng = random.Random(0)
        self.table: Table | None = None
        self.num_pipes = 1
        self.pipe = 0  # the selected pipe: each pipe has its own filter state per entry

    def set_num_pipes(self, n: int) -> None:
        self.num_pipes, self.pipe = n, 0

    def select(self, pipe: int) -> None:
        self.pipe = pipe

    def reset(self) -> None:
        pass  # the cells live in the table's entries

    def execute(self, x: int, now: int) -> int:
        e = self.table.cur  # type: ignore[union-attr]
        cells = e.filt
        if self.kind == "Lpf":
            if cells is None:
                cells = e.filt = [LpfState() for _ in range(self.num_pipes)]
            return cells[self.pipe].run(x, now, self.width)
        if cells is None:
            return self.no_drop_value
        return self.drop_value if cells[self.pipe].drop(x, now, self.rng) else self.no_drop_value


# ---------------------------------------------------------------- stateful externs


class PipeState(Protocol):
    """An extern whose state Tofino keeps once per pipe. The pipeline selects the pipe of the port a gress
    runs for before the packet (only when it changes); the generated code then reads that pipe's state."""

    num_pipes: int
    pipe: int

    def set_num_pipes(self, n: int) -> None: ...
    def select(self, pipe: int) -> None: ...
    def reset(self) -> None: ...


@dataclass(slots=True)
class RegisterArray:
    """A Register: one array of cells per pipe (Tofino's stateful memories are per pipe). The generated code
    reads `values`, which `select(p)` points at pipe p's cells; a pipe's cells are made on first use, so an
    unused pipe costs nothing."""

    name: str  # control-plane name, e.g. "pipe.SwitchIngress.reg"
    size: int
    fields: list[tuple[str, int]]  # (name, width); one entry for bit<W> registers
    values: list = field(default_factory=list)  # the selected pipe's cells: ints (bit<W>) or struct objects
    factory: Callable[[], object] | None = None  # creates a struct value (None for bit<W>)
    initial: tuple = ()
    num_pipes: int = 1
    pipe: int = 0  # the selected pipe
    pipes: list = field(default_factory=list)  # per pipe: its cells, or None until the pipe is used

    def _fresh(self) -> list:
        if self.factory is None:
            return [self.initial[0] if self.initial else 0] * self.size
        out = []
        for _ in range(self.size):
            v = self.factory()
            for (fname, _), init in zip(self.fields, self.initial or (0,) * len(self.fields), strict=True):
                setattr(v, pyattr(fname), init)
            out.append(v)
        return out

    def reset(self) -> None:
        self.pipes = [None] * self.num_pipes
        self.values = self.cells(self.pipe)

    def set_num_pipes(self, n: int) -> None:
        self.num_pipes, self.pipe = n, 0
        self.reset()

    def cells(self, pipe: int) -> list:
        got = self.pipes[pipe]
        if got is None:
            got = self.pipes[pipe] = self._fresh()
        return got

    def select(self, pipe: int) -> None:
        self.values = self.cells(pipe)
        self.pipe = pipe

    def read(self, index: int, pipe: int = 0) -> tuple[int, ...]:
        """One pipe's cell (pipe 0 unless told)."""
        self._check(index)
        v = self.cells(pipe)[index]
        if self.factory is None:
            return (v,)
        return tuple(getattr(v, pyattr(f)) for f, _ in self.fields)

    def read_pipes(self, index: int) -> list[tuple[int, ...]]:
        """The cell in every pipe, in pipe order (what a BF Runtime read for all pipes returns)."""
        return [self.read(index, p) for p in range(self.num_pipes)]

    def write(self, index: int, data: tuple[int, ...], pipe: int | None = None) -> None:
        """Write one pipe's cell, or (pipe None) the cell in every pipe, as the SDE does for pipe_id 0xFFFF."""
        self._check(index)
        for (fname, width), x in zip(self.fields, data, strict=True):
            if not 0 <= x < (1 << width):
                raise ConfigError(f"register {self.name}: {fname}={x} does not fit in {width} bits")
        for p in range(self.num_pipes) if pipe is None else (pipe,):
            cells = self.cells(p)
            if self.factory is None:
                cells[index] = data[0]
            else:
                for (fname, _), x in zip(self.fields, data, strict=True):
                    setattr(cells[index], pyattr(fname), x)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise ConfigError(f"register {self.name}: index {index} out of range 0..{self.size - 1}")


class DirectRegister:
    """`DirectRegister<T>`: a cell per entry of its table (Entry.reg, made on first use or written with the entry)."""

    def __init__(self, name: str, fields: list[tuple[str, int]], initial: tuple) -> None:
        self.name = name
        self.fields = fields
        self.initial = initial or (0,) * len(fields)
        self.factory: Callable[[], object] | None = None  # the struct's class (None for bit<W>)
        self.table: Table | None = None
        self.num_pipes = 1
        self.pipe = 0  # the selected pipe: the generated code uses Entry.reg[pipe]

    def set_num_pipes(self, n: int) -> None:
        self.num_pipes, self.pipe = n, 0

    def select(self, pipe: int) -> None:
        self.pipe = pipe

    def reset(self) -> None:
        pass  # the cells live in the table's entries

    def new_cells(self) -> list:
        """An entry's cells, one per pipe (None: the initial value, made on first use)."""
        return [None] * self.num_pipes

    def fresh(self) -> object:
        if self.factory is None:
            return self.initial[0]
        v = self.factory()
        for (fname, _), init in zip(self.fields, self.initial, strict=True):
            setattr(v, pyattr(fname), init)
        return v

    def read(self, entry: Entry, pipe: int = 0) -> tuple[int, ...]:
        cells = entry.reg
        v = cells[pipe] if cells is not None and cells[pipe] is not None else self.fresh()  # type: ignore[index]
        if self.factory is None:
            return (v,)  # type: ignore[return-value]
        return tuple(getattr(v, pyattr(f)) for f, _ in self.fields)

    def write(self, entry: Entry, data: dict[str, int], pipe: int | None = None) -> None:
        """Fields by name (missing ones keep their value, or the initial one), in one pipe or (None) every pipe.
        The entry gets a new cell list and new struct objects, so an undo can put the old list back."""
        for fname, width in self.fields:
            if not 0 <= data.get(fname, 0) < (1 << width):
                raise ConfigError(f"register {self.name}: {fname}={data[fname]} does not fit in {width} bits")
        old = entry.reg
        cells = list(old) if old is not None else self.new_cells()  # type: ignore[call-overload]
        for p in range(self.num_pipes) if pipe is None else (pipe,):
            if self.factory is None:
                cells[p] = data.get(self.fields[0][0], self.read(entry, p)[0])
                continue
            v = self.fresh()
            for (fname, _), x in zip(self.fields, self.read(entry, p), strict=True):
                setattr(v, pyattr(fname), data.get(fname, x))
            cells[p] = v
        entry.reg = cells


class RegisterParam:
    """`RegisterParam<bit<W>>(initial)`: one run-time value RegisterActions read (BF Runtime table `value`)."""

    def __init__(self, name: str, width: int, initial: int, registers: list[str]) -> None:
        self.name = name
        self.width = width
        self.initial = initial
        self.value = initial
        self.registers = registers  # the registers whose RegisterActions read it (bf-rt.json depends_on)


@dataclass(slots=True)
class CounterArray:
    """A Counter: packet and byte counts per pipe; `pkts`/`bytes` are the selected pipe's (see RegisterArray)."""

    name: str
    size: int
    kind: str  # PACKETS | BYTES | PACKETS_AND_BYTES
    pkts: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    num_pipes: int = 1
    pipe: int = 0
    pipes: list = field(default_factory=list)  # per pipe: (pkts, bytes), or None until the pipe is used
    # the software state (from_hw=False reads): the counts last written or synced (the Sync operation), per pipe
    shadow: list = field(default_factory=list)

    def reset(self) -> None:
        self.pipes = [None] * self.num_pipes
        self.shadow = [None] * self.num_pipes
        self.select(self.pipe)

    def shadow_cells(self, pipe: int) -> tuple[list[int], list[int]]:
        got = self.shadow[pipe]
        if got is None:
            got = self.shadow[pipe] = ([0] * self.size, [0] * self.size)
        return got

    def sync(self) -> None:
        """The Sync operation: the hardware counts become the software state."""
        self.shadow = [None if c is None else (list(c[0]), list(c[1])) for c in self.pipes]

    def set_num_pipes(self, n: int) -> None:
        self.num_pipes, self.pipe = n, 0
        self.reset()

    def cells(self, pipe: int) -> tuple[list[int], list[int]]:
        got = self.pipes[pipe]
        if got is None:
            got = self.pipes[pipe] = ([0] * self.size, [0] * self.size)
        return got

    def select(self, pipe: int) -> None:
        self.pkts, self.bytes = self.cells(pipe)
        self.pipe = pipe

    def read(self, index: int, pipe: int | None = None, from_hw: bool = True) -> tuple[int, int]:
        """(packets, bytes) of one pipe, or (None) summed over the pipes, as the SDE reads pipe_id 0xFFFF
        (pipe_mgr_stat_mgr_ent_query adds every pipe of the table's instance); from the hardware, or (from_hw
        false) the software state."""
        src = self.pipes if from_hw else self.shadow
        got = [src[p] for p in (range(self.num_pipes) if pipe is None else (pipe,))]
        return (sum(c[0][index] for c in got if c is not None), sum(c[1][index] for c in got if c is not None))

    def count(self, index: int, nbytes: int) -> None:
        index %= self.size
        self.pkts[index] += 1
        self.bytes[index] += nbytes


@dataclass(slots=True)
class DigestInfo:
    name: str  # e.g. "pipe.SwitchIngressDeparser.digest_a"
    fields: list[tuple[str, int]]


PORT_METADATA_BYTES = 8  # PORT_METADATA_SIZE (Tofino 1: 64 bits)


class PortMetadata:
    """`<ingress parser>.$PORT_METADATA`: the phase-0 bytes the ingress parser sees after the intrinsic metadata,
    per ingress port (all zero until written). `fields` is port_metadata_unpack's struct (name, width), MSB
    first; empty when the program does not unpack it (bf-rt.json then has the one `$DEFAULT_FIELD`)."""

    def __init__(self, name: str, fields: list[tuple[str, int]], read: bool = True) -> None:
        self.name = name
        self.fields = fields
        self.read = read  # False: the program only advances past the phase-0 bits (no bf-rt.json table)
        self.values: dict[int, bytes] = {}  # port -> PORT_METADATA_BYTES bytes; the generated driver reads it

    def write(self, port: int, fields: dict[str, int]) -> None:
        """`fields`: the struct's fields by name, or {"$DEFAULT_FIELD": the whole 64-bit value}."""
        if "$DEFAULT_FIELD" in fields:
            value = fields["$DEFAULT_FIELD"]
        else:
            value, pos = 0, PORT_METADATA_BYTES * 8
            for name, width in self.fields:
                pos -= width
                value |= (fields.get(name, 0) & ((1 << width) - 1)) << pos
        self.values[port] = (value & ((1 << (PORT_METADATA_BYTES * 8)) - 1)).to_bytes(PORT_METADATA_BYTES, "big")

    def get(self, port: int) -> dict[str, int]:
        value = int.from_bytes(self.values.get(port, bytes(PORT_METADATA_BYTES)), "big")
        if not self.fields:
            return {"$DEFAULT_FIELD": value}
        out, pos = {}, PORT_METADATA_BYTES * 8
        for name, width in self.fields:
            pos -= width
            out[name] = (value >> pos) & ((1 << width) - 1)
        return out


@dataclass(slots=True)
class MirrorSession:
    """One `$mirror.cfg` session (srchain_emu/mirror_cfg.py: which fields act on the copies, which are kept)."""

    egress_port: int
    max_pkt_len: int = 0  # 0: no truncation
    enabled: bool = True
    direction: str = "BOTH"  # $mirror.cfg $direction: INGRESS (I2E), EGRESS (E2E) or BOTH
    ucast_valid: bool = True  # $ucast_egress_port_valid: False sends no unicast copy (no port to send it to)
    mcast_grp_a: int = 0  # the PRE groups the copy is replicated to (when valid), with this RID and L1 exclusion
    mcast_grp_a_valid: bool = False
    mcast_grp_b: int = 0
    mcast_grp_b_valid: bool = False
    mcast_rid: int = 0
    mcast_l1_xid: int = 0
    mcast_l2_xid: int = 0  # kept: level-2 pruning needs $pre.prune, which is not served
    egress_port_queue: int = 0  # kept, no effect (no per-copy queue choice)
    ingress_cos: int = 0
    packet_color: str = "GREEN"
    level1_mcast_hash: int = 0
    level2_mcast_hash: int = 0
    icos_for_copy_to_cpu: int = 0
    copy_to_cpu: bool = False  # refused when true (no CPU copy path)


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


# A CRC as bf-utils' dynamic_hash models Tofino's (bfn_hash_algorithm.cpp): (width, poly without its top bit,
# reversed, msb, extend, init, final xor); reversed CRCs keep the register reflected and load `init` as it is.
CrcParams = tuple[int, int, bool, bool, bool, int, int]
# The standard HashAlgorithm_t CRCs as bf-p4c names them (mau/hash_function.cpp -> bf-utils standard_crc_algs)
STANDARD_CRCS: dict[str, CrcParams] = {
    "CRC8": (8, 0x07, False, False, False, 0, 0),  # crc_8
    "CRC64": (64, 0x42F0E1EBA9EA3693, False, False, False, 0, 0),  # crc_64 (CRC-64/ECMA-182)
}
_CRC_TABLES: dict[tuple[int, int, bool], list[int]] = {}


def _reflect(v: int, width: int) -> int:
    return int(f"{v:0{width}b}"[::-1], 2)


def crc_custom(params: CrcParams, data: bytes, out_width: int) -> int:
    """The CRC of `data` with `params`, cut or widened to `out_width` bits: the low bits (msb: the high bits) of a
    wider CRC; a narrower one repeated (extend) or zero-extended."""
    width, poly, rev, msb, extend, init, xorout = params
    mask = (1 << width) - 1
    key = (width, poly, rev)
    table = _CRC_TABLES.get(key)
    if table is None:
        table = []
        if rev:
            rpoly = _reflect(poly, width)
            for b in range(256):
                c = b
                for _ in range(8):
                    c = (c >> 1) ^ rpoly if c & 1 else c >> 1
                table.append(c)
        else:
            top = 1 << (width - 1)
            for b in range(256):
                c = b << (width - 8) if width >= 8 else b >> (8 - width)
                for _ in range(8 if width >= 8 else width):
                    c = ((c << 1) ^ poly) & mask if c & top else (c << 1) & mask
                table.append(c)
        _CRC_TABLES[key] = table
    crc = init & mask
    if rev:
        for b in data:
            crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    elif width >= 8:
        for b in data:
            crc = ((crc << 8) & mask) ^ table[((crc >> (width - 8)) ^ b) & 0xFF]
    else:  # narrower than a byte: bit by bit
        for b in data:
            for i in range(7, -1, -1):
                fb = ((crc >> (width - 1)) ^ (b >> i)) & 1
                crc = ((crc << 1) & mask) ^ (poly if fb else 0)
    crc ^= xorout & mask
    if out_width < width:
        return crc >> (width - out_width) if msb else crc & ((1 << out_width) - 1)
    if out_width > width and extend:
        rep = crc
        for _ in range(out_width // width):
            rep = (rep << width) | crc
        return rep & ((1 << out_width) - 1)
    return crc


_HASH_MEMO: dict[tuple[object, int, int, int], int] = {}


def hash_value(algo: str | CrcParams, value: int, nbits: int, out_width: int) -> int:
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
        if algo == "CRC16":
            h = crc16(data) & mask
        elif algo == "CRC32":
            h = binascii.crc32(data) & mask
        else:  # a CRCPolynomial's parameters, or CRC8 / CRC64
            h = crc_custom(STANDARD_CRCS[algo] if isinstance(algo, str) else algo, data, out_width)
    if len(_HASH_MEMO) >= MEMO_LIMIT:
        _HASH_MEMO.clear()
    _HASH_MEMO[key] = h
    return h


def hash_site(memo: dict[tuple, int], fields: tuple[int, ...], algo: str | CrcParams, shifts: tuple[int, ...],
              nbits: int, out_width: int, sym: tuple[tuple[int, int], ...] = ()) -> int:
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
    Tofino, SDE `tna_checksum.p4`) or get() (the running sum itself: the residual that a deparser's update()
    takes as one more term, as in the SDE's tna_checksum: subtracting the old address, port and checksum
    leaves the sum of the rest, and update({new address, port, residual}) is the new checksum)."""

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
        return self.total

    @staticmethod
    def update(value: int, nbits: int) -> int:
        return ~ones_complement_sum(value, nbits) & 0xFFFF
