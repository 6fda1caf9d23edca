"""The srchain-p4-switch charm through ops.testing (Context/State): every action and the day-1 path run
the real library code against the emulated Tofino (BF Runtime over real gRPC on loopback) with the
real p4/srchain_node.p4 program."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ops import testing
from osm_switchlab import PROGRAM, EmulatedSwitch, compile_artifacts
from osmlib import NS_CONFIG, REPO, charm_class
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from srchain.bfrt.client import BfrtClient
from srchain.charms.p4_switch import bundle_digest
from srchain.model import load_chain
from srchain.osm.im import ImValidator
from srchain.osm.package import build_package, ship_p4_bundles
from srchain.osm.render import render_files
from srchain.plan import build_plan
from srchain.plan import tm as TM
from srchain.sidstore import SidStore
from srchain.targets.loader import Bundle

CHARM = REPO / "charms/srchain-p4-switch"
EX = REPO / "examples"
TOKEN = "so-bfrt-token-0123456789abcdef"
FWD = "SwitchIngress.sr.sid_forward"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The program as `package build --p4-bundle` ships it: <dir>/srchain_node/{bf-rt.json,pipe/...,DIGEST}."""
    built = compile_artifacts(tmp_path_factory.mktemp("p4"))
    shipped = tmp_path_factory.mktemp("shipped") / "p4"
    ship_p4_bundles([built / PROGRAM], shipped)
    return shipped


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """v1 (reference chain) and v2 (mitigation inserted) as `srchain chain plan --json` prints them."""
    state = tmp_path_factory.mktemp("sids")
    inv = EX / "inventory.yaml"
    with SidStore(state) as store:
        v1 = build_plan(load_chain(EX / "cloud-gaming.yaml", inv), store).to_json()
        v2 = build_plan(load_chain(EX / "cloud-gaming-mitigation.yaml", inv), store).to_json()
    return {"v1": v1, "v2": v2}


@pytest.fixture
def sw() -> Iterator[EmulatedSwitch]:
    s = EmulatedSwitch(token=TOKEN)
    try:
        yield s
    finally:
        s.stop()


class Unit:
    """One charm unit: config + the token secret; its state dir persists across events like a machine's."""

    def __init__(self, sw: EmulatedSwitch, artifacts: Path, state_dir: Path, token: str = TOKEN) -> None:
        host, port = sw.address.rsplit(":", 1)
        self.secret = testing.Secret(tracked_content={"token": token})
        self.config = {"bfrt-address": host, "bfrt-port": int(port), "switch-name": "s1",
                       "p4-artifacts": str(artifacts), "state-dir": str(state_dir), "bfrt-token": self.secret.id}

    def state(self, **config: object) -> testing.State:
        return testing.State(leader=True, secrets={self.secret}, config={**self.config, **config})

    def ctx(self) -> testing.Context:
        return testing.Context(charm_class(CHARM), charm_root=CHARM)

    def act(self, name: str, /, **params: object) -> dict:
        ctx = self.ctx()
        ctx.run(ctx.on.action(name, params=params), self.state())
        assert ctx.action_results is not None
        return json.loads(ctx.action_results["output"])

    def fail(self, name: str, /, **params: object) -> str:
        ctx = self.ctx()
        with pytest.raises(testing.ActionFailed) as e:
            ctx.run(ctx.on.action(name, params=params), self.state())
        return e.value.message

    def config_changed(self, **config: object) -> testing.StatusBase:
        ctx = self.ctx()
        return ctx.run(ctx.on.config_changed(), self.state(**config)).unit_status


@pytest.fixture
def unit(sw: EmulatedSwitch, artifacts: Path, tmp_path: Path) -> Unit:
    return Unit(sw, artifacts, tmp_path / "state")


def _live(sw: EmulatedSwitch, table: str = FWD) -> dict[int, tuple]:
    return {int(e.key["label"]): (e.action, e.data["port"]) for e in sw.table(table, TOKEN)}


def _planned(plan: dict, table: str = FWD) -> dict[int, tuple]:
    (s1,) = [t for t in plan["targets"] if t["name"] == "s1"]
    return {e["key"]["label"]: (e["action"], e["params"]["port"]) for e in s1["entries"] if e["table"] == table}


def test_day1_status_names_what_is_wrong(sw: EmulatedSwitch, unit: Unit) -> None:
    assert unit.config_changed(**{"bfrt-address": ""}) == testing.BlockedStatus("bfrt-address not set")
    assert unit.config_changed() == testing.ActiveStatus("switch s1: reachable, no P4 program loaded")
    wrong = Unit(sw, Path(unit.config["p4-artifacts"]), Path(unit.config["state-dir"]), token="wrong" * 6)
    status = wrong.config_changed()
    assert status.name == "blocked" and "missing or wrong x-srchain-token" in status.message
    assert "wrong" * 6 not in status.message  # a token never reaches a status
    status = unit.config_changed(**{"bfrt-port": 1})
    assert status.name == "blocked" and "127.0.0.1:1: no BF Runtime session after 2 attempts" in status.message
    ungranted = testing.Secret(tracked_content={"ca": "x"})  # not in the unit's state: not readable
    status = unit.config_changed(**{"bfrt-tls": ungranted.id})
    assert status == testing.BlockedStatus("bfrt-tls: the secret is not readable (granted to this application?)")


def test_load_program_is_a_noop_when_loaded(unit: Unit) -> None:
    first = unit.act("load-p4-program", program=PROGRAM)
    assert first["result"] == "pushed" and first["program"] == PROGRAM
    assert unit.act("load-p4-program", program=PROGRAM)["result"] == "already loaded"
    assert unit.config_changed() == testing.ActiveStatus(f"switch s1: running {PROGRAM}")
    msg = unit.fail("load-p4-program", program="l2fwd")
    assert msg.startswith("program: no compiled artifacts for l2fwd (missing ") and "l2fwd/bf-rt.json" in msg
    assert unit.fail("load-p4-program", program="../etc") == "program: '../etc' is not a program name"


def test_apply_chain_make_before_break_and_refusals(sw: EmulatedSwitch, unit: Unit, plans: dict[str, dict]) -> None:
    v1, v2 = plans["v1"], plans["v2"]
    assert unit.fail("apply-chain", plan=json.dumps(v1)) == \
        "switch s1: no P4 program is loaded (none); run load-p4-program first"
    unit.act("load-p4-program", program=PROGRAM)
    r = unit.act("apply-chain", plan=json.dumps(v1))
    n1 = sum(len(t["entries"]) for t in v1["targets"] if t["name"] == "s1")
    assert (r["chain"], r["version"], r["entries"], r["add"], r["delete"]) == ("cloud-gaming", 1, n1, n1, 0)
    assert _live(sw) == _planned(v1)
    assert unit.act("apply-chain", plan=json.dumps(v1))["add"] == 0  # idempotent

    # a refused v2 (one entry the switch rejects: port out of range) leaves v1 in place
    bad = json.loads(json.dumps(v2))
    s1 = next(t for t in bad["targets"] if t["name"] == "s1")
    s1["entries"].append({"table": FWD, "key": {"label": 23999}, "action": "SwitchIngress.sr.forward",
                          "params": {"port": 1 << 12, "dst_mac": "02:00:00:00:00:01"}, "role": "sid_forward",
                          "version": 2})
    msg = unit.fail("apply-chain", plan=json.dumps(bad))
    assert msg.startswith('apply-chain cloud-gaming v2: switch s1: table SwitchIngress.sr.sid_forward, entry '
                          '{"label":23999}: add failed: INVALID_ARGUMENT: '), msg
    assert "does not fit in 9 bits" in msg and msg.endswith("; nothing had been changed"), msg
    assert _live(sw) == _planned(v1)

    r = unit.act("apply-chain", plan=json.dumps(v2))
    assert r["version"] == 2 and r["add"] + r["modify"] > 0
    assert _live(sw) == _planned(v2)

    for plan, expected in [
        ("{nope", "plan: not JSON ("),
        (json.dumps({**v1, "format": "x"}), "plan: format: must be srchain.plan/v1"),
        (json.dumps({**v1, "chain": "../x"}), "plan: chain: '../x' cannot be a file name"),
        (json.dumps({**v1, "targets": [t for t in v1["targets"] if t["kind"] == "proxy"]}),
         "plan: targets: no entries for switch s1 (the plan's switches: none)"),
        (json.dumps({**v1, "targets": [{"kind": "router", "name": "r"}]}), "plan: targets[0].kind: 'router'"),
    ]:
        assert unit.fail("apply-chain", plan=plan).startswith(expected)
    assert _live(sw) == _planned(v2)


def test_push_of_a_new_program_reinstalls_the_applied_chain(sw: EmulatedSwitch, unit: Unit, artifacts: Path,
                                                           plans: dict[str, dict], tmp_path: Path) -> None:
    unit.act("load-p4-program", program=PROGRAM)
    unit.act("apply-chain", plan=json.dumps(plans["v1"]))
    # the same program rebuilt with another binary: a push (which wipes the tables), then reconcile
    rebuilt = tmp_path / "rebuilt"
    compile_artifacts(rebuilt)
    binary = rebuilt / PROGRAM / "pipe" / "tofino.bin"  # the emulator's "binary" is the P4 source
    binary.write_bytes(binary.read_bytes() + b"\n// rebuilt\n")
    other = Unit(sw, rebuilt, Path(unit.config["state-dir"]))
    r = other.act("load-p4-program", program=PROGRAM, digest=bundle_digest(Bundle(PROGRAM, rebuilt / PROGRAM)))
    # the TM's queue rows are device state, which a program push leaves in place (tf1.tm.*): not reinstalled
    n1 = sum(1 for t in plans["v1"]["targets"] if t["name"] == "s1"
             for e in t["entries"] if e["table"] not in TM.TABLES)
    assert r["result"] == "pushed" and r["reinstalled"] == {"cloud-gaming": n1}
    assert _live(sw) == _planned(plans["v1"])


def test_day1_with_a_chain_plan_in_config(sw: EmulatedSwitch, unit: Unit, plans: dict[str, dict]) -> None:
    unit.act("load-p4-program", program=PROGRAM)
    status = unit.config_changed(**{"chain-plan": json.dumps(plans["v1"])})
    n1 = sum(len(t["entries"]) for t in plans["v1"]["targets"] if t["name"] == "s1")
    assert status == testing.ActiveStatus(f"switch s1: chain cloud-gaming v1 applied ({n1} entries)")
    assert _live(sw) == _planned(plans["v1"])
    status = unit.config_changed(**{"chain-plan": "[]"})
    assert status == testing.BlockedStatus("plan: format: must be srchain.plan/v1 (the output of "
                                           "`srchain chain plan --json`)")
    assert _live(sw) == _planned(plans["v1"])


def test_show_tables(unit: Unit, plans: dict[str, dict]) -> None:
    unit.act("load-p4-program", program=PROGRAM)
    unit.act("apply-chain", plan=json.dumps(plans["v1"]))
    every = unit.act("show-tables")
    assert every["program"] == PROGRAM
    assert FWD in every["tables"] and "SwitchIngress.classifier.rules" in every["tables"]
    assert {e["key"]["label"] for e in every["tables"][FWD]} == set(_planned(plans["v1"]))
    assert unit.act("show-tables", table="*") == every  # the PNF VNFD's default-value, as OSM passes it
    one = unit.act("show-tables", table="sid_forward")
    assert list(one["tables"]) == [FWD] and one["tables"][FWD] == every["tables"][FWD]
    msg = unit.fail("show-tables", table="nosuch")
    assert msg.startswith(f"table: 'nosuch' is not a table of {PROGRAM} (tables: ") and FWD in msg


def test_counters_count_real_packets(sw: EmulatedSwitch, unit: Unit, plans: dict[str, dict]) -> None:
    unit.act("load-p4-program", program=PROGRAM)
    unit.act("apply-chain", plan=json.dumps(plans["v1"]))
    before = unit.act("counters")
    assert before["counters"]["SwitchIngress.drops"] == {}
    assert before["tables"][FWD]["packets"] == 0
    label = next(iter(_planned(plans["v1"])))
    ip = IP(src="10.0.1.10", dst="10.0.2.10") / UDP(sport=1000, dport=2000) / (b"x" * 20)
    frames = [Ether(src="02:00:00:00:01:ff", dst="02:00:00:00:01:01") / MPLS(label=label, s=1, ttl=64) / ip,
              Ether(src="02:00:00:00:01:ff", dst="02:00:00:00:01:01") / MPLS(label=23998, s=1, ttl=64) / ip,
              Ether(src="02:00:00:00:01:ff", dst="02:00:00:00:01:01") / MPLS(label=label, s=1, ttl=1) / ip]
    for f in frames:
        sw.servicer.process(2, bytes(f))
    after = unit.act("counters")
    assert after["counters"]["SwitchIngress.drops"] == {"unknown_label": 1, "ttl_expired": 1}
    assert after["tables"][FWD]["packets"] == 1
    assert after["tables"][FWD]["entries"] == len(_planned(plans["v1"]))


# --- issue 17 item 7: the bundle travels in the PNF package and is checked against the NS config ------------------

def _loaded(sw: EmulatedSwitch) -> list[str]:
    c = BfrtClient.connect(sw.address, client_id=9, timeout=5, token=TOKEN)
    try:
        return [cfg.p4_name for cfg in c.pipeline().config]
    finally:
        c.close()


def test_the_pnf_package_ships_the_bundle_and_the_charm_loads_it_only_with_the_named_digest(
        sw: EmulatedSwitch, tmp_path: Path, im: ImValidator) -> None:
    built = compile_artifacts(tmp_path / "build")
    pkg = build_package(REPO / "vnfd/tofino-s1", tmp_path / "pkgs", im, venv=False, p4_bundles=[built / PROGRAM])
    with tarfile.open(pkg) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    charm = tmp_path / "x" / "srchain-tofino-s1_vnf" / "charms" / "srchain-p4-switch"
    shipped = charm / "p4" / PROGRAM
    assert sorted(str(f.relative_to(shipped)) for f in shipped.rglob("*") if f.is_file()) == \
        ["DIGEST", "bf-rt.json", "pipe/context.json", "pipe/tofino.bin"]
    digest = bundle_digest(Bundle(PROGRAM, built / PROGRAM))
    assert (shipped / "DIGEST").read_text() == digest + "\n"
    sums = (tmp_path / "x" / "srchain-tofino-s1_vnf" / "checksums.txt").read_text()
    assert f"srchain-tofino-s1_vnf/charms/srchain-p4-switch/p4/{PROGRAM}/pipe/tofino.bin" in sums

    # what the NS config names: render-nsd --p4-bundle puts the same digest there; the day-1 primitive passes it
    params = render_files(EX / "cloud-gaming.yaml", EX / "inventory.yaml", p4_bundles=[built / PROGRAM]).params
    (s1,) = [m["additionalParams"] for m in params["additionalParamsForVnf"] if m["member-vnf-index"] == "s1"]
    assert s1["p4_program_digest"] == digest
    committed = yaml.safe_load(NS_CONFIG.read_text())["additionalParamsForVnf"][0]["additionalParams"]
    assert committed["p4_program_digest"] == "from-package"  # without a bundle: the digest the build recorded
    pnf = yaml.safe_load((REPO / "vnfd/tofino-s1/tofino-s1_vnfd.yaml").read_text())["vnfd"]
    day1 = pnf["df"][0]["lcm-operations-configuration"]["operate-vnf-op-config"]["day1-2"][0]
    (load,) = [p for p in day1["initial-config-primitive"] if p["name"] == "load-p4-program"]
    assert {"name": "digest", "data-type": "STRING", "value": "<p4_program_digest>"} in load["parameter"]

    host, port = sw.address.rsplit(":", 1)
    secret = testing.Secret(tracked_content={"token": TOKEN})
    state = testing.State(leader=True, secrets={secret}, config={  # p4-artifacts unset: the charm's own p4/
        "bfrt-address": host, "bfrt-port": int(port), "switch-name": "s1", "state-dir": str(tmp_path / "state"),
        "bfrt-token": secret.id})

    def act(**params: object) -> dict:
        ctx = testing.Context(charm_class(charm), charm_root=charm)
        ctx.run(ctx.on.action("load-p4-program", params={"program": PROGRAM, **params}), state)
        assert ctx.action_results is not None
        return json.loads(ctx.action_results["output"])

    def refused(**params: object) -> str:
        ctx = testing.Context(charm_class(charm), charm_root=charm)
        with pytest.raises(testing.ActionFailed) as e:
            ctx.run(ctx.on.action("load-p4-program", params={"program": PROGRAM, **params}), state)
        return e.value.message

    other = "sha256:" + "0" * 64
    assert refused(digest=other) == (f"program {PROGRAM}: the bundle at {shipped} has digest {digest}, the NS config "
                                     f"(load-p4-program digest) names {other}; refused, nothing was loaded")
    assert refused(digest="md5:abc") == ("digest: 'md5:abc' (the NS config (load-p4-program digest)) is not "
                                         "sha256:<64 hex digits> or from-package; nothing was loaded")
    binary = shipped / "pipe" / "tofino.bin"
    original = binary.read_bytes()
    binary.write_bytes(original + b"\n// changed after the build\n")  # the shipped bundle is not what was built
    tampered = bundle_digest(Bundle(PROGRAM, shipped))
    assert refused() == (f"program {PROGRAM}: the bundle at {shipped} has digest {tampered}, the package's "
                         f"{shipped / 'DIGEST'} names {digest}; refused, nothing was loaded")
    assert _loaded(sw) == []  # nothing reached the switch
    binary.write_bytes(original)
    assert act(digest=digest) == {"program": PROGRAM, "result": "pushed", "digest": digest}
    assert _loaded(sw) == [PROGRAM]
    assert act()["result"] == "already loaded"  # from-package: the recorded DIGEST
