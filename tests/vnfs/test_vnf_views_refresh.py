"""The aggregator's periodic decision refresh (pure logic and the daemon on real UDP sockets) and the
read-only views: `GET /decisions` (aggregator) and `GET /blocked` (mitigation) over real HTTP."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from vnflab import running

from srchain_contracts.records import DecisionRecord, FlowKey, TrafficClass, WindowLabel, ip_to_int
from srchain_vnfs.aggregator import Aggregator, AggregatorConfig, Hysteresis
from srchain_vnfs.mitigation import Mitigation, MitigationConfig, Verdict
from srchain_vnfs.service import Daemon, Endpoint

LOOP = "127.0.0.1"
A, B = ip_to_int("10.0.1.10"), ip_to_int("10.0.2.10")
KEY = FlowKey(A, B, 5000, 5000, 17)
GAMING, VIDEO, BE = TrafficClass.CLOUD_GAMING, TrafficClass.VIDEO, TrafficClass.BEST_EFFORT


# --- refresh, pure logic ------------------------------------------------------------------------------


def test_refresh_resends_only_held_classes_of_live_sessions_when_due() -> None:
    h = Hysteresis(agree=1, idle_timeout_s=5)
    assert h.observe(KEY, GAMING, 0.8, 10.0) is not None
    quiet_be = FlowKey(A, B, 1, 2, 6)
    h.observe(quiet_be, BE, 1.0, 10.0)  # best effort: the switch's default, never refreshed
    assert h.refresh(11.9, every_s=2.0, limit=10) == []  # not due yet
    again = h.refresh(12.0, every_s=2.0, limit=10)
    assert [(c.key, c.class_id, c.confidence) for c in again] == [(KEY, GAMING, pytest.approx(0.8))]
    assert h.refresh(13.0, every_s=2.0, limit=10) == []  # due again only 2 s after the refresh
    assert [c.key for c in h.refresh(14.0, every_s=2.0, limit=10)] == [KEY]
    h.expire(15.0)  # no label since 10.0: forgotten (one change back to best effort, by expire)
    assert h.refresh(20.0, every_s=2.0, limit=10) == []
    assert h.class_of(KEY) == BE


def test_refresh_is_bounded_per_call_and_reaches_every_session() -> None:
    h = Hysteresis(agree=1, idle_timeout_s=100)
    keys = [FlowKey(A, B, port, 9, 17) for port in range(1, 8)]
    for k in keys:
        h.observe(k, VIDEO, 1.0, 0.0)
    first = h.refresh(5.0, every_s=1.0, limit=3)
    second = h.refresh(5.1, every_s=1.0, limit=3)
    third = h.refresh(5.2, every_s=1.0, limit=3)
    assert [len(first), len(second), len(third)] == [3, 3, 1]
    assert {c.key for c in first + second + third} == set(keys)  # each once, none twice


def test_a_change_counts_as_the_last_emission() -> None:
    h = Hysteresis(agree=1, idle_timeout_s=100)
    h.observe(KEY, GAMING, 1.0, 0.0)
    assert len(h.refresh(2.0, every_s=2.0, limit=5)) == 1
    assert h.observe(KEY, VIDEO, 1.0, 3.0) is not None  # a new decision at 3.0
    assert h.refresh(4.5, every_s=2.0, limit=5) == []
    assert [(c.class_id) for c in h.refresh(5.0, every_s=2.0, limit=5)] == [VIDEO]


def test_sessions_back_to_best_effort_or_evicted_are_not_refreshed() -> None:
    h = Hysteresis(agree=1, idle_timeout_s=100, max_sessions=2)
    k1, k2, k3 = (FlowKey(A, B, port, 9, 17) for port in (1, 2, 3))
    h.observe(k1, GAMING, 1.0, 0.0)
    h.observe(k2, GAMING, 1.0, 0.0)
    assert h.observe(k2, BE, 1.0, 1.0) is not None  # agreed back to best effort: nothing to hold
    h.observe(k3, VIDEO, 1.0, 1.0)  # the table is full: k1 (least recently labelled) is evicted
    assert h.evicted == 1 and list(h.held) == [k3]
    assert [(c.key, c.class_id) for c in h.refresh(10.0, every_s=2.0, limit=10)] == [(k3, VIDEO)]


# --- the daemons --------------------------------------------------------------------------------------


def _get(daemon: Daemon, path: str) -> dict:
    assert daemon._http is not None
    host, port = daemon._http.server_address[:2]
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=3) as r:
        return json.loads(r.read())


def _decisions(sock: socket.socket, until: float) -> list[tuple[float, DecisionRecord]]:
    out = []
    while (left := until - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
            out.append((time.monotonic(), DecisionRecord.unpack(data)))
        except TimeoutError:
            break
    return out


@pytest.mark.parametrize("refresh_s", [0.3, 0.0])
def test_aggregator_refreshes_a_live_session_and_shows_it(refresh_s: float) -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((LOOP, 0))
    cfg = AggregatorConfig(listen=Endpoint(port=0), next_hop=Endpoint(port=sink.getsockname()[1]), agree=2,
                           idle_timeout_s=3.0, refresh_s=refresh_s, tick_s=0.05)
    try:
        with running(Aggregator(cfg)) as agg, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            assert isinstance(agg, Aggregator)
            for seq in range(2):
                tx.sendto(WindowLabel(KEY, GAMING, seq, confidence=230).pack(), agg.bound)
            got = _decisions(sink, time.monotonic() + 0.2)
            assert [(r.key, r.class_id) for _, r in got] == [(KEY, GAMING)]  # the change, once
            t_change = got[0][0]
            for seq in range(2, 6):  # the session stays live (labels agreeing with its class)
                tx.sendto(WindowLabel(KEY, GAMING, seq, confidence=230).pack(), agg.bound)
                got += _decisions(sink, time.monotonic() + 0.25)
            view = _get(agg, "/decisions")
            counters = agg.counts
    finally:
        sink.close()
    again = got[1:]
    if refresh_s:
        assert len(again) >= 2 and all((r.key, r.class_id) == (KEY, GAMING) for _, r in again), again
        assert again[0][0] - t_change >= refresh_s - 0.06  # not before it is due (tick granularity)
        assert [r.seq for _, r in got] == sorted(r.seq for _, r in got)  # fresh sequence numbers
        # counters read just after the last window: one more refresh may be on its way
        assert counters["decision:1"] == 1 and len(again) <= counters["refresh:1"] <= len(again) + 1
        assert counters["sent"] == 1 + counters["refresh:1"]
    else:
        assert again == [] and "refresh:1" not in counters
    assert view["sessions"] == 1 and view["by_class"] == {"cloud_gaming": 1} and view["refresh_s"] == refresh_s
    (row,) = view["decisions"]
    assert row["flow"] == {"ip_a": "10.0.1.10", "port_a": 5000, "ip_b": "10.0.2.10", "port_b": 5000, "proto": 17}
    assert (row["class"], row["class_name"], row["candidate"], row["streak"]) == (1, "cloud_gaming", None, 0)
    assert 0.8 <= row["age_s"] <= 3.0 and row["confidence"] == pytest.approx(230 / 255, abs=0.01)
    assert 0 <= row["last_label_age_s"] < 0.5


def test_aggregator_decisions_view_is_bounded_while_the_table_changes() -> None:
    cfg = AggregatorConfig(listen=Endpoint(port=0), next_hop=Endpoint(port=9), agree=5, show_max=10,
                           refresh_s=0, tick_s=0.05)
    agg = Aggregator(cfg)
    stop = threading.Event()

    def churn() -> None:  # the loop's writes while the HTTP thread reads
        n = 0
        while not stop.is_set():
            n += 1
            with agg.state_lock:  # as the daemon's loop does
                agg.logic.observe(FlowKey(A, B, n % 5000, 1, 17), VIDEO, 1.0, time.monotonic())

    agg.start_http()
    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    try:
        views = [_get(agg, "/decisions") for _ in range(20)]
    finally:
        stop.set()
        worker.join(5)
        agg.close()
    assert all(v["shown"] == len(v["decisions"]) <= 10 for v in views)
    assert views[-1]["sessions"] > 10
    assert all(r["class"] in (BE, VIDEO) and 0 <= r["streak"] < 5 for v in views for r in v["decisions"])


def _frame(src: str, dst: str = "10.0.2.10") -> bytes:
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + b"\x00" * 8


def test_mitigation_blocked_view_over_http(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("so-view-token")
    cfg = MitigationConfig(in_iface="x0", out_iface="x1", max_pps=5, window_s=1.0, block_s=30, max_fan_in=2,
                           fan_in_source_pps=1, allow=["10.9.0.0/16"],
                           http={"port": 0, "token_file": str(token)})
    m = Mitigation(cfg)  # no sockets opened: the filter and the view are exercised directly
    now = time.monotonic()
    verdicts = [m.filter(_frame("10.66.0.9"), now) for _ in range(20)]  # 5 pass, the 6th blocks, 14 dropped
    assert verdicts.count(True) == 5
    for src in ("10.77.0.1", "10.77.0.2", "10.77.0.3"):  # fan-in on 10.0.2.99: the third source trips it
        for _ in range(2):
            m.filter(_frame(src, "10.0.2.99"), now)
    m.filter(_frame("10.9.1.1"), now)  # allow-listed: never blocked
    m.start_http()
    try:
        assert m._http is not None
        host, port = m._http.server_address[:2]
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://{host}:{port}/blocked", timeout=3)
        assert e.value.code == 401
        req = urllib.request.Request(f"http://{host}:{port}/blocked", headers={"Authorization": "Bearer so-view-token"})
        with urllib.request.urlopen(req, timeout=3) as r:
            view = json.loads(r.read())
    finally:
        m.close()
    rows = {b["source"]: b for b in view["blocked"]}
    assert view["count"] == 2 == len(rows), view
    rate = rows["10.66.0.9"]
    assert (rate["reason"], rate["window_packets"], rate["dropped"], rate["destination"]) == \
        (Verdict.RATE, 6, 15, "10.0.2.10")
    assert 29 <= rate["remaining_s"] <= 30 and rate["since_s"] >= 0
    fan = rows["10.77.0.3"]
    assert (fan["reason"], fan["destination"], fan["dropped"]) == (Verdict.FAN_IN, "10.0.2.99", 1)
    assert view["thresholds"] == {"max_pps": 5, "max_fan_in": 2, "fan_in_source_pps": 1, "window_s": 1.0,
                                  "block_s": 30}
    assert view["allow"] == ["10.9.0.0/16"] and view["untracked_packets"] == 0
    assert m.counts["dropped:rate"] == 1 and m.counts["dropped:blocked"] == 14
