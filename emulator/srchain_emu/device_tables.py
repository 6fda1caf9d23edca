"""The device's fixed (non-P4) BF Runtime tables besides `$mirror.cfg` and the PRE, with the SDE's names:

* `$PORT` (key `$DEV_PORT`): the ports of ports.json. `$PORT_ENABLE` false stops the port (frames
  neither received nor sent); `$SPEED`/`$FEC` are kept and read back (a veth has no speed).
* The Tofino 1 traffic manager tables of the SDE's `bf_rt_tm_tf1.json` (open-p4studio
  `pkgsrc/bf-drivers/src/bf_rt/bf_rt_tm/`), with its table ids, field ids, names and types; a subset of
  their fields, every one of which acts on the emulator's traffic manager (tm.py) or is refused:
  * `tf1.tm.port.cfg` (key `dev_port`, read-only): where a port's queues live. Tofino 1 groups 4 ports in a
    port group (`pg_id` = local port / 4, `pg_port_nr` = local port % 4, 18 groups a pipe) of 32 queues;
    at init the SDE carves 8 queues for every port (`tm_tofino_default.c`: `bf_tm_port_q_mapping_set(dev,
    port, BF_TM_TOFINO_MIN_QUEUES_PER_PORT, NULL)`), the port's first queue is `pg_port_nr * 8`
    (`tm_queue.c` `bf_tm_q_get_base_queue`) and ingress qid i uses port queue i % 8
    (`bf_tm_q_create_q_profile`). So queue q of a port is (`pg_id`, `pg_port_nr * 8 + q`).
  * `tf1.tm.port.sched_cfg` (key `dev_port`): `max_rate_enable` turns the port shaper on or off;
    `scheduling_speed` reads back (a write of another speed is refused).
  * `tf1.tm.port.sched_shaping` (key `dev_port`): `unit` (`BPS` only), `provisioning`, `max_rate` (kbit/s),
    `max_burst_size` (bytes): the port's token bucket while `max_rate_enable` is true.
  * `tf1.tm.queue.sched_cfg` (keys `pg_id` uint8, `pg_queue` uint8; one pipe per request):
    `max_priority` / `min_priority` (strings `LOW`, `0`..`7`, `HIGH`), `dwrr_weight` (uint16),
    `scheduling_enable`, `max_rate_enable`, `min_rate_enable` (only false: the guaranteed rate is not
    modelled, so true is refused).
  * `tf1.tm.queue.sched_shaping` (same keys): `unit` (`BPS` only), `provisioning`, `max_rate` (kbit/s),
    `max_burst_size` (bytes) — the queue's max-rate shaper while `max_rate_enable` —, `min_rate`,
    `min_burst_size` (kept; they act only with `min_rate_enable`, which is refused).
  Defaults are the SDE's for Tofino 1 (`tm_tofino_default.c` `bf_tm_tofino_sch_q_get_defaults`,
  `bf_tm_tofino_set_sch_default_for_q`): every queue at priority 0 (read back as `LOW`), DWRR weight 1023,
  scheduling enabled, no min/max rate, max rate = the port speed (10G: 10 000 000 kbit/s), bursts 16384
  bytes; the port shaper off, its rate the port speed, burst 9216 (`BF_TM_PORT_SCH_BURST_SIZE`). That is:
  all queues of a port share it by DWRR with equal weights; strict priority only where configured.

The TM queue tables follow `bf_rt_tm_table_impl_queue.cpp`: MODIFY only (INSERT, INSERT_OR_MODIFY and a
keyed DELETE are UNIMPLEMENTED there: the TM tables have no tableEntryAdd/Del); DELETE without a key is
`tableClear`, which resets the pipe's rows to the defaults; a request for all pipes (pipe_id 0xFFFF) is
INVALID_ARGUMENT (`singlePipe_validate`), as is a pg_id >= 18 or pg_queue >= 32 (`bf_tm_pg_port_queue_get`);
an unknown data field or a value outside a string field's choices is INVALID_ARGUMENT (the table data's
setValue). All ports' queues exist, as on a Tofino (the SDE carves them at init, port_add or not).

* `tf1.dev.device_configuration` (the SDE's `bf_rt_dev_tf1.json`): one keyless row read as the default entry,
  the device's SKU, pipe count (`srchain switch run --num-pipes`), ports and learn settings; every Tofino PTF
  test's set-up reads it (`p4testutils.bfrt_utils.DevConfiguration`). `selector_member_order` may be written
  (groups read back in the order written either way); changing the learn/LRT settings is UNIMPLEMENTED.

They belong to the device, not to a program: a program push leaves them as they are. For the port
tables every ports.json port has a row from the start (as after `port_add`), so clients MODIFY them;
INSERT of an existing port is ALREADY_EXISTS and of an unknown port NOT_FOUND.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .interp import runtime as R
from .pktgen import PacketGenerator

Value = int | bool | str | list[int]
SPEEDS = ("BF_SPEED_1G", "BF_SPEED_10G", "BF_SPEED_25G", "BF_SPEED_40G", "BF_SPEED_50G", "BF_SPEED_100G",
          "BF_SPEED_200G", "BF_SPEED_400G")
FECS = ("BF_FEC_TYP_NONE", "BF_FEC_TYP_FIRECODE", "BF_FEC_TYP_REED_SOLOMON")
# bf_rt_tm_table_helper_sched.cpp str_to_prio / prio_to_str. BF_TM_SCH_PRIO_LOW == PRIO_0 and HIGH == PRIO_7
# (traffic_mgr_types.h), and prio_to_str keeps the first of equal keys: level 0 reads back "LOW", 7 reads "7".
PRIORITIES = ("LOW", "0", "1", "2", "3", "4", "5", "6", "7", "HIGH")
PRIO_LEVEL = {"LOW": 0, "HIGH": 7, **{str(i): i for i in range(8)}}
PRIO_NAME = {0: "LOW", **{i: str(i) for i in range(1, 8)}}
UNITS = ("PPS", "BPS")
PROVISIONING = ("UPPER", "LOWER", "MIN_ERROR")
SCHED_SPEEDS = ("BF_SPEED_NONE", "BF_SPEED_1G", "BF_SPEED_10G", "BF_SPEED_25G", "BF_SPEED_40G", "BF_SPEED_40G_NB",
                "BF_SPEED_40G_NON_BREAKABLE", "BF_SPEED_50G", "BF_SPEED_100G")

# Tofino 1 geometry (tm_tofino.h): 4 pipes of 72 TM ports, 18 port groups of 4 ports and 32 queues each.
N_PIPES = 4
PG_PER_PIPE = 18
PORTS_PER_PG = 4
QUEUES_PER_PG = 32
QUEUES_PER_PORT = 8  # BF_TM_TOFINO_MIN_QUEUES_PER_PORT, carved at init
LOGICAL_QIDS = 32  # ig_tm_md.qid is 5 bits on Tofino 1
PIPE_ALL = 0xFFFF
RATE_10G_KBPS = 10 * 1000 * 1000  # BF_TM_RATE_10G (traffic_mgr_types.h), in kbit/s
Q_BURST = 16384  # BF_TM_Q_SCH_BURST_SIZE (tm_tofino_default.h)
PORT_BURST = 9216  # BF_TM_PORT_SCH_BURST_SIZE


def _int(v: Value) -> int:
    assert isinstance(v, int)
    return v


class Unsupported(ValueError):
    """A field value the emulator does not model: refused with UNIMPLEMENTED rather than ignored."""


def port_queue(dev_port: int, qid: int = 0) -> tuple[int, int, int]:
    """(pipe, pg_id, pg_queue) of queue `qid` (the egress qid, 0..31) of `dev_port` under the SDE's default
    Tofino 1 carving (module docstring)."""
    pipe, local = dev_port >> 7, dev_port & 0x7F
    return pipe, local // PORTS_PER_PG, (local % PORTS_PER_PG) * QUEUES_PER_PORT + qid % QUEUES_PER_PORT


def queue_port(pipe: int, pg_id: int, pg_queue: int) -> tuple[int, int]:
    """(dev_port, port queue) that owns (pipe, pg_id, pg_queue): the inverse of port_queue."""
    return (pipe << 7) | (pg_id * PORTS_PER_PG + pg_queue // QUEUES_PER_PORT), pg_queue % QUEUES_PER_PORT


@dataclass(frozen=True)
class Field:
    id: int
    name: str
    type: str  # uint8 | uint16 | uint32 | bool | string
    default: Value
    choices: tuple[str, ...] = ()
    read_only: bool = False
    repeated: bool = False
    show_default: bool = True  # bf_rt_dev_tf1.json gives no default_value for the device's read-only numbers

    @property
    def bits(self) -> int:
        return {"uint8": 8, "uint16": 16, "uint32": 32}.get(self.type, 0)

    def json(self) -> dict:
        t: dict[str, object] = {"type": self.type}
        if not self.repeated and self.show_default:
            t["default_value"] = self.default
        if self.choices:
            t["choices"] = list(self.choices)
        single = {"id": self.id, "name": self.name, "repeated": self.repeated, "annotations": [], "type": t}
        return {"mandatory": False, "read_only": self.read_only, "singleton": single}

    def check(self, table: str, value: Value) -> Value:
        if self.read_only:
            raise ValueError(f"{table}: {self.name} is read-only")
        if self.bits and not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << self.bits):
            raise ValueError(f"{table}: {self.name} must be a {self.bits}-bit unsigned integer, not {value!r}")
        if self.type == "bool" and not isinstance(value, bool):
            raise ValueError(f"{table}: {self.name} must be a bool, not {value!r}")
        if self.type == "string" and self.choices and value not in self.choices:
            raise ValueError(f"{table}: {self.name} must be one of {', '.join(self.choices)}, not {value!r}")
        return value


@dataclass(frozen=True)
class Key:
    id: int
    name: str
    type: str
    limit: int  # valid values 0..limit-1

    def json(self) -> dict:
        return {"id": self.id, "name": self.name, "repeated": False, "annotations": [], "mandatory": True,
                "match_type": "Exact", "type": {"type": self.type}}


@dataclass
class FixedTable:
    name: str
    id: int
    table_type: str
    keys: tuple[Key, ...]
    fields: tuple[Field, ...]
    size: int = 512
    per_pipe: bool = False  # TM queue tables: the request's target names one pipe; keys are within it
    rows: dict[tuple[int, ...], dict[str, Value]] = field(default_factory=dict)

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)

    def field_by_id(self, fid: int) -> Field:
        for f in self.fields:
            if f.id == fid:
                return f
        raise ValueError(f"{self.name}: no data field id {fid}")

    def schema(self) -> dict:
        return {
            "name": self.name, "id": self.id, "table_type": self.table_type, "size": self.size,
            "annotations": [], "depends_on": [], "has_const_default_action": False,
            "key": [k.json() for k in self.keys], "action_specs": [], "data": [f.json() for f in self.fields],
            "supported_operations": [], "attributes": [],
        }

    def defaults(self, key: tuple[int, ...]) -> dict[str, Value]:
        row = {f.name: f.default for f in self.fields}
        if self.name == PORT_CFG.name:  # the default carving (module docstring)
            _, pg_id, base = port_queue(key[0])
            row.update(pg_id=pg_id, pg_port_nr=(key[0] & 0x7F) % PORTS_PER_PG,
                       ingress_qid_map=[i % QUEUES_PER_PORT for i in range(LOGICAL_QIDS)],
                       egress_qid_queues=[base + i % QUEUES_PER_PORT for i in range(LOGICAL_QIDS)])
        return row

    def label(self, key: tuple[int, ...]) -> str:
        text = ", ".join(f"{n} {v}" for n, v in zip(("pipe", *self.key_names) if self.per_pipe else self.key_names,
                                                    key, strict=True))
        return text


PORT = FixedTable("$PORT", 0x7F000010, "PortConfigure", (Key(1, "$DEV_PORT", "uint32", 512),), (
    Field(1, "$SPEED", "string", "BF_SPEED_10G", SPEEDS),
    Field(2, "$FEC", "string", "BF_FEC_TYP_NONE", FECS),
    Field(3, "$PORT_ENABLE", "bool", True),
))
DEV_PORT = (Key(1, "dev_port", "uint32", 512),)
PORT_CFG = FixedTable("tf1.tm.port.cfg", 0xFF050010, "TmPortCfg", DEV_PORT, (
    Field(1, "pg_id", "uint8", 0, read_only=True),
    Field(2, "pg_port_nr", "uint8", 0, read_only=True),
    Field(3, "port_queues_count", "uint8", QUEUES_PER_PORT, read_only=True),
    Field(4, "ingress_qid_map", "uint8", [], read_only=True, repeated=True),
    Field(5, "egress_qid_queues", "uint8", [], read_only=True, repeated=True),
), size=288)
SCHED_CFG = FixedTable("tf1.tm.port.sched_cfg", 0xFF050016, "TmPortSchedCfg", DEV_PORT, (
    Field(1, "max_rate_enable", "bool", False),
    Field(2, "scheduling_speed", "string", "BF_SPEED_10G", SCHED_SPEEDS),
), size=288)
SCHED_SHAPING = FixedTable("tf1.tm.port.sched_shaping", 0xFF050017, "TmPortSchedShaping", DEV_PORT, (
    Field(1, "unit", "string", "BPS", UNITS),
    Field(2, "provisioning", "string", "UPPER", PROVISIONING),
    Field(3, "max_rate", "uint32", RATE_10G_KBPS),
    Field(4, "max_burst_size", "uint32", PORT_BURST),
), size=288)
PG_KEYS = (Key(1, "pg_id", "uint8", PG_PER_PIPE), Key(2, "pg_queue", "uint8", QUEUES_PER_PG))
QUEUE_SCHED = FixedTable("tf1.tm.queue.sched_cfg", 0xFF050025, "TmQueueSchedCfg", PG_KEYS, (
    Field(2, "min_rate_enable", "bool", False),
    Field(1, "min_priority", "string", "LOW", PRIORITIES),
    Field(5, "max_rate_enable", "bool", False),
    Field(4, "max_priority", "string", "LOW", PRIORITIES),
    Field(3, "dwrr_weight", "uint16", 1023),
    Field(6, "scheduling_enable", "bool", True),
), size=2304, per_pipe=True)
QUEUE_SHAPING = FixedTable("tf1.tm.queue.sched_shaping", 0xFF050026, "TmQueueSchedShaping", PG_KEYS, (
    Field(1, "unit", "string", "BPS", UNITS),
    Field(2, "provisioning", "string", "UPPER", PROVISIONING),
    Field(3, "min_rate", "uint32", 0),
    Field(4, "min_burst_size", "uint32", Q_BURST),
    Field(5, "max_rate", "uint32", RATE_10G_KBPS),
    Field(6, "max_burst_size", "uint32", Q_BURST),
), size=2304, per_pipe=True)
SKUS = ("UNKNOWN", "BFN-T10-064Q", "BFN-T10-032Q", "BFN-T10-032D", "BFN-T10-032D-020", "BFN-T10-032D-018",
        "BFN-T10-032D-012")
# bf_rt_dev_tf1.json: one keyless row, read as the default entry (bf_rt_dev_table_impl.cpp tableDefaultEntryGet).
DEV_CONFIG = FixedTable("tf1.dev.device_configuration", 0xFF060001, "DevConfigure", (), (
    Field(1, "sku", "string", "UNKNOWN", SKUS, read_only=True),
    *(Field(i, n, "uint32", 0, read_only=True, show_default=False) for i, n in (
        (2, "num_pipes"), (3, "num_stages"), (4, "num_max_ports"), (5, "num_front_ports"), (6, "pcie_cpu_port"))),
    *(Field(i, n, "uint32", [], read_only=True, repeated=True) for i, n in (
        (7, "eth_cpu_port_list"), (8, "internal_port_list"), (9, "external_port_list"), (10, "recirc_port_list"))),
    Field(11, "intr_based_link_monitoring", "bool", False, read_only=True, show_default=False),
    Field(12, "flow_learn_intr_mode", "bool", False),
    Field(13, "lrt_dr_timeout_usec", "uint32", 0),
    Field(14, "flow_learn_timeout_usec", "uint32", 500),
    Field(15, "inactive_node_delete", "bool", False),
    Field(16, "selector_member_order", "bool", False),
), size=1)
TEMPLATES = (PORT, PORT_CFG, SCHED_CFG, SCHED_SHAPING, QUEUE_SCHED, QUEUE_SHAPING, DEV_CONFIG)


def device_configuration(num_pipes: int) -> dict[str, Value]:
    """The row a Tofino 1 of `num_pipes` pipes reports. The port numbers are the SDE's: Ethernet CPU ports
    64..67, the PCIe CPU port on local port 64 of pipe 2 (4 pipes) or 1 (2 pipes) (bf_pcie_cpu_port_get), the
    recirculation ports of bf_pm_recirc_devports_get; front-panel ports are local 0..63 of every pipe
    (16 QSFP cages a pipe, the 064Q/032Q SKUs). The emulator has no internal ports."""
    if num_pipes not in (1, 2, 4):
        raise ValueError(f"num_pipes {num_pipes}: a Tofino 1 has 1, 2 or 4 pipes")
    if num_pipes == 4:
        recirc = [*range(68, 72), *range(192, 200), *range(324, 328), *range(448, 456)]
    else:
        recirc = [(p << 7) | (68 + i) for p in range(num_pipes) for i in range(4)]
    return {
        "sku": "BFN-T10-064Q" if num_pipes == 4 else "BFN-T10-032Q", "num_pipes": num_pipes, "num_stages": 12,
        "num_max_ports": num_pipes * 72, "num_front_ports": num_pipes * 16,
        "pcie_cpu_port": (min(2, num_pipes - 1) << 7) | 64, "eth_cpu_port_list": [64, 65, 66, 67],
        "internal_port_list": [], "external_port_list": [(p << 7) | i for p in range(num_pipes) for i in range(64)],
        "recirc_port_list": recirc, "intr_based_link_monitoring": False, "flow_learn_intr_mode": False,
        "lrt_dr_timeout_usec": 0, "flow_learn_timeout_usec": 500, "inactive_node_delete": False,
        "selector_member_order": False,
    }
QUEUE_SCHED_NAME = QUEUE_SCHED.name


@dataclass(frozen=True)
class QueueSched:
    """What the traffic manager needs of one queue's two TM rows."""

    priority: int = 0  # max_priority level: higher served first (remaining-bandwidth priority)
    weight: int = 1023  # DWRR weight among queues of one priority level
    enabled: bool = True  # scheduling_enable: false = never served
    max_rate_bps: int = 0  # 0: no max-rate shaper
    max_burst_bytes: int = Q_BURST


class DeviceTables:
    """Rows of the fixed tables, and the hooks that make them act on the data plane."""

    def __init__(self, num_pipes: int = N_PIPES) -> None:
        self.num_pipes = num_pipes  # the device's pipes (srchain switch run --num-pipes)
        self.tables = {t.id: FixedTable(t.name, t.id, t.table_type, t.keys, t.fields, t.size, t.per_pipe)
                       for t in TEMPLATES}
        self.by_name = {t.name: t for t in self.tables.values()}
        self.set_rate: Callable[[int, int, int], None] = lambda port, rate_bps, burst: None
        self.set_enabled: Callable[[int, bool], None] = lambda port, enabled: None
        self.set_queue: Callable[[int, int, QueueSched], None] = lambda port, qid, sched: None
        self.ports: set[int] = set()
        self.pktgen = PacketGenerator(time.monotonic_ns, num_pipes)  # tf1.pktgen.*: served by the server through it
        self.up: dict[int, bool] = {}  # port -> up, to tell the packet generator when one goes down
        self.set_num_pipes(num_pipes)

    def set_num_pipes(self, num_pipes: int) -> None:
        """What `tf1.dev.device_configuration` reports (`srchain switch run --num-pipes`)."""
        self.by_name[DEV_CONFIG.name].rows[()] = device_configuration(num_pipes)

    def schemas(self) -> list[dict]:
        return [t.schema() for t in self.tables.values()] + self.pktgen.schemas()

    def attach(self, ports: list[int], set_rate: Callable[[int, int, int], None],
               set_enabled: Callable[[int, bool], None],
               set_queue: Callable[[int, int, QueueSched], None] | None = None) -> None:
        """Called by the data plane: its ports get rows, and changes reach its traffic manager."""
        self.set_rate, self.set_enabled = set_rate, set_enabled
        if set_queue is not None:
            self.set_queue = set_queue
        self.ports = set(ports)
        for t in self.tables.values():
            if not t.per_pipe and t.keys:
                for p in ports:
                    t.rows.setdefault((p,), t.defaults((p,)))
        for p in ports:
            for q in range(QUEUES_PER_PORT):
                self._queue_effect(*port_queue(p, q))

    def preset_rate(self, port: int, rate_bps: int, burst_bytes: int) -> None:
        """A rate from ports.json: shown in the tables as if a client had configured it."""
        self.by_name[SCHED_CFG.name].rows[(port,)]["max_rate_enable"] = True
        shaping = self.by_name[SCHED_SHAPING.name].rows[(port,)]
        shaping["max_rate"], shaping["max_burst_size"] = max(1, rate_bps // 1000), burst_bytes
        self._effect(port)

    # ------------------------------------------------------------ keys
    def _pipe_key(self, t: FixedTable, pipe: int, key: tuple[int, ...]) -> tuple[int, ...]:
        if pipe == PIPE_ALL or not 0 <= pipe < self.num_pipes:  # bf_rt_tm_table_impl.cpp singlePipe_validate
            raise ValueError(f"{t.name}: pipe_id {pipe:#x} is not one pipe of 0..{self.num_pipes - 1} (the TM queue "
                             "tables take a single pipe)")
        for k, v in zip(t.keys, key, strict=True):  # bf_tm_pg_port_queue_get: BF_TM_INVALID_ARG
            if not 0 <= v < k.limit:
                raise ValueError(f"{t.name}: {k.name} {v} out of range 0..{k.limit - 1}")
        return (pipe, *key)

    def _row(self, t: FixedTable, key: tuple[int, ...]) -> dict[str, Value]:
        row = t.rows.get(key)
        return row if row is not None else t.defaults(key)

    # ------------------------------------------------------------ writes
    def write(self, table_id: int, utype: str, key: tuple[int, ...], values: dict[int, Value],
              pipe: int = PIPE_ALL) -> Callable[[], None]:
        """One update; returns the undo. Port tables: INSERT | MODIFY | INSERT_OR_MODIFY | DELETE of a row (a TM
        port row cannot go away: DELETE resets it; a `$PORT` DELETE removes the port until INSERTed). TM queue
        tables: MODIFY of one row, or DELETE without a key (reset the pipe's rows)."""
        t = self.tables[table_id]
        if t.per_pipe:
            return self._write_queue(t, utype, key, values, pipe)
        if t.name == DEV_CONFIG.name:
            return self._write_dev_config(t, utype, values)
        if len(key) != len(t.keys):
            raise ValueError(f"{t.name} key is {', '.join(t.key_names)}")
        if key[0] not in self.ports:
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
            new = self._merged(t, dict(old or t.defaults(key)), values)
            if t.name == SCHED_SHAPING.name and new["unit"] != "BPS":
                raise Unsupported(f"{t.name}: unit {new['unit']}: the emulator shapes in BPS only")
            if t.name == SCHED_CFG.name and old is not None and new["scheduling_speed"] != old["scheduling_speed"]:
                raise Unsupported(f"{t.name}: scheduling_speed {new['scheduling_speed']}: the emulator does not "
                                  "change a port's scheduler speed (it is the port's $SPEED on a Tofino)")
        self._set(t, key, new)
        return lambda: self._set(t, key, old)

    def _write_dev_config(self, t: FixedTable, utype: str, values: dict[int, Value]) -> Callable[[], None]:
        """The default entry's writable fields (bf_rt_dev_table_impl.cpp tableDefaultEntrySet / Reset).
        `selector_member_order` is kept: the emulator's selector groups always read back in the order written,
        which is what true asks for and one of the orders false allows. The flow-learn, LRT and inactive-node
        settings drive machinery the emulator does not have: a write that changes them is refused."""
        old = t.rows[()]
        if utype == "DELETE":  # tableDefaultEntryReset
            new = {**old, "selector_member_order": False}
        elif utype in ("MODIFY", "INSERT_OR_MODIFY"):
            new = self._merged(t, dict(old), values)
            changed = [n for n in ("flow_learn_intr_mode", "lrt_dr_timeout_usec", "flow_learn_timeout_usec",
                                   "inactive_node_delete") if new[n] != old[n]]
            if changed:
                raise Unsupported(f"{t.name}: {', '.join(changed)}: not modelled (the emulator has no flow-learn "
                                  "timer, LRT descriptor ring or inactive-node handling)")
        else:
            raise Unsupported(f"{t.name}: {utype}: the table has only its default entry (MODIFY, or DELETE to "
                              "reset it)")
        t.rows[()] = new
        return lambda: t.rows.__setitem__((), old)

    @staticmethod
    def _merged(t: FixedTable, row: dict[str, Value], values: dict[int, Value]) -> dict[str, Value]:
        for fid, v in values.items():
            f = t.field_by_id(fid)
            row[f.name] = f.check(t.name, v)
        return row

    def _write_queue(self, t: FixedTable, utype: str, key: tuple[int, ...], values: dict[int, Value],
                     pipe: int) -> Callable[[], None]:
        if utype == "DELETE" and not key:  # tableClear -> tableReset: every row of the pipe to its default
            self._pipe_key(t, pipe, (0, 0))
            old_rows = {k: r for k, r in t.rows.items() if k[0] == pipe}
            for k in old_rows:
                self._set(t, k, None)

            def undo() -> None:
                for k, r in old_rows.items():
                    self._set(t, k, r)
            return undo
        if utype != "MODIFY":  # bf_rt_tm_table_impl_queue.cpp has tableEntryMod only
            raise Unsupported(f"{t.name}: {utype} is not implemented for TM tables (MODIFY a row; DELETE without "
                              "a key resets the pipe's rows)")
        if len(key) != len(t.keys):
            raise ValueError(f"{t.name} key is {', '.join(t.key_names)}")
        full = self._pipe_key(t, pipe, key)
        if not values:  # tableEntryMod: "No active data fields with values are given"
            raise ValueError(f"{t.name}: no data fields given")
        old = t.rows.get(full)
        new = self._merged(t, dict(self._row(t, full)), values)
        for name in ("max_priority", "min_priority"):  # stored as the SDE's enum: read back through prio_to_str
            if name in new:
                new[name] = PRIO_NAME[PRIO_LEVEL[str(new[name])]]
        if t.name == QUEUE_SCHED.name and new["min_rate_enable"]:
            raise Unsupported(f"{t.name}: min_rate_enable: the emulator does not model the guaranteed (min) "
                              "rate; leave it false")
        if t.name == QUEUE_SHAPING.name and new["unit"] != "BPS":
            raise Unsupported(f"{t.name}: unit {new['unit']}: the emulator shapes in BPS only")
        self._set(t, full, None if new == t.defaults(full) else new)
        return lambda: self._set(t, full, old)

    def read(self, table_id: int, key: tuple[int, ...] | None, pipe: int = 0) \
            -> list[tuple[tuple[int, ...], dict[int, Value]]]:
        """Rows as (key without the pipe, {field id: value})."""
        t = self.tables[table_id]
        out = []
        for k, row in self._rows(t, key, pipe):
            out.append((k[1:] if t.per_pipe else k, {f.id: row[f.name] for f in t.fields}))
        return out

    def _rows(self, t: FixedTable, key: tuple[int, ...] | None, pipe: int) \
            -> Iterator[tuple[tuple[int, ...], dict[str, Value]]]:
        if t.per_pipe:
            if key is None:
                self._pipe_key(t, pipe, (0, 0))
                for pg in range(PG_PER_PIPE):
                    for q in range(QUEUES_PER_PG):
                        yield (pipe, pg, q), self._row(t, (pipe, pg, q))
                return
            full = self._pipe_key(t, pipe, key)
            yield full, self._row(t, full)
            return
        if t.name == PORT_CFG.name:  # every TM port of every pipe, port_add or not (the SDE carves them at init)
            every = [(p << 7) | local for p in range(self.num_pipes) for local in range(PG_PER_PIPE * PORTS_PER_PG)]
            for k in [(p,) for p in every] if key is None else [key]:
                if k[0] not in every:
                    raise ValueError(f"{t.name}: dev_port {k[0]} is not a TM port (pipe 0..{self.num_pipes - 1}, local "
                                     f"port 0..{PG_PER_PIPE * PORTS_PER_PG - 1})")
                yield k, t.defaults(k)
            return
        for k in sorted(t.rows) if key is None else [key]:
            row = t.rows.get(k)
            if row is None:
                raise R.EntryNotFound(f"{t.name}: no row for {t.label(k)}")
            yield k, row

    def _set(self, t: FixedTable, key: tuple[int, ...], row: dict[str, Value] | None) -> None:
        if row is None:
            t.rows.pop(key, None)
        else:
            t.rows[key] = row
        if t.per_pipe:
            self._queue_effect(*key)
        else:
            self._effect(key[0])

    def _queue_effect(self, pipe: int, pg_id: int, pg_queue: int) -> None:
        port, qid = queue_port(pipe, pg_id, pg_queue)
        if port not in self.ports:
            return
        key = (pipe, pg_id, pg_queue)
        cfg = self._row(self.by_name[QUEUE_SCHED.name], key)
        shaping = self._row(self.by_name[QUEUE_SHAPING.name], key)
        rate = _int(shaping["max_rate"]) * 1000 if cfg["max_rate_enable"] else 0
        self.set_queue(port, qid, QueueSched(PRIO_LEVEL[str(cfg["max_priority"])], _int(cfg["dwrr_weight"]),
                                             bool(cfg["scheduling_enable"]), rate, _int(shaping["max_burst_size"])))

    def link_changed(self, port: int, up: bool) -> None:
        """The port's interface lost (or got back) its link, as tofino-model sees a veth going down: a port going
        down, for the packet generator's port-down apps, as a `$PORT_ENABLE` false is."""
        if not up and port in self.ports:
            self.pktgen.port_down(port)

    def _effect(self, port: int) -> None:
        port_row = self.by_name["$PORT"].rows.get((port,))
        up = bool(port_row and port_row["$PORT_ENABLE"])
        if not up and self.up.get(port, True):  # a port going down: the packet generator's port-down apps
            self.pktgen.port_down(port)
        self.up[port] = up
        self.set_enabled(port, up)
        cfg = self.by_name[SCHED_CFG.name].rows.get((port,))
        shaping = self.by_name[SCHED_SHAPING.name].rows.get((port,))
        if cfg and shaping and cfg["max_rate_enable"] and _int(shaping["max_rate"]) > 0:
            self.set_rate(port, _int(shaping["max_rate"]) * 1000, _int(shaping["max_burst_size"]))
        else:
            self.set_rate(port, 0, PORT_BURST)
