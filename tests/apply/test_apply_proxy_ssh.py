"""The apply engine on the reference chain with the SR proxy reached ONLY over SSH (inventory `ssh`):
an emulated switch over real gRPC, a real srchain-proxy in network namespace `so<pid>s`, and the
in-process SSH server of tests/osm/osm_sshd.py standing in for the proxy VM's sshd. The controller side
never opens the control socket itself: every control-API request is a command that crossed SSH.

Refusals (host key unset/malformed, wrong host key, login key refused) change nothing on the proxy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from apply_helpers import REPO, Switch

from srchain.apply import AppliedStore, ApplyError, Controller, Drivers, Options
from srchain.apply.factory import driver_factory
from srchain.charms import sshkeys
from srchain.model import SpecError, load_chain
from srchain.model.load import load_inventory
from srchain.plan import build_plan
from srchain.remote import RemoteError, SshTransport, fingerprint
from srchain.sidstore import SidStore
from srchain.targets.base import TargetError
from srchain.targets.proxy import ProxyApi, ProxyDriver
from srchain_emu.bundle import compile_to_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "osm"))
from osm_sshd import SshLab  # the test SSH server lives with the OSM tests

from labs import running_proxy
from nslib import add_veths, namespace

pytestmark = pytest.mark.netns

EX = REPO / "examples"
NS = f"so{os.getpid()}s"
TOKEN = "so-ssh-apply-token-0123456789abcdef"
IFACES = ["px1-sr", "px1-fmt", "px1-cla", "px1-clb", "px1-agg"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("so-ssh")
    sshd = SshLab(tmp / "vm")
    with namespace(NS):
        add_veths(NS, ((n, f"q-{n}") for n in IFACES))
        vm = tmp / "vm-etc"  # what lives on the proxy's machine: its token and its control socket
        vm.mkdir()
        (vm / "proxy.token").write_text(TOKEN)
        (vm / "proxy.token").chmod(0o600)
        sock = vm / "proxy.sock"
        cfg = vm / "proxy.yaml"
        cfg.write_text(yaml.safe_dump({"sr_iface": "px1-sr", "sr_next_hop_mac": "02:00:00:00:01:04",
                                       "listen": f"unix:{sock}", "token_file": str(vm / "proxy.token"),
                                       "io": "socket", "attachments": [], "sids": []}))
        with running_proxy(NS, cfg, tmp / "px1.log"):
            try:
                sshd.start()
                private, public = sshkeys.generate("controller")
                sshd.authorize(public)
                key = tmp / "controller_ed25519"
                key.write_text(private)
                key.chmod(0o600)
                artifacts = tmp / "node"
                compile_to_dir(REPO / "p4" / "srchain_node.p4", artifacts)
                # the test's own view of the proxy (never used by the code under test)
                local = ProxyApi("px1", f"unix:{sock}", TOKEN)
                yield {"tmp": tmp, "sock": sock, "vm_token": vm / "proxy.token", "sshd": sshd, "key": key,
                       "artifacts": artifacts, "local": local}
            finally:
                sshd.stop()


@pytest.fixture
def env(lab: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    api: ProxyApi = lab["local"]
    api.call("POST", "/v1/batch", {"delete": [s["sid"] for s in api.call("GET", "/v1/sids")["sids"]]})
    for a in api.call("GET", "/v1/attachments")["attachments"]:
        api.call("DELETE", f"/v1/attachments/{a['vnf']}")
    lab["sshd"].commands.clear()
    sw = Switch()
    try:
        yield {**lab, "sw": sw, "state": tmp_path / "state", "dir": tmp_path}
    finally:
        sw.stop()


def write_inventory(env: dict[str, Any], **ssh: Any) -> Path:
    sshd: SshLab = env["sshd"]
    inv = yaml.safe_load((EX / "inventory.yaml").read_text())
    inv["switches"][0].update(grpc=env["sw"].address, artifacts=str(env["artifacts"]))
    block = {"host": "127.0.0.1", "port": sshd.port, "user": sshd.user, "host_key": sshd.host_key_line(),
             "key_file": str(env["key"]), "token_file": str(env["vm_token"])}
    block.update(ssh)
    inv["proxies"][0].update(control=f"unix:{env['sock']}", ssh={k: v for k, v in block.items() if v is not None})
    path = env["dir"] / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def controller(env: dict[str, Any], inv_path: Path) -> tuple[Controller, Drivers]:
    inv, _ = load_inventory(inv_path)
    drivers = Drivers(driver_factory(inv, inv_path.parent))  # the CLI's factory: SSH per the inventory
    return Controller(drivers, AppliedStore(env["state"]), Options(drain_timeout=2, drain_interval=0.05)), drivers


def plan_for(env: dict[str, Any], inv_path: Path, spec: Path = EX / "cloud-gaming.yaml"):
    with SidStore(env["state"]) as store:
        return build_plan(load_chain(spec, inv_path), store)


def live_proxy(env: dict[str, Any]) -> dict[Any, str]:
    return {k: v[0] for k, v in ProxyDriver("px1", env["local"]).snapshot({"sid", "attachment"}).items()}


def sudo_runs(sshd: SshLab) -> int:
    return sum(1 for line in sshd.sudo_log if line.startswith("-n -- "))  # the stand-in logs each sudo's argv


def test_apply_over_ssh_lands_everything_and_the_token_stays_on_the_vm(env: dict[str, Any]) -> None:
    inv = write_inventory(env)
    plan = plan_for(env, inv)
    connections = len(env["sshd"]._transports)
    sudo_before = sudo_runs(env["sshd"])
    ctl, drivers = controller(env, inv)
    try:
        result = ctl.apply(plan)
    finally:
        drivers.close()
    assert result.ops and any(op.entry.target_kind == "proxy" for op in result.ops)
    want = dict(ProxyDriver("px1", env["local"]).norm(e) for e in plan.entries_of("proxy", "px1"))
    assert want and live_proxy(env) == want  # read back locally: the SSH requests really landed
    sshd: SshLab = env["sshd"]
    assert sshd.commands and all(c.startswith("sudo -n -- python3 -c ") for c in sshd.commands)
    assert not any(TOKEN in c for c in sshd.commands)  # read on the VM, never in argv
    assert len(sshd._transports) == connections + 1  # one SSH connection for the whole apply
    # ... and one helper on the VM for all its requests (remote.HttpSession): one exec, the token read once
    assert len(sshd.commands) == 1 and sudo_runs(sshd) == sudo_before + 1, sshd.commands

    ctl, drivers = controller(env, inv)  # again: idempotent, and status says in sync over SSH
    try:
        again = ctl.apply(plan_for(env, inv))
        status = ctl.status(plan.chain)
    finally:
        drivers.close()
    assert again.ops == []
    n = len(plan.entries_of("proxy", "px1"))
    assert status["proxy px1"] == {"intended": n, "ok": n, "missing": [], "differs": []}, status


def test_token_from_the_controller_travels_on_stdin_only(env: dict[str, Any]) -> None:
    token = env["dir"] / "px1.token"
    token.write_text(TOKEN)
    inv_doc = yaml.safe_load(write_inventory(env, token_file=None).read_text())
    inv_doc["proxies"][0]["token_file"] = str(token)
    inv = env["dir"] / "inventory.yaml"
    inv.write_text(yaml.safe_dump(inv_doc))
    ctl, drivers = controller(env, inv)
    try:
        ctl.apply(plan_for(env, inv))
    finally:
        drivers.close()
    assert live_proxy(env)
    commands = env["sshd"].commands
    assert commands and all(c.startswith("python3 -c ") for c in commands)  # no sudo needed
    assert not any(TOKEN in c for c in commands)


def _refused(env: dict[str, Any], inv: Path) -> str:
    api: ProxyApi = env["local"]
    api.call("POST", "/v1/batch", {"put": [{"sid": 16900, "behaviour": "static", "vnf": "formatter",
                                            "version": 1, "restore": [[16901]]}]})
    before = live_proxy(env)
    error = _apply_error(env, inv)
    assert live_proxy(env) == before  # nothing applied, nothing removed
    assert env["sshd"].commands == []  # no command ever reached the "VM"
    return error


def _apply_error(env: dict[str, Any], inv: Path) -> str:
    """Apply the plan for inv, which must fail; the error's text."""
    ctl, drivers = controller(env, inv)
    try:
        with pytest.raises((ApplyError, TargetError)) as e:
            ctl.apply(plan_for(env, inv))
    finally:
        drivers.close()
    return str(e.value)


def test_wrong_host_key_is_refused_naming_both_fingerprints(env: dict[str, Any]) -> None:
    sshd: SshLab = env["sshd"]
    import paramiko

    other = paramiko.ECDSAKey.generate()
    msg = _refused(env, write_inventory(env, host_key=sshd.host_key_line(other)))
    assert (f"host key mismatch: the VM presented {fingerprint(sshd.host_key)}, proxies[px1].ssh.host_key pins "
            f"{fingerprint(other)}; refused, nothing was done") in msg


def test_refused_login_key_changes_nothing(env: dict[str, Any]) -> None:
    private, _ = sshkeys.generate("stranger")
    key = env["dir"] / "stranger"
    key.write_text(private)
    msg = _refused(env, write_inventory(env, key_file=str(key)))
    assert "the VM refused this unit's SSH key (is the public half of ssh.key_file" in msg
    assert "nothing was done" in msg and "PRIVATE" not in msg


@pytest.mark.parametrize("host_key", [None, ""])
def test_unpinned_host_key_refuses_to_connect(env: dict[str, Any], host_key: str | None) -> None:
    inv = write_inventory(env)
    doc = yaml.safe_load(inv.read_text())
    if host_key is None:
        del doc["proxies"][0]["ssh"]["host_key"]
    else:
        doc["proxies"][0]["ssh"]["host_key"] = host_key
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    connections = len(env["sshd"]._transports)
    msg = _refused(env, inv)
    assert (f"proxy px1: ssh srchain@127.0.0.1:{env['sshd'].port}: proxies[px1].ssh.host_key not set: pin the "
            "VM's host key") in msg and "nothing was done" in msg, msg
    assert len(env["sshd"]._transports) == connections  # it did not even connect


@pytest.mark.parametrize(("host_key", "reason"), [
    ("# only a comment", "no key in it, only comments: pin the proxy VM's host key"),
    ("ssh-ed25519", "line 1: expected 'TYPE BASE64'"),
    ("ssh-ed25519 !!!", "line 1: the key of type ssh-ed25519 is not base64"),
])
def test_malformed_host_key_is_an_inventory_error(env: dict[str, Any], host_key: str, reason: str) -> None:
    inv = write_inventory(env, host_key=host_key)
    with pytest.raises(SpecError) as e:
        load_inventory(inv)
    assert str(e.value).startswith(f"{inv}:") and f": proxies[0].ssh.host_key: {reason}" in str(e.value)
    assert env["sshd"].commands == [] and live_proxy(env) == {}


def test_control_socket_missing_on_the_vm_is_named_and_changes_nothing(env: dict[str, Any]) -> None:
    inv = write_inventory(env)
    doc = yaml.safe_load(inv.read_text())
    doc["proxies"][0]["control"] = "unix:/nonexistent/so-proxy.sock"
    inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    before = live_proxy(env)
    error = _apply_error(env, inv)
    assert (f"proxy px1: GET /v1/health on ssh srchain@127.0.0.1:{env['sshd'].port}: unreachable at "
            "unix:/nonexistent/so-proxy.sock") in error, error
    assert live_proxy(env) == before and len(env["sshd"].commands) == 1  # the health check, nothing after it


def test_a_session_whose_channel_dropped_is_opened_again_and_a_bad_token_file_is_named(env: dict[str, Any]) -> None:
    """remote.HttpSession: requests share one helper on the VM; a channel that went away (the VM's sshd, a network
    blip) costs only the request in flight, the next one opens a new helper; a token file the helper cannot read
    is named, and the session after it works again once the file is right."""
    sshd: SshLab = env["sshd"]
    t = SshTransport("127.0.0.1", sshd.user, sshd.host_key_line(), env["key"].read_text(), sshd.port)
    session = t.http_session(f"unix:{env['sock']}", token_file=str(env["vm_token"]), timeout=5.0)
    try:
        for _ in range(3):
            assert session.call("GET", "/v1/health")[0] == 200
        assert len(sshd.commands) == 1
        assert session._chan is not None
        session._chan.close()  # closed under it: seen before sending, a new helper answers
        assert session.call("GET", "/v1/health")[0] == 200 and len(sshd.commands) == 2
        session._chan.sendall(b"not json\n")  # the helper on the VM dies (its traceback) before the next request
        with pytest.raises(RemoteError) as e:
            session.call("GET", "/v1/health")
        assert f"ssh srchain@127.0.0.1:{sshd.port}: GET /v1/health: the helper" in str(e.value), e.value
        assert "JSONDecodeError" in str(e.value)  # its stderr, for the operator
        assert session.call("GET", "/v1/sids")[2]["sids"] == []
        assert len(sshd.commands) == 3
        bad = t.http_session(f"unix:{env['sock']}", token_file="/nonexistent/token", timeout=5.0)
        with pytest.raises(RemoteError) as e:
            bad.call("GET", "/v1/health")
        assert str(e.value) == (f"GET /v1/health on ssh srchain@127.0.0.1:{sshd.port}: cannot read token file "
                                "/nonexistent/token: No such file or directory")
        bad.close()
    finally:
        session.close()
        t.close()
