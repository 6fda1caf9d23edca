"""The `srchain` command line."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, NoReturn

import click
from rich.console import Console

from srchain.errors import SrchainError
from srchain.model import SpecError, load_chain
from srchain.plan.render import render_plan
from srchain.sidstore import SidStore, default_state_dir

if TYPE_CHECKING:
    from srchain.apply import Result
    from srchain.chains import ChainService


def make_console(stderr: bool = False) -> Console:
    """Wide output when piped (CI logs, files); the terminal's width otherwise. No emoji codes: an IPv6
    address such as fcbb:bb00:2:100:: holds one (":100:")."""
    probe = Console(stderr=stderr, emoji=False)
    return probe if probe.is_terminal else Console(stderr=stderr, width=160, emoji=False)


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


def refuse(exc: SpecError, nothing: str = "nothing was planned") -> NoReturn:
    for issue in exc.lines():
        err.print(f"[red]error:[/] {issue}", highlight=False, soft_wrap=True)
    err.print(f"{len(exc.issues)} error(s); {nothing}.", highlight=False)
    sys.exit(1)


@contextmanager
def reported(nothing: str = "nothing was planned") -> Iterator[None]:
    """An expected failure (any SrchainError) becomes `error: ...` lines and exit status 1, never a
    traceback; `nothing` ends the summary of refused input files (what was therefore not done)."""
    try:
        yield
    except SpecError as exc:
        refuse(exc, nothing)
    except SrchainError as exc:
        for line in exc.lines():
            err.print(f"[red]error:[/] {line}", highlight=False, soft_wrap=True)
        sys.exit(1)


def chain_service(inventory: str, state_dir: str | None, drain_timeout: float = 30.0,
                  drain_interval: float = 0.5) -> ChainService:
    """The service over `inventory` (loaded and checked here: SpecError) and the state directory."""
    from srchain.apply import Options
    from srchain.chains import ChainService

    return ChainService(inventory, state_dir, options=Options(drain_timeout=drain_timeout,
                                                              drain_interval=drain_interval))


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
        if not isinstance(cmd, click.Command):
            raise TypeError(f"{self.LAZY[name]} is not a click command")
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
    from srchain.chains import read_current

    with reported():
        installed = read_current(current) if current is not None else None
        service = chain_service(inventory, state_dir)
        result = service.plan(service.load(spec), installed)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        render_plan(result, make_console())


drain_opts = [
    click.option("--drain-timeout", type=float, default=30.0, show_default=True,
                 help="longest wait (s) for the old version's counters to stop moving before cleanup"),
    click.option("--drain-interval", type=float, default=0.5, show_default=True,
                 help="counters unchanged over this interval (s) = drained"),
]


def with_drain(f: Callable[..., None]) -> Callable[..., None]:
    for opt in reversed(drain_opts):
        f = opt(f)
    return f


def _report(result: Result, what: str) -> None:
    out = make_console()
    for note in result.notes:
        out.print(f"  {note}", highlight=False, soft_wrap=True)
    counts = {k: sum(1 for op in result.ops if op.op == k) for k in ("add", "modify", "delete")}
    timing = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings.items())
    drained = "" if result.drained is None else f", drained: {'yes' if result.drained else 'NO (timeout)'}"
    out.print(f"[green]ok[/] {what}: {counts['add']} added, {counts['modify']} modified, {counts['delete']} deleted "
              f"in {result.batches} batch(es){drained}" + (f" ({timing})" if result.ops else ""),
              highlight=False, soft_wrap=True)
    for site, run in sorted(result.sites.items()):  # several sites: each one's share
        out.print(f"  site {site or '-'}: {run.ops} operation(s) in {run.batches} batch(es), "
                  f"{run.seconds * 1000:.0f} ms writing", highlight=False)


@chain.command()
@spec_arg
@inventory_opt
@state_opt
@with_drain
def apply(spec: str, inventory: str, state_dir: str | None, drain_timeout: float, drain_interval: float) -> None:
    """Install the chain on its switches and proxies, make-before-break (docs/controller.md)."""
    with reported("nothing was applied"):
        service = chain_service(inventory, state_dir, drain_timeout, drain_interval)
        done = service.apply(service.load(spec))
    _report(done.result, f"chain '{done.chain}' v{done.plan.version} applied")
    if done.released:
        make_console().print(f"  released SIDs of the old version: {', '.join(map(str, done.released))}",
                             highlight=False)


@chain.command()
@click.argument("chain_name")
@inventory_opt
@state_opt
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def status(chain_name: str, inventory: str, state_dir: str | None, as_json: bool) -> None:
    """Live state vs the applied (intended) state, per target. Exit 2 when they differ."""
    with reported("nothing was read"):
        report = chain_service(inventory, state_dir).status(chain_name)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        out = make_console()
        for target, row in sorted(report.items(), key=lambda item: (item[1].get("site", ""), item[0])):
            where = f"site {row['site'] or '-'}: " if "site" in row else ""  # several sites: grouped by site
            if "error" in row:
                out.print(f"{where}[red]{target}[/]: {row['error']}", highlight=False, soft_wrap=True)
                continue
            mark = "[green]in sync[/]" if row["ok"] == row["intended"] else "[yellow]drift[/]"
            out.print(f"{where}{target}: {mark} {row['ok']}/{row['intended']} entries", highlight=False)
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
    with reported("nothing was changed"):
        done = chain_service(inventory, state_dir).reconcile(chain_name)
    _report(done.result, f"chain '{chain_name}' reconciled")


@chain.command()
@click.argument("chain_name")
@inventory_opt
@state_opt
@with_drain
def delete(chain_name: str, inventory: str, state_dir: str | None, drain_timeout: float,
           drain_interval: float) -> None:
    """Remove the chain from every target (classifier first, drain, then the rest) and free its SIDs."""
    with reported("nothing was changed"):
        done = chain_service(inventory, state_dir, drain_timeout, drain_interval).delete(chain_name)
    _report(done.result, f"chain '{chain_name}' deleted")


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
        rows6 = store.srv6_sids(chain_name)
    t = Table("label", "chain", "segment", "instance", "since", "context")
    for s in rows:
        t.add_row(str(s.label), s.chain, s.segment, s.instance, f"v{s.since}", s.context)
    for s6 in rows6:  # SRv6 SIDs: the address in the label's column
        t.add_row(s6.sid, s6.chain, s6.segment, s6.instance, f"v{s6.since}", s6.context)
    make_console().print(t)


if __name__ == "__main__":
    main()
