"""`srchain chain apply|status|reconcile|delete` on the reference chain: the SR node program
(p4/srchain_node.p4) on an emulated switch over real gRPC, and a real srchain-proxy daemon (in a
network namespace `sa<pid>`, control API on a unix socket with a token).

Every check reads back every table of the switch and every SID/attachment of the proxy and compares
them with the plan: nothing more, nothing less.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml
from apply_helpers import REPO, Switch
from click.testing import CliRunner

from labs import running_proxy
from nslib import add_veths, namespace
from srchain.apply.factory import driver_factory
from srchain.bfrt.client import BfrtClient
from srchain.cli import main
from srchain.model import load_chain
from srchain.model.load import load_inventory
from srchain.plan import build_plan
from srchain.sidstore import SidStore
from srchain.targets.proxy import ProxyApi, ProxyDriver
from srchain.targets.sde_switch import SdeSwitchDriver
from srchain.targets.switch import SwitchDriver
from srchain_emu.bundle import compile_to_dir
from srchain_emu.tm import TrafficManager

pytestmark = pytest.mark.netns

EX = REPO / "examples"
NS = f"sa{os.getpid()}"
TOKEN = "sa-apply-test-token-0123456789"
IFACES = ["px1-sr", "px1-fmt", "px1-cla", "px1-clb", "px1-agg"]
MIT_IFACES = ["px1-mit-o", "px1-mit-i"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sa")
    with namespace(NS):
        add_veths(NS, ((n, f"q-{n}") for n in IFACES))
        token = tmp / "px1.token"
        token.write_text(TOKEN)
        token.chmod(0o600)
        sock = tmp / "px1.sock"
        cfg = tmp / "px1.yaml"
        cfg.write_text(yaml.safe_dump({"sr_iface": "px1-sr", "sr_next_hop_mac": "02:00:00:00:01:04",
                                       "listen": f"unix:{sock}", "token_file": str(token),
                                       "state_file": str(tmp / "px1.state.json"), "io": "socket",
                                       "attachments": [], "sids": []}))
        api = ProxyApi("px1", f"unix:{sock}", TOKEN)
        with running_proxy(NS, cfg, tmp / "px1.log", ready=lambda: api.call("GET", "/v1/health")):
            out = tmp / "node"
            compile_to_dir(REPO / "p4" / "srchain_node.p4", out)
            yield {"tmp": tmp, "api": api, "sock": sock, "token": token, "artifacts": out}


@pytest.fixture
def env(lab, tmp_path):
    api = lab["api"]
    sids = [s["sid"] for s in api.call("GET", "/v1/sids")["sids"]]
    api.call("POST", "/v1/batch", {"delete": sids})
    for a in api.call("GET", "/v1/attachments")["attachments"]:
        api.call("DELETE", f"/v1/attachments/{a['vnf']}")
    sw = Switch()
    inv = yaml.safe_load((EX / "inventory.yaml").read_text())
    inv["switches"][0].update(grpc=sw.address, artifacts=str(lab["artifacts"]))
    inv["proxies"][0].update(control=f"unix:{lab['sock']}", token_file=str(lab["token"]))
    inv_path = tmp_path / "inventory.yaml"
    inv_path.write_text(yaml.safe_dump(inv))
    try:
        yield {"sw": sw, "inv": inv_path, "state": tmp_path / "state", "tmp": tmp_path, "api": api}
    finally:
        sw.stop()


def cli(env, *args: str, spec: str | None = None):
    extra = ["--inventory", str(env["inv"]), "--state-dir", str(env["state"])]
    argv = ["chain", args[0], *( [spec] if spec else []), *args[1:], *extra]
    if args[0] in ("apply", "delete"):
        argv += ["--drain-interval", "0.05", "--drain-timeout", "2"]
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def plan_for(env, spec: str):
    with SidStore(env["state"]) as store:
        return build_plan(load_chain(spec, env["inv"]), store)


def assert_live_is(env, plan, tables: set[str] | None = None) -> None:
    """Every table of the switch (the plan's, or `tables`) and the proxy holds exactly the plan's entries."""
    sw = SwitchDriver("s1", BfrtClient.connect(env["sw"].address, client_id=5, timeout=5), "srchain_node")
    px = ProxyDriver("px1", env["api"])
    try:
        sw.prepare(load=False)
        for drv in (sw, px):
            entries = plan.entries_of(drv.kind, drv.name)
            read = {"sid", "attachment"} if drv.kind == "proxy" else {e.table for e in entries} | (tables or set())
            live = drv.snapshot(read)
            want = dict(drv.norm(e) for e in entries)
            assert {k: v[0] for k, v in live.items()} == want, drv.name
    finally:
        sw.close()


def spec_variant(env, name: str, edit) -> str:
    doc = yaml.safe_load((EX / "cloud-gaming.yaml").read_text())
    edit(doc)
    p = env["tmp"] / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc))
    return str(p)


@pytest.mark.parametrize("backend", ["native", "sde"])
def test_apply_reapply_insert_reorder_remove(lab, env, backend, monkeypatch):
    # sde: entries through the SDE's bfrt_grpc vocabulary (the project's facade here, Intel's on a switch)
    monkeypatch.setenv("SRCHAIN_BFRT_BACKEND", backend)
    drv = driver_factory(load_inventory(env["inv"])[0], env["tmp"])("switch", "s1")
    drv.close()
    assert type(drv) is (SdeSwitchDriver if backend == "sde" else SwitchDriver)
    ref = str(EX / "cloud-gaming.yaml")
    r = cli(env, "apply", spec=ref)
    assert r.exit_code == 0, r.output
    assert "pushed program srchain_node" in r.output and "chain 'cloud-gaming' v1 applied" in r.output
    assert_live_is(env, plan_for(env, ref))

    r = cli(env, "apply", spec=ref)
    assert r.exit_code == 0 and "0 added, 0 modified, 0 deleted in 0 batch(es)" in r.output, r.output

    if not _has_mit():
        add_veths(NS, ((n, f"q-{n}") for n in MIT_IFACES))
    insert = str(EX / "cloud-gaming-mitigation.yaml")
    r = cli(env, "apply", spec=insert)
    assert r.exit_code == 0 and "v2 applied: 3 added, 3 modified, 0 deleted" in r.output, r.output
    assert_live_is(env, plan_for(env, insert))

    def swap(doc) -> None:  # reports: formatter, aggregator, classifier (instead of classifier, aggregator)
        segs = doc["segments"]
        segs[2], segs[3] = segs[3], segs[2]

    reorder = spec_variant(env, "reorder", swap)
    r = cli(env, "apply", spec=reorder)
    assert r.exit_code == 0 and "v3 applied" in r.output, r.output
    assert_live_is(env, plan_for(env, reorder))

    r = cli(env, "apply", spec=ref)  # removes mitigation and restores the order
    assert r.exit_code == 0 and "v4 applied" in r.output and "drained: yes" in r.output, r.output
    assert "released SIDs" in r.output
    assert_live_is(env, plan_for(env, ref))

    r = cli(env, "status", "cloud-gaming")
    assert r.exit_code == 0 and "switch s1: in sync" in r.output and "proxy px1: in sync" in r.output, r.output


def _has_mit() -> bool:
    return subprocess.run(["ip", "-n", NS, "link", "show", MIT_IFACES[0]], capture_output=True).returncode == 0


@pytest.mark.parametrize(("nth", "backend"), [(1, "native"), (2, "native"), (2, "sde")])
def test_injected_switch_failure_leaves_the_old_chain(lab, env, nth, backend, monkeypatch):
    monkeypatch.setenv("SRCHAIN_BFRT_BACKEND", backend)
    ref = str(EX / "cloud-gaming.yaml")
    assert cli(env, "apply", spec=ref).exit_code == 0
    v1 = plan_for(env, ref)
    if not _has_mit():
        add_veths(NS, ((n, f"q-{n}") for n in MIT_IFACES))
    env["sw"].injector.arm(nth)
    r = cli(env, "apply", spec=str(EX / "cloud-gaming-mitigation.yaml"))
    assert r.exit_code == 1
    assert "switch s1: table SwitchIngress." in r.output and "injected fault" in r.output, r.output
    assert "rolled back" in r.output  # the proxy install (and, for nth=2, the switch install batch) were undone
    assert_live_is(env, v1)


def test_refusing_proxy_is_named_and_nothing_is_left(lab, env):
    ref = str(EX / "cloud-gaming.yaml")
    assert cli(env, "apply", spec=ref).exit_code == 0
    v1 = plan_for(env, ref)
    doc = yaml.safe_load(env["inv"].read_text())
    doc["proxies"][0]["attachments"][4] = {"vnf": "mitigation", "iface_out": "sa-nope-o", "iface_in": "sa-nope-i"}
    env["inv"].write_text(yaml.safe_dump(doc))
    r = cli(env, "apply", spec=str(EX / "cloud-gaming-mitigation.yaml"))
    assert r.exit_code == 1
    assert 'proxy px1: table attachment, entry {"vnf":"mitigation"}: add failed' in r.output, r.output
    assert "nothing had been changed" in r.output
    assert_live_is(env, v1)


def test_switch_restart_status_then_reconcile(lab, env):
    ref = str(EX / "cloud-gaming.yaml")
    assert cli(env, "apply", spec=ref).exit_code == 0
    env["sw"].restart()
    r = cli(env, "status", "cloud-gaming")
    assert r.exit_code == 2 and "switch s1" in r.output and "not loaded" in r.output, r.output
    r = cli(env, "reconcile", "cloud-gaming")
    assert r.exit_code == 0 and "pushed program srchain_node" in r.output, r.output
    assert_live_is(env, plan_for(env, ref))
    assert cli(env, "status", "cloud-gaming").exit_code == 0


def test_delete_removes_everything(lab, env):
    ref = str(EX / "cloud-gaming.yaml")
    assert cli(env, "apply", spec=ref).exit_code == 0
    v1 = plan_for(env, ref)
    r = cli(env, "delete", "cloud-gaming")
    assert r.exit_code == 0 and "deleted" in r.output, r.output
    empty = type(v1)(v1.chain, v1.version, v1.spec_digest, 1, [], [], [])
    assert_live_is(env, empty, {e.table for e in v1.entries_of("switch", "s1")})
    assert env["api"].call("GET", "/v1/sids")["sids"] == []


def test_proxy_that_lost_its_entries_is_reconciled(lab, env):
    ref = str(EX / "cloud-gaming.yaml")
    assert cli(env, "apply", spec=ref).exit_code == 0
    api = env["api"]
    api.call("POST", "/v1/batch", {"delete": [s["sid"] for s in api.call("GET", "/v1/sids")["sids"]]})
    api.call("DELETE", "/v1/attachments/formatter")
    r = cli(env, "status", "cloud-gaming", "--json")
    assert r.exit_code == 2, r.output
    report = yaml.safe_load(r.output)
    assert report["switch s1"]["ok"] == report["switch s1"]["intended"]
    px = report["proxy px1"]
    assert px["ok"] == px["intended"] - 5 and len(px["missing"]) == 5  # 4 SIDs + the formatter attachment
    r = cli(env, "reconcile", "cloud-gaming")
    assert r.exit_code == 0 and "5 added, 0 modified, 0 deleted" in r.output, r.output
    assert_live_is(env, plan_for(env, ref))


def test_tm_queue_rows_applied_read_back_and_drift_reported(lab, env):
    """The priority segment's TM scheduling (tf1.tm.queue.sched_cfg, srchain.plan.tm) goes with the chain: queue 7
    of every port s1 sends by gets max_priority 7 in its pipe; a drifted row shows in status (differs), a row
    reset to the SDE's default shows as missing, reconcile writes both back, delete restores the defaults."""
    ref = str(EX / "cloud-gaming.yaml")
    assert cli(env, "apply", spec=ref).exit_code == 0
    tm = [e for e in plan_for(env, ref).entries_of("switch", "s1") if e.role == "tm_queue"]
    routed = {e.params["port"] for e in plan_for(env, ref).entries_of("switch", "s1") if "port" in e.params}
    assert len(tm) == len(routed) and {e.params["max_priority"] for e in tm} == {"7"}
    c = BfrtClient.connect(env["sw"].address, client_id=6, timeout=5)
    try:
        c.bind("srchain_node")
        for port in routed:  # the planner's mapping is the switch's own (tf1.tm.port.cfg)
            (cfg,) = c.entries("tf1.tm.port.cfg", {"dev_port": port})
            key = {"pipe": port >> 7, "pg_id": cfg.data["pg_id"], "pg_queue": cfg.data["egress_qid_queues"][7]}
            assert any(e.key == key for e in tm), (port, key)
        first, second = tm[0].key, tm[1].key
        c.modify("tf1.tm.queue.sched_cfg", {"pg_id": first["pg_id"], "pg_queue": first["pg_queue"]}, None,
                 {"max_priority": "3"}, pipe=0)
        c.modify("tf1.tm.queue.sched_cfg", {"pg_id": second["pg_id"], "pg_queue": second["pg_queue"]}, None,
                 {"max_priority": "LOW"}, pipe=0)
        r = cli(env, "status", "cloud-gaming", "--json")
        assert r.exit_code == 2, r.output
        row = yaml.safe_load(r.output)["switch s1"]
        assert row["differs"] == [f"switch s1: table tf1.tm.queue.sched_cfg, entry "
                                  f"{{\"pg_id\":{first['pg_id']},\"pg_queue\":{first['pg_queue']},\"pipe\":0}}"]
        assert len(row["missing"]) == 1 and "tf1.tm.queue.sched_cfg" in row["missing"][0], row
        r = cli(env, "reconcile", "cloud-gaming")
        assert r.exit_code == 0 and "1 added, 1 modified, 0 deleted" in r.output, r.output
        assert cli(env, "status", "cloud-gaming").exit_code == 0
        assert cli(env, "delete", "cloud-gaming").exit_code == 0
        rows = c.entries("tf1.tm.queue.sched_cfg", pipe=0)
        assert {r.data["max_priority"] for r in rows} == {"LOW"}
    finally:
        c.close()


@pytest.fixture(scope="module")
def l4s_artifacts(tmp_path_factory):
    out = tmp_path_factory.mktemp("l4s") / "node"
    compile_to_dir(REPO / "p4" / "srchain_node.p4", out,
                   defines={"SRCHAIN_FLOW_FEATURES": "0", "SRCHAIN_PRIORITY": "0", "SRCHAIN_L4S": "1"})
    return out


def test_l4s_chain_applies_its_tables_and_port_shaper_and_delete_restores_the_port(lab, env, l4s_artifacts):
    """examples/l4s.yaml on a switch running the l4s profile: every planned entry (the module's tables, the queues'
    DWRR weights, the port shaper from port_rate_kbps) reads back as planned, the emulator's TM shapes those ports
    at 12 Mbit/s, a port whose shaper was switched off shows in status and reconcile turns it back on, and delete
    puts the SDE's defaults back."""
    inv = yaml.safe_load(env["inv"].read_text())
    inv["switches"][0]["artifacts"] = str(l4s_artifacts)
    env["inv"].write_text(yaml.safe_dump(inv))
    tm = TrafficManager()  # what the switch's data plane attaches: the TM tables drive it
    env["sw"].servicer.device.attach([1, 2, 3, 4], tm.set_rate, {}.__setitem__, tm.set_queue)
    spec = str(EX / "l4s.yaml")
    r = cli(env, "apply", spec=spec)
    assert r.exit_code == 0, r.output
    plan = plan_for(env, spec)
    rows = plan.entries_of("switch", "s1")
    shaped = {e.key["dev_port"] for e in rows if e.table == "tf1.tm.port.sched_cfg"}
    assert shaped and all(e.params["max_rate"] == 12000 for e in rows if e.table == "tf1.tm.port.sched_shaping")
    assert_live_is(env, plan)
    assert {p: tm.shapers[p].rate_bps for p in shaped} == {p: 12_000_000 for p in shaped}
    c = BfrtClient.connect(env["sw"].address, client_id=6, timeout=5)
    try:
        c.bind("srchain_node")
        port = min(shaped)
        c.modify("tf1.tm.port.sched_cfg", {"dev_port": port}, None, {"max_rate_enable": False})
        r = cli(env, "status", "l4s", "--json")
        assert r.exit_code == 2, r.output
        row = yaml.safe_load(r.output)["switch s1"]
        assert len(row["missing"]) == 1 and "tf1.tm.port.sched_cfg" in row["missing"][0], row
        assert cli(env, "reconcile", "l4s").exit_code == 0
        assert cli(env, "status", "l4s").exit_code == 0
        assert tm.shapers[port].rate_bps == 12_000_000
        assert cli(env, "delete", "l4s").exit_code == 0
        for p in shaped:
            (cfg,) = c.entries("tf1.tm.port.sched_cfg", {"dev_port": p})
            assert cfg.data["max_rate_enable"] is False
        assert all(r.data["dwrr_weight"] == 1023 for r in c.entries("tf1.tm.queue.sched_cfg", pipe=0))
    finally:
        c.close()
