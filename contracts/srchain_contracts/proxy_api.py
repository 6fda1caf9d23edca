"""The SR proxy's entry contract: SID entries and VNF attachments, their limits, defaults and JSON shape.

Defined once and used by all three parties: the proxy validates its config file, its state file and every
control-API body with these models; the planner builds its proxy entries through them; the chain spec takes
its VNF-segment limits and defaults from them (so a spec that plans is a spec the proxy accepts). The limits
and why they are what they are: docs/proxy.md ("SID entry fields").

Integers are strict: JSON `true`, `64.0` or `"64"` is refused, never read as 1 or 64.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator
from pydantic_core import PydanticUndefined

FIRST_UNRESERVED_LABEL = 16  # RFC 3032: labels 0-15 are reserved
MAX_LABEL = (1 << 20) - 1

# A restored or pushed label must survive the next switch: the SR node drops a top label that arrives with
# TTL <= 1 (p4/control/sr.p4, `ttl_expired`), so TTL 1 would restore a stack that is dropped one hop later.
TTL_MIN = 2
TTL_MAX = 255
TTL_DEFAULT = 64

# The flow cache (flowcache.py) is an LRU of Python objects, about 300 bytes a flow: the largest cache is
# ~5 GiB per SID and worker. The bound refuses a typo, the operator sizes the cache to the memory.
CACHE_SIZE_MAX = 1 << 24
CACHE_SIZE_DEFAULT = 65536

# Whole seconds: idle flows are swept once a second, a finer timeout would promise a precision it lacks.
IDLE_TIMEOUT_MAX_S = 86400
IDLE_TIMEOUT_DEFAULT_S = 300

VNF_NAME_MAX = 64
VLAN_MIN, VLAN_MAX = 1, 4094

Label = Annotated[int, Strict(), Field(ge=FIRST_UNRESERVED_LABEL, le=MAX_LABEL)]
Ttl = Annotated[int, Strict(), Field(ge=TTL_MIN, le=TTL_MAX)]
CacheSize = Annotated[int, Strict(), Field(ge=1, le=CACHE_SIZE_MAX)]
IdleTimeout = Annotated[int, Strict(), Field(ge=1, le=IDLE_TIMEOUT_MAX_S)]
Version = Annotated[int, Strict(), Field(ge=0)]
Vlan = Annotated[int, Strict(), Field(ge=VLAN_MIN, le=VLAN_MAX)]
VnfName = Annotated[str, Field(min_length=1, max_length=VNF_NAME_MAX)]
Behaviour = Literal["static", "dynamic"]
ReturnMatch = Literal["same", "reverse", "either"]
MissPolicy = Literal["drop", "fallback"]

# The fields of each behaviour, in the order the planner writes them (entry params, without `sid`/`version`).
BEHAVIOUR_FIELDS: dict[str, tuple[str, ...]] = {
    "static": ("vnf", "restore", "ttl"),
    "dynamic": ("vnf", "return_match", "miss_policy", "cache_size", "idle_timeout_s", "fallback"),
}

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,15}$")


def check_mac(value: str | None) -> str | None:
    if value is not None and not _MAC.match(value):
        raise ValueError(f"{value!r} is not a MAC address like 02:00:00:00:00:01")
    return value.lower() if value else value


def check_ifname(value: str | None) -> str | None:
    if value is not None and not _IFNAME.match(value):
        raise ValueError(f"{value!r} is not an interface name (1-15 chars of A-Za-z0-9_.@-)")
    return value


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SidEntry(_Contract):
    """One proxy SID: what the proxy does with a packet that arrives with this label on top."""

    sid: Label
    behaviour: Behaviour
    vnf: VnfName
    version: Version = 1
    # static (ttl also for a dynamic SID's fallback stack)
    restore: list[list[Label]] | None = None
    ttl: Ttl = TTL_DEFAULT
    # dynamic
    return_match: ReturnMatch = "same"
    miss_policy: MissPolicy = "drop"
    fallback: list[Label] | None = None
    cache_size: CacheSize = CACHE_SIZE_DEFAULT
    idle_timeout_s: IdleTimeout = IDLE_TIMEOUT_DEFAULT_S

    @model_validator(mode="after")
    def _behaviour_fields(self) -> SidEntry:
        if self.behaviour == "static":
            if not self.restore:
                raise ValueError("restore: a static SID needs at least one label list")
            if any(not stack for stack in self.restore):
                raise ValueError("restore: label lists must not be empty")
        if self.behaviour == "dynamic" and self.miss_policy == "fallback" and not self.fallback:
            raise ValueError("fallback: miss_policy 'fallback' needs a non-empty fallback label list")
        return self

    def params(self) -> dict[str, Any]:
        """The behaviour's fields that are set, as the planner writes them into a `sid` entry."""
        return {k: v for k in BEHAVIOUR_FIELDS[self.behaviour] if (v := getattr(self, k)) is not None}


def sid_defaults(behaviour: str) -> dict[str, Any]:
    """Each field of `behaviour` with the value the proxy uses when it is omitted (None: no default)."""
    out = {}
    for name in BEHAVIOUR_FIELDS.get(behaviour, ()):
        default = SidEntry.model_fields[name].default
        out[name] = None if default is PydanticUndefined else default
    return out


class Attachment(_Contract):
    """How the proxy reaches one VNF: a shared interface or one per direction, and an L3 next hop or a MAC."""

    vnf: VnfName
    iface: str | None = None
    iface_out: str | None = None  # proxy -> VNF
    iface_in: str | None = None  # VNF -> proxy
    next_hop: str | None = None
    mac: str | None = None  # destination MAC when there is no next_hop (default: broadcast, for L2 VNFs)
    vlan: Vlan | None = None

    _ifname = field_validator("iface", "iface_out", "iface_in")(check_ifname)
    _mac = field_validator("mac")(check_mac)

    @field_validator("next_hop")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address") from None
        return value

    @model_validator(mode="after")
    def _ifaces(self) -> Attachment:
        if self.iface and (self.iface_in or self.iface_out):
            raise ValueError("iface: give either iface (shared) or iface_out + iface_in, not both")
        if not self.iface and not (self.iface_in and self.iface_out):
            raise ValueError("iface: give iface (shared) or both iface_out and iface_in")
        if self.next_hop and self.mac:
            raise ValueError("mac: give either next_hop (resolved) or mac, not both")
        return self

    def params(self) -> dict[str, Any]:
        """The fields that are set, without `vnf` (the entry's key), as the planner writes them."""
        return self.model_dump(exclude_none=True, exclude={"vnf"})

    def out_ifname(self) -> str:
        return self._sub(self.iface_out or self.iface or "")

    def in_ifname(self) -> str:
        return self._sub(self.iface_in or self.iface or "")

    def _sub(self, base: str) -> str:
        # VLAN attachments use the kernel sub-interface "<iface>.<vlan>" (created by the operator).
        return f"{base}.{self.vlan}" if self.vlan else base


ATTACHMENT_FIELDS = tuple(name for name in Attachment.model_fields if name != "vnf")


# ---- SRv6 (issue 19): proxy SIDs that are IPv6 addresses -------------------------------------------------
# The behaviours of draft-ietf-spring-sr-service-programming §6: End.AS (static), End.AD (dynamic), End.AM
# (masquerading). docs/proxy.md ("SRv6") has what each does with a packet and every counter.

Srv6Behaviour = Literal["end.as", "end.ad", "end.am"]
# End.AD's cache: "iface" is the draft's C(IFACE-IN), one learned header per VNF attachment and SID (the
# last packet in wins); "flow" is per inner 5-tuple, VPP's End.AD.Flow and the SR-MPLS dynamic SID's cache.
Srv6CacheKey = Literal["iface", "flow"]
HOP_LIMIT_MIN, HOP_LIMIT_MAX = 2, 255  # a restored header with hop limit 1 dies at the next router
# A rebuilt SRH must fit in front of the VNF's packet in the attachment ring's headroom (engine.HEADROOM,
# 132 bytes): outer IPv6 (40) + SRH (8 + 16 a segment) + the SR side's VLAN tag (4) -> 5 segments.
SRV6_SEGMENTS_MAX = 5

Srv6HopLimit = Annotated[int, Strict(), Field(ge=HOP_LIMIT_MIN, le=HOP_LIMIT_MAX)]
Srv6SegmentsLeft = Annotated[int, Strict(), Field(ge=0, le=SRV6_SEGMENTS_MAX - 1)]

SRV6_BEHAVIOUR_FIELDS: dict[str, tuple[str, ...]] = {
    "end.as": ("vnf", "source", "segments", "segments_left", "hop_limit"),
    "end.ad": ("vnf", "cache_key", "return_match", "cache_size", "idle_timeout_s"),
    "end.am": ("vnf",),
}


def check_srv6_address(value: str, where: str = "") -> str:
    """A unicast IPv6 address in its compressed form (one spelling per address: the entry's key)."""
    try:
        addr = ipaddress.IPv6Address(value)
    except ValueError:
        raise ValueError(f"{where}{value!r} is not an IPv6 address") from None
    if addr.is_multicast or addr.is_unspecified or addr.is_loopback or addr.ipv4_mapped is not None:
        raise ValueError(f"{where}{value!r} is not a unicast IPv6 address usable as a SID")
    return addr.compressed


class Srv6SidEntry(_Contract):
    """One SRv6 proxy SID: what the proxy does with a packet whose IPv6 destination is this address."""

    sid: str
    behaviour: Srv6Behaviour
    vnf: VnfName
    version: Version = 1
    # end.as: the outer IPv6 source and the segment lists to re-encapsulate with, each in travel order
    # (first = the next segment after the proxy, as `ip -6 route ... encap seg6 ... segs A,B`), one per
    # load-balancing bucket; segments_left of the rebuilt SRH (default: the list's length - 1, DA = first)
    source: str | None = None
    segments: list[list[str]] | None = None
    segments_left: Srv6SegmentsLeft | None = None
    hop_limit: Srv6HopLimit = TTL_DEFAULT
    # end.ad
    cache_key: Srv6CacheKey = "iface"
    return_match: ReturnMatch = "same"
    cache_size: CacheSize = CACHE_SIZE_DEFAULT
    idle_timeout_s: IdleTimeout = IDLE_TIMEOUT_DEFAULT_S

    @field_validator("sid", "source")
    @classmethod
    def _addr(cls, value: str | None) -> str | None:
        return None if value is None else check_srv6_address(value)

    @field_validator("segments")
    @classmethod
    def _segs(cls, value: list[list[str]] | None) -> list[list[str]] | None:
        if value is None:
            return None
        out = []
        for i, seglist in enumerate(value):
            if not seglist:
                raise ValueError(f"segments[{i}]: a segment list must not be empty")
            if len(seglist) > SRV6_SEGMENTS_MAX:
                raise ValueError(f"segments[{i}]: {len(seglist)} segments exceed {SRV6_SEGMENTS_MAX}")
            out.append([check_srv6_address(s, f"segments[{i}]: ") for s in seglist])
        return out

    @model_validator(mode="after")
    def _behaviour_fields(self) -> Srv6SidEntry:
        if self.behaviour == "end.as":
            if not self.segments:
                raise ValueError("segments: an end.as SID needs at least one segment list")
            if self.source is None:
                raise ValueError("source: an end.as SID needs the outer IPv6 source address")
            if self.segments_left is not None:
                for i, seglist in enumerate(self.segments):
                    if self.segments_left >= len(seglist):
                        raise ValueError(f"segments_left: {self.segments_left} needs more than the "
                                         f"{len(seglist)} segments of segments[{i}]")
        return self

    def params(self) -> dict[str, Any]:
        """The behaviour's fields that are set, as a planner writes them."""
        return {k: v for k in SRV6_BEHAVIOUR_FIELDS[self.behaviour] if (v := getattr(self, k)) is not None}
