"""Cross-checks of an inventory's `sites:` and `wan:` (docs/multisite.md).

A site partitions the nodes: every switch, proxy, host and SRv6 node is in exactly one site, switch links
and proxy links stay inside a site, and sites meet only over `wan:` links between border switch ports.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

from srchain.model.errors import Issue
from srchain.model.inventory import Inventory
from srchain.model.yamlsource import Loc, YamlDoc

# (site field, inventory list, what it is called in messages)
MEMBERS = (("switches", "switches", "switch"), ("proxies", "proxies", "proxy"), ("hosts", "hosts", "host"),
           ("srv6_nodes", "srv6_nodes", "SRv6 node"))


def check_sites(inv: Inventory, doc: YamlDoc) -> list[Issue]:
    if not inv.sites:
        if inv.wan:
            return [doc.issue(("wan",), "WAN links join sites: declare 'sites' (each with its nodes)")]
        return []
    issues = _names(inv, doc)
    issues += _membership(inv, doc)
    issues += _addresses(inv, doc)
    issues += _links(inv, doc)
    issues += _wan(inv, doc)
    return issues


def _names(inv: Inventory, doc: YamlDoc) -> list[Issue]:
    issues = []
    for items, what in (([(("sites", i, "name"), s.name) for i, s in enumerate(inv.sites)], "site"),
                        ([(("wan", i, "name"), w.name) for i, w in enumerate(inv.wan)], "WAN link")):
        counts = Counter(name for _, name in items)
        issues += [doc.issue(loc, f"{what} '{name}' is defined more than once") for loc, name in items
                   if counts[name] > 1]
    return issues


def _membership(inv: Inventory, doc: YamlDoc) -> list[Issue]:
    issues = []
    for field, listed, what in MEMBERS:
        known = {n.name for n in getattr(inv, listed)}
        home: dict[str, str] = {}
        for si, site in enumerate(inv.sites):
            for j, name in enumerate(getattr(site, field)):
                loc: Loc = ("sites", si, field, j)
                if name not in known:
                    issues.append(doc.issue(loc, f"unknown {what} '{name}'"))
                elif name in home:
                    issues.append(doc.issue(loc, f"{what} '{name}' is already in site '{home[name]}' "
                                            "(a node is in one site)"))
                else:
                    home[name] = site.name
        for i, node in enumerate(getattr(inv, listed)):
            if node.name not in home:
                issues.append(doc.issue((listed, i, "name"), f"{what} '{node.name}' is in no site "
                                        "(with 'sites', every node is listed in one)"))
    return issues


def _addresses(inv: Inventory, doc: YamlDoc) -> list[Issue]:
    """Address plans are disjoint between sites; a host's address is in its site's plan (when it has one)."""
    issues = []
    seen: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
    for si, site in enumerate(inv.sites):
        for j, text in enumerate(site.addresses):
            net = ipaddress.ip_network(text)
            for other, other_site in seen:
                if other_site != site.name and net.version == other.version and net.overlaps(other):
                    issues.append(doc.issue(("sites", si, "addresses", j),
                                            f"{net} overlaps {other} of site '{other_site}'"))
            seen.append((net, site.name))
    for hi, host in enumerate(inv.hosts):
        home = inv.site_of("hosts", host.name)
        if home is None or not home.addresses:
            continue
        addr = ipaddress.IPv4Address(host.ipv4)
        if not any(addr in ipaddress.ip_network(p) for p in home.addresses if ":" not in p):
            issues.append(doc.issue(("hosts", hi, "ipv4"), f"{addr} is outside the address plan of site "
                                    f"'{home.name}' ({', '.join(home.addresses)})"))
    return issues


def _site(inv: Inventory, kind: str, name: str) -> str | None:
    site = inv.site_of(kind, name)
    return site.name if site else None


def _links(inv: Inventory, doc: YamlDoc) -> list[Issue]:
    """Switch-to-switch and switch-to-proxy links stay in one site; WAN ports name a link that names them."""
    issues = []
    for si, sw in enumerate(inv.switches):
        here = _site(inv, "switches", sw.name)
        for pi, port in enumerate(sw.ports):
            peer, loc = port.peer, ("switches", si, "ports", pi, "peer")
            if peer.switch is not None or peer.proxy is not None:
                kind = "switches" if peer.switch is not None else "proxies"
                there = _site(inv, kind, peer.name)
                if here and there and here != there:
                    issues.append(doc.issue(loc, f"links {sw.name} (site '{here}') to {peer.kind} {peer.name} "
                                            f"(site '{there}'): sites meet only over 'wan' links"))
            elif peer.wan is not None:
                link = inv.wan_link(peer.wan)
                if link is None:
                    issues.append(doc.issue((*loc, "wan"), f"unknown WAN link '{peer.wan}'"))
                elif not any(e.switch == sw.name and e.port == port.port for e in (link.a, link.b)):
                    issues.append(doc.issue((*loc, "wan"), f"WAN link '{peer.wan}' does not end at {sw.name} "
                                            f"port {port.port}"))
    return issues


def _wan(inv: Inventory, doc: YamlDoc) -> list[Issue]:
    issues = []
    for wi, link in enumerate(inv.wan):
        sites = []
        for end_name in ("a", "b"):
            end, loc = getattr(link, end_name), ("wan", wi, end_name)
            sw = inv.switch(end.switch)
            if sw is None:
                issues.append(doc.issue((*loc, "switch"), f"unknown switch '{end.switch}'"))
                continue
            port = sw.port_by_number(end.port)
            if port is None:
                issues.append(doc.issue((*loc, "port"), f"switch '{end.switch}' has no port {end.port}"))
            elif port.peer.wan != link.name:
                issues.append(doc.issue((*loc, "port"), f"{end.switch} port {end.port} connects to "
                                        f"{port.peer.kind} {port.peer.name}, not to WAN link '{link.name}' "
                                        f"(give it peer: {{wan: {link.name}}})"))
            sites.append(_site(inv, "switches", end.switch))
        if len(sites) == 2 and sites[0] is not None and sites[0] == sites[1]:
            issues.append(doc.issue(("wan", wi), f"both ends are in site '{sites[0]}': a WAN link joins two sites"))
    return issues
