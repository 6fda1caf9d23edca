"""Where things are and how to reach them: the switch graph from the inventory's port peers."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from srchain.errors import SrchainError
from srchain.model.inventory import Inventory


@dataclass(frozen=True)
class Hop:
    """Leave `switch` by `port`, rewriting the destination MAC to `dst_mac` (the peer's)."""

    switch: str
    port: int
    dst_mac: str
    peer_switch: str | None  # the switch the frame arrives at, None for a proxy or host
    wan: str | None = None  # the WAN link this hop crosses (`peer_switch` is the far border switch)


class Unreachable(SrchainError):
    pass


class Topology:
    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        # switch -> sorted list of (neighbour switch, hop); sorted so ties break the same way every time
        self.links: dict[str, list[tuple[str, Hop]]] = {s.name: [] for s in inv.switches}
        self.proxy_at: dict[str, Hop] = {}
        self.host_at: dict[str, Hop] = {}
        self.node_at: dict[str, Hop] = {}  # Linux SRv6 nodes behind a switch port (first port by switch order)
        for sw in inv.switches:
            for p in sw.ports:
                peer = p.peer
                if peer.switch is not None:
                    other = inv.switch(peer.switch)
                    back = other.port_by_number(peer.port) if other and peer.port is not None else None
                    if back is not None:
                        self.links[sw.name].append((peer.switch, Hop(sw.name, p.port, back.mac, peer.switch)))
                elif peer.proxy is not None and (px := inv.proxy(peer.proxy)) is not None:
                    self.proxy_at[px.name] = Hop(sw.name, p.port, px.mac, None)
                elif peer.host is not None and (h := inv.host(peer.host)) is not None:
                    self.host_at[h.name] = Hop(sw.name, p.port, h.mac, None)
                elif (peer.srv6_node is not None and (n := inv.srv6_node(peer.srv6_node)) is not None
                      and n.mac is not None):
                    self.node_at.setdefault(n.name, Hop(sw.name, p.port, n.mac, None))
        for nbrs in self.links.values():
            nbrs.sort(key=lambda n: (n[0], n[1].port))
        # Sites (docs/multisite.md): switch links stay inside a site (srchain.model.sites); sites meet over WAN
        # links, tried by (expected delay, name) so routes between sites are the same every time.
        self.site: dict[str, str] = {n: s.name for s in inv.sites for n in s.switches}
        self.site_links: dict[str, list[tuple[str, str]]] = {s.name: [] for s in inv.sites}
        for w in sorted(inv.wan, key=lambda w: (w.delay_ms, w.name)):
            sa, sb = self.site.get(w.a.switch), self.site.get(w.b.switch)
            if sa is not None and sb is not None:
                self.site_links[sa].append((sb, w.name))
                self.site_links[sb].append((sa, w.name))

    def port_mac(self, switch: str, port: int) -> str:
        sw = self.inv.switch(switch)
        p = sw.port_by_number(port) if sw else None
        if p is None:
            raise Unreachable(f"switch '{switch}' has no port {port}")
        return p.mac

    def switch_id(self, switch: str) -> int:
        """The id a switch writes into its records: its 1-based position in the inventory."""
        return 1 + [s.name for s in self.inv.switches].index(switch)

    def next_hop(self, src: str, dst: str) -> Hop:
        """First hop of a shortest path from switch `src` to switch `dst` (BFS, ties by name then port); in
        another site: toward the first WAN link of the fewest-links site path, then across it."""
        if src == dst:
            raise ValueError("next_hop to self")
        if self.site.get(src, "") != self.site.get(dst, ""):
            return self._wan_hop(src, dst)
        return self._bfs(src, dst)

    def _wan_hop(self, src: str, dst: str) -> Hop:
        here, there = self.site[src], self.site[dst]
        first: dict[str, str] = {}  # site -> the WAN link leaving `here` on the way to it
        queue: deque[str] = deque([here])
        while queue and there not in first:
            cur = queue.popleft()
            for nbr, link in self.site_links[cur]:
                if nbr != here and nbr not in first:
                    first[nbr] = first.get(cur, link)
                    queue.append(nbr)
        if there not in first:
            raise Unreachable(f"switch '{dst}' (site '{there}') is not reachable from switch '{src}' "
                              f"(site '{here}'): no WAN path between the sites")
        w = next(w for w in self.inv.wan if w.name == first[there])
        near, far = (w.a, w.b) if self.site[w.a.switch] == here else (w.b, w.a)
        if near.switch != src:
            return self._bfs(src, near.switch)
        return Hop(src, near.port, self.port_mac(far.switch, far.port), far.switch, w.name)

    def _bfs(self, src: str, dst: str) -> Hop:
        first: dict[str, Hop] = {}
        seen = {src}
        queue: deque[str] = deque([src])
        while queue:
            cur = queue.popleft()
            for nbr, hop in self.links[cur]:
                if nbr in seen:
                    continue
                seen.add(nbr)
                first[nbr] = first.get(cur, hop)
                if nbr == dst:
                    return first[nbr]
                queue.append(nbr)
        raise Unreachable(f"switch '{dst}' is not reachable from switch '{src}'")
