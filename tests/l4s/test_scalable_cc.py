"""The scalable sender's congestion controller (RFC 9331 §4.3, DCTCP/Prague-style), fed synthetic
feedback: no sockets, no clock."""

from __future__ import annotations

import pytest

from srchain_demo.l4s.scalable import CE, ECT1, Controller, G


def one_round(cc: Controller, marked_every: int = 0, rtt: float = 0.01) -> None:
    """Send a full window and acknowledge all of it, the round ending with the window's last packet (as
    when the next window is already in flight); every marked_every-th packet comes back CE."""
    first = cc.next_seq
    n = int(cc.cwnd)
    for i in range(n):
        cc.on_send(first + i, 0.0)
    cc.round_end = first + n - 1
    for i in range(n):
        ecn = CE if marked_every and i % marked_every == 0 else ECT1
        cc.on_feedback(first + i, ecn, rtt)


def test_additive_increase_without_marks() -> None:
    cc = Controller(alpha=0.0)
    one_round(cc)
    one_round(cc)
    assert cc.cwnd == pytest.approx(12.0, abs=0.2)  # about one packet per round trip
    assert cc.reductions == 0


def test_alpha_is_the_ewma_of_the_marked_fraction_per_round() -> None:
    cc = Controller(alpha=0.0)
    before = cc.alpha
    one_round(cc, marked_every=5)  # 2 of 10 marked
    assert cc.alpha == pytest.approx((1 - G) * before + G * 0.2)
    for _ in range(200):
        cc.cwnd = 10.0
        one_round(cc, marked_every=5)
    assert cc.alpha == pytest.approx(0.2, abs=0.01)


def test_marks_cut_cwnd_by_alpha_over_two_once_per_round() -> None:
    cc = Controller(alpha=0.5, cwnd=20.0)
    reductions = cc.reductions
    one_round(cc, marked_every=1)  # every packet marked: still one reduction in this round
    assert cc.reductions == reductions + 1
    alpha = (1 - G) * 0.5 + G * 1.0
    assert cc.cwnd == pytest.approx(20.0 * (1 - alpha / 2))


def test_loss_halves_cwnd_once_per_round() -> None:
    cc = Controller(alpha=0.0)
    one_round(cc)
    cc.cwnd = 16.0
    first = cc.next_seq
    for i in range(16):
        cc.on_send(first + i, 0.0)
    for i in range(16):
        if i not in (2, 3):  # two packets lost
            cc.on_feedback(first + i, ECT1, 0.01)
    assert cc.lost == 2
    assert cc.reductions == 1
    assert 8.0 <= cc.cwnd < 10.0  # halved once (twice would be < 5), then ~1/8 per later ack


def test_silence_counts_as_loss() -> None:
    cc = Controller()
    cc.on_send(0, 0.0)
    cc.on_timer(0.1)
    assert cc.lost == 0
    cc.on_timer(0.3)  # nothing back for longer than max(4·srtt, 200 ms)
    assert cc.lost == 1 and cc.cwnd == 5.0
