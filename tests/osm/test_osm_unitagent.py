"""Issue 17: the built charms run as Juju runs them, driven as OSM drives them (srchain.osm.unitagent; docs/osm.md
"The unit-agent and LCM stand-ins"). Each charm is staged as `srchain package build` ships it (with venv/, for
the base's Python), copied into a unit, and every hook and action is a real run of its `dispatch` with Juju's
environment and the hook tools backed by the unit's state file. The LCM stand-in runs day 1 in LCM/N2VC's order
(deploy hooks; the unit's SSH key fetched and put on the VM; `config` as application config with N2VC's
verify-ssh-credentials retries; verify-ssh-credentials inserted; the initial primitives) and day 2 as ns-action.

Here (no root): the formatter against its real service over a real SSH server (the VM presenting the host key
ns-create generated), the P4 switch charm against the emulated Tofino, every VNF charm's deploy hooks and a
failing day-2 primitive, the refusals Juju makes before a charm runs, and the Juju 3 secret path.
test_osm_unitagent_netns.py: the SR proxy and the NS charm against the real proxy (root)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from osm_sshd import SshLab
from osm_switchlab import PROGRAM, EmulatedSwitch
from osm_unitlab import NSR, day12, output, primitive, unit_of
from osmlib import NS_CONFIG, REPO
from test_osm_day1 import _lcm_cloud_init, _service_up, _vm_key

from srchain.charms import sshkeys
from srchain.charms.p4_switch import bundle_digest
from srchain.model import load_chain
from srchain.model.load import load_inventory
from srchain.osm import ns_hostkeys
from srchain.osm.im import ImValidator
from srchain.osm.nbi_standin import StandinNbi
from srchain.osm.pdu import pdu_descriptors
from srchain.osm.render import render_files
from srchain.osm.unitagent.lcm import VERIFY, ExecutionEnvironment, Lcm, NbiActions
from srchain.osm.unitagent.unit import JujuRefusal
from srchain.plan import build_plan
from srchain.sidstore import SidStore
from srchain.targets.loader import Bundle

VNF_CHARMS = ("srchain-formatter", "srchain-classifier", "srchain-aggregator", "srchain-mitigation")


@pytest.fixture(scope="module")
def instantiation() -> dict[str, Any]:
    """The reference chain on OSM VMs, host keys as ns-create generates them (test_osm_day1.py)."""
    rendered = render_files(REPO / "examples/cloud-gaming.yaml", REPO / "examples/inventory-osm.yaml")
    params, public = ns_hostkeys.with_host_keys(rendered.params)
    return {"vnf": {m["member-vnf-index"]: m["additionalParams"] for m in params["additionalParamsForVnf"]},
            "public": public}


@pytest.fixture
def vm(instantiation: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    """The formatter VM as cloud-init left it: its sshd presents the generated host key."""
    text = (REPO / "vnfd/formatter/cloud_init/formatter-cloud-init.cfg").read_text()
    key, _ = _vm_key(_lcm_cloud_init(text, instantiation["vnf"]["formatter"]))
    lab = SshLab(tmp_path_factory.mktemp("vm"), host_key=key).start()
    try:
        yield lab
    finally:
        lab.stop()


# --- the formatter VNF: real service, real SSH ------------------------------------------------------------------

def test_formatter_day1_and_day2_through_lcm_and_dispatch(staged: dict[str, Path], charm_python: tuple[str, str],
                                                          formatter: dict[str, Any], vm: SshLab,
                                                          instantiation: dict[str, Any], tmp_path: Path) -> None:
    f = formatter
    subprocess.run([f["restart"]], check=True)  # the VM's systemd started the service at boot
    _service_up(f)
    unit = unit_of(staged, charm_python, "srchain-formatter", "formatter", tmp_path / "unit",
                   config={"service-config": str(f["cfg"]), "restart-command": f["restart"], "ssh-port": str(vm.port)})
    assert unit.application == "srchain-form-z0-formatter-vnf"
    block = day12("formatter")
    params = {**instantiation["vnf"]["formatter"], "rw_mgmt_ip": "127.0.0.1"}
    ee = ExecutionEnvironment(unit, "formatter", block, params)
    lcm = Lcm(verify_retries=3, verify_retry_interval_s=0.05)
    lcm.deploy(ee)
    assert unit.hooks_run == ["install", "leader-elected", "config-changed", "start"]
    assert unit.status == ("active", "formatter ok")  # no ssh-hostname yet: it looks where it runs (this machine)
    assert vm.commands == []

    lcm.instantiate(ee, inject_key=vm.authorize)
    where = f"ssh srchain@127.0.0.1:{vm.port}"
    assert [(s.primitive, s.ok) for s in ee.steps] == [(VERIFY, True), ("config", True), (VERIFY, True),
                                                       ("set-window", True)]
    assert ee.steps[1].detail == "CONFIG OK"
    assert ee.steps[1].params["ssh-hostname"] == "127.0.0.1"  # <rw_mgmt_ip>
    assert json.loads(ee.steps[2].detail) == {"output": f"{where}: logged in, host key verified"}
    assert json.loads(json.loads(ee.steps[3].detail)["output"]) == {"service": "formatter", "set": {"depth": 4},
                                                                    "status": "ok"}
    assert unit.status == ("active", "formatter ok")
    assert unit.hooks_run[-1] == "config-changed" and unit.hooks_run.count("config-changed") == 2
    assert yaml.safe_load(f["cfg"].read_text())["depth"] == 4  # applied on the "VM", over SSH
    assert any(c.startswith("sudo") or "systemctl" not in c for c in vm.commands)

    # day 2, as ns-action runs them: every primitive of the VNFD
    state, out = lcm.action(ee, primitive(block, "set-window"), {"window-reports": "8"})
    assert state == "COMPLETED", out
    assert json.loads(json.loads(out)["output"])["set"] == {"depth": 8}
    state, out = lcm.action(ee, primitive(block, "show-counters"), {})
    assert state == "COMPLETED" and json.loads(json.loads(out)["output"])["status"] == "ok", out
    state, out = lcm.action(ee, primitive(block, "restart-service"), {})
    assert state == "COMPLETED" and json.loads(json.loads(out)["output"]) == {"service": "formatter", "status": "ok"}

    # a refusal of the charm is the operation's FAILED detail with the charm's own message; nothing changed
    before = f["cfg"].read_text()
    state, out = lcm.action(ee, primitive(block, "set-window"), {"window-reports": "500"})
    assert state == "FAILED"
    assert out.startswith(f"Error executing primitive set-window in ee={NSR}-k8s.srchain-form-z0-formatter-vnf.k8s: "
                          "failed: "), out
    assert out.endswith("depth: Input should be less than or equal to 64; nothing was changed"), out
    assert f["cfg"].read_text() == before
    state, out = lcm.action(ee, primitive(block, "set-window"), {"window-reports": "many"})
    assert (state, out) == ("FAILED", "Parameter window-reports of primitive set-window must be integer")


def test_a_vm_that_never_accepts_the_key_fails_day1_after_n2vcs_retries(
        staged: dict[str, Path], charm_python: tuple[str, str], formatter: dict[str, Any], vm: SshLab,
        instantiation: dict[str, Any], tmp_path: Path) -> None:
    """N2VC retries verify-ssh-credentials inside `config` and only logs when it keeps failing; the inserted
    verify-ssh-credentials then fails the instantiation with the charm's reason, and set-window never runs."""
    f = formatter
    before = f["cfg"].read_text()
    unit = unit_of(staged, charm_python, "srchain-formatter", "formatter", tmp_path / "unit",
                   config={"service-config": str(f["cfg"]), "restart-command": f["restart"], "ssh-port": str(vm.port)})
    ee = ExecutionEnvironment(unit, "formatter", day12("formatter"),
                              {**instantiation["vnf"]["formatter"], "rw_mgmt_ip": "127.0.0.1"})
    lcm = Lcm(verify_retries=2, verify_retry_interval_s=0.05)
    lcm.deploy(ee)
    with pytest.raises(Exception, match="Error executing primitive verify-ssh-credentials") as e:
        lcm.instantiate(ee, inject_key=lambda key: None)  # RO never put the unit's key on the VM
    assert [(s.primitive, s.ok) for s in ee.steps] == [(VERIFY, False), (VERIFY, False), ("config", True),
                                                       (VERIFY, False)]
    assert f"failed: ssh srchain@127.0.0.1:{vm.port}: " in str(e.value), e.value
    assert str(e.value).endswith("refused this unit's SSH key (is its public key, get-ssh-public-key, in the VM's "
                                 "authorized_keys?); nothing was done"), e.value
    assert f["cfg"].read_text() == before and vm.commands == []


# --- refusals before any charm code runs --------------------------------------------------------------------

def test_juju_refuses_undeclared_config_and_bad_params_and_applies_nothing(
        staged: dict[str, Path], charm_python: tuple[str, str], tmp_path: Path) -> None:
    unit = unit_of(staged, charm_python, "srchain-formatter", "formatter", tmp_path / "unit")
    unit.deploy()
    hooks, config = list(unit.hooks_run), unit.config
    for bad, expected in ((({"ssh-hostname": "10.0.0.5", "window": "4"}), 'unknown option "window"'),
                          ({"ssh-hostname": "10.0.0.5", "ssh-port": "twenty-two"},
                           'option "ssh-port" expected int, got "twenty-two"'),
                          ({"ssh-sudo": "maybe"}, 'option "ssh-sudo" expected boolean, got "maybe"'),
                          ({"ssh-port": 22}, 'option "ssh-port": 22 is a int; application config takes strings')):
        with pytest.raises(JujuRefusal) as e:
            unit.set_config(bad)
        assert str(e.value).startswith(expected), e.value
    assert unit.config == config and unit.hooks_run == hooks  # nothing set, no hook ran
    assert unit.set_config({"ssh-port": "22"}) is False  # the default: no change, no config-changed
    assert unit.hooks_run == hooks

    lcm = Lcm()
    ee = ExecutionEnvironment(unit, "formatter", day12("formatter"), {})
    state, out = lcm.action(ee, {"name": "set-windows", "parameter": []}, {})
    assert (state, out) == ("FAILED", f"Error executing primitive set-windows in ee={ee.ee_id}: Action set-windows "
                                      "not in available actions")
    with pytest.raises(JujuRefusal, match=r"\(root\).window-reports : invalid type. Expected: integer, given: string"):
        unit.run_action("set-window", {"window-reports": "4"})
    with pytest.raises(JujuRefusal, match='"window-reports" property is missing and required'):
        unit.run_action("set-window", {})
    assert unit.hooks_run == hooks
    # the NS config with an option the charm does not declare fails the config primitive, nothing set
    with pytest.raises(Exception, match=r'Error configuring application into ee=.*: unknown option "chain-spec"'):
        lcm.exec_primitive(ee, "config", {"ssh-hostname": "10.0.0.9", "chain-spec": "x"})
    assert unit.config == config


@pytest.mark.parametrize("charm", VNF_CHARMS)
def test_every_vnf_charm_deploys_and_fails_a_primitive_with_its_reason(
        charm: str, staged: dict[str, Path], charm_python: tuple[str, str], tmp_path: Path) -> None:
    """Install → leader-elected → config-changed → start through dispatch, then a day-2 primitive with no service
    behind it: FAILED, with the charm's reason as the detail (N2VC reads the results' `output`)."""
    service = charm.removeprefix("srchain-")
    cfg = tmp_path / f"{service}.yaml"
    unit = unit_of(staged, charm_python, charm, service, tmp_path / "unit", config={"service-config": str(cfg)})
    ee = ExecutionEnvironment(unit, service, day12(service), {})
    Lcm().deploy(ee)
    assert unit.hooks_run == ["install", "leader-elected", "config-changed", "start"]
    assert unit.status == ("blocked", f"{cfg}: cannot read: No such file or directory (local)")
    assert any("Emitting Juju event start" in msg for _, msg in unit.logs)
    state, out = Lcm().action(ee, primitive(day12(service), "show-counters"), {})
    assert state == "FAILED"
    assert out == (f"Error executing primitive show-counters in ee={ee.ee_id}: failed: {cfg}: cannot read: No such "
                   "file or directory (local)")


# --- the P4 switch (PNF): the emulated Tofino ------------------------------------------------------------------

def test_p4_switch_day1_and_day2_against_the_emulated_tofino(staged: dict[str, Path],
                                                             charm_python: tuple[str, str], sw: EmulatedSwitch,
                                                             tmp_path: Path) -> None:
    host, port = sw.address.rsplit(":", 1)
    digest = bundle_digest(Bundle(PROGRAM, staged["srchain-p4-switch"] / "p4" / PROGRAM))
    unit = unit_of(staged, charm_python, "srchain-p4-switch", "s1", tmp_path / "unit",
                   config={"state-dir": str(tmp_path / "state")})
    block = day12("tofino-s1")
    params = {"rw_mgmt_ip": host, "bfrt_port": port, "device_id": "0", "p4_program": PROGRAM,
              "p4_program_digest": digest}
    ee = ExecutionEnvironment(unit, "s1", block, params)
    lcm = Lcm()
    lcm.deploy(ee)
    lcm.instantiate(ee)  # a PNF: no ssh-access, so no key and no verify-ssh-credentials
    assert [s.primitive for s in ee.steps] == ["config", "load-p4-program"]
    assert ee.steps[0].params == {"bfrt-address": host, "bfrt-port": port, "device-id": "0", "switch-name": "s1"}
    assert unit.config["bfrt-port"] == int(port)  # Juju parsed the string for the int option
    loaded = json.loads(json.loads(ee.steps[1].detail)["output"])
    assert loaded["program"] == PROGRAM and loaded["result"] != "already loaded", loaded

    with SidStore(tmp_path / "sids") as store:
        plan = build_plan(load_chain(REPO / "examples/cloud-gaming.yaml", REPO / "examples/inventory.yaml"),
                          store).to_json()
    state, out = lcm.action(ee, primitive(block, "apply-chain"), {"plan": json.dumps(plan)})
    assert state == "COMPLETED", out
    applied = json.loads(json.loads(out)["output"])
    (s1,) = [t for t in plan["targets"] if t["name"] == "s1"]
    assert applied["add"] == len(s1["entries"]), applied
    live = sw.table("SwitchIngress.sr.sid_forward")
    assert {int(e.key["label"]) for e in live} == {e["key"]["label"] for e in s1["entries"]
                                                   if e["table"] == "SwitchIngress.sr.sid_forward"}
    # show-tables (the VNFD's default `*`) and counters read back what apply-chain put on the switch
    state, out = lcm.action(ee, primitive(block, "show-tables"), {})
    assert state == "COMPLETED", out
    tables = output(out)["tables"]
    assert {int(e["key"]["label"]) for e in tables["SwitchIngress.sr.sid_forward"]} == {
        int(e.key["label"]) for e in live}
    state, out = lcm.action(ee, primitive(block, "counters"), {})
    assert state == "COMPLETED", out
    shown = output(out)
    assert shown["program"] == PROGRAM and shown["tables"]["SwitchIngress.sr.sid_forward"]["entries"] == len(live)
    # day 2: loading the running program again (its digest) is a no-op that keeps the tables
    loaded = output(lcm.action(ee, primitive(block, "load-p4-program"), {"program": PROGRAM, "digest": digest})[1])
    assert (loaded["result"], loaded["digest"]) == ("already loaded", digest), loaded
    assert len(sw.table("SwitchIngress.sr.sid_forward")) == len(live)
    state, out = lcm.action(ee, primitive(block, "load-p4-program"), {"program": PROGRAM,
                                                                       "digest": "sha256:" + "0" * 64})
    assert state == "FAILED" and "refused, nothing was loaded" in out, out
    assert len(sw.table("SwitchIngress.sr.sid_forward")) == len(live)  # the switch kept its program and tables


# --- Juju 3: unit secrets through the secret-* hook tools --------------------------------------------------------

def test_juju_3_keeps_the_units_ssh_key_in_a_secret(staged: dict[str, Path], charm_python: tuple[str, str],
                                                    tmp_path: Path) -> None:
    unit = unit_of(staged, charm_python, "srchain-formatter", "formatter", tmp_path / "unit", juju_version="3.4.0")
    unit.deploy()
    assert unit.run_action("generate-ssh-key").results == {"output": "generated"}
    secrets = unit.state()["secrets"]
    (secret,) = secrets.values()
    assert secret["label"] == "ssh-key" and secret["owner"] == "unit"
    pub = unit.run_action("get-ssh-public-key").results["pubkey"]
    assert pub == secret["content"]["public-key"] and pub.startswith("ssh-ed25519 ")
    tools = {c[0] for c in unit.state()["calls"]}
    assert {"secret-add", "secret-get"} <= tools
    # Juju 2.9 has no secret tools: the same key lands in ops' stored state (docs/osm.md, Secrets)
    old = unit_of(staged, charm_python, "srchain-formatter", "formatter", tmp_path / "unit29")
    assert not (old.bin / "secret-get").exists()
    assert "kept in the unit's state" in old.run_action("generate-ssh-key").results["output"]
    assert old.run_action("get-ssh-public-key").status == "completed"
    # a user secret (Juju >= 3.3) named by a config option
    uri = unit.add_user_secret({"private-key": "not a key"})
    host_key = sshkeys.generate("vm")[1]
    unit.set_config({"ssh-private-key": uri, "ssh-hostname": "127.0.0.1", "ssh-host-key": host_key})
    outcome = unit.run_action("verify-ssh-credentials")  # the secret's content reached the charm (and no log)
    assert outcome.status == "failed" and outcome.message.endswith(
        "ssh private key: not an unencrypted OpenSSH/PEM Ed25519, ECDSA or RSA key"), outcome
    assert not any("not a key" in msg for _, msg in unit.logs)


# --- ns-action through the NBI stand-in runs the charm through dispatch ------------------------------------------

def test_nbi_standin_ns_action_runs_the_charm_through_dispatch(
        staged: dict[str, Path], charm_python: tuple[str, str], formatter: dict[str, Any], built_packages: list[Path],
        im: ImValidator, tmp_path: Path) -> None:
    f = formatter
    subprocess.run([f["restart"]], check=True)
    _service_up(f)
    # the charm acts where it runs here (no ssh-hostname); the restart script clears dispatch's PYTHONPATH (osm_unitlab)
    unit = unit_of(staged, charm_python, "srchain-formatter", "formatter", tmp_path / "unit",
                   config={"service-config": str(f["cfg"]), "restart-command": f["restart"]})
    ee = ExecutionEnvironment(unit, "formatter", day12("formatter"), {})
    lcm = Lcm()
    lcm.deploy(ee)
    nbi = StandinNbi({"admin": "pw-0123456789"}, ["vim-1"], im=im, op_delay_s=0.0,
                     on_action=NbiActions(lcm, {("cg", "formatter"): ee}))
    for pkg in sorted(built_packages, key=lambda p: p.name.endswith("_ns.tar.gz")):  # the VNFDs first, then the NSD
        nbi.upload("nsd" if pkg.name.endswith("_ns.tar.gz") else "vnfd", pkg.read_bytes(), _upload_headers(pkg))
    inv, _ = load_inventory(REPO / "examples/inventory.yaml")
    vim_id = next(k for k, name in nbi.vims.items() if name == "vim-1")  # a PDU names the VIM account's id
    nbi.new_pdu(pdu_descriptors(inv, [vim_id])["s1"])
    params, _ = ns_hostkeys.with_host_keys(yaml.safe_load(NS_CONFIG.read_text()))  # as ns-create adds them
    created = nbi.ns_create({"nsName": "cg", "nsdId": "srchain-cloud-gaming", "vimAccountId": vim_id, **params})
    assert nbi.op_view(created["nslcmop_id"])["operationState"] == "COMPLETED"

    op = nbi.ns_action("cg", {"member_vnf_index": "formatter", "primitive": "set-window",
                              "primitive_params": {"window-reports": 8}})
    view = nbi.op_view(op["id"])
    assert view["operationState"] == "COMPLETED", view["detailed-status"]
    assert json.loads(json.loads(view["detailed-status"])["output"])["set"] == {"depth": 8}
    assert yaml.safe_load(f["cfg"].read_text())["depth"] == 8
    assert unit.timings[-1][0] == "actions/set-window"  # it ran through dispatch
    op = nbi.ns_action("cg", {"member_vnf_index": "formatter", "primitive": "set-window",
                              "primitive_params": {"window-reports": 500}})
    view = nbi.op_view(op["id"])
    assert view["operationState"] == "FAILED"
    assert view["detailed-status"] == (
        f"set-window: Error executing primitive set-window in ee={ee.ee_id}: failed: {f['cfg']}: depth: Input should "
        "be less than or equal to 64; nothing was changed")
    assert yaml.safe_load(f["cfg"].read_text())["depth"] == 8
    op = nbi.ns_action("cg", {"member_vnf_index": "aggregator", "primitive": "show-counters", "primitive_params": {}})
    assert nbi.op_view(op["id"])["detailed-status"] == (
        "show-counters: charm for member_vnf_index=aggregator is not deployed")
    nbi.close()


def _upload_headers(pkg: Path) -> dict[str, str]:
    return {"content-file-md5": hashlib.md5(pkg.read_bytes(), usedforsecurity=False).hexdigest(),
            "content-type": "application/gzip", "content-filename": pkg.name}
