"""Tofino 1 packet generator: the SDE's `tf1.pktgen.*` fixed tables and the timer applications they drive.

Tables, ids and fields are those of the SDE's `bf_rt_pktgen_tf1.json` (open-p4studio
`pkgsrc/bf-drivers/src/bf_rt/bf_rt_pktgen/`); the rules are `bf_rt_pktgen_table_impl.cpp` (MODIFY only: the
tables have no add/delete) and `pipe_mgr_pktgen.c`:

* `tf1.pktgen.port_cfg` (key `dev_port`, any port of the device): `pktgen_enable` turns a pipe's generator port
  on (only Tofino 1's local port 68 of each pipe, dev ports 68, 196, 324, 452, has one). Packets of an app are
  made in every pipe whose generator port is on. `clear_port_down_enable` true re-arms the port-down trigger of
  that port (the generator fires for a port once, the first time it goes down after being cleared, as the SDE's
  `tna_pktgen` test describes; every port starts not armed); it reads back true while the port is armed.
  `pattern_matching_enable` (generator ports only: Tofino 1's recirculation port 68 is the generator's) turns on
  the recirculation-pattern apps for frames recirculated on that port (`recirculated`). `recirculation_enable`
  reads back false; setting it true is refused (the emulator's recirculation ports are fixed).
* `tf1.pktgen.pkt_buffer` (keys `pkt_buffer_offset`, `pkt_buffer_size`): `buffer`, the bytes of a 16 KiB packet
  buffer; the offset must be 16-byte aligned and offset + size within the buffer (`pktgen_pkt_buffer_size_
  offset_valid`), the data exactly `size` bytes.
* `tf1.pktgen.app_cfg` (key `app_id` 0..7): action `trigger_timer_one_shot` or `trigger_timer_periodic`
  (`timer_nanosec`), or `trigger_port_down` (an armed port going down, `$PORT_ENABLE` false or the port deleted,
  triggers every enabled port-down app once, in the port's pipe, each packet carrying
  `pktgen_port_down_header_t` with the port and no batch number), or `trigger_recirc_pattern` (`pattern_value`,
  `pattern_mask`: a recirculated frame whose first 4 bytes match triggers it once, `recirculated`). An enabled
  timer app counts down `timer_nanosec` from the moment it was enabled, then makes `batch_count_cfg + 1`
  batches of `packets_per_batch_cfg + 1` packets (the counts are zero-based), one-shot once, periodic every
  `timer_nanosec`. Packet p of batch b leaves b * ibg + p * ipg after the trigger (Tofino 1: gaps are start to
  start). Each packet is the 6-byte `pktgen_timer_header_t` (pipe, app, batch, packet) followed by `pkt_len`
  bytes of the buffer at `pkt_buffer_offset`; it enters ingress on the pipe's `pipe_local_source_port` (+ b with
  `increment_source_port`) through the generator port's parser (`generator_port`). `trigger_counter` counts
  triggers, `batch_counter` and `pkt_counter` what was made, per pipe (a read of all pipes sums them); a write may
  set them, for its target pipe or every pipe. An app that finished stays enabled: disable and enable it to trigger
  again. Jitter fields must stay 0 (refused otherwise: not modelled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

PIPES = 4
PKTGEN_LOCAL_PORT = 68  # Tofino 1: the generator port of every pipe
BUFFER_SIZE = 16 * 1024  # PIPE_MGR_PKT_BUFFER_SIZE (Tofino 1)
BUFFER_ALIGN = 16
APPS = 8
HEADER_LEN = 6

PORT_CFG_ID, APP_CFG_ID, PKT_BUFFER_ID = 4278386689, 4278386690, 4278386691
PORT_FIELDS = {1: "recirculation_enable", 2: "pktgen_enable", 3: "pattern_matching_enable", 4: "clear_port_down_enable"}
ACTIONS = {1: "trigger_timer_one_shot", 2: "trigger_timer_periodic", 3: "trigger_port_down",
           4: "trigger_recirc_pattern"}
ACTION_FIELDS = {1: ("timer_nanosec", "uint32"), 4: ("pattern_value", "uint32"), 5: ("pattern_mask", "uint32")}
ACTION_DATA = {1: (1,), 2: (1,), 3: (), 4: (4, 5)}
COUNTER_IDS = {23, 24, 25}  # batch_counter, pkt_counter, trigger_counter: per pipe (App.counts)
APP_FIELDS = {12: ("app_enable", "bool"), 13: ("pkt_len", "uint16"), 14: ("pkt_buffer_offset", "uint16"),
              15: ("pipe_local_source_port", "uint32"), 16: ("increment_source_port", "bool"),
              17: ("batch_count_cfg", "uint16"), 18: ("packets_per_batch_cfg", "uint16"), 19: ("ibg", "uint32"),
              20: ("ibg_jitter", "uint32"), 21: ("ipg", "uint32"), 22: ("ipg_jitter", "uint32"),
              23: ("batch_counter", "uint64"), 24: ("pkt_counter", "uint64"), 25: ("trigger_counter", "uint64")}
WIDTH = {"uint16": 16, "uint32": 32, "uint64": 64}

Value = int | bool | bytes


class PktgenError(ValueError):
    """A write the SDE refuses (INVALID_ARGUMENT)."""


class PktgenUnsupported(PktgenError):
    """A setting the emulator does not model (UNIMPLEMENTED), never ignored."""


def generator_port(port: int) -> int:
    """The generator port of `port`'s pipe: its channel (and parser, Tofino 1's parser 17) takes every generated
    packet of the pipe, whatever source port (the packet's ingress_port) the app gives."""
    return (port & ~0x7F) | PKTGEN_LOCAL_PORT


def pktgen_ports(pipes: int = PIPES) -> list[int]:
    return [(p << 7) | PKTGEN_LOCAL_PORT for p in range(pipes)]


def timer_header(pipe: int, app: int, batch: int, packet: int) -> bytes:
    """pktgen_timer_header_t: _pad1 3, pipe_id 2, app_id 3, _pad2 8, batch_id 16, packet_id 16."""
    return bytes([(pipe & 3) << 3 | (app & 7), 0]) + batch.to_bytes(2, "big") + packet.to_bytes(2, "big")


def recirc_header(pipe: int, app: int, key: int, packet: int) -> bytes:
    """pktgen_recirc_header_t (Tofino 1): _pad1 3, pipe_id 2, app_id 3, key 24, packet_id 16."""
    return bytes([(pipe & 3) << 3 | (app & 7)]) + (key & 0xFFFFFF).to_bytes(3, "big") + packet.to_bytes(2, "big")


def port_down_header(pipe: int, app: int, port: int, packet: int) -> bytes:
    """pktgen_port_down_header_t: _pad1 3, pipe_id 2, app_id 3, _pad2 15, port_num 9, packet_id 16."""
    return bytes([(pipe & 3) << 3 | (app & 7)]) + (port & 0x1FF).to_bytes(3, "big") + packet.to_bytes(2, "big")


@dataclass
class App:
    action: int = 1  # the SDE's default trigger (bf_pktgen_app_cfg_t zeroed: timer one-shot)
    values: dict[str, Value] = field(default_factory=lambda: {
        "timer_nanosec": 0, "pattern_value": 0, "pattern_mask": 0,
        **{name: (False if kind == "bool" else 0) for fid, (name, kind) in APP_FIELDS.items()
           if fid not in COUNTER_IDS}})
    armed_at: int | None = None  # ns the countdown started (enabled), None while disabled
    fired: int = 0  # triggers made since armed
    # trigger_counter, batch_counter, pkt_counter of each pipe's generator (registers per pipe, as pipe_mgr's
    # bf_pktgen_get_*_counter: a read of all pipes sums them, a write of all pipes sets each); `values` keeps none
    counts: dict[int, dict[str, int]] = field(default_factory=dict)

    def count(self, pipe: int | None, name: str) -> int:
        if pipe is None:
            return sum(c.get(name, 0) for c in self.counts.values())
        return self.counts.get(pipe, {}).get(name, 0)

    def bump(self, pipe: int, name: str) -> None:
        c = self.counts.setdefault(pipe, {})
        c[name] = c.get(name, 0) + 1


@dataclass(order=True)
class Scheduled:
    due_ns: int
    seq: int
    port: int = field(compare=False)
    frame: bytes = field(compare=False)


class PacketGenerator:
    def __init__(self, clock: Callable[[], int], pipes: int = PIPES) -> None:
        self.clock = clock
        self.pipes = pipes
        self.ports = {p: {name: False for name in PORT_FIELDS.values()} for p in pktgen_ports(pipes)}
        self.armed_ports: set[int] = set()  # port-down trigger re-armed (clear_port_down_enable), not yet fired
        self.buffer = bytearray(BUFFER_SIZE)
        self.apps = [App() for _ in range(APPS)]
        self.pending: list[Scheduled] = []
        self._seq = 0
        self.timers_armed = False  # some timer app counts down: kept by app writes, so the switch loop asks cheaply

    # ------------------------------------------------------------------ schema
    @staticmethod
    def schemas() -> list[dict]:
        def key(kid: int, name: str) -> dict:
            return {"id": kid, "name": name, "repeated": False, "annotations": [], "mandatory": True,
                    "match_type": "Exact", "type": {"type": "uint32"}}

        def data(fid: int, name: str, kind: str) -> dict:
            t: dict[str, object] = {"type": kind}
            if kind == "bytes":
                t["width"] = 8
            elif kind == "bool":
                t["default_value"] = False
            else:
                t["default_value"] = 0
            # the packet buffer's bytes are a repeated 8-bit field in the SDE's bf_rt_pktgen_tf1.json (its client
            # then sends the whole buffer as one stream instead of sizing it to one byte)
            return {"id": fid, "name": name, "repeated": kind == "bytes", "annotations": [], "mandatory": False,
                    "read_only": False, "type": t}

        def table(tid: int, name: str, ttype: str, size: int, keys: list[dict], fields: list[dict],
                  actions: list[dict] | None = None) -> dict:
            return {"name": name, "id": tid, "table_type": ttype, "size": size, "annotations": [], "depends_on": [],
                    "has_const_default_action": False, "key": keys, "action_specs": actions or [],
                    "data": [{"mandatory": False, "read_only": False, "singleton": f} for f in fields],
                    "supported_operations": [], "attributes": []}

        actions = [{"id": aid, "name": name, "action_scope": "TableAndDefault", "annotations": [],
                    "data": [data(fid, *ACTION_FIELDS[fid]) for fid in ACTION_DATA[aid]]}
                   for aid, name in ACTIONS.items()]
        return [
            table(PORT_CFG_ID, "tf1.pktgen.port_cfg", "PktgenPortCfg", 256, [key(1, "dev_port")],
                  [data(fid, name, "bool") for fid, name in PORT_FIELDS.items()]),
            table(APP_CFG_ID, "tf1.pktgen.app_cfg", "PktgenAppCfg", APPS, [key(1, "app_id")],
                  [data(fid, name, kind) for fid, (name, kind) in APP_FIELDS.items()], actions),
            table(PKT_BUFFER_ID, "tf1.pktgen.pkt_buffer", "PktgenPktBufferCfg", 1024,
                  [key(1, "pkt_buffer_offset"), key(2, "pkt_buffer_size")], [data(1, "buffer", "bytes")]),
        ]

    @staticmethod
    def field_kind(table_id: int, fid: int) -> str:
        if table_id == PORT_CFG_ID:
            return "bool"
        if table_id == PKT_BUFFER_ID:
            return "bytes"
        kind = APP_FIELDS.get(fid) or ACTION_FIELDS.get(fid)
        if kind is None:
            raise PktgenError(f"tf1.pktgen.app_cfg: no data field id {fid}")
        return kind[1]

    # ------------------------------------------------------------------ writes
    def write(self, table_id: int, utype: str, key: tuple[int, ...], values: dict[int, Value],
              action_id: int = 0, pipe: int | None = None) -> Callable[[], None]:
        """One MODIFY, or a DELETE without a key (the SDE's tableClear: writable fields back to their defaults);
        returns the undo. `pipe`: the target pipe (None: all), which only the app counters depend on."""
        if utype == "DELETE" and not key:
            return self._clear(table_id)
        if utype != "MODIFY":
            raise PktgenUnsupported(f"{self._name(table_id)}: {utype} is not implemented (the SDE's pktgen tables "
                                    "have tableEntryMod and tableClear only)")
        if table_id == PORT_CFG_ID:
            return self._write_port(key, values)
        if table_id == PKT_BUFFER_ID:
            return self._write_buffer(key, values)
        return self._write_app(key, values, action_id, pipe)

    def _clear(self, table_id: int) -> Callable[[], None]:
        ports, armed, buffer, apps = self.ports, self.armed_ports, self.buffer, self.apps
        if table_id == PORT_CFG_ID:
            self.ports = {p: {name: False for name in PORT_FIELDS.values()} for p in pktgen_ports(self.pipes)}
            self.armed_ports = set()
        elif table_id == PKT_BUFFER_ID:
            self.buffer = bytearray(BUFFER_SIZE)
        else:
            self.apps = [App() for _ in range(APPS)]
            self.timers_armed = False

        def undo() -> None:
            self.ports, self.armed_ports, self.buffer, self.apps = ports, armed, buffer, apps
            self.timers_armed = any(a.armed_at is not None and a.action in (1, 2) for a in self.apps)
        return undo

    @staticmethod
    def _name(table_id: int) -> str:
        return {PORT_CFG_ID: "tf1.pktgen.port_cfg", APP_CFG_ID: "tf1.pktgen.app_cfg",
                PKT_BUFFER_ID: "tf1.pktgen.pkt_buffer"}[table_id]

    def _port_row(self, key: tuple[int, ...]) -> dict[str, bool]:
        if len(key) != 1 or not (0 <= key[0] >> 7 < self.pipes and key[0] & 0x7F < 72):
            raise PktgenError(f"tf1.pktgen.port_cfg: dev_port {key[0] if key else '?'} is not a port of the device "
                              f"(pipe 0..{self.pipes - 1}, local port 0..71)")
        row = dict(self.ports.get(key[0]) or {name: False for name in PORT_FIELDS.values()})
        row["clear_port_down_enable"] = key[0] in self.armed_ports
        return row

    def _write_port(self, key: tuple[int, ...], values: dict[int, Value]) -> Callable[[], None]:
        row = self._port_row(key)
        port = key[0]
        new = dict(row)
        for fid, v in values.items():
            name = PORT_FIELDS.get(fid)
            if name is None or not isinstance(v, bool):
                raise PktgenError(f"tf1.pktgen.port_cfg: field id {fid} must be one of the bool fields "
                                  f"{', '.join(PORT_FIELDS.values())}")
            if v and name == "recirculation_enable":
                raise PktgenUnsupported(f"tf1.pktgen.port_cfg: {name}: the emulator does not model turning a port "
                                        "into a recirculation port (its recirculation ports are port 68 of each pipe)")
            if v and name in ("pktgen_enable", "pattern_matching_enable") and port & 0x7F != PKTGEN_LOCAL_PORT:
                raise PktgenError(f"tf1.pktgen.port_cfg: dev_port {port} has no packet generator (Tofino 1: local "
                                  f"port {PKTGEN_LOCAL_PORT} of each pipe: {', '.join(map(str, pktgen_ports()))})")
            new[name] = v
        old_ports = {p: dict(r) for p, r in self.ports.items()}
        old_armed = set(self.armed_ports)
        if port in self.ports:
            self.ports[port]["pktgen_enable"] = new["pktgen_enable"]
            self.ports[port]["pattern_matching_enable"] = new["pattern_matching_enable"]
        if values.get(4) is True:
            self.armed_ports.add(port)

        def undo() -> None:
            self.ports, self.armed_ports = old_ports, old_armed
        return undo

    def _write_buffer(self, key: tuple[int, ...], values: dict[int, Value]) -> Callable[[], None]:
        if len(key) != 2:
            raise PktgenError("tf1.pktgen.pkt_buffer key is pkt_buffer_offset, pkt_buffer_size")
        offset, size = key
        self._check_range(offset, size)
        data = values.get(1)
        if not isinstance(data, bytes) or len(data) != size:
            raise PktgenError(f"tf1.pktgen.pkt_buffer: buffer must be {size} bytes (pkt_buffer_size), not "
                              f"{len(data) if isinstance(data, bytes) else data!r}")
        old = bytes(self.buffer[offset:offset + size])
        self.buffer[offset:offset + size] = data

        def undo() -> None:
            self.buffer[offset:offset + size] = old
        return undo

    @staticmethod
    def _check_range(offset: int, size: int) -> None:
        if offset % BUFFER_ALIGN:
            raise PktgenError(f"tf1.pktgen.pkt_buffer: offset {offset} must be {BUFFER_ALIGN}-byte aligned")
        if size > BUFFER_SIZE or offset >= BUFFER_SIZE or offset + size > BUFFER_SIZE:
            raise PktgenError(f"tf1.pktgen.pkt_buffer: offset {offset} + size {size} exceed the {BUFFER_SIZE}-byte "
                              "buffer")

    def _write_app(self, key: tuple[int, ...], values: dict[int, Value], action_id: int,
                   pipe: int | None = None) -> Callable[[], None]:
        if len(key) != 1 or not 0 <= key[0] < APPS:
            raise PktgenError(f"tf1.pktgen.app_cfg: app_id {key[0] if key else '?'} out of range 0..{APPS - 1}")
        app = self.apps[key[0]]
        saved = (app.action, dict(app.values), app.armed_at, app.fired, {k: dict(c) for k, c in app.counts.items()})
        action = action_id or app.action
        if action not in ACTIONS:
            raise PktgenError(f"tf1.pktgen.app_cfg: no action id {action_id}")
        new = dict(app.values)
        counts: dict[str, int] = {}
        for fid, v in values.items():
            spec = APP_FIELDS.get(fid) or (ACTION_FIELDS.get(fid) if fid in ACTION_DATA[action] else None)
            if spec is None:
                raise PktgenError(f"tf1.pktgen.app_cfg: no data field id {fid} for {ACTIONS[action]}")
            name, kind = spec
            ok = isinstance(v, bool) if kind == "bool" else (
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << WIDTH[kind])
            if not ok:
                raise PktgenError(f"tf1.pktgen.app_cfg: {name} must be a {kind}, not {v!r}")
            if fid in COUNTER_IDS:
                counts[name] = int(v)
            else:
                new[name] = v
        for name in ("ibg_jitter", "ipg_jitter"):
            if new[name]:
                raise PktgenUnsupported(f"tf1.pktgen.app_cfg: {name} {new[name]!r}: jitter is not modelled; leave it 0")
        if new["app_enable"]:
            self._check_range(int(new["pkt_buffer_offset"]), int(new["pkt_len"]))
        was_enabled = bool(app.values["app_enable"])
        app.action, app.values = action, new
        for p_ in range(self.pipes) if pipe is None else (pipe,):
            app.counts.setdefault(p_, {}).update(counts)
        if not new["app_enable"]:
            app.armed_at = None
            self.pending = [s for s in self.pending if (s.frame[0] & 7) != key[0]]
        elif action in (1, 2) and (not was_enabled or values.keys() - COUNTER_IDS):
            app.armed_at, app.fired = self.clock(), 0  # enabled, or reconfigured: the countdown restarts
        else:
            app.armed_at = None if action in (3, 4) else app.armed_at
        self._note_timers()

        def undo() -> None:
            app.action, app.values, app.armed_at, app.fired, app.counts = saved
            self._note_timers()
        return undo

    def _note_timers(self) -> None:
        self.timers_armed = any(a.armed_at is not None and a.action in (1, 2) for a in self.apps)

    @property
    def idle(self) -> bool:
        """Nothing to make or send (no timer armed, no packet pending): the switch loop skips the generator."""
        return not self.timers_armed and not self.pending

    # ------------------------------------------------------------------ reads
    def read(self, table_id: int, key: tuple[int, ...] | None, pipe: int | None = None) \
            -> list[tuple[tuple[int, ...], dict[int, Value], int]]:
        """Rows as (key, {field id: value}, action id or 0); the app counters of `pipe`, or their sum (None: all)."""
        if table_id == PORT_CFG_ID:
            keys = [(p,) for p in sorted(set(self.ports) | self.armed_ports)] if key is None else [key]
            return [(k, {fid: self._port_row(k)[name] for fid, name in PORT_FIELDS.items()}, 0) for k in keys]
        if table_id == PKT_BUFFER_ID:
            if key is None or len(key) != 2:
                raise PktgenError("tf1.pktgen.pkt_buffer: a read names pkt_buffer_offset and pkt_buffer_size")
            self._check_range(*key)
            return [(key, {1: bytes(self.buffer[key[0]:key[0] + key[1]])}, 0)]
        self.advance(self.clock())
        keys = [(a,) for a in range(APPS)] if key is None else [key]
        out = []
        for k in keys:
            if not 0 <= k[0] < APPS:
                raise PktgenError(f"tf1.pktgen.app_cfg: app_id {k[0]} out of range 0..{APPS - 1}")
            app = self.apps[k[0]]
            row: dict[int, Value] = {fid: app.count(pipe, name) if fid in COUNTER_IDS else app.values[name]
                                     for fid, (name, _) in APP_FIELDS.items()}
            row.update({fid: app.values[ACTION_FIELDS[fid][0]] for fid in ACTION_DATA[app.action]})
            out.append((k, row, app.action))
        return out

    # ------------------------------------------------------------------ packets
    def _enabled_pipes(self) -> list[int]:
        return [port >> 7 for port, row in self.ports.items() if row["pktgen_enable"]]

    def advance(self, now: int) -> None:
        """Make the triggers that are due by `now` (their packets go to `pending`, each at its own time)."""
        for app_id, app in enumerate(self.apps):
            v = app.values
            if app.armed_at is None or not v["app_enable"] or app.action not in (1, 2):
                continue
            period = max(1, int(v["timer_nanosec"]))
            while True:
                due = app.armed_at + (app.fired + 1) * period
                if due > now or (app.action == 1 and app.fired >= 1):
                    break
                app.fired += 1
                self._trigger(app_id, app, due)

    def _trigger(self, app_id: int, app: App, at: int) -> None:
        for pipe in self._enabled_pipes():
            self._make(app_id, app, at, pipe)

    def port_down(self, port: int) -> None:
        """`port` went down: an armed port fires every enabled port-down app once, in its own pipe."""
        if port not in self.armed_ports:
            return
        self.armed_ports.discard(port)
        pipe = port >> 7
        if pipe not in self._enabled_pipes():
            return
        now = self.clock()
        for app_id, app in enumerate(self.apps):
            if app.action == 3 and app.values["app_enable"]:
                self._make(app_id, app, now, pipe, down_port=port)

    def matches_on(self, port: int) -> bool:
        """Pattern matching and the generator are on for `port`: its recirculated frames go to `recirculated`."""
        row = self.ports.get(port)
        return bool(row and row["pattern_matching_enable"] and row["pktgen_enable"])

    def recirculated(self, port: int, frame: bytes) -> None:
        """A frame recirculated on `port` (Tofino 1: port 68 of its pipe): with pattern matching and the generator
        on for that port, every enabled recirculation-pattern app whose pattern_value matches the frame's first 4
        bytes under pattern_mask triggers once in the port's pipe, its packets carrying the 3 low bytes of those
        4 as the header's `key` (tna_pktgen RecircApp, Tofino 1)."""
        if not self.matches_on(port):
            return
        head = int.from_bytes(frame[:4].ljust(4, b"\0"), "big")
        now = self.clock()
        for app_id, app in enumerate(self.apps):
            v = app.values
            if app.action == 4 and v["app_enable"] and head & int(v["pattern_mask"]) == \
                    int(v["pattern_value"]) & int(v["pattern_mask"]):
                self._make(app_id, app, now, port >> 7, recirc_key=head & 0xFFFFFF)

    def _make(self, app_id: int, app: App, at: int, pipe: int, down_port: int | None = None,
              recirc_key: int | None = None) -> None:
        """One trigger's batches in one pipe, each packet its header (timer; port-down for `down_port`;
        recirculation for `recirc_key`) and the buffer's bytes."""
        v = app.values
        batches, per_batch = int(v["batch_count_cfg"]) + 1, int(v["packets_per_batch_cfg"]) + 1
        offset, length = int(v["pkt_buffer_offset"]), int(v["pkt_len"])
        payload = bytes(self.buffer[offset:offset + length])
        app.bump(pipe, "trigger_counter")
        for b in range(batches):
            app.bump(pipe, "batch_counter")
            local = int(v["pipe_local_source_port"]) + (b if v["increment_source_port"] else 0)
            port = (pipe << 7) | (local & 0x7F)
            for p in range(per_batch):
                app.bump(pipe, "pkt_counter")
                self._seq += 1
                due = at + b * int(v["ibg"]) + p * int(v["ipg"])
                head = (port_down_header(pipe, app_id, down_port, p) if down_port is not None
                        else recirc_header(pipe, app_id, recirc_key, p) if recirc_key is not None
                        else timer_header(pipe, app_id, b, p))
                self.pending.append(Scheduled(due, self._seq, port, head + payload))
        self.pending.sort()

    def due(self, now: int) -> list[tuple[int, bytes]]:
        """Packets to inject into ingress now, as (ingress port, frame), in order."""
        self.advance(now)
        n = 0
        while n < len(self.pending) and self.pending[n].due_ns <= now:
            n += 1
        out = [(s.port, s.frame) for s in self.pending[:n]]
        del self.pending[:n]
        return out

    def next_due_ns(self, now: int) -> int | None:
        """ns until the next packet or trigger, None when nothing is armed."""
        times = [s.due_ns for s in self.pending[:1]]
        for app in self.apps:
            if (app.armed_at is not None and app.values["app_enable"] and app.action in (1, 2)
                    and not (app.action == 1 and app.fired >= 1)):
                times.append(app.armed_at + (app.fired + 1) * max(1, int(app.values["timer_nanosec"])))
        return max(0, min(times) - now) if times else None
