"""Rows of the SDE's fixed tables both P4 profiles' planners write the same way (SR-MPLS: builder.py, SRv6:
srv6.py): the priority module's decision group and a report port's PRE group and truncating mirror session."""

from __future__ import annotations

from srchain.plan import tables as T
from srchain.plan.model import Entry, JsonValue
from srchain.plan.topology import Topology

NO_ECMP: dict[str, JsonValue] = {"$MULTICAST_ECMP_ID": [], "$MULTICAST_ECMP_L1_XID_VALID": [],
                                 "$MULTICAST_ECMP_L1_XID": []}


def decision_group(topo: Topology, sw: str) -> list[Entry]:
    """The PRE group a valid decision is replicated by: one node whose ports are the recirculation ports of
    every pipe that holds a port of switch `sw` (data enters there only). Infrastructure entries."""
    inv_sw = topo.inv.switch(sw)
    pipes = sorted({p.port >> T.PIPE_SHIFT for p in inv_sw.ports}) if inv_sw is not None else [0]
    ports = [T.RECIRC_LOCAL_PORT + (pipe << T.PIPE_SHIFT) for pipe in pipes]
    return [
        Entry("switch", sw, T.PRE_NODE, {"$MULTICAST_NODE_ID": T.DECISION_GROUP}, T.PRE_ACTION,
              {"$MULTICAST_RID": T.DECISION_RID, "$MULTICAST_LAG_ID": [], "$DEV_PORT": ports}, "decision_node"),
        Entry("switch", sw, T.PRE_MGID, {"$MGID": T.DECISION_GROUP}, T.PRE_ACTION,
              {"$MULTICAST_NODE_ID": [T.DECISION_GROUP], "$MULTICAST_NODE_L1_XID_VALID": [False],
               "$MULTICAST_NODE_L1_XID": [0], **NO_ECMP}, "decision_group"),
    ]


def report_group(sw: str, port: int, truncate: int) -> tuple[int, list[Entry]]:
    """(group, entries): the report port's multicast group (one node, RID REPORT_RID) and the EGRESS mirror
    session that cuts the finished report to `truncate` bytes; one per report port, shared."""
    group = T.REPORT_GROUP_BASE + port
    return group, [
        Entry("switch", sw, T.PRE_NODE, {"$MULTICAST_NODE_ID": group}, T.PRE_ACTION,
              {"$MULTICAST_RID": T.REPORT_RID, "$MULTICAST_LAG_ID": [], "$DEV_PORT": [port]}, "report_node"),
        Entry("switch", sw, T.PRE_MGID, {"$MGID": group}, T.PRE_ACTION,
              {"$MULTICAST_NODE_ID": [group], "$MULTICAST_NODE_L1_XID_VALID": [False], "$MULTICAST_NODE_L1_XID": [0],
               **NO_ECMP}, "report_group"),
        Entry("switch", sw, T.MIRROR_CFG, {"$sid": T.REPORT_SESSION_BASE + port}, T.MIRROR_ACTION,
              {"$direction": "EGRESS", "$ucast_egress_port": port, "$ucast_egress_port_valid": True,
               "$session_enable": True, "$max_pkt_len": truncate}, "report_truncate"),
    ]
