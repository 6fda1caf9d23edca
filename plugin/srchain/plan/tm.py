"""The SDE's Tofino 1 traffic-manager tables the planner writes, and where a port's queues live in them.

The priority module only picks a queue (`ig_tm_md.qid`); what a queue gets is the TM's scheduler. A Tofino 1
schedules every queue at priority 0 with DWRR weight 1023 by default (open-p4studio
`pkgsrc/bf-drivers/src/traffic_mgr/init/tm_tofino_default.c`, `bf_tm_tofino_set_sch_default_for_q`): queues
share a port round robin, nothing is strict priority. So the plan writes `tf1.tm.queue.sched_cfg` rows that
give the queues a priority segment uses a strict priority above queue 0 on the ports its switch sends by.

Queue rows are keyed by port group and port-group queue, one pipe at a time (`bf_rt_tm_tf1.json`: keys
`pg_id`, `pg_queue`; `bf_rt_tm_table_impl.cpp` `singlePipe_validate`). With the SDE's default carving (8
queues a port, `tm_tofino_default.c` `bf_tm_port_q_mapping_set(..., BF_TM_TOFINO_MIN_QUEUES_PER_PORT, NULL)`;
4 ports a group, `tm_tofino.h`; a port's first queue `pg_port_nr * 8`, `tm_queue.c`
`bf_tm_q_get_base_queue`; qid i -> port queue i % 8), queue q of dev_port p is pipe p >> 7, `pg_id`
(p & 0x7F) // 4, `pg_queue` ((p & 0x7F) % 4) * 8 + q — what the switch's `tf1.tm.port.cfg` reads back
(`egress_qid_queues`). The plan's key carries the pipe as `pipe`: not a BF Runtime key field but the write's
target pipe_id (the switch driver sends it so).

The l4s module's bottleneck is the switch's own egress port: its segment's `port_rate_kbps` becomes the port
shaper (`tf1.tm.port.sched_shaping` `max_rate` + `tf1.tm.port.sched_cfg` `max_rate_enable`, keyed by `dev_port`,
not per pipe: the plan key still carries the port's pipe, which the write targets), and its two queues share the
port by DWRR with the classic queue guaranteed a tenth (weights 1023, the default, and 114: the plan writes the
classic queue's row only; RFC 9332 s4.2.2's conditional priority, Linux dualpi2's `classic_protection` 10 %).

These are fixed tables: every row always exists. The plan writes whole rows (every writable field, the
SDE's defaults where the plan wants nothing else), so reading one back compares field for field; removing
an entry puts the SDE's defaults back.
"""

from __future__ import annotations

from srchain.plan.model import JsonValue, Key

QUEUE_SCHED = "tf1.tm.queue.sched_cfg"
PIPE = "pipe"  # the BF Runtime target's pipe_id, carried in the plan's key
PORTS_PER_PG = 4
QUEUES_PER_PORT = 8
PIPES = 4  # the most a Tofino 1 has

# Writable fields of tf1.tm.queue.sched_cfg (bf_rt_tm_tf1.json) and their Tofino 1 defaults
# (bf_tm_tofino_sch_q_get_defaults); a priority of 0 reads back as "LOW" (bf_rt_tm_table_helper_sched.cpp
# prio_to_str keeps the first of BF_TM_SCH_PRIO_LOW == BF_TM_SCH_PRIO_0).
QUEUE_SCHED_DEFAULTS: dict[str, JsonValue] = {
    "min_rate_enable": False,
    "min_priority": "LOW",
    "max_rate_enable": False,
    "max_priority": "LOW",
    "dwrr_weight": 1023,
    "scheduling_enable": True,
}
PORT_SCHED = "tf1.tm.port.sched_cfg"
PORT_SHAPING = "tf1.tm.port.sched_shaping"
# Only the field the plan needs: `scheduling_speed` follows the port's speed and is left alone.
PORT_SCHED_DEFAULTS: dict[str, JsonValue] = {"max_rate_enable": False}
# A 10G port's defaults (BF_TM_RATE_10G, BF_TM_PORT_SCH_BURST_SIZE); unused while max_rate_enable is false.
PORT_SHAPING_DEFAULTS: dict[str, JsonValue] = {
    "unit": "BPS",
    "provisioning": "UPPER",
    "max_rate": 10_000_000,
    "max_burst_size": 9216,
}
DEFAULTS: dict[str, dict[str, JsonValue]] = {
    QUEUE_SCHED: QUEUE_SCHED_DEFAULTS,
    PORT_SCHED: PORT_SCHED_DEFAULTS,
    PORT_SHAPING: PORT_SHAPING_DEFAULTS,
}
TABLES = frozenset(DEFAULTS)
PER_PIPE = frozenset({QUEUE_SCHED})  # keys within one pipe; the port tables are keyed by the device port
L4S_WEIGHT, CLASSIC_WEIGHT = 1023, 114  # DWRR: the classic queue keeps 114 / 1137 = 10 % under L4S load


def queue_key(dev_port: int, qid: int) -> Key:
    """The plan key of queue `qid` of `dev_port` under the SDE's default carving (module docstring)."""
    local = dev_port & 0x7F
    return {PIPE: dev_port >> 7, "pg_id": local // PORTS_PER_PG,
            "pg_queue": (local % PORTS_PER_PG) * QUEUES_PER_PORT + qid % QUEUES_PER_PORT}


def priority_name(level: int) -> str:
    """A scheduling priority level 0..7 as the SDE reads it back ("LOW" for 0)."""
    return "LOW" if level == 0 else str(level)


def port_key(dev_port: int) -> Key:
    """The plan key of a port-level TM row: the port, and its pipe for the write's target."""
    return {PIPE: dev_port >> 7, "dev_port": dev_port}


def shaping_burst(rate_kbps: int) -> int:
    """The port shaper's bucket: a millisecond at the rate, at least one full frame (a bigger burst would hold a
    queue for longer than the L4S step threshold's default)."""
    return max(1600, rate_kbps // 8)
