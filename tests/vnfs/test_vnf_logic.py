"""Unit tests of each VNF's logic: the P4 feature model, profiles, vectors, model, hysteresis, flood detection."""

from __future__ import annotations

import ipaddress
import itertools
import statistics

import pytest

from srchain_contracts.records import IAT_NONE, U32_MAX, FeatureReport, FlowKey, TrafficClass, ip_to_int
from srchain_vnfs.aggregator import Hysteresis
from srchain_vnfs.features import FlowFeatureTable, Placement, session_reports
from srchain_vnfs.mitigation import FloodDetector, Verdict, frame_addresses
from srchain_vnfs.model import ModelError, load_forest, parse_forest
from srchain_vnfs.profiles import NS, generate
from srchain_vnfs.train import TrainConfig, train
from srchain_vnfs.vectors import FEATURE_NAMES, SessionWindows

A, B = ip_to_int("10.0.0.1"), ip_to_int("10.0.0.2")
PLACE = Placement(B, 40000, A, 443)


# --- P4 flow-features model ---------------------------------------------------------------------------


def test_feature_table_reports_every_n_packets_with_window_stats() -> None:
    table = FlowFeatureTable(switch_id=9, report_every=4)
    sizes = [100, 300, 200, 400, 1000, 50, 60, 70]
    reports = [table.observe(1000 + i * 10_000 + i * i, A, 80, B, 5000, 6, s) for i, s in enumerate(sizes)]
    first, second = reports[3], reports[7]
    assert [r is None for r in reports] == [True, True, True, False] * 2
    assert isinstance(first, FeatureReport) and isinstance(second, FeatureReport)
    assert (first.win_pkts, first.size_min, first.size_max, first.size_sum) == (4, 100, 400, 1000)
    # First window: 3 inter-arrivals (the flow's first packet has none); pkt_count == win_pkts tells so.
    assert (first.iat_min, first.iat_max, first.iat_sum) == (10_001, 10_005, 30_009)
    assert first.pkt_count == 4 and first.first_seen_ns == 1000 and first.direction == 1
    # Second window: 4 inter-arrivals, the first measured from the last packet of window one.
    assert (second.iat_min, second.iat_max, second.iat_sum) == (10_007, 10_013, 40_040)
    assert (second.pkt_count, second.byte_count, second.seq, second.switch_id) == (8, 2180, 1, 9)


def test_feature_table_clamps_iat_and_flags_collisions() -> None:
    table = FlowFeatureTable(report_every=2, slots=1)  # one slot: every other flow collides
    assert table.observe(0, A, 1, B, 2, 17, 100) is None
    rep = table.observe(10 * NS, A, 1, B, 2, 17, 100)
    assert rep is not None and rep.iat_max == U32_MAX and rep.iat_sum == U32_MAX and not rep.collision
    assert table.observe(11 * NS, B, 2, A, 1, 17, 100) is None  # the other direction takes the slot
    taken = table.observe(11 * NS + 5, B, 2, A, 1, 17, 100)
    assert taken is not None and taken.collision and taken.direction == 0 and taken.pkt_count == 2
    one = FlowFeatureTable(report_every=1).observe(5, A, 1, B, 2, 17, 64)
    assert one is not None and one.iat_min == IAT_NONE and one.iat_sum == 0


# --- profiles -------------------------------------------------------------------------------------------


def test_profiles_are_seeded_and_bounded() -> None:
    assert generate("voip", 3, 2.0, 500) == generate("voip", 3, 2.0, 500)
    assert generate("voip", 3, 2.0, 500) != generate("voip", 4, 2.0, 500)
    for profile in ("cloud_gaming", "video_streaming", "web", "voip", "bulk"):
        s = generate(profile, 1, 3.0, 2000)
        assert 0 < len(s.events) <= 2000
        assert all(0 <= e.ts_ns < 3 * NS and 28 <= e.size <= 1500 for e in s.events)
        assert any(e.upstream for e in s.events) and any(not e.upstream for e in s.events)
    with pytest.raises(ValueError, match="unknown profile 'quake'; known: cloud_gaming"):
        generate("quake", 0)
    with pytest.raises(ValueError, match="bounds out of range"):
        generate("web", 0, duration_s=0)


def test_cloud_gaming_has_frame_bursts_and_small_regular_inputs() -> None:
    s = generate("cloud_gaming", 5, 3.0, 100_000)
    down = [e.ts_ns for e in s.events if not e.upstream]
    gaps = [b - a for a, b in itertools.pairwise(down) if b - a > 3_000_000]  # frame boundaries
    period_ms = statistics.median(gaps) / 1e6 + 1  # + burst duration, roughly
    assert any(abs(period_ms - 1000 / fps) < 6 for fps in (30, 60, 120)), period_ms
    up = [e for e in s.events if e.upstream]
    assert max(e.size for e in up) <= 180 and len(up) > 3 * 60


# --- vectors (formatter logic) ------------------------------------------------------------------------


def _vectors(profile: str, seed: int, place: Placement = PLACE) -> list[tuple[float, ...]]:
    session = generate(profile, seed, 4.0, 3000)
    windows = SessionWindows()
    return [windows.update(r) for r, _ in session_reports([(session, place)], FlowFeatureTable())]


def test_vectors_do_not_depend_on_which_endpoint_is_canonical() -> None:
    swapped = Placement(A, 443, B, 40000)  # client is now the lower endpoint
    a, b = _vectors("cloud_gaming", 2), _vectors("cloud_gaming", 2, swapped)
    assert len(a) == len(b) > 10 and len(a[0]) == len(FEATURE_NAMES)
    assert a[-1] == pytest.approx(b[-1])


def test_session_windows_are_bounded() -> None:
    windows = SessionWindows(depth=2, max_sessions=2)
    table = FlowFeatureTable(report_every=1)
    for port in (1, 2, 3):
        rep = table.observe(0, A, port, B, 80, 6, 100)
        assert rep is not None
        windows.update(rep)
    assert len(windows) == 2 and windows.evicted == 1


# --- model --------------------------------------------------------------------------------------------


def test_shipped_model_separates_gaming_from_video_and_bulk() -> None:
    forest = load_forest()
    assert forest.feature_names == FEATURE_NAMES
    assert forest.meta["held_out"]["cloud_gaming"]["recall"] > 0.9
    for profile, seed in (("cloud_gaming", 777), ("video_streaming", 777), ("bulk", 777)):
        labels = [forest.predict(v)[0] for v in _vectors(profile, seed)]
        gaming = labels.count(TrafficClass.CLOUD_GAMING) / len(labels)
        assert gaming > 0.8 if profile == "cloud_gaming" else gaming < 0.05, (profile, gaming)


def test_training_is_reproducible() -> None:
    cfg = TrainConfig(seed=3, sessions_per_profile=2, held_out_per_profile=1, duration_s=2.0, max_packets=800,
                      trees=3, max_depth=4)
    first, scores = train(cfg)
    assert first.to_json() == train(cfg)[0].to_json()
    assert set(scores) == {"cloud_gaming", "video", "web", "voip", "bulk"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "malformed model"),
        ('{"format": "pickle"}', "unsupported model format 'pickle'"),
        ('{"format": "srchain-forest/1", "classes": [1], "feature_names": ["x"], "trees": []}', "no trees"),
        ('{"format": "srchain-forest/1", "classes": [1], "feature_names": ["x"], "trees": [{"feature": [5, -1, -1],'
         ' "threshold": [0, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1], "leaf_probs": {}}]}',
         "node 0 points outside"),
    ],
)
def test_bad_model_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_forest(text)
    with pytest.raises(ModelError, match="cannot read model /nonexistent"):
        load_forest("/nonexistent/model.json")


# --- aggregator hysteresis ----------------------------------------------------------------------------

KEY = FlowKey(A, B, 443, 40000, 17)
GAMING, VIDEO = int(TrafficClass.CLOUD_GAMING), int(TrafficClass.VIDEO)


def test_hysteresis_needs_consecutive_confident_agreement() -> None:
    h = Hysteresis(agree=3, min_confidence=0.6, idle_timeout_s=5)
    assert h.observe(KEY, GAMING, 0.9, 0.0) is None
    assert h.observe(KEY, VIDEO, 0.9, 0.1) is None  # breaks the streak
    assert h.observe(KEY, GAMING, 0.9, 0.2) is None
    assert h.observe(KEY, GAMING, 0.3, 0.3) is None  # unsure: ignored, streak kept
    assert h.observe(KEY, GAMING, 0.8, 0.4) is None
    change = h.observe(KEY, GAMING, 0.7, 0.5)
    assert change is not None and change.class_id == GAMING and change.confidence == pytest.approx(0.8)
    assert h.observe(KEY, GAMING, 0.9, 0.6) is None  # no decision without a change
    assert h.class_of(KEY) == GAMING


def test_hysteresis_quiet_session_returns_to_best_effort_once() -> None:
    h = Hysteresis(agree=1, idle_timeout_s=2)
    assert h.observe(KEY, GAMING, 1.0, 10.0) is not None
    other = FlowKey(A, B, 1, 2, 6)
    h.observe(other, TrafficClass.BEST_EFFORT, 1.0, 10.0)
    assert h.expire(11.0) == []
    changes = h.expire(12.5)
    assert [(c.key, c.class_id) for c in changes] == [(KEY, TrafficClass.BEST_EFFORT)]
    assert h.sessions == {} and h.expire(20.0) == []


def test_hysteresis_table_is_bounded() -> None:
    h = Hysteresis(agree=1, max_sessions=2)
    for port in (1, 2, 3):
        h.observe(FlowKey(A, B, port, 9, 6), VIDEO, 1.0, 0.0)
    assert len(h.sessions) == 2 and h.evicted == 1


# --- attack mitigation --------------------------------------------------------------------------------


def test_rate_rule_blocks_a_flooding_source_until_block_expires() -> None:
    d = FloodDetector(max_pps=10, max_fan_in=100, fan_in_source_pps=1000, window_s=1.0, block_s=5.0)
    verdicts = [d.verdict(A, B, 0.01 * i) for i in range(12)]
    assert verdicts[:10] == [Verdict.PASS] * 10 and verdicts[10:] == [Verdict.RATE, Verdict.BLOCKED]
    assert d.verdict(ip_to_int("10.0.0.3"), B, 0.5) == Verdict.PASS  # others unaffected
    assert d.verdict(A, B, 4.0) == Verdict.BLOCKED
    assert d.verdict(A, B, 6.0) == Verdict.PASS


def test_fan_in_rule_and_allow_list() -> None:
    d = FloodDetector(max_pps=1000, max_fan_in=3, fan_in_source_pps=2, window_s=1.0, block_s=5.0,
                      allow=[ipaddress.IPv4Network("192.168.0.0/24")])
    sources = [ip_to_int(f"10.9.0.{i}") for i in range(1, 6)]
    for s in sources:  # 5 sources, 2 packets each: under the per-source threshold
        assert d.verdict(s, B, 0.1) == Verdict.PASS
        assert d.verdict(s, B, 0.1) == Verdict.PASS
    assert d.verdict(sources[0], B, 0.2) == Verdict.FAN_IN  # third packet while B has fan-in 5 > 3
    assert d.verdict(sources[0], A, 0.3) == Verdict.BLOCKED
    friend = ip_to_int("192.168.0.7")
    assert all(d.verdict(friend, B, 0.4) == Verdict.ALLOWED for _ in range(2000))


def test_frame_parsing_refuses_malformed_ipv4() -> None:
    eth = b"\x02" * 12
    ip = bytes([0x45, 0]) + bytes(10) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    assert frame_addresses(eth + b"\x08\x00" + ip) == (A, B)
    assert frame_addresses(eth + b"\x08\x06" + bytes(28)) is None  # ARP passes
    for frame, msg in ((eth, "truncated ethernet"), (eth + b"\x08\x00" + ip[:10], "truncated ipv4"),
                       (eth + b"\x08\x00" + b"\x65" + ip[1:], "bad ipv4")):
        with pytest.raises(ValueError, match=msg):
            frame_addresses(frame)
