"""PACKET_FANOUT steering for several workers, with real frames on a veth in a namespace.

The kernel's own flow hash (PACKET_FANOUT_HASH) cannot spread SR-MPLS traffic: its dissector stops at the
label stack, so every flow gets the same worker. The proxy's classic-BPF program walks the stack to the
inner IPv4 header: flows spread over the workers, each flow stays on one worker, and the plain IPv4 packet
coming back from the VNF (same or reversed 5-tuple) reaches the same worker on the attachment's group.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest
from netlab import add_netns, add_veth, del_netns, packet_socket_in
from pxlib import SR_MAC, SW_MAC, VNF_IF_MAC, VNF_MAC, ip_frame, mpls_frame, udp4, udp6
from scapy.layers.inet import IP, TCP

from srchain_net import fanout

pytestmark = pytest.mark.netns

FLOWS = 64


@pytest.fixture
def veths():
    """Two veth pairs from spfa<pid> into spfb<pid>: SR side (sw0 -> sr0), VNF side (vnf0 -> att0)."""
    a, b = f"spfa{os.getpid()}", f"spfb{os.getpid()}"
    try:
        add_netns(a)
        add_netns(b)
        add_veth(a, "sw0", SW_MAC, b, "sr0", SR_MAC)
        add_veth(a, "vnf0", VNF_MAC, b, "att0", VNF_IF_MAC)
        yield a, b
    finally:
        del_netns(a)
        del_netns(b)


def group(ns: str, ifname: str, gid: int, members: int, kernel_hash: bool = False) -> list:
    socks = []
    for _ in range(members):
        s = packet_socket_in(ns, ifname)
        if kernel_hash:
            fanout.join_kernel_hash(s, gid)
        else:
            fanout.join(s, gid, msd=8)
        s.setblocking(False)
        socks.append(s)
    return socks


def who_got(socks: list, frames: list[bytes], key) -> dict:
    """key(frame) -> set of member indexes that received frames with that key."""
    got: dict = defaultdict(set)
    for idx, s in enumerate(socks):
        while True:
            try:
                data = s.recv(4096)
            except BlockingIOError:
                break
            got[key(data)].add(idx)
    return got


def send_all(sender, frames: list[bytes]) -> None:
    for f in frames:
        sender.send(f)


def inbound(i: int, depth: int = 2) -> bytes:
    labels = [16001, *range(16100, 16100 + depth - 1)]
    return mpls_frame(labels, udp4(src="10.80.0.5", dst="10.70.0.9", sport=1000 + i, dport=7000))


def sport_of_mpls(data: bytes) -> int:
    p = 14
    while not data[p + 2] & 1:
        p += 4
    return int.from_bytes(data[p + 4 + 20:p + 4 + 22], "big")


def test_kernel_hash_puts_every_sr_mpls_flow_on_one_worker_but_spreads_plain_ip(veths):
    a, b = veths
    sender = packet_socket_in(a, "sw0")
    socks = group(b, "sr0", 0x5A01, 2, kernel_hash=True)
    try:
        send_all(sender, [inbound(i) for i in range(FLOWS)])
        got = who_got(socks, [], sport_of_mpls)
        assert len(got) == FLOWS
        assert len(set().union(*got.values())) == 1, "the dissector stops at the label stack: one worker"
        plain = [ip_frame(udp4(sport=1000 + i), dst=SR_MAC) for i in range(FLOWS)]
        send_all(sender, plain)
        got = who_got(socks, [], lambda d: int.from_bytes(d[34:36], "big"))
        assert set().union(*got.values()) == {0, 1}  # the same hash spreads plain IPv4
    finally:
        for s in [sender, *socks]:
            s.close()


@pytest.mark.parametrize("depth", [1, 3, 8])
def test_steering_spreads_flows_and_returns_reach_the_worker_that_learned_them(veths, depth):
    a, b = veths
    sw, vnf = packet_socket_in(a, "sw0"), packet_socket_in(a, "vnf0")
    sr = group(b, "sr0", 0x5A02, 2)
    att = group(b, "att0", 0x5A03, 2)  # the workers join both groups in the same order
    try:
        send_all(sw, [inbound(i, depth) for i in range(FLOWS) for _ in range(3)])
        learned = who_got(sr, [], sport_of_mpls)
        assert len(learned) == FLOWS and all(len(w) == 1 for w in learned.values()), "a flow has one worker"
        per_worker = [sum(1 for w in learned.values() if w == {k}) for k in (0, 1)]
        assert min(per_worker) >= FLOWS // 4, per_worker  # spread, not all on one worker
        same = [ip_frame(udp4(src="10.80.0.5", dst="10.70.0.9", sport=1000 + i, dport=7000)) for i in range(FLOWS)]
        rev = [ip_frame(udp4(src="10.70.0.9", dst="10.80.0.5", sport=7000, dport=1000 + i)) for i in range(FLOWS)]
        send_all(vnf, same)
        back = who_got(att, [], lambda d: int.from_bytes(d[34:36], "big"))
        assert {s: w for s, w in back.items()} == learned
        send_all(vnf, rev)
        back = who_got(att, [], lambda d: int.from_bytes(d[36:38], "big"))
        assert {s: w for s, w in back.items()} == learned
    finally:
        for s in [sw, vnf, *sr, *att]:
            s.close()


def test_steering_rule_for_other_traffic(veths):
    """IPv6 and frames deeper than the MSD go to worker 0; TCP spreads like UDP; a flow keeps its worker."""
    a, b = veths
    sw = packet_socket_in(a, "sw0")
    sr = group(b, "sr0", 0x5A04, 2)
    try:
        send_all(sw, [mpls_frame([16001, 16002], udp6(sport=1000 + i)) for i in range(16)])
        send_all(sw, [inbound(i, depth=9) for i in range(16)])  # deeper than msd 8
        got = who_got(sr, [], lambda d: d[14:18])
        assert set().union(*got.values()) == {0}
        send_all(sw, [mpls_frame([16001], IP(src="10.1.0.1", dst="10.2.0.2") / TCP(sport=2000 + i))
                      for i in range(FLOWS)])
        got = who_got(sr, [], lambda d: int.from_bytes(d[18 + 20:18 + 22], "big"))
        assert len(got) == FLOWS and set().union(*got.values()) == {0, 1}
        assert all(len(w) == 1 for w in got.values())
    finally:
        for s in [sw, *sr]:
            s.close()


def test_program_fits_the_kernel_limit_and_join_errors_name_the_setting():
    assert len(fanout.steering_program(32)) <= fanout.SO_ATTACH_FILTER_MAX
    import socket
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # not bound: the kernel refuses fanout
    try:
        with pytest.raises(ValueError, match=r"^workers: cannot join fanout group 7: "):
            fanout.join(s, 7, 8)
    finally:
        s.close()
