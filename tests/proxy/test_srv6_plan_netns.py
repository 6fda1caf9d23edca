"""A planned SRv6 chain on real kernels: `srchain chain plan` of a one-VNF chain for an inventory describing
the namespaces below, and nothing hand-written in between. The head end's and the tail's entries become
iproute2 commands (srchain.plan.iproute2), the proxy daemon starts from the plan's proxy entries, and a
day-2 change (static -> dynamic) goes through the proxy driver over the control socket, install -> flip
-> cleanup.

    h1 ── r1 (head: H.Encaps as planned) ── px (proxy daemon: the plan's End.AS / End.AD) ── vnf (reflector)
          └── t (tail: seg6local End.DX4 as planned) ── h2

Run under `flock /tmp/srchain-netns.lock` with the other netns suites. Traffic stays inside the namespaces
this module creates; every send loop is bounded (N datagrams) and every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
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
from scapy.layers.inet6 import IPv6, IPv6ExtHdrSegmentRouting
from scapy.layers.l2 import Ether

from srchain.apply.engine import ApplyError, Options
from srchain.chains import ChainService
from srchain.model import load_chain
from srchain.plan import Plan, build_plan, diff
from srchain.plan.iproute2 import ip_args
from srchain.plan.model import DiffOp
from srchain.plan.srv6 import NODE_ENCAP, NODE_LOCAL, PROXY_SRV6_SID
from srchain.sidstore import SidStore
from srchain.targets.proxy import ProxyDriver

pytestmark = pytest.mark.netns

HERE = Path(__file__).parent
TOKEN = "srv6-plan-token-0123456789abcdef"
N = 20  # datagrams per run
HEAD = "fc00:1::1"
MAC = {"h1": "02:00:00:1a:01:01", "r1h1": "02:00:00:1a:01:02", "r1px": "02:00:00:1a:02:01", "sr0": "02:00:00:1a:02:02",
       "vnf0": "02:00:00:1a:03:01", "vnf": "02:00:00:1a:03:02", "r1t": "02:00:00:1a:04:01", "tr1": "02:00:00:1a:04:02",
       "th2": "02:00:00:1a:05:01", "h2": "02:00:00:1a:05:02"}


def write_chain(tmp: Path, behaviour: str, netns: dict[str, str] | None = None) -> tuple[Path, Path]:
    """The chain's spec and an inventory of the lab; with `netns`, where apply finds the Linux nodes."""
    nodes = [{"name": "r1", "locator": "fc00:1::/48", "address": HEAD, "interface": "r1-px"},
             {"name": "t", "locator": "fcbb:bb00:3::/48", "address": "fc00:13::2", "interface": "t-r1"}]
    for node in nodes:
        if netns:
            node["netns"] = netns[node["name"]]
    inv = {
        "srv6_nodes": nodes,
        "proxies": [{"name": "px", "control": f"unix:{tmp / 'ctl.sock'}", "sr_interface": "sr0", "mac": MAC["sr0"],
                     "locator": "fcbb:bb00:2::/48", "token_file": str(tmp / "token"),
                     "attachments": [{"vnf": "fw", "iface": "vnf0", "mac": MAC["vnf"]}]}],
        "vnfs": [{"name": "fw", "kind": "reflector"}],
    }
    spec = {"chain": "lab", "dataplane": "srv6", "srv6": {"tail": "t", "next_hop": "10.2.0.2"},
            "classifier": {"node": "r1", "rules": [{"name": "to-h2", "match": {"dst": "10.2.0.0/24"}}]},
            "segments": [{"name": "fw", "vnf": "fw", "proxy": "px", "behaviour": behaviour}]}
    (tmp / "inventory.yaml").write_text(yaml.safe_dump(inv))
    (tmp / f"{behaviour}.yaml").write_text(yaml.safe_dump(spec))
    return tmp / f"{behaviour}.yaml", tmp / "inventory.yaml"


def plan_chain(tmp: Path, behaviour: str) -> Plan:
    spec, inv = write_chain(tmp, behaviour)
    with SidStore(tmp / "state") as store:
        return build_plan(load_chain(spec, inv), store)


class Lab:
    def __init__(self, tmp: Path, prefix: str = "s6p") -> None:
        pid = os.getpid()
        self.ns = {name: f"{prefix}{name}{pid}" for name in ("h1", "r1", "px", "vnf", "t", "h2")}
        self.tmp = tmp
        self.api = Api(str(tmp / "ctl.sock"), TOKEN)
        self.config = tmp / "proxy.yaml"
        self.daemon = Daemon(self.ns["px"], self.config, tmp / "proxy.log", self.api)

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
        """The wiring and addressing a network provides (not the chain's business); the chain comes from the plan."""
        ns = self.ns
        for name in ns.values():
            add_netns(name)
        add_veth(ns["h1"], "eth0", MAC["h1"], ns["r1"], "r1-h1", MAC["r1h1"])
        add_veth(ns["r1"], "r1-px", MAC["r1px"], ns["px"], "sr0", MAC["sr0"])
        add_veth(ns["px"], "vnf0", MAC["vnf0"], ns["vnf"], "eth0", MAC["vnf"])
        add_veth(ns["r1"], "r1-t", MAC["r1t"], ns["t"], "t-r1", MAC["tr1"])
        add_veth(ns["t"], "t-h2", MAC["th2"], ns["h2"], "eth0", MAC["h2"])
        self.x("h1", "ethtool", "-K", "eth0", "tx", "off")  # the proxy passes the inner packet on as it is
        self.x("h1", "ip", "addr", "add", "10.1.0.1/24", "dev", "eth0")
        self.x("h1", "ip", "neigh", "add", "10.1.0.254", "lladdr", MAC["r1h1"], "dev", "eth0", "nud", "permanent")
        self.x("h1", "ip", "route", "add", "default", "via", "10.1.0.254")
        self.x("h2", "ip", "addr", "add", "10.2.0.2/24", "dev", "eth0")
        self.x("h2", "ip", "neigh", "add", "10.2.0.254", "lladdr", MAC["th2"], "dev", "eth0", "nud", "permanent")
        self.x("h2", "ip", "route", "add", "default", "via", "10.2.0.254")
        self.ipv6_on("r1", "r1-px", "r1-t", "lo")
        self.x("r1", "ip", "addr", "add", "10.1.0.254/24", "dev", "r1-h1")
        self.x("r1", "ip", "-6", "addr", "add", f"{HEAD}/128", "dev", "lo", "nodad")
        for ifname, mine, peer, mac, prefix in (("r1-px", "fc00:12::1", "fc00:12::2", MAC["sr0"], "fcbb:bb00:2::/48"),
                                                ("r1-t", "fc00:13::1", "fc00:13::2", MAC["tr1"], "fcbb:bb00:3::/48")):
            self.x("r1", "ip", "-6", "addr", "add", f"{mine}/64", "dev", ifname, "nodad")
            self.x("r1", "ip", "-6", "neigh", "add", peer, "lladdr", mac, "dev", ifname, "nud", "permanent")
            self.x("r1", "ip", "-6", "route", "add", prefix, "via", peer, "dev", ifname)
        self.ipv6_on("t", "t-r1", "t-h2", "lo")
        self.x("t", "ip", "-6", "addr", "add", "fc00:13::2/64", "dev", "t-r1", "nodad")
        self.x("t", "ip", "addr", "add", "10.2.0.254/24", "dev", "t-h2")
        self.x("t", "ip", "neigh", "add", "10.2.0.2", "lladdr", MAC["h2"], "dev", "t-h2", "nud", "permanent")
        (self.tmp / "token").write_text(TOKEN)
        (self.tmp / "token").chmod(0o600)

    def install_nodes(self, ops: list[DiffOp]) -> None:
        """The plan's node operations, as iproute2 commands on the node they name (adds and modifies)."""
        node_ns = {"r1": "r1", "t": "t"}
        for op in ops:
            if op.entry.target_kind == "node":
                assert op.op != "delete", op  # this test's changes never remove a node entry
                for args in ip_args(op.entry, replace=op.op == "modify"):
                    self.x(node_ns[op.entry.target], "ip", *args)

    def proxy_config(self, plan: Plan | None) -> None:
        """The daemon's config: the plan's proxy entries, or none (an apply installs them)."""
        px = plan.entries_of("proxy", "px") if plan is not None else []
        cfg = {"sr_iface": "sr0", "sr_next_hop_mac": MAC["r1px"], "listen": f"unix:{self.api.path}",
               "token_file": str(self.tmp / "token"), "fast_path": "auto",
               "attachments": [{"vnf": e.key["vnf"], **e.params} for e in px if e.table == "attachment"],
               "srv6_sids": [{"sid": e.key["sid"], "behaviour": e.action, "version": e.version, **e.params}
                             for e in px if e.table == PROXY_SRV6_SID]}
        self.config.write_text(yaml.safe_dump(cfg))

    def seg6local_packets(self, node: str, sid: str) -> int:
        out = self.x(node, "ip", "-s", "-6", "route", "show", f"{sid}/128")
        m = re.search(r"packets (\d+) bytes \d+ errors (\d+)", out)
        assert m, out
        assert m.group(2) == "0", out
        return int(m.group(1))

    def teardown(self) -> None:
        self.daemon.stop()
        for name in self.ns.values():
            del_netns(name)


def _srv6(frame: bytes) -> bool:
    return frame[12:14] == b"\x86\xdd" and frame[14 + 6] == 43


@contextlib.contextmanager
def running_lab(tmp: Path, prefix: str, planned: bool) -> Iterator[Lab]:
    """The namespaces, the reflector and the proxy daemon; with `planned`, the static chain set up from its
    plan by hand (iproute2 commands, the daemon's config); without, nothing of the chain (apply's job)."""
    lab = Lab(tmp, prefix)
    try:
        lab.build()
        with spawn_in(lab.ns["vnf"], sys.executable, str(HERE / "vnf_reflect.py"), "eth0", "240"):
            lab.plan = plan_chain(lab.tmp, "static") if planned else None
            lab.proxy_config(lab.plan)
            if lab.plan is not None:
                lab.install_nodes(diff(lab.plan.entries, []))
            lab.daemon.start(wait_ready=("fw",) if planned else ())
            lab.to_px = packet_socket_in(lab.ns["px"], "sr0")
            lab.from_px = packet_socket_in(lab.ns["r1"], "r1-px")
            lab.rx = call_in_netns(lab.ns["h2"], lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            lab.rx.bind(("10.2.0.2", 7000))
            lab.tx = call_in_netns(lab.ns["h1"], lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            yield lab
            for sock in (lab.to_px, lab.from_px, lab.rx, lab.tx):
                sock.close()
    finally:
        lab.teardown()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("srv6plan"), "s6p", planned=True) as lab:
        yield lab


def run_traffic(lab: Lab, tag: bytes) -> tuple[list[bytes], list[bytes]]:
    """N datagrams h1 -> h2 (bounded); all must arrive. Returns the SRv6 frames into and out of the proxy."""
    for sock in (lab.to_px, lab.from_px, lab.rx):
        drain(sock)
    payloads = [tag + b"-%03d" % i for i in range(N)]
    for p in payloads:
        lab.tx.sendto(p, ("10.2.0.2", 7000))
        time.sleep(0.002)
    got: list[bytes] = []
    deadline = time.monotonic() + 5
    lab.rx.settimeout(0.5)
    while len(got) < N and time.monotonic() < deadline:
        try:
            got.append(lab.rx.recv(2048))
        except TimeoutError:
            continue
    assert sorted(got) == payloads, f"h2 got {len(got)} of {N}"
    into = recv_frames(lab.to_px, N, timeout=2.0, accept=_srv6)
    return into, recv_frames(lab.from_px, N, timeout=2.0, accept=_srv6)


def sid_of(plan: Plan, segment: str) -> str:
    value = next(s.sid for s in plan.sids if s.segment == segment)
    assert isinstance(value, str)
    return value


def check_frames(plan: Plan, into: list[bytes], out: list[bytes]) -> None:
    """The head end pushed the planned segment list; the proxy sent on what its planned entry says."""
    (encap,) = [e for e in plan.entries if e.table == NODE_ENCAP]
    segments = encap.params["segments"]
    assert isinstance(segments, list) and len(into) == len(out) == N
    px_sid, tail_sid = sid_of(plan, "fw"), sid_of(plan, "@tail")
    assert segments == [px_sid, tail_sid]
    (entry,) = [e for e in plan.entries if e.table == PROXY_SRV6_SID]
    for raw_in, raw_out in zip(into, out, strict=True):
        pkt = Ether(raw_in)[IPv6]
        srh = pkt[IPv6ExtHdrSegmentRouting]
        assert (pkt.src, pkt.dst, srh.addresses, srh.segleft) == (HEAD, px_sid, list(reversed(segments)), 1)
        sent = Ether(raw_out)[IPv6]
        srh_out = sent[IPv6ExtHdrSegmentRouting]
        assert (sent.dst, srh_out.segleft) == (tail_sid, 0)
        if entry.action == "end.as":  # the planned header: source, segment list behind, hop limit
            assert (sent.src, srh_out.addresses, sent.hlim) == (entry.params["source"], [tail_sid],
                                                                entry.params["hop_limit"])
        else:  # End.AD: the learned header with End applied
            assert (sent.src, srh_out.addresses, sent.hlim) == (HEAD, srh.addresses, pkt.hlim - 1)


def test_the_planned_static_chain_carries_traffic(lab):
    plan = lab.plan
    tail = sid_of(plan, "@tail")
    before = lab.seg6local_packets("t", tail)
    into, out = run_traffic(lab, b"as")
    check_frames(plan, into, out)
    assert lab.seg6local_packets("t", tail) - before == N  # the planned End.DX4 decapsulated every one
    row = lab.api.ok("GET", "/v1/counters")["srv6_sids"][sid_of(plan, "fw")]
    assert (row["behaviour"], row["rx_packets"], row["tx_packets"]) == ("end.as", N, N)


def test_day2_static_to_dynamic_through_the_driver(lab):
    """A new SID (the behaviour is in its context) installed through the proxy driver, then the head end
    flips, then cleanup removes the old SID: traffic flows before and after, through the new SID only."""
    old = lab.plan
    new = plan_chain(lab.tmp, "dynamic")
    assert new.version == old.version + 1 and sid_of(new, "fw") != sid_of(old, "fw")
    ops = diff(new.entries, old.entries)
    assert [(o.phase, o.entry.target_kind) for o in ops] == [("install", "proxy"), ("flip", "node"),
                                                              ("cleanup", "proxy")]
    driver = ProxyDriver.from_files("px", f"unix:{lab.api.path}", lab.tmp / "token")
    try:
        driver.prepare()
        driver.write([o for o in ops if o.phase == "install"])
        assert {s["sid"] for s in lab.api.ok("GET", "/v1/srv6/sids")["srv6_sids"]} == {sid_of(old, "fw"),
                                                                                      sid_of(new, "fw")}
        lab.install_nodes([o for o in ops if o.phase == "flip"])
        into, out = run_traffic(lab, b"ad")
        check_frames(new, into, out)
        driver.write([o for o in ops if o.phase == "cleanup"])
        live = {k: c for k, (c, _) in driver.snapshot({PROXY_SRV6_SID, "attachment"}).items()}
        assert live == dict(driver.norm(e) for e in new.entries_of("proxy", "px"))
    finally:
        driver.close()
    rows = lab.api.ok("GET", "/v1/counters")["srv6_sids"]
    assert set(rows) == {sid_of(new, "fw")}
    assert (rows[sid_of(new, "fw")]["rx_packets"], rows[sid_of(new, "fw")]["tx_packets"]) == (N, N)
    assert NODE_LOCAL not in {o.entry.table for o in ops}, "the tail's SID did not change"


def test_chain_service_applies_changes_and_deletes_an_srv6_chain(tmp_path_factory):
    """`srchain chain apply|delete` on SRv6: the proxy through its driver, r1 and t through the Linux node
    driver (ip in their namespaces); a day-2 change drains the old SID before cleanup; delete leaves
    nothing of the chain on any target."""
    with running_lab(tmp_path_factory.mktemp("srv6apply"), "s6a", planned=False) as lab:
        netns = {"r1": lab.ns["r1"], "t": lab.ns["t"]}
        static, inv = write_chain(lab.tmp, "static", netns)
        dynamic, _ = write_chain(lab.tmp, "dynamic", netns)
        service = ChainService(inv, lab.tmp / "state", options=Options(drain_timeout=10, drain_interval=0.5))
        # a route to the chain's destination that the chain does not own: apply refuses to clobber it, names
        # the node and the kernel's reason, and rolls back what it had installed (the proxy's entries)
        lab.x("r1", "ip", "route", "add", "10.2.0.0/24", "dev", "r1-t")
        with pytest.raises(ApplyError, match=r"node r1: .*File exists") as refused:
            service.apply(service.load(static))
        assert refused.value.unchanged
        assert lab.api.ok("GET", "/v1/srv6/sids")["srv6_sids"] == []
        with SidStore(lab.tmp / "state") as store:
            assert store.srv6_sids() == [], "an apply that changed nothing gives its SIDs back"
        lab.x("r1", "ip", "route", "del", "10.2.0.0/24", "dev", "r1-t")
        first = service.apply(service.load(static))
        assert len(first.result.ops) == len(first.plan.entries) and {o.op for o in first.result.ops} == {"add"}
        into, out = run_traffic(lab, b"apply-as")
        check_frames(first.plan, into, out)
        status = service.status("lab")
        assert all(row["ok"] == row["intended"] and not row.get("error") for row in status.values()), status
        second = service.apply(service.load(dynamic))
        assert second.result.drained is True
        assert second.released == [sid_of(first.plan, "fw")], "the old SID freed after cleanup"
        into, out = run_traffic(lab, b"apply-ad")
        check_frames(second.plan, into, out)
        assert {s["sid"] for s in lab.api.ok("GET", "/v1/srv6/sids")["srv6_sids"]} == {sid_of(second.plan, "fw")}
        service.delete("lab")
        assert lab.api.ok("GET", "/v1/srv6/sids")["srv6_sids"] == []
        assert "seg6" not in lab.x("r1", "ip", "route", "show") and "seg6local" not in lab.x("t", "ip", "-6", "route")
