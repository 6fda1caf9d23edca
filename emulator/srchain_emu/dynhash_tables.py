"""BF Runtime side of dynamic hashing (interp/dynhash.py) and of `<selector>_get_member`.

The SDE serves `<hash>.configure` and `<hash>.algorithm` as keyless tables written through their default
entry (default_entry_set = MODIFY, default_entry_reset = DELETE, default_entry_get = a read with
is_default_entry), `<hash>.compute` and `<selector>_get_member` as read-only tables read by key
(bf_rt_p4_table_impl.cpp BfRtDynHashCfgTable / BfRtDynHashAlgoTable / BfRtDynHashComputeTable /
BfRtSelectorGetMemberTable). Everything else on them is refused with a message.
"""

from __future__ import annotations

from collections.abc import Callable

from srchain_contracts.bfrt import bfruntime_pb2 as pb

from .bfrt_device import DeviceError, TableMap
from .bfrt_schema import (
    DYN_EXTEND_ID,
    DYN_HASH_VALUE_ID,
    DYN_LENGTH_ID,
    DYN_MSB_ID,
    DYN_ORDER_ID,
    DYN_PREDEFINED_ID,
    DYN_ROTATE_ID,
    DYN_SEED_ID,
    DYN_START_BIT_ID,
    DYN_USER_DEFINED_ID,
    DYN_USER_FIELDS,
    GET_MEMBER_GROUP_ID,
    GET_MEMBER_MEMBER_ID,
)
from .interp import dynhash as DH
from .interp import runtime as R

KINDS = frozenset({"dynhash_cfg", "dynhash_algo", "dynhash_compute", "sel_member"})
Undo = Callable[[], None]
_USER_IDS = {fid: name for name, (fid, _) in DYN_USER_FIELDS.items()}


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _refuse(msg: str, code: str = "INVALID_ARGUMENT") -> DeviceError:
    return DeviceError(code, msg)


def apply(tm: TableMap, te: pb.TableEntry, utype: pb.Update.Type.ValueType, undo: list[Undo]) -> None:
    """One write to a dynamic hashing table (its default entry) or a refusal."""
    if tm.kind in ("dynhash_compute", "sel_member"):
        raise _refuse(f"{tm.name} is read-only: read an entry by key", "PERMISSION_DENIED")
    dh: DH.DynHash = tm.obj  # type: ignore[assignment]
    kind = pb.Update.Type.Name(utype)
    if not te.is_default_entry or te.key.fields or kind not in ("MODIFY", "DELETE"):
        raise _refuse(f"{tm.name} is keyless: set its default entry (default_entry_set) or reset it "
                      "(default_entry_reset)")
    before = (dh.slices, dh.algorithm, dh.rotate, dh.seed)

    def restore() -> None:
        dh.slices, dh.algorithm, dh.rotate, dh.seed = before
        dh.set_seed(before[3])

    try:
        if tm.kind == "dynhash_cfg":
            dh.configure(None if kind == "DELETE" else _slices(tm.name, dh, te.data))
        elif kind == "DELETE":
            dh.set_algorithm(None, 0)
        else:
            _set_algorithm(tm.name, dh, te.data)
    except DH.DynHashError as exc:
        restore()
        raise _refuse(f"{tm.name}: {exc}") from None
    undo.append(restore)


def _slices(name: str, dh: DH.DynHash, data: pb.TableData) -> tuple[DH.Slice, ...] | None:
    """The configure default entry's slices (None: an empty list, which resets, as the SDE does)."""
    if data.action_id:
        raise DH.DynHashError("the table has no actions")
    out: list[DH.Slice] = []
    for f in data.fields:
        if not 1 <= f.field_id <= len(dh.fields):
            raise DH.DynHashError(f"no field with id {f.field_id}")
        if f.WhichOneof("value") != "container_arr_val":
            raise DH.DynHashError(f"{dh.fields[f.field_id - 1][0]}: the value is a list of "
                                  "{start_bit, length, order} containers")
        for c in f.container_arr_val.container:
            vals: dict[int, int] = {}
            for inner in c.val:
                if inner.field_id not in (DYN_START_BIT_ID, DYN_LENGTH_ID, DYN_ORDER_ID):
                    raise DH.DynHashError(f"no container field with id {inner.field_id}")
                if inner.WhichOneof("value") == "stream":  # a field sent without a value takes its default
                    vals[inner.field_id] = _int(inner.stream)
            if DYN_ORDER_ID not in vals:
                raise DH.DynHashError(f"{dh.fields[f.field_id - 1][0]}: `order` is mandatory")
            out.append(DH.Slice(f.field_id - 1, vals.get(DYN_START_BIT_ID, 0), vals.get(DYN_LENGTH_ID, 0),
                                vals[DYN_ORDER_ID]))
    if not out:
        return None
    return dh.check_slices(out)


def _set_algorithm(name: str, dh: DH.DynHash, data: pb.TableData) -> None:
    """pre_defined / user_defined (with msb, extend, rotate) and/or a seed (BfRtDynHashAlgoTable)."""
    common: dict[int, pb.DataField] = {}
    user: dict[str, pb.DataField] = {}
    algo_name: str | None = None
    for f in data.fields:
        if f.field_id in (DYN_ROTATE_ID, DYN_SEED_ID, DYN_MSB_ID, DYN_EXTEND_ID):
            common[f.field_id] = f
        elif data.action_id == DYN_PREDEFINED_ID and f.field_id == 1:
            algo_name = f.str_val
        elif data.action_id == DYN_USER_DEFINED_ID and f.field_id in _USER_IDS:
            user[_USER_IDS[f.field_id]] = f
        else:
            raise DH.DynHashError(f"no data field with id {f.field_id} (action id {data.action_id})")
    msb = common[DYN_MSB_ID].bool_val if DYN_MSB_ID in common else False
    extend = common[DYN_EXTEND_ID].bool_val if DYN_EXTEND_ID in common else False
    rotate = _int(common[DYN_ROTATE_ID].stream) if DYN_ROTATE_ID in common else 0
    seed = _int(common[DYN_SEED_ID].stream) if DYN_SEED_ID in common else None
    algorithm: DH.Algorithm | None = None
    if data.action_id == DYN_PREDEFINED_ID:
        if algo_name is None:
            raise DH.DynHashError("pre_defined needs algorithm_name")
        algorithm = DH.predefined(algo_name, dh.width, msb, extend)
    elif data.action_id == DYN_USER_DEFINED_ID:
        if "polynomial" not in user:
            raise DH.DynHashError("user_defined needs polynomial")
        width = _int(user["hash_bit_width"].stream) if "hash_bit_width" in user else dh.width
        algorithm = DH.user_defined(width, _int(user["polynomial"].stream),
                                    user["reverse"].bool_val if "reverse" in user else False,
                                    _int(user["init"].stream) if "init" in user else 0,
                                    _int(user["final_xor"].stream) if "final_xor" in user else 0, msb, extend)
    elif data.action_id:
        raise DH.DynHashError(f"no action with id {data.action_id} (pre_defined, user_defined)")
    elif set(common) - {DYN_SEED_ID}:
        raise DH.DynHashError("rotate, msb and extend go with an algorithm: name pre_defined or user_defined")
    if algorithm is not None:
        dh.set_algorithm(algorithm, rotate)
    if seed is not None:
        dh.set_seed(seed)


def read(tm: TableMap, te: pb.TableEntry) -> list[pb.TableEntry]:
    """A dynamic hashing table's default entry, a compute result or a get_member answer."""
    if tm.kind == "sel_member":
        return [_get_member(tm, te)]
    dh: DH.DynHash = tm.obj  # type: ignore[assignment]
    if tm.kind == "dynhash_compute":
        if not te.key.fields:
            raise _refuse(f"{tm.name}: read an entry by key (the field values to hash)")
        values = [0] * len(dh.fields)
        for k in te.key.fields:
            if not 1 <= k.field_id <= len(dh.fields):
                raise _refuse(f"{tm.name}: no key field with id {k.field_id}")
            values[k.field_id - 1] = _int(k.exact.value)
        msg = pb.TableEntry(table_id=te.table_id)
        msg.key.CopyFrom(te.key)
        h = dh.compute(tuple(values))
        msg.data.fields.add(field_id=DYN_HASH_VALUE_ID, stream=h.to_bytes((dh.width + 7) // 8, "big"))
        return [msg]
    if te.key.fields:
        raise _refuse(f"{tm.name} is keyless: read its default entry")
    msg = pb.TableEntry(table_id=te.table_id, is_default_entry=True)
    if tm.kind == "dynhash_cfg":
        slices = dh.current_slices()
        for i in range(len(dh.fields)):
            f = msg.data.fields.add(field_id=i + 1)
            mine = [s for s in slices if s.field == i] or [DH.Slice(i, 0, dh.fields[i][1], 0)]
            for s in mine:
                c = f.container_arr_val.container.add()
                for fid, v in ((DYN_START_BIT_ID, s.start), (DYN_LENGTH_ID, s.length), (DYN_ORDER_ID, s.order)):
                    c.val.add(field_id=fid, stream=v.to_bytes(8, "big"))
        return [msg]
    alg = dh.current_algorithm()
    seed = dh.default_seed() if dh.seed is None else dh.seed
    msg.data.fields.add(field_id=DYN_ROTATE_ID, stream=dh.rotate.to_bytes(4, "big"))
    msg.data.fields.add(field_id=DYN_SEED_ID, stream=(seed & 0xFFFFFFFF).to_bytes(4, "big"))  # a uint32 field
    msg.data.fields.add(field_id=DYN_MSB_ID, bool_val=alg.msb)
    msg.data.fields.add(field_id=DYN_EXTEND_ID, bool_val=alg.extend)
    if alg.name:
        msg.data.action_id = DYN_PREDEFINED_ID
        msg.data.fields.add(field_id=1, str_val=alg.name.upper())
    else:
        msg.data.action_id = DYN_USER_DEFINED_ID
        msg.data.fields.add(field_id=DYN_USER_FIELDS["reverse"][0], bool_val=alg.reverse)
        for n, v in (("polynomial", alg.poly), ("init", alg.init), ("final_xor", alg.final_xor),
                     ("hash_bit_width", alg.width)):
            msg.data.fields.add(field_id=DYN_USER_FIELDS[n][0], stream=v.to_bytes(8, "big"))
    return [msg]


def _get_member(tm: TableMap, te: pb.TableEntry) -> pb.TableEntry:
    """The member a group's selection picks for a selector hash value (SelectorGroup.pick's choice)."""
    sel: R.ActionSelector = tm.obj  # type: ignore[assignment]
    keys = {k.field_id: _int(k.exact.value) for k in te.key.fields}
    if set(keys) != {GET_MEMBER_GROUP_ID, DYN_HASH_VALUE_ID}:
        raise _refuse(f"{tm.name}: read by key $SELECTOR_GROUP_ID and hash_value")
    g = sel.groups.get(keys[GET_MEMBER_GROUP_ID])
    if g is None:
        raise R.EntryNotFound(f"{sel.name}: no group {keys[GET_MEMBER_GROUP_ID]}")
    active = [m for m, on in zip(g.members, g.status, strict=True) if on]
    if not active:
        raise R.EntryNotFound(f"{sel.name}: group {keys[GET_MEMBER_GROUP_ID]} has no active member")
    msg = pb.TableEntry(table_id=te.table_id)
    msg.key.CopyFrom(te.key)
    msg.data.fields.add(field_id=GET_MEMBER_MEMBER_ID,
                        stream=active[keys[DYN_HASH_VALUE_ID] % len(active)].to_bytes(8, "big"))
    return msg
