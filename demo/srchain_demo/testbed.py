"""The demo testbed: namespaces and veths, the emulated switches, the SR proxies and the VNFs as real
processes, the link emulator on each WAN link, a generated inventory, and the chain applied through
`srchain.apply` (the charms' code). What it builds is a `topology.Layout`: one site (`SINGLE_SITE`, the
default) or several joined over WAN links (`topology.two_site()`). `topology.SINGLE_SITE_SRV6` is the SRv6
variant (`srv6bed.py`: s1 on the srv6 P4 profile, the client behind a Linux tail, a Linux End beside s1).

Everything it creates is named `sd<pid>…` and removed by `close()` (also on errors and signals: use it
as a context manager).
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
from typing import TYPE_CHECKING, Any

import yaml

from srchain_demo import srv6bed
from srchain_demo import topology as topo
from srchain_demo.netns import TestbedError, delete_netns, keep_flows_on_one_cpu, netns_exists, run_in_netns, sh
from srchain_demo.shipped import EXAMPLES, P4_PROFILES, P4_PROGRAM

if TYPE_CHECKING:
    from srchain.apply import Options, Result
    from srchain.chains import ChainService
    from srchain.plan import Plan

VNF_HTTP_PORT = 9100  # each VNF namespace has its own loopback, so one port fits all
# the mitigation's thresholds: far above the demo's traffic (the scenario's 20 kpps flow from one source and its
# fan-in are legitimate here)
MITIGATION_MAX_PPS, MITIGATION_MAX_FAN_IN = 1_000_000, 10_000
FORMATTER_SOURCE_PORTS = 16  # the formatter's output sockets (srchain_vnfs.service source_ports), fixed
FORMATTER_SOURCE_PORT_BASE = 47100  # ports: the same split of sessions over the classifiers on every run
Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class Testbed:
    __test__ = False  # not a pytest class
    def __init__(self, workdir: Path, *, port_rate_bps: int = 12_000_000, log: Log = _quiet,
                 prefix: str | None = None, layout: topo.Layout = topo.SINGLE_SITE,
                 switch_nice: int | None = None) -> None:
        self.workdir = workdir.resolve()  # absolute: socket paths go into the inventory (unix:/abs/path)
        self.layout = layout
        # the emulated switches' nice value (every thread), None: inherited. On a shared 2-core box their CPU share
        # decides how long frames wait in their RX rings (docs/demo.md "Over SRv6")
        self.switch_nice = switch_nice
        self.port_rate_bps = port_rate_bps
        self.log = log
        self.prefix = prefix or f"sd{os.getpid()}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.namespaces: list[str] = []
        self.token = secrets.token_hex(16)
        self.inventory = self.workdir / "inventory.yaml"
        self.state_dir = self.workdir / "state"
        self.switch_socks = {s.name: self.workdir / f"{s.name}.sock" for s in layout.switches}
        self.proxy_socks = {p.name: self.workdir / f"{p.name}.sock" for p in layout.proxies}
        self.bundles = {s.profile: self.workdir / ("srchain_node" + ("" if s.profile == "full" else f"-{s.profile}"))
                        for s in layout.switches}
        self.closed = False

    @property
    def dataplane(self) -> str:
        return self.layout.dataplane

    @property
    def srv6(self) -> bool:
        """The SRv6 layout (`topology.SINGLE_SITE_SRV6`, srv6bed.py: the P4 srv6 profile, Linux tail and End)."""
        return self.layout.dataplane == "srv6"

    @property
    def switch_sock(self) -> Path:
        """The classifying (edge) switch's BF Runtime socket."""
        return self.switch_socks[self.layout.edge.name]

    @property
    def proxy_sock(self) -> Path:
        return self.proxy_socks[self.layout.proxy.name]

    @property
    def bundle(self) -> Path:
        return self.bundles[self.layout.edge.profile]

    def spec(self, which: str = "reference") -> Path:
        """The layout's chain spec: "reference", "mitigation" or "mitigation_first"."""
        name = getattr(self.layout.specs, which)
        if name is None:
            raise TestbedError(f"layout has no {which} spec")
        return EXAMPLES / name

    def _switch_key(self, name: str) -> str:
        return "switch" if len(self.layout.switches) == 1 else f"switch-{name}"

    def _proxy_key(self, name: str) -> str:
        return "proxy" if len(self.layout.proxies) == 1 else f"proxy-{name}"

    # ------------------------------------------------------------------ names
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

        for profile, out in self.bundles.items():
            compile_to_dir(P4_PROGRAM, out, defines=P4_PROFILES[profile])
        for sw in self.layout.switches:
            self.start_switch(sw.name)
        for link in self.layout.wan:
            self.start_wan(link)
        for px in self.layout.proxies:
            self.start_proxy(px.name)
        for vnf in self.layout.vnfs:
            self.start_vnf(vnf)
        for name in self.layout.mitigations:
            self.start_mitigation(name)
        self.wait_vnfs()
        self._write_inventory()
        self.log("switches, proxies and VNFs running" + (", WAN links up" if self.layout.wan else ""))

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
        for sock in (*self.switch_socks.values(), *self.proxy_socks.values()):
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
            keep_flows_on_one_cpu(ns, ifname)

    def _network(self) -> None:
        lay = self.layout
        for sw in lay.switches:
            self.add_ns(sw.role)
        for proxy in lay.proxies:
            self.add_ns(proxy.role)
        for link in lay.wan:
            self.add_ns(link.role)
        for sw in lay.switches:
            for port in sw.ports:
                self._wire(sw, port)
        for proxy in lay.proxies:
            px = self.ns(proxy.role)
            for vnf in proxy.vnfs:
                ns = self.add_ns(vnf.role)
                self.veth(px, vnf.proxy_if, vnf.proxy_mac, ns, "eth0", vnf.mac)
                sh("ip", "-n", ns, "addr", "add", f"{vnf.ipv4}/32", "dev", "eth0")
                self.gateway(ns, topo.VNF_GATEWAY, vnf.proxy_mac)
                # The proxy resolves its next hop from the kernel table of its own namespace.
                sh("ip", "-n", px, "neigh", "replace", vnf.ipv4, "lladdr", vnf.mac, "dev", vnf.proxy_if,
                   "nud", "permanent")
        for proxy in lay.mitigations.values():
            px, mi = self.ns(proxy.role), self.add_ns(proxy.mitigation_role)
            for px_if, px_mac, mi_if, mi_mac in zip(proxy.mitigation_ifs, topo.MITIGATION_PROXY_MACS,
                                                    topo.MITIGATION_VNF_IFS, topo.MITIGATION_VNF_MACS, strict=True):
                self.veth(px, px_if, px_mac, mi, mi_if, mi_mac)
        if lay.srv6_nodes:
            srv6bed.wire(self)

    def _wire(self, sw: topo.SwitchBox, port: topo.Port) -> None:
        """The veth of one switch port to its peer (a switch-to-switch link once, from its lower-named end; a Linux
        SRv6 node's in srv6bed.wire)."""
        ns, peer = self.ns(sw.role), port.peer
        if peer.kind == "host":
            host = next(h for h in self.layout.hosts if h.role == peer.name)
            hns = self.add_ns(host.role)
            self.veth(ns, port.ifname, port.mac, hns, "eth0", host.mac)
            for addr in (host.ipv4, *host.extra):
                sh("ip", "-n", hns, "addr", "add", f"{addr}/32", "dev", "eth0")
            self.gateway(hns, topo.HOST_GATEWAY, port.mac)
        elif peer.kind == "proxy":
            proxy = next(p for p in self.layout.proxies if p.name == peer.name)
            self.veth(ns, port.ifname, port.mac, self.ns(proxy.role), proxy.sr_if, proxy.mac)
        elif peer.kind == "switch" and sw.name < peer.name:
            other = self.layout.switch(peer.name)
            far = other.port(peer.port)
            self.veth(ns, port.ifname, port.mac, self.ns(other.role), far.ifname, far.mac)
        elif peer.kind == "wan":
            link = next(w for w in self.layout.wan if w.name == peer.name)
            end = link.a if link.a.switch == sw.name else link.b
            # the emulator's side carries no address: it forwards frames between its two interfaces as they are
            self.veth(ns, port.ifname, port.mac, self.ns(link.role), end.wan_if, _wan_if_mac(port.mac))

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

    def start_switch(self, name: str | None = None) -> None:
        sw = self.layout.switch(name) if name else self.layout.edge
        ports = []
        for port in sw.ports:
            entry: dict[str, Any] = {"device_port": port.dev, "if": port.ifname}
            if port.dev == sw.shaped_port:
                entry |= {"rate_bps": self.port_rate_bps, "burst_bytes": 16384}
            ports.append(entry)
        ports_file = self.workdir / ("ports.json" if len(self.layout.switches) == 1 else f"ports-{sw.name}.json")
        ports_file.write_text(json.dumps({"PortToIf": ports}, indent=1))
        sock, key = self.switch_socks[sw.name], self._switch_key(sw.name)
        sock.unlink(missing_ok=True)
        self.spawn(key, sw.role, [sys.executable, "-m", "srchain.cli", "switch", "run", "--ports", str(ports_file),
                                  "--grpc", f"unix:{sock}"])
        self._wait(f"switch {sw.name}", key, lambda: _switch_answers(sock))
        self.renice_switches(sw.name)

    def renice_switches(self, name: str | None = None) -> None:
        """Every thread of a switch process (default: of every switch) to `switch_nice` (threads started later
        inherit it from theirs)."""
        if self.switch_nice is None:
            return
        for sw in (self.layout.switch(name),) if name else self.layout.switches:
            proc = self.procs.get(self._switch_key(sw.name))
            if proc is None:
                continue
            for task in Path(f"/proc/{proc.pid}/task").iterdir():
                try:
                    os.setpriority(os.PRIO_PROCESS, int(task.name), self.switch_nice)
                except ProcessLookupError:  # a thread that ended meanwhile
                    continue

    def restart_switch(self, name: str | None = None) -> None:
        """Stop a switch process (default: the edge switch) and start a fresh one (empty: no program, no entries)."""
        sw = self.layout.switch(name) if name else self.layout.edge
        proc = self.procs.pop(self._switch_key(sw.name))
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        self.start_switch(sw.name)

    def start_wan(self, link: topo.WanLink) -> None:
        """The link emulator between the two borders' WAN ports, `delay_ms` each way (srchain_net.linkem); its report
        (per direction: frames, lateness of each departure) is written to `wan_report(link)` when it stops."""
        key = f"linkem-{link.name}"
        delay = f"{link.delay_ms:g}"
        self.spawn(key, link.role, [sys.executable, "-m", "srchain_net.linkem", link.a.wan_if, link.b.wan_if,
                                    "--delay-ms", delay, "--reverse-delay-ms", delay,
                                    "--report", str(self.wan_report(link))])
        self._wait(f"WAN link {link.name} (linkem)", key, lambda: "ready" in self.log_tail(key, 200))

    def wan_report(self, link: topo.WanLink) -> Path:
        return self.workdir / f"linkem-{link.name}.json"

    def start_proxy(self, name: str | None = None) -> None:
        px = next(p for p in self.layout.proxies if p.name == name) if name else self.layout.proxy
        token = self.workdir / f"{px.name}.token"
        token.write_text(self.token)
        token.chmod(0o600)
        cfg = self.workdir / f"{px.name}.yaml"
        sock, key = self.proxy_socks[px.name], self._proxy_key(px.name)
        cfg.write_text(yaml.safe_dump({
            "sr_iface": px.sr_if, "sr_next_hop_mac": self.layout.switch(px.switch).toward("proxy", px.name).mac,
            "listen": f"unix:{sock}", "token_file": str(token),
            "state_file": str(self.workdir / f"{px.name}.state.json"), "attachments": [], "sids": [],
        }))
        sock.unlink(missing_ok=True)
        self.spawn(key, px.role, [sys.executable, "-m", "srchain_proxy", "run", "--config", str(cfg)])
        self._wait(f"proxy {px.name}", key, lambda: self.proxy_api(px.name).call("GET", "/v1/health")["status"] == "ok")

    def restart_proxy(self, name: str | None = None) -> None:
        """SIGKILL a proxy (a crash: nothing flushed) and start it again from the same config; it reloads
        what the controller applied from its state file (persisted atomically on every change)."""
        name = name or self.layout.proxy.name
        proc = self.procs.pop(self._proxy_key(name))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        self.start_proxy(name)

    def proxy_api(self, name: str | None = None) -> Any:
        from srchain.targets.proxy import ProxyApi

        name = name or self.layout.proxy.name
        return ProxyApi(name, f"unix:{self.proxy_socks[name]}", self.token)

    def start_vnf(self, vnf: topo.Vnf) -> None:
        cfg = self.workdir / f"{vnf.name}.yaml"
        cfg.write_text(yaml.safe_dump(self.vnf_config(vnf)))
        self.spawn(vnf.name, vnf.role, [sys.executable, "-m", "srchain_vnfs.cli", "run", vnf.kind,
                                        "--config", str(cfg)])

    def vnf_config(self, vnf: topo.Vnf) -> dict[str, Any]:
        """The VNF service's config (docs/vnfs.md)."""
        conf: dict[str, Any] = {
            "name": vnf.name, "listen": {"host": "0.0.0.0", "port": vnf.listen_port},
            "next_hop": {"host": vnf.next_hop[0], "port": vnf.next_hop[1]},
            "http": {"host": "127.0.0.1", "port": VNF_HTTP_PORT},
        }
        if vnf.kind == "formatter":
            # one source port per session: the proxy's per-flow choice between the classifier instances then
            # splits sessions (a single port would send every session to one instance)
            conf["source_ports"], conf["source_port_base"] = FORMATTER_SOURCE_PORTS, FORMATTER_SOURCE_PORT_BASE
        return conf

    def mitigation_config(self, name: str) -> dict[str, Any]:
        """The day-2 bump in the wire's config. Thresholds sit far above the demo's traffic (a 20 kpps test flow
        from one source is legitimate here); its detection is tested in the VNF's own tests."""
        return {"name": name, "in_iface": topo.MITIGATION_VNF_IFS[0], "out_iface": topo.MITIGATION_VNF_IFS[1],
                "max_pps": MITIGATION_MAX_PPS, "max_fan_in": MITIGATION_MAX_FAN_IN, "fan_in_source_pps": 1_000_000,
                "batch": 256, "http": {"host": "127.0.0.1", "port": VNF_HTTP_PORT}}

    def start_mitigation(self, name: str = topo.MITIGATION_NAME) -> None:
        cfg = self.workdir / f"{name}.yaml"
        cfg.write_text(yaml.safe_dump(self.mitigation_config(name)))
        role = self.layout.mitigations[name].mitigation_role
        self.spawn(name, role, [sys.executable, "-m", "srchain_vnfs.cli", "run", "mitigation", "--config", str(cfg)])

    def _vnf_roles(self) -> dict[str, str]:
        return {v.name: v.role for v in self.layout.vnfs} | {
            name: px.mitigation_role for name, px in self.layout.mitigations.items()}

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
        if name in self.layout.mitigations:
            self.start_mitigation(name)
        else:
            self.start_vnf(next(v for v in self.layout.vnfs if v.name == name))
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
        from srchain_demo.inventory import inventory

        doc = inventory(self.layout, self.switch_socks, self.proxy_socks, self.bundles, self.workdir, self.ns)
        self.inventory.write_text(yaml.safe_dump(doc, sort_keys=False))

    def apply(self, spec: str | Path, drain_timeout: float = 10.0,
              drain_interval: float = 0.3) -> tuple[Plan, Result]:
        """Plan `spec` against the generated inventory and apply it (make-before-break), as `srchain chain
        apply` does: (plan, engine result)."""
        from srchain.apply import Options

        service = self._service(Options(drain_timeout, drain_interval))
        done = service.apply(service.load(spec))
        if self.srv6:
            srv6bed.client_route(self)  # after apply: its first run pushes the program
        self.renice_switches()  # the program's threads too
        return done.plan, done.result

    def _service(self, options: Options | None = None) -> ChainService:
        """The chain service over the generated inventory and this testbed's state directory."""
        from srchain.chains import ChainService

        return ChainService(self.inventory, self.state_dir, options=options)

    def status(self, chain: str | None = None) -> dict[str, Any]:
        """The controller's status report: per target, recorded entries live as intended, missing, differing."""
        return self._service().status(chain or self.layout.specs.chain)

    def reconcile(self, chain: str | None = None) -> Result:
        return self._service().reconcile(chain or self.layout.specs.chain).result


def _switch_answers(sock: Path) -> bool:
    from srchain.bfrt.client import BfrtClient

    if not sock.exists():
        return False
    BfrtClient.connect(f"unix:{sock}", attempts=1, client_id=9, timeout=2).close()
    return True


def _wan_if_mac(port_mac: str) -> str:
    """The link emulator's interface facing a border port: the port's MAC with the locally administered 0x06 prefix
    (it never appears in a frame: the emulator forwards frames unchanged)."""
    return "06" + port_mac[2:]
