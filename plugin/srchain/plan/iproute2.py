"""What an SRv6 plan's node entries (Linux head end, tail and End, srchain.plan.srv6) are in iproute2 terms:
the `ip` arguments that install one (srchain.targets.linuxnode runs them)."""

from __future__ import annotations

from srchain.plan.model import Entry
from srchain.plan.srv6 import NODE_ENCAP, NODE_LOCAL

_DECAP = {"end.dx4": "End.DX4", "end.dt6": "End.DT6"}


class NotRendered(ValueError):
    """A node entry this renderer has no iproute2 form for yet (said which and why)."""


def _text(entry: Entry, name: str) -> str:
    value = entry.params.get(name)
    if not isinstance(value, str):
        raise NotRendered(f"node {entry.target}: {entry.table} {entry.key}: params.{name} is {value!r}, not text")
    return value


def ip_args(entry: Entry, replace: bool = False) -> list[list[str]]:
    """The `ip` argument lists (without `ip`) that install `entry` on its node, in order: `route add`, which
    Linux refuses when a route to that destination exists (never clobber a route the chain does not own),
    or with `replace` (a modify of the chain's own entry) `route replace`."""
    verb = "replace" if replace else "add"
    where = f"node {entry.target}: {entry.table} {entry.key}"
    if "dev" not in entry.params:
        raise NotRendered(f"{where}: no device (inventory srv6_nodes[].interface)")
    dev = _text(entry, "dev")
    if entry.table == NODE_ENCAP:
        match, segments, bucket = entry.params.get("match"), entry.params.get("segments"), entry.key.get("lb_bucket")
        if not isinstance(match, dict) or not isinstance(segments, list):
            raise NotRendered(f"{where}: params.match and params.segments are a mapping and a list")
        if set(match) - {"dst"}:
            raise NotRendered(f"{where}: a match on {', '.join(sorted(set(match) - {'dst'}))} needs policy routing "
                              "(ip rule), not rendered yet")
        if isinstance(bucket, dict) and bucket.get("mask"):
            raise NotRendered(f"{where}: load-balancing buckets (a multipath route), not rendered yet")
        dst = str(match.get("dst", "0.0.0.0/0"))
        mode = str(entry.params.get("mode", "encap"))  # encap | encap.red (H.Encaps.Red)
        return [["sr", "tunsrc", "set", _text(entry, "source")],
                ["route", verb, dst, "encap", "seg6", "mode", mode, "segs", ",".join(map(str, segments)),
                 "dev", dev]]
    if entry.table == NODE_LOCAL and entry.action in _DECAP:
        sid = entry.key.get("sid")
        how = ["nh4", _text(entry, "nh4")] if entry.action == "end.dx4" else ["table", str(entry.params.get("table"))]
        return [["-6", "route", verb, f"{sid}/128", "encap", "seg6local", "action", _DECAP[entry.action], *how,
                 "count", "dev", dev]]
    if entry.table == NODE_LOCAL and entry.action == "end":  # a Linux End in the middle of the chain
        return [["-6", "route", verb, f"{entry.key.get('sid')}/128", "encap", "seg6local", "action", "End", "count",
                 "dev", dev]]
    raise NotRendered(f"{where}: action {entry.action} is not a node entry")
