"""The demo testbed: namespaces and veths, the emulated switch, the SR proxy and the VNFs as real
processes, a generated inventory, and the chain applied through `srchain.apply` (the charms' code).

Everything it creates is named `sd<pid>…` and removed by `close()` (also on errors and signals: use it
as a context manager). `dataplane="srv6"` builds the SRv6 variant (`srv6bed.py`: the srv6 P4 profile, the
client behind a Linux tail, a Linux End beside s1).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from srchain_demo import srv6bed
from srchain_demo import topology as topo
from srchain_demo.netns import TestbedError, delete_netns, netns_exists, run_in_netns, sh
from srchain_demo.shipped import P4_PROGRAM

if TYPE_CHECKING:
    from srchain.apply import Options, Result
    from srchain.chains import ChainService
    from srchain.plan import Plan

VNF_HTTP_PORT = 9100  # each VNF namespace has its own loopback, so one port fits all
FORMATTER_SOURCE_PORTS = 16  # the formatter's output sockets (srchain_vnfs.service source_ports), fixed
FORMATTER_SOURCE_PORT_BASE = 47100  # ports: the same split of sessions over the classifiers on every run
Log = Callable[[str], None]
Dataplane = Literal["sr-mpls", "srv6"]


def _quiet(_: str) -> None:
    return None


class Testbed:
    __test__ = False  # not a pytest class
    def __init__(self, workdir: Path, *, port_rate_bps: int = 12_000_000, log: Log = _quiet,
                 prefix: str | None = None, dataplane: Dataplane = "sr-mpls", switch_nice: int | None = None) -> None:
        self.workdir = workdir.resolve()  # absolute: socket paths go into the inventory (unix:/abs/path)
        self.dataplane: Dataplane = dataplane  # srv6: srv6bed.py (the P4 srv6 profile, Linux tail and End)
        # the emulated switch's nice value (every thread), None: inherited. On a shared 2-core box its CPU share
        # decides how long frames wait in its RX rings (docs/demo.md "Over SRv6")
        self.switch_nice = switch_nice
        self.port_rate_bps = port_rate_bps
        self.log = log
        self.prefix = prefix or f"sd{os.getpid()}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.namespaces: list[str] = []
        self.token = secrets.token_hex(16)
        self.inventory = self.workdir / "inventory.yaml"
        self.state_dir = self.workdir / "state"
        self.switch_sock = self.workdir / "s1.sock"
        self.proxy_sock = self.workdir / "px1.sock"
        self.bundle = self.workdir / "srchain_node"
        self.closed = False

    # ------------------------------------------------------------------ names
    @property
    def srv6(self) -> bool:
        return self.dataplane == "srv6"

    @property
    def switch_ports(self) -> dict[int, tuple[str, str, str]]:
        return topo.SRV6_SWITCH_PORTS if self.srv6 else topo.SWITCH_PORTS

    def ns(self, role: str) -> str:
        return f"{self.prefix}{role}"

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Testbed:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self._network()
        self.log("network namespaces and links up")
        from srchain_emu.bundle import compile_to_dir

        compile_to_dir(P4_PROGRAM, self.bundle, defines={"SRCHAIN_SRV6": "1"} if self.srv6 else None)
        self.start_switch()
        self.start_proxy()
        for vnf in topo.VNFS:
            self.start_vnf(vnf)
        self.start_mitigation()
        self.wait_vnfs()
        self._write_inventory()
        self.log("switch, proxy and VNFs running")

    def close(self) -> None:
        """Stop every process this testbed started (by handle) and delete its namespaces. Idempotent."""
        if self.closed:
            return
        self.closed = True
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for name in reversed(self.namespaces):
            delete_netns(name)
        for sock in (self.switch_sock, self.proxy_sock):
            sock.unlink(missing_ok=True)

    # ------------------------------------------------------------------ network
    def add_ns(self, role: str) -> str:
        name = self.ns(role)
        if netns_exists(name):  # left over by a killed run of the same pid: ours by name
            delete_netns(name)
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "netns", "exec", name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def veth(self, ns_a: str, if_a: str, mac_a: str, ns_b: str, if_b: str, mac_b: str, mtu: int | None = None) -> None:
        sh("ip", "-n", ns_a, "link", "add", if_a, "address", mac_a, *(("mtu", str(mtu)) if mtu else ()), "type", "veth",
           "peer", "name", if_b, "address", mac_b, *(("mtu", str(mtu)) if mtu else ()), "netns", ns_b)
        sh("ip", "-n", ns_a, "link", "set", if_a, "up")
        sh("ip", "-n", ns_b, "link", "set", if_b, "up")
        # veth hands locally sent UDP over with the checksum still to be filled in (TX offload); the switch
        # and the proxy read frames raw from AF_PACKET and pass them on as they are, so the kernel must
        # finish the checksum itself or every receiver drops the datagram (UdpInCsumErrors).
        for ns, ifname in ((ns_a, if_a), (ns_b, if_b)):
            sh("ip", "netns", "exec", ns, "ethtool", "-K", ifname, "tx", "off")

    def _network(self) -> None:
        sw = self.add_ns("sw")
        px = self.add_ns("px")
        for host in topo.HOSTS:
            ns = self.add_ns(host.role)
            if self.srv6 and host is srv6bed.CLIENT:
                continue  # behind the Linux tail: srv6bed.wire
            ifname, port_mac, _ = topo.SWITCH_PORTS[host.port]
            self.veth(sw, ifname, port_mac, ns, "eth0", host.mac)
            for addr in (host.ipv4, *host.extra):
                sh("ip", "-n", ns, "addr", "add", f"{addr}/32", "dev", "eth0")
            self.gateway(ns, topo.HOST_GATEWAY, port_mac)
        ifname, port_mac, _ = topo.SWITCH_PORTS[4]
        self.veth(sw, ifname, port_mac, px, topo.PROXY_SR_IF, topo.PROXY_MAC)
        for vnf in topo.VNFS:
            ns = self.add_ns(vnf.role)
            self.veth(px, vnf.proxy_if, vnf.proxy_mac, ns, "eth0", vnf.mac)
            sh("ip", "-n", ns, "addr", "add", f"{vnf.ipv4}/32", "dev", "eth0")
            self.gateway(ns, topo.VNF_GATEWAY, vnf.proxy_mac)
            # The proxy resolves its next hop from the kernel table of its own namespace.
            sh("ip", "-n", px, "neigh", "replace", vnf.ipv4, "lladdr", vnf.mac, "dev", vnf.proxy_if,
               "nud", "permanent")
        mi = self.add_ns(topo.MITIGATION_ROLE)
        for px_if, px_mac, mi_if, mi_mac in ((topo.MITIGATION_IFS[0], topo.MITIGATION_PROXY_MACS[0],
                                              topo.MITIGATION_VNF_IFS[0], topo.MITIGATION_VNF_MACS[0]),
                                             (topo.MITIGATION_IFS[1], topo.MITIGATION_PROXY_MACS[1],
                                              topo.MITIGATION_VNF_IFS[1], topo.MITIGATION_VNF_MACS[1])):
            self.veth(px, px_if, px_mac, mi, mi_if, mi_mac)
        if self.srv6:
            srv6bed.wire(self)

    @staticmethod
    def gateway(ns: str, gw: str, mac: str) -> None:
        sh("ip", "-n", ns, "route", "add", gw, "dev", "eth0")
        sh("ip", "-n", ns, "route", "add", "default", "via", gw, "dev", "eth0")
        sh("ip", "-n", ns, "neigh", "replace", gw, "lladdr", mac, "dev", "eth0", "nud", "permanent")

    # ------------------------------------------------------------------ processes
    def spawn(self, key: str, role: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start `argv` inside namespace `role`; its output goes to logs/<key>.log."""
        log = open(self.workdir / "logs" / f"{key}.log", "ab")  # noqa: SIM115 - handed to the child
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(role), *argv], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        log.close()
        self.procs[key] = proc
        return proc

    def log_tail(self, key: str, n: int = 1500) -> str:
        try:
            return (self.workdir / "logs" / f"{key}.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def check_running(self) -> None:
        for key, proc in self.procs.items():
            if key.startswith("agent-"):
                continue
            if proc.poll() is not None:
                raise TestbedError(f"{key} exited with {proc.returncode}: {self.log_tail(key)}")

    def _wait(self, what: str, key: str, ready: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except Exception:  # not up yet
                pass
            proc = self.procs.get(key)
            if proc is not None and proc.poll() is not None:
                raise TestbedError(f"{what} exited with {proc.returncode}: {self.log_tail(key)}")
            if time.monotonic() > deadline:
                raise TestbedError(f"{what} not ready after {timeout:.0f} s: {self.log_tail(key)}")
            time.sleep(0.1)

    def start_switch(self) -> None:
        ports = []
        for dev, (ifname, _mac, _peer) in self.switch_ports.items():
            entry: dict[str, Any] = {"device_port": dev, "if": ifname}
            if dev == topo.SHAPED_PORT:
                entry |= {"rate_bps": self.port_rate_bps, "burst_bytes": 16384}
            ports.append(entry)
        ports_file = self.workdir / "ports.json"
        ports_file.write_text(json.dumps({"PortToIf": ports}, indent=1))
        self.switch_sock.unlink(missing_ok=True)
        self.spawn("switch", "sw", [sys.executable, "-m", "srchain.cli", "switch", "run", "--ports", str(ports_file),
                                    "--grpc", f"unix:{self.switch_sock}"])
        self._wait("switch s1", "switch", self._switch_answers)
        self.renice_switch()

    def renice_switch(self) -> None:
        """Every thread of the switch process to `switch_nice` (threads started later inherit it from theirs)."""
        proc = self.procs.get("switch")
        if self.switch_nice is None or proc is None:
            return
        for task in Path(f"/proc/{proc.pid}/task").iterdir():
            try:
                os.setpriority(os.PRIO_PROCESS, int(task.name), self.switch_nice)
            except ProcessLookupError:  # a thread that ended meanwhile
                continue

    def _switch_answers(self) -> bool:
        from srchain.bfrt.client import BfrtClient

        if not self.switch_sock.exists():
            return False
        BfrtClient.connect(f"unix:{self.switch_sock}", attempts=1, client_id=9, timeout=2).close()
        return True

    def restart_switch(self) -> None:
        """Stop the switch process and start a fresh one (empty: no program, no entries)."""
        proc = self.procs.pop("switch")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        self.start_switch()

    def start_proxy(self) -> None:
        token = self.workdir / "px1.token"
        token.write_text(self.token)
        token.chmod(0o600)
        cfg = self.workdir / "px1.yaml"
        cfg.write_text(yaml.safe_dump({
            "sr_iface": topo.PROXY_SR_IF, "sr_next_hop_mac": topo.SWITCH_PORTS[4][1],
            "listen": f"unix:{self.proxy_sock}", "token_file": str(token),
            "state_file": str(self.workdir / "px1.state.json"), "attachments": [], "sids": [],
        }))
        self.proxy_sock.unlink(missing_ok=True)
        self.spawn("proxy", "px", [sys.executable, "-m", "srchain_proxy", "run", "--config", str(cfg)])
        self._wait("proxy px1", "proxy", lambda: self.proxy_api().call("GET", "/v1/health")["status"] == "ok")

    def restart_proxy(self) -> None:
        """SIGKILL the proxy (a crash: nothing flushed) and start it again from the same config; it reloads
        what the controller applied from its state file (persisted atomically on every change)."""
        proc = self.procs.pop("proxy")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        self.start_proxy()

    def proxy_api(self) -> Any:
        from srchain.targets.proxy import ProxyApi

        return ProxyApi(topo.PROXY_NAME, f"unix:{self.proxy_sock}", self.token)

    def start_vnf(self, vnf: topo.Vnf) -> None:
        cfg = self.workdir / f"{vnf.name}.yaml"
        conf: dict[str, Any] = {
            "name": vnf.name, "listen": {"host": "0.0.0.0", "port": vnf.listen_port},
            "next_hop": {"host": vnf.next_hop[0], "port": vnf.next_hop[1]},
            "http": {"host": "127.0.0.1", "port": VNF_HTTP_PORT},
        }
        if vnf.kind == "formatter":
            # one source port per session: the proxy's per-flow choice between the classifier instances then
            # splits sessions (a single port would send every session to one instance)
            conf["source_ports"], conf["source_port_base"] = FORMATTER_SOURCE_PORTS, FORMATTER_SOURCE_PORT_BASE
        cfg.write_text(yaml.safe_dump(conf))
        self.spawn(vnf.name, vnf.role, [sys.executable, "-m", "srchain_vnfs.cli", "run", vnf.kind,
                                        "--config", str(cfg)])

    def start_mitigation(self) -> None:
        """The day-2 bump in the wire. Thresholds sit far above the demo's traffic (a 20 kpps test flow from
        one source is legitimate here); its detection is tested in the VNF's own tests."""
        cfg = self.workdir / "mitigation.yaml"
        cfg.write_text(yaml.safe_dump({
            "name": topo.MITIGATION_NAME, "in_iface": topo.MITIGATION_VNF_IFS[0],
            "out_iface": topo.MITIGATION_VNF_IFS[1], "max_pps": 1_000_000, "max_fan_in": 10_000,
            "fan_in_source_pps": 1_000_000, "batch": 256,
            "http": {"host": "127.0.0.1", "port": VNF_HTTP_PORT},
        }))
        self.spawn(topo.MITIGATION_NAME, topo.MITIGATION_ROLE, [sys.executable, "-m", "srchain_vnfs.cli", "run",
                                                               "mitigation", "--config", str(cfg)])

    def _vnf_roles(self) -> dict[str, str]:
        return {v.name: v.role for v in topo.VNFS} | {topo.MITIGATION_NAME: topo.MITIGATION_ROLE}

    def wait_vnf(self, name: str, timeout: float = 30) -> None:
        role = self._vnf_roles()[name]
        self._wait(name, name, lambda: self.vnf_health(role)["status"] == "ok", timeout=timeout)

    def wait_vnfs(self) -> None:
        for name in self._vnf_roles():
            self.wait_vnf(name)

    def kill_vnf(self, name: str) -> None:
        """SIGKILL a VNF process (a crash: no clean shutdown) and wait until it is gone."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)

    def start_vnf_by_name(self, name: str) -> None:
        if name == topo.MITIGATION_NAME:
            self.start_mitigation()
        else:
            self.start_vnf(next(v for v in topo.VNFS if v.name == name))
        self.wait_vnf(name)

    def restart_vnf(self, name: str) -> None:
        self.kill_vnf(name)
        self.start_vnf_by_name(name)

    def vnf_health(self, role: str) -> dict[str, Any]:
        def get() -> dict[str, Any]:
            with urllib.request.urlopen(f"http://127.0.0.1:{VNF_HTTP_PORT}/healthz", timeout=2) as resp:
                return json.loads(resp.read())

        return run_in_netns(self.ns(role), get)

    # ------------------------------------------------------------------ control plane
    def _write_inventory(self) -> None:
        ports = []
        for dev, (ifname, mac, peer) in topo.SWITCH_PORTS.items():
            if peer == "px":
                ref: dict[str, str] = {"proxy": topo.PROXY_NAME}
            else:
                ref = {"host": next(h.name for h in topo.HOSTS if h.role == peer)}
            ports.append({"port": dev, "mac": mac, "interface": ifname, "peer": ref})
        attachments: list[dict[str, Any]] = [
            {"vnf": v.name, "iface": v.proxy_if, "next_hop": v.ipv4} for v in topo.VNFS
        ]
        attachments.append({"vnf": topo.MITIGATION_NAME, "iface_out": topo.MITIGATION_IFS[0],
                            "iface_in": topo.MITIGATION_IFS[1]})
        if self.srv6:
            self.inventory.write_text(yaml.safe_dump(srv6bed.inventory(self, attachments), sort_keys=False))
            return
        inv = {
            "switches": [{"name": "s1", "grpc": f"unix:{self.switch_sock}", "device_id": 0,
                          "program": "srchain_node", "artifacts": str(self.bundle), "ports": ports}],
            "hosts": [{"name": h.name, "mac": h.mac, "ipv4": h.ipv4} for h in topo.HOSTS],
            "proxies": [{"name": topo.PROXY_NAME, "control": f"unix:{self.proxy_sock}",
                         "token_file": str(self.workdir / "px1.token"), "sr_interface": topo.PROXY_SR_IF,
                         "mac": topo.PROXY_MAC, "attachments": attachments}],
            "vnfs": [{"name": v.name, "kind": v.kind} for v in topo.VNFS]
                    + [{"name": "mitigation", "kind": "attack-mitigation"}],
        }
        self.inventory.write_text(yaml.safe_dump(inv, sort_keys=False))

    def apply(self, spec: str | Path, drain_timeout: float = 10.0,
              drain_interval: float = 0.3) -> tuple[Plan, Result]:
        """Plan `spec` against the generated inventory and apply it (make-before-break), as `srchain chain
        apply` does: (plan, engine result)."""
        from srchain.apply import Options

        service = self._service(Options(drain_timeout, drain_interval))
        done = service.apply(service.load(spec))
        if self.srv6:
            srv6bed.client_route(self)  # after apply: its first run pushes the program
        self.renice_switch()  # the program's threads too
        return done.plan, done.result

    def _service(self, options: Options | None = None) -> ChainService:
        """The chain service over the generated inventory and this testbed's state directory."""
        from srchain.chains import ChainService

        return ChainService(self.inventory, self.state_dir, options=options)

    def status(self, chain: str = "cloud-gaming") -> dict[str, Any]:
        """The controller's status report: per target, recorded entries live as intended, missing, differing."""
        return self._service().status(chain)

    def reconcile(self, chain: str = "cloud-gaming") -> Result:
        return self._service().reconcile(chain).result
