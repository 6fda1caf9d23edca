"""`srchain demo`: build the testbed, apply the chain, run the scenario with a live timeline, print the
numbers, write results/demo-<timestamp>/, and tear everything down on success, failure or Ctrl-C."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import results
from . import topology as topo
from .netns import TestbedError
from .scenario import Outcome, Settings, run
from .testbed import Testbed


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def _targets(layout: topo.Layout) -> str:
    """What the chain was applied to, site by site: "switch s1 + proxy px1" (over SRv6 "... + Linux SRv6 nodes tail,
    mid") or "site-a: a1, a2 | site-b: b1, pxb"."""
    if not layout.sites:
        nodes = [f"Linux SRv6 nodes {', '.join(n.name for n in layout.srv6_nodes)}"] if layout.srv6_nodes else []
        return " + ".join([f"switch {s.name}" for s in layout.switches] + [f"proxy {p.name}" for p in layout.proxies]
                          + nodes)
    return " | ".join(f"{s.name}: {', '.join((*s.switches, *s.proxies))}" for s in layout.sites)


def _raise_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def print_outcome(out: Console, o: Outcome, result_dir: Path) -> None:
    t = Table(title="cloud-gaming flow, one-way delay (ms)")
    for col in ("", "packets", "p50", "p99"):
        t.add_column(col)
    for key, label in (("cloud_gaming_before", "before prioritisation"),
                       ("cloud_gaming_after", "after prioritisation"),
                       ("voip_after", "voip (not prioritised), same period"),
                       ("background", "background (best effort)")):
        d = o.delays[key]
        t.add_row(label, str(d["packets"]), _ms(d["p50_ms"]), _ms(d["p99_ms"]))
    out.print(t)
    h = Table(title="report path, per hop (packets)")
    for col in ("hop", "in", "out", "dropped"):
        h.add_column(col)
    for row in o.hops:
        h.add_row(row["hop"], str(row["in"]), str(row["out"]), str(row.get("dropped", "")))
    out.print(h)
    out.print(f"switch: {o.switch}", highlight=False, soft_wrap=True)
    out.print(f"classes in the switch's priority register: {o.classes}", highlight=False)
    prio = o.timeline.get("prioritised")
    out.print(f"first gaming packet → prioritised: [bold]{_ms(None if prio is None else prio * 1000)} ms[/]")
    change = o.extra.get("reconfigure")
    if change:
        per = ", ".join(f"{k} {v['received']} received / {v['lost']} lost / {v['late']} late"
                        for k, v in change["streams"].items())
        colour = "green" if change["lost"] == 0 and change["late"] == 0 else "red"
        out.print(f"day 2, mitigation inserted live (v{change['version']}, apply {change['seconds']:.2f} s, "
                  f"drained {change['drained']}): [{colour}]lost {change['lost']}, reordered {change['late']}[/] "
                  f"across the change (packets sent ±1 s around it: {per}); mitigation passed "
                  f"{change['mitigation'].get('passed', 0)}", highlight=False, soft_wrap=True)
    out.print(f"results: {result_dir}", highlight=False)


def report(out: Console, outcome: Outcome, result_dir: Path) -> int:
    """Write the results, print them; the exit code: 0 when the gaming session was detected once and a live
    change (if any) lost nothing."""
    files = results.write(outcome, result_dir)
    print_outcome(out, outcome, result_dir)
    out.print(f"wrote {', '.join(f.name for f in files)}", highlight=False)
    change = outcome.extra.get("reconfigure")
    lossless = change is None or change["lost"] == 0
    return 0 if outcome.classes.get("cloud_gaming") == 1 and lossless else 1


def run_demo(out: Console, results_root: Path, settings: Settings, port_rate_bps: int = 12_000_000,
             layout: topo.Layout = topo.SINGLE_SITE, switch_nice: int | None = None) -> int:
    if os.geteuid() != 0:
        out.print("[red]error[/]: srchain demo needs root (network namespaces, veth, raw sockets)")
        return 1
    stamp = time.strftime("%Y%m%d-%H%M%S")
    # beside each other under results_root: demo-<time>/ (SR-MPLS) and demo-srv6-<time>/
    result_dir = results_root / (f"demo-{stamp}" if layout.dataplane == "sr-mpls" else f"demo-srv6-{stamp}")
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM tears down like Ctrl-C
    t_start = time.monotonic()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=out) as prog:
            task = prog.add_task("building the testbed", total=None)

            def note(msg: str) -> None:
                prog.console.print(f"[dim]{time.monotonic() - t_start:6.1f}s[/] {msg}", highlight=False)

            with Testbed(result_dir / "testbed", log=note, port_rate_bps=port_rate_bps, layout=layout,
                         switch_nice=switch_nice) as tb:
                prog.update(task, description="applying the chain")
                plan, res = tb.apply(tb.spec())
                note(f"[green]chain up[/]: '{plan.chain}' v{plan.version}, {len(res.ops)} entries "
                     f"({_targets(layout)}) via srchain.apply")
                prog.update(task, description="scenario", total=1.0, completed=0)

                def event(name: str, t: float) -> None:
                    note(f"[bold cyan]{name}[/] (t = {t:+.2f} s from the gaming session's start)")

                def tick(done: float, total: float) -> None:
                    prog.update(task, completed=min(1.0, done / total) if total else 1.0)

                outcome = run(tb, settings, result_dir, event, tick)
                prog.update(task, description="tearing down")
        return report(out, outcome, result_dir)
    except KeyboardInterrupt:
        out.print("[yellow]interrupted[/]: testbed torn down")
        return 130
    except TestbedError as exc:
        out.print(f"[red]error[/]: {exc}", highlight=False, soft_wrap=True)
        return 1
    finally:
        signal.signal(signal.SIGTERM, old_term)
