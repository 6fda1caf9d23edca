"""The SDE's `bfrt_grpc.client` vocabulary over the project's client, and the choice between the two.

On a switch with the SDE, `load_gc()` returns the SDE's own module (`PYTHONPATH=$SDE_INSTALL/lib/
python3.x/site-packages/tofino`); anywhere else it returns this module, which offers the same names
(ClientInterface, Target, KeyTuple, DataTuple, bfrt_info_get → table_get → make_key/make_data,
entry_add/entry_mod/entry_add_or_mod/entry_del/entry_get, default_entry_set) so code written against
the SDE vocabulary runs unchanged against the emulator. Only the subset the project uses is here.
"""

from __future__ import annotations

import importlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, SupportsInt

from srchain_contracts.bfrt import bfruntime_pb2 as pb

from .client import BfrtClient, BfrtError, WireData, WireKey, WireRead
from .schema import TableInfo

SetReq = pb.SetForwardingPipelineConfigRequest
BfruntimeRpcException = BfrtError  # the SDE's exception name


def load_gc(prefer_sde: bool = True) -> ModuleType:
    """The SDE's bfrt_grpc.client when importable (and preferred), else this module."""
    if prefer_sde:
        try:
            return importlib.import_module("bfrt_grpc.client")
        except ImportError:
            pass
    return importlib.import_module(__name__)


def is_sde(gc: ModuleType) -> bool:
    return gc.__name__ != __name__


@dataclass
class Target:
    device_id: int = 0
    pipe_id: int = 0xFFFF
    direction: int = 0xFF
    prsr_id: int = 0xFF


@dataclass
class KeyTuple:
    name: str
    value: Any = None
    mask: Any = None
    prefix_len: int | None = None
    low: Any = None
    high: Any = None
    is_valid: bool | None = None


@dataclass
class DataTuple:
    name: str
    val: Any = None
    float_val: float | None = None
    str_val: str | None = None
    int_arr_val: list[int] | None = None
    bool_arr_val: list[bool] | None = None
    bool_val: bool | None = None


@dataclass
class ForwardingConfig:
    p4_name: str
    bfrt_json_path: str
    profile_info_list: list[ProfileInfo] = field(default_factory=list)


@dataclass
class ProfileInfo:
    profile_name: str
    context_json_path: str
    binary_path: str
    pipe_scope: list[int] = field(default_factory=lambda: [0, 1, 2, 3])


class _Key:
    def __init__(self, fields: dict[str, WireKey], kinds: dict[str, tuple[str, str]]) -> None:
        self.fields = fields  # name -> int | (value, mask) | (value, prefix_len) | (low, high)
        self.kinds = kinds  # name -> names of the pair's parts, as the SDE's to_dict() spells them

    def to_dict(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for name, v in self.fields.items():
            parts = self.kinds.get(name, ("value", "mask"))
            out[name] = {"value": v} if isinstance(v, int) else dict(zip(parts, v, strict=True))
        return out


class _Data:
    def __init__(self, action_name: str | None, fields: dict[str, WireRead], is_default: bool = False) -> None:
        self.action_name = action_name
        self.fields = fields
        self.is_default = is_default

    def to_dict(self) -> dict[str, object]:
        return {**self.fields, "action_name": self.action_name, "is_default_entry": self.is_default}

    def writable(self) -> dict[str, WireData]:
        """The fields as a write takes them. A list is an array field's value (`$pre.*`); the client refuses it
        for a single-valued field (a register cell read back per pipe cannot be written as is)."""
        return dict(self.fields)


class _TableInfo:
    def __init__(self, table: TableInfo) -> None:
        self.table = table
        self.annotations: dict[str, str] = {}

    def key_field_annotation_add(self, field_name: str, annotation: str) -> None:
        if annotation not in ("mac", "ipv4"):
            raise BfrtError(f"annotation {annotation!r} is not supported (mac, ipv4)", "INVALID_ARGUMENT")
        self.annotations[field_name] = annotation

    def name_get(self) -> str:
        return self.table.name


def _scalar(v: object, annotation: str | None) -> int:
    if isinstance(v, str):
        if annotation == "mac" or (annotation is None and v.count(":") == 5):
            return int(v.replace(":", ""), 16)
        return int(ipaddress.IPv4Address(v))
    if not isinstance(v, SupportsInt):
        raise BfrtError(f"{v!r} is not a number, a MAC or an IPv4 address", "INVALID_ARGUMENT")
    return int(v)


class _Table:
    def __init__(self, iface: ClientInterface, table: TableInfo) -> None:
        self._iface = iface
        self._client = iface.client
        self.info = _TableInfo(table)
        self._match = {k.name: k.match_type for k in table.keys}
        pairs = {"LPM": ("value", "prefix_len"), "Range": ("low", "high")}
        self._kinds = {n: pairs[mt] for n, mt in self._match.items() if mt in pairs}

    def make_key(self, key_field_list: list[KeyTuple]) -> _Key:
        fields: dict[str, WireKey] = {}
        for kt in key_field_list:
            ann = self.info.annotations.get(kt.name)
            mt = self._match.get(kt.name)
            if mt is None:
                raise BfrtError(f"table {self.info.name_get()} has no key field {kt.name}", "INVALID_ARGUMENT")
            if mt == "Ternary":
                fields[kt.name] = (_scalar(kt.value, ann), _scalar(kt.mask, ann))
            elif mt == "LPM":
                fields[kt.name] = (_scalar(kt.value, ann), int(kt.prefix_len or 0))
            elif mt == "Range":
                fields[kt.name] = (_scalar(kt.low, ann), _scalar(kt.high, ann))
            else:
                fields[kt.name] = _scalar(kt.value, ann)
        return _Key(fields, self._kinds)

    def make_data(self, data_field_list: list[DataTuple], action_name: str | None = None) -> _Data:
        fields: dict[str, WireRead] = {}
        for dt in data_field_list:
            if dt.val is not None:
                fields[dt.name] = _scalar(dt.val, None)
            elif dt.bool_val is not None:
                fields[dt.name] = dt.bool_val
            elif dt.str_val is not None:
                fields[dt.name] = dt.str_val
            elif dt.int_arr_val is not None:
                fields[dt.name] = [int(x) for x in dt.int_arr_val]
            elif dt.bool_arr_val is not None:
                fields[dt.name] = [bool(x) for x in dt.bool_arr_val]
            else:
                raise BfrtError(f"data field {dt.name}: no val, bool_val, str_val, int_arr_val or bool_arr_val given",
                                "INVALID_ARGUMENT")
        return _Data(action_name, fields)

    def _write(self, kind: pb.Update.Type.ValueType, key_list: list[_Key] | None,
               data_list: list[_Data] | None) -> None:
        name = self.info.name_get()
        keys = key_list or []
        datas: list[_Data | None] = list(data_list) if data_list else [None] * len(keys)
        if len(datas) != len(keys):
            raise BfrtError(f"{name}: {len(keys)} keys but {len(datas)} data", "INVALID_ARGUMENT")
        updates = [self._client.make_update(kind, name, k.fields, d.action_name if d else None,
                                            d.writable() if d else None)
                   for k, d in zip(keys, datas, strict=True)]
        if not keys and kind == pb.Update.DELETE:
            updates = [self._client.make_update(kind, name, None)]
        self._client.write(updates)

    def entry_add(self, target: Target, key_list: list[_Key] | None = None,
                  data_list: list[_Data] | None = None) -> None:
        self._write(pb.Update.INSERT, key_list, data_list)

    def entry_mod(self, target: Target, key_list: list[_Key] | None = None,
                  data_list: list[_Data] | None = None) -> None:
        self._write(pb.Update.MODIFY, key_list, data_list)

    def entry_add_or_mod(self, target: Target, key_list: list[_Key] | None = None,
                         data_list: list[_Data] | None = None) -> None:
        self._write(pb.Update.INSERT_OR_MODIFY, key_list, data_list)

    def entry_del(self, target: Target, key_list: list[_Key] | None = None) -> None:
        """Delete the given entries; with no keys, every entry (as the SDE does)."""
        self._write(pb.Update.DELETE, key_list, None)

    def entry_get(self, target: Target, key_list: list[_Key] | None = None,
                  flags: dict[str, object] | None = None) -> Iterator[tuple[_Data, _Key]]:
        name = self.info.name_get()
        keys: list[_Key | None] = list(key_list) if key_list else [None]
        from_hw = bool((flags or {}).get("from_hw", True))  # the SDE client's default: the hardware's state
        pipe = None if target.pipe_id == 0xFFFF else target.pipe_id
        for k in keys:
            for e in self._client.entries(name, k.fields if k is not None else None, pipe=pipe, from_hw=from_hw):
                yield _Data(e.action, e.data, e.is_default), _Key(dict(e.key), self._kinds)

    def default_entry_set(self, target: Target, data: _Data) -> None:
        self._client.set_default(self.info.name_get(), data.action_name or "", data.writable())

    def default_entry_reset(self, target: Target) -> None:
        self._client.reset_default(self.info.name_get())


class _BfRtInfo:
    def __init__(self, iface: ClientInterface, p4_name: str) -> None:
        self._iface = iface
        self._p4_name = p4_name

    def p4_name_get(self) -> str:
        return self._p4_name

    def table_name_list_get(self) -> list[str]:
        return sorted(self._iface.client.schema().tables)

    def table_get(self, name: str) -> _Table:
        return _Table(self._iface, self._iface.client.table(name))


class ClientInterface:
    """Session: channel, stream, subscribe (retried `num_tries` times, `timeout` apart)."""

    def __init__(self, grpc_addr: str, client_id: int = 0, device_id: int = 0, notifications: Any = None,
                 timeout: float = 1, num_tries: int = 5, perform_subscribe: bool = True,
                 **kwargs: Any) -> None:
        if perform_subscribe:
            self.client = BfrtClient.connect(grpc_addr, attempts=num_tries, backoff=timeout, client_id=client_id,
                                             device_id=device_id, **kwargs)
        else:
            self.client = BfrtClient(grpc_addr, client_id=client_id, device_id=device_id, **kwargs)

    def bind_pipeline_config(self, p4_name: str) -> None:
        self.client.bind(p4_name)

    def bfrt_info_get(self, p4_name: str | None = None) -> _BfRtInfo:
        names = [c.p4_name for c in self.client.pipeline().config]
        if p4_name is None:
            if not names:
                raise BfrtError("no program is loaded", "NOT_FOUND")
            p4_name = names[0]
        elif p4_name not in names:
            raise BfrtError(f"program {p4_name} is not loaded", "NOT_FOUND")
        return _BfRtInfo(self, p4_name)

    def send_set_forwarding_pipeline_config_request(self, action: int = SetReq.VERIFY_AND_WARM_INIT_BEGIN_AND_END,
                                                    base_path: str = "",
                                                    forwarding_config_list: list[ForwardingConfig] | None = None,
                                                    dev_init_mode: int = SetReq.FAST_RECONFIG) -> None:
        if action != SetReq.VERIFY_AND_WARM_INIT_BEGIN_AND_END or len(forwarding_config_list or []) != 1:
            raise BfrtError("this client pushes one program with VERIFY_AND_WARM_INIT_BEGIN_AND_END", "UNIMPLEMENTED")
        cfg = (forwarding_config_list or [])[0]
        prof = cfg.profile_info_list[0]
        if Path(prof.context_json_path).parent.parent != Path(cfg.bfrt_json_path).parent:
            raise BfrtError("expects the bf-p4c layout: OUT/bf-rt.json, OUT/<profile>/context.json", "INVALID_ARGUMENT")
        self.client.push_program(cfg.p4_name, Path(cfg.bfrt_json_path).parent, prof.profile_name)

    def tear_down_stream(self) -> None:
        self.client.close()
