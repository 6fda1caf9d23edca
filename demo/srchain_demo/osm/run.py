"""`srchain demo --via-osm`: the testbed up with no chain applied, the NS deployed through OSM's stand-ins (NBI, LCM,
unit agents running every charm's dispatch), the demo scenario, and mid-session the day-2 change as
`ns-action reconfigure-chain` on the NS charm while the traffic runs. Prints the same numbers as `srchain demo`."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from srchain.errors import SrchainError
from srchain_demo.netns import TestbedError
from srchain_demo.osm import deploy
from srchain_demo.osm.bed import OsmTestbed, needs_root
from srchain_demo.run import _raise_interrupt, report
from srchain_demo.scenario import Outcome, Settings, run
from srchain_demo.testbed import Testbed


def reconfigure_via_ns_action(s: deploy.OsmSession) -> Any:
    """The scenario's day-2 change as an operator makes it on OSM: `ns-action cg --action-name reconfigure-chain
    --params {spec: …}`, waited for; its detailed-status is the NS charm's result."""
    def change(tb: Testbed) -> dict[str, Any]:
        spec = tb.spec("mitigation")
        started = time.time()
        op = s.action("reconfigure-chain", {"spec": spec.read_text()})
        ended = time.time()
        if op.get("operationState") != "COMPLETED":
            raise TestbedError(f"ns-action reconfigure-chain: {op.get('operationState')}: {op.get('detailed-status')}")
        out = json.loads(json.loads(op["detailed-status"])["output"])
        return {"spec": spec.name, "version": out["version"], "start": started, "end": ended,
                "seconds": ended - started, "ops": sum(int(out.get(k, 0)) for k in ("add", "modify", "delete")),
                "drained": out.get("drained"), "operation": op.get("id"), "via": "ns-action reconfigure-chain"}
    return change


def deployed(s: deploy.OsmSession, packages: list[Path], nsd: str, params: dict[str, Any]) -> dict[str, Any]:
    """Onboard, ns-create and wait; the NS READY and the instantiate operation COMPLETED, or TestbedError."""
    s.onboard(packages)
    op = s.ns_create(params, nsd)
    status = s.status()
    if op.get("operationState") != "COMPLETED" or status.get("nsState") != "READY":
        raise TestbedError(f"ns-create: {op.get('operationState')} (NS {status.get('nsState')}): "
                           f"{op.get('detailed-status')}")
    return {"ns_id": s.ns_id, "nsState": status["nsState"], "operation": op.get("id"),
            "day1": {str(m or "ns"): [f"{st.primitive}:{'ok' if st.ok else 'failed'}" for st in u_steps]
                     for m, u_steps in ((m, ee.steps) for (_, m), ee in s.agent.envs.items())}}


def run_demo_via_osm(out: Console, results_root: Path, settings: Settings, port_rate_bps: int = 12_000_000,
                     switch_nice: int | None = None) -> int:
    try:
        needs_root()
    except TestbedError as exc:
        out.print(f"[red]error[/]: {exc}")
        return 1
    result_dir = results_root / f"demo-osm-{time.strftime('%Y%m%d-%H%M%S')}"
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    t_start = time.monotonic()

    def note(msg: str) -> None:
        out.print(f"[dim]{time.monotonic() - t_start:6.1f}s[/] {msg}", highlight=False)

    try:
        with OsmTestbed(result_dir / "testbed", log=note, port_rate_bps=port_rate_bps, switch_nice=switch_nice) as tb:
            python, version = deploy.charm_python()
            packages, rendered = deploy.build(tb, tb.spec(), result_dir / "osm", version)
            note(f"packages built ({len(packages)}, charms for Python {version}): "
                 f"{', '.join(p.name for p in packages)}")
            with deploy.session(tb, result_dir / "osm", python, note) as s:
                from srchain.osm.render import nsd_id

                ns = deployed(s, packages, nsd_id(rendered.chain), rendered.params)
                note(f"[green]NS {ns['nsState']}[/] through the NBI, LCM and unit-agent stand-ins; day 1: "
                     + "; ".join(f"{m} {', '.join(v)}" for m, v in ns["day1"].items()))

                def event(name: str, t: float) -> None:
                    note(f"[bold cyan]{name}[/] (t = {t:+.2f} s from the gaming session's start)")

                outcome: Outcome = run(tb, settings, result_dir, event, lambda *_: None,
                                       reconfigure=reconfigure_via_ns_action(s))
                outcome.extra["osm"] = ns | {"status": s.status().get("nsState")}
        return report(out, outcome, result_dir)
    except KeyboardInterrupt:
        out.print("[yellow]interrupted[/]: testbed torn down")
        return 130
    except (TestbedError, SrchainError) as exc:
        out.print(f"[red]error[/]: {exc}", highlight=False, soft_wrap=True)
        return 1
    finally:
        signal.signal(signal.SIGTERM, old_term)
