"""A classifier rule's match as the P4 classifier's ternary key (both profiles' `classifier.rules`)."""

from __future__ import annotations

import ipaddress

from srchain.model.spec import Match, Ternary
from srchain.plan.model import Key
from srchain.plan.model import Ternary as TernaryKey


def ternary_ip(prefix: str | None) -> TernaryKey:
    if prefix is None:
        return {"value": "0.0.0.0", "mask": "0.0.0.0"}
    net = ipaddress.IPv4Network(prefix)
    return {"value": str(net.network_address), "mask": str(net.netmask)}


def ternary_int(v: int | Ternary | None, width: int) -> TernaryKey:
    if v is None:
        return {"value": 0, "mask": 0}
    if isinstance(v, Ternary):
        return {"value": v.value, "mask": v.mask}
    return {"value": v, "mask": (1 << width) - 1}


def bucket_key(buckets: list[int], total: int) -> TernaryKey:
    """Ternary match on the lb bucket: one entry per bucket, or a wildcard when all buckets agree."""
    if len(buckets) == total:
        return {"value": 0, "mask": 0}
    assert len(buckets) == 1
    return {"value": buckets[0], "mask": total - 1}


def match_key(m: Match) -> Key:
    return {
        "ig_port": ternary_int(m.ingress_port, 9),
        "src_addr": ternary_ip(m.src),
        "dst_addr": ternary_ip(m.dst),
        "protocol": ternary_int(m.protocol if isinstance(m.protocol, int) else None, 8),
        "src_port": ternary_int(m.src_port, 16),
        "dst_port": ternary_int(m.dst_port, 16),
    }
