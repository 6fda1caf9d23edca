"""The fixed table `$mirror.cfg`: its BF Runtime schema as the SDE serves it for a Tofino 1
(bf_rt_mirror_tf1.json: key `$sid`, actions `$coalescing` 1 and `$normal` 2, the session's settings as common
data fields 5-23) and the decoding of one write into a MirrorSession.

What a session does in the data plane (interp/pipeline.py `_mirror`): an enabled session of the packet's
direction sends one copy to its unicast port (`$ucast_egress_port_valid`) and one per port of its multicast
groups (`$mcast_grp_a/_b` when `_valid`, with `$mcast_rid`, level-1 exclusion by `$mcast_l1_xid`), truncated
to `$max_pkt_len`. Stored and read back without a data-plane effect (the emulator has no queues per mirror
copy, no CoS, no colour-based drop and no multicast hash choice among LAG members): `$egress_port_queue`,
`$ingress_cos`, `$packet_color`, `$level1_mcast_hash`, `$level2_mcast_hash`, `$mcast_l2_xid` (level-2 pruning
needs `$pre.prune`, not served: no port is pruned) and `$icos_for_copy_to_cpu`. Refused: `$copy_to_cpu` true
(no CPU copy path) and the `$coalescing` action (coalesced mirroring).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from srchain_contracts.bfrt import bfruntime_pb2 as pb

from .interp import runtime as R

MIRROR_CFG = "$mirror.cfg"
MIRROR_CFG_ID = 0xFF040001  # bf_rt_mirror_tf1.json
COALESCING_ID, NORMAL_ID = 1, 2

# id -> (name, type, width or choices, the MirrorSession attribute): the common data of bf_rt_mirror_tf1.json
FIELDS: dict[int, tuple[str, str, Any, str]] = {
    5: ("$session_enable", "bool", None, "enabled"),
    6: ("$direction", "string", ["INGRESS", "EGRESS", "BOTH"], "direction"),
    7: ("$ucast_egress_port", "uint32", 32, "egress_port"),
    8: ("$ucast_egress_port_valid", "bool", None, "ucast_valid"),
    9: ("$egress_port_queue", "uint32", 32, "egress_port_queue"),
    10: ("$ingress_cos", "uint32", 32, "ingress_cos"),
    11: ("$packet_color", "string", ["GREEN", "YELLOW", "RED"], "packet_color"),
    12: ("$level1_mcast_hash", "uint32", 32, "level1_mcast_hash"),
    13: ("$level2_mcast_hash", "uint32", 32, "level2_mcast_hash"),
    14: ("$mcast_grp_a", "uint16", 16, "mcast_grp_a"),
    15: ("$mcast_grp_a_valid", "bool", None, "mcast_grp_a_valid"),
    16: ("$mcast_grp_b", "uint16", 16, "mcast_grp_b"),
    17: ("$mcast_grp_b_valid", "bool", None, "mcast_grp_b_valid"),
    18: ("$mcast_l1_xid", "uint16", 16, "mcast_l1_xid"),
    19: ("$mcast_l2_xid", "uint16", 16, "mcast_l2_xid"),
    20: ("$mcast_rid", "uint16", 16, "mcast_rid"),
    21: ("$icos_for_copy_to_cpu", "uint32", 32, "icos_for_copy_to_cpu"),
    22: ("$copy_to_cpu", "bool", None, "copy_to_cpu"),
    23: ("$max_pkt_len", "uint16", 16, "max_pkt_len"),
}


class MirrorCfgError(ValueError):
    """A refused write; `unsupported` marks what the emulator does not model (UNIMPLEMENTED)."""

    def __init__(self, message: str, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


def _singleton(fid: int, name: str, ftype: str, extra: Any = None) -> dict[str, object]:
    t: dict[str, object] = {"type": ftype}
    if ftype == "string":
        t["choices"] = extra
    elif ftype == "bytes":
        t["width"] = extra
    return {"mandatory": False, "read_only": False,
            "singleton": {"id": fid, "name": name, "repeated": False, "annotations": [], "type": t}}


def schema() -> dict[str, object]:
    coalescing = [_singleton(1, "$internal_header", "bytes", 128), _singleton(2, "$internal_header_length", "uint32"),
                  _singleton(3, "$timeout_usec", "uint32"), _singleton(4, "$extract_len", "uint32")]
    return {
        "name": MIRROR_CFG, "id": MIRROR_CFG_ID, "table_type": "MirrorCfg", "size": 1024,
        "annotations": [], "depends_on": [], "has_const_default_action": False,
        "key": [{"id": 1, "name": "$sid", "repeated": False, "annotations": [], "mandatory": True,
                 "match_type": "Exact", "type": {"type": "uint16"}}],
        "action_specs": [{"id": COALESCING_ID, "name": "$coalescing", "action_scope": "TableAndDefault",
                          "annotations": [], "data": coalescing},
                         {"id": NORMAL_ID, "name": "$normal", "action_scope": "TableAndDefault", "annotations": [],
                          "data": []}],
        "data": [_singleton(fid, name, ftype, extra) for fid, (name, ftype, extra, _attr) in FIELDS.items()],
        "supported_operations": [], "attributes": [],
    }


def decode(data: pb.TableData, base: R.MirrorSession | None) -> R.MirrorSession:
    """The session a write makes: `base`'s settings (a MODIFY changes the fields it gives, the SDE's fields being
    optional) or a new session's (enabled, BOTH directions, no unicast port, no group, no truncation)."""
    if data.action_id == COALESCING_ID:
        raise MirrorCfgError("$mirror.cfg: the $coalescing action (coalesced mirroring) is not modelled by the "
                             "emulator", unsupported=True)
    if data.action_id not in (0, NORMAL_ID):
        raise MirrorCfgError(f"$mirror.cfg: no action id {data.action_id} ($normal is {NORMAL_ID})")
    s = dataclasses.replace(base) if base is not None else R.MirrorSession(egress_port=0, ucast_valid=False)
    for f in data.fields:
        spec = FIELDS.get(f.field_id)
        if spec is None:
            raise MirrorCfgError(f"$mirror.cfg: no data field id {f.field_id}")
        name, ftype, extra, attr = spec
        value: object
        if ftype == "bool":
            value = f.bool_val
        elif ftype == "string":
            if f.str_val not in extra:
                raise MirrorCfgError(f"$mirror.cfg: {name} {f.str_val!r} is none of {', '.join(extra)}")
            value = f.str_val
        else:
            value = int.from_bytes(f.stream, "big")
            if value >= 1 << extra:
                raise MirrorCfgError(f"$mirror.cfg: {name} {value} does not fit {extra} bits")
        setattr(s, attr, value)
    if s.copy_to_cpu:
        raise MirrorCfgError("$mirror.cfg: $copy_to_cpu (a copy to the CPU port) is not modelled by the emulator",
                             unsupported=True)
    return s


def encode(sid: int, s: R.MirrorSession) -> pb.TableEntry:
    msg = pb.TableEntry(table_id=MIRROR_CFG_ID)
    msg.key.fields.add(field_id=1).exact.value = sid.to_bytes(2, "big")
    msg.data.action_id = NORMAL_ID
    for fid, (_name, ftype, extra, attr) in FIELDS.items():
        value = getattr(s, attr)
        if ftype == "bool":
            msg.data.fields.add(field_id=fid, bool_val=value)
        elif ftype == "string":
            msg.data.fields.add(field_id=fid, str_val=value)
        else:
            msg.data.fields.add(field_id=fid, stream=value.to_bytes(extra // 8, "big"))
    return msg
