"""bf-rt.json for a compiled program, in bf-p4c's schema (what BF Runtime clients parse).

Ids are stable: a type prefix in the top byte and 24 bits of a hash of the qualified name, like bf-p4c.
"""

from __future__ import annotations

import hashlib

from .interp import runtime as R
from .interp.pipeline import Pipeline

ID_TABLE = 0x02
ID_ACTION = 0x01
ID_COUNTER = 0x12
ID_REGISTER = 0x16
ID_DIGEST = 0x17

MATCH_PRIORITY_ID = 65537
COUNTER_BYTES_ID = 65553
COUNTER_PKTS_ID = 65554
MATCH_TYPES = {"exact": "Exact", "ternary": "Ternary", "lpm": "LPM", "range": "Range"}


class _Ids:
    def __init__(self) -> None:
        self.used: dict[int, str] = {}
        self.by_name: dict[tuple[int, str], int] = {}

    def get(self, prefix: int, name: str) -> int:
        key = (prefix, name)
        if key in self.by_name:
            return self.by_name[key]
        h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") & 0xFFFFFF
        ident = (prefix << 24) | h
        while ident in self.used:  # extremely rare; deterministic because names are visited in order
            ident = (prefix << 24) | ((ident + 1) & 0xFFFFFF)
        self.used[ident] = name
        self.by_name[key] = ident
        return ident


def _bytes(width: int) -> dict:
    return {"type": "bytes", "width": width}


def _field(fid: int, name: str, ftype: dict, *, mandatory: bool, repeated: bool = False) -> dict:
    return {"id": fid, "name": name, "repeated": repeated, "mandatory": mandatory, "read_only": False,
            "annotations": [], "type": ftype}


def _strip_pipe(qual: str) -> str:
    return qual.split(".", 1)[1] if "." in qual else qual


def table_json(t: R.Table, ids: _Ids) -> dict:
    keys = []
    for i, k in enumerate(t.keys, start=1):
        keys.append({"id": i, "name": k.name, "repeated": False, "annotations": [], "mandatory": False,
                     "match_type": MATCH_TYPES[k.match_kind], "type": _bytes(k.width)})
    if any(k.match_kind in ("ternary", "range") for k in t.keys):
        keys.append({"id": MATCH_PRIORITY_ID, "name": "$MATCH_PRIORITY", "repeated": False, "annotations": [],
                     "mandatory": False, "match_type": "Exact",
                     "type": {"type": "uint32", "default_value": 0}})
    specs = []
    for a in t.actions.values():
        data = [_field(j, n, _bytes(w), mandatory=True) for j, (n, w) in enumerate(a.params, start=1)]
        anns = [{"name": "@defaultonly"}] if a.scope == "DefaultOnly" else []
        if a.scope == "TableOnly":
            anns = [{"name": "@tableonly"}]
        specs.append({"id": ids.get(ID_ACTION, a.name), "name": a.name, "action_scope": a.scope,
                      "annotations": anns, "data": data})
    data = []
    if t.has_counter:
        for fid, name in ((COUNTER_BYTES_ID, "$COUNTER_SPEC_BYTES"), (COUNTER_PKTS_ID, "$COUNTER_SPEC_PKTS")):
            data.append({"mandatory": False, "read_only": False,
                         "singleton": {"id": fid, "name": name, "repeated": False, "annotations": [],
                                       "type": {"type": "uint64", "default_value": 0}}})
    return {
        "name": t.name, "id": ids.get(ID_TABLE, t.name), "table_type": "MatchAction_Direct", "size": t.size,
        "annotations": [], "depends_on": [], "has_const_default_action": t.const_default,
        "is_const_table": t.is_const, "key": keys, "action_specs": specs, "data": data,
        "supported_operations": ["SyncCounters"] if t.has_counter else [],
        "attributes": ["EntryScope"],
    }


def register_json(r: R.RegisterArray, ids: _Ids) -> dict:
    prefix = _strip_pipe(r.name)
    data = []
    for i, (fname, width) in enumerate(r.fields, start=1):
        data.append({"mandatory": False, "read_only": False,
                     "singleton": {"id": i, "name": f"{prefix}.{fname}", "repeated": True, "annotations": [],
                                   "type": _bytes(width)}})
    return {
        "name": r.name, "id": ids.get(ID_REGISTER, r.name), "table_type": "Register", "size": r.size,
        "annotations": [], "depends_on": [], "has_const_default_action": False,
        "key": [{"id": 1, "name": "$REGISTER_INDEX", "repeated": False, "annotations": [], "mandatory": True,
                 "match_type": "Exact", "type": {"type": "uint32"}}],
        "action_specs": [], "data": data, "supported_operations": ["Sync"], "attributes": [],
    }


def counter_json(c: R.CounterArray, ids: _Ids) -> dict:
    data = []
    if c.kind in ("BYTES", "PACKETS_AND_BYTES"):
        data.append((COUNTER_BYTES_ID, "$COUNTER_SPEC_BYTES"))
    if c.kind in ("PACKETS", "PACKETS_AND_BYTES"):
        data.append((COUNTER_PKTS_ID, "$COUNTER_SPEC_PKTS"))
    return {
        "name": c.name, "id": ids.get(ID_COUNTER, c.name), "table_type": "Counter", "size": c.size,
        "annotations": [], "depends_on": [], "has_const_default_action": False,
        "key": [{"id": 1, "name": "$COUNTER_INDEX", "repeated": False, "annotations": [], "mandatory": True,
                 "match_type": "Exact", "type": {"type": "uint32"}}],
        "action_specs": [],
        "data": [{"mandatory": False, "read_only": False,
                  "singleton": {"id": fid, "name": n, "repeated": False, "annotations": [],
                                "type": {"type": "uint64", "default_value": 0}}} for fid, n in data],
        "supported_operations": ["Sync"], "attributes": [],
    }


def digest_json(d: R.DigestInfo, ids: _Ids) -> dict:
    fields = [{"id": i, "name": n, "repeated": False, "annotations": [], "type": _bytes(w)}
              for i, (n, w) in enumerate(d.fields, start=1)]
    return {"name": d.name, "id": ids.get(ID_DIGEST, d.name), "annotations": [], "fields": fields}


def bfrt_info(pipeline: Pipeline) -> dict:
    """The bf-rt.json document of a loaded program."""
    ids = _Ids()
    tables = [table_json(t, ids) for t in pipeline.tables.values()]
    tables += [register_json(r, ids) for r in pipeline.registers.values()]
    tables += [counter_json(c, ids) for c in pipeline.counters.values()]
    learn = [digest_json(d, ids) for d in pipeline.digest_infos.values()]
    return {"schema_version": "1.0.0", "tables": tables, "learn_filters": learn}
