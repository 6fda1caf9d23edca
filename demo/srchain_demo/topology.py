"""The demo testbed's fixed layout: namespaces, interfaces, addresses and MACs.

One namespace per box (prefix `sd<pid>` + role, all torn down by the testbed):

    gs  gaming server 10.0.1.10 ─┐                      ┌─ px: srchain-proxy px1 ─┬─ fm: formatter  10.255.0.2
    gc  gaming client 10.0.2.10 ─┼─ sw: emulated s1 ────┘   (px1-sr on port 4)   ├─ ca: classifier-a 10.255.0.3
    bg  background    10.0.3.10 ─┘   ports 1..4,             attachments          ├─ cb: classifier-b 10.255.0.3
        (+ 10.0.4.10, not chained)   port 2 shaped                                └─ ag: aggregator 10.255.0.4

Interface names inside the switch and proxy namespaces are the ones `examples/inventory.yaml` uses, so
the generated inventory differs from the example only in addresses of control endpoints and next hops.
"""

from __future__ import annotations

from dataclasses import dataclass

# Switch ports: device port -> (interface in the switch namespace, its MAC, the peer namespace role)
SWITCH_PORTS = {
    1: ("s1p1", "02:00:00:00:01:01", "gs"),
    2: ("s1p2", "02:00:00:00:01:02", "gc"),
    3: ("s1p3", "02:00:00:00:01:03", "bg"),
    4: ("s1p4", "02:00:00:00:01:04", "px"),
}
SHAPED_PORT = 2  # toward the gaming client: the congested egress


@dataclass(frozen=True)
class Host:
    name: str  # inventory name
    role: str  # namespace suffix
    ipv4: str
    mac: str
    port: int
    extra: tuple[str, ...] = ()  # more addresses on the same interface (not in the inventory)


HOSTS = (
    Host("gaming-server", "gs", "10.0.1.10", "02:00:00:00:10:01", 1),
    Host("gaming-client", "gc", "10.0.2.10", "02:00:00:00:20:01", 2),
    Host("background", "bg", "10.0.3.10", "02:00:00:00:30:01", 3, extra=("10.0.4.10",)),
)
BLASTER_SRC = "10.0.4.10"  # background blaster source: matches no classifier rule, so plain IPv4
HOST_GATEWAY = "10.0.0.1"  # a next hop that exists only as a static neighbour entry (the switch port)

PROXY_NAME = "px1"
PROXY_SR_IF = "px1-sr"
PROXY_MAC = "02:00:00:00:40:01"


@dataclass(frozen=True)
class Vnf:
    name: str  # inventory / proxy attachment name
    kind: str  # srchain_vnfs service
    role: str  # namespace suffix
    ipv4: str
    mac: str  # the VNF's interface
    proxy_if: str  # the proxy's end of the attachment
    proxy_mac: str
    listen_port: int
    next_hop: tuple[str, int]


VNF_GATEWAY = "10.255.0.254"  # the VNFs' default route: the proxy attachment (static neighbour)
REPORT_DST = "10.255.0.2"  # flow-features reports are addressed to the formatter (module default)
VNFS = (
    Vnf("formatter", "formatter", "fm", REPORT_DST, "02:00:00:00:50:01", "px1-fmt", "02:00:00:00:41:01",
        47001, ("10.255.0.3", 47003)),
    # Both classifier instances answer at the same address: the proxy picks one per flow (lb bucket).
    Vnf("classifier-a", "classifier", "ca", "10.255.0.3", "02:00:00:00:50:02", "px1-cla", "02:00:00:00:41:02",
        47003, ("10.255.0.4", 47004)),
    Vnf("classifier-b", "classifier", "cb", "10.255.0.3", "02:00:00:00:50:03", "px1-clb", "02:00:00:00:41:03",
        47003, ("10.255.0.4", 47004)),
    # Decision records: any destination works, the priority SID below them is what matters.
    Vnf("aggregator", "aggregator", "ag", "10.255.0.4", "02:00:00:00:50:04", "px1-agg", "02:00:00:00:41:04",
        47004, ("10.255.0.1", 47002)),
)

# The attack-mitigation VNF (day 2): a bump in the wire with one interface per direction. The proxy sends
# to it on px1-mit-o (broadcast MAC: no next hop, the VNF reads promiscuously) and takes frames back on
# px1-mit-i; the VNF filters mit-in -> mit-out and forwards frames byte for byte.
MITIGATION_NAME = "mitigation"
MITIGATION_ROLE = "mi"
MITIGATION_IFS = ("px1-mit-o", "px1-mit-i")  # proxy side: toward the VNF, back from the VNF
MITIGATION_PROXY_MACS = ("02:00:00:00:41:05", "02:00:00:00:41:06")
MITIGATION_VNF_IFS = ("mit-in", "mit-out")  # VNF side
MITIGATION_VNF_MACS = ("02:00:00:00:50:05", "02:00:00:00:50:06")

# Traffic ports on the hosts (UDP).
GAMING_PORT = 5000
VOIP_PORT = 5001
WEB_PORT = 5002
BLAST_PORT = 5003


# ---- `--dataplane srv6` (srv6bed.py): the same boxes, with the gaming client behind the Linux tail t -----------
#   gs ─ s1 port 1, bg ─ port 3, px ─ port 4 (as above); port 2 (shaped) ─ t (End.DX4) ─ gc; port 5 ─ m (a Linux End
#   between s1's flow-features and priority SIDs: the srv6 profile runs one local SID per pass)
SRV6_TAIL_ROLE, SRV6_MID_ROLE = "t", "m"
SRV6_SWITCH_PORTS = {
    1: ("s1p1", "02:00:00:00:01:01", "gs"),
    2: ("s1p2", "02:00:00:00:01:02", SRV6_TAIL_ROLE),
    3: ("s1p3", "02:00:00:00:01:03", "bg"),
    4: ("s1p4", "02:00:00:00:01:04", "px"),
    5: ("s1p5", "02:00:00:00:01:05", SRV6_MID_ROLE),
}
SRV6_SWITCH_LOCATOR = "fcbb:bb00:10::/48"
SRV6_PROXY_LOCATOR = "fcbb:bb00:2::/48"
# Linux SRv6 nodes: inventory name, role, locator, address, interface toward s1 and its MAC
SRV6_TAIL = ("tail", SRV6_TAIL_ROLE, "fcbb:bb00:9::/48", "fcbb:bb00:9::1", "t-s1", "02:00:00:00:70:09")
SRV6_MID = ("mid", SRV6_MID_ROLE, "fcbb:bb00:4::/48", "fcbb:bb00:4::1", "m-s1", "02:00:00:00:70:04")
SRV6_TAIL_CLIENT_IF, SRV6_TAIL_CLIENT_MAC = "t-gc", "02:00:00:00:70:0a"  # t's side of the client's link
SRV6_MTU = 9000  # s1 <-> t and s1 <-> m carry the 1400-byte packets with 40 + 8 + 64 bytes of IPv6 + SRH
