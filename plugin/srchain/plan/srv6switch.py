"""The P4 SR node's SRv6 profile (`p4/build --profile srv6`) as the SRv6 planner writes it: table and action
names from `srchain.plan.p4names_srv6` (generated from that profile's bf-rt.json by `p4/gen-constants`), and
the profile's limits. The tables both profiles share (priority, flow-features, report addresses, the SDE's
fixed tables) keep their names in srchain.plan.tables; tests/p4/test_p4_names.py checks every planned entry
against the srv6 bundle's bf-rt.json."""

from __future__ import annotations

import ipaddress

from srchain.model.inventory import FUNCTION_BITS
from srchain.plan import p4names_srv6 as P6
from srchain.plan.model import Lpm

CLASSIFIER = P6.SWITCH_INGRESS_CLASSIFIER_RULES  # the SR-MPLS profiles' key; actions encaps_<n>, encaps_red_<n>
CLASSIFIER_ENCAPS = "SwitchIngress.classifier.encaps_{n}"  # data: hop_limit, src_addr, sid_0 (first) .. sid_<n-1>
CLASSIFIER_ENCAPS_RED = "SwitchIngress.classifier.encaps_red_{n}"  # the same data; sid_0 only in the DA (5.2)
LOCAL_SID = P6.SWITCH_INGRESS_SRV6_LOCAL_SID  # exact IPv6 DA -> End-type behaviour
LOCAL_SID_ACTIONS = {
    "flow-features": P6.SWITCH_INGRESS_SRV6_END_FLOW_FEATURES,  # data: sid (the module's key), report_every
    "priority": P6.SWITCH_INGRESS_SRV6_END_PRIORITY,  # data: sid
}
SID_FORWARD = P6.SWITCH_INGRESS_SRV6_SID_FORWARD  # LPM on the IPv6 DA (a node's locator) -> port + next-hop MAC
SID_FORWARD_ACTION = P6.SWITCH_INGRESS_SRV6_FORWARD  # data: port, dst_mac
REPORT_ENCAP = P6.SWITCH_EGRESS_REPORT_ENCAP  # (flow-features key, lb bucket) -> H.Encaps toward the report path
REPORT_ENCAPS = "SwitchEgress.report.encaps_{n}"  # data: hop_limit, src_mac, dst_mac, src_addr, sid_0 .. sid_<n-1>
# The most segments the profile pushes, and parses (SRV6_MAX_SEGS: one encaps_<n> per n; the parser refuses a
# longer SRH as stack_too_deep).
MAX_SEGMENTS = sum(a.removeprefix(CLASSIFIER_ENCAPS.format(n="")).isdigit() for a in P6.ACTIONS[CLASSIFIER])
# Bytes kept of a report (its E2E mirror's $max_pkt_len): mirror header, Ethernet, IPv6, an SRH of MAX_SEGMENTS,
# IPv4, UDP, the record (docs/p4.md "SRv6 profile").
REPORT_TRUNCATE = 1 + 14 + 40 + 8 + 16 * MAX_SEGMENTS + 20 + 8 + 72
MODULE_KEY_BITS = P6.ACTIONS[LOCAL_SID][LOCAL_SID_ACTIONS["priority"]]["sid"]  # 20: the MPLS label's width
LOCATOR_ROUTE = "locator_route"  # the role of a sid_forward row: unversioned, shared by every chain on the switch


def function_of(sid: str, locator: str) -> int:
    """The SID's 16-bit function, the module's key on its switch: unique there (one locator per switch), the
    same for the SID's lifetime, and at least 0x0100 (never 0: the module's `no SID`)."""
    net = ipaddress.IPv6Network(locator)
    return (int(ipaddress.IPv6Address(sid)) >> (128 - net.prefixlen - FUNCTION_BITS)) & ((1 << FUNCTION_BITS) - 1)


def source_address(locator: str) -> str:
    """The outer source of what a switch encapsulates: the first address of its locator (function 0x0000,
    never allocated to a SID)."""
    return str(ipaddress.IPv6Network(locator).network_address + 1)


def locator_key(locator: str) -> Lpm:
    """The sid_forward key of a locator: the prefix as an LPM value."""
    net = ipaddress.IPv6Network(locator)
    return {"value": str(net.network_address), "prefix_len": net.prefixlen}
