"""The device's fixed (non-P4) BF Runtime tables besides `$mirror.cfg`, with the SDE's names:

* `$PORT` (key `$DEV_PORT`): the ports of ports.json. `$PORT_ENABLE` false stops the port (frames
  neither received nor sent); `$SPEED`/`$FEC` are kept and read back (a veth has no speed).
* `tf1.tm.port.sched_cfg` (key `dev_port`): `max_rate_enable` turns the port shaper on or off.
* `tf1.tm.port.sched_shaping` (key `dev_port`): `unit` (`BPS` only), `provisioning`, `max_rate` (kbit/s),
  `max_burst_size` (bytes): the rate the traffic manager's token bucket enforces when enabled.
* `tf1.tm.queue.sched_cfg` (keys `pg_id`, `pg_queue`): `max_priority` 0..7, the strict-priority level of
  that queue (higher first, ties by queue number). The emulator's port groups hold one port each:
  `pg_id` = device port, `pg_queue` = qid; by default a queue's priority is its qid.

They belong to the device, not to a program: a program push leaves them as they are. Every port has a
row from the start (as after `port_add` on a switch), so clients MODIFY them; INSERT of an existing port
is ALREADY_EXISTS and of an unknown port NOT_FOUND, as the SDE answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .interp import runtime as R

Value = int | bool | str
SPEEDS = ("BF_SPEED_1G", "BF_SPEED_10G", "BF_SPEED_25G", "BF_SPEED_40G", "BF_SPEED_50G", "BF_SPEED_100G",
          "BF_SPEED_200G", "BF_SPEED_400G")
FECS = ("BF_FEC_TYP_NONE", "BF_FEC_TYP_FIRECODE", "BF_FEC_TYP_REED_SOLOMON")


@dataclass(frozen=True)
class Field:
    id: int
    name: str
    type: str  # uint32 | bool | string
    default: Value
    choices: tuple[str, ...] = ()

    def json(self) -> dict:
        t: dict[str, object] = {"type": self.type, "default_value": self.default}
        if self.choices:
            t["choices"] = list(self.choices)
        single = {"id": self.id, "name": self.name, "repeated": False, "annotations": [], "type": t}
        return {"mandatory": False, "read_only": False, "singleton": single}

    def check(self, value: Value) -> Value:
        if self.type == "uint32" and not (isinstance(value, int) and 0 <= value < 1 << 32):
            raise ValueError(f"{self.name} must be a 32-bit unsigned integer, not {value!r}")
        if self.type == "string" and self.choices and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}")
        return value


@dataclass
class FixedTable:
    name: str
    id: int
    table_type: str
    key_names: tuple[str, ...]
    fields: tuple[Field, ...]
    rows: dict[tuple[int, ...], dict[str, Value]] = field(default_factory=dict)

    def field_by_id(self, fid: int) -> Field:
        for f in self.fields:
            if f.id == fid:
                return f
        raise ValueError(f"{self.name}: no data field id {fid}")

    def schema(self) -> dict:
        return {
            "name": self.name, "id": self.id, "table_type": self.table_type, "size": 512,
            "annotations": [], "depends_on": [], "has_const_default_action": False,
            "key": [{"id": i + 1, "name": n, "repeated": False, "annotations": [], "mandatory": True,
                     "match_type": "Exact", "type": {"type": "uint32"}} for i, n in enumerate(self.key_names)],
            "action_specs": [], "data": [f.json() for f in self.fields],
            "supported_operations": [], "attributes": [],
        }

    def defaults(self, key: tuple[int, ...]) -> dict[str, Value]:
        row = {f.name: f.default for f in self.fields}
        if self.name == QUEUE_SCHED_NAME:
            row["max_priority"] = key[1]  # strict priority by queue number, as before any configuration
        return row

    def label(self, key: tuple[int, ...]) -> str:
        return ", ".join(f"{n} {v}" for n, v in zip(self.key_names, key, strict=True))


QUEUE_SCHED_NAME = "tf1.tm.queue.sched_cfg"
N_QUEUES = 8


PORT = FixedTable("$PORT", 0x7F000010, "PortConfigure", ("$DEV_PORT",), (
    Field(1, "$SPEED", "string", "BF_SPEED_10G", SPEEDS),
    Field(2, "$FEC", "string", "BF_FEC_TYP_NONE", FECS),
    Field(3, "$PORT_ENABLE", "bool", True),
))
SCHED_CFG = FixedTable("tf1.tm.port.sched_cfg", 0x7F000011, "TmPortSchedCfg", ("dev_port",), (
    Field(1, "max_rate_enable", "bool", False),
))
SCHED_SHAPING = FixedTable("tf1.tm.port.sched_shaping", 0x7F000012, "TmPortSchedShaping", ("dev_port",), (
    Field(1, "unit", "string", "BPS", ("BPS", "PPS")),
    Field(2, "provisioning", "string", "UPPER", ("UPPER", "LOWER", "MIN_ERROR")),
    Field(3, "max_rate", "uint32", 0),
    Field(4, "max_burst_size", "uint32", 16384),
))
QUEUE_SCHED = FixedTable(QUEUE_SCHED_NAME, 0x7F000013, "TmQueueSchedCfg", ("pg_id", "pg_queue"), (
    Field(1, "max_priority", "uint32", 0),
))
TEMPLATES = (PORT, SCHED_CFG, SCHED_SHAPING, QUEUE_SCHED)


class DeviceTables:
    """Rows of the fixed tables, and the hooks that make them act on the data plane."""

    def __init__(self) -> None:
        self.tables = {t.id: FixedTable(t.name, t.id, t.table_type, t.key_names, t.fields) for t in TEMPLATES}
        self.by_name = {t.name: t for t in self.tables.values()}
        self.set_rate: Callable[[int, int, int], None] = lambda port, rate_bps, burst: None
        self.set_enabled: Callable[[int, bool], None] = lambda port, enabled: None
        self.set_queue_priority: Callable[[int, int, int], None] = lambda port, qid, priority: None
        self.ports: set[int] = set()

    def schemas(self) -> list[dict]:
        return [t.schema() for t in self.tables.values()]

    def attach(self, ports: list[int], set_rate: Callable[[int, int, int], None],
               set_enabled: Callable[[int, bool], None],
               set_queue_priority: Callable[[int, int, int], None] | None = None) -> None:
        """Called by the data plane: its ports get rows, and changes reach its traffic manager."""
        self.set_rate, self.set_enabled = set_rate, set_enabled
        if set_queue_priority is not None:
            self.set_queue_priority = set_queue_priority
        self.ports = set(ports)
        for t in self.tables.values():
            for p in ports:
                for key in [(p, q) for q in range(N_QUEUES)] if len(t.key_names) == 2 else [(p,)]:
                    t.rows.setdefault(key, t.defaults(key))

    def preset_rate(self, port: int, rate_bps: int, burst_bytes: int) -> None:
        """A rate from ports.json: shown in the tables as if a client had configured it."""
        self.by_name[SCHED_CFG.name].rows[(port,)]["max_rate_enable"] = True
        shaping = self.by_name[SCHED_SHAPING.name].rows[(port,)]
        shaping["max_rate"], shaping["max_burst_size"] = max(1, rate_bps // 1000), burst_bytes
        self._effect(port)

    def write(self, table_id: int, utype: str, key: tuple[int, ...], values: dict[int, Value]) -> Callable[[], None]:
        """INSERT | MODIFY | INSERT_OR_MODIFY | DELETE one row; returns the undo. A TM row cannot go away:
        DELETE resets it to the defaults; a `$PORT` DELETE removes the port (it stops) until INSERTed."""
        t = self.tables[table_id]
        if len(key) != len(t.key_names):
            raise ValueError(f"{t.name} key is {', '.join(t.key_names)}")
        if key[0] not in self.ports or (len(key) == 2 and not 0 <= key[1] < N_QUEUES):
            raise R.EntryNotFound(f"{t.name}: the device has no {t.label(key)}")
        old = t.rows.get(key)
        if utype == "DELETE":
            if old is None:
                raise R.EntryNotFound(f"{t.name}: no row for {t.label(key)}")
            new = None if t.name == PORT.name else t.defaults(key)
        else:
            if utype == "INSERT" and old is not None:
                raise R.EntryExists(f"{t.name}: {t.label(key)} exists")
            if utype == "MODIFY" and old is None:
                raise R.EntryNotFound(f"{t.name}: no row for {t.label(key)}")
            new = dict(old or t.defaults(key))
            for fid, v in values.items():
                f = t.field_by_id(fid)
                new[f.name] = f.check(v)
            if t.name == SCHED_SHAPING.name and new["unit"] != "BPS":
                raise ValueError(f"{t.name}: the emulator shapes in BPS only")
            if t.name == QUEUE_SCHED_NAME and not 0 <= int(new["max_priority"]) < N_QUEUES:
                raise ValueError(f"{t.name}: max_priority must be 0..{N_QUEUES - 1}, not {new['max_priority']}")
        self._set(t, key, new)
        return lambda: self._set(t, key, old)

    def read(self, table_id: int, key: tuple[int, ...] | None) -> list[tuple[tuple[int, ...], dict[int, Value]]]:
        t = self.tables[table_id]
        keys = sorted(t.rows) if key is None else [key]
        out = []
        for k in keys:
            row = t.rows.get(k)
            if row is None:
                raise R.EntryNotFound(f"{t.name}: no row for {t.label(k)}")
            out.append((k, {f.id: row[f.name] for f in t.fields}))
        return out

    def _set(self, t: FixedTable, key: tuple[int, ...], row: dict[str, Value] | None) -> None:
        if row is None:
            t.rows.pop(key, None)
        else:
            t.rows[key] = row
        if t.name == QUEUE_SCHED_NAME:
            self.set_queue_priority(key[0], key[1], int(t.rows[key]["max_priority"]))
        else:
            self._effect(key[0])

    def _effect(self, port: int) -> None:
        port_row = self.by_name["$PORT"].rows.get((port,))
        self.set_enabled(port, bool(port_row and port_row["$PORT_ENABLE"]))
        cfg = self.by_name[SCHED_CFG.name].rows.get((port,))
        shaping = self.by_name[SCHED_SHAPING.name].rows.get((port,))
        if cfg and shaping and cfg["max_rate_enable"] and int(shaping["max_rate"]) > 0:
            self.set_rate(port, int(shaping["max_rate"]) * 1000, int(shaping["max_burst_size"]))
        else:
            self.set_rate(port, 0, 16384)
