"""The chain spec: which micro-services, in which order, for which traffic.

Schema only; references to the inventory are checked in `srchain.model.load`.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from srchain.model.modules import Traffic
from srchain_contracts import proxy_api as px

NAME_RE = r"^[a-z][a-z0-9-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_RE)]
MPLS_MAX_LABEL = px.MAX_LABEL
RESERVED_LABELS = px.FIRST_UNRESERVED_LABEL  # RFC 3032: labels 0-15 are reserved
MAX_INSTANCES = 16  # load-balancing buckets of the P4 classifier (4 hash bits)

PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SrBlock(Strict):
    start: int = 16000
    end: int = 23999

    @model_validator(mode="after")
    def _check(self) -> SrBlock:
        if self.start < RESERVED_LABELS:
            raise ValueError(f"start {self.start} is inside the reserved labels 0-15 (RFC 3032)")
        if self.end > MPLS_MAX_LABEL:
            raise ValueError(f"end {self.end} exceeds the largest MPLS label {MPLS_MAX_LABEL}")
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self

    @property
    def size(self) -> int:
        return self.end - self.start + 1


class Ternary(Strict):
    value: int = Field(ge=0, le=0xFFFF)
    mask: int = Field(ge=0, le=0xFFFF)


PortMatch = int | Ternary


class Match(Strict):
    """Ternary 5-tuple match. Omitted fields are wildcards."""

    src: str | None = None  # IPv4 address or prefix
    dst: str | None = None
    protocol: int | str | None = None  # number or tcp/udp/icmp
    src_port: PortMatch | None = None
    dst_port: PortMatch | None = None
    ingress_port: int | None = Field(None, ge=0, le=511)

    @field_validator("src", "dst")
    @classmethod
    def _prefix(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            net = ipaddress.IPv4Network(v, strict=True)
        except ValueError as exc:
            raise ValueError(f"'{v}' is not an IPv4 address or prefix ({exc})") from None
        return str(net)

    @field_validator("protocol")
    @classmethod
    def _proto(cls, v: int | str | None) -> int | None:
        if v is None or (isinstance(v, int) and 0 <= v <= 255):
            return v
        if isinstance(v, str) and v.lower() in PROTOCOLS:
            return PROTOCOLS[v.lower()]
        raise ValueError(f"protocol '{v}' is not a number 0-255 nor one of {', '.join(PROTOCOLS)}")

    @field_validator("src_port", "dst_port")
    @classmethod
    def _port(cls, v: PortMatch | None) -> PortMatch | None:
        if isinstance(v, int) and not 0 <= v <= 0xFFFF:
            raise ValueError(f"port {v} out of range 0-65535")
        if isinstance(v, Ternary) and v.value & ~v.mask:
            raise ValueError(f"value {v.value:#x} has bits outside mask {v.mask:#x}")
        return v


class Rule(Strict):
    name: Name
    priority: int = Field(100, ge=0, le=65535, description="higher wins when rules overlap")
    match: Match = Match()


class Classifier(Strict):
    """Where traffic enters the chain: a switch (sr-mpls), or an inventory SRv6 node, the head end that
    pushes the segment list (srv6). Which one a chain needs is checked with the inventory (load.py)."""

    switch: Name | None = None
    node: Name | None = None
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _one(self) -> Classifier:
        if (self.switch is None) == (self.node is None):
            raise ValueError("give exactly one of 'switch' (an SR-MPLS switch) or 'node' (an SRv6 head end)")
        return self


class P4Segment(Strict):
    """A P4 module on a named switch."""

    name: Name
    switch: Name
    module: str
    params: dict[str, Any] = Field(default_factory=dict)
    traffic: Traffic | None = None  # default: the module's own (see srchain.model.modules)


# Per segment, the proxy behaviour: SR-MPLS static/dynamic; SRv6 static (End.AS), dynamic (End.AD, per flow)
# and masquerading (End.AM, for SRv6-aware VNFs that ignore the SRH).
SegmentBehaviour = px.Behaviour | Literal["masquerading"]
SRV6_BEHAVIOURS: dict[str, px.Srv6Behaviour] = {"static": "end.as", "dynamic": "end.ad", "masquerading": "end.am"}


class VnfSegment(Strict):
    """A VNF (one or more instances, per-flow load balanced) behind a named SR proxy.

    The proxy-facing fields keep the wire names, types, limits and defaults of the proxy's SID entry
    (`srchain_contracts.proxy_api`): what plans here, the proxy accepts."""

    name: Name
    vnf: Name | list[Name]
    proxy: Name
    behaviour: SegmentBehaviour
    traffic: Literal["data", "reports"] = "data"
    # dynamic behaviour only
    return_match: px.ReturnMatch = "same"
    miss_policy: px.MissPolicy = "drop"
    cache_size: px.CacheSize = px.CACHE_SIZE_DEFAULT
    idle_timeout_s: px.IdleTimeout = px.IDLE_TIMEOUT_DEFAULT_S

    @property
    def instances(self) -> list[str]:
        return [self.vnf] if isinstance(self.vnf, str) else list(self.vnf)

    @field_validator("vnf")
    @classmethod
    def _instances(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list):
            if not v:
                raise ValueError("needs at least one VNF instance")
            if len(v) > MAX_INSTANCES:
                raise ValueError(f"{len(v)} instances exceed the maximum of {MAX_INSTANCES} per segment")
            if len(set(v)) != len(v):
                raise ValueError("an instance is listed twice")
        return v


class NodeSegment(Strict):
    """srv6 only: a waypoint on a Linux SRv6 node of the inventory (`srv6_nodes`), its SID a `seg6local End`
    (SL - 1, DA = the next segment): the node takes part in the chain as RFC 8986's End, doing nothing else."""

    name: Name
    node: Name
    traffic: Literal["data", "reports"] = "data"


def _segment_kind(v: Any) -> str | None:
    if isinstance(v, dict):
        if "module" in v:
            return "P4Segment"
        if "vnf" in v:
            return "VnfSegment"
        if "node" in v:
            return "NodeSegment"
        return None
    for cls in (P4Segment, VnfSegment, NodeSegment):
        if isinstance(v, cls):
            return cls.__name__
    return None


Segment = Annotated[
    Annotated[P4Segment, Tag("P4Segment")] | Annotated[VnfSegment, Tag("VnfSegment")]
    | Annotated[NodeSegment, Tag("NodeSegment")],
    Discriminator(
        _segment_kind,
        custom_error_type="segment_kind",
        custom_error_message="a segment needs either 'module' (a P4 module on a switch), "
        "'vnf' (a VNF behind a proxy) or 'node' (srv6: an End on a Linux SRv6 node)",
    ),
]


Dataplane = Literal["sr-mpls", "srv6"]


class Srv6Options(Strict):
    """An SRv6 chain's ends (inventory `srv6_nodes`): the head end classifies and pushes the segment list
    (H.Encaps); the tail's decapsulating SID is the list's last segment. The tail's behaviour: End.DX4
    (decapsulate, send the inner IPv4 packet to `next_hop`) or End.DT6 (decapsulate, look the inner IPv6
    packet up in the main table). Linux's End.DT4 needs a VRF device (and the vrf module), so it is not
    offered."""

    tail: Name
    decap: Literal["end.dx4", "end.dt6"] = "end.dx4"
    next_hop: str | None = None  # end.dx4: the inner packets' IPv4 next hop behind the tail
    # the head end's encapsulation: H.Encaps (RFC 8986 5.1) or H.Encaps.Red (5.2: the first segment only in the DA,
    # not in the SRH); iproute2's `encap seg6 mode encap|encap.red`, the P4 classifier's encaps_<n>|encaps_red_<n>
    encap: Literal["encap", "encap.red"] = "encap"

    @field_validator("next_hop")
    @classmethod
    def _nh4(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            return str(ipaddress.IPv4Address(v))
        except ValueError:
            raise ValueError(f"'{v}' is not an IPv4 address") from None

    @model_validator(mode="after")
    def _decap(self) -> Srv6Options:
        if self.decap == "end.dx4" and self.next_hop is None:
            raise ValueError("decap end.dx4 needs 'next_hop' (the IPv4 next hop the tail sends inner packets to)")
        if self.decap == "end.dt6" and self.next_hop is not None:
            raise ValueError("'next_hop' is for end.dx4; end.dt6 routes by the main table")
        return self


class ChainSpec(Strict):
    chain: Name
    description: str = ""
    dataplane: Dataplane = "sr-mpls"
    srv6: Srv6Options | None = None  # srv6 chains only
    sr_block: SrBlock = SrBlock()
    msd: int = Field(8, ge=1, le=16, description="maximum label stack depth the switches parse; srv6: segments")
    # pushed by the switches (classifier, reports) and restored by static proxy SIDs: the proxy's TTL type;
    # srv6: the hop limit of the outer IPv6 header End.AS rebuilds (its type is the same range)
    ttl: px.Ttl = Field(px.TTL_DEFAULT, description="MPLS TTL of pushed labels; srv6: outer hop limit")
    classifier: Classifier
    segments: list[Segment] = Field(min_length=1)
