"""Names of the tables and actions the planner writes: the contract with p4/ and proxy/.

The P4 names come from `srchain.plan.p4names`, generated from the compiled bf-rt.json (`p4/gen-constants`):
a table or action renamed in p4/ no longer exists there and this module fails to import; the tests check
every planned entry's fields and widths against it. Names are bf-rt.json names without the `pipe.` prefix
(a BF Runtime client accepts any unique suffix). docs/architecture.md lists the same contract with widths.
"""

from __future__ import annotations

from srchain.plan import p4names as P

# --- P4 SR node (p4/) -------------------------------------------------------------------------
CLASSIFIER = P.SWITCH_INGRESS_CLASSIFIER_RULES  # ternary 5-tuple (+ingress port, lb bucket) -> push stack
CLASSIFIER_PUSH = "SwitchIngress.classifier.push_{n}"  # data: ttl, label_0 (top) .. label_{n-1} (bottom)
# The same SIDs in both, looked up side by side (top label, label below): each table has its own actions, which
# record what the lookup found in their own metadata (p4/control/sr.p4).
LOCAL_SID_TABLES = (P.SWITCH_INGRESS_SR_LOCAL_SID_0, P.SWITCH_INGRESS_SR_LOCAL_SID_1)
LOCAL_SID_ACTIONS = {
    P.SWITCH_INGRESS_SR_LOCAL_SID_0: {
        "flow-features": P.SWITCH_INGRESS_SR_POP_FLOW_FEATURES,  # data: sid, report_every
        "priority": P.SWITCH_INGRESS_SR_POP_PRIORITY,  # data: sid
        "l4s": P.SWITCH_INGRESS_SR_POP_L4S,  # data: sid
    },
    P.SWITCH_INGRESS_SR_LOCAL_SID_1: {
        "flow-features": P.SWITCH_INGRESS_SR_SECOND_FLOW_FEATURES,
        "priority": P.SWITCH_INGRESS_SR_SECOND_PRIORITY,
        "l4s": P.SWITCH_INGRESS_SR_SECOND_L4S,
    },
}
SID_FORWARD = P.SWITCH_INGRESS_SR_SID_FORWARD  # exact label -> egress port + next-hop MAC
SID_FORWARD_ACTION = P.SWITCH_INGRESS_SR_FORWARD  # data: port, dst_mac
ROUTES = P.SWITCH_INGRESS_IPV4_ROUTES  # lpm dst_addr, after the bottom label is popped
ROUTE_ACTION = P.SWITCH_INGRESS_IPV4_ROUTE  # data: port, dst_mac
REPORT_SESSION = P.SWITCH_INGRESS_FLOW_FEATURES_REPORT_SESSION  # (flow-features SID, lb bucket) -> report group
REPORT_SESSION_ACTION = P.SWITCH_INGRESS_FLOW_FEATURES_SET_REPORT_GROUP  # data: group (a multicast group id)
REPORT_ENCAP = P.SWITCH_EGRESS_REPORT_ENCAP  # (flow-features SID, lb bucket) -> push the report stack
REPORT_PUSH = "SwitchEgress.report.push_{n}"  # data: ttl, src_mac, dst_mac, label_0 .. label_{n-1}
REPORT_ADDRESSES = P.SWITCH_EGRESS_REPORT_ADDRESSES  # flow-features SID -> the report's IPv4 addresses
REPORT_ADDRESSES_ACTION = P.SWITCH_EGRESS_REPORT_SET_ADDRESSES  # data: switch_id, src_addr, dst_addr
QUEUE_MAP = P.SWITCH_INGRESS_PRIORITY_QUEUE_MAP  # (priority SID, class id) -> qid
QUEUE_MAP_ACTION = P.SWITCH_INGRESS_PRIORITY_SET_QID  # data: qid
# The l4s module (profile l4s; srchain.plan.l4s computes the data)
L4S_QUEUE_MAP = P.SWITCH_INGRESS_L4S_QUEUE_MAP  # (l4s SID, ECN codepoint) -> qid
L4S_QUEUE_MAP_ACTION = P.SWITCH_INGRESS_L4S_SET_QUEUE  # data: qid
L4S_CONFIG = P.SWITCH_EGRESS_L4S_CONFIG  # l4s SID -> the AQM's parameters
L4S_CONFIG_ACTION = P.SWITCH_EGRESS_L4S_SET_CONFIG  # data: step_threshold_ns, interval_1024ns, coupling_log2
L4S_PI = P.SWITCH_EGRESS_L4S_PI_TERMS  # (l4s SID, queue-delay bucket) -> the PI2 terms
L4S_PI_ACTION = P.SWITCH_EGRESS_L4S_SET_TERMS  # data: now, prev
# Fixed (non-P4) tables of the SDE's packet replication engine (bf_rt_pre_tf1.json): the report copy of a
# packet goes to the multicast group of its report port, whose one node has RID REPORT_RID.
PRE_NODE = "$pre.node"  # key $MULTICAST_NODE_ID; data $MULTICAST_RID, $MULTICAST_LAG_ID[], $DEV_PORT[]
PRE_MGID = "$pre.mgid"  # key $MGID; data $MULTICAST_NODE_ID[], $MULTICAST_NODE_L1_XID_VALID[], $MULTICAST_NODE_L1_XID[]
PRE_ACTION = ""  # the PRE tables have no actions
REPORT_RID = 0xFEED  # p4/include/defines.p4 REPORT_RID: egress builds a report from a copy with this RID
# The finished report leaves as an E2E mirror of itself, truncated to the report (defines.p4): the session of
# a report port is REPORT_SESSION_BASE + port, direction EGRESS.
MIRROR_CFG = "$mirror.cfg"
MIRROR_ACTION = "$normal"
REPORT_SESSION_BASE = 1

MAX_LOCAL_POPS = len(LOCAL_SID_TABLES)  # local SIDs a packet can pop in one pass through a switch
LB_BUCKET_BITS = P.KEYS[CLASSIFIER]["lb_bucket"][1]  # the SR node hashes the 5-tuple into 2^bits buckets
# The deepest stack a switch can push (one push_<n> action per depth, n = 1..MSD of the compiled program).
MAX_PUSH = min(sum(a.startswith(push.format(n="")) for a in P.ACTIONS[table])
               for table, push in ((CLASSIFIER, CLASSIFIER_PUSH), (REPORT_ENCAP, REPORT_PUSH)))
# Bytes kept of a report: the mirror header, Ethernet, the deepest report stack, IPv4, UDP, the record.
REPORT_TRUNCATE = 1 + 14 + 4 * MAX_PUSH + 20 + 8 + 72
MATCH_PRIORITY_MAX = 65535  # BF Runtime: a lower $MATCH_PRIORITY wins; spec priority: higher wins
REPORT_GROUP_BASE = 1  # report multicast group id (and its node id) = base + the report port
# The priority module's decision fan-out (p4/include/defines.p4 DECISION_MGID, DECISION_RID): registers are per
# pipe on a Tofino, so a valid decision goes, one copy per pipe of the switch's ports, to that pipe's
# recirculation port and writes the registers there (docs/p4.md "Pipes").
DECISION_GROUP = 0xDEC1  # the MGID and its one node's id
DECISION_RID = 0xDEC1
RECIRC_LOCAL_PORT = 68  # Tofino 1: a pipe's recirculation port is RECIRC_LOCAL_PORT + 128 * pipe
PIPE_SHIFT = 7  # a device port's pipe: dev_port >> PIPE_SHIFT
# Tables whose entries other entries of the same phase name (an MGID names its nodes): written first,
# deleted last (the SDE refuses an MGID whose node does not exist yet).
# A port's shaper before its enable ($mirror.cfg sessions stand alone: default rank).
WRITE_RANK = {PRE_NODE: 0, PRE_MGID: 1, "tf1.tm.port.sched_shaping": 0}
WRITE_RANK_DEFAULT = 2


def write_rank(table: str, op: str) -> int:
    """Order of an operation on `table` among the same phase's operations of one kind."""
    rank = WRITE_RANK.get(table, WRITE_RANK_DEFAULT)
    return -rank if op == "delete" else rank

# --- SR proxy (proxy/) ------------------------------------------------------------------------
PROXY_SID = "sid"  # key: sid; action: static | dynamic
PROXY_ATTACHMENT = "attachment"  # key: vnf; action: attach

# Entries whose change redirects *new* packets to a chain version: changed last (make-before-break).
FLIP_ROLES = frozenset({"classifier", "report_session", "report_encap"})
