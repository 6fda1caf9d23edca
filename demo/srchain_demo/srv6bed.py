"""What the demo testbed does differently for `srchain demo --dataplane srv6` (docs/demo.md "Over SRv6").

s1 runs the P4 srv6 profile and is the head end (H.Encaps of the IPv4 it classifies); the gaming client sits
behind t, a Linux SRv6 node on the shaped port 2 that decapsulates (End.DX4) and IPv4-routes the client's
upstream back to s1; m, on port 5, is the Linux End between s1's flow-features and priority SIDs; px1 serves
the report path's VNFs over SRv6. The wiring and the routing of t and m are the network's (made here); the
chain's SIDs, routes and proxy entries are the controller's (`Testbed.apply`).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Protocol

from srchain_demo import topology as topo
from srchain_demo.netns import sh


class Bed(Protocol):
    """What this module uses of `testbed.Testbed` (which imports this module)."""

    workdir: Path
    switch_sock: Path
    proxy_sock: Path
    bundle: Path

    def ns(self, role: str) -> str: ...
    def add_ns(self, role: str) -> str: ...
    def veth(self, ns_a: str, if_a: str, mac_a: str, ns_b: str, if_b: str, mac_b: str,
             mtu: int | None = None) -> None: ...
    def gateway(self, ns: str, gw: str, mac: str) -> None: ...

S1_GATEWAY6 = "fe80::1"  # t's and m's next hop toward s1: a static neighbour on the switch port's MAC
T_GATEWAY4 = "10.0.0.2"  # t's IPv4 default route toward s1 (the client's upstream), a static neighbour too
CLIENT = next(h for h in topo.HOSTS if h.port == topo.SHAPED_PORT)


def port_of(role: str) -> int:
    return next(p for p, (_if, _mac, peer) in topo.SRV6_SWITCH_PORTS.items() if peer == role)


def _ipv6_on(ns: str, *ifaces: str) -> None:
    for key in ("all", "default", *ifaces):
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=0",
           f"net.ipv6.conf.{key}.seg6_enabled=1", f"net.ipv6.conf.{key}.accept_ra=0")
    sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", "net.ipv4.ip_forward=1",
       "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")


def wire(tb: Bed) -> None:
    """t and m with their links to s1 (MTU 9000: the 1400-byte packets plus 112 bytes of IPv6 + SRH) and the
    client's link to t; their routing: every SRv6 locator through s1, the client's upstream to s1 by IPv4."""
    sw, gc = tb.ns("sw"), tb.ns(CLIENT.role)
    for _name, role, _locator, address, ifname, mac in (topo.SRV6_TAIL, topo.SRV6_MID):
        ns = tb.add_ns(role)
        sw_if, sw_mac, _ = topo.SRV6_SWITCH_PORTS[port_of(role)]
        tb.veth(sw, sw_if, sw_mac, ns, ifname, mac, mtu=topo.SRV6_MTU)
        _ipv6_on(ns, ifname, "lo")
        sh("ip", "-n", ns, "-6", "addr", "add", f"{address}/128", "dev", "lo", "nodad")
        sh("ip", "-n", ns, "-6", "neigh", "replace", S1_GATEWAY6, "lladdr", sw_mac, "dev", ifname, "nud", "permanent")
        sh("ip", "-n", ns, "-6", "route", "add", "fcbb::/16", "via", S1_GATEWAY6, "dev", ifname)
    t = tb.ns(topo.SRV6_TAIL_ROLE)
    tail_if, s1p2_mac = topo.SRV6_TAIL[4], topo.SRV6_SWITCH_PORTS[port_of(topo.SRV6_TAIL_ROLE)][1]
    tb.veth(t, topo.SRV6_TAIL_CLIENT_IF, topo.SRV6_TAIL_CLIENT_MAC, gc, "eth0", CLIENT.mac)
    for addr in (CLIENT.ipv4, *CLIENT.extra):
        sh("ip", "-n", gc, "addr", "add", f"{addr}/32", "dev", "eth0")
    tb.gateway(gc, topo.HOST_GATEWAY, topo.SRV6_TAIL_CLIENT_MAC)
    sh("ip", "-n", t, "addr", "add", f"{topo.HOST_GATEWAY}/32", "dev", topo.SRV6_TAIL_CLIENT_IF)
    sh("ip", "-n", t, "route", "add", f"{CLIENT.ipv4}/32", "dev", topo.SRV6_TAIL_CLIENT_IF)
    sh("ip", "-n", t, "neigh", "replace", CLIENT.ipv4, "lladdr", CLIENT.mac, "dev", topo.SRV6_TAIL_CLIENT_IF,
       "nud", "permanent")
    sh("ip", "-n", t, "route", "add", T_GATEWAY4, "dev", tail_if)
    sh("ip", "-n", t, "route", "add", "default", "via", T_GATEWAY4, "dev", tail_if)
    sh("ip", "-n", t, "neigh", "replace", T_GATEWAY4, "lladdr", s1p2_mac, "dev", tail_if, "nud", "permanent")


def inventory(tb: Bed, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """The inventory of examples/inventory-demo-srv6.yaml's shape with this testbed's endpoints."""
    ports = []
    for dev, (ifname, mac, peer) in topo.SRV6_SWITCH_PORTS.items():
        if peer == "px":
            ref = {"proxy": topo.PROXY_NAME}
        elif peer in (topo.SRV6_TAIL_ROLE, topo.SRV6_MID_ROLE):
            ref = {"srv6_node": next(n[0] for n in (topo.SRV6_TAIL, topo.SRV6_MID) if n[1] == peer)}
        else:
            ref = {"host": next(h.name for h in topo.HOSTS if h.role == peer)}
        ports.append({"port": dev, "mac": mac, "interface": ifname, "peer": ref})
    return {
        "srv6_nodes": [{"name": name, "locator": locator, "address": address, "interface": ifname, "mac": mac,
                        "netns": tb.ns(role)}
                       for name, role, locator, address, ifname, mac in (topo.SRV6_TAIL, topo.SRV6_MID)],
        "switches": [{"name": "s1", "grpc": f"unix:{tb.switch_sock}", "device_id": 0, "program": "srchain_node",
                      "artifacts": str(tb.bundle), "locator": topo.SRV6_SWITCH_LOCATOR, "ports": ports}],
        "hosts": [{"name": h.name, "mac": h.mac, "ipv4": h.ipv4} for h in topo.HOSTS if h is not CLIENT],
        "proxies": [{"name": topo.PROXY_NAME, "control": f"unix:{tb.proxy_sock}",
                     "token_file": str(tb.workdir / "px1.token"), "sr_interface": topo.PROXY_SR_IF,
                     "mac": topo.PROXY_MAC, "locator": topo.SRV6_PROXY_LOCATOR, "attachments": attachments}],
        "vnfs": [{"name": v.name, "kind": v.kind} for v in topo.VNFS]
                + [{"name": "mitigation", "kind": "attack-mitigation"}],
    }


def client_route(tb: Bed) -> None:
    """s1's IPv4 route to the client behind t (traffic no rule classifies: the background load). The network's
    routing, like t's and m's: the inventory has no host behind a Linux SRv6 node, so the planner writes none."""
    from srchain.bfrt.client import BfrtClient

    client = BfrtClient.connect(f"unix:{tb.switch_sock}", client_id=12, timeout=5, attempts=3)
    try:
        client.bind("srchain_node")
        key = {"dst_addr": (int(ipaddress.IPv4Address(CLIENT.ipv4)), 32)}
        data = {"port": port_of(topo.SRV6_TAIL_ROLE), "dst_mac": int(topo.SRV6_TAIL[5].replace(":", ""), 16)}
        client.insert_or_modify("SwitchIngress.ipv4.routes", key, "SwitchIngress.ipv4.route", data)
    finally:
        client.close()
