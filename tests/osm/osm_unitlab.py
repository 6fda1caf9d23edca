"""Shared set-up of the charm tests: real VNF service processes behind a restart script (as the VM's systemd would
run them), free loopback ports, and the helpers the unit-agent stand-in's tests use to build a unit and read the
VNFD/NSD primitives (docs/osm.md "The unit-agent and LCM stand-ins")."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from osm_sshd import SshLab
from osmlib import REPO
from test_osm_day1 import _lcm_cloud_init, _vm_key

from srchain.osm import ns_hostkeys
from srchain.osm.render import VM_HOST_KEY, VNF_DEFAULTS
from srchain.osm.unitagent.lcm import application_name
from srchain.osm.unitagent.unit import Unit

NSR = "5f1c0e2a-0000-4000-8000-000000000017"  # an NS record id: the K8s model is `<nsr-id>-k8s`


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def udp_endpoints() -> dict[str, Any]:
    """`listen` and `next_hop` of a UDP service on free loopback ports."""
    return {"listen": {"host": "127.0.0.1", "port": free_port(socket.SOCK_DGRAM)},
            "next_hop": {"host": "127.0.0.1", "port": free_port(socket.SOCK_DGRAM)}}


@contextlib.contextmanager
def service(tmp_path: Path, name: str, cfg: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The service's YAML config (a fixed loopback health port) and a restart script that (re)starts the real
    service, back once it is up or failing when it exited at start. The script clears PYTHONPATH: a charm acting
    where it runs starts it with dispatch's environment (lib:venv, built for the charm's Python), which systemd's
    service on a VM would not inherit."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{name}.yaml"
    port = free_port(socket.SOCK_STREAM)
    path.write_text(yaml.safe_dump({"name": name, "http": {"host": "127.0.0.1", "port": port}, **cfg}))
    pid = tmp_path / "pid"
    script = tmp_path / "restart.sh"
    script.write_text(f"""#!/bin/bash
unset PYTHONPATH
[ -f {pid} ] && kill $(cat {pid}) 2>/dev/null && while kill -0 $(cat {pid}) 2>/dev/null; do sleep 0.05; done
{sys.executable} -m srchain_vnfs.cli run {name} --config {path} >>{tmp_path}/log 2>&1 &
echo $! > {pid}
# as `systemctl restart` of a notify unit: back once the service is up (its health port answers), exit 1 when it
# ended first (a config it cannot run with); 15 s at most, then the charm's own health wait decides
for _ in $(seq 300); do
  kill -0 $! 2>/dev/null || {{ echo "{name} exited at start (see {tmp_path}/log)" >&2; exit 1; }}
  (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && exit 0
  sleep 0.05
done
""")
    script.chmod(0o755)
    try:
        yield {"cfg": path, "restart": str(script), "pid": pid, "log": tmp_path / "log",
               "charm": REPO / f"charms/srchain-{name}"}
    finally:
        if pid.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid.read_text()), signal.SIGTERM)


def start(svc: dict[str, Any]) -> int:
    """Start the service as the VM's systemd did at boot; its pid."""
    subprocess.run([svc["restart"]], check=True, timeout=30)
    return int(svc["pid"].read_text())


def config_of(svc: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(svc["cfg"].read_text())
    return doc


def day12(vnfd: str) -> dict[str, Any]:
    """The VNFD's day1-2 block (initial-config-primitive, config-primitive, config-access)."""
    doc = yaml.safe_load((REPO / f"vnfd/{vnfd}/{vnfd}_vnfd.yaml").read_text())
    block: dict[str, Any] = doc["vnfd"]["df"][0]["lcm-operations-configuration"]["operate-vnf-op-config"][
        "day1-2"][0]
    return block


def nsd_configuration() -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "nsd/cloud-gaming/cloud-gaming_nsd.yaml").read_text())
    config: dict[str, Any] = doc["nsd"]["nsd"][0]["ns-configuration"]
    return config


def primitive(block: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in block["config-primitive"] if p["name"] == name)


def unit_of(staged: dict[str, Path], charm_python: tuple[str, str], charm: str, member: str | None, root: Path,
            **kw: Any) -> Unit:
    return Unit(staged[charm], root, python=charm_python[0], application=application_name(charm, member),
                model=f"{NSR}-k8s", **kw)


def output(detail: str) -> Any:
    """An action's result as ns-action reports it: the results' JSON, whose `output` is the charm's JSON."""
    return json.loads(json.loads(detail)["output"])


@contextlib.contextmanager
def vm_of(vnfd: str, member: str, root: Path) -> Iterator[tuple[SshLab, dict[str, Any]]]:
    """The member's VM as cloud-init left it (its sshd presents the host key `srchain osm ns-create` generated for
    the member) and the member's instantiation parameters (render-nsd's values, the generated keys)."""
    params, _ = ns_hostkeys.with_host_keys({"additionalParamsForVnf": [{"member-vnf-index": member, "additionalParams":
                                            {**VNF_DEFAULTS.get(f"srchain-{vnfd}", {}), **VM_HOST_KEY,
                                             "vlan_netplan": "{version: 2}"}}]})
    mine: dict[str, Any] = params["additionalParamsForVnf"][0]["additionalParams"]
    text = (REPO / f"vnfd/{vnfd}/cloud_init/{vnfd}-cloud-init.cfg").read_text()
    host_key, _ = _vm_key(_lcm_cloud_init(text, mine))
    lab = SshLab(root, host_key=host_key).start()
    try:
        yield lab, mine
    finally:
        lab.stop()
