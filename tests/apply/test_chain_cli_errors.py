"""`srchain chain plan|apply|status|reconcile|delete`: every expected failure is `error: ...` lines and a
non-zero exit, never a traceback, and leaves the targets and the SID store as they were. Targets are
in-memory (fake_target.py, put in place of the real driver factory), except where the real drivers meet
a proxy that is not there."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from apply_helpers import REPO
from click.testing import CliRunner, Result
from fake_target import FakeNetwork

import srchain.chains
from srchain.cli import main
from srchain.sidstore import SidStore

EX = REPO / "examples"
REF, MIT, INV = EX / "cloud-gaming.yaml", EX / "cloud-gaming-mitigation.yaml", EX / "inventory.yaml"
BAD_SPEC = EX / "invalid" / "spec-unknown-proxy.yaml"
BAD_INV = EX / "invalid" / "inventory-duplicate-port.yaml"
DRAIN = ["--drain-timeout", "0.2", "--drain-interval", "0.05"]


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    n = FakeNetwork()
    monkeypatch.setattr(srchain.chains, "driver_factory", n.connect)
    return n


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def run(state: Path, command: str, *args: object, inventory: Path = INV) -> Result:
    argv = ["chain", command, *map(str, args), "-i", str(inventory), "--state-dir", str(state)]
    if command in ("apply", "delete"):
        argv += DRAIN
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def refused(r: Result, *lines: str, code: int = 1) -> None:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    for line in lines:
        assert f"error: {line}" in r.output, r.output


def sids(state: Path) -> list[int]:
    with SidStore(state) as store:
        return [s.label for s in store.sids()]


# ------------------------------------------------------------ input files (every command)
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_bad_spec_is_refused_with_file_line_and_reason(net, state, command) -> None:
    r = run(state, command, BAD_SPEC)
    refused(r, f"{BAD_SPEC}:9: segments[1].proxy: unknown proxy 'px9' (inventory has: px1)")
    assert "1 error(s); nothing was " + ("planned." if command == "plan" else "applied.") in r.output
    assert sids(state) == [] and net.writes() == []


@pytest.mark.parametrize("command", ["plan", "apply", "status", "reconcile", "delete"])
def test_bad_inventory_is_refused_with_every_issue(net, state, command) -> None:
    arg = REF if command in ("plan", "apply") else "cloud-gaming"
    r = run(state, command, arg, inventory=BAD_INV)
    refused(r, f"{BAD_INV}:6: switches[0].ports[0].port: port '1' is defined more than once",
            f"{BAD_INV}:7: switches[0].ports[1].port: port '1' is defined more than once")
    assert "2 error(s); nothing was" in r.output and net.writes() == []


def test_plan_that_cannot_be_realised_names_the_spec(net, state) -> None:
    spec = EX / "invalid" / "plan-msd-exceeded.yaml"
    refused(run(state, "plan", spec), f"{spec}: chain 'deep': the report path of 'features' needs a label stack "
                                      "of depth 4, more than the MSD 3")
    assert sids(state) == []  # the plan's allocations were rolled back


def test_plan_with_an_unusable_current_state(net, state, tmp_path) -> None:
    current = tmp_path / "current.json"
    current.write_text('{"targets": 3}')
    refused(run(state, "plan", REF, "--current", current),
            f"{current}: not a usable current state: state has no 'targets' list")


# ------------------------------------------------------------ apply
def test_apply_to_a_proxy_refusing_connections_changes_nothing_and_keeps_no_sids(state, tmp_path) -> None:
    sock = tmp_path / "px1.sock"  # the real drivers; a socket bound but not listening refuses connections
    refusing = socket.socket(socket.AF_UNIX)
    refusing.bind(str(sock))
    token = tmp_path / "px1.token"
    token.write_text("t0ken-t0ken-t0ken-t0ken")
    token.chmod(0o600)
    inv = yaml.safe_load(INV.read_text())
    inv["proxies"][0].update(control=f"unix:{sock}", token_file=str(token))
    inv_path = tmp_path / "inventory.yaml"
    inv_path.write_text(yaml.safe_dump(inv))
    try:
        r = run(state, "apply", REF, inventory=inv_path)
    finally:
        refusing.close()
    refused(r, f"apply of chain 'cloud-gaming' v1 failed: proxy px1: GET /v1/health: unreachable at unix:{sock}: "
               "[Errno 111] Connection refused; nothing was changed")
    assert r.output.count("error:") == 1
    assert sids(state) == []  # the allocations of the failed apply were given back


def test_apply_a_target_refuses_names_the_entry_and_leaves_the_old_version(net, state) -> None:
    assert run(state, "apply", REF).exit_code == 0
    live, before = net.live(), sids(state)
    net.target("switch", "s1").refuse = lambda op: "table full" if op.phase == "install" else None
    r = run(state, "apply", MIT)
    refused(r, "apply of chain 'cloud-gaming' v2 failed: switch s1: table SwitchIngress.sr.sid_forward, entry ")
    assert "add failed: table full; rolled back 2 operation(s): the previous version is in place" in r.output
    assert net.live() == live and sids(state) == before


def test_apply_drain_timeout_is_reported_and_the_change_completes(net, state) -> None:
    assert run(state, "apply", MIT).exit_code == 0
    net.target("switch", "s1").moving = lambda key, now: True  # the old version never goes quiet
    r = run(state, "apply", REF)  # removes the mitigation: its entries are cleaned up after the drain
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "still counting packets after 0.2s; cleaned up anyway" in r.output and "drained: NO (timeout)" in r.output
    assert "released SIDs of the old version" in r.output


def test_apply_counters_unreadable_while_draining_rolls_back(net, state) -> None:
    assert run(state, "apply", MIT).exit_code == 0
    v1, before = net.live(), sids(state)
    sw = net.target("switch", "s1")
    sw.refuse = lambda op: setattr(sw, "unreadable", op.phase == "flip") or None  # type: ignore[func-returns-value]
    r = run(state, "apply", REF)
    refused(r, "apply of chain 'cloud-gaming' v2 failed: switch s1: reading the counters to drain the old "
               "version failed: read timed out; rolled back ")
    assert net.live() == v1 and sids(state) == before  # nothing released while the old version is in place


# ------------------------------------------------------------ status, reconcile, delete
@pytest.mark.parametrize(("command", "prefix"), [("status", ""), ("reconcile", "reconcile of chain 'nope' failed: "),
                                                 ("delete", "delete of chain 'nope' failed: ")])
def test_unknown_chain(net, state, command, prefix) -> None:
    refused(run(state, command, "nope"), f"{prefix}chain nope has not been applied (no {state}/applied/nope.json)")


@pytest.mark.parametrize("command", ["status", "reconcile", "delete"])
def test_a_chain_name_that_cannot_be_a_file(net, state, command) -> None:
    refused(run(state, command, "../x"), "chain name '../x' cannot be a file name")


def test_status_of_an_unreadable_target_is_a_row_and_exit_2(net, state) -> None:
    assert run(state, "apply", REF).exit_code == 0
    net.target("switch", "s1").unreadable = True
    r = run(state, "status", "cloud-gaming")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "switch s1: switch s1: read timed out" in r.output and "proxy px1: in sync" in r.output


def test_reconcile_of_an_unreachable_target_changes_nothing(net, state) -> None:
    assert run(state, "apply", REF).exit_code == 0
    net.target("switch", "s1").table.clear()
    net.target("switch", "s1").down = True
    refused(run(state, "reconcile", "cloud-gaming"),
            "reconcile of chain 'cloud-gaming' failed: switch s1: connection refused; nothing was changed")
    assert ("switch", "s1") not in net.live()


def test_delete_a_target_refuses_rolls_back_and_keeps_the_sids(net, state) -> None:
    done = run(state, "apply", REF)
    assert done.exit_code == 0
    live, before = net.live(), sids(state)
    net.target("proxy", "px1").refuse = lambda op: "busy" if op.op == "delete" else None
    r = run(state, "delete", "cloud-gaming")
    refused(r, "delete of chain 'cloud-gaming' failed: proxy px1: table ")
    assert "the previous version is in place" in r.output
    assert net.live() == live and sids(state) == before
    net.target("proxy", "px1").refuse = lambda op: None
    r = run(state, "delete", "cloud-gaming")
    assert r.exit_code == 0 and net.live() == {} and sids(state) == [], r.output
