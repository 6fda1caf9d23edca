"""bf-rt.json for a compiled program, in bf-p4c's schema (what BF Runtime clients parse).

Ids are stable: a type prefix in the top byte and 24 bits of a hash of the qualified name, like bf-p4c.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .idletime import ENTRY_HIT_STATE_ID, ENTRY_TTL_ID, HIT_STATES
from .interp import runtime as R
from .interp.dynhash import ALGORITHM_NAMES, DynHash
from .interp.pipeline import Pipeline

ID_TABLE = 0x02
ID_ACTION = 0x01
ID_COUNTER = 0x12
ID_REGISTER = 0x16
ID_DIGEST = 0x17
ID_ACTION_PROFILE = 0x11
ID_METER = 0x14
ID_REGISTER_PARAM = 0x8D  # bf-p4c's RegisterParam ids carry this prefix (e.g. 0x8db44dd5)
ID_VALUE_SET = 0xFE  # bf-p4c's ParserValueSet ids carry this prefix (e.g. 0xfec4f45a)
ID_PORT_METADATA = 0x90  # bf-p4c's $PORT_METADATA ids carry this prefix (e.g. 0x909b7958)
ID_DYN_CONFIGURE = 0x95  # bf-p4c's DynHashConfigure / DynHashCompute / DynHashAlgorithm / SelectorGetMember ids
ID_DYN_COMPUTE = 0x96
ID_DYN_ALGORITHM = 0x97
ID_SEL_GET_MEMBER = 0x9A

# Fixed ($-named) field ids as bf-p4c numbers them (control-plane/bfruntime.h TDDataFieldIds, bfruntime_ext.h)
MATCH_PRIORITY_ID = 65537
ACTION_MEMBER_ID = 65539
SELECTOR_GROUP_ID = 65540
ACTION_MEMBER_STATUS_ID = 65564
MAX_GROUP_SIZE_ID = 65565
METER_SPEC_IDS = {"BYTES": (65545, 65546, 65547, 65548), "PACKETS": (65549, 65550, 65551, 65552)}
METER_SPEC_NAMES = {"BYTES": ("$METER_SPEC_CIR_KBPS", "$METER_SPEC_PIR_KBPS", "$METER_SPEC_CBS_KBITS",
                              "$METER_SPEC_PBS_KBITS"),
                    "PACKETS": ("$METER_SPEC_CIR_PPS", "$METER_SPEC_PIR_PPS", "$METER_SPEC_CBS_PKTS",
                                "$METER_SPEC_PBS_PKTS")}
COUNTER_BYTES_ID = 65553
COUNTER_PKTS_ID = 65554
METER_INDEX_ID = 65555
LPF_INDEX_ID = 65560
WRED_INDEX_ID = 65561
# (id, name, bf-rt type) of the LPF / WRED spec fields (bf-p4c bfruntime.cpp addLpfDataFields / addWredDataFields)
SpecFields = tuple[tuple[int, str, dict[str, Any]], ...]
LPF_SPEC: SpecFields = ((65567, "$LPF_SPEC_TYPE", {"type": "string", "choices": ["RATE", "SAMPLE"]}),
            (65568, "$LPF_SPEC_GAIN_TIME_CONSTANT_NS", {"type": "float"}),
            (65569, "$LPF_SPEC_DECAY_TIME_CONSTANT_NS", {"type": "float"}),
            (65570, "$LPF_SPEC_OUT_SCALE_DOWN_FACTOR", {"type": "uint32"}))
WRED_SPEC: SpecFields = ((65571, "$WRED_SPEC_TIME_CONSTANT_NS", {"type": "float"}),
             (65572, "$WRED_SPEC_MIN_THRESH_CELLS", {"type": "uint32"}),
             (65573, "$WRED_SPEC_MAX_THRESH_CELLS", {"type": "uint32"}),
             (65574, "$WRED_SPEC_MAX_PROBABILITY", {"type": "float"}))
PORT_METADATA_PORT_ID = 65575  # $PORT_METADATA key ig_intr_md.ingress_port
PORT_METADATA_DEFAULT_ID = 65576  # $DEFAULT_FIELD: the whole phase-0 value
PORT_METADATA_SIZE = 288  # bf-p4c's size for Tofino 1 (4 pipes x 72 ports)
# dynamic hashing and SelectorGetMember field ids (bf-p4c bfruntime_ext.cpp)
DYN_ROTATE_ID, DYN_SEED_ID, DYN_MSB_ID, DYN_EXTEND_ID = 65577, 65578, 65579, 65580
DYN_PREDEFINED_ID, DYN_USER_DEFINED_ID = 65581, 65582
DYN_HASH_VALUE_ID = 65583
DYN_START_BIT_ID, DYN_LENGTH_ID, DYN_ORDER_ID = 65584, 65585, 65586
GET_MEMBER_GROUP_ID, GET_MEMBER_MEMBER_ID = 65563, 65562
# user_defined's data: name -> (id, bf-rt type)
DYN_USER_FIELDS: dict[str, tuple[int, dict[str, Any]]] = {
    "reverse": (1, {"type": "bool", "default_value": False}), "polynomial": (2, {"type": "uint64"}),
    "init": (3, {"type": "uint64", "default_value": 0}), "final_xor": (4, {"type": "uint64", "default_value": 0}),
    "hash_bit_width": (5, {"type": "uint64"})}
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


def _singleton(fid: int, name: str, ftype: dict, *, mandatory: bool = False, repeated: bool = False) -> dict:
    return {"mandatory": mandatory, "read_only": False,
            "singleton": {"id": fid, "name": name, "repeated": repeated, "annotations": [], "type": ftype}}


def meter_spec_data(unit: str) -> list[dict]:
    """The four $METER_SPEC_* data fields of a meter (bf-p4c bfruntime.cpp addMeterDataFields)."""
    return [_singleton(fid, name, {"type": "uint64", "default_value": R.METER_UNSET})
            for fid, name in zip(METER_SPEC_IDS[unit], METER_SPEC_NAMES[unit], strict=True)]


def table_json(t: R.Table, ids: _Ids) -> dict:
    keys = []
    for i, k in enumerate(t.keys, start=1):
        keys.append({"id": i, "name": k.name, "repeated": False, "annotations": [], "mandatory": False,
                     "match_type": k.bfrt_match or MATCH_TYPES[k.match_kind], "type": _bytes(k.width)})
    if any(k.match_kind in ("ternary", "range") for k in t.keys):
        keys.append({"id": MATCH_PRIORITY_ID, "name": "$MATCH_PRIORITY", "repeated": False, "annotations": [],
                     "mandatory": False, "match_type": "Exact",
                     "type": {"type": "uint32", "default_value": 0}})
    specs = []
    for a in t.actions.values() if t.profile is None else ():
        adata = [_field(j, n, _bytes(w), mandatory=True) for j, (n, w) in enumerate(a.params, start=1)]
        anns = [{"name": "@defaultonly"}] if a.scope == "DefaultOnly" else []
        if a.scope == "TableOnly":
            anns = [{"name": "@tableonly"}]
        specs.append({"id": ids.get(ID_ACTION, a.name), "name": a.name, "action_scope": a.scope,
                      "annotations": anns, "data": adata})
    data: list[dict] = []
    ttype, depends = "MatchAction_Direct", []
    member = {"id": ACTION_MEMBER_ID, "name": "$ACTION_MEMBER_ID", "repeated": False, "annotations": [],
              "type": {"type": "uint32"}}
    if t.selector is not None:
        ttype = "MatchAction_Indirect_Selector"
        depends = [ids.get(ID_ACTION_PROFILE, t.selector.name), ids.get(ID_ACTION_PROFILE, t.selector.profile.name)]
        data.append({"mandatory": True, "read_only": False, "oneof": [
            member, {"id": SELECTOR_GROUP_ID, "name": "$SELECTOR_GROUP_ID", "repeated": False, "annotations": [],
                     "type": {"type": "uint32"}}]})
    elif t.profile is not None:
        ttype = "MatchAction_Indirect"
        depends = [ids.get(ID_ACTION_PROFILE, t.profile.name)]
        data.append({"mandatory": True, "read_only": False, "singleton": member})
    if t.has_counter:
        for fid, name in ((COUNTER_BYTES_ID, "$COUNTER_SPEC_BYTES"), (COUNTER_PKTS_ID, "$COUNTER_SPEC_PKTS")):
            data.append(_singleton(fid, name, {"type": "uint64", "default_value": 0}))
    if t.meter_unit is not None:
        data += meter_spec_data(t.meter_unit)
    if t.dfilter is not None:
        data += [_singleton(fid, n, ft, mandatory=True) for fid, n, ft in
                 (LPF_SPEC if t.dfilter.kind == "Lpf" else WRED_SPEC)]
    ops = ["SyncCounters"] if t.has_counter else []
    if t.dreg is not None:  # after the action parameters' ids, as bf-p4c numbers them
        prefix = _strip_pipe(t.dreg.name)
        for fid, (fname, width) in direct_register_ids(t).items():
            # not mandatory: an entry may leave its register cell at the initial value, and the SDE client checks
            # a read-back value against this flag (it arrives as int_arr_val, one per pipe, not as a scalar)
            data.append({"mandatory": False, "read_only": False, "singleton": {
                "id": fid, "name": f"{prefix}.{fname}", "repeated": False,
                "annotations": [{"name": "$bfrt_field_class", "value": "register_data"}], "type": _bytes(width)}})
        ops.append("SyncRegisters")
    if t.idle is not None:  # bf-p4c bfruntime.cpp: the hit state, then the TTL, both optional
        data.append(_singleton(ENTRY_HIT_STATE_ID, "$ENTRY_HIT_STATE", {"type": "string", "choices": list(HIT_STATES)}))
        data.append(_singleton(ENTRY_TTL_ID, "$ENTRY_TTL", {"type": "uint32", "default_value": 0}))
        ops.append("UpdateHitState")
    return {
        "name": t.name, "id": ids.get(ID_TABLE, t.name), "table_type": ttype, "size": t.size,
        "annotations": [], "depends_on": depends, "has_const_default_action": t.const_default,
        "is_const_table": t.is_const, "key": keys, "action_specs": specs, "data": data,
        "supported_operations": ops,
        # bf-p4c bfruntime.cpp's order: direct resources', EntryScope, DynamicKeyMask, IdleTimeout
        "attributes": (["MeterByteCountAdjust"] if t.meter_unit is not None else []) + ["EntryScope"]
        + (["DynamicKeyMask"] if t.key_mask is not None else []) + (["IdleTimeout"] if t.idle is not None else []),
    }


def direct_register_ids(t: R.Table) -> dict[int, tuple[str, int]]:
    """A DirectRegister's data field ids in its table: after the largest action's parameters (bf-p4c)."""
    assert t.dreg is not None
    first = 1 + max((len(a.params) for a in t.actions.values()), default=0)
    return {first + i: f for i, f in enumerate(t.dreg.fields)}


def filter_json(f: R.LpfArray | R.WredArray, ids: _Ids) -> dict:
    lpf = isinstance(f, R.LpfArray)
    return {
        "name": f.name, "id": ids.get(ID_METER, f.name), "table_type": "Lpf" if lpf else "Wred", "size": f.size,
        "annotations": [], "depends_on": [],
        "key": _index_key(LPF_INDEX_ID, "$LPF_INDEX") if lpf else _index_key(WRED_INDEX_ID, "$WRED_INDEX"),
        "data": [_singleton(fid, n, ft, mandatory=True) for fid, n, ft in (LPF_SPEC if lpf else WRED_SPEC)],
        "supported_operations": [], "attributes": [], "action_specs": [],
    }


def value_set_json(vs: R.ValueSet, ids: _Ids) -> dict:
    return {
        "name": vs.name, "id": ids.get(ID_VALUE_SET, vs.name), "table_type": "ParserValueSet", "size": vs.size,
        "annotations": [], "depends_on": [],
        "key": [{"id": i, "name": n, "repeated": False, "annotations": [], "mandatory": False, "match_type": "Ternary",
                 "type": _bytes(w)} for i, (n, w) in enumerate(vs.fields, start=1)],
        "data": [], "supported_operations": [], "attributes": ["EntryScope"],
    }


def register_param_json(rp: R.RegisterParam, ids: _Ids) -> dict:
    return {
        "name": rp.name, "id": ids.get(ID_REGISTER_PARAM, rp.name), "table_type": "RegisterParam", "size": 1,
        "annotations": [], "depends_on": [ids.get(ID_REGISTER, r) for r in rp.registers], "key": [],
        "data": [_singleton(1, "value", {**_bytes(rp.width), "default_value": rp.initial}, mandatory=True)],
        "attributes": [], "supported_operations": [],
    }


def _index_key(fid: int, name: str) -> list[dict]:
    return [{"id": fid, "name": name, "repeated": False, "annotations": [], "mandatory": True,
             "match_type": "Exact", "type": {"type": "uint32"}}]


def meter_json(m: R.MeterArray, ids: _Ids) -> dict:
    return {
        "name": m.name, "id": ids.get(ID_METER, m.name), "table_type": "Meter", "size": m.size,
        "annotations": [], "depends_on": [], "key": _index_key(METER_INDEX_ID, "$METER_INDEX"),
        "data": meter_spec_data(m.unit), "supported_operations": [], "attributes": ["MeterByteCountAdjust"],
        "action_specs": [],
    }


def profile_json(p: R.ActionProfile, ids: _Ids) -> dict:
    specs = [{"id": ids.get(ID_ACTION, a.name), "name": a.name, "action_scope": "TableAndDefault",
              "annotations": [], "data": [_field(j, n, _bytes(w), mandatory=True)
                                          for j, (n, w) in enumerate(a.params, start=1)]}
             for a in p.actions.values()]
    return {
        "name": p.name, "id": ids.get(ID_ACTION_PROFILE, p.name), "table_type": "Action", "size": p.size,
        "annotations": [], "depends_on": [], "key": _index_key(ACTION_MEMBER_ID, "$ACTION_MEMBER_ID"),
        "action_specs": specs, "data": [], "supported_operations": [], "attributes": [],
    }


def selector_json(s: R.ActionSelector, ids: _Ids) -> dict:
    return {
        "name": s.name, "id": ids.get(ID_ACTION_PROFILE, s.name), "table_type": "Selector", "size": s.num_groups,
        "annotations": [], "depends_on": [ids.get(ID_ACTION_PROFILE, s.profile.name)],
        "key": _index_key(SELECTOR_GROUP_ID, "$SELECTOR_GROUP_ID"),
        "data": [_singleton(ACTION_MEMBER_ID, "$ACTION_MEMBER_ID", {"type": "uint32"}, repeated=True),
                 _singleton(ACTION_MEMBER_STATUS_ID, "$ACTION_MEMBER_STATUS", {"type": "bool"}, repeated=True),
                 _singleton(MAX_GROUP_SIZE_ID, "$MAX_GROUP_SIZE",
                            {"type": "uint32", "default_value": s.max_group_size})],
        "supported_operations": [], "attributes": [], "action_specs": [],
    }


def register_json(r: R.RegisterArray, ids: _Ids) -> dict:
    prefix = _strip_pipe(r.name)
    data = []
    for i, (fname, width) in enumerate(r.fields, start=1):
        # written as one value (stream), read as one per pipe (int_arr_val): bf-p4c marks them by this annotation,
        # not as repeated (the SDE client sends a repeated field's int as an array and refuses a scalar)
        data.append({"mandatory": False, "read_only": False,
                     "singleton": {"id": i, "name": f"{prefix}.{fname}", "repeated": False,
                                   "annotations": [{"name": "$bfrt_field_class", "value": "register_data"}],
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


def port_metadata_json(pm: R.PortMetadata, ids: _Ids) -> dict:
    """bf-p4c's PortMetadata table: the port_metadata_unpack struct's fields (ids 1.., mandatory), or one
    64-bit `$DEFAULT_FIELD` when the program does not unpack a struct."""
    if pm.fields:
        data = [_singleton(i, n, _bytes(w), mandatory=True) for i, (n, w) in enumerate(pm.fields, start=1)]
    else:
        data = [_singleton(PORT_METADATA_DEFAULT_ID, "$DEFAULT_FIELD", _bytes(R.PORT_METADATA_BYTES * 8))]
    return {
        "name": pm.name, "id": ids.get(ID_PORT_METADATA, pm.name), "table_type": "PortMetadata",
        "size": PORT_METADATA_SIZE, "annotations": [], "depends_on": [],
        "key": [{"id": PORT_METADATA_PORT_ID, "name": "ig_intr_md.ingress_port", "repeated": False,
                 "annotations": [], "mandatory": True, "match_type": "Exact", "type": _bytes(9)}],
        "data": data, "supported_operations": [], "attributes": [],
    }


def dynhash_json(dh: DynHash, ids: _Ids) -> list[dict]:
    """bf-p4c's three tables of a Hash used through get(): `.configure` (one repeated container of
    start_bit/length/order per get() field), `.algorithm` (keyless; pre_defined / user_defined actions) and the
    read-only `.compute` (the fields as keys, `hash_value` as data)."""
    cfg_id = ids.get(ID_DYN_CONFIGURE, f"{dh.name}.configure")

    def inner(fid: int, name: str, ftype: dict, mandatory: bool = False) -> dict:
        return {"mandatory": mandatory, "read_only": False,
                "singleton": {"id": fid, "name": name, "repeated": False, "annotations": [], "type": ftype}}

    cfg_data = [{"mandatory": False, "read_only": False, "singleton": {
        "id": i, "name": n, "repeated": True, "annotations": [], "container": [
            inner(DYN_START_BIT_ID, "start_bit", {"type": "uint64", "default_value": 0}),
            inner(DYN_LENGTH_ID, "length", {"type": "uint64", "default_value": w}),
            inner(DYN_ORDER_ID, "order", {"type": "uint64"}, mandatory=True)]}}
        for i, (n, w) in enumerate(dh.fields, start=1)]
    configure = {"name": f"{dh.name}.configure", "id": cfg_id, "table_type": "DynHashConfigure", "size": 1,
                 "annotations": [], "depends_on": [], "key": [], "data": cfg_data, "supported_operations": [],
                 "attributes": []}
    algo_data = [inner(DYN_ROTATE_ID, "rotate", {"type": "uint32", "default_value": 0}),
                 inner(DYN_SEED_ID, "seed", {"type": "uint32", "default_value": 0}),
                 inner(DYN_MSB_ID, "msb", {"type": "bool", "default_value": False}),
                 inner(DYN_EXTEND_ID, "extend", {"type": "bool", "default_value": False})]
    specs = [{"id": DYN_PREDEFINED_ID, "name": "pre_defined", "action_scope": "TableAndDefault", "annotations": [],
              "data": [_field(1, "algorithm_name", {"type": "string", "choices": ALGORITHM_NAMES,
                                                    "default_value": "RANDOM"}, mandatory=False)]},
             {"id": DYN_USER_DEFINED_ID, "name": "user_defined", "action_scope": "TableAndDefault",
              "annotations": [], "data": [_field(fid, n, ft, mandatory=n == "polynomial")
                                          for n, (fid, ft) in DYN_USER_FIELDS.items()]}]
    algorithm = {"name": f"{dh.name}.algorithm", "id": ids.get(ID_DYN_ALGORITHM, f"{dh.name}.algorithm"),
                 "table_type": "DynHashAlgorithm", "size": 1, "annotations": [], "depends_on": [cfg_id], "key": [],
                 "data": algo_data, "action_specs": specs, "supported_operations": [], "attributes": []}
    compute = {"name": f"{dh.name}.compute", "id": ids.get(ID_DYN_COMPUTE, f"{dh.name}.compute"),
               "table_type": "DynHashCompute", "size": 1, "annotations": [], "depends_on": [cfg_id],
               "key": [{"id": i, "name": n, "repeated": False, "annotations": [], "mandatory": False,
                        "match_type": "Exact", "type": _bytes(w)} for i, (n, w) in enumerate(dh.fields, start=1)],
               "data": [{"mandatory": False, "read_only": True, "singleton": {
                   "id": DYN_HASH_VALUE_ID, "name": "hash_value", "repeated": False, "annotations": [],
                   "type": _bytes(dh.width)}}],
               "supported_operations": [], "attributes": [], "read_only": True}
    return [algorithm, configure, compute]


def selector_get_member_json(s: R.ActionSelector, ids: _Ids) -> dict:
    """bf-p4c's `<selector>_get_member`: which member a group's selection picks for a hash value."""
    def key(fid: int, name: str) -> dict:
        return {"id": fid, "name": name, "repeated": False, "annotations": [], "mandatory": True,
                "match_type": "Exact", "type": {"type": "uint64"}}

    return {"name": f"{s.name}_get_member", "id": ids.get(ID_SEL_GET_MEMBER, f"{s.name}_get_member"),
            "table_type": "SelectorGetMember", "size": 1, "annotations": [],
            "depends_on": [ids.get(ID_ACTION_PROFILE, s.name)],
            "key": [key(GET_MEMBER_GROUP_ID, "$SELECTOR_GROUP_ID"), key(DYN_HASH_VALUE_ID, "hash_value")],
            "data": [_singleton(GET_MEMBER_MEMBER_ID, "$ACTION_MEMBER_ID", {"type": "uint64"})],
            "supported_operations": [], "attributes": []}


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
    tables += [meter_json(m, ids) for m in pipeline.meters.values()]
    tables += [profile_json(p, ids) for p in pipeline.profiles.values()]
    tables += [selector_json(s, ids) for s in pipeline.selectors.values()]
    tables += [selector_get_member_json(s, ids) for s in pipeline.selectors.values()]
    for dh in pipeline.dyn_hashes.values():
        tables += dynhash_json(dh, ids)
    tables += [register_param_json(rp, ids) for rp in pipeline.reg_params.values()]
    tables += [value_set_json(vs, ids) for vs in pipeline.value_sets.values()]
    tables += [filter_json(lpf, ids) for lpf in pipeline.lpfs.values()]
    tables += [filter_json(wred, ids) for wred in pipeline.wreds.values()]
    if pipeline.port_metadata.read:  # bf-p4c lists it always; a program that only advances past has no use for it
        tables.append(port_metadata_json(pipeline.port_metadata, ids))
    learn = [digest_json(d, ids) for d in pipeline.digest_infos.values()]
    return {"schema_version": "1.0.0", "tables": tables, "learn_filters": learn}
