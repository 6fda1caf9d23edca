"""The `srchain` command line."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import ClassVar, NoReturn

import click
from rich.console import Console

from srchain.model import SpecError, load_chain
from srchain.plan import PlanError, build_plan, diff, entries_from_state
from srchain.plan.model import Plan
from srchain.plan.render import render_plan
from srchain.sidstore import BlockExhausted, SidStore, default_state_dir


def make_console(stderr: bool = False) -> Console:
    """Wide output when piped (CI logs, files); the terminal's width otherwise."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=160)


err = make_console(stderr=True)

spec_arg = click.argument("spec", type=click.Path(dir_okay=False))
inventory_opt = click.option(
    "--inventory",
    "-i",
    required=True,
    type=click.Path(dir_okay=False),
    help="inventory YAML: switches, hosts, proxies, VNFs",
)
state_opt = click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help=f"where SID allocations persist [default: {default_state_dir()}]",
)


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(1)


def refuse(exc: SpecError) -> NoReturn:
    for issue in exc.issues:
        err.print(f"[red]error:[/] {issue}", highlight=False, soft_wrap=True)
    err.print(f"{len(exc.issues)} error(s); nothing was planned.", highlight=False)
    sys.exit(1)


def make_plan(spec: str, inventory: str, state_dir: str | None, current: str | None) -> Plan:
    """Validate, allocate, plan, and diff against `current` when given; exits with clear errors."""
    installed = None
    if current is not None:
        try:
            installed = entries_from_state(json.loads(Path(current).read_text()))
        except (OSError, ValueError) as exc:
            fail(f"{current}: not a usable current state: {exc}")
    try:
        model = load_chain(spec, inventory)
        with SidStore(state_dir) as store:
            plan = build_plan(model, store)
    except SpecError as exc:
        refuse(exc)
    except (PlanError, BlockExhausted) as exc:
        fail(f"{spec}: {exc}")
    if installed is not None:
        plan.diff = diff(plan.entries, installed)
    return plan


class LazyGroup(click.Group):
    """Sub-command groups that live in other rooms (proxy/, emulator/, vnfs/, plugin/srchain/osm) are
    imported only when used, so one room's import cost or failure never slows or breaks another's."""

    LAZY: ClassVar[dict[str, str]] = {
        "proxy": "srchain_proxy.cli:proxy_cli",
        "switch": "srchain_emu.cli:switch_cli",
        "p4": "srchain_emu.cli:p4_cli",
        "vnf": "srchain_vnfs.cli:vnf_cli",
        "package": "srchain.osm.cli:package_cli",
        "osm": "srchain.osm.cli:osm_cli",
        "demo": "srchain_demo.cli:demo",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.LAZY:
            return super().get_command(ctx, name)
        module, attr = self.LAZY[name].split(":")
        try:
            cmd = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            reason = f"'{name}' is unavailable: {exc}"
            return click.Command(name, help=reason, callback=lambda: fail(reason))
        return cmd


@click.group(cls=LazyGroup)
@click.version_option(package_name="srchain")
def main() -> None:
    """srchain: SR-MPLS service chains across P4 switches and VNFs."""


@main.group()
def chain() -> None:
    """Validate, plan and apply chains."""


@chain.command()
@spec_arg
@inventory_opt
def validate(spec: str, inventory: str) -> None:
    """Check a chain spec and the inventory it refers to."""
    try:
        model = load_chain(spec, inventory)
    except SpecError as exc:
        refuse(exc)
    make_console().print(
        f"[green]ok[/] {spec}: chain '{model.spec.chain}', {len(model.segments)} segments, "
        f"{sum(len(s.instances) for s in model.segments)} instances",
        highlight=False,
        soft_wrap=True,
    )


@chain.command()
@spec_arg
@inventory_opt
@state_opt
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON (docs/plan-format.md)")
@click.option(
    "--current",
    type=click.Path(dir_okay=False),
    default=None,
    help="installed state (or an earlier plan's JSON): also print the diff, in apply order",
)
def plan(spec: str, inventory: str, state_dir: str | None, as_json: bool, current: str | None) -> None:
    """Allocate SIDs and compute every table entry of every switch and proxy."""
    result = make_plan(spec, inventory, state_dir, current)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        render_plan(result, make_console())


def _controller(inventory: str, state_dir: str | None, drain_timeout: float, drain_interval: float):
    from srchain.apply import AppliedStore, Controller, Drivers, Options
    from srchain.apply.factory import driver_factory
    from srchain.model.load import load_inventory

    try:
        inv, _ = load_inventory(inventory)
    except SpecError as exc:
        refuse(exc)
    drivers = Drivers(driver_factory(inv, Path(inventory).resolve().parent))
    opts = Options(drain_timeout=drain_timeout, drain_interval=drain_interval)
    return Controller(drivers, AppliedStore(state_dir), opts), drivers


drain_opts = [
    click.option("--drain-timeout", type=float, default=30.0, show_default=True,
                 help="longest wait (s) for the old version's counters to stop moving before cleanup"),
    click.option("--drain-interval", type=float, default=0.5, show_default=True,
                 help="counters unchanged over this interval (s) = drained"),
]


def with_drain(f):
    for opt in reversed(drain_opts):
        f = opt(f)
    return f


def _report(result, what: str) -> None:
    out = make_console()
    for note in result.notes:
        out.print(f"  {note}", highlight=False, soft_wrap=True)
    counts = {k: sum(1 for op in result.ops if op.op == k) for k in ("add", "modify", "delete")}
    timing = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings.items())
    drained = "" if result.drained is None else f", drained: {'yes' if result.drained else 'NO (timeout)'}"
    out.print(f"[green]ok[/] {what}: {counts['add']} added, {counts['modify']} modified, {counts['delete']} deleted "
              f"in {result.batches} batch(es){drained}" + (f" ({timing})" if result.ops else ""),
              highlight=False, soft_wrap=True)


@chain.command()
@spec_arg
@inventory_opt
@state_opt
@with_drain
def apply(spec: str, inventory: str, state_dir: str | None, drain_timeout: float, drain_interval: float) -> None:
    """Install the chain on its switches and proxies, make-before-break (docs/controller.md)."""
    from srchain.apply import ApplyError

    result_plan = make_plan(spec, inventory, state_dir, None)
    ctl, drivers = _controller(inventory, state_dir, drain_timeout, drain_interval)
    try:
        result = ctl.apply(result_plan)
    except ApplyError as exc:
        fail(f"apply of chain '{result_plan.chain}' v{result_plan.version} failed: {exc}")
    finally:
        drivers.close()
    with SidStore(state_dir) as store:
        released = store.release(result_plan.chain, {s.sid for s in result_plan.sids})
    _report(result, f"chain '{result_plan.chain}' v{result_plan.version} applied")
    if released:
        make_console().print(f"  released SIDs of the old version: {', '.join(map(str, released))}", highlight=False)


@chain.command()
@click.argument("chain_name")
@inventory_opt
@state_opt
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def status(chain_name: str, inventory: str, state_dir: str | None, as_json: bool) -> None:
    """Live state vs the applied (intended) state, per target. Exit 2 when they differ."""
    from srchain.apply import ApplyError

    ctl, drivers = _controller(inventory, state_dir, 0, 0)
    try:
        report = ctl.status(chain_name)
    except ApplyError as exc:
        fail(str(exc))
    finally:
        drivers.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        out = make_console()
        for target, row in report.items():
            if "error" in row:
                out.print(f"[red]{target}[/]: {row['error']}", highlight=False, soft_wrap=True)
                continue
            mark = "[green]in sync[/]" if row["ok"] == row["intended"] else "[yellow]drift[/]"
            out.print(f"{target}: {mark} {row['ok']}/{row['intended']} entries", highlight=False)
            for e in row["missing"]:
                out.print(f"  missing  {e}", highlight=False, soft_wrap=True)
            for e in row["differs"]:
                out.print(f"  differs  {e}", highlight=False, soft_wrap=True)
    if any("error" in r or r["ok"] != r["intended"] for r in report.values()):
        sys.exit(2)


@chain.command()
@click.argument("chain_name")
@inventory_opt
@state_opt
def reconcile(chain_name: str, inventory: str, state_dir: str | None) -> None:
    """Re-install the applied state where it is missing or changed (after a switch or proxy restart)."""
    from srchain.apply import ApplyError

    ctl, drivers = _controller(inventory, state_dir, 0, 0)
    try:
        result = ctl.reconcile(chain_name)
    except ApplyError as exc:
        fail(f"reconcile of chain '{chain_name}' failed: {exc}")
    finally:
        drivers.close()
    _report(result, f"chain '{chain_name}' reconciled")


@chain.command()
@click.argument("chain_name")
@inventory_opt
@state_opt
@with_drain
def delete(chain_name: str, inventory: str, state_dir: str | None, drain_timeout: float,
           drain_interval: float) -> None:
    """Remove the chain from every target (classifier first, drain, then the rest) and free its SIDs."""
    from srchain.apply import ApplyError

    ctl, drivers = _controller(inventory, state_dir, drain_timeout, drain_interval)
    try:
        result = ctl.delete(chain_name)
    except ApplyError as exc:
        fail(f"delete of chain '{chain_name}' failed: {exc}")
    finally:
        drivers.close()
    with SidStore(state_dir) as store:
        store.release(chain_name, set())
    _report(result, f"chain '{chain_name}' deleted")


@main.group()
def sid() -> None:
    """Inspect SID allocations."""


@sid.command("list")
@state_opt
@click.option("--chain", "chain_name", default=None, help="only this chain")
def sid_list(state_dir: str | None, chain_name: str | None) -> None:
    """List allocated SIDs."""
    from rich.table import Table

    with SidStore(state_dir) as store:
        rows = store.sids(chain_name)
    t = Table("label", "chain", "segment", "instance", "since", "context")
    for s in rows:
        t.add_row(str(s.label), s.chain, s.segment, s.instance, f"v{s.since}", s.context)
    make_console().print(t)


if __name__ == "__main__":
    main()
