"""A small BF Runtime gRPC client over the project's proto subset (works with the emulator and, being
wire-compatible, with bf_switchd). Tables, actions and fields are addressed by name; ids come from the
bf-rt.json the switch serves, parsed into typed objects (`schema()`, `table()`: srchain.bfrt.schema).
Names may be any unique dotted suffix (`forward`, `SwitchIngress.forward`).

Key values per match type: exact → int; ternary → (value, mask); lpm → (value, prefix_len);
range → (low, high). Data values are ints (bool/str for the fixed `$mirror.cfg` fields); a repeated field
(`$pre.node`/`$pre.mgid` arrays) takes a list: `int_arr_val`, or `bool_arr_val` for a bool field, and reads
back as a list.
`$MATCH_PRIORITY` may be given as a key field or through `priority=`.

Transport: plain TCP, a `unix:` path, or TLS (`TlsFiles`: CA, optional client cert/key). Calls that
cannot change state twice (Read, Get, BIND, subscribe) are retried with exponential back-off while
the switch is UNAVAILABLE; writes are not retried (a write may have landed; the caller decides).
"""

from __future__ import annotations

import operator
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import SupportsIndex, TypeVar

import grpc
from google.rpc import status_pb2

from srchain.bfrt.errors import BfrtError
from srchain.bfrt.schema import DataField, FieldType, Schema, TableInfo
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_contracts.bfrt import bfruntime_pb2_grpc as pb_grpc

__all__ = ["BfrtClient", "BfrtError", "Entry", "TlsFiles", "WireArray", "WireData", "WireKey", "WireRead", "WireScalar",
           "rpc_error_code"]

SetReq = pb.SetForwardingPipelineConfigRequest
WireKey = int | tuple[int, int]  # exact: int; ternary: (value, mask); lpm: (value, prefix_len); range: (low, high)
WireArray = list[int] | list[bool]  # a repeated field: int_arr_val, or bool_arr_val for a bool field ($pre.*)
# bool/str/float/bytes only for fields of that type ($mirror.cfg, $LPF_SPEC_*, the pktgen packet buffer)
WireScalar = int | bool | str | float | bytes
WireData = WireScalar | WireArray
WireRead = WireData  # a register cell reads back one value per pipe (a list[int])
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


@dataclass(frozen=True)
class TlsFiles:
    """TLS for a gRPC port behind TLS: the CA that signed the switch's certificate, and optionally a
    client certificate + key (mutual TLS). `server_name` overrides the name checked in the certificate."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.cert is None) != (self.key is None):
            raise BfrtError("TLS client certificate and key go together")
        return grpc.ssl_channel_credentials(
            root_certificates=Path(self.ca).read_bytes(),
            private_key=Path(self.key).read_bytes() if self.key else None,
            certificate_chain=Path(self.cert).read_bytes() if self.cert else None,
        )


RETRYABLE = frozenset({"UNAVAILABLE"})
PIPE_ALL = 0xFFFF  # BF Runtime target pipe_id for all pipes (BF_DEV_PIPE_ALL)


def _int(value: object, field: str) -> int:
    if type(value) is int:  # the common case first: a runtime-checked Protocol costs ~10 µs per isinstance
        return value
    if not isinstance(value, SupportsIndex):  # ints (and numpy ints), not floats or strings
        raise BfrtError(f"field {field}: {value!r} is not an integer", "INVALID_ARGUMENT")
    return operator.index(value)


def _enc(value: object, ftype: FieldType, field: str) -> bytes:
    number = _int(value, field)
    try:
        return number.to_bytes(ftype.byte_width, "big")
    except OverflowError:
        raise BfrtError(f"field {field}: value {number} does not fit {ftype.width} bits", "INVALID_ARGUMENT") \
            from None


def _enc_array(f: pb.DataField, values: list[int] | list[bool], d: DataField, field: str) -> None:
    """A repeated field's list: bool_arr_val for a bool field, else int_arr_val (uint32 elements, each checked
    against the field's width). The oneof is set even for an empty list (an empty array is a value)."""
    if not d.repeated:
        raise BfrtError(f"field {field} takes a single value, not a list", "INVALID_ARGUMENT")
    if d.type.name == "bool":
        bad = [v for v in values if type(v) is not bool]
        if bad:
            raise BfrtError(f"field {field}: {bad[0]!r} is not a bool", "INVALID_ARGUMENT")
        f.bool_arr_val.SetInParent()
        f.bool_arr_val.val.extend(bool(v) for v in values)
        return
    width = min(d.type.width, 32)  # IntArray is repeated uint32
    numbers = [_int(v, field) for v in values]
    for n in numbers:
        if not 0 <= n < 1 << width:
            raise BfrtError(f"field {field}: value {n} does not fit {width} bits", "INVALID_ARGUMENT")
    f.int_arr_val.SetInParent()
    f.int_arr_val.val.extend(numbers)


def rpc_error_code(exc: grpc.RpcError) -> str:
    """The status code's name; for a Write/Read that failed per update (UNKNOWN, as the SDE's server answers)
    the code of the first failed update, from the google.rpc.Status in the binary details."""
    code: str = exc.code().name
    if code != "UNKNOWN":
        return code
    for md in exc.trailing_metadata() or ():
        if md.key == "grpc-status-details-bin" and isinstance(md.value, bytes):
            st = status_pb2.Status.FromString(md.value)
            for detail in st.details:
                err = pb.Error()
                if detail.Unpack(err) and err.canonical_code:
                    return _CODE_NAMES.get(err.canonical_code, code)
    return code


_CODE_NAMES = {c.value[0]: c.name for c in grpc.StatusCode}


def _pair(value: object, field: str, match_type: str) -> tuple[object, object]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise BfrtError(f"key field {field} ({match_type}) takes a pair, got {value!r}", "INVALID_ARGUMENT")
    return value[0], value[1]


@dataclass
class Entry:
    key: dict[str, WireKey]
    action: str | None
    data: dict[str, WireRead]
    is_default: bool = False
    pipe: int | None = None  # the entry's target pipe where the server names one (entries of asymmetric tables)

    def key_int(self, name: str) -> int:
        """An exact key field's value (`$COUNTER_INDEX`, a label, ...)."""
        value = self.key[name]
        if not isinstance(value, int):
            raise BfrtError(f"key field {name} is {value!r}, not an exact value")
        return value

    def data_ints(self, name: str) -> list[int]:
        """An int array data field's values (`$DEV_PORT`, `$MULTICAST_NODE_ID`, a register cell per pipe)."""
        value = self.data.get(name)
        if not isinstance(value, list) or not all(type(v) is int for v in value):
            raise BfrtError(f"data field {name} is {value!r}, not an integer array")
        return [int(v) for v in value]

    def data_bools(self, name: str) -> list[bool]:
        """A bool array data field's values (`$MULTICAST_NODE_L1_XID_VALID`)."""
        value = self.data.get(name)
        if not isinstance(value, list) or not all(type(v) is bool for v in value):
            raise BfrtError(f"data field {name} is {value!r}, not a bool array")
        return [bool(v) for v in value]

    def data_int(self, name: str, default: int | None = None) -> int:
        """An integer data field's value (`default` when the entry has no such field)."""
        value = self.data.get(name, default)
        if not isinstance(value, int):
            raise BfrtError(f"data field {name} is {value!r}, not an integer")
        return value


class BfrtClient:
    def __init__(self, address: str, client_id: int = 0, device_id: int = 0, token: str | None = None,
                 timeout: float = 10.0, tls: TlsFiles | None = None, retries: int = 3,
                 backoff: float = 0.2) -> None:
        self.address = address
        self.client_id = client_id
        self.device_id = device_id
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.md: tuple[tuple[str, str], ...] = (("x-srchain-token", token),) if token else ()
        # A failed write's per-update errors come in the status trailer (one entry per update up to the last failed
        # one, as the SDE's server sends them): a batch failing late needs more than gRPC's 8 KB metadata default.
        opts: list[tuple[str, int | str]] = [("grpc.max_send_message_length", 1 << 30),
                                             ("grpc.max_receive_message_length", 1 << 30),
                                             ("grpc.max_metadata_size", 16 << 20),
                                             ("grpc.absolute_max_metadata_size", 16 << 20)]
        if tls is not None:
            if tls.server_name:
                opts.append(("grpc.ssl_target_name_override", tls.server_name))
            self.channel = grpc.secure_channel(address, tls.credentials(), options=opts)
        else:
            self.channel = grpc.insecure_channel(address, options=opts)
        self.stub = pb_grpc.BfRuntimeStub(self.channel)
        self._schema: Schema | None = None
        self._tables: dict[str, TableInfo] = {}  # name as asked -> table (suffix lookups are O(tables))
        self._data_fields: dict[tuple[int, str | None], tuple[int, dict[str, DataField]]] = {}  # -> (action id, fields)
        self._requests: queue.Queue[pb.StreamMessageRequest | None] = queue.Queue()
        self._stream_msgs: queue.Queue[pb.StreamMessageResponse | grpc.RpcError] = queue.Queue()
        self._digests: queue.Queue[pb.DigestList] = queue.Queue()
        self._idle: queue.Queue[pb.IdleTimeoutNotification] = queue.Queue()
        self._stream = self.stub.StreamChannel(iter(self._requests.get, None), metadata=self.md)
        self._reader = threading.Thread(target=self._read_stream, name="bfrt-client-stream", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------ session
    def _read_stream(self) -> None:
        try:
            for msg in self._stream:
                if msg.WhichOneof("update") == "digest":
                    self._digests.put(msg.digest)
                elif msg.WhichOneof("update") == "idle_timeout_notification":
                    self._idle.put(msg.idle_timeout_notification)
                else:
                    self._stream_msgs.put(msg)
        except grpc.RpcError as exc:
            self._stream_msgs.put(exc)

    def _next_stream(self, what: str) -> pb.StreamMessageResponse:
        try:
            msg = self._stream_msgs.get(timeout=self.timeout)
        except queue.Empty:
            raise BfrtError(f"timed out waiting for {what}", "DEADLINE_EXCEEDED") from None
        if isinstance(msg, grpc.RpcError):
            raise BfrtError(f"stream closed: {msg.details()}", msg.code().name)
        return msg

    @classmethod
    def connect(cls, address: str, *, attempts: int = 5, backoff: float = 0.2, learn: bool = False,
                client_id: int = 0, device_id: int = 0, token: str | None = None, timeout: float = 10.0,
                tls: TlsFiles | None = None, retries: int = 3) -> BfrtClient:
        """Open a session and subscribe, retrying with exponential back-off while the switch is not
        answering (it may be starting). Raises BfrtError naming the address after the last attempt."""
        delay = backoff
        for attempt in range(1, attempts + 1):
            client = cls(address, client_id=client_id, device_id=device_id, token=token, timeout=timeout, tls=tls,
                         retries=retries, backoff=backoff)
            try:
                client.subscribe(learn=learn)
                return client
            except BfrtError as exc:
                client.close()
                if attempt == attempts:
                    raise BfrtError(f"{address}: no BF Runtime session after {attempts} attempts: {exc}",
                                    "UNAVAILABLE") from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def subscribe(self, learn: bool = True, idle_timeouts: bool = False, entry_active: bool = False) -> None:
        """`idle_timeouts`: ENTRY_IDLE notifications of notify-mode idle tables; `entry_active`: ENTRY_ACTIVE too."""
        req = pb.StreamMessageRequest(client_id=self.client_id)
        req.subscribe.device_id = self.device_id
        req.subscribe.notifications.enable_learn_notifications = learn
        req.subscribe.notifications.enable_idletimeout_notifications = idle_timeouts
        req.subscribe.notifications.enable_entry_active_notifications = entry_active
        self._requests.put(req)
        msg = self._next_stream("the subscribe answer")
        if msg.subscribe.status.code != 0:
            raise BfrtError(f"subscribe refused: {msg.subscribe.status.message}", "FAILED_PRECONDITION")

    def push_program(self, name: str, out_dir: str | Path, profile: str = "pipe") -> None:
        """Load a compiled program (srchain p4 compile / bf-p4c layout) and wait for WARM_INIT_FINISHED."""
        d = Path(out_dir)
        req = SetReq(device_id=self.device_id, client_id=self.client_id,
                     action=SetReq.VERIFY_AND_WARM_INIT_BEGIN_AND_END)
        cfg = req.config.add(p4_name=name, bfruntime_info=(d / "bf-rt.json").read_bytes())
        cfg.profiles.add(profile_name=profile, context=(d / profile / "context.json").read_bytes(),
                         binary=(d / profile / "tofino.bin").read_bytes(), pipe_scope=[0, 1, 2, 3])
        self._call(self.stub.SetForwardingPipelineConfig, req, retry=False)
        while True:
            msg = self._next_stream("WARM_INIT_FINISHED")
            resp = msg.set_forwarding_pipeline_config_response
            if resp.set_forwarding_pipeline_config_response_type == pb.WARM_INIT_FINISHED:
                break
        self._forget_schema()

    def bind(self, name: str) -> None:
        req = SetReq(device_id=self.device_id, client_id=self.client_id, action=SetReq.BIND)
        req.config.add(p4_name=name)
        self._call(self.stub.SetForwardingPipelineConfig, req)
        self._forget_schema()

    def _forget_schema(self) -> None:
        self._schema = None
        self._tables.clear()
        self._data_fields.clear()

    def pipeline(self) -> pb.GetForwardingPipelineConfigResponse:
        """The device's loaded programs as served (p4_name, bf-rt.json, profiles)."""
        return self._call(self.stub.GetForwardingPipelineConfig,
                          pb.GetForwardingPipelineConfigRequest(device_id=self.device_id, client_id=self.client_id))

    def schema(self) -> Schema:
        """Tables and learn filters of the loaded programs and the device's non-P4 tables ($mirror.cfg)."""
        if self._schema is None:
            resp = self.pipeline()
            documents = [cfg.bfruntime_info for cfg in resp.config]
            self._schema = Schema.parse([*documents, resp.non_p4_config.bfruntime_info or b'{"tables": []}'])
        return self._schema

    def table(self, name: str) -> TableInfo:
        """A table by full name or unique dotted suffix; BfrtError (NOT_FOUND) naming it when there is none."""
        t = self._tables.get(name)
        if t is None:
            t = self._tables[name] = self.schema().table(name)
        return t

    def close(self) -> None:
        self._requests.put(None)
        self.channel.close()

    def _call(self, method: grpc.UnaryUnaryMultiCallable[_Req, _Resp], request: _Req, retry: bool = True) -> _Resp:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return method(request, metadata=self.md, timeout=self.timeout)
            except grpc.RpcError as exc:
                code = rpc_error_code(exc)
                if not retry or code not in RETRYABLE or attempt == self.retries:
                    raise BfrtError(f"{code}: {exc.details()}", code) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ encoding
    def _key(self, t: TableInfo, key: Mapping[str, WireKey], priority: int | None) -> pb.TableKey:
        out = pb.TableKey()
        for name, value in key.items():
            k = t.key_field(name)
            f = out.fields.add(field_id=k.id)
            mt = k.match_type
            if mt in ("Exact", "ATCAM"):  # an ATCAM partition index is an exact value
                f.exact.value = _enc(value, k.type, name)
            elif mt == "Ternary":
                v, mask = _pair(value, name, mt)
                f.ternary.value, f.ternary.mask = _enc(v, k.type, name), _enc(mask, k.type, name)
            elif mt == "LPM":
                v, prefix_len = _pair(value, name, mt)
                f.lpm.value, f.lpm.prefix_len = _enc(v, k.type, name), _int(prefix_len, name)
            elif mt == "Range":
                low, high = _pair(value, name, mt)
                f.range.low, f.range.high = _enc(low, k.type, name), _enc(high, k.type, name)
            else:
                raise BfrtError(f"match type {mt} is not supported by this client", "UNIMPLEMENTED")
        if priority is not None:
            f = out.fields.add(field_id=t.key_field("$MATCH_PRIORITY").id)
            f.exact.value = int(priority).to_bytes(4, "big")
        return out

    def _data(self, t: TableInfo, action: str | None, data: Mapping[str, WireData]) -> pb.TableData:
        out = pb.TableData()
        cached = self._data_fields.get((t.id, action))
        if cached is None:
            if action is not None:  # the action's parameters, and the table's own fields ($METER_SPEC_*, ...)
                spec = t.action(action)
                cached = spec.id, {**{d.name: d for d in t.data}, **{p.name: p for p in spec.params}}
            else:
                cached = 0, {d.name: d for d in t.data}
            self._data_fields[(t.id, action)] = cached
        action_id, fields = cached
        if action is not None:
            out.action_id = action_id
        for name, value in data.items():
            d = fields.get(name)
            if d is None:
                raise BfrtError(f"table {t.name} has no data field {name}", "INVALID_ARGUMENT")
            f = out.fields.add(field_id=d.id)
            if isinstance(value, list):
                _enc_array(f, value, d, name)
            elif d.type.name == "bool":
                f.bool_val = bool(value)
            elif d.type.name == "string":
                f.str_val = str(value)
            elif d.type.name == "float":
                f.float_val = float(value)
            elif d.type.name == "bytes" and isinstance(value, bytes | bytearray):
                f.stream = bytes(value)  # a byte string (the pktgen packet buffer): sent as it is
            else:
                f.stream = _enc(value, d.type, name)
        return out

    def make_update(self, kind: pb.Update.Type.ValueType, table: str, key: Mapping[str, WireKey] | None,
                    action: str | None = None, data: Mapping[str, WireData] | None = None, priority: int | None = None,
                    default: bool = False) -> pb.Update:
        """One Update for `write()` (kind: pb.Update.INSERT/MODIFY/DELETE/INSERT_OR_MODIFY)."""
        t = self.table(table)
        u = pb.Update(type=kind)
        te = u.entity.table_entry
        te.table_id = t.id
        te.is_default_entry = default
        if key:
            te.key.CopyFrom(self._key(t, key, priority))
        if action is not None or data:
            te.data.CopyFrom(self._data(t, action, data or {}))
        return u

    # ------------------------------------------------------------ writes
    def _write_request(self, updates: list[pb.Update], atomicity: pb.WriteRequest.Atomicity.ValueType,
                       pipe: int = PIPE_ALL) -> pb.WriteRequest:
        req = pb.WriteRequest(client_id=self.client_id, updates=updates, atomicity=atomicity)
        req.target.device_id = self.device_id
        req.target.pipe_id = pipe
        return req

    def write(self, updates: list[pb.Update],
              atomicity: pb.WriteRequest.Atomicity.ValueType = pb.WriteRequest.CONTINUE_ON_ERROR,
              pipe: int = PIPE_ALL) -> None:
        """One WriteRequest; `pipe` is its target's pipe_id (all pipes by default; the SDE's TM queue tables
        take one pipe)."""
        self._call(self.stub.Write, self._write_request(updates, atomicity, pipe), retry=False)

    def write_async(self, updates: list[pb.Update],
                    atomicity: pb.WriteRequest.Atomicity.ValueType = pb.WriteRequest.CONTINUE_ON_ERROR,
                    pipe: int = PIPE_ALL) -> grpc.Future[pb.WriteResponse]:
        """Send one WriteRequest without waiting (pipelining); `.result()` raises grpc.RpcError."""
        return self.stub.Write.future(self._write_request(updates, atomicity, pipe), metadata=self.md,
                                      timeout=self.timeout)

    def insert(self, table: str, key: Mapping[str, WireKey], action: str | None = None,
               data: Mapping[str, WireData] | None = None, priority: int | None = None) -> None:
        self.write([self.make_update(pb.Update.INSERT, table, key, action, data, priority)])

    def modify(self, table: str, key: Mapping[str, WireKey], action: str | None = None,
               data: Mapping[str, WireData] | None = None, priority: int | None = None,
               pipe: int = PIPE_ALL) -> None:
        self.write([self.make_update(pb.Update.MODIFY, table, key, action, data, priority)], pipe=pipe)

    def insert_or_modify(self, table: str, key: Mapping[str, WireKey], action: str | None = None,
                         data: Mapping[str, WireData] | None = None, priority: int | None = None) -> None:
        self.write([self.make_update(pb.Update.INSERT_OR_MODIFY, table, key, action, data, priority)])

    def delete(self, table: str, key: Mapping[str, WireKey] | None = None, priority: int | None = None,
               pipe: int = PIPE_ALL) -> None:
        """Delete one entry, or every entry when key is None."""
        self.write([self.make_update(pb.Update.DELETE, table, key, None, None, priority)], pipe=pipe)

    def set_default(self, table: str, action: str, data: Mapping[str, WireData] | None = None) -> None:
        self.write([self.make_update(pb.Update.MODIFY, table, None, action, data, default=True)])

    def reset_default(self, table: str) -> None:
        self.write([self.make_update(pb.Update.DELETE, table, None, None, None, default=True)])

    def register_write(self, register: str, index: int, values: dict[str, int]) -> None:
        t = self.table(register)
        prefix = t.name.split(".", 1)[1] + "."
        data: dict[str, WireData] = {n if n.startswith(prefix) else prefix + n: v for n, v in values.items()}
        self.write([self.make_update(pb.Update.MODIFY, register, {"$REGISTER_INDEX": index}, None, data)])

    # ------------------------------------------------------------ reads
    def entries(self, table: str, key: Mapping[str, WireKey] | None = None, default: bool = False,
                priority: int | None = None, pipe: int | None = None, from_hw: bool = True) -> list[Entry]:
        """Read entries (`pipe`: the target's pipe_id; unset: all pipes (0xFFFF) for the program's tables, whose
        registers then read one value per pipe, and pipe 0 for the fixed tables, as before). `from_hw`: the
        hardware's counters and hit state, as the SDE client reads by default; false reads the software state
        (counts as last written or synced by the Sync operations)."""
        t = self.table(table)
        req = pb.ReadRequest(client_id=self.client_id)
        req.target.device_id = self.device_id
        if pipe is None and t.name.startswith("pipe."):
            pipe = PIPE_ALL
        if pipe is not None:
            req.target.pipe_id = pipe
        te = req.entities.add().table_entry
        te.table_id = t.id
        te.is_default_entry = default
        te.table_flags.from_hw = from_hw
        if key:
            te.key.CopyFrom(self._key(t, key, priority))
        return [self._decode(t, te) for te in self.read(req)]

    def handle(self, table: str, key: Mapping[str, WireKey], priority: int | None = None,
               pipe: int | None = None) -> int:
        """The entry handle of the entry with `key` (the SDE client's handle_get); `pipe`: the target pipe (an
        asymmetric table's scope), unset: all pipes."""
        t = self.table(table)
        req = pb.ReadRequest(client_id=self.client_id)
        req.target.device_id = self.device_id
        req.target.pipe_id = PIPE_ALL if pipe is None else pipe
        h = req.entities.add().handle
        h.table_id = t.id
        h.key.CopyFrom(self._key(t, key, priority))
        (ent,) = self.read_entities(req)
        return ent.handle.handle_id

    def entry_by_handle(self, table: str, handle: int, key_only: bool = False, pipe: int | None = None,
                        from_hw: bool = False) -> Entry:
        """The entry a handle names (the SDE client's entry_get(handle=...)); `key_only`: its key (and pipe) only;
        `pipe`: the target it is read through (unset: any; from the software state, the one it was written
        with; `from_hw`: any pipe of its scope)."""
        t = self.table(table)
        req = pb.ReadRequest(client_id=self.client_id)
        req.target.device_id = self.device_id
        req.target.pipe_id = PIPE_ALL
        te = req.entities.add().table_entry
        te.table_id = t.id
        te.handle_id = handle
        te.table_flags.key_only = key_only
        te.table_flags.from_hw = from_hw
        if pipe is not None:
            te.entry_tgt.CopyFrom(pb.TargetDevice(device_id=self.device_id, pipe_id=pipe, direction=0xFF,
                                                  prsr_id=0xFF))
        (got,) = self.read(req)
        return self._decode(t, got)

    def read(self, req: pb.ReadRequest) -> list[pb.TableEntry]:
        """Run a ReadRequest (retried while UNAVAILABLE); the table entries of every response."""
        return [e.table_entry for e in self.read_entities(req)]

    def read_entities(self, req: pb.ReadRequest) -> list[pb.Entity]:
        """Run a ReadRequest (retried while UNAVAILABLE); the entities of every response."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return [e for resp in self.stub.Read(req, metadata=self.md, timeout=self.timeout)
                        for e in resp.entities]
            except grpc.RpcError as exc:
                code = rpc_error_code(exc)
                if code not in RETRYABLE or attempt == self.retries:
                    raise BfrtError(f"{code}: {exc.details()}", code) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _decode(self, t: TableInfo, te: pb.TableEntry) -> Entry:
        key: dict[str, WireKey] = {}
        for kf in te.key.fields:
            name = t.key_field_by_id(kf.field_id).name
            match = kf.WhichOneof("match_type")
            if match == "exact":
                key[name] = int.from_bytes(kf.exact.value, "big")
            elif match == "ternary":
                key[name] = (int.from_bytes(kf.ternary.value, "big"), int.from_bytes(kf.ternary.mask, "big"))
            elif match == "lpm":
                key[name] = (int.from_bytes(kf.lpm.value, "big"), kf.lpm.prefix_len)
            elif match == "range":
                key[name] = (int.from_bytes(kf.range.low, "big"), int.from_bytes(kf.range.high, "big"))
        spec = t.action_by_id(te.data.action_id)
        names = {p.id: p.name for p in spec.params} if spec is not None else {}
        names.update({d.id: d.name for d in t.data})
        data: dict[str, WireRead] = {}
        for df in te.data.fields:
            value = df.WhichOneof("value")
            name = names.get(df.field_id, str(df.field_id))
            if value == "stream":
                data[name] = int.from_bytes(df.stream, "big")
            elif value == "int_arr_val":
                data[name] = list(df.int_arr_val.val)
            elif value == "bool_arr_val":
                data[name] = list(df.bool_arr_val.val)
            elif value == "bool_val":
                data[name] = df.bool_val
            elif value == "str_val":
                data[name] = df.str_val
            elif value == "float_val":
                data[name] = df.float_val
        return Entry(key, spec.name if spec is not None else None, data, te.is_default_entry,
                     te.entry_tgt.pipe_id if te.HasField("entry_tgt") else None)

    def register_read(self, register: str, index: int) -> dict[str, list[int]]:
        """Values of one register cell, one per pipe, keyed by the short field name (e.g. f1)."""
        (e,) = self.entries(register, {"$REGISTER_INDEX": index})
        out: dict[str, list[int]] = {}
        for name, value in e.data.items():
            if not isinstance(value, list):
                raise BfrtError(f"register {register}: field {name} read back {value!r}, not one value per pipe")
            out[name.rsplit(".", 1)[-1]] = e.data_ints(name)
        return out

    # ------------------------------------------------------------ digests
    def idle_notification(self, timeout: float = 5.0) -> tuple[str, Entry, bool]:
        """Next idle-time notification as (table name, its entry's key, idle?): idle False = ENTRY_ACTIVE."""
        try:
            n = self._idle.get(timeout=timeout)
        except queue.Empty:
            raise BfrtError("no idle-time notification received", "DEADLINE_EXCEEDED") from None
        t = self.schema().table_by_id(n.table_entry.table_id)
        return t.name, self._decode(t, n.table_entry), n.type == pb.IdleTimeoutNotification.ENTRY_IDLE

    def set_idle_time(self, table: str, enable: bool, poll: bool = False, query_ms: int = 5000,
                      max_ttl_ms: int = 3_600_000, min_ttl_ms: int = 1000) -> None:
        """The table's IdleTimeout attribute (the SDE client's attribute_idle_time_set, same defaults)."""
        u = pb.Update(type=pb.Update.INSERT)
        ta = u.entity.table_attribute
        ta.table_id = self.table(table).id
        ta.idle_table.CopyFrom(pb.IdleTable(
            enable=enable, ttl_query_interval=query_ms, max_ttl=max_ttl_ms, min_ttl=min_ttl_ms,
            idle_table_mode=pb.IdleTable.IDLE_TABLE_POLL_MODE if poll else pb.IdleTable.IDLE_TABLE_NOTIFY_MODE))
        self.write([u])

    def table_operation(self, table: str, operation: str) -> None:
        """A table operation (UpdateHitState, SyncCounters, SyncRegisters, Sync)."""
        u = pb.Update(type=pb.Update.INSERT)
        u.entity.table_operation.table_id = self.table(table).id
        u.entity.table_operation.table_operations_type = operation
        self.write([u])

    def digest(self, timeout: float = 5.0, ack: bool = True) -> tuple[str, list[dict[str, int]]]:
        """Next digest list as (learn filter name, [field dict per digest]); acked unless ack=False."""
        try:
            dl = self._digests.get(timeout=timeout)
        except queue.Empty:
            raise BfrtError("no digest received", "DEADLINE_EXCEEDED") from None
        lf = self.schema().learn_filter_by_id(dl.digest_id)
        names = {f.id: f.name for f in lf.fields}
        rows = [{names[f.field_id]: int.from_bytes(f.stream, "big") for f in d.fields} for d in dl.data]
        if ack:
            req = pb.StreamMessageRequest(client_id=self.client_id)
            req.digest_ack.digest_id, req.digest_ack.list_id = dl.digest_id, dl.list_id
            self._requests.put(req)
        return lf.name, rows
