"""The srchain-sr-proxy charm through ops.testing (Context/State), every action against a real
srchain-proxy daemon running in a network namespace of its own (control API on a unix socket)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator

import paramiko
import pytest
import yaml
from ops import testing
from osm_sshd import SshLab
from osmlib import REPO, charm_class

from labs import running_proxy
from nslib import add_veths, namespace
from srchain.charms import sshkeys
from srchain.remote import fingerprint

CHARM = REPO / "charms/srchain-sr-proxy"
TOKEN = "so-charm-token-0123456789abcdef"
NS = f"so{os.getpid()}"
STATIC = {"sid": 16001, "behaviour": "static", "vnf": "fmt", "version": 2, "restore": [[16002, 16005]], "ttl": 64}

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("px")
    sock = tmp / "px.sock"
    (tmp / "token").write_text(TOKEN)
    (tmp / "token").chmod(0o600)
    (tmp / "px.yaml").write_text(yaml.safe_dump({
        "sr_iface": "sr0", "sr_next_hop_mac": "02:00:00:00:0a:02", "listen": f"unix:{sock}",
        "token_file": str(tmp / "token"), "io": "socket", "sids": [],
        "attachments": [{"vnf": "fmt", "iface": "vnf0", "mac": "02:00:00:00:0b:02"}]}))
    with namespace(NS):
        add_veths(NS, (("sr0", "sw0"), ("vnf0", "fmt0"), ("vnf1", "cls0")))
        with running_proxy(NS, tmp / "px.yaml", tmp / "px.log"):
            yield f"unix:{sock}"


def _state(address: str, token: str = TOKEN, **kw: object) -> testing.State:
    secret = testing.Secret(tracked_content={"token": token})
    return testing.State(leader=True, secrets={secret}, config={"control-address": address,
                                                                  "control-token": secret.id}, **kw)


def _ctx() -> testing.Context:
    return testing.Context(charm_class(CHARM), charm_root=CHARM)


def _act(address: str, name: str, **params: object) -> object:
    ctx = _ctx()
    ctx.run(ctx.on.action(name, params=params), _state(address))
    assert ctx.action_results is not None
    return json.loads(ctx.action_results["output"])


def _fail(address: str, name: str, **params: object) -> str:
    ctx = _ctx()
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action(name, params=params), _state(address))
    return e.value.message


def _sids(address: str) -> list[int]:
    return [s["sid"] for s in _act(address, "show-sids")["sids"]]  # type: ignore[index]


def test_day1_config_reaches_the_proxy(proxy: str) -> None:
    ctx = _ctx()
    out = ctx.run(ctx.on.config_changed(), _state(proxy))
    assert out.unit_status == testing.ActiveStatus(f"proxy ok: {len(_sids(proxy))} SIDs, SR loop python")
    out = ctx.run(ctx.on.config_changed(), testing.State(config={"control-address": proxy}))
    assert out.unit_status == testing.BlockedStatus("control-token not set (a Juju secret with key 'token')")
    out = ctx.run(ctx.on.config_changed(), _state(proxy, token="wrong-token-wrong-token"))
    assert out.unit_status == testing.BlockedStatus("proxy sr-proxy: GET /v1/health: 401 missing or wrong bearer token")
    out = ctx.run(ctx.on.config_changed(), _state("10.1.2.3:9000"))
    assert out.unit_status.name == "blocked"
    assert "is not a unix socket or loopback" in out.unit_status.message


def test_add_show_and_remove_a_sid(proxy: str) -> None:
    added = _act(proxy, "add-sid", entry=json.dumps(STATIC))
    assert added["sid"] == 16001 and added["restore"] == [[16002, 16005]]  # type: ignore[index]
    assert 16001 in _sids(proxy)
    msg = _fail(proxy, "remove-sid", sid=16001, version=1)
    assert msg == "sid 16001 has version 2, not 1; nothing removed"
    assert 16001 in _sids(proxy)
    assert _act(proxy, "remove-sid", sid=16001, version=2) == {"deleted": 16001}
    assert 16001 not in _sids(proxy)
    assert "404" in _fail(proxy, "remove-sid", sid=16001)
    _act(proxy, "add-sid", entry=json.dumps(STATIC))
    # -1 is the VNFD's default-value, which OSM's LCM passes when the operator gives no version: any version
    assert _act(proxy, "remove-sid", sid=16001, version=-1) == {"deleted": 16001}
    assert 16001 not in _sids(proxy)


def test_bad_sid_entry_is_refused_with_the_field_and_nothing_added(proxy: str) -> None:
    before = _sids(proxy)
    msg = _fail(proxy, "add-sid", entry=json.dumps({**STATIC, "sid": 16009, "restore": [[5]]}))
    assert "400" in msg and "restore.0.0" in msg
    assert _fail(proxy, "add-sid", entry="{not json") .startswith("entry: not JSON")
    assert _fail(proxy, "add-sid", entry="[]") == "entry: must be a JSON object with an integer 'sid'"
    assert _sids(proxy) == before


def test_attach_is_all_or_nothing_and_detach(proxy: str) -> None:
    bad = [{"vnf": "cls", "iface": "vnf1", "mac": "02:00:00:00:0c:02"}, {"vnf": "agg", "iface": "nosuch0"}]
    msg = _fail(proxy, "attach-vnf", attachments=json.dumps(bad))
    assert msg.startswith("attachments[1] (agg): proxy sr-proxy: PUT /v1/attachments/agg: 400")
    assert msg.endswith("; nothing changed")
    shown = _act(proxy, "show-counters")
    assert "drops" in shown  # type: ignore[operator]
    ctx = _ctx()
    ctx.run(ctx.on.config_changed(), _state(proxy))
    from srchain.targets.proxy import ProxyApi

    api = ProxyApi("t", proxy, TOKEN)
    assert sorted(a["vnf"] for a in api.call("GET", "/v1/attachments")["attachments"]) == ["fmt"]
    assert _act(proxy, "attach-vnf", attachments=json.dumps(bad[:1])) == {"attached": ["cls"]}
    assert sorted(a["vnf"] for a in api.call("GET", "/v1/attachments")["attachments"]) == ["cls", "fmt"]
    _act(proxy, "detach-vnf", vnf="cls")
    assert sorted(a["vnf"] for a in api.call("GET", "/v1/attachments")["attachments"]) == ["fmt"]


def test_ssh_key_for_osm(proxy: str) -> None:
    ctx = _ctx()
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("get-ssh-public-key"), _state(proxy))
    assert e.value.message == "no SSH key yet: run generate-ssh-key first"
    out = ctx.run(ctx.on.action("generate-ssh-key"), _state(proxy))
    assert ctx.action_results == {"output": "generated"}
    ctx.run(ctx.on.action("get-ssh-public-key"), out)
    assert ctx.action_results is not None
    assert ctx.action_results["pubkey"].startswith("ssh-ed25519 ")
    assert "PRIVATE" not in json.dumps(ctx.action_results)


def test_over_ssh_the_token_stays_on_the_vm(proxy: str, sshd: SshLab) -> None:
    """Proxy charm in OSM's VCA: the control API is reached on the VM over SSH; without a control-token
    secret the helper reads the VM's own token file (through sudo), so the token never leaves the VM."""
    private, public = sshkeys.generate("unit")
    sshd.authorize(public)
    key = testing.Secret(tracked_content={"private-key": private})
    token_file = proxy.removeprefix("unix:").rsplit("/", 1)[0] + "/token"
    state = testing.State(leader=True, secrets={key}, config={
        "control-address": proxy, "token-file": token_file, "ssh-hostname": "127.0.0.1", "ssh-port": sshd.port,
        "ssh-host-key": sshd.host_key_line(), "ssh-private-key": key.id})
    ctx = _ctx()
    out = ctx.run(ctx.on.config_changed(), state)
    assert out.unit_status == testing.ActiveStatus(f"proxy ok: {len(_sids(proxy))} SIDs, SR loop python")
    entry = {**STATIC, "sid": 16011}
    ctx.run(ctx.on.action("add-sid", params={"entry": json.dumps(entry)}), state)
    assert ctx.action_results is not None and json.loads(ctx.action_results["output"])["sid"] == 16011
    assert 16011 in _sids(proxy)  # seen through the local client: the SSH request really landed
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("remove-sid", params={"sid": 16011, "version": 1}), state)
    assert e.value.message == "sid 16011 has version 2, not 1; nothing removed"
    execs = len(sshd.commands)
    ctx.run(ctx.on.action("remove-sid", params={"sid": 16011, "version": 2}), state)  # GET, then DELETE
    assert 16011 not in _sids(proxy)
    assert len(sshd.commands) == execs + 1  # an action's requests share one helper on the VM (one exec)
    assert sshd.commands and all(c.startswith("sudo -n -- python3 -c ") for c in sshd.commands)
    assert not any(TOKEN in c for c in sshd.commands)
    wrong = testing.State(leader=True, secrets={key}, config={**state.config, "token-file": "/nonexistent/token"})
    out = ctx.run(ctx.on.config_changed(), wrong)
    assert out.unit_status == testing.BlockedStatus(
        f"proxy sr-proxy: GET /v1/health on ssh srchain@127.0.0.1:{sshd.port}: cannot read token file "
        "/nonexistent/token: No such file or directory")


def _login_state(proxy: str, sshd: SshLab, relation: testing.Relation, **config: object) -> testing.State:
    """The proxy charm as OSM's `config` leaves it (the VM's address, its pinned host key, the unit's own key on
    the VM) and related to the NS charm on controller-login."""
    private, public = sshkeys.generate("unit")
    sshd.authorize(public)
    key = testing.Secret(tracked_content={"private-key": private})
    token_file = proxy.removeprefix("unix:").rsplit("/", 1)[0] + "/token"
    return testing.State(leader=True, secrets={key}, relations={relation}, config={
        "control-address": proxy, "token-file": token_file, "ssh-hostname": "127.0.0.1", "ssh-port": sshd.port,
        "ssh-host-key": sshd.host_key_line(), "ssh-private-key": key.id, **config})


def test_the_controllers_key_is_authorized_on_the_vm_over_the_relation_and_revoked_with_it(
        proxy: str, sshd: SshLab) -> None:
    """Issue 17 item 10: the NS charm publishes its public key on proxy-login; this charm puts it in the login user's
    authorized_keys over its own verified SSH session, once, answers where it logs in, and takes it off the VM when
    the relation is removed. Before the VM's address is configured it answers why not, and does not fail."""
    _, controller_key = sshkeys.generate("srchain-controller")
    rel = testing.Relation("controller-login", interface="srchain-ssh-login", remote_app_name="cg-ns",
                           remote_units_data={0: {"public-key": controller_key}})
    ctx = _ctx()
    early = ctx.run(ctx.on.relation_changed(rel, remote_unit=0),
                    testing.State(relations={rel}, config={"control-address": proxy}))
    mine = early.get_relation(rel.id).local_unit_data
    assert mine["error"] == "waiting for the VM's address (ssh-hostname not set yet)" and "authorized" not in mine
    assert not sshd.authorized_keys.exists()

    state = _login_state(proxy, sshd, rel)
    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state)
    mine = out.get_relation(rel.id).local_unit_data
    granted = fingerprint(paramiko.PKey.from_type_string(controller_key.split()[0],
                                                         base64.b64decode(controller_key.split()[1])))
    assert {k: mine.get(k) for k in ("host", "port", "user", "host-key", "authorized", "error")} == {
        "host": "127.0.0.1", "port": str(sshd.port), "user": "srchain", "host-key": sshd.host_key_line(),
        "authorized": granted, "error": None}
    assert sshd.authorized_keys.read_text().splitlines() == [controller_key]
    assert not any(controller_key.split()[1] in c for c in sshd.commands)  # the key went on stdin, not argv
    assert not any(c.startswith("sudo ") for c in sshd.commands[-1:])  # as the login user, in its own home

    sent = len(sshd.commands)
    again = ctx.run(ctx.on.config_changed(), out)  # already done for this VM and key: no new login for it
    assert sshd.authorized_keys.read_text().splitlines() == [controller_key]
    assert again.get_relation(rel.id).local_unit_data["authorized"] == granted
    assert all("authorized_keys" not in c for c in sshd.commands[sent:])

    # the VM rebuilt at the same address (its authorized_keys gone): the stored record cannot tell, so Juju's
    # periodic update-status logs in again and puts the key back, idempotently (no duplicate line)
    sshd.authorized_keys.write_text("")
    again = ctx.run(ctx.on.update_status(), again)
    assert sshd.authorized_keys.read_text().splitlines() == [controller_key]
    again = ctx.run(ctx.on.update_status(), again)
    assert sshd.authorized_keys.read_text().splitlines() == [controller_key]
    assert again.get_relation(rel.id).local_unit_data["authorized"] == granted

    ctx.run(ctx.on.relation_broken(again.get_relation(rel.id)), again)
    assert sshd.authorized_keys.read_text().splitlines() == []

    bad = testing.Relation("controller-login", interface="srchain-ssh-login", remote_app_name="cg-ns",
                           remote_units_data={0: {"public-key": "ssh-ed25519 not-base64!"}})
    out = ctx.run(ctx.on.relation_changed(bad, remote_unit=0), _login_state(proxy, sshd, bad))
    assert out.get_relation(bad.id).local_unit_data["error"].startswith("public-key: not an SSH public key line")
    assert sshd.authorized_keys.read_text().splitlines() == []
