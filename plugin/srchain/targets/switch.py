"""A P4 switch as an apply target: plan entries ⇄ BF Runtime table entries.

Plan values are IPv4/IPv6/MAC strings, ints, ternary `{"value","mask"}` and LPM `{"value","prefix_len"}`;
on the wire every value is an int (big-endian bytes). Ternary tables get `$MATCH_PRIORITY` 0 when the
plan gives none (report_session, report encap: their entries never overlap). A batch is one
WriteRequest with ROLLBACK_ON_ERROR: the switch applies all of it or nothing.

The SDE's TM queue tables (srchain.plan.tm) are fixed: every row exists, MODIFY is the only write, and a
row is addressed within one pipe (the request's target pipe_id, the plan key's `pipe`). So a TM entry is
"present" when its row differs from the SDE's defaults; adding or changing one is a MODIFY of the whole
row, removing one a MODIFY back to the defaults; their updates go in requests of their own, one per pipe.
"""

from __future__ import annotations

import ipaddress
import re

import grpc

from srchain.bfrt.client import PIPE_ALL, BfrtClient, BfrtError, WireData, WireKey, WireScalar, rpc_error_code
from srchain.bfrt.schema import TableInfo
from srchain.plan import tables as T
from srchain.plan import tm as TM
from srchain.plan.model import DiffOp, Entry, JsonValue, canonical
from srchain.targets.base import NKey, TargetError
from srchain.targets.loader import Bundle, ensure_program
from srchain_contracts.bfrt import bfruntime_pb2 as pb

COUNTER_PKTS = "$COUNTER_SPEC_PKTS"
COUNTER_FIELDS = frozenset({COUNTER_PKTS, "$COUNTER_SPEC_BYTES"})
# $mirror.cfg fields the planner never writes, at the values a new session has (bf_rt_mirror_tf1.json): a read
# answers every field, so these are left out of the snapshot unless someone set them
MIRROR_UNPLANNED_DEFAULTS: dict[str, WireScalar] = {
    "$egress_port_queue": 0, "$ingress_cos": 0, "$packet_color": "GREEN", "$level1_mcast_hash": 0,
    "$level2_mcast_hash": 0, "$mcast_grp_a": 0, "$mcast_grp_a_valid": False, "$mcast_grp_b": 0,
    "$mcast_grp_b_valid": False, "$mcast_l1_xid": 0, "$mcast_l2_xid": 0, "$mcast_rid": 0,
    "$icos_for_copy_to_cpu": 0, "$copy_to_cpu": False,
}


def planned_fields(table: str, data: dict[str, object]) -> dict[str, object]:
    """A read entry's data as the plan states it: a $mirror.cfg session without the fields the planner never writes
    while they hold a new session's values."""
    if table != T.MIRROR_CFG:
        return data
    return {k: v for k, v in data.items() if k not in MIRROR_UNPLANNED_DEFAULTS or MIRROR_UNPLANNED_DEFAULTS[k] != v}
MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
UPDATE_RE = re.compile(r"update (\d+):")
UNSURE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN", "CANCELLED", "INTERNAL"})
_KIND = {"add": pb.Update.INSERT, "modify": pb.Update.MODIFY, "delete": pb.Update.DELETE}


def _dotted_quad(v: str) -> int | None:
    parts = v.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and (p == "0" or p[0] != "0") for p in parts):
        return None
    a, b, c, d = (int(p) for p in parts)
    return None if max(a, b, c, d) > 255 else (a << 24) | (b << 16) | (c << 8) | d


def scalar(v: JsonValue) -> WireScalar:
    """A plan value as written on the wire: IPv4, IPv6 (an SRv6 SID, a locator) and MAC strings become ints;
    bools/other strings stay."""
    if isinstance(v, (bool, int)):
        return v
    if isinstance(v, str):
        if len(v) == 17 and MAC_RE.match(v):
            return int(v.replace(":", ""), 16)
        quad = _dotted_quad(v)  # the common case without ipaddress' slower parser
        if quad is not None:
            return quad
        try:
            return int(ipaddress.ip_address(v))
        except ValueError:
            return v
    raise ValueError(f"unsupported value {v!r}")


def data_value(v: JsonValue) -> WireData:
    """A plan data value on the wire: a scalar, or an int/bool array (`$pre.*` fields)."""
    if isinstance(v, list):
        if all(isinstance(x, bool) for x in v) and v:
            return [bool(x) for x in v]
        items = [scalar(x) for x in v]
        if not all(type(x) is int for x in items):
            raise ValueError(f"unsupported array {v!r}: numbers or bools only")
        return [int(x) for x in items]
    return scalar(v)


class SwitchDriver:
    kind = "switch"

    def __init__(self, name: str, client: BfrtClient, program: str, bundle: Bundle | None = None) -> None:
        self.name = name
        self.client = client
        self.program = program
        self.bundle = bundle
        self._key_widths: dict[str, dict[str, int]] = {}  # table -> key field widths (schema of the bound program)

    # ------------------------------------------------------------ session
    def prepare(self, load: bool = True) -> list[str]:
        self._key_widths.clear()
        try:
            done = ensure_program(self.client, self.program, self.bundle if load else None)
        except BfrtError as exc:
            raise TargetError(f"switch {self.name}", f"program {self.program}: {exc}", code=exc.code) from None
        return [] if done in ("bound", "already loaded") else [f"switch {self.name}: {done} program {self.program}"]

    def close(self) -> None:
        self.client.close()

    def _table(self, table: str) -> TableInfo:
        try:
            return self.client.table(table)
        except BfrtError as exc:
            raise TargetError(f"switch {self.name}", f"table {table}: {exc}", code="NOT_FOUND") from None

    # ------------------------------------------------------------ plan entry -> wire form
    def _widths(self, table: str) -> dict[str, int]:
        widths = self._key_widths.get(table)
        if widths is None:
            t = self._table(table)
            widths = self._key_widths[table] = {k.name: k.width for k in t.keys}
        return widths

    def _number(self, entry: Entry, field: str, v: JsonValue) -> int:
        n = scalar(v)
        if isinstance(n, str):
            raise TargetError(f"switch {self.name}", f"table {entry.table}: key field {field}: {v!r} is not a number, "
                              "an IPv4, an IPv6 or a MAC address", code="INVALID_ARGUMENT")
        return int(n)

    def wire_key(self, entry: Entry) -> dict[str, WireKey]:
        widths = self._widths(entry.table)
        out: dict[str, WireKey] = {}
        for name, v in entry.key.items():
            if not isinstance(v, dict):
                out[name] = self._number(entry, name, v)
            elif "mask" in v:  # ternary
                mask = self._number(entry, name, v["mask"])
                out[name] = (self._number(entry, name, v["value"]) & mask, mask)
            else:  # lpm
                plen, width = v["prefix_len"], widths.get(name, 32)
                mask = ((1 << plen) - 1) << (width - plen) if plen else 0
                out[name] = (self._number(entry, name, v["value"]) & mask, plen)
        if "$MATCH_PRIORITY" in widths and "$MATCH_PRIORITY" not in out:
            out["$MATCH_PRIORITY"] = 0
        return out

    def wire_data(self, entry: Entry) -> tuple[str | None, dict[str, WireData]]:
        t = self._table(entry.table)
        action: str | None = None  # a table without actions ($pre.*): data only
        if entry.action:
            try:
                action = t.action(entry.action).name
            except BfrtError as exc:
                raise TargetError(f"switch {self.name}", f"table {entry.table}: action {exc}",
                                  code="NOT_FOUND") from None
        try:
            return action, {k: data_value(v) for k, v in entry.params.items()}
        except ValueError as exc:
            raise TargetError(f"switch {self.name}", f"table {entry.table}: {exc}", code="INVALID_ARGUMENT") from None

    def norm(self, entry: Entry) -> tuple[NKey, str]:
        if entry.table in TM.TABLES:
            return self._tm_norm(entry)
        action, data = self.wire_data(entry)
        return (entry.table, canonical(sorted(self.wire_key(entry).items()))), canonical([action, data])

    # ------------------------------------------------------------ TM fixed tables
    @staticmethod
    def _tm_row(entry: Entry) -> dict[str, JsonValue]:
        return {**TM.DEFAULTS[entry.table], **entry.params}

    def _tm_norm(self, entry: Entry) -> tuple[NKey, str]:
        return (entry.table, canonical(sorted(entry.key.items()))), canonical(["", self._tm_row(entry)])

    @staticmethod
    def _tm_pipe(op: DiffOp) -> int | None:
        """The pipe a TM operation's request targets (None: not a TM table, all pipes)."""
        if op.entry.table not in TM.TABLES:
            return None
        pipe = op.entry.key.get(TM.PIPE)
        if not isinstance(pipe, int):
            raise TargetError("switch", f"table {op.entry.table}: key {canonical(op.entry.key)} has no {TM.PIPE}",
                              code="INVALID_ARGUMENT")
        return pipe

    def _tm_update(self, op: DiffOp) -> pb.Update:
        e = op.entry
        row = TM.DEFAULTS[e.table] if op.op == "delete" else self._tm_row(e)
        key: dict[str, WireKey] = {k: e.key_int(k) for k in e.key if k != TM.PIPE}
        data: dict[str, WireData] = {k: v for k, v in row.items() if isinstance(v, bool | int | str)}
        return self.client.make_update(pb.Update.MODIFY, e.table, key, None, data)

    def _tm_snapshot(self, table: str) -> dict[NKey, tuple[str, int | None]]:
        """Rows that differ from the SDE's defaults, in every pipe the switch has (a pipe it lacks answers
        INVALID_ARGUMENT, as the SDE's singlePipe_validate does)."""
        defaults = TM.DEFAULTS[table]
        out: dict[NKey, tuple[str, int | None]] = {}
        if table not in TM.PER_PIPE:  # keyed by the device port: one read has every pipe's ports
            try:
                rows = self.client.entries(table)
            except BfrtError as exc:
                raise TargetError(f"switch {self.name}", f"table {table}: read failed: {exc}", code=exc.code) from None
            for e in rows:
                row = {k: e.data.get(k) for k in defaults}
                port = e.key.get("dev_port")
                if row != defaults and isinstance(port, int):
                    out[(table, canonical(sorted(TM.port_key(port).items())))] = (canonical(["", row]), None)
            return out
        for pipe in range(TM.PIPES):
            try:
                rows = self.client.entries(table, pipe=pipe)
            except BfrtError as exc:
                if pipe > 0 and exc.code == "INVALID_ARGUMENT":
                    break
                raise TargetError(f"switch {self.name}", f"table {table} pipe {pipe}: read failed: {exc}",
                                  code=exc.code) from None
            for e in rows:
                row = {k: e.data.get(k) for k in defaults}
                if row == defaults:
                    continue
                key = {TM.PIPE: pipe, **{k: v for k, v in e.key.items() if isinstance(v, int)}}
                out[(table, canonical(sorted(key.items())))] = (canonical(["", row]), None)
        return out

    # ------------------------------------------------------------ reads
    def snapshot(self, tables: set[str]) -> dict[NKey, tuple[str, int | None]]:
        out: dict[NKey, tuple[str, int | None]] = {}
        for table in sorted(tables):
            if table in TM.TABLES:
                out.update(self._tm_snapshot(table))
                continue
            try:
                rows = self.client.entries(table)
            except BfrtError as exc:
                raise TargetError(f"switch {self.name}", f"table {table}: read failed: {exc}", code=exc.code) from None
            for e in rows:
                data = planned_fields(table, {k: v for k, v in e.data.items() if k not in COUNTER_FIELDS})
                pkts = e.data.get(COUNTER_PKTS)
                key = canonical(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in e.key.items()))
                out[(table, key)] = (canonical([e.action, data]), pkts if isinstance(pkts, int) else None)
        return out

    # ------------------------------------------------------------ writes
    def write(self, ops: list[DiffOp], chunk: int = 500, in_flight: int = 2) -> None:
        """Write `ops` as WriteRequests of `chunk` updates (each ROLLBACK_ON_ERROR), keeping up to
        `in_flight` requests outstanding so encoding the next chunk overlaps the switch applying this
        one. On failure, the index names the failed op; later chunks already sent may have landed
        (the engine reads back what landed before it rolls back)."""
        pending: list[tuple[int, grpc.Future[pb.WriteResponse]]] = []
        first_error: TargetError | None = None
        try:
            previous: tuple[str, str] | None = None
            for start, end, pipe in self._requests(ops, chunk):
                # Requests in flight together may be applied in either order (concurrent RPCs; the emulator's
                # server ran a later chunk first under load). Only chunks of one table and one kind, whose keys
                # are distinct, overlap; before anything else (PRE nodes before the groups naming them, adds
                # before modifies) the earlier requests must have landed.
                kind = (ops[start].entry.table, ops[start].op)
                if previous is not None and (previous != kind or (ops[end - 1].entry.table, ops[end - 1].op) != kind):
                    while pending and first_error is None:
                        first_error = self._wait(*pending.pop(0))
                    if first_error is not None:
                        break
                previous = (ops[end - 1].entry.table, ops[end - 1].op)
                updates = [self._encode(op) for op in ops[start:end]]
                pending.append((start, self.client.write_async(updates, pb.WriteRequest.ROLLBACK_ON_ERROR,
                                                               PIPE_ALL if pipe is None else pipe)))
                while len(pending) >= in_flight or (pending and end >= len(ops)):
                    error = self._wait(*pending.pop(0))  # always waited: `a or f()` would skip it and spin
                    first_error = first_error or error
                if first_error is not None:
                    break
        finally:
            for item in pending:
                error = self._wait(*item)
                first_error = first_error or error
        if first_error is not None:
            raise first_error

    def _requests(self, ops: list[DiffOp], chunk: int) -> list[tuple[int, int, int | None]]:
        """(start, end, pipe) of each WriteRequest: at most `chunk` updates, one target pipe each (TM rows)."""
        out: list[tuple[int, int, int | None]] = []
        for i, op in enumerate(ops):
            pipe = self._tm_pipe(op)
            if out and out[-1][2] == pipe and out[-1][1] == i and i - out[-1][0] < chunk:
                out[-1] = (out[-1][0], i + 1, pipe)
            else:
                out.append((i, i + 1, pipe))
        return out

    def _encode(self, op: DiffOp) -> pb.Update:
        if op.entry.table in TM.TABLES:
            return self._tm_update(op)
        if op.op == "delete":
            return self.client.make_update(_KIND["delete"], op.entry.table, self.wire_key(op.entry))
        action, data = self.wire_data(op.entry)
        return self.client.make_update(_KIND[op.op], op.entry.table, self.wire_key(op.entry), action, data)

    def _wait(self, start: int, future: grpc.Future[pb.WriteResponse]) -> TargetError | None:
        try:
            future.result()
            return None
        except grpc.RpcError as exc:
            code, details = rpc_error_code(exc), exc.details() or ""
            m = UPDATE_RE.search(details)
            index = start + int(m.group(1)) if m else None
            return TargetError(f"switch {self.name}", f"{code}: {details}", index, code, code in UNSURE)
