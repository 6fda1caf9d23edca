"""MPLS label-stack codec (RFC 3032): 32-bit entries of label(20) | TC(3) | S(1) | TTL(8)."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ENTRY = struct.Struct("!I")
ETH_HDR = 14
ETHERTYPE_MPLS = 0x8847
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
MAX_LABEL = (1 << 20) - 1
FIRST_UNRESERVED = 16


@dataclass(frozen=True, slots=True)
class LabelEntry:
    label: int
    tc: int = 0
    bos: bool = False
    ttl: int = 64

    def pack(self) -> int:
        return pack_entry(self.label, self.tc, self.bos, self.ttl)


def pack_entry(label: int, tc: int, bos: bool, ttl: int) -> int:
    if not 0 <= label <= MAX_LABEL:
        raise ValueError(f"label {label} outside 0..{MAX_LABEL}")
    if not 0 <= tc <= 7:
        raise ValueError(f"tc {tc} outside 0..7")
    if not 0 <= ttl <= 255:
        raise ValueError(f"ttl {ttl} outside 0..255")
    return (label << 12) | (tc << 9) | (int(bos) << 8) | ttl


def unpack_entry(word: int) -> LabelEntry:
    return LabelEntry(word >> 12, (word >> 9) & 7, bool(word & 0x100), word & 0xFF)


def encode_stack(labels: Sequence[int], ttl: int = 64, tc: int = 0) -> bytes:
    """Encode labels (top first) with one TTL/TC; the S bit goes on the last label only."""
    last = len(labels) - 1
    return b"".join(ENTRY.pack(pack_entry(lab, tc, i == last, ttl)) for i, lab in enumerate(labels))


def encode_entries(entries: Iterable[LabelEntry]) -> bytes:
    return b"".join(ENTRY.pack(e.pack()) for e in entries)


def decode_stack(data: bytes | memoryview, offset: int = 0, msd: int = 8) -> tuple[list[LabelEntry], int]:
    """Decode entries from offset up to and including the bottom of stack.

    Returns (entries, offset just after the stack). Raises ValueError naming the problem when the
    data ends before a bottom-of-stack entry or the stack is deeper than msd.
    """
    entries: list[LabelEntry] = []
    pos = offset
    while True:
        if len(entries) >= msd:
            raise ValueError(f"label stack deeper than msd {msd}")
        if pos + 4 > len(data):
            raise ValueError("label stack truncated before bottom of stack")
        entry = unpack_entry(ENTRY.unpack_from(data, pos)[0])
        entries.append(entry)
        pos += 4
        if entry.bos:
            return entries, pos
