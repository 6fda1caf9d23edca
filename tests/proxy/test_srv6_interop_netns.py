"""The SRv6 proxy between Linux SRv6 nodes, in network namespaces: real kernels encapsulate, forward, run
`seg6local End` and `End.DX4`; the proxy daemon runs End.AS / End.AD in between; an SR-unaware VNF (the
reflector) passes the inner packets through. Every hop is captured and checked byte for byte with scapy's
SRH layer, and the Linux nodes' seg6local counters (`ip -s -6 route`, `count`) prove the kernel did the work.

    h1 ── r1 (H.Encaps: encap seg6 mode encap) ── px (proxy: sr0 | vnf0) ── vnf (reflector)
          │  ├── e  (seg6local End: MID)
          │  └── t  (seg6local End.DX4 nh4 10.2.0.2: TAIL) ── h2 (UDP receiver)

Run under `flock /tmp/srchain-netns.lock` with the other netns suites. Traffic stays inside the namespaces
this module creates; every send loop is bounded (N datagrams) and every wait has a deadline.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
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

from srchain_net.rings import RxRing
from srchain_proxy import compiled

pytestmark = pytest.mark.netns

HERE = Path(__file__).parent
TOKEN = "srv6-interop-token-0123456789"
N = 20  # datagrams per scenario
SENT_TTL = 50  # h1's TTL: r1 encapsulates without decrementing it, t's End.DX4 forwards (49)
HEAD = "fc00:1::1"  # r1's tunnel source
PX, PX_AD = "fcbb:bb00:2::a5", "fcbb:bb00:2::ad"
TAIL = "fcbb:bb00:3::d4"
MID = "fcbb:bb00:4::e"
MAC = {  # fixed MACs: permanent neighbours everywhere, so no ARP/NDP is needed (or counted) on the path
    "h1": "02:00:00:19:01:01", "r1h1": "02:00:00:19:01:02",
    "r1px": "02:00:00:19:02:01", "sr0": "02:00:00:19:02:02",
    "vnf0": "02:00:00:19:03:01", "vnf": "02:00:00:19:03:02",
    "r1t": "02:00:00:19:04:01", "tr1": "02:00:00:19:04:02",
    "th2": "02:00:00:19:05:01", "h2": "02:00:00:19:05:02",
    "r1e": "02:00:00:19:06:01", "er1": "02:00:00:19:06:02",
}


class Lab:
    def __init__(self, tmp: Path) -> None:
        pid = os.getpid()
        self.ns = {name: f"s6{name}{pid}" for name in ("h1", "r1", "px", "vnf", "t", "h2", "e")}
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
        ns = self.ns
        for name in ns.values():
            add_netns(name)
        add_veth(ns["h1"], "eth0", MAC["h1"], ns["r1"], "r1-h1", MAC["r1h1"])
        add_veth(ns["r1"], "r1-px", MAC["r1px"], ns["px"], "sr0", MAC["sr0"])
        add_veth(ns["px"], "vnf0", MAC["vnf0"], ns["vnf"], "eth0", MAC["vnf"])
        add_veth(ns["r1"], "r1-t", MAC["r1t"], ns["t"], "t-r1", MAC["tr1"])
        add_veth(ns["t"], "t-h2", MAC["th2"], ns["h2"], "eth0", MAC["h2"])
        add_veth(ns["r1"], "r1-e", MAC["r1e"], ns["e"], "e-r1", MAC["er1"])
        # veth hands h1's UDP over with the checksum still to be filled in (TX offload); the proxy reads frames
        # raw from AF_PACKET and passes the inner packet on as it is, so h1's kernel must finish the checksum
        # or h2 drops every datagram (UdpInCsumErrors), as in the demo's testbed
        self.x("h1", "ethtool", "-K", "eth0", "tx", "off")
        # hosts: IPv4 only
        self.x("h1", "ip", "addr", "add", "10.1.0.1/24", "dev", "eth0")
        self.x("h1", "ip", "neigh", "add", "10.1.0.254", "lladdr", MAC["r1h1"], "dev", "eth0", "nud", "permanent")
        self.x("h1", "ip", "route", "add", "default", "via", "10.1.0.254")
        self.x("h2", "ip", "addr", "add", "10.2.0.2/24", "dev", "eth0")
        self.x("h2", "ip", "neigh", "add", "10.2.0.254", "lladdr", MAC["th2"], "dev", "eth0", "nud", "permanent")
        self.x("h2", "ip", "route", "add", "default", "via", "10.2.0.254")
        # r1: the H.Encaps router and the IPv6 core
        self.ipv6_on("r1", "r1-px", "r1-t", "r1-e", "lo")
        self.x("r1", "ip", "addr", "add", "10.1.0.254/24", "dev", "r1-h1")
        self.x("r1", "ip", "-6", "addr", "add", f"{HEAD}/128", "dev", "lo", "nodad")
        self.x("r1", "ip", "sr", "tunsrc", "set", HEAD)
        for ifname, mine, peer, mac, prefix in (("r1-px", "fc00:12::1", "fc00:12::2", MAC["sr0"], "fcbb:bb00:2::/48"),
                                                ("r1-t", "fc00:13::1", "fc00:13::2", MAC["tr1"], "fcbb:bb00:3::/48"),
                                                ("r1-e", "fc00:14::1", "fc00:14::2", MAC["er1"], "fcbb:bb00:4::/48")):
            self.x("r1", "ip", "-6", "addr", "add", f"{mine}/64", "dev", ifname, "nodad")
            self.x("r1", "ip", "-6", "neigh", "add", peer, "lladdr", mac, "dev", ifname, "nud", "permanent")
            self.x("r1", "ip", "-6", "route", "add", prefix, "via", peer, "dev", ifname)
        # t: End.DX4 toward h2
        self.ipv6_on("t", "t-r1", "t-h2", "lo")
        self.x("t", "ip", "-6", "addr", "add", "fc00:13::2/64", "dev", "t-r1", "nodad")
        self.x("t", "ip", "addr", "add", "10.2.0.254/24", "dev", "t-h2")
        self.x("t", "ip", "neigh", "add", "10.2.0.2", "lladdr", MAC["h2"], "dev", "t-h2", "nud", "permanent")
        self.x("t", "ip", "-6", "route", "add", f"{TAIL}/128", "encap", "seg6local", "action", "End.DX4", "nh4",
               "10.2.0.2", "count", "dev", "t-r1")
        # e: a plain End in the middle, back to r1 by default
        self.ipv6_on("e", "e-r1", "lo")
        self.x("e", "ip", "-6", "addr", "add", "fc00:14::2/64", "dev", "e-r1", "nodad")
        self.x("e", "ip", "-6", "neigh", "add", "fc00:14::1", "lladdr", MAC["r1e"], "dev", "e-r1", "nud", "permanent")
        self.x("e", "ip", "-6", "route", "add", "default", "via", "fc00:14::1", "dev", "e-r1")
        self.x("e", "ip", "-6", "route", "add", f"{MID}/128", "encap", "seg6local", "action", "End", "count",
               "dev", "e-r1")
        (self.tmp / "token").write_text(TOKEN)
        (self.tmp / "token").chmod(0o600)
        cfg = {"sr_iface": "sr0", "sr_next_hop_mac": MAC["r1px"], "listen": f"unix:{self.api.path}",
               "token_file": str(self.tmp / "token"), "fast_path": "auto",
               "attachments": [{"vnf": "fw", "iface": "vnf0", "mac": MAC["vnf"]}],
               "srv6_sids": [{"sid": PX, "behaviour": "end.as", "vnf": "fw", "source": HEAD,
                              "segments": [[PX, TAIL]], "segments_left": 0, "hop_limit": 63}]}
        self.config.write_text(yaml.safe_dump(cfg))

    def encap(self, segs: list[str]) -> None:
        """r1's H.Encaps for h2's prefix (replaced per scenario)."""
        self.x("r1", "ip", "route", "replace", "10.2.0.0/24", "encap", "seg6", "mode", "encap", "segs",
               ",".join(segs), "dev", "r1-px")

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


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("srv6lab"))
    try:
        lab.build()
        with spawn_in(lab.ns["vnf"], sys.executable, str(HERE / "vnf_reflect.py"), "eth0", "240"):
            lab.daemon.start(wait_ready=("fw",))
            lab.caps = {name: packet_socket_in(lab.ns[node], ifname) for name, (node, ifname) in {
                "to_px": ("px", "sr0"), "from_px": ("r1", "r1-px"), "to_vnf": ("vnf", "eth0"),
                "from_vnf": ("px", "vnf0"), "to_t": ("t", "t-r1"), "to_h2": ("h2", "eth0"),
                "from_e": ("r1", "r1-e")}.items()}
            # e's ingress through a PACKET_RX_RING: the kernel copies the frame into the ring when it
            # arrives. A plain packet socket queues a clone that shares the buffer, and seg6local End
            # rewrites SL and DA in that buffer in place: such a socket reads the packet after End.
            lab.e_ring = call_in_netns(lab.ns["e"], lambda: RxRing("e-r1", 0, 256))
            lab.rx = call_in_netns(lab.ns["h2"], lambda: _udp_bound("10.2.0.2", 7000))
            lab.tx = call_in_netns(lab.ns["h1"], lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            lab.tx.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, SENT_TTL)
            yield lab
            for sock in (*lab.caps.values(), lab.rx, lab.tx, lab.e_ring):
                sock.close()
    finally:
        lab.teardown()


def _udp_bound(addr: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((addr, port))
    return sock


def _srv6(frame: bytes) -> bool:
    return frame[12:14] == b"\x86\xdd" and frame[14 + 6] == 43


def _udp7000(frame: bytes) -> bool:
    return frame[12:14] == b"\x08\x00" and frame[14 + 9] == 17 and frame[14 + 22:14 + 24] == b"\x1b\x58"


def after_end(pkt: IPv6) -> IPv6:
    """RFC 8986 End on the outer header: hop limit - 1, SL - 1, DA = Segment List[SL]."""
    out = pkt.copy()
    s = out[IPv6ExtHdrSegmentRouting]
    s.segleft -= 1
    out.dst = s.addresses[s.segleft]
    out.hlim -= 1
    return IPv6(bytes(out))


def run_traffic(lab: Lab, tag: bytes) -> dict[str, list[bytes]]:
    """N datagrams h1 -> 10.2.0.2:7000; returns the payloads h2 got and every capture (bounded waits)."""
    for sock in lab.caps.values():
        drain(sock)
    drain(lab.rx)
    lab.e_ring.drain(lambda m, s, e: None, 1 << 16)
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
    caps = {name: recv_frames(sock, N, timeout=2.0, accept=_srv6 if name in ("to_px", "from_px", "to_t", "to_e",
                                                                              "from_e") else _udp7000)
            for name, sock in lab.caps.items()}
    caps["h2"] = got
    ring: list[bytes] = []
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline and len(ring) < N:
        lab.e_ring.drain(lambda m, s, e: ring.append(bytes(m[s:e])) if _srv6(bytes(m[s:e])) else None, 256)
        time.sleep(0.01)
    caps["to_e"] = ring
    assert sorted(got) == payloads, (f"h2 got {len(got)} of {N}", {k: len(v) for k, v in caps.items()},
                                     {k: v for k, v in lab.api.ok("GET", "/v1/counters")["drops"].items() if v})
    return caps


def check_hops(caps: dict[str, list[bytes]], segs: list[str], hop_limit: int | None = None) -> None:
    """Byte-for-byte at every hop: r1's encapsulation, the proxy's decapsulation, the VNF's (unchanged)
    return, the proxy's restored header (= End applied), r1's forwarding, End.DX4's decapsulation."""
    assert len(caps["to_px"]) == len(caps["from_px"]) == len(caps["to_vnf"]) == len(caps["from_vnf"]) == N
    assert len(caps["to_t"]) == len(caps["to_h2"]) == N
    for i in range(N):
        enc = Ether(caps["to_px"][i])
        outer = enc[IPv6]
        s = outer[IPv6ExtHdrSegmentRouting]
        inner = bytes(s.payload)
        # Linux H.Encaps of an IPv4 packet it routes: the encapsulation happens on input (the lwtunnel's input
        # redirect), then the IPv6 packet is forwarded: source = tunsrc, DA = first segment, SRH = segments
        # reversed with SL = n - 1, traffic class and flow label 0, hop limit 64 - 1, and the inner TTL as
        # h1 sent it (r1 never IPv4-forwards it)
        assert (outer.src, outer.dst, outer.tc, outer.fl, outer.hlim) == (HEAD, segs[0], 0, 0, 63)
        assert IP(inner).ttl == SENT_TTL
        assert (s.addresses, s.segleft, s.lastentry, s.nh) == (list(reversed(segs)), len(segs) - 1, len(segs) - 1, 4)
        # to the VNF: exactly the inner IPv4 packet; back from the VNF: the same bytes
        to_vnf, from_vnf = Ether(caps["to_vnf"][i]), Ether(caps["from_vnf"][i])
        assert (to_vnf.src, to_vnf.dst, to_vnf.type) == (MAC["vnf0"], MAC["vnf"], 0x0800)
        assert bytes(to_vnf.payload) == inner and bytes(from_vnf.payload) == inner
        # out of the proxy: the received outer header with End applied, in front of the same inner packet
        back = Ether(caps["from_px"][i])
        assert (back.src, back.dst) == (MAC["sr0"], MAC["r1px"])
        want_px = after_end(outer)
        if hop_limit is not None:  # End.AS: the configured header, which here is End's but for the hop limit
            want_px.hlim = hop_limit
        assert bytes(back.payload) == bytes(want_px)
        # r1 forwarded it to t (hop limit - 1); h2 got the inner packet with its TTL one lower (End.DX4 forwards)
        at_t = Ether(caps["to_t"][i])[IPv6]
        want_t = IPv6(bytes(back.payload))
        want_t.hlim -= 1
        assert bytes(at_t) == bytes(want_t)
        at_h2 = Ether(caps["to_h2"][i])[IP]
        want = IP(inner)
        want.ttl -= 1
        del want.chksum
        assert bytes(at_h2) == bytes(IP(bytes(want)))
        assert bytes(at_h2[UDP].payload) in caps["h2"]


def test_linux_encap_end_as_vnf_end_dx4(lab):
    lab.encap([PX, TAIL])
    before = lab.seg6local_packets("t", TAIL)
    caps = run_traffic(lab, b"as")
    check_hops(caps, [PX, TAIL], hop_limit=63)
    assert lab.seg6local_packets("t", TAIL) - before == N  # the kernel decapsulated every one
    c = lab.api.ok("GET", "/v1/counters")
    row = c["srv6_sids"][PX]
    assert (row["behaviour"], row["rx_packets"], row["tx_packets"]) == ("end.as", N, N)
    assert {k: v for k, v in c["drops"].items() if k.startswith("srv6") and v} == {}


def test_linux_encap_end_ad_via_the_api_vnf_end_dx4(lab):
    # the End.AD SID goes in through the control API (batch: add it, remove the End.AS one)
    lab.api.ok("POST", "/v1/batch", {"srv6_put": [{"sid": PX_AD, "behaviour": "end.ad", "vnf": "fw"}],
                                     "srv6_delete": [PX]})
    assert lab.api.ok("GET", f"/v1/srv6/sids/{PX_AD}")["cache_key"] == "iface"
    status, _ = lab.api.call("GET", f"/v1/srv6/sids/{PX}")
    assert status == 404
    status, err = lab.api.call("PUT", "/v1/srv6/sids/fcbb::1", {"behaviour": "end.as", "vnf": "fw"})
    assert status == 400 and "segments: an end.as SID needs" in err["error"]  # type: ignore[index]
    try:
        lab.encap([PX_AD, TAIL])
        before = lab.seg6local_packets("t", TAIL)
        caps = run_traffic(lab, b"ad")
        check_hops(caps, [PX_AD, TAIL])
        assert lab.seg6local_packets("t", TAIL) - before == N
        row = lab.api.ok("GET", "/v1/counters")["srv6_sids"][PX_AD]
        assert (row["rx_packets"], row["tx_packets"], row["cache"]["hits"], row["cache"]["misses"]) == (N, N, N, 0)
        metrics = lab.api.ok("GET", "/metrics")
        assert f'srchain_proxy_sid_rx_packets_total{{behaviour="end.ad",sid="{PX_AD}",version="1",vnf="fw"}} {N}.0' \
            in metrics
    finally:
        lab.api.ok("POST", "/v1/batch", {"srv6_put": [yaml.safe_load(lab.config.read_text())["srv6_sids"][0]],
                                         "srv6_delete": [PX_AD]})


def test_linux_end_in_the_middle_then_proxy_then_end_dx4(lab):
    lab.api.ok("PUT", f"/v1/srv6/sids/{PX_AD}", {"behaviour": "end.ad", "vnf": "fw"})
    try:
        lab.encap([MID, PX_AD, TAIL])
        before_e, before_t = lab.seg6local_packets("e", MID), lab.seg6local_packets("t", TAIL)
        caps = run_traffic(lab, b"mid")
        assert len(caps["to_e"]) == len(caps["from_e"]) == N
        for i in range(N):
            sent = Ether(caps["to_e"][i])[IPv6]
            assert sent.dst == MID and sent[IPv6ExtHdrSegmentRouting].segleft == 2
            # Linux End: exactly RFC 8986's End on the header (the inner packet untouched)
            assert bytes(Ether(caps["from_e"][i])[IPv6]) == bytes(after_end(sent))
            # r1 forwarded e's packet to the proxy: one hop later, otherwise the same bytes
            at_px = Ether(caps["to_px"][i])[IPv6]
            want = after_end(sent)
            want.hlim -= 1
            assert bytes(at_px) == bytes(want)
        assert lab.seg6local_packets("e", MID) - before_e == N
        assert lab.seg6local_packets("t", TAIL) - before_t == N
        # from the proxy on, the same checks as without the middle node (hop limits one lower)
        for i in range(N):
            outer = Ether(caps["to_px"][i])[IPv6]
            # hop limit 64, less one each by r1, e and r1
            assert (outer.dst, outer.hlim, outer[IPv6ExtHdrSegmentRouting].segleft) == (PX_AD, 61, 1)
            assert bytes(Ether(caps["from_px"][i]).payload) == bytes(after_end(outer))
        row = lab.api.ok("GET", "/v1/counters")["srv6_sids"][PX_AD]
        assert row["rx_packets"] == row["tx_packets"] == N
    finally:
        lab.api.ok("DELETE", f"/v1/srv6/sids/{PX_AD}")


@pytest.mark.parametrize("loop", ["compiled", "python"])
def test_linux_encap_red_reduced_srh_through_end_as_and_end_ad(lab, loop):
    """r1 `encap seg6 mode encap.red` (RFC 8986 §5.2 H.Encaps.Red): the first SID only in the DA, the SRH
    holds the rest, Segments Left = Last Entry + 1 (legal: RFC 8754 §4.3.1.1 refuses SL > Last Entry + 1).
    The proxy's End.AS and End.AD take it on either data path (the daemon restarted with `fast_path`
    compiled or python): End.AD's header back is End applied (SL = Last Entry, DA = Segment List[Last
    Entry]), End.AS's the configured one; End.DX4 at t decapsulates every datagram."""
    if loop == "compiled" and compiled.load() is None:
        pytest.skip(f"compiled fast path not built: {compiled.unavailable()}")
    cfg = yaml.safe_load(lab.config.read_text())
    lab.daemon.stop()
    lab.config.write_text(yaml.safe_dump({**cfg, "fast_path": loop}))
    try:
        lab.daemon.start(wait_ready=("fw",))
        assert lab.api.ok("GET", "/v1/health")["sr_loop"] == loop  # type: ignore[index]
        for sid in (PX, PX_AD):  # End.AS as in the config file, then End.AD in its place through the API
            lab.api.ok("POST", "/v1/batch", {"srv6_put": [cfg["srv6_sids"][0]] if sid == PX else
                                             [{"sid": PX_AD, "behaviour": "end.ad", "vnf": "fw"}],
                                             "srv6_delete": [PX] if sid == PX_AD else []})
            lab.x("r1", "ip", "route", "replace", "10.2.0.0/24", "encap", "seg6", "mode", "encap.red", "segs",
                  f"{sid},{TAIL}", "dev", "r1-px")
            before_t = lab.seg6local_packets("t", TAIL)
            before = lab.api.ok("GET", "/v1/counters")
            caps = run_traffic(lab, b"red-" + sid[-2:].encode())
            assert len(caps["to_px"]) == len(caps["from_px"]) == len(caps["to_vnf"]) == len(caps["to_t"]) == N
            for i in range(N):
                outer = Ether(caps["to_px"][i])[IPv6]
                s = outer[IPv6ExtHdrSegmentRouting]
                inner = bytes(s.payload)
                # Linux's reduced SRH: Segment List = [TAIL] only, Last Entry 0, SL 1; the proxy SID in the DA
                assert (outer.src, outer.dst, outer.hlim) == (HEAD, sid, 63)
                assert (s.addresses, s.lastentry, s.segleft, s.nh) == ([TAIL], 0, 1, 4)
                assert bytes(Ether(caps["to_vnf"][i]).payload) == inner == bytes(Ether(caps["from_vnf"][i]).payload)
                back = Ether(caps["from_px"][i])
                if sid == PX_AD:  # End applied to the reduced header: SL 0, DA = Segment List[0], hop limit 62
                    want = after_end(outer)
                    assert (want.dst, want[IPv6ExtHdrSegmentRouting].segleft, want.hlim) == (TAIL, 0, 62)
                else:  # End.AS: the configured header (source HEAD, [PX, TAIL], SL 0, hop limit 63)
                    want = IPv6(bytes(IPv6(src=HEAD, dst=TAIL, hlim=63) / IPv6ExtHdrSegmentRouting(
                        addresses=[TAIL, PX], segleft=0, nh=4) / IP(inner)))
                assert bytes(back.payload) == bytes(want)
                at_t = IPv6(bytes(want))
                at_t.hlim -= 1
                assert bytes(Ether(caps["to_t"][i])[IPv6]) == bytes(at_t)
                at_h2 = IP(inner)
                at_h2.ttl -= 1
                del at_h2.chksum
                assert bytes(Ether(caps["to_h2"][i])[IP]) == bytes(IP(bytes(at_h2)))
            assert lab.seg6local_packets("t", TAIL) - before_t == N
            after = lab.api.ok("GET", "/v1/counters")
            row, was = after["srv6_sids"][sid], before["srv6_sids"].get(sid, {})  # type: ignore[index,union-attr]
            assert (row["rx_packets"] - was.get("rx_packets", 0), row["tx_packets"] - was.get("tx_packets", 0)) == (
                N, N)
            moved = {k: v - before["drops"][k] for k, v in after["drops"].items()  # type: ignore[index]
                     if v != before["drops"][k]}  # type: ignore[index]
            assert moved == {}, moved  # no srv6_bad_srh (or anything else) any more
    finally:  # the daemon keeps its SIDs in its state file across restarts: put the config's back
        lab.api.call("POST", "/v1/batch", {"srv6_put": cfg["srv6_sids"]})
        lab.api.call("DELETE", f"/v1/srv6/sids/{PX_AD}")
        lab.daemon.stop()
        lab.config.write_text(yaml.safe_dump(cfg))
        lab.daemon.start(wait_ready=("fw",))
