"""The demo testbed as OSM's VIM and PDU would leave it (`OsmTestbed`): the same namespaces, emulated Tofino, SR proxy
and VNF processes as `Testbed`, but no chain applied; the SR proxy and each VNF of the reference chain in a stand-in
VM (`vms.Vm`: its own /etc/srchain and /run/srchain, a management address with an SSH server once booted, its
service under `supervise`), the switch's BF Runtime reachable on its PDU's management address (`mgmt.Relay`).
The mitigation VNF has a VM too: it is in the NS from ns-create (render-nsd: attached to px1, standing by), in no
path until the day-2 `reconfigure-chain` inserts it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from srchain_demo import topology as topo
from srchain_demo.netns import TestbedError
from srchain_demo.osm.mgmt import Relay
from srchain_demo.osm.vms import Vm
from srchain_demo.testbed import Log, Testbed, _quiet

BFRT_PORT = 50052  # the BF Runtime gRPC port of a Tofino (the PDU's management address, this port)
# The SR proxy VM as its image and cloud-init leave it (vnfd/sr-proxy, the sr-proxy charm's defaults)
PROXY_SOCK = "/run/srchain/proxy.sock"
PROXY_TOKEN = "/etc/srchain/proxy.token"
VM_USER = "srchain"
VM_SSH_PORT = 22


def unit_name(kind: str) -> str:
    """The image's systemd unit of a VNF service (the VNF charms' default restart-command names it)."""
    return f"srchain-vnf@{kind}.service"


class OsmTestbed(Testbed):
    __test__ = False

    def __init__(self, workdir: Path, *, port_rate_bps: int = 12_000_000, log: Log = _quiet,
                 prefix: str | None = None, switch_nice: int | None = None) -> None:
        super().__init__(workdir, port_rate_bps=port_rate_bps, log=log, prefix=prefix, layout=topo.SINGLE_SITE,
                         switch_nice=switch_nice)
        vms = self.workdir / "vms"
        self.vms: dict[str, Vm] = {p.name: Vm(p.name, vms / p.name) for p in self.layout.proxies}
        self.vms |= {v.name: Vm(v.name, vms / v.name) for v in self.layout.vnfs}
        self.vms |= {name: Vm(name, vms / name) for name in self.layout.mitigations}
        self.vm_roles = {p.name: p.role for p in self.layout.proxies} | {v.name: v.role for v in self.layout.vnfs} | {
            name: px.mitigation_role for name, px in self.layout.mitigations.items()}
        self.proxy_socks = {p.name: self.vms[p.name].run / "proxy.sock" for p in self.layout.proxies}
        self.relays: dict[str, Relay] = {}
        self.site_inventory = self.workdir / "site-inventory.yaml"

    def __enter__(self) -> OsmTestbed:
        super().__enter__()
        return self

    def start_switch(self, name: str | None = None) -> None:
        super().start_switch(name)
        sw = self.layout.switch(name) if name else self.layout.edge
        if sw.name not in self.relays:
            self.relays[sw.name] = Relay(self.switch_socks[sw.name], BFRT_PORT)

    def start_proxy(self, name: str | None = None) -> None:
        super().start_proxy(name)
        px = name or self.layout.proxy.name
        token = self.vms[px].etc / "proxy.token"  # what the proxy VM's cloud-init generates at first boot
        shutil.copyfile(self.workdir / f"{px}.token", token)
        token.chmod(0o600)

    def start_vnf(self, vnf: topo.Vnf) -> None:
        self._start_service(vnf.name, vnf.kind, vnf.role, self.vnf_config(vnf))

    def start_mitigation(self, name: str = topo.MITIGATION_NAME) -> None:
        self._start_service(name, "mitigation", self.layout.mitigations[name].mitigation_role,
                            self.mitigation_config(name))

    def _start_service(self, name: str, kind: str, role: str, config: dict[str, Any]) -> None:
        """The VM image's service `kind` under its systemd unit, its config in the VM's /etc/srchain."""
        vm = self.vms[name]
        cfg = vm.etc / f"{kind}.yaml"
        cfg.write_text(yaml.safe_dump(config))
        service = [sys.executable, "-m", "srchain_vnfs.cli", "run", kind, "--config", str(cfg)]
        self.spawn(name, role, [sys.executable, "-m", "srchain_demo.osm.supervise", "run", "--state",
                                str(vm.run), "--unit", unit_name(kind), "--", *service])

    def start(self) -> None:
        super().start()
        doc: dict[str, Any] = yaml.safe_load(self.inventory.read_text())
        for sw in doc["switches"]:  # the PDU's management address: what OSM and the NS charm reach it on
            relay = self.relays[sw["name"]]
            sw["grpc"] = f"{relay.address}:{relay.port}"
        for px in doc["proxies"]:  # the proxy VM as the NS charm reaches it: over SSH, its control API there
            vm = self.vms[px["name"]]
            px.pop("token_file", None)  # the VM's own token, read there (cloud-init generated it at first boot)
            px["control"] = f"unix:{PROXY_SOCK}"
            px["ssh"] = {"host": vm.address, "port": VM_SSH_PORT, "user": VM_USER, "token_file": PROXY_TOKEN}
        self.site_inventory.write_text(yaml.safe_dump(doc, sort_keys=False))

    def boot_vm(self, member: str, host_key_pem: str) -> None:
        """RO's part: the VM of `member` boots with the host key its cloud-init installs; its SSH server answers."""
        vm = self.vms.get(member)
        if vm is None:
            raise TestbedError(f"no stand-in VM for member '{member}'")
        if vm.proc is not None:
            raise TestbedError(f"VM '{member}' is already booted")
        self.procs[f"vm-{member}"] = vm.boot(self.ns(self.vm_roles[member]), host_key_pem,
                                             self.workdir / "logs" / f"vm-{member}.log")

    def close(self) -> None:
        super().close()
        for relay in self.relays.values():
            relay.close()
        for vm in self.vms.values():
            vm.listener.close()


def needs_root() -> None:
    if os.geteuid() != 0:
        raise TestbedError("srchain demo --via-osm needs root (network and mount namespaces)")
