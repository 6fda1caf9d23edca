"""The project's binary records: the one definition shared by the P4 code, the emulator tests and the VNFs.

Layouts, units and version rules are documented byte by byte in `docs/records.md`; keep the two in step.

Switch-facing records (feature report, decision record) are big-endian, fixed size and made only of
8/16/32/48-bit integers so a Tofino parser/deparser can produce or consume them. Every record starts with
the same 4 bytes: magic (16 bit), version (8 bit), record type (8 bit). The probe payload carried by the
traffic generator follows the same rules. The feature vector and window label records travel only between
VNFs (never parsed by P4) and use float32 for the vector values.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # typing.Self is 3.11+; the charms run this module on Ubuntu 22.04's Python 3.10
    from typing import Self  # novermin: annotations only, never imported at run time

MAGIC = 0x5352  # "SR"
VERSION = 1

FEATURE_REPORT_PORT = 47001  # UDP destination port of feature reports (switch -> formatter)
DECISION_PORT = 47002  # UDP destination port of decision records (aggregator -> priority module)
FEATURE_VECTOR_PORT = 47003  # formatter -> classifier
WINDOW_LABEL_PORT = 47004  # classifier -> aggregator
PROBE_PORT = 47010  # default destination port of traffic-generator probes

U16_MAX = (1 << 16) - 1
U32_MAX = (1 << 32) - 1
U48_MAX = (1 << 48) - 1

PROTO_TCP = 6
PROTO_UDP = 17


class RecordType(enum.IntEnum):
    FEATURE_REPORT = 1
    DECISION = 2
    PROBE = 3
    FEATURE_VECTOR = 4
    WINDOW_LABEL = 5


class TrafficClass(enum.IntEnum):
    """Class ids carried by window labels and decision records (0 = best effort / unknown)."""

    BEST_EFFORT = 0
    CLOUD_GAMING = 1
    VIDEO = 2
    WEB = 3
    VOIP = 4
    BULK = 5


class RecordErrorReason(str, enum.Enum):  # noqa: UP042 -- enum.StrEnum is 3.11+, see the docstring
    """Why a datagram is refused. A `str` enum whose str() is its value, as `enum.StrEnum` (3.11+) would be:
    this module also runs in the charms on Ubuntu 22.04's Python 3.10 (docs/osm.md)."""

    TRUNCATED = "truncated"
    BAD_MAGIC = "bad magic"
    WRONG_VERSION = "wrong version"
    WRONG_TYPE = "wrong type"
    BAD_VALUE = "bad value"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class RecordError(ValueError):
    """A datagram that is not a valid record of the expected kind; `reason` says why."""

    def __init__(self, reason: RecordErrorReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason


# Common 4-byte header: magic, version, type.
_HEADER = struct.Struct(">HBB")


def check_header(data: bytes | memoryview, expected: RecordType, size: int) -> None:
    """Raise RecordError unless `data` starts a record of type `expected` that is at least `size` long."""
    if len(data) < _HEADER.size:
        raise RecordError(RecordErrorReason.TRUNCATED, f"{len(data)} bytes, need {size} for {expected.name}")
    magic, version, rtype = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise RecordError(RecordErrorReason.BAD_MAGIC, f"0x{magic:04x}, expected 0x{MAGIC:04x}")
    if version != VERSION:
        raise RecordError(RecordErrorReason.WRONG_VERSION, f"version {version}, this code speaks {VERSION}")
    if rtype != expected:
        name = RecordType(rtype).name if rtype in RecordType._value2member_map_ else str(rtype)
        raise RecordError(RecordErrorReason.WRONG_TYPE, f"type {name}, expected {expected.name}")
    if len(data) < size:
        raise RecordError(RecordErrorReason.TRUNCATED, f"{len(data)} bytes, need {size} for {expected.name}")


def peek_type(data: bytes | memoryview) -> RecordType:
    """The record type of a datagram with a valid magic and version (RecordError otherwise)."""
    if len(data) < _HEADER.size:
        raise RecordError(RecordErrorReason.TRUNCATED, f"{len(data)} bytes, need {_HEADER.size} for a header")
    magic, version, rtype = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise RecordError(RecordErrorReason.BAD_MAGIC, f"0x{magic:04x}, expected 0x{MAGIC:04x}")
    if version != VERSION:
        raise RecordError(RecordErrorReason.WRONG_VERSION, f"version {version}, this code speaks {VERSION}")
    if rtype not in RecordType._value2member_map_:
        raise RecordError(RecordErrorReason.WRONG_TYPE, f"unknown type {rtype}")
    return RecordType(rtype)


def _check_range(name: str, value: int, bits: int) -> None:
    if not 0 <= value < (1 << bits):
        raise RecordError(RecordErrorReason.BAD_VALUE, f"{name}={value} does not fit {bits} bits")


def ip_to_int(ip: str | int) -> int:
    return ip if isinstance(ip, int) else int(ipaddress.IPv4Address(ip))


def int_to_ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


# ---------------------------------------------------------------------------------------------------------
# Flow key
# ---------------------------------------------------------------------------------------------------------

_KEY = struct.Struct(">IIHHB")  # ip_a, ip_b, port_a, port_b, proto: the bytes hashed for register indexes


@dataclass(frozen=True, slots=True)
class FlowKey:
    """Canonical 5-tuple: endpoint a is the lower (ip, port) pair, so both directions share one key."""

    ip_a: int
    ip_b: int
    port_a: int
    port_b: int
    proto: int

    @classmethod
    def from_packet(
        cls, src_ip: str | int, src_port: int, dst_ip: str | int, dst_port: int, proto: int
    ) -> tuple[FlowKey, int]:
        """The canonical key of a packet and its direction bit (1 = the packet went a -> b)."""
        s, d = ip_to_int(src_ip), ip_to_int(dst_ip)
        if (s, src_port) <= (d, dst_port):
            return cls(s, d, src_port, dst_port, proto), 1
        return cls(d, s, dst_port, src_port, proto), 0

    def key_bytes(self) -> bytes:
        return _KEY.pack(self.ip_a, self.ip_b, self.port_a, self.port_b, self.proto)

    def validate(self) -> None:
        _check_range("ip_a", self.ip_a, 32)
        _check_range("ip_b", self.ip_b, 32)
        _check_range("port_a", self.port_a, 16)
        _check_range("port_b", self.port_b, 16)
        _check_range("proto", self.proto, 8)
        if (self.ip_a, self.port_a) > (self.ip_b, self.port_b):
            raise RecordError(RecordErrorReason.BAD_VALUE, f"flow key {self} is not in canonical order")

    def __str__(self) -> str:
        return (
            f"{int_to_ip(self.ip_a)}:{self.port_a}<->{int_to_ip(self.ip_b)}:{self.port_b}/{self.proto}"
        )


# Register sizes of the switch's modules (p4/include/defines.p4 FLOW_SLOTS / SESSION_SLOTS; tests/p4 checks them
# against the compiled program). Flow slots are 2^15 so that flow-features fits a Tofino 1's 12 stages.
FLOW_SLOTS = 1 << 15
SESSION_SLOTS = 1 << 16


def flow_slot(key: FlowKey, direction: int, slots: int) -> int:
    """Register index of one direction of a flow: CRC-32 (IEEE) over key bytes + direction byte, mod slots."""
    return zlib.crc32(key.key_bytes() + bytes((direction & 1,))) % slots


def session_slot(key: FlowKey, slots: int) -> int:
    """Register index of a session (both directions), used by the priority module: CRC-32 of the key bytes."""
    return zlib.crc32(key.key_bytes()) % slots


def _split48(value: int) -> tuple[int, int]:
    return value >> 32, value & U32_MAX


# ---------------------------------------------------------------------------------------------------------
# Feature report (switch flow-features module -> formatter)
# ---------------------------------------------------------------------------------------------------------

FLAG_DIRECTION = 0x01  # stats describe the a -> b direction of the flow
FLAG_COLLISION = 0x02  # the slot was taken over from another flow since the last report (stats restarted)

IAT_NONE = U32_MAX  # iat_min value of a window that holds no inter-arrival


@dataclass(frozen=True, slots=True)
class FeatureReport:
    """Per-flow-direction statistics, emitted by the switch every N packets of that flow direction.

    pkt_count/byte_count are cumulative over the flow's life in the slot (wrap mod 2^32); the size_* and
    iat_* fields cover the window of `win_pkts` packets since the previous report. Sizes are IPv4 total
    length in bytes; inter-arrival times are ns, each clamped to 2^32-1, and the sum saturates at 2^32-1.
    Timestamps are the switch's 48-bit ns ingress timestamps (wrap mod 2^48).
    """

    key: FlowKey
    direction: int
    collision: bool
    switch_id: int
    slot: int
    seq: int
    pkt_count: int
    byte_count: int
    size_sum: int
    iat_min: int
    iat_max: int
    iat_sum: int
    win_pkts: int
    size_min: int
    size_max: int
    first_seen_ns: int
    last_seen_ns: int

    RECORD_TYPE: ClassVar[RecordType] = RecordType.FEATURE_REPORT
    STRUCT: ClassVar[struct.Struct] = struct.Struct(">HBBBBHIIHHIIIIIIIIHHHHIHIH")
    SIZE: ClassVar[int] = 72

    def pack(self) -> bytes:
        self.key.validate()
        for name, bits in _REPORT_WIDTHS:
            _check_range(name, int(getattr(self, name)), bits)
        flags = (FLAG_DIRECTION if self.direction else 0) | (FLAG_COLLISION if self.collision else 0)
        k = self.key
        return self.STRUCT.pack(
            MAGIC, VERSION, self.RECORD_TYPE, flags, k.proto, self.switch_id,
            k.ip_a, k.ip_b, k.port_a, k.port_b,
            self.slot, self.seq, self.pkt_count, self.byte_count, self.size_sum,
            self.iat_min, self.iat_max, self.iat_sum,
            self.win_pkts, self.size_min, self.size_max,
            *_split48(self.first_seen_ns), *_split48(self.last_seen_ns), 0,
        )

    @classmethod
    def unpack(cls, data: bytes | memoryview) -> Self:
        check_header(data, cls.RECORD_TYPE, cls.SIZE)
        (
            _m, _v, _t, flags, proto, switch_id, ip_a, ip_b, port_a, port_b,
            slot, seq, pkt_count, byte_count, size_sum, iat_min, iat_max, iat_sum,
            win_pkts, size_min, size_max, first_hi, first_lo, last_hi, last_lo, _reserved,
        ) = cls.STRUCT.unpack_from(data)
        return cls(
            FlowKey(ip_a, ip_b, port_a, port_b, proto), flags & FLAG_DIRECTION, bool(flags & FLAG_COLLISION),
            switch_id, slot, seq, pkt_count, byte_count, size_sum, iat_min, iat_max, iat_sum,
            win_pkts, size_min, size_max, (first_hi << 32) | first_lo, (last_hi << 32) | last_lo,
        )


_REPORT_WIDTHS = (
    ("direction", 1), ("switch_id", 16), ("slot", 32), ("seq", 32), ("pkt_count", 32), ("byte_count", 32),
    ("size_sum", 32), ("iat_min", 32), ("iat_max", 32), ("iat_sum", 32), ("win_pkts", 16),
    ("size_min", 16), ("size_max", 16), ("first_seen_ns", 48), ("last_seen_ns", 48),
)
assert FeatureReport.STRUCT.size == FeatureReport.SIZE


# ---------------------------------------------------------------------------------------------------------
# Decision record (aggregator -> switch priority module) and window label (classifier -> aggregator)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """The class of a session (both directions), written by the priority module into its register.

    `ttl_s` is how long the switch may keep the class without a refresh (0 = until overwritten);
    `confidence` is 0..255 (255 = certain); `issued_ns` is the issuer's clock, 48-bit ns, for latency.
    """

    key: FlowKey
    class_id: int
    seq: int
    issuer_id: int = 0
    confidence: int = 255
    ttl_s: int = 0
    issued_ns: int = 0

    RECORD_TYPE: ClassVar[RecordType] = RecordType.DECISION
    STRUCT: ClassVar[struct.Struct] = struct.Struct(">HBBBBHIIHHBBHIHIH")
    SIZE: ClassVar[int] = 36

    def pack(self) -> bytes:
        self.key.validate()
        for name, bits in (("class_id", 8), ("seq", 32), ("issuer_id", 16), ("confidence", 8),
                           ("ttl_s", 16), ("issued_ns", 48)):
            _check_range(name, int(getattr(self, name)), bits)
        k = self.key
        return self.STRUCT.pack(
            MAGIC, VERSION, self.RECORD_TYPE, 0, k.proto, self.issuer_id,
            k.ip_a, k.ip_b, k.port_a, k.port_b,
            self.class_id, self.confidence, self.ttl_s, self.seq, *_split48(self.issued_ns), 0,
        )

    @classmethod
    def unpack(cls, data: bytes | memoryview) -> Self:
        check_header(data, cls.RECORD_TYPE, cls.SIZE)
        (
            _m, _v, _t, _flags, proto, issuer_id, ip_a, ip_b, port_a, port_b,
            class_id, confidence, ttl_s, seq, ts_hi, ts_lo, _reserved,
        ) = cls.STRUCT.unpack_from(data)
        return cls(
            FlowKey(ip_a, ip_b, port_a, port_b, proto), class_id, seq, issuer_id, confidence, ttl_s,
            (ts_hi << 32) | ts_lo,
        )


assert DecisionRecord.STRUCT.size == DecisionRecord.SIZE


@dataclass(frozen=True, slots=True)
class WindowLabel(DecisionRecord):
    """A classifier's label for one window of a session: same layout as a decision record, type 5."""

    RECORD_TYPE: ClassVar[RecordType] = RecordType.WINDOW_LABEL


# ---------------------------------------------------------------------------------------------------------
# Feature vector (formatter -> classifier; VNF-only, float32 values)
# ---------------------------------------------------------------------------------------------------------

_VECTOR_HEAD = struct.Struct(">HBBBBHIIHHIHIH")  # ... seq, last_seen hi/lo, n_values
MAX_VECTOR_VALUES = 64


@dataclass(frozen=True, slots=True)
class FeatureVector:
    """Normalised features of one session window; `last_seen_ns` is the switch time of the newest report."""

    key: FlowKey
    seq: int
    last_seen_ns: int
    values: tuple[float, ...]
    source_id: int = 0

    RECORD_TYPE: ClassVar[RecordType] = RecordType.FEATURE_VECTOR
    HEAD_SIZE: ClassVar[int] = 32

    def pack(self) -> bytes:
        self.key.validate()
        _check_range("seq", self.seq, 32)
        _check_range("last_seen_ns", self.last_seen_ns, 48)
        if len(self.values) > MAX_VECTOR_VALUES:
            raise RecordError(RecordErrorReason.BAD_VALUE, f"{len(self.values)} values > {MAX_VECTOR_VALUES}")
        k = self.key
        head = _VECTOR_HEAD.pack(
            MAGIC, VERSION, self.RECORD_TYPE, 0, k.proto, self.source_id, k.ip_a, k.ip_b, k.port_a, k.port_b,
            self.seq, *_split48(self.last_seen_ns), len(self.values),
        )
        return head + struct.pack(f">{len(self.values)}f", *self.values)

    @classmethod
    def unpack(cls, data: bytes | memoryview) -> Self:
        check_header(data, cls.RECORD_TYPE, cls.HEAD_SIZE)
        (
            _m, _v, _t, _flags, proto, source_id, ip_a, ip_b, port_a, port_b, seq, ts_hi, ts_lo, n,
        ) = _VECTOR_HEAD.unpack_from(data)
        if n > MAX_VECTOR_VALUES:
            raise RecordError(RecordErrorReason.BAD_VALUE, f"{n} values > {MAX_VECTOR_VALUES}")
        need = cls.HEAD_SIZE + 4 * n
        if len(data) < need:
            raise RecordError(RecordErrorReason.TRUNCATED, f"{len(data)} bytes, need {need} for {n} values")
        values = struct.unpack_from(f">{n}f", data, cls.HEAD_SIZE)
        return cls(FlowKey(ip_a, ip_b, port_a, port_b, proto), seq, (ts_hi << 32) | ts_lo, values, source_id)


assert _VECTOR_HEAD.size == FeatureVector.HEAD_SIZE


# ---------------------------------------------------------------------------------------------------------
# Probe payload (traffic generator): sequence number + send timestamp, padded to the packet size
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """Head of every generated packet's UDP payload. `send_ns` is CLOCK_REALTIME ns mod 2^48."""

    stream_id: int
    seq: int
    send_ns: int
    class_id: int = 0
    direction: int = 0

    RECORD_TYPE: ClassVar[RecordType] = RecordType.PROBE
    STRUCT: ClassVar[struct.Struct] = struct.Struct(">HBBIIHIBB")
    SIZE: ClassVar[int] = 20

    def pack(self, total_len: int = 0) -> bytes:
        """The payload, zero-padded to `total_len` bytes (never shorter than the probe itself)."""
        widths = (("stream_id", 32), ("seq", 32), ("send_ns", 48), ("class_id", 8), ("direction", 8))
        for name, bits in widths:
            _check_range(name, int(getattr(self, name)), bits)
        head = self.STRUCT.pack(
            MAGIC, VERSION, self.RECORD_TYPE, self.stream_id, self.seq, *_split48(self.send_ns),
            self.class_id, self.direction,
        )
        return head + bytes(max(0, total_len - self.SIZE))

    @classmethod
    def unpack(cls, data: bytes | memoryview) -> Self:
        check_header(data, cls.RECORD_TYPE, cls.SIZE)
        _m, _v, _t, stream_id, seq, hi, lo, class_id, direction = cls.STRUCT.unpack_from(data)
        return cls(stream_id, seq, (hi << 32) | lo, class_id, direction)


assert Probe.STRUCT.size == Probe.SIZE


def delta48(later: int, earlier: int) -> int:
    """Difference of two 48-bit wrapping timestamps (valid while the true gap is < 2^47 ns, ~39 hours)."""
    d = (later - earlier) & U48_MAX
    return d - (1 << 48) if d >= (1 << 47) else d
