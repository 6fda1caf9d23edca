"""The srchain-controller NS charm through ops.testing (Context/State): day-1 config applies the reference
chain, day-2 actions change it, to an emulated Tofino (real gRPC, p4/srchain_node.p4) and a real
srchain-proxy daemon in a network namespace `so<pid>c` (control API on a unix socket, token from the
charm's Juju secret). Every check reads the switch's and the proxy's tables back and compares them with
the applied state."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
import yaml
from ops import testing
from osm_sshd import SshLab
from osm_switchlab import PROGRAM, EmulatedSwitch, compile_artifacts
from osmlib import REPO, charm_class

from labs import running_proxy
from nslib import add_veths, namespace
from srchain.apply import AppliedStore
from srchain.bfrt.client import BfrtClient
from srchain.charms import sshkeys
from srchain.plan.model import entries_from_state
from srchain.remote import fingerprint
from srchain.targets.proxy import ProxyApi, ProxyDriver
from srchain.targets.switch import SwitchDriver

pytestmark = pytest.mark.netns

CHARM = REPO / "charms/srchain-controller"
EX = REPO / "examples"
NS = f"so{os.getpid()}c"
TOKEN = "so-controller-proxy-token-0123456789"
IFACES = ["px1-sr", "px1-fmt", "px1-cla", "px1-clb", "px1-agg", "px1-mit-o", "px1-mit-i"]
MITIGATION = "{name: mitigation, vnf: mitigation, proxy: px1, behaviour: dynamic, traffic: data}"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("ctlpx")
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


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_artifacts(tmp_path_factory.mktemp("p4"))


class Ns:
    """The NS charm's unit: config as OSM sets it from additionalParamsForNs, + the token secret."""

    def __init__(self, sw: EmulatedSwitch, proxy: dict, artifacts: Path, state: Path) -> None:
        inv = yaml.safe_load((EX / "inventory.yaml").read_text())
        inv["switches"][0].update(grpc=sw.address, artifacts=str(artifacts / PROGRAM))
        inv["proxies"][0].update(control=f"unix:{proxy['sock']}")
        self.secret = testing.Secret(tracked_content={"proxy-px1": TOKEN})
        self.state_dir = state
        self.config = {"inventory": yaml.safe_dump(inv), "chain-spec": (EX / "cloud-gaming.yaml").read_text(),
                       "state-dir": str(state), "target-tokens": self.secret.id, "drain-timeout": 0.2}

    def state(self, **config: object) -> testing.State:
        return testing.State(leader=True, secrets={self.secret}, config={**self.config, **config})

    def ctx(self) -> testing.Context:
        return testing.Context(charm_class(CHARM), charm_root=CHARM)

    def config_changed(self, **config: object) -> testing.StatusBase:
        ctx = self.ctx()
        return ctx.run(ctx.on.config_changed(), self.state(**config)).unit_status

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

    def applied(self) -> dict:
        doc = AppliedStore(self.state_dir).load("cloud-gaming")
        assert doc is not None
        return doc


@pytest.fixture
def ns(proxy: dict, artifacts: Path, tmp_path: Path) -> Iterator[Ns]:
    api = proxy["api"]  # the proxy is shared by the module's tests: start each one empty
    api.call("POST", "/v1/batch", {"delete": [s["sid"] for s in api.call("GET", "/v1/sids")["sids"]]})
    for a in api.call("GET", "/v1/attachments")["attachments"]:
        api.call("DELETE", f"/v1/attachments/{a['vnf']}")
    sw = EmulatedSwitch()
    try:
        yield Ns(sw, proxy, artifacts, tmp_path / "state")
    finally:
        sw.stop()


def assert_live_is_applied(ns: Ns, proxy: dict) -> dict:
    """The switch's tables and the proxy's SIDs/attachments hold exactly the applied state's entries."""
    doc = ns.applied()
    entries = entries_from_state(doc)
    address = yaml.safe_load(ns.config["inventory"])["switches"][0]["grpc"]
    sw = SwitchDriver("s1", BfrtClient.connect(address, client_id=5, timeout=5), PROGRAM)
    try:
        sw.prepare(load=False)
        for drv in (sw, ProxyDriver("px1", proxy["api"])):
            mine = [e for e in entries if (e.target_kind, e.target) == (drv.kind, drv.name)]
            tables = {"sid", "attachment"} if drv.kind == "proxy" else {e.table for e in mine}
            live = {k: v[0] for k, v in drv.snapshot(tables).items()}
            assert live == dict(drv.norm(e) for e in mine), drv.name
    finally:
        sw.close()
    return doc


def test_day1_applies_the_chain_once(ns: Ns, proxy: dict) -> None:
    status = ns.config_changed()
    v1 = assert_live_is_applied(ns, proxy)
    assert status == testing.ActiveStatus(f"chain cloud-gaming v1 applied ({len(v1['sids'])} SIDs)")
    assert (ns.state_dir / "spec.yaml").read_text() == ns.config["chain-spec"]
    token = ns.state_dir / "tokens" / "proxy-px1.token"
    assert token.read_text() == TOKEN and token.stat().st_mode & 0o777 == 0o600
    assert TOKEN not in (ns.state_dir / "inventory.yaml").read_text()
    assert ns.config_changed() == testing.ActiveStatus("chain cloud-gaming v1 running")  # unchanged config
    shown = ns.act("show-chain")
    assert shown["version"] == 1 and shown["targets"] == {"switch s1": "in sync", "proxy px1": "in sync"}
    assert [s["name"] for s in shown["segments"]] == ["features", "formatter", "classifier", "aggregator",
                                                      "priority"]
    assert all(s["sids"] for s in shown["segments"])


def test_day1_refusals_are_named(ns: Ns, proxy: dict) -> None:
    assert ns.config_changed(inventory="") == testing.BlockedStatus("inventory not set")
    assert ns.config_changed(**{"chain-spec": ""}) == testing.BlockedStatus("chain-spec not set")
    status = ns.config_changed(**{"target-tokens": testing.Secret(tracked_content={"x": "y"}).id})
    assert status == testing.BlockedStatus("target-tokens: the secret is not readable (granted to this application?)")
    bad = ns.config["chain-spec"].replace("proxy: px1", "proxy: px9", 1)
    status = ns.config_changed(**{"chain-spec": bad})
    assert status.name == "blocked"
    assert f"{ns.state_dir}/pending/config.yaml:" in status.message and "segments[1].proxy" in status.message
    assert status.message.endswith("; nothing was applied"), status.message
    assert proxy["api"].call("GET", "/v1/sids")["sids"] == []
    assert not (ns.state_dir / "spec.yaml").exists()


def test_ns_config_info_from_osm_is_accepted_and_reported(ns: Ns, proxy: dict) -> None:
    # LCM adds ns_config_info (JSON) to the NS charm's `config` primitive; N2VC applies it as application config
    info = json.dumps({"osm-config-mapping": {"s1": "tofino-s1-a", "px1": "sr-proxy-b", "classifier-a.vm.0": "c-c"}})
    status = ns.config_changed(ns_config_info=info)
    assert status == testing.ActiveStatus(f"chain cloud-gaming v1 applied ({len(ns.applied()['sids'])} SIDs)")
    ns.config["ns_config_info"] = info
    assert ns.act("show-chain")["osm-applications"] == {"classifier-a.vm.0": "c-c", "px1": "sr-proxy-b",
                                                        "s1": "tofino-s1-a"}
    ns.config["ns_config_info"] = ""  # the default: not under OSM, nothing reported
    assert "osm-applications" not in ns.act("show-chain")


@pytest.mark.parametrize(("info", "reason"), [
    ("{osm-config-mapping", "ns_config_info: not JSON (Expecting property name enclosed in double quotes: "),
    ('{"osm-config-mapping": ["px1"]}', 'ns_config_info: must be {"osm-config-mapping": {"<member>": '),
])
def test_malformed_ns_config_info_blocks_and_applies_nothing(ns: Ns, proxy: dict, info: str, reason: str) -> None:
    status = ns.config_changed(ns_config_info=info)
    assert status.name == "blocked" and status.message.startswith(reason), status
    assert not (ns.state_dir / "spec.yaml").exists()
    assert proxy["api"].call("GET", "/v1/sids")["sids"] == []


def test_day2_add_remove_reconfigure_and_refusals(ns: Ns, proxy: dict) -> None:
    ns.config_changed()
    v1 = assert_live_is_applied(ns, proxy)

    r = ns.act("add-segment", segment=MITIGATION, after="features")
    assert (r["version"], r["delete"]) == (2, 0) and r["add"] > 0 and "mitigation" in r["sids"]
    v2 = assert_live_is_applied(ns, proxy)
    assert [s["name"] for s in ns.act("show-chain")["segments"]][:3] == ["features", "mitigation", "formatter"]

    # refused changes name file/field/reason and leave v2 applied, spec.yaml unchanged
    spec_before = (ns.state_dir / "spec.yaml").read_text()
    msg = ns.fail("reconfigure-chain", spec=ns.config["chain-spec"].replace("msd: 8", "msd: -3"))
    assert msg.startswith(f"{ns.state_dir}/pending/reconfigure-chain.yaml:") and "msd" in msg, msg
    assert msg.endswith("; chain cloud-gaming stays as it was"), msg
    assert ns.fail("add-segment", segment=MITIGATION) == \
        "segment: name 'mitigation' is already in the chain; nothing was changed"
    assert ns.fail("add-segment", segment="{vnf: x}") == \
        "segment: must be a YAML mapping with a 'name' (a chain spec segment); nothing was changed"
    assert ns.fail("add-segment", segment="{name: y, vnf: spare, proxy: px1}", after="nope").startswith(
        "after: no segment 'nope' in the chain (segments: features, mitigation, formatter")
    msg = ns.fail("add-segment", segment="{name: y, vnf: spare, proxy: px1, behaviour: dynamic, traffic: data}")
    assert "pending/add-segment.yaml" in msg and "spare" in msg, msg  # spare has no attachment on px1
    # '-' is the NSD's default-value, which OSM's LCM passes when the operator gives no `after`: first
    msg = ns.fail("add-segment", segment="{name: y, vnf: spare, proxy: px1, behaviour: dynamic, traffic: data}",
                  after="-")
    assert "pending/add-segment.yaml" in msg, msg
    pending = yaml.safe_load((ns.state_dir / "pending/add-segment.yaml").read_text())
    assert [s["name"] for s in pending["segments"]][:2] == ["y", "features"]
    assert ns.fail("remove-segment", name="nope").startswith("name: no segment 'nope' in the chain")
    other = ns.config["chain-spec"].replace("chain: cloud-gaming", "chain: other")
    assert "chain: 'other' is not the running chain 'cloud-gaming'" in ns.fail("reconfigure-chain", spec=other)
    assert (ns.state_dir / "spec.yaml").read_text() == spec_before
    assert assert_live_is_applied(ns, proxy)["version"] == v2["version"]

    r = ns.act("remove-segment", name="mitigation")
    assert r["version"] == 3 and r["delete"] > 0 and r["released_sids"]
    v3 = assert_live_is_applied(ns, proxy)
    assert sorted(s["sid"] for s in v3["sids"]) == sorted(s["sid"] for s in v1["sids"])  # same contexts, same SIDs

    r = ns.act("reconfigure-chain", spec=(EX / "cloud-gaming-mitigation.yaml").read_text())
    assert r["version"] == 4 and "mitigation" in r["sids"]
    assert_live_is_applied(ns, proxy)


def test_actions_before_day1_are_refused(ns: Ns) -> None:
    msg = "no chain is running yet (day-1 config with inventory and chain-spec first)"
    assert ns.fail("show-chain") == msg
    assert ns.fail("remove-segment", name="features") == msg
    assert ns.fail("add-segment", segment=MITIGATION) == msg


def test_controller_on_the_vca_reaches_the_proxy_over_ssh(ns: Ns, proxy: dict, sshd: SshLab) -> None:
    """No co-location: the inventory's `ssh` block names the proxy VM; its host key is pinned after boot
    (`proxy-host-keys`); the login key comes from the target-tokens secret; the proxy's token stays on
    the VM (`ssh.token_file`)."""
    private, public = sshkeys.generate("srchain-controller")
    sshd.authorize(public)
    inv = yaml.safe_load(ns.config["inventory"])
    inv["proxies"][0]["ssh"] = {"host": "127.0.0.1", "port": sshd.port, "token_file": str(proxy["token"])}
    ns.secret = testing.Secret(tracked_content={"ssh-private-key": private})  # no proxy token at all
    ns.config.update({"inventory": yaml.safe_dump(inv), "target-tokens": ns.secret.id})

    # day 1 at ns-create: the VM's host key is not known yet -> Blocked, nothing applied, nothing sent
    status = ns.config_changed()
    assert status.name == "blocked" and (f"proxy px1: ssh srchain@127.0.0.1:{sshd.port}: proxies[px1].ssh.host_key "
                                         "not set: pin the VM's host key") in status.message, status.message
    assert sshd.commands == [] and proxy["api"].call("GET", "/v1/sids")["sids"] == []
    assert ns.config_changed(**{"proxy-host-keys": f"px9: {sshd.host_key_line()}"}) == testing.BlockedStatus(
        "proxy-host-keys: px9: not a proxy with 'ssh' in the inventory (those are: px1)")

    # the operator pins the key read on the VM console: the chain comes up
    ns.config["proxy-host-keys"] = yaml.safe_dump({"px1": sshd.host_key_line()})
    status = ns.config_changed()
    v1 = assert_live_is_applied(ns, proxy)
    assert status == testing.ActiveStatus(f"chain cloud-gaming v1 applied ({len(v1['sids'])} SIDs)")
    assert sshd.commands and all(c.startswith("sudo -n -- python3 -c ") for c in sshd.commands)
    assert not any(TOKEN in c for c in sshd.commands)
    key = ns.state_dir / "tokens" / "ssh.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert "PRIVATE" not in (ns.state_dir / "inventory.yaml").read_text()
    assert ns.act("show-chain")["targets"] == {"switch s1": "in sync", "proxy px1": "in sync"}

    # the VM presents another key than the one pinned: refused before any request, v1 stays
    other = paramiko.ECDSAKey.generate()
    ns.config["proxy-host-keys"] = yaml.safe_dump({"px1": sshd.host_key_line(other)})
    sent = len(sshd.commands)
    msg = ns.fail("add-segment", segment=MITIGATION, after="features")
    assert (f"host key mismatch: the VM presented {fingerprint(sshd.host_key)}, proxies[px1].ssh.host_key pins "
            f"{fingerprint(other)}; refused, nothing was done") in msg, msg
    assert len(sshd.commands) == sent  # nothing ran on the VM
    assert assert_live_is_applied(ns, proxy)["version"] == 1


def test_the_login_to_an_ssh_proxy_comes_from_the_relation_not_from_a_secret(ns: Ns, proxy: dict,
                                                                              sshd: SshLab) -> None:
    """Issue 17 item 10: no private key in any config or secret. The NS charm makes its own key pair in its state
    directory, publishes the public half on proxy-login, and logs in to a proxy only once that proxy's sr-proxy
    charm answered it authorized this very key for the inventory's user@host:port; until then day 1 is Blocked with
    the proxy charm's reason and nothing is applied or sent."""
    inv = yaml.safe_load(ns.config["inventory"])
    inv["proxies"][0]["ssh"] = {"host": "127.0.0.1", "port": sshd.port, "token_file": str(proxy["token"])}
    ns.secret = testing.Secret(tracked_content={"switch-s9": "unused"})  # no ssh-private-key, no proxy token
    ns.config.update({"inventory": yaml.safe_dump(inv), "target-tokens": ns.secret.id,
                      "proxy-host-keys": yaml.safe_dump({"px1": sshd.host_key_line()})})
    where = f"srchain@127.0.0.1:{sshd.port}"

    status = ns.config_changed()  # not related yet
    assert status == testing.BlockedStatus(
        f"proxy px1: no SSH login to {where} yet (the controller's key is authorized on the VM by the proxy's "
        "sr-proxy charm over the relation proxy-login: no sr-proxy charm is related on proxy-login); nothing was "
        "applied"), status
    key_file = ns.state_dir / "tokens" / "proxy-login.key"
    public = key_file.with_suffix(".pub").read_text().strip()
    assert key_file.stat().st_mode & 0o777 == 0o600 and public.startswith("ssh-ed25519 ")

    def related(data: dict[str, str], **config: object) -> tuple[testing.StatusBase, testing.State]:
        rel = testing.Relation("proxy-login", interface="srchain-ssh-login", remote_app_name="proxy-ee-z0-px1-vnf",
                               remote_units_data={0: data})
        ctx = ns.ctx()
        out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0),
                      testing.State(leader=True, secrets={ns.secret}, relations={rel}, config={**ns.config, **config}))
        assert out.get_relation(rel.id).local_unit_data["public-key"] == public  # published, the same key each time
        return out.unit_status, out

    status, _ = related({"error": "waiting for the VM's address (ssh-hostname not set yet)"})
    assert status.name == "blocked" and ("proxy-ee-z0-px1-vnf/0: waiting for the VM's address (ssh-hostname not set "
                                         "yet)") in status.message, status.message
    granted = fingerprint(paramiko.PKey.from_type_string(public.split()[0], base64.b64decode(public.split()[1])))
    grant = {"host": "127.0.0.1", "port": str(sshd.port), "user": "srchain", "host-key": sshd.host_key_line(),
             "authorized": granted}
    _, other_key = sshkeys.generate("someone-else")
    other = fingerprint(paramiko.PKey.from_type_string(other_key.split()[0], base64.b64decode(other_key.split()[1])))
    for wrong in ({**grant, "authorized": other}, {**grant, "user": "root"}, {**grant, "port": "2222"}):
        status, _ = related(wrong)  # authorized, but not this key / not this login: not used
        assert status.name == "blocked" and f"no SSH login to {where} yet" in status.message, status.message
    assert sshd.commands == [] and proxy["api"].call("GET", "/v1/sids")["sids"] == []
    status, _ = related(grant, **{"proxy-host-keys": yaml.safe_dump({"px1": sshd.host_key_line(
        paramiko.ECDSAKey.generate())})})
    assert status == testing.BlockedStatus(
        "proxy px1: proxy-host-keys and proxy-ee-z0-px1-vnf/0's ssh-host-key pin different host keys for 127.0.0.1; "
        "refused, nothing was applied"), status
    assert sshd.commands == []

    sshd.authorize(public)  # what the sr-proxy charm did on the VM before answering
    status, _ = related(grant)  # the answer arrives: the refused day 1 is tried again, and applies
    v1 = assert_live_is_applied(ns, proxy)
    assert status == testing.ActiveStatus(f"chain cloud-gaming v1 applied ({len(v1['sids'])} SIDs)")
    assert sshd.commands and not any("PRIVATE" in c for c in sshd.commands)
    _, out = related(grant, **{"proxy-host-keys": ""})  # the host key from the proxy charm alone is enough
    ctx = ns.ctx()
    sent = len(sshd.commands)
    ctx.run(ctx.on.action("show-chain"), out)
    assert ctx.action_results is not None
    assert json.loads(ctx.action_results["output"])["targets"] == {"switch s1": "in sync", "proxy px1": "in sync"}
    assert len(sshd.commands) > sent  # read over SSH, the VM's host key checked against the proxy charm's pin
