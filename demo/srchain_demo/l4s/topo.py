"""A line of network namespaces for link and L4S experiments:

    <p>-snd  eth0 ─ in0  <p>-m1  out0 ─ in0  <p>-m2  out0 ─ … ─ eth0  <p>-rcv
    10.18.0.1                                                        10.18.0.2

The sender and receiver share one IPv4 subnet with static neighbour entries (no ARP crosses the middle);
the middle namespaces hold whatever forwards between their in0 and out0 (a link emulator, a bridge with a
shaping qdisc, a switch). IPv6 is off everywhere and checksum/segmentation offloads are off on every
veth, so each frame on the wire is one real, complete packet (a user-space forwarder copies what it
reads; an offloaded checksum would arrive wrong, a TSO super-frame would not fit a ring slot).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

SND_IP, RCV_IP = "10.18.0.1", "10.18.0.2"
SND_MAC, RCV_MAC = "02:18:00:00:00:01", "02:18:00:00:00:02"


def sh(*args: str) -> None:
    """A set-up command; failure raises with its output."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()}")


@dataclass(frozen=True)
class Line:
    snd: str
    rcv: str
    middle: tuple[str, ...]


def _new_ns(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    sh("ip", "netns", "add", name)
    sh("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
       "net.ipv6.conf.default.disable_ipv6=1")
    sh("ip", "-n", name, "link", "set", "lo", "up")


def _plain(ns: str, dev: str) -> None:
    """No offloads: every frame a whole packet with its checksums filled in."""
    sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off")


def _build(prefix: str, n_middle: int) -> Line:
    line = Line(f"{prefix}-snd", f"{prefix}-rcv", tuple(f"{prefix}-m{i + 1}" for i in range(n_middle)))
    for ns in (line.snd, *line.middle, line.rcv):
        _new_ns(ns)
    hops = [(line.snd, "eth0"), *[(m, d) for m in line.middle for d in ("in0", "out0")], (line.rcv, "eth0")]
    for (a_ns, a_dev), (b_ns, b_dev) in zip(hops[::2], hops[1::2], strict=True):
        sh("ip", "-n", a_ns, "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b_ns)
    for ns, dev in hops:
        _plain(ns, dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
    for ns, ip, mac, peer_ip, peer_mac in ((line.snd, SND_IP, SND_MAC, RCV_IP, RCV_MAC),
                                           (line.rcv, RCV_IP, RCV_MAC, SND_IP, SND_MAC)):
        sh("ip", "-n", ns, "link", "set", "eth0", "address", mac)
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", ns, "neigh", "replace", peer_ip, "lladdr", peer_mac, "dev", "eth0", "nud", "permanent")
    return line


@contextlib.contextmanager
def ns_line(prefix: str, n_middle: int) -> Iterator[Line]:
    """The namespaces above (leftovers of the same names removed first), deleted on exit."""
    names = [f"{prefix}-snd", f"{prefix}-rcv", *(f"{prefix}-m{i + 1}" for i in range(n_middle))]
    try:
        yield _build(prefix, n_middle)
    finally:
        for ns in names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
