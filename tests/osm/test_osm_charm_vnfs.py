"""The VNF charms through ops.testing: the formatter charm changes the config of a real formatter
process (started by a restart command, as systemd would), checks its health endpoint, and restores
the previous config when the service does not come back; validation refusals write nothing. The same
actions over SSH go through a real SSH server (tests/osm/osm_sshd.py): the OSM key flow, a pinned
host key, and refusals (unpinned, wrong host key, wrong user key) that do nothing on the VM. The
cloud-init configs of every VNF VM validate against the service's own config model."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import paramiko
import pytest
import yaml
from ops import testing
from osm_sshd import SshLab
from osmlib import REPO, charm_class

from srchain.charms import sshkeys
from srchain.remote import fingerprint
from srchain_vnfs.cli import build_service

SERVICES = ["formatter", "classifier", "aggregator", "mitigation"]


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("service", SERVICES)
def test_cloud_init_config_is_valid_for_the_service(service: str, tmp_path: Path) -> None:
    doc = yaml.safe_load((REPO / f"vnfd/{service}/cloud_init/{service}-cloud-init.cfg").read_text())
    (content,) = [f["content"] for f in doc["write_files"] if f["path"] == f"/etc/srchain/{service}.yaml"]
    (tmp_path / "c.yaml").write_text(content)
    assert build_service(service, tmp_path / "c.yaml").cfg.http.port == 9100


def _ctx() -> testing.Context:
    return testing.Context(charm_class(REPO / "charms/srchain-formatter"), charm_root=REPO / "charms/srchain-formatter")


def _state(f: dict, **config: object) -> testing.State:
    return testing.State(config={"service-config": str(f["cfg"]), "restart-command": f["restart"],
                                 "ssh-hostname": "", **config})


def _act(f: dict, name: str, /, **params: object) -> dict:
    ctx = _ctx()
    ctx.run(ctx.on.action(name, params=params), _state(f))
    assert ctx.action_results is not None
    return json.loads(ctx.action_results["output"])


def _fail(f: dict, name: str, /, state: testing.State | None = None, **params: object) -> str:
    ctx = _ctx()
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action(name, params=params), state or _state(f))
    return e.value.message


def test_formatter_day1_and_day2(formatter: dict) -> None:
    f = formatter
    ctx = _ctx()
    out = ctx.run(ctx.on.config_changed(), _state(f))
    assert out.unit_status.name == "blocked" and "health endpoint" in out.unit_status.message  # not started yet
    assert _act(f, "restart-service") == {"service": "formatter", "status": "ok"}
    out = ctx.run(ctx.on.config_changed(), _state(f))
    assert out.unit_status == testing.ActiveStatus("formatter ok")
    first = int(f["pid"].read_text())

    assert _act(f, "set-window", **{"window-reports": 8}) == {"service": "formatter", "set": {"depth": 8},
                                                                "status": "ok"}
    assert yaml.safe_load(f["cfg"].read_text())["depth"] == 8
    assert int(f["pid"].read_text()) != first  # restarted with the new config
    counters = _act(f, "show-counters")
    assert counters["service"] == "formatter" and counters["status"] == "ok" and "counters" in counters

    before = f["cfg"].read_text()
    msg = _fail(f, "set-window", **{"window-reports": 500})
    assert msg == f"{f['cfg']}: depth: Input should be less than or equal to 64; nothing was changed"
    assert f["cfg"].read_text() == before

    msg = _fail(f, "show-counters", state=_state(f, **{"ssh-hostname": "10.0.0.5"}))
    assert msg.startswith("no SSH key: run generate-ssh-key")  # over SSH, nothing to log in with yet


def test_failed_restart_restores_the_previous_config(formatter: dict, tmp_path: Path) -> None:
    f = formatter
    _act(f, "restart-service")
    before = f["cfg"].read_text()
    flaky = tmp_path / "flaky.sh"  # refuses to start the new config, starts the old one again
    flaky.write_text(f"#!/bin/sh\ngrep -q 'depth: 9' {f['cfg']} && exit 3\nexec {f['restart']}\n")
    flaky.chmod(0o755)
    msg = _fail(f, "set-window", state=_state(f, **{"restart-command": str(flaky)}), **{"window-reports": 9})
    assert msg == "restart-command exited 3: ; the previous config is back and running"
    assert f["cfg"].read_text() == before


def test_actions_that_cannot_be_done_say_so(tmp_path: Path) -> None:
    charm = REPO / "charms/srchain-aggregator"
    ctx = testing.Context(charm_class(charm), charm_root=charm)
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("show-decisions"), testing.State(config={"service-config": str(tmp_path / "x")}))
    assert e.value.message == f"{tmp_path / 'x'}: cannot read: No such file or directory (local)"
    charm = REPO / "charms/srchain-mitigation"
    ctx = testing.Context(charm_class(charm), charm_root=charm)
    cfg = tmp_path / "m.yaml"
    cfg.write_text(yaml.safe_dump({"name": "mitigation", "in_iface": "a", "out_iface": "b", "allow": []}))
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("allow-source", params={"prefix": "10.0.0.300/8"}),
                testing.State(config={"service-config": str(cfg)}))
    assert e.value.message.startswith("prefix: '10.0.0.300/8' is not an IPv4 prefix")
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("disallow-source", params={"prefix": "10.1.0.0/16"}),
                testing.State(config={"service-config": str(cfg)}))
    assert e.value.message == "prefix: 10.1.0.0/16 is not allow-listed (allow: none); nothing was changed"


HEALTH_TOKEN = "so-health-token-never-in-argv-0123"


def _ssh_state(f: dict, lab: SshLab, private_key: str | None = None, base: testing.State | None = None,
               **config: object) -> testing.State:
    """Charm state that drives the formatter over SSH (`base`: a state holding the generated key)."""
    health = testing.Secret(tracked_content={"token": HEALTH_TOKEN})
    secrets = {health, *(base.secrets if base else ())}
    cfg = {"service-config": str(f["cfg"]), "restart-command": f["restart"], "ssh-hostname": "127.0.0.1",
           "ssh-port": lab.port, "ssh-host-key": lab.host_key_line(), "health-token": health.id}
    if private_key is not None:
        key = testing.Secret(tracked_content={"private-key": private_key})
        secrets.add(key)
        cfg["ssh-private-key"] = key.id
    return testing.State(secrets=secrets, config={**cfg, **config})


def _run(state: testing.State, name: str, /, **params: object) -> tuple[testing.State, dict]:
    ctx = _ctx()
    out = ctx.run(ctx.on.action(name, params=params), state)
    assert ctx.action_results is not None
    return out, dict(ctx.action_results)


def test_formatter_over_ssh_with_the_osm_key_flow(formatter: dict, sshd: SshLab) -> None:
    f = formatter
    # OSM: generate-ssh-key, get-ssh-public-key, the key injected into the VM, then day-1 primitives
    keyed, _ = _run(_ssh_state(f, sshd), "generate-ssh-key")
    _, pub = _run(keyed, "get-ssh-public-key")
    sshd.authorize(pub["pubkey"])
    _, ok = _run(_ssh_state(f, sshd, base=keyed), "verify-ssh-credentials")
    assert ok == {"output": f"ssh srchain@127.0.0.1:{sshd.port}: logged in, host key verified"}

    _, res = _run(_ssh_state(f, sshd, base=keyed), "restart-service")
    assert json.loads(res["output"]) == {"service": "formatter", "status": "ok"}
    first = int(f["pid"].read_text())
    _, res = _run(_ssh_state(f, sshd, base=keyed), "set-window", **{"window-reports": 8})
    assert json.loads(res["output"]) == {"service": "formatter", "set": {"depth": 8}, "status": "ok"}
    assert yaml.safe_load(f["cfg"].read_text())["depth"] == 8
    assert f["cfg"].stat().st_mode & 0o777 == 0o644 and not Path(f"{f['cfg']}.tmp").exists()
    assert int(f["pid"].read_text()) != first  # restarted on the "VM", through sudo
    assert any(line.startswith("-n -- sh -c") and str(f["cfg"]) in line for line in sshd.sudo_log)  # the write
    assert f"-n -- {f['restart']}" in sshd.sudo_log
    assert any(c.startswith("python3 -c ") for c in sshd.commands)  # health checked on the VM
    assert not any(HEALTH_TOKEN in c for c in sshd.commands) and HEALTH_TOKEN not in json.dumps(res)
    ctx = _ctx()
    out = ctx.run(ctx.on.config_changed(), _ssh_state(f, sshd, base=keyed))
    assert out.unit_status == testing.ActiveStatus("formatter ok")


def test_ssh_refusals_do_nothing_on_the_vm(formatter: dict, sshd: SshLab) -> None:
    f = formatter
    private, public = sshkeys.generate("unit")
    sshd.authorize(public)
    before = f["cfg"].read_text()
    where = f"ssh srchain@127.0.0.1:{sshd.port}"

    msg = _fail(f, "set-window", state=_ssh_state(f, sshd, private, **{"ssh-host-key": ""}), **{"window-reports": 8})
    assert msg.startswith(f"{where}: ssh-host-key not set: pin the VM's host key")
    other = paramiko.ECDSAKey.generate()
    msg = _fail(f, "set-window", state=_ssh_state(f, sshd, private, **{"ssh-host-key": sshd.host_key_line(other)}),
                **{"window-reports": 8})
    assert msg == (f"{where}: host key mismatch: the VM presented {fingerprint(sshd.host_key)}, ssh-host-key pins "
                   f"{fingerprint(other)}; refused, nothing was done")
    msg = _fail(f, "set-window", state=_ssh_state(f, sshd, sshkeys.generate("stranger")[0]), **{"window-reports": 8})
    assert msg.startswith(f"{where}: the VM refused this unit's SSH key")
    msg = _fail(f, "set-window", state=_ssh_state(f, sshd, private, **{"ssh-host-key": "ssh-ed25519 !!!"}),
                **{"window-reports": 8})
    assert msg.startswith("ssh-host-key: line 1: not a valid ssh-ed25519 key")
    assert sshd.commands == [] and f["cfg"].read_text() == before  # not one command reached the VM

    ctx = _ctx()  # an unpinned VM blocks the unit at day 1, with the reason
    out = ctx.run(ctx.on.config_changed(), _ssh_state(f, sshd, private, **{"ssh-host-key": ""}))
    assert out.unit_status.name == "blocked" and "ssh-host-key not set" in out.unit_status.message
    msg = _fail(f, "verify-ssh-credentials", state=_state(f))
    assert msg == "ssh-hostname not set: this charm acts where it runs, there is no SSH to verify"


# --- Juju without secrets (2.9: OSM's VCA) -----------------------------------------------------------------

def _ctx_on(juju_version: str) -> testing.Context:
    return testing.Context(charm_class(REPO / "charms/srchain-formatter"), charm_root=REPO / "charms/srchain-formatter",
                           juju_version=juju_version)


def _run_on(juju_version: str, state: testing.State, name: str, /, **params: object) -> tuple[testing.State, dict]:
    ctx = _ctx_on(juju_version)
    out = ctx.run(ctx.on.action(name, params=params), state)
    assert ctx.action_results is not None
    return out, dict(ctx.action_results)


def test_formatter_over_ssh_on_juju_29_keeps_its_key_and_token_without_secrets(formatter: dict,
                                                                               sshd: SshLab) -> None:
    """Juju 2.9 has no secrets: the generated key lives in the unit's stored state (no secret is created),
    the health token comes inline from config, and the whole OSM key flow still works."""
    f = formatter
    cfg = {"service-config": str(f["cfg"]), "restart-command": f["restart"], "ssh-hostname": "127.0.0.1",
           "ssh-port": sshd.port, "ssh-host-key": sshd.host_key_line(), "health-token": f"token: {HEALTH_TOKEN}"}
    keyed, res = _run_on("2.9.43", testing.State(config=cfg), "generate-ssh-key")
    assert res == {"output": "generated (kept in the unit's state: this Juju has no secrets)"}
    assert keyed.secrets == frozenset()  # nothing asked of Juju's (absent) secret store
    (stored,) = [s for s in keyed.stored_states if s.name == "_unit_key_store"]
    assert set(stored.content["ssh_key"]) == {"private-key", "public-key"}
    _, pub = _run_on("2.9.43", keyed, "get-ssh-public-key")
    assert pub["pubkey"] == stored.content["ssh_key"]["public-key"]
    sshd.authorize(pub["pubkey"])
    _, ok = _run_on("2.9.43", keyed, "verify-ssh-credentials")
    assert ok == {"output": f"ssh srchain@127.0.0.1:{sshd.port}: logged in, host key verified"}
    _, res = _run_on("2.9.43", keyed, "set-window", **{"window-reports": 6})
    assert json.loads(res["output"]) == {"service": "formatter", "set": {"depth": 6}, "status": "ok"}
    assert not any(HEALTH_TOKEN in c for c in sshd.commands)  # the inline token travels on stdin, as before


@pytest.mark.parametrize(("juju_version", "value", "message"), [
    ("2.9.43", "secret:d0ns1d7mp25c77ed3ktg", "health-token: Juju 2.9.43 has no user secrets: give the key(s) token "
                                              "inline as YAML (docs/osm.md, Secrets)"),
    ("3.2.4", "secret:d0ns1d7mp25c77ed3ktg", "health-token: Juju 3.2.4 has no user secrets: give the key(s) token "
                                             "inline as YAML (docs/osm.md, Secrets)"),
    ("3.6.14", f"token: {HEALTH_TOKEN}", "health-token: Juju 3.6.14 has secrets: put the value in one (juju "
                                         "add-secret, juju grant-secret) and set its URI (secret:...); inline "
                                         "content is refused here"),
    ("2.9.43", f"[{HEALTH_TOKEN}]", "health-token: not a YAML mapping of key: value (the secret's content inline, "
                                    "for a Juju without user secrets)"),
    ("2.9.43", f"token: '{HEALTH_TOKEN}", "health-token: not a YAML mapping of key: value (the secret's content "
                                          "inline, for a Juju without user secrets)"),
    ("2.9.43", "tok: x", "health-token: the secret has no 'token' key"),
])
def test_a_secret_option_takes_what_this_juju_has(formatter: dict, juju_version: str, value: str,
                                                  message: str) -> None:
    ctx = _ctx_on(juju_version)
    with pytest.raises(testing.ActionFailed) as e:
        ctx.run(ctx.on.action("show-counters"), _state(formatter, **{"health-token": value}))
    assert e.value.message == message
    assert HEALTH_TOKEN not in e.value.message  # never the content
