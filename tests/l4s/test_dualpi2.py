"""Reference DualPI2 against RFC 9332, with an injected clock (no sockets): each test names the section
whose behaviour it checks."""

from __future__ import annotations

import math
import statistics

import pytest

from l4sframes import frame
from srchain_demo.l4s.dualpi2 import DualPI2, DualPI2Params
from srchain_net.ecn import CE, ECT0, ECT1, NOT_ECT, ecn_field, ipv4_checksum
from srchain_net.linkpath import LinkParams, LinkPath

FROZEN = DualPI2Params(tupdate_s=1e9)  # p' stays where a test puts it


def test_classifier_by_ecn_codepoint() -> None:
    """A.1 dualpi2_enqueue: ECN modulo 2 == 1 (ECT(1), CE) → L queue; Not-ECT, ECT(0) → C queue."""
    q = DualPI2(FROZEN)
    for ecn in (NOT_ECT, ECT0, ECT1, CE, ECT1):
        assert q.enqueue(frame(ecn), 0.0)
    assert q.backlog_packets() == {"L": 3, "C": 2}
    assert q.stats.enqueued == {"C": 2, "L": 3}


def test_pi_update_is_the_rfc_formula() -> None:
    """A.1 dualpi2_update: p' += alpha·(curq − target) + beta·(curq − prevq), curq = C head sojourn."""
    p = DualPI2Params()
    q = DualPI2(p)
    q.enqueue(frame(NOT_ECT), 0.0)
    q.update(0.025)  # head waited 25 ms, prevq 0
    first = p.alpha_hz * (0.025 - p.target_s) + p.beta_hz * 0.025
    assert q.p_prime == pytest.approx(first)
    q.update(0.030)
    assert q.p_prime == pytest.approx(first + p.alpha_hz * (0.030 - p.target_s) + p.beta_hz * 0.005)
    q.dequeue(0.030)
    for t in range(100):  # empty queue: curq 0 drives p' down, clamped at 0
        q.update(0.031 + t * 0.016)
    assert q.p_prime == 0.0


def test_coupling_classic_square_and_l4s_linear() -> None:
    """§2.4 and A.1: p_C = p'², p_CL = k·p'; L marks come from recur() (exact frequency), C marks from a
    seeded random draw (binomial bounds)."""
    q = DualPI2(FROZEN)
    q.p_prime = 0.2
    assert q.p_c == pytest.approx(0.04)
    assert q.p_cl == pytest.approx(0.4)
    marked_l = 0
    for i in range(1000):  # one packet at a time: no native (step) marking, only the coupled p_CL
        q.enqueue(frame(ECT1, seq=i), i * 1e-3)
        out = q.dequeue(i * 1e-3)
        assert out is not None
        marked_l += ecn_field(out) == CE
    assert marked_l == 400
    n = 20_000
    marked_c = 0
    for i in range(n):
        q.enqueue(frame(ECT0, seq=i), 2 + i * 1e-3)
        out = q.dequeue(2 + i * 1e-3)
        assert out is not None  # ECT(0) classic traffic is marked, never dropped below overload
        marked_c += ecn_field(out) == CE
    sd = math.sqrt(n * 0.04 * 0.96)
    assert abs(marked_c - n * 0.04) < 4 * sd


def test_classic_not_ect_is_dropped_with_p_c() -> None:
    """A.1 dualpi2_dequeue: a Not-ECT classic packet chosen by p_C is dropped (it cannot be marked)."""
    q = DualPI2(FROZEN)
    q.p_prime = 0.3
    n = 10_000
    for i in range(n):
        q.enqueue(frame(NOT_ECT, seq=i), i * 1e-3)
        q.dequeue(i * 1e-3)
    dropped = q.stats.dropped_aqm["C"]
    assert abs(dropped - n * 0.09) < 4 * math.sqrt(n * 0.09 * 0.91)
    assert "C" not in q.stats.marked


def test_step_marking_above_the_threshold() -> None:
    """A.1 laqm with range 0 (a step) at 1 ms, and A.2 Th_len: with p' = 0, an L packet is marked iff it
    waited ≥ 1 ms and was not alone in the L queue."""
    q = DualPI2(FROZEN)
    for i in range(3):
        q.enqueue(frame(ECT1, seq=i), 0.0)
    early = q.dequeue(0.0005)  # 0.5 ms, 3 queued
    late = q.dequeue(0.0015)  # 1.5 ms, 2 queued
    alone = q.dequeue(0.0050)  # 5 ms, but the only packet left
    assert early is not None and late is not None and alone is not None
    assert [ecn_field(f) for f in (early, late, alone)] == [ECT1, CE, ECT1]


def test_ramp_between_min_threshold_and_range() -> None:
    """A.1 laqm: (qdelay − minTh)/range between minTh and minTh + range."""
    q = DualPI2(DualPI2Params(step_s=0.0008, ramp_s=0.0004))
    assert q.native_l(0.0007, 5) == 0.0
    assert q.native_l(0.0010, 5) == pytest.approx(0.5)
    assert q.native_l(0.0013, 5) == 1.0


def test_overload_drops_l4s_and_ect_classic() -> None:
    """§4.2.2 / A.2 overload: at p_C ≥ p_Cmax (1/k² = 0.25) L4S marking has saturated; L packets are
    dropped with p_C and ECN-capable classic packets are dropped instead of marked."""
    q = DualPI2(FROZEN)
    q.p_prime = 0.6  # p_C = 0.36
    assert q.overloaded()
    n = 5000
    for i in range(n):
        q.enqueue(frame(ECT1, seq=i), i * 1e-3)
        out = q.dequeue(i * 1e-3)
        assert out is None or ecn_field(out) == CE
        q.enqueue(frame(ECT0, seq=i), i * 1e-3)
        q.dequeue(i * 1e-3)
    bound = 4 * math.sqrt(n * 0.36 * 0.64)
    assert abs(q.stats.dropped_aqm["L"] - n * 0.36) < bound
    assert abs(q.stats.dropped_aqm["C"] - n * 0.36) < bound
    assert "C" not in q.stats.marked


def test_shared_buffer_limit_tail_drops() -> None:
    """A.1 dualpi2_enqueue: a packet that would overflow the shared limit is dropped on arrival."""
    q = DualPI2(DualPI2Params(limit_bytes=2500, tupdate_s=1e9))
    assert q.enqueue(frame(ECT1), 0.0) and q.enqueue(frame(NOT_ECT), 0.0)
    assert not q.enqueue(frame(NOT_ECT), 0.0)
    assert q.stats.dropped_full == {"C": 1}


def test_time_shifted_fifo_scheduler() -> None:
    """A.1 scheduler (time-shifted FIFO): L first unless the C head waited more than tshift longer."""
    q = DualPI2(FROZEN)
    q.enqueue(frame(NOT_ECT, seq=1), 0.0)
    q.enqueue(frame(ECT1, seq=2), 0.010)
    first = q.dequeue(0.020)  # C waited 20 ms, L 10 ms: within tshift (30 ms), L goes first
    assert first is not None and ecn_field(first) == ECT1
    q.enqueue(frame(ECT1, seq=3), 0.050)
    second = q.dequeue(0.060)  # C waited 60 ms, L 10 ms: 50 ms more than L > tshift, C goes first
    assert second is not None and ecn_field(second) == NOT_ECT


def test_ce_mark_keeps_the_header_checksum_valid() -> None:
    q = DualPI2(FROZEN)
    q.enqueue(frame(ECT1), 0.0)
    q.enqueue(frame(ECT1), 0.0)
    out = q.dequeue(0.002)  # above the step, two queued: marked
    assert out is not None and ecn_field(out) == CE
    assert ipv4_checksum(out[14:34]) == 0  # a header with a right checksum sums to 0xFFFF


def test_pi2_converges_on_a_constant_rate_overload() -> None:
    """A.1 PI2 core on a synthetic unresponsive overload: Not-ECT arrivals at 1.2× a 12 Mbit/s line.
    Steady state needs p_C = 1 − 1/1.2 (so the line is exactly full), i.e. p' = √(1/6) ≈ 0.41, and the
    integral term holds the C queue's delay at the 15 ms target."""
    aqm = DualPI2(DualPI2Params(limit_bytes=10_000_000))
    link = LinkPath(LinkParams(rate_bps=12e6), aqm)
    size = 1000
    gap = size * 8 / 12e6 / 1.2
    t = 0.0
    seq = 0
    while t < 40.0:
        link.arrive(frame(NOT_ECT, size, seq), t)
        link.service(t)
        seq += 1
        t = seq * gap
    settled = [p for when, p in aqm.history if when > 20.0]
    assert statistics.mean(settled) == pytest.approx(math.sqrt(1 / 6), rel=0.05)
    sojourns = [s.sojourn for s in aqm.sojourns if s.left_at > 20.0]
    assert statistics.median(sojourns) == pytest.approx(0.015, abs=0.003)
