"""A small BF Runtime gRPC client over the project's proto subset (works with the emulator and, being
wire-compatible, with bf_switchd). Tables, actions and fields are addressed by name; ids come from the
bf-rt.json the switch serves. Names may be any unique dotted suffix (`forward`, `SwitchIngress.forward`).

Key values per match type: exact → int; ternary → (value, mask); lpm → (value, prefix_len);
range → (low, high). Data values are ints (bool/str for the fixed `$mirror.cfg` fields).
`$MATCH_PRIORITY` may be given as a key field or through `priority=`.

Transport: plain TCP, a `unix:` path, or TLS (`TlsFiles`: CA, optional client cert/key). Calls that
cannot change state twice (Read, Get, BIND, subscribe) are retried with exponential back-off while
the switch is UNAVAILABLE; writes are not retried (a write may have landed; the caller decides).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from srchain.errors import SrchainError
from srchain_contracts.bfrt import bfruntime_pb2 as pb
from srchain_contracts.bfrt import bfruntime_pb2_grpc as pb_grpc

SetReq = pb.SetForwardingPipelineConfigRequest


class BfrtError(SrchainError):
    """A refused or failed call; `code` is the gRPC status name (UNAVAILABLE, ALREADY_EXISTS, ...)."""

    def __init__(self, message: str, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.code = code


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


_FIXED_WIDTHS = {"uint64": 8, "uint32": 4, "int32": 4, "uint16": 2, "uint8": 1}


def _width_bytes(ftype: dict) -> int:
    t = ftype.get("type")
    if t == "bytes":
        return (int(ftype["width"]) + 7) // 8
    return _FIXED_WIDTHS.get(t, 4)  # type: ignore[arg-type]


def _enc(value: int, ftype: dict) -> bytes:
    try:
        return int(value).to_bytes(_width_bytes(ftype), "big")
    except OverflowError:
        raise BfrtError(f"value {value} does not fit {ftype}", "INVALID_ARGUMENT") from None


def _resolve(name: str, names: dict[str, dict]) -> dict:
    if name in names:
        return names[name]
    hits = [n for n in names if n.endswith("." + name)]
    if len(hits) != 1:
        raise BfrtError(f"{'no' if not hits else 'ambiguous'} name {name!r}")
    return names[hits[0]]


@dataclass
class Entry:
    key: dict[str, object]
    action: str | None
    data: dict[str, object]
    is_default: bool = False


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
        self.md = [("x-srchain-token", token)] if token else []
        opts = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]
        if tls is not None:
            if tls.server_name:
                opts.append(("grpc.ssl_target_name_override", tls.server_name))
            self.channel = grpc.secure_channel(address, tls.credentials(), options=opts)
        else:
            self.channel = grpc.insecure_channel(address, options=opts)
        self.stub = pb_grpc.BfRuntimeStub(self.channel)
        self._tables: dict[str, dict] = {}  # resolved name -> table (suffix lookups are O(tables))
        self._codecs: dict[int, tuple[dict, dict]] = {}  # table id -> (key fields by name, actions by name)
        self._data_fields: dict[tuple[int, str | None], tuple[int, dict]] = {}  # -> (action id, fields by name)
        self._requests: queue.Queue = queue.Queue()
        self._stream_msgs: queue.Queue = queue.Queue()
        self._digests: queue.Queue = queue.Queue()
        self._info: dict | None = None
        self._stream = self.stub.StreamChannel(iter(self._requests.get, None), metadata=self.md)
        self._reader = threading.Thread(target=self._read_stream, name="bfrt-client-stream", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------ session
    def _read_stream(self) -> None:
        try:
            for msg in self._stream:
                if msg.WhichOneof("update") == "digest":
                    self._digests.put(msg.digest)
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
                **kwargs: object) -> BfrtClient:
        """Open a session and subscribe, retrying with exponential back-off while the switch is not
        answering (it may be starting). Raises BfrtError naming the address after the last attempt."""
        delay = backoff
        for attempt in range(1, attempts + 1):
            client = cls(address, backoff=backoff, **kwargs)  # type: ignore[arg-type]
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

    def subscribe(self, learn: bool = True) -> None:
        req = pb.StreamMessageRequest(client_id=self.client_id)
        req.subscribe.device_id = self.device_id
        req.subscribe.notifications.enable_learn_notifications = learn
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
        self._info = None
        self._tables.clear()
        self._codecs.clear()
        self._data_fields.clear()

    def pipeline(self) -> pb.GetForwardingPipelineConfigResponse:
        """The device's loaded programs as served (p4_name, bf-rt.json, profiles)."""
        return self._call(self.stub.GetForwardingPipelineConfig,
                          pb.GetForwardingPipelineConfigRequest(device_id=self.device_id, client_id=self.client_id))

    def info(self) -> dict:
        if self._info is None:
            resp = self._call(self.stub.GetForwardingPipelineConfig,
                              pb.GetForwardingPipelineConfigRequest(device_id=self.device_id, client_id=self.client_id))
            tables: dict[str, dict] = {}
            learn: dict[str, dict] = {}
            for cfg in resp.config:
                doc = json.loads(cfg.bfruntime_info)
                tables.update({t["name"]: t for t in doc.get("tables", [])})
                learn.update({lf["name"]: lf for lf in doc.get("learn_filters", [])})
            non_p4 = json.loads(resp.non_p4_config.bfruntime_info or b'{"tables": []}')
            tables.update({t["name"]: t for t in non_p4.get("tables", [])})
            self._info = {"tables": tables, "learn": learn}
        return self._info

    def table(self, name: str) -> dict:
        t = self._tables.get(name)
        if t is None:
            t = self._tables[name] = _resolve(name, self.info()["tables"])
        return t

    def close(self) -> None:
        self._requests.put(None)
        self.channel.close()

    def _call(self, method, request, retry: bool = True):
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return method(request, metadata=self.md, timeout=self.timeout)
            except grpc.RpcError as exc:
                code = exc.code().name
                if not retry or code not in RETRYABLE or attempt == self.retries:
                    raise BfrtError(f"{code}: {exc.details()}", code) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ encoding
    def _codec(self, t: dict) -> tuple[dict, dict]:
        c = self._codecs.get(t["id"])
        if c is None:
            c = self._codecs[t["id"]] = ({k["name"]: k for k in t["key"]},
                                         {a["name"]: a for a in t.get("action_specs", [])})
        return c

    def _key(self, t: dict, key: dict[str, object], priority: int | None) -> pb.TableKey:
        out = pb.TableKey()
        fields = self._codec(t)[0]
        for name, value in key.items():
            k = fields.get(name)
            if k is None:
                raise BfrtError(f"table {t['name']} has no key field {name}", "INVALID_ARGUMENT")
            f = out.fields.add(field_id=k["id"])
            mt = k["match_type"]
            if mt == "Exact":
                f.exact.value = _enc(value, k["type"])  # type: ignore[arg-type]
            elif mt == "Ternary":
                f.ternary.value, f.ternary.mask = (_enc(v, k["type"]) for v in value)  # type: ignore[union-attr]
            elif mt == "LPM":
                f.lpm.value = _enc(value[0], k["type"])  # type: ignore[index]
                f.lpm.prefix_len = int(value[1])  # type: ignore[index]
            elif mt == "Range":
                f.range.low, f.range.high = (_enc(v, k["type"]) for v in value)  # type: ignore[union-attr]
            else:
                raise BfrtError(f"match type {mt} is not supported by this client", "UNIMPLEMENTED")
        if priority is not None:
            f = out.fields.add(field_id=fields["$MATCH_PRIORITY"]["id"])
            f.exact.value = int(priority).to_bytes(4, "big")
        return out

    def _data(self, t: dict, action: str | None, data: dict[str, object]) -> pb.TableData:
        out = pb.TableData()
        cached = self._data_fields.get((t["id"], action))
        if cached is None:
            if action is not None:
                spec = _resolve(action, self._codec(t)[1])
                cached = spec["id"], {d["name"]: d for d in spec["data"]}
            else:
                cached = 0, {d["singleton"]["name"]: d["singleton"] for d in t.get("data", []) if "singleton" in d}
            self._data_fields[(t["id"], action)] = cached
        action_id, fields = cached
        if action is not None:
            out.action_id = action_id
        for name, value in data.items():
            d = fields.get(name)
            if d is None:
                raise BfrtError(f"table {t['name']} has no data field {name}", "INVALID_ARGUMENT")
            f = out.fields.add(field_id=d["id"])
            ftype = d["type"]["type"]
            if ftype == "bool":
                f.bool_val = bool(value)
            elif ftype == "string":
                f.str_val = str(value)
            else:
                f.stream = _enc(value, d["type"])  # type: ignore[arg-type]
        return out

    def make_update(self, kind: int, table: str, key: dict | None, action: str | None = None,
                    data: dict | None = None, priority: int | None = None,
                    default: bool = False) -> pb.Update:
        """One Update for `write()` (kind: pb.Update.INSERT/MODIFY/DELETE/INSERT_OR_MODIFY)."""
        return self._update(kind, table, key, action, data, priority, default)

    def _update(self, kind: int, table: str, key: dict | None, action: str | None, data: dict | None,
                priority: int | None = None, default: bool = False) -> pb.Update:
        t = self.table(table)
        u = pb.Update(type=kind)
        te = u.entity.table_entry
        te.table_id = t["id"]
        te.is_default_entry = default
        if key:
            te.key.CopyFrom(self._key(t, key, priority))
        if action is not None or data:
            te.data.CopyFrom(self._data(t, action, data or {}))
        return u

    # ------------------------------------------------------------ writes
    def write(self, updates: list[pb.Update], atomicity: int = pb.WriteRequest.CONTINUE_ON_ERROR) -> None:
        req = pb.WriteRequest(client_id=self.client_id, updates=updates, atomicity=atomicity)
        req.target.device_id = self.device_id
        req.target.pipe_id = 0xFFFF
        self._call(self.stub.Write, req, retry=False)

    def write_async(self, updates: list[pb.Update],
                    atomicity: int = pb.WriteRequest.CONTINUE_ON_ERROR) -> grpc.Future:
        """Send one WriteRequest without waiting (pipelining); `.result()` raises grpc.RpcError."""
        req = pb.WriteRequest(client_id=self.client_id, updates=updates, atomicity=atomicity)
        req.target.device_id = self.device_id
        req.target.pipe_id = 0xFFFF
        return self.stub.Write.future(req, metadata=self.md, timeout=self.timeout)

    def insert(self, table: str, key: dict, action: str | None = None, data: dict | None = None,
               priority: int | None = None) -> None:
        self.write([self._update(pb.Update.INSERT, table, key, action, data, priority)])

    def modify(self, table: str, key: dict, action: str | None = None, data: dict | None = None,
               priority: int | None = None) -> None:
        self.write([self._update(pb.Update.MODIFY, table, key, action, data, priority)])

    def insert_or_modify(self, table: str, key: dict, action: str | None = None, data: dict | None = None,
                         priority: int | None = None) -> None:
        self.write([self._update(pb.Update.INSERT_OR_MODIFY, table, key, action, data, priority)])

    def delete(self, table: str, key: dict | None = None, priority: int | None = None) -> None:
        """Delete one entry, or every entry when key is None."""
        self.write([self._update(pb.Update.DELETE, table, key, None, None, priority)])

    def set_default(self, table: str, action: str, data: dict | None = None) -> None:
        self.write([self._update(pb.Update.MODIFY, table, None, action, data, default=True)])

    def reset_default(self, table: str) -> None:
        self.write([self._update(pb.Update.DELETE, table, None, None, None, default=True)])

    def register_write(self, register: str, index: int, values: dict[str, int]) -> None:
        t = self.table(register)
        prefix = t["name"].split(".", 1)[1] + "."
        data = {n if n.startswith(prefix) else prefix + n: v for n, v in values.items()}
        self.write([self._update(pb.Update.MODIFY, register, {"$REGISTER_INDEX": index}, None, data)])

    # ------------------------------------------------------------ reads
    def entries(self, table: str, key: dict | None = None, default: bool = False,
                priority: int | None = None) -> list[Entry]:
        t = self.table(table)
        req = pb.ReadRequest(client_id=self.client_id)
        req.target.device_id = self.device_id
        te = req.entities.add().table_entry
        te.table_id = t["id"]
        te.is_default_entry = default
        if key:
            te.key.CopyFrom(self._key(t, key, priority))
        return [self._decode(t, te) for te in self.read(req)]

    def read(self, req: pb.ReadRequest) -> list[pb.TableEntry]:
        """Run a ReadRequest (retried while UNAVAILABLE); the table entries of every response."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return [e.table_entry for resp in self.stub.Read(req, metadata=self.md, timeout=self.timeout)
                        for e in resp.entities]
            except grpc.RpcError as exc:
                code = exc.code().name
                if code not in RETRYABLE or attempt == self.retries:
                    raise BfrtError(f"{code}: {exc.details()}", code) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _decode(self, t: dict, te: pb.TableEntry) -> Entry:
        keys = {k["id"]: k for k in t["key"]}
        key: dict[str, object] = {}
        for f in te.key.fields:
            k = keys[f.field_id]
            which = f.WhichOneof("match_type")
            if which == "exact":
                key[k["name"]] = int.from_bytes(f.exact.value, "big")
            elif which == "ternary":
                key[k["name"]] = (int.from_bytes(f.ternary.value, "big"), int.from_bytes(f.ternary.mask, "big"))
            elif which == "lpm":
                key[k["name"]] = (int.from_bytes(f.lpm.value, "big"), f.lpm.prefix_len)
            elif which == "range":
                key[k["name"]] = (int.from_bytes(f.range.low, "big"), int.from_bytes(f.range.high, "big"))
        action = None
        names: dict[int, str] = {}
        for a in t.get("action_specs", []):
            if a["id"] == te.data.action_id:
                action = a["name"]
                names = {d["id"]: d["name"] for d in a["data"]}
        for d in t.get("data", []):
            if "singleton" in d:
                names[d["singleton"]["id"]] = d["singleton"]["name"]
        data: dict[str, object] = {}
        for f in te.data.fields:
            which = f.WhichOneof("value")
            name = names.get(f.field_id, str(f.field_id))
            if which == "stream":
                data[name] = int.from_bytes(f.stream, "big")
            elif which == "int_arr_val":
                data[name] = list(f.int_arr_val.val)
            elif which == "bool_val":
                data[name] = f.bool_val
            elif which == "str_val":
                data[name] = f.str_val
        return Entry(key, action, data, te.is_default_entry)

    def register_read(self, register: str, index: int) -> dict[str, list[int]]:
        """Values of one register cell, one per pipe, keyed by the short field name (e.g. f1)."""
        (e,) = self.entries(register, {"$REGISTER_INDEX": index})
        return {n.rsplit(".", 1)[-1]: v for n, v in e.data.items()}  # type: ignore[misc]

    # ------------------------------------------------------------ digests
    def digest(self, timeout: float = 5.0, ack: bool = True) -> tuple[str, list[dict[str, int]]]:
        """Next digest list as (learn filter name, [field dict per digest]); acked unless ack=False."""
        try:
            dl = self._digests.get(timeout=timeout)
        except queue.Empty:
            raise BfrtError("no digest received", "DEADLINE_EXCEEDED") from None
        lf = next((v for v in self.info()["learn"].values() if v["id"] == dl.digest_id), None)
        if lf is None:
            raise BfrtError(f"digest with unknown id {dl.digest_id}")
        names = {f["id"]: f["name"] for f in lf["fields"]}
        rows = [{names[f.field_id]: int.from_bytes(f.stream, "big") for f in d.fields} for d in dl.data]
        if ack:
            req = pb.StreamMessageRequest(client_id=self.client_id)
            req.digest_ack.digest_id, req.digest_ack.list_id = dl.digest_id, dl.list_id
            self._requests.put(req)
        return lf["name"], rows
