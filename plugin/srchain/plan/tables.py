"""Names of the tables and actions the planner writes: the contract with p4/ and proxy/.

The P4 names are bf-rt.json names without the `pipe.` prefix (a BF Runtime client accepts any unique
suffix); keep them stable, the controller addresses tables by these names. docs/architecture.md
lists the same contract with key widths.
"""

from __future__ import annotations

# --- P4 SR node (p4/) -------------------------------------------------------------------------
CLASSIFIER = "SwitchIngress.classifier.rules"  # ternary 5-tuple (+ingress port, lb bucket) -> push stack
CLASSIFIER_PUSH = "SwitchIngress.classifier.push_{n}"  # data: ttl, label_0 (top) .. label_{n-1} (bottom)
LOCAL_SID_TABLES = ("SwitchIngress.sr.local_sid_0", "SwitchIngress.sr.local_sid_1")  # same entries in both
LOCAL_SID_ACTION = {
    "flow-features": "SwitchIngress.sr.pop_flow_features",  # data: report_every
    "priority": "SwitchIngress.sr.pop_priority",
}
SID_FORWARD = "SwitchIngress.sr.sid_forward"  # exact label -> egress port + next-hop MAC
SID_FORWARD_ACTION = "SwitchIngress.sr.forward"  # data: port, dst_mac
ROUTES = "SwitchIngress.ipv4.routes"  # lpm dst_addr, after the bottom label is popped
ROUTE_ACTION = "SwitchIngress.ipv4.route"  # data: port, dst_mac
REPORT_SESSION = "SwitchIngress.flow_features.report_session"  # (flow-features SID, lb bucket) -> mirror session
REPORT_SESSION_ACTION = "SwitchIngress.flow_features.set_report_session"  # data: session
REPORT_ENCAP = "SwitchEgress.report.encap"  # (flow-features SID, lb bucket) -> push the report stack
REPORT_PUSH = "SwitchEgress.report.push_{n}"  # data: ttl, src_mac, dst_mac, label_0 .. label_{n-1}
REPORT_ADDRESSES = "SwitchEgress.report.addresses"  # flow-features SID -> the report's IPv4 addresses
REPORT_ADDRESSES_ACTION = "SwitchEgress.report.set_addresses"  # data: switch_id, src_addr, dst_addr
QUEUE_MAP = "SwitchIngress.priority.queue_map"  # (priority SID, class id) -> qid
QUEUE_MAP_ACTION = "SwitchIngress.priority.set_qid"  # data: qid
MIRROR_CFG = "$mirror.cfg"  # fixed (non-P4) table of the SDE
MIRROR_ACTION = "$normal"

MAX_LOCAL_POPS = len(LOCAL_SID_TABLES)  # local SIDs a packet can pop in one pass through a switch
LB_BUCKET_BITS = 4  # the SR node hashes the 5-tuple into 16 load-balancing buckets
MATCH_PRIORITY_MAX = 65535  # BF Runtime: a lower $MATCH_PRIORITY wins; spec priority: higher wins
MIRROR_SESSION_BASE = 1  # report mirror session id = base + egress port

# --- SR proxy (proxy/) ------------------------------------------------------------------------
PROXY_SID = "sid"  # key: sid; action: static | dynamic
PROXY_ATTACHMENT = "attachment"  # key: vnf; action: attach

# Entries whose change redirects *new* packets to a chain version: changed last (make-before-break).
FLIP_ROLES = frozenset({"classifier", "report_session", "report_encap"})
