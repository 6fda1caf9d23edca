"""The VNF charms through ops.testing: the formatter charm changes the config of a real formatter
process (started by a restart command, as systemd would), checks its health endpoint, and restores
the previous config when the service does not come back; validation refusals write nothing. The
cloud-init configs of every VNF VM validate against the service's own config model."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ops import testing
from osmlib import REPO, charm_class
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


@pytest.fixture
def formatter(tmp_path: Path) -> Iterator[dict]:
    """A formatter config on free loopback ports and a restart script that (re)starts the real service."""
    cfg = tmp_path / "formatter.yaml"
    http = _free_port(socket.SOCK_STREAM)
    cfg.write_text(yaml.safe_dump({"name": "formatter", "http": {"host": "127.0.0.1", "port": http},
                                   "listen": {"host": "127.0.0.1", "port": _free_port(socket.SOCK_DGRAM)},
                                   "next_hop": {"host": "127.0.0.1", "port": _free_port(socket.SOCK_DGRAM)}}))
    pid = tmp_path / "pid"
    script = tmp_path / "restart.sh"
    script.write_text(f"""#!/bin/sh
[ -f {pid} ] && kill $(cat {pid}) 2>/dev/null && while kill -0 $(cat {pid}) 2>/dev/null; do sleep 0.05; done
{sys.executable} -m srchain_vnfs.cli run formatter --config {cfg} >>{tmp_path}/log 2>&1 &
echo $! > {pid}
""")
    script.chmod(0o755)
    try:
        yield {"cfg": cfg, "restart": str(script), "pid": pid}
    finally:
        if pid.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid.read_text()), signal.SIGTERM)


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
    assert msg.startswith("ssh-hostname 10.0.0.5: driving the service over SSH is not implemented")


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
    assert e.value.message.startswith("show-decisions: the service does not expose this")
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
