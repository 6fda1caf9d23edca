"""The ECN field of an IPv4 packet inside an Ethernet frame: read it, set CE (RFC 3168 §5, §6.1.1).

Only untagged IPv4 is understood; for anything else ecn_field() says None and set_ce() cannot mark, so
an AQM treats such frames as Not-ECT (it drops instead of marking).
"""

from __future__ import annotations

NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3
_ETH_HLEN = 14
_TOS = _ETH_HLEN + 1
_CSUM = _ETH_HLEN + 10


def ecn_field(frame: bytes) -> int | None:
    """The two ECN bits of an untagged IPv4 frame, None for any other frame."""
    if len(frame) < _ETH_HLEN + 20 or frame[12:14] != b"\x08\x00" or frame[_ETH_HLEN] >> 4 != 4:
        return None
    return frame[_TOS] & 3


def ipv4_checksum(header: bytes) -> int:
    """RFC 1071 one's-complement sum of a header whose checksum field is zero."""
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header) - 1, 2))
    if len(header) % 2:
        total += header[-1] << 8
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def set_ce(frame: bytes) -> bytes | None:
    """The frame with ECN = CE and the header checksum recomputed; None when it is not ECN-capable IPv4
    (Not-ECT must be dropped, never marked: RFC 3168 §6.1.1)."""
    ecn = ecn_field(frame)
    if ecn is None or ecn == NOT_ECT:
        return None
    if ecn == CE:
        return frame
    ihl = (frame[_ETH_HLEN] & 0x0F) * 4
    out = bytearray(frame)
    out[_TOS] |= CE
    out[_CSUM:_CSUM + 2] = b"\x00\x00"
    out[_CSUM:_CSUM + 2] = ipv4_checksum(bytes(out[_ETH_HLEN:_ETH_HLEN + ihl])).to_bytes(2, "big")
    return bytes(out)
