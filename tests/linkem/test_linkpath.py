"""The link emulator's per-direction model with an injected clock: serialisation, delay, jitter without
reordering, seeded loss, tail drop and refused settings."""

from __future__ import annotations

import random

import pytest

from l4sframes import frame
from srchain_demo.l4s.dualpi2 import DualPI2
from srchain_net.ecn import ECT0, ECT1
from srchain_net.linkpath import LinkParams, LinkPath
from srchain_net.qdisc import FifoTailDrop


def test_back_to_back_frames_leave_at_line_rate_after_the_delay() -> None:
    link = LinkPath(LinkParams(delay_s=0.005, rate_bps=8e6))  # 1000 bytes take 1 ms
    for i in range(5):
        link.arrive(bytes(1000), 0.0 + i * 1e-6)
    out = link.service(1.0)
    assert [round(t, 9) for t, _ in out] == [0.006, 0.007, 0.008, 0.009, 0.010]


def test_a_late_service_call_does_not_stretch_the_line() -> None:
    """Frames waiting while the line was busy start when it frees, not when the loop comes round."""
    link = LinkPath(LinkParams(rate_bps=8e6))
    link.arrive(bytes(1000), 0.0)
    link.arrive(bytes(1000), 0.0)
    assert link.next_event() == 0.0
    out = link.service(0.5)
    assert [t for t, _ in out] == pytest.approx([0.001, 0.002])
    link.arrive(bytes(1000), 0.7)  # idle line: starts at its own arrival
    assert [t for t, _ in link.service(0.8)] == pytest.approx([0.701])


def test_jitter_never_reorders() -> None:
    link = LinkPath(LinkParams(delay_s=0.010, jitter_s=0.009, seed=3))
    for i in range(200):
        link.arrive(i.to_bytes(4, "big"), i * 1e-4)
    out = link.service(1.0)
    assert [int.from_bytes(f, "big") for _, f in out] == list(range(200))
    times = [t for t, _ in out]
    assert times == sorted(times) and min(times) >= 0.001
    assert max(t - i * 1e-4 for i, t in enumerate(times)) > 0.015  # jitter is really applied


def test_loss_count_follows_the_seed() -> None:
    link = LinkPath(LinkParams(loss=0.1, seed=7))
    for i in range(1000):
        link.arrive(bytes(64), i * 1e-3)
    rng = random.Random(7)
    expected = sum(rng.random() < 0.1 for _ in range(1000))
    assert link.lost == expected
    assert len(link.service(2.0)) == 1000 - expected


def test_fifo_tail_drop_at_the_byte_limit() -> None:
    link = LinkPath(LinkParams(rate_bps=1e6, limit_bytes=2500))
    for _ in range(4):
        link.arrive(bytes(1000), 0.0)
    assert len(link.service(1.0)) == 2
    assert isinstance(link.qdisc, FifoTailDrop)
    assert link.qdisc.stats.dropped_full == {"fifo": 2}


def test_a_dequeue_never_sees_a_frame_from_its_future() -> None:
    """The loop hands arrivals over late; the discipline must still see them in time order, or a priority
    queue would pick a frame that had not arrived yet (a negative sojourn time)."""
    aqm = DualPI2()
    link = LinkPath(LinkParams(rate_bps=12e6), aqm)
    for i in range(20):
        link.arrive(frame(ECT0, 1500, i), i * 1e-4)  # a C burst (ECT(0): marked, never dropped)
    for i in range(20):
        link.arrive(frame(ECT1, 1000, i), 0.005 + i * 1e-3)  # L packets arriving meanwhile
    assert len(link.service(1.0)) == 40  # serviced once, long after everything arrived
    assert min(s.sojourn for s in aqm.sojourns) >= 0.0


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match=r"link.jitter_s: 0.1 must be within.*link.loss: 1.5 is not a probability"):
        LinkPath(LinkParams(loss=1.5, jitter_s=0.1))
