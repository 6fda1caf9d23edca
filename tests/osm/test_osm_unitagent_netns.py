"""The SR proxy charm and the NS charm (srchain-controller) run through dispatch by the unit-agent stand-in and
driven by the LCM stand-in (srchain.osm.unitagent; docs/osm.md "The unit-agent and LCM stand-ins"), against a
real srchain-proxy daemon in a network namespace of its own and the emulated Tofino; the SR proxy charm both acting
where it runs and, as OSM runs it, over SSH to its "VM" (tests/osm/osm_sshd.py). Needs root (netns)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from osm_switchlab import PROGRAM, EmulatedSwitch, compile_artifacts
from osm_unitlab import day12, nsd_configuration, primitive, unit_of, vm_of
from osmlib import NS_CONFIG, REPO

from labs import running_proxy
from nslib import add_veths, namespace
from srchain.apply import AppliedStore
from srchain.charms.p4_switch import bundle_digest
from srchain.model.load import load_inventory
from srchain.osm import ns_hostkeys
from srchain.osm.im import ImValidator
from srchain.osm.nbi_standin import StandinNbi
from srchain.osm.pdu import pdu_descriptors
from srchain.osm.unitagent.lcm import VERIFY, ExecutionEnvironment, Lcm, NbiLcm
from srchain.osm.unitagent.unit import Unit
from srchain.targets.loader import Bundle
from srchain.targets.proxy import ProxyApi

pytestmark = pytest.mark.netns

NS = f"so{os.getpid()}u"
TOKEN = "so-unitagent-proxy-token-0123456789"
IFACES = ["px1-sr", "px1-fmt", "px1-cla", "px1-clb", "px1-agg", "px1-mit-o", "px1-mit-i"]
EX = REPO / "examples"
MITIGATION = "{name: mitigation, vnf: mitigation, proxy: px1, behaviour: dynamic, traffic: data}"
STATIC = {"sid": 16901, "behaviour": "static", "vnf": "formatter", "version": 2, "restore": [[16902, 16905]],
          "ttl": 64}


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("uapx")
    sock, token = tmp / "px1.sock", tmp / "px1.token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    (tmp / "px1.yaml").write_text(yaml.safe_dump({
        "sr_iface": "px1-sr", "sr_next_hop_mac": "02:00:00:00:01:04", "listen": f"unix:{sock}",
        "token_file": str(token), "io": "socket", "attachments": [], "sids": []}))
    api = ProxyApi("px1", f"unix:{sock}", TOKEN)
    with namespace(NS):
        add_veths(NS, ((n, f"q-{n}") for n in IFACES))
        with running_proxy(NS, tmp / "px1.yaml", tmp / "px1.log", ready=lambda: api.call("GET", "/v1/health")):
            yield {"api": api, "sock": sock, "token": token}


@pytest.fixture
def clean(proxy: dict[str, Any]) -> ProxyApi:
    api: ProxyApi = proxy["api"]
    api.call("POST", "/v1/batch", {"delete": [s["sid"] for s in api.call("GET", "/v1/sids")["sids"]]})
    for a in api.call("GET", "/v1/attachments")["attachments"]:
        api.call("DELETE", f"/v1/attachments/{a['vnf']}")
    return api


def _sids(api: ProxyApi) -> list[int]:
    return sorted(s["sid"] for s in api.call("GET", "/v1/sids")["sids"])


def test_sr_proxy_charm_day1_and_day2_against_the_real_proxy(staged: dict[str, Path], charm_python: tuple[str, str],
                                                             proxy: dict[str, Any], clean: ProxyApi,
                                                             tmp_path: Path) -> None:
    api = clean
    unit = unit_of(staged, charm_python, "srchain-sr-proxy", "px1", tmp_path / "unit")
    block = day12("sr-proxy")
    ee = ExecutionEnvironment(unit, "px1", block, {})
    lcm = Lcm(verify_retries=2, verify_retry_interval_s=0.05)  # N2VC: 20 × 15 s
    lcm.deploy(ee)
    # `config` as N2VC applies it (application config; Juju 2.9: the token inline, docs/osm.md Secrets). The proxy
    # is local here (no ssh-hostname), so N2VC's verify-ssh-credentials inside `config` fails each time and is
    # only logged: `config` still succeeds (in OSM after 20 tries, 5 minutes)
    assert lcm.exec_primitive(ee, "config", {"control-address": f"unix:{proxy['sock']}",
                                             "control-token": f"token: {TOKEN}"}) == "CONFIG OK"
    assert [(s.primitive, s.ok) for s in ee.steps] == [("verify-ssh-credentials", False)] * 2
    status = unit.status
    assert status[0] == "active" and status[1].startswith("proxy ok: 0 SIDs, SR loop "), status
    assert TOKEN not in json.dumps(unit.state()["log"])  # the token never reaches Juju's log
    attach = [{"vnf": "formatter", "iface": "px1-fmt", "mac": "02:00:00:00:0b:02"}]
    state, out = lcm.action(ee, primitive(block, "attach-vnf"), {"attachments": json.dumps(attach)})
    assert state == "COMPLETED" and json.loads(json.loads(out)["output"]) == {"attached": ["formatter"]}, out
    # all or nothing: the second attachment is refused, the first one (new) is taken out again
    two = [{"vnf": "aggregator", "iface": "px1-agg", "mac": "02:00:00:00:0b:05"},
           {"vnf": "classifier-a", "iface": "no-such-if", "mac": "02:00:00:00:0b:03"}]
    state, out = lcm.action(ee, primitive(block, "attach-vnf"), {"attachments": json.dumps(two)})
    assert state == "FAILED" and "failed: attachments[1] (classifier-a): " in out, out
    assert out.endswith("; nothing changed"), out
    assert [a["vnf"] for a in api.call("GET", "/v1/attachments")["attachments"]] == ["formatter"]
    state, out = lcm.action(ee, primitive(block, "add-sid"), {"entry": json.dumps(STATIC)})
    assert state == "COMPLETED", out
    assert _sids(api) == [16901]
    state, out = lcm.action(ee, primitive(block, "show-sids"), {})
    assert state == "COMPLETED" and [s["sid"] for s in json.loads(json.loads(out)["output"])["sids"]] == [16901]
    state, out = lcm.action(ee, primitive(block, "show-counters"), {})
    assert state == "COMPLETED" and "drops" in json.loads(json.loads(out)["output"]), out

    # the charm's refusal is the operation's detail; nothing changed on the proxy
    state, out = lcm.action(ee, primitive(block, "remove-sid"), {"sid": "16901", "version": "1"})
    assert (state, out) == ("FAILED", f"Error executing primitive remove-sid in ee={ee.ee_id}: failed: sid 16901 has "
                                      "version 2, not 1; nothing removed")
    state, out = lcm.action(ee, primitive(block, "add-sid"), {"entry": json.dumps({**STATIC, "restore": [[5]]})})
    assert state == "FAILED" and "400" in out and "restore.0.0" in out, out
    assert _sids(api) == [16901]
    # remove-sid without a version: the VNFD's default -1 (any version), as LCM passes it
    state, out = lcm.action(ee, primitive(block, "remove-sid"), {"sid": "16901"})
    assert state == "COMPLETED" and json.loads(json.loads(out)["output"]) == {"deleted": 16901}, out
    state, out = lcm.action(ee, primitive(block, "detach-vnf"), {"vnf": "formatter"})
    assert state == "COMPLETED", out
    assert _sids(api) == [] and api.call("GET", "/v1/attachments")["attachments"] == []


def test_sr_proxy_charm_day1_and_day2_over_ssh_with_the_vms_own_token(
        staged: dict[str, Path], charm_python: tuple[str, str], proxy: dict[str, Any], clean: ProxyApi,
        tmp_path: Path) -> None:
    """As OSM runs px1's proxy charm: the VM reached over SSH (the host key ns-create generated, N2VC's key steps),
    day 1's attach-vnf and every day-2 primitive against the real proxy's control socket on the VM, with the token
    the VM generated at first boot read there (sudo), never sent; each action one helper on the VM for all of its
    requests (remove-sid: a GET and a DELETE)."""
    api = clean
    with vm_of("sr-proxy", "px1", tmp_path / "vm") as (vm, params):
        unit = unit_of(staged, charm_python, "srchain-sr-proxy", "px1", tmp_path / "unit",
                       config={"control-address": f"unix:{proxy['sock']}", "token-file": str(proxy["token"]),
                               "ssh-port": str(vm.port)})
        block = day12("sr-proxy")
        attach = [{"vnf": "formatter", "iface": "px1-fmt", "mac": "02:00:00:00:0b:02"}]
        ee = ExecutionEnvironment(unit, "px1", block, {**params, "rw_mgmt_ip": "127.0.0.1", "sr_iface": "px1-sr",
                                                       "sr_next_hop_mac": "02:00:00:00:01:04",
                                                       "vnf_attachments": json.dumps(attach)})
        lcm = Lcm(verify_retries=3, verify_retry_interval_s=0.05)
        lcm.deploy(ee)
        lcm.instantiate(ee, inject_key=vm.authorize)
        assert [(s.primitive, s.ok) for s in ee.steps] == [(VERIFY, True), ("config", True), (VERIFY, True),
                                                           ("attach-vnf", True)], ee.steps
        assert [a["vnf"] for a in api.call("GET", "/v1/attachments")["attachments"]] == ["formatter"]
        status = unit.status
        assert status[0] == "active" and status[1].startswith("proxy ok: 0 SIDs, SR loop "), status

        def act(name: str, given: dict[str, str]) -> tuple[str, Any]:
            helpers = [c for c in vm.commands if "python3 -c" in c]
            state, out = lcm.action(ee, primitive(block, name), given)
            assert len([c for c in vm.commands if "python3 -c" in c]) == len(helpers) + 1, name  # one helper
            return state, json.loads(json.loads(out)["output"]) if state == "COMPLETED" else out

        assert act("add-sid", {"entry": json.dumps(STATIC)})[0] == "COMPLETED"
        assert _sids(api) == [16901]
        state, shown = act("show-sids", {})
        assert state == "COMPLETED" and [s["sid"] for s in shown["sids"]] == [16901]
        state, shown = act("show-counters", {})
        assert state == "COMPLETED" and "drops" in shown, shown
        assert act("remove-sid", {"sid": "16901", "version": "1"}) == (
            "FAILED", f"Error executing primitive remove-sid in ee={ee.ee_id}: failed: sid 16901 has version 2, not 1; "
                      "nothing removed")
        assert _sids(api) == [16901]
        assert act("remove-sid", {"sid": "16901", "version": "2"}) == ("COMPLETED", {"deleted": 16901})
        assert act("detach-vnf", {"vnf": "formatter"})[0] == "COMPLETED"
        assert _sids(api) == [] and api.call("GET", "/v1/attachments")["attachments"] == []
        # the token stayed on the VM: read there under sudo, in no command line and not in Juju's log
        assert all(c.startswith("sudo -n -- python3 -c ") for c in vm.commands if "python3 -c" in c)
        assert not any(TOKEN in c for c in vm.commands) and TOKEN not in json.dumps(unit.state()["log"])


def test_ns_charm_day1_with_ns_config_info_and_day2(staged: dict[str, Path], charm_python: tuple[str, str],
                                                    proxy: dict[str, Any], clean: ProxyApi, sw: EmulatedSwitch,
                                                    tmp_path: Path) -> None:
    api = clean
    inv = yaml.safe_load((EX / "inventory.yaml").read_text())
    artifacts = compile_artifacts(tmp_path / "p4")
    inv["switches"][0].update(grpc=sw.address, artifacts=str(artifacts / PROGRAM))
    inv["proxies"][0].update(control=f"unix:{proxy['sock']}")
    state_dir = tmp_path / "state"
    unit = unit_of(staged, charm_python, "srchain-controller", None, tmp_path / "unit",
                   config={"state-dir": str(state_dir), "target-tokens": f"proxy-px1: {TOKEN}",
                           "drain-timeout": "0.2"})
    assert unit.application == "srchain-controller-ns"
    config = nsd_configuration()
    params = {"inventory": yaml.safe_dump(inv), "chain_spec": (EX / "cloud-gaming.yaml").read_text()}
    ee = ExecutionEnvironment(unit, None, config, params)
    # the PNF's charm too, so the NS charm's day 1 comes after a VNF's and ns_config_info names a real application
    host, port = sw.address.rsplit(":", 1)
    switch = unit_of(staged, charm_python, "srchain-p4-switch", "s1", tmp_path / "s1",
                     config={"state-dir": str(tmp_path / "s1-state")})
    digest = bundle_digest(Bundle(PROGRAM, staged["srchain-p4-switch"] / "p4" / PROGRAM))
    s1 = ExecutionEnvironment(switch, "s1", day12("tofino-s1"), {
        "rw_mgmt_ip": host, "bfrt_port": port, "device_id": "0", "p4_program": PROGRAM, "p4_program_digest": digest})
    lcm = Lcm()
    lcm.instantiate_ns([s1], ee)
    assert [s.primitive for s in s1.steps] == ["config", "load-p4-program"]
    assert [s.primitive for s in ee.steps] == ["config"]
    assert unit.hooks_run[:4] == ["install", "leader-elected", "config-changed", "start"]
    assert set(ee.steps[0].params) == {"inventory", "chain-spec", "ns_config_info"}  # LCM added ns_config_info
    mapping = {"osm-config-mapping": {"s1": "srchain-p4-s-z0-s1-vnf"}}
    assert json.loads(ee.steps[0].params["ns_config_info"]) == mapping
    applied = AppliedStore(state_dir).load("cloud-gaming")
    assert applied is not None
    assert unit.status == ("active", f"chain cloud-gaming v1 applied ({len(applied['sids'])} SIDs)")
    assert _sids(api) == sorted(s["sid"] for s in applied["sids"] if s["target_kind"] == "proxy")

    state, out = lcm.action(ee, primitive(config, "show-chain"), {})
    shown = json.loads(json.loads(out)["output"])
    assert state == "COMPLETED" and shown["version"] == 1, out
    assert shown["targets"] == {"switch s1": "in sync", "proxy px1": "in sync"}
    assert shown["osm-applications"] == mapping["osm-config-mapping"]

    state, out = lcm.action(ee, primitive(config, "add-segment"), {"segment": MITIGATION, "after": "features"})
    assert state == "COMPLETED" and json.loads(json.loads(out)["output"])["version"] == 2, out
    spec_before = (state_dir / "spec.yaml").read_text()
    state, out = lcm.action(ee, primitive(config, "add-segment"), {"segment": MITIGATION})
    assert (state, out) == ("FAILED", f"Error executing primitive add-segment in ee={ee.ee_id}: failed: segment: name "
                                      "'mitigation' is already in the chain; nothing was changed")
    assert (state_dir / "spec.yaml").read_text() == spec_before
    state, out = lcm.action(ee, primitive(config, "remove-segment"), {"name": "mitigation"})
    assert state == "COMPLETED" and json.loads(json.loads(out)["output"])["version"] == 3, out
    state, out = lcm.action(ee, primitive(config, "reconfigure-chain"),
                            {"spec": (EX / "cloud-gaming-mitigation.yaml").read_text()})
    assert state == "COMPLETED" and json.loads(json.loads(out)["output"])["version"] == 4, out
    doc = AppliedStore(state_dir).load("cloud-gaming")
    assert doc is not None and doc["version"] == 4
    assert _sids(api) == sorted(s["sid"] for s in doc["sids"] if s["target_kind"] == "proxy")


def test_nbi_standin_ns_create_runs_day1_and_ns_action_day2_through_the_charms(
        staged: dict[str, Path], charm_python: tuple[str, str], proxy: dict[str, Any], clean: ProxyApi,
        sw: EmulatedSwitch, built_packages: list[Path], im: ImValidator, tmp_path: Path) -> None:
    """ns-create on the NBI stand-in → the LCM stand-in → dispatch: the PNF's charm loads the program on the emulated
    Tofino, then the NS charm applies the chain to it and to the real proxy; ns-action runs show-chain and a refused
    add-segment through the NS charm. The VNF VMs are not stood up here: their members are not deployed."""
    api = clean
    host, port = sw.address.rsplit(":", 1)
    inv = yaml.safe_load((EX / "inventory.yaml").read_text())
    inv["switches"][0].update(grpc=sw.address, artifacts=str(compile_artifacts(tmp_path / "p4") / PROGRAM))
    inv["proxies"][0].update(control=f"unix:{proxy['sock']}")
    state_dir = tmp_path / "state"

    def make_unit(ns_name: str, member: str | None, charm: str) -> tuple[Unit, dict[str, Any]] | None:
        if member == "s1":  # the PDU's address (the stand-in's PDU names the inventory's, not this emulator's)
            return (unit_of(staged, charm_python, charm, member, tmp_path / "s1",
                            config={"state-dir": str(tmp_path / "s1-state")}), {"rw_mgmt_ip": host, "bfrt_port": port})
        if member is None:
            return (unit_of(staged, charm_python, charm, None, tmp_path / "ns",
                            config={"state-dir": str(state_dir), "target-tokens": f"proxy-px1: {TOKEN}",
                                    "drain-timeout": "0.2"}), {})
        return None

    agent = NbiLcm(Lcm(), make_unit)
    nbi = StandinNbi({"admin": "pw-0123456789"}, ["vim-1"], im=im, op_delay_s=0.0, on_action=agent.action,
                     on_instantiate=agent.instantiate)
    try:
        for pkg in sorted(built_packages, key=lambda p: p.name.endswith("_ns.tar.gz")):
            md5 = hashlib.md5(pkg.read_bytes(), usedforsecurity=False).hexdigest()
            nbi.upload("nsd" if pkg.name.endswith("_ns.tar.gz") else "vnfd", pkg.read_bytes(),
                       {"content-file-md5": md5, "content-type": "application/gzip", "content-filename": pkg.name})
        pdu_inv, _ = load_inventory(EX / "inventory.yaml")
        nbi.new_pdu(pdu_descriptors(pdu_inv, [next(k for k, n in nbi.vims.items() if n == "vim-1")])["s1"])
        params, _ = ns_hostkeys.with_host_keys(yaml.safe_load(NS_CONFIG.read_text()))
        params["additionalParamsForNs"].update(inventory=yaml.safe_dump(inv),
                                               chain_spec=(EX / "cloud-gaming.yaml").read_text())
        vim_id = next(k for k, n in nbi.vims.items() if n == "vim-1")  # the NBI takes the account's id
        created = nbi.ns_create({"nsName": "cg", "nsdId": "srchain-cloud-gaming", "vimAccountId": vim_id, **params})
        view = nbi.op_view(created["nslcmop_id"])
        assert (view["operationState"], view["detailed-status"]) == ("COMPLETED", "Done"), view["detailed-status"]
        assert nbi.ns_view("cg")["nsState"] == "READY"
        s1, ns = agent.envs[("cg", "s1")], agent.envs[("cg", None)]
        assert [s.primitive for s in s1.steps] == ["config", "load-p4-program"]
        assert json.loads(ns.steps[0].params["ns_config_info"]) == {"osm-config-mapping": {
            "s1": "srchain-p4-s-z0-s1-vnf"}}
        applied = AppliedStore(state_dir).load("cloud-gaming")
        assert applied is not None and applied["version"] == 1
        assert _sids(api) == sorted(s["sid"] for s in applied["sids"] if s["target_kind"] == "proxy")

        op = nbi.ns_action("cg", {"primitive": "show-chain", "primitive_params": {}})
        view = nbi.op_view(op["id"])
        assert view["operationState"] == "COMPLETED", view["detailed-status"]
        assert json.loads(json.loads(view["detailed-status"])["output"])["targets"] == {
            "switch s1": "in sync", "proxy px1": "in sync"}
        op = nbi.ns_action("cg", {"primitive": "add-segment", "primitive_params": {"segment": "{vnf: x}"}})
        view = nbi.op_view(op["id"])
        assert (view["operationState"], view["detailed-status"]) == (
            "FAILED", f"add-segment: Error executing primitive add-segment in ee={ns.ee_id}: failed: segment: must be "
                      "a YAML mapping with a 'name' (a chain spec segment); nothing was changed")
        assert AppliedStore(state_dir).load("cloud-gaming")["version"] == 1  # type: ignore[index]
    finally:
        nbi.close()
