"""`srchain demo`: the local end-to-end demo (registered lazily by `srchain.cli`, which never imports this room)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from srchain.cli import chain_service, make_console, reported
from srchain.plan.render import render_plan
from srchain_demo import topology
from srchain_demo.shipped import (
    EXAMPLES,
    INVENTORY,
    MITIGATION_SPEC,
    REFERENCE_SPEC,
    SRV6_INVENTORY,
    SRV6_MITIGATION_SPEC,
    SRV6_SPEC,
)


@click.command()
@click.option("--results", "results_root", type=click.Path(file_okay=False, path_type=Path), default="results",
              show_default=True, help="where demo-<timestamp>/ is written")
@click.option("--session-s", type=click.FloatRange(2, 120), default=10.0, show_default=True,
              help="length of the gaming and other sessions (s)")
@click.option("--port-rate", "port_rate_mbps", type=click.FloatRange(1, 100), default=12.0, show_default=True,
              help="shaped egress rate toward the gaming client (Mbit/s)")
@click.option("--plan-only", is_flag=True, help="no testbed: validate and plan the chain and a day-2 insert")
@click.option("--scenario", type=click.Choice(["chain", "l4s"]), default="chain", show_default=True,
              help="chain: the reference chain (below); l4s: classic and scalable flows through the FIFO and "
                   "reference DualPI2 bottlenecks for --session-s, one run each (docs/l4s.md)")
@click.option("--dataplane", type=click.Choice(["sr-mpls", "srv6"]), default="sr-mpls", show_default=True,
              help="srv6: the reference chain over SRv6 (examples/cloud-gaming-srv6.yaml: s1 on the P4 srv6 profile, "
                   "a Linux tail and End; results in demo-srv6-<time>/ beside the SR-MPLS runs)")
@click.option("--switch-nice", type=click.IntRange(-20, 19), default=None,
              help="run the emulated switches at this nice value (e.g. -10 on a busy 2-core machine: their CPU share "
                   "decides how long frames wait in it); default: inherited")
@click.option("--reconfigure", is_flag=True,
              help="mid-scenario, insert the attack-mitigation VNF live and report loss and ordering across it")
@click.option("--sites", type=click.IntRange(1, 3), default=1, show_default=True,
              help="1: one site; 2: the reference chain split over two sites joined by an emulated WAN link "
                   "(examples/inventory-two-site.yaml's layout: borders on P4 profile wan, docs/multisite.md); "
                   "3: examples/inventory-three-site.yaml's (site B in transit to site C over MPLS-in-GRE)")
@click.option("--wan-delay-ms", type=click.FloatRange(0, 500), default=None,
              help="--sites 2|3: one-way delay of every WAN link, each direction (default: the example inventory's, "
                   "10 ms; with 3 sites 10 and 40 ms)")
@click.option("--via-osm", is_flag=True,
              help="deploy the reference chain through OSM's stand-ins instead of applying it: packages built, "
                   "onboarded into the NBI stand-in, ns-create runs every charm's day 1 under the LCM and unit-agent "
                   "stand-ins against the testbed; with --reconfigure the day-2 change is `ns-action "
                   "reconfigure-chain` (one site, SR-MPLS; needs the checkout and the OSM IM, docs/demo.md)")
@click.option("--examples", type=click.Path(exists=True, file_okay=False), default=str(EXAMPLES), show_default=True,
              help=f"--plan-only: the directory with {REFERENCE_SPEC.name}, {MITIGATION_SPEC.name} and "
                   f"{INVENTORY.name} (--dataplane srv6: {SRV6_SPEC.name}, {SRV6_MITIGATION_SPEC.name} and "
                   f"{SRV6_INVENTORY.name}; --sites 2|3: two-site.yaml, two-site-mitigation.yaml, "
                   "inventory-two-site.yaml, the same for three-site; default: the copies shipped with srchain)")
def demo(results_root: Path, session_s: float, port_rate_mbps: float, plan_only: bool, scenario: str,
         dataplane: str, switch_nice: int | None, reconfigure: bool, sites: int, wan_delay_ms: float | None,
         via_osm: bool, examples: str) -> None:
    """The local demo (docs/demo.md): the reference chain in network namespaces (emulated Tofino, SR proxy,
    VNFs) detects and prioritises a cloud-gaming session on a congested port. Needs root."""
    srv6 = dataplane == "srv6"
    if srv6 and scenario == "l4s":
        click.echo("error: --dataplane srv6 runs the chain scenario: the l4s scenario is SR-MPLS only (L4S is not "
                   "in the P4 srv6 profile)", err=True)
        sys.exit(2)
    if srv6 and sites > 1:
        click.echo("error: --dataplane srv6 runs on one site: SRv6 across sites is not in the testbed "
                   "(--sites 2|3 are SR-MPLS)", err=True)
        sys.exit(2)
    if scenario == "l4s" and not plan_only:
        from srchain_demo.l4s.compare import DEFAULT_BOTTLENECKS, compare
        from srchain_demo.l4s.harness import Setup

        rate = port_rate_mbps * 1e6
        setup = Setup(rate_bps=rate, seconds=max(session_s, 3.0), buffer_bytes=int(rate / 8 * 0.25))  # 250 ms
        try:
            compare(list(DEFAULT_BOTTLENECKS), setup, 1, results_root / "l4s", echo=click.echo)
        except (RuntimeError, OSError) as exc:
            click.echo(f"error: l4s scenario: {exc}", err=True)
            sys.exit(1)
        return
    layout = topology.SINGLE_SITE_SRV6 if srv6 else topology.LAYOUTS[sites]
    if wan_delay_ms is not None:
        layout = layout.with_wan_delay(wan_delay_ms)
    if via_osm and (srv6 or sites > 1 or scenario != "chain" or plan_only):
        click.echo("error: --via-osm runs the chain scenario on one site over SR-MPLS (the NS the project renders "
                   "for examples/cloud-gaming.yaml)", err=True)
        sys.exit(2)
    if via_osm:
        from srchain_demo.osm.run import run_demo_via_osm
        from srchain_demo.scenario import Settings

        settings = Settings(session_s=session_s, reconfigure_at_s=session_s / 2 if reconfigure else None)
        sys.exit(run_demo_via_osm(make_console(), results_root, settings, port_rate_bps=int(port_rate_mbps * 1e6),
                                  switch_nice=switch_nice))
    if not plan_only:
        from srchain_demo.run import run_demo
        from srchain_demo.scenario import Settings

        settings = Settings(session_s=session_s, reconfigure_at_s=session_s / 2 if reconfigure else None)
        sys.exit(run_demo(make_console(), results_root, settings, port_rate_bps=int(port_rate_mbps * 1e6),
                          layout=layout, switch_nice=switch_nice))
    ex = Path(examples)
    specs = layout.specs
    inventory = ex / specs.inventory
    out = make_console()
    with tempfile.TemporaryDirectory(prefix="srchain-demo-") as state, reported():
        out.rule("1. the reference chain" + (" over SRv6" if srv6 else "") + ": validate and plan")
        service = chain_service(str(inventory), state)
        first = service.plan(service.load(ex / specs.reference))
        render_plan(first, out)
        out.rule("2. day 2: insert attack mitigation on the data path, planned against step 1")
        second = service.plan(service.load(ex / specs.mitigation), current=first.entries)
        render_plan(second, out, show_entries=False)
