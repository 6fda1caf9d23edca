"""The `srchain` command line."""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
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
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

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
    """Validate and plan chains."""


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


@main.command()
@click.option("--examples", type=click.Path(file_okay=False), default=str(EXAMPLES), show_default=True)
def demo(examples: str) -> None:
    """The local demo. For now: validate and plan the reference chain, then plan a day-2 change
    (insert the attack-mitigation VNF) against it and show the make-before-break diff."""
    ex = Path(examples)
    inventory = ex / "inventory.yaml"
    out = make_console()
    with tempfile.TemporaryDirectory(prefix="srchain-demo-") as state:
        out.rule("1. the reference chain: validate and plan")
        first = make_plan(str(ex / "cloud-gaming.yaml"), str(inventory), state, None)
        render_plan(first, out)
        out.rule("2. day 2: insert attack mitigation on the data path, planned against step 1")
        current = Path(state) / "installed.json"
        current.write_text(json.dumps(first.to_json()))
        second = make_plan(str(ex / "cloud-gaming-mitigation.yaml"), str(inventory), state, str(current))
        render_plan(second, out, show_entries=False)


if __name__ == "__main__":
    main()
