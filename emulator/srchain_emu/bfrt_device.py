"""The emulated device behind BF Runtime: loaded programs, their tables' state, and the packet path.

No gRPC or protobuf here: the servicer (bfrt_server.py) decodes requests into the plain values these
methods take, and maps DeviceError codes (named like gRPC status codes) back onto the wire. One lock covers
every table change and every packet batch, so the data plane never sees half a write.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .bfrt_schema import bfrt_info
from .bundle import load_binary
from .device_tables import DeviceTables
from .frontend.errors import P4Error
from .interp import runtime as R
from .interp.pipeline import MAX_PIPES, DigestMessage, Emitted, Pipeline, ToTM, check_num_pipes
from .interp.trace import Tracer
from .mirror_cfg import MIRROR_CFG, MIRROR_CFG_ID
from .pre import PRE_MGID, PRE_MGID_ID, PRE_NODE, PRE_NODE_ID, Pre

if TYPE_CHECKING:
    from .tm import Dequeued

Undo = Callable[[], None]


class DeviceError(Exception):
    """A refused request; `code` is the name of the gRPC status code the servicer answers with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class TableMap:
    """One bf-rt table resolved against the loaded pipeline: ids to names and back."""

    # match register counter meter profile selector mirror pre portmd regparam lpf wred pvs, dynhash_cfg
    # dynhash_algo dynhash_compute sel_member (dynhash_tables.py)
    kind: str
    name: str
    obj: object
    key_ids: dict[int, str] = field(default_factory=dict)
    action_ids: dict[int, str] = field(default_factory=dict)
    action_names: dict[str, int] = field(default_factory=dict)
    data_ids: dict[int, dict[int, str]] = field(default_factory=dict)  # action id -> field id -> name
    reg_fields: dict[int, str] = field(default_factory=dict)
    operations: frozenset[str] = frozenset()  # bf-rt.json's supported_operations: what a TableOperation may ask
    # EntryScope pipe scope of a register table (`pipe_scope[pipe]` = its scope; None: ALL, one for every pipe)
    pipe_scope: tuple[int, ...] | None = None
    scope_mode: tuple[str, int] = ("ALL", 0)
    # a value set's EntryScope as written: scope -> (ALL | SINGLE | USER, user-defined value, args)
    vs_scope: dict[str, tuple[str, int, int]] = field(default_factory=lambda: {
        "gress_scope": ("ALL", 0, 0), "pipe_scope": ("ALL", 0, 0), "prsr_scope": ("ALL", 0, 0)})


class Program:
    """A program pushed to the device: pipeline + the bf-rt.json served to clients + id maps."""

    def __init__(self, name: str, pipeline: Pipeline, bfrt_json: bytes, profiles: list[Any]) -> None:
        self.name = name
        self.pipeline = pipeline
        self.bfrt_json = bfrt_json
        self.profiles = profiles  # the servicer's pipeline profiles, served back as they came
        self.tables: dict[int, TableMap] = {}
        self.learn: dict[str, tuple[int, list[int]]] = {}
        info = json.loads(bfrt_json)
        for t in info.get("tables", []):
            self.tables[t["id"]] = self._resolve(t)
            self.tables[t["id"]].operations = frozenset(t.get("supported_operations", []))
        for lf in info.get("learn_filters", []):
            if lf["name"] not in pipeline.digest_infos:
                raise DeviceError("INVALID_ARGUMENT", f"learn filter {lf['name']} is not in the program")
            self.learn[lf["name"]] = (lf["id"], [f["id"] for f in lf["fields"]])
        self.tables[MIRROR_CFG_ID] = TableMap("mirror", MIRROR_CFG, None)
        # The PRE's state belongs to the program, as the SDE keeps it in the program's device state
        # (bf_rt_pre_table_impl.cpp: bfRtDeviceStateGet(dev_id, prog_name)->preState); a push starts it empty.
        self.pre = Pre(pipeline.mcast_groups)
        self.tables[PRE_MGID_ID] = TableMap("pre", PRE_MGID, self.pre)
        self.tables[PRE_NODE_ID] = TableMap("pre", PRE_NODE, self.pre)

    def _resolve(self, t: dict[str, object]) -> TableMap:
        p = self.pipeline
        name: str = t["name"]  # type: ignore[assignment]
        ttype = t.get("table_type")
        if ttype in ("MatchAction_Direct", "MatchAction_Indirect", "MatchAction_Indirect_Selector") \
                and name in p.tables:
            m = TableMap("match", name, p.tables[name])
            m.key_ids = {k["id"]: k["name"] for k in t["key"]}  # type: ignore[attr-defined]
            for d in t.get("data", []):  # type: ignore[attr-defined]
                s = d.get("singleton", {})
                if any(a.get("value") == "register_data" for a in s.get("annotations", [])):
                    m.reg_fields[s["id"]] = s["name"].rsplit(".", 1)[-1]
            for a in t.get("action_specs", []):  # type: ignore[attr-defined]
                m.action_ids[a["id"]] = a["name"]
                m.action_names[a["name"]] = a["id"]
                m.data_ids[a["id"]] = {d["id"]: d["name"] for d in a.get("data", [])}
            return m
        if ttype == "Register" and name in p.registers:
            m = TableMap("register", name, p.registers[name])
            for d in t.get("data", []):  # type: ignore[attr-defined]
                s = d["singleton"]
                m.reg_fields[s["id"]] = s["name"].rsplit(".", 1)[-1]
            return m
        if ttype == "Counter" and name in p.counters:
            return TableMap("counter", name, p.counters[name])
        if ttype == "Meter" and name in p.meters:
            return TableMap("meter", name, p.meters[name])
        if ttype == "Selector" and name in p.selectors:
            return TableMap("selector", name, p.selectors[name])
        if ttype == "ParserValueSet" and name in p.value_sets:
            return TableMap("pvs", name, p.value_sets[name])
        if ttype == "Lpf" and name in p.lpfs:
            return TableMap("lpf", name, p.lpfs[name])
        if ttype == "Wred" and name in p.wreds:
            return TableMap("wred", name, p.wreds[name])
        if ttype == "RegisterParam" and name in p.reg_params:
            return TableMap("regparam", name, p.reg_params[name])
        if ttype == "PortMetadata" and name == p.port_metadata.name:
            m = TableMap("portmd", name, p.port_metadata)
            m.reg_fields = {d["singleton"]["id"]: d["singleton"]["name"] for d in t.get("data", [])}  # type: ignore[attr-defined]
            return m
        dyn = {"DynHashConfigure": ("dynhash_cfg", ".configure"), "DynHashAlgorithm": ("dynhash_algo", ".algorithm"),
               "DynHashCompute": ("dynhash_compute", ".compute")}.get(str(ttype))
        if dyn is not None and name.endswith(dyn[1]) and name[:-len(dyn[1])] in p.dyn_hashes:
            return TableMap(dyn[0], name, p.dyn_hashes[name[:-len(dyn[1])]])
        if ttype == "SelectorGetMember" and name.endswith("_get_member") and name[:-11] in p.selectors:
            return TableMap("sel_member", name, p.selectors[name[:-11]])
        if ttype == "Action" and name in p.profiles:
            m = TableMap("profile", name, p.profiles[name])
            for a in t.get("action_specs", []):  # type: ignore[attr-defined]
                m.action_ids[a["id"]] = a["name"]
                m.action_names[a["name"]] = a["id"]
                m.data_ids[a["id"]] = {d["id"]: d["name"] for d in a.get("data", [])}
            return m
        raise DeviceError("INVALID_ARGUMENT", f"bf-rt.json table {name} ({ttype}) is not in the program")


class Device:
    """Programs, fixed device tables and the data-plane hooks of one emulated Tofino."""

    def __init__(self, num_pipes: int = MAX_PIPES) -> None:
        self.num_pipes = check_num_pipes(num_pipes)  # every program runs on all of them (pipe_scope 0..n-1)
        self.lock = threading.RLock()  # guards programs and all pipeline state (shared with the data plane)
        self.egress_mirrored: list[ToTM] = []  # E2E copies from egress_many, for the switch loop to queue
        self.programs: dict[str, Program] = {}
        self.tables = DeviceTables(self.num_pipes)  # $PORT, tf1.tm.*, tf1.pktgen.*: outlive program pushes
        # Called under the lock with each batch of digests a packet path produced (the servicer sends them).
        self.on_digests: Callable[[Program, list[DigestMessage]], None] = lambda prog, msgs: None
        self.tracer: Tracer | None = None  # `srchain switch run --trace`: programs pushed later are traced too

    # ------------------------------------------------------------ programs
    def load(self, name: str, binary: bytes, bfrt_json: bytes | None, profiles: list[Any]) -> Program:
        """A program from its binary, checked but not installed."""
        try:
            pipeline = load_binary(binary, name, self.tracer, self.num_pipes)
        except P4Error as exc:
            raise DeviceError("INVALID_ARGUMENT", f"program {name}: {exc}") from None
        except UnicodeDecodeError:
            raise DeviceError("INVALID_ARGUMENT", f"program {name}: binary is not an emulator bundle") from None
        info = bfrt_json or json.dumps(bfrt_info(pipeline)).encode()
        try:
            return Program(name, pipeline, info, profiles)
        except (ValueError, KeyError) as exc:
            raise DeviceError("INVALID_ARGUMENT", f"bad bf-rt.json for {name}: {exc}") from None

    def replace(self, programs: Iterable[Program]) -> None:
        """A push replaces the device's programs; all forwarding state starts empty."""
        with self.lock:
            self.programs = {p.name: p for p in programs}

    def install(self, name: str, pipeline: Pipeline, profiles: list[Any]) -> None:
        """Load a program at start-up (what bf_switchd does with its conf file)."""
        if pipeline.num_pipes != self.num_pipes:
            raise ValueError(f"program {name} was loaded for {pipeline.num_pipes} pipe(s), the device has "
                             f"{self.num_pipes}")
        prog = Program(name, pipeline, json.dumps(bfrt_info(pipeline)).encode(), profiles)
        self.replace([prog])

    # ------------------------------------------------------------ packet path
    def _digests(self, prog: Program) -> None:
        self.on_digests(prog, prog.pipeline.take_digests())

    def ingress(self, port: int, frame: bytes, tstamp_ns: int | None = None) -> list[ToTM]:
        with self.lock:
            if not self.programs:
                return []
            prog = next(iter(self.programs.values()))
            out = prog.pipeline.ingress(port, frame, tstamp_ns)
            if prog.pipeline.digests:
                self._digests(prog)
        return out

    def stats(self) -> dict[str, int]:
        """The bound program's data-plane counters (rx, tx, drops by reason)."""
        with self.lock:
            return dict(next(iter(self.programs.values())).pipeline.stats) if self.programs else {}

    def ingress_many(self, port: int, frames: list[bytes], parser_port: int | None = None) -> list[ToTM]:
        """ingress() for a batch of frames from one port, under one lock acquisition (a write waits for
        the batch, never sees half of a packet). `parser_port`: see Pipeline.ingress."""
        out: list[ToTM] = []
        with self.lock:
            if not self.programs:
                return out
            prog = next(iter(self.programs.values()))
            run = prog.pipeline.ingress
            for frame in frames:
                out.extend(run(port, frame) if parser_port is None else run(port, frame, None, parser_port))
            if prog.pipeline.digests:
                self._digests(prog)
        return out

    def ingress_stamped(self, port: int, frames: list[bytes], stamps: list[int]) -> list[tuple[ToTM, int]]:
        """ingress_many() with each frame's arrival time (monotonic ns): the program's ingress_mac_tstamp, and
        handed back with every packet the frame made, for the traffic manager's enqueue time."""
        out: list[tuple[ToTM, int]] = []
        with self.lock:
            if not self.programs:
                return out
            prog = next(iter(self.programs.values()))
            run = prog.pipeline.ingress
            for frame, t in zip(frames, stamps, strict=True):
                out.extend((item, t) for item in run(port, frame, t))
            if prog.pipeline.digests:
                self._digests(prog)
        return out

    def egress_many(self, items: list[Dequeued]) -> list[Emitted]:
        """egress() for the packets the traffic manager released, with the queue metadata of each."""
        out: list[Emitted] = []
        with self.lock:
            if not self.programs:
                return out
            pipeline = next(iter(self.programs.values())).pipeline
            run = pipeline.egress
            for d in items:
                e = run(d.item, d.enq_qdepth, d.deq_timedelta, d.deq_tstamp, d.deq_qdepth, d.enq_tstamp)
                if e is not None:
                    out.append(e)
            if pipeline.egress_mirrors:
                self.egress_mirrored.extend(pipeline.take_egress_mirrors())
        return out

    def take_egress_mirrors(self) -> list[ToTM]:
        """E2E copies egress made (egress_many): the switch loop queues them in the traffic manager."""
        items, self.egress_mirrored = self.egress_mirrored, []
        return items

    def egress(self, item: ToTM, enq_qdepth: int, deq_timedelta: int) -> Emitted | None:
        with self.lock:
            if not self.programs:
                return None
            return next(iter(self.programs.values())).pipeline.egress(item, enq_qdepth, deq_timedelta)

    def process(self, port: int, frame: bytes, tstamp_ns: int | None = None) -> list[Emitted]:
        """Run one frame through the bound program(s) and hand any digests to `on_digests`."""
        with self.lock:
            if not self.programs:
                return []
            prog = next(iter(self.programs.values()))
            out = prog.pipeline.process(port, frame, tstamp_ns)
            if prog.pipeline.digests:
                self._digests(prog)
        return out


# ---------------------------------------------------------------- tables' state (callers hold the lock)
# Each change returns the function that undoes it (ROLLBACK_ON_ERROR / DATAPLANE_ATOMIC batches).


def set_default(table: R.Table, action: str | None, values: dict[str, int]) -> Undo:
    """`action` None resets the default action."""
    old = table.default
    if action is None:
        table.reset_default()
    else:
        table.set_default(action, values)
    return lambda: setattr(table, "default", old)


def set_default_entry(table: R.Table, entry: R.Entry) -> Undo:
    """An indirect table's default entry: `entry` runs a member or a selector group on a miss."""
    if table.const_default:
        raise R.ConstTable(f"table {table.name} has a const default action")
    old = table.default
    entry.hit = False
    table.default = entry
    return lambda: setattr(table, "default", old)


def clear(table: R.Table) -> Undo:
    saved = dict(table.entries)
    table.clear()
    return lambda: _restore(table, saved)


def delete(table: R.Table, spec: list[object]) -> Undo:
    key = table._normalise(spec)
    old_entry = table.entries.get(key)
    table.delete(spec)
    return lambda: table._add(key, old_entry)  # type: ignore[arg-type]


def write_entry(table: R.Table, spec: list[object], priority: int, action: str, values: dict[str, int],
                mode: str) -> Undo | None:
    """INSERT, MODIFY or INSERT_OR_MODIFY one entry."""
    existing = table.get(spec)
    if mode == "INSERT" or (mode == "INSERT_OR_MODIFY" and existing is None):
        entry = table.insert(spec, action, values, priority)
        return lambda: _drop(table, entry.key)
    if existing is None:
        table.modify(spec, action, values)  # raises EntryNotFound
        return None
    before = (existing.action, existing.fn, existing.args)
    table.modify(spec, action, values)
    return lambda: _set_entry(existing, before)


def write_indirect(table: R.Table, spec: list[object], priority: int, entry: R.Entry, mode: str) -> Undo:
    """INSERT, MODIFY or INSERT_OR_MODIFY one entry of an indirect table (`entry` from entry_for)."""
    existing = table.get(spec)
    if mode == "INSERT" or (mode == "INSERT_OR_MODIFY" and existing is None):
        new = table.insert_entry(spec, entry, priority)
        return lambda: _drop(table, new.key)
    if existing is None:
        raise R.EntryNotFound(f"table {table.name}: entry not found")
    before = (existing.action, existing.fn, existing.args, existing.member, existing.group)
    existing.action, existing.fn, existing.args = entry.action, entry.fn, entry.args
    existing.member, existing.group = entry.member, entry.group

    def undo() -> None:
        existing.action, existing.fn, existing.args, existing.member, existing.group = before

    return undo


def set_counts(entry: R.Entry, pkts: int, nbytes: int) -> None:
    entry.pkts, entry.bytes = pkts, nbytes


def sync_direct_counters(table: R.Table) -> Undo:
    """SyncCounters: every entry's (and the default's) counts, in every copy, become its software state."""
    entries = [e for copy in table.copies() for e in copy.values()] + [table.default]
    before = [e.synced for e in entries]
    for e in entries:
        e.synced = (e.pkts, e.bytes)

    def undo() -> None:
        for e, old in zip(entries, before, strict=True):
            e.synced = old
    return undo


def sync_counter(c: R.CounterArray) -> Undo:
    """Sync of a Counter table: its hardware counts become the software state."""
    before = c.shadow
    c.sync()

    def undo() -> None:
        c.shadow = before
    return undo


def write_direct_register(dreg: R.DirectRegister, entry: R.Entry, fields: dict[str, int],
                          pipe: int | None = None) -> Undo:
    """A DirectRegister's cells written with a match entry: one pipe, or (None) every pipe."""
    before = entry.reg  # write() builds a new cell list, so the old one can go back as it was
    dreg.write(entry, fields, pipe)

    def undo() -> None:
        entry.reg = before
    return undo


def set_entry_meter(entry: R.Entry, spec: tuple[int, int, int, int] | None, packets: bool, num_pipes: int) -> Undo:
    """A DirectMeter's spec written with a match entry, one bucket per pipe (None: no $METER_SPEC_* field
    given: unchanged)."""
    old = entry.meter
    if spec is not None:
        entry.meter = [R.MeterState(spec, packets) for _ in range(num_pipes)]
    return lambda: setattr(entry, "meter", old)


def write_meter(m: R.MeterArray, idx: int | None, spec: tuple[int, int, int, int] | None,
                pipe: int | None = None) -> Undo:
    """One cell's spec (idx None: every cell) in one pipe or (None) every pipe; spec None resets to the default
    (unlimited) spec."""
    idxs = range(m.size) if idx is None else [idx]
    pipes = range(m.num_pipes) if pipe is None else [pipe]
    old = {(p, i): m.pipes[p][i] for p in pipes for i in idxs}
    for p, i in old:
        m.pipes[p][i] = R.MeterState(spec, m.packets) if spec is not None else R.MeterState(packets=m.packets)

    def undo() -> None:
        for (p, i), c in old.items():
            m.pipes[p][i] = c

    return undo


def write_member(p: R.ActionProfile, mid: int, action: str | None, values: dict[str, int], mode: str) -> Undo:
    """INSERT / MODIFY / INSERT_OR_MODIFY / DELETE (action None) of an action profile member."""
    if mode == "DELETE":
        old = p.delete_member(mid)
        return lambda: p.members.__setitem__(mid, old)
    assert action is not None
    if mode == "INSERT" or (mode == "INSERT_OR_MODIFY" and mid not in p.members):
        p.add_member(mid, action, values)
        return lambda: _forget(p.members, mid)
    cur = p.members.get(mid)
    if cur is None:
        raise R.EntryNotFound(f"action profile {p.name}: no member {mid}")
    before = (cur.action, cur.fn, cur.args)
    p.modify_member(mid, action, values)
    return lambda: p.set_member(mid, before)


def _forget(d: dict[int, Any], k: int) -> None:
    d.pop(k, None)


def write_group(sel: R.ActionSelector, gid: int, members: list[int] | None, status: list[bool] | None,
                max_size: int | None, mode: str) -> Undo:
    """INSERT / MODIFY / INSERT_OR_MODIFY / DELETE (members None) of a selector group."""
    old = sel.groups.get(gid)
    saved = (list(old.members), list(old.status)) if old is not None else None
    if mode == "DELETE":
        g = sel.delete_group(gid)
        return lambda: sel.groups.__setitem__(gid, g)
    sel.write_group(gid, members or [], status, max_size, mode)
    if old is None:
        return lambda: _forget(sel.groups, gid)

    def undo() -> None:
        assert saved is not None and old is not None
        old.members, old.status = saved
        old.refresh()

    return undo


def write_register(reg: R.RegisterArray, idx: int, fields: dict[str, int], pipes: list[int] | None = None) -> Undo:
    """Sets the given fields of one register cell, keeping the others, in the given pipes or (None) every pipe."""
    pipes = list(range(reg.num_pipes)) if pipes is None else pipes
    old = {p: reg.read(idx, p) for p in pipes}
    for p in pipes:
        current = dict(zip((n for n, _ in reg.fields), old[p], strict=True))
        current.update(fields)
        reg.write(idx, tuple(current[n] for n, _ in reg.fields), p)

    def undo() -> None:
        for p, v in old.items():
            reg.write(idx, v, p)
    return undo


def clear_register(reg: R.RegisterArray, pipe: int | None = None) -> Undo:
    """Every cell of one pipe (None: of every pipe) back to the register's initial value (the SDE's tableClear of a
    Register table). The old cell lists are kept whole for the undo: a reset makes new ones."""
    old, selected = list(reg.pipes), reg.pipe
    if pipe is None:
        reg.reset()
    else:
        reg.pipes[pipe] = None
    reg.select(selected)

    def undo() -> None:
        reg.pipes = old
        reg.select(selected)
    return undo


def write_filter_spec(cells: list[Any], idx: int, spec: tuple) -> Undo:
    """Set one LPF / WRED cell's spec (its state restarts)."""
    before = cells[idx]
    cells[idx] = type(before)(spec)

    def undo() -> None:
        cells[idx] = before
    return undo


def set_entry_filter(entry: R.Entry, cells: list[R.LpfState] | list[R.WredState] | None) -> Undo:
    """A DirectLpf's / DirectWred's spec written with a match entry: one cell per pipe."""
    before = entry.filt
    entry.filt = cells

    def undo() -> None:
        entry.filt = before
    return undo


def write_value_set(vs: R.ValueSet, key: tuple[tuple[int, ...], tuple[int, ...]] | None, mode: str) -> Undo:
    """INSERT / DELETE one (values, masks) entry, or (key None, DELETE) every entry."""
    entries = vs.entries  # the selected copy (the write's target), restored into the same dict by the undo
    before = dict(entries)
    if key is None:
        vs.entries.clear()
    elif mode == "DELETE":
        if key not in vs.entries:
            raise R.EntryNotFound(f"{vs.name}: entry not found")
        del vs.entries[key]
    elif key in vs.entries:
        if mode == "INSERT":
            raise R.EntryExists(f"{vs.name}: the entry exists")
    else:
        if mode == "MODIFY":
            raise R.EntryNotFound(f"{vs.name}: entry not found")
        if len(vs.entries) >= vs.size:
            raise R.TableFull(f"{vs.name}: full ({vs.size} entries)")
        vs.entries[key] = None

    def undo() -> None:
        entries.clear()
        entries.update(before)
    return undo


def write_register_param(rp: R.RegisterParam, value: int | None) -> Undo:
    """Set the parameter, or (None) reset it to its initial value."""
    before = rp.value
    rp.value = rp.initial if value is None else value

    def undo() -> None:
        rp.value = before
    return undo


def write_port_metadata(pm: R.PortMetadata, port: int, fields: dict[str, int] | None) -> Undo:
    """Set (fields) or remove (None: zeros again) one port's phase-0 data."""
    before = pm.values.get(port)
    if fields is None:
        pm.values.pop(port, None)
    else:
        pm.write(port, fields)

    def undo() -> None:
        if before is None:
            pm.values.pop(port, None)
        else:
            pm.values[port] = before
    return undo


def write_counter(c: R.CounterArray, idx: int, pkts: int | None, nbytes: int | None, pipe: int | None = None) -> Undo:
    """Set one cell's counts in one pipe, or (None) in the table's instance of every pipe: as
    pipe_mgr_stat_mgr_ent_set, every pipe's count restarts from 0 under the value the user set, so a read of all
    pipes (their sum) gives back that value: here the first pipe holds it and the others 0."""
    pipes = range(c.num_pipes) if pipe is None else [pipe]
    cells = [c.cells(p) for p in pipes] + [c.shadow_cells(p) for p in pipes]  # hardware and software state
    old = [(pk[idx], by[idx]) for pk, by in cells]
    for i, (pk, by) in enumerate(cells):
        holder = i % len(pipes) == 0
        if pkts is not None:
            pk[idx] = pkts if holder else 0
        if nbytes is not None:
            by[idx] = nbytes if holder else 0

    def undo() -> None:
        for (pk, by), (a, b) in zip(cells, old, strict=True):
            pk[idx], by[idx] = a, b

    return undo


def clear_counter(c: R.CounterArray, pipe: int | None = None) -> Undo:
    """Every cell of one pipe (None: of every pipe) to zero (the SDE's tableClear of a Counter table)."""
    old, selected = list(c.pipes), c.pipe
    if pipe is None:
        c.reset()
    else:
        c.pipes[pipe] = None
    c.select(selected)

    def undo() -> None:
        c.pipes = old
        c.select(selected)
    return undo


def write_mirror(sessions: dict[int, R.MirrorSession], sid: int, mode: str,
                 session: Callable[[], R.MirrorSession]) -> Undo:
    """INSERT, MODIFY, INSERT_OR_MODIFY or DELETE one mirror session; `session()` decodes the new one (after
    the existence checks, whose errors come first)."""
    old = sessions.get(sid)
    if mode == "DELETE":
        if old is None:
            raise R.EntryNotFound(f"$mirror.cfg: no session {sid}")
        del sessions[sid]
    else:
        if mode == "INSERT" and old is not None:
            raise R.EntryExists(f"$mirror.cfg: session {sid} exists")
        if mode == "MODIFY" and old is None:
            raise R.EntryNotFound(f"$mirror.cfg: no session {sid}")
        sessions[sid] = session()

    def undo() -> None:
        if old is not None:
            sessions[sid] = old
        else:
            sessions.pop(sid, None)

    return undo


def _restore(table: R.Table, saved: dict[tuple[object, ...], R.Entry]) -> None:
    table.entries = dict(saved)
    table._rebuild()


def _drop(table: R.Table, key: tuple[object, ...]) -> None:
    table.entries.pop(key, None)
    table._rebuild()


def _set_entry(entry: R.Entry, before: tuple[object, object, object]) -> None:
    entry.action, entry.fn, entry.args = before  # type: ignore[assignment]


@contextlib.contextmanager
def one_rebuild_per_batch(tables: list[R.Table]) -> Iterator[None]:
    """Tables rebuild their lookup structures after a change (ternary/LPM: every insert; exact: every
    delete), which is O(entries); inside one Write the rebuild runs once per touched table at the end
    instead, so a batch of n entries costs O(n) rather than O(n²). Safe: the device lock is held for
    the whole batch, so no packet is looked up in between."""
    for t in tables:
        t._rebuild = lambda: None  # type: ignore[method-assign]  # shadows the method until the batch ends
    try:
        yield
    finally:
        for t in tables:
            del t._rebuild
            t.rebuild_all()  # every copy of an asymmetric table: the batch may have written several
