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


@dataclass(frozen=True)
class ModuleInfo:
    name: str
    params: type[BaseModel]
    default_traffic: Traffic
    emits_reports: bool  # the module produces records that travel the segments after it


MODULES: dict[str, ModuleInfo] = {
    "flow-features": ModuleInfo("flow-features", FlowFeaturesParams, "data", emits_reports=True),
    "priority": ModuleInfo("priority", PriorityParams, "both", emits_reports=False),
}
