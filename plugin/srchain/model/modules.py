"""The P4 modules a chain segment can bind a SID to, with their parameters.

A module's parameters travel to the switch in the action data of its `local_sid` entry (or in the
module's own config tables), so each is a small integer-valued model.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Traffic = Literal["data", "reports", "both"]


class FlowFeaturesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    report_every: int = Field(32, ge=1, le=65535, description="emit a feature report every N packets of a flow")
    report_src: IPv4Address = Field(IPv4Address("10.255.0.1"), description="source address of feature reports")
    report_dst: IPv4Address = Field(
        IPv4Address("10.255.0.2"), description="destination address of feature reports (where the formatter listens)"
    )


class PriorityParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # flow class (decision record class id) -> TM queue id; unlisted classes stay best effort (qid 0)
    queues: dict[int, int] = Field(default_factory=lambda: {1: 7})

    def model_post_init(self, _context: object) -> None:
        for cls, qid in self.queues.items():
            if not 1 <= cls <= 255:
                raise ValueError(f"class id {cls} out of range 1..255")
            if not 0 <= qid <= 7:
                raise ValueError(f"queue id {qid} for class {cls} out of range 0..7")


# The l4s module's quantised queue delay (p4/control/l4s.p4): 256 buckets of 2^18 ns, the last one open-ended.
L4S_BUCKET_NS = 1 << 18
L4S_BUCKETS = 256
L4S_DELAY_RANGE_US = L4S_BUCKET_NS * (L4S_BUCKETS - 1) // 1000  # 66846 us: a target must lie below it
L4S_COUPLINGS = (1, 2, 4, 8, 16)  # k = 2^k_log2: the switch shifts p' by a constant, it cannot multiply


class L4sParams(BaseModel):
    """The DualPI2 coupled AQM (RFC 9332; defaults from its Appendix A) on the egress port of the switch."""

    model_config = ConfigDict(extra="forbid")
    l4s_queue: int = Field(1, ge=0, le=7, description="TM queue of ECT(1) and CE packets")
    classic_queue: int = Field(0, ge=0, le=7, description="TM queue of Not-ECT and ECT(0) packets")
    classic_target_us: int = Field(15000, ge=500, lt=L4S_DELAY_RANGE_US,
                                   description="PI2 target of the classic queue's delay")
    step_threshold_us: int = Field(1000, ge=1, le=1_000_000,
                                   description="the L4S queue's target: CE-mark every L4S packet that waited longer")
    alpha_hz: float = Field(0.16, gt=0, le=100, description="PI2 integral gain")
    beta_hz: float = Field(3.2, gt=0, le=1000, description="PI2 proportional gain")
    update_interval_us: int = Field(16000, ge=100, le=1_000_000, description="Tupdate: how often p' is updated")
    coupling: int = Field(2, description="k: p_L = max(k p', step); a power of two 1..16")
    port_rate_kbps: int | None = Field(None, ge=64, le=100_000_000,
                                       description="shape the switch's egress port(s) to this rate (the bottleneck)")

    def model_post_init(self, _context: object) -> None:
        if self.coupling not in L4S_COUPLINGS:
            raise ValueError(f"coupling {self.coupling} is not a power of two in 1..16 (the switch shifts p', "
                             "it cannot multiply)")
        if self.l4s_queue == self.classic_queue:
            raise ValueError(f"l4s_queue and classic_queue are both {self.l4s_queue}: the two queues must differ")
        # the per-update step at the largest delay must fit the switch's signed 32-bit terms (p' = 2^32)
        if (self.alpha_hz + self.beta_hz) * self.update_interval_us * 1e-6 * L4S_BUCKETS * L4S_BUCKET_NS * 1e-9 \
                >= 0.5:
            raise ValueError(f"(alpha_hz + beta_hz) x update_interval_us = {self.alpha_hz + self.beta_hz:g} Hz x "
                             f"{self.update_interval_us} us is too large: one update could move p' by half its "
                             "range")


@dataclass(frozen=True)
class ModuleInfo:
    name: str
    params: type[BaseModel]
    default_traffic: Traffic
    emits_reports: bool  # the module produces records that travel the segments after it


MODULES: dict[str, ModuleInfo] = {
    "flow-features": ModuleInfo("flow-features", FlowFeaturesParams, "data", emits_reports=True),
    "priority": ModuleInfo("priority", PriorityParams, "both", emits_reports=False),
    "l4s": ModuleInfo("l4s", L4sParams, "data", emits_reports=False),
}
