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
LOCAL_SID_TABLES = (P.SWITCH_INGRESS_SR_LOCAL_SID_0, P.SWITCH_INGRESS_SR_LOCAL_SID_1)  # same entries in both
LOCAL_SID_ACTION = {
    "flow-features": P.SWITCH_INGRESS_SR_POP_FLOW_FEATURES,  # data: report_every
    "priority": P.SWITCH_INGRESS_SR_POP_PRIORITY,
}
SID_FORWARD = P.SWITCH_INGRESS_SR_SID_FORWARD  # exact label -> egress port + next-hop MAC
SID_FORWARD_ACTION = P.SWITCH_INGRESS_SR_FORWARD  # data: port, dst_mac
ROUTES = P.SWITCH_INGRESS_IPV4_ROUTES  # lpm dst_addr, after the bottom label is popped
ROUTE_ACTION = P.SWITCH_INGRESS_IPV4_ROUTE  # data: port, dst_mac
REPORT_SESSION = P.SWITCH_INGRESS_FLOW_FEATURES_REPORT_SESSION  # (flow-features SID, lb bucket) -> mirror session
REPORT_SESSION_ACTION = P.SWITCH_INGRESS_FLOW_FEATURES_SET_REPORT_SESSION  # data: session
REPORT_ENCAP = P.SWITCH_EGRESS_REPORT_ENCAP  # (flow-features SID, lb bucket) -> push the report stack
REPORT_PUSH = "SwitchEgress.report.push_{n}"  # data: ttl, src_mac, dst_mac, label_0 .. label_{n-1}
REPORT_ADDRESSES = P.SWITCH_EGRESS_REPORT_ADDRESSES  # flow-features SID -> the report's IPv4 addresses
REPORT_ADDRESSES_ACTION = P.SWITCH_EGRESS_REPORT_SET_ADDRESSES  # data: switch_id, src_addr, dst_addr
QUEUE_MAP = P.SWITCH_INGRESS_PRIORITY_QUEUE_MAP  # (priority SID, class id) -> qid
QUEUE_MAP_ACTION = P.SWITCH_INGRESS_PRIORITY_SET_QID  # data: qid
MIRROR_CFG = "$mirror.cfg"  # fixed (non-P4) table of the SDE
MIRROR_ACTION = "$normal"

MAX_LOCAL_POPS = len(LOCAL_SID_TABLES)  # local SIDs a packet can pop in one pass through a switch
LB_BUCKET_BITS = P.KEYS[CLASSIFIER]["lb_bucket"][1]  # the SR node hashes the 5-tuple into 2^bits buckets
# The deepest stack a switch can push (one push_<n> action per depth, n = 1..MSD of the compiled program).
MAX_PUSH = min(sum(a.startswith(push.format(n="")) for a in P.ACTIONS[table])
               for table, push in ((CLASSIFIER, CLASSIFIER_PUSH), (REPORT_ENCAP, REPORT_PUSH)))
MATCH_PRIORITY_MAX = 65535  # BF Runtime: a lower $MATCH_PRIORITY wins; spec priority: higher wins
MIRROR_SESSION_BASE = 1  # report mirror session id = base + egress port

# --- SR proxy (proxy/) ------------------------------------------------------------------------
PROXY_SID = "sid"  # key: sid; action: static | dynamic
PROXY_ATTACHMENT = "attachment"  # key: vnf; action: attach

# Entries whose change redirects *new* packets to a chain version: changed last (make-before-break).
FLIP_ROLES = frozenset({"classifier", "report_session", "report_encap"})
