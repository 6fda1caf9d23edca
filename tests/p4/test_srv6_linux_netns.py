"""The srv6 profile against the Linux kernel's SRv6, the peer a user's network would have (issue 19): the same
packet through Linux (`ip route … encap seg6`, `seg6local`) in a network namespace and through the emulated
switch in-process, the two outputs compared byte for byte from the IPv6 (or, decapsulated, IPv4) header on.
H.Encaps and H.Encaps.Red against `encap seg6 mode encap|encap.red`, End and End.DX4 against `seg6local`."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrSegmentRouting
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from srchain_emu.interp.pipeline import Pipeline
from srchain_emu.netns import Netns

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not Path("/proc/sys/net/ipv6/conf/all/seg6_enabled").exists(),
                       reason="this kernel has no SRv6 (CONFIG_IPV6_SEG6_LWTUNNEL)"),
]
ROOT = Path(__file__).resolve().parents[2]
SRC = "fcbb:bb00:1::1"
END, DX4 = "fcbb:bb00:1:e000::", "fcbb:bb00:1:e002::"
NEXT, LAST = "fcbb:bb00:2:e000::", "fcbb:bb00:3:e002::"
NEIGH_MAC = "02:00:00:00:00:aa"  # the next hop behind s1, for both families
S0_MAC = "02:00:00:00:00:10"  # Linux's ingress interface: injected frames are addressed to it
ETH = 14


def v6(a: str) -> int:
    return int(ipaddress.IPv6Address(a))


@pytest.fixture(scope="module")
def switch() -> Pipeline:
    return Pipeline.from_file(ROOT / "p4" / "srchain_node.p4", defines={"SRCHAIN_SRV6": "1"})


@pytest.fixture(scope="module")
def linux() -> Iterator[Netns]:
    """One namespace, Linux routing between s0 (in) and s1 (out); h0 injects, h1 captures."""
    with Netns(2, tag="6") as ns:
        ns.exec("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
                "net.ipv6.conf.all.forwarding=1", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.seg6_enabled=1")
        for i in ("s0", "s1", "h0", "h1"):
            ns.exec("sysctl", "-q", "-w", f"net.ipv6.conf.{ns.name}{i}.disable_ipv6=0")
        ns.exec("sysctl", "-q", "-w", f"net.ipv6.conf.{ns.name}s0.seg6_enabled=1")
        s0, s1 = ns.switch_ifs
        ns.exec("ip", "link", "set", s0, "address", S0_MAC)
        ns.exec("ip", "addr", "add", "10.0.1.1/24", "dev", s0)
        ns.exec("ip", "addr", "add", "10.0.2.1/24", "dev", s1)
        ns.exec("ip", "-6", "addr", "add", f"{SRC}/64", "dev", s0, "nodad")
        ns.exec("ip", "-6", "addr", "add", "fcbb:bb00:9::1/64", "dev", s1, "nodad")
        ns.exec("ip", "-6", "neigh", "add", "fcbb:bb00:9::2", "lladdr", NEIGH_MAC, "dev", s1)
        ns.exec("ip", "neigh", "add", "10.0.2.10", "lladdr", NEIGH_MAC, "dev", s1)
        for prefix in ("fcbb:bb00:2::/48", "fcbb:bb00:3::/48"):
            ns.exec("ip", "-6", "route", "add", prefix, "via", "fcbb:bb00:9::2", "dev", s1)
        ns.exec("ip", "sr", "tunsrc", "set", SRC)
        ns.exec("ip", "-6", "route", "add", f"{END}/128", "encap", "seg6local", "action", "End", "dev", s0)
        ns.exec("ip", "-6", "route", "add", f"{DX4}/128", "encap", "seg6local", "action", "End.DX4", "nh4",
                "10.0.2.10", "dev", s1)
        yield ns


def capture(ns: Netns, send: Callable[[], None], want: int) -> bytes:
    """The first frame on h1 with ether type `want` after calling send() (inside the namespace)."""

    def inside() -> bytes:
        cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(want))
        cap.bind((f"{ns.name}h1", 0))
        cap.settimeout(3)
        send()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            frame = cap.recv(4096)
            if (want == 0x86DD and frame[ETH + 6] == 43) or (want == 0x0800 and frame[ETH + 9] == 17):
                return frame
        raise AssertionError("nothing captured")

    return ns.run_inside(inside)


def inject(ns: Netns, frame: bytes) -> Callable[[], None]:
    def send() -> None:
        out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        out.bind((f"{ns.name}h0", 0))
        out.send(frame)
    return send


@pytest.mark.parametrize(("mode", "action"), [("encap", "encaps_2"), ("encap.red", "encaps_red_2")])
def test_h_encaps_equals_linux_seg6_encap(linux: Netns, switch: Pipeline, mode: str, action: str) -> None:
    linux.exec("ip", "route", "replace", "10.0.2.0/24", "encap", "seg6", "mode", mode, "segs", f"{NEXT},{LAST}",
               "dev", linux.switch_ifs[1])

    def send() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x28)
        s.bind(("10.0.1.1", 4000))
        s.sendto(b"x" * 32, ("10.0.2.10", 6000))

    try:
        theirs = capture(linux, send, 0x86DD)
    finally:  # back to the connected route (End.DX4's inner packet goes there)
        linux.exec("ip", "route", "replace", "10.0.2.0/24", "dev", linux.switch_ifs[1], "src", "10.0.2.1")
    srh_len = 8 + 16 * (2 if mode == "encap" else 1)
    inner = theirs[ETH + 40 + srh_len :]
    switch.reset_state()
    switch.table("classifier.rules").insert([(0, 0)] * 7, f"SwitchIngress.classifier.{action}",
                                            {"hop_limit": 64, "src_addr": v6(SRC), "sid_0": v6(NEXT),
                                             "sid_1": v6(LAST)}, 10)
    switch.table("srv6.sid_forward").insert([(v6("fcbb:bb00:2::"), 48)], "SwitchIngress.srv6.forward",
                                            {"port": 2, "dst_mac": 1})
    (ours,) = switch.process(1, bytes(Ether(type=0x0800) / Raw(inner)))
    # the switch forwards what it encapsulated: one hop, Hop Limit 64 - 1; Linux's host sent it with 64
    want = bytearray(theirs[ETH:])
    want[7] -= 1
    assert ours.frame[ETH:] == bytes(want), (ours.frame[ETH:].hex(), theirs[ETH:].hex())
    srh = IPv6(theirs[ETH:])[IPv6ExtHdrSegmentRouting]
    assert (srh.segleft, srh.lastentry) == ((1, 1) if mode == "encap" else (1, 0))


def sr_frame(ns: Netns, da: str, segs: list[str], sl: int) -> bytes:
    inner = IP(src="10.0.1.10", dst="10.0.2.10", ttl=30) / UDP(sport=4000, dport=6000) / Raw(b"y" * 24)
    srh = IPv6ExtHdrSegmentRouting(addresses=segs, segleft=sl, lastentry=len(segs) - 1, nh=4)
    return bytes(Ether(dst=S0_MAC, src="02:00:00:00:00:02") / IPv6(src=SRC, dst=da, hlim=20, nh=43) / srh
                 / inner)


def test_end_equals_linux_seg6local_end(linux: Netns, switch: Pipeline) -> None:
    frame = sr_frame(linux, END, [LAST, NEXT, END], sl=2)
    theirs = capture(linux, inject(linux, frame), 0x86DD)
    switch.reset_state()
    switch.table("srv6.local_sid").insert([v6(END)], "SwitchIngress.srv6.end", {})
    switch.table("srv6.sid_forward").insert([(v6("fcbb:bb00:2::"), 48)], "SwitchIngress.srv6.forward",
                                            {"port": 2, "dst_mac": 1})
    (ours,) = switch.process(1, frame)
    assert ours.frame[ETH:] == theirs[ETH:], (ours.frame[ETH:].hex(), theirs[ETH:].hex())
    assert IPv6(theirs[ETH:]).hlim == 19 and IPv6(theirs[ETH:]).dst == NEXT


def test_end_dx4_equals_linux_seg6local_end_dx4(linux: Netns, switch: Pipeline) -> None:
    frame = sr_frame(linux, DX4, [DX4, END], sl=0)
    theirs = capture(linux, inject(linux, frame), 0x0800)
    switch.reset_state()
    switch.table("srv6.local_sid").insert([v6(DX4)], "SwitchIngress.srv6.end_dx4", {"port": 2, "dst_mac": 1})
    (ours,) = switch.process(1, frame)
    assert ours.frame[ETH:] == theirs[ETH:], (ours.frame[ETH:].hex(), theirs[ETH:].hex())
    assert IP(theirs[ETH:]).ttl == 29  # both decrement the inner TTL (Linux: ip_forward after the decapsulation)
