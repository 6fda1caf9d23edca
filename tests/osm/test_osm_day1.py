"""Issue 17 item 3: a VM charm's day 1 completes unattended and strictly. `srchain osm ns-create` generates a
host key pair per VM member (srchain.osm.ns_hostkeys); the VM's cloud-init gets the private half (rendered as
LCM/NG-RO render it: jinja2, StrictUndefined, autoescape), the charm's `config` primitive the public half
(mapped as LCM maps `<placeholders>`). The whole day 1 (install, generate-ssh-key, the key injected, config,
verify-ssh-credentials, the first primitive) then runs against a real SSH server (tests/osm/osm_sshd.py) that
presents the key cloud-init installed, with no manual step; a VM presenting another key is refused before any
command runs, at day 1 and after it."""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import paramiko
import pytest
import yaml
from ops import testing
from osm_sshd import SshLab
from osmlib import REPO
from test_osm_charm_vnfs import _ctx_on

from srchain.charms import sshkeys
from srchain.charms.controller import _host_keys
from srchain.osm import ns_hostkeys
from srchain.osm.render import VM_HOST_KEY, VNF_DEFAULTS, render_files
from srchain.remote import fingerprint
from waiting import wait_until

VMS = ["sr-proxy", "formatter", "classifier", "aggregator", "mitigation"]
JUJU_29 = "2.9.43"  # OSM's VCA (docs/osm.md, Supported OSM, Juju and Ubuntu): no secrets


def _lcm_cloud_init(text: str, params: dict[str, Any]) -> str:
    """LCM ns.py NsLcm._parse_cloud_init (and NG-RO, which gets the same text and vdur additionalParams)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined,
                             autoescape=jinja2.select_autoescape(default_for_string=True, default=True))
    return env.from_string(text).render(params)


def _lcm_map(primitive: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """LCM ns.py NsLcm._map_primitive_params for a day-1 primitive: `<name>` from the instantiation parameters."""
    out: dict[str, Any] = {}
    for p in primitive.get("parameter", []):
        v = p.get("value", p.get("default-value"))
        if isinstance(v, str) and v.startswith("<") and v.endswith(">"):
            v = params[v[1:-1]]
        out[p["name"]] = int(v) if p.get("data-type") == "INTEGER" else v
    return out


def _day1(vnfd: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load((REPO / f"vnfd/{vnfd}/{vnfd}_vnfd.yaml").read_text())
    (day12,) = doc["vnfd"]["df"][0]["lcm-operations-configuration"]["operate-vnf-op-config"]["day1-2"]
    return sorted(day12["initial-config-primitive"], key=lambda p: p["seq"])


@pytest.fixture(scope="module")
def instantiation() -> dict[str, Any]:
    """The reference chain on OSM VMs (px1 reached over SSH by the controller), keys as ns-create makes them."""
    rendered = render_files(REPO / "examples/cloud-gaming.yaml", REPO / "examples/inventory-osm.yaml")
    params, public = ns_hostkeys.with_host_keys(rendered.params)
    return {"rendered": rendered, "params": params, "public": public,
            "vnf": {m["member-vnf-index"]: m["additionalParams"] for m in params["additionalParamsForVnf"]}}


def _vm_key(cloud_init: str) -> tuple[paramiko.PKey, dict[str, Any]]:
    doc = yaml.safe_load(cloud_init)
    pem = doc["ssh_keys"]["ed25519_private"]
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem)), doc


@pytest.mark.parametrize("vnfd", VMS)
def test_cloud_init_installs_exactly_the_generated_key(vnfd: str, instantiation: dict[str, Any]) -> None:
    member = {"sr-proxy": "px1", "classifier": "classifier-a"}.get(vnfd, vnfd)
    if member not in instantiation["vnf"]:  # not in the reference chain: the parameters render-nsd gives it
        alone, public = ns_hostkeys.with_host_keys({"additionalParamsForVnf": [{"member-vnf-index": member,
            "additionalParams": {**VNF_DEFAULTS[f"srchain-{vnfd}"], **VM_HOST_KEY, "vlan_netplan": "{version: 2}"}}]})
        instantiation = {"vnf": {member: alone["additionalParamsForVnf"][0]["additionalParams"]}, "public": public}
    params = instantiation["vnf"][member]
    text = (REPO / f"vnfd/{vnfd}/cloud_init/{vnfd}-cloud-init.cfg").read_text()
    key, doc = _vm_key(_lcm_cloud_init(text, params))
    assert f"{key.get_name()} {key.get_base64()}" == params["ssh_host_key_pub"] == instantiation["public"][member]
    assert doc["ssh_keys"]["ed25519_public"] == params["ssh_host_key_pub"]
    assert doc["ssh_deletekeys"] is True and doc["ssh_genkeytypes"] == []  # no other, unpinned host key
    assert doc["users"][1]["name"] == "srchain"  # the rest of the cloud-config is intact
    config = _lcm_map(_day1(vnfd)[0], {**params, "rw_mgmt_ip": "10.0.0.9"})
    assert config["ssh-host-key"] == params["ssh_host_key_pub"] and config["ssh-hostname"] == "10.0.0.9"
    # without the generated key the instantiation stops (LCM: "Variable ... must be provided ...")
    with pytest.raises(jinja2.UndefinedError, match="ssh_host_key"):
        _lcm_cloud_init(text, {k: v for k, v in params.items() if not k.startswith("ssh_host_key")})


def test_every_instantiation_gets_its_own_keys_and_none_is_reused(instantiation: dict[str, Any]) -> None:
    again, public = ns_hostkeys.with_host_keys(instantiation["rendered"].params)
    # every VM member, the mitigation standing by at px1 included
    assert set(public) == {"px1", "formatter", "classifier-a", "classifier-b", "aggregator", "mitigation"}
    assert not set(public.values()) & set(instantiation["public"].values())
    assert "PRIVATE KEY" not in json.dumps(instantiation["rendered"].params)  # the rendering holds no key
    assert "ssh_host_key_pub" not in json.dumps(instantiation["rendered"].params)
    with pytest.raises(ns_hostkeys.HostKeyError) as e:
        ns_hostkeys.with_host_keys(again)
    assert str(e.value) == ("additionalParamsForVnf[member-vnf-index=px1]: ssh_host_key, ssh_host_key_pub given; "
                            "srchain osm ns-create generates the VM's host key for each instantiation (remove it "
                            "from the parameters)")


def test_the_controller_gets_the_proxy_host_key_through_its_config(instantiation: dict[str, Any]) -> None:
    nsd = yaml.safe_load(instantiation["rendered"].nsd_text)["nsd"]["nsd"][0]
    config = nsd["ns-configuration"]["initial-config-primitive"][0]
    mapped = _lcm_map(config, instantiation["params"]["additionalParamsForNs"])
    pins = yaml.safe_load(mapped["proxy-host-keys"])
    assert pins == {"px1": instantiation["public"]["px1"]}
    doc = yaml.safe_load(mapped["inventory"])
    assert _host_keys(mapped["proxy-host-keys"], doc) == pins  # what the controller charm accepts


# --- the day-1 sequence against a real SSH server ----------------------------------------------------------------

@pytest.fixture
def vm(instantiation: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    """The formatter VM as cloud-init left it: sshd presents the generated key."""
    text = (REPO / "vnfd/formatter/cloud_init/formatter-cloud-init.cfg").read_text()
    key, _ = _vm_key(_lcm_cloud_init(text, instantiation["vnf"]["formatter"]))
    lab = SshLab(tmp_path_factory.mktemp("vm"), host_key=key).start()
    try:
        yield lab
    finally:
        lab.stop()


def _juju(state: testing.State, event: str, /, **params: object) -> tuple[testing.State, dict[str, Any] | None]:
    ctx = _ctx_on(JUJU_29)
    on = ctx.on.action(event, params=params) if event not in ("install", "config_changed") else getattr(ctx.on, event)()
    out = ctx.run(on, state)
    return out, dict(ctx.action_results) if ctx.action_results is not None else None


def _osm_day1(f: dict[str, Any], lab: SshLab, params: dict[str, Any]) -> tuple[testing.State, list[str]]:
    """What LCM and N2VC do for the formatter, in their order; returns the unit's state and the steps' results.
    The deployment config (service paths, the sshd's port) stands for the VM's defaults."""
    state = testing.State(config={"service-config": str(f["cfg"]), "restart-command": f["restart"],
                                  "ssh-port": lab.port})
    state, _ = _juju(state, "install")
    state, _ = _juju(state, "generate-ssh-key")  # LCM: get_ssh_public_key
    state, pub = _juju(state, "get-ssh-public-key")
    assert pub is not None
    lab.authorize(pub["pubkey"])  # NG-RO inject_ssh_key (wait_vm_up_insert_key_ro)
    steps = _day1("formatter")
    config = _lcm_map(steps[0], {**params, "rw_mgmt_ip": "127.0.0.1"})
    state = dataclasses.replace(state, config={**state.config, **config})  # N2VC: config = application config
    state, _ = _juju(state, "config_changed")
    results = [state.unit_status.message]
    try:
        state, ok = _juju(state, "verify-ssh-credentials")  # inserted after config (LCM data_utils/vnfd.py)
        assert ok is not None
        results.append(ok["output"])
        for step in steps[1:]:
            state, res = _juju(state, step["name"], **_lcm_map(step, params))
            assert res is not None
            results.append(res["output"])
    except testing.ActionFailed as e:
        results.append(f"FAILED: {e.message}")
    return state, results


def _service_up(f: dict[str, Any]) -> None:
    """The restarted formatter answers on its health port (a loaded machine takes seconds to start Python)."""
    port = yaml.safe_load(f["cfg"].read_text())["http"]["port"]

    def answers() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    wait_until(answers, 30, what="the formatter's health port")


def test_day1_completes_unattended_against_a_real_sshd(formatter: dict[str, Any], vm: SshLab,
                                                       instantiation: dict[str, Any]) -> None:
    f = formatter
    subprocess.run([f["restart"]], check=True)  # the VM's systemd started the service at boot
    _service_up(f)  # ... long before OSM's day 1 reaches it
    params = instantiation["vnf"]["formatter"]
    state, results = _osm_day1(f, vm, params)
    where = f"ssh srchain@127.0.0.1:{vm.port}"
    assert results[0] == "formatter ok"  # config: over SSH, host key verified, health checked on the VM
    assert results[1] == f"{where}: logged in, host key verified"
    assert json.loads(results[2]) == {"service": "formatter", "set": {"depth": 4}, "status": "ok"}
    assert yaml.safe_load(f["cfg"].read_text())["depth"] == 4  # the day-1 set-window, applied on the "VM"
    assert fingerprint(vm.host_key) == ns_hostkeys.fingerprint(params["ssh_host_key_pub"])

    # strict after day 1: the same address now presents another key (a rebuilt VM, or someone else)
    before, ran = f["cfg"].read_text(), len(vm.commands)
    other = SshLab(vm.root, host_key=paramiko.Ed25519Key.from_private_key(io.StringIO(
        sshkeys.generate("x")[0]))).start()
    try:
        moved = dataclasses.replace(state, config={**state.config, "ssh-port": other.port})
        with pytest.raises(testing.ActionFailed) as e:
            _juju(moved, "set-window", **{"window-reports": 8})
        assert e.value.message == (f"ssh srchain@127.0.0.1:{other.port}: host key mismatch: the VM presented "
                                   f"{fingerprint(other.host_key)}, ssh-host-key pins {fingerprint(vm.host_key)}; "
                                   "refused, nothing was done")
        assert other.commands == [] and f["cfg"].read_text() == before and len(vm.commands) == ran
    finally:
        other.stop()


def test_day1_refuses_a_vm_that_presents_another_key(formatter: dict[str, Any], instantiation: dict[str, Any],
                                                     tmp_path: Path) -> None:
    f = formatter
    subprocess.run([f["restart"]], check=True)
    before = f["cfg"].read_text()
    impostor = SshLab(tmp_path / "impostor", host_key=paramiko.Ed25519Key.from_private_key(io.StringIO(
        sshkeys.generate("x")[0])))
    impostor.root.mkdir()
    impostor.start()
    try:
        params = instantiation["vnf"]["formatter"]
        state, results = _osm_day1(f, impostor, params)
        where = f"ssh srchain@127.0.0.1:{impostor.port}"
        mismatch = (f"{where}: host key mismatch: the VM presented {fingerprint(impostor.host_key)}, ssh-host-key "
                    f"pins {ns_hostkeys.fingerprint(params['ssh_host_key_pub'])}; refused, nothing was done")
        assert state.unit_status == testing.BlockedStatus(mismatch)
        assert results[1:] == [f"FAILED: {mismatch}"]  # verify-ssh-credentials fails, set-window never runs
        assert impostor.commands == [] and f["cfg"].read_text() == before  # nothing reached it, nothing applied
    finally:
        impostor.stop()
