"""The traffic manager's scheduler (no sockets): the Tofino 1 default is not strict priority but DWRR with equal
weights (SDE tm_tofino_default.c), strict priority and weights exist only where configured, and a queue's max
rate holds it back without stopping the others."""

from __future__ import annotations

from srchain_emu.device_tables import QueueSched
from srchain_emu.interp.pipeline import ToTM
from srchain_emu.tm import TrafficManager

PORT = 1


def backlog(tm: TrafficManager, sizes: dict[int, int], n: int = 200) -> None:
    """`n` packets in each queue (qid -> frame size), queue 0's first: a FIFO would send all of them first."""
    for qid, size in sizes.items():
        for _ in range(n):
            assert tm.enqueue(ToTM(PORT, bytes(size), qid))


def served(tm: TrafficManager, first: int) -> dict[int, int]:
    """Bytes per queue among the first `first` packets the scheduler releases."""
    out, _ = tm.dequeue()
    got: dict[int, int] = {}
    for item, _, _ in out[:first]:
        got[item.qid] = got.get(item.qid, 0) + len(item.frame)
    return got


def test_default_shares_two_busy_queues_by_bytes_not_by_priority():
    tm = TrafficManager()
    backlog(tm, {0: 1000, 7: 200})
    got = served(tm, 120)
    # strict priority (queue 7 first) would give queue 7 all 120 packets; DWRR with equal weights gives each
    # queue the same bytes: 20 of 1000 B and 100 of 200 B, within a round's quantum
    assert 0 in got and 7 in got, got
    assert abs(got[0] - got[7]) <= 1023 + 1000, got


def test_configured_strict_priority_serves_queue_7_first():
    tm = TrafficManager()
    tm.set_queue(PORT, 7, QueueSched(priority=7))
    backlog(tm, {0: 1000, 7: 200})
    out, _ = tm.dequeue()
    assert [item.qid for item, _, _ in out] == [7] * 200 + [0] * 200


def test_weights_share_in_proportion():
    tm = TrafficManager()
    tm.set_queue(PORT, 3, QueueSched(weight=300))
    tm.set_queue(PORT, 0, QueueSched(weight=900))
    backlog(tm, {0: 100, 3: 100})
    got = served(tm, 200)
    assert 2.5 <= got[0] / got[3] <= 3.5, got


def test_disabled_queue_waits_and_a_rate_limited_one_yields():
    tm = TrafficManager()
    tm.set_queue(PORT, 5, QueueSched(enabled=False))
    tm.set_queue(PORT, 7, QueueSched(priority=7, max_rate_bps=8_000, max_burst_bytes=1000))
    backlog(tm, {0: 500, 5: 500, 7: 500}, n=10)
    out, wait = tm.dequeue()
    qids = [item.qid for item, _, _ in out]
    # queue 7's bucket holds 1000 bytes: two packets, then queue 0 (work conserving); queue 5 never
    assert qids == [7, 7] + [0] * 10, qids
    assert 0 < wait <= 0.5 and tm.pending == 18
