"""Ethernet/IPv4/UDP frames with a chosen ECN codepoint, for the DualPI2 and link-path unit tests."""

from __future__ import annotations

import struct

from srchain_net.ecn import ipv4_checksum


def frame(ecn: int, size: int = 1000, seq: int = 0) -> bytes:
    """An untagged IPv4/UDP frame of `size` bytes with ECN = ecn and a correct header checksum."""
    payload = struct.pack("!I", seq).ljust(size - 14 - 20 - 8, b"\0")
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, ecn & 3, 20 + 8 + len(payload), 0, 0, 64, 17, 0,
                               bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])))
    ip[10:12] = ipv4_checksum(bytes(ip)).to_bytes(2, "big")
    udp = struct.pack("!HHHH", 5000, 5001, 8 + len(payload), 0)
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00" + bytes(ip) + udp + payload
