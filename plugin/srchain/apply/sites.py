"""One controller over several sites (docs/multisite.md): which site each target is in, and the timeouts,
retries and drain interval a site's WAN distance calls for.

The controller may run in any site, so a target is as far as the farthest other site: its WAN delay is the
largest one-way delay to its site from any other, summed along the route the planner uses between sites
(fewest WAN links, then the lower `delay_ms`, as `srchain.plan.topology`). From it (RTT = 2 x delay):

- RPC timeout = base + 4 RTT: connecting costs up to three round trips (TCP, HTTP/2 settings, TLS) before
  the request's own; the base (10 s) is what a switch in the controller's own rack already gets;
- attempts: the base's (3), spaced by max(0.5 s, 2 RTT), so a retry does not land while the previous
  attempt's answer may still be on its way;
- drain interval: at least 2 x the largest one-way delay plus 0.1 s: a packet of the old version still
  crossing the WAN toward a counter must have arrived before two equal readings say "drained".
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

from srchain.apply.engine import Options, TargetId
from srchain.model.inventory import Inventory

BASE_TIMEOUT_S = 10.0
BASE_ATTEMPTS = 3
KINDS = {"switch": "switches", "proxy": "proxies", "node": "srv6_nodes"}


@dataclass(frozen=True)
class SiteTiming:
    site: str
    wan_delay_ms: float  # the largest one-way delay from another site to this one
    timeout_s: float
    attempts: int
    retry_backoff_s: float


def target_sites(inv: Inventory) -> dict[TargetId, str]:
    """(kind, name) -> site, for every switch, proxy and SRv6 node of a multi-site inventory; {} without sites."""
    return {(kind, name): site.name for site in inv.sites for kind, field in KINDS.items()
            for name in getattr(site, field)}


def path_delays(inv: Inventory) -> dict[tuple[str, str], float]:
    """(from site, to site) -> one-way delay (ms) along the planner's route between them (fewest WAN links,
    links tried by (delay, name)); pairs with no WAN path are left out."""
    site = {n: s.name for s in inv.sites for n in s.switches}
    links: dict[str, list[tuple[str, float]]] = {s.name: [] for s in inv.sites}
    for w in sorted(inv.wan, key=lambda w: (w.delay_ms, w.name)):
        a, b = site.get(w.a.switch), site.get(w.b.switch)
        if a is not None and b is not None:
            links[a].append((b, w.delay_ms))
            links[b].append((a, w.delay_ms))
    out: dict[tuple[str, str], float] = {}
    for here in links:
        delay = {here: 0.0}
        queue: deque[str] = deque([here])
        while queue:
            cur = queue.popleft()
            for nbr, d in links[cur]:
                if nbr not in delay:
                    delay[nbr] = delay[cur] + d
                    queue.append(nbr)
        out.update({(here, there): d for there, d in delay.items() if there != here})
    return out


def site_timings(inv: Inventory, base_timeout_s: float = BASE_TIMEOUT_S,
                 base_attempts: int = BASE_ATTEMPTS) -> dict[str, SiteTiming]:
    delays = path_delays(inv)
    out = {}
    for s in inv.sites:
        one_way = max((d for (_, there), d in delays.items() if there == s.name), default=0.0)
        rtt_s = 2 * one_way / 1000
        out[s.name] = SiteTiming(s.name, one_way, base_timeout_s + 4 * rtt_s, base_attempts, max(0.5, 2 * rtt_s))
    return out


def target_timeout(inv: Inventory, kind: str, name: str, base_timeout_s: float = BASE_TIMEOUT_S) -> float:
    """The RPC timeout for one target: its site's, or the base for a single-site inventory."""
    site = target_sites(inv).get((kind, name))
    return site_timings(inv, base_timeout_s)[site].timeout_s if site is not None else base_timeout_s


def wan_options(inv: Inventory, options: Options) -> Options:
    """`options` with the drain interval widened to the WAN's largest one-way delay (see the module)."""
    delays = path_delays(inv)
    if not delays:
        return options
    floor = 2 * max(delays.values()) / 1000 + 0.1
    return replace(options, drain_interval=max(options.drain_interval, floor),
                   drain_timeout=max(options.drain_timeout, 4 * floor))
