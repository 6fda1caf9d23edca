"""The testbed's inventory, generated from its layout with the real endpoints (sockets, bundles): the shape of
`examples/inventory.yaml` for one site, of `examples/inventory-two-site.yaml` (`sites:`, `wan:`) for several, of
`examples/inventory-demo-srv6.yaml` (`srv6_nodes:`, locators) over SRv6."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import topology as topo


def _peer(layout: topo.Layout, peer: topo.Peer) -> dict[str, Any]:
    if peer.kind == "host":
        return {"host": next(h.name for h in layout.hosts if h.role == peer.name)}
    if peer.kind == "switch":
        return {"switch": peer.name, "port": peer.port}
    return {peer.kind: peer.name}  # proxy, wan, srv6_node


def _switch(layout: topo.Layout, sw: topo.SwitchBox, sock: Path, bundle: Path) -> dict[str, Any]:
    ports = [{"port": p.dev, "mac": p.mac, "interface": p.ifname, "peer": _peer(layout, p.peer)} for p in sw.ports]
    return {"name": sw.name, "grpc": f"unix:{sock}", "device_id": 0, "program": "srchain_node",
            "artifacts": str(bundle), **_locator(sw.locator), "ports": ports}


def _locator(locator: str | None) -> dict[str, str]:
    return {"locator": locator} if locator else {}


def _proxy(px: topo.ProxyBox, sock: Path, workdir: Path) -> dict[str, Any]:
    attachments: list[dict[str, Any]] = [{"vnf": v.name, "iface": v.proxy_if, "next_hop": v.ipv4} for v in px.vnfs]
    if px.mitigation:
        out, back = px.mitigation_ifs
        attachments.append({"vnf": px.mitigation, "iface_out": out, "iface_in": back})
    return {"name": px.name, "control": f"unix:{sock}", "token_file": str(workdir / f"{px.name}.token"),
            "sr_interface": px.sr_if, "mac": px.mac, **_locator(px.locator), "attachments": attachments}


def _srv6_nodes(layout: topo.Layout, ns: Callable[[str], str]) -> dict[str, Any]:
    if not layout.srv6_nodes:
        return {}
    return {"srv6_nodes": [{"name": n.name, "locator": n.locator, "address": n.address, "interface": n.ifname,
                            "mac": n.mac, "netns": ns(n.role)} for n in layout.srv6_nodes]}


def _sites(layout: topo.Layout) -> dict[str, Any]:
    if not layout.sites:
        return {}
    sites = []
    for site in layout.sites:
        doc: dict[str, Any] = {"name": site.name, "vim_account": site.vim_account, "switches": list(site.switches)}
        if site.hosts:
            doc["hosts"] = list(site.hosts)
        if site.proxies:
            doc["proxies"] = list(site.proxies)
        if site.addresses:
            doc["addresses"] = list(site.addresses)
        sites.append(doc)
    wan = [{"name": w.name, "a": {"switch": w.a.switch, "port": w.a.port, "address": w.a.address},
            "b": {"switch": w.b.switch, "port": w.b.port, "address": w.b.address},
            "encapsulation": w.encapsulation, "mtu": w.mtu, "delay_ms": w.delay_ms} for w in layout.wan]
    return {"sites": sites, "wan": wan}


def _vnf_order(vnf: topo.Vnf) -> int:
    """The example inventories list the VNFs in report-path order."""
    return [v.name for v in topo.VNFS].index(vnf.name)


def inventory(layout: topo.Layout, switch_socks: dict[str, Path], proxy_socks: dict[str, Path],
              bundles: dict[str, Path], workdir: Path, ns: Callable[[str], str] = str) -> dict[str, Any]:
    """The inventory document: every switch with its socket and its profile's bundle, the hosts, the proxies with
    their attachments (one of them also the mitigation's), the VNFs, and the sites and WAN links if any, the Linux
    SRv6 nodes (in their namespaces `ns(role)`) if any."""
    return _srv6_nodes(layout, ns) | _sites(layout) | {
        "switches": [_switch(layout, sw, switch_socks[sw.name], bundles[sw.profile]) for sw in layout.switches],
        "hosts": [{"name": h.name, "mac": h.mac, "ipv4": h.ipv4} for h in layout.hosts],
        "proxies": [_proxy(px, proxy_socks[px.name], workdir) for px in layout.proxies],
        "vnfs": [{"name": v.name, "kind": v.kind} for v in sorted(layout.vnfs, key=_vnf_order)]
                + [{"name": name, "kind": "attack-mitigation"} for name in layout.mitigations],
    }
