"""Helpers for the proxy tests: frame crafting (scapy) and the MACs used throughout."""

from __future__ import annotations

from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

SR_MAC = "02:00:00:00:0a:01"  # the proxy's SR interface
SW_MAC = "02:00:00:00:0a:02"  # the switch port (sr_next_hop_mac)
VNF_IF_MAC = "02:00:00:00:0b:01"  # the proxy's interface toward the VNF
VNF_MAC = "02:00:00:00:0b:02"  # the VNF


def mpls_frame(labels, inner, ttls=None, tcs=None, dst=SR_MAC, src=SW_MAC) -> bytes:
    """Ether/MPLS.../inner with S on the last label; ttls/tcs per label (default 64 / 0)."""
    ttls = ttls or [64] * len(labels)
    tcs = tcs or [0] * len(labels)
    pkt = Ether(dst=dst, src=src, type=0x8847)
    for i, label in enumerate(labels):
        pkt = pkt / MPLS(label=label, cos=tcs[i], s=int(i == len(labels) - 1), ttl=ttls[i])
    return bytes(pkt / inner)


def udp4(src="10.80.0.5", dst="10.70.0.9", sport=5555, dport=7000, payload=b"hello") -> IP:
    return IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload


def udp6(src="fd00:80::5", dst="fd00:70::9", sport=5555, dport=7000, payload=b"hello6") -> IPv6:
    return IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload


def ip_frame(inner, dst=VNF_IF_MAC, src=VNF_MAC) -> bytes:
    return bytes(Ether(dst=dst, src=src) / inner)


def labels_of(frame: bytes) -> list[tuple[int, int, int, int]]:
    """(label, tc, s, ttl) per label of an MPLS frame."""
    out = []
    layer = Ether(frame).payload
    while isinstance(layer, MPLS):
        out.append((layer.label, layer.cos, layer.s, layer.ttl))
        layer = layer.payload
    return out


def inner_bytes(frame: bytes) -> bytes:
    layer = Ether(frame).payload
    while isinstance(layer, MPLS):
        layer = layer.payload
    return bytes(layer)
