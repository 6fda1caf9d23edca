"""The l4s module's table contents (p4/control/l4s.p4), computed from the segment's `L4sParams`.

A stateful ALU cannot multiply, so the PI2 products come from `SwitchEgress.l4s.pi_terms`, one row per queue-delay
bucket: with p' scaled to 2^32 and q the bucket's delay (its middle, in seconds),

    now_term(q)  = (alpha_U + beta_U) q - alpha_U target      prev_term(q) = beta_U q
    alpha_U = alpha Tupdate, beta_U = beta Tupdate            (RFC 9332 Appendix A.1)

and the switch updates p' += now_term(q) - prev_term(q_previous update), which is RFC 9332's
alpha_U (q - target) + beta_U (q - q_previous). now_term is written as its two's complement (32 bits).
"""

from __future__ import annotations

from dataclasses import dataclass

from srchain.model.modules import L4S_BUCKET_NS, L4S_BUCKETS, L4sParams
from srchain.plan.model import Params

P_ONE = 1 << 32  # p' = 1 in the switch's register
CLOCK_NS = 1024  # the update deadline's clock: the egress timestamp's bits 41..10
# ECN codepoints (RFC 3168): Not-ECT, ECT(1), ECT(0), CE; ECT(1) and CE are L4S (RFC 9331)
ECN_L4S = (0b01, 0b11)
ECN_CLASSIC = (0b00, 0b10)


@dataclass(frozen=True)
class PiRow:
    bucket: int
    now_term: int  # unsigned 32-bit two's complement
    prev_term: int


def bucket_delay_s(bucket: int) -> float:
    """The delay a bucket stands for: the middle of its 2^18 ns (the last bucket holds everything beyond)."""
    return (bucket + 0.5) * L4S_BUCKET_NS * 1e-9


def pi_rows(p: L4sParams) -> list[PiRow]:
    t_update = p.update_interval_us * 1e-6
    alpha_u, beta_u = p.alpha_hz * t_update, p.beta_hz * t_update
    target = p.classic_target_us * 1e-6
    rows = []
    for b in range(L4S_BUCKETS):
        q = bucket_delay_s(b)
        now = round(((alpha_u + beta_u) * q - alpha_u * target) * P_ONE)
        rows.append(PiRow(b, now % (1 << 32), round(beta_u * q * P_ONE)))
    return rows


def coupling_log2(p: L4sParams) -> int:
    return p.coupling.bit_length() - 1


def config_data(p: L4sParams) -> Params:
    """`SwitchEgress.l4s.set_config`'s data."""
    return {
        "step_threshold_ns": p.step_threshold_us * 1000,
        "interval_1024ns": max(1, round(p.update_interval_us * 1000 / CLOCK_NS)),
        "coupling_log2": coupling_log2(p),
    }


def queue_of(p: L4sParams, ecn: int) -> int:
    return p.l4s_queue if ecn in ECN_L4S else p.classic_queue
