"""Human output of plans and diffs: rich tables, readable at a glance."""

from __future__ import annotations

import ipaddress
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from srchain.plan.model import DiffOp, Entry, Key, KeyValue, Params, Plan

_PHASE_STYLE = {"install": "green", "flip": "yellow", "cleanup": "red"}
_OP_MARK = {"add": "[green]+[/]", "modify": "[yellow]~[/]", "delete": "[red]-[/]"}


def _short(name: str) -> str:
    """'SwitchIngress.sr.sid_forward' -> 'sr.sid_forward' (the control prefix is always the same)."""
    for prefix in ("SwitchIngress.", "SwitchEgress."):
        if name.startswith(prefix):
            return ("eg:" if prefix == "SwitchEgress." else "") + name.removeprefix(prefix)
    return name


def _field(value: KeyValue) -> str | None:
    """One key field, compactly: wildcards vanish, full masks show the value, IPv4 masks show a prefix."""
    if not isinstance(value, dict):
        return str(value)
    if "prefix_len" in value:
        return f"{value['value']}/{value['prefix_len']}"
    v, m = value["value"], value["mask"]
    if m in (0, "0.0.0.0"):
        return None
    if isinstance(m, str):
        net = ipaddress.IPv4Network(f"{v}/{m}", strict=False)
        return str(net) if net.prefixlen < 32 else str(net.network_address)
    if isinstance(m, int) and m & (m + 1) == 0:  # all-ones mask of its width
        return str(v)
    return f"{v}&&&{m:#x}" if isinstance(m, int) else f"{v}&&&{m}"


def format_key(key: Key) -> str:
    parts = []
    for name, value in key.items():
        if name == "$MATCH_PRIORITY":
            parts.append(f"prio={value}")
            continue
        shown = _field(value)
        if shown is not None:
            parts.append(f"{name}={shown}")
    return " ".join(parts) or "*"


def format_params(params: Params) -> str:
    labels = [v for k, v in params.items() if k.startswith("label_")]
    rest = {k: v for k, v in params.items() if not k.startswith("label_")}
    parts = [f"{k}={v}" for k, v in rest.items()]
    if labels:
        parts.insert(0, "[" + " ".join(str(x) for x in labels) + "]")
    return " ".join(parts)


def _site_rows(plan: Plan, name: str) -> list[dict[str, Any]]:
    """A list of the plan's `sites` block (multi-site inventories), [] otherwise."""
    rows = plan.sites.get(name) if plan.sites is not None else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def sids_table(plan: Plan) -> Table:
    t = Table(title="SIDs", title_justify="left", expand=False)
    site = {(r["segment"], r["instance"]): f"{r['site']} ({r['vim_account']})" for r in _site_rows(plan, "segments")}
    cols = ["segment", "instance", "SID", "on", *(["site (VIM account)"] if site else []), "behaviour", "since"]
    for col in cols:
        t.add_column(col, justify="right" if col in ("SID", "since") else "left")
    for s in plan.sids:
        where = [site[(s.segment, s.instance)]] if site else []
        t.add_row(s.segment, s.instance, str(s.sid), f"{s.target_kind} {s.target}", *where, s.behaviour,
                  f"v{s.since}")
    return t


def crossings_table(plan: Plan) -> Table | None:
    """Where the chain's stacks cross the WAN, with the MTU account (docs/multisite.md)."""
    rows = _site_rows(plan, "crossings")
    if not rows:
        return None
    t = Table(title="WAN crossings (bytes: inner + labels + encapsulation = total / WAN MTU)", title_justify="left")
    for col in ("path", "label", "link", "from", "to", "bytes"):
        t.add_column(col, justify="right" if col == "label" else "left")
    for r in rows:
        e, i, b = r["egress"], r["ingress"], r["bytes"]
        t.add_row(r["path"], str(r["label"]), f"{r['link']} {r['encapsulation']}",
                  f"{e['site']} {e['switch']}:{e['port']}", f"{i['site']} {i['switch']}:{i['port']}",
                  f"{b['inner']} + {b['labels']} + {b['overhead']} = {b['total']} / {b['wan_mtu']}")
    return t


def stacks_table(plan: Plan) -> Table:
    srv6 = any(isinstance(x, str) for s in plan.stacks for x in s.labels)  # addresses: an SRv6 chain
    what = "Segment lists (travel order" if srv6 else "Label stacks (top first"
    t = Table(title=f"{what}; {plan.lb_buckets} load-balancing bucket(s))", title_justify="left")
    t.add_column("path")
    t.add_column("buckets")
    t.add_column("stack")
    t.add_column("depth", justify="right")
    for s in plan.stacks:
        buckets = "all" if len(s.buckets) == plan.lb_buckets else ",".join(map(str, s.buckets))
        t.add_row(s.path, buckets, " ".join(map(str, s.labels)), str(len(s.labels)))
    return t


def entries_table(title: str, entries: list[Entry]) -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("table", "key", "action", "params", "ver"):
        t.add_column(col, overflow="fold")
    for e in entries:
        t.add_row(
            _short(e.table),
            format_key(e.key),
            _short(e.action),
            format_params(e.params),
            f"v{e.version}" if e.version else "",
        )
    return t


def diff_table(ops: list[DiffOp]) -> Table:
    t = Table(
        title=f"Diff against the current state ({len(ops)} operation(s), make-before-break order)", title_justify="left"
    )
    for col in ("#", "phase", "op", "target", "table", "key", "action / params"):
        t.add_column(col, overflow="fold")
    for i, op in enumerate(ops, 1):
        e = op.entry
        what = f"{_short(e.action)} {format_params(e.params)}"
        if op.previous is not None:
            what = f"{_short(op.previous.action)} {format_params(op.previous.params)} → {what}"
        style = _PHASE_STYLE[op.phase]
        t.add_row(
            str(i),
            f"[{style}]{op.phase}[/]",
            _OP_MARK[op.op],
            f"{e.target_kind} {e.target}",
            _short(e.table),
            format_key(e.key),
            what,
        )
    return t


def render_plan(plan: Plan, console: Console, show_entries: bool = True) -> None:
    head = (
        f"chain [bold]{plan.chain}[/]  version [bold]v{plan.version}[/]  spec {plan.spec_digest}  "
        f"{len(plan.sids)} SIDs  {len(plan.entries)} entries on {len(plan.targets())} targets"
    )
    console.print(Panel(head, title="srchain plan", expand=False))
    console.print(Group(sids_table(plan), stacks_table(plan)))
    crossings = crossings_table(plan)
    if crossings is not None:
        console.print(crossings)
    if show_entries:
        for kind, name in plan.targets():
            entries = plan.entries_of(kind, name)
            console.print(entries_table(f"{kind} {name} ({len(entries)} entries)", entries))
    if plan.diff is not None:
        if plan.diff:
            console.print(diff_table(plan.diff))
        else:
            console.print("[green]No changes:[/] the current state already matches the plan.")
