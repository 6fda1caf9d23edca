"""The shared record layouts: exact offsets, round trips and every RecordError reason."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from srchain_contracts.records import (
    MAGIC,
    U48_MAX,
    VERSION,
    DecisionRecord,
    FeatureReport,
    FeatureVector,
    FlowKey,
    Probe,
    RecordError,
    RecordErrorReason,
    RecordType,
    WindowLabel,
    delta48,
    flow_slot,
    peek_type,
    session_slot,
)

KEY, DIR = FlowKey.from_packet("10.0.0.2", 40000, "10.0.0.1", 443, 17)


def _report(**over: object) -> FeatureReport:
    fields: dict[str, object] = dict(
        key=KEY, direction=DIR, collision=False, switch_id=7, slot=65535, seq=9, pkt_count=32,
        byte_count=40000, size_sum=20000, iat_min=1000, iat_max=16_000_000, iat_sum=30_000_000,
        win_pkts=16, size_min=60, size_max=1400, first_seen_ns=1 << 40, last_seen_ns=(1 << 40) + 5,
    )
    fields.update(over)
    return FeatureReport(**fields)  # type: ignore[arg-type]


def test_canonical_key_is_the_same_for_both_directions() -> None:
    back, back_dir = FlowKey.from_packet("10.0.0.1", 443, "10.0.0.2", 40000, 17)
    assert back == KEY
    assert (DIR, back_dir) == (0, 1)
    assert str(KEY) == "10.0.0.1:443<->10.0.0.2:40000/17"
    # Same IP: the port decides the order.
    k, d = FlowKey.from_packet("10.0.0.1", 9, "10.0.0.1", 8, 6)
    assert (k.port_a, k.port_b, d) == (8, 9, 0)


def test_feature_report_byte_offsets() -> None:
    raw = _report(collision=True).pack()
    assert len(raw) == FeatureReport.SIZE == 72
    assert struct.unpack_from(">HBB", raw, 0) == (MAGIC, VERSION, RecordType.FEATURE_REPORT)
    assert raw[4] == 0x02  # flags: collision set, direction 0 (b -> a)
    assert raw[5] == 17 and struct.unpack_from(">H", raw, 6)[0] == 7
    assert raw[8:12] == bytes([10, 0, 0, 1]) and raw[12:16] == bytes([10, 0, 0, 2])
    assert struct.unpack_from(">HH", raw, 16) == (443, 40000)
    assert struct.unpack_from(">IIII", raw, 20) == (65535, 9, 32, 40000)
    assert struct.unpack_from(">IIII", raw, 36) == (20000, 1000, 16_000_000, 30_000_000)
    assert struct.unpack_from(">HHH", raw, 52) == (16, 60, 1400)
    assert int.from_bytes(raw[58:64], "big") == 1 << 40
    assert int.from_bytes(raw[64:70], "big") == (1 << 40) + 5
    assert raw[70:72] == b"\0\0"


def test_decision_record_byte_offsets_and_label_type() -> None:
    rec = DecisionRecord(KEY, class_id=1, seq=77, issuer_id=3, confidence=200, ttl_s=30, issued_ns=U48_MAX)
    raw = rec.pack()
    assert len(raw) == DecisionRecord.SIZE == 36
    assert raw[3] == RecordType.DECISION and raw[5] == 17
    assert struct.unpack_from(">BBHI", raw, 20) == (1, 200, 30, 77)
    assert raw[28:34] == b"\xff" * 6
    assert DecisionRecord.unpack(raw) == rec
    label = WindowLabel(KEY, class_id=2, seq=1)
    assert label.pack()[3] == RecordType.WINDOW_LABEL
    assert WindowLabel.unpack(label.pack()) == label


@pytest.mark.parametrize(
    ("mutate", "reason", "text"),
    [
        (lambda b: b[:71], RecordErrorReason.TRUNCATED, "truncated: 71 bytes, need 72 for FEATURE_REPORT"),
        (lambda b: b[:2], RecordErrorReason.TRUNCATED, "truncated: 2 bytes"),
        (lambda b: b"\x12\x34" + b[2:], RecordErrorReason.BAD_MAGIC, "bad magic: 0x1234, expected 0x5352"),
        (lambda b: b[:2] + b"\x02" + b[3:], RecordErrorReason.WRONG_VERSION, "wrong version: version 2"),
        (lambda b: b[:3] + b"\x02" + b[4:], RecordErrorReason.WRONG_TYPE, "type DECISION, expected FEAT"),
        (lambda b: b[:3] + b"\x63" + b[4:], RecordErrorReason.WRONG_TYPE, "type 99, expected FEATURE_REPORT"),
    ],
)
def test_feature_report_errors_name_the_reason(mutate, reason, text) -> None:  # type: ignore[no-untyped-def]
    raw = _report().pack()
    with pytest.raises(RecordError) as err:
        FeatureReport.unpack(mutate(raw))
    assert err.value.reason is reason
    assert text in str(err.value)


def test_trailing_bytes_are_ignored() -> None:
    rec = _report()
    assert FeatureReport.unpack(rec.pack() + b"\xaa" * 10) == rec


@pytest.mark.parametrize(
    ("over", "text"),
    [
        ({"size_min": 70000}, "size_min=70000 does not fit 16 bits"),
        ({"last_seen_ns": 1 << 48}, "last_seen_ns=281474976710656 does not fit 48 bits"),
        ({"seq": -1}, "seq=-1 does not fit 32 bits"),
        ({"key": FlowKey(2, 1, 0, 0, 6)}, "is not in canonical order"),
    ],
)
def test_pack_refuses_values_that_do_not_fit(over: dict[str, object], text: str) -> None:
    with pytest.raises(RecordError, match=text) as err:
        _report(**over).pack()
    assert err.value.reason is RecordErrorReason.BAD_VALUE


def test_peek_type_and_vector_errors() -> None:
    assert peek_type(_report().pack()) is RecordType.FEATURE_REPORT
    with pytest.raises(RecordError, match="unknown type 200"):
        peek_type(struct.pack(">HBB", MAGIC, VERSION, 200))
    vec = FeatureVector(KEY, 1, 2, (0.5, -1.25, 3.0))
    raw = vec.pack()
    assert FeatureVector.unpack(raw) == vec
    with pytest.raises(RecordError, match="truncated: 40 bytes, need 44 for 3 values"):
        FeatureVector.unpack(raw[:-4])
    bad_n = raw[:31] + b"\xff" + raw[32:]
    with pytest.raises(RecordError, match="255 values > 64"):
        FeatureVector.unpack(bad_n)


def test_probe_padding_and_wrapping_delay() -> None:
    probe = Probe(stream_id=5, seq=1 << 31, send_ns=U48_MAX - 10, class_id=1, direction=1)
    raw = probe.pack(1200)
    assert len(raw) == 1200 and raw[20:] == bytes(1180)
    assert len(probe.pack(4)) == Probe.SIZE
    assert Probe.unpack(raw) == probe
    assert delta48(5, U48_MAX - 10) == 16
    assert delta48(100, 150) == -50


def test_slots_are_stable_crc32_values() -> None:
    # Pinned values: the P4 module's CRC-32 hash must give the same indexes.
    assert KEY.key_bytes().hex() == "0a0000010a00000201bb9c4011"
    assert flow_slot(KEY, 1, 1 << 16) == flow_slot(KEY, 1, 1 << 16)
    assert flow_slot(KEY, 0, 1 << 16) != flow_slot(KEY, 1, 1 << 16)
    assert 0 <= session_slot(KEY, 1 << 16) < 1 << 16


u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u48 = st.integers(0, U48_MAX)
keys = st.builds(
    lambda a, b, pa, pb, pr: FlowKey.from_packet(a, pa, b, pb, pr)[0], u32, u32, u16, u16, st.integers(0, 255)
)


reports = st.builds(
    FeatureReport, keys, st.integers(0, 1), st.booleans(), u16, u32, u32, u32, u32, u32, u32, u32, u32,
    u16, u16, u16, u48, u48,
)


@given(reports)
def test_feature_report_round_trip(rec: FeatureReport) -> None:
    assert FeatureReport.unpack(rec.pack()) == rec


@given(keys, st.integers(0, 255), u32, u16, st.integers(0, 255), u16, u48)
def test_decision_round_trip(key, class_id, seq, issuer, conf, ttl, ts) -> None:  # type: ignore[no-untyped-def]
    rec = DecisionRecord(key, class_id, seq, issuer, conf, ttl, ts)
    assert DecisionRecord.unpack(rec.pack()) == rec


@given(st.binary(max_size=100))
def test_garbage_never_raises_anything_but_record_error(data: bytes) -> None:
    for kind in (FeatureReport, DecisionRecord, WindowLabel, FeatureVector, Probe):
        with contextlib.suppress(RecordError):
            kind.unpack(data)
