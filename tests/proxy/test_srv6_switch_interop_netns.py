"""Issue 19's interop scenario (1), applied by the controller: Linux H.Encaps → our P4 switch (the emulated Tofino
running the srv6 bundle, `srchain switch run` in its own namespace) End + the priority module → our proxy End.AS →
VNF → proxy → our switch (transit) → Linux End.DX4 → host. `ChainService.apply` of a spec and an inventory that
describe the namespaces below pushes the srv6 bundle to the switch and writes its rows over BF Runtime, the
proxy's SID over its control API and the Linux nodes' routes with iproute2; nothing of the chain is written by
hand.

    h1 ── r1 (Linux head end: H.Encaps) ── s1 port 1 ┐
                                           s1 port 2 ── px (proxy daemon, End.AS) ── vnf (reflector)
    h2 ── t (Linux tail: End.DX4)        ── s1 port 4 ┘

Every hop's frames are checked with scapy's SRH layer against the plan (into s1, s1 → px, px → s1, s1 → t),
the Linux tail's seg6local `count` statistics, s1's direct counters and the proxy's SID counters rise by exactly
the datagrams sent. Run under `flock /tmp/srchain-netns.lock` with the other netns suites. Traffic stays inside
the namespaces this module creates; every send loop is bounded (N datagrams), every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from netlab import (
    Api,
    Daemon,
    add_netns,
    add_veth,
    call_in_netns,
    del_netns,
    drain,
    nsx,
    packet_socket_in,
    recv_frames,
    spawn_in,
)
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrSegmentRouting
from scapy.layers.l2 import Ether

from srchain.apply.engine import Options
from srchain.bfrt.client import BfrtClient
from srchain.chains import ChainService
from srchain.plan import Plan
from srchain.plan import srv6switch as S6
from srchain.plan.srv6 import PROXY_SRV6_SID, TAIL_SEGMENT
from srchain.targets.switch import SwitchDriver
from srchain_contracts.records import FeatureReport, FlowKey
from srchain_emu.bundle import compile_to_dir
from waiting import wait_until

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not Path("/proc/sys/net/ipv6/conf/all/seg6_enabled").exists(),
                       reason="this kernel has no SRv6 (CONFIG_IPV6_SEG6_LWTUNNEL)"),
]

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SRCHAIN = Path(sys.executable).parent / "srchain"
TOKEN = "srv6-switch-token-0123456789abcdef"
N = 20  # datagrams per run
HEAD, S1_SRC = "fcbb:bb00:1::1", "fcbb:bb00:10::1"
MAC = {"h1": "02:00:00:2a:01:01", "r1h1": "02:00:00:2a:01:02", "r1s1": "02:00:00:2a:02:01", "s1p1": "02:00:00:2a:02:02",
       "s1p2": "02:00:00:2a:03:01", "sr0": "02:00:00:2a:03:02", "vnf0": "02:00:00:2a:04:01", "vnf": "02:00:00:2a:04:02",
       "s1p4": "02:00:00:2a:05:01", "ts1": "02:00:00:2a:05:02", "th2": "02:00:00:2a:06:01", "h2": "02:00:00:2a:06:02",
       "s1p3": "02:00:00:2a:07:01", "ms1": "02:00:00:2a:07:02",
       "vnf1": "02:00:00:2a:08:01", "vnfr": "02:00:00:2a:08:02"}
MID = "fcbb:bb00:5::1"  # m, the Linux End of scenario 3


class Lab:
    def __init__(self, tmp: Path) -> None:
        pid = os.getpid()
        self.ns = {name: f"s6s{name}{pid}" for name in ("h1", "r1", "sw", "px", "vnf", "t", "h2", "m")}
        self.tmp = tmp
        self.api = Api(str(tmp / "ctl.sock"), TOKEN)
        self.config = tmp / "proxy.yaml"
        self.daemon = Daemon(self.ns["px"], self.config, tmp / "proxy.log", self.api)
        self.bfrt = tmp / "bfrt.sock"
        self.switch: subprocess.Popen[bytes] | None = None

    def x(self, node: str, *args: str) -> str:
        return nsx(self.ns[node], *args).stdout

    def ipv6_on(self, node: str, *ifaces: str) -> None:
        for key in ("all", "default", *ifaces):
            self.x(node, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=0")
            self.x(node, "sysctl", "-qw", f"net.ipv6.conf.{key}.seg6_enabled=1")
            self.x(node, "sysctl", "-qw", f"net.ipv6.conf.{key}.accept_ra=0")
        self.x(node, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        self.x(node, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def build(self) -> None:
        """The wiring and addressing a network provides (not the chain's business)."""
        ns = self.ns
        for name in ns.values():
            add_netns(name)
        add_veth(ns["h1"], "eth0", MAC["h1"], ns["r1"], "r1-h1", MAC["r1h1"])
        add_veth(ns["r1"], "r1-s1", MAC["r1s1"], ns["sw"], "s1p1", MAC["s1p1"])
        add_veth(ns["sw"], "s1p2", MAC["s1p2"], ns["px"], "sr0", MAC["sr0"])
        add_veth(ns["px"], "vnf0", MAC["vnf0"], ns["vnf"], "eth0", MAC["vnf"])
        add_veth(ns["px"], "vnf1", MAC["vnf1"], ns["vnf"], "eth1", MAC["vnfr"])  # the report path's VNF
        add_veth(ns["sw"], "s1p4", MAC["s1p4"], ns["t"], "t-s1", MAC["ts1"])
        add_veth(ns["t"], "t-h2", MAC["th2"], ns["h2"], "eth0", MAC["h2"])
        add_veth(ns["sw"], "s1p3", MAC["s1p3"], ns["m"], "m-s1", MAC["ms1"])
        self.x("h1", "ethtool", "-K", "eth0", "tx", "off")  # the proxy and the switch pass the inner packet as is
        self.x("h1", "ip", "addr", "add", "10.1.0.1/24", "dev", "eth0")
        self.x("h1", "ip", "neigh", "add", "10.1.0.254", "lladdr", MAC["r1h1"], "dev", "eth0", "nud", "permanent")
        self.x("h1", "ip", "route", "add", "default", "via", "10.1.0.254")
        self.x("h2", "ip", "addr", "add", "10.2.0.2/24", "dev", "eth0")
        self.x("h2", "ip", "neigh", "add", "10.2.0.254", "lladdr", MAC["th2"], "dev", "eth0", "nud", "permanent")
        self.x("h2", "ip", "route", "add", "default", "via", "10.2.0.254")
        self.ipv6_on("r1", "r1-s1", "lo")
        self.x("r1", "ip", "addr", "add", "10.1.0.254/24", "dev", "r1-h1")
        self.x("r1", "ip", "-6", "addr", "add", f"{HEAD}/128", "dev", "lo", "nodad")
        # r1 reaches every SRv6 locator through s1 (its routing; the chain's encap route comes from the plan)
        self.x("r1", "ip", "-6", "addr", "add", "fc00:a::1/64", "dev", "r1-s1", "nodad")
        self.x("r1", "ip", "-6", "neigh", "add", "fc00:a::2", "lladdr", MAC["s1p1"], "dev", "r1-s1", "nud", "permanent")
        self.x("r1", "ip", "-6", "route", "add", "fcbb::/16", "via", "fc00:a::2", "dev", "r1-s1")
        self.ipv6_on("t", "t-s1", "t-h2", "lo")
        self.x("t", "ip", "-6", "addr", "add", "fc00:b::2/64", "dev", "t-s1", "nodad")
        self.x("t", "ip", "addr", "add", "10.2.0.254/24", "dev", "t-h2")
        self.x("t", "ip", "neigh", "add", "10.2.0.2", "lladdr", MAC["h2"], "dev", "t-h2", "nud", "permanent")
        # m (scenario 3): a Linux node behind s1 port 3 whose End sends on through s1 (its routing)
        self.ipv6_on("m", "m-s1", "lo")
        self.x("m", "ip", "-6", "addr", "add", f"{MID}/128", "dev", "lo", "nodad")
        self.x("m", "ip", "-6", "addr", "add", "fc00:c::2/64", "dev", "m-s1", "nodad")
        self.x("m", "ip", "-6", "neigh", "add", "fc00:c::1", "lladdr", MAC["s1p3"], "dev", "m-s1", "nud", "permanent")
        self.x("m", "ip", "-6", "route", "add", "fcbb::/16", "via", "fc00:c::1", "dev", "m-s1")
        (self.tmp / "token").write_text(TOKEN)
        (self.tmp / "token").chmod(0o600)
        self.config.write_text(yaml.safe_dump({
            "sr_iface": "sr0", "sr_next_hop_mac": MAC["s1p2"], "listen": f"unix:{self.api.path}",
            "token_file": str(self.tmp / "token"), "fast_path": "auto", "attachments": [], "srv6_sids": []}))

    def start_switch(self) -> None:
        """The emulated Tofino on s1p1 .. s1p4 (device ports 1-4), no program: apply pushes the bundle."""
        ports = self.tmp / "ports.json"
        ports.write_text(json.dumps({"PortToIf": [{"device_port": p, "if": f"s1p{p}"} for p in (1, 2, 3, 4)]}))
        log = open(self.tmp / "switch.log", "wb")  # noqa: SIM115 - the child keeps its own descriptor
        self.switch = subprocess.Popen(["ip", "netns", "exec", self.ns["sw"], str(SRCHAIN), "switch", "run",
                                        "--ports", str(ports), "--grpc", f"unix:{self.bfrt}"], stdout=log, stderr=log)
        log.close()

        def serving() -> bool:
            assert self.switch is not None and self.switch.poll() is None, (self.tmp / "switch.log").read_text()
            return self.bfrt.exists()

        wait_until(serving, 30, what="`srchain switch run` opens its gRPC socket")

    def write_chain(self, artifacts: Path) -> tuple[Path, Path]:
        inv = {
            "srv6_nodes": [
                {"name": "r1", "locator": "fcbb:bb00:1::/48", "address": HEAD, "interface": "r1-s1",
                 "mac": MAC["r1s1"], "netns": self.ns["r1"]},
                {"name": "t", "locator": "fcbb:bb00:9::/48", "address": "fcbb:bb00:9::1", "interface": "t-s1",
                 "mac": MAC["ts1"], "netns": self.ns["t"]},
                {"name": "m", "locator": "fcbb:bb00:5::/48", "address": MID, "interface": "m-s1",
                 "mac": MAC["ms1"], "netns": self.ns["m"]}],
            "switches": [{"name": "s1", "grpc": f"unix:{self.bfrt}", "artifacts": str(artifacts),
                          "locator": "fcbb:bb00:10::/48", "ports": [
                              {"port": 1, "mac": MAC["s1p1"], "peer": {"srv6_node": "r1"}},
                              {"port": 2, "mac": MAC["s1p2"], "peer": {"proxy": "px"}},
                              {"port": 3, "mac": MAC["s1p3"], "peer": {"srv6_node": "m"}},
                              {"port": 4, "mac": MAC["s1p4"], "peer": {"srv6_node": "t"}}]}],
            "proxies": [{"name": "px", "control": f"unix:{self.api.path}", "sr_interface": "sr0", "mac": MAC["sr0"],
                         "locator": "fcbb:bb00:2::/48", "token_file": str(self.tmp / "token"),
                         "attachments": [{"vnf": "fw", "iface": "vnf0", "mac": MAC["vnf"]},
                                         {"vnf": "fmt", "iface": "vnf1", "mac": MAC["vnfr"]}]}],
            "vnfs": [{"name": "fw", "kind": "reflector"}, {"name": "fmt", "kind": "reflector"}],
        }
        spec = {"chain": "lab6", "dataplane": "srv6", "srv6": {"tail": "t", "next_hop": "10.2.0.2"}, "msd": 4,
                "classifier": {"node": "r1", "rules": [{"name": "to-h2", "match": {"dst": "10.2.0.0/24"}}]},
                "segments": [{"name": "prio", "switch": "s1", "module": "priority", "params": {"queues": {1: 7}}},
                             {"name": "fw", "vnf": "fw", "proxy": "px", "behaviour": "static"}]}
        (self.tmp / "inventory.yaml").write_text(yaml.safe_dump(inv))
        (self.tmp / "chain.yaml").write_text(yaml.safe_dump(spec))
        # scenario 3: the same chain with m's Linux End between s1's priority SID and the proxy, the head end's
        # encapsulation reduced (H.Encaps.Red: s1's End takes an SRH with Segments Left = Last Entry + 1)
        spec["chain"] = "lab6mid"
        spec["segments"].insert(1, {"name": "mid", "node": "m"})  # type: ignore[attr-defined]
        spec["srv6"]["encap"] = "encap.red"  # type: ignore[index]
        (self.tmp / "mid.yaml").write_text(yaml.safe_dump(spec))
        return self.tmp / "chain.yaml", self.tmp / "inventory.yaml"

    def seg6local_packets(self, node: str, sid: str) -> int:
        out = self.x(node, "ip", "-s", "-6", "route", "show", f"{sid}/128")
        m = re.search(r"packets (\d+) bytes \d+ errors (\d+)", out)
        assert m, out
        assert m.group(2) == "0", out
        return int(m.group(1))

    def switch_driver(self) -> SwitchDriver:
        driver = SwitchDriver("s1", BfrtClient.connect(f"unix:{self.bfrt}", client_id=7, timeout=10), "srchain_node")
        driver.prepare(load=False)
        return driver

    def switch_rows(self, tables: set[str]) -> dict[object, tuple[str, int | None]]:
        driver = self.switch_driver()
        try:
            return dict(driver.snapshot(tables))
        finally:
            driver.close()

    def switch_counts(self, plan: Plan) -> dict[str, int]:
        """s1's direct packet counters of the plan's local_sid and sid_forward rows, by key (SID or locator)."""
        driver = self.switch_driver()
        try:
            live = driver.snapshot({S6.LOCAL_SID, S6.SID_FORWARD})
            out = {}
            for e in plan.entries_of("switch", "s1"):
                if e.table in (S6.LOCAL_SID, S6.SID_FORWARD):
                    count = live[driver.norm(e)[0]][1]
                    assert count is not None
                    key = e.key["dst_addr"]
                    out[str(key["value"] if isinstance(key, dict) else key)] = count
            return out
        finally:
            driver.close()

    def teardown(self) -> None:
        self.daemon.stop()
        if self.switch is not None:
            self.switch.send_signal(signal.SIGTERM)
            try:
                self.switch.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.switch.kill()
                self.switch.wait(timeout=5)
        for name in self.ns.values():
            del_netns(name)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("srv6sw")
    artifacts = tmp / "node"
    compile_to_dir(REPO / "p4" / "srchain_node.p4", artifacts, defines={"SRCHAIN_SRV6": "1"})
    lab = Lab(tmp)
    try:
        lab.build()
        with spawn_in(lab.ns["vnf"], sys.executable, str(HERE / "vnf_reflect.py"), "eth0", "240"), \
                spawn_in(lab.ns["vnf"], sys.executable, str(HERE / "vnf_reflect.py"), "eth1", "240"):
            lab.daemon.start()
            lab.start_switch()
            lab.spec, lab.inv = lab.write_chain(artifacts)
            # where the frames are looked at: as each hop receives them
            lab.into_s1 = packet_socket_in(lab.ns["sw"], "s1p1")
            lab.to_px = packet_socket_in(lab.ns["px"], "sr0")
            lab.from_px = packet_socket_in(lab.ns["sw"], "s1p2")
            lab.to_t = packet_socket_in(lab.ns["t"], "t-s1")
            lab.to_m = packet_socket_in(lab.ns["m"], "m-s1")
            lab.from_m = packet_socket_in(lab.ns["sw"], "s1p3")
            lab.at_h2 = packet_socket_in(lab.ns["h2"], "eth0")
            lab.rx = call_in_netns(lab.ns["h2"], lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            lab.rx.bind(("10.2.0.2", 7000))
            lab.tx = call_in_netns(lab.ns["h1"], lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            yield lab
            for sock in (lab.into_s1, lab.to_px, lab.from_px, lab.to_t, lab.to_m, lab.from_m, lab.at_h2, lab.rx,
                         lab.tx):
                sock.close()
    finally:
        lab.teardown()


def _srv6(frame: bytes) -> bool:
    return frame[12:14] == b"\x86\xdd" and frame[14 + 6] == 43


def run_traffic(lab: Lab, tag: bytes) -> dict[str, list[bytes]]:
    """N datagrams h1 -> h2 (bounded: N sends, a 10-s deadline); all must arrive. The SRv6 frames at each hop."""
    socks = {"into_s1": lab.into_s1, "to_px": lab.to_px, "from_px": lab.from_px, "to_t": lab.to_t,
             "to_m": lab.to_m, "from_m": lab.from_m}
    for sock in (*socks.values(), lab.rx):
        drain(sock)
    payloads = [tag + b"-%03d" % i for i in range(N)]
    for p in payloads:
        lab.tx.sendto(p, ("10.2.0.2", 7000))
        time.sleep(0.005)
    got: list[bytes] = []
    deadline = time.monotonic() + 10
    lab.rx.settimeout(0.5)
    while len(got) < N and time.monotonic() < deadline:
        try:
            got.append(lab.rx.recv(2048))
        except TimeoutError:
            continue
    assert sorted(got) == payloads, f"h2 got {len(got)} of {N}: {(lab.tmp / 'switch.log').read_text()[-2000:]}"
    return {name: recv_frames(sock, N, timeout=2.0, accept=_srv6) for name, sock in socks.items()}


def sid_of(plan: Plan, segment: str) -> str:
    value = next(s.sid for s in plan.sids if s.segment == segment)
    assert isinstance(value, str)
    return value


def test_linux_encap_switch_end_priority_proxy_end_as_vnf_linux_end_dx4(lab: Lab) -> None:
    service = ChainService(lab.inv, lab.tmp / "state", options=Options(drain_timeout=10, drain_interval=0.5))
    applied = service.apply(service.load(lab.spec))
    plan = applied.plan
    assert {o.op for o in applied.result.ops} == {"add"}
    prio, fw, tail = sid_of(plan, "prio"), sid_of(plan, "fw"), sid_of(plan, TAIL_SEGMENT)
    assert (prio, fw, tail) == ("fcbb:bb00:10:100::", "fcbb:bb00:2:100::", "fcbb:bb00:9:100::")
    status = service.status("lab6")
    assert all(not row.get("missing") and not row.get("differs") and not row.get("error")
               for row in status.values()), status
    tail_before = lab.seg6local_packets("t", tail)
    switch_before = lab.switch_counts(plan)

    frames = run_traffic(lab, b"s6")
    assert {k: len(v) for k, v in frames.items()} == {"into_s1": N, "to_px": N, "from_px": N, "to_t": N,
                                                       "to_m": 0, "from_m": 0}
    wire = [tail, fw, prio]  # Segment List[0] .. [2]
    for f in frames["into_s1"]:  # Linux H.Encaps (r1): DA = the first SID, s1's priority End
        p = Ether(f)
        srh = p[IPv6ExtHdrSegmentRouting]
        assert (p.dst, p[IPv6].src, p[IPv6].dst, srh.addresses, srh.segleft, srh.lastentry) == (
            MAC["s1p1"], HEAD, prio, wire, 2, 2)
        assert p[IP].dst == "10.2.0.2" and p[UDP].dport == 7000
    hlim = Ether(frames["into_s1"][0])[IPv6].hlim
    for f in frames["to_px"]:  # s1: End (SL 2 -> 1, DA = Segment List[1]) + priority, routed by px's locator
        p = Ether(f)
        srh = p[IPv6ExtHdrSegmentRouting]
        assert (p.dst, p[IPv6].src, p[IPv6].dst, p[IPv6].hlim, srh.addresses, srh.segleft) == (
            MAC["sr0"], HEAD, fw, hlim - 1, wire, 1)
    (entry,) = [e for e in plan.entries if e.table == PROXY_SRV6_SID]
    for f in frames["from_px"]:  # the proxy's End.AS: the planned header (source, list behind, hop limit)
        p = Ether(f)
        srh = p[IPv6ExtHdrSegmentRouting]
        assert (p[IPv6].src, p[IPv6].dst, p[IPv6].hlim, srh.addresses, srh.segleft) == (
            entry.params["source"], tail, entry.params["hop_limit"], [tail], 0)
    for f in frames["to_t"]:  # s1: transit, routed by t's locator (Hop Limit - 1)
        p = Ether(f)
        assert (p.dst, p[IPv6].dst, p[IPv6].hlim, p[IPv6ExtHdrSegmentRouting].segleft) == (
            MAC["ts1"], tail, int(entry.params["hop_limit"]) - 1, 0)  # type: ignore[call-overload]

    # the work done, counted by each node: Linux's End.DX4, s1's priority End and locator routes, the proxy
    assert lab.seg6local_packets("t", tail) - tail_before == N
    switch_after = lab.switch_counts(plan)
    delta = {k: switch_after[k] - switch_before[k] for k in switch_after}
    assert delta == {prio: N, "fcbb:bb00:2::": N, "fcbb:bb00:9::": N}, delta
    row = lab.api.ok("GET", "/v1/counters")["srv6_sids"][fw]  # type: ignore[index]
    assert (row["behaviour"], row["rx_packets"], row["tx_packets"]) == ("end.as", N, N)

    # delete: nothing of the chain stays on any target
    service.delete("lab6")
    assert lab.api.ok("GET", "/v1/srv6/sids")["srv6_sids"] == []  # type: ignore[index]
    assert "seg6" not in lab.x("r1", "ip", "route", "show") and "seg6local" not in lab.x("t", "ip", "-6", "route")
    assert lab.switch_rows({S6.LOCAL_SID, S6.SID_FORWARD, "SwitchIngress.priority.queue_map"}) == {}


def test_scenario_3_a_linux_end_in_the_middle_of_our_chain(lab: Lab) -> None:
    """Issue 19's scenario 3, planned and applied: [s1 priority, m's Linux End, px End.AS, t End.DX4], r1's
    H.Encaps.Red (`mode encap.red`: the first SID only in the DA). m's `seg6local End` (a node segment of the spec)
    takes the packet s1 sent it, applies End and sends it back through s1 to the proxy; its output equals RFC 8986
    End applied to its input, byte for byte from the IPv6 header on."""
    service = ChainService(lab.inv, lab.tmp / "state", options=Options(drain_timeout=10, drain_interval=0.5))
    plan = service.apply(service.load(lab.tmp / "mid.yaml")).plan
    prio, mid, fw, tail = sid_of(plan, "prio"), sid_of(plan, "mid"), sid_of(plan, "fw"), sid_of(plan, TAIL_SEGMENT)
    assert mid == "fcbb:bb00:5:100::"
    before = {"m": lab.seg6local_packets("m", mid), "t": lab.seg6local_packets("t", tail)}
    switch_before = lab.switch_counts(plan)

    frames = run_traffic(lab, b"s6m")
    assert {k: len(v) for k, v in frames.items()} == {"into_s1": N, "to_px": N, "from_px": N, "to_t": N,
                                                       "to_m": N, "from_m": N}
    wire = [tail, fw, mid]  # reduced: the first SID (s1's priority) is in the DA only
    hlim = Ether(frames["into_s1"][0])[IPv6].hlim
    for f in frames["into_s1"]:
        p = Ether(f)
        srh = p[IPv6ExtHdrSegmentRouting]
        assert (p[IPv6].dst, srh.addresses, srh.segleft, srh.lastentry) == (prio, wire, 3, 2)
    for f_in, f_out in zip(frames["to_m"], frames["from_m"], strict=True):
        got_in, got_out = Ether(f_in), Ether(f_out)
        srh = got_in[IPv6ExtHdrSegmentRouting]
        assert (got_in.dst, got_in[IPv6].dst, got_in[IPv6].hlim, srh.segleft) == (MAC["ms1"], mid, hlim - 1, 2)
        # RFC 8986 4.1 End, by hand: SL - 1, DA = Segment List[SL], Hop Limit - 1; nothing else changes
        want = got_in[IPv6].copy()
        want.hlim -= 1
        want[IPv6ExtHdrSegmentRouting].segleft = 1
        want.dst = fw
        assert bytes(got_out[IPv6]) == bytes(want)
    for f in frames["to_px"]:
        p = Ether(f)
        assert (p[IPv6].dst, p[IPv6].hlim, p[IPv6ExtHdrSegmentRouting].segleft) == (fw, hlim - 3, 1)
    for f in frames["to_t"]:
        assert Ether(f)[IPv6].dst == tail
    assert lab.seg6local_packets("m", mid) - before["m"] == N  # m's End did the work
    assert lab.seg6local_packets("t", tail) - before["t"] == N
    switch_after = lab.switch_counts(plan)
    delta = {k: switch_after[k] - switch_before.get(k, 0) for k in switch_after}
    assert delta == {prio: N, "fcbb:bb00:5::": N, "fcbb:bb00:2::": N, "fcbb:bb00:9::": N}, delta
    service.delete("lab6mid")
    assert "seg6local" not in lab.x("m", "ip", "-6", "route")


def test_scenario_2_switch_encaps_linux_end_proxy_end_ad_linux_decap(lab: Lab) -> None:
    """Issue 19's scenario 2 with End.DX4 for End.DT4: Linux's End.DT4 takes `vrftable N` and needs a VRF device on
    table N, and this machine's kernel (6.18.44, CONFIG_NET_VRF not set, no modules) has none: `ip link add vrf-x
    type vrf table 100` is "Unknown device type", the End.DT4 route is EINVAL (docs/srv6.md). s1 is the
    head end (its classifier's H.Encaps.Red, from its locator's first address) → m's Linux End (on an SRH with
    Segments Left = Last Entry + 1) → px End.AD (per flow) → VNF → px → s1 → t End.DX4 → h2. r1 is a plain IPv4
    router here (its route to h2 via s1, the lab's)."""
    spec = yaml.safe_load((lab.tmp / "mid.yaml").read_text())
    spec["chain"] = "lab6head"
    spec["classifier"] = {"switch": "s1", "rules": [{"name": "to-h2", "priority": 10,
                                                     "match": {"dst": "10.2.0.0/24", "protocol": "udp"}}]}
    spec["segments"] = [{"name": "mid", "node": "m"},
                        {"name": "fw", "vnf": "fw", "proxy": "px", "behaviour": "dynamic"}]
    (lab.tmp / "head.yaml").write_text(yaml.safe_dump(spec))
    lab.x("r1", "ip", "addr", "add", "10.9.0.1/30", "dev", "r1-s1")
    lab.x("r1", "ip", "neigh", "add", "10.9.0.2", "lladdr", MAC["s1p1"], "dev", "r1-s1", "nud", "permanent")
    lab.x("r1", "ip", "route", "add", "10.2.0.0/24", "via", "10.9.0.2", "dev", "r1-s1")
    service = ChainService(lab.inv, lab.tmp / "state", options=Options(drain_timeout=10, drain_interval=0.5))
    try:
        plan = service.apply(service.load(lab.tmp / "head.yaml")).plan
        mid, fw, tail = sid_of(plan, "mid"), sid_of(plan, "fw"), sid_of(plan, TAIL_SEGMENT)
        before = {"m": lab.seg6local_packets("m", mid), "t": lab.seg6local_packets("t", tail)}
        frames = run_traffic(lab, b"s6h")
        # into s1: plain IPv4 (not SRv6); s1's H.Encaps is what m receives
        assert {k: len(v) for k, v in frames.items()} == {"into_s1": 0, "to_px": N, "from_px": N, "to_t": N,
                                                           "to_m": N, "from_m": N}
        (cls,) = [e for e in plan.entries if e.table == S6.CLASSIFIER]
        assert cls.action == "SwitchIngress.classifier.encaps_red_3"
        wire = [tail, fw]  # H.Encaps.Red: the first SID (m's End) in the DA only
        for f in frames["to_m"]:
            p = Ether(f)
            srh = p[IPv6ExtHdrSegmentRouting]
            assert (p[IPv6].src, p[IPv6].dst, p[IPv6].hlim, p[IPv6].tc, srh.addresses, srh.segleft, srh.lastentry) == (
                S1_SRC, mid, 63, 0, wire, 2, 1)  # Hop Limit 64, minus s1's own forwarding hop
            assert p[IP].dst == "10.2.0.2" and p[IP].ttl == 63  # r1 routed it (TTL 64 - 1); s1 leaves it alone
        for f in frames["from_px"]:  # End.AD: the learned header with End applied, back to s1
            p = Ether(f)
            assert (p[IPv6].src, p[IPv6].dst, p[IPv6ExtHdrSegmentRouting].addresses,
                    p[IPv6ExtHdrSegmentRouting].segleft) == (S1_SRC, tail, wire, 0)
        assert lab.seg6local_packets("m", mid) - before["m"] == N
        assert lab.seg6local_packets("t", tail) - before["t"] == N
        row = lab.api.ok("GET", "/v1/counters")["srv6_sids"][fw]  # type: ignore[index]
        assert (row["behaviour"], row["rx_packets"], row["tx_packets"]) == ("end.ad", N, N)
        service.delete("lab6head")
    finally:
        lab.x("r1", "ip", "route", "del", "10.2.0.0/24", "via", "10.9.0.2", "dev", "r1-s1")


def test_flow_features_reports_leave_s1_through_the_proxy_and_linux(lab: Lab) -> None:
    """The report path over SRv6 on real wires: s1's flow-features SID (report_every 5) mirrors every 5th packet of
    the flow as a feature report, H.Encaps'd in egress toward [fmt, t]; px's End.AS hands it to the report VNF and
    rebuilds [t]; t's End.DX4 delivers the report's IPv4/UDP to h2's segment, where its record is read."""
    spec = yaml.safe_load((lab.tmp / "chain.yaml").read_text())
    spec["chain"] = "lab6rep"
    # the report's IPv4 destination is h2: Linux's End.DX4 looks nh4 up, but on a connected route its neighbour is
    # the inner packet's own destination (a report to 10.255.0.2 would wait for an ARP answer nobody gives)
    features_params = {"report_every": 5, "report_dst": "10.2.0.2"}
    spec["segments"] = [{"name": "features", "switch": "s1", "module": "flow-features", "params": features_params},
                        {"name": "fw", "vnf": "fw", "proxy": "px", "behaviour": "static"},
                        {"name": "fmt", "vnf": "fmt", "proxy": "px", "behaviour": "static", "traffic": "reports"}]
    (lab.tmp / "rep.yaml").write_text(yaml.safe_dump(spec))
    service = ChainService(lab.inv, lab.tmp / "state", options=Options(drain_timeout=10, drain_interval=0.5))
    plan = service.apply(service.load(lab.tmp / "rep.yaml")).plan
    features, fw, fmt, tail = (sid_of(plan, n) for n in ("features", "fw", "fmt", TAIL_SEGMENT))
    assert {s.path: s.labels for s in plan.stacks} == {"data": [features, fw, tail], "reports:features": [fmt, tail]}
    before = lab.seg6local_packets("t", tail)
    for sock in (lab.to_px, lab.at_h2):
        drain(sock)
    reports = N // 5
    frames = run_traffic(lab, b"s6r")
    assert len(frames["into_s1"]) == N and len(frames["to_t"]) == N  # the first N of each (data, then reports)
    sport = lab.tx.getsockname()[1]
    key, _ = FlowKey.from_packet("10.1.0.1", sport, "10.2.0.2", 7000, 17)

    def report_frame(f: bytes) -> bool:
        ip = 14
        return f[12:14] == b"\x08\x00" and f[ip + 9] == 17 and f[ip + 22 : ip + 24] == (47001).to_bytes(2, "big")

    at_h2 = recv_frames(lab.at_h2, reports, timeout=5.0, accept=report_frame)
    assert len(at_h2) == reports, f"{len(at_h2)} of {reports} reports reached h2's segment"
    counts = []
    for f in at_h2:
        p = Ether(f)
        assert (p[IP].src, p[IP].dst, p[UDP].sport, p[UDP].dport) == ("10.255.0.1", "10.2.0.2", 47001, 47001)
        assert p[IP].ttl == 63  # End.DX4 routed it on (64 - 1)
        record = FeatureReport.unpack(bytes(p[UDP].payload)[:72])
        assert (record.key, record.switch_id) == (key, 1)
        counts.append(record.pkt_count)
    assert counts == sorted(counts) and counts[-1] == N, counts
    # the reports on the wire into px: s1's H.Encaps from its locator's first address toward [fmt, tail]
    into_px = recv_frames(lab.to_px, N + reports, timeout=2.0, accept=_srv6)
    seen = [Ether(f) for f in frames["to_px"] + into_px]
    rep = [p for p in seen if p[IPv6].dst == fmt]
    assert rep and all((p[IPv6].src, p[IPv6ExtHdrSegmentRouting].addresses, p[IPv6ExtHdrSegmentRouting].segleft)
                       == (S1_SRC, [tail, fmt], 1) for p in rep)
    assert lab.seg6local_packets("t", tail) - before == N + reports  # the data and the reports decapsulated
    row = lab.api.ok("GET", "/v1/counters")["srv6_sids"][fmt]  # type: ignore[index]
    assert (row["rx_packets"], row["tx_packets"]) == (reports, reports)
    service.delete("lab6rep")
